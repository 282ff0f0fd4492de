/*
 * sec_layer.c: the per-message security layer over OpenSSL (krb_cfx),
 * MIT's gss_wrap, or Cyrus's sasl_encode. See sec_layer.h.
 */
#include "sec_layer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <sasl/sasl.h>

#include "errmsg.h"
#include "krb_cfx.h"
#include "krb_login.h"
#include "wire.h"

enum engine { ENG_OPENSSL, ENG_GSSAPI, ENG_CYRUS };

struct sec_layer {
    enum engine eng;
    bool conf;
    size_t chunk; /* most plaintext bytes per token; 0: no limit */
    struct krb_cfx *cfx;
    gss_ctx_id_t gss;
    sasl_conn_t *cyrus;
};

/* The OID MIT gives for the session key's enctype (1.2.840.113554.1.2.2.4),
 * followed by the enctype as one more sub-identifier. */
static const uint8_t enctype_oid_prefix[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02, 0x04 };

/* The context key's enctype, without touching the context; -1 unknown. */
static int context_enctype(gss_ctx_id_t ctx)
{
    OM_uint32 min;
    gss_buffer_set_t set = GSS_C_NO_BUFFER_SET;
    int et = -1;
    if (gss_inquire_sec_context_by_oid(&min, ctx, GSS_C_INQ_SSPI_SESSION_KEY, &set) != GSS_S_COMPLETE || !set)
        return -1;
    if (set->count >= 2 && set->elements[1].length == sizeof enctype_oid_prefix + 1 &&
        !memcmp(set->elements[1].value, enctype_oid_prefix, sizeof enctype_oid_prefix))
        et = ((const uint8_t *)set->elements[1].value)[sizeof enctype_oid_prefix];
    gss_release_buffer_set(&min, &set);
    return et;
}

/* Plaintext per token so that a token stays within the peer's max: at
 * most max_in bytes (0: none fit). */
static int set_chunk(struct sec_layer *l, uint32_t peer_max, size_t max_in, char *why, size_t whylen)
{
    if (!peer_max)
        return 0;
    if (max_in <= 64)
        return fr_errf(why, whylen, "the peer's maximum buffer of %u bytes is too small for a security layer",
                       peer_max),
               -1;
    l->chunk = max_in;
    return 0;
}

/* The openssl engine's layer once l->cfx is made (or failed): its chunk,
 * or l freed and NULL. */
static struct sec_layer *openssl_done(struct sec_layer *l, uint32_t peer_max, char *why, size_t whylen)
{
    size_t overhead = l->cfx ? krb_cfx_wrap_len(l->cfx, l->conf, 0) : 0;
    if (!l->cfx || set_chunk(l, peer_max, peer_max > overhead ? peer_max - overhead : 0, why, whylen) < 0) {
        sec_layer_free(l);
        return NULL;
    }
    return l;
}

/* Exports the context's keys into l->cfx, which stays NULL (why says) on
 * failure; the context is gone either way once exported. */
static void take_lucid(struct sec_layer *l, gss_ctx_id_t *ctx, unsigned unwrapped, char *why, size_t whylen)
{
    OM_uint32 min, maj;
    void *p = NULL;
    maj = gss_krb5_export_lucid_sec_context(&min, ctx, 1, &p);
    if (maj != GSS_S_COMPLETE) {
        auth_gss_why(maj, min, why, whylen, "gss_krb5_export_lucid_sec_context");
        return;
    }
    const gss_krb5_lucid_context_v1_t *lc = p;
    if (lc->protocol != 1) {
        fr_errf(why, whylen, "the exported context is not of RFC 4121 kind");
    } else {
        const gss_krb5_lucid_key_t *k =
            lc->cfx_kd.have_acceptor_subkey ? &lc->cfx_kd.acceptor_subkey : &lc->cfx_kd.ctx_key;
        /* MIT keeps the first receive number in the export; the exchange's
         * own unwraps came after it. */
        l->cfx = krb_cfx_new((int)k->type, k->data, k->length, lc->initiate != 0, lc->cfx_kd.have_acceptor_subkey != 0,
                             lc->send_seq, lc->recv_seq + unwrapped, why, whylen);
    }
    gss_krb5_free_lucid_sec_context(&min, p);
}

