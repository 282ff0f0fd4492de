/*
 * admin_table.c: the whole table at once.
 *
 *   -export FILE        every record (nameservices, metastores, mounts) as
 *                       the router's INI sections, every key written, for
 *                       backup and review; FILE "-" is stdout
 *   -import FILE        makes the store hold exactly the records of FILE:
 *                       FILE is read by the router's own config parser (the
 *                       one the file driver loads), so it is checked as a
 *                       router would check it; the differences are written
 *                       as ZooKeeper multi-op transactions, compare-and-set
 *                       on the version of every znode it changes or removes
 *   -import FILE -dryRun  prints the add/update/remove lines only
 *   -refresh            asks every router to re-read the statestore now
 *
 * An import that fits in one ZooKeeper request (ZKS_MULTI_MAX_BYTES of
 * paths and data, under the server's default jute.maxbuffer of 1 MiB) is
 * one transaction: all of it or nothing. A larger one is cut into several,
 * nameservices first and removals last, so that no router ever sees a
 * mount whose nameservice is not there yet; each is all or nothing, and a
 * failure stops the import after the ones already written (the output says
 * how many).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"

#define REFRESH_WAIT_MS 10000

/* ---- export ---- */

static const enum rec_kind kind_order[REC_NKINDS] = {REC_NAMESERVICE, REC_METASTORE, REC_MOUNT};

static int write_records(FILE *f, const struct record_set *set, const char *from)
{
    time_t now = time(NULL);
    struct tm tm;
    char when[32] = "";
    if (gmtime_r(&now, &tm))
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(f, "# fedrouter routing records, exported from %s at %s\n"
               "# (fedrouter-admin -import FILE loads them; a router with driver = file reads them as they are)\n",
            from, when);
    size_t cap = 4096;
    char *buf = malloc(cap);
    if (!buf)
        return -1;
    for (int k = 0; k < REC_NKINDS; k++) {
        size_t n;
        const struct record **v = sorted(set, kind_order[k], &n);
        for (size_t i = 0; v && i < n; i++) {
            size_t need = record_format(v[i], true, NULL, 0) + 1;
            if (need > cap) {
                char *nb = realloc(buf, need);
                if (!nb) {
                    free(v);
                    free(buf);
                    return -1;
                }
                buf = nb;
                cap = need;
            }
            record_format(v[i], true, buf, cap);
            fprintf(f, "\n%s", buf);
        }
        free(v);
    }
    free(buf);
    return ferror(f) ? -1 : 0;
}

int cmd_export(const struct admin *ad, int argc, char **argv)
{
    if (argc != 2)
        return usage_error("-export needs <file> (- for standard output)%s", NULL);
    const char *out = argv[1];
    struct record_set set;
    int rc = load_all(ad, &set);
    if (rc)
        return rc;
    char from[600];
    if (ad->z)
        snprintf(from, sizeof from, "zookeeper %s%s", ad->c->store.zk_hosts, ad->c->store.zk_root);
    else
        snprintf(from, sizeof from, "the file driver's config");
    if (!strcmp(out, "-")) {
        rc = write_records(stdout, &set, from) < 0 ? EXIT_FAILED : 0;
        recset_free(&set);
        return rc;
    }
    /* a temporary file renamed over FILE: a reader never sees half of it */
    size_t tl = strlen(out) + 16;
    char *tmp = malloc(tl);
    FILE *f = NULL;
    if (tmp) {
        snprintf(tmp, tl, "%s.tmpXXXXXX", out);
        int fd = mkstemp(tmp);
        if (fd >= 0 && !(f = fdopen(fd, "w")))
            close(fd);
    }
    if (!f) {
        fprintf(stderr, "%s: cannot write %s: %m\n", prog, out);
        free(tmp);
        recset_free(&set);
        return EXIT_FAILED;
    }
    fchmod(fileno(f), 0644);
    int wrc = write_records(f, &set, from);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        wrc = -1;
    if (fclose(f) != 0)
        wrc = -1;
    if (wrc < 0 || rename(tmp, out) < 0) {
        fprintf(stderr, "%s: cannot write %s: %m\n", prog, out);
        unlink(tmp);
        rc = EXIT_FAILED;
    } else {
        size_t n[REC_NKINDS] = {0};
        for (size_t i = 0; i < set.n; i++)
            n[set.recs[i].kind]++;
        printf("Exported %zu mount points, %zu nameservices, %zu metastores to %s\n", n[REC_MOUNT],
               n[REC_NAMESERVICE], n[REC_METASTORE], out);
    }
    free(tmp);
    recset_free(&set);
    return rc;
}

