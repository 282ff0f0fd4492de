/*
 * hdfs_route.c: the routing rules for one ClientProtocol call.
 *
 *   method row --PATH/TWO_PATHS--> resolve every path of the request
 *   (methods.h)                     (read-only, one-subcluster and mount
 *                                  point checks) -> rewrite -> one subcall;
 *                                  summaries: one per location below
 *              --ALL_MERGE------->  one subcall per nameservice -> merge
 *              --DEFAULT/unknown->  the default nameservice
 *              --BLOCK_POOL------>  the nameservice owning the block pool (asked
 *                                  of the NameNodes); reportBadBlocks split by pool
 *              --ROUTER---------->  answered here
 *              --REFUSE---------->  the row's exception
 *
 * Subcalls are HA calls (ha.c) carrying the client's own ids. Replies are
 * rewritten back into the client's namespace; a listing of a directory that
 * holds mount points shows them, sorted and paged with the real children,
 * a mount point answers getFileInfo as a directory even before its
 * destination exists, and a summary of a directory above mount points adds
 * up every subcluster below it.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "ClientNamenodeProtocol.pb-c.h"
#include "cluster_state.h"
#include "log.h"
#include "metrics.h"
#include "ha.h"
#include "hdfs_conn.h"
#include "pbwire.h"
#include "route_deps.h"
#include "route_internal.h"
#include "route_state.h"
#include "router.h"
#include "worker.h"

void st_fail_new(struct rcall *rc, struct rd_snap *snap, struct rstate *st)
{
    if (st) {
        rc->route = NULL;
        st_free(st); /* releases snap */
    } else {
        rd_snap_release(snap);
    }
    hconn_reply_error(rc, "java.io.IOException", "out of memory");
}

void st_free(struct rstate *st)
{
    if (st->free_extra)
        st->free_extra(st->extra);
    for (int i = 0; i < st->nsub; i++) {
        buf_free(&st->subs[i].payload);
        free(st->subs[i].dest);
        free(st->subs[i].src);
    }
    buf_free(&st->orig);
    if (st->absent) {
        buf_free(&st->absent->payload);
        free(st->absent);
    }
    rd_snap_release(st->snap);
    free(st->dest);
    free(st->src);
    free(st->client_path);
    free(st->start_after);
    free(st);
}

static void reply_sub_error(struct rcall *rc, const struct sub *s)
{
    if (s->ust == UP_OK)
        hconn_reply_error_detail(rc, s->detail ? (enum ipc_errdetail)s->detail : IPC_ERR_APPLICATION, s->cls,
                                 s->msg);
    else
        hconn_reply_error(rc, "java.io.IOException", "%s", s->why[0] ? s->why : "subcluster unavailable");
}

bool sub_ok(const struct sub *s)
{
    return s->ust == UP_OK && s->status == IPC_SUCCESS;
}

bool sub_not_found(const struct sub *s)
{
    return s->ust == UP_OK && s->status != IPC_SUCCESS && strcmp(s->cls, "java.io.FileNotFoundException") == 0;
}

/* Calls whose answer says "not here" without an exception: a status call or
 * a listing with nothing in field 1, and the boolean writes that answer
 * false where the path is not (RBF's sequential invocation goes on until a
 * location answers true). */
enum { NH_NONE, NH_ABSENT, NH_FALSE };

static int not_here_kind(const struct method_row *m)
{
    if (!m)
        return NH_NONE;
    if (m->flags & METHOD_NONE_NOT_HERE)
        return NH_ABSENT;
    return (m->flags & METHOD_FALSE_NOT_HERE) ? NH_FALSE : NH_NONE;
}

/* The path is not in this location: the NameNode said so (a missing file, or
 * a file whose lease it does not know), or answered none or false. */
static bool sub_not_here(const struct rstate *st, const struct sub *s)
{
    if (s->ust != UP_OK)
        return false;
    if (s->status != IPC_SUCCESS)
        return sub_not_found(s) || strcmp(s->cls, "org.apache.hadoop.hdfs.server.namenode.LeaseExpiredException") == 0;
    int kind = not_here_kind(st->m);
    if (kind == NH_NONE)
        return false;
    const uint8_t *p = buf_rptr(&s->payload), *end = p + buf_len(&s->payload);
    struct pb_field f;
    while (pb_next_field(&p, end, &f) > 0)
        if (f.num == 1)
            return kind == NH_FALSE ? (f.type == PB_VARINT && f.varint == 0) : false;
    return true;
}

/* A write made in every location: the answer of one that did it (a true
 * result when some location answered false, as delete and rename do where
 * the path is not). */
static void reply_all_write(struct rstate *st)
{
    const struct sub *pick = NULL;
    for (int i = 0; i < st->nsub && !pick; i++) {
        const struct sub *s = &st->subs[i];
        if (!sub_ok(s))
            continue;
        const uint8_t *p = buf_rptr(&s->payload), *end = p + buf_len(&s->payload);
        struct pb_field f;
        while (pb_next_field(&p, end, &f) > 0)
            if (f.num == 1 && f.type == PB_VARINT && f.varint)
                pick = s;
    }
    for (int i = 0; i < st->nsub && !pick; i++)
        if (sub_ok(&st->subs[i]))
            pick = &st->subs[i];
    struct buf out = BUF_INIT;
    if (pick->dest && rd_map_response(st->snap, st->m, pick->hc.ns->name, pick->dest, pick->src,
                                      buf_rptr(&pick->payload), buf_len(&pick->payload), &out) == 1)
        hconn_reply_raw(st->rc, buf_rptr(&out), buf_len(&out));
    else
        hconn_reply_raw(st->rc, buf_rptr(&pick->payload), buf_len(&pick->payload));
    buf_free(&out);
}

/* The successful answers merged by the row's merge kind. With reverse
 * mapping (fan-outs whose answers hold full paths) each answer is first
 * mapped back through the mounts of the nameservice that gave it. */
static void reply_merged(struct rstate *st)
{
    struct rcall *rc = st->rc;
    struct rd_answer *a = calloc((size_t)st->nsub, sizeof *a);
    struct buf *mapped = calloc((size_t)st->nsub, sizeof *mapped);
    struct buf out = BUF_INIT;
    int n = 0;
    if (!a || !mapped) {
        hconn_reply_error(rc, "java.io.IOException", "out of memory merging answers");
        goto out;
    }
    for (int i = 0; i < st->nsub; i++) {
        struct sub *s = &st->subs[i];
        if (!sub_ok(s))
            continue;
        a[n].p = buf_rptr(&s->payload);
        a[n].len = buf_len(&s->payload);
        if (rd_map_response(st->snap, st->m, s->hc.ns ? s->hc.ns->name : NULL, s->dest, s->src, a[n].p, a[n].len,
                            &mapped[i]) == 1) {
            a[n].p = buf_rptr(&mapped[i]);
            a[n].len = buf_len(&mapped[i]);
        }
        n++;
    }
    if (rd_merge(st->m, a, n, &out) < 0 ||
        (st->router_quota && rd_put_quota(st->m, &out, st->rq_ns, st->rq_ss) < 0))
        hconn_reply_error(rc, "java.io.IOException", "%s: cannot merge the answers of the subclusters", rc->method);
    else
        hconn_reply_raw(rc, buf_len(&out) ? buf_rptr(&out) : (const uint8_t *)"", buf_len(&out));
out:
    for (int i = 0; mapped && i < st->nsub; i++)
        buf_free(&mapped[i]);
    free(mapped);
    free(a);
    buf_free(&out);
}

/* A directory that only the mount table has, and no destination below it
 * exists yet: one empty directory, no quota. */
static void reply_empty_summary(struct rstate *st)
{
    uint8_t inner[64], out[80];
    size_t n = 0;
    bool cs = !(st->m->flags & METHOD_QUOTA_USAGE); /* else a QuotaUsageProto */
    if (cs) {
        n += pb_put_varint_field(inner + n, 1, 0);           /* length */
        n += pb_put_varint_field(inner + n, 2, 0);           /* fileCount */
        n += pb_put_varint_field(inner + n, 3, 1);           /* directoryCount */
        n += pb_put_varint_field(inner + n, 4, UINT64_MAX);  /* quota: none (-1) */
        n += pb_put_varint_field(inner + n, 5, 0);           /* spaceConsumed */
        n += pb_put_varint_field(inner + n, 6, UINT64_MAX);  /* spaceQuota: none */
    } else {
        n += pb_put_varint_field(inner + n, 1, 1);           /* fileAndDirectoryCount */
        n += pb_put_varint_field(inner + n, 2, UINT64_MAX);  /* quota */
        n += pb_put_varint_field(inner + n, 3, 0);           /* spaceConsumed */
        n += pb_put_varint_field(inner + n, 4, UINT64_MAX);  /* spaceQuota */
    }
    size_t m = pb_put_bytes_field(out, 1, inner, n);
    hconn_reply_raw(st->rc, out, m);
}

