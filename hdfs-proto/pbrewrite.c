/*
 * pbrewrite.c: the path walker and the lazy rewriter (see pbrewrite.h).
 *
 * Both descend recursively, one level per path element, carrying the set of
 * paths still matching as a bit mask. The rewriter is lazy: it writes nothing
 * until the first replacement. At that moment every level on the way down is
 * "materialised": the bytes of that level before the field being descended
 * are copied out, and the level remembers where its content starts in out.
 * When a changed child returns, its tag and new length are inserted in front
 * of the child's content (one memmove of the child's bytes); the original
 * field is skipped. Unchanged levels never touch out.
 *
 *   level d:  [copied .......... field)[tag len child-content](rest ...)
 *              flushed on materialise   rebuilt by the child   flushed at end
 */
#include "pbrewrite.h"

#include <stdbool.h>
#include <string.h>

#include "pbwire.h"

int pbr_check_paths(const struct pb_pathset *ps)
{
    if (!ps || !ps->p || ps->n == 0 || ps->n > PBR_MAX_PATHS)
        return PBR_EPATH;
    for (unsigned i = 0; i < ps->n; i++) {
        const uint32_t *a = ps->p[i];
        if (!a || a[0] == 0)
            return PBR_EPATH;
        unsigned d = 0;
        while (a[d] != 0) {
            if (a[d] > 0x1fffffff || d >= PBR_MAX_DEPTH)
                return PBR_EPATH;
            d++;
        }
        /* No path may be a prefix of (or equal to) another: a field would be
         * both a string to replace and a message to descend into. */
        for (unsigned j = 0; j < i; j++) {
            const uint32_t *b = ps->p[j];
            unsigned k = 0;
            while (a[k] != 0 && b[k] != 0 && a[k] == b[k])
                k++;
            if (a[k] == 0 || b[k] == 0)
                return PBR_EPATH;
        }
    }
    return 0;
}

/* Splits `active` into the paths that end at field `num` of level `depth`
 * (leaf) and those that continue below it (inner). */
static void match(const struct pb_pathset *ps, uint32_t active, unsigned depth, uint32_t num, uint32_t *leaf,
                  uint32_t *inner)
{
    *leaf = *inner = 0;
    while (active) {
        unsigned i = (unsigned)__builtin_ctz(active);
        active &= active - 1;
        const uint32_t *p = ps->p[i];
        if (p[depth] == num) {
            if (p[depth + 1] == 0)
                *leaf |= 1u << i;
            else
                *inner |= 1u << i;
        }
    }
}

static uint32_t all_paths(const struct pb_pathset *ps)
{
    return ps->n >= 32 ? 0xffffffffu : (1u << ps->n) - 1;
}

/* ---- walker ---- */

struct walk {
    const struct pb_pathset *ps;
    pbr_visit_fn fn;
    void *ctx;
};

static int walk_level(struct walk *w, const uint8_t *p, const uint8_t *end, unsigned depth, uint32_t active)
{
    struct pb_field f;
    int rc;
    while ((rc = pb_next_field(&p, end, &f)) > 0) {
        if (f.type != PB_LEN)
            continue;
        uint32_t leaf, inner;
        match(w->ps, active, depth, f.num, &leaf, &inner);
        if (leaf) {
            int r = w->fn(w->ctx, (unsigned)__builtin_ctz(leaf), f.data, f.len);
            if (r < 0)
                return PBR_EABORT;
            if (r > 0)
                return PBR_STOP;
        } else if (inner) {
            int r = walk_level(w, f.data, f.data + f.len, depth + 1, inner);
            if (r != 0)
                return r;
        }
    }
    return rc < 0 ? PBR_EMALFORMED : 0;
}

int pbr_walk(const uint8_t *msg, size_t len, const struct pb_pathset *ps, pbr_visit_fn fn, void *ctx)
{
    if (pbr_check_paths(ps) < 0 || !fn)
        return PBR_EPATH;
    if (len == 0)
        return 0;
    if (!msg)
        return PBR_EMALFORMED;
    struct walk w = { ps, fn, ctx };
    return walk_level(&w, msg, msg + len, 0, all_paths(ps));
}

struct find_one {
    const uint8_t *s;
    size_t len;
    int count;
};

static int find_one_visit(void *ctx, unsigned idx, const uint8_t *s, size_t len)
{
    struct find_one *f = ctx;
    if (++f->count > 1)
        return 1;
    f->s = s;
    f->len = len;
    return 0;
}

int pbr_find_one(const uint8_t *msg, size_t len, const uint32_t *path, const uint8_t **s, size_t *slen)
{
    const uint32_t *one[1] = { path };
    struct pb_pathset ps = { one, 1 };
    struct find_one f = { NULL, 0, 0 };
    int rc = pbr_walk(msg, len, &ps, find_one_visit, &f);
    if (rc == PBR_STOP)
        return PBR_EDUP;
    if (rc < 0)
        return rc;
    if (f.count == 0)
        return 0;
    *s = f.s;
    *slen = f.len;
    return 1;
}

