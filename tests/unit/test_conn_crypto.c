/*
 * The connection layer with crypto threads (lib/conn_crypto, lib/workpool),
 * over socketpairs on a real libev loop with real threads.
 *
 * The transport is defined here: each wire unit is a be32 length and the
 * message XOR 0x5a. Units of BIG bytes or more ask for a crypto thread, and
 * their encode and decode spin for a while, as unwrapping a large SASL
 * message does. The first plaintext byte of a message says what the
 * transport does with it besides: 'n' nothing, 'G' encode waits for the
 * test's gate, 'D' decode waits for the gate, 'E' encode refuses, 'X' decode
 * refuses. A gate that the test does not open lets go after GATE_WAIT_S and
 * is counted, so a test that is wrong fails instead of hanging.
 *
 *   - order: three connections echo 300 mixed-size messages each, sent all
 *     at once; every reply comes back whole and in order, the transport
 *     never runs twice at once for one connection, and both directions ran
 *     on the threads;
 *   - isolation: a large reply whose encode is held on a crypto thread does
 *     not hold back a small reply of another connection of the same loop;
 *     and, run inline, it does (so the check can fail);
 *   - close while a job is out (encode and decode): the memory stays until
 *     the job is back, then goes once, and a socket that took the closed
 *     one's number meanwhile gets nothing;
 *   - an encode job with nothing queued before it sends its bytes from the
 *     thread; a peer gone meanwhile closes the connection ("write failed");
 *   - failures on a thread close that connection with the reason and count;
 *   - a full queue runs the work inline, counted;
 *   - the pool's stop runs what is queued and joins;
 *   - several threads submitting at once: every job runs once, each
 *     submitter's in its order.
 *
 * `test_conn_crypto --bench` (not run by ctest) times small round trips on a
 * loop that also serves large ones, inline and with BENCH_THREADS (2)
 * crypto threads, and prints the percentiles.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "conn.h"
#include "conn_crypto.h"
#include "inbox.h"
#include "workpool.h"

#define BIG (16u << 10)
#define HDR 9 /* kind, be32 seq, be32 total length */
#define GATE_WAIT_S 5.0
#define MAX_UNIT (4u << 20)

/* ---- the test transport ---- */

static atomic_int gate_open, gated_started, gated_finished, gate_timeouts;
static double gate_wait_s = GATE_WAIT_S;
static atomic_int destroyed;

struct tctx {
    atomic_int busy;      /* a transport call is running for this connection */
    atomic_int overlaps;  /* calls that found another one running */
    uint32_t enc_next;    /* seq the next encoded 'n' message must carry */
    atomic_int enc_wrong; /* messages encoded out of order */
};

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* What slow crypto costs: about 0.2 ms per 64 KiB. */
static void spin_for(size_t n)
{
    uint64_t until = fr_mono_ns() + (uint64_t)n * 3;
    while (fr_mono_ns() < until)
        ;
}

static void wait_gate(void)
{
    atomic_fetch_add(&gated_started, 1);
    uint64_t until = fr_mono_ns() + (uint64_t)(gate_wait_s * 1e9);
    while (!atomic_load(&gate_open)) {
        if (fr_mono_ns() > until) {
            atomic_fetch_add(&gate_timeouts, 1);
            break;
        }
        sched_yield();
    }
    atomic_fetch_add(&gated_finished, 1);
}

static void enter(struct tctx *t)
{
    if (atomic_exchange(&t->busy, 1))
        atomic_fetch_add(&t->overlaps, 1);
}

static void leave(struct tctx *t) { atomic_store(&t->busy, 0); }

static enum xprt_status x_decode(struct conn *c, void *ctx, struct buf *wire, struct buf *plain)
{
    struct tctx *t = ctx;
    enter(t);
    enum xprt_status st = XPRT_OK;
    while (buf_len(wire) >= 4) {
        const uint8_t *p = buf_rptr(wire);
        uint32_t n = be32(p);
        if (n > MAX_UNIT) {
            st = XPRT_ERROR;
            break;
        }
        if (buf_len(wire) < 4 + (size_t)n)
            break;
        if (buf_reserve(plain, n) < 0) {
            st = XPRT_NOMEM;
            break;
        }
        uint8_t kind = n ? p[4] ^ 0x5a : 0;
        if (kind == 'X') {
            st = XPRT_ERROR;
            break;
        }
        if (kind == 'D')
            wait_gate();
        if (n >= BIG)
            spin_for(n);
        for (uint32_t i = 0; i < n; i++)
            buf_wptr(plain)[i] = p[4 + i] ^ 0x5a;
        buf_commit(plain, n);
        buf_consume(wire, 4 + (size_t)n);
    }
    leave(t);
    return st;
}

