/*
 * zkstore: the `zookeeper` statestore driver.
 *
 * Layout below the configured root (zk.root, e.g. /fedrouter; every path
 * below is relative to it, the root itself is created on the first write):
 *
 *   <root>/mounts/<encoded source path>     one znode per mount entry
 *   <root>/nameservices/<name>              one znode per nameservice
 *   <root>/metastores/<name>                one znode per metastore route
 *   <root>/routers/<id>                     ephemeral, one per live router
 *   <root>/safemode/<id>                    present while router <id> is in safe mode
 *   <root>/refresh                          rewritten by fedrouter-admin -refresh
 *
 * A mount's source path becomes one znode name by percent-encoding: '%',
 * '/', control bytes, space and bytes >= 0x80 are written as %XX (upper-case
 * hex), so "/data/x" is stored as "%2Fdata%2Fx".
 *
 * The data of a record znode is a header line followed by the record's
 * canonical text (record_format() with all_keys = true):
 *
 *   # fedrouter-record v1
 *   [mount /data]
 *   destinations = ns1:/data
 *   ...
 *
 * A znode whose header names another format version, whose text fails
 * record_parse_text() / validation, or whose record key does not match the
 * znode name is skipped: it is counted and its reason kept (zks_status()),
 * and the other records are served as usual. When bad data overwrites a good
 * record, the last good version of that record stays in the table until a
 * valid version is written or the znode is deleted. A skipped znode never
 * empties the table.
 *
 * Watching (when an on_change callback is given, or after zks_wait_ready()):
 * a child watch on each of the three folders and a data watch on every
 * record znode. Watch events only mark what changed; one store thread waits
 * for a quiet period (ZKS_QUIET_MS since the last event, at most ZKS_MAX_DELAY_MS
 * after the first), re-reads only the changed znodes and calls the callback
 * once for the whole burst.
 *
 * Reads of record znodes are pipelined (asynchronous reads with the same
 * data watches, up to 512 in flight): a full read (first read, reconnection,
 * new session) is bound by the server's throughput, not by one round trip
 * per znode. Host names are resolved again at most every 30 s (and on each
 * connection loss), not on every poll of the socket.
 *
 * Connection loss keeps the last records and reports "stale since" (wall
 * clock). On reconnection, and on a new session after expiry (the store opens
 * a new handle by itself), every folder and record is read again and all
 * watches are set again, so changes made meanwhile are picked up. A router
 * registered with zks_register_router() is registered again in a new session.
 *
 * Writes are compare-and-set on the znode version.
 *
 * ---- the auth file (zk.auth_file) ----
 *
 *   # comments and blank lines are ignored
 *   alice:secret            the admin identity (a "digest:" prefix is allowed)
 *   read router:secret2     the reader identity (optional)
 *
 * The first line without the `read` word is the admin identity; the first
 * `read` line is the reader identity. Every identity present is added to the
 * session (zoo_add_auth "digest"). Znodes this store creates get these ACLs:
 *   - record znodes and folders: admin ALL, reader READ (safe-mode znodes
 *     and their folder too);
 *   - the routers folder: admin ALL, reader READ|CREATE|DELETE;
 *   - a router's own znode: the creating identity ALL, reader READ.
 * Without a reader line the reader is world:anyone. Without any auth file
 * (or an empty one) znodes are created open to everyone (world:anyone ALL).
 * A router's auth file normally holds only a `read` line; the one given to
 * fedrouter-admin holds the admin line (and the read line, so that the ACLs
 * it writes name the readers).
 *
 * Threads: all functions may be called from any thread. The callback runs on
 * the store's own thread; it must not call zks_close().
 */
#ifndef FR_ZKSTORE_H
#define FR_ZKSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "records.h"

#define ZKS_FORMAT_HEADER "# fedrouter-record v1"
#define ZKS_QUIET_MS 5          /* a burst ends after this long without events */
#define ZKS_MAX_DELAY_MS 20     /* ...or this long after its first event */
#define ZKS_REASONS 8           /* skip reasons kept */
#define ZKS_REASON_LEN 320

/* Result codes. */
enum {
    ZKS_OK = 0,
    ZKS_ERR = -1,               /* ZooKeeper or system error (message says which) */
    ZKS_CONFLICT = -2,          /* compare-and-set lost: the znode's version is not the expected one */
    ZKS_NOTFOUND = -3,          /* no such record */
    ZKS_INVALID = -4,           /* the stored data (or the record given) is not a valid record */
    ZKS_NOCONN = -5,            /* not connected / timed out waiting for ZooKeeper */
};

struct zks;

