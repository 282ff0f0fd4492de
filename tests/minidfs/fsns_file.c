/*
 * fsns_file.c: writing files: create, append, addBlock, abandonBlock,
 * complete, fsync, truncate, recoverLease, updateBlockForPipeline,
 * updatePipeline; leases (soft limit only, checked lazily) and the
 * DataNode's block sync.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsns_internal.h"

#define PATHFMT "%.400s"

/* Closes an open file: no lease, every block complete, mtime = now. */
static void close_file(struct fsns *ns, struct inode *f)
{
    fsns_lease_release(ns, f);
    for (size_t i = 0; i < f->nblocks; i++)
        f->blocks[i].uc = false;
    f->mtime = fsns_now(ns);
}

/* The NameNode's recoverLeaseInternal: an open file blocks another writer
 * unless its holder let the soft limit pass (then it is closed here) or
 * force (recoverLease). op names the operation in the message. */
static int recover_internal(struct fsns *ns, const char *op, struct inode *f, const char *src, const char *holder,
                            const char *machine, bool force, struct fsns_err *err)
{
    if (!f->client)
        return 0;
    if (!machine)
        machine = "";
    if (!holder)
        holder = "";
    if (!force && strcmp(f->client, holder) == 0)
        return fsns_fail(err, FSNS_EBEINGCREATED,
                         "Failed to %s " PATHFMT " for %s on %s because %s is already the current lease holder.", op,
                         src, holder, machine, holder);
    struct lease *l = fsns_lease_get(ns, f->client);
    if (force || !l || fsns_now(ns) - l->renewed > FSNS_LEASE_SOFT_LIMIT) {
        close_file(ns, f);
        return 0;
    }
    return fsns_fail(err, FSNS_EBEINGCREATED,
                     "Failed to %s " PATHFMT " for %s on %s because this file lease is currently owned by %s on %s",
                     op, src, holder, machine, f->client, f->client_machine);
}

static uint64_t file_size(const struct inode *f)
{
    uint64_t n = 0;
    for (size_t i = 0; i < f->nblocks; i++)
        n += f->blocks[i].len;
    return n;
}

/* ---- create / append --------------------------------------------------- */

int fsns_create(struct fsns *ns, const char *user, const char *path, const struct fsns_create_args *a,
                struct fsns_stat *st, struct fsns_blocklist *removed, struct fsns_err *err)
{
    if (fsns_parse(ns, &ns->pa, path, "create", err) < 0) {
        if (err->code == FSNS_EINVALPATH)
            return fsns_fail(err, FSNS_EINVALPATH, "Invalid path name " PATHFMT, path ? path : "(null)");
        return -1;
    }
    const char *src = ns->pa.norm;
    const char *machine = a->client_machine ? a->client_machine : "";
    if (fsns_verify_replication(src, a->replication, err) < 0)
        return -1;
    if (a->block_size < ns->min_block_size)
        return fsns_fail(err, FSNS_EIO,
                         "Specified block size is less than configured minimum value "
                         "(dfs.namenode.fs-limits.min-block-size): %llu < %llu",
                         (unsigned long long)a->block_size, (unsigned long long)ns->min_block_size);
    struct iip *r = &ns->ia;
    if (fsns_resolve(ns, user, &ns->pa, r, true, err) < 0 ||
        fsns_check(ns, user, r, false, A_W, 0, 0, 0, false, err) < 0)
        return -1;
    if (r->len == 1)
        return fsns_fail(err, FSNS_EEXIST, "/ already exists as a directory");
    struct inode *last = iip_last(r);
    char buf[FSNS_MAX_PATH_LEN + 2];
    if (last) {
        if (last->type == FSNS_DIR)
            return fsns_fail(err, FSNS_EEXIST, PATHFMT " already exists as a directory", src);
        if (last->type != FSNS_FILE)
            return fsns_fail(err, FSNS_ENOENT, "Path is not a file: " PATHFMT, src);
        if ((a->flags & FSNS_OVERWRITE) && fsns_check(ns, user, r, false, 0, 0, A_W, 0, false, err) < 0)
            return -1;
    } else {
        if (!a->create_parent && fsns_parent_exists(ns, r, err) < 0)
            return -1;
        if (!(a->flags & FSNS_CREATE))
            return fsns_fail(err, FSNS_ENOENT, "Can't overwrite non-existent " PATHFMT, src);
    }
    if (last) {
        if (!(a->flags & FSNS_OVERWRITE)) {
            if (recover_internal(ns, "CREATE_FILE", last, src, a->client, machine, false, err) < 0)
                return -1;
            return fsns_fail(err, FSNS_EEXIST, PATHFMT " for client %s already exists", src, machine);
        }
    }
    /* the new name must be acceptable before anything changes */
    struct inode *parent = iip_parent(r);
    const char *nm = ns->pa.norm + ns->pa.off[ns->pa.n - 1];
    size_t nlen = ns->pa.len[ns->pa.n - 1];
    if (fsns_check_new_child(ns, parent && !last ? parent : NULL, fsns_prefix(&ns->pa, r->len - 2, buf, sizeof buf),
                             nm, nlen, err) < 0)
        return -1;
    int64_t now = fsns_now(ns);
    struct inode *f = fsns_inode_new(ns, FSNS_FILE, nm, nlen, user ? user : "", "", a->masked, now);
    if (!f)
        return fsns_oom(err);
    f->repl = a->replication;
    f->bsize = a->block_size;
    f->policy = a->storage_policy;
    if (last) {
        fsns_unlink(ns, last);
        fsns_destroy(ns, last, removed);
        r->nodes[r->len - 1] = NULL;
    }
    if (fsns_place(ns, user, r, f, a->masked, true, now, err) < 0)
        return -1;
    if (fsns_lease_add(ns, f, a->client ? a->client : "", machine, err) < 0) {
        fsns_unlink(ns, f);
        fsns_destroy(ns, f, NULL);
        return -1;
    }
    fsns_fill_stat(ns, f, false, st);
    return 0;
}