static enum xprt_status x_encode(struct conn *c, void *ctx, const uint8_t *msg, size_t n, struct buf *wire)
{
    struct tctx *t = ctx;
    enter(t);
    enum xprt_status st = XPRT_OK;
    uint8_t h[4];
    put32(h, (uint32_t)n);
    if (n && msg[0] == 'E') {
        st = XPRT_ERROR;
        goto out;
    }
    if (n >= HDR && msg[0] == 'n') {
        if (be32(msg + 1) != t->enc_next)
            atomic_fetch_add(&t->enc_wrong, 1);
        t->enc_next = be32(msg + 1) + 1;
    }
    if (n && msg[0] == 'G')
        wait_gate();
    if (n >= BIG)
        spin_for(n);
    if (buf_append(wire, h, 4) < 0 || buf_reserve(wire, n) < 0) {
        st = XPRT_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        buf_wptr(wire)[i] = msg[i] ^ 0x5a;
    buf_commit(wire, n);
out:
    leave(t);
    return st;
}

/* Encode: n is the message. Decode: n is the wire bytes waiting, and a big
 * unit goes to a thread once it is whole (a message whose length happens to
 * equal what waits is judged as input: only where it runs changes). */
static bool x_offload(const struct conn *c, void *ctx, bool decode, size_t n)
{
    const struct buf *w = &c->wire_in;
    if (!decode)
        return n >= BIG;
    return n >= 4 && be32(buf_rptr(w)) >= BIG && n >= 4 + (size_t)be32(buf_rptr(w));
}

static void x_destroy(void *ctx)
{
    free(ctx);
    atomic_fetch_add(&destroyed, 1);
}

static const struct xprt_ops xorlen = { "xorlen", x_decode, x_encode, NULL, x_offload, x_destroy };

/* ---- the server side: a conn that echoes each whole message ---- */

struct srv {
    struct conn c;
    int msgs, closes, frees;
    char reason[96];
};

static void s_input(struct conn *c)
{
    struct srv *s = c->owner;
    struct buf *in = conn_in(c);
    while (buf_len(in) >= HDR) {
        uint32_t total = be32(buf_rptr(in) + 5);
        if (total < HDR || buf_len(in) < total)
            break;
        buf_append(conn_out(c), buf_rptr(in), total);
        conn_out_end(c);
        buf_consume(in, total);
        s->msgs++;
    }
}

static void s_close(struct conn *c, const char *reason)
{
    struct srv *s = c->owner;
    s->closes++;
    snprintf(s->reason, sizeof s->reason, "%s", reason ? reason : "(orderly)");
}

static void s_free(struct conn *c) { ((struct srv *)c->owner)->frees++; }

static const struct conn_ops srv_ops = { .on_input = s_input, .on_close = s_close, .on_free = s_free };

/* ---- the client side: a raw socket that sends units, reads them back ---- */

struct cli {
    int fd;
    ev_io rw, ww;
    struct buf out, in;
    uint32_t next_seq; /* of the next 'n' reply */
    int replies, bad;
    size_t last_len; /* plaintext length of the last reply */
    uint8_t last_kind;
    void (*on_reply)(struct cli *k);
    /* --bench: ping-pong of pp_size messages, round trips timed */
    uint32_t pp_size;
    uint64_t sent_ns;
    uint64_t *lat;
    size_t nlat, caplat;
};

static void make_msg(uint8_t *m, uint8_t kind, uint32_t seq, uint32_t total)
{
    m[0] = kind;
    put32(m + 1, seq);
    put32(m + 5, total);
    for (uint32_t i = HDR; i < total; i++)
        m[i] = (uint8_t)(seq + i);
}

/* Queues one message as a wire unit for the server. */
static void cli_send(struct cli *k, uint8_t kind, uint32_t seq, uint32_t total)
{
    uint8_t *m = malloc(total);
    make_msg(m, kind, seq, total);
    uint8_t h[4];
    put32(h, total);
    buf_append(&k->out, h, 4);
    for (uint32_t i = 0; i < total; i++)
        m[i] ^= 0x5a;
    buf_append(&k->out, m, total);
    free(m);
}

static void cli_parse(struct cli *k)
{
    while (buf_len(&k->in) >= 4) {
        uint32_t n = be32(buf_rptr(&k->in));
        if (buf_len(&k->in) < 4 + (size_t)n)
            return;
        uint8_t *m = buf_rptr(&k->in) + 4;
        for (uint32_t i = 0; i < n; i++)
            m[i] ^= 0x5a;
        k->last_len = n;
        k->last_kind = n ? m[0] : 0;
        if (n >= HDR && m[0] == 'n') {
            uint32_t seq = be32(m + 1);
            bool ok = seq == k->next_seq && be32(m + 5) == n;
            for (uint32_t i = HDR; ok && i < n; i++)
                ok = m[i] == (uint8_t)(seq + i);
            if (!ok)
                k->bad++;
            k->next_seq = seq + 1;
        }
        k->replies++;
        buf_consume(&k->in, 4 + (size_t)n);
        if (k->on_reply)
            k->on_reply(k);
    }
}

static void cli_read(struct ev_loop *loop, ev_io *w, int revents)
{
    struct cli *k = w->data;
    for (;;) {
        if (buf_reserve(&k->in, 64 << 10) < 0)
            return;
        ssize_t n = recv(k->fd, buf_wptr(&k->in), buf_room(&k->in), MSG_DONTWAIT);
        if (n <= 0) {
            if (n == 0)
                ev_io_stop(loop, w);
            break;
        }
        buf_commit(&k->in, (size_t)n);
    }
    cli_parse(k);
}

static void cli_write(struct ev_loop *loop, ev_io *w, int revents)
{
    struct cli *k = w->data;
    while (buf_len(&k->out)) {
        ssize_t n = send(k->fd, buf_rptr(&k->out), buf_len(&k->out), MSG_DONTWAIT);
        if (n <= 0)
            return;
        buf_consume(&k->out, (size_t)n);
    }
    ev_io_stop(loop, w);
}

static void cli_flush(struct ev_loop *loop, struct cli *k) { ev_io_start(loop, &k->ww); }

/* A socketpair: s is the server conn with the transport, k the raw client. */
static void pair(struct ev_loop *loop, struct conn_crypto *cc, struct srv *s, struct cli *k)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    memset(s, 0, sizeof *s);
    memset(k, 0, sizeof *k);
    conn_crypto_bind(cc); /* as a worker does on its thread */
    conn_accepted(&s->c, loop, sv[0], &srv_ops, s, NULL);
    conn_crypto_bind(NULL);
    CHECK(s->c.crypto == cc);
    struct tctx *t = calloc(1, sizeof *t);
    CHECK(conn_set_xprt(&s->c, &xorlen, t) == 0);
    k->fd = sv[1];
    ev_io_init(&k->rw, cli_read, k->fd, EV_READ);
    ev_io_init(&k->ww, cli_write, k->fd, EV_WRITE);
    k->rw.data = k->ww.data = k;
    ev_io_start(loop, &k->rw);
}

static void cli_done(struct ev_loop *loop, struct cli *k)
{
    ev_io_stop(loop, &k->rw);
    ev_io_stop(loop, &k->ww);
    close(k->fd);
    buf_free(&k->in);
    buf_free(&k->out);
}

/* ---- running the loop until something holds ---- */

struct until {
    ev_timer tick;
    bool (*pred)(void *);
    void *arg;
    bool met;
};

static void until_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct until *u = t->data;
    if (u->pred(u->arg)) {
        u->met = true;
        ev_break(loop, EVBREAK_ONE);
    }
}

static void stop_loop(struct ev_loop *loop, ev_timer *t, int revents) { ev_break(loop, EVBREAK_ONE); }

static bool run_until(struct ev_loop *loop, bool (*pred)(void *), void *arg, double limit_s)
{
    struct until u = { .pred = pred, .arg = arg };
    ev_now_update(loop); /* the loop's clock may be old: the timers count from now */
    ev_timer_init(&u.tick, until_tick, 0.001, 0.001);
    u.tick.data = &u;
    ev_timer guard;
    ev_timer_init(&guard, stop_loop, limit_s, 0);
    ev_timer_start(loop, &u.tick);
    ev_timer_start(loop, &guard);
    if (!pred(arg))
        ev_run(loop, 0);
    else
        u.met = true;
    ev_timer_stop(loop, &u.tick);
    ev_timer_stop(loop, &guard);
    return u.met;
}

