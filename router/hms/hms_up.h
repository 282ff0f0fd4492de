/*
 * hms_up: connections from one worker to the backend metastores.
 *
 * A Thrift metastore connection carries one call at a time and, once a
 * client's set_ugi has run on it, belongs to that user for good (a second
 * set_ugi fails). So connections are pooled per worker by (address, user,
 * groups, protocol, framing); a call takes an idle connection of its key or
 * opens one, which first replays the client's set_ugi. Idle connections are
 * closed after a while; a connection that fails fails its call only.
 *
 * A metastore's `uris` are a failover list (struct hms_target): a call goes
 * to the URI that last worked (remembered for every worker), and moves to
 * the next one only while it surely has not reached a metastore: the
 * connect was refused or timed out, or the connection died during its
 * set-up (set_ugi, setMetaConf replays) before the call was written. Once
 * written, a call is never sent again: a failure is the client's error.
 *
 * A client session that changed its metastore settings (setMetaConf) gets
 * connections of its own (struct hms_session): never pooled for another
 * client, closed with the session, and each replays the session's settings
 * before its first call, on every metastore the session reaches.
 *
 * Replies come whole to done(), up to the pool's max_reply, or, for a call
 * with a part() callback, piece by piece as they arrive, of any size, with
 * the reading paused while the consumer cannot take more.
 */
#ifndef FR_HMS_UP_H
#define FR_HMS_UP_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "thrift_walk.h"

struct hms_pool;
struct hms_upconn;

/* ---- targets: a metastore's URIs ---- */

/* Process-wide, one per metastore name and URI list, never freed (a
 * handful); shared by the workers without a lock on the call path. */
struct hms_target;

/* The target of metastore `name` with its uris ("thrift://host:port"),
 * made on first use. A target made for a changed URI list starts at the URI
 * the old list last used, when it is still there. NULL when out of memory. */
struct hms_target *hms_target_get(const char *name, char *const *uris, size_t n);
const char *hms_target_name(const struct hms_target *t);
/* A fan-out answered without this metastore (why: what happened): counted,
 * and logged at most every few seconds per metastore. */
void hms_target_left_out(struct hms_target *t, const char *call, const char *why);
/* Per-metastore series for /metrics (a metrics gauge function). */
void hms_targets_gauges(struct buf *out, void *arg);
/* The URI of metastore ms the workers use first now (the one that last
 * worked), copied into out; false when no call has been routed to ms yet.
 * Any thread (the status page). */
bool hms_target_in_use(const char *ms, char *out, size_t cap);

/* ---- sessions: setMetaConf ---- */

#define HMS_MAX_CONF 64                 /* settings one session may change */
#define HMS_MAX_CONF_LEN 4096           /* longest key or value kept */

/* One setting a session changed; gen orders the changes. */
struct hms_conf {
    char *key, *value;
    uint64_t gen;
};

/* What a client session changed. Embedded in the client connection; zero
 * (id 0) until its first setMetaConf. */
struct hms_session {
    uint64_t id;                        /* process-unique once pinned; 0: pooled connections */
    uint64_t gen;                       /* of the newest change */
    struct hms_conf conf[HMS_MAX_CONF];
    size_t nconf;
};

/* How to undo a change the metastore refused. */
struct hms_conf_undo {
    int idx;                            /* -1: nothing to undo */
    bool added;
    char *old_value;
    uint64_t old_gen;
};

/* Gives the session its own connections from now on (an id). */
void hms_session_pin(struct hms_session *s);
/* Records key = value as the session's newest change (gen = ++s->gen).
 * 0, or -1 when out of memory or the session holds HMS_MAX_CONF keys. */
int hms_session_set(struct hms_session *s, const uint8_t *key, size_t kl, const uint8_t *val, size_t vl,
                    struct hms_conf_undo *undo);
/* Takes back the change hms_session_set made; frees the undo either way
 * (call with apply = false once the change stands). */
void hms_session_undo(struct hms_session *s, struct hms_conf_undo *undo, bool apply);
void hms_session_free(struct hms_session *s);
/* Closes the session's own connections on this worker (the client left). */
void hms_pool_session_end(struct hms_pool *p, uint64_t id);

/* ---- calls ---- */

/* Who the calls run as on the backend: the client's set_ugi, if it sent one,
 * and its session, if it changed settings. */
struct hms_ident {
    const char *user;                   /* NULL or "": no set_ugi */
    const char *const *groups;
    size_t ngroups;
    const struct hms_session *sess;     /* NULL: pooled connections */
};

enum hms_up_status {
    HMS_UP_OK = 0,
    HMS_UP_DOWN = -1,                   /* no connection, or it died */
    HMS_UP_TIMEOUT = -2,                /* no reply (or no more of it) in time */
    HMS_UP_PROTO = -3,                  /* a reply that is not one */
    HMS_UP_TOOBIG = -4,                 /* a reply to hold whole over max_reply */
};

struct hms_upcall;
/*
 * Called once per call, from the loop: never from inside hms_up_send. With
 * the reply (one whole message, unframed), the end of a reply handed to
 * part() (msg NULL), or a failure with why.
 *
 * msg/len point into the backend connection's input buffer (the reply is
 * not copied) and why into the call itself; both are valid only until
 * done() returns: copy what must outlive it. done() may send again on the
 * pool, cancel other calls or end a session; the connection the reply came
 * on stays valid (its reference is held) until done() returns.
 */
