/*
 * xprt: how a connection's bytes are carried (the transport), kept apart from
 * what they mean (the protocol).
 *
 *   socket -> wire_in  --decode-->  plain_in  -> protocol parser
 *   protocol replies -> plain_out --encode--> wire_out -> socket
 *
 * Plaintext is no transport at all: a connection without one (xprt == NULL)
 * parses its wire input in place and sends its plaintext queue as it is, so
 * plaintext connections pay no copy. SASL wrapping (Hadoop IPC and Thrift)
 * and TLS are transports: they are installed on a connection once its
 * handshake has chosen them (conn_set_xprt), and the protocol code never
 * knows.
 *
 * Order: plaintext leaves in the order it was queued, one message at a time
 * (conn_out_end marks where a message ends), because GSSAPI sequence numbers
 * and TLS records must be produced in order. A transport whose work is slow
 * says so with needs_offload, so that the work can run on another thread
 * while the connection is held by a reference (conn_ref); conn_crypto.h
 * says how.
 *
 * Threads: decode and encode may run on a crypto thread, never two at once
 * for one connection, and in the connection's order. There they may use
 * their ctx and the buffers they are given, and c only to name the
 * connection (in a log line): its fields belong to its loop. needs_offload,
 * shutdown and destroy run on the loop, destroy never while a job is out.
 */
#ifndef FR_XPRT_H
#define FR_XPRT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct conn;

enum xprt_status {
    XPRT_OK = 0,     /* progress made, or nothing to do yet (wait for more wire bytes) */
    XPRT_ERROR = -1, /* the peer sent what the transport refuses: close the connection */
    XPRT_NOMEM = -2, /* out of memory */
};

struct xprt_ops {
    const char *name; /* for logs and metrics: "sasl-privacy", "tls" */
    /* Consumes whole wire units from wire and appends their plaintext to
     * plain. Leaves a partial unit in wire for the next call. */
    enum xprt_status (*decode)(struct conn *c, void *ctx, struct buf *wire, struct buf *plain);
    /* Turns one whole plaintext message of n bytes (msg) into wire bytes
     * appended to wire. Called once per message, in queue order. NULL: a
     * transport that only decodes; output goes to the wire as written,
     * with no copy. */
    enum xprt_status (*encode)(struct conn *c, void *ctx, const uint8_t *msg, size_t n, struct buf *wire);
    /* Optional: bytes to send before the socket closes (a TLS close_notify). */
    void (*shutdown)(struct conn *c, void *ctx, struct buf *wire);
    /* Optional: true when encoding (decode false: n is the length of the
     * next message) or decoding (decode true: n is the wire bytes waiting,
     * buf_len of c->wire_in, which the transport may peek at here) is slow
     * enough that it belongs on a crypto thread rather than on the loop.
     * For decode, say yes only once a whole large unit is there, or a
     * thread is woken to find a partial unit and decode nothing. Runs on
     * the loop. */
    bool (*needs_offload)(const struct conn *c, void *ctx, bool decode, size_t n);
    /* Frees ctx; runs when the connection's memory goes. */
    void (*destroy)(void *ctx);
};

#endif
