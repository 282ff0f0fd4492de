/*
 * gss_sasl.c: RFC 4752 (SASL GSSAPI) on MIT's GSS-API. See gss_sasl.h.
 */
#include "gss_sasl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gssapi/gssapi_krb5.h>

#include "errmsg.h"
#include "krb_login.h"
#include "sec_layer.h"

/* The largest token we take, as both sides say it (24 bits). */
#define GSS_SASL_MAXBUF 0xFFFFFFu

enum state {
    S_CTX,    /* the context is being established */
    S_OFFER,  /* server: the offer goes with the next step; client: the offer comes next */
    S_CHOICE, /* server: the client's choice comes next */
    S_DONE,
};

struct gss_sasl {
    bool server;
    enum state st;
    unsigned layers; /* server: offered; client: accepted */
    unsigned layer;  /* agreed */
    uint32_t peer_max;
    unsigned unwrapped; /* tokens MIT unwrapped on ctx */
    gss_ctx_id_t ctx;
    gss_cred_id_t cred; /* server: acquired (ours); client: borrowed */
    gss_name_t target;  /* client: the service */
    gss_buffer_desc out;
    char service[64], host[256];
    char principal[512];
};

static gss_name_t import_service(const char *service, const char *host, char *why, size_t whylen)
{
    char hb[512];
    int n = snprintf(hb, sizeof hb, "%s@%s", service, host);
    if (n < 0 || (size_t)n >= sizeof hb)
        return fr_errf(why, whylen, "service name %s/%s is too long", service, host), GSS_C_NO_NAME;
    OM_uint32 min, maj;
    gss_buffer_desc nb = { (size_t)n, hb };
    gss_name_t name = GSS_C_NO_NAME;
    maj = gss_import_name(&min, &nb, GSS_C_NT_HOSTBASED_SERVICE, &name);
    if (maj != GSS_S_COMPLETE)
        return auth_gss_why(maj, min, why, whylen, "gss_import_name"), GSS_C_NO_NAME;
    return name;
}

static struct gss_sasl *alloc(bool server, const char *service, const char *host, unsigned layers)
{
    struct gss_sasl *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->server = server;
    g->layers = layers & (GSS_SASL_NONE | GSS_SASL_INTEGRITY | GSS_SASL_PRIVACY);
    g->ctx = GSS_C_NO_CONTEXT;
    g->cred = GSS_C_NO_CREDENTIAL;
    g->target = GSS_C_NO_NAME;
    snprintf(g->service, sizeof g->service, "%s", service);
    snprintf(g->host, sizeof g->host, "%s", host);
    return g;
}

struct gss_sasl *gss_sasl_server_new(const char *service, const char *host, unsigned layers, char *why, size_t whylen)
{
    struct gss_sasl *g = alloc(true, service, host, layers);
    if (!g)
        return fr_errf(why, whylen, "out of memory"), NULL;
    /* Only this service's key accepts, as Cyrus's plugin does. */
    gss_name_t name = import_service(service, host, why, whylen);
    if (name == GSS_C_NO_NAME) {
        gss_sasl_free(g);
        return NULL;
    }
    OM_uint32 min, maj;
    maj = gss_acquire_cred(&min, name, GSS_C_INDEFINITE, GSS_C_NO_OID_SET, GSS_C_ACCEPT, &g->cred, NULL, NULL);
    gss_release_name(&min, &name);
    if (maj != GSS_S_COMPLETE) {
        auth_gss_why(maj, min, why, whylen, "gss_acquire_cred (acceptor)");
        gss_sasl_free(g);
        return NULL;
    }
    return g;
}

struct gss_sasl *gss_sasl_client_new(const char *service, const char *host, gss_cred_id_t cred, unsigned layers,
                                     char *why, size_t whylen)
{
    struct gss_sasl *g = alloc(false, service, host, layers);
    if (!g)
        return fr_errf(why, whylen, "out of memory"), NULL;
    g->target = import_service(service, host, why, whylen);
    if (g->target == GSS_C_NO_NAME) {
        gss_sasl_free(g);
        return NULL;
    }
    g->cred = cred;
    return g;
}

void gss_sasl_free(struct gss_sasl *g)
{
    if (!g)
        return;
    OM_uint32 min;
    gss_release_buffer(&min, &g->out);
    if (g->ctx != GSS_C_NO_CONTEXT)
        gss_delete_sec_context(&min, &g->ctx, GSS_C_NO_BUFFER);
    if (g->server && g->cred != GSS_C_NO_CREDENTIAL)
        gss_release_cred(&min, &g->cred);
    if (g->target != GSS_C_NO_NAME)
        gss_release_name(&min, &g->target);
    free(g);
}

