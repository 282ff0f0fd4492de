/*
 * route_merge.c: one answer out of the answers of every subcluster, as the
 * method row's merge kind says (see enum method_merge in methods.h). The
 * answers are encoded messages; merges read and write the protobuf wire
 * format directly, so a field this code does not know passes through from
 * the first answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbrewrite.h"
#include "pbwire.h"
#include "route_deps.h"

#define MAX_FIELD 64

/* The varint at path (its last number a varint field, the others messages);
 * 1 found, 0 absent, -1 malformed. The last occurrence wins, as in protobuf. */
static int varint_at(const uint8_t *p, size_t len, const uint32_t *path, uint64_t *v)
{
    const uint8_t *end = p + len;
    struct pb_field f;
    int rc, found = 0;
    if (path[1] != 0) {
        const uint8_t *sub = NULL;
        size_t sl = 0;
        while ((rc = pb_next_field(&p, end, &f)) > 0)
            if (f.num == path[0] && f.type == PB_LEN) {
                sub = f.data;
                sl = f.len;
            }
        if (rc < 0)
            return -1;
        return sub ? varint_at(sub, sl, path + 1, v) : 0;
    }
    while ((rc = pb_next_field(&p, end, &f)) > 0)
        if (f.num == path[0] && f.type == PB_VARINT) {
            *v = f.varint;
            found = 1;
        }
    return rc < 0 ? -1 : found;
}

static bool kept(const uint32_t *keep, uint32_t num)
{
    for (unsigned i = 0; keep && keep[i]; i++)
        if (keep[i] == num)
            return true;
    return false;
}

/* Sums the varint fields of n messages (limits in `keep` come from the
 * first); every other field is the first message's. */
static int sum_messages(const struct rd_answer *a, int n, const uint32_t *keep, struct buf *out)
{
    uint64_t sums[MAX_FIELD] = { 0 };
    bool seen[MAX_FIELD] = { false }, written[MAX_FIELD] = { false };
    for (int i = 0; i < n; i++) {
        const uint8_t *p = a[i].p, *end = p + a[i].len;
        struct pb_field f;
        int rc;
        while ((rc = pb_next_field(&p, end, &f)) > 0)
            if (f.type == PB_VARINT && f.num < MAX_FIELD && (i == 0 || !kept(keep, f.num))) {
                sums[f.num] = kept(keep, f.num) ? f.varint : sums[f.num] + f.varint;
                seen[f.num] = true;
            }
        if (rc < 0)
            return -1;
    }
    const uint8_t *p = a[0].p, *end = p + a[0].len, *at = p;
    struct pb_field f;
    while (pb_next_field(&p, end, &f) > 0) {
        if (f.type == PB_VARINT && f.num < MAX_FIELD) {
            if (!written[f.num]) {
                if (buf_reserve(out, 16) < 0)
                    return -1;
                buf_commit(out, pb_put_varint_field(buf_wptr(out), f.num, sums[f.num]));
                written[f.num] = true;
            }
        } else if (buf_append(out, at, (size_t)(p - at)) < 0) {
            return -1;
        }
        at = p;
    }
    /* Counts that only later answers carry (optional fields). */
    for (uint32_t k = 1; k < MAX_FIELD; k++)
        if (seen[k] && !written[k]) {
            if (buf_reserve(out, 16) < 0)
                return -1;
            buf_commit(out, pb_put_varint_field(buf_wptr(out), k, sums[k]));
        }
    return 0;
}

struct sub_ctx {
    struct buf *summed;
};

static int put_summed(void *vctx, unsigned idx, const uint8_t *s, size_t len, const uint8_t **out, size_t *out_len)
{
    struct sub_ctx *c = vctx;
    *out = buf_rptr(c->summed);
    *out_len = buf_len(c->summed);
    return 1;
}

/* MERGE_SUM at a nested message: sum the messages at merge_path, then put
 * the sum in place of the first answer's. */
static int merge_sum(const struct method_row *m, const struct rd_answer *a, int n, struct buf *out)
{
    if (!m->merge_path)
        return sum_messages(a, n, m->merge_keep, out);
    struct rd_answer *subs = calloc((size_t)n, sizeof *subs);
    if (!subs)
        return -1;
    int k = 0;
    for (int i = 0; i < n; i++) {
        const uint8_t *s;
        size_t sl;
        if (pbr_find_one(a[i].p, a[i].len, m->merge_path, &s, &sl) == 1) {
            subs[k].p = s;
            subs[k].len = sl;
            k++;
        }
    }
    int rc = 0;
    if (k == 0) {
        rc = buf_append(out, a[0].p, a[0].len);
    } else {
        struct buf summed = BUF_INIT;
        rc = sum_messages(subs, k, m->merge_keep, &summed);
        if (rc == 0) {
            const uint32_t *one[1] = { m->merge_path };
            struct pb_pathset ps = { one, 1 };
            struct sub_ctx c = { &summed };
            /* The first answer holding the message is the frame. */
            int i0 = 0;
            while (i0 < n && pbr_find_one(a[i0].p, a[i0].len, m->merge_path, &(const uint8_t *){ NULL },
                                          &(size_t){ 0 }) != 1)
                i0++;
            int r = pbr_rewrite(a[i0].p, a[i0].len, &ps, put_summed, &c, out);
            if (r == PBR_UNCHANGED)
                rc = buf_append(out, a[i0].p, a[i0].len);
            else if (r < 0)
                rc = -1;
        }
        buf_free(&summed);
    }
    free(subs);
    return rc;
}

