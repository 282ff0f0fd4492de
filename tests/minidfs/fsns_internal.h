/*
 * fsns_internal.h: what the fsns*.c files share (not part of the API):
 * the inode, the namespace state, path parsing/resolution and the
 * permission checker.
 */
#ifndef MINIDFS_FSNS_INTERNAL_H
#define MINIDFS_FSNS_INTERNAL_H

#include <stdarg.h>

#include "fsns.h"

#define FSNS_ROOT_ID 16385u
#define FSNS_MAX_PATH_LEN 8000     /* NameNode MAX_PATH_LENGTH */
#define FSNS_MAX_PATH_DEPTH 1000   /* NameNode MAX_PATH_DEPTH */
#define FSNS_MAX_COMPONENT 255     /* dfs.namenode.fs-limits.max-component-length */
#define FSNS_MAX_DIR_ITEMS 1048576 /* dfs.namenode.fs-limits.max-directory-items */
#define FSNS_MAX_XATTR_SIZE 16384  /* dfs.namenode.fs-limits.max-xattr-size */
#define FSNS_SNAPSHOT_QUOTA 65536
#define FSNS_ATIME_PRECISION 3600000 /* dfs.namenode.accesstime.precision (ms) */
#define FSNS_LEASE_SOFT_LIMIT 60000  /* ms */
#define FSNS_SUPERGROUP "supergroup"

/* Access bits (FsAction): r=4 w=2 x=1. */
enum { A_X = 1, A_W = 2, A_R = 4 };

struct xattr {
    char *name;   /* with lower-case namespace prefix */
    uint8_t *val; /* NULL when the attribute has no value */
    size_t len;
};

/* A lease holder (client name) and its open files. */
struct lease {
    char *holder;
    int64_t renewed; /* last renewal (ms) */
    uint32_t nfiles; /* files under construction held */
};

struct inode {
    uint64_t id;
    enum fsns_type type;
    char *name; /* "" for the root */
    size_t namelen;
    struct inode *parent;
    struct inode *hnext; /* id hash chain */
    char *owner, *group;
    uint16_t perm; /* 01777 */
    int64_t mtime, atime;
    uint8_t policy; /* local storage policy; 0 = inherit */
    struct xattr *xattrs;
    uint32_t nxattrs;
    uint32_t walk; /* scratch cursor of walk() */

    /* directories */
    struct inode **kids; /* sorted by name (unsigned bytes) */
    uint32_t nkids, capkids;
    bool snapshottable;
    struct fsns_snapshot *snaps; /* names are owned (malloc'd) */
    uint32_t nsnaps;

    /* files */
    struct fsns_block *blocks;
    size_t nblocks, capblocks;
    uint32_t repl;
    uint64_t bsize;
    char *client;         /* lease holder when under construction, else NULL */
    char *client_machine; /* its address */

    /* symlinks */
    char *target;
};

/* Block id -> owning file. */
struct bnode {
    uint64_t id;
    struct inode *file;
    size_t idx;
    struct bnode *next;
};

/* A parsed path: normalised text ("/a/b") and its components. */
struct ppath {
    char norm[FSNS_MAX_PATH_LEN + 2];
    size_t normlen;
    int n;                                   /* components */
    uint16_t off[FSNS_MAX_PATH_DEPTH + 1];   /* component start in norm */
    uint16_t len[FSNS_MAX_PATH_DEPTH + 1];   /* component length */
    bool overflow;                           /* longer than any existing path */
};

/* A resolved path: nodes[0] = root, nodes[i] = component i (1-based) or
 * NULL from the first missing one on. len = n + 1. */
struct iip {
    struct inode *nodes[FSNS_MAX_PATH_DEPTH + 2];
    int len;
    const struct ppath *p;
};

struct fsns {
    char *superuser;
    struct inode *root;
    uint64_t next_id;
    uint64_t next_block;
    uint64_t next_gs;
    uint32_t next_snap_id;
    int64_t fixed_time;
    uint64_t min_block_size;
    char *bpid; /* block pool id for messages, may be NULL */

    struct inode **ibuckets; /* id hash */
    size_t nibuckets, ninodes;
    struct bnode **bbuckets; /* block hash */
    size_t nbbuckets, nblocks_total;

    struct inode **snapdirs; /* snapshottable directories */
    size_t nsnapdirs, capsnapdirs;

    struct lease *leases;
    size_t nleases, capleases;

    uint64_t nfiles, ndirs, nuc, used;

    struct ppath pa, pb;   /* scratch: source / destination path */
    struct iip ia, ib;
};

