/*
 * snapshot_int.h: the layout of a snapshot and what the snapshot files
 * share (private to statestore/snapshot*.c).
 *
 *   snapshot.c          accessors, reference counts and publication
 *   snapshot_hash.c     MD5, RBF's temporary-name stripping, the hash ring
 *   snapshot_build.c    arena, nameservices, metastores, rings, the trie
 *   snapshot_resolve.c  resolve, children, walk below (no lock, no allocation)
 *
 * The trie readers are inline here: resolving uses them on every call.
 */
#ifndef FR_SNAPSHOT_INT_H
#define FR_SNAPSHOT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "snapshot.h"

#define NONE UINT32_MAX
#define ROOT_PARENT (UINT32_MAX - 1)
#define RING_VNODES 100
#define INL 24
#define ROOT_KEY 0x243F6A8885A308D3ull
#define BATCH 32                    /* components prefetched at once */

/* ---- arena (snapshot_build.c) ---- */

struct chunk {
    struct chunk *next;
    size_t used, size;
    _Alignas(16) char data[];
};

struct arena {
    struct chunk *head;
    size_t bytes;
};

/* ---- hashing (snapshot_hash.c) ---- */

struct md5 {
    uint32_t h[4];
    uint64_t len;
    unsigned char buf[64];
};

/* The name a temporary file will end up with, as one or two slices. */
struct slices {
    const char *a;
    size_t an;
    const char *b;
    size_t bn;
};

struct ring_pt {
    uint64_t hi, lo;
    const struct snap_ns *ns;
};

struct snap_ring {
    uint32_t npts, nns;
    uint64_t key;                   /* hash of the nameservice set (build only) */
    const uint32_t *nsidx;          /* the set, sorted (build only) */
    struct ring_pt *pts;            /* sorted by (hi, lo) */
};

void snap_md5_init(struct md5 *m);
void snap_md5_update(struct md5 *m, const void *data, size_t n);
void snap_md5_final(struct md5 *m, uint64_t *hi, uint64_t *lo);
/* Orders ring points by (hi, lo), for qsort. */
int snap_cmp_pt(const void *a, const void *b);
/* The name RBF hashes for a path whose last component may be temporary. */
void snap_temp_strip(const char *p, size_t n, struct slices *o);
/* The nameservice the ring gives a key. */
const struct snap_ns *snap_ring_lookup(const struct snap_ring *r, const struct slices *key);

/* ---- the snapshot ---- */

/* One trie node = one slot of the open-addressing table (64 bytes). */
struct tnode {
    const char *name;               /* component (not NUL-terminated), in the arena */
    const struct snap_mount *mount; /* entry mounted here, or NULL */
    uint32_t tag;                   /* high half of the key hash */
    uint32_t parent;                /* NONE: empty slot; ROOT_PARENT: the root */
    uint32_t child_first;           /* children: child_ids[child_first .. +nchild) sorted by name */
    uint32_t nchild;
    uint32_t pos;                   /* own index among the parent's children */
    uint16_t len;
    uint16_t pad;
    char inl[INL];                  /* first bytes of name, so most compares stay in this line */
};
_Static_assert(sizeof(struct tnode) == 64, "trie node is one cache line");

struct snapshot {
    _Atomic uint64_t refs;
    uint64_t version;
    struct arena arena;
    struct tnode *nodes;
    uint32_t mask;
    uint32_t used;                  /* slots in use (build) */
    uint32_t root;
    uint32_t *child_ids;
    struct snap_mount **mounts;     /* in record order */
    size_t nmounts;
    struct snap_ns *ns;             /* [0, nns_defined) defined and sorted, then names only referred to */
    size_t nns_defined, nns;
    const struct snap_ns *default_ns;
    struct ms_rec *ms;
    size_t nms;
    const struct ms_rec *ms_primary;
    size_t bytes;
};

/* The key of a component under a parent whose key is pkey. */
static inline uint64_t hash_comp(uint64_t pkey, const char *p, size_t n)
{
    uint64_t h = (pkey ^ n) * 0x9E3779B97F4A7C15ull;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, p, n);
        h = (h ^ w) * 0x94d049bb133111ebull;
        h ^= h >> 29;
    }
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    return h;
}

static inline bool node_is(const struct tnode *t, uint32_t tag, uint32_t parent, const char *c, size_t n)
{
    if (t->tag != tag || t->parent != parent || t->len != n)
        return false;
    if (n <= INL)
        return !memcmp(t->inl, c, n);
    return !memcmp(t->inl, c, INL) && !memcmp(t->name + INL, c + INL, n - INL);
}

/* The slot of (parent, name) whose key is h, or NONE; *empty gets the free
 * slot where it would go. */
static inline uint32_t trie_find(const struct snapshot *s, uint32_t parent, uint64_t h, const char *c, size_t n,
                                 uint32_t *empty)
{
    uint32_t tag = (uint32_t)(h >> 32), i = (uint32_t)h & s->mask;
    for (;;) {
        const struct tnode *t = &s->nodes[i];
        if (t->parent == NONE) {
            if (empty)
                *empty = i;
            return NONE;
        }
        if (node_is(t, tag, parent, c, n))
            return i;
        i = (i + 1) & s->mask;
    }
}

/* Walks a normalised path; returns the node or NONE. */
static inline uint32_t trie_walk(const struct snapshot *s, const char *p, size_t n)
{
    uint32_t node = s->root;
    uint64_t key = ROOT_KEY;
    for (size_t i = 1; i < n && node != NONE;) {
        const char *e = memchr(p + i, '/', n - i);
        size_t j = e ? (size_t)(e - p) : n;
        key = hash_comp(key, p + i, j - i);
        node = trie_find(s, node, key, p + i, j - i, NULL);
        i = j + 1;
    }
    return node;
}

/* snapshot_build.c: frees a snapshot and everything in its arena. */
void snapshot_free_(struct snapshot *s);

#endif
