#include "ipc_server.h"

#include <protobuf-c/protobuf-c.h>
#include <stdio.h>
#include <string.h>

#include "RpcHeader.pb-c.h"
#include "jexc.h"

static const char HTTP_REPLY[] =
    "HTTP/1.1 404 Not Found\r\nContent-type: text/plain\r\nConnection: close\r\n\r\n"
    "It looks like you are making an HTTP request to a Hadoop IPC port. "
    "This is not the web port of this server.\n";

/* A FATAL answer on call id `id` (Hadoop: -1 for refusals before any
 * frame, the offending frame's id after), then CLOSING. */
static enum ipc_snext fatal_id(struct ipc_sconn *s, struct buf *out, int32_t id, enum ipc_errdetail detail,
                               const char *cls, const char *msg)
{
    struct ipc_ids ids = { id, -1, NULL, 0 };
    (void)ipc_write_error(out, &ids, IPC_FATAL, detail, cls, msg);
    s->state = IPC_S_CLOSING;
    if (msg != s->reason)
        snprintf(s->reason, sizeof s->reason, "%s", msg);
    s->close_reason = s->reason;
    return IPC_S_CLOSE;
}

static enum ipc_snext fatal(struct ipc_sconn *s, struct buf *out, enum ipc_errdetail detail, const char *cls,
                            const char *msg)
{
    return fatal_id(s, out, IPC_CALLID_AUTH_FAILED, detail, cls, msg);
}

void ipc_sconn_init(struct ipc_sconn *s, uint32_t max_frame)
{
    memset(s, 0, sizeof *s);
    s->state = IPC_S_PREAMBLE;
    s->max_frame = max_frame ? max_frame : IPC_MAX_FRAME_DEFAULT;
}

void ipc_sconn_set_auth(struct ipc_sconn *s, const struct ipc_auth_ops *ops, void *arg)
{
    s->auth = ops;
    s->auth_arg = arg;
}

static unsigned offered(const struct ipc_sconn *s)
{
    return s->auth ? s->auth->methods(s->auth_arg) : IPC_AUTHM_SIMPLE;
}

/* Hadoop lists its enabled methods as a Java List: "[TOKEN, KERBEROS]". */
void ipc_auth_methods_str(unsigned m, char *out, size_t outlen)
{
    static const struct {
        unsigned bit;
        const char *name;
    } order[] = { { IPC_AUTHM_TOKEN, "TOKEN" }, { IPC_AUTHM_KERBEROS, "KERBEROS" }, { IPC_AUTHM_SIMPLE, "SIMPLE" } };
    size_t used = (size_t)snprintf(out, outlen, "[");
    bool any = false;
    for (size_t i = 0; i < sizeof order / sizeof order[0] && used < outlen; i++)
        if (m & order[i].bit) {
            used += (size_t)snprintf(out + used, outlen - used, "%s%s", any ? ", " : "", order[i].name);
            any = true;
        }
    if (used < outlen)
        snprintf(out + used, outlen - used, "]");
}

#define ACE JEXC_ACCESS_CONTROL
#define SASLE "javax.security.sasl.SaslException"

/* A failed SASL exchange: Hadoop's Server.saslProcess answers FATAL,
 * FATAL_UNAUTHORIZED on the SASL call id, with the exception that ended
 * processSaslMessage. */
static enum ipc_snext sasl_refuse(struct ipc_sconn *s, struct buf *out, const char *cls, const char *msg)
{
    return fatal_id(s, out, IPC_CALLID_SASL, IPC_FATAL_UNAUTHORIZED, cls, msg);
}

/* The NEGOTIATE answer: the offered methods in Hadoop's order (TOKEN,
 * KERBEROS, SIMPLE), or SUCCESS for a SIMPLE-only server (the client then
 * goes on without SASL). */
