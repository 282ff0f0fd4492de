/*
 * test_krb_cfx: auth/krb_cfx against MIT GSS-API in one process. Run by
 * krb_cfx_test.py, which makes a realm whose tickets use one enctype and
 * sets KRB5_CONFIG, KRB5CCNAME (alice's tickets) and KRB5_KTNAME (the
 * nn/localhost keytab).
 *
 *   test_krb_cfx ENCTYPE        (17, 18, 19 or 20: the type the keys must have)
 *
 * Four rounds: a context pair established by MIT with and without mutual
 * authentication (with: an acceptor subkey), one side exported through the
 * lucid interface into krb_cfx, as initiator and then as acceptor, the
 * other side kept in MIT. Each round: sealed and integrity-only tokens of
 * many sizes both ways (our wrap -> gss_unwrap, gss_wrap -> our unwrap), a
 * run of small messages, then the refusals (every flipped bit, replays,
 * our own token fed back, truncations) and MIT tokens re-rotated with a
 * non-zero RRC. The first round also prints the throughput of both
 * implementations on 64 KiB messages (informational, not checked).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_krb5.h>

#include "check.h"
#include "krb_cfx.h"

static const size_t sizes[] = { 0, 1, 15, 16, 17, 31, 32, 33, 1000, 65536 + 3 };
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void gss_fail(const char *what, OM_uint32 maj, OM_uint32 min)
{
    fprintf(stderr, "%s failed: major %#x minor %#x", what, maj, min);
    OM_uint32 m2, ctx = 0;
    gss_buffer_desc s;
    do {
        if (gss_display_status(&m2, min, GSS_C_MECH_CODE, GSS_C_NO_OID, &ctx, &s) != GSS_S_COMPLETE)
            break;
        fprintf(stderr, " (%.*s)", (int)s.length, (const char *)s.value);
        gss_release_buffer(&m2, &s);
    } while (ctx);
    fprintf(stderr, "\n");
}

/* A context pair by MIT; 0 or -1. */
static int establish(bool mutual, gss_ctx_id_t *ictx, gss_ctx_id_t *actx)
{
    OM_uint32 maj, min, flags = GSS_C_SEQUENCE_FLAG | GSS_C_REPLAY_FLAG | GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG;
    if (mutual)
        flags |= GSS_C_MUTUAL_FLAG;
    gss_buffer_desc nb = { strlen("nn@localhost"), (void *)"nn@localhost" };
    gss_name_t target;
    maj = gss_import_name(&min, &nb, GSS_C_NT_HOSTBASED_SERVICE, &target);
    if (GSS_ERROR(maj)) {
        gss_fail("gss_import_name", maj, min);
        return -1;
    }
    *ictx = *actx = GSS_C_NO_CONTEXT;
    gss_buffer_desc in = GSS_C_EMPTY_BUFFER, out = GSS_C_EMPTY_BUFFER;
    bool idone = false, adone = false;
    int rc = -1;
    for (int step = 0; step < 6 && !(idone && adone); step++) {
        if (!idone) {
            maj = gss_init_sec_context(&min, GSS_C_NO_CREDENTIAL, ictx, target, (gss_OID)gss_mech_krb5, flags, 0, NULL,
                                       &in, NULL, &out, NULL, NULL);
            gss_release_buffer(&min, &in);
            if (GSS_ERROR(maj)) {
                gss_fail("gss_init_sec_context", maj, min);
                goto done;
            }
            idone = maj == GSS_S_COMPLETE;
            if (out.length == 0)
                continue;
        }
        maj = gss_accept_sec_context(&min, actx, GSS_C_NO_CREDENTIAL, &out, GSS_C_NO_CHANNEL_BINDINGS, NULL, NULL, &in,
                                     NULL, NULL, NULL);
        gss_release_buffer(&min, &out);
        if (GSS_ERROR(maj)) {
            gss_fail("gss_accept_sec_context", maj, min);
            goto done;
        }
        adone = maj == GSS_S_COMPLETE;
    }
    rc = idone && adone ? 0 : -1;
done:
    gss_release_buffer(&min, &in);
    gss_release_buffer(&min, &out);
    gss_release_name(&min, &target);
    return rc;
}

