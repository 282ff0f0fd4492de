/*
 * route_paths.c: the paths inside ClientProtocol messages, both ways.
 *
 *   request  --rd_map_request-->  every path string the row names (nested
 *                                 fields too) resolved in the snapshot,
 *                                 checked (read-only mounts, one subcluster,
 *                                 mount points that a write would remove),
 *                                 and replaced by its destination path
 *   response --rd_map_response--> every full path the row names mapped from
 *                                 the destination back to the mount point
 *
 * Both run on pbrewrite: bytes the row does not name are copied unchanged,
 * and a message with nothing to change is forwarded as it came.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "ha.h"
#include "jexc.h"
#include "methods.h"
#include "pbrewrite.h"
#include "route_deps.h"

/* ---- requests ---- */

struct req_ctx {
    struct rd_snap *snap;
    const struct method_row *m;
    const char *method;
    struct rd_req *req;
    struct rd_target tmp;
    char path[RD_MAX_PATH];
};

__attribute__((format(printf, 3, 4))) static int req_fail(struct rd_req *req, const char *cls, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    req->ecls = cls;
    vsnprintf(req->emsg, sizeof req->emsg, fmt, ap);
    va_end(ap);
    return -1;
}

/*
 * Refuses a call (METHOD_NO_MOUNT_POINT) whose path is a mount point or has
 * mount points below it, naming them as RBF does: the call would replace or
 * remove a mount entry, or reach only one subcluster's part of what the
 * client sees under the path. -1 (refused), 0.
 */
static int mount_point_refused(struct req_ctx *c)
{
    const struct method_row *m = c->m;
    const char *cls = m->refuse_class ? m->refuse_class : JEXC_ACCESS_CONTROL;
    if (rd_is_mount_point(c->snap, c->path))
        return req_fail(c->req, cls,
                        "%s is not allowed on %s: it is a mount point of the router (change the mount "
                        "table with fedrouter-admin)",
                        c->method, c->path);
    struct rd_dir d;
    rd_mount_dir(c->snap, c->path, &d);
    if (d.n == 0)
        return 0;
    char names[512];
    size_t w = 0;
    size_t i = 0;
    for (; i < d.n && i < 3; i++) {
        size_t l;
        const char *nm = rd_dir_name(&d, i, &l);
        int k = snprintf(names + w, sizeof names - w, "%s%.*s", i ? ", " : "", (int)(l > 100 ? 100 : l), nm);
        if (k < 0 || (size_t)k >= sizeof names - w)
            break;
        w += (size_t)k;
    }
    return req_fail(c->req, cls, "%s is not allowed on %s: mount points of the router lie below it (%s%s)", c->method,
                    c->path, names, i < d.n ? ", ..." : "");
}

static int map_req_path(void *vctx, unsigned idx, const uint8_t *s, size_t len, const uint8_t **out, size_t *out_len)
{
    struct req_ctx *c = vctx;
    struct rd_req *req = c->req;
    const struct method_row *m = c->m;
    if (len >= RD_MAX_PATH)
        return req_fail(req, JEXC_IO, "%s: a path of the request is longer than the router accepts",
                        c->method);
    memcpy(c->path, s, len);
    c->path[len] = 0;
    if (memchr(s, 0, len))
        return req_fail(req, JEXC_INVALID_PATH, "Invalid path name: a NUL byte in the path");
    /* A symlink's target may be relative to the link: it is not a path of
     * the federated namespace, so it goes as written. */
    if (idx > 0 && m->route == ROUTE_TWO_PATHS && c->path[0] != '/' && (m->flags & METHOD_LINK_TARGET))
        return 0;
    bool routing = req->npaths == 0;
    struct rd_target *t = routing ? &req->t : &c->tmp;
    char err[600];
    int rr = rd_resolve(c->snap, c->path, t, err, sizeof err);
    if (rr == -3 && routing) {
        req->no_mount = true;
        memcpy(req->client_path, c->path, len + 1);
    }
    if ((rr == 0 || rr == -3) && (m->flags & METHOD_NO_MOUNT_POINT) &&
        (routing || (m->flags & METHOD_NOMP_ALL_PATHS)) && mount_point_refused(c) < 0)
        return -1;
    if (rr < 0)
        return req_fail(req, rr == -2 ? JEXC_INVALID_PATH : JEXC_IO, "%s", err);
    /* Trying another location of the mount: the same path in that
     * nameservice's destination. */
    if (req->force_ns && t->ns != req->force_ns)
        rd_resolve_in(c->snap, c->path, req->force_ns, t);
    if (t->readonly && (m->flags & METHOD_WRITE))
        return req_fail(req, JEXC_ACCESS_CONTROL, "%s is in a read only mount point %s",
                        c->path, t->src);
    if ((m->flags & METHOD_NOT_MOUNT_ENTRY) && routing && rd_is_mount_point(c->snap, c->path))
        return req_fail(req, JEXC_ACCESS_CONTROL,
                        "Permission denied: %s of %s: a mount entry of the router, whose quota is the router's "
                        "own (quota.ns, quota.ss of the entry); change it with fedrouter-admin",
                        c->method, c->path);
    /* The other path of a rename or concat goes where the first one lives
     * when its mount has a destination there (RBF pairs source and
     * destination locations by subcluster). */
    if (!routing && t->ns != req->t.ns)
        rd_resolve_in(c->snap, c->path, req->t.ns, t);
    if (routing) {
        memcpy(req->client_path, c->path, len + 1);
    } else if (t->ns != req->t.ns) {
        req->across = true;
        req->ecls = JEXC_IO;
        snprintf(req->emsg, sizeof req->emsg,
                 "%s across subclusters is not supported: %.3000s is in %s, %.3000s is in %s", c->method,
                 req->client_path, req->t.ns->name, c->path, t->ns->name);
        return -1;
    }
    if (!routing) {
        snprintf(req->other_src, sizeof req->other_src, "%s", t->src);
        req->other_multi |= t->multi;
    }
    req->npaths++;
    *out = (const uint8_t *)t->path;
    *out_len = strlen(t->path);
    return 1;
}

