/*
 * sasl_client.c: the router's Kerberos login and its SASL GSSAPI client
 * for Hadoop IPC. See sasl_client.h.
 *
 *   login (krb_login.c): keytab --AS-REQ--> TGT in MEMORY:fedrouter-login-N,
 *           renewed and service tickets fetched on its own thread
 *   conn:   preamble 0xDF, NEGOTIATE  --->
 *                                     <--- NEGOTIATE [KERBEROS/GSSAPI nn@host, ...]
 *           INITIATE (AP-REQ)         --->      (sasl_client_start; may TGS-REQ)
 *                                     <--- CHALLENGE
 *           RESPONSE                  --->      (sasl_client_step) ...
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

#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <krb5.h>
#include <sasl/sasl.h>

#include "clock.h"
#include "log.h"
#include "sasl_client_wire.h"
#include "sasl_cyrus.h"

struct auth_ipc_client {
    struct auth_login *login; /* NULL: GSSAPI's default credentials */
    gss_cred_id_t cred;       /* this handshake's credential (acquired at INITIATE) */
    sasl_conn_t *conn;        /* NULL until INITIATE (the NEGOTIATE answer came) */
    char service[64];         /* "nn" */
    char host[256];           /* "nn1.example.com": _HOST replaced */
    bool complete;            /* the GSSAPI side finished (a step said SASL_OK) */
    bool done;
    bool failed; /* an answer other than CONTINUE was given: nothing more is read */
    unsigned ssf;
    char cls[160]; /* the NameNode's exception class on REFUSED */
};

/* ---- Cyrus process state ---- */

static pthread_once_t client_once = PTHREAD_ONCE_INIT;
static int client_init_rc = SASL_FAIL;

/* No authorization id: the NameNode takes the authenticated principal, as
 * with Hadoop's Java client (Cyrus would otherwise send $USER). */
static int user_cb(void *ctx, int id, const char **result, unsigned *len)
{
    *result = "";
    if (len)
        *len = 0;
    return SASL_OK;
}

static const sasl_callback_t global_cbs[] = {
    { SASL_CB_LOG, (int (*)(void))(void (*)(void))sasl_cyrus_log, (void *)"sasl client" },
    { SASL_CB_LIST_END, NULL, NULL },
};

static const sasl_callback_t conn_cbs[] = {
    { SASL_CB_USER, (int (*)(void))(void (*)(void))user_cb, NULL },
    { SASL_CB_LOG, (int (*)(void))(void (*)(void))sasl_cyrus_log, (void *)"sasl client" },
    { SASL_CB_LIST_END, NULL, NULL },
};

static void client_global_init(void)
{
    sasl_cyrus_set_mutexes();
    client_init_rc = sasl_client_init(global_cbs);
}

int auth_sasl_client_init(char *why, size_t whylen)
{
    pthread_once(&client_once, client_global_init);
    if (client_init_rc != SASL_OK) {
        snprintf(why, whylen, "Cyrus SASL client: %s", sasl_errstring(client_init_rc, NULL, NULL));
        return -1;
    }
    return 0;
}

/* ---- the IPC handshake ---- */

struct auth_ipc_client *auth_ipc_client_new(struct auth_login *l, const char *principal, const char *nn_host, char *why,
                                            size_t whylen)
{
    /* With a login, auth_login_new has set Cyrus up; without, do it here. */
    if (!l && auth_sasl_client_init(why, whylen) < 0)
        return NULL;
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
    if (c->conn)
        sasl_dispose(&c->conn);
    OM_uint32 min;
    if (c->cred != GSS_C_NO_CREDENTIAL)
        gss_release_cred(&min, &c->cred);
    free(c);
}

unsigned auth_ipc_client_ssf(const struct auth_ipc_client *c) { return c->ssf; }
void *auth_ipc_client_sasl_conn(struct auth_ipc_client *c) { return c->conn; }

int auth_ipc_client_begin(struct auth_ipc_client *c, struct buf *out)
{
    (void)c;
    return saslc_write_begin(out);
}

static enum auth_ipc_client_rc sasl_failed(struct auth_ipc_client *c, int rc, const char **cls, char *why,
                                           size_t whylen)
{
    const char *d = c->conn ? sasl_errdetail(c->conn) : NULL;
    *cls = "javax.security.sasl.SaslException";
    snprintf(why, whylen, "GSS initiate failed for %s@%s as %s: %s", c->service, c->host,
             c->login ? auth_login_principal(c->login) : "the default credentials",
             d ? d : sasl_errstring(rc, NULL, NULL));
    return AUTH_IPC_FAILED;
}

/* The NEGOTIATE answer offers KERBEROS for the principal we expect (r):
 * start GSSAPI and send its first token. */
