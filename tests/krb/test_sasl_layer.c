/*
 * test_sasl_layer: auth/sasl_layer over a real Cyrus GSSAPI client/server
 * pair in one process, at auth-int and auth-conf. Needs a KDC: run by
 * sasl_layer_test.py, which makes a realm and sets KRB5_CONFIG, KRB5CCNAME
 * (alice's tickets) and KRB5_KTNAME (the nn/localhost keytab).
 *
 * Each QOP: the handshake, then packets both ways (server replies unwrapped
 * by the client side, client requests unwrapped by the server side), a
 * 300 KB packet, several frames arriving byte by byte with a plain frame
 * among them, and the refusals: a SASL frame that is not WRAP, a frame over
 * the limit, a token with a flipped byte (last: a failed decode leaves the
 * Cyrus connection unusable, and callers close it). Replays are not tested:
 * Cyrus ignores gss_unwrap's supplementary DUPLICATE_TOKEN status.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sasl/sasl.h>

#include "check.h"
#include "ipc.h"
#include "sasl_layer.h"
#include "wire.h"

static int no_authzid(void *ctx, int id, const char **result, unsigned *len)
{
    (void)ctx;
    if (id != SASL_CB_USER && id != SASL_CB_AUTHNAME)
        return SASL_FAIL;
    *result = "";
    if (len)
        *len = 0;
    return SASL_OK;
}

static const sasl_callback_t client_cbs[] = {
    { SASL_CB_USER, (int (*)(void))(void (*)(void))no_authzid, NULL },
    { SASL_CB_LIST_END, NULL, NULL },
};

/* GSSAPI between two fresh connections; 0 when both end with the layer. */
static int handshake(sasl_conn_t *srv, sasl_conn_t *cli)
{
    const char *out = NULL, *mech = NULL, *sout = NULL;
    unsigned ol = 0, sl = 0;
    int rc = sasl_client_start(cli, "GSSAPI", NULL, &out, &ol, &mech);
    if (rc != SASL_CONTINUE && rc != SASL_OK) {
        fprintf(stderr, "client_start: %s\n", sasl_errdetail(cli));
        return -1;
    }
    rc = sasl_server_start(srv, "GSSAPI", out, ol, &sout, &sl);
    for (int i = 0; i < 8 && rc == SASL_CONTINUE; i++) {
        int crc = sasl_client_step(cli, sout, sl, NULL, &out, &ol);
        if (crc != SASL_CONTINUE && crc != SASL_OK) {
            fprintf(stderr, "client_step: %s\n", sasl_errdetail(cli));
            return -1;
        }
        rc = sasl_server_step(srv, out, ol, &sout, &sl);
    }
    if (rc != SASL_OK) {
        fprintf(stderr, "server: %s\n", sasl_errdetail(srv));
        return -1;
    }
    return 0;
}

static unsigned ssf_of(sasl_conn_t *c)
{
    const void *v = NULL;
    return sasl_getprop(c, SASL_SSF, &v) == SASL_OK && v ? *(const unsigned *)v : 0;
}

/* A reply packet (u32 len + header + body) with a recognisable body. */
static void reply_packet(struct buf *b, int32_t id, size_t body_len, uint8_t fill)
{
    uint8_t *body = malloc(body_len ? body_len : 1);
    memset(body, fill, body_len);
    memcpy(body, "PLAINTEXT-MARK", body_len < 14 ? body_len : 14);
    struct ipc_ids ids = { id, -1, NULL, 0 };
    CHECK(ipc_write_reply_raw(b, &ids, body, body_len) == IPC_OK);
    free(body);
}

static void request_packet(struct buf *b, int32_t id, size_t param_len)
{
    uint8_t *param = calloc(1, param_len ? param_len : 1);
    memcpy(param, "PLAINTEXT-MARK", param_len < 14 ? param_len : 14);
    uint8_t cid[IPC_CLIENT_ID_LEN] = { 1, 2, 3 };
    struct ipc_ids ids = { id, 0, cid, sizeof cid };
    CHECK(ipc_write_call_raw(b, &ids, "getFileInfo", IPC_CLIENT_PROTOCOL, param, param_len) == IPC_OK);
    free(param);
}