static enum ipc_snext negotiate(struct ipc_sconn *s, struct buf *out)
{
    unsigned m = offered(s);
    Hadoop__Common__RpcSaslProto r = HADOOP__COMMON__RPC_SASL_PROTO__INIT;
    if (m == IPC_AUTHM_SIMPLE) {
        r.state = HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__SUCCESS;
        (void)ipc_write_sasl_reply(out, &r.base);
        s->state = IPC_S_CONTEXT;
        return IPC_S_NEED_MORE;
    }
    Hadoop__Common__RpcSaslProto__SaslAuth a[3], *ap[3];
    size_t n = 0;
    char challenge[256];
    size_t clen = (m & IPC_AUTHM_KERBEROS) && s->auth->token_challenge
                      ? s->auth->token_challenge(s->auth_arg, challenge, sizeof challenge)
                      : 0;
    if (clen > 0 && clen < sizeof challenge) {
        /* Hadoop's TOKEN entry: DIGEST-MD5, protocol "", server id "default". */
        hadoop__common__rpc_sasl_proto__sasl_auth__init(&a[n]);
        a[n].method = "TOKEN";
        a[n].mechanism = "DIGEST-MD5";
        a[n].protocol = "";
        a[n].serverid = "default";
        a[n].has_challenge = 1;
        a[n].challenge.data = (uint8_t *)challenge;
        a[n].challenge.len = clen;
        n++;
    }
    if (m & IPC_AUTHM_KERBEROS) {
        const char *proto = "", *sid = "";
        s->auth->kerberos_id(s->auth_arg, &proto, &sid);
        hadoop__common__rpc_sasl_proto__sasl_auth__init(&a[n]);
        a[n].method = "KERBEROS";
        a[n].mechanism = "GSSAPI";
        a[n].protocol = (char *)proto;
        a[n].serverid = (char *)sid;
        n++;
    }
    if (m & IPC_AUTHM_SIMPLE) {
        hadoop__common__rpc_sasl_proto__sasl_auth__init(&a[n]);
        a[n].method = "SIMPLE";
        a[n].mechanism = "";
        n++;
    }
    for (size_t i = 0; i < n; i++)
        ap[i] = &a[i];
    r.state = HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__NEGOTIATE;
    r.n_auths = n;
    r.auths = ap;
    (void)ipc_write_sasl_reply(out, &r.base);
    s->sent_negotiate = true;
    return IPC_S_NEED_MORE;
}

/* Sends a mechanism's answer: CHALLENGE, or SUCCESS when done. */
static void sasl_answer(struct buf *out, bool done, const uint8_t *tok, size_t toklen)
{
    Hadoop__Common__RpcSaslProto r = HADOOP__COMMON__RPC_SASL_PROTO__INIT;
    r.state = done ? HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__SUCCESS
                   : HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__CHALLENGE;
    if (tok && (toklen || !done)) {
        r.has_token = 1;
        r.token.data = (uint8_t *)tok;
        r.token.len = toklen;
    }
    (void)ipc_write_sasl_reply(out, &r.base);
}

static const char *state_name(int st)
{
    static const char *const names[] = { "SUCCESS", "NEGOTIATE", "INITIATE", "CHALLENGE", "RESPONSE", "WRAP" };
    return st >= 0 && st < 6 ? names[st] : "UNKNOWN";
}

/* Runs one mechanism step on the message's token. */
static enum ipc_snext sasl_token(struct ipc_sconn *s, const Hadoop__Common__RpcSaslProto *m, struct buf *out)
{
    if (!m->has_token)
        return sasl_refuse(s, out, SASLE, "Client did not send a token");
    const uint8_t *tok = NULL;
    size_t toklen = 0;
    char why[256] = "";
    enum ipc_auth_step st = s->auth->step(s->auth_arg, s->method, s->mechanism, !s->started, m->token.data,
                                          m->token.len, &tok, &toklen, why, sizeof why);
    s->started = true;
    if (st == IPC_AUTH_FAILED) {
        /* Java's GSSAPI server fails context establishment with this
         * SaslException message; Cyrus's own words go to the log. */
        enum ipc_snext r = sasl_refuse(s, out, SASLE, "GSS initiate failed");
        snprintf(s->reason, sizeof s->reason, "SASL %s failed: %s", s->mechanism, why[0] ? why : "no reason given");
        return r;
    }
    sasl_answer(out, st == IPC_AUTH_DONE, tok, toklen);
    if (st == IPC_AUTH_DONE) {
        s->authenticated = true;
        s->state = IPC_S_CONTEXT;
    }
    return IPC_S_NEED_MORE;
}

