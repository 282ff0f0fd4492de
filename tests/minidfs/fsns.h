/*
 * fsns: the in-memory namespace of minidfs (the NameNode's file system tree).
 *
 * Pure C, no I/O, single-threaded (the NameNode loop calls it; no locks).
 * Every operation follows the NameNode's semantics (HDFS 3.x): path checks,
 * permission checks (owner/group/other bits, sticky bit, superuser), error
 * classes and messages. The RPC layer converts protos to these calls and
 * fsns_err to RpcResponseHeaderProto's exceptionClassName/errorMsg.
 *
 * Conventions
 *  - Functions return 0 on success, -1 on failure with *err filled. `err` may
 *    never be NULL. err->code lets the caller branch without string compares
 *    (e.g. getFileInfo/getListing answer "no status" for FSNS_ENOENT).
 *  - `user` is the effective caller (connection context user). The superuser
 *    is the name given to fsns_new(); a user's groups are {user}, plus
 *    "supergroup" for the superuser (minidfs has no group mapping).
 *  - Paths are NUL-terminated, absolute. Duplicate and trailing slashes are
 *    normalised; "." ".." and components with ':' are refused
 *    (InvalidPathException), as are relative paths. Like the NameNode, the
 *    operations that create a name (mkdirs, create, rename/rename2
 *    destination) refuse "//" inside the path and paths over 8000 bytes or
 *    1000 components (IOException "<op>: Pathname too long. ..."); lookups
 *    of such paths just find nothing.
 *  - Permission errors follow FSPermissionChecker: traverse (x on every
 *    existing ancestor), then the op's own checks, skipped for the superuser.
 *  - `fileid` arguments (addBlock, complete, fsync, abandonBlock): when non-zero
 *    the file is found by inode id and the path is only used in messages, as
 *    the NameNode does for files renamed while open; 0 = by path.
 *  - const char * fields of output structs point into the namespace: valid
 *    until the next call that modifies it. Copy what you keep.
 *  - Times are milliseconds since the epoch (real clock unless fixed with
 *    fsns_set_time, for tests).
 */
#ifndef MINIDFS_FSNS_H
#define MINIDFS_FSNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fsns;

/* ---- errors ---------------------------------------------------------- */

enum fsns_errcode {
    FSNS_OK = 0,
    FSNS_ENOENT,        /* java.io.FileNotFoundException */
    FSNS_EEXIST,        /* org.apache.hadoop.fs.FileAlreadyExistsException */
    FSNS_EPARENTNOTDIR, /* org.apache.hadoop.fs.ParentNotDirectoryException */
    FSNS_ENOTDIR,       /* org.apache.hadoop.fs.PathIsNotDirectoryException */
    FSNS_ENOTEMPTY,     /* org.apache.hadoop.fs.PathIsNotEmptyDirectoryException */
    FSNS_EACCES,        /* org.apache.hadoop.security.AccessControlException */
    FSNS_EINVALPATH,    /* org.apache.hadoop.fs.InvalidPathException */
    FSNS_EARG,          /* org.apache.hadoop.HadoopIllegalArgumentException */
    FSNS_EIO,           /* java.io.IOException (generic) */
    FSNS_ESNAPSHOT,     /* org.apache.hadoop.hdfs.protocol.SnapshotException */
    FSNS_EBEINGCREATED, /* org.apache.hadoop.hdfs.protocol.AlreadyBeingCreatedException */
    FSNS_ELEASE,        /* org.apache.hadoop.hdfs.server.namenode.LeaseExpiredException */
    FSNS_ECOMPONENTLEN, /* ...protocol.FSLimitException$PathComponentTooLongException */
    FSNS_EDIRITEMS,     /* ...protocol.FSLimitException$MaxDirectoryItemsExceededException */
    FSNS_ENOMEM,        /* java.io.IOException "out of memory" (allocation failed) */
};

/* A failed operation: the Java exception class and message the NameNode
 * would send. cls is a static string. */
struct fsns_err {
    enum fsns_errcode code;
    const char *cls;
    char msg[512];
};

/* ---- values ---------------------------------------------------------- */

/* Inode types; the numbers are HdfsFileStatusProto.FileType's. */
enum fsns_type { FSNS_DIR = 1, FSNS_FILE = 2, FSNS_SYMLINK = 3 };