static void gate_reset(void)
{
    atomic_store(&gate_open, 0);
    atomic_store(&gated_started, 0);
    atomic_store(&gated_finished, 0);
    atomic_store(&gate_timeouts, 0);
}

static struct conn_xprt_stats *stats_of(struct conn_crypto *cc)
{
    for (int i = 0; i < CONN_XPRT_KINDS; i++)
        if (cc->xs[i].name && strcmp(cc->xs[i].name, "xorlen") == 0)
            return &cc->xs[i];
    return NULL;
}

static void srv_queue(struct srv *s, uint8_t kind, uint32_t seq, uint32_t total)
{
    uint8_t *m = malloc(total);
    make_msg(m, kind, seq, total);
    buf_append(conn_out(&s->c), m, total);
    conn_out_end(&s->c);
    free(m);
    conn_flush(&s->c);
}

/* ---- order across many mixed-size messages ---- */

#define NC 3
#define NM 300

static bool all_replied(void *arg)
{
    struct cli *k = arg;
    for (int i = 0; i < NC; i++)
        if (k[i].replies < NM)
            return false;
    return true;
}

static bool jobs_back(void *arg) { return ((struct conn_crypto *)arg)->out == 0; }

static void test_order(struct ev_loop *loop, struct fr_workpool *pool, struct fr_inbox *home)
{
    static const uint32_t sizes[] = { HDR, 100, 1000, 5000, BIG, 70000, 200, BIG + 1, 300000, 40 };
    struct conn_crypto cc;
    conn_crypto_init(&cc, pool, home);
    struct srv s[NC];
    struct cli k[NC];
    uint64_t plain = 0;
    for (int c = 0; c < NC; c++) {
        pair(loop, &cc, &s[c], &k[c]);
        for (uint32_t i = 0; i < NM; i++) {
            uint32_t n = sizes[(i * 7 + (uint32_t)c) % 10];
            cli_send(&k[c], 'n', i, n);
            plain += n;
        }
        cli_flush(loop, &k[c]);
    }
    CHECK(run_until(loop, all_replied, k, 120));
    /* A thread sends what it encoded before its job is back on the loop,
     * where the job is counted: the replies can all be in first. */
    CHECK(run_until(loop, jobs_back, &cc, 30));
    for (int c = 0; c < NC; c++) {
        struct tctx *t = s[c].c.xctx;
        CHECK_EQ(k[c].replies, NM);
        CHECK_EQ(k[c].bad, 0);
        CHECK_EQ(k[c].next_seq, (uint32_t)NM);
        CHECK_EQ(s[c].msgs, NM);
        CHECK_EQ(atomic_load(&t->overlaps), 0);
        CHECK_EQ(atomic_load(&t->enc_wrong), 0);
    }
    struct conn_xprt_stats *st = stats_of(&cc);
    CHECK(st != NULL);
    if (st) {
        /* both directions went to the threads, and everything was counted */
        CHECK(st->jobs[0] > 0 && st->jobs[1] > 0);
        CHECK_EQ(st->enc_msgs, (uint64_t)NC * NM);
        CHECK_EQ(st->enc_bytes, plain);
        CHECK_EQ(st->dec_bytes, plain);
        CHECK_EQ(st->dec_wire, plain + 4ull * NC * NM);
        CHECK_EQ(st->enc_wire, plain + 4ull * NC * NM);
        CHECK_EQ(st->failures[CONN_XF_ENCODE] + st->failures[CONN_XF_DECODE] + st->failures[CONN_XF_NOMEM], 0);
        printf("order: %llu encode jobs, %llu decode jobs, %llu queue-full\n", (unsigned long long)st->jobs[0],
               (unsigned long long)st->jobs[1], (unsigned long long)st->inline_full);
    }
    int before = atomic_load(&destroyed);
    for (int c = 0; c < NC; c++) {
        conn_close(&s[c].c, NULL);
        cli_done(loop, &k[c]);
    }
    conn_crypto_quiesce(&cc);
    CHECK_EQ(cc.out, 0);
    for (int c = 0; c < NC; c++)
        CHECK_EQ(s[c].frees, 1);
    CHECK_EQ(atomic_load(&destroyed), before + NC);
}

/* ---- a large reply does not hold back a small one of another connection ---- */

static bool small_while_big; /* the small reply was read while the big encode was held */

static void small_arrived(struct cli *k)
{
    small_while_big = atomic_load(&gated_finished) == 0;
    atomic_store(&gate_open, 1);
}

static bool got_one(void *arg) { return ((struct cli *)arg)->replies >= 1; }

/* Returns whether the small reply came while the big one was being encoded. */
static bool race_big_small(struct ev_loop *loop, struct fr_workpool *pool, struct fr_inbox *home)
{
    struct conn_crypto cc;
    conn_crypto_init(&cc, pool, home);
    struct srv a, b;
    struct cli ka, kb;
    pair(loop, &cc, &a, &ka);
    pair(loop, &cc, &b, &kb);
    gate_reset();
    small_while_big = false;
    kb.on_reply = small_arrived;
    /* both queued in the same turn of the loop: the big one first */
    srv_queue(&a, 'G', 0, 4 * BIG);
    srv_queue(&b, 'n', 0, 64);
    CHECK(run_until(loop, got_one, &kb, 30));
    CHECK(run_until(loop, got_one, &ka, 30));
    CHECK(ka.last_kind == 'G' && ka.last_len == 4 * BIG);
    CHECK(kb.bad == 0 && kb.last_len == 64);
    bool result = small_while_big;
    conn_close(&a.c, NULL);
    conn_close(&b.c, NULL);
    cli_done(loop, &ka);
    cli_done(loop, &kb);
    conn_crypto_quiesce(&cc);
    CHECK(a.frees == 1 && b.frees == 1);
    return result;
}

static void test_isolation(struct ev_loop *loop, struct fr_workpool *pool, struct fr_inbox *home)
{
    CHECK(race_big_small(loop, pool, home));
    CHECK_EQ(atomic_load(&gate_timeouts), 0);
    /* Inline the loop is stuck in the big encode until the gate gives up:
     * the same check fails, which is what the crypto threads are for. */
    gate_wait_s = 0.2;
    CHECK(!race_big_small(loop, NULL, home));
    CHECK_EQ(atomic_load(&gate_timeouts), 1);
    gate_wait_s = GATE_WAIT_S;
}

/* ---- close while a job is out ---- */

static bool gated(void *arg) { return atomic_load(&gated_started) >= 1; }
static bool freed(void *arg) { return ((struct srv *)arg)->frees >= 1; }
static bool closed(void *arg) { return ((struct srv *)arg)->closes >= 1; }
static bool job_back(void *arg) { return !((struct srv *)arg)->c.job_out; }

