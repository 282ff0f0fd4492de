/*
 * conn_crypto: running a connection's transport work (xprt.h: SASL wrap and
 * unwrap, TLS records) on crypto threads instead of on its event loop.
 *
 *   loop                                  crypto thread (workpool.h)
 *   ----                                  -------------
 *   plain_out msgs --needs_offload?--yes--> job: encode msg, msg, ...; send
 *   wire_in bytes  --needs_offload?--yes--> job: decode units
 *        |                                       |
 *        +<---- home inbox: wire_out / plain_in appended in order, then
 *               flush / on_input as if it had run inline
 *
 * Rules the connection layer keeps:
 * - At most one job per connection is out, for encode and decode together:
 *   a transport's context (a GSSAPI context) is not thread safe and its
 *   sequence numbers must follow the order of the messages. While the job is
 *   out no transport function is called for that connection on its loop;
 *   later messages wait in plain_out, later input in wire_in (reading stops
 *   once CONN_HELD_INPUT bytes wait), and are taken when the job is back.
 * - The job holds a reference on the connection (conn_ref): a connection
 *   closed meanwhile keeps its memory and transport until the job is back,
 *   and its result is then dropped.
 * - An encode job that leaves with nothing of its connection still waiting
 *   to go out (wire_out empty) also sends its wire bytes from the thread,
 *   on a dup of the socket (a close on the loop meanwhile cannot give the
 *   number to another connection under it). What the socket does not take
 *   goes back to wire_out; a send that fails closes the connection when the
 *   job is back ("write failed"). The loop never sends while a job is out,
 *   as nothing is added to wire_out then, so the bytes stay in order.
 * - A transport failure found on a crypto thread closes the connection when
 *   the job is back, with the same reasons as inline.
 * - Full queue: when the pool refuses a job (its queue is full), the work
 *   runs inline on the loop at once, as with no pool. That keeps order (no
 *   job of the connection is out when the choice is made), needs no retry
 *   timer, and makes a loop whose crypto threads cannot keep up slow down its
 *   own reading instead of queueing without bound. Counted per transport
 *   (inline_full).
 * - No pool (crypto->pool == NULL, crypto_threads = 0) or no crypto at all
 *   (c->crypto == NULL): everything runs inline, as before this module.
 *
 * What a transport must allow (xprt.h): encode and decode may run on a
 * crypto thread, one call at a time per connection; there they may use c
 * only to name the connection (no field of it may be read or written, the
 * loop owns them), and only their ctx and the buffers they are given.
 * needs_offload always runs on the loop.
 */
#ifndef FR_CONN_CRYPTO_H
#define FR_CONN_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"

struct fr_workpool;
struct fr_job;
struct fr_inbox;

#define CONN_XPRT_KINDS 8            /* transports with counters per crypto */
#define CONN_HELD_INPUT (256u << 10) /* wire input held while a job is out before reading stops */
#define CONN_JOB_BATCH (1u << 20)    /* plaintext bytes one encode job takes at most (whole messages) */

enum conn_xprt_fail {
    CONN_XF_ENCODE, /* the transport refused to encode a message */
    CONN_XF_DECODE, /* the transport refused the input */
    CONN_XF_NOMEM,  /* out of memory in the transport or around it */
    CONN_XF_N
};
const char *conn_xprt_fail_name(enum conn_xprt_fail f);

/* Counters of one transport on one loop. Written by that loop's thread,
 * read by a scraper: every field with __atomic builtins. */
struct conn_xprt_stats {
    const char *name;     /* xprt_ops.name; NULL: slot unused (published last) */
    uint64_t enc_msgs;    /* messages encoded */
    uint64_t enc_bytes;   /* their plaintext bytes */
    uint64_t enc_wire;    /* wire bytes they made */
    uint64_t dec_calls;   /* decode runs that produced plaintext */
    uint64_t dec_wire;    /* wire bytes decoded */
    uint64_t dec_bytes;   /* plaintext bytes those gave */
    uint64_t jobs[2];     /* jobs run on a crypto thread: [0] encode, [1] decode */
    uint64_t inline_full; /* wanted a crypto thread, queue full: ran inline */
    uint64_t failures[CONN_XF_N];
};

/* A job that waited this long for a crypto thread is run by a loop instead:
 * the threads are starved of CPU (SCHED_IDLE or their niceness on full
 * cores), and the reply it holds must not wait for them indefinitely. */
#define CONN_CRYPTO_MAX_WAIT_MS 10

/* One per event loop. */
struct conn_crypto {
    struct fr_workpool *pool; /* NULL: inline */
    struct fr_inbox *home;    /* the loop's inbox; its handler runs fr_job_complete */
    ev_timer stale;           /* while this loop has jobs out: runs jobs that waited too long */
    uint64_t out;             /* jobs not back yet (loop writes; atomic for readers) */
    const uint64_t *calls;    /* the loop's client calls in flight (atomic), or NULL */
    struct conn_xprt_stats xs[CONN_XPRT_KINDS];
};

/* pool may be NULL (inline; home unused then). */
void conn_crypto_init(struct conn_crypto *cc, struct fr_workpool *pool, struct fr_inbox *home);
/* Work goes to a thread only while other calls wait on this loop: with
 * *calls (the loop's client calls not yet answered) at most the one being
 * served, the hand-off would only add its latency. NULL: always offload. */
void conn_crypto_watch_calls(struct conn_crypto *cc, const uint64_t *calls);
/* Connections set up on the calling thread from now on use cc (NULL: none).
 * A worker calls it once on its own thread, so that every protocol's
 * connections get it without knowing. */
void conn_crypto_bind(struct conn_crypto *cc);
/* This connection uses cc from now on; not while a job is out. */
void conn_set_crypto(struct conn *c, struct conn_crypto *cc);
/* Other work of the loop that belongs on a crypto thread (a large answer
 * to rewrite), under the rules of the transports' jobs: j (run, done set)
 * goes to the pool only while a call other than the one it serves waits on
 * the loop and the queue has room; it then counts as out, and quiesce waits
 * for it. j's done() must call conn_crypto_job_back first. false: do the
 * work inline. Loop thread. */
bool conn_crypto_submit(struct conn_crypto *cc, struct fr_job *j);
void conn_crypto_job_back(struct conn_crypto *cc);
/* Loop thread, loop not running: hands back every job that is out (their
 * connections should be closed by now) by draining home until none is out.
 * Call before fr_inbox_stop(home). */
void conn_crypto_quiesce(struct conn_crypto *cc);

#endif
