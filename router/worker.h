/*
 * worker: one thread, one libev loop, its own SO_REUSEPORT listeners. A
 * client connection and every upstream connection it uses belong to one
 * worker, so the call path takes no lock.
 */
#ifndef FR_WORKER_H
#define FR_WORKER_H

#include <ev.h>
#include <pthread.h>
#include <stdint.h>

struct router;
struct hconn;
struct upstream_pool;
struct metrics_shard;

struct worker {
    int id;
    struct router *router;              /* shared, read-mostly */
    pthread_t thr;
    struct ev_loop *loop;
    int hdfs_fd;                        /* this worker's HDFS listener */
    ev_io hdfs_accept;
    ev_async wake;                      /* stop / drain requests from main */
    struct upstream_pool *up;
    struct metrics_shard *metrics;
    struct hconn *conns;                /* live client connections */
    uint64_t nconns;
    uint64_t in_flight;                 /* client calls not yet answered */
    uint64_t next_conn_id;
};

#endif
