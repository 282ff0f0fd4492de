/* test_snapshot: mount-table resolution (longest prefix, nesting, default
 * nameservice, rewriting), the destination orders (HASH and HASH_ALL checked
 * against vectors computed independently from RBF's own temporary-name
 * patterns and MD5 ring, including non-ASCII and 4-byte UTF-8 names),
 * listings below a directory, metastore routes, and publication under
 * concurrent readers. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "snapshot.h"

static char buf[2 * FR_PATH_MAX + 2];

static void add(struct record_set *s, const char *text)
{
    struct record r;
    char w[256];
    if (record_parse_text(text, strlen(text), &r, w, sizeof w) < 0) {
        fprintf(stderr, "parse: %s\n", w);
        CHECK(0);
        return;
    }
    CHECK(recset_add(s, &r) == 0);
}

static void add_mount(struct record_set *s, const char *src, const char *dests, const char *order)
{
    char t[1024];
    snprintf(t, sizeof t, "[mount %s]\ndestinations = %s\norder = %s\n", src, dests, order ? order : "HASH");
    add(s, t);
}

static struct snapshot *build(struct record_set *s, const char *def)
{
    struct snap_params p = {.default_ns = def};
    struct snapshot *snap = snapshot_build(s, &p, NULL);
    CHECK(snap != NULL);
    return snap;
}

/* resolves and checks nameservice + rewritten path */
static int res_is(const struct snapshot *s, const char *path, const char *ns, const char *want)
{
    struct resolve_result r;
    int rc = snapshot_resolve(s, path, strlen(path), NULL, &r, buf, sizeof buf);
    if (rc != RES_OK || strcmp(r.ns->name, ns) || strcmp(r.path, want) || r.path_len != strlen(want)) {
        fprintf(stderr, "resolve %s: rc %d ns %s path %s (%s); want %s %s\n", path, rc, rc ? "-" : r.ns->name,
                rc ? "-" : r.path, r.why ? r.why : "", ns, want);
        return 0;
    }
    return 1;
}

