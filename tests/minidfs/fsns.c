/*
 * fsns.c: the core of the minidfs namespace: lifetime, errors, the inode
 * tree and its indexes (inode id and block id hashes), path parsing and
 * resolution, the permission checker, and status conversion.
 * File writing is in fsns_file.c; reads and namespace changes in fsns_ops.c;
 * xattrs and snapshots in fsns_meta.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fsns_internal.h"

/* ---- errors ----------------------------------------------------------- */

static const char *const err_class[] = {
    [FSNS_OK] = "",
    [FSNS_ENOENT] = "java.io.FileNotFoundException",
    [FSNS_EEXIST] = "org.apache.hadoop.fs.FileAlreadyExistsException",
    [FSNS_EPARENTNOTDIR] = "org.apache.hadoop.fs.ParentNotDirectoryException",
    [FSNS_ENOTDIR] = "org.apache.hadoop.fs.PathIsNotDirectoryException",
    [FSNS_ENOTEMPTY] = "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException",
    [FSNS_EACCES] = "org.apache.hadoop.security.AccessControlException",
    [FSNS_EINVALPATH] = "org.apache.hadoop.fs.InvalidPathException",
    [FSNS_EARG] = "org.apache.hadoop.HadoopIllegalArgumentException",
    [FSNS_EIO] = "java.io.IOException",
    [FSNS_ESNAPSHOT] = "org.apache.hadoop.hdfs.protocol.SnapshotException",
    [FSNS_EBEINGCREATED] = "org.apache.hadoop.hdfs.protocol.AlreadyBeingCreatedException",
    [FSNS_ELEASE] = "org.apache.hadoop.hdfs.server.namenode.LeaseExpiredException",
    [FSNS_ECOMPONENTLEN] = "org.apache.hadoop.hdfs.protocol.FSLimitException$PathComponentTooLongException",
    [FSNS_EDIRITEMS] = "org.apache.hadoop.hdfs.protocol.FSLimitException$MaxDirectoryItemsExceededException",
    [FSNS_ENOMEM] = "java.io.IOException",
};

int fsns_fail(struct fsns_err *err, enum fsns_errcode code, const char *fmt, ...)
{
    err->code = code;
    err->cls = err_class[code];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int fsns_oom(struct fsns_err *err)
{
    return fsns_fail(err, FSNS_ENOMEM, "minidfs namenode: out of memory");
}

/* ---- small helpers ----------------------------------------------------- */

char *fsns_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

int64_t fsns_now(const struct fsns *ns)
{
    if (ns->fixed_time)
        return ns->fixed_time;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool fsns_is_super(const struct fsns *ns, const char *user)
{
    return user && strcmp(user, ns->superuser) == 0;
}

/* minidfs has no group mapping: a user's groups are {user}, plus the
 * supergroup for the superuser. */
bool fsns_in_group(const struct fsns *ns, const char *user, const char *group)
{
    if (!user || !group)
        return false;
    if (strcmp(user, group) == 0)
        return true;
    return fsns_is_super(ns, user) && strcmp(group, FSNS_SUPERGROUP) == 0;
}

void fsns_set_time(struct fsns *ns, int64_t ms) { ns->fixed_time = ms; }
void fsns_set_min_block_size(struct fsns *ns, uint64_t bytes) { ns->min_block_size = bytes; }

void fsns_set_block_pool_id(struct fsns *ns, const char *bpid)
{
    char *d = bpid ? fsns_strdup(bpid) : NULL;
    free(ns->bpid);
    ns->bpid = d;
}

void fsns_blocklist_free(struct fsns_blocklist *bl)
{
    if (!bl)
        return;
    free(bl->ids);
    bl->ids = NULL;
    bl->n = bl->cap = 0;
}

int fsns_blocklist_add(struct fsns_blocklist *bl, uint64_t id)
{
    if (!bl)
        return 0;
    if (bl->n == bl->cap) {
        size_t cap = bl->cap ? bl->cap * 2 : 16;
        uint64_t *ids = realloc(bl->ids, cap * sizeof *ids);
        if (!ids)
            return -1;
        bl->ids = ids;
        bl->cap = cap;
    }
    bl->ids[bl->n++] = id;
    return 0;
}

/* Block as HDFS prints an ExtendedBlock: "BP-x:blk_<id>_<gs>". */
const char *fsns_blockstr(const struct fsns *ns, uint64_t id, uint64_t gs, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%sblk_%llu_%llu", ns->bpid ? ns->bpid : "", ns->bpid ? ":" : "", (unsigned long long)id,
             (unsigned long long)gs);
    return buf;
}

/* ---- id and block indexes ---------------------------------------------- */

static size_t hash64(uint64_t x, size_t nb)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x & (nb - 1);
}

