#define _GNU_SOURCE
#include "admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metrics.h"
#include "net.h"

#define ADMIN_MAX_REQ 8192

struct admin {
    struct ev_loop *loop;
    int fd, port;
    ev_io accept_w;
    ev_async stop_w;
    pthread_t thr;
    admin_health_fn health;
    void *arg;
};

struct admin_conn {
    struct admin *a;
    int fd;
    ev_io rw, ww;
    ev_timer tmo;
    struct buf in, out;
};

static void conn_free(struct admin_conn *c)
{
    ev_io_stop(c->a->loop, &c->rw);
    ev_io_stop(c->a->loop, &c->ww);
    ev_timer_stop(c->a->loop, &c->tmo);
    close(c->fd);
    buf_free(&c->in);
    buf_free(&c->out);
    free(c);
}

static void respond(struct admin_conn *c, int code, const char *reason, const char *ctype, struct buf *body)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", code,
                     reason, ctype, buf_len(body));
    buf_append(&c->out, head, (size_t)n);
    buf_append(&c->out, buf_rptr(body), buf_len(body));
}

static void handle_request(struct admin_conn *c)
{
    const char *req = (const char *)buf_rptr(&c->in);
    struct buf body = BUF_INIT;
    if (strncmp(req, "GET /metrics ", 13) == 0 || strncmp(req, "GET /metrics?", 13) == 0) {
        metrics_render(&body);
        respond(c, 200, "OK", "text/plain; version=0.0.4", &body);
    } else if (strncmp(req, "GET /healthz ", 13) == 0) {
        bool ok = c->a->health ? c->a->health(&body, c->a->arg) : true;
        buf_append(&body, "\n", 1);
        respond(c, ok ? 200 : 503, ok ? "OK" : "Service Unavailable", "text/plain", &body);
    } else {
        buf_append(&body, "not found: GET /metrics or GET /healthz\n", 40);
        respond(c, 404, "Not Found", "text/plain", &body);
    }
    buf_free(&body);
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    struct admin_conn *c = w->data;
    if (net_send_buf(c->fd, &c->out) == NET_PENDING)
        return;
    conn_free(c);
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    struct admin_conn *c = w->data;
    if (buf_reserve(&c->in, 2048) < 0) {
        conn_free(c);
        return;
    }
    ssize_t n = recv(c->fd, buf_wptr(&c->in), buf_room(&c->in) - 1, 0);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        conn_free(c);
        return;
    }
    buf_commit(&c->in, (size_t)n);
    *buf_wptr(&c->in) = 0; /* room was kept for the terminator */
    if (!strstr((const char *)buf_rptr(&c->in), "\r\n\r\n") && !strstr((const char *)buf_rptr(&c->in), "\n\n")) {
        if (buf_len(&c->in) > ADMIN_MAX_REQ)
            conn_free(c);
        return;
    }
    ev_io_stop(loop, &c->rw);
    handle_request(c);
    ev_io_start(loop, &c->ww);
}

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    conn_free(w->data);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct admin *a = w->data;
    int fd = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    struct admin_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->a = a;
    c->fd = fd;
    ev_io_init(&c->rw, on_read, fd, EV_READ);
    ev_io_init(&c->ww, on_write, fd, EV_WRITE);
    ev_timer_init(&c->tmo, on_timeout, 5.0, 0);
    c->rw.data = c->ww.data = c->tmo.data = c;
    ev_io_start(loop, &c->rw);
    ev_timer_start(loop, &c->tmo);
}

static void on_stop(struct ev_loop *loop, ev_async *w, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

static void *admin_main(void *arg)
{
    struct admin *a = arg;
    ev_run(a->loop, 0);
    return NULL;
}

struct admin *admin_start(const char *hostport, admin_health_fn health, void *arg, char *err, size_t errlen)
{
    int port = 0;
    int fd = net_listen(hostport, false, &port, err, errlen);
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
    ev_io_init(&a->accept_w, on_accept, fd, EV_READ);
    a->accept_w.data = a;
    ev_io_start(a->loop, &a->accept_w);
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
