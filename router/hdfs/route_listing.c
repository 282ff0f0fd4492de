/*
 * route_listing.c: what a listing and a status look like where the mount
 * table adds to the namespace.
 *
 *   getListing answers (0..n) + the mount points under the directory
 *      --merge--> one page: sorted, deduplicated, at most RD_LS_LIMIT entries,
 *                 cut where an answer has more to say
 *      --mount points on the page--> getFileInfo of each one's destinations
 *                 (route_subcalls.c, all at once) --> the page with their
 *                 status --> the client
 *
 * A mount point in a listing carries what getFileInfo of it answers: its
 * destination's status, or, where no destination holds it yet, a directory
 * made up from the mount entry (owner, group, mode, the entry's change time)
 * that getFileInfo of the mount point answers too.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "ClientNamenodeProtocol.pb-c.h"
#include "jexc.h"
#include "pbwire.h"
#include "route_internal.h"
#include "router.h"
#include "worker.h"

/* One entry of a page: a child some subcluster listed, or a mount point. */
struct lent {
    const Hadoop__Hdfs__HdfsFileStatusProto *real;  /* NULL: a mount point */
    const char *name;                   /* its name: into real or into the snapshot (not NUL-ended) */
    size_t len;
    uint32_t order;                     /* real: position over every answer (the first of a name wins) */
    bool hidden;                        /* real: a mount point has its name */
    const Hadoop__Hdfs__HdfsFileStatusProto *alt; /* mount point that is no mount entry (mounts lie
                                                     deeper): the real child of its name, if listed */
    int mp;                             /* mount point: its index in lpage.mp, else -1 */
};

/* A mount point on the page and what says its status. */
struct lmount {
    size_t entry;                       /* in lpage.e */
    int first, nsubs;                   /* its getFileInfo subcalls, in location order */
    Hadoop__Hdfs__GetFileInfoResponseProto *info; /* the status found (owned), or NULL */
};

/* A page being answered. */
struct lpage {
    struct rstate *st;                  /* the mount points' getFileInfo calls */
    struct ev_loop *loop;
    ev_timer tmo;                       /* RD_MOUNT_STATUS_S for their answers, started when active */
    struct rd_snap *snap;               /* held */
    struct router *router;
    char *dir;                          /* the directory, normalised */
    Hadoop__Hdfs__GetListingResponseProto **resp; /* the subclusters' answers, unpacked (owned) */
    int nresp;
    struct lent *e;                     /* the page, in order */
    size_t n;
    uint64_t remaining;
    struct lmount *mp;
    size_t nmp;
};

static void page_free(void *v)
{
    struct lpage *pg = v;
    if (!pg)
        return;
    if (pg->loop)
        ev_timer_stop(pg->loop, &pg->tmo);
    for (int i = 0; i < pg->nresp; i++)
        if (pg->resp[i])
            hadoop__hdfs__get_listing_response_proto__free_unpacked(pg->resp[i], NULL);
    for (size_t k = 0; k < pg->nmp; k++)
        if (pg->mp[k].info)
            hadoop__hdfs__get_file_info_response_proto__free_unpacked(pg->mp[k].info, NULL);
    if (pg->snap)
        rd_snap_release(pg->snap);
    free(pg->resp);
    free(pg->e);
    free(pg->mp);
    free(pg->dir);
    free(pg);
}

