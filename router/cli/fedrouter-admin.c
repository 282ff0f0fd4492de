/*
 * fedrouter-admin: edits the routing records of the store a router
 * configuration names, with the command syntax of Hadoop's
 * `hdfs dfsrouteradmin`.
 *
 * Every change is a compare-and-set on the record's znode version: read the
 * record (and its version), change it, write it back only if nobody changed
 * it meanwhile. A lost race ends with exit code 2 and "conflict: ..." on
 * stderr; run the command again to apply it on top of the other change.
 *
 * Exit codes: 0 done; 1 usage or configuration error; 2 conflict;
 * 3 the operation failed (no such record, invalid record, ZooKeeper
 * unreachable, permission denied...).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "records.h"
#include "snapshot.h"
#include "zkstore.h"

#define EXIT_USAGE 1
#define EXIT_CONFLICT 2
#define EXIT_FAILED 3
#define CONNECT_TIMEOUT_MS 10000

static const char *prog = "fedrouter-admin";

static void usage(FILE *out)
{
    fprintf(out,
            "usage: %s -c FILE <command>\n"
            "  -add <source> <nameservice[,ns...]> <destination> [-readonly [true|false]] [-faulttolerant [true|false]]\n"
            "       [-order HASH|LOCAL|RANDOM|HASH_ALL|SPACE|LEADER_FOLLOWER] [-owner o] [-group g] [-mode 755]\n"
            "       [-nsQuota N] [-ssQuota N[k|m|g|t|p]]\n"
            "  -update <source> [<nameservice[,ns...]> <destination>] [same options as -add]\n"
            "  -rm <source>\n"
            "  -ls [<path>]\n"
            "  -setQuota <path> [-nsQuota N] [-ssQuota N[k|m|g|t|p]]\n"
            "  -clrQuota <path>\n"
            "  -resolve <path>\n"
            "  -safemode enter|leave|get [-router ID]     (default: the [router] id of FILE)\n"
            "  -addNameservice <ns> <host:port>[,host:port...]\n"
            "  -rmNameservice <ns>\n"
            "  -lsNameservices\n"
            "  -disableNameservice <ns>\n"
            "  -enableNameservice <ns>\n"
            "  -getDisabledNameservices\n"
            "  -addMetastore <name> <thrift-uri>[,uri...] [-prefix p] [-primary] [-readwrite]\n"
            "                [-writable pattern[,pattern...]] [-databases db[,db...]]\n"
            "  -rmMetastore <name>\n"
            "  -lsMetastores\n"
            "  -routers\n"
            "exit codes: 0 ok, 1 usage/config error, 2 conflict (someone else changed the record), 3 failed\n",
            prog);
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg ? arg : "");
    fputc('\n', stderr);
    usage(stderr);
    return EXIT_USAGE;
}

/* Maps a store result to an exit code, printing the message. */
static int store_fail(int rc, const char *err)
{
    if (rc == ZKS_CONFLICT) {
        fprintf(stderr, "%s: conflict: %s; nothing written, run the command again\n", prog, err);
        return EXIT_CONFLICT;
    }
    fprintf(stderr, "%s: %s: %s\n", prog, zks_strerror(rc), err);
    return EXIT_FAILED;
}

/* Writes r back with compare-and-set on the version it was read at, and
 * frees it. 0, or the exit status (2 for a conflict) after saying why. */
static int save(struct zks *z, struct record *r, int32_t version)
{
    char err[512];
    int rc = zks_put(z, r, version, NULL, err, sizeof err);
    record_free(r);
    return rc == ZKS_OK ? 0 : store_fail(rc, err);
}

/* ---- mount options ---- */

struct mount_opts {
    const char *readonly, *faulttolerant, *order, *owner, *group, *mode, *nsquota, *ssquota;
};

static bool is_bool_word(const char *s)
{
    bool b;
    return s && parse_bool(s, &b) == 0 && strcmp(s, "1") && strcmp(s, "0");
}

