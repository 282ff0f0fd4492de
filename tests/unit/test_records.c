/* test_records: path normalisation, record keys and validation, canonical
 * text round trips, INI lines, and checks across a record set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "records.h"

static int norm_ok(const char *in, const char *want)
{
    char buf[FR_PATH_MAX + 2];
    const char *why = NULL;
    long n = path_normalize(in, strlen(in), buf, sizeof buf, &why);
    if (n < 0 || strcmp(buf, want) || (size_t)n != strlen(want)) {
        fprintf(stderr, "normalize '%s': got '%s' (%s), want '%s'\n", in, n < 0 ? "" : buf, n < 0 ? why : "", want);
        return 0;
    }
    return 1;
}

static int norm_bad(const char *in, const char *why_part)
{
    char buf[64];
    const char *why = NULL;
    long n = path_normalize(in, strlen(in), buf, sizeof buf, &why);
    return n < 0 && why && strstr(why, why_part);
}

static void test_paths(void)
{
    CHECK(norm_ok("/", "/"));
    CHECK(norm_ok("//", "/"));
    CHECK(norm_ok("/a", "/a"));
    CHECK(norm_ok("/a/", "/a"));
    CHECK(norm_ok("//a///b//", "/a/b"));
    CHECK(norm_ok("/a/.b/c..", "/a/.b/c.."));
    CHECK(norm_ok("/a b/ü", "/a b/ü"));
    CHECK(norm_bad("", "empty"));
    CHECK(norm_bad("a/b", "absolute"));
    CHECK(norm_bad("/a/./b", "'.'"));
    CHECK(norm_bad("/a/..", "'..'"));
    CHECK(norm_bad("/..", "'..'"));
    CHECK(norm_bad("/a:b", "':'"));
    /* NUL inside the given length */
    char buf[16];
    const char *why;
    CHECK(path_normalize("/a\0b", 4, buf, sizeof buf, &why) < 0 && strstr(why, "NUL"));
    /* buffer too small / in place */
    CHECK(path_normalize("/abcdef", 7, buf, 4, &why) < 0 && strstr(why, "too small"));
    char inplace[] = "//x//y/";
    CHECK(path_normalize(inplace, strlen(inplace), inplace, sizeof inplace, &why) == 4 && !strcmp(inplace, "/x/y"));
    /* length bound */
    size_t big = FR_PATH_MAX + 1;
    char *p = malloc(big + 1), *o = malloc(big + 2);
    memset(p, 'a', big);
    p[0] = '/';
    CHECK(path_normalize(p, big, o, big + 2, &why) < 0 && strstr(why, "longer"));
    CHECK(path_normalize(p, FR_PATH_MAX, o, big + 2, &why) == FR_PATH_MAX);
    free(p);
    free(o);
}

