/*
 * sasl_server.c: SASL on the router's accepting side (the built-in GSSAPI
 * mechanism, or Cyrus's), and the Hadoop IPC hook that drives it. See
 * sasl_server.h.
 */
#define _GNU_SOURCE
#include "auth_to_local.h"
#include "krb_login.h"
#include "proxyuser.h"
#include "sasl_server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gssapi/gssapi_krb5.h>
#include <krb5.h>
#include <sasl/sasl.h>

#include "gss_sasl.h"
#include "ipc_server.h"
#include "jexc.h"
#include "log.h"
#include "sasl_cyrus.h"
#include "sec_layer.h"

struct auth_server {
    unsigned methods;
    bool cyrus;                               /* Cyrus's GSSAPI plugin, not gss_sasl */
    unsigned qop;                             /* AUTH_QOP_*, never 0 */
    struct a2l_rules *rules;                  /* auth_to_local */
    const struct proxyuser_rules *proxyusers; /* borrowed; NULL: no impersonation */
    char service[64];                         /* "nn" */
    char host[256];                           /* "nn01.example.com", _HOST expanded */
    char principal[512];                      /* service/host@REALM as configured, _HOST expanded */
};

struct auth_session {
    const struct auth_server *srv;
    struct gss_sasl *gss;    /* the exchange (built-in GSSAPI); NULL until the first step */
    sasl_conn_t *conn;       /* the exchange (Cyrus); NULL until the first step */
    struct sec_layer *layer; /* after an exchange with a layer */
    char principal[512];     /* the authenticated principal, with its realm */
    char user[256];          /* its short name ("" when no rule maps it) */
    unsigned ssf;            /* negotiated security layer (0: none, 1: integrity, more: privacy) */
    char peer_ip[64];        /* the client's address ("" until set_peer) */
    /* Cyrus logs the GSS-API reason for a failed accept (ticket expired,
     * clock skew, wrong key) and keeps only a generic errdetail: the reason
     * is caught here for the router's log line. */
    sasl_callback_t cbs[2];
    char detail[256];
};

/* ---- Cyrus process state ---- */

static pthread_once_t sasl_once = PTHREAD_ONCE_INIT;
static int sasl_init_rc = SASL_FAIL;

/* Options Cyrus would otherwise look for in a fedrouter.conf: offer only the
 * mechanisms the router implements. */
static int get_opt(void *ctx, const char *plugin, const char *option, const char **result, unsigned *len)
{
    if (!strcmp(option, "mech_list")) {
        *result = "GSSAPI";
        if (len)
            *len = 6;
        return SASL_OK;
    }
    return SASL_FAIL;
}

static const sasl_callback_t callbacks[] = {
    { SASL_CB_GETOPT, (int (*)(void))(void (*)(void))get_opt, NULL },
    { SASL_CB_LOG, (int (*)(void))(void (*)(void))sasl_cyrus_log, (void *)"sasl" },
    { SASL_CB_LIST_END, NULL, NULL },
};

static void sasl_global_init(void)
{
    sasl_cyrus_set_mutexes();
    sasl_init_rc = sasl_server_init(callbacks, "fedrouter");
}

/* ---- principals ---- */

int auth_principal_split(const char *p, char *service, size_t sl, char *host, size_t hl, char *realm, size_t rl)
{
    const char *at = strrchr(p, '@');
    const char *slash = strchr(p, '/');
    size_t nl = at ? (size_t)(at - p) : strlen(p);
    if (!slash || slash > p + nl || slash == p || slash + 1 == p + nl ||
        memchr(slash + 1, '/', nl - (size_t)(slash + 1 - p)))
        return -1;
    if (at && !at[1])
        return -1;
    size_t svl = (size_t)(slash - p), hol = nl - svl - 1;
    if (svl >= sl || hol >= hl || (at && strlen(at + 1) >= rl))
        return -1;
    memcpy(service, p, svl);
    service[svl] = '\0';
    memcpy(host, slash + 1, hol);
    host[hol] = '\0';
    snprintf(realm, rl, "%s", at ? at + 1 : "");
    return 0;
}

