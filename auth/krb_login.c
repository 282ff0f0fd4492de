/*
 * krb_login.c: the router's Kerberos login and its renewer thread. See
 * krb_login.h and sasl_client.h (auth_login_*).
 */
#define _GNU_SOURCE
#include "krb_login.h"
#include "sasl_client.h"
#include "sasl_server.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <krb5.h>

#include "log.h"

#define LOGIN_MAX_TARGETS 256 /* NameNode principals remembered */
#define LOGIN_TICK 2          /* seconds between the renewer's looks */
#define LOGIN_RETRY 5         /* seconds before a failed renewal is tried again */

struct login_target {
    char name[320];   /* "nn@nn1.example.com" (a host-based service name) */
    unsigned fetched; /* the cache generation its ticket was fetched into */
    char conf[256];   /* the principal as configured ("nn/_HOST@R"); "" when registered by name */
    char nn_host[128];
    char service[64], host[192]; /* its expansion for nn_host */
};

struct auth_login {
    char principal[512]; /* as logged in, with its realm */
    char user[256];      /* its short name */
    char ktname[1024];   /* FILE:... or "" (the client default keytab) */
    gss_name_t name;     /* the principal, for acquisitions */
    _Atomic long long expires;

    pthread_mutex_t mu; /* guards what follows */
    char ccname[64];    /* the current cache */
    char prev[64];      /* the one before; destroyed at the next renewal */
    unsigned gen;       /* generation of the current cache */
    long long renew_at; /* when the renewer logs in again (Unix seconds) */
    struct login_target target[LOGIN_MAX_TARGETS];
    int ntarget;
    bool stop;
    pthread_cond_t cv;
    pthread_t thread;
    bool started;
};

static _Atomic unsigned cache_serial;

void auth_krb5_why(krb5_context k, krb5_error_code e, char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    size_t used = n < 0 ? 0 : ((size_t)n < whylen ? (size_t)n : whylen);
    const char *msg = krb5_get_error_message(k, e);
    if (used < whylen)
        snprintf(why + used, whylen - used, ": %s", msg);
    krb5_free_error_message(k, msg);
}

/* One status code's words, "; "-separated, appended at text[used..). */
static size_t status_words(OM_uint32 code, int type, char *text, size_t size, size_t used)
{
    OM_uint32 ctx = 0, m2;
    gss_buffer_desc b;
    do {
        if (gss_display_status(&m2, code, type, GSS_C_NULL_OID, &ctx, &b) != GSS_S_COMPLETE)
            break;
        int n = snprintf(text + used, size - used, "%s%.*s", used ? "; " : "", (int)b.length, (const char *)b.value);
        gss_release_buffer(&m2, &b);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    } while (ctx);
    return used;
}

void auth_gss_why(OM_uint32 maj, OM_uint32 min, char *why, size_t whylen, const char *what)
{
    char text[512] = "";
    size_t used = 0;
    if (GSS_ERROR(maj) || !min)
        used = status_words(maj, GSS_C_GSS_CODE, text, sizeof text, used);
    if (min)
        used = status_words(min, GSS_C_MECH_CODE, text, sizeof text, used);
    snprintf(why, whylen, "%s: %s", what, text[0] ? text : "GSSAPI failure");
}

/* A credential on cache ccname. No client keytab in the store: MIT then
 * never logs in again by itself on the calling thread; the renewer does. */
static int cred_on(struct auth_login *l, const char *ccname, gss_cred_id_t *cred, char *why, size_t whylen)
{
    gss_key_value_element_desc el[1] = { { "ccache", ccname } };
    gss_key_value_set_desc store = { 1, el };
    gss_OID_desc krb5_oid = { 9, (void *)"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02" };
    gss_OID_set_desc mechs = { 1, &krb5_oid };
    OM_uint32 min;
    OM_uint32 maj =
        gss_acquire_cred_from(&min, l->name, GSS_C_INDEFINITE, &mechs, GSS_C_INITIATE, &store, cred, NULL, NULL);
    if (GSS_ERROR(maj)) {
        *cred = GSS_C_NO_CREDENTIAL;
        auth_gss_why(maj, min, why, whylen, "Kerberos login");
        return -1;
    }
    return 0;
}

int auth_login_cred(struct auth_login *l, gss_cred_id_t *cred, char *why, size_t whylen)
{
    char cc[64];
    pthread_mutex_lock(&l->mu);
    snprintf(cc, sizeof cc, "%s", l->ccname);
    pthread_mutex_unlock(&l->mu);
    return cred_on(l, cc, cred, why, whylen);
}