/* Called on the store thread after each coalesced batch of changes (and
 * after the first full read). `recs` holds every valid record and is only
 * valid during the call (copy what you keep); `zxid` is the highest
 * mzxid/pzxid the set reflects. */
typedef void (*zks_change_fn)(void *ctx, const struct record_set *recs, uint64_t zxid);

/*
 * Connects to `hosts` ("h:p,h:p") and starts watching the records below
 * `root` (an absolute znode path, "/" allowed). auth_file may be NULL or ""
 * (see above). on_change may be NULL. Never blocks on the network: use
 * zks_wait_ready() to wait for the first full read. NULL with a reason in
 * err on a bad argument or an unreadable auth file.
 */
struct zks *zks_open(const char *hosts, const char *root, int session_timeout_ms, const char *auth_file,
                     zks_change_fn on_change, void *ctx, char *err, size_t errlen);
/* Stops the thread, deletes the router registration (by closing the
 * session) and frees everything. NULL is ignored. */
void zks_close(struct zks *z);

/* Waits until the first full read is done. ZKS_OK, or ZKS_NOCONN on timeout.
 * A store opened without a callback reads and watches nothing until this is
 * called (fedrouter-admin only reads the table for -ls). */
int zks_wait_ready(struct zks *z, int timeout_ms);
/* Waits until a session is connected. ZKS_OK, or ZKS_NOCONN on timeout. */
int zks_wait_connected(struct zks *z, int timeout_ms);

/* A deep copy of the current valid records (caller frees with
 * recset_free) and the zxid they reflect. ZKS_OK or ZKS_ERR (memory). */
int zks_current(struct zks *z, struct record_set *out, uint64_t *zxid);

struct zks_status {
    bool ready;                 /* the first full read is done */
    bool connected;
    int64_t stale_since_ms;     /* wall clock (ms since the epoch) when the connection was lost; 0 = connected */
    uint64_t zxid;              /* of the current records */
    uint64_t callbacks;         /* change callbacks made (batches applied) */
    uint64_t sessions;          /* sessions established (> 1 after an expiry) */
    uint64_t reconnects;        /* connections re-established (same or new session) */
    size_t records;             /* records served (last good versions included) */
    size_t skipped_now;         /* znodes whose current content is skipped */
    uint64_t skipped_total;     /* skip events since open */
    int nreasons;               /* most recent first */
    char reasons[ZKS_REASONS][ZKS_REASON_LEN];
};
void zks_status(struct zks *z, struct zks_status *st);

/*
 * Reads one record straight from ZooKeeper (not the cached table) with its
 * znode version. ZKS_OK, ZKS_NOTFOUND, ZKS_INVALID (stored data is bad; the
 * version is still set), ZKS_ERR / ZKS_NOCONN. On ZKS_OK *out is a finished
 * record the caller frees.
 */
int zks_get(struct zks *z, enum rec_kind kind, const char *key, struct record *out, int32_t *version, char *err,
            size_t errlen);

/*
 * Compare-and-set write of a record (validated first). expected_version -1:
 * create, the record must not exist; >= 0: replace the znode with exactly
 * that version. ZKS_CONFLICT when someone else got there first, with the
 * message "<kind> <key> was changed by someone else (version X, expected Y)".
 * *new_version (may be NULL) gets the version written.
 */
int zks_put(struct zks *z, const struct record *r, int32_t expected_version, int32_t *new_version, char *err,
            size_t errlen);

/* Deletes a record; expected_version -1 = whatever its version.
 * ZKS_OK, ZKS_NOTFOUND, ZKS_CONFLICT, ZKS_ERR / ZKS_NOCONN. */
int zks_delete(struct zks *z, enum rec_kind kind, const char *key, int32_t expected_version, char *err,
               size_t errlen);

/* ---- routers ---- */

struct zks_router {
    char id[FR_NAME_MAX + 1];
    char hdfs[128];             /* host:port or "" */
    char hms[128];
    char admin[128];
    char version[64];           /* software version */
    int64_t start_ms;           /* wall clock */
    uint64_t snapshot;          /* version of the routing snapshot it serves */
    uint64_t zxid;              /* zxid that snapshot reflects */
};

/* Creates (or takes over) the ephemeral <root>/routers/<id> znode and keeps
 * it across new sessions. Calling it again updates the data. */
int zks_register_router(struct zks *z, const struct zks_router *info, char *err, size_t errlen);
/* Lists the registered routers (sorted by id); caller frees *out. */
int zks_list_routers(struct zks *z, struct zks_router **out, size_t *n, char *err, size_t errlen);

