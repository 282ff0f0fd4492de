/*
 * fsns_ops.c: namespace reads (getFileInfo, getListing, getBlockLocations,
 * getContentSummary, ...) and changes that are not about writing file data
 * (mkdirs, createSymlink, delete, rename, rename2, setPermission, setOwner,
 * setTimes, setReplication, setStoragePolicy), with the NameNode's checks and
 * messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsns_internal.h"

#define PATHFMT "%.400s"

/* ---- reads ------------------------------------------------------------- */

int fsns_getfileinfo(struct fsns *ns, const char *user, const char *path, struct fsns_stat *st,
                     struct fsns_err *err)
{
    if (fsns_parse(ns, &ns->pa, path, NULL, err) < 0)
        return -1;
    if (fsns_resolve(ns, user, &ns->pa, &ns->ia, false, err) < 0) {
        /* the superuser only fails traverse on a file in the way: HDFS
         * answers "no such file" to it */
        if (err->code == FSNS_EACCES && fsns_is_super(ns, user))
            return fsns_fail(err, FSNS_ENOENT, "File does not exist: " PATHFMT, ns->pa.norm);
        return -1;
    }
    struct inode *last = iip_last(&ns->ia);
    if (!last)
        return fsns_fail(err, FSNS_ENOENT, "File does not exist: " PATHFMT, ns->pa.norm);
    fsns_fill_stat(ns, last, false, st);
    return 0;
}

int fsns_getlisting(struct fsns *ns, const char *user, const char *path, const char *start_after,
                    size_t start_after_len, uint32_t limit, struct fsns_stat *out, uint32_t *n,
                    uint32_t *remaining, struct fsns_err *err)
{
    *n = 0;
    *remaining = 0;
    if (fsns_lookup(ns, user, path, NULL, err) < 0)
        return -1;
    struct inode *last = iip_last(&ns->ia);
    if (last && last->type == FSNS_DIR &&
        fsns_check(ns, user, &ns->ia, false, 0, 0, A_R | A_X, 0, false, err) < 0)
        return -1;
    if (!last)
        return fsns_fail(err, FSNS_ENOENT, "File does not exist: " PATHFMT, ns->pa.norm);
    if (last->type != FSNS_DIR) {
        if (limit > 0) {
            fsns_fill_stat(ns, last, false, &out[0]);
            *n = 1;
        }
        return 0;
    }
    uint32_t pos = 0;
    if (start_after && start_after_len > 0 && fsns_child(last, start_after, start_after_len, &pos))
        pos++;
    uint32_t avail = last->nkids - pos;
    uint32_t cnt = avail < limit ? avail : limit;
    for (uint32_t i = 0; i < cnt; i++)
        fsns_fill_stat(ns, last->kids[pos + i], true, &out[i]);
    *n = cnt;
    *remaining = avail - cnt;
    return 0;
}

/* INodeFile.valueOf: the path must name a file. */
static int want_file(const struct iip *r, struct fsns_err *err)
{
    struct inode *last = iip_last(r);
    if (!last)
        return fsns_fail(err, FSNS_ENOENT, "File does not exist: " PATHFMT, r->p->norm);
    if (last->type != FSNS_FILE)
        return fsns_fail(err, FSNS_ENOENT, "Path is not a file: " PATHFMT, r->p->norm);
    return 0;
}

int fsns_getblocks(struct fsns *ns, const char *user, const char *path, struct fsns_stat *st, struct fsns_err *err)
{
    if (fsns_lookup(ns, user, path, NULL, err) < 0 || want_file(&ns->ia, err) < 0 ||
        fsns_check(ns, user, &ns->ia, false, 0, 0, A_R, 0, false, err) < 0)
        return -1;
    struct inode *f = iip_last(&ns->ia);
    int64_t now = fsns_now(ns);
    if (now > f->atime + FSNS_ATIME_PRECISION)
        f->atime = now;
    fsns_fill_stat(ns, f, false, st);
    return 0;
}

static int sum_cb(struct inode *n, void *arg)
{
    struct fsns_summary *s = arg;
    if (n->type == FSNS_DIR) {
        s->directory_count++;
        s->snapshot_count += n->nsnaps;
    } else {
        uint64_t len = 0;
        for (size_t i = 0; i < n->nblocks; i++)
            len += n->blocks[i].len;
        s->file_count++;
        s->length += len;
        s->space_consumed += len * n->repl;
    }
    return 0;
}