/* Puts the service ticket for target (service@host) into cache ccname: the
 * first step of a context is enough (a TGS request), then it is dropped. */
static int fetch_ticket(struct auth_login *l, const char *ccname, const char *target, char *why, size_t whylen)
{
    gss_cred_id_t cred;
    if (cred_on(l, ccname, &cred, why, whylen) < 0)
        return -1;
    OM_uint32 maj, min;
    gss_buffer_desc nb = { strlen(target), (void *)target }, out = { 0, NULL };
    gss_name_t tn = GSS_C_NO_NAME;
    gss_ctx_id_t ctx = GSS_C_NO_CONTEXT;
    maj = gss_import_name(&min, &nb, GSS_C_NT_HOSTBASED_SERVICE, &tn);
    if (!GSS_ERROR(maj))
        maj = gss_init_sec_context(&min, cred, &ctx, tn, GSS_C_NO_OID, GSS_C_MUTUAL_FLAG, 0, GSS_C_NO_CHANNEL_BINDINGS,
                                   GSS_C_NO_BUFFER, NULL, &out, NULL, NULL);
    int rc = 0;
    if (GSS_ERROR(maj)) {
        auth_gss_why(maj, min, why, whylen, target);
        rc = -1;
    }
    OM_uint32 m2;
    gss_release_buffer(&m2, &out);
    if (ctx != GSS_C_NO_CONTEXT)
        gss_delete_sec_context(&m2, &ctx, GSS_C_NO_BUFFER);
    if (tn != GSS_C_NO_NAME)
        gss_release_name(&m2, &tn);
    gss_release_cred(&m2, &cred);
    return rc;
}

/* AS-REQ from the keytab into a new MEMORY cache; its name in ccname and
 * the tickets' start and end. Blocking (the KDC). 0, or -1 with why. */
static int new_cache(struct auth_login *l, char *ccname, size_t cclen, long long *start, long long *end, char *why,
                     size_t whylen)
{
    krb5_context k;
    if (krb5_init_context(&k) != 0)
        return snprintf(why, whylen, "cannot initialise Kerberos (check KRB5_CONFIG)"), -1;
    krb5_principal p = NULL;
    krb5_keytab kt = NULL;
    krb5_ccache cc = NULL;
    krb5_creds creds;
    bool have = false;
    int rc = -1;
    krb5_error_code e;
    memset(&creds, 0, sizeof creds);
    snprintf(ccname, cclen, "MEMORY:fedrouter-login-%u", ++cache_serial);
    if ((e = krb5_parse_name(k, l->principal, &p)) != 0 ||
        (e = l->ktname[0] ? krb5_kt_resolve(k, l->ktname, &kt) : krb5_kt_client_default(k, &kt)) != 0) {
        auth_krb5_why(k, e, why, whylen, "%s", l->principal);
        goto out;
    }
    if ((e = krb5_get_init_creds_keytab(k, &creds, p, kt, 0, NULL, NULL)) != 0) {
        auth_krb5_why(k, e, why, whylen, "login as %s from keytab %s", l->principal,
                      l->ktname[0] ? l->ktname : "(default)");
        goto out;
    }
    have = true;
    if ((e = krb5_cc_resolve(k, ccname, &cc)) != 0 || (e = krb5_cc_initialize(k, cc, p)) != 0 ||
        (e = krb5_cc_store_cred(k, cc, &creds)) != 0) {
        auth_krb5_why(k, e, why, whylen, "credential cache");
        goto out;
    }
    *start = creds.times.starttime ? creds.times.starttime : creds.times.authtime;
    *end = creds.times.endtime;
    rc = 0;
out:
    if (have)
        krb5_free_cred_contents(k, &creds);
    /* A MEMORY cache lives until destroyed: keep it only when it holds the
     * new tickets, or each failed renewal would leave one behind. */
    if (cc && rc == 0)
        krb5_cc_close(k, cc);
    else if (cc)
        krb5_cc_destroy(k, cc);
    if (kt)
        krb5_kt_close(k, kt);
    if (p)
        krb5_free_principal(k, p);
    krb5_free_context(k);
    return rc;
}

static void destroy_cache(const char *ccname)
{
    krb5_context k;
    krb5_ccache cc;
    if (!ccname[0] || krb5_init_context(&k) != 0)
        return;
    if (krb5_cc_resolve(k, ccname, &cc) == 0)
        krb5_cc_destroy(k, cc);
    krb5_free_context(k);
}

/* When to log in again: half way through the tickets' life, and at least
 * 10 s before their end. */
