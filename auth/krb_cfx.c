/*
 * krb_cfx: RFC 4121 wrap tokens on OpenSSL; see krb_cfx.h.
 *
 * Key handling follows the RFC 3961 simplified profile: for the SHA-1 types
 * (RFC 3962) a derived key is DK(base, usage | byte) made by n-folding the
 * constant to one AES block and encrypting it repeatedly with the base key;
 * for the SHA-2 types (RFC 8009) it is the SP 800-108 counter-mode KDF on
 * HMAC-SHA256/384. Everything keyed is set up once in krb_cfx_new: the two
 * AES-CTS contexts (our sealing key, the peer's), the four HMAC contexts
 * (integrity and checksum keys of both directions). Per message the
 * contexts are only re-initialised (new IV, HMAC restarted from its
 * precomputed pads), and all bytes are worked on in the caller's buffers.
 */
#include "krb_cfx.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "errmsg.h"
#include "wire.h"

#define HDR 16    /* wrap token header */
#define CONF 16   /* confounder: one AES block */
#define MAXCKS 24 /* longest truncated checksum (HMAC-SHA384-192) */

/* RFC 4121 4.2.2 flags */
#define FL_ACCEPTOR 0x01
#define FL_SEALED 0x02
#define FL_SUBKEY 0x04

/* RFC 4121 2: key usages. Wrap tokens use the SEAL usage of their sender
 * with or without confidentiality (4.2.4: the SIGN usages belong to MIC
 * tokens only, which this module does not make); MIT does the same. */
#define KU_ACCEPTOR_SEAL 22
#define KU_INITIATOR_SEAL 24

/* Largest message handled: OpenSSL takes int lengths. */
#define MAXMSG ((size_t)INT_MAX - 256)

struct krb_cfx {
    bool initiator, subkey;
    bool etm;   /* RFC 8009: the HMAC covers IV | ciphertext */
    size_t cks; /* truncated checksum length */
    uint64_t send_seq, recv_seq;
    EVP_CIPHER_CTX *seal;           /* AES-CTS encrypt, our sealing Ke */
    EVP_CIPHER_CTX *unseal;         /* AES-CTS decrypt, the peer's sealing Ke */
    EVP_CIPHER_CTX *seal_cbc;       /* AES-CBC encrypt, our sealing Ke: all but a sealed token's tail */
    EVP_CIPHER_CTX *unseal0;        /* AES-ECB decrypt, the peer's Ke: the confounder block alone */
    EVP_MAC_CTX *ki_send, *ki_recv; /* integrity keys of encryption */
    EVP_MAC_CTX *kc_send, *kc_recv; /* checksum keys of integrity tokens */
    /* Confounders, drawn from RAND_bytes a batch at a time: each call
     * costs OpenSSL a getpid() (its fork check), a system call per message
     * otherwise. */
    uint8_t pool[CONF * 64];
    size_t pool_used; /* bytes of pool handed out; sizeof pool = empty */
};

/* The next confounder (CONF random bytes) into out. 0 or -1. */
static int confounder(struct krb_cfx *c, uint8_t *out)
{
    if (c->pool_used + CONF > sizeof c->pool) {
        if (RAND_bytes(c->pool, (int)sizeof c->pool) != 1)
            return -1;
        c->pool_used = 0;
    }
    memcpy(out, c->pool + c->pool_used, CONF);
    OPENSSL_cleanse(c->pool + c->pool_used, CONF);
    c->pool_used += CONF;
    return 0;
}

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint16_t get_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* ---- key derivation ---- */

/*
 * RFC 3961 5.1 n-fold of in[0..inlen) to out[0..outlen): the input is
 * repeated, each copy rotated right 13 bits more than the previous, up to
 * the least common multiple of both lengths; the outlen-byte pieces of that
 * are added up in one's complement arithmetic.
 */