/* ---- safe mode ----
 *
 * Safe mode is per router, as in RBF: a router in safe mode answers HDFS
 * calls with StandbyException, so clients move to another router. It is
 * kept as the persistent znode <root>/safemode/<router id>, written by
 * admins (record ACLs); present means in safe mode. Its data is informative
 * ("# fedrouter-safemode v1", router, since_ms).
 */

/* Enters (on) or leaves safe mode for a router. Already in that state is no
 * error. ZKS_OK, ZKS_INVALID (bad router id), ZKS_ERR / ZKS_NOCONN. */
int zks_safemode_set(struct zks *z, const char *router_id, bool on, char *err, size_t errlen);
/* Reads a router's safe mode straight from ZooKeeper. ZKS_OK with *on set,
 * ZKS_INVALID, ZKS_ERR / ZKS_NOCONN. */
int zks_safemode_get(struct zks *z, const char *router_id, bool *on, char *err, size_t errlen);

typedef void (*zks_safemode_fn)(void *ctx, bool on);
/*
 * Watches one router's safe mode: fn is called on the store thread with the
 * state once it has been read, then on every change of state (as with any
 * ZooKeeper watch, an enter and a leave in quick succession may be seen as
 * no change; no call while
 * ZooKeeper is unreachable: the last state stands; the watch is set again
 * after a reconnection or a new session, and a change made meanwhile is
 * told then). A store has one such watch: calling again replaces it (fn NULL
 * removes it). Works whether or not the store reads records. fn must not call
 * zks_close(). ZKS_OK, or ZKS_INVALID for a bad router id.
 */
int zks_watch_safemode(struct zks *z, const char *router_id, zks_safemode_fn fn, void *ctx);

/* ---- the whole table (fedrouter-admin -import, -refresh) ---- */

/* One record znode as the store last read it (after zks_wait_ready()). */
struct zks_entry {
    enum rec_kind kind;
    char *key;                  /* mount source path or name (owned) */
    int32_t version;
    bool valid;                 /* false: its current content is skipped as invalid */
};
/* Every record znode, valid or not; free with zks_entries_free(). ZKS_OK
 * or ZKS_ERR. */
int zks_entries(struct zks *z, struct zks_entry **out, size_t *n);
void zks_entries_free(struct zks_entry *v, size_t n);

/* One change of zks_apply(). PUT writes rec (version -1: create, the znode
 * must not exist; >= 0: replace exactly that version). DELETE removes
 * kind/key at exactly `version`. */
enum zks_op_kind { ZKS_OP_PUT, ZKS_OP_DELETE };
struct zks_op {
    enum zks_op_kind op;
    const struct record *rec;   /* PUT */
    enum rec_kind kind;         /* DELETE */
    const char *key;            /* DELETE */
    int32_t version;
};

/*
 * ZooKeeper takes a multi-op transaction as one request, and a request is
 * bounded by the server's jute.maxbuffer (1 MiB less one byte by default).
 * zks_apply() cuts the list into transactions of at most max_bytes (0:
 * ZKS_MULTI_MAX_BYTES) of paths and data; a list that fits is written all
 * or nothing. With several transactions each is all or nothing, and the
 * ones before a failed one stay written.
 */
#define ZKS_MULTI_MAX_BYTES (768u * 1024u)
/* Writes the changes; *ntx (may be NULL) gets the transactions committed.
 * ZKS_OK; ZKS_CONFLICT when a version did not match (the message names the
 * record; nothing of that transaction is written); ZKS_INVALID,
 * ZKS_ERR / ZKS_NOCONN. */
int zks_apply(struct zks *z, const struct zks_op *ops, size_t n, size_t max_bytes, size_t *ntx, char *err,
              size_t errlen);

/*
 * Asks every router watching this root to read all records again now and
 * to publish a new snapshot even when nothing changed: writes
 * <root>/refresh, which every reading store watches. *mzxid (may be NULL)
 * gets the znode's new mzxid; a router that has done the refresh reports a
 * zxid at least that high in its registration (zks_list_routers()).
 */
int zks_refresh(struct zks *z, uint64_t *mzxid, char *err, size_t errlen);

/* ---- helpers (exposed for tests and the admin tool) ---- */

/* Percent-encodes a mount source path into one znode name and back.
 * Both return the length written (NUL-terminated), or -1 when out is too
 * small or the input is not valid. */
long zks_encode_name(const char *in, char *out, size_t outsz);
long zks_decode_name(const char *in, char *out, size_t outsz);

/* A result code's name ("conflict", "not found", ...). */
const char *zks_strerror(int rc);

#endif
