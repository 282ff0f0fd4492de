/* test_config: the configuration corpus (argv[1] = the configs folder: every
 * every .ini in valid/ must load; every one in invalid/ must fail with the substring its
 * first line names after "# "), defaults, --help text, error collection and
 * the snapshot built from a file. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"

static char buf[2 * FR_PATH_MAX + 2];

static int has_error(const struct cfg_error *e, const char *part)
{
    for (int i = 0; i < e->n; i++)
        if (strstr(e->msg[i], part))
            return 1;
    return 0;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Names of the *.ini files in dir, sorted; count in *n. */
static char **list_ini(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    char **v = NULL;
    *n = 0;
    if (!d)
        return NULL;
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".ini"))
            continue;
        v = realloc(v, (*n + 1) * sizeof *v);
        v[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(v, *n, sizeof *v, by_name);
    return v;
}

static void test_corpus(const char *root)
{
    char dir[1024], path[2048];
    size_t n;
    snprintf(dir, sizeof dir, "%s/valid", root);
    char **files = list_ini(dir, &n);
    CHECK(n >= 5);
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        struct config c;
        struct cfg_error e;
        int rc = config_load(path, &c, &e);
        if (rc != 0) {
            fprintf(stderr, "valid config %s failed:\n", files[i]);
            cfg_error_print(&e, stderr);
        }
        CHECK(rc == 0);
        if (rc == 0) {
            struct snap_stats st;
            struct snapshot *s = config_build_snapshot(&c, 1, &st);
            CHECK(s && st.skipped == 0);
            snapshot_release(s);
            config_free(&c);
        }
        free(files[i]);
    }
    free(files);

    snprintf(dir, sizeof dir, "%s/invalid", root);
    files = list_ini(dir, &n);
    CHECK(n >= 40);
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        char want[512] = "";
        FILE *f = fopen(path, "r");
        CHECK(f != NULL);
        if (f) {
            if (!fgets(want, sizeof want, f))
                want[0] = '\0';
            fclose(f);
        }
        want[strcspn(want, "\n")] = '\0';
        CHECK(!strncmp(want, "# ", 2) && strlen(want) > 4);
        struct config c;
        struct cfg_error e;
        int rc = config_load(path, &c, &e);
        /* messages name the file: "PATH:LINE: reason" */
        char full[2600];
        snprintf(full, sizeof full, "%s%s", path, want + 2);
        int ok = rc == -1 && e.n >= 1 && has_error(&e, full);
        if (!ok) {
            fprintf(stderr, "invalid config %s: want \"%s\", got:\n", files[i], full);
            cfg_error_print(&e, stderr);
        }
        CHECK(ok);
        if (rc == 0)
            config_free(&c);
        free(files[i]);
    }
    free(files);
}

static void test_defaults(void)
{
    struct config c;
    CHECK(config_init(&c) == 0);
    CHECK(!strcmp(c.router.hdfs_listen, "0.0.0.0:8020") && !strcmp(c.router.hms_listen, "0.0.0.0:9083"));
    CHECK(!strcmp(c.router.admin_listen, "0.0.0.0:8021") && c.router.workers == 0 && !*c.router.default_ns);
    CHECK(c.router.client_max_frame == 128LL << 20 && c.router.upstream_connect_timeout_ms == 2000);
    CHECK(c.router.upstream_max_conns_per_user == 4 && c.router.upstream_idle_timeout_ms == 60000);
    CHECK(c.router.upstream_call_timeout_ms == 120000 && c.router.shutdown_grace_ms == 30000);
    CHECK(c.router.log_level == CFG_LOG_INFO);
    CHECK(c.router.crypto_threads == 2 && c.router.crypto_nice == 10 && c.router.crypto_sched == CFG_CRYPTO_IDLE);
    CHECK(c.store.driver == STORE_FILE && !strcmp(c.store.zk_root, "/fedrouter") &&
          c.store.zk_session_timeout_ms == 30000 && !*c.store.zk_hosts);
    CHECK(c.security.auth == CFG_AUTH_SIMPLE && c.security.rpc_protection == CFG_QOP_AUTHENTICATION);
    config_free(&c);

    /* an empty text: defaults, then workers and id resolved */
    struct cfg_error e;
    CHECK(config_parse("mem", "", 0, &c, &e) == 0 && e.n == 0);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK(c.router.workers == (cores > 0 ? cores : 1) && *c.router.id && !strcmp(c.path, "mem"));
    config_free(&c);

    const char *t = "[router]\nid = r7\nworkers = 3\nhms.listen = off\nadmin.listen = none\n"
                    "client.max_frame = 1g\nlog.level = WARN\n[statestore]\ndriver = zookeeper\n"
                    "zk.hosts = a:1,b:2\n";
    CHECK(config_parse("mem", t, strlen(t), &c, &e) == 0);
    CHECK(!strcmp(c.router.id, "r7") && c.router.workers == 3 && !*c.router.hms_listen && !*c.router.admin_listen);
    CHECK(c.router.client_max_frame == 1LL << 30 && c.router.log_level == CFG_LOG_WARN);
    CHECK(c.store.driver == STORE_ZOOKEEPER && !strcmp(c.store.zk_hosts, "a:1,b:2"));
    config_free(&c);
}