/* The host _HOST stands for (see sasl_server.h), lower case. */
static void host_for(const char *listen_host, char *out, size_t outlen)
{
    char h[256];
    snprintf(h, sizeof h, "%s", listen_host ? listen_host : "");
    size_t l = strlen(h);
    if (l > 1 && h[0] == '[' && h[l - 1] == ']') { /* [::1] */
        memmove(h, h + 1, l - 2);
        h[l - 2] = '\0';
    }
    unsigned char a[16];
    bool v4 = inet_pton(AF_INET, h, a) == 1, v6 = !v4 && inet_pton(AF_INET6, h, a) == 1;
    bool wildcard = !h[0] || !strcmp(h, "0.0.0.0") || !strcmp(h, "::") || !strcmp(h, "*");
    if (wildcard) {
        char me[256] = "";
        if (gethostname(me, sizeof me - 1) != 0 || !me[0])
            snprintf(me, sizeof me, "localhost");
        snprintf(h, sizeof h, "%s", me);
        struct addrinfo hints = { .ai_flags = AI_CANONNAME, .ai_family = AF_UNSPEC }, *res = NULL;
        if (getaddrinfo(me, NULL, &hints, &res) == 0 && res && res->ai_canonname)
            snprintf(h, sizeof h, "%s", res->ai_canonname);
        if (res)
            freeaddrinfo(res);
    } else if (v4 || v6) {
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof ss);
        socklen_t sl;
        if (v4) {
            struct sockaddr_in *sa = (struct sockaddr_in *)&ss;
            sa->sin_family = AF_INET;
            memcpy(&sa->sin_addr, a, 4);
            sl = sizeof *sa;
        } else {
            struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&ss;
            sa->sin6_family = AF_INET6;
            memcpy(&sa->sin6_addr, a, 16);
            sl = sizeof *sa;
        }
        char name[256];
        if (getnameinfo((struct sockaddr *)&ss, sl, name, sizeof name, NULL, 0, NI_NAMEREQD) == 0)
            snprintf(h, sizeof h, "%s", name);
    }
    for (char *q = h; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    snprintf(out, outlen, "%s", h);
}

