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

/* MERGE_UNION / MERGE_DATANODES: the elements of the repeated top-level
 * field merge_path[0] from every answer, duplicates dropped; the other
 * fields are the first answer's. key_path: NULL compares whole elements,
 * else the DatanodeIDProto at key_path inside each element. */
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

static int merge_elements(const struct method_row *m, const struct rd_answer *a, int n, const uint32_t *key_path,
                          struct buf *out)
{
    uint32_t field = m->merge_path[0];
    /* Seen elements: offsets into the answers (few hundred at most). */
    struct el {
        const uint8_t *p;
        size_t len;
        char key[96];
    };
    size_t cap = 64, ne = 0;
    struct el *els = malloc(cap * sizeof *els);
    if (!els)
        return -1;
    int rc = 0;
    /* The first answer's other fields, in place. */
    const uint8_t *p = a[0].p, *end = p + a[0].len, *at = p;
    struct pb_field f;
    while (pb_next_field(&p, end, &f) > 0) {
        if (!(f.num == field && f.type == PB_LEN) && buf_append(out, at, (size_t)(p - at)) < 0)
            rc = -1;
        at = p;
    }
    for (int i = 0; i < n && rc == 0; i++) {
        p = a[i].p;
        end = p + a[i].len;
        at = p;
        int r;
        while ((r = pb_next_field(&p, end, &f)) > 0) {
            if (f.num == field && f.type == PB_LEN) {
                struct el e = { f.data, f.len, { 0 } };
                if (key_path && datanode_key(f.data, f.len, key_path, e.key, sizeof e.key) < 0)
                    e.key[0] = 0;
                bool dup = false;
                for (size_t k = 0; k < ne && !dup; k++) {
                    if (key_path && e.key[0])
                        dup = strcmp(els[k].key, e.key) == 0;
                    else
                        dup = els[k].len == e.len && memcmp(els[k].p, e.p, e.len) == 0;
                }
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
                    els[ne++] = e;
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
        return merge_elements(m, a, n, NULL, out);
    case MERGE_DATANODES:
        return merge_elements(m, a, n, m->merge_key, out);
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
