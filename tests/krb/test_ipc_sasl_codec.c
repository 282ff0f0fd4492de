/*
 * test_ipc_sasl_codec: the SASL path of hdfs-proto/ipc_server with a
 * scripted auth hook, no KDC: the NEGOTIATE answer (a TOKEN entry with the
 * hook's challenge first, then KERBEROS), the stop right after SUCCESS with
 * the next bytes still unparsed (where the router puts the security layer
 * on), and TOKEN at INITIATE refused with Hadoop's words.
 */
#include <stdio.h>
#include <string.h>

#include "RpcHeader.pb-c.h"
#include "check.h"
#include "ipc.h"
#include "ipc_server.h"

static unsigned h_methods(void *arg)
{
    (void)arg;
    return IPC_AUTHM_KERBEROS;
}
static void h_kerberos_id(void *arg, const char **protocol, const char **server_id)
{
    (void)arg;
    *protocol = "nn";
    *server_id = "localhost";
}
static size_t h_token_challenge(void *arg, char *out, size_t outlen)
{
    (void)arg;
    return (size_t)snprintf(out, outlen, "realm=\"default\",nonce=\"n\",qop=\"auth-conf\"");
}
static int steps;
/* First step: CONTINUE with a challenge; second: DONE. */
static enum ipc_auth_step h_step(void *arg, const char *method, const char *mechanism, bool first, const uint8_t *in,
                                 size_t inlen, const uint8_t **out, size_t *outlen, char *why, size_t whylen)
{
    (void)arg, (void)method, (void)mechanism, (void)in, (void)inlen, (void)why, (void)whylen;
    steps++;
    *out = (const uint8_t *)"chal";
    *outlen = first ? 4 : 0;
    return first ? IPC_AUTH_CONTINUE : IPC_AUTH_DONE;
}
static int h_authorize(void *arg, struct ipc_context *ctx, const char **cls, char *msg, size_t msglen)
{
    (void)arg, (void)ctx, (void)cls, (void)msg, (void)msglen;
    return 0;
}
static const struct ipc_auth_ops hook = {
    .methods = h_methods,
    .kerberos_id = h_kerberos_id,
    .token_challenge = h_token_challenge,
    .step = h_step,
    .authorize = h_authorize,
};

static void sasl_out(struct buf *b, Hadoop__Common__RpcSaslProto__SaslState st, const char *method)
{
    Hadoop__Common__RpcSaslProto m = HADOOP__COMMON__RPC_SASL_PROTO__INIT;
    Hadoop__Common__RpcSaslProto__SaslAuth a = HADOOP__COMMON__RPC_SASL_PROTO__SASL_AUTH__INIT, *ap = &a;
    m.state = st;
    m.has_token = 1;
    m.token.data = (uint8_t *)"tok";
    m.token.len = 3;
    if (method) {
        a.method = (char *)method;
        a.mechanism = !strcmp(method, "TOKEN") ? "DIGEST-MD5" : "GSSAPI";
        m.n_auths = 1;
        m.auths = &ap;
    }
    CHECK(ipc_write_sasl_call(b, &m.base) == IPC_OK);
}

/* The next reply frame in out, as an RpcSaslProto (NULL on FATAL). */
static Hadoop__Common__RpcSaslProto *next_sasl(struct buf *out, struct ipc_reply *r)
{
    const uint8_t *body;
    uint32_t bl;
    size_t fl;
    if (ipc_frame_cut(buf_rptr(out), buf_len(out), 1u << 20, &body, &bl, &fl) != IPC_OK)
        return NULL;
    CHECK(ipc_parse_reply(body, bl, r) == IPC_OK);
    Hadoop__Common__RpcSaslProto *m = NULL;
    if (r->status == IPC_SUCCESS)
        m = hadoop__common__rpc_sasl_proto__unpack(NULL, r->payload.len, r->payload.p);
    buf_consume(out, fl);
    return m;
}