/* Exports *ctx (which MIT then deletes) into a krb_cfx; NULL on failure. */
static struct krb_cfx *export_ctx(gss_ctx_id_t *ctx, int want_enctype, bool want_subkey, bool want_initiator)
{
    OM_uint32 maj, min;
    void *p = NULL;
    maj = gss_krb5_export_lucid_sec_context(&min, ctx, 1, &p);
    if (GSS_ERROR(maj)) {
        gss_fail("gss_krb5_export_lucid_sec_context", maj, min);
        return NULL;
    }
    gss_krb5_lucid_context_v1_t *l = p;
    CHECK_EQ(l->version, 1u);
    CHECK_EQ(l->protocol, 1u);
    CHECK_EQ(!!l->initiate, want_initiator);
    CHECK_EQ(!!l->cfx_kd.have_acceptor_subkey, want_subkey);
    const gss_krb5_lucid_key_t *k = l->cfx_kd.have_acceptor_subkey ? &l->cfx_kd.acceptor_subkey : &l->cfx_kd.ctx_key;
    CHECK_EQ((int)k->type, want_enctype);
    char why[256] = "";
    struct krb_cfx *c = krb_cfx_new((int)k->type, k->data, k->length, l->initiate != 0,
                                    l->cfx_kd.have_acceptor_subkey != 0, l->send_seq, l->recv_seq, why, sizeof why);
    if (!c)
        fprintf(stderr, "krb_cfx_new: %s\n", why);
    gss_krb5_free_lucid_sec_context(&min, p);
    return c;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 8));
}

/* Our token of msg into tok (malloc'd), *tn its length. */
static uint8_t *our_wrap(struct krb_cfx *c, bool conf, const uint8_t *msg, size_t n, size_t *tn)
{
    uint8_t *tok = malloc(krb_cfx_wrap_len(c, conf, n));
    char why[256] = "";
    if (!tok || krb_cfx_wrap(c, conf, msg, n, tok, tn, why, sizeof why) != 0) {
        fprintf(stderr, "krb_cfx_wrap(%zu): %s\n", n, why);
        free(tok);
        return NULL;
    }
    CHECK(*tn == krb_cfx_wrap_len(c, conf, n));
    return tok;
}

/* MIT's token of msg, copied into malloc'd memory. */
static uint8_t *mit_wrap(gss_ctx_id_t peer, bool conf, const uint8_t *msg, size_t n, size_t *tn)
{
    OM_uint32 maj, min;
    int conf_state = -1;
    gss_buffer_desc in = { n, (void *)msg }, out = GSS_C_EMPTY_BUFFER;
    maj = gss_wrap(&min, peer, conf, GSS_C_QOP_DEFAULT, &in, &conf_state, &out);
    if (GSS_ERROR(maj)) {
        gss_fail("gss_wrap", maj, min);
        return NULL;
    }
    CHECK_EQ(conf_state, (int)conf);
    uint8_t *tok = malloc(out.length ? out.length : 1);
    memcpy(tok, out.value, out.length);
    *tn = out.length;
    gss_release_buffer(&min, &out);
    return tok;
}

/* MIT unwraps tok; 1 when it gives back msg with conf_state conf. */
static int mit_unwrap_is(gss_ctx_id_t peer, const uint8_t *tok, size_t tn, bool conf, const uint8_t *msg, size_t n)
{
    OM_uint32 maj, min;
    int conf_state = -1;
    gss_qop_t qop;
    gss_buffer_desc in = { tn, (void *)tok }, out = GSS_C_EMPTY_BUFFER;
    maj = gss_unwrap(&min, peer, &in, &out, &conf_state, &qop);
    if (maj != GSS_S_COMPLETE) {
        gss_fail("gss_unwrap of our token", maj, min);
        return 0;
    }
    int ok = conf_state == (int)conf && out.length == n && (n == 0 || memcmp(out.value, msg, n) == 0);
    if (!ok)
        fprintf(stderr, "gss_unwrap gave %zu bytes conf %d, want %zu conf %d\n", out.length, conf_state, n, conf);
    /* MIT's integrity unwrap of an empty message hands back a zero-length
     * malloc'd buffer, which its gss_release_buffer skips (it frees only
     * buffers with a length): free it here, its allocator is malloc. */
    if (out.length == 0 && out.value) {
        free(out.value);
        out.value = NULL;
    }
    gss_release_buffer(&min, &out);
    return ok;
}

