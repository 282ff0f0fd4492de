/*
 * dn.c: see dn.h. Every length read from the socket is checked before use:
 * op messages ≤ 64 KiB, packet headers ≤ 4 KiB, packets ≤ 16 MiB with
 * consistent checksum and data sizes, chunk sizes 1 B..1 MiB. A bad request
 * gets an ERROR response where the protocol has one, then the connection
 * closes; other connections never notice.
 */
#define _GNU_SOURCE
#include "dn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "datatransfer.pb-c.h"
#include "dn_crc.h"
#include "pbwire.h"

#define DT_VERSION 28
#define OP_WRITE_BLOCK 80
#define OP_READ_BLOCK 81
#define OP_BLOCK_CHECKSUM 85
#define MAX_OP_MSG (64u << 10)
#define MAX_PKT_HDR 4096u
#define MAX_PACKET (16u << 20)
#define MAX_BPC (1u << 20)
#define READ_PACKET_DATA (64u << 10)
#define META_HDR 7
#define MAX_CONNS 256

struct datanode {
    int lfd, port;
    char dir[4096];
    char bpid[256];
    pthread_t acceptor;
    atomic_bool stopping;
    pthread_mutex_t lock;             /* conns[], nthreads, and replica edits */
    pthread_cond_t idle;
    int conns[MAX_CONNS];             /* live connection fds, -1 = free */
    int nthreads;
    _Atomic int64_t used;             /* bytes in finalized and open replicas */
};

struct dn_conn {
    struct datanode *dn;
    int fd;
    int slot;
};

/* ---- I/O helpers ---- */

