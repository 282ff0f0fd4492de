/*
 * thrift_walk.c: the message scanner, path walker and rewriter (see
 * thrift_walk.h).
 *
 * One engine serves all three. It runs over the body struct with an explicit
 * stack of levels (struct, list/set, map), one token per step: a field
 * header together with its value's fixed part, a container element, a string
 * length prefix. A step reads everything it needs before it changes any
 * state, so when the bytes run out the scanner simply returns "need more"
 * and the next call repeats that step with the longer buffer. A string's
 * bytes are skipped without being looked at: the position may run ahead of
 * the bytes received, and the scanner waits until they are all there.
 *
 * Levels carry the set of paths still matching (a bit mask) and the index of
 * the next path step. The walker hands each string that ends a path to the
 * visitor; the rewriter keeps a "copied up to" offset and, at each replaced
 * string, appends the original bytes since that offset, then the new length
 * prefix and bytes. Nothing else in Thrift encodes a length in bytes, so
 * nothing else needs fixing up. When no string changes nothing is written.
 */
#include "wire.h"
#include "thrift_walk.h"

#include <string.h>

/* TType codes (the binary protocol's type bytes). */
enum {
    T_STOP = 0,
    T_BOOL = 2,
    T_BYTE = 3,
    T_DOUBLE = 4,
    T_I16 = 6,
    T_I32 = 8,
    T_I64 = 10,
    T_STRING = 11,
    T_STRUCT = 12,
    T_MAP = 13,
    T_SET = 14,
    T_LIST = 15,
    T_UUID = 16,
};

enum { K_STRUCT = 1, K_LIST = 2, K_MAP = 3 };

/* Compact type nibble -> TType; 0 marks an invalid nibble (STOP is handled
 * before the lookup). */
static const uint8_t ctype_ttype[16] = {
    [1] = T_BOOL,   [2] = T_BOOL,    [3] = T_BYTE,  [4] = T_I16,  [5] = T_I32,  [6] = T_I64,     [7] = T_DOUBLE,
    [8] = T_STRING, [9] = T_LIST,    [10] = T_SET,  [11] = T_MAP, [12] = T_STRUCT, [13] = T_UUID,
};

/* The fewest bytes a value of each TType takes; 0 = not a value type. */
static const uint8_t min_binary[17] = {
    [T_BOOL] = 1, [T_BYTE] = 1, [T_DOUBLE] = 8, [T_I16] = 2, [T_I32] = 4,  [T_I64] = 8,  [T_STRING] = 4,
    [T_STRUCT] = 1, [T_MAP] = 6, [T_SET] = 5,  [T_LIST] = 5, [T_UUID] = 16,
};
static const uint8_t min_compact[17] = {
    [T_BOOL] = 1, [T_BYTE] = 1, [T_DOUBLE] = 8, [T_I16] = 1, [T_I32] = 1,  [T_I64] = 1,  [T_STRING] = 1,
    [T_STRUCT] = 1, [T_MAP] = 1, [T_SET] = 1,  [T_LIST] = 1, [T_UUID] = 16,
};

static inline unsigned min_size(enum tw_proto proto, unsigned t)
{
    if (t > 16)
        return 0;
    return proto == TW_BINARY ? min_binary[t] : min_compact[t];
}


/* Reads a varint of at most maxb bytes at p[at..len). Returns the bytes used,
 * 0 when the input ends inside it, -1 when it is longer than maxb. */
static inline int get_varint(const uint8_t *p, size_t at, size_t len, int maxb, uint64_t *v)
{
    uint64_t r = 0;
    for (int i = 0; i < maxb; i++) {
        if ((size_t)i >= len - at)
            return 0;
        uint8_t b = p[at + (size_t)i];
        r |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = r;
            return i + 1;
        }
    }
    return -1;
}


static inline int32_t unzigzag32(uint32_t v)
{
    return (int32_t)((v >> 1) ^ (uint32_t)-(int32_t)(v & 1));
}

static inline uint32_t zigzag32(int32_t v)
{
    return ((uint32_t)v << 1) ^ (uint32_t)(v >> 31);
}

static void fill_limits(struct tw_limits *dst, const struct tw_limits *src)
{
    struct tw_limits l = { 0, 0, 0, 0 };
    if (src)
        l = *src;
    if (l.max_depth == 0)
        l.max_depth = TW_DEFAULT_DEPTH;
    if (l.max_depth > TW_DEPTH_CAP)
        l.max_depth = TW_DEPTH_CAP;
    if (l.max_string == 0)
        l.max_string = TW_DEFAULT_SIZE;
    if (l.max_container == 0)
        l.max_container = TW_DEFAULT_SIZE;
    if (l.max_message == 0)
        l.max_message = TW_DEFAULT_SIZE;
    *dst = l;
}

/* Whether k bytes at offset at are there: 1 yes; TW_EMSGSIZE when they would
 * pass max_message; else TW_ETRUNCATED (whole message given) or
 * TW_NEED_MORE. The size check comes first so that scanner and walker agree. */
static inline int avail(const struct tw_limits *lim, size_t at, size_t k, size_t len, bool complete)
{
    if (at > lim->max_message || k > lim->max_message - at)
        return TW_EMSGSIZE;
    if (at > len || k > len - at)
        return complete ? TW_ETRUNCATED : TW_NEED_MORE;
    return 1;
}

/* A varint that ran into the end of the input needs at least one more byte. */
static inline int varint_short(const struct tw_limits *lim, size_t at, size_t len, bool complete, int r)
{
    if (r < 0)
        return TW_EMALFORMED;
    return avail(lim, at, len - at + 1, len, complete);
}

