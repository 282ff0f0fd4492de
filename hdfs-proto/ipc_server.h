/*
 * ipc_server: the server side of a Hadoop IPC connection up to the calls,
 * shared by minidfs's NameNode and the router.
 *
 *   PREAMBLE --(auth NONE, SIMPLE allowed)--> CONTEXT --(context frame)--> CALLS
 *            --(auth SASL)--> SASL --(NEGOTIATE, SIMPLE only: SUCCESS)--> CONTEXT
 *                               \--(NEGOTIATE: offer; INITIATE/RESPONSE
 *                                    <-> CHALLENGE ... SUCCESS)--> CONTEXT
 *                                    (the context's user is then checked)
 *
 * With a security layer (integrity/privacy) the codec sees plaintext only:
 * the connection's SASL transport unwraps WRAP frames before the codec and
 * wraps every reply after it; plain frames the client sends after the
 * handshake (the Go client wraps nothing) reach the codec as they are.
 *
 * Authentication policy is not the codec's: without an auth hook
 * (ipc_sconn_set_auth) the connection is SIMPLE only, as minidfs wants.
 * With one, the hook says which methods are offered, runs each mechanism
 * step and judges the connection context's user; the codec keeps the
 * Hadoop side: the NEGOTIATE offer, the states, and the FATAL answers with
 * the exception classes and messages Hadoop's ipc.Server sends.
 *
 * The caller owns the socket and the buffers; ipc_sconn_next() looks at the
 * input buffer and either hands out the next call, asks for more bytes, or
 * says the connection must be closed (after writing what it appended to out:
 * the FATAL reply Hadoop gives for that mistake, or a plain-text answer to
 * an HTTP request). Pings are swallowed. Errors never touch other connections.
 */
#ifndef FR_IPC_SERVER_H
#define FR_IPC_SERVER_H

#include "ipc.h"

enum ipc_sstate { IPC_S_PREAMBLE, IPC_S_SASL, IPC_S_CONTEXT, IPC_S_CALLS, IPC_S_CLOSING };

/* Methods an auth hook may offer (Hadoop's AuthMethod). */
#define IPC_AUTHM_SIMPLE 0x1u
#define IPC_AUTHM_KERBEROS 0x2u
#define IPC_AUTHM_TOKEN 0x4u /* reserved for delegation tokens */

enum ipc_auth_step { IPC_AUTH_CONTINUE = 0, IPC_AUTH_DONE = 1, IPC_AUTH_FAILED = -1 };

/* The authentication hook of a server connection; arg is per connection. */
struct ipc_auth_ops {
    /* IPC_AUTHM_* offered. SIMPLE alone behaves as no hook at all. */
    unsigned (*methods)(void *arg);
    /* The KERBEROS entry of the offer: the server principal's service
     * ("nn") and host parts. */
    void (*kerberos_id)(void *arg, const char **protocol, const char **server_id);
    /* Optional: the challenge text of a TOKEN (DIGEST-MD5) entry put first
     * in the offer, as Hadoop lists TOKEN, written to out; 0 = no entry.
     * Clients read the QOPs the server wants from it (qop="auth-conf").
     * The entry does not enable TOKEN: methods() decides what INITIATE
     * may choose. */
    size_t (*token_challenge)(void *arg, char *out, size_t outlen);
    /* One step of mechanism (method: "KERBEROS"): first = INITIATE's token.
     * CONTINUE: *out goes back as CHALLENGE; DONE: SUCCESS (with *out when
     * not empty); FAILED: why is for the log only. *out stays valid until
     * the next call. */
    enum ipc_auth_step (*step)(void *arg, const char *method, const char *mechanism, bool first, const uint8_t *in,
                               size_t inlen, const uint8_t **out, size_t *outlen, char *why, size_t whylen);
    /* After a completed exchange, the connection context arrived: 0 when
     * the authenticated identity may act as ctx->effective_user (the hook
     * fills an empty one); -1 to refuse, with Hadoop's exception class in
     * *cls and its message in msg. */
    int (*authorize)(void *arg, struct ipc_context *ctx, const char **cls, char *msg, size_t msglen);
};

struct ipc_sconn {
    enum ipc_sstate state;
    uint32_t max_frame;
    struct ipc_context ctx;          /* filled when the context arrives */
    const char *close_reason;        /* why IPC_S_CLOSING, for the log */
    const struct ipc_auth_ops *auth; /* NULL: SIMPLE only */
    void *auth_arg;
    bool sent_negotiate;             /* the NEGOTIATE offer went out */
    bool started;                    /* INITIATE was taken: RESPONSE steps follow */
    bool authenticated;              /* a SASL exchange completed (not SIMPLE) */
    char method[16];                 /* the method the client chose ("KERBEROS") */
    char mechanism[32];              /* and its mechanism ("GSSAPI") */
    char reason[320];                /* close_reason's text when it is built */
};

enum ipc_snext {
    IPC_S_NEED_MORE = 0,             /* wait for more bytes */
    IPC_S_CALL = 1,                  /* *call is valid; consume *frame_len bytes after handling */
    IPC_S_CLOSE = 2,                 /* flush out, then close */
};

void ipc_sconn_init(struct ipc_sconn *s, uint32_t max_frame);
/* Installs an auth hook before the first byte is parsed; arg is the
 * connection's (the caller frees it after the connection). */
void ipc_sconn_set_auth(struct ipc_sconn *s, const struct ipc_auth_ops *ops, void *arg);
/* "[KERBEROS, SIMPLE]": the offered methods the way Hadoop prints its
 * list of enabled methods in refusals. */
void ipc_auth_methods_str(unsigned methods, char *out, size_t outlen);

/* Advances over handshake frames in `in` (consuming them) and stops at the
 * next call. It also stops (IPC_S_NEED_MORE) right after the SUCCESS that
 * ends a SASL exchange, even with bytes left in `in`: a caller with a
 * security layer installs it then, and calls again with the layer's
 * plaintext. A returned call points into `in`: handle it, then
 * buf_consume(in, *frame_len). */
enum ipc_snext ipc_sconn_next(struct ipc_sconn *s, struct buf *in, struct buf *out, struct ipc_call *call,
                              size_t *frame_len);

#endif
