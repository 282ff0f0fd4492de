/*
 * fsns_meta.c: extended attributes (namespaces, flags, limits and the
 * NameNode's access rules) and snapshots (allow/disallow, create, delete,
 * rename, listings). A snapshot records only its name and creation time:
 * the content of ".snapshot/<name>" is not kept.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fsns_internal.h"

#define PATHFMT "%.400s"
#define UNREADABLE "security.hdfs.unreadable.by.superuser"

/* ---- xattrs -------------------------------------------------------------- */

enum xns { XNS_USER, XNS_TRUSTED, XNS_SECURITY, XNS_SYSTEM, XNS_RAW };

/* Canonical name (lower-case namespace) into out; its namespace and the
 * length of the prefix ("user." = 5). */
static int xattr_name(const char *name, char *out, size_t cap, enum xns *ns_out, size_t *plen, struct fsns_err *err)
{
    static const char *const prefixes[] = { "user.", "trusted.", "security.", "system.", "raw." };
    if (!name)
        name = "";
    for (int i = 0; i < 5; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncasecmp(name, prefixes[i], n) != 0)
            continue;
        if (!name[n])
            return fsns_fail(err, FSNS_EARG, "XAttr name cannot be empty.");
        size_t total = strlen(name);
        if (total + 1 > cap)
            total = cap - 1; /* over the size limit anyway */
        memcpy(out, prefixes[i], n);
        memcpy(out + n, name + n, total - n);
        out[total] = 0;
        *ns_out = (enum xns)i;
        *plen = n;
        return 0;
    }
    return fsns_fail(err, FSNS_EARG,
                     "An XAttr name must be prefixed with user/trusted/security/system/raw, followed by a '.'");
}

/* XAttrPermissionFilter.checkPermissionForApi (paths are never raw here). */
static int xattr_api_check(struct fsns *ns, const char *user, enum xns x, const char *name, bool has_value,
                           struct fsns_err *err)
{
    if (x == XNS_USER || (x == XNS_TRUSTED && fsns_is_super(ns, user)))
        return 0;
    if (strcmp(name, UNREADABLE) == 0) {
        if (has_value)
            return fsns_fail(err, FSNS_EACCES,
                             "Attempt to set a value for '" UNREADABLE "'. Values are not allowed for this xattr.");
        return 0;
    }
    return fsns_fail(err, FSNS_EACCES, "User doesn't have permission for xattr: %.300s", name);
}

/* What getXAttrs/listXAttrs show the caller. */
static bool xattr_visible(struct fsns *ns, const char *user, const char *name)
{
    if (strncmp(name, "user.", 5) == 0)
        return true;
    if (strncmp(name, "trusted.", 8) == 0)
        return fsns_is_super(ns, user);
    return strcmp(name, UNREADABLE) == 0;
}

/* checkXAttrChangeAccess: user attributes follow the file's permission
 * (owner only on a sticky directory). */
static int xattr_change_check(struct fsns *ns, const char *user, enum xns x, struct fsns_err *err)
{
    if (x != XNS_USER)
        return 0;
    struct inode *n = iip_last(&ns->ia);
    if (n && n->type == FSNS_DIR && (n->perm & 01000)) {
        if (fsns_is_super(ns, user))
            return 0;
        return fsns_check_owner(ns, user, &ns->ia, err);
    }
    return fsns_check(ns, user, &ns->ia, false, 0, 0, A_W, 0, false, err);
}

static int xattr_find(const struct inode *n, const char *name)
{
    for (uint32_t i = 0; i < n->nxattrs; i++)
        if (strcmp(n->xattrs[i].name, name) == 0)
            return (int)i;
    return -1;
}

