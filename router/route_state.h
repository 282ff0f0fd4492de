/*
 * route_state: where the router's routing state comes from and what it
 * learns while running: the snapshot holder the statestore driver feeds
 * (statestore/store.h: the config file or ZooKeeper), and the block
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
struct store;

struct route_state {
    struct snapshot_ref ref;            /* the current snapshot */
    /* the statestore driver feeding ref (statestore/store.h); NULL until
     * main has started it, and the admin thread may look before then */
    _Atomic(struct store *) store;
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
