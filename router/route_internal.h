/*
 * route_internal: the state of one routed call, shared by the routing rules
 * (hdfs_route.c), the listing merge (route_listing.c) and the subcalls the
 * router makes on its own (route_subcalls.c). Private to the router's HDFS
 * routing.
 */
#ifndef FR_ROUTE_INTERNAL_H
#define FR_ROUTE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ha.h"
#include "hdfs_conn.h"
#include "route_deps.h"

#define RD_FT_MAX 8                     /* locations a fault-tolerant call tries */

struct rstate;

struct sub {
    struct ha_call hc;                  /* first */
    struct rstate *st;
    bool finished;
    enum upstream_status ust;
    int status;                         /* IPC_SUCCESS / IPC_ERROR */
    uint32_t detail;
    char cls[256];
    char msg[1024];
    char why[700];
    struct buf payload;                 /* SUCCESS: the response message */
    char *dest, *src;                   /* summaries: this location's destination root and mount point */
    uint64_t sent_us;                   /* when it was sent (upstream metrics) */
};

struct rstate {
    struct rcall *rc;
    struct rd_snap *snap;
    const struct method_row *m;
    char *dest, *src;                   /* PATH: the mount's destination root and mount point (owned; NULL: none) */
    char *client_path;                  /* PATH: as the client wrote it (owned) */
    bool has_mount_children;            /* getListing: mount points to merge in */
    bool listing_fanout;                /* getListing: one subcall per HASH_ALL destination */
    bool summary;                       /* getContentSummary/getQuotaUsage over locations below */
    bool mount_only;                    /* summary of a directory that only the mount table has */
    bool ft;                            /* on a dead subcluster try the next location (fault-tolerant
                                           mount; calls any subcluster can answer) */
    bool seq;                           /* multi-destination mount: where the path is not, try the next */
    bool all_write;                     /* multi-destination mount: the write went to every location */
    struct ha_ns *cands[RD_FT_MAX];     /* ft/seq: the locations, in the order to try */
    int ncands, ci;                     /* ci: the next one to try */
    struct buf orig;                    /* ft/seq: the client's request, to rewrite for the next location */
    struct sub *absent;                 /* seq: the first "not here" answer, kept (owned) */
    char *start_after;                  /* getListing: the client's startAfter (owned) */
    size_t sa_len;
    int nsub, pending;
    struct sub subs[];
};

/* route_listing.c */
/* getListing answered from several answers and/or the mount points below. */
void reply_merged_listing(struct rstate *st);
/* getFileInfo of a mount point whose destination has nothing yet: true when answered. */
bool reply_mount_fileinfo(struct rstate *st, const uint8_t *payload, size_t len);
/* Keeps the client's startAfter of a getListing request. */
void take_start_after(struct rstate *st, const struct ipc_call *ic);

/* route_subcalls.c */
/* Ids for a read subcall the router makes on its own: this thread's client
 * id and the next call id. Replies to subcalls that share the client's ids
 * on one connection could not be told apart. */
void route_own_ids(struct ipc_ids *ids);

#endif
