/*
 * route_methods.c: the method side of route_deps.h for the calls the HDFS
 * clients of today make: how each routes, which top-level request fields
 * hold paths, which are writes, how fan-out answers merge. The full
 * ClientProtocol table (every rpc, nested path fields, response paths)
 * replaces this table when it lands in hdfs-proto; the functions stay.
 */
#include <stdlib.h>
#include <string.h>

#include "pbwire.h"
#include "route_deps.h"

struct row {
    const char *name;
    struct rd_method m;
    uint32_t path_fields[3];            /* top-level string fields holding paths, in order */
};

#define P(name, w, f1) { name, { RD_PATH, RD_MERGE_FIRST, 0, w, NULL }, { f1, 0, 0 } }
#define P2(name, w, f1, f2) { name, { RD_TWO_PATHS, RD_MERGE_FIRST, 0, w, NULL }, { f1, f2, 0 } }
#define ALL(name, merge, field) { name, { RD_ALL, merge, field, false, NULL }, { 0, 0, 0 } }
#define DEF(name) { name, { RD_DEFAULT, RD_MERGE_FIRST, 0, false, NULL }, { 0, 0, 0 } }
#define BP(name) { name, { RD_BLOCK_POOL, RD_MERGE_FIRST, 0, true, NULL }, { 0, 0, 0 } }
#define RT(name) { name, { RD_ROUTER, RD_MERGE_FIRST, 0, false, NULL }, { 0, 0, 0 } }

/* Sorted by name (bsearch). */
static const struct row rows[] = {
    P("abandonBlock", true, 2),
    P("addBlock", true, 1),
    P("allowSnapshot", true, 1),
    P("append", true, 1),
    P("checkAccess", false, 1),
    P("complete", true, 1),
    P("create", true, 1),
    P("createSnapshot", true, 1),
    P("delete", true, 1),
    P("deleteSnapshot", true, 1),
    P("disallowSnapshot", true, 1),
    P("fsync", true, 1),
    P("getAclStatus", false, 1),
    P("getBlockLocations", false, 1),
    P("getContentSummary", false, 1),
    ALL("getDataEncryptionKey", RD_MERGE_FIRST, 0),
    ALL("getDatanodeReport", RD_MERGE_CONCAT, 1),
    P("getFileInfo", false, 1),
    P("getFileLinkInfo", false, 1),
    ALL("getFsStats", RD_MERGE_SUM, 0),
    RT("getHAServiceState"),
    P("getListing", false, 1),
    P("getLocatedFileInfo", false, 1),
    P("getPreferredBlockSize", false, 1),
    P("getQuotaUsage", false, 1),
    DEF("getServerDefaults"),
    ALL("getSnapshottableDirListing", RD_MERGE_FIRST, 0),
    DEF("getStoragePolicies"),
    P("getXAttrs", false, 1),
    P("isFileClosed", false, 1),
    P("listXAttrs", false, 1),
    P("mkdirs", true, 1),
    RT("msync"),
    P("recoverLease", true, 1),
    P("removeXAttr", true, 1),
    P2("rename", true, 1, 2),
    P2("rename2", true, 1, 2),
    P("renameSnapshot", true, 1),
    ALL("renewLease", RD_MERGE_ANY_OK, 0),
    BP("reportBadBlocks"),
    P("setOwner", true, 1),
    P("setPermission", true, 1),
    P("setReplication", true, 1),
    P("setTimes", true, 1),
    P("setXAttr", true, 1),
    P("truncate", true, 1),
    BP("updateBlockForPipeline"),
    BP("updatePipeline"),
};

static int cmp_row(const void *k, const void *r)
{
    return strcmp((const char *)k, ((const struct row *)r)->name);
}

static const struct row *row_of(const struct rd_method *m)
{
    return (const struct row *)((const char *)m - offsetof(struct row, m));
}

const struct rd_method *rd_method(const char *name)
{
    const struct row *r = bsearch(name, rows, sizeof rows / sizeof rows[0], sizeof rows[0], cmp_row);
    return r ? &r->m : NULL;
}

int rd_req_paths(const struct rd_method *m, const uint8_t *msg, size_t len, char (*paths)[RD_MAX_PATH], int max)
{
    const struct row *r = row_of(m);
    int n = 0;
    for (int k = 0; k < 3 && r->path_fields[k] && n < max; k++) {
        const uint8_t *p = msg, *end = msg + len;
        struct pb_field f;
        int rc;
        bool found = false;
        while ((rc = pb_next_field(&p, end, &f)) > 0) {
            if (f.num == r->path_fields[k] && f.type == PB_LEN) {
                if (f.len >= RD_MAX_PATH)
                    return -1;
                memcpy(paths[n], f.data, f.len);
                paths[n][f.len] = 0;
                found = true; /* the last occurrence wins, as protobuf says */
            }
        }
        if (rc < 0)
            return -1;
        if (found)
            n++;
    }
    return n;
}

int rd_req_rewrite(const struct rd_method *m, const uint8_t *msg, size_t len, const char *const *newpaths,
                   struct buf *out)
{
    const struct row *r = row_of(m);
    const uint8_t *p = msg, *end = msg + len, *at = msg;
    struct pb_field f;
    int rc;
    while ((rc = pb_next_field(&p, end, &f)) > 0) {
        int k = -1;
        for (int i = 0; i < 3 && r->path_fields[i]; i++)
            if (f.num == r->path_fields[i] && f.type == PB_LEN)
                k = i;
        if (k < 0) {
            if (buf_append(out, at, (size_t)(p - at)) < 0)
                return -1;
        } else {
            size_t nl = strlen(newpaths[k]);
            if (buf_reserve(out, nl + 16) < 0)
                return -1;
            buf_commit(out, pb_put_bytes_field(buf_wptr(out), f.num, newpaths[k], nl));
        }
        at = p;
    }
    return rc < 0 ? -1 : 0;
}

int rd_resp_rewrite(const struct rd_method *m, const uint8_t *msg, size_t len, const char *dest, const char *src,
                    struct buf *out, bool *changed)
{
    /* The calls in this table answer local names only (no full paths). */
    *changed = false;
    return 0;
}

const char *rd_req_block_pool(const struct rd_method *m, const uint8_t *msg, size_t len, char *buf, size_t cap)
{
    /* updateBlockForPipeline: block=1; updatePipeline: oldBlock=2;
     * reportBadBlocks: blocks=1 (LocatedBlockProto) -> b=1. Then poolId=1. */
    const uint8_t *p = msg, *end = msg + len;
    struct pb_field f;
    while (pb_next_field(&p, end, &f) > 0) {
        if (f.type != PB_LEN || (f.num != 1 && f.num != 2))
            continue;
        const uint8_t *q = f.data, *qend = f.data + f.len;
        struct pb_field g;
        while (pb_next_field(&q, qend, &g) > 0) {
            if (g.num != 1 || g.type != PB_LEN)
                continue;
            /* Either poolId itself or (reportBadBlocks) an ExtendedBlockProto. */
            const uint8_t *s = g.data, *send = g.data + g.len;
            struct pb_field h;
            if (pb_next_field(&s, send, &h) > 0 && h.num == 1 && h.type == PB_LEN && h.len < cap && h.len > 3 &&
                memcmp(h.data, "BP-", 3) == 0) {
                memcpy(buf, h.data, h.len);
                buf[h.len] = 0;
                return buf;
            }
            if (g.len < cap && g.len > 3 && memcmp(g.data, "BP-", 3) == 0) {
                memcpy(buf, g.data, g.len);
                buf[g.len] = 0;
                return buf;
            }
        }
    }
    return NULL;
}