/* create and append answer the new file's status; the router names the
 * subcluster in it (HdfsFileStatusProto.namespace, field 19), because inode
 * ids repeat across subclusters and Hadoop 3.3.5+ clients key the files
 * they write by namespace and id. */
static bool names_namespace(const struct method_row *m)
{
    return m && (m->flags & METHOD_NAMES_NS);
}

/* Copies msg with namespace = ns added to the status at the row's
 * status_field (create: fs(1), append: stat(2)). 1 written, 0 no status in
 * the answer, -1 malformed. */
static int put_namespace(const struct method_row *m, const uint8_t *msg, size_t len, const char *ns, struct buf *out)
{
    uint32_t want = m->status_field;
    const uint8_t *p = msg, *end = msg + len, *at = p;
    struct pb_field f;
    size_t nl = strlen(ns);
    bool done = false;
    int rc;
    while ((rc = pb_next_field(&p, end, &f)) > 0) {
        if (f.num == want && f.type == PB_LEN && !done) {
            uint8_t hdr[24], tail[16];
            size_t tl = pb_put_tag(tail, 19, PB_LEN);
            tl += pb_put_varint(tail + tl, nl);
            size_t hl = pb_put_tag(hdr, want, PB_LEN);
            hl += pb_put_varint(hdr + hl, f.len + tl + nl);
            if (buf_append(out, hdr, hl) < 0 || buf_append(out, f.data, f.len) < 0 || buf_append(out, tail, tl) < 0 ||
                buf_append(out, ns, nl) < 0)
                return -1;
            done = true;
        } else if (buf_append(out, at, (size_t)(p - at)) < 0) {
            return -1;
        }
        at = p;
    }
    return rc < 0 ? -1 : done;
}

/* ---- completion ---- */

static void complete_one(struct rstate *st)
{
    struct rcall *rc = st->rc;
    struct sub *s = &st->subs[0];
    if (!sub_ok(s)) {
        reply_sub_error(rc, s);
        return;
    }
    route_state_learn_from_reply(st->m, buf_rptr(&s->payload), buf_len(&s->payload), s->hc.ns);
    if (st->plan == RP_LISTING_MOUNTS) {
        reply_merged_listing(st);
        return;
    }
    if (st->m && (st->m->flags & METHOD_SUBTREE) && (st->m->flags & METHOD_STATUS) &&
        reply_mount_fileinfo(st, buf_rptr(&s->payload), buf_len(&s->payload)))
        return;
    struct buf out = BUF_INIT, named = BUF_INIT;
    const uint8_t *p = buf_rptr(&s->payload);
    size_t len = buf_len(&s->payload);
    if (st->dest && rd_map_response(st->snap, st->m, s->hc.ns->name, st->dest, st->src, p, len, &out) == 1) {
        p = buf_rptr(&out);
        len = buf_len(&out);
    }
    if (names_namespace(st->m) && put_namespace(st->m, p, len, s->hc.ns->name, &named) == 1) {
        p = buf_rptr(&named);
        len = buf_len(&named);
    }
    hconn_reply_raw(rc, len ? p : (const uint8_t *)"", len);
    buf_free(&out);
    buf_free(&named);
}

static bool next_location(struct rstate *st);


/* One line per second at most: an outage makes many partial answers (the
 * limiter counts the rest). */
static void log_partial(const struct rcall *rc, const char *path, const struct sub *gone)
{
    struct fr_log_who who = hconn_who(rc->c);
    FR_LOG_EVERY(1, 1000, FR_LOG_WARN, &who, "%s %s answered without nameservice %s: %s (hdfs.down = partial)",
                 rc->method, path ? path : "", gone && gone->hc.ns ? gone->hc.ns->name : "?",
                 gone && gone->why[0] ? gone->why : "unavailable");
}

/* A call that tries one location after another (its plan TRY_LOCATIONS or
 * LISTING_MOUNTS) has an answer: true when it went on to the next location.
 * Otherwise, when no location held the path, the first "not here" answer
 * becomes the call's. */
static bool try_next(struct rstate *st)
{
    if (st->nsub == 1 && st->ci < st->ncands) {
        const struct sub *s0 = &st->subs[0];
        /* A subcluster that is down (fault tolerance), or a location of a
         * multi-destination mount that does not hold the path: the next. */
        bool absent = st->seq && sub_not_here(st, s0);
        if (absent && !st->absent && (st->absent = calloc(1, sizeof *st->absent)) != NULL) {
            *st->absent = *s0;
            st->absent->payload = s0->payload; /* moved: the retry starts with an empty buffer */
            st->subs[0].payload = (struct buf)BUF_INIT;
        }
        if (((st->ft && s0->ust != UP_OK) || absent) && next_location(st))
            return true;
    }
    if (st->nsub == 1 && st->absent && (st->subs[0].ust != UP_OK || sub_not_here(st, &st->subs[0]))) {
        /* No location has the path and the others are down or say the
         * same (fault-tolerant mounts): the first location's answer. */
        if (st->ft || st->subs[0].ust == UP_OK) {
            struct sub *s0 = &st->subs[0];
            buf_free(&s0->payload);
            s0->ust = st->absent->ust;
            s0->status = st->absent->status;
            s0->detail = st->absent->detail;
            memcpy(s0->cls, st->absent->cls, sizeof s0->cls);
            memcpy(s0->msg, st->absent->msg, sizeof s0->msg);
            s0->payload = st->absent->payload;
            st->absent->payload = (struct buf)BUF_INIT;
        }
    }
    return false;
}

/* The answers of a call's subcalls, sorted. */
struct tally {
    int ok, down;
    const struct sub *bad;              /* the first failure */
    const struct sub *nh;               /* the first location without the path */
    const struct sub *gone;             /* the last location down, left out of a partial answer */
};

/*
 * Sorts the answers. many: the call went to several locations of a path,
 * where one without it (a mount whose destination does not exist yet) is
 * no failure. partial: a listing or summary may answer without a location
 * that is down (hdfs.down = partial, as RBF's allow-partial-listing); such
 * an answer is counted and logged here.
 */
static void tally(struct rstate *st, bool many, bool partial, struct tally *t)
{
    struct rcall *rc = st->rc;
    *t = (struct tally){ 0 };
    partial = partial && !rc->c->w->router->hdfs_down_fails;
    for (int i = 0; i < st->nsub; i++) {
        const struct sub *s = &st->subs[i];
        if (sub_ok(s) && !(many && sub_not_here(st, s))) {
            t->ok++;
        } else if (many && sub_not_here(st, s)) {
            if (!t->nh)
                t->nh = s;
        } else if (partial && s->ust != UP_OK) {
            t->down++;
            t->gone = s;
        } else if (!t->bad) {
            t->bad = s;
        }
    }
    if (t->down && (t->ok || t->nh || st->plan == RP_LISTING_MOUNTS)) {
        atomic_fetch_add(&rc->c->w->router->hdfs_partial, 1);
        log_partial(rc, st->client_path, t->gone);
    } else if (t->down && !t->bad) {
        t->bad = t->gone;
    }
}

/* A fan-out that failed, or where no location holds the path: answered
 * here (true). false: there are answers to combine. */
static bool reply_fanout_failure(struct rstate *st, const struct tally *t)
{
    struct rcall *rc = st->rc;
    if ((t->bad && !(st->m && st->m->merge == MERGE_ANY_OK && t->ok > 0)) || (t->ok == 0 && !t->nh)) {
        reply_sub_error(rc, t->bad ? t->bad : &st->subs[0]);
        return true;
    }
    if (t->ok == 0) {
        /* No location holds the path: the first one's own answer (none,
         * false, or FileNotFoundException). */
        if (sub_ok(t->nh))
            hconn_reply_raw(rc, buf_len(&t->nh->payload) ? buf_rptr(&t->nh->payload) : (const uint8_t *)"",
                            buf_len(&t->nh->payload));
        else
            reply_sub_error(rc, t->nh);
        return true;
    }
    return false;
}