int auth_expand_host(const char *principal, const char *listen_host, char *out, size_t outlen)
{
    const char *at = strrchr(principal, '@');
    size_t nl = at ? (size_t)(at - principal) : strlen(principal);
    const char *slash = memchr(principal, '/', nl);
    if (!slash || (size_t)(principal + nl - slash - 1) != 5 || strncmp(slash + 1, "_HOST", 5)) {
        int n = snprintf(out, outlen, "%s", principal);
        return n < 0 || (size_t)n >= outlen ? -1 : 0;
    }
    char host[256];
    host_for(listen_host, host, sizeof host);
    int n = snprintf(out, outlen, "%.*s/%s%s", (int)(slash - principal), principal, host, at ? at : "");
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

static pthread_once_t realm_once = PTHREAD_ONCE_INIT;
static char realm_cached[256];

static void realm_load(void)
{
    krb5_context k;
    if (krb5_init_context(&k) != 0)
        return;
    char *r = NULL;
    if (krb5_get_default_realm(k, &r) == 0 && r) {
        snprintf(realm_cached, sizeof realm_cached, "%s", r);
        krb5_free_default_realm(k, r);
    }
    krb5_free_context(k);
}

/* The default realm of krb5.conf (KRB5_CONFIG honoured), or "": read once,
 * as the configuration does not change under a running process. */
static void default_realm(char *out, size_t outlen)
{
    pthread_once(&realm_once, realm_load);
    snprintf(out, outlen, "%s", realm_cached);
}

int auth_principal_to_user(const char *principal, char *user, size_t userlen)
{
    const char *at = strrchr(principal, '@');
    if (at) {
        char realm[256];
        default_realm(realm, sizeof realm);
        if (!realm[0] || strcmp(at + 1, realm))
            return -1;
    }
    size_t nl = at ? (size_t)(at - principal) : strlen(principal);
    size_t first = strcspn(principal, "/@");
    if (first > nl)
        first = nl;
    if (first == 0 || first >= userlen)
        return -1;
    memcpy(user, principal, first);
    user[first] = '\0';
    return 0;
}

int auth_keytab_check(const char *keytab, const char *principal, const char *listen_host, char *why, size_t whylen)
{
    char want[512];
    if (auth_expand_host(principal, listen_host, want, sizeof want) < 0)
        return snprintf(why, whylen, "principal '%s' is too long", principal), -1;
    krb5_context k;
    if (krb5_init_context(&k) != 0)
        return snprintf(why, whylen, "cannot initialise Kerberos (check KRB5_CONFIG)"), -1;
    int rc = -1;
    krb5_keytab kt = NULL;
    krb5_principal want_p = NULL;
    char name[1024];
    krb5_error_code e;
    if (keytab && keytab[0]) {
        snprintf(name, sizeof name, "%s%s", strchr(keytab, ':') ? "" : "FILE:", keytab);
        e = krb5_kt_resolve(k, name, &kt);
    } else {
        e = krb5_kt_default(k, &kt);
        if (!e)
            krb5_kt_get_name(k, kt, name, sizeof name);
    }
    if (e) {
        auth_krb5_why(k, e, why, whylen, "keytab %s", keytab && *keytab ? keytab : "(default)");
        goto out;
    }
    if ((e = krb5_parse_name(k, want, &want_p)) != 0) {
        auth_krb5_why(k, e, why, whylen, "principal '%s'", want);
        goto out;
    }
    krb5_kt_cursor cur;
    if ((e = krb5_kt_start_seq_get(k, kt, &cur)) != 0) {
        auth_krb5_why(k, e, why, whylen, "keytab %s cannot be read", name);
        goto out;
    }
    krb5_keytab_entry ent;
    bool found = false;
    while (!found && krb5_kt_next_entry(k, kt, &ent, &cur) == 0) {
        found = krb5_principal_compare(k, ent.principal, want_p);
        krb5_free_keytab_entry_contents(k, &ent);
    }
    krb5_kt_end_seq_get(k, kt, &cur);
    if (!found) {
        char *full = NULL;
        krb5_unparse_name(k, want_p, &full);
        snprintf(why, whylen, "keytab %s holds no key for %s", name, full ? full : want);
        krb5_free_unparsed_name(k, full);
        goto out;
    }
    rc = 0;
out:
    if (want_p)
        krb5_free_principal(k, want_p);
    if (kt)
        krb5_kt_close(k, kt);
    krb5_free_context(k);
    return rc;
}

/* ---- the server ---- */

struct auth_server *auth_server_new(const struct auth_server_cfg *cfg, char *why, size_t whylen)
{
    struct auth_server *s = calloc(1, sizeof *s);
    if (!s)
        return snprintf(why, whylen, "out of memory"), NULL;
    s->methods = cfg->methods;
    s->proxyusers = cfg->proxyusers;
    s->qop = cfg->qop & (AUTH_QOP_AUTH | AUTH_QOP_INT | AUTH_QOP_CONF);
    if (!s->qop)
        s->qop = AUTH_QOP_AUTH;
    char rerr[256];
    s->rules = a2l_parse(cfg->auth_to_local && cfg->auth_to_local[0] ? cfg->auth_to_local : NULL, rerr, sizeof rerr);
    if (!s->rules) {
        snprintf(why, whylen, "[security] auth_to_local: %s", rerr);
        free(s);
        return NULL;
    }
    if (cfg->methods & AUTH_M_KERBEROS) {
        char realm[256];
        if (auth_expand_host(cfg->principal ? cfg->principal : "", cfg->listen_host, s->principal,
                             sizeof s->principal) < 0 ||
            auth_principal_split(s->principal, s->service, sizeof s->service, s->host, sizeof s->host, realm,
                                 sizeof realm) < 0) {
            snprintf(why, whylen, "[security] principal '%s' is not service/host@REALM",
                     cfg->principal ? cfg->principal : "");
            free(s);
            return NULL;
        }
        /* Where GSSAPI finds the router's key. Without a keytab in the
         * config, KRB5_KTNAME or the system default keytab applies. */
        if (cfg->keytab && cfg->keytab[0] && krb5_gss_register_acceptor_identity(cfg->keytab) != GSS_S_COMPLETE) {
            snprintf(why, whylen, "[security] keytab %s: cannot be registered with GSSAPI", cfg->keytab);
            free(s);
            return NULL;
        }
        s->cyrus = cfg->cyrus_gssapi;
        if (!s->cyrus)
            return s;
        pthread_once(&sasl_once, sasl_global_init);
        if (sasl_init_rc != SASL_OK) {
            snprintf(why, whylen, "Cyrus SASL: %s", sasl_errstring(sasl_init_rc, NULL, NULL));
            free(s);
            return NULL;
        }
        /* The GSSAPI plugin must be there (libsasl2-modules-gssapi-mit). */
        sasl_conn_t *probe = NULL;
        const char *list = NULL;
        if (sasl_server_new(s->service, s->host, NULL, NULL, NULL, NULL, 0, &probe) != SASL_OK ||
            sasl_listmech(probe, NULL, "", " ", "", &list, NULL, NULL) != SASL_OK || !list || !strstr(list, "GSSAPI")) {
            snprintf(why, whylen, "Cyrus SASL offers no GSSAPI mechanism (is the GSSAPI plugin installed?)");
            if (probe)
                sasl_dispose(&probe);
            free(s);
            return NULL;
        }
        sasl_dispose(&probe);
    }
    return s;
}

void auth_server_free(struct auth_server *s)
{
    if (s)
        a2l_free(s->rules);
    free(s);
}
unsigned auth_server_methods(const struct auth_server *s) { return s->methods; }
const char *auth_server_service(const struct auth_server *s) { return s->service; }
const char *auth_server_host(const struct auth_server *s) { return s->host; }
const char *auth_server_principal(const struct auth_server *s) { return s->principal; }

/* ---- sessions ---- */

struct auth_session *auth_session_new(const struct auth_server *srv)
{
    struct auth_session *a = calloc(1, sizeof *a);
    if (a)
        a->srv = srv;
    return a;
}

void auth_session_free(struct auth_session *a)
{
    if (!a)
        return;
    sec_layer_free(a->layer);
    gss_sasl_free(a->gss);
    if (a->conn)
        sasl_dispose(&a->conn);
    free(a);
}

void auth_session_set_peer(struct auth_session *a, int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    a->peer_ip[0] = '\0';
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
        return;
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
        /* An IPv4 client on a dual-stack socket: its IPv4 address, as Java
         * reports it. */
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
            inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], a->peer_ip, sizeof a->peer_ip);
        else
            inet_ntop(AF_INET6, &s6->sin6_addr, a->peer_ip, sizeof a->peer_ip);
    } else if (ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)&ss)->sin_addr, a->peer_ip, sizeof a->peer_ip);
    }
}

