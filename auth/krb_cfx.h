/*
 * krb_cfx: Kerberos GSS-API per-message tokens (RFC 4121 "CFX" wrap
 * tokens) with OpenSSL, for the security layer of an established GSSAPI
 * context whose keys were exported from MIT's GSS-API
 * (gss_krb5_export_lucid_sec_context).
 *
 * Why: Debian's MIT libk5crypto has its own AES without AES-NI; OpenSSL's
 * libcrypto uses AES-NI and SHA-NI, several times faster per byte. Only the
 * per-message step moves here: the context is still established by MIT.
 *
 * Encryption types (RFC 3962, RFC 8009):
 *   17 aes128-cts-hmac-sha1-96     18 aes256-cts-hmac-sha1-96
 *   19 aes128-cts-hmac-sha256-128  20 aes256-cts-hmac-sha384-192
 * Any other type: krb_cfx_new returns NULL (the caller keeps gss_wrap).
 *
 * Tokens: wrap with confidentiality (Sealed) or integrity only; unwrap
 * takes either, any EC and any RRC (right rotation count), checks the
 * direction flag (a token must come from the peer), the AcceptorSubkey
 * flag, and the sequence number: strictly the next one expected (as MIT
 * does with sequence checking on; a replayed, dropped or reordered token
 * fails). Wrap tokens carry RRC = 0 and EC = 0 when sealed.
 *
 * Threads: one object per connection, used by one thread at a time.
 */
#ifndef FR_KRB_CFX_H
#define FR_KRB_CFX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct krb_cfx;

/*
 * A context for one side. enctype and key (keylen bytes) are the context
 * key the lucid context gives: its acceptor subkey when it has one
 * (acceptor_subkey = true; tokens then carry the AcceptorSubkey flag),
 * else its ctx_key. initiator: this side started the context. send_seq and
 * recv_seq: the next sequence numbers, from the lucid context. NULL with
 * why when the enctype is not one of the four or the key length is wrong.
 */
struct krb_cfx *krb_cfx_new(int enctype, const uint8_t *key, size_t keylen, bool initiator, bool acceptor_subkey,
                            uint64_t send_seq, uint64_t recv_seq, char *why, size_t whylen);
void krb_cfx_free(struct krb_cfx *c);

/* The length of the token krb_cfx_wrap makes from n bytes, sealed (conf)
 * or not: tokens carry no padding, so it is known beforehand. */
size_t krb_cfx_wrap_len(const struct krb_cfx *c, bool conf, size_t n);

/*
 * Wraps msg[0..n) into out (room for krb_cfx_wrap_len(c, conf, n) bytes), sealed
 * when conf, else with a checksum only; *outlen = the token's length. One
 * sequence number used per call. 0, or -1 with why (OpenSSL failed).
 */
int krb_cfx_wrap(struct krb_cfx *c, bool conf, const uint8_t *msg, size_t n, uint8_t *out, size_t *outlen, char *why,
                 size_t whylen);

/*
 * Unwraps the token tok[0..n) into out (room for n bytes: a plaintext is
 * always shorter than its token); *outlen = the plaintext's length,
 * *sealed = whether it was encrypted. tok is modified (rotated and
 * decrypted in place as needed). 0, or -1 with why: malformed, wrong
 * direction or flags, bad checksum, sequence number not the next one.
 * After a failure the context must not be used again.
 */
int krb_cfx_unwrap(struct krb_cfx *c, uint8_t *tok, size_t n, uint8_t *out, size_t *outlen, bool *sealed, char *why,
                   size_t whylen);

#endif
