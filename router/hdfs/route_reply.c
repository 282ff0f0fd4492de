/*
 * route_reply.c: from the answers of a routed call's subcalls to the
 * client's answer.
 *
 *   a subcall answers -> route_sub_done: kept in its struct sub (or, one
 *        |                answer that needs no change, sent on at once)
 *        v  the last one (st->pending reaches 0)
 *   route_complete: by the call's plan (enum route_plan)
 *        ONE, TRY_LOCATIONS ---> the answer mapped back (or the next
 *                                location: next_location)
 *        LISTING_* ------------> merged with mount points (route_listing.c)
 *        SUMMARY*, MERGE ------> summed / merged by the row (route_merge.c)
 *        WRITE_ALL ------------> the answer of a location that did it
 *        PROBE, RENAME_PROBE --> probe_done (route_probe.c)
 *
 * Answers are rewritten into the client's namespace on the way: paths
 * mapped back through the mount, and create/append statuses named with
 * their subcluster.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hdfs_conn.h"
#include "jexc.h"
#include "log.h"
#include "metrics.h"
#include "pbwire.h"
#include "route_deps.h"
#include "route_internal.h"
#include "route_state.h"
#include "router.h"
#include "worker.h"

static void reply_sub_error(struct rcall *rc, const struct sub *s)
{
    if (s->ust == UP_OK)
        hconn_reply_error_detail(rc, s->detail ? (enum ipc_errdetail)s->detail : IPC_ERR_APPLICATION, s->cls, s->msg);
    else
        hconn_reply_error(rc, JEXC_IO, "%s", s->why[0] ? s->why : "subcluster unavailable");
}

bool sub_ok(const struct sub *s) { return s->ust == UP_OK && s->status == IPC_SUCCESS; }

bool sub_not_found(const struct sub *s)
{
    return s->ust == UP_OK && s->status != IPC_SUCCESS && strcmp(s->cls, JEXC_FILE_NOT_FOUND) == 0;
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
        return sub_not_found(s) || strcmp(s->cls, JEXC_LEASE_EXPIRED) == 0;
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
        hconn_reply_error(rc, JEXC_IO, "out of memory merging answers");
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
    if (rd_merge(st->m, a, n, &out) < 0 || (st->router_quota && rd_put_quota(st->m, &out, st->rq_ns, st->rq_ss) < 0))
        hconn_reply_error(rc, JEXC_IO, "%s: cannot merge the answers of the subclusters", rc->method);
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
        n += pb_put_varint_field(inner + n, 1, 0);          /* length */
        n += pb_put_varint_field(inner + n, 2, 0);          /* fileCount */
        n += pb_put_varint_field(inner + n, 3, 1);          /* directoryCount */
        n += pb_put_varint_field(inner + n, 4, UINT64_MAX); /* quota: none (-1) */
        n += pb_put_varint_field(inner + n, 5, 0);          /* spaceConsumed */
        n += pb_put_varint_field(inner + n, 6, UINT64_MAX); /* spaceQuota: none */
    } else {
        n += pb_put_varint_field(inner + n, 1, 1);          /* fileAndDirectoryCount */
        n += pb_put_varint_field(inner + n, 2, UINT64_MAX); /* quota */
        n += pb_put_varint_field(inner + n, 3, 0);          /* spaceConsumed */
        n += pb_put_varint_field(inner + n, 4, UINT64_MAX); /* spaceQuota */
    }
    size_t m = pb_put_bytes_field(out, 1, inner, n);
    hconn_reply_raw(st->rc, out, m);
}

/* create and append answer the new file's status; the router names the
 * subcluster in it (HdfsFileStatusProto.namespace, field 19), because inode
 * ids repeat across subclusters and Hadoop 3.3.5+ clients key the files
 * they write by namespace and id. */
static bool names_namespace(const struct method_row *m) { return m && (m->flags & METHOD_NAMES_NS); }

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
    if (reply_map_offload(st, s))
        return;
    struct buf out = BUF_INIT;
    const uint8_t *p = buf_rptr(&s->payload);
    size_t len = buf_len(&s->payload);
    if (st->dest && rd_map_response(st->snap, st->m, s->hc.ns->name, st->dest, st->src, p, len, &out) == 1) {
        p = buf_rptr(&out);
        len = buf_len(&out);
    }
    reply_one_mapped(st, s, p, len);
    buf_free(&out);
}

void reply_one_mapped(struct rstate *st, struct sub *s, const uint8_t *p, size_t len)
{
    struct buf named = BUF_INIT;
    if (names_namespace(st->m) && put_namespace(st->m, p, len, s->hc.ns->name, &named) == 1) {
        p = buf_rptr(&named);
        len = buf_len(&named);
    }
    hconn_reply_raw(st->rc, len ? p : (const uint8_t *)"", len);
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
    const struct sub *bad;  /* the first failure */
    const struct sub *nh;   /* the first location without the path */
    const struct sub *gone; /* the last location down, left out of a partial answer */
};

/*
 * Sorts the answers. many: the call went to several locations of a path,
 * where one without it (a mount whose destination does not exist yet) is
 * no failure. partial: a listing, a summary or a report (METHOD_PARTIAL)
 * may answer without a location that is down (hdfs.down = partial, as RBF's allow-partial-listing); such
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
void route_complete(struct rstate *st)
{
    struct rcall *rc = st->rc;
    struct tally t;
    switch (st->plan) {
    case RP_PROBE:
    case RP_RENAME_PROBE: probe_done(st); return;
    case RP_TRY_LOCATIONS:
    case RP_LISTING_MOUNTS:
        if (try_next(st))
            return;
        break;
    default: break;
    }
    rc->route = NULL;
    switch (st->plan) {
    case RP_ONE:
    case RP_TRY_LOCATIONS: complete_one(st); break;
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
        /* Reports sent to every subcluster (getFsStats for hdfs df, datanode
         * reports) answer without one that is down, as listings do. */
        tally(st, false, st->m && (st->m->flags & METHOD_PARTIAL), &t);
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
        hconn_reply_error(rc, JEXC_IO, "%s: internal routing error (plan %s)", rc->method,
                          route_plan_name(st->plan));
        break;
    }
    if (!st->job) /* else the crypto thread's job answers and frees it */
        st_free(st);
}

/* May the one successful answer of a single-location call go to the client
 * unchanged? Not when it must be merged, mapped, or may mean "not here". */
static bool reply_as_is(const struct rstate *st, const struct ipc_reply *r)
{
    switch (st->plan) {
    case RP_ONE:
    case RP_TRY_LOCATIONS:
    case RP_MERGE: break;
    default: return false; /* merged, or probes */
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

void route_sub_done(struct ha_call *hc, enum upstream_status ust, const struct ipc_reply *r, const uint8_t *body,
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
        metrics_record(st->rc->c->w->metrics, 2, last_mid, nid, fr_mono_us() - s->sent_us,
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
        route_complete(st);
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
