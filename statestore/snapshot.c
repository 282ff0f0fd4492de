/*
 * snapshot: immutable routing state (mount trie, nameservices, metastores)
 * and its publication. See snapshot.h for the contract.
 *
 * Layout of a snapshot:
 *
 *   nodes[]      open-addressing table, 64-byte slots, one per path component.
 *                A slot's key chains hashes: key(/a/b) = H(key(/a), "b"), so
 *                the slots of every prefix of a path are known before any is
 *                read, and resolve prefetches them all at once. A slot holds
 *                the parent slot and name (to verify), the entry mounted
 *                there, and its children's range in child_ids[] (by name).
 *   mounts[]     pointers to snap_mount blocks (entry + destinations + paths
 *                contiguous in the arena); the record copy sits beside them
 *   ns[]         every nameservice name in use: defined ones first, sorted
 *   rings        one MD5 ring per distinct set of nameservices (HASH orders)
 *   arena        chunks holding every string and small array
 *
 * Resolving /a/b/c computes the keys of /a, /a/b, /a/b/c, prefetches their
 * slots, then verifies them in order (one cache line each, most often) and
 * keeps the deepest node with an entry; the misses overlap.
 */
#define _GNU_SOURCE
#include "snapshot.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define NONE UINT32_MAX
#define ROOT_PARENT (UINT32_MAX - 1)
#define RING_VNODES 100
#define INL 24
#define ROOT_KEY 0x243F6A8885A308D3ull
#define BATCH 32                    /* components prefetched at once */

/* ---- arena ---- */

struct chunk {
    struct chunk *next;
    size_t used, size;
    _Alignas(16) char data[];
};

struct arena {
    struct chunk *head;
    size_t bytes;
};

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

/* ---- MD5 (RFC 1321) ---- */

struct md5 {
    uint32_t h[4];
    uint64_t len;
    unsigned char buf[64];
};

#define MD5_F(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
#define MD5_G(x, y, z) ((y) ^ ((z) & ((x) ^ (y))))
#define MD5_H(x, y, z) ((x) ^ (y) ^ (z))
#define MD5_I(x, y, z) ((y) ^ ((x) | ~(z)))
#define MD5_STEP(f, a, b, c, d, x, t, r)                                                                              \
    do {                                                                                                             \
        (a) += f((b), (c), (d)) + (x) + (t);                                                                         \
        (a) = ((a) << (r) | (a) >> (32 - (r))) + (b);                                                                \
    } while (0)
/* four steps of one round: message words i0..i3, constants from k[n..n+3] */
#define MD5_4(f, n, i0, i1, i2, i3, r0, r1, r2, r3)                                                                 \
    do {                                                                                                             \
        MD5_STEP(f, a, b, c, d, w[i0], md5_k[n], r0);                                                                \
        MD5_STEP(f, d, a, b, c, w[i1], md5_k[n + 1], r1);                                                            \
        MD5_STEP(f, c, d, a, b, w[i2], md5_k[n + 2], r2);                                                            \
        MD5_STEP(f, b, c, d, a, w[i3], md5_k[n + 3], r3);                                                            \
    } while (0)

