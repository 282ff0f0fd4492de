/*
 * test_zkstore: the zookeeper statestore driver and fedrouter-admin against a
 * real ZooKeeper server (Debian's, started by zkserver.sh on a free port in a
 * temporary directory and stopped at exit).
 *
 *   test_zkstore MODE ADMIN_BIN SCRIPT_DIR
 *     MODE admin   admin commands, change callbacks, CAS conflicts, bad records, routers
 *          burst   50 quick changes give few callbacks
 *          outage  ZooKeeper stopped / restarted / replaced (session expiry)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../unit/check.h"
#include "zkstore.h"

static const char *admin_bin, *script_dir;
static char tmpdir[512];
static int zk_port;
static pid_t zk_pid = -1;
static char hosts[64];

/* ---- process helpers ---- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        return -1;
    close(fd);
    return ntohs(a.sin_port);
}

/* "ruok" -> "imok" */
static bool zk_ok(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)zk_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = false;
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0 && write(fd, "ruok", 4) == 4) {
        char buf[8] = "";
        ssize_t n = read(fd, buf, 4);
        ok = n == 4 && !memcmp(buf, "imok", 4);
    }
    if (fd >= 0)
        close(fd);
    return ok;
}

static int zk_start(const char *datadir)
{
    char script[1024], port[16];
    snprintf(script, sizeof script, "%s/zkserver.sh", script_dir);
    snprintf(port, sizeof port, "%d", zk_port);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the test */
        execl("/bin/sh", "sh", script, datadir, port, (char *)NULL);
        _exit(127);
    }
    zk_pid = pid;
    for (int64_t until = now_ms() + 30000; now_ms() < until; sleep_ms(50))
        if (zk_ok())
            return 0;
    fprintf(stderr, "ZooKeeper did not start (see %s/zk.log)\n", datadir);
    return -1;
}