static void exchange(void)
{
    struct ipc_sconn s;
    ipc_sconn_init(&s, 0);
    ipc_sconn_set_auth(&s, &hook, NULL);
    struct buf in = BUF_INIT, out = BUF_INIT;
    struct ipc_call call;
    size_t fl;
    struct ipc_reply r;
    buf_append(&in, "hrpc\x09\x00\xdf", 7);
    sasl_out(&in, HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__NEGOTIATE, NULL);
    CHECK(ipc_sconn_next(&s, &in, &out, &call, &fl) == IPC_S_NEED_MORE);
    Hadoop__Common__RpcSaslProto *m = next_sasl(&out, &r);
    CHECK(m && m->state == HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__NEGOTIATE && m->n_auths == 2);
    if (m && m->n_auths == 2) {
        const Hadoop__Common__RpcSaslProto__SaslAuth *t = m->auths[0], *k = m->auths[1];
        CHECK(!strcmp(t->method, "TOKEN") && !strcmp(t->mechanism, "DIGEST-MD5") && !strcmp(t->serverid, "default"));
        CHECK(t->has_challenge && t->challenge.len == strlen("realm=\"default\",nonce=\"n\",qop=\"auth-conf\"") &&
              !memcmp(t->challenge.data, "realm=", 6));
        CHECK(!strcmp(k->method, "KERBEROS") && !strcmp(k->protocol, "nn") && !strcmp(k->serverid, "localhost"));
    }
    hadoop__common__rpc_sasl_proto__free_unpacked(m, NULL);

    /* INITIATE -> CHALLENGE; RESPONSE -> SUCCESS, with a context (which a
     * client with a layer would send wrapped) already behind it. */
    sasl_out(&in, HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__INITIATE, "KERBEROS");
    sasl_out(&in, HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__RESPONSE, NULL);
    uint8_t cid[IPC_CLIENT_ID_LEN] = { 1 };
    ipc_write_context(&in, cid, "alice", NULL, IPC_CLIENT_PROTOCOL);
    size_t ctx_len = 0;
    {
        struct buf c = BUF_INIT;
        ipc_write_context(&c, cid, "alice", NULL, IPC_CLIENT_PROTOCOL);
        ctx_len = buf_len(&c);
        buf_free(&c);
    }
    CHECK(ipc_sconn_next(&s, &in, &out, &call, &fl) == IPC_S_NEED_MORE);
    CHECK(steps == 2 && s.authenticated && s.state == IPC_S_CONTEXT);
    CHECK(buf_len(&in) == ctx_len); /* stopped before the context */
    m = next_sasl(&out, &r);
    CHECK(m && m->state == HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__CHALLENGE);
    hadoop__common__rpc_sasl_proto__free_unpacked(m, NULL);
    m = next_sasl(&out, &r);
    CHECK(m && m->state == HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__SUCCESS);
    hadoop__common__rpc_sasl_proto__free_unpacked(m, NULL);
    /* Called again, it takes the context and waits for calls. */
    CHECK(ipc_sconn_next(&s, &in, &out, &call, &fl) == IPC_S_NEED_MORE);
    CHECK(s.state == IPC_S_CALLS && buf_len(&in) == 0 && !strcmp(s.ctx.effective_user, "alice"));
    buf_free(&in);
    buf_free(&out);
}

static void token_refused(void)
{
    struct ipc_sconn s;
    ipc_sconn_init(&s, 0);
    ipc_sconn_set_auth(&s, &hook, NULL);
    struct buf in = BUF_INIT, out = BUF_INIT;
    struct ipc_call call;
    size_t fl;
    struct ipc_reply r;
    buf_append(&in, "hrpc\x09\x00\xdf", 7);
    sasl_out(&in, HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__NEGOTIATE, NULL);
    sasl_out(&in, HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__INITIATE, "TOKEN");
    CHECK(ipc_sconn_next(&s, &in, &out, &call, &fl) == IPC_S_CLOSE);
    hadoop__common__rpc_sasl_proto__free_unpacked(next_sasl(&out, &r), NULL);
    CHECK(next_sasl(&out, &r) == NULL);
    CHECK(r.status == IPC_FATAL && r.call_id == -33 && r.error_detail == IPC_FATAL_UNAUTHORIZED);
    CHECK(ipc_span_eq(r.exception_class, "org.apache.hadoop.security.AccessControlException"));
    CHECK(ipc_span_eq(r.error_msg, "TOKEN authentication is not enabled.  Available:[KERBEROS]"));
    buf_free(&in);
    buf_free(&out);
}

int main(void)
{
    exchange();
    token_refused();
    return check_report();
}
