/*
 * hdfs_route.c: the routing rules for one ClientProtocol call.
 *
 *   method row --PATH/TWO_PATHS--> resolve each path in the snapshot
 *                                  (read-only and cross-subcluster checks)
 *                                  -> rewrite the request -> one subcall
 *              --ALL------------->  one subcall per nameservice -> merge
 *              --DEFAULT/unknown->  the default nameservice
 *              --BLOCK_POOL------>  the nameservice owning the block pool
 *              --ROUTER---------->  answered here
 *              --REFUSE---------->  UnsupportedOperationException
 *
 * Subcalls are HA calls (ha.c) carrying the client's own ids. Replies are
 * rewritten back into the client's namespace; a listing of a directory that
 * holds mount points shows them, sorted and paged with the real children,
 * and a mount point answers getFileInfo as a directory even before its
 * destination exists.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "ClientNamenodeProtocol.pb-c.h"
#include "ha.h"
#include "hdfs_conn.h"
#include "pbwire.h"
#include "route_deps.h"
#include "route_state.h"
#include "router.h"
#include "worker.h"

#define MAX_MOUNT_CHILDREN 1024

struct rstate;

struct sub {
    struct ha_call hc;                  /* first */
    struct rstate *st;
    bool finished;
    enum upstream_status ust;
    int status;                         /* IPC_SUCCESS / IPC_ERROR */
    uint32_t detail;
    char cls[256];
    char msg[1024];
    char why[700];
    struct buf payload;                 /* SUCCESS: the response message */
};

struct rstate {
    struct rcall *rc;
    struct rd_snap *snap;
    const struct rd_method *m;
    char *dest, *src;                   /* PATH: the mount's destination root and mount point (owned; NULL: none) */
    char *client_path;                  /* PATH: as the client wrote it (owned) */
    bool has_mount_children;            /* getListing: mount points to merge in */
    bool listing_fanout;                /* getListing: one subcall per HASH_ALL destination */
    char *start_after;                  /* getListing: the client's startAfter (owned) */
    size_t sa_len;
    int nsub, pending;
    struct sub subs[];
};