static int ihash_grow(struct fsns *ns)
{
    size_t nb = ns->nibuckets ? ns->nibuckets * 2 : 1024;
    struct inode **b = calloc(nb, sizeof *b);
    if (!b)
        return -1;
    for (size_t i = 0; i < ns->nibuckets; i++) {
        struct inode *n = ns->ibuckets[i], *next;
        for (; n; n = next) {
            next = n->hnext;
            size_t h = hash64(n->id, nb);
            n->hnext = b[h];
            b[h] = n;
        }
    }
    free(ns->ibuckets);
    ns->ibuckets = b;
    ns->nibuckets = nb;
    return 0;
}

static int ihash_add(struct fsns *ns, struct inode *n)
{
    if (ns->ninodes + 1 > ns->nibuckets && ihash_grow(ns) < 0 && !ns->nibuckets)
        return -1;
    size_t h = hash64(n->id, ns->nibuckets);
    n->hnext = ns->ibuckets[h];
    ns->ibuckets[h] = n;
    ns->ninodes++;
    return 0;
}

static void ihash_del(struct fsns *ns, struct inode *n)
{
    struct inode **pp = &ns->ibuckets[hash64(n->id, ns->nibuckets)];
    for (; *pp; pp = &(*pp)->hnext) {
        if (*pp == n) {
            *pp = n->hnext;
            ns->ninodes--;
            return;
        }
    }
}

struct inode *fsns_by_id(const struct fsns *ns, uint64_t id)
{
    if (!ns->nibuckets)
        return NULL;
    for (struct inode *n = ns->ibuckets[hash64(id, ns->nibuckets)]; n; n = n->hnext)
        if (n->id == id)
            return n;
    return NULL;
}

static int bhash_grow(struct fsns *ns)
{
    size_t nb = ns->nbbuckets ? ns->nbbuckets * 2 : 1024;
    struct bnode **b = calloc(nb, sizeof *b);
    if (!b)
        return -1;
    for (size_t i = 0; i < ns->nbbuckets; i++) {
        struct bnode *e = ns->bbuckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            size_t h = hash64(e->id, nb);
            e->next = b[h];
            b[h] = e;
        }
    }
    free(ns->bbuckets);
    ns->bbuckets = b;
    ns->nbbuckets = nb;
    return 0;
}

int fsns_bmap_add(struct fsns *ns, struct inode *file, size_t idx, struct fsns_err *err)
{
    if (ns->nblocks_total + 1 > ns->nbbuckets && bhash_grow(ns) < 0 && !ns->nbbuckets)
        return fsns_oom(err);
    struct bnode *e = malloc(sizeof *e);
    if (!e)
        return fsns_oom(err);
    e->id = file->blocks[idx].id;
    e->file = file;
    e->idx = idx;
    size_t h = hash64(e->id, ns->nbbuckets);
    e->next = ns->bbuckets[h];
    ns->bbuckets[h] = e;
    ns->nblocks_total++;
    return 0;
}

struct bnode *fsns_bmap_get(const struct fsns *ns, uint64_t id)
{
    if (!ns->nbbuckets)
        return NULL;
    for (struct bnode *e = ns->bbuckets[hash64(id, ns->nbbuckets)]; e; e = e->next)
        if (e->id == id)
            return e;
    return NULL;
}

