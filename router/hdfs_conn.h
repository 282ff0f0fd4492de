/*
 * hdfs_conn: one HDFS client connection on a worker, and the calls it has
 * in flight. The handshake is ipc_server's; each call goes to hdfs_route
 * (routing decisions), whose answer comes back through hconn_reply_*().
 *
 *   client bytes -> ipc_sconn_next -> rcall_new -> hdfs_route_call(rc, call)
 *        ... upstream replies, merges ...
 *   hconn_reply_raw / hconn_reply_error (rc freed) -> out buffer -> client
 */
#ifndef FR_HDFS_CONN_H
#define FR_HDFS_CONN_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "ipc.h"
#include "ipc_server.h"
#include "log.h"

struct worker;
struct rcall;

struct hconn {
    struct worker *w;
    int fd;
    uint64_t id;
    ev_io rw, ww;
    struct ipc_sconn s;
    struct buf in, out;
    char peer[64];                       /* client address, for logs */
    struct rcall *calls;                 /* in flight (rcall->prev/next) */
    uint32_t ncalls;
    bool draining;                       /* router stopping: no new calls */
    bool in_callback;
    bool dead;
    struct hconn *prev, *next;           /* on w->conns */
};

/* One client call being routed. Owned by its hconn until answered. */
struct rcall {
    struct hconn *c;
    struct rcall *prev, *next;
    struct ipc_ids ids;                  /* the client's ids; client_id points at cid */
    uint8_t cid[IPC_CLIENT_ID_LEN];
    char method[64];
    const char *ns;                      /* nameservice for metrics ("-" until routed) */
    uint64_t start_ns;
    void *route;                         /* hdfs_route's state for this call */
};

/* Accepts on the worker's HDFS listener. */
void hconn_accept_cb(struct ev_loop *loop, ev_io *w, int revents);

/* Answers the call and frees it. msg: the packed response message. */
void hconn_reply_raw(struct rcall *rc, const uint8_t *msg, size_t len);
/* Answers the call with a Java exception (class + message) and frees it. */
void hconn_reply_error(struct rcall *rc, const char *cls, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Same, with an explicit error detail (e.g. IPC_ERR_NO_SUCH_METHOD). */
void hconn_reply_error_detail(struct rcall *rc, enum ipc_errdetail detail, const char *cls, const char *msg);

/* The effective user of the call's connection. */
static inline const char *rcall_user(const struct rcall *rc) { return rc->c->s.ctx.effective_user; }

/* The connection as log lines name it (worker, id, user, peer); the
 * strings point into c. */
struct fr_log_who hconn_who(const struct hconn *c);

/* Closes every client connection of a worker (calls in flight are cancelled). */
void hconn_close_all(struct worker *w);

/* Implemented by hdfs_route.c: route one call. It must eventually answer
 * (hconn_reply_*), and must forget the call when hdfs_route_cancel() runs. */
void hdfs_route_call(struct rcall *rc, const struct ipc_call *call);
void hdfs_route_cancel(struct rcall *rc);

#endif