/* The first answer's fields other than the repeated field `field`, as they are. */
static int other_fields(const struct rd_answer *a0, uint32_t field, struct buf *out)
{
    const uint8_t *p = a0->p, *end = p + a0->len, *at = p;
    struct pb_field f;
    int rc;
    while ((rc = pb_next_field(&p, end, &f)) > 0) {
        if (!(f.num == field && f.type == PB_LEN) && buf_append(out, at, (size_t)(p - at)) < 0)
            return -1;
        at = p;
    }
    return rc < 0 ? -1 : 0;
}

/* MERGE_UNION: the elements of the repeated top-level field merge_path[0]
 * from every answer, byte-identical ones once; the other fields are the
 * first answer's. */
static int merge_union(const struct method_row *m, const struct rd_answer *a, int n, struct buf *out)
{
    uint32_t field = m->merge_path[0];
    struct el {
        const uint8_t *p;
        size_t len;
    };
    size_t cap = 64, ne = 0;
    struct el *els = malloc(cap * sizeof *els);
    if (!els)
        return -1;
    int rc = other_fields(&a[0], field, out);
    for (int i = 0; i < n && rc == 0; i++) {
        const uint8_t *p = a[i].p, *end = p + a[i].len, *at = p;
        struct pb_field f;
        int r = 0;
        while (rc == 0 && (r = pb_next_field(&p, end, &f)) > 0) {
            if (f.num == field && f.type == PB_LEN) {
                bool dup = false;
                for (size_t k = 0; k < ne && !dup; k++)
                    dup = els[k].len == f.len && memcmp(els[k].p, f.data, f.len) == 0;
                if (!dup) {
                    if (ne == cap) {
                        struct el *g = realloc(els, 2 * cap * sizeof *els);
                        if (!g) {
                            rc = -1;
                            break;
                        }
                        els = g;
                        cap *= 2;
                    }
                    els[ne++] = (struct el){ f.data, f.len };
                    if (buf_append(out, at, (size_t)(p - at)) < 0)
                        rc = -1;
                }
            }
            at = p;
        }
        if (r < 0)
            rc = -1;
    }
    free(els);
    return rc;
}

/* "ipAddr:xferPort" of the DatanodeIDProto at key_path inside an element. */
static int datanode_key(const uint8_t *p, size_t len, const uint32_t *key_path, char *key, size_t cap)
{
    const uint8_t *id = p;
    size_t il = len;
    if (pbr_find_one(p, len, key_path, &id, &il) != 1)
        return -1;
    const uint8_t *ip = NULL;
    size_t ipl = 0;
    if (pbr_find_one(id, il, (const uint32_t[]){ 1, 0 }, &ip, &ipl) != 1)
        return -1;
    uint64_t port = 0;
    varint_at(id, il, (const uint32_t[]){ 4, 0 }, &port);
    int w = snprintf(key, cap, "%.*s:%llu", (int)ipl, (const char *)ip, (unsigned long long)port);
    return (w > 0 && (size_t)w < cap) ? 0 : -1;
}

/* Writes msg with the varint field num set to v in the message at path
 * (0-ended; empty: msg itself, every occurrence of each step), every other
 * byte as it was. */
static int set_varint_at(const uint8_t *msg, size_t len, const uint32_t *path, uint32_t num, uint64_t v,
                         struct buf *out)
{
    const uint8_t *p = msg, *end = msg + len, *at = msg;
    struct pb_field f;
    int rc;
    while ((rc = pb_next_field(&p, end, &f)) > 0) {
        if (path[0] == 0 && f.num == num && f.type == PB_VARINT) {
            at = p; /* dropped: written once below */
            continue;
        }
        if (path[0] != 0 && f.num == path[0] && f.type == PB_LEN) {
            struct buf inner = BUF_INIT;
            int r = set_varint_at(f.data, f.len, path + 1, num, v, &inner);
            if (r == 0 && buf_reserve(out, 20) == 0) {
                size_t k = pb_put_tag(buf_wptr(out), f.num, PB_LEN);
                k += pb_put_varint(buf_wptr(out) + k, buf_len(&inner));
                buf_commit(out, k);
                r = buf_append(out, buf_len(&inner) ? buf_rptr(&inner) : (const uint8_t *)"", buf_len(&inner));
            } else {
                r = -1;
            }
            buf_free(&inner);
            if (r < 0)
                return -1;
            at = p;
            continue;
        }
        if (buf_append(out, at, (size_t)(p - at)) < 0)
            return -1;
        at = p;
    }
    if (rc < 0)
        return -1;
    if (path[0] == 0) {
        if (buf_reserve(out, 16) < 0)
            return -1;
        buf_commit(out, pb_put_varint_field(buf_wptr(out), num, v));
    }
    return 0;
}