/* ---- detection, frames, headers ---- */

int tw_detect(const uint8_t *p, size_t len, enum tw_proto *proto, bool *framed)
{
    if (len < 1)
        return TW_NEED_MORE;
    if (p[0] == 0x80 || p[0] == 0x82) {
        if (len < 2)
            return TW_NEED_MORE;
        if (p[0] == 0x80 ? p[1] != 0x01 : (p[1] & 0x1f) != 1)
            return TW_EVERSION;
        *proto = p[0] == 0x80 ? TW_BINARY : TW_COMPACT;
        *framed = false;
        return TW_COMPLETE;
    }
    if (len < 5)
        return TW_NEED_MORE;
    uint32_t l = wire_get_be32(p);
    if (l == 0 || l > INT32_MAX)
        return TW_EVERSION;
    if (p[4] == 0x80 || p[4] == 0x82) {
        if (len < 6)
            return TW_NEED_MORE;
        if (p[4] == 0x80 ? p[5] != 0x01 : (p[5] & 0x1f) != 1)
            return TW_EVERSION;
        *proto = p[4] == 0x80 ? TW_BINARY : TW_COMPACT;
        *framed = true;
        return TW_COMPLETE;
    }
    if (p[4] == 0x00) {
        /* Framed, old-style binary: the payload starts with the name length. */
        if (len < 8)
            return TW_NEED_MORE;
        uint32_t n = wire_get_be32(p + 4);
        if (n == 0 || n >= l)
            return TW_EVERSION;
        *proto = TW_BINARY;
        *framed = true;
        return TW_COMPLETE;
    }
    /* Unframed, old-style binary: l is the length of the name at p[4]. */
    if (l >= 65536)
        return TW_EVERSION;
    *proto = TW_BINARY;
    *framed = false;
    return TW_COMPLETE;
}

int tw_frame_cut(const uint8_t *p, size_t len, size_t max_frame, const uint8_t **msg, size_t *msg_len,
                 size_t *frame_len)
{
    if (len < 4)
        return TW_NEED_MORE;
    uint32_t n = wire_get_be32(p);
    if (n == 0 || n > INT32_MAX || n > max_frame)
        return TW_EMSGSIZE;
    if (len - 4 < n)
        return TW_NEED_MORE;
    *msg = p + 4;
    *msg_len = n;
    *frame_len = 4 + (size_t)n;
    return TW_COMPLETE;
}

int tw_put_frame_len(struct buf *out, size_t n)
{
    if (n > INT32_MAX)
        return TW_EMSGSIZE;
    if (buf_reserve(out, 4) < 0)
        return TW_ENOMEM;
    wire_put_be32(buf_wptr(out), (uint32_t)n);
    buf_commit(out, 4);
    return 0;
}

static int parse_header(enum tw_proto proto, const uint8_t *p, size_t len, const struct tw_limits *lim,
                        bool complete, struct tw_header *h)
{
    size_t at;
    uint64_t nl;
    int r;
    if (proto == TW_BINARY) {
        if ((r = avail(lim, 0, 4, len, complete)) != 1)
            return r;
        uint32_t v = wire_get_be32(p);
        if (v & 0x80000000u) {
            if ((v & 0xffff0000u) != 0x80010000u)
                return TW_EVERSION;
            h->type = (enum tw_msg_type)(v & 0xff);
            h->strict = true;
            if ((v & 0xff) < TW_CALL || (v & 0xff) > TW_ONEWAY)
                return TW_ETYPE;
            if ((r = avail(lim, 4, 4, len, complete)) != 1)
                return r;
            nl = wire_get_be32(p + 4);
            if (nl > INT32_MAX || nl > lim->max_string)
                return TW_ESTRING;
            if ((r = avail(lim, 8, (size_t)nl + 4, len, complete)) != 1)
                return r;
            h->name = p + 8;
            h->seqid = (int32_t)wire_get_be32(p + 8 + nl);
            at = 12 + (size_t)nl;
        } else {
            nl = v;
            if (nl > lim->max_string)
                return TW_ESTRING;
            if ((r = avail(lim, 4, (size_t)nl + 5, len, complete)) != 1)
                return r;
            h->name = p + 4;
            h->strict = false;
            uint8_t t = p[4 + nl];
            if (t < TW_CALL || t > TW_ONEWAY)
                return TW_ETYPE;
            h->type = (enum tw_msg_type)t;
            h->seqid = (int32_t)wire_get_be32(p + 5 + nl);
            at = 9 + (size_t)nl;
        }
    } else {
        if ((r = avail(lim, 0, 1, len, complete)) != 1)
            return r;
        if (p[0] != 0x82)
            return TW_EVERSION;
        if ((r = avail(lim, 1, 1, len, complete)) != 1)
            return r;
        if ((p[1] & 0x1f) != 1)
            return TW_EVERSION;
        unsigned t = p[1] >> 5;
        if (t < TW_CALL || t > TW_ONEWAY)
            return TW_ETYPE;
        h->type = (enum tw_msg_type)t;
        h->strict = true;
        uint64_t seq;
        int n = get_varint(p, 2, len, 5, &seq);
        if (n <= 0)
            return varint_short(lim, 2, len, complete, n);
        h->seqid = (int32_t)(uint32_t)seq;
        at = 2 + (size_t)n;
        if ((n = get_varint(p, at, len, 5, &nl)) <= 0)
            return varint_short(lim, at, len, complete, n);
        at += (size_t)n;
        if ((int32_t)(uint32_t)nl < 0 || (uint32_t)nl > lim->max_string)
            return TW_ESTRING;
        nl = (uint32_t)nl;
        if ((r = avail(lim, at, (size_t)nl, len, complete)) != 1)
            return r;
        h->name = p + at;
        at += (size_t)nl;
    }
    h->name_len = (size_t)nl;
    h->body_off = at;
    return TW_COMPLETE;
}

