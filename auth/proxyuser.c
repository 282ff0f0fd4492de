/*
 * proxyuser: the rules as parsed lists, and the two-step check of
 * DefaultImpersonationProvider.authorize (users/groups, then hosts).
 *
 *   struct proxyuser_rules
 *     user[] ------ one per real user named in a key, in load order
 *       .users  .groups   struct pu_list  (AccessControlList's two halves)
 *       .hosts            struct pu_hosts (MachineList: *, addresses, ranges, names)
 */
#include "errmsg.h"
#include "proxyuser.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A comma list of .users or .groups. */
struct pu_list {
    bool present; /* the key was given */
    bool star;    /* the whole value is "*": everyone */
    char **item;
    size_t n;
};

struct pu_cidr {
    uint32_t net, mask; /* host order */
};

/* The .hosts value. */
struct pu_hosts {
    bool present;          /* the key was given */
    bool all;              /* the only item is "*" */
    struct in6_addr *addr; /* literals; IPv4 ones stored IPv4-mapped */
    size_t naddr;
    struct pu_cidr *cidr;
    size_t ncidr;
    char **name; /* host names, compared as text */
    size_t nname;
};

struct pu_user {
    char *name; /* the real user's short name */
    struct pu_list users, groups;
    struct pu_hosts hosts;
};

struct proxyuser_rules {
    struct pu_user *user;
    size_t n, cap;
};

static void free_strings(char **s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

static void list_free(struct pu_list *l)
{
    free_strings(l->item, l->n);
    memset(l, 0, sizeof *l);
}

static void hosts_free(struct pu_hosts *h)
{
    free(h->addr);
    free(h->cidr);
    free_strings(h->name, h->nname);
    memset(h, 0, sizeof *h);
}

struct proxyuser_rules *proxyuser_rules_new(void) { return calloc(1, sizeof(struct proxyuser_rules)); }

void proxyuser_rules_free(struct proxyuser_rules *rules)
{
    if (!rules)
        return;
    for (size_t i = 0; i < rules->n; i++) {
        free(rules->user[i].name);
        list_free(&rules->user[i].users);
        list_free(&rules->user[i].groups);
        hosts_free(&rules->user[i].hosts);
    }
    free(rules->user);
    free(rules);
}

/* ---- splitting values ---- */

/* Java's String.trim: drops every byte up to ' ' at both ends. */
static void trim(const char **s, size_t *n)
{
    while (*n && (unsigned char)(*s)[0] <= ' ') {
        (*s)++;
        (*n)--;
    }
    while (*n && (unsigned char)(*s)[*n - 1] <= ' ')
        (*n)--;
}

/*
 * Splits value at commas into trimmed, non-empty items (repeats dropped
 * when dedup). Returns the count, or -1 (too many items, or out of memory:
 * *why says which).
 */
static long split_items(const char *value, bool dedup, char ***out, const char **why)
{
    char **item = NULL;
    size_t n = 0;
    const char *p = value;
    for (;;) {
        size_t len = strcspn(p, ",");
        const char *s = p;
        size_t sl = len;
        trim(&s, &sl);
        bool dup = false;
        for (size_t i = 0; dedup && i < n && !dup; i++)
            dup = strlen(item[i]) == sl && memcmp(item[i], s, sl) == 0;
        if (sl && !dup) {
            if (n == PROXYUSER_MAX_ITEMS) {
                *why = "too many items";
                goto fail;
            }
            char **grown = realloc(item, (n + 1) * sizeof *item);
            char *copy = malloc(sl + 1);
            if (grown)
                item = grown;
            if (!grown || !copy) {
                free(copy);
                *why = "out of memory";
                goto fail;
            }
            memcpy(copy, s, sl);
            copy[sl] = 0;
            item[n++] = copy;
        }
        if (!p[len])
            break;
        p += len + 1;
    }
    *out = item;
    return (long)n;
fail:
    free_strings(item, n);
    return -1;
}

/* AccessControlList: "*" (trimmed) means everyone, else a list of names. */
static int parse_list(const char *value, struct pu_list *l, const char **why)
{
    memset(l, 0, sizeof *l);
    l->present = true;
    const char *s = value;
    size_t n = strlen(value);
    trim(&s, &n);
    if (n == 1 && s[0] == '*') {
        l->star = true;
        return 0;
    }
    long k = split_items(value, true, &l->item, why);
    if (k < 0)
        return -1;
    l->n = (size_t)k;
    return 0;
}

/* SubnetUtils' CIDR form: a.b.c.d/n, 1-3 digits per octet (<= 255), 1-2 digits of n (<= 32). */
static bool parse_cidr(const char *s, struct pu_cidr *c)
{
    unsigned part[5];
    for (int k = 0; k < 5; k++) {
        int digits = 0;
        unsigned v = 0;
        while (*s >= '0' && *s <= '9' && digits < 4) {
            v = v * 10 + (unsigned)(*s++ - '0');
            digits++;
        }
        if (digits == 0 || digits > (k == 4 ? 2 : 3) || v > (k == 4 ? 32u : 255u))
            return false;
        part[k] = v;
        char want = k < 3 ? '.' : k == 3 ? '/' : 0;
        if (*s != want)
            return false;
        if (want)
            s++;
    }
    uint32_t ip = part[0] << 24 | part[1] << 16 | part[2] << 8 | part[3];
    c->mask = part[4] == 0 ? 0 : 0xffffffffu << (32 - part[4]);
    c->net = ip & c->mask;
    return true;
}

/*
 * An address literal, as InetAddress.getByName reads one: IPv4 dotted quad
 * or IPv6 (brackets and a %zone allowed). IPv4 and IPv4-mapped IPv6 come
 * out the same (IPv4-mapped).
 */
static bool parse_addr(const char *s, struct in6_addr *a)
{
    char buf[INET6_ADDRSTRLEN + 2];
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        s++;
        n -= 2;
    }
    size_t zone = strcspn(s, "%");
    if (zone < n)
        n = zone;
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = 0;
    struct in_addr v4;
    if (inet_pton(AF_INET, buf, &v4) == 1) {
        memset(a, 0, sizeof *a);
        a->s6_addr[10] = 0xff;
        a->s6_addr[11] = 0xff;
        memcpy(&a->s6_addr[12], &v4, 4);
        return true;
    }
    return inet_pton(AF_INET6, buf, a) == 1;
}