static void nfold(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen)
{
    size_t a = inlen, b = outlen;
    while (b) {
        size_t t = a % b;
        a = b;
        b = t;
    }
    size_t lcm = inlen / a * outlen;
    size_t inbits = inlen * 8;
    unsigned acc[64] = { 0 }; /* outlen <= 64 here */
    for (size_t pos = 0; pos < lcm; pos++) {
        /* byte pos of the repeated stream: copy pos / inlen, rotated */
        size_t copy = (pos * 8) / inbits;
        size_t rot = (13 * copy) % inbits;
        unsigned byte = 0;
        for (int k = 0; k < 8; k++) {
            size_t bit = (pos * 8 + (size_t)k) % inbits; /* bit within the copy */
            size_t src = (bit + inbits - rot) % inbits;  /* rotated right by rot */
            byte = byte << 1 | ((in[src / 8] >> (7 - src % 8)) & 1u);
        }
        acc[pos % outlen] += byte;
    }
    /* carry from the last byte to the first, and around */
    unsigned carry;
    do {
        carry = 0;
        for (size_t i = outlen; i-- > 0;) {
            acc[i] += carry;
            carry = acc[i] >> 8;
            acc[i] &= 0xff;
        }
        if (carry)
            acc[outlen - 1] += carry;
    } while (carry);
    for (size_t i = 0; i < outlen; i++)
        out[i] = (uint8_t)acc[i];
}

/* RFC 3961 5.1 DK with AES (RFC 3962): blocks E(K, nfold(c)), E(K, prev)... */
static int dk_aes(const uint8_t *base, size_t keylen, const uint8_t constant[5], uint8_t *out)
{
    EVP_CIPHER *ecb = EVP_CIPHER_fetch(NULL, keylen == 16 ? "AES-128-ECB" : "AES-256-ECB", NULL);
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int ok = 0;
    uint8_t blk[16];
    if (!ecb || !x || !EVP_EncryptInit_ex2(x, ecb, base, NULL, NULL) || !EVP_CIPHER_CTX_set_padding(x, 0))
        goto done;
    nfold(constant, 5, blk, 16);
    for (size_t got = 0; got < keylen; got += 16) {
        int l = 0;
        if (!EVP_EncryptUpdate(x, blk, &l, blk, 16) || l != 16)
            goto done;
        memcpy(out + got, blk, keylen - got < 16 ? keylen - got : 16);
    }
    ok = 1;
done:
    OPENSSL_cleanse(blk, sizeof blk);
    EVP_CIPHER_CTX_free(x);
    EVP_CIPHER_free(ecb);
    return ok;
}

/* One HMAC over p[0..n) with a fresh key (key derivation only). */
static int hmac_once(const char *digest, const uint8_t *key, size_t keylen, const uint8_t *p, size_t n, uint8_t *md,
                     size_t *mdlen)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *m = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0),
                            OSSL_PARAM_construct_end() };
    int ok = m && EVP_MAC_init(m, key, keylen, params) && EVP_MAC_update(m, p, n) && EVP_MAC_final(m, md, mdlen, 64);
    EVP_MAC_CTX_free(m);
    EVP_MAC_free(mac);
    return ok;
}

/* RFC 8009 3: KDF-HMAC-SHA2(base, label, bits) = first bits of
 * HMAC(base, 00000001 | label | 00 | bits as 4 bytes). */
static int kdf_sha2(const char *digest, const uint8_t *base, size_t baselen, const uint8_t label[5], size_t outlen,
                    uint8_t *out)
{
    uint8_t in[4 + 5 + 1 + 4], md[64];
    size_t mdlen = 0;
    wire_put_be32(in, 1);
    memcpy(in + 4, label, 5);
    in[9] = 0;
    wire_put_be32(in + 10, (uint32_t)(outlen * 8));
    int ok = hmac_once(digest, base, baselen, in, sizeof in, md, &mdlen) && mdlen >= outlen;
    if (ok)
        memcpy(out, md, outlen);
    OPENSSL_cleanse(md, sizeof md);
    return ok;
}

