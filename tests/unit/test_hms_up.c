/*
 * test_hms_up: the backend metastore pool against a stand-in metastore that
 * echoes each framed call back as its reply.
 *   - the transition table of connection states: exactly its moves;
 *   - a call connects, is answered, and leaves its connection IDLE; the
 *     per-state counts (pool and socket gauges) follow;
 *   - done() never runs inside hms_up_send: not for a oneway call on an
 *     idle connection (done once queued, from the loop), not for a call on
 *     a connection the metastore has reset (it fails from the loop);
 *   - a cancelled call never sees done(), and closes its connection;
 *   - freeing the pool leaves no connection behind.
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
#include <unistd.h>

#include "check.h"
#include "conn.h"
#include "hms_up.h"
#include "net.h"

static struct ev_loop *loop;

struct call {
    struct hms_upcall uc;               /* first: the callback casts back */
    int done;
    enum hms_up_status st;
    uint8_t reply[64];
    size_t len;
};

static void on_done(struct hms_upcall *uc, enum hms_up_status st, const uint8_t *msg, size_t len, const char *why)
{
    struct call *c = (struct call *)uc;
    c->done++;
    c->st = st;
    c->len = msg && len <= sizeof c->reply ? len : 0;
    if (c->len)
        memcpy(c->reply, msg, len);
    ev_break(loop, EVBREAK_ALL);
}

static void on_guard(struct ev_loop *l, ev_timer *w, int revents) { ev_break(l, EVBREAK_ALL); }

/* Runs the loop until a done() (or secs). */
static void run_for(double secs)
{
    ev_timer t;
    ev_timer_init(&t, on_guard, secs, 0);
    ev_timer_start(loop, &t);
    ev_run(loop, 0);
    ev_timer_stop(loop, &t);
}

/* The stand-in: one connection at a time; every framed CALL comes back as
 * a REPLY with the same bytes after the header's type; ONEWAY is counted. */
struct fake_ms {
    int lfd, fd;
    ev_io lw, rw;
    struct buf in;
    int calls, oneways;
};

static void fake_read(struct ev_loop *l, ev_io *w, int revents)
{
    struct fake_ms *f = w->data;
    if (buf_reserve(&f->in, 4096) < 0)
        return;
    ssize_t n = recv(f->fd, buf_wptr(&f->in), buf_room(&f->in), 0);
    if (n <= 0) {
        ev_io_stop(l, w);
        close(f->fd);
        f->fd = -1;
        buf_reset(&f->in);
        ev_io_start(l, &f->lw);
        return;
    }
    buf_commit(&f->in, (size_t)n);
    while (buf_len(&f->in) >= 4) {
        uint8_t *p = buf_rptr(&f->in);
        size_t flen = 4 + ((size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3]);
        if (buf_len(&f->in) < flen)
            break;
        /* binary strict header: 0x80 0x01 0x00 type */
        if (p[7] == TW_ONEWAY) {
            f->oneways++;
        } else {
            f->calls++;
            p[7] = TW_REPLY;
            if (send(f->fd, p, flen, MSG_NOSIGNAL) != (ssize_t)flen)
                fprintf(stderr, "fake metastore: short send\n");
        }
        buf_consume(&f->in, flen);
    }
}

static void fake_accept(struct ev_loop *l, ev_io *w, int revents)
{
    struct fake_ms *f = w->data;
    f->fd = net_accept(f->lfd, NULL, 0);
    if (f->fd < 0)
        return;
    ev_io_stop(l, w);
    ev_io_init(&f->rw, fake_read, f->fd, EV_READ);
    f->rw.data = f;
    ev_io_start(l, &f->rw);
}

/* A framed binary call (unframed bytes: the pool adds the frame). */
static size_t make_call(uint8_t *out, size_t cap, const char *name, enum tw_msg_type type, int32_t seq)
{
    struct buf b = BUF_INIT;
    tw_write_header(TW_BINARY, &b, (const uint8_t *)name, strlen(name), type, seq);
    tw_put_stop(&b);
    size_t n = buf_len(&b) <= cap ? buf_len(&b) : 0;
    memcpy(out, buf_rptr(&b), n);
    buf_free(&b);
    return n;
}

static int send_call(struct hms_pool *p, struct hms_target *t, struct call *c, const char *name, bool oneway)
{
    uint8_t msg[128];
    size_t n = make_call(msg, sizeof msg, name, oneway ? TW_ONEWAY : TW_CALL, 7);
    memset(c, 0, sizeof *c);
    c->uc.done = on_done;
    c->uc.oneway = oneway;
    struct hms_ident id = { NULL, NULL, 0, NULL };
    char why[300];
    int rc = hms_up_send(p, t, &id, TW_BINARY, true, msg, n, &c->uc, why, sizeof why);
    if (rc < 0)
        fprintf(stderr, "hms_up_send: %s\n", why);
    return rc;
}

static uint64_t state_count(struct hms_pool *p, enum hms_upconn_state s)
{
    uint64_t n[HU_NSTATES] = { 0 };
    hms_pool_count_states(p, n);
    return n[s];
}

