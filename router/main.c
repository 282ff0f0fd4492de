/*
 * fedrouter: the federation router daemon.
 *
 *   fedrouter -c FILE        run (FILE: the INI file of DESIGN.md)
 *   fedrouter -t -c FILE     check FILE and exit (0 when valid)
 *   fedrouter --help         usage and every option with its default
 *
 * main: load the config, publish the first routing snapshot, start the
 * admin endpoint and the workers (one SO_REUSEPORT listener each), print
 * `ready hdfs=HOST:PORT admin=HOST:PORT`, then wait for signals: SIGTERM or
 * SIGINT drains and stops: the listening sockets close at once (new
 * connections are refused, so clients and load balancers move on), idle
 * clients are closed, calls in flight finish within shutdown.grace_ms, then
 * the process exits 0. The statestore driver (statestore/store.h), chosen
 * once from [statestore] driver, keeps the routing table current: the file
 * driver reloads the config file when it changes (a bad file keeps the last
 * good table), the zookeeper driver follows the records in ZooKeeper.
 *
 * Under systemd (Type=notify) the router tells its service manager what it
 * is doing through sd_notify: READY=1 once the listeners are bound and the
 * statestore has a table, RELOADING=1 then READY=1 around each reload of
 * the file, STOPPING=1 when a drain starts. SIGHUP (systemctl reload)
 * re-reads the file at once: the keys --help marks [reload] take effect,
 * and with the file driver the records too, without the settle wait (the
 * operator says the file is complete), and reopens the audit logs (after
 * logrotate moved them). Outside systemd NOTIFY_SOCKET is unset and these
 * messages go nowhere.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "admin.h"
#include "audit.h"
#include "health.h"
#include "cluster_state.h"
#include "config.h"
#include "metrics.h"
#include "net.h"
#include "route_state.h"
#include "router.h"
#include "sasl_client.h"
#include "sasl_server.h"
#include "status.h"
#include "store.h"
#include "hms_conn.h"
#include "hms_up.h"
#include "log.h"
#include "upstream.h"
#include "worker.h"
#include "workpool.h"

/* log.level as the log module counts levels. */
static enum fr_log_level log_level(const struct config *cfg)
{
    switch (cfg->router.log_level) {
    case CFG_LOG_ERROR: return FR_LOG_ERROR;
    case CFG_LOG_WARN: return FR_LOG_WARN;
    case CFG_LOG_DEBUG: return FR_LOG_DEBUG;
    default: return FR_LOG_INFO;
    }
}

/* The snapshot of a parsed config; on failure (cfg freed) NULL with why.
 * rc and err are config_load's or config_parse's. */
static struct snapshot *build_snapshot(int rc, const struct cfg_error *err, const char *path, struct config *cfg,
                                       char *why, size_t whylen)
{
    if (rc < 0) {
        size_t used = 0;
        why[0] = 0;
        for (int i = 0; i < err->n && used + 2 < whylen; i++)
            used += (size_t)snprintf(why + used, whylen - used, "%s%s", i ? "\n" : "", err->msg[i]);
        if (!err->n)
            snprintf(why, whylen, "%s: cannot load", path);
        config_free(cfg);
        return NULL;
    }
    /* With the zookeeper driver the file holds no records: this first,
     * empty snapshot serves until ZooKeeper's records arrive. */
    struct snapshot *s = config_build_snapshot(cfg, 0, NULL);
    if (!s) {
        snprintf(why, whylen, "out of memory building the routing snapshot");
        config_free(cfg);
    }
    return s;
}

/* Loads the file and builds a snapshot. NULL with why on any error (cfg is
 * then freed). */
static struct snapshot *load_snapshot(const char *path, struct config *cfg, char *why, size_t whylen)
{
    struct cfg_error err;
    memset(&err, 0, sizeof err);
    int rc = config_load(path, cfg, &err);
    return build_snapshot(rc, &err, path, cfg, why, whylen);
}

/* The settings in effect: read at start-up, and the keys a reload applies
 * (CF_RELOAD in config.c) updated by each reload, under reload_lock once
 * the file driver's thread runs. */
static struct config *running;
/* Taken by each reload: the file driver's thread and SIGHUP on main may
 * both reload, and both write `running`. */
static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;

static int set_audit_paths(const struct config *cfg, const char *path);

/* Key names a reload found changed, split by whether they took effect. */
struct reload_keys {
    char applied[512], restart[1024];
};

static void add_key(char *list, size_t cap, const char *section, const char *key)
{
    size_t used = strlen(list);
    if (used + 1 < cap)
        snprintf(list + used, cap - used, "%s[%s] %s", used ? ", " : "", section, key);
}

static void note_key(void *arg, const char *section, const char *key, bool applies)
{
    struct reload_keys *k = arg;
    if (applies)
        add_key(k->applied, sizeof k->applied, section, key);
    else
        add_key(k->restart, sizeof k->restart, section, key);
}

/* The file driver's loader (store.h): the whole file again, as the driver
 * read it. Of the [router] and [statestore] keys, those marked [reload] in
 * --help take effect (log.level here, default.nameservice through the
 * snapshot); a change to any other is logged as needing a restart, and the
 * running value stays. */
static struct snapshot *reload_locked(const char *path, const char *text, size_t len, char *why, size_t whylen);

