/*
 * snapshot: the immutable routing state a worker uses for one call, and its
 * publication.
 *
 *   records (record_set) --snapshot_build--> struct snapshot (never changes)
 *        statestore thread: snapshot_ref_publish(ref, s)     one pointer swap
 *        worker, per call:   s = snapshot_acquire(ref) ... snapshot_release(s)
 *
 * A snapshot holds the mount trie (one node per path component, in one
 * open-addressing table), the nameservices with their NameNodes, the
 * metastore routes and the default nameservice. Everything it points to lives
 * in memory it owns, so freeing it is a handful of free() calls.
 *
 * Resolution follows RBF's mount table: the deepest mount point that is a
 * component-wise prefix of the path wins; the destination path is the
 * destination's path plus the rest of the path below the mount point; a path
 * under no mount point goes to the default nameservice unchanged. For an
 * entry with several destinations the order picks the first one as RBF does
 * (same MD5 consistent-hash ring, 100 virtual nodes per nameservice, same
 * temporary-name stripping), so files land where RBF would put them; the
 * others follow in RBF's priority order.
 *
 * snapshot_resolve() takes no lock and allocates nothing: results are written
 * into the caller's buffer, and every pointer in a result stays valid while
 * the caller holds the snapshot. All functions taking a const snapshot are
 * safe to call from any number of threads at once.
 */
#ifndef FR_SNAPSHOT_H
#define FR_SNAPSHOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#include "records.h"

struct snapshot;
struct snap_ring;

/* A nameservice as a snapshot sees it. Every name a mount entry or the
 * default refers to has one, defined or not (pointer equality = same name). */
struct snap_ns {
    const char *name;
    const char *const *namenodes;   /* "host:port", HA order; none when !defined */
    uint32_t nnamenodes;
    uint32_t idx;                   /* position in snapshot_ns_at() order */
    bool defined;                   /* a [nameservice] record exists */
    bool disabled;                  /* left out of resolution and fan-out */
    const char *principal;          /* NameNodes' Kerberos principal; NULL = SIMPLE */
};

/* One destination of a mount entry. */
struct snap_dest {
    const struct snap_ns *ns;
    const char *path;               /* normalised */
    uint32_t path_len;
};

/* A mount entry inside a snapshot (laid out with its destinations in one
 * block, so resolving touches one or two cache lines of it). */
struct snap_mount {
    const struct mount_rec *rec;    /* the whole record: owner, group, mode, quotas, mtime... */
    const char *src;                /* == rec->src */
    uint32_t src_len;
    uint32_t ndests;
    const struct snap_dest *dests;  /* rec->dests, resolved to nameservices */
    const struct snap_ring *ring;   /* private: hash ring of HASH / HASH_ALL entries */
    enum mount_order order;         /* hot copies of rec->order, rec->readonly, rec->faulttolerant */
    bool readonly;
    bool faulttolerant;
};

/* ---- building ---- */

struct snap_params {
    const char *default_ns;         /* nameservice for paths under no mount point; NULL/"" = none */
    uint64_t version;               /* 0: snapshot_ref_publish() numbers it (previous + 1) */
    /* Called for each record left out (invalid, or a duplicate key); may be NULL. */
    void (*on_skip)(void *ctx, const struct record *r, const char *why);
    void *ctx;
};

struct snap_stats {
    size_t mounts, nameservices, metastores;    /* records taken */
    size_t skipped;                             /* records left out */
    size_t trie_nodes;
    size_t bytes;                               /* memory held */
};

/*
 * Builds a snapshot from a record set (which is not kept: everything is
 * copied). A record that fails validation is left out and reported through
 * params->on_skip, as is a second record with the same key; a mount entry
 * naming an undefined nameservice is kept (calls to it fail at the router
 * with a clear message rather than silently moving to the default). Returns
 * NULL only when out of memory. The new snapshot holds one reference, which
 * snapshot_ref_publish() takes over (or drop it with snapshot_release()).
 */
