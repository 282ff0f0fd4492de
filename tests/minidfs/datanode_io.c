/*
 * datanode_io.c: socket I/O for the DataNode. Blocking sockets with send and
 * receive timeouts (set by the acceptor); every length read from the peer is
 * checked against a limit before anything is allocated.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "datanode_internal.h"

void dnode_log(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "minidfs datanode: %s\n", line);
}

void dnode_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

uint32_t dnode_get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int dnode_read_full(int fd, void *p, size_t n)
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

int dnode_write_full(int fd, const void *p, size_t n)
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

static int writev_full(int fd, struct iovec *iov, int cnt)
{
    struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)cnt };
    while (mh.msg_iovlen) {
        ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        while (mh.msg_iovlen && (size_t)w >= mh.msg_iov[0].iov_len) {
            w -= (ssize_t)mh.msg_iov[0].iov_len;
            mh.msg_iov++;
            mh.msg_iovlen--;
        }
        if (mh.msg_iovlen) {
            mh.msg_iov[0].iov_base = (uint8_t *)mh.msg_iov[0].iov_base + w;
            mh.msg_iov[0].iov_len -= (size_t)w;
        }
    }
    return 0;
}

int dnode_wait_readable(int fd, int ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    for (;;) {
        int r = poll(&p, 1, ms);
        if (r < 0 && errno == EINTR)
            continue;
        return r < 0 ? -1 : r > 0 ? 1 : 0;
    }
}

uint8_t *dnode_read_delimited(int fd, size_t max, size_t *len, bool *eof)
{
    uint64_t v = 0;
    *eof = false;
    for (int i = 0;; i++) {
        uint8_t b;
        if (i == 5)
            return NULL; /* a varint32 has at most 5 bytes */
        if (dnode_read_full(fd, &b, 1) < 0) {
            *eof = i == 0;
            return NULL;
        }
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80))
            break;
    }
    if (v > max)
        return NULL;
    uint8_t *p = malloc(v ? v : 1);
    if (!p)
        return NULL;
    if (dnode_read_full(fd, p, v) < 0) {
        free(p);
        return NULL;
    }
    *len = v;
    return p;
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

int dnode_send_delimited(int fd, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t stackbuf[1024];
    uint8_t *p = n + 10 <= sizeof stackbuf ? stackbuf : malloc(n + 10);
    if (!p)
        return -1;
    size_t h = put_varint(p, n);
    protobuf_c_message_pack(m, p + h);
    int rc = dnode_write_full(fd, p, h + n);
    if (p != stackbuf)
        free(p);
    return rc;
}

int dnode_send_status(int fd, Hadoop__Hdfs__Status st, const char *fmt, ...)
{
    char msg[512];
    Hadoop__Hdfs__BlockOpResponseProto r = HADOOP__HDFS__BLOCK_OP_RESPONSE_PROTO__INIT;
    r.status = st;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        r.message = msg;
        if (st != HADOOP__HDFS__STATUS__SUCCESS)
            dnode_log("%s", msg);
    }
    return dnode_send_delimited(fd, &r.base);
}

int dnode_send_packet(int fd, int64_t offset, int64_t seqno, bool last, const uint8_t *sums, size_t sums_len,
                      const uint8_t *data, size_t data_len)
{
    Hadoop__Hdfs__PacketHeaderProto h = HADOOP__HDFS__PACKET_HEADER_PROTO__INIT;
    h.offsetinblock = offset;
    h.seqno = seqno;
    h.lastpacketinblock = last;
    h.datalen = (int32_t)data_len;
    uint8_t hb[64]; /* four fixed-width fields: 29 bytes at most */
    size_t hl = protobuf_c_message_pack(&h.base, hb);
    /* The length word counts itself, the checksums and the data, but not the header. */
    uint8_t pre[6];
    dnode_put_be32(pre, (uint32_t)(4 + sums_len + data_len));
    pre[4] = (uint8_t)(hl >> 8);
    pre[5] = (uint8_t)hl;
    struct iovec iov[4] = {
        { pre, sizeof pre },
        { hb, hl },
        { (void *)sums, sums_len },
        { (void *)data, data_len },
    };
    return writev_full(fd, iov, 4);
}

int dnode_send_ack(int fd, int64_t seqno, Hadoop__Hdfs__Status st)
{
    Hadoop__Hdfs__PipelineAckProto a = HADOOP__HDFS__PIPELINE_ACK_PROTO__INIT;
    /* The flag word carries the same status in its low bits (ECN off). */
    uint32_t flag = (uint32_t)st & 0xf;
    a.seqno = seqno;
    a.n_reply = 1;
    a.reply = &st;
    a.n_flag = 1;
    a.flag = &flag;
    return dnode_send_delimited(fd, &a.base);
}
