/*
 * test_thrift_walk: the Thrift message scanner, path walker and rewriter.
 *
 * Two sources of messages: vectors encoded by the Apache Thrift Python library
 * (thrift_gen.py, run by this test when its interpreter is given; the
 * expected rewrite is the library's own encoding of the mapped value tree),
 * and messages built here by a small encoder for the cases no real encoder
 * writes: limits, bad versions and types, over-long varints, cut messages.
 *
 *   test_thrift_walk [PYTHON thrift_gen.py]    the tests
 *   test_thrift_walk --bench [N]               rewrite benchmark
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "thrift_walk.h"

/* ---- the mapping thrift_gen.py applies too ---- */

struct map_ctx {
    uint8_t scratch[1 << 18];
    int seen;
};

static int map_fn(void *vctx, unsigned idx, const uint8_t *s, size_t len, const uint8_t **out, size_t *out_len)
{
    struct map_ctx *c = vctx;
    c->seen++;
    if (len >= 2 && memcmp(s, "db", 2) == 0 && len + 5 <= sizeof c->scratch) {
        memcpy(c->scratch, "hive_", 5);
        memcpy(c->scratch + 5, s, len);
        *out = c->scratch;
        *out_len = len + 5;
        return 1;
    }
    if (len >= 1 && s[0] == '+' && 2 * len <= sizeof c->scratch) {
        memcpy(c->scratch, s, len);
        memcpy(c->scratch + len, s, len);
        *out = c->scratch;
        *out_len = 2 * len;
        return 1;
    }
    if (len >= 1 && s[0] == '-') {
        *out = s; /* a prefix of the original is fine: it is not in out */
        *out_len = (len + 1) / 2;
        return 1;
    }
    return 0;
}

struct count_ctx {
    int n;
    int stop_at;
    size_t bytes;
};

static int count_fn(void *vctx, unsigned idx, const uint8_t *s, size_t len)
{
    struct count_ctx *c = vctx;
    c->n++;
    c->bytes += len;
    return c->stop_at && c->n == c->stop_at ? 1 : 0;
}

/* An exact-size heap copy, so that AddressSanitizer sees any overread. */
static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    if (n)
        memcpy(d, p, n);
    return d;
}

/* ---- a small encoder for hand-built messages ---- */

struct enc {
    struct buf b;
    enum tw_proto proto;
    int16_t last[200];
    int sp;
};

static void e_init(struct enc *e, enum tw_proto proto)
{
    struct buf z = BUF_INIT;
    e->b = z;
    e->proto = proto;
    e->sp = 0;
    e->last[0] = 0;
}

static void e_raw(struct enc *e, const void *p, size_t n) { buf_append(&e->b, p, n); }
static void e_u8(struct enc *e, unsigned v)
{
    uint8_t b = (uint8_t)v;
    e_raw(e, &b, 1);
}
static void e_be(struct enc *e, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--)
        e_u8(e, (unsigned)(v >> (8 * i)) & 0xff);
}
static void e_varint(struct enc *e, uint64_t v)
{
    while (v >= 0x80) {
        e_u8(e, (unsigned)(v & 0x7f) | 0x80);
        v >>= 7;
    }
    e_u8(e, (unsigned)v);
}
static uint64_t zz(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }

/* TType -> compact nibble */
static unsigned ctype(unsigned t)
{
    static const unsigned m[17] = { 0, 0, 1, 3, 7, 0, 4, 0, 5, 0, 6, 8, 12, 11, 10, 9, 13 };
    return m[t];
}

static void e_msg(struct enc *e, const char *name, int type, int32_t seqid)
{
    tw_write_header(e->proto, &e->b, (const uint8_t *)name, strlen(name), (enum tw_msg_type)type, seqid);
}
static void e_begin(struct enc *e) { e->last[++e->sp] = 0; }
static void e_end(struct enc *e)
{
    e_u8(e, 0);
    e->sp--;
}
/* Field header; for a compact bool use e_field_bool. */
static void e_field(struct enc *e, unsigned t, int16_t fid)
{
    if (e->proto == TW_BINARY) {
        e_u8(e, t);
        e_be(e, (uint16_t)fid, 2);
        return;
    }
    int d = fid - e->last[e->sp];
    if (d > 0 && d <= 15) {
        e_u8(e, (unsigned)d << 4 | ctype(t));
    } else {
        e_u8(e, ctype(t));
        e_varint(e, zz(fid));
    }
    e->last[e->sp] = fid;
}
static void e_field_bool(struct enc *e, int16_t fid, int v)
{
    if (e->proto == TW_BINARY) {
        e_field(e, 2, fid);
        e_u8(e, v ? 1 : 0);
        return;
    }
    int d = fid - e->last[e->sp];
    if (d > 0 && d <= 15) {
        e_u8(e, (unsigned)d << 4 | (v ? 1u : 2u));
    } else {
        e_u8(e, v ? 1 : 2);
        e_varint(e, zz(fid));
    }
    e->last[e->sp] = fid;
}
static void e_str(struct enc *e, const char *s)
{
    size_t n = strlen(s);
    if (e->proto == TW_BINARY)
        e_be(e, n, 4);
    else
        e_varint(e, n);
    e_raw(e, s, n);
}
static void e_i32(struct enc *e, int32_t v)
{
    if (e->proto == TW_BINARY)
        e_be(e, (uint32_t)v, 4);
    else
        e_varint(e, zz(v) & 0xffffffffu);
}
static void e_i64(struct enc *e, int64_t v)
{
    if (e->proto == TW_BINARY)
        e_be(e, (uint64_t)v, 8);
    else
        e_varint(e, zz(v));
}
static void e_list(struct enc *e, unsigned et, uint32_t n)
{
    if (e->proto == TW_BINARY) {
        e_u8(e, et);
        e_be(e, n, 4);
    } else if (n < 15) {
        e_u8(e, n << 4 | ctype(et));
    } else {
        e_u8(e, 0xf0 | ctype(et));
        e_varint(e, n);
    }
}
static void e_map(struct enc *e, unsigned kt, unsigned vt, uint32_t n)
{
    if (e->proto == TW_BINARY) {
        e_u8(e, kt);
        e_u8(e, vt);
        e_be(e, n, 4);
    } else {
        e_varint(e, n);
        if (n)
            e_u8(e, ctype(kt) << 4 | ctype(vt));
    }
}

enum { T_BOOL = 2, T_I32 = 8, T_I64 = 10, T_STRING = 11, T_STRUCT = 12, T_MAP = 13, T_SET = 14, T_LIST = 15 };

/* ---- vectors from the Python library ---- */

static size_t unhex(const char *h, uint8_t *out)
{
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return n;
}

/* Parses "0.E.2;1" into paths. */
static int parse_paths(char *text, int32_t store[][TW_MAX_STEPS + 1], const int32_t *ptrs[], struct tw_pathset *ps)
{
    int n = 0;
    for (char *p = strtok(text, ";"); p; p = strtok(NULL, ";")) {
        int d = 0;
        for (char *q = p; *q;) {
            if (*q == 'E' || *q == 'K' || *q == 'V') {
                store[n][d++] = *q == 'E' ? TW_ELEM : *q == 'K' ? TW_KEY : TW_VAL;
                q++;
            } else {
                store[n][d++] = (int32_t)strtol(q, &q, 10);
            }
            if (*q == '.')
                q++;
        }
        store[n][d] = TW_END;
        ptrs[n] = store[n];
        n++;
    }
    ps->p = ptrs;
    ps->n = (uint8_t)n;
    return n;
}

static int vectors_run;