struct snapshot *snapshot_build(const struct record_set *set, const struct snap_params *params,
                                struct snap_stats *stats);

uint64_t snapshot_version(const struct snapshot *s);

/* ---- resolving ---- */

/* Result flags. */
#define RES_MOUNT_POINT 0x01        /* the path is exactly the matched entry's mount point */
#define RES_MOUNTS_BELOW 0x02       /* mount points exist strictly below the path (listing must merge them) */
#define RES_DEFAULT_NS 0x04         /* no entry matched: the default nameservice serves the path */
#define RES_FALLBACK 0x08           /* the order needed cluster state it lacked: natural order used (see note) */

/* Return codes of snapshot_resolve(). */
#define RES_OK 0
#define RES_EPATH (-1)              /* invalid path (why says how) */
#define RES_ENOMOUNT (-2)           /* no entry matched and no default nameservice */
#define RES_EDISABLED (-3)          /* every candidate nameservice is disabled */
#define RES_ETOOLONG (-4)           /* buf too small for the rewritten path */

struct resolve_opts {
    uint64_t *rng;                  /* RANDOM: caller-owned generator state (nonzero); NULL = per-thread */
    const struct snap_ns *local_ns; /* LOCAL: the client's local nameservice if known (NULL: natural order) */
    /* SPACE: free bytes of a nameservice; return 0 when known. NULL: natural order. */
    int (*space)(void *ctx, const struct snap_ns *ns, uint64_t *avail);
    void *space_ctx;
    double space_preference;        /* SPACE: chance the emptier of two wins, 0.5..1 (0 means 1: always) */
};

struct resolve_result {
    const struct snap_mount *mount; /* matched entry; NULL with RES_DEFAULT_NS or on error */
    int dest;                       /* chosen index in mount->dests; -1 for the default nameservice */
    const struct snap_ns *ns;       /* chosen nameservice (check ns->defined) */
    char *path;                     /* rewritten, NUL-terminated path: the caller's buf */
    size_t path_len;
    const char *rem;                /* the part below the mount point, no leading '/': inside path */
    size_t rem_len;
    size_t fed_len;                 /* length of the normalised federated path */
    unsigned flags;                 /* RES_* flags, set on success and with RES_ENOMOUNT */
    const char *why;                /* static text: the error, or the fallback note (RES_FALLBACK) */
    /* private: priority order of the destinations */
    const struct snap_ns *first_ns;
    int nfirst;
};

/*
 * Resolves `path` (len bytes, need not be normalised or NUL-terminated).
 * buf receives the rewritten path (bufsz >= 2 * FR_PATH_MAX + 2 always
 * suffices). opts may be NULL. Returns RES_OK or a negative RES_E* code with
 * out->why set.
 */
int snapshot_resolve(const struct snapshot *s, const char *path, size_t len, const struct resolve_opts *opts,
                     struct resolve_result *out, char *buf, size_t bufsz);

/* Destinations in priority order (k = 0 is out->dest), skipping disabled
 * nameservices: returns an index into out->mount->dests, or -1 past the end.
 * This is the order for retries (fault-tolerant mounts, probing where a file
 * exists). For the default nameservice only k = 0 exists (returns -1 too:
 * use out->ns). */
int resolve_dest_at(const struct resolve_result *r, int k);

/* Writes destination i's path for the same federated path: dest path + "/" +
 * r->rem (for fan-out to every destination). buf must not be r->path (r->rem
 * points into it). Returns the length, or -1 when size is too small or `r`
 * is not a successful result on a mount. */
long resolve_dest_path(const struct resolve_result *r, int i, char *buf, size_t size);

const char *resolve_strerror(int rc);

/* ---- what lies below a directory ---- */

/* The child names of a directory that lead to mount points, sorted by bytes
 * (as the NameNode sorts a listing), for merging into a listing. */
struct snap_dir {
    const struct snapshot *s;
    const uint32_t *ids;            /* private */
    size_t n;                       /* number of children */
};

