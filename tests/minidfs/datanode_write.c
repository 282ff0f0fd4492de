/*
 * datanode_write.c: WRITE_BLOCK, a pipeline of one.
 *
 * Setup (by stage):
 *   PIPELINE_SETUP_CREATE           a new replica under the block's generation
 *                                   stamp (a stale replica of that id that no
 *                                   one is writing is replaced).
 *   PIPELINE_SETUP_APPEND[_RECOVERY] continue an existing replica whose length
 *                                   is minBytesRcvd (a missing one with
 *                                   minBytesRcvd 0 is created).
 *   PIPELINE_SETUP_STREAMING_RECOVERY / PIPELINE_CLOSE_RECOVERY
 *                                   continue one whose length is within
 *                                   [minBytesRcvd, maxBytesRcvd].
 * The non-create stages move the replica to latestGenerationStamp when that
 * is newer (the meta file is renamed), and wait a little for an earlier
 * writer of the same replica to finish. A replica keeps the checksum type it
 * was created with; packets in another type or chunk size are verified in
 * theirs and the stored CRCs are recomputed from the bytes on disk.
 *
 * Then packets until lastPacketInBlock: each is bounded, its CRCs verified
 * (a mismatch is acked ERROR_CHECKSUM and ends the write), its data written
 * at offsetInBlock (no gaps), and acked. The last packet finalizes the
 * replica before its ack. A client that goes away leaves the replica as
 * written so far (not finalized).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datanode_internal.h"

#define STAGE(x) HADOOP__HDFS__OP_WRITE_BLOCK_PROTO__BLOCK_CONSTRUCTION_STAGE__##x
#define PATH_CAP 4352
#define WAIT_WRITER_MS 5000

/* One write in progress. */
struct wstate {
    struct datanode *dn;
    int sock;
    struct dn_replica *r; /* NULL once released */
    int dfd, mfd;
    uint8_t dtype;        /* the replica's checksum type and chunk size */
    uint32_t dbpc;
    uint8_t ptype;        /* the packets' (the request's) */
    uint32_t pbpc;
    uint64_t len;         /* data bytes on disk */
    char name[320];       /* the block, for messages */
};

/* Gives up the replica: another writer, truncate or delete may have it now. */
static void release(struct wstate *w, bool finalized)
{
    pthread_mutex_lock(&w->dn->lock);
    if (w->r) {
        if (finalized)
            w->r->finalized = true;
        w->r->writing = false;
        if (w->r->removed)
            free(w->r);
        w->r = NULL;
    }
    pthread_mutex_unlock(&w->dn->lock);
}