/* The key for usage and kind (0xAA Ke, 0x55 Ki, 0x99 Kc), outlen bytes. */
static int derive(int enctype, const uint8_t *base, size_t baselen, uint32_t usage, uint8_t kind, size_t outlen,
                  uint8_t *out)
{
    uint8_t c[5];
    wire_put_be32(c, usage);
    c[4] = kind;
    if (enctype == 17 || enctype == 18)
        return dk_aes(base, baselen, c, out);
    return kdf_sha2(enctype == 19 ? "SHA256" : "SHA384", base, baselen, c, outlen, out);
}

static EVP_MAC_CTX *mac_ctx(EVP_MAC *mac, const char *digest, const uint8_t *key, size_t keylen)
{
    EVP_MAC_CTX *m = EVP_MAC_CTX_new(mac);
    OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0),
                            OSSL_PARAM_construct_end() };
    if (m && !EVP_MAC_init(m, key, keylen, params)) {
        EVP_MAC_CTX_free(m);
        m = NULL;
    }
    return m;
}

/* Plain AES ("ECB" or "CBC") with key (keylen bytes), no padding, for
 * encryption (enc 1) or decryption (0). */
static EVP_CIPHER_CTX *aes_ctx(const char *mode, const uint8_t *key, size_t keylen, int enc)
{
    char name[16];
    snprintf(name, sizeof name, "AES-%d-%s", keylen == 16 ? 128 : 256, mode);
    EVP_CIPHER *ciph = EVP_CIPHER_fetch(NULL, name, NULL);
    EVP_CIPHER_CTX *x = ciph ? EVP_CIPHER_CTX_new() : NULL;
    if (x && (!EVP_CipherInit_ex2(x, ciph, key, NULL, enc, NULL) || !EVP_CIPHER_CTX_set_padding(x, 0))) {
        EVP_CIPHER_CTX_free(x);
        x = NULL;
    }
    EVP_CIPHER_free(ciph);
    return x;
}

static const uint8_t iv0[16]; /* Kerberos encryption starts from a zero IV */

static EVP_CIPHER_CTX *cts_ctx(EVP_CIPHER *cts, const uint8_t *key, int enc)
{
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string(OSSL_CIPHER_PARAM_CTS_MODE, (char *)"CS3", 0),
                            OSSL_PARAM_construct_end() };
    if (x && !EVP_CipherInit_ex2(x, cts, key, iv0, enc, params)) {
        EVP_CIPHER_CTX_free(x);
        x = NULL;
    }
    return x;
}

