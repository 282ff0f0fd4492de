/*
 * store_int.h: what the two drivers share (private to statestore/store*.c).
 *
 * Each driver's state begins with a struct store, so the store_* functions
 * in store.c can reach the common part from any driver's pointer.
 */
#ifndef FR_STORE_INT_H
#define FR_STORE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "store.h"

struct store {
    const struct store_ops *ops;
    struct store_host host;             /* a copy of what store_start() was given */
    atomic_bool stop;                   /* the driver's threads leave their loops */
    _Atomic int64_t loaded_at_ms;       /* wall clock of the last snapshot published */
    _Atomic uint64_t reload_failures;
    pthread_mutex_t mu;                 /* guards last_error (written by the driver, read by the admin thread) */
    char last_error[512];               /* why the last reload failed ("" if it did not) */
};

/* Sets up the common part (the driver allocated the whole). */
void store_base_init(struct store *st, const struct store_ops *ops, const struct store_host *host);
void store_base_destroy(struct store *st);
/* Runs host->before_publish, then makes s current in host->ref. */
void store_publish(struct store *st, struct snapshot *s);
/* A reload failed: counted, and why is kept for the health line. */
void store_failed(struct store *st, const char *why);
/* A reload worked: the health line stops naming the last failure. */
void store_clear_error(struct store *st);

#endif