int tw_parse_header(enum tw_proto proto, const uint8_t *p, size_t len, const struct tw_limits *lim,
                    struct tw_header *h)
{
    struct tw_limits l;
    fill_limits(&l, lim);
    return parse_header(proto, p, len, &l, false, h);
}

int tw_write_header(enum tw_proto proto, struct buf *out, const uint8_t *name, size_t name_len,
                    enum tw_msg_type type, int32_t seqid)
{
    if (name_len > INT32_MAX)
        return TW_ESTRING;
    if (buf_reserve(out, name_len + 16) < 0)
        return TW_ENOMEM;
    uint8_t *w = buf_wptr(out), *w0 = w;
    if (proto == TW_BINARY) {
        wire_put_be32(w, 0x80010000u | ((uint32_t)type & 0xff));
        wire_put_be32(w + 4, (uint32_t)name_len);
        w += 8;
        if (name_len)
            memcpy(w, name, name_len);
        w += name_len;
        wire_put_be32(w, (uint32_t)seqid);
        w += 4;
    } else {
        *w++ = 0x82;
        *w++ = (uint8_t)(1 | ((unsigned)type << 5));
        w += wire_put_varint(w, (uint32_t)seqid);
        w += wire_put_varint(w, name_len);
        if (name_len)
            memcpy(w, name, name_len);
        w += name_len;
    }
    buf_commit(out, (size_t)(w - w0));
    return 0;
}

int tw_write_app_exception(enum tw_proto proto, struct buf *out, const uint8_t *name, size_t name_len,
                           int32_t seqid, enum tw_app_error type, const char *message)
{
    size_t base = out->wpos;
    size_t ml = message ? strlen(message) : 0;
    int r = tw_write_header(proto, out, name, name_len, TW_EXCEPTION, seqid);
    if (r < 0)
        return r;
    if (ml > INT32_MAX || buf_reserve(out, ml + 32) < 0) {
        out->wpos = base;
        return ml > INT32_MAX ? TW_ESTRING : TW_ENOMEM;
    }
    uint8_t *w = buf_wptr(out), *w0 = w;
    if (proto == TW_BINARY) {
        *w++ = T_STRING, *w++ = 0, *w++ = 1;
        wire_put_be32(w, (uint32_t)ml);
        w += 4;
        if (ml)
            memcpy(w, message, ml);
        w += ml;
        *w++ = T_I32, *w++ = 0, *w++ = 2;
        wire_put_be32(w, (uint32_t)type);
        w += 4;
    } else {
        *w++ = 0x18; /* delta 1, binary */
        w += wire_put_varint(w, ml);
        if (ml)
            memcpy(w, message, ml);
        w += ml;
        *w++ = 0x15; /* delta 1, i32 */
        w += wire_put_varint(w, zigzag32((int32_t)type));
    }
    *w++ = 0; /* STOP */
    buf_commit(out, (size_t)(w - w0));
    return 0;
}

/* ---- paths ---- */

static bool step_ok(int32_t s)
{
    return (s >= INT16_MIN && s <= INT16_MAX) || s == TW_ELEM || s == TW_KEY || s == TW_VAL;
}

int tw_check_paths(const struct tw_pathset *ps)
{
    if (!ps || !ps->p || ps->n == 0 || ps->n > TW_MAX_PATHS)
        return TW_EPATH;
    for (unsigned i = 0; i < ps->n; i++) {
        const int32_t *a = ps->p[i];
        if (!a || a[0] == TW_END)
            return TW_EPATH;
        unsigned d = 0;
        while (a[d] != TW_END) {
            if (d >= TW_MAX_STEPS || !step_ok(a[d]))
                return TW_EPATH;
            d++;
        }
        for (unsigned j = 0; j < i; j++) {
            const int32_t *b = ps->p[j];
            unsigned k = 0;
            while (a[k] != TW_END && a[k] == b[k])
                k++;
            if (a[k] == TW_END && b[k] == TW_END)
                return TW_EPATH; /* the same path twice */
        }
    }
    return 0;
}

/* ---- the engine ---- */

struct walkctx {
    const struct tw_pathset *ps;
    tw_visit_fn visit;     /* walker, or */
    tw_map_fn map;         /* rewriter */
    tw_visit_int_fn visit_int; /* walker: integers at the paths too (NULL: skipped) */
    void *ctx;
    struct buf *out;
    size_t copied;         /* input before this offset is in out (or replaced) */
    bool changed;
};

/* Splits the paths in `active` whose step `pd` is `tok` into those that end
 * there (leaf) and those that go on (inner). */
static inline void match(const struct tw_pathset *ps, uint32_t active, unsigned pd, int32_t tok, uint32_t *leaf,
                         uint32_t *inner)
{
    uint32_t l = 0, in = 0;
    while (active) {
        unsigned i = (unsigned)__builtin_ctz(active);
        active &= active - 1;
        const int32_t *p = ps->p[i];
        if (p[pd] == tok) {
            if (p[pd + 1] == TW_END)
                l |= 1u << i;
            else
                in |= 1u << i;
        }
    }
    *leaf = l;
    *inner = in;
}

