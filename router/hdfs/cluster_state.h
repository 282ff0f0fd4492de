/*
 * cluster_state: what two mount orders need to know about the subclusters,
 * as RBF's resolvers know it.
 *
 *   SPACE  the destination with the most free space: each nameservice's
 *          remaining bytes (getFsStats), kept fresh by a refresher thread;
 *   LOCAL  the destination in the client's own subcluster: the hosts of each
 *          nameservice (its NameNodes and the DataNodes of getDatanodeReport),
 *          matched against the client's address.
 *
 * The refresher asks every nameservice of the current snapshot every
 * interval, off the workers: a thread with its own event loop and NameNode
 * pool (the router's user, a client id of its own), calls bounded by short
 * timeouts. Each round starts with the block pool of every nameservice
 * (versionRequest), which it hands to route_state. Figures older than three
 * intervals are forgotten, so a subcluster that stopped answering drops out
 * of SPACE rather than being chosen on old numbers; resolution then falls
 * back to the written order as the snapshot says. Lookups take one mutex and are
 * made only for mounts with those orders.
 */
#ifndef FR_CLUSTER_STATE_H
#define FR_CLUSTER_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct route_state;

/* Starts the refresher (interval_ms > 0). 0, or -1 when the thread cannot start. */
int cs_start(struct route_state *rs, const char *user, int interval_ms);
void cs_stop(void);

/* Records a nameservice's remaining bytes (also learned from getFsStats
 * answers that pass through the router). */
void cs_note_space(const char *ns, uint64_t remaining);
/* 0 with *remaining when a fresh figure is known, else -1. */
int cs_space(const char *ns, uint64_t *remaining);

/* Records that host (an IP literal) belongs to nameservice ns. */
void cs_note_host(const char *ns, const char *host);
/* The nameservice a client at host belongs to, copied into out (false: unknown). */
bool cs_host_ns(const char *host, char *out, size_t cap);

/* Router quotas (RBF's): the usage of each mount entry that sets a quota,
 * added up over its destinations by the refresher. */
struct cs_usage {
    uint64_t names;                 /* files + directories */
    uint64_t space;                 /* bytes consumed (replicated) */
};
/* true when some mount entry of the current table sets a quota (one atomic load). */
bool cs_quotas_set(void);
/* 0 with the usage of the mount at src when known and fresh, else -1. */
int cs_usage(const char *src, struct cs_usage *u);

/* Each NameNode as the refresher last saw it: every round asks every
 * NameNode of every nameservice getFsStats on its own (no moving on), so a
 * standby answers StandbyException and a dead one does not answer. For the
 * status page. */
enum cs_nn_role {
    CS_NN_ACTIVE,                   /* answered the call */
    CS_NN_STANDBY,                  /* answered StandbyException */
    CS_NN_ERROR,                    /* answered another exception (reachable) */
    CS_NN_DOWN,                     /* no answer: refused, timed out, broken */
};
struct cs_nn {
    enum cs_nn_role role;
    uint64_t latency_us;            /* from send to answer (0 when DOWN) */
    int64_t age_ms;                 /* how long ago */
    char why[160];                  /* the exception or failure, "" when ACTIVE */
};
/* 0 with what is known of NameNode addr of nameservice ns (fresh only),
 * else -1. Takes the module's mutex: not for the workers. */
int cs_namenode(const char *ns, const char *addr, struct cs_nn *out);
const char *cs_nn_role_name(enum cs_nn_role r);

/* How many refresh rounds ran (tests, metrics). */
uint64_t cs_rounds(void);

#endif