static void st_free(struct rstate *st)
{
    for (int i = 0; i < st->nsub; i++)
        buf_free(&st->subs[i].payload);
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

/* ---- merges and synthesized answers ---- */

static uint64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/* A directory status for a mount point (its destination may not exist). */
static void mount_dir_status(Hadoop__Hdfs__HdfsFileStatusProto *st, Hadoop__Hdfs__FsPermissionProto *perm,
                             const char *name, struct router *r)
{
    Hadoop__Hdfs__HdfsFileStatusProto s0 = HADOOP__HDFS__HDFS_FILE_STATUS_PROTO__INIT;
    Hadoop__Hdfs__FsPermissionProto p0 = HADOOP__HDFS__FS_PERMISSION_PROTO__INIT;
    *st = s0;
    *perm = p0;
    perm->perm = 0755;
    st->filetype = HADOOP__HDFS__HDFS_FILE_STATUS_PROTO__FILE_TYPE__IS_DIR;
    st->path.data = (uint8_t *)name;
    st->path.len = strlen(name);
    st->permission = perm;
    st->owner = (char *)r->user;
    st->group = "supergroup";
    st->modification_time = st->access_time = now_ms();
    st->has_childrennum = 1;
    st->childrennum = 0;
}

static int cmp_status_name(const void *a, const void *b)
{
    const Hadoop__Hdfs__HdfsFileStatusProto *x = *(Hadoop__Hdfs__HdfsFileStatusProto *const *)a;
    const Hadoop__Hdfs__HdfsFileStatusProto *y = *(Hadoop__Hdfs__HdfsFileStatusProto *const *)b;
    size_t n = x->path.len < y->path.len ? x->path.len : y->path.len;
    int c = memcmp(x->path.data, y->path.data, n);
    return c ? c : (x->path.len > y->path.len) - (x->path.len < y->path.len);
}

/* Does name (len bytes) sort after the status's local name? */
static int cmp_name(const char *name, size_t l, const Hadoop__Hdfs__HdfsFileStatusProto *st)
{
    size_t sl = st->path.len;
    int c = memcmp(name, st->path.data, l < sl ? l : sl);
    return c ? c : (l > sl) - (l < sl);
}

/*
 * getListing merged from several answers (the destinations of a HASH_ALL
 * mount) and/or with the mount points under the directory. Each answer is
 * one page after the client's startAfter; when an answer has more pages,
 * this page must stop at its last entry, so the cut is the smallest such
 * last entry and everything after it waits for the next page. Names are
 * unique: a mount point hides a real child of its name, and a directory in
 * several destinations shows once.
 */
static void reply_merged_listing(struct rstate *st)
{
    struct rcall *rc = st->rc;
    struct router *r = rc->c->w->router;
    const char *names[MAX_MOUNT_CHILDREN];
    int nm = st->client_path ? rd_mount_children(st->snap, st->client_path, names, MAX_MOUNT_CHILDREN) : 0;
    Hadoop__Hdfs__GetListingResponseProto **resp = calloc((size_t)st->nsub, sizeof *resp);
    size_t nreal = 0;
    const Hadoop__Hdfs__HdfsFileStatusProto *cut = NULL;
    bool any_dir = nm > 0;
    for (int i = 0; resp && i < st->nsub; i++) {
        resp[i] = hadoop__hdfs__get_listing_response_proto__unpack(NULL, buf_len(&st->subs[i].payload),
                                                                   buf_rptr(&st->subs[i].payload));
        Hadoop__Hdfs__DirectoryListingProto *dl = resp[i] ? resp[i]->dirlist : NULL;
        if (!dl)
            continue;
        any_dir = true;
        nreal += dl->n_partiallisting;
        if (dl->remainingentries && dl->n_partiallisting) {
            const Hadoop__Hdfs__HdfsFileStatusProto *last = dl->partiallisting[dl->n_partiallisting - 1];
            if (!cut || cmp_status_name(&last, &cut) < 0)
                cut = last;
        }
    }
    Hadoop__Hdfs__HdfsFileStatusProto **all = calloc(nreal + (size_t)nm + 1, sizeof *all);
    Hadoop__Hdfs__HdfsFileStatusProto *ms = calloc((size_t)nm + 1, sizeof *ms);
    Hadoop__Hdfs__FsPermissionProto *mp = calloc((size_t)nm + 1, sizeof *mp);
    if (!resp || !all || !ms || !mp) {
        hconn_reply_error(rc, "java.io.IOException", "out of memory merging a listing");
        goto out;
    }
    if (!any_dir) {
        /* No destination has the directory and no mount point lies below. */
        hconn_reply_raw(rc, buf_rptr(&st->subs[0].payload), buf_len(&st->subs[0].payload));
        goto out;
    }
    size_t n = 0;
    for (int i = 0; i < nm; i++) {
        size_t l = strlen(names[i]);
        if (st->sa_len) {
            int c = memcmp(names[i], st->start_after, l < st->sa_len ? l : st->sa_len);
            if (c < 0 || (c == 0 && l <= st->sa_len))
                continue; /* an earlier page had it */
        }
        if (cut && cmp_name(names[i], l, cut) > 0)
            continue; /* a later page has it */
        mount_dir_status(&ms[i], &mp[i], names[i], r);
        all[n++] = &ms[i];
    }
    size_t nmount = n;
    for (int i = 0; i < st->nsub; i++) {
        Hadoop__Hdfs__DirectoryListingProto *dl = resp[i] ? resp[i]->dirlist : NULL;
        for (size_t j = 0; dl && j < dl->n_partiallisting; j++) {
            Hadoop__Hdfs__HdfsFileStatusProto *e = dl->partiallisting[j];
            if (cut && cmp_status_name(&e, &cut) > 0)
                continue;
            bool dup = false;
            for (int k = 0; k < nm && !dup; k++)
                dup = cmp_name(names[k], strlen(names[k]), e) == 0;
            for (size_t k = nmount; k < n && !dup; k++)
                dup = cmp_status_name(&all[k], &e) == 0;
            if (!dup)
                all[n++] = e;
        }
    }
    qsort(all, n, sizeof *all, cmp_status_name);
    Hadoop__Hdfs__DirectoryListingProto out_dl = HADOOP__HDFS__DIRECTORY_LISTING_PROTO__INIT;
    out_dl.n_partiallisting = n;
    out_dl.partiallisting = all;
    out_dl.remainingentries = cut ? 1 : 0;
    Hadoop__Hdfs__GetListingResponseProto out = HADOOP__HDFS__GET_LISTING_RESPONSE_PROTO__INIT;
    out.dirlist = &out_dl;
    size_t sz = protobuf_c_message_get_packed_size(&out.base);
    uint8_t *packed = malloc(sz ? sz : 1);
    if (!packed) {
        hconn_reply_error(rc, "java.io.IOException", "out of memory merging a listing");
        goto out;
    }
    protobuf_c_message_pack(&out.base, packed);
    hconn_reply_raw(rc, packed, sz);
    free(packed);
out:
    free(all);
    free(ms);
    free(mp);
    for (int i = 0; resp && i < st->nsub; i++)
        if (resp[i])
            hadoop__hdfs__get_listing_response_proto__free_unpacked(resp[i], NULL);
    free(resp);
}

/* getFileInfo of a mount point (or of a directory above mount points) whose
 * destination has nothing there yet: a directory. */
static bool reply_mount_fileinfo(struct rstate *st, const uint8_t *payload, size_t len)
{
    const uint8_t *p = payload, *end = payload + len;
    struct pb_field f;
    int rc;
    while ((rc = pb_next_field(&p, end, &f)) > 0)
        if (f.num == 1)
            return false; /* the destination answered a status: keep it */
    const char *names[1];
    if (!st->client_path ||
        (!rd_is_mount_point(st->snap, st->client_path) && rd_mount_children(st->snap, st->client_path, names, 1) == 0))
        return false;
    Hadoop__Hdfs__HdfsFileStatusProto s;
    Hadoop__Hdfs__FsPermissionProto perm;
    mount_dir_status(&s, &perm, "", st->rc->c->w->router);
    Hadoop__Hdfs__GetFileInfoResponseProto out = HADOOP__HDFS__GET_FILE_INFO_RESPONSE_PROTO__INIT;
    out.fs = &s;
    uint8_t packed[512];
    size_t sz = protobuf_c_message_pack(&out.base, packed);
    hconn_reply_raw(st->rc, packed, sz);
    return true;
}

/* RD_MERGE_SUM: every varint field summed over the answers (getFsStats). */
static void reply_sum(struct rstate *st)
{
    uint64_t sums[32] = { 0 };
    bool seen[32] = { false };
    for (int i = 0; i < st->nsub; i++) {
        const uint8_t *p = buf_rptr(&st->subs[i].payload), *end = p + buf_len(&st->subs[i].payload);
        struct pb_field f;
        while (pb_next_field(&p, end, &f) > 0)
            if (f.type == PB_VARINT && f.num < 32) {
                sums[f.num] += f.varint;
                seen[f.num] = true;
            }
    }
    uint8_t out[32 * 12];
    size_t n = 0;
    for (uint32_t k = 1; k < 32; k++)
        if (seen[k])
            n += pb_put_varint_field(out + n, k, sums[k]);
    hconn_reply_raw(st->rc, out, n);
}

/* RD_MERGE_CONCAT: the repeated field of every answer, one after another. */
static void reply_concat(struct rstate *st)
{
    struct buf out = BUF_INIT;
    for (int i = 0; i < st->nsub; i++) {
        const uint8_t *p = buf_rptr(&st->subs[i].payload), *end = p + buf_len(&st->subs[i].payload);
        const uint8_t *at = p;
        struct pb_field f;
        while (pb_next_field(&p, end, &f) > 0) {
            if (f.num == st->m->concat_field)
                buf_append(&out, at, (size_t)(p - at));
            at = p;
        }
    }
    hconn_reply_raw(st->rc, buf_len(&out) ? buf_rptr(&out) : (const uint8_t *)"", buf_len(&out));
    buf_free(&out);
}

/* ---- completion ---- */

static void complete(struct rstate *st)
{
    struct rcall *rc = st->rc;
    rc->route = NULL;
    if (st->nsub == 1) {
        struct sub *s = &st->subs[0];
        if (s->ust != UP_OK || s->status != IPC_SUCCESS) {
            reply_sub_error(rc, s);
            st_free(st);
            return;
        }
        route_state_learn_from_reply(rc->method, buf_rptr(&s->payload), buf_len(&s->payload), s->hc.ns);
        if (strcmp(rc->method, "getListing") == 0 && st->has_mount_children) {
            reply_merged_listing(st);
        } else if (strcmp(rc->method, "getFileInfo") == 0 &&
                   reply_mount_fileinfo(st, buf_rptr(&s->payload), buf_len(&s->payload))) {
            /* answered */
        } else if (st->m && st->dest) {
            struct buf out = BUF_INIT;
            bool changed = false;
            if (rd_resp_rewrite(st->m, buf_rptr(&s->payload), buf_len(&s->payload), st->dest, st->src, &out,
                                &changed) == 0 && changed)
                hconn_reply_raw(rc, buf_rptr(&out), buf_len(&out));
            else
                hconn_reply_raw(rc, buf_rptr(&s->payload), buf_len(&s->payload));
            buf_free(&out);
        } else {
            hconn_reply_raw(rc, buf_rptr(&s->payload), buf_len(&s->payload));
        }
        st_free(st);
        return;
    }
    if (st->listing_fanout) {
        for (int i = 0; i < st->nsub; i++)
            if (st->subs[i].ust != UP_OK || st->subs[i].status != IPC_SUCCESS) {
                reply_sub_error(rc, &st->subs[i]);
                st_free(st);
                return;
            }
        reply_merged_listing(st);
        st_free(st);
        return;
    }
    /* Fan-out: any failure fails the call unless the merge wants any success. */
    int ok = 0;
    const struct sub *bad = NULL;
    for (int i = 0; i < st->nsub; i++) {
        if (st->subs[i].ust == UP_OK && st->subs[i].status == IPC_SUCCESS)
            ok++;
        else if (!bad)
            bad = &st->subs[i];
    }
    enum rd_merge merge = st->m ? st->m->merge : RD_MERGE_FIRST;
    if (bad && !(merge == RD_MERGE_ANY_OK && ok > 0)) {
        reply_sub_error(rc, bad);
    } else if (merge == RD_MERGE_SUM) {
        reply_sum(st);
    } else if (merge == RD_MERGE_CONCAT) {
        reply_concat(st);
    } else {
        for (int i = 0; i < st->nsub; i++)
            if (st->subs[i].ust == UP_OK && st->subs[i].status == IPC_SUCCESS) {
                hconn_reply_raw(rc, buf_rptr(&st->subs[i].payload), buf_len(&st->subs[i].payload));
                break;
            }
    }
    st_free(st);
}

static void sub_done(struct ha_call *hc, enum upstream_status ust, const struct ipc_reply *r, const uint8_t *body,
                     size_t len, const char *why)
{
    struct sub *s = (struct sub *)hc;
    struct rstate *st = s->st;
    s->finished = true;
    s->ust = ust;
    if (ust == UP_OK) {
        s->status = r->status;
        s->detail = r->error_detail;
        ipc_span_copy(r->exception_class, s->cls, sizeof s->cls);
        ipc_span_copy(r->error_msg, s->msg, sizeof s->msg);
        if (r->status == IPC_SUCCESS)
            buf_append(&s->payload, r->payload.p, r->payload.len);
    } else {
        snprintf(s->why, sizeof s->why, "%s", why ? why : "");
    }
    if (--st->pending == 0)
        complete(st);
}

static void guard_drop(struct rstate *st)
{
    if (--st->pending == 0)
        complete(st);
}

static struct rstate *st_new(struct rcall *rc, struct rd_snap *snap, const struct rd_method *m, int nsub)
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

/*
 * Starts subcall i to ns with param; on an immediate failure records it.
 * Callers hold a guard: st->pending starts at nsub + 1 and the guard is
 * dropped with guard_drop() after every subcall started, so the call can
 * only complete (and rc be freed) after the caller's loop.
 */
static void start_sub(struct rstate *st, int i, struct ha_ns *ns, const uint8_t *param, size_t len)
{
    struct rcall *rc = st->rc;
    struct sub *s = &st->subs[i];
    if (ha_send(&s->hc, rc->c->w->up, ns, rcall_user(rc), &rc->ids, rc->method, param, len) < 0) {
        s->finished = true;
        s->ust = UP_EDOWN;
        snprintf(s->why, sizeof s->why, "cannot send to nameservice %s", ns->name);
        if (--st->pending == 0)
            complete(st);
    }
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

/* Reads the client's startAfter (GetListingRequestProto field 2). */
static void take_start_after(struct rstate *st, const struct ipc_call *ic)
{
    const uint8_t *p = ic->param.p, *end = p + ic->param.len;
    struct pb_field f;
    while (pb_next_field(&p, end, &f) > 0)
        if (f.num == 2 && f.type == PB_LEN && f.len < RD_MAX_PATH) {
            free(st->start_after);
            st->start_after = malloc(f.len + 1);
            if (!st->start_after)
                return;
            memcpy(st->start_after, f.data, f.len);
            st->sa_len = f.len;
        }
}

/* getListing of a directory kept in every destination: ask them all. */
static void route_listing_fanout(struct rcall *rc, struct rd_snap *snap, const struct rd_method *m,
                                 const struct ipc_call *ic, const char *path, const struct rd_target *dests, int nd)
{
    struct rstate *st = st_new(rc, snap, m, nd);
    if (!st) {
        rd_snap_release(snap);
        hconn_reply_error(rc, "java.io.IOException", "out of memory");
        return;
    }
    st->listing_fanout = true;
    st->client_path = strdup(path);
    take_start_after(st, ic);
    rc->ns = dests[0].ns->name;
    struct buf param = BUF_INIT;
    for (int i = 0; i < nd; i++) {
        const char *np[1] = { dests[i].path };
        buf_reset(&param);
        if (rd_req_rewrite(m, ic->param.p, ic->param.len, np, &param) < 0) {
            st->subs[i].finished = true;
            st->subs[i].ust = UP_EPROTO;
            snprintf(st->subs[i].why, sizeof st->subs[i].why, "cannot rewrite the request");
            st->pending--;
            continue;
        }
        start_sub(st, i, dests[i].ns, buf_rptr(&param), buf_len(&param));
    }
    buf_free(&param);
    guard_drop(st);
}

static void route_paths(struct rcall *rc, struct rd_snap *snap, const struct rd_method *m, const struct ipc_call *ic)
{
    static __thread char paths[4][RD_MAX_PATH];
    static __thread struct rd_target tg[4];
    char err[512];
    int n = rd_req_paths(m, ic->param.p, ic->param.len, paths, 4);
    if (n <= 0) {
        rd_snap_release(snap);
        hconn_reply_error(rc, "java.io.IOException", "%s: %s", rc->method,
                          n < 0 ? "malformed request" : "no path in the request");
        return;
    }
    for (int i = 0; i < n; i++) {
        if (rd_resolve(snap, paths[i], &tg[i], err, sizeof err) < 0) {
            rd_snap_release(snap);
            hconn_reply_error(rc, "java.io.IOException", "%s", err);
            return;
        }
        if (tg[i].readonly && m->write) {
            rd_snap_release(snap);
            hconn_reply_error(rc, "org.apache.hadoop.security.AccessControlException",
                              "%s is under the read-only mount point %s", paths[i], tg[i].src);
            return;
        }
        if (i > 0 && tg[i].ns != tg[0].ns) {
            rd_snap_release(snap);
            hconn_reply_error(rc, "java.io.IOException",
                              "%s across subclusters %s -> %s is not supported (%s -> %s)", rc->method,
                              tg[0].ns->name, tg[i].ns->name, paths[0], paths[i]);
            return;
        }
    }
    if (n == 1 && strcmp(rc->method, "getListing") == 0) {
        static __thread struct rd_target dests[16];
        int nd = rd_resolve_all(snap, paths[0], dests, 16, err, sizeof err);
        if (nd > 1) {
            route_listing_fanout(rc, snap, m, ic, paths[0], dests, nd);
            return;
        }
    }
    const char *newpaths[4];
    for (int i = 0; i < n; i++)
        newpaths[i] = tg[i].path;
    struct buf param = BUF_INIT;
    if (rd_req_rewrite(m, ic->param.p, ic->param.len, newpaths, &param) < 0) {
        rd_snap_release(snap);
        hconn_reply_error(rc, "java.io.IOException", "%s: cannot rewrite the request", rc->method);
        return;
    }
    struct rstate *st = st_new(rc, snap, m, 1);
    if (!st) {
        buf_free(&param);
        rd_snap_release(snap);
        hconn_reply_error(rc, "java.io.IOException", "out of memory");
        return;
    }
    st->client_path = strdup(paths[0]);
    if (tg[0].dest[0]) {
        st->dest = strdup(tg[0].dest);
        st->src = strdup(tg[0].src);
    }
    if (strcmp(rc->method, "getListing") == 0) {
        const char *names[1];
        st->has_mount_children = rd_mount_children(snap, paths[0], names, 1) > 0;
        take_start_after(st, ic);
    }
    rc->ns = tg[0].ns->name;
    start_sub(st, 0, tg[0].ns, buf_rptr(&param), buf_len(&param));
    buf_free(&param);
    guard_drop(st);
}

static void route_one_ns(struct rcall *rc, struct rd_snap *snap, const struct rd_method *m, struct ha_ns *ns,
                         const struct ipc_call *ic)
{
    if (!ns) {
        rd_snap_release(snap);
        hconn_reply_error(rc, "java.io.IOException", "%s: no default nameservice is configured", rc->method);
        return;
    }
    struct rstate *st = st_new(rc, snap, m, 1);
    if (!st) {
        rd_snap_release(snap);
        hconn_reply_error(rc, "java.io.IOException", "out of memory");
        return;
    }
    rc->ns = ns->name;
    start_sub(st, 0, ns, ic->param.p, ic->param.len);
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
    if (atomic_load(&r->safe_mode)) {
        hconn_reply_error(rc, "org.apache.hadoop.ipc.StandbyException", "router %s is in safe mode", r->id);
        return;
    }
    struct rd_snap *snap = rd_snap_acquire(r);
    const struct rd_method *m = rd_method(rc->method);
    if (!m) {
        /* A method the table does not know still works: the default subcluster. */
        route_one_ns(rc, snap, NULL, rd_default_ns(snap), ic);
        return;
    }
    switch (m->kind) {
    case RD_PATH:
    case RD_TWO_PATHS:
        route_paths(rc, snap, m, ic);
        return;
    case RD_DEFAULT:
        route_one_ns(rc, snap, m, rd_default_ns(snap), ic);
        return;
    case RD_BLOCK_POOL: {
        char pool[256];
        const char *bp = rd_req_block_pool(m, ic->param.p, ic->param.len, pool, sizeof pool);
        struct ha_ns *ns = bp ? rd_ns_by_pool(snap, bp) : NULL;
        route_one_ns(rc, snap, m, ns ? ns : rd_default_ns(snap), ic);
        return;
    }
    case RD_ALL: {
        struct ha_ns *all[RD_MAX_NS];
        int n = rd_all_ns(snap, all, RD_MAX_NS);
        struct rstate *st = n > 0 ? st_new(rc, snap, m, n) : NULL;
        if (!st) {
            rd_snap_release(snap);
            hconn_reply_error(rc, "java.io.IOException", "%s: no nameservice to ask", rc->method);
            return;
        }
        rc->ns = "*";
        for (int i = 0; i < n; i++)
            start_sub(st, i, all[i], ic->param.p, ic->param.len);
        guard_drop(st);
        return;
    }
    case RD_ROUTER:
        rd_snap_release(snap);
        if (strcmp(rc->method, "getHAServiceState") == 0) {
            uint8_t out[4];
            size_t n = pb_put_varint_field(out, 1, 1); /* ACTIVE */
            hconn_reply_raw(rc, out, n);
        } else {
            hconn_reply_raw(rc, (const uint8_t *)"", 0);
        }
        return;
    case RD_REFUSE:
    default:
        rd_snap_release(snap);
        hconn_reply_error(rc, "java.lang.UnsupportedOperationException", "%s is not supported by the router",
                          rc->method);
        return;
    }
}
