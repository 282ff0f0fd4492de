/* zk_watch.c: sessions, the watcher, pipelined reads applied to the tables,
 * and the store thread (see zkstore.h). */
#include <errno.h>
#include <stdlib.h>

#include "zkstore_int.h"

/* ---- sessions ---- */

/* Opens a new handle (called without mu and without hlock held). */
int zk_new_session(struct zks *z)
{
    zhandle_t *old;
    pthread_rwlock_wrlock(&z->hlock);
    old = z->zh;
    z->zh = NULL;
    pthread_rwlock_unlock(&z->hlock);

    pthread_mutex_lock(&z->mu);
    z->cur_zh = NULL;
    pthread_mutex_unlock(&z->mu);
    if (old)
        zookeeper_close(old);

    /* the watcher may run before zookeeper_init returns: publish under mu first */
    pthread_mutex_lock(&z->mu);
    zhandle_t *zh = zookeeper_init(z->hosts, zk_watcher, z->timeout_ms, NULL, z, 0);
    z->cur_zh = zh;
    z->fresh_handle = true;
    z->need_session = zh == NULL;
    if (!zh) {
        zk_keep_reason(z, "zookeeper_init(%s) failed: %s", z->hosts, strerror(errno));
        z->retry_at_ns = mono_ns() + 1000000000LL;
    }
    pthread_mutex_unlock(&z->mu);
    if (!zh)
        return -1;
    /* By default the client resolves the host names again each time it polls
     * its socket: one getaddrinfo() per batch of answers, which dominated the
     * cost of a pipelined full read. A connection loss still resolves anew. */
    zoo_set_servers_resolution_delay(zh, ZKS_RESOLVE_DELAY_MS);
    if (z->admin_cred)
        zoo_add_auth(zh, "digest", z->admin_cred, (int)strlen(z->admin_cred), NULL, NULL);
    if (z->reader_cred)
        zoo_add_auth(zh, "digest", z->reader_cred, (int)strlen(z->reader_cred), NULL, NULL);
    pthread_rwlock_wrlock(&z->hlock);
    z->zh = zh;
    pthread_rwlock_unlock(&z->hlock);
    return 0;
}

static void note_event(struct zks *z)
{
    int64_t now = mono_ns();
    if (!z->have_events)
        z->first_ev_ns = now;
    z->last_ev_ns = now;
    z->have_events = true;
}

static void add_pending(struct zks *z, enum rec_kind kind, const char *name)
{
    if (z->npend == z->pcap) {
        size_t nc = z->pcap ? z->pcap * 2 : 32;
        struct pending *np = realloc(z->pend, nc * sizeof *np);
        if (!np) {
            z->folder_dirty[kind] = true; /* a folder read covers it (listing re-reads nothing, so reload) */
            z->full_reload = true;
            return;
        }
        z->pend = np;
        z->pcap = nc;
    }
    char *dup = strdup(name);
    if (!dup) {
        z->full_reload = true;
        return;
    }
    z->pend[z->npend++] = (struct pending){kind, dup};
}

