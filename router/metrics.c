#include "metrics.h"

#include "conn_crypto.h"
#include "workpool.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const uint64_t metrics_bucket_us[METRICS_NBUCKETS] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 5000000, UINT64_MAX,
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static char *names[METRICS_MAX_NAMES];
static _Atomic int nnames;
static struct metrics_shard *shards[256];
static _Atomic int nshards;
static struct {
    metrics_gauge_fn fn;
    void *arg;
} gauges[64];
static _Atomic int ngauges;

/* Interned names never change or go away, so each thread keeps a small
 * direct-mapped cache of name -> id: a call's method and nameservice are
 * found with one hash and one compare instead of a scan of every name. */
#define NAME_CACHE 256

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

int metrics_name_id(const char *name)
{
    static __thread int cache[NAME_CACHE]; /* id + 1, 0 = empty */
    uint32_t slot = name_hash(name) % NAME_CACHE;
    int cached = cache[slot] - 1;
    if (cached >= 0 && strcmp(names[cached], name) == 0)
        return cached;
    int n = atomic_load_explicit(&nnames, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0) {
            cache[slot] = i + 1;
            return i;
        }
    pthread_mutex_lock(&reg_lock);
    n = atomic_load_explicit(&nnames, memory_order_relaxed);
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i], name) == 0) {
            pthread_mutex_unlock(&reg_lock);
            return i;
        }
    }
    int id = -1;
    if (n < METRICS_MAX_NAMES && (names[n] = strdup(name)) != NULL) {
        id = n;
        atomic_store_explicit(&nnames, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&reg_lock);
    return id;
}

struct metrics_shard *metrics_shard_new(void)
{
    struct metrics_shard *sh = calloc(1, sizeof *sh);
    if (!sh)
        return NULL;
    pthread_mutex_lock(&reg_lock);
    int n = atomic_load(&nshards);
    if (n >= (int)(sizeof shards / sizeof shards[0])) {
        pthread_mutex_unlock(&reg_lock);
        free(sh);
        return NULL;
    }
    shards[n] = sh;
    atomic_store_explicit(&nshards, n + 1, memory_order_release);
    pthread_mutex_unlock(&reg_lock);
    return sh;
}

static struct metrics_series *series_get(struct metrics_shard *sh, uint32_t key)
{
    uint32_t h = key * 2654435761u;
    for (uint32_t i = 0; i < METRICS_MAX_SERIES; i++) {
        uint32_t at = (h + i) % METRICS_MAX_SERIES;
        uint32_t k = atomic_load_explicit(&sh->slot[at].key, memory_order_relaxed);
        if (k == key)
            return &sh->slot[at].s;
        if (k == 0) {
            /* Only the owner thread inserts; the scraper reads key last-written. */
            atomic_store_explicit(&sh->slot[at].key, key, memory_order_release);
            return &sh->slot[at].s;
        }
    }
    return NULL; /* full: the call is not counted */
}

void metrics_record(struct metrics_shard *sh, int proto, int method_id, int ns_id, uint64_t micros, bool error)
{
    if (!sh || method_id < 0 || ns_id < 0)
        return;
    uint32_t key = (((uint32_t)proto & 0xf) << 28 | ((uint32_t)method_id & 0x3fff) << 14 | ((uint32_t)ns_id & 0x3fff)) + 1;
    struct metrics_series *s = series_get(sh, key);
    if (!s)
        return;
    atomic_fetch_add_explicit(&s->calls, 1, memory_order_relaxed);
    if (error)
        atomic_fetch_add_explicit(&s->errors, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum_us, micros, memory_order_relaxed);
    int b = 0;
    while (b < METRICS_NBUCKETS - 1 && micros > metrics_bucket_us[b])
        b++;
    atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
}

