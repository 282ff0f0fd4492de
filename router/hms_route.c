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

#include "hms_compat.h"
#include "hms_conn.h"
#include "hms_names.h"
#include "hms_rules.h"
#include "hms_up.h"
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
};

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* One backend call in the metastore's upstream series (proto hms_upstream). */
static void record_upstream(struct mconn *c, const char *method, const char *ms, uint64_t sent_us, bool error)
{
    metrics_record(c->w->metrics, 3, metrics_name_id(method), metrics_name_id(ms), mono_us() - sent_us, error);
}

static void mroute_free(struct mroute *r)
{
    snapshot_release(r->snap);
    free(r->msg);
    free(r);
}

/* ---- answers made here ---- */



/* A REPLY whose result holds field 0 (success) = list<string>. */
static void reply_string_list(struct mconn *c, const struct tw_header *h, char *const *items, size_t n)
{
    struct buf out = BUF_INIT;
    int rc = tw_write_header(c->proto, &out, h->name, h->name_len, TW_REPLY, h->seqid);
    if (c->proto == TW_BINARY) {
        static const uint8_t f0[] = { 15, 0, 0, 11 }; /* list, id 0, of string */
        rc |= buf_append(&out, f0, sizeof f0);
        rc |= tw_put_be32(&out, (uint32_t)n);
        for (size_t i = 0; i < n; i++) {
            rc |= tw_put_be32(&out, (uint32_t)strlen(items[i]));
            rc |= buf_append(&out, items[i], strlen(items[i]));
        }
    } else {
        /* Compact: id 0 needs the long field header (type, then zigzag id). */
        static const uint8_t f0[] = { 0x09, 0x00 };
        rc |= buf_append(&out, f0, sizeof f0);
        if (n < 15) {
            uint8_t lh = (uint8_t)(n << 4 | 8);
            rc |= buf_append(&out, &lh, 1);
        } else {
            uint8_t lh = 0xf8;
            rc |= buf_append(&out, &lh, 1);
            rc |= tw_put_uvarint(&out, n);
        }
        for (size_t i = 0; i < n; i++) {
            rc |= tw_put_uvarint(&out, strlen(items[i]));
            rc |= buf_append(&out, items[i], strlen(items[i]));
        }
    }
    static const uint8_t stop = 0;
    rc |= buf_append(&out, &stop, 1);
    if (rc < 0) {
        buf_free(&out);
        mconn_close_after_write(c);
        return;
    }
    mconn_reply(c, buf_rptr(&out), buf_len(&out));
    buf_free(&out);
}

static void reply_app_error(struct mconn *c, const struct tw_header *h, enum tw_app_error type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void reply_app_error(struct mconn *c, const struct tw_header *h, enum tw_app_error type, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct buf out = BUF_INIT;
    if (tw_write_app_exception(c->proto, &out, h->name, h->name_len, h->seqid, type, msg) < 0) {
        buf_free(&out);
        mconn_close_after_write(c);
        return;
    }
    mconn_reply(c, buf_rptr(&out), buf_len(&out));
    buf_free(&out);
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
        fprintf(stderr, "fedrouter: metastore client %s: set_ugi again on one connection\n", c->peer);
        mconn_close_after_write(c);
        return;
    }
    const struct tw_pathset ps = TW_PS(TW_P(1), TW_P(2, TW_ELEM));
    struct ugi_ctx u = { c, false };
    int rc = tw_walk(c->proto, msg + h->body_off, len - h->body_off, NULL, &ps, take_ugi, &u);
    if (rc < 0 || u.bad || !c->user) {
        reply_app_error(c, h, TW_APP_PROTOCOL_ERROR, "set_ugi: malformed arguments");
        return;
    }
    c->ugi_set = true;
    /* Hive answers with the groups as sent. */
    reply_string_list(c, h, c->groups, c->ngroups);
}

/* A REPLY carrying one of the method's declared exceptions (all metastore
 * exceptions are {1: string message}) in result field `field`. */