static void check_vector(const char *name, enum tw_proto proto, struct tw_pathset *ps, int count,
                         const uint8_t *msg0, size_t len, const uint8_t *exp, size_t elen)
{
    int fails = check_failed;
    uint8_t *msg = dup_exact(msg0, len);
    size_t ml = 0;

    /* The end, alone and with the next message's bytes behind it. */
    CHECK_EQ(tw_message_end(proto, msg, len, NULL, &ml), TW_COMPLETE);
    CHECK_EQ(ml, len);
    uint8_t *two = malloc(2 * len);
    memcpy(two, msg, len);
    memcpy(two + len, msg, len);
    ml = 0;
    CHECK_EQ(tw_message_end(proto, two, 2 * len, NULL, &ml), TW_COMPLETE);
    CHECK_EQ(ml, len);
    free(two);

    /* Every prefix needs more (all of them for small messages, a sample of
     * the big ones), one-shot and fed piece by piece to one scanner. */
    size_t stride = len <= 4096 ? 1 : len / 997 + 1;
    for (size_t k = 0; k < len; k += stride) {
        uint8_t *pre = dup_exact(msg, k);
        if (tw_message_end(proto, pre, k, NULL, &ml) != TW_NEED_MORE) {
            fprintf(stderr, "%s: prefix %zu of %zu\n", name, k, len);
            CHECK(0);
        }
        free(pre);
    }
    struct tw_scan sc;
    tw_scan_init(&sc, proto, NULL);
    int rc = TW_NEED_MORE;
    size_t k = 0;
    while (rc == TW_NEED_MORE && k < len) {
        k += 1 + (k * 7 + 3) % 13;
        if (k > len)
            k = len;
        uint8_t *pre = dup_exact(msg, k);
        rc = tw_scan_feed(&sc, pre, k, &ml);
        free(pre);
        if (k < len)
            CHECK_EQ(rc, TW_NEED_MORE);
    }
    CHECK_EQ(rc, TW_COMPLETE);
    CHECK_EQ(ml, len);

    struct tw_header h;
    CHECK_EQ(tw_parse_header(proto, msg, len, NULL, &h), TW_COMPLETE);
    const uint8_t *body = msg + h.body_off;
    size_t blen = len - h.body_off;

    struct count_ctx cc = { 0, 0, 0 };
    CHECK_EQ(tw_walk(proto, body, blen, NULL, ps, count_fn, &cc), 0);
    CHECK_EQ(cc.n, count);
    if (count > 1) {
        struct count_ctx stop = { 0, 2, 0 };
        CHECK_EQ(tw_walk(proto, body, blen, NULL, ps, count_fn, &stop), TW_STOP);
        CHECK_EQ(stop.n, 2);
    }

    /* Rewrite the body; compare with the library's encoding. */
    static struct map_ctx mc;
    mc.seen = 0;
    struct buf out = BUF_INIT;
    rc = tw_rewrite(proto, body, blen, NULL, ps, map_fn, &mc, &out);
    CHECK_EQ(mc.seen, count);
    if (!exp) {
        CHECK_EQ(rc, TW_UNCHANGED);
        CHECK_EQ(buf_len(&out), 0);
    } else {
        struct tw_header eh;
        CHECK_EQ(tw_parse_header(proto, exp, elen, NULL, &eh), TW_COMPLETE);
        CHECK_EQ(rc, TW_CHANGED);
        CHECK_EQ(buf_len(&out), elen - eh.body_off);
        CHECK(buf_len(&out) == elen - eh.body_off && memcmp(buf_rptr(&out), exp + eh.body_off, buf_len(&out)) == 0);
        /* The output is a valid message body with the same strings. */
        struct count_ctx again = { 0, 0, 0 };
        uint8_t *o = dup_exact(buf_rptr(&out), buf_len(&out));
        CHECK_EQ(tw_walk(proto, o, buf_len(&out), NULL, ps, count_fn, &again), 0);
        CHECK_EQ(again.n, count);
        free(o);
    }

    /* The whole message: with strict headers the output is the library's. */
    buf_reset(&out);
    mc.seen = 0;
    rc = tw_rewrite_message(proto, msg, len, NULL, NULL, ps, map_fn, &mc, &out);
    const uint8_t *want = exp ? exp : msg;
    size_t wlen = exp ? elen : len;
    if (h.strict) {
        CHECK_EQ(rc, exp ? TW_CHANGED : TW_UNCHANGED);
        CHECK(buf_len(&out) == wlen && memcmp(buf_rptr(&out), want, wlen) == 0);
    } else {
        struct tw_header oh;
        CHECK_EQ(rc, TW_CHANGED); /* the header is now strict */
        CHECK_EQ(tw_parse_header(proto, buf_rptr(&out), buf_len(&out), NULL, &oh), TW_COMPLETE);
        CHECK(oh.strict && oh.seqid == h.seqid && oh.type == h.type && oh.name_len == h.name_len);
        CHECK(memcmp(oh.name, h.name, h.name_len) == 0);
    }
    size_t oml = 0;
    CHECK_EQ(tw_message_end(proto, buf_rptr(&out), buf_len(&out), NULL, &oml), TW_COMPLETE);
    CHECK_EQ(oml, buf_len(&out));

    /* The same as a stream, in pieces of several sizes, consumed bytes
     * dropped: the header as it came, then the rewritten body. */
    for (size_t piece = 1; piece <= len; piece = piece < 64 ? piece * 3 + 1 : piece * 7) {
        struct tw_stream st;
        CHECK_EQ(tw_stream_init(&st, proto, NULL, ps, map_fn, &mc), 0);
        struct buf sout = BUF_INIT, win = BUF_INIT;
        size_t fed = 0;
        int sr = TW_NEED_MORE;
        while (sr == TW_NEED_MORE) {
            size_t n = len - fed < piece ? len - fed : piece;
            buf_append(&win, msg + fed, n);
            fed += n;
            uint8_t *w = dup_exact(buf_rptr(&win), buf_len(&win));
            size_t used = 0;
            sr = tw_stream_feed(&st, w, buf_len(&win), &sout, &used);
            free(w);
            buf_consume(&win, used);
            if (sr == TW_NEED_MORE && fed == len)
                break;
        }
        CHECK_EQ(sr, TW_COMPLETE);
        CHECK_EQ(buf_len(&win), 0);
        struct tw_header wh;
        const uint8_t *wb = exp ? exp : msg;
        size_t wl = exp ? elen : len;
        CHECK_EQ(tw_parse_header(proto, wb, wl, NULL, &wh), TW_COMPLETE);
        size_t want_len = h.body_off + (wl - wh.body_off);
        if (buf_len(&sout) != want_len || memcmp(buf_rptr(&sout), msg, h.body_off) != 0 ||
            memcmp(buf_rptr(&sout) + h.body_off, wb + wh.body_off, wl - wh.body_off) != 0) {
            fprintf(stderr, "%s: stream in pieces of %zu differs\n", name, piece);
            CHECK(0);
        }
        buf_free(&sout);
        buf_free(&win);
    }
    /* A stream that ends early needs more; the message limit holds over
     * all the pieces. */
    if (len > 2) {
        struct tw_stream st;
        struct buf sout = BUF_INIT;
        size_t used = 0;
        tw_stream_init(&st, proto, NULL, ps, map_fn, &mc);
        CHECK_EQ(tw_stream_feed(&st, msg, len - 1, &sout, &used), TW_NEED_MORE);
        struct tw_limits small = { 0, 0, 0, len - 1 };
        tw_stream_init(&st, proto, &small, NULL, NULL, NULL);
        int sr = tw_stream_feed(&st, msg, len / 2, &sout, &used);
        if (sr == TW_NEED_MORE)
            sr = tw_stream_feed(&st, msg + used, len - used, &sout, &used);
        CHECK_EQ(sr, TW_EMSGSIZE);
        CHECK_EQ(tw_stream_feed(&st, msg, len, &sout, &used), TW_EMSGSIZE);
        buf_free(&sout);
    }

    /* A cut body is truncated, never read past; trailing bytes are refused. */
    size_t bstride = blen <= 4096 ? 1 : blen / 997 + 1;
    for (size_t k2 = 0; k2 < blen; k2 += bstride) {
        uint8_t *pre = dup_exact(body, k2);
        struct count_ctx c2 = { 0, 0, 0 };
        int r = tw_walk(proto, pre, k2, NULL, ps, count_fn, &c2);
        struct buf o2 = BUF_INIT;
        int r2 = tw_rewrite(proto, pre, k2, NULL, ps, map_fn, &mc, &o2);
        if (r != TW_ETRUNCATED || r2 != TW_ETRUNCATED || buf_len(&o2) != 0) {
            fprintf(stderr, "%s: body prefix %zu of %zu: walk %d rewrite %d\n", name, k2, blen, r, r2);
            CHECK(0);
        }
        buf_free(&o2);
        free(pre);
    }
    uint8_t *longer = malloc(blen + 1);
    memcpy(longer, body, blen);
    longer[blen] = 0;
    CHECK_EQ(tw_walk(proto, longer, blen + 1, NULL, ps, count_fn, &cc), TW_ETRAILING);
    free(longer);

    buf_free(&out);
    free(msg);
    vectors_run++;
    if (check_failed != fails)
        fprintf(stderr, "  in vector %s (%s)\n", name, proto == TW_BINARY ? "binary" : "compact");
}

