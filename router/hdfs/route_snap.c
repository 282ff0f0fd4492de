/*
 * route_snap.c: the routing snapshot side of route_deps.h.
 *
 * The statestore publishes immutable snapshots; a call holds one from start
 * to answer. Nameservices need one more thing the snapshot does not keep:
 * which NameNode was last seen active, shared by every worker. That lives in
 * a process-wide registry of struct ha_ns (one per distinct nameservice name
 * and NameNode list, never freed: a handful), found through a small
 * per-worker cache keyed by (snapshot version, snap_ns) so a call takes no lock.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_state.h"
#include "ha.h"
#include "route_deps.h"
#include "route_state.h"
#include "router.h"
#include "snapshot.h"

_Static_assert(HA_MAX_NAMENODES >= FR_MAX_NAMENODES, "every NameNode a record may name must fit the HA table");

/* ---- the registry ---- */

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ha_ns **reg;
static size_t nreg, capreg;

static bool same_ns(const struct ha_ns *h, const struct snap_ns *s)
{
    if (strcmp(h->name, s->name) != 0 || strcmp(h->principal, s->principal ? s->principal : "") != 0 || h->n != (int)(s->nnamenodes < HA_MAX_NAMENODES ? s->nnamenodes : HA_MAX_NAMENODES))
        return false;
    for (int i = 0; i < h->n; i++)
        if (strcmp(h->addrs[i], s->namenodes[i]) != 0)
            return false;
    return true;
}

static struct ha_ns *registry_get(const struct snap_ns *s)
{
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < nreg; i++)
        if (same_ns(reg[i], s)) {
            pthread_mutex_unlock(&reg_lock);
            return reg[i];
        }
    struct ha_ns *h = calloc(1, sizeof *h);
    if (h && nreg == capreg) {
        size_t nc = capreg ? 2 * capreg : 16;
        struct ha_ns **g = realloc(reg, nc * sizeof *g);
        if (!g) {
            free(h);
            h = NULL;
        } else {
            reg = g;
            capreg = nc;
        }
    }
    if (h) {
        snprintf(h->name, sizeof h->name, "%s", s->name);
        snprintf(h->principal, sizeof h->principal, "%s", s->principal ? s->principal : "");
        h->n = (int)(s->nnamenodes < HA_MAX_NAMENODES ? s->nnamenodes : HA_MAX_NAMENODES);
        for (int i = 0; i < h->n; i++)
            snprintf(h->addrs[i], sizeof h->addrs[i], "%s", s->namenodes[i]);
        /* The same name with other NameNodes: keep the last known active. */
        for (size_t i = nreg; i-- > 0;)
            if (strcmp(reg[i]->name, s->name) == 0) {
                atomic_store(&h->active, atomic_load(&reg[i]->active) % (h->n ? h->n : 1));
                break;
            }
        reg[nreg++] = h;
    }
    pthread_mutex_unlock(&reg_lock);
    return h;
}

/* ---- the per-worker cache ---- */

#define CACHE_SLOTS 256
static __thread struct {
    uint64_t version;
    const struct snap_ns *sns;
    struct ha_ns *h;
} cache[CACHE_SLOTS];

struct rd_snap {
    struct snapshot *s;
};

static struct ha_ns *ha_for(struct rd_snap *rs, const struct snap_ns *sns)
{
    if (!sns || !sns->defined || sns->nnamenodes == 0)
        return NULL;
    uint64_t v = snapshot_version(rs->s);
    size_t slot = ((uintptr_t)sns >> 4 ^ (size_t)v) % CACHE_SLOTS;
    if (cache[slot].version == v && cache[slot].sns == sns)
        return cache[slot].h;
    struct ha_ns *h = registry_get(sns);
    cache[slot].version = v;
    cache[slot].sns = sns;
    cache[slot].h = h;
    return h;
}

/* ---- route_deps: snapshot ---- */

