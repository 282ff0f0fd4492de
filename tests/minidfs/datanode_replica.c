/*
 * datanode_replica.c: the replica table (a hash of block id -> replica, under
 * datanode.lock), the on-disk layout (see datanode.h), the startup scan, and
 * the calls the NameNode makes (delete, truncate, length, stats).
 *
 * Files are opened, renamed and unlinked while the lock is held, so a reader
 * never finds a meta file half-way through a generation stamp change; the
 * bulk of reads and writes happens on the open descriptors, unlocked.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "crc32c.h"
#include "datanode_internal.h"

#define PATH_CAP 4352

/* ---- helpers shared with the op handlers ---- */

bool dnode_pool_ok(const struct datanode *dn, const Hadoop__Hdfs__ExtendedBlockProto *b)
{
    return b && b->poolid && strcmp(b->poolid, dn->bpid) == 0;
}

void dnode_block_name(const Hadoop__Hdfs__ExtendedBlockProto *b, char *buf, size_t cap)
{
    snprintf(buf, cap, "%.200s:blk_%" PRIu64 "_%" PRIu64, b->poolid ? b->poolid : "", b->blockid,
             b->generationstamp);
}

void dnode_data_path(const struct datanode *dn, uint64_t id, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/blk_%" PRIu64, dn->dir, id);
}

void dnode_meta_path(const struct datanode *dn, uint64_t id, uint64_t gs, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/blk_%" PRIu64 "_%" PRIu64 ".meta", dn->dir, id, gs);
}

void dnode_meta_header(uint8_t out[DN_META_HDR], uint8_t ctype, uint32_t bpc)
{
    out[0] = 0;
    out[1] = 1; /* meta file version */
    out[2] = ctype;
    dnode_put_be32(out + 3, bpc);
}

size_t dnode_csum_size(uint8_t ctype)
{
    return ctype == DN_CSUM_NULL ? 0 : 4;
}

uint32_t dnode_crc(uint8_t ctype, const uint8_t *p, size_t n)
{
    if (ctype == DN_CSUM_CRC32C)
        return crc32c(0, p, n);
    if (ctype == DN_CSUM_CRC32)
        return crc32_ieee(0, p, n);
    return 0;
}

int dnode_rechecksum(int dfd, int mfd, uint8_t ctype, uint32_t bpc, uint64_t from, uint64_t to, uint64_t len)
{
    if (ctype == DN_CSUM_NULL || from >= to)
        return 0;
    uint8_t *chunk = malloc(bpc);
    if (!chunk)
        return -1;
    int rc = 0;
    for (uint64_t c = from / bpc; c * bpc < to && c * bpc < len; c++) {
        uint64_t start = c * bpc;
        size_t n = len - start < bpc ? (size_t)(len - start) : bpc;
        uint8_t crc[4];
        if (pread(dfd, chunk, n, (off_t)start) != (ssize_t)n) {
            rc = -1;
            break;
        }
        dnode_put_be32(crc, dnode_crc(ctype, chunk, n));
        if (pwrite(mfd, crc, 4, (off_t)(DN_META_HDR + 4 * c)) != 4) {
            rc = -1;
            break;
        }
    }
    free(chunk);
    return rc;
}

/* ---- the table ---- */

static size_t bucket_of(const struct datanode *dn, uint64_t id)
{
    uint64_t h = id * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 32) & (dn->nbuckets - 1);
}

int dnode_table_init(struct datanode *dn)
{
    dn->nbuckets = 1024;
    dn->buckets = calloc(dn->nbuckets, sizeof *dn->buckets);
    return dn->buckets ? 0 : -1;
}

void dnode_table_free(struct datanode *dn)
{
    for (size_t i = 0; i < dn->nbuckets; i++) {
        struct dn_replica *r = dn->buckets[i];
        while (r) {
            struct dn_replica *next = r->next;
            free(r);
            r = next;
        }
    }
    free(dn->buckets);
    dn->buckets = NULL;
}

struct dn_replica *dnode_find_locked(struct datanode *dn, uint64_t id)
{
    for (struct dn_replica *r = dn->buckets[bucket_of(dn, id)]; r; r = r->next)
        if (r->id == id)
            return r;
    return NULL;
}