/* Parses the options from argv[i..argc). 0, or an exit code. */
static int parse_mount_opts(int argc, char **argv, int i, struct mount_opts *o)
{
    memset(o, 0, sizeof *o);
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-readonly") || !strcmp(a, "-faulttolerant")) {
            const char *v = "true";
            if (i + 1 < argc && is_bool_word(argv[i + 1]))
                v = argv[++i];
            *(a[1] == 'r' ? &o->readonly : &o->faulttolerant) = v;
        } else if (!strcmp(a, "-order") || !strcmp(a, "-owner") || !strcmp(a, "-group") || !strcmp(a, "-mode") ||
                   !strcmp(a, "-nsQuota") || !strcmp(a, "-ssQuota")) {
            if (i + 1 >= argc)
                return usage_error("%s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "-order"))
                o->order = v;
            else if (!strcmp(a, "-owner"))
                o->owner = v;
            else if (!strcmp(a, "-group"))
                o->group = v;
            else if (!strcmp(a, "-nsQuota"))
                o->nsquota = v;
            else if (!strcmp(a, "-ssQuota"))
                o->ssquota = v;
            else
                o->mode = v;
        } else {
            return usage_error("unknown option or extra argument: %s", a);
        }
    }
    return 0;
}

static int apply_mount_opts(struct record *r, const struct mount_opts *o)
{
    const char *keys[] = {"readonly", "faulttolerant", "order", "owner", "group", "mode", "quota.ns", "quota.ss"};
    const char *vals[] = {o->readonly, o->faulttolerant, o->order, o->owner,
                          o->group,    o->mode,          o->nsquota, o->ssquota};
    char why[256];
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        if (vals[k] && record_set(r, keys[k], vals[k], why, sizeof why) < 0) {
            fprintf(stderr, "%s: %s\n", prog, why);
            return EXIT_USAGE;
        }
    }
    return 0;
}

/* Appends "ns:dest" for every ns of a comma list to buf (skipping pairs
 * already in the record when r != NULL). */
static int add_dests(char *buf, size_t size, const struct record *r, const char *nslist, const char *dest)
{
    char *copy = strdup(nslist), *save = NULL;
    if (!copy)
        return -1;
    for (char *ns = strtok_r(copy, ",", &save); ns; ns = strtok_r(NULL, ",", &save)) {
        while (*ns == ' ')
            ns++;
        bool have = false;
        for (size_t i = 0; r && i < r->u.mount.ndests; i++)
            if (!strcmp(r->u.mount.dests[i].ns, ns) && !strcmp(r->u.mount.dests[i].path, dest))
                have = true;
        if (!have) {
            size_t len = strlen(buf);
            snprintf(buf + len, size - len, "%s%s:%s", len ? ", " : "", ns, dest);
        }
    }
    free(copy);
    return 0;
}

/* ---- commands ---- */

static int cmd_add_update(struct zks *z, int argc, char **argv, bool update)
{
    int i = 1;
    if (argc < 2 || argv[1][0] != '/')
        return usage_error("%s needs an absolute <source> path", argv[0]);
    const char *ns = NULL, *dest = NULL;
    if (argc > 3 && argv[2][0] != '-') {
        ns = argv[2];
        dest = argv[3];
        i = 4;
    } else {
        i = 2;
    }
    if (!update && !ns)
        return usage_error("-add needs <source> <nameservice> <destination>", NULL);
    struct mount_opts o;
    int rc = parse_mount_opts(argc, argv, i, &o);
    if (rc)
        return rc;
    char src[FR_PATH_MAX + 1];
    const char *pwhy;
    if (path_normalize(argv[1], strlen(argv[1]), src, sizeof src, &pwhy) < 0) {
        fprintf(stderr, "%s: source %s: %s\n", prog, argv[1], pwhy);
        return EXIT_USAGE;
    }
    if (dest && dest[0] != '/') {
        fprintf(stderr, "%s: destination must be an absolute path: %s\n", prog, dest);
        return EXIT_USAGE;
    }

    char err[512], why[256];
    struct record r;
    int32_t version = -1;
    rc = zks_get(z, REC_MOUNT, src, &r, &version, err, sizeof err);
    bool exists = rc == ZKS_OK;
    if (rc == ZKS_NOTFOUND && update) {
        fprintf(stderr, "%s: mount point %s does not exist (use -add)\n", prog, src);
        return EXIT_FAILED;
    }
    if (rc != ZKS_OK && rc != ZKS_NOTFOUND)
        return store_fail(rc, err);
    if (!exists) {
        version = -1;
        if (record_init(&r, REC_MOUNT, src, why, sizeof why) < 0) {
            fprintf(stderr, "%s: %s\n", prog, why);
            return EXIT_USAGE;
        }
    }
    size_t dsize = 64 + (FR_PATH_MAX + FR_NAME_MAX + 4) * (size_t)FR_MAX_DESTS;
    char *dests = calloc(1, dsize);
    if (!dests) {
        record_free(&r);
        return EXIT_FAILED;
    }
    if (ns) {
        if (exists && !update) /* -add on an existing entry adds destinations */
            for (size_t d = 0; d < r.u.mount.ndests; d++) {
                size_t len = strlen(dests);
                snprintf(dests + len, dsize - len, "%s%s:%s", len ? ", " : "", r.u.mount.dests[d].ns,
                         r.u.mount.dests[d].path);
            }
        add_dests(dests, dsize, update ? NULL : &r, ns, dest);
        if (*dests && record_set(&r, "destinations", dests, why, sizeof why) < 0) {
            fprintf(stderr, "%s: %s\n", prog, why);
            free(dests);
            record_free(&r);
            return EXIT_USAGE;
        }
    }
    free(dests);
    rc = apply_mount_opts(&r, &o);
    if (!rc && (exists ? record_validate(&r, why, sizeof why) : record_finish(&r, why, sizeof why)) < 0) {
        fprintf(stderr, "%s: %s\n", prog, why);
        rc = EXIT_USAGE;
    }
    if (rc) {
        record_free(&r);
        return rc;
    }
    int prc = save(z, &r, version);
    if (prc != 0)
        return prc;
    printf("Successfully %s mount point %s\n", update ? "updated" : exists ? "added a destination to" : "added", src);
    return 0;
}

