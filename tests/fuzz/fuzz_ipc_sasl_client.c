/*
 * Fuzz target for the router's client side of the Hadoop IPC SASL exchange
 * with a kerberized NameNode: the input is what the NameNode sends (reply
 * frames: RpcResponseHeaderProto + RpcSaslProto NEGOTIATE, CHALLENGE,
 * SUCCESS, errors, then the replies after the exchange, WRAP-framed or
 * plain), cut into frames as router/hdfs/upstream.c cuts them, in two reads
 * split where the input says.
 *
 * Input: byte 0 picks the driver, byte 1 where the first read ends (as a
 * fraction of the rest), then the NameNode's bytes.
 *
 *   byte 0 & 3 = 0 or 3: auth/sasl_client_wire.c alone (no Cyrus, no
 *       login): each frame read against where the exchange is, the
 *       router's INITIATE and RESPONSE written as the real client writes
 *       them, as if every GSSAPI step succeeded; after SUCCESS the rest is
 *       read as replies, through the client side of auth/sasl_layer when
 *       byte 0 & 4 (the router's layer with a fixed key) or plain.
 *   byte 0 & 3 = 1: the real auth_ipc_client with no login, on GSSAPI's
 *       default credentials: a MEMORY cache holding a service ticket for
 *       nn/localhost made up at start-up (no KDC: the ticket is never
 *       checked by anyone), so that the GSSAPI client starts, sends its
 *       AP-REQ and then reads whatever CHALLENGE and SUCCESS tokens come.
 *   byte 0 & 3 = 2: the same client with no credentials at all: its
 *       first step must fail cleanly.
 *
 * Checks beyond the sanitizers: every frame the router writes is a whole,
 * well-formed SASL request; a real client never reports DONE (that needs
 * an AP-REP sealed with the made-up ticket's random session key, which no
 * input has: DONE means the client skipped the NameNode's proof); after a
 * failure the client reads nothing more.
 *
 * Built with libFuzzer (-DFR_LIBFUZZER) or as a replay program running
 * mutations of made-up exchanges and the files or directories given;
 * --seeds=DIR writes those made-up seeds, --record=DIR ... records a real
 * exchange with a NameNode (record_sasl_client.py runs it against minidfs
 * --kerberos with a throwaway KDC).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <krb5.h>

#include "RpcHeader.pb-c.h"
#include "ipc.h"
#include "krb_login.h"
#include "log.h"
#include "sasl_client.h"
#include "sasl_client_wire.h"
#include "sasl_layer.h"
#include "sec_layer.h"

#define NN_PRINCIPAL "nn/_HOST@EXAMPLE.TEST"
#define NN_HOST "localhost"
#define CC_TICKET "MEMORY:fuzz-sasl-client"
#define CC_NONE "MEMORY:fuzz-sasl-client-none"
#define MAX_FRAME IPC_MAX_FRAME_DEFAULT

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_ipc_sasl_client: %s\n", what);
    abort();
}

/* ---- start-up: a realm of our own, a made-up ticket ---- */

static char tmpdir[4096];
/* The layer after SUCCESS: the router's own with a fixed AES-256 key, made
 * afresh per input (sequence numbers from 0); the seeds' WRAP frames come
 * from the NameNode's side of the same key. */
static const uint8_t layer_key[32] = "a fixed key for the fuzz layer!";

static struct sec_layer *fixed_layer(bool server)
{
    char why[256];
    struct sec_layer *l =
        sec_layer_from_key(18, layer_key, sizeof layer_key, !server, false, 0, 0, true, 0, why, sizeof why);
    if (!l)
        fail(why);
    return l;
}
static bool ready;

static void drop_tmpdir(void)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/krb5.conf", tmpdir);
    unlink(p);
    rmdir(tmpdir);
}

/* krb5.conf for EXAMPLE.TEST, with no DNS and a KDC that refuses at once:
 * nothing here may wait on the network. */