static void test_close_while_out(struct ev_loop *loop, struct fr_workpool *pool, struct fr_inbox *home)
{
    struct conn_crypto cc;
    conn_crypto_init(&cc, pool, home);
    for (int decode = 0; decode < 2; decode++) {
        struct srv s;
        struct cli k;
        pair(loop, &cc, &s, &k);
        gate_reset();
        int before = atomic_load(&destroyed);
        if (decode) {
            cli_send(&k, 'D', 0, 2 * BIG);
            cli_flush(loop, &k);
        } else {
            srv_queue(&s, 'G', 0, 2 * BIG);
        }
        CHECK(run_until(loop, gated, NULL, 30));
        CHECK(s.c.job_out);
        int fd = s.c.fd;
        conn_close(&s.c, "closed by the test");
        CHECK(s.closes == 1 && s.frees == 0); /* the job still holds it */
        CHECK_EQ(atomic_load(&destroyed), before);
        /* The closed socket's number goes to a new socket at once; the
         * thread that encodes the reply must not send it there. */
        int reuse[2];
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, reuse) == 0);
        if (reuse[0] != fd && reuse[1] != fd)
            CHECK(dup2(reuse[0], fd) == fd);
        int other = reuse[0] == fd ? reuse[1] : reuse[1] == fd ? reuse[0] : reuse[1];
        atomic_store(&gate_open, 1);
        CHECK(run_until(loop, freed, &s, 30));
        char got;
        CHECK(recv(other, &got, 1, 0) < 0); /* nothing arrived at the new socket */
        if (reuse[0] != fd && reuse[1] != fd)
            close(fd);
        close(reuse[0]);
        close(reuse[1]);
        CHECK_EQ(s.frees, 1);
        CHECK_EQ(atomic_load(&destroyed), before + 1);
        CHECK_EQ(s.msgs, 0);
        CHECK_EQ(cc.out, 0);
        cli_done(loop, &k);
    }

    /* as a worker stops: close with a job out, then wait the job back
     * without running the loop */
    {
        struct srv s;
        struct cli k;
        pair(loop, &cc, &s, &k);
        gate_reset();
        srv_queue(&s, 'G', 0, 2 * BIG);
        CHECK(s.c.job_out);
        conn_close(&s.c, NULL);
        atomic_store(&gate_open, 1);
        conn_crypto_quiesce(&cc);
        CHECK(s.frees == 1 && cc.out == 0);
        cli_done(loop, &k);
    }

    /* close after flush while the last reply is on a thread: it still goes */
    struct srv s;
    struct cli k;
    pair(loop, &cc, &s, &k);
    gate_reset();
    srv_queue(&s, 'G', 0, 3 * BIG);
    CHECK(run_until(loop, gated, NULL, 30));
    conn_close_after_flush(&s.c);
    CHECK(s.closes == 0 && s.c.state == CONN_CLOSING);
    atomic_store(&gate_open, 1);
    CHECK(run_until(loop, closed, &s, 30));
    CHECK(run_until(loop, got_one, &k, 30));
    CHECK(k.last_kind == 'G' && k.last_len == 3 * BIG);
    CHECK(strcmp(s.reason, "(orderly)") == 0 && s.frees == 1);
    cli_done(loop, &k);
}

/* ---- the thread sends what it encoded ---- */

/* A connected pair whose server queued one large reply; returns once the
 * job that encoded it has finished on its thread and before the loop has
 * seen it back. */
static void one_encoded_reply(struct ev_loop *loop, struct conn_crypto *cc, struct srv *s, struct cli *k)
{
    pair(loop, cc, s, k);
    gate_reset();
    gate_wait_s = 30; /* the job must stay out while the test looks */
    srv_queue(s, 'G', 0, 2 * BIG);
    CHECK(s->c.job_out);
    atomic_store(&gate_open, 1);
    while (atomic_load(&gated_finished) == 0)
        sched_yield();
}

static void test_thread_sends(struct ev_loop *loop, struct fr_workpool *pool, struct fr_inbox *home)
{
    struct conn_crypto cc;
    conn_crypto_init(&cc, pool, home);

    /* With nothing before it on the way out, a large reply reaches the
     * peer before its job is back on the loop: the thread sent it. */
    struct srv s;
    struct cli k;
    one_encoded_reply(loop, &cc, &s, &k);
    size_t want = 4 + 2 * BIG, got = 0;
    uint8_t *unit = malloc(want);
    for (uint64_t until = fr_mono_ns() + 10000000000ull; got < want && fr_mono_ns() < until;) {
        ssize_t n = recv(k.fd, unit + got, want - got, 0); /* the loop has not run since */
        if (n > 0)
            got += (size_t)n;
        else
            sched_yield();
    }
    CHECK_EQ(got, want);
    CHECK_EQ(be32(unit), 2 * BIG);
    CHECK_EQ((uint8_t)(unit[4] ^ 0x5a), 'G');
    free(unit);
    CHECK(run_until(loop, job_back, &s, 30));
    CHECK(s.c.state == CONN_OPEN && conn_out_pending(&s.c) == 0);
    CHECK_EQ(stats_of(&cc)->enc_wire, want);
    cli_done(loop, &k);
    conn_close(&s.c, NULL);
    gate_wait_s = GATE_WAIT_S;

    /* The peer went away while the thread held the reply: the send fails
     * there and the connection closes with the loop's own reason. */
    pair(loop, &cc, &s, &k);
    gate_reset();
    srv_queue(&s, 'G', 0, 2 * BIG);
    CHECK(run_until(loop, gated, NULL, 30));
    /* Reading shut, not the socket closed: the loop sees no end of input,
     * only the thread's send fails (EPIPE). */
    ev_io_stop(loop, &k.rw);
    CHECK(shutdown(k.fd, SHUT_RD) == 0);
    atomic_store(&gate_open, 1);
    CHECK(run_until(loop, closed, &s, 30));
    CHECK(strcmp(s.reason, "write failed") == 0);
    CHECK_EQ(s.frees, 1);
    CHECK_EQ(cc.out, 0);
    cli_done(loop, &k);
}

/* Threads under SCHED_IDLE wrap but leave the send to the loop: one
 * preempted inside the kernel's send would hold the socket's lock, and a
 * worker reading the same socket would wait for it as long as the cores
 * stay busy. */