int fsns_setxattr(struct fsns *ns, const char *user, const char *path, const char *name, const uint8_t *value,
                  size_t len, uint32_t flags, struct fsns_err *err)
{
    char nm[FSNS_MAX_XATTR_SIZE + 64];
    enum xns x;
    size_t plen;
    if (xattr_name(name, nm, sizeof nm, &x, &plen, err) < 0)
        return -1;
    size_t size = strlen(name) - plen + (value ? len : 0);
    if (size > FSNS_MAX_XATTR_SIZE)
        return fsns_fail(err, FSNS_EARG,
                         "The XAttr is too big. The maximum combined size of the name and value is %d, but the total "
                         "size is %zu",
                         FSNS_MAX_XATTR_SIZE, size);
    if (xattr_api_check(ns, user, x, nm, value != NULL, err) < 0 || fsns_lookup(ns, user, path, NULL, err) < 0 ||
        xattr_change_check(ns, user, x, err) < 0)
        return -1;
    struct inode *n = iip_last(&ns->ia);
    if (!n)
        return fsns_fail(err, FSNS_ENOENT, "cannot find " PATHFMT, ns->pa.norm);
    if (!(flags & (FSNS_XATTR_CREATE | FSNS_XATTR_REPLACE)))
        return fsns_fail(err, FSNS_EARG, "A flag must be specified.");
    int at = xattr_find(n, nm);
    if (at >= 0 && !(flags & FSNS_XATTR_REPLACE))
        return fsns_fail(err, FSNS_EIO, "XAttr: %.300s already exists. The REPLACE flag must be specified.",
                         nm + plen);
    if (at < 0 && !(flags & FSNS_XATTR_CREATE))
        return fsns_fail(err, FSNS_EIO, "XAttr: %.300s does not exist. The CREATE flag must be specified.",
                         nm + plen);
    if (at < 0 && (x == XNS_USER || x == XNS_TRUSTED)) {
        uint32_t visible = 1;
        for (uint32_t i = 0; i < n->nxattrs; i++)
            if (strncmp(n->xattrs[i].name, "user.", 5) == 0 || strncmp(n->xattrs[i].name, "trusted.", 8) == 0)
                visible++;
        if (visible > 32)
            return fsns_fail(err, FSNS_EIO, "Cannot add additional XAttr to inode, would exceed limit of 32");
    }
    if (n->type != FSNS_FILE && strcmp(nm, UNREADABLE) == 0)
        return fsns_fail(err, FSNS_EIO, "Can only set '" UNREADABLE "' on a file.");
    struct xattr nx = { fsns_strdup(nm), NULL, 0 };
    if (!nx.name)
        return fsns_oom(err);
    if (value) {
        nx.val = malloc(len ? len : 1);
        if (!nx.val) {
            free(nx.name);
            return fsns_oom(err);
        }
        memcpy(nx.val, value, len);
        nx.len = len;
    }
    if (at >= 0) {
        free(n->xattrs[at].name);
        free(n->xattrs[at].val);
        memmove(n->xattrs + 1, n->xattrs, (size_t)at * sizeof *n->xattrs);
    } else {
        struct xattr *xs = realloc(n->xattrs, (n->nxattrs + 1) * sizeof *xs);
        if (!xs) {
            free(nx.name);
            free(nx.val);
            return fsns_oom(err);
        }
        n->xattrs = xs;
        memmove(n->xattrs + 1, n->xattrs, n->nxattrs * sizeof *n->xattrs);
        n->nxattrs++;
    }
    n->xattrs[0] = nx; /* the latest set comes first, as HDFS lists them */
    return 0;
}

