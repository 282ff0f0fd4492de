/*
 * conn.c: the one socket loop (see conn.h). Reads go socket -> wire_in ->
 * (transport) -> plaintext -> on_input; writes go plaintext queue ->
 * (transport, one message at a time, in order) -> wire_out -> socket. The
 * transport steps may run on a crypto thread (conn_crypto.c).
 */
#define _GNU_SOURCE
#include "conn.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conn_int.h"
#include "log.h"
#include "net.h"

#define CONN_READ_CHUNK (64u << 10)
#define CONN_READ_MIN 1024u       /* less room than this in a connection's own input buffer: grow it */
#define CONN_KEEP_OUT 4096u       /* an empty output buffer this small is kept for the next reply */
#define CONN_PROGRESS_BYTES 4096u /* input that counts as progress for the idle timer on its own */
#define LISTEN_PAUSE_S 0.25       /* how long accepting rests when the process is out of fds */

/* Where a read lands when the connection has no input waiting: one per
 * thread, as each loop runs on a thread of its own and a read's bytes are
 * parsed (or copied away) before its callback returns. */
static __thread uint8_t scratch[CONN_READ_CHUNK];

static const char *const state_names[CONN_NSTATES] = {
    [CONN_CONNECTING] = "connecting",
    [CONN_OPEN] = "open",
    [CONN_CLOSING] = "closing",
    [CONN_CLOSED] = "closed",
};

const char *conn_state_name(enum conn_state s) { return (unsigned)s < CONN_NSTATES ? state_names[s] : "?"; }

const char *conn_timeout_name(enum conn_timeout t)
{
    static const char *const names[CONN_NTIMEOUTS] = { [CONN_TMO_IDLE] = "idle", [CONN_TMO_HANDSHAKE] = "handshake" };
    return (unsigned)t < CONN_NTIMEOUTS ? names[t] : "?";
}

/* allowed[from][to] */
static const bool allowed[CONN_NSTATES][CONN_NSTATES] = {
    [CONN_CONNECTING] = { [CONN_OPEN] = true, [CONN_CLOSED] = true },
    [CONN_OPEN] = { [CONN_CLOSING] = true, [CONN_CLOSED] = true },
    [CONN_CLOSING] = { [CONN_CLOSED] = true },
};

static void count(struct conn *c, enum conn_state s, int64_t d)
{
    if (c->counts)
        __atomic_fetch_add(&c->counts->n[s], d, __ATOMIC_RELAXED);
}

/* The one place a connection changes state. false: the move is impossible
 * (a bug); release builds then close the connection. */
static bool set_state(struct conn *c, enum conn_state to)
{
    if (!allowed[c->state][to]) {
        fr_error("connection fd %d: impossible state change %s -> %s", c->fd, conn_state_name(c->state),
                 conn_state_name(to));
        assert(!"impossible connection state change");
        return false;
    }
    count(c, c->state, -1);
    count(c, to, 1);
    c->state = to;
    return true;
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents);
static void on_write(struct ev_loop *loop, ev_io *w, int revents);
static void on_timer(struct ev_loop *loop, ev_timer *t, int revents);

static void setup(struct conn *c, struct ev_loop *loop, int fd, const struct conn_ops *ops, void *owner,
                  struct conn_counts *counts, enum conn_state st)
{
    memset(c, 0, sizeof *c);
    c->loop = loop;
    c->fd = fd;
    c->ops = ops;
    c->owner = owner;
    c->counts = counts;
    c->refs = 1; /* the connection's own, dropped when it closes */
    c->read_chunk = CONN_READ_CHUNK;
    c->state = st;
    c->crypto = crypto_bound();
    count(c, st, 1);
    ev_io_init(&c->rw, on_read, fd, EV_READ);
    ev_io_init(&c->ww, on_write, fd, EV_WRITE);
    /* Writes after reads: output queued in one loop pass (conn_kick) goes
     * out once every socket that was readable has been read, so calls of
     * many clients bound for one NameNode leave in one send. */
    ev_set_priority(&c->ww, EV_MINPRI);
    ev_init(&c->tmo, on_timer);
    c->rw.data = c->ww.data = c->tmo.data = c;
}

