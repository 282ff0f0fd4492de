/*
 * snapshot: immutable routing state (mount trie, nameservices, metastores)
 * and its publication. See snapshot.h for the contract, snapshot_int.h for
 * the structs and for which file holds what.
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
#include <sched.h>
#include <strings.h>

#include "snapshot_int.h"

uint64_t snapshot_version(const struct snapshot *s)
{
    return s->version;
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