const char *auth_session_principal(const struct auth_session *a) { return a->principal; }
const char *auth_session_user(const struct auth_session *a) { return a->user; }
unsigned auth_session_ssf(const struct auth_session *a) { return a->ssf; }
struct sec_layer *auth_session_layer(struct auth_session *a) { return a->layer; }

/*
 * The security layers GSSAPI offers for the configured QOPs. Cyrus's
 * GSSAPI server offers "no layer" when min_ssf is 0, integrity when
 * min_ssf <= 1 <= max_ssf, and privacy when max_ssf >= 56 (and min_ssf
 * allows it); a client answers with the layer it takes. Java's client
 * picks from the offer by its own QOP list; the Go client picks nothing:
 * it echoes the whole offer back and uses the strongest QOP of the TOKEN
 * entry's challenge. On an echo of integrity + privacy Cyrus chooses
 * integrity (it tests that bit first), so the Go client, expecting
 * privacy, would fail on the first reply: when privacy is configured it is
 * offered alone. Integrity with authentication is offered as both (an
 * echo gives integrity, the strongest, as the challenge says).
 * maxbufsize 0xFFFFFF keeps Cyrus from splitting replies under ~16 MiB
 * into several tokens, which the Go client cannot read.
 */
static void qop_props(unsigned qop, sasl_security_properties_t *sp)
{
    memset(sp, 0, sizeof *sp);
    if (qop & AUTH_QOP_CONF) {
        sp->min_ssf = 56;
        sp->max_ssf = 256;
    } else if (qop & AUTH_QOP_INT) {
        sp->min_ssf = (qop & AUTH_QOP_AUTH) ? 0 : 1;
        sp->max_ssf = 1;
    }
    sp->maxbufsize = sp->max_ssf ? 0xFFFFFF : 0;
}

/* Is the negotiated SSF one of the configured QOPs? */
static bool ssf_allowed(unsigned qop, unsigned ssf)
{
    return ssf == 0 ? (qop & AUTH_QOP_AUTH) != 0 : ssf == 1 ? (qop & AUTH_QOP_INT) != 0 : (qop & AUTH_QOP_CONF) != 0;
}