void zk_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    struct zks *z = ctx;
    pthread_mutex_lock(&z->mu);
    if (zh != z->cur_zh) {
        pthread_mutex_unlock(&z->mu);
        return;
    }
    if (type == ZOO_SESSION_EVENT) {
        if (state == ZOO_CONNECTED_STATE) {
            if (!z->connected) {
                z->connected = true;
                z->stale_since_ms = 0;
                z->full_reload = true;
                z->sm_dirty = true; /* watches are set again on every connection */
                if (z->fresh_handle) {
                    z->sessions++;
                    z->fresh_handle = false;
                    z->reg_again = z->reg != NULL;
                } else {
                    z->reconnects++;
                }
                note_event(z);
            }
        } else if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE) {
            if (z->connected || !z->stale_since_ms) {
                z->stale_since_ms = wall_ms();
                z->lost_ns = mono_ns();
            }
            z->connected = false;
            if (!z->need_session) {
                zk_keep_reason(z, "ZooKeeper session %s; opening a new one",
                               state == ZOO_AUTH_FAILED_STATE ? "authentication failed" : "expired");
                if (state == ZOO_AUTH_FAILED_STATE)
                    z->retry_at_ns = mono_ns() + 1000000000LL;
            }
            z->need_session = true;
        } else if (z->connected) {
            z->connected = false;
            z->stale_since_ms = wall_ms();
            z->lost_ns = mono_ns();
        }
        pthread_cond_broadcast(&z->cv);
        pthread_mutex_unlock(&z->mu);
        return;
    }
    if (!path || strncmp(path, z->root, strlen(z->root))) {
        pthread_mutex_unlock(&z->mu);
        return;
    }
    const char *rel = path + strlen(z->root);
    if (*rel == '/')
        rel++;
    if (!strcmp(rel, REFRESH_ZNODE)) {
        /* fedrouter-admin -refresh: read everything again, publish anyway */
        z->refresh_wanted = true;
        z->full_reload = true;
        note_event(z);
        pthread_cond_broadcast(&z->cv);
        pthread_mutex_unlock(&z->mu);
        return;
    }
    size_t sl = strlen(SAFEMODE_FOLDER);
    if (!strncmp(rel, SAFEMODE_FOLDER, sl) && rel[sl] == '/') {
        if (z->sm_id && !strcmp(rel + sl + 1, z->sm_id))
            z->sm_dirty = true;
        pthread_cond_broadcast(&z->cv);
        pthread_mutex_unlock(&z->mu);
        return;
    }
    for (int k = 0; k < REC_NKINDS; k++) {
        size_t fl = strlen(folder_names[k]);
        if (strncmp(rel, folder_names[k], fl))
            continue;
        if (rel[fl] == '\0') {
            z->folder_dirty[k] = true;
            note_event(z);
        } else if (rel[fl] == '/' && rel[fl + 1] && !strchr(rel + fl + 1, '/')) {
            add_pending(z, (enum rec_kind)k, rel + fl + 1);
            note_event(z);
        }
        break;
    }
    pthread_cond_broadcast(&z->cv);
    pthread_mutex_unlock(&z->mu);
}

/* ---- reading znodes ---- */

/* Reads a znode's data (watched when w) into a malloc'ed NUL-terminated
 * buffer. Returns a ZooKeeper code. */
int zk_read_znode(struct zks *z, zhandle_t *zh, const char *path, bool w, char **data, int *len, struct Stat *st)
{
    int cap = READ_BUF_START;
    for (;;) {
        char *buf = malloc((size_t)cap + 1);
        if (!buf)
            return ZSYSTEMERROR;
        int n = cap;
        int rc = w ? zoo_wget(zh, path, zk_watcher, z, buf, &n, st) : zoo_get(zh, path, 0, buf, &n, st);
        if (rc != ZOK) {
            free(buf);
            return rc;
        }
        if (st->dataLength > cap && cap < READ_BUF_MAX) {
            free(buf);
            cap = st->dataLength < READ_BUF_MAX ? st->dataLength : READ_BUF_MAX;
            continue;
        }
        if (n < 0)
            n = 0;
        buf[n] = '\0';
        *data = buf;
        *len = n;
        return ZOK;
    }
}