static void notify_reloading(const char *path)
{
    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading %s", (unsigned long long)fr_mono_us(), path);
}

/* A failed reload keeps the last good table serving: ready either way. */
static void notify_reloaded(bool ok)
{
    sd_notifyf(0, "READY=1\nSTATUS=%s", ok ? "serving" : "serving the last good table: the reload failed");
}

static struct snapshot *reload_under_lock(const char *path, const char *text, size_t len, char *why, size_t whylen)
{
    pthread_mutex_lock(&reload_lock);
    struct snapshot *s = reload_locked(path, text, len, why, whylen);
    pthread_mutex_unlock(&reload_lock);
    return s;
}

/* The file driver publishes what this returns as soon as it returns. */
static struct snapshot *reload(void *ctx, const char *path, const char *text, size_t len, char *why, size_t whylen)
{
    notify_reloading(path);
    struct snapshot *s = reload_under_lock(path, text, len, why, whylen);
    notify_reloaded(s != NULL);
    return s;
}

static struct snapshot *reload_locked(const char *path, const char *text, size_t len, char *why, size_t whylen)
{
    struct config cfg;
    struct cfg_error err;
    memset(&err, 0, sizeof err);
    int rc = config_parse(path, text, len, &cfg, &err);
    struct snapshot *s = build_snapshot(rc, &err, path, &cfg, why, whylen);
    if (!s)
        return NULL;
    struct reload_keys keys = { "", "" };
    config_reload_diff(running, &cfg, note_key, &keys);
    if (keys.restart[0]) {
        bool many = strchr(keys.restart, ',') != NULL;
        fr_warn("reload of %s: %s changed in the file but %s a restart to take effect; the running value%s kept", path,
                keys.restart, many ? "need" : "needs", many ? "s are" : " is");
    }
    if (keys.applied[0]) {
        fr_info("reload of %s applies %s", path, keys.applied);
        if (config_take_reloadable(running, &cfg) < 0)
            fr_warn("reload of %s: out of memory noting the new settings", path);
        set_audit_paths(running, path);
    }
    fr_log_set_level(log_level(&cfg));
    config_free(&cfg);
    return s;
}

/* audit.hdfs and audit.hms as cfg names them; an unopenable file is
 * logged and that log stays off. 0, or -1 when one could not be opened. */
static int set_audit_paths(const struct config *cfg, const char *path)
{
    char why[1024];
    int rc = 0;
    const char *want[AUDIT_NLOGS] = { cfg->router.audit_hdfs, cfg->router.audit_hms };
    for (int i = 0; i < AUDIT_NLOGS; i++)
        if (audit_set_path((enum audit_log)i, want[i], why, sizeof why) < 0) {
            fr_error("%s: %s", path, why);
            rc = -1;
        }
    return rc;
}

/* The router's Kerberos login for NameNodes (NULL: none); set before the
 * statestore starts, read by its thread. */
static struct auth_login *ns_login;

/* The kerberized NameNodes of snap: their principals expanded (a reverse
 * lookup for an address) and their service tickets fetched by the login's
 * renewer, so that no worker loop does either. Known ones cost a table
 * look-up. */
static void prefetch_namenodes(struct auth_login *l, const struct snapshot *snap)
{
    for (size_t i = 0; i < snapshot_ns_count(snap); i++) {
        const struct snap_ns *ns = snapshot_ns_at(snap, i);
        for (uint32_t k = 0; ns->defined && ns->principal && k < ns->nnamenodes; k++) {
            char host[256];
            if (net_host_of(ns->namenodes[k], host, sizeof host) == 0)
                auth_login_prefetch(l, ns->principal, host);
        }
    }
}

/* Every new snapshot, whichever driver built it, on the thread that built
 * it (never a worker). */
static void before_publish(void *ctx, struct snapshot *s)
{
    hms_log_clashes(s);
    if (ns_login)
        prefetch_namenodes(ns_login, s); /* NameNodes added since the start */
}

/* Safe mode, as fedrouter-admin -safemode sets it for this router. */
static void set_safemode(void *ctx, bool on)
{
    struct router *r = ctx;
    bool was = atomic_exchange(&r->safe_mode, on);
    if (was != on)
        fr_info("router %s %s safe mode", r->id, on ? "entered" : "left");
}

/* metrics_printf for the statestore's gauges. */
static void print_metric(void *out, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof line) {
        metrics_printf(out, "%s", line);
        return;
    }
    char *big = malloc((size_t)n + 1); /* a driver that writes many lines at once */
    if (!big)
        return;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    metrics_printf(out, "%s", big);
    free(big);
}

/* /healthz: ok while the router has a table to route by (a stale one
 * included: it keeps serving while ZooKeeper is away). */
static bool health_line(struct buf *out, struct router *r)
{
    struct route_state *rs = r->state;
    struct snapshot *s = snapshot_acquire(&rs->ref);
    char line[700];
    struct store *st = atomic_load(&rs->store);
    char store[200] = "", last_error[512];
    bool ok = store_health(st, store, sizeof store) && s != NULL;
    store_last_error(st, last_error, sizeof last_error);
    int n = snprintf(line, sizeof line, "%s router=%s snapshot=%llu%s%s%s%s", ok ? "ok" : "no-table", r->id,
                     s ? (unsigned long long)snapshot_version(s) : 0ull, store,
                     atomic_load(&r->safe_mode) ? " safemode" : "", last_error[0] ? " last-reload-failed: " : "",
                     last_error);
    snapshot_release(s);
    buf_append(out, line, (size_t)n);
    return ok;
}