typedef void (*hms_up_done_fn)(struct hms_upcall *uc, enum hms_up_status st, const uint8_t *msg, size_t len,
                               const char *why);

/* What part() answers. */
enum hms_part {
    HMS_PART_MORE = 0,                  /* took *used bytes; more please */
    HMS_PART_PAUSE = 1,                 /* took *used; stop reading until hms_up_resume */
    HMS_PART_END = 2,                   /* the message ended after *used bytes */
    HMS_PART_WHOLE = 3,                 /* took nothing: hand this reply whole to done() */
    HMS_PART_ERROR = -1,                /* why filled; the call fails (HMS_UP_PROTO) */
};
/* The reply's bytes not taken yet, from the first of them: p/len (frame
 * length removed; `total` is the payload's length for a framed backend, 0
 * when unknown), in the connection's input buffer, valid until part()
 * returns. It must not cancel the call or send on the pool (should what it
 * does end the client, and the call with it, the pool copes). */
typedef enum hms_part (*hms_up_part_fn)(struct hms_upcall *uc, const uint8_t *p, size_t len, size_t total,
                                        size_t *used, char *why, size_t whylen);

/* One call on a backend. Embed it; keep it alive until done or hms_up_cancel. */
struct hms_upcall {
    hms_up_done_fn done;
    hms_up_part_fn part;                /* NULL: the reply comes whole to done() */
    void *arg;
    bool oneway;                        /* no reply expected: done runs once it is written */
    double timeout;                     /* seconds for the reply (and between its parts); 0: the pool's */
    uint64_t applies_gen;               /* setMetaConf: the session change this call makes */
    /* private */
    struct hms_pool *pool;              /* set by hms_up_send */
    struct hms_upconn *conn;            /* NULL: not on a connection (done, or done() still to run) */
    ev_timer tmo;                       /* the reply's timeout; fed to run a oneway call's done() */
    struct hms_target *target;
    struct hms_ident id;                /* the caller's (pointers into its client connection) */
    enum tw_proto proto;
    bool framed;
    int start, tried;                   /* URIs: the first asked, how many so far */
    char why[256];                      /* what the URIs tried so far did */
};

struct hms_pool_limits {
    double connect_timeout;             /* seconds: connect plus set-up, per URI */
    double call_timeout;                /* seconds: reply, or between parts of one */
    double idle_timeout;                /* seconds an idle connection is kept */
    size_t max_reply;                   /* largest reply held whole */
};

struct conn_counts;

/* counts: per-state gauges the pool's sockets add to (lib/conn.h; the
 * worker's metastore kind), or NULL. */
struct hms_pool *hms_pool_new(struct ev_loop *loop, const struct hms_pool_limits *lim, struct conn_counts *counts);
/* From outside the pool's callbacks: every call still out fails (done()
 * with HMS_UP_DOWN) and every connection is freed. */
void hms_pool_free(struct hms_pool *p);

/*
 * Sends one message (unframed bytes, copied; framing is added for framed
 * backends) to the target's URIs.
 * 0: the call is out, and done() runs exactly once, later, from the loop:
 *    never before hms_up_send returns, whatever happens to the connection
 *    (bytes are written from the loop as well; a oneway call's done()
 *    runs from the loop once the call is queued).
 * -1 with why: not sent; done() will not run.
 */
int hms_up_send(struct hms_pool *p, struct hms_target *t, const struct hms_ident *id, enum tw_proto proto,
                bool framed, const uint8_t *msg, size_t len, struct hms_upcall *uc, char *why, size_t whylen);
/* Reading a reply goes on after HMS_PART_PAUSE (from the event loop: part()
 * is not called from here). */
void hms_up_resume(struct hms_upcall *uc);
/* Forgets a call (its connection is closed: the reply would be out of
 * step); done() will not run, not even a oneway call's still to come. */
void hms_up_cancel(struct hms_upcall *uc);

/*
 * States of a backend connection. One function in hms_up.c moves a
 * connection between them, by a table of allowed moves:
 *
 *   CONNECTING -> SETUP | BUSY | CLOSED    connected: set-up to answer, or none
 *   SETUP      -> BUSY | CLOSED            set-up answered: the call is written
 *   IDLE       -> SETUP | BUSY | CLOSED    reused (session changes to replay first)
 *   BUSY       -> IDLE | CLOSED            the reply is in (or a oneway call queued)
 */
enum hms_upconn_state {
    HU_CONNECTING = 0,                  /* address lookup or connect under way; the call waits */
    HU_SETUP,                           /* set_ugi / setMetaConf replays written, replies awaited */
    HU_IDLE,                            /* pooled, no call */
    HU_BUSY,                            /* one call written, its reply awaited */
    HU_CLOSED,                          /* out of the pool; memory goes with the last reference */
    HU_NSTATES
};
bool hms_upconn_move_ok(enum hms_upconn_state from, enum hms_upconn_state to);
/* "connecting", "setup", "idle", "busy", "closed" (metric labels). */
const char *hms_upconn_state_name(enum hms_upconn_state s);

/* Connections open / idle, for metrics (any thread). */
void hms_pool_counts(const struct hms_pool *p, size_t *open, size_t *idle);
/* Adds the pool's connections per state to n (any thread; CLOSED adds 0). */
void hms_pool_count_states(const struct hms_pool *p, uint64_t n[HU_NSTATES]);

#endif