/* Turns znode data into a record: header check, parse, key check. 0 or -1 with why. */
int zk_decode_record(enum rec_kind kind, const char *name, const char *data, int len, struct record *out,
                     char *why, size_t whylen)
{
    size_t hl = strlen(ZKS_FORMAT_HEADER);
    const char *nl = memchr(data, '\n', (size_t)len);
    size_t first = nl ? (size_t)(nl - data) : (size_t)len;
    if (first && data[first - 1] == '\r')
        first--;
    if (first != hl || memcmp(data, ZKS_FORMAT_HEADER, hl)) {
        if (first > 20 && !memcmp(data, "# fedrouter-record v", 20))
            fr_errf(why, whylen, "unknown record format version '%.*s' (this router reads v1)", (int)(first - 2),
                    data + 2);
        else
            fr_errf(why, whylen, "no '%s' header line", ZKS_FORMAT_HEADER);
        return -1;
    }
    const char *body = nl ? nl + 1 : data + len;
    char w[ZKS_REASON_LEN];
    if (record_parse_text(body, (size_t)(data + len - body), out, w, sizeof w) < 0) {
        fr_errf(why, whylen, "%s", w);
        return -1;
    }
    if (out->kind != kind) {
        fr_errf(why, whylen, "a [%s] record in the %s folder", rec_kind_name(out->kind), folder_names[kind]);
        record_free(out);
        return -1;
    }
    char key[FR_PATH_MAX + 1];
    if (kind == REC_MOUNT ? zks_decode_name(name, key, sizeof key) < 0 : snprintf(key, sizeof key, "%s", name) < 0) {
        fr_errf(why, whylen, "znode name is not a valid encoded path");
        record_free(out);
        return -1;
    }
    if (strcmp(key, record_key(out))) {
        fr_errf(why, whylen, "record key '%.100s' does not match its znode", record_key(out));
        record_free(out);
        return -1;
    }
    if (record_validate(out, w, sizeof w) < 0) {
        fr_errf(why, whylen, "%s", w);
        record_free(out);
        return -1;
    }
    return 0;
}

/* ---- applying reads to the table (worker thread; takes mu) ---- */

/* Stores the result of reading one znode. Returns true when the table changed. */
static bool apply_read(struct zks *z, enum rec_kind kind, const char *name, const char *data, int len,
                       const struct Stat *st)
{
    struct record rec;
    char why[ZKS_REASON_LEN];
    bool ok = zk_decode_record(kind, name, data, len, &rec, why, sizeof why) == 0;
    if (ok && kind == REC_MOUNT)
        rec.u.mount.mtime_ms = (uint64_t)st->mtime;

    pthread_mutex_lock(&z->mu);
    struct table *t = &z->tab[kind];
    bool found;
    size_t i = zk_table_pos(t, name, &found);
    if (found && t->v[i].version == st->version && t->v[i].mzxid == st->mzxid) {
        pthread_mutex_unlock(&z->mu);
        if (ok)
            record_free(&rec);
        return false; /* same content (the read only re-armed the watch) */
    }
    if (!found) {
        if (t->n == t->cap) {
            size_t nc = t->cap ? t->cap * 2 : 16;
            struct entry *nv = realloc(t->v, nc * sizeof *nv);
            if (!nv) {
                pthread_mutex_unlock(&z->mu);
                if (ok)
                    record_free(&rec);
                return false;
            }
            t->v = nv;
            t->cap = nc;
        }
        char *nm = strdup(name);
        if (!nm) {
            pthread_mutex_unlock(&z->mu);
            if (ok)
                record_free(&rec);
            return false;
        }
        memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof *t->v);
        t->n++;
        memset(&t->v[i], 0, sizeof t->v[i]);
        t->v[i].name = nm;
    }
    struct entry *e = &t->v[i];
    bool was_valid = e->valid;
    e->version = st->version;
    e->mzxid = st->mzxid;
    e->bad = !ok;
    if (ok) {
        if (e->valid)
            record_free(&e->rec);
        e->rec = rec;
        e->valid = true;
    } else {
        /* a bad write over a good record keeps serving the last good one */
        z->skipped_total++;
        zk_keep_reason(z, "%s/%s (version %d) skipped%s: %s", folder_names[kind], name, st->version,
                       was_valid ? ", its last good version kept" : "", why);
    }
    pthread_mutex_unlock(&z->mu);
    return ok;
}

static bool apply_remove(struct zks *z, enum rec_kind kind, const char *name)
{
    pthread_mutex_lock(&z->mu);
    struct table *t = &z->tab[kind];
    bool found;
    size_t i = zk_table_pos(t, name, &found);
    bool changed = false;
    if (found) {
        changed = t->v[i].valid;
        zk_entry_free(&t->v[i]);
        memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof *t->v);
        t->n--;
    }
    pthread_mutex_unlock(&z->mu);
    return changed;
}