/* Why the router should get no traffic now, or NULL when it should. */
static const char *not_ready(struct router *r)
{
    struct route_state *rs = r->state;
    if (atomic_load(&r->draining))
        return "draining";
    if (atomic_load(&r->safe_mode))
        return "safe mode";
    struct snapshot *s = snapshot_acquire(&rs->ref);
    char store[200];
    bool loaded = s && store_health(atomic_load(&rs->store), store, sizeof store);
    snapshot_release(s);
    return loaded ? NULL : "the statestore has not loaded a table yet";
}

/* How long /healthz?verbose waits for the backends' connects. */
#define HEALTH_PROBE_MS 1000

/* /healthz?verbose: the /healthz verdict, readiness, and each backend. */
static bool health_verbose(struct buf *out, struct router *r)
{
    struct buf line = BUF_INIT;
    bool ok = health_line(&line, r);
    const char *why_not = not_ready(r);
    char head[200];
    int n = snprintf(head, sizeof head, "{\"status\":\"%s\",\"ready\":%s,\"router\":", ok ? "ok" : "no-table",
                     why_not ? "false" : "true");
    buf_append(out, head, (size_t)n);
    health_json_str(out, r->id);
    if (why_not) {
        buf_append(out, ",\"not_ready\":", 14);
        health_json_str(out, why_not);
    }
    n = snprintf(head, sizeof head,
                 ",\"draining\":%s,\"safemode\":%s,\"summary\":", atomic_load(&r->draining) ? "true" : "false",
                 atomic_load(&r->safe_mode) ? "true" : "false");
    buf_append(out, head, (size_t)n);
    buf_append(&line, "", 1); /* a C string */
    health_json_str(out, (const char *)buf_rptr(&line));
    buf_free(&line);
    struct route_state *rs = r->state;
    struct snapshot *s = snapshot_acquire(&rs->ref);
    buf_append(out, ",", 1);
    bool all = health_backends_json(out, s, HEALTH_PROBE_MS);
    snapshot_release(s);
    n = snprintf(head, sizeof head, ",\"backends_reachable\":%s}", all ? "true" : "false");
    buf_append(out, head, (size_t)n);
    return ok;
}

static bool health(struct buf *out, enum admin_check what, void *arg)
{
    struct router *r = arg;
    if (what == ADMIN_HEALTH_VERBOSE)
        return health_verbose(out, r);
    if (what == ADMIN_HEALTH)
        return health_line(out, r);
    const char *why_not = not_ready(r);
    char line[200];
    int n = snprintf(line, sizeof line, "%s%s", why_not ? "not ready: " : "ready", why_not ? why_not : "");
    buf_append(out, line, (size_t)n);
    return why_not == NULL;
}

/* Client connections closed by a limit: their timers, client.max_conns, and
 * new connections closed at once for lack of descriptors. */
static void client_limit_metrics(struct buf *out, struct router *r)
{
    static const char *const protos[2] = { "hdfs", "hms" };
    metrics_printf(out, "# TYPE fedrouter_client_timeouts_total counter\n");
    for (int k = 0; k < 2; k++)
        for (int t = 0; t < CONN_NTIMEOUTS; t++) {
            unsigned long long n = 0;
            for (int i = 0; i < r->nworkers; i++)
                n += __atomic_load_n(&r->workers[i].client_timeouts[k][t], __ATOMIC_RELAXED);
            metrics_printf(out, "fedrouter_client_timeouts_total{proto=\"%s\",timer=\"%s\"} %llu\n", protos[k],
                           conn_timeout_name((enum conn_timeout)t), n);
        }
    unsigned long long nofd[2] = { 0, 0 };
    for (int i = 0; i < r->nworkers; i++) {
        nofd[0] += __atomic_load_n(&r->workers[i].hdfs_listener.dropped, __ATOMIC_RELAXED);
        /* zero when the worker has no metastore listener (the field is
         * never written then); hms_fd itself is the worker's, not ours */
        nofd[1] += __atomic_load_n(&r->workers[i].hms_accept.dropped, __ATOMIC_RELAXED);
    }
    metrics_printf(out, "# TYPE fedrouter_client_refused_total counter\n");
    for (int k = 0; k < 2; k++)
        metrics_printf(out,
                       "fedrouter_client_refused_total{proto=\"%s\",reason=\"max_conns\"} %llu\n"
                       "fedrouter_client_refused_total{proto=\"%s\",reason=\"no_fds\"} %llu\n",
                       protos[k], (unsigned long long)atomic_load(&r->client_refused[k]), protos[k], nofd[k]);
    metrics_printf(out, "# TYPE fedrouter_client_connections_open gauge\nfedrouter_client_connections_open %llu\n",
                   (unsigned long long)atomic_load(&r->client_conns));
}