static void write_krb5_conf(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/fuzz-sasl-client-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmpdir))
        fail("mkdtemp");
    atexit(drop_tmpdir);
    char p[4200];
    snprintf(p, sizeof p, "%s/krb5.conf", tmpdir);
    FILE *f = fopen(p, "w");
    if (!f)
        fail("krb5.conf");
    fprintf(f, "[libdefaults]\n  default_realm = EXAMPLE.TEST\n  dns_lookup_kdc = false\n"
               "  dns_lookup_realm = false\n  rdns = false\n  dns_canonicalize_hostname = false\n"
               "[realms]\n  EXAMPLE.TEST = {\n    kdc = 127.0.0.1:9\n  }\n"
               "[domain_realm]\n  localhost = EXAMPLE.TEST\n");
    fclose(f);
    setenv("KRB5_CONFIG", p, 1);
    unsetenv("KRB5_KTNAME");
    unsetenv("KRB5_CLIENT_KTNAME");
}

/* DER, as much as a Ticket needs. */
static void der(struct buf *b, uint8_t tag, const void *p, size_t n)
{
    uint8_t h[4];
    size_t hl = 0;
    h[hl++] = tag;
    if (n < 0x80) {
        h[hl++] = (uint8_t)n;
    } else if (n < 0x100) {
        h[hl++] = 0x81;
        h[hl++] = (uint8_t)n;
    } else {
        h[hl++] = 0x82;
        h[hl++] = (uint8_t)(n >> 8);
        h[hl++] = (uint8_t)n;
    }
    buf_append(b, h, hl);
    buf_append(b, p, n);
}

static void der_wrap(struct buf *b, uint8_t tag, struct buf *inner)
{
    der(b, tag, buf_rptr(inner), buf_len(inner));
    buf_free(inner);
}

/* [ctx] INTEGER v, 0 <= v < 128 */
static void der_ctx_int(struct buf *b, uint8_t ctx, uint8_t v)
{
    struct buf i = BUF_INIT;
    der(&i, 0x02, &v, 1);
    der_wrap(b, ctx, &i);
}

/* Ticket for nn/localhost@EXAMPLE.TEST (RFC 4120 5.3) whose enc-part is
 * filler: the client only carries it. */
static void make_ticket(struct buf *t)
{
    struct buf names = BUF_INIT, strs = BUF_INIT, sname = BUF_INIT, tmp = BUF_INIT, enc = BUF_INIT, body = BUF_INIT;
    der(&strs, 0x1B, "nn", 2);
    der(&strs, 0x1B, "localhost", 9);
    der_wrap(&names, 0x30, &strs);
    der_ctx_int(&tmp, 0xA0, 3); /* KRB5_NT_SRV_HST */
    der_wrap(&tmp, 0xA1, &names);
    der_wrap(&sname, 0x30, &tmp);
    uint8_t filler[96];
    memset(filler, 0x5A, sizeof filler);
    struct buf enc_in = BUF_INIT, cipher = BUF_INIT;
    der_ctx_int(&enc_in, 0xA0, 18); /* aes256-cts-hmac-sha1-96 */
    der_ctx_int(&enc_in, 0xA1, 1);
    der(&cipher, 0x04, filler, sizeof filler);
    der_wrap(&enc_in, 0xA2, &cipher);
    der_wrap(&enc, 0x30, &enc_in);
    der_ctx_int(&body, 0xA0, 5);
    struct buf realm = BUF_INIT;
    der(&realm, 0x1B, "EXAMPLE.TEST", 12);
    der_wrap(&body, 0xA1, &realm);
    der_wrap(&body, 0xA2, &sname);
    der_wrap(&body, 0xA3, &enc);
    struct buf seq = BUF_INIT;
    der_wrap(&seq, 0x30, &body);
    der_wrap(t, 0x61, &seq); /* [APPLICATION 1] */
}

/* The MEMORY cache the real client finds as its default: router/localhost
 * with a service ticket for nn/localhost (a random session key), valid for
 * a day from now. Stays for the life of the process. */
