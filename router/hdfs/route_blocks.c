/*
 * route_blocks.c: the block pools a block-only request names, and such a
 * request cut down to the blocks of some pools (see route_deps.h).
 *
 *   ReportBadBlocksRequestProto { blocks(1)[] { b(1) { poolId(1) } } }
 *        |  rd_request_pools: each distinct poolId, in order
 *        v
 *   one request per nameservice: rd_request_only_pools keeps the blocks(1)
 *   elements whose pool is chosen, and every other field as it was
 *
 * Both read the wire format directly: a field this code does not know is
 * copied, never decoded. Every id is bounded (RD_POOL_LEN) and so is their
 * number (RD_MAX_POOLS).
 */
#include <string.h>

#include "pbrewrite.h"
#include "pbwire.h"
#include "route_deps.h"

/* The pool of one occurrence of the top-level field path[0]: 1 (copied to
 * id), 0 (it names none), -1 (malformed, repeated, or too long). */
static int pool_in(const uint8_t *data, size_t len, const uint32_t *path, char *id)
{
    const uint8_t *s = data;
    size_t sl = len;
    if (path[1] != 0) {
        int r = pbr_find_one(data, len, path + 1, &s, &sl);
        if (r != 1)
            return r == 0 ? 0 : -1;
    }
    if (sl == 0)
        return 0;
    if (sl >= RD_POOL_LEN || memchr(s, 0, sl))
        return -1;
    memcpy(id, s, sl);
    id[sl] = 0;
    return 1;
}

static int pool_index(const struct rd_pools *p, const char *id)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->id[i], id) == 0)
            return i;
    return -1;
}

int rd_request_pools(const struct method_row *m, const uint8_t *msg, size_t len, struct rd_pools *out)
{
    out->n = 0;
    out->missing = false;
    if (!m || m->req_pool.n == 0)
        return -1;
    for (unsigned k = 0; k < m->req_pool.n; k++) {
        const uint32_t *path = m->req_pool.p[k];
        const uint8_t *p = msg, *end = msg + len;
        struct pb_field f;
        int rc;
        bool seen = false;
        while ((rc = pb_next_field(&p, end, &f)) > 0) {
            if (f.num != path[0] || f.type != PB_LEN)
                continue;
            seen = true;
            char id[RD_POOL_LEN];
            int r = pool_in(f.data, f.len, path, id);
            if (r < 0)
                return -1;
            if (r == 0) {
                out->missing = true;
                continue;
            }
            if (pool_index(out, id) >= 0)
                continue;
            if (out->n == RD_MAX_POOLS)
                return -1;
            memcpy(out->id[out->n++], id, strlen(id) + 1);
        }
        if (rc < 0)
            return -1;
        /* A singular block that is not there: the call names no pool. A
         * repeated one may be empty (a report of no blocks). */
        if (!seen && m->merge == MERGE_NONE)
            out->missing = true;
    }
    return 0;
}

int rd_request_only_pools(const struct method_row *m, const uint8_t *msg, size_t len, const struct rd_pools *pools,
                          uint32_t keep, struct buf *out)
{
    if (!m || m->req_pool.n != 1)
        return -1;
    const uint32_t *path = m->req_pool.p[0];
    const uint8_t *p = msg, *end = msg + len, *at = msg;
    struct pb_field f;
    int rc;
    while ((rc = pb_next_field(&p, end, &f)) > 0) {
        bool take = true;
        if (f.num == path[0] && f.type == PB_LEN) {
            char id[RD_POOL_LEN];
            int i = pool_in(f.data, f.len, path, id) == 1 ? pool_index(pools, id) : -1;
            take = i >= 0 && (keep & (1u << i));
        }
        if (take && buf_append(out, at, (size_t)(p - at)) < 0)
            return -1;
        at = p;
    }
    return rc < 0 ? -1 : 0;
}
