/* snapshot_build.c: records -> an immutable snapshot (see snapshot.h). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>

#include "snapshot_int.h"

/* ---- arena ---- */

static void *arena_alloc(struct arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t sz = n > (1u << 20) ? n : (1u << 20);
        c = malloc(sizeof *c + sz);
        if (!c)
            return NULL;
        c->used = 0;
        c->size = sz;
        if (a->head && n > (1u << 19)) { /* a big one: keep filling the current chunk */
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
        a->bytes += sizeof *c + sz;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

static char *arena_strdup(struct arena *a, const char *s)
{
    size_t n = strlen(s);
    char *p = arena_alloc(a, n + 1);
    if (p)
        memcpy(p, s, n + 1);
    return p;
}

static void arena_free(struct arena *a)
{
    for (struct chunk *c = a->head, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    a->head = NULL;
}

static uint32_t trie_add(struct snapshot *s, uint32_t parent, uint64_t h, const char *c, size_t n)
{
    uint32_t slot = 0;
    uint32_t f = trie_find(s, parent, h, c, n, &slot);
    if (f != NONE)
        return f;
    if (s->used >= s->mask - s->mask / 8) /* never let probing run out of empty slots */
        return NONE;
    s->used++;
    struct tnode *t = &s->nodes[slot];
    t->name = c;
    t->tag = (uint32_t)(h >> 32);
    t->parent = parent;
    t->mount = NULL;
    t->len = (uint16_t)n;
    memcpy(t->inl, c, n < INL ? n : INL);
    return slot;
}

/* ---- building ---- */

/* Build-time map from nameservice name to index. */
struct nsmap {
    const char **names;             /* by index */
    uint32_t *slots;                /* index + 1, 0 = empty */
    size_t mask;
    uint32_t count;
};

static uint32_t nsmap_get(struct nsmap *m, const char *name, bool insert)
{
    size_t n = strlen(name), i = hash_comp(ROOT_KEY, name, n) & m->mask;
    for (;; i = (i + 1) & m->mask) {
        uint32_t v = m->slots[i];
        if (!v) {
            if (!insert)
                return NONE;
            m->names[m->count] = name;
            m->slots[i] = ++m->count;
            return m->count - 1;
        }
        if (!strcmp(m->names[v - 1], name))
            return v - 1;
    }
}

static size_t pow2_at_least(size_t n)
{
    size_t p = 16;
    while (p < n)
        p <<= 1;
    return p;
}

static int cmp_rec_name(const void *a, const void *b)
{
    const struct record *x = *(const struct record *const *)a, *y = *(const struct record *const *)b;
    int c = strcmp(record_key(x), record_key(y));
    return c ? c : (x < y ? -1 : x > y);
}

static int cmp_child(const void *a, const void *b, void *arg)
{
    const struct tnode *nodes = arg, *x = &nodes[*(const uint32_t *)a], *y = &nodes[*(const uint32_t *)b];
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->name, y->name, n);
    return c ? c : (int)x->len - (int)y->len;
}

static void skip(const struct snap_params *p, const struct record *r, const char *why, struct snap_stats *st)
{
    st->skipped++;
    if (p && p->on_skip)
        p->on_skip(p->ctx, r, why);
}

static char **copy_strs(struct arena *a, char *const *v, size_t n)
{
    char **o = arena_alloc(a, (n ? n : 1) * sizeof *o);
    for (size_t i = 0; o && i < n; i++)
        if (!(o[i] = arena_strdup(a, v[i])))
            return NULL;
    return o;
}

static int build_ns(struct snapshot *s, const struct record_set *set, const struct snap_params *p,
                    struct snap_stats *st, struct nsmap *map, const struct record **valid_mounts, size_t nvm)
{
    const struct record **defs = malloc((set->n + 1) * sizeof *defs);
    size_t nd = 0;
    char why[512];
    if (!defs)
        return -1;
    for (size_t i = 0; i < set->n; i++)
        if (set->recs[i].kind == REC_NAMESERVICE) {
            if (ns_rec_validate(&set->recs[i].u.ns, why, sizeof why) < 0)
                skip(p, &set->recs[i], why, st);
            else
                defs[nd++] = &set->recs[i];
        }
    qsort(defs, nd, sizeof *defs, cmp_rec_name);
    size_t w = 0;
    for (size_t i = 0; i < nd; i++) {
        if (w && !strcmp(record_key(defs[w - 1]), record_key(defs[i]))) {
            skip(p, defs[i], "duplicate nameservice (an earlier record has this name)", st);
            continue;
        }
        defs[w++] = defs[i];
        nsmap_get(map, record_key(defs[i]), true);
    }
    nd = w;
    for (size_t i = 0; i < nvm; i++)
        for (size_t d = 0; d < valid_mounts[i]->u.mount.ndests; d++)
            nsmap_get(map, valid_mounts[i]->u.mount.dests[d].ns, true);
    uint32_t def = NONE;
    if (p && p->default_ns && *p->default_ns)
        def = nsmap_get(map, p->default_ns, true);
    s->ns = arena_alloc(&s->arena, (map->count ? map->count : 1) * sizeof *s->ns);
    if (!s->ns) {
        free(defs);
        return -1;
    }
    for (uint32_t i = 0; i < map->count; i++) {
        struct snap_ns *n = &s->ns[i];
        memset(n, 0, sizeof *n);
        n->idx = i;
        n->name = arena_strdup(&s->arena, map->names[i]);
        if (i < nd) {
            const struct ns_rec *r = &defs[i]->u.ns;
            n->defined = true;
            n->disabled = r->disabled;
            n->principal = r->principal ? arena_strdup(&s->arena, r->principal) : NULL;
            n->namenodes = (const char *const *)copy_strs(&s->arena, r->namenodes, r->nnamenodes);
            n->nnamenodes = (uint32_t)r->nnamenodes;
            if (!n->namenodes) {
                free(defs);
                return -1;
            }
        }
        if (!n->name) {
            free(defs);
            return -1;
        }
    }
    s->nns_defined = nd;
    s->nns = map->count;
    s->default_ns = def == NONE ? NULL : &s->ns[def];
    st->nameservices = nd;
    free(defs);
    return 0;
}

static int build_ms(struct snapshot *s, const struct record_set *set, const struct snap_params *p,
                    struct snap_stats *st)
{
    size_t cnt = 0;
    for (size_t i = 0; i < set->n; i++)
        cnt += set->recs[i].kind == REC_METASTORE;
    s->ms = arena_alloc(&s->arena, (cnt ? cnt : 1) * sizeof *s->ms);
    if (!s->ms)
        return -1;
    char why[512];
    for (size_t i = 0; i < set->n; i++) {
        const struct record *r = &set->recs[i];
        if (r->kind != REC_METASTORE)
            continue;
        const struct ms_rec *m = &r->u.ms;
        if (ms_rec_validate(m, why, sizeof why) < 0) {
            skip(p, r, why, st);
            continue;
        }
        const char *clash = NULL;
        for (size_t j = 0; j < s->nms && !clash; j++)
            if (!strcmp(s->ms[j].name, m->name))
                clash = "duplicate metastore (an earlier record has this name)";
            else if (!strcmp(s->ms[j].prefix, m->prefix))
                clash = "metastore prefix already used by another metastore";
        if (!clash && m->primary && s->ms_primary)
            clash = "a second primary metastore";
        if (clash) {
            skip(p, r, clash, st);
            continue;
        }
        struct ms_rec *c = &s->ms[s->nms];
        *c = *m;
        c->name = arena_strdup(&s->arena, m->name);
        c->prefix = arena_strdup(&s->arena, m->prefix);
        c->uris = copy_strs(&s->arena, m->uris, m->nuris);
        c->writable = copy_strs(&s->arena, m->writable, m->nwritable);
        c->databases = copy_strs(&s->arena, m->databases, m->ndatabases);
        if (!c->name || !c->prefix || !c->uris || !c->writable || !c->databases)
            return -1;
        if (c->primary)
            s->ms_primary = c;
        s->nms++;
    }
    st->metastores = s->nms;
    return 0;
}

/* One block per entry: snap_mount, its snap_dest[], the source and
 * destination paths; then the record copy (cold fields). The ns of each
 * destination is set by the caller. */
static struct snap_mount *copy_mount(struct arena *a, const struct mount_rec *m)
{
    size_t srcl = strlen(m->src), need = sizeof(struct snap_mount) + m->ndests * sizeof(struct snap_dest) + srcl + 1;
    for (size_t i = 0; i < m->ndests; i++)
        need += strlen(m->dests[i].path) + 1;
    struct snap_mount *sm = arena_alloc(a, need);
    struct mount_rec *c = arena_alloc(a, sizeof *c);
    if (!sm || !c)
        return NULL;
    struct snap_dest *d = (struct snap_dest *)(sm + 1);
    char *str = (char *)(d + m->ndests);
    memcpy(str, m->src, srcl + 1);
    *c = *m;
    c->src = str;
    str += srcl + 1;
    static char empty[1];
    c->owner = m->owner && *m->owner ? arena_strdup(a, m->owner) : empty;
    c->group = m->group && *m->group ? arena_strdup(a, m->group) : empty;
    c->dests = arena_alloc(a, m->ndests * sizeof *c->dests);
    if (!c->owner || !c->group || !c->dests)
        return NULL;
    for (size_t i = 0; i < m->ndests; i++) {
        size_t l = strlen(m->dests[i].path);
        memcpy(str, m->dests[i].path, l + 1);
        d[i].path = c->dests[i].path = str;
        d[i].path_len = (uint32_t)l;
        d[i].ns = NULL;
        str += l + 1;
    }
    sm->rec = c;
    sm->src = c->src;
    sm->src_len = (uint32_t)srcl;
    sm->ndests = (uint32_t)m->ndests;
    sm->dests = d;
    sm->ring = NULL;
    sm->order = m->order;
    sm->readonly = m->readonly;
    sm->faulttolerant = m->faulttolerant;
    return sm;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Rings for HASH / HASH_ALL entries with several nameservices, one per set. */
static int build_rings(struct snapshot *s)
{
    size_t want = 0;
    for (size_t i = 0; i < s->nmounts; i++)
        want += s->mounts[i]->ndests > 1 && (s->mounts[i]->order == ORDER_HASH || s->mounts[i]->order == ORDER_HASH_ALL);
    if (!want)
        return 0;
    size_t size = pow2_at_least(want * 2);
    struct snap_ring **map = calloc(size, sizeof *map);
    if (!map)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < s->nmounts && rc == 0; i++) {
        struct snap_mount *m = s->mounts[i];
        if (m->ndests < 2 || (m->order != ORDER_HASH && m->order != ORDER_HASH_ALL))
            continue;
        uint32_t set[FR_MAX_DESTS];
        uint32_t n = 0;
        for (uint32_t d = 0; d < m->ndests; d++)
            set[n++] = m->dests[d].ns->idx;
        qsort(set, n, sizeof *set, cmp_u32);
        uint32_t u = 0;
        for (uint32_t k = 0; k < n; k++)
            if (!u || set[u - 1] != set[k])
                set[u++] = set[k];
        uint64_t key = hash_comp(u, (const char *)set, u * sizeof *set);
        size_t slot = key & (size - 1);
        struct snap_ring *r = NULL;
        for (; map[slot]; slot = (slot + 1) & (size - 1))
            if (map[slot]->key == key && map[slot]->nns == u && !memcmp(map[slot]->nsidx, set, u * sizeof *set)) {
                r = map[slot];
                break;
            }
        if (!r) {
            r = arena_alloc(&s->arena, sizeof *r);
            uint32_t *idx = arena_alloc(&s->arena, u * sizeof *idx);
            struct ring_pt *pts = arena_alloc(&s->arena, (size_t)u * RING_VNODES * sizeof *pts);
            if (!r || !idx || !pts) {
                rc = -1;
                break;
            }
            memcpy(idx, set, u * sizeof *set);
            r->key = key;
            r->nns = u;
            r->nsidx = idx;
            r->npts = u * RING_VNODES;
            r->pts = pts;
            for (uint32_t k = 0; k < u; k++) {
                const struct snap_ns *ns = &s->ns[set[k]];
                for (int v = 0; v < RING_VNODES; v++) {
                    char vn[FR_NAME_MAX + 16];
                    int len = snprintf(vn, sizeof vn, "%s/%d", ns->name, v);
                    struct md5 md;
                    snap_md5_init(&md);
                    snap_md5_update(&md, vn, (size_t)len);
                    struct ring_pt *pt = &pts[k * RING_VNODES + v];
                    snap_md5_final(&md, &pt->hi, &pt->lo);
                    pt->ns = ns;
                }
            }
            qsort(pts, r->npts, sizeof *pts, snap_cmp_pt);
            map[slot] = r;
        }
        m->ring = r;
    }
    free(map);
    return rc;
}

/* Orders paths component by component ('/' sorts before every byte). */
static int cmp_path(const void *a, const void *b)
{
    const unsigned char *x = (const unsigned char *)(*(const struct record *const *)a)->u.mount.src;
    const unsigned char *y = (const unsigned char *)(*(const struct record *const *)b)->u.mount.src;
    for (;; x++, y++) {
        unsigned cx = *x == '/' ? 1 : *x ? *x + 1u : 0, cy = *y == '/' ? 1 : *y ? *y + 1u : 0;
        if (cx != cy || !cx)
            return (int)cx - (int)cy;
    }
}

/* Number of distinct path prefixes (= trie nodes) of the sources: walking
 * them in component order, each adds the components it does not share with
 * the one before. */
static size_t count_nodes(const struct record **vm, size_t nvm)
{
    const struct record **v = malloc((nvm ? nvm : 1) * sizeof *v);
    if (!v)
        return (size_t)-1;
    memcpy(v, vm, nvm * sizeof *v);
    qsort(v, nvm, sizeof *v, cmp_path);
    size_t nodes = 1;
    const char *prev = "/";
    for (size_t i = 0; i < nvm; i++) {
        const char *a = v[i]->u.mount.src, *b = prev;
        size_t k = 0, shared_end = 0; /* a[0, shared_end) = the components a shares with b */
        for (; a[k] && a[k] == b[k]; k++)
            if (a[k] == '/')
                shared_end = k;
        if ((a[k] == '\0' || a[k] == '/') && (b[k] == '\0' || b[k] == '/'))
            shared_end = k;
        size_t comps = 0, shared = 0;
        for (size_t j = 0; a[j] && a[1]; j++)
            if (a[j] == '/') {
                comps++;
                shared += j < shared_end;
            }
        nodes += comps - shared;
        prev = a;
    }
    free(v);
    return nodes;
}

static int build_trie(struct snapshot *s, const struct snap_params *p, struct snap_stats *st,
                      const struct record **vm, size_t nvm, struct nsmap *map)
{
    size_t bound = count_nodes(vm, nvm);
    if (bound == (size_t)-1)
        return -1;
    size_t size = pow2_at_least(bound + bound / 3 + 1);
    if (size > ((size_t)1 << 31))
        return -1;
    s->nodes = aligned_alloc(64, size * sizeof *s->nodes);
    s->mounts = malloc((nvm ? nvm : 1) * sizeof *s->mounts);
    if (!s->nodes || !s->mounts)
        return -1;
    for (size_t i = 0; i < size; i++) {
        s->nodes[i].parent = NONE;
        s->nodes[i].nchild = 0;
    }
    s->mask = (uint32_t)(size - 1);
    s->root = trie_add(s, ROOT_PARENT, ROOT_KEY, "", 0);
    s->bytes += size * sizeof *s->nodes;
    for (size_t i = 0; i < nvm; i++) {
        const struct mount_rec *m = &vm[i]->u.mount;
        uint32_t node = trie_walk(s, m->src, strlen(m->src));
        if (node != NONE && s->nodes[node].mount) {
            skip(p, vm[i], "duplicate mount point (an earlier record has this path)", st);
            continue;
        }
        struct snap_mount *sm = copy_mount(&s->arena, m);
        if (!sm)
            return -1;
        node = s->root;
        uint64_t key = ROOT_KEY;
        const char *src = sm->src;
        size_t n = sm->src_len;
        for (size_t k = 1; k < n;) {
            const char *e = memchr(src + k, '/', n - k);
            size_t j = e ? (size_t)(e - src) : n;
            key = hash_comp(key, src + k, j - k);
            node = trie_add(s, node, key, src + k, j - k);
            if (node == NONE)
                return -1;
            k = j + 1;
        }
        struct snap_dest *d = (struct snap_dest *)sm->dests;
        struct mount_rec *rc = (struct mount_rec *)sm->rec;
        for (size_t k = 0; k < sm->ndests; k++) {
            d[k].ns = &s->ns[nsmap_get(map, m->dests[k].ns, false)];
            rc->dests[k].ns = (char *)d[k].ns->name; /* share the name */
        }
        s->nodes[node].mount = sm;
        s->mounts[s->nmounts++] = sm;
    }
    /* children ranges, sorted by name */
    size_t nodes = 0;
    for (size_t i = 0; i < size; i++)
        if (s->nodes[i].parent != NONE) {
            nodes++;
            if (s->nodes[i].parent != ROOT_PARENT)
                s->nodes[s->nodes[i].parent].nchild++;
        }
    st->trie_nodes = nodes;
    s->child_ids = malloc(nodes * sizeof *s->child_ids);
    if (!s->child_ids)
        return -1;
    s->bytes += nodes * sizeof *s->child_ids;
    uint32_t at = 0;
    for (size_t i = 0; i < size; i++)
        if (s->nodes[i].parent != NONE) {
            s->nodes[i].child_first = at;
            at += s->nodes[i].nchild;
            s->nodes[i].pad = 0;
            s->nodes[i].pos = 0; /* fill counter for now */
        }
    for (size_t i = 0; i < size; i++) {
        uint32_t par = s->nodes[i].parent;
        if (par != NONE && par != ROOT_PARENT)
            s->child_ids[s->nodes[par].child_first + s->nodes[par].pos++] = (uint32_t)i;
    }
    for (size_t i = 0; i < size; i++) {
        struct tnode *t = &s->nodes[i];
        if (t->parent == NONE || !t->nchild)
            continue;
        uint32_t *ids = s->child_ids + t->child_first;
        qsort_r(ids, t->nchild, sizeof *ids, cmp_child, s->nodes);
    }
    for (size_t i = 0; i < size; i++) {
        struct tnode *t = &s->nodes[i];
        if (t->parent == NONE)
            continue;
        for (uint32_t k = 0; k < t->nchild; k++)
            s->nodes[s->child_ids[t->child_first + k]].pos = k;
    }
    s->nodes[s->root].pos = 0;
    return 0;
}

void snapshot_free_(struct snapshot *s)
{
    if (!s)
        return;
    arena_free(&s->arena);
    free(s->nodes);
    free(s->child_ids);
    free(s->mounts);
    free(s);
}

struct snapshot *snapshot_build(const struct record_set *set, const struct snap_params *p, struct snap_stats *stats)
{
    struct snap_stats dummy;
    struct snap_stats *st = stats ? stats : &dummy;
    memset(st, 0, sizeof *st);
    struct snapshot *s = calloc(1, sizeof *s);
    const struct record **vm = malloc((set->n + 1) * sizeof *vm);
    struct nsmap map = {0};
    if (!s || !vm)
        goto oom;
    atomic_init(&s->refs, 1);
    s->version = p ? p->version : 0;
    size_t nvm = 0, refs = 2;
    char why[512];
    for (size_t i = 0; i < set->n; i++) {
        const struct record *r = &set->recs[i];
        if (r->kind == REC_MOUNT) {
            if (mount_rec_validate(&r->u.mount, why, sizeof why) < 0) {
                skip(p, r, why, st);
                continue;
            }
            vm[nvm++] = r;
            refs += r->u.mount.ndests;
        } else {
            refs++;
        }
    }
    size_t msize = pow2_at_least(refs * 2);
    map.mask = msize - 1;
    map.slots = calloc(msize, sizeof *map.slots);
    map.names = malloc(refs * sizeof *map.names);
    if (!map.slots || !map.names)
        goto oom;
    if (build_ns(s, set, p, st, &map, vm, nvm) < 0 || build_ms(s, set, p, st) < 0 ||
        build_trie(s, p, st, vm, nvm, &map) < 0 || build_rings(s) < 0)
        goto oom;
    free(vm);
    free(map.slots);
    free(map.names);
    st->mounts = s->nmounts;
    s->bytes += s->arena.bytes + sizeof *s + nvm * sizeof *s->mounts;
    st->bytes = s->bytes;
    return s;
oom:
    free(vm);
    free(map.slots);
    free(map.names);
    snapshot_free_(s);
    return NULL;
}
