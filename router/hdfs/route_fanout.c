/*
 * route_fanout.c: calls that do not route by a path.
 *
 *   ALL_MERGE -------> every nameservice (renewLease: those it names), or
 *                      with ALL_NAMENODES every NameNode, standbys too;
 *                      the answers merged by the row
 *   BLOCK_POOL ------> the nameservice of each block pool the request
 *                      names (asking the NameNodes for pools not known yet)
 *   ROUTER ----------> answered here
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hdfs_conn.h"
#include "jexc.h"
#include "pbwire.h"
#include "route_deps.h"
#include "route_internal.h"
#include "route_state.h"
#include "router.h"
#include "worker.h"

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

void route_all(struct rcall *rc, struct rd_snap *snap, const struct method_row *m, const struct ipc_call *ic)
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
        fail_call(rc, snap, JEXC_IO, "no nameservice to ask");
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
void route_router(struct rcall *rc, const struct method_row *m)
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

bool route_to_every_namenode(const struct method_row *m, const struct ipc_call *ic)
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
    s->sent_us = fr_mono_us();
    if (ha_send_to(&s->hc, rc->c->w->up, ns, idx, rcall_user(rc), &rc->ids, rc->method, param, len) < 0) {
        s->finished = true;
        s->ust = UP_EDOWN;
        snprintf(s->why, sizeof s->why, "cannot send to NameNode %s of nameservice %s", ns->addrs[idx], ns->name);
        if (--st->pending == 0)
            route_complete(st);
    }
}

/* One subcall per NameNode, standbys included; every one must answer, and
 * the answers merge as the row says (RBF's invokeConcurrent with standby). */
void route_all_namenodes(struct rcall *rc, struct rd_snap *snap, const struct method_row *m,
                         const struct ipc_call *ic)
{
    struct ha_ns *all[RD_MAX_NS];
    int n = rd_all_ns(snap, all, RD_MAX_NS), total = 0;
    for (int i = 0; i < n; i++)
        total += all[i]->n;
    struct rstate *st = total > 0 ? st_new(rc, snap, m, total) : NULL;
    if (!st) {
        fail_call(rc, snap, JEXC_IO, "no nameservice to ask");
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

static bool pool_probe_allowed(void)
{
    static __thread uint64_t window_us;
    static __thread int used;
    uint64_t now = fr_mono_us();
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
            s->sent_us = fr_mono_us();
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
    fail_call(rc, snap, JEXC_IO, msg);
}

/*
 * Routes a block-only call (param: its request; owns snap). One pool: to
 * its nameservice. reportBadBlocks (a row with a merge): the blocks split by
 * nameservice, one call each, void answers merged; a report of no blocks is
 * answered here.
 */
void route_block_pool(struct rcall *rc, struct rd_snap *snap, const struct method_row *m, const uint8_t *param,
                      size_t len, bool may_probe)
{
    static __thread struct rd_pools pools;
    if (rd_request_pools(m, param, len, &pools) < 0) {
        fail_call(rc, snap, JEXC_IO,
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
        fail_call(rc, snap, JEXC_IO, "out of memory");
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
