/*
 * store_zk.c: the `zookeeper` statestore driver, the router's side of
 * zkstore.
 *
 *   ZooKeeper --watch--> zkstore thread --records--> snapshot_build
 *                                           --> before_publish, snapshot_ref_publish
 *                                               (workers see it at their next call)
 *                                           --> the router's registration znode says
 *                                               which snapshot and zxid it serves
 *
 * While ZooKeeper is unreachable the last snapshot keeps serving; health and
 * metrics say since when the table is stale. The router registers itself as
 * an ephemeral znode (id, addresses, version, start time, snapshot).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "snapshot.h"
#include "store_int.h"
#include "zkstore.h"

#ifndef FEDROUTER_VERSION
#define FEDROUTER_VERSION "0.1"
#endif

struct store_zk {
    struct store base;                  /* first: a struct store * is a struct store_zk * */
    struct zks *zk;
    char router_id[128];
    char default_ns[128];
    char hdfs_addr[128], admin_addr[128];
    int64_t start_ms;
    bool registered;
    pthread_t registrar;                /* keeps the registration in step with the snapshot */
    bool registrar_started;
    _Atomic uint64_t zxid;              /* of the records the snapshot was built from */
    _Atomic uint64_t rebuilds;
};

static void skipped(void *ctx, const struct record *r, const char *why)
{
    fr_warn("statestore: %s %s left out: %s", rec_kind_name(r->kind), record_key(r), why);
}

static bool register_self(struct store_zk *z, uint64_t version, uint64_t zxid)
{
    struct zks_router info;
    memset(&info, 0, sizeof info);
    snprintf(info.id, sizeof info.id, "%s", z->router_id);
    snprintf(info.hdfs, sizeof info.hdfs, "%s", z->hdfs_addr);
    snprintf(info.admin, sizeof info.admin, "%s", z->admin_addr);
    snprintf(info.version, sizeof info.version, "%s", FEDROUTER_VERSION);
    info.start_ms = z->start_ms;
    info.snapshot = version;
    info.zxid = zxid;
    char err[256];
    int rc = zks_register_router(z->zk, &info, err, sizeof err);
    if (rc == ZKS_NOCONN)
        return true; /* the store thread registers this info once a session exists */
    if (rc != ZKS_OK) {
        fr_warn("statestore: cannot register router %s: %s", info.id, err);
        return false;
    }
    return true;
}

/* Runs on the store's thread after each batch of changes. */
static void on_change(void *ctx, const struct record_set *recs, uint64_t zxid)
{
    struct store_zk *z = ctx;
    struct snap_params p = { .default_ns = z->default_ns[0] ? z->default_ns : NULL, .on_skip = skipped };
    struct snap_stats stats;
    struct snapshot *s = snapshot_build(recs, &p, &stats);
    if (!s) {
        store_failed(&z->base, "out of memory building the routing snapshot");
        return;
    }
    /* The zxid first: the registrar pairs it with the snapshot it sees
     * published, and must never pair a new snapshot with the old zxid. */
    atomic_store(&z->zxid, zxid);
    store_publish(&z->base, s);
    uint64_t version = snapshot_version(s);
    atomic_store(&z->base.loaded_at_ms, fr_wall_ms());
    atomic_fetch_add(&z->rebuilds, 1);
    store_clear_error(&z->base);
    fr_info("statestore: snapshot %llu from zxid 0x%llx (%zu mounts, %zu nameservices)", (unsigned long long)version,
            (unsigned long long)zxid, stats.mounts, stats.nameservices);
    /* The registration says which snapshot this router serves; the
     * registrar thread writes it, so this thread, which reads the next
     * changes, never waits on a ZooKeeper write. */
}

/* Keeps the registration znode in step with the snapshot served, at most
 * a few writes a second whatever the rate of changes. */
