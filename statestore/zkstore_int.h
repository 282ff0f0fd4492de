/*
 * zkstore_int.h: what the zkstore files share (private to statestore/zk*.c).
 *
 * The driver is split by the thread each part runs on:
 *   zkstore.c   open / close / wait / status, the folder tables    (callers' threads)
 *   zk_names.c  znode names <-> record keys                        (pure)
 *   zk_acl.c    the auth file, digest ids, the ACLs records get     (zks_open)
 *   zk_watch.c  sessions, the watcher, pipelined reads, applying
 *               them to the tables, the store thread          (ZooKeeper's threads, the store thread)
 *   zk_ops.c    compare-and-set put / delete / get, router registration,
 *               safe mode                              (callers' threads; the store thread re-registers)
 * Everything under struct zks's `mu` is listed there as such.
 */
#ifndef FR_ZKSTORE_INT_H
#define FR_ZKSTORE_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <pthread.h>

#include <zookeeper/zookeeper.h>

#include "errmsg.h"
#include "clock.h"
#include "zkstore.h"

static const char *const folder_names[REC_NKINDS] = {"mounts", "nameservices", "metastores"};
#define ROUTERS_FOLDER "routers"
#define SAFEMODE_FOLDER "safemode"
#define SAFEMODE_HEADER "# fedrouter-safemode v1"
#define REFRESH_ZNODE "refresh"
#define REFRESH_HEADER "# fedrouter-refresh v1"
#define ROUTER_HEADER "# fedrouter-router v1"
#define READ_BUF_START 16384
#define READ_BUF_MAX (8 << 20)
#define ZKS_RESOLVE_DELAY_MS 30000

/* ---- small helpers ---- */

static inline int64_t mono_ns(void) { return (int64_t)fr_mono_ns(); }

static inline int64_t wall_ms(void) { return fr_wall_ms(); }

static inline struct timespec mono_deadline(int64_t at_ns)
{
    struct timespec ts = {.tv_sec = at_ns / 1000000000, .tv_nsec = at_ns % 1000000000};
    return ts;
}

static inline bool conn_error(int zrc)
{
    return zrc == ZCONNECTIONLOSS || zrc == ZOPERATIONTIMEOUT || zrc == ZSESSIONEXPIRED || zrc == ZINVALIDSTATE ||
           zrc == ZCLOSING || zrc == ZSESSIONMOVED;
}

static inline int zrc_to_rc(int zrc)
{
    if (zrc == ZOK)
        return ZKS_OK;
    if (zrc == ZNONODE)
        return ZKS_NOTFOUND;
    if (zrc == ZBADVERSION || zrc == ZNODEEXISTS)
        return ZKS_CONFLICT;
    return conn_error(zrc) ? ZKS_NOCONN : ZKS_ERR;
}


/* ---- the table of one folder ---- */

struct entry {
    char *name;                 /* znode name */
    int32_t version;
    int64_t mzxid;
    bool valid;                 /* rec holds a record (the current one, or the last good one when bad) */
    bool bad;                   /* the znode's current content is skipped */
    struct record rec;          /* when valid */
};

struct table {
    struct entry *v;            /* sorted by name */
    size_t n, cap;
    int64_t pzxid;
};

/* ---- the store ---- */

struct pending {
    enum rec_kind kind;
    char *name;
};

struct zks {
    char *hosts;
    char *root;                 /* "" for "/", else no trailing slash */
    int timeout_ms;
    zks_change_fn cb;
    void *cb_ctx;

    /* identities and ACLs */
    char *admin_cred, *reader_cred;     /* "user:password" */
    char *admin_id, *reader_id;         /* "user:base64(sha1)" */
    struct ACL acl_rec[2], acl_rfolder[2], acl_rnode[2];
    struct ACL_vector v_rec, v_rfolder, v_rnode;

    pthread_rwlock_t hlock;     /* guards zh (the pointer, not the handle's use) */
    zhandle_t *zh;

    pthread_mutex_t mu;
    pthread_cond_t cv;          /* CLOCK_MONOTONIC */
    /* under mu */
    void *cur_zh;               /* the handle whose events count */
    bool stop, need_session, full_reload, connected, ready, fresh_handle, have_events;
    bool want_reads;            /* read and watch records (a callback was given, or zks_wait_ready was called) */
    int64_t first_ev_ns, last_ev_ns, retry_at_ns;
    int64_t stale_since_ms;
    int64_t lost_ns;            /* monotonic time of stale_since_ms */
    bool folder_dirty[REC_NKINDS];
    struct pending *pend;
    size_t npend, pcap;
    struct table tab[REC_NKINDS];
    uint64_t zxid, callbacks, sessions, reconnects, skipped_total;
    int nreasons;
    char reasons[ZKS_REASONS][ZKS_REASON_LEN];
    struct zks_router *reg;     /* registration to keep, NULL when none */
    bool reg_again;
    /* the safe-mode watch (zks_watch_safemode) */
    char *sm_id;                /* router id watched, NULL when none */
    zks_safemode_fn sm_fn;
    void *sm_ctx;
    uint64_t sm_gen;            /* bumped by each zks_watch_safemode() */
    bool sm_dirty;              /* read (and watch) the znode again */
    bool sm_known, sm_on;       /* last state told to sm_fn */
    /* fedrouter-admin -refresh (<root>/refresh): re-read every record and
     * publish a snapshot even when nothing changed */
    bool refresh_wanted;
    int64_t refresh_mzxid;      /* of the refresh znode when last read; counts in zxid */

    pthread_t thr;
    bool thr_started;
};

/* zkstore.c */
void zk_keep_reason(struct zks *z, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void zk_build_path(const struct zks *z, const char *folder, const char *name, char *out, size_t outsz);
size_t zk_table_pos(const struct table *t, const char *name, bool *found);
void zk_entry_free(struct entry *e);

/* zk_names.c */
int zk_key_to_name(enum rec_kind kind, const char *key, char *out, size_t outsz, char *err, size_t errlen);

/* zk_acl.c */
char *zk_trim_ws(char *s);
int zk_read_auth_file(struct zks *z, const char *file, char *err, size_t errlen);
void zk_setup_acls(struct zks *z);

/* zk_watch.c */
int zk_new_session(struct zks *z);
void zk_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx);
int zk_read_znode(struct zks *z, zhandle_t *zh, const char *path, bool w, char **data, int *len, struct Stat *st);
int zk_decode_record(enum rec_kind kind, const char *name, const char *data, int len, struct record *out,
                     char *why, size_t whylen);
void *zk_store_thread(void *arg);

/* zk_ops.c */
int zk_do_register(struct zks *z, zhandle_t *zh, const struct zks_router *r, char *err, size_t errlen);
int zk_read_safemode(struct zks *z, zhandle_t *zh, const char *id, uint64_t gen);
int zk_ensure_parents(struct zks *z, zhandle_t *zh, const char *path, const struct ACL_vector *last_acl);
zhandle_t *zk_take_handle(struct zks *z, char *err, size_t errlen);
void zk_give_handle(struct zks *z);

#endif
