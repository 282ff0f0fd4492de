/*
 * records: mount entries, nameservices and metastore routes; their keys,
 * validation, canonical INI text, and the record set. See records.h.
 */
#include "records.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int fail(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t whylen, const char *fmt, ...)
{
    if (why && whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- paths ---- */

/* bytes that end a component's scan */
static const unsigned char stop[256] = {['/'] = 1, [':'] = 1, [0] = 1};

long path_normalize(const char *in, size_t len, char *out, size_t outsz, const char **why)
{
    static const char *dummy;
    if (!why)
        why = &dummy;
    if (len == 0) {
        *why = "empty path";
        return -1;
    }
    if (in[0] != '/') {
        *why = "path is not absolute (must start with '/')";
        return -1;
    }
    if (len > FR_PATH_MAX) {
        *why = "path longer than 16384 bytes";
        return -1;
    }
    size_t o = 0, i = 0;
    while (i < len) {
        while (i < len && in[i] == '/')
            i++;
        if (i >= len)
            break;
        size_t s = i;
        while (i < len && !stop[(unsigned char)in[i]])
            i++;
        if (i < len && in[i] != '/') {
            *why = in[i] == ':' ? "':' is not allowed in a path component" : "NUL byte in path";
            return -1;
        }
        size_t cl = i - s;
        if (in[s] == '.' && (cl == 1 || (cl == 2 && in[s + 1] == '.'))) {
            *why = "'.' and '..' components are not allowed";
            return -1;
        }
        if (o + 1 + cl + 1 > outsz) {
            *why = "path buffer too small";
            return -1;
        }
        out[o++] = '/';
        memmove(out + o, in + s, cl);
        o += cl;
    }
    if (o == 0) {
        if (outsz < 2) {
            *why = "path buffer too small";
            return -1;
        }
        out[o++] = '/';
    }
    out[o] = '\0';
    return (long)o;
}

/* ---- small parsers ---- */

int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) {
            *out = true;
            return 0;
        }
        if (!strcasecmp(s, no[i])) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

int parse_i64(const char *s, bool allow_suffix, int64_t *out)
{
    if (!*s)
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s)
        return -1;
    int shift = 0;
    if (*end && allow_suffix) {
        static const char sfx[] = "kmgtp";
        const char *p = strchr(sfx, tolower((unsigned char)*end));
        if (!p)
            return -1;
        shift = 10 * (int)(p - sfx + 1);
        end++;
        if (tolower((unsigned char)*end) == 'i' && tolower((unsigned char)end[1]) == 'b')
            end += 2; /* "128MiB" */
        else if (tolower((unsigned char)*end) == 'b')
            end++; /* "128mb" */
    }
    if (*end)
        return -1;
    if (shift && (v > (LLONG_MAX >> shift) || v < (LLONG_MIN >> shift)))
        return -1;
    *out = (int64_t)v * ((int64_t)1 << shift);
    return 0;
}

bool name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > FR_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
            return false;
    return true;
}

int hostport_check(const char *s, int minport, char *why, size_t whylen)
{
    const char *colon;
    size_t hlen;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb == s + 1 || rb[1] != ':')
            return fail(why, whylen, "'%s': expected [v6-address]:port", s);
        for (const char *p = s + 1; p < rb; p++)
            if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
                return fail(why, whylen, "'%s': bad IPv6 address", s);
        colon = rb + 1;
        hlen = (size_t)(rb - s - 1);
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return fail(why, whylen, "'%s': expected host:port", s);
        hlen = (size_t)(colon - s);
        if (hlen == 0)
            return fail(why, whylen, "'%s': empty host", s);
        for (const char *p = s; p < colon; p++)
            if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
                return fail(why, whylen, "'%s': bad character in host name", s);
    }
    if (hlen > 253)
        return fail(why, whylen, "'%.40s...': host name too long", s);
    int64_t port;
    if (parse_i64(colon + 1, false, &port) < 0 || port < minport || port > 65535 || !isdigit((unsigned char)colon[1]))
        return fail(why, whylen, "'%s': port must be a number in %d..65535", s, minport);
    return 0;
}