static void test_python_vectors(const char *python, const char *script)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' '%s'", python, script);
    FILE *f = popen(cmd, "r");
    CHECK(f != NULL);
    if (!f)
        return;
    size_t cap = 1 << 20;
    char *line = malloc(cap);
    uint8_t *msg = malloc(cap / 2), *exp = malloc(cap / 2);
    while (fgets(line, (int)cap, f)) {
        char name[128], proto[4], paths[512], mh[4], eh[4];
        int count;
        char *fields[7];
        int nf = 0;
        for (char *t = strtok(line, " \n"); t && nf < 7; t = strtok(NULL, " \n"))
            fields[nf++] = t;
        if (nf != 7 || strcmp(fields[0], "vec") != 0) {
            CHECK(0);
            continue;
        }
        snprintf(name, sizeof name, "%s", fields[1]);
        snprintf(proto, sizeof proto, "%s", fields[2]);
        snprintf(paths, sizeof paths, "%s", fields[3]);
        count = atoi(fields[4]);
        size_t len = unhex(fields[5], msg);
        size_t elen = strcmp(fields[6], "=") == 0 ? 0 : unhex(fields[6], exp);
        (void)mh;
        (void)eh;
        int32_t store[TW_MAX_PATHS][TW_MAX_STEPS + 1];
        const int32_t *ptrs[TW_MAX_PATHS];
        struct tw_pathset ps;
        parse_paths(paths, store, ptrs, &ps);
        CHECK_EQ(tw_check_paths(&ps), 0);
        check_vector(name, proto[0] == 'b' ? TW_BINARY : TW_COMPACT, &ps, count, msg, len, elen ? exp : NULL, elen);
    }
    CHECK_EQ(pclose(f), 0);
    free(line);
    free(msg);
    free(exp);
    printf("python vectors: %d\n", vectors_run);
    CHECK(vectors_run >= 60);
}

/* ---- hand-built cases ---- */

static const struct tw_pathset PS1 = TW_PS(TW_P(1));
static const struct tw_pathset PS_TABLES = TW_PS(TW_P(0, TW_ELEM, 2));

/* Body-level helpers. */
static int walk_count(enum tw_proto proto, const struct buf *b, const struct tw_limits *lim, int *n)
{
    uint8_t *c = dup_exact(buf_rptr(b), buf_len(b));
    struct count_ctx cc = { 0, 0, 0 };
    int r = tw_walk(proto, c, buf_len(b), lim, &PS1, count_fn, &cc);
    free(c);
    if (n)
        *n = cc.n;
    return r;
}

/* The scanner's verdict on a body behind a small header. */
static int scan_body(enum tw_proto proto, const struct buf *body, const struct tw_limits *lim)
{
    struct enc m;
    e_init(&m, proto);
    e_msg(&m, "m", TW_CALL, 1);
    e_raw(&m, buf_rptr(body), buf_len(body));
    uint8_t *c = dup_exact(buf_rptr(&m.b), buf_len(&m.b));
    size_t ml;
    int r = tw_message_end(proto, c, buf_len(&m.b), lim, &ml);
    free(c);
    buf_free(&m.b);
    return r;
}

static void test_depth(enum tw_proto proto)
{
    for (int depth = 63; depth <= 66; depth++) {
        struct enc e;
        e_init(&e, proto);
        e_begin(&e); /* the body: level 1 */
        for (int d = 1; d < depth; d++) {
            e_field(&e, T_STRUCT, 1);
            e_begin(&e);
        }
        e_field(&e, T_STRING, 2);
        e_str(&e, "db");
        for (int d = 0; d < depth; d++)
            e_end(&e);
        int want = depth <= 64 ? 0 : TW_EDEPTH;
        CHECK_EQ(walk_count(proto, &e.b, NULL, NULL), want);
        CHECK_EQ(scan_body(proto, &e.b, NULL), want == 0 ? TW_COMPLETE : TW_EDEPTH);
        /* A smaller configured limit. */
        struct tw_limits lim = { 10, 0, 0, 0 };
        CHECK_EQ(walk_count(proto, &e.b, &lim, NULL), TW_EDEPTH);
        buf_free(&e.b);
    }
    /* Lists count as levels too: 64 nested lists inside the body. */
    struct enc e;
    e_init(&e, proto);
    e_begin(&e);
    e_field(&e, T_LIST, 1);
    for (int d = 0; d < 64; d++)
        e_list(&e, T_LIST, 1);
    e_list(&e, T_I32, 0);
    e_end(&e);
    CHECK_EQ(walk_count(proto, &e.b, NULL, NULL), TW_EDEPTH);
    buf_free(&e.b);
}

static void test_limits(enum tw_proto proto)
{
    struct enc e;
    /* A string length far past the end (2 GiB - 1), and a negative one. */
    e_init(&e, proto);
    e_begin(&e);
    e_field(&e, T_STRING, 1);
    if (proto == TW_BINARY)
        e_be(&e, 0x7fffffff, 4);
    else
        e_varint(&e, 0x7fffffff);
    e_raw(&e, "abc", 3);
    CHECK_EQ(walk_count(proto, &e.b, NULL, NULL), TW_ESTRING);
    CHECK_EQ(scan_body(proto, &e.b, NULL), TW_ESTRING);
    struct tw_limits big = { 0, (size_t)1 << 31, 0, 0 };
    CHECK_EQ(walk_count(proto, &e.b, &big, NULL), TW_EMSGSIZE);
    struct tw_limits huge = { 0, (size_t)1 << 31, 0, (size_t)1 << 32 };
    CHECK_EQ(walk_count(proto, &e.b, &huge, NULL), TW_ETRUNCATED);
    CHECK_EQ(scan_body(proto, &e.b, &huge), TW_NEED_MORE);
    buf_free(&e.b);

    e_init(&e, proto);
    e_begin(&e);
    e_field(&e, T_STRING, 1);
    if (proto == TW_BINARY)
        e_be(&e, 0xfffffffe, 4);
    else
        e_varint(&e, 0xfffffffe);
    CHECK_EQ(walk_count(proto, &e.b, NULL, NULL), TW_ESTRING);
    buf_free(&e.b);

    /* A string just over a small max_string. */
    e_init(&e, proto);
    e_begin(&e);
    e_field(&e, T_STRING, 1);
    e_str(&e, "0123456789");
    e_end(&e);
    struct tw_limits s10 = { 0, 10, 0, 0 }, s9 = { 0, 9, 0, 0 };
    int n = 0;
    CHECK_EQ(walk_count(proto, &e.b, &s10, &n), 0);
    CHECK_EQ(n, 1);
    CHECK_EQ(walk_count(proto, &e.b, &s9, NULL), TW_ESTRING);
    /* The message size limit: the body is exactly len bytes. */
    struct tw_limits m_ok = { 0, 0, 0, buf_len(&e.b) }, m_small = { 0, 0, 0, buf_len(&e.b) - 1 };
    CHECK_EQ(walk_count(proto, &e.b, &m_ok, NULL), 0);
    CHECK_EQ(walk_count(proto, &e.b, &m_small, NULL), TW_EMSGSIZE);
    /* A replacement longer than max_string. */
    {
        struct tw_limits s12 = { 0, 12, 0, 0 };
        static struct map_ctx mc;
        struct enc d;
        e_init(&d, proto);
        e_begin(&d);
        e_field(&d, T_STRING, 1);
        e_str(&d, "db_12345");
        e_end(&d);
        struct buf out = BUF_INIT;
        CHECK_EQ(tw_rewrite(proto, buf_rptr(&d.b), buf_len(&d.b), &s12, &PS1, map_fn, &mc, &out), TW_ESTRING);
        CHECK_EQ(buf_len(&out), 0);
        buf_free(&out);
        buf_free(&d.b);
    }
    buf_free(&e.b);

    /* A huge list count with a few bytes behind it. */
    e_init(&e, proto);
    e_begin(&e);
    e_field(&e, T_LIST, 1);
    e_list(&e, T_STRING, 0x7ffffff0);
    e_str(&e, "db");
    CHECK_EQ(walk_count(proto, &e.b, NULL, NULL), TW_ECONTAINER);
    CHECK_EQ(scan_body(proto, &e.b, NULL), TW_ECONTAINER);
    struct tw_limits c_big = { 0, 0, (size_t)1 << 31, 0 };
    CHECK_EQ(walk_count(proto, &e.b, &c_big, NULL), TW_EMSGSIZE); /* cannot fit in 100 MiB */
    struct tw_limits c_all = { 0, 0, (size_t)1 << 31, (size_t)1 << 40 };
    CHECK_EQ(walk_count(proto, &e.b, &c_all, NULL), TW_ETRUNCATED);
    CHECK_EQ(scan_body(proto, &e.b, &c_all), TW_NEED_MORE);
    buf_free(&e.b);

    /* Negative counts (binary i32; compact varint that is negative as i32). */
    e_init(&e, proto);
    e_begin(&e);
    e_field(&e, T_MAP, 1);
    if (proto == TW_BINARY) {
        e_u8(&e, T_STRING);
        e_u8(&e, T_STRING);
        e_be(&e, 0xffffffff, 4);
    } else {
        e_varint(&e, 0xffffffff);
        e_u8(&e, 0x88);
    }
    CHECK_EQ(walk_count(proto, &e.b, NULL, NULL), TW_ECONTAINER);
    buf_free(&e.b);

    /* Container size limit exactly. */
    e_init(&e, proto);
    e_begin(&e);
    e_field(&e, T_SET, 1);
    e_list(&e, T_I32, 3);
    e_i32(&e, 1), e_i32(&e, 2), e_i32(&e, 3);
    e_end(&e);
    struct tw_limits c3 = { 0, 0, 3, 0 }, c2 = { 0, 0, 2, 0 };
    CHECK_EQ(walk_count(proto, &e.b, &c3, NULL), 0);
    CHECK_EQ(walk_count(proto, &e.b, &c2, NULL), TW_ECONTAINER);
    buf_free(&e.b);
}