struct rd_snap *rd_snap_acquire(struct router *r)
{
    struct route_state *rs = r->state;
    struct snapshot *s = snapshot_acquire(&rs->ref);
    if (!s)
        return NULL;
    /* The wrapper is the snapshot pointer itself: no allocation per call. */
    return (struct rd_snap *)s;
}

void rd_snap_release(struct rd_snap *s)
{
    snapshot_release((struct snapshot *)s);
}

struct rd_snap *rd_snap_hold(struct rd_snap *s)
{
    return (struct rd_snap *)snapshot_hold((struct snapshot *)s);
}

#define SNAP(x) ((struct snapshot *)(x))

/* The host of the client whose call is being routed on this thread (LOCAL). */
static __thread char tl_client[64];

void rd_set_client(const char *peer)
{
    const char *colon = peer ? strrchr(peer, ':') : NULL;
    size_t n = colon ? (size_t)(colon - peer) : 0;
    if (n >= sizeof tl_client)
        n = 0;
    memcpy(tl_client, peer, n);
    tl_client[n] = 0;
}

static int space_of(void *ctx, const struct snap_ns *ns, uint64_t *avail)
{
    return cs_space(ns->name, avail);
}

/* Resolves with what the router knows of the cluster: free space for SPACE
 * mounts, and for LOCAL mounts the client's own subcluster (a second pass,
 * taken only for such mounts). */
static int resolve_with_state(struct snapshot *s, const char *path, struct resolve_result *res, char *buf,
                              size_t bufsz)
{
    struct resolve_opts o = { .space = space_of };
    int rc = snapshot_resolve(s, path, strlen(path), &o, res, buf, bufsz);
    if (rc != RES_OK || !res->mount || res->mount->order != ORDER_LOCAL || !tl_client[0])
        return rc;
    char nsname[64];
    if (!cs_host_ns(tl_client, nsname, sizeof nsname))
        return rc;
    for (uint32_t i = 0; i < res->mount->ndests; i++)
        if (strcmp(res->mount->dests[i].ns->name, nsname) == 0) {
            o.local_ns = res->mount->dests[i].ns;
            return snapshot_resolve(s, path, strlen(path), &o, res, buf, bufsz);
        }
    return rc;
}

int rd_resolve(struct rd_snap *s, const char *path, struct rd_target *t, char *err, size_t errlen)
{
    if (!s) {
        snprintf(err, errlen, "the router has no mount table yet");
        return -1;
    }
    static __thread char buf[2 * FR_PATH_MAX + 2];
    struct resolve_result res;
    int rc = resolve_with_state(SNAP(s), path, &res, buf, sizeof buf);
    if (rc == RES_ENOMOUNT) {
        snprintf(err, errlen, "no mount point for %s and no default nameservice", path);
        return -3;
    }
    if (rc == RES_EPATH) {
        /* The NameNode's words for a path it refuses. */
        snprintf(err, errlen, "Invalid path name Invalid file name: %s", path);
        return -2;
    }
    if (rc != RES_OK) {
        snprintf(err, errlen, "%s: %s", path, res.why ? res.why : resolve_strerror(rc));
        return -1;
    }
    struct rd_snap wrap = { SNAP(s) };
    t->ns = ha_for(&wrap, res.ns);
    if (!t->ns) {
        snprintf(err, errlen, "nameservice %s of %s has no NameNodes configured", res.ns ? res.ns->name : "?",
                 path);
        return -1;
    }
    if (res.path_len >= sizeof t->path) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    memcpy(t->path, res.path, res.path_len + 1);
    t->readonly = res.mount && res.mount->rec->readonly;
    t->faulttolerant = res.mount && res.mount->faulttolerant && res.mount->ndests > 1;
    t->multi = res.mount && res.mount->ndests > 1;
    t->folder_all = t->multi && mount_order_folder_all(res.mount->rec->order);
    if (res.mount) {
        snprintf(t->src, sizeof t->src, "%s", res.mount->src);
        const struct snap_dest *d = &res.mount->dests[res.dest];
        snprintf(t->dest, sizeof t->dest, "%.*s", (int)d->path_len, d->path);
    } else {
        t->src[0] = t->dest[0] = 0;
    }
    return 0;
}