/* ---- pipelined reads ---- */

/*
 * A full read used to be one synchronous round trip per znode. Reads of
 * record znodes now go out with zoo_awget() (the same data watch as before),
 * up to ZKS_READ_WINDOW at a time; the completions (on the client's
 * completion thread) only copy the answer and queue it, and the store thread
 * decodes and applies the answers while further requests are on the wire.
 */
#define ZKS_READ_WINDOW 512

struct rd_batch;

struct rd_req {
    enum rec_kind kind;
    char *name;                 /* znode name (owned) */
    /* set by the completion */
    struct rd_batch *b;
    int rc;
    char *data;                 /* NUL-terminated copy, when rc == ZOK */
    int len;
    struct Stat st;
    struct rd_req *next;        /* in the batch's queue of answers */
};

struct rd_list {
    struct rd_req *v;
    size_t n, cap;
};

struct rd_batch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct rd_req *head, *tail; /* answers not yet applied */
};

static int rd_add(struct rd_list *l, enum rec_kind kind, const char *name)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        struct rd_req *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv)
            return -1;
        l->v = nv;
        l->cap = nc;
    }
    char *dup = strdup(name);
    if (!dup)
        return -1;
    memset(&l->v[l->n], 0, sizeof l->v[l->n]);
    l->v[l->n].kind = kind;
    l->v[l->n].name = dup;
    l->n++;
    return 0;
}

static void rd_free(struct rd_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].data);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

