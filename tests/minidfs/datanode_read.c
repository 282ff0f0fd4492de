/*
 * datanode_read.c: READ_BLOCK and BLOCK_CHECKSUM.
 *
 * READ_BLOCK: the reply names the replica's checksum and the chunk boundary
 * at or before the requested offset; packets of whole chunks (about 64 KiB
 * of data) follow from there to the requested end rounded up to a chunk
 * (capped at the replica's length), CRCs taken from the meta file, then an
 * empty packet with lastPacketInBlock. The CRC of a final partial chunk is
 * recomputed from the bytes sent, so a writer extending that chunk at the
 * same time cannot make it disagree. sendChecksums=false gets type NULL and
 * no CRCs. A client that read everything says CHECKSUM_OK (read, and the
 * connection may carry another op); one that stops early just closes.
 *
 * BLOCK_CHECKSUM, as HDFS's DataNode does it. The request's numBytes is the
 * length to checksum; "partial" when it is below the replica's length.
 *   MD5CRC: whole replica: MD5 of every CRC in the meta file; partial: MD5 of
 *     the CRCs of its full chunks plus the CRC of the bytes of its last
 *     partial chunk. crcPerBlock counts the CRCs in the meta file.
 *   COMPOSITE_CRC: chunk CRCs composed into one CRC per stripe (stripeLength,
 *     default the checksummed length), 4 bytes big-endian each.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "datanode_internal.h"

/* What an op saw of its replica, and the open files. */
struct snap {
    uint64_t gs, len;
    uint8_t ctype;
    uint32_t bpc;
    int dfd, mfd;
};

/* Looks the op's block up and opens it; on failure an ERROR reply is sent. */
static int open_replica(struct datanode *dn, int fd, const Hadoop__Hdfs__ExtendedBlockProto *b, const char *name,
                        struct snap *s)
{
    s->dfd = s->mfd = -1;
    pthread_mutex_lock(&dn->lock);
    struct dn_replica *r = dnode_find_locked(dn, b->blockid);
    int rc = -1;
    if (!r) {
        pthread_mutex_unlock(&dn->lock);
        dnode_send_status(fd, HADOOP__HDFS__STATUS__ERROR, "Replica not found for %s", name);
        return -1;
    }
    s->gs = r->gs;
    s->len = r->len;
    s->ctype = r->ctype;
    s->bpc = r->bpc;
    if (r->gs >= b->generationstamp)
        rc = dnode_open_locked(dn, r, false, &s->dfd, &s->mfd);
    pthread_mutex_unlock(&dn->lock);
    if (s->gs < b->generationstamp)
        dnode_send_status(fd, HADOOP__HDFS__STATUS__ERROR,
                          "Replica gen stamp < block genstamp, block=%s, replica generation stamp %" PRIu64, name,
                          s->gs);
    else if (rc < 0)
        dnode_send_status(fd, HADOOP__HDFS__STATUS__ERROR, "cannot open the replica of %s", name);
    return rc;
}

static void close_snap(struct snap *s)
{
    if (s->dfd >= 0)
        close(s->dfd);
    if (s->mfd >= 0)
        close(s->mfd);
}

/* ---- READ_BLOCK ---- */

/* Sends chunks [start, end) in packets, then the empty last packet. */
static int send_range(int fd, const struct snap *s, bool sums_on, uint64_t start, uint64_t end)
{
    uint32_t bpc = s->bpc;
    size_t per = bpc >= DN_READ_PACKET_DATA ? bpc : DN_READ_PACKET_DATA - DN_READ_PACKET_DATA % bpc;
    size_t cs = sums_on ? dnode_csum_size(s->ctype) : 0;
    uint8_t *data = malloc(per), *sums = malloc((per / bpc + 1) * 4);
    int rc = -1;
    int64_t seq = 0;
    if (!data || !sums)
        goto out;
    for (uint64_t pos = start; pos < end;) {
        size_t n = end - pos < per ? (size_t)(end - pos) : per;
        size_t nchunks = (n + bpc - 1) / bpc;
        if (pread(s->dfd, data, n, (off_t)pos) != (ssize_t)n)
            goto out; /* cut under us (truncate, delete): the client sees a short read */
        if (cs) {
            if (pread(s->mfd, sums, nchunks * 4, (off_t)(DN_META_HDR + 4 * (pos / bpc))) != (ssize_t)(nchunks * 4))
                goto out;
            if (n % bpc) {
                size_t tail = n % bpc;
                dnode_put_be32(sums + 4 * (nchunks - 1), dnode_crc(s->ctype, data + n - tail, tail));
            }
        }
        if (dnode_send_packet(fd, (int64_t)pos, seq++, false, sums, nchunks * cs, data, n) < 0)
            goto out;
        pos += n;
    }
    rc = dnode_send_packet(fd, (int64_t)end, seq, true, NULL, 0, NULL, 0);
out:
    free(data);
    free(sums);
    return rc;
}