static void test_idle_loop_sends(struct ev_loop *loop, struct fr_inbox *home)
{
    struct fr_workpool *idle = fr_workpool_new(1, 8, "idle", FR_WORKPOOL_IDLE);
    CHECK(idle != NULL);
    struct conn_crypto cc;
    conn_crypto_init(&cc, idle, home);
    struct srv s;
    struct cli k;
    one_encoded_reply(loop, &cc, &s, &k);
    usleep(20000); /* a send from the thread would have reached the peer by now */
    uint8_t b;
    CHECK(recv(k.fd, &b, 1, MSG_DONTWAIT | MSG_PEEK) < 0 && errno == EAGAIN); /* the loop has not run */
    CHECK(run_until(loop, job_back, &s, 30));
    CHECK(run_until(loop, got_one, &k, 30)); /* the loop sent it */
    CHECK(s.c.state == CONN_OPEN);
    CHECK_EQ(stats_of(&cc)->enc_wire, 4 + 2 * BIG);
    cli_done(loop, &k);
    conn_close(&s.c, NULL);
    CHECK(run_until(loop, jobs_back, &cc, 30));
    gate_wait_s = GATE_WAIT_S;
    fr_workpool_free(idle);
}

/* ---- input held while a job is out is bounded ---- */

static bool n_replies(void *arg) { return ((struct cli *)arg)->replies >= 1 + 2000; }

static void test_held_input(struct ev_loop *loop, struct fr_workpool *pool, struct fr_inbox *home)
{
    struct conn_crypto cc;
    conn_crypto_init(&cc, pool, home);
    struct srv s;
    struct cli k;
    pair(loop, &cc, &s, &k);
    gate_reset();
    srv_queue(&s, 'G', 0, 2 * BIG); /* the job out: nothing is decoded meanwhile */
    for (uint32_t i = 0; i < 2000; i++)
        cli_send(&k, 'n', 1 + i, 600);
    cli_flush(loop, &k);
    CHECK(run_until(loop, gated, NULL, 30));
    struct ev_timer t;
    ev_now_update(loop);
    ev_timer_init(&t, stop_loop, 0.2, 0);
    ev_timer_start(loop, &t);
    ev_run(loop, 0);
    /* reading stopped near the bound, with the rest still in the socket */
    CHECK(buf_len(&s.c.wire_in) >= CONN_HELD_INPUT && buf_len(&s.c.wire_in) <= CONN_HELD_INPUT + (128u << 10));
    CHECK(!ev_is_active(&s.c.rw));
    printf("held: %zu bytes wait, job_out %d, gated %d/%d\n", buf_len(&s.c.wire_in), s.c.job_out,
           atomic_load(&gated_started), atomic_load(&gated_finished));
    CHECK(s.msgs == 0 && k.replies == 0);
    atomic_store(&gate_open, 1);
    k.next_seq = 1; /* the 'n' replies follow the 'G' one */
    CHECK(run_until(loop, n_replies, &k, 60));
    CHECK(k.bad == 0 && s.msgs == 2000);
    if (k.bad || s.msgs != 2000)
        printf("held: bad %d msgs %d replies %d wire_in %zu closes %d %s\n", k.bad, s.msgs, k.replies,
               buf_len(&s.c.wire_in), s.closes, s.reason);
    conn_close(&s.c, NULL);
    cli_done(loop, &k);
    conn_crypto_quiesce(&cc);
    CHECK(s.frees == 1);
}

/* ---- offload only while other calls wait on the loop ---- */

static bool two_replies(void *arg) { return ((struct cli *)arg)->replies >= 2; }

/* One large message each way (the client's decoded, its echo encoded) with
 * `calls` client calls in flight on the loop; which went to a thread. */
static void one_echo(struct ev_loop *loop, struct fr_workpool *pool, struct fr_inbox *home, uint64_t calls,
                     uint64_t *dec_jobs, uint64_t *enc_jobs)
{
    struct conn_crypto cc;
    conn_crypto_init(&cc, pool, home);
    uint64_t in_flight = calls;
    conn_crypto_watch_calls(&cc, &in_flight);
    struct srv s;
    struct cli k;
    pair(loop, &cc, &s, &k);
    cli_send(&k, 'n', 0, 2 * BIG);
    cli_send(&k, 'n', 1, 3 * BIG);
    cli_flush(loop, &k);
    CHECK(run_until(loop, two_replies, &k, 30));
    CHECK(run_until(loop, jobs_back, &cc, 30)); /* counted when back */
    CHECK(k.bad == 0 && s.msgs == 2);
    struct conn_xprt_stats *st = stats_of(&cc);
    CHECK(st != NULL);
    *enc_jobs = st ? st->jobs[0] : 99;
    *dec_jobs = st ? st->jobs[1] : 99;
    conn_close(&s.c, NULL);
    cli_done(loop, &k);
    conn_crypto_quiesce(&cc);
}

static void test_calls_watch(struct ev_loop *loop, struct fr_workpool *pool, struct fr_inbox *home)
{
    uint64_t dec, enc;
    /* nothing else in flight: both inline (the hand-off would only add latency) */
    one_echo(loop, pool, home, 0, &dec, &enc);
    CHECK_EQ(dec, 0);
    CHECK_EQ(enc, 0);
    /* one call in flight: a decode serves it (inline), an encode's call was
     * already counted out, so the one in flight is another's (thread) */
    one_echo(loop, pool, home, 1, &dec, &enc);
    CHECK_EQ(dec, 0);
    CHECK(enc > 0);
    /* others wait: both to the threads */
    one_echo(loop, pool, home, 2, &dec, &enc);
    CHECK(dec > 0);
    CHECK(enc > 0);
}

/* ---- a transport that only decodes: output as written, no copy ---- */

static void test_decode_only(struct ev_loop *loop, struct fr_workpool *pool, struct fr_inbox *home)
{
    struct conn_crypto cc;
    conn_crypto_init(&cc, pool, home);
    static const struct xprt_ops dec_only = { "xorlen-in", x_decode, NULL, NULL, x_offload, x_destroy };
    struct srv s;
    struct cli k;
    pair(loop, &cc, &s, &k);
    free(s.c.xctx); /* pair's transport gives way to the decode-only one */
    struct tctx *t = calloc(1, sizeof *t);
    CHECK(conn_set_xprt(&s.c, &dec_only, t) == 0);
    CHECK(conn_out(&s.c) == &s.c.wire_out);
    uint8_t m[HDR];
    make_msg(m, 'n', 0, HDR);
    buf_append(conn_out(&s.c), m, HDR);
    CHECK(conn_out_end(&s.c) == 0);
    CHECK_EQ(buf_len(&s.c.plain_out), 0);
    CHECK_EQ(conn_out_pending(&s.c), HDR);
    conn_close(&s.c, NULL);
    cli_done(loop, &k);
    conn_crypto_quiesce(&cc);
}

