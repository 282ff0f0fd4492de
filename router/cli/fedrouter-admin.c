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

#include "admin.h"
#include "snapshot.h"

const char *prog = "fedrouter-admin";

static void usage(FILE *out)
{
    fprintf(out,
            "usage: %s -c FILE <command>     (-config FILE is the same; FILE is the router's config)\n"
            "mount table (RBF's hdfs dfsrouteradmin syntax):\n"
            "  -add <source> <nameservice[,ns...]> <destination> [-readonly [true|false]] [-faulttolerant [true|false]]\n"
            "       [-order HASH|LOCAL|RANDOM|HASH_ALL|SPACE|LEADER_FOLLOWER] [-owner o] [-group g] [-mode 755]\n"
            "       [-nsQuota N] [-ssQuota N[k|m|g|t|p]] [-noCreate]\n"
            "       creates missing destination directories on their subclusters (owner, group, mode of the\n"
            "       entry) unless -noCreate; on an existing entry it adds the destinations\n"
            "  -update <source> [<nameservice[,ns...]> <destination>] [same options as -add, but -noCreate]\n"
            "  -rm <source>\n"
            "  -ls [-d] [<path>]                          -d: owner, group, mode, quotas, order, flags as RBF prints\n"
            "  -setQuota <path> [-nsQuota N] [-ssQuota N[k|m|g|t|p]]\n"
            "  -clrQuota <path>\n"
            "  -safemode enter|leave|get [-router ID]     (default: the [router] id of FILE)\n"
            "  -nameservice enable|disable <ns>           (also -enableNameservice <ns>, -disableNameservice <ns>)\n"
            "  -getDisabledNameservices\n"
            "  -refresh                                   every router re-reads the statestore now (file: touches FILE)\n"
            "nameservices and metastores:\n"
            "  -addNameservice <ns> <host:port>[,host:port...]\n"
            "  -rmNameservice <ns>\n"
            "  -lsNameservices\n"
            "  -addMetastore <name> <thrift-uri>[,uri...] [-prefix p] [-primary] [-readwrite]\n"
            "                [-writable pattern[,pattern...]] [-databases db[,db...]]\n"
            "  -rmMetastore <name>\n"
            "  -lsMetastores\n"
            "the whole table:\n"
            "  -export <file>                             every record as the router's INI sections (- = stdout)\n"
            "  -import <file> [-dryRun]                   make the store hold exactly the records of <file>;\n"
            "                                             -dryRun prints the add/update/remove lines only\n"
            "  -resolve <path>\n"
            "  -routers\n"
            "with driver = file, -ls, -resolve, -lsNameservices, -lsMetastores, -getDisabledNameservices, -export\n"
            "and -refresh work on FILE itself; the commands that write need driver = zookeeper.\n"
            "exit codes: 0 ok, 1 usage/config error or refused input, 2 conflict (someone else changed the record),\n"
            "3 failed\n",
            prog);
}

int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg ? arg : "");
    fputc('\n', stderr);
    usage(stderr);
    return EXIT_USAGE;
}

int store_fail(int rc, const char *err)
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
    bool nocreate;              /* -add: leave the destination directories alone */
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
        } else if (!strcmp(a, "-noCreate")) {
            o->nocreate = true;
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
    enum mount_order ord;
    if (o->order && mount_order_parse(o->order, &ord) < 0) {
        fprintf(stderr, "%s: unknown order %s (HASH, LOCAL, RANDOM, HASH_ALL, SPACE or LEADER_FOLLOWER)\n", prog,
                o->order);
        return EXIT_USAGE;
    }
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        if (vals[k] && record_set(r, keys[k], vals[k], why, sizeof why) < 0) {
            fprintf(stderr, "%s: %s\n", prog, why);
            return EXIT_USAGE;
        }
    }
    return 0;
}

/*
 * Checks the nameservices of a comma list and appends "ns:dest" for each to
 * buf. Refused, with one line: a nameservice the store does not define, one
 * named twice, or (r != NULL: -add on an existing entry) a destination the
 * entry already has. The nameservice records read go into nss (for -add's
 * directories). 0, or an exit code.
 */