int fsns_append(struct fsns *ns, const char *user, const char *path, const char *client,
                const char *client_machine, uint32_t flags, struct fsns_stat *st, bool *has_last,
                struct fsns_block *last, struct fsns_err *err)
{
    *has_last = false;
    if (!client_machine)
        client_machine = "";
    if (fsns_lookup(ns, user, path, NULL, err) < 0)
        return -1;
    const char *src = ns->pa.norm;
    struct inode *f = iip_last(&ns->ia);
    if (f && f->type == FSNS_DIR)
        return fsns_fail(err, FSNS_EEXIST, "Cannot append to directory " PATHFMT "; already exists as a directory.",
                         src);
    if (fsns_check(ns, user, &ns->ia, false, 0, 0, A_W, 0, false, err) < 0)
        return -1;
    if (!f)
        return fsns_fail(err, FSNS_ENOENT, "Failed to append to non-existent file " PATHFMT " for client %s", src,
                         client_machine);
    if (f->type != FSNS_FILE)
        return fsns_fail(err, FSNS_ENOENT, "Path is not a file: " PATHFMT, src);
    if (recover_internal(ns, "APPEND_FILE", f, src, client, client_machine, false, err) < 0 ||
        fsns_lease_add(ns, f, client ? client : "", client_machine, err) < 0)
        return -1;
    if (!(flags & FSNS_NEW_BLOCK) && f->nblocks > 0 && f->blocks[f->nblocks - 1].len < f->bsize) {
        struct fsns_block *b = &f->blocks[f->nblocks - 1];
        b->uc = true;
        *last = *b;
        *has_last = true;
    }
    fsns_fill_stat(ns, f, false, st);
    return 0;
}

/* ---- the lease holder's calls ------------------------------------------ */

/* Finds the file of addBlock/complete/fsync/abandonBlock: by inode id when
 * given (its current path), else by path. Leaves it in ns->ia / ns->pa. */
static int resolve_file(struct fsns *ns, const char *user, const char *path, uint64_t fileid, struct fsns_err *err)
{
    char buf[FSNS_MAX_PATH_LEN + 2];
    const char *use = path;
    struct inode *byid = fileid ? fsns_by_id(ns, fileid) : NULL;
    if (byid && fsns_full_path(byid, buf, sizeof buf) == 0)
        use = buf;
    if (fsns_lookup(ns, user, use, NULL, err) < 0)
        return -1;
    if (fileid && !byid)
        ns->ia.nodes[ns->ia.len - 1] = NULL; /* unknown inode: no file */
    return 0;
}

