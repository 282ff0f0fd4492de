/*
 * status.c: the status page and its JSON (see status.h).
 *
 *   admin thread: GET /status.json
 *     router      r->id, start time, the workers' atomic counters
 *     statestore  store_info (driver, zxid, staleness), the snapshot version
 *     nameservices  snapshot + cs_namenode (the refresher's probe of each
 *                   NameNode: active / standby / error / unreachable, latency)
 *     metastores    snapshot + TCP connect probes (cached a few s) + the URI
 *                   the workers use first (hms_target_in_use)
 *     mounts        snapshot_mount_at
 *     routers       store_routers (zookeeper registrations)
 *     methods       metrics_collect, rates against the previous sample
 *
 * The state kept between requests (the metastore probes, the last metrics
 * sample) belongs to the admin thread alone.
 */
#define _GNU_SOURCE
#include "status.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "cluster_state.h"
#include "health.h"
#include "hms_up.h"
#include "metrics.h"
#include "route_state.h"
#include "router.h"
#include "snapshot.h"
#include "store.h"
#include "worker.h"

#ifndef FEDROUTER_VERSION
#define FEDROUTER_VERSION "0.1"
#endif

/* The page itself (generated from status_page.html at build time). */
extern const char status_page_html[];
extern const size_t status_page_html_len;

#define PROBE_EVERY_MS 3000             /* metastore probes are redone at most this often */
#define PROBE_TIMEOUT_MS 300            /* the longest a request waits for the connects */
#define PROBE_MAX 256                   /* metastore URIs probed (more are shown unprobed) */
#define RATE_MIN_MS 1000                /* rates are measured over at least this */

/* ---- JSON text ---- */

static void put(struct buf *out, const char *s)
{
    buf_append(out, s, strlen(s));
}

static void putf(struct buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct buf *out, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        buf_append(out, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* s as a JSON string, quotes included; bytes that are not printable ASCII
 * are escaped, so any name stays valid JSON. */
static void jstr(struct buf *out, const char *s)
{
    put(out, "\"");
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = { '\\', (char)c };
            buf_append(out, e, 2);
        } else if (c < 0x20 || c >= 0x7f) {
            putf(out, "\\u%04x", c);
        } else {
            buf_append(out, s, 1);
        }
    }
    put(out, "\"");
}

static void jkey(struct buf *out, bool *first, const char *key)
{
    put(out, *first ? "\"" : ",\"");
    *first = false;
    put(out, key);
    put(out, "\":");
}

static const char *jbool(bool b)
{
    return b ? "true" : "false";
}

/* ---- metastore probes (admin thread only) ---- */

struct probe {
    char uri[256];
    struct health_target t;
};

static struct probe probes[PROBE_MAX];
static size_t nprobes;
static int64_t probed_at_ms = -PROBE_EVERY_MS;

/* Connects to every metastore URI of s at once, when the last round is
 * older than PROBE_EVERY_MS or the URIs changed. */
static void probe_metastores(const struct snapshot *s)
{
    size_t n = 0;
    bool same = true;
    for (size_t i = 0; s && i < snapshot_ms_count(s); i++) {
        const struct ms_rec *m = snapshot_ms_at(s, i);
        for (size_t j = 0; j < m->nuris && n < PROBE_MAX; j++, n++)
            same = same && n < nprobes && strcmp(probes[n].uri, m->uris[j]) == 0;
    }
    if (same && n == nprobes && fr_mono_ms() - probed_at_ms < PROBE_EVERY_MS)
        return;
    n = 0;
    for (size_t i = 0; s && i < snapshot_ms_count(s); i++) {
        const struct ms_rec *m = snapshot_ms_at(s, i);
        for (size_t j = 0; j < m->nuris && n < PROBE_MAX; j++)
            snprintf(probes[n++].uri, sizeof probes[0].uri, "%s", m->uris[j]);
    }
    nprobes = n;
    struct health_target ts[PROBE_MAX];
    for (size_t i = 0; i < n; i++)
        ts[i] = (struct health_target){ .addr = probes[i].uri };
    health_probe(ts, n, PROBE_TIMEOUT_MS);
    for (size_t i = 0; i < n; i++)
        probes[i].t = ts[i];
    probed_at_ms = fr_mono_ms();
}

static const struct probe *probe_of(const char *uri)
{
    for (size_t i = 0; i < nprobes; i++)
        if (strcmp(probes[i].uri, uri) == 0)
            return &probes[i];
    return NULL;
}

