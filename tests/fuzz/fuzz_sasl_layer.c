/*
 * Fuzz target for auth/sasl_layer: arbitrary bytes as the wire of a
 * connection with a SASL layer, unwrapped as the server and as the client
 * would, cut into two reads at a point the input chooses; and the same
 * bytes wrapped by that side.
 *
 * The layer is the router's own (sec_layer's OpenSSL engine) with a fixed
 * AES-256 key, made afresh for each input so that sequence numbers start
 * at 0: no KDC is needed, the seeds hold real tokens (made by the other
 * side's layer), and mutated ones meet the real checks. A real GSSAPI
 * exchange is covered by tests/krb/test_sasl_layer.c.
 *
 * Input: byte 0 bit 0 = side, bit 1 = privacy (else integrity), byte 1 =
 * where the first read ends (as a fraction of the rest), then the wire
 * bytes.
 *
 * Built with libFuzzer (-DFR_LIBFUZZER) or as a replay program that runs
 * mutations of valid frames and the files given (a directory: each file in
 * it); --seeds=DIR writes the seed corpus.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "sasl_layer.h"
#include "sec_layer.h"
#include "wire.h"

static const uint8_t key[32] = { 0x6b, 0x65, 0x79, 0x20, 0x66, 0x6f, 0x72, 0x20, 0x74, 0x68, 0x65,
                                 0x20, 0x66, 0x75, 0x7a, 0x7a, 0x65, 0x72, 0x2c, 0x20, 0x33, 0x32,
                                 0x20, 0x62, 0x79, 0x74, 0x65, 0x73, 0x20, 0x6c, 0x6f, 0x6e };

/* The layer of side (the server is the GSS-API acceptor). */
static struct sec_layer *layer_of(enum sasl_layer_side side, bool conf)
{
    char why[256];
    struct sec_layer *l =
        sec_layer_from_key(18, key, sizeof key, side == SASL_LAYER_CLIENT, false, 0, 0, conf, 0, why, sizeof why);
    if (!l) {
        fprintf(stderr, "fuzz_sasl_layer: %s\n", why);
        abort();
    }
    return l;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    enum sasl_layer_side side = data[0] & 1 ? SASL_LAYER_CLIENT : SASL_LAYER_SERVER;
    struct sec_layer *conn = layer_of(side, data[0] & 2);
    size_t n = size - 2, cut = n * data[1] / 255;
    const uint8_t *w = data + 2;
    char why[256];
    struct buf wire = BUF_INIT, plain = BUF_INIT, out = BUF_INIT;
    buf_append(&wire, w, cut);
    int rc = sasl_layer_unwrap(conn, side, &wire, &plain, 1u << 16, why, sizeof why);
    if (rc == 0) {
        buf_append(&wire, w + cut, n - cut);
        (void)sasl_layer_unwrap(conn, side, &wire, &plain, 1u << 16, why, sizeof why);
    }
    if (n)
        (void)sasl_layer_wrap(conn, side, w, n, &out, why, sizeof why);
    buf_free(&wire);
    buf_free(&plain);
    buf_free(&out);
    sec_layer_free(conn);
    return 0;
}

#ifndef FR_LIBFUZZER
#include "replay.h"

/* A wire stream for a side: a WRAP frame made by the other side, a plain
 * frame, then a frame in the other SASL state or a truncated one. */
static void make_seed(struct buf *b, int variant)
{
    uint8_t head[2] = { (uint8_t)(variant & 3), (uint8_t)(variant * 37) };
    buf_append(b, head, 2);
    enum sasl_layer_side reader = variant & 1 ? SASL_LAYER_CLIENT : SASL_LAYER_SERVER;
    enum sasl_layer_side wrapper = reader == SASL_LAYER_CLIENT ? SASL_LAYER_SERVER : SASL_LAYER_CLIENT;
    struct buf pkt = BUF_INIT;
    uint8_t cid[IPC_CLIENT_ID_LEN] = { 9 };
    struct ipc_ids ids = { 4, 0, cid, sizeof cid };
    if (wrapper == SASL_LAYER_CLIENT)
        ipc_write_call_raw(&pkt, &ids, "getFileInfo", IPC_CLIENT_PROTOCOL, (const uint8_t *)"\x0a\x01/", 3);
    else
        ipc_write_reply_raw(&pkt, &ids, (const uint8_t *)"\x0a\x00", 2);
    struct sec_layer *w = layer_of(wrapper, variant & 2);
    char why[256];
    if (sasl_layer_wrap(w, wrapper, buf_rptr(&pkt), buf_len(&pkt), b, why, sizeof why) < 0) {
        fprintf(stderr, "fuzz_sasl_layer: %s\n", why);
        abort();
    }
    sec_layer_free(w);
    buf_append(b, buf_rptr(&pkt), buf_len(&pkt));
    if (variant & 4) {
        /* RpcSaslProto NEGOTIATE on call id -33 (request header). */
        static const uint8_t neg[] = { 0,    0,    0,    14,   10,   0x08, 0x02, 0x10, 0x00,
                                       0x18, 0x41, 0x22, 0x00, 0x28, 0x01, 2,    0x10, 0x01 };
        buf_append(b, neg, sizeof neg);
    } else {
        buf_append(b, buf_rptr(&pkt), buf_len(&pkt) / 2);
    }
    buf_free(&pkt);
}

int main(int argc, char **argv)
{
    if (replay_write_seeds(argc, argv, 8, make_seed))
        return 0;
    long rounds = replay_rounds(argc, argv, 200000);
    replay_seed(0x2545F4914F6CDD1Dull);
    for (int v = 0; v < 8; v++) {
        struct buf s = BUF_INIT;
        make_seed(&s, v);
        /* An unmutated seed unwraps whole: the harness is real. */
        {
            enum sasl_layer_side side = v & 1 ? SASL_LAYER_CLIENT : SASL_LAYER_SERVER;
            struct sec_layer *l = layer_of(side, v & 2);
            struct buf wire = BUF_INIT, plain = BUF_INIT;
            char why[256];
            buf_append(&wire, buf_rptr(&s) + 2, buf_len(&s) - 2);
            (void)sasl_layer_unwrap(l, side, &wire, &plain, 1u << 16, why, sizeof why);
            if (buf_len(&plain) < 20) {
                fprintf(stderr, "fuzz_sasl_layer: seed %d did not unwrap: %s\n", v, why);
                return 1;
            }
            buf_free(&wire);
            buf_free(&plain);
            sec_layer_free(l);
        }
        replay_mutations(buf_rptr(&s), buf_len(&s), rounds / 8, 0);
        buf_free(&s);
    }
    replay_args(argc, argv);
    printf("fuzz_sasl_layer: %ld mutated inputs ran clean\n", rounds);
    return 0;
}
#endif
