/*
 * hms_fanout.c: metastore calls that span every metastore, asked of each
 * and merged into one answer, the way a single metastore would give it:
 *
 *   get_all_databases, get_databases(pattern)  -> names, prefixed, sorted
 *   get_table_meta(db pattern with wildcards)  -> TableMeta list, sorted
 *   get_all_functions                          -> Function list, sorted
 *
 * Prefixed metastores are asked for everything and filtered here by the
 * client's pattern once the prefix is on. Each metastore has
 * hms.fanout_timeout_ms for its part; one that does not answer in time (or
 * at all) is left out (counted in fedrouter_hms_left_out_total, logged at a
 * limited rate) or, with hms.down = fail, fails the call.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "audit.h"
#include "clock.h"
#include "hms_internal.h"
#include "hms_up.h"
#include "route_state.h"
#include "worker.h"

/* ---- calls that span every metastore: database listings ---- */

struct fsub {
    struct hms_upcall uc;               /* first */
    struct mfan *f;
    const struct ms_rec *ms;
    struct hms_target *t;
    bool ok;
    bool finished;
    bool timed_out;                     /* no answer within hms.fanout_timeout_ms */
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
    const struct ms_rec *ms;            /* the metastore that answered: only names it serves are kept */
};

/* Does a name (prefix included) route back to the metastore that listed
 * it? A name that another metastore's longer prefix (PREFIXED), or another
 * metastore's list (MANUAL), takes is shadowed: listing it would show one
 * metastore's data under another's name. */
