/*
 * admin_ls.c: the read-only commands of fedrouter-admin: -ls [-d],
 * -lsNameservices, -lsMetastores, -getDisabledNameservices, -resolve and
 * -routers.
 *
 * With driver = zookeeper they read the records from ZooKeeper; with
 * driver = file they read the router's own config file, the same text the
 * router's file driver loads (the config parser already holds its
 * records), so they show what that router serves once it has reloaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "admin.h"
#include "snapshot.h"

static int cmp_rec(const void *a, const void *b)
{
    const struct record *x = *(const struct record *const *)a, *y = *(const struct record *const *)b;
    return strcmp(record_key(x), record_key(y));
}

/* The records of one kind, sorted by key (pointers into set). */
const struct record **sorted(const struct record_set *set, enum rec_kind kind, size_t *n)
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

int load_all(const struct admin *ad, struct record_set *set)
{
    recset_init(set);
    if (!ad->z) { /* driver = file: the records the config parser read */
        for (size_t i = 0; i < ad->c->records.n; i++) {
            struct record r;
            if (record_copy(&r, &ad->c->records.recs[i]) < 0 || recset_add(set, &r) < 0) {
                record_free(&r);
                recset_free(set);
                fprintf(stderr, "%s: out of memory\n", prog);
                return EXIT_FAILED;
            }
        }
        return 0;
    }
    struct zks *z = ad->z;
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

/* Permission bits as `ls -l` and Hadoop's FsPermission print them. */
static void mode_text(uint32_t mode, char out[11])
{
    const char *rwx = "rwxrwxrwx";
    for (int i = 0; i < 9; i++)
        out[i] = (mode & (0400u >> i)) ? rwx[i] : '-';
    if (mode & 01000)
        out[8] = (mode & 01) ? 't' : 'T';
    out[9] = 0;
}

static void quota_text(int64_t q, char *out, size_t size)
{
    if (q >= 0)
        snprintf(out, size, "%lld", (long long)q);
    else
        snprintf(out, size, "-");
}

/* -ls -d: RBF's detailed layout (its Quota/Usage column shows the quotas;
 * usage is the router's to count, see /metrics). */
static void print_mount_detail(const struct mount_rec *m, const char *dests)
{
    char mode[11], nsq[24], ssq[24], quota[96];
    mode_text(m->mode, mode);
    quota_text(m->ns_quota, nsq, sizeof nsq);
    quota_text(m->ss_quota, ssq, sizeof ssq);
    snprintf(quota, sizeof quota, "[NsQuota: %s, SsQuota: %s]", nsq, ssq);
    printf("%-25s %-25s %-25s %-25s %-10s %-30s %-10s %-10s %-15s\n", m->src, dests, *m->owner ? m->owner : "-",
           *m->group ? m->group : "-", mode, quota, mount_order_name(m->order), m->readonly ? "true" : "false",
           m->faulttolerant ? "true" : "false");
}

/* -ls [-d] [<path>], -lsNameservices, -lsMetastores (argv[0] is the command). */
int cmd_ls(const struct admin *ad, enum rec_kind kind, int argc, char **argv)
{
    bool detail = false;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (kind == REC_MOUNT && !strcmp(argv[i], "-d") && !detail)
            detail = true;
        else if (kind == REC_MOUNT && argv[i][0] != '-' && !path)
            path = argv[i];
        else
            return usage_error(kind == REC_MOUNT ? "-ls takes [-d] [<path>]; not %s" : "%s takes no arguments",
                               kind == REC_MOUNT ? argv[i] : argv[0]);
    }
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
    int rc = load_all(ad, &set);
    if (rc)
        return rc;
    size_t n;
    const struct record **v = sorted(&set, kind, &n);
    if (kind == REC_MOUNT) {
        if (detail)
            printf("Mount Table Entries:\n%-25s %-25s %-25s %-25s %-10s %-30s %-10s %-10s %-15s\n", "Source",
                   "Destinations", "Owner", "Group", "Mode", "Quota/Usage", "Order", "ReadOnly", "FaultTolerant");
        else
            printf("%-24s %-32s %-9s %-14s %-10s %-10s %-5s %s\n", "Source", "Destinations", "Order", "Flags",
                   "Owner", "Group", "Mode", "Quota");
        for (size_t i = 0; v && i < n; i++) {
            const struct mount_rec *m = &v[i]->u.mount;
            if (path && !under(m->src, path))
                continue;
            char d[1024] = "";
            for (size_t k = 0; k < m->ndests; k++) {
                size_t len = strlen(d);
                snprintf(d + len, sizeof d - len, "%s%s->%s", k ? "," : "", m->dests[k].ns, m->dests[k].path);
            }
            if (detail) {
                print_mount_detail(m, d);
                continue;
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

int cmd_disabled_ns(const struct admin *ad)
{
    struct record_set set;
    int rc = load_all(ad, &set);
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
int cmd_resolve(const struct admin *ad, const char *path)
{
    char norm[FR_PATH_MAX + 1];
    const char *pwhy;
    if (path_normalize(path, strlen(path), norm, sizeof norm, &pwhy) < 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, pwhy);
        return EXIT_USAGE;
    }
    struct record_set set;
    int rc = load_all(ad, &set);
    if (rc)
        return rc;
    struct snap_params params = {.default_ns = ad->c->router.default_ns, .on_skip = skip_note};
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

int cmd_routers(const struct admin *ad)
{
    struct zks *z = ad->z;
    if (!z) {
        fprintf(stderr, "%s: -routers needs driver = zookeeper (a file-driven router registers nowhere)\n", prog);
        return EXIT_USAGE;
    }
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

