#define _GNU_SOURCE
#include "hdfs_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "net.h"
#include "router.h"
#include "worker.h"

#define HC_READ_CHUNK (64u << 10)

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void hconn_close(struct hconn *c, const char *why);

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
    return buf_len(&c->out) < r->client_max_output && c->ncalls < r->client_max_inflight;
}

static void update_watchers(struct hconn *c)
{
    struct ev_loop *loop = c->w->loop;
    if (buf_len(&c->out))
        ev_io_start(loop, &c->ww);
    else
        ev_io_stop(loop, &c->ww);
    bool can_read = c->s.state != IPC_S_CLOSING && has_room(c);
    if (can_read)
        ev_io_start(loop, &c->rw);
    else
        ev_io_stop(loop, &c->rw);
}

static void flush(struct hconn *c)
{
    if (net_send_buf(c->fd, &c->out) == NET_ERROR) {
        hconn_close(c, "write failed");
        return;
    }
    if ((c->s.state == IPC_S_CLOSING || c->draining) && buf_len(&c->out) == 0 && c->ncalls == 0) {
        hconn_close(c, NULL);
        return;
    }
    update_watchers(c);
}

static void maybe_free(struct hconn *c)
{
    if (c->dead && !c->in_callback)
        free(c);
}

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

static void rcall_finish(struct rcall *rc, bool error)
{
    struct hconn *c = rc->c;
    uint64_t us = (now_ns() - rc->start_ns) / 1000;
    metrics_record(c->w->metrics, 0, metrics_name_id(rc->method), metrics_name_id(rc->ns), us, error);
    rcall_unlink(rc);
    free(rc);
    /* Replies from upstream callbacks must reach the socket now. */
    if (!c->in_callback && !c->dead) {
        c->in_callback = true;
        flush(c);
        /* This answer may be the room that requests already read were
         * waiting for; the client may send nothing more, so they are started
         * from the loop (on_write), not from inside an upstream callback. */
        if (!c->dead && buf_len(&c->in) && has_room(c))
            ev_feed_event(c->w->loop, &c->ww, EV_WRITE);
        c->in_callback = false;
        maybe_free(c);
    }
}

void hconn_reply_raw(struct rcall *rc, const uint8_t *msg, size_t len)
{
    if (!rc->c->dead)
        (void)ipc_write_reply_raw(&rc->c->out, &rc->ids, msg, len);
    rcall_finish(rc, false);
}

void hconn_reply_error_detail(struct rcall *rc, enum ipc_errdetail detail, const char *cls, const char *msg)
{
    if (!rc->c->dead)
        (void)ipc_write_error(&rc->c->out, &rc->ids, IPC_ERROR, detail, cls, msg);
    rcall_finish(rc, true);
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

static void process_input(struct hconn *c)
{
    while (!c->dead && has_room(c)) {
        struct ipc_call ic;
        size_t flen;
        enum ipc_snext n = ipc_sconn_next(&c->s, &c->in, &c->out, &ic, &flen);
        if (n == IPC_S_NEED_MORE)
            return;
        if (n == IPC_S_CLOSE) {
            if (c->s.close_reason) {
                struct fr_log_who who = hconn_who(c);
                FR_LOG_EVERY(10, 1000, FR_LOG_WARN, &who, "client: %s", c->s.close_reason);
            }
            return;
        }
        struct rcall *rc = calloc(1, sizeof *rc);
        if (!rc) {
            hconn_close(c, "out of memory");
            return;
        }
        rc->c = c;
        rc->start_ns = now_ns();
        rc->ns = "-";
        size_t cl = ic.hdr.client_id.len > IPC_CLIENT_ID_LEN ? IPC_CLIENT_ID_LEN : ic.hdr.client_id.len;
        memcpy(rc->cid, ic.hdr.client_id.p, cl);
        rc->ids = (struct ipc_ids){ ic.hdr.call_id, ic.hdr.retry_count, rc->cid, cl };
        ipc_span_copy(ic.method, rc->method, sizeof rc->method);
        rc->next = c->calls;
        if (c->calls)
            c->calls->prev = rc;
        c->calls = rc;
        c->ncalls++;
        __atomic_fetch_add(&c->w->in_flight, 1, __ATOMIC_RELAXED);
        if (c->draining)
            hconn_reply_error(rc, "org.apache.hadoop.ipc.StandbyException",
                              "router %s is shutting down; try another router", c->w->router->id);
        else
            hdfs_route_call(rc, &ic); /* may answer at once */
        if (!c->dead)
            buf_consume(&c->in, flen);
    }
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    struct hconn *c = w->data;
    c->in_callback = true;
    if (buf_reserve(&c->in, HC_READ_CHUNK) < 0) {
        hconn_close(c, "out of memory");
        goto out;
    }
    ssize_t n = recv(c->fd, buf_wptr(&c->in), buf_room(&c->in), 0);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            goto out;
        hconn_close(c, NULL);
        goto out;
    }
    buf_commit(&c->in, (size_t)n);
    process_input(c);
    if (!c->dead)
        flush(c);
out:
    c->in_callback = false;
    maybe_free(c);
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    struct hconn *c = w->data;
    c->in_callback = true;
    flush(c);
    if (!c->dead && buf_len(&c->in) && has_room(c)) {
        process_input(c);
        if (!c->dead)
            flush(c);
    }
    c->in_callback = false;
    maybe_free(c);
}

