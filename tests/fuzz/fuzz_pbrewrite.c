/*
 * fuzz_pbrewrite: arbitrary bytes as a message for the nested path walker
 * and rewriter, with path sets from the method table. Properties checked:
 * no crash or overread; a rewrite that succeeds yields a message the walker
 * accepts with the same number of strings at the same paths, each mapped;
 * a walk and a rewrite agree on whether the input is malformed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "methods.h"
#include "pbrewrite.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fctx {
    int n;
    int mapped_ok;
    uint8_t scratch[300];
};

static int count_visit(void *vctx, unsigned idx, const uint8_t *s, size_t len)
{
    struct fctx *c = vctx;
    c->n++;
    /* After a rewrite every string starts with "/m" (see mapper). */
    if (len < 2 || s[0] != '/' || s[1] != 'm')
        c->mapped_ok = 0;
    return 0;
}

static int count_only(void *vctx, unsigned idx, const uint8_t *s, size_t len)
{
    ((struct fctx *)vctx)->n++;
    return 0;
}

/* Prefixes every string with "/m" plus a length that depends on it, so
 * length prefixes change size both ways. */
static int mapper(void *vctx, unsigned idx, const uint8_t *s, size_t len, const uint8_t **out, size_t *out_len)
{
    struct fctx *c = vctx;
    c->n++;
    size_t pad = len & 7 ? 0 : 140; /* sometimes cross a varint boundary */
    size_t keep = len > 100 ? 100 : len;
    c->scratch[0] = '/';
    c->scratch[1] = 'm';
    memset(c->scratch + 2, 'p', pad);
    memcpy(c->scratch + 2 + pad, s, keep);
    *out = c->scratch;
    *out_len = 2 + pad + keep;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* The first byte picks a row; its request or response paths are used. */
    size_t nrows = method_count();
    const struct method_row *r = method_at(data[0] % nrows);
    const struct pb_pathset *sets[4] = { &r->req, &r->resp, &r->req_pool, &r->resp_pool };
    const struct pb_pathset *ps = sets[(data[0] / nrows) % 4];
    if (ps->n == 0)
        ps = &method_lookup_cstr("getListing")->resp;
    const uint8_t *msg = data + 1;
    size_t len = size - 1;
    /* Exact-size copy so any overread trips the sanitizer. */
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, msg, len);

    struct fctx w = { 0, 1, { 0 } };
    int wr = pbr_walk(copy, len, ps, count_only, &w);
    struct fctx m = { 0, 1, { 0 } };
    struct buf out = BUF_INIT;
    int rr = pbr_rewrite(copy, len, ps, mapper, &m, &out);
    if ((wr < 0) != (rr < 0)) {
        fprintf(stderr, "walk %d and rewrite %d disagree\n", wr, rr);
        abort();
    }
    if (rr >= 0 && w.n != m.n) {
        fprintf(stderr, "walk saw %d strings, rewrite %d\n", w.n, m.n);
        abort();
    }
    if (rr == PBR_CHANGED) {
        struct fctx v = { 0, 1, { 0 } };
        if (pbr_walk(buf_rptr(&out), buf_len(&out), ps, count_visit, &v) != 0 || v.n != m.n || !v.mapped_ok) {
            fprintf(stderr, "rewritten message: %d strings (want %d), mapped %d\n", v.n, m.n, v.mapped_ok);
            abort();
        }
    } else if (rr == PBR_UNCHANGED && m.n != 0) {
        abort(); /* every string maps to a new one */
    }
    buf_free(&out);
    free(copy);
    return 0;
}

#ifndef FR_LIBFUZZER
#include "replay.h"

/* Replay mode: random mutations of a few seed messages. */
int main(int argc, char **argv)
{
    long rounds = replay_rounds(argc, argv, 200000);
    /* getListing response: dirList(1){ partialListing(1){ symlink(9) } } */
    static const uint8_t seed[] = { 0,   0x0a, 0x10, 0x0a, 0x0c, 0x4a, 0x04, '/', 'd', 's', 't', 0x12,
                                    0x01, 'a',  0x4a, 0x01, 'x',  0x10, 0x01 };
    size_t row = 0;
    for (size_t i = 0; i < method_count(); i++)
        if (strcmp(method_at(i)->name, "getListing") == 0)
            row = i;
    uint8_t buf[sizeof seed + 16];
    replay_seed(0x2545F4914F6CDD1Dull);
    for (long i = 0; i < rounds; i++) {
        size_t len = sizeof seed;
        memcpy(buf, seed, len);
        buf[0] = (uint8_t)((i & 1) ? row + method_count() : replay_rand());
        int edits = (int)(replay_rand() % 4);
        for (int e = 0; e < edits; e++) {
            size_t at = 1 + replay_rand() % (len - 1);
            switch (replay_rand() % 3) {
            case 0: buf[at] = (uint8_t)replay_rand(); break;
            case 1: buf[at] ^= (uint8_t)(1u << (replay_rand() % 8)); break;
            case 2: len = at + 1; break;
            }
        }
        replay_bytes(buf, len);
    }
    replay_args(argc, argv);
    printf("fuzz_pbrewrite: %ld mutated inputs ran clean\n", rounds);
    return 0;
}
#endif
