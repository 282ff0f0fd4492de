/*
 * test_zkstore: the zookeeper statestore driver and fedrouter-admin against a
 * real ZooKeeper server (Debian's, started by zkserver.sh on a free port in a
 * temporary directory and stopped at exit).
 *
 *   test_zkstore MODE ADMIN_BIN SCRIPT_DIR
 *     MODE admin   admin commands, change callbacks, CAS conflicts, bad records, routers
 *          burst   50 quick changes give few callbacks
 *          outage  ZooKeeper stopped / restarted / replaced (session expiry)
 *          big     10,000 mount records: time of the first full read, then of one change
 *          safemode  per-router safe mode: admin commands, the watch, reconnects, ACLs
 *          tools   admin quotas, disabled nameservices, -resolve
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

#include <zookeeper/zookeeper.h>

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
    /* driver = file: the commands that write are refused, the read-only ones read the file */
    CHECK_EQ(run(out, sizeof out, "%s -c %s -add /a ns1 /a 2>&1", admin_bin, filecfg), 1);
    CHECK(strstr(out, "edit ") != NULL && strstr(out, "driver = file") != NULL);
    CHECK_EQ(run(out, sizeof out, "%s -c %s -ls 2>&1", admin_bin, filecfg), 0);

    /* writes through the admin tool reach a watching store */
    uint64_t z0 = last_zxid(&l);
    int c0 = calls(&l);
    CHECK_EQ(ADMIN(out, "-addNameservice ns1 127.0.0.1:9000,127.0.0.1:9002"), 0);
    CHECK_EQ(ADMIN(out, "-addNameservice ns2 127.0.0.1:9100"), 0);
    CHECK_EQ(ADMIN(out, "-add /data ns1 /data -order RANDOM -noCreate"), 0);
    CHECK(wait_dests(&l, "/data", "ns1:/data", 5000));
    CHECK(calls(&l) > c0);
    CHECK(last_zxid(&l) > z0);
    uint64_t z1 = last_zxid(&l);
    CHECK_EQ(ADMIN(out, "-add /data ns2 /d2 -readonly -noCreate"), 0); /* appends, as dfsrouteradmin does */
    CHECK(wait_dests(&l, "/data", "ns1:/data,ns2:/d2", 5000));
    CHECK(last_zxid(&l) > z1);
    pthread_mutex_lock(&l.mu);
    struct record *r = recset_find(&l.set, REC_MOUNT, "/data");
    CHECK(r && r->u.mount.readonly && r->u.mount.order == ORDER_RANDOM);
    CHECK(recset_find(&l.set, REC_NAMESERVICE, "ns1") && recset_find(&l.set, REC_NAMESERVICE, "ns2"));
    pthread_mutex_unlock(&l.mu);
    CHECK_EQ(ADMIN(out, "-update /data ns2 /only -readonly false -mode 700"), 0);
    CHECK(wait_dests(&l, "/data", "ns2:/only", 5000));
    CHECK_EQ(ADMIN(out, "-add /user/x ns1 /user/x -noCreate"), 0);
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
    CHECK_EQ(ADMIN(out, "-add /after ns1 /after -noCreate"), 0);
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
    CHECK_EQ(ADMIN(out, "-addNameservice ns1 127.0.0.1:9000"), 0);
    CHECK_EQ(ADMIN(out, "-add /keep ns1 /keep -noCreate"), 0);
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
    CHECK_EQ(ADMIN(out, "-add /later ns1 /later -noCreate"), 0);
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
    CHECK_EQ(ADMIN(out, "-add /later ns1 /more -noCreate"), 0);
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
    CHECK_EQ(ADMIN(out, "-add /new ns1 /new2 -noCreate"), 0);
    CHECK(wait_dests(&l, "/new", "ns1:/new,ns1:/new2", 5000));
    struct zks *w = open_store(NULL, 10000);
    CHECK(w && zks_wait_connected(w, 10000) == ZKS_OK);
    CHECK_EQ(zks_delete(w, REC_MOUNT, "/new", -1, err, sizeof err), ZKS_OK);
    CHECK(wait_dests(&l, "/new", "", 5000));
    zks_close(w);
    zks_close(z);
    listener_free(&l);
}

/* ---- safemode mode ---- */

struct smwatch {
    pthread_mutex_t mu;
    int calls;
    bool on;
    bool other_thread;          /* every call came from a thread other than main's */
};

static pthread_t main_thread;

static void on_safemode(void *ctx, bool on)
{
    struct smwatch *w = ctx;
    pthread_mutex_lock(&w->mu);
    w->calls++;
    w->on = on;
    if (pthread_equal(pthread_self(), main_thread))
        w->other_thread = false;
    pthread_mutex_unlock(&w->mu);
}

static void smwatch_init(struct smwatch *w)
{
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    w->other_thread = true;
}

static int sm_calls(struct smwatch *w, bool *on)
{
    pthread_mutex_lock(&w->mu);
    int n = w->calls;
    if (on)
        *on = w->on;
    pthread_mutex_unlock(&w->mu);
    return n;
}

