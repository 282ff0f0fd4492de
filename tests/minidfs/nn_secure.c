/*
 * nn_secure.c: minidfs as a secure NameNode. --kerberos makes the NameNode
 * accept Hadoop IPC clients over SASL GSSAPI only (a SIMPLE client gets the
 * answer a NameNode with hadoop.security.authentication = kerberos gives),
 * with the router's SASL server and IPC hook (frsasl) running Cyrus's
 * GSSAPI plugin rather than the router's own mechanism, and
 * the proxy-user rules (hadoop.proxyuser.<user>.hosts/groups/users) say
 * which authenticated users may act for others.
 *
 *   --kerberos PRINCIPAL   nn/_HOST@REALM; _HOST is the --host address's name
 *   --keytab FILE          its keys (else KRB5_KTNAME / the default keytab)
 *   --proxy-user USER[:HOSTS]
 *                          USER may impersonate anyone (users = groups = *)
 *                          from HOSTS (comma list, default *)
 *   --proxy-rule KEY=VALUE one hadoop.proxyuser.<user>.<users|groups|hosts>
 *                          rule as Hadoop writes it, for finer tests
 *   --rpc-protection LIST  authentication, integrity, privacy (hadoop.rpc.protection):
 *                          with a layer, replies are wrapped and requests
 *                          unwrapped (nn_server.c, auth/sasl_layer)
 * KRB5_CONFIG selects krb5.conf, as for any MIT Kerberos program.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_secure.h"
#include "proxyuser.h"
#include "sasl_server.h"

void nn_secure_init(struct nn_secure *s)
{
    memset(s, 0, sizeof *s);
    s->qop = NN_QOP_AUTH;
}

static int add_rule(struct nn_secure *s, const char *key, const char *value)
{
    char err[256];
    if (!s->rules && !(s->rules = proxyuser_rules_new())) {
        fprintf(stderr, "minidfs: out of memory\n");
        return -1;
    }
    if (proxyuser_rules_set(s->rules, key, value, err, sizeof err) < 0) {
        fprintf(stderr, "minidfs: proxy-user rule %s = %s: %s\n", key, value, err);
        return -1;
    }
    return 0;
}

int nn_secure_proxy_user(struct nn_secure *s, const char *arg)
{
    char user[256], key[PROXYUSER_MAX_KEY];
    const char *colon = strchr(arg, ':');
    size_t ul = colon ? (size_t)(colon - arg) : strlen(arg);
    if (ul == 0 || ul >= sizeof user) {
        fprintf(stderr, "minidfs: bad --proxy-user %s (USER[:HOSTS])\n", arg);
        return -1;
    }
    memcpy(user, arg, ul);
    user[ul] = '\0';
    snprintf(key, sizeof key, "hadoop.proxyuser.%s.users", user);
    if (add_rule(s, key, "*") < 0)
        return -1;
    snprintf(key, sizeof key, "hadoop.proxyuser.%s.groups", user);
    if (add_rule(s, key, "*") < 0)
        return -1;
    snprintf(key, sizeof key, "hadoop.proxyuser.%s.hosts", user);
    return add_rule(s, key, colon && colon[1] ? colon + 1 : "*");
}

int nn_secure_proxy_rule(struct nn_secure *s, const char *arg)
{
    const char *eq = strchr(arg, '=');
    char key[PROXYUSER_MAX_KEY];
    if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof key) {
        fprintf(stderr, "minidfs: bad --proxy-rule %s (hadoop.proxyuser.USER.KIND=VALUE)\n", arg);
        return -1;
    }
    memcpy(key, arg, (size_t)(eq - arg));
    key[eq - arg] = '\0';
    return add_rule(s, key, eq + 1);
}

int nn_secure_parse_qop(const char *list, unsigned *out)
{
    unsigned q = 0;
    const char *p = list;
    while (*p) {
        size_t l = strcspn(p, ",");
        const char *w = p;
        size_t wl = l;
        while (wl && (*w == ' ' || *w == '\t'))
            w++, wl--;
        while (wl && (w[wl - 1] == ' ' || w[wl - 1] == '\t'))
            wl--;
        if (wl == 14 && !strncmp(w, "authentication", wl))
            q |= NN_QOP_AUTH;
        else if (wl == 9 && !strncmp(w, "integrity", wl))
            q |= NN_QOP_INT;
        else if (wl == 7 && !strncmp(w, "privacy", wl))
            q |= NN_QOP_CONF;
        else if (wl)
            return -1;
        p += l;
        if (*p == ',')
            p++;
    }
    if (!q)
        return -1;
    *out = q;
    return 0;
}

struct auth_server *nn_secure_start(struct nn_secure *s, const char *host)
{
    char why[512];
    if (!s->principal) {
        if (s->rules || s->keytab || s->qop != NN_QOP_AUTH) {
            fprintf(stderr, "minidfs: --keytab, --proxy-user, --proxy-rule and --rpc-protection need --kerberos\n");
            return NULL;
        }
        return NULL;
    }
    if (auth_keytab_check(s->keytab, s->principal, host, why, sizeof why) < 0) {
        fprintf(stderr, "minidfs: %s\n", why);
        return NULL;
    }
    const struct auth_server_cfg cfg = {
        .methods = AUTH_M_KERBEROS,
        .principal = s->principal,
        .keytab = s->keytab,
        .listen_host = host,
        .auth_to_local = NULL,
        .proxyusers = s->rules,
        .qop = (s->qop & NN_QOP_AUTH ? AUTH_QOP_AUTH : 0) | (s->qop & NN_QOP_INT ? AUTH_QOP_INT : 0) |
               (s->qop & NN_QOP_CONF ? AUTH_QOP_CONF : 0),
        /* Cyrus's GSSAPI, not the router's own: the router's client side
         * then meets another implementation in every test. */
        .cyrus_gssapi = true,
    };
    struct auth_server *a = auth_server_new(&cfg, why, sizeof why);
    if (!a)
        fprintf(stderr, "minidfs: %s\n", why);
    else
        fprintf(stderr, "minidfs: secure: clients authenticate with Kerberos as %s\n", auth_server_principal(a));
    return a;
}

void nn_secure_free(struct nn_secure *s, struct auth_server *a)
{
    auth_server_free(a);
    proxyuser_rules_free(s->rules);
    s->rules = NULL;
}