static void *registrar(void *arg)
{
    struct store_zk *z = arg;
    uint64_t written = UINT64_MAX, written_zxid = UINT64_MAX;
    while (!atomic_load(&z->base.stop)) {
        struct snapshot *s = snapshot_acquire(z->base.host.ref);
        uint64_t v = s ? snapshot_version(s) : 0;
        snapshot_release(s);
        uint64_t zx = atomic_load(&z->zxid);
        /* A failed write (connection loss) is tried again on the next tick. */
        if (z->registered && (v != written || zx != written_zxid) && register_self(z, v, zx)) {
            written = v;
            written_zxid = zx;
        }
        for (int i = 0; i < 4 && !atomic_load(&z->base.stop); i++)
            usleep(50000);
    }
    return NULL;
}

/* Safe mode, as fedrouter-admin -safemode sets it for this router. */
static void on_safemode(void *ctx, bool on)
{
    struct store_zk *z = ctx;
    if (z->base.host.safemode)
        z->base.host.safemode(z->base.host.ctx, on);
}

static void zk_free(struct store_zk *z)
{
    zks_close(z->zk);
    store_base_destroy(&z->base);
    free(z);
}

static struct store *zk_start(const struct store_params *set, const struct store_host *host, char *why,
                              size_t whylen)
{
    struct store_zk *z = calloc(1, sizeof *z);
    if (!z) {
        snprintf(why, whylen, "statestore: out of memory");
        return NULL;
    }
    store_base_init(&z->base, &store_zk_ops, host);
    snprintf(z->router_id, sizeof z->router_id, "%s", set->router_id);
    snprintf(z->default_ns, sizeof z->default_ns, "%s", set->default_ns ? set->default_ns : "");
    z->start_ms = fr_wall_ms();
    char err[1024];
    z->zk = zks_open(set->zk_hosts, set->zk_root, set->zk_session_timeout_ms, set->zk_auth_file, on_change, z, err,
                     sizeof err);
    if (!z->zk) {
        snprintf(why, whylen, "statestore: %s", err);
        zk_free(z);
        return NULL;
    }
    if (zks_watch_safemode(z->zk, z->router_id, on_safemode, z) != ZKS_OK) {
        snprintf(why, whylen, "statestore: router id %s cannot name a safe-mode znode", z->router_id);
        zk_free(z);
        return NULL;
    }
    /* The first table: wait a little, but a router whose ZooKeeper is down
     * still starts (its health says the table is stale) and picks the table
     * up when ZooKeeper answers. */
    if (zks_wait_ready(z->zk, set->zk_session_timeout_ms < 10000 ? set->zk_session_timeout_ms : 10000) != ZKS_OK)
        fr_warn("statestore: ZooKeeper %s has not answered yet: serving an empty table until it does",
                set->zk_hosts);
    return &z->base;
}

static void zk_advertise(struct store *st, const char *hdfs_addr, const char *admin_addr)
{
    struct store_zk *z = (struct store_zk *)st;
    if (!z->zk)
        return;
    snprintf(z->hdfs_addr, sizeof z->hdfs_addr, "%s", hdfs_addr);
    snprintf(z->admin_addr, sizeof z->admin_addr, "%s", admin_addr);
    z->registered = true;
    struct snapshot *s = snapshot_acquire(st->host.ref);
    register_self(z, s ? snapshot_version(s) : 0, atomic_load(&z->zxid));
    snapshot_release(s);
    if (pthread_create(&z->registrar, NULL, registrar, z) == 0)
        z->registrar_started = true;
    else
        fr_error("statestore: cannot start the registrar thread: the registration will not follow snapshot "
                 "changes");
}

static void zk_stop(struct store *st)
{
    struct store_zk *z = (struct store_zk *)st;
    atomic_store(&st->stop, true);
    if (z->registrar_started) {
        pthread_join(z->registrar, NULL);
        z->registrar_started = false;
    }
    zk_free(z);
}

