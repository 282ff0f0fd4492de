/*
 * sasl_server: the router's side of SASL authentication (GSSAPI on MIT's
 * GSS-API, auth/gss_sasl.h; Cyrus SASL's plugin when asked), for Hadoop
 * IPC clients today and metastore clients later.
 *
 *   main:        auth_server_new(cfg)  once, before any worker starts
 *                   sasl_server_init, the acceptor keytab, "service/host"
 *                   of the router's principal with _HOST expanded
 *   per client:  auth_session_new(srv)  (cheap: no Cyrus state yet)
 *                   INITIATE  -> auth_session_step(first = true)
 *                   RESPONSE  -> auth_session_step(first = false) ...
 *                   done: auth_session_user() / _principal() / _ssf()
 *                auth_session_free()
 *
 * Hadoop IPC glue: auth_ipc_ops (an ipc_server auth hook, ipc_server.h)
 * drives a session from the codec's SASL states, so hdfs-proto never sees
 * Cyrus and the connection code only creates and frees the session.
 *
 * Quality of protection (auth_server_cfg.qop, Hadoop's
 * hadoop.rpc.protection): GSSAPI offers the security layers the
 * configuration allows (see qop_props in sasl_server.c for why a list with
 * privacy offers privacy alone), and the NEGOTIATE answer carries a TOKEN
 * entry whose challenge names the QOPs, which is where the Go client reads
 * the protection it must use. After the exchange the session keeps its
 * security layer and the negotiated SSF (auth_session_ssf,
 * auth_session_layer): with SSF > 0 the connection installs a SASL
 * transport (sasl_layer.h) that wraps every reply.
 *
 * Identity: auth_principal_to_user() maps an authenticated principal to the
 * short user name, the way Hadoop's DEFAULT auth_to_local rule does. It is
 * the single place the auth_to_local rules will plug in.
 */
#ifndef FR_SASL_SERVER_H
#define FR_SASL_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Methods a server may offer (Hadoop's AuthMethod names). */
#define AUTH_M_SIMPLE 0x1u
#define AUTH_M_KERBEROS 0x2u
#define AUTH_M_TOKEN 0x4u /* reserved: delegation tokens (DIGEST-MD5), a later change */

/* Qualities of protection (Hadoop's authentication, integrity, privacy). */
#define AUTH_QOP_AUTH 0x1u
#define AUTH_QOP_INT 0x2u
#define AUTH_QOP_CONF 0x4u

struct auth_server_cfg {
    unsigned methods;          /* AUTH_M_* */
    unsigned qop;              /* AUTH_QOP_* bits; 0 = AUTH_QOP_AUTH */
    const char *principal;     /* "service/host@REALM" (host may be _HOST; realm optional) */
    const char *keytab;        /* "" or NULL: KRB5_KTNAME, else the system default keytab */
    const char *listen_host;   /* host of the listening address, for _HOST */
    const char *auth_to_local; /* Hadoop's auth_to_local rules; NULL or "" = DEFAULT */
    /* Who may impersonate whom (hadoop.proxyuser.*, auth/proxyuser.h);
     * NULL refuses every impersonation. Borrowed: it must outlive the
     * server. */
    const struct proxyuser_rules *proxyusers;
    /* Run Cyrus SASL's GSSAPI plugin rather than the built-in mechanism
     * (auth/gss_sasl.h). The router never does; minidfs does, so that the
     * router's mechanism meets Cyrus's in the tests. */
    bool cyrus_gssapi;
};

struct auth_server; /* process-wide, read-only once made */
struct proxyuser_rules;
struct auth_session; /* one client connection */
struct sec_layer;

/*
 * Initialises Cyrus SASL (once per process) and resolves the principal.
 * _HOST becomes the listen host, in lower case, the way Hadoop expands it
 * from a server's bind address: a host name as written; a literal address
 * by its reverse lookup (127.0.0.1 -> localhost), kept as is when it has
 * no name; the wildcard (0.0.0.0, ::, empty) by this machine's canonical
 * host name. Blocking (DNS): call it at start-up. NULL with why on error.
 */
struct auth_server *auth_server_new(const struct auth_server_cfg *cfg, char *why, size_t whylen);
void auth_server_free(struct auth_server *s);
unsigned auth_server_methods(const struct auth_server *s);
/* The principal's service and host parts (host with _HOST expanded), and
 * the whole principal as the server will accept it. */