static bool is_v4(const struct in6_addr *a) { return IN6_IS_ADDR_V4MAPPED(a); }

static uint32_t v4_of(const struct in6_addr *a)
{
    return (uint32_t)a->s6_addr[12] << 24 | (uint32_t)a->s6_addr[13] << 16 | (uint32_t)a->s6_addr[14] << 8 |
           a->s6_addr[15];
}

/* MachineList: "*" alone, else ranges, literals and names. */
static int parse_hosts(const char *value, struct pu_hosts *h, char *err, size_t errlen)
{
    memset(h, 0, sizeof *h);
    h->present = true;
    char **item = NULL;
    const char *why = NULL;
    long n = split_items(value, true, &item, &why);
    if (n < 0) {
        fr_errf(err, errlen, "%s", why);
        return -1;
    }
    if (n == 1 && strcmp(item[0], "*") == 0) {
        h->all = true;
        free_strings(item, 1);
        return 0;
    }
    int rc = 0;
    if (n) {
        h->addr = malloc((size_t)n * sizeof *h->addr);
        h->cidr = malloc((size_t)n * sizeof *h->cidr);
        h->name = malloc((size_t)n * sizeof *h->name);
        if (!h->addr || !h->cidr || !h->name) {
            fr_errf(err, errlen, "out of memory");
            rc = -1;
        }
    }
    for (long i = 0; i < n; i++) {
        if (rc == 0 && strchr(item[i], '/')) {
            if (!parse_cidr(item[i], &h->cidr[h->ncidr])) {
                fr_errf(err, errlen, "Invalid CIDR syntax : %s", item[i]);
                rc = -1;
            } else {
                h->ncidr++;
            }
        } else if (rc == 0 && parse_addr(item[i], &h->addr[h->naddr])) {
            h->naddr++;
        } else if (rc == 0) {
            h->name[h->nname++] = item[i];
            item[i] = NULL;
        }
        free(item[i]);
    }
    free(item);
    if (rc)
        hosts_free(h);
    return rc;
}

