/*
 * bench_hist.c: the log-linear latency histogram of fedrouter-bench.
 *
 *   value v < HIST_SUB                      bucket v (exact)
 *   2^e <= v < 2^(e+1), e >= HIST_SUB_BITS  shift = e - HIST_SUB_BITS
 *                                           bucket (shift+1)*HIST_SUB + (v >> shift) - HIST_SUB
 *
 * so each power of two above HIST_SUB gets HIST_SUB buckets of width 2^shift.
 */
#include "bench.h"

static unsigned bucket_of(uint64_t v)
{
    if (v < HIST_SUB)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    if (e > HIST_MAX_EXP)
        return HIST_BUCKETS - 1;
    unsigned shift = e - HIST_SUB_BITS;
    return (shift + 1) * HIST_SUB + (unsigned)(v >> shift) - HIST_SUB;
}

/* Lower bound and width of bucket i. */
static void bucket_range(unsigned i, uint64_t *lo, uint64_t *width)
{
    if (i < HIST_SUB) {
        *lo = i;
        *width = 1;
        return;
    }
    unsigned shift = i / HIST_SUB - 1;
    *lo = (uint64_t)(i % HIST_SUB + HIST_SUB) << shift;
    *width = (uint64_t)1 << shift;
}

void hist_record(struct hist *h, uint64_t v)
{
    h->b[bucket_of(v)]++;
    h->count++;
    if (v > h->max)
        h->max = v;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->b[i] += src->b[i];
    dst->count += src->count;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q > 1)
        q = 1;
    double r = q * (double)h->count;
    uint64_t rank = (uint64_t)r;
    if ((double)rank < r)
        rank++;
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t lo, width;
            bucket_range(i, &lo, &width);
            uint64_t mid = lo + width / 2;
            return mid > h->max ? h->max : mid;
        }
    }
    return h->max;
}
