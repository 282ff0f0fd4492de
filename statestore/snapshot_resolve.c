/* snapshot_resolve.c: resolving paths, listing the mount points below a
 * directory (see snapshot.h). Readers only: no lock, no allocation. */
#define _GNU_SOURCE
#include <time.h>

#include "snapshot_int.h"

/* ---- resolving ---- */

static _Thread_local uint64_t tl_rng;

static uint64_t next_rand(uint64_t *st)
{
    if (!*st) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        *st = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)st;
        *st |= 1;
    }
    uint64_t x = *st;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *st = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Distinct nameservices of an entry, in order of first appearance. */
static uint32_t unique_ns(const struct snap_mount *m, const struct snap_ns **u)
{
    uint32_t n = 0;
    for (uint32_t d = 0; d < m->ndests; d++) {
        uint32_t k = 0;
        while (k < n && u[k] != m->dests[d].ns)
            k++;
        if (k == n)
            u[n++] = m->dests[d].ns;
    }
    return n;
}

static const struct snap_ns *pick_first(const struct snap_mount *m, const struct resolve_opts *o, const char *fed,
                                        size_t n, size_t rem_off, struct resolve_result *out)
{
    const struct snap_ns *u[FR_MAX_DESTS];
    struct slices key;
    switch (m->order) {
    case ORDER_HASH:
    case ORDER_HASH_ALL: {
        size_t kl = n;
        if (m->order == ORDER_HASH && rem_off < n) {
            const char *e = memchr(fed + rem_off, '/', n - rem_off);
            kl = e ? (size_t)(e - fed) : n;
        }
        snap_temp_strip(fed, kl, &key);
        return snap_ring_lookup(m->ring, &key);
    }
    case ORDER_RANDOM: {
        uint32_t k = unique_ns(m, u);
        return u[next_rand(o && o->rng ? o->rng : &tl_rng) % k];
    }
    case ORDER_LOCAL:
        if (o && o->local_ns)
            for (uint32_t d = 0; d < m->ndests; d++)
                if (m->dests[d].ns == o->local_ns)
                    return o->local_ns;
        out->flags |= RES_FALLBACK;
        out->why = "LOCAL order without the client's subcluster: destinations in written order";
        return NULL;
    case ORDER_SPACE: {
        const struct snap_ns *best = NULL;
        uint64_t best_av = 0;
        uint32_t k = o && o->space ? unique_ns(m, u) : 0;
        double pref = o && o->space_preference > 0 ? o->space_preference : 1.0;
        for (uint32_t i = 0; i < k; i++) {
            uint64_t av;
            if (o->space(o->space_ctx, u[i], &av) != 0)
                continue;
            bool more = av > best_av;
            bool take = !best ? true
                        : pref >= 1.0 ? more
                                      : ((double)(next_rand(o->rng ? o->rng : &tl_rng) >> 11) / 9007199254740992.0 <
                                         pref) == more;
            if (take) {
                best = u[i];
                best_av = av;
            }
        }
        if (!best) {
            out->flags |= RES_FALLBACK;
            out->why = "SPACE order without free-space figures: destinations in written order";
        }
        return best;
    }
    case ORDER_LEADER_FOLLOWER: return m->dests[0].ns;
    }
    return NULL;
}

int resolve_dest_at(const struct resolve_result *r, int k)
{
    const struct snap_mount *m = r->mount;
    if (!m || k < 0)
        return -1;
    /* RBF's priority order: destinations in the first nameservice, last
     * written first, then the others in written order */
    int seen = 0;
    for (int pass = 0; pass < 2; pass++)
        for (uint32_t j = 0; j < m->ndests; j++) {
            uint32_t d = pass == 0 ? m->ndests - 1 - j : j;
            bool in_first = r->first_ns && m->dests[d].ns == r->first_ns;
            if ((pass == 0) != in_first || m->dests[d].ns->disabled)
                continue;
            if (seen++ == k)
                return (int)d;
        }
    return -1;
}

