/*
 * gss_sasl: the SASL GSSAPI mechanism (RFC 4752) on MIT's GSS-API, for
 * either side of an exchange, with the security layer it agrees on handed
 * to sec_layer (OpenSSL for AES keys). It replaces Cyrus's GSSAPI plugin in
 * the router because Cyrus keeps the GSS-API context to itself, and with it
 * every wrap on MIT's slow builtin AES.
 *
 *   client                                   server
 *   gss_init_sec_context  -- token -->       gss_accept_sec_context
 *                         <-- token --       (until both are complete; an
 *                         -- ""    -->        empty answer to the last one)
 *   unwrap offer          <-- wrap(layers | max buffer) --
 *   pick one              -- wrap(layer | max buffer | authzid) -->
 *                                            check; done
 *
 * Layers: GSS_SASL_NONE, _INTEGRITY, _PRIVACY (RFC 4752's bits). The server
 * offers what it is given; a client that answers with more than one bit
 * (the Go client echoes the offer) gets the strongest of them that was
 * offered. The client takes the strongest offered of those it accepts.
 * Both sides say they take tokens up to 0xFFFFFF bytes, so that no
 * ordinary reply is split.
 *
 * An authzid from the client must name the authenticated principal (with
 * or without the default realm); acting for someone else is the
 * connection context's business (proxy users), not SASL's.
 */
#ifndef FR_GSS_SASL_H
#define FR_GSS_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gssapi/gssapi.h>

#define GSS_SASL_NONE 0x1u
#define GSS_SASL_INTEGRITY 0x2u
#define GSS_SASL_PRIVACY 0x4u

struct gss_sasl;
struct sec_layer;

enum gss_sasl_rc { GSS_SASL_CONTINUE = 0, GSS_SASL_DONE = 1, GSS_SASL_FAILED = -1 };

/* The accepting side for "service/host" (its key in the keytab GSSAPI was
 * given), offering layers (GSS_SASL_* bits). NULL with why. */
struct gss_sasl *gss_sasl_server_new(const char *service, const char *host, unsigned layers, char *why, size_t whylen);

/* The initiating side towards "service/host" on cred (borrowed, it must
 * last until DONE; GSS_C_NO_CREDENTIAL: the default credentials), taking
 * any of layers. NULL with why. */
struct gss_sasl *gss_sasl_client_new(const char *service, const char *host, gss_cred_id_t cred, unsigned layers,
                                     char *why, size_t whylen);
void gss_sasl_free(struct gss_sasl *g);

/*
 * One step: in[0..inlen) is the peer's token (the client's first call has
 * none). *out, *outlen: the token to send (owned by g until the next call;
 * may be empty). CONTINUE: send it and wait for the peer. DONE: the
 * server has checked the client's choice (nothing to send), or the client
 * has made its choice (send it; the server then says SUCCESS). FAILED: why
 * holds GSS-API's reason (for the log).
 */
enum gss_sasl_rc gss_sasl_step(struct gss_sasl *g, const uint8_t *in, size_t inlen, const uint8_t **out, size_t *outlen,
                               char *why, size_t whylen);

/* The layer agreed (one GSS_SASL_* bit; 0 until the step that says DONE),
 * its security strength as Cyrus reports it (0 none, 1 integrity, 256
 * privacy), and the client's principal as GSS-API names it
 * ("alice@EXAMPLE.TEST"; server side, after DONE). */
unsigned gss_sasl_layer(const struct gss_sasl *g);
unsigned gss_sasl_ssf(const struct gss_sasl *g);
const char *gss_sasl_principal(const struct gss_sasl *g);

/* After DONE with a layer other than NONE: the security layer, which
 * takes the context over (g keeps none). NULL with why. */
struct sec_layer *gss_sasl_take_layer(struct gss_sasl *g, char *why, size_t whylen);

#endif