static bool contains(const struct buf *b, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i + n <= buf_len(b); i++)
        if (!memcmp(buf_rptr(b) + i, s, n))
            return true;
    return false;
}

static bool same(const struct buf *a, const struct buf *b)
{
    return buf_len(a) == buf_len(b) && !memcmp(buf_rptr(a), buf_rptr(b), buf_len(a));
}

static void run_qop(const char *name, unsigned min_ssf, unsigned max_ssf, bool privacy)
{
    printf("-- %s\n", name);
    sasl_conn_t *srv = NULL, *cli = NULL;
    CHECK(sasl_server_new("nn", "localhost", NULL, NULL, NULL, NULL, 0, &srv) == SASL_OK);
    CHECK(sasl_client_new("nn", "localhost", NULL, NULL, client_cbs, 0, &cli) == SASL_OK);
    sasl_security_properties_t sp = { .min_ssf = min_ssf, .max_ssf = max_ssf, .maxbufsize = 0xFFFFFF };
    sasl_security_properties_t cp = { .min_ssf = 0, .max_ssf = 256, .maxbufsize = 0xFFFFFF };
    CHECK(sasl_setprop(srv, SASL_SEC_PROPS, &sp) == SASL_OK);
    CHECK(sasl_setprop(cli, SASL_SEC_PROPS, &cp) == SASL_OK);
    if (handshake(srv, cli) < 0) {
        CHECK(!"handshake");
        return;
    }
    unsigned ss = ssf_of(srv), cs = ssf_of(cli);
    printf("ssf server %u client %u\n", ss, cs);
    CHECK(ss == cs);
    CHECK(privacy ? ss >= 56 : ss == 1);
    char why[256];
    struct buf plain = BUF_INIT, wire = BUF_INIT, got = BUF_INIT;

    /* Server reply -> client. The frame's header is Hadoop's. */
    reply_packet(&plain, 7, 100, 'r');
    CHECK(sasl_layer_wrap(srv, SASL_LAYER_SERVER, buf_rptr(&plain), buf_len(&plain), &wire, why, sizeof why) == 0);
    static const uint8_t shdr[] = { 0x08, 0x08, 0xDF, 0xFF, 0xFF, 0xFF, 0x0F, 0x10, 0x00 };
    CHECK(buf_len(&wire) > 4 + sizeof shdr && !memcmp(buf_rptr(&wire) + 4, shdr, sizeof shdr));
    CHECK(wire_get_be32(buf_rptr(&wire)) == buf_len(&wire) - 4);
    CHECK(contains(&wire, "PLAINTEXT-MARK") == !privacy); /* sealed only at auth-conf */
    {
        struct ipc_reply r;
        CHECK(ipc_parse_reply(buf_rptr(&wire) + 4, buf_len(&wire) - 4, &r) == IPC_OK);
        CHECK(r.call_id == -33 && r.status == IPC_SUCCESS);
    }
    CHECK(sasl_layer_unwrap(cli, SASL_LAYER_CLIENT, &wire, &got, 1u << 20, why, sizeof why) == 0);
    CHECK(buf_len(&wire) == 0 && same(&got, &plain));
    buf_reset(&plain);
    buf_reset(&got);

    /* Client request -> server: the header is a request header, -33. */
    request_packet(&plain, 3, 50);
    CHECK(sasl_layer_wrap(cli, SASL_LAYER_CLIENT, buf_rptr(&plain), buf_len(&plain), &wire, why, sizeof why) == 0);
    {
        struct ipc_call c;
        CHECK(ipc_parse_call(buf_rptr(&wire) + 4, buf_len(&wire) - 4, &c) == IPC_OK);
        CHECK(c.hdr.call_id == -33 && c.hdr.rpc_kind == 2 && c.hdr.rpc_op == 0 && c.hdr.client_id.len == 0);
    }
    CHECK(sasl_layer_unwrap(srv, SASL_LAYER_SERVER, &wire, &got, 1u << 20, why, sizeof why) == 0);
    CHECK(same(&got, &plain));
    buf_reset(&plain);
    buf_reset(&got);

    /* A 300 KB reply: one frame (maxbufsize 0xFFFFFF), back byte-identical. */
    reply_packet(&plain, 8, 300 * 1024, 'x');
    CHECK(sasl_layer_wrap(srv, SASL_LAYER_SERVER, buf_rptr(&plain), buf_len(&plain), &wire, why, sizeof why) == 0);
    CHECK(wire_get_be32(buf_rptr(&wire)) == buf_len(&wire) - 4);
    CHECK(sasl_layer_unwrap(cli, SASL_LAYER_CLIENT, &wire, &got, 1u << 20, why, sizeof why) == 0);
    CHECK(same(&got, &plain));
    buf_reset(&plain);
    buf_reset(&got);

    /* Requests: wrapped, plain, wrapped, fed one byte at a time. */
    struct buf expect = BUF_INIT, all = BUF_INIT;
    for (int i = 0; i < 3; i++) {
        buf_reset(&plain);
        request_packet(&plain, 10 + i, 20 + (size_t)i * 500);
        buf_append(&expect, buf_rptr(&plain), buf_len(&plain));
        if (i == 1)
            buf_append(&all, buf_rptr(&plain), buf_len(&plain));
        else
            CHECK(sasl_layer_wrap(cli, SASL_LAYER_CLIENT, buf_rptr(&plain), buf_len(&plain), &all, why, sizeof why) ==
                  0);
    }
    int bad = 0;
    for (size_t i = 0; i < buf_len(&all); i++) {
        buf_append(&wire, buf_rptr(&all) + i, 1);
        bad |= sasl_layer_unwrap(srv, SASL_LAYER_SERVER, &wire, &got, 1u << 20, why, sizeof why);
    }
    CHECK(bad == 0 && buf_len(&wire) == 0 && same(&got, &expect));
    buf_reset(&got);
    buf_reset(&all);

    /* A frame over the limit. */
    reply_packet(&plain, 9, 2000, 'y');
    buf_reset(&wire);
    CHECK(sasl_layer_wrap(srv, SASL_LAYER_SERVER, buf_rptr(&plain), buf_len(&plain), &wire, why, sizeof why) == 0);
    CHECK(sasl_layer_unwrap(cli, SASL_LAYER_CLIENT, &wire, &got, 1000, why, sizeof why) == -1);
    printf("over the limit: %s\n", why);
    CHECK(strstr(why, "over the limit") != NULL);

    /* The same frame with a flipped byte in its token. */
    buf_rptr(&wire)[buf_len(&wire) - 3] ^= 0x40;
    CHECK(sasl_layer_unwrap(cli, SASL_LAYER_CLIENT, &wire, &got, 1u << 20, why, sizeof why) == -1);
    printf("tampered: %s\n", why);
    CHECK(strstr(why, "sasl_decode") != NULL);
    buf_reset(&wire);
    buf_reset(&got);

    /* A SASL frame in state NEGOTIATE, not WRAP. */
    static const uint8_t neg[] = { 0, 0, 0, 14, 10, 0x08, 0x02, 0x10, 0x00, 0x18, 0x41, 0x22, 0x00, 0x28, 0x01,
                                   2,  0x10, 0x01 };
    buf_append(&wire, neg, sizeof neg);
    CHECK(sasl_layer_unwrap(srv, SASL_LAYER_SERVER, &wire, &got, 1u << 20, why, sizeof why) == -1);
    printf("not WRAP: %s\n", why);
    CHECK(strstr(why, "only WRAP") != NULL);
    buf_reset(&wire);

    buf_free(&plain);
    buf_free(&wire);
    buf_free(&got);
    buf_free(&expect);
    buf_free(&all);
    sasl_dispose(&srv);
    sasl_dispose(&cli);
}

int main(void)
{
    if (!getenv("KRB5CCNAME") || !getenv("KRB5_KTNAME")) {
        fprintf(stderr, "run me through sasl_layer_test.py (needs a realm)\n");
        return 2;
    }
    CHECK(sasl_server_init(NULL, "fedrouter-test") == SASL_OK);
    CHECK(sasl_client_init(NULL) == SASL_OK);
    run_qop("auth-int", 1, 1, false);
    run_qop("auth-conf", 56, 256, true);
    /* No sasl_done(): it unloads the plugins, whose process-wide memory
     * LeakSanitizer would then count as leaked. */
    return check_report();
}