/* Every subcall has answered (or failed): the call's answer, by its plan. */
static void complete(struct rstate *st)
{
    struct rcall *rc = st->rc;
    struct tally t;
    switch (st->plan) {
    case RP_PROBE:
    case RP_RENAME_PROBE:
        probe_done(st);
        return;
    case RP_TRY_LOCATIONS:
    case RP_LISTING_MOUNTS:
        if (try_next(st))
            return;
        break;
    default:
        break;
    }
    rc->route = NULL;
    switch (st->plan) {
    case RP_ONE:
    case RP_TRY_LOCATIONS:
        complete_one(st);
        break;
    case RP_LISTING_MOUNTS:
        tally(st, false, true, &t);
        if (t.down && !t.bad)
            reply_merged_listing(st); /* its location is down: the mount points alone */
        else
            complete_one(st);
        break;
    case RP_MERGE:
        if (st->nsub == 1) {
            complete_one(st);
            break;
        }
        tally(st, false, false, &t);
        if (!reply_fanout_failure(st, &t))
            reply_merged(st);
        break;
    case RP_SUMMARY:
    case RP_SUMMARY_MOUNT_ONLY:
        tally(st, true, true, &t);
        if (st->plan == RP_SUMMARY_MOUNT_ONLY && !t.bad && t.ok == 0)
            reply_empty_summary(st);
        else if (!reply_fanout_failure(st, &t))
            reply_merged(st);
        break;
    case RP_LISTING_FANOUT:
        tally(st, true, true, &t);
        if (!reply_fanout_failure(st, &t))
            reply_merged_listing(st);
        break;
    case RP_WRITE_ALL:
        tally(st, true, false, &t);
        if (!reply_fanout_failure(st, &t))
            reply_all_write(st);
        break;
    case RP_PROBE:
    case RP_RENAME_PROBE:
    case RP_NEW:
    case RP_OWN:
    case RP_POOL_PROBE:
    case RP_NPLANS:
        /* Probes were handled above; the others' subcalls end elsewhere
         * (or there are none). */
        assert(!"a call completed without a plan that completes here");
        hconn_reply_error(rc, "java.io.IOException", "%s: internal routing error (plan %s)", rc->method,
                          route_plan_name(st->plan));
        break;
    }
    st_free(st);
}

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* May the one successful answer of a single-location call go to the client
 * unchanged? Not when it must be merged, mapped, or may mean "not here". */
static bool reply_as_is(const struct rstate *st, const struct ipc_reply *r)
{
    switch (st->plan) {
    case RP_ONE:
    case RP_TRY_LOCATIONS:
    case RP_MERGE:
        break;
    default:
        return false; /* merged, or probes */
    }
    if (st->nsub != 1)
        return false;
    const struct method_row *m = st->m;
    if (!m)
        return true;
    int kind = not_here_kind(m);
    /* A status call or a listing answers "none" with an empty message: the
     * mount point case and other locations need a look. */
    if (kind == NH_ABSENT && (r->payload.len == 0 || r->payload.p[0] != 0x0a))
        return false;
    /* false from a boolean write: another location may hold the path. */
    if (kind == NH_FALSE && st->seq && st->ci < st->ncands &&
        (r->payload.len < 2 || (r->payload.p[0] == 0x08 && r->payload.p[1] == 0)))
        return false;
    /* create and append answers name the subcluster (field 19 of the status). */
    if (names_namespace(m))
        return false;
    if (m->resp.n == 0 || !st->dest)
        return true;
    return strcmp(st->dest, st->src) == 0;
}

static void sub_done(struct ha_call *hc, enum upstream_status ust, const struct ipc_reply *r, const uint8_t *body,
                     size_t len, const char *why)
{
    struct sub *s = (struct sub *)hc;
    struct rstate *st = s->st;
    s->finished = true;
    s->ust = ust;
    if (hc->ns) {
        /* Name ids cached: the nameservice's in its shared struct, the
         * method's per thread by its row (calls of one method come in
         * runs; every routed call has a row). */
        static __thread const struct method_row *last_row;
        static __thread int last_mid = -1;
        if (last_mid < 0 || !st->m || last_row != st->m) {
            last_row = st->m;
            last_mid = metrics_name_id(st->rc->method);
        }
        int nid = atomic_load_explicit(&hc->ns->metrics_id, memory_order_relaxed) - 1;
        if (nid < 0) {
            nid = metrics_name_id(hc->ns->name);
            atomic_store_explicit(&hc->ns->metrics_id, nid + 1, memory_order_relaxed);
        }
        metrics_record(st->rc->c->w->metrics, 2, last_mid, nid, mono_us() - s->sent_us,
                       ust != UP_OK || r->status != IPC_SUCCESS);
    }
    if (ust == UP_OK && r->status == IPC_SUCCESS && st->pending == 1 && reply_as_is(st, r)) {
        /* The common case: one answer that needs no change goes to the
         * client straight from the upstream buffer, without a copy. */
        struct rcall *rc = st->rc;
        route_state_learn_from_reply(st->m, r->payload.p, r->payload.len, hc->ns);
        rc->route = NULL;
        hconn_reply_raw(rc, r->payload.p, r->payload.len);
        st_free(st);
        return;
    }
    if (ust == UP_OK) {
        s->status = r->status;
        s->detail = r->error_detail;
        ipc_span_copy(r->exception_class, s->cls, sizeof s->cls);
        ipc_span_copy(r->error_msg, s->msg, sizeof s->msg);
        if (r->status != IPC_SUCCESS && s->msg[0] && st->plan != RP_PROBE && st->plan != RP_RENAME_PROBE) {
            /* Destination paths in the message back to the client's: by the
             * call's own mount, and for the other path of a rename or the
             * answers of a fan-out by the answering subcluster's mounts. A
             * path of the default subcluster is its own. */
            bool by_mounts = st->m && (st->m->route == ROUTE_TWO_PATHS || st->m->route == ROUTE_ALL_MERGE);
            rd_map_message(st->snap, by_mounts && hc->ns ? hc->ns->name : NULL, s->dest ? s->dest : st->dest,
                           s->dest ? s->src : st->src, s->msg, sizeof s->msg);
        }
        if (r->status == IPC_SUCCESS)
            buf_append(&s->payload, r->payload.p, r->payload.len);
    } else {
        snprintf(s->why, sizeof s->why, "%s", why ? why : "");
    }
    if (--st->pending == 0)
        complete(st);
}

void guard_drop(struct rstate *st)
{
    if (--st->pending == 0)
        complete(st);
}

struct rstate *st_new(struct rcall *rc, struct rd_snap *snap, const struct method_row *m, int nsub)
{
    struct rstate *st = calloc(1, sizeof *st + (size_t)nsub * sizeof(struct sub));
    if (!st)
        return NULL;
    st->rc = rc;
    st->snap = snap;
    st->m = m;
    st->nsub = nsub;
    st->pending = nsub + 1; /* the guard: see start_sub */
    for (int i = 0; i < nsub; i++) {
        st->subs[i].st = st;
        st->subs[i].hc.done = sub_done;
    }
    rc->route = st;
    return st;
}

static const char *const plan_names[RP_NPLANS] = {
    [RP_NEW] = "NEW",
    [RP_ONE] = "ONE",
    [RP_TRY_LOCATIONS] = "TRY_LOCATIONS",
    [RP_LISTING_MOUNTS] = "LISTING_MOUNTS",
    [RP_LISTING_FANOUT] = "LISTING_FANOUT",
    [RP_SUMMARY] = "SUMMARY",
    [RP_SUMMARY_MOUNT_ONLY] = "SUMMARY_MOUNT_ONLY",
    [RP_WRITE_ALL] = "WRITE_ALL",
    [RP_MERGE] = "MERGE",
    [RP_PROBE] = "PROBE",
    [RP_RENAME_PROBE] = "RENAME_PROBE",
    [RP_OWN] = "OWN",
    [RP_POOL_PROBE] = "POOL_PROBE",
};

