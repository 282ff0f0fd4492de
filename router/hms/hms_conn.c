/*
 * hms_conn.c: metastore client connections (see hms_conn.h). The socket
 * loop, buffers, close and reference counting are lib/conn's; this file
 * cuts calls out of the input, keeps the connection's state, and queues the
 * answers.
 */
#define _GNU_SOURCE
#include "audit.h"
#include "clock.h"
#include "hms_conn.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hms_rules.h"
#include "log.h"
#include "metrics.h"
#include "router.h"
#include "worker.h"

_Static_assert(MC_NSTATES <= sizeof((struct worker *)0)->hms_client_states / sizeof(int64_t),
               "struct worker has a gauge for every metastore client state");

/* ---- states ---- */

static const char *const state_names[MC_NSTATES] = {
    [MC_DETECT] = "detect",   [MC_IDLE] = "idle",       [MC_CALL] = "call",     [MC_STREAMING] = "streaming",
    [MC_STALLED] = "stalled", [MC_CLOSING] = "closing", [MC_CLOSED] = "closed",
};

const char *mconn_state_name(enum mconn_state s)
{
    return (unsigned)s < MC_NSTATES ? state_names[s] : "?";
}

/* allowed[from][to]; every open state may close. */
static const bool allowed[MC_NSTATES][MC_NSTATES] = {
    [MC_DETECT] = { [MC_IDLE] = true, [MC_CLOSED] = true },
    [MC_IDLE] = { [MC_CALL] = true, [MC_CLOSED] = true },
    [MC_CALL] = { [MC_IDLE] = true, [MC_STREAMING] = true, [MC_CLOSING] = true, [MC_CLOSED] = true },
    /* A reply may end, or break off, while the output is full. */
    [MC_STREAMING] = { [MC_STALLED] = true, [MC_IDLE] = true, [MC_CLOSING] = true, [MC_CLOSED] = true },
    [MC_STALLED] = { [MC_STREAMING] = true, [MC_IDLE] = true, [MC_CLOSING] = true, [MC_CLOSED] = true },
    [MC_CLOSING] = { [MC_CLOSED] = true },
};

static void count(struct mconn *c, enum mconn_state s, int64_t d)
{
    __atomic_fetch_add(&c->w->hms_client_states[s], d, __ATOMIC_RELAXED);
}

static bool in_call(const struct mconn *c)
{
    return c->state == MC_CALL || c->state == MC_STREAMING || c->state == MC_STALLED;
}

/* The one place a connection changes state. An impossible move is a bug:
 * debug builds stop here; release builds close the connection (false). */
static bool set_state(struct mconn *c, enum mconn_state to)
{
    if (!allowed[c->state][to]) {
        struct fr_log_who who = mconn_who(c);
        fr_log_conn(FR_LOG_ERROR, &who, "metastore client: impossible state change %s -> %s",
                    mconn_state_name(c->state), mconn_state_name(to));
        assert(!"impossible metastore client state change");
        conn_close(&c->conn, "impossible state change");
        return false;
    }
    count(c, c->state, -1);
    count(c, to, 1);
    c->state = to;
    return true;
}

void mconn_state_gauges(struct buf *out, const struct worker *ws, int nworkers)
{
    metrics_printf(out, "# TYPE fedrouter_hms_client_conn_state gauge\n");
    for (int s = 0; s < MC_NSTATES; s++) {
        long long n = 0;
        for (int i = 0; i < nworkers; i++)
            n += __atomic_load_n(&ws[i].hms_client_states[s], __ATOMIC_RELAXED);
        metrics_printf(out, "fedrouter_hms_client_conn_state{state=\"%s\"} %lld\n", state_names[s], n);
    }
}

/* ---- helpers ---- */

static void process_input(struct mconn *c);

/* Reply bytes queued for the client at which reading pauses: its input,
 * and a backend that sends a reply in parts. */
static size_t max_output(const struct mconn *c)
{
    size_t m = c->w->router->client_max_output;
    return m ? m : (size_t)64 << 20;
}

static size_t pending(const struct mconn *c)
{
    return conn_out_pending(&c->conn);
}

struct fr_log_who mconn_who(const struct mconn *c)
{
    return (struct fr_log_who){ .worker = c->w->id, .user = c->user, .peer = c->peer };
}

/* Reads while no call is in hand and the output has room. */
static void update_read(struct mconn *c)
{
    if (conn_closed(&c->conn))
        return;
    conn_want_read(&c->conn, (c->state == MC_DETECT || c->state == MC_IDLE) && pending(c) < max_output(c));
}

