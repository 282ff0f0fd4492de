/*
 * hms_conn: one metastore client connection on a worker.
 *
 *   bytes --tw_detect--> protocol (binary / compact), framed or not
 *         --frame cut or tw_scan--> one message --> hms_route_call()
 *   answer (hms_conn_reply) --frame if framed--> client
 *
 * Metastore clients send one call at a time and wait for its reply, so a
 * connection routes one call at a time; bytes of the next call wait in the
 * input buffer, and wait too while the client's output holds
 * client.max_output or more. A reply may also come in parts as the backend
 * sends it (mconn_reply_buf ... mconn_reply_end); the backend is paused
 * while the output is full and resumed (route_resume) once half of it is
 * written. The connection keeps what the client told about itself: its
 * set_ugi user and groups, replayed on every backend connection that serves
 * it, and its session's setMetaConf changes (connections of its own).
 */
#ifndef FR_HMS_CONN_H
#define FR_HMS_CONN_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "hms_up.h"
#include "log.h"
#include "thrift_walk.h"

struct worker;

#define HMS_MAX_GROUPS 64
#define HMS_MAX_NAME 1024                   /* longest set_ugi user or group name kept */

struct mconn {
    struct worker *w;
    int fd;
    ev_io rw, ww;
    struct buf in, out;
    char peer[64];
    bool detected;
    enum tw_proto proto;
    bool framed;
    struct tw_scan scan;
    bool busy;                          /* a call is being routed */
    bool closing;                       /* close once the output is written */
    uint64_t started_ns;                /* the call in hand: when its bytes were complete */
    char method[128];                   /* the call in hand, for metrics */
    const char *ms;                     /* metastore that served it, for metrics */
    void *route;                        /* hms_route's state for the call in hand */
    void (*route_cancel)(struct mconn *c); /* forgets that state (the client went away) */
    void (*route_resume)(struct mconn *c); /* a reply in parts may go on (its output drained) */
    bool stalled;                       /* a reply in parts waits for the output to drain */
    /* identity from set_ugi */
    bool ugi_set;
    char *user;
    char *groups[HMS_MAX_GROUPS];
    size_t ngroups;
    struct hms_session *sess;           /* NULL until its first setMetaConf */
    struct mconn *prev, *next;
};

void mconn_accept_cb(struct ev_loop *loop, ev_io *w, int revents);
/* Sends one answer (an unframed message) for the call in hand and takes the
 * next call. */
void mconn_reply(struct mconn *c, const uint8_t *msg, size_t len);
/* A reply passed on as it arrives: the buffer its bytes go to (a framed
 * client's frame length first). Then mconn_reply_flowing after each piece:
 * false when the output is full (pause the backend until route_resume).
 * mconn_reply_end when it is complete; mconn_reply_abort when it broke off
 * (the client is closed once what is queued is written). */
struct buf *mconn_reply_buf(struct mconn *c);
bool mconn_reply_flowing(struct mconn *c);
void mconn_reply_end(struct mconn *c);
void mconn_reply_abort(struct mconn *c, const char *why);
/* The call in hand needs no answer (oneway): takes the next call. */
void mconn_done_noreply(struct mconn *c);
/* Closes after what is queued has been written (a protocol violation). */
void mconn_close_after_write(struct mconn *c);
void mconn_close_all(struct worker *w);

/* The connection as log lines name it (worker, user, peer); the strings
 * point into c. */
struct fr_log_who mconn_who(const struct mconn *c);

/* The client's identity for backend connections. */
void mconn_ident(const struct mconn *c, struct hms_ident *id);

/* Implemented by hms_route.c. */
struct snapshot;
/* Logs every database that two metastores' `databases` lists both name
 * (MANUAL mode: the first by name serves it). Call when a table loads. */
void hms_log_clashes(const struct snapshot *s);
void hms_route_call(struct mconn *c, const uint8_t *msg, size_t len, const struct tw_header *h);
void hms_route_cancel(struct mconn *c);

#endif