/* ---- per-method rates (admin thread only) ---- */

/* The sample rates are measured against, and the rates last measured. */
static struct metrics_row *base;
static size_t nbase;
static int64_t base_ms;
static struct rate {
    const char *proto, *method, *ns;    /* interned: compared by pointer */
    double calls, errors;               /* per second */
} *rates;
static size_t nrates;
static double rates_over_s;             /* the window the rates were measured over */

static const struct metrics_row *find_row(const struct metrics_row *v, size_t n, const struct metrics_row *r)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].proto == r->proto && v[i].method == r->method && v[i].ns == r->ns)
            return &v[i];
    return NULL;
}

static const struct rate *find_rate(const struct metrics_row *r)
{
    for (size_t i = 0; i < nrates; i++)
        if (rates[i].proto == r->proto && rates[i].method == r->method && rates[i].ns == r->ns)
            return &rates[i];
    return NULL;
}

/* Takes the current rows as the new sample when the last is old enough,
 * measuring the rates since it; then it keeps rows (until the next sample)
 * and returns true, and the caller must not free them. */
static bool sample_rates(struct metrics_row *rows, size_t n)
{
    int64_t now = fr_mono_ms();
    if (base && now - base_ms < RATE_MIN_MS)
        return false;
    struct rate *nr = calloc(n ? n : 1, sizeof *nr);
    if (!nr)
        return false;
    double dt = base ? (double)(now - base_ms) / 1000.0 : 0;
    for (size_t i = 0; i < n; i++) {
        nr[i].proto = rows[i].proto;
        nr[i].method = rows[i].method;
        nr[i].ns = rows[i].ns;
        if (!base)
            continue;
        const struct metrics_row *b = find_row(base, nbase, &rows[i]);
        uint64_t c0 = b ? b->calls : 0, e0 = b ? b->errors : 0;
        nr[i].calls = rows[i].calls >= c0 ? (double)(rows[i].calls - c0) / dt : 0;
        nr[i].errors = rows[i].errors >= e0 ? (double)(rows[i].errors - e0) / dt : 0;
    }
    free(rates);
    rates = nr;
    rates_over_s = dt;
    nrates = n;
    free(base);
    base = rows;
    nbase = n;
    base_ms = now;
    return true;
}

/* ---- the JSON ---- */

static void json_router(struct buf *out, struct router *r, int64_t start_ms)
{
    uint64_t inflight = 0, conns = 0;
    for (int i = 0; i < r->nworkers; i++) {
        inflight += __atomic_load_n(&r->workers[i].in_flight, __ATOMIC_RELAXED);
        conns += __atomic_load_n(&r->workers[i].nconns, __ATOMIC_RELAXED);
    }
    int64_t now = fr_wall_ms();
    put(out, "\"router\":{\"id\":");
    jstr(out, r->id);
    put(out, ",\"version\":");
    jstr(out, FEDROUTER_VERSION);
    putf(out, ",\"started_ms\":%lld,\"now_ms\":%lld,\"uptime_s\":%.1f,\"workers\":%d", (long long)start_ms,
         (long long)now, (double)(now - start_ms) / 1000.0, r->nworkers);
    putf(out, ",\"in_flight\":%llu,\"client_connections\":%llu,\"draining\":%s,\"safemode\":%s}",
         (unsigned long long)inflight, (unsigned long long)conns, jbool(atomic_load(&r->draining)),
         jbool(atomic_load(&r->safe_mode)));
}

static void json_statestore(struct buf *out, struct store *st, const struct snapshot *s)
{
    struct store_info si;
    store_info(st, &si);
    char last_error[512];
    store_last_error(st, last_error, sizeof last_error);
    int64_t now = fr_wall_ms();
    put(out, "\"statestore\":{\"driver\":");
    jstr(out, si.driver);
    putf(out, ",\"snapshot\":%llu,\"loaded_s_ago\":%.1f", s ? (unsigned long long)snapshot_version(s) : 0ull,
         si.loaded_at_ms ? (double)(now - si.loaded_at_ms) / 1000.0 : -1.0);
    if (si.has_zk)
        putf(out, ",\"zxid\":\"0x%llx\",\"connected\":%s,\"ready\":%s,\"stale\":%s,\"stale_s\":%.1f",
             (unsigned long long)si.zxid, jbool(si.connected), jbool(si.ready), jbool(si.stale_since_ms != 0),
             si.stale_since_ms ? (double)(now - si.stale_since_ms) / 1000.0 : 0.0);
    put(out, ",\"last_error\":");
    jstr(out, last_error);
    put(out, "}");
}

