/*
 * hms_up.c: backend metastore connections (see hms_up.h).
 *
 *   hms_up_send --idle conn of the key?--> write the call --> BUSY
 *               --else--> connect --> [set_ugi, wait its reply] --> write --> BUSY
 *   reply cut (frame or scan) --> done() --> IDLE (idle timer) or closed
 */
#define _GNU_SOURCE
#include "hms_up.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"

#define HU_READ_CHUNK (64u << 10)

enum hu_state { HU_CONNECTING, HU_UGI, HU_IDLE, HU_BUSY };

struct hms_upconn {
    struct hms_pool *pool;
    char *key;
    char addr[256];
    int fd;
    ev_io rw, ww;
    ev_timer idle;
    enum hu_state state;
    enum tw_proto proto;
    bool framed;
    struct buf in, out;
    struct buf pending;             /* the call's message, written once set_ugi is answered */
    struct tw_scan scan;
    struct hms_upcall *call;
    struct hms_upconn *prev, *next;
};

struct hms_pool {
    struct ev_loop *loop;
    double connect_timeout, call_timeout, idle_timeout;
    struct hms_upconn *conns;
    size_t nconns;
};

/* Replies are handed to done() from this per-thread buffer (see on_read);
 * the worker frees it with its pool. */
static __thread struct buf reply;

struct hms_pool *hms_pool_new(struct ev_loop *loop, double connect_timeout, double call_timeout, double idle_timeout)
{
    struct hms_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->loop = loop;
    p->connect_timeout = connect_timeout > 0 ? connect_timeout : 2.0;
    p->call_timeout = call_timeout > 0 ? call_timeout : 600.0;
    p->idle_timeout = idle_timeout > 0 ? idle_timeout : 60.0;
    return p;
}

static void conn_free(struct hms_upconn *c)
{
    struct hms_pool *p = c->pool;
    ev_io_stop(p->loop, &c->rw);
    ev_io_stop(p->loop, &c->ww);
    ev_timer_stop(p->loop, &c->idle);
    if (c->fd >= 0)
        close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        p->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    p->nconns--;
    buf_free(&c->in);
    buf_free(&c->out);
    buf_free(&c->pending);
    free(c->key);
    free(c);
}

/* Closes c; its call, if any, fails with why. */
static void conn_fail(struct hms_upconn *c, enum hms_up_status st, const char *why)
{
    struct hms_upcall *uc = c->call;
    c->call = NULL;
    if (uc) {
        uc->conn = NULL;
        ev_timer_stop(c->pool->loop, &uc->tmo);
    }
    char msg[400];
    snprintf(msg, sizeof msg, "metastore %s: %s", c->addr, why);
    conn_free(c);
    if (uc)
        uc->done(uc, st, NULL, 0, msg);
}

void hms_pool_free(struct hms_pool *p)
{
    if (!p)
        return;
    while (p->conns)
        conn_fail(p->conns, HMS_UP_DOWN, "the router is stopping");
    free(p);
    buf_free(&reply); /* called on the pool's own worker thread */
}

void hms_pool_counts(const struct hms_pool *p, size_t *open, size_t *idle)
{
    *open = p->nconns;
    *idle = 0;
    for (const struct hms_upconn *c = p->conns; c; c = c->next)
        if (c->state == HU_IDLE)
            (*idle)++;
}

static void update_io(struct hms_upconn *c)
{
    struct ev_loop *loop = c->pool->loop;
    if (buf_len(&c->out) || c->state == HU_CONNECTING)
        ev_io_start(loop, &c->ww);
    else
        ev_io_stop(loop, &c->ww);
    if (c->state != HU_CONNECTING)
        ev_io_start(loop, &c->rw);
}

/* Appends one message, framed when the backend wants frames. */
static int put_message(struct hms_upconn *c, const uint8_t *msg, size_t len)
{
    if (c->framed && tw_put_frame_len(&c->out, len) < 0)
        return -1;
    return buf_append(&c->out, msg, len);
}

/* ---- set_ugi, written by hand in both protocols ---- */




/* set_ugi_args { 1: string user_name, 2: list<string> group_names }. */
static int write_set_ugi(struct buf *b, enum tw_proto proto, const struct hms_ident *id)
{
    int16_t last = 0;
    int rc = tw_write_header(proto, b, (const uint8_t *)"set_ugi", 7, TW_CALL, 0);
    rc |= tw_put_field(proto, b, TW_T_STRING, 1, &last);
    rc |= tw_put_string(proto, b, id->user, strlen(id->user));
    rc |= tw_put_field(proto, b, TW_T_LIST, 2, &last);
    rc |= tw_put_list(proto, b, TW_T_STRING, id->ngroups);
    for (size_t i = 0; i < id->ngroups; i++)
        rc |= tw_put_string(proto, b, id->groups[i], strlen(id->groups[i]));
    rc |= tw_put_stop(b);
    return rc < 0 ? -1 : 0;
}