void conn_accepted(struct conn *c, struct ev_loop *loop, int fd, const struct conn_ops *ops, void *owner,
                   struct conn_counts *counts)
{
    setup(c, loop, fd, ops, owner, counts, CONN_OPEN);
    c->want_read = true;
    ev_io_start(loop, &c->rw);
}

int conn_connect(struct conn *c, struct ev_loop *loop, const struct sockaddr *sa, socklen_t salen,
                 const struct conn_ops *ops, void *owner, struct conn_counts *counts)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, sa, salen) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return -e;
    }
    setup(c, loop, fd, ops, owner, counts, CONN_CONNECTING);
    c->want_read = true;
    ev_io_start(loop, &c->ww); /* writable = the connect finished, one way or the other */
    return 0;
}

static void destroy(struct conn *c)
{
    crypto_job_free(c);
    buf_free(&c->wire_in);
    buf_free(&c->wire_out);
    buf_free(&c->plain_in);
    buf_free(&c->plain_out);
    free(c->msg_len);
    c->msg_len = NULL;
    if (c->xprt && c->xprt->destroy)
        c->xprt->destroy(c->xctx);
    c->xprt = NULL;
    count(c, c->state, -1);
    if (c->ops->on_free)
        c->ops->on_free(c);
}

void conn_unref(struct conn *c)
{
    assert(c->refs > 0);
    if (--c->refs == 0)
        destroy(c);
}

void conn_close(struct conn *c, const char *reason)
{
    if (c->state == CONN_CLOSED)
        return;
    set_state(c, CONN_CLOSED);
    c->close_reason = reason;
    ev_io_stop(c->loop, &c->rw);
    ev_io_stop(c->loop, &c->ww);
    ev_timer_stop(c->loop, &c->tmo);
    /* A connection served on a listener's spare gives the slot back as the
     * spare, in the same step as its socket closes (see open_spare). */
    struct conn_listener *l = c->spare_of;
    if (c->fd >= 0 && l && l->spare < 0 && l->spare_mode != CONN_SPARE_NONE && dup2(l->fd, c->fd) >= 0)
        l->spare = c->fd;
    else if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    /* Buffers stay until the last reference goes: a parser up the stack may
     * still be looking at the input. */
    if (c->ops->on_close)
        c->ops->on_close(c, reason);
    conn_unref(c);
}

/* Reading stops while a job is out and CONN_HELD_INPUT bytes wait for it. */
static void update_read(struct conn *c)
{
    bool held = c->job_out && buf_len(&c->wire_in) >= CONN_HELD_INPUT;
    if (c->state == CONN_OPEN && c->want_read && !held)
        ev_io_start(c->loop, &c->rw);
    else
        ev_io_stop(c->loop, &c->rw);
}

void conn_want_read(struct conn *c, bool on)
{
    c->want_read = on;
    update_read(c);
}

void conn_close_after_flush(struct conn *c)
{
    if (c->state == CONN_CONNECTING) {
        conn_close(c, NULL);
        return;
    }
    if (c->state != CONN_OPEN)
        return;
    set_state(c, CONN_CLOSING);
    update_read(c);
    conn_ref(c);
    conn_flush(c);
    conn_unref(c);
}

static int msg_push(struct conn *c, size_t n)
{
    if (c->nmsg == c->capmsg) {
        if (c->msg_head) {
            memmove(c->msg_len, c->msg_len + c->msg_head, (c->nmsg - c->msg_head) * sizeof *c->msg_len);
            c->nmsg -= c->msg_head;
            c->msg_head = 0;
        }
        if (c->nmsg == c->capmsg) {
            size_t cap = c->capmsg ? c->capmsg * 2 : 16;
            size_t *p = realloc(c->msg_len, cap * sizeof *p);
            if (!p)
                return -1;
            c->msg_len = p;
            c->capmsg = cap;
        }
    }
    c->msg_len[c->nmsg++] = n;
    return 0;
}