/* ---- lists of locations ---- */

void rd_locs_free(struct rd_locs *l)
{
    for (int i = 0; i < l->nowned; i++)
        free(l->owned[i]);
    free(l->owned);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* A copy of str that the list frees; NULL when out of memory. */
static const char *locs_keep(struct rd_locs *l, const char *str)
{
    char **g = realloc(l->owned, (size_t)(l->nowned + 1) * sizeof *g);
    if (!g)
        return NULL;
    l->owned = g;
    char *c = strdup(str);
    if (c)
        l->owned[l->nowned++] = c;
    return c;
}

static int locs_push(struct rd_locs *l, struct ha_ns *ns, const char *path, const char *src, const char *dest)
{
    if (!path || !src || !dest)
        return -1;
    if (l->n == l->cap) {
        int nc = l->cap ? 2 * l->cap : 8;
        struct rd_loc *g = realloc(l->v, (size_t)nc * sizeof *g);
        if (!g)
            return -1;
        l->v = g;
        l->cap = nc;
    }
    l->v[l->n++] = (struct rd_loc){ ns, path, src, dest };
    return 0;
}

int rd_own_locations(struct rd_snap *s, const char *path, struct rd_locs *out, char *err, size_t errlen)
{
    static __thread struct rd_target t;
    int rc = rd_resolve(s, path, &t, err, errlen);
    if (rc < 0)
        return rc;
    int n0 = out->n;
    static __thread char buf[2 * FR_PATH_MAX + 2], dpath[FR_PATH_MAX + 1];
    struct resolve_result res;
    /* A directory of a mount of several destinations may be in any of
     * them (and in every one under folder-all orders): a listing merges
     * them all, as RBF lists every location. */
    if (snapshot_resolve(SNAP(s), path, strlen(path), NULL, &res, buf, sizeof buf) == RES_OK && res.mount &&
        res.mount->ndests >= 2) {
        struct rd_snap wrap = { SNAP(s) };
        for (uint32_t i = 0; i < res.mount->ndests; i++) {
            const struct snap_dest *d = &res.mount->dests[i];
            struct ha_ns *h = d->ns->disabled ? NULL : ha_for(&wrap, d->ns);
            if (!h || resolve_dest_path(&res, (int)i, dpath, sizeof dpath) < 0)
                continue;
            if (locs_push(out, h, locs_keep(out, dpath), res.mount->src, d->path) < 0)
                goto oom;
        }
        if (out->n > n0)
            return out->n - n0;
    }
    if (locs_push(out, t.ns, locs_keep(out, t.path), locs_keep(out, t.src), locs_keep(out, t.dest)) < 0)
        goto oom;
    return 1;
oom:
    out->n = n0;
    snprintf(err, errlen, "%s: out of memory", path);
    return -1;
}

int rd_locations(struct rd_snap *s, const char *path, struct ha_ns *first, struct ha_ns **out, int max)
{
    int n = 0;
    if (first && max > 0)
        out[n++] = first;
    static __thread char buf[2 * FR_PATH_MAX + 2];
    struct resolve_result res;
    if (!s || snapshot_resolve(SNAP(s), path, strlen(path), NULL, &res, buf, sizeof buf) != RES_OK || !res.mount)
        return n;
    struct rd_snap wrap = { SNAP(s) };
    for (uint32_t i = 0; i < res.mount->ndests && n < max; i++) {
        const struct snap_dest *d = &res.mount->dests[i];
        struct ha_ns *h = d->ns->disabled ? NULL : ha_for(&wrap, d->ns);
        bool seen = !h;
        for (int k = 0; k < n && !seen; k++)
            seen = out[k] == h;
        if (!seen)
            out[n++] = h;
    }
    return n;
}

int rd_resolve_in(struct rd_snap *s, const char *path, struct ha_ns *ns, struct rd_target *t)
{
    static __thread char buf[2 * FR_PATH_MAX + 2];
    struct resolve_result res;
    if (!s || snapshot_resolve(SNAP(s), path, strlen(path), NULL, &res, buf, sizeof buf) != RES_OK || !res.mount)
        return -1;
    struct rd_snap wrap = { SNAP(s) };
    for (uint32_t i = 0; i < res.mount->ndests; i++) {
        const struct snap_dest *d = &res.mount->dests[i];
        if (d->ns->disabled || ha_for(&wrap, d->ns) != ns)
            continue;
        if (resolve_dest_path(&res, (int)i, t->path, sizeof t->path) < 0)
            return -1;
        t->ns = ns;
        snprintf(t->dest, sizeof t->dest, "%.*s", (int)d->path_len, d->path);
        return 0;
    }
    return -1;
}

int rd_all_ns(struct rd_snap *s, struct ha_ns **out, int max)
{
    if (!s)
        return 0;
    struct rd_snap wrap = { SNAP(s) };
    int n = 0;
    size_t count = snapshot_ns_count(SNAP(s));
    for (size_t i = 0; i < count && n < max; i++) {
        const struct snap_ns *sns = snapshot_ns_at(SNAP(s), i);
        if (sns->disabled)
            continue;
        struct ha_ns *h = ha_for(&wrap, sns);
        if (h)
            out[n++] = h;
    }
    return n;
}

struct ha_ns *rd_default_ns(struct rd_snap *s)
{
    if (!s)
        return NULL;
    struct rd_snap wrap = { SNAP(s) };
    return ha_for(&wrap, snapshot_default_ns(SNAP(s)));
}

struct ha_ns *rd_ns_by_pool(struct rd_snap *s, const char *pool)
{
    char name[64];
    if (!s || !route_state_pool_ns(pool, name, sizeof name))
        return NULL;
    /* A disabled nameservice is out of routing, its pools with it (RBF). */
    const struct snap_ns *sns = snapshot_ns_find(SNAP(s), name);
    if (!sns || sns->disabled)
        return NULL;
    struct rd_snap wrap = { SNAP(s) };
    return ha_for(&wrap, sns);
}

void rd_mount_dir(struct rd_snap *s, const char *dir, struct rd_dir *d)
{
    struct snap_dir sd;
    const char *why;
    d->s = NULL;
    d->ids = NULL;
    d->n = 0;
    if (!s || snapshot_children(SNAP(s), dir, strlen(dir), &sd, &why) < 0)
        return;
    d->s = sd.s;
    d->ids = sd.ids;
    d->n = sd.n;
}

static struct snap_dir snap_dir_of(const struct rd_dir *d)
{
    return (struct snap_dir){ .s = d->s, .ids = d->ids, .n = d->n };
}

const char *rd_dir_name(const struct rd_dir *d, size_t i, size_t *len)
{
    struct snap_dir sd = snap_dir_of(d);
    return snap_dir_name(&sd, i, len);
}

bool rd_dir_is_mount(const struct rd_dir *d, size_t i)
{
    struct snap_dir sd = snap_dir_of(d);
    return snap_dir_mount(&sd, i) != NULL;
}

size_t rd_dir_after(const struct rd_dir *d, const char *name, size_t len)
{
    if (d->n == 0)
        return 0;
    struct snap_dir sd = snap_dir_of(d);
    return snap_dir_after(&sd, name, len);
}

bool rd_dir_has(const struct rd_dir *d, const char *name, size_t len)
{
    size_t i = rd_dir_after(d, name, len), l;
    if (i == 0)
        return false;
    const char *at = rd_dir_name(d, i - 1, &l);
    return l == len && memcmp(at, name, len) == 0;
}

bool rd_has_mount_points(struct rd_snap *s, const char *dir)
{
    struct rd_dir d;
    rd_mount_dir(s, dir, &d);
    return d.n > 0;
}

static int newest(void *ctx, const struct snap_mount *m)
{
    uint64_t *t = ctx;
    if (m->rec->mtime_ms > *t)
        *t = m->rec->mtime_ms;
    return 0;
}

uint64_t rd_mount_mtime(struct rd_snap *s, const char *path)
{
    uint64_t t = 0;
    if (s)
        snapshot_walk_below(SNAP(s), path, strlen(path), newest, &t);
    return t;
}

bool rd_is_mount_point(struct rd_snap *s, const char *path)
{
    return s && snapshot_find_mount(SNAP(s), path) != NULL;
}

bool rd_mount_info(struct rd_snap *s, const char *path, struct rd_mount_info *mi)
{
    const struct snap_mount *m = s ? snapshot_find_mount(SNAP(s), path) : NULL;
    if (!m)
        return false;
    mi->owner = m->rec->owner ? m->rec->owner : "";
    mi->group = m->rec->group ? m->rec->group : "";
    mi->mode = m->rec->mode;
    mi->ns_quota = m->rec->ns_quota;
    mi->ss_quota = m->rec->ss_quota;
    mi->mtime_ms = m->rec->mtime_ms;
    return true;
}

bool rd_entry_quota(struct rd_snap *s, const char *path, int64_t *ns_quota, int64_t *ss_quota)
{
    static __thread char buf[2 * FR_PATH_MAX + 2];
    struct resolve_result res;
    if (!s || snapshot_resolve(SNAP(s), path, strlen(path), NULL, &res, buf, sizeof buf) != RES_OK || !res.mount ||
        !(res.flags & RES_MOUNT_POINT))
        return false;
    *ns_quota = *ss_quota = -1;
    char p[RD_MAX_PATH];
    snprintf(p, sizeof p, "%s", res.mount->src);
    for (;;) {
        const struct snap_mount *m = snapshot_find_mount(SNAP(s), p);
        if (m && *ns_quota < 0)
            *ns_quota = m->rec->ns_quota;
        if (m && *ss_quota < 0)
            *ss_quota = m->rec->ss_quota;
        char *slash = strrchr(p, '/');
        if (!slash || p[1] == 0)
            return true;
        if (slash == p)
            slash[1] = 0; /* up to "/" */
        else
            *slash = 0;
    }
}

/* Is path (len bytes) at or under dir (dlen bytes, normalised)? */
static bool path_under(const char *path, size_t len, const char *dir, size_t dlen)
{
    if (dlen == 1 && dir[0] == '/')
        return len > 0 && path[0] == '/';
    return len >= dlen && memcmp(path, dir, dlen) == 0 && (len == dlen || path[dlen] == '/');
}

int rd_reverse(struct rd_snap *s, const char *ns_name, const char *path, char *out, size_t cap)
{
    if (!s)
        return 0;
    size_t len = strlen(path);
    const struct snap_mount *best = NULL;
    const struct snap_dest *bd = NULL;
    size_t n = snapshot_mount_count(SNAP(s));
    for (size_t i = 0; i < n; i++) {
        const struct snap_mount *m = snapshot_mount_at(SNAP(s), i);
        for (uint32_t k = 0; k < m->ndests; k++) {
            const struct snap_dest *d = &m->dests[k];
            if (strcmp(d->ns->name, ns_name) != 0 || !path_under(path, len, d->path, d->path_len))
                continue;
            if (!bd || d->path_len > bd->path_len) {
                best = m;
                bd = d;
            }
        }
    }
    if (!best)
        return 0;
    size_t dl = (bd->path_len == 1) ? 0 : bd->path_len;
    const char *rest = path + dl;
    int w = snprintf(out, cap, "%s%s", (best->src_len == 1 && *rest) ? "" : best->src, rest);
    return (w > 0 && (size_t)w < cap) ? 1 : 0;
}

struct below_ctx {
    struct rd_snap *s;
    const char *path;
    struct rd_locs *out;
    bool oom;
};

static int add_below(void *vctx, const struct snap_mount *m)
{
    struct below_ctx *c = vctx;
    if (strcmp(m->src, c->path) == 0)
        return 0; /* the path's own mount: its locations come from resolving the path */
    struct rd_snap wrap = { SNAP(c->s) };
    for (uint32_t k = 0; k < m->ndests; k++) {
        const struct snap_dest *d = &m->dests[k];
        struct ha_ns *h = d->ns->disabled ? NULL : ha_for(&wrap, d->ns);
        if (h && locs_push(c->out, h, d->path, m->src, d->path) < 0) {
            c->oom = true;
            return 1;
        }
    }
    return 0;
}

/* Path order in which a directory's descendants follow it at once: '/'
 * sorts before every other byte. */
static int cmp_tree(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned x = (unsigned char)*a, y = (unsigned char)*b;
        if (x == y) {
            if (!x)
                return 0;
            continue;
        }
        if (!x || !y)
            return x ? 1 : -1;
        x = x == '/' ? 1 : x + 1;
        y = y == '/' ? 1 : y + 1;
        return x < y ? -1 : 1;
    }
}

