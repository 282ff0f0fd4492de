/*
 * route_state: where the router's routing state comes from and what it
 * learns while running: the snapshot holder fed by the statestore (the
 * `file` driver: the config file, reloaded when it changes), and the block
 * pool -> nameservice map, for the calls that name only a block
 * (updateBlockForPipeline, updatePipeline, reportBadBlocks). The map is
 * learned from the NameNodes themselves (versionRequest, by the refresher
 * each round and by a call that meets an unknown pool) and from replies that
 * carry blocks.
 */
#ifndef FR_ROUTE_STATE_H
#define FR_ROUTE_STATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot.h"

struct buf;
struct ha_ns;
struct method_row;
struct router;
struct zks;

struct route_state {
    struct snapshot_ref ref;            /* the current snapshot */
    char path[4096];                    /* the config file (file driver) */
    pthread_t watcher;
    atomic_bool stop;
    _Atomic int64_t loaded_at_ms;       /* last successful load */
    _Atomic uint64_t reload_failures;
    char last_error[512];               /* why the last reload failed ("" if it did not) */
    /* the zookeeper driver (store_zk.c) */
    struct zks *zk;                     /* NULL with the file driver */
    struct router *router;
    char default_ns[128];
    char hdfs_addr[128], admin_addr[128];
    int64_t start_ms;
    bool registered;
    pthread_t registrar;                /* keeps the registration in step with the snapshot */
    bool registrar_started;
    _Atomic uint64_t zxid;              /* of the records the snapshot was built from */
    _Atomic uint64_t rebuilds;
};

/* Remembers that `pool` belongs to the nameservice named ns (thread-safe;
 * ids that are empty, too long or not printable are ignored). */
void route_state_learn_pool(const char *pool, size_t len, const char *ns);
/* Copies the name of the nameservice of a block pool into out; false when
 * the pool was not learned yet. */
bool route_state_pool_ns(const char *pool, char *out, size_t cap);
/* Learns the pool a NameNode of ns names in its answer to versionRequest
 * (VersionResponseProto). 0, or -1 when the answer names none. */
int route_state_learn_version(const uint8_t *payload, size_t len, const char *ns);
/* Learns from a successful reply of the method of row m, where its
 * resp_pool column says blocks are (addBlock, getBlockLocations, ...). */
void route_state_learn_from_reply(const struct method_row *m, const uint8_t *payload, size_t len, struct ha_ns *ns);
/* The known pools as Prometheus lines, fedrouter_block_pool{pool,nameservice} 1. */
void route_state_pools_metrics(struct buf *out);

#endif