unsigned gss_sasl_layer(const struct gss_sasl *g) { return g->layer; }
unsigned gss_sasl_ssf(const struct gss_sasl *g)
{
    return g->layer == GSS_SASL_PRIVACY ? 256 : g->layer == GSS_SASL_INTEGRITY ? 1 : 0;
}
const char *gss_sasl_principal(const struct gss_sasl *g) { return g->principal; }

/* The strongest layer in mask. */
static unsigned strongest(unsigned mask)
{
    return mask & GSS_SASL_PRIVACY     ? GSS_SASL_PRIVACY
           : mask & GSS_SASL_INTEGRITY ? GSS_SASL_INTEGRITY
                                       : mask & GSS_SASL_NONE;
}

/* g->out = the 4-byte layer message (layer bits, max buffer), with
 * integrity only, as RFC 4752 has it. The max buffer is 0 when the bits
 * name no layer but "none" (RFC 4752 3.1 and 3.3). */
static int wrap_layers(struct gss_sasl *g, unsigned bits, char *why, size_t whylen)
{
    OM_uint32 min, maj;
    gss_release_buffer(&min, &g->out);
    uint32_t maxbuf = bits & (GSS_SASL_INTEGRITY | GSS_SASL_PRIVACY) ? GSS_SASL_MAXBUF : 0;
    uint8_t m[4] = { (uint8_t)bits, (uint8_t)(maxbuf >> 16), (uint8_t)(maxbuf >> 8), (uint8_t)maxbuf };
    gss_buffer_desc in = { sizeof m, m };
    int conf_state;
    maj = gss_wrap(&min, g->ctx, 0, GSS_C_QOP_DEFAULT, &in, &conf_state, &g->out);
    if (maj != GSS_S_COMPLETE)
        return auth_gss_why(maj, min, why, whylen, "gss_wrap"), -1;
    return 0;
}

/* The authzid, if any, must be the authenticated principal. */
static int check_authzid(struct gss_sasl *g, const char *z, size_t zl, char *why, size_t whylen)
{
    if (!zl)
        return 0;
    size_t pl = strlen(g->principal);
    const char *at = strrchr(g->principal, '@');
    size_t short_len = at ? (size_t)(at - g->principal) : pl;
    if ((zl == pl && !memcmp(z, g->principal, pl)) || (zl == short_len && !memcmp(z, g->principal, short_len)))
        return 0;
    return fr_errf(why, whylen, "%s asked to be authorized as '%.*s'", g->principal, (int)(zl > 200 ? 200 : zl), z), -1;
}

/* Unwraps the peer's layer message and takes from it the peer's max buffer
 * and *layer, the strongest layer both sides allow; a client's message may
 * go on with an authzid, which must be its principal. */
