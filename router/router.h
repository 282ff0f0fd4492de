/*
 * router: the process-wide state every worker reads: settings, the current
 * routing snapshot, and the flags main sets (drain, stop, safe mode).
 */
#ifndef FR_ROUTER_H
#define FR_ROUTER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "upstream.h"

struct worker;
struct auth_server;
struct fr_workpool;

struct router {
    char id[128];                        /* [router] id */
    char user[256];                      /* the OS user the router runs as */
    uint32_t max_frame;                  /* client frame limit */
    struct upstream_limits upstream_limits;
    char hms_listen[256];                /* metastore listener, "" = off */
    int hms_port;                        /* its bound port, once the first worker bound it */
    bool hms_manual;                     /* MANUAL federation: databases mapped by name, no prefixes */
    bool hms_down_fails;                 /* a metastore down fails a fan-out call instead of being left out */
    double hms_call_timeout;             /* seconds for a metastore's reply (or between its parts) */
    double hms_fanout_timeout;           /* seconds each metastore has for its part of a fan-out */
    size_t hms_max_reply;                /* largest metastore reply held whole */
    size_t client_max_output;            /* reply bytes queued for a client before reading pauses */
    uint32_t client_max_inflight;        /* calls unanswered on an HDFS client before reading pauses */
    double client_idle_timeout;          /* seconds a client may make no progress; 0 = no limit */
    double client_handshake_timeout;     /* seconds for the HDFS handshake / first metastore call; 0 = none */
    uint32_t client_max_conns;           /* client connections of both protocols; 0 = no limit */
    _Atomic uint64_t client_conns;       /* client connections open now, both protocols, every worker */
    _Atomic uint64_t client_refused[2];  /* closed at accept for client.max_conns: [0] HDFS, [1] metastore */
    size_t hms_max_message;              /* largest call a metastore client may send (framed or not) */
    const struct auth_server *auth;      /* [security] with kerberos: SASL for HDFS clients; NULL: SIMPLE only */
    bool hdfs_down_fails;                /* a subcluster down fails a listing/summary instead of a partial answer */
    _Atomic uint64_t hdfs_partial;       /* listings and summaries answered without a subcluster that was down */
    void *state;                         /* the statestore and its snapshot holder (route_deps.c) */
    atomic_bool draining;                /* SIGTERM: finish in-flight calls, take no new ones */
    atomic_bool stopping;                /* leave the loops now */
    atomic_bool safe_mode;               /* answer StandbyException: clients go to another router */
    int nworkers;
    struct worker *workers;
    struct fr_workpool *crypto_pool;     /* crypto threads shared by the workers; NULL: inline */
};

#endif
