/*
 * test_ha: calls to an HA nameservice of two real minidfs NameNodes.
 *   - standby listed first: the call lands on the active, which is remembered;
 *   - the two swap roles: the next call fails over and the new active is
 *     remembered;
 *   - an application error (FileNotFoundException) is not a reason to fail over;
 *   - one NameNode asked by index (ha_send_to): its answer, StandbyException
 *     or a standby's success, comes back as it is and moves no active index;
 *   - both standby: the client gets the StandbyException itself;
 *   - both down: the failure names the nameservice and each NameNode;
 *   - a hung first NameNode: a call safe to repeat (@Idempotent, or
 *     @AtMostOnce with a client id) moves on after the call timeout; one
 *     without a client id, or with max_attempts = 1, gets the timeout.
 * usage: test_ha MINIDFS_BINARY
 */
#define _GNU_SOURCE
#include <ev.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/wait.h>

#include "check.h"
#include "ha.h"
#include "minidfs_proc.h"
#include "net.h"
#include "pbwire.h"

struct res {
    struct ha_call hc;
    int done;
    enum upstream_status st;
    int status;
    char cls[128];
    char why[700];
};

static struct ev_loop *loop;

static void on_done(struct ha_call *hc, enum upstream_status st, const struct ipc_reply *r, const uint8_t *body,
                    size_t len, const char *why)
{
    struct res *res = (struct res *)hc;
    res->done++;
    res->st = st;
    if (r) {
        res->status = r->status;
        ipc_span_copy(r->exception_class, res->cls, sizeof res->cls);
    }
    snprintf(res->why, sizeof res->why, "%s", why ? why : "");
    ev_break(loop, EVBREAK_ALL);
}

static void on_guard(struct ev_loop *l, ev_timer *w, int revents)
{
    ev_break(l, EVBREAK_ALL);
}

/* idx < 0: ha_send; else ha_send_to that NameNode. */
static void call_at(struct upstream_pool *p, struct ha_ns *ns, int idx, struct res *res, int32_t id,
                    const char *method, const uint8_t *param, size_t len)
{
    static uint8_t cid[16];
    if (!cid[6])
        ipc_new_client_id(cid);
    struct ipc_ids ids = { id, 0, cid, 16 };
    memset(res, 0, sizeof *res);
    res->hc.done = on_done;
    int rc = idx < 0 ? ha_send(&res->hc, p, ns, "alice", &ids, method, param, len)
                     : ha_send_to(&res->hc, p, ns, idx, "alice", &ids, method, param, len);
    if (rc < 0)
        return;
    if (!res->done) {
        ev_timer guard;
        ev_timer_init(&guard, on_guard, 10.0, 0);
        ev_timer_start(loop, &guard);
        ev_run(loop, 0);
        ev_timer_stop(loop, &guard);
    }
}

static void call(struct upstream_pool *p, struct ha_ns *ns, struct res *res, int32_t id, const char *method,
                 const uint8_t *param, size_t len)
{
    call_at(p, ns, -1, res, id, method, param, len);
}

/* Runs the loop until res is done (or 10 s). */
static void wait_done(struct res *res)
{
    if (res->done)
        return;
    ev_timer guard;
    ev_timer_init(&guard, on_guard, 10.0, 0);
    ev_timer_start(loop, &guard);
    ev_run(loop, 0);
    ev_timer_stop(loop, &guard);
}