/* Fills *dir for `path` (need not be normalised). 0 (n may be 0) or -1 for an
 * invalid path (why set). */
int snapshot_children(const struct snapshot *s, const char *path, size_t len, struct snap_dir *dir,
                      const char **why);
const char *snap_dir_name(const struct snap_dir *d, size_t i, size_t *len);
/* The entry mounted at exactly that child, or NULL when mounts lie only deeper. */
const struct snap_mount *snap_dir_mount(const struct snap_dir *d, size_t i);
/* Index of the first child whose name sorts after `name` (for startAfter). */
size_t snap_dir_after(const struct snap_dir *d, const char *name, size_t len);

/* Calls fn for every mount entry at or below `path`, parents before children
 * (getContentSummary, quota usage). Stops early when fn returns nonzero and
 * returns that value; 0 after a full walk; -1 for an invalid path. */
int snapshot_walk_below(const struct snapshot *s, const char *path, size_t len,
                        int (*fn)(void *ctx, const struct snap_mount *m), void *ctx);

/* Exact lookup of a mount entry by its (normalised) source path. */
const struct snap_mount *snapshot_find_mount(const struct snapshot *s, const char *src);
size_t snapshot_mount_count(const struct snapshot *s);
const struct snap_mount *snapshot_mount_at(const struct snapshot *s, size_t i);

/* ---- nameservices and metastores ---- */

/* Defined nameservices sorted by name, [0, n): fan-out calls go to the ones
 * not disabled. */
size_t snapshot_ns_count(const struct snapshot *s);
const struct snap_ns *snapshot_ns_at(const struct snapshot *s, size_t i);
/* Any name the snapshot knows (defined or only referred to), or NULL. */
const struct snap_ns *snapshot_ns_find(const struct snapshot *s, const char *name);
/* The default nameservice, or NULL. */
const struct snap_ns *snapshot_default_ns(const struct snapshot *s);

size_t snapshot_ms_count(const struct snapshot *s);
const struct ms_rec *snapshot_ms_at(const struct snapshot *s, size_t i);
/* The metastore a database belongs to: the longest prefix that starts the
 * name (ASCII case-insensitive), else the route with an empty prefix (the
 * primary, normally), else NULL. *prefix_len = bytes to strip. */
const struct ms_rec *snapshot_ms_for_db(const struct snapshot *s, const char *db, size_t len, size_t *prefix_len);
const struct ms_rec *snapshot_ms_primary(const struct snapshot *s);

/* ---- publication ---- */

/*
 * The holder of the current snapshot. Readers: snapshot_acquire() (three
 * atomic increments/decrements and two loads, no lock, never waits) and
 * snapshot_release() (one decrement).
 * Writers (publish/destroy) are serialised by a mutex and wait only for
 * readers inside snapshot_acquire() at that moment. A snapshot is freed by
 * whichever thread drops its last reference.
 */
struct snapshot_ref {
    _Atomic(struct snapshot *) cur;
    _Atomic uint64_t epoch;
    char pad[64 - sizeof(void *) - sizeof(uint64_t)];
    _Atomic uint64_t active[2];     /* readers inside acquire, per epoch parity */
    pthread_mutex_t wlock;          /* publishers */
};

/* initial may be NULL; the holder takes over its reference. */
void snapshot_ref_init(struct snapshot_ref *r, struct snapshot *initial);
/* Drops the holder's reference (snapshots still held by calls live on). */
void snapshot_ref_destroy(struct snapshot_ref *r);
/* Makes s current (taking over its reference) and drops the holder's
 * reference to the previous one. */
void snapshot_ref_publish(struct snapshot_ref *r, struct snapshot *s);
/* The current snapshot with one more reference, or NULL if none yet. */
struct snapshot *snapshot_acquire(struct snapshot_ref *r);
/* Another reference to a snapshot already held. */
struct snapshot *snapshot_hold(struct snapshot *s);
/* Drops one reference; frees at zero. NULL is ignored. */
void snapshot_release(struct snapshot *s);

#endif