struct sec_layer *sec_layer_from_gss(void *gss_ctx, bool conf, uint32_t peer_max, unsigned unwrapped, char *why,
                                     size_t whylen)
{
    gss_ctx_id_t *ctx = gss_ctx;
    struct sec_layer *l = calloc(1, sizeof *l);
    if (!l)
        return fr_errf(why, whylen, "out of memory"), NULL;
    l->conf = conf;
    l->gss = GSS_C_NO_CONTEXT;
    int et = context_enctype(*ctx);
    if (et >= 17 && et <= 20) {
        l->eng = ENG_OPENSSL;
        take_lucid(l, ctx, unwrapped, why, whylen);
        return openssl_done(l, peer_max, why, whylen);
    }
    l->eng = ENG_GSSAPI;
    l->gss = *ctx;
    *ctx = GSS_C_NO_CONTEXT;
    OM_uint32 min, max_in = 0;
    if (peer_max && gss_wrap_size_limit(&min, l->gss, conf, GSS_C_QOP_DEFAULT, peer_max, &max_in) != GSS_S_COMPLETE)
        max_in = 0;
    if (set_chunk(l, peer_max, max_in, why, whylen) < 0) {
        sec_layer_free(l);
        return NULL;
    }
    return l;
}

struct sec_layer *sec_layer_from_key(int enctype, const uint8_t *key, size_t keylen, bool initiator,
                                     bool acceptor_subkey, uint64_t send_seq, uint64_t recv_seq, bool conf,
                                     uint32_t peer_max, char *why, size_t whylen)
{
    struct sec_layer *l = calloc(1, sizeof *l);
    if (!l)
        return fr_errf(why, whylen, "out of memory"), NULL;
    l->eng = ENG_OPENSSL;
    l->conf = conf;
    l->gss = GSS_C_NO_CONTEXT;
    l->cfx = krb_cfx_new(enctype, key, keylen, initiator, acceptor_subkey, send_seq, recv_seq, why, whylen);
    return openssl_done(l, peer_max, why, whylen);
}

struct sec_layer *sec_layer_from_cyrus(void *sasl_conn)
{
    struct sec_layer *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->eng = ENG_CYRUS;
    l->gss = GSS_C_NO_CONTEXT;
    l->cyrus = sasl_conn;
    return l;
}

void sec_layer_free(struct sec_layer *l)
{
    if (!l)
        return;
    krb_cfx_free(l->cfx);
    OM_uint32 min;
    if (l->gss != GSS_C_NO_CONTEXT)
        gss_delete_sec_context(&min, &l->gss, GSS_C_NO_BUFFER);
    free(l);
}

const char *sec_layer_engine(const struct sec_layer *l)
{
    return l->eng == ENG_OPENSSL ? "openssl" : l->eng == ENG_GSSAPI ? "gssapi" : "cyrus";
}

/* One token from msg[0..n) (n within the chunk). */
static int wrap_one(struct sec_layer *l, const uint8_t *msg, size_t n, sec_reserve_fn reserve, void *arg, char *why,
                    size_t whylen)
{
    if (l->eng == ENG_OPENSSL) {
        /* The length goes in the frame before the token is made: tokens
         * of this engine have no padding, so their length is known. */
        size_t want = krb_cfx_wrap_len(l->cfx, l->conf, n), tl = 0;
        uint8_t *p = reserve(arg, want);
        if (!p)
            return fr_errf(why, whylen, "out of memory"), -1;
        if (krb_cfx_wrap(l->cfx, l->conf, msg, n, p, &tl, why, whylen) < 0)
            return -1;
        return tl == want ? 0 : (fr_errf(why, whylen, "a wrap token of %zu bytes, not %zu", tl, want), -1);
    }
    OM_uint32 min, maj;
    gss_buffer_desc in = { n, (void *)msg }, out = GSS_C_EMPTY_BUFFER;
    int conf_state = 0;
    maj = gss_wrap(&min, l->gss, l->conf, GSS_C_QOP_DEFAULT, &in, &conf_state, &out);
    if (maj != GSS_S_COMPLETE)
        return auth_gss_why(maj, min, why, whylen, "gss_wrap"), -1;
    uint8_t *p = reserve(arg, out.length);
    if (p)
        memcpy(p, out.value, out.length);
    gss_release_buffer(&min, &out);
    return p ? 0 : (fr_errf(why, whylen, "out of memory"), -1);
}

