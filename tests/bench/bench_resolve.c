/*
 * bench_resolve: mount-table resolution speed.
 *
 * Builds snapshots of 10,000 and 100,000 mount entries shaped like a real
 * federation (user homes, department/project/dataset trees with nested
 * mounts, warehouse databases with per-table mounts, multi-destination HASH
 * shares; 16 nameservices), then resolves a fixed mix of paths (most below a
 * mount point at 1..4 extra levels, some exactly on mount points, some under
 * no mount point) and prints build time, mean resolve time and the ratio to
 * a linear scan of the table measured in the same run (which also checks
 * that both pick the same entry).
 *
 *   bench_resolve [lookups]      (default 2,000,000 per size)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "records.h"
#include "snapshot.h"

#define NPATHS 200000

static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void add_mount(struct record_set *set, const char *src, int ns, int ns2, const char *order)
{
    struct record r;
    char w[256], d[600];
    if (record_init(&r, REC_MOUNT, src, w, sizeof w) < 0)
        exit(1);
    if (ns2 >= 0)
        snprintf(d, sizeof d, "ns%d:%s, ns%d:%s", ns, src, ns2, src);
    else
        snprintf(d, sizeof d, "ns%d:%s", ns, src);
    if (record_set(&r, "destinations", d, w, sizeof w) < 0 ||
        (order && record_set(&r, "order", order, w, sizeof w) < 0) || record_finish(&r, w, sizeof w) < 0 ||
        recset_add(set, &r) < 0) {
        fprintf(stderr, "%s: %s\n", src, w);
        exit(1);
    }
}

/* n mount entries: 40% homes, 35% data trees (a third nested one level
 * deeper), 20% warehouse (db and table mounts), 5% two-destination HASH. */
static char **make_table(struct record_set *set, size_t n)
{
    char **srcs = calloc(n, sizeof *srcs);
    char p[256];
    size_t i = 0;
    for (int ns = 0; ns < 16; ns++) {
        struct record r;
        char w[128], name[16], nn[64];
        snprintf(name, sizeof name, "ns%d", ns);
        snprintf(nn, sizeof nn, "nn%d-a:8020, nn%d-b:8020", ns, ns);
        record_init(&r, REC_NAMESERVICE, name, w, sizeof w);
        record_set(&r, "namenodes", nn, w, sizeof w);
        record_finish(&r, w, sizeof w);
        recset_add(set, &r);
    }
    while (i < n) {
        uint64_t k = i % 20;
        if (k < 8)
            snprintf(p, sizeof p, "/user/u%06zu", i);
        else if (k < 15) {
            size_t dept = i % 97, proj = i / 20;
            if (k < 13)
                snprintf(p, sizeof p, "/data/dept%02zu/proj%05zu", dept, proj);
            else
                snprintf(p, sizeof p, "/data/dept%02zu/proj%05zu/dataset_%zu", dept, proj - 1, k);
        } else if (k < 19) {
            size_t db = i / 20; /* one db mount and three table mounts below it */
            if (k == 15)
                snprintf(p, sizeof p, "/warehouse/db%05zu.db", db);
            else
                snprintf(p, sizeof p, "/warehouse/db%05zu.db/table_%06zu", db, i);
        } else {
            snprintf(p, sizeof p, "/shared/team%05zu", i);
        }
        int ns = (int)(rnd() % 16);
        add_mount(set, p, ns, k == 19 ? (ns + 1) % 16 : -1, k == 19 ? "HASH" : NULL);
        srcs[i++] = strdup(p);
    }
    return srcs;
}

static const char *const leaf[] = { "part-00000.parquet",
                                    "year=2024",
                                    "month=06",
                                    "_SUCCESS",
                                    "x",
                                    "logs",
                                    "tmp",
                                    "a_rather_longer_directory_name_for_tests",
                                    "éte",
                                    "d" };

static char **make_paths(char **srcs, size_t n)
{
    char **v = malloc(NPATHS * sizeof *v);
    char p[1024];
    for (size_t i = 0; i < NPATHS; i++) {
        uint64_t k = rnd() % 100;
        if (k < 8) {
            snprintf(p, sizeof p, "/nomount/area%llu/f", (unsigned long long)(rnd() % 1000));
        } else {
            size_t len = (size_t)snprintf(p, sizeof p, "%s", srcs[rnd() % n]);
            int extra = k < 14 ? 0 : 1 + (int)(rnd() % 4);
            for (int e = 0; e < extra; e++)
                len += (size_t)snprintf(p + len, sizeof p - len, "/%s", leaf[rnd() % 10]);
        }
        v[i] = strdup(p);
    }
    return v;
}