const char *route_plan_name(enum route_plan p)
{
    return (unsigned)p < RP_NPLANS ? plan_names[p] : "?";
}

/* The moves enum route_plan allows: a new state takes its plan once, and
 * probes hand over to the one call they were for. */
static bool plan_move_ok(enum route_plan from, enum route_plan to)
{
    if ((unsigned)to >= RP_NPLANS || to == RP_NEW)
        return false;
    switch (from) {
    case RP_NEW:
        return true;
    case RP_PROBE:
    case RP_RENAME_PROBE:
        return to == RP_ONE || to == RP_TRY_LOCATIONS;
    default:
        return false;
    }
}

bool route_plan_set(struct rstate *st, enum route_plan to)
{
    if (!plan_move_ok(st->plan, to)) {
        assert(!"impossible routed call plan change");
        fr_log(FR_LOG_ERROR, "%s: impossible routed call plan change %s -> %s (kept)", st->rc->method,
               route_plan_name(st->plan), route_plan_name(to));
        return false;
    }
    st->plan = to;
    return true;
}

/*
 * Starts subcall i to ns with param; on an immediate failure records it.
 * Callers hold a guard: st->pending starts at nsub + 1 and the guard is
 * dropped with guard_drop() after every subcall started, so the call can
 * only complete (and rc be freed) after the caller's loop.
 */
/*
 * Upstream replies are matched by (clientId, callId), so two calls in
 * flight to one NameNode must not share them. The client's own ids go up
 * with the call the client made, for the NameNode's retry cache; calls the
 * router adds (probes, several subcalls of one call to one subcluster)
 * carry the router's ids: this thread's client id and a counter.
 */
static const struct ipc_ids *sub_ids(struct rstate *st, const char *method, struct ipc_ids *own)
{
    bool aux = method != st->rc->method || (st->nsub > 1 && !(st->m && (st->m->flags & METHOD_AT_MOST_ONCE)));
    if (!aux)
        return &st->rc->ids;
    route_own_ids(own);
    return own;
}

void start_sub_method(struct rstate *st, int i, struct ha_ns *ns, const char *method, const uint8_t *param,
                             size_t len)
{
    struct rcall *rc = st->rc;
    struct sub *s = &st->subs[i];
    struct ipc_ids own;
    s->sent_us = mono_us();
    if (ha_send(&s->hc, rc->c->w->up, ns, rcall_user(rc), sub_ids(st, method, &own), method, param, len) < 0) {
        s->finished = true;
        s->ust = UP_EDOWN;
        snprintf(s->why, sizeof s->why, "cannot send to nameservice %s", ns->name);
        if (--st->pending == 0)
            complete(st);
    }
}

void start_sub(struct rstate *st, int i, struct ha_ns *ns, const uint8_t *param, size_t len)
{
    start_sub_method(st, i, ns, st->rc->method, param, len);
}

/*
 * The next location of a call that may be served elsewhere: a fault-tolerant
 * mount whose chosen subcluster cannot be reached (RBF's fault-tolerant
 * entries), a path of a multi-destination mount that the location asked does
 * not hold (RBF's sequential invocation over the locations), or a call that
 * any subcluster can answer. The request is mapped again for the new
 * location; the client's ids go along unchanged. false when none is left
 * (the last answer is the call's answer).
 */
static bool next_location(struct rstate *st)
{
    static __thread struct rd_req req;
    struct buf param = BUF_INIT;
    while (st->ci < st->ncands) {
        struct ha_ns *ns = st->cands[st->ci++];
        const uint8_t *p = buf_rptr(&st->orig);
        size_t len = buf_len(&st->orig);
        bool path_routed = st->m && (st->m->route == ROUTE_PATH || st->m->route == ROUTE_TWO_PATHS);
        if (path_routed) {
            buf_reset(&param);
            req.force_ns = ns;
            int r = rd_map_request(st->snap, st->m, st->rc->method, p, len, &req, &param);
            req.force_ns = NULL;
            if (r < 0 || req.npaths == 0 || req.t.ns != ns)
                continue;
            if (r == 1) {
                p = buf_rptr(&param);
                len = buf_len(&param);
            }
            free(st->dest);
            free(st->src);
            st->dest = req.t.dest[0] ? strdup(req.t.dest) : NULL;
            st->src = req.t.dest[0] ? strdup(req.t.src) : NULL;
        }
        struct sub *s = &st->subs[0];
        s->finished = false;
        s->ust = UP_OK;
        s->status = IPC_SUCCESS;
        s->why[0] = 0;
        buf_reset(&s->payload);
        st->rc->ns = ns->name;
        st->pending = 2; /* the subcall and a guard, as when the call started */
        start_sub(st, 0, ns, p, len);
        buf_free(&param);
        guard_drop(st);
        return true;
    }
    buf_free(&param);
    return false;
}

/* A subcall that could not even be built (its request cannot be rewritten). */
void fail_sub(struct rstate *st, int i, const char *why)
{
    st->subs[i].finished = true;
    st->subs[i].ust = UP_EPROTO;
    snprintf(st->subs[i].why, sizeof st->subs[i].why, "%.600s", why);
    st->pending--;
}

void fail_call(struct rcall *rc, struct rd_snap *snap, const char *cls, const char *msg)
{
    rd_snap_release(snap);
    hconn_reply_error(rc, cls, "%s", msg);
}

/* ---- entry points ---- */

void hdfs_route_cancel(struct rcall *rc)
{
    struct rstate *st = rc->route;
    if (!st)
        return;
    for (int i = 0; i < st->nsub; i++)
        if (!st->subs[i].finished)
            ha_cancel(&st->subs[i].hc);
    rc->route = NULL;
    st_free(st);
}

/* One subcall per location, each with the request's path replaced by that
 * location's path: a listing of a directory kept in every destination, or
 * a summary of everything below a path. These are reads, and several may go
 * to one NameNode, whose replies are matched by ids: each carries ids of the
 * router's own. The usage of a mount entry with router quotas reports those
 * as its limits (RBF). */
static void route_locations(struct rcall *rc, struct rd_snap *snap, const struct method_row *m,
                            const struct ipc_call *ic, const char *path, const struct rd_loc *t, int nt,
                            bool summary)
{
    struct rstate *st = st_new(rc, snap, m, nt);
    if (!st) {
        fail_call(rc, snap, "java.io.IOException", "out of memory");
        return;
    }
    route_plan_set(st, !summary ? RP_LISTING_FANOUT : rd_owned(snap, path) ? RP_SUMMARY : RP_SUMMARY_MOUNT_ONLY);
    st->client_path = strdup(path);
    if (!summary)
        take_start_after(st, ic);
    if (summary && (m->flags & METHOD_QUOTA_USAGE) && rd_entry_quota(snap, path, &st->rq_ns, &st->rq_ss))
        st->router_quota = st->rq_ns >= 0 || st->rq_ss >= 0;
    rc->ns = nt == 1 ? t[0].ns->name : "*";
    struct buf param = BUF_INIT;
    for (int i = 0; i < nt; i++) {
        buf_reset(&param);
        int r = rd_request_to(m, ic->param.p, ic->param.len, t[i].path, &param);
        if (r < 0) {
            fail_sub(st, i, "cannot rewrite the request");
            continue;
        }
        st->subs[i].dest = strdup(t[i].dest);
        st->subs[i].src = strdup(t[i].src);
        if (r == 1) /* several reads to one NameNode: start_sub gives each the router's own ids */
            start_sub(st, i, t[i].ns, buf_rptr(&param), buf_len(&param));
        else
            start_sub(st, i, t[i].ns, ic->param.p, ic->param.len);
    }
    buf_free(&param);
    guard_drop(st);
}

static void route_all(struct rcall *rc, struct rd_snap *snap, const struct method_row *m, const struct ipc_call *ic);

/* Under a mount of several destinations a path may be in any location:
 * calls that make a new file go to the chosen location, others try the
 * locations in turn (RBF's sequential invocation). Where directories exist
 * in every destination (folder-all orders), writes that change what exists
 * (mkdirs, delete, rename, attributes) go to every location, as RBF invokes
 * them concurrently. */
static bool creates_here(const struct method_row *m)
{
    return (m->flags & METHOD_CREATES) != 0;
}