static void grow(struct datanode *dn)
{
    size_t n = dn->nbuckets * 2;
    struct dn_replica **nb = calloc(n, sizeof *nb);
    if (!nb)
        return; /* keep the longer chains */
    struct dn_replica **old = dn->buckets;
    size_t oldn = dn->nbuckets;
    dn->buckets = nb;
    dn->nbuckets = n;
    for (size_t i = 0; i < oldn; i++) {
        struct dn_replica *r = old[i];
        while (r) {
            struct dn_replica *next = r->next;
            size_t b = bucket_of(dn, r->id);
            r->next = nb[b];
            nb[b] = r;
            r = next;
        }
    }
    free(old);
}

struct dn_replica *dnode_add_locked(struct datanode *dn, uint64_t id, uint64_t gs)
{
    if (dn->nreplicas >= dn->nbuckets * 2)
        grow(dn);
    struct dn_replica *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->id = id;
    r->gs = gs;
    r->writing = true;
    size_t b = bucket_of(dn, id);
    r->next = dn->buckets[b];
    dn->buckets[b] = r;
    dn->nreplicas++;
    return r;
}

void dnode_unlink_locked(struct datanode *dn, struct dn_replica *r)
{
    for (struct dn_replica **pp = &dn->buckets[bucket_of(dn, r->id)]; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            r->next = NULL;
            dn->nreplicas--;
            dn->used -= r->len + r->meta_len;
            return;
        }
}

void dnode_set_lengths_locked(struct datanode *dn, struct dn_replica *r, uint64_t len, uint64_t meta_len)
{
    if (!r->removed)
        dn->used = dn->used - (r->len + r->meta_len) + len + meta_len;
    r->len = len;
    r->meta_len = meta_len;
}

int dnode_set_gs_locked(struct datanode *dn, struct dn_replica *r, uint64_t gs)
{
    if (gs == r->gs)
        return 0;
    char from[PATH_CAP], to[PATH_CAP];
    dnode_meta_path(dn, r->id, r->gs, from, sizeof from);
    dnode_meta_path(dn, r->id, gs, to, sizeof to);
    if (rename(from, to) < 0) {
        dnode_log("cannot rename %s: %s", from, strerror(errno));
        return -1;
    }
    r->gs = gs;
    return 0;
}