/* One block of a file. */
struct fsns_block {
    uint64_t id;    /* block id (first allocated: 1073741825, as HDFS) */
    uint64_t gs;    /* generation stamp (first: 1001) */
    uint64_t len;   /* bytes, as last reported by the client */
    bool uc;        /* under construction (the block being written) */
};

/* The status of one inode (HdfsFileStatusProto's content). */
struct fsns_stat {
    enum fsns_type type;
    const char *name;         /* local name; "" for the root */
    uint64_t fileid;          /* inode id; root = 16385 */
    uint16_t perm;            /* 12 bits used: sticky + rwxrwxrwx */
    const char *owner, *group;
    int64_t mtime, atime;     /* directories have atime 0 unless set */
    uint64_t length;          /* files: sum of block lengths; else 0 */
    uint32_t replication;     /* files; 0 for directories */
    uint64_t block_size;      /* files; 0 for directories */
    int32_t children;         /* directories: number of children; else 0 */
    uint8_t storage_policy;   /* effective policy id (inherited); 0 = unspecified */
    bool snapshottable;       /* SNAPSHOT_ENABLED flag */
    bool under_construction;  /* files open for write */
    const char *lease_holder; /* client name when under construction, else NULL */
    const char *symlink;      /* symlink target, else NULL */
    const struct fsns_block *blocks; /* files: the blocks in order; else NULL */
    size_t nblocks;
};

/* A list of block ids the caller must delete on the DataNode. */
struct fsns_blocklist {
    uint64_t *ids;
    size_t n, cap;
};
void fsns_blocklist_free(struct fsns_blocklist *bl); /* frees ids, zeroes */

/* ---- lifetime -------------------------------------------------------- */

/* Creates an empty namespace: "/" owned by `superuser`, group "supergroup",
 * mode 0755. NULL on allocation failure. */
struct fsns *fsns_new(const char *superuser);
void fsns_free(struct fsns *ns);

/* Tests: fix the clock at `ms` (0 = back to the real clock). */
void fsns_set_time(struct fsns *ns, int64_t ms);
/* dfs.namenode.fs-limits.min-block-size (default 1048576 as HDFS; minidfs
 * may lower it so tests can write multi-block files cheaply). */
void fsns_set_min_block_size(struct fsns *ns, uint64_t bytes);
/* Block pool id, used only to print blocks in messages as HDFS does
 * ("BP-1-127.0.0.1-1:blk_1073741825_1001"). Copied. */
void fsns_set_block_pool_id(struct fsns *ns, const char *bpid);

/* ---- reading --------------------------------------------------------- */

/* getFileInfo / getFileLinkInfo / getLocatedFileInfo. st->name is "" (only
 * listings name their entries, as HDFS). Missing path:
 * -1 with code FSNS_ENOENT (HDFS answers an empty fs field). A file in the
 * middle of the path: AccessControlException "/f (is not a directory)",
 * except for the superuser who gets FSNS_ENOENT, as HDFS. */
int fsns_getfileinfo(struct fsns *ns, const char *user, const char *path, struct fsns_stat *st,
                     struct fsns_err *err);

/* getListing: children of `path` strictly after `start_after` (bytes, may be
 * NULL or empty), at most `limit` of them into out[0..*n). *remaining = how
 * many more children follow. A file lists itself with name "" (remaining
 * 0). Missing:
 * FSNS_ENOENT (HDFS answers an empty dirList). Needs r-x on a directory. */
int fsns_getlisting(struct fsns *ns, const char *user, const char *path, const char *start_after,
                    size_t start_after_len, uint32_t limit, struct fsns_stat *out, uint32_t *n,
                    uint32_t *remaining, struct fsns_err *err);

/* getBlockLocations: a file's status (with its blocks); needs READ; updates
 * the access time (precision 1 hour, as HDFS's default). Directories:
 * FileNotFoundException "Path is not a file: /d". */
int fsns_getblocks(struct fsns *ns, const char *user, const char *path, struct fsns_stat *st,
                   struct fsns_err *err);

/* getContentSummary / getQuotaUsage. quota and space_quota are -1. */
struct fsns_summary {
    uint64_t length, file_count, directory_count; /* dirs count includes itself */
    int64_t quota, space_quota;
    uint64_t space_consumed;                      /* sum(length * replication) */
    uint64_t snapshot_count;                      /* snapshots under the tree */
};
int fsns_content_summary(struct fsns *ns, const char *user, const char *path, struct fsns_summary *s,
                         struct fsns_err *err);