static bool zk_health(struct store *st, char *out, size_t cap)
{
    struct store_zk *z = (struct store_zk *)st;
    struct zks_status zs;
    zks_status(z->zk, &zs);
    if (zs.connected && zs.ready) {
        snprintf(out, cap, " statestore=zookeeper zxid=0x%llx", (unsigned long long)zs.zxid);
        return true;
    }
    if (!zs.ready) {
        snprintf(out, cap, " statestore=zookeeper no-table-yet");
        return false;
    }
    time_t t = (time_t)(zs.stale_since_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(out, cap, " statestore=zookeeper stale since=%s (%lld s) zxid=0x%llx", when,
             (long long)((fr_wall_ms() - zs.stale_since_ms) / 1000), (unsigned long long)zs.zxid);
    /* Still serving the last good table: healthy for a load balancer. */
    return true;
}

static void zk_gauges(struct store *st, store_print_fn print, void *out)
{
    struct store_zk *z = (struct store_zk *)st;
    struct zks_status zs;
    zks_status(z->zk, &zs);
    print(out, "# TYPE fedrouter_statestore_connected gauge\nfedrouter_statestore_connected %d\n",
          zs.connected ? 1 : 0);
    print(out, "# TYPE fedrouter_statestore_stale_seconds gauge\nfedrouter_statestore_stale_seconds %.3f\n",
          zs.stale_since_ms ? (double)(fr_wall_ms() - zs.stale_since_ms) / 1000.0 : 0.0);
    print(out, "# TYPE fedrouter_statestore_zxid gauge\nfedrouter_statestore_zxid %llu\n",
          (unsigned long long)zs.zxid);
    print(out, "# TYPE fedrouter_statestore_skipped_records gauge\nfedrouter_statestore_skipped_records %zu\n",
          zs.skipped_now);
    print(out, "# TYPE fedrouter_statestore_skipped_total counter\nfedrouter_statestore_skipped_total %llu\n",
          (unsigned long long)zs.skipped_total);
    print(out, "# TYPE fedrouter_statestore_sessions_total counter\nfedrouter_statestore_sessions_total %llu\n",
          (unsigned long long)zs.sessions);
    print(out, "# TYPE fedrouter_snapshot_rebuilds_total counter\nfedrouter_snapshot_rebuilds_total %llu\n",
          (unsigned long long)atomic_load(&z->rebuilds));
}

static void zk_info(struct store *st, struct store_info *out)
{
    struct store_zk *z = (struct store_zk *)st;
    struct zks_status zs;
    zks_status(z->zk, &zs);
    out->has_zk = true;
    out->connected = zs.connected;
    out->ready = zs.ready;
    out->stale_since_ms = zs.stale_since_ms;
    out->zxid = zs.zxid;
}

static int zk_routers(struct store *st, struct store_router **out, size_t *n, char *why, size_t whylen)
{
    struct store_zk *z = (struct store_zk *)st;
    struct zks_status zs;
    zks_status(z->zk, &zs);
    if (!zs.connected) { /* no waiting on a session that is not there */
        snprintf(why, whylen, "ZooKeeper is not connected");
        return -1;
    }
    struct zks_router *v = NULL;
    size_t k = 0;
    if (zks_list_routers(z->zk, &v, &k, why, whylen) != ZKS_OK)
        return -1;
    struct store_router *r = calloc(k ? k : 1, sizeof *r);
    if (!r) {
        free(v);
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < k; i++) {
        snprintf(r[i].id, sizeof r[i].id, "%s", v[i].id);
        snprintf(r[i].hdfs, sizeof r[i].hdfs, "%s", v[i].hdfs);
        snprintf(r[i].hms, sizeof r[i].hms, "%s", v[i].hms);
        snprintf(r[i].admin, sizeof r[i].admin, "%s", v[i].admin);
        snprintf(r[i].version, sizeof r[i].version, "%s", v[i].version);
        r[i].start_ms = v[i].start_ms;
        r[i].snapshot = v[i].snapshot;
        r[i].zxid = v[i].zxid;
    }
    free(v);
    *out = r;
    *n = k;
    return 0;
}

const struct store_ops store_zk_ops = {
    .name = "zookeeper",
    .start = zk_start,
    .advertise = zk_advertise,
    .health = zk_health,
    .gauges = zk_gauges,
    .info = zk_info,
    .routers = zk_routers,
    .stop = zk_stop,
};