/* ---- keys ---- */

enum pu_kind { PU_USERS, PU_GROUPS, PU_HOSTS };

/* Splits "[hadoop.]proxyuser.<user>.<kind>": the user goes to user and ulen. */
static int parse_key(const char *key, const char **user, size_t *ulen, enum pu_kind *kind, char *err, size_t errlen)
{
    const char *p = key;
    if (strncmp(p, "hadoop.", 7) == 0)
        p += 7;
    if (strncmp(p, "proxyuser.", 10) != 0) {
        fr_errf(err, errlen, "%s: not a proxyuser key (want hadoop.proxyuser.<user>.hosts|groups|users)", key);
        return -1;
    }
    p += 10;
    const char *dot = strrchr(p, '.');
    if (!dot) {
        fr_errf(err, errlen, "%s: no .hosts, .groups or .users at the end", key);
        return -1;
    }
    if (strcmp(dot, ".users") == 0)
        *kind = PU_USERS;
    else if (strcmp(dot, ".groups") == 0)
        *kind = PU_GROUPS;
    else if (strcmp(dot, ".hosts") == 0)
        *kind = PU_HOSTS;
    else {
        fr_errf(err, errlen, "%s: ends in %s, want .hosts, .groups or .users", key, dot);
        return -1;
    }
    if (dot == p) {
        fr_errf(err, errlen, "%s: no user name", key);
        return -1;
    }
    for (const char *c = p; c < dot; c++) {
        if ((unsigned char)*c <= ' ') {
            fr_errf(err, errlen, "%s: the user name holds a blank or a control character", key);
            return -1;
        }
    }
    *user = p;
    *ulen = (size_t)(dot - p);
    return 0;
}

static struct pu_user *find_user(const struct proxyuser_rules *rules, const char *name, size_t len)
{
    for (size_t i = 0; i < rules->n; i++)
        if (strlen(rules->user[i].name) == len && memcmp(rules->user[i].name, name, len) == 0)
            return &rules->user[i];
    return NULL;
}

int proxyuser_rules_set(struct proxyuser_rules *rules, const char *key, const char *value, char *err, size_t errlen)
{
    if (!rules || !key || !value) {
        fr_errf(err, errlen, "proxyuser: missing rules, key or value");
        return -1;
    }
    if (strlen(key) > PROXYUSER_MAX_KEY) {
        fr_errf(err, errlen, "proxyuser: a key longer than %d bytes", PROXYUSER_MAX_KEY);
        return -1;
    }
    if (strlen(value) > PROXYUSER_MAX_VALUE) {
        fr_errf(err, errlen, "%s: the value is longer than %d bytes", key, PROXYUSER_MAX_VALUE);
        return -1;
    }
    const char *uname;
    size_t ulen;
    enum pu_kind kind;
    if (parse_key(key, &uname, &ulen, &kind, err, errlen) != 0)
        return -1;

    /* Parse first, so that a bad value leaves the rules as they were. */
    struct pu_list list = { 0 };
    struct pu_hosts hosts = { 0 };
    char why_hosts[160];
    if (kind == PU_HOSTS) {
        if (parse_hosts(value, &hosts, why_hosts, sizeof why_hosts) != 0) {
            fr_errf(err, errlen, "%s: %s", key, why_hosts);
            return -1;
        }
    } else {
        const char *why = NULL;
        if (parse_list(value, &list, &why) != 0) {
            fr_errf(err, errlen, "%s: %s", key, why);
            return -1;
        }
    }

    struct pu_user *u = find_user(rules, uname, ulen);
    if (!u) {
        char *name = NULL;
        if (rules->n == PROXYUSER_MAX_USERS) {
            fr_errf(err, errlen, "%s: rules for more than %d users", key, PROXYUSER_MAX_USERS);
            goto fail;
        }
        if (rules->n == rules->cap) {
            size_t cap = rules->cap ? rules->cap * 2 : 8;
            struct pu_user *grown = realloc(rules->user, cap * sizeof *grown);
            if (!grown) {
                fr_errf(err, errlen, "%s: out of memory", key);
                goto fail;
            }
            rules->user = grown;
            rules->cap = cap;
        }
        if (!(name = malloc(ulen + 1))) {
            fr_errf(err, errlen, "%s: out of memory", key);
            goto fail;
        }
        memcpy(name, uname, ulen);
        name[ulen] = 0;
        u = &rules->user[rules->n++];
        memset(u, 0, sizeof *u);
        u->name = name;
    }
    switch (kind) {
    case PU_USERS:
        list_free(&u->users);
        u->users = list;
        break;
    case PU_GROUPS:
        list_free(&u->groups);
        u->groups = list;
        break;
    case PU_HOSTS:
        hosts_free(&u->hosts);
        u->hosts = hosts;
        break;
    }
    return 0;
fail:
    if (kind == PU_HOSTS)
        hosts_free(&hosts);
    else
        list_free(&list);
    return -1;
}

