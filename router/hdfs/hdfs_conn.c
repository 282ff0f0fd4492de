/*
 * hdfs_conn.c: HDFS clients on the connection layer. The conn module reads
 * the socket and calls hc_input with the bytes in conn_in(); everything the
 * router says to the client (handshake answers from the codec, replies)
 * goes into conn_out(), one whole frame at a time followed by conn_out_end.
 *
 * Integrity/privacy: when the client's SASL exchange ends with a security
 * layer (SSF > 0), a SASL transport goes on the connection before any byte
 * after the SUCCESS is parsed: every reply frame then leaves as one WRAP
 * frame, and WRAP frames from the client are unwrapped (plain ones pass, as
 * Hadoop's server accepts them).
 */
#define _GNU_SOURCE
#include "audit.h"
#include "clock.h"
#include "hdfs_conn.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jexc.h"
#include "log.h"
#include "methods.h"
#include "metrics.h"
#include "router.h"
#include "sasl_layer.h"
#include "sasl_server.h"
#include "worker.h"

/* ---- protocol state ---- */

static const char *const state_names[HC_NSTATES] = {
    [HC_HANDSHAKE] = "handshake", [HC_CALLS] = "calls",   [HC_DRAINING] = "draining",
    [HC_CLOSING] = "closing",     [HC_CLOSED] = "closed",
};

const char *hconn_state_name(enum hconn_state s) { return (unsigned)s < HC_NSTATES ? state_names[s] : "?"; }

/* allowed[from][to]; CLOSED is reachable from every open state (the socket
 * may fail at any time) and leads nowhere. */
static const bool allowed[HC_NSTATES][HC_NSTATES] = {
    [HC_HANDSHAKE] = { [HC_CALLS] = true, [HC_DRAINING] = true, [HC_CLOSING] = true, [HC_CLOSED] = true },
    [HC_CALLS] = { [HC_DRAINING] = true, [HC_CLOSING] = true, [HC_CLOSED] = true },
    [HC_DRAINING] = { [HC_CLOSING] = true, [HC_CLOSED] = true },
    [HC_CLOSING] = { [HC_CLOSED] = true },
};

static void count(struct hconn *c, enum hconn_state s, int64_t d)
{
    __atomic_fetch_add(&c->w->hdfs_states.n[s], d, __ATOMIC_RELAXED);
}

/*
 * The one place an hconn changes protocol state. false: the move is not in
 * the table, which is a bug: debug builds stop here; release builds leave
 * the state alone and the caller closes the connection with a reason.
 */
static bool hc_move(struct hconn *c, enum hconn_state to)
{
    if (!allowed[c->state][to]) {
        struct fr_log_who who = hconn_who(c);
        fr_log_conn(FR_LOG_ERROR, &who, "impossible client state change %s -> %s", hconn_state_name(c->state),
                    hconn_state_name(to));
        assert(!"impossible HDFS client state change");
        return false;
    }
    count(c, c->state, -1);
    count(c, to, 1);
    c->state = to;
    return true;
}

static void move_or_close(struct hconn *c, enum hconn_state to)
{
    if (!hc_move(c, to))
        conn_close(&c->conn, "impossible client state change");
}

/* ---- flow control ---- */

/*
 * Back-pressure: a client is read (and its buffered requests started) only
 * while it has fewer than client.max_inflight calls unanswered and fewer
 * than client.max_output reply bytes waiting for it. So a client that
 * pipelines calls and does not read its replies holds at most that much of
 * the router's memory (plus the replies of the calls already started).
 */
static bool has_room(const struct hconn *c)
{
    const struct router *r = c->w->router;
    return conn_out_pending(&c->conn) < r->client_max_output && c->ncalls < r->client_max_inflight;
}

static void want_input(struct hconn *c)
{
    conn_want_read(&c->conn,
                   (c->state == HC_HANDSHAKE || c->state == HC_CALLS || c->state == HC_DRAINING) && has_room(c));
}

/*
 * After input was handled or output went out: a connection that the codec
 * ended, or that drains, closes once no call is in flight (after its output
 * is sent); any other is read while it has room. May close the connection:
 * the caller holds a reference.
 */
static void settle(struct hconn *c)
{
    if (conn_closed(&c->conn))
        return;
    if ((c->state == HC_CLOSING || c->state == HC_DRAINING) && c->ncalls == 0) {
        conn_close_after_flush(&c->conn);
        return;
    }
    want_input(c);
}

/* ---- calls ---- */

static void rcall_unlink(struct rcall *rc)
{
    struct hconn *c = rc->c;
    if (rc->prev)
        rc->prev->next = rc->next;
    else
        c->calls = rc->next;
    if (rc->next)
        rc->next->prev = rc->prev;
    c->ncalls--;
    __atomic_fetch_sub(&c->w->in_flight, 1, __ATOMIC_RELAXED);
}

/* The reply (or its failure, wrote != IPC_OK) is in the output queue: the
 * call is done. */
