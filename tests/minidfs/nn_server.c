/*
 * nn_server.c: minidfs NameNode connections: accept, read, cut frames,
 * handshake (preamble, SIMPLE-only SASL, connection context), dispatch,
 * write. Malformed input answers a FATAL reply where Hadoop does and closes
 * only that connection.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <protobuf-c/protobuf-c.h>

#include "ipc_server.h"
#include "net.h"
#include "nn.h"
#include "sasl_layer.h"
#include "sasl_server.h"

#define NN_MAX_FRAME (64u << 20) /* a NameNode request never needs more */
#define NN_OUT_HIGH (16u << 20)  /* stop reading while this much is unsent */
#define NN_READ_CHUNK (64u << 10)

static void conn_close(struct nn_conn *c, const char *why);
static void conn_flush(struct nn_conn *c);

/* Bytes waiting to be written, wrapped or not. */
static size_t out_pending(const struct nn_conn *c) { return buf_len(&c->out) + buf_len(&c->wire_out); }

static void conn_update_watchers(struct nn_conn *c)
{
    struct ev_loop *loop = c->nn->loop;
    if (out_pending(c) > 0)
        ev_io_start(loop, &c->ww);
    else
        ev_io_stop(loop, &c->ww);
    if (c->s.state != IPC_S_CLOSING && out_pending(c) < NN_OUT_HIGH)
        ev_io_start(loop, &c->rw);
    else
        ev_io_stop(loop, &c->rw);
}

void nn_reply(struct nn_call *call, const ProtobufCMessage *msg)
{
    if (ipc_write_reply(&call->conn->out, &call->ids, msg) != IPC_OK)
        conn_close(call->conn, "out of memory writing a reply");
}

void nn_reply_error(struct nn_call *call, const char *cls, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    (void)ipc_write_error(&call->conn->out, &call->ids, IPC_ERROR, IPC_ERR_APPLICATION, cls, msg);
}

static void handle_call(struct nn_conn *c, const struct ipc_call *ic)
{
    struct nn *nn = c->nn;
    char method[128];
    struct nn_call call = {
        .conn = c,
        .ids = { ic->hdr.call_id, ic->hdr.retry_count, ic->hdr.client_id.p, ic->hdr.client_id.len },
        .method = method,
        .user = c->user,
    };
    if (ic->method.len >= sizeof method) {
        nn_reply_error(&call, "org.apache.hadoop.ipc.RpcNoSuchMethodException", "Unknown method (name too long)");
        return;
    }
    ipc_span_copy(ic->method, method, sizeof method);
    if (ipc_span_eq(ic->protocol, IPC_NAMENODE_PROTOCOL)) {
        /* Only versionRequest of this protocol; a standby answers it too. */
        if (strcmp(method, "versionRequest") == 0) {
            nn_op_versionRequest(nn, &call, ic->param.p, ic->param.len);
        } else {
            char msg[256];
            snprintf(msg, sizeof msg, "Unknown method %s called on %s protocol.", method, IPC_NAMENODE_PROTOCOL);
            (void)ipc_write_error(&c->out, &call.ids, IPC_ERROR, IPC_ERR_NO_SUCH_METHOD,
                                  "org.apache.hadoop.ipc.RpcNoSuchMethodException", msg);
        }
        return;
    }
    if (!ipc_span_eq(ic->protocol, IPC_CLIENT_PROTOCOL)) {
        char proto[200], msg[256];
        ipc_span_copy(ic->protocol, proto, sizeof proto);
        snprintf(msg, sizeof msg, "Unknown protocol: %s", proto);
        (void)ipc_write_error(&c->out, &call.ids, IPC_ERROR, IPC_ERR_NO_SUCH_PROTOCOL,
                              "org.apache.hadoop.ipc.RpcNoSuchProtocolException", msg);
        return;
    }
    if (nn->standby && !nn_standby_serves(method)) {
        nn_reply_error(&call, "org.apache.hadoop.ipc.StandbyException",
                       "Operation category READ is not supported in state standby. "
                       "Visit https://s.apache.org/sbnn-error");
        return;
    }
    nn_handler_fn h = nn_find_handler(method);
    if (!h) {
        char msg[256];
        snprintf(msg, sizeof msg, "Unknown method %s called on %s protocol.", method, IPC_CLIENT_PROTOCOL);
        (void)ipc_write_error(&c->out, &call.ids, IPC_ERROR, IPC_ERR_NO_SUCH_METHOD,
                              "org.apache.hadoop.ipc.RpcNoSuchMethodException", msg);
        return;
    }
    h(nn, &call, ic->param.p, ic->param.len);
}