/* FSNamesystem.checkLease. */
static int check_lease(struct fsns *ns, const char *holder, uint64_t fileid, struct fsns_err *err)
{
    struct inode *f = iip_last(&ns->ia);
    const char *src = ns->pa.norm;
    if (!holder)
        holder = "";
    char who[300];
    struct lease *l = fsns_lease_get(ns, holder);
    if (l)
        snprintf(who, sizeof who, "[Lease.  Holder: %.200s, pending creates: %u]", holder, l->nfiles);
    else
        snprintf(who, sizeof who, "Holder %.200s does not have any open files.", holder);
    unsigned long long id = f ? f->id : fileid;
    if (!f)
        return fsns_fail(err, FSNS_ENOENT, "No lease on " PATHFMT " (inode %llu): File does not exist. %s", src, id,
                         who);
    if (f->type != FSNS_FILE)
        return fsns_fail(err, FSNS_ELEASE, "No lease on " PATHFMT " (inode %llu): INode is not a regular file. %s",
                         src, id, who);
    if (!f->client)
        return fsns_fail(err, FSNS_ELEASE, "No lease on " PATHFMT " (inode %llu): File is not open for writing. %s",
                         src, id, who);
    if (strcmp(f->client, holder) != 0)
        return fsns_fail(err, FSNS_ELEASE, "Client (=%.200s) is not the lease owner (=%.200s: " PATHFMT " (inode %llu)",
                         holder, f->client, src, id);
    l->renewed = fsns_now(ns);
    return 0;
}

static bool same_block(const struct fsns_block *a, const struct fsns_block *b)
{
    if (!a || !b)
        return !a && !b;
    return a->id == b->id && a->gs == b->gs;
}

int fsns_addblock(struct fsns *ns, const char *user, const char *path, uint64_t fileid, const char *client,
                  const struct fsns_block *previous, struct fsns_block *out, uint64_t *offset, struct fsns_err *err)
{
    if (resolve_file(ns, user, path, fileid, err) < 0 || check_lease(ns, client, fileid, err) < 0)
        return -1;
    struct inode *f = iip_last(&ns->ia);
    struct fsns_block *lastb = f->nblocks ? &f->blocks[f->nblocks - 1] : NULL;
    struct fsns_block *pen = f->nblocks > 1 ? &f->blocks[f->nblocks - 2] : NULL;
    if (!same_block(previous, lastb)) {
        if (!previous && lastb && !lastb->uc) {
            /* first block after an append that ends on a block boundary */
        } else if (lastb && lastb->uc && lastb->len == 0 && same_block(previous, pen)) {
            /* a retry: the client never got the answer; give the same block */
            *out = *lastb;
            *offset = file_size(f) - lastb->len;
            return 0;
        } else {
            char b1[128], b2[128];
            return fsns_fail(err, FSNS_EIO,
                             "Cannot allocate block in " PATHFMT
                             ": passed 'previous' block %s does not match actual last block in file %s",
                             ns->pa.norm, previous ? fsns_blockstr(ns, previous->id, previous->gs, b1, sizeof b1) : "null",
                             lastb ? fsns_blockstr(ns, lastb->id, lastb->gs, b2, sizeof b2) : "null");
        }
    }
    if (f->nblocks == f->capblocks) {
        size_t cap = f->capblocks ? f->capblocks * 2 : 4;
        struct fsns_block *nb = realloc(f->blocks, cap * sizeof *nb);
        if (!nb)
            return fsns_oom(err);
        f->blocks = nb;
        f->capblocks = cap;
        lastb = f->nblocks ? &f->blocks[f->nblocks - 1] : NULL;
    }
    if (previous && lastb) {
        fsns_block_setlen(ns, lastb, previous->len);
        lastb->uc = false;
    }
    struct fsns_block *b = &f->blocks[f->nblocks];
    b->id = ns->next_block;
    b->gs = ns->next_gs;
    b->len = 0;
    b->uc = true;
    if (fsns_bmap_add(ns, f, f->nblocks, err) < 0)
        return -1;
    ns->next_block++;
    ns->next_gs++;
    f->nblocks++;
    *out = *b;
    *offset = file_size(f);
    return 0;
}

int fsns_abandonblock(struct fsns *ns, const char *user, const char *path, uint64_t fileid, const char *client,
                      uint64_t block_id, struct fsns_err *err)
{
    if (resolve_file(ns, user, path, fileid, err) < 0 || check_lease(ns, client, fileid, err) < 0)
        return -1;
    struct inode *f = iip_last(&ns->ia);
    if (f->nblocks && f->blocks[f->nblocks - 1].id == block_id) {
        struct fsns_block *b = &f->blocks[f->nblocks - 1];
        fsns_block_setlen(ns, b, 0);
        fsns_bmap_del(ns, block_id);
        f->nblocks--;
    }
    return 0;
}

