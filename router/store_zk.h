/*
 * store_zk: the router's routing table kept by the `zookeeper` statestore
 * driver (statestore/zkstore): every change to the records rebuilds the
 * snapshot, and the router registers itself. See store_zk.c.
 */
#ifndef FR_STORE_ZK_H
#define FR_STORE_ZK_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"

struct route_state;

/* Connects and waits briefly for the first table (an empty table is served
 * until ZooKeeper answers). 0, or -1 with why (bad settings, auth file). */
int store_zk_start(struct route_state *rs, const struct config *cfg, char *why, size_t whylen);
/* Registers the router's ephemeral znode once its addresses are known. */
void store_zk_register(struct route_state *rs, const char *hdfs_addr, const char *admin_addr);
void store_zk_stop(struct route_state *rs);

/* Appends the statestore's part of the health line; false when the router
 * has no table at all yet. A stale table still serves: true, and it says so. */
bool store_zk_health(struct route_state *rs, char *out, size_t cap);
/* The statestore's metrics. */
void store_zk_gauges(struct route_state *rs, struct buf *out);

#endif