/* Waits until the watch has been called `n` times in all, the last time with `on`. */
static bool wait_sm(struct smwatch *w, int n, bool want, int timeout_ms)
{
    bool on = false;
    int got = 0;
    for (int64_t until = now_ms() + timeout_ms;; sleep_ms(5)) {
        got = sm_calls(w, &on);
        if (got >= n && on == want)
            return got == n;
        if (now_ms() > until) {
            fprintf(stderr, "safe mode watch: %d calls (last %s), want %d (%s)\n", got, on ? "on" : "off", n,
                    want ? "on" : "off");
            return false;
        }
    }
}

static void test_safemode(const char *datadir)
{
    char out[4096], err[512];
    main_thread = pthread_self();
    struct listener l;
    listener_init(&l);
    const int session_ms = 3000;
    struct zks *z = open_store(&l, session_ms);
    CHECK(z != NULL);
    if (!z)
        return;
    CHECK_EQ(zks_wait_ready(z, 10000), ZKS_OK);
    struct smwatch w;
    smwatch_init(&w);
    CHECK_EQ(zks_watch_safemode(z, "bad/id", on_safemode, &w), ZKS_INVALID);
    CHECK_EQ(zks_watch_safemode(z, "r1", on_safemode, &w), ZKS_OK);
    CHECK(wait_sm(&w, 1, false, 5000)); /* the state at first */

    /* usage errors */
    CHECK_EQ(ADMIN(out, "-safemode"), 1);
    CHECK_EQ(ADMIN(out, "-safemode sideways"), 1);
    CHECK(strstr(out, "usage:") != NULL);
    CHECK_EQ(ADMIN(out, "-safemode get -router"), 1);
    CHECK_EQ(ADMIN(out, "-safemode get extra"), 1);
    CHECK_EQ(ADMIN(out, "-safemode get -router bad/id"), 1);

    /* the router FILE names (r1) */
    CHECK_EQ(ADMIN(out, "-safemode get"), 0);
    CHECK(strstr(out, "Safe Mode: OFF") != NULL);
    int64_t t0 = now_ms();
    CHECK_EQ(ADMIN(out, "-safemode enter"), 0);
    CHECK(wait_sm(&w, 2, true, 5000));
    printf("safe mode enter -> watch: %lld ms (admin process included)\n", (long long)(now_ms() - t0));
    CHECK_EQ(ADMIN(out, "-safemode get"), 0);
    CHECK(strstr(out, "Safe Mode: ON") != NULL);
    bool on = false;
    CHECK_EQ(zks_safemode_get(z, "r1", &on, err, sizeof err), ZKS_OK);
    CHECK(on);
    CHECK_EQ(ADMIN(out, "-safemode enter"), 0); /* again: no error, no change */
    sleep_ms(200);
    CHECK_EQ(sm_calls(&w, NULL), 2);

    /* another router, named with -router: r1 is not told */
    CHECK_EQ(ADMIN(out, "-safemode get -router r2"), 0);
    CHECK(strstr(out, "Safe Mode: OFF") != NULL);
    CHECK_EQ(ADMIN(out, "-safemode enter -router r2"), 0);
    CHECK_EQ(ADMIN(out, "-safemode get -router r2"), 0);
    CHECK(strstr(out, "Safe Mode: ON") != NULL);
    CHECK_EQ(ADMIN(out, "-safemode leave -router r2"), 0);
    CHECK_EQ(ADMIN(out, "-safemode get -router r2"), 0);
    CHECK(strstr(out, "Safe Mode: OFF") != NULL);
    sleep_ms(200);
    CHECK_EQ(sm_calls(&w, &on), 2);
    CHECK(on);

    CHECK_EQ(ADMIN(out, "-safemode leave"), 0);
    CHECK(wait_sm(&w, 3, false, 5000));
    CHECK_EQ(ADMIN(out, "-safemode leave"), 0); /* again: no error */
    CHECK_EQ(ADMIN(out, "-safemode get"), 0);
    CHECK(strstr(out, "Safe Mode: OFF") != NULL);

    /* through the API, and a store that reads no records can watch too */
    struct zks *a = open_store(NULL, 10000);
    CHECK(a && zks_wait_connected(a, 10000) == ZKS_OK);
    struct smwatch w2;
    smwatch_init(&w2);
    CHECK_EQ(zks_safemode_set(a, "r3", true, err, sizeof err), ZKS_OK);
    CHECK_EQ(zks_watch_safemode(a, "r3", on_safemode, &w2), ZKS_OK);
    CHECK(wait_sm(&w2, 1, true, 5000));
    CHECK_EQ(zks_safemode_set(a, "r3", false, err, sizeof err), ZKS_OK);
    CHECK(wait_sm(&w2, 2, false, 5000));
    CHECK_EQ(zks_safemode_set(a, "r3", false, err, sizeof err), ZKS_OK);
    CHECK_EQ(zks_safemode_set(a, "", true, err, sizeof err), ZKS_INVALID);
    CHECK_EQ(zks_safemode_get(a, "a/b", &on, err, sizeof err), ZKS_INVALID);
    /* replacing the watch: the new router's state is told at once, the old one's no more */
    CHECK_EQ(zks_safemode_set(a, "r4", true, err, sizeof err), ZKS_OK);
    CHECK_EQ(zks_watch_safemode(a, "r4", on_safemode, &w2), ZKS_OK);
    CHECK(wait_sm(&w2, 3, true, 5000));
    CHECK_EQ(zks_safemode_set(a, "r3", true, err, sizeof err), ZKS_OK);
    sleep_ms(200);
    CHECK_EQ(sm_calls(&w2, &on), 3);
    CHECK_EQ(zks_watch_safemode(a, NULL, NULL, NULL), ZKS_OK);
    CHECK_EQ(zks_safemode_set(a, "r4", false, err, sizeof err), ZKS_OK);
    sleep_ms(200);
    CHECK_EQ(sm_calls(&w2, NULL), 3);
    zks_close(a);
    /* the records were not disturbed by any of it */
    CHECK_EQ(nrecords(&l), 0u);

    /* a short outage (same session): the watch still works afterwards */
    struct zks_status st;
    zk_stop();
    CHECK(wait_connected(z, false, 10000));
    CHECK_EQ(zk_start(datadir), 0);
    CHECK(wait_connected(z, true, 15000));
    CHECK_EQ(ADMIN(out, "-safemode enter"), 0);
    CHECK(wait_sm(&w, 4, true, 5000));

    /* away for longer than the session timeout; changed by another client meanwhile */
    zks_status(z, &st);
    uint64_t sessions0 = st.sessions;
    zk_stop();
    CHECK(wait_connected(z, false, 10000));
    sleep_ms(session_ms + 500);
    CHECK_EQ(zk_start(datadir), 0);
    CHECK_EQ(kazoo_put("/fedrouter-test/safemode/r1", "-delete-"), 0);
    CHECK(wait_sm(&w, 5, false, 15000));
    CHECK(wait_connected(z, true, 10000));
    zks_status(z, &st);
    CHECK(st.sessions > sessions0);
    /* present means on, whatever its data */
    CHECK_EQ(kazoo_put("/fedrouter-test/safemode/r1", "anything"), 0);
    CHECK(wait_sm(&w, 6, true, 5000));
    CHECK_EQ(ADMIN(out, "-safemode get"), 0);
    CHECK(strstr(out, "Safe Mode: ON") != NULL);
    CHECK_EQ(ADMIN(out, "-safemode leave"), 0);
    CHECK(wait_sm(&w, 7, false, 5000));
    pthread_mutex_lock(&w.mu);
    CHECK(w.other_thread);
    pthread_mutex_unlock(&w.mu);

    /* ACLs: as the other admin-written znodes; a reader cannot change it */
    char authf[700], seccfg[700], sectext[1024];
    snprintf(authf, sizeof authf, "%s/zk.auth", tmpdir);
    write_file(authf, "alice:wonderland\nread router:r0uter\n");
    snprintf(seccfg, sizeof seccfg, "%s/secure.ini", tmpdir);
    snprintf(sectext, sizeof sectext,
             "[router]\nid = r9\nhdfs.listen = 127.0.0.1:18020\n[statestore]\ndriver = zookeeper\n"
             "zk.hosts = %s\nzk.root = /fr-secure\nzk.auth_file = %s\n",
             hosts, authf);
    write_file(seccfg, sectext);
    CHECK_EQ(run(out, sizeof out, "%s -c %s -safemode enter 2>&1", admin_bin, seccfg), 0);
    CHECK_EQ(run(out, sizeof out,
                 "/usr/bin/python3 -c \"from kazoo.client import KazooClient as K; z = K('%s', auth_data=[('digest', 'router:r0uter')]); z.start(); "
                 "print(z.get_acls('/fr-secure/safemode/r9')[0]); print(z.get_acls('/fr-secure/safemode')[0]); "
                 "z.stop()\" 2>&1",
                 hosts),
             0);
    CHECK(strstr(out, "perms=31") && strstr(out, "id='alice:"));
    CHECK(strstr(out, "perms=1") && strstr(out, "id='router:"));
    CHECK(!strstr(out, "anyone"));
    write_file(authf, "read router:r0uter\n");
    struct zks *rd = zks_open(hosts, "/fr-secure", 10000, authf, NULL, NULL, err, sizeof err);
    CHECK(rd && zks_wait_connected(rd, 10000) == ZKS_OK);
    if (rd) {
        CHECK_EQ(zks_safemode_get(rd, "r9", &on, err, sizeof err), ZKS_OK);
        CHECK(on);
        CHECK_EQ(zks_safemode_set(rd, "r9", false, err, sizeof err), ZKS_ERR);
        CHECK(strstr(err, "not authenticated") || strstr(err, "auth"));
        CHECK_EQ(zks_safemode_set(rd, "r8", true, err, sizeof err), ZKS_ERR);
        struct smwatch w3;
        smwatch_init(&w3);
        CHECK_EQ(zks_watch_safemode(rd, "r9", on_safemode, &w3), ZKS_OK);
        CHECK(wait_sm(&w3, 1, true, 5000));
        zks_close(rd);
    }

    zks_close(z);
    listener_free(&l);
}

