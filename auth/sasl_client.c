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

#include "RpcHeader.pb-c.h"
#include "clock.h"
#include "ipc.h"
#include "log.h"
#include "sasl_cyrus.h"

#define SASLC_MAX_TOKEN (1u << 20) /* a GSSAPI token is a few KiB */

struct auth_ipc_client {
    struct auth_login *login;
    gss_cred_id_t cred; /* this handshake's credential (acquired at INITIATE) */
    sasl_conn_t *conn;  /* NULL until INITIATE */
    char service[64];   /* "nn" */
    char host[256];     /* "nn1.example.com": _HOST replaced */
    bool negotiated;    /* the NEGOTIATE answer came */
    bool done;
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

static int send_sasl(struct buf *out, int state, const char *tok, unsigned toklen, const char *method, const char *mech,
                     const char *protocol, const char *server_id)
{
    Hadoop__Common__RpcSaslProto m = HADOOP__COMMON__RPC_SASL_PROTO__INIT;
    Hadoop__Common__RpcSaslProto__SaslAuth a, *ap = &a;
    m.state = state;
    if (tok || state == HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__RESPONSE ||
        state == HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__INITIATE) {
        m.has_token = 1;
        m.token.data = (uint8_t *)tok;
        m.token.len = toklen;
    }
    if (method) {
        hadoop__common__rpc_sasl_proto__sasl_auth__init(&a);
        a.method = (char *)method;
        a.mechanism = (char *)mech;
        a.protocol = (char *)protocol;
        a.serverid = (char *)server_id;
        m.n_auths = 1;
        m.auths = &ap;
    }
    return ipc_write_sasl_call(out, &m.base) == IPC_OK ? 0 : -1;
}

int auth_ipc_client_begin(struct auth_ipc_client *c, struct buf *out)
{
    if (ipc_write_preamble(out, IPC_AUTH_SASL) != IPC_OK)
        return -1;
    return send_sasl(out, HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__NEGOTIATE, NULL, 0, NULL, NULL, NULL, NULL);
}

static enum auth_ipc_client_rc sasl_failed(struct auth_ipc_client *c, int rc, const char **cls, char *why,
                                           size_t whylen)
{
    const char *d = c->conn ? sasl_errdetail(c->conn) : NULL;
    *cls = "javax.security.sasl.SaslException";
    snprintf(why, whylen, "GSS initiate failed for %s@%s as %s: %s", c->service, c->host,
             auth_login_principal(c->login), d ? d : sasl_errstring(rc, NULL, NULL));
    return AUTH_IPC_FAILED;
}

/* The NEGOTIATE answer: start GSSAPI when it offers KERBEROS for the
 * principal we expect. */
static enum auth_ipc_client_rc on_negotiate(struct auth_ipc_client *c, const Hadoop__Common__RpcSaslProto *m,
                                            struct buf *out, const char **cls, char *why, size_t whylen)
{
    const Hadoop__Common__RpcSaslProto__SaslAuth *k = NULL;
    for (size_t i = 0; i < m->n_auths; i++)
        if (m->auths[i]->method && !strcmp(m->auths[i]->method, "KERBEROS") && m->auths[i]->mechanism &&
            !strcmp(m->auths[i]->mechanism, "GSSAPI"))
            k = m->auths[i];
    *cls = "org.apache.hadoop.security.AccessControlException";
    if (!k) {
        snprintf(why, whylen, "the NameNode does not offer Kerberos (KERBEROS/GSSAPI)");
        return AUTH_IPC_FAILED;
    }
    /* Hadoop's client checks the offered server principal against the one
     * it is configured with (SaslRpcClient.getServerPrincipal). */
    if (!k->protocol || !k->serverid || strcmp(k->protocol, c->service) || strcasecmp(k->serverid, c->host)) {
        snprintf(why, whylen, "Server has invalid Kerberos principal: %s/%s, expecting: %s/%s",
                 k->protocol ? k->protocol : "", k->serverid ? k->serverid : "", c->service, c->host);
        return AUTH_IPC_FAILED;
    }
    /* Before the first step: the credential (the renewal happens here). */
    if (auth_login_cred(c->login, &c->cred, why, whylen) < 0) {
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
        (rc = sasl_setprop(c->conn, SASL_GSS_CREDS, c->cred)) != SASL_OK)
        return sasl_failed(c, rc, cls, why, whylen);
    const char *tok = NULL, *mech = NULL;
    unsigned toklen = 0;
    uint64_t t0 = fr_mono_us();
    rc = sasl_client_start(c->conn, "GSSAPI", NULL, &tok, &toklen, &mech);
    uint64_t took = fr_mono_us() - t0;
    if (rc != SASL_OK && rc != SASL_CONTINUE)
        return sasl_failed(c, rc, cls, why, whylen);
    /* Without a cached service ticket this step asked the KDC, on the
     * caller's loop: say how long that took. */
    if (took >= 2000)
        fr_info("kerberos: first GSSAPI step for %s@%s took %.1f ms (KDC round trip)", c->service, c->host,
                took / 1000.0);
    else if (fr_log_on(FR_LOG_DEBUG))
        fr_debug("kerberos: first GSSAPI step for %s@%s took %.3f ms", c->service, c->host, took / 1000.0);
    if (send_sasl(out, HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__INITIATE, tok, toklen, "KERBEROS", "GSSAPI",
                  k->protocol, k->serverid) < 0) {
        snprintf(why, whylen, "out of memory");
        return AUTH_IPC_FAILED;
    }
    return AUTH_IPC_CONTINUE;
}

enum auth_ipc_client_rc auth_ipc_client_frame(struct auth_ipc_client *c, const uint8_t *body, size_t len,
                                              struct buf *out, const char **cls, char *why, size_t whylen)
{
    struct ipc_reply r;
    *cls = "java.io.IOException";
    if (ipc_parse_reply(body, len, &r) != IPC_OK) {
        snprintf(why, whylen, "malformed reply from the NameNode during the SASL exchange");
        return AUTH_IPC_FAILED;
    }
    if (r.status != IPC_SUCCESS) {
        char msg[512];
        ipc_span_copy(r.exception_class, c->cls, sizeof c->cls);
        ipc_span_copy(r.error_msg, msg, sizeof msg);
        *cls = c->cls[0] ? c->cls : "java.io.IOException";
        snprintf(why, whylen, "%s", msg);
        return AUTH_IPC_REFUSED;
    }
    if (r.call_id != IPC_CALLID_SASL || c->done) {
        snprintf(why, whylen, "a reply with call id %d during the SASL exchange", (int)r.call_id);
        return AUTH_IPC_FAILED;
    }
    Hadoop__Common__RpcSaslProto *m = hadoop__common__rpc_sasl_proto__unpack(NULL, r.payload.len, r.payload.p);
    if (!m) {
        snprintf(why, whylen, "malformed RpcSaslProto from the NameNode");
        return AUTH_IPC_FAILED;
    }
    enum auth_ipc_client_rc ret = AUTH_IPC_FAILED;
    int rc;
    const char *tok = NULL;
    unsigned toklen = 0;
    if (m->has_token && m->token.len > SASLC_MAX_TOKEN) {
        snprintf(why, whylen, "a SASL token of %zu bytes from the NameNode", m->token.len);
        goto out;
    }
    switch (m->state) {
    case HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__NEGOTIATE:
        if (c->negotiated) {
            snprintf(why, whylen, "a second NEGOTIATE from the NameNode");
            break;
        }
        c->negotiated = true;
        ret = on_negotiate(c, m, out, cls, why, whylen);
        break;
    case HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__CHALLENGE:
        if (!c->conn) {
            snprintf(why, whylen, "a CHALLENGE before INITIATE");
            break;
        }
        rc = sasl_client_step(c->conn, (const char *)m->token.data, (unsigned)m->token.len, NULL, &tok, &toklen);
        if (rc != SASL_OK && rc != SASL_CONTINUE) {
            ret = sasl_failed(c, rc, cls, why, whylen);
            break;
        }
        if (send_sasl(out, HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__RESPONSE, tok, toklen, NULL, NULL, NULL, NULL) <
            0) {
            snprintf(why, whylen, "out of memory");
            break;
        }
        ret = AUTH_IPC_CONTINUE;
        break;
    case HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__SUCCESS:
        if (!c->conn) {
            /* A NameNode that only allows SIMPLE answers SUCCESS at once:
             * Hadoop's client refuses to fall back unless told to. */
            *cls = "org.apache.hadoop.security.AccessControlException";
            snprintf(why, whylen,
                     "Server asks us to fall back to SIMPLE auth, but this client is configured to "
                     "only allow secure connections.");
            break;
        }
        if (m->has_token && m->token.len) {
            rc = sasl_client_step(c->conn, (const char *)m->token.data, (unsigned)m->token.len, NULL, &tok, &toklen);
            if (rc != SASL_OK) {
                ret = sasl_failed(c, rc, cls, why, whylen);
                break;
            }
        }
        const void *v = NULL;
        if (sasl_getprop(c->conn, SASL_SSF, &v) == SASL_OK && v)
            c->ssf = *(const unsigned *)v;
        c->done = true;
        /* The credential served the exchange only; the security context
         * keeps its own keys. Let go of it now, so that a long-lived
         * connection holds no handle on a cache the renewer retires. */
        OM_uint32 min;
        if (c->cred != GSS_C_NO_CREDENTIAL)
            gss_release_cred(&min, &c->cred);
        ret = AUTH_IPC_DONE;
        break;
    default: snprintf(why, whylen, "unexpected SASL state %d from the NameNode", (int)m->state); break;
    }
out:
    hadoop__common__rpc_sasl_proto__free_unpacked(m, NULL);
    return ret;
}