/* The baseline: scan every entry, keep the longest component-wise prefix. */
static size_t linear(char **srcs, size_t n, const char *path, char *out, size_t outsz)
{
    char norm[FR_PATH_MAX + 2];
    long nl = path_normalize(path, strlen(path), norm, sizeof norm, NULL);
    size_t best = (size_t)-1, bl = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(srcs[i]);
        if (l <= (size_t)nl && l > bl && !memcmp(norm, srcs[i], l) && (norm[l] == '/' || norm[l] == '\0')) {
            best = i;
            bl = l;
        }
    }
    if (best != (size_t)-1)
        snprintf(out, outsz, "%s%s", srcs[best], norm + bl); /* the rewrite (dest path = src here) */
    return best;
}

static void run(size_t n, long lookups)
{
    struct record_set set;
    recset_init(&set);
    char **srcs = make_table(&set, n);
    char **paths = make_paths(srcs, n);
    struct snap_params prm = { .default_ns = "ns0", .version = 1 };
    struct snap_stats st;
    double t0 = now();
    struct snapshot *s = snapshot_build(&set, &prm, &st);
    double build = now() - t0;
    if (!s || st.skipped) {
        fprintf(stderr, "build failed (%zu records skipped)\n", s ? st.skipped : 0);
        exit(1);
    }

    static char buf[2 * FR_PATH_MAX + 2];
    struct resolve_result r;
    size_t sink = 0;
    for (size_t i = 0; i < NPATHS; i++) /* warm up */
        sink += (size_t)snapshot_resolve(s, paths[i], strlen(paths[i]), NULL, &r, buf, sizeof buf);
    size_t *lens = malloc(NPATHS * sizeof *lens);
    for (size_t i = 0; i < NPATHS; i++)
        lens[i] = strlen(paths[i]);
    t0 = now();
    for (long i = 0; i < lookups; i++) {
        size_t j = (size_t)i % NPATHS;
        if (snapshot_resolve(s, paths[j], lens[j], NULL, &r, buf, sizeof buf) == RES_OK)
            sink += r.path_len;
    }
    double trie = (now() - t0) / (double)lookups;

    /* HASH entries only (MD5 ring per call) */
    size_t *hix = malloc(NPATHS * sizeof *hix), nhix = 0;
    for (size_t j = 0; j < NPATHS; j++)
        if (!strncmp(paths[j], "/shared/", 8))
            hix[nhix++] = j;
    long nh = nhix ? 500000 : 0;
    t0 = now();
    for (long i = 0; i < nh; i++) {
        size_t j = hix[(size_t)i % nhix];
        if (snapshot_resolve(s, paths[j], lens[j], NULL, &r, buf, sizeof buf) == RES_OK)
            sink += (size_t)r.dest;
    }
    double th = now() - t0;
    free(hix);

    /* linear baseline on a sample, same paths, checked against the trie */
    long nl = n <= 10000 ? 20000 : 2000, mismatch = 0;
    char lbuf[FR_PATH_MAX + 2];
    t0 = now();
    for (long i = 0; i < nl; i++) {
        size_t j = (size_t)(i * 7919) % NPATHS;
        size_t b = linear(srcs, n, paths[j], lbuf, sizeof lbuf);
        sink += b;
    }
    double lin = (now() - t0) / (double)nl;
    for (long i = 0; i < nl; i++) {
        size_t j = (size_t)(i * 7919) % NPATHS;
        size_t b = linear(srcs, n, paths[j], lbuf, sizeof lbuf);
        int rc = snapshot_resolve(s, paths[j], lens[j], NULL, &r, buf, sizeof buf);
        const char *got = rc == RES_OK && r.mount ? r.mount->src : NULL;
        if ((b == (size_t)-1) != (got == NULL) || (got && strcmp(got, srcs[b])))
            mismatch++;
    }

    printf("%7zu entries: build %.1f ms (%zu trie nodes, %.1f MiB); resolve mean %.0f ns over %ld lookups"
           " (HASH entries %.0f ns); linear scan %.0f ns -> %.0fx faster; mismatches %ld\n",
           n, build * 1e3, st.trie_nodes, (double)st.bytes / 1048576.0, trie * 1e9, lookups,
           nh ? th / (double)nh * 1e9 : 0.0, lin * 1e9, lin / trie, mismatch);
    if (sink == 42)
        printf("\n");
    snapshot_release(s);
    recset_free(&set);
    for (size_t i = 0; i < n; i++)
        free(srcs[i]);
    for (size_t i = 0; i < NPATHS; i++)
        free(paths[i]);
    free(srcs);
    free(paths);
    free(lens);
    if (mismatch)
        exit(1);
}

int main(int argc, char **argv)
{
    long lookups = argc > 1 ? atol(argv[1]) : 2000000;
    if (lookups < 1)
        lookups = 1;
    run(10000, lookups);
    run(100000, lookups);
    return 0;
}
