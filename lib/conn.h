/*
 * conn: one non-blocking TCP endpoint on a libev loop, the single socket
 * loop every peer of the router uses (HDFS and metastore clients, NameNode
 * and metastore backends, the admin endpoint). It owns the fd, the read and
 * write watchers, the wire buffers, the transport (xprt.h), a plaintext
 * output queue, one state and a reference count; the protocol code above it
 * only parses conn_in(), appends replies to conn_out() and decides when to
 * read.
 *
 *   conn_accepted / conn_connect
 *        |            CONNECTING --(connect done: on_connected)--> OPEN
 *        v                                                          |
 *       OPEN --conn_close_after_flush--> CLOSING --(output sent)--> CLOSED
 *        |                                                          ^
 *        +--------------------- conn_close(reason) -----------------+
 *
 * Lifetime: the connection holds one reference on itself from the start
 * until it closes. Whoever keeps a pointer past a point where the connection
 * may close (a callback that can cause a close, work handed to another
 * thread) takes a reference with conn_ref() and drops it with conn_unref().
 * The event callbacks of this module hold one while they call the protocol.
 * A transport's slow work may run on a crypto thread (conn_crypto.h), which
 * holds a reference while it does. When the last reference goes,
 * ops->on_free() runs once: that is where the owner frees the memory the
 * conn is embedded in. on_close() runs once, at
 * the close, with the reason (NULL: an orderly close by either side).
 *
 * State changes go through one function with a table of allowed moves; an
 * impossible move is a bug: debug builds stop on an assert, release builds
 * close the connection with a reason instead.
 *
 * Memory: an idle connection holds no wire buffer. A read goes into a
 * per-thread scratch buffer when nothing is waiting, and only the bytes the
 * protocol leaves unparsed (part of a message) are copied to a buffer of the
 * connection's own, sized to them; that buffer grows only when it is full,
 * and is released once parsing empties it. Output buffers are released once
 * sent, unless small. So a connection costs its protocol object plus a few
 * KiB, however slowly its peer sends.
 *
 * Timeouts (conn_set_timeouts, for accepted connections): the handshake
 * timer closes a connection whose protocol has not called
 * conn_handshake_done() in time; the idle timer closes one that makes no
 * progress for that long: progress is output written to the socket, input
 * the protocol consumed (a whole message), or a few KiB of input at least,
 * so that a peer trickling a message byte by byte is not progress. While
 * ops->busy() says the protocol waits on work of its own (calls in flight),
 * the idle timer does not close. The timer is one ev_timer re-armed lazily:
 * activity only stores a time stamp, and the timer, when it fires, looks at
 * it and sleeps again for what is left.
 */
#ifndef FR_CONN_H
#define FR_CONN_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "buf.h"
#include "xprt.h"

enum conn_state {
    CONN_CONNECTING, /* outgoing connect() in progress; output queues up */
    CONN_OPEN,       /* reading (when the protocol wants input) and writing */
    CONN_CLOSING,    /* no more input; closes once the output is sent */
    CONN_CLOSED,     /* fd closed; memory stays until the last reference goes */
    CONN_NSTATES
};

const char *conn_state_name(enum conn_state s);

/* Why a timer closed a connection. */
enum conn_timeout {
    CONN_TMO_IDLE,      /* no progress for the idle time */
    CONN_TMO_HANDSHAKE, /* the handshake did not end in time */
    CONN_NTIMEOUTS
};

const char *conn_timeout_name(enum conn_timeout t);

/* Per-state gauges for a kind of connection (one per worker and kind); the
 * admin thread reads them, so they are atomic. */
struct conn_counts {
    int64_t n[CONN_NSTATES]; /* read and written with __atomic builtins */
};

struct conn;
struct conn_crypto;
struct conn_xprt_stats;
struct conn_job;