/* Cyrus's reason for the last failure on the connection, with the
 * mechanism's own words when it logged them. */
static void fail_why(struct auth_session *a, int rc, char *why, size_t whylen)
{
    const char *d = a->conn ? sasl_errdetail(a->conn) : NULL;
    if (!d)
        d = sasl_errstring(rc, NULL, NULL);
    if (a->detail[0] && !strstr(d, a->detail))
        snprintf(why, whylen, "%s: %s", d, a->detail);
    else
        snprintf(why, whylen, "%s", d);
}

/* This connection's log callback: failures are remembered for fail_why,
 * and everything goes on to the process's log as before. */
static int session_log(void *ctx, int level, const char *message)
{
    struct auth_session *a = ctx;
    if (level <= SASL_LOG_FAIL && message && *message)
        snprintf(a->detail, sizeof a->detail, "%s", message);
    return sasl_cyrus_log((void *)"sasl", level, message);
}

/* The layers the built-in mechanism offers for the configured QOPs, by the
 * same rule as qop_props: privacy alone when it is configured. */
static unsigned qop_layers(unsigned qop)
{
    if (qop & AUTH_QOP_CONF)
        return GSS_SASL_PRIVACY;
    if (qop & AUTH_QOP_INT)
        return GSS_SASL_INTEGRITY | ((qop & AUTH_QOP_AUTH) ? GSS_SASL_NONE : 0);
    return GSS_SASL_NONE;
}

/* The exchange ended well: who is it, and with what layer. name is the
 * principal as the mechanism gives it (Cyrus drops the default realm). */
static enum auth_step finish(struct auth_session *a, const char *name, char *why, size_t whylen)
{
    char realm[256], err[256];
    default_realm(realm, sizeof realm);
    if (strchr(name, '@'))
        snprintf(a->principal, sizeof a->principal, "%s", name);
    else
        snprintf(a->principal, sizeof a->principal, "%s%s%s", name, realm[0] ? "@" : "", realm);
    /* The short name by the configured auth_to_local rules (DEFAULT: the
     * first component of a principal of the default realm). */
    if (a2l_short_name(a->srv->rules, a->principal, realm, a->user, sizeof a->user, err, sizeof err) != A2L_OK)
        a->user[0] = '\0';
    if (!ssf_allowed(a->srv->qop, a->ssf)) {
        snprintf(why, whylen, "the client chose a security layer of strength %u, which rpc.protection does not allow",
                 a->ssf);
        return AUTH_STEP_FAILED;
    }
    if (a->ssf) {
        a->layer = a->gss ? gss_sasl_take_layer(a->gss, why, whylen) : sec_layer_from_cyrus(a->conn);
        if (!a->layer) {
            if (!a->gss)
                snprintf(why, whylen, "out of memory");
            return AUTH_STEP_FAILED;
        }
    }
    return AUTH_STEP_DONE;
}

/* A step of the built-in GSSAPI mechanism. */
static enum auth_step step_gss(struct auth_session *a, bool first, const uint8_t *in, size_t inlen, const uint8_t **out,
                               size_t *outlen, char *why, size_t whylen)
{
    if (first) {
        if (a->gss) {
            snprintf(why, whylen, "a second INITIATE");
            return AUTH_STEP_FAILED;
        }
        a->gss = gss_sasl_server_new(a->srv->service, a->srv->host, qop_layers(a->srv->qop), why, whylen);
        if (!a->gss)
            return AUTH_STEP_FAILED;
    } else if (!a->gss) {
        snprintf(why, whylen, "a RESPONSE before INITIATE");
        return AUTH_STEP_FAILED;
    }
    switch (gss_sasl_step(a->gss, in, inlen, out, outlen, why, whylen)) {
    case GSS_SASL_CONTINUE: return AUTH_STEP_CONTINUE;
    case GSS_SASL_DONE: break;
    default: return AUTH_STEP_FAILED;
    }
    a->ssf = gss_sasl_ssf(a->gss);
    return finish(a, gss_sasl_principal(a->gss), why, whylen);
}