static void test_errors(void)
{
    /* many problems: all collected up to the cap, the rest counted */
    char t[4096] = "[router]\n";
    for (int i = 0; i < 20; i++) {
        char l[64];
        snprintf(l, sizeof l, "bogus%d = 1\n", i);
        strcat(t, l);
    }
    struct config c;
    struct cfg_error e;
    CHECK(config_parse("x.ini", t, strlen(t), &c, &e) == -1);
    CHECK(e.n == CFG_MAX_ERRORS && e.dropped == 4);
    CHECK(!strncmp(e.msg[0], "x.ini:2: unknown key 'bogus0'", 29));
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    cfg_error_print(&e, f);
    fclose(f);
    CHECK(strstr(out, "... and 4 more\n") != NULL);
    free(out);

    /* a bad section header does not cascade into errors for its keys */
    const char *t2 = "[clusters]\nfoo = 1\nbar = 2\n[router]\nworkers = 1\n";
    CHECK(config_parse("y.ini", t2, strlen(t2), &c, &e) == -1 && e.n == 1 && strstr(e.msg[0], "y.ini:1:"));

    /* several independent errors in one file, each with its line */
    const char *t3 = "[router]\nworkers = -1\nhdfs.listen = x\n[mount /a]\nmode = 9\n";
    CHECK(config_parse("z.ini", t3, strlen(t3), &c, &e) == -1 && e.n == 4);
    CHECK(has_error(&e, "z.ini:2: workers") && has_error(&e, "z.ini:3: hdfs.listen") &&
          has_error(&e, "z.ini:5: mode") && has_error(&e, "z.ini:4: mount /a: destinations is required"));

    /* a missing file */
    CHECK(config_load("/nonexistent/fedrouter.ini", &c, &e) == -1 && e.n == 1 &&
          strstr(e.msg[0], "/nonexistent/fedrouter.ini: cannot open:"));
}

static void test_help(void)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    config_print_keys(f);
    fclose(f);
    const char *must[] = { "[router]",
                           "[statestore]",
                           "[nameservice NAME]",
                           "[mount /PATH]",
                           "[metastore NAME]",
                           "hdfs.listen",
                           "default: 0.0.0.0:8020",
                           "workers",
                           "default: 0 = number of cores",
                           "client.max_frame",
                           "default: 128m",
                           "upstream.connect_timeout_ms",
                           "upstream.call_timeout_ms",
                           "upstream.max_conns_per_user",
                           "upstream.idle_timeout_ms",
                           "shutdown.grace_ms",
                           "zk.session_timeout_ms",
                           "zk.auth_file",
                           "file|zookeeper",
                           "destinations",
                           "required",
                           "namenodes",
                           "quota.ss",
                           "rpc.protection",
                           "authentication|integrity|privacy",
                           "access" };
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        if (!strstr(out, must[i])) {
            fprintf(stderr, "help lacks '%s'\n", must[i]);
            CHECK(0);
        }
    CHECK(len > 2000);
    free(out);
}

