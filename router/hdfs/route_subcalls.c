/*
 * route_subcalls.c: answers the router builds itself out of subcalls of its
 * own, rather than by forwarding the client's call.
 *
 *   route_own_state(rc, finish) -> route_own_send() per subcall -> route_own_go()
 *        ... each reply is kept in its struct sub ...
 *   the last reply -> finish(st) answers the client -> st_free(st)
 *
 * The subcalls are reads and carry the router's own ids (a client id per
 * worker thread, call ids counting up), not the client's: many subcalls of
 * one call may share a NameNode connection, where replies are matched by
 * (client id, call id), and with the client's ids on each they could not be
 * told apart (the retry cache, which needs the client's ids, only matters
 * for writes). Cancelling the client's call cancels them like any other
 * (hdfs_route_cancel), and frees the state with what it holds.
 *
 * Users: the status of the mount points on a listing page (route_listing.c)
 * and getEnclosingRoot (below).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jexc.h"
#include "pbwire.h"
#include "route_internal.h"
#include "router.h"
#include "worker.h"

void route_own_ids(struct ipc_ids *ids)
{
    static __thread uint8_t cid[IPC_CLIENT_ID_LEN];
    static __thread bool have_cid;
    static __thread int32_t next;
    if (!have_cid) {
        ipc_new_client_id(cid);
        have_cid = true;
    }
    ids->call_id = next;
    next = next == INT32_MAX ? 0 : next + 1;
    ids->retry_count = -1;
    ids->client_id = cid;
    ids->client_id_len = sizeof cid;
}

static void own_drop(struct rstate *st)
{
    if (--st->pending > 0)
        return;
    st->rc->route = NULL;
    st->finish(st);
    st_free(st);
}

static void own_done(struct ha_call *hc, enum upstream_status ust, const struct ipc_reply *r, const uint8_t *body,
                     size_t len, const char *why)
{
    struct sub *s = (struct sub *)hc;
    s->finished = true;
    s->ust = ust;
    if (ust == UP_OK) {
        s->status = r->status;
        s->detail = r->error_detail;
        ipc_span_copy(r->exception_class, s->cls, sizeof s->cls);
        ipc_span_copy(r->error_msg, s->msg, sizeof s->msg);
        if (r->status == IPC_SUCCESS && buf_append(&s->payload, r->payload.p, r->payload.len) < 0) {
            s->ust = UP_EPROTO;
            snprintf(s->why, sizeof s->why, "out of memory keeping an answer of %s", hc->ns->name);
        }
    } else {
        snprintf(s->why, sizeof s->why, "%s", why ? why : "");
    }
    own_drop(s->st);
}

struct rstate *route_own_state(struct rcall *rc, struct rd_snap *snap, const struct method_row *m, int nsub,
                               void (*finish)(struct rstate *st))
{
    struct rstate *st = st_new(rc, snap, m, nsub);
    if (!st)
        return NULL;
    route_plan_set(st, RP_OWN);
    for (int i = 0; i < nsub; i++)
        st->subs[i].hc.done = own_done;
    st->finish = finish;
    return st;
}

void route_own_send(struct rstate *st, int i, struct ha_ns *ns, const char *method, const uint8_t *param,
                    size_t len)
{
    struct sub *s = &st->subs[i];
    struct ipc_ids ids;
    route_own_ids(&ids);
    if (ha_send(&s->hc, st->rc->c->w->up, ns, rcall_user(st->rc), &ids, method, param, len) < 0) {
        s->finished = true;
        s->ust = UP_EDOWN;
        snprintf(s->why, sizeof s->why, "cannot send to nameservice %s", ns->name);
        own_drop(st); /* never the last: the guard holds */
    }
}

void route_own_go(struct rstate *st)
{
    own_drop(st);
}

void route_own_expire(struct rstate *st)
{
    st->pending++; /* a guard: the call finishes once, below */
    for (int i = 0; i < st->nsub; i++) {
        struct sub *s = &st->subs[i];
        if (s->finished)
            continue;
        ha_cancel(&s->hc);
        s->finished = true;
        s->ust = UP_ETIMEOUT;
        snprintf(s->why, sizeof s->why, "no answer from %s in time", s->hc.ns ? s->hc.ns->name : "?");
        st->pending--;
    }
    own_drop(st);
}

bool route_sub_ok(const struct sub *s)
{
    return s->ust == UP_OK && s->status == IPC_SUCCESS;
}

void route_reply_sub_error(struct rcall *rc, const struct sub *s)
{
    if (s->ust == UP_OK)
        hconn_reply_error_detail(rc, s->detail ? (enum ipc_errdetail)s->detail : IPC_ERR_APPLICATION, s->cls,
                                 s->msg);
    else
        hconn_reply_error(rc, JEXC_IO, "%s", s->why[0] ? s->why : "subcluster unavailable");
}

/* ---- getEnclosingRoot ---- */