static void test_helpers(void)
{
    bool b;
    CHECK(parse_bool("Yes", &b) == 0 && b);
    CHECK(parse_bool("off", &b) == 0 && !b);
    CHECK(parse_bool("nope", &b) < 0);
    int64_t v;
    CHECK(parse_i64("128m", true, &v) == 0 && v == 128LL << 20);
    CHECK(parse_i64("128MiB", true, &v) == 0 && v == 128LL << 20);
    CHECK(parse_i64("10t", true, &v) == 0 && v == 10LL << 40);
    CHECK(parse_i64("10t", false, &v) < 0);
    CHECK(parse_i64("", false, &v) < 0);
    CHECK(parse_i64("9223372036854775807", false, &v) == 0 && v == INT64_MAX);
    CHECK(parse_i64("9223372036854775808", false, &v) < 0);
    CHECK(parse_i64("9100000000000000k", true, &v) < 0);
    CHECK(parse_i64("8000000000000000k", true, &v) == 0 && v == 8000000000000000LL * 1024);
    char w[160];
    CHECK(hostport_check("nn1.example.com:8020", 1, w, sizeof w) == 0);
    CHECK(hostport_check("127.0.0.1:0", 0, w, sizeof w) == 0);
    CHECK(hostport_check("127.0.0.1:0", 1, w, sizeof w) < 0 && strstr(w, "port"));
    CHECK(hostport_check("[::1]:9000", 1, w, sizeof w) == 0);
    CHECK(hostport_check("::1:9000", 1, w, sizeof w) < 0);
    CHECK(hostport_check("host", 1, w, sizeof w) < 0 && strstr(w, "host:port"));
    CHECK(hostport_check(":80", 1, w, sizeof w) < 0 && strstr(w, "empty host"));
    CHECK(hostport_check("h:65536", 1, w, sizeof w) < 0);
    CHECK(hostport_check("h:+80", 1, w, sizeof w) < 0);
    CHECK(hostport_check("a b:80", 1, w, sizeof w) < 0);
    CHECK(name_valid("ns-1.prod_a"));
    CHECK(!name_valid("ns:1"));
    CHECK(!name_valid(""));
    enum mount_order o;
    CHECK(mount_order_parse("hash_all", &o) == 0 && o == ORDER_HASH_ALL);
    CHECK(mount_order_parse("SPACE", &o) == 0 && o == ORDER_SPACE && !strcmp(mount_order_name(o), "SPACE"));
    CHECK(mount_order_parse("LEAST", &o) < 0);
    CHECK(mount_order_folder_all(ORDER_RANDOM) && !mount_order_folder_all(ORDER_HASH));
}

