/*
 * datanode_internal.h: what the datanode_*.c files share: the DataNode
 * object, the replica table, wire limits, socket helpers and the op handlers.
 *
 *   datanode.c          start/stop, accept loop, connections, op dispatch
 *   datanode_replica.c  replica table, on-disk layout, the NameNode-facing calls
 *   datanode_io.c       socket I/O: full reads/writes, delimited messages, packets
 *   datanode_write.c    WRITE_BLOCK
 *   datanode_read.c     READ_BLOCK and BLOCK_CHECKSUM
 */
#ifndef MINIDFS_DATANODE_INTERNAL_H
#define MINIDFS_DATANODE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "datanode.h"
#include "datatransfer.pb-c.h"

/* ---- DataTransferProtocol facts ---- */
#define DN_XFER_VERSION 28
enum dn_op {
    DN_OP_WRITE_BLOCK = 80,
    DN_OP_READ_BLOCK = 81,
    DN_OP_READ_METADATA = 82,
    DN_OP_REPLACE_BLOCK = 83,
    DN_OP_COPY_BLOCK = 84,
    DN_OP_BLOCK_CHECKSUM = 85,
    DN_OP_TRANSFER_BLOCK = 86,
    DN_OP_REQUEST_SHORT_CIRCUIT_FDS = 87,
    DN_OP_RELEASE_SHORT_CIRCUIT_FDS = 88,
    DN_OP_REQUEST_SHORT_CIRCUIT_SHM = 89,
    DN_OP_BLOCK_GROUP_CHECKSUM = 90,
    DN_OP_CUSTOM = 127,
};
/* ChecksumTypeProto values (also the type byte of a meta file). */
enum dn_csum { DN_CSUM_NULL = 0, DN_CSUM_CRC32 = 1, DN_CSUM_CRC32C = 2 };

/* ---- limits on what the wire may ask for ---- */
#define DN_MAX_OP_MSG (64u << 10)    /* a varint-delimited op or status message */
#define DN_MAX_PKT_HDR 4096u         /* PacketHeaderProto */
#define DN_MAX_PACKET (16u << 20)    /* checksums + data of one packet */
#define DN_MAX_BPC (1u << 20)        /* bytes per checksum */
#define DN_READ_PACKET_DATA (64u << 10) /* data bytes per packet we send */
#define DN_MAX_CONNS 256
#define DN_IO_TIMEOUT_S 60           /* a stalled peer inside an op */
#define DN_KEEPALIVE_MS 4000         /* waiting for a next op / a read status */
#define DN_META_HDR 7

/* ---- replicas ---- */

/* One replica. Owned by the table (or, once deleted while a writer holds it,
 * by that writer). All fields are read and written under datanode.lock. */
struct dn_replica {
    uint64_t id;
    uint64_t gs;          /* generation stamp: names the meta file */
    uint64_t len;         /* data bytes on disk, all acknowledged */
    uint64_t meta_len;    /* bytes of the meta file */
    uint8_t ctype;        /* enum dn_csum of the meta file */
    uint32_t bpc;         /* bytes per checksum of the meta file */
    bool finalized;       /* the writer saw the last packet */
    bool writing;         /* a WRITE_BLOCK owns it: no second writer, no truncate */
    bool removed;         /* deleted while writing: the writer frees it */
    struct dn_replica *next; /* hash chain */
};

/* A connection slot: the acceptor fills it, the connection thread marks it
 * DONE when it ends, and whoever comes next (acceptor or stop) joins it. */
enum dn_slot_state { DN_SLOT_FREE, DN_SLOT_RUNNING, DN_SLOT_DONE };
struct dn_slot {
    enum dn_slot_state state;
    int fd;
    pthread_t tid;
};

struct datanode {
    char *dir;
    uint64_t capacity;    /* 0: report the file system's size */
    char *bpid;
    char *uuid;
    int lfd;
    int port;
    pthread_t acceptor;
    atomic_bool stopping;

    pthread_mutex_t lock; /* replicas, slots, used */
    struct dn_replica **buckets;
    size_t nbuckets;      /* a power of two */
    size_t nreplicas;
    uint64_t used;        /* sum of len + meta_len over the table */
    struct dn_slot slots[DN_MAX_CONNS];
};

