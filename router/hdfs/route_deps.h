/*
 * route_deps: what the HDFS routing core (hdfs_route.c) needs besides the
 * method table (hdfs-proto/methods.h): the routing snapshot (route_snap.c),
 * the paths inside messages (route_paths.c) and the merges of fan-out
 * answers (route_merge.c), behind one small seam so hdfs_route.c reads as
 * the routing rules alone.
 */
#ifndef FR_ROUTE_DEPS_H
#define FR_ROUTE_DEPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "methods.h"

struct ha_ns;
struct router;

#define RD_MAX_PATH 8192
#define RD_MAX_NS 64

/* ---- the routing snapshot ---- */

struct rd_snap; /* a held snapshot */
struct rd_snap *rd_snap_acquire(struct router *r);
/* Another reference to a snapshot already held (release each). */
struct rd_snap *rd_snap_hold(struct rd_snap *s);
/* Names the client ("ip:port") of the call routed next on this thread, for
 * LOCAL mounts. */
void rd_set_client(const char *peer);
void rd_snap_release(struct rd_snap *s);

struct rd_target {
    struct ha_ns *ns;       /* where the path lives */
    char path[RD_MAX_PATH]; /* the path there */
    char src[RD_MAX_PATH];  /* the mount point (client side), "" for the default */
    char dest[RD_MAX_PATH]; /* its destination root */
    bool readonly;
    bool faulttolerant; /* another destination may serve when this one is down */
    bool multi;         /* a mount of several destinations: a path may be in any */
    bool folder_all;    /* ...whose directories exist in every destination
                                     (HASH_ALL, RANDOM, SPACE): writes go to all of them */
};
/* Resolves a path. -1 with a reason; -2 for a path the NameNode would
 * refuse (relative, "..", ...); -3 when no mount point and no default
 * nameservice owns it. */
int rd_resolve(struct rd_snap *s, const char *path, struct rd_target *t, char *err, size_t errlen);
/* One location of a fan-out (a listing of a directory kept in every
 * destination, or a summary): where to send, and how to map paths back.
 * The strings point into the snapshot or into the rd_locs that holds it. */
struct rd_loc {
    struct ha_ns *ns;
    const char *path; /* the path there */
    const char *src;  /* the mount point (client side), "" for the default */
    const char *dest; /* its destination root ("" for the default) */
};
/* A list of locations, as long as it needs to be. Free with rd_locs_free()
 * before releasing the snapshot. */
struct rd_locs {
    struct rd_loc *v;
    int n, cap;
    char **owned; /* strings made for this list */
    int nowned;
};
void rd_locs_free(struct rd_locs *l);
/* The locations of path itself: for a directory under a mount whose order
 * keeps directories in every destination (HASH_ALL, RANDOM, SPACE), and for
 * the mount point of any multi-destination mount, every destination, so a
 * listing can merge them; otherwise the one location path resolves to.
 * Appends to out; returns how many (>= 1), or -1 with err (out unchanged):
 * rd_resolve's codes. */
int rd_own_locations(struct rd_snap *s, const char *path, struct rd_locs *out, char *err, size_t errlen);
/* Every nameservice that may hold path: the destinations of its mount in
 * written order (first the one `first` names, when given), each once, for
 * trying one location after another. Returns how many. */
int rd_locations(struct rd_snap *s, const char *path, struct ha_ns *first, struct ha_ns **out, int max);
/* Rewrites t (a resolution of path) for the destination of its mount in
 * nameservice ns, whatever the mount's order. 0, or -1 (t unchanged) when
 * the mount has no destination there. */
int rd_resolve_in(struct rd_snap *s, const char *path, struct ha_ns *ns, struct rd_target *t);
/* Every nameservice (for calls that go to all). */
int rd_all_ns(struct rd_snap *s, struct ha_ns **out, int max);
/* The default nameservice, NULL when none. */
struct ha_ns *rd_default_ns(struct rd_snap *s);
/* The nameservice owning a block pool (as the NameNodes named it), NULL when
 * the pool is not known or its nameservice is gone or disabled. */
struct ha_ns *rd_ns_by_pool(struct rd_snap *s, const char *pool);
/* The child names of a directory that lead to mount points, in the byte
 * order of a NameNode listing. Names point into the snapshot (they are not
 * NUL-terminated) and stay valid while it is held. */
struct rd_dir {
    const void *s; /* private */
    const uint32_t *ids;
    size_t n; /* how many */
};
/* Fills d for dir (n = 0 when no mount point lies below it). */
void rd_mount_dir(struct rd_snap *s, const char *dir, struct rd_dir *d);
const char *rd_dir_name(const struct rd_dir *d, size_t i, size_t *len);
/* Is a mount entry at exactly child i (not only deeper ones)? */
bool rd_dir_is_mount(const struct rd_dir *d, size_t i);
/* The index of the first child that sorts after name (len bytes). */
size_t rd_dir_after(const struct rd_dir *d, const char *name, size_t len);
/* Is name (len bytes) one of the children? */
bool rd_dir_has(const struct rd_dir *d, const char *name, size_t len);
/* Do mount points lie below dir? */
bool rd_has_mount_points(struct rd_snap *s, const char *dir);
/* The newest change time of the mount entries at or below path (0 when
 * none is known). */
uint64_t rd_mount_mtime(struct rd_snap *s, const char *path);
/* Does a mount point or the default nameservice own path? */
bool rd_owned(struct rd_snap *s, const char *path);
/* Is path itself a mount point? */
bool rd_is_mount_point(struct rd_snap *s, const char *path);