int conn_out_end(struct conn *c)
{
    if (!conn_encodes(c))
        return 0; /* output as written: the queue is the wire, boundaries do not matter */
    size_t n = buf_len(&c->plain_out) - c->msg_open;
    if (n == 0)
        return 0;
    if (msg_push(c, n) < 0)
        return -1;
    c->msg_open += n;
    return 0;
}

size_t conn_out_pending(const struct conn *c)
{
    return buf_len(&c->wire_out) + (c->xprt ? buf_len(&c->plain_out) + c->out_in_job : 0);
}

/* Encodes every whole queued message, oldest first, inline or on a crypto
 * thread (conn_crypto.h); a job out holds back the messages behind it. */
static enum xprt_status encode_queued(struct conn *c)
{
    while (c->msg_head < c->nmsg && !c->job_out) {
        if (crypto_offload_encode(c))
            break;
        size_t n = c->msg_len[c->msg_head];
        size_t wire = buf_len(&c->wire_out);
        enum xprt_status st = c->xprt->encode(c, c->xctx, buf_rptr(&c->plain_out), n, &c->wire_out);
        if (st != XPRT_OK)
            return st;
        if (c->xstats) {
            xstat_add(&c->xstats->enc_msgs, 1);
            xstat_add(&c->xstats->enc_bytes, n);
            xstat_add(&c->xstats->enc_wire, buf_len(&c->wire_out) - wire);
        }
        buf_consume(&c->plain_out, n);
        c->msg_open -= n;
        c->msg_head++;
    }
    if (c->msg_head == c->nmsg)
        c->msg_head = c->nmsg = 0;
    return XPRT_OK;
}

void conn_xprt_failed(struct conn *c, enum xprt_status st, bool decoding)
{
    if (c->xstats)
        xstat_add(&c->xstats->failures[st == XPRT_NOMEM ? CONN_XF_NOMEM
                                       : decoding       ? CONN_XF_DECODE
                                                        : CONN_XF_ENCODE],
                  1);
    conn_close(c, st == XPRT_NOMEM ? "out of memory"
                  : decoding       ? "transport refused the input"
                                   : "transport refused to encode a message");
}

/* The connection moved on: the idle timer starts again from now. Only a
 * time stamp is written; the timer looks at it when it fires. */
static void progress(struct conn *c)
{
    c->last_progress = ev_now(c->loop);
    c->rx_since = 0;
}

/* Stops waiting for the socket to take more. ev_io_stop also drops an event
 * queued on the watcher, and a conn_kick is queued on this one: keep it, or
 * input held back for lack of room would wait for the next byte the peer
 * sends, which may never come. */
static void stop_write(struct conn *c)
{
    int queued = ev_clear_pending(c->loop, &c->ww);
    ev_io_stop(c->loop, &c->ww);
    if (queued & EV_CUSTOM)
        ev_feed_event(c->loop, &c->ww, EV_CUSTOM);
}

void conn_flush(struct conn *c)
{
    if (c->state != CONN_OPEN && c->state != CONN_CLOSING)
        return; /* connecting: output waits; closed: nothing to do */
    if (c->in_flush)
        return;
    c->in_flush = true;
    if (conn_encodes(c)) {
        enum xprt_status st = encode_queued(c);
        if (st != XPRT_OK) {
            c->in_flush = false;
            conn_xprt_failed(c, st, false);
            return;
        }
    }
    size_t before = buf_len(&c->wire_out);
    enum net_send r = net_send_buf(c->fd, &c->wire_out);
    c->in_flush = false;
    if (r == NET_ERROR) {
        conn_close(c, "write failed");
        return;
    }
    if (buf_len(&c->wire_out) < before)
        progress(c);
    if (r == NET_PENDING) {
        ev_io_start(c->loop, &c->ww);
        return;
    }
    /* All sent: a buffer that grew for a big reply is not kept while the
     * connection idles. */
    if (c->wire_out.cap > CONN_KEEP_OUT)
        buf_free(&c->wire_out);
    stop_write(c);
    if (c->state == CONN_CLOSING && conn_out_pending(c) == 0)
        conn_close(c, c->close_reason);
}