/* Kerberos on both sides: exchanges and refusals since start. */
static void auth_gauges(struct buf *out, void *arg)
{
    struct auth_stats st;
    (void)arg;
    auth_stats_get(&st);
    metrics_printf(out,
                   "# TYPE fedrouter_auth_handshakes_total counter\n"
                   "fedrouter_auth_handshakes_total{side=\"client\",mechanism=\"GSSAPI\",result=\"ok\"} %llu\n"
                   "fedrouter_auth_handshakes_total{side=\"client\",mechanism=\"GSSAPI\",result=\"failed\"} %llu\n"
                   "fedrouter_auth_handshakes_total{side=\"upstream\",mechanism=\"GSSAPI\",result=\"ok\"} %llu\n"
                   "fedrouter_auth_handshakes_total{side=\"upstream\",mechanism=\"GSSAPI\",result=\"failed\"} %llu\n"
                   "# TYPE fedrouter_auth_refusals_total counter\n"
                   "fedrouter_auth_refusals_total{reason=\"no_rules\"} %llu\n"
                   "fedrouter_auth_refusals_total{reason=\"impersonation\"} %llu\n"
                   "# TYPE fedrouter_auth_impersonations_total counter\n"
                   "fedrouter_auth_impersonations_total %llu\n",
                   (unsigned long long)st.handshakes_ok, (unsigned long long)st.handshakes_failed,
                   (unsigned long long)st.upstream_ok, (unsigned long long)st.upstream_failed,
                   (unsigned long long)st.refused_no_rules, (unsigned long long)st.refused_impersonation,
                   (unsigned long long)st.impersonations);
}

static void gauges(struct buf *out, void *arg)
{
    struct router *r = arg;
    struct route_state *rs = r->state;
    struct snapshot *s = snapshot_acquire(&rs->ref);
    uint64_t inflight = 0, conns = 0;
    for (int i = 0; i < r->nworkers; i++) {
        inflight += __atomic_load_n(&r->workers[i].in_flight, __ATOMIC_RELAXED);
        conns += __atomic_load_n(&r->workers[i].nconns, __ATOMIC_RELAXED);
    }
    metrics_printf(out, "# TYPE fedrouter_snapshot_version gauge\nfedrouter_snapshot_version %llu\n",
                   s ? (unsigned long long)snapshot_version(s) : 0ull);
    metrics_printf(out, "# TYPE fedrouter_in_flight_calls gauge\nfedrouter_in_flight_calls %llu\n",
                   (unsigned long long)inflight);
    metrics_printf(out, "# TYPE fedrouter_client_connections gauge\nfedrouter_client_connections %llu\n",
                   (unsigned long long)conns);
    /* Upstream pools, summed over the workers (read without their lock:
     * aligned counters, a scrape may be a call behind). */
    struct upstream_stats up = { 0 }, one;
    size_t hopen = 0, hidle = 0, o, i2;
    for (int i = 0; i < r->nworkers; i++) {
        if (r->workers[i].up) {
            upstream_pool_stats(r->workers[i].up, &one);
            up.conns += one.conns;
            up.in_flight += one.in_flight;
            up.connects += one.connects;
            up.connect_failures += one.connect_failures;
            for (int k = 0; k < UPSTREAM_CONN_NSTATES; k++)
                up.by_state[k] += one.by_state[k];
            up.sets += one.sets;
            up.waiting += one.waiting;
            up.queued += one.queued;
            up.reaped += one.reaped;
            up.backoff_failures += one.backoff_failures;
            up.down += one.down;
        }
        if (r->workers[i].hup) {
            hms_pool_counts(r->workers[i].hup, &o, &i2);
            hopen += o;
            hidle += i2;
        }
    }
    metrics_printf(out,
                   "# TYPE fedrouter_upstream_connections gauge\n"
                   "fedrouter_upstream_connections{proto=\"hdfs\"} %llu\n"
                   "fedrouter_upstream_connections{proto=\"hms\"} %zu\n"
                   "# TYPE fedrouter_upstream_idle_connections gauge\n"
                   "fedrouter_upstream_idle_connections{proto=\"hms\"} %zu\n"
                   "# TYPE fedrouter_upstream_in_flight_calls gauge\n"
                   "fedrouter_upstream_in_flight_calls{proto=\"hdfs\"} %llu\n"
                   "# TYPE fedrouter_upstream_connects_total counter\n"
                   "fedrouter_upstream_connects_total{proto=\"hdfs\"} %llu\n"
                   "# TYPE fedrouter_upstream_connect_failures_total counter\n"
                   "fedrouter_upstream_connect_failures_total{proto=\"hdfs\"} %llu\n",
                   (unsigned long long)up.conns, hopen, hidle, (unsigned long long)up.in_flight,
                   (unsigned long long)up.connects, (unsigned long long)up.connect_failures);
    /* Bounds across users and the backoff of NameNodes that are down
     * (upstream.h); `down` counts per worker. */
    metrics_printf(out,
                   "# TYPE fedrouter_upstream_user_sets gauge\n"
                   "fedrouter_upstream_user_sets{proto=\"hdfs\"} %llu\n"
                   "# TYPE fedrouter_upstream_waiting_calls gauge\n"
                   "fedrouter_upstream_waiting_calls{proto=\"hdfs\"} %llu\n"
                   "# TYPE fedrouter_upstream_queued_total counter\n"
                   "fedrouter_upstream_queued_total{proto=\"hdfs\"} %llu\n"
                   "# TYPE fedrouter_upstream_reaped_total counter\n"
                   "fedrouter_upstream_reaped_total{proto=\"hdfs\"} %llu\n"
                   "# TYPE fedrouter_upstream_backoff_failures_total counter\n"
                   "fedrouter_upstream_backoff_failures_total{proto=\"hdfs\"} %llu\n"
                   "# TYPE fedrouter_upstream_namenodes_down gauge\n"
                   "fedrouter_upstream_namenodes_down{proto=\"hdfs\"} %llu\n",
                   (unsigned long long)up.sets, (unsigned long long)up.waiting, (unsigned long long)up.queued,
                   (unsigned long long)up.reaped, (unsigned long long)up.backoff_failures, (unsigned long long)up.down);
    /* The open states only: a closed connection has already left its pool. */
    metrics_printf(out, "# TYPE fedrouter_upstream_conn_state gauge\n");
    for (int k = 0; k < UPSTREAM_CONN_CLOSED; k++)
        metrics_printf(out, "fedrouter_upstream_conn_state{proto=\"hdfs\",state=\"%s\"} %llu\n",
                       upstream_conn_state_name((enum upstream_conn_state)k), (unsigned long long)up.by_state[k]);
    uint64_t hs[HU_NSTATES] = { 0 };
    for (int i = 0; i < r->nworkers; i++)
        if (r->workers[i].hup)
            hms_pool_count_states(r->workers[i].hup, hs);
    for (int k = 0; k < HU_CLOSED; k++)
        metrics_printf(out, "fedrouter_upstream_conn_state{proto=\"hms\",state=\"%s\"} %llu\n",
                       hms_upconn_state_name((enum hms_upconn_state)k), (unsigned long long)hs[k]);
    /* Sockets by kind and connection-layer state, over every worker. */
    metrics_printf(out, "# TYPE fedrouter_connections gauge\n");
    for (int k = 0; k < WS_NKINDS; k++)
        for (int st = 0; st < CONN_NSTATES; st++) {
            long long n = 0;
            for (int i = 0; i < r->nworkers; i++)
                n += __atomic_load_n(&r->workers[i].socks[k].n[st], __ATOMIC_RELAXED);
            metrics_printf(out, "fedrouter_connections{kind=\"%s\",state=\"%s\"} %lld\n",
                           worker_sock_name((enum worker_sock)k), conn_state_name((enum conn_state)st), n);
        }
    metrics_printf(out, "# TYPE fedrouter_hdfs_client_conn_state gauge\n");
    for (int st = 0; st < HC_NSTATES; st++) {
        long long n = 0;
        for (int i = 0; i < r->nworkers; i++)
            n += __atomic_load_n(&r->workers[i].hdfs_states.n[st], __ATOMIC_RELAXED);
        metrics_printf(out, "fedrouter_hdfs_client_conn_state{state=\"%s\"} %lld\n",
                       hconn_state_name((enum hconn_state)st), n);
    }
    mconn_state_gauges(out, r->workers, r->nworkers); /* metastore clients by protocol state */
    client_limit_metrics(out, r);
    metrics_printf(out,
                   "# TYPE fedrouter_cluster_refresh_rounds_total counter\n"
                   "fedrouter_cluster_refresh_rounds_total %llu\n",
                   (unsigned long long)cs_rounds());
    metrics_printf(out,
                   "# TYPE fedrouter_hdfs_partial_answers_total counter\n"
                   "fedrouter_hdfs_partial_answers_total %llu\n",
                   (unsigned long long)atomic_load(&r->hdfs_partial));
    route_state_pools_metrics(out);
    store_gauges(atomic_load(&rs->store), print_metric, out);
    snapshot_release(s);
}