const char *auth_server_service(const struct auth_server *s);
const char *auth_server_host(const struct auth_server *s);
const char *auth_server_principal(const struct auth_server *s);

/* Expands _HOST in principal as auth_server_new does, into out. 0 or -1. */
int auth_expand_host(const char *principal, const char *listen_host, char *out, size_t outlen);

/* Splits "service/host@REALM" (realm optional). -1 when it has no service
 * or host part, or more than two components. Pointers into bufs. */
int auth_principal_split(const char *principal, char *service, size_t sl, char *host, size_t hl, char *realm,
                         size_t rl);

/*
 * Checks that the keytab (NULL or "": KRB5_KTNAME or the default) can be
 * read and holds a key for principal (_HOST expanded with listen_host; no
 * realm: the default realm). 0, or -1 with why.
 */
int auth_keytab_check(const char *keytab, const char *principal, const char *listen_host, char *why, size_t whylen);

/*
 * Hadoop's DEFAULT auth_to_local rule: a principal of the default realm
 * maps to its first component ("alice@R" -> "alice", "nn/h@R" -> "nn");
 * one of another realm maps to nothing (Hadoop: "No rules applied"), so
 * -1. A name without a realm is taken as the default realm. The rules
 * library replaces this function.
 */
int auth_principal_to_user(const char *principal, char *user, size_t userlen);

/* A session for one connection; NULL when out of memory. */
struct auth_session *auth_session_new(const struct auth_server *srv);
void auth_session_free(struct auth_session *a);
/* The client's address, from the connected socket fd: the proxy-user host
 * rules check it. A session that never learns it is refused any
 * impersonation restricted by hosts. */
void auth_session_set_peer(struct auth_session *a, int fd);

enum auth_step { AUTH_STEP_CONTINUE = 0, AUTH_STEP_DONE = 1, AUTH_STEP_FAILED = -1 };

/*
 * One step of the exchange for method (a Hadoop method name, "KERBEROS")
 * and mechanism ("GSSAPI"): first = true for the client's first token.
 * CONTINUE: send *out (*outlen bytes, owned by the session until the next
 * call) as a challenge; DONE: authenticated, *out may hold final data;
 * FAILED: why holds Cyrus's reason (for the log, not for the client).
 *
 * GSSAPI runs inline on the caller's thread: gss_accept_sec_context is
 * fast, but it may touch the replay cache on disk, so it belongs on a
 * crypto/auth thread once there is one.
 */
enum auth_step auth_session_step(struct auth_session *a, const char *mechanism, bool first, const uint8_t *in,
                                 size_t inlen, const uint8_t **out, size_t *outlen, char *why, size_t whylen);

/* After DONE: the authenticated principal with its realm
 * ("alice@EXAMPLE.TEST"), its short name (auth_principal_to_user; "" when
 * it maps to nothing), and the security strength factor (0 = no layer). */
const char *auth_session_principal(const struct auth_session *a);
const char *auth_session_user(const struct auth_session *a);
unsigned auth_session_ssf(const struct auth_session *a);
/* The security layer (sec_layer.h) after an exchange with SSF > 0, which
 * the wrapping transport uses while the session lives; NULL otherwise. */
struct sec_layer *auth_session_layer(struct auth_session *a);

/* Process-wide counts since start, for the metrics: SASL exchanges of
 * clients with the router (ok, failed), connection contexts refused (no
 * auth_to_local rule, impersonation not allowed) and impersonations
 * allowed, and the router's own exchanges with NameNodes, which the
 * upstream code reports with auth_stats_upstream(). */
struct auth_stats {
    uint64_t handshakes_ok, handshakes_failed;
    uint64_t refused_no_rules, refused_impersonation, impersonations;
    uint64_t upstream_ok, upstream_failed;
};
void auth_stats_get(struct auth_stats *st);
void auth_stats_upstream(bool ok);

/* The Hadoop IPC hook (struct ipc_auth_ops in ipc_server.h); its argument
 * is the connection's struct auth_session. */
struct ipc_auth_ops;
extern const struct ipc_auth_ops auth_ipc_ops;

#endif