/* Runs the transport's decoder over what arrived (inline, or on a crypto
 * thread whose plaintext comes back through conn_after_job); plaintext needs
 * nothing. Bytes the decoder has seen and left (part of a unit) are not
 * shown to it again until more arrive, and nothing is decoded while a job is
 * out. false: the connection closed. */
static bool decode_input(struct conn *c)
{
    if (!c->xprt || c->job_out || buf_len(&c->wire_in) <= c->wire_seen)
        return true;
    if (crypto_offload_decode(c, c->wire_in.data != scratch))
        return true;
    size_t wire = buf_len(&c->wire_in), plain = buf_len(&c->plain_in);
    enum xprt_status st = c->xprt->decode(c, c->xctx, &c->wire_in, &c->plain_in);
    c->wire_seen = buf_len(&c->wire_in);
    if (st == XPRT_OK) {
        if (c->xstats && buf_len(&c->plain_in) > plain) {
            xstat_add(&c->xstats->dec_calls, 1);
            xstat_add(&c->xstats->dec_bytes, buf_len(&c->plain_in) - plain);
        }
        if (c->xstats)
            xstat_add(&c->xstats->dec_wire, wire - buf_len(&c->wire_in));
        return true;
    }
    conn_xprt_failed(c, st, true);
    return false;
}

int conn_set_xprt(struct conn *c, const struct xprt_ops *ops, void *ctx)
{
    c->xprt = ops;
    c->xctx = ctx;
    c->xstats = crypto_stats_slot(c->crypto, ops->name);
    c->msg_open = buf_len(&c->plain_out);
    c->wire_seen = 0;
    return decode_input(c) ? 0 : -1;
}

/*
 * Where the next read goes. When little or nothing is waiting, the thread's
 * scratch buffer is lent to wire_in (*lent), with the waiting bytes copied to
 * its front, so that the read is a big one and the connection's own buffer
 * can go. Part of a big message stays in the connection's own buffer, which
 * takes the read in the room it has and grows (by what it holds, at most
 * read_chunk) only when that room is nearly used up. -1: out of memory.
 */
static int input_room(struct conn *c, bool *lent)
{
    struct buf *in = &c->wire_in;
    size_t cap = c->read_chunk < sizeof scratch ? c->read_chunk : sizeof scratch;
    size_t len = buf_len(in);
    *lent = false;
    if (len <= cap / 2) {
        if (len)
            memcpy(scratch, buf_rptr(in), len);
        buf_free(in);
        *in = (struct buf){ scratch, 0, len, cap };
        *lent = true;
        return 0;
    }
    if (buf_room(in) >= CONN_READ_MIN)
        return 0;
    size_t grow = len < c->read_chunk ? len : c->read_chunk;
    return buf_reserve(in, grow < CONN_READ_MIN ? CONN_READ_MIN : grow);
}

/*
 * After parsing: the bytes left in a lent scratch buffer (part of a message)
 * move to a buffer of the connection's own, just big enough; an own buffer
 * that parsing emptied is released. false: out of memory (closed).
 */
