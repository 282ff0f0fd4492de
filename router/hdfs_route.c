/*
 * hdfs_route.c: the routing rules for one ClientProtocol call.
 *
 *   method row --PATH/TWO_PATHS--> resolve every path of the request
 *   (methods.h)                     (read-only, one-subcluster and mount
 *                                  point checks) -> rewrite -> one subcall;
 *                                  summaries: one per location below
 *              --ALL_MERGE------->  one subcall per nameservice -> merge
 *              --DEFAULT/unknown->  the default nameservice
 *              --BLOCK_POOL------>  the nameservice owning the block pool
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
#define RD_MAX_LOCS 16                  /* locations of one listing or summary */
#define RD_FT_MAX 8                     /* locations a fault-tolerant call tries */

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
    char *dest, *src;                   /* summaries: this location's destination root and mount point */
};

struct rstate {
    struct rcall *rc;
    struct rd_snap *snap;
    const struct method_row *m;
    char *dest, *src;                   /* PATH: the mount's destination root and mount point (owned; NULL: none) */
    char *client_path;                  /* PATH: as the client wrote it (owned) */
    bool has_mount_children;            /* getListing: mount points to merge in */
    bool listing_fanout;                /* getListing: one subcall per HASH_ALL destination */
    bool summary;                       /* getContentSummary/getQuotaUsage over locations below */
    bool ft;                            /* fault-tolerant mount: on a dead subcluster try the next location */
    struct ha_ns *tried[RD_FT_MAX];     /* ft: nameservices asked so far */
    int ntried;
    struct buf orig;                    /* ft: the client's request, to rewrite for the next location */
    char *start_after;                  /* getListing: the client's startAfter (owned) */
    size_t sa_len;
    int nsub, pending;
    struct sub subs[];
};

static void st_free(struct rstate *st)
{
    for (int i = 0; i < st->nsub; i++) {
        buf_free(&st->subs[i].payload);
        free(st->subs[i].dest);
        free(st->subs[i].src);
    }
    buf_free(&st->orig);
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

/* A directory status for a mount point (its destination may not exist):
 * the entry's owner, group and mode when it sets them. full: the mount
 * point's federated path (NULL for a directory that only leads to mounts). */
static void mount_dir_status(Hadoop__Hdfs__HdfsFileStatusProto *st, Hadoop__Hdfs__FsPermissionProto *perm,
                             const char *name, struct router *r, struct rd_snap *snap, const char *full)
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
    struct rd_mount_info mi;
    if (full && rd_mount_info(snap, full, &mi)) {
        perm->perm = mi.mode;
        if (*mi.owner)
            st->owner = (char *)mi.owner;
        if (*mi.group)
            st->group = (char *)mi.group;
    }
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
        char full[RD_MAX_PATH];
        snprintf(full, sizeof full, "%s/%s", strcmp(st->client_path, "/") == 0 ? "" : st->client_path, names[i]);
        mount_dir_status(&ms[i], &mp[i], names[i], r, st->snap, full);
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
    mount_dir_status(&s, &perm, "", st->rc->c->w->router, st->snap, st->client_path);
    Hadoop__Hdfs__GetFileInfoResponseProto out = HADOOP__HDFS__GET_FILE_INFO_RESPONSE_PROTO__INIT;
    out.fs = &s;
    uint8_t packed[512];
    size_t sz = protobuf_c_message_pack(&out.base, packed);
    hconn_reply_raw(st->rc, packed, sz);
    return true;
}

static bool sub_ok(const struct sub *s)
{
    return s->ust == UP_OK && s->status == IPC_SUCCESS;
}

