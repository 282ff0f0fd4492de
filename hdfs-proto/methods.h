/*
 * methods: the ClientNamenodeProtocol method table. One row per rpc of the
 * service (all of them; a unit test checks the table against the .proto and
 * every field path against the generated descriptors).
 *
 * A row tells the router, for one methodName:
 *   - how the call routes (enum method_route) and, for fan-outs, how the
 *     answers merge (enum method_merge);
 *   - where the paths are: request strings to resolve and rewrite, response
 *     strings holding full paths to map back, block pool ids in requests (to
 *     route block-only calls) and in responses (to learn pool -> nameservice);
 *   - whether it writes (read-only mount points, router safe mode) and whether
 *     it is @Idempotent or @AtMostOnce (the NameNode retry cache must see the
 *     client's ids), which decides whether a timed-out call may be sent to
 *     another NameNode of the nameservice;
 *   - for refused calls, the exception to answer with.
 * Field paths are pbrewrite paths: field numbers outermost first, 0-ended.
 *
 * Lookup is a binary search over the rows (sorted by name, checked by the
 * test): O(log n), no allocation, safe from any thread (the table is const).
 */
#ifndef FR_METHODS_H
#define FR_METHODS_H

#include <stddef.h>
#include <stdint.h>

#include "pbrewrite.h"

enum method_route {
    ROUTE_NONE = 0,     /* only in `nopath`: a request without its path is malformed */
    ROUTE_PATH,         /* by the first request path (req.p[0]); other req paths are rewritten alike */
    ROUTE_TWO_PATHS,    /* rename, rename2, concat, createSymlink: every path must resolve to one subcluster */
    ROUTE_ALL_MERGE,    /* to every subcluster, answers combined by `merge` */
    ROUTE_DEFAULT,      /* to the default subcluster (any available one if it is down) */
    ROUTE_BLOCK_POOL,   /* by the block pool ids at req_pool: the nameservice whose NameNodes name that
                           pool (an unknown pool is refused). With a merge, the paths start at a
                           repeated field whose elements go, split by pool, one call per nameservice */
    ROUTE_ROUTER,       /* answered by the router itself */
    ROUTE_REFUSE,       /* refused with refuse_class / refuse_msg */
};

/* How the answers of a fan-out combine. Unless a kind says otherwise every
 * subcluster must succeed, and a failure answers the call with that error. */
enum method_merge {
    MERGE_NONE = 0,     /* not a fan-out */
    MERGE_VOID,         /* empty answers: answer one empty message */
    MERGE_ANY_OK,       /* success if any subcluster succeeded; answer the first success */
    MERGE_FIRST,        /* the first non-empty answer in nameservice order, else the first */
    MERGE_SUM,          /* add the varint fields of the message at merge_path (NULL: the top level) */
    MERGE_MAX,          /* the answer with the largest int64 at merge_path */
    MERGE_AND,          /* bool at merge_path (absent = the field's default, see the row): the first
                           answer holding false, else the first */
    MERGE_CONCAT,       /* concatenate the encoded answers: protobuf merges repeated fields by
                           appending, so the lists join (singular scalars: last wins) */
    MERGE_UNION,        /* elements of the repeated field merge_path from all answers, byte-identical
                           duplicates dropped */
    MERGE_DATANODES,    /* elements of the repeated field merge_path, one per datanode: key = the
                           DatanodeIDProto at merge_key inside the element, ipAddr(1):xferPort(4).
                           A datanode that several subclusters share (it serves every block pool)
                           is listed once, where first seen, with the entry whose DatanodeInfoProto
                           (the message holding the key) has the newest lastUpdate(6) */
    MERGE_DATANODE_STORAGE, /* as MERGE_DATANODES, and the kept entry's numBlocks(17) is the sum of
                           every subcluster's (each counts the blocks of its own pool), as RBF
                           merges storage reports */
};