/* Our unwrap of a copy of tok[0..tn); 0 with the plaintext checked against
 * msg (when msg), or -1 with why. */
static int our_unwrap(struct krb_cfx *c, const uint8_t *tok, size_t tn, bool conf, const uint8_t *msg, size_t n,
                      char *why, size_t whylen)
{
    uint8_t *t = malloc(tn ? tn : 1), *out = malloc(tn ? tn : 1);
    memcpy(t, tok, tn);
    size_t outlen = 0;
    bool sealed = !conf;
    int rc = krb_cfx_unwrap(c, t, tn, out, &outlen, &sealed, why, whylen);
    if (rc == 0 && msg) {
        if (sealed != conf || outlen != n || (n && memcmp(out, msg, n) != 0)) {
            snprintf(why, whylen, "unwrap gave %zu bytes sealed %d, want %zu sealed %d", outlen, sealed, n, conf);
            rc = -2;
        }
    }
    free(t);
    free(out);
    return rc;
}

/* One message each way; counts the checks. */
static void both_ways(struct krb_cfx *c, gss_ctx_id_t peer, bool conf, size_t n, unsigned seed)
{
    uint8_t *msg = malloc(n ? n : 1);
    fill(msg, n, seed);
    size_t tn;
    uint8_t *tok = our_wrap(c, conf, msg, n, &tn);
    CHECK(tok != NULL);
    if (tok) {
        int ok = mit_unwrap_is(peer, tok, tn, conf, msg, n);
        if (!ok)
            fprintf(stderr, "  (ours -> MIT, conf %d, %zu bytes)\n", conf, n);
        CHECK(ok);
        free(tok);
    }
    tok = mit_wrap(peer, conf, msg, n, &tn);
    CHECK(tok != NULL);
    if (tok) {
        char why[256] = "";
        int rc = our_unwrap(c, tok, tn, conf, msg, n, why, sizeof why);
        if (rc != 0)
            fprintf(stderr, "MIT -> ours, conf %d, %zu bytes: %s\n", conf, n, why);
        CHECK_EQ(rc, 0);
        free(tok);
    }
    free(msg);
}

/* ours -> MIT with the check counted (mit_unwrap_is prints). */
static void to_mit(struct krb_cfx *c, gss_ctx_id_t peer, bool conf, size_t n, unsigned seed)
{
    uint8_t *msg = malloc(n ? n : 1);
    fill(msg, n, seed);
    size_t tn;
    uint8_t *tok = our_wrap(c, conf, msg, n, &tn);
    CHECK(tok && mit_unwrap_is(peer, tok, tn, conf, msg, n));
    free(tok);
    free(msg);
}

/* Refusals on MIT tokens: every bit flipped (except RRC values that rotate
 * by a whole turn: RRC is not covered by any checksum, RFC 4121 4.2.5),
 * truncations, a replay; then the token itself still works. */
