/*
 * route_internal: the state of one routed call, shared by the routing rules
 * (hdfs_route.c), the listing merge (route_listing.c) and the answers the
 * router builds from subcalls of its own (route_subcalls.c). Private to the
 * router's HDFS routing.
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
#define RD_LS_LIMIT 1000                /* entries of a merged listing page (the NameNode's dfs.ls.limit) */
#define RD_MOUNT_STATUS_S 1.0           /* seconds a listing waits for its mount points' status (RBF's
                                           mount-status time-out); then the entry's own stands in */

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
    bool probing;                       /* create/mkdirs: the subcalls are getFileInfo probes of every
                                           location (cands), the call itself follows */
    int probe_levels;                   /* probing create/mkdirs: subs[k*ncands..] ask for the k-th
                                           ancestor (k = 1..levels-1) */
    uint32_t src_at, dst_at;            /* probing a rename: the locations (bits by cands index) where
                                           the source and the destination have a place */
    uint32_t dparent_root;              /* ... where the destination's parent is the root */
    int rename_phase;                   /* 0 probing, 1 deleting the source's empty copies first */
    uint32_t rename_ok;                 /* phase 1: the locations the rename goes to next */
    int nsub_used;                      /* phase 1: the delete subcalls */
    bool folder_all;                    /* probing: the mount keeps directories in every location */
    uint64_t want_id, found_id;         /* probing for a file call: the inode id it names, and the id of
                                           the status picked so far */
    struct ha_ns *cands[RD_FT_MAX];     /* ft/seq: the locations, in the order to try */
    int ncands, ci;                     /* ci: the next one to try */
    struct buf orig;                    /* ft/seq: the client's request, to rewrite for the next location */
    struct sub *absent;                 /* seq: the first "not here" answer, kept (owned) */
    char *start_after;                  /* getListing: the client's startAfter (owned) */
    size_t sa_len;
    bool router_quota;                  /* getQuotaUsage of a mount entry: these limits are the router's */
    int64_t rq_ns, rq_ss;               /* ...quota.ns and quota.ss (-1: the subclusters' own stand) */
    void (*finish)(struct rstate *st);  /* own subcalls (route_subcalls.c): answers once all are done */
    void *extra;                        /* ...what finish needs (owned) */
    void (*free_extra)(void *extra);
    int nsub, pending;
    struct sub subs[];
};

/* hdfs_route.c: one routed call and its subcalls */
struct rstate *st_new(struct rcall *rc, struct rd_snap *snap, const struct method_row *m, int nsub);
void st_free(struct rstate *st);
/* A call whose state could not be made whole (st may be NULL): out of
 * memory, answered; the state, or else the snapshot, released. */
void st_fail_new(struct rcall *rc, struct rd_snap *snap, struct rstate *st);
bool sub_ok(const struct sub *s);
bool sub_not_found(const struct sub *s);
/* Starts subcall i (the client's method, or another one such as a probe). */
void start_sub(struct rstate *st, int i, struct ha_ns *ns, const uint8_t *param, size_t len);
void start_sub_method(struct rstate *st, int i, struct ha_ns *ns, const char *method, const uint8_t *param,
                      size_t len);
/* A subcall that could not be built. */
void fail_sub(struct rstate *st, int i, const char *why);
/* Drops the guard that keeps a call from completing while its subcalls start. */
void guard_drop(struct rstate *st);
/* Answers with an exception, releasing the snapshot. */
void fail_call(struct rcall *rc, struct rd_snap *snap, const char *cls, const char *msg);
/* The request (rq) to every location given, each rewritten for its own. */
void route_write_everywhere(struct rcall *rc, struct rd_snap *snap, const struct method_row *m, const uint8_t *rq,
                            size_t rql, const char *path, struct ha_ns **cands, int n);

/* route_probe.c */
/* create and mkdirs: ask the locations before the call. */
bool probes_first(const struct method_row *m);
/* The fileId a file call names (0: none). */
uint64_t request_file_id(const struct method_row *m, const uint8_t *p, size_t len);
/* Probes for create, mkdirs or a file call with want_id, then the call. */
void route_probe(struct rcall *rc, struct rd_snap *snap, const struct method_row *m, const struct ipc_call *ic,
                 struct rd_req *req, struct ha_ns **cands, int n, uint64_t want_id);
/* A rename of src (request in ic) that may touch several subclusters: probes,
 * then the rename (or the answer a NameNode gives); true when it took the
 * call, false when one subcluster holds both paths (route it as usual). */
bool route_rename_probe(struct rcall *rc, struct rd_snap *snap, const struct method_row *m, const struct ipc_call *ic,
                        const char *src);
/* The probes of a call are in: what to do next. */
void probe_done(struct rstate *st);

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
/* A call state whose nsub subcalls are the router's own: once every one is
 * done, finish(st) answers rc, then st is freed. Start them with
 * route_own_send(), then call route_own_go() (the guard: finish cannot run
 * before). NULL when out of memory (nothing answered, snap not taken). */
struct rstate *route_own_state(struct rcall *rc, struct rd_snap *snap, const struct method_row *m, int nsub,
                               void (*finish)(struct rstate *st));
/* Sends subcall i: method with the packed request param, to ns. */
void route_own_send(struct rstate *st, int i, struct ha_ns *ns, const char *method, const uint8_t *param,
                    size_t len);
void route_own_go(struct rstate *st);
/* Gives up on the subcalls still out (each counts as timed out) and
 * finishes the call. */
void route_own_expire(struct rstate *st);
/* Did the subcall succeed? */
bool route_sub_ok(const struct sub *s);
/* Answers rc with the failure of a subcall. */
void route_reply_sub_error(struct rcall *rc, const struct sub *s);
/* getEnclosingRoot, answered from the mount table and getEZForPath. */
void route_enclosing_root(struct rcall *rc, struct rd_snap *snap, const struct method_row *m, const struct rd_req *req);

#endif