static char *xstrdup(const char *s)
{
    return strdup(s ? s : "");
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Splits a comma list into trimmed items (heap copies). 0 or -1. */
static int split_list(const char *value, size_t max, char ***items, size_t *n, char *why, size_t whylen)
{
    char *copy = strdup(value);
    if (!copy)
        return fail(why, whylen, "out of memory");
    char **v = NULL;
    size_t cnt = 0;
    int rc = 0;
    char *p = copy;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        char *item = trim(p);
        if (!*item) {
            rc = fail(why, whylen, "empty item in list '%s'", value);
            break;
        }
        if (cnt == max) {
            rc = fail(why, whylen, "more than %zu items in list", max);
            break;
        }
        char **nv = realloc(v, (cnt + 1) * sizeof *v);
        if (!nv || !(nv[cnt] = strdup(item))) {
            v = nv ? nv : v;
            rc = fail(why, whylen, "out of memory");
            break;
        }
        v = nv;
        cnt++;
        if (!comma)
            break;
        p = comma + 1;
    }
    free(copy);
    if (rc < 0) {
        for (size_t i = 0; i < cnt; i++)
            free(v[i]);
        free(v);
        return -1;
    }
    *items = v;
    *n = cnt;
    return 0;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- orders and kinds ---- */

static const char *const order_names[] = {"HASH", "LOCAL", "RANDOM", "HASH_ALL", "SPACE", "LEADER_FOLLOWER"};

const char *mount_order_name(enum mount_order o)
{
    return (unsigned)o < 6 ? order_names[o] : "?";
}

int mount_order_parse(const char *s, enum mount_order *out)
{
    for (int i = 0; i < 6; i++)
        if (!strcasecmp(s, order_names[i])) {
            *out = (enum mount_order)i;
            return 0;
        }
    return -1;
}

bool mount_order_folder_all(enum mount_order o)
{
    return o == ORDER_HASH_ALL || o == ORDER_RANDOM || o == ORDER_SPACE || o == ORDER_LEADER_FOLLOWER;
}

static const char *const kind_names[REC_NKINDS] = {"mount", "nameservice", "metastore"};

const char *rec_kind_name(enum rec_kind k)
{
    return (unsigned)k < REC_NKINDS ? kind_names[k] : "?";
}

int rec_kind_parse(const char *s, enum rec_kind *out)
{
    for (int i = 0; i < REC_NKINDS; i++)
        if (!strcmp(s, kind_names[i])) {
            *out = (enum rec_kind)i;
            return 0;
        }
    return -1;
}

const char *record_key(const struct record *r)
{
    switch (r->kind) {
    case REC_MOUNT: return r->u.mount.src;
    case REC_NAMESERVICE: return r->u.ns.name;
    case REC_METASTORE: return r->u.ms.name;
    }
    return "";
}

/* ---- the key table ---- */

enum {
    K_DESTS, K_ORDER, K_READONLY, K_FT, K_OWNER, K_GROUP, K_MODE, K_NSQ, K_SSQ,
    K_NAMENODES, K_DISABLED, K_NSPRINC,
    K_URIS, K_PREFIX, K_PRIMARY, K_ACCESS, K_WRITABLE, K_DATABASES,
    K_COUNT
};

static const struct rec_key keys[K_COUNT] = {
    [K_DESTS] = {REC_MOUNT, "destinations", "list", NULL,
                 "where the path lives: ns:/path[, ns:/path...] (several = spread by `order`)"},
    [K_ORDER] = {REC_MOUNT, "order", "enum", "HASH",
                 "HASH LOCAL RANDOM HASH_ALL SPACE LEADER_FOLLOWER: how the first destination is chosen"},
    [K_READONLY] = {REC_MOUNT, "readonly", "bool", "false", "refuse every write below this mount point"},
    [K_FT] = {REC_MOUNT, "faulttolerant", "bool", "false",
              "writes may move to another destination when a subcluster is unreachable"},
    [K_OWNER] = {REC_MOUNT, "owner", "string", "", "owner shown for the mount point (empty: the router's user)"},
    [K_GROUP] = {REC_MOUNT, "group", "string", "", "group shown for the mount point (empty: the superuser group)"},
    [K_MODE] = {REC_MOUNT, "mode", "octal", "0755", "permission bits of the mount entry"},
    [K_NSQ] = {REC_MOUNT, "quota.ns", "count", "none", "router quota on files + directories below (RBF -nsQuota)"},
    [K_SSQ] = {REC_MOUNT, "quota.ss", "size", "none",
               "router quota on bytes stored below, suffixes k m g t p (RBF -ssQuota)"},
    [K_NAMENODES] = {REC_NAMESERVICE, "namenodes", "list", NULL,
                     "host:port[, host:port...] of the NameNodes (HA: tried in order, active remembered)"},
    [K_DISABLED] = {REC_NAMESERVICE, "disabled", "bool", "false",
                    "leave this subcluster out of resolution and fan-out calls"},
    [K_NSPRINC] = {REC_NAMESERVICE, "principal", "string", "",
                   "the NameNodes' Kerberos principal, nn/_HOST@REALM (_HOST = each NameNode's host as written in "
                   "namenodes): set, the router authenticates to them with GSSAPI as its [security] principal and "
                   "names the client as the effective user (a proxy user); empty = SIMPLE"},
    [K_URIS] = {REC_METASTORE, "uris", "list", NULL, "thrift://host:port[, ...] of the metastore, tried in order"},
    [K_PREFIX] = {REC_METASTORE, "prefix", "string", "<name>_",
                  "database-name prefix routed here, lower case (the primary's default is none)"},
    [K_PRIMARY] = {REC_METASTORE, "primary", "bool", "false",
                   "takes calls without a database and names no prefix matches (at most one)"},
    [K_ACCESS] = {REC_METASTORE, "access", "enum", "read-only",
                  "read-only or read-write (the primary's default is read-write)"},
    [K_DATABASES] = {REC_METASTORE, "databases", "list", "none",
                     "hms.mode = manual: the databases routed to this metastore (others go to the primary)"},
    [K_WRITABLE] = {REC_METASTORE, "writable", "list", "none",
                    "database patterns, as this metastore names them ('*' any), open to writes even when read-only"},
};

const struct rec_key *record_keys(size_t *n)
{
    *n = K_COUNT;
    return keys;
}

/* ---- init / set / finish ---- */

static void mount_defaults(struct mount_rec *m)
{
    m->order = ORDER_HASH;
    m->mode = 0755;
    m->ns_quota = -1;
    m->ss_quota = -1;
}

int record_init(struct record *r, enum rec_kind kind, const char *name, char *why, size_t whylen)
{
    memset(r, 0, sizeof *r);
    r->kind = kind;
    if ((unsigned)kind >= REC_NKINDS)
        return fail(why, whylen, "unknown record kind");
    if (kind == REC_MOUNT) {
        char buf[FR_PATH_MAX + 2];
        const char *pw;
        if (path_normalize(name, strlen(name), buf, sizeof buf, &pw) < 0)
            return fail(why, whylen, "mount point '%s': %s", name, pw);
        mount_defaults(&r->u.mount);
        if (!(r->u.mount.src = strdup(buf)) || !(r->u.mount.owner = xstrdup("")) ||
            !(r->u.mount.group = xstrdup(""))) {
            record_free(r);
            return fail(why, whylen, "out of memory");
        }
        return 0;
    }
    if (!name_valid(name))
        return fail(why, whylen, "%s name '%s': use 1..%d of A-Z a-z 0-9 _ . -", kind_names[kind], name,
                    FR_NAME_MAX);
    char **slot = kind == REC_NAMESERVICE ? &r->u.ns.name : &r->u.ms.name;
    if (!(*slot = strdup(name)))
        return fail(why, whylen, "out of memory");
    if (kind == REC_METASTORE)
        r->u.ms.access = MS_ACCESS_DEFAULT;
    return 0;
}

static int parse_dests(struct mount_rec *m, const char *value, char *why, size_t whylen)
{
    char **items;
    size_t n;
    if (split_list(value, FR_MAX_DESTS, &items, &n, why, whylen) < 0)
        return -1;
    struct remote_loc *d = calloc(n, sizeof *d);
    int rc = d ? 0 : fail(why, whylen, "out of memory");
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *colon = strchr(items[i], ':');
        if (!colon) {
            rc = fail(why, whylen, "destination '%s': expected nameservice:/path", items[i]);
            break;
        }
        *colon = '\0';
        char *ns = trim(items[i]), *path = trim(colon + 1);
        if (!name_valid(ns)) {
            rc = fail(why, whylen, "destination nameservice '%s': use A-Z a-z 0-9 _ . -", ns);
            break;
        }
        char buf[FR_PATH_MAX + 2];
        const char *pw;
        if (path_normalize(path, strlen(path), buf, sizeof buf, &pw) < 0) {
            rc = fail(why, whylen, "destination path '%s': %s", path, pw);
            break;
        }
        if (!(d[i].ns = strdup(ns)) || !(d[i].path = strdup(buf)))
            rc = fail(why, whylen, "out of memory");
    }
    free_list(items, n);
    if (rc < 0) {
        for (size_t i = 0; d && i < n; i++) {
            free(d[i].ns);
            free(d[i].path);
        }
        free(d);
        return -1;
    }
    for (size_t i = 0; i < m->ndests; i++) {
        free(m->dests[i].ns);
        free(m->dests[i].path);
    }
    free(m->dests);
    m->dests = d;
    m->ndests = n;
    return 0;
}