static int cmd_rm(struct zks *z, enum rec_kind kind, const char *key)
{
    char err[512];
    struct record r;
    int32_t version = -1;
    char src[FR_PATH_MAX + 1];
    if (kind == REC_MOUNT) {
        const char *pwhy;
        if (path_normalize(key, strlen(key), src, sizeof src, &pwhy) < 0) {
            fprintf(stderr, "%s: %s: %s\n", prog, key, pwhy);
            return EXIT_USAGE;
        }
        key = src;
    }
    int rc = zks_get(z, kind, key, &r, &version, err, sizeof err);
    if (rc == ZKS_OK)
        record_free(&r);
    else if (rc != ZKS_INVALID) /* a broken record can still be removed */
        return store_fail(rc, err);
    rc = zks_delete(z, kind, key, version, err, sizeof err);
    if (rc != ZKS_OK)
        return store_fail(rc, err);
    printf("Successfully removed %s %s\n", kind == REC_MOUNT ? "mount point" : rec_kind_name(kind), key);
    return 0;
}

static int cmd_add_ns(struct zks *z, const char *name, const char *hosts)
{
    char err[512], why[256];
    struct record r;
    int32_t version = -1;
    int rc = zks_get(z, REC_NAMESERVICE, name, &r, &version, err, sizeof err);
    if (rc == ZKS_NOTFOUND || rc == ZKS_INVALID) {
        if (rc == ZKS_NOTFOUND)
            version = -1;
        if (record_init(&r, REC_NAMESERVICE, name, why, sizeof why) < 0) {
            fprintf(stderr, "%s: %s\n", prog, why);
            return EXIT_USAGE;
        }
    } else if (rc != ZKS_OK) {
        return store_fail(rc, err);
    }
    if (record_set(&r, "namenodes", hosts, why, sizeof why) < 0 || record_finish(&r, why, sizeof why) < 0) {
        fprintf(stderr, "%s: %s\n", prog, why);
        record_free(&r);
        return EXIT_USAGE;
    }
    if ((rc = save(z, &r, version)) != 0)
        return rc;
    printf("Successfully %s nameservice %s\n", version < 0 ? "added" : "updated", name);
    return 0;
}