/* ---- the check ---- */

static bool in_list(const struct pu_list *l, const char *name)
{
    for (size_t i = 0; name && i < l->n; i++)
        if (strcmp(l->item[i], name) == 0)
            return true;
    return false;
}

/* AccessControlList.isUserAllowed on the effective user. */
static bool acl_allows(const struct pu_user *u, const struct proxyuser_request *req)
{
    if (u->users.star || u->groups.star)
        return true;
    if (in_list(&u->users, req->effective_short))
        return true;
    for (const char *const *g = req->effective_groups; g && *g; g++)
        if (in_list(&u->groups, *g))
            return true;
    return false;
}

/* MachineList.includes, with names compared as text (see proxyuser.h). */
static bool hosts_include(const struct pu_hosts *h, const struct proxyuser_request *req)
{
    if (h->all)
        return true;
    struct in6_addr a;
    if (req->client_ip && parse_addr(req->client_ip, &a)) {
        for (size_t i = 0; i < h->naddr; i++)
            if (memcmp(&h->addr[i], &a, sizeof a) == 0)
                return true;
        if (is_v4(&a)) {
            uint32_t ip = v4_of(&a);
            for (size_t i = 0; i < h->ncidr; i++)
                if ((ip & h->cidr[i].mask) == h->cidr[i].net)
                    return true;
        }
    }
    for (size_t i = 0; i < h->nname; i++) {
        if (req->client_ip && strcasecmp(h->name[i], req->client_ip) == 0)
            return true;
        if (req->client_host && strcasecmp(h->name[i], req->client_host) == 0)
            return true;
    }
    return false;
}

int proxyuser_check_request(const struct proxyuser_rules *rules, const struct proxyuser_request *req, char *err,
                            size_t errlen)
{
    const char *real = req->real_name ? req->real_name : req->real_short;
    const char *eff = req->effective_name ? req->effective_name : req->effective_short;
    if (!real)
        real = "null";
    if (!eff)
        eff = "null";
    const struct pu_user *u =
        rules && req->real_short ? find_user(rules, req->real_short, strlen(req->real_short)) : NULL;
    /* No .users and no .groups key for this user: there is no ACL at all. */
    if (!u || (!u->users.present && !u->groups.present) || !acl_allows(u, req)) {
        fr_errf(err, errlen, "User: %s is not allowed to impersonate %s", real, eff);
        return -1;
    }
    if (!u->hosts.present || !hosts_include(&u->hosts, req)) {
        fr_errf(err, errlen, "Unauthorized connection for super-user: %s from IP %s", real,
                req->client_ip ? req->client_ip : "null");
        return -1;
    }
    return 0;
}

int proxyuser_check(const struct proxyuser_rules *rules, const char *real_user, const char *effective_user,
                    const char *const effective_user_groups[], const char *client_ip, char *err, size_t errlen)
{
    struct proxyuser_request req = {
        .real_short = real_user,
        .effective_short = effective_user,
        .effective_groups = effective_user_groups,
        .client_ip = client_ip,
    };
    return proxyuser_check_request(rules, &req, err, errlen);
}