struct loc_key {
    const struct rd_loc *l;
    int idx;
};

static int cmp_loc_key(const void *va, const void *vb)
{
    const struct loc_key *a = va, *b = vb;
    if (a->l->ns != b->l->ns)
        return (uintptr_t)a->l->ns < (uintptr_t)b->l->ns ? -1 : 1;
    int c = cmp_tree(a->l->path, b->l->path);
    return c ? c : (a->idx > b->idx) - (a->idx < b->idx);
}

int rd_summary_targets(struct rd_snap *s, const char *path, struct rd_locs *out, bool *own, char *err,
                       size_t errlen)
{
    int nown = s ? rd_own_locations(s, path, out, err, errlen) : -1;
    *own = nown > 0;
    struct below_ctx c = { s, path, out, false };
    if (s)
        snapshot_walk_below(SNAP(s), path, strlen(path), add_below, &c);
    struct loc_key *k = out->n ? malloc((size_t)out->n * sizeof *k) : NULL;
    bool *drop = out->n ? calloc((size_t)out->n, sizeof *drop) : NULL;
    if (c.oom || (out->n && (!k || !drop))) {
        free(k);
        free(drop);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    /* A location that another one of the same nameservice contains (a
     * nested mount inside its parent's destination, or one destination
     * written twice) is counted once: sorted by nameservice and in tree
     * order, each location is dropped when it lies under the last one kept. */
    for (int i = 0; i < out->n; i++)
        k[i] = (struct loc_key){ &out->v[i], i };
    qsort(k, (size_t)out->n, sizeof *k, cmp_loc_key);
    const struct rd_loc *root = NULL;
    for (int i = 0; i < out->n; i++) {
        const struct rd_loc *l = k[i].l;
        if (root && root->ns == l->ns && path_under(l->path, strlen(l->path), root->path, strlen(root->path)))
            drop[k[i].idx] = true;
        else
            root = l;
    }
    int w = 0;
    for (int i = 0; i < out->n; i++) {
        if (!drop[i])
            out->v[w++] = out->v[i];
        else if (i == 0)
            *own = false;
    }
    out->n = w;
    free(k);
    free(drop);
    if (w == 0 && !*own)
        return -1;
    return w;
}

bool rd_owned(struct rd_snap *s, const char *path)
{
    static __thread char buf[2 * FR_PATH_MAX + 2];
    struct resolve_result res;
    return s && snapshot_resolve(SNAP(s), path, strlen(path), NULL, &res, buf, sizeof buf) == RES_OK;
}
