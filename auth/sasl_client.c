/*
 * sasl_client.c: the router's SASL GSSAPI client for Hadoop IPC (the
 * mechanism is gss_sasl.c). See sasl_client.h.
 *
 *   login (krb_login.c): keytab --AS-REQ--> TGT in MEMORY:fedrouter-login-N,
 *           renewed and service tickets fetched on its own thread
 *   conn:   preamble 0xDF, NEGOTIATE  --->
 *                                     <--- NEGOTIATE [KERBEROS/GSSAPI nn@host, ...]
 *           INITIATE (AP-REQ)         --->      (gss_init_sec_context; may TGS-REQ)
 *                                     <--- CHALLENGE
 *           RESPONSE                  --->      (the layer choice) ...
 *                                     <--- SUCCESS
 */
#define _GNU_SOURCE
#include "krb_login.h"
#include "sasl_client.h"
#include "sasl_server.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <gssapi/gssapi_krb5.h>

#include "clock.h"
#include "gss_sasl.h"
#include "jexc.h"
#include "log.h"
#include "sasl_client_wire.h"
#include "sec_layer.h"

struct auth_ipc_client {
    struct auth_login *login; /* NULL: GSSAPI's default credentials */
    gss_cred_id_t cred;       /* this handshake's credential (acquired at INITIATE) */
    struct gss_sasl *gss;     /* NULL until INITIATE (the NEGOTIATE answer came) */
    struct sec_layer *layer;  /* after DONE with a layer */
    char service[64];         /* "nn" */
    char host[256];           /* "nn1.example.com": _HOST replaced */
    bool done;                /* SUCCESS came after our side finished */
    bool failed;              /* an answer other than CONTINUE was given: nothing more is read */
    char cls[160];            /* the NameNode's exception class on REFUSED */
};

/* ---- the IPC handshake ---- */

struct auth_ipc_client *auth_ipc_client_new(struct auth_login *l, const char *principal, const char *nn_host, char *why,
                                            size_t whylen)
{
    struct auth_ipc_client *c = calloc(1, sizeof *c);
    if (!c)
        return snprintf(why, whylen, "out of memory"), NULL;
    c->login = l;
    c->cred = GSS_C_NO_CREDENTIAL;
    if (auth_login_resolve(l, principal, nn_host, c->service, sizeof c->service, c->host, sizeof c->host) < 0) {
        snprintf(why, whylen, "NameNode principal '%s' is not service/host@REALM", principal);
        free(c);
        return NULL;
    }
    return c;
}

void auth_ipc_client_free(struct auth_ipc_client *c)
{
    if (!c)
        return;
    sec_layer_free(c->layer);
    gss_sasl_free(c->gss);
    OM_uint32 min;
    if (c->cred != GSS_C_NO_CREDENTIAL)
        gss_release_cred(&min, &c->cred);
    free(c);
}

unsigned auth_ipc_client_ssf(const struct auth_ipc_client *c) { return c->done ? gss_sasl_ssf(c->gss) : 0; }
struct sec_layer *auth_ipc_client_layer(struct auth_ipc_client *c) { return c->layer; }

int auth_ipc_client_begin(struct auth_ipc_client *c, struct buf *out)
{
    (void)c;
    return saslc_write_begin(out);
}

static enum auth_ipc_client_rc gss_failed(struct auth_ipc_client *c, const char *reason, const char **cls, char *why,
                                          size_t whylen)
{
    *cls = "javax.security.sasl.SaslException";
    snprintf(why, whylen, "GSS initiate failed for %s@%s as %s: %s", c->service, c->host,
             c->login ? auth_login_principal(c->login) : "the default credentials", reason);
    return AUTH_IPC_FAILED;
}

/* The NEGOTIATE answer offers KERBEROS for the principal we expect (r):
 * start GSSAPI and send its first token. */
static enum auth_ipc_client_rc on_negotiate(struct auth_ipc_client *c, const struct saslc_reply *r, struct buf *out,
                                            const char **cls, char *why, size_t whylen)
{
    /* Before the first step: the credential (the renewal happens here).
     * Without a login, GSSAPI takes its default one. */
    if (c->login && auth_login_cred(c->login, &c->cred, why, whylen) < 0) {
        *cls = "javax.security.sasl.SaslException";
        return AUTH_IPC_FAILED;
    }
    char reason[400];
    /* Whatever layer the NameNode's hadoop.rpc.protection asks for: the
     * strongest it offers. */
    c->gss = gss_sasl_client_new(c->service, c->host, c->cred, GSS_SASL_NONE | GSS_SASL_INTEGRITY | GSS_SASL_PRIVACY,
                                 reason, sizeof reason);
    if (!c->gss)
        return gss_failed(c, reason, cls, why, whylen);
    const uint8_t *tok = NULL;
    size_t toklen = 0;
    uint64_t t0 = fr_mono_us();
    enum gss_sasl_rc rc = gss_sasl_step(c->gss, NULL, 0, &tok, &toklen, reason, sizeof reason);
    uint64_t took = fr_mono_us() - t0;
    if (rc == GSS_SASL_FAILED)
        return gss_failed(c, reason, cls, why, whylen);
    /* Without a cached service ticket this step asked the KDC, on the
     * caller's loop: say how long that took. */
    if (took >= 2000)
        fr_info("kerberos: first GSSAPI step for %s@%s took %.1f ms (KDC round trip)", c->service, c->host,
                took / 1000.0);
    else if (fr_log_on(FR_LOG_DEBUG))
        fr_debug("kerberos: first GSSAPI step for %s@%s took %.3f ms", c->service, c->host, took / 1000.0);
    if (saslc_write_initiate(out, (const char *)tok, (unsigned)toklen, r->protocol, r->server_id) < 0) {
        snprintf(why, whylen, "out of memory");
        return AUTH_IPC_FAILED;
    }
    return AUTH_IPC_CONTINUE;
}

