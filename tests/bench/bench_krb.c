/*
 * bench_krb.c: the Kerberos (SASL GSSAPI) handshake of a bench connection.
 *
 * A kerberized bench connection authenticates before its loop takes it
 * over, on a blocking socket, the way the Go hdfs client does:
 *
 *   preamble (auth SASL) -> NEGOTIATE -> the server's offer
 *   INITIATE (first GSSAPI token) <-> CHALLENGE / RESPONSE ... <- SUCCESS
 *
 * The router's own GSSAPI mechanism (auth/gss_sasl.h) does the work with the
 * ticket cache of KRB5CCNAME; it takes the strongest security layer the
 * server offers (privacy when that is all it offers), and its layer
 * unwraps with OpenSSL, as fast per byte as a JDK client's AES: the load
 * generator's own decryption (MIT's builtin AES would cost it a core at
 * a few thousand listings a second) stays out of the figures. After the
 * exchange the bench sends its connection context and requests plain, as
 * the Go client does, and unwraps the server's WRAP replies (bench_conn.c,
 * sasl_layer_unwrap).
 *
 * The handshake takes a few milliseconds and happens while the warm-up
 * runs; reconnects inside the measured window would count their handshake
 * in that connection's latency, which is what a client sees too.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "RpcHeader.pb-c.h"
#include "bench.h"
#include "buf.h"
#include "gss_sasl.h"
#include "ipc.h"
#include "sec_layer.h"

#define KRB_IO_TIMEOUT_MS 10000
#define KRB_MAX_FRAME (1u << 20) /* SASL answers are a few kilobytes */

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, uint8_t *p, size_t n)
{
    while (n) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        if (poll(&pfd, 1, KRB_IO_TIMEOUT_MS) <= 0)
            return -1;
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int send_sasl(int fd, Hadoop__Common__RpcSaslProto *m)
{
    struct buf out = { 0 };
    int rc = ipc_write_sasl_call(&out, &m->base) == IPC_OK ? write_all(fd, buf_rptr(&out), buf_len(&out)) : -1;
    buf_free(&out);
    return rc;
}

/* Reads one reply frame; returns the RpcSaslProto it carries (NULL and why
 * on a FATAL answer or anything else). *frame holds the memory. */
static Hadoop__Common__RpcSaslProto *read_sasl(int fd, uint8_t **frame, char *why, size_t whylen)
{
    uint8_t len4[4];
    *frame = NULL;
    if (read_all(fd, len4, 4) < 0) {
        snprintf(why, whylen, "the server closed the connection during the SASL exchange");
        return NULL;
    }
    uint32_t n = (uint32_t)len4[0] << 24 | (uint32_t)len4[1] << 16 | (uint32_t)len4[2] << 8 | len4[3];
    if (n > KRB_MAX_FRAME || !(*frame = malloc(n ? n : 1)) || read_all(fd, *frame, n) < 0) {
        snprintf(why, whylen, "bad SASL answer frame (%u bytes)", n);
        return NULL;
    }
    struct ipc_reply r;
    if (ipc_parse_reply(*frame, n, &r) != IPC_OK) {
        snprintf(why, whylen, "unparsable SASL answer");
        return NULL;
    }
    if (r.status != IPC_SUCCESS) {
        char cls[160], msg[160];
        ipc_span_copy(r.exception_class, cls, sizeof cls);
        ipc_span_copy(r.error_msg, msg, sizeof msg);
        snprintf(why, whylen, "refused: %s: %s", cls, msg);
        return NULL;
    }
    /* ipc_parse_reply took off the message's length prefix already. */
    if (r.call_id != IPC_CALLID_SASL) {
        snprintf(why, whylen, "not a SASL answer (call id %d)", (int)r.call_id);
        return NULL;
    }
    Hadoop__Common__RpcSaslProto *m = hadoop__common__rpc_sasl_proto__unpack(NULL, r.payload.len, r.payload.p);
    if (!m)
        snprintf(why, whylen, "unparsable RpcSaslProto");
    return m;
}

int bench_krb_handshake(int fd, const char *service, const char *host, struct sec_layer **sasl_out, unsigned *ssf_out,
                        char *why, size_t whylen)
{
    static const uint8_t preamble[7] = { 'h', 'r', 'p', 'c', 9, 0, IPC_AUTH_SASL };
    struct gss_sasl *sc = NULL;
    uint8_t *frame = NULL;
    Hadoop__Common__RpcSaslProto *m = NULL;
    int rc = -1;
    if (write_all(fd, preamble, sizeof preamble) < 0) {
        snprintf(why, whylen, "cannot send the preamble: %s", strerror(errno));
        return -1;
    }
    Hadoop__Common__RpcSaslProto neg = HADOOP__COMMON__RPC_SASL_PROTO__INIT;
    neg.state = HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__NEGOTIATE;
    if (send_sasl(fd, &neg) < 0 || !(m = read_sasl(fd, &frame, why, whylen)))
        goto out;
    bool kerberos = false;
    for (size_t i = 0; i < m->n_auths; i++)
        if (m->auths[i]->method && !strcmp(m->auths[i]->method, "KERBEROS"))
            kerberos = true;
    if (m->state != HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__NEGOTIATE || !kerberos) {
        snprintf(why, whylen, "the server offers no KERBEROS method");
        goto out;
    }
    sc = gss_sasl_client_new(service, host, GSS_C_NO_CREDENTIAL, GSS_SASL_NONE | GSS_SASL_INTEGRITY | GSS_SASL_PRIVACY,
                             why, whylen);
    if (!sc)
        goto out;
    const uint8_t *tok = NULL;
    size_t toklen = 0;
    if (gss_sasl_step(sc, NULL, 0, &tok, &toklen, why, whylen) == GSS_SASL_FAILED)
        goto out;
    Hadoop__Common__RpcSaslProto__SaslAuth auth = HADOOP__COMMON__RPC_SASL_PROTO__SASL_AUTH__INIT;
    Hadoop__Common__RpcSaslProto__SaslAuth *authp = &auth;
    auth.method = "KERBEROS";
    auth.mechanism = "GSSAPI";
    auth.protocol = (char *)service;
    auth.serverid = (char *)host;
    Hadoop__Common__RpcSaslProto req = HADOOP__COMMON__RPC_SASL_PROTO__INIT;
    req.state = HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__INITIATE;
    req.n_auths = 1;
    req.auths = &authp;
    for (;;) {
        req.has_token = 1;
        req.token.data = (uint8_t *)tok;
        req.token.len = toklen;
        hadoop__common__rpc_sasl_proto__free_unpacked(m, NULL);
        m = NULL;
        free(frame);
        frame = NULL;
        if (send_sasl(fd, &req) < 0 || !(m = read_sasl(fd, &frame, why, whylen)))
            goto out;
        if (m->state == HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__SUCCESS)
            break;
        if (m->state != HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__CHALLENGE) {
            snprintf(why, whylen, "unexpected SASL state %d", (int)m->state);
            goto out;
        }
        if (gss_sasl_step(sc, m->token.data, m->token.len, &tok, &toklen, why, whylen) == GSS_SASL_FAILED)
            goto out;
        req.state = HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__RESPONSE;
        req.n_auths = 0;
        req.auths = NULL;
    }
    if (!gss_sasl_layer(sc)) {
        snprintf(why, whylen, "SUCCESS before the GSSAPI exchange finished");
        goto out;
    }
    *ssf_out = gss_sasl_ssf(sc);
    *sasl_out = NULL;
    if (*ssf_out && !(*sasl_out = gss_sasl_take_layer(sc, why, whylen)))
        goto out;
    rc = 0;
out:
    if (m)
        hadoop__common__rpc_sasl_proto__free_unpacked(m, NULL);
    free(frame);
    gss_sasl_free(sc);
    return rc;
}

void bench_krb_free(struct sec_layer **layer)
{
    sec_layer_free(*layer);
    *layer = NULL;
}