int fsns_content_summary(struct fsns *ns, const char *user, const char *path, struct fsns_summary *s,
                         struct fsns_err *err)
{
    memset(s, 0, sizeof *s);
    s->quota = s->space_quota = -1;
    if (fsns_lookup(ns, user, path, NULL, err) < 0 ||
        fsns_check(ns, user, &ns->ia, false, 0, 0, 0, A_R | A_X, false, err) < 0)
        return -1;
    struct inode *last = iip_last(&ns->ia);
    if (!last)
        return fsns_fail(err, FSNS_ENOENT, "File does not exist: " PATHFMT, ns->pa.norm);
    fsns_walk(last, sum_cb, s);
    return 0;
}

int fsns_preferred_block_size(struct fsns *ns, const char *user, const char *path, uint64_t *bs,
                              struct fsns_err *err)
{
    if (fsns_lookup(ns, user, path, NULL, err) < 0 || want_file(&ns->ia, err) < 0)
        return -1;
    *bs = iip_last(&ns->ia)->bsize;
    return 0;
}

int fsns_is_file_closed(struct fsns *ns, const char *user, const char *path, bool *closed, struct fsns_err *err)
{
    if (fsns_lookup(ns, user, path, NULL, err) < 0 || want_file(&ns->ia, err) < 0)
        return -1;
    *closed = iip_last(&ns->ia)->client == NULL;
    return 0;
}

/* ---- mkdirs ------------------------------------------------------------ */

/* Creates the missing directories of r from the nearest existing ancestor
 * down to component `upto` (inclusive). Created ancestors get u+wx added to
 * `masked` (mkdirs) or to the nearest existing ancestor's permission
 * (inherit: create); r's last component, when created (last_perm), gets
 * masked as is. */
int fsns_make_dirs(struct fsns *ns, const char *user, struct iip *r, int upto, uint16_t masked, bool last_perm,
                   bool inherit, int64_t now, struct fsns_err *err)
{
    const struct ppath *p = r->p;
    int a = upto;
    while (a > 0 && !r->nodes[a])
        a--;
    uint16_t anc = (uint16_t)(((inherit ? r->nodes[a]->perm : masked) | 0300) & 0777);
    char dirpath[FSNS_MAX_PATH_LEN + 2];
    for (int i = a + 1; i <= upto; i++) {
        if (fsns_check_new_child(ns, i == a + 1 ? r->nodes[a] : NULL, fsns_prefix(p, i - 1, dirpath, sizeof dirpath),
                                 p->norm + p->off[i - 1], p->len[i - 1], err) < 0)
            return -1;
    }
    for (int i = a + 1; i <= upto; i++) {
        struct inode *parent = r->nodes[i - 1];
        uint16_t perm = (last_perm && i == r->len - 1) ? masked : anc;
        struct inode *d = fsns_inode_new(ns, FSNS_DIR, p->norm + p->off[i - 1], p->len[i - 1], user ? user : "",
                                         parent->group, perm, now);
        if (!d)
            return fsns_oom(err);
        if (fsns_link(ns, parent, d, err) < 0) {
            fsns_inode_free(d);
            return -1;
        }
        fsns_touch(parent, now);
        r->nodes[i] = d;
    }
    return 0;
}

int fsns_parent_exists(struct fsns *ns, const struct iip *r, struct fsns_err *err)
{
    if (r->len <= 2)
        return 0; /* the root is there */
    const struct inode *parent = iip_parent(r);
    char buf[FSNS_MAX_PATH_LEN + 2];
    if (!parent)
        return fsns_fail(err, FSNS_ENOENT, "Parent directory doesn't exist: " PATHFMT,
                         fsns_prefix(&ns->pa, r->len - 2, buf, sizeof buf));
    if (parent->type != FSNS_DIR)
        return fsns_fail(err, FSNS_EPARENTNOTDIR, "Parent path is not a directory: " PATHFMT,
                         fsns_prefix(&ns->pa, r->len - 2, buf, sizeof buf));
    return 0;
}