static void refusals(struct krb_cfx *c, gss_ctx_id_t peer, bool conf, size_t n)
{
    uint8_t *msg = malloc(n ? n : 1);
    fill(msg, n, 99);
    size_t tn;
    uint8_t *tok = mit_wrap(peer, conf, msg, n, &tn);
    if (!tok) {
        CHECK(0);
        free(msg);
        return;
    }
    uint8_t *bad = malloc(tn);
    char why[256];
    int accepted = 0;
    for (size_t bit = 0; bit < tn * 8; bit++) {
        size_t at = bit / 8;
        uint8_t mask = (uint8_t)(0x80 >> (bit % 8));
        if (at == 6 || at == 7) {
            unsigned rrc = (unsigned)(at == 6 ? mask << 8 : mask);
            if (tn > 16 && rrc % (tn - 16) == 0)
                continue;
        }
        memcpy(bad, tok, tn);
        bad[at] ^= mask;
        if (our_unwrap(c, bad, tn, conf, NULL, 0, why, sizeof why) == 0) {
            if (accepted++ < 3)
                fprintf(stderr, "flipped bit %zu of a %zu-byte token (conf %d) was accepted\n", bit, tn, conf);
        }
    }
    CHECK_EQ(accepted, 0);
    size_t cuts[] = { 0, 1, 15, 16, 17, tn / 2, tn - 1 };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        if (cuts[i] >= tn)
            continue;
        int rc = our_unwrap(c, tok, cuts[i], conf, NULL, 0, why, sizeof why);
        CHECK(rc != 0);
        if (i == 3)
            printf("  truncated to %zu: %s\n", cuts[i], why);
    }
    CHECK_EQ(our_unwrap(c, tok, tn, conf, msg, n, why, sizeof why), 0);
    int rc = our_unwrap(c, tok, tn, conf, msg, n, why, sizeof why);
    CHECK(rc != 0);
    if (rc != 0 && conf)
        printf("  replay: %s\n", why);
    free(bad);
    free(tok);
    free(msg);
}

/* An MIT token with the part after the header rotated right by rrc (as an
 * implementation using RRC sends it) is accepted. */
