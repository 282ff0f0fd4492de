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
    return strcmp(m->name, "create") == 0 || strcmp(m->name, "mkdirs") == 0;
}

static bool is_rename(const char *m)
{
    return strcmp(m, "rename") == 0 || strcmp(m, "rename2") == 0;
}

/* The inode id a file call names (fileId; 0 when none). Inode ids repeat
 * across subclusters, and a NameNode looks the file up by its id first: a
 * call sent to the wrong location can act on another file of that id. */
uint64_t request_file_id(const char *method, const uint8_t *p, size_t len)
{
    uint32_t num = strcmp(method, "complete") == 0 || strcmp(method, "abandonBlock") == 0 ||
                           strcmp(method, "fsync") == 0
                       ? 4
                   : strcmp(method, "addBlock") == 0              ? 5
                   : strcmp(method, "getAdditionalDatanode") == 0 ? 8
                                                                  : 0;
    const uint8_t *end = p + len;
    struct pb_field f;
    uint64_t id = 0;
    while (num && pb_next_field(&p, end, &f) > 0)
        if (f.num == num && f.type == PB_VARINT)
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

/* A probe not sent: as if the location answered that it holds nothing. */
static void absent_sub(struct rstate *st, int i)
{
    struct sub *s = &st->subs[i];
    s->finished = true;
    s->ust = UP_OK;
    s->status = IPC_ERROR;
    snprintf(s->cls, sizeof s->cls, "java.io.FileNotFoundException");
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
    if (!st || buf_append(&st->orig, ic->param.p, ic->param.len) < 0) {
        if (st) {
            rc->route = NULL;
            st_free(st);
            hconn_reply_error(rc, "java.io.IOException", "out of memory");
        } else {
            fail_call(rc, snap, "java.io.IOException", "out of memory");
        }
        return;
    }
    st->probing = true;
    st->probe_levels = per;
    st->want_id = want_id;
    st->ft = req->t.faulttolerant;
    st->folder_all = req->t.folder_all;
    st->client_path = strdup(req->client_path);
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
    st->probing = false;
    st->nsub = 1;
    int k = 0;
    for (int i = 0; i < st->ncands && st->ft; i++)
        if (st->cands[i] != target)
            st->cands[k++] = st->cands[i];
    st->ncands = k;
    st->ci = 0;
    static __thread struct rd_req req;
    struct buf param = BUF_INIT;
    req.force_ns = target;
    int r = rd_map_request(st->snap, st->m, rc->method, buf_rptr(&st->orig), buf_len(&st->orig), &req, &param);
    req.force_ns = NULL;
    if (r < 0) {
        buf_free(&param);
        probe_reply_error(st, req.ecls ? req.ecls : "java.io.IOException", "%s", req.emsg);
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

static bool nkind_any(const int *nkind, int n)
{
    for (int i = 0; i < n; i++)
        if (nkind[i])
            return true;
    return false;
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

bool probes_rename(struct rd_snap *snap, const struct ipc_call *ic, const char *src)
{
    char dst[RD_MAX_PATH];
    if (!request_string(ic->param.p, ic->param.len, 2, dst, sizeof dst))
        return false;
    struct ha_ns *locs[RD_FT_MAX];
    int n = 0;
    add_locations(snap, src, locs, &n);
    add_locations(snap, dst, locs, &n);
    return n > 1;
}

/*
 * A rename where either path lies in a mount of several destinations: in
 * every subcluster that may hold either path, at once, getFileInfo of the
 * source (subs[0..n)), of the destination (subs[n..2n)) and, for the old
 * rename (which moves into an existing directory), of the destination
 * directory's entry of the source's name (subs[2n..3n)). rename_done()
 * then sends it where the source lives, or answers as one NameNode would.
 */
void route_rename_probe(struct rcall *rc, struct rd_snap *snap, const struct method_row *m, const struct ipc_call *ic,
                        const char *src)
{
    char dst[RD_MAX_PATH];
    struct ha_ns *locs[RD_FT_MAX];
    int n = 0;
    if (!request_string(ic->param.p, ic->param.len, 2, dst, sizeof dst)) {
        fail_call(rc, snap, "java.io.IOException", "rename: the request names no destination");
        return;
    }
    add_locations(snap, src, locs, &n);
    add_locations(snap, dst, locs, &n);
    bool old = strcmp(m->name, "rename") == 0;
    int per = old ? 3 : 2;
    struct rstate *st = n > 0 ? st_new(rc, snap, m, per * n) : NULL;
    if (!st || buf_append(&st->orig, ic->param.p, ic->param.len) < 0 || !(st->client_path = strdup(src))) {
        if (st) {
            rc->route = NULL;
            st_free(st);
            hconn_reply_error(rc, "java.io.IOException", "out of memory");
        } else {
            fail_call(rc, snap, "java.io.IOException", "out of memory");
        }
        return;
    }
    st->probing = true;
    st->probe_second = true;
    st->probe_third = old;
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
            start_sub_method(st, i, locs[i], "getFileInfo", q, pb_put_bytes_field(q, 1, sp, strlen(sp)));
        else
            absent_sub(st, i);
        if (has_dst)
            start_sub_method(st, n + i, locs[i], "getFileInfo", q, pb_put_bytes_field(q, 1, dp, strlen(dp)));
        else
            absent_sub(st, n + i);
        if (!old)
            continue;
        int nl = snprintf(np, sizeof np, "%s/%s", strcmp(dp, "/") == 0 ? "" : dp, base);
        if (has_dst && *base && nl > 0 && (size_t)nl < sizeof np)
            start_sub_method(st, 2 * n + i, locs[i], "getFileInfo", q, pb_put_bytes_field(q, 1, np, (size_t)nl));
        else
            absent_sub(st, 2 * n + i);
    }
    guard_drop(st);
}

/*
 * Where the source and the destination are, per location (skind, dkind,
 * and for the old rename nkind: dst/<name of src>; 1 a directory, 2 a
 * file, 0 none). The rename goes to every location that holds the source
 * and where the destination has a place too. Where one NameNode would
 * refuse (the destination exists: rename2 without overwrite, the old rename
 * onto a file or onto an existing entry of the directory), the router
 * answers the same; where the pieces lie in different subclusters it
 * refuses, naming them, rather than leave two of a name or half a tree.
 */
static void rename_done(struct rstate *st, const int *skind, const int *dkind, const int *nkind)
{
    struct rcall *rc = st->rc;
    int n = st->ncands;
    bool old = strcmp(rc->method, "rename") == 0, overwrite = false;
    char dst[RD_MAX_PATH];
    if (!request_string(buf_rptr(&st->orig), buf_len(&st->orig), 2, dst, sizeof dst))
        snprintf(dst, sizeof dst, "?");
    const uint8_t *p = buf_rptr(&st->orig), *end = p + buf_len(&st->orig);
    struct pb_field f;
    while (pb_next_field(&p, end, &f) > 0)
        if (f.num == 3 && f.type == PB_VARINT && f.varint)
            overwrite = true;
    struct ha_ns *where[RD_FT_MAX];
    int nw = 0, first_pair = -1, dfile = -1, ddir = -1;
    for (int i = 0; i < n; i++) {
        bool paired = (st->src_at & st->dst_at & (1u << i)) != 0;
        if (paired && first_pair < 0)
            first_pair = i;
        if (dkind[i] == 2 && dfile < 0)
            dfile = i;
        if (dkind[i] == 1 && ddir < 0)
            ddir = i;
        if (!skind[i])
            continue;
        if (!paired) {
            probe_reply_error(st, "java.io.IOException",
                              "%s across subclusters is not supported: %s is in %s, where %s has no destination",
                              rc->method, st->client_path, st->cands[i]->name, dst);
            return;
        }
        where[nw++] = st->cands[i];
    }
    if (nw == 0) {
        /* The source is nowhere: a NameNode that could hold the pair
         * answers (not found, or false). */
        probe_send_one(st, st->cands[first_pair >= 0 ? first_pair : 0]);
        return;
    }
    /* Onto itself (the old rename into its own parent too): the NameNode
     * that holds it answers. */
    char self[RD_MAX_PATH + 256];
    norm_path(dst, self, sizeof self);
    char me[RD_MAX_PATH];
    norm_path(st->client_path, me, sizeof me);
    const char *base = strrchr(me, '/');
    bool onto_self = strcmp(self, me) == 0;
    if (!onto_self && old && base) {
        size_t sl = strlen(self);
        onto_self = (size_t)(base - me) == (sl == 1 ? 0 : sl) && strncmp(me, self, sl == 1 ? 0 : sl) == 0;
    }
    if (onto_self) {
        if (nw > 1)
            probe_send_all(st, where, nw);
        else
            probe_send_one(st, where[0]);
        return;
    }
    static const uint8_t no[2] = { 0x08, 0x00 }; /* RenameResponseProto result = false */
    if (old && (dfile >= 0 || (ddir >= 0 && nkind_any(nkind, n)))) {
        /* Onto a file, or into a directory that has an entry of that name:
         * a NameNode answers false. */
        rc->route = NULL;
        hconn_reply_raw(rc, no, sizeof no);
        st_free(st);
        return;
    }
    if (!old && (dfile >= 0 || ddir >= 0) && !overwrite) {
        probe_reply_error(st, "org.apache.hadoop.fs.FileAlreadyExistsException", "rename destination %s already exists",
                          dst);
        return;
    }
    if (dfile >= 0 || ddir >= 0) {
        /* The destination exists: every location of the source must hold it
         * (old rename: as a directory to move into; rename2 with overwrite:
         * the one location that holds both replaces it). */
        for (int i = 0; i < n; i++) {
            bool s = skind[i] != 0, d = dkind[i] != 0;
            bool fits = old ? (!s || dkind[i] == 1) && (!d || s || dkind[i] == 1) : (s == d);
            if (old && d && !s && dkind[i] == 1) {
                /* a directory there: only folder-all copies of it, which the
                 * locations of the source hold too */
                for (int k = 0; k < n && fits; k++)
                    if (skind[k] && dkind[k] != 1)
                        fits = false;
            }
            if (!fits) {
                probe_reply_error(st, "java.io.IOException",
                                  "%s across subclusters is not supported: %s is in %s, %s exists in %s", rc->method,
                                  st->client_path, where[0]->name, dst, st->cands[i]->name);
                return;
            }
        }
    }
    if (nw > 1)
        probe_send_all(st, where, nw);
    else
        probe_send_one(st, where[0]);
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
    int n = st->ncands, at = -1, kind = 0, pfile = -1;
    int skind[RD_FT_MAX], dkind[RD_FT_MAX], nkind[RD_FT_MAX];
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
        dkind[i] = nkind[i] = 0;
        for (int lv = 1; lv < st->probe_levels; lv++) {
            const struct sub *p = &st->subs[lv * n + i];
            if (probe_found(p, &id) == 2 && pfile < 0)
                pfile = i; /* an ancestor is a file there */
            if (!sub_ok(p) && !sub_not_found(p) && !bad)
                bad = p;
        }
        if (st->probe_third) {
            const struct sub *p = &st->subs[2 * n + i];
            nkind[i] = probe_found(p, &id);
            if (!sub_ok(p) && !sub_not_found(p) && !bad)
                bad = p;
        }
        if (st->probe_second) {
            const struct sub *p = &st->subs[n + i];
            dkind[i] = probe_found(p, &id);
            if (!sub_ok(p) && !sub_not_found(p) && !bad)
                bad = p;
        }
    }
    if (bad && !st->ft) {
        const char *ns = bad->hc.ns ? bad->hc.ns->name : "?";
        if (bad->ust == UP_OK)
            probe_reply_error(st, "java.io.IOException", "%s %s: cannot tell whether nameservice %s holds it: %s: %s",
                              rc->method, st->client_path, ns, bad->cls, bad->msg);
        else
            probe_reply_error(st, "java.io.IOException", "%s %s: cannot tell whether nameservice %s holds it: %s",
                              rc->method, st->client_path, ns, bad->why[0] ? bad->why : "subcluster unavailable");
        return;
    }
    if (is_rename(rc->method)) {
        rename_done(st, skind, dkind, nkind);
        return;
    }
    bool mkdirs = strcmp(rc->method, "mkdirs") == 0;
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