static void read_done(int rc, const char *value, int value_len, const struct Stat *stat, const void *data)
{
    struct rd_req *q = (struct rd_req *)data;
    struct rd_batch *b = q->b;
    q->rc = rc;
    if (rc == ZOK) {
        int n = value && value_len > 0 ? value_len : 0;
        q->data = malloc((size_t)n + 1);
        if (!q->data || !stat) {
            q->rc = ZSYSTEMERROR;
        } else {
            if (n)
                memcpy(q->data, value, (size_t)n);
            q->data[n] = '\0';
            q->len = n;
            q->st = *stat;
        }
    }
    pthread_mutex_lock(&b->mu);
    q->next = NULL;
    if (b->tail)
        b->tail->next = q;
    else
        b->head = q;
    b->tail = q;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

/* Reads (watched) and applies every znode of the list, ZKS_READ_WINDOW in
 * flight at most. Returns ZOK or the first ZooKeeper error (a znode that is
 * gone is no error: it leaves the table, and the folder's child watch reports
 * a re-creation). It returns only once every request sent has been answered. */
static int read_batch(struct zks *z, zhandle_t *zh, struct rd_list *l, bool *changed)
{
    if (!l->n)
        return ZOK;
    struct rd_batch b;
    memset(&b, 0, sizeof b);
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    size_t sent = 0, got = 0;
    int rc = ZOK;
    char path[FR_PATH_MAX * 3 + 512];
    pthread_mutex_lock(&b.mu);
    for (;;) {
        while (rc == ZOK && sent < l->n && sent - got < ZKS_READ_WINDOW) {
            struct rd_req *q = &l->v[sent];
            q->b = &b;
            zk_build_path(z, folder_names[q->kind], q->name, path, sizeof path);
            pthread_mutex_unlock(&b.mu);
            int zrc = zoo_awget(zh, path, zk_watcher, z, read_done, q);
            pthread_mutex_lock(&b.mu);
            if (zrc != ZOK)
                rc = zrc;
            else
                sent++;
        }
        if (got == sent)
            break;
        while (!b.head)
            pthread_cond_wait(&b.cv, &b.mu);
        struct rd_req *q = b.head;
        b.head = b.tail = NULL;
        pthread_mutex_unlock(&b.mu);
        while (q) {
            struct rd_req *next = q->next;
            got++;
            if (q->rc == ZNONODE) {
                if (apply_remove(z, q->kind, q->name))
                    *changed = true;
            } else if (q->rc == ZOK) {
                if (apply_read(z, q->kind, q->name, q->data, q->len, &q->st))
                    *changed = true;
            } else if (rc == ZOK) {
                rc = q->rc; /* stop sending; wait for the rest */
            }
            free(q->data);
            q->data = NULL;
            q = next;
        }
        pthread_mutex_lock(&b.mu);
    }
    pthread_mutex_unlock(&b.mu);
    pthread_cond_destroy(&b.cv);
    pthread_mutex_destroy(&b.mu);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists a folder (child watch; exists watch when it is absent), drops
 * entries that are gone and adds the names to read to `todo` (all of them
 * when reread_all, else only the ones the table does not know). */
static int refresh_folder(struct zks *z, zhandle_t *zh, enum rec_kind kind, bool reread_all, bool *changed,
                          struct rd_list *todo)
{
    char path[1024];
    zk_build_path(z, folder_names[kind], NULL, path, sizeof path);
    struct String_vector kids = {0, NULL};
    struct Stat st;
    int rc = zoo_wget_children2(zh, path, zk_watcher, z, &kids, &st);
    if (rc == ZNONODE) {
        /* no folder yet: watch for its creation */
        rc = zoo_wexists(zh, path, zk_watcher, z, &st);
        if (rc == ZOK) /* created in between */
            rc = zoo_wget_children2(zh, path, zk_watcher, z, &kids, &st);
        if (rc == ZNONODE) {
            rc = ZOK;
            kids.count = 0;
            kids.data = NULL;
            memset(&st, 0, sizeof st);
        }
    }
    if (rc != ZOK)
        return rc;
    if (kids.count > 1)
        qsort(kids.data, (size_t)kids.count, sizeof *kids.data, cmp_str);

    /* entries no longer listed go */
    char **gone = NULL;
    size_t ngone = 0;
    pthread_mutex_lock(&z->mu);
    struct table *t = &z->tab[kind];
    if (t->n) {
        gone = calloc(t->n, sizeof *gone);
        for (size_t i = 0, j = 0; gone && i < t->n; i++) {
            while (j < (size_t)kids.count && strcmp(kids.data[j], t->v[i].name) < 0)
                j++;
            if (j >= (size_t)kids.count || strcmp(kids.data[j], t->v[i].name))
                gone[ngone++] = strdup(t->v[i].name);
        }
    }
    t->pzxid = st.pzxid;
    pthread_mutex_unlock(&z->mu);
    for (size_t i = 0; i < ngone; i++) {
        if (gone[i] && apply_remove(z, kind, gone[i]))
            *changed = true;
        free(gone[i]);
    }
    free(gone);

    for (int32_t i = 0; i < kids.count && rc == ZOK; i++) {
        bool known = false;
        if (!reread_all) {
            pthread_mutex_lock(&z->mu);
            zk_table_pos(&z->tab[kind], kids.data[i], &known);
            pthread_mutex_unlock(&z->mu);
        }
        if (!known && rd_add(todo, kind, kids.data[i]) < 0)
            rc = ZSYSTEMERROR;
    }
    deallocate_String_vector(&kids);
    return rc;
}

/* ---- the store thread ---- */

/* Sets (again) the exists watch on <root>/refresh, which fires when an
 * admin asks every router to re-read the records, and keeps the znode's
 * mzxid so the zxid a router reports shows it has seen the request. */
static int watch_refresh(struct zks *z, zhandle_t *zh)
{
    char path[1024];
    struct Stat st;
    zk_build_path(z, REFRESH_ZNODE, NULL, path, sizeof path);
    int rc = zoo_wexists(zh, path, zk_watcher, z, &st);
    if (rc == ZOK) {
        pthread_mutex_lock(&z->mu);
        z->refresh_mzxid = st.mzxid;
        pthread_mutex_unlock(&z->mu);
    }
    return rc == ZNONODE ? ZOK : rc;
}

/* Whether the records are to be read now (mu held, connected): a full read
 * is pending, or a burst of events has ended. Lowers *wake_ns to when the
 * burst will have ended otherwise. */
static bool records_due(struct zks *z, int64_t now, int64_t *wake_ns)
{
    if (!z->want_reads)
        return false;
    if (!z->have_events && !z->full_reload)
        return false;
    if (!z->have_events)
        return true;
    int64_t due = z->last_ev_ns + (int64_t)ZKS_QUIET_MS * 1000000;
    int64_t cap = z->first_ev_ns + (int64_t)ZKS_MAX_DELAY_MS * 1000000;
    if (cap < due)
        due = cap;
    if (now >= due)
        return true;
    if (due < *wake_ns)
        *wake_ns = due;
    return false;
}

static bool work_due(struct zks *z, int64_t now, int64_t *wake_ns)
{
    *wake_ns = now + 1000000000LL; /* re-check once a second anyway */
    if (z->stop)
        return true;
    if (z->retry_at_ns > now) {
        *wake_ns = z->retry_at_ns;
        return false;
    }
    if (z->need_session)
        return true;
    if (!z->connected) {
        /* Away for longer than the session timeout: the session is gone (or
         * the ensemble was rebuilt and refuses a client that has seen newer
         * zxids than it has). A new handle starts over with a new session. */
        int64_t giveup = z->lost_ns + (int64_t)z->timeout_ms * 1000000;
        if (now >= giveup) {
            zk_keep_reason(z, "no ZooKeeper connection for %d ms, the session timeout: session expired, opening a new one",
                           z->timeout_ms);
            z->need_session = true;
            z->lost_ns = now; /* the next attempt after another timeout */
            return true;
        }
        if (giveup < *wake_ns)
            *wake_ns = giveup;
        return false;
    }
    if (z->reg_again)
        return true;
    if (z->sm_fn && z->sm_dirty)
        return true; /* safe mode is told at once, without waiting for a quiet period */
    return records_due(z, now, wake_ns);
}

static void notify(struct zks *z)
{
    struct record_set set;
    recset_init(&set);
    uint64_t zxid = 0;
    pthread_mutex_lock(&z->mu);
    for (int k = 0; k < REC_NKINDS; k++) {
        const struct table *t = &z->tab[k];
        if ((uint64_t)t->pzxid > zxid)
            zxid = (uint64_t)t->pzxid;
        for (size_t i = 0; i < t->n; i++) {
            if ((uint64_t)t->v[i].mzxid > zxid)
                zxid = (uint64_t)t->v[i].mzxid;
            if (!z->cb || !t->v[i].valid)
                continue;
            struct record r;
            if (record_copy(&r, &t->v[i].rec) < 0 || recset_add(&set, &r) < 0) {
                record_free(&r);
                zk_keep_reason(z, "out of memory copying the records");
            }
        }
    }
    if ((uint64_t)z->refresh_mzxid > zxid)
        zxid = (uint64_t)z->refresh_mzxid;
    if (zxid > z->zxid)
        z->zxid = zxid;
    zxid = z->zxid;
    z->callbacks++;
    pthread_mutex_unlock(&z->mu);
    if (z->cb)
        z->cb(z->cb_ctx, &set, zxid);
    recset_free(&set);
}

void *zk_store_thread(void *arg)
{
    struct zks *z = arg;
    pthread_mutex_lock(&z->mu);
    for (;;) {
        int64_t wake;
        while (!work_due(z, mono_ns(), &wake)) {
            struct timespec ts = mono_deadline(wake);
            pthread_cond_timedwait(&z->cv, &z->mu, &ts);
        }
        if (z->stop)
            break;
        if (z->need_session) {
            pthread_mutex_unlock(&z->mu);
            zk_new_session(z);
            pthread_mutex_lock(&z->mu);
            continue;
        }
        /* take the work */
        int64_t wake_unused = 0;
        bool recs = records_due(z, mono_ns(), &wake_unused);
        bool full = recs && z->full_reload, dirty[REC_NKINDS];
        bool forced = recs && z->refresh_wanted;
        bool reg = z->reg_again;
        struct zks_router reginfo;
        if (reg && z->reg)
            reginfo = *z->reg;
        reg = reg && z->reg;
        bool sm = z->sm_fn && z->sm_dirty && z->sm_id;
        char smid[FR_NAME_MAX + 1] = "";
        uint64_t smgen = z->sm_gen;
        if (sm) {
            snprintf(smid, sizeof smid, "%s", z->sm_id);
            z->sm_dirty = false;
        }
        struct pending *pend = NULL;
        size_t npend = 0;
        memset(dirty, 0, sizeof dirty);
        bool first = !z->ready;
        if (recs) {
            pend = z->pend;
            npend = z->npend;
            memcpy(dirty, z->folder_dirty, sizeof dirty);
            memset(z->folder_dirty, 0, sizeof z->folder_dirty);
            z->pend = NULL;
            z->npend = z->pcap = 0;
            z->full_reload = false;
            z->refresh_wanted = false;
            z->have_events = false;
        }
        z->reg_again = false;
        pthread_mutex_unlock(&z->mu);

        pthread_rwlock_rdlock(&z->hlock);
        zhandle_t *zh = z->zh;
        int rc = zh ? ZOK : ZINVALIDSTATE;
        bool changed = false;
        char err[256] = "";
        if (zh && reg && zk_do_register(z, zh, &reginfo, err, sizeof err) != ZKS_OK) {
            pthread_mutex_lock(&z->mu);
            zk_keep_reason(z, "%s", err);
            z->reg_again = true;
            pthread_mutex_unlock(&z->mu);
        }
        int sm_state = sm ? zk_read_safemode(z, zh, smid, smgen) : -1;
        if (recs) {
            struct rd_list todo = {NULL, 0, 0};
            for (int k = 0; k < REC_NKINDS && rc == ZOK; k++)
                if (full || dirty[k])
                    rc = refresh_folder(z, zh, (enum rec_kind)k, full, &changed, &todo);
            if (full && rc == ZOK)
                rc = watch_refresh(z, zh);
            /* changed znodes (a folder listing reads only the names it did not know) */
            for (size_t i = 0; i < npend && rc == ZOK && !full; i++)
                if (rd_add(&todo, pend[i].kind, pend[i].name) < 0)
                    rc = ZSYSTEMERROR;
            if (rc == ZOK)
                rc = read_batch(z, zh, &todo, &changed);
            rd_free(&todo);
        }
        pthread_rwlock_unlock(&z->hlock);
        for (size_t i = 0; i < npend; i++)
            free(pend[i].name);
        free(pend);

        if (sm_state >= 0) {
            /* told outside every lock: the callback may call into the store */
            pthread_mutex_lock(&z->mu);
            zks_safemode_fn fn = z->sm_gen == smgen ? z->sm_fn : NULL;
            void *fctx = z->sm_ctx;
            bool tell = fn && (!z->sm_known || z->sm_on != (sm_state == 1));
            if (tell) {
                z->sm_known = true;
                z->sm_on = sm_state == 1;
            }
            pthread_mutex_unlock(&z->mu);
            if (tell)
                fn(fctx, sm_state == 1);
        }

        if (recs && rc != ZOK) {
            pthread_mutex_lock(&z->mu);
            z->full_reload = true; /* redo everything once the connection is back */
            z->refresh_wanted = z->refresh_wanted || forced;
            if (!conn_error(rc)) {
                zk_keep_reason(z, "reading %s failed: %s; retrying", z->root[0] ? z->root : "/", zerror(rc));
                z->retry_at_ns = mono_ns() + 500000000LL;
            }
            pthread_mutex_unlock(&z->mu);
        } else if (recs && (changed || first || forced)) {
            notify(z);
            pthread_mutex_lock(&z->mu);
            z->ready = true;
            pthread_cond_broadcast(&z->cv);
            pthread_mutex_unlock(&z->mu);
        }
        pthread_mutex_lock(&z->mu);
    }
    pthread_mutex_unlock(&z->mu);
    return NULL;
}