void metrics_add_gauge(metrics_gauge_fn fn, void *arg)
{
    pthread_mutex_lock(&reg_lock);
    int n = atomic_load(&ngauges);
    if (n < (int)(sizeof gauges / sizeof gauges[0])) {
        gauges[n].fn = fn;
        gauges[n].arg = arg;
        atomic_store_explicit(&ngauges, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&reg_lock);
}

void metrics_printf(struct buf *out, const char *fmt, ...)
{
    va_list ap;
    for (int tries = 0; tries < 2; tries++) {
        if (buf_reserve(out, tries ? 65536 : 256) < 0)
            return;
        va_start(ap, fmt);
        int n = vsnprintf((char *)buf_wptr(out), buf_room(out), fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < buf_room(out)) {
            buf_commit(out, (size_t)n);
            return;
        }
    }
}

/* Scrape-time sum of every shard's series, keyed like the shards. */
struct agg {
    uint32_t key;
    uint64_t calls, errors, sum_us, buckets[METRICS_NBUCKETS];
};

static int cmp_agg(const void *a, const void *b)
{
    uint32_t x = ((const struct agg *)a)->key, y = ((const struct agg *)b)->key;
    return x < y ? -1 : x > y;
}

/* Sums every shard's series into a sorted array (caller frees); *np rows. */
static struct agg *aggregate(size_t *np)
{
    size_t cap = 1024, n = 0;
    struct agg *all = malloc(cap * sizeof *all);
    int ns = atomic_load_explicit(&nshards, memory_order_acquire);
    for (int i = 0; all && i < ns; i++) {
        for (uint32_t j = 0; j < METRICS_MAX_SERIES; j++) {
            uint32_t key = atomic_load_explicit(&shards[i]->slot[j].key, memory_order_acquire);
            if (!key)
                continue;
            struct metrics_series *s = &shards[i]->slot[j].s;
            struct agg *a = NULL;
            for (size_t k = 0; k < n; k++)
                if (all[k].key == key)
                    a = &all[k];
            if (!a) {
                if (n == cap) {
                    struct agg *grown = realloc(all, 2 * cap * sizeof *all);
                    if (!grown)
                        break;
                    all = grown;
                    cap *= 2;
                }
                a = &all[n++];
                memset(a, 0, sizeof *a);
                a->key = key;
            }
            a->calls += atomic_load_explicit(&s->calls, memory_order_relaxed);
            a->errors += atomic_load_explicit(&s->errors, memory_order_relaxed);
            a->sum_us += atomic_load_explicit(&s->sum_us, memory_order_relaxed);
            for (int b = 0; b < METRICS_NBUCKETS; b++)
                a->buckets[b] += atomic_load_explicit(&s->buckets[b], memory_order_relaxed);
        }
    }
    if (all)
        qsort(all, n, sizeof *all, cmp_agg);
    *np = all ? n : 0;
    return all;
}

static const char *const proto_names[4] = { "hdfs", "hms", "hdfs_upstream", "hms_upstream" };

struct metrics_row *metrics_collect(size_t *np)
{
    size_t n = 0;
    struct agg *all = aggregate(&n);
    struct metrics_row *rows = n ? calloc(n, sizeof *rows) : NULL;
    int nn = atomic_load_explicit(&nnames, memory_order_acquire);
    for (size_t k = 0; rows && k < n; k++) {
        uint32_t key = all[k].key - 1;
        int m = (int)((key >> 14) & 0x3fff), s = (int)(key & 0x3fff);
        rows[k].proto = proto_names[(key >> 28) & 3];
        rows[k].method = m < nn ? names[m] : "?";
        rows[k].ns = s < nn ? names[s] : "?";
        rows[k].calls = all[k].calls;
        rows[k].errors = all[k].errors;
        rows[k].sum_us = all[k].sum_us;
        memcpy(rows[k].buckets, all[k].buckets, sizeof rows[k].buckets);
    }
    free(all);
    *np = rows ? n : 0;
    return rows;
}

double metrics_quantile_us(const uint64_t buckets[METRICS_NBUCKETS], double q)
{
    uint64_t total = 0;
    for (int b = 0; b < METRICS_NBUCKETS; b++)
        total += buckets[b];
    if (!total)
        return 0;
    double want = q * (double)total, seen = 0;
    for (int b = 0; b < METRICS_NBUCKETS; b++) {
        if (!buckets[b])
            continue;
        double lo = b ? (double)metrics_bucket_us[b - 1] : 0;
        if (b == METRICS_NBUCKETS - 1)
            return lo; /* unbounded: its floor is all that is known */
        if (seen + (double)buckets[b] >= want) {
            double hi = (double)metrics_bucket_us[b];
            return lo + (hi - lo) * (want - seen) / (double)buckets[b];
        }
        seen += (double)buckets[b];
    }
    return (double)metrics_bucket_us[METRICS_NBUCKETS - 2];
}

void metrics_render(struct buf *out)
{
    const char *const *protos = proto_names;
    size_t n = 0;
    struct agg *all = aggregate(&n);
    int nn = atomic_load_explicit(&nnames, memory_order_acquire);
    char labels[512];
    /* One pass per metric family: Prometheus wants each family contiguous. */
    for (int fam = 0; fam < 3; fam++) {
        static const char *head[3] = {
            "# HELP fedrouter_calls_total Calls answered, per protocol, method and nameservice.\n"
            "# TYPE fedrouter_calls_total counter\n",
            "# HELP fedrouter_call_errors_total Calls answered with an exception.\n"
            "# TYPE fedrouter_call_errors_total counter\n",
            "# HELP fedrouter_call_seconds Call latency in the router, from request read to reply queued.\n"
            "# TYPE fedrouter_call_seconds histogram\n",
        };
        metrics_printf(out, "%s", head[fam]);
        for (size_t k = 0; k < n; k++) {
            uint32_t key = all[k].key - 1;
            int p = (int)(key >> 28), m = (int)((key >> 14) & 0x3fff), s = (int)(key & 0x3fff);
            snprintf(labels, sizeof labels, "proto=\"%s\",method=\"%s\",ns=\"%s\"", protos[p & 3],
                     m < nn ? names[m] : "?", s < nn ? names[s] : "?");
            if (fam == 0) {
                metrics_printf(out, "fedrouter_calls_total{%s} %llu\n", labels, (unsigned long long)all[k].calls);
                continue;
            }
            if (fam == 1) {
                metrics_printf(out, "fedrouter_call_errors_total{%s} %llu\n", labels, (unsigned long long)all[k].errors);
                continue;
            }
            uint64_t cum = 0;
            for (int b = 0; b < METRICS_NBUCKETS; b++) {
                cum += all[k].buckets[b];
                if (b == METRICS_NBUCKETS - 1)
                    metrics_printf(out, "fedrouter_call_seconds_bucket{%s,le=\"+Inf\"} %llu\n", labels,
                                   (unsigned long long)cum);
                else
                    metrics_printf(out, "fedrouter_call_seconds_bucket{%s,le=\"%g\"} %llu\n", labels,
                                   (double)metrics_bucket_us[b] / 1e6, (unsigned long long)cum);
            }
            metrics_printf(out, "fedrouter_call_seconds_sum{%s} %.6f\n", labels, (double)all[k].sum_us / 1e6);
            metrics_printf(out, "fedrouter_call_seconds_count{%s} %llu\n", labels, (unsigned long long)all[k].calls);
        }
    }
    free(all);
    int ng = atomic_load_explicit(&ngauges, memory_order_acquire);
    for (int i = 0; i < ng; i++)
        gauges[i].fn(out, gauges[i].arg);
}

/* ---- crypto threads and transports ---- */

#define XPRT_NAMES 32

struct xprt_sum {
    const char *name;
    uint64_t v[2][4]; /* [encode, decode][messages, plain bytes, wire bytes, offloaded] */
    uint64_t full, fail[CONN_XF_N];
};

static uint64_t ld(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

static int sum_xprts(const struct conn_crypto *const *cc, int n, struct xprt_sum *sums)
{
    int ns = 0;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < CONN_XPRT_KINDS; k++) {
            const struct conn_xprt_stats *x = &cc[i]->xs[k];
            const char *name = __atomic_load_n(&x->name, __ATOMIC_ACQUIRE);
            if (!name)
                break; /* slots fill in order */
            struct xprt_sum *t = NULL;
            for (int j = 0; j < ns; j++)
                if (strcmp(sums[j].name, name) == 0)
                    t = &sums[j];
            if (!t) {
                if (ns == XPRT_NAMES)
                    continue;
                t = &sums[ns++];
                memset(t, 0, sizeof *t);
                t->name = name;
            }
            const uint64_t enc[4] = { ld(&x->enc_msgs), ld(&x->enc_bytes), ld(&x->enc_wire), ld(&x->jobs[0]) };
            const uint64_t dec[4] = { ld(&x->dec_calls), ld(&x->dec_bytes), ld(&x->dec_wire), ld(&x->jobs[1]) };
            for (int m = 0; m < 4; m++) {
                t->v[0][m] += enc[m];
                t->v[1][m] += dec[m];
            }
            t->full += ld(&x->inline_full);
            for (int f = 0; f < CONN_XF_N; f++)
                t->fail[f] += ld(&x->failures[f]);
        }
    }
    return ns;
}