/* Owner, group and mode of the mount entry at exactly path (false: none). */
struct rd_mount_info {
    const char *owner, *group; /* "" when the entry sets none */
    uint32_t mode;
    int64_t ns_quota, ss_quota; /* router quotas; -1 = none */
    uint64_t mtime_ms;          /* when the entry last changed; 0 = unknown */
};
bool rd_mount_info(struct rd_snap *s, const char *path, struct rd_mount_info *mi);
/* For a mount entry at exactly path: the router quotas that hold it, each
 * the one of the nearest entry at or above path that sets it (-1: none).
 * false when path is not a mount entry. */
bool rd_entry_quota(struct rd_snap *s, const char *path, int64_t *ns_quota, int64_t *ss_quota);

/* Maps a path of nameservice ns_name back to the federated namespace by the
 * mount whose destination holds it most closely. 1 (out written), 0 (no
 * mount of that nameservice holds it). */
int rd_reverse(struct rd_snap *s, const char *ns_name, const char *path, char *out, size_t cap);

/* Everything a summary of `path` (getContentSummary, getQuotaUsage) must
 * add up: the path's own locations and the destinations of every mount
 * below it, however many, without a location that another one of the same
 * nameservice contains. The path's own location comes first when it has
 * one (*own says). Fills out (empty on entry); returns how many, or -1
 * with err when there is nothing to ask or no memory. */
int rd_summary_targets(struct rd_snap *s, const char *path, struct rd_locs *out, bool *own, char *err, size_t errlen);

/* ---- the paths inside messages (route_paths.c) ---- */

/* A request whose paths were resolved. */
struct rd_req {
    struct rd_target t;            /* where the first path lives: it routes the call */
    char client_path[RD_MAX_PATH]; /* that path as the client wrote it */
    int npaths;                    /* path strings found (0: the request has none) */
    struct ha_ns *force_ns;        /* set by the caller: map every path to its location in this
                                       nameservice (trying the locations of a multi-destination mount) */
    bool no_mount;                 /* on error: the first path is under no mount point */
    bool across;                   /* on error: the paths lie in different subclusters */
    bool other_multi;              /* the other path lies in a mount of several destinations */
    char other_src[RD_MAX_PATH];   /* the mount point of the last other path (rename: the
                                       destination's), "" for none or the default */
    const char *ecls;              /* on error: the exception class and message */
    char emsg[RD_MAX_PATH + 512];
};

/* Resolves every path string the row names in a request and rewrites each to
 * its destination path: 1 (the new request is in out), 0 (forward msg as
 * is; npaths may be 0), -1 (refused or malformed: ecls/emsg say why). */
int rd_map_request(struct rd_snap *s, const struct method_row *m, const char *method, const uint8_t *msg, size_t len,
                   struct rd_req *req, struct buf *out);
/* Rewrites every request path to newpath (another destination of the same
 * federated path): 1 written to out, 0 unchanged, -1 malformed. */
int rd_request_to(const struct method_row *m, const uint8_t *msg, size_t len, const char *newpath, struct buf *out);
/* Maps the full paths of a response back into the client's namespace: under
 * dest -> under src; with no dest (fan-outs) rows marked METHOD_RESP_REVERSE
 * map through ns_name's mounts. 1 (out written), 0 (forward as is), -1. */
int rd_map_response(struct rd_snap *s, const struct method_row *m, const char *ns_name, const char *dest,
                    const char *src, const uint8_t *msg, size_t len, struct buf *out);
/* false when rd_map_response would forward every answer of m as it came
 * (no paths in it, or a mount whose destination has the mount's own path). */
bool rd_response_maps(const struct method_row *m, const char *dest, const char *src);
/* Rewrites the absolute paths inside a NameNode's error message (cap bytes,
 * NUL-terminated, in place) into the client's namespace: under dest ->
 * under src when given, else through the mounts of ns_name. */
void rd_map_message(struct rd_snap *s, const char *ns_name, const char *dest, const char *src, char *msg, size_t cap);
/* The first block pool id the row names in a request (NULL when none). */
const char *rd_request_pool(const struct method_row *m, const uint8_t *msg, size_t len, char *buf, size_t cap);

/* ---- block pools in block-only requests (route_blocks.c) ---- */

#define RD_MAX_POOLS 16 /* distinct pools in one request (a keep mask is 32 bits) */
#define RD_POOL_LEN 128

struct rd_pools {
    int n;
    bool missing; /* a block without a pool, or no block where one is required */
    char id[RD_MAX_POOLS][RD_POOL_LEN];
};
/* Every distinct block pool id the row's req_pool paths name, in request
 * order. 0, or -1 when malformed, an id is too long, or there are more than
 * RD_MAX_POOLS. */
int rd_request_pools(const struct method_row *m, const uint8_t *msg, size_t len, struct rd_pools *out);
/* For a row whose one req_pool path starts at a repeated top-level field
 * (reportBadBlocks' blocks): the request with only the elements whose pool
 * is pools->id[i] for a bit i set in keep, every other field unchanged,
 * appended to out. 0 or -1. */
int rd_request_only_pools(const struct method_row *m, const uint8_t *msg, size_t len, const struct rd_pools *pools,
                          uint32_t keep, struct buf *out);

/* ---- merging fan-out answers (route_merge.c) ---- */

struct rd_answer {
    const uint8_t *p;
    size_t len;
};

/* Combines n ≥ 1 successful answers as the row's merge says into out.
 * 0, or -1 (malformed answer, out of memory). */
int rd_merge(const struct method_row *m, const struct rd_answer *a, int n, struct buf *out);
/* Puts the router's quotas into a merged summary (msg, rewritten in place):
 * the row's two limits (merge_keep: the name quota, then the space quota)
 * take ns_quota and ss_quota, each unless it is -1. 0, or -1 (malformed, no
 * memory; msg unchanged). */
int rd_put_quota(const struct method_row *m, struct buf *msg, int64_t ns_quota, int64_t ss_quota);

#endif