static bool writes_everywhere(const struct method_row *m)
{
    return (m->flags & METHOD_WRITE) && !(m->flags & (METHOD_POOL_FIRST | METHOD_FILE_OP));
}

void route_write_everywhere(struct rcall *rc, struct rd_snap *snap, const struct method_row *m,
                                   const uint8_t *rq, size_t rql, const char *path, struct ha_ns **cands, int n)
{
    static __thread struct rd_req req;
    /* A rename is carried out in the locations where both of its paths
     * have a destination: the others cannot hold the pair. */
    struct ha_ns *keep[RD_FT_MAX];
    int nk = 0;
    if (m->route == ROUTE_TWO_PATHS) {
        struct buf probe = BUF_INIT;
        for (int i = 0; i < n; i++) {
            buf_reset(&probe);
            req.force_ns = cands[i];
            int r = rd_map_request(snap, m, rc->method, rq, rql, &req, &probe);
            req.force_ns = NULL;
            if (r >= 0 && req.t.ns == cands[i])
                keep[nk++] = cands[i];
        }
        buf_free(&probe);
        cands = keep;
        n = nk;
    }
    struct rstate *st = n > 0 ? st_new(rc, snap, m, n) : NULL;
    if (!st) {
        fail_call(rc, snap, "java.io.IOException", n > 0 ? "out of memory" : "no location holds both paths");
        return;
    }
    route_plan_set(st, RP_WRITE_ALL);
    st->client_path = strdup(path);
    rc->ns = "*";
    struct buf param = BUF_INIT;
    for (int i = 0; i < n; i++) {
        buf_reset(&param);
        req.force_ns = cands[i];
        int r = rd_map_request(snap, m, rc->method, rq, rql, &req, &param);
        req.force_ns = NULL;
        if (r < 0 || req.t.ns != cands[i]) {
            fail_sub(st, i, r < 0 ? req.emsg : "no location in this nameservice");
            continue;
        }
        if (req.t.dest[0]) {
            st->subs[i].dest = strdup(req.t.dest);
            st->subs[i].src = strdup(req.t.src);
        }
        if (r == 1)
            start_sub(st, i, cands[i], buf_rptr(&param), buf_len(&param));
        else
            start_sub(st, i, cands[i], rq, rql);
    }
    buf_free(&param);
    guard_drop(st);
}

/*
 * The paths of a rename or concat whose mount holds several destinations:
 * the first location of the source where the other path has a destination
 * too (RBF's getRenameDestinations). The error of the first try stays when
 * no location holds both. 1 or 0 as rd_map_request, -1.
 */
static int pair_locations(struct rd_snap *snap, const struct method_row *m, const char *method,
                          const struct ipc_call *ic, struct rd_req *req, struct buf *param)
{
    static __thread char emsg[sizeof req->emsg];
    const char *ecls = req->ecls;
    memcpy(emsg, req->emsg, sizeof emsg);
    struct ha_ns *locs[RD_FT_MAX];
    char src[RD_MAX_PATH];
    snprintf(src, sizeof src, "%s", req->client_path);
    int n = rd_locations(snap, src, NULL, locs, RD_FT_MAX);
    for (int i = 0; i < n; i++) {
        buf_reset(param);
        req->force_ns = locs[i];
        int r = rd_map_request(snap, m, method, ic->param.p, ic->param.len, req, param);
        req->force_ns = NULL;
        if (r >= 0 && req->t.ns == locs[i])
            return r;
    }
    req->ecls = ecls;
    req->across = true;
    memcpy(req->emsg, emsg, sizeof emsg);
    return -1;
}

/* Is path (as the client wrote it) a mount point? */
static bool at_mount_point(struct rd_snap *snap, const char *path)
{
    char norm[RD_MAX_PATH];
    size_t n = 0;
    for (const char *p = path; *p && n + 1 < sizeof norm; p++)
        if (*p != '/' || n == 0 || norm[n - 1] != '/')
            norm[n++] = *p;
    while (n > 1 && norm[n - 1] == '/')
        n--;
    norm[n] = 0;
    return n > 0 && rd_is_mount_point(snap, norm);
}

/*
 * A directory that no mount point and no default nameservice owns, but with
 * mount points below it ("/" of a router without a default): it exists
 * only in the mount table. Its status is a directory, its listing the mount
 * points, its summary the sum of the mounts below. false: not such a path.
 */
static bool route_above_mounts(struct rcall *rc, struct rd_snap *snap, const struct method_row *m,
                               const struct ipc_call *ic, const char *path)
{
    if (!rd_has_mount_points(snap, path))
        return false;
    if (m->merge == MERGE_SUM) {
        struct rd_locs locs = { 0 };
        char err[RD_MAX_PATH + 200];
        bool own;
        int n = rd_summary_targets(snap, path, &locs, &own, err, sizeof err);
        if (n > 0)
            route_locations(rc, snap, m, ic, path, locs.v, n, true);
        rd_locs_free(&locs);
        return n > 0; /* route_locations plans SUMMARY_MOUNT_ONLY for a path without its own location */
    }
    bool listing = (m->flags & METHOD_LISTING) != 0;
    if (!listing && !(m->flags & METHOD_STATUS))
        return false;
    struct rstate *st = st_new(rc, snap, m, 0);
    if (!st || !(st->client_path = strdup(path))) {
        st_fail_new(rc, snap, st);
        return true;
    }
    rc->route = NULL;
    if (listing) {
        take_start_after(st, ic);
        reply_merged_listing(st);
    } else {
        reply_mount_fileinfo(st, (const uint8_t *)"", 0);
    }
    st_free(st);
    return true;
}

/*
 * Router quotas (RBF's): a mount entry's quota.ns / quota.ss limit what lies
 * below it over all its destinations, nested entries included. Calls that
 * add names or bytes are refused with the NameNode's quota exceptions once
 * the usage the refresher last added up has reached a limit. 0, or -1 with
 * the exception in *cls / msg.
 */
static int check_quota(struct rd_snap *snap, const struct method_row *m, const char *mount_src, const char **cls,
                       char *msg, size_t msglen)
{
    bool adds = (m->flags & (METHOD_ADDS_NAMES | METHOD_ADDS_BYTES)) != 0;
    if (!adds || !mount_src[0])
        return 0;
    bool names = (m->flags & METHOD_ADDS_NAMES) != 0;
    char p[RD_MAX_PATH];
    snprintf(p, sizeof p, "%s", mount_src);
    for (;;) {
        struct rd_mount_info mi;
        struct cs_usage u;
        if (rd_mount_info(snap, p, &mi) && (mi.ns_quota >= 0 || mi.ss_quota >= 0) && cs_usage(p, &u) == 0) {
            if (names && mi.ns_quota >= 0 && u.names >= (uint64_t)mi.ns_quota) {
                *cls = "org.apache.hadoop.hdfs.protocol.NSQuotaExceededException";
                snprintf(msg, msglen,
                         "The NameSpace quota (directories and files) of directory %s is exceeded: quota=%lld "
                         "file count=%llu",
                         p, (long long)mi.ns_quota, (unsigned long long)u.names + 1);
                return -1;
            }
            if (mi.ss_quota >= 0 && u.space >= (uint64_t)mi.ss_quota) {
                *cls = "org.apache.hadoop.hdfs.protocol.DSQuotaExceededException";
                snprintf(msg, msglen,
                         "The DiskSpace quota of %s is exceeded: quota = %lld B but diskspace consumed = %llu B", p,
                         (long long)mi.ss_quota, (unsigned long long)u.space);
                return -1;
            }
        }
        char *slash = strrchr(p, '/');
        if (!slash || p[1] == 0)
            return 0;
        if (slash == p)
            slash[1] = 0; /* up to "/" */
        else
            *slash = 0;
    }
}