/* A step of Cyrus's GSSAPI plugin. */
static enum auth_step step_cyrus(struct auth_session *a, const char *mechanism, bool first, const uint8_t *in,
                                 size_t inlen, const uint8_t **out, size_t *outlen, char *why, size_t whylen)
{
    const char *o = NULL;
    unsigned ol = 0;
    int rc;
    if (first) {
        if (a->conn) {
            snprintf(why, whylen, "a second INITIATE");
            return AUTH_STEP_FAILED;
        }
        a->cbs[0] = (sasl_callback_t){ SASL_CB_LOG, (int (*)(void))(void (*)(void))session_log, a };
        a->cbs[1] = (sasl_callback_t){ SASL_CB_LIST_END, NULL, NULL };
        rc = sasl_server_new(a->srv->service, a->srv->host, NULL, NULL, NULL, a->cbs, SASL_SUCCESS_DATA, &a->conn);
        if (rc != SASL_OK) {
            fail_why(a, rc, why, whylen);
            return AUTH_STEP_FAILED;
        }
        sasl_security_properties_t sp;
        qop_props(a->srv->qop, &sp);
        if ((rc = sasl_setprop(a->conn, SASL_SEC_PROPS, &sp)) != SASL_OK) {
            fail_why(a, rc, why, whylen);
            return AUTH_STEP_FAILED;
        }
        rc = sasl_server_start(a->conn, mechanism, (const char *)in, (unsigned)inlen, &o, &ol);
    } else {
        if (!a->conn) {
            snprintf(why, whylen, "a RESPONSE before INITIATE");
            return AUTH_STEP_FAILED;
        }
        rc = sasl_server_step(a->conn, (const char *)in, (unsigned)inlen, &o, &ol);
    }
    if (rc != SASL_OK && rc != SASL_CONTINUE) {
        fail_why(a, rc, why, whylen);
        return AUTH_STEP_FAILED;
    }
    *out = (const uint8_t *)o;
    *outlen = ol;
    if (rc == SASL_CONTINUE)
        return AUTH_STEP_CONTINUE;
    const void *v = NULL;
    if (sasl_getprop(a->conn, SASL_USERNAME, &v) != SASL_OK || !v || !*(const char *)v) {
        snprintf(why, whylen, "no user name after authentication");
        return AUTH_STEP_FAILED;
    }
    const char *name = v;
    if (sasl_getprop(a->conn, SASL_SSF, &v) == SASL_OK && v)
        a->ssf = *(const unsigned *)v;
    return finish(a, name, why, whylen);
}

enum auth_step auth_session_step(struct auth_session *a, const char *mechanism, bool first, const uint8_t *in,
                                 size_t inlen, const uint8_t **out, size_t *outlen, char *why, size_t whylen)
{
    *out = NULL;
    *outlen = 0;
    if (inlen > 1u << 20) {
        snprintf(why, whylen, "a SASL token of %zu bytes", inlen);
        return AUTH_STEP_FAILED;
    }
    if (a->srv->cyrus)
        return step_cyrus(a, mechanism, first, in, inlen, out, outlen, why, whylen);
    if (strcmp(mechanism, "GSSAPI")) {
        snprintf(why, whylen, "mechanism %s is not implemented", mechanism);
        return AUTH_STEP_FAILED;
    }
    return step_gss(a, first, in, inlen, out, outlen, why, whylen);
}

/* ---- the Hadoop IPC hook ---- */

static unsigned ipc_methods(void *arg)
{
    const struct auth_session *a = arg;
    unsigned m = 0;
    if (a->srv->methods & AUTH_M_SIMPLE)
        m |= IPC_AUTHM_SIMPLE;
    if (a->srv->methods & AUTH_M_KERBEROS)
        m |= IPC_AUTHM_KERBEROS;
    return m;
}

static void ipc_kerberos_id(void *arg, const char **protocol, const char **server_id)
{
    const struct auth_session *a = arg;
    *protocol = a->srv->service;
    *server_id = a->srv->host;
}

/*
 * The TOKEN entry's challenge: what a DIGEST-MD5 server's first challenge
 * looks like (Hadoop sends a real one), naming the configured QOPs,
 * strongest first. Clients read only qop from it (the Go client) or skip
 * TOKEN when they hold no delegation token (Java); TOKEN itself is refused
 * at INITIATE. None when only authentication is configured.
 */