/*
 * The enclosing root of a path is the deeper of its mount point ("/" for a
 * path of the default subcluster) and the encryption zone that holds it, as
 * RBF computes it; the NameNode's own getEnclosingRoot is never asked (a
 * subcluster older than Hadoop 3.4 lacks it). The zone comes from
 * getEZForPath in the path's locations, the first that answers; a zone root
 * at or under the mount's destination is mapped back to the client's
 * namespace, and one above it (the whole mount is in the zone) leaves the
 * mount point as the answer.
 */

/* The zone path of a GetEZForPathResponseProto (zone 1 -> path 2), or NULL. */
static const uint8_t *zone_path(const uint8_t *p, size_t len, size_t *zl)
{
    const uint8_t *end = p + len;
    struct pb_field f;
    const uint8_t *zone = NULL;
    size_t zlen = 0;
    while (pb_next_field(&p, end, &f) > 0)
        if (f.num == 1 && f.type == PB_LEN) {
            zone = f.data;
            zlen = f.len;
        }
    const uint8_t *path = NULL;
    for (const uint8_t *q = zone, *zend = zone + zlen; zone && pb_next_field(&q, zend, &f) > 0;)
        if (f.num == 2 && f.type == PB_LEN) {
            path = f.data;
            *zl = f.len;
        }
    return path;
}

static void enclosing_finish(struct rstate *st)
{
    struct rcall *rc = st->rc;
    const struct sub *s = NULL;
    for (int i = 0; i < st->nsub && !s; i++)
        if (route_sub_ok(&st->subs[i]))
            s = &st->subs[i];
    if (!s) {
        route_reply_sub_error(rc, &st->subs[0]);
        return;
    }
    size_t zl = 0;
    const uint8_t *z = zone_path(buf_rptr(&s->payload), buf_len(&s->payload), &zl);
    const char *mount = st->src; /* the mount point, "/" for the default subcluster */
    char root[RD_MAX_PATH * 2];
    snprintf(root, sizeof root, "%s", mount);
    if (z && zl > 0 && z[0] == '/' && zl < RD_MAX_PATH) {
        size_t dl = strlen(s->dest);
        if (dl == 1)
            dl = 0; /* a destination "/" holds every path */
        if (zl >= dl && memcmp(z, s->dest, dl) == 0 && (zl == dl || z[dl] == '/')) {
            const uint8_t *rest = z + dl;
            size_t rl = zl - dl;
            size_t ml = strlen(mount);
            if (ml == 1 && rl > 0)
                ml = 0; /* "/" + "/x" */
            memcpy(root, mount, ml);
            memcpy(root + ml, rest, rl);
            root[ml + rl] = 0;
        }
    }
    size_t n = strlen(root);
    uint8_t *out = malloc(n + 16);
    if (!out) {
        hconn_reply_error(rc, JEXC_IO, "out of memory");
        return;
    }
    size_t w = pb_put_bytes_field(out, 1, root, n); /* GetEnclosingRootResponseProto.enclosingRootPath */
    hconn_reply_raw(rc, out, w);
    free(out);
}

void route_enclosing_root(struct rcall *rc, struct rd_snap *snap, const struct method_row *m, const struct rd_req *req)
{
    struct ha_ns *cands[RD_FT_MAX];
    int n = req->t.multi ? rd_locations(snap, req->client_path, req->t.ns, cands, RD_FT_MAX) : 0;
    if (n < 1) {
        cands[0] = req->t.ns;
        n = 1;
    }
    struct rstate *st = route_own_state(rc, snap, m, n, enclosing_finish);
    if (!st || !(st->src = strdup(req->t.src[0] ? req->t.src : "/"))) {
        st_fail_new(rc, snap, st);
        return;
    }
    rc->ns = n == 1 ? cands[0]->name : "*";
    static __thread struct rd_target t;
    for (int i = 0; i < n; i++) {
        t = req->t;
        if (i > 0 && rd_resolve_in(snap, req->client_path, cands[i], &t) < 0) {
            /* No destination there after all: the answer of the others. */
            st->subs[i].finished = true;
            st->subs[i].ust = UP_EDOWN;
            snprintf(st->subs[i].why, sizeof st->subs[i].why, "%.300s has no location in %s", req->client_path,
                     cands[i]->name);
            st->pending--;
            continue;
        }
        size_t pl = strlen(t.path);
        uint8_t *param = malloc(pl + 16);
        st->subs[i].dest = strdup(t.dest[0] ? t.dest : "/");
        if (!param || !st->subs[i].dest) {
            free(param);
            st->subs[i].finished = true;
            st->subs[i].ust = UP_EPROTO;
            snprintf(st->subs[i].why, sizeof st->subs[i].why, "out of memory");
            st->pending--;
            continue;
        }
        /* GetEZForPathRequestProto.src */
        route_own_send(st, i, cands[i], "getEZForPath", param, pb_put_bytes_field(param, 1, t.path, pl));
        free(param);
    }
    route_own_go(st);
}