int dnode_op_read(struct datanode *dn, int fd, const uint8_t *msg, size_t len)
{
    Hadoop__Hdfs__OpReadBlockProto *op = hadoop__hdfs__op_read_block_proto__unpack(NULL, len, msg);
    struct snap s = { .dfd = -1, .mfd = -1 };
    char name[320];
    int keep = -1;
    if (!op || !op->header || !op->header->baseheader || !op->header->baseheader->block) {
        dnode_send_status(fd, HADOOP__HDFS__STATUS__ERROR_INVALID, "malformed OpReadBlockProto");
        goto out;
    }
    const Hadoop__Hdfs__ExtendedBlockProto *b = op->header->baseheader->block;
    dnode_block_name(b, name, sizeof name);
    if (!dnode_pool_ok(dn, b)) {
        dnode_send_status(fd, HADOOP__HDFS__STATUS__ERROR_INVALID, "%s is not in block pool %s", name, dn->bpid);
        goto out;
    }
    if (open_replica(dn, fd, b, name, &s) < 0)
        goto out;
    if (op->offset > s.len || op->len > s.len - op->offset) {
        dnode_send_status(fd, HADOOP__HDFS__STATUS__ERROR,
                          "Offset %" PRIu64 " and length %" PRIu64 " don't match block %s ( blockLen %" PRIu64 " )",
                          op->offset, op->len, name, s.len);
        goto out;
    }
    bool sums_on = !(op->has_sendchecksums && !op->sendchecksums) && s.ctype != DN_CSUM_NULL;
    uint64_t start = op->offset - op->offset % s.bpc;
    uint64_t end = op->offset + op->len;
    if (end % s.bpc)
        end += s.bpc - end % s.bpc;
    if (end > s.len)
        end = s.len;

    Hadoop__Hdfs__ChecksumProto ck = HADOOP__HDFS__CHECKSUM_PROTO__INIT;
    ck.type = sums_on ? (Hadoop__Hdfs__ChecksumTypeProto)s.ctype : HADOOP__HDFS__CHECKSUM_TYPE_PROTO__CHECKSUM_NULL;
    ck.bytesperchecksum = s.bpc;
    Hadoop__Hdfs__ReadOpChecksumInfoProto ri = HADOOP__HDFS__READ_OP_CHECKSUM_INFO_PROTO__INIT;
    ri.checksum = &ck;
    ri.chunkoffset = start;
    Hadoop__Hdfs__BlockOpResponseProto r = HADOOP__HDFS__BLOCK_OP_RESPONSE_PROTO__INIT;
    r.status = HADOOP__HDFS__STATUS__SUCCESS;
    r.readopchecksuminfo = &ri;
    if (dnode_send_delimited(fd, &r.base) < 0 || send_range(fd, &s, sums_on, start, end) < 0)
        goto out;

    /* CHECKSUM_OK (or another status) from a client that read it all; a
     * client that stops early or does not bother just closes. */
    if (dnode_wait_readable(fd, DN_KEEPALIVE_MS) == 1) {
        size_t sl;
        bool eof;
        uint8_t *st = dnode_read_delimited(fd, 64, &sl, &eof);
        if (st) {
            Hadoop__Hdfs__ClientReadStatusProto *cs = hadoop__hdfs__client_read_status_proto__unpack(NULL, sl, st);
            if (cs) {
                keep = 0;
                hadoop__hdfs__client_read_status_proto__free_unpacked(cs, NULL);
            }
            free(st);
        }
    }
out:
    close_snap(&s);
    if (op)
        hadoop__hdfs__op_read_block_proto__free_unpacked(op, NULL);
    return keep;
}

/* ---- BLOCK_CHECKSUM ---- */

/* The CRC of the bytes [from, from+n) of the replica, into out (big-endian). */
static int crc_of_range(const struct snap *s, uint64_t from, size_t n, uint8_t out[4])
{
    uint8_t *buf = malloc(n ? n : 1);
    int rc = -1;
    if (buf && pread(s->dfd, buf, n, (off_t)from) == (ssize_t)n) {
        dnode_put_be32(out, dnode_crc(s->ctype, buf, n));
        rc = 0;
    }
    free(buf);
    return rc;
}

