/* zkstore: the `zookeeper` statestore driver (see zkstore.h). */
#include "zkstore.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>

#include <openssl/evp.h>
#include <zookeeper/zookeeper.h>

static const char *const folder_names[REC_NKINDS] = {"mounts", "nameservices", "metastores"};
#define ROUTERS_FOLDER "routers"
#define SAFEMODE_FOLDER "safemode"
#define SAFEMODE_HEADER "# fedrouter-safemode v1"
#define ROUTER_HEADER "# fedrouter-router v1"
#define READ_BUF_START 16384
#define READ_BUF_MAX (8 << 20)
#define ZKS_RESOLVE_DELAY_MS 30000

/* ---- small helpers ---- */

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timespec mono_deadline(int64_t at_ns)
{
    struct timespec ts = {.tv_sec = at_ns / 1000000000, .tv_nsec = at_ns % 1000000000};
    return ts;
}

static bool conn_error(int zrc)
{
    return zrc == ZCONNECTIONLOSS || zrc == ZOPERATIONTIMEOUT || zrc == ZSESSIONEXPIRED || zrc == ZINVALIDSTATE ||
           zrc == ZCLOSING || zrc == ZSESSIONMOVED;
}

static int zrc_to_rc(int zrc)
{
    if (zrc == ZOK)
        return ZKS_OK;
    if (zrc == ZNONODE)
        return ZKS_NOTFOUND;
    if (zrc == ZBADVERSION || zrc == ZNODEEXISTS)
        return ZKS_CONFLICT;
    return conn_error(zrc) ? ZKS_NOCONN : ZKS_ERR;
}

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

/* ---- znode names ---- */

static bool must_escape(unsigned char c)
{
    return c == '%' || c == '/' || c <= 0x20 || c >= 0x7f;
}

long zks_encode_name(const char *in, char *out, size_t outsz)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    if (!in || !*in)
        return -1;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        size_t need = must_escape(*p) ? 3 : 1;
        if (o + need >= outsz)
            return -1;
        if (need == 3) {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        } else {
            out[o++] = (char)*p;
        }
    }
    out[o] = '\0';
    return (long)o;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

long zks_decode_name(const char *in, char *out, size_t outsz)
{
    size_t o = 0;
    if (!in || !*in)
        return -1;
    for (const char *p = in; *p; p++) {
        if (o + 1 >= outsz)
            return -1;
        if (*p == '%') {
            int h = hexval(p[1]), l = h < 0 ? -1 : hexval(p[2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0))
                return -1;
            out[o++] = (char)(h * 16 + l);
            p += 2;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
    return (long)o;
}

/* The znode name of a record key: mount paths are encoded, names are used as they are. */
static int key_to_name(enum rec_kind kind, const char *key, char *out, size_t outsz, char *err, size_t errlen)
{
    if (kind == REC_MOUNT) {
        if (zks_encode_name(key, out, outsz) < 0) {
            set_err(err, errlen, "mount path too long or empty: %.80s", key ? key : "");
            return -1;
        }
        return 0;
    }
    if (!key || !name_valid(key)) {
        set_err(err, errlen, "not a valid %s name: '%.80s'", rec_kind_name(kind), key ? key : "");
        return -1;
    }
    snprintf(out, outsz, "%s", key);
    return 0;
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

static size_t table_pos(const struct table *t, const char *name, bool *found)
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

static void entry_free(struct entry *e)
{
    free(e->name);
    if (e->valid)
        record_free(&e->rec);
    memset(e, 0, sizeof *e);
}

static void table_free(struct table *t)
{
    for (size_t i = 0; i < t->n; i++)
        entry_free(&t->v[i]);
    free(t->v);
    memset(t, 0, sizeof *t);
}

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

    pthread_t thr;
    bool thr_started;
};

static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx);

static void keep_reason(struct zks *z, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void keep_reason(struct zks *z, const char *fmt, ...)
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

static void build_path(const struct zks *z, const char *folder, const char *name, char *out, size_t outsz)
{
    if (name)
        snprintf(out, outsz, "%s/%s/%s", z->root, folder, name);
    else
        snprintf(out, outsz, "%s/%s", z->root, folder);
}

/* ---- auth file ---- */

static char *digest_id(const char *cred)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(cred, strlen(cred), md, &mdlen, EVP_sha1(), NULL))
        return NULL;
    const char *colon = strchr(cred, ':');
    size_t ulen = (size_t)(colon - cred);
    char *out = malloc(ulen + 1 + 4 * ((mdlen + 2) / 3) + 1);
    if (!out)
        return NULL;
    memcpy(out, cred, ulen);
    out[ulen] = ':';
    EVP_EncodeBlock((unsigned char *)out + ulen + 1, md, (int)mdlen);
    return out;
}

