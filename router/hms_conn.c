/*
 * hms_conn.c: metastore client connections (see hms_conn.h).
 */
#define _GNU_SOURCE
#include "hms_conn.h"

#include <errno.h>
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

#define MC_READ_CHUNK (64u << 10)
#define MC_MAX_FRAME (16384000u)        /* Java's default frame limit */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct mconn_state {
    bool in_callback;
    bool dead;
};

/* The flags live beside the connection in one allocation. */
struct mconn_box {
    struct mconn c;
    struct mconn_state s;
};

#define STATE(c) (&((struct mconn_box *)(c))->s)

static void process_input(struct mconn *c);

/* Reply bytes queued for the client at which reading pauses: its input,
 * and a backend that sends a reply in parts. */
static size_t max_output(const struct mconn *c)
{
    size_t m = c->w->router->client_max_output;
    return m ? m : (size_t)64 << 20;
}

static void mconn_free(struct mconn *c)
{
    for (size_t i = 0; i < c->ngroups; i++)
        free(c->groups[i]);
    free(c->user);
    if (c->sess) {
        hms_session_free(c->sess);
        free(c->sess);
    }
    buf_free(&c->in);
    buf_free(&c->out);
    free((struct mconn_box *)c);
}

struct fr_log_who mconn_who(const struct mconn *c)
{
    return (struct fr_log_who){ .worker = c->w->id, .user = c->user, .peer = c->peer };
}

static void mconn_close(struct mconn *c, const char *why)
{
    struct mconn_state *s = STATE(c);
    if (s->dead)
        return;
    struct worker *w = c->w;
    s->dead = true;
    if (why) {
        struct fr_log_who who = mconn_who(c);
        FR_LOG_EVERY(10, 1000, FR_LOG_WARN, &who, "metastore client closed: %s", why);
    } else if (fr_log_on(FR_LOG_DEBUG)) {
        struct fr_log_who who = mconn_who(c);
        fr_log_conn(FR_LOG_DEBUG, &who, "metastore client closed");
    }
    if (c->busy)
        hms_route_cancel(c);
    if (c->sess)
        hms_pool_session_end(w->hup, c->sess->id); /* its own backend connections */
    ev_io_stop(w->loop, &c->rw);
    ev_io_stop(w->loop, &c->ww);
    close(c->fd);
    c->fd = -1;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->mconns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nmconns--;
    if (!s->in_callback)
        mconn_free(c);
}

static void update_io(struct mconn *c)
{
    struct ev_loop *loop = c->w->loop;
    if (buf_len(&c->out))
        ev_io_start(loop, &c->ww);
    else
        ev_io_stop(loop, &c->ww);
    if (!c->closing && !c->busy && buf_len(&c->out) < max_output(c))
        ev_io_start(loop, &c->rw);
    else
        ev_io_stop(loop, &c->rw);
}

static void flush(struct mconn *c)
{
    if (net_send_buf(c->fd, &c->out) == NET_ERROR) {
        mconn_close(c, "write failed");
        return;
    }
    if (c->closing && buf_len(&c->out) == 0) {
        mconn_close(c, NULL);
        return;
    }
    if (!c->busy && buf_len(&c->out) == 0 && c->out.cap > ((size_t)4 << 20))
        buf_free(&c->out); /* after a big reply */
    if (c->stalled && buf_len(&c->out) <= max_output(c) / 2) {
        c->stalled = false;
        if (c->route_resume)
            c->route_resume(c);
    }
    update_io(c);
}

static void record(struct mconn *c, bool error)
{
    uint64_t us = (now_ns() - c->started_ns) / 1000;
    metrics_record(c->w->metrics, 1, metrics_name_id(c->method), metrics_name_id(c->ms ? c->ms : "-"), us, error);
}

