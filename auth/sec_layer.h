/*
 * sec_layer: the per-message half of a SASL security layer (integrity or
 * privacy) once an exchange has finished: one message in, one token out,
 * and back. Three engines sit behind it:
 *
 *   openssl  GSSAPI contexts whose key is AES (RFC 3962, RFC 8009): the
 *            keys are exported from MIT's context and RFC 4121 tokens are
 *            made with OpenSSL (krb_cfx.h), which uses AES-NI and SHA-NI
 *   gssapi   any other Kerberos enctype: MIT's gss_wrap and gss_unwrap
 *   cyrus    a Cyrus sasl_conn_t (sasl_encode and sasl_decode), for
 *            servers that run Cyrus's own GSSAPI (minidfs does, so the
 *            router's mechanism is tested against Cyrus's)
 *
 * Sequence numbers live in the layer: calls on one layer must be
 * serialised (one thread at a time, messages in order).
 */
#ifndef FR_SEC_LAYER_H
#define FR_SEC_LAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sec_layer;

/* Gives the place for a token of tl bytes (the caller then writes it), or
 * NULL when out of memory. */
typedef uint8_t *(*sec_reserve_fn)(void *arg, size_t tl);

/*
 * From an established GSS-API context (gss_ctx_id_t *, taken over: it is
 * set to GSS_C_NO_CONTEXT). conf: privacy (tokens sealed both ways), else
 * integrity. peer_max: the largest token the peer said it takes (RFC 4752
 * max buffer; 0: no limit). unwrapped: how many tokens MIT unwrapped on the
 * context already (the exchange's own; MIT's exported receive sequence
 * number does not count them). NULL with why.
 */
struct sec_layer *sec_layer_from_gss(void *gss_ctx, bool conf, uint32_t peer_max, unsigned unwrapped, char *why,
                                     size_t whylen);
/* The openssl engine from raw key material (krb_cfx_new's arguments), for
 * tests and fuzzers. */
struct sec_layer *sec_layer_from_key(int enctype, const uint8_t *key, size_t keylen, bool initiator,
                                     bool acceptor_subkey, uint64_t send_seq, uint64_t recv_seq, bool conf,
                                     uint32_t peer_max, char *why, size_t whylen);
/* Over a Cyrus sasl_conn_t whose exchange finished (borrowed: it must
 * outlive the layer). */
struct sec_layer *sec_layer_from_cyrus(void *sasl_conn);
void sec_layer_free(struct sec_layer *l);

/* "openssl", "gssapi" or "cyrus". */
const char *sec_layer_engine(const struct sec_layer *l);

/*
 * Wraps msg[0..n) into one or more tokens (more only when n is over what
 * the peer takes in one): for each, reserve(arg, length) gives where to
 * write it. 0, or -1 with why ("out of memory" when reserve failed).
 */
int sec_layer_wrap(struct sec_layer *l, const uint8_t *msg, size_t n, sec_reserve_fn reserve, void *arg, char *why,
                   size_t whylen);

/*
 * Unwraps one token tok[0..n) (which may be modified) into out, which has
 * room for n bytes; *outlen = the plaintext's length. At privacy a token
 * that is not sealed is refused. 0, or -1 with why; after a failure the
 * layer must not be used again.
 */
int sec_layer_unwrap(struct sec_layer *l, uint8_t *tok, size_t n, uint8_t *out, size_t *outlen, char *why,
                     size_t whylen);

#endif