static void rcall_finish(struct rcall *rc, bool error, int wrote)
{
    struct hconn *c = rc->c;
    uint64_t us = (fr_mono_ns() - rc->start_ns) / 1000;
    metrics_record(c->w->metrics, 0, metrics_name_id(rc->method), metrics_name_id(rc->ns), us, error);
    rcall_unlink(rc);
    free(rc);
    conn_ref(&c->conn); /* a close frees c at the last unref */
    if (wrote != IPC_OK) {
        conn_close(&c->conn, wrote == IPC_ENOMEM ? "out of memory writing a reply" : "a reply too large to send");
    } else if (conn_out_end(&c->conn) < 0) {
        conn_close(&c->conn, "out of memory queueing a reply");
    } else {
        /* The reply must reach the socket, and this answer may be the room
         * that requests already read were waiting for (the client may send
         * nothing more): both happen from the loop, not from inside an
         * upstream callback or the parse loop. */
        want_input(c);
        conn_kick(&c->conn);
    }
    conn_unref(&c->conn);
}

void hconn_reply_raw(struct rcall *rc, const uint8_t *msg, size_t len)
{
    audit_hdfs_end(rc, NULL);
    int wrote = ipc_write_reply_raw(conn_out(&rc->c->conn), &rc->ids, msg, len);
    rcall_finish(rc, false, wrote);
}

void hconn_reply_error_detail(struct rcall *rc, enum ipc_errdetail detail, const char *cls, const char *msg)
{
    audit_hdfs_end(rc, cls);
    int wrote = ipc_write_error(conn_out(&rc->c->conn), &rc->ids, IPC_ERROR, detail, cls, msg);
    rcall_finish(rc, true, wrote);
}

void hconn_reply_error(struct rcall *rc, const char *cls, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    hconn_reply_error_detail(rc, IPC_ERR_APPLICATION, cls, msg);
}

/* A call read off the wire: on the connection's list until answered. */
static struct rcall *rcall_new(struct hconn *c, const struct ipc_call *ic)
{
    struct rcall *rc = calloc(1, sizeof *rc);
    if (!rc)
        return NULL;
    rc->c = c;
    rc->start_ns = fr_mono_ns();
    rc->ns = "-";
    size_t cl = ic->hdr.client_id.len > IPC_CLIENT_ID_LEN ? IPC_CLIENT_ID_LEN : ic->hdr.client_id.len;
    memcpy(rc->cid, ic->hdr.client_id.p, cl);
    rc->ids = (struct ipc_ids){ ic->hdr.call_id, ic->hdr.retry_count, rc->cid, cl };
    ipc_span_copy(ic->method, rc->method, sizeof rc->method);
    rc->row = method_lookup_cstr(rc->method);
    rc->audit = audit_hdfs_begin(rc->row, rc->method, ic->param.p, ic->param.len);
    rc->next = c->calls;
    if (c->calls)
        c->calls->prev = rc;
    c->calls = rc;
    c->ncalls++;
    __atomic_fetch_add(&c->w->in_flight, 1, __ATOMIC_RELAXED);
    return rc;
}

/* ---- SASL security layer ---- */

/* The exchange just ended: with a layer, the transport goes on now.
 * Returns false when the connection was closed. */
static bool start_layer(struct hconn *c)
{
    unsigned ssf = auth_session_ssf(c->auth);
    if (ssf == 0)
        return true;
    struct fr_log_who who = hconn_who(c);
    who.user = auth_session_user(c->auth); /* the context comes later */
    if (fr_log_on(FR_LOG_DEBUG))
        fr_log_conn(FR_LOG_DEBUG, &who, "SASL security layer: %s (ssf %u)", ssf > 1 ? "privacy" : "integrity", ssf);
    if (sasl_layer_install(&c->conn, SASL_LAYER_SERVER, auth_session_layer(c->auth), ssf, c->s.max_frame, &who) < 0) {
        if (!conn_closed(&c->conn))
            conn_close(&c->conn, "out of memory");
        return false;
    }
    return true;
}

/* ---- conn callbacks ---- */

/* New input (or room for it): run the codec over it while there is room.
 * The conn module holds a reference on c while this runs. */
static void hc_input(struct conn *cn)
{
    struct hconn *c = cn->owner;
    struct buf *in = conn_in(cn);
    while (!conn_closed(cn) && c->state != HC_CLOSING && has_room(c)) {
        struct ipc_call ic;
        size_t flen;
        enum ipc_snext n = ipc_sconn_next(&c->s, in, conn_out(cn), &ic, &flen);
        /* The codec appends only whole frames (handshake answers, FATAL). */
        if (conn_out_end(cn) < 0) {
            conn_close(cn, "out of memory");
            return;
        }
        if (c->state == HC_HANDSHAKE && c->s.state == IPC_S_CALLS) {
            conn_handshake_done(cn);
            move_or_close(c, HC_CALLS);
            if (conn_closed(cn))
                return;
        }
        if (n == IPC_S_NEED_MORE && c->auth && c->s.authenticated && c->s.state == IPC_S_CONTEXT && !cn->xprt &&
            auth_session_ssf(c->auth) > 0) {
            /* The codec stopped right after SASL SUCCESS: what follows is
             * read through the layer. */
            if (!start_layer(c))
                return;
            in = conn_in(cn);
            continue;
        }
        if (n == IPC_S_NEED_MORE)
            break;
        if (n == IPC_S_CLOSE) {
            if (c->s.close_reason) {
                struct fr_log_who who = hconn_who(c);
                FR_LOG_EVERY(10, 1000, FR_LOG_WARN, &who, "client: %s", c->s.close_reason);
            }
            move_or_close(c, HC_CLOSING);
            break;
        }
        struct rcall *rc = rcall_new(c, &ic);
        if (!rc) {
            conn_close(cn, "out of memory");
            return;
        }
        if (c->state == HC_DRAINING)
            hconn_reply_error(rc, JEXC_STANDBY,
                              "router %s is shutting down; try another router", c->w->router->id);
        else
            hdfs_route_call(rc, &ic); /* may answer at once; rc is then gone */
        if (conn_closed(cn))
            return;
        buf_consume(in, flen);
    }
    settle(c);
}

