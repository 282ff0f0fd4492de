/* route_pools.c: the block pool -> nameservice map (see route_state.h). */
#include <pthread.h>
#include <string.h>

#include "pbwire.h"
#include "route_state.h"

#define MAX_POOLS 256

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char pool[128];
    struct ha_ns *ns;
} pools[MAX_POOLS];
static int npools;

void route_state_learn_pool(const char *pool, size_t len, struct ha_ns *ns)
{
    if (!len || len >= sizeof pools[0].pool)
        return;
    pthread_mutex_lock(&lock);
    int i;
    for (i = 0; i < npools; i++)
        if (strlen(pools[i].pool) == len && memcmp(pools[i].pool, pool, len) == 0)
            break;
    if (i == npools && npools < MAX_POOLS)
        npools++;
    if (i < MAX_POOLS) {
        memcpy(pools[i].pool, pool, len);
        pools[i].pool[len] = 0;
        pools[i].ns = ns;
    }
    pthread_mutex_unlock(&lock);
}

struct ha_ns *route_state_pool_ns(const char *pool)
{
    struct ha_ns *ns = NULL;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < npools && !ns; i++)
        if (strcmp(pools[i].pool, pool) == 0)
            ns = pools[i].ns;
    pthread_mutex_unlock(&lock);
    return ns;
}

/* Follows field numbers (first occurrence each) down to a string. */
static int find_path(const uint8_t *p, size_t len, const uint32_t *fields, int n, const uint8_t **out, size_t *outlen)
{
    const uint8_t *end = p + len;
    struct pb_field f;
    while (pb_next_field(&p, end, &f) > 0) {
        if (f.num != fields[0] || f.type != PB_LEN)
            continue;
        if (n == 1) {
            *out = f.data;
            *outlen = f.len;
            return 0;
        }
        return find_path(f.data, f.len, fields + 1, n - 1, out, outlen);
    }
    return -1;
}

void route_state_learn_from_reply(const char *method, const uint8_t *payload, size_t len, struct ha_ns *ns)
{
    /* Where an ExtendedBlockProto.poolId (field 1) sits in each reply. */
    static const uint32_t add_block[] = { 1, 1, 1 };          /* block.b.poolId */
    static const uint32_t locations[] = { 1, 2, 1, 1 };       /* locations.blocks[0].b.poolId */
    static const uint32_t append[] = { 1, 1, 1 };             /* block.b.poolId */
    const uint32_t *fields = NULL;
    int n = 0;
    if (strcmp(method, "addBlock") == 0)
        fields = add_block, n = 3;
    else if (strcmp(method, "getBlockLocations") == 0)
        fields = locations, n = 4;
    else if (strcmp(method, "append") == 0)
        fields = append, n = 3;
    const uint8_t *pool;
    size_t plen;
    if (fields && find_path(payload, len, fields, n, &pool, &plen) == 0)
        route_state_learn_pool((const char *)pool, plen, ns);
}
