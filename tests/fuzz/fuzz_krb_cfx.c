/*
 * Fuzz target for auth/krb_cfx: arbitrary bytes as a wrap token given to
 * krb_cfx_unwrap, and the same bytes as a message wrapped by the peer and
 * unwrapped again (with the token rotated by an RRC the input picks),
 * which must give them back.
 *
 * Input: byte 0 picks the context: bits 0-1 the enctype (17 + value), bit 2
 * our side (set: initiator), bit 3 whether the keys are an acceptor subkey,
 * bit 4 sealing for the round trip; then the token. Keys are fixed, both
 * contexts are new for every input (sequence numbers start at SEQ), so a
 * seed made by the peer's wrap is a valid token every time.
 *
 * Built with libFuzzer (-DFR_LIBFUZZER) or as a replay program that runs
 * mutations of valid tokens and the files given (a directory: each file in
 * it); --seeds=DIR writes the seed corpus.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "krb_cfx.h"

#define SEQ 0x1122334455667788ull

static long accepted; /* inputs krb_cfx_unwrap took as valid tokens */

static const uint8_t fixed_key[32] = { 0x3c, 0x9a, 0x1e, 0x77, 0x05, 0xd2, 0x68, 0xb1, 0x4f, 0x80, 0x2a,
                                       0xe3, 0x91, 0x0c, 0x56, 0xfa, 0x17, 0x6d, 0xc4, 0x38, 0xaf, 0x02,
                                       0x9e, 0x71, 0x5b, 0xe8, 0x24, 0xd9, 0x83, 0x40, 0xbc, 0x66 };

/* Our context for selector sel (mine), or the peer's (!mine). */
static struct krb_cfx *ctx(uint8_t sel, bool mine)
{
    int et = 17 + (sel & 3);
    bool initiator = (sel >> 2 & 1) == mine;
    char why[128];
    struct krb_cfx *c =
        krb_cfx_new(et, fixed_key, et == 17 || et == 19 ? 16 : 32, initiator, sel >> 3 & 1, SEQ, SEQ, why, sizeof why);
    if (!c) {
        fprintf(stderr, "krb_cfx_new(%d): %s\n", et, why);
        abort();
    }
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    struct krb_cfx *me = ctx(sel, true), *peer = ctx(sel, false);
    char why[256];
    size_t outlen = 0, tn = 0;
    bool sealed;

    /* the bytes as a token */
    uint8_t *tok = malloc(n ? n : 1), *out = malloc(n ? n : 1);
    if (!tok || !out)
        abort();
    memcpy(tok, p, n);
    int took = krb_cfx_unwrap(me, tok, n, out, &outlen, &sealed, why, sizeof why) == 0;
    if (took && outlen >= n)
        abort(); /* a plaintext is shorter than its token */
    free(tok);
    free(out);

    /* the bytes as a message: wrap, rotate, unwrap */
    bool conf = sel >> 4 & 1;
    if (took) {
        /* our next expected sequence number moved: the peer's follows */
        uint8_t skip[128];
        accepted++;
        if (krb_cfx_wrap(peer, conf, p, 0, skip, &tn, why, sizeof why) != 0)
            abort();
    }
    size_t max = krb_cfx_wrap_len(peer, conf, n);
    tok = malloc(max);
    out = malloc(max);
    if (!tok || !out)
        abort();
    if (krb_cfx_wrap(peer, conf, p, n, tok, &tn, why, sizeof why) != 0 || tn != max) {
        fprintf(stderr, "wrap: %s\n", why);
        abort();
    }
    if (n >= 2) {
        unsigned rrc = (unsigned)(p[0] << 8 | p[1]);
        size_t blen = tn - 16, r = rrc % blen;
        uint8_t *rot = malloc(blen);
        if (!rot)
            abort();
        for (size_t i = 0; i < blen; i++)
            rot[(i + r) % blen] = tok[16 + i];
        memcpy(tok + 16, rot, blen);
        free(rot);
        tok[6] = (uint8_t)(rrc >> 8);
        tok[7] = (uint8_t)rrc;
    }
    if (krb_cfx_unwrap(me, tok, tn, out, &outlen, &sealed, why, sizeof why) != 0) {
        fprintf(stderr, "round trip: %s\n", why);
        abort();
    }
    if (outlen != n || sealed != conf || (n && memcmp(out, p, n) != 0))
        abort();
    free(tok);
    free(out);
    krb_cfx_free(me);
    krb_cfx_free(peer);
    return 0;
}

#ifndef FR_LIBFUZZER
#include "buf.h"
#include "replay.h"

/* Selector v, then the peer's token of a message of (v * 7) % 40 bytes,
 * sealed when bit 4 of v is set. */
static void make_seed(struct buf *b, int v)
{
    uint8_t sel = (uint8_t)v;
    size_t n = (size_t)(v * 7) % 40;
    uint8_t msg[40], tok[128];
    for (size_t i = 0; i < n; i++)
        msg[i] = (uint8_t)(i * 29 + (size_t)v);
    struct krb_cfx *peer = ctx(sel, false);
    size_t tn = 0;
    char why[128];
    if (krb_cfx_wrap(peer, sel >> 4 & 1, msg, n, tok, &tn, why, sizeof why) != 0)
        abort();
    krb_cfx_free(peer);
    buf_append(b, &sel, 1);
    buf_append(b, tok, tn);
}

int main(int argc, char **argv)
{
    if (replay_write_seeds(argc, argv, 32, make_seed))
        return 0;
    long rounds = replay_rounds(argc, argv, 20000);
    replay_seed(0x6A09E667F3BCC909ull);
    for (int v = 0; v < 32; v++) {
        struct buf s = BUF_INIT;
        make_seed(&s, v);
        long before = accepted;
        replay_bytes(buf_rptr(&s), buf_len(&s)); /* a valid token, unmutated */
        if (accepted != before + 1) {
            fprintf(stderr, "fuzz_krb_cfx: seed %d, a valid token, was refused\n", v);
            return 1;
        }
        replay_mutations(buf_rptr(&s), buf_len(&s), rounds / 32, 1);
        buf_free(&s);
    }
    replay_args(argc, argv);
    printf("fuzz_krb_cfx: %ld mutated inputs ran clean\n", rounds);
    return 0;
}
#endif