static void test_mount(void)
{
    struct record r;
    char w[256];
    CHECK(record_init(&r, REC_MOUNT, "/data//x/", w, sizeof w) == 0);
    CHECK(!strcmp(r.u.mount.src, "/data/x"));
    CHECK(r.u.mount.order == ORDER_HASH && r.u.mount.mode == 0755 && r.u.mount.ns_quota == -1);
    CHECK(record_finish(&r, w, sizeof w) < 0 && strstr(w, "destinations is required"));
    CHECK(record_set(&r, "destinations", "ns1:/data/x, ns2:/d2//", w, sizeof w) == 0);
    CHECK(r.u.mount.ndests == 2 && !strcmp(r.u.mount.dests[1].ns, "ns2") && !strcmp(r.u.mount.dests[1].path, "/d2"));
    CHECK(record_set(&r, "order", "hash_all", w, sizeof w) == 0 && r.u.mount.order == ORDER_HASH_ALL);
    CHECK(record_set(&r, "order", "BEST", w, sizeof w) == -1 && strstr(w, "HASH"));
    CHECK(record_set(&r, "readonly", "true", w, sizeof w) == 0 && r.u.mount.readonly);
    CHECK(record_set(&r, "readonly", "maybe", w, sizeof w) == -1 && strstr(w, "boolean"));
    CHECK(record_set(&r, "mode", "750", w, sizeof w) == 0 && r.u.mount.mode == 0750);
    CHECK(record_set(&r, "mode", "0789", w, sizeof w) == -1);
    CHECK(record_set(&r, "mode", "02000", w, sizeof w) == -1);
    CHECK(record_set(&r, "quota.ss", "10g", w, sizeof w) == 0 && r.u.mount.ss_quota == 10LL << 30);
    CHECK(record_set(&r, "quota.ns", "1000", w, sizeof w) == 0 && r.u.mount.ns_quota == 1000);
    CHECK(record_set(&r, "quota.ns", "0", w, sizeof w) == -1);
    CHECK(record_set(&r, "owner", "hdfs", w, sizeof w) == 0);
    CHECK(record_set(&r, "destination", "ns1:/x", w, sizeof w) == -2 && strstr(w, "unknown key"));
    CHECK(record_set(&r, "destinations", "ns1/data", w, sizeof w) == -1 && strstr(w, "nameservice:/path"));
    CHECK(record_set(&r, "destinations", "ns1:data", w, sizeof w) == -1 && strstr(w, "absolute"));
    CHECK(record_set(&r, "destinations", "ns1:/a,,ns2:/b", w, sizeof w) == -1 && strstr(w, "empty item"));
    CHECK(record_set(&r, "destinations", "n s:/a", w, sizeof w) == -1);
    CHECK(r.u.mount.ndests == 2); /* failed sets leave the old value */
    if (record_finish(&r, w, sizeof w) != 0)
        fprintf(stderr, "finish: %s\n", w);

    /* canonical text, short and full, both parse back to the same text */
    char t1[1024], t2[1024], t3[1024];
    record_format(&r, false, t1, sizeof t1);
    CHECK(!strcmp(t1, "[mount /data/x]\ndestinations = ns1:/data/x, ns2:/d2\norder = HASH_ALL\nreadonly = true\n"
                      "owner = hdfs\nmode = 0750\nquota.ns = 1000\nquota.ss = 10737418240\n"));
    size_t full = record_format(&r, true, t2, sizeof t2);
    CHECK(full == strlen(t2) && strstr(t2, "faulttolerant = false\n") && strstr(t2, "group = \n"));
    struct record back;
    CHECK(record_parse_text(t2, strlen(t2), &back, w, sizeof w) == 0);
    record_format(&back, true, t3, sizeof t3);
    CHECK(!strcmp(t2, t3));
    record_free(&back);
    CHECK(record_parse_text(t1, strlen(t1), &back, w, sizeof w) == 0);
    record_format(&back, true, t3, sizeof t3);
    CHECK(!strcmp(t2, t3));
    /* truncation follows snprintf */
    char small[10];
    CHECK(record_format(&back, true, small, sizeof small) == full && strlen(small) == 9);
    record_free(&back);

    struct record cp;
    CHECK(record_copy(&cp, &r) == 0);
    record_format(&cp, true, t3, sizeof t3);
    CHECK(!strcmp(t2, t3));
    record_free(&cp);
    record_free(&r);

    CHECK(record_init(&r, REC_MOUNT, "/a/../b", w, sizeof w) < 0 && strstr(w, "'..'"));
    CHECK(record_init(&r, REC_MOUNT, "rel", w, sizeof w) < 0 && strstr(w, "absolute"));
    /* duplicate destination */
    CHECK(record_parse_text("[mount /a]\ndestinations = ns1:/a, ns1:/a/\n", 42, &r, w, sizeof w) < 0 &&
          strstr(w, "listed twice"));
    /* the root can be a mount point */
    const char *root = "[mount /]\ndestinations = ns1:/\n";
    CHECK(record_parse_text(root, strlen(root), &r, w, sizeof w) == 0 && !strcmp(r.u.mount.src, "/"));
    record_free(&r);
}

