/*
 * dn: the DataNode of minidfs. DataTransferProtocol (version 28) on its own
 * port, a thread per connection with blocking I/O: WRITE_BLOCK (a pipeline
 * of one), READ_BLOCK and BLOCK_CHECKSUM, with the checksum type the writer
 * asked for (the Go client writes CRC32, Java clients CRC32C).
 *
 * On disk, per block: DIR/blk_<id> (the bytes) and DIR/blk_<id>.meta (a
 * 7-byte header: u16 version 1, u8 checksum type, u32 bytes per checksum,
 * big-endian; then one 4-byte big-endian CRC per chunk), as HDFS lays them out.
 */
#ifndef MINIDFS_DN_H
#define MINIDFS_DN_H

#include <stddef.h>
#include <stdint.h>

struct datanode_config {
    const char *host;          /* listen address, e.g. "127.0.0.1" */
    int port;                  /* 0 = pick a free port */
    const char *data_dir;      /* block files live here (created if missing) */
    const char *block_pool_id;
    const char *datanode_uuid;
};

struct datanode;

/* Binds and starts the accept thread. NULL with a message in err on failure. */
struct datanode *datanode_start(const struct datanode_config *cfg, char *err, size_t errlen);
int datanode_port(const struct datanode *dn);
/* Stops accepting, ends live transfers, joins the threads, frees. */
void datanode_stop(struct datanode *dn);

/* Called from the NameNode thread. */
int datanode_delete_block(struct datanode *dn, uint64_t block_id);
/* Cuts a replica to new_len bytes (the last CRC is recomputed). 0 or -1. */
int datanode_truncate_block(struct datanode *dn, uint64_t block_id, uint64_t new_len, uint64_t new_genstamp);
/* Bytes of a replica on disk, or -1 when there is none. */
int64_t datanode_block_length(struct datanode *dn, uint64_t block_id);
/* The data directory's file system (statvfs) and the bytes our blocks use. */
void datanode_stats(struct datanode *dn, uint64_t *capacity, uint64_t *dfs_used, uint64_t *remaining);

#endif