static void test_basic(void)
{
    struct record_set set;
    recset_init(&set);
    add(&set, "[nameservice ns1]\nnamenodes = 127.0.0.1:9000, 127.0.0.1:9002\n");
    add(&set, "[nameservice ns2]\nnamenodes = 127.0.0.1:9100\n");
    add_mount(&set, "/data", "ns1:/data", NULL);
    add_mount(&set, "/data/app1", "ns2:/apps/one", NULL);
    add_mount(&set, "/data/app1/deep/er", "ns1:/", NULL);
    add_mount(&set, "/user", "ns2:/user", NULL);
    add_mount(&set, "/datax", "ns2:/x", NULL);
    add_mount(&set, "/tmp", "ns3:/tmp", NULL); /* ns3 is not defined: kept */
    struct snap_stats st;
    struct snap_params p = {.default_ns = "ns1", .version = 7};
    struct snapshot *s = snapshot_build(&set, &p, &st);
    CHECK(s && st.mounts == 6 && st.nameservices == 2 && st.skipped == 0 && snapshot_version(s) == 7);

    CHECK(res_is(s, "/data", "ns1", "/data"));
    CHECK(res_is(s, "/data/", "ns1", "/data"));
    CHECK(res_is(s, "/data/f", "ns1", "/data/f"));
    CHECK(res_is(s, "/data/app1", "ns2", "/apps/one"));
    CHECK(res_is(s, "//data//app1///x/y/", "ns2", "/apps/one/x/y"));
    CHECK(res_is(s, "/data/app10", "ns1", "/data/app10")); /* component boundary */
    CHECK(res_is(s, "/data/app1/deep", "ns2", "/apps/one/deep"));
    CHECK(res_is(s, "/data/app1/deep/er", "ns1", "/"));
    CHECK(res_is(s, "/data/app1/deep/er/f", "ns1", "/f")); /* destination "/" joins without "//" */
    CHECK(res_is(s, "/datax/1", "ns2", "/x/1"));
    CHECK(res_is(s, "/other/z", "ns1", "/other/z")); /* default nameservice */
    CHECK(res_is(s, "/", "ns1", "/"));

    struct resolve_result r;
    CHECK(snapshot_resolve(s, "/data/app1/q", 12, NULL, &r, buf, sizeof buf) == RES_OK);
    CHECK(r.mount && !strcmp(r.mount->src, "/data/app1") && r.dest == 0 && !strcmp(r.rem, "q") && r.rem_len == 1);
    CHECK(r.flags == 0 && r.fed_len == 12 && r.ns->defined && r.ns->nnamenodes == 1);
    CHECK(snapshot_resolve(s, "/data/app1", 10, NULL, &r, buf, sizeof buf) == RES_OK);
    CHECK(r.flags == (RES_MOUNT_POINT | RES_MOUNTS_BELOW) && r.rem_len == 0);
    CHECK(snapshot_resolve(s, "/data/app1/deep", 15, NULL, &r, buf, sizeof buf) == RES_OK);
    CHECK(r.flags == RES_MOUNTS_BELOW);
    CHECK(snapshot_resolve(s, "/", 1, NULL, &r, buf, sizeof buf) == RES_OK);
    CHECK(r.flags == (RES_MOUNTS_BELOW | RES_DEFAULT_NS) && !r.mount && r.dest == -1);
    CHECK(snapshot_resolve(s, "/nope", 5, NULL, &r, buf, sizeof buf) == RES_OK && r.flags == RES_DEFAULT_NS);
    CHECK(!strcmp(r.rem, "nope"));
    CHECK(snapshot_resolve(s, "/tmp/a", 6, NULL, &r, buf, sizeof buf) == RES_OK && !r.ns->defined &&
          !strcmp(r.ns->name, "ns3"));

    /* bad paths and small buffers */
    CHECK(snapshot_resolve(s, "data", 4, NULL, &r, buf, sizeof buf) == RES_EPATH && strstr(r.why, "absolute"));
    CHECK(snapshot_resolve(s, "/data/../etc", 12, NULL, &r, buf, sizeof buf) == RES_EPATH);
    CHECK(snapshot_resolve(s, "", 0, NULL, &r, buf, sizeof buf) == RES_EPATH);
    char small[12];
    CHECK(snapshot_resolve(s, "/data/app1/x", 12, NULL, &r, small, sizeof small) == RES_ETOOLONG);
    CHECK(snapshot_resolve(s, "/data/app1/xyz/abc", 18, NULL, &r, small, sizeof small) == RES_ETOOLONG);
    CHECK(strcmp(resolve_strerror(RES_ENOMOUNT), "no mount point") == 0);

    /* not NUL-terminated input */
    CHECK(snapshot_resolve(s, "/user/bob/trailing-garbage", 9, NULL, &r, buf, sizeof buf) == RES_OK &&
          !strcmp(r.path, "/user/bob"));

    /* children of directories, sorted by bytes */
    struct snap_dir d;
    size_t len;
    CHECK(snapshot_children(s, "/", 1, &d, NULL) == 0 && d.n == 4);
    const char *want[] = {"data", "datax", "tmp", "user"};
    for (size_t i = 0; i < d.n && i < 4; i++) {
        const char *nm = snap_dir_name(&d, i, &len);
        CHECK(len == strlen(want[i]) && !memcmp(nm, want[i], len));
        CHECK(snap_dir_mount(&d, i) != NULL);
    }
    CHECK(snap_dir_after(&d, "data", 4) == 1 && snap_dir_after(&d, "dat", 3) == 0 && snap_dir_after(&d, "z", 1) == 4);
    CHECK(snap_dir_after(&d, "", 0) == 0 && snap_dir_after(&d, "datax", 5) == 2);
    CHECK(snapshot_children(s, "/data/app1", 10, &d, NULL) == 0 && d.n == 1 && !snap_dir_mount(&d, 0));
    CHECK(!memcmp(snap_dir_name(&d, 0, &len), "deep", 4) && len == 4);
    CHECK(snapshot_children(s, "/data/app1/deep/er", 18, &d, NULL) == 0 && d.n == 0);
    CHECK(snapshot_children(s, "/nothing/here", 13, &d, NULL) == 0 && d.n == 0);
    const char *why = NULL;
    CHECK(snapshot_children(s, "/a/./b", 6, &d, &why) == -1 && why);

    CHECK(snapshot_find_mount(s, "/data/app1") && !snapshot_find_mount(s, "/data/app1/deep"));
    CHECK(snapshot_mount_count(s) == 6 && !strcmp(snapshot_mount_at(s, 0)->src, "/data"));
    CHECK(snapshot_ns_count(s) == 2 && !strcmp(snapshot_ns_at(s, 1)->name, "ns2") && !snapshot_ns_at(s, 2));
    CHECK(snapshot_ns_find(s, "ns3") && !snapshot_ns_find(s, "ns3")->defined && !snapshot_ns_find(s, "ns4"));
    CHECK(!strcmp(snapshot_default_ns(s)->name, "ns1"));
    snapshot_release(s);

    /* without a default nameservice */
    s = build(&set, NULL);
    CHECK(snapshot_resolve(s, "/other", 6, NULL, &r, buf, sizeof buf) == RES_ENOMOUNT && strstr(r.why, "no mount"));
    CHECK(snapshot_resolve(s, "/", 1, NULL, &r, buf, sizeof buf) == RES_ENOMOUNT && (r.flags & RES_MOUNTS_BELOW));
    snapshot_release(s);
    recset_free(&set);
}

struct walk {
    int n;
    char seen[8][64];
};

static int walk_fn(void *ctx, const struct snap_mount *m)
{
    struct walk *w = ctx;
    if (w->n < 8)
        snprintf(w->seen[w->n], 64, "%s", m->src);
    return ++w->n == 100 ? 42 : 0;
}

static void test_walk(void)
{
    struct record_set set;
    recset_init(&set);
    const char *srcs[] = {"/a/b/c", "/a", "/a/b", "/a/b/d", "/a/bb", "/z", "/a/x/y/z"};
    for (int i = 0; i < 7; i++)
        add_mount(&set, srcs[i], "ns1:/", NULL);
    struct snapshot *s = build(&set, NULL);
    struct walk w = {0};
    CHECK(snapshot_walk_below(s, "/a", 2, walk_fn, &w) == 0 && w.n == 6);
    CHECK(!strcmp(w.seen[0], "/a") && !strcmp(w.seen[1], "/a/b") && !strcmp(w.seen[2], "/a/b/c") &&
          !strcmp(w.seen[3], "/a/b/d") && !strcmp(w.seen[4], "/a/bb") && !strcmp(w.seen[5], "/a/x/y/z"));
    memset(&w, 0, sizeof w);
    CHECK(snapshot_walk_below(s, "/a/b/", 5, walk_fn, &w) == 0 && w.n == 3);
    memset(&w, 0, sizeof w);
    CHECK(snapshot_walk_below(s, "/", 1, walk_fn, &w) == 0 && w.n == 7);
    memset(&w, 0, sizeof w);
    CHECK(snapshot_walk_below(s, "/a/x", 4, walk_fn, &w) == 0 && w.n == 1);
    memset(&w, 0, sizeof w);
    CHECK(snapshot_walk_below(s, "/q", 2, walk_fn, &w) == 0 && w.n == 0);
    CHECK(snapshot_walk_below(s, "q", 1, walk_fn, &w) == -1);
    w.n = 99;
    CHECK(snapshot_walk_below(s, "/", 1, walk_fn, &w) == 42);
    snapshot_release(s);
    recset_free(&set);
}