static long long renew_time(long long start, long long end)
{
    long long half = start + (end - start) / 2, late = end - 10;
    return half < late ? half : late;
}

/* Fetches the tickets of the targets not yet in cache generation gen (or
 * all of them). Called without the lock. */
static void fetch_targets(struct auth_login *l, const char *ccname, unsigned gen)
{
    for (int i = 0;; i++) {
        char name[320];
        pthread_mutex_lock(&l->mu);
        bool more = i < l->ntarget;
        bool need = more && l->target[i].fetched != gen;
        if (need)
            snprintf(name, sizeof name, "%s", l->target[i].name);
        pthread_mutex_unlock(&l->mu);
        if (!more)
            return;
        if (!need)
            continue;
        char why[512];
        if (fetch_ticket(l, ccname, name, why, sizeof why) < 0) {
            fr_warn("kerberos: service ticket for %s: %s", name, why);
            continue;
        }
        pthread_mutex_lock(&l->mu);
        l->target[i].fetched = gen;
        pthread_mutex_unlock(&l->mu);
    }
}

static void *renewer(void *arg)
{
    struct auth_login *l = arg;
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        long long now = (long long)time(NULL);
        if (now >= l->renew_at) {
            pthread_mutex_unlock(&l->mu);
            char cc[64], why[512];
            long long start, end;
            if (new_cache(l, cc, sizeof cc, &start, &end, why, sizeof why) < 0) {
                fr_warn("kerberos: renewing the login: %s (again in %d s)", why, LOGIN_RETRY);
                pthread_mutex_lock(&l->mu);
                l->renew_at = now + LOGIN_RETRY;
            } else {
                pthread_mutex_lock(&l->mu);
                unsigned gen = l->gen + 1;
                pthread_mutex_unlock(&l->mu);
                fetch_targets(l, cc, gen); /* before the cache is handed out */
                char old[64];
                pthread_mutex_lock(&l->mu);
                snprintf(old, sizeof old, "%s", l->prev);
                snprintf(l->prev, sizeof l->prev, "%s", l->ccname);
                snprintf(l->ccname, sizeof l->ccname, "%s", cc);
                l->gen = gen;
                l->renew_at = renew_time(start, end);
                atomic_store(&l->expires, end);
                pthread_mutex_unlock(&l->mu);
                destroy_cache(old);
                fr_info("kerberos: login %s renewed from its keytab; tickets valid for %llds", l->principal, end - now);
                pthread_mutex_lock(&l->mu);
            }
        }
        /* Targets registered since the last look. */
        bool fresh = false;
        for (int i = 0; i < l->ntarget && !fresh; i++)
            fresh = l->target[i].fetched != l->gen;
        if (fresh) {
            char cc[64];
            unsigned gen = l->gen;
            snprintf(cc, sizeof cc, "%s", l->ccname);
            pthread_mutex_unlock(&l->mu);
            fetch_targets(l, cc, gen);
            pthread_mutex_lock(&l->mu);
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += LOGIN_TICK;
        pthread_cond_timedwait(&l->cv, &l->mu, &ts);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* The expansion of a configured principal for a NameNode host, from the
 * table when it was worked out before. */
static bool expansion_known(struct auth_login *l, const char *principal, const char *nn_host, char *service, size_t sl,
                            char *host, size_t hl)
{
    bool found = false;
    pthread_mutex_lock(&l->mu);
    for (int i = 0; i < l->ntarget && !found; i++)
        if (!strcmp(l->target[i].conf, principal) && !strcmp(l->target[i].nn_host, nn_host)) {
            snprintf(service, sl, "%s", l->target[i].service);
            snprintf(host, hl, "%s", l->target[i].host);
            found = true;
        }
    pthread_mutex_unlock(&l->mu);
    return found;
}

int auth_login_resolve(struct auth_login *l, const char *principal, const char *nn_host, char *service, size_t sl,
                       char *host, size_t hl)
{
    if (strlen(principal) >= sizeof l->target[0].conf || strlen(nn_host) >= sizeof l->target[0].nn_host)
        return -1;
    if (l && expansion_known(l, principal, nn_host, service, sl, host, hl))
        return 0;
    /* _HOST of an address needs its reverse lookup (blocking): done once per
     * NameNode, at start-up for the configured ones. */
    char full[512], s[64], h[192], realm[256];
    if (auth_expand_host(principal, nn_host, full, sizeof full) < 0 ||
        auth_principal_split(full, s, sizeof s, h, sizeof h, realm, sizeof realm) < 0)
        return -1;
    char name[320];
    snprintf(name, sizeof name, "%s@%s", s, h);
    /* Without a login (GSSAPI's default credentials) nothing is kept. */
    if (l) {
        pthread_mutex_lock(&l->mu);
        if (l->ntarget < LOGIN_MAX_TARGETS) {
            struct login_target *t = &l->target[l->ntarget++];
            memset(t, 0, sizeof *t);
            snprintf(t->name, sizeof t->name, "%s", name);
            snprintf(t->conf, sizeof t->conf, "%s", principal);
            snprintf(t->nn_host, sizeof t->nn_host, "%s", nn_host);
            snprintf(t->service, sizeof t->service, "%s", s);
            snprintf(t->host, sizeof t->host, "%s", h);
            pthread_cond_signal(&l->cv);
        }
        pthread_mutex_unlock(&l->mu);
    }
    snprintf(service, sl, "%s", s);
    snprintf(host, hl, "%s", h);
    return 0;
}

void auth_login_prefetch(struct auth_login *l, const char *principal, const char *nn_host)
{
    char s[64], h[192];
    (void)auth_login_resolve(l, principal, nn_host, s, sizeof s, h, sizeof h);
}

struct auth_login *auth_login_new(const char *principal, const char *keytab, char *why, size_t whylen)
{
    struct auth_login *l = calloc(1, sizeof *l);
    if (!l)
        return snprintf(why, whylen, "out of memory"), NULL;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    if (keytab && keytab[0])
        snprintf(l->ktname, sizeof l->ktname, "%s%s", strchr(keytab, ':') ? "" : "FILE:", keytab);
    /* The principal as the KDC knows it (default realm added). */
    krb5_context k;
    krb5_principal p;
    char *full = NULL;
    if (krb5_init_context(&k) != 0) {
        snprintf(why, whylen, "cannot initialise Kerberos (check KRB5_CONFIG)");
        goto fail;
    }
    krb5_error_code e = krb5_parse_name(k, principal, &p);
    if (e == 0) {
        e = krb5_unparse_name(k, p, &full);
        krb5_free_principal(k, p);
    }
    if (e) {
        auth_krb5_why(k, e, why, whylen, "principal '%s'", principal);
        krb5_free_context(k);
        goto fail;
    }
    snprintf(l->principal, sizeof l->principal, "%s", full);
    krb5_free_unparsed_name(k, full);
    krb5_free_context(k);
    if (auth_principal_to_user(l->principal, l->user, sizeof l->user) < 0)
        snprintf(l->user, sizeof l->user, "%.*s", (int)strcspn(l->principal, "/@"), l->principal);
    gss_buffer_desc nb = { strlen(l->principal), l->principal };
    OM_uint32 maj, min;
    maj = gss_import_name(&min, &nb, GSS_KRB5_NT_PRINCIPAL_NAME, &l->name);
    if (GSS_ERROR(maj)) {
        l->name = GSS_C_NO_NAME;
        auth_gss_why(maj, min, why, whylen, "gss_import_name");
        goto fail;
    }
    /* The first login here, so that a bad keytab or an unreachable KDC
     * stops the start. */
    long long start, end;
    if (new_cache(l, l->ccname, sizeof l->ccname, &start, &end, why, whylen) < 0)
        goto fail;
    l->gen = 1;
    l->renew_at = renew_time(start, end);
    atomic_store(&l->expires, end);
    gss_cred_id_t c;
    if (auth_login_cred(l, &c, why, whylen) < 0)
        goto fail;
    gss_release_cred(&min, &c);
    int perr = pthread_create(&l->thread, NULL, renewer, l);
    if (perr != 0) {
        snprintf(why, whylen, "cannot start the Kerberos renewer thread: %s", strerror(perr));
        goto fail;
    }
    l->started = true;
    return l;
fail:
    auth_login_free(l);
    return NULL;
}

void auth_login_free(struct auth_login *l)
{
    if (!l)
        return;
    if (l->started) {
        pthread_mutex_lock(&l->mu);
        l->stop = true;
        pthread_cond_signal(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);
    }
    OM_uint32 min;
    if (l->name != GSS_C_NO_NAME)
        gss_release_name(&min, &l->name);
    destroy_cache(l->ccname);
    destroy_cache(l->prev);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

const char *auth_login_principal(const struct auth_login *l) { return l->principal; }
const char *auth_login_user(const struct auth_login *l) { return l->user; }
long long auth_login_expires(const struct auth_login *l) { return atomic_load(&l->expires); }
