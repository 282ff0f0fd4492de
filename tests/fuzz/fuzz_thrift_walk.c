/*
 * fuzz_thrift_walk: arbitrary bytes as a Thrift message for the scanner,
 * the path walker and the rewriter (hms-thrift/thrift_walk.h).
 *
 * The first input byte picks the protocol (bit 0), a path set (bits 1-3),
 * the limits (bits 4-5) and how the scanner is fed (bits 6-7); the rest is
 * the message. Properties checked, besides no crash and no read past the
 * input (every call gets an exact-size copy):
 *   - the resumable scanner fed in pieces agrees with the one-shot
 *     tw_message_end, result and length;
 *   - tw_message_end and tw_rewrite_message agree on the same bytes: a
 *     complete message rewrites, "need more" is a truncation, and an error is
 *     the same error;
 *   - tw_walk and tw_rewrite of a body agree on the result and on the number
 *     of strings;
 *   - a rewritten message ends where the scanner says, and its body walks to
 *     the same number of strings, every one of them mapped;
 *   - the stream rewriter fed in pieces (consumed bytes dropped) gives the
 *     one-shot rewrite's body, or the same verdict.
 *
 * Built two ways, like fuzz_ipc: with libFuzzer (-DFR_LIBFUZZER), and as a
 * replay program that runs files given on the command line and a fixed
 * number of pseudo-random mutations of seed messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "thrift_walk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct tw_pathset path_sets[8] = {
    TW_PS(TW_P(1)),
    TW_PS(TW_P(0, TW_ELEM, 2)),
    TW_PS(TW_P(1, TW_KEY), TW_P(1, TW_VAL, TW_ELEM, 1)),
    TW_PS(TW_P(0, TW_ELEM, 7, 2), TW_P(0, TW_ELEM, 2), TW_P(0, TW_ELEM, 9, TW_VAL)),
    TW_PS(TW_P(1, 2), TW_P(1, TW_ELEM, TW_ELEM), TW_P(2, TW_ELEM)),
    TW_PS(TW_P(-1), TW_P(0), TW_P(1), TW_P(2), TW_P(3), TW_P(200)),
    TW_PS(TW_P(0, TW_VAL, 2), TW_P(0, TW_KEY), TW_P(1, 1)),
    TW_PS(TW_P(1, 1, 1, 1), TW_P(1, 2), TW_P(2, TW_ELEM)),
};

static const struct tw_limits limit_sets[4] = {
    { 0, 0, 0, 0 },              /* defaults */
    { 4, 64, 16, 600 },          /* small: every limit is reachable */
    { TW_DEPTH_CAP, 0, 0, 0 },
    { 8, 300, 100, 3000 },
};

struct fctx {
    int n;
    int mapped_ok;
    size_t max_string;
    uint8_t scratch[512];
};

static int count_only(void *vctx, unsigned idx, const uint8_t *s, size_t len)
{
    ((struct fctx *)vctx)->n++;
    return 0;
}

static int count_int(void *vctx, unsigned idx, int64_t v)
{
    (void)idx;
    (void)v;
    return 0;
}

static int count_mapped(void *vctx, unsigned idx, const uint8_t *s, size_t len)
{
    struct fctx *c = vctx;
    c->n++;
    if (len < 2 || s[0] == 0 || s[1] != 'm')
        c->mapped_ok = 0;
    return 0;
}

/* Every string becomes 0x01..0x7f, 'm' and part of the original, padded
 * now and then past 127 bytes so compact length prefixes change size both
 * ways; never longer than max_string. Always different from the original
 * (the first two bytes change, or the length does). */
