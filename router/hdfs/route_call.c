/*
 * route_call.c: the state of one routed call and its subcalls.
 *
 *   st_new (plan RP_NEW, pending = nsub + 1: the guard)
 *     -> route_plan_set: the plan the routing rules chose
 *     -> start_sub / start_sub_method per subcall (or fail_sub)
 *     -> guard_drop: from here the last answer completes the call
 *        (route_complete, route_reply.c), which frees it with st_free
 *
 * A call cancelled by its client (hdfs_route_cancel) cancels the subcalls
 * still out and frees the state the same way.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "clock.h"
#include "hdfs_conn.h"
#include "jexc.h"
#include "log.h"
#include "route_deps.h"
#include "route_internal.h"
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
    hconn_reply_error(rc, JEXC_IO, "out of memory");
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

void guard_drop(struct rstate *st)
{
    if (--st->pending == 0)
        route_complete(st);
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
        st->subs[i].hc.done = route_sub_done;
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
    s->sent_us = fr_mono_us();
    audit_add_target(rc->audit, ns->name);
    if (ha_send(&s->hc, rc->c->w->up, ns, rcall_user(rc), sub_ids(st, method, &own), method, param, len) < 0) {
        s->finished = true;
        s->ust = UP_EDOWN;
        snprintf(s->why, sizeof s->why, "cannot send to nameservice %s", ns->name);
        if (--st->pending == 0)
            route_complete(st);
    }
}

void start_sub(struct rstate *st, int i, struct ha_ns *ns, const uint8_t *param, size_t len)
{
    start_sub_method(st, i, ns, st->rc->method, param, len);
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
