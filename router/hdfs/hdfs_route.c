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
 *
 * This file holds the entry points and the path rules, which pick a call's
 * plan (enum route_plan). The rest lives beside it: the call state and its
 * subcalls in route_call.c, the answers in route_reply.c, router quotas in
 * route_quota.c, and the calls that do not route by a path (ALL_MERGE,
 * BLOCK_POOL, ROUTER) in route_fanout.c.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_state.h"
#include "hdfs_conn.h"
#include "jexc.h"
#include "route_deps.h"
#include "route_internal.h"
#include "router.h"
#include "worker.h"

/* ---- entry points ---- */

void hdfs_route_cancel(struct rcall *rc)
{
    struct rstate *st = rc->route;
    if (!st)
        return;
    rc->route = NULL;
    if (reply_map_cancel(st))
        return;
    for (int i = 0; i < st->nsub; i++)
        if (!st->subs[i].finished)
            ha_cancel(&st->subs[i].hc);
    st_free(st);
}

/* One subcall per location, each with the request's path replaced by that
 * location's path: a listing of a directory kept in every destination, or
 * a summary of everything below a path. These are reads, and several may go
 * to one NameNode, whose replies are matched by ids: each carries ids of the
 * router's own. The usage of a mount entry with router quotas reports those
 * as its limits (RBF). */
static void route_locations(struct rcall *rc, struct rd_snap *snap, const struct method_row *m,
                            const struct ipc_call *ic, const char *path, const struct rd_loc *t, int nt, bool summary)
{
    struct rstate *st = st_new(rc, snap, m, nt);
    if (!st) {
        fail_call(rc, snap, JEXC_IO, "out of memory");
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

/* Under a mount of several destinations a path may be in any location:
 * calls that make a new file go to the chosen location, others try the
 * locations in turn (RBF's sequential invocation). Where directories exist
 * in every destination (folder-all orders), writes that change what exists
 * (mkdirs, delete, rename, attributes) go to every location, as RBF invokes
 * them concurrently. */
static bool creates_here(const struct method_row *m) { return (m->flags & METHOD_CREATES) != 0; }

static bool writes_everywhere(const struct method_row *m)
{
    return (m->flags & METHOD_WRITE) && !(m->flags & (METHOD_POOL_FIRST | METHOD_FILE_OP));
}

void route_write_everywhere(struct rcall *rc, struct rd_snap *snap, const struct method_row *m, const uint8_t *rq,
                            size_t rql, const char *path, struct ha_ns **cands, int n)
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
        fail_call(rc, snap, JEXC_IO, n > 0 ? "out of memory" : "no location holds both paths");
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
            hconn_reply_error(rc, JEXC_IO, "%s: the request names no path", rc->method);
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
                fail_call(rc, snap, JEXC_IO, err);
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
        if (route_check_quota(snap, m, qsrc, &qcls, qmsg, sizeof qmsg) < 0) {
            buf_free(&param);
            fail_call(rc, snap, qcls, qmsg);
            return;
        }
    }
    struct ha_ns *cands[RD_FT_MAX];
    int ncands =
        (req.t.multi || req.t.faulttolerant) ? rd_locations(snap, req.client_path, req.t.ns, cands, RD_FT_MAX) : 0;
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
        fail_call(rc, snap, JEXC_IO, "out of memory");
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
        hconn_reply_error(rc, JEXC_IO, "%s: no default nameservice is configured", rc->method);
        return;
    }
    struct rstate *st = st_new(rc, snap, m, 1);
    if (!st) {
        fail_call(rc, snap, JEXC_IO, "out of memory");
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

void hdfs_route_call(struct rcall *rc, const struct ipc_call *ic)
{
    struct router *r = rc->c->w->router;
    if (!ipc_span_eq(ic->protocol, IPC_CLIENT_PROTOCOL)) {
        hconn_reply_error_detail(rc, IPC_ERR_NO_SUCH_PROTOCOL, JEXC_NO_SUCH_PROTOCOL,
                                 "Unknown protocol: only ClientProtocol is routed");
        return;
    }
    const struct method_row *m = rc->row;
    if (!m) {
        /* A method the table does not know may carry paths the router
         * cannot see: forwarding it would act on the federated path inside
         * some subcluster. Refused as a server without the method does. */
        char msg[sizeof rc->method + 128];
        snprintf(msg, sizeof msg, "Unknown method %s called on %s protocol.", rc->method, IPC_CLIENT_PROTOCOL);
        hconn_reply_error_detail(rc, IPC_ERR_NO_SUCH_METHOD, JEXC_NO_SUCH_METHOD, msg);
        return;
    }
    /* Safe mode refuses what changes state; reads go on, so a client with
     * one router keeps reading and an observer-aware client sees STANDBY. */
    if (atomic_load(&r->safe_mode) && (m->flags & METHOD_WRITE)) {
        hconn_reply_error(rc, JEXC_STANDBY, "router %s is in safe mode", r->id);
        return;
    }
    struct rd_snap *snap = rd_snap_acquire(r);
    rd_set_client(rc->c->peer);
    switch (m->route) {
    case ROUTE_PATH:
    case ROUTE_TWO_PATHS: route_paths(rc, snap, m, ic); return;
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
        if (route_to_every_namenode(m, ic))
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
        fail_call(rc, snap, m->refuse_class ? m->refuse_class : JEXC_UNSUPPORTED,
                  m->refuse_msg ? m->refuse_msg : "not supported by the router");
        return;
    }
}