/* getFsStats totals. */
struct fsns_totals {
    uint64_t used;               /* sum of block lengths (one DataNode) */
    uint64_t files, directories; /* inode counts (root counted) */
    uint64_t blocks;
    uint64_t under_construction; /* files open for write */
};
void fsns_totals(const struct fsns *ns, struct fsns_totals *t);

int fsns_preferred_block_size(struct fsns *ns, const char *user, const char *path, uint64_t *bs,
                              struct fsns_err *err);
int fsns_is_file_closed(struct fsns *ns, const char *user, const char *path, bool *closed,
                        struct fsns_err *err);

/* ---- namespace changes ----------------------------------------------- */

/* mkdirs (parents always created, as DFSClient asks). masked = client's
 * permission after umask; missing ancestors get masked | u+wx (no sticky).
 * Owner = user, group = the parent's. Existing directory: success.
 * Needs WRITE on the nearest existing ancestor. */
int fsns_mkdirs(struct fsns *ns, const char *user, const char *path, uint16_t masked, struct fsns_err *err);

/* createSymlink: a symlink inode at `link` whose target is `target`, kept as
 * given (relative or dangling targets are fine; only "" is refused). The
 * link gets permission 0777, owner = user, group = the parent's; missing
 * parents are created as mkdirs does (dir_perm | u+wx) when create_parent,
 * else FileNotFoundException. An existing link name: FSNS_EEXIST. Needs
 * WRITE on the nearest existing ancestor. Symlinks are never followed by
 * minidfs: status calls answer the link itself. */
int fsns_symlink(struct fsns *ns, const char *user, const char *target, const char *link, uint16_t dir_perm,
                 bool create_parent, struct fsns_err *err);

/* delete. *deleted = false when the path does not exist or is "/". Block ids
 * of removed files are appended to `removed` (may be NULL). Needs WRITE on
 * the parent (+ sticky bit rule) and rwx on every non-empty directory of the
 * subtree; a subtree holding snapshots is refused (SnapshotException). */
int fsns_delete(struct fsns *ns, const char *user, const char *path, bool recursive, bool *deleted,
                struct fsns_blocklist *removed, struct fsns_err *err);

/* rename (old API): *ok = false on the failure cases HDFS answers false for
 * (missing source, destination exists as a file, into its own subtree, ...);
 * permission and snapshot errors are still errors. A destination that is an
 * existing directory receives the source under its own name. */
int fsns_rename(struct fsns *ns, const char *user, const char *src, const char *dst, bool *ok,
                struct fsns_err *err);

/* rename2 (Options.Rename): throws on failure. overwrite = OVERWRITE option;
 * an overwritten file's blocks are appended to `removed` (may be NULL). */
int fsns_rename2(struct fsns *ns, const char *user, const char *src, const char *dst, bool overwrite,
                 struct fsns_blocklist *removed, struct fsns_err *err);

int fsns_setpermission(struct fsns *ns, const char *user, const char *path, uint16_t perm,
                       struct fsns_err *err);
/* owner/group: NULL or "" = leave alone. A non-superuser owner may only set
 * the group to one of its groups ({user}) and the owner to itself. */
int fsns_setowner(struct fsns *ns, const char *user, const char *path, const char *owner,
                  const char *group, struct fsns_err *err);
/* mtime/atime: -1 = leave alone. */
int fsns_settimes(struct fsns *ns, const char *user, const char *path, int64_t mtime, int64_t atime,
                  struct fsns_err *err);
/* *ok = false for a directory or a missing path (as HDFS). */
int fsns_setreplication(struct fsns *ns, const char *user, const char *path, uint32_t replication,
                        bool *ok, struct fsns_err *err);
/* setStoragePolicy by id (0 = unspecified / inherit). */
int fsns_setstoragepolicy(struct fsns *ns, const char *user, const char *path, uint8_t policy,
                          struct fsns_err *err);

/* ---- writing files --------------------------------------------------- */

/* CreateFlagProto values. */
enum { FSNS_CREATE = 1, FSNS_OVERWRITE = 2, FSNS_APPEND = 4, FSNS_NEW_BLOCK = 0x20 };