struct skips {
    int n;
    char all[1024];
};

static void on_skip(void *ctx, const struct record *r, const char *why)
{
    struct skips *k = ctx;
    k->n++;
    size_t l = strlen(k->all);
    snprintf(k->all + l, sizeof k->all - l, "%s: %s\n", record_key(r), why);
}

static void test_skips(void)
{
    struct record_set set;
    recset_init(&set);
    add(&set, "[nameservice ns1]\nnamenodes = a:1\n");
    add(&set, "[nameservice ns1]\nnamenodes = b:1\n");
    add_mount(&set, "/a", "ns1:/a", NULL);
    add_mount(&set, "/a", "ns1:/b", NULL);
    /* a record that bypassed record_finish (as from a broken store) */
    struct record bad;
    char w[128];
    CHECK(record_init(&bad, REC_MOUNT, "/bad", w, sizeof w) == 0);
    CHECK(recset_add(&set, &bad) == 0);
    add(&set, "[metastore m1]\nuris = thrift://h:1\nprimary = true\n");
    add(&set, "[metastore m2]\nuris = thrift://h:2\nprimary = true\nprefix = x_\n");
    add(&set, "[metastore m3]\nuris = thrift://h:3\nprefix = x_\n");
    add(&set, "[metastore m4]\nuris = thrift://h:4\nprefix = x_\n");
    struct skips k = {0};
    struct snap_stats st;
    struct snap_params p = {.on_skip = on_skip, .ctx = &k};
    struct snapshot *s = snapshot_build(&set, &p, &st);
    /* m2 is a second primary; with it gone, m3's prefix clashes with nothing */
    CHECK(s && k.n == 5 && st.skipped == 5 && st.mounts == 1 && st.metastores == 2 && st.nameservices == 1);
    CHECK(strstr(k.all, "ns1: duplicate nameservice") && strstr(k.all, "/bad: mount /bad: destinations is required") &&
          strstr(k.all, "m2: a second primary") && strstr(k.all, "/a: duplicate mount point") &&
          strstr(k.all, "m4: metastore prefix already used"));
    struct resolve_result r;
    CHECK(snapshot_resolve(s, "/a/q", 4, NULL, &r, buf, sizeof buf) == RES_OK && !strcmp(r.path, "/a/q"));
    CHECK(!strcmp(snapshot_ns_at(s, 0)->namenodes[0], "a:1"));
    snapshot_release(s);
    recset_free(&set);
    /* an empty set */
    recset_init(&set);
    s = snapshot_build(&set, NULL, &st);
    CHECK(s && st.mounts == 0 && snapshot_resolve(s, "/x", 2, NULL, &r, buf, sizeof buf) == RES_ENOMOUNT);
    CHECK(snapshot_resolve(s, "/", 1, NULL, &r, buf, sizeof buf) == RES_ENOMOUNT && r.flags == 0);
    snapshot_release(s);
}

/* ---- orders ---- */

struct vec {
    const char *order, *nss, *src, *path, *want;
};