static int read_full(int fd, void *p, size_t n)
{
    uint8_t *b = p;
    while (n) {
        ssize_t r = recv(fd, b, n, 0);
        if (r == 0)
            return -1;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

static int write_full(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads a varint-delimited message (≤ max bytes) into a malloc'd buffer. */
static uint8_t *read_delimited(int fd, size_t max, size_t *len)
{
    uint64_t v = 0;
    for (int i = 0;; i++) {
        uint8_t b;
        if (i == 5 || read_full(fd, &b, 1) < 0)
            return NULL;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80))
            break;
    }
    if (v > max)
        return NULL;
    uint8_t *p = malloc(v ? v : 1);
    if (!p || read_full(fd, p, v) < 0) {
        free(p);
        return NULL;
    }
    *len = v;
    return p;
}

static int send_delimited(int fd, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t stackbuf[512], *p = n + 10 <= sizeof stackbuf ? stackbuf : malloc(n + 10);
    if (!p)
        return -1;
    size_t h = pb_put_varint(p, n);
    protobuf_c_message_pack(m, p + h);
    int rc = write_full(fd, p, h + n);
    if (p != stackbuf)
        free(p);
    return rc;
}

static int send_status(int fd, Hadoop__Hdfs__Status st, const char *msg)
{
    Hadoop__Hdfs__BlockOpResponseProto r = HADOOP__HDFS__BLOCK_OP_RESPONSE_PROTO__INIT;
    r.status = st;
    r.message = (char *)msg;
    if (msg && st != HADOOP__HDFS__STATUS__SUCCESS)
        fprintf(stderr, "minidfs: datanode: %s\n", msg);
    return send_delimited(fd, &r.base);
}

static void block_paths(struct datanode *dn, uint64_t id, char *data, char *meta, size_t cap)
{
    snprintf(data, cap, "%s/blk_%llu", dn->dir, (unsigned long long)id);
    snprintf(meta, cap, "%s/blk_%llu.meta", dn->dir, (unsigned long long)id);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads a meta header: checksum type and bytes per checksum. */
static int meta_header(int mfd, enum dn_crc_type *type, uint32_t *bpc)
{
    uint8_t h[META_HDR];
    if (pread(mfd, h, META_HDR, 0) != META_HDR)
        return -1;
    *type = (enum dn_crc_type)h[2];
    *bpc = get_be32(h + 3);
    if ((*type != DN_CRC32 && *type != DN_CRC32C) || *bpc == 0 || *bpc > MAX_BPC)
        return -1;
    return 0;
}

/* Recomputes the stored CRCs of every chunk overlapping [from, to) from the
 * bytes on disk. */
static int rechecksum(int dfd, int mfd, enum dn_crc_type type, uint32_t bpc, uint64_t from, uint64_t to)
{
    uint8_t *chunk = malloc(bpc);
    if (!chunk)
        return -1;
    int rc = 0;
    for (uint64_t c = from / bpc; c * bpc < to; c++) {
        ssize_t n = pread(dfd, chunk, bpc, (off_t)(c * bpc));
        if (n < 0) {
            rc = -1;
            break;
        }
        uint8_t crc[4];
        put_be32(crc, dn_crc(type, chunk, (size_t)n));
        if (pwrite(mfd, crc, 4, (off_t)(META_HDR + 4 * c)) != 4) {
            rc = -1;
            break;
        }
    }
    free(chunk);
    return rc;
}

static bool pool_ok(struct datanode *dn, const Hadoop__Hdfs__ExtendedBlockProto *b)
{
    return b && b->poolid && strcmp(b->poolid, dn->bpid) == 0;
}

/* ---- WRITE_BLOCK ---- */

static void send_ack(int fd, int64_t seqno, Hadoop__Hdfs__Status st)
{
    Hadoop__Hdfs__PipelineAckProto a = HADOOP__HDFS__PIPELINE_ACK_PROTO__INIT;
    a.seqno = seqno;
    a.n_reply = 1;
    a.reply = &st;
    send_delimited(fd, &a.base);
}

static void op_write(struct datanode *dn, int fd, const uint8_t *msg, size_t len)
{
    Hadoop__Hdfs__OpWriteBlockProto *op = hadoop__hdfs__op_write_block_proto__unpack(NULL, len, msg);
    if (!op || !op->header->baseheader) {
        send_status(fd, HADOOP__HDFS__STATUS__ERROR_INVALID, "malformed OpWriteBlockProto");
        goto out;
    }
    const Hadoop__Hdfs__ExtendedBlockProto *b = op->header->baseheader->block;
    if (!pool_ok(dn, b)) {
        send_status(fd, HADOOP__HDFS__STATUS__ERROR_INVALID, "block of another block pool");
        goto out;
    }
    uint32_t bpc = op->requestedchecksum->bytesperchecksum;
    enum dn_crc_type type = (enum dn_crc_type)op->requestedchecksum->type;
    if (bpc == 0 || bpc > MAX_BPC || (type != DN_CRC32 && type != DN_CRC32C)) {
        send_status(fd, HADOOP__HDFS__STATUS__ERROR_INVALID, "unsupported checksum");
        goto out;
    }
    char dpath[4200], mpath[4200];
    block_paths(dn, b->blockid, dpath, mpath, sizeof dpath);
    bool create = op->stage == HADOOP__HDFS__OP_WRITE_BLOCK_PROTO__BLOCK_CONSTRUCTION_STAGE__PIPELINE_SETUP_CREATE;
    int dfd = open(dpath, O_RDWR | O_CREAT | (create ? O_TRUNC : 0) | O_CLOEXEC, 0644);
    int mfd = open(mpath, O_RDWR | O_CREAT | (create ? O_TRUNC : 0) | O_CLOEXEC, 0644);
    if (dfd < 0 || mfd < 0) {
        send_status(fd, HADOOP__HDFS__STATUS__ERROR, "cannot open the replica files");
        goto close_files;
    }
    struct stat sst;
    fstat(dfd, &sst);
    uint64_t cur = (uint64_t)sst.st_size, start_len = cur;
    if (!create) {
        enum dn_crc_type have;
        uint32_t have_bpc;
        if (cur == 0 && fstat(mfd, &sst) == 0 && sst.st_size == 0) {
            /* An empty replica (append after a block boundary is a new block). */
        } else if (meta_header(mfd, &have, &have_bpc) < 0 || have != type || have_bpc != bpc) {
            send_status(fd, HADOOP__HDFS__STATUS__ERROR, "checksum of the existing replica differs from the request");
            goto close_files;
        }
        if (b->has_numbytes && b->numbytes != cur) {
            char m[160];
            snprintf(m, sizeof m, "replica blk_%llu has %llu bytes, the client expects %llu",
                     (unsigned long long)b->blockid, (unsigned long long)cur, (unsigned long long)b->numbytes);
            send_status(fd, HADOOP__HDFS__STATUS__ERROR, m);
            goto close_files;
        }
    }
    uint8_t mh[META_HDR] = { 0, 1, (uint8_t)type };
    put_be32(mh + 3, bpc);
    if (pwrite(mfd, mh, META_HDR, 0) != META_HDR) {
        send_status(fd, HADOOP__HDFS__STATUS__ERROR, "cannot write the meta file");
        goto close_files;
    }
    {
        Hadoop__Hdfs__BlockOpResponseProto r = HADOOP__HDFS__BLOCK_OP_RESPONSE_PROTO__INIT;
        r.status = HADOOP__HDFS__STATUS__SUCCESS;
        r.firstbadlink = "";
        if (send_delimited(fd, &r.base) < 0)
            goto close_files;
    }
    uint8_t *pkt = NULL;
    size_t pkt_cap = 0;
    for (;;) {
        uint8_t lens[6];
        if (read_full(fd, lens, 6) < 0)
            break; /* the client went away: the replica stays as written */
        uint32_t plen = get_be32(lens);
        uint16_t hlen = (uint16_t)(lens[4] << 8 | lens[5]);
        if (plen < 4 || plen > MAX_PACKET || hlen == 0 || hlen > MAX_PKT_HDR) {
            fprintf(stderr, "minidfs: datanode: bad packet lengths %u/%u\n", plen, hlen);
            break;
        }
        size_t body = (size_t)plen - 4 + hlen;
        if (body > pkt_cap) {
            uint8_t *np = realloc(pkt, body);
            if (!np)
                break;
            pkt = np;
            pkt_cap = body;
        }
        if (read_full(fd, pkt, body) < 0)
            break;
        Hadoop__Hdfs__PacketHeaderProto *ph = hadoop__hdfs__packet_header_proto__unpack(NULL, hlen, pkt);
        if (!ph) {
            fprintf(stderr, "minidfs: datanode: malformed packet header\n");
            break;
        }
        int64_t seqno = ph->seqno, off = ph->offsetinblock;
        int32_t dlen = ph->datalen;
        bool last = ph->lastpacketinblock;
        hadoop__hdfs__packet_header_proto__free_unpacked(ph, NULL);
        size_t nchunks = dlen > 0 ? ((size_t)dlen + bpc - 1) / bpc : 0;
        if (dlen < 0 || (size_t)plen - 4 != nchunks * 4 + (size_t)dlen || off < 0 || (uint64_t)off > cur) {
            fprintf(stderr, "minidfs: datanode: inconsistent packet (seq %lld)\n", (long long)seqno);
            send_ack(fd, seqno, HADOOP__HDFS__STATUS__ERROR);
            break;
        }
        const uint8_t *sums = pkt + hlen, *data = sums + 4 * nchunks;
        bool bad = false;
        for (size_t i = 0; i < nchunks && !bad; i++) {
            size_t n = (size_t)dlen - i * bpc < bpc ? (size_t)dlen - i * bpc : bpc;
            bad = dn_crc(type, data + i * bpc, n) != get_be32(sums + 4 * i);
        }
        if (bad) {
            fprintf(stderr, "minidfs: datanode: checksum error in blk_%llu at %lld\n",
                    (unsigned long long)b->blockid, (long long)off);
            send_ack(fd, seqno, HADOOP__HDFS__STATUS__ERROR_CHECKSUM);
            break;
        }
        if (dlen > 0) {
            if (pwrite(dfd, data, (size_t)dlen, off) != dlen ||
                rechecksum(dfd, mfd, type, bpc, (uint64_t)off, (uint64_t)off + (uint64_t)dlen) < 0) {
                send_ack(fd, seqno, HADOOP__HDFS__STATUS__ERROR);
                break;
            }
            if ((uint64_t)off + (uint64_t)dlen > cur) {
                atomic_fetch_add(&dn->used, (int64_t)((uint64_t)off + (uint64_t)dlen - cur));
                cur = (uint64_t)off + (uint64_t)dlen;
            }
        }
        send_ack(fd, seqno, HADOOP__HDFS__STATUS__SUCCESS);
        if (last)
            break;
    }
    free(pkt);
    (void)start_len;
close_files:
    if (dfd >= 0)
        close(dfd);
    if (mfd >= 0)
        close(mfd);
out:
    if (op)
        hadoop__hdfs__op_write_block_proto__free_unpacked(op, NULL);
}

/* ---- READ_BLOCK ---- */

static int send_packet(int fd, int64_t offset, int64_t seqno, bool last, const uint8_t *sums, size_t nsums,
                       const uint8_t *data, size_t dlen)
{
    Hadoop__Hdfs__PacketHeaderProto h = HADOOP__HDFS__PACKET_HEADER_PROTO__INIT;
    h.offsetinblock = offset;
    h.seqno = seqno;
    h.lastpacketinblock = last;
    h.datalen = (int32_t)dlen;
    uint8_t hb[64];
    size_t hl = protobuf_c_message_pack(&h.base, hb);
    uint8_t pre[6];
    put_be32(pre, (uint32_t)(4 + nsums * 4 + dlen));
    pre[4] = (uint8_t)(hl >> 8);
    pre[5] = (uint8_t)hl;
    struct iovec iov[4] = { { pre, 6 }, { hb, hl }, { (void *)sums, nsums * 4 }, { (void *)data, dlen } };
    struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 4 };
    size_t total = 6 + hl + nsums * 4 + dlen;
    while (total) {
        ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        total -= (size_t)w;
        while (w > 0 && mh.msg_iovlen) {
            if ((size_t)w >= mh.msg_iov[0].iov_len) {
                w -= (ssize_t)mh.msg_iov[0].iov_len;
                mh.msg_iov++;
                mh.msg_iovlen--;
            } else {
                mh.msg_iov[0].iov_base = (uint8_t *)mh.msg_iov[0].iov_base + w;
                mh.msg_iov[0].iov_len -= (size_t)w;
                w = 0;
            }
        }
    }
    return 0;
}

static void op_read(struct datanode *dn, int fd, const uint8_t *msg, size_t len)
{
    Hadoop__Hdfs__OpReadBlockProto *op = hadoop__hdfs__op_read_block_proto__unpack(NULL, len, msg);
    int dfd = -1, mfd = -1;
    uint8_t *data = NULL, *sums = NULL;
    if (!op || !op->header->baseheader) {
        send_status(fd, HADOOP__HDFS__STATUS__ERROR_INVALID, "malformed OpReadBlockProto");
        goto out;
    }
    const Hadoop__Hdfs__ExtendedBlockProto *b = op->header->baseheader->block;
    if (!pool_ok(dn, b)) {
        send_status(fd, HADOOP__HDFS__STATUS__ERROR_INVALID, "block of another block pool");
        goto out;
    }
    char dpath[4200], mpath[4200], m[200];
    block_paths(dn, b->blockid, dpath, mpath, sizeof dpath);
    dfd = open(dpath, O_RDONLY | O_CLOEXEC);
    mfd = open(mpath, O_RDONLY | O_CLOEXEC);
    enum dn_crc_type type;
    uint32_t bpc;
    if (dfd < 0 || mfd < 0 || meta_header(mfd, &type, &bpc) < 0) {
        snprintf(m, sizeof m, "Replica not found for BP-block blk_%llu", (unsigned long long)b->blockid);
        send_status(fd, HADOOP__HDFS__STATUS__ERROR, m);
        goto out;
    }
    struct stat st;
    fstat(dfd, &st);
    uint64_t blen = (uint64_t)st.st_size;
    if (op->offset > blen || op->len > blen - op->offset) {
        snprintf(m, sizeof m, "Offset %llu and length %llu don't match block blk_%llu (blockLen %llu)",
                 (unsigned long long)op->offset, (unsigned long long)op->len, (unsigned long long)b->blockid,
                 (unsigned long long)blen);
        send_status(fd, HADOOP__HDFS__STATUS__ERROR, m);
        goto out;
    }
    uint64_t start = op->offset - op->offset % bpc;
    uint64_t end = op->offset + op->len;
    end = end % bpc ? end + (bpc - end % bpc) : end;
    if (end > blen)
        end = blen;
    Hadoop__Hdfs__ChecksumProto ck = HADOOP__HDFS__CHECKSUM_PROTO__INIT;
    ck.type = (Hadoop__Hdfs__ChecksumTypeProto)type;
    ck.bytesperchecksum = bpc;
    Hadoop__Hdfs__ReadOpChecksumInfoProto ri = HADOOP__HDFS__READ_OP_CHECKSUM_INFO_PROTO__INIT;
    ri.checksum = &ck;
    ri.chunkoffset = start;
    Hadoop__Hdfs__BlockOpResponseProto r = HADOOP__HDFS__BLOCK_OP_RESPONSE_PROTO__INIT;
    r.status = HADOOP__HDFS__STATUS__SUCCESS;
    r.readopchecksuminfo = &ri;
    if (send_delimited(fd, &r.base) < 0)
        goto out;
    /* Whole chunks per packet, about 64 KiB of data each. */
    size_t per = bpc >= READ_PACKET_DATA ? bpc : READ_PACKET_DATA - READ_PACKET_DATA % bpc;
    data = malloc(per);
    sums = malloc((per / bpc + 1) * 4);
    if (!data || !sums)
        goto out;
    int64_t seq = 0;
    for (uint64_t pos = start; pos < end;) {
        size_t n = end - pos < per ? (size_t)(end - pos) : per;
        size_t nchunks = (n + bpc - 1) / bpc;
        if (pread(dfd, data, n, (off_t)pos) != (ssize_t)n ||
            pread(mfd, sums, nchunks * 4, (off_t)(META_HDR + 4 * (pos / bpc))) != (ssize_t)(nchunks * 4))
            goto out; /* the replica changed under us: the client sees a short read */
        if (send_packet(fd, (int64_t)pos, seq++, false, sums, nchunks, data, n) < 0)
            goto out;
        pos += n;
    }
    if (send_packet(fd, (int64_t)end, seq, true, NULL, 0, NULL, 0) < 0)
        goto out;
    /* The client says CHECKSUM_OK (or just closes); either is fine. */
    size_t sl;
    uint8_t *status = read_delimited(fd, 64, &sl);
    free(status);
out:
    free(data);
    free(sums);
    if (dfd >= 0)
        close(dfd);
    if (mfd >= 0)
        close(mfd);
    if (op)
        hadoop__hdfs__op_read_block_proto__free_unpacked(op, NULL);
}

/* ---- BLOCK_CHECKSUM: MD5 over the replica's stored CRCs, as HDFS ---- */

static void op_checksum(struct datanode *dn, int fd, const uint8_t *msg, size_t len)
{
    Hadoop__Hdfs__OpBlockChecksumProto *op = hadoop__hdfs__op_block_checksum_proto__unpack(NULL, len, msg);
    int dfd = -1, mfd = -1;
    uint8_t *sums = NULL;
    if (!op || !pool_ok(dn, op->header->block)) {
        send_status(fd, HADOOP__HDFS__STATUS__ERROR_INVALID, "malformed OpBlockChecksumProto");
        goto out;
    }
    char dpath[4200], mpath[4200];
    block_paths(dn, op->header->block->blockid, dpath, mpath, sizeof dpath);
    dfd = open(dpath, O_RDONLY | O_CLOEXEC);
    mfd = open(mpath, O_RDONLY | O_CLOEXEC);
    enum dn_crc_type type;
    uint32_t bpc;
    struct stat st;
    if (dfd < 0 || mfd < 0 || meta_header(mfd, &type, &bpc) < 0 || fstat(dfd, &st) < 0) {
        send_status(fd, HADOOP__HDFS__STATUS__ERROR, "replica not found");
        goto out;
    }
    uint64_t blen = (uint64_t)st.st_size;
    if (op->header->block->has_numbytes && op->header->block->numbytes < blen)
        blen = op->header->block->numbytes; /* the length the NameNode knows */
    uint64_t ncrc = (blen + bpc - 1) / bpc;
    sums = malloc(ncrc ? ncrc * 4 : 1);
    if (!sums || pread(mfd, sums, ncrc * 4, META_HDR) != (ssize_t)(ncrc * 4)) {
        send_status(fd, HADOOP__HDFS__STATUS__ERROR, "cannot read the checksums");
        goto out;
    }
    if (blen % bpc) {
        /* The NameNode's length may end inside a chunk that holds more on disk. */
        uint8_t *tail = malloc(bpc);
        ssize_t n = tail ? pread(dfd, tail, blen % bpc, (off_t)(blen - blen % bpc)) : -1;
        if (n == (ssize_t)(blen % bpc))
            put_be32(sums + 4 * (ncrc - 1), dn_crc(type, tail, (size_t)n));
        free(tail);
    }
    uint8_t md5[16];
    unsigned int mdlen = 0;
    EVP_Digest(sums, ncrc * 4, md5, &mdlen, EVP_md5(), NULL);
    Hadoop__Hdfs__OpBlockChecksumResponseProto cr = HADOOP__HDFS__OP_BLOCK_CHECKSUM_RESPONSE_PROTO__INIT;
    cr.bytespercrc = bpc;
    cr.crcperblock = ncrc;
    cr.blockchecksum.data = md5;
    cr.blockchecksum.len = 16;
    cr.has_crctype = 1;
    cr.crctype = (Hadoop__Hdfs__ChecksumTypeProto)type;
    Hadoop__Hdfs__BlockOpResponseProto r = HADOOP__HDFS__BLOCK_OP_RESPONSE_PROTO__INIT;
    r.status = HADOOP__HDFS__STATUS__SUCCESS;
    r.checksumresponse = &cr;
    send_delimited(fd, &r.base);
out:
    free(sums);
    if (dfd >= 0)
        close(dfd);
    if (mfd >= 0)
        close(mfd);
    if (op)
        hadoop__hdfs__op_block_checksum_proto__free_unpacked(op, NULL);
}

/* ---- connections ---- */

static void *conn_main(void *arg)
{
    struct dn_conn *c = arg;
    struct datanode *dn = c->dn;
    int fd = c->fd;
    /* One op per connection is what clients do; serve ops until EOF anyway. */
    for (;;) {
        uint8_t hdr[3];
        if (read_full(fd, hdr, 3) < 0)
            break;
        int version = hdr[0] << 8 | hdr[1];
        if (version != DT_VERSION) {
            fprintf(stderr, "minidfs: datanode: data transfer version %d, expected %d\n", version, DT_VERSION);
            send_status(fd, HADOOP__HDFS__STATUS__ERROR, "Version Mismatch");
            break;
        }
        size_t len;
        uint8_t *msg = read_delimited(fd, MAX_OP_MSG, &len);
        if (!msg) {
            fprintf(stderr, "minidfs: datanode: truncated or oversized op message\n");
            break;
        }
        if (hdr[2] == OP_WRITE_BLOCK)
            op_write(dn, fd, msg, len);
        else if (hdr[2] == OP_READ_BLOCK)
            op_read(dn, fd, msg, len);
        else if (hdr[2] == OP_BLOCK_CHECKSUM)
            op_checksum(dn, fd, msg, len);
        else {
            char m[64];
            snprintf(m, sizeof m, "unsupported op %d", hdr[2]);
            send_status(fd, HADOOP__HDFS__STATUS__ERROR_UNSUPPORTED, m);
            free(msg);
            break;
        }
        free(msg);
        if (hdr[2] != OP_BLOCK_CHECKSUM)
            break; /* a write or a read leaves the stream in an op-specific state */
    }
    pthread_mutex_lock(&dn->lock);
    dn->conns[c->slot] = -1;
    close(fd);
    dn->nthreads--;
    pthread_cond_broadcast(&dn->idle);
    pthread_mutex_unlock(&dn->lock);
    free(c);
    return NULL;
}

static void *accept_main(void *arg)
{
    struct datanode *dn = arg;
    while (!atomic_load(&dn->stopping)) {
        int fd = accept4(dn->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (atomic_load(&dn->stopping))
                break;
            usleep(10000);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct timeval tv = { 60, 0 };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        pthread_mutex_lock(&dn->lock);
        int slot = -1;
        for (int i = 0; i < MAX_CONNS; i++)
            if (dn->conns[i] < 0) {
                slot = i;
                break;
            }
        struct dn_conn *c = slot >= 0 ? malloc(sizeof *c) : NULL;
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (c) {
            *c = (struct dn_conn){ dn, fd, slot };
            dn->conns[slot] = fd;
            dn->nthreads++;
            if (pthread_create(&t, &at, conn_main, c) != 0) {
                dn->conns[slot] = -1;
                dn->nthreads--;
                free(c);
                c = NULL;
            }
        }
        pthread_attr_destroy(&at);
        pthread_mutex_unlock(&dn->lock);
        if (!c) {
            fprintf(stderr, "minidfs: datanode: too many connections, refusing one\n");
            close(fd);
        }
    }
    return NULL;
}

struct datanode *datanode_start(const struct datanode_config *cfg, char *err, size_t errlen)
{
    if (mkdir(cfg->data_dir, 0755) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", cfg->data_dir, strerror(errno));
        return NULL;
    }
    struct datanode *dn = calloc(1, sizeof *dn);
    if (!dn) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(dn->dir, sizeof dn->dir, "%s", cfg->data_dir);
    snprintf(dn->bpid, sizeof dn->bpid, "%s", cfg->block_pool_id);
    pthread_mutex_init(&dn->lock, NULL);
    pthread_cond_init(&dn->idle, NULL);
    for (int i = 0; i < MAX_CONNS; i++)
        dn->conns[i] = -1;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->port) };
    int one = 1;
    if (inet_pton(AF_INET, cfg->host, &sa.sin_addr) != 1 ||
        (dn->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
        setsockopt(dn->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(dn->lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(dn->lfd, 256) < 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", cfg->host, cfg->port, strerror(errno));
        if (dn->lfd > 0)
            close(dn->lfd);
        free(dn);
        return NULL;
    }
    socklen_t sl = sizeof sa;
    getsockname(dn->lfd, (struct sockaddr *)&sa, &sl);
    dn->port = ntohs(sa.sin_port);
    if (pthread_create(&dn->acceptor, NULL, accept_main, dn) != 0) {
        snprintf(err, errlen, "cannot start the accept thread");
        close(dn->lfd);
        free(dn);
        return NULL;
    }
    return dn;
}

int datanode_port(const struct datanode *dn)
{
    return dn->port;
}

void datanode_stop(struct datanode *dn)
{
    if (!dn)
        return;
    atomic_store(&dn->stopping, true);
    shutdown(dn->lfd, SHUT_RDWR);
    pthread_join(dn->acceptor, NULL);
    close(dn->lfd);
    pthread_mutex_lock(&dn->lock);
    for (int i = 0; i < MAX_CONNS; i++)
        if (dn->conns[i] >= 0)
            shutdown(dn->conns[i], SHUT_RDWR);
    while (dn->nthreads > 0)
        pthread_cond_wait(&dn->idle, &dn->lock);
    pthread_mutex_unlock(&dn->lock);
    free(dn);
}

int datanode_delete_block(struct datanode *dn, uint64_t block_id)
{
    char d[4200], m[4200];
    block_paths(dn, block_id, d, m, sizeof d);
    struct stat st;
    if (stat(d, &st) == 0)
        atomic_fetch_sub(&dn->used, (int64_t)st.st_size);
    int rc = unlink(d);
    unlink(m);
    return rc;
}

int datanode_truncate_block(struct datanode *dn, uint64_t block_id, uint64_t new_len, uint64_t new_genstamp)
{
    char d[4200], m[4200];
    block_paths(dn, block_id, d, m, sizeof d);
    int dfd = open(d, O_RDWR | O_CLOEXEC), mfd = open(m, O_RDWR | O_CLOEXEC), rc = -1;
    enum dn_crc_type type;
    uint32_t bpc;
    struct stat st;
    if (dfd >= 0 && mfd >= 0 && meta_header(mfd, &type, &bpc) == 0 && fstat(dfd, &st) == 0 &&
        new_len <= (uint64_t)st.st_size && ftruncate(dfd, (off_t)new_len) == 0) {
        uint64_t ncrc = (new_len + bpc - 1) / bpc;
        if (ftruncate(mfd, (off_t)(META_HDR + 4 * ncrc)) == 0 &&
            (new_len % bpc == 0 || rechecksum(dfd, mfd, type, bpc, new_len - 1, new_len) == 0)) {
            atomic_fetch_sub(&dn->used, (int64_t)((uint64_t)st.st_size - new_len));
            rc = 0;
        }
    }
    if (dfd >= 0)
        close(dfd);
    if (mfd >= 0)
        close(mfd);
    (void)new_genstamp; /* replicas are named by id only */
    return rc;
}

int64_t datanode_block_length(struct datanode *dn, uint64_t block_id)
{
    char d[4200], m[4200];
    block_paths(dn, block_id, d, m, sizeof d);
    struct stat st;
    return stat(d, &st) == 0 ? (int64_t)st.st_size : -1;
}

void datanode_stats(struct datanode *dn, uint64_t *capacity, uint64_t *dfs_used, uint64_t *remaining)
{
    struct statvfs vs;
    int64_t used = atomic_load(&dn->used);
    *dfs_used = used > 0 ? (uint64_t)used : 0;
    if (statvfs(dn->dir, &vs) == 0) {
        *capacity = (uint64_t)vs.f_blocks * vs.f_frsize;
        *remaining = (uint64_t)vs.f_bavail * vs.f_frsize;
    } else {
        *capacity = *remaining = 0;
    }
}
