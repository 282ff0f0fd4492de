/*
 * route_pools.c: the block pool -> nameservice map (see route_state.h).
 *
 *   refresher: versionRequest to each nameservice --\
 *   a call that needed an unknown pool: the same ----+--> learn(pool, ns name)
 *   replies carrying blocks (row's resp_pool) -------/
 *   block-only calls --> lookup(pool) --> ns name --> the snapshot's nameservice
 *
 * Names, not nameservice structs, are kept: the routing snapshot turns a
 * name into the nameservice as configured now, so a nameservice whose
 * NameNodes changed, or that was removed or disabled, is never reached
 * through an old entry. The table is small and fixed; when it is full the
 * entry learned least recently makes room (the refresher learns every live
 * pool again each round).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"
#include "ha.h"
#include "methods.h"
#include "pbwire.h"
#include "route_state.h"

#define MAX_POOLS 256
#define POOL_MAX 128                    /* a pool id is ~50 bytes: BP-<n>-<ip>-<ms> */
#define NS_MAX 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char pool[POOL_MAX];
    char ns[NS_MAX];
    uint64_t seen;                      /* learn_clock when last learned */
} pools[MAX_POOLS];
static int npools;
static uint64_t learn_clock;

/* Pool ids go into logs and metric labels: printable, no quotes. */
static bool pool_ok(const char *pool, size_t len)
{
    if (len == 0 || len >= POOL_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (pool[i] <= ' ' || pool[i] > '~' || pool[i] == '"' || pool[i] == '\\')
            return false;
    return true;
}

void route_state_learn_pool(const char *pool, size_t len, const char *ns)
{
    size_t nl = strlen(ns);
    if (!pool_ok(pool, len) || nl == 0 || nl >= NS_MAX)
        return;
    pthread_mutex_lock(&lock);
    int i, oldest = 0;
    for (i = 0; i < npools; i++) {
        if (strlen(pools[i].pool) == len && memcmp(pools[i].pool, pool, len) == 0)
            break;
        if (pools[i].seen < pools[oldest].seen)
            oldest = i;
    }
    if (i == npools) {
        if (npools < MAX_POOLS)
            npools++;
        else
            i = oldest;
        memcpy(pools[i].pool, pool, len);
        pools[i].pool[len] = 0;
    }
    memcpy(pools[i].ns, ns, nl + 1);
    pools[i].seen = ++learn_clock;
    pthread_mutex_unlock(&lock);
}

bool route_state_pool_ns(const char *pool, char *out, size_t cap)
{
    bool found = false;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < npools && !found; i++)
        if (strcmp(pools[i].pool, pool) == 0) {
            snprintf(out, cap, "%s", pools[i].ns);
            found = true;
        }
    pthread_mutex_unlock(&lock);
    return found;
}

void route_state_pools_metrics(struct buf *out)
{
    pthread_mutex_lock(&lock);
    if (npools)
        metrics_printf(out, "# TYPE fedrouter_block_pool gauge\n");
    for (int i = 0; i < npools; i++)
        metrics_printf(out, "fedrouter_block_pool{pool=\"%s\",nameservice=\"%s\"} 1\n", pools[i].pool,
                       pools[i].ns);
    pthread_mutex_unlock(&lock);
}

/* Follows field numbers (first occurrence each; the list 0-ended) down to
 * a string. */
static int find_path(const uint8_t *p, size_t len, const uint32_t *fields, const uint8_t **out, size_t *outlen)
{
    const uint8_t *end = p + len;
    struct pb_field f;
    while (pb_next_field(&p, end, &f) > 0) {
        if (f.num != fields[0] || f.type != PB_LEN)
            continue;
        if (fields[1] == 0) {
            *out = f.data;
            *outlen = f.len;
            return 0;
        }
        return find_path(f.data, f.len, fields + 1, out, outlen);
    }
    return -1;
}

int route_state_learn_version(const uint8_t *payload, size_t len, const char *ns)
{
    static const uint32_t bpid[] = { 1, 3, 0 };   /* VersionResponseProto.info.blockPoolID */
    const uint8_t *pool;
    size_t plen;
    if (find_path(payload, len, bpid, &pool, &plen) < 0 || !pool_ok((const char *)pool, plen))
        return -1;
    route_state_learn_pool((const char *)pool, plen, ns);
    return 0;
}

void route_state_learn_from_reply(const struct method_row *m, const uint8_t *payload, size_t len, struct ha_ns *ns)
{
    /* The row's resp_pool paths, in order: the first block found names the
     * pool (one NameNode namespace has one block pool). A path through a
     * repeated field follows its first element. */
    if (!ns || !m)
        return;
    for (unsigned i = 0; i < m->resp_pool.n; i++) {
        const uint8_t *pool;
        size_t plen;
        if (find_path(payload, len, m->resp_pool.p[i], &pool, &plen) == 0) {
            route_state_learn_pool((const char *)pool, plen, ns->name);
            return;
        }
    }
}