struct fr_log_who hconn_who(const struct hconn *c)
{
    return (struct fr_log_who){ .worker = c->w->id, .conn = c->id, .user = c->s.ctx.effective_user, .peer = c->peer };
}

static void hconn_close(struct hconn *c, const char *why)
{
    if (c->dead)
        return;
    struct worker *w = c->w;
    c->dead = true;
    if (why) {
        struct fr_log_who who = hconn_who(c);
        FR_LOG_EVERY(10, 1000, FR_LOG_WARN, &who, "client closed: %s", why);
    } else if (fr_log_on(FR_LOG_DEBUG)) {
        struct fr_log_who who = hconn_who(c);
        fr_log_conn(FR_LOG_DEBUG, &who, "client closed");
    }
    ev_io_stop(w->loop, &c->rw);
    ev_io_stop(w->loop, &c->ww);
    close(c->fd);
    c->fd = -1;
    while (c->calls) {
        struct rcall *rc = c->calls;
        hdfs_route_cancel(rc);
        rcall_unlink(rc);
        free(rc);
    }
    buf_free(&c->in);
    buf_free(&c->out);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    __atomic_fetch_sub(&w->nconns, 1, __ATOMIC_RELAXED);
}

void hconn_accept_cb(struct ev_loop *loop, ev_io *aw, int revents)
{
    struct worker *w = aw->data;
    for (int i = 0; i < 64; i++) {
        char peer[64];
        int fd = net_accept(w->hdfs_fd, peer, sizeof peer);
        if (fd < 0)
            return;
        struct hconn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->w = w;
        c->fd = fd;
        c->id = ++w->next_conn_id;
        ipc_sconn_init(&c->s, w->router->max_frame);
        snprintf(c->peer, sizeof c->peer, "%s", peer);
        ev_io_init(&c->rw, on_read, fd, EV_READ);
        ev_io_init(&c->ww, on_write, fd, EV_WRITE);
        c->rw.data = c->ww.data = c;
        ev_io_start(loop, &c->rw);
        c->next = w->conns;
        if (w->conns)
            w->conns->prev = c;
        w->conns = c;
        __atomic_fetch_add(&w->nconns, 1, __ATOMIC_RELAXED);
        if (fr_log_on(FR_LOG_DEBUG)) {
            struct fr_log_who who = hconn_who(c);
            fr_log_conn(FR_LOG_DEBUG, &who, "client connected");
        }
    }
}

void hconn_close_all(struct worker *w)
{
    while (w->conns) {
        struct hconn *c = w->conns;
        hconn_close(c, NULL);
        free(c);
    }
}
