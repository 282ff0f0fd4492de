/*
 * route_probe.c: where a call goes in a mount of several destinations when
 * the mount's order alone cannot tell: before create and mkdirs, whether
 * the name (or a file in its parent's place) exists in another location;
 * before a call on an open file, which location holds the inode id it
 * names; before a rename, where the source and the destination are. One
 * getFileInfo per location and question, all at once, then the call goes
 * where a single NameNode would have found things, or the router answers
 * as that NameNode would (RBF's getCreateLocation and getRenameDestinations,
 * carried further: no second copy of a name, no half-moved tree).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hdfs_conn.h"
#include "jexc.h"
#include "pbwire.h"
#include "route_deps.h"
#include "route_internal.h"
#include "router.h"
#include "worker.h"

#define PROBE_MAX_ANCESTORS 8   /* directories above a new name asked about (nearest first) */

/* Calls that make a name: in a mount of several destinations the name may
 * exist in another location already (create there, so that no second copy
 * appears; mkdirs answers true, as RBF does), and renames, which must be
 * carried out where the source lives and must not land on a name that
 * another location holds. */
bool probes_first(const struct method_row *m)
{
    return (m->flags & METHOD_PROBE) != 0;
}

/* The inode id a file call names (fileId; 0 when none). Inode ids repeat
 * across subclusters, and a NameNode looks the file up by its id first: a
 * call sent to the wrong location can act on another file of that id. */
uint64_t request_file_id(const struct method_row *m, const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    struct pb_field f;
    uint64_t id = 0;
    while (m->file_id && pb_next_field(&p, end, &f) > 0)
        if (f.num == m->file_id && f.type == PB_VARINT)
            id = f.varint;
    return id;
}

/* A string field of a request (rename's dst, field 2), copied into out. */
static bool request_string(const uint8_t *p, size_t len, uint32_t num, char *out, size_t cap)
{
    const uint8_t *end = p + len;
    struct pb_field f;
    bool got = false;
    while (pb_next_field(&p, end, &f) > 0)
        if (f.num == num && f.type == PB_LEN && f.len < cap) {
            memcpy(out, f.data, f.len);
            out[f.len] = 0;
            got = true;
        }
    return got;
}

/* Does a getFileInfo answer hold a status? 1 a directory, 2 another kind,
 * 0 none; *id: its fileId(13). */
static int probe_found(const struct sub *s, uint64_t *id)
{
    const uint8_t *p = buf_rptr(&s->payload), *end = p + buf_len(&s->payload);
    struct pb_field f;
    *id = 0;
    if (!sub_ok(s))
        return 0;
    while (pb_next_field(&p, end, &f) > 0)
        if (f.num == 1 && f.type == PB_LEN) {
            const uint8_t *q = f.data, *qe = f.data + f.len;
            struct pb_field g;
            int kind = 2;
            while (pb_next_field(&q, qe, &g) > 0) {
                if (g.num == 1 && g.type == PB_VARINT && g.varint == 1)
                    kind = 1; /* FileType IS_DIR */
                else if (g.num == 13 && g.type == PB_VARINT)
                    *id = g.varint;
            }
            return kind;
        }
    return 0;
}

/* probe_found, with a directory's children count (childrenNum, 14; 0 when
 * the answer has none). */
static int probe_children(const struct sub *s, uint64_t *children)
{
    const uint8_t *p = buf_rptr(&s->payload), *end = p + buf_len(&s->payload);
    struct pb_field f;
    uint64_t id;
    *children = 0;
    int kind = probe_found(s, &id);
    while (kind == 1 && pb_next_field(&p, end, &f) > 0)
        if (f.num == 1 && f.type == PB_LEN) {
            const uint8_t *q = f.data, *qe = f.data + f.len;
            struct pb_field g;
            while (pb_next_field(&q, qe, &g) > 0)
                if (g.num == 14 && g.type == PB_VARINT)
                    *children = g.varint;
        }
    return kind;
}

/* A probe not sent: as if the location answered that it holds nothing. */
static void absent_sub(struct rstate *st, int i)
{
    struct sub *s = &st->subs[i];
    s->finished = true;
    s->ust = UP_OK;
    s->status = IPC_ERROR;
    snprintf(s->cls, sizeof s->cls, JEXC_FILE_NOT_FOUND);
    s->msg[0] = 0;
    st->pending--;
}