int fsns_place(struct fsns *ns, const char *user, struct iip *r, struct inode *n, uint16_t masked, bool inherit,
               int64_t now, struct fsns_err *err)
{
    if (!iip_parent(r) && fsns_make_dirs(ns, user, r, r->len - 2, masked, false, inherit, now, err) < 0) {
        fsns_inode_free(n);
        return -1;
    }
    struct inode *parent = iip_parent(r);
    char *g = fsns_strdup(parent->group);
    if (!g) {
        fsns_inode_free(n);
        return fsns_oom(err);
    }
    free(n->group);
    n->group = g;
    if (fsns_link(ns, parent, n, err) < 0) {
        fsns_inode_free(n);
        return -1;
    }
    fsns_touch(parent, now);
    r->nodes[r->len - 1] = n;
    return 0;
}

int fsns_mkdirs(struct fsns *ns, const char *user, const char *path, uint16_t masked, struct fsns_err *err)
{
    if (fsns_lookup(ns, user, path, "mkdirs", err) < 0)
        return -1;
    struct iip *r = &ns->ia;
    struct inode *last = iip_last(r);
    if (last && last->type != FSNS_DIR)
        return fsns_fail(err, FSNS_EEXIST, "Path is not a directory: " PATHFMT, ns->pa.norm);
    if (last)
        return 0;
    if (fsns_check(ns, user, r, false, A_W, 0, 0, 0, false, err) < 0)
        return -1;
    return fsns_make_dirs(ns, user, r, r->len - 1, masked & 01777, true, false, fsns_now(ns), err);
}

/* ---- createSymlink ----------------------------------------------------- */

int fsns_symlink(struct fsns *ns, const char *user, const char *target, const char *link, uint16_t dir_perm,
                 bool create_parent, struct fsns_err *err)
{
    if (fsns_parse(ns, &ns->pa, link, "createSymlink", err) < 0) {
        if (err->code == FSNS_EINVALPATH)
            return fsns_fail(err, FSNS_EINVALPATH, "Invalid link name: " PATHFMT, link ? link : "(null)");
        return -1;
    }
    /* the target is kept as text: only an empty one is refused */
    if (!target || !*target)
        return fsns_fail(err, FSNS_EINVALPATH, "Invalid target name: ");
    struct iip *r = &ns->ia;
    if (fsns_resolve(ns, user, &ns->pa, r, true, err) < 0)
        return -1;
    const char *src = ns->pa.norm;
    char buf[FSNS_MAX_PATH_LEN + 2];
    struct inode *parent = iip_parent(r);
    if (!create_parent && fsns_parent_exists(ns, r, err) < 0)
        return -1;
    /* the text is the NameNode's; it sends it as a plain IOException, minidfs
     * as FileAlreadyExistsException so that callers can tell the case apart */
    if (r->len == 1 || iip_last(r))
        return fsns_fail(err, FSNS_EEXIST,
                         "failed to create link " PATHFMT " either because the filename is invalid or the file exists",
                         src);
    if (fsns_check(ns, user, r, false, A_W, 0, 0, 0, false, err) < 0)
        return -1;
    const char *nm = ns->pa.norm + ns->pa.off[ns->pa.n - 1];
    size_t nlen = ns->pa.len[ns->pa.n - 1];
    if (fsns_check_new_child(ns, parent, fsns_prefix(&ns->pa, r->len - 2, buf, sizeof buf), nm, nlen, err) < 0)
        return -1;
    int64_t now = fsns_now(ns);
    /* a link's own bits are 0777 (FsPermission.getDefault()); its group is
     * the parent's */
    struct inode *l = fsns_inode_new(ns, FSNS_SYMLINK, nm, nlen, user ? user : "", "", 0777, now);
    if (!l)
        return fsns_oom(err);
    l->atime = now;
    l->target = fsns_strdup(target);
    if (!l->target) {
        fsns_inode_free(l);
        return fsns_oom(err);
    }
    return fsns_place(ns, user, r, l, dir_perm & 01777, false, now, err);
}

/* ---- delete ------------------------------------------------------------ */