static enum auth_ipc_client_rc on_negotiate(struct auth_ipc_client *c, const struct saslc_reply *r, struct buf *out,
                                            const char **cls, char *why, size_t whylen)
{
    /* Before the first step: the credential (the renewal happens here).
     * Without a login, Cyrus takes GSSAPI's default one. */
    if (c->login && auth_login_cred(c->login, &c->cred, why, whylen) < 0) {
        *cls = "javax.security.sasl.SaslException";
        return AUTH_IPC_FAILED;
    }
    int rc = sasl_client_new(c->service, c->host, NULL, NULL, conn_cbs, 0, &c->conn);
    if (rc != SASL_OK)
        return sasl_failed(c, rc, cls, why, whylen);
    /* Whatever layer the NameNode's hadoop.rpc.protection asks for (Cyrus
     * takes the strongest it offers); a large buffer so that a reply is
     * never split across tokens. */
    sasl_security_properties_t sp = { .min_ssf = 0, .max_ssf = 256, .maxbufsize = 0xFFFFFF };
    if ((rc = sasl_setprop(c->conn, SASL_SEC_PROPS, &sp)) != SASL_OK ||
        (c->cred != GSS_C_NO_CREDENTIAL && (rc = sasl_setprop(c->conn, SASL_GSS_CREDS, c->cred)) != SASL_OK))
        return sasl_failed(c, rc, cls, why, whylen);
    const char *tok = NULL, *mech = NULL;
    unsigned toklen = 0;
    uint64_t t0 = fr_mono_us();
    rc = sasl_client_start(c->conn, "GSSAPI", NULL, &tok, &toklen, &mech);
    uint64_t took = fr_mono_us() - t0;
    if (rc != SASL_OK && rc != SASL_CONTINUE)
        return sasl_failed(c, rc, cls, why, whylen);
    c->complete = rc == SASL_OK;
    /* Without a cached service ticket this step asked the KDC, on the
     * caller's loop: say how long that took. */
    if (took >= 2000)
        fr_info("kerberos: first GSSAPI step for %s@%s took %.1f ms (KDC round trip)", c->service, c->host,
                took / 1000.0);
    else if (fr_log_on(FR_LOG_DEBUG))
        fr_debug("kerberos: first GSSAPI step for %s@%s took %.3f ms", c->service, c->host, took / 1000.0);
    if (saslc_write_initiate(out, tok, toklen, r->protocol, r->server_id) < 0) {
        snprintf(why, whylen, "out of memory");
        return AUTH_IPC_FAILED;
    }
    return AUTH_IPC_CONTINUE;
}

static enum auth_ipc_client_rc on_challenge(struct auth_ipc_client *c, const struct saslc_reply *r, struct buf *out,
                                            const char **cls, char *why, size_t whylen)
{
    const char *tok = NULL;
    unsigned toklen = 0;
    int rc = sasl_client_step(c->conn, (const char *)r->token, (unsigned)r->token_len, NULL, &tok, &toklen);
    if (rc != SASL_OK && rc != SASL_CONTINUE)
        return sasl_failed(c, rc, cls, why, whylen);
    c->complete = rc == SASL_OK;
    if (saslc_write_response(out, tok, toklen) < 0) {
        snprintf(why, whylen, "out of memory");
        return AUTH_IPC_FAILED;
    }
    return AUTH_IPC_CONTINUE;
}

static enum auth_ipc_client_rc on_success(struct auth_ipc_client *c, const struct saslc_reply *r, const char **cls,
                                          char *why, size_t whylen)
{
    if (r->has_token && r->token_len) {
        const char *tok = NULL;
        unsigned toklen = 0;
        int rc = sasl_client_step(c->conn, (const char *)r->token, (unsigned)r->token_len, NULL, &tok, &toklen);
        if (rc != SASL_OK)
            return sasl_failed(c, rc, cls, why, whylen);
        c->complete = true;
    }
    /* SUCCESS before GSSAPI finished on our side: the NameNode has not
     * proved who it is (mutual authentication) nor agreed on a layer.
     * Hadoop's client refuses this too (SaslRpcClient.saslEvaluateToken). */
    if (!c->complete) {
        *cls = "javax.security.sasl.SaslException";
        snprintf(why, whylen, "Client is out of sync with server: SUCCESS from %s@%s before GSSAPI completed",
                 c->service, c->host);
        return AUTH_IPC_FAILED;
    }
    const void *v = NULL;
    if (sasl_getprop(c->conn, SASL_SSF, &v) == SASL_OK && v)
        c->ssf = *(const unsigned *)v;
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
    *cls = "java.io.IOException";
    if (c->failed) {
        snprintf(why, whylen, "the SASL exchange with %s@%s has failed already", c->service, c->host);
        return AUTH_IPC_FAILED;
    }
    /* A NEGOTIATE answer either starts GSSAPI (conn set) or fails the
     * exchange, so while frames are still read the two are the same. */
    const struct saslc_expect e = {
        .service = c->service,
        .host = c->host,
        .negotiated = c->conn != NULL,
        .started = c->conn != NULL,
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