static int push(struct tw_scan *s, uint8_t kind, uint8_t t1, uint8_t t2, uint32_t left, uint32_t active,
                unsigned pd)
{
    if (s->sp >= s->lim.max_depth)
        return TW_EDEPTH;
    struct tw_level *n = &s->st[s->sp++];
    n->kind = kind;
    n->t1 = t1;
    n->t2 = t2;
    n->left = left;
    n->active = active;
    n->pd = (uint8_t)pd;
    n->last_fid = 0;
    return 0;
}

/* Replaces the string whose length prefix starts at `at` (bytes at sb, n
 * long) when the callback maps it to something else. */
static int map_string(struct tw_scan *s, struct walkctx *w, unsigned idx, const uint8_t *p, size_t at, size_t sb,
                      size_t n)
{
    const uint8_t *ns = NULL;
    size_t nl = 0;
    int r = w->map(w->ctx, idx, p + sb, n, &ns, &nl);
    if (r < 0)
        return TW_EABORT;
    if (r == 0 || (nl == n && (nl == 0 || memcmp(ns, p + sb, nl) == 0)))
        return 0;
    if (!ns && nl)
        return TW_EABORT;
    if (nl > INT32_MAX || nl > s->lim.max_string)
        return TW_ESTRING;
    size_t gap = at - w->copied;
    if (buf_reserve(w->out, gap + 5 + nl) < 0)
        return TW_ENOMEM;
    uint8_t *o = buf_wptr(w->out), *o0 = o;
    if (gap)
        memcpy(o, p + w->copied, gap);
    o += gap;
    if (s->proto == TW_BINARY) {
        wire_put_be32(o, (uint32_t)nl);
        o += 4;
    } else {
        o += wire_put_varint(o, nl);
    }
    if (nl)
        memcpy(o, ns, nl);
    o += nl;
    buf_commit(w->out, (size_t)(o - o0));
    w->copied = sb + n;
    w->changed = true;
    return 0;
}

/*
 * Runs the body from s->pos until the body struct's STOP (TW_COMPLETE, s->pos
 * just after it), the input runs out (TW_NEED_MORE, or TW_ETRUNCATED when
 * `complete`), an error, or the visitor stops (TW_STOP). w is NULL for a bare
 * scan. With w and input that is not complete (a stream), a step that ends a
 * path returns TW_NEED_MORE until its string is all there, so the callback
 * always sees whole strings.
 */
