/*
 * proxyuser: may the authenticated (real) user act as another (effective)
 * user? Hadoop's `hadoop.proxyuser.<realuser>.{users,groups,hosts}` rules,
 * checked as DefaultImpersonationProvider.authorize does.
 *
 *   load:  proxyuser_rules_new()
 *          proxyuser_rules_set(rules, "hadoop.proxyuser.hue.hosts", "10.0.0.0/8,gw1")
 *          proxyuser_rules_set(rules, "hadoop.proxyuser.hue.groups", "analysts")
 *   check: proxyuser_check(rules, "hue", "alice", alice_groups, "10.1.2.3", err, len)
 *            1. users/groups of the real user's short name: the effective
 *               user's short name is listed in .users, or one of its groups
 *               in .groups, or either value is "*"; else
 *               "User: <real> is not allowed to impersonate <effective>"
 *            2. hosts of the real user's short name: "*", or the client
 *               address is listed or inside a listed range; else
 *               "Unauthorized connection for super-user: <real> from IP <ip>"
 *
 * When to check: the NameNode (ipc.Server, processConnectionContext) makes a
 * proxy user only when the connection context names an effective user whose
 * name differs from the authenticated user's full name; a delegation-token
 * connection is never checked (the token already names its owner). Those
 * decisions stay with the caller; this module only answers the question.
 *
 * What the client sees: Server.authorizeConnection turns the refusal into a
 * fatal RPC error (RpcErrorCodeProto FATAL_UNAUTHORIZED) whose exception
 * class is AuthorizationException (JEXC_AUTHORIZATION) and whose message is
 * the text above,
 * then closes the connection. That class extends
 * org.apache.hadoop.security.AccessControlException, which is what client
 * code catches (RemoteException.unwrapRemoteException gives an
 * AccessControlException).
 *
 * Values, as Hadoop reads them
 * ----------------------------
 * - .users and .groups: comma separated, each item trimmed, blank and
 *   repeated items dropped. Either value equal to "*" (after trimming) lets every user in.
 *   Having only a .hosts key means no user may be impersonated.
 * - .hosts: comma separated, trimmed, blank and repeated items dropped; the
 *   value "*" alone lets every address in; no .hosts key refuses every
 *   address. An item with a '/' is an IPv4 CIDR range ("10.0.0.0/8", both
 *   ends of the range included, as Hadoop's MachineList sets it); a bad one
 *   fails the load with Hadoop's log text "Invalid CIDR syntax : <item>".
 *   An IPv4 or IPv6 literal matches that address (compared as addresses, so
 *   "::1" equals "0:0:0:0:0:0:0:1", and an IPv4-mapped IPv6 client address
 *   counts as its IPv4 address, as Java's InetAddress does).
 * - Host names in .hosts are NOT resolved here (Hadoop resolves them with
 *   InetAddress, which would block an event loop). A name matches when it
 *   equals, ignoring case, the client address text or the client's reverse
 *   name given in proxyuser_request.client_host. Operators who need a name
 *   resolved write its addresses or a range instead.
 * - A key given twice keeps the last value, as a Hadoop Configuration does.
 *
 * Thread safety: rules are built by one thread, then only read; checks may
 * run on any number of threads at once.
 */
#ifndef FR_PROXYUSER_H
#define FR_PROXYUSER_H

#include <stddef.h>

#define PROXYUSER_MAX_USERS 4096  /* distinct real users with rules */
#define PROXYUSER_MAX_ITEMS 4096  /* items in one value */
#define PROXYUSER_MAX_VALUE 65536 /* bytes in one value */
#define PROXYUSER_MAX_KEY 1024    /* bytes in one key */

struct proxyuser_rules;

struct proxyuser_rules *proxyuser_rules_new(void);
void proxyuser_rules_free(struct proxyuser_rules *rules);

/*
 * Adds one rule. key is "hadoop.proxyuser.<user>.<kind>" or
 * "proxyuser.<user>.<kind>" with kind users, groups or hosts (<user> may
 * hold dots, not blanks). Returns 0, or -1 with the reason in err (err may
 * be NULL); on error the rules are unchanged.
 */
int proxyuser_rules_set(struct proxyuser_rules *rules, const char *key, const char *value, char *err, size_t errlen);

/* Who asks to act as whom, from where. */
struct proxyuser_request {
    const char *real_short;              /* short name of the authenticated user: picks the rules */
    const char *real_name;               /* its full name for the message (UGI getUserName); NULL: real_short */
    const char *effective_short;         /* short name of the effective user: checked against .users */
    const char *effective_name;          /* as the client sent it, for the message; NULL: effective_short */
    const char *const *effective_groups; /* its groups, NULL-terminated; NULL for none */
    const char *client_ip;               /* the client's address text, e.g. "10.1.2.3" or "::1" */
    const char *client_host;             /* its reverse name, or NULL */
};

/*
 * Returns 0 when the impersonation is allowed, or -1 with Hadoop's refusal
 * message in err (send it as JEXC_AUTHORIZATION).
 */
int proxyuser_check_request(const struct proxyuser_rules *rules, const struct proxyuser_request *req, char *err,
                            size_t errlen);

/*
 * The short form: real_user and effective_user serve both as the names
 * looked up and as the names in the message; effective_user_groups is
 * NULL-terminated (or NULL).
 */
int proxyuser_check(const struct proxyuser_rules *rules, const char *real_user, const char *effective_user,
                    const char *const effective_user_groups[], const char *client_ip, char *err, size_t errlen);

#endif