int fsns_getxattrs(struct fsns *ns, const char *user, const char *path, const char *const *names, size_t n_names,
                   struct fsns_xattr *out, size_t *n, struct fsns_err *err)
{
    *n = 0;
    char nm[FSNS_MAX_XATTR_SIZE + 64];
    enum xns x;
    size_t plen;
    for (size_t i = 0; i < n_names; i++)
        if (xattr_name(names[i], nm, sizeof nm, &x, &plen, err) < 0 ||
            xattr_api_check(ns, user, x, nm, false, err) < 0)
            return -1;
    if (fsns_lookup(ns, user, path, NULL, err) < 0 ||
        fsns_check(ns, user, &ns->ia, false, 0, 0, A_R, 0, false, err) < 0)
        return -1;
    struct inode *in = iip_last(&ns->ia);
    if (!in)
        return fsns_fail(err, FSNS_ENOENT, "cannot find " PATHFMT, ns->pa.norm);
    if (n_names == 0) {
        for (uint32_t i = 0; i < in->nxattrs; i++) {
            const struct xattr *a = &in->xattrs[i];
            if (xattr_visible(ns, user, a->name))
                out[(*n)++] = (struct fsns_xattr){ a->name, a->val, a->len };
        }
        return 0;
    }
    for (size_t i = 0; i < n_names; i++) {
        (void)xattr_name(names[i], nm, sizeof nm, &x, &plen, err);
        int at = xattr_find(in, nm);
        if (at < 0 || !xattr_visible(ns, user, nm)) {
            *n = 0;
            return fsns_fail(err, FSNS_EIO, "At least one of the attributes provided was not found.");
        }
        const struct xattr *a = &in->xattrs[at];
        out[(*n)++] = (struct fsns_xattr){ a->name, a->val, a->len };
    }
    return 0;
}

int fsns_listxattrs(struct fsns *ns, const char *user, const char *path, struct fsns_xattr *out, size_t *n,
                    struct fsns_err *err)
{
    *n = 0;
    if (fsns_lookup(ns, user, path, NULL, err) < 0 ||
        fsns_check(ns, user, &ns->ia, false, 0, A_X, 0, 0, false, err) < 0)
        return -1;
    struct inode *in = iip_last(&ns->ia);
    if (!in)
        return fsns_fail(err, FSNS_ENOENT, "cannot find " PATHFMT, ns->pa.norm);
    for (uint32_t i = 0; i < in->nxattrs; i++)
        if (xattr_visible(ns, user, in->xattrs[i].name))
            out[(*n)++] = (struct fsns_xattr){ in->xattrs[i].name, NULL, 0 };
    return 0;
}

int fsns_removexattr(struct fsns *ns, const char *user, const char *path, const char *name, struct fsns_err *err)
{
    char nm[FSNS_MAX_XATTR_SIZE + 64];
    enum xns x;
    size_t plen;
    if (xattr_name(name, nm, sizeof nm, &x, &plen, err) < 0 || xattr_api_check(ns, user, x, nm, false, err) < 0 ||
        fsns_lookup(ns, user, path, NULL, err) < 0 || xattr_change_check(ns, user, x, err) < 0)
        return -1;
    struct inode *n = iip_last(&ns->ia);
    if (!n)
        return fsns_fail(err, FSNS_ENOENT, "cannot find " PATHFMT, ns->pa.norm);
    if (strcmp(nm, UNREADABLE) == 0)
        return fsns_fail(err, FSNS_EACCES, "The xattr '" UNREADABLE "' can not be deleted.");
    int at = xattr_find(n, nm);
    if (at < 0)
        return fsns_fail(err, FSNS_EIO, "No matching attributes found for remove operation");
    free(n->xattrs[at].name);
    free(n->xattrs[at].val);
    memmove(n->xattrs + at, n->xattrs + at + 1, (n->nxattrs - (uint32_t)at - 1) * sizeof *n->xattrs);
    n->nxattrs--;
    return 0;
}

/* ---- snapshots ------------------------------------------------------------ */

struct snapcheck {
    struct inode *bad;
};

static int snapcheck_cb(struct inode *n, void *arg)
{
    if (n->type == FSNS_DIR && n->snapshottable && n->nsnaps > 0) {
        ((struct snapcheck *)arg)->bad = n;
        return 1;
    }
    return 0;
}

/* A subtree holding a snapshottable directory with snapshots can neither be
 * deleted nor renamed. */