int dnode_open_locked(struct datanode *dn, const struct dn_replica *r, bool rw, int *dfd, int *mfd)
{
    char d[PATH_CAP], m[PATH_CAP];
    dnode_data_path(dn, r->id, d, sizeof d);
    dnode_meta_path(dn, r->id, r->gs, m, sizeof m);
    int flags = (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC;
    *dfd = open(d, flags);
    *mfd = *dfd >= 0 ? open(m, flags) : -1;
    if (*dfd < 0 || *mfd < 0) {
        dnode_log("cannot open the files of blk_%" PRIu64 ": %s", r->id, strerror(errno));
        if (*dfd >= 0)
            close(*dfd);
        *dfd = *mfd = -1;
        return -1;
    }
    return 0;
}

/* ---- startup scan: every blk_<id>_<gs>.meta with its blk_<id> ---- */

static int read_header(int mfd, uint8_t *ctype, uint32_t *bpc)
{
    uint8_t h[DN_META_HDR];
    if (pread(mfd, h, sizeof h, 0) != (ssize_t)sizeof h)
        return -1;
    *ctype = h[2];
    *bpc = dnode_get_be32(h + 3);
    if (h[0] != 0 || h[1] != 1 || *ctype > DN_CSUM_CRC32C || *bpc == 0 || *bpc > DN_MAX_BPC)
        return -1;
    return 0;
}

static void scan_one(struct datanode *dn, int dirfd, const char *name)
{
    unsigned long long id, gs;
    int end = 0;
    if (sscanf(name, "blk_%llu_%llu.meta%n", &id, &gs, &end) != 2 || name[end] != '\0')
        return;
    char canon[96];
    snprintf(canon, sizeof canon, "blk_%llu_%llu.meta", id, gs);
    if (strcmp(canon, name) != 0)
        return; /* leading zeros, signs and such: not ours */
    char dname[48];
    snprintf(dname, sizeof dname, "blk_%llu", id);
    int mfd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    struct stat dst, mst;
    uint8_t ctype;
    uint32_t bpc;
    if (mfd < 0)
        return;
    bool ok = fstat(mfd, &mst) == 0 && read_header(mfd, &ctype, &bpc) == 0 &&
              fstatat(dirfd, dname, &dst, 0) == 0 && S_ISREG(dst.st_mode);
    close(mfd);
    if (!ok) {
        dnode_log("ignoring %s/%s: no data file or a bad header", dn->dir, name);
        return;
    }
    struct dn_replica *r = dnode_find_locked(dn, id);
    if (r && r->gs >= gs)
        return; /* a stale meta file of an older generation */
    if (!r && !(r = dnode_add_locked(dn, id, gs)))
        return;
    r->gs = gs;
    r->ctype = ctype;
    r->bpc = bpc;
    r->finalized = true;
    r->writing = false;
    dnode_set_lengths_locked(dn, r, (uint64_t)dst.st_size, (uint64_t)mst.st_size);
}

int dnode_scan_dir(struct datanode *dn, char *err, size_t errlen)
{
    DIR *d = opendir(dn->dir);
    if (!d) {
        snprintf(err, errlen, "cannot open %s: %s", dn->dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    pthread_mutex_lock(&dn->lock);
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, "blk_", 4) == 0)
            scan_one(dn, dirfd(d), e->d_name);
    pthread_mutex_unlock(&dn->lock);
    closedir(d);
    return 0;
}

/* ---- the NameNode's calls ---- */

int datanode_delete_block(struct datanode *dn, uint64_t block_id)
{
    char d[PATH_CAP], m[PATH_CAP];
    pthread_mutex_lock(&dn->lock);
    struct dn_replica *r = dnode_find_locked(dn, block_id);
    if (!r) {
        pthread_mutex_unlock(&dn->lock);
        return -1;
    }
    dnode_data_path(dn, r->id, d, sizeof d);
    dnode_meta_path(dn, r->id, r->gs, m, sizeof m);
    unlink(d);
    unlink(m);
    dnode_unlink_locked(dn, r);
    if (r->writing)
        r->removed = true; /* the writer frees it when it is done */
    else
        free(r);
    pthread_mutex_unlock(&dn->lock);
    return 0;
}

int datanode_truncate_block(struct datanode *dn, uint64_t block_id, uint64_t new_len, uint64_t new_genstamp)
{
    int rc = -1, dfd = -1, mfd = -1;
    pthread_mutex_lock(&dn->lock);
    struct dn_replica *r = dnode_find_locked(dn, block_id);
    if (!r || r->writing || new_len > r->len || dnode_open_locked(dn, r, true, &dfd, &mfd) < 0)
        goto out;
    uint64_t nchunks = (new_len + r->bpc - 1) / r->bpc;
    uint64_t meta_len = DN_META_HDR + dnode_csum_size(r->ctype) * nchunks;
    if (ftruncate(dfd, (off_t)new_len) < 0 || ftruncate(mfd, (off_t)meta_len) < 0)
        goto out;
    if (new_len % r->bpc && dnode_rechecksum(dfd, mfd, r->ctype, r->bpc, new_len - 1, new_len, new_len) < 0)
        goto out;
    dnode_set_lengths_locked(dn, r, new_len, meta_len);
    if (new_genstamp && dnode_set_gs_locked(dn, r, new_genstamp) < 0)
        goto out;
    rc = 0;
out:
    pthread_mutex_unlock(&dn->lock);
    if (dfd >= 0)
        close(dfd);
    if (mfd >= 0)
        close(mfd);
    return rc;
}

int64_t datanode_block_length(struct datanode *dn, uint64_t block_id)
{
    pthread_mutex_lock(&dn->lock);
    struct dn_replica *r = dnode_find_locked(dn, block_id);
    int64_t len = r ? (int64_t)r->len : -1;
    pthread_mutex_unlock(&dn->lock);
    return len;
}

void datanode_stats(struct datanode *dn, uint64_t *capacity, uint64_t *dfs_used, uint64_t *remaining)
{
    pthread_mutex_lock(&dn->lock);
    *dfs_used = dn->used;
    pthread_mutex_unlock(&dn->lock);
    struct statvfs vs;
    if (dn->capacity) {
        /* A volume of a set size, as a DataNode with a capacity limit reports it. */
        *capacity = dn->capacity;
        *remaining = dn->capacity > *dfs_used ? dn->capacity - *dfs_used : 0;
    } else if (statvfs(dn->dir, &vs) == 0) {
        *capacity = (uint64_t)vs.f_blocks * vs.f_frsize;
        *remaining = (uint64_t)vs.f_bavail * vs.f_frsize;
    } else {
        *capacity = *remaining = 0;
    }
}