int rd_map_request(struct rd_snap *s, const struct method_row *m, const char *method, const uint8_t *msg, size_t len,
                   struct rd_req *req, struct buf *out)
{
    static __thread struct req_ctx c;
    req->npaths = 0;
    req->no_mount = false;
    req->across = false;
    req->other_multi = false;
    req->other_src[0] = 0;
    req->ecls = NULL;
    req->emsg[0] = 0;
    req->client_path[0] = 0;
    c.snap = s;
    c.m = m;
    c.method = method;
    c.req = req;
    int rc = pbr_rewrite(msg, len, &m->req, map_req_path, &c, out);
    if (rc == PBR_EABORT)
        return -1;
    if (rc < 0) {
        req->ecls = JEXC_IO;
        snprintf(req->emsg, sizeof req->emsg, "%s: malformed request message", method);
        return -1;
    }
    return rc == PBR_CHANGED ? 1 : 0;
}

struct to_ctx {
    const char *path;
};

static int map_to(void *vctx, unsigned idx, const uint8_t *s, size_t len, const uint8_t **out, size_t *out_len)
{
    struct to_ctx *c = vctx;
    *out = (const uint8_t *)c->path;
    *out_len = strlen(c->path);
    return 1;
}

int rd_request_to(const struct method_row *m, const uint8_t *msg, size_t len, const char *newpath, struct buf *out)
{
    struct to_ctx c = { newpath };
    int rc = pbr_rewrite(msg, len, &m->req, map_to, &c, out);
    return rc < 0 ? -1 : rc == PBR_CHANGED ? 1 : 0;
}

/* ---- responses ---- */

struct resp_ctx {
    struct rd_snap *snap;
    const struct method_row *m;
    const char *ns_name;
    const char *dest, *src;
    char out[RD_MAX_PATH * 2];
};

/* Writes src + (s minus its dest prefix) into c->out when s lies at or under
 * dest; 0 when it does not. */
static int under(struct resp_ctx *c, const char *dest, const char *src, const uint8_t *s, size_t len)
{
    size_t dl = strlen(dest);
    if (dl == 1 && dest[0] == '/')
        dl = 0; /* the destination is the root: every absolute path is under it */
    if (len < dl || memcmp(s, dest, dl) != 0 || (len > dl && s[dl] != '/'))
        return 0;
    const uint8_t *rest = s + dl;
    size_t rl = len - dl;
    size_t sl = strlen(src);
    if (sl == 1 && src[0] == '/' && rl > 0)
        sl = 0; /* the mount point is the root: "/" + "/x" would double the slash */
    if (sl + rl >= sizeof c->out)
        return -1;
    memcpy(c->out, src, sl);
    memcpy(c->out + sl, rest, rl);
    c->out[sl + rl] = 0;
    return 1;
}