static const struct vec vectors[] = {
    {"HASH", "ns1,ns2", "/data", "/data", "ns2"},
    {"HASH_ALL", "ns1,ns2", "/data", "/data", "ns2"},
    {"HASH", "ns1,ns2", "/data", "/data/a", "ns1"},
    {"HASH_ALL", "ns1,ns2", "/data", "/data/a", "ns1"},
    {"HASH", "ns1,ns2", "/data", "/data/b/c/d", "ns2"},
    {"HASH_ALL", "ns1,ns2", "/data", "/data/b/c/d", "ns2"},
    {"HASH", "ns1,ns2", "/data", "/data/f.COPYING", "ns1"},
    {"HASH_ALL", "ns1,ns2", "/data", "/data/f.COPYING", "ns1"},
    {"HASH", "ns1,ns2", "/data", "/data/f._COPYING_", "ns1"},
    {"HASH_ALL", "ns1,ns2", "/data", "/data/f._COPYING_", "ns1"},
    {"HASH", "ns1,ns2", "/data", "/data/f._COPYING_x", "ns1"},
    {"HASH_ALL", "ns1,ns2", "/data", "/data/f._COPYING_x", "ns1"},
    {"HASH", "ns1,ns2", "/data", "/data/x.tmp", "ns1"},
    {"HASH_ALL", "ns1,ns2", "/data", "/data/x.tmp", "ns1"},
    {"HASH", "ns1,ns2", "/data", "/data/.tmp", "ns2"},
    {"HASH_ALL", "ns1,ns2", "/data", "/data/.tmp", "ns2"},
    {"HASH", "ns1,ns2", "/data", "/data/_temp/a/b", "ns2"},
    {"HASH_ALL", "ns1,ns2", "/data", "/data/_temp/a/b", "ns2"},
    {"HASH", "ns1,ns2", "/data", "/data/my_temp/f", "ns1"},
    {"HASH_ALL", "ns1,ns2", "/data", "/data/my_temp/f", "ns2"},
    {"HASH", "ns1,ns2", "/data", "/data/o/_temporary/part-0.0123abcd-0123-4567-89ab-CDEF01234567", "ns2"},
    {"HASH_ALL", "ns1,ns2", "/data", "/data/o/_temporary/part-0.0123abcd-0123-4567-89ab-CDEF01234567", "ns1"},
    {"HASH", "ns1,ns2", "/data", "/data/o/_temporary/0/_temporary/attempt_1700000000000_0001_m_000001_0/part-00001", "ns2"},
    {"HASH_ALL", "ns1,ns2", "/data", "/data/o/_temporary/0/_temporary/attempt_1700000000000_0001_m_000001_0/part-00001", "ns2"},
    {"HASH", "ns1,ns2", "/data", "/data/o/_temporary/1/_temporary/attempt_1_0001_r_000002_10/d/part-2", "ns2"},
    {"HASH_ALL", "ns1,ns2", "/data", "/data/o/_temporary/1/_temporary/attempt_1_0001_r_000002_10/d/part-2", "ns1"},
    {"HASH", "ns1,ns2", "/data", "/data/\xc3""\xa9""/\xc3""\xbc""", "ns2"},
    {"HASH_ALL", "ns1,ns2", "/data", "/data/\xc3""\xa9""/\xc3""\xbc""", "ns2"},
    {"HASH", "ns1,ns2", "/data", "/data/\xf0""\x9f""\x98""\x80""/z", "ns1"},
    {"HASH_ALL", "ns1,ns2", "/data", "/data/\xf0""\x9f""\x98""\x80""/z", "ns2"},
    {"HASH", "ns1,ns2", "/data", "/data/\xe6""\x97""\xa5""\xe6""\x9c""\xac""/\xe8""\xaa""\x9e""", "ns2"},
    {"HASH_ALL", "ns1,ns2", "/data", "/data/\xe6""\x97""\xa5""\xe6""\x9c""\xac""/\xe8""\xaa""\x9e""", "ns1"},
    {"HASH", "ns1,ns2,ns3", "/data", "/data", "ns2"},
    {"HASH_ALL", "ns1,ns2,ns3", "/data", "/data", "ns2"},
    {"HASH", "ns1,ns2,ns3", "/data", "/data/a", "ns3"},
    {"HASH_ALL", "ns1,ns2,ns3", "/data", "/data/a", "ns3"},
    {"HASH", "ns1,ns2,ns3", "/data", "/data/b/c/d", "ns3"},
    {"HASH_ALL", "ns1,ns2,ns3", "/data", "/data/b/c/d", "ns2"},
    {"HASH", "ns1,ns2,ns3", "/data", "/data/f.COPYING", "ns1"},
    {"HASH_ALL", "ns1,ns2,ns3", "/data", "/data/f.COPYING", "ns1"},
    {"HASH", "ns1,ns2,ns3", "/data", "/data/f._COPYING_", "ns1"},
    {"HASH_ALL", "ns1,ns2,ns3", "/data", "/data/f._COPYING_", "ns1"},
    {"HASH", "ns1,ns2,ns3", "/data", "/data/f._COPYING_x", "ns1"},
    {"HASH_ALL", "ns1,ns2,ns3", "/data", "/data/f._COPYING_x", "ns1"},
    {"HASH", "ns1,ns2,ns3", "/data", "/data/x.tmp", "ns1"},
    {"HASH_ALL", "ns1,ns2,ns3", "/data", "/data/x.tmp", "ns1"},
    {"HASH", "ns1,ns2,ns3", "/data", "/data/.tmp", "ns2"},
    {"HASH_ALL", "ns1,ns2,ns3", "/data", "/data/.tmp", "ns2"},
    {"HASH", "ns1,ns2,ns3", "/data", "/data/_temp/a/b", "ns2"},
    {"HASH_ALL", "ns1,ns2,ns3", "/data", "/data/_temp/a/b", "ns2"},
    {"HASH", "ns1,ns2,ns3", "/data", "/data/my_temp/f", "ns3"},
    {"HASH_ALL", "ns1,ns2,ns3", "/data", "/data/my_temp/f", "ns2"},
    {"HASH", "ns1,ns2,ns3", "/data", "/data/o/_temporary/part-0.0123abcd-0123-4567-89ab-CDEF01234567", "ns2"},
    {"HASH_ALL", "ns1,ns2,ns3", "/data", "/data/o/_temporary/part-0.0123abcd-0123-4567-89ab-CDEF01234567", "ns1"},
    {"HASH", "ns1,ns2,ns3", "/data", "/data/o/_temporary/0/_temporary/attempt_1700000000000_0001_m_000001_0/part-00001", "ns2"},
    {"HASH_ALL", "ns1,ns2,ns3", "/data", "/data/o/_temporary/0/_temporary/attempt_1700000000000_0001_m_000001_0/part-00001", "ns2"},
    {"HASH", "ns1,ns2,ns3", "/data", "/data/o/_temporary/1/_temporary/attempt_1_0001_r_000002_10/d/part-2", "ns2"},
    {"HASH_ALL", "ns1,ns2,ns3", "/data", "/data/o/_temporary/1/_temporary/attempt_1_0001_r_000002_10/d/part-2", "ns1"},
    {"HASH", "ns1,ns2,ns3", "/data", "/data/\xc3""\xa9""/\xc3""\xbc""", "ns2"},
    {"HASH_ALL", "ns1,ns2,ns3", "/data", "/data/\xc3""\xa9""/\xc3""\xbc""", "ns3"},
    {"HASH", "ns1,ns2,ns3", "/data", "/data/\xf0""\x9f""\x98""\x80""/z", "ns1"},
    {"HASH_ALL", "ns1,ns2,ns3", "/data", "/data/\xf0""\x9f""\x98""\x80""/z", "ns2"},
    {"HASH", "ns1,ns2,ns3", "/data", "/data/\xe6""\x97""\xa5""\xe6""\x9c""\xac""/\xe8""\xaa""\x9e""", "ns3"},
    {"HASH_ALL", "ns1,ns2,ns3", "/data", "/data/\xe6""\x97""\xa5""\xe6""\x9c""\xac""/\xe8""\xaa""\x9e""", "ns3"},
    {"HASH", "alpha,beta,gamma,delta", "/data", "/data", "delta"},
    {"HASH_ALL", "alpha,beta,gamma,delta", "/data", "/data", "delta"},
    {"HASH", "alpha,beta,gamma,delta", "/data", "/data/a", "beta"},
    {"HASH_ALL", "alpha,beta,gamma,delta", "/data", "/data/a", "beta"},
    {"HASH", "alpha,beta,gamma,delta", "/data", "/data/b/c/d", "alpha"},
    {"HASH_ALL", "alpha,beta,gamma,delta", "/data", "/data/b/c/d", "gamma"},
    {"HASH", "alpha,beta,gamma,delta", "/data", "/data/f.COPYING", "beta"},
    {"HASH_ALL", "alpha,beta,gamma,delta", "/data", "/data/f.COPYING", "beta"},
    {"HASH", "alpha,beta,gamma,delta", "/data", "/data/f._COPYING_", "beta"},
    {"HASH_ALL", "alpha,beta,gamma,delta", "/data", "/data/f._COPYING_", "beta"},
    {"HASH", "alpha,beta,gamma,delta", "/data", "/data/f._COPYING_x", "beta"},
    {"HASH_ALL", "alpha,beta,gamma,delta", "/data", "/data/f._COPYING_x", "beta"},
    {"HASH", "alpha,beta,gamma,delta", "/data", "/data/x.tmp", "delta"},
    {"HASH_ALL", "alpha,beta,gamma,delta", "/data", "/data/x.tmp", "delta"},
    {"HASH", "alpha,beta,gamma,delta", "/data", "/data/.tmp", "gamma"},
    {"HASH_ALL", "alpha,beta,gamma,delta", "/data", "/data/.tmp", "gamma"},
    {"HASH", "alpha,beta,gamma,delta", "/data", "/data/_temp/a/b", "gamma"},
    {"HASH_ALL", "alpha,beta,gamma,delta", "/data", "/data/_temp/a/b", "gamma"},
    {"HASH", "alpha,beta,gamma,delta", "/data", "/data/my_temp/f", "delta"},
    {"HASH_ALL", "alpha,beta,gamma,delta", "/data", "/data/my_temp/f", "delta"},
    {"HASH", "alpha,beta,gamma,delta", "/data", "/data/o/_temporary/part-0.0123abcd-0123-4567-89ab-CDEF01234567", "alpha"},
    {"HASH_ALL", "alpha,beta,gamma,delta", "/data", "/data/o/_temporary/part-0.0123abcd-0123-4567-89ab-CDEF01234567", "beta"},
    {"HASH", "alpha,beta,gamma,delta", "/data", "/data/o/_temporary/0/_temporary/attempt_1700000000000_0001_m_000001_0/part-00001", "alpha"},
    {"HASH_ALL", "alpha,beta,gamma,delta", "/data", "/data/o/_temporary/0/_temporary/attempt_1700000000000_0001_m_000001_0/part-00001", "beta"},
    {"HASH", "alpha,beta,gamma,delta", "/data", "/data/o/_temporary/1/_temporary/attempt_1_0001_r_000002_10/d/part-2", "alpha"},
    {"HASH_ALL", "alpha,beta,gamma,delta", "/data", "/data/o/_temporary/1/_temporary/attempt_1_0001_r_000002_10/d/part-2", "delta"},
    {"HASH", "alpha,beta,gamma,delta", "/data", "/data/\xc3""\xa9""/\xc3""\xbc""", "delta"},
    {"HASH_ALL", "alpha,beta,gamma,delta", "/data", "/data/\xc3""\xa9""/\xc3""\xbc""", "alpha"},
    {"HASH", "alpha,beta,gamma,delta", "/data", "/data/\xf0""\x9f""\x98""\x80""/z", "beta"},
    {"HASH_ALL", "alpha,beta,gamma,delta", "/data", "/data/\xf0""\x9f""\x98""\x80""/z", "beta"},
    {"HASH", "alpha,beta,gamma,delta", "/data", "/data/\xe6""\x97""\xa5""\xe6""\x9c""\xac""/\xe8""\xaa""\x9e""", "alpha"},
    {"HASH_ALL", "alpha,beta,gamma,delta", "/data", "/data/\xe6""\x97""\xa5""\xe6""\x9c""\xac""/\xe8""\xaa""\x9e""", "beta"},
    {"HASH", "ns1,ns2", "/", "/", "ns2"},
    {"HASH_ALL", "ns1,ns2", "/", "/", "ns2"},
    {"HASH", "ns1,ns2", "/", "/a", "ns2"},
    {"HASH_ALL", "ns1,ns2", "/", "/a", "ns2"},
    {"HASH", "ns1,ns2", "/", "/a/b/c", "ns2"},
    {"HASH_ALL", "ns1,ns2", "/", "/a/b/c", "ns2"},
    {"HASH", "ns1,ns2", "/", "/x.tmp", "ns1"},
    {"HASH_ALL", "ns1,ns2", "/", "/x.tmp", "ns1"},
    {"HASH", "ns1,ns2", "/data", "/data/user1/x", "ns2"},
    {"HASH_ALL", "ns1,ns2", "/data", "/data/user1/x", "ns2"},
    {"HASH", "ns1,ns2", "/data", "/data/user2", "ns1"},
    {"HASH_ALL", "ns1,ns2", "/data", "/data/user2", "ns1"},
    {"HASH", "ns1,ns2", "/data", "/data/u331/f0", "ns2"},
    {"HASH_ALL", "ns1,ns2", "/data", "/data/u331/f0", "ns1"},
    {"HASH", "ns1,ns2", "/data", "/data/u970/f1", "ns1"},
    {"HASH_ALL", "ns1,ns2", "/data", "/data/u970/f1", "ns2"},
    {"HASH", "ns1,ns2", "/data", "/data/u154/f2", "ns2"},
    {"HASH_ALL", "ns1,ns2", "/data", "/data/u154/f2", "ns2"},
    {"HASH", "ns1,ns2", "/data", "/data/u404/f3", "ns2"},
    {"HASH_ALL", "ns1,ns2", "/data", "/data/u404/f3", "ns2"},
    {"HASH", "ns1,ns2", "/data", "/data/u666/f4", "ns1"},
    {"HASH_ALL", "ns1,ns2", "/data", "/data/u666/f4", "ns1"},
    {"HASH", "ns1,ns2", "/data", "/data/u49/f5", "ns2"},
    {"HASH_ALL", "ns1,ns2", "/data", "/data/u49/f5", "ns1"},
    {"HASH", "ns1,ns2", "/data", "/data/u74/f6", "ns2"},
    {"HASH_ALL", "ns1,ns2", "/data", "/data/u74/f6", "ns2"},
    {"HASH", "ns1,ns2", "/data", "/data/u840/f7", "ns1"},
    {"HASH_ALL", "ns1,ns2", "/data", "/data/u840/f7", "ns1"},
    {"HASH", "ns1,ns2", "/data", "/data/u548/f8", "ns2"},
    {"HASH_ALL", "ns1,ns2", "/data", "/data/u548/f8", "ns2"},
    {"HASH", "ns1,ns2", "/data", "/data/u96/f9", "ns1"},
    {"HASH_ALL", "ns1,ns2", "/data", "/data/u96/f9", "ns1"},
};