void metrics_render_crypto(struct buf *out, const struct conn_crypto *const *cc, int n,
                           const struct fr_workpool *pool)
{
    static const char *const fam[4][2] = {
        { "fedrouter_xprt_messages_total", "Messages a transport encoded, and its decode runs that gave plaintext." },
        { "fedrouter_xprt_plain_bytes_total", "Plaintext bytes a transport encoded or decoded." },
        { "fedrouter_xprt_wire_bytes_total", "Wire bytes a transport made (encode) or took (decode)." },
        { "fedrouter_xprt_offloaded_total", "Transport jobs run on a crypto thread." },
    };
    static const char *const ops[2] = { "encode", "decode" };
    struct xprt_sum sums[XPRT_NAMES];
    int ns = sum_xprts(cc, n, sums);
    for (int f = 0; f < 4; f++) {
        metrics_printf(out, "# HELP %s %s\n# TYPE %s counter\n", fam[f][0], fam[f][1], fam[f][0]);
        for (int j = 0; j < ns; j++)
            for (int o = 0; o < 2; o++)
                metrics_printf(out, "%s{xprt=\"%s\",op=\"%s\"} %llu\n", fam[f][0], sums[j].name, ops[o],
                               (unsigned long long)sums[j].v[o][f]);
    }
    metrics_printf(out, "# HELP fedrouter_xprt_queue_full_total Transport work that wanted a crypto thread "
                        "and ran on its worker because the queue was full.\n"
                        "# TYPE fedrouter_xprt_queue_full_total counter\n");
    for (int j = 0; j < ns; j++)
        metrics_printf(out, "fedrouter_xprt_queue_full_total{xprt=\"%s\"} %llu\n", sums[j].name,
                       (unsigned long long)sums[j].full);
    metrics_printf(out, "# HELP fedrouter_xprt_failures_total Connections closed by their transport.\n"
                        "# TYPE fedrouter_xprt_failures_total counter\n");
    for (int j = 0; j < ns; j++)
        for (int f = 0; f < CONN_XF_N; f++)
            metrics_printf(out, "fedrouter_xprt_failures_total{xprt=\"%s\",reason=\"%s\"} %llu\n", sums[j].name,
                           conn_xprt_fail_name((enum conn_xprt_fail)f), (unsigned long long)sums[j].fail[f]);

    struct fr_workpool_stats ps;
    memset(&ps, 0, sizeof ps);
    if (pool)
        fr_workpool_stats(pool, &ps);
    metrics_printf(out,
                   "# HELP fedrouter_crypto_threads Crypto threads (0: transport work runs on the workers).\n"
                   "# TYPE fedrouter_crypto_threads gauge\nfedrouter_crypto_threads %d\n"
                   "# HELP fedrouter_crypto_queue_depth Jobs waiting for a crypto thread.\n"
                   "# TYPE fedrouter_crypto_queue_depth gauge\nfedrouter_crypto_queue_depth %llu\n"
                   "# HELP fedrouter_crypto_running_jobs Jobs a crypto thread is running now.\n"
                   "# TYPE fedrouter_crypto_running_jobs gauge\nfedrouter_crypto_running_jobs %llu\n"
                   "# HELP fedrouter_crypto_jobs_total Jobs the crypto threads ran.\n"
                   "# TYPE fedrouter_crypto_jobs_total counter\nfedrouter_crypto_jobs_total %llu\n"
                   "# HELP fedrouter_crypto_busy_seconds_total Time the crypto threads spent running jobs.\n"
                   "# TYPE fedrouter_crypto_busy_seconds_total counter\nfedrouter_crypto_busy_seconds_total %.6f\n"
                   "# HELP fedrouter_crypto_jobs_taken_back_total Jobs a worker ran because no crypto thread had"
                   " started them within %d ms (the threads were starved of CPU); part of fedrouter_crypto_jobs_total.\n"
                   "# TYPE fedrouter_crypto_jobs_taken_back_total counter\nfedrouter_crypto_jobs_taken_back_total %llu\n",
                   ps.threads, (unsigned long long)ps.depth, (unsigned long long)ps.running,
                   (unsigned long long)ps.finished, (double)ps.run_ns / 1e9, CONN_CRYPTO_MAX_WAIT_MS,
                   (unsigned long long)ps.taken_back);
    metrics_printf(out, "# HELP fedrouter_crypto_queue_wait_seconds Time a job waited for a crypto thread (or a"
                        " worker that took it back).\n"
                        "# TYPE fedrouter_crypto_queue_wait_seconds histogram\n");
    uint64_t cum = 0;
    for (int b = 0; b < FR_WORKPOOL_NBUCKETS; b++) {
        cum += ps.wait_buckets[b];
        if (b == FR_WORKPOOL_NBUCKETS - 1)
            metrics_printf(out, "fedrouter_crypto_queue_wait_seconds_bucket{le=\"+Inf\"} %llu\n",
                           (unsigned long long)cum);
        else
            metrics_printf(out, "fedrouter_crypto_queue_wait_seconds_bucket{le=\"%g\"} %llu\n",
                           (double)fr_workpool_bucket_us[b] / 1e6, (unsigned long long)cum);
    }
    metrics_printf(out,
                   "fedrouter_crypto_queue_wait_seconds_sum %.6f\n"
                   "fedrouter_crypto_queue_wait_seconds_count %llu\n",
                   (double)ps.wait_ns / 1e9, (unsigned long long)cum);
}