static bool settle_input(struct conn *c, bool lent)
{
    struct buf *in = &c->wire_in;
    if (lent && in->data == scratch) {
        struct buf own = BUF_INIT;
        size_t left = buf_len(in);
        int rc = left && c->state != CONN_CLOSED ? buf_append(&own, buf_rptr(in), left) : 0;
        *in = own;
        if (rc < 0) {
            conn_close(c, "out of memory");
            return false;
        }
    } else if (buf_len(in) == 0 && in->cap) {
        buf_free(in);
    }
    if (c->xprt && buf_len(&c->plain_in) == 0 && c->plain_in.cap)
        buf_free(&c->plain_in);
    return true;
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    struct conn *c = w->data;
    conn_ref(c);
    bool lent;
    if (input_room(c, &lent) < 0) {
        conn_close(c, "out of memory");
        goto out;
    }
    ssize_t n = recv(c->fd, buf_wptr(&c->wire_in), buf_room(&c->wire_in), 0);
    if (n <= 0) {
        if (!(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)))
            conn_close(c, n == 0 ? NULL : strerror(errno));
        settle_input(c, lent);
        goto out;
    }
    buf_commit(&c->wire_in, (size_t)n);
    c->rx_since += (size_t)n;
    if (decode_input(c)) {
        size_t waiting = buf_len(conn_in(c));
        c->ops->on_input(c);
        /* A message consumed, or enough bytes to be more than a trickle. */
        if (buf_len(conn_in(c)) < waiting || c->rx_since >= CONN_PROGRESS_BYTES)
            progress(c);
    }
    if (settle_input(c, lent))
        conn_flush(c);
    if (c->job_out && c->state == CONN_OPEN)
        update_read(c); /* input held for the job may have reached its bound */
out:
    conn_unref(c);
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    struct conn *c = w->data;
    conn_ref(c);
    if (c->state == CONN_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err == EINPROGRESS || err == EALREADY)
            goto out;
        if (err) {
            conn_close(c, strerror(err));
            goto out;
        }
        if (!set_state(c, CONN_OPEN)) {
            conn_close(c, "impossible state change");
            goto out;
        }
        ev_io_stop(loop, &c->ww);
        update_read(c);
        if (c->ops->on_connected)
            c->ops->on_connected(c);
    }
    size_t before = conn_out_pending(c);
    conn_flush(c);
    if (c->state == CONN_CLOSED)
        goto out;
    /* Output went out: the protocol may have been holding input back until
     * there was room for replies; and input may already be buffered. */
    if (conn_out_pending(c) < before && c->ops->on_sent) {
        c->ops->on_sent(c);
        if (c->state == CONN_CLOSED)
            goto out;
    }
    if (c->want_read && c->state == CONN_OPEN && (conn_out_pending(c) < before || (revents & EV_CUSTOM)) &&
        buf_len(conn_in(c))) {
        size_t waiting = buf_len(conn_in(c));
        c->ops->on_input(c);
        if (buf_len(conn_in(c)) < waiting)
            progress(c);
        if (settle_input(c, false))
            conn_flush(c);
    }
out:
    conn_unref(c);
}

void conn_after_job(struct conn *c, bool new_plain, size_t sent)
{
    /* Bytes the thread sent count as sent from here, for progress and for a
     * protocol that waits for room in its output. */
    size_t pending = conn_out_pending(c) + sent;
    if (sent)
        progress(c);
    size_t plain = buf_len(&c->plain_in);
    if (!decode_input(c)) /* what arrived while the job was out */
        return;
    /* New plaintext goes to the protocol as it would have from the read
     * that brought its wire bytes. */
    if ((new_plain || buf_len(&c->plain_in) > plain) && c->state == CONN_OPEN) {
        size_t waiting = buf_len(&c->plain_in);
        c->ops->on_input(c);
        if (c->state == CONN_CLOSED)
            return;
        if (buf_len(conn_in(c)) < waiting)
            progress(c);
    }
    if (!settle_input(c, false))
        return;
    conn_flush(c);
    if (c->state == CONN_CLOSED)
        return;
    if (conn_out_pending(c) < pending && c->ops->on_sent) {
        c->ops->on_sent(c);
        if (c->state == CONN_CLOSED)
            return;
    }
    update_read(c);
}

void conn_kick(struct conn *c)
{
    if (c->state == CONN_OPEN)
        ev_feed_event(c->loop, &c->ww, EV_CUSTOM);
}

/* ---- timeouts ---- */

/* When the timer must look again (loop time), 0 for never. */
static ev_tstamp next_deadline(const struct conn *c)
{
    ev_tstamp at = 0;
    if (c->handshake_s > 0 && !c->handshake_done)
        at = c->opened + c->handshake_s;
    if (c->idle_s > 0) {
        ev_tstamp idle_at = c->last_progress + c->idle_s;
        if (at == 0 || idle_at < at)
            at = idle_at;
    }
    return at;
}