/* ---- I/O ---- */

static void start_call_io(struct hms_upconn *c)
{
    if (buf_len(&c->pending) && put_message(c, buf_rptr(&c->pending), buf_len(&c->pending)) < 0) {
        conn_fail(c, HMS_UP_DOWN, "out of memory");
        return;
    }
    buf_reset(&c->pending);
    c->state = HU_BUSY;
    tw_scan_init(&c->scan, c->proto, NULL);
    struct hms_upcall *uc = c->call;
    if (uc && uc->oneway) {
        /* No reply comes: the call is done once queued. */
        c->call = NULL;
        uc->conn = NULL;
        ev_timer_stop(c->pool->loop, &uc->tmo);
        c->state = HU_IDLE;
        ev_timer_again(c->pool->loop, &c->idle);
        uc->done(uc, HMS_UP_OK, NULL, 0, NULL);
    }
}

/* One reply is complete: msg/len. */
static void on_message(struct hms_upconn *c, const uint8_t *msg, size_t len)
{
    if (c->state == HU_UGI) {
        struct tw_header h;
        if (tw_parse_header(c->proto, msg, len, NULL, &h) != TW_COMPLETE || h.type != TW_REPLY) {
            conn_fail(c, HMS_UP_PROTO, "set_ugi was refused");
            return;
        }
        start_call_io(c);
        update_io(c);
        return;
    }
    struct hms_upcall *uc = c->call;
    c->call = NULL;
    if (uc) {
        uc->conn = NULL;
        ev_timer_stop(c->pool->loop, &uc->tmo);
    }
    c->state = HU_IDLE;
    ev_timer_again(c->pool->loop, &c->idle);
    if (uc)
        uc->done(uc, HMS_UP_OK, msg, len, NULL);
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    struct hms_upconn *c = w->data;
    if (buf_reserve(&c->in, HU_READ_CHUNK) < 0) {
        conn_fail(c, HMS_UP_DOWN, "out of memory");
        return;
    }
    ssize_t n = recv(c->fd, buf_wptr(&c->in), HU_READ_CHUNK, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        conn_fail(c, HMS_UP_DOWN, n == 0 ? "connection closed by the metastore" : strerror(errno));
        return;
    }
    buf_commit(&c->in, (size_t)n);
    if (c->state == HU_IDLE) {
        conn_fail(c, HMS_UP_PROTO, "bytes from the metastore with no call in flight");
        return;
    }
    const uint8_t *msg = NULL;
    size_t mlen = 0, used = 0;
    int rc;
    if (c->framed) {
        rc = tw_frame_cut(buf_rptr(&c->in), buf_len(&c->in), TW_DEFAULT_SIZE, &msg, &mlen, &used);
    } else {
        rc = tw_scan_feed(&c->scan, buf_rptr(&c->in), buf_len(&c->in), &mlen);
        msg = buf_rptr(&c->in);
        used = mlen;
    }
    if (rc == TW_NEED_MORE)
        return;
    if (rc != TW_COMPLETE || used != buf_len(&c->in)) {
        conn_fail(c, HMS_UP_PROTO, rc != TW_COMPLETE ? "malformed reply" : "bytes after the reply");
        return;
    }
    /* The connection may be freed or reused by done(): the reply moves to
     * a per-thread buffer (kept across replies: no allocation per call), and
     * the connection keeps its input buffer's room for the next one. */
    buf_reset(&reply);
    if (buf_append(&reply, msg, mlen) < 0) {
        conn_fail(c, HMS_UP_DOWN, "out of memory");
        return;
    }
    buf_reset(&c->in);
    on_message(c, buf_rptr(&reply), buf_len(&reply));
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    struct hms_upconn *c = w->data;
    if (c->state == HU_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
            conn_fail(c, HMS_UP_DOWN, err ? strerror(err) : "connect failed");
            return;
        }
        ev_timer_stop(loop, &c->idle);
        c->state = buf_len(&c->out) ? HU_UGI : HU_BUSY;
        if (c->state == HU_BUSY)
            start_call_io(c);
        else
            tw_scan_init(&c->scan, c->proto, NULL);
    }
    if (net_send_buf(c->fd, &c->out) == NET_ERROR) {
        conn_fail(c, HMS_UP_DOWN, "write failed");
        return;
    }
    update_io(c);
}

static void on_idle(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct hms_upconn *c = t->data;
    if (c->state == HU_IDLE)
        conn_free(c);
    else if (c->state == HU_CONNECTING)
        conn_fail(c, HMS_UP_DOWN, "connect timed out");
}

