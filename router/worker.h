/*
 * worker: one thread, one libev loop, its own SO_REUSEPORT listeners. A
 * client connection and every upstream connection it uses belong to one
 * worker, so the call path takes no lock.
 */
#ifndef FR_WORKER_H
#define FR_WORKER_H

#include <ev.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "conn_crypto.h"
#include "hdfs_conn.h"
#include "inbox.h"

struct router;
struct hconn;
struct upstream_pool;
struct metrics_shard;
struct mconn;
struct hms_pool;

/* The kinds of socket a worker holds; each has per-state gauges. */
enum worker_sock {
    WS_HDFS_CLIENT,                     /* HDFS clients */
    WS_HMS_CLIENT,                      /* metastore clients */
    WS_NAMENODE,                        /* connections to NameNodes */
    WS_METASTORE,                       /* connections to backend metastores */
    WS_NKINDS
};
const char *worker_sock_name(enum worker_sock k);

struct worker {
    int id;
    struct router *router;              /* shared, read-mostly */
    pthread_t thr;
    struct ev_loop *loop;
    int hdfs_fd;                        /* this worker's HDFS listener */
    struct conn_listener hdfs_listener; /* accepts HDFS clients (hconn_accept) */
    ev_async wake;                      /* stop / drain requests from main */
    struct fr_inbox inbox;              /* jobs the crypto threads hand back to this loop */
    struct conn_crypto crypto;          /* this loop's crypto hand-off and transport counters; every
                                           connection made on the worker's thread uses it */
    struct upstream_pool *up;
    struct metrics_shard *metrics;
    struct hconn *conns;                /* live client connections */
    uint64_t nconns;                    /* written by the worker, read by the admin thread: atomic ops */
    uint64_t in_flight;                 /* client calls not yet answered (atomic ops, as nconns) */
    uint64_t next_conn_id;
    /* the metastore side */
    int hms_fd;                         /* -1: not serving metastore clients */
    struct conn_listener hms_accept;    /* started only when hms_fd >= 0 */
    struct hms_pool *hup;               /* backend metastore connections */
    struct mconn *mconns;               /* open metastore client connections */
    uint64_t nmconns;
    int64_t hms_client_states[8];       /* metastore clients per state (enum mconn_state), atomic ops */
    struct conn_counts socks[WS_NKINDS]; /* connection states per kind (lib/conn), read by the admin thread */
    struct hconn_counts hdfs_states;    /* HDFS clients per protocol state, read by the admin thread */
    uint64_t client_timeouts[2][CONN_NTIMEOUTS]; /* clients closed by their timers ([0] HDFS, [1] metastore;
                                           enum conn_timeout), atomic ops */
};

/* Starts worker `id`: binds hdfs_listen with SO_REUSEPORT (when *port_io > 0
 * that port is used, else the one in the address; the bound port is written
 * back) and runs its loop on a new thread. */
int worker_start(struct worker *w, struct router *r, int id, const char *hdfs_listen, int *port_io, char *err,
                 size_t errlen);
/* A client connection was accepted (hms: on the metastore listener): true
 * when it may stay; false when client.max_conns are open already, and then
 * the refusal is counted and logged (rate-limited) and the caller closes the
 * socket. Every admitted connection calls worker_client_gone once. */
bool worker_client_admit(struct worker *w, bool hms, const char *peer);
void worker_client_gone(struct worker *w);

/* The crypto threads all workers share (r->crypto_pool, none when threads
 * is 0) and their metrics; nice as fr_workpool_new takes it (0..19, or
 * FR_WORKPOOL_IDLE). Before the first worker_start / after the last
 * worker_join. */
int workers_crypto_start(struct router *r, int threads, int nice, char *err, size_t errlen);
void workers_crypto_stop(struct router *r);

/* Tells the worker to look at the router's draining/stopping flags. */
void worker_wake(struct worker *w);
void worker_join(struct worker *w);

#endif