static void arm(struct conn *c)
{
    ev_tstamp at = next_deadline(c);
    if (at == 0 || c->state == CONN_CLOSED) {
        ev_timer_stop(c->loop, &c->tmo);
        return;
    }
    ev_tstamp left = at - ev_now(c->loop);
    c->tmo.repeat = left > 0.001 ? left : 0.001;
    ev_timer_again(c->loop, &c->tmo);
}

static void expire(struct conn *c, enum conn_timeout why)
{
    if (c->timeouts)
        __atomic_fetch_add(&c->timeouts[why], 1, __ATOMIC_RELAXED);
    conn_ref(c);
    conn_close(c, why == CONN_TMO_IDLE ? "idle timeout" : "handshake timeout");
    conn_unref(c);
}

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct conn *c = t->data;
    ev_tstamp now = ev_now(loop);
    if (c->state == CONN_CLOSED)
        return;
    if (c->handshake_s > 0 && !c->handshake_done && now >= c->opened + c->handshake_s) {
        expire(c, CONN_TMO_HANDSHAKE);
        return;
    }
    if (c->idle_s > 0 && now >= c->last_progress + c->idle_s) {
        if (!(c->ops->busy && c->ops->busy(c))) {
            expire(c, CONN_TMO_IDLE);
            return;
        }
        c->last_progress = now; /* waiting on its own calls is not idling */
    }
    arm(c);
}

void conn_set_timeouts(struct conn *c, double idle_s, double handshake_s, uint64_t *counters)
{
    c->timeouts = counters;
    c->idle_s = idle_s > 0 ? idle_s : 0;
    c->handshake_s = handshake_s > 0 ? handshake_s : 0;
    c->opened = c->last_progress = ev_now(c->loop);
    arm(c);
}

void conn_handshake_done(struct conn *c) { c->handshake_done = true; /* the timer sees it when it fires next */ }

/* ---- listener ---- */

/*
 * Spare descriptors. A spare is a duplicate of the listening socket: a
 * connection taken on it is closed by dup2() of the listening socket onto
 * its descriptor, which closes the connection and keeps the slot as the
 * spare in one step, so no other thread can take the slot in between. The
 * one step that cannot be made atomic, freeing the spare and accepting into
 * its slot, runs under a process-wide lock, and while descriptors are short
 * (an accept failed for lack of them in the last second) every listener's
 * accepts take that lock too, so that listeners do not take each other's
 * freed slots.
 */
static pthread_mutex_t spare_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t short_until_ms; /* monotonic ms; atomic ops */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool fds_short(void) { return __atomic_load_n(&short_until_ms, __ATOMIC_RELAXED) > mono_ms(); }

static void open_spare(struct conn_listener *l)
{
    if (l->spare_mode != CONN_SPARE_NONE && l->spare < 0)
        l->spare = fcntl(l->fd, F_DUPFD_CLOEXEC, 0);
}

static void rest(struct conn_listener *l, int err)
{
    static struct fr_log_rate rl = FR_LOG_RATE_INIT(1, 10000);
    fr_log_rated(&rl, FR_LOG_WARN, NULL, "cannot accept connections: %s; pausing accept for %.0f ms", strerror(err),
                 LISTEN_PAUSE_S * 1000);
    __atomic_fetch_add(&l->paused, 1, __ATOMIC_RELAXED);
    ev_io_stop(l->loop, &l->io);
    ev_timer_set(&l->pause, LISTEN_PAUSE_S, 0.);
    ev_timer_start(l->loop, &l->pause);
}

/*
 * Out of descriptors, with a spare: give it up to take the waiting
 * connection, and serve it (SERVE) or close it at once (DROP: every waiting
 * connection is taken and closed, so none hangs in the backlog). true when
 * at least one connection was taken; false when even that failed: the
 * caller rests.
 */