static int set_string(char **slot, const char *value, size_t max, char *why, size_t whylen)
{
    if (strlen(value) > max)
        return fail(why, whylen, "longer than %zu bytes", max);
    for (const char *p = value; *p; p++)
        if (iscntrl((unsigned char)*p))
            return fail(why, whylen, "control character in value");
    char *c = strdup(value);
    if (!c)
        return fail(why, whylen, "out of memory");
    free(*slot);
    *slot = c;
    return 0;
}

static int quota_value(const char *value, bool suffix, int64_t *out)
{
    int64_t v;
    if (!strcasecmp(value, "none") || !strcmp(value, "-1"))
        v = -1;
    else if (parse_i64(value, suffix, &v) < 0 || v <= 0)
        return -1;
    *out = v;
    return 0;
}

static int prefix_check(const char *p, char *why, size_t whylen)
{
    if (strlen(p) > FR_NAME_MAX)
        return fail(why, whylen, "prefix longer than %d bytes", FR_NAME_MAX);
    for (; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_'))
            return fail(why, whylen, "prefix may hold only a-z 0-9 _ (the metastore lower-cases database names)");
    return 0;
}

static int set_key(struct record *r, int k, const char *v, char *why, size_t whylen)
{
    struct mount_rec *m = &r->u.mount;
    struct ns_rec *n = &r->u.ns;
    struct ms_rec *s = &r->u.ms;
    char **items;
    size_t cnt;
    switch (k) {
    case K_DESTS: return parse_dests(m, v, why, whylen);
    case K_ORDER:
        if (mount_order_parse(v, &m->order) < 0)
            return fail(why, whylen, "order '%s': use HASH, LOCAL, RANDOM, HASH_ALL, SPACE or LEADER_FOLLOWER", v);
        return 0;
    case K_READONLY:
    case K_FT:
    case K_DISABLED:
    case K_PRIMARY: {
        bool *b = k == K_READONLY ? &m->readonly : k == K_FT ? &m->faulttolerant : k == K_DISABLED ? &n->disabled
                                                                                                   : &s->primary;
        if (parse_bool(v, b) < 0)
            return fail(why, whylen, "'%s' is not a boolean (true/false)", v);
        return 0;
    }
    case K_NSPRINC:
        if (*v && (!strchr(v, '/') || strchr(v, ' ')))
            return fail(why, whylen, "principal '%s': expected service/host@REALM (host may be _HOST)", v);
        if (!*v) {
            free(n->principal);
            n->principal = NULL;
            return 0;
        }
        return set_string(&n->principal, v, 512, why, whylen);
    case K_OWNER: return set_string(&m->owner, v, 256, why, whylen);
    case K_GROUP: return set_string(&m->group, v, 256, why, whylen);
    case K_MODE: {
        char *end;
        errno = 0;
        unsigned long mode = strtoul(v, &end, 8);
        if (!*v || *end || errno || mode > 01777 || !isdigit((unsigned char)*v))
            return fail(why, whylen, "mode '%s': expected octal permission bits like 0755", v);
        m->mode = (uint32_t)mode;
        return 0;
    }
    case K_NSQ:
        if (quota_value(v, false, &m->ns_quota) < 0)
            return fail(why, whylen, "quota.ns '%s': expected a positive count or 'none'", v);
        return 0;
    case K_SSQ:
        if (quota_value(v, true, &m->ss_quota) < 0)
            return fail(why, whylen, "quota.ss '%s': expected a positive size (e.g. 10t) or 'none'", v);
        return 0;
    case K_NAMENODES:
    case K_URIS:
        if (split_list(v, FR_MAX_ADDRS, &items, &cnt, why, whylen) < 0)
            return -1;
        for (size_t i = 0; i < cnt; i++) {
            const char *hp = items[i];
            if (k == K_URIS) {
                if (strncasecmp(hp, "thrift://", 9)) {
                    fail(why, whylen, "'%s': expected thrift://host:port", hp);
                    free_list(items, cnt);
                    return -1;
                }
                hp += 9;
            }
            if (hostport_check(hp, 1, why, whylen) < 0) {
                free_list(items, cnt);
                return -1;
            }
        }
        if (k == K_URIS) {
            free_list(s->uris, s->nuris);
            s->uris = items;
            s->nuris = cnt;
        } else {
            free_list(n->namenodes, n->nnamenodes);
            n->namenodes = items;
            n->nnamenodes = cnt;
        }
        return 0;
    case K_PREFIX:
        if (prefix_check(v, why, whylen) < 0)
            return -1;
        return set_string(&s->prefix, v, FR_NAME_MAX, why, whylen);
    case K_WRITABLE:
    case K_DATABASES: {
        char ***lp = k == K_WRITABLE ? &s->writable : &s->databases;
        size_t *np = k == K_WRITABLE ? &s->nwritable : &s->ndatabases;
        items = NULL;
        cnt = 0;
        if (strcasecmp(v, "none") && split_list(v, 4096, &items, &cnt, why, whylen) < 0)
            return -1;
        if (k == K_DATABASES)
            for (size_t i = 0; i < cnt; i++)
                for (char *q = items[i]; *q; q++)
                    *q = (char)tolower((unsigned char)*q);
        free_list(*lp, *np);
        *lp = items;
        *np = cnt;
        return 0;
    }
    case K_ACCESS:
        if (!strcasecmp(v, "read-only"))
            s->access = MS_READ_ONLY;
        else if (!strcasecmp(v, "read-write"))
            s->access = MS_READ_WRITE;
        else
            return fail(why, whylen, "access '%s': use read-only or read-write", v);
        return 0;
    }
    return fail(why, whylen, "internal: bad key");
}

int record_set(struct record *r, const char *key, const char *value, char *why, size_t whylen)
{
    for (int k = 0; k < K_COUNT; k++)
        if (keys[k].kind == r->kind && !strcmp(keys[k].name, key))
            return set_key(r, k, value, why, whylen);
    fail(why, whylen, "unknown key '%s' in [%s]", key, kind_names[r->kind]);
    return -2;
}

int record_finish(struct record *r, char *why, size_t whylen)
{
    if (r->kind == REC_METASTORE) {
        struct ms_rec *s = &r->u.ms;
        if (!s->prefix) {
            char buf[FR_NAME_MAX + 2];
            size_t i = 0;
            if (!s->primary) {
                for (; s->name[i] && i < FR_NAME_MAX; i++)
                    buf[i] = (char)tolower((unsigned char)s->name[i]);
                buf[i++] = '_';
            }
            buf[i] = '\0';
            /* a name may hold '.' or '-', which a prefix may not: say so */
            if (prefix_check(buf, NULL, 0) < 0)
                return fail(why, whylen, "metastore %s: the default prefix '%s' is not valid; set prefix", s->name,
                            buf);
            if (!(s->prefix = strdup(buf)))
                return fail(why, whylen, "out of memory");
        }
        if (s->access == MS_ACCESS_DEFAULT)
            s->access = s->primary ? MS_READ_WRITE : MS_READ_ONLY;
    }
    return record_validate(r, why, whylen);
}

/* ---- validation ---- */

static bool is_normal(const char *p)
{
    char buf[FR_PATH_MAX + 2];
    size_t n = strlen(p);
    long k = path_normalize(p, n, buf, sizeof buf, NULL);
    return k >= 0 && (size_t)k == n && !memcmp(buf, p, n);
}

int mount_rec_validate(const struct mount_rec *m, char *why, size_t whylen)
{
    if (!m->src || !is_normal(m->src))
        return fail(why, whylen, "mount point '%s' is not a normalised absolute path", m->src ? m->src : "");
    if (m->ndests == 0)
        return fail(why, whylen, "mount %s: destinations is required (ns:/path[, ...])", m->src);
    if (m->ndests > FR_MAX_DESTS)
        return fail(why, whylen, "mount %s: more than %d destinations", m->src, FR_MAX_DESTS);
    for (size_t i = 0; i < m->ndests; i++) {
        const struct remote_loc *d = &m->dests[i];
        if (!d->ns || !name_valid(d->ns))
            return fail(why, whylen, "mount %s: bad nameservice name in destination %zu", m->src, i + 1);
        if (!d->path || !is_normal(d->path))
            return fail(why, whylen, "mount %s: destination %s path is not a normalised absolute path", m->src,
                        d->ns);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(m->dests[j].ns, d->ns) && !strcmp(m->dests[j].path, d->path))
                return fail(why, whylen, "mount %s: destination %s:%s listed twice", m->src, d->ns, d->path);
    }
    if ((unsigned)m->order > ORDER_LEADER_FOLLOWER)
        return fail(why, whylen, "mount %s: bad order", m->src);
    if (m->mode > 01777)
        return fail(why, whylen, "mount %s: mode %o out of range", m->src, m->mode);
    if (m->ns_quota == 0 || m->ns_quota < -1 || m->ss_quota == 0 || m->ss_quota < -1)
        return fail(why, whylen, "mount %s: quotas must be positive or none", m->src);
    return 0;
}