static void reply_exception(struct mconn *c, const struct tw_header *h, int field, const char *msg)
{
    struct buf out = BUF_INIT;
    int rc = tw_write_header(c->proto, &out, h->name, h->name_len, TW_REPLY, h->seqid);
    size_t ml = strlen(msg);
    if (c->proto == TW_BINARY) {
        uint8_t f[] = { 12, (uint8_t)(field >> 8), (uint8_t)field, 11, 0, 1 };
        rc |= buf_append(&out, f, sizeof f);
        rc |= tw_put_be32(&out, (uint32_t)ml);
    } else {
        uint8_t f[] = { (uint8_t)(field << 4 | 12), 0x18 };
        rc |= buf_append(&out, f, sizeof f);
        rc |= tw_put_uvarint(&out, ml);
    }
    rc |= buf_append(&out, msg, ml);
    static const uint8_t stops[2] = { 0, 0 };
    rc |= buf_append(&out, stops, 2);
    if (rc < 0) {
        buf_free(&out);
        mconn_close_after_write(c);
        return;
    }
    mconn_reply(c, buf_rptr(&out), buf_len(&out));
    buf_free(&out);
}

/* The prefix a metastore's database names carry for clients: its own in
 * PREFIXED mode, none in MANUAL mode (names are mapped as they are). */
static const char *name_prefix(const struct router *rt, const struct ms_rec *ms)
{
    return rt->hms_manual || ms->primary || !ms->prefix ? "" : ms->prefix;
}

/* MANUAL mode: the metastore whose `databases` list names db, else the
 * primary. When several list it, the first in name order wins (the clash
 * is logged when the table loads: hms_log_clashes). */