static int map_resp_path(void *vctx, unsigned idx, const uint8_t *s, size_t len, const uint8_t **out, size_t *out_len)
{
    struct resp_ctx *c = vctx;
    if (len == 0 || s[0] != '/')
        return 0; /* relative symlink targets, names */
    int r = 0;
    if (c->dest && c->dest[0]) {
        r = under(c, c->dest, c->src, s, len);
    } else if ((c->m->flags & METHOD_RESP_REVERSE) && c->ns_name) {
        char tmp[RD_MAX_PATH];
        if (len >= sizeof tmp)
            return 0;
        memcpy(tmp, s, len);
        tmp[len] = 0;
        r = rd_reverse(c->snap, c->ns_name, tmp, c->out, sizeof c->out);
    }
    if (r <= 0)
        return 0;
    *out = (const uint8_t *)c->out;
    *out_len = strlen(c->out);
    return 1;
}

/*
 * getSnapshottableDirListing names a directory by its parent's full path
 * (parent_fullpath, 4) and its own name (dirStatus 1 -> path 2). A mount
 * point whose destination has another name changes both: /sdst in ns2,
 * mounted at /s, is parent "/" and name "s" for the client. So each element
 * is mapped whole: joined, mapped back, split again.
 */
static const uint32_t SDIR_NAME[] = { 1, 2, 0 }; /* dirStatus.path, inside an element */
static const uint32_t SDIR_PARENT[] = { 4, 0 };  /* parent_fullpath */
static const uint32_t SDIR_ELEM[] = { 1, 1, 0 }; /* response: listing -> elements */

struct sdir_ctx {
    struct rd_snap *snap;
    const char *ns_name;
    struct buf elem; /* the rebuilt element */
    char full[RD_MAX_PATH * 2];
    char parent[RD_MAX_PATH * 2];
    const char *name; /* into full */
};

static int sdir_parent(void *vctx, unsigned idx, const uint8_t *s, size_t len)
{
    struct sdir_ctx *c = vctx;
    if (len >= RD_MAX_PATH)
        return -1;
    memcpy(c->parent, s, len);
    c->parent[len] = 0;
    return 0;
}

static int sdir_name(void *vctx, unsigned idx, const uint8_t *s, size_t len)
{
    struct sdir_ctx *c = vctx;
    size_t pl = strlen(c->parent);
    if (len >= RD_MAX_PATH || pl + 1 + len >= sizeof c->full)
        return -1;
    memcpy(c->full, c->parent, pl);
    if (!pl || c->parent[pl - 1] != '/')
        c->full[pl++] = '/';
    memcpy(c->full + pl, s, len);
    c->full[pl + len] = 0;
    return 0;
}

static int sdir_put(void *vctx, unsigned idx, const uint8_t *s, size_t len, const uint8_t **out, size_t *out_len)
{
    struct sdir_ctx *c = vctx;
    const char *v = idx == 0 ? c->name : c->parent;
    *out = (const uint8_t *)v;
    *out_len = strlen(v);
    return 1;
}

static int map_sdir(void *vctx, unsigned idx, const uint8_t *s, size_t len, const uint8_t **out, size_t *out_len)
{
    struct sdir_ctx *c = vctx;
    const uint32_t *const parts[2] = { SDIR_NAME, SDIR_PARENT };
    struct pb_pathset ps = { parts, 2 };
    c->parent[0] = c->full[0] = 0;
    /* parent_fullpath (4) comes after dirStatus (1) on the wire: read it first. */
    const uint32_t *only_parent[1] = { parts[1] };
    struct pb_pathset pp = { only_parent, 1 };
    if (pbr_walk(s, len, &pp, sdir_parent, c) < 0 || !c->parent[0])
        return 0;
    const uint32_t *only_name[1] = { parts[0] };
    struct pb_pathset pn = { only_name, 1 };
    if (pbr_walk(s, len, &pn, sdir_name, c) < 0 || !c->full[0])
        return 0;
    char mapped[RD_MAX_PATH * 2];
    if (rd_reverse(c->snap, c->ns_name, c->full, mapped, sizeof mapped) != 1 || strcmp(mapped, c->full) == 0)
        return 0;
    char *slash = strrchr(mapped, '/');
    if (!slash || !slash[1])
        return 0;
    memcpy(c->full, mapped, sizeof mapped < sizeof c->full ? sizeof mapped : sizeof c->full);
    slash = strrchr(c->full, '/');
    *slash = 0;
    c->name = slash + 1;
    snprintf(c->parent, sizeof c->parent, "%s", c->full[0] ? c->full : "/");
    buf_reset(&c->elem);
    if (pbr_rewrite(s, len, &ps, sdir_put, c, &c->elem) != PBR_CHANGED)
        return 0;
    *out = buf_rptr(&c->elem);
    *out_len = buf_len(&c->elem);
    return 1;
}

