/*
 * test_datanode: unit tests of the minidfs DataNode and of crc32c.
 *
 * Starts the DataNode on a loopback port with a fresh temporary directory
 * and drives it through sockets with hand-built DataTransferProtocol frames
 * (protobuf-c messages): writes in the Go client's packet pattern (create,
 * append, recovery, heartbeats), reads at odd offsets, MD5 and composite
 * block checksums, the NameNode-facing calls, malformed and hostile input,
 * concurrent transfers, and a restart on the same directory. Prints
 * "N passed, N failed"; exits non-zero on any failure.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "datanode.h"
#include "datatransfer.pb-c.h"

static const char *POOL = "BP-4242-127.0.0.1-1700000000000";
static int passed, failed;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static char tmpdir[256];

static void check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(bool ok, const char *fmt, ...)
{
    pthread_mutex_lock(&count_lock);
    if (ok) {
        passed++;
    } else {
        failed++;
        va_list ap;
        va_start(ap, fmt);
        fprintf(stdout, "FAIL: ");
        vfprintf(stdout, fmt, ap);
        fprintf(stdout, "\n");
        va_end(ap);
    }
    pthread_mutex_unlock(&count_lock);
}

/* ---- wire helpers (the client side) ---- */

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static uint8_t *random_bytes(size_t n, uint64_t seed)
{
    uint8_t *p = malloc(n ? n : 1);
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        p[i] = (uint8_t)(s >> 24);
    }
    return p;
}

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    struct timeval tv = { 10, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int xwrite(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static int xread(int fd, void *p, size_t n)
{
    uint8_t *b = p;
    while (n) {
        ssize_t r = recv(fd, b, n, 0);
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

/* True when the peer has closed (EOF or reset) within a few seconds. */
static bool peer_closed(int fd)
{
    uint8_t b[256];
    for (;;) {
        ssize_t r = recv(fd, b, sizeof b, 0);
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return true;
        if (r < 0)
            return false; /* timeout */
    }
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static int send_msg(int fd, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n + 10);
    size_t h = put_varint(buf, n);
    protobuf_c_message_pack(m, buf + h);
    int rc = xwrite(fd, buf, h + n);
    free(buf);
    return rc;
}

static int send_op(int fd, int op, const ProtobufCMessage *m)
{
    uint8_t hdr[3] = { 0, 28, (uint8_t)op };
    return xwrite(fd, hdr, 3) < 0 ? -1 : send_msg(fd, m);
}

/* Reads one varint-delimited message into a malloc'd buffer. */
static uint8_t *recv_msg(int fd, size_t *len)
{
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        uint8_t b;
        if (xread(fd, &b, 1) < 0)
            return NULL;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80))
            break;
    }
    if (v > (1u << 20))
        return NULL;
    uint8_t *p = malloc(v + 1);
    if (xread(fd, p, v) < 0) {
        free(p);
        return NULL;
    }
    *len = v;
    return p;
}

static Hadoop__Hdfs__BlockOpResponseProto *recv_resp(int fd)
{
    size_t n;
    uint8_t *p = recv_msg(fd, &n);
    if (!p)
        return NULL;
    Hadoop__Hdfs__BlockOpResponseProto *r = hadoop__hdfs__block_op_response_proto__unpack(NULL, n, p);
    free(p);
    return r;
}

static void free_resp(Hadoop__Hdfs__BlockOpResponseProto *r)
{
    if (r)
        hadoop__hdfs__block_op_response_proto__free_unpacked(r, NULL);
}

static uint32_t crc_of(int ctype, const uint8_t *p, size_t n)
{
    return ctype == 2 ? crc32c(0, p, n) : ctype == 1 ? crc32_ieee(0, p, n) : 0;
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- WRITE_BLOCK ---- */

struct wopts {
    uint64_t id, gs, numbytes;
    int stage;               /* BlockConstructionStage */
    uint64_t minb, maxb, latest;
    int ctype;               /* of the packets */
    uint32_t bpc;
    const char *pool;
    int ntargets;
};

static Hadoop__Hdfs__ExtendedBlockProto mkblock(const char *pool, uint64_t id, uint64_t gs, bool has_n, uint64_t n)
{
    Hadoop__Hdfs__ExtendedBlockProto b = HADOOP__HDFS__EXTENDED_BLOCK_PROTO__INIT;
    b.poolid = (char *)pool;
    b.blockid = id;
    b.generationstamp = gs;
    b.has_numbytes = has_n;
    b.numbytes = n;
    return b;
}

/* Connects and sends OpWriteBlockProto; returns the fd and the reply. */
static int w_open(int port, const struct wopts *o, Hadoop__Hdfs__BlockOpResponseProto **resp)
{
    Hadoop__Hdfs__ExtendedBlockProto b = mkblock(o->pool ? o->pool : POOL, o->id, o->gs, true, o->numbytes);
    Hadoop__Hdfs__BaseHeaderProto bh = HADOOP__HDFS__BASE_HEADER_PROTO__INIT;
    bh.block = &b;
    Hadoop__Hdfs__ClientOperationHeaderProto ch = HADOOP__HDFS__CLIENT_OPERATION_HEADER_PROTO__INIT;
    ch.baseheader = &bh;
    ch.clientname = "test-client";
    Hadoop__Hdfs__ChecksumProto ck = HADOOP__HDFS__CHECKSUM_PROTO__INIT;
    ck.type = (Hadoop__Hdfs__ChecksumTypeProto)o->ctype;
    ck.bytesperchecksum = o->bpc;
    Hadoop__Hdfs__OpWriteBlockProto op = HADOOP__HDFS__OP_WRITE_BLOCK_PROTO__INIT;
    op.header = &ch;
    op.stage = (Hadoop__Hdfs__OpWriteBlockProto__BlockConstructionStage)o->stage;
    op.pipelinesize = (uint32_t)o->ntargets;
    op.minbytesrcvd = o->minb;
    op.maxbytesrcvd = o->maxb;
    op.latestgenerationstamp = o->latest;
    op.requestedchecksum = &ck;
    Hadoop__Hdfs__DatanodeIDProto did = HADOOP__HDFS__DATANODE_IDPROTO__INIT;
    did.ipaddr = "127.0.0.9";
    did.hostname = "other";
    did.datanodeuuid = "u";
    did.xferport = 9866;
    Hadoop__Hdfs__DatanodeInfoProto di = HADOOP__HDFS__DATANODE_INFO_PROTO__INIT;
    di.id = &did;
    Hadoop__Hdfs__DatanodeInfoProto *targets[1] = { &di };
    if (o->ntargets) {
        op.n_targets = 1;
        op.targets = targets;
    }
    *resp = NULL;
    int fd = dial(port);
    if (fd < 0)
        return -1;
    if (send_op(fd, 80, &op.base) < 0 || !(*resp = recv_resp(fd))) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends one packet; corrupt flips a data bit after the CRCs are computed. */
static int w_packet(int fd, int64_t off, int64_t seq, bool last, const uint8_t *data, size_t n, int ctype,
                    uint32_t bpc, bool corrupt, bool sync)
{
    size_t nch = ctype ? (n + bpc - 1) / bpc : 0;
    Hadoop__Hdfs__PacketHeaderProto h = HADOOP__HDFS__PACKET_HEADER_PROTO__INIT;
    h.offsetinblock = off;
    h.seqno = seq;
    h.lastpacketinblock = last;
    h.datalen = (int32_t)n;
    h.has_syncblock = sync;
    h.syncblock = sync;
    uint8_t hb[64];
    size_t hl = protobuf_c_message_pack(&h.base, hb);
    size_t total = 6 + hl + nch * 4 + n;
    uint8_t *p = malloc(total);
    be32(p, (uint32_t)(4 + nch * 4 + n));
    p[4] = (uint8_t)(hl >> 8);
    p[5] = (uint8_t)hl;
    memcpy(p + 6, hb, hl);
    for (size_t i = 0; i < nch; i++) {
        size_t len = n - i * bpc < bpc ? n - i * bpc : bpc;
        be32(p + 6 + hl + 4 * i, crc_of(ctype, data + i * bpc, len));
    }
    if (n)
        memcpy(p + 6 + hl + nch * 4, data, n);
    if (corrupt && n)
        p[total - 1] ^= 0x40;
    int rc = xwrite(fd, p, total);
    free(p);
    return rc;
}

/* Reads one PipelineAckProto. 0, or -1 when none came. */
static int w_ack(int fd, int64_t *seq, int *status)
{
    size_t n;
    uint8_t *p = recv_msg(fd, &n);
    if (!p)
        return -1;
    Hadoop__Hdfs__PipelineAckProto *a = hadoop__hdfs__pipeline_ack_proto__unpack(NULL, n, p);
    free(p);
    if (!a)
        return -1;
    *seq = a->seqno;
    *status = a->n_reply ? (int)a->reply[0] : -1;
    hadoop__hdfs__pipeline_ack_proto__free_unpacked(a, NULL);
    return 0;
}

/* Writes data at block offset `start` as the Go client packs it (a short
 * packet first to reach a chunk boundary, then 64 KiB packets), with a
 * heartbeat after the first packet, then the empty last packet. Checks every
 * ack. Returns 0 on success, else the failing reply/ack status (or -1). */
static int write_block(int port, const struct wopts *o, uint64_t start, const uint8_t *data, size_t n)
{
    Hadoop__Hdfs__BlockOpResponseProto *r;
    int fd = w_open(port, o, &r);
    if (fd < 0)
        return -1;
    int st = r->status;
    free_resp(r);
    if (st != 0) {
        close(fd);
        return st;
    }
    uint64_t off = start;
    size_t done = 0;
    int64_t seq = 1;
    int64_t aseq;
    int ast;
    bool hb = false;
    while (done < n) {
        size_t len = n - done < 65536 ? n - done : 65536;
        if (off % o->bpc && len > o->bpc - off % o->bpc)
            len = o->bpc - off % o->bpc;
        if (w_packet(fd, (int64_t)off, seq, false, data + done, len, o->ctype, o->bpc, false, false) < 0 ||
            w_ack(fd, &aseq, &ast) < 0 || aseq != seq || ast != 0) {
            close(fd);
            return ast > 0 ? ast : -1;
        }
        seq++;
        off += len;
        done += len;
        if (!hb) {
            hb = true;
            if (w_packet(fd, 0, -1, false, NULL, 0, o->ctype, o->bpc, false, false) < 0 || w_ack(fd, &aseq, &ast) < 0 ||
                aseq != -1 || ast != 0) {
                close(fd);
                return -1;
            }
        }
    }
    int rc = -1;
    if (w_packet(fd, (int64_t)off, seq, true, NULL, 0, o->ctype, o->bpc, false, false) == 0 &&
        w_ack(fd, &aseq, &ast) == 0 && aseq == seq)
        rc = ast;
    close(fd);
    return rc;
}

static struct wopts create_opts(uint64_t id, uint64_t gs, int ctype, uint32_t bpc)
{
    return (struct wopts){ .id = id, .gs = gs, .stage = 6, .ctype = ctype, .bpc = bpc };
}

static struct wopts append_opts(uint64_t id, uint64_t gs, uint64_t len, uint64_t newgs, int ctype, uint32_t bpc)
{
    return (struct wopts){ .id = id, .gs = gs, .numbytes = len, .stage = 0, .minb = len, .maxb = len,
                           .latest = newgs, .ctype = ctype, .bpc = bpc };
}

/* ---- READ_BLOCK ---- */

struct rres {
    int status;
    char msg[300];
    int ctype;
    uint32_t bpc;
    uint64_t chunkoff;
    uint8_t *data;
    size_t n;
    int crc_errors;
    bool got_last;
    bool offsets_ok;
};

/* One read op on fd; sendck < 0 leaves sendChecksums unset. */
static int read_on(int fd, uint64_t id, uint64_t gs, uint64_t off, uint64_t len, int sendck, struct rres *rr)
{
    memset(rr, 0, sizeof *rr);
    rr->status = -1;
    rr->offsets_ok = true;
    Hadoop__Hdfs__ExtendedBlockProto b = mkblock(POOL, id, gs, true, off + len);
    Hadoop__Hdfs__BaseHeaderProto bh = HADOOP__HDFS__BASE_HEADER_PROTO__INIT;
    bh.block = &b;
    Hadoop__Hdfs__ClientOperationHeaderProto ch = HADOOP__HDFS__CLIENT_OPERATION_HEADER_PROTO__INIT;
    ch.baseheader = &bh;
    ch.clientname = "test-client";
    Hadoop__Hdfs__OpReadBlockProto op = HADOOP__HDFS__OP_READ_BLOCK_PROTO__INIT;
    op.header = &ch;
    op.offset = off;
    op.len = len;
    if (sendck >= 0) {
        op.has_sendchecksums = 1;
        op.sendchecksums = sendck;
    }
    if (send_op(fd, 81, &op.base) < 0)
        return -1;
    Hadoop__Hdfs__BlockOpResponseProto *r = recv_resp(fd);
    if (!r)
        return -1;
    rr->status = r->status;
    if (r->message)
        snprintf(rr->msg, sizeof rr->msg, "%s", r->message);
    if (r->status != 0 || !r->readopchecksuminfo) {
        free_resp(r);
        return 0;
    }
    rr->ctype = r->readopchecksuminfo->checksum->type;
    rr->bpc = r->readopchecksuminfo->checksum->bytesperchecksum;
    rr->chunkoff = r->readopchecksuminfo->chunkoffset;
    free_resp(r);
    size_t cap = 1 << 16;
    rr->data = malloc(cap);
    uint64_t expect_off = rr->chunkoff;
    for (;;) {
        uint8_t pre[6];
        if (xread(fd, pre, 6) < 0)
            return -1;
        uint32_t plen = get32(pre);
        uint16_t hl = (uint16_t)(pre[4] << 8 | pre[5]);
        uint8_t *body = malloc(hl + plen);
        if (xread(fd, body, hl + plen - 4) < 0) {
            free(body);
            return -1;
        }
        Hadoop__Hdfs__PacketHeaderProto *h = hadoop__hdfs__packet_header_proto__unpack(NULL, hl, body);
        if (!h) {
            free(body);
            return -1;
        }
        size_t dl = (size_t)h->datalen, nch = rr->ctype ? (dl + rr->bpc - 1) / rr->bpc : 0;
        if ((uint64_t)h->offsetinblock != expect_off || plen - 4 != nch * 4 + dl)
            rr->offsets_ok = false;
        const uint8_t *sums = body + hl, *d = sums + nch * 4;
        for (size_t i = 0; i < nch; i++) {
            size_t l = dl - i * rr->bpc < rr->bpc ? dl - i * rr->bpc : rr->bpc;
            if (crc_of(rr->ctype, d + i * rr->bpc, l) != get32(sums + 4 * i))
                rr->crc_errors++;
        }
        while (rr->n + dl > cap)
            cap *= 2;
        rr->data = realloc(rr->data, cap);
        memcpy(rr->data + rr->n, d, dl);
        rr->n += dl;
        expect_off += dl;
        bool last = h->lastpacketinblock;
        hadoop__hdfs__packet_header_proto__free_unpacked(h, NULL);
        free(body);
        if (last) {
            rr->got_last = dl == 0;
            break;
        }
    }
    return 0;
}

static int send_read_status(int fd)
{
    Hadoop__Hdfs__ClientReadStatusProto s = HADOOP__HDFS__CLIENT_READ_STATUS_PROTO__INIT;
    s.status = HADOOP__HDFS__STATUS__CHECKSUM_OK;
    return send_msg(fd, &s.base);
}

static int read_block(int port, uint64_t id, uint64_t gs, uint64_t off, uint64_t len, struct rres *rr)
{
    int fd = dial(port);
    if (fd < 0)
        return -1;
    int rc = read_on(fd, id, gs, off, len, -1, rr);
    if (rc == 0 && rr->status == 0)
        send_read_status(fd);
    close(fd);
    return rc;
}

/* Reads [off, off+len) and compares with want (the whole block's bytes). */
static void check_read(int port, uint64_t id, uint64_t gs, uint64_t off, uint64_t len, const uint8_t *want,
                       int ctype, uint32_t bpc, const char *what)
{
    struct rres rr;
    int rc = read_block(port, id, gs, off, len, &rr);
    uint64_t co = off - off % bpc;
    bool ok = rc == 0 && rr.status == 0 && rr.ctype == ctype && rr.bpc == bpc && rr.chunkoff == co &&
              rr.n >= off + len - co && memcmp(rr.data, want + co, (size_t)(off + len - co)) == 0 &&
              rr.crc_errors == 0 && rr.got_last && rr.offsets_ok;
    check(ok, "%s: read blk %llu [%llu,+%llu): rc %d status %d (%s) type %d bpc %u chunkoff %llu n %zu crcerr %d",
          what, (unsigned long long)id, (unsigned long long)off, (unsigned long long)len, rc, rr.status, rr.msg,
          rr.ctype, rr.bpc, (unsigned long long)rr.chunkoff, rr.n, rr.crc_errors);
    free(rr.data);
}

/* ---- BLOCK_CHECKSUM ---- */

static Hadoop__Hdfs__BlockOpResponseProto *block_checksum(int port, const char *pool, uint64_t id, uint64_t gs,
                                                          uint64_t numbytes, int mode, uint64_t stripe)
{
    Hadoop__Hdfs__ExtendedBlockProto b = mkblock(pool, id, gs, true, numbytes);
    Hadoop__Hdfs__BaseHeaderProto bh = HADOOP__HDFS__BASE_HEADER_PROTO__INIT;
    bh.block = &b;
    Hadoop__Hdfs__BlockChecksumOptionsProto opt = HADOOP__HDFS__BLOCK_CHECKSUM_OPTIONS_PROTO__INIT;
    Hadoop__Hdfs__OpBlockChecksumProto op = HADOOP__HDFS__OP_BLOCK_CHECKSUM_PROTO__INIT;
    op.header = &bh;
    if (mode) {
        opt.has_blockchecksumtype = 1;
        opt.blockchecksumtype = (Hadoop__Hdfs__BlockChecksumTypeProto)mode;
        opt.has_stripelength = stripe != 0;
        opt.stripelength = stripe;
        op.blockchecksumoptions = &opt;
    }
    int fd = dial(port);
    if (fd < 0)
        return NULL;
    Hadoop__Hdfs__BlockOpResponseProto *r = send_op(fd, 85, &op.base) == 0 ? recv_resp(fd) : NULL;
    close(fd);
    return r;
}

/* MD5 over the big-endian CRCs of data's chunks (HDFS's MD5CRC of a block). */
static void expected_md5(const uint8_t *data, size_t n, int ctype, uint32_t bpc, uint8_t out[16])
{
    size_t nch = (n + bpc - 1) / bpc;
    uint8_t *sums = malloc(nch * 4 + 1);
    for (size_t i = 0; i < nch; i++) {
        size_t l = n - i * bpc < bpc ? n - i * bpc : bpc;
        be32(sums + 4 * i, crc_of(ctype, data + i * bpc, l));
    }
    unsigned int ml;
    EVP_Digest(sums, nch * 4, out, &ml, EVP_md5(), NULL);
    free(sums);
}

static void check_md5(int port, uint64_t id, uint64_t gs, uint64_t numbytes, const uint8_t *data, size_t n_on_disk,
                      int ctype, uint32_t bpc, const char *what)
{
    Hadoop__Hdfs__BlockOpResponseProto *r = block_checksum(port, POOL, id, gs, numbytes, 0, 0);
    uint8_t want[16];
    expected_md5(data, numbytes < n_on_disk ? numbytes : n_on_disk, ctype, bpc, want);
    bool ok = r && r->status == 0 && r->checksumresponse && r->checksumresponse->blockchecksum.len == 16 &&
              memcmp(r->checksumresponse->blockchecksum.data, want, 16) == 0 &&
              r->checksumresponse->bytespercrc == bpc && r->checksumresponse->crctype == (unsigned)ctype &&
              r->checksumresponse->crcperblock == (n_on_disk + bpc - 1) / bpc;
    check(ok, "%s: MD5CRC of blk %llu (numBytes %llu): status %d", what, (unsigned long long)id,
          (unsigned long long)numbytes, r ? (int)r->status : -1);
    free_resp(r);
}

/* ---- tests ---- */

static void test_crc(void)
{
    const char *v = "123456789";
    check(crc32c(0, v, 9) == 0xE3069283u, "crc32c check value: %08x", crc32c(0, v, 9));
    check(crc32c_sw(0, v, 9) == 0xE3069283u, "crc32c_sw check value");
    check(crc32_ieee(0, v, 9) == 0xCBF43926u, "crc32 check value: %08x", crc32_ieee(0, v, 9));
    check(crc32c(0, "", 0) == 0 && crc32_ieee(0, "", 0) == 0, "empty input");
    /* RFC 3720 (iSCSI) vectors. */
    uint8_t b[48];
    memset(b, 0, 32);
    check(crc32c(0, b, 32) == 0x8A9136AAu, "crc32c 32 zeros");
    memset(b, 0xff, 32);
    check(crc32c(0, b, 32) == 0x62A8AB43u, "crc32c 32 ones");
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)i;
    check(crc32c(0, b, 32) == 0x46DD794Eu, "crc32c incrementing");
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)(31 - i);
    check(crc32c(0, b, 32) == 0x113FDB5Cu, "crc32c decrementing");
    check(crc32_ieee(0, "The quick brown fox jumps over the lazy dog", 43) == 0x414FA339u, "crc32 fox");

    /* hardware == software, any length and alignment; continuation; combine */
    uint8_t *data = random_bytes(5000, 7);
    bool same = true, cont = true, comb = true;
    for (int i = 0; i < 300; i++) {
        size_t off = rnd() % 64, n = rnd() % 4900;
        if (off + n > 5000)
            n = 5000 - off;
        size_t cut = n ? rnd() % n : 0;
        uint32_t whole = crc32c(0, data + off, n);
        same &= whole == crc32c_sw(0, data + off, n);
        cont &= whole == crc32c(crc32c(0, data + off, cut), data + off + cut, n - cut);
        cont &= crc32_ieee(0, data + off, n) == crc32_ieee(crc32_ieee(0, data + off, cut), data + off + cut, n - cut);
        comb &= whole == crc32c_combine(crc32c(0, data + off, cut), crc32c(0, data + off + cut, n - cut), n - cut);
        comb &= crc32_ieee(0, data + off, n) ==
                crc32_ieee_combine(crc32_ieee(0, data + off, cut), crc32_ieee(0, data + off + cut, n - cut), n - cut);
    }
    check(same, "crc32c hardware (%s) equals the tables", crc32c_hw_available() ? "sse4.2" : "absent");
    check(cont, "crc continuation");
    check(comb, "crc combine");
    free(data);
}

static struct datanode *start_dn(int *port)
{
    char err[256] = "";
    struct datanode_config c = { "127.0.0.1", 0, tmpdir, POOL, "uuid-test", 0 };
    struct datanode *dn = datanode_start(&c, err, sizeof err);
    check(dn != NULL, "datanode_start: %s", err);
    *port = dn ? datanode_port(dn) : 0;
    check(*port > 0, "datanode_port");
    return dn;
}

static bool file_exists(const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    return access(p, F_OK) == 0;
}

/* Sum of the sizes of the regular files in tmpdir. */
static uint64_t dir_bytes(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    uint64_t sum = 0;
    while (d && (e = readdir(d))) {
        char p[600];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
            sum += (uint64_t)st.st_size;
    }
    if (d)
        closedir(d);
    return sum;
}

/* Several blocks, both CRC types, reads at awkward offsets, MD5CRC. */
static void test_write_read(struct datanode *dn, int port)
{
    size_t n = 3 * 1024 * 1024 + 777;
    uint8_t *data = random_bytes(n, 1);
    struct wopts o = create_opts(1001, 5001, 1, 512); /* what the Go client sends: CRC32, 512 */
    check(write_block(port, &o, 0, data, n) == 0, "write a 3 MiB CRC32 block");
    check(datanode_block_length(dn, 1001) == (int64_t)n, "block length after write: %lld",
          (long long)datanode_block_length(dn, 1001));
    check(file_exists("blk_1001") && file_exists("blk_1001_5001.meta"), "replica files on disk");
    check_read(port, 1001, 5001, 0, n, data, 1, 512, "whole");
    check_read(port, 1001, 5001, 1, 10, data, 1, 512, "small unaligned");
    check_read(port, 1001, 5001, 700000, 200001, data, 1, 512, "middle");
    check_read(port, 1001, 5001, n - 5, 5, data, 1, 512, "tail");
    check_read(port, 1001, 5001, n, 0, data, 1, 512, "empty at end");
    check_read(port, 1001, 1000, 512, 1024, data, 1, 512, "older genstamp accepted");
    check_md5(port, 1001, 5001, n, data, n, 1, 512, "whole");
    check_md5(port, 1001, 5001, 100000, data, n, 1, 512, "partial, inside a chunk");
    check_md5(port, 1001, 5001, 102400, data, n, 1, 512, "partial, on a chunk boundary");

    /* CRC32C, 4 KiB chunks, a size that ends inside a chunk */
    size_t n2 = 200000;
    uint8_t *d2 = random_bytes(n2, 2);
    struct wopts o2 = create_opts(1002, 5002, 2, 4096);
    check(write_block(port, &o2, 0, d2, n2) == 0, "write a CRC32C/4096 block");
    check_read(port, 1002, 5002, 5000, 100000, d2, 2, 4096, "crc32c block");
    check_md5(port, 1002, 5002, n2, d2, n2, 2, 4096, "crc32c block");

    /* composite CRC: one stripe = the CRC of the bytes */
    Hadoop__Hdfs__BlockOpResponseProto *r = block_checksum(port, POOL, 1002, 5002, n2, 2, 0);
    check(r && r->status == 0 && r->checksumresponse && r->checksumresponse->blockchecksum.len == 4 &&
              get32(r->checksumresponse->blockchecksum.data) == crc32c(0, d2, n2),
          "composite CRC of a CRC32C block");
    free_resp(r);
    r = block_checksum(port, POOL, 1001, 5001, 1000, 2, 0);
    check(r && r->status == 0 && r->checksumresponse->blockchecksum.len == 4 &&
              get32(r->checksumresponse->blockchecksum.data) == crc32_ieee(0, data, 1000),
          "composite CRC of a CRC32 block prefix");
    free_resp(r);
    r = block_checksum(port, POOL, 1002, 5002, n2, 2, 8192 * 3);
    bool stripes = r && r->status == 0 && r->checksumresponse->blockchecksum.len == 4 * ((n2 + 24575) / 24576);
    for (size_t i = 0; stripes && i < (n2 + 24575) / 24576; i++) {
        size_t l = n2 - i * 24576 < 24576 ? n2 - i * 24576 : 24576;
        stripes = get32(r->checksumresponse->blockchecksum.data + 4 * i) == crc32c(0, d2 + i * 24576, l);
    }
    check(stripes, "composite CRC in stripes");
    free_resp(r);
    r = block_checksum(port, POOL, 1002, 5002, n2, 2, 5000);
    check(r && r->status == 1, "composite CRC with a stripe that splits a chunk is an error");
    free_resp(r);

    /* sendChecksums = false: type NULL, bare data */
    int fd = dial(port);
    struct rres rr;
    int rc = read_on(fd, 1002, 5002, 10, 9000, 0, &rr);
    check(rc == 0 && rr.status == 0 && rr.ctype == 0 && rr.chunkoff == 0 && rr.n >= 9010 &&
              memcmp(rr.data, d2, 9010) == 0 && rr.offsets_ok,
          "read without checksums");
    free(rr.data);
    close(fd);

    /* one connection, two reads (CHECKSUM_OK between them) */
    fd = dial(port);
    rc = read_on(fd, 1001, 5001, 0, 1000, -1, &rr);
    free(rr.data);
    send_read_status(fd);
    int rc2 = read_on(fd, 1002, 5002, 0, 1000, -1, &rr);
    check(rc == 0 && rc2 == 0 && rr.status == 0 && rr.n >= 1000 && memcmp(rr.data, d2, 1000) == 0,
          "a second op on a kept-alive connection");
    free(rr.data);
    close(fd);

    /* a reader that stops after the reply: the DataNode must not mind */
    for (int i = 0; i < 5; i++) {
        fd = dial(port);
        Hadoop__Hdfs__ExtendedBlockProto b = mkblock(POOL, 1001, 5001, true, n);
        Hadoop__Hdfs__BaseHeaderProto bh = HADOOP__HDFS__BASE_HEADER_PROTO__INIT;
        bh.block = &b;
        Hadoop__Hdfs__ClientOperationHeaderProto ch = HADOOP__HDFS__CLIENT_OPERATION_HEADER_PROTO__INIT;
        ch.baseheader = &bh;
        ch.clientname = "c";
        Hadoop__Hdfs__OpReadBlockProto op = HADOOP__HDFS__OP_READ_BLOCK_PROTO__INIT;
        op.header = &ch;
        op.len = n;
        send_op(fd, 81, &op.base);
        free_resp(recv_resp(fd));
        close(fd);
    }
    check_read(port, 1001, 5001, 0, 4096, data, 1, 512, "after abandoned reads");
    free(data);
    free(d2);
}

static void test_append(struct datanode *dn, int port)
{
    size_t n1 = 1000, n2 = 150000;
    uint8_t *all = random_bytes(n1 + n2 + 3000, 3);
    struct wopts o = create_opts(2001, 6001, 1, 512);
    check(write_block(port, &o, 0, all, n1) == 0, "append: initial write");
    /* The Go client's append: block gs = latest gs = the NameNode's. */
    struct wopts a = append_opts(2001, 6001, n1, 6001, 1, 512);
    check(write_block(port, &a, n1, all + n1, n2) == 0, "append (same gs, unaligned start)");
    check(datanode_block_length(dn, 2001) == (int64_t)(n1 + n2), "length after append");
    check_read(port, 2001, 6001, 0, n1 + n2, all, 1, 512, "after append");
    check_read(port, 2001, 6001, 900, 300, all, 1, 512, "across the append point");
    check_md5(port, 2001, 6001, n1 + n2, all, n1 + n2, 1, 512, "after append");
    /* A Java-style append: new generation stamp; meta file follows it. */
    struct wopts j = append_opts(2001, 6001, n1 + n2, 6002, 1, 512);
    check(write_block(port, &j, n1 + n2, all + n1 + n2, 1000) == 0, "append with a new gs");
    check(file_exists("blk_2001_6002.meta") && !file_exists("blk_2001_6001.meta"), "meta file renamed to the new gs");
    check_read(port, 2001, 6002, 0, n1 + n2 + 1000, all, 1, 512, "after gs bump");
    /* Packets in another type and chunk size: verified in theirs, stored in CRC32/512. */
    struct wopts x = append_opts(2001, 6002, n1 + n2 + 1000, 6002, 2, 1024);
    check(write_block(port, &x, n1 + n2 + 1000, all + n1 + n2 + 1000, 2000) == 0, "append in CRC32C/1024");
    check_read(port, 2001, 6002, 0, n1 + n2 + 3000, all, 1, 512, "after a mixed-checksum append");
    check_md5(port, 2001, 6002, n1 + n2 + 3000, all, n1 + n2 + 3000, 1, 512, "after a mixed-checksum append");
    /* Wrong expectations. */
    struct wopts bad = append_opts(2001, 6002, 5, 6002, 1, 512);
    check(write_block(port, &bad, 5, all, 10) == 1, "append with the wrong length is refused");
    struct wopts fut = append_opts(2001, 7000, n1 + n2 + 3000, 7000, 1, 512);
    check(write_block(port, &fut, n1 + n2 + 3000, all, 10) == 1, "append with a newer block gs is refused");
    struct wopts none = append_opts(2999, 1, 7, 1, 1, 512);
    check(write_block(port, &none, 7, all, 10) == 1, "append to a missing replica is refused");
    struct wopts empty = append_opts(2998, 1, 0, 1, 1, 512);
    check(write_block(port, &empty, 0, all, 700) == 0, "append to a missing empty replica creates it");
    check_read(port, 2998, 1, 0, 700, all, 1, 512, "created by append");
    free(all);
}

/* A write that stops half-way, then recovery and a duplicate writer. */
static void test_partial_and_recovery(struct datanode *dn, int port)
{
    uint8_t *d = random_bytes(300000, 4);
    struct wopts o = create_opts(3001, 8001, 1, 512);
    Hadoop__Hdfs__BlockOpResponseProto *r;
    int fd = w_open(port, &o, &r);
    check(fd >= 0 && r && r->status == 0, "open a write");
    free_resp(r);
    int64_t s;
    int st;
    w_packet(fd, 0, 1, false, d, 65536, 1, 512, false, true);
    check(w_ack(fd, &s, &st) == 0 && s == 1 && st == 0, "ack of a synced packet");
    w_packet(fd, 65536, 2, false, d + 65536, 1000, 1, 512, false, false);
    check(w_ack(fd, &s, &st) == 0 && s == 2 && st == 0, "ack of a short packet");

    /* A second CREATE while the first writer is live. */
    struct wopts o2 = create_opts(3001, 8001, 1, 512);
    int fd2 = w_open(port, &o2, &r);
    check(fd2 >= 0 && r && r->status == HADOOP__HDFS__STATUS__ERROR_EXISTS, "second writer refused: %d",
          r ? (int)r->status : -1);
    free_resp(r);
    if (fd2 >= 0)
        close(fd2);
    check(datanode_truncate_block(dn, 3001, 10, 0) == -1, "no truncate during a write");
    close(fd); /* the client goes away */
    check(datanode_block_length(dn, 3001) == 66536, "partial replica keeps what was acked");

    check_read(port, 3001, 8001, 60000, 6536, d, 1, 512, "read a partial replica");
    /* Streaming recovery: continue at 66536 under gs 8002. */
    struct wopts rec = { .id = 3001, .gs = 8001, .numbytes = 66536, .stage = 3, .minb = 66536, .maxb = 66536,
                         .latest = 8002, .ctype = 1, .bpc = 512 };
    check(write_block(port, &rec, 66536, d + 66536, 300000 - 66536) == 0, "streaming recovery");
    check(file_exists("blk_3001_8002.meta"), "recovery bumped the gs");
    check_read(port, 3001, 8002, 0, 300000, d, 1, 512, "after recovery");
    /* Close recovery: nothing new, just the last packet again. */
    struct wopts cr = { .id = 3001, .gs = 8002, .numbytes = 300000, .stage = 5, .minb = 300000, .maxb = 300000,
                        .latest = 8003, .ctype = 1, .bpc = 512 };
    check(write_block(port, &cr, 300000, d, 0) == 0, "close recovery");
    check_read(port, 3001, 8003, 0, 300000, d, 1, 512, "after close recovery");
    struct wopts badrec = cr;
    badrec.gs = 8003;
    badrec.minb = badrec.maxb = 5;
    check(write_block(port, &badrec, 5, d, 0) == 1, "recovery with impossible lengths refused");

    /* lastPacketInBlock on a packet with data */
    struct wopts o3 = create_opts(3002, 1, 2, 512);
    fd = w_open(port, &o3, &r);
    free_resp(r);
    w_packet(fd, 0, 1, true, d, 3000, 2, 512, false, false);
    check(w_ack(fd, &s, &st) == 0 && s == 1 && st == 0, "last packet with data");
    close(fd);
    check_read(port, 3002, 1, 0, 3000, d, 2, 512, "last packet with data");

    /* Stale CREATE on an existing finalized replica replaces it. */
    struct wopts o4 = create_opts(3002, 2, 2, 512);
    check(write_block(port, &o4, 0, d + 5, 100) == 0, "create over a stale replica");
    check(datanode_block_length(dn, 3002) == 100 && !file_exists("blk_3002_1.meta"), "stale replica replaced");
    free(d);
}

static void test_truncate_delete(struct datanode *dn, int port)
{
    uint8_t *d = random_bytes(5000, 5);
    struct wopts o = create_opts(4001, 100, 1, 512);
    check(write_block(port, &o, 0, d, 5000) == 0, "truncate: write");
    check(datanode_truncate_block(dn, 4001, 6000, 101) == -1, "truncate beyond the end refused");
    check(datanode_truncate_block(dn, 4001, 3000, 101) == 0, "truncate to 3000");
    check(datanode_block_length(dn, 4001) == 3000, "length after truncate");
    check(file_exists("blk_4001_101.meta") && !file_exists("blk_4001_100.meta"), "truncate renamed the meta file");
    check_read(port, 4001, 101, 0, 3000, d, 1, 512, "after truncate");
    check_md5(port, 4001, 101, 3000, d, 3000, 1, 512, "after truncate");
    struct rres rr;
    read_block(port, 4001, 101, 2000, 2000, &rr);
    check(rr.status == 1 && strstr(rr.msg, "don't match") != NULL, "read past the end: %d %s", rr.status, rr.msg);
    free(rr.data);
    read_block(port, 4001, 999, 0, 10, &rr);
    check(rr.status == 1, "read with a newer gs than the replica refused");
    free(rr.data);
    check(datanode_truncate_block(dn, 4001, 2048, 0) == 0 && datanode_block_length(dn, 4001) == 2048,
          "truncate to a chunk boundary, same gs");
    check_read(port, 4001, 101, 0, 2048, d, 1, 512, "after the second truncate");
    check(datanode_truncate_block(dn, 4001, 0, 102) == 0, "truncate to zero");
    check_md5(port, 4001, 102, 0, d, 0, 1, 512, "empty replica");
    /* append to the emptied replica */
    struct wopts a = append_opts(4001, 102, 0, 102, 1, 512);
    check(write_block(port, &a, 0, d, 777) == 0, "append to a truncated replica");
    check_read(port, 4001, 102, 0, 777, d, 1, 512, "after truncate + append");

    check(datanode_delete_block(dn, 4001) == 0, "delete");
    check(datanode_block_length(dn, 4001) == -1, "deleted: no length");
    check(!file_exists("blk_4001") && !file_exists("blk_4001_102.meta"), "deleted: files gone");
    check(datanode_delete_block(dn, 4001) == -1, "delete twice");
    check(datanode_truncate_block(dn, 4001, 0, 0) == -1, "truncate a deleted block");
    read_block(port, 4001, 102, 0, 10, &rr);
    check(rr.status == 1 && strstr(rr.msg, "not found") != NULL, "read a deleted block: %s", rr.msg);
    free(rr.data);
    Hadoop__Hdfs__BlockOpResponseProto *r = block_checksum(port, POOL, 4001, 102, 10, 0, 0);
    check(r && r->status == 1, "checksum of a deleted block");
    free_resp(r);

    /* delete while a writer is live: the write goes on into the void */
    struct wopts w = create_opts(4002, 1, 1, 512);
    int fd = w_open(port, &w, &r);
    free_resp(r);
    int64_t s;
    int st;
    w_packet(fd, 0, 1, false, d, 1000, 1, 512, false, false);
    w_ack(fd, &s, &st);
    check(datanode_delete_block(dn, 4002) == 0, "delete during a write");
    w_packet(fd, 1000, 2, false, d + 1000, 1000, 1, 512, false, false);
    check(w_ack(fd, &s, &st) == 0 && st == 0, "the write goes on after a delete");
    w_packet(fd, 2000, 3, true, NULL, 0, 1, 512, false, false);
    w_ack(fd, &s, &st);
    close(fd);
    check(datanode_block_length(dn, 4002) == -1 && !file_exists("blk_4002"), "deleted block stays deleted");
    free(d);
}

static void test_bad_input(struct datanode *dn, int port)
{
    uint8_t *d = random_bytes(10000, 6);
    Hadoop__Hdfs__BlockOpResponseProto *r;
    int64_t s;
    int st;

    /* wrong pool, for each op */
    struct wopts o = create_opts(5001, 1, 1, 512);
    o.pool = "BP-other";
    int fd = w_open(port, &o, &r);
    check(r && r->status == HADOOP__HDFS__STATUS__ERROR_INVALID, "write in another pool refused");
    free_resp(r);
    if (fd >= 0)
        close(fd);
    r = block_checksum(port, "BP-other", 1001, 5001, 10, 0, 0);
    check(r && r->status == HADOOP__HDFS__STATUS__ERROR_INVALID, "checksum in another pool refused");
    free_resp(r);

    /* a pipeline with a target: refused, first bad link named */
    o = create_opts(5002, 1, 1, 512);
    o.ntargets = 1;
    fd = w_open(port, &o, &r);
    check(r && r->status == 1 && r->firstbadlink && strcmp(r->firstbadlink, "127.0.0.9:9866") == 0,
          "pipeline with targets refused with firstBadLink");
    free_resp(r);
    if (fd >= 0)
        close(fd);

    /* bad checksum parameters */
    o = create_opts(5003, 1, 7, 512);
    fd = w_open(port, &o, &r);
    check(r && r->status == HADOOP__HDFS__STATUS__ERROR_INVALID, "unknown checksum type refused");
    free_resp(r);
    if (fd >= 0)
        close(fd);
    o = create_opts(5003, 1, 1, (2u << 20));
    fd = w_open(port, &o, &r);
    check(r && r->status == HADOOP__HDFS__STATUS__ERROR_INVALID, "2 MiB bytesPerChecksum refused");
    free_resp(r);
    if (fd >= 0)
        close(fd);
    o = create_opts(5003, 1, 1, 512);
    o.stage = 7;
    fd = w_open(port, &o, &r);
    check(r && r->status == HADOOP__HDFS__STATUS__ERROR_UNSUPPORTED, "TRANSFER_RBW unsupported");
    free_resp(r);
    if (fd >= 0)
        close(fd);
    o.stage = 2;
    fd = w_open(port, &o, &r);
    check(r && r->status == HADOOP__HDFS__STATUS__ERROR_INVALID, "DATA_STREAMING is not a setup stage");
    free_resp(r);
    if (fd >= 0)
        close(fd);

    /* a corrupted chunk */
    o = create_opts(5004, 1, 2, 512);
    fd = w_open(port, &o, &r);
    free_resp(r);
    w_packet(fd, 0, 1, false, d, 4000, 2, 512, false, false);
    w_ack(fd, &s, &st);
    w_packet(fd, 4000, 2, false, d + 4000, 4000, 2, 512, true, false);
    check(w_ack(fd, &s, &st) == 0 && s == 2 && st == HADOOP__HDFS__STATUS__ERROR_CHECKSUM, "checksum error acked: %d",
          st);
    check(peer_closed(fd), "connection closed after a checksum error");
    close(fd);
    check(datanode_block_length(dn, 5004) == 4000, "replica keeps the good packets");

    /* a gap in the offsets */
    o = create_opts(5005, 1, 1, 512);
    fd = w_open(port, &o, &r);
    free_resp(r);
    w_packet(fd, 512, 1, false, d, 512, 1, 512, false, false);
    check(w_ack(fd, &s, &st) == 0 && st == 1, "a packet past the end is refused");
    close(fd);

    /* packet lengths that disagree with dataLen */
    o = create_opts(5006, 1, 1, 512);
    fd = w_open(port, &o, &r);
    free_resp(r);
    {
        Hadoop__Hdfs__PacketHeaderProto h = HADOOP__HDFS__PACKET_HEADER_PROTO__INIT;
        h.seqno = 1;
        h.datalen = 100;
        uint8_t p[256];
        size_t hl = protobuf_c_message_pack(&h.base, p + 6);
        be32(p, 4 + 50); /* 4 bytes of CRC + 100 data bytes would be 108 */
        p[4] = 0;
        p[5] = (uint8_t)hl;
        memset(p + 6 + hl, 0, 50);
        xwrite(fd, p, 6 + hl + 50);
        check(w_ack(fd, &s, &st) == 0 && st == 1, "inconsistent packet refused");
        check(peer_closed(fd), "connection closed after an inconsistent packet");
    }
    close(fd);

    /* a 17 MiB packet length, a zero header length */
    uint8_t big[6] = { 0x01, 0x10, 0, 0, 0, 10 };
    uint8_t zero[6] = { 0, 0, 0, 4, 0, 0 };
    uint8_t *bads[2] = { big, zero };
    for (int i = 0; i < 2; i++) {
        o = create_opts(5007 + (uint64_t)i, 1, 1, 512);
        fd = w_open(port, &o, &r);
        free_resp(r);
        xwrite(fd, bads[i], 6);
        check(peer_closed(fd), "bad packet lengths close the connection (%d)", i);
        close(fd);
    }
    /* a header that is not a PacketHeaderProto */
    o = create_opts(5009, 1, 1, 512);
    fd = w_open(port, &o, &r);
    free_resp(r);
    uint8_t junk[10] = { 0, 0, 0, 4, 0, 4, 0xff, 0xff, 0xff, 0xff };
    xwrite(fd, junk, sizeof junk);
    check(peer_closed(fd), "garbage packet header closes the connection");
    close(fd);

    /* version 27 */
    fd = dial(port);
    uint8_t v27[3] = { 0, 27, 81 };
    xwrite(fd, v27, 3);
    r = recv_resp(fd);
    check(r && r->status == 1 && r->message && strstr(r->message, "Version Mismatch"), "old version refused");
    free_resp(r);
    check(peer_closed(fd), "closed after a version mismatch");
    close(fd);

    /* an op message longer than 64 KiB */
    fd = dial(port);
    uint8_t huge[8] = { 0, 28, 81 };
    size_t hn = 3 + put_varint(huge + 3, 100000);
    xwrite(fd, huge, hn);
    check(peer_closed(fd), "oversized op message closes the connection");
    close(fd);
    /* a varint that never ends */
    fd = dial(port);
    uint8_t endless[9] = { 0, 28, 81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    xwrite(fd, endless, sizeof endless);
    check(peer_closed(fd), "endless varint closes the connection");
    close(fd);
    /* a message that is not an OpReadBlockProto */
    fd = dial(port);
    uint8_t notop[8] = { 0, 28, 81, 4, 0xff, 0xff, 0xff, 0xff };
    xwrite(fd, notop, sizeof notop);
    r = recv_resp(fd);
    check(r && r->status == HADOOP__HDFS__STATUS__ERROR_INVALID, "malformed op message answered ERROR_INVALID");
    free_resp(r);
    close(fd);
    /* unsupported ops */
    int ops[3] = { 84, 87, 200 };
    for (int i = 0; i < 3; i++) {
        fd = dial(port);
        uint8_t u[4] = { 0, 28, (uint8_t)ops[i], 0 };
        xwrite(fd, u, 4);
        r = recv_resp(fd);
        check(r && r->status == HADOOP__HDFS__STATUS__ERROR_UNSUPPORTED && r->message, "op %d unsupported", ops[i]);
        free_resp(r);
        close(fd);
    }
    /* random garbage on many connections */
    for (int i = 0; i < 200; i++) {
        fd = dial(port);
        size_t gl = rnd() % 300;
        uint8_t *g = random_bytes(gl, rnd());
        if (i % 2 && gl >= 3) {
            g[0] = 0;
            g[1] = 28;
            g[2] = (uint8_t)(80 + rnd() % 6);
        }
        xwrite(fd, g, gl);
        shutdown(fd, SHUT_WR);
        peer_closed(fd);
        close(fd);
        free(g);
    }
    check(true, "survived garbage");
    struct wopts ok = create_opts(5010, 1, 2, 512);
    check(write_block(port, &ok, 0, d, 10000) == 0, "still serving after bad input");
    check_read(port, 5010, 1, 0, 10000, d, 2, 512, "still serving after bad input");
    free(d);
}

struct worker {
    int port;
    uint64_t id;
    int ok;
};

static void *worker_main(void *p)
{
    struct worker *w = p;
    size_t n = 400000 + (size_t)w->id * 1111;
    uint8_t *d = random_bytes(n, w->id);
    struct wopts o = create_opts(w->id, 1, (int)(w->id % 2) + 1, 512);
    w->ok = write_block(w->port, &o, 0, d, n) == 0;
    for (int i = 0; i < 3 && w->ok; i++) {
        struct rres rr;
        uint64_t off = (w->id * 7919 + (uint64_t)i * 104729) % n; /* rnd() is not thread-safe */
        w->ok = read_block(w->port, w->id, 1, off, n - off, &rr) == 0 && rr.status == 0 && rr.crc_errors == 0 &&
                memcmp(rr.data, d + rr.chunkoff, n - rr.chunkoff) == 0;
        free(rr.data);
    }
    free(d);
    return NULL;
}

static void test_concurrency(int port)
{
    enum { N = 12 };
    struct worker w[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        w[i] = (struct worker){ port, 6000 + (uint64_t)i, 0 };
        pthread_create(&t[i], NULL, worker_main, &w[i]);
    }
    int good = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        good += w[i].ok;
    }
    check(good == N, "concurrent writers and readers: %d of %d", good, N);
}

/* Wire details the Go client depends on; the connection cap. */
static void test_limits(int port)
{
    /* The Go client reads 5 bytes before parsing the write reply: a reply
     * shorter than that would leave it waiting forever. */
    uint8_t *d = random_bytes(1000, 1); /* block 1001's first bytes */
    Hadoop__Hdfs__ExtendedBlockProto b = mkblock(POOL, 7001, 1, true, 0);
    Hadoop__Hdfs__BaseHeaderProto bh = HADOOP__HDFS__BASE_HEADER_PROTO__INIT;
    bh.block = &b;
    Hadoop__Hdfs__ClientOperationHeaderProto ch = HADOOP__HDFS__CLIENT_OPERATION_HEADER_PROTO__INIT;
    ch.baseheader = &bh;
    ch.clientname = "go";
    Hadoop__Hdfs__ChecksumProto ck = HADOOP__HDFS__CHECKSUM_PROTO__INIT;
    ck.type = HADOOP__HDFS__CHECKSUM_TYPE_PROTO__CHECKSUM_CRC32;
    ck.bytesperchecksum = 512;
    Hadoop__Hdfs__OpWriteBlockProto op = HADOOP__HDFS__OP_WRITE_BLOCK_PROTO__INIT;
    op.header = &ch;
    op.stage = HADOOP__HDFS__OP_WRITE_BLOCK_PROTO__BLOCK_CONSTRUCTION_STAGE__PIPELINE_SETUP_CREATE;
    op.requestedchecksum = &ck;
    int fd = dial(port);
    send_op(fd, 80, &op.base);
    uint8_t raw[5];
    check(xread(fd, raw, 5) == 0 && raw[0] >= 4 && raw[1] == 0x08 && raw[2] == 0, "write reply is >= 5 bytes");
    w_packet(fd, 0, 1, false, d, 100, 1, 512, false, false);
    check(xread(fd, raw, 5) == 0 && raw[0] >= 4, "ack is >= 5 bytes");
    close(fd);

    /* At most 256 live connections; the rest are closed at once. */
    enum { N = 260 };
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = dial(port);
    /* The DataNode accepts and closes the surplus in its own time: on a
     * busy machine (a sanitizer build beside other work) that takes more
     * than a moment, so look again for up to 10 s before judging. */
    int refused = 0, live = 0;
    for (int tries = 0; tries < 100; tries++) {
        usleep(100 * 1000);
        refused = live = 0;
        for (int i = 0; i < N; i++) {
            uint8_t x;
            ssize_t r = recv(fds[i], &x, 1, MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
                refused++;
            else
                live++;
        }
        if (refused >= N - 256)
            break;
    }
    check(live <= 256 && refused >= N - 256, "connection cap: %d live, %d refused", live, refused);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    usleep(100 * 1000);
    check_read(port, 1001, 5001, 0, 1000, d, 1, 512, "after the cap was hit");
    free(d);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/test_datanode.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_crc();

    char err[256] = "";
    struct datanode_config badc = { "127.0.0.1", 0, tmpdir, NULL, NULL, 0 };
    check(datanode_start(&badc, err, sizeof err) == NULL && err[0], "start without a pool id fails");
    struct datanode_config badh = { "192.0.2.1", 0, tmpdir, POOL, NULL, 0 };
    check(datanode_start(&badh, err, sizeof err) == NULL && err[0], "start on a bad address fails: %s", err);

    int port;
    struct datanode *dn = start_dn(&port);
    if (!dn)
        return 1;
    test_write_read(dn, port);
    test_append(dn, port);
    test_partial_and_recovery(dn, port);
    test_truncate_delete(dn, port);
    test_bad_input(dn, port);
    test_concurrency(port);
    test_limits(port);

    uint64_t cap, used, rem;
    datanode_stats(dn, &cap, &used, &rem);
    uint64_t on_disk = dir_bytes();
    check(cap > 0 && rem > 0 && rem <= cap, "capacity %llu remaining %llu", (unsigned long long)cap,
          (unsigned long long)rem);
    check(used == on_disk, "dfsUsed %llu equals the bytes on disk %llu", (unsigned long long)used,
          (unsigned long long)on_disk);

    /* stop with an idle connection open, then restart on the same directory */
    int idle = dial(port);
    double t0 = now_s();
    datanode_stop(dn);
    check(now_s() - t0 < 2.0, "stop with an idle connection took %.2fs", now_s() - t0);
    check(peer_closed(idle), "stop closes live connections");
    close(idle);
    dn = start_dn(&port);
    if (!dn)
        return 1;
    uint8_t *d = random_bytes(3 * 1024 * 1024 + 777, 1);
    check(datanode_block_length(dn, 1001) == 3 * 1024 * 1024 + 777, "restart finds the replicas");
    check_read(port, 1001, 5001, 1000000, 5000, d, 1, 512, "after restart");
    check(datanode_block_length(dn, 2001) > 0 && file_exists("blk_2001_6002.meta"), "restart keeps the latest gs");
    datanode_stats(dn, &cap, &used, &rem);
    check(used == dir_bytes(), "dfsUsed after restart");
    free(d);
    datanode_stop(dn);

    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