/* ---- import ---- */

/* The canonical text of a record, every key (malloc'd). */
static char *text_of(const struct record *r)
{
    size_t n = record_format(r, true, NULL, 0) + 1;
    char *t = malloc(n);
    if (t)
        record_format(r, true, t, n);
    return t;
}

/* Prints "  key: old -> new" for every key whose line differs. */
static void print_key_changes(const char *old, const char *new)
{
    char *o = strdup(old), *n = strdup(new), *s1 = NULL;
    if (!o || !n) {
        free(o);
        free(n);
        return;
    }
    for (char *line = strtok_r(n, "\n", &s1); line; line = strtok_r(NULL, "\n", &s1)) {
        char *eq = strstr(line, " = ");
        if (line[0] == '[' || !eq)
            continue;
        size_t kl = (size_t)(eq - line);
        const char *was = "(unset)";
        char *p = o, *hit = NULL;
        while ((p = strstr(p, line)) != NULL && !hit) {
            /* same key and value on a line of its own: unchanged */
            if ((p == o || p[-1] == '\n') && (p[strlen(line)] == '\n' || !p[strlen(line)]))
                hit = p;
            p++;
        }
        if (hit)
            continue;
        char valbuf[512] = "";
        for (p = o; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
            if (!strncmp(p, line, kl) && !strncmp(p + kl, " = ", 3)) {
                const char *v = p + kl + 3, *e = strchr(v, '\n');
                snprintf(valbuf, sizeof valbuf, "%.*s", (int)(e ? e - v : (long)strlen(v)), v);
                was = valbuf;
                break;
            }
        printf("    %.*s: %s -> %s\n", (int)kl, line, *was ? was : "\"\"", eq + 3);
    }
    free(o);
    free(n);
}

struct plan {
    struct zks_op *ops;
    size_t n;
    size_t added, updated, removed, unchanged;
};

static int plan_push(struct plan *p, struct zks_op op)
{
    struct zks_op *nv = realloc(p->ops, (p->n + 1) * sizeof *nv);
    if (!nv)
        return -1;
    p->ops = nv;
    p->ops[p->n++] = op;
    return 0;
}

static const struct zks_entry *find_entry(const struct zks_entry *e, size_t n, enum rec_kind k, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (e[i].kind == k && !strcmp(e[i].key, key))
            return &e[i];
    return NULL;
}

/* Adds and updates of one kind (in key order), printing each. */
static int plan_puts(struct plan *p, enum rec_kind k, const struct record_set *want, const struct record_set *have,
                     const struct zks_entry *ents, size_t nents)
{
    size_t n;
    const struct record **v = sorted(want, k, &n);
    if (!v)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *key = record_key(v[i]);
        const struct zks_entry *e = find_entry(ents, nents, k, key);
        const struct record *cur = recset_find(have, k, key);
        int32_t version = e ? e->version : -1;
        if (cur && e && e->valid) {
            char *a = text_of(cur), *b = text_of(v[i]);
            bool same = a && b && !strcmp(a, b);
            if (!same && a && b) {
                printf("update %s %s\n", rec_kind_name(k), key);
                print_key_changes(a, b);
            }
            free(a);
            free(b);
            if (same) {
                p->unchanged++;
                continue;
            }
            p->updated++;
        } else if (e) {
            printf("update %s %s (its stored content is not valid)\n", rec_kind_name(k), key);
            p->updated++;
        } else {
            printf("add %s %s\n", rec_kind_name(k), key);
            p->added++;
        }
        if (plan_push(p, (struct zks_op){.op = ZKS_OP_PUT, .rec = v[i], .version = version}) < 0) {
            free(v);
            return -1;
        }
    }
    free(v);
    return 0;
}