/*
 * A SASL exchange that ended with integrity or privacy (a security layer,
 * SSF > 0) turns the layer on: what is already queued for the client (the
 * SUCCESS) goes out plain, every later reply packet is wrapped, and what
 * the client sends is unwrapped (plain frames pass too, as Hadoop's server
 * takes them).
 */
static void layer_check(struct nn_conn *c)
{
    if (c->layer || !c->auth || !c->s.authenticated || auth_session_ssf(c->auth) == 0)
        return;
    c->layer = true;
    if (buf_append(&c->wire_out, buf_rptr(&c->out), buf_len(&c->out)) < 0 ||
        buf_append(&c->wire_in, buf_rptr(&c->in), buf_len(&c->in)) < 0) {
        conn_close(c, "out of memory");
        return;
    }
    buf_consume(&c->out, buf_len(&c->out));
    buf_consume(&c->in, buf_len(&c->in));
    fprintf(stderr, "minidfs: nn conn %llu: SASL layer on (ssf %u)\n", (unsigned long long)c->id,
            auth_session_ssf(c->auth));
}

/* With a layer: each whole reply packet in out becomes one WRAP frame. */
static int layer_wrap(struct nn_conn *c)
{
    char why[256];
    while (buf_len(&c->out) >= 4) {
        const uint8_t *q = buf_rptr(&c->out);
        size_t plen = 4 + ((size_t)q[0] << 24 | (size_t)q[1] << 16 | (size_t)q[2] << 8 | q[3]);
        if (plen > buf_len(&c->out))
            break;
        if (sasl_layer_wrap(auth_session_layer(c->auth), SASL_LAYER_SERVER, q, plen, &c->wire_out, why, sizeof why) <
            0) {
            fprintf(stderr, "minidfs: nn conn %llu: wrap: %s\n", (unsigned long long)c->id, why);
            return -1;
        }
        buf_consume(&c->out, plen);
    }
    return 0;
}

/* Handles every complete call in the input buffer (handshake frames are
 * taken care of by ipc_sconn_next). */
static void process_input(struct nn_conn *c)
{
    while (c->fd >= 0 && out_pending(c) < NN_OUT_HIGH) {
        struct ipc_call ic;
        size_t flen;
        enum ipc_snext n = ipc_sconn_next(&c->s, &c->in, &c->out, &ic, &flen);
        if (n == IPC_S_NEED_MORE) {
            layer_check(c);
            return;
        }
        if (n == IPC_S_CLOSE) {
            if (c->s.close_reason)
                fprintf(stderr, "minidfs: nn conn %llu: %s\n", (unsigned long long)c->id, c->s.close_reason);
            return;
        }
        if (!c->user[0])
            snprintf(c->user, sizeof c->user, "%s", c->s.ctx.effective_user);
        handle_call(c, &ic);
        buf_consume(&c->in, flen);
    }
}

static void conn_flush(struct nn_conn *c)
{
    if (c->layer && layer_wrap(c) < 0) {
        conn_close(c, "SASL wrap failed");
        return;
    }
    if (net_send_buf(c->fd, c->layer ? &c->wire_out : &c->out) == NET_ERROR) {
        conn_close(c, "write failed");
        return;
    }
    if (c->s.state == IPC_S_CLOSING && out_pending(c) == 0) {
        conn_close(c, NULL);
        return;
    }
    conn_update_watchers(c);
}

/*
 * Handles the calls waiting in the input and writes what it can, again
 * while the writes bring the output back under the mark and calls remain:
 * when a flush empties the output, no write event comes to resume them,
 * and a client that has sent everything brings no read event either.
 */
