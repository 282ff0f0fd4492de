/*
 * nn_proto.c: namespace attributes and blocks -> the protos clients read
 * (HdfsFileStatusProto, LocatedBlockProto, LocatedBlocksProto).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "Security.pb-c.h"
#include "nn_ops.h"

void nn_fill_status(struct nn_status_buf *b, const struct fsns_stat *s)
{
    Hadoop__Hdfs__HdfsFileStatusProto st = HADOOP__HDFS__HDFS_FILE_STATUS_PROTO__INIT;
    Hadoop__Hdfs__FsPermissionProto perm = HADOOP__HDFS__FS_PERMISSION_PROTO__INIT;
    b->st = st;
    b->perm = perm;
    b->perm.perm = s->perm;
    b->st.filetype = (Hadoop__Hdfs__HdfsFileStatusProto__FileType)s->type;
    b->st.path.data = (uint8_t *)s->name;
    b->st.path.len = strlen(s->name);
    b->st.length = s->type == 2 ? s->length : 0;
    b->st.permission = &b->perm;
    b->st.owner = (char *)s->owner;
    b->st.group = (char *)s->group;
    b->st.modification_time = (uint64_t)s->mtime;
    b->st.access_time = (uint64_t)s->atime;
    if (s->symlink) {
        b->st.has_symlink = 1;
        b->st.symlink.data = (uint8_t *)s->symlink;
        b->st.symlink.len = strlen(s->symlink);
    }
    b->st.has_block_replication = b->st.has_blocksize = 1;
    b->st.block_replication = s->type == 2 ? s->replication : 0;
    b->st.blocksize = s->type == 2 ? s->block_size : 0;
    b->st.has_fileid = 1;
    b->st.fileid = s->fileid;
    b->st.has_childrennum = 1;
    b->st.childrennum = s->type == 1 ? s->children : 0;
    b->st.has_storagepolicy = 1;
    b->st.storagepolicy = s->storage_policy;
    b->st.has_flags = 1;
    b->st.flags = s->snapshottable ? HADOOP__HDFS__HDFS_FILE_STATUS_PROTO__FLAGS__SNAPSHOT_ENABLED : 0;
}

static Hadoop__Common__TokenProto *empty_token(void)
{
    static Hadoop__Common__TokenProto t = HADOOP__COMMON__TOKEN_PROTO__INIT;
    static char empty[] = "";
    t.kind = empty;
    t.service = empty;
    return &t;
}

Hadoop__Hdfs__LocatedBlockProto *nn_new_located(struct nn *nn, const struct fsns_block *b, uint64_t offset)
{
    /* One allocation holds the block, its extended block, and the arrays. */
    struct lb_mem {
        Hadoop__Hdfs__LocatedBlockProto lb;
        Hadoop__Hdfs__ExtendedBlockProto eb;
        Hadoop__Hdfs__DatanodeInfoProto *locs[1];
        Hadoop__Hdfs__StorageTypeProto types[1];
        char *sids[1];
        char sid[64];
    } *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    Hadoop__Hdfs__LocatedBlockProto lb = HADOOP__HDFS__LOCATED_BLOCK_PROTO__INIT;
    Hadoop__Hdfs__ExtendedBlockProto eb = HADOOP__HDFS__EXTENDED_BLOCK_PROTO__INIT;
    m->lb = lb;
    m->eb = eb;
    m->eb.poolid = (char *)nn->block_pool_id;
    m->eb.blockid = b->id;
    m->eb.generationstamp = b->gs;
    m->eb.has_numbytes = 1;
    m->eb.numbytes = b->len;
    m->lb.b = &m->eb;
    m->lb.offset = offset;
    m->locs[0] = nn_datanode_info(nn);
    m->lb.n_locs = 1;
    m->lb.locs = m->locs;
    m->lb.corrupt = 0;
    m->lb.blocktoken = empty_token();
    m->types[0] = HADOOP__HDFS__STORAGE_TYPE_PROTO__DISK;
    m->lb.n_storagetypes = 1;
    m->lb.storagetypes = m->types;
    snprintf(m->sid, sizeof m->sid, "DS-%s", nn->datanode_uuid);
    m->sids[0] = m->sid;
    m->lb.n_storageids = 1;
    m->lb.storageids = m->sids;
    return &m->lb;
}

void nn_free_located(Hadoop__Hdfs__LocatedBlockProto *lb)
{
    free(lb); /* the first member of its allocation */
}

Hadoop__Hdfs__LocatedBlocksProto *nn_new_located_blocks(struct nn *nn, const struct fsns_stat *st,
                                                        uint64_t offset, uint64_t length)
{
    Hadoop__Hdfs__LocatedBlocksProto *lbs = calloc(1, sizeof *lbs);
    if (!lbs)
        return NULL;
    Hadoop__Hdfs__LocatedBlocksProto init = HADOOP__HDFS__LOCATED_BLOCKS_PROTO__INIT;
    *lbs = init;
    size_t n = st->nblocks;
    bool uc = st->under_construction;
    lbs->filelength = st->length;
    lbs->underconstruction = uc;
    lbs->blocks = calloc(n ? n : 1, sizeof *lbs->blocks);
    if (!lbs->blocks) {
        free(lbs);
        return NULL;
    }
    /* An open file's last block is still being written: report it apart. */
    size_t complete = uc && n > 0 && st->blocks[n - 1].uc ? n - 1 : n;
    uint64_t pos = 0, end = length > UINT64_MAX - offset ? UINT64_MAX : offset + length;
    for (size_t i = 0; i < complete; i++) {
        const struct fsns_block *b = &st->blocks[i];
        uint64_t bstart = pos, bend = pos + b->len;
        pos = bend;
        if (bend <= offset || bstart >= end)
            continue;
        Hadoop__Hdfs__LocatedBlockProto *lb = nn_new_located(nn, b, bstart);
        if (!lb)
            break;
        lbs->blocks[lbs->n_blocks++] = lb;
    }
    if (n > 0) {
        const struct fsns_block *last = &st->blocks[n - 1];
        lbs->lastblock = nn_new_located(nn, last, st->length - last->len);
        lbs->islastblockcomplete = !last->uc;
    } else {
        lbs->islastblockcomplete = 0;
    }
    return lbs;
}

void nn_free_located_blocks(Hadoop__Hdfs__LocatedBlocksProto *lbs)
{
    if (!lbs)
        return;
    for (size_t i = 0; i < lbs->n_blocks; i++)
        nn_free_located(lbs->blocks[i]);
    free(lbs->blocks);
    nn_free_located(lbs->lastblock);
    free(lbs);
}