struct fsns_create_args {
    const char *client;         /* clientName: the lease holder */
    const char *client_machine; /* for messages (peer address); NULL = "" */
    uint16_t masked;            /* permission after umask */
    uint32_t flags;             /* FSNS_CREATE | FSNS_OVERWRITE */
    bool create_parent;
    uint32_t replication;       /* 1..512 */
    uint64_t block_size;        /* >= min block size */
    uint8_t storage_policy;     /* 0 = inherit */
};

/* create: the new file, under construction with `client` as lease holder.
 * Overwritten file's blocks go to `removed` (may be NULL). FSNS_APPEND is
 * ignored here, as by the NameNode (clients call append). Missing parents
 * (create_parent) get the nearest existing ancestor's permission | u+wx.
 * An open file held by another client blocks create unless that client's
 * lease passed the soft limit (60 s without renewLease or a write call):
 * then its file is closed first, as HDFS recovers the lease. */
int fsns_create(struct fsns *ns, const char *user, const char *path, const struct fsns_create_args *a,
                struct fsns_stat *st, struct fsns_blocklist *removed, struct fsns_err *err);

/* append: reopens a closed file for `client`. *has_last = true and *last set
 * when the last block is partial and the client must continue it (not with
 * FSNS_NEW_BLOCK in flags). AlreadyBeingCreatedException when open. */
int fsns_append(struct fsns *ns, const char *user, const char *path, const char *client,
                const char *client_machine, uint32_t flags, struct fsns_stat *st, bool *has_last,
                struct fsns_block *last, struct fsns_err *err);

/* addBlock: commits `previous` (may be NULL: first block, or after an append
 * that ended on a block boundary) with its final length and allocates a new
 * block (len 0, uc) at the end. A retry (previous = the penultimate block,
 * last block still empty) answers the existing last block. *offset = the
 * byte offset of the new block in the file. */
int fsns_addblock(struct fsns *ns, const char *user, const char *path, uint64_t fileid, const char *client,
                  const struct fsns_block *previous, struct fsns_block *out, uint64_t *offset,
                  struct fsns_err *err);

/* abandonBlock: drops `block_id` when it is the file's last block. */
int fsns_abandonblock(struct fsns *ns, const char *user, const char *path, uint64_t fileid,
                      const char *client, uint64_t block_id, struct fsns_err *err);

/* complete: commits `last` (may be NULL when the file has no block) and
 * closes the file. *done = true (our one DataNode is always in sync). A retry
 * on a closed file whose last block matches succeeds. */
int fsns_complete(struct fsns *ns, const char *user, const char *path, uint64_t fileid, const char *client,
                  const struct fsns_block *last, bool *done, struct fsns_err *err);

/* fsync: records last_block_length (> 0) as the last block's length. */
int fsns_fsync(struct fsns *ns, const char *user, const char *path, uint64_t fileid, const char *client,
               int64_t last_block_length, struct fsns_err *err);

/* truncate to new_length. *done = true always (see the result for the
 * DataNode work). Block ids beyond the new length go to `removed`;
 * when the cut falls inside a block, *cut is that block with its new length
 * (already recorded) and *has_cut = true: the caller shortens the replica. */
int fsns_truncate(struct fsns *ns, const char *user, const char *path, int64_t new_length,
                  const char *client, const char *client_machine, bool *done, bool *has_cut,
                  struct fsns_block *cut, struct fsns_blocklist *removed, struct fsns_err *err);

/* recoverLease: closes an open file (as if its writer had completed it with
 * the recorded lengths). *closed = true (also for a closed file). */
int fsns_recoverlease(struct fsns *ns, const char *user, const char *path, const char *client,
                      bool *closed, struct fsns_err *err);

/* renewLease: no-op success. */
int fsns_renewlease(struct fsns *ns, const char *user, const char *client, struct fsns_err *err);

/* updateBlockForPipeline: a new generation stamp for the under-construction
 * block (not stored until updatePipeline); *out = block with the new gs. */
int fsns_update_block_for_pipeline(struct fsns *ns, const char *user, uint64_t block_id, uint64_t gs,
                                   const char *client, struct fsns_block *out, struct fsns_err *err);

/* updatePipeline: the block `old_id`/`old_gs` gets new_gs and new_len. */
int fsns_update_pipeline(struct fsns *ns, const char *user, const char *client, uint64_t old_id,
                         uint64_t old_gs, uint64_t new_gs, uint64_t new_len, struct fsns_err *err);

/* ---- block lookups (for the DataNode / NameNode) ---------------------- */