/* ---- tools mode ---- */

static bool get_mount_rec(struct zks *z, const char *src, int64_t *nsq, int64_t *ssq)
{
    struct record r;
    char err[512];
    if (zks_get(z, REC_MOUNT, src, &r, NULL, err, sizeof err) != ZKS_OK) {
        fprintf(stderr, "get %s: %s\n", src, err);
        return false;
    }
    *nsq = r.u.mount.ns_quota;
    *ssq = r.u.mount.ss_quota;
    record_free(&r);
    return true;
}

static int ns_disabled(struct zks *z, const char *name)
{
    struct record r;
    char err[512];
    if (zks_get(z, REC_NAMESERVICE, name, &r, NULL, err, sizeof err) != ZKS_OK)
        return -1;
    int d = r.u.ns.disabled;
    record_free(&r);
    return d;
}

static void test_tools(void)
{
    char out[8192];
    struct listener l;
    listener_init(&l);
    struct zks *z = open_store(&l, 10000);
    CHECK(z != NULL);
    if (!z)
        return;
    CHECK_EQ(zks_wait_ready(z, 10000), ZKS_OK);
    int64_t nsq = 0, ssq = 0;

    CHECK_EQ(ADMIN(out, "-addNameservice ns1 127.0.0.1:9000"), 0);
    CHECK_EQ(ADMIN(out, "-addNameservice ns2 127.0.0.1:9100"), 0);

    /* quotas on -add / -update */
    CHECK_EQ(ADMIN(out, "-add /data ns1 /data -nsQuota 100 -ssQuota 10g -noCreate"), 0);
    CHECK(get_mount_rec(z, "/data", &nsq, &ssq));
    CHECK_EQ(nsq, 100);
    CHECK_EQ(ssq, 10LL << 30);
    CHECK_EQ(ADMIN(out, "-ls"), 0);
    CHECK(strstr(out, "ns=100,ss=10737418240") != NULL);
    CHECK_EQ(ADMIN(out, "-update /data -nsQuota 5"), 0);
    CHECK(get_mount_rec(z, "/data", &nsq, &ssq));
    CHECK(nsq == 5 && ssq == 10LL << 30);
    CHECK_EQ(ADMIN(out, "-add /q ns1 /q -nsQuota 0"), 1);
    CHECK_EQ(ADMIN(out, "-add /q ns1 /q -ssQuota lots"), 1);
    CHECK_EQ(ADMIN(out, "-add /q ns1 /q -nsQuota"), 1);
    CHECK_EQ(ADMIN(out, "-ls"), 0);
    CHECK(strstr(out, "/q ") == NULL); /* nothing written */

    /* -setQuota / -clrQuota */
    CHECK_EQ(ADMIN(out, "-setQuota /data -nsQuota 7"), 0);
    CHECK(strstr(out, "Successfully set quota for mount point /data") != NULL);
    CHECK(get_mount_rec(z, "/data", &nsq, &ssq));
    CHECK(nsq == 7 && ssq == 10LL << 30); /* the one not named is kept */
    CHECK_EQ(ADMIN(out, "-setQuota /data/ -ssQuota 1m"), 0);
    CHECK(get_mount_rec(z, "/data", &nsq, &ssq));
    CHECK(nsq == 7 && ssq == 1 << 20);
    CHECK_EQ(ADMIN(out, "-setQuota /data -nsQuota 3 -ssQuota 4096"), 0);
    CHECK(get_mount_rec(z, "/data", &nsq, &ssq));
    CHECK(nsq == 3 && ssq == 4096);
    CHECK_EQ(ADMIN(out, "-setQuota /data"), 1);
    CHECK_EQ(ADMIN(out, "-setQuota"), 1);
    CHECK_EQ(ADMIN(out, "-setQuota /data -nsQuota -5"), 1);
    CHECK_EQ(ADMIN(out, "-setQuota /data -bogus 1"), 1);
    CHECK_EQ(ADMIN(out, "-setQuota /nowhere -nsQuota 1"), 3);
    CHECK(strstr(out, "does not exist") != NULL);
    CHECK(get_mount_rec(z, "/data", &nsq, &ssq));
    CHECK(nsq == 3 && ssq == 4096);
    for (int64_t until = now_ms() + 5000; now_ms() < until; sleep_ms(5)) {
        pthread_mutex_lock(&l.mu);
        struct record *r = recset_find(&l.set, REC_MOUNT, "/data");
        bool seen = r && r->u.mount.ns_quota == 3 && r->u.mount.ss_quota == 4096;
        pthread_mutex_unlock(&l.mu);
        if (seen)
            break;
    }
    pthread_mutex_lock(&l.mu);
    struct record *lr = recset_find(&l.set, REC_MOUNT, "/data");
    CHECK(lr && lr->u.mount.ns_quota == 3 && lr->u.mount.ss_quota == 4096); /* routers see it */
    pthread_mutex_unlock(&l.mu);
    CHECK_EQ(ADMIN(out, "-clrQuota /data"), 0);
    CHECK(strstr(out, "Successfully cleared quota for mount point /data") != NULL);
    CHECK(get_mount_rec(z, "/data", &nsq, &ssq));
    CHECK(nsq == -1 && ssq == -1);
    CHECK_EQ(ADMIN(out, "-clrQuota /nowhere"), 3);
    CHECK_EQ(ADMIN(out, "-clrQuota /data extra"), 1);
    CHECK(wait_dests(&l, "/data", "ns1:/data", 5000)); /* destinations untouched */

    /* disabled nameservices */
    CHECK_EQ(ADMIN(out, "-getDisabledNameservices"), 0);
    CHECK(strstr(out, "ns1") == NULL && strstr(out, "ns2") == NULL);
    CHECK_EQ(ADMIN(out, "-disableNameservice ns2"), 0);
    CHECK(strstr(out, "Successfully disabled nameservice ns2") != NULL);
    CHECK_EQ(ns_disabled(z, "ns2"), 1);
    CHECK_EQ(ns_disabled(z, "ns1"), 0);
    CHECK_EQ(ADMIN(out, "-getDisabledNameservices"), 0);
    CHECK(strstr(out, "ns2") != NULL && strstr(out, "ns1") == NULL);
    CHECK_EQ(ADMIN(out, "-disableNameservice ns2"), 0);
    CHECK(strstr(out, "already disabled") != NULL);
    CHECK_EQ(ADMIN(out, "-lsNameservices"), 0);
    CHECK(strstr(out, "disabled") != NULL);
    CHECK_EQ(ADMIN(out, "-disableNameservice nosuch"), 3);
    CHECK_EQ(ADMIN(out, "-disableNameservice"), 1);
    CHECK_EQ(ADMIN(out, "-getDisabledNameservices extra"), 1);
    CHECK_EQ(ADMIN(out, "-enableNameservice ns2"), 0);
    CHECK_EQ(ns_disabled(z, "ns2"), 0);
    CHECK_EQ(ADMIN(out, "-getDisabledNameservices"), 0);
    CHECK(strstr(out, "ns2") == NULL);
    /* -addNameservice keeps the flag of an existing one */
    CHECK_EQ(ADMIN(out, "-disableNameservice ns2"), 0);
    CHECK_EQ(ADMIN(out, "-addNameservice ns2 127.0.0.1:9101"), 0);
    CHECK_EQ(ns_disabled(z, "ns2"), 1);
    CHECK_EQ(ADMIN(out, "-enableNameservice ns2"), 0);

    /* -resolve */
    CHECK_EQ(ADMIN(out, "-resolve /data/x/y"), 0);
    CHECK(strstr(out, "/data/x/y -> ns1:/data/x/y\n") != NULL);
    CHECK_EQ(ADMIN(out, "-resolve //data//x/"), 0);
    CHECK(strstr(out, "/data/x -> ns1:/data/x\n") != NULL);
    CHECK_EQ(ADMIN(out, "-add /multi ns1,ns2 /m -order HASH_ALL -noCreate"), 0);
    CHECK_EQ(ADMIN(out, "-resolve /multi/f"), 0);
    bool via1 = strstr(out, "/multi/f -> ns1:/m/f\n") && strstr(out, "then ns2:/m/f");
    bool via2 = strstr(out, "/multi/f -> ns2:/m/f\n") && strstr(out, "then ns1:/m/f");
    CHECK(via1 || via2);
    CHECK_EQ(ADMIN(out, "-resolve /elsewhere"), 3); /* no default nameservice in this FILE */
    CHECK(strstr(out, "/elsewhere -> none: no mount point") != NULL);
    CHECK_EQ(ADMIN(out, "-resolve relative"), 1);
    CHECK_EQ(ADMIN(out, "-resolve"), 1);
    CHECK_EQ(ADMIN(out, "-disableNameservice ns1"), 0);
    CHECK_EQ(ADMIN(out, "-resolve /data/x"), 3);
    CHECK(strstr(out, "none: every destination") != NULL);
    CHECK_EQ(ADMIN(out, "-resolve /multi/f"), 0);
    CHECK(strstr(out, "/multi/f -> ns2:/m/f\n") != NULL && strstr(out, "then ns1") == NULL);
    CHECK_EQ(ADMIN(out, "-enableNameservice ns1"), 0);
    /* the default nameservice comes from FILE */
    char dcfg[700], dtext[1024];
    snprintf(dcfg, sizeof dcfg, "%s/default.ini", tmpdir);
    snprintf(dtext, sizeof dtext,
             "[router]\nid = r1\nhdfs.listen = 127.0.0.1:18020\ndefault.nameservice = ns2\n[statestore]\n"
             "driver = zookeeper\nzk.hosts = %s\nzk.root = /fedrouter-test\n",
             hosts);
    write_file(dcfg, dtext);
    CHECK_EQ(run(out, sizeof out, "%s -c %s -resolve /elsewhere/z 2>&1", admin_bin, dcfg), 0);
    CHECK(strstr(out, "/elsewhere/z -> ns2:/elsewhere/z\n") != NULL);
    CHECK(strstr(out, "default nameservice") != NULL);
    CHECK_EQ(run(out, sizeof out, "%s -c %s -resolve /data 2>&1", admin_bin, dcfg), 0);
    CHECK(strstr(out, "/data -> ns1:/data\n") != NULL);
    /* a mount to a nameservice nobody defined still resolves, with a warning */
    CHECK_EQ(ADMIN(out, "-add /ghost ns9 /g"), 1); /* the admin tool refuses it... */
    CHECK(strstr(out, "unknown nameservice ns9") != NULL);
    {                                               /* ...another writer may not */
        struct record gr;
        char why[256];
        const char *gt = "[mount /ghost]\ndestinations = ns9:/g\n";
        CHECK_EQ(record_parse_text(gt, strlen(gt), &gr, why, sizeof why), 0);
        char perr[512];
        CHECK_EQ(zks_put(z, &gr, -1, NULL, perr, sizeof perr), ZKS_OK);
        record_free(&gr);
    }
    CHECK_EQ(ADMIN(out, "-resolve /ghost/a"), 0);
    CHECK(strstr(out, "/ghost/a -> ns9:/g/a") && strstr(out, "not defined"));

    zks_close(z);
    listener_free(&l);
}