struct conn_ops {
    /* New plaintext is in conn_in(c): parse it, consume what was used. */
    void (*on_input)(struct conn *c);
    /* Optional: queued output went out on a write event, so there may be
     * room for more replies: the protocol may ask for input again. */
    void (*on_sent)(struct conn *c);
    /* Outgoing connections: the connect finished, the socket is usable. */
    void (*on_connected)(struct conn *c);
    /* Runs once when the connection closes; fd is already closed. */
    void (*on_close)(struct conn *c, const char *reason);
    /* Runs once when the last reference goes: free the owner. */
    void (*on_free)(struct conn *c);
    /* Optional: true while the protocol waits on work of its own (calls in
     * flight upstream); the idle timer leaves the connection alone then. */
    bool (*busy)(struct conn *c);
};

struct conn {
    struct ev_loop *loop;
    int fd;
    enum conn_state state;
    int refs;
    ev_io rw, ww;
    bool want_read;                 /* the protocol asks for input */
    bool in_flush;                  /* conn_flush is on the stack (no re-entry) */
    bool handshake_done;            /* conn_handshake_done() was called */
    size_t read_chunk;              /* most bytes taken by one read (default 64 KiB) */
    struct buf wire_in, wire_out;   /* bytes as they cross the socket */
    struct buf plain_in, plain_out; /* plaintext, only while a transport is installed */
    size_t *msg_len;                /* transport: lengths of the queued messages, FIFO */
    size_t nmsg, capmsg, msg_head;
    size_t msg_open;             /* transport: plaintext bytes of the message being queued */
    const struct xprt_ops *xprt; /* NULL: plaintext, in place */
    void *xctx;
    const struct conn_ops *ops;
    struct conn_counts *counts; /* may be NULL */
    const char *close_reason;   /* why it closed (static string), NULL for orderly */
    void *owner;                /* the protocol object this conn is part of */
    /* timeouts (conn_set_timeouts); 0 = off */
    ev_timer tmo;
    double idle_s, handshake_s;
    ev_tstamp opened, last_progress; /* loop times */
    size_t rx_since;                 /* bytes read since the last progress */
    uint64_t *timeouts;              /* CONN_NTIMEOUTS counters of closes by the timers, or NULL */
    struct conn_listener *spare_of;  /* served on this listener's spare: its slot goes back at the close */
    /* crypto offload (conn_crypto.h); all NULL/0 when the transport runs inline */
    struct conn_crypto *crypto;     /* where slow transport work goes; NULL: inline */
    struct conn_xprt_stats *xstats; /* the transport's counters in crypto, or NULL */
    struct conn_job *job;           /* the connection's one job, made at its first offload */
    bool job_out;                   /* the job is on a crypto thread: no transport call until it is back */
    size_t out_in_job;              /* plaintext output bytes the job is encoding */
    size_t wire_seen;               /* wire_in bytes the decoder has seen and left (a partial unit) */
};

/* Starts an accepted connection (fd non-blocking) in OPEN, reading. */
void conn_accepted(struct conn *c, struct ev_loop *loop, int fd, const struct conn_ops *ops, void *owner,
                   struct conn_counts *counts);
/* Starts an outgoing connection to sa in CONNECTING; on_connected runs when
 * it is up, on_close(reason) if it fails. Returns 0, or -errno when no
 * socket could be made (nothing was started; no callback will run). */
int conn_connect(struct conn *c, struct ev_loop *loop, const struct sockaddr *sa, socklen_t salen,
                 const struct conn_ops *ops, void *owner, struct conn_counts *counts);

/* The plaintext input the protocol parses (consume what it used). Its
 * memory belongs to the connection layer (it may be a per-thread buffer
 * lent for one read): never free it, and keep no pointer into it after the
 * callback returns. */
static inline struct buf *conn_in(struct conn *c) { return c->xprt ? &c->plain_in : &c->wire_in; }
/* The plaintext output queue: append a message, then call conn_out_end(). */
static inline bool conn_encodes(const struct conn *c) { return c->xprt && c->xprt->encode; }
static inline struct buf *conn_out(struct conn *c) { return conn_encodes(c) ? &c->plain_out : &c->wire_out; }
/* Marks the end of one queued message. 0, or -1 when out of memory (the
 * caller closes the connection). */