struct fsns_blockinfo {
    struct fsns_block block; /* current gs, length, uc */
    uint64_t fileid;         /* owning file */
    size_t index;            /* index in the file's block list */
    uint64_t offset;         /* byte offset in the file */
};
/* 0 and *bi filled, or -1 when no file holds that block. */
int fsns_block_lookup(const struct fsns *ns, uint64_t block_id, struct fsns_blockinfo *bi);
/* The DataNode's word on a replica (e.g. after it finalised or cut one):
 * records gs and length. -1 when no file holds that block. */
int fsns_block_sync(struct fsns *ns, uint64_t block_id, uint64_t gs, uint64_t len);
/* The full path of an inode into buf (NUL-terminated); -1 when the id is
 * unknown or the path does not fit. */
int fsns_inode_path(const struct fsns *ns, uint64_t fileid, char *buf, size_t cap);

/* ---- extended attributes --------------------------------------------- */

/* XAttrSetFlagProto values. */
enum { FSNS_XATTR_CREATE = 1, FSNS_XATTR_REPLACE = 2 };

/* One attribute: name with namespace prefix ("user.a", "trusted.b", ...). */
struct fsns_xattr {
    const char *name;
    const uint8_t *value; /* may be NULL when len = 0 */
    size_t len;
};

int fsns_setxattr(struct fsns *ns, const char *user, const char *path, const char *name,
                  const uint8_t *value, size_t len, uint32_t flags, struct fsns_err *err);
/* getXAttrs: names == NULL (n_names 0) = every attribute the caller may see;
 * else exactly those (any missing: IOException "At least one of the
 * attributes provided was not found."). out must hold
 * max(n_names, FSNS_MAX_XATTRS) entries. */
int fsns_getxattrs(struct fsns *ns, const char *user, const char *path, const char *const *names,
                   size_t n_names, struct fsns_xattr *out, size_t *n, struct fsns_err *err);
/* listXAttrs: names only (value NULL); out holds FSNS_MAX_XATTRS entries. */
int fsns_listxattrs(struct fsns *ns, const char *user, const char *path, struct fsns_xattr *out, size_t *n,
                    struct fsns_err *err);
int fsns_removexattr(struct fsns *ns, const char *user, const char *path, const char *name,
                     struct fsns_err *err);
/* Most attributes a caller can see on one inode: 32 user/trusted ones (the
 * NameNode's per-inode limit) + security.hdfs.unreadable.by.superuser. */
#define FSNS_MAX_XATTRS 33

/* ---- snapshots --------------------------------------------------------- */

int fsns_allow_snapshot(struct fsns *ns, const char *user, const char *path, struct fsns_err *err);
int fsns_disallow_snapshot(struct fsns *ns, const char *user, const char *path, struct fsns_err *err);
/* name NULL or "" = generated ("s" + yyyyMMdd-HHmmss.SSS, UTC). The
 * snapshot path ("/dir/.snapshot/name") is written to out (cap bytes). */
int fsns_create_snapshot(struct fsns *ns, const char *user, const char *path, const char *name, char *out,
                         size_t cap, struct fsns_err *err);
int fsns_delete_snapshot(struct fsns *ns, const char *user, const char *path, const char *name,
                         struct fsns_err *err);
int fsns_rename_snapshot(struct fsns *ns, const char *user, const char *path, const char *oldname,
                         const char *newname, struct fsns_err *err);

/* getSnapshottableDirListing: the directories the caller owns (all of them
 * for the superuser). Allocated array; free with fsns_snapdirs_free. */
struct fsns_snapdir {
    struct fsns_stat st;
    uint32_t snapshot_count;
    uint32_t snapshot_quota; /* 65536 */
    char *parent;            /* full path of the parent ("" for the root) */
};
int fsns_snapshottable_dirs(struct fsns *ns, const char *user, struct fsns_snapdir **out, size_t *n,
                            struct fsns_err *err);
void fsns_snapdirs_free(struct fsns_snapdir *d, size_t n);

/* A directory's snapshots (name, creation time), in creation order; NULL if
 * none. Pointers valid until the next change. */
struct fsns_snapshot {
    const char *name;
    int64_t ctime;
    uint32_t id;
};
int fsns_list_snapshots(struct fsns *ns, const char *user, const char *path, const struct fsns_snapshot **out,
                        size_t *n, struct fsns_err *err);

#endif
