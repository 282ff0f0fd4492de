/*
 * Fuzz target for the SASL path of the IPC server codec (ipc_server.c):
 * a connection with an auth hook, fed a valid SASL preamble and then the
 * input's bytes (NEGOTIATE, INITIATE, RESPONSE, context, calls, or
 * anything), in two reads cut where the input says.
 *
 * Input: byte 0 picks the hook and the offer (bit 0: the router's real
 * hook, auth_ipc_ops, running Cyrus GSSAPI on whatever tokens come; else a
 * scripted hook whose steps answer by the token's first byte, so that the
 * fuzzer reaches SUCCESS, the context and the calls; bit 1: SIMPLE offered
 * too; bit 2: a TOKEN entry in the offer), byte 1 where the first read
 * ends, then the stream.
 *
 * Built with libFuzzer (-DFR_LIBFUZZER) or as a replay program running
 * mutations of a valid exchange and the files or directories given;
 * --seeds=DIR writes the seed corpus.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <krb5.h>

#include "ipc.h"
#include "ipc_server.h"
#include "sasl_server.h"

/* ---- the scripted hook ---- */

struct script {
    unsigned methods;
    bool token;
    uint8_t out[64];
};

static unsigned s_methods(void *arg) { return ((struct script *)arg)->methods; }
static void s_kerberos_id(void *arg, const char **protocol, const char **server_id)
{
    (void)arg;
    *protocol = "nn";
    *server_id = "localhost";
}
static size_t s_token_challenge(void *arg, char *out, size_t outlen)
{
    if (!((struct script *)arg)->token)
        return 0;
    return (size_t)snprintf(out, outlen, "realm=\"default\",nonce=\"abc\",qop=\"auth-conf\"");
}
/* Token byte 0: 'c' continue, 'd' done, anything else fails. */
static enum ipc_auth_step s_step(void *arg, const char *method, const char *mechanism, bool first, const uint8_t *in,
                                 size_t inlen, const uint8_t **out, size_t *outlen, char *why, size_t whylen)
{
    struct script *s = arg;
    (void)method;
    (void)mechanism;
    (void)first;
    memset(s->out, 'C', sizeof s->out);
    *out = s->out;
    *outlen = inlen % sizeof s->out;
    if (inlen && in[0] == 'c')
        return IPC_AUTH_CONTINUE;
    if (inlen && in[0] == 'd')
        return IPC_AUTH_DONE;
    snprintf(why, whylen, "scripted failure");
    return IPC_AUTH_FAILED;
}
static int s_authorize(void *arg, struct ipc_context *ctx, const char **cls, char *msg, size_t msglen)
{
    (void)arg;
    if (!strcmp(ctx->effective_user, "mallory")) {
        *cls = "org.apache.hadoop.security.authorize.AuthorizationException";
        snprintf(msg, msglen, "User: x is not allowed to impersonate mallory");
        return -1;
    }
    if (!ctx->effective_user[0])
        snprintf(ctx->effective_user, sizeof ctx->effective_user, "alice");
    return 0;
}
static const struct ipc_auth_ops script_ops = {
    .methods = s_methods,
    .kerberos_id = s_kerberos_id,
    .token_challenge = s_token_challenge,
    .step = s_step,
    .authorize = s_authorize,
};

/* ---- the real hook, when Cyrus and its GSSAPI plugin are here ---- */

static struct auth_server *real_srv[2];
static bool real_tried;
static char keytab[4096];

static void drop_keytab(void) { unlink(keytab); }

/* A keytab with a random key for the principal, so that GSSAPI gets as far
 * as reading the client's token (without one it stops at the missing
 * keytab, and MIT's gss_acquire_cred leaks on that path). No KDC needed:
 * no token will ever be valid. */