static int add_dests(struct zks *z, char *buf, size_t size, const struct record *r, const char *nslist,
                     const char *dest, struct record_set *nss)
{
    char *copy = strdup(nslist), *save = NULL;
    if (!copy)
        return EXIT_FAILED;
    int rc = 0;
    for (char *ns = strtok_r(copy, ",", &save); ns && !rc; ns = strtok_r(NULL, ",", &save)) {
        while (*ns == ' ')
            ns++;
        for (size_t i = 0; r && i < r->u.mount.ndests; i++)
            if (!strcmp(r->u.mount.dests[i].ns, ns) && !strcmp(r->u.mount.dests[i].path, dest)) {
                fprintf(stderr, "%s: mount point %s already has the destination %s:%s\n", prog,
                        r->u.mount.src, ns, dest);
                rc = EXIT_USAGE;
            }
        if (!rc && recset_find(nss, REC_NAMESERVICE, ns)) {
            fprintf(stderr, "%s: nameservice %s is named twice\n", prog, ns);
            rc = EXIT_USAGE;
        }
        if (rc)
            break;
        char err[512];
        struct record nr;
        int g = zks_get(z, REC_NAMESERVICE, ns, &nr, NULL, err, sizeof err);
        if (g == ZKS_NOTFOUND) {
            fprintf(stderr, "%s: unknown nameservice %s (add it first: -addNameservice %s <host:port>)\n", prog, ns,
                    ns);
            rc = EXIT_USAGE;
        } else if (g != ZKS_OK) {
            rc = store_fail(g, err);
        } else if (recset_add(nss, &nr) < 0) {
            record_free(&nr);
            rc = EXIT_FAILED;
        } else {
            size_t len = strlen(buf);
            snprintf(buf + len, size - len, "%s%s:%s", len ? ", " : "", ns, dest);
        }
    }
    free(copy);
    return rc;
}

/* ---- commands ---- */

static int cmd_add_update(struct zks *z, int argc, char **argv, bool update)
{
    int i = 1;
    if (argc < 2 || argv[1][0] == '-')
        return usage_error("%s needs <source>", argv[0]);
    if (argv[1][0] != '/') {
        fprintf(stderr, "%s: mount source must be an absolute path: %s\n", prog, argv[1]);
        return EXIT_USAGE;
    }
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
    if (update && o.nocreate)
        return usage_error("-noCreate goes with -add only%s", NULL);
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
    struct record_set nss; /* the nameservices named, as read */
    recset_init(&nss);
    struct record added; /* -add: the destinations new to the entry, for their directories */
    bool have_added = false;
    if (ns) {
        if (exists && !update) /* -add on an existing entry adds destinations */
            for (size_t d = 0; d < r.u.mount.ndests; d++) {
                size_t len = strlen(dests);
                snprintf(dests + len, dsize - len, "%s%s:%s", len ? ", " : "", r.u.mount.dests[d].ns,
                         r.u.mount.dests[d].path);
            }
        size_t old_len = strlen(dests);
        rc = add_dests(z, dests, dsize, update ? NULL : &r, ns, dest, &nss);
        if (!rc && !update && record_init(&added, REC_MOUNT, src, why, sizeof why) == 0) {
            have_added = true;
            if (record_set(&added, "destinations", dests + old_len + (old_len ? 2 : 0), why, sizeof why) < 0) {
                fprintf(stderr, "%s: %s\n", prog, why);
                rc = EXIT_USAGE;
            }
        }
        if (!rc && *dests && record_set(&r, "destinations", dests, why, sizeof why) < 0) {
            fprintf(stderr, "%s: %s\n", prog, why);
            rc = EXIT_USAGE;
        }
    }
    free(dests);
    if (!rc)
        rc = apply_mount_opts(&r, &o);
    if (!rc && (exists ? record_validate(&r, why, sizeof why) : record_finish(&r, why, sizeof why)) < 0) {
        fprintf(stderr, "%s: %s\n", prog, why);
        rc = EXIT_USAGE;
    }
    /* -add: the destination directories, before the entry is written, so
     * that clients never see a mount point they cannot write into */
    if (!rc && have_added && !o.nocreate) {
        struct mount_rec *am = &added.u.mount;
        const struct mount_rec *m = &r.u.mount;
        free(am->owner);
        free(am->group);
        am->owner = strdup(m->owner);
        am->group = strdup(m->group);
        am->mode = m->mode;
        if (!am->owner || !am->group)
            rc = EXIT_FAILED;
        else
            rc = mkdirs_for_mount(am, &nss);
    }
    if (have_added)
        record_free(&added);
    recset_free(&nss);
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

/* ---- main ---- */

/* -nameservice enable|disable <ns> (RBF's spelling). */
static int cmd_nameservice(struct zks *z, int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "enable") && strcmp(argv[1], "disable")))
        return usage_error("-nameservice needs enable|disable <ns>%s", NULL);
    return cmd_ns_disable(z, argv[2], argv[1][0] == 'd');
}

/* Commands that only read run with either driver. */
static bool read_only(const char *cmd)
{
    static const char *const ro[] = {"-ls", "-lsNameservices", "-lsMetastores", "-resolve",
                                     "-getDisabledNameservices", "-export", "-refresh", "-routers"};
    for (size_t i = 0; i < sizeof ro / sizeof ro[0]; i++)
        if (!strcmp(cmd, ro[i]))
            return true;
    return false;
}

