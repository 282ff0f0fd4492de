/*
 * test_sasl_layer: the SASL GSSAPI mechanism (auth/gss_sasl) and
 * auth/sasl_layer over real client/server pairs in one process, at
 * auth-int and auth-conf: each side is either Cyrus's GSSAPI plugin or the
 * router's own mechanism, in all four pairings, so each of ours meets
 * Cyrus's. Needs a KDC: run by sasl_layer_test.py, which makes a realm and
 * sets KRB5_CONFIG, KRB5CCNAME (alice's tickets) and KRB5_KTNAME (the
 * nn/localhost keytab).
 *
 * Each pairing and QOP: the handshake, then packets both ways (server replies unwrapped
 * by the client side, client requests unwrapped by the server side), a
 * 300 KB packet, several frames arriving byte by byte with a plain frame
 * among them, and the refusals: a SASL frame that is not WRAP, a frame over
 * the limit, a token with a flipped byte (last: a failed decode leaves the
 * connection unusable, and callers close it). Replays are refused by the
 * router's own layer; Cyrus ignores gss_unwrap's supplementary
 * DUPLICATE_TOKEN status, so they are tested against ours only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sasl/sasl.h>

#include "check.h"
#include "gss_sasl.h"
#include "ipc.h"
#include "sasl_layer.h"
#include "sec_layer.h"
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

/* One side of an exchange: Cyrus's plugin or the built-in mechanism. */
struct peer {
    bool builtin;
    sasl_conn_t *cy;
    struct gss_sasl *g;
    struct sec_layer *layer;
    unsigned ssf;
};

/* 0: continue, 1: done, -1: failed. The client's first call has no input. */
static int step(struct peer *p, bool server, bool first, const uint8_t *in, size_t inl, const uint8_t **out,
                size_t *outl)
{
    char why[512] = "";
    int rc;
    if (p->builtin) {
        enum gss_sasl_rc r = gss_sasl_step(p->g, in, inl, out, outl, why, sizeof why);
        rc = r == GSS_SASL_CONTINUE ? 0 : r == GSS_SASL_DONE ? 1 : -1;
    } else {
        const char *o = NULL, *mech = NULL;
        unsigned ol = 0;
        int c = server ? (first ? sasl_server_start(p->cy, "GSSAPI", (const char *)in, (unsigned)inl, &o, &ol)
                                : sasl_server_step(p->cy, (const char *)in, (unsigned)inl, &o, &ol))
                       : (first ? sasl_client_start(p->cy, "GSSAPI", NULL, &o, &ol, &mech)
                                : sasl_client_step(p->cy, (const char *)in, (unsigned)inl, NULL, &o, &ol));
        rc = c == SASL_CONTINUE ? 0 : c == SASL_OK ? 1 : -1;
        if (rc < 0)
            snprintf(why, sizeof why, "%s", sasl_errdetail(p->cy));
        *out = (const uint8_t *)o;
        *outl = ol;
    }
    if (rc < 0)
        fprintf(stderr, "%s %s: %s\n", server ? "server" : "client", p->builtin ? "built-in" : "Cyrus", why);
    return rc;
}