void fsns_bmap_del(struct fsns *ns, uint64_t id)
{
    if (!ns->nbbuckets)
        return;
    struct bnode **pp = &ns->bbuckets[hash64(id, ns->nbbuckets)];
    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            struct bnode *e = *pp;
            *pp = e->next;
            free(e);
            ns->nblocks_total--;
            return;
        }
    }
}

void fsns_block_setlen(struct fsns *ns, struct fsns_block *b, uint64_t len)
{
    ns->used = ns->used - b->len + len;
    b->len = len;
}

/* ---- leases ------------------------------------------------------------- */

struct lease *fsns_lease_get(struct fsns *ns, const char *holder)
{
    for (size_t i = 0; i < ns->nleases; i++)
        if (strcmp(ns->leases[i].holder, holder) == 0)
            return &ns->leases[i];
    return NULL;
}

/* Makes `file` under construction for holder (renews the holder's lease). */
int fsns_lease_add(struct fsns *ns, struct inode *file, const char *holder, const char *machine, struct fsns_err *err)
{
    char *c = fsns_strdup(holder);
    char *m = fsns_strdup(machine ? machine : "");
    if (!c || !m) {
        free(c);
        free(m);
        return fsns_oom(err);
    }
    struct lease *l = fsns_lease_get(ns, holder);
    if (!l) {
        if (ns->nleases == ns->capleases) {
            size_t cap = ns->capleases ? ns->capleases * 2 : 8;
            struct lease *nl = realloc(ns->leases, cap * sizeof *nl);
            if (!nl) {
                free(c);
                free(m);
                return fsns_oom(err);
            }
            ns->leases = nl;
            ns->capleases = cap;
        }
        char *h = fsns_strdup(holder);
        if (!h) {
            free(c);
            free(m);
            return fsns_oom(err);
        }
        l = &ns->leases[ns->nleases++];
        l->holder = h;
        l->nfiles = 0;
    }
    l->renewed = fsns_now(ns);
    l->nfiles++;
    fsns_lease_release(ns, file);
    file->client = c;
    file->client_machine = m;
    ns->nuc++;
    return 0;
}

/* Closes the file's lease (the file is no longer under construction). */
void fsns_lease_release(struct fsns *ns, struct inode *file)
{
    if (!file->client)
        return;
    struct lease *l = fsns_lease_get(ns, file->client);
    if (l && --l->nfiles == 0) {
        free(l->holder);
        *l = ns->leases[--ns->nleases];
    }
    free(file->client);
    free(file->client_machine);
    file->client = file->client_machine = NULL;
    ns->nuc--;
}

int fsns_renewlease(struct fsns *ns, const char *user, const char *client, struct fsns_err *err)
{
    struct lease *l = client ? fsns_lease_get(ns, client) : NULL;
    if (l)
        l->renewed = fsns_now(ns);
    return 0;
}

/* ---- the tree ------------------------------------------------------------ */

struct inode *fsns_inode_new(struct fsns *ns, enum fsns_type type, const char *name, size_t len, const char *owner,
                             const char *group, uint16_t perm, int64_t now)
{
    struct inode *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->name = malloc(len + 1);
    n->owner = fsns_strdup(owner);
    n->group = fsns_strdup(group);
    if (!n->name || !n->owner || !n->group) {
        fsns_inode_free(n);
        return NULL;
    }
    memcpy(n->name, name, len);
    n->name[len] = 0;
    n->namelen = len;
    n->type = type;
    n->perm = perm & 01777;
    n->mtime = now;
    n->atime = type == FSNS_FILE ? now : 0;
    n->id = 0; /* assigned by fsns_link */
    (void)ns;
    return n;
}