static void test_ns_ms(void)
{
    struct record r;
    char w[256];
    const char *t = "# a nameservice\n[nameservice ns1]\nnamenodes = 127.0.0.1:9000 , nn2:9002  # HA\n";
    CHECK(record_parse_text(t, strlen(t), &r, w, sizeof w) == 0);
    CHECK(r.kind == REC_NAMESERVICE && r.u.ns.nnamenodes == 2 && !strcmp(r.u.ns.namenodes[1], "nn2:9002"));
    CHECK(!r.u.ns.disabled);
    char out[256];
    record_format(&r, false, out, sizeof out);
    CHECK(!strcmp(out, "[nameservice ns1]\nnamenodes = 127.0.0.1:9000, nn2:9002\n"));
    record_free(&r);
    t = "[nameservice ns1]\nnamenodes = 127.0.0.1\n";
    CHECK(record_parse_text(t, strlen(t), &r, w, sizeof w) < 0 && strstr(w, "line 2") && strstr(w, "host:port"));
    t = "[nameservice ns1]\n";
    CHECK(record_parse_text(t, strlen(t), &r, w, sizeof w) < 0 && strstr(w, "namenodes is required"));
    t = "[nameservice n/s]\nnamenodes = a:1\n";
    CHECK(record_parse_text(t, strlen(t), &r, w, sizeof w) < 0 && strstr(w, "name"));

    /* metastore defaults depend on primary */
    t = "[metastore Sales]\nuris = thrift://127.0.0.1:9084\n";
    CHECK(record_parse_text(t, strlen(t), &r, w, sizeof w) == 0);
    CHECK(!strcmp(r.u.ms.prefix, "sales_") && r.u.ms.access == MS_READ_ONLY && !r.u.ms.primary);
    record_format(&r, false, out, sizeof out);
    CHECK(!strcmp(out, "[metastore Sales]\nuris = thrift://127.0.0.1:9084\n"));
    record_free(&r);
    t = "[metastore main]\nuris = thrift://h:9083, thrift://h2:9083\nprimary = true\n";
    CHECK(record_parse_text(t, strlen(t), &r, w, sizeof w) == 0);
    CHECK(!strcmp(r.u.ms.prefix, "") && r.u.ms.access == MS_READ_WRITE && r.u.ms.nuris == 2);
    record_format(&r, true, out, sizeof out);
    CHECK(strstr(out, "prefix = \n") && strstr(out, "access = read-write\n"));
    record_free(&r);
    t = "[metastore m]\nuris = http://h:1\n";
    CHECK(record_parse_text(t, strlen(t), &r, w, sizeof w) < 0 && strstr(w, "thrift://"));
    t = "[metastore m]\nuris = thrift://h:1\nprefix = Sales_\n";
    CHECK(record_parse_text(t, strlen(t), &r, w, sizeof w) < 0 && strstr(w, "a-z"));
    t = "[metastore m.x]\nuris = thrift://h:1\n";
    CHECK(record_parse_text(t, strlen(t), &r, w, sizeof w) < 0 && strstr(w, "set prefix"));
    t = "[metastore m]\nuris = thrift://h:1\naccess = write\n";
    CHECK(record_parse_text(t, strlen(t), &r, w, sizeof w) < 0 && strstr(w, "read-only or read-write"));
    t = "[metastore m]\nuris = thrift://h:1\n[metastore n]\n";
    CHECK(record_parse_text(t, strlen(t), &r, w, sizeof w) < 0 && strstr(w, "second section"));
    t = "uris = thrift://h:1\n";
    CHECK(record_parse_text(t, strlen(t), &r, w, sizeof w) < 0 && strstr(w, "before"));
    t = "[table m]\n";
    CHECK(record_parse_text(t, strlen(t), &r, w, sizeof w) < 0 && strstr(w, "unknown record kind"));
}

static void test_ini(void)
{
    struct ini_line l;
    char a[] = "  [mount  /a b ]  # c";
    CHECK(ini_parse_line(a, &l) == INI_SECTION && !strcmp(l.a, "mount") && !strcmp(l.b, "/a b"));
    char b[] = "[router]\r\n";
    CHECK(ini_parse_line(b, &l) == INI_SECTION && !strcmp(l.a, "router") && !strcmp(l.b, ""));
    char c[] = "admin.listen = 127.0.0.1:8021        # GET /metrics";
    CHECK(ini_parse_line(c, &l) == INI_KV && !strcmp(l.a, "admin.listen") && !strcmp(l.b, "127.0.0.1:8021"));
    char d[] = "k = a#b";
    CHECK(ini_parse_line(d, &l) == INI_KV && !strcmp(l.b, "a#b"));
    char e[] = "k = \"x # y\"  # z";
    CHECK(ini_parse_line(e, &l) == INI_KV && !strcmp(l.b, "x # y"));
    char f[] = "k =";
    CHECK(ini_parse_line(f, &l) == INI_KV && !strcmp(l.b, ""));
    char g[] = "just words";
    CHECK(ini_parse_line(g, &l) == INI_ERROR && strstr(l.why, "key = value"));
    char h[] = "[mount /a";
    CHECK(ini_parse_line(h, &l) == INI_ERROR);
    char i[] = "[a] x";
    CHECK(ini_parse_line(i, &l) == INI_ERROR);
    char j[] = "   # only a comment";
    CHECK(ini_parse_line(j, &l) == INI_BLANK);
    char k[] = "a b = c";
    CHECK(ini_parse_line(k, &l) == INI_ERROR);
    char m[] = "k = \"open";
    CHECK(ini_parse_line(m, &l) == INI_ERROR);
}