/* One SASL message from the client (Hadoop's processSaslMessage). */
static enum ipc_snext sasl(struct ipc_sconn *s, const struct ipc_call *c, struct buf *out)
{
    Hadoop__Common__RpcSaslProto *m = hadoop__common__rpc_sasl_proto__unpack(NULL, c->oob.len, c->oob.p);
    if (!m)
        return fatal_id(s, out, IPC_CALLID_SASL, IPC_FATAL_DESERIALIZING_REQUEST, JEXC_IPC,
                        "Error decoding RpcSaslProto");
    enum ipc_snext r = IPC_S_NEED_MORE;
    unsigned m_ok = offered(s);
    char avail[64];
    ipc_auth_methods_str(m_ok, avail, sizeof avail);
    switch (m->state) {
    case HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__NEGOTIATE:
        if (s->sent_negotiate)
            r = sasl_refuse(s, out, ACE, "Client already attempted negotiation");
        else
            r = negotiate(s, out);
        break;
    case HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__INITIATE: {
        if (s->started) {
            r = sasl_refuse(s, out, SASLE, "Client sent unsupported state INITIATE");
            break;
        }
        if (m->n_auths != 1) {
            r = sasl_refuse(s, out, SASLE, "Client mechanism is malformed");
            break;
        }
        const Hadoop__Common__RpcSaslProto__SaslAuth *a = m->auths[0];
        unsigned bit = !strcmp(a->method, "SIMPLE")     ? IPC_AUTHM_SIMPLE
                       : !strcmp(a->method, "KERBEROS") ? IPC_AUTHM_KERBEROS
                       : !strcmp(a->method, "TOKEN")    ? IPC_AUTHM_TOKEN
                                                        : 0;
        bool mech_ok = bit == IPC_AUTHM_SIMPLE || (bit == IPC_AUTHM_KERBEROS && !strcmp(a->mechanism, "GSSAPI"));
        if (!(bit & m_ok) || !mech_ok || (bit == IPC_AUTHM_TOKEN)) {
            char msg[160];
            snprintf(msg, sizeof msg, "%.40s authentication is not enabled.  Available:%s", a->method, avail);
            r = sasl_refuse(s, out, ACE, msg);
            break;
        }
        if (bit == IPC_AUTHM_SIMPLE) { /* no answer: the client goes on with its context */
            s->state = IPC_S_CONTEXT;
            break;
        }
        snprintf(s->method, sizeof s->method, "%s", a->method);
        snprintf(s->mechanism, sizeof s->mechanism, "%s", a->mechanism);
        r = sasl_token(s, m, out);
        break;
    }
    case HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__RESPONSE:
        if (!s->started) {
            r = sasl_refuse(s, out, SASLE, "Client sent unsupported state RESPONSE");
            break;
        }
        r = sasl_token(s, m, out);
        break;
    default: {
        char msg[64];
        snprintf(msg, sizeof msg, "Client sent unsupported state %s", state_name((int)m->state));
        r = sasl_refuse(s, out, SASLE, msg);
        break;
    }
    }
    hadoop__common__rpc_sasl_proto__free_unpacked(m, NULL);
    return r;
}

/* The connection context after the handshake. A SASL-authenticated
 * connection has its user judged by the hook (Hadoop's
 * processConnectionContext + authorizeConnection). */
static enum ipc_snext context(struct ipc_sconn *s, const struct ipc_call *call, struct buf *out)
{
    if (ipc_parse_context(call->oob.p, call->oob.len, &s->ctx) != IPC_OK)
        return fatal(s, out, IPC_FATAL_DESERIALIZING_REQUEST, JEXC_IPC,
                     "malformed connection context");
    if (s->authenticated) {
        const char *cls = JEXC_AUTHORIZATION;
        char msg[sizeof s->reason];
        if (s->auth->authorize(s->auth_arg, &s->ctx, &cls, msg, sizeof msg) < 0)
            return fatal_id(s, out, IPC_CALLID_CONTEXT, IPC_FATAL_UNAUTHORIZED, cls, msg);
    }
    if (!s->ctx.effective_user[0])
        return fatal(s, out, IPC_FATAL_DESERIALIZING_REQUEST, JEXC_IPC,
                     "malformed connection context");
    s->state = IPC_S_CALLS;
    return IPC_S_NEED_MORE;
}

