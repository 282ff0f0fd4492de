/*
 * sasl_client_wire.c: reading the NameNode's replies during the SASL
 * exchange and writing the router's requests. See sasl_client_wire.h.
 */
#include "sasl_client_wire.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "RpcHeader.pb-c.h"
#include "ipc.h"
#include "jexc.h"

#define ACE JEXC_ACCESS_CONTROL

/* The last KERBEROS/GSSAPI entry of an offer (Hadoop's client takes the
 * first method it supports; a NameNode lists each method once). */
static const Hadoop__Common__RpcSaslProto__SaslAuth *kerberos_entry(const Hadoop__Common__RpcSaslProto *m)
{
    const Hadoop__Common__RpcSaslProto__SaslAuth *k = NULL;
    for (size_t i = 0; i < m->n_auths; i++) {
        const Hadoop__Common__RpcSaslProto__SaslAuth *a = m->auths[i];
        if (a->method && !strcmp(a->method, "KERBEROS") && a->mechanism && !strcmp(a->mechanism, "GSSAPI"))
            k = a;
    }
    return k;
}

/* A NEGOTIATE offer: KERBEROS/GSSAPI for the principal we expect, as
 * Hadoop's client checks it (SaslRpcClient.getServerPrincipal). */
static enum saslc_what read_offer(const struct saslc_expect *e, const Hadoop__Common__RpcSaslProto *m,
                                  struct saslc_reply *r, char *why, size_t whylen)
{
    const Hadoop__Common__RpcSaslProto__SaslAuth *k = kerberos_entry(m);
    r->cls = ACE;
    if (!k) {
        snprintf(why, whylen, "the NameNode does not offer Kerberos (KERBEROS/GSSAPI)");
        return r->what = SASLC_BAD;
    }
    if (!k->protocol || !k->serverid || strcmp(k->protocol, e->service) || strcasecmp(k->serverid, e->host)) {
        snprintf(why, whylen, "Server has invalid Kerberos principal: %s/%s, expecting: %s/%s",
                 k->protocol ? k->protocol : "", k->serverid ? k->serverid : "", e->service, e->host);
        return r->what = SASLC_BAD;
    }
    r->cls = NULL;
    r->protocol = k->protocol;
    r->server_id = k->serverid;
    return r->what = SASLC_NEGOTIATE;
}

enum saslc_what saslc_read(const struct saslc_expect *e, const uint8_t *body, size_t len, struct saslc_reply *r,
                           char *why, size_t whylen)
{
    memset(r, 0, sizeof *r);
    r->what = SASLC_BAD;
    r->cls = JEXC_IO;
    struct ipc_reply h;
    if (ipc_parse_reply(body, len, &h) != IPC_OK) {
        snprintf(why, whylen, "malformed reply from the NameNode during the SASL exchange");
        return r->what;
    }
    if (h.status != IPC_SUCCESS) {
        char msg[512];
        ipc_span_copy(h.exception_class, r->exc_class, sizeof r->exc_class);
        ipc_span_copy(h.error_msg, msg, sizeof msg);
        if (r->exc_class[0])
            r->cls = r->exc_class;
        snprintf(why, whylen, "%s", msg);
        return r->what = SASLC_REFUSED;
    }
    if (h.call_id != IPC_CALLID_SASL || e->done) {
        snprintf(why, whylen, "a reply with call id %d during the SASL exchange", (int)h.call_id);
        return r->what;
    }
    Hadoop__Common__RpcSaslProto *m = hadoop__common__rpc_sasl_proto__unpack(NULL, h.payload.len, h.payload.p);
    if (!m) {
        snprintf(why, whylen, "malformed RpcSaslProto from the NameNode");
        return r->what;
    }
    r->msg = m;
    if (m->has_token && m->token.len > SASLC_MAX_TOKEN) {
        snprintf(why, whylen, "a SASL token of %zu bytes from the NameNode", m->token.len);
        return r->what;
    }
    r->has_token = m->has_token;
    r->token = m->has_token ? m->token.data : NULL;
    r->token_len = m->has_token ? m->token.len : 0;
    switch (m->state) {
    case HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__NEGOTIATE:
        if (e->negotiated) {
            snprintf(why, whylen, "a second NEGOTIATE from the NameNode");
            return r->what;
        }
        return read_offer(e, m, r, why, whylen);
    case HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__CHALLENGE:
        if (!e->started) {
            snprintf(why, whylen, "a CHALLENGE before INITIATE");
            return r->what;
        }
        r->cls = NULL;
        return r->what = SASLC_CHALLENGE;
    case HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__SUCCESS:
        if (!e->started) {
            /* A NameNode that only allows SIMPLE answers SUCCESS at once:
             * Hadoop's client refuses to fall back unless told to. */
            r->cls = ACE;
            snprintf(why, whylen,
                     "Server asks us to fall back to SIMPLE auth, but this client is configured to "
                     "only allow secure connections.");
            return r->what;
        }
        r->cls = NULL;
        return r->what = SASLC_SUCCESS;
    default: snprintf(why, whylen, "unexpected SASL state %d from the NameNode", (int)m->state); return r->what;
    }
}

void saslc_reply_free(struct saslc_reply *r)
{
    if (r->msg)
        hadoop__common__rpc_sasl_proto__free_unpacked(r->msg, NULL);
    r->msg = NULL;
}

/* One RpcSaslProto request; a token field whenever tok is given or the
 * state carries one (INITIATE, RESPONSE: empty is still a token). */
static int write_sasl(struct buf *out, int state, bool with_token, const char *tok, unsigned toklen,
                      const char *protocol, const char *server_id)
{
    Hadoop__Common__RpcSaslProto m = HADOOP__COMMON__RPC_SASL_PROTO__INIT;
    Hadoop__Common__RpcSaslProto__SaslAuth a, *ap = &a;
    m.state = state;
    if (with_token) {
        m.has_token = 1;
        m.token.data = (uint8_t *)tok;
        m.token.len = tok ? toklen : 0;
    }
    if (protocol) {
        hadoop__common__rpc_sasl_proto__sasl_auth__init(&a);
        a.method = (char *)"KERBEROS";
        a.mechanism = (char *)"GSSAPI";
        a.protocol = (char *)protocol;
        a.serverid = (char *)server_id;
        m.n_auths = 1;
        m.auths = &ap;
    }
    return ipc_write_sasl_call(out, &m.base) == IPC_OK ? 0 : -1;
}

int saslc_write_begin(struct buf *out)
{
    if (ipc_write_preamble(out, IPC_AUTH_SASL) != IPC_OK)
        return -1;
    return write_sasl(out, HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__NEGOTIATE, false, NULL, 0, NULL, NULL);
}

int saslc_write_initiate(struct buf *out, const char *tok, unsigned toklen, const char *protocol, const char *server_id)
{
    return write_sasl(out, HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__INITIATE, true, tok, toklen, protocol,
                      server_id);
}

int saslc_write_response(struct buf *out, const char *tok, unsigned toklen)
{
    return write_sasl(out, HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__RESPONSE, true, tok, toklen, NULL, NULL);
}
