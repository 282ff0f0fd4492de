/*
 * upstream: connections from one worker to the NameNodes, pooled per
 * (NameNode address, effective user), calls multiplexed on each.
 *
 *   router call --upstream_send--> pick conn (fewest in flight; open one
 *   more while under the limit) --> frame with the CLIENT's clientId,
 *   callId and retryCount --> NameNode
 *   NameNode reply --> matched by (clientId, callId) --> call->done()
 *
 * Forwarding the client's own ids (rather than fresh ones) keeps the
 * NameNode's retry cache, keyed by (clientId, callId), exact: a client's
 * retry through the router is a retry at the NameNode too. Replies carry
 * both ids back, so calls of many clients share one connection safely.
 *
 * Everything here runs on the owning worker's loop: no locks.
 *
 * A connection's life, one state at a time (upstream_conn_move_ok() is the
 * table of allowed moves; anything else is a bug):
 *
 *   CONNECTING --connect done--> HANDSHAKE --auth done--> READY
 *        |                           |                      |
 *        +---------------------------+----------------------+--> CLOSED
 *
 *   CONNECTING  the address is being looked up, or the non-blocking
 *               connect is under way; calls sent now wait, as encoded
 *               frames, in the connection's pending queue; nothing is
 *               written to the socket.
 *   HANDSHAKE   entered when the connect completes (never before): the
 *               preamble and connection context are written. With SIMPLE
 *               auth nothing comes back, so this ends at once. With a
 *               Kerberos principal (upstream_target) the preamble asks for
 *               SASL and the GSSAPI exchange runs here (NEGOTIATE, INITIATE,
 *               CHALLENGE/RESPONSE, SUCCESS: two round trips), then the
 *               context goes out: once per pooled connection.
 *   READY       the pending frames go out first, in the order sent; later
 *               calls are written as they are sent.
 *   CLOSED      the socket is gone and every call was failed (UP_EDOWN); the
 *               memory goes with the last reference on the connection's
 *               struct conn (lib/conn.h), once the callbacks on the stack
 *               have returned.
 * A failed or timed-out connect fails every queued call with UP_EDOWN, as a
 * lost connection does, so the HA layer tries the next NameNode.
 *
 * Bounds across users. A NameNode connection belongs to one user (its
 * connection context names him), so users cannot share one; instead the
 * connections to one NameNode, all users together, are bounded per worker
 * (max_conns_per_nn). A call of a user who has no connection there, when the
 * bound is reached, closes the least recently idle connection of another
 * user and opens its own; when every connection is busy it waits, in order,
 * until one goes idle or closes, and fails with UP_EBUSY if that takes the
 * whole call timeout. A set (NameNode, user) is freed, soon after, once it
 * has no connection and no waiting call: what a user costs goes with his
 * last idle connection.
 *
 * Backoff. A connection that fails before the NameNode ever answered on it
 * (refused, connect or handshake timeout, closed or garbled at once) marks
 * the address down for backoff_min, doubling on each further failure up to
 * backoff_max. While down, a call that would need a new connection fails at
 * once (upstream_send returns -1, so the HA layer moves on) instead of
 * connecting; once the interval is over one call connects again as a probe,
 * and the first answer on it ends the backoff. Going down and coming back
 * are logged once each (rate-limited); single failed connects are not.
 */
#ifndef FR_UPSTREAM_H
#define FR_UPSTREAM_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "ipc.h"

enum upstream_status {
    UP_OK = 0,        /* a reply came: r and the frame body are valid */
    UP_EDOWN = -1,    /* could not connect, or the connection was lost */
    UP_ETIMEOUT = -2, /* no reply within the call timeout */
    UP_EPROTO = -3,   /* the NameNode sent something we cannot parse */
    UP_EBUSY = -4,    /* never sent: no connection to the NameNode became free
                         within the call timeout (max_conns_per_nn) */
};

/* States of a connection to a NameNode; see the diagram above. */
enum upstream_conn_state {
    UPSTREAM_CONN_CONNECTING = 0,
    UPSTREAM_CONN_HANDSHAKE,
    UPSTREAM_CONN_READY,
    UPSTREAM_CONN_CLOSED,
};
#define UPSTREAM_CONN_NSTATES 4

/* True when a connection may go from `from` to `to` (the transition table). */
bool upstream_conn_move_ok(enum upstream_conn_state from, enum upstream_conn_state to);
/* "connecting", "handshake", "ready", "closed" (metric labels, log lines). */
const char *upstream_conn_state_name(enum upstream_conn_state s);

struct upstream_conn;
struct upstream_call;

/* Called once per call, from the worker loop (never from inside
 * upstream_send). For UP_OK, body/len is the whole reply frame body and r
 * its parse; both point into the connection's input buffer and are valid
 * only until done() returns: copy what must outlive it. */
typedef void (*upstream_done_fn)(struct upstream_call *uc, enum upstream_status st, const struct ipc_reply *r,
                                 const uint8_t *body, size_t len);