static const uint32_t md5_k[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

static void md5_block(struct md5 *m, const unsigned char *p)
{
    uint32_t w[16];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
               (uint32_t)p[4 * i + 3] << 24;
    uint32_t a = m->h[0], b = m->h[1], c = m->h[2], d = m->h[3];
    MD5_4(MD5_F, 0, 0, 1, 2, 3, 7, 12, 17, 22);
    MD5_4(MD5_F, 4, 4, 5, 6, 7, 7, 12, 17, 22);
    MD5_4(MD5_F, 8, 8, 9, 10, 11, 7, 12, 17, 22);
    MD5_4(MD5_F, 12, 12, 13, 14, 15, 7, 12, 17, 22);
    MD5_4(MD5_G, 16, 1, 6, 11, 0, 5, 9, 14, 20);
    MD5_4(MD5_G, 20, 5, 10, 15, 4, 5, 9, 14, 20);
    MD5_4(MD5_G, 24, 9, 14, 3, 8, 5, 9, 14, 20);
    MD5_4(MD5_G, 28, 13, 2, 7, 12, 5, 9, 14, 20);
    MD5_4(MD5_H, 32, 5, 8, 11, 14, 4, 11, 16, 23);
    MD5_4(MD5_H, 36, 1, 4, 7, 10, 4, 11, 16, 23);
    MD5_4(MD5_H, 40, 13, 0, 3, 6, 4, 11, 16, 23);
    MD5_4(MD5_H, 44, 9, 12, 15, 2, 4, 11, 16, 23);
    MD5_4(MD5_I, 48, 0, 7, 14, 5, 6, 10, 15, 21);
    MD5_4(MD5_I, 52, 12, 3, 10, 1, 6, 10, 15, 21);
    MD5_4(MD5_I, 56, 8, 15, 6, 13, 6, 10, 15, 21);
    MD5_4(MD5_I, 60, 4, 11, 2, 9, 6, 10, 15, 21);
    m->h[0] += a;
    m->h[1] += b;
    m->h[2] += c;
    m->h[3] += d;
}

static void md5_init(struct md5 *m)
{
    m->h[0] = 0x67452301;
    m->h[1] = 0xefcdab89;
    m->h[2] = 0x98badcfe;
    m->h[3] = 0x10325476;
    m->len = 0;
}

static void md5_update(struct md5 *m, const void *data, size_t n)
{
    const unsigned char *p = data;
    size_t have = m->len & 63;
    m->len += n;
    if (have) {
        size_t take = 64 - have < n ? 64 - have : n;
        memcpy(m->buf + have, p, take);
        p += take;
        n -= take;
        if (have + take < 64)
            return;
        md5_block(m, m->buf);
    }
    for (; n >= 64; p += 64, n -= 64)
        md5_block(m, p);
    memcpy(m->buf, p, n);
}

/* Digest as two big-endian words: comparing (hi, lo) orders digests as their
 * lower-case hex strings order (the ring keys in RBF). */
static void md5_final(struct md5 *m, uint64_t *hi, uint64_t *lo)
{
    uint64_t bits = m->len * 8;
    static const unsigned char pad[64] = {0x80};
    size_t have = m->len & 63;
    md5_update(m, pad, have < 56 ? 56 - have : 120 - have);
    unsigned char l[8];
    for (int i = 0; i < 8; i++)
        l[i] = (unsigned char)(bits >> (8 * i));
    md5_update(m, l, 8);
    unsigned char d[16];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            d[4 * i + j] = (unsigned char)(m->h[i] >> (8 * j));
    *hi = *lo = 0;
    for (int i = 0; i < 8; i++) {
        *hi = *hi << 8 | d[i];
        *lo = *lo << 8 | d[8 + i];
    }
}

/* Feeds bytes as Hadoop's UTF8 class encodes the Java string: a 4-byte UTF-8
 * sequence becomes two 3-byte surrogates; everything else passes as is. */
static void md5_update_java(struct md5 *m, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t start = 0;
    for (size_t i = 0; i + 3 < n; i++) {
        if (p[i] < 0xF0 || p[i] > 0xF4 || (p[i + 1] & 0xC0) != 0x80 || (p[i + 2] & 0xC0) != 0x80 ||
            (p[i + 3] & 0xC0) != 0x80)
            continue;
        md5_update(m, p + start, i - start);
        uint32_t cp = (uint32_t)(p[i] & 7) << 18 | (uint32_t)(p[i + 1] & 63) << 12 | (uint32_t)(p[i + 2] & 63) << 6 |
                      (p[i + 3] & 63);
        uint32_t u[2] = {0xD800 + ((cp - 0x10000) >> 10), 0xDC00 + ((cp - 0x10000) & 0x3FF)};
        unsigned char e[6];
        for (int k = 0; k < 2; k++) {
            e[3 * k] = (unsigned char)(0xE0 | u[k] >> 12);
            e[3 * k + 1] = (unsigned char)(0x80 | ((u[k] >> 6) & 63));
            e[3 * k + 2] = (unsigned char)(0x80 | (u[k] & 63));
        }
        md5_update(m, e, 6);
        i += 3;
        start = i + 1;
    }
    md5_update(m, p + start, n - start);
}

/* ---- RBF's temporary-name stripping (HashResolver) ---- */

/* The name a temporary file will end up with, as one or two slices. */
struct slices {
    const char *a;
    size_t an;
    const char *b;
    size_t bn;
};

static bool ends_with(const char *p, size_t n, const char *s, size_t sn)
{
    return n >= sn && !memcmp(p + n - sn, s, sn);
}

static bool digits(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

static bool is_uuid(const char *p)
{
    static const unsigned char groups[] = {8, 4, 4, 4, 12};
    for (int g = 0; g < 5; g++) {
        for (int i = 0; i < groups[g]; i++, p++)
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F')))
                return false;
        if (g < 4 && *p++ != '-')
            return false;
    }
    return true;
}

/* attempt_\d+_\d{4}_._\d{6}_\d{2} at p; its length or 0. */
static size_t attempt_len(const char *p, size_t n)
{
    if (n < 8 || memcmp(p, "attempt_", 8))
        return 0;
    size_t i = 8;
    while (i < n && p[i] >= '0' && p[i] <= '9')
        i++;
    if (i == 8 || n - i < 1 + 4 + 1 + 1 + 1 + 6 + 1 + 2)
        return 0;
    if (p[i] != '_' || !digits(p + i + 1, 4) || p[i + 5] != '_' || p[i + 7] != '_' || !digits(p + i + 8, 6) ||
        p[i + 14] != '_' || !digits(p + i + 15, 2))
        return 0;
    return i + 17;
}

/* `_temp/(.+)$` or `_temporary/(.+)\.<uuid>$` at position j. */
static bool temp_at(const char *p, size_t n, size_t j, struct slices *o)
{
    if (n - j > 6 && !memcmp(p + j, "_temp/", 6)) {
        o->a = p + j + 6;
        o->an = n - j - 6;
        return true;
    }
    if (n - j >= 11 + 1 + 37 && !memcmp(p + j, "_temporary/", 11) && p[n - 37] == '.' && is_uuid(p + n - 36)) {
        o->a = p + j + 11;
        o->an = n - j - 11 - 37;
        return true;
    }
    return false;
}

static void temp_strip(const char *p, size_t n, struct slices *o)
{
    memset(o, 0, sizeof *o);
    o->a = p;
    o->an = n;
    if (n > 8 && ends_with(p, n, ".COPYING", 8)) {
        o->an = n - 8;
        return;
    }
    for (size_t k = n >= 10 ? n - 10 : 0; n >= 11 && k >= 1; k--)
        if (!memcmp(p + k, "._COPYING_", 10)) {
            o->an = k;
            return;
        }
    if (n > 4 && ends_with(p, n, ".tmp", 4)) {
        o->an = n - 4;
        return;
    }
    if (temp_at(p, n, 0, o))
        return;
    /* (.*)_temporary/\d/_temporary/<attempt>/(.+)$ with the rightmost start */
    for (size_t k = n; k-- > 0;) {
        if (p[k] != '_' || n - k < 27 || memcmp(p + k, "_temporary/", 11) || p[k + 11] < '0' || p[k + 11] > '9' ||
            memcmp(p + k + 12, "/_temporary/", 12))
            continue;
        size_t at = k + 24, al = attempt_len(p + at, n - at);
        if (!al || at + al + 1 >= n || p[at + al] != '/')
            continue;
        o->an = k;
        o->b = p + at + al + 1;
        o->bn = n - (at + al + 1);
        return;
    }
    for (size_t j = 1; j < n; j++)
        if (p[j] == '_' && temp_at(p, n, j, o))
            return;
}

/* ---- consistent hash ring ---- */

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

static int cmp_pt(const void *a, const void *b)
{
    const struct ring_pt *x = a, *y = b;
    if (x->hi != y->hi)
        return x->hi < y->hi ? -1 : 1;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static const struct snap_ns *ring_lookup(const struct snap_ring *r, const struct slices *key)
{
    struct md5 m;
    uint64_t hi, lo;
    md5_init(&m);
    md5_update_java(&m, key->a, key->an);
    if (key->bn)
        md5_update_java(&m, key->b, key->bn);
    md5_final(&m, &hi, &lo);
    size_t l = 0, h = r->npts;
    while (l < h) { /* first point >= key */
        size_t mid = (l + h) / 2;
        const struct ring_pt *p = &r->pts[mid];
        if (p->hi < hi || (p->hi == hi && p->lo < lo))
            l = mid + 1;
        else
            h = mid;
    }
    return r->pts[l == r->npts ? 0 : l].ns;
}

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

/* Walks a normalised path; returns the node or NONE. */
static uint32_t trie_walk(const struct snapshot *s, const char *p, size_t n)
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
                    md5_init(&md);
                    md5_update(&md, vn, (size_t)len);
                    struct ring_pt *pt = &pts[k * RING_VNODES + v];
                    md5_final(&md, &pt->hi, &pt->lo);
                    pt->ns = ns;
                }
            }
            qsort(pts, r->npts, sizeof *pts, cmp_pt);
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

static void snapshot_free_(struct snapshot *s)
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

uint64_t snapshot_version(const struct snapshot *s)
{
    return s->version;
}

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
        temp_strip(fed, kl, &key);
        return ring_lookup(m->ring, &key);
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

/* ---- nameservices and metastores ---- */

size_t snapshot_ns_count(const struct snapshot *s)
{
    return s->nns_defined;
}

const struct snap_ns *snapshot_ns_at(const struct snapshot *s, size_t i)
{
    return i < s->nns_defined ? &s->ns[i] : NULL;
}

const struct snap_ns *snapshot_ns_find(const struct snapshot *s, const char *name)
{
    for (size_t i = 0; i < s->nns; i++)
        if (!strcmp(s->ns[i].name, name))
            return &s->ns[i];
    return NULL;
}

const struct snap_ns *snapshot_default_ns(const struct snapshot *s)
{
    return s->default_ns;
}

size_t snapshot_ms_count(const struct snapshot *s)
{
    return s->nms;
}

const struct ms_rec *snapshot_ms_at(const struct snapshot *s, size_t i)
{
    return i < s->nms ? &s->ms[i] : NULL;
}

const struct ms_rec *snapshot_ms_primary(const struct snapshot *s)
{
    return s->ms_primary;
}

const struct ms_rec *snapshot_ms_for_db(const struct snapshot *s, const char *db, size_t len, size_t *prefix_len)
{
    const struct ms_rec *best = NULL, *empty = NULL;
    size_t bl = 0;
    for (size_t i = 0; i < s->nms; i++) {
        size_t pl = strlen(s->ms[i].prefix);
        if (!pl)
            empty = &s->ms[i];
        else if (pl > bl && pl <= len && !strncasecmp(db, s->ms[i].prefix, pl)) {
            best = &s->ms[i];
            bl = pl;
        }
    }
    if (!best) {
        best = empty;
        bl = 0;
    }
    if (prefix_len)
        *prefix_len = bl;
    return best;
}

/* ---- publication ---- */

struct snapshot *snapshot_hold(struct snapshot *s)
{
    if (s)
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void snapshot_release(struct snapshot *s)
{
    if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        snapshot_free_(s);
}

void snapshot_ref_init(struct snapshot_ref *r, struct snapshot *initial)
{
    atomic_init(&r->cur, initial);
    atomic_init(&r->epoch, 0);
    atomic_init(&r->active[0], 0);
    atomic_init(&r->active[1], 0);
    pthread_mutex_init(&r->wlock, NULL);
}

/*
 * A reader announces itself in active[epoch & 1] before it loads cur, and
 * takes its reference before it leaves. A publisher swaps cur, bumps the
 * epoch and waits until the old parity has no reader: any reader that can
 * still hold the old pointer without a reference is counted there (readers
 * that saw the epoch before the previous bump were waited for by the
 * previous publisher, which held the same mutex). New readers count in the
 * other parity, so the wait ends.
 */
struct snapshot *snapshot_acquire(struct snapshot_ref *r)
{
    uint64_t e = atomic_load(&r->epoch) & 1;
    atomic_fetch_add(&r->active[e], 1);
    struct snapshot *s = atomic_load(&r->cur);
    if (s)
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&r->active[e], 1, memory_order_release);
    return s;
}

static struct snapshot *swap_and_wait(struct snapshot_ref *r, struct snapshot *s)
{
    pthread_mutex_lock(&r->wlock);
    struct snapshot *prev = atomic_load(&r->cur);
    if (s && s->version == 0)
        s->version = (prev ? prev->version : 0) + 1;
    struct snapshot *old = atomic_exchange(&r->cur, s);
    uint64_t e = atomic_fetch_add(&r->epoch, 1) & 1;
    while (atomic_load(&r->active[e]) != 0)
        sched_yield();
    pthread_mutex_unlock(&r->wlock);
    return old;
}

void snapshot_ref_publish(struct snapshot_ref *r, struct snapshot *s)
{
    snapshot_release(swap_and_wait(r, s));
}

void snapshot_ref_destroy(struct snapshot_ref *r)
{
    snapshot_release(swap_and_wait(r, NULL));
    pthread_mutex_destroy(&r->wlock);
}