static void test_hash_vectors(void)
{
    int bad = 0;
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        const struct vec *v = &vectors[i];
        struct record_set set;
        recset_init(&set);
        char dests[256] = "", nss[128];
        snprintf(nss, sizeof nss, "%s", v->nss);
        for (char *save, *tok = strtok_r(nss, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            char one[64];
            snprintf(one, sizeof one, "%s%s:/d_%s", *dests ? ", " : "", tok, tok);
            strcat(dests, one);
        }
        add_mount(&set, v->src, dests, v->order);
        struct snapshot *s = build(&set, NULL);
        struct resolve_result r;
        int rc = snapshot_resolve(s, v->path, strlen(v->path), NULL, &r, buf, sizeof buf);
        if (rc != RES_OK || strcmp(r.ns->name, v->want)) {
            fprintf(stderr, "%s {%s} %s %s: got %s, want %s\n", v->order, v->nss, v->src, v->path,
                    rc ? "error" : r.ns->name, v->want);
            bad++;
        } else {
            char w[64];
            snprintf(w, sizeof w, "/d_%s", v->want);
            CHECK(!strncmp(r.path, w, strlen(w)));
        }
        snapshot_release(s);
        recset_free(&set);
    }
    CHECK(bad == 0);
}

static void test_orders(void)
{
    struct record_set set;
    recset_init(&set);
    add(&set, "[nameservice ns1]\nnamenodes = a:1\n");
    add(&set, "[nameservice ns2]\nnamenodes = b:1\n");
    add(&set, "[nameservice ns3]\nnamenodes = c:1\ndisabled = true\n");
    add_mount(&set, "/h", "ns1:/h1, ns2:/h2a, ns2:/h2b, ns3:/h3", "HASH");
    add_mount(&set, "/r", "ns1:/r, ns2:/r", "RANDOM");
    add_mount(&set, "/l", "ns1:/l, ns2:/l", "LOCAL");
    add_mount(&set, "/s", "ns1:/s, ns2:/s", "SPACE");
    add_mount(&set, "/lf", "ns2:/a, ns1:/b, ns2:/c", "LEADER_FOLLOWER");
    add_mount(&set, "/dis", "ns3:/x", "HASH");
    add_mount(&set, "/one", "ns2:/one", "RANDOM");
    struct snapshot *s = build(&set, "ns3");
    struct resolve_result r;
    char p2[256];

    /* HASH: every path below the same first component lands together */
    int per_ns[3] = {0};
    for (int i = 0; i < 200; i++) {
        char path[64], deep[80];
        snprintf(path, sizeof path, "/h/u%d", i);
        CHECK(snapshot_resolve(s, path, strlen(path), NULL, &r, buf, sizeof buf) == RES_OK);
        const struct snap_ns *first = r.ns;
        per_ns[first->idx]++;
        snprintf(deep, sizeof deep, "/h/u%d/x/y.tmp", i);
        CHECK(snapshot_resolve(s, deep, strlen(deep), NULL, &r, buf, sizeof buf) == RES_OK && r.ns == first);
    }
    CHECK(per_ns[0] > 30 && per_ns[1] > 30); /* spread over ns1 and ns2; ns3 is disabled */
    CHECK(per_ns[2] == 0);

    /* priority order: the hashed nameservice's destinations last-written first, then the others,
     * disabled ones left out */
    int found = 0;
    for (int i = 0; i < 200 && found != 3; i++) {
        char path[64];
        snprintf(path, sizeof path, "/h/k%d/f", i);
        CHECK(snapshot_resolve(s, path, strlen(path), NULL, &r, buf, sizeof buf) == RES_OK);
        if (r.ns->idx == 1 && !(found & 1)) {
            found |= 1;
            CHECK(r.dest == 2 && resolve_dest_at(&r, 1) == 1 && resolve_dest_at(&r, 2) == 0 &&
                  resolve_dest_at(&r, 3) == -1);
            char want[64];
            snprintf(want, sizeof want, "/h2b/k%d/f", i);
            CHECK(!strcmp(r.path, want));
            CHECK(resolve_dest_path(&r, 0, p2, sizeof p2) > 0 && !strncmp(p2, "/h1/k", 5));
            CHECK(resolve_dest_path(&r, 3, p2, sizeof p2) > 0 && !strncmp(p2, "/h3/k", 5));
            CHECK(resolve_dest_path(&r, 0, p2, 4) == -1 && resolve_dest_path(&r, 9, p2, sizeof p2) == -1);
        }
        if (r.ns->idx == 0 && !(found & 2)) {
            found |= 2;
            CHECK(r.dest == 0 && resolve_dest_at(&r, 1) == 1 && resolve_dest_at(&r, 2) == 2 &&
                  resolve_dest_at(&r, 3) == -1);
        }
    }
    CHECK(found == 3);

    /* RANDOM: both, reproducible with a caller generator */
    uint64_t seed = 12345;
    struct resolve_opts o = {.rng = &seed};
    int cnt[2] = {0};
    for (int i = 0; i < 400; i++) {
        CHECK(snapshot_resolve(s, "/r/f", 4, &o, &r, buf, sizeof buf) == RES_OK);
        cnt[r.ns->idx]++;
        CHECK(!strcmp(r.path, "/r/f"));
    }
    CHECK(cnt[0] > 120 && cnt[1] > 120);
    int tl[2] = {0};
    for (int i = 0; i < 200; i++) {
        CHECK(snapshot_resolve(s, "/r/f", 4, NULL, &r, buf, sizeof buf) == RES_OK);
        tl[r.ns->idx]++;
    }
    CHECK(tl[0] > 40 && tl[1] > 40);
    CHECK(snapshot_resolve(s, "/one/x", 6, &o, &r, buf, sizeof buf) == RES_OK && r.dest == 0 && !r.flags);

    /* LOCAL: needs the client's subcluster, else the written order with a note */
    CHECK(snapshot_resolve(s, "/l/f", 4, NULL, &r, buf, sizeof buf) == RES_OK && r.dest == 0);
    CHECK((r.flags & RES_FALLBACK) && strstr(r.why, "LOCAL"));
    o.local_ns = snapshot_ns_find(s, "ns2");
    CHECK(snapshot_resolve(s, "/l/f", 4, &o, &r, buf, sizeof buf) == RES_OK && r.dest == 1 && !r.flags);
    CHECK(resolve_dest_at(&r, 1) == 0);

    /* LEADER_FOLLOWER: the first destination's nameservice leads */
    CHECK(snapshot_resolve(s, "/lf/z", 5, NULL, &r, buf, sizeof buf) == RES_OK && r.dest == 2 &&
          resolve_dest_at(&r, 1) == 0 && resolve_dest_at(&r, 2) == 1);

    /* disabled everywhere */
    CHECK(snapshot_resolve(s, "/dis/z", 6, NULL, &r, buf, sizeof buf) == RES_EDISABLED && !r.mount);
    CHECK(snapshot_resolve(s, "/nomount", 8, NULL, &r, buf, sizeof buf) == RES_EDISABLED);
    snapshot_release(s);
    recset_free(&set);
}