/* errors */
int fsns_fail(struct fsns_err *err, enum fsns_errcode code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int fsns_oom(struct fsns_err *err);

int64_t fsns_now(const struct fsns *ns);
bool fsns_is_super(const struct fsns *ns, const char *user);
bool fsns_in_group(const struct fsns *ns, const char *user, const char *group);
char *fsns_strdup(const char *s);

/* Path parsing. op != NULL: the path names something to create (op =
 * "mkdirs", "create", "rename": the prefix of the "Pathname too long"
 * message): length limits apply and "//" in the middle is refused. */
int fsns_parse(struct fsns *ns, struct ppath *p, const char *path, const char *op, struct fsns_err *err);
/* The normalised text of components 1..i ("/" for i = 0) into buf. */
const char *fsns_prefix(const struct ppath *p, int i, char *buf, size_t cap);

/* Resolves p into r and checks traverse: every existing ancestor must be a
 * directory (else ParentNotDirectoryException for create ops,
 * AccessControlException otherwise) and searchable by `user`. */
int fsns_resolve(struct fsns *ns, const char *user, const struct ppath *p, struct iip *r, bool create,
                 struct fsns_err *err);
/* The traverse part of fsns_resolve, for an iip changed after resolution. */
int fsns_traverse(struct fsns *ns, const char *user, const struct iip *r, bool create, struct fsns_err *err);
/* parse + resolve into ns->pa/ns->ia. */
int fsns_lookup(struct fsns *ns, const char *user, const char *path, const char *op, struct fsns_err *err);

static inline struct inode *iip_last(const struct iip *r) { return r->nodes[r->len - 1]; }
static inline struct inode *iip_parent(const struct iip *r) { return r->len > 1 ? r->nodes[r->len - 2] : NULL; }

/* FSPermissionChecker.checkPermission (no-op for the superuser). 0 = none. */
int fsns_check(struct fsns *ns, const char *user, const struct iip *r, bool owner, int ancestor, int parent,
               int access, int sub, bool ignore_empty, struct fsns_err *err);
/* checkOwner as FSDirectory does it (missing path: FileNotFoundException). */
int fsns_check_owner(struct fsns *ns, const char *user, const struct iip *r, struct fsns_err *err);
int fsns_check_super(struct fsns *ns, const char *user, struct fsns_err *err);

/* tree */
struct inode *fsns_child(const struct inode *dir, const char *name, size_t len, uint32_t *pos);
struct inode *fsns_inode_new(struct fsns *ns, enum fsns_type type, const char *name, size_t len, const char *owner,
                             const char *group, uint16_t perm, int64_t now);
void fsns_inode_free(struct inode *n);
int fsns_link(struct fsns *ns, struct inode *dir, struct inode *child, struct fsns_err *err);
void fsns_unlink(struct fsns *ns, struct inode *child);
/* Checks that name may be created in dir (reserved name, component length,
 * directory items). */
int fsns_check_new_child(struct fsns *ns, const struct inode *dir, const char *dirpath, const char *name, size_t len,
                         struct fsns_err *err);
/* Removes a detached subtree: frees it, appends its block ids. */
void fsns_destroy(struct fsns *ns, struct inode *top, struct fsns_blocklist *removed);
int fsns_walk(struct inode *top, int (*cb)(struct inode *, void *), void *arg);
struct inode *fsns_by_id(const struct fsns *ns, uint64_t id);
int fsns_full_path(const struct inode *n, char *buf, size_t cap);
void fsns_fill_stat(const struct fsns *ns, const struct inode *n, bool with_name, struct fsns_stat *st);
void fsns_touch(struct inode *dir, int64_t now);

/* Creates the missing directories of r up to component `upto` (fsns_ops.c). */
int fsns_make_dirs(struct fsns *ns, const char *user, struct iip *r, int upto, uint16_t masked, bool last_perm,
                   bool inherit, int64_t now, struct fsns_err *err);
/* For a call without createParent: r's parent must be there and be a
 * directory (the NameNode's two messages otherwise). 0 or -1. */
int fsns_parent_exists(struct fsns *ns, const struct iip *r, struct fsns_err *err);
/* Puts the new inode n last on r: the missing parents made first (the
 * arguments of fsns_make_dirs for r's directories), n in its parent's group,
 * linked, the parent's times moved. n is freed when it fails. */
int fsns_place(struct fsns *ns, const char *user, struct iip *r, struct inode *n, uint16_t masked, bool inherit,
               int64_t now, struct fsns_err *err);
int fsns_verify_replication(const char *path, uint32_t replication, struct fsns_err *err);

/* blocks and leases */
int fsns_bmap_add(struct fsns *ns, struct inode *file, size_t idx, struct fsns_err *err);
void fsns_bmap_del(struct fsns *ns, uint64_t id);
struct bnode *fsns_bmap_get(const struct fsns *ns, uint64_t id);
void fsns_block_setlen(struct fsns *ns, struct fsns_block *b, uint64_t len);
struct lease *fsns_lease_get(struct fsns *ns, const char *holder);
int fsns_lease_add(struct fsns *ns, struct inode *file, const char *holder, const char *machine, struct fsns_err *err);
void fsns_lease_release(struct fsns *ns, struct inode *file);
int fsns_blocklist_add(struct fsns_blocklist *bl, uint64_t id);
const char *fsns_blockstr(const struct fsns *ns, uint64_t id, uint64_t gs, char *buf, size_t cap);

/* snapshots */
int fsns_check_snapshots(struct fsns *ns, struct inode *top, struct fsns_err *err);
void fsns_snapdir_del(struct fsns *ns, struct inode *dir);

#endif
