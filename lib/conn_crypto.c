/*
 * conn_crypto.c: a connection's transport work on a crypto thread (see
 * conn_crypto.h). Each connection has one job object, made at its first
 * offload and reused; while it is out the connection's loop calls no
 * transport function for that connection.
 *
 *   encode job:  in  = whole plaintext messages, back to back (lens[])
 *                out = their wire bytes           -> appended to wire_out
 *   decode job:  in  = wire bytes                  -> what is left (a partial
 *                                                     unit) goes back in front
 *                                                     of wire_in
 *                out = plaintext                   -> appended to plain_in
 */
#define _GNU_SOURCE
#include "conn_crypto.h"

#include <assert.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn_int.h"
#include "net.h"
#include "workpool.h"

struct conn_job {
    struct fr_job base;
    struct conn *c; /* identity only on the crypto thread */
    const struct xprt_ops *xprt;
    void *xctx;
    bool decode;
    struct buf in, out;
    size_t *lens; /* encode: message lengths */
    size_t nlens, caplens;
    size_t ndone;        /* encode: messages encoded */
    size_t given;        /* decode: wire bytes handed to the thread */
    enum xprt_status st; /* how the transport ended */
    int fd;              /* encode: the thread sends `out` itself on this dup of the socket; -1: the loop sends */
    size_t sent;         /* encode: wire bytes the thread sent */
    bool send_failed;    /* encode: the socket refused them (peer gone) */
};

static __thread struct conn_crypto *bound;

const char *conn_xprt_fail_name(enum conn_xprt_fail f)
{
    static const char *const names[CONN_XF_N] = {
        [CONN_XF_ENCODE] = "encode_refused",
        [CONN_XF_DECODE] = "decode_refused",
        [CONN_XF_NOMEM] = "out_of_memory",
    };
    return (unsigned)f < CONN_XF_N ? names[f] : "?";
}

/* Every half of the longest wait while this loop has jobs out: jobs of any
 * loop that waited CONN_CRYPTO_MAX_WAIT_MS for a thread run here, a few per
 * tick, so a starved pool costs this loop at most that much work at a
 * time. */
static void on_stale(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct conn_crypto *cc = w->data;
    for (int n = 0; n < 4; n++) {
        struct fr_job *j = fr_workpool_take_stale(cc->pool, (uint64_t)CONN_CRYPTO_MAX_WAIT_MS * 1000000u);
        if (!j)
            break;
        fr_workpool_run_here(cc->pool, j);
    }
}

void conn_crypto_init(struct conn_crypto *cc, struct fr_workpool *pool, struct fr_inbox *home)
{
    memset(cc, 0, sizeof *cc);
    cc->pool = pool;
    cc->home = home;
    ev_timer_init(&cc->stale, on_stale, 0, CONN_CRYPTO_MAX_WAIT_MS / 2000.0);
    cc->stale.data = cc;
}

void conn_crypto_watch_calls(struct conn_crypto *cc, const uint64_t *calls) { cc->calls = calls; }

void conn_crypto_bind(struct conn_crypto *cc) { bound = cc; }

struct conn_crypto *crypto_bound(void) { return bound; }

struct conn_xprt_stats *crypto_stats_slot(struct conn_crypto *cc, const char *name)
{
    if (!cc || !name)
        return NULL;
    for (int i = 0; i < CONN_XPRT_KINDS; i++) {
        struct conn_xprt_stats *s = &cc->xs[i];
        const char *have = __atomic_load_n(&s->name, __ATOMIC_ACQUIRE);
        if (!have) {
            /* Only this loop's thread fills slots; readers see the name
             * last, with the counters (zero) before it. */
            __atomic_store_n(&s->name, name, __ATOMIC_RELEASE);
            return s;
        }
        if (have == name || strcmp(have, name) == 0)
            return s;
    }
    return NULL;
}

void conn_set_crypto(struct conn *c, struct conn_crypto *cc)
{
    assert(!c->job_out);
    c->crypto = cc;
    c->xstats = c->xprt ? crypto_stats_slot(cc, c->xprt->name) : NULL;
}

void conn_crypto_quiesce(struct conn_crypto *cc)
{
    while (__atomic_load_n(&cc->out, __ATOMIC_RELAXED)) {
        fr_inbox_drain(cc->home);
        if (__atomic_load_n(&cc->out, __ATOMIC_RELAXED))
            usleep(200); /* jobs still running: they take a millisecond or so */
    }
}

/* ---- the crypto thread's side ---- */

static void run_job(struct fr_job *fj)
{
    struct conn_job *j = (struct conn_job *)fj;
    if (j->decode) {
        j->st = j->xprt->decode(j->c, j->xctx, &j->in, &j->out);
        return;
    }
    j->st = XPRT_OK;
    for (j->ndone = 0; j->ndone < j->nlens; j->ndone++) {
        size_t n = j->lens[j->ndone];
        j->st = j->xprt->encode(j->c, j->xctx, buf_rptr(&j->in), n, &j->out);
        if (j->st != XPRT_OK)
            break;
        buf_consume(&j->in, n);
    }
    if (j->fd < 0)
        return;
    /* Nothing of the connection was waiting to go out when the job left, and
     * the loop sends nothing while it is out: these bytes are next on the
     * wire. Whatever the socket does not take now goes back to the loop. */
    size_t before = buf_len(&j->out);
    j->send_failed = net_send_buf(j->fd, &j->out) == NET_ERROR;
    j->sent = before - buf_len(&j->out);
    close(j->fd);
    j->fd = -1;
}