static uint64_t space_of[2];

static int space_fn(void *ctx, const struct snap_ns *ns, uint64_t *avail)
{
    (*(int *)ctx)++;
    if (!strcmp(ns->name, "ns9"))
        return -1;
    *avail = space_of[ns->name[2] - '1'];
    return 0;
}

static void test_space(void)
{
    struct record_set set;
    recset_init(&set);
    add_mount(&set, "/s", "ns1:/s, ns9:/s, ns2:/s", "SPACE");
    struct snapshot *s = build(&set, NULL);
    struct resolve_result r;
    int calls = 0;
    struct resolve_opts o = {.space = space_fn, .space_ctx = &calls};
    space_of[0] = 100;
    space_of[1] = 500;
    CHECK(snapshot_resolve(s, "/s/a", 4, &o, &r, buf, sizeof buf) == RES_OK && r.dest == 2 && calls == 3);
    CHECK(resolve_dest_at(&r, 1) == 0 && resolve_dest_at(&r, 2) == 1);
    space_of[0] = 900;
    CHECK(snapshot_resolve(s, "/s/a", 4, &o, &r, buf, sizeof buf) == RES_OK && r.dest == 0);
    CHECK(snapshot_resolve(s, "/s/a", 4, NULL, &r, buf, sizeof buf) == RES_OK && r.dest == 0 &&
          (r.flags & RES_FALLBACK) && strstr(r.why, "SPACE"));
    /* with a preference below 1 the emptier one wins most of the time, not always */
    uint64_t seed = 99;
    o.rng = &seed;
    o.space_preference = 0.7;
    int first = 0;
    for (int i = 0; i < 1000; i++) {
        CHECK(snapshot_resolve(s, "/s/a", 4, &o, &r, buf, sizeof buf) == RES_OK);
        first += r.dest == 0;
    }
    CHECK(first > 600 && first < 800);
    snapshot_release(s);
    recset_free(&set);
}