static void json_nameservices(struct buf *out, const struct snapshot *s)
{
    const struct snap_ns *def = s ? snapshot_default_ns(s) : NULL;
    put(out, "\"nameservices\":[");
    for (size_t i = 0; s && i < snapshot_ns_count(s); i++) {
        const struct snap_ns *ns = snapshot_ns_at(s, i);
        put(out, i ? ",{\"name\":" : "{\"name\":");
        jstr(out, ns->name);
        putf(out, ",\"defined\":%s,\"disabled\":%s,\"default\":%s", jbool(ns->defined), jbool(ns->disabled),
             jbool(def == ns));
        uint64_t space;
        if (cs_space(ns->name, &space) == 0)
            putf(out, ",\"remaining_bytes\":%llu", (unsigned long long)space);
        put(out, ",\"namenodes\":[");
        int active = -1;
        for (uint32_t k = 0; k < ns->nnamenodes; k++) {
            struct cs_nn nn;
            put(out, k ? ",{\"address\":" : "{\"address\":");
            jstr(out, ns->namenodes[k]);
            if (cs_namenode(ns->name, ns->namenodes[k], &nn) == 0) {
                bool up = nn.role != CS_NN_DOWN;
                if (nn.role == CS_NN_ACTIVE && active < 0)
                    active = (int)k;
                putf(out, ",\"role\":\"%s\",\"reachable\":%s,\"age_s\":%.1f", cs_nn_role_name(nn.role), jbool(up),
                     (double)nn.age_ms / 1000.0);
                if (up)
                    putf(out, ",\"latency_ms\":%.3f", (double)nn.latency_us / 1000.0);
                if (nn.why[0]) {
                    put(out, ",\"error\":");
                    jstr(out, nn.why);
                }
            } else {
                put(out, ",\"role\":\"unknown\"");
            }
            put(out, "}");
        }
        put(out, "]");
        if (active >= 0) {
            put(out, ",\"active\":");
            jstr(out, ns->namenodes[active]);
        }
        put(out, "}");
    }
    put(out, "]");
}

static void json_metastores(struct buf *out, const struct snapshot *s)
{
    probe_metastores(s);
    put(out, "\"metastores\":[");
    for (size_t i = 0; s && i < snapshot_ms_count(s); i++) {
        const struct ms_rec *m = snapshot_ms_at(s, i);
        put(out, i ? ",{\"name\":" : "{\"name\":");
        jstr(out, m->name);
        put(out, ",\"prefix\":");
        jstr(out, m->prefix ? m->prefix : "");
        putf(out, ",\"primary\":%s,\"access\":\"%s\",\"uris\":[", jbool(m->primary),
             m->access == MS_READ_WRITE ? "read-write" : "read-only");
        bool any = false;
        for (size_t j = 0; j < m->nuris; j++) {
            const struct probe *p = probe_of(m->uris[j]);
            put(out, j ? ",{\"uri\":" : "{\"uri\":");
            jstr(out, m->uris[j]);
            if (p && p->t.reachable)
                putf(out, ",\"reachable\":true,\"latency_ms\":%.3f}", p->t.ms);
            else if (p) {
                put(out, ",\"reachable\":false,\"error\":");
                jstr(out, p->t.why);
                put(out, "}");
            } else {
                put(out, ",\"reachable\":null}");
            }
            any = any || (p && p->t.reachable);
        }
        putf(out, "],\"reachable\":%s", jbool(any));
        char in_use[256];
        if (hms_target_in_use(m->name, in_use, sizeof in_use)) { /* the URI the workers use first */
            put(out, ",\"in_use\":");
            jstr(out, in_use);
        }
        put(out, "}");
    }
    put(out, "]");
}