static void pump(struct nn_conn *c)
{
    for (;;) {
        size_t before = buf_len(&c->in);
        process_input(c);
        if (c->fd < 0)
            return;
        conn_flush(c);
        if (c->fd < 0 || c->s.state == IPC_S_CLOSING || out_pending(c) >= NN_OUT_HIGH || !buf_len(&c->in) ||
            buf_len(&c->in) == before)
            return; /* at the mark, nothing left, or only part of a frame */
    }
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    struct nn_conn *c = w->data;
    struct buf *into = c->layer ? &c->wire_in : &c->in;
    if (buf_reserve(into, NN_READ_CHUNK) < 0) {
        conn_close(c, "out of memory");
        free(c);
        return;
    }
    ssize_t n = recv(c->fd, buf_wptr(into), buf_room(into), 0);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        conn_close(c, NULL);
        free(c);
        return;
    }
    buf_commit(into, (size_t)n);
    if (c->layer) {
        char why[256];
        if (sasl_layer_unwrap(auth_session_layer(c->auth), SASL_LAYER_SERVER, &c->wire_in, &c->in, NN_MAX_FRAME, why,
                              sizeof why) < 0) {
            conn_close(c, why);
            free(c);
            return;
        }
    }
    pump(c);
    if (c->fd < 0)
        free(c);
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    struct nn_conn *c = w->data;
    conn_flush(c);
    /* Output drained below the mark: frames may be waiting in the input. */
    if (c->fd >= 0 && out_pending(c) < NN_OUT_HIGH && buf_len(&c->in) > 0 && c->s.state != IPC_S_CLOSING)
        pump(c);
    if (c->fd < 0)
        free(c);
}

static void conn_close(struct nn_conn *c, const char *why)
{
    if (c->fd < 0)
        return;
    if (why)
        fprintf(stderr, "minidfs: nn conn %llu (%s) closed: %s\n", (unsigned long long)c->id,
                c->user[0] ? c->user : "-", why);
    ev_io_stop(c->nn->loop, &c->rw);
    ev_io_stop(c->nn->loop, &c->ww);
    close(c->fd);
    c->fd = -1;
    c->nn->nconns--;
    buf_free(&c->in);
    buf_free(&c->out);
    buf_free(&c->wire_in);
    buf_free(&c->wire_out);
    auth_session_free(c->auth);
    c->auth = NULL;
    /* Unlink; the event callback that got here frees c when it returns. */
    if (c->prev)
        c->prev->next = c->next;
    else
        c->nn->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct nn *nn = w->data;
    for (;;) {
        int fd = net_accept(nn->listen_fd, NULL, 0);
        if (fd < 0)
            return;
        struct nn_conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->nn = nn;
        c->fd = fd;
        c->id = ++nn->next_conn_id;
        ipc_sconn_init(&c->s, NN_MAX_FRAME);
        /* A secure NameNode: the codec asks the session what to offer
         * (KERBEROS only, so SIMPLE clients are refused) and how each SASL
         * step goes, then whom the connection may act as. */
        if (nn->auth) {
            if (!(c->auth = auth_session_new(nn->auth))) {
                close(fd);
                free(c);
                continue;
            }
            auth_session_set_peer(c->auth, fd);
            ipc_sconn_set_auth(&c->s, &auth_ipc_ops, c->auth);
        }
        ev_io_init(&c->rw, on_read, fd, EV_READ);
        ev_io_init(&c->ww, on_write, fd, EV_WRITE);
        c->rw.data = c->ww.data = c;
        ev_io_start(loop, &c->rw);
        c->next = nn->conns;
        if (nn->conns)
            nn->conns->prev = c;
        nn->conns = c;
        nn->nconns++;
    }
}

int nn_listen(struct nn *nn, const char *host, int port)
{
    char addr[300], err[256];
    snprintf(addr, sizeof addr, "%s:%d", host, port);
    int fd = net_listen(addr, false, &nn->nn_port, err, sizeof err);
    if (fd < 0) {
        fprintf(stderr, "minidfs: %s\n", err);
        return -1;
    }
    nn->listen_fd = fd;
    ev_io_init(&nn->accept_w, on_accept, fd, EV_READ);
    nn->accept_w.data = nn;
    ev_io_start(nn->loop, &nn->accept_w);
    return 0;
}

void nn_shutdown(struct nn *nn)
{
    if (nn->listen_fd >= 0) {
        ev_io_stop(nn->loop, &nn->accept_w);
        close(nn->listen_fd);
        nn->listen_fd = -1;
    }
    while (nn->conns) {
        struct nn_conn *c = nn->conns;
        conn_close(c, NULL);
        free(c);
    }
}