int ns_rec_validate(const struct ns_rec *n, char *why, size_t whylen)
{
    if (!n->name || !name_valid(n->name))
        return fail(why, whylen, "nameservice name '%s' is not valid", n->name ? n->name : "");
    if (n->nnamenodes == 0)
        return fail(why, whylen, "nameservice %s: namenodes is required (host:port[, ...])", n->name);
    if (n->nnamenodes > FR_MAX_NAMENODES)
        return fail(why, whylen, "nameservice %s: more than %d namenodes", n->name, FR_MAX_NAMENODES);
    for (size_t i = 0; i < n->nnamenodes; i++) {
        char w[160];
        if (hostport_check(n->namenodes[i], 1, w, sizeof w) < 0)
            return fail(why, whylen, "nameservice %s: %s", n->name, w);
    }
    return 0;
}

int ms_rec_validate(const struct ms_rec *m, char *why, size_t whylen)
{
    if (!m->name || !name_valid(m->name))
        return fail(why, whylen, "metastore name '%s' is not valid", m->name ? m->name : "");
    if (m->nuris == 0)
        return fail(why, whylen, "metastore %s: uris is required (thrift://host:port[, ...])", m->name);
    if (m->nuris > FR_MAX_ADDRS)
        return fail(why, whylen, "metastore %s: more than %d uris", m->name, FR_MAX_ADDRS);
    for (size_t i = 0; i < m->nuris; i++) {
        char w[160];
        if (strncasecmp(m->uris[i], "thrift://", 9) || hostport_check(m->uris[i] + 9, 1, w, sizeof w) < 0)
            return fail(why, whylen, "metastore %s: bad uri '%s'", m->name, m->uris[i]);
    }
    char w[160];
    if (!m->prefix || prefix_check(m->prefix, w, sizeof w) < 0)
        return fail(why, whylen, "metastore %s: %s", m->name, m->prefix ? w : "prefix not set");
    if (m->access != MS_READ_ONLY && m->access != MS_READ_WRITE)
        return fail(why, whylen, "metastore %s: access not set", m->name);
    return 0;
}