static void call_finished(struct mconn *c)
{
    c->busy = false;
    c->route = NULL;
    c->route_cancel = NULL;
    c->route_resume = NULL;
    c->stalled = false;
    c->ms = NULL;
    __atomic_fetch_sub(&c->w->in_flight, 1, __ATOMIC_RELAXED);
    if (STATE(c)->dead)
        return;
    if (!STATE(c)->in_callback) {
        STATE(c)->in_callback = true;
        process_input(c);
        if (!STATE(c)->dead)
            flush(c);
        STATE(c)->in_callback = false;
        if (STATE(c)->dead)
            mconn_free(c);
    }
}

/* An EXCEPTION message, or a REPLY whose result holds a declared exception
 * (any field but 0, success) counts as an error in the metrics. */
static bool reply_is_error(const struct mconn *c, const uint8_t *msg, size_t len)
{
    struct tw_header h;
    if (tw_parse_header(c->proto, msg, len, NULL, &h) != TW_COMPLETE)
        return true;
    if (h.type != TW_REPLY)
        return h.type == TW_EXCEPTION;
    const uint8_t *b = msg + h.body_off;
    size_t bl = len - h.body_off;
    if (bl == 0 || b[0] == 0)
        return false; /* void success */
    if (c->proto == TW_BINARY)
        return bl >= 3 && (b[1] != 0 || b[2] != 0);
    if (b[0] >> 4)
        return true; /* compact short form: a delta from 0, so an id above 0 */
    return bl >= 2 && b[1] != 0; /* long form: zigzag id, 0 for success */
}

void mconn_reply(struct mconn *c, const uint8_t *msg, size_t len)
{
    if (!STATE(c)->dead) {
        bool error = reply_is_error(c, msg, len);
        if (c->framed)
            tw_put_frame_len(&c->out, len);
        buf_append(&c->out, msg, len);
        record(c, error);
    }
    call_finished(c);
}

struct buf *mconn_reply_buf(struct mconn *c)
{
    return &c->out;
}

bool mconn_reply_flowing(struct mconn *c)
{
    if (STATE(c)->dead)
        return true; /* the route is being cancelled: nothing waits for this */
    if (buf_len(&c->out))
        ev_io_start(c->w->loop, &c->ww); /* written from the loop, not from the backend's callback */
    if (buf_len(&c->out) < max_output(c))
        return true;
    c->stalled = true;
    return false;
}

void mconn_reply_end(struct mconn *c)
{
    if (!STATE(c)->dead)
        record(c, false);
    call_finished(c);
}

void mconn_reply_abort(struct mconn *c, const char *why)
{
    if (!STATE(c)->dead) {
        struct fr_log_who who = mconn_who(c);
        FR_LOG_EVERY(10, 1000, FR_LOG_WARN, &who,
                     "metastore client: a reply broke off after part of it was sent (%s): closing the connection", why);
        record(c, true);
    }
    mconn_close_after_write(c);
}

void mconn_done_noreply(struct mconn *c)
{
    if (!STATE(c)->dead)
        record(c, false);
    call_finished(c);
}

void mconn_close_after_write(struct mconn *c)
{
    c->closing = true;
    if (c->busy)
        call_finished(c);
}

void mconn_ident(const struct mconn *c, struct hms_ident *id)
{
    id->user = c->ugi_set ? c->user : NULL;
    id->groups = (const char *const *)c->groups;
    id->ngroups = c->ugi_set ? c->ngroups : 0;
    id->sess = c->sess && c->sess->id ? c->sess : NULL;
}

/* Cuts the next whole message from the input; 1 with msg/len/used, 0 for
 * more bytes, -1 when the client sent something that is not Thrift. */
