/*
 * admin.c: the admin endpoint's loop. Its listener and HTTP connections are
 * the connection layer's (conn.h), the same code the workers' sockets use;
 * this file only cuts the request head and writes the answer.
 */
#define _GNU_SOURCE
#include "admin.h"

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "metrics.h"
#include "net.h"

#define ADMIN_MAX_REQ 8192
#define ADMIN_READ_CHUNK 2048
#define ADMIN_TIMEOUT_S 5.0

struct admin_conn;

struct admin {
    struct ev_loop *loop;
    int fd, port;
    struct conn_listener listener;
    ev_async stop_w;
    pthread_t thr;
    admin_health_fn health;
    void *arg;
    void *_Atomic page_arg;             /* admin_set_pages: arg stored before fn */
    _Atomic(admin_page_fn) page_fn;
    struct admin_conn *conns;           /* open HTTP connections, closed at stop */
};

/* One HTTP connection: read one request, answer it, close. */
struct admin_conn {
    struct conn conn;                   /* socket and buffers (conn.h); conn.owner is this */
    struct admin *a;
    ev_timer tmo;                       /* the whole exchange must end within ADMIN_TIMEOUT_S */
    struct admin_conn *prev, *next;     /* on a->conns until closed */
};

/* Queues one whole HTTP response; false when out of memory. */
static bool respond(struct admin_conn *c, int code, const char *reason, const char *ctype, struct buf *body)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", code,
                     reason, ctype, buf_len(body));
    struct buf *out = conn_out(&c->conn);
    /* Room for all of it first, so that a failure leaves no half answer. */
    if (buf_reserve(out, (size_t)n + buf_len(body)) < 0)
        return false;
    buf_append(out, head, (size_t)n);
    if (buf_len(body))
        buf_append(out, buf_rptr(body), buf_len(body));
    return conn_out_end(&c->conn) == 0;
}

static bool starts(const uint8_t *p, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && memcmp(p, prefix, k) == 0;
}

/* Whether the request line's query string has parameter `name` (with or
 * without a value). */
static bool has_param(const uint8_t *req, size_t len, const char *name)
{
    const uint8_t *q = memchr(req, '?', len), *end = memchr(req, ' ', len);
    if (end)
        end = memchr(end + 1, ' ', len - (size_t)(end + 1 - req)); /* the end of the target */
    if (!q || !end || q > end)
        return false;
    size_t k = strlen(name);
    for (const uint8_t *p = q + 1; p < end;) {
        const uint8_t *amp = memchr(p, '&', (size_t)(end - p));
        const uint8_t *stop = amp ? amp : end;
        if ((size_t)(stop - p) >= k && memcmp(p, name, k) == 0 && (p + k == stop || p[k] == '='))
            return true;
        p = stop + 1;
    }
    return false;
}

/* A GET the page callback answers: true when it did (ok says whether the
 * answer was queued). */
static bool serve_page(struct admin_conn *c, const uint8_t *req, size_t len, struct buf *body, bool *ok)
{
    admin_page_fn fn = atomic_load_explicit(&c->a->page_fn, memory_order_acquire);
    if (!fn || !starts(req, len, "GET /"))
        return false;
    const uint8_t *target = req + 4, *end = memchr(target, ' ', len - 4);
    if (!end)
        return false;
    struct admin_page page = { body, "text/plain", 200 };
    if (!fn((const char *)target, (size_t)(end - target), &page, atomic_load(&c->a->page_arg)))
        return false;
    *ok = respond(c, page.code, page.code == 200 ? "OK" : page.code == 404 ? "Not Found" : "Bad Request",
                  page.ctype, body);
    return true;
}

static void handle_request(struct admin_conn *c)
{
    const uint8_t *req = buf_rptr(conn_in(&c->conn));
    size_t len = buf_len(conn_in(&c->conn));
    struct buf body = BUF_INIT;
    bool ok;
    if (starts(req, len, "GET /metrics ") || starts(req, len, "GET /metrics?")) {
        metrics_render(&body);
        ok = respond(c, 200, "OK", "text/plain; version=0.0.4", &body);
    } else if (starts(req, len, "GET /healthz ") || starts(req, len, "GET /healthz?") ||
               starts(req, len, "GET /readyz ") || starts(req, len, "GET /readyz?")) {
        enum admin_check what = ADMIN_HEALTH;
        if (req[5] == 'r')
            what = ADMIN_READY;
        else if (has_param(req, len, "verbose"))
            what = ADMIN_HEALTH_VERBOSE;
        bool yes = c->a->health ? c->a->health(&body, what, c->a->arg) : true;
        buf_append(&body, "\n", 1);
        ok = respond(c, yes ? 200 : 503, yes ? "OK" : "Service Unavailable",
                     what == ADMIN_HEALTH_VERBOSE ? "application/json" : "text/plain", &body);
    } else if (serve_page(c, req, len, &body, &ok)) {
        /* the page callback answered */
    } else {
        static const char nf[] = "not found: GET /, /status.json, /resolve?path=, /metrics, /healthz or /readyz\n";
        buf_append(&body, nf, sizeof nf - 1);
        ok = respond(c, 404, "Not Found", "text/plain", &body);
    }
    buf_free(&body);
    if (!ok)
        conn_close(&c->conn, "out of memory writing a response");
}