int record_validate(const struct record *r, char *why, size_t whylen)
{
    switch (r->kind) {
    case REC_MOUNT: return mount_rec_validate(&r->u.mount, why, whylen);
    case REC_NAMESERVICE: return ns_rec_validate(&r->u.ns, why, whylen);
    case REC_METASTORE: return ms_rec_validate(&r->u.ms, why, whylen);
    }
    return fail(why, whylen, "unknown record kind");
}

/* ---- free / copy ---- */

void record_free(struct record *r)
{
    switch (r->kind) {
    case REC_MOUNT: {
        struct mount_rec *m = &r->u.mount;
        free(m->src);
        for (size_t i = 0; i < m->ndests; i++) {
            free(m->dests[i].ns);
            free(m->dests[i].path);
        }
        free(m->dests);
        free(m->owner);
        free(m->group);
        break;
    }
    case REC_NAMESERVICE:
        free(r->u.ns.name);
        free(r->u.ns.principal);
        free_list(r->u.ns.namenodes, r->u.ns.nnamenodes);
        break;
    case REC_METASTORE:
        free(r->u.ms.name);
        free_list(r->u.ms.uris, r->u.ms.nuris);
        free_list(r->u.ms.writable, r->u.ms.nwritable);
        free_list(r->u.ms.databases, r->u.ms.ndatabases);
        free(r->u.ms.prefix);
        break;
    }
    int kind = r->kind;
    memset(r, 0, sizeof *r);
    r->kind = (enum rec_kind)kind;
}