static int run(struct tw_scan *s, const uint8_t *p, size_t len, bool complete, struct walkctx *w)
{
    const struct tw_limits *lim = &s->lim;
    const enum tw_proto proto = s->proto;
    while (s->sp > 0) {
        if (s->pos > len) /* skipping a string whose bytes are not all here */
            return complete ? TW_ETRUNCATED : TW_NEED_MORE;
        struct tw_level *L = &s->st[s->sp - 1];
        size_t at = s->pos;
        int32_t tok;
        int16_t fid = 0;
        unsigned t;
        bool bool_in_header = false;
        int r, n;
        uint64_t v;

        /* Where the next value comes from, and its type. */
        if (L->kind == K_STRUCT) {
            if ((r = avail(lim, at, 1, len, complete)) != 1)
                return r;
            uint8_t b = p[at];
            if (proto == TW_BINARY) {
                if (b == T_STOP) {
                    s->pos = at + 1;
                    s->sp--;
                    continue;
                }
                if ((r = avail(lim, at, 3, len, complete)) != 1)
                    return r;
                t = b;
                fid = (int16_t)(uint16_t)((unsigned)p[at + 1] << 8 | p[at + 2]);
                at += 3;
            } else {
                unsigned ct = b & 0x0f;
                if (ct == 0) { /* STOP (Java looks at the low nibble only) */
                    s->pos = at + 1;
                    s->sp--;
                    continue;
                }
                t = ctype_ttype[ct];
                if (t == 0)
                    return TW_ETYPE;
                bool_in_header = t == T_BOOL;
                unsigned delta = b >> 4;
                at++;
                if (delta) {
                    fid = (int16_t)(uint16_t)((unsigned)(uint16_t)L->last_fid + delta);
                } else {
                    if ((n = get_varint(p, at, len, 5, &v)) <= 0)
                        return varint_short(lim, at, len, complete, n);
                    fid = (int16_t)unzigzag32((uint32_t)v);
                    at += (size_t)n;
                }
            }
            tok = fid;
        } else if (L->left == 0) {
            s->sp--;
            continue;
        } else if (L->kind == K_LIST) {
            t = L->t1;
            tok = TW_ELEM;
        } else {
            /* Map: left counts keys and values down from 2 * entries; an even
             * count means a key comes next. */
            bool key = !(L->left & 1);
            t = key ? L->t1 : L->t2;
            tok = key ? TW_KEY : TW_VAL;
        }
        if (min_size(proto, t) == 0)
            return TW_ETYPE;

        uint32_t leaf = 0, inner = 0;
        if (L->active)
            match(w->ps, L->active, L->pd, tok, &leaf, &inner);

        /* The value. Scalars and strings finish here; containers push. */
        uint8_t kind = 0, t1 = 0, t2 = 0;
        uint32_t count = 0;
        switch (t) {
        case T_BOOL:
            if (!bool_in_header) {
                if ((r = avail(lim, at, 1, len, complete)) != 1)
                    return r;
                at++;
            }
            break;
        case T_BYTE:
        case T_DOUBLE:
        case T_UUID:
            if ((r = avail(lim, at, min_size(proto, t), len, complete)) != 1)
                return r;
            at += min_size(proto, t);
            break;
        case T_I16:
        case T_I32:
        case T_I64: {
            int64_t iv;
            if (proto == TW_BINARY) {
                if ((r = avail(lim, at, min_binary[t], len, complete)) != 1)
                    return r;
                uint64_t u = 0;
                for (int k = 0; k < min_binary[t]; k++)
                    u = u << 8 | p[at + (size_t)k];
                iv = t == T_I16 ? (int16_t)u : t == T_I32 ? (int32_t)u : (int64_t)u;
                at += min_binary[t];
            } else {
                if ((n = get_varint(p, at, len, t == T_I64 ? 10 : 5, &v)) <= 0)
                    return varint_short(lim, at, len, complete, n);
                iv = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
                at += (size_t)n;
            }
            if (leaf && w->visit_int) {
                int vr = w->visit_int(w->ctx, (unsigned)__builtin_ctz(leaf), iv);
                if (vr < 0)
                    return TW_EABORT;
                if (vr > 0) {
                    s->pos = at;
                    return TW_STOP;
                }
            }
            break;
        }
        case T_STRING: {
            size_t pre;
            uint32_t sl;
            if (proto == TW_BINARY) {
                if ((r = avail(lim, at, 4, len, complete)) != 1)
                    return r;
                sl = wire_get_be32(p + at);
                pre = 4;
            } else {
                if ((n = get_varint(p, at, len, 5, &v)) <= 0)
                    return varint_short(lim, at, len, complete, n);
                sl = (uint32_t)v;
                pre = (size_t)n;
            }
            if (sl > INT32_MAX || sl > lim->max_string)
                return TW_ESTRING;
            size_t sb = at + pre;
            if (sb > lim->max_message || sl > lim->max_message - sb)
                return TW_EMSGSIZE;
            if (complete && (r = avail(lim, sb, sl, len, true)) != 1)
                return r;
            /* A string at a path is looked at: in a stream (tw_stream_feed)
             * the step waits until its bytes are all there. */
            if (leaf && !complete && (r = avail(lim, sb, sl, len, false)) != 1)
                return r;
            if (leaf) {
                unsigned idx = (unsigned)__builtin_ctz(leaf);
                if (w->visit) {
                    int vr = w->visit(w->ctx, idx, p + sb, sl);
                    if (vr < 0)
                        return TW_EABORT;
                    if (vr > 0) {
                        s->pos = sb + sl;
                        return TW_STOP;
                    }
                } else if ((r = map_string(s, w, idx, p, at, sb, sl)) < 0) {
                    return r;
                }
            }
            at = sb + sl;
            break;
        }
        case T_STRUCT:
            kind = K_STRUCT;
            break;
        case T_LIST:
        case T_SET:
        case T_MAP: {
            int64_t cnt;
            if (proto == TW_BINARY) {
                size_t hl = t == T_MAP ? 6 : 5;
                if ((r = avail(lim, at, hl, len, complete)) != 1)
                    return r;
                t1 = p[at];
                t2 = t == T_MAP ? p[at + 1] : 0;
                cnt = (int32_t)wire_get_be32(p + at + hl - 4);
                at += hl;
            } else if (t != T_MAP) {
                if ((r = avail(lim, at, 1, len, complete)) != 1)
                    return r;
                uint8_t b = p[at];
                t1 = ctype_ttype[b & 0x0f];
                cnt = b >> 4;
                if (cnt == 15) {
                    if ((n = get_varint(p, at + 1, len, 5, &v)) <= 0)
                        return varint_short(lim, at + 1, len, complete, n);
                    cnt = (int32_t)(uint32_t)v;
                    at += (size_t)n;
                }
                at++;
            } else {
                if ((n = get_varint(p, at, len, 5, &v)) <= 0)
                    return varint_short(lim, at, len, complete, n);
                cnt = (int32_t)(uint32_t)v;
                if (cnt < 0 || (uint64_t)cnt > lim->max_container)
                    return TW_ECONTAINER;
                if (cnt > 0) {
                    if ((r = avail(lim, at + (size_t)n, 1, len, complete)) != 1)
                        return r;
                    uint8_t b = p[at + (size_t)n];
                    t1 = ctype_ttype[b >> 4];
                    t2 = ctype_ttype[b & 0x0f];
                    at++;
                }
                at += (size_t)n;
            }
            if (cnt < 0 || (uint64_t)cnt > lim->max_container)
                return TW_ECONTAINER;
            count = (uint32_t)cnt;
            if (count > 0) {
                /* Element types matter only when there are elements (as in
                 * Java's skip); then the elements, at their smallest, must fit
                 * in the message. (Whether they fit in the bytes at hand shows
                 * element by element, so that a walk of a cut message and a
                 * scan of the same bytes report the same error.) */
                uint64_t each = min_size(proto, t1);
                if (t == T_MAP)
                    each = min_size(proto, t2) ? each + min_size(proto, t2) : 0;
                if (each == 0)
                    return TW_ETYPE;
                if (at > lim->max_message || each * count > lim->max_message - at)
                    return TW_EMSGSIZE;
            }
            kind = t == T_MAP ? K_MAP : K_LIST;
            if (t == T_MAP)
                count *= 2;
            break;
        }
        default:
            return TW_ETYPE;
        }

        /* Commit the step. */
        if (L->kind == K_STRUCT)
            L->last_fid = fid;
        else
            L->left--;
        unsigned pd = L->pd;
        s->pos = at;
        if (kind && (r = push(s, kind, t1, t2, count, inner, pd + 1)) < 0)
            return r;
    }
    if (s->pos > lim->max_message)
        return TW_EMSGSIZE;
    return TW_COMPLETE;
}