/*
 * Probes of create, mkdirs and file calls: one getFileInfo per location of
 * the path (subs[0..n)) and, for create and mkdirs, of its parent
 * (subs[n..2n)), all at once; probe_done() then sends the call. The parent
 * is asked when it lies below the mount point (the mount point itself is
 * in every location).
 */
void route_probe(struct rcall *rc, struct rd_snap *snap, const struct method_row *m, const struct ipc_call *ic,
                        struct rd_req *req, struct ha_ns **cands, int n, uint64_t want_id)
{
    /* The directories between the mount point and the path: any of them
     * may be a file in some location. */
    int nanc = 0;
    if (!want_id && req->t.src[0]) {
        const char *rest = req->client_path + strlen(req->t.src);
        int comps = 0;
        for (const char *p = rest; *p; p++)
            if (*p != '/' && (p == rest || p[-1] == '/'))
                comps++;
        nanc = comps > 1 ? comps - 1 : 0;
        if (nanc > PROBE_MAX_ANCESTORS)
            nanc = PROBE_MAX_ANCESTORS;
    }
    int per = 1 + nanc;
    struct rstate *st = st_new(rc, snap, m, per * n);
    if (!st || buf_append(&st->orig, ic->param.p, ic->param.len) < 0 || !(st->client_path = strdup(req->client_path))) {
        st_fail_new(rc, snap, st);
        return;
    }
    route_plan_set(st, RP_PROBE);
    st->probe_levels = per;
    st->want_id = want_id;
    st->ft = req->t.faulttolerant;
    st->folder_all = req->t.folder_all;
    for (int i = 0; i < n; i++)
        st->cands[st->ncands++] = cands[i];
    rc->ns = "*";
    static __thread struct rd_req pr;
    struct buf param = BUF_INIT;
    for (int i = 0; i < n; i++) {
        uint8_t q[RD_MAX_PATH + 16];
        buf_reset(&param);
        pr.force_ns = cands[i];
        int r = rd_map_request(snap, m, rc->method, ic->param.p, ic->param.len, &pr, &param);
        pr.force_ns = NULL;
        if (r < 0 || pr.t.ns != cands[i]) {
            /* No destination of the call there (a rename whose other path
             * has none in this subcluster): the location holds nothing. */
            for (int k = 0; k < per; k++)
                absent_sub(st, k * n + i);
            continue;
        }
        size_t ql = pb_put_bytes_field(q, 1, pr.t.path, strlen(pr.t.path));
        start_sub_method(st, i, cands[i], "getFileInfo", q, ql);
        /* Each ancestor in turn, nearest first, while it stays below the
         * mount's destination root there. */
        char up[RD_MAX_PATH];
        snprintf(up, sizeof up, "%s", pr.t.path);
        size_t dl = strlen(pr.t.dest);
        for (int k = 1; k < per; k++) {
            char *slash = strrchr(up, '/');
            if (slash && slash != up)
                *slash = 0;
            if (!slash || slash == up || strlen(up) <= dl) {
                absent_sub(st, k * n + i);
                continue;
            }
            ql = pb_put_bytes_field(q, 1, up, strlen(up));
            start_sub_method(st, k * n + i, cands[i], "getFileInfo", q, ql);
        }
    }
    buf_free(&param);
    guard_drop(st);
}