static int copy_list(char ***dst, char *const *src, size_t n)
{
    *dst = NULL;
    if (!n)
        return 0;
    if (!(*dst = calloc(n, sizeof **dst)))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!((*dst)[i] = strdup(src[i])))
            return -1;
    return 0;
}

int record_copy(struct record *dst, const struct record *src)
{
    *dst = *src;
    int bad = 0;
    switch (src->kind) {
    case REC_MOUNT: {
        struct mount_rec *d = &dst->u.mount;
        const struct mount_rec *s = &src->u.mount;
        d->src = xstrdup(s->src);
        d->owner = xstrdup(s->owner);
        d->group = xstrdup(s->group);
        d->dests = s->ndests ? calloc(s->ndests, sizeof *d->dests) : NULL;
        bad = !d->src || !d->owner || !d->group || (s->ndests && !d->dests);
        if (d->dests)
            for (size_t i = 0; i < s->ndests; i++)
                if (!(d->dests[i].ns = xstrdup(s->dests[i].ns)) || !(d->dests[i].path = xstrdup(s->dests[i].path)))
                    bad = 1;
        if (!d->dests)
            d->ndests = 0;
        break;
    }
    case REC_NAMESERVICE:
        dst->u.ns.name = xstrdup(src->u.ns.name);
        dst->u.ns.principal = src->u.ns.principal ? strdup(src->u.ns.principal) : NULL;
        bad = !dst->u.ns.name || (src->u.ns.principal && !dst->u.ns.principal) || copy_list(&dst->u.ns.namenodes, src->u.ns.namenodes, src->u.ns.nnamenodes) < 0;
        break;
    case REC_METASTORE:
        dst->u.ms.name = xstrdup(src->u.ms.name);
        dst->u.ms.prefix = src->u.ms.prefix ? strdup(src->u.ms.prefix) : NULL;
        bad = !dst->u.ms.name || (src->u.ms.prefix && !dst->u.ms.prefix) ||
              copy_list(&dst->u.ms.uris, src->u.ms.uris, src->u.ms.nuris) < 0 ||
              copy_list(&dst->u.ms.writable, src->u.ms.writable, src->u.ms.nwritable) < 0 ||
              copy_list(&dst->u.ms.databases, src->u.ms.databases, src->u.ms.ndatabases) < 0;
        break;
    }
    if (bad) {
        record_free(dst);
        return -1;
    }
    return 0;
}

/* ---- canonical text ---- */

struct out {
    char *buf;
    size_t size, len;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->len < o->size ? o->size - o->len : 0;
    int n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n;
}

static void put_list(struct out *o, const char *key, char *const *v, size_t n)
{
    put(o, "%s = ", key);
    for (size_t i = 0; i < n; i++)
        put(o, "%s%s", i ? ", " : "", v[i]);
    put(o, "\n");
}

size_t record_format(const struct record *r, bool all, char *buf, size_t size)
{
    struct out o = {buf, size, 0};
    if (size)
        buf[0] = '\0';
    put(&o, "[%s %s]\n", kind_names[r->kind], record_key(r));
    switch (r->kind) {
    case REC_MOUNT: {
        const struct mount_rec *m = &r->u.mount;
        put(&o, "destinations = ");
        for (size_t i = 0; i < m->ndests; i++)
            put(&o, "%s%s:%s", i ? ", " : "", m->dests[i].ns, m->dests[i].path);
        put(&o, "\n");
        if (all || m->order != ORDER_HASH)
            put(&o, "order = %s\n", mount_order_name(m->order));
        if (all || m->readonly)
            put(&o, "readonly = %s\n", m->readonly ? "true" : "false");
        if (all || m->faulttolerant)
            put(&o, "faulttolerant = %s\n", m->faulttolerant ? "true" : "false");
        if (all || (m->owner && *m->owner))
            put(&o, "owner = %s\n", m->owner ? m->owner : "");
        if (all || (m->group && *m->group))
            put(&o, "group = %s\n", m->group ? m->group : "");
        if (all || m->mode != 0755)
            put(&o, "mode = %04o\n", m->mode);
        if (all || m->ns_quota >= 0)
            m->ns_quota >= 0 ? put(&o, "quota.ns = %lld\n", (long long)m->ns_quota) : put(&o, "quota.ns = none\n");
        if (all || m->ss_quota >= 0)
            m->ss_quota >= 0 ? put(&o, "quota.ss = %lld\n", (long long)m->ss_quota) : put(&o, "quota.ss = none\n");
        break;
    }
    case REC_NAMESERVICE:
        put_list(&o, "namenodes", r->u.ns.namenodes, r->u.ns.nnamenodes);
        if (all || r->u.ns.disabled)
            put(&o, "disabled = %s\n", r->u.ns.disabled ? "true" : "false");
        /* Written only when set, so records stored before the key existed
         * keep their text. */
        if (r->u.ns.principal)
            put(&o, "principal = %s\n", r->u.ns.principal);
        break;
    case REC_METASTORE: {
        const struct ms_rec *s = &r->u.ms;
        put_list(&o, "uris", s->uris, s->nuris);
        /* prefix and access defaults depend on primary: write them whenever they differ from it */
        char def[FR_NAME_MAX + 2];
        size_t i = 0;
        if (!s->primary) {
            for (; s->name && s->name[i] && i < FR_NAME_MAX; i++)
                def[i] = (char)tolower((unsigned char)s->name[i]);
            def[i++] = '_';
        }
        def[i] = '\0';
        if (s->prefix && (all || strcmp(s->prefix, def)))
            put(&o, "prefix = %s\n", s->prefix);
        if (all || s->primary)
            put(&o, "primary = %s\n", s->primary ? "true" : "false");
        bool def_rw = s->primary;
        if (s->access != MS_ACCESS_DEFAULT && (all || (s->access == MS_READ_WRITE) != def_rw))
            put(&o, "access = %s\n", s->access == MS_READ_WRITE ? "read-write" : "read-only");
        if (s->nwritable)
            put_list(&o, "writable", s->writable, s->nwritable);
        else if (all)
            put(&o, "writable = none\n");
        if (s->ndatabases)
            put_list(&o, "databases", s->databases, s->ndatabases);
        else if (all)
            put(&o, "databases = none\n");
        break;
    }
    }
    return o.len;
}