static char *trim_ws(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

static int read_auth_file(struct zks *z, const char *file, char *err, size_t errlen)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        set_err(err, errlen, "%s: %s", file, strerror(errno));
        return -1;
    }
    char line[1024];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char *p = trim_ws(line);
        if (!*p || *p == '#')
            continue;
        bool reader = false;
        if (!strncmp(p, "read", 4) && (p[4] == ' ' || p[4] == '\t')) {
            reader = true;
            p = trim_ws(p + 5);
        }
        if (!strncmp(p, "digest:", 7))
            p += 7;
        char *colon = strchr(p, ':');
        if (!colon || colon == p || !colon[1]) {
            set_err(err, errlen, "%s:%d: expected [read] user:password", file, lineno);
            rc = -1;
            break;
        }
        char **slot = reader ? &z->reader_cred : &z->admin_cred;
        if (*slot)
            continue; /* the first one of each kind counts */
        if (!(*slot = strdup(p))) {
            set_err(err, errlen, "out of memory");
            rc = -1;
        }
    }
    fclose(f);
    if (rc < 0)
        return -1;
    if ((z->admin_cred && !(z->admin_id = digest_id(z->admin_cred))) ||
        (z->reader_cred && !(z->reader_id = digest_id(z->reader_cred)))) {
        set_err(err, errlen, "cannot compute the digest of the auth file's identities");
        return -1;
    }
    return 0;
}

static void setup_acls(struct zks *z)
{
    static char digest[] = "digest", world[] = "world", anyone[] = "anyone";
    if (!z->admin_id && !z->reader_id) {
        z->v_rec = ZOO_OPEN_ACL_UNSAFE;
        z->v_rfolder = ZOO_OPEN_ACL_UNSAFE;
        z->v_rnode = ZOO_OPEN_ACL_UNSAFE;
        return;
    }
    struct Id reader = z->reader_id ? (struct Id){digest, z->reader_id} : (struct Id){world, anyone};
    char *me = z->admin_id ? z->admin_id : z->reader_id;
    int n = 0;
    if (z->admin_id)
        z->acl_rec[n++] = (struct ACL){ZOO_PERM_ALL, {digest, z->admin_id}};
    z->acl_rec[n++] = (struct ACL){ZOO_PERM_READ, reader};
    z->v_rec = (struct ACL_vector){n, z->acl_rec};

    n = 0;
    if (z->admin_id)
        z->acl_rfolder[n++] = (struct ACL){ZOO_PERM_ALL, {digest, z->admin_id}};
    z->acl_rfolder[n++] = (struct ACL){ZOO_PERM_READ | ZOO_PERM_CREATE | ZOO_PERM_DELETE, reader};
    z->v_rfolder = (struct ACL_vector){n, z->acl_rfolder};

    n = 0;
    z->acl_rnode[n++] = (struct ACL){ZOO_PERM_ALL, {digest, me}};
    if (!z->reader_id || strcmp(me, z->reader_id))
        z->acl_rnode[n++] = (struct ACL){ZOO_PERM_READ, reader};
    z->v_rnode = (struct ACL_vector){n, z->acl_rnode};
}

/* ---- sessions ---- */

static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static void quiet_log(void)
{
    /* The client logs every failed reconnect attempt to stderr (many lines a
     * second while ZooKeeper is away); zks_status() says what matters. Set
     * FEDROUTER_ZK_LOG=1 to see its warnings and errors. */
    const char *e = getenv("FEDROUTER_ZK_LOG");
    zoo_set_debug_level(e && *e && strcmp(e, "0") ? ZOO_LOG_LEVEL_WARN : (ZooLogLevel)0);
}