enum ipc_snext ipc_sconn_next(struct ipc_sconn *s, struct buf *in, struct buf *out, struct ipc_call *call,
                              size_t *frame_len)
{
    for (;;) {
        if (s->state == IPC_S_CLOSING)
            return IPC_S_CLOSE;
        if (buf_len(in) == 0)
            return IPC_S_NEED_MORE;
        if (s->state == IPC_S_PREAMBLE) {
            struct ipc_preamble pr;
            int rc = ipc_parse_preamble(buf_rptr(in), buf_len(in), &pr);
            switch (rc) {
            case IPC_AGAIN:
                return IPC_S_NEED_MORE;
            case IPC_OK:
                buf_consume(in, IPC_PREAMBLE_LEN);
                if (pr.auth == IPC_AUTH_NONE && !(offered(s) & IPC_AUTHM_SIMPLE)) {
                    /* Hadoop's initializeAuthContext: a secure server refuses
                     * a SIMPLE client before it sends anything more. */
                    char avail[64], msg[128];
                    ipc_auth_methods_str(offered(s), avail, sizeof avail);
                    snprintf(msg, sizeof msg, "SIMPLE authentication is not enabled.  Available:%s", avail);
                    return fatal(s, out, IPC_FATAL_UNAUTHORIZED, ACE, msg);
                }
                s->state = pr.auth == IPC_AUTH_SASL ? IPC_S_SASL : IPC_S_CONTEXT;
                continue;
            case IPC_EHTTP:
                buf_append(out, HTTP_REPLY, sizeof HTTP_REPLY - 1);
                s->state = IPC_S_CLOSING;
                s->close_reason = "HTTP request on the IPC port";
                return IPC_S_CLOSE;
            case IPC_EVERSION:
                return fatal(s, out, IPC_FATAL_VERSION_MISMATCH, "org.apache.hadoop.ipc.RPC$VersionMismatch",
                             "Server IPC version 9 cannot communicate with this client's version");
            case IPC_EAUTH:
                return fatal(s, out, IPC_FATAL_UNKNOWN, JEXC_IPC,
                             "Unknown auth protocol");
            default:
                s->state = IPC_S_CLOSING;
                s->close_reason = ipc_strerror(rc);
                return IPC_S_CLOSE;
            }
        }
        const uint8_t *body;
        uint32_t blen;
        size_t flen;
        int rc = ipc_frame_cut(buf_rptr(in), buf_len(in), s->max_frame, &body, &blen, &flen);
        if (rc == IPC_AGAIN)
            return IPC_S_NEED_MORE;
        if (rc != IPC_OK)
            return fatal(s, out, IPC_FATAL_INVALID_RPC_HEADER, JEXC_IPC,
                         "RPC data length out of range");
        if (ipc_parse_call(body, blen, call) != IPC_OK)
            return fatal(s, out, IPC_FATAL_INVALID_RPC_HEADER, JEXC_IPC,
                         "malformed RPC header");
        if (call->hdr.rpc_kind != 2)
            return fatal(s, out, IPC_FATAL_UNSUPPORTED_SERIALIZATION, JEXC_IPC,
                         "only protocol buffer calls are supported");
        int32_t id = call->hdr.call_id;
        if (id == IPC_CALLID_PING) {
            buf_consume(in, flen);
            continue;
        }
        switch (s->state) {
        case IPC_S_SASL: {
            if (id != IPC_CALLID_SASL)
                return fatal(s, out, IPC_FATAL_INVALID_RPC_HEADER, JEXC_IPC,
                             id == IPC_CALLID_CONTEXT ? "Connection header sent during SASL negotiation"
                                                      : "expected a SASL message");
            enum ipc_snext r = sasl(s, call, out);
            if (r == IPC_S_CLOSE)
                return r;
            buf_consume(in, flen);
            /* SUCCESS went out: stop before the next byte, which may be
             * wrapped, so that the caller can install the security layer
             * (then it calls again, on the transport's plaintext). */
            if (s->authenticated)
                return IPC_S_NEED_MORE;
            continue;
        }
        case IPC_S_CONTEXT: {
            if (id != IPC_CALLID_CONTEXT)
                return fatal(s, out, IPC_FATAL_INVALID_RPC_HEADER, JEXC_IPC,
                             "Connection context not established");
            enum ipc_snext r = context(s, call, out);
            if (r == IPC_S_CLOSE)
                return r;
            buf_consume(in, flen);
            continue;
        }
        default:
            if (id < 0)
                return fatal(s, out, IPC_FATAL_INVALID_RPC_HEADER, JEXC_IPC,
                             id == IPC_CALLID_CONTEXT ? "Connection context already processed"
                                                      : "Unknown out of band call");
            *frame_len = flen;
            return IPC_S_CALL;
        }
    }
}