/* Row flags. */
enum {
    METHOD_WRITE = 1u << 0,         /* changes state: refused on read-only mounts (path-routed
                                       rows) and with StandbyException in router safe mode */
    METHOD_AT_MOST_ONCE = 1u << 1,  /* @AtMostOnce: a retry must reach the NameNode with the
                                       client's clientId/callId so its retry cache answers */
    METHOD_NO_MOUNT_POINT = 1u << 2,/* refused when the routing path (concat: any path) is a mount
                                       point or has mount points below it: the call would remove
                                       or replace an entry, or reach only part of what the client
                                       sees there (snapshots). AccessControlException, or the
                                       row's refuse_class when it has one */
    METHOD_SUBTREE = 1u << 3,       /* a path at or above mount points also covers them: listings
                                       show them, getFileInfo answers for a bare mount point,
                                       summaries fan out to every nested mount and merge by `merge` */
    METHOD_RESP_REVERSE = 1u << 4,  /* response paths may lie under any mount of the answering
                                       nameservice, not only the request's: map each back by a
                                       reverse lookup (destination -> mount point) */
    METHOD_POOL_FIRST = 1u << 5,    /* path-routed, but a block in the request (req_pool) names the
                                       subcluster more surely: use its pool when it is known */
    METHOD_ALL_NAMENODES = 1u << 6, /* ALL_MERGE rows a standby serves as well (UNCHECKED): every
                                       NameNode of every nameservice gets the call, as RBF sends
                                       them with standby=true; setSafeMode only when not `checked` */
    METHOD_NOT_MOUNT_ENTRY = 1u << 7,/* refused (AccessControlException) when the routing path is
                                       exactly a mount entry: the router owns what it would set
                                       there (setQuota: the entry's router quota) */
    METHOD_NONE_NOT_HERE = 1u << 9, /* an answer without field 1 (no status, no listing) means the path
                                       is not in that location: another location may hold it */
    METHOD_FALSE_NOT_HERE = 1u << 10,/* a false result (field 1) means the path is not in that
                                       location (delete, the old rename, setReplication) */
    METHOD_NAMES_NS = 1u << 11,     /* the answer's file status gets the subcluster's name
                                       (HdfsFileStatusProto.namespace): create fs(1), append stat(2) */
    METHOD_PROBE = 1u << 12,        /* makes a name: in a mount of several destinations the
                                       locations are asked first where it exists (create, mkdirs) */
    METHOD_RENAME = 1u << 13,       /* a rename: both paths are asked for in every location first */
    METHOD_MOUNT_ANSWER = 1u << 8,  /* answered by the router from the mount table, asking the
                                       subcluster only what the mount table cannot know
                                       (getEnclosingRoot: the encryption zone) */
    /* What a call is, where the router treats it apart from its route and
     * merge (routing code tests these bits, never the method's name). */
    METHOD_STATUS = 1u << 14,       /* answers one path's file status (getFileInfo): a mount
                                       point answers as a directory even before its destination
                                       exists, and so does a directory only the mount table has */
    METHOD_LISTING = 1u << 15,      /* a directory listing (getListing): mount points below the
                                       path are merged in, a directory kept in every destination
                                       is listed from all of them, and the router pages the result */
    METHOD_QUOTA_USAGE = 1u << 16,  /* a SUBTREE sum answered as QuotaUsageProto (getQuotaUsage): a
                                       mount entry with router quotas reports those as its limits.
                                       SUBTREE sums without it answer ContentSummaryProto */
    METHOD_CREATES = 1u << 17,      /* makes a new file where the mount's order puts it (create,
                                       createSymlink): not looked for in one location after another */
    METHOD_FILE_OP = 1u << 18,      /* acts on one file, or a pair of paths, that lives in a single
                                       location (append, concat, create, fsync, rename, ...): never
                                       sent to every location of a folder-all mount as other writes */
    METHOD_ADDS_NAMES = 1u << 19,   /* adds names below the path (create, mkdirs, rename where it
                                       lands): refused once a router quota above it, quota.ns or
                                       quota.ss, is used up */
    METHOD_ADDS_BYTES = 1u << 20,   /* may add bytes to a file (addBlock, append, concat, truncate):
                                       refused once a router space quota (quota.ss) above it is
                                       used up */
    METHOD_MAKES_DIR = 1u << 21,    /* mkdirs: where a probe finds a directory of that name it
                                       answers true at once; under a folder-all order it goes to
                                       every location */
    METHOD_RENAME_INTO = 1u << 22,  /* the old rename: onto an existing directory it moves the
                                       source inside it, and it answers false where rename2 throws */
    METHOD_LEASE_NAMES = 1u << 23,  /* renewLease: namespaces(2) names the nameservices the client's
                                       leases are in; the router picks those and strips the field */
    METHOD_HA_STATE = 1u << 24,     /* ROUTE_ROUTER: answers the router's own HA state (ACTIVE, or
                                       STANDBY in router safe mode) */
    METHOD_CHECKED_ACTIVE = 1u << 25,/* ALL_NAMENODES rows whose checked(2) = true keeps the call to
                                       the active NameNodes (setSafeMode) */
    METHOD_LINK_TARGET = 1u << 26,  /* TWO_PATHS: the second request path is a symlink target,
                                       passed as written when relative (createSymlink) */
    METHOD_NOMP_ALL_PATHS = 1u << 27,/* NO_MOUNT_POINT holds for every request path, not only the
                                       routing one (concat: its sources are deleted) */
    METHOD_SNAPSHOT_DIRS = 1u << 28,/* the response lists snapshottable directories, each a
                                       parent_fullpath(4) plus a name, mapped back whole by the
                                       answering nameservice's mounts (getSnapshottableDirListing) */
    METHOD_IDEMPOTENT = 1u << 29,   /* @Idempotent in Hadoop's ClientProtocol: running it twice does
                                       no harm, so after a timeout it may be sent to the next NameNode
                                       of an HA nameservice. Every row is IDEMPOTENT or AT_MOST_ONCE,
                                       as every ClientProtocol method carries one of the two */
    METHOD_PARTIAL = 1u << 30,      /* a read-only fan-out (ALL_MERGE) that may answer without a
                                       subcluster that is down when hdfs.down = partial: space and
                                       datanode reports, lists every subcluster has alike */
};