/* One call in flight. The caller owns the memory (embed it in its own call
 * object) and must keep it alive until done() runs or upstream_cancel(). */
struct upstream_call {
    upstream_done_fn done;
    void *arg;                          /* the caller's */
    /* private */
    struct upstream_conn *conn;
    struct upstream_call *hnext;        /* in-flight hash chain */
    ev_timer tmo;
    uint8_t client_id[IPC_CLIENT_ID_LEN];
    uint8_t client_id_len;
    int32_t call_id;
    struct upstream_wait *wait;         /* queued for a connection, not on one */
};

struct upstream_limits {
    int max_conns_per_key;              /* connections per (NameNode, user) */
    int calls_per_conn;                 /* open another conn above this many in flight */
    double connect_timeout;             /* seconds */
    double call_timeout;                /* seconds */
    double idle_timeout;                /* close a connection idle this long */
    uint32_t max_frame;                 /* bound on reply frames */
    int max_attempts;                   /* NameNodes of a nameservice one call tries (ha.c); 0 = all */
    int max_conns_per_nn;               /* connections to one NameNode, all users; 0 = no bound */
    double backoff_min, backoff_max;    /* seconds a NameNode that refused is left alone; 0 = 0.1, 5 */
};

struct upstream_pool;
struct conn_counts;

/* counts: per-state gauges the pool's sockets add to (lib/conn.h; the
 * worker's NameNode kind), or NULL. */
struct upstream_pool *upstream_pool_new(struct ev_loop *loop, const struct upstream_limits *lim,
                                        struct conn_counts *counts);
/* Closes every connection; pending calls complete with UP_EDOWN. */
void upstream_pool_free(struct upstream_pool *p);

/*
 * Sends one call to the NameNode at addr ("host:port") as `user`, with the
 * client's ids (ids->call_id >= 0; the client id must be 16 bytes or empty)
 * and the request message as packed bytes (copied: the caller may reuse
 * param at once).
 *
 * Returns 0: the call is in flight, and done() runs exactly once, later,
 * from the loop: never before upstream_send returns, not even when the
 * connection fails at once (the frame is written from the loop too, later
 * in the same loop iteration). Or -1 when it failed at once: done() is then
 * NOT called, and why says what happened.
 */
int upstream_send(struct upstream_pool *p, const char *addr, const char *user, const struct ipc_ids *ids,
                  const char *method, const uint8_t *param, size_t param_len, struct upstream_call *uc,
                  char *why, size_t whylen);

/* The same for a protocol other than ClientProtocol (the call's header names
 * it; the connection stays a ClientProtocol one, as a NameNode allows). */
int upstream_send_proto(struct upstream_pool *p, const char *addr, const char *user, const struct ipc_ids *ids,
                        const char *protocol, const char *method, const uint8_t *param, size_t param_len,
                        struct upstream_call *uc, char *why, size_t whylen);

/* Where a call goes: the NameNode's address, and its Kerberos principal
 * (nn/_HOST@REALM, _HOST = the host of addr) or NULL for SIMPLE. Connections
 * to one address with and without a principal are pooled apart. */
struct upstream_target {
    const char *addr;
    const char *principal;
};

/* upstream_send_proto to a target: with a principal, each new connection
 * runs the SASL GSSAPI exchange in HANDSHAKE as the router's login
 * (upstream_set_login) and names `user` as the effective user; a refused
 * handshake or context fails the calls with the NameNode's exception
 * (UP_OK, an ERROR reply), not UP_EDOWN. */
int upstream_send_to(struct upstream_pool *p, const struct upstream_target *t, const char *user,
                     const struct ipc_ids *ids, const char *protocol, const char *method, const uint8_t *param,
                     size_t param_len, struct upstream_call *uc, char *why, size_t whylen);

/* The router's Kerberos login for kerberized NameNodes (auth/sasl_client.h),
 * set once before any pool is used; NULL (the default) = none. */
struct auth_login;
void upstream_set_login(struct auth_login *login);

/* Forgets a call (its client went away); done() will not be called. */
void upstream_cancel(struct upstream_call *uc);

/* The pool's max_attempts (0: no bound). */
int upstream_max_attempts(const struct upstream_pool *p);

/* Pool figures for /metrics. by_state counts the open connections in each
 * state (the CLOSED slot stays 0: a closed connection has left the pool). */
struct upstream_stats {
    uint64_t conns, in_flight, connects, connect_failures;
    uint64_t by_state[UPSTREAM_CONN_NSTATES];
    uint64_t sets;                      /* (NameNode, user) sets held */
    uint64_t waiting;                   /* calls waiting for a connection now */
    uint64_t queued;                    /* calls that ever had to wait */
    uint64_t reaped;                    /* idle connections closed to make room for another user */
    uint64_t backoff_failures;          /* calls failed at once: their NameNode is backed off */
    uint64_t down;                      /* NameNodes backed off now */
};
void upstream_pool_stats(const struct upstream_pool *p, struct upstream_stats *st);

#endif