static int run(const struct admin *ad, int argc, char **argv)
{
    const char *cmd = argv[0];
    struct zks *z = ad->z;
#define NEED(k, what)                                                                                              \
    do {                                                                                                           \
        if (argc != (k))                                                                                           \
            return usage_error("%s " what, cmd);                                                                   \
    } while (0)
    if (!strcmp(cmd, "-ls"))
        return cmd_ls(ad, REC_MOUNT, argc, argv);
    if (!strcmp(cmd, "-lsNameservices"))
        return cmd_ls(ad, REC_NAMESERVICE, argc, argv);
    if (!strcmp(cmd, "-lsMetastores"))
        return cmd_ls(ad, REC_METASTORE, argc, argv);
    if (!strcmp(cmd, "-resolve")) {
        NEED(2, "needs <path>");
        return cmd_resolve(ad, argv[1]);
    }
    if (!strcmp(cmd, "-getDisabledNameservices")) {
        NEED(1, "takes no arguments");
        return cmd_disabled_ns(ad);
    }
    if (!strcmp(cmd, "-export"))
        return cmd_export(ad, argc, argv);
    if (!strcmp(cmd, "-import"))
        return cmd_import(ad, argc, argv);
    if (!strcmp(cmd, "-refresh"))
        return cmd_refresh(ad, argc, argv);
    if (!strcmp(cmd, "-routers")) {
        NEED(1, "takes no arguments");
        return cmd_routers(ad);
    }
    if (!z) {
        fprintf(stderr, "%s: %s writes the zookeeper store, and %s has driver = file: edit that file instead\n", prog,
                cmd, ad->cfgpath);
        return EXIT_USAGE;
    }
    if (!strcmp(cmd, "-add"))
        return cmd_add_update(z, argc, argv, false);
    if (!strcmp(cmd, "-update"))
        return cmd_add_update(z, argc, argv, true);
    if (!strcmp(cmd, "-rm")) {
        NEED(2, "needs <source>");
        return cmd_rm(z, REC_MOUNT, argv[1]);
    }
    if (!strcmp(cmd, "-setQuota"))
        return cmd_quota(z, argc, argv, false);
    if (!strcmp(cmd, "-clrQuota"))
        return cmd_quota(z, argc, argv, true);
    if (!strcmp(cmd, "-safemode"))
        return cmd_safemode(z, ad->c, argc, argv);
    if (!strcmp(cmd, "-nameservice"))
        return cmd_nameservice(z, argc, argv);
    if (!strcmp(cmd, "-disableNameservice") || !strcmp(cmd, "-enableNameservice")) {
        NEED(2, "needs <ns>");
        return cmd_ns_disable(z, argv[1], cmd[1] == 'd');
    }
    if (!strcmp(cmd, "-addNameservice")) {
        NEED(3, "needs <ns> <host:port>[,...]");
        return cmd_add_ns(z, argv[1], argv[2]);
    }
    if (!strcmp(cmd, "-rmNameservice")) {
        NEED(2, "needs <ns>");
        return cmd_rm(z, REC_NAMESERVICE, argv[1]);
    }
    if (!strcmp(cmd, "-addMetastore"))
        return cmd_add_ms(z, argc, argv);
    if (!strcmp(cmd, "-rmMetastore")) {
        NEED(2, "needs <name>");
        return cmd_rm(z, REC_METASTORE, argv[1]);
    }
#undef NEED
    return usage_error("unknown command: %s", cmd);
}

static bool known_command(const char *c)
{
    static const char *const cmds[] = {"-add", "-update", "-rm", "-ls", "-addNameservice", "-rmNameservice",
                                       "-lsNameservices", "-addMetastore", "-rmMetastore", "-lsMetastores",
                                       "-routers", "-setQuota", "-clrQuota", "-resolve", "-safemode",
                                       "-disableNameservice", "-enableNameservice", "-getDisabledNameservices",
                                       "-nameservice", "-refresh", "-export", "-import"};
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
    if (i + 1 < argc && (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config") || !strcmp(argv[i], "-config"))) {
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
    struct admin ad = {.c = &c, .cfgpath = cfgpath, .z = NULL};
    int rc;
    if (c.store.driver != STORE_ZOOKEEPER) {
        if (!read_only(argv[i])) {
            fprintf(stderr, "%s: %s writes the zookeeper store, and %s has driver = file: edit that file instead\n",
                    prog, argv[i], cfgpath);
            rc = EXIT_USAGE;
        } else {
            rc = run(&ad, argc - i, argv + i);
        }
        config_free(&c);
        return rc;
    }
    char err[512];
    ad.z = zks_open(c.store.zk_hosts, c.store.zk_root, c.store.zk_session_timeout_ms, c.store.zk_auth_file, NULL,
                    NULL, err, sizeof err);
    if (!ad.z) {
        fprintf(stderr, "%s: %s\n", prog, err);
        config_free(&c);
        return EXIT_FAILED;
    }
    if (zks_wait_connected(ad.z, CONNECT_TIMEOUT_MS) != ZKS_OK) {
        fprintf(stderr, "%s: cannot connect to ZooKeeper at %s\n", prog, c.store.zk_hosts);
        rc = EXIT_FAILED;
    } else {
        rc = run(&ad, argc - i, argv + i);
    }
    zks_close(ad.z);
    config_free(&c);
    return rc;
}