static void make_cache(void)
{
    krb5_context k;
    if (krb5_init_context(&k) != 0)
        fail("krb5_init_context");
    krb5_creds cr;
    memset(&cr, 0, sizeof cr);
    struct buf t = BUF_INIT;
    make_ticket(&t);
    krb5_ccache cc = NULL;
    if (krb5_parse_name(k, "router/localhost@EXAMPLE.TEST", &cr.client) != 0 ||
        krb5_parse_name(k, "nn/localhost@EXAMPLE.TEST", &cr.server) != 0 ||
        krb5_c_make_random_key(k, ENCTYPE_AES256_CTS_HMAC_SHA1_96, &cr.keyblock) != 0)
        fail("made-up credentials");
    krb5_timestamp now = (krb5_timestamp)time(NULL);
    cr.times.authtime = cr.times.starttime = now;
    cr.times.endtime = now + 86400;
    cr.ticket.data = (char *)buf_rptr(&t);
    cr.ticket.length = (unsigned)buf_len(&t);
    if (krb5_cc_resolve(k, CC_TICKET, &cc) != 0 || krb5_cc_initialize(k, cc, cr.client) != 0 ||
        krb5_cc_store_cred(k, cc, &cr) != 0)
        fail("MEMORY cache");
    krb5_cc_close(k, cc);
    krb5_free_principal(k, cr.client);
    krb5_free_principal(k, cr.server);
    krb5_free_keyblock_contents(k, &cr.keyblock);
    krb5_free_context(k);
    buf_free(&t);
}

static void setup(void)
{
    if (ready)
        return;
    ready = true;
    /* Steps slowed by the sanitizers would each say how long they took. */
    fr_log_set_level(FR_LOG_WARN);
    write_krb5_conf();
    make_cache();
}

/* ---- what the router writes must be whole SASL requests ---- */

static void check_requests(struct buf *out)
{
    if (!buf_len(out))
        return;
    const uint8_t *p = buf_rptr(out);
    size_t n = buf_len(out);
    while (n) {
        const uint8_t *body;
        uint32_t bl;
        size_t fl;
        struct ipc_call call;
        if (ipc_frame_cut(p, n, MAX_FRAME, &body, &bl, &fl) != IPC_OK)
            fail("the router wrote a partial or oversized frame");
        if (ipc_parse_call(body, bl, &call) != IPC_OK || call.hdr.call_id != IPC_CALLID_SASL)
            fail("the router wrote a malformed SASL request");
        Hadoop__Common__RpcSaslProto *m = hadoop__common__rpc_sasl_proto__unpack(NULL, call.oob.len, call.oob.p);
        if (!m)
            fail("the router wrote a malformed RpcSaslProto");
        if (m->state != HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__INITIATE &&
            m->state != HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__RESPONSE)
            fail("the router wrote a SASL state other than INITIATE or RESPONSE");
        hadoop__common__rpc_sasl_proto__free_unpacked(m, NULL);
        p += fl;
        n -= fl;
    }
    buf_reset(out);
}

/* ---- the drivers: one handshake frame; 1 more, 2 done, -1 stop ---- */

struct drv {
    int mode;
    struct saslc_expect e; /* wire-only */
    struct auth_ipc_client *c;
    bool done, closed, layer;
    struct sec_layer *sec; /* with layer */
    struct buf in, plain, out;
};

static int wire_frame(struct drv *d, const uint8_t *body, size_t len)
{
    struct saslc_reply r;
    char why[512] = "";
    int ret = -1;
    switch (saslc_read(&d->e, body, len, &r, why, sizeof why)) {
    case SASLC_NEGOTIATE:
        if (!r.protocol || !r.server_id || strcmp(r.protocol, d->e.service) || strcasecmp(r.server_id, d->e.host))
            fail("an offer for another principal was accepted");
        d->e.negotiated = true;
        if (saslc_write_initiate(&d->out, "\x60\x03\x06\x01\x00", 5, r.protocol, r.server_id) == 0) {
            d->e.started = true;
            ret = 1;
        }
        break;
    case SASLC_CHALLENGE:
        if (r.token_len > SASLC_MAX_TOKEN || (r.token_len && !r.token))
            fail("a CHALLENGE token out of bounds");
        if (saslc_write_response(&d->out, (const char *)r.token, (unsigned)r.token_len) == 0)
            ret = 1;
        break;
    case SASLC_SUCCESS:
        d->e.done = true;
        ret = 2;
        break;
    case SASLC_REFUSED:
    case SASLC_BAD:
        if (!r.cls || !r.cls[0])
            fail("a failure without a class");
        if (r.what == SASLC_BAD && !why[0])
            fail("a failure without a reason");
        break;
    }
    saslc_reply_free(&r);
    return ret;
}