static const struct ms_rec *manual_ms_for_db(const struct snapshot *s, const char *db, size_t len)
{
    size_t n = snapshot_ms_count(s);
    for (size_t i = 0; i < n; i++) {
        const struct ms_rec *m = snapshot_ms_at(s, i);
        for (size_t k = 0; k < m->ndatabases; k++)
            if (strlen(m->databases[k]) == len && strncasecmp(m->databases[k], db, len) == 0)
                return m;
    }
    return snapshot_ms_primary(s);
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
                        fprintf(stderr,
                                "fedrouter: metastores %s and %s both map database %s: %s serves it (the first by "
                                "name)\n",
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

struct pick {
    const struct hms_rule *rule;
    const struct snapshot *s;
    bool manual;
    const struct ms_rec *ms;
    char db[256];
};

static int pick_visit(void *vctx, unsigned idx, const uint8_t *str, size_t len)
{
    struct pick *p = vctx;
    const uint8_t *db;
    size_t dl;
    enum hms_path_kind kind = hms_path_kind_of(&p->rule->args, idx);
    /* A database pattern without wildcards names one database
     * (get_table_meta("db", "*", []) as Trino sends it). */
    if (kind == HMS_PK_PATTERN && !memchr(str, '*', len) && !memchr(str, '|', len))
        kind = HMS_PK_DB;
    if (!hms_db_of(kind, str, len, &db, &dl) || dl >= sizeof p->db)
        return 0;
    size_t plen;
    p->ms = p->manual ? manual_ms_for_db(p->s, (const char *)db, dl)
                      : snapshot_ms_for_db(p->s, (const char *)db, dl, &plen);
    memcpy(p->db, db, dl);
    p->db[dl] = 0;
    return 1; /* the first database named decides */
}

struct in_ctx {
    const struct hms_rule *rule;
    struct hms_names names;
};

static int map_in(void *vctx, unsigned idx, const uint8_t *s, size_t len, const uint8_t **out, size_t *out_len)
{
    struct in_ctx *x = vctx;
    return hms_name_in(&x->names, hms_path_kind_of(&x->rule->args, idx), s, len, out, out_len);
}

static int map_out(void *vctx, unsigned idx, const uint8_t *s, size_t len, const uint8_t **out, size_t *out_len)
{
    struct in_ctx *x = vctx;
    return hms_name_out(&x->names, hms_path_kind_of(&x->rule->result, idx), s, len, out, out_len);
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
 * name: r->msg replaced. 0, or -1 for a malformed call. */
static int strip_prefix(struct mroute *r)
{
    if (!r->rule || !r->rule->args.ps.n || !r->prefix[0])
        return 0;
    struct in_ctx x = { r->rule, { r->prefix, BUF_INIT } };
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
    return 0;
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
    const uint8_t *b = msg + h.body_off;
    bool success = len > h.body_off && (c->proto == TW_BINARY ? (len - h.body_off >= 3 && b[1] == 0 && b[2] == 0)
                                                              : (b[0] >> 4) == 0);
    if (!success && len > h.body_off && b[0] != 0 && reply_exception_mapped(r, msg, len, &h))
        return;
    if (!r->rule->result.ps.n) {
        mconn_reply(c, msg, len);
        return;
    }
    struct in_ctx x = { r->rule, { r->prefix, BUF_INIT } };
    struct buf out = BUF_INIT;
    int rc = buf_append(&out, msg, h.body_off) < 0
                 ? -1
                 : tw_rewrite(c->proto, msg + h.body_off, len - h.body_off, NULL, &r->rule->result.ps, map_out, &x,
                              &out);
    buf_free(&x.names.out);
    if (rc == TW_CHANGED)
        mconn_reply(c, buf_rptr(&out), buf_len(&out));
    else
        mconn_reply(c, msg, len);
    buf_free(&out);
}

/* ---- forwarding ---- */

/* "thrift://host:port" -> "host:port". */
static const char *uri_addr(const char *uri)
{
    const char *p = strstr(uri, "://");
    return p ? p + 3 : uri;
}

static int translate(struct mroute *r);
static void forward(struct mconn *c, struct mroute *r);

static void on_backend(struct hms_upcall *uc, enum hms_up_status st, const uint8_t *msg, size_t len, const char *why)
{
    struct mroute *r = (struct mroute *)uc;
    struct mconn *c = r->c;
    c->route = NULL;
    record_upstream(c, r->name, r->ms->name, r->sent_us, st != HMS_UP_OK);
    if (r->h.type == TW_ONEWAY) {
        mroute_free(r);
        mconn_done_noreply(c);
        return;
    }
    if (st != HMS_UP_OK) {
        reply_app_error(c, &r->h, TW_APP_INTERNAL_ERROR, "metastore %s is unavailable: %s", r->ms->name,
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
            reply_app_error(c, &r->h, TW_APP_INTERNAL_ERROR, "cannot turn the %s_req answer of metastore %s into "
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

static void forward(struct mconn *c, struct mroute *r)
{
    if (r->compat && !r->translated && hms_compat_known(r->ms->name))
        translate(r);
    struct hms_ident id;
    mconn_ident(c, &id);
    c->ms = r->ms->name;
    r->sent_us = mono_us();
    r->uc.done = on_backend;
    r->uc.oneway = r->h.type == TW_ONEWAY;
    char why[300] = "";
    for (size_t i = 0; i < r->ms->nuris; i++) {
        if (hms_up_send(c->w->hup, uri_addr(r->ms->uris[i]), &id, c->proto, c->framed, r->msg, r->len, &r->uc, why,
                        sizeof why) == 0) {
            c->route = r;
            return;
        }
    }
    struct tw_header h = r->h;
    const char *name = r->ms->name;
    if (h.type == TW_ONEWAY) {
        mroute_free(r);
        mconn_done_noreply(c);
        return;
    }
    reply_app_error(c, &h, TW_APP_INTERNAL_ERROR, "metastore %s is unavailable: %s", name, why);
    mroute_free(r);
}

/* get_table_meta with a database pattern that can match several
 * databases (a literal name goes to its one metastore). */
static bool wildcard_db(struct mconn *c, const uint8_t *msg, size_t len, const struct tw_header *h);

/* ---- calls that span every metastore: database listings ---- */

struct fsub {
    struct hms_upcall uc;               /* first */
    struct mfan *f;
    const struct ms_rec *ms;
    bool ok;
    bool finished;
};

struct mfan {
    struct mconn *c;
    struct snapshot *snap;
    uint8_t *msg;                       /* the client's call (owned) */
    size_t len;
    struct tw_header h;
    char *pattern;                      /* get_databases: the client's pattern */
    char **names;                       /* merged, with prefixes */
    size_t nnames, capnames;
    bool structs;                       /* get_table_meta: the answer is a list of TableMeta */
    bool functions;                     /* get_all_functions: a struct whose field 1 lists Function */
    struct elem *elems;                 /* structs: the elements, prefixes applied */
    size_t nelems, capelems;
    int pending, nsub;
    uint64_t sent_us;
    struct fsub subs[];
};

/* One TableMeta of a get_table_meta answer: its bytes (fields and STOP)
 * and the names it sorts by. */
struct elem {
    uint8_t *bytes;
    size_t len;
    char *db, *tbl;
};

static void fan_free(struct mfan *f)
{
    for (size_t i = 0; i < f->nelems; i++) {
        free(f->elems[i].bytes);
        free(f->elems[i].db);
        free(f->elems[i].tbl);
    }
    free(f->elems);
    for (size_t i = 0; i < f->nnames; i++)
        free(f->names[i]);
    free(f->names);
    free(f->pattern);
    free(f->msg);
    snapshot_release(f->snap);
    free(f);
}

struct collect {
    struct mfan *f;
    const char *prefix;
    const struct ms_rec *ms;            /* MANUAL mode: keep only the names this metastore serves */
};

static int collect_name(void *vctx, unsigned idx, const uint8_t *s, size_t len)
{
    struct collect *x = vctx;
    struct mfan *f = x->f;
    size_t pl = strlen(x->prefix);
    char *n = malloc(pl + len + 1);
    if (!n)
        return -1;
    memcpy(n, x->prefix, pl);
    memcpy(n + pl, s, len);
    n[pl + len] = 0;
    if ((f->pattern && !hms_pattern_match(f->pattern, n)) || strcasecmp(n, "global_temp") == 0 ||
        (x->ms && manual_ms_for_db(f->snap, n, strlen(n)) != x->ms)) {
        free(n);
        return 0;
    }
    if (f->nnames == f->capnames) {
        size_t nc = f->capnames ? 2 * f->capnames : 64;
        char **g = realloc(f->names, nc * sizeof *g);
        if (!g) {
            free(n);
            return -1;
        }
        f->names = g;
        f->capnames = nc;
    }
    f->names[f->nnames++] = n;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_elems(const void *a, const void *b)
{
    const struct elem *x = a, *y = b;
    int r = strcmp(x->db, y->db);
    return r ? r : strcmp(x->tbl, y->tbl);
}

/* The merged get_table_meta answer: success = list<TableMeta>, sorted by
 * database then table. */
static void reply_struct_list(struct mfan *f)
{
    struct mconn *c = f->c;
    qsort(f->elems, f->nelems, sizeof *f->elems, cmp_elems);
    struct buf out = BUF_INIT;
    int rc = tw_write_header(c->proto, &out, f->h.name, f->h.name_len, TW_REPLY, f->h.seqid);
    if (f->functions) {
        /* success (0): GetAllFunctionsResponse { 1: list<Function> } */
        static const uint8_t b0[] = { 12, 0, 0, 15, 0, 1 }, c0[] = { 0x0c, 0x00, 0x19 };
        rc |= c->proto == TW_BINARY ? buf_append(&out, b0, sizeof b0) : buf_append(&out, c0, sizeof c0);
    }
    if (c->proto == TW_BINARY) {
        static const uint8_t f0[] = { 15, 0, 0, 12 }; /* list, id 0, of struct */
        if (f->functions)
            rc |= buf_append(&out, f0 + 3, 1);
        else
            rc |= buf_append(&out, f0, sizeof f0);
        rc |= tw_put_be32(&out, (uint32_t)f->nelems);
    } else {
        static const uint8_t f0[] = { 0x09, 0x00 };
        if (!f->functions)
            rc |= buf_append(&out, f0, sizeof f0);
        if (f->nelems < 15) {
            uint8_t lh = (uint8_t)(f->nelems << 4 | 12);
            rc |= buf_append(&out, &lh, 1);
        } else {
            uint8_t lh = 0xfc;
            rc |= buf_append(&out, &lh, 1);
            rc |= tw_put_uvarint(&out, f->nelems);
        }
    }
    for (size_t i = 0; i < f->nelems; i++)
        rc |= buf_append(&out, f->elems[i].bytes, f->elems[i].len);
    static const uint8_t stop = 0;
    if (f->functions)
        rc |= buf_append(&out, &stop, 1); /* end of GetAllFunctionsResponse */
    rc |= buf_append(&out, &stop, 1);
    if (rc < 0)
        reply_app_error(c, &f->h, TW_APP_INTERNAL_ERROR, "out of memory merging %s", "get_table_meta");
    else
        mconn_reply(c, buf_rptr(&out), buf_len(&out));
    buf_free(&out);
}

struct two_names {
    char *db, *tbl;
};

static int take_names(void *vctx, unsigned idx, const uint8_t *s, size_t len)
{
    struct two_names *t = vctx;
    char **slot = idx == 0 ? &t->db : &t->tbl;
    free(*slot);
    *slot = strndup((const char *)s, len);
    return *slot ? 0 : -1;
}

/* Splits a get_table_meta answer (prefixes already applied) into its
 * elements; those whose database the client's pattern does not match, or
 * (MANUAL mode) that another metastore serves, are left out. 0 or -1. */
static int take_elems(struct mfan *f, const struct ms_rec *ms, const uint8_t *body, size_t len)
{
    enum tw_proto proto = f->c->proto;
    const uint8_t *p = body, *end = body + len;
    size_t count;
    if (end - p >= 1 && p[0] == 0)
        return 0; /* no success field: nothing to add */
    if (f->functions) {
        /* success (0) is GetAllFunctionsResponse; its field 1 is the list */
        if (proto == TW_BINARY) {
            if (end - p < 4 || p[0] != 12 || p[1] != 0 || p[2] != 0)
                return -1;
            p += 3;
            if (p[0] == 0)
                return 0; /* no functions */
            if (end - p < 3 || p[0] != 15 || p[1] != 0 || p[2] != 1)
                return -1;
            p += 3;
        } else {
            if (end - p < 3 || p[0] != 0x0c || p[1] != 0x00)
                return -1;
            p += 2;
            if (p[0] == 0)
                return 0;
            if (p[0] != 0x19)
                return -1;
            p += 1;
        }
    } else if (proto == TW_BINARY) {
        if (end - p < 3 || p[0] != 15 || p[1] != 0 || p[2] != 0)
            return -1;
        p += 3;
    } else {
        if (end - p < 2 || p[0] != 0x09 || p[1] != 0x00)
            return -1;
        p += 2;
    }
    /* The list header: element type struct, then the count. */
    if (proto == TW_BINARY) {
        if (end - p < 5 || p[0] != 12)
            return -1;
        count = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
        p += 5;
    } else {
        if (end - p < 1 || (p[0] & 0x0f) != 12)
            return -1;
        count = p[0] >> 4;
        p += 1;
        if (count == 15) {
            uint64_t v = 0;
            int shift = 0;
            do {
                if (p >= end || shift > 63)
                    return -1;
                v |= (uint64_t)(*p & 0x7f) << shift;
                shift += 7;
            } while (*p++ & 0x80);
            count = (size_t)v;
        }
    }
    bool manual = f->c->w->router->hms_manual;
    const struct tw_pathset ps = TW_PS(TW_P(1), TW_P(2));
    for (size_t i = 0; i < count; i++) {
        long el = hms_struct_len(proto, p, (size_t)(end - p));
        if (el < 1)
            return -1;
        struct two_names t = { NULL, NULL };
        int rc = tw_walk(proto, p, (size_t)el, NULL, &ps, take_names, &t);
        if (f->functions) {
            /* Function: 1 functionName, 2 dbName; sort by database first. */
            char *tmp = t.db;
            t.db = t.tbl;
            t.tbl = tmp;
        }
        bool keep = rc >= 0 && t.db && t.tbl && (!f->pattern || hms_pattern_match(f->pattern, t.db)) &&
                    (!manual || manual_ms_for_db(f->snap, t.db, strlen(t.db)) == ms);
        if (keep && f->nelems == f->capelems) {
            size_t nc = f->capelems ? 2 * f->capelems : 64;
            struct elem *g = realloc(f->elems, nc * sizeof *g);
            if (!g)
                keep = false;
            else {
                f->elems = g;
                f->capelems = nc;
            }
        }
        uint8_t *bytes = keep ? malloc((size_t)el) : NULL;
        if (bytes) {
            memcpy(bytes, p, (size_t)el);
            f->elems[f->nelems++] = (struct elem){ bytes, (size_t)el, t.db, t.tbl };
        } else {
            free(t.db);
            free(t.tbl);
        }
        p += el;
    }
    return 0;
}

static void fan_finish(struct mfan *f)
{
    struct mconn *c = f->c;
    c->route = NULL;
    for (int i = 0; i < f->nsub && c->w->router->hms_down_fails; i++)
        if (!f->subs[i].ok) {
            reply_app_error(c, &f->h, TW_APP_INTERNAL_ERROR, "metastore %s did not answer %.*s (hms.down = fail)",
                            f->subs[i].ms->name, (int)f->h.name_len, (const char *)f->h.name);
            fan_free(f);
            return;
        }
    if (f->structs) {
        int ok = 0;
        for (int i = 0; i < f->nsub; i++)
            ok += f->subs[i].ok;
        if (ok == 0)
            reply_app_error(c, &f->h, TW_APP_INTERNAL_ERROR, "no metastore answered %.*s", (int)f->h.name_len,
                            (const char *)f->h.name);
        else
            reply_struct_list(f);
        fan_free(f);
        return;
    }
    qsort(f->names, f->nnames, sizeof *f->names, cmp_names);
    size_t w = 0;
    for (size_t i = 0; i < f->nnames; i++) {
        if (w && strcmp(f->names[w - 1], f->names[i]) == 0) {
            free(f->names[i]);
            continue;
        }
        f->names[w++] = f->names[i];
    }
    f->nnames = w;
    int ok = 0;
    for (int i = 0; i < f->nsub; i++)
        ok += f->subs[i].ok;
    if (ok == 0)
        reply_app_error(c, &f->h, TW_APP_INTERNAL_ERROR, "no metastore answered %.*s", (int)f->h.name_len,
                        (const char *)f->h.name);
    else
        reply_string_list(c, &f->h, f->names, f->nnames);
    fan_free(f);
}

static void on_fan_reply(struct hms_upcall *uc, enum hms_up_status st, const uint8_t *msg, size_t len,
                         const char *why)
{
    struct fsub *s = (struct fsub *)uc;
    struct mfan *f = s->f;
    s->finished = true;
    char method[64];
    snprintf(method, sizeof method, "%.*s", (int)(f->h.name_len < 63 ? f->h.name_len : 63), (const char *)f->h.name);
    record_upstream(f->c, method, s->ms->name, f->sent_us, st != HMS_UP_OK);
    struct tw_header h;
    if (f->structs && st == HMS_UP_OK && tw_parse_header(f->c->proto, msg, len, NULL, &h) == TW_COMPLETE &&
        h.type == TW_REPLY) {
        /* Prefixes on every database name first, then the elements. */
        const struct hms_rule *rule = hms_rule_lookup(f->functions ? "get_all_functions" : "get_table_meta");
        struct in_ctx x = { rule, { name_prefix(f->c->w->router, s->ms), BUF_INIT } };
        struct buf mapped = BUF_INIT;
        const uint8_t *b = msg + h.body_off;
        size_t bl = len - h.body_off;
        int rc = x.names.prefix[0] ? tw_rewrite(f->c->proto, b, bl, NULL, &rule->result.ps, map_out, &x, &mapped)
                                   : TW_UNCHANGED;
        if (rc == TW_CHANGED) {
            b = buf_rptr(&mapped);
            bl = buf_len(&mapped);
        }
        s->ok = rc >= 0 && take_elems(f, s->ms, b, bl) == 0;
        buf_free(&mapped);
        buf_free(&x.names.out);
    } else if (st == HMS_UP_OK && tw_parse_header(f->c->proto, msg, len, NULL, &h) == TW_COMPLETE &&
               h.type == TW_REPLY) {
        const struct tw_pathset ps = TW_PS(TW_P(0, TW_ELEM));
        bool manual = f->c->w->router->hms_manual;
        struct collect x = { f, name_prefix(f->c->w->router, s->ms), manual ? s->ms : NULL };
        s->ok = tw_walk(f->c->proto, msg + h.body_off, len - h.body_off, NULL, &ps, collect_name, &x) >= 0;
    }
    if (!s->ok)
        fprintf(stderr, "fedrouter: metastore %s left out of %.*s: %s\n", s->ms->name, (int)f->h.name_len,
                (const char *)f->h.name, why ? why : "no list in its answer");
    if (--f->pending == 0)
        fan_finish(f);
}

struct first {
    const uint8_t *s;
    size_t l;
};

static int find_first(void *vctx, unsigned idx, const uint8_t *str, size_t len)
{
    struct first *x = vctx;
    x->s = str;
    x->l = len;
    return 1;
}

static int to_star(void *vctx, unsigned idx, const uint8_t *s, size_t len, const uint8_t **out, size_t *out_len)
{
    *out = (const uint8_t *)"*";
    *out_len = 1;
    return 1;
}

/* get_all_databases / get_databases: every metastore is asked (prefixed
 * ones for all their databases, filtered here by the client's pattern
 * after the prefix is put on); the union is answered sorted. A metastore
 * that is down is left out and logged. */
static void route_db_listing(struct mconn *c, uint8_t *msg, size_t len, const struct tw_header *h)
{
    struct route_state *rs = c->w->router->state;
    struct snapshot *snap = snapshot_acquire(&rs->ref);
    size_t n = snap ? snapshot_ms_count(snap) : 0;
    struct mfan *f = n ? calloc(1, sizeof *f + n * sizeof(struct fsub)) : NULL;
    if (!f) {
        snapshot_release(snap);
        reply_app_error(c, h, TW_APP_INTERNAL_ERROR, "the router has no metastore configured");
        free(msg);
        return;
    }
    f->c = c;
    f->snap = snap;
    f->msg = msg;
    f->len = len;
    f->h = *h;
    f->functions = h->name_len == 17 && memcmp(h->name, "get_all_functions", 17) == 0;
    f->structs = f->functions || (h->name_len == 14 && memcmp(h->name, "get_table_meta", 14) == 0);
    bool patterned = (f->structs && !f->functions) || (h->name_len == 13 && memcmp(h->name, "get_databases", 13) == 0);
    struct buf star = BUF_INIT;
    if (patterned) {
        /* The client's pattern filters the prefixed names; prefixed
         * metastores get the same call with pattern "*". */
        const struct tw_pathset one = TW_PS(TW_P(1));
        struct first fd = { NULL, 0 };
        int rc = tw_walk(c->proto, msg + h->body_off, len - h->body_off, NULL, &one, find_first, &fd);
        /* Hive 3+ clients qualify the pattern with the catalog: "@hive#pat",
         * "@hive#" alone for every database. */
        if (rc >= 0 && fd.s && fd.l > 1 && fd.s[0] == '@') {
            const uint8_t *hash = memchr(fd.s, '#', fd.l);
            if (hash) {
                fd.l -= (size_t)(hash + 1 - fd.s);
                fd.s = hash + 1;
            }
        }
        f->pattern = (rc >= 0 && fd.s && fd.l) ? strndup((const char *)fd.s, fd.l) : strdup("*");
        if (buf_append(&star, msg, h->body_off) < 0 ||
            tw_rewrite(c->proto, msg + h->body_off, len - h->body_off, NULL, &one, to_star, NULL, &star) != TW_CHANGED)
            buf_reset(&star);
    }
    struct hms_ident id;
    mconn_ident(c, &id);
    c->route = f;
    c->ms = "*";
    f->nsub = (int)n;
    f->pending = (int)n + 1;
    f->sent_us = mono_us();
    for (size_t i = 0; i < n; i++) {
        struct fsub *s = &f->subs[i];
        s->f = f;
        s->ms = snapshot_ms_at(snap, i);
        s->uc.done = on_fan_reply;
        /* The primary gets the client's own call; prefixed metastores are
         * asked for every database and filtered here. */
        const uint8_t *m = msg;
        size_t ml = len;
        if (patterned && !s->ms->primary && !c->w->router->hms_manual && buf_len(&star)) {
            m = buf_rptr(&star);
            ml = buf_len(&star);
        }
        char why[300] = "no address";
        bool sent = false;
        for (size_t u = 0; u < s->ms->nuris && !sent; u++)
            sent = hms_up_send(c->w->hup, uri_addr(s->ms->uris[u]), &id, c->proto, c->framed, m, ml, &s->uc, why,
                               sizeof why) == 0;
        if (!sent) {
            s->finished = true;
            fprintf(stderr, "fedrouter: metastore %s left out of a listing: %s\n", s->ms->name, why);
            f->pending--;
        }
    }
    buf_free(&star);
    if (--f->pending == 0)
        fan_finish(f);
}

static bool wildcard_db(struct mconn *c, const uint8_t *msg, size_t len, const struct tw_header *h)
{
    const struct tw_pathset one = TW_PS(TW_P(1));
    struct first fd = { NULL, 0 };
    if (tw_walk(c->proto, msg + h->body_off, len - h->body_off, NULL, &one, find_first, &fd) < 0 || !fd.s)
        return true;
    return memchr(fd.s, '*', fd.l) || memchr(fd.s, '|', fd.l);
}

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
    r->rule = hms_rule_find((const char *)h->name, h->name_len);
    if (r->rule && (r->rule->flags & HMS_FANOUT) &&
        (r->rule->merge == HMS_MERGE_STRINGS_SORTED || r->rule->merge == HMS_MERGE_FUNCTIONS ||
         (r->rule->merge == HMS_MERGE_LIST && wildcard_db(c, msg, len, h)))) {
        uint8_t *m = r->msg;
        r->msg = NULL;
        mroute_free(r);
        route_db_listing(c, m, len, h);
        return;
    }
    r->ms = r->snap ? snapshot_ms_primary(r->snap) : NULL;
    bool manual = c->w->router->hms_manual;
    struct pick pk = { r->rule, r->snap, manual, NULL, "" };
    if (r->snap && r->rule && !(r->rule->flags & HMS_NO_DB) && r->rule->args.ps.n &&
        tw_walk(c->proto, msg + h->body_off, len - h->body_off, NULL, &r->rule->args.ps, pick_visit, &pk) >= 0 &&
        pk.ms)
        r->ms = pk.ms;
    if (r->ms) {
        c->ms = r->ms->name; /* for the metrics, also when refused here */
        r->prefix = name_prefix(c->w->router, r->ms);
        snprintf(r->db, sizeof r->db, "%s", pk.db);
    }
    if (!r->ms) {
        reply_app_error(c, &r->h, TW_APP_INTERNAL_ERROR, "the router has no metastore for this call (no primary)");
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
    if (r->rule && (r->rule->flags & HMS_WRITE) && !r->ms->primary && r->ms->access != MS_READ_WRITE &&
        !writable(r->ms, r->prefix, pk.db)) {
        char why[512];
        snprintf(why, sizeof why, "fedrouter: metastore %s is read-only: %.*s on database %s is refused", r->ms->name,
                 (int)h->name_len, (const char *)h->name, pk.db[0] ? pk.db : "?");
        if (r->rule->meta_exc >= 0)
            reply_exception(c, &r->h, r->rule->meta_exc, why);
        else
            reply_app_error(c, &r->h, TW_APP_INTERNAL_ERROR, "%s", why);
        mroute_free(r);
        return;
    }
    if (strip_prefix(r) < 0) {
        reply_app_error(c, &r->h, TW_APP_PROTOCOL_ERROR, "malformed arguments");
        mroute_free(r);
        return;
    }
    forward(c, r);
}

void hms_route_cancel(struct mconn *c)
{
    if (c->ms && strcmp(c->ms, "*") == 0 && c->route) {
        struct mfan *f = c->route;
        for (int i = 0; i < f->nsub; i++)
            if (!f->subs[i].finished)
                hms_up_cancel(&f->subs[i].uc);
        c->route = NULL;
        fan_free(f);
        return;
    }
    struct mroute *r = c->route;
    if (!r)
        return;
    hms_up_cancel(&r->uc);
    c->route = NULL;
    mroute_free(r);
}