static bool sub_not_found(const struct sub *s)
{
    return s->ust == UP_OK && s->status != IPC_SUCCESS && strcmp(s->cls, "java.io.FileNotFoundException") == 0;
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
    if (rd_merge(st->m, a, n, &out) < 0)
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

/* ---- completion ---- */

static void complete_one(struct rstate *st)
{
    struct rcall *rc = st->rc;
    struct sub *s = &st->subs[0];
    if (!sub_ok(s)) {
        reply_sub_error(rc, s);
        return;
    }
    route_state_learn_from_reply(rc->method, buf_rptr(&s->payload), buf_len(&s->payload), s->hc.ns);
    if (st->has_mount_children) {
        reply_merged_listing(st);
        return;
    }
    if (st->m && (st->m->flags & METHOD_SUBTREE) && strcmp(rc->method, "getFileInfo") == 0 &&
        reply_mount_fileinfo(st, buf_rptr(&s->payload), buf_len(&s->payload)))
        return;
    struct buf out = BUF_INIT;
    if (st->dest && rd_map_response(st->snap, st->m, s->hc.ns->name, st->dest, st->src, buf_rptr(&s->payload),
                                    buf_len(&s->payload), &out) == 1)
        hconn_reply_raw(rc, buf_rptr(&out), buf_len(&out));
    else
        hconn_reply_raw(rc, buf_rptr(&s->payload), buf_len(&s->payload));
    buf_free(&out);
}

static bool ft_retry(struct rstate *st);

static void complete(struct rstate *st)
{
    struct rcall *rc = st->rc;
    if (st->ft && st->subs[0].ust != UP_OK && ft_retry(st))
        return; /* a subcluster is down: the next location of the mount serves the call */
    rc->route = NULL;
    int ok = 0, missing = 0;
    const struct sub *bad = NULL;
    for (int i = 0; i < st->nsub; i++) {
        if (sub_ok(&st->subs[i]))
            ok++;
        else if (st->summary && sub_not_found(&st->subs[i]))
            missing++; /* a mount whose destination does not exist yet: nothing to count */
        else if (!bad)
            bad = &st->subs[i];
    }
    if (st->nsub == 1 && !st->listing_fanout && !st->summary) {
        complete_one(st);
    } else if (st->listing_fanout) {
        if (bad)
            reply_sub_error(rc, bad);
        else
            reply_merged_listing(st);
    } else if (st->summary) {
        if (bad)
            reply_sub_error(rc, bad);
        else if (ok == 0)
            reply_sub_error(rc, &st->subs[0]);
        else
            reply_merged(st);
    } else if (bad && !(st->m && st->m->merge == MERGE_ANY_OK && ok > 0)) {
        reply_sub_error(rc, bad);
    } else {
        reply_merged(st);
    }
    (void)missing;
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

static struct rstate *st_new(struct rcall *rc, struct rd_snap *snap, const struct method_row *m, int nsub)
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

/*
 * Fault-tolerant mounts (RBF's): when the chosen subcluster cannot be
 * reached, the call goes to the next destination of the mount that has not
 * been tried, with the path rewritten for it. The client's ids go along
 * unchanged. false when no location is left (the failure is answered).
 */
static bool ft_retry(struct rstate *st)
{
    static __thread struct rd_target locs[RD_FT_MAX];
    char err[600];
    if (st->m && st->m->route == ROUTE_DEFAULT) {
        /* Any subcluster's answer will do (server defaults, storage
         * policies): the next one that is up. */
        struct ha_ns *all[RD_MAX_NS];
        int na = rd_all_ns(st->snap, all, RD_MAX_NS);
        for (int i = 0; i < na; i++) {
            bool seen = false;
            for (int k = 0; k < st->ntried && !seen; k++)
                seen = st->tried[k] == all[i];
            if (seen || st->ntried >= RD_FT_MAX)
                continue;
            struct sub *s = &st->subs[0];
            st->tried[st->ntried++] = all[i];
            s->finished = false;
            s->ust = UP_OK;
            s->why[0] = 0;
            st->rc->ns = all[i]->name;
            st->pending = 2;
            start_sub(st, 0, all[i], buf_rptr(&st->orig), buf_len(&st->orig));
            guard_drop(st);
            return true;
        }
        return false;
    }
    int n = st->client_path ? rd_resolve_all(st->snap, st->client_path, locs, RD_FT_MAX, err, sizeof err) : 0;
    for (int i = 0; i < n; i++) {
        bool seen = false;
        for (int k = 0; k < st->ntried && !seen; k++)
            seen = st->tried[k] == locs[i].ns;
        if (seen || st->ntried >= RD_FT_MAX)
            continue;
        struct buf param = BUF_INIT;
        int r = rd_request_to(st->m, buf_rptr(&st->orig), buf_len(&st->orig), locs[i].path, &param);
        if (r < 0) {
            buf_free(&param);
            return false;
        }
        struct sub *s = &st->subs[0];
        st->tried[st->ntried++] = locs[i].ns;
        s->finished = false;
        s->ust = UP_OK;
        s->why[0] = 0;
        buf_reset(&s->payload);
        free(st->dest);
        free(st->src);
        st->dest = strdup(locs[i].dest);
        st->src = strdup(locs[i].src);
        st->rc->ns = locs[i].ns->name;
        st->pending = 2; /* the subcall and a guard, as in route_paths */
        if (r == 1)
            start_sub(st, 0, locs[i].ns, buf_rptr(&param), buf_len(&param));
        else
            start_sub(st, 0, locs[i].ns, buf_rptr(&st->orig), buf_len(&st->orig));
        buf_free(&param);
        guard_drop(st);
        return true;
    }
    return false;
}

/* A subcall that could not even be built (its request cannot be rewritten). */
static void fail_sub(struct rstate *st, int i, const char *why)
{
    st->subs[i].finished = true;
    st->subs[i].ust = UP_EPROTO;
    snprintf(st->subs[i].why, sizeof st->subs[i].why, "%s", why);
    st->pending--;
}

static void fail_call(struct rcall *rc, struct rd_snap *snap, const char *cls, const char *msg)
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

/* One subcall per location, each with the request's path replaced by that
 * location's path: a listing of a directory kept in every destination, or
 * a summary of everything below a path. */
static void route_locations(struct rcall *rc, struct rd_snap *snap, const struct method_row *m,
                            const struct ipc_call *ic, const char *path, const struct rd_target *t, int nt,
                            bool summary)
{
    struct rstate *st = st_new(rc, snap, m, nt);
    if (!st) {
        fail_call(rc, snap, "java.io.IOException", "out of memory");
        return;
    }
    st->listing_fanout = !summary;
    st->summary = summary;
    st->client_path = strdup(path);
    if (!summary)
        take_start_after(st, ic);
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
        if (r == 1)
            start_sub(st, i, t[i].ns, buf_rptr(&param), buf_len(&param));
        else
            start_sub(st, i, t[i].ns, ic->param.p, ic->param.len);
    }
    buf_free(&param);
    guard_drop(st);
}

static void route_all(struct rcall *rc, struct rd_snap *snap, const struct method_row *m, const struct ipc_call *ic);

static void route_paths(struct rcall *rc, struct rd_snap *snap, const struct method_row *m, const struct ipc_call *ic)
{
    static __thread struct rd_req req;
    struct buf param = BUF_INIT;
    int mr = rd_map_request(snap, m, rc->method, ic->param.p, ic->param.len, &req, &param);
    if (mr < 0) {
        buf_free(&param);
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
    if (m->flags & METHOD_SUBTREE) {
        static __thread struct rd_target locs[RD_MAX_LOCS];
        char err[600];
        bool own;
        if (m->merge == MERGE_SUM) {
            int n = rd_summary_targets(snap, req.client_path, locs, RD_MAX_LOCS, &own, err, sizeof err);
            if (n > 1 || (n == 1 && !own)) {
                buf_free(&param);
                route_locations(rc, snap, m, ic, req.client_path, locs, n, true);
                return;
            }
        } else if (strcmp(rc->method, "getListing") == 0) {
            int n = rd_resolve_all(snap, req.client_path, locs, RD_MAX_LOCS, err, sizeof err);
            if (n > 1) {
                buf_free(&param);
                route_locations(rc, snap, m, ic, req.client_path, locs, n, false);
                return;
            }
        }
    }
    struct ha_ns *ns = req.t.ns;
    if (m->flags & METHOD_POOL_FIRST) {
        /* The block names the subcluster more surely than a path whose
         * mount picks one of several destinations. */
        char pool[256];
        const char *bp = rd_request_pool(m, ic->param.p, ic->param.len, pool, sizeof pool);
        struct ha_ns *pns = bp ? rd_ns_by_pool(snap, bp) : NULL;
        if (pns && pns != ns) {
            static __thread struct rd_target locs[RD_MAX_LOCS];
            char err[600];
            int n = rd_resolve_all(snap, req.client_path, locs, RD_MAX_LOCS, err, sizeof err);
            for (int i = 0; i < n; i++)
                if (locs[i].ns == pns) {
                    buf_reset(&param);
                    int r = rd_request_to(m, ic->param.p, ic->param.len, locs[i].path, &param);
                    if (r >= 0) {
                        ns = pns;
                        snprintf(req.t.dest, sizeof req.t.dest, "%s", locs[i].dest);
                        mr = r;
                    }
                    break;
                }
        }
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
    if (req.t.faulttolerant && buf_append(&st->orig, ic->param.p, ic->param.len) == 0) {
        st->ft = true;
        st->tried[st->ntried++] = ns;
    }
    if ((m->flags & METHOD_SUBTREE) && strcmp(rc->method, "getListing") == 0) {
        const char *names[1];
        st->has_mount_children = rd_mount_children(snap, req.client_path, names, 1) > 0;
        take_start_after(st, ic);
    }
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
        st->ft = true;
        st->tried[st->ntried++] = ns;
    }
    start_sub(st, 0, ns, ic->param.p, ic->param.len);
    guard_drop(st);
}

/* renewLease names the nameservices the client holds leases in (field 2,
 * learned from create/append answers): only those, else every one. The
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
    return k;
}

static void route_all(struct rcall *rc, struct rd_snap *snap, const struct method_row *m, const struct ipc_call *ic)
{
    struct ha_ns *all[RD_MAX_NS];
    int n = rd_all_ns(snap, all, RD_MAX_NS);
    struct buf param = BUF_INIT;
    const uint8_t *pp = ic->param.p;
    size_t pl = ic->param.len;
    if (strcmp(rc->method, "renewLease") == 0) {
        n = lease_targets(snap, ic, all, n, &param);
        pp = buf_len(&param) ? buf_rptr(&param) : (const uint8_t *)"";
        pl = buf_len(&param);
        if (n == 0) {
            buf_free(&param);
            rd_snap_release(snap);
            hconn_reply_raw(rc, (const uint8_t *)"", 0); /* no lease in any known nameservice */
            return;
        }
    }
    struct rstate *st = n > 0 ? st_new(rc, snap, m, n) : NULL;
    if (!st) {
        buf_free(&param);
        fail_call(rc, snap, "java.io.IOException", "no nameservice to ask");
        return;
    }
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
    if (strcmp(m->name, "getHAServiceState") == 0) {
        /* HAServiceStateProto ACTIVE; safe mode answered StandbyException before. */
        hconn_reply_raw(rc, out, pb_put_varint_field(out, 1, 1));
    } else if (strcmp(m->name, "renewDelegationToken") == 0 || strcmp(m->name, "cancelDelegationToken") == 0) {
        hconn_reply_error(rc, "java.io.IOException",
                          "%s: this router issues no delegation tokens (security is off), so it has none to %s",
                          m->name, m->name[0] == 'r' ? "renew" : "cancel");
    } else {
        /* getDelegationToken with security off: no token; msync: nothing to
         * wait for (every call reaches an active NameNode). */
        hconn_reply_raw(rc, (const uint8_t *)"", 0);
    }
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
    const struct method_row *m = method_lookup_cstr(rc->method);
    if (!m) {
        /* A method the table does not know still works: the default subcluster. */
        route_one_ns(rc, snap, NULL, rd_default_ns(snap), ic);
        return;
    }
    switch (m->route) {
    case ROUTE_PATH:
    case ROUTE_TWO_PATHS:
        route_paths(rc, snap, m, ic);
        return;
    case ROUTE_DEFAULT:
        route_one_ns(rc, snap, m, rd_default_ns(snap), ic);
        return;
    case ROUTE_BLOCK_POOL: {
        char pool[256];
        const char *bp = rd_request_pool(m, ic->param.p, ic->param.len, pool, sizeof pool);
        struct ha_ns *ns = bp ? rd_ns_by_pool(snap, bp) : NULL;
        route_one_ns(rc, snap, m, ns ? ns : rd_default_ns(snap), ic);
        return;
    }
    case ROUTE_ALL_MERGE:
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