/* Output went out on a write event: there may be room to read again, or a
 * closing connection may be done. */
static void hc_sent(struct conn *cn) { settle(cn->owner); }

static void hc_close(struct conn *cn, const char *why)
{
    struct hconn *c = cn->owner;
    struct worker *w = c->w;
    if (why) {
        struct fr_log_who who = hconn_who(c);
        FR_LOG_EVERY(10, 1000, FR_LOG_WARN, &who, "client closed: %s", why);
    } else if (fr_log_on(FR_LOG_DEBUG)) {
        struct fr_log_who who = hconn_who(c);
        fr_log_conn(FR_LOG_DEBUG, &who, "client closed");
    }
    hc_move(c, HC_CLOSED); /* allowed from every open state */
    while (c->calls) {
        struct rcall *rc = c->calls;
        hdfs_route_cancel(rc);
        rcall_unlink(rc);
        audit_call_free(rc->audit); /* never answered: no line */
        free(rc);
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    __atomic_fetch_sub(&w->nconns, 1, __ATOMIC_RELAXED);
    worker_client_gone(w);
}

/* Calls in flight: the client waits for the router, not the reverse. */
static bool hc_busy(struct conn *cn)
{
    const struct hconn *c = cn->owner;
    return c->ncalls > 0;
}

static void hc_free(struct conn *cn)
{
    struct hconn *c = cn->owner;
    count(c, c->state, -1);
    auth_session_free(c->auth);
    free(c);
}

static const struct conn_ops hconn_ops = {
    .on_input = hc_input,
    .on_sent = hc_sent,
    .on_close = hc_close,
    .on_free = hc_free,
    .busy = hc_busy,
};

struct fr_log_who hconn_who(const struct hconn *c)
{
    return (struct fr_log_who){ .worker = c->w->id, .conn = c->id, .user = c->s.ctx.effective_user, .peer = c->peer };
}

void hconn_accept(struct conn_listener *l, int fd, const char *peer)
{
    struct worker *w = l->owner;
    if (!worker_client_admit(w, false, peer)) {
        close(fd); /* as Hadoop's own server does past ipc.server.max.connections */
        return;
    }
    struct hconn *c = calloc(1, sizeof *c);
    if (!c) {
        worker_client_gone(w);
        close(fd);
        return;
    }
    c->w = w;
    c->id = ++w->next_conn_id;
    c->state = HC_HANDSHAKE;
    count(c, HC_HANDSHAKE, 1);
    ipc_sconn_init(&c->s, w->router->max_frame);
    /* Kerberos configured: the codec asks this connection's SASL session
     * what to offer and how each step goes. */
    if (w->router->auth && !(c->auth = auth_session_new(w->router->auth))) {
        count(c, HC_HANDSHAKE, -1);
        free(c);
        close(fd);
        return;
    }
    if (c->auth) {
        auth_session_set_peer(c->auth, fd); /* proxy-user host rules */
        ipc_sconn_set_auth(&c->s, &auth_ipc_ops, c->auth);
    }
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    __atomic_fetch_add(&w->nconns, 1, __ATOMIC_RELAXED);
    conn_accepted(&c->conn, w->loop, fd, &hconn_ops, c, &w->socks[WS_HDFS_CLIENT]);
    conn_set_timeouts(&c->conn, w->router->client_idle_timeout, w->router->client_handshake_timeout,
                      w->client_timeouts[0]);
    if (fr_log_on(FR_LOG_DEBUG)) {
        struct fr_log_who who = hconn_who(c);
        fr_log_conn(FR_LOG_DEBUG, &who, "client connected");
    }
}

void hconn_drain_all(struct worker *w)
{
    for (struct hconn *c = w->conns, *next; c; c = next) {
        next = c->next;
        if (c->state != HC_HANDSHAKE && c->state != HC_CALLS)
            continue;
        conn_ref(&c->conn);
        move_or_close(c, HC_DRAINING);
        settle(c); /* idle: closes now; else once its calls are answered */
        conn_unref(&c->conn);
    }
}

void hconn_close_all(struct worker *w)
{
    while (w->conns)
        conn_close(&w->conns->conn, NULL); /* unlinks it; freed at its last reference */
}