int fsns_check_snapshots(struct fsns *ns, struct inode *top, struct fsns_err *err)
{
    struct snapcheck c = { NULL };
    if (!fsns_walk(top, snapcheck_cb, &c))
        return 0;
    char buf[FSNS_MAX_PATH_LEN + 2];
    if (fsns_full_path(c.bad, buf, sizeof buf) < 0)
        snprintf(buf, sizeof buf, "%s", c.bad->name);
    return fsns_fail(err, FSNS_ESNAPSHOT,
                     "The directory %.200s cannot be deleted since %.200s is snapshottable and already has snapshots",
                     buf, buf);
}

void fsns_snapdir_del(struct fsns *ns, struct inode *dir)
{
    for (size_t i = 0; i < ns->nsnapdirs; i++) {
        if (ns->snapdirs[i] == dir) {
            memmove(ns->snapdirs + i, ns->snapdirs + i + 1, (ns->nsnapdirs - i - 1) * sizeof *ns->snapdirs);
            ns->nsnapdirs--;
            break;
        }
    }
    dir->snapshottable = false;
}

/* INodeDirectory.valueOf. */
static int want_dir(struct fsns *ns, struct fsns_err *err)
{
    struct inode *n = iip_last(&ns->ia);
    if (!n)
        return fsns_fail(err, FSNS_ENOENT, "Directory does not exist: " PATHFMT, ns->pa.norm);
    if (n->type != FSNS_DIR)
        return fsns_fail(err, FSNS_ENOTDIR, "`" PATHFMT "': Is not a directory", ns->pa.norm);
    return 0;
}

/* SnapshotManager.getSnapshottableRoot. */
static int want_snapshottable(struct fsns *ns, struct fsns_err *err)
{
    if (want_dir(ns, err) < 0)
        return -1;
    if (!iip_last(&ns->ia)->snapshottable)
        return fsns_fail(err, FSNS_ESNAPSHOT, "Directory is not a snapshottable directory: " PATHFMT, ns->pa.norm);
    return 0;
}

int fsns_allow_snapshot(struct fsns *ns, const char *user, const char *path, struct fsns_err *err)
{
    if (fsns_check_super(ns, user, err) < 0 || fsns_lookup(ns, user, path, NULL, err) < 0 || want_dir(ns, err) < 0)
        return -1;
    struct inode *d = iip_last(&ns->ia);
    if (d->snapshottable)
        return 0;
    char buf[FSNS_MAX_PATH_LEN + 2];
    for (size_t i = 0; i < ns->nsnapdirs; i++) {
        struct inode *s = ns->snapdirs[i];
        bool s_below = false, s_above = false;
        for (struct inode *p = s->parent; p; p = p->parent)
            if (p == d)
                s_below = true;
        for (struct inode *p = d->parent; p; p = p->parent)
            if (p == s)
                s_above = true;
        if (s_below || s_above) {
            if (fsns_full_path(s, buf, sizeof buf) < 0)
                buf[0] = 0;
            return fsns_fail(err, FSNS_ESNAPSHOT,
                             "Nested snapshottable directories not allowed: path=%.200s, the %s %.200s is already a "
                             "snapshottable directory.",
                             ns->pa.norm, s_below ? "subdirectory" : "ancestor", buf);
        }
    }
    if (ns->nsnapdirs == ns->capsnapdirs) {
        size_t cap = ns->capsnapdirs ? ns->capsnapdirs * 2 : 8;
        struct inode **a = realloc(ns->snapdirs, cap * sizeof *a);
        if (!a)
            return fsns_oom(err);
        ns->snapdirs = a;
        ns->capsnapdirs = cap;
    }
    ns->snapdirs[ns->nsnapdirs++] = d;
    d->snapshottable = true;
    return 0;
}