/* datanode_replica.c. The *_locked calls need dn->lock held. */
int dnode_table_init(struct datanode *dn);
void dnode_table_free(struct datanode *dn);
int dnode_scan_dir(struct datanode *dn, char *err, size_t errlen);
struct dn_replica *dnode_find_locked(struct datanode *dn, uint64_t id);
/* A fresh replica (len 0, writing) entered in the table. NULL on ENOMEM. */
struct dn_replica *dnode_add_locked(struct datanode *dn, uint64_t id, uint64_t gs);
/* Takes r out of the table (does not free it) and out of `used`. */
void dnode_unlink_locked(struct datanode *dn, struct dn_replica *r);
/* Sets r's lengths and keeps `used` in step. */
void dnode_set_lengths_locked(struct datanode *dn, struct dn_replica *r, uint64_t len, uint64_t meta_len);
/* Renames r's meta file to a new generation stamp; 0 or -1. */
int dnode_set_gs_locked(struct datanode *dn, struct dn_replica *r, uint64_t gs);
void dnode_data_path(const struct datanode *dn, uint64_t id, char *buf, size_t cap);
void dnode_meta_path(const struct datanode *dn, uint64_t id, uint64_t gs, char *buf, size_t cap);
/* Opens a replica's data and meta files (read-only or read-write); 0 or -1
 * (both closed). */
int dnode_open_locked(struct datanode *dn, const struct dn_replica *r, bool rw, int *dfd, int *mfd);
/* The 7-byte meta header. */
void dnode_meta_header(uint8_t out[DN_META_HDR], uint8_t ctype, uint32_t bpc);
/* 4 bytes per chunk for CRC types, 0 for NULL. */
size_t dnode_csum_size(uint8_t ctype);
/* CRC of one chunk of the given type (0 for NULL). */
uint32_t dnode_crc(uint8_t ctype, const uint8_t *p, size_t n);
/* Rewrites the stored CRCs of every chunk overlapping [from, to) from the
 * bytes on disk (data length `len`). 0 or -1. */
int dnode_rechecksum(int dfd, int mfd, uint8_t ctype, uint32_t bpc, uint64_t from, uint64_t to, uint64_t len);
/* "BP-...:blk_<id>_<gs>" for messages. */
void dnode_block_name(const Hadoop__Hdfs__ExtendedBlockProto *b, char *buf, size_t cap);

/* datanode_io.c */
void dnode_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int dnode_read_full(int fd, void *p, size_t n);        /* 0, or -1 (EOF, error, timeout) */
int dnode_write_full(int fd, const void *p, size_t n); /* 0 or -1 */
/* Waits up to ms for fd to become readable: 1 readable (or EOF pending), 0 timeout, -1 error. */
int dnode_wait_readable(int fd, int ms);
/* Reads a varint32 length then that many bytes (≤ max) into a malloc'd
 * buffer (*len set). NULL on EOF, error or an oversized length; *eof = true
 * when the peer closed before the first byte. */
uint8_t *dnode_read_delimited(int fd, size_t max, size_t *len, bool *eof);
int dnode_send_delimited(int fd, const ProtobufCMessage *m);
/* BlockOpResponseProto with status and message (printf-style; NULL = none).
 * Non-SUCCESS ones are logged. */
int dnode_send_status(int fd, Hadoop__Hdfs__Status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* One data packet: lengths, PacketHeaderProto, checksums, data. */
int dnode_send_packet(int fd, int64_t offset, int64_t seqno, bool last, const uint8_t *sums, size_t sums_len,
                      const uint8_t *data, size_t data_len);
/* PipelineAckProto for one packet with one reply. */
int dnode_send_ack(int fd, int64_t seqno, Hadoop__Hdfs__Status st);
void dnode_put_be32(uint8_t *p, uint32_t v);
uint32_t dnode_get_be32(const uint8_t *p);

/* Op handlers: the op message (already read) in msg/len. Return 0 when the
 * connection may carry another op, -1 to close it. */
int dnode_op_write(struct datanode *dn, int fd, const uint8_t *msg, size_t len);
int dnode_op_read(struct datanode *dn, int fd, const uint8_t *msg, size_t len);
int dnode_op_checksum(struct datanode *dn, int fd, const uint8_t *msg, size_t len);

/* The pool id of an op's block is ours. */
bool dnode_pool_ok(const struct datanode *dn, const Hadoop__Hdfs__ExtendedBlockProto *b);

#endif