static int mapper(void *vctx, unsigned idx, const uint8_t *s, size_t len, const uint8_t **out, size_t *out_len)
{
    struct fctx *c = vctx;
    c->n++;
    size_t pad = (len & 3) == 0 ? 130 : 0;
    size_t keep = len > 200 ? 200 : len;
    size_t n = 2 + pad + keep;
    if (n > c->max_string)
        n = c->max_string;
    if (n < 2)
        return -1; /* max_string < 2 is not used here */
    c->scratch[0] = (uint8_t)(1 + (len % 127));
    c->scratch[1] = 'm';
    if (len >= 2 && s[0] == c->scratch[0] && s[1] == 'm' && n == len)
        c->scratch[0] = (uint8_t)(c->scratch[0] % 127 + 1);
    memset(c->scratch + 2, 'p', pad);
    memcpy(c->scratch + 2 + pad, s, keep);
    *out = c->scratch;
    *out_len = n;
    return 1;
}

static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    if (n)
        memcpy(d, p, n);
    return d;
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, __VA_ARGS__);                                                              \
        abort();                                                                                   \
    } while (0)

/* Scans msg in pieces of `step` bytes (all bytes so far each time). */
static int scan_in_pieces(enum tw_proto proto, const uint8_t *msg, size_t len, const struct tw_limits *lim,
                          size_t step, size_t *msg_len)
{
    struct tw_scan sc;
    tw_scan_init(&sc, proto, lim);
    size_t k = 0;
    for (;;) {
        k = len - k > step ? k + step : len;
        uint8_t *pre = dup_exact(msg, k);
        int rc = tw_scan_feed(&sc, pre, k, msg_len);
        free(pre);
        if (rc != TW_NEED_MORE || k == len)
            return rc;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    enum tw_proto proto = (sel & 1) ? TW_COMPACT : TW_BINARY;
    const struct tw_pathset *ps = &path_sets[(sel >> 1) & 7];
    const struct tw_limits *lim = &limit_sets[(sel >> 4) & 3];
    static const size_t steps[4] = { 1, 3, 64, 100000 };
    size_t step = steps[sel >> 6];
    size_t len = size - 1;
    uint8_t *msg = dup_exact(data + 1, len);
    size_t max_string = lim->max_string ? lim->max_string : TW_DEFAULT_SIZE;

    /* Connection start and framing: no crash is all there is to check. */
    enum tw_proto dp;
    bool framed;
    (void)tw_detect(msg, len, &dp, &framed);
    const uint8_t *fm;
    size_t fml, ffl;
    (void)tw_frame_cut(msg, len, 1u << 20, &fm, &fml, &ffl);

    /* Scanner: one shot against pieces. */
    size_t end1 = 0, end2 = 0;
    int e1 = tw_message_end(proto, msg, len, lim, &end1);
    int e2 = scan_in_pieces(proto, msg, len, lim, step, &end2);
    /* Both must agree on where a message ends, or that it is bad. Which
     * error is seen first may differ: fed in pieces, the scanner can pass
     * the size limit before the bytes that a one-shot scan finds malformed
     * have arrived (both are errors of the same message). */
    bool both_bad_size = e1 < 0 && e2 < 0 && (e1 == TW_EMSGSIZE || e2 == TW_EMSGSIZE);
    if ((e1 != e2 && !both_bad_size) || (e1 == TW_COMPLETE && end1 != end2))
        FAIL("message_end %d/%zu, in pieces of %zu: %d/%zu\n", e1, end1, step, e2, end2);
    if (e1 == TW_COMPLETE && (end1 == 0 || end1 > len))
        FAIL("message_end %zu of %zu\n", end1, len);

    /* The result probe reads one field header: on a message the scanner
     * accepts, it finds one (or the empty struct) inside the body. */
    struct tw_header rh;
    if (tw_parse_header(proto, msg, len, NULL, &rh) == TW_COMPLETE) {
        struct tw_field rf;
        size_t bl = len - rh.body_off;
        int rr = tw_result_field(proto, msg + rh.body_off, bl, &rf);
        if (e1 == TW_COMPLETE && (rr != TW_COMPLETE || rh.body_off + rf.value_off > end1))
            FAIL("message_end complete but result_field %d (value at %zu)\n", rr, rf.value_off);
        uint8_t el;
        size_t cnt, hl;
        if (rr == TW_COMPLETE && rf.set && rf.value_off <= bl)
            (void)tw_list_header(proto, msg + rh.body_off + rf.value_off, bl - rf.value_off, &el, &cnt, &hl);
    }

    /* The message as the scanner cut it (or all of it). */
    size_t mlen = e1 == TW_COMPLETE ? end1 : len;
    struct fctx m = { 0, 1, max_string, { 0 } };
    struct buf out = BUF_INIT;
    const struct tw_header_edit edit = { (const uint8_t *)"renamed", 7, true, 77 };
    int rm = tw_rewrite_message(proto, msg, mlen, lim, (sel & 0x40) ? &edit : NULL, ps, mapper, &m, &out);
    int want = e1 == TW_COMPLETE ? 0 : e1 == TW_NEED_MORE ? TW_ETRUNCATED : e1;
    if ((want == 0 && rm < 0) || (want != 0 && rm != want))
        FAIL("message_end %d but rewrite_message %d\n", e1, rm);
    if (rm >= 0) {
        struct tw_header h;
        size_t oend = 0;
        /* Strings and the message may have grown past the limits. */
        struct tw_limits grown = *lim;
        grown.max_string = grown.max_message = 0;
        if (tw_message_end(proto, buf_rptr(&out), buf_len(&out), &grown, &oend) != TW_COMPLETE ||
            oend != buf_len(&out))
            FAIL("rewritten message does not end at its length\n");
        if (tw_parse_header(proto, buf_rptr(&out), buf_len(&out), NULL, &h) != TW_COMPLETE)
            FAIL("rewritten header\n");
        struct fctx v = { 0, 1, max_string, { 0 } };
        int rv = tw_walk(proto, buf_rptr(&out) + h.body_off, buf_len(&out) - h.body_off, &grown, ps, count_mapped,
                         &v);
        if (rv != 0 || v.n != m.n || !v.mapped_ok)
            FAIL("re-walk %d: %d strings (want %d), mapped %d\n", rv, v.n, m.n, v.mapped_ok);
        if (rm == TW_UNCHANGED && m.n != 0)
            FAIL("unchanged after %d replacements\n", m.n);
    }

    /* The stream, fed in pieces with consumed bytes dropped, agrees with the
     * one-shot rewrite: the header as it came, then the same body. */
    struct tw_stream st;
    struct fctx sm = { 0, 1, max_string, { 0 } };
    struct buf so = BUF_INIT, win = BUF_INIT;
    tw_stream_init(&st, proto, lim, ps, mapper, &sm);
    size_t fed = 0;
    int rs = TW_NEED_MORE;
    while (rs == TW_NEED_MORE && fed < mlen) {
        size_t n = mlen - fed < step ? mlen - fed : step;
        buf_append(&win, msg + fed, n);
        fed += n;
        uint8_t *wc = dup_exact(buf_rptr(&win), buf_len(&win));
        size_t used = 0;
        rs = tw_stream_feed(&st, wc, buf_len(&win), &so, &used);
        free(wc);
        if (rs >= 0)
            buf_consume(&win, used);
    }
    if (e1 == TW_COMPLETE) {
        struct tw_header ih, oh;
        if (rs != TW_COMPLETE || buf_len(&win) != 0 || sm.n != m.n)
            FAIL("stream %d (%zu left, %d strings) where the message is complete (%d)\n", rs, buf_len(&win), sm.n,
                 m.n);
        if (tw_parse_header(proto, msg, mlen, lim, &ih) != TW_COMPLETE ||
            tw_parse_header(proto, buf_rptr(&out), buf_len(&out), NULL, &oh) != TW_COMPLETE)
            FAIL("headers\n");
        size_t ob = buf_len(&out) - oh.body_off;
        if (buf_len(&so) != ih.body_off + ob || memcmp(buf_rptr(&so), msg, ih.body_off) != 0 ||
            memcmp(buf_rptr(&so) + ih.body_off, buf_rptr(&out) + oh.body_off, ob) != 0)
            FAIL("stream output differs from the rewrite\n");
    } else if (e1 == TW_NEED_MORE ? rs != TW_NEED_MORE
                                  : rs >= 0 || (rs != e1 && rs != TW_EMSGSIZE && e1 != TW_EMSGSIZE)) {
        FAIL("message_end %d but the stream %d\n", e1, rs);
    }
    buf_free(&so);
    buf_free(&win);
    buf_free(&out);

    /* Body level: walk and rewrite agree. */
    struct tw_header h;
    if (tw_parse_header(proto, msg, mlen, lim, &h) == TW_COMPLETE) {
        const uint8_t *body = msg + h.body_off;
        size_t blen = mlen - h.body_off;
        uint8_t *bcopy = dup_exact(body, blen);
        struct fctx w = { 0, 1, max_string, { 0 } };
        int rw = tw_walk(proto, bcopy, blen, lim, ps, count_only, &w);
        struct fctx r = { 0, 1, max_string, { 0 } };
        struct buf bo = BUF_INIT;
        int rr = tw_rewrite(proto, bcopy, blen, lim, ps, mapper, &r, &bo);
        if ((rw == 0) != (rr >= 0) || (rw < 0 && rw != rr))
            FAIL("walk %d and rewrite %d disagree\n", rw, rr);
        /* Visiting the integers at the paths too changes nothing else. */
        struct fctx wi = { 0, 1, max_string, { 0 } };
        int rwi = tw_walk_values(proto, bcopy, blen, lim, ps, count_only, count_int, &wi);
        if (rwi != rw || wi.n != w.n)
            FAIL("walk %d/%d strings, walk with integers %d/%d\n", rw, w.n, rwi, wi.n);
        if (rw == 0 && w.n != r.n)
            FAIL("walk saw %d strings, rewrite %d\n", w.n, r.n);
        if (rr == TW_UNCHANGED && (r.n != 0 || buf_len(&bo) != 0))
            FAIL("unchanged rewrite wrote or mapped\n");
        buf_free(&bo);
        free(bcopy);
    }
    free(msg);
    return 0;
}

#ifndef FR_LIBFUZZER
#include "replay.h"

/* Seeds written by the Apache Thrift Python library (thrift_gen.py shapes). */
static const struct seed { const char *name; uint8_t sel; size_t len; const char *bytes; } seeds[] = {
    { "get_database_b", 0, 40,
      "\x80\x01\x00\x01\x00\x00\x00\x0c\x67\x65\x74\x5f\x64\x61\x74\x61\x62\x61\x73\x65\x00\x00\x00\x01"
      "\x0b\x00\x01\x00\x00\x00\x08\x64\x62\x5f\x73\x61\x6c\x65\x73\x00"
    },
    { "get_database_c", 1, 27,
      "\x82\x21\x01\x0c\x67\x65\x74\x5f\x64\x61\x74\x61\x62\x61\x73\x65\x18\x08\x64\x62\x5f\x73\x61\x6c"
      "\x65\x73\x00"
    },
    { "tables_b", 0, 115,
      "\x80\x01\x00\x02\x00\x00\x00\x19\x67\x65\x74\x5f\x74\x61\x62\x6c\x65\x5f\x6f\x62\x6a\x65\x63\x74"
      "\x73\x5f\x62\x79\x5f\x6e\x61\x6d\x65\x00\x00\x00\x04\x0f\x00\x00\x0c\x00\x00\x00\x02\x0b\x00\x01"
      "\x00\x00\x00\x01\x74\x0b\x00\x02\x00\x00\x00\x04\x64\x62\x5f\x61\x0c\x00\x07\x0b\x00\x02\x00\x00"
      "\x00\x03\x6c\x6f\x63\x02\x00\x05\x01\x00\x00\x0b\x00\x02\x00\x00\x00\x04\x64\x62\x5f\x62\x0d\x00"
      "\x09\x0b\x0b\x00\x00\x00\x01\x00\x00\x00\x01\x6b\x00\x00\x00\x01\x76\x00\x00"
    },
    { "tables_c", 1, 65,
      "\x82\x41\x04\x19\x67\x65\x74\x5f\x74\x61\x62\x6c\x65\x5f\x6f\x62\x6a\x65\x63\x74\x73\x5f\x62\x79"
      "\x5f\x6e\x61\x6d\x65\x09\x00\x2c\x18\x01\x74\x18\x04\x64\x62\x5f\x61\x5c\x28\x03\x6c\x6f\x63\x31"
      "\x00\x00\x28\x04\x64\x62\x5f\x62\x7b\x01\x88\x01\x6b\x01\x76\x00\x00"
    },
    { "set_ugi_b", 0, 230,
      "\x80\x01\x00\x01\x00\x00\x00\x07\x73\x65\x74\x5f\x75\x67\x69\x00\x00\x00\x01\x0b\x00\x01\x00\x00"
      "\x00\x05\x61\x6c\x69\x63\x65\x0f\x00\x02\x0b\x00\x00\x00\x14\x00\x00\x00\x05\x2b\x67\x72\x70\x30"
      "\x00\x00\x00\x05\x2b\x67\x72\x70\x31\x00\x00\x00\x05\x2b\x67\x72\x70\x32\x00\x00\x00\x05\x2b\x67"
      "\x72\x70\x33\x00\x00\x00\x05\x2b\x67\x72\x70\x34\x00\x00\x00\x05\x2b\x67\x72\x70\x35\x00\x00\x00"
      "\x05\x2b\x67\x72\x70\x36\x00\x00\x00\x05\x2b\x67\x72\x70\x37\x00\x00\x00\x05\x2b\x67\x72\x70\x38"
      "\x00\x00\x00\x05\x2b\x67\x72\x70\x39\x00\x00\x00\x06\x2b\x67\x72\x70\x31\x30\x00\x00\x00\x06\x2b"
      "\x67\x72\x70\x31\x31\x00\x00\x00\x06\x2b\x67\x72\x70\x31\x32\x00\x00\x00\x06\x2b\x67\x72\x70\x31"
      "\x33\x00\x00\x00\x06\x2b\x67\x72\x70\x31\x34\x00\x00\x00\x06\x2b\x67\x72\x70\x31\x35\x00\x00\x00"
      "\x06\x2b\x67\x72\x70\x31\x36\x00\x00\x00\x06\x2b\x67\x72\x70\x31\x37\x00\x00\x00\x06\x2b\x67\x72"
      "\x70\x31\x38\x00\x00\x00\x06\x2b\x67\x72\x70\x31\x39\x00"
    },
    { "set_ugi_c", 1, 152,
      "\x82\x21\x01\x07\x73\x65\x74\x5f\x75\x67\x69\x18\x05\x61\x6c\x69\x63\x65\x19\xf8\x14\x05\x2b\x67"
      "\x72\x70\x30\x05\x2b\x67\x72\x70\x31\x05\x2b\x67\x72\x70\x32\x05\x2b\x67\x72\x70\x33\x05\x2b\x67"
      "\x72\x70\x34\x05\x2b\x67\x72\x70\x35\x05\x2b\x67\x72\x70\x36\x05\x2b\x67\x72\x70\x37\x05\x2b\x67"
      "\x72\x70\x38\x05\x2b\x67\x72\x70\x39\x06\x2b\x67\x72\x70\x31\x30\x06\x2b\x67\x72\x70\x31\x31\x06"
      "\x2b\x67\x72\x70\x31\x32\x06\x2b\x67\x72\x70\x31\x33\x06\x2b\x67\x72\x70\x31\x34\x06\x2b\x67\x72"
      "\x70\x31\x35\x06\x2b\x67\x72\x70\x31\x36\x06\x2b\x67\x72\x70\x31\x37\x06\x2b\x67\x72\x70\x31\x38"
      "\x06\x2b\x67\x72\x70\x31\x39\x00"
    },
    { "map_keys_values_b", 0, 343,
      "\x80\x01\x00\x01\x00\x00\x00\x01\x6d\x00\x00\x00\x08\x0d\x00\x01\x0b\x0f\x00\x00\x00\x04\x00\x00"
      "\x00\x05\x64\x62\x5f\x6b\x30\x0c\x00\x00\x00\x03\x0b\x00\x01\x00\x00\x00\x03\x2b\x76\x30\x0a\x00"
      "\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x0b\x00\x01\x00\x00\x00\x03\x2b\x76\x31\x0a\x00\x02\xff"
      "\xff\xff\xff\xff\xff\xff\xff\x00\x0b\x00\x01\x00\x00\x00\x03\x2b\x76\x32\x0a\x00\x02\xff\xff\xff"
      "\xff\xff\xff\xff\xfe\x00\x00\x00\x00\x05\x64\x62\x5f\x6b\x31\x0c\x00\x00\x00\x03\x0b\x00\x01\x00"
      "\x00\x00\x03\x2b\x76\x30\x0a\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x0b\x00\x01\x00\x00\x00"
      "\x03\x2b\x76\x31\x0a\x00\x02\xff\xff\xff\xff\xff\xff\xff\xff\x00\x0b\x00\x01\x00\x00\x00\x03\x2b"
      "\x76\x32\x0a\x00\x02\xff\xff\xff\xff\xff\xff\xff\xfe\x00\x00\x00\x00\x05\x64\x62\x5f\x6b\x32\x0c"
      "\x00\x00\x00\x03\x0b\x00\x01\x00\x00\x00\x03\x2b\x76\x30\x0a\x00\x02\x00\x00\x00\x00\x00\x00\x00"
      "\x00\x00\x0b\x00\x01\x00\x00\x00\x03\x2b\x76\x31\x0a\x00\x02\xff\xff\xff\xff\xff\xff\xff\xff\x00"
      "\x0b\x00\x01\x00\x00\x00\x03\x2b\x76\x32\x0a\x00\x02\xff\xff\xff\xff\xff\xff\xff\xfe\x00\x00\x00"
      "\x00\x05\x64\x62\x5f\x6b\x33\x0c\x00\x00\x00\x03\x0b\x00\x01\x00\x00\x00\x03\x2b\x76\x30\x0a\x00"
      "\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x0b\x00\x01\x00\x00\x00\x03\x2b\x76\x31\x0a\x00\x02\xff"
      "\xff\xff\xff\xff\xff\xff\xff\x00\x0b\x00\x01\x00\x00\x00\x03\x2b\x76\x32\x0a\x00\x02\xff\xff\xff"
      "\xff\xff\xff\xff\xfe\x00\x00"
    },
    { "map_keys_values_c", 1, 133,
      "\x82\x21\x08\x01\x6d\x1b\x04\x89\x05\x64\x62\x5f\x6b\x30\x3c\x18\x03\x2b\x76\x30\x16\x00\x00\x18"
      "\x03\x2b\x76\x31\x16\x01\x00\x18\x03\x2b\x76\x32\x16\x03\x00\x05\x64\x62\x5f\x6b\x31\x3c\x18\x03"
      "\x2b\x76\x30\x16\x00\x00\x18\x03\x2b\x76\x31\x16\x01\x00\x18\x03\x2b\x76\x32\x16\x03\x00\x05\x64"
      "\x62\x5f\x6b\x32\x3c\x18\x03\x2b\x76\x30\x16\x00\x00\x18\x03\x2b\x76\x31\x16\x01\x00\x18\x03\x2b"
      "\x76\x32\x16\x03\x00\x05\x64\x62\x5f\x6b\x33\x3c\x18\x03\x2b\x76\x30\x16\x00\x00\x18\x03\x2b\x76"
      "\x31\x16\x01\x00\x18\x03\x2b\x76\x32\x16\x03\x00\x00"
    },
    { "list_of_lists_b", 0, 147,
      "\x80\x01\x00\x01\x00\x00\x00\x01\x6d\x00\x00\x00\x09\x0f\x00\x01\x0f\x00\x00\x00\x05\x0b\x00\x00"
      "\x00\x00\x0b\x00\x00\x00\x01\x00\x00\x00\x06\x64\x62\x5f\x31\x5f\x30\x0b\x00\x00\x00\x02\x00\x00"
      "\x00\x06\x64\x62\x5f\x32\x5f\x30\x00\x00\x00\x06\x64\x62\x5f\x32\x5f\x31\x0b\x00\x00\x00\x03\x00"
      "\x00\x00\x06\x64\x62\x5f\x33\x5f\x30\x00\x00\x00\x06\x64\x62\x5f\x33\x5f\x31\x00\x00\x00\x06\x64"
      "\x62\x5f\x33\x5f\x32\x0b\x00\x00\x00\x04\x00\x00\x00\x06\x64\x62\x5f\x34\x5f\x30\x00\x00\x00\x06"
      "\x64\x62\x5f\x34\x5f\x31\x00\x00\x00\x06\x64\x62\x5f\x34\x5f\x32\x00\x00\x00\x06\x64\x62\x5f\x34"
      "\x5f\x33\x00"
    },
    { "list_of_lists_c", 1, 83,
      "\x82\x21\x09\x01\x6d\x19\x59\x08\x18\x06\x64\x62\x5f\x31\x5f\x30\x28\x06\x64\x62\x5f\x32\x5f\x30"
      "\x06\x64\x62\x5f\x32\x5f\x31\x38\x06\x64\x62\x5f\x33\x5f\x30\x06\x64\x62\x5f\x33\x5f\x31\x06\x64"
      "\x62\x5f\x33\x5f\x32\x48\x06\x64\x62\x5f\x34\x5f\x30\x06\x64\x62\x5f\x34\x5f\x31\x06\x64\x62\x5f"
      "\x34\x5f\x32\x06\x64\x62\x5f\x34\x5f\x33\x00"
    },
    { "unknown_fields_b", 0, 218,
      "\x80\x01\x00\x01\x00\x00\x00\x01\x6d\x00\x00\x00\x0c\x08\xff\xfd\xff\xff\xff\xff\x0c\x00\x01\x0b"
      "\x00\x09\x00\x00\x00\x09\x64\x62\x5f\x6e\x6f\x74\x5f\x6d\x65\x0b\x00\x02\x00\x00\x00\x05\x64\x62"
      "\x5f\x6d\x65\x02\x00\x03\x01\x02\x00\x04\x00\x00\x0c\x00\x05\x0b\x00\x02\x00\x00\x00\x10\x64\x62"
      "\x5f\x6e\x6f\x74\x5f\x6d\x65\x5f\x65\x69\x74\x68\x65\x72\x00\x04\x00\x06\xc0\x04\x00\x00\x00\x00"
      "\x00\x00\x03\x00\x07\xf9\x06\x00\x08\x80\x00\x0a\x00\x09\x80\x00\x00\x00\x00\x00\x00\x00\x0f\x00"
      "\x0a\x02\x00\x00\x00\x03\x01\x00\x01\x0d\x00\x0b\x08\x02\x00\x00\x00\x02\x00\x00\x00\x01\x00\xff"
      "\xff\xff\xfe\x01\x0e\x00\x0c\x04\x00\x00\x00\x01\x3f\xf0\x00\x00\x00\x00\x00\x00\x0f\x00\x0d\x0c"
      "\x00\x00\x00\x01\x00\x0d\x00\x0e\x0b\x0b\x00\x00\x00\x00\x0b\x00\xc8\x00\x00\x00\x06\x64\x62\x5f"
      "\x66\x61\x72\x02\x00\x14\x01\x0b\xff\xff\x00\x00\x00\x06\x64\x62\x5f\x6e\x65\x67\x06\x7f\xff\x00"
      "\x01\x00"
    },
    { "unknown_fields_c", 1, 131,
      "\x82\x21\x0c\x01\x6d\x05\x05\x01\x4c\x98\x09\x64\x62\x5f\x6e\x6f\x74\x5f\x6d\x65\x08\x04\x05\x64"
      "\x62\x5f\x6d\x65\x11\x12\x00\x4c\x28\x10\x64\x62\x5f\x6e\x6f\x74\x5f\x6d\x65\x5f\x65\x69\x74\x68"
      "\x65\x72\x00\x17\x00\x00\x00\x00\x00\x00\x04\xc0\x13\xf9\x14\xff\xff\x03\x16\xff\xff\xff\xff\xff"
      "\xff\xff\xff\xff\x01\x19\x31\x01\x02\x01\x1b\x02\x51\x02\x02\x03\x01\x1a\x17\x00\x00\x00\x00\x00"
      "\x00\xf0\x3f\x19\x1c\x00\x1b\x00\x08\x90\x03\x06\x64\x62\x5f\x66\x61\x72\x01\x28\x08\x01\x06\x64"
      "\x62\x5f\x6e\x65\x67\x04\xfe\xff\x03\x02\x00"
    },
};

/* Writes the seeds as files (sel byte + message), a starting corpus for
 * libFuzzer: fuzz_thrift_walk --seeds=DIR. */
static void write_seeds(const char *dir)
{
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        for (unsigned ps = 0; ps < 8; ps++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s_%u", dir, seeds[i].name, ps);
            FILE *f = fopen(path, "wb");
            if (!f)
                continue;
            uint8_t sel = (uint8_t)(seeds[i].sel | ps << 1);
            fwrite(&sel, 1, 1, f);
            fwrite(seeds[i].bytes, 1, seeds[i].len, f);
            fclose(f);
        }
    }
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--seeds=", 8) == 0) {
            write_seeds(argv[i] + 8);
            return 0;
        }
    }
    long rounds = replay_rounds(argc, argv, 200000);
    replay_seed(0x853C49E6748FEA9Bull);
    size_t nseeds = sizeof seeds / sizeof seeds[0], maxlen = 0;
    for (size_t i = 0; i < nseeds; i++)
        maxlen = seeds[i].len > maxlen ? seeds[i].len : maxlen;
    uint8_t *buf = malloc(maxlen + 64);
    for (long i = 0; i < rounds; i++) {
        const struct seed *s = &seeds[(size_t)i % nseeds];
        size_t len = s->len + 1;
        buf[0] = (uint8_t)((replay_rand() & 0xfe) | s->sel);
        memcpy(buf + 1, s->bytes, s->len);
        int edits = (int)(replay_rand() % 5);
        for (int e = 0; e < edits && len > 1; e++) {
            size_t at = 1 + replay_rand() % (len - 1);
            switch (replay_rand() % 6) {
            case 0: buf[at] = (uint8_t)replay_rand(); break;
            case 1: buf[at] ^= (uint8_t)(1u << (replay_rand() % 8)); break;
            case 2: len = at + 1; break; /* truncate */
            case 3: buf[at] = (replay_rand() & 1) ? 0xff : 0x80; break;
            case 4: buf[at] = (uint8_t)(replay_rand() % 17); break; /* a type code */
            case 5:                                               /* a byte more */
                if (len < maxlen + 64) {
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = (uint8_t)replay_rand();
                    len++;
                }
                break;
            }
        }
        replay_bytes(buf, len);
    }
    free(buf);
    replay_args(argc, argv);
    printf("fuzz_thrift_walk: %ld mutated inputs ran clean\n", rounds);
    return 0;
}
#endif