int fsns_delete(struct fsns *ns, const char *user, const char *path, bool recursive, bool *deleted,
                struct fsns_blocklist *removed, struct fsns_err *err)
{
    *deleted = false;
    if (fsns_lookup(ns, user, path, NULL, err) < 0 ||
        fsns_check(ns, user, &ns->ia, false, 0, A_W, 0, A_R | A_W | A_X, true, err) < 0)
        return -1;
    struct inode *last = iip_last(&ns->ia);
    if (last && last->type == FSNS_DIR && last->nkids > 0 && !recursive)
        return fsns_fail(err, FSNS_ENOTEMPTY, PATHFMT " is non empty", ns->pa.norm);
    if (!last || last == ns->root)
        return 0;
    if (fsns_check_snapshots(ns, last, err) < 0)
        return -1;
    struct inode *parent = last->parent;
    fsns_unlink(ns, last);
    fsns_touch(parent, fsns_now(ns));
    fsns_destroy(ns, last, removed);
    *deleted = true;
    return 0;
}

/* ---- rename ------------------------------------------------------------- */

/* Resolves the destination of a rename (into ns->pb/ns->ib) and the source
 * (ns->pa/ns->ia), with rename's permission checks. old = the old API. */
static int rename_prepare(struct fsns *ns, const char *user, const char *src, const char *dst, bool old,
                          struct fsns_err *err)
{
    if (fsns_parse(ns, &ns->pb, dst, "rename", err) < 0) {
        if (err->code == FSNS_EINVALPATH) {
            if (old)
                return fsns_fail(err, FSNS_EIO, "Invalid name: " PATHFMT, dst ? dst : "(null)");
            return fsns_fail(err, FSNS_EINVALPATH, "Invalid path name Invalid name: " PATHFMT, dst ? dst : "(null)");
        }
        return -1;
    }
    if (fsns_lookup(ns, user, src, NULL, err) < 0 || fsns_resolve(ns, user, &ns->pb, &ns->ib, true, err) < 0)
        return -1;
    struct inode *s = iip_last(&ns->ia), *d = iip_last(&ns->ib);
    if (old && d && d->type == FSNS_DIR && s && s != ns->root) {
        /* the old rename moves into an existing directory */
        struct ppath *p = &ns->pb;
        size_t start = p->normlen == 1 ? 1 : p->normlen + 1;
        if (p->n >= FSNS_MAX_PATH_DEPTH || start + s->namelen > FSNS_MAX_PATH_LEN)
            return fsns_fail(err, FSNS_EIO, "rename: Pathname too long.  Limit %d characters, %d levels.",
                             FSNS_MAX_PATH_LEN, FSNS_MAX_PATH_DEPTH);
        if (p->normlen > 1)
            p->norm[p->normlen] = '/';
        memcpy(p->norm + start, s->name, s->namelen);
        p->normlen = start + s->namelen;
        p->norm[p->normlen] = 0;
        p->off[p->n] = (uint16_t)start;
        p->len[p->n] = (uint16_t)s->namelen;
        p->n++;
        ns->ib.nodes[ns->ib.len++] = fsns_child(d, s->name, s->namelen, NULL);
        if (fsns_traverse(ns, user, &ns->ib, true, err) < 0)
            return -1;
    }
    if (fsns_check(ns, user, &ns->ia, false, 0, A_W, 0, 0, false, err) < 0 ||
        fsns_check(ns, user, &ns->ib, false, A_W, 0, 0, 0, false, err) < 0)
        return -1;
    return 0;
}

static bool is_under(const struct ppath *dst, const struct ppath *src)
{
    return dst->normlen > src->normlen && memcmp(dst->norm, src->norm, src->normlen) == 0 &&
           dst->norm[src->normlen] == '/';
}

/* Moves s to the place named by ns->ib (its parent exists). */
static int rename_move(struct fsns *ns, struct inode *s, struct fsns_err *err)
{
    struct iip *d = &ns->ib;
    struct inode *dparent = iip_parent(d);
    const struct ppath *p = &ns->pb;
    const char *nm = p->norm + p->off[p->n - 1];
    size_t nlen = p->len[p->n - 1];
    char dirpath[FSNS_MAX_PATH_LEN + 2];
    fsns_prefix(p, p->n - 1, dirpath, sizeof dirpath);
    if (fsns_check_new_child(ns, dparent == s->parent ? NULL : dparent, dirpath, nm, nlen, err) < 0)
        return -1;
    char *name = malloc(nlen + 1);
    if (!name)
        return fsns_oom(err);
    if (dparent != s->parent && dparent->nkids == dparent->capkids) {
        /* make room first so that linking cannot fail after unlinking */
        uint32_t cap = dparent->capkids ? dparent->capkids * 2 : 4;
        struct inode **k = realloc(dparent->kids, cap * sizeof *k);
        if (!k) {
            free(name);
            return fsns_oom(err);
        }
        dparent->kids = k;
        dparent->capkids = cap;
    }
    memcpy(name, nm, nlen);
    name[nlen] = 0;
    struct inode *sparent = s->parent;
    fsns_unlink(ns, s);
    free(s->name);
    s->name = name;
    s->namelen = nlen;
    if (fsns_link(ns, dparent, s, err) < 0)
        return -1; /* cannot happen: room was made */
    int64_t now = fsns_now(ns);
    fsns_touch(sparent, now);
    fsns_touch(dparent, now);
    return 0;
}