static int next_message(struct mconn *c, const uint8_t **msg, size_t *len, size_t *used)
{
    if (!c->detected) {
        int d = tw_detect(buf_rptr(&c->in), buf_len(&c->in), &c->proto, &c->framed);
        if (d == TW_NEED_MORE)
            return 0;
        if (d != TW_COMPLETE)
            return -1;
        c->detected = true;
        tw_scan_init(&c->scan, c->proto, NULL);
    }
    int rc;
    if (c->framed) {
        rc = tw_frame_cut(buf_rptr(&c->in), buf_len(&c->in), MC_MAX_FRAME, msg, len, used);
    } else {
        rc = tw_scan_feed(&c->scan, buf_rptr(&c->in), buf_len(&c->in), len);
        *msg = buf_rptr(&c->in);
        *used = *len;
    }
    if (rc == TW_NEED_MORE)
        return 0;
    return rc == TW_COMPLETE ? 1 : -1;
}

static void process_input(struct mconn *c)
{
    while (!STATE(c)->dead && !c->busy && !c->closing && buf_len(&c->in) && buf_len(&c->out) < max_output(c)) {
        const uint8_t *msg;
        size_t len, used;
        int r = next_message(c, &msg, &len, &used);
        if (r == 0)
            return;
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
        buf_consume(&c->in, used);
        if (!c->framed)
            tw_scan_init(&c->scan, c->proto, NULL);
        snprintf(c->method, sizeof c->method, "%.*s", (int)(h.name_len < 127 ? h.name_len : 127),
                 (const char *)h.name);
        h.name = copy + (h.name - msg);
        c->busy = true;
        c->started_ns = now_ns();
        __atomic_fetch_add(&c->w->in_flight, 1, __ATOMIC_RELAXED);
        hms_route_call(c, copy, len, &h); /* takes the copy; may answer at once */
    }
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    struct mconn *c = w->data;
    struct mconn_state *s = STATE(c);
    s->in_callback = true;
    if (buf_reserve(&c->in, MC_READ_CHUNK) < 0) {
        mconn_close(c, "out of memory");
        goto out;
    }
    ssize_t n = recv(c->fd, buf_wptr(&c->in), buf_room(&c->in), 0);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            goto out;
        mconn_close(c, NULL);
        goto out;
    }
    buf_commit(&c->in, (size_t)n);
    process_input(c);
    if (!s->dead)
        flush(c);
out:
    s->in_callback = false;
    if (s->dead)
        mconn_free(c);
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    struct mconn *c = w->data;
    struct mconn_state *s = STATE(c);
    s->in_callback = true;
    flush(c);
    if (!s->dead && !c->busy && buf_len(&c->in)) {
        /* Calls that waited for the output to drain. */
        process_input(c);
        if (!s->dead)
            flush(c);
    }
    s->in_callback = false;
    if (s->dead)
        mconn_free(c);
}

void mconn_accept_cb(struct ev_loop *loop, ev_io *aw, int revents)
{
    struct worker *w = aw->data;
    for (int i = 0; i < 64; i++) {
        char peer[64];
        int fd = net_accept(w->hms_fd, peer, sizeof peer);
        if (fd < 0)
            return;
        struct mconn_box *b = calloc(1, sizeof *b);
        if (!b) {
            close(fd);
            continue;
        }
        struct mconn *c = &b->c;
        c->w = w;
        c->fd = fd;
        snprintf(c->peer, sizeof c->peer, "%s", peer);
        ev_io_init(&c->rw, on_read, fd, EV_READ);
        ev_io_init(&c->ww, on_write, fd, EV_WRITE);
        c->rw.data = c->ww.data = c;
        ev_io_start(loop, &c->rw);
        c->next = w->mconns;
        if (w->mconns)
            w->mconns->prev = c;
        w->mconns = c;
        w->nmconns++;
        if (fr_log_on(FR_LOG_DEBUG)) {
            struct fr_log_who who = mconn_who(c);
            fr_log_conn(FR_LOG_DEBUG, &who, "metastore client connected");
        }
    }
}

void mconn_close_all(struct worker *w)
{
    while (w->mconns)
        mconn_close(w->mconns, NULL);
}