/* Answers the call from probe_done and frees it. */
static void probe_reply_error(struct rstate *st, const char *cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void probe_reply_error(struct rstate *st, const char *cls, const char *fmt, ...)
{
    char msg[RD_MAX_PATH * 2 + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    st->rc->route = NULL;
    hconn_reply_error(st->rc, cls, "%s", msg);
    st_free(st);
}

/* From the probes: the call to one location, as route_paths starts it. */
static void probe_send_one(struct rstate *st, struct ha_ns *target)
{
    struct rcall *rc = st->rc;
    for (int i = 0; i < st->nsub; i++) {
        buf_free(&st->subs[i].payload);
        free(st->subs[i].dest);
        free(st->subs[i].src);
        st->subs[i].dest = st->subs[i].src = NULL;
    }
    st->nsub = 1;
    int k = 0;
    for (int i = 0; i < st->ncands && st->ft; i++)
        if (st->cands[i] != target)
            st->cands[k++] = st->cands[i];
    st->ncands = k;
    st->ci = 0;
    route_plan_set(st, k > 0 ? RP_TRY_LOCATIONS : RP_ONE);
    static __thread struct rd_req req;
    struct buf param = BUF_INIT;
    req.force_ns = target;
    int r = rd_map_request(st->snap, st->m, rc->method, buf_rptr(&st->orig), buf_len(&st->orig), &req, &param);
    req.force_ns = NULL;
    if (r < 0) {
        buf_free(&param);
        probe_reply_error(st, req.ecls ? req.ecls : JEXC_IO, "%s", req.emsg);
        return;
    }
    if (req.t.dest[0]) {
        st->dest = strdup(req.t.dest);
        st->src = strdup(req.t.src);
    }
    struct sub *s = &st->subs[0];
    s->finished = false;
    s->ust = UP_OK;
    s->status = IPC_SUCCESS;
    s->why[0] = 0;
    rc->ns = target->name;
    st->pending = 2;
    if (r == 1)
        start_sub(st, 0, target, buf_rptr(&param), buf_len(&param));
    else
        start_sub(st, 0, target, buf_rptr(&st->orig), buf_len(&st->orig));
    buf_free(&param);
    guard_drop(st);
}

/* From the probes: the call to each of the locations given. */
static void probe_send_all(struct rstate *st, struct ha_ns **locs, int n)
{
    struct rcall *rc = st->rc;
    struct rd_snap *snap = st->snap;
    struct buf orig = st->orig;
    char *path = st->client_path;
    const struct method_row *m = st->m;
    st->orig = (struct buf)BUF_INIT;
    st->client_path = NULL;
    st->snap = NULL;
    rc->route = NULL;
    st_free(st);
    route_write_everywhere(rc, snap, m, buf_rptr(&orig), buf_len(&orig), path, locs, n);
    buf_free(&orig);
    free(path);
}


/* path without repeated or trailing slashes. */
static void norm_path(const char *path, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = path; *p && n + 1 < cap; p++)
        if (*p != '/' || n == 0 || out[n - 1] != '/')
            out[n++] = *p;
    while (n > 1 && out[n - 1] == '/')
        n--;
    out[n] = 0;
}


/* ---- renames ---- */

/* Where path lives in nameservice ns (its destination path there): 0, or
 * -1 when its mount has no destination there. */
static int path_in(struct rd_snap *snap, const char *path, struct ha_ns *ns, char *out, size_t cap)
{
    static __thread struct rd_target t;
    char err[600];
    if (rd_resolve(snap, path, &t, err, sizeof err) < 0)
        return -1;
    if (t.ns != ns && rd_resolve_in(snap, path, ns, &t) < 0)
        return -1;
    if (t.ns != ns || strlen(t.path) >= cap)
        return -1;
    memcpy(out, t.path, strlen(t.path) + 1);
    return 0;
}

/* Adds the nameservices that may hold path (its mount's destinations, or
 * the one it resolves to) to locs, each once. */
static void add_locations(struct rd_snap *snap, const char *path, struct ha_ns **locs, int *n)
{
    static __thread struct rd_target t;
    char err[600];
    struct ha_ns *more[RD_FT_MAX];
    int k = 0;
    if (rd_resolve(snap, path, &t, err, sizeof err) == 0)
        more[k++] = t.ns;
    k = rd_locations(snap, path, k ? more[0] : NULL, more, RD_FT_MAX);
    for (int i = 0; i < k; i++) {
        bool seen = false;
        for (int j = 0; j < *n && !seen; j++)
            seen = locs[j] == more[i];
        if (!seen && *n < RD_FT_MAX)
            locs[(*n)++] = more[i];
    }
}

/* The probe sets of a rename, each one getFileInfo per location. */
enum { RN_SRC, RN_DST, RN_ENTRY, RN_DPARENT, RN_SETS };

/*
 * A rename where either path lies in a mount of several destinations: in
 * every subcluster that may hold either path, at once, getFileInfo of the
 * source, of the destination, of the destination directory's entry of the
 * source's name (the old rename moves into an existing directory) and of
 * the destination's parent. rename_done() then sends it where the source
 * lives, or answers as one NameNode would.
 */
bool route_rename_probe(struct rcall *rc, struct rd_snap *snap, const struct method_row *m, const struct ipc_call *ic,
                        const char *src)
{
    char dst[RD_MAX_PATH];
    struct ha_ns *locs[RD_FT_MAX];
    int n = 0;
    if (!request_string(ic->param.p, ic->param.len, 2, dst, sizeof dst))
        return false; /* malformed: the NameNode answers it as usual */
    add_locations(snap, src, locs, &n);
    add_locations(snap, dst, locs, &n);
    if (n <= 1)
        return false; /* one subcluster holds both: no question to ask */
    bool old = (m->flags & METHOD_RENAME_INTO) != 0;
    struct rstate *st = st_new(rc, snap, m, RN_SETS * n);
    if (!st || buf_append(&st->orig, ic->param.p, ic->param.len) < 0 || !(st->client_path = strdup(src))) {
        st_fail_new(rc, snap, st);
        return true;
    }
    route_plan_set(st, RP_RENAME_PROBE);
    rc->ns = "*";
    const char *base = strrchr(src, '/');
    base = base ? base + 1 : src;
    for (int i = 0; i < n; i++) {
        st->cands[st->ncands++] = locs[i];
        char sp[RD_MAX_PATH], dp[RD_MAX_PATH], np[RD_MAX_PATH + 256];
        uint8_t q[RD_MAX_PATH + 300];
        bool has_src = path_in(snap, src, locs[i], sp, sizeof sp) == 0;
        bool has_dst = path_in(snap, dst, locs[i], dp, sizeof dp) == 0;
        if (has_src)
            st->src_at |= 1u << i;
        if (has_dst)
            st->dst_at |= 1u << i;
        if (has_src)
            start_sub_method(st, RN_SRC * n + i, locs[i], "getFileInfo", q, pb_put_bytes_field(q, 1, sp, strlen(sp)));
        else
            absent_sub(st, RN_SRC * n + i);
        if (!has_dst) {
            absent_sub(st, RN_DST * n + i);
            absent_sub(st, RN_ENTRY * n + i);
            absent_sub(st, RN_DPARENT * n + i);
            continue;
        }
        start_sub_method(st, RN_DST * n + i, locs[i], "getFileInfo", q, pb_put_bytes_field(q, 1, dp, strlen(dp)));
        int nl = snprintf(np, sizeof np, "%s/%s", strcmp(dp, "/") == 0 ? "" : dp, base);
        if (old && *base && nl > 0 && (size_t)nl < sizeof np)
            start_sub_method(st, RN_ENTRY * n + i, locs[i], "getFileInfo", q,
                             pb_put_bytes_field(q, 1, np, (size_t)nl));
        else
            absent_sub(st, RN_ENTRY * n + i);
        char *slash = strrchr(dp, '/');
        if (slash && slash != dp) {
            *slash = 0;
            start_sub_method(st, RN_DPARENT * n + i, locs[i], "getFileInfo", q,
                             pb_put_bytes_field(q, 1, dp, strlen(dp)));
        } else {
            absent_sub(st, RN_DPARENT * n + i); /* the root: a directory everywhere */
            st->dparent_root |= 1u << i;
        }
    }
    guard_drop(st);
    return true;
}

/* Phase two of a rename: the empty parts of the source that the rename
 * cannot carry (a folder-all directory's copies where the destination has
 * no place) are deleted first, non-recursively, so that none is left
 * behind; then the rename goes where the source has content. */
static void rename_delete_empty(struct rstate *st, uint32_t empty)
{
    int n = st->ncands, k = 0;
    for (int i = 0; i < st->nsub; i++) {
        buf_free(&st->subs[i].payload);
        st->subs[i].finished = true; /* until started: nothing to cancel */
        st->subs[i].ust = UP_OK;
        st->subs[i].status = IPC_SUCCESS;
        st->subs[i].why[0] = 0;
    }
    st->rename_phase = 1;
    st->pending = 1; /* the guard */
    for (int i = 0; i < n; i++) {
        if (!(empty & (1u << i)))
            continue;
        char sp[RD_MAX_PATH];
        uint8_t q[RD_MAX_PATH + 32];
        if (path_in(st->snap, st->client_path, st->cands[i], sp, sizeof sp) < 0)
            continue;
        size_t ql = pb_put_bytes_field(q, 1, sp, strlen(sp));
        ql += pb_put_varint_field(q + ql, 2, 0); /* recursive = false: it is empty, and must stay so */
        st->pending++;
        st->subs[k].finished = false;
        start_sub_method(st, k++, st->cands[i], "delete", q, ql);
    }
    st->nsub_used = k;
    guard_drop(st);
}

static void rename_send(struct rstate *st, uint32_t ok)
{
    struct ha_ns *where[RD_FT_MAX];
    int nw = 0;
    for (int i = 0; i < st->ncands; i++)
        if (ok & (1u << i))
            where[nw++] = st->cands[i];
    if (nw > 1)
        probe_send_all(st, where, nw);
    else
        probe_send_one(st, where[0]);
}

/*
 * Where the source and the destination are, per location (1 a directory,
 * 2 a file, 0 none; directories with their children count). The rename
 * goes to the locations that hold the source and where the destination has
 * its place (its parent, or for the old rename the directory it moves
 * into). Where one NameNode would refuse (the destination exists: rename2
 * without overwrite, onto another kind or a non-empty directory; the old
 * rename onto a file or an existing entry), the router answers the same;
 * where the pieces lie apart it refuses, naming them, rather than leave two
 * of a name or half a tree.
 */
static void rename_done(struct rstate *st)
{
    struct rcall *rc = st->rc;
    int n = st->ncands;
    if (st->rename_phase == 1) {
        for (int i = 0; i < st->nsub_used; i++) {
            const struct sub *s = &st->subs[i];
            bool yes = sub_ok(s) && buf_len(&s->payload) >= 2 && buf_rptr(&s->payload)[1] == 1;
            if (!yes) {
                probe_reply_error(st, JEXC_IO,
                                  "%s %s: an empty copy of the source in nameservice %s could not be removed first: "
                                  "%s", rc->method, st->client_path, s->hc.ns ? s->hc.ns->name : "?",
                                  s->ust == UP_OK ? (s->msg[0] ? s->msg : "it is no longer empty") : s->why);
                return;
            }
        }
        rename_send(st, st->rename_ok);
        return;
    }
    for (int i = 0; i < RN_SETS * n; i++) {
        const struct sub *b = &st->subs[i];
        if (sub_ok(b) || sub_not_found(b) || st->ft)
            continue;
        const char *ns = b->hc.ns ? b->hc.ns->name : "?";
        if (b->ust == UP_OK)
            probe_reply_error(st, JEXC_IO, "%s %s: cannot tell whether nameservice %s holds it: %s: %s",
                              rc->method, st->client_path, ns, b->cls, b->msg);
        else
            probe_reply_error(st, JEXC_IO, "%s %s: cannot tell whether nameservice %s holds it: %s",
                              rc->method, st->client_path, ns, b->why[0] ? b->why : "subcluster unavailable");
        return;
    }
    bool old = (st->m->flags & METHOD_RENAME_INTO) != 0, overwrite = false;
    char dst[RD_MAX_PATH];
    if (!request_string(buf_rptr(&st->orig), buf_len(&st->orig), 2, dst, sizeof dst))
        snprintf(dst, sizeof dst, "?");
    const uint8_t *p = buf_rptr(&st->orig), *end = p + buf_len(&st->orig);
    struct pb_field f;
    while (pb_next_field(&p, end, &f) > 0)
        if (f.num == 3 && f.type == PB_VARINT && f.varint)
            overwrite = true;
    int sk[RD_FT_MAX], dk[RD_FT_MAX], ek[RD_FT_MAX], pk[RD_FT_MAX];
    uint64_t sch[RD_FT_MAX], dch[RD_FT_MAX], id;
    int src_kind = 0, dst_kind = 0, first_pair = -1;
    bool dst_full = false, entry_any = false, parent_any = false;
    for (int i = 0; i < n; i++) {
        sk[i] = probe_children(&st->subs[RN_SRC * n + i], &sch[i]);
        dk[i] = probe_children(&st->subs[RN_DST * n + i], &dch[i]);
        ek[i] = probe_found(&st->subs[RN_ENTRY * n + i], &id);
        pk[i] = (st->dparent_root & (1u << i)) && (st->dst_at & (1u << i)) ? 1
                                                                          : probe_found(&st->subs[RN_DPARENT * n + i], &id);
        if (sk[i] && !src_kind)
            src_kind = sk[i];
        if (dk[i]) {
            dst_kind = dst_kind ? dst_kind : dk[i];
            if (dk[i] != dst_kind)
                dst_kind = 3; /* a file in one place, a directory in another */
            if (dk[i] == 1 && dch[i])
                dst_full = true;
        }
        entry_any |= ek[i] != 0;
        parent_any |= pk[i] == 1;
        if ((st->src_at & st->dst_at & (1u << i)) && first_pair < 0)
            first_pair = i;
    }
    /* Onto itself (the old rename into its own parent too): the NameNode
     * that holds it answers. */
    char self[RD_MAX_PATH + 256], me[RD_MAX_PATH];
    norm_path(dst, self, sizeof self);
    norm_path(st->client_path, me, sizeof me);
    const char *base = strrchr(me, '/');
    bool onto_self = strcmp(self, me) == 0;
    if (!onto_self && old && base) {
        size_t sl = strlen(self);
        onto_self = (size_t)(base - me) == (sl == 1 ? 0 : sl) && strncmp(me, self, sl == 1 ? 0 : sl) == 0;
    }
    uint32_t src_mask = 0;
    for (int i = 0; i < n; i++)
        if (sk[i])
            src_mask |= 1u << i;
    if (!src_mask) {
        /* The source is nowhere: a NameNode that could hold the pair
         * answers (not found, or false). */
        probe_send_one(st, st->cands[first_pair >= 0 ? first_pair : 0]);
        return;
    }
    if (onto_self) {
        rename_send(st, src_mask);
        return;
    }
    size_t ml = strlen(me);
    if (strncmp(self, me, ml) == 0 && self[ml] == '/') {
        /* Into its own subtree: as the NameNode refuses it. */
        probe_reply_error(st, JEXC_IO, "Rename destination %s is a directory or file under source %s", dst,
                          st->client_path);
        return;
    }
    static const uint8_t no[2] = { 0x08, 0x00 }; /* RenameResponseProto result = false */
    bool into_dir = old && dst_kind == 1;
    if (into_dir && base) {
        /* The entry it would move to may be a mount point: it exists. */
        char entry[RD_MAX_PATH * 2];
        snprintf(entry, sizeof entry, "%s%s", strcmp(self, "/") == 0 ? "" : self, base);
        if (rd_is_mount_point(st->snap, entry) || rd_has_mount_points(st->snap, entry))
            entry_any = true;
    }
    if (old && (dst_kind == 2 || dst_kind == 3 || (into_dir && entry_any) || (!dst_kind && !parent_any))) {
        /* Onto a file, into a directory that has an entry of that name, or
         * under a parent that is nowhere: a NameNode answers false. */
        rc->route = NULL;
        hconn_reply_raw(rc, no, sizeof no);
        st_free(st);
        return;
    }
    if (!old && dst_kind) {
        if (!overwrite) {
            probe_reply_error(st, JEXC_FILE_ALREADY_EXISTS,
                              "rename destination %s already exists", dst);
            return;
        }
        if (dst_kind == 3 || (src_kind == 1) != (dst_kind == 1)) {
            probe_reply_error(st, JEXC_IO, "Source %s and destination %s must both be directories",
                              st->client_path, dst);
            return;
        }
        if (dst_full) {
            probe_reply_error(st, JEXC_IO, "rename destination directory is not empty: %s", dst);
            return;
        }
    }
    if (!old && !dst_kind && !parent_any) {
        /* No parent for the destination anywhere: a NameNode holding the
         * source answers (rename destination parent not found). */
        for (int i = 0; i < n; i++)
            if (sk[i] && (st->dst_at & (1u << i))) {
                probe_send_one(st, st->cands[i]);
                return;
            }
    }
    /* Which locations can carry their part of the source: paired, with the
     * destination's place there. An empty directory that cannot is deleted
     * first; anything else there means the rename spans subclusters. */
    uint32_t ok = 0, empty = 0;
    for (int i = 0; i < n; i++) {
        if (!sk[i])
            continue;
        bool paired = (st->src_at & st->dst_at & (1u << i)) != 0;
        bool place = into_dir ? dk[i] == 1 : (pk[i] == 1 && (!dk[i] || overwrite));
        if (paired && place)
            ok |= 1u << i;
        else if (sk[i] == 1 && sch[i] == 0)
            empty |= 1u << i;
        else {
            probe_reply_error(st, JEXC_IO,
                              "%s across subclusters is not supported: %s has content in %s, where %s has %s",
                              rc->method, st->client_path, st->cands[i]->name, dst,
                              paired ? "no parent directory" : "no destination");
            return;
        }
    }
    /* A file (or a non-empty directory) of the destination's name left in
     * a location the rename does not reach would stay beside it. */
    for (int i = 0; i < n; i++)
        if (dk[i] && !(ok & (1u << i)) && !(into_dir || (dk[i] == 1 && dch[i] == 0))) {
            probe_reply_error(st, JEXC_IO,
                              "%s across subclusters is not supported: %s is in %s, %s exists in %s", rc->method,
                              st->client_path, st->cands[__builtin_ctz(src_mask)]->name, dst, st->cands[i]->name);
            return;
        }
    if (!ok) {
        probe_reply_error(st, JEXC_IO,
                          "%s across subclusters is not supported: no subcluster holding %s has a place for %s",
                          rc->method, st->client_path, dst);
        return;
    }
    if (empty) {
        st->rename_ok = ok;
        rename_delete_empty(st, empty);
        return;
    }
    rename_send(st, ok);
}

/* ---- the answers ---- */

/*
 * The probes are in. create and mkdirs go where the name exists, or where
 * the parent is a file (so that its NameNode answers the error a single
 * namespace gives), else where the mount's order chose (mkdirs under a
 * folder-all order: everywhere). A file call goes where the file has its
 * inode id. A rename: see rename_done(). A location that could not
 * answer might hold the name: unless the mount is fault-tolerant, the call
 * fails rather than risk a second copy.
 */
void probe_done(struct rstate *st)
{
    struct rcall *rc = st->rc;
    if (st->plan == RP_RENAME_PROBE) {
        rename_done(st);
        return;
    }
    int n = st->ncands, at = -1, kind = 0, pfile = -1;
    int skind[RD_FT_MAX];
    const struct sub *bad = NULL;
    for (int i = 0; i < n; i++) {
        const struct sub *s = &st->subs[i];
        uint64_t id;
        int k = skind[i] = probe_found(s, &id);
        /* A file call goes where the file has its inode id; a new name
         * where the name exists. */
        if (k && (at < 0 || (st->want_id && id == st->want_id && st->found_id != st->want_id))) {
            at = i;
            kind = k;
            st->found_id = id;
        } else if (!sub_ok(s) && !sub_not_found(s) && !bad) {
            bad = s;
        }
        for (int lv = 1; lv < st->probe_levels; lv++) {
            const struct sub *p = &st->subs[lv * n + i];
            if (probe_found(p, &id) == 2 && pfile < 0)
                pfile = i; /* an ancestor is a file there */
            if (!sub_ok(p) && !sub_not_found(p) && !bad)
                bad = p;
        }
    }
    if (bad && !st->ft) {
        const char *ns = bad->hc.ns ? bad->hc.ns->name : "?";
        if (bad->ust == UP_OK)
            probe_reply_error(st, JEXC_IO, "%s %s: cannot tell whether nameservice %s holds it: %s: %s",
                              rc->method, st->client_path, ns, bad->cls, bad->msg);
        else
            probe_reply_error(st, JEXC_IO, "%s %s: cannot tell whether nameservice %s holds it: %s",
                              rc->method, st->client_path, ns, bad->why[0] ? bad->why : "subcluster unavailable");
        return;
    }
    bool mkdirs = (st->m->flags & METHOD_MAKES_DIR) != 0;
    if (at >= 0 && kind == 1 && mkdirs && !st->folder_all) {
        uint8_t yes[2] = { 0x08, 0x01 }; /* MkdirsResponseProto result = true */
        rc->route = NULL;
        hconn_reply_raw(rc, yes, sizeof yes);
        st_free(st);
        return;
    }
    if (at < 0 && pfile >= 0)
        at = pfile; /* an ancestor is a file there: its NameNode answers the error */
    if (mkdirs && st->folder_all && !(at >= 0 && (kind == 2 || at == pfile))) {
        struct ha_ns *all[RD_FT_MAX];
        for (int i = 0; i < n; i++)
            all[i] = st->cands[i];
        probe_send_all(st, all, n);
        return;
    }
    probe_send_one(st, st->cands[at >= 0 ? at : 0]);
}