/* ---- a transport failure on a thread ---- */

static void test_failures(struct ev_loop *loop, struct fr_workpool *pool, struct fr_inbox *home)
{
    struct conn_crypto cc;
    conn_crypto_init(&cc, pool, home);
    for (int decode = 0; decode < 2; decode++) {
        struct srv s, other;
        struct cli k, ko;
        pair(loop, &cc, &s, &k);
        pair(loop, &cc, &other, &ko);
        if (decode) {
            cli_send(&k, 'X', 0, BIG);
            cli_flush(loop, &k);
        } else {
            srv_queue(&s, 'n', 0, 100);
            srv_queue(&s, 'E', 1, BIG);
        }
        cli_send(&ko, 'n', 0, BIG);
        cli_flush(loop, &ko);
        CHECK(run_until(loop, closed, &s, 30));
        CHECK(strcmp(s.reason, decode ? "transport refused the input" : "transport refused to encode a message") == 0);
        /* the other connection of the loop is not harmed */
        CHECK(run_until(loop, got_one, &ko, 30));
        CHECK(ko.bad == 0 && other.closes == 0);
        conn_close(&other.c, NULL);
        cli_done(loop, &k);
        cli_done(loop, &ko);
        conn_crypto_quiesce(&cc);
        CHECK(s.frees == 1 && other.frees == 1);
    }
    struct conn_xprt_stats *st = stats_of(&cc);
    CHECK(st && st->failures[CONN_XF_ENCODE] == 1 && st->failures[CONN_XF_DECODE] == 1);
    CHECK(strcmp(conn_xprt_fail_name(CONN_XF_DECODE), "decode_refused") == 0);
}

/* ---- a full queue runs the work inline ---- */

static void test_queue_full(struct ev_loop *loop, struct fr_inbox *home)
{
    struct fr_workpool *one = fr_workpool_new(1, 1, "test", 0);
    CHECK(one != NULL);
    struct conn_crypto cc;
    conn_crypto_init(&cc, one, home);
    struct srv a, b, c;
    struct cli ka, kb, kc;
    pair(loop, &cc, &a, &ka);
    pair(loop, &cc, &b, &kb);
    pair(loop, &cc, &c, &kc);
    gate_reset();
    srv_queue(&a, 'G', 0, 2 * BIG); /* runs on the one thread, held */
    CHECK(run_until(loop, gated, NULL, 30));
    srv_queue(&b, 'n', 0, 2 * BIG); /* waits in the queue */
    CHECK(b.c.job_out && fr_workpool_depth(one) == 1);
    srv_queue(&c, 'n', 0, 2 * BIG); /* the queue is full: inline, at once */
    CHECK(!c.c.job_out);
    CHECK(run_until(loop, got_one, &kc, 30));
    CHECK(kb.replies == 0 && ka.replies == 0);
    struct conn_xprt_stats *st = stats_of(&cc);
    CHECK(st && st->inline_full == 1);
    struct fr_workpool_stats ps;
    fr_workpool_stats(one, &ps);
    CHECK(ps.refused == 1 && ps.depth == 1 && ps.running == 1 && ps.threads == 1);
    atomic_store(&gate_open, 1);
    CHECK(run_until(loop, got_one, &ka, 30));
    CHECK(run_until(loop, got_one, &kb, 30));
    CHECK(run_until(loop, jobs_back, &cc, 30)); /* the replies can come before the jobs */
    CHECK(ka.last_kind == 'G' && kb.bad == 0 && kc.bad == 0);
    fr_workpool_stats(one, &ps);
    CHECK(ps.finished == 2 && ps.submitted == 2 && ps.depth == 0);
    uint64_t counted = 0;
    for (int i = 0; i < FR_WORKPOOL_NBUCKETS; i++)
        counted += ps.wait_buckets[i];
    CHECK(counted == 2);
    struct srv *all[3] = { &a, &b, &c };
    struct cli *kall[3] = { &ka, &kb, &kc };
    for (int i = 0; i < 3; i++) {
        conn_close(&all[i]->c, NULL);
        cli_done(loop, kall[i]);
    }
    conn_crypto_quiesce(&cc);
    fr_workpool_free(one);
}

/* ---- the pool alone: stop runs what is queued ---- */

struct cjob {
    struct fr_job j;
    int *ran, *done;
};

static void cj_run(struct fr_job *j) { __atomic_fetch_add(((struct cjob *)j)->ran, 1, __ATOMIC_RELAXED); }
static void cj_done(struct fr_job *j) { (*((struct cjob *)j)->done)++; }

/* Of the threads named prefix*: how many there are, and how many run at
 * niceness nice under policy (fields 19 and 41 of /proc/.../stat). */
static void pool_thread_sched(const char *prefix, int nice, int policy, int *found, int *right)
{
    *found = *right = 0;
    DIR *d = opendir("/proc/self/task");
    CHECK(d != NULL);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], comm[32] = "", stat[1024] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (!fgets(comm, sizeof comm, f))
            comm[0] = 0;
        fclose(f);
        if (strncmp(comm, prefix, strlen(prefix)) != 0)
            continue;
        (*found)++;
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        if (!(f = fopen(path, "r")))
            continue;
        size_t n = fread(stat, 1, sizeof stat - 1, f);
        fclose(f);
        stat[n] = 0;
        /* after "pid (comm) ": state is field 3 */
        const char *q = strrchr(stat, ')');
        int field = 2, got_nice = -100, got_policy = -1;
        for (; q && *q; q++) {
            if (*q != ' ')
                continue;
            if (++field == 19)
                got_nice = atoi(q + 1);
            else if (field == 41)
                got_policy = atoi(q + 1);
        }
        if (got_nice == nice && got_policy == policy)
            (*right)++;
        else
            printf("pool thread %s: nice %d policy %d, expected %d and %d\n", e->d_name, got_nice, got_policy, nice,
                   policy);
    }
    if (d)
        closedir(d);
}

/* The pool's threads carry its name and niceness or policy (ps -L, top -H). */
static void test_pool_threads(void)
{
    CHECK(fr_workpool_new(1, 1, "x", FR_WORKPOOL_IDLE + 1) == NULL);
    CHECK(fr_workpool_new(1, 1, "x", -1) == NULL);
    int found, right;
    struct fr_workpool *p = fr_workpool_new(2, 4, "nicetest", 7);
    CHECK(p != NULL);
    pool_thread_sched("nicetest-", 7, SCHED_OTHER, &found, &right);
    CHECK_EQ(found, 2);
    CHECK_EQ(right, 2);
    fr_workpool_free(p);

    /* SCHED_IDLE: the niceness stays the process's (0 here). */
    p = fr_workpool_new(2, 4, "idletest", FR_WORKPOOL_IDLE);
    CHECK(p != NULL);
    pool_thread_sched("idletest-", 0, SCHED_IDLE, &found, &right);
    CHECK_EQ(found, 2);
    CHECK_EQ(right, 2);
    fr_workpool_free(p);
}

