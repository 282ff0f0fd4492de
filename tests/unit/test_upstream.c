/*
 * test_upstream: the router's upstream pool against a real minidfs.
 *   - calls of two clients with the same call ids share one connection and
 *     each gets its own reply (matched by clientId + callId, ids echoed);
 *   - the client's retryCount travels upstream unchanged;
 *   - a standby NameNode's StandbyException comes back as an ERROR reply;
 *   - a NameNode that dies fails the calls in flight with UP_EDOWN, and a
 *     refused connect fails the call, not the process;
 *   - a NameNode that accepts but never answers times out (UP_ETIMEOUT);
 *   - connection states: only the moves of the table are allowed; calls sent
 *     while the connect is under way wait, nothing reaches the socket before
 *     it completes, then the preamble, the context and the calls go out in
 *     that order and the replies come back; a refused or timed-out connect
 *     fails every queued call with UP_EDOWN;
 *   - done() never runs inside upstream_send, even when the connection is
 *     already broken (reset by the peer), and the pool's sockets show in the
 *     per-state gauges it was given.
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
#include "conn.h"
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
    int seq;                            /* order in which done() ran, from 1 */
};

static struct ev_loop *loop;
static int pending;
static int done_seq;

static void on_done(struct upstream_call *uc, enum upstream_status st, const struct ipc_reply *r, const uint8_t *body,
                    size_t len)
{
    struct result *res = (struct result *)uc;
    res->done++;
    res->st = st;
    res->seq = ++done_seq;
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

/* Runs the loop for `secs`, whatever happens. */
static void run_for(double secs)
{
    ev_timer t;
    ev_timer_init(&t, on_guard, secs, 0);
    ev_timer_start(loop, &t);
    ev_run(loop, 0);
    ev_timer_stop(loop, &t);
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

/* The transition table: exactly these five moves, nothing else. */
static void test_moves(void)
{
    enum upstream_conn_state C = UPSTREAM_CONN_CONNECTING, H = UPSTREAM_CONN_HANDSHAKE, R = UPSTREAM_CONN_READY,
                             X = UPSTREAM_CONN_CLOSED;
    int allowed = 0;
    for (int f = 0; f < UPSTREAM_CONN_NSTATES; f++)
        for (int t = 0; t < UPSTREAM_CONN_NSTATES; t++)
            allowed += upstream_conn_move_ok((enum upstream_conn_state)f, (enum upstream_conn_state)t);
    CHECK_EQ(allowed, 5);
    CHECK(upstream_conn_move_ok(C, H) && upstream_conn_move_ok(H, R));
    CHECK(upstream_conn_move_ok(C, X) && upstream_conn_move_ok(H, X) && upstream_conn_move_ok(R, X));
    CHECK(!upstream_conn_move_ok(C, R)); /* no skipping the handshake */
    CHECK(!upstream_conn_move_ok(R, H) && !upstream_conn_move_ok(R, C) && !upstream_conn_move_ok(H, C));
    CHECK(!upstream_conn_move_ok(X, C) && !upstream_conn_move_ok(X, X) && !upstream_conn_move_ok(R, R));
    CHECK(!upstream_conn_move_ok((enum upstream_conn_state)UPSTREAM_CONN_NSTATES, X));
    CHECK(strcmp(upstream_conn_state_name(C), "connecting") == 0 && strcmp(upstream_conn_state_name(R), "ready") == 0);
}

/* A listener whose accept queue holds one connection (backlog 0): once that
 * place is taken, the kernel drops the SYNs of later connects, which stay in
 * progress until the place frees and the SYN is sent again (about 1 s). */
static int listen_tight(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sl) < 0 || listen(fd, 0) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A NameNode stand-in that records what arrives and answers each call with
 * an empty SUCCESS as soon as its frame is read. */
struct fake_nn {
    int lfd, fd;
    ev_io lw, rw;
    struct buf in;
    bool preamble_ok;                   /* the stream began with a SIMPLE preamble */
    int frames;                         /* frames read after the preamble */
    bool context_first;                 /* the first of them was the context (call id -3) */
    int32_t call_ids[8];                /* the calls, in the order they arrived */
    int ncalls;
    bool bad;                           /* something did not parse */
};

static void fake_read(struct ev_loop *l, ev_io *w, int revents)
{
    struct fake_nn *f = w->data;
    if (buf_reserve(&f->in, 4096) < 0)
        return;
    ssize_t n = recv(f->fd, buf_wptr(&f->in), buf_room(&f->in), 0);
    if (n <= 0) {
        ev_io_stop(l, w);
        return;
    }
    buf_commit(&f->in, (size_t)n);
    if (!f->preamble_ok && f->frames == 0) {
        struct ipc_preamble pre;
        int rc = ipc_parse_preamble(buf_rptr(&f->in), buf_len(&f->in), &pre);
        if (rc == IPC_AGAIN)
            return;
        if (rc != IPC_OK || memcmp(buf_rptr(&f->in), "hrpc", 4) != 0 || pre.auth != IPC_AUTH_NONE) {
            f->bad = true;
            ev_io_stop(l, w);
            return;
        }
        f->preamble_ok = true;
        buf_consume(&f->in, 7);
    }
    for (;;) {
        const uint8_t *body;
        uint32_t blen;
        size_t flen;
        if (ipc_frame_cut(buf_rptr(&f->in), buf_len(&f->in), 1u << 20, &body, &blen, &flen) != IPC_OK)
            break;
        struct ipc_call call;
        if (ipc_parse_call(body, blen, &call) != IPC_OK) {
            f->bad = true;
            break;
        }
        if (f->frames++ == 0)
            f->context_first = call.hdr.call_id == -3;
        if (call.hdr.call_id >= 0 && f->ncalls < 8) {
            f->call_ids[f->ncalls++] = call.hdr.call_id;
            struct ipc_ids ids = { call.hdr.call_id, call.hdr.retry_count, call.hdr.client_id.p,
                                   call.hdr.client_id.len };
            struct buf out = { 0 };
            if (ipc_write_reply_raw(&out, &ids, NULL, 0) == IPC_OK &&
                send(f->fd, buf_rptr(&out), buf_len(&out), MSG_NOSIGNAL) != (ssize_t)buf_len(&out))
                f->bad = true;
            buf_free(&out);
        }
        buf_consume(&f->in, flen);
    }
}

static void fake_accept(struct ev_loop *l, ev_io *w, int revents)
{
    struct fake_nn *f = w->data;
    f->fd = net_accept(f->lfd, NULL, 0);
    if (f->fd < 0)
        return;
    ev_io_stop(l, w);
    ev_io_init(&f->rw, fake_read, f->fd, EV_READ);
    f->rw.data = f;
    ev_io_start(l, &f->rw);
}

/* Calls sent while the connect is held back: queued, then sent in order
 * behind the preamble and context once it completes; a connect that times
 * out meanwhile fails its queued calls. */
static void test_queue_until_ready(const struct upstream_limits *base)
{
    int port = 0;
    int lfd = listen_tight(&port);
    CHECK(lfd >= 0);
    if (lfd < 0)
        return;
    int filler = connect_to(port); /* takes the one place in the accept queue */
    CHECK(filler >= 0);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);

    struct upstream_limits slow = *base, quick = *base;
    slow.connect_timeout = 8;
    slow.call_timeout = 8;
    quick.connect_timeout = 0.3;
    struct upstream_pool *ps = upstream_pool_new(loop, &slow, NULL);
    struct upstream_pool *pq = upstream_pool_new(loop, &quick, NULL);
    uint8_t cid[16];
    ipc_new_client_id(cid);
    struct result r[5];
    for (int i = 0; i < 3; i++)
        CHECK_EQ(send_getfileinfo(ps, addr, &r[i], cid, 20 + i, 0, "/"), 0);
    CHECK_EQ(send_getfileinfo(pq, addr, &r[3], cid, 30, 0, "/"), 0);
    CHECK_EQ(send_getfileinfo(pq, addr, &r[4], cid, 31, 0, "/"), 0);
    struct upstream_stats st;
    upstream_pool_stats(ps, &st);
    CHECK(st.conns == 1 && st.in_flight == 3 && st.by_state[UPSTREAM_CONN_CONNECTING] == 1);

    run_for(0.6);
    /* The quick pool's connect timed out: both of its calls failed, once. */
    CHECK(r[3].done == 1 && r[3].st == UP_EDOWN && r[4].done == 1 && r[4].st == UP_EDOWN);
    upstream_pool_stats(pq, &st);
    CHECK(st.conns == 0 && st.in_flight == 0 && st.connect_failures == 1);
    CHECK(st.by_state[UPSTREAM_CONN_CONNECTING] == 0 && st.by_state[UPSTREAM_CONN_READY] == 0);
    /* The slow pool still waits, its calls queued. */
    CHECK(r[0].done == 0 && r[1].done == 0 && r[2].done == 0);
    upstream_pool_stats(ps, &st);
    CHECK(st.by_state[UPSTREAM_CONN_CONNECTING] == 1 && st.by_state[UPSTREAM_CONN_READY] == 0 && st.in_flight == 3);

    /* Free the accept queue: nothing came on the filler's connection, and the
     * held-back connect now goes through. */
    int afd = net_accept(lfd, NULL, 0);
    CHECK(afd >= 0);
    if (afd >= 0)
        close(afd);
    close(filler);
    struct fake_nn f = { .lfd = lfd, .fd = -1 };
    ev_io_init(&f.lw, fake_accept, lfd, EV_READ);
    f.lw.data = &f;
    ev_io_start(loop, &f.lw);
    int first = done_seq;
    run();
    CHECK(f.preamble_ok && !f.bad && f.context_first);
    CHECK_EQ(f.ncalls, 3);
    for (int i = 0; i < 3 && i < f.ncalls; i++)
        CHECK_EQ(f.call_ids[i], 20 + i);
    for (int i = 0; i < 3; i++) {
        CHECK(r[i].done == 1 && r[i].st == UP_OK && r[i].status == IPC_SUCCESS && r[i].call_id == 20 + i);
        CHECK_EQ(r[i].seq, first + 1 + i);
    }
    upstream_pool_stats(ps, &st);
    CHECK(st.conns == 1 && st.in_flight == 0 && st.by_state[UPSTREAM_CONN_READY] == 1);
    CHECK(st.by_state[UPSTREAM_CONN_CONNECTING] == 0 && st.by_state[UPSTREAM_CONN_HANDSHAKE] == 0);
    /* Once READY, a call goes straight out. */
    CHECK_EQ(send_getfileinfo(ps, addr, &r[0], cid, 23, 0, "/"), 0);
    run();
    CHECK(r[0].done == 1 && r[0].st == UP_OK && f.ncalls == 4 && f.call_ids[3] == 23);

    ev_io_stop(loop, &f.lw);
    ev_io_stop(loop, &f.rw);
    upstream_pool_free(ps);
    upstream_pool_free(pq);
    if (f.fd >= 0)
        close(f.fd);
    buf_free(&f.in);
    close(lfd);
}

/* A refused connect fails every call queued behind it, each once. */
static void test_refused_queue(const struct upstream_limits *lim)
{
    /* A bound port nobody listens on: the connect is refused. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sa;
    CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sl) == 0 && getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(sa.sin_port));
    struct upstream_pool *p = upstream_pool_new(loop, lim, NULL);
    uint8_t cid[16];
    ipc_new_client_id(cid);
    struct result r[3];
    for (int i = 0; i < 3; i++)
        CHECK_EQ(send_getfileinfo(p, addr, &r[i], cid, 40 + i, 0, "/"), 0);
    run();
    for (int i = 0; i < 3; i++)
        CHECK(r[i].done == 1 && r[i].st == UP_EDOWN);
    struct upstream_stats st;
    upstream_pool_stats(p, &st);
    CHECK(st.conns == 0 && st.in_flight == 0 && st.connects == 1 && st.connect_failures == 1);
    for (int k = 0; k < UPSTREAM_CONN_NSTATES; k++)
        CHECK_EQ(st.by_state[k], 0u);
    upstream_pool_free(p);
    close(fd);
}

/* A host name is looked up off the loop: the send returns at once with its
 * calls waiting, and a name that does not resolve fails them (UP_EDOWN, as
 * a refused connect); the failure is then remembered, so the next send
 * fails at once. */
static void test_unresolvable(const struct upstream_limits *lim)
{
    const char *addr = "no-such-namenode.invalid:8020";
    struct upstream_pool *p = upstream_pool_new(loop, lim, NULL);
    uint8_t cid[16];
    ipc_new_client_id(cid);
    struct result r[2];
    for (int i = 0; i < 2; i++)
        CHECK_EQ(send_getfileinfo(p, addr, &r[i], cid, 60 + i, 0, "/"), 0);
    struct upstream_stats st;
    upstream_pool_stats(p, &st);
    CHECK(st.conns == 1 && st.connects == 0 && st.in_flight == 2); /* waiting, no socket yet */
    run();
    for (int i = 0; i < 2; i++)
        CHECK(r[i].done == 1 && r[i].st == UP_EDOWN);
    upstream_pool_stats(p, &st);
    CHECK(st.conns == 0 && st.in_flight == 0 && st.connects == 0);
    struct result again;
    CHECK_EQ(send_getfileinfo(p, addr, &again, cid, 70, 0, "/"), -1);
    upstream_pool_free(p);
}

/* A call sent on a READY connection whose peer has reset it: upstream_send
 * returns 0 with done() not run yet; the loop then fails it with UP_EDOWN.
 * The gauges follow the socket from open to gone. */
static void test_no_done_inside_send(const struct upstream_limits *lim)
{
    char err[128];
    int port = 0;
    int lfd = net_listen("127.0.0.1:0", false, &port, err, sizeof err);
    CHECK(lfd >= 0);
    if (lfd < 0)
        return;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    struct fake_nn f = { .lfd = lfd, .fd = -1 };
    ev_io_init(&f.lw, fake_accept, lfd, EV_READ);
    f.lw.data = &f;
    ev_io_start(loop, &f.lw);
    struct conn_counts counts = { { 0 } };
    struct upstream_pool *p = upstream_pool_new(loop, lim, &counts);
    uint8_t cid[16];
    ipc_new_client_id(cid);
    struct result r;
    CHECK_EQ(send_getfileinfo(p, addr, &r, cid, 80, 0, "/"), 0);
    CHECK_EQ(counts.n[CONN_CONNECTING], 1);
    run();
    CHECK(r.done == 1 && r.st == UP_OK);
    CHECK(counts.n[CONN_OPEN] == 1 && counts.n[CONN_CONNECTING] == 0);

    /* The NameNode side resets the connection; the pool has not seen it. */
    ev_io_stop(loop, &f.rw);
    struct linger lg = { 1, 0 };
    setsockopt(f.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(f.fd);
    f.fd = -1;
    usleep(50000);
    CHECK_EQ(send_getfileinfo(p, addr, &r, cid, 81, 0, "/"), 0);
    CHECK_EQ(r.done, 0);
    run();
    CHECK(r.done == 1 && r.st == UP_EDOWN);
    for (int k = 0; k < CONN_NSTATES; k++)
        CHECK_EQ(counts.n[k], 0);
    struct upstream_stats st;
    upstream_pool_stats(p, &st);
    CHECK(st.conns == 0 && st.in_flight == 0);
    ev_io_stop(loop, &f.lw);
    upstream_pool_free(p);
    buf_free(&f.in);
    close(lfd);
}

/* send_getfileinfo as another user. */
static int send_as(struct upstream_pool *p, const char *addr, const char *user, struct result *res,
                   const uint8_t cid[16], int32_t call_id)
{
    uint8_t param[64];
    size_t n = pb_put_bytes_field(param, 1, "/", 1);
    struct ipc_ids ids = { call_id, 0, cid, 16 };
    memset(res, 0, sizeof *res);
    res->uc.done = on_done;
    char why[256];
    pending++;
    int rc = upstream_send(p, addr, user, &ids, "getFileInfo", param, n, &res->uc, why, sizeof why);
    if (rc < 0)
        pending--;
    return rc;
}

/* A refused address is backed off: further calls fail inside the send
 * without a connect, until the interval is over; then one connect again. */
static void test_backoff(const struct upstream_limits *base)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sa;
    CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sl) == 0 && getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(sa.sin_port));
    struct upstream_limits lim = *base;
    lim.backoff_min = 0.1;
    lim.backoff_max = 0.4;
    struct upstream_pool *p = upstream_pool_new(loop, &lim, NULL);
    uint8_t cid[16];
    ipc_new_client_id(cid);
    struct result r[4];
    CHECK_EQ(send_getfileinfo(p, addr, &r[0], cid, 1, 0, "/"), 0);
    run();
    CHECK(r[0].done == 1 && r[0].st == UP_EDOWN);
    /* Within the interval: refused inside the send, any user, no connect. */
    CHECK_EQ(send_getfileinfo(p, addr, &r[1], cid, 2, 0, "/"), -1);
    CHECK_EQ(send_as(p, addr, "bob", &r[2], cid, 3), -1);
    struct upstream_stats st;
    upstream_pool_stats(p, &st);
    CHECK(st.connects == 1 && st.backoff_failures == 2 && st.down == 1);
    /* After it: one connect, refused again, and the interval doubles. */
    run_for(0.12);
    CHECK_EQ(send_getfileinfo(p, addr, &r[3], cid, 4, 0, "/"), 0);
    run();
    CHECK(r[3].done == 1 && r[3].st == UP_EDOWN);
    run_for(0.12);
    CHECK_EQ(send_getfileinfo(p, addr, &r[1], cid, 5, 0, "/"), -1);
    upstream_pool_stats(p, &st);
    CHECK(st.connects == 2 && st.down == 1);
    /* The sets of calls that failed go soon after. */
    run_for(0.01);
    upstream_pool_stats(p, &st);
    CHECK_EQ(st.sets, 0u);
    upstream_pool_free(p);
    close(fd);
}