static int cmd_add_ms(struct zks *z, int argc, char **argv)
{
    if (argc < 3)
        return usage_error("-addMetastore needs <name> <thrift-uri>", NULL);
    const char *name = argv[1];
    char err[512], why[256];
    struct record r;
    if (record_init(&r, REC_METASTORE, name, why, sizeof why) < 0) {
        fprintf(stderr, "%s: %s\n", prog, why);
        return EXIT_USAGE;
    }
    int rc = record_set(&r, "uris", argv[2], why, sizeof why) < 0 ? EXIT_USAGE : 0;
    for (int i = 3; i < argc && !rc; i++) {
        if (!strcmp(argv[i], "-prefix") && i + 1 < argc)
            rc = record_set(&r, "prefix", argv[++i], why, sizeof why) < 0 ? EXIT_USAGE : 0;
        else if (!strcmp(argv[i], "-primary"))
            rc = record_set(&r, "primary", "true", why, sizeof why) < 0 ? EXIT_USAGE : 0;
        else if (!strcmp(argv[i], "-readwrite"))
            rc = record_set(&r, "access", "read-write", why, sizeof why) < 0 ? EXIT_USAGE : 0;
        else if (!strcmp(argv[i], "-writable") && i + 1 < argc)
            rc = record_set(&r, "writable", argv[++i], why, sizeof why) < 0 ? EXIT_USAGE : 0;
        else if (!strcmp(argv[i], "-databases") && i + 1 < argc)
            rc = record_set(&r, "databases", argv[++i], why, sizeof why) < 0 ? EXIT_USAGE : 0;
        else {
            record_free(&r);
            return usage_error("unknown option or extra argument: %s", argv[i]);
        }
    }
    if (!rc && record_finish(&r, why, sizeof why) < 0)
        rc = EXIT_USAGE;
    if (rc) {
        fprintf(stderr, "%s: %s\n", prog, why);
        record_free(&r);
        return rc;
    }
    struct record old;
    int32_t version = -1;
    rc = zks_get(z, REC_METASTORE, name, &old, &version, err, sizeof err);
    if (rc == ZKS_OK)
        record_free(&old);
    else if (rc == ZKS_NOTFOUND)
        version = -1;
    else if (rc != ZKS_INVALID) {
        record_free(&r);
        return store_fail(rc, err);
    }
    if ((rc = save(z, &r, version)) != 0)
        return rc;
    printf("Successfully %s metastore %s\n", version < 0 ? "added" : "updated", name);
    return 0;
}

/* Reads a mount entry for a change (normalising the path): 0, or an exit code. */
static int get_mount(struct zks *z, const char *path, char *src, size_t srcsz, struct record *r, int32_t *version)
{
    const char *pwhy;
    if (path_normalize(path, strlen(path), src, srcsz, &pwhy) < 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, pwhy);
        return EXIT_USAGE;
    }
    char err[512];
    int rc = zks_get(z, REC_MOUNT, src, r, version, err, sizeof err);
    if (rc == ZKS_NOTFOUND) {
        fprintf(stderr, "%s: mount point %s does not exist\n", prog, src);
        return EXIT_FAILED;
    }
    return rc == ZKS_OK ? 0 : store_fail(rc, err);
}

/* -setQuota <path> [-nsQuota N] [-ssQuota N] and -clrQuota <path>: a quota
 * not named keeps its value. */
static int cmd_quota(struct zks *z, int argc, char **argv, bool clear)
{
    const char *nsq = NULL, *ssq = NULL;
    if (argc < 2 || argv[1][0] == '-')
        return usage_error("%s needs a <path>", argv[0]);
    if (clear) {
        if (argc != 2)
            return usage_error("%s takes only a <path>", argv[0]);
        nsq = ssq = "none";
    } else {
        for (int i = 2; i < argc; i++) {
            if ((!strcmp(argv[i], "-nsQuota") || !strcmp(argv[i], "-ssQuota")) && i + 1 < argc) {
                *(argv[i][1] == 'n' ? &nsq : &ssq) = argv[i + 1];
                i++;
            } else {
                return usage_error("-setQuota: unknown option or missing value: %s", argv[i]);
            }
        }
        if (!nsq && !ssq)
            return usage_error("-setQuota needs -nsQuota and/or -ssQuota%s", NULL);
    }
    char src[FR_PATH_MAX + 1], why[256];
    struct record r;
    int32_t version;
    int rc = get_mount(z, argv[1], src, sizeof src, &r, &version);
    if (rc)
        return rc;
    if ((nsq && record_set(&r, "quota.ns", nsq, why, sizeof why) < 0) ||
        (ssq && record_set(&r, "quota.ss", ssq, why, sizeof why) < 0)) {
        fprintf(stderr, "%s: %s\n", prog, why);
        record_free(&r);
        return EXIT_USAGE;
    }
    if ((rc = save(z, &r, version)) != 0)
        return rc;
    printf("Successfully %s quota for mount point %s\n", clear ? "cleared" : "set", src);
    return 0;
}

/* -disableNameservice / -enableNameservice <ns>. */
static int cmd_ns_disable(struct zks *z, const char *name, bool disable)
{
    char err[512], why[256];
    struct record r;
    int32_t version;
    int rc = zks_get(z, REC_NAMESERVICE, name, &r, &version, err, sizeof err);
    if (rc != ZKS_OK)
        return store_fail(rc, err);
    if (r.u.ns.disabled == disable) {
        printf("Nameservice %s is already %s\n", name, disable ? "disabled" : "enabled");
        record_free(&r);
        return 0;
    }
    if (record_set(&r, "disabled", disable ? "true" : "false", why, sizeof why) < 0) {
        fprintf(stderr, "%s: %s\n", prog, why);
        record_free(&r);
        return EXIT_FAILED;
    }
    if ((rc = save(z, &r, version)) != 0)
        return rc;
    printf("Successfully %s nameservice %s\n", disable ? "disabled" : "enabled", name);
    return 0;
}