static int client_frame(struct drv *d, const uint8_t *body, size_t len)
{
    const char *cls = NULL;
    char why[512] = "";
    enum auth_ipc_client_rc rc = auth_ipc_client_frame(d->c, body, len, &d->out, &cls, why, sizeof why);
    if (rc == AUTH_IPC_DONE)
        fail("the client finished with a NameNode that never proved who it is");
    if (rc == AUTH_IPC_CONTINUE)
        return 1;
    if (!cls || !cls[0] || (rc == AUTH_IPC_FAILED && !why[0]))
        fail("a failure without a class or a reason");
    check_requests(&d->out);
    if (auth_ipc_client_frame(d->c, body, len, &d->out, &cls, why, sizeof why) != AUTH_IPC_FAILED || buf_len(&d->out))
        fail("the client read on after a failure");
    return -1;
}

/* What upstream.c's on_input does with the bytes in: whole frames to the
 * exchange until it is done, then replies (through the layer when one
 * was negotiated). */
static void pump(struct drv *d)
{
    while (!d->closed) {
        struct buf *src = &d->in;
        if (d->done && d->layer) {
            char why[256];
            if (sasl_layer_unwrap(d->sec, SASL_LAYER_CLIENT, &d->in, &d->plain, MAX_FRAME, why, sizeof why) < 0) {
                d->closed = true;
                return;
            }
            src = &d->plain;
        }
        if (!buf_len(src))
            return; /* (an empty buf may have no memory at all) */
        const uint8_t *body;
        uint32_t bl;
        size_t fl;
        int rc = ipc_frame_cut(buf_rptr(src), buf_len(src), MAX_FRAME, &body, &bl, &fl);
        if (rc == IPC_AGAIN)
            return;
        if (rc != IPC_OK) {
            d->closed = true;
            return;
        }
        if (d->done) {
            struct ipc_reply r;
            (void)ipc_parse_reply(body, bl, &r);
            buf_consume(src, fl);
            continue;
        }
        int r = d->c ? client_frame(d, body, bl) : wire_frame(d, body, bl);
        check_requests(&d->out);
        buf_consume(src, fl);
        if (r < 0)
            d->closed = true;
        else if (r == 2)
            d->done = true;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    if (size < 2)
        return 0;
    struct drv d = { .mode = data[0] & 3, .layer = (data[0] & 4) != 0 };
    d.e.service = "nn";
    d.e.host = NN_HOST;
    if (d.mode == 1 || d.mode == 2) {
        setenv("KRB5CCNAME", d.mode == 1 ? CC_TICKET : CC_NONE, 1);
        char why[512];
        if (!(d.c = auth_ipc_client_new(NULL, NN_PRINCIPAL, NN_HOST, why, sizeof why)))
            fail(why);
        d.layer = false;
    }
    if (d.layer)
        d.sec = fixed_layer(false);
    size_t n = size - 2, cut = n * data[1] / 255;
    const uint8_t *w = data + 2;
    buf_append(&d.in, w, cut);
    pump(&d);
    buf_append(&d.in, w + cut, n - cut);
    pump(&d);
    sec_layer_free(d.sec);
    auth_ipc_client_free(d.c);
    buf_free(&d.in);
    buf_free(&d.plain);
    buf_free(&d.out);
    return 0;
}

#ifndef FR_LIBFUZZER
#include "replay.h"

#include <netdb.h>
#include <sys/socket.h>

#include "wire.h"

/* ---- made-up NameNode answers, built with the protobuf-c messages ---- */

#define NEGOTIATE HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__NEGOTIATE
#define CHALLENGE HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__CHALLENGE
#define SUCCESS HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__SUCCESS

static void sasl_reply(struct buf *b, int state, const char *token, size_t toklen, bool offer, const char *server_id)
{
    Hadoop__Common__RpcSaslProto m = HADOOP__COMMON__RPC_SASL_PROTO__INIT;
    Hadoop__Common__RpcSaslProto__SaslAuth tok_auth, krb_auth, *auths[2] = { &tok_auth, &krb_auth };
    m.state = state;
    if (token) {
        m.has_token = 1;
        m.token.data = (uint8_t *)token;
        m.token.len = toklen;
    }
    if (offer) {
        /* As a NameNode with delegation tokens offers: TOKEN first. */
        hadoop__common__rpc_sasl_proto__sasl_auth__init(&tok_auth);
        tok_auth.method = (char *)"TOKEN";
        tok_auth.mechanism = (char *)"DIGEST-MD5";
        tok_auth.protocol = (char *)"";
        tok_auth.serverid = (char *)"default";
        tok_auth.has_challenge = 1;
        tok_auth.challenge.data =
            (uint8_t *)"realm=\"default\",nonce=\"n0\",qop=\"auth\",charset=utf-8,algorithm=md5-sess";
        tok_auth.challenge.len = strlen((const char *)tok_auth.challenge.data);
        hadoop__common__rpc_sasl_proto__sasl_auth__init(&krb_auth);
        krb_auth.method = (char *)"KERBEROS";
        krb_auth.mechanism = (char *)"GSSAPI";
        krb_auth.protocol = (char *)"nn";
        krb_auth.serverid = (char *)server_id;
        m.n_auths = 2;
        m.auths = auths;
    }
    ipc_write_sasl_reply(b, &m.base);
}

static void file_info_reply(struct buf *b, int32_t call_id)
{
    uint8_t cid[IPC_CLIENT_ID_LEN] = { 3 };
    struct ipc_ids ids = { call_id, 0, cid, sizeof cid };
    /* GetFileInfoResponseProto { fs { fileType IS_DIR, path "", length 0 } } (enough of it) */
    static const uint8_t msg[] = { 0x0a, 0x06, 0x08, 0x01, 0x12, 0x00, 0x18, 0x00 };
    ipc_write_reply_raw(b, &ids, msg, sizeof msg);
}

/* The seeds: header (driver, cut) then the NameNode's bytes. */
enum { N_SEEDS = 9 };
static void make_seed(struct buf *b, int v)
{
    static const uint8_t head[N_SEEDS][2] = { { 0, 90 },  { 4, 160 }, { 0, 30 }, { 0, 200 }, { 0, 128 },
                                              { 1, 100 }, { 1, 50 },  { 2, 70 }, { 3, 255 } };
    buf_append(b, head[v], 2);
    /* A GSS krb5 token framing (OID 1.2.840.113554.1.2.2, AP-REP type)
     * around bytes that are no AP-REP. */
    static const char gss[] = "\x60\x2d\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x02\x00"
                              "junk-ap-rep-for-a-made-up-ticket";
    size_t gsslen = sizeof gss - 1;
    switch (v) {
    case 0: /* the whole exchange, then a plain reply */
    case 1: /* the same with a layer: the reply comes WRAP-framed */
    case 8:
        sasl_reply(b, NEGOTIATE, NULL, 0, true, NN_HOST);
        sasl_reply(b, CHALLENGE, gss, gsslen, false, NULL);
        sasl_reply(b, CHALLENGE, "\x05\x04\x01\xff", 4, false, NULL);
        sasl_reply(b, SUCCESS, NULL, 0, false, NULL);
        if (v == 1) {
            struct buf pkt = BUF_INIT;
            file_info_reply(&pkt, 0);
            char why[256];
            struct sec_layer *nn = fixed_layer(true);
            if (sasl_layer_wrap(nn, SASL_LAYER_SERVER, buf_rptr(&pkt), buf_len(&pkt), b, why, sizeof why) < 0)
                fail(why);
            sec_layer_free(nn);
            buf_free(&pkt);
        } else {
            file_info_reply(b, 0);
        }
        break;
    case 2: /* the NameNode refuses the AP-REQ */
        sasl_reply(b, NEGOTIATE, NULL, 0, true, NN_HOST);
        {
            struct ipc_ids ids = { IPC_CALLID_SASL, -1, NULL, 0 };
            ipc_write_error(b, &ids, IPC_FATAL, IPC_FATAL_UNAUTHORIZED, "javax.security.sasl.SaslException",
                            "GSS initiate failed [Caused by GSSException: Failure unspecified at GSS-API level]");
        }
        break;
    case 3: /* an offer for another host, then more */
        sasl_reply(b, NEGOTIATE, NULL, 0, true, "nn2.example.test");
        sasl_reply(b, CHALLENGE, gss, gsslen, false, NULL);
        break;
    case 4: /* SIMPLE only: SUCCESS at once, then a reply */
        sasl_reply(b, SUCCESS, NULL, 0, false, NULL);
        file_info_reply(b, 0);
        break;
    case 5: /* the real client: a CHALLENGE it cannot read */
        sasl_reply(b, NEGOTIATE, NULL, 0, true, NN_HOST);
        sasl_reply(b, CHALLENGE, gss, gsslen, false, NULL);
        sasl_reply(b, SUCCESS, NULL, 0, false, NULL);
        break;
    case 6: /* the real client: SUCCESS before GSSAPI is done */
        sasl_reply(b, NEGOTIATE, NULL, 0, true, NN_HOST);
        sasl_reply(b, SUCCESS, NULL, 0, false, NULL);
        file_info_reply(b, 0);
        break;
    case 7: /* no credentials */
        sasl_reply(b, NEGOTIATE, NULL, 0, true, NN_HOST);
        sasl_reply(b, CHALLENGE, gss, gsslen, false, NULL);
        break;
    }
}

/* ---- recording a real exchange ---- */

static int read_full(int fd, uint8_t *p, size_t n)
{
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int write_full(int fd, struct buf *b)
{
    const uint8_t *p = buf_rptr(b);
    size_t n = buf_len(b);
    while (n) {
        ssize_t r = write(fd, p, n);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    buf_reset(b);
    return 0;
}

/* One frame from fd, appended whole (length too) to rec; its body in body. */
static int read_frame(int fd, struct buf *rec, struct buf *body)
{
    uint8_t l[4];
    if (read_full(fd, l, 4) < 0)
        return -1;
    uint32_t n = wire_get_be32(l);
    if (n > (16u << 20))
        return -1;
    buf_reset(body);
    if (buf_reserve(body, n ? n : 1) < 0 || read_full(fd, buf_wptr(body), n) < 0)
        return -1;
    buf_commit(body, n);
    buf_append(rec, l, 4);
    buf_append(rec, buf_rptr(body), n);
    return 0;
}

static void write_seed(const char *dir, const char *name, uint8_t mode, const struct buf *rec)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    uint8_t head[2] = { mode, 128 };
    fwrite(head, 1, 2, f);
    fwrite(buf_rptr(rec), 1, buf_len(rec), f);
    fclose(f);
    printf("wrote %s (%zu bytes)\n", path, buf_len(rec) + 2);
}

/* --record=DIR TAG NN_ADDR NN_PRINCIPAL LOGIN KEYTAB: logs in, runs the
 * exchange with the NameNode, sends the context and a getFileInfo("/"),
 * and writes what the NameNode sent as seeds rec_TAG_wire (driver 0, with
 * the layer when one was negotiated) and rec_TAG_client (driver 1).
 * Kerberos comes from the environment (KRB5_CONFIG). */
static int record(const char *dir, char **a)
{
    const char *tag = a[0], *addr = a[1], *principal = a[2], *login = a[3], *keytab = a[4];
    char why[512], host[256], port[16];
    const char *colon = strrchr(addr, ':');
    if (!colon)
        return fprintf(stderr, "NameNode address %s has no port\n", addr), 2;
    snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
    snprintf(port, sizeof port, "%s", colon + 1);
    struct auth_login *l = auth_login_new(login, keytab, why, sizeof why);
    if (!l)
        return fprintf(stderr, "login: %s\n", why), 1;
    struct auth_ipc_client *c = auth_ipc_client_new(l, principal, host, why, sizeof why);
    if (!c)
        return fprintf(stderr, "%s\n", why), 1;
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
    int fd = -1;
    if (getaddrinfo(host, port, &hints, &res) == 0 && res) {
        fd = socket(res->ai_family, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
            close(fd);
            fd = -1;
        }
        freeaddrinfo(res);
    }
    if (fd < 0)
        return fprintf(stderr, "cannot connect to %s\n", addr), 1;
    struct buf out = BUF_INIT, rec = BUF_INIT, body = BUF_INIT;
    int rc = 1;
    if (auth_ipc_client_begin(c, &out) < 0 || write_full(fd, &out) < 0)
        goto out;
    for (;;) {
        const char *cls;
        if (read_frame(fd, &rec, &body) < 0) {
            fprintf(stderr, "the NameNode closed during the exchange\n");
            goto out;
        }
        enum auth_ipc_client_rc r =
            auth_ipc_client_frame(c, buf_rptr(&body), buf_len(&body), &out, &cls, why, sizeof why);
        if (r < 0) {
            fprintf(stderr, "exchange: %s: %s\n", cls, why);
            goto out;
        }
        if (write_full(fd, &out) < 0)
            goto out;
        if (r == AUTH_IPC_DONE)
            break;
    }
    unsigned ssf = auth_ipc_client_ssf(c);
    uint8_t cid[IPC_CLIENT_ID_LEN];
    ipc_new_client_id(cid);
    struct ipc_ids ids = { 0, 0, cid, sizeof cid };
    if (ipc_write_context(&out, cid, auth_login_principal(l), NULL, IPC_CLIENT_PROTOCOL) != IPC_OK ||
        ipc_write_call_raw(&out, &ids, "getFileInfo", IPC_CLIENT_PROTOCOL, (const uint8_t *)"\x0a\x01/", 3) != IPC_OK ||
        write_full(fd, &out) < 0 || read_frame(fd, &rec, &body) < 0) {
        fprintf(stderr, "no reply to getFileInfo\n");
        goto out;
    }
    printf("exchange done, ssf %u\n", ssf);
    char name[256];
    snprintf(name, sizeof name, "rec_%s_wire", tag);
    write_seed(dir, name, ssf ? 4 : 0, &rec);
    snprintf(name, sizeof name, "rec_%s_client", tag);
    write_seed(dir, name, 1, &rec);
    rc = 0;
out:
    close(fd);
    buf_free(&out);
    buf_free(&rec);
    buf_free(&body);
    auth_ipc_client_free(c);
    auth_login_free(l);
    return rc;
}

/* ---- replay ---- */

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--record=", 9) == 0) {
            if (argc - i - 1 < 5) {
                fprintf(stderr, "usage: %s --record=DIR TAG NN_ADDR NN_PRINCIPAL LOGIN KEYTAB\n", argv[0]);
                return 2;
            }
            return record(argv[i] + 9, argv + i + 1);
        }
    }
    setup();
    if (replay_write_seeds(argc, argv, N_SEEDS, make_seed))
        return 0;
    long rounds = replay_rounds(argc, argv, 100000);
    replay_seed(0x9E3779B97F4A7C15ull);
    for (int v = 0; v < N_SEEDS; v++) {
        struct buf s = BUF_INIT;
        make_seed(&s, v);
        /* The real client runs GSSAPI on every input: fewer
         * rounds of it. */
        int drv = buf_rptr(&s)[0] & 3;
        /* The driver byte stays: a seed keeps its driver. */
        replay_mutations(buf_rptr(&s), buf_len(&s), drv == 1 || drv == 2 ? rounds / 20 : rounds / 6, 1);
        buf_free(&s);
    }
    replay_args(argc, argv);
    printf("fuzz_ipc_sasl_client: mutated inputs ran clean (%ld rounds)\n", rounds);
    return 0;
}
#endif