/* ---- big mode ---- */

#define BIG_N 10000
#define BIG_WINDOW 1000

struct creator {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int inflight, failed, firstrc;
};

static void created(int rc, const char *value, const void *data)
{
    struct creator *c = (struct creator *)data;
    pthread_mutex_lock(&c->mu);
    if (rc != ZOK && !c->failed++)
        c->firstrc = rc;
    c->inflight--;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* A raw handle of the ZooKeeper client (the test's own writer), connected. */
static zhandle_t *raw_connect(void)
{
    zhandle_t *zh = zookeeper_init(hosts, NULL, 10000, NULL, NULL, 0);
    if (zh)
        zoo_set_servers_resolution_delay(zh, 30000);
    for (int64_t until = now_ms() + 10000; zh && zoo_state(zh) != ZOO_CONNECTED_STATE; sleep_ms(10))
        if (now_ms() > until) {
            zookeeper_close(zh);
            return NULL;
        }
    return zh;
}

/* The znode data of a mount, as the store writes it. */
static char *mount_data(const char *src, const char *dests, int *len)
{
    struct record r = mount(src, dests);
    size_t hl = strlen(ZKS_FORMAT_HEADER) + 1, tl = record_format(&r, true, NULL, 0);
    char *d = malloc(hl + tl + 1);
    memcpy(d, ZKS_FORMAT_HEADER "\n", hl);
    record_format(&r, true, d + hl, tl + 1);
    record_free(&r);
    *len = (int)(hl + tl);
    return d;
}

static void big_name(int i, char *src, size_t size)
{
    snprintf(src, size, "/big/d%05d", i);
}

static void test_big(void)
{
    zoo_set_debug_level((ZooLogLevel)0);
    zhandle_t *zh = raw_connect();
    CHECK(zh != NULL);
    if (!zh)
        return;
    CHECK_EQ(zoo_create(zh, "/fedrouter-test", NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), ZOK);
    CHECK_EQ(zoo_create(zh, "/fedrouter-test/mounts", NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), ZOK);

    /* 10,000 pipelined creates */
    struct creator c;
    memset(&c, 0, sizeof c);
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    int64_t t0 = now_ms();
    for (int i = 0; i < BIG_N; i++) {
        char src[64], dst[96], name[128], path[256];
        big_name(i, src, sizeof src);
        snprintf(dst, sizeof dst, "ns%d:%s", 1 + i % 2, src);
        CHECK(zks_encode_name(src, name, sizeof name) > 0);
        snprintf(path, sizeof path, "/fedrouter-test/mounts/%s", name);
        int len;
        char *data = mount_data(src, dst, &len);
        pthread_mutex_lock(&c.mu);
        while (c.inflight >= BIG_WINDOW)
            pthread_cond_wait(&c.cv, &c.mu);
        c.inflight++;
        pthread_mutex_unlock(&c.mu);
        int rc = zoo_acreate(zh, path, data, len, &ZOO_OPEN_ACL_UNSAFE, 0, created, &c);
        free(data); /* the request holds its own copy */
        if (rc != ZOK) {
            pthread_mutex_lock(&c.mu);
            c.inflight--;
            if (!c.failed++)
                c.firstrc = rc;
            pthread_mutex_unlock(&c.mu);
        }
    }
    pthread_mutex_lock(&c.mu);
    while (c.inflight > 0)
        pthread_cond_wait(&c.cv, &c.mu);
    pthread_mutex_unlock(&c.mu);
    if (c.failed)
        fprintf(stderr, "%d creates failed, the first with %s\n", c.failed, zerror(c.firstrc));
    CHECK_EQ(c.failed, 0);
    printf("wrote %d mount records (pipelined creates) in %lld ms\n", BIG_N, (long long)(now_ms() - t0));

    /* for comparison: what one synchronous read costs (the old full read did one per znode) */
    t0 = now_ms();
    const int nsync = 200;
    for (int i = 0; i < nsync; i++) {
        char src[64], name[128], path[256], buf[1024];
        big_name(i, src, sizeof src);
        zks_encode_name(src, name, sizeof name);
        snprintf(path, sizeof path, "/fedrouter-test/mounts/%s", name);
        int n = sizeof buf;
        struct Stat st;
        CHECK_EQ(zoo_get(zh, path, 0, buf, &n, &st), ZOK);
    }
    double per = (double)(now_ms() - t0) / nsync;
    printf("one synchronous read: %.2f ms (x %d = %.1f s)\n", per, BIG_N, per * BIG_N / 1000.0);

    /* the first full read of a watching store */
    struct listener l;
    listener_init(&l);
    t0 = now_ms();
    struct zks *z = open_store(&l, 10000);
    CHECK(z != NULL);
    if (!z) {
        zookeeper_close(zh);
        return;
    }
    CHECK_EQ(zks_wait_ready(z, 60000), ZKS_OK);
    int64_t took = now_ms() - t0;
    printf("zk full read: %zu records in %lld ms\n", nrecords(&l), (long long)took);
    CHECK_EQ(nrecords(&l), (size_t)BIG_N);
    CHECK_EQ(calls(&l), 1);
    CHECK(wait_dests(&l, "/big/d00000", "ns1:/big/d00000", 10));
    CHECK(wait_dests(&l, "/big/d09999", "ns2:/big/d09999", 10));
    struct zks_status st;
    zks_status(z, &st);
    CHECK_EQ(st.records, (size_t)BIG_N);
    CHECK_EQ(st.skipped_now, 0u);

    /* one change after it: every znode read carries its watch */
    int len;
    char *data = mount_data("/big/d04321", "ns2:/moved", &len);
    t0 = now_ms();
    CHECK_EQ(zoo_set(zh, "/fedrouter-test/mounts/%2Fbig%2Fd04321", data, len, -1), ZOK);
    free(data);
    CHECK(wait_dests(&l, "/big/d04321", "ns2:/moved", 5000));
    printf("zk change after the full read: %lld ms to the callback\n", (long long)(now_ms() - t0));
    /* and a delete, a bad record and a new record, in one burst */
    data = mount_data("/big/new", "ns1:/new", &len);
    CHECK_EQ(zoo_delete(zh, "/fedrouter-test/mounts/%2Fbig%2Fd00007", -1), ZOK);
    CHECK_EQ(zoo_set(zh, "/fedrouter-test/mounts/%2Fbig%2Fd00008", "garbage", 7, -1), ZOK);
    CHECK_EQ(zoo_create(zh, "/fedrouter-test/mounts/%2Fbig%2Fnew", data, len, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), ZOK);
    free(data);
    CHECK(wait_dests(&l, "/big/new", "ns1:/new", 5000));
    CHECK(wait_dests(&l, "/big/d00007", "", 5000));
    CHECK(wait_dests(&l, "/big/d00008", "ns1:/big/d00008", 10)); /* its last good version */
    zks_status(z, &st);
    CHECK_EQ(st.skipped_now, 1u);
    CHECK_EQ(nrecords(&l), (size_t)BIG_N);

    /* a second store (admin-style: no callback) reads the same table */
    struct zks *z2 = open_store(NULL, 10000);
    CHECK(z2 != NULL);
    if (z2) {
        t0 = now_ms();
        CHECK_EQ(zks_wait_ready(z2, 60000), ZKS_OK);
        struct record_set rs;
        CHECK_EQ(zks_current(z2, &rs, NULL), ZKS_OK);
        printf("zk full read (second store): %zu records in %lld ms\n", rs.n, (long long)(now_ms() - t0));
        CHECK_EQ(rs.n, (size_t)BIG_N - 1); /* the bad record has no last good version here */
        recset_free(&rs);
        zks_close(z2);
    }
    zks_close(z);
    listener_free(&l);
    zookeeper_close(zh);
    pthread_cond_destroy(&c.cv);
    pthread_mutex_destroy(&c.mu);
}

/* ---- table mode: zks_entries, zks_apply (multi-op), zks_refresh ---- */

static int32_t entry_version(struct zks *z, enum rec_kind k, const char *key)
{
    struct zks_entry *v;
    size_t n;
    int32_t ver = -2;
    if (zks_entries(z, &v, &n) != ZKS_OK)
        return -3;
    for (size_t i = 0; i < n; i++)
        if (v[i].kind == k && !strcmp(v[i].key, key))
            ver = v[i].version;
    zks_entries_free(v, n);
    return ver;
}

static void test_table(void)
{
    struct listener l;
    listener_init(&l);
    struct zks *z = open_store(&l, 10000);
    CHECK(z != NULL);
    if (!z)
        return;
    CHECK_EQ(zks_wait_ready(z, 10000), ZKS_OK);
    char err[512];
    struct record t1 = mount("/t1", "ns1:/t1"), t2 = mount("/t2", "ns1:/t2");
    CHECK_EQ(zks_put(z, &t1, -1, NULL, err, sizeof err), ZKS_OK);
    CHECK_EQ(zks_put(z, &t2, -1, NULL, err, sizeof err), ZKS_OK);
    CHECK(wait_dests(&l, "/t2", "ns1:/t2", 5000));
    int32_t v1 = entry_version(z, REC_MOUNT, "/t1"), v2 = entry_version(z, REC_MOUNT, "/t2");
    CHECK(v1 >= 0 && v2 >= 0);
    CHECK_EQ(entry_version(z, REC_MOUNT, "/nope"), -2);

    /* one stale version: the whole transaction fails, nothing of it is written */
    struct record t1b = mount("/t1", "ns1:/t1b"), t3 = mount("/t3", "ns1:/t3");
    struct zks_op ops[3] = {
        {.op = ZKS_OP_PUT, .rec = &t1b, .version = v1},
        {.op = ZKS_OP_PUT, .rec = &t3, .version = -1},
        {.op = ZKS_OP_DELETE, .kind = REC_MOUNT, .key = "/t2", .version = v2 + 5},
    };
    size_t ntx = 99;
    CHECK_EQ(zks_apply(z, ops, 3, 0, &ntx, err, sizeof err), ZKS_CONFLICT);
    CHECK_EQ(ntx, 0u);
    CHECK(strstr(err, "mount /t2 was changed by someone else") != NULL);
    struct record got;
    CHECK_EQ(zks_get(z, REC_MOUNT, "/t3", &got, NULL, err, sizeof err), ZKS_NOTFOUND);
    CHECK_EQ(zks_get(z, REC_MOUNT, "/t1", &got, NULL, err, sizeof err), ZKS_OK);
    CHECK(!strcmp(got.u.mount.dests[0].path, "/t1"));
    record_free(&got);

    /* the right versions: one transaction, all of it applied. ZooKeeper
     * sends one watch event per changed znode; they usually reach the
     * store in one round, but on a loaded machine the store may wake on
     * the first before the others arrive, so the watcher sees the change
     * in one round or more, and ends with all of it. */
    ops[2].version = v2;
    int c0 = calls(&l);
    CHECK_EQ(zks_apply(z, ops, 3, 0, &ntx, err, sizeof err), ZKS_OK);
    CHECK_EQ(ntx, 1u);
    CHECK(wait_dests(&l, "/t3", "ns1:/t3", 5000));
    CHECK(wait_dests(&l, "/t2", "", 5000));
    CHECK(wait_dests(&l, "/t1", "ns1:/t1b", 5000));
    CHECK(calls(&l) >= c0 + 1);

    /* a small request limit cuts the list into several transactions */
    struct record t4 = mount("/t4", "ns1:/t4"), t5 = mount("/t5", "ns1:/t5");
    struct zks_op more[2] = {{.op = ZKS_OP_PUT, .rec = &t4, .version = -1},
                             {.op = ZKS_OP_PUT, .rec = &t5, .version = -1}};
    CHECK_EQ(zks_apply(z, more, 2, 100, &ntx, err, sizeof err), ZKS_OK);
    CHECK_EQ(ntx, 2u);

    /* refresh: a new batch reaches the watcher although nothing changed,
     * and the zxid it reports covers the request */
    CHECK(wait_dests(&l, "/t5", "ns1:/t5", 5000));
    c0 = calls(&l);
    uint64_t mzxid = 0;
    CHECK_EQ(zks_refresh(z, &mzxid, err, sizeof err), ZKS_OK);
    CHECK(mzxid > 0);
    for (int64_t until = now_ms() + 5000; calls(&l) == c0 && now_ms() < until;)
        sleep_ms(5);
    CHECK_EQ(calls(&l), c0 + 1);
    CHECK(last_zxid(&l) >= mzxid);
    CHECK_EQ(nrecords(&l), 4u);
    CHECK_EQ(zks_refresh(z, NULL, err, sizeof err), ZKS_OK); /* the znode exists now: rewritten */
    for (int64_t until = now_ms() + 5000; calls(&l) == c0 + 1 && now_ms() < until;)
        sleep_ms(5);
    CHECK_EQ(calls(&l), c0 + 2);

    record_free(&t1);
    record_free(&t2);
    record_free(&t1b);
    record_free(&t3);
    record_free(&t4);
    record_free(&t5);
    zks_close(z);
    listener_free(&l);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s admin|burst|outage|big|safemode|tools|table ADMIN_BIN SCRIPT_DIR\n", argv[0]);
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
    else if (!strcmp(mode, "big"))
        test_big();
    else if (!strcmp(mode, "safemode"))
        test_safemode(datadir);
    else if (!strcmp(mode, "tools"))
        test_tools();
    else if (!strcmp(mode, "table"))
        test_table();
    else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    printf("%s: %.1f s\n", mode, (double)(now_ms() - t0) / 1000.0);
    return check_report();
}