static void test_bad_input(enum tw_proto proto)
{
    struct enc e;
    /* Unknown value types. */
    e_init(&e, proto);
    e_begin(&e);
    if (proto == TW_BINARY) {
        e_u8(&e, 1); /* VOID */
        e_be(&e, 1, 2);
    } else {
        e_u8(&e, 0x1e); /* delta 1, nibble 14 */
    }
    e_u8(&e, 0);
    CHECK_EQ(walk_count(proto, &e.b, NULL, NULL), TW_ETYPE);
    CHECK_EQ(scan_body(proto, &e.b, NULL), TW_ETYPE);
    buf_free(&e.b);

    /* A list of a bad element type; an empty one is let through, as Java does. */
    for (int cnt = 0; cnt <= 1; cnt++) {
        e_init(&e, proto);
        e_begin(&e);
        e_field(&e, T_LIST, 1);
        if (proto == TW_BINARY) {
            e_u8(&e, 0x63);
            e_be(&e, (uint32_t)cnt, 4);
        } else {
            e_u8(&e, (unsigned)cnt << 4 | 0x0e);
        }
        if (cnt)
            e_u8(&e, 0);
        e_end(&e);
        CHECK_EQ(walk_count(proto, &e.b, NULL, NULL), cnt ? TW_ETYPE : 0);
        buf_free(&e.b);
    }

    if (proto == TW_COMPACT) {
        /* Over-long varints: an i32 of 6 bytes, a field id of 6 bytes. */
        static const uint8_t longi32[] = { 0x15, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x00 };
        static const uint8_t longfid[] = { 0x05, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00, 0x00 };
        static const uint8_t longi64[] = { 0x16, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x00 };
        static const uint8_t ok_i64[] = { 0x16, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x00 };
        struct count_ctx cc = { 0, 0, 0 };
        CHECK_EQ(tw_walk(proto, longi32, sizeof longi32, NULL, &PS1, count_fn, &cc), TW_EMALFORMED);
        CHECK_EQ(tw_walk(proto, longfid, sizeof longfid, NULL, &PS1, count_fn, &cc), TW_EMALFORMED);
        CHECK_EQ(tw_walk(proto, longi64, sizeof longi64, NULL, &PS1, count_fn, &cc), TW_EMALFORMED);
        CHECK_EQ(tw_walk(proto, ok_i64, sizeof ok_i64, NULL, &PS1, count_fn, &cc), 0);
        /* STOP is the low nibble: 0x10 ends a struct as 0x00 does (Java). */
        static const uint8_t stop10[] = { 0x18, 0x02, 'd', 'b', 0x10 };
        cc.n = 0;
        CHECK_EQ(tw_walk(proto, stop10, sizeof stop10, NULL, &PS1, count_fn, &cc), 0);
        CHECK_EQ(cc.n, 1);
        /* Bools in field headers carry no byte; in lists one byte each. */
        static const uint8_t bools[] = { 0x11, 0x12, 0x19, 0x31, 0x01, 0x02, 0x01, 0x18, 0x01, 'x', 0x00 };
        cc.n = 0;
        const struct tw_pathset ps4 = TW_PS(TW_P(4));
        CHECK_EQ(tw_walk(proto, bools, sizeof bools, NULL, &ps4, count_fn, &cc), 0);
        CHECK_EQ(cc.n, 1);
    }

    /* Empty input and a lone STOP. */
    struct count_ctx cc = { 0, 0, 0 };
    CHECK_EQ(tw_walk(proto, NULL, 0, NULL, &PS1, count_fn, &cc), TW_ETRUNCATED);
    static const uint8_t stop[] = { 0 };
    CHECK_EQ(tw_walk(proto, stop, 1, NULL, &PS1, count_fn, &cc), 0);
}