/* ---- rewriter ---- */

struct frame {
    const uint8_t *copied;   /* original bytes before this point are in out (or were replaced) */
    const uint8_t *field;    /* tag of the field being replaced or descended into */
    size_t out_start;        /* materialised: offset in out where this level's content begins */
    bool mat;                /* has this level started writing to out? */
};

struct rw {
    const struct pb_pathset *ps;
    pbr_map_fn fn;
    void *ctx;
    struct buf *out;
    struct frame fr[PBR_MAX_DEPTH];
};

/* Makes levels 0..depth write: copies each level's pending original bytes up
 * to the field in hand. Outer levels first, so a level's content starts after
 * its parent's flushed prefix. */
static int materialise(struct rw *w, unsigned depth)
{
    for (unsigned d = 0; d <= depth; d++) {
        struct frame *f = &w->fr[d];
        if (!f->mat) {
            f->mat = true;
            f->out_start = w->out->wpos;
        }
        size_t n = (size_t)(f->field - f->copied);
        if (n && buf_append(w->out, f->copied, n) < 0)
            return PBR_ENOMEM;
        f->copied = f->field;
    }
    return 0;
}

/* Writes tag + length + bytes of one length-delimited field. */
static int put_len_field(struct buf *out, uint32_t num, const uint8_t *s, size_t len)
{
    if (buf_reserve(out, 20 + len) < 0)
        return PBR_ENOMEM;
    buf_commit(out, pb_put_bytes_field(buf_wptr(out), num, s, len));
    return 0;
}

/* Puts tag + length in front of the child content that starts at `start`. */
static int insert_header(struct buf *out, size_t start, uint32_t num)
{
    uint8_t hdr[20];
    size_t clen = out->wpos - start;
    size_t h = pb_put_tag(hdr, num, PB_LEN);
    h += pb_put_varint(hdr + h, clen);
    if (buf_reserve(out, h) < 0)
        return PBR_ENOMEM;
    memmove(out->data + start + h, out->data + start, clen);
    memcpy(out->data + start, hdr, h);
    buf_commit(out, h);
    return 0;
}

/* Returns 0 (level unchanged, nothing written), 1 (level changed: its new
 * content is in out from fr[depth].out_start) or an error. */
static int rw_level(struct rw *w, const uint8_t *p, const uint8_t *end, unsigned depth, uint32_t active)
{
    struct frame *fr = &w->fr[depth];
    fr->copied = fr->field = p;
    fr->mat = false;
    fr->out_start = 0;
    while (p < end) {
        const uint8_t *tag = p;
        struct pb_field f;
        if (pb_next_field(&p, end, &f) < 0)
            return PBR_EMALFORMED;
        if (f.type != PB_LEN)
            continue;
        uint32_t leaf, inner;
        match(w->ps, active, depth, f.num, &leaf, &inner);
        if (leaf) {
            const uint8_t *ns = NULL;
            size_t nl = 0;
            int r = w->fn(w->ctx, (unsigned)__builtin_ctz(leaf), f.data, f.len, &ns, &nl);
            if (r < 0)
                return PBR_EABORT;
            if (r == 0 || (nl == f.len && (nl == 0 || memcmp(ns, f.data, nl) == 0)))
                continue;
            if (!ns && nl)
                return PBR_EABORT;
            fr->field = tag;
            int e = materialise(w, depth);
            if (e < 0)
                return e;
            if ((e = put_len_field(w->out, f.num, ns, nl)) < 0)
                return e;
            fr->copied = p;
        } else if (inner) {
            fr->field = tag;
            int r = rw_level(w, f.data, f.data + f.len, depth + 1, inner);
            if (r < 0)
                return r;
            if (r == 1) {
                /* The child materialised us (and flushed up to its tag). */
                int e = insert_header(w->out, w->fr[depth + 1].out_start, f.num);
                if (e < 0)
                    return e;
                fr->copied = p;
            }
        }
    }
    if (!fr->mat)
        return 0;
    size_t n = (size_t)(end - fr->copied);
    if (n && buf_append(w->out, fr->copied, n) < 0)
        return PBR_ENOMEM;
    return 1;
}

int pbr_rewrite(const uint8_t *msg, size_t len, const struct pb_pathset *ps, pbr_map_fn fn, void *ctx,
                struct buf *out)
{
    if (pbr_check_paths(ps) < 0 || !fn || !out)
        return PBR_EPATH;
    if (len == 0)
        return PBR_UNCHANGED;
    if (!msg)
        return PBR_EMALFORMED;
    struct rw w;
    w.ps = ps;
    w.fn = fn;
    w.ctx = ctx;
    w.out = out;
    size_t base = out->wpos;
    int r = rw_level(&w, msg, msg + len, 0, all_paths(ps));
    if (r < 0) {
        out->wpos = base;
        return r;
    }
    return r == 1 ? PBR_CHANGED : PBR_UNCHANGED;
}