struct method_row {
    const char *name;               /* methodName as in RequestHeaderProto */
    enum method_route route;
    enum method_route nopath;       /* ROUTE_PATH rows: route when the request has none of its
                                       paths (optional path fields); ROUTE_NONE: malformed */
    enum method_merge merge;        /* ROUTE_ALL_MERGE, `nopath` fan-outs, SUBTREE summaries */
    uint32_t flags;                 /* METHOD_* */
    struct pb_pathset req;          /* path strings in the request; req.p[0] routes */
    struct pb_pathset resp;         /* full paths in the response, mapped back to the client's view */
    struct pb_pathset req_pool;     /* ExtendedBlockProto.poolId strings in the request */
    struct pb_pathset resp_pool;    /* block pool ids in the response: a one-location answer
                                       teaches pool -> nameservice (the first path that holds
                                       one). Rows whose answers carry blocks; a file status's
                                       locations(12) that the NameNode leaves empty for the
                                       call (create, getFileInfo) is not listed */
    const uint32_t *merge_path;     /* see enum method_merge; NULL when unused */
    const uint32_t *merge_key;      /* MERGE_DATANODES, MERGE_DATANODE_STORAGE: DatanodeIDProto
                                       inside an element */
    const uint32_t *merge_keep;     /* MERGE_SUM: varint fields of the summed message that are
                                       limits, not counts: taken from the first answer (0-ended);
                                       the name quota first, then the space quota */
    uint8_t file_id;                /* field number of the request's fileId (0: none): calls on an
                                       open file go where the file has that inode id */
    uint8_t status_field;           /* METHOD_NAMES_NS: the response field holding the
                                       HdfsFileStatusProto that gets namespace(19) */
    const char *refuse_class;       /* ROUTE_REFUSE, nopath == ROUTE_REFUSE, or a ROUTE_ROUTER row
                                       the router answers with this exception */
    const char *refuse_msg;
};

/* The row for a method name (not NUL-terminated), NULL if unknown. */
const struct method_row *method_lookup(const char *name, size_t len);
/* Same for a C string. */
const struct method_row *method_lookup_cstr(const char *name);

/* Rows in name order, for tests and metrics. */
size_t method_count(void);
const struct method_row *method_at(size_t i);

/* "PATH", "ALL_MERGE", ... for logs. */
const char *method_route_name(enum method_route r);

#endif