/* Opens a new handle (called without mu and without hlock held). */
static int new_session(struct zks *z)
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
    zhandle_t *zh = zookeeper_init(z->hosts, watcher, z->timeout_ms, NULL, z, 0);
    z->cur_zh = zh;
    z->fresh_handle = true;
    z->need_session = zh == NULL;
    if (!zh) {
        keep_reason(z, "zookeeper_init(%s) failed: %s", z->hosts, strerror(errno));
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

static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
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
                keep_reason(z, "ZooKeeper session %s; opening a new one",
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
static int read_znode(struct zks *z, zhandle_t *zh, const char *path, bool w, char **data, int *len, struct Stat *st)
{
    int cap = READ_BUF_START;
    for (;;) {
        char *buf = malloc((size_t)cap + 1);
        if (!buf)
            return ZSYSTEMERROR;
        int n = cap;
        int rc = w ? zoo_wget(zh, path, watcher, z, buf, &n, st) : zoo_get(zh, path, 0, buf, &n, st);
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
static int decode_record(enum rec_kind kind, const char *name, const char *data, int len, struct record *out,
                         char *why, size_t whylen)
{
    size_t hl = strlen(ZKS_FORMAT_HEADER);
    const char *nl = memchr(data, '\n', (size_t)len);
    size_t first = nl ? (size_t)(nl - data) : (size_t)len;
    if (first && data[first - 1] == '\r')
        first--;
    if (first != hl || memcmp(data, ZKS_FORMAT_HEADER, hl)) {
        if (first > 20 && !memcmp(data, "# fedrouter-record v", 20))
            set_err(why, whylen, "unknown record format version '%.*s' (this router reads v1)", (int)(first - 2),
                    data + 2);
        else
            set_err(why, whylen, "no '%s' header line", ZKS_FORMAT_HEADER);
        return -1;
    }
    const char *body = nl ? nl + 1 : data + len;
    char w[ZKS_REASON_LEN];
    if (record_parse_text(body, (size_t)(data + len - body), out, w, sizeof w) < 0) {
        set_err(why, whylen, "%s", w);
        return -1;
    }
    if (out->kind != kind) {
        set_err(why, whylen, "a [%s] record in the %s folder", rec_kind_name(out->kind), folder_names[kind]);
        record_free(out);
        return -1;
    }
    char key[FR_PATH_MAX + 1];
    if (kind == REC_MOUNT ? zks_decode_name(name, key, sizeof key) < 0 : snprintf(key, sizeof key, "%s", name) < 0) {
        set_err(why, whylen, "znode name is not a valid encoded path");
        record_free(out);
        return -1;
    }
    if (strcmp(key, record_key(out))) {
        set_err(why, whylen, "record key '%.100s' does not match its znode", record_key(out));
        record_free(out);
        return -1;
    }
    if (record_validate(out, w, sizeof w) < 0) {
        set_err(why, whylen, "%s", w);
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
    bool ok = decode_record(kind, name, data, len, &rec, why, sizeof why) == 0;
    if (ok && kind == REC_MOUNT)
        rec.u.mount.mtime_ms = (uint64_t)st->mtime;

    pthread_mutex_lock(&z->mu);
    struct table *t = &z->tab[kind];
    bool found;
    size_t i = table_pos(t, name, &found);
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
        keep_reason(z, "%s/%s (version %d) skipped%s: %s", folder_names[kind], name, st->version,
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
    size_t i = table_pos(t, name, &found);
    bool changed = false;
    if (found) {
        changed = t->v[i].valid;
        entry_free(&t->v[i]);
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
            build_path(z, folder_names[q->kind], q->name, path, sizeof path);
            pthread_mutex_unlock(&b.mu);
            int zrc = zoo_awget(zh, path, watcher, z, read_done, q);
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
    build_path(z, folder_names[kind], NULL, path, sizeof path);
    struct String_vector kids = {0, NULL};
    struct Stat st;
    int rc = zoo_wget_children2(zh, path, watcher, z, &kids, &st);
    if (rc == ZNONODE) {
        /* no folder yet: watch for its creation */
        rc = zoo_wexists(zh, path, watcher, z, &st);
        if (rc == ZOK) /* created in between */
            rc = zoo_wget_children2(zh, path, watcher, z, &kids, &st);
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
            table_pos(&z->tab[kind], kids.data[i], &known);
            pthread_mutex_unlock(&z->mu);
        }
        if (!known && rd_add(todo, kind, kids.data[i]) < 0)
            rc = ZSYSTEMERROR;
    }
    deallocate_String_vector(&kids);
    return rc;
}

/* ---- routers (registration) ---- */

static size_t format_router(const struct zks_router *r, char *buf, size_t size)
{
    int n = snprintf(buf, size,
                     "%s\nid = %s\nhdfs = %s\nhms = %s\nadmin = %s\nversion = %s\nstart_ms = %lld\n"
                     "snapshot = %llu\nzxid = %llu\n",
                     ROUTER_HEADER, r->id, r->hdfs, r->hms, r->admin, r->version, (long long)r->start_ms,
                     (unsigned long long)r->snapshot, (unsigned long long)r->zxid);
    return n < 0 ? 0 : (size_t)n;
}

static void parse_router(const char *data, struct zks_router *r)
{
    char *copy = strdup(data), *save = NULL;
    if (!copy)
        return;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (*line == '#' || !eq)
            continue;
        *eq = '\0';
        char *k = trim_ws(line), *v = trim_ws(eq + 1);
        if (!strcmp(k, "hdfs"))
            snprintf(r->hdfs, sizeof r->hdfs, "%s", v);
        else if (!strcmp(k, "hms"))
            snprintf(r->hms, sizeof r->hms, "%s", v);
        else if (!strcmp(k, "admin"))
            snprintf(r->admin, sizeof r->admin, "%s", v);
        else if (!strcmp(k, "version"))
            snprintf(r->version, sizeof r->version, "%s", v);
        else if (!strcmp(k, "start_ms"))
            r->start_ms = strtoll(v, NULL, 10);
        else if (!strcmp(k, "snapshot"))
            r->snapshot = strtoull(v, NULL, 10);
        else if (!strcmp(k, "zxid"))
            r->zxid = strtoull(v, NULL, 10);
    }
    free(copy);
}

/* Creates every missing ancestor of path (persistent, the given ACL for the
 * last one, record ACL above it). Returns a ZooKeeper code. */
static int ensure_parents(struct zks *z, zhandle_t *zh, const char *path, const struct ACL_vector *last_acl)
{
    char buf[FR_PATH_MAX * 3 + 512];
    snprintf(buf, sizeof buf, "%s", path);
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf)
        return ZOK;
    *slash = '\0'; /* buf = parent */
    for (char *p = buf + 1;; p++) {
        bool end = *p == '\0';
        if (*p == '/' || end) {
            char save = *p;
            *p = '\0';
            int rc = zoo_create(zh, buf, NULL, -1, end ? last_acl : &z->v_rec, ZOO_PERSISTENT, NULL, 0);
            if (rc != ZOK && rc != ZNODEEXISTS)
                return rc;
            *p = save;
            if (end)
                return ZOK;
        }
    }
}

static int do_register(struct zks *z, zhandle_t *zh, const struct zks_router *r, char *err, size_t errlen)
{
    char path[1024], data[2048];
    build_path(z, ROUTERS_FOLDER, r->id, path, sizeof path);
    size_t len = format_router(r, data, sizeof data);
    for (int attempt = 0; attempt < 4; attempt++) {
        int rc = zoo_create(zh, path, data, (int)len, &z->v_rnode, ZOO_EPHEMERAL, NULL, 0);
        if (rc == ZOK)
            return ZKS_OK;
        if (rc == ZNONODE) {
            rc = ensure_parents(z, zh, path, &z->v_rfolder);
            if (rc == ZOK)
                continue;
        } else if (rc == ZNODEEXISTS) {
            struct Stat st;
            rc = zoo_exists(zh, path, 0, &st);
            if (rc == ZNONODE)
                continue;
            if (rc == ZOK) {
                const clientid_t *me = zoo_client_id(zh);
                if (me && st.ephemeralOwner == me->client_id) {
                    rc = zoo_set(zh, path, data, (int)len, st.version);
                    if (rc == ZOK)
                        return ZKS_OK;
                    if (rc == ZBADVERSION || rc == ZNONODE)
                        continue;
                } else {
                    /* left by an earlier session of this router (or a router with the same id) */
                    rc = zoo_delete(zh, path, st.version);
                    if (rc == ZOK || rc == ZNONODE || rc == ZBADVERSION)
                        continue;
                }
            }
        }
        set_err(err, errlen, "registering router %s at %s: %s", r->id, path, zerror(rc));
        return zrc_to_rc(rc) == ZKS_CONFLICT ? ZKS_ERR : zrc_to_rc(rc);
    }
    set_err(err, errlen, "registering router %s at %s: the znode keeps changing", r->id, path);
    return ZKS_ERR;
}

/* ---- safe mode ---- */

/* Reads (and watches: an exists watch fires on creation, change and
 * deletion) <root>/safemode/<id>. 1 present, 0 absent, -1 when it could not
 * be read (marked to be read again). */
static int read_safemode(struct zks *z, zhandle_t *zh, const char *id, uint64_t gen)
{
    int zrc = ZINVALIDSTATE;
    if (zh) {
        char path[1024];
        struct Stat st;
        build_path(z, SAFEMODE_FOLDER, id, path, sizeof path);
        zrc = zoo_wexists(zh, path, watcher, z, &st);
    }
    if (zrc == ZOK)
        return 1;
    if (zrc == ZNONODE)
        return 0;
    pthread_mutex_lock(&z->mu);
    if (z->sm_gen == gen) {
        z->sm_dirty = true;
        if (!conn_error(zrc)) {
            keep_reason(z, "reading the safe mode of router %s failed: %s; retrying", id, zerror(zrc));
            z->retry_at_ns = mono_ns() + 500000000LL;
        }
    }
    pthread_mutex_unlock(&z->mu);
    return -1;
}

/* ---- the store thread ---- */

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
            keep_reason(z, "no ZooKeeper connection for %d ms, the session timeout: session expired, opening a new one",
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
                keep_reason(z, "out of memory copying the records");
            }
        }
    }
    if (zxid > z->zxid)
        z->zxid = zxid;
    zxid = z->zxid;
    z->callbacks++;
    pthread_mutex_unlock(&z->mu);
    if (z->cb)
        z->cb(z->cb_ctx, &set, zxid);
    recset_free(&set);
}

static void *store_thread(void *arg)
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
            new_session(z);
            pthread_mutex_lock(&z->mu);
            continue;
        }
        /* take the work */
        int64_t wake_unused = 0;
        bool recs = records_due(z, mono_ns(), &wake_unused);
        bool full = recs && z->full_reload, dirty[REC_NKINDS];
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
            z->have_events = false;
        }
        z->reg_again = false;
        pthread_mutex_unlock(&z->mu);

        pthread_rwlock_rdlock(&z->hlock);
        zhandle_t *zh = z->zh;
        int rc = zh ? ZOK : ZINVALIDSTATE;
        bool changed = false;
        char err[256] = "";
        if (zh && reg && do_register(z, zh, &reginfo, err, sizeof err) != ZKS_OK) {
            pthread_mutex_lock(&z->mu);
            keep_reason(z, "%s", err);
            z->reg_again = true;
            pthread_mutex_unlock(&z->mu);
        }
        int sm_state = sm ? read_safemode(z, zh, smid, smgen) : -1;
        if (recs) {
            struct rd_list todo = {NULL, 0, 0};
            for (int k = 0; k < REC_NKINDS && rc == ZOK; k++)
                if (full || dirty[k])
                    rc = refresh_folder(z, zh, (enum rec_kind)k, full, &changed, &todo);
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
            if (!conn_error(rc)) {
                keep_reason(z, "reading %s failed: %s; retrying", z->root[0] ? z->root : "/", zerror(rc));
                z->retry_at_ns = mono_ns() + 500000000LL;
            }
            pthread_mutex_unlock(&z->mu);
        } else if (recs && (changed || first)) {
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

/* ---- open / close ---- */

struct zks *zks_open(const char *hosts, const char *root, int session_timeout_ms, const char *auth_file,
                     zks_change_fn on_change, void *ctx, char *err, size_t errlen)
{
    if (!hosts || !*hosts) {
        set_err(err, errlen, "no ZooKeeper hosts given");
        return NULL;
    }
    if (!root || root[0] != '/' || strstr(root, "//") || strlen(root) > 512) {
        set_err(err, errlen, "ZooKeeper root must be an absolute znode path: '%s'", root ? root : "");
        return NULL;
    }
    pthread_once(&log_once, quiet_log);
    struct zks *z = calloc(1, sizeof *z);
    if (!z) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    z->hosts = strdup(hosts);
    z->root = strdup(root);
    if (!z->hosts || !z->root) {
        set_err(err, errlen, "out of memory");
        goto fail;
    }
    size_t rl = strlen(z->root);
    while (rl && z->root[rl - 1] == '/')
        z->root[--rl] = '\0';
    z->timeout_ms = session_timeout_ms > 0 ? session_timeout_ms : 30000;
    z->cb = on_change;
    z->cb_ctx = ctx;
    z->want_reads = on_change != NULL;
    if (auth_file && *auth_file && read_auth_file(z, auth_file, err, errlen) < 0)
        goto fail;
    setup_acls(z);

    pthread_rwlock_init(&z->hlock, NULL);
    pthread_mutex_init(&z->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&z->cv, &ca);
    pthread_condattr_destroy(&ca);
    z->stale_since_ms = wall_ms();
    z->lost_ns = mono_ns();

    if (new_session(z) < 0) {
        set_err(err, errlen, "cannot create a ZooKeeper handle for '%s'", hosts);
        zks_close(z);
        return NULL;
    }
    if (pthread_create(&z->thr, NULL, store_thread, z) != 0) {
        set_err(err, errlen, "cannot start the statestore thread");
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

/* ---- direct operations ---- */

/* Takes the handle for one operation (hlock read-locked on success). */
static zhandle_t *take_handle(struct zks *z, char *err, size_t errlen)
{
    pthread_rwlock_rdlock(&z->hlock);
    if (!z->zh) {
        pthread_rwlock_unlock(&z->hlock);
        set_err(err, errlen, "no ZooKeeper session (%s)", z->hosts);
        return NULL;
    }
    return z->zh;
}

static void give_handle(struct zks *z)
{
    pthread_rwlock_unlock(&z->hlock);
}

int zks_get(struct zks *z, enum rec_kind kind, const char *key, struct record *out, int32_t *version, char *err,
            size_t errlen)
{
    char name[FR_PATH_MAX * 3 + 1], path[FR_PATH_MAX * 3 + 512];
    if ((unsigned)kind >= REC_NKINDS || key_to_name(kind, key, name, sizeof name, err, errlen) < 0)
        return ZKS_INVALID;
    build_path(z, folder_names[kind], name, path, sizeof path);
    zhandle_t *zh = take_handle(z, err, errlen);
    if (!zh)
        return ZKS_NOCONN;
    char *data = NULL;
    int len = 0;
    struct Stat st;
    int zrc = read_znode(z, zh, path, false, &data, &len, &st);
    give_handle(z);
    if (zrc != ZOK) {
        int rc = zrc_to_rc(zrc);
        if (rc == ZKS_NOTFOUND)
            set_err(err, errlen, "no %s %s", rec_kind_name(kind), key);
        else
            set_err(err, errlen, "reading %s: %s", path, zerror(zrc));
        return rc == ZKS_CONFLICT ? ZKS_ERR : rc;
    }
    if (version)
        *version = st.version;
    char why[ZKS_REASON_LEN];
    int rc = ZKS_OK;
    if (decode_record(kind, name, data, len, out, why, sizeof why) < 0) {
        set_err(err, errlen, "%s %s (znode %s, version %d) is not valid: %s", rec_kind_name(kind), key, path,
                st.version, why);
        rc = ZKS_INVALID;
    } else if (kind == REC_MOUNT) {
        out->u.mount.mtime_ms = (uint64_t)st.mtime;
    }
    free(data);
    return rc;
}

static void conflict_msg(struct zks *z, zhandle_t *zh, const char *path, enum rec_kind kind, const char *key,
                         int32_t expected, char *err, size_t errlen)
{
    struct Stat st;
    int rc = zoo_exists(zh, path, 0, &st);
    char exp[32];
    if (expected < 0)
        snprintf(exp, sizeof exp, "none");
    else
        snprintf(exp, sizeof exp, "%d", expected);
    if (rc == ZOK)
        set_err(err, errlen, "%s %s was changed by someone else (version %d, expected %s)", rec_kind_name(kind), key,
                st.version, exp);
    else
        set_err(err, errlen, "%s %s was changed by someone else (deleted, expected version %s)", rec_kind_name(kind),
                key, exp);
}

int zks_put(struct zks *z, const struct record *r, int32_t expected_version, int32_t *new_version, char *err,
            size_t errlen)
{
    char why[ZKS_REASON_LEN];
    if (!r || (unsigned)r->kind >= REC_NKINDS) {
        set_err(err, errlen, "no record");
        return ZKS_INVALID;
    }
    if (record_validate(r, why, sizeof why) < 0) {
        set_err(err, errlen, "%s %s: %s", rec_kind_name(r->kind), record_key(r), why);
        return ZKS_INVALID;
    }
    char name[FR_PATH_MAX * 3 + 1], path[FR_PATH_MAX * 3 + 512];
    if (key_to_name(r->kind, record_key(r), name, sizeof name, err, errlen) < 0)
        return ZKS_INVALID;
    build_path(z, folder_names[r->kind], name, path, sizeof path);

    size_t hl = strlen(ZKS_FORMAT_HEADER) + 1;
    size_t tl = record_format(r, true, NULL, 0);
    char *data = malloc(hl + tl + 1);
    if (!data) {
        set_err(err, errlen, "out of memory");
        return ZKS_ERR;
    }
    memcpy(data, ZKS_FORMAT_HEADER "\n", hl);
    record_format(r, true, data + hl, tl + 1);

    zhandle_t *zh = take_handle(z, err, errlen);
    if (!zh) {
        free(data);
        return ZKS_NOCONN;
    }
    int zrc;
    struct Stat st;
    memset(&st, 0, sizeof st);
    if (expected_version < 0) {
        zrc = zoo_create2(zh, path, data, (int)(hl + tl), &z->v_rec, ZOO_PERSISTENT, NULL, 0, &st);
        if (zrc == ZNONODE) {
            zrc = ensure_parents(z, zh, path, &z->v_rec);
            if (zrc == ZOK)
                zrc = zoo_create2(zh, path, data, (int)(hl + tl), &z->v_rec, ZOO_PERSISTENT, NULL, 0, &st);
        }
    } else {
        zrc = zoo_set2(zh, path, data, (int)(hl + tl), expected_version, &st);
    }
    free(data);
    int rc = zrc_to_rc(zrc);
    if (zrc == ZNONODE && expected_version >= 0)
        rc = ZKS_CONFLICT;
    if (rc == ZKS_CONFLICT)
        conflict_msg(z, zh, path, r->kind, record_key(r), expected_version, err, errlen);
    else if (rc != ZKS_OK)
        set_err(err, errlen, "writing %s: %s", path, zerror(zrc));
    else if (new_version)
        *new_version = st.version;
    give_handle(z);
    return rc;
}

int zks_delete(struct zks *z, enum rec_kind kind, const char *key, int32_t expected_version, char *err,
               size_t errlen)
{
    char name[FR_PATH_MAX * 3 + 1], path[FR_PATH_MAX * 3 + 512];
    if ((unsigned)kind >= REC_NKINDS || key_to_name(kind, key, name, sizeof name, err, errlen) < 0)
        return ZKS_INVALID;
    build_path(z, folder_names[kind], name, path, sizeof path);
    zhandle_t *zh = take_handle(z, err, errlen);
    if (!zh)
        return ZKS_NOCONN;
    int zrc = zoo_delete(zh, path, expected_version < 0 ? -1 : expected_version);
    int rc = zrc_to_rc(zrc);
    if (rc == ZKS_NOTFOUND)
        set_err(err, errlen, "no %s %s", rec_kind_name(kind), key);
    else if (rc == ZKS_CONFLICT)
        conflict_msg(z, zh, path, kind, key, expected_version, err, errlen);
    else if (rc != ZKS_OK)
        set_err(err, errlen, "deleting %s: %s", path, zerror(zrc));
    give_handle(z);
    return rc;
}

int zks_register_router(struct zks *z, const struct zks_router *info, char *err, size_t errlen)
{
    if (!info || !name_valid(info->id)) {
        set_err(err, errlen, "not a valid router id: '%s'", info ? info->id : "");
        return ZKS_INVALID;
    }
    pthread_mutex_lock(&z->mu);
    if (!z->reg && !(z->reg = malloc(sizeof *z->reg))) {
        pthread_mutex_unlock(&z->mu);
        set_err(err, errlen, "out of memory");
        return ZKS_ERR;
    }
    *z->reg = *info;
    pthread_mutex_unlock(&z->mu);
    zhandle_t *zh = take_handle(z, err, errlen);
    if (!zh)
        return ZKS_NOCONN; /* registered by the store thread once a session exists */
    int rc = do_register(z, zh, info, err, errlen);
    give_handle(z);
    return rc;
}

static int cmp_router(const void *a, const void *b)
{
    return strcmp(((const struct zks_router *)a)->id, ((const struct zks_router *)b)->id);
}

int zks_list_routers(struct zks *z, struct zks_router **out, size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    char path[1024];
    build_path(z, ROUTERS_FOLDER, NULL, path, sizeof path);
    zhandle_t *zh = take_handle(z, err, errlen);
    if (!zh)
        return ZKS_NOCONN;
    struct String_vector kids = {0, NULL};
    int zrc = zoo_get_children(zh, path, 0, &kids);
    if (zrc == ZNONODE) {
        give_handle(z);
        return ZKS_OK;
    }
    if (zrc != ZOK) {
        give_handle(z);
        set_err(err, errlen, "listing %s: %s", path, zerror(zrc));
        return zrc_to_rc(zrc) == ZKS_CONFLICT ? ZKS_ERR : zrc_to_rc(zrc);
    }
    struct zks_router *v = calloc(kids.count ? (size_t)kids.count : 1, sizeof *v);
    if (!v) {
        deallocate_String_vector(&kids);
        give_handle(z);
        set_err(err, errlen, "out of memory");
        return ZKS_ERR;
    }
    size_t k = 0;
    for (int32_t i = 0; i < kids.count; i++) {
        char p[1024];
        build_path(z, ROUTERS_FOLDER, kids.data[i], p, sizeof p);
        char *data = NULL;
        int len = 0;
        struct Stat st;
        if (read_znode(z, zh, p, false, &data, &len, &st) != ZOK)
            continue; /* gone meanwhile */
        snprintf(v[k].id, sizeof v[k].id, "%s", kids.data[i]);
        parse_router(data, &v[k]);
        free(data);
        k++;
    }
    deallocate_String_vector(&kids);
    give_handle(z);
    qsort(v, k, sizeof *v, cmp_router);
    *out = v;
    *n = k;
    return ZKS_OK;
}

/* ---- safe mode (public) ---- */

static int safemode_path(struct zks *z, const char *router_id, char *path, size_t size, char *err, size_t errlen)
{
    if (!router_id || !name_valid(router_id)) {
        set_err(err, errlen, "not a valid router id: '%.80s'", router_id ? router_id : "");
        return -1;
    }
    build_path(z, SAFEMODE_FOLDER, router_id, path, size);
    return 0;
}

int zks_safemode_set(struct zks *z, const char *router_id, bool on, char *err, size_t errlen)
{
    char path[1024];
    if (safemode_path(z, router_id, path, sizeof path, err, errlen) < 0)
        return ZKS_INVALID;
    zhandle_t *zh = take_handle(z, err, errlen);
    if (!zh)
        return ZKS_NOCONN;
    int zrc;
    if (on) {
        char data[256];
        int len = snprintf(data, sizeof data, "%s\nrouter = %s\nsince_ms = %lld\n", SAFEMODE_HEADER, router_id,
                           (long long)wall_ms());
        zrc = zoo_create(zh, path, data, len, &z->v_rec, ZOO_PERSISTENT, NULL, 0);
        if (zrc == ZNONODE) {
            zrc = ensure_parents(z, zh, path, &z->v_rec);
            if (zrc == ZOK)
                zrc = zoo_create(zh, path, data, len, &z->v_rec, ZOO_PERSISTENT, NULL, 0);
        }
        if (zrc == ZNODEEXISTS)
            zrc = ZOK; /* already in safe mode */
    } else {
        zrc = zoo_delete(zh, path, -1);
        if (zrc == ZNONODE)
            zrc = ZOK; /* already out of it */
    }
    give_handle(z);
    if (zrc != ZOK) {
        set_err(err, errlen, "%s safe mode of router %s (%s): %s", on ? "entering" : "leaving", router_id, path,
                zerror(zrc));
        int rc = zrc_to_rc(zrc);
        return rc == ZKS_CONFLICT || rc == ZKS_NOTFOUND ? ZKS_ERR : rc;
    }
    return ZKS_OK;
}

int zks_safemode_get(struct zks *z, const char *router_id, bool *on, char *err, size_t errlen)
{
    char path[1024];
    if (safemode_path(z, router_id, path, sizeof path, err, errlen) < 0)
        return ZKS_INVALID;
    zhandle_t *zh = take_handle(z, err, errlen);
    if (!zh)
        return ZKS_NOCONN;
    struct Stat st;
    int zrc = zoo_exists(zh, path, 0, &st);
    give_handle(z);
    if (zrc == ZOK || zrc == ZNONODE) {
        *on = zrc == ZOK;
        return ZKS_OK;
    }
    set_err(err, errlen, "reading the safe mode of router %s (%s): %s", router_id, path, zerror(zrc));
    int rc = zrc_to_rc(zrc);
    return rc == ZKS_CONFLICT || rc == ZKS_NOTFOUND ? ZKS_ERR : rc;
}

int zks_watch_safemode(struct zks *z, const char *router_id, zks_safemode_fn fn, void *ctx)
{
    char *id = NULL;
    if (fn) {
        if (!router_id || !name_valid(router_id) || !(id = strdup(router_id)))
            return ZKS_INVALID;
    }
    pthread_mutex_lock(&z->mu);
    free(z->sm_id);
    z->sm_id = id;
    z->sm_fn = fn;
    z->sm_ctx = fn ? ctx : NULL;
    z->sm_gen++;
    z->sm_known = false;
    z->sm_dirty = fn != NULL;
    pthread_cond_broadcast(&z->cv);
    pthread_mutex_unlock(&z->mu);
    return ZKS_OK;
}