/* Reads the whole file at path into a malloc'd buffer; NULL with why. */
static char *read_file(const char *path, size_t *len, char *why, size_t whylen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *text = malloc(cap);
    while (text) {
        n += fread(text + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *bigger = realloc(text, cap * 2);
        if (!bigger) {
            free(text);
            text = NULL;
            break;
        }
        text = bigger;
        cap *= 2;
    }
    bool bad = ferror(f);
    fclose(f);
    if (!text || bad) {
        snprintf(why, whylen, "%s: %s", path, text ? "read error" : "out of memory");
        free(text);
        return NULL;
    }
    *len = n;
    return text;
}

/* SIGHUP: the file again, now. With the file driver the new table is
 * published here; with the zookeeper driver the records come from
 * ZooKeeper, so only the file's [reload] keys matter and the table built
 * from the file is dropped. */
static void reload_on_sighup(struct route_state *rs, const char *path, bool file_driver)
{
    char why[1024];
    size_t len = 0;
    notify_reloading(path);
    char *text = read_file(path, &len, why, sizeof why);
    struct snapshot *s = NULL;
    if (text) {
        s = reload_under_lock(path, text, len, why, sizeof why);
        free(text);
    }
    if (!s) {
        fr_error("SIGHUP: %s stays as it was: %s", path, why);
    } else if (!file_driver) {
        snapshot_release(s);
        fr_info("SIGHUP: re-read %s", path);
    } else {
        before_publish(NULL, s);
        uint64_t v;
        snapshot_ref_publish(&rs->ref, s); /* s is the holder's now */
        struct snapshot *cur = snapshot_acquire(&rs->ref);
        v = cur ? snapshot_version(cur) : 0;
        snapshot_release(cur);
        fr_info("SIGHUP: reloaded %s (snapshot %llu)", path, (unsigned long long)v);
    }
    /* After the publish: READY=1 says the new table serves. */
    notify_reloaded(s != NULL);
}

/* True once the statestore has given the router a table (the file driver:
 * at start; zookeeper: when its first records arrived). */
static bool table_loaded(struct route_state *rs)
{
    struct snapshot *s = snapshot_acquire(&rs->ref);
    char line[200];
    bool ok = s && store_health(atomic_load(&rs->store), line, sizeof line);
    snapshot_release(s);
    return ok;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: fedrouter -c FILE [-t]\n"
               "  -c FILE   the configuration (INI: [router], [statestore], [nameservice NAME], [mount /path], "
               "[metastore NAME])\n"
               "  -t        check the configuration and exit\n\n"
               "options and their defaults:\n");
    config_print_keys(f);
}

