/* zkstore: the `zookeeper` statestore driver (see zkstore.h): open, close,
 * waiting and status; the rest is in zk_*.c (see zkstore_int.h). */
#include <stdlib.h>

#include "zkstore_int.h"

const char *zks_strerror(int rc)
{
    switch (rc) {
    case ZKS_OK: return "ok";
    case ZKS_CONFLICT: return "conflict";
    case ZKS_NOTFOUND: return "not found";
    case ZKS_INVALID: return "invalid record";
    case ZKS_NOCONN: return "no connection to ZooKeeper";
    default: return "error";
    }
}

/* ---- the table of one folder ---- */

size_t zk_table_pos(const struct table *t, const char *name, bool *found)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(t->v[mid].name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

void zk_entry_free(struct entry *e)
{
    free(e->name);
    if (e->valid)
        record_free(&e->rec);
    memset(e, 0, sizeof *e);
}

static void table_free(struct table *t)
{
    for (size_t i = 0; i < t->n; i++)
        zk_entry_free(&t->v[i]);
    free(t->v);
    memset(t, 0, sizeof *t);
}

/* ---- the store ---- */

void zk_keep_reason(struct zks *z, const char *fmt, ...)
{
    /* newest first */
    int n = z->nreasons < ZKS_REASONS ? z->nreasons : ZKS_REASONS - 1;
    memmove(z->reasons[1], z->reasons[0], (size_t)n * ZKS_REASON_LEN);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(z->reasons[0], ZKS_REASON_LEN, fmt, ap);
    va_end(ap);
    z->nreasons = n + 1;
}

void zk_build_path(const struct zks *z, const char *folder, const char *name, char *out, size_t outsz)
{
    if (name)
        snprintf(out, outsz, "%s/%s/%s", z->root, folder, name);
    else
        snprintf(out, outsz, "%s/%s", z->root, folder);
}

/* ---- the client library's own log ---- */

static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static void quiet_log(void)
{
    /* The client logs every failed reconnect attempt to stderr (many lines a
     * second while ZooKeeper is away); zks_status() says what matters. Set
     * FEDROUTER_ZK_LOG=1 to see its warnings and errors. */
    const char *e = getenv("FEDROUTER_ZK_LOG");
    zoo_set_debug_level(e && *e && strcmp(e, "0") ? ZOO_LOG_LEVEL_WARN : (ZooLogLevel)0);
}

/* ---- open / close ---- */

struct zks *zks_open(const char *hosts, const char *root, int session_timeout_ms, const char *auth_file,
                     zks_change_fn on_change, void *ctx, char *err, size_t errlen)
{
    if (!hosts || !*hosts) {
        fr_errf(err, errlen, "no ZooKeeper hosts given");
        return NULL;
    }
    if (!root || root[0] != '/' || strstr(root, "//") || strlen(root) > 512) {
        fr_errf(err, errlen, "ZooKeeper root must be an absolute znode path: '%s'", root ? root : "");
        return NULL;
    }
    pthread_once(&log_once, quiet_log);
    struct zks *z = calloc(1, sizeof *z);
    if (!z) {
        fr_errf(err, errlen, "out of memory");
        return NULL;
    }
    z->hosts = strdup(hosts);
    z->root = strdup(root);
    if (!z->hosts || !z->root) {
        fr_errf(err, errlen, "out of memory");
        goto fail;
    }
    size_t rl = strlen(z->root);
    while (rl && z->root[rl - 1] == '/')
        z->root[--rl] = '\0';
    z->timeout_ms = session_timeout_ms > 0 ? session_timeout_ms : 30000;
    z->cb = on_change;
    z->cb_ctx = ctx;
    z->want_reads = on_change != NULL;
    if (auth_file && *auth_file && zk_read_auth_file(z, auth_file, err, errlen) < 0)
        goto fail;
    zk_setup_acls(z);

    pthread_rwlock_init(&z->hlock, NULL);
    pthread_mutex_init(&z->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&z->cv, &ca);
    pthread_condattr_destroy(&ca);
    z->stale_since_ms = wall_ms();
    z->lost_ns = mono_ns();

    if (zk_new_session(z) < 0) {
        fr_errf(err, errlen, "cannot create a ZooKeeper handle for '%s'", hosts);
        zks_close(z);
        return NULL;
    }
    if (pthread_create(&z->thr, NULL, zk_store_thread, z) != 0) {
        fr_errf(err, errlen, "cannot start the statestore thread");
        zks_close(z);
        return NULL;
    }
    z->thr_started = true;
    return z;
fail:
    free(z->hosts);
    free(z->root);
    free(z->admin_cred);
    free(z->reader_cred);
    free(z->admin_id);
    free(z->reader_id);
    free(z);
    return NULL;
}

void zks_close(struct zks *z)
{
    if (!z)
        return;
    if (z->thr_started) {
        pthread_mutex_lock(&z->mu);
        z->stop = true;
        pthread_cond_broadcast(&z->cv);
        pthread_mutex_unlock(&z->mu);
        pthread_join(z->thr, NULL);
    }
    pthread_rwlock_wrlock(&z->hlock);
    zhandle_t *zh = z->zh;
    z->zh = NULL;
    pthread_rwlock_unlock(&z->hlock);
    pthread_mutex_lock(&z->mu);
    z->cur_zh = NULL;
    pthread_mutex_unlock(&z->mu);
    if (zh)
        zookeeper_close(zh);
    for (int k = 0; k < REC_NKINDS; k++)
        table_free(&z->tab[k]);
    for (size_t i = 0; i < z->npend; i++)
        free(z->pend[i].name);
    free(z->pend);
    free(z->reg);
    free(z->sm_id);
    pthread_cond_destroy(&z->cv);
    pthread_mutex_destroy(&z->mu);
    pthread_rwlock_destroy(&z->hlock);
    free(z->hosts);
    free(z->root);
    free(z->admin_cred);
    free(z->reader_cred);
    free(z->admin_id);
    free(z->reader_id);
    free(z);
}

int zks_wait_ready(struct zks *z, int timeout_ms)
{
    int64_t until = mono_ns() + (int64_t)timeout_ms * 1000000;
    pthread_mutex_lock(&z->mu);
    if (!z->want_reads) {
        z->want_reads = true;
        z->full_reload = true;
        pthread_cond_broadcast(&z->cv);
    }
    while (!z->ready && mono_ns() < until) {
        struct timespec ts = mono_deadline(until);
        pthread_cond_timedwait(&z->cv, &z->mu, &ts);
    }
    bool ok = z->ready;
    pthread_mutex_unlock(&z->mu);
    return ok ? ZKS_OK : ZKS_NOCONN;
}

int zks_wait_connected(struct zks *z, int timeout_ms)
{
    int64_t until = mono_ns() + (int64_t)timeout_ms * 1000000;
    pthread_mutex_lock(&z->mu);
    while (!z->connected && mono_ns() < until) {
        struct timespec ts = mono_deadline(until);
        pthread_cond_timedwait(&z->cv, &z->mu, &ts);
    }
    bool ok = z->connected;
    pthread_mutex_unlock(&z->mu);
    return ok ? ZKS_OK : ZKS_NOCONN;
}

int zks_current(struct zks *z, struct record_set *out, uint64_t *zxid)
{
    recset_init(out);
    int rc = ZKS_OK;
    pthread_mutex_lock(&z->mu);
    for (int k = 0; k < REC_NKINDS && rc == ZKS_OK; k++) {
        const struct table *t = &z->tab[k];
        for (size_t i = 0; i < t->n && rc == ZKS_OK; i++) {
            if (!t->v[i].valid)
                continue;
            struct record r;
            if (record_copy(&r, &t->v[i].rec) < 0)
                rc = ZKS_ERR;
            else if (recset_add(out, &r) < 0) {
                record_free(&r);
                rc = ZKS_ERR;
            }
        }
    }
    if (zxid)
        *zxid = z->zxid;
    pthread_mutex_unlock(&z->mu);
    if (rc != ZKS_OK)
        recset_free(out);
    return rc;
}

void zks_status(struct zks *z, struct zks_status *st)
{
    memset(st, 0, sizeof *st);
    pthread_mutex_lock(&z->mu);
    st->ready = z->ready;
    st->connected = z->connected;
    st->stale_since_ms = z->connected ? 0 : z->stale_since_ms;
    st->zxid = z->zxid;
    st->callbacks = z->callbacks;
    st->sessions = z->sessions;
    st->reconnects = z->reconnects;
    st->skipped_total = z->skipped_total;
    for (int k = 0; k < REC_NKINDS; k++)
        for (size_t i = 0; i < z->tab[k].n; i++) {
            if (z->tab[k].v[i].valid)
                st->records++;
            if (z->tab[k].v[i].bad)
                st->skipped_now++;
        }
    st->nreasons = z->nreasons;
    memcpy(st->reasons, z->reasons, sizeof st->reasons);
    pthread_mutex_unlock(&z->mu);
}
