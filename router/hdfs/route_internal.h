/*
 * route_internal: the state of one routed call, shared by the routing rules
 * (hdfs_route.c, route_fanout.c, route_probe.c), the call's life and
 * subcalls (route_call.c), its completion (route_reply.c), the listing merge
 * (route_listing.c) and the answers the router builds from subcalls of its
 * own (route_subcalls.c). Private to the router's HDFS routing.
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

#define RD_FT_MAX 8      /* locations a fault-tolerant call tries */
#define RD_LS_LIMIT 1000 /* entries of a merged listing page (the NameNode's dfs.ls.limit) */
#define RD_MOUNT_STATUS_S                                                                                              \
    1.0 /* seconds a listing waits for its mount points' status (RBF's
                                           mount-status time-out); then the entry's own stands in */

struct rstate;

/*
 * The plan of a routed call: what subcalls it makes and how complete()
 * turns their answers into the client's. A state starts as RP_NEW; the
 * routing rules pick the plan once (route_plan_set), and only a probe
 * hands over to the call it was made for (PROBE, RENAME_PROBE -> ONE or
 * TRY_LOCATIONS). Any other move is a bug.
 */
enum route_plan {
    RP_NEW = 0,            /* just made; a state answered at once, without subcalls, stays so */
    RP_ONE,                /* one subcall; its answer mapped back to the client's view */
    RP_TRY_LOCATIONS,      /* one subcall at a time over cands[]: the next location when the one
                               asked is down (ft) or does not hold the path (seq) */
    RP_LISTING_MOUNTS,     /* getListing of one location with the mount points below merged in;
                               with cands[] the location may change as in TRY_LOCATIONS, and when
                               it is down the mount points alone answer (hdfs.down = partial) */
    RP_LISTING_FANOUT,     /* getListing of a directory kept in several destinations: one subcall
                               per location, the listings merged and paged */
    RP_SUMMARY,            /* getContentSummary / getQuotaUsage: one subcall per location below
                               the path, the answers summed */
    RP_SUMMARY_MOUNT_ONLY, /* RP_SUMMARY of a directory only the mount table has: an empty
                               directory when no location below holds anything yet */
    RP_WRITE_ALL,          /* a write to every location of a mount: the answer of one that did it */
    RP_MERGE,              /* every nameservice, every NameNode, or each block pool's nameservice:
                               the answers merged by the row's merge */
    RP_PROBE,              /* getFileInfo probes of every location before create, mkdirs or a file
                               call (probe_done() then sends the call) */
    RP_RENAME_PROBE,       /* probes of both paths of a rename, then perhaps the deletes of the
                               source's empty copies (rename_phase) */
    RP_OWN,                /* subcalls of the router's own; finish() answers (route_subcalls.c) */
    RP_POOL_PROBE,         /* versionRequest to every NameNode; then the call is routed again */
    RP_NPLANS
};

struct sub {
    struct ha_call hc; /* first */
    struct rstate *st;
    bool finished;
    enum upstream_status ust;
    int status; /* IPC_SUCCESS / IPC_ERROR */
    uint32_t detail;
    char cls[256];
    char msg[1024];
    char why[700];
    struct buf payload; /* SUCCESS: the response message */
    char *dest, *src;   /* summaries: this location's destination root and mount point */
    uint64_t sent_us;   /* when it was sent (upstream metrics) */
};

struct rstate {
    struct rcall *rc;
    struct rd_snap *snap;
    const struct method_row *m;
    char *dest, *src;     /* PATH: the mount's destination root and mount point (owned; NULL: none) */
    char *client_path;    /* PATH: as the client wrote it (owned) */
    enum route_plan plan; /* set with route_plan_set() */
    /* Two modifiers of the plan rather than plans: they say which answers
     * send a call on to the next of cands[], for whichever plan tries
     * locations (TRY_LOCATIONS, LISTING_MOUNTS), and ft also lets probes
     * (PROBE, RENAME_PROBE) pass over a location that cannot answer. A
     * call may have both. */
    bool ft;                        /* on a dead subcluster try the next location (fault-tolerant
                                           mount; calls any subcluster can answer) */
    bool seq;                       /* multi-destination mount: where the path is not, try the next */
    int probe_levels;               /* probing create/mkdirs: subs[k*ncands..] ask for the k-th
                                           ancestor (k = 1..levels-1) */
    uint32_t src_at, dst_at;        /* probing a rename: the locations (bits by cands index) where
                                           the source and the destination have a place */
    uint32_t dparent_root;          /* ... where the destination's parent is the root */
    int rename_phase;               /* 0 probing, 1 deleting the source's empty copies first */
    uint32_t rename_ok;             /* phase 1: the locations the rename goes to next */
    int nsub_used;                  /* phase 1: the delete subcalls */
    bool folder_all;                /* probing: the mount keeps directories in every location */
    uint64_t want_id, found_id;     /* probing for a file call: the inode id it names, and the id of
                                           the status picked so far */
    struct ha_ns *cands[RD_FT_MAX]; /* ft/seq: the locations, in the order to try */
    int ncands, ci;                 /* ci: the next one to try */
    struct buf orig;                /* ft/seq: the client's request, to rewrite for the next location */
    struct sub *absent;             /* seq: the first "not here" answer, kept (owned) */
    char *start_after;              /* getListing: the client's startAfter (owned) */
    size_t sa_len;
    bool router_quota;                 /* getQuotaUsage of a mount entry: these limits are the router's */
    int64_t rq_ns, rq_ss;              /* ...quota.ns and quota.ss (-1: the subclusters' own stand) */
    void (*finish)(struct rstate *st); /* own subcalls (route_subcalls.c): answers once all are done */
    void *extra;                       /* ...what finish needs (owned) */
    void (*free_extra)(void *extra);
    struct reply_job *job; /* the answer is being mapped on a crypto thread (route_offload.c);
                                           the job frees st */
    int nsub, pending;
    struct sub subs[];
};

