/*
 * hms_route.c: where one metastore call goes.
 *
 *   set_ugi   --> kept on the client connection, answered here; replayed
 *                 on each backend connection that serves this client
 *   shutdown  --> (oneway, sent by Hive clients as they close) dropped here
 *   any call  --> the metastore that owns its database --> reply back
 *
 * The backend is asked in the client's own protocol and framing, on a
 * pooled connection of the client's user (hms_up.c).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "hms_compat.h"
#include "hms_conn.h"
#include "hms_internal.h"
#include "hms_names.h"
#include "hms_rules.h"
#include "hms_up.h"
#include "log.h"
#include "metrics.h"
#include "records.h"
#include "route_state.h"
#include "router.h"
#include "snapshot.h"
#include "worker.h"

struct mroute {
    struct hms_upcall uc;               /* first: the pool's callback lands here */
    struct mconn *c;
    uint8_t *msg;                       /* the call as sent to the backend (owned) */
    size_t len;
    struct tw_header h;                 /* of the client's call (name points into msg) */
    struct snapshot *snap;
    const struct ms_rec *ms;
    const struct hms_rule *rule;        /* NULL: a method the table does not know */
    char name[128];                     /* the client's method name (h.name points here) */
    enum hms_compat_kind compat;        /* an old call a Hive 4 metastore may not have */
    bool translated;                    /* sent in its _req form */
    uint64_t sent_us;                   /* upstream metrics */
    const char *prefix;                 /* of the chosen metastore's names ("" for none) */
    char db[256];                       /* the database the call names, as the client wrote it */
    struct hms_relay relay;             /* the reply, passed on as it arrives */
    bool conf_change;                   /* setMetaConf: undo holds the session change until it stands */
    struct hms_conf_undo undo;
};

/* One backend call in the metastore's upstream series (proto hms_upstream). */
void hms_record_upstream(struct mconn *c, const char *method, const char *ms, uint64_t sent_us, bool error)
{
    metrics_record(c->w->metrics, 3, metrics_name_id(method), metrics_name_id(ms), fr_mono_us() - sent_us, error);
}

static void mroute_free(struct mroute *r)
{
    hms_relay_reset(&r->relay);
    snapshot_release(r->snap);
    free(r->msg);
    free(r);
}

/* ---- answers made here ---- */



/* A REPLY whose result holds field 0 (success) = list<string>. */
void hms_reply_string_list(struct mconn *c, const struct tw_header *h, char *const *items, size_t n)
{
    struct buf out = BUF_INIT;
    int16_t last = 0;
    int rc = tw_write_header(c->proto, &out, h->name, h->name_len, TW_REPLY, h->seqid);
    rc |= tw_put_field(c->proto, &out, TW_T_LIST, 0, &last);
    rc |= tw_put_list(c->proto, &out, TW_T_STRING, n);
    for (size_t i = 0; i < n; i++)
        rc |= tw_put_string(c->proto, &out, items[i], strlen(items[i]));
    rc |= tw_put_stop(&out);
    mconn_reply_built(c, &out, rc);
}