static size_t ipc_token_challenge(void *arg, char *out, size_t outlen)
{
    const struct auth_session *a = arg;
    unsigned q = a->srv->qop;
    if (!(q & (AUTH_QOP_INT | AUTH_QOP_CONF)))
        return 0;
    uint8_t r[18];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        memset(r, 0x5a, sizeof r);
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char nonce[25];
    for (size_t i = 0; i < sizeof r / 3; i++) {
        uint32_t v = (uint32_t)r[3 * i] << 16 | (uint32_t)r[3 * i + 1] << 8 | r[3 * i + 2];
        for (int j = 0; j < 4; j++)
            nonce[4 * i + (size_t)j] = b64[(v >> (18 - 6 * j)) & 63];
    }
    nonce[24] = '\0';
    char qops[32] = "";
    if (q & AUTH_QOP_CONF)
        strcat(qops, "auth-conf");
    if (q & AUTH_QOP_INT)
        strcat(strcat(qops, qops[0] ? "," : ""), "auth-int");
    if (q & AUTH_QOP_AUTH)
        strcat(strcat(qops, ","), "auth");
    int n = snprintf(out, outlen, "realm=\"default\",nonce=\"%s\",qop=\"%s\",charset=utf-8,algorithm=md5-sess", nonce,
                     qops);
    return n < 0 || (size_t)n >= outlen ? 0 : (size_t)n;
}

static _Atomic uint64_t st_ok, st_failed, st_no_rules, st_imp_refused, st_imp_ok, st_up_ok, st_up_failed;

void auth_stats_get(struct auth_stats *st)
{
    st->handshakes_ok = atomic_load_explicit(&st_ok, memory_order_relaxed);
    st->handshakes_failed = atomic_load_explicit(&st_failed, memory_order_relaxed);
    st->refused_no_rules = atomic_load_explicit(&st_no_rules, memory_order_relaxed);
    st->refused_impersonation = atomic_load_explicit(&st_imp_refused, memory_order_relaxed);
    st->impersonations = atomic_load_explicit(&st_imp_ok, memory_order_relaxed);
    st->upstream_ok = atomic_load_explicit(&st_up_ok, memory_order_relaxed);
    st->upstream_failed = atomic_load_explicit(&st_up_failed, memory_order_relaxed);
}

void auth_stats_upstream(bool ok)
{
    atomic_fetch_add_explicit(ok ? &st_up_ok : &st_up_failed, 1, memory_order_relaxed);
}

static enum ipc_auth_step ipc_step(void *arg, const char *method, const char *mechanism, bool first, const uint8_t *in,
                                   size_t inlen, const uint8_t **out, size_t *outlen, char *why, size_t whylen)
{
    if (strcmp(method, "KERBEROS") || strcmp(mechanism, "GSSAPI")) {
        snprintf(why, whylen, "method %s/%s is not implemented", method, mechanism);
        atomic_fetch_add_explicit(&st_failed, 1, memory_order_relaxed);
        return IPC_AUTH_FAILED;
    }
    switch (auth_session_step(arg, mechanism, first, in, inlen, out, outlen, why, whylen)) {
    case AUTH_STEP_CONTINUE: return IPC_AUTH_CONTINUE;
    case AUTH_STEP_DONE: atomic_fetch_add_explicit(&st_ok, 1, memory_order_relaxed); return IPC_AUTH_DONE;
    default: atomic_fetch_add_explicit(&st_failed, 1, memory_order_relaxed); return IPC_AUTH_FAILED;
    }
}

#define AUTH_MAX_GROUPS 256

/*
 * The groups of a user from the system's group database, as Hadoop's
 * ShellBasedUnixGroupsMapping gets them (`id -gn`, `id -Gn`): primary
 * group first. Names are copied into store (NUL-separated); list gets the
 * pointers, NULL-terminated. A user unknown to the system has none.
 */