static void rotated(struct krb_cfx *c, gss_ctx_id_t peer, bool conf, size_t n, unsigned rrc)
{
    uint8_t *msg = malloc(n ? n : 1);
    fill(msg, n, 7);
    size_t tn;
    uint8_t *tok = mit_wrap(peer, conf, msg, n, &tn);
    CHECK(tok != NULL);
    if (!tok) {
        free(msg);
        return;
    }
    CHECK(tok[6] == 0 && tok[7] == 0); /* MIT sends RRC 0 */
    size_t blen = tn - 16, r = rrc % blen;
    uint8_t *rot = malloc(tn);
    memcpy(rot, tok, 16);
    for (size_t i = 0; i < blen; i++)
        rot[16 + (i + r) % blen] = tok[16 + i];
    rot[6] = (uint8_t)(rrc >> 8);
    rot[7] = (uint8_t)rrc;
    char why[256] = "";
    int rc = our_unwrap(c, rot, tn, conf, msg, n, why, sizeof why);
    if (rc != 0)
        fprintf(stderr, "RRC %u, conf %d, %zu bytes: %s\n", rrc, conf, n, why);
    CHECK_EQ(rc, 0);
    free(rot);
    free(tok);
    free(msg);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* MB/s of both implementations, sealed 64 KiB messages (not checked). */
static void throughput(struct krb_cfx *c, gss_ctx_id_t peer)
{
    enum { N = 300, SZ = 65536 };
    uint8_t *msg = malloc(SZ);
    fill(msg, SZ, 3);
    uint8_t *toks[N];
    size_t lens[N];
    double mb = (double)N * SZ / 1e6, t0;
    char why[256];
    int bad = 0;

    for (int i = 0; i < N; i++) { /* touched before timing: no page faults in the loop */
        toks[i] = malloc(krb_cfx_wrap_len(c, true, SZ));
        memset(toks[i], 0, krb_cfx_wrap_len(c, true, SZ));
    }
    t0 = now();
    for (int i = 0; i < N; i++) {
        if (krb_cfx_wrap(c, true, msg, SZ, toks[i], &lens[i], why, sizeof why) != 0)
            bad++;
    }
    double ours_wrap = mb / (now() - t0);
    OM_uint32 min;
    t0 = now();
    for (int i = 0; i < N; i++) {
        int cs;
        gss_qop_t q;
        gss_buffer_desc in = { lens[i], toks[i] }, out;
        if (gss_unwrap(&min, peer, &in, &out, &cs, &q) != GSS_S_COMPLETE)
            bad++;
        gss_release_buffer(&min, &out);
        free(toks[i]);
    }
    double mit_unwrap = mb / (now() - t0);

    gss_buffer_desc mt[N];
    t0 = now();
    for (int i = 0; i < N; i++) {
        int cs;
        gss_buffer_desc in = { SZ, msg };
        if (gss_wrap(&min, peer, 1, GSS_C_QOP_DEFAULT, &in, &cs, &mt[i]) != GSS_S_COMPLETE)
            bad++;
    }
    double mit_wrap = mb / (now() - t0);
    uint8_t *out = malloc(SZ + 128);
    t0 = now();
    for (int i = 0; i < N; i++) {
        size_t ol;
        bool s;
        if (krb_cfx_unwrap(c, mt[i].value, mt[i].length, out, &ol, &s, why, sizeof why) != 0)
            bad++;
    }
    double ours_unwrap = mb / (now() - t0);
    for (int i = 0; i < N; i++)
        gss_release_buffer(&min, &mt[i]);
    CHECK_EQ(bad, 0);
    printf("  throughput, sealed 64 KiB: wrap ours %.0f MB/s, MIT %.0f MB/s; unwrap ours %.0f MB/s, MIT %.0f MB/s\n",
           ours_wrap, mit_wrap, ours_unwrap, mit_unwrap);
    free(out);
    free(msg);
}

static void round_(int enctype, bool export_initiator, bool mutual, bool bench)
{
    printf("enctype %d: krb_cfx as %s, %s\n", enctype, export_initiator ? "initiator" : "acceptor",
           mutual ? "mutual (acceptor subkey)" : "no mutual (no acceptor subkey)");
    gss_ctx_id_t ictx, actx;
    if (establish(mutual, &ictx, &actx) != 0) {
        CHECK(0);
        return;
    }
    OM_uint32 min;
    gss_ctx_id_t *mine = export_initiator ? &ictx : &actx, *peer = export_initiator ? &actx : &ictx;
    struct krb_cfx *c = export_ctx(mine, enctype, mutual, export_initiator);
    CHECK(c != NULL);
    if (!c) {
        gss_delete_sec_context(&min, peer, GSS_C_NO_BUFFER);
        return;
    }
    unsigned seed = 1;
    for (int conf = 1; conf >= 0; conf--)
        for (size_t i = 0; i < NSIZES; i++)
            both_ways(c, *peer, conf, sizes[i], seed++);
    for (int i = 0; i < 200; i++)
        both_ways(c, *peer, i % 3 != 0, (size_t)(i * 13 % 97), seed++);

    for (int conf = 1; conf >= 0; conf--) {
        refusals(c, *peer, conf, 33);
        refusals(c, *peer, conf, 0);
        /* our own token back to us: the wrong direction; MIT then takes it */
        uint8_t m[5] = "hello";
        size_t tn;
        uint8_t *tok = our_wrap(c, conf, m, sizeof m, &tn);
        char why[256] = "";
        int rc = tok ? our_unwrap(c, tok, tn, conf, NULL, 0, why, sizeof why) : 0;
        CHECK(rc != 0);
        if (conf)
            printf("  own token: %s\n", why);
        CHECK(tok && mit_unwrap_is(*peer, tok, tn, conf, m, sizeof m));
        free(tok);
        unsigned rrcs[] = { 28, 12, 1, 5000, 65535 };
        for (size_t i = 0; i < sizeof rrcs / sizeof rrcs[0]; i++) {
            rotated(c, *peer, conf, 0, rrcs[i]);
            rotated(c, *peer, conf, 100, rrcs[i]);
        }
        to_mit(c, *peer, conf, 50, 5);
    }
    if (bench)
        throughput(c, *peer);
    krb_cfx_free(c);
    gss_delete_sec_context(&min, peer, GSS_C_NO_BUFFER);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_krb_cfx ENCTYPE\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    int enctype = atoi(argv[1]);
    char why[128];
    uint8_t key[32] = { 0 };
    CHECK(krb_cfx_new(23, key, 16, true, false, 0, 0, why, sizeof why) == NULL);
    CHECK(krb_cfx_new(17, key, 32, true, false, 0, 0, why, sizeof why) == NULL);
    CHECK(krb_cfx_new(20, key, 16, true, false, 0, 0, why, sizeof why) == NULL);

    round_(enctype, true, true, true);
    round_(enctype, true, false, false);
    round_(enctype, false, true, false);
    round_(enctype, false, false, false);
    printf("enctype %d: ", enctype);
    return check_report();
}