int fsns_complete(struct fsns *ns, const char *user, const char *path, uint64_t fileid, const char *client,
                  const struct fsns_block *last, bool *done, struct fsns_err *err)
{
    *done = false;
    if (resolve_file(ns, user, path, fileid, err) < 0)
        return -1;
    struct inode *f = iip_last(&ns->ia);
    if (check_lease(ns, client, fileid, err) < 0) {
        /* a retried complete of a file this client already closed */
        if (f && f->type == FSNS_FILE && !f->client &&
            same_block(last, f->nblocks ? &f->blocks[f->nblocks - 1] : NULL)) {
            *done = true;
            return 0;
        }
        return -1;
    }
    struct fsns_block *lastb = f->nblocks ? &f->blocks[f->nblocks - 1] : NULL;
    if (last && lastb && lastb->uc) {
        char b1[128], b2[128];
        if (lastb->id != last->id)
            return fsns_fail(err, FSNS_EIO, "Trying to commit inconsistent block: id = %llu, expected id = %llu",
                             (unsigned long long)last->id, (unsigned long long)lastb->id);
        if (lastb->gs != last->gs)
            return fsns_fail(err, FSNS_EIO, "Commit block with mismatching GS. NN has %s, client submits %s",
                             fsns_blockstr(ns, lastb->id, lastb->gs, b1, sizeof b1),
                             fsns_blockstr(ns, last->id, last->gs, b2, sizeof b2));
        fsns_block_setlen(ns, lastb, last->len);
        lastb->uc = false;
    } else if (!last && lastb && lastb->uc) {
        return 0; /* not committed: the client retries */
    }
    close_file(ns, f);
    *done = true;
    return 0;
}

int fsns_fsync(struct fsns *ns, const char *user, const char *path, uint64_t fileid, const char *client,
               int64_t last_block_length, struct fsns_err *err)
{
    if (resolve_file(ns, user, path, fileid, err) < 0 || check_lease(ns, client, fileid, err) < 0)
        return -1;
    struct inode *f = iip_last(&ns->ia);
    if (last_block_length > 0 && f->nblocks)
        fsns_block_setlen(ns, &f->blocks[f->nblocks - 1], (uint64_t)last_block_length);
    return 0;
}

/* ---- truncate / recoverLease -------------------------------------------- */

int fsns_truncate(struct fsns *ns, const char *user, const char *path, int64_t new_length, const char *client,
                  const char *client_machine, bool *done, bool *has_cut, struct fsns_block *cut,
                  struct fsns_blocklist *removed, struct fsns_err *err)
{
    *done = false;
    *has_cut = false;
    if (new_length < 0)
        return fsns_fail(err, FSNS_EARG, "Cannot truncate to a negative file size: %lld.", (long long)new_length);
    if (fsns_lookup(ns, user, path, NULL, err) < 0 ||
        fsns_check(ns, user, &ns->ia, false, 0, 0, A_W, 0, false, err) < 0)
        return -1;
    const char *src = ns->pa.norm;
    struct inode *f = iip_last(&ns->ia);
    if (!f)
        return fsns_fail(err, FSNS_ENOENT, "File does not exist: " PATHFMT, src);
    if (f->type != FSNS_FILE)
        return fsns_fail(err, FSNS_ENOENT, "Path is not a file: " PATHFMT, src);
    if (recover_internal(ns, "TRUNCATE_FILE", f, src, client, client_machine, false, err) < 0)
        return -1;
    uint64_t old = file_size(f), nl = (uint64_t)new_length;
    if (old == nl) {
        *done = true;
        return 0;
    }
    if (old < nl)
        return fsns_fail(err, FSNS_EARG, "Cannot truncate to a larger file size. Current size: %llu, truncate size: %llu.",
                         (unsigned long long)old, (unsigned long long)nl);
    uint64_t start = 0;
    size_t keep = f->nblocks;
    for (size_t i = 0; i < f->nblocks; i++) {
        struct fsns_block *b = &f->blocks[i];
        if (start >= nl) {
            keep = i;
            break;
        }
        if (start + b->len > nl) {
            fsns_block_setlen(ns, b, nl - start);
            *cut = *b;
            *has_cut = true;
        }
        start += b->len;
    }
    for (size_t i = keep; i < f->nblocks; i++) {
        (void)fsns_blocklist_add(removed, f->blocks[i].id);
        fsns_block_setlen(ns, &f->blocks[i], 0);
        fsns_bmap_del(ns, f->blocks[i].id);
    }
    f->nblocks = keep;
    f->mtime = fsns_now(ns);
    *done = true;
    return 0;
}