struct krb_cfx *krb_cfx_new(int enctype, const uint8_t *key, size_t keylen, bool initiator, bool acceptor_subkey,
                            uint64_t send_seq, uint64_t recv_seq, char *why, size_t whylen)
{
    size_t want, kelen, kilen, cks;
    const char *digest, *ctsname;
    switch (enctype) {
    case 17: want = kelen = kilen = 16, cks = 12, digest = "SHA1", ctsname = "AES-128-CBC-CTS"; break;
    case 18: want = kelen = kilen = 32, cks = 12, digest = "SHA1", ctsname = "AES-256-CBC-CTS"; break;
    case 19: want = kelen = kilen = 16, cks = 16, digest = "SHA256", ctsname = "AES-128-CBC-CTS"; break;
    case 20: want = kelen = 32, kilen = 24, cks = 24, digest = "SHA384", ctsname = "AES-256-CBC-CTS"; break;
    default: fr_errf(why, whylen, "enctype %d is not supported (only 17, 18, 19, 20)", enctype); return NULL;
    }
    if (!key || keylen != want) {
        fr_errf(why, whylen, "enctype %d needs a %zu-byte key, got %zu bytes", enctype, want, keylen);
        return NULL;
    }
    struct krb_cfx *c = calloc(1, sizeof *c);
    if (!c) {
        fr_errf(why, whylen, "out of memory");
        return NULL;
    }
    c->pool_used = sizeof c->pool; /* empty: filled at the first wrap */
    c->initiator = initiator;
    c->subkey = acceptor_subkey;
    c->etm = enctype >= 19;
    c->cks = cks;
    c->send_seq = send_seq;
    c->recv_seq = recv_seq;

    uint32_t seal_out = initiator ? KU_INITIATOR_SEAL : KU_ACCEPTOR_SEAL;
    uint32_t seal_in = initiator ? KU_ACCEPTOR_SEAL : KU_INITIATOR_SEAL;
    uint8_t ke_out[32], ke_in[32], ki_out[32], ki_in[32], kc_out[32], kc_in[32];
    EVP_CIPHER *cts = EVP_CIPHER_fetch(NULL, ctsname, NULL);
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    bool ok = cts && mac;
    if (!ok)
        fr_errf(why, whylen, "OpenSSL has no %s or HMAC", ctsname);
    if (ok && !(derive(enctype, key, keylen, seal_out, 0xAA, kelen, ke_out) &&
                derive(enctype, key, keylen, seal_in, 0xAA, kelen, ke_in) &&
                derive(enctype, key, keylen, seal_out, 0x55, kilen, ki_out) &&
                derive(enctype, key, keylen, seal_in, 0x55, kilen, ki_in) &&
                derive(enctype, key, keylen, seal_out, 0x99, kilen, kc_out) &&
                derive(enctype, key, keylen, seal_in, 0x99, kilen, kc_in))) {
        ok = false;
        fr_errf(why, whylen, "key derivation failed in OpenSSL");
    }
    if (ok) {
        c->seal = cts_ctx(cts, ke_out, 1);
        c->unseal = cts_ctx(cts, ke_in, 0);
        c->seal_cbc = aes_ctx("CBC", ke_out, kelen, 1);
        c->unseal0 = aes_ctx("ECB", ke_in, kelen, 0);
        c->ki_send = mac_ctx(mac, digest, ki_out, kilen);
        c->ki_recv = mac_ctx(mac, digest, ki_in, kilen);
        c->kc_send = mac_ctx(mac, digest, kc_out, kilen);
        c->kc_recv = mac_ctx(mac, digest, kc_in, kilen);
        if (!c->seal || !c->unseal || !c->seal_cbc || !c->unseal0 || !c->ki_send || !c->ki_recv || !c->kc_send ||
            !c->kc_recv) {
            ok = false;
            fr_errf(why, whylen, "OpenSSL refused the %s or HMAC-%s keys", ctsname, digest);
        }
    }
    OPENSSL_cleanse(ke_out, sizeof ke_out);
    OPENSSL_cleanse(ke_in, sizeof ke_in);
    OPENSSL_cleanse(ki_out, sizeof ki_out);
    OPENSSL_cleanse(ki_in, sizeof ki_in);
    OPENSSL_cleanse(kc_out, sizeof kc_out);
    OPENSSL_cleanse(kc_in, sizeof kc_in);
    EVP_CIPHER_free(cts);
    EVP_MAC_free(mac);
    if (!ok) {
        krb_cfx_free(c);
        return NULL;
    }
    return c;
}

void krb_cfx_free(struct krb_cfx *c)
{
    if (!c)
        return;
    EVP_CIPHER_CTX_free(c->seal);
    EVP_CIPHER_CTX_free(c->unseal);
    EVP_CIPHER_CTX_free(c->seal_cbc);
    EVP_CIPHER_CTX_free(c->unseal0);
    EVP_MAC_CTX_free(c->ki_send);
    EVP_MAC_CTX_free(c->ki_recv);
    EVP_MAC_CTX_free(c->kc_send);
    EVP_MAC_CTX_free(c->kc_recv);
    OPENSSL_cleanse(c->pool, sizeof c->pool);
    free(c);
}

