/*
 * hms_conn: one metastore client connection on a worker, on the connection
 * layer (lib/conn.h), and the one call it has in hand (struct mcall).
 *
 *   bytes --tw_detect--> protocol (binary / compact), framed or not
 *         --frame cut or tw_scan--> one message --> hms_route_call()
 *   answer (mconn_reply*) --frame if framed--> conn_out() --> client
 *
 * Metastore clients send one call at a time and wait for its reply, so a
 * connection routes one call at a time; bytes of the next call wait in the
 * input buffer, and wait too while the client's output holds
 * client.max_output or more. A reply may also come in parts as the backend
 * sends it (mconn_reply_buf ... mconn_reply_end); the backend is paused
 * while the output is full and resumed (hms_route_resume) once half of it
 * is written. The connection keeps what the client told about itself: its
 * set_ugi user and groups, replayed on every backend connection that serves
 * it, and its session's setMetaConf changes (connections of its own).
 *
 * States (one enum, changed only by the transition table in hms_conn.c):
 *
 *   DETECT --first bytes are Thrift--> IDLE --a whole call--> CALL
 *   CALL --answered whole / oneway--> IDLE
 *   CALL --first part of a reply--> STREAMING <--output drained-- STALLED
 *   STREAMING --output full--> STALLED;  STREAMING/STALLED --reply ends--> IDLE
 *   CALL/STREAMING/STALLED --mconn_close_after_write--> CLOSING
 *   any --closed (a reason, or the peer left)--> CLOSED
 *
 * Lifetime: the mconn embeds its struct conn and is freed in the conn's
 * on_free, when the last reference goes: the connection's own (dropped when
 * it closes) and the call's in hand (below).
 */
#ifndef FR_HMS_CONN_H
#define FR_HMS_CONN_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "conn.h"
#include "hms_up.h"
#include "log.h"
#include "thrift_walk.h"

struct worker;

#define HMS_MAX_GROUPS 64
#define HMS_MAX_NAME 1024                   /* longest set_ugi user or group name kept */

enum mconn_state {
    MC_DETECT,                          /* no call yet: protocol and framing unknown */
    MC_IDLE,                            /* waiting for the next call (reading while the output has room) */
    MC_CALL,                            /* a call is being routed; nothing of its answer queued yet */
    MC_STREAMING,                       /* its reply is passed to the client in parts */
    MC_STALLED,                         /* ... and waits for the client's output to drain */
    MC_CLOSING,                         /* no more calls; closes once the output is written */
    MC_CLOSED,                          /* closed; memory stays until the last reference goes */
    MC_NSTATES
};
const char *mconn_state_name(enum mconn_state s);

/* Which module's state an mcall's route points at (who cancels it). */
enum mcall_route {
    MCALL_NONE,                         /* none (answered here, or between backend calls) */
    MCALL_FORWARD,                      /* hms_route.c: one backend call */
    MCALL_FANOUT,                       /* hms_fanout.c: every metastore asked */
};

/*
 * The call in hand, as struct rcall is on the HDFS side. Owner: its mconn,
 * which embeds it (a connection has at most one call). Lifetime: it starts
 * when the call's bytes are complete (MC_CALL) and ends when the call is
 * answered (mconn_reply, mconn_reply_end, mconn_done_noreply,
 * mconn_reply_abort, mconn_close_after_write) or the connection closes
 * (hms_route_cancel runs, then the call ends unanswered). While it lives it
 * holds a reference on the connection, so a backend's answer never finds
 * the memory gone; after the answer the route must not touch the mconn
 * again (the connection may be gone). The route state belongs to the module
 * that `kind` names: it frees it when it answers, or in hms_route_cancel.
 */
struct mcall {
    uint64_t started_ns;                /* when its bytes were complete */
    char method[128];                   /* for metrics */
    const char *ms;                     /* metastore that served it, for metrics (static or snapshot string) */
    enum mcall_route kind;
    void *route;                        /* struct mroute or struct mfan, by kind; NULL: none */
    struct audit_call *audit;           /* its audit line's makings (audit.h); NULL: log off */
    const struct hms_rule *rule;        /* the method's routing rule (NULL: none), looked up once */
};

struct mconn {
    struct conn conn;                   /* socket, buffers, references (lib/conn.h) */
    struct worker *w;
    char peer[64];
    enum mconn_state state;             /* only through set_state() in hms_conn.c */
    enum tw_proto proto;                /* once past MC_DETECT */
    bool framed;
    struct tw_scan scan;                /* unframed: where the next call ends */
    struct mcall call;                  /* the call in hand (MC_CALL, MC_STREAMING, MC_STALLED) */
    /* identity from set_ugi */
    bool ugi_set;
    char *user;
    char *groups[HMS_MAX_GROUPS];
    size_t ngroups;
    struct hms_session *sess;           /* NULL until its first setMetaConf */
    struct mconn *prev, *next;          /* on w->mconns while open */
};

/* conn_listener callback for the worker's metastore listener (owner: the worker). */
void mconn_accept(struct conn_listener *l, int fd, const char *peer);
/* Sends one answer (an unframed message) for the call in hand and takes the
 * next call. Out of memory closes the connection (with a reason). */
void mconn_reply(struct mconn *c, const uint8_t *msg, size_t len);
/* The answer built into *out by the tw_put_* writers, whose status rc is:
 * rc < 0 (out of memory) closes the connection after what is queued, else
 * the answer goes out. *out is freed either way. */
void mconn_reply_built(struct mconn *c, struct buf *out, int rc);
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
/* The router is draining: connections without a call in hand close now,
 * the others once their call is answered. */
void mconn_drain_all(struct worker *w);
void mconn_close_all(struct worker *w);
/* Per-state gauges over the workers (fedrouter_hms_client_conn_state). */
void mconn_state_gauges(struct buf *out, const struct worker *ws, int nworkers);

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
/* Routes the call in hand (msg is a malloc'd copy the route takes over);
 * it must eventually answer through mconn_reply* (maybe before returning). */
void hms_route_call(struct mconn *c, const uint8_t *msg, size_t len, const struct tw_header *h);
/* Forgets the route state of the call in hand (the client went away). */
void hms_route_cancel(struct mconn *c);
/* A reply in parts may go on: the client's output drained. */
void hms_route_resume(struct mconn *c);

#endif
