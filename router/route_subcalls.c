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
 * Users: the status of the mount points on a listing page (route_listing.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        hconn_reply_error(rc, "java.io.IOException", "%s", s->why[0] ? s->why : "subcluster unavailable");
}