int fsns_disallow_snapshot(struct fsns *ns, const char *user, const char *path, struct fsns_err *err)
{
    if (fsns_check_super(ns, user, err) < 0 || fsns_lookup(ns, user, path, NULL, err) < 0 || want_dir(ns, err) < 0)
        return -1;
    struct inode *d = iip_last(&ns->ia);
    if (!d->snapshottable)
        return 0;
    if (d->nsnaps > 0)
        return fsns_fail(err, FSNS_ESNAPSHOT,
                         "The directory " PATHFMT
                         " has snapshot(s). Please redo the operation after removing all the snapshots.",
                         ns->pa.norm);
    fsns_snapdir_del(ns, d);
    return 0;
}

static int snap_find(const struct inode *d, const char *name)
{
    for (uint32_t i = 0; i < d->nsnaps; i++)
        if (strcmp(d->snaps[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* FSDirSnapshotOp.verifySnapshotName. */
static int check_snapshot_name(struct fsns *ns, const char *name, struct fsns_err *err)
{
    if (strchr(name, '/'))
        return fsns_fail(err, FSNS_EARG, "Snapshot name cannot contain \"/\"");
    return fsns_check_new_child(ns, NULL, ns->pa.norm, name, strlen(name), err);
}

int fsns_create_snapshot(struct fsns *ns, const char *user, const char *path, const char *name, char *out, size_t cap,
                         struct fsns_err *err)
{
    if (fsns_lookup(ns, user, path, NULL, err) < 0 || fsns_check_owner(ns, user, &ns->ia, err) < 0)
        return -1;
    int64_t now = fsns_now(ns);
    char gen[64];
    if (!name || !*name) {
        time_t secs = (time_t)(now / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        snprintf(gen, sizeof gen, "s%04d%02d%02d-%02d%02d%02d.%03d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(now % 1000));
        name = gen;
    } else if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strchr(name, ':') || strchr(name, '/')) {
        return fsns_fail(err, FSNS_EINVALPATH, "Invalid path name Invalid snapshot name: %.300s", name);
    }
    if (check_snapshot_name(ns, name, err) < 0 || want_snapshottable(ns, err) < 0)
        return -1;
    struct inode *d = iip_last(&ns->ia);
    if (d->nsnaps + 1 > FSNS_SNAPSHOT_QUOTA)
        return fsns_fail(err, FSNS_ESNAPSHOT,
                         "Failed to add snapshot: there are already %u snapshot(s) and the snapshot quota is %d",
                         d->nsnaps, FSNS_SNAPSHOT_QUOTA);
    if (snap_find(d, name) >= 0)
        return fsns_fail(err, FSNS_ESNAPSHOT,
                         "Failed to add snapshot: there is already a snapshot with the same name \"%.300s\".", name);
    struct fsns_snapshot *s = realloc(d->snaps, (d->nsnaps + 1) * sizeof *s);
    if (!s)
        return fsns_oom(err);
    d->snaps = s;
    char *copy = fsns_strdup(name);
    if (!copy)
        return fsns_oom(err);
    d->snaps[d->nsnaps++] = (struct fsns_snapshot){ copy, now, ns->next_snap_id++ };
    d->mtime = now;
    if (out && cap)
        snprintf(out, cap, "%s%s.snapshot/%s", ns->pa.norm, ns->pa.normlen > 1 ? "/" : "", name);
    return 0;
}

int fsns_delete_snapshot(struct fsns *ns, const char *user, const char *path, const char *name,
                         struct fsns_err *err)
{
    if (fsns_lookup(ns, user, path, NULL, err) < 0 || fsns_check_owner(ns, user, &ns->ia, err) < 0 ||
        want_snapshottable(ns, err) < 0)
        return -1;
    struct inode *d = iip_last(&ns->ia);
    int at = name ? snap_find(d, name) : -1;
    if (at < 0)
        return fsns_fail(err, FSNS_ESNAPSHOT, "Cannot delete snapshot %.300s from path " PATHFMT
                         ": the snapshot does not exist.", name ? name : "null", ns->pa.norm);
    free((char *)d->snaps[at].name);
    memmove(d->snaps + at, d->snaps + at + 1, (d->nsnaps - (uint32_t)at - 1) * sizeof *d->snaps);
    d->nsnaps--;
    d->mtime = fsns_now(ns);
    return 0;
}

int fsns_rename_snapshot(struct fsns *ns, const char *user, const char *path, const char *oldname,
                         const char *newname, struct fsns_err *err)
{
    if (!oldname)
        oldname = "";
    if (!newname)
        newname = "";
    if (fsns_lookup(ns, user, path, NULL, err) < 0 || fsns_check_owner(ns, user, &ns->ia, err) < 0 ||
        check_snapshot_name(ns, newname, err) < 0 || want_snapshottable(ns, err) < 0)
        return -1;
    struct inode *d = iip_last(&ns->ia);
    int at = snap_find(d, oldname);
    if (at < 0)
        return fsns_fail(err, FSNS_ESNAPSHOT, "The snapshot %.300s does not exist for directory " PATHFMT, oldname,
                         ns->pa.norm);
    if (strcmp(oldname, newname) == 0)
        return 0;
    if (snap_find(d, newname) >= 0)
        return fsns_fail(err, FSNS_ESNAPSHOT, "The snapshot %.300s already exists for directory " PATHFMT, newname,
                         ns->pa.norm);
    char *copy = fsns_strdup(newname);
    if (!copy)
        return fsns_oom(err);
    free((char *)d->snaps[at].name);
    d->snaps[at].name = copy;
    d->mtime = fsns_now(ns);
    return 0;
}

static int cmp_id(const void *a, const void *b)
{
    uint64_t x = (*(struct inode *const *)a)->id, y = (*(struct inode *const *)b)->id;
    return x < y ? -1 : x > y;
}

int fsns_snapshottable_dirs(struct fsns *ns, const char *user, struct fsns_snapdir **out, size_t *n,
                            struct fsns_err *err)
{
    *out = NULL;
    *n = 0;
    if (ns->nsnapdirs == 0)
        return 0;
    qsort(ns->snapdirs, ns->nsnapdirs, sizeof *ns->snapdirs, cmp_id);
    struct fsns_snapdir *d = calloc(ns->nsnapdirs, sizeof *d);
    if (!d)
        return fsns_oom(err);
    bool super = fsns_is_super(ns, user);
    size_t k = 0;
    char buf[FSNS_MAX_PATH_LEN + 2];
    for (size_t i = 0; i < ns->nsnapdirs; i++) {
        struct inode *s = ns->snapdirs[i];
        if (!super && strcmp(s->owner, user ? user : "") != 0)
            continue;
        if (s->parent) {
            if (fsns_full_path(s->parent, buf, sizeof buf) < 0)
                buf[0] = 0;
        } else {
            buf[0] = 0;
        }
        d[k].parent = fsns_strdup(buf);
        if (!d[k].parent) {
            fsns_snapdirs_free(d, k);
            return fsns_oom(err);
        }
        fsns_fill_stat(ns, s, true, &d[k].st);
        d[k].snapshot_count = s->nsnaps;
        d[k].snapshot_quota = FSNS_SNAPSHOT_QUOTA;
        k++;
    }
    if (k == 0) {
        free(d);
        return 0;
    }
    *out = d;
    *n = k;
    return 0;
}

void fsns_snapdirs_free(struct fsns_snapdir *d, size_t n)
{
    if (!d)
        return;
    for (size_t i = 0; i < n; i++)
        free(d[i].parent);
    free(d);
}

int fsns_list_snapshots(struct fsns *ns, const char *user, const char *path, const struct fsns_snapshot **out,
                        size_t *n, struct fsns_err *err)
{
    *out = NULL;
    *n = 0;
    if (fsns_lookup(ns, user, path, NULL, err) < 0 || want_snapshottable(ns, err) < 0)
        return -1;
    struct inode *d = iip_last(&ns->ia);
    *out = d->nsnaps ? d->snaps : NULL;
    *n = d->nsnaps;
    return 0;
}