int fsns_rename(struct fsns *ns, const char *user, const char *src, const char *dst, bool *ok, struct fsns_err *err)
{
    *ok = false;
    if (rename_prepare(ns, user, src, dst, true, err) < 0)
        return -1;
    struct inode *s = iip_last(&ns->ia);
    if (!s || s == ns->root)
        return 0;
    if (fsns_check_snapshots(ns, s, err) < 0)
        return -1;
    if (strcmp(ns->pa.norm, ns->pb.norm) == 0) {
        *ok = true;
        return 0;
    }
    if (is_under(&ns->pb, &ns->pa) || iip_last(&ns->ib) || !iip_parent(&ns->ib) ||
        iip_parent(&ns->ib)->type != FSNS_DIR)
        return 0;
    if (rename_move(ns, s, err) < 0)
        return -1;
    *ok = true;
    return 0;
}

int fsns_rename2(struct fsns *ns, const char *user, const char *src, const char *dst, bool overwrite,
                 struct fsns_blocklist *removed, struct fsns_err *err)
{
    if (rename_prepare(ns, user, src, dst, false, err) < 0)
        return -1;
    const char *sp = ns->pa.norm, *dp = ns->pb.norm;
    struct inode *s = iip_last(&ns->ia);
    if (!s)
        return fsns_fail(err, FSNS_ENOENT, "rename source " PATHFMT " is not found.", sp);
    if (s == ns->root)
        return fsns_fail(err, FSNS_EIO, "rename source cannot be the root");
    if (fsns_check_snapshots(ns, s, err) < 0)
        return -1;
    if (strcmp(sp, dp) == 0)
        return fsns_fail(err, FSNS_EEXIST, "The source %.200s and destination %.200s are the same", sp, dp);
    if (is_under(&ns->pb, &ns->pa))
        return fsns_fail(err, FSNS_EIO, "Rename destination %.200s is a directory or file under source %.200s", dp,
                         sp);
    if (ns->ib.len == 1)
        return fsns_fail(err, FSNS_EIO, "rename destination cannot be the root");
    struct inode *d = iip_last(&ns->ib);
    if (d) {
        if ((d->type == FSNS_DIR) != (s->type == FSNS_DIR))
            return fsns_fail(err, FSNS_EIO, "Source %.200s and destination %.200s must both be directories", sp, dp);
        if (!overwrite)
            return fsns_fail(err, FSNS_EEXIST, "rename destination " PATHFMT " already exists", dp);
        if (d->type == FSNS_DIR && d->nkids > 0)
            return fsns_fail(err, FSNS_EIO, "rename destination directory is not empty: " PATHFMT, dp);
        if (fsns_check_snapshots(ns, d, err) < 0)
            return -1;
    }
    struct inode *dparent = iip_parent(&ns->ib);
    if (!dparent)
        return fsns_fail(err, FSNS_ENOENT, "rename destination parent " PATHFMT " not found.", dp);
    if (dparent->type != FSNS_DIR)
        return fsns_fail(err, FSNS_EPARENTNOTDIR, "rename destination parent " PATHFMT " is a file.", dp);
    if (d) {
        /* check the new name's limits before destroying anything */
        char dirpath[FSNS_MAX_PATH_LEN + 2];
        const struct ppath *p = &ns->pb;
        if (fsns_check_new_child(ns, NULL, fsns_prefix(p, p->n - 1, dirpath, sizeof dirpath),
                                 p->norm + p->off[p->n - 1], p->len[p->n - 1], err) < 0)
            return -1;
        fsns_unlink(ns, d);
        fsns_destroy(ns, d, removed);
        ns->ib.nodes[ns->ib.len - 1] = NULL;
    }
    return rename_move(ns, s, err);
}