/* ---- back on the loop ---- */

static void swap_buf(struct buf *a, struct buf *b)
{
    struct buf t = *a;
    *a = *b;
    *b = t;
}

/* Appends src to dst, taking src's memory when dst is empty. src ends empty. */
static int move_into(struct buf *dst, struct buf *src)
{
    int rc = 0;
    if (buf_len(dst) == 0) {
        buf_free(dst);
        swap_buf(dst, src);
    } else if (buf_len(src)) {
        rc = buf_append(dst, buf_rptr(src), buf_len(src));
    }
    buf_free(src);
    return rc;
}

static void release(struct conn_job *j)
{
    if (j->fd >= 0)
        close(j->fd); /* the job never ran */
    j->fd = -1;
    j->sent = 0;
    j->send_failed = false;
    buf_free(&j->in);
    buf_free(&j->out);
    j->nlens = j->ndone = 0;
}

/* Encode results: the wire bytes follow what wire_out holds. */
static enum xprt_status take_encoded(struct conn *c, struct conn_job *j)
{
    if (c->xstats) {
        size_t bytes = 0;
        for (size_t i = 0; i < j->ndone; i++)
            bytes += j->lens[i];
        xstat_add(&c->xstats->enc_msgs, j->ndone);
        xstat_add(&c->xstats->enc_bytes, bytes);
        xstat_add(&c->xstats->enc_wire, j->sent + buf_len(&j->out));
        xstat_add(&c->xstats->jobs[0], 1);
    }
    c->out_in_job = 0;
    if (move_into(&c->wire_out, &j->out) < 0)
        return XPRT_NOMEM;
    return j->st;
}

/* Decode results: the part of a unit left undecoded goes back in front of
 * the wire bytes that came meanwhile; the plaintext follows plain_in. */
static enum xprt_status take_decoded(struct conn *c, struct conn_job *j, bool *fresh)
{
    size_t left = buf_len(&j->in);
    size_t plain = buf_len(&j->out);
    if (c->xstats) {
        xstat_add(&c->xstats->jobs[1], 1);
        if (plain) {
            xstat_add(&c->xstats->dec_calls, 1);
            xstat_add(&c->xstats->dec_bytes, plain);
        }
        xstat_add(&c->xstats->dec_wire, j->given - left);
    }
    *fresh = plain > 0;
    if (left && buf_len(&c->wire_in) && buf_append(&j->in, buf_rptr(&c->wire_in), buf_len(&c->wire_in)) < 0)
        return XPRT_NOMEM;
    if (left) {
        buf_free(&c->wire_in);
        swap_buf(&c->wire_in, &j->in);
    }
    c->wire_seen = left;
    if (move_into(&c->plain_in, &j->out) < 0)
        return XPRT_NOMEM;
    return j->st;
}

static void job_done(struct fr_job *fj)
{
    struct conn_job *j = (struct conn_job *)fj;
    struct conn *c = j->c;
    struct conn_crypto *cc = c->crypto;
    c->job_out = false;
    conn_crypto_job_back(cc);
    if (c->state == CONN_CLOSED) {
        /* Closed while the job was out: the result has nowhere to go. */
        c->out_in_job = 0;
        release(j);
        conn_unref(c);
        return;
    }
    bool fresh = false;
    enum xprt_status st = j->decode ? take_decoded(c, j, &fresh) : take_encoded(c, j);
    bool decode = j->decode, send_failed = j->send_failed;
    size_t sent = j->sent;
    release(j);
    if (st != XPRT_OK)
        conn_xprt_failed(c, st, decode);
    else if (send_failed)
        conn_close(c, "write failed");
    else
        conn_after_job(c, fresh, sent);
    conn_unref(c);
}

/* ---- handing work out ---- */

static struct conn_job *job_of(struct conn *c)
{
    if (!c->job) {
        c->job = calloc(1, sizeof *c->job);
        if (!c->job)
            return NULL;
        c->job->base.run = run_job;
        c->job->base.done = job_done;
    }
    c->job->c = c;
    c->job->xprt = c->xprt;
    c->job->xctx = c->xctx;
    c->job->base.home = c->crypto->home;
    c->job->st = XPRT_OK;
    c->job->fd = -1;
    return c->job;
}

/* Whether a call other than the one this work serves waits on the loop. A
 * reply is encoded after its call was counted out; a reply being decoded
 * (from a NameNode) still counts its call. A large request being decoded
 * counts nothing yet, so one other call there runs it inline: rare, and
 * still correct. */
static bool others_wait(const struct conn_crypto *cc, bool decode)
{
    if (!cc->calls)
        return true;
    return __atomic_load_n(cc->calls, __ATOMIC_RELAXED) > (decode ? 1u : 0u);
}

