/*
 * store: the two statestore drivers behind one interface.
 *
 *   main --[statestore] driver--> store_file_ops | store_zk_ops
 *
 *   store_start(ops, settings, host)  the router's first snapshot is already
 *                                     published in host->ref; the driver
 *                                     starts feeding it newer ones:
 *        file       a thread stats the config file every 100 ms; once it
 *                   has changed and then stayed unchanged for settle_ms,
 *                   it is read whole and host->load builds a snapshot
 *                   from those bytes (store_file.c says why it waits)
 *        zookeeper  zkstore watches the records; each batch of changes is
 *                   built into a snapshot; safe-mode changes for this
 *                   router reach host->safemode
 *   store_advertise(st, hdfs, admin)  zookeeper: the router's ephemeral
 *                                     registration znode; file: nothing
 *   store_health / store_gauges       /healthz and /metrics
 *   store_stop(st)                    joins the driver's threads, frees it
 *
 * Either driver runs host->before_publish on the new snapshot, then swaps
 * it into host->ref (snapshot_ref_publish), on the driver's own thread. A
 * reload that fails keeps the last good snapshot; it is counted and its
 * reason kept for the health line.
 *
 * Why the file driver gets a loader callback: its snapshot comes out of the
 * router's whole config file, and only the router's parser (router/config.c)
 * knows that file's [router] keys beside the records. statestore/ sits below
 * router/ (the router links the statestore, never the other way round), so
 * main hands the parser in as host->load instead of this folder linking it.
 * The same goes for the router's other hooks (metastore name clashes, safe
 * mode): they are callbacks, and nothing here includes a router header.
 */
#ifndef FR_STORE_H
#define FR_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "snapshot.h"

struct store;

/* Where a driver's settings come from ([statestore] and [router] keys). */
struct store_params {
    const char *path;               /* file: the config file to watch */
    int file_settle_ms;             /* file: how long a changed file must stay unchanged before it is loaded */
    const char *zk_hosts;           /* zookeeper: "host:port,..." */
    const char *zk_root;
    const char *zk_auth_file;       /* NULL or "": no digest auth */
    int zk_session_timeout_ms;
    const char *router_id;          /* zookeeper: names the registration and safe-mode znodes */
    const char *default_ns;         /* zookeeper: nameservice for paths under no mount; NULL or "" = none */
};

/* The router's side: where snapshots go and what it wants to hear. The
 * callbacks run on the driver's thread; any of them may be NULL except load
 * (file driver). */
struct store_host {
    struct snapshot_ref *ref;       /* initialised by the caller with the first snapshot */
    /* file: builds a snapshot from text (len bytes: the whole file at path,
     * read by the driver); NULL with why on any error (the last good
     * snapshot then stays). */
    struct snapshot *(*load)(void *ctx, const char *path, const char *text, size_t len, char *why,
                             size_t whylen);
    /* Sees each new snapshot just before it is published. */
    void (*before_publish)(void *ctx, struct snapshot *s);
    /* zookeeper: fedrouter-admin -safemode turned this router's safe mode on or off. */
    void (*safemode)(void *ctx, bool on);
    void *ctx;
};

/* What the status page shows of the statestore. */
struct store_info {
    const char *driver;             /* "file" or "zookeeper" */
    bool has_zk;                    /* the fields below the line are set */
    int64_t loaded_at_ms;           /* wall clock of the last snapshot published; 0 = none yet */
    /* -- zookeeper -- */
    bool connected, ready;
    int64_t stale_since_ms;         /* wall clock the connection was lost; 0 = connected */
    uint64_t zxid;                  /* of the records the table was built from */
};

/* A router registered in the statestore (zookeeper: its ephemeral znode). */
struct store_router {
    char id[130];
    char hdfs[128], hms[128], admin[128];
    char version[64];
    int64_t start_ms;               /* wall clock */
    uint64_t snapshot, zxid;        /* what it serves */
};

/* Writes one metrics line (or several), printf-style, to out. */
typedef void (*store_print_fn)(void *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A driver. Callers go through the store_* functions below. */
struct store_ops {
    const char *name;               /* as [statestore] driver names it */
    /* A started driver, or NULL with why. */
    struct store *(*start)(const struct store_params *set, const struct store_host *host, char *why,
                           size_t whylen);
    void (*advertise)(struct store *st, const char *hdfs_addr, const char *admin_addr);
    /* Writes the driver's part of the health line into out ("" if none);
     * false when the router has no table at all yet. */
    bool (*health)(struct store *st, char *out, size_t cap);
    void (*gauges)(struct store *st, store_print_fn print, void *out);
    /* The driver's part of store_info (may be NULL). */
    void (*info)(struct store *st, struct store_info *out);
    /* The live routers, in a malloc'd array; -1 with why when they cannot
     * be listed now. NULL: the driver registers none. */
    int (*routers)(struct store *st, struct store_router **out, size_t *n, char *why, size_t whylen);
    void (*stop)(struct store *st);
};

extern const struct store_ops store_file_ops;
extern const struct store_ops store_zk_ops;

/* Starts the driver. NULL with why ready to log. */
struct store *store_start(const struct store_ops *ops, const struct store_params *set,
                          const struct store_host *host, char *why, size_t whylen);
/* The calls below take a NULL store (not started yet) as a driver with
 * nothing to say: healthy, no error, no failures. */
/* Says where this router serves, once its listeners are bound. */
void store_advertise(struct store *st, const char *hdfs_addr, const char *admin_addr);
/* The driver's part of the health line (see store_ops.health). */
bool store_health(struct store *st, char *out, size_t cap);
/* Why the last reload failed, "" when it did not. Safe from any thread. */
void store_last_error(struct store *st, char *out, size_t cap);
/* The statestore's metrics: reload failures, then the driver's own. */
void store_gauges(struct store *st, store_print_fn print, void *out);
/* The statestore for the status page. Safe from any thread. */
void store_info(struct store *st, struct store_info *out);
/* The routers registered in the statestore (caller frees *out): 0, or -1
 * with why. A driver without registrations answers 0 and none. The
 * zookeeper driver reads ZooKeeper: a round trip, not for a worker. */
int store_routers(struct store *st, struct store_router **out, size_t *n, char *why, size_t whylen);
/* Stops the driver's threads and frees it. NULL is ignored. */
void store_stop(struct store *st);

#endif