static void json_mounts(struct buf *out, const struct snapshot *s)
{
    put(out, "\"mounts\":[");
    for (size_t i = 0; s && i < snapshot_mount_count(s); i++) {
        const struct snap_mount *m = snapshot_mount_at(s, i);
        put(out, i ? ",{\"src\":" : "{\"src\":");
        jstr(out, m->src);
        put(out, ",\"order\":");
        jstr(out, mount_order_name(m->order));
        putf(out, ",\"readonly\":%s,\"faulttolerant\":%s,\"owner\":", jbool(m->readonly), jbool(m->faulttolerant));
        jstr(out, m->rec->owner);
        put(out, ",\"group\":");
        jstr(out, m->rec->group);
        putf(out, ",\"mode\":\"%04o\",\"destinations\":[", (unsigned)m->rec->mode);
        for (uint32_t k = 0; k < m->ndests; k++) {
            put(out, k ? ",{\"ns\":" : "{\"ns\":");
            jstr(out, m->dests[k].ns->name);
            put(out, ",\"path\":");
            jstr(out, m->dests[k].path);
            put(out, "}");
        }
        put(out, "]}");
    }
    put(out, "]");
}

static void json_routers(struct buf *out, struct store *st, const char *self)
{
    struct store_router *v = NULL;
    size_t n = 0;
    char why[256] = "";
    int rc = store_routers(st, &v, &n, why, sizeof why);
    put(out, "\"routers\":[");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        put(out, i ? ",{\"id\":" : "{\"id\":");
        jstr(out, v[i].id);
        put(out, ",\"hdfs\":");
        jstr(out, v[i].hdfs);
        put(out, ",\"admin\":");
        jstr(out, v[i].admin);
        put(out, ",\"version\":");
        jstr(out, v[i].version);
        putf(out, ",\"started_ms\":%lld,\"snapshot\":%llu,\"zxid\":\"0x%llx\",\"self\":%s}", (long long)v[i].start_ms,
             (unsigned long long)v[i].snapshot, (unsigned long long)v[i].zxid, jbool(strcmp(v[i].id, self) == 0));
    }
    put(out, "]");
    if (rc != 0) {
        put(out, ",\"routers_error\":");
        jstr(out, why);
    }
    free(v);
}

static void json_methods(struct buf *out)
{
    size_t n = 0;
    struct metrics_row *rows = metrics_collect(&n);
    bool kept = sample_rates(rows, n); /* first: the rates then include this sample */
    put(out, "\"methods\":[");
    for (size_t i = 0; i < n; i++) {
        const struct metrics_row *r = &rows[i];
        put(out, i ? ",{\"proto\":" : "{\"proto\":");
        jstr(out, r->proto);
        put(out, ",\"method\":");
        jstr(out, r->method);
        put(out, ",\"ns\":");
        jstr(out, r->ns);
        putf(out, ",\"calls\":%llu,\"errors\":%llu,\"mean_ms\":%.3f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f",
             (unsigned long long)r->calls, (unsigned long long)r->errors,
             r->calls ? (double)r->sum_us / (double)r->calls / 1000.0 : 0.0,
             metrics_quantile_us(r->buckets, 0.5) / 1000.0, metrics_quantile_us(r->buckets, 0.9) / 1000.0,
             metrics_quantile_us(r->buckets, 0.99) / 1000.0);
        const struct rate *rt = find_rate(r);
        putf(out, ",\"rate\":%.3f,\"error_rate\":%.3f}", rt ? rt->calls : 0.0, rt ? rt->errors : 0.0);
    }
    putf(out, "],\"rate_window_s\":%.1f", rates_over_s);
    if (!kept)
        free(rows);
}

static int64_t start_ms;

static void status_json(struct buf *out, struct router *r)
{
    struct route_state *rs = r->state;
    struct snapshot *s = snapshot_acquire(&rs->ref);
    struct store *st = atomic_load(&rs->store);
    put(out, "{");
    json_router(out, r, start_ms);
    put(out, ",");
    json_statestore(out, st, s);
    put(out, ",");
    json_nameservices(out, s);
    put(out, ",");
    json_metastores(out, s);
    put(out, ",");
    json_mounts(out, s);
    put(out, ",");
    json_routers(out, st, r->id);
    put(out, ",");
    json_methods(out);
    put(out, "}\n");
    snapshot_release(s);
}

/* ---- /resolve ---- */

static int space_of(void *ctx, const struct snap_ns *ns, uint64_t *avail)
{
    return cs_space(ns->name, avail);
}