/* Creates the files of a fresh replica; needs the lock. */
static int create_locked(struct wstate *w, uint64_t id, uint64_t gs, char *msg, size_t cap)
{
    struct datanode *dn = w->dn;
    char d[PATH_CAP], m[PATH_CAP];
    struct dn_replica *old = dnode_find_locked(dn, id);
    if (old) {
        /* Left over from an earlier life of this id (e.g. a restarted NameNode). */
        dnode_log("replacing a stale replica blk_%" PRIu64 "_%" PRIu64, old->id, old->gs);
        dnode_meta_path(dn, old->id, old->gs, m, sizeof m);
        unlink(m);
        dnode_unlink_locked(dn, old);
        free(old);
    }
    struct dn_replica *r = dnode_add_locked(dn, id, gs);
    if (!r) {
        snprintf(msg, cap, "out of memory");
        return -1;
    }
    r->ctype = w->ptype;
    r->bpc = w->pbpc;
    dnode_data_path(dn, id, d, sizeof d);
    dnode_meta_path(dn, id, gs, m, sizeof m);
    uint8_t hdr[DN_META_HDR];
    dnode_meta_header(hdr, w->ptype, w->pbpc);
    w->dfd = open(d, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    w->mfd = open(m, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->dfd < 0 || w->mfd < 0 || pwrite(w->mfd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr) {
        snprintf(msg, cap, "cannot create the files of %s", w->name);
        unlink(d);
        unlink(m);
        dnode_unlink_locked(dn, r);
        free(r);
        return -1;
    }
    dnode_set_lengths_locked(dn, r, 0, DN_META_HDR);
    w->r = r;
    return 0;
}

/* Finds the replica of a non-create stage, waiting a little for an earlier
 * writer of it to let go. Needs the lock (drops it while waiting). */
static struct dn_replica *find_idle_locked(struct datanode *dn, uint64_t id)
{
    for (int waited = 0;; waited += 20) {
        struct dn_replica *r = dnode_find_locked(dn, id);
        if (!r || !r->writing || waited >= WAIT_WRITER_MS || atomic_load(&dn->stopping))
            return r;
        pthread_mutex_unlock(&dn->lock);
        usleep(20 * 1000);
        pthread_mutex_lock(&dn->lock);
    }
}

/* Takes the replica for the op's stage. 0, or -1 with *st and msg set. */
static int setup(struct wstate *w, const Hadoop__Hdfs__OpWriteBlockProto *op, Hadoop__Hdfs__Status *st, char *msg,
                 size_t cap)
{
    struct datanode *dn = w->dn;
    const Hadoop__Hdfs__ExtendedBlockProto *b = op->header->baseheader->block;
    uint64_t id = b->blockid;
    int stage = (int)op->stage;
    *st = HADOOP__HDFS__STATUS__ERROR;
    if (stage == STAGE(TRANSFER_RBW) || stage == STAGE(TRANSFER_FINALIZED)) {
        *st = HADOOP__HDFS__STATUS__ERROR_UNSUPPORTED;
        snprintf(msg, cap, "replica transfers between DataNodes are not supported (%s)", w->name);
        return -1;
    }
    if (stage != STAGE(PIPELINE_SETUP_CREATE) && stage != STAGE(PIPELINE_SETUP_APPEND) &&
        stage != STAGE(PIPELINE_SETUP_APPEND_RECOVERY) && stage != STAGE(PIPELINE_SETUP_STREAMING_RECOVERY) &&
        stage != STAGE(PIPELINE_CLOSE_RECOVERY)) {
        *st = HADOOP__HDFS__STATUS__ERROR_INVALID;
        snprintf(msg, cap, "stage %d is not a pipeline setup stage (%s)", stage, w->name);
        return -1;
    }
    bool append = stage == STAGE(PIPELINE_SETUP_APPEND) || stage == STAGE(PIPELINE_SETUP_APPEND_RECOVERY);
    int rc = -1;
    pthread_mutex_lock(&dn->lock);
    if (stage == STAGE(PIPELINE_SETUP_CREATE)) {
        struct dn_replica *r = dnode_find_locked(dn, id);
        if (r && r->writing) {
            *st = HADOOP__HDFS__STATUS__ERROR_EXISTS;
            snprintf(msg, cap, "Block %s already exists in state RBW and thus cannot be created.", w->name);
        } else {
            rc = create_locked(w, id, b->generationstamp, msg, cap);
        }
        goto out;
    }
    struct dn_replica *r = find_idle_locked(dn, id);
    if (!r && append && op->minbytesrcvd == 0) {
        rc = create_locked(w, id, b->generationstamp, msg, cap);
        goto out;
    }
    if (!r) {
        snprintf(msg, cap, "Cannot %s a non-existent replica %s", append ? "append to" : "recover", w->name);
        goto out;
    }
    if (r->writing) {
        snprintf(msg, cap, "replica %s is still being written by another client", w->name);
        goto out;
    }
    if (b->generationstamp > r->gs) {
        snprintf(msg, cap, "replica %s has the older generation stamp %" PRIu64, w->name, r->gs);
        goto out;
    }
    if (append && r->len != op->minbytesrcvd) {
        snprintf(msg, cap, "replica %s has %" PRIu64 " bytes, the client expects %" PRIu64, w->name, r->len,
                 op->minbytesrcvd);
        goto out;
    }
    if (!append && (r->len < op->minbytesrcvd || r->len > op->maxbytesrcvd)) {
        snprintf(msg, cap, "replica %s has %" PRIu64 " bytes, the client expects %" PRIu64 " to %" PRIu64, w->name,
                 r->len, op->minbytesrcvd, op->maxbytesrcvd);
        goto out;
    }
    uint64_t gs = r->gs;
    if (op->latestgenerationstamp > gs)
        gs = op->latestgenerationstamp;
    if (dnode_set_gs_locked(dn, r, gs) < 0) {
        snprintf(msg, cap, "cannot move %s to generation stamp %" PRIu64, w->name, gs);
        goto out;
    }
    if (dnode_open_locked(dn, r, true, &w->dfd, &w->mfd) < 0) {
        snprintf(msg, cap, "cannot open the files of %s", w->name);
        goto out;
    }
    r->writing = true;
    r->finalized = false;
    w->r = r;
    rc = 0;
out:
    if (rc == 0) {
        w->dtype = w->r->ctype;
        w->dbpc = w->r->bpc;
        w->len = w->r->len;
    }
    pthread_mutex_unlock(&dn->lock);
    return rc;
}

/* Writes one verified packet's data at off and brings the stored CRCs up to
 * date. 0 or -1. */
static int store(struct wstate *w, int64_t off, const uint8_t *sums, size_t nchunks, const uint8_t *data, size_t dlen)
{
    uint64_t start = (uint64_t)off, end = start + dlen;
    uint64_t newlen = end > w->len ? end : w->len;
    if (pwrite(w->dfd, data, dlen, (off_t)start) != (ssize_t)dlen)
        return -1;
    size_t dcs = dnode_csum_size(w->dtype);
    if (dcs) {
        /* The packet's CRCs are the stored ones when its chunks are the
         * replica's chunks: same type and size, aligned start, and a short
         * last chunk only where the replica ends. */
        bool same = w->dtype == w->ptype && w->dbpc == w->pbpc && start % w->dbpc == 0 &&
                    (dlen % w->dbpc == 0 || end >= w->len);
        if (same) {
            size_t n = nchunks * 4;
            if (pwrite(w->mfd, sums, n, (off_t)(DN_META_HDR + 4 * (start / w->dbpc))) != (ssize_t)n)
                return -1;
        } else if (dnode_rechecksum(w->dfd, w->mfd, w->dtype, w->dbpc, start, end, newlen) < 0) {
            return -1;
        }
    }
    uint64_t meta_len = DN_META_HDR + dcs * ((newlen + w->dbpc - 1) / w->dbpc);
    w->len = newlen;
    pthread_mutex_lock(&w->dn->lock);
    if (w->r)
        dnode_set_lengths_locked(w->dn, w->r, newlen, meta_len);
    pthread_mutex_unlock(&w->dn->lock);
    return 0;
}

/* Receives packets until the last one, an error, or the client leaving. */
static void receive(struct wstate *w)
{
    uint8_t *buf = NULL;
    size_t cap = 0;
    size_t pcs = dnode_csum_size(w->ptype);
    for (;;) {
        uint8_t pre[6];
        if (dnode_read_full(w->sock, pre, sizeof pre) < 0)
            break; /* the client went away: the replica stays as written */
        uint32_t plen = dnode_get_be32(pre);
        uint32_t hlen = (uint32_t)pre[4] << 8 | pre[5];
        if (plen < 4 || plen - 4 > DN_MAX_PACKET || hlen == 0 || hlen > DN_MAX_PKT_HDR) {
            dnode_log("%s: bad packet lengths %" PRIu32 "/%" PRIu32 ", closing", w->name, plen, hlen);
            break;
        }
        size_t body = hlen + (size_t)(plen - 4);
        if (body > cap) {
            uint8_t *nb = realloc(buf, body);
            if (!nb)
                break;
            buf = nb;
            cap = body;
        }
        if (dnode_read_full(w->sock, buf, body) < 0) {
            dnode_log("%s: the client went away inside a packet", w->name);
            break;
        }
        Hadoop__Hdfs__PacketHeaderProto *h = hadoop__hdfs__packet_header_proto__unpack(NULL, hlen, buf);
        if (!h) {
            dnode_log("%s: malformed packet header, closing", w->name);
            break;
        }
        int64_t off = h->offsetinblock, seqno = h->seqno;
        int32_t dlen = h->datalen;
        bool last = h->lastpacketinblock, sync = h->has_syncblock && h->syncblock;
        hadoop__hdfs__packet_header_proto__free_unpacked(h, NULL);

        uint64_t nchunks = dlen > 0 ? ((uint64_t)dlen + w->pbpc - 1) / w->pbpc : 0;
        if (dlen < 0 || (uint64_t)plen - 4 != nchunks * pcs + (uint64_t)dlen) {
            dnode_log("%s: packet %" PRId64 " has %" PRIu32 " bytes of checksums and data for %" PRId32
                      " data bytes, closing", w->name, seqno, plen - 4, dlen);
            release(w, false);
            dnode_send_ack(w->sock, seqno, HADOOP__HDFS__STATUS__ERROR);
            break;
        }
        if (dlen > 0 && (off < 0 || (uint64_t)off > w->len)) {
            dnode_log("%s: packet %" PRId64 " starts at %" PRId64 " but the replica has %" PRIu64 " bytes", w->name,
                      seqno, off, w->len);
            release(w, false);
            dnode_send_ack(w->sock, seqno, HADOOP__HDFS__STATUS__ERROR);
            break;
        }
        const uint8_t *sums = buf + hlen, *data = sums + nchunks * pcs;
        uint64_t bad = UINT64_MAX;
        for (uint64_t i = 0; pcs && i < nchunks && bad == UINT64_MAX; i++) {
            size_t n = (uint64_t)dlen - i * w->pbpc < w->pbpc ? (size_t)((uint64_t)dlen - i * w->pbpc) : w->pbpc;
            if (dnode_crc(w->ptype, data + i * w->pbpc, n) != dnode_get_be32(sums + 4 * i))
                bad = i;
        }
        if (bad != UINT64_MAX) {
            dnode_log("%s: checksum error in packet %" PRId64 " at block offset %" PRIu64, w->name, seqno,
                      (uint64_t)off + bad * w->pbpc);
            release(w, false);
            dnode_send_ack(w->sock, seqno, HADOOP__HDFS__STATUS__ERROR_CHECKSUM);
            break;
        }
        if (dlen > 0 && store(w, off, sums, (size_t)nchunks, data, (size_t)dlen) < 0) {
            dnode_log("%s: cannot write to disk", w->name);
            release(w, false);
            dnode_send_ack(w->sock, seqno, HADOOP__HDFS__STATUS__ERROR);
            break;
        }
        if (sync) {
            fdatasync(w->dfd);
            fdatasync(w->mfd);
        }
        if (last)
            release(w, true); /* finalized before the client hears of it */
        if (dnode_send_ack(w->sock, seqno, HADOOP__HDFS__STATUS__SUCCESS) < 0 || last)
            break;
    }
    free(buf);
}

int dnode_op_write(struct datanode *dn, int fd, const uint8_t *msg, size_t len)
{
    Hadoop__Hdfs__OpWriteBlockProto *op = hadoop__hdfs__op_write_block_proto__unpack(NULL, len, msg);
    struct wstate w = { .dn = dn, .sock = fd, .dfd = -1, .mfd = -1 };
    char err[512];
    Hadoop__Hdfs__Status st;
    if (!op || !op->header || !op->header->baseheader || !op->header->baseheader->block ||
        !op->requestedchecksum) {
        dnode_send_status(fd, HADOOP__HDFS__STATUS__ERROR_INVALID, "malformed OpWriteBlockProto");
        goto out;
    }
    const Hadoop__Hdfs__ExtendedBlockProto *b = op->header->baseheader->block;
    dnode_block_name(b, w.name, sizeof w.name);
    if (!dnode_pool_ok(dn, b)) {
        dnode_send_status(fd, HADOOP__HDFS__STATUS__ERROR_INVALID, "%s is not in block pool %s", w.name, dn->bpid);
        goto out;
    }
    w.ptype = (uint8_t)op->requestedchecksum->type;
    w.pbpc = op->requestedchecksum->bytesperchecksum;
    if ((int)op->requestedchecksum->type < DN_CSUM_NULL || (int)op->requestedchecksum->type > DN_CSUM_CRC32C ||
        w.pbpc == 0 || w.pbpc > DN_MAX_BPC) {
        dnode_send_status(fd, HADOOP__HDFS__STATUS__ERROR_INVALID, "unsupported checksum: type %d, %" PRIu32
                          " bytes per checksum", (int)op->requestedchecksum->type, w.pbpc);
        goto out;
    }
    if (op->n_targets > 0) {
        /* We cannot forward; name the first target as the bad link. */
        char link[300] = "";
        const Hadoop__Hdfs__DatanodeInfoProto *t = op->targets[0];
        if (t && t->id && t->id->ipaddr)
            snprintf(link, sizeof link, "%.250s:%" PRIu32, t->id->ipaddr, t->id->xferport);
        Hadoop__Hdfs__BlockOpResponseProto r = HADOOP__HDFS__BLOCK_OP_RESPONSE_PROTO__INIT;
        r.status = HADOOP__HDFS__STATUS__ERROR;
        r.firstbadlink = link;
        snprintf(err, sizeof err, "%s: this DataNode cannot forward to a pipeline of %zu more", w.name,
                 op->n_targets);
        r.message = err;
        dnode_log("%s", err);
        dnode_send_delimited(fd, &r.base);
        goto out;
    }
    if (setup(&w, op, &st, err, sizeof err) < 0) {
        dnode_send_status(fd, st, "%s", err);
        goto out;
    }
    /* HDFS always sets firstBadLink, empty on success. The Go client reads
     * 5 bytes before it parses this reply, so the 2-byte bare SUCCESS would
     * leave it waiting: keep the field. */
    Hadoop__Hdfs__BlockOpResponseProto ok = HADOOP__HDFS__BLOCK_OP_RESPONSE_PROTO__INIT;
    ok.status = HADOOP__HDFS__STATUS__SUCCESS;
    ok.firstbadlink = "";
    if (dnode_send_delimited(fd, &ok.base) == 0)
        receive(&w);
    release(&w, false);
out:
    if (w.dfd >= 0)
        close(w.dfd);
    if (w.mfd >= 0)
        close(w.mfd);
    if (op)
        hadoop__hdfs__op_write_block_proto__free_unpacked(op, NULL);
    return -1; /* clients never reuse a write connection */
}