enum ini_kind ini_parse_line(char *line, struct ini_line *out)
{
    memset(out, 0, sizeof *out);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    char *p = line;
    while (isspace((unsigned char)*p))
        p++;
    if (!*p || *p == '#')
        return out->kind = INI_BLANK;
    if (*p == '[') {
        char *rb = strchr(p, ']');
        if (!rb) {
            out->why = "section header without ']'";
            return out->kind = INI_ERROR;
        }
        char *after = rb + 1;
        while (isspace((unsigned char)*after))
            after++;
        if (*after && *after != '#') {
            out->why = "text after the section header";
            return out->kind = INI_ERROR;
        }
        *rb = '\0';
        char *in = trim(p + 1);
        char *sp = in;
        while (*sp && !isspace((unsigned char)*sp))
            sp++;
        if (*sp)
            *sp++ = '\0';
        out->a = in;
        out->b = trim(sp);
        if (!*out->a) {
            out->why = "empty section header";
            return out->kind = INI_ERROR;
        }
        return out->kind = INI_SECTION;
    }
    char *eq = strchr(p, '=');
    if (!eq) {
        out->why = "expected 'key = value' or a [section] header";
        return out->kind = INI_ERROR;
    }
    *eq = '\0';
    out->a = trim(p);
    if (!*out->a) {
        out->why = "missing key before '='";
        return out->kind = INI_ERROR;
    }
    for (char *k = out->a; *k; k++)
        if (isspace((unsigned char)*k)) {
            out->why = "space inside a key";
            return out->kind = INI_ERROR;
        }
    char *v = eq + 1;
    while (isspace((unsigned char)*v))
        v++;
    if (*v == '"') {
        char *q = strchr(v + 1, '"');
        if (!q) {
            out->why = "unterminated quoted value";
            return out->kind = INI_ERROR;
        }
        char *after = q + 1;
        while (isspace((unsigned char)*after))
            after++;
        if (*after && *after != '#') {
            out->why = "text after a quoted value";
            return out->kind = INI_ERROR;
        }
        *q = '\0';
        out->b = v + 1;
        return out->kind = INI_KV;
    }
    for (char *c = v; *c; c++)
        if (*c == '#' && (c == v || isspace((unsigned char)c[-1]))) {
            *c = '\0';
            break;
        }
    out->b = trim(v);
    return out->kind = INI_KV;
}

int record_parse_text(const char *text, size_t len, struct record *out, char *why, size_t whylen)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return fail(why, whylen, "out of memory");
    memcpy(copy, text, len);
    copy[len] = '\0';
    memset(out, 0, sizeof *out);
    bool started = false;
    int lineno = 0, rc = 0;
    char w[256];
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line && rc == 0; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        struct ini_line il;
        switch (ini_parse_line(line, &il)) {
        case INI_BLANK: break;
        case INI_ERROR: rc = fail(why, whylen, "line %d: %s", lineno, il.why); break;
        case INI_SECTION: {
            enum rec_kind k;
            if (started)
                rc = fail(why, whylen, "line %d: a second section in one record", lineno);
            else if (rec_kind_parse(il.a, &k) < 0)
                rc = fail(why, whylen, "line %d: unknown record kind [%s]", lineno, il.a);
            else if (record_init(out, k, il.b, w, sizeof w) < 0)
                rc = fail(why, whylen, "line %d: %s", lineno, w);
            else
                started = true;
            break;
        }
        case INI_KV:
            if (!started)
                rc = fail(why, whylen, "line %d: key before the [kind name] header", lineno);
            else if (record_set(out, il.a, il.b, w, sizeof w) < 0)
                rc = fail(why, whylen, "line %d: %s", lineno, w);
            break;
        }
    }
    free(copy);
    if (rc == 0 && !started)
        rc = fail(why, whylen, "no [kind name] header");
    if (rc == 0 && record_finish(out, w, sizeof w) < 0)
        rc = fail(why, whylen, "%s", w);
    if (rc < 0 && started)
        record_free(out);
    return rc;
}

