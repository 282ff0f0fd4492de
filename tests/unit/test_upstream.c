/*
 * test_upstream: the router's upstream pool against a real minidfs.
 *   - calls of two clients with the same call ids share one connection and
 *     each gets its own reply (matched by clientId + callId, ids echoed);
 *   - the client's retryCount travels upstream unchanged;
 *   - a standby NameNode's StandbyException comes back as an ERROR reply;
 *   - a NameNode that dies fails the calls in flight with UP_EDOWN, and a
 *     refused connect fails the call, not the process;
 *   - a NameNode that accepts but never answers times out (UP_ETIMEOUT).
 * usage: test_upstream MINIDFS_BINARY
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "minidfs_proc.h"
#include "net.h"
#include "pbwire.h"
#include "upstream.h"

struct result {
    struct upstream_call uc;
    int done;
    enum upstream_status st;
    int32_t call_id;
    uint8_t client_id[16];
    int32_t retry;
    int status;
    char cls[128];
};

static struct ev_loop *loop;
static int pending;

static void on_done(struct upstream_call *uc, enum upstream_status st, const struct ipc_reply *r, const uint8_t *body,
                    size_t len)
{
    struct result *res = (struct result *)uc;
    res->done++;
    res->st = st;
    if (st == UP_OK) {
        res->call_id = r->call_id;
        memcpy(res->client_id, r->client_id.p, r->client_id.len < 16 ? r->client_id.len : 16);
        res->retry = r->retry_count;
        res->status = r->status;
        ipc_span_copy(r->exception_class, res->cls, sizeof res->cls);
    }
    if (--pending == 0)
        ev_break(loop, EVBREAK_ALL);
}

static void on_guard(struct ev_loop *l, ev_timer *w, int revents)
{
    ev_break(l, EVBREAK_ALL);
}

/* Runs the loop until every pending call is done (or 10 s). */
static void run(void)
{
    ev_timer guard;
    ev_timer_init(&guard, on_guard, 10.0, 0);
    ev_timer_start(loop, &guard);
    if (pending > 0)
        ev_run(loop, 0);
    ev_timer_stop(loop, &guard);
}

static int send_getfileinfo(struct upstream_pool *p, const char *addr, struct result *res, const uint8_t cid[16],
                            int32_t call_id, int32_t retry, const char *path)
{
    uint8_t param[512];
    size_t n = pb_put_bytes_field(param, 1, path, strlen(path));
    struct ipc_ids ids = { call_id, retry, cid, 16 };
    memset(res, 0, sizeof *res);
    res->uc.done = on_done;
    char why[256];
    pending++;
    int rc = upstream_send(p, addr, "alice", &ids, "getFileInfo", param, n, &res->uc, why, sizeof why);
    if (rc < 0) {
        pending--;
        fprintf(stderr, "upstream_send: %s\n", why);
    }
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_upstream MINIDFS_BINARY\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct minidfs_proc m;
    CHECK_EQ(minidfs_proc_start(&m, argv[1], "up", false), 0);
    if (m.pid <= 0)
        return check_report();
    pid_t pid = m.pid;
    const char *addr = m.nn;
    loop = ev_loop_new(EVFLAG_AUTO);
    struct upstream_limits lim = { .max_conns_per_key = 1, .calls_per_conn = 1000, .connect_timeout = 2,
                                   .call_timeout = 5, .idle_timeout = 30, .max_frame = 1u << 20 };
    struct upstream_pool *p = upstream_pool_new(loop, &lim);

    /* Two clients, the same call ids, one connection. */
    uint8_t a[16], b[16];
    ipc_new_client_id(a);
    ipc_new_client_id(b);
    struct result r[6];
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(send_getfileinfo(p, addr, &r[i], a, i, 0, "/"), 0);
        CHECK_EQ(send_getfileinfo(p, addr, &r[3 + i], b, i, 7, "/nope"), 0);
    }
    run();
    struct upstream_stats st;
    upstream_pool_stats(p, &st);
    CHECK_EQ(st.conns, 1u);
    CHECK_EQ(st.in_flight, 0u);
    for (int i = 0; i < 3; i++) {
        CHECK(r[i].done == 1 && r[i].st == UP_OK && r[i].status == IPC_SUCCESS);
        CHECK(r[i].call_id == i && memcmp(r[i].client_id, a, 16) == 0 && r[i].retry == 0);
        CHECK(r[3 + i].done == 1 && r[3 + i].st == UP_OK && r[3 + i].call_id == i);
        CHECK(memcmp(r[3 + i].client_id, b, 16) == 0 && r[3 + i].retry == 7);
    }

    /* Standby: the NameNode's exception comes back as a reply. */
    kill(pid, SIGUSR1);
    usleep(100000);
    CHECK_EQ(send_getfileinfo(p, addr, &r[0], a, 10, 0, "/"), 0);
    run();
    CHECK(r[0].st == UP_OK && r[0].status == IPC_ERROR &&
          strcmp(r[0].cls, "org.apache.hadoop.ipc.StandbyException") == 0);
    kill(pid, SIGUSR1);

    /* The NameNode dies with a call in flight: UP_EDOWN, once. */
    usleep(100000);
    CHECK_EQ(send_getfileinfo(p, addr, &r[1], a, 11, 0, "/"), 0);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    run();
    CHECK(r[1].done == 1 && (r[1].st == UP_EDOWN || r[1].st == UP_OK));
    /* Now nothing listens there: connect is refused. */
    CHECK_EQ(send_getfileinfo(p, addr, &r[2], a, 12, 0, "/"), 0);
    run();
    CHECK(r[2].done == 1 && r[2].st == UP_EDOWN);

    /* A server that accepts and never answers: the call times out. */
    char err[128];
    int port = 0;
    int lfd = net_listen("127.0.0.1:0", false, &port, err, sizeof err);
    CHECK(lfd >= 0);
    char silent[64];
    snprintf(silent, sizeof silent, "127.0.0.1:%d", port);
    struct upstream_limits fast = lim;
    fast.call_timeout = 0.2;
    struct upstream_pool *p2 = upstream_pool_new(loop, &fast);
    CHECK_EQ(send_getfileinfo(p2, silent, &r[3], a, 13, 0, "/"), 0);
    run();
    CHECK(r[3].done == 1 && r[3].st == UP_ETIMEOUT);

    /* Cancel: done() is never called for a forgotten call. */
    CHECK_EQ(send_getfileinfo(p2, silent, &r[4], a, 14, 0, "/"), 0);
    upstream_cancel(&r[4].uc);
    pending--;
    upstream_pool_free(p2);
    CHECK_EQ(r[4].done, 0);

    upstream_pool_free(p);
    close(lfd);
    ev_loop_destroy(loop);
    minidfs_proc_cleanup(&m);
    return check_report();
}
