/*
 * conn_int.h: what conn.c and conn_crypto.c share and nothing else may use.
 */
#ifndef FR_CONN_INT_H
#define FR_CONN_INT_H

#include <stdbool.h>

#include "conn.h"
#include "conn_crypto.h"

/* conn.c: a job came back and its result is in the buffers: decode what
 * arrived meanwhile, give new plaintext to the protocol (new_plain: the job
 * decoded some), send, read again. sent: wire bytes the job's thread sent
 * itself (progress, as if the loop had). The caller holds a reference; c is
 * not closed. */
void conn_after_job(struct conn *c, bool new_plain, size_t sent);
/* conn.c: the transport failed (decoding or encoding): count it, close c. */
void conn_xprt_failed(struct conn *c, enum xprt_status st, bool decoding);

/* conn_crypto.c: when the transport wants the head message of plain_out
 * (and the whole messages after it, up to CONN_JOB_BATCH bytes) encoded on
 * a crypto thread, hands them to one and returns true; false: encode
 * inline. No job may be out. */
bool crypto_offload_encode(struct conn *c);
/* conn_crypto.c: the same for the bytes in wire_in. may_steal: wire_in's
 * memory is the connection's own (else it is copied). */
bool crypto_offload_decode(struct conn *c, bool may_steal);
/* conn_crypto.c: the conn's memory goes; frees its job (never out then). */
void crypto_job_free(struct conn *c);
/* conn_crypto.c: what conn_crypto_bind set on this thread, or NULL. */
struct conn_crypto *crypto_bound(void);
/* conn_crypto.c: the counters of transport `name` in cc (NULL: cc is NULL or full). */
struct conn_xprt_stats *crypto_stats_slot(struct conn_crypto *cc, const char *name);

/* The counters have one writer, their loop's thread: a plain atomic store
 * is enough for a scraper to read them whole, without a locked
 * read-modify-write for every message. */
static inline void xstat_add(uint64_t *v, uint64_t d)
{
    __atomic_store_n(v, __atomic_load_n(v, __ATOMIC_RELAXED) + d, __ATOMIC_RELAXED);
}

#endif