long resolve_dest_path(const struct resolve_result *r, int i, char *buf, size_t size)
{
    if (!r->mount || i < 0 || (uint32_t)i >= r->mount->ndests)
        return -1;
    const struct snap_dest *d = &r->mount->dests[i];
    size_t sep = r->rem_len && d->path_len > 1 ? 1 : 0;
    size_t n = d->path_len + sep + r->rem_len;
    if (n + 1 > size)
        return -1;
    memcpy(buf, d->path, d->path_len);
    if (sep)
        buf[d->path_len] = '/';
    memmove(buf + d->path_len + sep, r->rem, r->rem_len);
    buf[n] = '\0';
    return (long)n;
}

int snapshot_resolve(const struct snapshot *s, const char *path, size_t len, const struct resolve_opts *opts,
                     struct resolve_result *out, char *buf, size_t bufsz)
{
    memset(out, 0, sizeof *out);
    out->dest = -1;
    const char *why;
    long nl = path_normalize(path, len, buf, bufsz, &why);
    if (nl < 0) {
        out->why = why;
        return strstr(why, "buffer") ? RES_ETOOLONG : RES_EPATH;
    }
    size_t n = (size_t)nl;
    out->fed_len = n;
    out->path = buf;

    /* Walk the components in batches: compute the chained keys of a batch,
     * prefetch all their slots, then verify slot by slot; the cache misses
     * of one batch overlap instead of following each other. */
    const struct tnode *nodes = s->nodes;
    uint32_t node = s->root;
    const struct snap_mount *best = nodes[node].mount;
    size_t best_end = 0;
    uint64_t key = ROOT_KEY;
    bool full = true;
    for (size_t i = 1; i < n && full;) {
        uint32_t off[BATCH], cl[BATCH];
        uint64_t hk[BATCH];
        int m = 0;
        for (; i < n && m < BATCH; m++) {
            const char *e = memchr(buf + i, '/', n - i);
            size_t j = e ? (size_t)(e - buf) : n;
            key = hash_comp(key, buf + i, j - i);
            __builtin_prefetch(&nodes[key & s->mask]);
            off[m] = (uint32_t)i;
            cl[m] = (uint32_t)(j - i);
            hk[m] = key;
            i = j + 1;
        }
        for (int k = 0; k < m; k++) {
            uint32_t c = trie_find(s, node, hk[k], buf + off[k], cl[k], NULL);
            if (c == NONE) {
                full = false;
                break;
            }
            node = c;
            if (nodes[c].mount) {
                best = nodes[c].mount;
                best_end = off[k] + cl[k];
            }
        }
    }
    if (full && nodes[node].nchild)
        out->flags |= RES_MOUNTS_BELOW;

    if (!best) {
        out->path_len = n;
        out->rem = buf + 1;
        out->rem_len = n - 1;
        if (!s->default_ns) {
            out->why = "no mount point matches and there is no default nameservice";
            return RES_ENOMOUNT;
        }
        out->flags |= RES_DEFAULT_NS;
        out->ns = s->default_ns;
        if (out->ns->disabled) {
            out->why = "the default nameservice is disabled";
            return RES_EDISABLED;
        }
        return RES_OK;
    }

    const struct snap_mount *m = best;
    size_t rem_off = best_end + 1, rem_len = rem_off < n ? n - rem_off : 0;
    if (!rem_len)
        out->flags |= RES_MOUNT_POINT;
    out->mount = m;
    out->first_ns = m->ndests > 1 ? pick_first(m, opts, buf, n, rem_off, out) : NULL;
    int d = resolve_dest_at(out, 0);
    if (d < 0) {
        out->mount = NULL;
        out->why = "every destination of the mount point is in a disabled nameservice";
        return RES_EDISABLED;
    }
    out->dest = d;
    out->ns = m->dests[d].ns;