/* ---- attributes --------------------------------------------------------- */

int fsns_setpermission(struct fsns *ns, const char *user, const char *path, uint16_t perm, struct fsns_err *err)
{
    if (fsns_lookup(ns, user, path, NULL, err) < 0 || fsns_check_owner(ns, user, &ns->ia, err) < 0)
        return -1;
    iip_last(&ns->ia)->perm = perm & 01777;
    return 0;
}

int fsns_setowner(struct fsns *ns, const char *user, const char *path, const char *owner, const char *group,
                  struct fsns_err *err)
{
    if (!user)
        user = "";
    if (owner && !*owner)
        owner = NULL;
    if (group && !*group)
        group = NULL;
    if (fsns_lookup(ns, user, path, NULL, err) < 0 || fsns_check_owner(ns, user, &ns->ia, err) < 0)
        return -1;
    if (!fsns_is_super(ns, user)) {
        if (owner && strcmp(owner, user) != 0)
            return fsns_fail(err, FSNS_EACCES, "User %s is not a super user (non-super user cannot change owner).",
                             user);
        if (group && !fsns_in_group(ns, user, group))
            return fsns_fail(err, FSNS_EACCES, "User %s does not belong to %.300s", user, group);
    }
    struct inode *n = iip_last(&ns->ia);
    char *o = owner ? fsns_strdup(owner) : NULL, *g = group ? fsns_strdup(group) : NULL;
    if ((owner && !o) || (group && !g)) {
        free(o);
        free(g);
        return fsns_oom(err);
    }
    if (o) {
        free(n->owner);
        n->owner = o;
    }
    if (g) {
        free(n->group);
        n->group = g;
    }
    return 0;
}

int fsns_settimes(struct fsns *ns, const char *user, const char *path, int64_t mtime, int64_t atime,
                  struct fsns_err *err)
{
    if (fsns_lookup(ns, user, path, NULL, err) < 0 ||
        fsns_check(ns, user, &ns->ia, false, 0, 0, A_W, 0, false, err) < 0)
        return -1;
    struct inode *n = iip_last(&ns->ia);
    if (!n)
        return fsns_fail(err, FSNS_ENOENT, "File/Directory " PATHFMT " does not exist.", ns->pa.norm);
    if (mtime != -1)
        n->mtime = mtime;
    if (atime != -1)
        n->atime = atime;
    return 0;
}

int fsns_verify_replication(const char *path, uint32_t replication, struct fsns_err *err)
{
    if (replication > 512)
        return fsns_fail(err, FSNS_EIO, "Requested replication factor of %u exceeds maximum of 512 for " PATHFMT,
                         replication, path);
    if (replication < 1)
        return fsns_fail(err, FSNS_EIO,
                         "Requested replication factor of %u is less than the required minimum of 1 for " PATHFMT,
                         replication, path);
    return 0;
}

int fsns_setreplication(struct fsns *ns, const char *user, const char *path, uint32_t replication, bool *ok,
                        struct fsns_err *err)
{
    *ok = false;
    if (fsns_verify_replication(path ? path : "", replication, err) < 0 ||
        fsns_lookup(ns, user, path, NULL, err) < 0 ||
        fsns_check(ns, user, &ns->ia, false, 0, 0, A_W, 0, false, err) < 0)
        return -1;
    struct inode *n = iip_last(&ns->ia);
    if (n && n->type == FSNS_FILE) {
        n->repl = replication;
        *ok = true;
    }
    return 0;
}

int fsns_setstoragepolicy(struct fsns *ns, const char *user, const char *path, uint8_t policy,
                          struct fsns_err *err)
{
    if (fsns_lookup(ns, user, path, NULL, err) < 0 ||
        fsns_check(ns, user, &ns->ia, false, 0, 0, A_W, 0, false, err) < 0)
        return -1;
    struct inode *n = iip_last(&ns->ia);
    if (!n)
        return fsns_fail(err, FSNS_ENOENT, "File/Directory does not exist: " PATHFMT, ns->pa.norm);
    n->policy = policy;
    return 0;
}
