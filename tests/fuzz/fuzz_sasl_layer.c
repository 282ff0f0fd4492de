/*
 * Fuzz target for auth/sasl_layer: arbitrary bytes as the wire of a
 * connection with a SASL layer, unwrapped as the server and as the client
 * would, cut into two reads at a point the input chooses; and the same
 * bytes given to sasl_layer_wrap, whose parser of Cyrus's length-prefixed
 * output then meets arbitrary lengths.
 *
 * The Cyrus connection is a server connection that never authenticated:
 * its sasl_decode and sasl_encode are the identity (no mechanism layer), so
 * no KDC is needed and every byte of the frame handling is ours. The real
 * GSSAPI layer is covered by tests/krb/test_sasl_layer.c.
 *
 * Input: byte 0 bit 0 = side, byte 1 = where the first read ends (as a
 * fraction of the rest), then the wire bytes.
 *
 * Built with libFuzzer (-DFR_LIBFUZZER) or as a replay program that runs
 * mutations of valid frames and the files given (a directory: each file in
 * it); --seeds=DIR writes the seed corpus.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sasl/sasl.h>

#include "ipc.h"
#include "sasl_layer.h"
#include "wire.h"

static sasl_conn_t *conn;

static void setup(void)
{
    if (conn)
        return;
    if (sasl_server_init(NULL, "fedrouter-fuzz") != SASL_OK ||
        sasl_server_new("nn", "localhost", NULL, NULL, NULL, NULL, 0, &conn) != SASL_OK) {
        fprintf(stderr, "cannot make a Cyrus connection\n");
        abort();
    }
    sasl_security_properties_t sp = { .min_ssf = 0, .max_ssf = 0, .maxbufsize = 1u << 17 };
    sasl_setprop(conn, SASL_SEC_PROPS, &sp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    if (size < 2)
        return 0;
    enum sasl_layer_side side = data[0] & 1 ? SASL_LAYER_CLIENT : SASL_LAYER_SERVER;
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
    return 0;
}

#ifndef FR_LIBFUZZER
#include "replay.h"

/* A wire stream for side: a WRAP frame (token = u32 length + a packet,
 * what identity sasl_decode hands back), a plain frame, then a frame in
 * the other SASL state or a truncated one. */
static void make_seed(struct buf *b, int variant)
{
    uint8_t head[2] = { (uint8_t)(variant & 1), (uint8_t)(variant * 37) };
    buf_append(b, head, 2);
    enum sasl_layer_side wrapper = variant & 1 ? SASL_LAYER_SERVER : SASL_LAYER_CLIENT;
    struct buf pkt = BUF_INIT;
    uint8_t cid[IPC_CLIENT_ID_LEN] = { 9 };
    struct ipc_ids ids = { 4, 0, cid, sizeof cid };
    if (wrapper == SASL_LAYER_CLIENT)
        ipc_write_call_raw(&pkt, &ids, "getFileInfo", IPC_CLIENT_PROTOCOL, (const uint8_t *)"\x0a\x01/", 3);
    else
        ipc_write_reply_raw(&pkt, &ids, (const uint8_t *)"\x0a\x00", 2);
    /* Identity encode returns the packet unchanged; give the wrap code the
     * u32-prefixed token Cyrus would, so the frame holds the packet. */
    struct buf tok = BUF_INIT;
    uint8_t l[4];
    wire_put_be32(l, (uint32_t)buf_len(&pkt));
    buf_append(&tok, l, 4);
    buf_append(&tok, buf_rptr(&pkt), buf_len(&pkt));
    char why[64];
    sasl_layer_wrap(conn, wrapper, buf_rptr(&tok), buf_len(&tok), b, why, sizeof why);
    buf_append(b, buf_rptr(&pkt), buf_len(&pkt));
    if (variant & 2) {
        /* RpcSaslProto NEGOTIATE on call id -33 (request header). */
        static const uint8_t neg[] = { 0, 0, 0, 14, 10, 0x08, 0x02, 0x10, 0x00, 0x18, 0x41, 0x22, 0x00, 0x28, 0x01,
                                       2,  0x10, 0x01 };
        buf_append(b, neg, sizeof neg);
    } else {
        buf_append(b, buf_rptr(&pkt), buf_len(&pkt) / 2);
    }
    buf_free(&pkt);
    buf_free(&tok);
}

int main(int argc, char **argv)
{
    setup();
    if (replay_write_seeds(argc, argv, 4, make_seed))
        return 0;
    long rounds = replay_rounds(argc, argv, 200000);
    replay_seed(0x2545F4914F6CDD1Dull);
    for (int v = 0; v < 4; v++) {
        struct buf s = BUF_INIT;
        make_seed(&s, v);
        replay_mutations(buf_rptr(&s), buf_len(&s), rounds / 4, 0);
        buf_free(&s);
    }
    replay_args(argc, argv);
    printf("fuzz_sasl_layer: %ld mutated inputs ran clean\n", rounds);
    sasl_dispose(&conn);
    /* No sasl_done(): it unloads the plugins, whose process-wide memory
     * LeakSanitizer would then count as leaked. */
    return 0;
}
#endif