/* Removals of one kind: every znode FILE does not name. */
static int plan_removes(struct plan *p, enum rec_kind k, const struct record_set *want, const struct zks_entry *ents,
                        size_t nents)
{
    for (size_t i = 0; i < nents; i++) {
        if (ents[i].kind != k || recset_find(want, k, ents[i].key))
            continue;
        printf("remove %s %s\n", rec_kind_name(k), ents[i].key);
        p->removed++;
        if (plan_push(p, (struct zks_op){.op = ZKS_OP_DELETE, .kind = k, .key = ents[i].key,
                                         .version = ents[i].version}) < 0)
            return -1;
    }
    return 0;
}

int cmd_import(const struct admin *ad, int argc, char **argv)
{
    const char *file = NULL;
    bool dry = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-dryRun"))
            dry = true;
        else if (!file && argv[i][0] != '-')
            file = argv[i];
        else
            return usage_error("-import takes <file> [-dryRun]; not %s", argv[i]);
    }
    if (!file)
        return usage_error("-import needs <file>%s", NULL);
    if (!ad->z) {
        fprintf(stderr, "%s: driver = file: the records are the sections of %s itself; -import writes a zookeeper "
                        "store\n", prog, ad->cfgpath);
        return EXIT_USAGE;
    }
    struct config in;
    struct cfg_error cerr;
    memset(&cerr, 0, sizeof cerr);
    if (config_load_table(file, &in, &cerr) < 0) {
        fprintf(stderr, "%s: %s is not a valid table; nothing written:\n", prog, file);
        cfg_error_print(&cerr, stderr);
        return EXIT_USAGE;
    }
    if (in.records.n == 0) {
        fprintf(stderr, "%s: %s holds no records: refusing to empty the table\n", prog, file);
        config_free(&in);
        return EXIT_USAGE;
    }
    struct record_set have;
    int rc = load_all(ad, &have);
    if (rc) {
        config_free(&in);
        return rc;
    }
    struct zks_entry *ents = NULL;
    size_t nents = 0;
    struct plan p;
    memset(&p, 0, sizeof p);
    if (zks_entries(ad->z, &ents, &nents) != ZKS_OK)
        rc = EXIT_FAILED;
    /* nameservices first, removals last: see the comment at the top */
    for (int k = 0; k < REC_NKINDS && !rc; k++)
        if (plan_puts(&p, kind_order[k], &in.records, &have, ents, nents) < 0)
            rc = EXIT_FAILED;
    for (int k = REC_NKINDS - 1; k >= 0 && !rc; k--)
        if (plan_removes(&p, kind_order[k], &in.records, ents, nents) < 0)
            rc = EXIT_FAILED;
    if (rc) {
        fprintf(stderr, "%s: out of memory\n", prog);
    } else if (dry) {
        printf("Dry run: %zu to add, %zu to update, %zu to remove, %zu unchanged; nothing written\n", p.added,
               p.updated, p.removed, p.unchanged);
    } else {
        char err[600];
        size_t ntx = 0;
        int zrc = zks_apply(ad->z, p.ops, p.n, 0, &ntx, err, sizeof err);
        if (zrc != ZKS_OK) {
            if (ntx)
                fprintf(stderr, "%s: %zu transaction(s) of the import were written before this failure\n", prog, ntx);
            rc = store_fail(zrc, err);
        } else {
            printf("Imported %s: %zu added, %zu updated, %zu removed, %zu unchanged (%zu transaction%s)\n", file,
                   p.added, p.updated, p.removed, p.unchanged, ntx, ntx == 1 ? "" : "s");
        }
    }
    free(p.ops);
    zks_entries_free(ents, nents);
    recset_free(&have);
    config_free(&in);
    return rc;
}