/* -safemode enter|leave|get [-router ID] */
static int cmd_safemode(struct zks *z, const struct config *c, int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "enter") && strcmp(argv[1], "leave") && strcmp(argv[1], "get")))
        return usage_error("-safemode needs enter, leave or get%s", NULL);
    const char *id = c->router.id;
    if (argc == 4 && !strcmp(argv[2], "-router"))
        id = argv[3];
    else if (argc != 2)
        return usage_error("-safemode %s: expected at most -router ID", argv[1]);
    if (!id || !*id) {
        fprintf(stderr, "%s: no router id: name one with -router ID\n", prog);
        return EXIT_USAGE;
    }
    char err[512];
    int rc;
    if (!strcmp(argv[1], "get")) {
        bool on = false;
        rc = zks_safemode_get(z, id, &on, err, sizeof err);
        if (rc != ZKS_OK)
            return rc == ZKS_INVALID ? (fprintf(stderr, "%s: %s\n", prog, err), EXIT_USAGE) : store_fail(rc, err);
        printf("Safe Mode: %s\n", on ? "ON" : "OFF");
        return 0;
    }
    bool enter = !strcmp(argv[1], "enter");
    rc = zks_safemode_set(z, id, enter, err, sizeof err);
    if (rc != ZKS_OK)
        return rc == ZKS_INVALID ? (fprintf(stderr, "%s: %s\n", prog, err), EXIT_USAGE) : store_fail(rc, err);
    printf("Successfully %s safe mode (router %s)\n", enter ? "entered" : "left", id);
    return 0;
}

/* ---- listings ---- */

static int cmp_rec(const void *a, const void *b)
{
    const struct record *x = *(const struct record *const *)a, *y = *(const struct record *const *)b;
    return strcmp(record_key(x), record_key(y));
}

/* The records of one kind, sorted by key (pointers into set). */
static const struct record **sorted(const struct record_set *set, enum rec_kind kind, size_t *n)
{
    const struct record **v = calloc(set->n ? set->n : 1, sizeof *v);
    *n = 0;
    if (!v)
        return NULL;
    for (size_t i = 0; i < set->n; i++)
        if (set->recs[i].kind == kind)
            v[(*n)++] = &set->recs[i];
    qsort(v, *n, sizeof *v, cmp_rec);
    return v;
}

static bool under(const char *src, const char *path)
{
    size_t n = strlen(path);
    if (!strcmp(path, "/"))
        return true;
    return !strncmp(src, path, n) && (src[n] == '\0' || src[n] == '/');
}

static int load_all(struct zks *z, struct record_set *set)
{
    if (zks_wait_ready(z, CONNECT_TIMEOUT_MS) != ZKS_OK || zks_current(z, set, NULL) != ZKS_OK) {
        fprintf(stderr, "%s: cannot read the records from ZooKeeper\n", prog);
        return EXIT_FAILED;
    }
    struct zks_status st;
    zks_status(z, &st);
    if (st.skipped_now) {
        fprintf(stderr, "%s: warning: %zu znode(s) skipped as invalid:\n", prog, st.skipped_now);
        for (int i = 0; i < st.nreasons && (size_t)i < st.skipped_now; i++)
            fprintf(stderr, "  %s\n", st.reasons[i]);
    }
    return 0;
}