int conn_out_end(struct conn *c);
/* Bytes queued for the peer and not yet sent (plaintext and wire). */
size_t conn_out_pending(const struct conn *c);

/* Sends what the socket takes now and arms the write watcher for the rest.
 * May close the connection (a write error, or CLOSING and all sent): hold a
 * reference if the caller uses c afterwards. */
void conn_flush(struct conn *c);
/* Whether the protocol wants input now (flow control). */
void conn_want_read(struct conn *c, bool on);
/* Runs on_input from the loop soon, for input already buffered that the
 * protocol held back (capacity freed by something other than a write). */
void conn_kick(struct conn *c);

/* Arms the timers of an open connection: idle_s without progress closes it
 * with the reason "idle timeout", handshake_s without conn_handshake_done()
 * with "handshake timeout" (seconds; 0 = no such limit). Each such close
 * adds one to counters[its enum conn_timeout] (atomic; NULL: not counted). */
void conn_set_timeouts(struct conn *c, double idle_s, double handshake_s, uint64_t *counters);
/* The protocol's handshake is over: the handshake timer no longer applies. */
void conn_handshake_done(struct conn *c);

void conn_close(struct conn *c, const char *reason);
/* Stops reading; closes when everything queued has been sent. */
void conn_close_after_flush(struct conn *c);

static inline void conn_ref(struct conn *c) { c->refs++; }
void conn_unref(struct conn *c);
static inline bool conn_closed(const struct conn *c) { return c->state == CONN_CLOSED; }

/* Installs a transport on an open connection; wire input already read past
 * the handshake is decoded at once (or handed to a crypto thread: its
 * plaintext then reaches on_input when the thread is done). ctx is owned by
 * the connection from now on (ops->destroy). 0, or -1 when the input cannot
 * be decoded (the connection is closed). */
int conn_set_xprt(struct conn *c, const struct xprt_ops *ops, void *ctx);

/*
 * A listening socket that accepts in batches. When the process runs out of
 * file descriptors the listener pauses for a moment instead of spinning (the
 * pending connection stays in the kernel's backlog) and says so in the log.
 *
 * With a spare descriptor (conn_listener_reserve) it does better: it keeps
 * one descriptor in reserve, and when accept fails for lack of descriptors
 * it gives that one up to take the waiting connection. In DROP mode the
 * connection is closed at once, so the client learns promptly instead of
 * hanging in the backlog; in SERVE mode (an admin endpoint whose health
 * checks must still answer) it is handed to on_accept as usual, and
 * on_accept calls conn_listener_adopt() on its connection so that the slot
 * comes back as the spare when that connection closes.
 */
enum conn_spare { CONN_SPARE_NONE, CONN_SPARE_DROP, CONN_SPARE_SERVE };

struct conn_listener {
    ev_io io;
    ev_timer pause;
    int fd;
    struct ev_loop *loop;
    void (*on_accept)(struct conn_listener *l, int fd, const char *peer);
    void *owner;
    uint64_t paused; /* times accepting paused for lack of fds (atomic ops) */
    enum conn_spare spare_mode;
    int spare;             /* the descriptor held in reserve, -1: none now */
    uint64_t dropped;      /* connections closed at once for lack of fds (atomic ops) */
    uint64_t served_spare; /* connections served on the spare descriptor (atomic ops) */
    bool on_spare;         /* on_accept is running for a connection on the spare */
};

void conn_listener_start(struct conn_listener *l, struct ev_loop *loop, int fd,
                         void (*on_accept)(struct conn_listener *l, int fd, const char *peer), void *owner);
/* Keeps a spare descriptor for when the process runs out (see above). */
void conn_listener_reserve(struct conn_listener *l, enum conn_spare mode);
/* Opens the spare again if it was used and a descriptor is free now. */
void conn_listener_refill(struct conn_listener *l);
/* From on_accept: c (just started on the accepted descriptor) gives its slot
 * back to l as the spare when it closes, if it was taken on the spare. */
void conn_listener_adopt(struct conn_listener *l, struct conn *c);
void conn_listener_stop(struct conn_listener *l);

#endif