static void mconn_close(struct mconn *c, const char *why)
{
    conn_close(&c->conn, why);
}

static void record(struct mconn *c, bool error)
{
    uint64_t us = (fr_mono_ns() - c->call.started_ns) / 1000;
    metrics_record(c->w->metrics, 1, metrics_name_id(c->call.method),
                   metrics_name_id(c->call.ms ? c->call.ms : "-"), us, error);
    audit_hms_end(c);
}

/* Forgets the call in hand and drops its reference: c may be gone after. */
static void call_release(struct mconn *c)
{
    c->call.route = NULL;
    c->call.kind = MCALL_NONE;
    c->call.ms = NULL;
    audit_call_free(c->call.audit); /* ended unanswered: no line */
    c->call.audit = NULL;
    __atomic_fetch_sub(&c->w->in_flight, 1, __ATOMIC_RELAXED);
    conn_unref(&c->conn);
}

/* The call in hand is over (answered, or not to be): the connection goes
 * to `next` (MC_IDLE or MC_CLOSING). The next call is taken from the loop,
 * not from under the route that answered. c may be gone after this. */
static void call_finished(struct mconn *c, enum mconn_state next)
{
    if (next == MC_IDLE && atomic_load(&c->w->router->draining))
        next = MC_CLOSING; /* the router stops: no further call on this connection */
    if (set_state(c, next)) {
        if (next == MC_CLOSING) {
            conn_close_after_flush(&c->conn);
        } else {
            update_read(c);
            conn_flush(&c->conn);
            conn_kick(&c->conn); /* calls already buffered */
        }
    }
    call_release(c);
}

/* ---- answers ---- */

/* An EXCEPTION message, or a REPLY whose result holds a declared exception
 * (any field but 0, success) counts as an error in the metrics. */
static bool reply_is_error(const struct mconn *c, const uint8_t *msg, size_t len)
{
    struct tw_header h;
    struct tw_field f;
    if (tw_parse_header(c->proto, msg, len, NULL, &h) != TW_COMPLETE)
        return true;
    if (h.type != TW_REPLY)
        return h.type == TW_EXCEPTION;
    if (tw_result_field(c->proto, msg + h.body_off, len - h.body_off, &f) != TW_COMPLETE)
        return true;
    return f.set && f.id != 0;
}

/* The answer could not be queued: the connection closes at once (a frame
 * length must not go out without its body). The route is the one
 * answering, so there is nothing to cancel; on_close ends the call. */
static void reply_failed(struct mconn *c)
{
    record(c, true);
    c->call.route = NULL;
    c->call.kind = MCALL_NONE;
    mconn_close(c, "out of memory queueing a reply");
}

/* Every answer path starts here: false when there is no call in hand (it
 * ended when the connection closed, and its route was cancelled then). */
static bool answering(const struct mconn *c)
{
    return in_call(c);
}

void mconn_reply(struct mconn *c, const uint8_t *msg, size_t len)
{
    if (!answering(c))
        return;
    bool error = reply_is_error(c, msg, len);
    struct buf *out = conn_out(&c->conn);
    /* The frame length and its body go together, or not at all. */
    if ((c->framed && tw_put_frame_len(out, len) < 0) || buf_append(out, msg, len) < 0 ||
        conn_out_end(&c->conn) < 0) {
        reply_failed(c);
        return;
    }
    record(c, error);
    call_finished(c, MC_IDLE);
}

void mconn_reply_built(struct mconn *c, struct buf *out, int rc)
{
    if (rc < 0)
        mconn_close_after_write(c);
    else
        mconn_reply(c, buf_rptr(out), buf_len(out));
    buf_free(out);
}

struct buf *mconn_reply_buf(struct mconn *c)
{
    if (c->state == MC_CALL)
        set_state(c, MC_STREAMING);
    return conn_out(&c->conn);
}

bool mconn_reply_flowing(struct mconn *c)
{
    if (!answering(c))
        return true; /* the route is being cancelled: nothing waits for this */
    /* Written from the loop, not from under the backend's callback (a write
     * error there would close the client, and so cancel the very call whose
     * reply is being passed on). */
    if (pending(c))
        conn_kick(&c->conn);
    if (pending(c) < max_output(c))
        return true;
    if (c->state == MC_STREAMING)
        set_state(c, MC_STALLED);
    return false;
}

void mconn_reply_end(struct mconn *c)
{
    if (!answering(c))
        return;
    if (conn_out_end(&c->conn) < 0) {
        reply_failed(c);
        return;
    }
    record(c, false);
    call_finished(c, MC_IDLE);
}