static int cmd_ls(struct zks *z, enum rec_kind kind, const char *path)
{
    char norm[FR_PATH_MAX + 1];
    if (path) {
        const char *pwhy;
        if (path_normalize(path, strlen(path), norm, sizeof norm, &pwhy) < 0) {
            fprintf(stderr, "%s: %s: %s\n", prog, path, pwhy);
            return EXIT_USAGE;
        }
        path = norm;
    }
    struct record_set set;
    int rc = load_all(z, &set);
    if (rc)
        return rc;
    size_t n;
    const struct record **v = sorted(&set, kind, &n);
    if (kind == REC_MOUNT) {
        printf("%-24s %-32s %-9s %-14s %-10s %-10s %-5s %s\n", "Source", "Destinations", "Order", "Flags", "Owner",
               "Group", "Mode", "Quota");
        for (size_t i = 0; v && i < n; i++) {
            const struct mount_rec *m = &v[i]->u.mount;
            if (path && !under(m->src, path))
                continue;
            char d[1024] = "";
            for (size_t k = 0; k < m->ndests; k++) {
                size_t len = strlen(d);
                snprintf(d + len, sizeof d - len, "%s%s->%s", k ? "," : "", m->dests[k].ns, m->dests[k].path);
            }
            char flags[32];
            snprintf(flags, sizeof flags, "%s%s%s", m->readonly ? "readonly" : "",
                     m->readonly && m->faulttolerant ? "," : "", m->faulttolerant ? "faulttolerant" : "");
            char quota[64] = "-", nsq[24] = "-", ssq[24] = "-";
            if (m->ns_quota >= 0)
                snprintf(nsq, sizeof nsq, "%lld", (long long)m->ns_quota);
            if (m->ss_quota >= 0)
                snprintf(ssq, sizeof ssq, "%lld", (long long)m->ss_quota);
            if (m->ns_quota >= 0 || m->ss_quota >= 0)
                snprintf(quota, sizeof quota, "ns=%s,ss=%s", nsq, ssq);
            printf("%-24s %-32s %-9s %-14s %-10s %-10s %04o  %s\n", m->src, d, mount_order_name(m->order),
                   *flags ? flags : "-", *m->owner ? m->owner : "-", *m->group ? m->group : "-", m->mode, quota);
        }
    } else if (kind == REC_NAMESERVICE) {
        printf("%-20s %-8s %s\n", "Nameservice", "State", "NameNodes");
        for (size_t i = 0; v && i < n; i++) {
            const struct ns_rec *s = &v[i]->u.ns;
            printf("%-20s %-8s ", s->name, s->disabled ? "disabled" : "enabled");
            for (size_t k = 0; k < s->nnamenodes; k++)
                printf("%s%s", k ? "," : "", s->namenodes[k]);
            printf("\n");
        }
    } else {
        printf("%-20s %-16s %-8s %-11s %-20s %s\n", "Metastore", "Prefix", "Primary", "Access", "Writable", "URIs");
        for (size_t i = 0; v && i < n; i++) {
            const struct ms_rec *s = &v[i]->u.ms;
            char w[256] = "-";
            size_t wl = 0;
            for (size_t k = 0; k < s->nwritable && wl < sizeof w; k++)
                wl += (size_t)snprintf(w + wl, sizeof w - wl, "%s%s", k ? "," : "", s->writable[k]);
            printf("%-20s %-16s %-8s %-11s %-20s ", s->name, *s->prefix ? s->prefix : "-", s->primary ? "yes" : "no",
                   s->access == MS_READ_WRITE ? "read-write" : "read-only", w);
            for (size_t k = 0; k < s->nuris; k++)
                printf("%s%s", k ? "," : "", s->uris[k]);
            printf("\n");
            if (s->ndatabases) {
                printf("    databases (hms.mode = manual):");
                for (size_t k = 0; k < s->ndatabases; k++)
                    printf(" %s", s->databases[k]);
                printf("\n");
            }
        }
        /* MANUAL mode: a database two lists name is served by the first by name. */
        for (size_t i = 0; v && i < n; i++)
            for (size_t k = 0; k < v[i]->u.ms.ndatabases; k++)
                for (size_t j = i + 1; j < n; j++)
                    for (size_t l = 0; l < v[j]->u.ms.ndatabases; l++)
                        if (!strcasecmp(v[i]->u.ms.databases[k], v[j]->u.ms.databases[l]))
                            printf("clash: %s and %s both map database %s; %s serves it\n", v[i]->u.ms.name,
                                   v[j]->u.ms.name, v[i]->u.ms.databases[k], v[i]->u.ms.name);
    }
    free(v);
    recset_free(&set);
    return 0;
}

static int cmd_disabled_ns(struct zks *z)
{
    struct record_set set;
    int rc = load_all(z, &set);
    if (rc)
        return rc;
    size_t n;
    const struct record **v = sorted(&set, REC_NAMESERVICE, &n);
    printf("List of disabled nameservices:\n");
    for (size_t i = 0; v && i < n; i++)
        if (v[i]->u.ns.disabled)
            printf("%s\n", v[i]->u.ns.name);
    free(v);
    recset_free(&set);
    return 0;
}