#define DN_LAST_UPDATE 6                /* DatanodeInfoProto.lastUpdate */
#define DN_NUM_BLOCKS 17                /* DatanodeInfoProto.numBlocks */

/*
 * MERGE_DATANODES / MERGE_DATANODE_STORAGE: one element per datanode
 * (ipAddr:xferPort), in the order first seen; of a datanode several
 * subclusters report, the entry with the newest lastUpdate (the first of
 * equals), and for storage reports with numBlocks added up over all of
 * them. An element without a key is kept as it is. The other fields are
 * the first answer's.
 */
static int merge_datanodes(const struct method_row *m, const struct rd_answer *a, int n, struct buf *out)
{
    uint32_t field = m->merge_path[0];
    bool sum_blocks = m->merge == MERGE_DATANODE_STORAGE;
    /* Paths inside an element: the DatanodeInfoProto holding the key, and
     * its lastUpdate and numBlocks. */
    uint32_t info[PBR_MAX_DEPTH + 1] = { 0 }, last_path[PBR_MAX_DEPTH + 2] = { 0 },
             blocks_path[PBR_MAX_DEPTH + 2] = { 0 };
    unsigned d = 0;
    while (m->merge_key[d] && m->merge_key[d + 1] && d < PBR_MAX_DEPTH) {
        info[d] = last_path[d] = blocks_path[d] = m->merge_key[d];
        d++;
    }
    last_path[d] = DN_LAST_UPDATE;
    blocks_path[d] = DN_NUM_BLOCKS;

    size_t total = 0;
    for (int i = 0; i < n; i++) {
        const uint8_t *p = a[i].p, *end = p + a[i].len;
        struct pb_field f;
        int r;
        while ((r = pb_next_field(&p, end, &f)) > 0)
            total += f.num == field && f.type == PB_LEN;
        if (r < 0)
            return -1;
    }
    struct dn {
        const uint8_t *p;               /* the element kept */
        size_t len;
        char key[96];                   /* "" when it has none */
        uint64_t last, blocks, own_blocks;
        int seen;                       /* how many answers listed it */
    };
    /* An open-addressed index on the keys: reports list thousands of datanodes. */
    size_t hcap = 16;
    while (hcap < 2 * total)
        hcap *= 2;
    struct dn *dns = calloc(total ? total : 1, sizeof *dns);
    size_t *slots = calloc(hcap, sizeof *slots); /* index + 1; 0 = empty */
    size_t nd = 0;
    int rc = (dns && slots) ? other_fields(&a[0], field, out) : -1;
    for (int i = 0; i < n && rc == 0; i++) {
        const uint8_t *p = a[i].p, *end = p + a[i].len;
        struct pb_field f;
        while (rc == 0 && pb_next_field(&p, end, &f) > 0) {
            if (f.num != field || f.type != PB_LEN)
                continue;
            struct dn e = { f.data, f.len, { 0 }, 0, 0, 0, 1 };
            if (datanode_key(f.data, f.len, m->merge_key, e.key, sizeof e.key) < 0)
                e.key[0] = 0;
            if (varint_at(f.data, f.len, last_path, &e.last) < 0 ||
                varint_at(f.data, f.len, blocks_path, &e.own_blocks) < 0) {
                rc = -1;
                break;
            }
            e.blocks = e.own_blocks;
            size_t h = 0;
            struct dn *old = NULL;
            if (e.key[0]) {
                uint64_t x = 1469598103934665603ull;
                for (const char *c = e.key; *c; c++)
                    x = (x ^ (uint8_t)*c) * 1099511628211ull;
                for (h = x & (hcap - 1); slots[h]; h = (h + 1) & (hcap - 1))
                    if (strcmp(dns[slots[h] - 1].key, e.key) == 0) {
                        old = &dns[slots[h] - 1];
                        break;
                    }
            }
            if (!old) {
                dns[nd] = e;
                if (e.key[0])
                    slots[h] = nd + 1;
                nd++;
                continue;
            }
            old->blocks += e.own_blocks;
            old->seen++;
            if (e.last > old->last) {
                old->p = e.p;
                old->len = e.len;
                old->last = e.last;
                old->own_blocks = e.own_blocks;
            }
        }
    }
    struct buf el = BUF_INIT;
    for (size_t k = 0; k < nd && rc == 0; k++) {
        const struct dn *e = &dns[k];
        const uint8_t *p = e->p;
        size_t len = e->len;
        if (sum_blocks && e->seen > 1 && e->blocks != e->own_blocks) {
            /* numBlocks is a uint32 on the wire. */
            uint64_t sum = e->blocks > UINT32_MAX ? UINT32_MAX : e->blocks;
            buf_reset(&el);
            if (set_varint_at(e->p, e->len, info, DN_NUM_BLOCKS, sum, &el) < 0) {
                rc = -1;
                break;
            }
            p = buf_len(&el) ? buf_rptr(&el) : (const uint8_t *)"";
            len = buf_len(&el);
        }
        if (buf_reserve(out, 20) < 0) {
            rc = -1;
            break;
        }
        size_t w = pb_put_tag(buf_wptr(out), field, PB_LEN);
        w += pb_put_varint(buf_wptr(out) + w, len);
        buf_commit(out, w);
        if (buf_append(out, p, len) < 0)
            rc = -1;
    }
    buf_free(&el);
    free(slots);
    free(dns);
    return rc;
}