static bool routes_back(const struct mfan *f, const char *name, const struct ms_rec *ms)
{
    return hms_ms_of_db(f->c->w->router, f->snap, name, strlen(name)) == ms;
}

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
        !routes_back(f, n, x->ms)) {
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
    int16_t last = 0, inner = 0;
    int rc = tw_write_header(c->proto, &out, f->h.name, f->h.name_len, TW_REPLY, f->h.seqid);
    if (f->functions) {
        /* success (0): GetAllFunctionsResponse { 1: list<Function> } */
        rc |= tw_put_field(c->proto, &out, TW_T_STRUCT, 0, &last);
        rc |= tw_put_field(c->proto, &out, TW_T_LIST, 1, &inner);
    } else {
        rc |= tw_put_field(c->proto, &out, TW_T_LIST, 0, &last);
    }
    rc |= tw_put_list(c->proto, &out, TW_T_STRUCT, f->nelems);
    for (size_t i = 0; i < f->nelems; i++)
        rc |= buf_append(&out, f->elems[i].bytes, f->elems[i].len);
    if (f->functions)
        rc |= tw_put_stop(&out); /* end of GetAllFunctionsResponse */
    rc |= tw_put_stop(&out);
    if (rc < 0)
        hms_reply_app_error(c, &f->h, TW_APP_INTERNAL_ERROR, "out of memory merging %.*s", (int)f->h.name_len,
                            (const char *)f->h.name);
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
    struct tw_field fd;
    if (tw_result_field(proto, p, len, &fd) != TW_COMPLETE)
        return -1;
    if (!fd.set)
        return 0; /* no success field: nothing to add */
    if (fd.id != 0)
        return -1;
    p += fd.value_off;
    if (f->functions) {
        /* success (0) is GetAllFunctionsResponse; its field 1 is the list */
        if (fd.type != TW_T_STRUCT || tw_result_field(proto, p, (size_t)(end - p), &fd) != TW_COMPLETE)
            return -1;
        if (!fd.set)
            return 0; /* no functions */
        if (fd.id != 1)
            return -1;
        p += fd.value_off;
    }
    if (fd.type != TW_T_LIST)
        return -1;
    /* The list header: element type struct, then the count. */
    uint8_t elem;
    size_t count, hl;
    if (tw_list_header(proto, p, (size_t)(end - p), &elem, &count, &hl) != TW_COMPLETE || elem != TW_T_STRUCT)
        return -1;
    p += hl;
    const struct tw_pathset ps = TW_PS(TW_P(1), TW_P(2));
    for (size_t i = 0; i < count; i++) {
        size_t eln;
        if (tw_struct_len(proto, p, (size_t)(end - p), NULL, &eln) != TW_COMPLETE)
            return -1;
        long el = (long)eln;
        struct two_names t = { NULL, NULL };
        int rc = tw_walk(proto, p, (size_t)el, NULL, &ps, take_names, &t);
        if (f->functions) {
            /* Function: 1 functionName, 2 dbName; sort by database first. */
            char *tmp = t.db;
            t.db = t.tbl;
            t.tbl = tmp;
        }
        bool keep = rc >= 0 && t.db && t.tbl && (!f->pattern || hms_pattern_match(f->pattern, t.db)) &&
                    routes_back(f, t.db, ms);
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

/* When no metastore answered, the client gets an internal error naming the
 * call and true comes back; the caller then only frees the fan-out. */
static bool none_answered(struct mfan *f)
{
    for (int i = 0; i < f->nsub; i++)
        if (f->subs[i].ok)
            return false;
    hms_reply_app_error(f->c, &f->h, TW_APP_INTERNAL_ERROR, "no metastore answered %.*s", (int)f->h.name_len,
                        (const char *)f->h.name);
    return true;
}

static void fan_finish(struct mfan *f)
{
    struct mconn *c = f->c;
    c->call.route = NULL; /* answered below: nothing left to cancel */
    c->call.kind = MCALL_NONE;
    for (int i = 0; i < f->nsub && c->w->router->hms_down_fails; i++)
        if (!f->subs[i].ok) {
            hms_reply_app_error(c, &f->h, TW_APP_INTERNAL_ERROR, "metastore %s did not answer %.*s%s (hms.down = fail)",
                                f->subs[i].ms->name, (int)f->h.name_len, (const char *)f->h.name,
                                f->subs[i].timed_out ? " within hms.fanout_timeout_ms" : "");
            fan_free(f);
            return;
        }
    if (f->structs) {
        if (!none_answered(f))
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
    if (!none_answered(f))
        hms_reply_string_list(c, &f->h, f->names, f->nnames);
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
    hms_record_upstream(f->c, method, s->ms->name, f->sent_us, st != HMS_UP_OK);
    struct tw_header h;
    if (f->structs && st == HMS_UP_OK && tw_parse_header(f->c->proto, msg, len, NULL, &h) == TW_COMPLETE &&
        h.type == TW_REPLY) {
        /* Prefixes on every database name first, then the elements. */
        const struct hms_rule *rule = hms_rule_lookup(f->functions ? "get_all_functions" : "get_table_meta");
        struct hms_in_ctx x = { rule, { hms_name_prefix(f->c->w->router, s->ms), BUF_INIT, 0 }, 0, 0 };
        struct buf mapped = BUF_INIT;
        const uint8_t *b = msg + h.body_off;
        size_t bl = len - h.body_off;
        int rc = x.names.prefix[0] ? tw_rewrite(f->c->proto, b, bl, NULL, &rule->result.ps, hms_map_out, &x, &mapped)
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
        struct collect x = { f, hms_name_prefix(f->c->w->router, s->ms), s->ms };
        s->ok = tw_walk(f->c->proto, msg + h.body_off, len - h.body_off, NULL, &ps, collect_name, &x) >= 0;
    }
    s->timed_out = st == HMS_UP_TIMEOUT;
    if (!s->ok && !f->c->w->router->hms_down_fails) {
        char because[320];
        if (s->timed_out)
            snprintf(because, sizeof because, "no answer within hms.fanout_timeout_ms (%.0f ms)",
                     f->c->w->router->hms_fanout_timeout * 1000);
        else
            snprintf(because, sizeof because, "%s", why ? why : "no list in its answer");
        hms_target_left_out(s->t, method, because);
    }
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
void hms_fanout(struct mconn *c, uint8_t *msg, size_t len, const struct tw_header *h)
{
    struct route_state *rs = c->w->router->state;
    struct snapshot *snap = snapshot_acquire(&rs->ref);
    size_t n = snap ? snapshot_ms_count(snap) : 0;
    struct mfan *f = n ? calloc(1, sizeof *f + n * sizeof(struct fsub)) : NULL;
    if (!f) {
        snapshot_release(snap);
        hms_reply_app_error(c, h, TW_APP_INTERNAL_ERROR, "the router has no metastore configured");
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
        /* As the metastore: the pattern trimmed of spaces. */
        while (rc >= 0 && fd.s && fd.l && (fd.s[0] == ' ' || fd.s[0] == '\t')) {
            fd.s++;
            fd.l--;
        }
        while (rc >= 0 && fd.s && fd.l && (fd.s[fd.l - 1] == ' ' || fd.s[fd.l - 1] == '\t'))
            fd.l--;
        f->pattern = (rc >= 0 && fd.s && fd.l) ? strndup((const char *)fd.s, fd.l) : strdup("*");
        if (buf_append(&star, msg, h->body_off) < 0 ||
            tw_rewrite(c->proto, msg + h->body_off, len - h->body_off, NULL, &one, to_star, NULL, &star) != TW_CHANGED)
            buf_reset(&star);
    }
    struct hms_ident id;
    mconn_ident(c, &id);
    c->call.route = f;
    c->call.kind = MCALL_FANOUT;
    c->call.ms = "*";
    f->nsub = (int)n;
    f->pending = (int)n + 1;
    f->sent_us = fr_mono_us();
    for (size_t i = 0; i < n; i++) {
        struct fsub *s = &f->subs[i];
        s->f = f;
        s->ms = snapshot_ms_at(snap, i);
        audit_add_target(c->call.audit, s->ms->name);
        s->uc.done = on_fan_reply;
        s->uc.timeout = c->w->router->hms_fanout_timeout;
        s->t = hms_target_of(s->ms);
        /* The primary gets the client's own call; prefixed metastores are
         * asked for every database and filtered here. */
        const uint8_t *m = msg;
        size_t ml = len;
        if (patterned && hms_name_prefix(c->w->router, s->ms)[0] && buf_len(&star)) {
            m = buf_rptr(&star);
            ml = buf_len(&star);
        }
        char why[300] = "out of memory";
        if (!s->t || hms_up_send(c->w->hup, s->t, &id, c->proto, c->framed, m, ml, &s->uc, why, sizeof why) < 0) {
            s->finished = true;
            if (s->t && !c->w->router->hms_down_fails) {
                char method[64];
                snprintf(method, sizeof method, "%.*s", (int)(h->name_len < 63 ? h->name_len : 63),
                         (const char *)h->name);
                hms_target_left_out(s->t, method, why);
            }
            f->pending--;
        }
    }
    buf_free(&star);
    if (--f->pending == 0)
        fan_finish(f);
}

bool hms_fanout_wildcard(struct mconn *c, const uint8_t *msg, size_t len, const struct tw_header *h)
{
    const struct tw_pathset one = TW_PS(TW_P(1));
    struct first fd = { NULL, 0 };
    if (tw_walk(c->proto, msg + h->body_off, len - h->body_off, NULL, &one, find_first, &fd) < 0 || !fd.s)
        return true;
    return hms_pattern_is_wild((const char *)fd.s, fd.l);
}

void hms_fanout_cancel(struct mconn *c)
{
    struct mfan *f = c->call.route;
    for (int i = 0; i < f->nsub; i++)
        if (!f->subs[i].finished)
            hms_up_cancel(&f->subs[i].uc);
    c->call.route = NULL;
    c->call.kind = MCALL_NONE;
    fan_free(f);
}