/* ---- record set ---- */

void recset_init(struct record_set *s)
{
    memset(s, 0, sizeof *s);
}

void recset_free(struct record_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        record_free(&s->recs[i]);
    free(s->recs);
    memset(s, 0, sizeof *s);
}

int recset_add(struct record_set *s, struct record *r)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        struct record *nr = realloc(s->recs, nc * sizeof *nr);
        if (!nr)
            return -1;
        s->recs = nr;
        s->cap = nc;
    }
    s->recs[s->n++] = *r;
    memset(r, 0, sizeof *r);
    return 0;
}

struct record *recset_find(const struct record_set *s, enum rec_kind k, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->recs[i].kind == k && !strcmp(record_key(&s->recs[i]), key))
            return &s->recs[i];
    return NULL;
}

bool recset_remove(struct record_set *s, enum rec_kind k, const char *key)
{
    struct record *r = recset_find(s, k, key);
    if (!r)
        return false;
    record_free(r);
    size_t i = (size_t)(r - s->recs);
    memmove(&s->recs[i], &s->recs[i + 1], (s->n - i - 1) * sizeof *r);
    s->n--;
    return true;
}

static int cmp_rec_ptr(const void *a, const void *b)
{
    const struct record *x = *(const struct record *const *)a, *y = *(const struct record *const *)b;
    if (x->kind != y->kind)
        return (int)x->kind - (int)y->kind;
    int c = strcmp(record_key(x), record_key(y));
    return c ? c : (x < y ? -1 : x > y);
}

static int cmp_key_rec(const void *key, const void *elem)
{
    const struct record *r = *(const struct record *const *)elem;
    if (r->kind != REC_NAMESERVICE)
        return r->kind > REC_NAMESERVICE ? -1 : 1;
    return strcmp((const char *)key, record_key(r));
}

int recset_validate(const struct record_set *s, const char *default_ns, bool strict_refs, recset_report_fn report,
                    void *ctx)
{
    int problems = 0;
    char w[512];
    const struct record **v = malloc((s->n ? s->n : 1) * sizeof *v);
    if (!v) {
        report(ctx, NULL, "out of memory");
        return 1;
    }
    for (size_t i = 0; i < s->n; i++)
        v[i] = &s->recs[i];
    qsort(v, s->n, sizeof *v, cmp_rec_ptr);
    for (size_t i = 1; i < s->n; i++)
        if (v[i]->kind == v[i - 1]->kind && !strcmp(record_key(v[i]), record_key(v[i - 1]))) {
            snprintf(w, sizeof w, "duplicate [%s %s] (first defined at line %d)", kind_names[v[i]->kind],
                     record_key(v[i]), v[i - 1]->line);
            report(ctx, v[i], w);
            problems++;
        }
    const struct record *primary = NULL;
    for (size_t i = 0; i < s->n; i++) {
        const struct record *r = &s->recs[i];
        if (r->kind == REC_METASTORE) {
            if (r->u.ms.primary) {
                if (primary) {
                    snprintf(w, sizeof w, "metastore %s: a second primary (metastore %s is primary)", r->u.ms.name,
                             primary->u.ms.name);
                    report(ctx, r, w);
                    problems++;
                } else {
                    primary = r;
                }
            }
            for (size_t j = 0; j < i; j++) {
                const struct record *q = &s->recs[j];
                if (q->kind == REC_METASTORE && q->u.ms.prefix && r->u.ms.prefix &&
                    !strcmp(q->u.ms.prefix, r->u.ms.prefix) && strcmp(q->u.ms.name, r->u.ms.name)) {
                    snprintf(w, sizeof w, "metastore %s: prefix '%s' is already used by metastore %s", r->u.ms.name,
                             r->u.ms.prefix, q->u.ms.name);
                    report(ctx, r, w);
                    problems++;
                    break;
                }
            }
        }
        if (strict_refs && r->kind == REC_MOUNT)
            for (size_t d = 0; d < r->u.mount.ndests; d++) {
                const char *ns = r->u.mount.dests[d].ns;
                if (!bsearch(ns, v, s->n, sizeof *v, cmp_key_rec)) {
                    snprintf(w, sizeof w, "mount %s: nameservice '%s' is not defined", r->u.mount.src, ns);
                    report(ctx, r, w);
                    problems++;
                    break;
                }
            }
    }
    if (strict_refs && default_ns && *default_ns && !bsearch(default_ns, v, s->n, sizeof *v, cmp_key_rec)) {
        snprintf(w, sizeof w, "default nameservice '%s' is not defined", default_ns);
        report(ctx, NULL, w);
        problems++;
    }
    free(v);
    return problems;
}