/*
 * The router's own Kerberos login, for nameservices with a principal
 * (kerberized NameNodes): as [security] principal (_HOST = the hdfs.listen
 * host) from [security] keytab, before any worker starts; MIT Kerberos
 * renews it from the keytab from then on. Needed by the first snapshot: a
 * failure stops the start. With the zookeeper driver, records may name a
 * principal later, so a configured principal logs in anyway (a failure is
 * then only a warning). 0, or -1 after logging why.
 */
static int upstream_login(const struct config *cfg, const struct snapshot *snap, const char *listen_host,
                          struct auth_login **out)
{
    const char *needs = NULL;
    for (size_t i = 0; i < snapshot_ns_count(snap) && !needs; i++) {
        const struct snap_ns *ns = snapshot_ns_at(snap, i);
        if (ns->defined && ns->principal)
            needs = ns->name;
    }
    bool have = cfg->security.principal && cfg->security.principal[0];
    if (needs && !have) {
        fr_error("[nameservice %s] principal: the router needs its own Kerberos login, [security] principal and "
                 "keytab",
                 needs);
        return -1;
    }
    if (!have || (!needs && cfg->store.driver != STORE_ZOOKEEPER))
        return 0;
    char who[512], why[1024];
    if (auth_expand_host(cfg->security.principal, listen_host, who, sizeof who) < 0) {
        fr_error("[security] principal '%s' is too long", cfg->security.principal);
        return -1;
    }
    struct auth_login *l = auth_login_new(who, cfg->security.keytab, why, sizeof why);
    if (!l) {
        if (!needs) {
            fr_warn("kerberos: no login for kerberized NameNodes: %s", why);
            return 0;
        }
        fr_error("kerberos: %s", why);
        return -1;
    }
    fr_info("kerberos: logged in as %s (user %s) for kerberized NameNodes; tickets until %lld", auth_login_principal(l),
            auth_login_user(l), auth_login_expires(l));
    /* The NameNodes known now; later ones as each snapshot is built. */
    prefetch_namenodes(l, snap);
    ns_login = l;
    upstream_set_login(l);
    *out = l;
    return 0;
}

/* A start that fails before any thread runs releases what it loaded, so
 * that a leak checker at exit sees only real leaks. Returns main's 1. */