/* max_conns_per_nn: a new user takes the place of another's idle
 * connection; with every connection busy the call waits, then gets
 * UP_EBUSY at the call timeout. */
static void test_nn_reap(const struct upstream_limits *base, const char *nn)
{
    struct upstream_limits lim = *base;
    lim.max_conns_per_nn = 2;
    struct upstream_pool *p = upstream_pool_new(loop, &lim, NULL);
    uint8_t cid[16];
    ipc_new_client_id(cid);
    struct result r[4];
    CHECK_EQ(send_as(p, nn, "u0", &r[0], cid, 1), 0);
    CHECK_EQ(send_as(p, nn, "u1", &r[1], cid, 2), 0);
    run();
    CHECK_EQ(send_as(p, nn, "u2", &r[2], cid, 3), 0);
    run();
    struct upstream_stats st;
    upstream_pool_stats(p, &st);
    CHECK(r[0].st == UP_OK && r[1].st == UP_OK && r[2].st == UP_OK);
    CHECK(st.conns == 2 && st.reaped == 1 && st.queued == 0);
    run_for(0.01); /* u0's set went with its connection */
    upstream_pool_stats(p, &st);
    CHECK_EQ(st.sets, 2u);
    upstream_pool_free(p);
}

static void test_nn_wait(const struct upstream_limits *base, const char *silent)
{
    struct upstream_limits lim = *base;
    lim.max_conns_per_nn = 1;
    lim.call_timeout = 0.3;
    struct upstream_pool *p = upstream_pool_new(loop, &lim, NULL);
    uint8_t cid[16];
    ipc_new_client_id(cid);
    struct result r[4];
    struct upstream_stats st;
    CHECK_EQ(send_as(p, silent, "a", &r[0], cid, 10), 0);
    CHECK_EQ(send_as(p, silent, "b", &r[1], cid, 11), 0); /* waits */
    usleep(20000);
    ev_now_update(loop); /* later than b's */
    CHECK_EQ(send_as(p, silent, "a", &r[2], cid, 12), 0); /* keeps a's connection busy past b's timeout */
    upstream_pool_stats(p, &st);
    CHECK(st.conns == 1 && st.waiting == 1 && st.queued == 1);
    run();
    CHECK(r[0].st == UP_ETIMEOUT && r[1].st == UP_EBUSY && r[2].st == UP_ETIMEOUT);
    CHECK(r[1].seq < r[2].seq);
    /* A waiting call that is cancelled leaves nothing behind. */
    CHECK_EQ(send_as(p, silent, "a", &r[0], cid, 13), 0);
    CHECK_EQ(send_as(p, silent, "c", &r[1], cid, 14), 0);
    upstream_cancel(&r[1].uc);
    pending--;
    upstream_pool_stats(p, &st);
    CHECK_EQ(st.waiting, 0u);
    /* When a's connection goes idle, the next waiting user gets its place
     * (and is sent: the silent server lets it time out). */
    CHECK_EQ(send_as(p, silent, "d", &r[3], cid, 15), 0);
    upstream_cancel(&r[0].uc);
    pending--;
    run();
    CHECK(r[0].done == 0 && r[3].done == 1 && r[3].st == UP_ETIMEOUT);
    upstream_pool_stats(p, &st);
    CHECK(st.reaped == 1 && st.waiting == 0);
    upstream_pool_free(p);
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
    struct upstream_pool *p = upstream_pool_new(loop, &lim, NULL);

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

    test_nn_reap(&lim, addr);

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
    struct upstream_pool *p2 = upstream_pool_new(loop, &fast, NULL);
    CHECK_EQ(send_getfileinfo(p2, silent, &r[3], a, 13, 0, "/"), 0);
    run();
    CHECK(r[3].done == 1 && r[3].st == UP_ETIMEOUT);

    test_nn_wait(&lim, silent);
    test_backoff(&lim);

    /* Cancel: done() is never called for a forgotten call. */
    CHECK_EQ(send_getfileinfo(p2, silent, &r[4], a, 14, 0, "/"), 0);
    upstream_cancel(&r[4].uc);
    pending--;
    upstream_pool_free(p2);
    CHECK_EQ(r[4].done, 0);

    test_moves();
    test_queue_until_ready(&lim);
    test_refused_queue(&lim);
    test_unresolvable(&lim);
    test_no_done_inside_send(&lim);

    upstream_pool_free(p);
    close(lfd);
    ev_loop_destroy(loop);
    minidfs_proc_cleanup(&m);
    return check_report();
}