static bool use_spare(struct conn_listener *l)
{
    if (l->spare < 0)
        return false;
    char peer[64];
    int taken = 0;
    pthread_mutex_lock(&spare_lock);
    for (int i = 0; i < 64; i++) {
        close(l->spare);
        l->spare = -1;
        int fd = net_accept(l->fd, peer, sizeof peer);
        if (fd < 0)
            break;
        taken++;
        if (l->spare_mode == CONN_SPARE_SERVE) {
            pthread_mutex_unlock(&spare_lock);
            __atomic_fetch_add(&l->served_spare, 1, __ATOMIC_RELAXED);
            l->on_spare = true;
            l->on_accept(l, fd, peer); /* holds the spare's slot until it closes (conn_listener_adopt) */
            l->on_spare = false;
            return true;
        }
        /* The client sees the close now, and the slot stays the spare. */
        if (dup2(l->fd, fd) < 0)
            close(fd);
        else
            l->spare = fd;
    }
    open_spare(l);
    pthread_mutex_unlock(&spare_lock);
    if (taken) {
        __atomic_fetch_add(&l->dropped, (uint64_t)taken, __ATOMIC_RELAXED);
        static struct fr_log_rate rl = FR_LOG_RATE_INIT(1, 10000);
        fr_log_rated(&rl, FR_LOG_WARN, NULL,
                     "out of file descriptors: closed %d new connection(s) at once (%llu so far)", taken,
                     (unsigned long long)__atomic_load_n(&l->dropped, __ATOMIC_RELAXED));
    }
    return taken > 0;
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct conn_listener *l = w->data;
    open_spare(l);
    for (int i = 0; i < 64; i++) {
        char peer[64];
        bool locked = l->spare_mode != CONN_SPARE_NONE && fds_short();
        if (locked)
            pthread_mutex_lock(&spare_lock);
        int fd = net_accept(l->fd, peer, sizeof peer);
        int err = errno;
        if (locked)
            pthread_mutex_unlock(&spare_lock);
        if (fd >= 0) {
            l->on_accept(l, fd, peer);
            continue;
        }
        if (err == EINTR || err == ECONNABORTED)
            continue;
        if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
            /* The connection stays in the backlog; taking it now would fail
             * again at once and spin the loop. Use the spare, or rest and
             * try again. */
            if (err == EMFILE || err == ENFILE) {
                __atomic_store_n(&short_until_ms, mono_ms() + 1000, __ATOMIC_RELAXED);
                if (use_spare(l))
                    return;
            }
            rest(l, err);
        }
        return;
    }
}

void conn_listener_adopt(struct conn_listener *l, struct conn *c)
{
    if (l->on_spare)
        c->spare_of = l;
}

static void on_pause_end(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct conn_listener *l = t->data;
    open_spare(l);
    ev_io_start(loop, &l->io);
}

void conn_listener_start(struct conn_listener *l, struct ev_loop *loop, int fd,
                         void (*on_accept_cb)(struct conn_listener *l, int fd, const char *peer), void *owner)
{
    l->fd = fd;
    l->loop = loop;
    l->on_accept = on_accept_cb;
    l->owner = owner;
    l->paused = 0;
    l->spare_mode = CONN_SPARE_NONE;
    l->spare = -1;
    l->on_spare = false;
    l->dropped = l->served_spare = 0;
    ev_io_init(&l->io, on_accept, fd, EV_READ);
    ev_timer_init(&l->pause, on_pause_end, LISTEN_PAUSE_S, 0.);
    l->io.data = l->pause.data = l;
    ev_io_start(loop, &l->io);
}

void conn_listener_reserve(struct conn_listener *l, enum conn_spare mode)
{
    l->spare_mode = mode;
    open_spare(l);
}

void conn_listener_refill(struct conn_listener *l) { open_spare(l); }

void conn_listener_stop(struct conn_listener *l)
{
    ev_io_stop(l->loop, &l->io);
    ev_timer_stop(l->loop, &l->pause);
    if (l->spare >= 0)
        close(l->spare);
    l->spare = -1;
    l->spare_mode = CONN_SPARE_NONE;
}