/* GSSAPI between two fresh sides; 0 when both end with a layer. */
static int handshake(struct peer *srv, struct peer *cli)
{
    const uint8_t *cout = NULL, *sout = NULL;
    size_t col = 0, sol = 0;
    int c = step(cli, false, true, NULL, 0, &cout, &col), s = 0;
    for (int i = 0; c >= 0 && i < 8; i++) {
        if ((s = step(srv, true, i == 0, cout, col, &sout, &sol)) != 0)
            break;
        c = step(cli, false, false, sout, sol, &cout, &col);
    }
    if (c != 1 || s != 1)
        return -1;
    char why[512];
    struct peer *both[2] = { srv, cli };
    for (int i = 0; i < 2; i++) {
        struct peer *p = both[i];
        if (p->builtin) {
            p->ssf = gss_sasl_ssf(p->g);
            p->layer = gss_sasl_take_layer(p->g, why, sizeof why);
            if (!p->layer)
                fprintf(stderr, "layer: %s\n", why);
        } else {
            const void *v = NULL;
            p->ssf = sasl_getprop(p->cy, SASL_SSF, &v) == SASL_OK && v ? *(const unsigned *)v : 0;
            p->layer = sec_layer_from_cyrus(p->cy);
        }
        if (!p->layer)
            return -1;
    }
    return 0;
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

static void run_qop(const char *name, bool builtin_srv, bool builtin_cli, unsigned min_ssf, unsigned max_ssf,
                    bool privacy)
{
    printf("-- %s, server %s, client %s\n", name, builtin_srv ? "built-in" : "Cyrus",
           builtin_cli ? "built-in" : "Cyrus");
    char why[256];
    struct peer ps = { .builtin = builtin_srv }, pc = { .builtin = builtin_cli };
    if (builtin_srv) {
        ps.g = gss_sasl_server_new("nn", "localhost", privacy ? GSS_SASL_PRIVACY : GSS_SASL_INTEGRITY, why, sizeof why);
        CHECK(ps.g != NULL);
    } else {
        CHECK(sasl_server_new("nn", "localhost", NULL, NULL, NULL, NULL, 0, &ps.cy) == SASL_OK);
        sasl_security_properties_t sp = { .min_ssf = min_ssf, .max_ssf = max_ssf, .maxbufsize = 0xFFFFFF };
        CHECK(sasl_setprop(ps.cy, SASL_SEC_PROPS, &sp) == SASL_OK);
    }
    if (builtin_cli) {
        pc.g = gss_sasl_client_new("nn", "localhost", GSS_C_NO_CREDENTIAL,
                                   GSS_SASL_NONE | GSS_SASL_INTEGRITY | GSS_SASL_PRIVACY, why, sizeof why);
        CHECK(pc.g != NULL);
    } else {
        CHECK(sasl_client_new("nn", "localhost", NULL, NULL, client_cbs, 0, &pc.cy) == SASL_OK);
        sasl_security_properties_t cp = { .min_ssf = 0, .max_ssf = 256, .maxbufsize = 0xFFFFFF };
        CHECK(sasl_setprop(pc.cy, SASL_SEC_PROPS, &cp) == SASL_OK);
    }
    if (handshake(&ps, &pc) < 0) {
        CHECK(!"handshake");
        return;
    }
    unsigned ss = ps.ssf, cs = pc.ssf;
    printf("ssf server %u client %u; engines %s, %s\n", ss, cs, sec_layer_engine(ps.layer), sec_layer_engine(pc.layer));
    /* The realm's keys are AES: the built-in side takes the OpenSSL path. */
    CHECK(!strcmp(sec_layer_engine(ps.layer), builtin_srv ? "openssl" : "cyrus"));
    CHECK(!strcmp(sec_layer_engine(pc.layer), builtin_cli ? "openssl" : "cyrus"));
    CHECK(privacy ? ss >= 56 && cs >= 56 : ss == 1 && cs == 1);
    struct sec_layer *srv = ps.layer, *cli = pc.layer;
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
    CHECK(why[0] != '\0');
    buf_reset(&wire);
    buf_reset(&got);

    /* A SASL frame in state NEGOTIATE, not WRAP. */
    static const uint8_t neg[] = { 0,    0,    0,    14,   10,   0x08, 0x02, 0x10, 0x00,
                                   0x18, 0x41, 0x22, 0x00, 0x28, 0x01, 2,    0x10, 0x01 };
    buf_append(&wire, neg, sizeof neg);
    CHECK(sasl_layer_unwrap(srv, SASL_LAYER_SERVER, &wire, &got, 1u << 20, why, sizeof why) == -1);
    printf("not WRAP: %s\n", why);
    CHECK(strstr(why, "only WRAP") != NULL);
    buf_reset(&wire);

    /* A replayed request: the router's own layer refuses it. */
    if (builtin_srv) {
        buf_reset(&plain);
        request_packet(&plain, 20, 40);
        CHECK(sasl_layer_wrap(cli, SASL_LAYER_CLIENT, buf_rptr(&plain), buf_len(&plain), &all, why, sizeof why) == 0);
        buf_append(&wire, buf_rptr(&all), buf_len(&all));
        buf_append(&wire, buf_rptr(&all), buf_len(&all));
        CHECK(sasl_layer_unwrap(srv, SASL_LAYER_SERVER, &wire, &got, 1u << 20, why, sizeof why) == -1);
        printf("replayed: %s\n", why);
        CHECK(buf_len(&got) == buf_len(&plain) && !memcmp(buf_rptr(&got), buf_rptr(&plain), buf_len(&plain)));
        buf_reset(&wire);
    }

    buf_free(&plain);
    buf_free(&wire);
    buf_free(&got);
    buf_free(&expect);
    buf_free(&all);
    sec_layer_free(ps.layer);
    sec_layer_free(pc.layer);
    gss_sasl_free(ps.g);
    gss_sasl_free(pc.g);
    if (ps.cy)
        sasl_dispose(&ps.cy);
    if (pc.cy)
        sasl_dispose(&pc.cy);
}

int main(void)
{
    if (!getenv("KRB5CCNAME") || !getenv("KRB5_KTNAME")) {
        fprintf(stderr, "run me through sasl_layer_test.py (needs a realm)\n");
        return 2;
    }
    CHECK(sasl_server_init(NULL, "fedrouter-test") == SASL_OK);
    CHECK(sasl_client_init(NULL) == SASL_OK);
    for (int srv = 0; srv < 2; srv++)
        for (int cli = 0; cli < 2; cli++) {
            run_qop("auth-int", srv, cli, 1, 1, false);
            run_qop("auth-conf", srv, cli, 56, 256, true);
        }
    /* No sasl_done(): it unloads the plugins, whose process-wide memory
     * LeakSanitizer would then count as leaked. */
    return check_report();
}
