/*
 * store_zk.c: the router on the `zookeeper` statestore driver.
 *
 *   ZooKeeper --watch--> zkstore thread --records--> snapshot_build
 *                                           --> snapshot_ref_publish (workers see it
 *                                               at their next call)
 *                                           --> the router's registration znode says
 *                                               which snapshot and zxid it serves
 *
 * While ZooKeeper is unreachable the last snapshot keeps serving; health and
 * metrics say since when the table is stale. The router registers itself as
 * an ephemeral znode (id, addresses, version, start time, snapshot).
 */
#define _GNU_SOURCE
#include "store_zk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hms_conn.h"
#include "log.h"
#include "metrics.h"
#include "route_state.h"
#include "router.h"
#include "snapshot.h"
#include "zkstore.h"

#ifndef FEDROUTER_VERSION
#define FEDROUTER_VERSION "0.1"
#endif

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void skipped(void *ctx, const struct record *r, const char *why)
{
    fr_warn("statestore: %s %s left out: %s", rec_kind_name(r->kind), record_key(r), why);
}

static void register_self(struct route_state *rs, uint64_t version, uint64_t zxid)
{
    struct zks_router info;
    memset(&info, 0, sizeof info);
    snprintf(info.id, sizeof info.id, "%s", rs->router->id);
    snprintf(info.hdfs, sizeof info.hdfs, "%s", rs->hdfs_addr);
    snprintf(info.admin, sizeof info.admin, "%s", rs->admin_addr);
    snprintf(info.version, sizeof info.version, "%s", FEDROUTER_VERSION);
    info.start_ms = rs->start_ms;
    info.snapshot = version;
    info.zxid = zxid;
    char err[256];
    if (zks_register_router(rs->zk, &info, err, sizeof err) != ZKS_OK)
        fr_warn("statestore: cannot register router %s: %s", info.id, err);
}

/* Runs on the store's thread after each batch of changes. */
static void on_change(void *ctx, const struct record_set *recs, uint64_t zxid)
{
    struct route_state *rs = ctx;
    struct snap_params p = { .default_ns = rs->default_ns[0] ? rs->default_ns : NULL, .on_skip = skipped };
    struct snap_stats stats;
    struct snapshot *s = snapshot_build(recs, &p, &stats);
    if (!s) {
        atomic_fetch_add(&rs->reload_failures, 1);
        snprintf(rs->last_error, sizeof rs->last_error, "out of memory building the routing snapshot");
        return;
    }
    hms_log_clashes(s);
    snapshot_ref_publish(&rs->ref, s);
    uint64_t version = snapshot_version(s);
    atomic_store(&rs->zxid, zxid);
    atomic_store(&rs->loaded_at_ms, wall_ms());
    atomic_fetch_add(&rs->rebuilds, 1);
    rs->last_error[0] = 0;
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
    struct route_state *rs = arg;
    uint64_t written = UINT64_MAX;
    while (!atomic_load(&rs->stop)) {
        struct snapshot *s = snapshot_acquire(&rs->ref);
        uint64_t v = s ? snapshot_version(s) : 0;
        snapshot_release(s);
        if (rs->registered && v != written) {
            register_self(rs, v, atomic_load(&rs->zxid));
            written = v;
        }
        for (int i = 0; i < 4 && !atomic_load(&rs->stop); i++)
            usleep(50000);
    }
    return NULL;
}

/* Safe mode, as fedrouter-admin -safemode sets it for this router. */
static void on_safemode(void *ctx, bool on)
{
    struct route_state *rs = ctx;
    bool was = atomic_exchange(&rs->router->safe_mode, on);
    if (was != on)
        fr_info("router %s %s safe mode", rs->router->id, on ? "entered" : "left");
}