static void test_headers(void)
{
    enum tw_proto pr;
    bool framed;
    static const uint8_t bin[] = { 0x80, 0x01, 0x00, 0x01 };
    static const uint8_t cmp[] = { 0x82, 0x21 };
    static const uint8_t fbin[] = { 0x00, 0x00, 0x00, 0x20, 0x80, 0x01, 0x00, 0x01 };
    static const uint8_t fcmp[] = { 0x00, 0x00, 0x00, 0x20, 0x82, 0x21 };
    static const uint8_t old[] = { 0x00, 0x00, 0x00, 0x03, 'g', 'e', 't' };
    static const uint8_t fold[] = { 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x03 };
    static const uint8_t sasl[] = { 0x01, 0x00, 0x00, 0x00, 0x06, 'G', 'S', 'S' };
    static const uint8_t http[] = { 'P', 'O', 'S', 'T', ' ', '/' };
    static const uint8_t badv[] = { 0x80, 0x02 };
    CHECK_EQ(tw_detect(bin, 1, &pr, &framed), TW_NEED_MORE);
    CHECK_EQ(tw_detect(bin, sizeof bin, &pr, &framed), TW_COMPLETE);
    CHECK(pr == TW_BINARY && !framed);
    CHECK_EQ(tw_detect(cmp, 2, &pr, &framed), TW_COMPLETE);
    CHECK(pr == TW_COMPACT && !framed);
    for (size_t k = 0; k < 6; k++)
        CHECK_EQ(tw_detect(fbin, k, &pr, &framed), TW_NEED_MORE);
    CHECK_EQ(tw_detect(fbin, sizeof fbin, &pr, &framed), TW_COMPLETE);
    CHECK(pr == TW_BINARY && framed);
    CHECK_EQ(tw_detect(fcmp, sizeof fcmp, &pr, &framed), TW_COMPLETE);
    CHECK(pr == TW_COMPACT && framed);
    CHECK_EQ(tw_detect(old, sizeof old, &pr, &framed), TW_COMPLETE);
    CHECK(pr == TW_BINARY && !framed);
    CHECK_EQ(tw_detect(fold, 7, &pr, &framed), TW_NEED_MORE);
    CHECK_EQ(tw_detect(fold, sizeof fold, &pr, &framed), TW_COMPLETE);
    CHECK(pr == TW_BINARY && framed);
    CHECK_EQ(tw_detect(sasl, sizeof sasl, &pr, &framed), TW_EVERSION);
    CHECK_EQ(tw_detect(http, sizeof http, &pr, &framed), TW_EVERSION);
    CHECK_EQ(tw_detect(badv, sizeof badv, &pr, &framed), TW_EVERSION);

    /* Frames. */
    const uint8_t *m;
    size_t ml, fl;
    static const uint8_t fr[] = { 0, 0, 0, 3, 'a', 'b', 'c', 'x' };
    CHECK_EQ(tw_frame_cut(fr, 3, 100, &m, &ml, &fl), TW_NEED_MORE);
    CHECK_EQ(tw_frame_cut(fr, 6, 100, &m, &ml, &fl), TW_NEED_MORE);
    CHECK_EQ(tw_frame_cut(fr, sizeof fr, 100, &m, &ml, &fl), TW_COMPLETE);
    CHECK(m == fr + 4 && ml == 3 && fl == 7);
    CHECK_EQ(tw_frame_cut(fr, sizeof fr, 2, &m, &ml, &fl), TW_EMSGSIZE);
    static const uint8_t neg[] = { 0xff, 0, 0, 3 };
    CHECK_EQ(tw_frame_cut(neg, 4, 100, &m, &ml, &fl), TW_EMSGSIZE);
    struct buf fb = BUF_INIT;
    CHECK_EQ(tw_put_frame_len(&fb, 300), 0);
    CHECK(buf_len(&fb) == 4 && memcmp(buf_rptr(&fb), "\0\0\x01\x2c", 4) == 0);
    CHECK_EQ(tw_put_frame_len(&fb, (size_t)INT32_MAX + 1), TW_EMSGSIZE);
    CHECK_EQ(buf_len(&fb), 4);
    buf_free(&fb);

    /* Header writer and parser, both protocols, including renames. */
    for (int pi = 0; pi < 2; pi++) {
        enum tw_proto p = pi ? TW_COMPACT : TW_BINARY;
        int32_t seqids[] = { 0, 1, 127, 128, -1, INT32_MIN, INT32_MAX };
        for (size_t i = 0; i < sizeof seqids / sizeof seqids[0]; i++) {
            struct buf b = BUF_INIT;
            CHECK_EQ(tw_write_header(p, &b, (const uint8_t *)"get_table_req", 13, TW_REPLY, seqids[i]), 0);
            b.data[b.wpos++] = 0; /* empty body */
            struct tw_header h;
            CHECK_EQ(tw_parse_header(p, buf_rptr(&b), buf_len(&b), NULL, &h), TW_COMPLETE);
            CHECK(h.type == TW_REPLY && h.seqid == seqids[i] && h.name_len == 13 && h.strict);
            CHECK(memcmp(h.name, "get_table_req", 13) == 0);
            CHECK_EQ(h.body_off, buf_len(&b) - 1);
            for (size_t k = 0; k < h.body_off; k++)
                CHECK_EQ(tw_parse_header(p, buf_rptr(&b), k, NULL, &h), TW_NEED_MORE);
            buf_free(&b);
        }
        /* A rename plus a new seqid, body copied. */
        struct enc e;
        e_init(&e, p);
        e_msg(&e, "get_table", TW_CALL, 7);
        e_begin(&e);
        e_field(&e, T_STRING, 1);
        e_str(&e, "db_a");
        e_field(&e, T_STRING, 2);
        e_str(&e, "t");
        e_end(&e);
        struct tw_header_edit ed = { (const uint8_t *)"get_table_req", 13, true, 99 };
        struct buf out = BUF_INIT;
        static struct map_ctx mc;
        CHECK_EQ(tw_rewrite_message(p, buf_rptr(&e.b), buf_len(&e.b), NULL, &ed, NULL, NULL, NULL, &out),
                 TW_CHANGED);
        struct tw_header h, oh;
        CHECK_EQ(tw_parse_header(p, buf_rptr(&e.b), buf_len(&e.b), NULL, &h), TW_COMPLETE);
        CHECK_EQ(tw_parse_header(p, buf_rptr(&out), buf_len(&out), NULL, &oh), TW_COMPLETE);
        CHECK(oh.seqid == 99 && oh.name_len == 13 && memcmp(oh.name, "get_table_req", 13) == 0);
        CHECK(buf_len(&out) - oh.body_off == buf_len(&e.b) - h.body_off);
        CHECK(memcmp(buf_rptr(&out) + oh.body_off, buf_rptr(&e.b) + h.body_off, buf_len(&e.b) - h.body_off) == 0);
        /* No edit, no paths: an exact copy. */
        buf_reset(&out);
        CHECK_EQ(tw_rewrite_message(p, buf_rptr(&e.b), buf_len(&e.b), NULL, NULL, NULL, NULL, NULL, &out),
                 TW_UNCHANGED);
        CHECK(buf_len(&out) == buf_len(&e.b) && memcmp(buf_rptr(&out), buf_rptr(&e.b), buf_len(&out)) == 0);
        /* Edit and paths together; a failing one leaves out as it was. */
        buf_reset(&out);
        CHECK_EQ(tw_rewrite_message(p, buf_rptr(&e.b), buf_len(&e.b), NULL, &ed, &PS1, map_fn, &mc, &out),
                 TW_CHANGED);
        struct count_ctx cc = { 0, 0, 0 };
        CHECK_EQ(tw_parse_header(p, buf_rptr(&out), buf_len(&out), NULL, &oh), TW_COMPLETE);
        CHECK_EQ(tw_walk(p, buf_rptr(&out) + oh.body_off, buf_len(&out) - oh.body_off, NULL, &PS1, count_fn, &cc),
                 0);
        CHECK(cc.n == 1 && cc.bytes == 9); /* "hive_db_a" */
        size_t before = buf_len(&out);
        CHECK_EQ(tw_rewrite_message(p, buf_rptr(&e.b), buf_len(&e.b) - 1, NULL, &ed, &PS1, map_fn, &mc, &out),
                 TW_ETRUNCATED);
        CHECK_EQ(buf_len(&out), before);
        buf_free(&out);
        buf_free(&e.b);

        /* TApplicationException: message at path 1, type at field 2. */
        struct buf x = BUF_INIT;
        CHECK_EQ(tw_write_app_exception(p, &x, (const uint8_t *)"get_table", 9, 5, TW_APP_UNKNOWN_METHOD,
                                        "Invalid method name: 'get_table'"),
                 0);
        size_t xl;
        CHECK_EQ(tw_message_end(p, buf_rptr(&x), buf_len(&x), NULL, &xl), TW_COMPLETE);
        CHECK_EQ(xl, buf_len(&x));
        CHECK_EQ(tw_parse_header(p, buf_rptr(&x), buf_len(&x), NULL, &h), TW_COMPLETE);
        CHECK(h.type == TW_EXCEPTION && h.seqid == 5);
        struct count_ctx c2 = { 0, 0, 0 };
        CHECK_EQ(tw_walk(p, buf_rptr(&x) + h.body_off, buf_len(&x) - h.body_off, NULL, &PS1, count_fn, &c2), 0);
        CHECK(c2.n == 1 && c2.bytes == 32);
        buf_free(&x);
    }

    /* Header errors. */
    static const uint8_t badtype[] = { 0x80, 0x01, 0x00, 0x05, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
    static const uint8_t badver[] = { 0x80, 0x02, 0x00, 0x01 };
    static const uint8_t negname[] = { 0x80, 0x01, 0x00, 0x01, 0xff, 0xff, 0xff, 0xfe };
    static const uint8_t cbadver[] = { 0x82, 0x22, 0x01, 0x00, 0x00 };
    static const uint8_t cbadtype[] = { 0x82, 0xa1, 0x01, 0x00, 0x00 };
    static const uint8_t clongseq[] = { 0x82, 0x21, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x00, 0x00 };
    static const uint8_t oldbadtype[] = { 0, 0, 0, 1, 'x', 9, 0, 0, 0, 1, 0 };
    static const uint8_t oldlong[] = { 0, 0, 0x10, 0, 'x', 1 };
    struct tw_limits s1k = { 0, 1024, 0, 0 };
    struct tw_header h;
    CHECK_EQ(tw_parse_header(TW_BINARY, oldbadtype, sizeof oldbadtype, NULL, &h), TW_ETYPE);
    CHECK_EQ(tw_parse_header(TW_BINARY, oldlong, sizeof oldlong, NULL, &h), TW_NEED_MORE);
    CHECK_EQ(tw_parse_header(TW_BINARY, oldlong, sizeof oldlong, &s1k, &h), TW_ESTRING);
    CHECK_EQ(tw_parse_header(TW_BINARY, badtype, sizeof badtype, NULL, &h), TW_ETYPE);
    CHECK_EQ(tw_parse_header(TW_BINARY, badver, sizeof badver, NULL, &h), TW_EVERSION);
    CHECK_EQ(tw_parse_header(TW_BINARY, negname, sizeof negname, NULL, &h), TW_ESTRING);
    CHECK_EQ(tw_parse_header(TW_COMPACT, cbadver, sizeof cbadver, NULL, &h), TW_EVERSION);
    CHECK_EQ(tw_parse_header(TW_COMPACT, cbadtype, sizeof cbadtype, NULL, &h), TW_ETYPE);
    CHECK_EQ(tw_parse_header(TW_COMPACT, clongseq, sizeof clongseq, NULL, &h), TW_EMALFORMED);
    CHECK_EQ(tw_parse_header(TW_COMPACT, bin, sizeof bin, NULL, &h), TW_EVERSION);
    size_t ml2;
    CHECK_EQ(tw_message_end(TW_BINARY, badtype, sizeof badtype, NULL, &ml2), TW_ETYPE);
}

static void test_paths(void)
{
    const struct tw_pathset dup = TW_PS(TW_P(1, 2), TW_P(1, 2));
    const struct tw_pathset prefix = TW_PS(TW_P(1), TW_P(1, 2), TW_P(-32768, TW_KEY), TW_P(32767, TW_VAL));
    static const int32_t bad_step[] = { 40000, TW_END };
    static const int32_t empty[] = { TW_END };
    static const int32_t too_long[] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, TW_END };
    static const int32_t longest[] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, TW_END };
    const int32_t *a[] = { bad_step }, *b[] = { empty }, *c[] = { too_long }, *d[] = { longest };
    struct tw_pathset pa = { a, 1 }, pb = { b, 1 }, pc = { c, 1 }, pd = { d, 1 }, pz = { d, 0 };
    CHECK_EQ(tw_check_paths(&dup), TW_EPATH);
    CHECK_EQ(tw_check_paths(&prefix), 0);
    CHECK_EQ(tw_check_paths(&pa), TW_EPATH);
    CHECK_EQ(tw_check_paths(&pb), TW_EPATH);
    CHECK_EQ(tw_check_paths(&pc), TW_EPATH);
    CHECK_EQ(tw_check_paths(&pd), 0);
    CHECK_EQ(tw_check_paths(&pz), TW_EPATH);
    CHECK_EQ(tw_check_paths(NULL), TW_EPATH);
    static const uint8_t stop[] = { 0 };
    struct count_ctx cc = { 0, 0, 0 };
    CHECK_EQ(tw_walk(TW_BINARY, stop, 1, NULL, &dup, count_fn, &cc), TW_EPATH);
    CHECK_EQ(tw_walk(TW_BINARY, stop, 1, NULL, &PS1, NULL, &cc), TW_EPATH);
    struct buf out = BUF_INIT;
    CHECK_EQ(tw_rewrite(TW_BINARY, stop, 1, NULL, &PS1, NULL, NULL, &out), TW_EPATH);
    for (int rc = TW_EABORT; rc <= TW_STOP; rc++)
        CHECK(strcmp(tw_strerror(rc), "unknown status") != 0);
}

