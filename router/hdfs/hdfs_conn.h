/*
 * hdfs_conn: one HDFS client connection on a worker, and the calls it has
 * in flight. The socket, its buffers and the connection's lifetime are the
 * connection layer's (conn.h); this file holds the Hadoop IPC side: the
 * handshake is ipc_server's, each call goes to hdfs_route (routing
 * decisions), whose answer comes back through hconn_reply_*().
 *
 *   conn_in -> ipc_sconn_next -> rcall -> hdfs_route_call(rc, call)
 *        ... upstream replies, merges ...
 *   hconn_reply_raw / hconn_reply_error (rc freed) -> conn_out -> client
 *
 * Protocol states of a connection (one transition function, hc_move in the
 * .c file, checks every move against a table):
 *
 *   HANDSHAKE --(context read)--> CALLS
 *       |                           |
 *       +--(router drains)----------+------> DRAINING
 *       |                           |            |
 *       +--(codec ends it)----------+------------+--> CLOSING
 *
 *   and from any of those four, CLOSED when the socket closes (peer gone,
 *   write error, out of memory, or the end of DRAINING/CLOSING: no call in
 *   flight and the output sent).
 *
 * Memory: an hconn is freed when the last reference on its conn goes
 * (conn_unref); closing it cancels every call in flight (hdfs_route_cancel),
 * so no rcall outlives the close. Code that may close the connection and
 * then uses it holds a reference around that.
 */
#ifndef FR_HDFS_CONN_H
#define FR_HDFS_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "ipc.h"
#include "ipc_server.h"
#include "log.h"

struct worker;
struct rcall;

enum hconn_state {
    HC_HANDSHAKE,   /* preamble, SASL (SIMPLE only), connection context: the codec before IPC_S_CALLS */
    HC_CALLS,       /* calls are read, routed and answered */
    HC_DRAINING,    /* the router is stopping: new calls get StandbyException; the connection closes
                       once no call is in flight and its output is sent */
    HC_CLOSING,     /* the codec ended the connection (its FATAL or HTTP answer is queued): nothing more
                       is read; it closes once the calls in flight are answered and the output is sent */
    HC_CLOSED,      /* socket closed, calls cancelled; the memory stays until the last reference goes */
    HC_NSTATES
};

const char *hconn_state_name(enum hconn_state s);

/* Connections per protocol state on one worker (the admin thread reads them:
 * atomic ops). */
struct hconn_counts {
    int64_t n[HC_NSTATES];
};

struct hconn {
    struct conn conn;                    /* socket, buffers, references; conn.owner is this hconn */
    struct worker *w;
    uint64_t id;                         /* per worker, for logs */
    enum hconn_state state;              /* changed only by hc_move() */
    struct ipc_sconn s;                  /* the codec's handshake state and connection context */
    struct auth_session *auth;           /* SASL state when the router offers more than SIMPLE, else NULL */
    char peer[64];                       /* client address, for logs */
    struct rcall *calls;                 /* in flight (rcall->prev/next) */
    uint32_t ncalls;
    struct hconn *prev, *next;           /* on w->conns until closed */
};

/*
 * One client call being routed. Owned by its hconn until answered: an
 * hconn_reply_*() frees it, and so does the connection's close (after
 * hdfs_route_cancel). It has a single real state, "in flight": it exists
 * from the moment its request is read until it is answered or cancelled,
 * and both of those free it at once, so there is no state to name.
 */
struct rcall {
    struct hconn *c;
    struct rcall *prev, *next;
    struct ipc_ids ids;                  /* the client's ids; client_id points at cid */
    uint8_t cid[IPC_CLIENT_ID_LEN];
    char method[64];
    const struct method_row *row;        /* method's row in the table (NULL: unknown), looked up once */
    const char *ns;                      /* nameservice for metrics ("-" until routed) */
    uint64_t start_ns;
    void *route;                         /* hdfs_route's state for this call */
    struct audit_call *audit;            /* its audit line's makings (audit.h); NULL: log off */
};

/* The worker's HDFS listener hands each accepted socket here (l->owner is
 * the worker); the new connection starts in HC_HANDSHAKE. */
void hconn_accept(struct conn_listener *l, int fd, const char *peer);

/*
 * Answers the call and frees it. msg (the packed response message) is copied
 * into the connection's output queue before this returns, so it may point
 * into any buffer, an upstream reply's included. The socket write happens
 * on the loop: after the input being handled when the call is answered
 * inside hdfs_route_call, else in the same loop pass (conn_kick). When the
 * reply cannot be queued (out of memory, too large) the connection closes
 * with that reason rather than leaving a frame out.
 */
void hconn_reply_raw(struct rcall *rc, const uint8_t *msg, size_t len);
/* Answers the call with a Java exception (class + message) and frees it. */
void hconn_reply_error(struct rcall *rc, const char *cls, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Same, with an explicit error detail (e.g. IPC_ERR_NO_SUCH_METHOD). */
void hconn_reply_error_detail(struct rcall *rc, enum ipc_errdetail detail, const char *cls, const char *msg);

/* The effective user of the call's connection; points into the hconn, valid
 * while rc is. */
static inline const char *rcall_user(const struct rcall *rc) { return rc->c->s.ctx.effective_user; }

/* The connection as log lines name it (worker, id, user, peer); the
 * strings point into c. */
struct fr_log_who hconn_who(const struct hconn *c);

/* The router is draining: every open connection moves to HC_DRAINING. */
void hconn_drain_all(struct worker *w);
/* Closes every client connection of a worker (calls in flight are cancelled). */
void hconn_close_all(struct worker *w);

/*
 * Implemented by hdfs_route.c: route one call. It must eventually answer
 * (hconn_reply_*), and must forget the call when hdfs_route_cancel() runs.
 *
 * `call` and every span in it point into the connection's input buffer and
 * are valid only until hdfs_route_call returns: copy what is kept. rc's own
 * fields (ids, method) are copies and live as long as rc.
 *
 * A reply may be written before hdfs_route_call returns (errors, answers the
 * router gives itself, answers that need no upstream): rc is then already
 * freed when it returns, and the caller does not touch it again.
 */
void hdfs_route_call(struct rcall *rc, const struct ipc_call *call);
void hdfs_route_cancel(struct rcall *rc);

#endif