static void test_metastores(void)
{
    struct record_set set;
    recset_init(&set);
    add(&set, "[metastore main]\nuris = thrift://h:9083\nprimary = true\n");
    add(&set, "[metastore sales]\nuris = thrift://h:9084\n");
    add(&set, "[metastore salesx]\nuris = thrift://h:9085\nprefix = sales_x_\n");
    struct snapshot *s = build(&set, NULL);
    size_t pl;
    CHECK(snapshot_ms_count(s) == 3 && !strcmp(snapshot_ms_primary(s)->name, "main"));
    CHECK(!strcmp(snapshot_ms_for_db(s, "sales_db", 8, &pl)->name, "sales") && pl == 6);
    CHECK(!strcmp(snapshot_ms_for_db(s, "SALES_X_db", 10, &pl)->name, "salesx") && pl == 8);
    CHECK(!strcmp(snapshot_ms_for_db(s, "default", 7, &pl)->name, "main") && pl == 0);
    CHECK(!strcmp(snapshot_ms_for_db(s, "sales_", 6, &pl)->name, "sales") && pl == 6);
    CHECK(!strcmp(snapshot_ms_for_db(s, "sales", 5, &pl)->name, "main"));
    CHECK(!strcmp(snapshot_ms_at(s, 1)->uris[0], "thrift://h:9084"));
    snapshot_release(s);
    recset_free(&set);
    recset_init(&set);
    add(&set, "[metastore sales]\nuris = thrift://h:9084\n");
    s = build(&set, NULL);
    CHECK(snapshot_ms_for_db(s, "default", 7, &pl) == NULL && snapshot_ms_primary(s) == NULL);
    snapshot_release(s);
    recset_free(&set);
}