/* Sets up s to run a body that starts at `start`. */
static void body_begin(struct tw_scan *s, size_t start, uint32_t active)
{
    s->state = 1;
    s->pos = start;
    s->sp = 1;
    memset(&s->st[0], 0, sizeof s->st[0]);
    s->st[0].kind = K_STRUCT;
    s->st[0].active = active;
}

void tw_scan_init(struct tw_scan *s, enum tw_proto proto, const struct tw_limits *lim)
{
    s->proto = proto;
    s->state = 0;
    s->pos = 0;
    s->end = 0;
    s->sp = 0;
    fill_limits(&s->lim, lim);
}

int tw_scan_feed(struct tw_scan *s, const uint8_t *p, size_t len, size_t *msg_len)
{
    if (s->state < 0)
        return s->state;
    if (s->state == 0) {
        struct tw_header h;
        int r = parse_header(s->proto, p, len, &s->lim, false, &h);
        if (r == TW_NEED_MORE)
            return r;
        if (r < 0)
            return s->state = r;
        body_begin(s, h.body_off, 0);
    }
    if (s->state == 1) {
        int r = run(s, p, len, false, NULL);
        if (r == TW_NEED_MORE)
            return r;
        if (r < 0)
            return s->state = r;
        s->state = 2;
        s->end = s->pos;
    }
    *msg_len = s->end;
    return TW_COMPLETE;
}

int tw_message_end(enum tw_proto proto, const uint8_t *p, size_t len, const struct tw_limits *lim,
                   size_t *msg_len)
{
    struct tw_scan s;
    tw_scan_init(&s, proto, lim);
    return tw_scan_feed(&s, p, len, msg_len);
}

int tw_struct_len(enum tw_proto proto, const uint8_t *p, size_t len, const struct tw_limits *lim, size_t *n)
{
    if (!p && len)
        return TW_ETRUNCATED;
    struct tw_scan s;
    tw_scan_init(&s, proto, lim);
    body_begin(&s, 0, 0);
    int r = run(&s, p, len, true, NULL);
    if (r == TW_COMPLETE)
        *n = s.pos;
    return r;
}

static uint32_t all_paths(const struct tw_pathset *ps)
{
    return ps->n >= 32 ? 0xffffffffu : (1u << ps->n) - 1;
}

/* Runs a whole body at p[start..len); checks the size and trailing bytes. */
static int run_body(struct tw_scan *s, const uint8_t *p, size_t start, size_t len, struct walkctx *w)
{
    /* No check of len against max_message up front: the engine checks every
     * step against it, so the first error is the one the scanner reports. */
    body_begin(s, start, w && w->ps ? all_paths(w->ps) : 0);
    int r = run(s, p, len, true, w);
    if (r == TW_COMPLETE && s->pos != len)
        return TW_ETRAILING;
    return r;
}

int tw_walk(enum tw_proto proto, const uint8_t *body, size_t len, const struct tw_limits *lim,
            const struct tw_pathset *ps, tw_visit_fn fn, void *ctx)
{
    if (tw_check_paths(ps) < 0 || !fn)
        return TW_EPATH;
    if (!body && len)
        return TW_ETRUNCATED;
    struct tw_scan s;
    tw_scan_init(&s, proto, lim);
    struct walkctx w = { ps, fn, NULL, NULL, ctx, NULL, 0, false };
    int r = run_body(&s, body, 0, len, &w);
    return r == TW_COMPLETE ? 0 : r;
}

int tw_walk_values(enum tw_proto proto, const uint8_t *body, size_t len, const struct tw_limits *lim,
                   const struct tw_pathset *ps, tw_visit_fn fn, tw_visit_int_fn ifn, void *ctx)
{
    if (tw_check_paths(ps) < 0 || !fn || !ifn)
        return TW_EPATH;
    if (!body && len)
        return TW_ETRUNCATED;
    struct tw_scan s;
    tw_scan_init(&s, proto, lim);
    struct walkctx w = { ps, fn, NULL, ifn, ctx, NULL, 0, false };
    int r = run_body(&s, body, 0, len, &w);
    return r == TW_COMPLETE ? 0 : r;
}

/* The shared part of both rewriters: the body at msg[start..len). On success
 * the rest after the last replacement is appended when anything changed. */
static int rewrite_body(enum tw_proto proto, const uint8_t *msg, size_t start, size_t len,
                        const struct tw_limits *lim, const struct tw_pathset *ps, tw_map_fn fn, void *ctx,
                        struct buf *out)
{
    struct tw_scan s;
    tw_scan_init(&s, proto, lim);
    struct walkctx w = { ps, NULL, fn, NULL, ctx, out, start, false };
    int r = run_body(&s, msg, start, len, &w);
    if (r < 0)
        return r;
    if (!w.changed)
        return TW_UNCHANGED;
    if (buf_append(out, msg + w.copied, len - w.copied) < 0)
        return TW_ENOMEM;
    return TW_CHANGED;
}

int tw_rewrite(enum tw_proto proto, const uint8_t *body, size_t len, const struct tw_limits *lim,
               const struct tw_pathset *ps, tw_map_fn fn, void *ctx, struct buf *out)
{
    if (tw_check_paths(ps) < 0 || !fn || !out)
        return TW_EPATH;
    if (!body && len)
        return TW_ETRUNCATED;
    size_t base = out->wpos;
    int r = rewrite_body(proto, body, 0, len, lim, ps, fn, ctx, out);
    if (r < 0)
        out->wpos = base;
    return r;
}