static void zk_stop(void)
{
    if (zk_pid > 0) {
        kill(zk_pid, SIGTERM);
        waitpid(zk_pid, NULL, 0);
        zk_pid = -1;
    }
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void cleanup(void)
{
    zk_stop();
    if (tmpdir[0] && !getenv("KEEP_ZK_TMP"))
        nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void on_signal(int sig)
{
    cleanup();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Runs a command line through sh; its output goes to out (may be NULL). Returns the exit code. */
static int run(char *out, size_t outsz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int run(char *out, size_t outsz, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = 0;
    char buf[1024];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, p)) > 0) {
        if (out && n + 1 < outsz) {
            size_t c = got < outsz - n - 1 ? got : outsz - n - 1;
            memcpy(out + n, buf, c);
            n += c;
        }
    }
    if (out && outsz)
        out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char cfg_path[600];

/* fedrouter-admin -c cfg ARGS (stderr joined to stdout). */
#define ADMIN(out, args) run(out, sizeof out, "%s -c %s " args " 2>&1", admin_bin, cfg_path)
#define ADMINF(out, fmt, ...) run(out, sizeof out, "%s -c %s " fmt " 2>&1", admin_bin, cfg_path, __VA_ARGS__)

static int kazoo_put(const char *path, const char *data)
{
    return run(NULL, 0, "/usr/bin/python3 %s/kazoo_put.py %s '%s' '%s'", script_dir, hosts, path, data);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* ---- a change listener ---- */

struct listener {
    pthread_mutex_t mu;
    int calls;
    uint64_t zxid;
    struct record_set set;
};

static void on_change(void *ctx, const struct record_set *recs, uint64_t zxid)
{
    struct listener *l = ctx;
    pthread_mutex_lock(&l->mu);
    recset_free(&l->set);
    for (size_t i = 0; i < recs->n; i++) {
        struct record r;
        if (record_copy(&r, &recs->recs[i]) == 0)
            recset_add(&l->set, &r);
    }
    l->calls++;
    l->zxid = zxid;
    pthread_mutex_unlock(&l->mu);
}

static void listener_init(struct listener *l)
{
    memset(l, 0, sizeof *l);
    pthread_mutex_init(&l->mu, NULL);
    recset_init(&l->set);
}

static void listener_free(struct listener *l)
{
    recset_free(&l->set);
    pthread_mutex_destroy(&l->mu);
}

/* The destinations of a mount as "ns:/p,ns:/p" in the listener's last set ("" when absent). */
static void mount_dests(struct listener *l, const char *src, char *out, size_t outsz)
{
    pthread_mutex_lock(&l->mu);
    struct record *r = recset_find(&l->set, REC_MOUNT, src);
    out[0] = '\0';
    for (size_t i = 0; r && i < r->u.mount.ndests; i++) {
        size_t n = strlen(out);
        snprintf(out + n, outsz - n, "%s%s:%s", i ? "," : "", r->u.mount.dests[i].ns, r->u.mount.dests[i].path);
    }
    pthread_mutex_unlock(&l->mu);
}

static bool wait_dests(struct listener *l, const char *src, const char *want, int timeout_ms)
{
    char got[1024];
    for (int64_t until = now_ms() + timeout_ms;; sleep_ms(5)) {
        mount_dests(l, src, got, sizeof got);
        if (!strcmp(got, want))
            return true;
        if (now_ms() > until) {
            fprintf(stderr, "mount %s: have '%s', want '%s'\n", src, got, want);
            return false;
        }
    }
}

static int calls(struct listener *l)
{
    pthread_mutex_lock(&l->mu);
    int n = l->calls;
    pthread_mutex_unlock(&l->mu);
    return n;
}

static uint64_t last_zxid(struct listener *l)
{
    pthread_mutex_lock(&l->mu);
    uint64_t z = l->zxid;
    pthread_mutex_unlock(&l->mu);
    return z;
}

static size_t nrecords(struct listener *l)
{
    pthread_mutex_lock(&l->mu);
    size_t n = l->set.n;
    pthread_mutex_unlock(&l->mu);
    return n;
}

static struct zks *open_store(struct listener *l, int timeout_ms)
{
    char err[256];
    struct zks *z = zks_open(hosts, "/fedrouter-test", timeout_ms, NULL, l ? on_change : NULL, l, err, sizeof err);
    if (!z)
        fprintf(stderr, "zks_open: %s\n", err);
    return z;
}

static struct record mount(const char *src, const char *dests)
{
    struct record r;
    char why[256];
    if (record_init(&r, REC_MOUNT, src, why, sizeof why) < 0 || record_set(&r, "destinations", dests, why, sizeof why) < 0 ||
        record_finish(&r, why, sizeof why) < 0) {
        fprintf(stderr, "mount(%s): %s\n", src, why);
        abort();
    }
    return r;
}

/* ---- admin mode ---- */

struct racer {
    struct zks *z;
    pthread_barrier_t *bar;
    int32_t version;
    const char *dest;
    int rc;
    char err[256];
};

static void *race(void *arg)
{
    struct racer *r = arg;
    struct record rec = mount("/race", r->dest);
    pthread_barrier_wait(r->bar);
    r->rc = zks_put(r->z, &rec, r->version, NULL, r->err, sizeof r->err);
    record_free(&rec);
    return NULL;
}

static void test_admin(void)
{
    char out[8192];
    struct listener l;
    listener_init(&l);
    struct zks *z = open_store(&l, 10000);
    CHECK(z != NULL);
    if (!z)
        return;
    CHECK_EQ(zks_wait_ready(z, 10000), ZKS_OK);
    CHECK(calls(&l) >= 1);
    CHECK_EQ(nrecords(&l), 0u);

    /* usage errors: exit 1 with a usage line */
    CHECK_EQ(run(out, sizeof out, "%s 2>&1", admin_bin), 1);
    CHECK(strstr(out, "usage:") != NULL);
    CHECK_EQ(ADMIN(out, "-frobnicate"), 1);
    CHECK(strstr(out, "usage:") != NULL);
    CHECK_EQ(ADMIN(out, "-add /a ns1"), 1);
    CHECK_EQ(ADMIN(out, "-add /a ns1 /a -order SIDEWAYS"), 1);
    char filecfg[700];
    snprintf(filecfg, sizeof filecfg, "%s/file.ini", tmpdir);
    write_file(filecfg, "[router]\nid = r1\nhdfs.listen = 127.0.0.1:18020\n[statestore]\ndriver = file\n");
    CHECK_EQ(run(out, sizeof out, "%s -c %s -ls 2>&1", admin_bin, filecfg), 1);
    CHECK(strstr(out, "edit ") != NULL && strstr(out, "driver = file") != NULL);

    /* writes through the admin tool reach a watching store */
    uint64_t z0 = last_zxid(&l);
    int c0 = calls(&l);
    CHECK_EQ(ADMIN(out, "-addNameservice ns1 127.0.0.1:9000,127.0.0.1:9002"), 0);
    CHECK_EQ(ADMIN(out, "-addNameservice ns2 127.0.0.1:9100"), 0);
    CHECK_EQ(ADMIN(out, "-add /data ns1 /data -order RANDOM"), 0);
    CHECK(wait_dests(&l, "/data", "ns1:/data", 5000));
    CHECK(calls(&l) > c0);
    CHECK(last_zxid(&l) > z0);
    uint64_t z1 = last_zxid(&l);
    CHECK_EQ(ADMIN(out, "-add /data ns2 /d2 -readonly"), 0); /* appends, as dfsrouteradmin does */
    CHECK(wait_dests(&l, "/data", "ns1:/data,ns2:/d2", 5000));
    CHECK(last_zxid(&l) > z1);
    pthread_mutex_lock(&l.mu);
    struct record *r = recset_find(&l.set, REC_MOUNT, "/data");
    CHECK(r && r->u.mount.readonly && r->u.mount.order == ORDER_RANDOM);
    CHECK(recset_find(&l.set, REC_NAMESERVICE, "ns1") && recset_find(&l.set, REC_NAMESERVICE, "ns2"));
    pthread_mutex_unlock(&l.mu);
    CHECK_EQ(ADMIN(out, "-update /data ns2 /only -readonly false -mode 700"), 0);
    CHECK(wait_dests(&l, "/data", "ns2:/only", 5000));
    CHECK_EQ(ADMIN(out, "-add /user/x ns1 /user/x"), 0);
    CHECK_EQ(ADMIN(out, "-ls /user"), 0);
    CHECK(strstr(out, "/user/x") && !strstr(out, "/data"));
    CHECK_EQ(ADMIN(out, "-ls"), 0);
    CHECK(strstr(out, "/user/x") && strstr(out, "ns2->/only") && strstr(out, "0700"));
    CHECK_EQ(ADMIN(out, "-addMetastore sales thrift://127.0.0.1:9084 -readwrite"), 0);
    CHECK_EQ(ADMIN(out, "-addMetastore main thrift://127.0.0.1:9083 -primary"), 0);
    CHECK_EQ(ADMIN(out, "-lsMetastores"), 0);
    CHECK(strstr(out, "sales_") && strstr(out, "main"));
    CHECK_EQ(ADMIN(out, "-lsNameservices"), 0);
    CHECK(strstr(out, "127.0.0.1:9000,127.0.0.1:9002"));
    CHECK_EQ(ADMIN(out, "-rm /user/x"), 0);
    CHECK(wait_dests(&l, "/user/x", "", 5000));
    CHECK_EQ(ADMIN(out, "-rm /user/x"), 3);
    CHECK_EQ(ADMIN(out, "-update /nowhere ns1 /x"), 3);
    CHECK_EQ(ADMIN(out, "-rmMetastore sales"), 0);

    /* compare-and-set through the API */
    struct zks *w = open_store(NULL, 10000);
    CHECK(w && zks_wait_connected(w, 10000) == ZKS_OK);
    struct record got;
    int32_t v = -7;
    char err[512];
    CHECK_EQ(zks_get(w, REC_MOUNT, "/data", &got, &v, err, sizeof err), ZKS_OK);
    CHECK(v >= 0);
    record_free(&got);
    struct record a = mount("/data", "ns1:/a"), b = mount("/data", "ns1:/b");
    int32_t nv = -1;
    CHECK_EQ(zks_put(w, &a, v, &nv, err, sizeof err), ZKS_OK);
    CHECK_EQ(nv, v + 1);
    CHECK_EQ(zks_put(w, &b, v, NULL, err, sizeof err), ZKS_CONFLICT);
    char want[128];
    snprintf(want, sizeof want, "was changed by someone else (version %d, expected %d)", v + 1, v);
    CHECK(strstr(err, want) != NULL);
    CHECK_EQ(zks_put(w, &b, -1, NULL, err, sizeof err), ZKS_CONFLICT); /* create over an existing one */
    CHECK_EQ(zks_delete(w, REC_MOUNT, "/data", v, err, sizeof err), ZKS_CONFLICT);
    CHECK(wait_dests(&l, "/data", "ns1:/a", 5000));
    record_free(&a);
    record_free(&b);

    /* two writers racing with the same expected version: exactly one wins */
    struct record base = mount("/race", "ns1:/r0");
    CHECK_EQ(zks_put(w, &base, -1, &nv, err, sizeof err), ZKS_OK);
    record_free(&base);
    for (int round = 0; round < 5; round++) {
        struct zks *w2 = open_store(NULL, 10000);
        CHECK(w2 && zks_wait_connected(w2, 10000) == ZKS_OK);
        CHECK_EQ(zks_get(w, REC_MOUNT, "/race", &got, &v, err, sizeof err), ZKS_OK);
        record_free(&got);
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, 2);
        struct racer r1 = {w, &bar, v, "ns1:/one", 0, ""}, r2 = {w2, &bar, v, "ns2:/two", 0, ""};
        pthread_t t1, t2;
        pthread_create(&t1, NULL, race, &r1);
        pthread_create(&t2, NULL, race, &r2);
        pthread_join(t1, NULL);
        pthread_join(t2, NULL);
        pthread_barrier_destroy(&bar);
        CHECK((r1.rc == ZKS_OK && r2.rc == ZKS_CONFLICT) || (r1.rc == ZKS_CONFLICT && r2.rc == ZKS_OK));
        const char *loser = r1.rc == ZKS_CONFLICT ? r1.err : r2.err;
        CHECK(strstr(loser, "was changed by someone else") != NULL);
        zks_close(w2);
    }

    /* records written by another client: bad ones are skipped and counted */
    struct zks_status st;
    zks_status(z, &st);
    uint64_t skipped0 = st.skipped_total;
    CHECK_EQ(st.skipped_now, 0u);
    CHECK_EQ(kazoo_put("/fedrouter-test/mounts/%2Fbad", "# fedrouter-record v1\\n[mount /bad]\\nbogus_key = 1\\n"), 0);
    CHECK_EQ(kazoo_put("/fedrouter-test/mounts/%2Ffuture",
                       "# fedrouter-record v9\\n[mount /future]\\ndestinations = ns1:/f\\n"),
             0);
    CHECK_EQ(kazoo_put("/fedrouter-test/mounts/%2Fother", "# fedrouter-record v1\\n[mount /data]\\ndestinations = ns1:/x\\n"),
             0);
    CHECK_EQ(kazoo_put("/fedrouter-test/nameservices/ns3", "# fedrouter-record v1\\n[nameservice ns3]\\nnamenodes = 127.0.0.1:9300\\n"),
             0);
    CHECK_EQ(ADMIN(out, "-add /after ns1 /after"), 0);
    CHECK(wait_dests(&l, "/after", "ns1:/after", 5000));
    for (int64_t until = now_ms() + 5000; now_ms() < until; sleep_ms(10)) {
        zks_status(z, &st);
        if (st.skipped_now == 3)
            break;
    }
    CHECK_EQ(st.skipped_now, 3u);
    CHECK(st.skipped_total >= skipped0 + 3);
    bool saw_key = false, saw_version = false, saw_match = false;
    for (int i = 0; i < st.nreasons; i++) {
        saw_key |= strstr(st.reasons[i], "bogus_key") != NULL;
        saw_version |= strstr(st.reasons[i], "unknown record format version") != NULL;
        saw_match |= strstr(st.reasons[i], "does not match") != NULL;
    }
    CHECK(saw_key && saw_version && saw_match);
    pthread_mutex_lock(&l.mu);
    CHECK(recset_find(&l.set, REC_MOUNT, "/bad") == NULL);
    CHECK(recset_find(&l.set, REC_MOUNT, "/future") == NULL);
    CHECK(recset_find(&l.set, REC_NAMESERVICE, "ns3") != NULL);
    CHECK(recset_find(&l.set, REC_MOUNT, "/data") != NULL);
    pthread_mutex_unlock(&l.mu);
    /* garbage over a good record keeps its last good version */
    CHECK_EQ(kazoo_put("/fedrouter-test/mounts/%2Fafter", "not a record at all"), 0);
    for (int64_t until = now_ms() + 5000; now_ms() < until; sleep_ms(10)) {
        zks_status(z, &st);
        if (st.skipped_now == 4)
            break;
    }
    CHECK_EQ(st.skipped_now, 4u);
    CHECK(wait_dests(&l, "/after", "ns1:/after", 100));
    CHECK_EQ(ADMIN(out, "-ls"), 0); /* the admin tool warns about them and lists the rest */
    CHECK(strstr(out, "skipped") && strstr(out, "/race"));
    /* -rm removes a bad record, -add fixes one */
    CHECK_EQ(ADMIN(out, "-rm /bad"), 0);
    CHECK_EQ(kazoo_put("/fedrouter-test/mounts/%2Fother", "-delete-"), 0);
    CHECK_EQ(kazoo_put("/fedrouter-test/mounts/%2Ffuture", "-delete-"), 0);
    struct record fixed = mount("/after", "ns2:/fixed");
    CHECK_EQ(zks_put(w, &fixed, -1, NULL, err, sizeof err), ZKS_CONFLICT);
    CHECK_EQ(zks_get(w, REC_MOUNT, "/after", &got, &v, err, sizeof err), ZKS_INVALID);
    CHECK_EQ(zks_put(w, &fixed, v, NULL, err, sizeof err), ZKS_OK);
    record_free(&fixed);
    CHECK(wait_dests(&l, "/after", "ns2:/fixed", 5000));
    for (int64_t until = now_ms() + 5000; now_ms() < until; sleep_ms(10)) {
        zks_status(z, &st);
        if (st.skipped_now == 0)
            break;
    }
    CHECK_EQ(st.skipped_now, 0u);

    /* digest auth: admin gets ALL, the reader READ, nobody else anything */
    char authf[700], seccfg[700], cmdout[2048];
    snprintf(authf, sizeof authf, "%s/zk.auth", tmpdir);
    write_file(authf, "# test identities\nalice:wonderland\nread router:r0uter\n");
    snprintf(seccfg, sizeof seccfg, "%s/secure.ini", tmpdir);
    char sectext[1024];
    snprintf(sectext, sizeof sectext,
             "[router]\nid = r1\nhdfs.listen = 127.0.0.1:18020\n[statestore]\ndriver = zookeeper\n"
             "zk.hosts = %s\nzk.root = /fr-secure\nzk.auth_file = %s\n",
             hosts, authf);
    write_file(seccfg, sectext);
    CHECK_EQ(run(cmdout, sizeof cmdout, "%s -c %s -addMetastore sales thrift://127.0.0.1:9084 2>&1", admin_bin, seccfg), 0);
    CHECK_EQ(run(cmdout, sizeof cmdout,
                 "/usr/bin/python3 -c \"from kazoo.client import KazooClient as K; z = K('%s', auth_data=[('digest', 'router:r0uter')]); z.start(); "
                 "print(z.get_acls('/fr-secure/metastores/sales')[0]); print(z.get_acls('/fr-secure/metastores')[0]); "
                 "z.stop()\" 2>&1",
                 hosts),
             0);
    if (!strstr(cmdout, "id='alice:"))
        fprintf(stderr, "ACLs: %s\n", cmdout);
    CHECK(strstr(cmdout, "perms=31") && strstr(cmdout, "id='alice:"));
    CHECK(strstr(cmdout, "perms=1") && strstr(cmdout, "id='router:"));
    CHECK(!strstr(cmdout, "anyone"));
    write_file(authf, "read router:r0uter\n");
    struct zks *rd = zks_open(hosts, "/fr-secure", 10000, authf, NULL, NULL, err, sizeof err);
    CHECK(rd != NULL);
    if (rd) {
        CHECK_EQ(zks_wait_ready(rd, 5000), ZKS_OK);
        struct record_set rs;
        CHECK_EQ(zks_current(rd, &rs, NULL), ZKS_OK);
        CHECK(recset_find(&rs, REC_METASTORE, "sales") != NULL);
        recset_free(&rs);
        struct record ms;
        CHECK_EQ(zks_get(rd, REC_METASTORE, "sales", &ms, &v, err, sizeof err), ZKS_OK);
        CHECK_EQ(zks_put(rd, &ms, v, NULL, err, sizeof err), ZKS_ERR); /* a reader cannot write */
        CHECK(strstr(err, "not authenticated") || strstr(err, "auth"));
        record_free(&ms);
        zks_close(rd);
    }
    struct zks *anon = zks_open(hosts, "/fr-secure", 10000, NULL, NULL, NULL, err, sizeof err);
    CHECK(anon != NULL);
    if (anon) {
        CHECK_EQ(zks_wait_ready(anon, 700), ZKS_NOCONN); /* cannot read the folders */
        zks_status(anon, &st);
        CHECK(st.nreasons > 0);
        zks_close(anon);
    }

    /* router registration */
    struct zks_router me = {.id = "r1", .hdfs = "127.0.0.1:8020", .version = "0.1", .snapshot = 7};
    me.start_ms = 1700000000000LL;
    CHECK_EQ(zks_register_router(z, &me, err, sizeof err), ZKS_OK);
    me.snapshot = 8;
    CHECK_EQ(zks_register_router(z, &me, err, sizeof err), ZKS_OK);
    CHECK_EQ(ADMIN(out, "-routers"), 0);
    CHECK(strstr(out, "r1") && strstr(out, "127.0.0.1:8020") && strstr(out, " 8"));
    zks_close(z); /* the ephemeral znode goes with the session */
    CHECK_EQ(ADMIN(out, "-routers"), 0);
    CHECK(!strstr(out, "127.0.0.1:8020"));
    zks_close(w);
    listener_free(&l);
}

/* ---- burst mode ---- */

struct burster {
    struct zks *w;
    int t;
    int failures;
};

/* Mounts /burst/<5t..5t+4>: created, then each updated once. */
static void *burst_writer(void *arg)
{
    struct burster *b = arg;
    int32_t ver[5];
    char src[64], dst[64], err[256];
    for (int i = 0; i < 10; i++) {
        int m = 5 * b->t + i % 5;
        snprintf(src, sizeof src, "/burst/%d", m);
        snprintf(dst, sizeof dst, "ns1:/b%d", i < 5 ? m : m + 25);
        struct record r = mount(src, dst);
        if (zks_put(b->w, &r, i < 5 ? -1 : ver[i % 5], &ver[i % 5], err, sizeof err) != ZKS_OK) {
            fprintf(stderr, "put %s: %s\n", src, err);
            b->failures++;
        }
        record_free(&r);
    }
    return NULL;
}

static void test_burst(void)
{
    struct listener l;
    listener_init(&l);
    struct zks *z = open_store(&l, 10000), *w = open_store(NULL, 10000);
    CHECK(z && w);
    if (!z || !w)
        return;
    CHECK_EQ(zks_wait_ready(z, 10000), ZKS_OK);
    CHECK_EQ(zks_wait_connected(w, 10000), ZKS_OK);
    sleep_ms(50);
    int c0 = calls(&l);
    char err[256], src[64], dst[64];
    /* 25 creates, then 25 updates, from 5 threads sharing one handle */
    int64_t t0 = now_ms();
    pthread_t th[5];
    struct burster bs[5];
    for (int t = 0; t < 5; t++) {
        bs[t] = (struct burster){w, t, 0};
        pthread_create(&th[t], NULL, burst_writer, &bs[t]);
    }
    for (int t = 0; t < 5; t++) {
        pthread_join(th[t], NULL);
        CHECK_EQ(bs[t].failures, 0);
    }
    int64_t took = now_ms() - t0;
    for (int i = 0; i < 25; i++) {
        snprintf(src, sizeof src, "/burst/%d", i);
        snprintf(dst, sizeof dst, "ns1:/b%d", i + 25);
        CHECK(wait_dests(&l, src, dst, 5000));
    }
    sleep_ms(100);
    int n = calls(&l) - c0;
    /* one rebuild per ZKS_MAX_DELAY_MS at most while the burst lasts, plus the tail */
    printf("burst of 50 changes in %lld ms: %d callbacks\n", (long long)took, n);
    CHECK(n >= 1);
    CHECK(n <= 3 + took / ZKS_MAX_DELAY_MS);
    CHECK(n <= 10);
    CHECK_EQ(nrecords(&l), 25u);
    /* deleting them all: few callbacks too */
    c0 = calls(&l);
    for (int i = 0; i < 25; i++) {
        snprintf(src, sizeof src, "/burst/%d", i);
        CHECK_EQ(zks_delete(w, REC_MOUNT, src, -1, err, sizeof err), ZKS_OK);
    }
    for (int64_t until = now_ms() + 5000; nrecords(&l) && now_ms() < until;)
        sleep_ms(5);
    CHECK_EQ(nrecords(&l), 0u);
    n = calls(&l) - c0;
    printf("25 deletes: %d callbacks\n", n);
    CHECK(n >= 1 && n <= 8);
    zks_close(w);
    zks_close(z);
    listener_free(&l);
}

/* ---- outage mode ---- */

static bool wait_connected(struct zks *z, bool want, int timeout_ms)
{
    struct zks_status st;
    for (int64_t until = now_ms() + timeout_ms;; sleep_ms(10)) {
        zks_status(z, &st);
        if (st.connected == want)
            return true;
        if (now_ms() > until)
            return false;
    }
}

static void test_outage(const char *datadir)
{
    char out[4096], err[256];
    struct listener l;
    listener_init(&l);
    const int session_ms = 3000;
    struct zks *z = open_store(&l, session_ms);
    CHECK(z != NULL);
    if (!z)
        return;
    CHECK_EQ(zks_wait_ready(z, 10000), ZKS_OK);
    CHECK_EQ(ADMIN(out, "-add /keep ns1 /keep"), 0);
    CHECK_EQ(ADMIN(out, "-addNameservice ns1 127.0.0.1:9000"), 0);
    CHECK(wait_dests(&l, "/keep", "ns1:/keep", 5000));
    for (int64_t until = now_ms() + 5000; nrecords(&l) < 2 && now_ms() < until;)
        sleep_ms(5);

    /* ZooKeeper stops: records kept, state says stale since when */
    struct zks_status st;
    zks_status(z, &st);
    uint64_t sessions0 = st.sessions, reconnects0 = st.reconnects;
    CHECK_EQ(sessions0, 1u);
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    int64_t stop_at = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
    zk_stop();
    CHECK(wait_connected(z, false, 10000));
    zks_status(z, &st);
    CHECK(!st.connected);
    CHECK(st.stale_since_ms >= stop_at - 10 && st.stale_since_ms <= stop_at + 10000);
    struct record_set cur;
    CHECK_EQ(zks_current(z, &cur, NULL), ZKS_OK);
    CHECK_EQ(cur.n, 2u);
    recset_free(&cur);
    CHECK(wait_dests(&l, "/keep", "ns1:/keep", 10));
    CHECK_EQ(ADMIN(out, "-ls"), 3); /* the admin tool cannot reach it either */

    /* restarted on the same dataDir: a change made by another client is picked up */
    CHECK_EQ(zk_start(datadir), 0);
    CHECK_EQ(kazoo_put("/fedrouter-test/mounts/%2Fkeep",
                       "# fedrouter-record v1\\n[mount /keep]\\ndestinations = ns1:/changed-meanwhile\\n"),
             0);
    CHECK(wait_dests(&l, "/keep", "ns1:/changed-meanwhile", 15000));
    CHECK(wait_connected(z, true, 10000));
    zks_status(z, &st);
    CHECK_EQ(st.stale_since_ms, 0);
    CHECK(st.reconnects > reconnects0 || st.sessions > sessions0);
    /* and the watches still work */
    CHECK_EQ(ADMIN(out, "-add /later ns1 /later"), 0);
    CHECK(wait_dests(&l, "/later", "ns1:/later", 5000));

    /* away for longer than the session timeout: a new session, watches set again */
    zks_status(z, &st);
    sessions0 = st.sessions;
    zk_stop();
    CHECK(wait_connected(z, false, 10000));
    sleep_ms(session_ms + 500);
    CHECK_EQ(zk_start(datadir), 0);
    CHECK_EQ(kazoo_put("/fedrouter-test/mounts/%2Flater",
                       "# fedrouter-record v1\\n[mount /later]\\ndestinations = ns2:/after-expiry\\n"),
             0);
    CHECK(wait_dests(&l, "/later", "ns2:/after-expiry", 15000));
    CHECK(wait_connected(z, true, 10000));
    zks_status(z, &st);
    CHECK_EQ(st.sessions, sessions0 + 1);
    CHECK_EQ(ADMIN(out, "-add /later ns1 /more"), 0);
    CHECK(wait_dests(&l, "/later", "ns2:/after-expiry,ns1:/more", 5000));

    /* a rebuilt ensemble (fresh dataDir: it refuses a client that saw newer zxids and knows
     * no session), seeded by another client while the store is away */
    sessions0 = st.sessions;
    zk_stop();
    CHECK(wait_connected(z, false, 10000));
    char fresh[700];
    snprintf(fresh, sizeof fresh, "%s/fresh", tmpdir);
    CHECK_EQ(zk_start(fresh), 0);
    CHECK_EQ(kazoo_put("/fedrouter-test/nameservices/ns1",
                       "# fedrouter-record v1\\n[nameservice ns1]\\nnamenodes = 127.0.0.1:9000\\n"),
             0);
    CHECK_EQ(kazoo_put("/fedrouter-test/mounts/%2Fnew", "# fedrouter-record v1\\n[mount /new]\\ndestinations = ns1:/new\\n"),
             0);
    CHECK(wait_dests(&l, "/new", "ns1:/new", 15000));
    CHECK(wait_dests(&l, "/keep", "", 1000)); /* the new store's content is the truth */
    zks_status(z, &st);
    CHECK(st.connected);
    CHECK(st.sessions > sessions0);
    bool saw_expiry = false;
    for (int i = 0; i < st.nreasons; i++)
        saw_expiry |= strstr(st.reasons[i], "expired") != NULL;
    CHECK(saw_expiry);
    /* watches are set again in the new session */
    CHECK_EQ(ADMIN(out, "-add /new ns1 /new2"), 0);
    CHECK(wait_dests(&l, "/new", "ns1:/new,ns1:/new2", 5000));
    struct zks *w = open_store(NULL, 10000);
    CHECK(w && zks_wait_connected(w, 10000) == ZKS_OK);
    CHECK_EQ(zks_delete(w, REC_MOUNT, "/new", -1, err, sizeof err), ZKS_OK);
    CHECK(wait_dests(&l, "/new", "", 5000));
    zks_close(w);
    zks_close(z);
    listener_free(&l);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s admin|burst|outage ADMIN_BIN SCRIPT_DIR\n", argv[0]);
        return 2;
    }
    const char *mode = argv[1];
    admin_bin = argv[2];
    script_dir = argv[3];
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *tmp = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/fr-zk-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    atexit(cleanup);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    zk_port = free_port();
    snprintf(hosts, sizeof hosts, "127.0.0.1:%d", zk_port);
    snprintf(cfg_path, sizeof cfg_path, "%s/router.ini", tmpdir);
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "[router]\nid = r1\nhdfs.listen = 127.0.0.1:18020\n[statestore]\ndriver = zookeeper\n"
             "zk.hosts = %s\nzk.root = /fedrouter-test\nzk.session_timeout_ms = 4000\n",
             hosts);
    write_file(cfg_path, cfg);
    char datadir[700];
    snprintf(datadir, sizeof datadir, "%s/zk", tmpdir);
    if (zk_start(datadir) < 0)
        return 1;
    int64_t t0 = now_ms();
    if (!strcmp(mode, "admin"))
        test_admin();
    else if (!strcmp(mode, "burst"))
        test_burst();
    else if (!strcmp(mode, "outage"))
        test_outage(datadir);
    else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    printf("%s: %.1f s\n", mode, (double)(now_ms() - t0) / 1000.0);
    return check_report();
}