static int fail_before_threads(struct snapshot *first, struct config *cfg, struct auth_server *auth)
{
    auth_server_free(auth); /* before cfg: it holds cfg's proxy-user rules */
    snapshot_release(first);
    config_free(cfg);
    return 1;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    bool test_only = false;
    static const struct option opts[] = { { "config", required_argument, 0, 'c' },
                                          { "test", no_argument, 0, 't' },
                                          { "help", no_argument, 0, 'h' },
                                          { 0, 0, 0, 0 } };
    int o;
    while ((o = getopt_long(argc, argv, "c:th", opts, NULL)) != -1) {
        switch (o) {
        case 'c': path = optarg; break;
        case 't': test_only = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!path || optind != argc) {
        usage(stderr);
        return 2;
    }

    static struct route_state rs;
    static struct router r;
    struct config cfg;
    char why[1024];
    struct snapshot *first = load_snapshot(path, &cfg, why, sizeof why);
    if (!first) {
        fr_error("%s", why);
        return 1;
    }
    fr_log_set_level(log_level(&cfg));
    /* The host part of hdfs.listen: what _HOST in the principal stands for. */
    char listen_host[256] = "";
    net_host_of(cfg.router.hdfs_listen, listen_host, sizeof listen_host);
    const struct auth_server_cfg acfg = {
        .methods = ((cfg.security.auth & CFG_AUTH_SIMPLE) ? AUTH_M_SIMPLE : 0) |
                   ((cfg.security.auth & CFG_AUTH_KERBEROS) ? AUTH_M_KERBEROS : 0),
        .principal = cfg.security.principal,
        .keytab = cfg.security.keytab,
        .listen_host = listen_host,
        .auth_to_local = cfg.security.auth_to_local,
        .proxyusers = cfg.security.proxyusers, /* cfg lives until exit */
        .qop = ((cfg.security.rpc_protection & CFG_QOP_AUTHENTICATION) ? AUTH_QOP_AUTH : 0) |
               ((cfg.security.rpc_protection & CFG_QOP_INTEGRITY) ? AUTH_QOP_INT : 0) |
               ((cfg.security.rpc_protection & CFG_QOP_PRIVACY) ? AUTH_QOP_CONF : 0),
    };
    if (test_only) {
        int bad = (acfg.methods & AUTH_M_KERBEROS) &&
                  auth_keytab_check(acfg.keytab, acfg.principal, listen_host, why, sizeof why) < 0;
        if (bad)
            fr_error("%s: [security] %s", path, why);
        else
            printf("%s: ok\n", path);
        snapshot_release(first); /* a leak checker sees a clean exit */
        config_free(&cfg);
        return bad;
    }
    /* Before any thread starts: Kerberos set-up (and Cyrus SASL's, where
     * it is used) is not thread-safe. */
    struct auth_server *auth = NULL;
    if (acfg.methods & AUTH_M_KERBEROS) {
        if (!(auth = auth_server_new(&acfg, why, sizeof why))) {
            fr_error("%s", why);
            return fail_before_threads(first, &cfg, NULL);
        }
        fr_info("HDFS clients authenticate with Kerberos as %s%s; %d proxy-user rule(s)", auth_server_principal(auth),
                (acfg.methods & AUTH_M_SIMPLE) ? " (SIMPLE allowed too)" : "", cfg.security.nproxyuser_keys);
    }
    struct auth_login *login = NULL;
    if (upstream_login(&cfg, first, listen_host, &login) < 0)
        return fail_before_threads(first, &cfg, auth);
    hms_log_clashes(first);
    snapshot_ref_init(&rs.ref, first);

    struct passwd *pw = getpwuid(geteuid());
    snprintf(r.user, sizeof r.user, "%s", pw ? pw->pw_name : "root");
    snprintf(r.id, sizeof r.id, "%s", cfg.router.id);
    r.max_frame = (uint32_t)cfg.router.client_max_frame;
    r.upstream_limits = (struct upstream_limits){
        .max_conns_per_key = cfg.router.upstream_max_conns_per_user,
        .calls_per_conn = cfg.router.upstream_max_calls_per_conn,
        .connect_timeout = cfg.router.upstream_connect_timeout_ms / 1000.0,
        .call_timeout = (cfg.router.upstream_call_timeout_ms ? cfg.router.upstream_call_timeout_ms : 86400000) / 1000.0,
        .idle_timeout = cfg.router.upstream_idle_timeout_ms / 1000.0,
        .max_frame = IPC_MAX_FRAME_DEFAULT,
        .max_attempts = cfg.router.upstream_max_attempts,
        .max_conns_per_nn = cfg.router.upstream_max_conns_per_namenode,
    };
    r.state = &rs;
    snprintf(r.hms_listen, sizeof r.hms_listen, "%s", cfg.router.hms_listen);
    r.hms_manual = cfg.router.hms_mode == 1;
    r.hms_down_fails = cfg.router.hms_down == 1;
    r.hms_call_timeout = (cfg.router.hms_call_timeout_ms ? cfg.router.hms_call_timeout_ms : 86400000) / 1000.0;
    r.hms_fanout_timeout = cfg.router.hms_fanout_timeout_ms / 1000.0;
    r.hms_max_reply = (size_t)cfg.router.hms_max_buffered_reply;
    r.client_max_output = (size_t)cfg.router.client_max_output;
    r.client_max_inflight = (uint32_t)cfg.router.client_max_inflight;
    r.client_max_conns = (uint32_t)cfg.router.client_max_conns;
    r.client_idle_timeout = cfg.router.client_idle_timeout_ms / 1000.0;
    r.client_handshake_timeout = cfg.router.client_handshake_timeout_ms / 1000.0;
    r.hms_max_message = (size_t)cfg.router.hms_max_message;
    r.hdfs_down_fails = cfg.router.hdfs_down == 1;
    r.auth = auth;
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* threads inherit: main takes them */

    /* admin.listen = off: no status page, metrics or probes to serve. */
    struct admin *adm = NULL;
    if (cfg.router.admin_listen[0] && !(adm = admin_start(cfg.router.admin_listen, health, &r, why, sizeof why))) {
        fr_error("%s", why);
        return 1;
    }
    metrics_add_gauge(gauges, &r);
    metrics_add_gauge(audit_metrics, NULL);
    metrics_add_gauge(auth_gauges, NULL);
    if (set_audit_paths(&cfg, path) < 0)
        return 1;
    metrics_add_gauge(hms_targets_gauges, NULL);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    r.nworkers = cfg.router.workers > 0 ? cfg.router.workers : (ncpu > 0 ? (int)ncpu : 1);
    r.workers = calloc((size_t)r.nworkers, sizeof *r.workers);
    int port = 0;
    int crypto_nice = cfg.router.crypto_sched == CFG_CRYPTO_IDLE ? FR_WORKPOOL_IDLE : cfg.router.crypto_nice;
    if (workers_crypto_start(&r, cfg.router.crypto_threads, crypto_nice, why, sizeof why) < 0) {
        fr_error("%s", why);
        return 1;
    }
    for (int i = 0; i < r.nworkers; i++) {
        if (worker_start(&r.workers[i], &r, i, cfg.router.hdfs_listen, &port, why, sizeof why) < 0) {
            fr_error("%s", why);
            return 1;
        }
    }
    if (adm)
        status_attach(adm, &r); /* GET /, /status.json, /resolve: once the workers exist */
    /* The refresher's own calls (block pools, space, hosts) run as the
     * router itself: with a Kerberos login, as its principal (no
     * impersonation, so a NameNode that makes it a superuser answers). */
    if (cs_start(&rs, login ? auth_login_user(login) : r.user, cfg.router.cluster_refresh_ms) < 0) {
        fr_error("cannot start the cluster state refresher");
        return 1;
    }
    /* The one place the driver is chosen; everything after goes through it. */
    const struct store_ops *driver = cfg.store.driver == STORE_ZOOKEEPER ? &store_zk_ops : &store_file_ops;
    running = &cfg;
    const struct store_params params = {
        .path = path,
        .file_settle_ms = cfg.store.file_settle_ms,
        .zk_hosts = cfg.store.zk_hosts,
        .zk_root = cfg.store.zk_root,
        .zk_auth_file = cfg.store.zk_auth_file,
        .zk_session_timeout_ms = cfg.store.zk_session_timeout_ms,
        .router_id = r.id,
        .default_ns = cfg.router.default_ns,
    };
    const struct store_host hooks = {
        .ref = &rs.ref,
        .load = reload,
        .before_publish = before_publish,
        .safemode = set_safemode,
        .ctx = &r,
    };
    struct store *store = store_start(driver, &params, &hooks, why, sizeof why);
    if (!store) {
        fr_error("%s", why);
        return 1;
    }
    atomic_store(&rs.store, store);
    /* The addresses as bound: the configured hosts with the ports taken. */
    char host[256] = "", ahost[256] = "", hhost[256] = "";
    net_host_of(cfg.router.hdfs_listen, host, sizeof host);
    if (r.hms_listen[0]) {
        net_host_of(r.hms_listen, hhost, sizeof hhost);
        printf("serving hms=%s:%d\n", hhost, r.hms_port);
        fr_info("router %s serving metastore clients on %s:%d", r.id, hhost, r.hms_port);
    }
    char ha[300], aa[300] = "";
    snprintf(ha, sizeof ha, "%s:%d", host, port);
    if (adm) {
        net_host_of(cfg.router.admin_listen, ahost, sizeof ahost);
        snprintf(aa, sizeof aa, "%s:%d", ahost, admin_port(adm));
    }
    printf("ready hdfs=%s admin=%s\n", ha, adm ? aa : "off");
    fflush(stdout);
    fr_info("router %s serving HDFS on %s with %d workers", r.id, ha, r.nworkers);
    store_advertise(store, ha, aa);

    /* READY=1 for the service manager once there is a table to route by:
     * the listeners are bound already. Signals are taken meanwhile. */
    bool file_driver = driver == &store_file_ops, told_ready = false;
    int sig = 0;
    const struct timespec tick = { 0, 50 * 1000 * 1000 };
    for (;;) {
        if (!told_ready && table_loaded(&rs)) {
            sd_notifyf(0, "READY=1\nMAINPID=%ld\nSTATUS=serving HDFS on %s", (long)getpid(), ha);
            told_ready = true;
        }
        sig = told_ready ? sigwaitinfo(&set, NULL) : sigtimedwait(&set, NULL, &tick);
        if (sig == SIGHUP) {
            reload_on_sighup(&rs, path, file_driver);
            audit_reopen(); /* logrotate moved the audit logs */
        } else if (sig == SIGTERM || sig == SIGINT)
            break;
    }
    sd_notifyf(0, "STOPPING=1\nSTATUS=draining: calls in flight finish within %d ms", cfg.router.shutdown_grace_ms);
    fr_info("signal %d: draining (grace %d ms)", sig, cfg.router.shutdown_grace_ms);
    atomic_store(&r.draining, true);
    for (int i = 0; i < r.nworkers; i++)
        worker_wake(&r.workers[i]);
    int64_t deadline = fr_wall_ms() + cfg.router.shutdown_grace_ms;
    for (;;) {
        uint64_t inflight = 0;
        for (int i = 0; i < r.nworkers; i++)
            inflight += __atomic_load_n(&r.workers[i].in_flight, __ATOMIC_RELAXED);
        if (inflight == 0 || fr_wall_ms() >= deadline)
            break;
        usleep(10000);
    }
    /* The drain is over: /metrics and /healthz stop before a worker can see
     * `stopping` and free the pools and counters their gauges read. */
    admin_stop(adm);
    atomic_store(&r.stopping, true);
    for (int i = 0; i < r.nworkers; i++)
        worker_wake(&r.workers[i]);
    for (int i = 0; i < r.nworkers; i++)
        worker_join(&r.workers[i]);
    workers_crypto_stop(&r);
    atomic_store(&rs.store, NULL);
    store_stop(store);
    cs_stop();
    audit_stop(); /* the workers are gone: every line is queued */
    snapshot_ref_destroy(&rs.ref);
    config_free(&cfg);
    free(r.workers);
    auth_server_free(auth);
    auth_login_free(login);
    fr_info("stopped");
    return 0;
}
