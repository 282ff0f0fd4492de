/*
 * datanode: the DataNode half of minidfs. It speaks DataTransferProtocol
 * (version 28) on its own port, a thread per connection with blocking I/O:
 *   WRITE_BLOCK     a pipeline of one (no forwarding): create, append, and the
 *                   streaming/close recovery stages; every chunk's CRC is
 *                   checked; one ack per packet (heartbeats too).
 *   READ_BLOCK      packets from the chunk boundary at or before the offset,
 *                   CRCs from the meta file, an empty last packet.
 *   BLOCK_CHECKSUM  MD5 over the block's stored CRCs (MD5CRC), or the
 *                   composed CRC (COMPOSITE_CRC), as HDFS computes them.
 * Other ops get an ERROR_UNSUPPORTED response.
 *
 * On disk (flat, in data_dir), per replica:
 *   blk_<id>              the bytes
 *   blk_<id>_<gs>.meta    u16 version 1, u8 checksum type (ChecksumTypeProto),
 *                         u32 bytes per checksum (big-endian), then one 4-byte
 *                         big-endian CRC per chunk; HDFS's meta file layout.
 * A restart on the same data_dir finds the replicas again.
 *
 * The NameNode hands out block ids and generation stamps; the DataNode trusts
 * the block in each op, except that its pool id must be ours. Block tokens are
 * ignored (security off).
 */
#ifndef MINIDFS_DATANODE_H
#define MINIDFS_DATANODE_H

#include <stddef.h>
#include <stdint.h>

struct datanode_config {
    const char *host;          /* listen address (IPv4 literal), e.g. "127.0.0.1" */
    int port;                  /* 0 = pick a free port */
    const char *data_dir;      /* block files live here (created if missing) */
    const char *block_pool_id; /* e.g. "BP-1234-127.0.0.1-1700000000000" */
    const char *datanode_uuid;
    uint64_t capacity;         /* reported volume size in bytes; 0 = the file system's */
};

struct datanode; /* opaque */

/* Binds (SO_REUSEADDR), scans data_dir, starts the accept thread. NULL with a
 * message in err on failure. */
struct datanode *datanode_start(const struct datanode_config *cfg, char *err, size_t errlen);
int datanode_port(const struct datanode *dn);
/* Stops accepting, cuts live connections, joins every thread, frees. */
void datanode_stop(struct datanode *dn);

/* The calls below are for the NameNode's thread; they are safe against
 * concurrent transfers. */

/* Removes a replica (an ongoing write to it continues into the void).
 * 0, or -1 when there is no such replica. */
int datanode_delete_block(struct datanode *dn, uint64_t block_id);
/* Cuts a replica to new_len bytes (the CRC of a new partial last chunk is
 * recomputed) and gives it new_genstamp (0 = keep the current one).
 * 0, or -1 when the replica is absent, being written, or shorter than new_len. */
int datanode_truncate_block(struct datanode *dn, uint64_t block_id, uint64_t new_len, uint64_t new_genstamp);
/* Bytes of the replica on disk (finalized or still being written), or -1. */
int64_t datanode_block_length(struct datanode *dn, uint64_t block_id);
/* data_dir's file system (statvfs) and the bytes our replicas take (data and
 * meta files, as HDFS counts dfsUsed). */
void datanode_stats(struct datanode *dn, uint64_t *capacity, uint64_t *dfs_used, uint64_t *remaining);

#endif