static int take_layers(struct gss_sasl *g, const uint8_t *in, size_t inlen, unsigned *layer, char *why, size_t whylen)
{
    gss_buffer_desc tok = { inlen, (void *)in }, pt = GSS_C_EMPTY_BUFFER;
    OM_uint32 min, maj;
    int conf_state = 0, rc = -1;
    gss_qop_t qop;
    maj = gss_unwrap(&min, g->ctx, &tok, &pt, &conf_state, &qop);
    if (maj != GSS_S_COMPLETE) {
        auth_gss_why(maj, min, why, whylen, "gss_unwrap of the security layer message");
        goto out;
    }
    g->unwrapped++;
    if (pt.length < 4) {
        fr_errf(why, whylen, "a security layer message of %zu bytes", pt.length);
        goto out;
    }
    const uint8_t *p = pt.value;
    g->peer_max = (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    *layer = strongest(p[0] & g->layers);
    if (!*layer)
        fr_errf(why, whylen, "the %s layers 0x%02x share none with ours, 0x%02x",
                g->server ? "client's chosen" : "server's offered", p[0], g->layers);
    else
        rc = g->server ? check_authzid(g, (const char *)p + 4, pt.length - 4, why, whylen) : 0;
out:
    gss_release_buffer(&min, &pt);
    return rc;
}

static enum gss_sasl_rc server_step(struct gss_sasl *g, const uint8_t *in, size_t inlen, char *why, size_t whylen)
{
    OM_uint32 min, maj;
    if (g->st == S_CTX) {
        gss_buffer_desc tok = { inlen, (void *)in };
        gss_name_t src = GSS_C_NO_NAME;
        maj = gss_accept_sec_context(&min, &g->ctx, g->cred, &tok, GSS_C_NO_CHANNEL_BINDINGS, &src, NULL, &g->out, NULL,
                                     NULL, NULL);
        if (GSS_ERROR(maj)) {
            if (src != GSS_C_NO_NAME)
                gss_release_name(&min, &src);
            auth_gss_why(maj, min, why, whylen, "gss_accept_sec_context");
            return GSS_SASL_FAILED;
        }
        if (maj & GSS_S_CONTINUE_NEEDED)
            return GSS_SASL_CONTINUE;
        gss_buffer_desc nb = GSS_C_EMPTY_BUFFER;
        maj = gss_display_name(&min, src, &nb, NULL);
        gss_release_name(&min, &src);
        if (maj != GSS_S_COMPLETE || !nb.length || nb.length >= sizeof g->principal) {
            gss_release_buffer(&min, &nb);
            fr_errf(why, whylen, "no usable client name after authentication");
            return GSS_SASL_FAILED;
        }
        memcpy(g->principal, nb.value, nb.length);
        g->principal[nb.length] = '\0';
        gss_release_buffer(&min, &nb);
        /* The last context token first (mutual authentication); the
         * client answers it with an empty one. */
        g->st = S_OFFER;
        if (g->out.length)
            return GSS_SASL_CONTINUE;
    }
    if (g->st == S_OFFER) {
        if (wrap_layers(g, g->layers, why, whylen) < 0)
            return GSS_SASL_FAILED;
        g->st = S_CHOICE;
        return GSS_SASL_CONTINUE;
    }
    if (g->st != S_CHOICE) {
        fr_errf(why, whylen, "a SASL token after the exchange finished");
        return GSS_SASL_FAILED;
    }
    unsigned layer = 0;
    if (take_layers(g, in, inlen, &layer, why, whylen) < 0)
        return GSS_SASL_FAILED;
    g->layer = layer;
    g->st = S_DONE;
    return GSS_SASL_DONE;
}

static enum gss_sasl_rc client_step(struct gss_sasl *g, const uint8_t *in, size_t inlen, char *why, size_t whylen)
{
    OM_uint32 min, maj;
    if (g->st == S_CTX) {
        gss_buffer_desc tok = { inlen, (void *)in };
        maj = gss_init_sec_context(&min, g->cred, &g->ctx, g->target, (gss_OID)gss_mech_krb5,
                                   GSS_C_MUTUAL_FLAG | GSS_C_SEQUENCE_FLAG | GSS_C_INTEG_FLAG | GSS_C_CONF_FLAG, 0,
                                   GSS_C_NO_CHANNEL_BINDINGS, in ? &tok : GSS_C_NO_BUFFER, NULL, &g->out, NULL, NULL);
        if (GSS_ERROR(maj)) {
            auth_gss_why(maj, min, why, whylen, "gss_init_sec_context");
            return GSS_SASL_FAILED;
        }
        if (!(maj & GSS_S_CONTINUE_NEEDED))
            g->st = S_OFFER;
        return GSS_SASL_CONTINUE;
    }
    if (g->st != S_OFFER) {
        fr_errf(why, whylen, "a SASL challenge after the exchange finished");
        return GSS_SASL_FAILED;
    }
    unsigned layer = 0;
    if (take_layers(g, in, inlen, &layer, why, whylen) < 0 || wrap_layers(g, layer, why, whylen) < 0)
        return GSS_SASL_FAILED;
    g->layer = layer;
    g->st = S_DONE;
    return GSS_SASL_DONE;
}

enum gss_sasl_rc gss_sasl_step(struct gss_sasl *g, const uint8_t *in, size_t inlen, const uint8_t **out, size_t *outlen,
                               char *why, size_t whylen)
{
    OM_uint32 min;
    gss_release_buffer(&min, &g->out);
    enum gss_sasl_rc rc = g->server ? server_step(g, in, inlen, why, whylen) : client_step(g, in, inlen, why, whylen);
    *out = rc == GSS_SASL_FAILED ? NULL : g->out.value;
    *outlen = rc == GSS_SASL_FAILED ? 0 : g->out.length;
    return rc;
}

struct sec_layer *gss_sasl_take_layer(struct gss_sasl *g, char *why, size_t whylen)
{
    if (g->st != S_DONE || !(g->layer & (GSS_SASL_INTEGRITY | GSS_SASL_PRIVACY)) || g->ctx == GSS_C_NO_CONTEXT)
        return fr_errf(why, whylen, "no security layer was agreed"), NULL;
    return sec_layer_from_gss(&g->ctx, g->layer == GSS_SASL_PRIVACY, g->peer_max, g->unwrapped, why, whylen);
}