/* Cyrus's output is one or more (u32 length | token); a token each. */
static int wrap_cyrus(struct sec_layer *l, const uint8_t *msg, size_t n, sec_reserve_fn reserve, void *arg, char *why,
                      size_t whylen)
{
    if (n > UINT32_MAX / 2)
        return fr_errf(why, whylen, "cannot wrap %zu bytes", n), -1;
    const char *enc = NULL;
    unsigned el = 0;
    int rc = sasl_encode(l->cyrus, (const char *)msg, (unsigned)n, &enc, &el);
    if (rc != SASL_OK) {
        const char *d = sasl_errdetail(l->cyrus);
        return fr_errf(why, whylen, "sasl_encode: %s", d ? d : sasl_errstring(rc, NULL, NULL)), -1;
    }
    const uint8_t *p = (const uint8_t *)enc, *end = p + el;
    while (p < end) {
        if (end - p < 4 || wire_get_be32(p) > (size_t)(end - p - 4))
            return fr_errf(why, whylen, "sasl_encode gave a truncated token"), -1;
        uint32_t tl = wire_get_be32(p);
        uint8_t *dst = reserve(arg, tl);
        if (!dst)
            return fr_errf(why, whylen, "out of memory"), -1;
        memcpy(dst, p + 4, tl);
        p += 4 + tl;
    }
    return 0;
}

int sec_layer_wrap(struct sec_layer *l, const uint8_t *msg, size_t n, sec_reserve_fn reserve, void *arg, char *why,
                   size_t whylen)
{
    if (l->eng == ENG_CYRUS)
        return wrap_cyrus(l, msg, n, reserve, arg, why, whylen);
    size_t off = 0;
    do {
        size_t take = l->chunk && n - off > l->chunk ? l->chunk : n - off;
        if (wrap_one(l, msg + off, take, reserve, arg, why, whylen) < 0)
            return -1;
        off += take;
    } while (off < n);
    return 0;
}

int sec_layer_unwrap(struct sec_layer *l, uint8_t *tok, size_t n, uint8_t *out, size_t *outlen, char *why,
                     size_t whylen)
{
    if (l->eng == ENG_OPENSSL) {
        bool sealed = false;
        if (krb_cfx_unwrap(l->cfx, tok, n, out, outlen, &sealed, why, whylen) < 0)
            return -1;
        if (l->conf && !sealed)
            return fr_errf(why, whylen, "a token without encryption on a privacy layer"), -1;
        return 0;
    }
    if (l->eng == ENG_GSSAPI) {
        OM_uint32 min, maj;
        gss_buffer_desc in = { n, tok }, pt = GSS_C_EMPTY_BUFFER;
        int conf_state = 0;
        gss_qop_t qop;
        maj = gss_unwrap(&min, l->gss, &in, &pt, &conf_state, &qop);
        /* Supplementary bits (a gap, a duplicate, an old token) fail too:
         * messages arrive in order on one connection. */
        if (maj != GSS_S_COMPLETE) {
            gss_release_buffer(&min, &pt);
            return auth_gss_why(maj, min, why, whylen, "gss_unwrap"), -1;
        }
        int rc = -1;
        if (l->conf && !conf_state) {
            fr_errf(why, whylen, "a token without encryption on a privacy layer");
        } else if (pt.length > n) {
            fr_errf(why, whylen, "gss_unwrap gave more bytes than its token held");
        } else {
            rc = 0;
            if (pt.length)
                memcpy(out, pt.value, pt.length);
            *outlen = pt.length;
        }
        gss_release_buffer(&min, &pt);
        return rc;
    }
    /* Cyrus wants its u32 length in front: give it first, then the token
     * (it keeps a partial input until the whole token is there). */
    if (n > UINT32_MAX / 2)
        return fr_errf(why, whylen, "a token of %zu bytes", n), -1;
    uint8_t len[4];
    wire_put_be32(len, (uint32_t)n);
    const char *dec = NULL;
    unsigned dl = 0;
    int rc = sasl_decode(l->cyrus, (const char *)len, 4, &dec, &dl);
    if (rc == SASL_OK && dl == 0)
        rc = sasl_decode(l->cyrus, (const char *)tok, (unsigned)n, &dec, &dl);
    else if (rc == SASL_OK)
        rc = SASL_BADPROT;
    if (rc != SASL_OK) {
        const char *d = sasl_errdetail(l->cyrus);
        return fr_errf(why, whylen, "sasl_decode: %s", d ? d : sasl_errstring(rc, NULL, NULL)), -1;
    }
    if (dl > n)
        return fr_errf(why, whylen, "sasl_decode gave more bytes than its token held"), -1;
    if (dl)
        memcpy(out, dec, dl);
    *outlen = dl;
    return 0;
}