/* Callbacks that abort, and a replacement of the same bytes. */
static int abort_fn(void *ctx, unsigned idx, const uint8_t *s, size_t len, const uint8_t **out, size_t *out_len)
{
    return -1;
}
static int same_fn(void *ctx, unsigned idx, const uint8_t *s, size_t len, const uint8_t **out, size_t *out_len)
{
    *out = (const uint8_t *)ctx;
    *out_len = len;
    return 1;
}
static int visit_abort(void *ctx, unsigned idx, const uint8_t *s, size_t len) { return -1; }

static void test_callbacks(enum tw_proto proto)
{
    struct enc e;
    e_init(&e, proto);
    e_begin(&e);
    e_field(&e, T_I64, -5);
    e_i64(&e, -1234567890123ll);
    e_field(&e, T_LIST, 0);
    e_list(&e, T_STRUCT, 2);
    for (int i = 0; i < 2; i++) {
        e_begin(&e);
        e_field(&e, T_STRING, 1);
        e_str(&e, "t");
        e_field(&e, T_STRING, 2);
        e_str(&e, "db_x");
        e_end(&e);
    }
    e_end(&e);
    struct buf out = BUF_INIT;
    buf_append(&out, "keep", 4);
    CHECK_EQ(tw_rewrite(proto, buf_rptr(&e.b), buf_len(&e.b), NULL, &PS_TABLES, abort_fn, NULL, &out), TW_EABORT);
    CHECK_EQ(buf_len(&out), 4);
    CHECK_EQ(tw_rewrite(proto, buf_rptr(&e.b), buf_len(&e.b), NULL, &PS_TABLES, same_fn, (void *)"db_x", &out),
             TW_UNCHANGED);
    CHECK_EQ(buf_len(&out), 4);
    struct count_ctx cc = { 0, 0, 0 };
    CHECK_EQ(tw_walk(proto, buf_rptr(&e.b), buf_len(&e.b), NULL, &PS_TABLES, visit_abort, &cc), TW_EABORT);
    /* Appends after what is in out. */
    static struct map_ctx mc;
    CHECK_EQ(tw_rewrite(proto, buf_rptr(&e.b), buf_len(&e.b), NULL, &PS_TABLES, map_fn, &mc, &out), TW_CHANGED);
    CHECK(memcmp(buf_rptr(&out), "keep", 4) == 0);
    CHECK_EQ(buf_len(&out), 4 + buf_len(&e.b) + 10);
    buf_free(&out);
    buf_free(&e.b);
}

/* The scanner resumes across pieces of a big message. */
static void test_scan_pieces(enum tw_proto proto)
{
    struct enc e;
    e_init(&e, proto);
    e_msg(&e, "get_all_databases", TW_REPLY, 3);
    e_begin(&e);
    e_field(&e, T_LIST, 0);
    e_list(&e, T_STRING, 5000);
    char name[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "database_%d", i);
        e_str(&e, name);
    }
    e_end(&e);
    size_t len = buf_len(&e.b);
    /* Next message's first bytes behind it. */
    e_msg(&e, "x", TW_CALL, 4);
    struct tw_scan sc;
    tw_scan_init(&sc, proto, NULL);
    size_t ml = 0, k = 0;
    int rc = TW_NEED_MORE, calls = 0;
    while (rc == TW_NEED_MORE && k < buf_len(&e.b)) {
        k = k + 1000 < buf_len(&e.b) ? k + 1000 : buf_len(&e.b);
        rc = tw_scan_feed(&sc, buf_rptr(&e.b), k, &ml);
        calls++;
    }
    CHECK_EQ(rc, TW_COMPLETE);
    CHECK_EQ(ml, len);
    CHECK(calls == (int)((len + 999) / 1000));
    /* Done is done; an error sticks. */
    CHECK_EQ(tw_scan_feed(&sc, buf_rptr(&e.b), buf_len(&e.b), &ml), TW_COMPLETE);
    struct tw_limits small = { 0, 0, 100, 0 };
    tw_scan_init(&sc, proto, &small);
    CHECK_EQ(tw_scan_feed(&sc, buf_rptr(&e.b), buf_len(&e.b), &ml), TW_ECONTAINER);
    CHECK_EQ(tw_scan_feed(&sc, buf_rptr(&e.b), 1, &ml), TW_ECONTAINER);
    /* max_message hits while the bytes are all there. */
    struct tw_limits msz = { 0, 0, 0, len - 1 };
    CHECK_EQ(tw_message_end(proto, buf_rptr(&e.b), buf_len(&e.b), &msz, &ml), TW_EMSGSIZE);
    struct tw_limits mok = { 0, 0, 0, len };
    CHECK_EQ(tw_message_end(proto, buf_rptr(&e.b), buf_len(&e.b), &mok, &ml), TW_COMPLETE);
    buf_free(&e.b);
}