static void route_paths(struct rcall *rc, struct rd_snap *snap, const struct method_row *m, const struct ipc_call *ic)
{
    static __thread struct rd_req req;
    struct buf param = BUF_INIT;
    req.force_ns = NULL;
    int mr = rd_map_request(snap, m, rc->method, ic->param.p, ic->param.len, &req, &param);
    if (mr < 0 && req.across && req.t.multi)
        mr = pair_locations(snap, m, rc->method, ic, &req, &param);
    if (mr < 0) {
        buf_free(&param);
        if (req.no_mount && (m->flags & METHOD_SUBTREE) && route_above_mounts(rc, snap, m, ic, req.client_path))
            return;
        fail_call(rc, snap, req.ecls, req.emsg);
        return;
    }
    if (req.npaths == 0) {
        buf_free(&param);
        if (m->nopath == ROUTE_ALL_MERGE) {
            route_all(rc, snap, m, ic);
        } else if (m->nopath == ROUTE_REFUSE) {
            fail_call(rc, snap, m->refuse_class, m->refuse_msg);
        } else {
            rd_snap_release(snap);
            hconn_reply_error(rc, "java.io.IOException", "%s: the request names no path", rc->method);
        }
        return;
    }
    if (m->flags & METHOD_MOUNT_ANSWER) {
        buf_free(&param);
        route_enclosing_root(rc, snap, m, &req);
        return;
    }
    if (m->flags & METHOD_SUBTREE) {
        struct rd_locs locs = { 0 };
        char err[RD_MAX_PATH + 200];
        bool own, fan = false;
        int n = 0;
        int64_t qn, qs;
        if (m->merge == MERGE_SUM) {
            n = rd_summary_targets(snap, req.client_path, &locs, &own, err, sizeof err);
            if (n < 0) {
                buf_free(&param);
                fail_call(rc, snap, "java.io.IOException", err);
                return;
            }
            /* The usage of a mount entry with router quotas is merged even
             * from one location: the limits are the router's. */
            fan = n > 1 || !own ||
                  ((m->flags & METHOD_QUOTA_USAGE) && rd_entry_quota(snap, req.client_path, &qn, &qs) &&
                   (qn >= 0 || qs >= 0));
        } else if (req.t.multi && (m->flags & METHOD_LISTING)) {
            n = rd_own_locations(snap, req.client_path, &locs, err, sizeof err);
            fan = n > 1;
        }
        if (fan) {
            buf_free(&param);
            route_locations(rc, snap, m, ic, req.client_path, locs.v, n, m->merge == MERGE_SUM);
        }
        rd_locs_free(&locs);
        if (fan)
            return;
    }
    /* A rename adds names where it lands: the destination's quota counts,
     * and a rename inside one mount adds nothing. */
    const char *qsrc = req.t.src;
    if (m->flags & METHOD_RENAME)
        qsrc = strcmp(req.other_src, req.t.src) != 0 ? req.other_src : "";
    if (cs_quotas_set() && qsrc[0]) {
        const char *qcls;
        char qmsg[RD_MAX_PATH + 200];
        if (check_quota(snap, m, qsrc, &qcls, qmsg, sizeof qmsg) < 0) {
            buf_free(&param);
            fail_call(rc, snap, qcls, qmsg);
            return;
        }
    }
    struct ha_ns *cands[RD_FT_MAX];
    int ncands = (req.t.multi || req.t.faulttolerant)
                     ? rd_locations(snap, req.client_path, req.t.ns, cands, RD_FT_MAX)
                     : 0;
    /* A new name in a mount of several destinations, or a rename where
     * either path may lie in several subclusters: first find where the
     * locations hold them. */
    if (ncands > 1 && req.t.multi && probes_first(m) && !at_mount_point(snap, req.client_path)) {
        buf_free(&param);
        route_probe(rc, snap, m, ic, &req, cands, ncands, 0);
        return;
    }
    if ((m->flags & METHOD_RENAME) && (req.t.multi || req.other_multi) &&
        route_rename_probe(rc, snap, m, ic, req.client_path)) {
        buf_free(&param);
        return;
    }
    /* Writes that change what exists (delete, attributes) reach every
     * location of a mount of several destinations: a directory may have
     * parts in several, and a mount point is in all of them, whose copies
     * must not drift apart. Where the path is not, the location says so. */
    if (req.t.multi && ncands > 1 && writes_everywhere(m)) {
        buf_free(&param);
        route_write_everywhere(rc, snap, m, ic->param.p, ic->param.len, req.client_path, cands, ncands);
        return;
    }
    struct ha_ns *ns = req.t.ns;
    bool by_pool = false;
    if (m->flags & METHOD_POOL_FIRST) {
        /* The block names the subcluster more surely than a path whose
         * mount picks one of several destinations. */
        char pool[256];
        const char *bp = rd_request_pool(m, ic->param.p, ic->param.len, pool, sizeof pool);
        struct ha_ns *pns = bp ? rd_ns_by_pool(snap, bp) : NULL;
        by_pool = pns == ns;
        if (pns && pns != ns) {
            struct buf alt = BUF_INIT;
            req.force_ns = pns;
            int r = rd_map_request(snap, m, rc->method, ic->param.p, ic->param.len, &req, &alt);
            req.force_ns = NULL;
            if (r >= 0 && req.t.ns == pns) {
                buf_free(&param);
                param = alt;
                mr = r;
                ns = pns;
                by_pool = true;
            } else {
                buf_free(&alt);
            }
        }
    }
    /* A call on an open file of a mount of several destinations, whose
     * block did not name the subcluster: the location holding the file
     * with that inode id. */
    uint64_t fid;
    if (ncands > 1 && req.t.multi && !by_pool && (fid = request_file_id(m, ic->param.p, ic->param.len))) {
        buf_free(&param);
        route_probe(rc, snap, m, ic, &req, cands, ncands, fid);
        return;
    }
    struct rstate *st = st_new(rc, snap, m, 1);
    if (!st) {
        buf_free(&param);
        fail_call(rc, snap, "java.io.IOException", "out of memory");
        return;
    }
    st->client_path = strdup(req.client_path);
    if (req.t.dest[0]) {
        st->dest = strdup(req.t.dest);
        st->src = strdup(req.t.src);
    }
    st->ft = req.t.faulttolerant;
    st->seq = req.t.multi && !creates_here(m);
    if ((st->ft || st->seq) && ncands > 1 && buf_append(&st->orig, ic->param.p, ic->param.len) == 0) {
        /* The first location is the one asked now. */
        for (int i = 0; i < ncands; i++)
            if (cands[i] != ns)
                st->cands[st->ncands++] = cands[i];
    }
    bool mount_children = false;
    if ((m->flags & METHOD_SUBTREE) && (m->flags & METHOD_LISTING)) {
        mount_children = rd_has_mount_points(snap, req.client_path);
        take_start_after(st, ic);
    }
    route_plan_set(st, mount_children ? RP_LISTING_MOUNTS : st->ncands > 0 ? RP_TRY_LOCATIONS : RP_ONE);
    rc->ns = ns->name;
    if (mr == 1)
        start_sub(st, 0, ns, buf_rptr(&param), buf_len(&param));
    else
        start_sub(st, 0, ns, ic->param.p, ic->param.len);
    buf_free(&param);
    guard_drop(st);
}

static void route_one_ns(struct rcall *rc, struct rd_snap *snap, const struct method_row *m, struct ha_ns *ns,
                         const struct ipc_call *ic)
{
    if (!ns) {
        rd_snap_release(snap);
        hconn_reply_error(rc, "java.io.IOException", "%s: no default nameservice is configured", rc->method);
        return;
    }
    struct rstate *st = st_new(rc, snap, m, 1);
    if (!st) {
        fail_call(rc, snap, "java.io.IOException", "out of memory");
        return;
    }
    rc->ns = ns->name;
    if (m && m->route == ROUTE_DEFAULT && buf_append(&st->orig, ic->param.p, ic->param.len) == 0) {
        /* Any subcluster's answer will do: the others, if this one is down. */
        struct ha_ns *all[RD_MAX_NS];
        int n = rd_all_ns(snap, all, RD_MAX_NS);
        st->ft = true;
        for (int i = 0; i < n && st->ncands < RD_FT_MAX; i++)
            if (all[i] != ns)
                st->cands[st->ncands++] = all[i];
    }
    route_plan_set(st, st->ncands > 0 ? RP_TRY_LOCATIONS : RP_ONE);
    start_sub(st, 0, ns, ic->param.p, ic->param.len);
    guard_drop(st);
}

/* renewLease names the nameservices the client holds leases in (field 2,
 * learned from create/append answers): only those, else every one, and
 * every one too when none of the names is known here (another router's
 * names, a nameservice removed since): a lease must never go unrenewed. The
 * field is the router's business; the NameNodes get the request without it. */