size_t krb_cfx_wrap_len(const struct krb_cfx *c, bool conf, size_t n)
{
    /* sealed: header | conf | msg | header copy | checksum; integrity only:
     * header | msg | checksum */
    return conf ? HDR + CONF + n + HDR + c->cks : HDR + n + c->cks;
}

/* ---- per-message primitives ---- */

/* HMAC with a prepared key over up to three pieces (an empty one is
 * skipped), truncated to c->cks into out. */
static int mac3(const struct krb_cfx *c, EVP_MAC_CTX *m, const uint8_t *a, size_t an, const uint8_t *b, size_t bn,
                const uint8_t *d, size_t dn, uint8_t *out)
{
    uint8_t md[64];
    size_t mdlen = 0;
    if (!EVP_MAC_init(m, NULL, 0, NULL) || !EVP_MAC_update(m, a, an) || (bn && !EVP_MAC_update(m, b, bn)) ||
        (dn && !EVP_MAC_update(m, d, dn)) || !EVP_MAC_final(m, md, &mdlen, sizeof md) || mdlen < c->cks)
        return 0;
    memcpy(out, md, c->cks);
    return 1;
}

/* AES-CTS with iv (16 bytes), p[0..n) to q (may be p); n >= 16. */
static int cts(EVP_CIPHER_CTX *x, const uint8_t *iv, const uint8_t *p, size_t n, uint8_t *q)
{
    int l = 0, f = 0;
    if (!EVP_CipherInit_ex2(x, NULL, NULL, iv, -1, NULL) || !EVP_CipherUpdate(x, q, &l, p, (int)n) || (size_t)l != n ||
        !EVP_CipherFinal_ex(x, q + l, &f) || f != 0)
        return 0;
    return 1;
}

static void header(const struct krb_cfx *c, uint8_t *h, uint8_t flags, uint16_t ec, uint64_t seq)
{
    h[0] = 0x05;
    h[1] = 0x04;
    h[2] = (uint8_t)(flags | (c->initiator ? 0 : FL_ACCEPTOR) | (c->subkey ? FL_SUBKEY : 0));
    h[3] = 0xFF;
    put_be16(h + 4, ec);
    put_be16(h + 6, 0);
    put_be64(h + 8, seq);
}

int krb_cfx_wrap(struct krb_cfx *c, bool conf, const uint8_t *msg, size_t n, uint8_t *out, size_t *outlen, char *why,
                 size_t whylen)
{
    if (n > MAXMSG) {
        fr_errf(why, whylen, "message of %zu bytes is too long to wrap", n);
        return -1;
    }
    uint64_t seq = c->send_seq;
    if (conf) {
        uint8_t *body = out + HDR; /* E(conf | msg | header copy) */
        size_t plen = CONF + n + HDR;
        uint8_t *tag = body + plen;
        uint8_t cf[CONF], tail[16 + HDR];
        header(c, out, FL_SEALED, 0, seq);
        if (confounder(c, cf) < 0) {
            fr_errf(why, whylen, "RAND_bytes failed");
            return -1;
        }
        /* The HMAC of the SHA-1 types covers the plaintext: conf | msg |
         * the header, whose RRC is 0 in both. */
        if (!c->etm && !mac3(c, c->ki_send, cf, CONF, msg, n, out, HDR, tag))
            goto fail;
        if (n == 0) {
            memcpy(body, cf, CONF);
            memcpy(body + CONF, out, HDR);
            if (!cts(c->seal, iv0, body, plen, body))
                goto fail;
        } else {
            /* CTS is CBC up to its last two blocks. The confounder and msg
             * but its last 1..16 bytes go through CBC straight from where
             * they are; that tail and the header copy (17..32 bytes) then
             * through CTS chained on the last ciphertext block. msg is
             * never copied in first. */
            size_t m = (n - 1) / 16 * 16, t = n - m;
            int l0 = 0, l1 = 0;
            memcpy(tail, msg + m, t);
            memcpy(tail + t, out, HDR);
            if (!EVP_EncryptInit_ex2(c->seal_cbc, NULL, NULL, iv0, NULL) ||
                !EVP_EncryptUpdate(c->seal_cbc, body, &l0, cf, CONF) || l0 != CONF ||
                (m && (!EVP_EncryptUpdate(c->seal_cbc, body + CONF, &l1, msg, (int)m) || (size_t)l1 != m)) ||
                !cts(c->seal, body + m, tail, t + HDR, body + CONF + m))
                goto fail;
        }
        OPENSSL_cleanse(cf, sizeof cf);
        if (c->etm && !mac3(c, c->ki_send, iv0, sizeof iv0, body, plen, NULL, 0, tag))
            goto fail;
        *outlen = HDR + plen + c->cks;
    } else {
        /* checksum over msg | header with EC and RRC zero; the sent header
         * has EC = the checksum length */
        header(c, out, 0, 0, seq);
        memmove(out + HDR, msg, n);
        if (!mac3(c, c->kc_send, out + HDR, n, out, HDR, NULL, 0, out + HDR + n))
            goto fail;
        put_be16(out + 4, (uint16_t)c->cks);
        *outlen = HDR + n + c->cks;
    }
    c->send_seq++;
    return 0;
fail:
    fr_errf(why, whylen, "OpenSSL failed to %s a wrap token", conf ? "seal" : "sign");
    return -1;
}

