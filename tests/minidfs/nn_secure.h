/*
 * nn_secure: the options that make minidfs a secure NameNode (Kerberos,
 * proxy users, RPC protection); see nn_secure.c.
 */
#ifndef MINIDFS_NN_SECURE_H
#define MINIDFS_NN_SECURE_H

#define NN_QOP_AUTH 1u /* hadoop.rpc.protection = authentication */
#define NN_QOP_INT 2u  /* integrity */
#define NN_QOP_CONF 4u /* privacy */

struct auth_server;
struct proxyuser_rules;

struct nn_secure {
    const char *principal;         /* --kerberos; NULL: SIMPLE NameNode */
    const char *keytab;            /* --keytab */
    struct proxyuser_rules *rules; /* --proxy-user / --proxy-rule; NULL: none */
    unsigned qop;                  /* --rpc-protection, NN_QOP_* bits */
};

void nn_secure_init(struct nn_secure *s);
/* Option handlers: 0, or -1 after printing why. */
int nn_secure_proxy_user(struct nn_secure *s, const char *arg);
int nn_secure_proxy_rule(struct nn_secure *s, const char *arg);
/* "authentication,privacy" -> NN_QOP_* bits; -1 on an unknown word. */
int nn_secure_parse_qop(const char *list, unsigned *out);
/* The SASL server for --kerberos (NULL without it, or after printing why on
 * error: check s->principal to tell). host: what _HOST stands for. */
struct auth_server *nn_secure_start(struct nn_secure *s, const char *host);
void nn_secure_free(struct nn_secure *s, struct auth_server *a);

#endif