static bool wants_thread(const struct conn *c, bool decode, size_t n)
{
    return c->crypto && c->crypto->pool && c->xprt->needs_offload && c->xprt->needs_offload(c, c->xctx, decode, n) &&
           others_wait(c->crypto, decode);
}

/* One more job of cc's loop out, or one back: only the loop writes. */
static void count_out(struct conn_crypto *cc, int d)
{
    __atomic_store_n(&cc->out, cc->out + (uint64_t)(int64_t)d, __ATOMIC_RELAXED);
    /* The loop looks for stale jobs while some of its own are out (a stale
     * job of another loop has that loop looking for it). */
    if (cc->out && !ev_is_active(&cc->stale))
        ev_timer_again(cc->home->loop, &cc->stale);
    else if (!cc->out)
        ev_timer_stop(cc->home->loop, &cc->stale);
}

void conn_crypto_job_back(struct conn_crypto *cc) { count_out(cc, -1); }

bool conn_crypto_submit(struct conn_crypto *cc, struct fr_job *j)
{
    if (!cc->pool || !others_wait(cc, true))
        return false;
    j->home = cc->home;
    if (fr_workpool_submit(cc->pool, j) < 0)
        return false;
    count_out(cc, 1);
    return true;
}

/* The job is filled: submit it. false: the queue is full (counted). */
static bool submit(struct conn *c, struct conn_job *j)
{
    if (fr_workpool_submit(c->crypto->pool, &j->base) < 0) {
        if (c->xstats)
            xstat_add(&c->xstats->inline_full, 1);
        return false;
    }
    /* Only this thread runs job_done, so the reference and the flag can
     * follow the submit. */
    c->job_out = true;
    conn_ref(c);
    count_out(c->crypto, 1);
    return true;
}

/* Gives the first n bytes of src to the job as its input and submits it.
 * src's memory moves to the job when the job takes all of it and may_move
 * (the job's buffers are empty between jobs); otherwise the bytes are
 * copied. true: the bytes are gone from src; false: src is as it was. */
static bool hand_over(struct conn *c, struct conn_job *j, struct buf *src, size_t n, bool may_move)
{
    bool move = may_move && n == buf_len(src);
    if (move) {
        swap_buf(&j->in, src);
    } else if (buf_append(&j->in, buf_rptr(src), n) < 0) {
        release(j);
        return false;
    }
    if (!submit(c, j)) {
        if (move)
            swap_buf(&j->in, src);
        release(j);
        return false;
    }
    if (!move)
        buf_consume(src, n);
    return true;
}

bool crypto_offload_encode(struct conn *c)
{
    if (!wants_thread(c, false, c->msg_len[c->msg_head]))
        return false;
    struct conn_job *j = job_of(c);
    if (!j)
        return false; /* no memory for a job: inline still works */
    size_t k = 0, total = 0;
    while (c->msg_head + k < c->nmsg) {
        size_t n = c->msg_len[c->msg_head + k];
        if (k && total + n > CONN_JOB_BATCH)
            break;
        if (k == j->caplens) {
            size_t cap = j->caplens ? 2 * j->caplens : 8;
            size_t *p = realloc(j->lens, cap * sizeof *p);
            if (!p)
                break;
            j->lens = p;
            j->caplens = cap;
        }
        j->lens[k++] = n;
        total += n;
    }
    if (k == 0)
        return false;
    j->nlens = k;
    j->decode = false;
    /* With nothing before them on the way out, the thread also sends what it
     * made: the kernel's copy of a large reply, and the loopback peer's
     * receive that runs inside it, then stay off the loop too. The thread
     * writes to a dup of the socket, so that a close on the loop meanwhile
     * cannot hand the descriptor's number to another connection under it.
     * Not from threads under SCHED_IDLE: one preempted inside the send holds
     * the socket's lock, and the loop reading the same socket would wait
     * for it for as long as the cores stay busy. */
    if (buf_len(&c->wire_out) == 0 && c->fd >= 0 && !fr_workpool_idle(c->crypto->pool))
        j->fd = fcntl(c->fd, F_DUPFD_CLOEXEC, 0); /* -1 (no descriptor left): the loop sends */
    if (!hand_over(c, j, &c->plain_out, total, true))
        return false;
    c->msg_head += k;
    c->msg_open -= total;
    c->out_in_job = total;
    return true;
}

bool crypto_offload_decode(struct conn *c, bool may_steal)
{
    size_t n = buf_len(&c->wire_in);
    if (!n || !wants_thread(c, true, n))
        return false;
    struct conn_job *j = job_of(c);
    if (!j)
        return false;
    j->decode = true;
    j->given = n;
    if (!hand_over(c, j, &c->wire_in, n, may_steal))
        return false;
    c->wire_seen = 0;
    return true;
}

void crypto_job_free(struct conn *c)
{
    if (!c->job)
        return;
    assert(!c->job_out);
    release(c->job);
    free(c->job->lens);
    free(c->job);
    c->job = NULL;
}