/* ---- benchmark: get_partitions_by_names result, 100 partitions ---- */

static void e_field_schema(struct enc *e, const char *n)
{
    e_begin(e);
    e_field(e, T_STRING, 1), e_str(e, n);
    e_field(e, T_STRING, 2), e_str(e, "string");
    e_field(e, T_STRING, 3), e_str(e, "a column");
    e_end(e);
}

static void build_partitions(struct enc *e, int nparts)
{
    char s[256];
    e_msg(e, "get_partitions_by_names", TW_REPLY, 42);
    e_begin(e);
    e_field(e, T_LIST, 0);
    e_list(e, T_STRUCT, (uint32_t)nparts);
    for (int i = 0; i < nparts; i++) {
        e_begin(e);
        e_field(e, T_LIST, 1);
        e_list(e, T_STRING, 2);
        snprintf(s, sizeof s, "2024-01-%02d", i % 28 + 1);
        e_str(e, s);
        snprintf(s, sizeof s, "%d", i % 24);
        e_str(e, s);
        e_field(e, T_STRING, 2), e_str(e, "db_web");
        e_field(e, T_STRING, 3), e_str(e, "clicks");
        e_field(e, T_I32, 4), e_i32(e, 1700000000 + i);
        e_field(e, T_I32, 5), e_i32(e, 0);
        e_field(e, T_STRUCT, 6);
        e_begin(e); /* StorageDescriptor */
        e_field(e, T_LIST, 1);
        e_list(e, T_STRUCT, 4);
        e_field_schema(e, "user_id"), e_field_schema(e, "url"), e_field_schema(e, "ts"), e_field_schema(e, "ref");
        snprintf(s, sizeof s, "hdfs://ns1/warehouse/web.db/clicks/ds=2024-01-%02d/h=%d", i % 28 + 1, i % 24);
        e_field(e, T_STRING, 2), e_str(e, s);
        e_field(e, T_STRING, 3), e_str(e, "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat");
        e_field(e, T_STRING, 4), e_str(e, "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat");
        e_field_bool(e, 5, 0);
        e_field(e, T_I32, 6), e_i32(e, -1);
        e_field(e, T_STRUCT, 7);
        e_begin(e);
        e_field(e, T_STRING, 2), e_str(e, "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe");
        e_field(e, T_MAP, 3);
        e_map(e, T_STRING, T_STRING, 1);
        e_str(e, "serialization.format"), e_str(e, "1");
        e_end(e);
        e_field(e, T_LIST, 8), e_list(e, T_STRING, 0);
        e_field(e, T_LIST, 9), e_list(e, T_STRUCT, 0);
        e_field(e, T_MAP, 10), e_map(e, T_STRING, T_STRING, 0);
        e_field_bool(e, 12, 0);
        e_end(e);
        e_field(e, T_MAP, 7);
        e_map(e, T_STRING, T_STRING, 3);
        e_str(e, "numRows"), e_str(e, "123456");
        e_str(e, "totalSize"), e_str(e, "987654");
        e_str(e, "transient_lastDdlTime"), e_str(e, "1700000000");
        e_field(e, T_STRING, 9), e_str(e, "hive");
        e_end(e);
    }
    e_end(e);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* The best of five runs of iters/5 calls each, in ns per call: the
 * machines that run this are shared. */
enum bench_op { B_END, B_WALK, B_REWRITE };

static double bench_op(enum tw_proto p, enum bench_op op, const uint8_t *msg, size_t len, long iters,
                       struct buf *out)
{
    const struct tw_pathset ps = TW_PS(TW_P(0, TW_ELEM, 2));
    static struct map_ctx mc;
    struct count_ctx cc = { 0, 0, 0 };
    struct tw_header h;
    size_t ml;
    tw_parse_header(p, msg, len, NULL, &h);
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_ns();
        for (long i = 0; i < iters / 5; i++) {
            int rc;
            switch (op) {
            case B_END:
                rc = tw_message_end(p, msg, len, NULL, &ml) == TW_COMPLETE;
                break;
            case B_WALK:
                rc = tw_walk(p, msg + h.body_off, len - h.body_off, NULL, &ps, count_fn, &cc) == 0;
                break;
            default:
                buf_reset(out);
                rc = tw_rewrite_message(p, msg, len, NULL, NULL, &ps, map_fn, &mc, out) == TW_CHANGED;
                break;
            }
            if (!rc)
                abort();
        }
        double t = (now_ns() - t0) / (double)(iters / 5);
        best = t < best ? t : best;
    }
    return best;
}

static void bench(long iters)
{
    for (int pi = 0; pi < 2; pi++) {
        enum tw_proto p = pi ? TW_COMPACT : TW_BINARY;
        struct enc e;
        e_init(&e, p);
        build_partitions(&e, 100);
        const uint8_t *msg = buf_rptr(&e.b);
        size_t len = buf_len(&e.b);
        struct buf out = BUF_INIT;
        double te = bench_op(p, B_END, msg, len, iters, &out);
        double tw = bench_op(p, B_WALK, msg, len, iters, &out);
        double tr = bench_op(p, B_REWRITE, msg, len, iters, &out);
        printf("get_partitions_by_names result, 100 partitions, %-7s %zu bytes: message_end %.1f us, "
               "walk %.1f us, rewrite_message %.1f us (%.0f MB/s, 100 dbNames -> %zu bytes)\n",
               pi ? "compact" : "binary", len, te / 1e3, tw / 1e3, tr / 1e3, len / tr * 1e3, buf_len(&out));
        buf_free(&out);
        buf_free(&e.b);
    }
}

/* The writers build what the walker reads back: a result struct whose
 * field 0 is a list of structs {1: string, 15: string}, then STOP; and
 * tw_struct_len finds each element's end without decoding it. */
struct collect_w {
    int n;
    char seen[8][16];
};

static int collect_visit(void *ctx, unsigned idx, const uint8_t *s, size_t len)
{
    struct collect_w *c = ctx;
    if (c->n < 8 && len < 16) {
        memcpy(c->seen[c->n], s, len);
        c->seen[c->n][len] = 0;
    }
    c->n++;
    return 0;
}

static void test_writers(enum tw_proto proto)
{
    struct buf out = BUF_INIT;
    int16_t last = 0;
    CHECK_EQ(tw_write_header(proto, &out, (const uint8_t *)"m", 1, TW_REPLY, 7), 0);
    size_t body = buf_len(&out);
    CHECK_EQ(tw_put_field(proto, &out, TW_T_LIST, 0, &last), 0);
    CHECK_EQ(tw_put_list(proto, &out, TW_T_STRUCT, 20), 0); /* above 14: the long compact form */
    size_t first = buf_len(&out);
    for (int i = 0; i < 20; i++) {
        int16_t inner = 0;
        char v[8];
        int n = snprintf(v, sizeof v, "v%d", i);
        CHECK_EQ(tw_put_field(proto, &out, TW_T_STRING, 1, &inner), 0);
        CHECK_EQ(tw_put_string(proto, &out, v, (size_t)n), 0);
        CHECK_EQ(tw_put_field(proto, &out, TW_T_STRING, 15 + 2, &inner), 0); /* delta 16: long form */
        CHECK_EQ(tw_put_string(proto, &out, "x", 1), 0);
        CHECK_EQ(tw_put_stop(&out), 0);
    }
    CHECK_EQ(tw_put_stop(&out), 0);
    size_t end = 0;
    CHECK_EQ(tw_message_end(proto, buf_rptr(&out), buf_len(&out), NULL, &end), TW_COMPLETE);
    CHECK_EQ(end, buf_len(&out));
    const struct tw_pathset ps = TW_PS(TW_P(0, TW_ELEM, 1));
    struct collect_w c = { 0, { { 0 } } };
    CHECK_EQ(tw_walk(proto, buf_rptr(&out) + body, buf_len(&out) - body, NULL, &ps, collect_visit, &c), 0);
    CHECK_EQ(c.n, 20);
    CHECK(strcmp(c.seen[0], "v0") == 0 && strcmp(c.seen[7], "v7") == 0);
    /* Element by element. */
    size_t at = first, el;
    for (int i = 0; i < 20; i++) {
        CHECK_EQ(tw_struct_len(proto, buf_rptr(&out) + at, buf_len(&out) - at, NULL, &el), TW_COMPLETE);
        at += el;
    }
    CHECK_EQ(at, buf_len(&out) - 1); /* the result's STOP is left */
    /* A cut element is truncated, not read past. */
    CHECK_EQ(tw_struct_len(proto, buf_rptr(&out) + first, 3, NULL, &el), TW_ETRUNCATED);
    buf_free(&out);
}