static void test_moves(void)
{
    int allowed = 0;
    for (int f = 0; f < HU_NSTATES; f++)
        for (int t = 0; t < HU_NSTATES; t++)
            allowed += hms_upconn_move_ok((enum hms_upconn_state)f, (enum hms_upconn_state)t);
    CHECK_EQ(allowed, 10);
    CHECK(hms_upconn_move_ok(HU_CONNECTING, HU_SETUP) && hms_upconn_move_ok(HU_CONNECTING, HU_BUSY));
    CHECK(hms_upconn_move_ok(HU_SETUP, HU_BUSY) && hms_upconn_move_ok(HU_IDLE, HU_SETUP));
    CHECK(hms_upconn_move_ok(HU_IDLE, HU_BUSY) && hms_upconn_move_ok(HU_BUSY, HU_IDLE));
    for (int f = 0; f < HU_CLOSED; f++)
        CHECK(hms_upconn_move_ok((enum hms_upconn_state)f, HU_CLOSED));
    CHECK(!hms_upconn_move_ok(HU_CONNECTING, HU_IDLE)); /* a new connection carries a call */
    CHECK(!hms_upconn_move_ok(HU_SETUP, HU_IDLE) && !hms_upconn_move_ok(HU_BUSY, HU_SETUP));
    CHECK(!hms_upconn_move_ok(HU_CLOSED, HU_IDLE) && !hms_upconn_move_ok(HU_CLOSED, HU_CLOSED));
    CHECK(!hms_upconn_move_ok(HU_NSTATES, HU_CLOSED));
    CHECK(strcmp(hms_upconn_state_name(HU_BUSY), "busy") == 0 && strcmp(hms_upconn_state_name(HU_IDLE), "idle") == 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    test_moves();
    loop = ev_loop_new(EVFLAG_AUTO);
    char err[128];
    int port = 0;
    int lfd = net_listen("127.0.0.1:0", false, &port, err, sizeof err);
    CHECK(lfd >= 0);
    if (lfd < 0)
        return check_report();
    struct fake_ms f = { .lfd = lfd, .fd = -1 };
    ev_io_init(&f.lw, fake_accept, lfd, EV_READ);
    f.lw.data = &f;
    ev_io_start(loop, &f.lw);
    char uri[64];
    snprintf(uri, sizeof uri, "thrift://127.0.0.1:%d", port);
    char *uris[1] = { uri };
    struct hms_target *t = hms_target_get("test", uris, 1);
    CHECK(t != NULL);
    struct conn_counts counts = { { 0 } };
    struct hms_pool_limits lim = { 2.0, 5.0, 30.0, 1u << 20 };
    struct hms_pool *p = hms_pool_new(loop, &lim, &counts);

    /* A call: connects, is answered, its connection goes IDLE. */
    struct call a;
    CHECK_EQ(send_call(p, t, &a, "get_all_databases", false), 0);
    CHECK_EQ(a.done, 0);
    CHECK_EQ(state_count(p, HU_CONNECTING), 1u);
    run_for(5);
    CHECK(a.done == 1 && a.st == HMS_UP_OK && a.len > 8 && a.reply[3] == TW_REPLY);
    CHECK(state_count(p, HU_IDLE) == 1 && state_count(p, HU_BUSY) == 0 && state_count(p, HU_CONNECTING) == 0);
    CHECK(counts.n[CONN_OPEN] == 1 && counts.n[CONN_CONNECTING] == 0);
    size_t open = 0, idle = 0;
    hms_pool_counts(p, &open, &idle);
    CHECK(open == 1 && idle == 1);

    /* Oneway on the idle connection: done() from the loop, not from send. */
    struct call b;
    CHECK_EQ(send_call(p, t, &b, "shutdown", true), 0);
    CHECK_EQ(b.done, 0);
    run_for(1);
    CHECK(b.done == 1 && b.st == HMS_UP_OK);
    CHECK_EQ(state_count(p, HU_IDLE), 1u);
    /* The same connection carries the next call. */
    CHECK_EQ(send_call(p, t, &a, "get_all_databases", false), 0);
    run_for(5);
    CHECK(a.done == 1 && a.st == HMS_UP_OK && f.calls == 2);
    run_for(0.1);
    CHECK_EQ(f.oneways, 1);

    /* A cancelled call: no done(), and its connection is closed. */
    struct call d;
    CHECK_EQ(send_call(p, t, &d, "get_all_databases", false), 0);
    hms_up_cancel(&d.uc);
    run_for(0.2);
    CHECK_EQ(d.done, 0);
    hms_pool_counts(p, &open, &idle);
    CHECK(open == 0 && idle == 0);
    CHECK_EQ(counts.n[CONN_OPEN], 0);

    /* A oneway call cancelled before its done() ran: done() never runs. */
    CHECK_EQ(send_call(p, t, &a, "get_all_databases", false), 0);
    run_for(5);
    CHECK(a.done == 1 && state_count(p, HU_IDLE) == 1);
    CHECK_EQ(send_call(p, t, &b, "shutdown", true), 0);
    hms_up_cancel(&b.uc);
    run_for(0.2);
    CHECK_EQ(b.done, 0);

    /* The metastore resets the idle connection; a call sent on it before
     * the pool notices fails from the loop, not inside the send. */
    CHECK_EQ(state_count(p, HU_IDLE), 1u);
    CHECK(f.fd >= 0);
    if (f.fd >= 0) {
        ev_io_stop(loop, &f.rw);
        struct linger lg = { 1, 0 };
        setsockopt(f.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(f.fd);
        f.fd = -1;
        buf_reset(&f.in);
    }
    usleep(50000);
    struct call c;
    CHECK_EQ(send_call(p, t, &c, "get_all_databases", false), 0);
    CHECK_EQ(c.done, 0);
    run_for(5);
    CHECK(c.done == 1 && c.st == HMS_UP_DOWN);
    hms_pool_counts(p, &open, &idle);
    CHECK(open == 0);

    hms_pool_free(p);
    for (int k = 0; k < CONN_NSTATES; k++)
        CHECK_EQ(counts.n[k], 0);
    ev_io_stop(loop, &f.lw);
    if (f.fd >= 0) {
        ev_io_stop(loop, &f.rw);
        close(f.fd);
    }
    buf_free(&f.in);
    close(lfd);
    ev_loop_destroy(loop);
    return check_report();
}