static void test_snapshot_from_file(const char *root)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/valid/full.ini", root);
    struct config c;
    struct cfg_error e;
    if (config_load(path, &c, &e) != 0) {
        cfg_error_print(&e, stderr);
        CHECK(0);
        return;
    }
    CHECK(c.router.workers == 8 && c.router.client_max_frame == 64LL << 20 && c.router.upstream_call_timeout_ms == 0);
    CHECK(c.router.crypto_threads == 4 && c.router.crypto_nice == 5 && c.router.crypto_sched == CFG_CRYPTO_NICE);
    CHECK(c.records.n == 13);
    CHECK(c.security.rpc_protection == (CFG_QOP_INTEGRITY | CFG_QOP_PRIVACY));
    struct record *m = recset_find(&c.records, REC_MOUNT, "/user/etl/staging");
    CHECK(m && m->u.mount.faulttolerant && m->u.mount.ss_quota == 10LL << 40 && m->line == 48);
    struct snap_stats st;
    struct snapshot *s = config_build_snapshot(&c, 5, &st);
    CHECK(s && st.mounts == 8 && st.nameservices == 3 && st.metastores == 2 && snapshot_version(s) == 5);
    if (!s) {
        config_free(&c);
        return;
    }
    struct resolve_result r;
    CHECK(snapshot_resolve(s, "/user/etl/staging/x", 19, NULL, &r, buf, sizeof buf) == RES_OK);
    CHECK(!strcmp(r.ns->name, "ns2") && !strcmp(r.path, "/staging/x"));
    CHECK(snapshot_resolve(s, "/elsewhere", 10, NULL, &r, buf, sizeof buf) == RES_OK);
    CHECK(r.mount && !strcmp(r.mount->src, "/") && !strcmp(r.path, "/elsewhere"));
    CHECK(snapshot_resolve(s, "/archive/a", 10, NULL, &r, buf, sizeof buf) == RES_EDISABLED);
    CHECK(snapshot_resolve(s, "/with space/dir/f", 17, NULL, &r, buf, sizeof buf) == RES_OK &&
          !strcmp(r.path, "/with space/dir/f"));
    size_t pl;
    CHECK(!strcmp(snapshot_ms_for_db(s, "sales_q1", 8, &pl)->name, "sales") && pl == 6);
    CHECK(snapshot_ms_for_db(s, "sales_q1", 8, &pl)->access == MS_READ_WRITE);
    CHECK(!strcmp(snapshot_ms_for_db(s, "web", 3, &pl)->name, "main"));
    snapshot_release(s);

    /* canonical text of every record parses back to itself */
    for (size_t i = 0; i < c.records.n; i++) {
        char t1[2048], t2[2048], w[256];
        record_format(&c.records.recs[i], true, t1, sizeof t1);
        struct record back;
        CHECK(record_parse_text(t1, strlen(t1), &back, w, sizeof w) == 0);
        record_format(&back, true, t2, sizeof t2);
        CHECK(!strcmp(t1, t2));
        record_free(&back);
    }
    config_free(&c);
}

/* A kerberized nameservice needs the router's own login in a router's
 * config, not in a mount table for fedrouter-admin -import. */
static void test_table_only(void)
{
    const char *t = "[nameservice ns1]\nnamenodes = nn1:8020\nprincipal = nn/_HOST@EXAMPLE.TEST\n";
    struct config c;
    struct cfg_error e;
    CHECK(config_parse("r.ini", t, strlen(t), &c, &e) == -1 && has_error(&e, "[security] principal"));
    char path[] = "fr-table-XXXXXX"; /* in the test's working directory */
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK(write(fd, t, strlen(t)) == (ssize_t)strlen(t));
    close(fd);
    CHECK(config_load(path, &c, &e) == -1);
    CHECK(config_load_table(path, &c, &e) == 0 && e.n == 0);
    if (e.n == 0) {
        CHECK(c.records.n == 1 && c.records.recs[0].u.ns.principal &&
              !strcmp(c.records.recs[0].u.ns.principal, "nn/_HOST@EXAMPLE.TEST"));
        config_free(&c);
    }
    /* everything else is still checked */
    const char *bad = "[nameservice ns1]\nnamenodes = nn1:8020\nprincipal = nn\n";
    fd = open(path, O_WRONLY | O_TRUNC);
    CHECK(fd >= 0 && write(fd, bad, strlen(bad)) == (ssize_t)strlen(bad));
    close(fd);
    CHECK(config_load_table(path, &c, &e) == -1);
    unlink(path);
}

int main(int argc, char **argv)
{
    const char *root = argc > 1 ? argv[1] : "configs";
    test_corpus(root);
    test_defaults();
    test_errors();
    test_help();
    test_snapshot_from_file(root);
    test_table_only();
    return check_report();
}
