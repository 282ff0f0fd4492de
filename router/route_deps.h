/*
 * route_deps: what the HDFS routing core needs from the method table
 * (hdfs-proto/methods), the protobuf path rewriter (hdfs-proto/pbrewrite)
 * and the routing snapshot (statestore/snapshot), behind one small seam so
 * hdfs_route.c reads as the routing rules alone.
 */
#ifndef FR_ROUTE_DEPS_H
#define FR_ROUTE_DEPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct ha_ns;
struct router;

#define RD_MAX_PATH 8192
#define RD_MAX_NS 64

enum rd_kind {
    RD_PATH,        /* by the one path in the request */
    RD_TWO_PATHS,   /* rename, rename2, concat: every path in one subcluster */
    RD_ALL,         /* to every subcluster, answers merged */
    RD_DEFAULT,     /* to the default subcluster */
    RD_BLOCK_POOL,  /* by the block pool id of the block in the request */
    RD_ROUTER,      /* answered by the router itself */
    RD_REFUSE,      /* refused with an exception */
};

enum rd_merge { RD_MERGE_FIRST, RD_MERGE_SUM, RD_MERGE_CONCAT, RD_MERGE_ANY_OK };

struct rd_method {
    enum rd_kind kind;
    enum rd_merge merge;          /* RD_ALL */
    uint32_t concat_field;        /* RD_MERGE_CONCAT: the repeated field */
    bool write;                   /* refused under read-only mounts */
    const void *row;              /* the method table's own row */
};

/* The row for a method; NULL for a method the table does not know. */
const struct rd_method *rd_method(const char *name);

/* The paths in a request message, in the order the row names them. Returns
 * how many (≤ max) or -1 for a malformed message. */
int rd_req_paths(const struct rd_method *m, const uint8_t *msg, size_t len, char (*paths)[RD_MAX_PATH], int max);
/* Rewrites the request's paths to newpaths (same order) into out. */
int rd_req_rewrite(const struct rd_method *m, const uint8_t *msg, size_t len, const char *const *newpaths,
                   struct buf *out);
/* Maps every full path in a response from the destination back into the
 * client's namespace (prefix `dest` -> `src`). *changed = false: use the
 * original bytes. */
int rd_resp_rewrite(const struct rd_method *m, const uint8_t *msg, size_t len, const char *dest, const char *src,
                    struct buf *out, bool *changed);
/* The block pool id of the block a request carries (NULL when none). */
const char *rd_req_block_pool(const struct rd_method *m, const uint8_t *msg, size_t len, char *buf, size_t cap);

/* ---- the routing snapshot ---- */

struct rd_snap;                   /* a held snapshot */
struct rd_snap *rd_snap_acquire(struct router *r);
void rd_snap_release(struct rd_snap *s);

struct rd_target {
    struct ha_ns *ns;             /* where the path lives */
    char path[RD_MAX_PATH];       /* the path there */
    char src[RD_MAX_PATH];        /* the mount point (client side), "" for the default */
    char dest[RD_MAX_PATH];       /* its destination root */
    bool readonly;
};
/* Resolves a path. -1 with a reason ("no mount point for /x") when nothing
 * owns it. */
int rd_resolve(struct rd_snap *s, const char *path, struct rd_target *t, char *err, size_t errlen);
/* For a directory under a mount whose order keeps directories in every
 * destination (HASH_ALL, RANDOM, SPACE): every destination, so a listing can
 * merge them. Returns how many targets were written (1 for other mounts),
 * or -1 with err. */
int rd_resolve_all(struct rd_snap *s, const char *path, struct rd_target *t, int max, char *err, size_t errlen);
/* Every nameservice (for calls that go to all). */
int rd_all_ns(struct rd_snap *s, struct ha_ns **out, int max);
/* The default nameservice, NULL when none. */
struct ha_ns *rd_default_ns(struct rd_snap *s);
/* The nameservice owning a block pool (learned from replies), NULL if unknown. */
struct ha_ns *rd_ns_by_pool(struct rd_snap *s, const char *pool);
/* The names of mount points directly under dir, sorted; count returned. */
int rd_mount_children(struct rd_snap *s, const char *dir, const char **names, int max);
/* Is path itself a mount point? */
bool rd_is_mount_point(struct rd_snap *s, const char *path);

#endif