/* First NameNode hung (listens, never answers), second the active `good`. */
static void test_hung_first(const struct upstream_limits *base, const char *good, const uint8_t *root, size_t rl)
{
    char err[128];
    int port = 0;
    int lfd = net_listen("127.0.0.1:0", false, &port, err, sizeof err);
    CHECK(lfd >= 0);
    struct upstream_limits lim = *base;
    lim.call_timeout = 0.3;
    struct upstream_pool *p = upstream_pool_new(loop, &lim, NULL);
    struct ha_ns ns = { .name = "hung", .n = 2 };
    snprintf(ns.addrs[0], sizeof ns.addrs[0], "127.0.0.1:%d", port);
    snprintf(ns.addrs[1], sizeof ns.addrs[1], "%s", good);
    struct res r;
    /* @Idempotent: on to the second after one timeout, which stays active. */
    call(p, &ns, &r, 20, "getFileInfo", root, rl);
    CHECK(r.done == 1 && r.st == UP_OK && r.status == IPC_SUCCESS && r.hc.tried == 2);
    CHECK_EQ(atomic_load(&ns.active), 1);
    /* @AtMostOnce with the client's id: the retry cache covers a repeat. */
    uint8_t del[32];
    size_t dl = pb_put_bytes_field(del, 1, "/no-such", 8);
    dl += pb_put_varint_field(del + dl, 2, 0);
    atomic_store(&ns.active, 0);
    call(p, &ns, &r, 21, "delete", del, dl);
    CHECK(r.done == 1 && r.st == UP_OK && r.hc.tried == 2);
    /* Without a client id nothing can tell a repeat: the timeout stands. */
    atomic_store(&ns.active, 0);
    struct ipc_ids noid = { 22, 0, NULL, 0 };
    memset(&r, 0, sizeof r);
    r.hc.done = on_done;
    CHECK_EQ(ha_send(&r.hc, p, &ns, "alice", &noid, "delete", del, dl), 0);
    wait_done(&r);
    CHECK(r.done == 1 && r.st == UP_ETIMEOUT && r.hc.tried == 1 && strstr(r.why, "not repeated"));
    upstream_pool_free(p);
    /* max_attempts = 1: one try only. */
    lim.max_attempts = 1;
    p = upstream_pool_new(loop, &lim, NULL);
    call(p, &ns, &r, 23, "getFileInfo", root, rl);
    CHECK(r.done == 1 && r.st == UP_ETIMEOUT && r.hc.tried == 1);
    upstream_pool_free(p);
    close(lfd);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    struct minidfs_proc a, b;
    CHECK_EQ(minidfs_proc_start(&a, argv[1], "ha", true), 0);
    CHECK_EQ(minidfs_proc_start(&b, argv[1], "ha", false), 0);
    loop = ev_loop_new(EVFLAG_AUTO);
    struct upstream_limits lim = { 2, 100, 2.0, 5.0, 30.0, 1u << 20, 0, 0, 0, 0 };
    struct upstream_pool *p = upstream_pool_new(loop, &lim, NULL);
    struct ha_ns ns = { .name = "ha", .n = 2 };
    snprintf(ns.addrs[0], sizeof ns.addrs[0], "%s", a.nn);
    snprintf(ns.addrs[1], sizeof ns.addrs[1], "%s", b.nn);

    uint8_t root[16];
    size_t rl = pb_put_bytes_field(root, 1, "/", 1);
    struct res r;
    call(p, &ns, &r, 1, "getFileInfo", root, rl);
    CHECK(r.done == 1 && r.st == UP_OK && r.status == IPC_SUCCESS);
    CHECK_EQ(atomic_load(&ns.active), 1);

    /* Swap roles: b goes standby, a active. */
    kill(a.pid, SIGUSR1);
    kill(b.pid, SIGUSR1);
    usleep(100000);
    call(p, &ns, &r, 2, "getFileInfo", root, rl);
    CHECK(r.done == 1 && r.st == UP_OK && r.status == IPC_SUCCESS);
    CHECK_EQ(atomic_load(&ns.active), 0);

    /* mkdirs /x/y without createParent: FileNotFoundException, no failover. */
    uint8_t mk[64];
    size_t ml = pb_put_bytes_field(mk, 1, "/x/y", 4);
    uint8_t perm[8];
    size_t pl = pb_put_varint_field(perm, 1, 0755);
    ml += pb_put_bytes_field(mk + ml, 2, perm, pl);
    ml += pb_put_varint_field(mk + ml, 3, 0);
    call(p, &ns, &r, 3, "mkdirs", mk, ml);
    CHECK(r.st == UP_OK && r.status == IPC_ERROR && strcmp(r.cls, "java.io.FileNotFoundException") == 0);
    CHECK_EQ(r.hc.tried, 1);
    CHECK_EQ(atomic_load(&ns.active), 0);

    /* b (standby) by index: a read answers StandbyException, no failover;
     * setSafeMode GET unchecked is served, and b does not become active. */
    call_at(p, &ns, 1, &r, 6, "getFileInfo", root, rl);
    CHECK(r.st == UP_OK && r.status == IPC_ERROR && strcmp(r.cls, "org.apache.hadoop.ipc.StandbyException") == 0);
    CHECK_EQ(r.hc.tried, 1);
    uint8_t get[4];
    size_t gl = pb_put_varint_field(get, 1, 3); /* SAFEMODE_GET */
    call_at(p, &ns, 1, &r, 7, "setSafeMode", get, gl);
    CHECK(r.st == UP_OK && r.status == IPC_SUCCESS);
    CHECK_EQ(atomic_load(&ns.active), 0);
    CHECK(ha_send_to(&r.hc, p, &ns, 2, "alice", &r.hc.ids, "getFileInfo", root, rl) < 0);

    test_hung_first(&lim, a.nn, root, rl);

    /* Both standby: the StandbyException reaches the caller. */
    kill(a.pid, SIGUSR1);
    usleep(100000);
    call(p, &ns, &r, 4, "getFileInfo", root, rl);
    CHECK(r.st == UP_OK && r.status == IPC_ERROR && strcmp(r.cls, "org.apache.hadoop.ipc.StandbyException") == 0);

    /* Both down: the failure names the nameservice and both NameNodes. */
    kill(a.pid, SIGKILL);
    kill(b.pid, SIGKILL);
    waitpid(a.pid, NULL, 0);
    waitpid(b.pid, NULL, 0);
    call(p, &ns, &r, 5, "getFileInfo", root, rl);
    CHECK(r.done == 1 && r.st == UP_EDOWN);
    CHECK(strstr(r.why, "nameservice ha") && strstr(r.why, a.nn) && strstr(r.why, b.nn));
    fprintf(stderr, "both down: %s\n", r.why);

    upstream_pool_free(p);
    ev_loop_destroy(loop);
    minidfs_proc_cleanup(&a);
    minidfs_proc_cleanup(&b);
    return check_report();
}