static int lease_targets(struct rd_snap *snap, const struct ipc_call *ic, struct ha_ns **all, int n,
                         struct buf *param)
{
    const uint8_t *p = ic->param.p, *end = p + ic->param.len, *at = p;
    struct pb_field f;
    bool named = false;
    bool want[RD_MAX_NS] = { false };
    while (pb_next_field(&p, end, &f) > 0) {
        if (f.num == 2 && f.type == PB_LEN) {
            named = true;
            for (int i = 0; i < n; i++)
                if (strlen(all[i]->name) == f.len && memcmp(all[i]->name, f.data, f.len) == 0)
                    want[i] = true;
        } else {
            buf_append(param, at, (size_t)(p - at));
        }
        at = p;
    }
    if (!named)
        return n;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (want[i])
            all[k++] = all[i];
    return k ? k : n;
}

static void route_all(struct rcall *rc, struct rd_snap *snap, const struct method_row *m, const struct ipc_call *ic)
{
    struct ha_ns *all[RD_MAX_NS];
    int n = rd_all_ns(snap, all, RD_MAX_NS);
    struct buf param = BUF_INIT;
    const uint8_t *pp = ic->param.p;
    size_t pl = ic->param.len;
    if (m->flags & METHOD_LEASE_NAMES) {
        n = lease_targets(snap, ic, all, n, &param);
        pp = buf_len(&param) ? buf_rptr(&param) : (const uint8_t *)"";
        pl = buf_len(&param);
    }
    struct rstate *st = n > 0 ? st_new(rc, snap, m, n) : NULL;
    if (!st) {
        buf_free(&param);
        fail_call(rc, snap, "java.io.IOException", "no nameservice to ask");
        return;
    }
    route_plan_set(st, RP_MERGE);
    rc->ns = "*";
    for (int i = 0; i < n; i++)
        start_sub(st, i, all[i], pp, pl);
    buf_free(&param);
    guard_drop(st);
}

/* Methods the router answers itself. */
static void route_router(struct rcall *rc, const struct method_row *m)
{
    uint8_t out[8];
    if (m->flags & METHOD_HA_STATE) {
        /* HAServiceStateProto: ACTIVE (1), or STANDBY (2) in safe mode. */
        bool standby = atomic_load(&rc->c->w->router->safe_mode);
        hconn_reply_raw(rc, out, pb_put_varint_field(out, 1, standby ? 2 : 1));
    } else if (m->refuse_class) {
        /* renewDelegationToken, cancelDelegationToken: no token to act on. */
        hconn_reply_error(rc, m->refuse_class, "%s", m->refuse_msg);
    } else {
        /* getDelegationToken with security off: no token; msync: nothing to
         * wait for (every call reaches an active NameNode). */
        hconn_reply_raw(rc, (const uint8_t *)"", 0);
    }
}

/* ---- calls for every NameNode (METHOD_ALL_NAMENODES) ---- */

/* setSafeMode's checked(2) (last one wins; absent: false). */
static bool safe_mode_checked(const struct ipc_call *ic)
{
    const uint8_t *p = ic->param.p, *end = p + ic->param.len;
    struct pb_field f;
    bool checked = false;
    while (pb_next_field(&p, end, &f) > 0)
        if (f.num == 2 && f.type == PB_VARINT)
            checked = f.varint != 0;
    return checked;
}

static bool to_every_namenode(const struct method_row *m, const struct ipc_call *ic)
{
    if (!(m->flags & METHOD_ALL_NAMENODES))
        return false;
    return !(m->flags & METHOD_CHECKED_ACTIVE) || !safe_mode_checked(ic);
}

/* Starts subcall i to the NameNode ns->addrs[idx] alone (see start_sub). */
static void start_sub_at(struct rstate *st, int i, struct ha_ns *ns, int idx, const uint8_t *param, size_t len)
{
    struct rcall *rc = st->rc;
    struct sub *s = &st->subs[i];
    s->sent_us = mono_us();
    if (ha_send_to(&s->hc, rc->c->w->up, ns, idx, rcall_user(rc), &rc->ids, rc->method, param, len) < 0) {
        s->finished = true;
        s->ust = UP_EDOWN;
        snprintf(s->why, sizeof s->why, "cannot send to NameNode %s of nameservice %s", ns->addrs[idx], ns->name);
        if (--st->pending == 0)
            complete(st);
    }
}

/* One subcall per NameNode, standbys included; every one must answer, and
 * the answers merge as the row says (RBF's invokeConcurrent with standby). */
static void route_all_namenodes(struct rcall *rc, struct rd_snap *snap, const struct method_row *m,
                                const struct ipc_call *ic)
{
    struct ha_ns *all[RD_MAX_NS];
    int n = rd_all_ns(snap, all, RD_MAX_NS), total = 0;
    for (int i = 0; i < n; i++)
        total += all[i]->n;
    struct rstate *st = total > 0 ? st_new(rc, snap, m, total) : NULL;
    if (!st) {
        fail_call(rc, snap, "java.io.IOException", "no nameservice to ask");
        return;
    }
    route_plan_set(st, RP_MERGE);
    rc->ns = "*";
    for (int i = 0, k = 0; i < n; i++)
        for (int j = 0; j < all[i]->n; j++)
            start_sub_at(st, k++, all[i], j, ic->param.p, ic->param.len);
    guard_drop(st);
}

/* ---- calls that name only a block (ROUTE_BLOCK_POOL) ---- */

/*
 * Pools come from the NameNodes (the refresher's versionRequest). A call
 * naming a pool not known yet (a subcluster added since the last round, a
 * router just started) makes the router ask every NameNode versionRequest
 * itself, on the worker's connections as its own user (a NameNode answers
 * its superuser only), and route again when all have answered; a pool still
 * unknown then fails the call as RBF's getNameserviceForBlockPoolId does,
 * rather than reach a subcluster whose ids mean other blocks. The asking is
 * rationed per worker, so made-up pools cannot turn calls into fan-outs.
 */
#define POOL_PROBES_PER_SEC 8

static void route_block_pool(struct rcall *rc, struct rd_snap *snap, const struct method_row *m,
                             const uint8_t *param, size_t len, bool may_probe);

static bool pool_probe_allowed(void)
{
    static __thread uint64_t window_us;
    static __thread int used;
    uint64_t now = mono_us();
    if (now - window_us >= 1000000) {
        window_us = now;
        used = 0;
    }
    return used++ < POOL_PROBES_PER_SEC;
}

static void pool_probe_finish(struct rstate *st)
{
    struct rcall *rc = st->rc;
    struct rd_snap *snap = st->snap;
    const struct method_row *m = st->m;
    struct buf param = st->orig;
    st->orig = (struct buf)BUF_INIT;
    st->snap = NULL; /* passed on with the call */
    rc->route = NULL;
    st_free(st);
    route_block_pool(rc, snap, m, buf_len(&param) ? buf_rptr(&param) : (const uint8_t *)"", buf_len(&param), false);
    buf_free(&param);
}

/* The probe being started on this thread (its answers must not end it
 * before every subcall is out). */
static __thread struct rstate *pool_probe_starting;

/* Are all the pools the call names known now? Then the answers still out
 * are not waited for (a slow NameNode of another subcluster). */
static bool pool_probe_enough(struct rstate *st)
{
    static __thread struct rd_pools pools;
    if (rd_request_pools(st->m, buf_rptr(&st->orig), buf_len(&st->orig), &pools) < 0 || pools.missing)
        return false;
    for (int i = 0; i < pools.n; i++)
        if (!rd_ns_by_pool(st->snap, pools.id[i]))
            return false;
    return true;
}

static void pool_probe_done_early(struct rstate *st)
{
    for (int i = 0; i < st->nsub; i++)
        if (!st->subs[i].finished) {
            ha_cancel(&st->subs[i].hc);
            st->subs[i].finished = true;
        }
    pool_probe_finish(st);
}

static void pool_probe_done(struct ha_call *hc, enum upstream_status ust, const struct ipc_reply *r, const uint8_t *body,
                       size_t len, const char *why)
{
    struct sub *s = (struct sub *)hc;
    struct rstate *st = s->st;
    s->finished = true;
    s->ust = ust;
    bool learned = ust == UP_OK && r->status == IPC_SUCCESS &&
                   route_state_learn_version(r->payload.p, r->payload.len, hc->ns->name) == 0;
    if (--st->pending == 0) {
        pool_probe_finish(st);
    } else if (learned && pool_probe_starting != st && pool_probe_enough(st)) {
        pool_probe_done_early(st);
    }
}