int store_zk_start(struct route_state *rs, const struct config *cfg, char *why, size_t whylen)
{
    snprintf(rs->default_ns, sizeof rs->default_ns, "%s", cfg->router.default_ns ? cfg->router.default_ns : "");
    rs->start_ms = wall_ms();
    rs->zk = zks_open(cfg->store.zk_hosts, cfg->store.zk_root, cfg->store.zk_session_timeout_ms,
                      cfg->store.zk_auth_file, on_change, rs, why, whylen);
    if (!rs->zk)
        return -1;
    if (zks_watch_safemode(rs->zk, rs->router->id, on_safemode, rs) != ZKS_OK) {
        snprintf(why, whylen, "router id %s cannot name a safe-mode znode", rs->router->id);
        return -1;
    }
    /* The first table: wait a little, but a router whose ZooKeeper is down
     * still starts (its health says the table is stale) and picks the table
     * up when ZooKeeper answers. */
    if (zks_wait_ready(rs->zk, cfg->store.zk_session_timeout_ms < 10000 ? cfg->store.zk_session_timeout_ms : 10000) !=
        ZKS_OK)
        fr_warn("statestore: ZooKeeper %s has not answered yet: serving an empty table until it does",
                cfg->store.zk_hosts);
    return 0;
}

void store_zk_register(struct route_state *rs, const char *hdfs_addr, const char *admin_addr)
{
    if (!rs->zk)
        return;
    snprintf(rs->hdfs_addr, sizeof rs->hdfs_addr, "%s", hdfs_addr);
    snprintf(rs->admin_addr, sizeof rs->admin_addr, "%s", admin_addr);
    rs->registered = true;
    struct snapshot *s = snapshot_acquire(&rs->ref);
    register_self(rs, s ? snapshot_version(s) : 0, atomic_load(&rs->zxid));
    snapshot_release(s);
    if (pthread_create(&rs->registrar, NULL, registrar, rs) == 0)
        rs->registrar_started = true;
    else
        fr_error("statestore: cannot start the registrar thread: the registration will not follow snapshot "
                 "changes");
}

void store_zk_stop(struct route_state *rs)
{
    if (rs->registrar_started) {
        atomic_store(&rs->stop, true);
        pthread_join(rs->registrar, NULL);
        rs->registrar_started = false;
    }
    zks_close(rs->zk);
    rs->zk = NULL;
}

bool store_zk_health(struct route_state *rs, char *out, size_t cap)
{
    struct zks_status st;
    zks_status(rs->zk, &st);
    if (st.connected && st.ready) {
        snprintf(out, cap, " statestore=zookeeper zxid=0x%llx", (unsigned long long)st.zxid);
        return true;
    }
    if (!st.ready) {
        snprintf(out, cap, " statestore=zookeeper no-table-yet");
        return false;
    }
    time_t t = (time_t)(st.stale_since_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(out, cap, " statestore=zookeeper stale since=%s (%lld s) zxid=0x%llx", when,
             (long long)((wall_ms() - st.stale_since_ms) / 1000), (unsigned long long)st.zxid);
    /* Still serving the last good table: healthy for a load balancer. */
    return true;
}

void store_zk_gauges(struct route_state *rs, struct buf *out)
{
    struct zks_status st;
    zks_status(rs->zk, &st);
    metrics_printf(out, "# TYPE fedrouter_statestore_connected gauge\nfedrouter_statestore_connected %d\n",
                   st.connected ? 1 : 0);
    metrics_printf(out,
                   "# TYPE fedrouter_statestore_stale_seconds gauge\nfedrouter_statestore_stale_seconds %.3f\n",
                   st.stale_since_ms ? (double)(wall_ms() - st.stale_since_ms) / 1000.0 : 0.0);
    metrics_printf(out, "# TYPE fedrouter_statestore_zxid gauge\nfedrouter_statestore_zxid %llu\n",
                   (unsigned long long)st.zxid);
    metrics_printf(out,
                   "# TYPE fedrouter_statestore_skipped_records gauge\nfedrouter_statestore_skipped_records %zu\n",
                   st.skipped_now);
    metrics_printf(out,
                   "# TYPE fedrouter_statestore_skipped_total counter\nfedrouter_statestore_skipped_total %llu\n",
                   (unsigned long long)st.skipped_total);
    metrics_printf(out, "# TYPE fedrouter_statestore_sessions_total counter\nfedrouter_statestore_sessions_total %llu\n",
                   (unsigned long long)st.sessions);
    metrics_printf(out, "# TYPE fedrouter_snapshot_rebuilds_total counter\nfedrouter_snapshot_rebuilds_total %llu\n",
                   (unsigned long long)atomic_load(&rs->rebuilds));
}