void mconn_reply_abort(struct mconn *c, const char *why)
{
    if (answering(c)) {
        struct fr_log_who who = mconn_who(c);
        FR_LOG_EVERY(10, 1000, FR_LOG_WARN, &who,
                     "metastore client: a reply broke off after part of it was sent (%s): closing the connection", why);
        record(c, true);
    }
    mconn_close_after_write(c);
}

void mconn_done_noreply(struct mconn *c)
{
    if (!answering(c))
        return;
    record(c, false);
    call_finished(c, MC_IDLE);
}

void mconn_close_after_write(struct mconn *c)
{
    if (answering(c))
        call_finished(c, MC_CLOSING);
}

void mconn_ident(const struct mconn *c, struct hms_ident *id)
{
    id->user = c->ugi_set ? c->user : NULL;
    id->groups = (const char *const *)c->groups;
    id->ngroups = c->ugi_set ? c->ngroups : 0;
    id->sess = c->sess && c->sess->id ? c->sess : NULL;
}

/* ---- calls in ---- */

/* Starts scanning the next unframed call: no string, container or whole
 * message above hms.max_message. */
static void scan_init(struct mconn *c)
{
    size_t max = c->w->router->hms_max_message;
    const struct tw_limits lim = { TW_DEFAULT_DEPTH, max, max, max };
    tw_scan_init(&c->scan, c->proto, &lim);
}

/* Cuts the next whole message from the input; 1 with msg/len/used, 0 for
 * more bytes, -1 when the client sent something that is not Thrift, -2
 * when the message is (or announces itself) larger than hms.max_message. */
static int next_message(struct mconn *c, struct buf *in, const uint8_t **msg, size_t *len, size_t *used)
{
    if (c->state == MC_DETECT) {
        int d = tw_detect(buf_rptr(in), buf_len(in), &c->proto, &c->framed);
        if (d == TW_NEED_MORE)
            return 0;
        if (d != TW_COMPLETE || !set_state(c, MC_IDLE))
            return -1;
        scan_init(c);
    }
    int rc;
    if (c->framed) {
        rc = tw_frame_cut(buf_rptr(in), buf_len(in), c->w->router->hms_max_message, msg, len, used);
        /* a frame length of 0 or below is malformed rather than too big */
        if (rc == TW_EMSGSIZE && buf_len(in) >= 4 && (buf_rptr(in)[0] & 0x80 || !memcmp(buf_rptr(in), "\0\0\0\0", 4)))
            rc = TW_EVERSION;
    } else {
        rc = tw_scan_feed(&c->scan, buf_rptr(in), buf_len(in), len);
        *msg = buf_rptr(in);
        *used = *len;
    }
    if (rc == TW_NEED_MORE)
        return 0;
    if (rc == TW_EMSGSIZE || rc == TW_ESTRING || rc == TW_ECONTAINER)
        return -2;
    return rc == TW_COMPLETE ? 1 : -1;
}

/* Takes calls off the input while the connection is free for one. Runs from
 * the connection's own callbacks, which hold a reference. */
static void process_input(struct mconn *c)
{
    struct buf *in = conn_in(&c->conn);
    while (!conn_closed(&c->conn) && (c->state == MC_DETECT || c->state == MC_IDLE) && buf_len(in) &&
           pending(c) < max_output(c)) {
        const uint8_t *msg;
        size_t len, used;
        int r = next_message(c, in, &msg, &len, &used);
        if (r == 0)
            break;
        if (r == -2) {
            struct fr_log_who who = mconn_who(c);
            FR_LOG_EVERY(10, 1000, FR_LOG_WARN, &who,
                         "metastore client: a %s message larger than hms.max_message (%zu bytes): closing the "
                         "connection",
                         c->framed ? "framed" : "unframed", c->w->router->hms_max_message);
            mconn_close(c, "message larger than hms.max_message");
            return;
        }
        struct tw_header h;
        if (r < 0 || tw_parse_header(c->proto, msg, len, NULL, &h) != TW_COMPLETE ||
            (h.type != TW_CALL && h.type != TW_ONEWAY)) {
            mconn_close(c, "not a Thrift call (bad version, size or framing)");
            return;
        }
        /* The message must outlive the input buffer's next read: copy. */
        uint8_t *copy = malloc(len ? len : 1);
        if (!copy) {
            mconn_close(c, "out of memory");
            return;
        }
        memcpy(copy, msg, len);
        buf_consume(in, used);
        if (!c->framed)
            scan_init(c);
        if (!set_state(c, MC_CALL)) {
            free(copy);
            return;
        }
        c->call = (struct mcall){ .started_ns = fr_mono_ns(), .kind = MCALL_NONE };
        snprintf(c->call.method, sizeof c->call.method, "%.*s", (int)(h.name_len < 127 ? h.name_len : 127),
                 (const char *)h.name);
        h.name = copy + (h.name - msg);
        c->call.rule = hms_rule_find((const char *)h.name, h.name_len);
        c->call.audit = audit_hms_begin(c->call.rule, c->proto, copy, len, &h);
        conn_handshake_done(&c->conn); /* its first whole call is in */
        conn_ref(&c->conn); /* the call's, dropped when it ends */
        __atomic_fetch_add(&c->w->in_flight, 1, __ATOMIC_RELAXED);
        update_read(c);
        hms_route_call(c, copy, len, &h); /* takes the copy; may answer at once */
    }
    update_read(c);
}