static enum auth_ipc_client_rc on_challenge(struct auth_ipc_client *c, const struct saslc_reply *r, struct buf *out,
                                            const char **cls, char *why, size_t whylen)
{
    const uint8_t *tok = NULL;
    size_t toklen = 0;
    char reason[400];
    enum gss_sasl_rc rc = gss_sasl_step(c->gss, r->token, r->token_len, &tok, &toklen, reason, sizeof reason);
    if (rc == GSS_SASL_FAILED)
        return gss_failed(c, reason, cls, why, whylen);
    if (saslc_write_response(out, (const char *)tok, (unsigned)toklen) < 0) {
        snprintf(why, whylen, "out of memory");
        return AUTH_IPC_FAILED;
    }
    return AUTH_IPC_CONTINUE;
}

static enum auth_ipc_client_rc on_success(struct auth_ipc_client *c, const struct saslc_reply *r, const char **cls,
                                          char *why, size_t whylen)
{
    /* SUCCESS before GSSAPI finished on our side: the NameNode has not
     * proved who it is (mutual authentication) nor agreed on a layer.
     * Hadoop's client refuses this too (SaslRpcClient.saslEvaluateToken).
     * With GSSAPI the server's last word is a challenge, so SUCCESS brings
     * no token either. Our side has finished once it has a layer. */
    bool complete = c->gss && gss_sasl_layer(c->gss);
    if (!complete || (r->has_token && r->token_len)) {
        *cls = "javax.security.sasl.SaslException";
        snprintf(why, whylen, "Client is out of sync with server: SUCCESS from %s@%s %s", c->service, c->host,
                 complete ? "with a token after GSSAPI completed" : "before GSSAPI completed");
        return AUTH_IPC_FAILED;
    }
    if (gss_sasl_ssf(c->gss)) {
        char reason[400];
        c->layer = gss_sasl_take_layer(c->gss, reason, sizeof reason);
        if (!c->layer)
            return gss_failed(c, reason, cls, why, whylen);
    }
    c->done = true;
    /* The credential served the exchange only; the security context keeps
     * its own keys. Let go of it now, so that a long-lived connection holds
     * no handle on a cache the renewer retires. */
    OM_uint32 min;
    if (c->cred != GSS_C_NO_CREDENTIAL)
        gss_release_cred(&min, &c->cred);
    return AUTH_IPC_DONE;
}

enum auth_ipc_client_rc auth_ipc_client_frame(struct auth_ipc_client *c, const uint8_t *body, size_t len,
                                              struct buf *out, const char **cls, char *why, size_t whylen)
{
    *cls = JEXC_IO;
    if (c->failed) {
        snprintf(why, whylen, "the SASL exchange with %s@%s has failed already", c->service, c->host);
        return AUTH_IPC_FAILED;
    }
    /* A NEGOTIATE answer either starts GSSAPI (conn set) or fails the
     * exchange, so while frames are still read the two are the same. */
    const struct saslc_expect e = {
        .service = c->service,
        .host = c->host,
        .negotiated = c->gss != NULL,
        .started = c->gss != NULL,
        .done = c->done,
    };
    struct saslc_reply r;
    enum auth_ipc_client_rc ret = AUTH_IPC_FAILED;
    switch (saslc_read(&e, body, len, &r, why, whylen)) {
    case SASLC_REFUSED:
        snprintf(c->cls, sizeof c->cls, "%s", r.cls);
        *cls = c->cls;
        ret = AUTH_IPC_REFUSED;
        break;
    case SASLC_BAD: *cls = r.cls; break;
    case SASLC_NEGOTIATE: ret = on_negotiate(c, &r, out, cls, why, whylen); break;
    case SASLC_CHALLENGE: ret = on_challenge(c, &r, out, cls, why, whylen); break;
    case SASLC_SUCCESS: ret = on_success(c, &r, cls, why, whylen); break;
    }
    saslc_reply_free(&r);
    if (ret != AUTH_IPC_CONTINUE && ret != AUTH_IPC_DONE)
        c->failed = true;
    return ret;
}