static void test_pool_stop(struct ev_loop *loop)
{
    CHECK(fr_workpool_new(0, 4, "test", 0) == NULL);
    struct fr_inbox home;
    fr_inbox_init(&home, loop, fr_job_inbox_handler, NULL);
    struct fr_workpool *p = fr_workpool_new(2, 1000, "test", 0);
    CHECK(p != NULL);
    static struct cjob jobs[500];
    int ran = 0, done = 0;
    for (int i = 0; i < 500; i++) {
        jobs[i] = (struct cjob){ .j = { .run = cj_run, .done = cj_done, .home = &home }, .ran = &ran, .done = &done };
        CHECK(fr_workpool_submit(p, &jobs[i].j) == 0);
    }
    fr_workpool_free(p); /* runs all 500 first */
    CHECK_EQ(__atomic_load_n(&ran, __ATOMIC_RELAXED), 500);
    fr_inbox_stop(&home);
    CHECK_EQ(done, 500);
}

/* Loops submit from several threads at once (lock-free pushes): every job
 * runs once and comes back, and with one pool thread each submitter's jobs
 * start in the order it submitted them. */
#define PS_PRODUCERS 4
#define PS_JOBS 3000

struct sjob {
    struct fr_job j;
    int producer, seq;
};

static atomic_int ps_last[PS_PRODUCERS]; /* seq of each producer's last job started */
static atomic_int ps_out_of_order, ps_ran;

static void sj_run(struct fr_job *fj)
{
    struct sjob *j = (struct sjob *)fj;
    /* one pool thread: runs are serial */
    if (atomic_exchange(&ps_last[j->producer], j->seq) != j->seq - 1)
        atomic_fetch_add(&ps_out_of_order, 1);
    atomic_fetch_add(&ps_ran, 1);
}

static int ps_done;
static void sj_done(struct fr_job *fj) { ps_done++; }

struct producer {
    struct fr_workpool *pool;
    struct fr_inbox *home;
    struct sjob *jobs;
    int id, refused;
};

static void *produce(void *arg)
{
    struct producer *pr = arg;
    for (int i = 0; i < PS_JOBS; i++) {
        pr->jobs[i] =
            (struct sjob){ .j = { .run = sj_run, .done = sj_done, .home = pr->home }, .producer = pr->id, .seq = i };
        while (fr_workpool_submit(pr->pool, &pr->jobs[i].j) < 0) {
            pr->refused++; /* full: the pool frees room as it runs */
            sched_yield();
        }
    }
    return NULL;
}

static bool all_done(void *arg) { return ps_done == PS_PRODUCERS * PS_JOBS; }