static void on_call_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct hms_upcall *uc = t->data;
    if (uc->conn)
        conn_fail(uc->conn, HMS_UP_TIMEOUT, "no reply within the call timeout");
}

static int open_fd(const char *addr, char *why, size_t whylen)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof host) {
        snprintf(why, whylen, "bad metastore address %s", addr);
        return -1;
    }
    snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST };
    struct addrinfo *ai = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) {
        hints.ai_flags = 0; /* a host name: resolved here, rarely (connections are pooled) */
        if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || !ai) {
            snprintf(why, whylen, "cannot resolve %s", addr);
            return -1;
        }
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
        snprintf(why, whylen, "%s: %s", addr, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

/* The pool key of a connection: address, protocol, framing, user and
 * groups. Written into k (cap bytes); false when it does not fit. */
static bool make_key(char *k, size_t cap, const char *addr, const struct hms_ident *id, enum tw_proto proto,
                     bool framed)
{
    int w = snprintf(k, cap, "%s\n%d%c\n%s", addr, (int)proto, framed ? 'f' : 'u',
                     id && id->user ? id->user : "");
    if (w < 0 || (size_t)w >= cap)
        return false;
    size_t used = (size_t)w;
    for (size_t i = 0; id && id->user && *id->user && i < id->ngroups; i++) {
        w = snprintf(k + used, cap - used, "\n%s", id->groups[i]);
        if (w < 0 || (size_t)w >= cap - used)
            return false;
        used += (size_t)w;
    }
    return true;
}

int hms_up_send(struct hms_pool *p, const char *addr, const struct hms_ident *id, enum tw_proto proto, bool framed,
                const uint8_t *msg, size_t len, struct hms_upcall *uc, char *why, size_t whylen)
{
    char key[2048];
    if (!make_key(key, sizeof key, addr, id, proto, framed)) {
        snprintf(why, whylen, "the user's name and groups are too long for a pool key");
        return -1;
    }
    struct hms_upconn *c = p->conns;
    while (c && !(c->state == HU_IDLE && strcmp(c->key, key) == 0))
        c = c->next;
    ev_timer_init(&uc->tmo, on_call_timeout, p->call_timeout, 0);
    uc->tmo.data = uc;
    if (c) {
        ev_timer_stop(p->loop, &c->idle);
        c->call = uc;
        uc->conn = c;
        ev_timer_start(p->loop, &uc->tmo);
        /* Connected and idle: the call goes straight to the output (only a
         * connection still opening keeps it in `pending`). */
        if (put_message(c, msg, len) < 0) {
            conn_fail(c, HMS_UP_DOWN, "out of memory");
            return 0;
        }
        start_call_io(c);
        update_io(c);
        return 0;
    }
    c = calloc(1, sizeof *c);
    if (!c || !(c->key = strdup(key))) {
        free(c);
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    c->fd = open_fd(addr, why, whylen);
    if (c->fd < 0) {
        free(c->key);
        free(c);
        return -1;
    }
    c->pool = p;
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    c->proto = proto;
    c->framed = framed;
    c->state = HU_CONNECTING;
    c->next = p->conns;
    if (p->conns)
        p->conns->prev = c;
    p->conns = c;
    p->nconns++;
    ev_io_init(&c->rw, on_read, c->fd, EV_READ);
    c->rw.data = c;
    ev_io_init(&c->ww, on_write, c->fd, EV_WRITE);
    c->ww.data = c;
    /* The idle timer doubles as the connect timer until connected. */
    ev_init(&c->idle, on_idle);
    c->idle.data = c;
    c->idle.repeat = p->idle_timeout;
    ev_timer_set(&c->idle, p->connect_timeout, p->idle_timeout);
    ev_timer_start(p->loop, &c->idle);
    c->call = uc;
    uc->conn = c;
    ev_timer_start(p->loop, &uc->tmo);
    int rc = buf_append(&c->pending, msg, len);
    if (rc == 0 && id && id->user && *id->user) {
        struct buf ugi = BUF_INIT;
        rc = write_set_ugi(&ugi, proto, id);
        if (rc == 0)
            rc = put_message(c, buf_rptr(&ugi), buf_len(&ugi));
        buf_free(&ugi);
    }
    if (rc < 0) {
        conn_fail(c, HMS_UP_DOWN, "out of memory");
        return 0;
    }
    update_io(c);
    return 0;
}

void hms_up_cancel(struct hms_upcall *uc)
{
    struct hms_upconn *c = uc->conn;
    if (!c)
        return;
    ev_timer_stop(c->pool->loop, &uc->tmo);
    c->call = NULL;
    uc->conn = NULL;
    conn_free(c);
}