int tw_rewrite_message(enum tw_proto proto, const uint8_t *msg, size_t len, const struct tw_limits *lim,
                       const struct tw_header_edit *edit, const struct tw_pathset *ps, tw_map_fn fn,
                       void *ctx, struct buf *out)
{
    if (!out || (ps && (tw_check_paths(ps) < 0 || !fn)))
        return TW_EPATH;
    if (!msg && len)
        return TW_ETRUNCATED;
    struct tw_limits l;
    fill_limits(&l, lim);
    struct tw_header h;
    int r = parse_header(proto, msg, len, &l, true, &h);
    if (r < 0)
        return r;
    size_t base = out->wpos;
    const uint8_t *name = h.name;
    size_t nlen = h.name_len;
    int32_t seqid = h.seqid;
    if (edit && edit->name) {
        name = edit->name;
        nlen = edit->name_len;
    }
    if (edit && edit->set_seqid)
        seqid = edit->seqid;
    if ((r = tw_write_header(proto, out, name, nlen, h.type, seqid)) < 0)
        return r;
    size_t hlen = out->wpos - base;
    bool changed = hlen != h.body_off || memcmp(out->data + base, msg, hlen) != 0;
    if (ps) {
        r = rewrite_body(proto, msg, h.body_off, len, &l, ps, fn, ctx, out);
    } else {
        struct tw_scan s;
        tw_scan_init(&s, proto, &l);
        r = run_body(&s, msg, h.body_off, len, NULL);
        r = r == TW_COMPLETE ? TW_UNCHANGED : r;
    }
    if (r == TW_UNCHANGED && buf_append(out, msg + h.body_off, len - h.body_off) < 0)
        r = TW_ENOMEM;
    if (r < 0) {
        out->wpos = base;
        return r;
    }
    return changed || r == TW_CHANGED ? TW_CHANGED : TW_UNCHANGED;
}

/* ---- streams ---- */

int tw_stream_init(struct tw_stream *st, enum tw_proto proto, const struct tw_limits *lim,
                   const struct tw_pathset *ps, tw_map_fn fn, void *ctx)
{
    memset(st, 0, sizeof *st);
    tw_scan_init(&st->s, proto, lim);
    st->max_message = st->s.lim.max_message;
    if (ps && (tw_check_paths(ps) < 0 || !fn)) {
        st->s.state = TW_EPATH;
        return TW_EPATH;
    }
    st->ps = ps;
    st->fn = fn;
    st->ctx = ctx;
    return 0;
}

int tw_stream_feed(struct tw_stream *st, const uint8_t *p, size_t len, struct buf *out, size_t *used)
{
    struct tw_scan *s = &st->s;
    *used = 0;
    if (s->state < 0)
        return s->state;
    if (s->state == 2)
        return TW_COMPLETE;
    if (!p && len)
        return s->state = TW_ETRUNCATED;
    /* Positions are counted from p, the first byte not yet consumed; the
     * whole message's limit becomes what is left of it. */
    if (st->passed > st->max_message)
        return s->state = TW_EMSGSIZE;
    s->lim.max_message = st->max_message - st->passed;
    if (s->state == 0) {
        struct tw_header h;
        int r = parse_header(s->proto, p, len, &s->lim, false, &h);
        if (r == TW_NEED_MORE)
            return r;
        if (r < 0)
            return s->state = r;
        body_begin(s, h.body_off, st->ps ? all_paths(st->ps) : 0);
    }
    struct walkctx w = { st->ps, NULL, st->fn, NULL, st->ctx, out, 0, false };
    size_t base = out->wpos;
    int r = run(s, p, len, false, st->ps ? &w : NULL);
    if (r < 0) {
        out->wpos = base;
        return s->state = r;
    }
    /* Bytes before the step in hand (or all of them, while a string runs
     * past the end) are final: out they go. */
    size_t keep = r == TW_COMPLETE ? s->pos : s->pos < len ? s->pos : len;
    if (buf_append(out, p + w.copied, keep - w.copied) < 0) {
        out->wpos = base;
        return s->state = TW_ENOMEM;
    }
    *used = keep;
    st->passed += keep;
    if (r == TW_COMPLETE) {
        s->state = 2;
        return TW_COMPLETE;
    }
    s->pos -= keep;
    return TW_NEED_MORE;
}

/* ---- what a reply holds ---- */

int tw_result_field(enum tw_proto proto, const uint8_t *p, size_t len, struct tw_field *f)
{
    *f = (struct tw_field){ false, 0, 0, 0 };
    if (len < 1)
        return TW_NEED_MORE;
    unsigned t;
    if (proto == TW_BINARY) {
        if (p[0] == T_STOP) {
            f->value_off = 1;
            return TW_COMPLETE;
        }
        if (len < 3)
            return TW_NEED_MORE;
        t = p[0];
        f->id = (int16_t)(uint16_t)((unsigned)p[1] << 8 | p[2]);
        f->value_off = 3;
    } else {
        unsigned ct = p[0] & 0x0f, delta = p[0] >> 4;
        if (ct == 0) { /* STOP: the low nibble, as the Java reader judges it */
            f->value_off = 1;
            return TW_COMPLETE;
        }
        t = ctype_ttype[ct];
        if (t == 0)
            return TW_ETYPE;
        if (delta) {
            f->id = (int16_t)delta; /* the first field: relative to id 0 */
            f->value_off = 1;
        } else {
            uint64_t v;
            int n = get_varint(p, 1, len, 5, &v);
            if (n < 0)
                return TW_EMALFORMED;
            if (n == 0)
                return TW_NEED_MORE;
            f->id = (int16_t)unzigzag32((uint32_t)v);
            f->value_off = 1 + (size_t)n;
        }
    }
    if (min_size(proto, t) == 0)
        return TW_ETYPE;
    f->set = true;
    f->type = (uint8_t)t;
    return TW_COMPLETE;
}