static void skip_note(void *ctx, const struct record *r, const char *why)
{
    fprintf(stderr, "%s: warning: %s %s left out: %s\n", prog, rec_kind_name(r->kind), record_key(r), why);
}

/* -resolve <path>: where the router would send the path with the current
 * table (and the default nameservice of FILE). The first destination, then
 * the others in the order a retry would take them. */
static int cmd_resolve(struct zks *z, const struct config *c, const char *path)
{
    char norm[FR_PATH_MAX + 1];
    const char *pwhy;
    if (path_normalize(path, strlen(path), norm, sizeof norm, &pwhy) < 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, pwhy);
        return EXIT_USAGE;
    }
    struct record_set set;
    int rc = load_all(z, &set);
    if (rc)
        return rc;
    struct snap_params params = {.default_ns = c->router.default_ns, .on_skip = skip_note};
    struct snapshot *s = snapshot_build(&set, &params, NULL);
    recset_free(&set);
    size_t bufsz = 2 * (size_t)FR_PATH_MAX + 2;
    char *buf = malloc(bufsz), *other = malloc(bufsz);
    if (!s || !buf || !other) {
        fprintf(stderr, "%s: out of memory\n", prog);
        snapshot_release(s);
        free(buf);
        free(other);
        return EXIT_FAILED;
    }
    struct resolve_result res;
    int r = snapshot_resolve(s, norm, strlen(norm), NULL, &res, buf, bufsz);
    if (r != RES_OK) {
        printf("%s -> none: %s\n", norm, res.why ? res.why : resolve_strerror(r));
        rc = EXIT_FAILED;
    } else {
        printf("%s -> %s:%s\n", norm, res.ns->name, res.path);
        if (res.flags & RES_DEFAULT_NS)
            printf("  (no mount point: the default nameservice)\n");
        else
            printf("  (mount point %s, order %s%s)\n", res.mount->src, mount_order_name(res.mount->order),
                   res.mount->readonly ? ", read-only" : "");
        for (int k = 1; res.mount; k++) {
            int d = resolve_dest_at(&res, k);
            if (d < 0)
                break;
            if (resolve_dest_path(&res, d, other, bufsz) >= 0)
                printf("  then %s:%s\n", res.mount->dests[d].ns->name, other);
        }
        if (!res.ns->defined)
            fprintf(stderr, "%s: warning: nameservice %s is not defined\n", prog, res.ns->name);
    }
    free(buf);
    free(other);
    snapshot_release(s);
    return rc;
}

static int cmd_routers(struct zks *z)
{
    struct zks_router *v;
    size_t n;
    char err[512];
    int rc = zks_list_routers(z, &v, &n, err, sizeof err);
    if (rc != ZKS_OK)
        return store_fail(rc, err);
    printf("%-16s %-22s %-22s %-22s %-10s %-20s %s\n", "Router", "HDFS", "HMS", "Admin", "Version", "Started",
           "Snapshot");
    for (size_t i = 0; i < n; i++) {
        char when[32] = "-";
        time_t t = (time_t)(v[i].start_ms / 1000);
        struct tm tm;
        if (v[i].start_ms > 0 && gmtime_r(&t, &tm))
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        printf("%-16s %-22s %-22s %-22s %-10s %-20s %llu\n", v[i].id, *v[i].hdfs ? v[i].hdfs : "-",
               *v[i].hms ? v[i].hms : "-", *v[i].admin ? v[i].admin : "-", *v[i].version ? v[i].version : "-", when,
               (unsigned long long)v[i].snapshot);
    }
    free(v);
    return 0;
}

/* ---- main ---- */

