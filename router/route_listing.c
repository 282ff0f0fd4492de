/*
 * route_listing.c: what a listing and a status look like where the mount
 * table adds to the namespace: mount points merged into their parent's
 * listing (sorted, paged with startAfter across every answer), and a mount
 * point that answers getFileInfo as a directory before its destination
 * exists, with the entry's owner, group and mode.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "ClientNamenodeProtocol.pb-c.h"
#include "pbwire.h"
#include "route_internal.h"
#include "router.h"
#include "worker.h"

#define MAX_MOUNT_CHILDREN 1024

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
void reply_merged_listing(struct rstate *st)
{
    struct rcall *rc = st->rc;
    struct router *r = rc->c->w->router;
    const char *names[MAX_MOUNT_CHILDREN];
    int nm = st->client_path ? rd_mount_children(st->snap, st->client_path, names, MAX_MOUNT_CHILDREN) : 0;
    Hadoop__Hdfs__GetListingResponseProto **resp = calloc((size_t)st->nsub + 1, sizeof *resp);
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
bool reply_mount_fileinfo(struct rstate *st, const uint8_t *payload, size_t len)
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
    size_t sz = protobuf_c_message_get_packed_size(&out.base);
    uint8_t *packed = malloc(sz ? sz : 1);
    if (!packed) {
        hconn_reply_error(st->rc, "java.io.IOException", "out of memory");
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