static void user_groups(const char *user, char *store, size_t storelen, const char **list, size_t maxn)
{
    size_t n = 0, used = 0;
    list[0] = NULL;
    char pwbuf[4096], grbuf[8192];
    struct passwd pw, *pwp = NULL;
    if (getpwnam_r(user, &pw, pwbuf, sizeof pwbuf, &pwp) != 0 || !pwp)
        return;
    gid_t gids[AUTH_MAX_GROUPS];
    int ng = AUTH_MAX_GROUPS;
    if (getgrouplist(user, pw.pw_gid, gids, &ng) < 0)
        ng = AUTH_MAX_GROUPS; /* more than we look at: the first ones */
    for (int i = 0; i < ng && n + 1 < maxn; i++) {
        struct group gr, *grp = NULL;
        if (getgrgid_r(gids[i], &gr, grbuf, sizeof grbuf, &grp) != 0 || !grp)
            continue;
        size_t l = strlen(grp->gr_name) + 1;
        if (used + l > storelen)
            break;
        memcpy(store + used, grp->gr_name, l);
        list[n++] = store + used;
        used += l;
    }
    list[n] = NULL;
}

/*
 * Hadoop's Server.processConnectionContext and authorizeConnection. The
 * context names the user to act as; when that is neither the authenticated
 * principal (what Java and Go clients send) nor its short name, the
 * connection asks to impersonate it: the authenticated user is the real
 * user of a proxy user, and ProxyUsers.authorize (the proxyuser rules of
 * the server config, with the client's address and the effective user's
 * groups from the system) allows or refuses it, in the words of
 * DefaultImpersonationProvider. An empty context user becomes the
 * authenticated one. The NameNodes (and minidfs's namespace) then see the
 * effective user's short name.
 */
static int ipc_authorize(void *arg, struct ipc_context *ctx, const char **cls, char *msg, size_t msglen)
{
    const struct auth_session *a = arg;
    if (!a->user[0]) {
        *cls = JEXC_ACCESS_CONTROL;
        snprintf(msg, msglen, "No rules applied to %s", a->principal);
        atomic_fetch_add_explicit(&st_no_rules, 1, memory_order_relaxed);
        return -1;
    }
    if (!ctx->effective_user[0] || !strcmp(ctx->effective_user, a->principal) ||
        !strcmp(ctx->effective_user, a->user)) {
        snprintf(ctx->effective_user, sizeof ctx->effective_user, "%s", a->user);
        return 0;
    }
    /* The effective user's short name: a principal goes through the
     * auth_to_local rules (UGI.getShortUserName), a plain name stays. */
    char eff[256], realm[256], err[256];
    if (strpbrk(ctx->effective_user, "@/")) {
        default_realm(realm, sizeof realm);
        if (a2l_short_name(a->srv->rules, ctx->effective_user, realm, eff, sizeof eff, err, sizeof err) != A2L_OK) {
            *cls = JEXC_ACCESS_CONTROL;
            snprintf(msg, msglen, "%s", err);
            atomic_fetch_add_explicit(&st_no_rules, 1, memory_order_relaxed);
            return -1;
        }
    } else {
        snprintf(eff, sizeof eff, "%s", ctx->effective_user);
    }
    *cls = JEXC_AUTHORIZATION;
    if (!a->srv->proxyusers) {
        snprintf(msg, msglen, "User: %s is not allowed to impersonate %s", a->principal, ctx->effective_user);
        atomic_fetch_add_explicit(&st_imp_refused, 1, memory_order_relaxed);
        return -1;
    }
    char gstore[4096];
    const char *groups[AUTH_MAX_GROUPS + 1];
    user_groups(eff, gstore, sizeof gstore, groups, sizeof groups / sizeof groups[0]);
    const struct proxyuser_request rq = {
        .real_short = a->user,
        .real_name = a->principal,
        .effective_short = eff,
        .effective_name = ctx->effective_user,
        .effective_groups = groups,
        .client_ip = a->peer_ip[0] ? a->peer_ip : "unknown",
        .client_host = NULL,
    };
    if (proxyuser_check_request(a->srv->proxyusers, &rq, msg, msglen) != 0) {
        atomic_fetch_add_explicit(&st_imp_refused, 1, memory_order_relaxed);
        return -1;
    }
    atomic_fetch_add_explicit(&st_imp_ok, 1, memory_order_relaxed);
    fr_info("sasl: %s (%s) acts as %s from %s", a->principal, a->user, eff, rq.client_ip);
    snprintf(ctx->effective_user, sizeof ctx->effective_user, "%s", eff);
    return 0;
}

const struct ipc_auth_ops auth_ipc_ops = {
    .methods = ipc_methods,
    .kerberos_id = ipc_kerberos_id,
    .token_challenge = ipc_token_challenge,
    .step = ipc_step,
    .authorize = ipc_authorize,
};