/* ---- publication ---- */

struct pub {
    struct snapshot_ref ref;
    _Atomic int stop;
    _Atomic long reads;
};

static void *reader(void *arg)
{
    struct pub *p = arg;
    char b[256];
    while (!atomic_load(&p->stop)) {
        struct snapshot *s = snapshot_acquire(&p->ref);
        if (!s)
            continue;
        struct resolve_result r;
        /* each snapshot maps /v to /v<version>: a stale read of freed memory would show */
        if (snapshot_resolve(s, "/v/x", 4, NULL, &r, b, sizeof b) == RES_OK) {
            char want[64];
            snprintf(want, sizeof want, "/v%llu/x", (unsigned long long)snapshot_version(s));
            if (strcmp(r.path, want))
                atomic_store(&p->stop, 2);
        }
        struct snapshot *again = snapshot_hold(s);
        snapshot_release(s);
        snapshot_release(again);
        atomic_fetch_add(&p->reads, 1);
    }
    return NULL;
}

/* a snapshot mapping /v to /v<dv>, numbered v (0: by the holder) */
static struct snapshot *versioned(uint64_t v, uint64_t dv)
{
    struct record_set set;
    recset_init(&set);
    char d[64];
    snprintf(d, sizeof d, "ns1:/v%llu", (unsigned long long)dv);
    add_mount(&set, "/v", d, NULL);
    struct snap_params p = {.version = v};
    struct snapshot *s = snapshot_build(&set, &p, NULL);
    recset_free(&set);
    return s;
}

static void test_publish(void)
{
    struct pub p;
    snapshot_ref_init(&p.ref, NULL);
    atomic_init(&p.stop, 0);
    atomic_init(&p.reads, 0);
    CHECK(snapshot_acquire(&p.ref) == NULL);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, reader, &p);
    /* a call may hold a snapshot across many publications */
    snapshot_ref_publish(&p.ref, versioned(1, 1));
    struct snapshot *held = snapshot_acquire(&p.ref);
    for (uint64_t v = 2; v <= 300; v++)
        snapshot_ref_publish(&p.ref, versioned(v, v));
    struct resolve_result r;
    CHECK(snapshot_resolve(held, "/v/y", 4, NULL, &r, buf, sizeof buf) == RES_OK && !strcmp(r.path, "/v1/y"));
    snapshot_release(held);
    /* version numbering by the holder */
    struct snapshot *auto_v = versioned(0, 301);
    snapshot_ref_publish(&p.ref, auto_v);
    struct snapshot *cur = snapshot_acquire(&p.ref);
    CHECK(cur == auto_v && snapshot_version(cur) == 301);
    snapshot_release(cur);
    /* The readers must have run against the publications (on a loaded
     * machine they may not have been scheduled yet): wait, bounded. */
    for (int i = 0; i < 5000 && atomic_load(&p.reads) < 1000 && !atomic_load(&p.stop); i++)
        usleep(1000);
    atomic_store(&p.stop, atomic_load(&p.stop) ? atomic_load(&p.stop) : 1);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK(atomic_load(&p.stop) == 1);
    CHECK(atomic_load(&p.reads) > 0);
    snapshot_ref_destroy(&p.ref);
}

int main(void)
{
    test_basic();
    test_walk();
    test_skips();
    test_hash_vectors();
    test_orders();
    test_space();
    test_metastores();
    test_publish();
    return check_report();
}