/* ---- refresh ---- */

static int refresh_file(const struct admin *ad)
{
    /* The file driver reloads its file once it has changed and then stayed
     * unchanged for file.settle_ms; a new mtime is such a change. */
    if (utimensat(AT_FDCWD, ad->cfgpath, NULL, 0) < 0) {
        fprintf(stderr, "%s: cannot touch %s: %m\n", prog, ad->cfgpath);
        return EXIT_FAILED;
    }
    printf("Touched %s: the router reading it reloads it within %d ms\n", ad->cfgpath,
           ad->c->store.file_settle_ms + 200);
    return 0;
}

int cmd_refresh(const struct admin *ad, int argc, char **argv)
{
    (void)argv;
    if (argc != 1)
        return usage_error("-refresh takes no arguments%s", NULL);
    if (!ad->z)
        return refresh_file(ad);
    char err[512];
    uint64_t mzxid = 0;
    int rc = zks_refresh(ad->z, &mzxid, err, sizeof err);
    if (rc != ZKS_OK)
        return store_fail(rc, err);
    /* Every registered router reports the zxid it has read up to: wait
     * until each router registered now has seen the request. One whose
     * registration goes away meanwhile (stopped, session expired) is
     * named as gone; routers that register later read everything anyway. */
    struct zks_router *want = NULL;
    size_t nwant = 0;
    rc = zks_list_routers(ad->z, &want, &nwant, err, sizeof err);
    if (rc != ZKS_OK)
        return store_fail(rc, err);
    enum { WAITING, DONE, GONE } *state = calloc(nwant ? nwant : 1, sizeof *state);
    if (!state) {
        free(want);
        return EXIT_FAILED;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t done = 0;
    for (;;) {
        struct zks_router *v = NULL;
        size_t n = 0;
        rc = zks_list_routers(ad->z, &v, &n, err, sizeof err);
        if (rc != ZKS_OK) {
            free(want);
            free(state);
            return store_fail(rc, err);
        }
        done = 0;
        for (size_t i = 0; i < nwant; i++) {
            if (state[i] == WAITING) {
                size_t k = 0;
                while (k < n && strcmp(v[k].id, want[i].id))
                    k++;
                if (k == n) {
                    state[i] = GONE;
                } else if (v[k].zxid >= mzxid) {
                    state[i] = DONE;
                    want[i].snapshot = v[k].snapshot;
                }
            }
            done += state[i] == DONE;
        }
        free(v);
        size_t waiting = 0;
        for (size_t i = 0; i < nwant; i++)
            waiting += state[i] == WAITING;
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (!waiting || ms >= REFRESH_WAIT_MS)
            break;
        usleep(50000);
    }
    if (nwant == 0)
        printf("No router is registered; routers that start later read the statestore anyway\n");
    for (size_t i = 0; i < nwant; i++) {
        if (state[i] == DONE)
            printf("%-16s refreshed (snapshot %llu)\n", want[i].id, (unsigned long long)want[i].snapshot);
        else if (state[i] == GONE)
            printf("%-16s gone: its registration went away while waiting\n", want[i].id);
        else
            printf("%-16s did not answer within %d ms\n", want[i].id, REFRESH_WAIT_MS);
    }
    if (done == nwant && nwant)
        printf("Successfully refreshed %zu router%s\n", nwant, nwant == 1 ? "" : "s");
    else if (done < nwant)
        fprintf(stderr, "%s: %zu of %zu routers did not refresh\n", prog, nwant - done, nwant);
    free(want);
    free(state);
    return done == nwant ? 0 : EXIT_FAILED;
}