static int cmp_bytes(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

static int cmp_lent(const void *va, const void *vb)
{
    const struct lent *a = va, *b = vb;
    int c = cmp_bytes(a->name, a->len, b->name, b->len);
    if (c)
        return c;
    if (!a->real != !b->real)
        return a->real ? 1 : -1; /* the mount point first */
    return (a->order > b->order) - (a->order < b->order);
}

/* dir without repeated or trailing slashes (the mount table's form). */
static char *normal_dir(const char *dir)
{
    size_t n = strlen(dir);
    char *out = malloc(n + 2);
    if (!out)
        return NULL;
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (dir[i] != '/' || w == 0 || out[w - 1] != '/')
            out[w++] = dir[i];
    if (w > 1 && out[w - 1] == '/')
        w--;
    if (w == 0)
        out[w++] = '/';
    out[w] = 0;
    return out;
}

/* dir + "/" + name into out; false when it does not fit. */
static bool child_path(char *out, size_t cap, const char *dir, const char *name, size_t len)
{
    int w = snprintf(out, cap, "%s/%.*s", strcmp(dir, "/") == 0 ? "" : dir, (int)len, name);
    return w > 0 && (size_t)w < cap;
}

/*
 * A directory status the router makes up for a mount point that no
 * destination holds yet (full: its federated path): the entry's owner,
 * group and mode where it sets them (else the router's user, supergroup,
 * 0755), its change time (for a directory that only leads to deeper mount
 * points, the newest of theirs; 0 when unknown) and as children its mount
 * points. The same status every time, for getFileInfo and listings alike.
 */
static void made_up_status(Hadoop__Hdfs__HdfsFileStatusProto *st, Hadoop__Hdfs__FsPermissionProto *perm,
                           const char *name, size_t len, struct router *r, struct rd_snap *snap, const char *full)
{
    Hadoop__Hdfs__HdfsFileStatusProto s0 = HADOOP__HDFS__HDFS_FILE_STATUS_PROTO__INIT;
    Hadoop__Hdfs__FsPermissionProto p0 = HADOOP__HDFS__FS_PERMISSION_PROTO__INIT;
    *st = s0;
    *perm = p0;
    perm->perm = 0755;
    st->filetype = HADOOP__HDFS__HDFS_FILE_STATUS_PROTO__FILE_TYPE__IS_DIR;
    st->path.data = (uint8_t *)name;
    st->path.len = len;
    st->permission = perm;
    st->owner = (char *)r->user;
    st->group = "supergroup";
    struct rd_mount_info mi;
    if (rd_mount_info(snap, full, &mi)) {
        perm->perm = mi.mode;
        if (*mi.owner)
            st->owner = (char *)mi.owner;
        if (*mi.group)
            st->group = (char *)mi.group;
        st->modification_time = mi.mtime_ms;
    } else {
        st->modification_time = rd_mount_mtime(snap, full);
    }
    st->access_time = st->modification_time;
    struct rd_dir d;
    rd_mount_dir(snap, full, &d);
    st->has_childrennum = 1;
    st->childrennum = (int32_t)(d.n > INT32_MAX ? INT32_MAX : d.n);
}

/* Packs the page and answers the client. */
static void reply_page(struct rcall *rc, struct lpage *pg)
{
    Hadoop__Hdfs__HdfsFileStatusProto **all = calloc(pg->n + 1, sizeof *all);
    Hadoop__Hdfs__HdfsFileStatusProto *made = calloc(pg->nmp + 1, sizeof *made);
    Hadoop__Hdfs__FsPermissionProto *perm = calloc(pg->nmp + 1, sizeof *perm);
    ProtobufCBinaryData *saved = calloc(pg->nmp + 1, sizeof *saved);
    if (!all || !made || !perm || !saved) {
        hconn_reply_error(rc, JEXC_IO, "out of memory answering a listing");
        goto out;
    }
    for (size_t i = 0; i < pg->n; i++) {
        const struct lent *e = &pg->e[i];
        if (e->real) {
            all[i] = (Hadoop__Hdfs__HdfsFileStatusProto *)e->real;
            continue;
        }
        struct lmount *m = &pg->mp[e->mp];
        if (m->info && m->info->fs) {
            /* The destination's status under the mount point's name (put
             * back before the answer is freed). */
            all[i] = m->info->fs;
            saved[e->mp] = all[i]->path;
            all[i]->path.data = (uint8_t *)e->name;
            all[i]->path.len = e->len;
        } else if (e->alt) {
            all[i] = (Hadoop__Hdfs__HdfsFileStatusProto *)e->alt;
        } else {
            char full[RD_MAX_PATH];
            if (!child_path(full, sizeof full, pg->dir, e->name, e->len))
                full[0] = 0;
            made_up_status(&made[e->mp], &perm[e->mp], e->name, e->len, pg->router, pg->snap, full);
            all[i] = &made[e->mp];
        }
    }
    Hadoop__Hdfs__DirectoryListingProto dl = HADOOP__HDFS__DIRECTORY_LISTING_PROTO__INIT;
    dl.n_partiallisting = pg->n;
    dl.partiallisting = all;
    dl.remainingentries = (uint32_t)(pg->remaining > UINT32_MAX ? UINT32_MAX : pg->remaining);
    Hadoop__Hdfs__GetListingResponseProto out = HADOOP__HDFS__GET_LISTING_RESPONSE_PROTO__INIT;
    out.dirlist = &dl;
    size_t sz = protobuf_c_message_get_packed_size(&out.base);
    uint8_t *packed = malloc(sz ? sz : 1);
    if (packed)
        protobuf_c_message_pack(&out.base, packed);
    for (size_t k = 0; k < pg->nmp; k++)
        if (pg->mp[k].info && pg->mp[k].info->fs)
            pg->mp[k].info->fs->path = saved[k];
    if (packed)
        hconn_reply_raw(rc, packed, sz);
    else
        hconn_reply_error(rc, JEXC_IO, "out of memory answering a listing");
    free(packed);
out:
    free(all);
    free(made);
    free(perm);
    free(saved);
}

/* Every getFileInfo answered: each mount point takes the status of its
 * first location that has one. */
static void mount_status_finish(struct rstate *st)
{
    struct lpage *pg = st->extra;
    for (size_t k = 0; k < pg->nmp; k++) {
        struct lmount *m = &pg->mp[k];
        for (int j = m->first; j < m->first + m->nsubs && !m->info; j++) {
            const struct sub *s = &st->subs[j];
            if (!route_sub_ok(s))
                continue; /* missing, unreachable, not allowed: the next, else made up */
            Hadoop__Hdfs__GetFileInfoResponseProto *r = hadoop__hdfs__get_file_info_response_proto__unpack(
                NULL, buf_len(&s->payload), buf_rptr(&s->payload));
            if (r && r->fs)
                m->info = r;
            else if (r)
                hadoop__hdfs__get_file_info_response_proto__free_unpacked(r, NULL);
        }
    }
    reply_page(st->rc, pg);
}

/* A destination slow to answer does not hold up the listing: the mount
 * points still waiting get the status made up from their entry. */
static void mount_status_late(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct lpage *pg = w->data;
    route_own_expire(pg->st);
}

/* Where to ask for a mount point's status. */
struct lask {
    size_t mp;
    struct ha_ns *ns;
    char *path;                         /* owned */
};

/* The locations of the mount entry at full, in the order getFileInfo of it
 * tries them, appended to *asks. -1 when out of memory. */
static int add_asks(struct rd_snap *snap, const char *full, size_t mp, struct lask **asks, size_t *n, size_t *cap)
{
    static __thread struct rd_target t;
    char err[RD_MAX_PATH + 200];
    if (rd_resolve(snap, full, &t, err, sizeof err) < 0)
        return 0; /* nowhere to ask: made up */
    struct ha_ns *cands[RD_FT_MAX];
    int nc = t.multi ? rd_locations(snap, full, t.ns, cands, RD_FT_MAX) : 0;
    if (nc < 1) {
        cands[0] = t.ns;
        nc = 1;
    }
    for (int i = 0; i < nc; i++) {
        if (i > 0 && rd_resolve_in(snap, full, cands[i], &t) < 0)
            continue;
        if (*n == *cap) {
            size_t nc2 = *cap ? 2 * *cap : 64;
            struct lask *g = realloc(*asks, nc2 * sizeof *g);
            if (!g)
                return -1;
            *asks = g;
            *cap = nc2;
        }
        char *p = strdup(t.path);
        if (!p)
            return -1;
        (*asks)[(*n)++] = (struct lask){ mp, cands[i], p };
    }
    return 0;
}

/*
 * The page of a getListing merged from the answers in st (the destinations
 * of a HASH_ALL directory, or the one location) and the mount points under
 * the directory. Each answer is one page of its own after the client's
 * startAfter; when an answer has more, this page must stop at its last
 * entry, so the cut is the smallest such last entry. Names are unique: a
 * mount point hides a real child of its name, and a directory in several
 * destinations shows once. Then the page stops after RD_LS_LIMIT entries,
 * and remainingEntries counts what the next pages will show: the
 * subclusters' remaining entries, the listed ones left out, and the mount
 * points after the page.
 */
void reply_merged_listing(struct rstate *st)
{
    struct rcall *rc = st->rc;
    struct lpage *pg = calloc(1, sizeof *pg);
    struct lent *c = NULL;
    struct lask *asks = NULL;
    size_t nask = 0, capask = 0;
    if (!pg || !(pg->resp = calloc((size_t)st->nsub + 1, sizeof *pg->resp)) ||
        !(pg->dir = normal_dir(st->client_path ? st->client_path : "/"))) {
        hconn_reply_error(rc, JEXC_IO, "out of memory merging a listing");
        goto out;
    }
    pg->router = rc->c->w->router;
    pg->snap = rd_snap_hold(st->snap);
    pg->nresp = st->nsub;
    struct rd_dir d = { 0 };
    if (st->client_path)
        rd_mount_dir(st->snap, pg->dir, &d);
    const Hadoop__Hdfs__HdfsFileStatusProto *cut = NULL;
    size_t nreal = 0;
    uint64_t nn_left = 0;
    bool any_dir = d.n > 0;
    for (int i = 0; i < st->nsub; i++) {
        pg->resp[i] = hadoop__hdfs__get_listing_response_proto__unpack(NULL, buf_len(&st->subs[i].payload),
                                                                       buf_rptr(&st->subs[i].payload));
        Hadoop__Hdfs__DirectoryListingProto *dl = pg->resp[i] ? pg->resp[i]->dirlist : NULL;
        if (!dl)
            continue;
        any_dir = true;
        nreal += dl->n_partiallisting;
        nn_left += dl->remainingentries;
        if (dl->remainingentries && dl->n_partiallisting) {
            const Hadoop__Hdfs__HdfsFileStatusProto *last = dl->partiallisting[dl->n_partiallisting - 1];
            if (!cut || cmp_bytes((const char *)last->path.data, last->path.len, (const char *)cut->path.data,
                                  cut->path.len) < 0)
                cut = last;
        }
    }
    if (!any_dir) {
        /* No destination has the directory and no mount point lies below. */
        hconn_reply_raw(rc, buf_rptr(&st->subs[0].payload), buf_len(&st->subs[0].payload));
        goto out;
    }
    /* The mount points that may be on this page: at most a page of them
     * after startAfter, none after the cut. */
    size_t a = st->sa_len ? rd_dir_after(&d, st->start_after, st->sa_len) : 0;
    size_t nwin = 0;
    while (a + nwin < d.n && nwin < RD_LS_LIMIT) {
        size_t l;
        const char *nm = rd_dir_name(&d, a + nwin, &l);
        if (cut && cmp_bytes(nm, l, (const char *)cut->path.data, cut->path.len) > 0)
            break;
        nwin++;
    }
    c = calloc(nreal + nwin + 1, sizeof *c);
    if (!c) {
        hconn_reply_error(rc, JEXC_IO, "out of memory merging a listing");
        goto out;
    }
    size_t nc = 0;
    for (size_t k = 0; k < nwin; k++) {
        c[nc].name = rd_dir_name(&d, a + k, &c[nc].len);
        c[nc].mp = -1;
        nc++;
    }
    uint32_t order = 0;
    for (int i = 0; i < st->nsub; i++) {
        Hadoop__Hdfs__DirectoryListingProto *dl = pg->resp[i] ? pg->resp[i]->dirlist : NULL;
        for (size_t j = 0; dl && j < dl->n_partiallisting; j++) {
            const Hadoop__Hdfs__HdfsFileStatusProto *e = dl->partiallisting[j];
            c[nc] = (struct lent){ .real = e, .name = (const char *)e->path.data, .len = e->path.len,
                                   .order = order++, .mp = -1 };
            c[nc].hidden = rd_dir_has(&d, c[nc].name, c[nc].len);
            nc++;
        }
    }
    qsort(c, nc, sizeof *c, cmp_lent);
    /* One entry a name: a mount point over the real child of its name (kept
     * as its status when the mount point is no mount entry), the first of
     * the answers over the others. A hidden child whose mount point is not
     * among these waits for the page that shows the mount point. */
    size_t w = 0;
    for (size_t i = 0; i < nc;) {
        size_t j = i + 1;
        while (j < nc && cmp_bytes(c[j].name, c[j].len, c[i].name, c[i].len) == 0)
            j++;
        if (!c[i].real) {
            if (j > i + 1)
                c[i].alt = c[i + 1].real;
            c[w++] = c[i];
        } else if (!c[i].hidden) {
            c[w++] = c[i];
        }
        i = j;
    }
    nc = w;
    size_t n = 0;
    while (n < nc && n < RD_LS_LIMIT &&
           !(cut && cmp_bytes(c[n].name, c[n].len, (const char *)cut->path.data, cut->path.len) > 0))
        n++;
    uint64_t left = nn_left;
    for (size_t i = n; i < nc; i++)
        left += c[i].real != NULL;
    left += d.n - (n ? rd_dir_after(&d, c[n - 1].name, c[n - 1].len) : a);
    pg->e = c;
    pg->n = n;
    pg->remaining = left;
    c = NULL;
    /* Mount points on the page: a mount entry's status comes from its
     * destinations; a directory that only leads to deeper mount points is
     * the real child of its name where one was listed, else made up. */
    size_t nmp = 0;
    for (size_t i = 0; i < n; i++)
        nmp += pg->e[i].real == NULL;
    pg->mp = calloc(nmp + 1, sizeof *pg->mp);
    if (!pg->mp) {
        hconn_reply_error(rc, JEXC_IO, "out of memory merging a listing");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct lent *e = &pg->e[i];
        if (e->real)
            continue;
        size_t k = pg->nmp++;
        e->mp = (int)k;
        pg->mp[k].entry = i;
        pg->mp[k].first = (int)nask;
        bool entry = rd_dir_is_mount(&d, rd_dir_after(&d, e->name, e->len) - 1);
        char full[RD_MAX_PATH];
        if (entry)
            e->alt = NULL; /* its status is its destination's, as getFileInfo answers */
        if (entry && child_path(full, sizeof full, pg->dir, e->name, e->len) &&
            add_asks(st->snap, full, k, &asks, &nask, &capask) < 0) {
            hconn_reply_error(rc, JEXC_IO, "out of memory merging a listing");
            goto out;
        }
        pg->mp[k].nsubs = (int)nask - pg->mp[k].first;
    }
    if (nask == 0) {
        reply_page(rc, pg);
        goto out;
    }
    struct rstate *st2 = route_own_state(rc, rd_snap_hold(st->snap), st->m, (int)nask, mount_status_finish);
    if (!st2) {
        rd_snap_release(st->snap); /* the reference taken for st2 */
        hconn_reply_error(rc, JEXC_IO, "out of memory merging a listing");
        goto out;
    }
    st2->extra = pg;
    st2->free_extra = page_free;
    pg->st = st2;
    pg->loop = rc->c->w->loop;
    ev_timer_init(&pg->tmo, mount_status_late, RD_MOUNT_STATUS_S, 0);
    pg->tmo.data = pg;
    ev_timer_start(pg->loop, &pg->tmo);
    pg = NULL;
    uint8_t *param = NULL;
    size_t pcap = 0;
    for (size_t i = 0; i < nask; i++) {
        size_t pl = strlen(asks[i].path);
        if (pl + 16 > pcap) {
            uint8_t *g = realloc(param, pl + 16);
            if (!g) {
                st2->subs[i].finished = true;
                st2->subs[i].ust = UP_EPROTO;
                snprintf(st2->subs[i].why, sizeof st2->subs[i].why, "out of memory");
                st2->pending--; /* never the last: the guard holds */
                continue;
            }
            param = g;
            pcap = pl + 16;
        }
        /* GetFileInfoRequestProto.src */
        route_own_send(st2, (int)i, asks[i].ns, "getFileInfo", param, pb_put_bytes_field(param, 1, asks[i].path, pl));
    }
    free(param);
    route_own_go(st2);
out:
    for (size_t i = 0; i < nask; i++)
        free(asks[i].path);
    free(asks);
    free(c);
    page_free(pg);
}

/* getFileInfo of a mount point (or of a directory above mount points) whose
 * destination has nothing there yet: a directory. */
bool reply_mount_fileinfo(struct rstate *st, const uint8_t *payload, size_t len)
{
    const uint8_t *p = payload, *end = payload + len;
    struct pb_field f;
    int rc;
    while ((rc = pb_next_field(&p, end, &f)) > 0)
        if (f.num == 1)
            return false; /* the destination answered a status: keep it */
    if (!st->client_path)
        return false;
    char *dir = normal_dir(st->client_path);
    if (!dir || (!rd_is_mount_point(st->snap, dir) && !rd_has_mount_points(st->snap, dir))) {
        free(dir);
        return false;
    }
    Hadoop__Hdfs__HdfsFileStatusProto s;
    Hadoop__Hdfs__FsPermissionProto perm;
    made_up_status(&s, &perm, "", 0, st->rc->c->w->router, st->snap, dir);
    Hadoop__Hdfs__GetFileInfoResponseProto out = HADOOP__HDFS__GET_FILE_INFO_RESPONSE_PROTO__INIT;
    out.fs = &s;
    size_t sz = protobuf_c_message_get_packed_size(&out.base);
    uint8_t *packed = malloc(sz ? sz : 1);
    free(dir);
    if (!packed) {
        hconn_reply_error(st->rc, JEXC_IO, "out of memory");
        return true;
    }
    protobuf_c_message_pack(&out.base, packed);
    hconn_reply_raw(st->rc, packed, sz);
    free(packed);
    return true;
}

/* Reads the client's startAfter (GetListingRequestProto field 2). */
void take_start_after(struct rstate *st, const struct ipc_call *ic)
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