static void test_pool_submitters(struct ev_loop *loop)
{
    struct fr_inbox home;
    fr_inbox_init(&home, loop, fr_job_inbox_handler, NULL);
    struct fr_workpool *p = fr_workpool_new(1, 64, "test", 0);
    CHECK(p != NULL);
    for (int i = 0; i < PS_PRODUCERS; i++)
        atomic_store(&ps_last[i], -1);
    static struct sjob jobs[PS_PRODUCERS][PS_JOBS];
    struct producer pr[PS_PRODUCERS];
    pthread_t th[PS_PRODUCERS];
    for (int i = 0; i < PS_PRODUCERS; i++) {
        pr[i] = (struct producer){ p, &home, jobs[i], i, 0 };
        CHECK(pthread_create(&th[i], NULL, produce, &pr[i]) == 0);
    }
    CHECK(run_until(loop, all_done, NULL, 60));
    for (int i = 0; i < PS_PRODUCERS; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(atomic_load(&ps_ran), PS_PRODUCERS * PS_JOBS);
    CHECK_EQ(atomic_load(&ps_out_of_order), 0);
    struct fr_workpool_stats st;
    fr_workpool_stats(p, &st);
    int refused = 0;
    for (int i = 0; i < PS_PRODUCERS; i++)
        refused += pr[i].refused;
    CHECK_EQ(st.submitted, (uint64_t)PS_PRODUCERS * PS_JOBS);
    CHECK_EQ(st.refused, (uint64_t)refused);
    CHECK(st.depth == 0 && st.running == 0);
    fr_workpool_free(p);
    fr_inbox_stop(&home);
}

/* ---- a starved pool: waiting jobs are taken back by a loop ---- */

struct tb_job {
    struct fr_job j;
    pthread_t ran_on;
    atomic_int ran;
    int done;
    struct conn_crypto *cc; /* conn_crypto_submit's jobs say they are back */
};

static atomic_int tb_gate_open;

static void tb_gate_run(struct fr_job *fj)
{
    struct tb_job *t = (struct tb_job *)fj;
    t->ran_on = pthread_self();
    while (!atomic_load(&tb_gate_open))
        usleep(1000);
    atomic_store(&t->ran, 1);
}

static void tb_run(struct fr_job *fj)
{
    struct tb_job *t = (struct tb_job *)fj;
    t->ran_on = pthread_self();
    atomic_store(&t->ran, 1);
}

static void tb_done(struct fr_job *fj)
{
    struct tb_job *t = (struct tb_job *)fj;
    if (t->cc)
        conn_crypto_job_back(t->cc);
    t->done++;
}

static bool tb_is_done(void *arg) { return ((struct tb_job *)arg)->done > 0; }

/* The pool's only thread is held by a job that waits on a gate: the jobs
 * behind it are what a starved pool's queue holds. */
static void test_taken_back(struct ev_loop *loop)
{
    struct fr_inbox home;
    fr_inbox_init(&home, loop, fr_job_inbox_handler, NULL);
    struct fr_workpool *p = fr_workpool_new(1, 8, "test", 0);
    CHECK(p != NULL);
    atomic_store(&tb_gate_open, 0);
    static struct tb_job gate, young, cj;
    gate = (struct tb_job){ .j = { .run = tb_gate_run, .done = tb_done, .home = &home } };
    CHECK(fr_workpool_submit(p, &gate.j) == 0);
    while (fr_workpool_depth(p)) /* the thread has taken the gate job */
        usleep(1000);

    /* The pool's own call: nothing is stale until it has waited long enough. */
    young = (struct tb_job){ .j = { .run = tb_run, .done = tb_done, .home = &home } };
    CHECK(fr_workpool_submit(p, &young.j) == 0);
    CHECK(fr_workpool_take_stale(p, 50ull * 1000000) == NULL);
    usleep(60 * 1000);
    struct fr_job *got = fr_workpool_take_stale(p, 50ull * 1000000);
    CHECK(got == &young.j);
    CHECK(fr_workpool_depth(p) == 0 && fr_workpool_take_stale(p, 0) == NULL);
    fr_workpool_run_here(p, got);
    CHECK(atomic_load(&young.ran) == 1 && pthread_equal(young.ran_on, pthread_self()));
    CHECK(run_until(loop, tb_is_done, &young, 5)); /* handed back through home, as from a thread */

    /* Through conn_crypto: a job submitted to the starved pool comes back
     * after about CONN_CRYPTO_MAX_WAIT_MS, run by this loop. */
    struct conn_crypto cc;
    conn_crypto_init(&cc, p, &home);
    cj = (struct tb_job){ .j = { .run = tb_run, .done = tb_done }, .cc = &cc };
    uint64_t t0 = fr_mono_ns();
    CHECK(conn_crypto_submit(&cc, &cj.j));
    CHECK(run_until(loop, tb_is_done, &cj, 5));
    uint64_t waited_ms = (fr_mono_ns() - t0) / 1000000;
    CHECK(pthread_equal(cj.ran_on, pthread_self()));
    CHECK(waited_ms >= CONN_CRYPTO_MAX_WAIT_MS);
    CHECK(!ev_is_active(&cc.stale)); /* nothing of its own out: the loop stopped looking */
    CHECK(__atomic_load_n(&cc.out, __ATOMIC_RELAXED) == 0);
    CHECK(atomic_load(&gate.ran) == 0); /* the thread was held all along */

    struct fr_workpool_stats st;
    fr_workpool_stats(p, &st);
    CHECK_EQ(st.taken_back, 2);
    atomic_store(&tb_gate_open, 1);
    CHECK(run_until(loop, tb_is_done, &gate, 5));
    CHECK(!pthread_equal(gate.ran_on, pthread_self()));
    fr_workpool_stats(p, &st);
    CHECK_EQ(st.finished, 3);
    CHECK_EQ(st.taken_back, 2);
    conn_crypto_quiesce(&cc);
    fr_workpool_free(p);
    fr_inbox_stop(&home);
}

/* ---- --bench: small round trips next to large ones, inline and threaded ---- */

#define BENCH_BIG 4
#define BENCH_SMALL 4

static void pp_next(struct cli *k)
{
    uint64_t now = fr_mono_ns();
    if (k->sent_ns && k->nlat < k->caplat)
        k->lat[k->nlat++] = now - k->sent_ns;
    k->sent_ns = now;
    cli_send(k, 'n', (uint32_t)k->replies, k->pp_size);
    ev_io_start(ev_default_loop(0), &k->ww);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void bench_one(struct fr_workpool *pool, struct fr_inbox *home, double secs)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct conn_crypto cc;
    conn_crypto_init(&cc, pool, home);
    struct srv s[BENCH_BIG + BENCH_SMALL];
    struct cli k[BENCH_BIG + BENCH_SMALL];
    for (int i = 0; i < BENCH_BIG + BENCH_SMALL; i++) {
        pair(loop, &cc, &s[i], &k[i]);
        k[i].pp_size = i < BENCH_BIG ? 256u << 10 : 64;
        k[i].caplat = 1u << 20;
        k[i].lat = malloc(k[i].caplat * sizeof *k[i].lat);
        k[i].on_reply = pp_next;
        pp_next(&k[i]);
        k[i].nlat = 0;
    }
    ev_timer t;
    ev_now_update(loop);
    ev_timer_init(&t, stop_loop, secs, 0);
    ev_timer_start(loop, &t);
    ev_run(loop, 0);
    size_t n = 0, big = 0;
    uint64_t *all = malloc((size_t)BENCH_SMALL * (1u << 20) * sizeof *all);
    for (int i = 0; i < BENCH_BIG + BENCH_SMALL; i++) {
        if (i < BENCH_BIG)
            big += k[i].nlat;
        else
            for (size_t j = 0; j < k[i].nlat; j++)
                all[n++] = k[i].lat[j];
        CHECK_EQ(k[i].bad, 0);
    }
    qsort(all, n, sizeof *all, cmp_u64);
    printf("%-10s small round trips %6zu  p50 %7.1f us  p99 %7.1f us  max %7.1f us | big (256 KiB) round "
           "trips %5zu\n",
           pool ? "threads" : "inline", n, n ? all[n / 2] / 1e3 : 0, n ? all[n * 99 / 100] / 1e3 : 0,
           n ? all[n - 1] / 1e3 : 0, big);
    free(all);
    for (int i = 0; i < BENCH_BIG + BENCH_SMALL; i++) {
        k[i].on_reply = NULL;
        conn_close(&s[i].c, NULL);
        cli_done(loop, &k[i]);
        free(k[i].lat);
    }
    conn_crypto_quiesce(&cc);
}

static int bench(void)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct fr_inbox home;
    fr_inbox_init(&home, loop, fr_job_inbox_handler, NULL);
    struct fr_workpool *pool =
        fr_workpool_new(getenv("BENCH_THREADS") ? atoi(getenv("BENCH_THREADS")) : 2, 512, "bench", 0);
    printf("one loop, %d connections ping-ponging 256 KiB messages (0.8 ms of transport work each way) and %d "
           "ping-ponging 64 B:\n",
           BENCH_BIG, BENCH_SMALL);
    bench_one(NULL, &home, 3);
    bench_one(pool, &home, 3);
    fr_workpool_free(pool);
    fr_inbox_stop(&home);
    return check_report();
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--bench") == 0)
        return bench();
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct fr_inbox home;
    fr_inbox_init(&home, loop, fr_job_inbox_handler, NULL);
    struct fr_workpool *pool = fr_workpool_new(2, 64, "test", 0);
    CHECK(pool != NULL);
    test_order(loop, pool, &home);
    test_isolation(loop, pool, &home);
    test_close_while_out(loop, pool, &home);
    test_thread_sends(loop, pool, &home);
    test_idle_loop_sends(loop, &home);
    test_held_input(loop, pool, &home);
    test_calls_watch(loop, pool, &home);
    test_decode_only(loop, pool, &home);
    test_failures(loop, pool, &home);
    test_queue_full(loop, &home);
    fr_workpool_free(pool);
    fr_inbox_stop(&home);
    test_pool_stop(loop);
    test_pool_submitters(loop);
    test_taken_back(loop);
    test_pool_threads();
    ev_loop_destroy(loop);
    return check_report();
}