static void reverse(uint8_t *p, size_t n)
{
    for (size_t i = 0, j = n; i + 1 < j; i++, j--) {
        uint8_t t = p[i];
        p[i] = p[j - 1];
        p[j - 1] = t;
    }
}

/* p[0..n) rotated left by r (< n), in place. */
static void rotate_left(uint8_t *p, size_t n, size_t r)
{
    if (r == 0)
        return;
    reverse(p, r);
    reverse(p + r, n - r);
    reverse(p, n);
}

int krb_cfx_unwrap(struct krb_cfx *c, uint8_t *tok, size_t n, uint8_t *out, size_t *outlen, bool *sealed, char *why,
                   size_t whylen)
{
    if (n < HDR) {
        fr_errf(why, whylen, "wrap token of %zu bytes is shorter than its 16-byte header", n);
        return -1;
    }
    if (n > MAXMSG + HDR + CONF + HDR + MAXCKS) {
        fr_errf(why, whylen, "wrap token of %zu bytes is too long", n);
        return -1;
    }
    if (tok[0] != 0x05 || tok[1] != 0x04) {
        fr_errf(why, whylen, "not a wrap token (TOK_ID %02x %02x, want 05 04)", tok[0], tok[1]);
        return -1;
    }
    if (tok[3] != 0xFF) {
        fr_errf(why, whylen, "wrap token filler byte is %02x, not ff", tok[3]);
        return -1;
    }
    uint8_t flags = tok[2];
    bool from_acceptor = flags & FL_ACCEPTOR;
    if (from_acceptor != c->initiator) {
        fr_errf(why, whylen, "wrap token sent by the %s, but the peer is the %s",
                from_acceptor ? "acceptor" : "initiator", c->initiator ? "acceptor" : "initiator");
        return -1;
    }
    if (!!(flags & FL_SUBKEY) != c->subkey) {
        fr_errf(why, whylen, "wrap token %s the AcceptorSubkey flag, the context %s an acceptor subkey",
                flags & FL_SUBKEY ? "has" : "lacks", c->subkey ? "has" : "has no");
        return -1;
    }
    size_t ec = get_be16(tok + 4), rrc = get_be16(tok + 6);
    uint64_t seq = get_be64(tok + 8);
    uint8_t *body = tok + HDR;
    size_t blen = n - HDR;
    if (blen)
        rotate_left(body, blen, rrc % blen);
    uint8_t tag[MAXCKS];
    size_t len;

    if (flags & FL_SEALED) {
        if (blen < CONF + HDR + c->cks) {
            fr_errf(why, whylen, "sealed wrap token of %zu bytes is too short (at least %zu)", n,
                    HDR + CONF + HDR + c->cks);
            return -1;
        }
        size_t clen = blen - c->cks;
        if (ec > clen - CONF - HDR) {
            fr_errf(why, whylen, "wrap token EC %zu is larger than its %zu bytes of data", ec, clen - CONF - HDR);
            return -1;
        }
        const uint8_t *got = body + clen;
        if (c->etm) {
            if (!mac3(c, c->ki_recv, iv0, sizeof iv0, body, clen, NULL, 0, tag))
                goto ossl;
            if (CRYPTO_memcmp(tag, got, c->cks) != 0) {
                fr_errf(why, whylen, "sealed wrap token fails its integrity check");
                return -1;
            }
        }
        /* The confounder block is decrypted alone (zero IV: P0 = D(C0)) and
         * the rest as CTS with C0 for IV, straight into out: the plaintext
         * lands where it belongs, with no move afterwards. That equals CTS
         * over the whole when the two blocks CTS swaps both lie after C0,
         * so beyond 32 bytes; at 32 (an empty message) it runs whole. */
        uint8_t p0[CONF], small[CONF + HDR];
        const uint8_t *rest = out; /* plaintext after the confounder */
        size_t rlen = clen - CONF;
        int l0 = 0;
        if (clen > CONF + HDR) {
            if (!EVP_DecryptUpdate(c->unseal0, p0, &l0, body, CONF) || l0 != CONF ||
                !cts(c->unseal, body, body + CONF, rlen, out))
                goto ossl;
        } else {
            if (!cts(c->unseal, iv0, body, clen, small))
                goto ossl;
            memcpy(p0, small, CONF);
            rest = small + CONF;
        }
        if (!c->etm) {
            if (!mac3(c, c->ki_recv, p0, CONF, rest, rlen, NULL, 0, tag))
                goto ossl;
            if (CRYPTO_memcmp(tag, got, c->cks) != 0) {
                fr_errf(why, whylen, "sealed wrap token fails its integrity check");
                return -1;
            }
        }
        OPENSSL_cleanse(p0, sizeof p0);
        const uint8_t *copy = rest + rlen - HDR;
        if (memcmp(copy, tok, 6) != 0 || memcmp(copy + 8, tok + 8, 8) != 0) {
            fr_errf(why, whylen, "the encrypted header of the wrap token differs from its outer header");
            return -1;
        }
        len = rlen - HDR - ec; /* at 32 bytes ec is 0 (checked above), so len is 0 */
        *sealed = true;
    } else {
        if (ec != c->cks) {
            fr_errf(why, whylen, "integrity wrap token EC %zu is not the checksum length %zu", ec, c->cks);
            return -1;
        }
        if (blen < c->cks) {
            fr_errf(why, whylen, "integrity wrap token of %zu bytes is too short for its checksum", n);
            return -1;
        }
        len = blen - c->cks;
        uint8_t h[HDR];
        memcpy(h, tok, HDR);
        memset(h + 4, 0, 4); /* EC and RRC count as zero */
        if (!mac3(c, c->kc_recv, body, len, h, HDR, NULL, 0, tag))
            goto ossl;
        if (CRYPTO_memcmp(tag, body + len, c->cks) != 0) {
            fr_errf(why, whylen, "integrity wrap token has a bad checksum");
            return -1;
        }
        memmove(out, body, len);
        *sealed = false;
    }
    if (seq != c->recv_seq) {
        fr_errf(why, whylen, "wrap token sequence number %llu, expected %llu (replayed, lost or reordered)",
                (unsigned long long)seq, (unsigned long long)c->recv_seq);
        return -1;
    }
    c->recv_seq++;
    *outlen = len;
    return 0;
ossl:
    fr_errf(why, whylen, "OpenSSL failed to check a wrap token");
    return -1;
}