    const struct snap_dest *dp = &m->dests[d];
    size_t sep = rem_len && dp->path_len > 1 ? 1 : 0;
    size_t nn = dp->path_len + sep + rem_len;
    if (nn + 1 > bufsz) {
        out->mount = NULL;
        out->why = "path buffer too small";
        return RES_ETOOLONG;
    }
    memmove(buf + nn - rem_len, buf + rem_off, rem_len);
    memcpy(buf, dp->path, dp->path_len);
    if (sep)
        buf[dp->path_len] = '/';
    buf[nn] = '\0';
    out->path_len = nn;
    out->rem = buf + nn - rem_len;
    out->rem_len = rem_len;
    return RES_OK;
}

const char *resolve_strerror(int rc)
{
    switch (rc) {
    case RES_OK: return "ok";
    case RES_EPATH: return "invalid path";
    case RES_ENOMOUNT: return "no mount point";
    case RES_EDISABLED: return "nameservice disabled";
    case RES_ETOOLONG: return "path too long";
    }
    return "unknown error";
}

/* ---- below a directory ---- */

static uint32_t walk_raw(const struct snapshot *s, const char *path, size_t len, const char **why, bool *bad)
{
    char tmp[FR_PATH_MAX + 2];
    const char *w;
    long n = path_normalize(path, len, tmp, sizeof tmp, &w);
    *bad = n < 0;
    if (n < 0) {
        if (why)
            *why = w;
        return NONE;
    }
    return trie_walk(s, tmp, (size_t)n);
}

int snapshot_children(const struct snapshot *s, const char *path, size_t len, struct snap_dir *dir, const char **why)
{
    bool bad;
    uint32_t node = walk_raw(s, path, len, why, &bad);
    dir->s = s;
    dir->ids = NULL;
    dir->n = 0;
    if (bad)
        return -1;
    if (node != NONE) {
        dir->ids = s->child_ids + s->nodes[node].child_first;
        dir->n = s->nodes[node].nchild;
    }
    return 0;
}

const char *snap_dir_name(const struct snap_dir *d, size_t i, size_t *len)
{
    const struct tnode *t = &d->s->nodes[d->ids[i]];
    *len = t->len;
    return t->name;
}

const struct snap_mount *snap_dir_mount(const struct snap_dir *d, size_t i)
{
    return d->s->nodes[d->ids[i]].mount;
}

size_t snap_dir_after(const struct snap_dir *d, const char *name, size_t len)
{
    size_t l = 0, h = d->n;
    while (l < h) {
        size_t mid = (l + h) / 2;
        const struct tnode *t = &d->s->nodes[d->ids[mid]];
        size_t k = t->len < len ? t->len : len;
        int c = memcmp(t->name, name, k);
        if (c < 0 || (c == 0 && t->len <= len))
            l = mid + 1;
        else
            h = mid;
    }
    return l;
}

int snapshot_walk_below(const struct snapshot *s, const char *path, size_t len,
                        int (*fn)(void *ctx, const struct snap_mount *m), void *ctx)
{
    bool bad;
    uint32_t start = walk_raw(s, path, len, NULL, &bad);
    if (bad)
        return -1;
    if (start == NONE)
        return 0;
    const struct tnode *nd = s->nodes;
    uint32_t cur = start;
    for (;;) {
        if (nd[cur].mount) {
            int rc = fn(ctx, nd[cur].mount);
            if (rc)
                return rc;
        }
        if (nd[cur].nchild) {
            cur = s->child_ids[nd[cur].child_first];
            continue;
        }
        for (;;) { /* next sibling, climbing as needed */
            if (cur == start)
                return 0;
            uint32_t par = nd[cur].parent;
            if (nd[cur].pos + 1 < nd[par].nchild) {
                cur = s->child_ids[nd[par].child_first + nd[cur].pos + 1];
                break;
            }
            cur = par;
        }
    }
}

const struct snap_mount *snapshot_find_mount(const struct snapshot *s, const char *src)
{
    uint32_t node = trie_walk(s, src, strlen(src));
    return node == NONE ? NULL : s->nodes[node].mount;
}

size_t snapshot_mount_count(const struct snapshot *s)
{
    return s->nmounts;
}

const struct snap_mount *snapshot_mount_at(const struct snapshot *s, size_t i)
{
    return i < s->nmounts ? s->mounts[i] : NULL;
}