void fsns_inode_free(struct inode *n)
{
    if (!n)
        return;
    free(n->name);
    free(n->owner);
    free(n->group);
    for (uint32_t i = 0; i < n->nxattrs; i++) {
        free(n->xattrs[i].name);
        free(n->xattrs[i].val);
    }
    free(n->xattrs);
    free(n->kids);
    for (uint32_t i = 0; i < n->nsnaps; i++)
        free((char *)n->snaps[i].name);
    free(n->snaps);
    free(n->blocks);
    free(n->client);
    free(n->client_machine);
    free(n->target);
    free(n);
}

static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

/* Binary search; *pos = index of the match or of the insertion point. */
struct inode *fsns_child(const struct inode *dir, const char *name, size_t len, uint32_t *pos)
{
    uint32_t lo = 0, hi = dir->nkids;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const struct inode *k = dir->kids[mid];
        int c = name_cmp(k->name, k->namelen, name, len);
        if (c == 0) {
            if (pos)
                *pos = mid;
            return dir->kids[mid];
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (pos)
        *pos = lo;
    return NULL;
}

/* Adds child (new or moved) to dir; assigns an id to a new inode. */
int fsns_link(struct fsns *ns, struct inode *dir, struct inode *child, struct fsns_err *err)
{
    uint32_t pos;
    fsns_child(dir, child->name, child->namelen, &pos);
    if (dir->nkids == dir->capkids) {
        uint32_t cap = dir->capkids ? dir->capkids * 2 : 4;
        struct inode **k = realloc(dir->kids, cap * sizeof *k);
        if (!k)
            return fsns_oom(err);
        dir->kids = k;
        dir->capkids = cap;
    }
    if (child->id == 0) {
        child->id = ns->next_id;
        if (ihash_add(ns, child) < 0)
            return fsns_oom(err);
        ns->next_id++;
        if (child->type == FSNS_DIR)
            ns->ndirs++;
        else if (child->type == FSNS_FILE)
            ns->nfiles++;
    }
    memmove(dir->kids + pos + 1, dir->kids + pos, (dir->nkids - pos) * sizeof *dir->kids);
    dir->kids[pos] = child;
    dir->nkids++;
    child->parent = dir;
    return 0;
}

void fsns_unlink(struct fsns *ns, struct inode *child)
{
    struct inode *dir = child->parent;
    uint32_t pos;
    if (!dir || fsns_child(dir, child->name, child->namelen, &pos) != child)
        return;
    memmove(dir->kids + pos, dir->kids + pos + 1, (dir->nkids - pos - 1) * sizeof *dir->kids);
    dir->nkids--;
    child->parent = NULL;
}

void fsns_touch(struct inode *dir, int64_t now)
{
    if (dir)
        dir->mtime = now;
}

int fsns_check_new_child(struct fsns *ns, const struct inode *dir, const char *dirpath, const char *name, size_t len,
                         struct fsns_err *err)
{
    if (len == 9 && memcmp(name, ".snapshot", 9) == 0)
        return fsns_fail(err, FSNS_EARG, "\".snapshot\" is a reserved name.");
    if (len > FSNS_MAX_COMPONENT)
        return fsns_fail(err, FSNS_ECOMPONENTLEN,
                         "The maximum path component name limit of %.*s in directory %.200s is exceeded: limit=%d "
                         "length=%zu",
                         (int)(len > 200 ? 200 : len), name, dirpath, FSNS_MAX_COMPONENT, len);
    if (dir && dir->nkids >= FSNS_MAX_DIR_ITEMS)
        return fsns_fail(err, FSNS_EDIRITEMS, "The directory item limit of %.400s is exceeded: limit=%d items=%u",
                         dirpath, FSNS_MAX_DIR_ITEMS, dir->nkids + 1);
    return 0;
}

/* Pre-order visit of a subtree without recursion or allocation (uses the
 * inodes' walk cursors). cb returning non-zero stops the walk. */
int fsns_walk(struct inode *top, int (*cb)(struct inode *, void *), void *arg)
{
    int rc = cb(top, arg);
    if (rc || top->type != FSNS_DIR)
        return rc;
    top->walk = 0;
    struct inode *n = top;
    for (;;) {
        if (n->walk < n->nkids) {
            struct inode *c = n->kids[n->walk++];
            if ((rc = cb(c, arg)) != 0)
                return rc;
            if (c->type == FSNS_DIR) {
                c->walk = 0;
                n = c;
            }
            continue;
        }
        if (n == top)
            return 0;
        n = n->parent;
    }
}

/* Frees a detached subtree, bottom-up, without recursion. */
void fsns_destroy(struct fsns *ns, struct inode *top, struct fsns_blocklist *removed)
{
    struct inode *n = top;
    while (n) {
        if (n->type == FSNS_DIR && n->nkids > 0) {
            n = n->kids[--n->nkids];
            continue;
        }
        struct inode *up = n == top ? NULL : n->parent;
        for (size_t i = 0; i < n->nblocks; i++) {
            (void)fsns_blocklist_add(removed, n->blocks[i].id);
            fsns_bmap_del(ns, n->blocks[i].id);
            ns->used -= n->blocks[i].len;
        }
        fsns_lease_release(ns, n);
        if (n->snapshottable)
            fsns_snapdir_del(ns, n);
        ihash_del(ns, n);
        if (n->type == FSNS_DIR)
            ns->ndirs--;
        else if (n->type == FSNS_FILE)
            ns->nfiles--;
        fsns_inode_free(n);
        n = up;
    }
}

int fsns_full_path(const struct inode *n, char *buf, size_t cap)
{
    if (cap < 2)
        return -1;
    if (!n->parent) {
        strcpy(buf, "/");
        return 0;
    }
    size_t total = 0;
    for (const struct inode *p = n; p->parent; p = p->parent)
        total += p->namelen + 1;
    if (total + 1 > cap)
        return -1;
    buf[total] = 0;
    size_t end = total;
    for (const struct inode *p = n; p->parent; p = p->parent) {
        end -= p->namelen;
        memcpy(buf + end, p->name, p->namelen);
        buf[--end] = '/';
    }
    return 0;
}

int fsns_inode_path(const struct fsns *ns, uint64_t fileid, char *buf, size_t cap)
{
    const struct inode *n = fsns_by_id(ns, fileid);
    return n ? fsns_full_path(n, buf, cap) : -1;
}

static uint8_t effective_policy(const struct inode *n)
{
    for (; n; n = n->parent)
        if (n->policy)
            return n->policy;
    return 0;
}

void fsns_fill_stat(const struct fsns *ns, const struct inode *n, bool with_name, struct fsns_stat *st)
{
    memset(st, 0, sizeof *st);
    st->type = n->type;
    st->name = with_name ? n->name : "";
    st->fileid = n->id;
    st->perm = n->perm;
    st->owner = n->owner;
    st->group = n->group;
    st->mtime = n->mtime;
    st->atime = n->atime;
    st->storage_policy = effective_policy(n);
    if (n->type == FSNS_DIR) {
        st->children = (int32_t)n->nkids;
        st->snapshottable = n->snapshottable;
    } else if (n->type == FSNS_FILE) {
        for (size_t i = 0; i < n->nblocks; i++)
            st->length += n->blocks[i].len;
        st->replication = n->repl;
        st->block_size = n->bsize;
        st->under_construction = n->client != NULL;
        st->lease_holder = n->client;
        st->blocks = n->blocks;
        st->nblocks = n->nblocks;
    } else {
        st->symlink = n->target;
        st->length = n->target ? strlen(n->target) : 0;
    }
}

/* ---- lifetime ------------------------------------------------------------ */

struct fsns *fsns_new(const char *superuser)
{
    struct fsns *ns = calloc(1, sizeof *ns);
    if (!ns)
        return NULL;
    ns->superuser = fsns_strdup(superuser ? superuser : "");
    ns->next_id = FSNS_ROOT_ID;
    ns->next_block = 1073741825ULL; /* first id after the reserved range */
    ns->next_gs = 1001;             /* first stamp after the reserved range */
    ns->min_block_size = 1048576;
    if (!ns->superuser || ihash_grow(ns) < 0 || bhash_grow(ns) < 0) {
        fsns_free(ns);
        return NULL;
    }
    ns->root = fsns_inode_new(ns, FSNS_DIR, "", 0, ns->superuser, FSNS_SUPERGROUP, 0755, fsns_now(ns));
    if (!ns->root) {
        fsns_free(ns);
        return NULL;
    }
    ns->root->id = FSNS_ROOT_ID;
    if (ihash_add(ns, ns->root) < 0) {
        fsns_free(ns);
        return NULL;
    }
    ns->next_id++;
    ns->ndirs = 1;
    return ns;
}

void fsns_free(struct fsns *ns)
{
    if (!ns)
        return;
    if (ns->root)
        fsns_destroy(ns, ns->root, NULL);
    for (size_t i = 0; i < ns->nbbuckets; i++) {
        struct bnode *e = ns->bbuckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    for (size_t i = 0; i < ns->nleases; i++)
        free(ns->leases[i].holder);
    free(ns->leases);
    free(ns->bbuckets);
    free(ns->ibuckets);
    free(ns->snapdirs);
    free(ns->superuser);
    free(ns->bpid);
    free(ns);
}

/* ---- paths ---------------------------------------------------------------- */

static bool bad_component(const char *c, size_t len)
{
    if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
        return true;
    return memchr(c, ':', len) != NULL;
}

int fsns_parse(struct fsns *ns, struct ppath *p, const char *path, const char *op, struct fsns_err *err)
{
    bool create = op != NULL;
    p->n = 0;
    p->overflow = false;
    p->norm[0] = '/';
    p->norm[1] = 0;
    p->normlen = 1;
    if (!path || path[0] != '/')
        return fsns_fail(err, FSNS_EINVALPATH, "Invalid path name Invalid file name: %.400s", path ? path : "(null)");
    if (create && strlen(path) > FSNS_MAX_PATH_LEN)
        goto too_long;
    bool gap = false; /* an empty component (//) was seen */
    const char *s = path;
    while (*s) {
        while (*s == '/')
            s++;
        if (!*s)
            break;
        if (s - path > 1 && s[-2] == '/')
            gap = true;
        const char *e = s;
        while (*e && *e != '/')
            e++;
        size_t len = (size_t)(e - s);
        if (bad_component(s, len) || (create && gap))
            return fsns_fail(err, FSNS_EINVALPATH, "Invalid path name Invalid file name: %.400s", path);
        size_t start = p->normlen == 1 ? 1 : p->normlen + 1;
        if (!p->overflow && (p->n >= FSNS_MAX_PATH_DEPTH || start + len > FSNS_MAX_PATH_LEN))
            p->overflow = true;
        if (!p->overflow) {
            if (p->normlen > 1)
                p->norm[p->normlen] = '/';
            memcpy(p->norm + start, s, len);
            p->normlen = start + len;
            p->norm[p->normlen] = 0;
            p->off[p->n] = (uint16_t)start;
            p->len[p->n] = (uint16_t)len;
            p->n++;
        }
        s = e;
    }
    if (create && p->overflow)
        goto too_long;
    (void)ns;
    return 0;
too_long:
    return fsns_fail(err, FSNS_EIO, "%s: Pathname too long.  Limit %d characters, %d levels.", op, FSNS_MAX_PATH_LEN,
                     FSNS_MAX_PATH_DEPTH);
}

const char *fsns_prefix(const struct ppath *p, int i, char *buf, size_t cap)
{
    if (i <= 0 || p->n == 0) {
        snprintf(buf, cap, "/");
        return buf;
    }
    if (i > p->n)
        i = p->n;
    size_t end = (size_t)p->off[i - 1] + p->len[i - 1];
    snprintf(buf, cap, "%.*s", (int)end, p->norm);
    return buf;
}

static const char *action_name(int a)
{
    static const char *const names[] = { "NONE", "EXECUTE", "WRITE", "WRITE_EXECUTE",
                                         "READ", "READ_EXECUTE", "READ_WRITE", "ALL" };
    return names[a & 7];
}

/* "rwxr-xr-t" as FsPermission prints it. */
static void perm_string(uint16_t perm, char out[10])
{
    static const char rwx[] = "rwx";
    for (int i = 0; i < 9; i++)
        out[i] = (perm & (0400 >> i)) ? rwx[i % 3] : '-';
    if (perm & 01000)
        out[8] = (perm & 1) ? 't' : 'T';
    out[9] = 0;
}

static bool has_perm(const struct fsns *ns, const char *user, const struct inode *n, int access)
{
    int bits;
    if (strcmp(user, n->owner) == 0)
        bits = (n->perm >> 6) & 7;
    else if (fsns_in_group(ns, user, n->group))
        bits = (n->perm >> 3) & 7;
    else
        bits = n->perm & 7;
    return (bits & access) == access;
}

static int deny(struct fsns_err *err, const char *user, int access, const char *path, const struct inode *n)
{
    char ps[10];
    perm_string(n->perm, ps);
    return fsns_fail(err, FSNS_EACCES, "Permission denied: user=%s, access=%s, inode=\"%.300s\":%s:%s:%c%s", user,
                     action_name(access), path, n->owner, n->group, n->type == FSNS_DIR ? 'd' : '-', ps);
}

int fsns_resolve(struct fsns *ns, const char *user, const struct ppath *p, struct iip *r, bool create,
                 struct fsns_err *err)
{
    if (!user)
        user = "";
    r->p = p;
    r->len = p->n + 1;
    r->nodes[0] = ns->root;
    struct inode *cur = ns->root;
    for (int i = 1; i <= p->n; i++) {
        struct inode *next = NULL;
        if (cur && cur->type == FSNS_DIR && !p->overflow)
            next = fsns_child(cur, p->norm + p->off[i - 1], p->len[i - 1], NULL);
        r->nodes[i] = next;
        cur = next;
    }
    return fsns_traverse(ns, user, r, create, err);
}

int fsns_traverse(struct fsns *ns, const char *user, const struct iip *r, bool create, struct fsns_err *err)
{
    if (!user)
        user = "";
    /* every existing proper ancestor of the last component */
    int anc = r->len - 2;
    while (anc >= 0 && !r->nodes[anc])
        anc--;
    bool super = fsns_is_super(ns, user);
    char buf[FSNS_MAX_PATH_LEN + 2];
    for (int i = 0; i <= anc; i++) {
        struct inode *n = r->nodes[i];
        if (n->type != FSNS_DIR)
            return fsns_fail(err, create ? FSNS_EPARENTNOTDIR : FSNS_EACCES, "%.400s (is not a directory)",
                             fsns_prefix(r->p, i, buf, sizeof buf));
        if (!super && !has_perm(ns, user, n, A_X))
            return deny(err, user, A_X, fsns_prefix(r->p, i, buf, sizeof buf), n);
    }
    return 0;
}

int fsns_lookup(struct fsns *ns, const char *user, const char *path, const char *op, struct fsns_err *err)
{
    if (fsns_parse(ns, &ns->pa, path, op, err) < 0)
        return -1;
    return fsns_resolve(ns, user, &ns->pa, &ns->ia, op != NULL, err);
}

struct subacc {
    struct fsns *ns;
    const char *user;
    int access;
    bool ignore_empty;
    struct inode *bad;
};

static int sub_cb(struct inode *n, void *arg)
{
    struct subacc *s = arg;
    if (n->type != FSNS_DIR || (s->ignore_empty && n->nkids == 0))
        return 0;
    if (!has_perm(s->ns, s->user, n, s->access)) {
        s->bad = n;
        return 1;
    }
    return 0;
}

int fsns_check(struct fsns *ns, const char *user, const struct iip *r, bool owner, int ancestor, int parent,
               int access, int sub, bool ignore_empty, struct fsns_err *err)
{
    if (!user)
        user = "";
    if (fsns_is_super(ns, user))
        return 0;
    const struct ppath *p = r->p;
    char buf[FSNS_MAX_PATH_LEN + 2], buf2[FSNS_MAX_PATH_LEN + 2];
    struct inode *last = iip_last(r);
    int li = r->len - 1;
    if (parent & A_W && r->len > 1 && last) {
        struct inode *par = r->nodes[li - 1];
        if ((par->perm & 01000) && strcmp(par->owner, user) != 0 && strcmp(last->owner, user) != 0) {
            char ps[10], pps[10];
            perm_string(last->perm, ps);
            perm_string(par->perm, pps);
            return fsns_fail(err, FSNS_EACCES,
                             "Permission denied by sticky bit: user=%s, path=\"%.200s\":%s:%s:%c%s, "
                             "parent=\"%.200s\":%s:%s:%c%s",
                             user, fsns_prefix(p, li, buf, sizeof buf), last->owner, last->group,
                             last->type == FSNS_DIR ? 'd' : '-', ps, fsns_prefix(p, li - 1, buf2, sizeof buf2),
                             par->owner, par->group, 'd', pps);
        }
    }
    if (ancestor && r->len > 1) {
        int a = r->len - 2;
        while (a >= 0 && !r->nodes[a])
            a--;
        if (a >= 0 && !has_perm(ns, user, r->nodes[a], ancestor))
            return deny(err, user, ancestor, fsns_prefix(p, a, buf, sizeof buf), r->nodes[a]);
    }
    if (parent && r->len > 1) {
        struct inode *par = r->nodes[li - 1];
        if (par && !has_perm(ns, user, par, parent))
            return deny(err, user, parent, fsns_prefix(p, li - 1, buf, sizeof buf), par);
    }
    if (access && last && !has_perm(ns, user, last, access))
        return deny(err, user, access, fsns_prefix(p, li, buf, sizeof buf), last);
    if (sub && last && last->type == FSNS_DIR) {
        struct subacc s = { ns, user, sub, ignore_empty, NULL };
        if (fsns_walk(last, sub_cb, &s)) {
            if (fsns_full_path(s.bad, buf, sizeof buf) < 0)
                snprintf(buf, sizeof buf, "%s", s.bad->name);
            return deny(err, user, sub, buf, s.bad);
        }
    }
    if (owner && last && strcmp(user, last->owner) != 0)
        return fsns_fail(err, FSNS_EACCES, "Permission denied. user=%s is not the owner of inode=%.400s", user,
                         fsns_prefix(p, li, buf, sizeof buf));
    return 0;
}

int fsns_check_owner(struct fsns *ns, const char *user, const struct iip *r, struct fsns_err *err)
{
    if (!iip_last(r))
        return fsns_fail(err, FSNS_ENOENT, "Directory/File does not exist %.400s", r->p->norm);
    return fsns_check(ns, user, r, true, 0, 0, 0, 0, false, err);
}

int fsns_check_super(struct fsns *ns, const char *user, struct fsns_err *err)
{
    if (fsns_is_super(ns, user))
        return 0;
    return fsns_fail(err, FSNS_EACCES, "Access denied for user %s. Superuser privilege is required", user);
}

/* ---- block lookups --------------------------------------------------------- */

int fsns_block_lookup(const struct fsns *ns, uint64_t block_id, struct fsns_blockinfo *bi)
{
    const struct bnode *e = fsns_bmap_get(ns, block_id);
    if (!e)
        return -1;
    bi->block = e->file->blocks[e->idx];
    bi->fileid = e->file->id;
    bi->index = e->idx;
    bi->offset = 0;
    for (size_t i = 0; i < e->idx; i++)
        bi->offset += e->file->blocks[i].len;
    return 0;
}

void fsns_totals(const struct fsns *ns, struct fsns_totals *t)
{
    t->used = ns->used;
    t->files = ns->nfiles;
    t->directories = ns->ndirs;
    t->blocks = ns->nblocks_total;
    t->under_construction = ns->nuc;
}