void hms_reply_app_error(struct mconn *c, const struct tw_header *h, enum tw_app_error type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void hms_reply_app_error(struct mconn *c, const struct tw_header *h, enum tw_app_error type, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct buf out = BUF_INIT;
    mconn_reply_built(c, &out, tw_write_app_exception(c->proto, &out, h->name, h->name_len, h->seqid, type, msg));
}

/* ---- set_ugi ---- */

struct ugi_ctx {
    struct mconn *c;
    bool bad;
};

static int take_ugi(void *vctx, unsigned idx, const uint8_t *s, size_t len)
{
    struct ugi_ctx *u = vctx;
    struct mconn *c = u->c;
    if (len > HMS_MAX_NAME) {
        u->bad = true; /* kept per connection and replayed upstream: bounded */
        return -1;
    }
    char *v = strndup((const char *)s, len);
    if (!v || memchr(s, 0, len)) {
        free(v);
        u->bad = true;
        return -1;
    }
    if (idx == 0) {
        free(c->user);
        c->user = v;
    } else if (c->ngroups < HMS_MAX_GROUPS) {
        c->groups[c->ngroups++] = v;
    } else {
        free(v);
    }
    return 0;
}

static void route_set_ugi(struct mconn *c, const uint8_t *msg, size_t len, const struct tw_header *h)
{
    if (c->ugi_set) {
        /* As Hive's processor: the user of a connection is set once. */
        struct fr_log_who who = mconn_who(c);
        FR_LOG_EVERY(10, 1000, FR_LOG_WARN, &who, "metastore client: set_ugi again on one connection");
        mconn_close_after_write(c);
        return;
    }
    const struct tw_pathset ps = TW_PS(TW_P(1), TW_P(2, TW_ELEM));
    struct ugi_ctx u = { c, false };
    int rc = tw_walk(c->proto, msg + h->body_off, len - h->body_off, NULL, &ps, take_ugi, &u);
    if (rc < 0 || u.bad || !c->user) {
        hms_reply_app_error(c, h, TW_APP_PROTOCOL_ERROR, "set_ugi: malformed arguments");
        return;
    }
    c->ugi_set = true;
    /* Hive answers with the groups as sent. */
    hms_reply_string_list(c, h, c->groups, c->ngroups);
}

/* A REPLY carrying one of the method's declared exceptions (all metastore
 * exceptions are {1: string message}) in result field `field`. */
static void reply_exception(struct mconn *c, const struct tw_header *h, int field, const char *msg)
{
    struct buf out = BUF_INIT;
    int16_t last = 0, inner = 0;
    int rc = tw_write_header(c->proto, &out, h->name, h->name_len, TW_REPLY, h->seqid);
    rc |= tw_put_field(c->proto, &out, TW_T_STRUCT, (int16_t)field, &last);
    rc |= tw_put_field(c->proto, &out, TW_T_STRING, 1, &inner);
    rc |= tw_put_string(c->proto, &out, msg, strlen(msg));
    rc |= tw_put_stop(&out);
    rc |= tw_put_stop(&out);
    mconn_reply_built(c, &out, rc);
}

/* The prefix a metastore's database names carry for clients: its own in
 * PREFIXED mode, none in MANUAL mode (names are mapped as they are). */
const char *hms_name_prefix(const struct router *rt, const struct ms_rec *ms)
{
    return rt->hms_manual || !ms->prefix ? "" : ms->prefix;
}

/* MANUAL mode: the metastore whose `databases` list names db, else the
 * primary, unless the primary keeps a list of its own: then no metastore
 * shows db (NULL). When several list it, the first in name order wins (the
 * clash is logged when the table loads: hms_log_clashes). A catalog form
 * "@cat#db" names db. */
const struct ms_rec *hms_manual_ms_for_db(const struct snapshot *s, const char *db, size_t len)
{
    const uint8_t *bare;
    if (hms_db_of(HMS_PK_DB, (const uint8_t *)db, len, &bare, &len))
        db = (const char *)bare;
    size_t n = snapshot_ms_count(s);
    for (size_t i = 0; i < n; i++) {
        const struct ms_rec *m = snapshot_ms_at(s, i);
        for (size_t k = 0; k < m->ndatabases; k++)
            if (strlen(m->databases[k]) == len && strncasecmp(m->databases[k], db, len) == 0)
                return m;
    }
    const struct ms_rec *p = snapshot_ms_primary(s);
    return p && p->ndatabases ? NULL : p;
}

void hms_log_clashes(const struct snapshot *s)
{
    size_t n = snapshot_ms_count(s);
    for (size_t i = 0; i < n; i++) {
        const struct ms_rec *a = snapshot_ms_at(s, i);
        for (size_t k = 0; k < a->ndatabases; k++)
            for (size_t j = i + 1; j < n; j++) {
                const struct ms_rec *b = snapshot_ms_at(s, j);
                for (size_t l = 0; l < b->ndatabases; l++)
                    if (strcasecmp(a->databases[k], b->databases[l]) == 0)
                        fr_warn("metastores %s and %s both map database %s: %s serves it (the first by name)",
                                a->name, b->name, a->databases[k], a->name);
            }
    }
}

/* Does the metastore's writable list open database db (as the client
 * names it, prefix included) to writes? */
static bool writable(const struct ms_rec *ms, const char *prefix, const char *db)
{
    size_t pl = strlen(prefix);
    if (!db[0] || strlen(db) < pl)
        return false;
    for (size_t i = 0; i < ms->nwritable; i++)
        if (hms_pattern_match(ms->writable[i], db + pl))
            return true;
    return false;
}

/* ---- which metastore ---- */

/* The transaction space: transactions, locks and write ids. They live on
 * the primary alone, in the client's database names, so that a lock taken
 * is the lock checked, heartbeated and released, and a write id belongs to
 * the transaction that allocated it (as Waggle Dance keeps them). */
static bool txn_space(const char *m)
{
    static const char *const names[] = {
        "abort_txn", "abort_txns", "allocate_table_write_ids", "check_lock", "commit_txn", "get_open_txns",
        "get_open_txns_info", "get_open_txns_req", "get_valid_write_ids", "heartbeat", "heartbeat_txn_range",
        "lock", "open_txns", "show_locks", "unlock",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(m, names[i]) == 0)
            return true;
    return false;
}

/* The notification log: the primary's alone, as Waggle Dance serves it. A
 * database filter naming another metastore's database finds nothing there
 * rather than mixing two id sequences in one stream. */
static bool notification_call(const char *m)
{
    return strcmp(m, "get_next_notification") == 0 || strcmp(m, "get_notification_events_count") == 0 ||
           strcmp(m, "get_current_notificationEventId") == 0;
}

/* Calls about the write ids of tables: only the primary's tables have them
 * in the primary's transactions. */
static bool write_ids_call(const char *m)
{
    return strcmp(m, "allocate_table_write_ids") == 0 || strcmp(m, "get_valid_write_ids") == 0;
}

/*
 * Every database a call names, not only the first on the wire: the first
 * routes the call, every other must live on the same metastore (a rename
 * into another database, exchange_partition, foreign keys, the tables of a
 * multi-table call), and each is checked against the access rules of its
 * own metastore. The first problem found is kept for the answer.
 */
enum pick_problem { PICK_OK, PICK_SPLIT, PICK_HIDDEN, PICK_READ_ONLY, PICK_NOT_PRIMARY };

struct pick {
    const struct hms_rule *rule;
    const struct snapshot *s;
    const struct router *rt;
    bool write;                         /* the call writes what it names */
    bool txn;                           /* the transaction space: every database on the primary's side */
    bool lock;                          /* lock: component types come with the names */
    bool primary_only;                  /* write ids: every table must be the primary's */
    int64_t lock_type;                  /* lock: the type of the component in hand (-1: not seen) */
    uint64_t objname_db;                /* objectName strings that name a database (hms_objname_dbs) */
    unsigned objname_seen;
    int ndbs;
    const struct ms_rec *ms;            /* of the first database: it routes the call */
    char db[256];
    enum pick_problem problem;
    char bad_db[256];                   /* the database of the problem */
    const struct ms_rec *bad_ms;        /* ... and its metastore (PICK_SPLIT, PICK_NOT_PRIMARY) */
};

/* The metastore of a database as the client names it (prefix included);
 * NULL when the router shows no such database (MANUAL mode: no list names
 * it while the primary keeps a list; PREFIXED: no prefix fits and the
 * primary has one of its own). */
const struct ms_rec *hms_ms_of_db(const struct router *rt, const struct snapshot *s, const char *db, size_t len)
{
    return rt->hms_manual ? hms_manual_ms_for_db(s, db, len) : snapshot_ms_for_db(s, db, len, NULL);
}

static void pick_fail(struct pick *p, enum pick_problem why, const char *db, const struct ms_rec *ms)
{
    if (p->problem != PICK_OK)
        return;
    p->problem = why;
    snprintf(p->bad_db, sizeof p->bad_db, "%s", db);
    p->bad_ms = ms;
}

/* May this database be written through the router? The metastore's access
 * (the primary's too), then its writable-database patterns. */
static bool may_write(const struct router *rt, const struct ms_rec *ms, const char *db)
{
    return ms->access == MS_READ_WRITE || writable(ms, hms_name_prefix(rt, ms), db);
}

static int pick_visit_int(void *vctx, unsigned idx, int64_t v)
{
    struct pick *p = vctx;
    if (p->lock && idx == 1)
        p->lock_type = v;
    return 0;
}

static int pick_visit(void *vctx, unsigned idx, const uint8_t *str, size_t len)
{
    struct pick *p = vctx;
    const uint8_t *db;
    size_t dl;
    enum hms_path_kind kind = p->lock ? HMS_PK_DB : hms_path_kind_of(&p->rule->args, idx);
    if (p->lock && idx != 0)
        return 0;
    if (kind == HMS_PK_OBJNAME) {
        unsigned i = p->objname_seen++;
        if (i < 64 && (p->objname_db & (1ull << i)))
            kind = HMS_PK_DB; /* the object is a database */
    }
    /* A database pattern without wildcards names one database
     * (get_table_meta("db", "*", []) as Trino sends it). */
    if (kind == HMS_PK_PATTERN && !hms_pattern_is_wild((const char *)str, len))
        kind = HMS_PK_DB;
    if (!hms_db_of(kind, str, len, &db, &dl))
        return 0;
    char name[256];
    if (dl >= sizeof name) {
        pick_fail(p, PICK_HIDDEN, "(a name too long)", NULL);
        return 1;
    }
    memcpy(name, db, dl);
    name[dl] = 0;
    const struct ms_rec *m = hms_ms_of_db(p->rt, p->s, name, dl);
    bool first = p->ndbs++ == 0;
    if (first) {
        p->ms = m;
        memcpy(p->db, name, dl + 1);
    }
    /* A lock component of type SHARED_READ (1) reads: a read-only
     * database may be read-locked. */
    bool writes = p->write && !(p->lock && p->lock_type == 1);
    p->lock_type = -1;
    if (!m) {
        pick_fail(p, PICK_HIDDEN, name, NULL);
    } else if (p->primary_only && !m->primary) {
        /* Write ids belong to the primary's transactions: a table of
         * another metastore keeps its own, which cannot be joined. */
        pick_fail(p, PICK_NOT_PRIMARY, name, m);
    } else if (p->txn) {
        /* Locks live on the primary in the client's names, whatever
         * metastore holds the database. */
    } else if (!first && m != p->ms) {
        pick_fail(p, PICK_SPLIT, name, m);
    }
    if (m && writes && !may_write(p->rt, m, name))
        pick_fail(p, PICK_READ_ONLY, name, m);
    return 0;
}


/* Answers a call that pick refused, with the method's own exception. */
static void refuse_pick(struct mconn *c, struct mroute *r, const struct pick *pk)
{
    char why[900];
    int exc = r->rule->meta_exc;
    switch (pk->problem) {
    case PICK_SPLIT:
        snprintf(why, sizeof why,
                 "fedrouter: %s names databases of two metastores: %s (metastore %s) and %s (metastore %s); the "
                 "router does not carry one call across metastores",
                 r->name, pk->db, pk->ms ? pk->ms->name : "?", pk->bad_db, pk->bad_ms ? pk->bad_ms->name : "?");
        break;
    case PICK_HIDDEN:
        snprintf(why, sizeof why, "Database %s does not exist", pk->bad_db);
        if (r->rule->nso_exc >= 0)
            exc = r->rule->nso_exc;
        break;
    case PICK_READ_ONLY:
        snprintf(why, sizeof why, "fedrouter: metastore %s is read-only: %s on database %s is refused",
                 pk->bad_ms ? pk->bad_ms->name : "?", r->name, pk->bad_db[0] ? pk->bad_db : "?");
        break;
    case PICK_NOT_PRIMARY:
    default:
        snprintf(why, sizeof why,
                 "fedrouter: %s: database %s lives on metastore %s, whose transactions and write ids are its own; "
                 "through the router, ACID tables are those of the primary metastore",
                 r->name, pk->bad_db, pk->bad_ms ? pk->bad_ms->name : "?");
        break;
    }
    if (exc >= 0)
        reply_exception(c, &r->h, exc, why);
    else
        hms_reply_app_error(c, &r->h, TW_APP_INTERNAL_ERROR, "%s", why);
}

/* ---- HiveObjectRef.objectName: a database name when objectType is DATABASE ---- */

#define OBJ_TYPE_DATABASE 2

struct objname_walk {
    unsigned base;                      /* indices from here are objectType paths */
    int64_t type;                       /* of the ref in hand (-1: not seen) */
    unsigned seen;
    uint64_t dbs;
};

static int objname_str(void *vctx, unsigned idx, const uint8_t *s, size_t len)
{
    struct objname_walk *w = vctx;
    (void)s;
    (void)len;
    if (idx >= w->base)
        return 0;
    if (w->seen < 64 && w->type == OBJ_TYPE_DATABASE)
        w->dbs |= 1ull << w->seen;
    w->seen++;
    w->type = -1;
    return 0;
}

static int objname_int(void *vctx, unsigned idx, int64_t v)
{
    struct objname_walk *w = vctx;
    if (idx >= w->base)
        w->type = v;
    return 0;
}

uint64_t hms_objname_dbs(enum tw_proto proto, const uint8_t *body, size_t len, const struct hms_paths *paths)
{
    unsigned first = paths->n[HMS_PK_DB] + paths->n[HMS_PK_PATTERN], n = paths->n[HMS_PK_OBJNAME];
    if (!n)
        return 0;
    /* The objectName paths, then beside each its objectType (field 1 of
     * the same struct). */
    int32_t steps[2 * 8][TW_MAX_STEPS + 1];
    const int32_t *ptrs[2 * 8];
    unsigned k = 0;
    for (unsigned i = 0; i < n && i < 8; i++) {
        const int32_t *p = paths->ps.p[first + i];
        size_t l = 0;
        while (p[l] != TW_END && l < TW_MAX_STEPS)
            l++;
        memcpy(steps[k], p, (l + 1) * sizeof *p);
        ptrs[k] = steps[k];
        k++;
    }
    unsigned base = k;
    for (unsigned i = 0; i < base; i++) {
        memcpy(steps[k], steps[i], sizeof steps[i]);
        size_t l = 0;
        while (steps[k][l] != TW_END)
            l++;
        if (l)
            steps[k][l - 1] = 1;
        ptrs[k] = steps[k];
        k++;
    }
    struct tw_pathset ps = { ptrs, (uint8_t)k };
    struct objname_walk w = { base, -1, 0, 0 };
    if (tw_walk_values(proto, body, len, NULL, &ps, objname_str, objname_int, &w) < 0)
        return 0;
    return w.dbs;
}

/* An objectName string at an OBJNAME path: a database name or not. */
static enum hms_path_kind objname_kind(struct hms_in_ctx *x, enum hms_path_kind kind)
{
    if (kind != HMS_PK_OBJNAME)
        return kind;
    unsigned i = x->objname_seen++;
    return i < 64 && (x->objname_db & (1ull << i)) ? HMS_PK_DB : HMS_PK_OBJNAME;
}

static int map_in(void *vctx, unsigned idx, const uint8_t *s, size_t len, const uint8_t **out, size_t *out_len)
{
    struct hms_in_ctx *x = vctx;
    return hms_name_in(&x->names, objname_kind(x, hms_path_kind_of(&x->rule->args, idx)), s, len, out, out_len);
}

int hms_map_out(void *vctx, unsigned idx, const uint8_t *s, size_t len, const uint8_t **out, size_t *out_len)
{
    struct hms_in_ctx *x = vctx;
    return hms_name_out(&x->names, objname_kind(x, hms_path_kind_of(&x->rule->result, idx)), s, len, out, out_len);
}

/* Makes the bytes in out the call sent to the backend (out is emptied). */
static int take_message(struct mroute *r, struct buf *out)
{
    uint8_t *nm = malloc(buf_len(out) ? buf_len(out) : 1);
    if (!nm) {
        buf_free(out);
        return -1;
    }
    memcpy(nm, buf_rptr(out), buf_len(out));
    free(r->msg);
    r->msg = nm;
    r->len = buf_len(out);
    buf_free(out);
    return 0;
}

/* The call's arguments with the backend's prefix taken off every database
 * name: r->msg replaced. 0, -1 for a malformed call, -2 for a view text
 * that names a database of another metastore (stored on this one, the view
 * would read this metastore's database of that name: refused). */
static int strip_prefix(struct mroute *r)
{
    if (!r->rule || !r->rule->args.ps.n || !r->prefix[0])
        return 0;
    struct hms_in_ctx x = { r->rule, { r->prefix, BUF_INIT, 0 }, 0, 0 };
    x.objname_db = hms_objname_dbs(r->c->proto, r->msg + r->h.body_off, r->len - r->h.body_off, &r->rule->args);
    struct buf out = BUF_INIT;
    if (buf_append(&out, r->msg, r->h.body_off) < 0)
        return -1;
    int rc = tw_rewrite(r->c->proto, r->msg + r->h.body_off, r->len - r->h.body_off, NULL, &r->rule->args.ps, map_in,
                        &x, &out);
    buf_free(&x.names.out);
    if (rc < 0) {
        buf_free(&out);
        return -1;
    }
    if (rc == TW_CHANGED && take_message(r, &out) < 0)
        return -1;
    buf_free(&out);
    return x.names.foreign_refs && (r->rule->flags & HMS_WRITE) ? -2 : 0;
}

/* The reply with the backend's prefix put back on every database name. */
/* The message of a declared exception names the database as the backend
 * knows it ("orders.x table not found"): the client's name goes back in
 * (whole words only). */
struct exc_ctx {
    const char *bdb;                    /* the backend's name of the database */
    const char *prefix;
    struct buf out;
};

static bool word_char(uint8_t ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
}

static int map_exc(void *vctx, unsigned idx, const uint8_t *s, size_t len, const uint8_t **out, size_t *out_len)
{
    struct exc_ctx *x = vctx;
    size_t bl = strlen(x->bdb), pl = strlen(x->prefix), from = 0;
    bool changed = false;
    buf_reset(&x->out);
    for (size_t i = 0; bl && i + bl <= len; i++) {
        if (strncasecmp((const char *)s + i, x->bdb, bl) != 0 || (i > 0 && word_char(s[i - 1])) ||
            (i + bl < len && word_char(s[i + bl])))
            continue;
        if (buf_append(&x->out, s + from, i - from) < 0 || buf_append(&x->out, x->prefix, pl) < 0)
            return -1;
        from = i;
        i += bl - 1;
        changed = true;
    }
    if (!changed)
        return 0;
    if (buf_append(&x->out, s + from, len - from) < 0)
        return -1;
    *out = buf_rptr(&x->out);
    *out_len = buf_len(&x->out);
    return 1;
}

/* A reply holding the method's NoSuchObjectException or MetaException:
 * its message mapped. true when answered. */
static bool reply_exception_mapped(struct mroute *r, const uint8_t *msg, size_t len, const struct tw_header *h)
{
    size_t pl = strlen(r->prefix);
    if (!r->db[0] || strlen(r->db) <= pl || strncasecmp(r->db, r->prefix, pl) != 0)
        return false;
    int nso = r->rule->nso_exc, meta = r->rule->meta_exc;
    if (nso < 0 && meta < 0)
        return false;
    const struct tw_pathset ps = TW_PS(TW_P(nso >= 0 ? nso : meta, 1), TW_P(meta >= 0 ? meta : nso, 1));
    struct tw_pathset one = { ps.p, (uint8_t)(nso >= 0 && meta >= 0 && nso != meta ? 2 : 1) };
    struct exc_ctx x = { r->db + pl, r->prefix, BUF_INIT };
    struct buf out = BUF_INIT;
    int rc = buf_append(&out, msg, h->body_off) < 0
                 ? -1
                 : tw_rewrite(r->c->proto, msg + h->body_off, len - h->body_off, NULL, &one, map_exc, &x, &out);
    buf_free(&x.out);
    if (rc == TW_CHANGED)
        mconn_reply(r->c, buf_rptr(&out), buf_len(&out));
    buf_free(&out);
    return rc == TW_CHANGED;
}

static void reply_mapped(struct mroute *r, const uint8_t *msg, size_t len)
{
    struct mconn *c = r->c;
    struct tw_header h;
    if (!r->rule || !r->prefix[0] || tw_parse_header(c->proto, msg, len, NULL, &h) != TW_COMPLETE ||
        h.type != TW_REPLY) {
        mconn_reply(c, msg, len);
        return;
    }
    /* A declared exception: field 0 absent, its message may name the database. */
    struct tw_field f;
    if (tw_result_field(c->proto, msg + h.body_off, len - h.body_off, &f) == TW_COMPLETE && f.set && f.id != 0 &&
        reply_exception_mapped(r, msg, len, &h))
        return;
    if (!r->rule->result.ps.n) {
        mconn_reply(c, msg, len);
        return;
    }
    struct hms_in_ctx x = { r->rule, { r->prefix, BUF_INIT, 0 }, 0, 0 };
    x.objname_db = hms_objname_dbs(c->proto, msg + h.body_off, len - h.body_off, &r->rule->result);
    struct buf out = BUF_INIT;
    int rc = buf_append(&out, msg, h.body_off) < 0
                 ? -1
                 : tw_rewrite(c->proto, msg + h.body_off, len - h.body_off, NULL, &r->rule->result.ps, hms_map_out, &x,
                              &out);
    buf_free(&x.names.out);
    if (rc == TW_CHANGED)
        mconn_reply(c, buf_rptr(&out), buf_len(&out));
    else
        mconn_reply(c, msg, len);
    buf_free(&out);
}

/* ---- forwarding ---- */

static int translate(struct mroute *r);
static void forward(struct mconn *c, struct mroute *r);

/* setMetaConf answered: the session's change stands when the metastore
 * took it (a void REPLY), else it is taken back. */
static void conf_settle(struct mroute *r, enum hms_up_status st, const uint8_t *msg, size_t len)
{
    struct mconn *c = r->c;
    if (!r->conf_change)
        return;
    struct tw_header h;
    struct tw_field f;
    /* setMetaConf is void: its success is the empty result. */
    bool took = st == HMS_UP_OK && msg && tw_parse_header(c->proto, msg, len, NULL, &h) == TW_COMPLETE &&
                h.type == TW_REPLY &&
                tw_result_field(c->proto, msg + h.body_off, len - h.body_off, &f) == TW_COMPLETE && !f.set;
    hms_session_undo(c->sess, &r->undo, !took);
    r->conf_change = false;
}

static void on_backend(struct hms_upcall *uc, enum hms_up_status st, const uint8_t *msg, size_t len, const char *why)
{
    struct mroute *r = (struct mroute *)uc;
    struct mconn *c = r->c;
    c->call.route = NULL; /* answered: nothing left to cancel */
    c->call.kind = MCALL_NONE;
    hms_record_upstream(c, r->name, r->ms->name, r->sent_us, st != HMS_UP_OK);
    conf_settle(r, st, msg, len);
    if (r->h.type == TW_ONEWAY) {
        mroute_free(r);
        mconn_done_noreply(c);
        return;
    }
    if (r->relay.started) {
        /* Passed on as it came: the client has part of it, or all. */
        if (st == HMS_UP_OK)
            mconn_reply_end(c);
        else
            mconn_reply_abort(c, why ? why : "no answer");
        mroute_free(r);
        return;
    }
    if (st != HMS_UP_OK) {
        if (st == HMS_UP_TOOBIG)
            hms_reply_app_error(c, &r->h, TW_APP_INTERNAL_ERROR, "metastore %s: %s", r->ms->name, why ? why : "");
        else
            hms_reply_app_error(c, &r->h, TW_APP_INTERNAL_ERROR, "metastore %s is unavailable: %s", r->ms->name,
                                why ? why : "no answer");
        mroute_free(r);
        return;
    }
    if (r->compat && !r->translated && hms_compat_unknown_method(c->proto, msg, len)) {
        /* A Hive 4 metastore: ask again in the new form, and from now on
         * at once. */
        hms_compat_learn(r->ms->name);
        if (translate(r) == 0) {
            forward(c, r);
            return;
        }
    }
    if (r->translated) {
        struct buf old = BUF_INIT;
        if (hms_compat_reply(r->compat, &r->h, msg, len, &old) == 0)
            reply_mapped(r, buf_rptr(&old), buf_len(&old));
        else
            hms_reply_app_error(c, &r->h, TW_APP_INTERNAL_ERROR, "cannot turn the %s_req answer of metastore %s into "
                            "a %s answer", r->name, r->ms->name, r->name);
        buf_free(&old);
        mroute_free(r);
        return;
    }
    reply_mapped(r, msg, len);
    mroute_free(r);
}

/* Replaces the call by its _req form (hms_compat.c). 0 or -1. */
static int translate(struct mroute *r)
{
    struct buf out = BUF_INIT;
    struct tw_header h;
    if (tw_parse_header(r->c->proto, r->msg, r->len, NULL, &h) != TW_COMPLETE ||
        hms_compat_request(r->compat, &h, r->msg, r->len, &out) < 0) {
        buf_free(&out);
        return -1;
    }
    if (take_message(r, &out) < 0)
        return -1;
    r->translated = true;
    return 0;
}

/* setMetaConf's key and value (paths 0 and 1 of its arguments). */
struct conf_kv {
    const uint8_t *s[2];
    size_t l[2];
};

static int take_kv(void *vctx, unsigned idx, const uint8_t *s, size_t len)
{
    struct conf_kv *kv = vctx;
    kv->s[idx] = s;
    kv->l[idx] = len;
    return 0;
}

/* The reply's bytes as they come: passed on unless it must come whole. */
static enum hms_part route_part(struct hms_upcall *uc, const uint8_t *p, size_t len, size_t total, size_t *used,
                                char *why, size_t whylen)
{
    struct mroute *r = (struct mroute *)uc;
    return hms_relay_part(&r->relay, r->c, r->rule, r->prefix, r->c->w->router->hms_max_reply, p, len, total,
                          used, why, whylen);
}

/* setMetaConf: the client's session gets backend connections of its own
 * (a metastore keeps these settings per connection), and the change is
 * recorded now, to be replayed on each of them, and taken back if the
 * metastore refuses it. 0, or -1 when answered here. */
static int conf_prepare(struct mconn *c, struct mroute *r)
{
    const struct tw_pathset ps = TW_PS(TW_P(1), TW_P(2));
    struct conf_kv kv = { { NULL, NULL }, { 0, 0 } };
    if (tw_walk(c->proto, r->msg + r->h.body_off, r->len - r->h.body_off, NULL, &ps, take_kv, &kv) < 0 || !kv.s[0]) {
        hms_reply_app_error(c, &r->h, TW_APP_PROTOCOL_ERROR, "setMetaConf: malformed arguments");
        return -1;
    }
    if (!c->sess && !(c->sess = calloc(1, sizeof *c->sess))) {
        hms_reply_app_error(c, &r->h, TW_APP_INTERNAL_ERROR, "out of memory");
        return -1;
    }
    hms_session_pin(c->sess);
    if (hms_session_set(c->sess, kv.s[0], kv.l[0], kv.s[1] ? kv.s[1] : (const uint8_t *)"", kv.l[1], &r->undo) < 0) {
        reply_exception(c, &r->h, 1, "fedrouter: setMetaConf refused: the router keeps at most 64 settings per "
                                     "session, each at most 4096 bytes");
        return -1;
    }
    r->conf_change = true;
    r->uc.applies_gen = c->sess->gen;
    return 0;
}

static void forward(struct mconn *c, struct mroute *r)
{
    if (r->compat && !r->translated && hms_compat_known(r->ms->name))
        translate(r);
    r->uc = (struct hms_upcall){ 0 };
    hms_relay_reset(&r->relay);
    if (r->h.type == TW_CALL && !r->conf_change && r->h.name_len == 11 && memcmp(r->name, "setMetaConf", 11) == 0 &&
        conf_prepare(c, r) < 0) {
        mroute_free(r);
        return;
    }
    struct hms_ident id;
    mconn_ident(c, &id);
    c->call.ms = r->ms->name;
    r->sent_us = fr_mono_us();
    r->uc.done = on_backend;
    r->uc.oneway = r->h.type == TW_ONEWAY;
    /* A reply in the old form made from a _req answer is built whole. */
    r->uc.part = r->uc.oneway || r->translated ? NULL : route_part;
    if (r->conf_change)
        r->uc.applies_gen = c->sess->gen;
    char why[300] = "";
    struct hms_target *t = hms_target_of(r->ms);
    /* Set before sending: done() may run before hms_up_send returns. */
    c->call.route = r;
    c->call.kind = MCALL_FORWARD;
    if (t && hms_up_send(c->w->hup, t, &id, c->proto, c->framed, r->msg, r->len, &r->uc, why, sizeof why) == 0)
        return;
    c->call.route = NULL;
    c->call.kind = MCALL_NONE;
    if (!t)
        snprintf(why, sizeof why, "out of memory");
    conf_settle(r, HMS_UP_DOWN, NULL, 0);
    struct tw_header h = r->h;
    const char *name = r->ms->name;
    if (h.type == TW_ONEWAY) {
        mroute_free(r);
        mconn_done_noreply(c);
        return;
    }
    hms_reply_app_error(c, &h, TW_APP_INTERNAL_ERROR, "metastore %s is unavailable: %s", name, why);
    mroute_free(r);
}

/* get_table_meta with a database pattern that can match several
 * databases (a literal name goes to its one metastore). */
void hms_route_call(struct mconn *c, const uint8_t *msg, size_t len, const struct tw_header *h)
{
    uint8_t *own = (uint8_t *)msg;
#define IS(s) (h->name_len == sizeof(s) - 1 && memcmp(h->name, s, sizeof(s) - 1) == 0)
    if (IS("set_ugi")) {
        route_set_ugi(c, msg, len, h);
        free(own);
        return;
    }
    if (IS("shutdown") && h->type == TW_ONEWAY) {
        /* A Hive client closing: nothing for a backend to do. */
        free(own);
        mconn_done_noreply(c);
        return;
    }
#undef IS
    struct route_state *rs = c->w->router->state;
    struct mroute *r = calloc(1, sizeof *r);
    if (!r) {
        free(own);
        mconn_close_after_write(c);
        return;
    }
    r->c = c;
    r->msg = own;
    r->len = len;
    r->h = *h;
    snprintf(r->name, sizeof r->name, "%.*s", (int)(h->name_len < 127 ? h->name_len : 127), (const char *)h->name);
    r->h.name = (const uint8_t *)r->name;
    r->h.name_len = strlen(r->name);
    r->compat = c->proto == TW_BINARY ? hms_compat_kind(h->name, h->name_len) : HMS_COMPAT_NONE;
    r->snap = snapshot_acquire(&rs->ref);
    r->rule = c->call.rule;
    if (r->rule && (r->rule->flags & HMS_FANOUT) &&
        (r->rule->merge == HMS_MERGE_STRINGS_SORTED || r->rule->merge == HMS_MERGE_FUNCTIONS ||
         (r->rule->merge == HMS_MERGE_LIST && hms_fanout_wildcard(c, msg, len, h)))) {
        uint8_t *m = r->msg;
        r->msg = NULL;
        mroute_free(r);
        hms_fanout(c, m, len, h);
        return;
    }
    r->ms = r->snap ? snapshot_ms_primary(r->snap) : NULL;
    struct pick pk = { .rule = r->rule, .s = r->snap, .rt = c->w->router,
                       .lock_type = -1 };
    if (r->snap && r->rule) {
        pk.write = (r->rule->flags & HMS_WRITE) != 0;
        pk.txn = txn_space(r->name) || notification_call(r->name);
        pk.lock = strcmp(r->name, "lock") == 0;
        pk.primary_only = write_ids_call(r->name);
        const struct tw_pathset lock_ps = TW_PS(TW_P(1, 1, TW_ELEM, 3), TW_P(1, 1, TW_ELEM, 1));
        const struct tw_pathset *ps = pk.lock ? &lock_ps : &r->rule->args.ps;
        int wr = 0;
        if (!pk.lock)
            pk.objname_db = hms_objname_dbs(c->proto, msg + h->body_off, len - h->body_off, &r->rule->args);
        if (!(r->rule->flags & HMS_NO_DB) && ps->n)
            wr = tw_walk_values(c->proto, msg + h->body_off, len - h->body_off, NULL, ps, pick_visit, pick_visit_int,
                                &pk);
        if (wr < 0) {
            hms_reply_app_error(c, &r->h, TW_APP_PROTOCOL_ERROR, "%s: malformed arguments", r->name);
            mroute_free(r);
            return;
        }
        if (pk.ms && !pk.txn)
            r->ms = pk.ms;
    }
    if (r->ms) {
        c->call.ms = r->ms->name; /* for the metrics, also when refused here */
        r->prefix = pk.txn && !notification_call(r->name) ? "" : hms_name_prefix(c->w->router, r->ms);
        snprintf(r->db, sizeof r->db, "%s", pk.db);
    }
    if (!r->ms) {
        hms_reply_app_error(c, &r->h, TW_APP_INTERNAL_ERROR, "the router has no metastore for this call (no primary)");
        mroute_free(r);
        return;
    }
    if (pk.problem != PICK_OK) {
        refuse_pick(c, r, &pk);
        mroute_free(r);
        return;
    }
    if (pk.db[0] && strcasecmp(pk.db, "global_temp") == 0 && r->rule && r->rule->nso_exc >= 0) {
        /* Spark keeps global temporary views in a database of this name in
         * memory and refuses to start when a metastore has one: the name is
         * never routed to a backend. */
        reply_exception(c, &r->h, r->rule->nso_exc, "Database global_temp does not exist");
        mroute_free(r);
        return;
    }
    /* A write that names no database (the transaction calls name none
     * but lock) writes the metastore it goes to. */
    if (r->rule && (r->rule->flags & HMS_WRITE) && !pk.ndbs && !pk.txn && r->ms->access != MS_READ_WRITE) {
        pick_fail(&pk, PICK_READ_ONLY, "", r->ms);
        refuse_pick(c, r, &pk);
        mroute_free(r);
        return;
    }
    int sp = strip_prefix(r);
    if (sp == -2) {
        char why[512];
        snprintf(why, sizeof why,
                 "fedrouter: %s: the view text names a database that metastore %s does not hold (its names carry "
                 "the prefix %s); stored there, the view would read that metastore's own database of the name",
                 r->name, r->ms->name, r->prefix);
        if (r->rule->meta_exc >= 0)
            reply_exception(c, &r->h, r->rule->meta_exc, why);
        else
            hms_reply_app_error(c, &r->h, TW_APP_INTERNAL_ERROR, "%s", why);
        mroute_free(r);
        return;
    }
    if (sp < 0) {
        hms_reply_app_error(c, &r->h, TW_APP_PROTOCOL_ERROR, "malformed arguments");
        mroute_free(r);
        return;
    }
    forward(c, r);
}

static void cancel_forward(struct mconn *c)
{
    struct mroute *r = c->call.route;
    hms_up_cancel(&r->uc);
    conf_settle(r, HMS_UP_DOWN, NULL, 0);
    mroute_free(r);
}

void hms_route_cancel(struct mconn *c)
{
    if (c->call.route) {
        switch (c->call.kind) {
        case MCALL_FORWARD:
            cancel_forward(c);
            break;
        case MCALL_FANOUT:
            hms_fanout_cancel(c);
            break;
        case MCALL_NONE:
            break;
        }
    }
    c->call.route = NULL;
    c->call.kind = MCALL_NONE;
}

void hms_route_resume(struct mconn *c)
{
    /* Only a single backend call passes its reply on in parts. */
    if (c->call.route && c->call.kind == MCALL_FORWARD)
        hms_up_resume(&((struct mroute *)c->call.route)->uc);
}