/* A REPLY whose result holds field `id` (-1: none, a void success), built
 * with the writers; body_off gets the result's offset. */
static void result_reply(enum tw_proto proto, struct buf *out, int id, size_t *body_off)
{
    int16_t last = 0, inner = 0;
    CHECK_EQ(tw_write_header(proto, out, (const uint8_t *)"get_x", 5, TW_REPLY, 3), 0);
    *body_off = buf_len(out);
    if (id == 0) {
        CHECK_EQ(tw_put_field(proto, out, TW_T_LIST, 0, &last), 0);
        CHECK_EQ(tw_put_list(proto, out, TW_T_STRING, 1), 0);
        CHECK_EQ(tw_put_string(proto, out, "db", 2), 0);
    } else if (id > 0) {
        CHECK_EQ(tw_put_field(proto, out, TW_T_STRUCT, (int16_t)id, &last), 0);
        CHECK_EQ(tw_put_field(proto, out, TW_T_STRING, 1, &inner), 0);
        CHECK_EQ(tw_put_string(proto, out, "no such thing", 13), 0);
        CHECK_EQ(tw_put_stop(out), 0);
    }
    CHECK_EQ(tw_put_stop(out), 0);
}

static void test_result_field(enum tw_proto proto)
{
    struct tw_field f;
    const int ids[] = { -1, 0, 1, 2, 15, 16, 300 };
    for (size_t k = 0; k < sizeof ids / sizeof ids[0]; k++) {
        struct buf out = BUF_INIT;
        size_t off;
        result_reply(proto, &out, ids[k], &off);
        const uint8_t *b = buf_rptr(&out) + off;
        size_t bl = buf_len(&out) - off;
        CHECK_EQ(tw_result_field(proto, b, bl, &f), TW_COMPLETE);
        if (ids[k] < 0) {
            CHECK(!f.set);
            CHECK_EQ(f.value_off, 1);
        } else {
            CHECK(f.set);
            CHECK_EQ(f.id, ids[k]);
            CHECK_EQ(f.type, ids[k] == 0 ? TW_T_LIST : TW_T_STRUCT);
        }
        if (ids[k] == 0) {
            /* the success value: a list of one string */
            uint8_t elem = 0;
            size_t n = 0, hl = 0;
            CHECK_EQ(tw_list_header(proto, b + f.value_off, bl - f.value_off, &elem, &n, &hl), TW_COMPLETE);
            CHECK(elem == TW_T_STRING && n == 1 && hl == (proto == TW_BINARY ? 5u : 1u));
        }
        if (ids[k] > 0) {
            /* the exception's own first field: its message */
            struct tw_field g;
            CHECK_EQ(tw_result_field(proto, b + f.value_off, bl - f.value_off, &g), TW_COMPLETE);
            CHECK(g.set && g.id == 1 && g.type == TW_T_STRING);
        }
        /* Only the field header is needed: cut anywhere inside it, more
         * bytes are asked for; cut after it, the answer is the same. */
        size_t hdr = f.value_off;
        for (size_t cut = 0; cut < hdr; cut++)
            CHECK_EQ(tw_result_field(proto, b, cut, &f), TW_NEED_MORE);
        CHECK_EQ(tw_result_field(proto, b, hdr, &f), TW_COMPLETE);
        CHECK(ids[k] < 0 ? !f.set : f.id == ids[k]);
        buf_free(&out);
    }
    /* Bytes as other encoders write them. */
    if (proto == TW_BINARY) {
        static const uint8_t exc1[] = { 12, 0, 1, 11, 0, 1 };
        CHECK_EQ(tw_result_field(proto, exc1, sizeof exc1, &f), TW_COMPLETE);
        CHECK(f.set && f.id == 1 && f.type == TW_T_STRUCT && f.value_off == 3);
        static const uint8_t neg[] = { 8, 0xff, 0xff, 0, 0, 0, 1 };
        CHECK_EQ(tw_result_field(proto, neg, sizeof neg, &f), TW_COMPLETE);
        CHECK(f.set && f.id == -1 && f.type == 8);
        static const uint8_t badtype[] = { 99, 0, 0 };
        CHECK_EQ(tw_result_field(proto, badtype, sizeof badtype, &f), TW_ETYPE);
        static const uint8_t neglist[] = { 11, 0xff, 0xff, 0xff, 0xff };
        uint8_t elem;
        size_t n, hl;
        CHECK_EQ(tw_list_header(proto, neglist, sizeof neglist, &elem, &n, &hl), TW_ECONTAINER);
        CHECK_EQ(tw_list_header(proto, neglist, 4, &elem, &n, &hl), TW_NEED_MORE);
    } else {
        /* exception 1 in the short form (delta 1, struct), success in the
         * long form (type nibble, zigzag 0), a bool success in the header */
        static const uint8_t exc1[] = { 0x1c, 0x18, 0x01, 'x', 0, 0 };
        CHECK_EQ(tw_result_field(proto, exc1, sizeof exc1, &f), TW_COMPLETE);
        CHECK(f.set && f.id == 1 && f.type == TW_T_STRUCT && f.value_off == 1);
        static const uint8_t ok[] = { 0x09, 0x00, 0x18, 0x01, 'x', 0 };
        CHECK_EQ(tw_result_field(proto, ok, sizeof ok, &f), TW_COMPLETE);
        CHECK(f.set && f.id == 0 && f.type == TW_T_LIST && f.value_off == 2);
        static const uint8_t okbool[] = { 0x01, 0x00, 0 };
        CHECK_EQ(tw_result_field(proto, okbool, sizeof okbool, &f), TW_COMPLETE);
        CHECK(f.set && f.id == 0 && f.type == 2);
        /* STOP judged by the low nibble alone */
        static const uint8_t stop[] = { 0x30 };
        CHECK_EQ(tw_result_field(proto, stop, sizeof stop, &f), TW_COMPLETE);
        CHECK(!f.set);
        static const uint8_t badtype[] = { 0x0e, 0x00 };
        CHECK_EQ(tw_result_field(proto, badtype, sizeof badtype, &f), TW_ETYPE);
        static const uint8_t longid[] = { 0x0c, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 };
        CHECK_EQ(tw_result_field(proto, longid, sizeof longid, &f), TW_EMALFORMED);
        static const uint8_t cutid[] = { 0x0c, 0x80 };
        CHECK_EQ(tw_result_field(proto, cutid, sizeof cutid, &f), TW_NEED_MORE);
        /* a list of 20 structs: the long count form */
        static const uint8_t lh[] = { 0xfc, 20 };
        uint8_t elem;
        size_t n, hl;
        CHECK_EQ(tw_list_header(proto, lh, sizeof lh, &elem, &n, &hl), TW_COMPLETE);
        CHECK(elem == TW_T_STRUCT && n == 20 && hl == 2);
        CHECK_EQ(tw_list_header(proto, lh, 1, &elem, &n, &hl), TW_NEED_MORE);
    }
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--bench") == 0) {
        bench(argc > 2 ? atol(argv[2]) : 20000);
        return 0;
    }
    for (int pi = 0; pi < 2; pi++) {
        enum tw_proto p = pi ? TW_COMPACT : TW_BINARY;
        test_depth(p);
        test_limits(p);
        test_bad_input(p);
        test_callbacks(p);
        test_scan_pieces(p);
        test_writers(p);
        test_result_field(p);
    }
    test_headers();
    test_paths();
    if (argc > 2)
        test_python_vectors(argv[1], argv[2]);
    else
        printf("no python with thrift given: library vectors skipped\n");
    return check_report();
}
