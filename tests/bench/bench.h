/*
 * bench.h: the pieces of fedrouter-bench shared by its files.
 *
 *   fedrouter-bench.c  arguments, the reachability probe, threads, report
 *   bench_conn.c       one worker thread: a libev loop driving its share of
 *                      the connections, each a closed loop of calls or, with
 *                      --rate, calls started on a fixed schedule
 *   bench_hms.c        the metastore ops: Thrift calls and reply checks
 *   bench_hist.c       the latency histogram
 *
 * Workers share nothing while running except the read-only run settings and
 * one atomic flag; each keeps its own counters and histogram, merged by the
 * main thread after all workers have been joined.
 */
#ifndef FR_BENCH_H
#define FR_BENCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct ev_loop;
struct conn;

/* ---- latency histogram (log-linear, HdrHistogram-like) ----
 * Values below HIST_SUB are exact; above, each power of two [2^e, 2^(e+1))
 * is cut into HIST_SUB equal buckets, so a bucket is at most 1/HIST_SUB of
 * its lower bound wide and its midpoint is within 1/(2*HIST_SUB) (0.4%) of
 * any value in it. Values of 2^(HIST_MAX_EXP+1) and more land in the last
 * bucket. Fixed size: no allocation. */
#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_MAX_EXP 40 /* in ns: up to about 36 minutes */
#define HIST_BUCKETS ((HIST_MAX_EXP - HIST_SUB_BITS + 2) * HIST_SUB)

struct hist {
    uint64_t count;           /* values recorded */
    uint64_t max;             /* largest value recorded */
    uint64_t b[HIST_BUCKETS]; /* per-bucket counts */
};

void hist_record(struct hist *h, uint64_t v);
void hist_merge(struct hist *dst, const struct hist *src);
/* The value at quantile q (0 < q <= 1): the midpoint of the bucket holding
 * the ceil(q*count)-th smallest value, capped at max. 0 when empty. */
uint64_t hist_quantile(const struct hist *h, double q);

/* ---- run settings ---- */

/* OP_CCD is one operation of three calls in a row on the same connection
 * slot: create a fresh file, complete it (no blocks), delete it. Its latency
 * runs from the create being queued to the delete's reply. */
enum bench_op { OP_GETFILEINFO, OP_GETLISTING, OP_MKDIRS, OP_CREATE, OP_CCD, OP_GET_TABLE, OP_GET_PARTS_BY_NAMES };

/* The metastore ops speak unframed binary Thrift (strict header), one call in
 * flight per connection, as Hive Metastore clients do. */
static inline bool op_is_hms(enum bench_op op) { return op == OP_GET_TABLE || op == OP_GET_PARTS_BY_NAMES; }

#define BENCH_MAX_PATH 3000 /* --path limit, bytes */
#define BENCH_MAX_USER 256  /* --user limit, bytes */
#define BENCH_MAX_NAME 1024 /* --db / --table limit, bytes */
#define BENCH_MAX_DEPTH 1024
#define BENCH_MAX_THREADS 256
#define BENCH_CALL_TIMEOUT_NS (10ull * 1000000000ull) /* no reply / no connect */

/* Everything a worker needs; written by main before the threads start,
 * read-only afterwards except ever_connected. */
struct bench_cfg {
    struct sockaddr_storage addr; /* resolved --target */
    socklen_t addrlen;
    const char *target; /* as given, for messages */
    enum bench_op op;
    const char *path;        /* --path, without a trailing '/' (but "/" stays) */
    const char *user;        /* effective user in the connection context */
    const char *krb_service; /* --kerberos SERVICE/HOST: NULL = no SASL */
    const char *krb_host;
    const char *db, *table; /* metastore ops: --db, --table */
    const char *hms_method; /* metastore ops: the method called */
    uint8_t *hms_args;      /* metastore ops: the args struct, the same every call */
    size_t hms_args_len;
    unsigned hms_nparts; /* get_partitions_by_names: names asked for */
    unsigned conns, depth, threads;
    double rate;               /* --rate: ops per second over all connections; 0 = closed loop */
    uint64_t win_begin_ns;     /* measured window, CLOCK_MONOTONIC */
    uint64_t win_end_ns;       /* workers stop at this time */
    atomic_int ever_connected; /* set once any TCP connect succeeds */
};

/* One worker thread. Counters cover the whole run unless stated. */
struct worker {
    const struct bench_cfg *cfg;
    struct bench_cfg *shared; /* same object, for ever_connected */
    unsigned id;              /* 0..threads-1 */
    pthread_t thr;
    struct ev_loop *loop;
    struct conn *conns; /* this worker's connections */
    unsigned nconns;
    struct conn *dirty;     /* connections with output to flush */
    uint64_t ops;           /* successful calls completed in the window */
    uint64_t errors;        /* ERROR/FATAL replies, lost calls, failed connects */
    uint64_t error_replies; /* ERROR replies (part of errors) */
    uint64_t conn_failures; /* connections lost or never established */
    uint64_t connects;      /* TCP connects that succeeded */
    uint64_t replies;       /* replies of any kind, warmup and run */
    char first_error[256];  /* the first error seen, for the report */
    char setup_error[256];  /* non-empty: the worker could not start */
    struct hist hist;       /* latencies (ns) of calls done in the window */
};

/* ---- Kerberos (bench_krb.c) ----
 * The SASL GSSAPI handshake on a connected blocking socket: preamble,
 * NEGOTIATE, the GSSAPI exchange for service/host. *layer gets the
 * security layer (NULL without one) and *ssf its strength (0: no layer).
 * -1 with why. */
struct sec_layer;
int bench_krb_handshake(int fd, const char *service, const char *host, struct sec_layer **layer, unsigned *ssf,
                        char *why, size_t whylen);
void bench_krb_free(struct sec_layer **layer);

/* Runs one worker until cfg->win_end_ns (thread entry point; arg: struct worker *). */
void *worker_main(void *arg);

/* ---- metastore ops (bench_hms.c) ---- */

struct buf;

/* Sets cfg->hms_method and builds cfg->hms_args. get_partitions_by_names
 * first asks the target for the table's partition names (one blocking
 * get_partition_names call) and asks for all of them on every call. Returns
 * 0, or -1 with a message in err. */
int hms_prepare(struct bench_cfg *cfg, char *err, size_t errlen);

/* Appends one call (strict binary header with seqid, then cfg->hms_args).
 * Returns 0, or -1 when out of memory. */
int hms_write_call(struct buf *out, const struct bench_cfg *cfg, int32_t seqid);

/* What a reply was: the expected result; an exception or an unexpected
 * result, after which the connection goes on; or a reply that does not
 * belong to the call, after which it cannot. */
enum hms_verdict { HMS_OK, HMS_ERROR_REPLY, HMS_BROKEN };

/* Judges one whole reply message to the call with seqid; for anything but
 * HMS_OK a description goes to why. */
enum hms_verdict hms_check_reply(const struct bench_cfg *cfg, const uint8_t *msg, size_t len, int32_t seqid, char *why,
                                 size_t whylen);

/* CLOCK_MONOTONIC in ns. */
uint64_t bench_now_ns(void);

#endif