static const char *make_keytab(void)
{
    const char *dir = getenv("TMPDIR");
    snprintf(keytab, sizeof keytab, "%s/fuzz-ipc-sasl-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(keytab);
    if (fd < 0)
        return NULL;
    close(fd);
    unlink(keytab); /* MIT writes a new keytab file itself */
    atexit(drop_keytab);
    krb5_context k;
    if (krb5_init_context(&k) != 0)
        return NULL;
    char name[4200];
    snprintf(name, sizeof name, "FILE:%s", keytab);
    krb5_keytab kt = NULL;
    krb5_keytab_entry ent;
    memset(&ent, 0, sizeof ent);
    int ok = krb5_kt_resolve(k, name, &kt) == 0 &&
             krb5_parse_name(k, "nn/localhost@EXAMPLE.TEST", &ent.principal) == 0 &&
             krb5_c_make_random_key(k, ENCTYPE_AES256_CTS_HMAC_SHA1_96, &ent.key) == 0;
    ent.vno = 1;
    ok = ok && krb5_kt_add_entry(k, kt, &ent) == 0;
    if (ent.principal)
        krb5_free_principal(k, ent.principal);
    krb5_free_keyblock_contents(k, &ent.key);
    if (kt)
        krb5_kt_close(k, kt);
    krb5_free_context(k);
    return ok ? keytab : NULL;
}

static void real_setup(void)
{
    if (real_tried)
        return;
    real_tried = true;
    const char *kt = make_keytab();
    if (!kt)
        return;
    for (int simple = 0; simple < 2; simple++) {
        struct auth_server_cfg cfg = {
            .methods = AUTH_M_KERBEROS | (simple ? AUTH_M_SIMPLE : 0),
            .qop = AUTH_QOP_CONF,
            .principal = "nn/localhost@EXAMPLE.TEST",
            .keytab = kt,
            .listen_host = "localhost",
        };
        char why[256];
        real_srv[simple] = auth_server_new(&cfg, why, sizeof why);
    }
}

static void run(struct ipc_sconn *s, struct buf *in, struct buf *out)
{
    for (int guard = 0; guard < 10000; guard++) {
        struct ipc_call call;
        size_t flen = 0;
        enum ipc_snext n = ipc_sconn_next(s, in, out, &call, &flen);
        if (n == IPC_S_CALL) {
            buf_consume(in, flen);
            continue;
        }
        /* NEED_MORE right after SASL SUCCESS with bytes left: a caller
         * without a layer calls again. */
        if (n == IPC_S_NEED_MORE && s->authenticated && s->state == IPC_S_CONTEXT && buf_len(in) && guard < 2)
            continue;
        return;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t mode = data[0];
    size_t n = size - 2, cut = n * data[1] / 255;
    const uint8_t *w = data + 2;
    struct ipc_sconn s;
    ipc_sconn_init(&s, 1u << 20);
    struct script sc = { .methods = IPC_AUTHM_KERBEROS | ((mode & 2) ? IPC_AUTHM_SIMPLE : 0), .token = mode & 4 };
    struct auth_session *sess = NULL;
    if (mode & 1) {
        real_setup();
        if (real_srv[(mode >> 1) & 1])
            sess = auth_session_new(real_srv[(mode >> 1) & 1]);
    }
    if (sess)
        ipc_sconn_set_auth(&s, &auth_ipc_ops, sess);
    else
        ipc_sconn_set_auth(&s, &script_ops, &sc);
    struct buf in = BUF_INIT, out = BUF_INIT;
    buf_append(&in, "hrpc\x09\x00\xdf", 7);
    buf_append(&in, w, cut);
    run(&s, &in, &out);
    buf_append(&in, w + cut, n - cut);
    run(&s, &in, &out);
    buf_free(&in);
    buf_free(&out);
    auth_session_free(sess);
    return 0;
}

#ifndef FR_LIBFUZZER
#include "replay.h"

static void sasl_frame(struct buf *b, int state, const char *method, const char *token)
{
    /* RpcSaslProto by hand: state, token, one SaslAuth. */
    uint8_t m[256];
    size_t k = 0;
    m[k++] = 0x10;
    m[k++] = (uint8_t)state;
    if (token) {
        size_t tl = strlen(token);
        m[k++] = 0x1A;
        m[k++] = (uint8_t)tl;
        memcpy(m + k, token, tl);
        k += tl;
    }
    if (method) {
        uint8_t a[96];
        size_t al = 0, ml = strlen(method);
        a[al++] = 0x0A;
        a[al++] = (uint8_t)ml;
        memcpy(a + al, method, ml);
        al += ml;
        memcpy(a + al, "\x12\x06GSSAPI\x1a\x02nn\x22\x09localhost", 23);
        al += 23;
        m[k++] = 0x22;
        m[k++] = (uint8_t)al;
        memcpy(m + k, a, al);
        k += al;
    }
    /* Header: rpcKind 2, rpcOp 0, callId -33, clientId "", retryCount -1. */
    static const uint8_t h[] = { 0x08, 0x02, 0x10, 0x00, 0x18, 0x41, 0x22, 0x00, 0x28, 0x01 };
    uint8_t len[4];
    uint32_t body = (uint32_t)(1 + sizeof h + 1 + k);
    len[0] = (uint8_t)(body >> 24), len[1] = (uint8_t)(body >> 16), len[2] = (uint8_t)(body >> 8);
    len[3] = (uint8_t)body;
    buf_append(b, len, 4);
    uint8_t hl = sizeof h, ml = (uint8_t)k;
    buf_append(b, &hl, 1);
    buf_append(b, h, sizeof h);
    buf_append(b, &ml, 1);
    buf_append(b, m, k);
}

/* Seeds: v0 scripted to SUCCESS + context + call; v1 the real hook with a
 * junk token; v2 SIMPLE offered and chosen; v3 TOKEN chosen. */
static void make_seed(struct buf *b, int v)
{
    uint8_t head[2] = { (uint8_t)(v == 1 ? 1 : v == 2 ? 2 : v == 3 ? 4 : 0), (uint8_t)(40 + v * 50) };
    buf_append(b, head, 2);
    sasl_frame(b, 1, NULL, NULL);
    if (v == 2) {
        sasl_frame(b, 2, "SIMPLE", NULL);
    } else if (v == 3) {
        sasl_frame(b, 2, "TOKEN", "x");
        return;
    } else {
        sasl_frame(b, 2, "KERBEROS", v == 1 ? "\x60\x10junk-gss-token" : "c-first");
        sasl_frame(b, 4, NULL, "d-done");
    }
    uint8_t cid[IPC_CLIENT_ID_LEN] = { 7 };
    ipc_write_context(b, cid, v == 0 ? "alice@EXAMPLE.TEST" : "mallory", NULL, IPC_CLIENT_PROTOCOL);
    struct ipc_ids ids = { 0, 0, cid, sizeof cid };
    ipc_write_call_raw(b, &ids, "getFileInfo", IPC_CLIENT_PROTOCOL, (const uint8_t *)"\x0a\x01/", 3);
}

int main(int argc, char **argv)
{
    if (replay_write_seeds(argc, argv, 4, make_seed))
        return 0;
    long rounds = replay_rounds(argc, argv, 100000);
    replay_seed(0x853C49E6748FEA9Bull);
    for (int v = 0; v < 4; v++) {
        struct buf s = BUF_INIT;
        make_seed(&s, v);
        /* The real hook runs Cyrus on every input: fewer rounds of it. */
        replay_mutations(buf_rptr(&s), buf_len(&s), v == 1 ? rounds / 20 : rounds / 3, 0);
        buf_free(&s);
    }
    replay_args(argc, argv);
    printf("fuzz_ipc_sasl: mutated inputs ran clean (%ld rounds)\n", rounds);
    for (int i = 0; i < 2; i++)
        auth_server_free(real_srv[i]);
    return 0;
}
#endif