/* route_call.c: one routed call and its subcalls */
struct rstate *st_new(struct rcall *rc, struct rd_snap *snap, const struct method_row *m, int nsub);
/* Moves st to plan `to`. A move the plan comment above does not allow is a
 * bug: debug builds stop on an assert; release builds log it and keep the
 * plan, returning false. */
bool route_plan_set(struct rstate *st, enum route_plan to);
/* "ONE", "TRY_LOCATIONS", ... for logs. */
const char *route_plan_name(enum route_plan p);
void st_free(struct rstate *st);
/* A call whose state could not be made whole (st may be NULL): out of
 * memory, answered; the state, or else the snapshot, released. */
void st_fail_new(struct rcall *rc, struct rd_snap *snap, struct rstate *st);
/* route_reply.c: answers the call with the answer of sub s, already mapped
 * through the mount (p, len), naming the subcluster where the method does. */
void reply_one_mapped(struct rstate *st, struct sub *s, const uint8_t *p, size_t len);
/* route_offload.c: hands the mapping of sub s's answer to a crypto thread
 * when it is large, has paths to map, and other calls wait on the worker;
 * the job then answers the call and frees st. false: map it on the loop. */
bool reply_map_offload(struct rstate *st, struct sub *s);
/* route_offload.c: the client went away while st's answer is on a thread:
 * true, and the job frees st when it is back (the caller must not). */
bool reply_map_cancel(struct rstate *st);
bool sub_ok(const struct sub *s);
bool sub_not_found(const struct sub *s);
/* Starts subcall i (the client's method, or another one such as a probe). */
void start_sub(struct rstate *st, int i, struct ha_ns *ns, const uint8_t *param, size_t len);
void start_sub_method(struct rstate *st, int i, struct ha_ns *ns, const char *method, const uint8_t *param, size_t len);
/* A subcall that could not be built. */
void fail_sub(struct rstate *st, int i, const char *why);
/* Drops the guard that keeps a call from completing while its subcalls start. */
void guard_drop(struct rstate *st);
/* Answers with an exception, releasing the snapshot. */
void fail_call(struct rcall *rc, struct rd_snap *snap, const char *cls, const char *msg);

/* route_reply.c: the answers */
/* Every subcall is done: answers the call by its plan and frees st (or,
 * trying locations, sends the call on to the next one). */
void route_complete(struct rstate *st);
/* The ha_call done() of a routed call's subcalls (set by st_new). */
void route_sub_done(struct ha_call *hc, enum upstream_status ust, const struct ipc_reply *r, const uint8_t *body,
                    size_t len, const char *why);

/* route_quota.c */
/* Router quotas above mount_src for a call of row m: 0, or -1 with the
 * NameNode's quota exception in *cls / msg. */
int route_check_quota(struct rd_snap *snap, const struct method_row *m, const char *mount_src, const char **cls,
                      char *msg, size_t msglen);

/* route_fanout.c: calls not routed by a path (each owns snap) */
/* To every nameservice (renewLease: those it names), merged by the row. */
void route_all(struct rcall *rc, struct rd_snap *snap, const struct method_row *m, const struct ipc_call *ic);
/* Does an ALL_NAMENODES row go to standbys too this time? */
bool route_to_every_namenode(const struct method_row *m, const struct ipc_call *ic);
/* To every NameNode of every nameservice, merged by the row. */
void route_all_namenodes(struct rcall *rc, struct rd_snap *snap, const struct method_row *m, const struct ipc_call *ic);
/* A block-only call (param: its request) to the nameservices of its pools;
 * may_probe: pools not known yet may be asked of the NameNodes first. */
void route_block_pool(struct rcall *rc, struct rd_snap *snap, const struct method_row *m, const uint8_t *param,
                      size_t len, bool may_probe);
/* Methods the router answers itself (no snapshot held). */
void route_router(struct rcall *rc, const struct method_row *m);

/* hdfs_route.c: the routing rules */
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
void route_own_send(struct rstate *st, int i, struct ha_ns *ns, const char *method, const uint8_t *param, size_t len);
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