int fsns_recoverlease(struct fsns *ns, const char *user, const char *path, const char *client, bool *closed,
                      struct fsns_err *err)
{
    *closed = false;
    if (fsns_lookup(ns, user, path, NULL, err) < 0)
        return -1;
    const char *src = ns->pa.norm;
    struct inode *f = iip_last(&ns->ia);
    if (!f)
        return fsns_fail(err, FSNS_ENOENT, "File does not exist: " PATHFMT, src);
    if (f->type != FSNS_FILE)
        return fsns_fail(err, FSNS_ENOENT, "Path is not a file: " PATHFMT, src);
    if (f->client) {
        if (fsns_check(ns, user, &ns->ia, false, 0, 0, A_W, 0, false, err) < 0 ||
            recover_internal(ns, "RECOVER_LEASE", f, src, client, "", true, err) < 0)
            return -1;
    }
    *closed = true;
    return 0;
}

/* ---- pipeline ------------------------------------------------------------ */

/* FSNamesystem.checkUCBlock: the block exists, is being written, and its
 * file's lease belongs to client. */
static int check_uc_block(struct fsns *ns, uint64_t id, uint64_t gs, const char *client, struct bnode **out,
                          struct fsns_err *err)
{
    char b[128];
    struct bnode *e = fsns_bmap_get(ns, id);
    if (!e)
        return fsns_fail(err, FSNS_EIO, "%s does not exist.", fsns_blockstr(ns, id, gs, b, sizeof b));
    struct fsns_block *blk = &e->file->blocks[e->idx];
    if (!blk->uc)
        return fsns_fail(err, FSNS_EIO, "Unexpected BlockUCState: %s is COMPLETE but not UNDER_CONSTRUCTION",
                         fsns_blockstr(ns, id, gs, b, sizeof b));
    if (!e->file->client)
        return fsns_fail(err, FSNS_EIO,
                         "The file %s belonged to does not exist or it is not under construction.",
                         fsns_blockstr(ns, blk->id, blk->gs, b, sizeof b));
    if (!client || strcmp(client, e->file->client) != 0)
        return fsns_fail(err, FSNS_ELEASE, "Lease mismatch on %s used by %.200s but is accessed by %.200s",
                         fsns_blockstr(ns, id, gs, b, sizeof b), e->file->client, client ? client : "null");
    *out = e;
    return 0;
}

int fsns_update_block_for_pipeline(struct fsns *ns, const char *user, uint64_t block_id, uint64_t gs,
                                   const char *client, struct fsns_block *out, struct fsns_err *err)
{
    struct bnode *e = NULL;
    if (check_uc_block(ns, block_id, gs, client, &e, err) < 0)
        return -1;
    *out = e->file->blocks[e->idx];
    out->gs = ns->next_gs++;
    return 0;
}

int fsns_update_pipeline(struct fsns *ns, const char *user, const char *client, uint64_t old_id, uint64_t old_gs,
                         uint64_t new_gs, uint64_t new_len, struct fsns_err *err)
{
    struct bnode *e = NULL;
    if (check_uc_block(ns, old_id, old_gs, client, &e, err) < 0)
        return -1;
    struct fsns_block *b = &e->file->blocks[e->idx];
    char b1[128], b2[128], b3[128];
    if (new_gs <= b->gs)
        return fsns_fail(err, FSNS_EIO,
                         "Update %s but the new block %s does not have a larger generation stamp than the last "
                         "block %s",
                         fsns_blockstr(ns, old_id, old_gs, b1, sizeof b1),
                         fsns_blockstr(ns, old_id, new_gs, b2, sizeof b2),
                         fsns_blockstr(ns, b->id, b->gs, b3, sizeof b3));
    if (new_len < b->len)
        return fsns_fail(err, FSNS_EIO, "Update %s (size=%llu) to a smaller size block %s (size=%llu)",
                         fsns_blockstr(ns, old_id, old_gs, b1, sizeof b1), (unsigned long long)b->len,
                         fsns_blockstr(ns, old_id, new_gs, b2, sizeof b2), (unsigned long long)new_len);
    b->gs = new_gs;
    fsns_block_setlen(ns, b, new_len);
    if (new_gs >= ns->next_gs)
        ns->next_gs = new_gs + 1;
    return 0;
}

int fsns_block_sync(struct fsns *ns, uint64_t block_id, uint64_t gs, uint64_t len)
{
    struct bnode *e = fsns_bmap_get(ns, block_id);
    if (!e)
        return -1;
    struct fsns_block *b = &e->file->blocks[e->idx];
    b->gs = gs;
    fsns_block_setlen(ns, b, len);
    return 0;
}