int rd_put_quota(const struct method_row *m, struct buf *msg, int64_t ns_quota, int64_t ss_quota)
{
    const uint32_t *keep = m->merge_keep;
    const uint8_t *inner;
    size_t il;
    if (!m->merge_path || !keep || !keep[0] || !keep[1] ||
        pbr_find_one(buf_rptr(msg), buf_len(msg), m->merge_path, &inner, &il) != 1)
        return -1;
    struct buf q = BUF_INIT, out = BUF_INIT;
    const uint8_t *p = inner, *end = inner + il, *at = p;
    struct pb_field f;
    int rc = 0, r;
    while (rc == 0 && (r = pb_next_field(&p, end, &f)) > 0) {
        int64_t v = f.type != PB_VARINT ? -1 : f.num == keep[0] ? ns_quota : f.num == keep[1] ? ss_quota : -1;
        if (v >= 0) {
            if (buf_reserve(&q, 16) < 0)
                rc = -1;
            else
                buf_commit(&q, pb_put_varint_field(buf_wptr(&q), f.num, (uint64_t)v));
        } else if (buf_append(&q, at, (size_t)(p - at)) < 0) {
            rc = -1;
        }
        at = p;
    }
    if (rc == 0) {
        const uint32_t *one[1] = { m->merge_path };
        struct pb_pathset ps = { one, 1 };
        struct sub_ctx c = { &q };
        rc = pbr_rewrite(buf_rptr(msg), buf_len(msg), &ps, put_summed, &c, &out) < 0 ? -1 : 0;
    }
    if (rc == 0) {
        buf_free(msg);
        *msg = out;
    } else {
        buf_free(&out);
    }
    buf_free(&q);
    return rc;
}

int rd_merge(const struct method_row *m, const struct rd_answer *a, int n, struct buf *out)
{
    if (n <= 0)
        return -1;
    switch (m->merge) {
    case MERGE_VOID:
        return 0;
    case MERGE_SUM:
        return merge_sum(m, a, n, out);
    case MERGE_MAX: {
        int best = 0;
        uint64_t bv = 0;
        for (int i = 0; i < n; i++) {
            uint64_t v = 0;
            if (varint_at(a[i].p, a[i].len, m->merge_path, &v) == 1 && (int64_t)v > (int64_t)bv) {
                bv = v;
                best = i;
            }
        }
        return buf_append(out, a[best].p, a[best].len);
    }
    case MERGE_AND:
        for (int i = 0; i < n; i++) {
            uint64_t v = 1; /* absent: true (saveNamespace's default) */
            if (varint_at(a[i].p, a[i].len, m->merge_path, &v) == 1 && v == 0)
                return buf_append(out, a[i].p, a[i].len);
        }
        return buf_append(out, a[0].p, a[0].len);
    case MERGE_CONCAT:
        /* Protobuf merges a message that occurs twice: repeated fields join. */
        for (int i = 0; i < n; i++)
            if (buf_append(out, a[i].p, a[i].len) < 0)
                return -1;
        return 0;
    case MERGE_UNION:
        return merge_union(m, a, n, out);
    case MERGE_DATANODES:
    case MERGE_DATANODE_STORAGE:
        return merge_datanodes(m, a, n, out);
    case MERGE_FIRST:
        for (int i = 0; i < n; i++)
            if (a[i].len)
                return buf_append(out, a[i].p, a[i].len);
        return 0;
    case MERGE_ANY_OK:
    case MERGE_NONE:
    default:
        return buf_append(out, a[0].p, a[0].len);
    }
}