int tw_list_header(enum tw_proto proto, const uint8_t *p, size_t len, uint8_t *elem, size_t *count,
                   size_t *hdr_len)
{
    if (len < 1)
        return TW_NEED_MORE;
    unsigned t;
    if (proto == TW_BINARY) {
        if (len < 5)
            return TW_NEED_MORE;
        t = p[0];
        int32_t n = (int32_t)wire_get_be32(p + 1);
        if (n < 0)
            return TW_ECONTAINER;
        *count = (size_t)n;
        *hdr_len = 5;
    } else {
        t = ctype_ttype[p[0] & 0x0f];
        *count = p[0] >> 4;
        *hdr_len = 1;
        if (*count == 15) {
            uint64_t v;
            int n = get_varint(p, 1, len, 5, &v);
            if (n < 0)
                return TW_EMALFORMED;
            if (n == 0)
                return TW_NEED_MORE;
            if (v > INT32_MAX)
                return TW_ECONTAINER;
            *count = (size_t)v;
            *hdr_len = 1 + (size_t)n;
        }
    }
    if (min_size(proto, t) == 0)
        return TW_ETYPE;
    *elem = (uint8_t)t;
    return TW_COMPLETE;
}

const char *tw_strerror(int rc)
{
    switch (rc) {
    case 0: return "ok";
    case 1: return "complete";
    case TW_STOP: return "stopped";
    case TW_EVERSION: return "not a thrift message (bad protocol id or version)";
    case TW_EDEPTH: return "nesting too deep";
    case TW_ESTRING: return "string length negative or too large";
    case TW_ECONTAINER: return "container size negative or too large";
    case TW_EMSGSIZE: return "message too large";
    case TW_ETYPE: return "bad type";
    case TW_EMALFORMED: return "malformed varint";
    case TW_ETRUNCATED: return "message truncated";
    case TW_ETRAILING: return "bytes after the message";
    case TW_EPATH: return "bad path set";
    case TW_ENOMEM: return "out of memory";
    case TW_EABORT: return "aborted by the callback";
    default: return "unknown status";
    }
}

int tw_put_be32(struct buf *out, uint32_t v)
{
    uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
    return buf_append(out, x, 4) < 0 ? TW_ENOMEM : 0;
}

int tw_put_uvarint(struct buf *out, uint64_t v)
{
    uint8_t x[10];
    size_t n = 0;
    while (v >= 0x80) {
        x[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    x[n++] = (uint8_t)v;
    return buf_append(out, x, n) < 0 ? TW_ENOMEM : 0;
}

int tw_put_string(enum tw_proto proto, struct buf *out, const void *s, size_t len)
{
    if (len > INT32_MAX)
        return TW_ESTRING;
    int rc = proto == TW_BINARY ? tw_put_be32(out, (uint32_t)len) : tw_put_uvarint(out, len);
    if (rc < 0 || buf_append(out, s, len) < 0)
        return TW_ENOMEM;
    return 0;
}

static uint8_t compact_type(enum tw_ttype t)
{
    return t == TW_T_STRING ? 8 : t == TW_T_LIST ? 9 : 12;
}

int tw_put_field(enum tw_proto proto, struct buf *out, enum tw_ttype type, int16_t id, int16_t *last)
{
    int rc;
    if (proto == TW_BINARY) {
        uint8_t h[3] = { (uint8_t)type, (uint8_t)((uint16_t)id >> 8), (uint8_t)id };
        rc = buf_append(out, h, 3);
    } else {
        int delta = (int)id - (int)*last;
        if (delta > 0 && delta <= 15) {
            uint8_t b = (uint8_t)(delta << 4 | compact_type(type));
            rc = buf_append(out, &b, 1);
        } else {
            uint8_t b = compact_type(type);
            rc = buf_append(out, &b, 1) < 0 ? -1 : tw_put_uvarint(out, zigzag32(id));
        }
    }
    *last = id;
    return rc < 0 ? TW_ENOMEM : 0;
}

int tw_put_list(enum tw_proto proto, struct buf *out, enum tw_ttype elem, size_t n)
{
    if (n > INT32_MAX)
        return TW_ECONTAINER;
    if (proto == TW_BINARY) {
        uint8_t t = (uint8_t)elem;
        return buf_append(out, &t, 1) < 0 ? TW_ENOMEM : tw_put_be32(out, (uint32_t)n);
    }
    if (n < 15) {
        uint8_t b = (uint8_t)(n << 4 | compact_type(elem));
        return buf_append(out, &b, 1) < 0 ? TW_ENOMEM : 0;
    }
    uint8_t b = (uint8_t)(0xf0 | compact_type(elem));
    return buf_append(out, &b, 1) < 0 ? TW_ENOMEM : tw_put_uvarint(out, n);
}

int tw_put_stop(struct buf *out)
{
    static const uint8_t stop = 0;
    return buf_append(out, &stop, 1) < 0 ? TW_ENOMEM : 0;
}