struct probs {
    int n;
    char last[512];
};

static void collect(void *ctx, const struct record *r, const char *why)
{
    struct probs *p = ctx;
    p->n++;
    snprintf(p->last, sizeof p->last, "%s", why);
}

static void add(struct record_set *s, const char *text, int line)
{
    struct record r;
    char w[256];
    if (record_parse_text(text, strlen(text), &r, w, sizeof w) < 0) {
        fprintf(stderr, "parse: %s\n", w);
        CHECK(0);
        return;
    }
    r.line = line;
    CHECK(recset_add(s, &r) == 0);
}

static void test_set(void)
{
    struct record_set s;
    recset_init(&s);
    add(&s, "[nameservice ns1]\nnamenodes = a:1\n", 1);
    add(&s, "[nameservice ns2]\nnamenodes = b:1\n", 3);
    add(&s, "[mount /a]\ndestinations = ns1:/a\n", 5);
    add(&s, "[mount /b]\ndestinations = ns1:/b, ns2:/b\n", 7);
    add(&s, "[metastore main]\nuris = thrift://h:1\nprimary = true\n", 9);
    add(&s, "[metastore sales]\nuris = thrift://h:2\n", 11);
    struct probs p = {0};
    CHECK(recset_validate(&s, "ns1", true, collect, &p) == 0);
    CHECK(recset_find(&s, REC_MOUNT, "/b") && !recset_find(&s, REC_MOUNT, "/c"));
    CHECK(recset_find(&s, REC_NAMESERVICE, "ns2")->line == 3);

    add(&s, "[mount /c]\ndestinations = ns3:/c\n", 13);
    p.n = 0;
    CHECK(recset_validate(&s, "ns1", false, collect, &p) == 0);
    CHECK(recset_validate(&s, "ns9", true, collect, &p) == 2 && strstr(p.last, "'ns9'"));
    CHECK(recset_remove(&s, REC_MOUNT, "/c") && !recset_remove(&s, REC_MOUNT, "/c"));

    add(&s, "[mount /a]\ndestinations = ns2:/a\n", 15);
    add(&s, "[metastore other]\nuris = thrift://h:3\nprimary = true\nprefix = sales_\n", 17);
    p.n = 0;
    CHECK(recset_validate(&s, NULL, true, collect, &p) == 3);
    recset_free(&s);
    /* a big set: duplicate detection is not quadratic */
    recset_init(&s);
    for (int i = 0; i < 20000; i++) {
        char t[96];
        snprintf(t, sizeof t, "[mount /m/%d]\ndestinations = ns1:/m/%d\n", i % 19999, i);
        add(&s, t, i + 1);
    }
    add(&s, "[nameservice ns1]\nnamenodes = a:1\n", 1);
    p.n = 0;
    CHECK(recset_validate(&s, NULL, true, collect, &p) == 1 && strstr(p.last, "duplicate [mount /m/0]") &&
          strstr(p.last, "line 1)"));
    recset_free(&s);

    size_t nk;
    const struct rec_key *k = record_keys(&nk);
    CHECK(nk >= 15 && k[0].kind == REC_MOUNT && !strcmp(k[0].name, "destinations") && !k[0].def);
}

int main(void)
{
    test_paths();
    test_helpers();
    test_mount();
    test_ns_ms();
    test_ini();
    test_set();
    return check_report();
}
