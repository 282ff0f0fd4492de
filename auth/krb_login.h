/*
 * krb_login: the router's own Kerberos identity (auth_login in
 * sasl_client.h): a TGT from its keytab in a MEMORY credential cache, kept
 * fresh by a renewer thread, and the service tickets of the NameNode
 * principals it talks to, fetched ahead on that thread so that handshakes on
 * the worker loops find them cached and do not wait for the KDC.
 *
 *   renewer thread, every few seconds:
 *     half the tickets' life gone (or under 10 s left)?
 *       AS-REQ from the keytab into a NEW cache "MEMORY:fedrouter-login-N"
 *       TGS-REQ for every known target into that cache
 *       publish it (the next handshakes use it); the cache before the
 *       previous one is destroyed (a handshake never takes that long)
 *     a target never fetched (registered since)? TGS-REQ into the current one
 *
 * Internal to frsasl: sasl_client.c takes its credentials here.
 */
#ifndef FR_KRB_LOGIN_H
#define FR_KRB_LOGIN_H

#include <stddef.h>

#include <gssapi/gssapi.h>
#include <krb5.h>

struct auth_login;

/* A credential on the current cache for one handshake (the caller releases
 * it with gss_release_cred). It never talks to the KDC itself, unless a
 * service ticket is missing from the cache. 0, or -1 with why. */
int auth_login_cred(struct auth_login *l, gss_cred_id_t *cred, char *why, size_t whylen);

/* The service and host parts of a configured NameNode principal with
 * _HOST = nn_host (its reverse lookup for an address), remembered: only the
 * first call for a (principal, host) may block on DNS, and it registers the
 * target for the renewer. l may be NULL: the expansion only, nothing kept.
 * 0, or -1 on a bad principal. */
int auth_login_resolve(struct auth_login *l, const char *principal, const char *nn_host, char *service, size_t sl,
                       char *host, size_t hl);

/* why = the printf-style prefix, ": ", and MIT Kerberos's message for e.
 * krb5_get_error_message allocates that message: every caller that reports
 * one goes through here so that it is freed again. */
void auth_krb5_why(krb5_context k, krb5_error_code e, char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* why = what, ": ", and GSS-API's words for the major status (when it is
 * an error or there is no minor one) and the mechanism's minor status
 * ("Ticket expired"), "; "-separated. */
void auth_gss_why(OM_uint32 maj, OM_uint32 min, char *why, size_t whylen, const char *what);

#endif