/* ---- the connection layer's callbacks ---- */

static void on_input(struct conn *conn)
{
    process_input(conn->owner);
}

/* Output went out: a reply in parts may go on, reading may start again. */
static void on_sent(struct conn *conn)
{
    struct mconn *c = conn->owner;
    if (c->state == MC_STALLED && pending(c) <= max_output(c) / 2 && set_state(c, MC_STREAMING))
        hms_route_resume(c);
    if (conn_closed(conn))
        return;
    if (!in_call(c) && pending(c) == 0 && conn_out(conn)->cap > ((size_t)4 << 20))
        buf_free(conn_out(conn)); /* after a big reply */
    update_read(c);
}

static void on_close(struct conn *conn, const char *why)
{
    struct mconn *c = conn->owner;
    struct worker *w = c->w;
    if (why) {
        struct fr_log_who who = mconn_who(c);
        FR_LOG_EVERY(10, 1000, FR_LOG_WARN, &who, "metastore client closed: %s", why);
    } else if (fr_log_on(FR_LOG_DEBUG)) {
        struct fr_log_who who = mconn_who(c);
        fr_log_conn(FR_LOG_DEBUG, &who, "metastore client closed");
    }
    bool had_call = in_call(c);
    set_state(c, MC_CLOSED);
    if (had_call) {
        hms_route_cancel(c);
        call_release(c); /* the connection's own reference is still held here */
    }
    if (c->sess)
        hms_pool_session_end(w->hup, c->sess->id); /* its own backend connections */
    if (c->prev)
        c->prev->next = c->next;
    else
        w->mconns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    w->nmconns--;
    worker_client_gone(w);
}

/* A call in hand waits on a metastore, not on the client. */
static bool mc_busy(struct conn *conn)
{
    return in_call(conn->owner);
}

static void on_free(struct conn *conn)
{
    struct mconn *c = conn->owner;
    count(c, c->state, -1);
    for (size_t i = 0; i < c->ngroups; i++)
        free(c->groups[i]);
    free(c->user);
    if (c->sess) {
        hms_session_free(c->sess);
        free(c->sess);
    }
    free(c);
}

static const struct conn_ops mconn_ops = {
    .on_input = on_input,
    .on_sent = on_sent,
    .on_close = on_close,
    .on_free = on_free,
    .busy = mc_busy,
};

void mconn_accept(struct conn_listener *l, int fd, const char *peer)
{
    struct worker *w = l->owner;
    if (!worker_client_admit(w, true, peer)) {
        close(fd);
        return;
    }
    struct mconn *c = calloc(1, sizeof *c);
    if (!c) {
        worker_client_gone(w);
        close(fd);
        return;
    }
    c->w = w;
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    c->state = MC_DETECT;
    count(c, MC_DETECT, 1);
    c->next = w->mconns;
    if (w->mconns)
        w->mconns->prev = c;
    w->mconns = c;
    w->nmconns++;
    conn_accepted(&c->conn, w->loop, fd, &mconn_ops, c, &w->socks[WS_HMS_CLIENT]);
    conn_set_timeouts(&c->conn, w->router->client_idle_timeout, w->router->client_handshake_timeout,
                      w->client_timeouts[1]);
    if (fr_log_on(FR_LOG_DEBUG)) {
        struct fr_log_who who = mconn_who(c);
        fr_log_conn(FR_LOG_DEBUG, &who, "metastore client connected");
    }
}

void mconn_drain_all(struct worker *w)
{
    for (struct mconn *c = w->mconns, *next; c; c = next) {
        next = c->next;
        if (c->state == MC_DETECT || c->state == MC_IDLE)
            mconn_close(c, NULL);
    }
}

void mconn_close_all(struct worker *w)
{
    while (w->mconns)
        mconn_close(w->mconns, NULL);
}