/* MD5CRC into md5[16]. */
static int md5crc(const struct snap *s, uint64_t meta_size, uint64_t req, bool partial, uint8_t md5[16])
{
    uint64_t nbytes = meta_size - DN_META_HDR; /* whole: every byte after the header */
    if (partial)
        nbytes = req / s->bpc * 4;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t *buf = malloc(64 << 10);
    int rc = -1;
    if (!ctx || !buf || EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1)
        goto out;
    for (uint64_t done = 0; done < nbytes;) {
        size_t n = nbytes - done < (64 << 10) ? (size_t)(nbytes - done) : (64 << 10);
        if (pread(s->mfd, buf, n, (off_t)(DN_META_HDR + done)) != (ssize_t)n || EVP_DigestUpdate(ctx, buf, n) != 1)
            goto out;
        done += n;
    }
    if (partial && req % s->bpc) {
        uint8_t crc[4];
        if (crc_of_range(s, req - req % s->bpc, (size_t)(req % s->bpc), crc) < 0 ||
            EVP_DigestUpdate(ctx, crc, 4) != 1)
            goto out;
    }
    unsigned int mdlen = 0;
    rc = EVP_DigestFinal_ex(ctx, md5, &mdlen) == 1 && mdlen == 16 ? 0 : -1;
out:
    free(buf);
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* COMPOSITE_CRC into a malloc'd *out of *outlen bytes; -1 with msg on error. */
static int composite(const struct snap *s, uint64_t req, bool partial, uint64_t stripe, uint8_t **out, size_t *outlen,
                     char *msg, size_t cap)
{
    uint64_t dlen = req < s->len ? req : s->len;
    if (stripe == 0 || stripe > dlen)
        stripe = dlen;
    uint64_t full = dlen / s->bpc, tail = dlen % s->bpc;
    uint64_t nstripes = stripe ? (dlen + stripe - 1) / stripe : 0;
    uint8_t *sums = malloc((full + 1) * 4);
    *out = malloc(nstripes * 4 + 1);
    *outlen = 0;
    int rc = -1;
    if (!sums || !*out) {
        snprintf(msg, cap, "out of memory");
        goto out;
    }
    if (pread(s->mfd, sums, (full + (tail && !partial)) * 4, DN_META_HDR) != (ssize_t)((full + (tail && !partial)) * 4)) {
        snprintf(msg, cap, "cannot read the stored checksums");
        goto out;
    }
    if (tail && partial && crc_of_range(s, dlen - tail, (size_t)tail, sums + full * 4) < 0) {
        snprintf(msg, cap, "cannot read the replica");
        goto out;
    }
    uint32_t cur = 0;
    uint64_t pos = 0; /* position within the current stripe */
    for (uint64_t i = 0; i < full + (tail ? 1 : 0); i++) {
        uint64_t n = i < full ? s->bpc : tail;
        uint32_t c = dnode_get_be32(sums + 4 * i);
        cur = s->ctype == DN_CSUM_CRC32C ? crc32c_combine(cur, c, n) : crc32_ieee_combine(cur, c, n);
        pos += n;
        if (pos > stripe) {
            snprintf(msg, cap, "stripe length %" PRIu64 " is not a multiple of %" PRIu32 " bytes per checksum",
                     stripe, s->bpc);
            goto out;
        }
        if (pos == stripe) {
            dnode_put_be32(*out + *outlen, cur);
            *outlen += 4;
            cur = 0;
            pos = 0;
        }
    }
    if (pos > 0) {
        dnode_put_be32(*out + *outlen, cur);
        *outlen += 4;
    }
    rc = 0;
out:
    free(sums);
    if (rc < 0) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

int dnode_op_checksum(struct datanode *dn, int fd, const uint8_t *msg, size_t len)
{
    Hadoop__Hdfs__OpBlockChecksumProto *op = hadoop__hdfs__op_block_checksum_proto__unpack(NULL, len, msg);
    struct snap s = { .dfd = -1, .mfd = -1 };
    char name[320], err[256];
    uint8_t md5[16], *comp = NULL;
    int keep = -1;
    if (!op || !op->header || !op->header->block) {
        dnode_send_status(fd, HADOOP__HDFS__STATUS__ERROR_INVALID, "malformed OpBlockChecksumProto");
        goto out;
    }
    const Hadoop__Hdfs__ExtendedBlockProto *b = op->header->block;
    dnode_block_name(b, name, sizeof name);
    if (!dnode_pool_ok(dn, b)) {
        dnode_send_status(fd, HADOOP__HDFS__STATUS__ERROR_INVALID, "%s is not in block pool %s", name, dn->bpid);
        goto out;
    }
    const Hadoop__Hdfs__BlockChecksumOptionsProto *opt = op->blockchecksumoptions;
    bool comp_mode = opt && opt->has_blockchecksumtype &&
                     opt->blockchecksumtype == HADOOP__HDFS__BLOCK_CHECKSUM_TYPE_PROTO__COMPOSITE_CRC;
    if (opt && opt->has_blockchecksumtype && !comp_mode &&
        opt->blockchecksumtype != HADOOP__HDFS__BLOCK_CHECKSUM_TYPE_PROTO__MD5CRC) {
        dnode_send_status(fd, HADOOP__HDFS__STATUS__ERROR_UNSUPPORTED, "Unrecognized BlockChecksumType: %d",
                          (int)opt->blockchecksumtype);
        goto out;
    }
    if (open_replica(dn, fd, b, name, &s) < 0)
        goto out;
    struct stat mst;
    if (fstat(s.mfd, &mst) < 0 || (uint64_t)mst.st_size < DN_META_HDR) {
        dnode_send_status(fd, HADOOP__HDFS__STATUS__ERROR, "bad meta file for %s", name);
        goto out;
    }
    uint64_t meta_size = (uint64_t)mst.st_size;
    uint64_t req = b->has_numbytes ? b->numbytes : 0;
    size_t cs = dnode_csum_size(s.ctype);
    uint64_t crc_per_block = cs ? (meta_size - DN_META_HDR) / cs : 0;
    bool partial = req < s.len;

    Hadoop__Hdfs__OpBlockChecksumResponseProto cr = HADOOP__HDFS__OP_BLOCK_CHECKSUM_RESPONSE_PROTO__INIT;
    Hadoop__Hdfs__BlockChecksumOptionsProto ro = HADOOP__HDFS__BLOCK_CHECKSUM_OPTIONS_PROTO__INIT;
    ro.has_blockchecksumtype = 1;
    ro.has_stripelength = 1;
    ro.stripelength = opt && opt->has_stripelength ? opt->stripelength : 0;
    if (comp_mode) {
        size_t clen;
        if (s.ctype == DN_CSUM_NULL) {
            dnode_send_status(fd, HADOOP__HDFS__STATUS__ERROR, "no CRCs to compose for %s", name);
            goto out;
        }
        if (composite(&s, req, partial, ro.stripelength, &comp, &clen, err, sizeof err) < 0) {
            dnode_send_status(fd, HADOOP__HDFS__STATUS__ERROR, "%s: %s", name, err);
            goto out;
        }
        ro.blockchecksumtype = HADOOP__HDFS__BLOCK_CHECKSUM_TYPE_PROTO__COMPOSITE_CRC;
        cr.blockchecksum.data = comp;
        cr.blockchecksum.len = clen;
    } else {
        if (md5crc(&s, meta_size, req, partial && crc_per_block > 0, md5) < 0) {
            dnode_send_status(fd, HADOOP__HDFS__STATUS__ERROR, "cannot read the checksums of %s", name);
            goto out;
        }
        ro.blockchecksumtype = HADOOP__HDFS__BLOCK_CHECKSUM_TYPE_PROTO__MD5CRC;
        cr.blockchecksum.data = md5;
        cr.blockchecksum.len = 16;
    }
    cr.bytespercrc = s.bpc;
    cr.crcperblock = crc_per_block;
    cr.has_crctype = 1;
    cr.crctype = (Hadoop__Hdfs__ChecksumTypeProto)s.ctype;
    cr.blockchecksumoptions = &ro;
    Hadoop__Hdfs__BlockOpResponseProto r = HADOOP__HDFS__BLOCK_OP_RESPONSE_PROTO__INIT;
    r.status = HADOOP__HDFS__STATUS__SUCCESS;
    r.checksumresponse = &cr;
    keep = dnode_send_delimited(fd, &r.base);
out:
    free(comp);
    close_snap(&s);
    if (op)
        hadoop__hdfs__op_block_checksum_proto__free_unpacked(op, NULL);
    return keep;
}