/* Asks every NameNode for its pool, then routes the call again. 0, or -1
 * when nothing could be started (snap stays the caller's). */
static int pool_probe_pools(struct rcall *rc, struct rd_snap *snap, const struct method_row *m, const uint8_t *param,
                       size_t len)
{
    struct ha_ns *all[RD_MAX_NS];
    int n = rd_all_ns(snap, all, RD_MAX_NS), total = 0;
    for (int i = 0; i < n; i++)
        total += all[i]->n;
    struct rstate *st = total > 0 ? st_new(rc, snap, m, total) : NULL;
    if (!st)
        return -1;
    route_plan_set(st, RP_POOL_PROBE);
    if (buf_append(&st->orig, param, len) < 0) {
        st->snap = NULL;
        rc->route = NULL;
        st_free(st);
        return -1;
    }
    uint8_t cid[IPC_CLIENT_ID_LEN];
    ipc_new_client_id(cid);
    const char *user = rc->c->w->router->user;
    rc->ns = "*";
    pool_probe_starting = st;
    for (int i = 0, k = 0; i < n; i++) {
        for (int j = 0; j < all[i]->n; j++, k++) {
            struct sub *s = &st->subs[k];
            struct ipc_ids ids = { k, 0, cid, sizeof cid };
            s->hc.done = pool_probe_done;
            s->hc.protocol = IPC_NAMENODE_PROTOCOL;
            s->sent_us = mono_us();
            if (ha_send_to(&s->hc, rc->c->w->up, all[i], j, user, &ids, "versionRequest", NULL, 0) < 0) {
                s->finished = true;
                s->ust = UP_EDOWN;
                st->pending--;
            }
        }
    }
    pool_probe_starting = NULL;
    if (--st->pending == 0) /* the guard, as in start_sub */
        pool_probe_finish(st);
    else if (pool_probe_enough(st)) /* answered while being sent */
        pool_probe_done_early(st);
    return 0;
}

static void refuse_pool(struct rcall *rc, struct rd_snap *snap, const char *pool)
{
    char msg[RD_POOL_LEN + 64];
    if (pool)
        snprintf(msg, sizeof msg, "Cannot locate a nameservice for block pool %s", pool);
    else
        snprintf(msg, sizeof msg, "Cannot locate a nameservice for null pool.");
    fail_call(rc, snap, "java.io.IOException", msg);
}

/*
 * Routes a block-only call (param: its request; owns snap). One pool: to
 * its nameservice. reportBadBlocks (a row with a merge): the blocks split by
 * nameservice, one call each, void answers merged; a report of no blocks is
 * answered here.
 */
static void route_block_pool(struct rcall *rc, struct rd_snap *snap, const struct method_row *m,
                             const uint8_t *param, size_t len, bool may_probe)
{
    static __thread struct rd_pools pools;
    if (rd_request_pools(m, param, len, &pools) < 0) {
        fail_call(rc, snap, "java.io.IOException",
                  "the block pool ids of the request cannot be read (malformed, too long, or more than 16 pools)");
        return;
    }
    if (pools.missing) {
        refuse_pool(rc, snap, NULL);
        return;
    }
    if (pools.n == 0) {
        rd_snap_release(snap);
        hconn_reply_raw(rc, (const uint8_t *)"", 0);
        return;
    }
    bool split = m->merge != MERGE_NONE;
    struct ha_ns *ns[RD_MAX_POOLS];
    int unknown = -1;
    for (int i = 0; i < (split ? pools.n : 1); i++)
        if (!(ns[i] = rd_ns_by_pool(snap, pools.id[i])) && unknown < 0)
            unknown = i;
    if (unknown >= 0) {
        if (!(may_probe && pool_probe_allowed() && pool_probe_pools(rc, snap, m, param, len) == 0))
            refuse_pool(rc, snap, pools.id[unknown]);
        return;
    }
    /* The nameservices, each with the pools it gets. */
    struct ha_ns *targets[RD_MAX_POOLS];
    uint32_t keep[RD_MAX_POOLS];
    int nt = 0;
    for (int i = 0; i < (split ? pools.n : 1); i++) {
        int t = 0;
        while (t < nt && targets[t] != ns[i])
            t++;
        if (t == nt) {
            targets[nt] = ns[i];
            keep[nt++] = 0;
        }
        keep[t] |= 1u << i;
    }
    struct rstate *st = st_new(rc, snap, m, nt);
    if (!st) {
        fail_call(rc, snap, "java.io.IOException", "out of memory");
        return;
    }
    route_plan_set(st, nt == 1 ? RP_ONE : RP_MERGE);
    rc->ns = nt == 1 ? targets[0]->name : "*";
    struct buf part = BUF_INIT;
    for (int t = 0; t < nt; t++) {
        if (nt == 1) {
            start_sub(st, t, targets[t], param, len);
            continue;
        }
        buf_reset(&part);
        if (rd_request_only_pools(m, param, len, &pools, keep[t], &part) < 0) {
            fail_sub(st, t, "cannot split the request by block pool");
            continue;
        }
        start_sub(st, t, targets[t], buf_len(&part) ? buf_rptr(&part) : (const uint8_t *)"", buf_len(&part));
    }
    buf_free(&part);
    guard_drop(st);
}

void hdfs_route_call(struct rcall *rc, const struct ipc_call *ic)
{
    struct router *r = rc->c->w->router;
    if (!ipc_span_eq(ic->protocol, IPC_CLIENT_PROTOCOL)) {
        hconn_reply_error_detail(rc, IPC_ERR_NO_SUCH_PROTOCOL, "org.apache.hadoop.ipc.RpcNoSuchProtocolException",
                                 "Unknown protocol: only ClientProtocol is routed");
        return;
    }
    const struct method_row *m = method_lookup_cstr(rc->method);
    if (!m) {
        /* A method the table does not know may carry paths the router
         * cannot see: forwarding it would act on the federated path inside
         * some subcluster. Refused as a server without the method does. */
        char msg[sizeof rc->method + 128];
        snprintf(msg, sizeof msg, "Unknown method %s called on %s protocol.", rc->method, IPC_CLIENT_PROTOCOL);
        hconn_reply_error_detail(rc, IPC_ERR_NO_SUCH_METHOD, "org.apache.hadoop.ipc.RpcNoSuchMethodException", msg);
        return;
    }
    /* Safe mode refuses what changes state; reads go on, so a client with
     * one router keeps reading and an observer-aware client sees STANDBY. */
    if (atomic_load(&r->safe_mode) && (m->flags & METHOD_WRITE)) {
        hconn_reply_error(rc, "org.apache.hadoop.ipc.StandbyException", "router %s is in safe mode", r->id);
        return;
    }
    struct rd_snap *snap = rd_snap_acquire(r);
    rd_set_client(rc->c->peer);
    switch (m->route) {
    case ROUTE_PATH:
    case ROUTE_TWO_PATHS:
        route_paths(rc, snap, m, ic);
        return;
    case ROUTE_DEFAULT: {
        /* Any subcluster can answer these (server defaults, storage
         * policies): the default one, else the first that is configured. */
        struct ha_ns *ns = rd_default_ns(snap), *all[1];
        if (!ns && rd_all_ns(snap, all, 1) == 1)
            ns = all[0];
        route_one_ns(rc, snap, m, ns, ic);
        return;
    }
    case ROUTE_BLOCK_POOL:
        route_block_pool(rc, snap, m, ic->param.len ? ic->param.p : (const uint8_t *)"", ic->param.len, true);
        return;
    case ROUTE_ALL_MERGE:
        if (to_every_namenode(m, ic))
            route_all_namenodes(rc, snap, m, ic);
        else
            route_all(rc, snap, m, ic);
        return;
    case ROUTE_ROUTER:
        rd_snap_release(snap);
        route_router(rc, m);
        return;
    case ROUTE_REFUSE:
    case ROUTE_NONE:
    default:
        fail_call(rc, snap, m->refuse_class ? m->refuse_class : "java.lang.UnsupportedOperationException",
                  m->refuse_msg ? m->refuse_msg : "not supported by the router");
        return;
    }
}