bool rd_response_maps(const struct method_row *m, const char *dest, const char *src)
{
    /* A mount whose destination has the same path maps every path to
     * itself: nothing to walk (listings are the hot case). */
    return m && m->resp.n && !(dest && src && strcmp(dest, src) == 0);
}

int rd_map_response(struct rd_snap *s, const struct method_row *m, const char *ns_name, const char *dest,
                    const char *src, const uint8_t *msg, size_t len, struct buf *out)
{
    if (!rd_response_maps(m, dest, src))
        return 0;
    if ((m->flags & METHOD_SNAPSHOT_DIRS) && ns_name) {
        /* A rare call: its scratch is its own, freed here (a thread's
         * cached buffer would outlive the thread). */
        struct sdir_ctx *sc = calloc(1, sizeof *sc);
        if (!sc)
            return -1;
        const uint32_t *const elems[1] = { SDIR_ELEM };
        struct pb_pathset ps = { elems, 1 };
        sc->snap = s;
        sc->ns_name = ns_name;
        int rc = pbr_rewrite(msg, len, &ps, map_sdir, sc, out);
        buf_free(&sc->elem);
        free(sc);
        return rc < 0 ? -1 : rc == PBR_CHANGED ? 1 : 0;
    }
    static __thread struct resp_ctx c;
    c.snap = s;
    c.m = m;
    c.ns_name = ns_name;
    c.dest = dest;
    c.src = src;
    int rc = pbr_rewrite(msg, len, &m->resp, map_resp_path, &c, out);
    return rc < 0 ? -1 : rc == PBR_CHANGED ? 1 : 0;
}

/* ---- block pools ---- */

struct pool_ctx {
    char *buf;
    size_t cap;
    bool found;
};

static int take_pool(void *vctx, unsigned idx, const uint8_t *s, size_t len)
{
    struct pool_ctx *c = vctx;
    if (len == 0 || len >= c->cap)
        return 0;
    memcpy(c->buf, s, len);
    c->buf[len] = 0;
    c->found = true;
    return 1;
}

const char *rd_request_pool(const struct method_row *m, const uint8_t *msg, size_t len, char *buf, size_t cap)
{
    if (!m || m->req_pool.n == 0)
        return NULL;
    struct pool_ctx c = { buf, cap, false };
    int rc = pbr_walk(msg, len, &m->req_pool, take_pool, &c);
    return (rc >= 0 && c.found) ? buf : NULL;
}

/* ---- paths inside NameNode error messages ---- */

static bool path_char_ends(const char *p)
{
    return *p == 0 || *p == ' ' || *p == '\t' || *p == '\n' || *p == '\'' || *p == '"' || *p == '`' || *p == ',' ||
           *p == ')' || *p == ']' || *p == ';' || (*p == ':' && (p[1] == ' ' || p[1] == 0));
}

void rd_map_message(struct rd_snap *s, const char *ns_name, const char *dest, const char *src, char *msg, size_t cap)
{
    static __thread struct resp_ctx c;
    static __thread char out[2048];
    size_t o = 0;
    bool changed = false;
    for (const char *p = msg; *p && o + 1 < sizeof out;) {
        bool starts = *p == '/' && (p == msg || strchr(" \t\n'\"`([=:", p[-1]) != NULL);
        if (!starts) {
            out[o++] = *p++;
            continue;
        }
        const char *e = p;
        while (!path_char_ends(e))
            e++;
        size_t len = (size_t)(e - p);
        const char *mapped = NULL;
        char rev[RD_MAX_PATH];
        if (len < RD_MAX_PATH) {
            if (dest && src && strcmp(dest, src) != 0 && under(&c, dest, src, (const uint8_t *)p, len) == 1) {
                mapped = c.out;
            } else if (ns_name) {
                char path[RD_MAX_PATH];
                memcpy(path, p, len);
                path[len] = 0;
                if (rd_reverse(s, ns_name, path, rev, sizeof rev) == 1 && strcmp(rev, path) != 0)
                    mapped = rev;
            }
        }
        if (mapped) {
            size_t ml = strlen(mapped);
            if (o + ml + 1 >= sizeof out)
                return; /* too long to rewrite: the message stays as the NameNode wrote it */
            memcpy(out + o, mapped, ml);
            o += ml;
            changed = true;
        } else {
            size_t n = len < sizeof out - o - 1 ? len : sizeof out - o - 1;
            memcpy(out + o, p, n);
            o += n;
        }
        p = e;
    }
    if (!changed)
        return;
    out[o] = 0;
    snprintf(msg, cap, "%s", out);
}
