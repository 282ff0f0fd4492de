/*
 * metrics: the router's counters and latency histograms, rendered as
 * Prometheus text on GET /metrics.
 *
 * Writers are the worker threads, each into its own shard (no sharing on the
 * hot path: plain relaxed atomic adds on cache lines nobody else writes).
 * The admin thread sums the shards when scraped. Series are keyed by
 * (protocol, method, nameservice); names are interned once into a global,
 * append-only table so a series is two small integers.
 *
 *   fedrouter_calls_total{proto,method,ns}        calls answered
 *   fedrouter_call_errors_total{proto,method,ns}  answered with an exception
 *   fedrouter_call_seconds_bucket{...,le}          latency histogram
 * proto is hdfs or hms for client calls, and hdfs_upstream / hms_upstream for
 * the calls the router makes to each nameservice or metastore on their
 * behalf (a fan-out shows as one client call with ns "*" and one upstream
 * call per nameservice).
 *   + gauges registered by other modules (pool sizes, in-flight calls,
 *     snapshot version, statestore staleness) through metrics_gauge_fn.
 */
#ifndef FR_METRICS_H
#define FR_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

#define METRICS_MAX_NAMES 4096     /* interned method + nameservice names */
#define METRICS_MAX_SERIES 8192    /* (proto, method, ns) triples per shard */
#define METRICS_NBUCKETS 16

/* Bucket upper bounds in microseconds (the last is +Inf). */
extern const uint64_t metrics_bucket_us[METRICS_NBUCKETS];

/* Interns a name; returns its id (stable for the process) or -1 when full. */
int metrics_name_id(const char *name);

struct metrics_series {
    _Atomic uint64_t calls;
    _Atomic uint64_t errors;
    _Atomic uint64_t sum_us;
    _Atomic uint64_t buckets[METRICS_NBUCKETS];
};

/* One worker's shard: an open-addressed table of series. */
struct metrics_shard {
    struct {
        _Atomic uint32_t key;      /* 0 = empty; else (proto<<28 | method<<14 | ns) + 1 */
        struct metrics_series s;
    } slot[METRICS_MAX_SERIES];
};

/* Creates the shard for one worker and registers it for scraping. */
struct metrics_shard *metrics_shard_new(void);

/* Records one call. proto: 0 = hdfs, 1 = hms, 2 = hdfs_upstream, 3 = hms_upstream.
 * Thread: the shard's owner. */
void metrics_record(struct metrics_shard *sh, int proto, int method_id, int ns_id, uint64_t micros, bool error);

/* A gauge (or counter) another module reports at scrape time: it appends
 * Prometheus text lines to out. */
typedef void (*metrics_gauge_fn)(struct buf *out, void *arg);
void metrics_add_gauge(metrics_gauge_fn fn, void *arg);

/* Renders every series and gauge as Prometheus text into out. */
void metrics_render(struct buf *out);

/* The crypto threads and the transports (lib/conn_crypto.h), summed over
 * the loops cc[0..n) (one per worker) by transport name:
 *   fedrouter_xprt_messages_total{xprt,op}       op encode: messages; decode: unwrap runs giving plaintext
 *   fedrouter_xprt_plain_bytes_total{xprt,op}    plaintext bytes in (encode) / out (decode)
 *   fedrouter_xprt_wire_bytes_total{xprt,op}     wire bytes out (encode) / in (decode)
 *   fedrouter_xprt_offloaded_total{xprt,op}      jobs run on a crypto thread
 *   fedrouter_xprt_queue_full_total{xprt}        wanted a thread, queue full: ran on the worker
 *   fedrouter_xprt_failures_total{xprt,reason}   connections closed by their transport
 *   fedrouter_crypto_threads, fedrouter_crypto_queue_depth, fedrouter_crypto_running_jobs (gauges)
 *   fedrouter_crypto_jobs_total, fedrouter_crypto_busy_seconds_total (counters)
 *   fedrouter_crypto_queue_wait_seconds (histogram: submitted -> started)
 * pool NULL: the crypto gauges are 0 (inline). */
struct conn_crypto;
struct fr_workpool;
void metrics_render_crypto(struct buf *out, const struct conn_crypto *const *cc, int n,
                           const struct fr_workpool *pool);

/* One series summed over every shard, as the status page reads them. */
struct metrics_row {
    const char *proto;              /* "hdfs", "hms", "hdfs_upstream", "hms_upstream" */
    const char *method, *ns;        /* interned names: valid for the process */
    uint64_t calls, errors, sum_us;
    uint64_t buckets[METRICS_NBUCKETS];
};

/* Every series, summed over the shards and sorted by (proto, method, ns),
 * in a malloc'd array the caller frees; *n rows. NULL with *n = 0 when
 * there are none or memory ran out. Thread: any (reads the shards as a
 * scrape does). */
struct metrics_row *metrics_collect(size_t *n);

/* The latency below which a fraction q (0..1) of the calls counted in
 * buckets fell, in microseconds, interpolated linearly inside the bucket
 * (the last, unbounded bucket answers its lower bound). 0 when empty. */
double metrics_quantile_us(const uint64_t buckets[METRICS_NBUCKETS], double q);

/* Appends formatted text (a printf into a buf). */
void metrics_printf(struct buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