static int run(struct zks *z, const struct config *c, int argc, char **argv)
{
    const char *cmd = argv[0];
#define NEED(k, what)                                                                                              \
    do {                                                                                                           \
        if (argc != (k))                                                                                           \
            return usage_error("%s " what, cmd);                                                                   \
    } while (0)
    if (!strcmp(cmd, "-add"))
        return cmd_add_update(z, argc, argv, false);
    if (!strcmp(cmd, "-update"))
        return cmd_add_update(z, argc, argv, true);
    if (!strcmp(cmd, "-rm")) {
        NEED(2, "needs <source>");
        return cmd_rm(z, REC_MOUNT, argv[1]);
    }
    if (!strcmp(cmd, "-ls")) {
        if (argc > 2)
            return usage_error("%s takes at most one <path>", cmd);
        return cmd_ls(z, REC_MOUNT, argc == 2 ? argv[1] : NULL);
    }
    if (!strcmp(cmd, "-setQuota"))
        return cmd_quota(z, argc, argv, false);
    if (!strcmp(cmd, "-clrQuota"))
        return cmd_quota(z, argc, argv, true);
    if (!strcmp(cmd, "-resolve")) {
        NEED(2, "needs <path>");
        return cmd_resolve(z, c, argv[1]);
    }
    if (!strcmp(cmd, "-safemode"))
        return cmd_safemode(z, c, argc, argv);
    if (!strcmp(cmd, "-disableNameservice") || !strcmp(cmd, "-enableNameservice")) {
        NEED(2, "needs <ns>");
        return cmd_ns_disable(z, argv[1], cmd[1] == 'd');
    }
    if (!strcmp(cmd, "-getDisabledNameservices")) {
        NEED(1, "takes no arguments");
        return cmd_disabled_ns(z);
    }
    if (!strcmp(cmd, "-addNameservice")) {
        NEED(3, "needs <ns> <host:port>[,...]");
        return cmd_add_ns(z, argv[1], argv[2]);
    }
    if (!strcmp(cmd, "-rmNameservice")) {
        NEED(2, "needs <ns>");
        return cmd_rm(z, REC_NAMESERVICE, argv[1]);
    }
    if (!strcmp(cmd, "-lsNameservices")) {
        NEED(1, "takes no arguments");
        return cmd_ls(z, REC_NAMESERVICE, NULL);
    }
    if (!strcmp(cmd, "-addMetastore"))
        return cmd_add_ms(z, argc, argv);
    if (!strcmp(cmd, "-rmMetastore")) {
        NEED(2, "needs <name>");
        return cmd_rm(z, REC_METASTORE, argv[1]);
    }
    if (!strcmp(cmd, "-lsMetastores")) {
        NEED(1, "takes no arguments");
        return cmd_ls(z, REC_METASTORE, NULL);
    }
    if (!strcmp(cmd, "-routers")) {
        NEED(1, "takes no arguments");
        return cmd_routers(z);
    }
#undef NEED
    return usage_error("unknown command: %s", cmd);
}

static bool known_command(const char *c)
{
    static const char *const cmds[] = {"-add", "-update", "-rm", "-ls", "-addNameservice", "-rmNameservice",
                                       "-lsNameservices", "-addMetastore", "-rmMetastore", "-lsMetastores",
                                       "-routers", "-setQuota", "-clrQuota", "-resolve", "-safemode",
                                       "-disableNameservice", "-enableNameservice", "-getDisabledNameservices"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(c, cmds[i]))
            return true;
    return false;
}

int main(int argc, char **argv)
{
    const char *cfgpath = NULL;
    int i = 1;
    if (i < argc && (!strcmp(argv[i], "-h") || !strcmp(argv[i], "-help") || !strcmp(argv[i], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (i + 1 < argc && (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config"))) {
        cfgpath = argv[i + 1];
        i += 2;
    }
    if (!cfgpath)
        return usage_error("-c FILE is required%s", NULL);
    if (i >= argc)
        return usage_error("no command given%s", NULL);
    if (!known_command(argv[i]))
        return usage_error("unknown command: %s", argv[i]);

    struct config c;
    struct cfg_error cerr;
    memset(&cerr, 0, sizeof cerr);
    if (config_load(cfgpath, &c, &cerr) < 0) {
        cfg_error_print(&cerr, stderr);
        return EXIT_USAGE;
    }
    if (c.store.driver != STORE_ZOOKEEPER) {
        fprintf(stderr, "%s: fedrouter-admin edits the zookeeper store; edit %s for driver = file\n", prog, cfgpath);
        config_free(&c);
        return EXIT_USAGE;
    }
    char err[512];
    struct zks *z = zks_open(c.store.zk_hosts, c.store.zk_root, c.store.zk_session_timeout_ms, c.store.zk_auth_file,
                             NULL, NULL, err, sizeof err);
    if (!z) {
        fprintf(stderr, "%s: %s\n", prog, err);
        config_free(&c);
        return EXIT_FAILED;
    }
    int rc;
    if (zks_wait_connected(z, CONNECT_TIMEOUT_MS) != ZKS_OK) {
        fprintf(stderr, "%s: cannot connect to ZooKeeper at %s\n", prog, c.store.zk_hosts);
        rc = EXIT_FAILED;
    } else {
        rc = run(z, &c, argc - i, argv + i);
    }
    zks_close(z);
    config_free(&c);
    return rc;
}
