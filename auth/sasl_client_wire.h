/*
 * sasl_client_wire: the bytes of the router's SASL exchange with a
 * kerberized NameNode, with neither Cyrus nor a Kerberos login in them.
 *
 *   saslc_read    one reply frame of the exchange (RpcResponseHeaderProto,
 *                 then a delimited RpcSaslProto): its status, its call id,
 *                 the SASL state and token, and whether that state may come
 *                 where the exchange is; for NEGOTIATE, the KERBEROS/GSSAPI
 *                 entry and the principal it names.
 *   saslc_write_* the router's requests: preamble + NEGOTIATE, INITIATE with
 *                 the chosen entry, RESPONSE.
 *
 * sasl_client.c runs GSSAPI on what saslc_read accepts; the reading is
 * kept apart so that it can be exercised with arbitrary bytes and no KDC
 * (tests/fuzz/fuzz_ipc_sasl_client.c). Internal to frsasl.
 */
#ifndef FR_SASL_CLIENT_WIRE_H
#define FR_SASL_CLIENT_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* A GSSAPI token is a few KiB: anything above this is refused. */
#define SASLC_MAX_TOKEN (1u << 20)

/* Where the exchange is: what the NameNode may send next. */
struct saslc_expect {
    const char *service; /* the configured principal's parts ("nn"), */
    const char *host;    /* which the offer must name ("nn1.example.com") */
    bool negotiated;     /* its NEGOTIATE came */
    bool started;        /* GSSAPI started: INITIATE went out */
    bool done;           /* its SUCCESS came */
};

enum saslc_what {
    SASLC_NEGOTIATE, /* an offer of KERBEROS/GSSAPI for service/host: protocol, server_id */
    SASLC_CHALLENGE, /* token (token_len may be 0) */
    SASLC_SUCCESS,   /* token when has_token */
    SASLC_REFUSED,   /* an ERROR or FATAL reply: cls is its class, why its message */
    SASLC_BAD,       /* anything else: cls names the kind of failure, why says what */
};

struct saslc_reply {
    enum saslc_what what;
    const char *cls; /* REFUSED and BAD; may point into exc_class */
    char exc_class[160];
    bool has_token;
    const uint8_t *token;
    size_t token_len;
    const char *protocol; /* NEGOTIATE: the KERBEROS/GSSAPI entry */
    const char *server_id;
    void *msg; /* the unpacked RpcSaslProto the pointers above refer to */
};

/* Reads one reply frame body (without its length) against e. Fills r and
 * returns r->what; on REFUSED and BAD, why says what (for REFUSED, the
 * NameNode's message). Call saslc_reply_free(r) afterwards, whatever the
 * answer. */
enum saslc_what saslc_read(const struct saslc_expect *e, const uint8_t *body, size_t len, struct saslc_reply *r,
                           char *why, size_t whylen);
void saslc_reply_free(struct saslc_reply *r);

/* Each appends whole frames to out; 0, or -1 when out of memory. */
int saslc_write_begin(struct buf *out); /* preamble (auth SASL) + NEGOTIATE */
int saslc_write_initiate(struct buf *out, const char *tok, unsigned toklen, const char *protocol,
                         const char *server_id);
int saslc_write_response(struct buf *out, const char *tok, unsigned toklen);

#endif