static void resolve_json(struct buf *out, struct router *r, const char *path)
{
    struct route_state *rs = r->state;
    struct snapshot *s = snapshot_acquire(&rs->ref);
    bool first = true;
    put(out, "{");
    jkey(out, &first, "path");
    jstr(out, path);
    if (!s) {
        put(out, ",\"ok\":false,\"error\":\"no routing table yet\"}\n");
        return;
    }
    static char buf[2 * FR_PATH_MAX + 2], other[2 * FR_PATH_MAX + 2];
    struct resolve_opts opts = { .space = space_of };
    struct resolve_result res;
    int rc = snapshot_resolve(s, path, strlen(path), &opts, &res, buf, sizeof buf);
    putf(out, ",\"snapshot\":%llu", (unsigned long long)snapshot_version(s));
    if (rc != RES_OK) {
        put(out, ",\"ok\":false,\"error\":");
        jstr(out, res.why ? res.why : resolve_strerror(rc));
        put(out, "}\n");
        snapshot_release(s);
        return;
    }
    put(out, ",\"ok\":true,\"nameservice\":");
    jstr(out, res.ns->name);
    put(out, ",\"dest_path\":");
    jstr(out, res.path);
    putf(out, ",\"default_ns\":%s", jbool(res.flags & RES_DEFAULT_NS));
    if (res.flags & RES_FALLBACK) {
        put(out, ",\"note\":");
        jstr(out, res.why);
    }
    if (res.mount) {
        put(out, ",\"mount\":");
        jstr(out, res.mount->src);
        put(out, ",\"order\":");
        jstr(out, mount_order_name(res.mount->order));
        putf(out, ",\"readonly\":%s", jbool(res.mount->readonly));
        /* Every location in the order the router tries them. */
        put(out, ",\"locations\":[");
        for (int k = 0, i; (i = resolve_dest_at(&res, k)) >= 0; k++) {
            long n = resolve_dest_path(&res, i, other, sizeof other);
            put(out, k ? ",{\"ns\":" : "{\"ns\":");
            jstr(out, res.mount->dests[i].ns->name);
            put(out, ",\"path\":");
            jstr(out, n >= 0 ? other : "");
            put(out, "}");
        }
        put(out, "]");
    }
    put(out, "}\n");
    snapshot_release(s);
}

/* ---- the routes ---- */

static int unhex(int c)
{
    return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

bool status_query_param(const char *target, size_t len, const char *name, char *out, size_t cap)
{
    const char *q = memchr(target, '?', len), *end = target + len;
    size_t k = strlen(name);
    for (const char *p = q ? q + 1 : end; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p)), *stop = amp ? amp : end;
        if ((size_t)(stop - p) > k && memcmp(p, name, k) == 0 && p[k] == '=') {
            size_t o = 0;
            for (const char *v = p + k + 1; v < stop; v++) {
                int c = (unsigned char)*v;
                if (c == '+')
                    c = ' ';
                else if (c == '%' && stop - v >= 3 && unhex(v[1]) >= 0 && unhex(v[2]) >= 0) {
                    c = unhex(v[1]) * 16 + unhex(v[2]);
                    v += 2;
                }
                if (o + 1 >= cap || c == 0)
                    return false;
                out[o++] = (char)c;
            }
            out[o] = 0;
            return true;
        }
        p = stop + 1;
    }
    return false;
}

/* Whether target is path, alone or with a query string. */
static bool is(const char *target, size_t len, const char *path)
{
    size_t k = strlen(path);
    return len >= k && memcmp(target, path, k) == 0 && (len == k || target[k] == '?');
}

bool status_page(const char *target, size_t len, struct admin_page *page, void *arg)
{
    struct router *r = arg;
    if (is(target, len, "/") || is(target, len, "/index.html")) {
        buf_append(page->body, status_page_html, status_page_html_len);
        page->ctype = "text/html; charset=utf-8";
        return true;
    }
    if (is(target, len, "/status.json")) {
        status_json(page->body, r);
        page->ctype = "application/json";
        return true;
    }
    if (is(target, len, "/resolve")) {
        static char path[FR_PATH_MAX + 1];
        page->ctype = "application/json";
        if (!status_query_param(target, len, "path", path, sizeof path) || path[0] == 0) {
            put(page->body, "{\"ok\":false,\"error\":\"say which path: /resolve?path=/a/b\"}\n");
            page->code = 400;
            return true;
        }
        resolve_json(page->body, r, path);
        return true;
    }
    return false;
}

void status_attach(struct admin *a, struct router *r)
{
    start_ms = fr_wall_ms();
    admin_set_pages(a, status_page, r);
}
