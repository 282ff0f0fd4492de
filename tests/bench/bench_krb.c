/*
 * bench_krb.c: the Kerberos (SASL GSSAPI) handshake of a bench connection.
 *
 * A kerberized bench connection authenticates before its loop takes it
 * over, on a blocking socket, the way the Go hdfs client does:
 *
 *   preamble (auth SASL) -> NEGOTIATE -> the server's offer
 *   INITIATE (first GSSAPI token) <-> CHALLENGE / RESPONSE ... <- SUCCESS
 *
 * Cyrus SASL's client side does the GSSAPI work with the ticket cache of
 * KRB5CCNAME; it takes the strongest security layer the server offers
 * (privacy when that is all it offers). After the exchange the bench sends
 * its connection context and requests plain, as the Go client does, and
 * unwraps the server's WRAP replies (bench_conn.c, sasl_layer_unwrap).
 *
 * The handshake takes a few milliseconds and happens while the warm-up
 * runs; reconnects inside the measured window would count their handshake
 * in that connection's latency, which is what a client sees too.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sasl/sasl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "RpcHeader.pb-c.h"
#include "bench.h"
#include "buf.h"
#include "ipc.h"

#define KRB_IO_TIMEOUT_MS 10000
#define KRB_MAX_FRAME (1u << 20) /* SASL answers are a few kilobytes */

static pthread_once_t sasl_once = PTHREAD_ONCE_INIT;
static int sasl_init_rc = SASL_FAIL;

static void sasl_init_once(void)
{
    sasl_init_rc = sasl_client_init(NULL);
}

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

int bench_krb_handshake(int fd, const char *service, const char *host, void **sasl_out, unsigned *ssf_out, char *why,
                        size_t whylen)
{
    pthread_once(&sasl_once, sasl_init_once);
    if (sasl_init_rc != SASL_OK) {
        snprintf(why, whylen, "sasl_client_init: %s", sasl_errstring(sasl_init_rc, NULL, NULL));
        return -1;
    }
    static const uint8_t preamble[7] = { 'h', 'r', 'p', 'c', 9, 0, IPC_AUTH_SASL };
    sasl_conn_t *sc = NULL;
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
    int r = sasl_client_new(service, host, NULL, NULL, NULL, 0, &sc);
    if (r != SASL_OK) {
        snprintf(why, whylen, "sasl_client_new: %s", sasl_errstring(r, NULL, NULL));
        goto out;
    }
    sasl_security_properties_t sp = { .min_ssf = 0, .max_ssf = 256, .maxbufsize = 0xFFFFFF };
    sasl_setprop(sc, SASL_SEC_PROPS, &sp);
    const char *tok = NULL, *mech = NULL;
    unsigned toklen = 0;
    r = sasl_client_start(sc, "GSSAPI", NULL, &tok, &toklen, &mech);
    if (r != SASL_OK && r != SASL_CONTINUE) {
        snprintf(why, whylen, "GSSAPI start: %s", sasl_errdetail(sc));
        goto out;
    }
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
        r = sasl_client_step(sc, (const char *)m->token.data, (unsigned)m->token.len, NULL, &tok, &toklen);
        if (r != SASL_OK && r != SASL_CONTINUE) {
            snprintf(why, whylen, "GSSAPI step: %s", sasl_errdetail(sc));
            goto out;
        }
        req.state = HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__RESPONSE;
        req.n_auths = 0;
        req.auths = NULL;
    }
    const void *ssfp = NULL;
    sasl_getprop(sc, SASL_SSF, &ssfp);
    *ssf_out = ssfp ? *(const unsigned *)ssfp : 0;
    *sasl_out = sc;
    sc = NULL;
    rc = 0;
out:
    if (m)
        hadoop__common__rpc_sasl_proto__free_unpacked(m, NULL);
    free(frame);
    if (sc)
        sasl_dispose(&sc);
    return rc;
}

void bench_krb_free(void **sasl)
{
    if (*sasl)
        sasl_dispose((sasl_conn_t **)sasl);
    *sasl = NULL;
}
