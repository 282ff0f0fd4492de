/*
 * sasl_client: the router's side of SASL as a client of kerberized
 * NameNodes (GSSAPI, auth/gss_sasl.h), and the Hadoop IPC handshake that
 * carries it.
 *
 *   main:       auth_login_new(principal, keytab)   once, before the workers
 *                  a TGT from the keytab into a MEMORY credential cache;
 *                  a renewer thread (krb_login.c) logs in again half way
 *                  through the tickets' life and fetches the service
 *                  tickets of the NameNodes it has seen into each new
 *                  cache. No kinit, no ccache file.
 *   per conn:   auth_ipc_client_new(login, "nn/_HOST@R", "nn1.example.com")
 *                  auth_ipc_client_begin(out)    preamble (auth SASL) + NEGOTIATE
 *                  auth_ipc_client_frame(frame)  for each reply until DONE:
 *                     NEGOTIATE -> pick KERBEROS/GSSAPI -> INITIATE + token
 *                     CHALLENGE -> RESPONSE ... SUCCESS (only once GSSAPI
 *                     finished on our side: the NameNode proved who it is)
 *               the caller then writes the connection context (Hadoop's
 *               client sends only the effective user with Kerberos: the
 *               real user is the authenticated one) and the calls.
 *
 * The reading of the NameNode's replies (reply header, RpcSaslProto state
 * and token, the offer's checks) is auth/sasl_client_wire.c, without
 * GSS-API.
 *
 * The handshake names the NameNode as Hadoop's client does: service and
 * host from the configured principal with _HOST replaced by the NameNode's
 * host as written in its address; the NEGOTIATE offer must carry the same
 * protocol and server id, or the exchange stops (a principal mismatch).
 *
 * Security layer: the client takes the strongest the NameNode offers (so
 * privacy when it offers privacy); with SSF > 0 the caller unwraps replies
 * with sasl_layer_unwrap (auth/sasl_layer.h) on auth_ipc_client_layer();
 * requests may go plain, as Hadoop's server accepts them after any QOP.
 *
 * Threads: auth_login is shared by every worker; an auth_ipc_client
 * belongs to one connection. The KDC is asked on the renewer thread: the
 * login, its renewals, and the service ticket of every NameNode principal
 * once it is known (auth_ipc_client_new registers it; main registers the
 * configured ones at start-up). Only the very first handshake with a
 * NameNode not registered before asks the KDC on the calling loop (one TGS
 * round trip, logged with its time).
 */
#ifndef FR_SASL_CLIENT_H
#define FR_SASL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct auth_login;
struct auth_ipc_client;

/*
 * Logs in as principal (no realm: the default realm) from keytab (NULL or
 * "": KRB5_CLIENT_KTNAME, else the default client keytab). Gets a TGT at
 * once, so a wrong keytab or an unreachable KDC is found at start-up.
 * Blocking. NULL with why on error.
 */
struct auth_login *auth_login_new(const char *principal, const char *keytab, char *why, size_t whylen);
void auth_login_free(struct auth_login *l);
/* The principal logged in ("router/h@R") and its short name by the DEFAULT
 * auth_to_local rule ("router"). */
const char *auth_login_principal(const struct auth_login *l);
const char *auth_login_user(const struct auth_login *l);
/* When the current TGT ends (Unix seconds). */
long long auth_login_expires(const struct auth_login *l);
/* Registers the NameNode principal (nn/_HOST@R, _HOST = nn_host) so that
 * its service ticket is fetched now, on the renewer thread, and with every
 * renewal; for the NameNodes known at start-up. */
void auth_login_prefetch(struct auth_login *l, const char *principal, const char *nn_host);

/* A handshake for one connection to the NameNode whose principal is
 * principal (_HOST = nn_host). NULL with why on a bad principal or no
 * memory. The router always passes its login; l may be NULL, and the
 * handshake then runs on GSSAPI's default credentials (KRB5CCNAME, as a
 * kinit'd Hadoop client would), so that tests can run it with no keytab
 * login. */
struct auth_ipc_client *auth_ipc_client_new(struct auth_login *l, const char *principal, const char *nn_host, char *why,
                                            size_t whylen);
void auth_ipc_client_free(struct auth_ipc_client *c);

/* Appends the preamble (auth byte SASL) and the NEGOTIATE frame. 0 or -1. */
int auth_ipc_client_begin(struct auth_ipc_client *c, struct buf *out);

enum auth_ipc_client_rc {
    AUTH_IPC_CONTINUE = 0, /* frames may have been appended to out: send them, wait for more */
    AUTH_IPC_DONE = 1,     /* authenticated: write the context and the calls */
    AUTH_IPC_REFUSED = -1, /* the NameNode answered FATAL: *cls and why hold its exception */
    AUTH_IPC_FAILED = -2,  /* our side failed (Kerberos, a bad answer): why says what */
};

/*
 * Takes one reply frame body (without its length) that arrived during the
 * handshake. After an answer other than CONTINUE, it reads nothing more
 * (FAILED). On REFUSED, cls points at a static copy of the NameNode's
 * exception class and why holds its message; on FAILED, cls is a Java
 * class naming the kind of failure (javax.security.sasl.SaslException or
 * java.io.IOException) for the client's error.
 */
enum auth_ipc_client_rc auth_ipc_client_frame(struct auth_ipc_client *c, const uint8_t *body, size_t len,
                                              struct buf *out, const char **cls, char *why, size_t whylen);

/* After DONE: the negotiated security strength (0: none, 1: integrity,
 * 256: privacy) and the security layer (sec_layer.h) that unwraps the
 * NameNode's replies; NULL without one. It lives as long as c. */
struct sec_layer;
unsigned auth_ipc_client_ssf(const struct auth_ipc_client *c);
struct sec_layer *auth_ipc_client_layer(struct auth_ipc_client *c);

#endif