/* Waits for the end of the request head, then answers and closes once the
 * answer is sent. */
static void ac_input(struct conn *cn)
{
    struct admin_conn *c = cn->owner;
    const struct buf *in = conn_in(cn);
    const void *p = buf_rptr(in);
    size_t n = buf_len(in);
    if (!memmem(p, n, "\r\n\r\n", 4) && !memmem(p, n, "\n\n", 2)) {
        if (n > ADMIN_MAX_REQ)
            conn_close(cn, "request too large");
        return;
    }
    conn_want_read(cn, false);
    handle_request(c);
    conn_close_after_flush(cn);
}

static void ac_close(struct conn *cn, const char *reason)
{
    struct admin_conn *c = cn->owner;
    ev_timer_stop(c->a->loop, &c->tmo);
    if (c->prev)
        c->prev->next = c->next;
    else
        c->a->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
}

static void ac_free(struct conn *cn)
{
    free(cn->owner);
}

static const struct conn_ops admin_conn_ops = {
    .on_input = ac_input,
    .on_close = ac_close,
    .on_free = ac_free,
};

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct admin_conn *c = w->data;
    conn_close(&c->conn, "timed out");
}

static void on_accept(struct conn_listener *l, int fd, const char *peer)
{
    struct admin *a = l->owner;
    struct admin_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->a = a;
    ev_timer_init(&c->tmo, on_timeout, ADMIN_TIMEOUT_S, 0);
    c->tmo.data = c;
    ev_timer_start(a->loop, &c->tmo);
    c->next = a->conns;
    if (a->conns)
        a->conns->prev = c;
    a->conns = c;
    conn_accepted(&c->conn, a->loop, fd, &admin_conn_ops, c, NULL);
    c->conn.read_chunk = ADMIN_READ_CHUNK;
    conn_listener_adopt(l, &c->conn); /* taken on the spare: the slot goes back to it at the close */
}

static void on_stop(struct ev_loop *loop, ev_async *w, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

static void *admin_main(void *arg)
{
    struct admin *a = arg;
    ev_run(a->loop, 0);
    conn_listener_stop(&a->listener);
    while (a->conns)
        conn_close(&a->conns->conn, "the admin endpoint is stopping");
    return NULL;
}

struct admin *admin_start(const char *hostport, admin_health_fn health, void *arg, char *err, size_t errlen)
{
    int port = 0;
    /* SO_REUSEPORT as the workers' listeners: during a restart without
     * downtime the new process binds admin.listen while the old one still
     * holds it (either may answer until the old one is gone). */
    int fd = net_listen(hostport, true, &port, err, errlen);
    if (fd < 0)
        return NULL;
    struct admin *a = calloc(1, sizeof *a);
    if (!a) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->fd = fd;
    a->port = port;
    a->health = health;
    a->arg = arg;
    a->loop = ev_loop_new(EVFLAG_AUTO);
    conn_listener_start(&a->listener, a->loop, fd, on_accept, a);
    /* Health checks must answer when the process is out of descriptors: the
     * last one is kept for them. */
    conn_listener_reserve(&a->listener, CONN_SPARE_SERVE);
    ev_async_init(&a->stop_w, on_stop);
    ev_async_start(a->loop, &a->stop_w);
    if (pthread_create(&a->thr, NULL, admin_main, a) != 0) {
        snprintf(err, errlen, "cannot start the admin thread");
        ev_loop_destroy(a->loop);
        close(fd);
        free(a);
        return NULL;
    }
    return a;
}

int admin_port(const struct admin *a)
{
    return a->port;
}

void admin_set_pages(struct admin *a, admin_page_fn fn, void *arg)
{
    atomic_store(&a->page_arg, arg);
    atomic_store_explicit(&a->page_fn, fn, memory_order_release);
}

void admin_stop(struct admin *a)
{
    if (!a)
        return;
    ev_async_send(a->loop, &a->stop_w);
    pthread_join(a->thr, NULL);
    close(a->fd);
    ev_loop_destroy(a->loop);
    free(a);
}
