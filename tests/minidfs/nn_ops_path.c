/*
 * nn_ops_path.c: ClientProtocol calls that read or change the namespace by
 * path: status, listing, mkdirs, createSymlink, delete, rename, attributes,
 * summaries, extended attributes, snapshots, ACL status and access checks.
 * Each handler: decode, call fsns, encode, free.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.pb-c.h"
#include "datanode.h"
#include "encryption.pb-c.h"
#include "nn_ops.h"
#include "xattr.pb-c.h"

#define FREE(pfx, m) pfx##__free_unpacked((m), NULL)

void nn_reply_fsns_err(struct nn_call *call, const struct fsns_err *err)
{
    nn_reply_error(call, err->cls ? err->cls : "java.io.IOException", "%s", err->msg);
}

void nn_drop_blocks(struct nn *nn, struct fsns_blocklist *bl)
{
    for (size_t i = 0; i < bl->n; i++)
        datanode_delete_block(nn->dn, bl->ids[i]);
    fsns_blocklist_free(bl);
}

/* getFileInfo and getFileLinkInfo: no symlinks are followed in minidfs. */
static void file_info(struct nn *nn, struct nn_call *call, const char *src, bool located)
{
    struct fsns_stat st;
    struct fsns_err err;
    struct nn_status_buf sb;
    Hadoop__Hdfs__LocatedBlocksProto *lbs = NULL;
    Hadoop__Hdfs__GetFileInfoResponseProto r = HADOOP__HDFS__GET_FILE_INFO_RESPONSE_PROTO__INIT;
    if (fsns_getfileinfo(nn->ns, call->user, src, &st, &err) < 0) {
        if (err.code != FSNS_ENOENT) {
            nn_reply_fsns_err(call, &err);
            return;
        }
    } else {
        nn_fill_status(&sb, &st);
        if (located && st.type == FSNS_FILE) {
            lbs = nn_new_located_blocks(nn, &st, 0, st.length);
            sb.st.locations = lbs;
        }
        r.fs = &sb.st;
    }
    /* The three responses share one layout: optional HdfsFileStatusProto fs = 1. */
    nn_reply(call, &r.base);
    nn_free_located_blocks(lbs);
}

NN_HANDLER(getFileInfo)
{
    NN_DECODE(req, Hadoop__Hdfs__GetFileInfoRequestProto, hadoop__hdfs__get_file_info_request_proto, call, param, len);
    file_info(nn, call, req->src, false);
    FREE(hadoop__hdfs__get_file_info_request_proto, req);
}

NN_HANDLER(getFileLinkInfo)
{
    NN_DECODE(req, Hadoop__Hdfs__GetFileLinkInfoRequestProto, hadoop__hdfs__get_file_link_info_request_proto, call,
              param, len);
    file_info(nn, call, req->src, false);
    FREE(hadoop__hdfs__get_file_link_info_request_proto, req);
}

NN_HANDLER(getLocatedFileInfo)
{
    NN_DECODE(req, Hadoop__Hdfs__GetLocatedFileInfoRequestProto, hadoop__hdfs__get_located_file_info_request_proto,
              call, param, len);
    file_info(nn, call, req->src, true);
    FREE(hadoop__hdfs__get_located_file_info_request_proto, req);
}

#define LISTING_LIMIT 1000 /* dfs.ls.limit */

NN_HANDLER(getListing)
{
    NN_DECODE(req, Hadoop__Hdfs__GetListingRequestProto, hadoop__hdfs__get_listing_request_proto, call, param, len);
    static struct fsns_stat sts[LISTING_LIMIT];
    static struct nn_status_buf sbs[LISTING_LIMIT];
    static Hadoop__Hdfs__HdfsFileStatusProto *ptrs[LISTING_LIMIT];
    Hadoop__Hdfs__LocatedBlocksProto *lbs[LISTING_LIMIT];
    uint32_t n = 0, remaining = 0;
    struct fsns_err err;
    Hadoop__Hdfs__GetListingResponseProto r = HADOOP__HDFS__GET_LISTING_RESPONSE_PROTO__INIT;
    Hadoop__Hdfs__DirectoryListingProto dl = HADOOP__HDFS__DIRECTORY_LISTING_PROTO__INIT;
    if (fsns_getlisting(nn->ns, call->user, req->src, (const char *)req->startafter.data, req->startafter.len,
                        LISTING_LIMIT, sts, &n, &remaining, &err) < 0) {
        if (err.code != FSNS_ENOENT) {
            nn_reply_fsns_err(call, &err);
            FREE(hadoop__hdfs__get_listing_request_proto, req);
            return;
        }
        nn_reply(call, &r.base); /* missing directory: no dirList */
        FREE(hadoop__hdfs__get_listing_request_proto, req);
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        nn_fill_status(&sbs[i], &sts[i]);
        lbs[i] = NULL;
        if (req->needlocation && sts[i].type == FSNS_FILE) {
            lbs[i] = nn_new_located_blocks(nn, &sts[i], 0, sts[i].length);
            sbs[i].st.locations = lbs[i];
        }
        ptrs[i] = &sbs[i].st;
    }
    dl.n_partiallisting = n;
    dl.partiallisting = ptrs;
    dl.remainingentries = remaining;
    r.dirlist = &dl;
    nn_reply(call, &r.base);
    for (uint32_t i = 0; i < n; i++)
        nn_free_located_blocks(lbs[i]);
    FREE(hadoop__hdfs__get_listing_request_proto, req);
}

/* mkdirs with createParent = false: the parent must be an existing
 * directory. Answers the call and returns true when it is not. */
static bool parent_missing(struct nn *nn, struct nn_call *call, const char *src)
{
    char parent[8192];
    size_t n = strlen(src);
    while (n > 1 && src[n - 1] == '/')
        n--; /* a trailing slash names the same directory */
    while (n > 0 && src[n - 1] != '/')
        n--;
    while (n > 1 && src[n - 1] == '/')
        n--;
    if (n == 0 || n >= sizeof parent)
        return false; /* relative or huge: fsns_mkdirs gives the right error */
    memcpy(parent, src, n);
    parent[n] = 0;
    struct fsns_stat st;
    struct fsns_err err;
    if (fsns_getfileinfo(nn->ns, call->user, parent, &st, &err) < 0) {
        if (err.code == FSNS_ENOENT)
            nn_reply_error(call, "java.io.FileNotFoundException", "Parent directory doesn't exist: %s", parent);
        else
            nn_reply_fsns_err(call, &err);
        return true;
    }
    if (st.type != FSNS_DIR) {
        nn_reply_error(call, "org.apache.hadoop.fs.ParentNotDirectoryException", "%s (is not a directory)", parent);
        return true;
    }
    return false;
}

NN_HANDLER(mkdirs)
{
    NN_DECODE(req, Hadoop__Hdfs__MkdirsRequestProto, hadoop__hdfs__mkdirs_request_proto, call, param, len);
    struct fsns_err err;
    if (!req->createparent && parent_missing(nn, call, req->src)) {
        FREE(hadoop__hdfs__mkdirs_request_proto, req);
        return;
    }
    if (fsns_mkdirs(nn->ns, call->user, req->src, (uint16_t)(req->masked->perm & 07777), &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        Hadoop__Hdfs__MkdirsResponseProto r = HADOOP__HDFS__MKDIRS_RESPONSE_PROTO__INIT;
        r.result = 1;
        nn_reply(call, &r.base);
    }
    FREE(hadoop__hdfs__mkdirs_request_proto, req);
}

/* createSymlink: the target is stored as sent; nothing here follows it. */
NN_HANDLER(createSymlink)
{
    NN_DECODE(req, Hadoop__Hdfs__CreateSymlinkRequestProto, hadoop__hdfs__create_symlink_request_proto, call, param,
              len);
    struct fsns_err err;
    if (fsns_symlink(nn->ns, call->user, req->target, req->link, (uint16_t)(req->dirperm->perm & 07777),
                     req->createparent, &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        Hadoop__Hdfs__CreateSymlinkResponseProto r = HADOOP__HDFS__CREATE_SYMLINK_RESPONSE_PROTO__INIT;
        nn_reply(call, &r.base);
    }
    FREE(hadoop__hdfs__create_symlink_request_proto, req);
}

NN_HANDLER(delete)
{
    NN_DECODE(req, Hadoop__Hdfs__DeleteRequestProto, hadoop__hdfs__delete_request_proto, call, param, len);
    struct fsns_err err;
    struct fsns_blocklist removed = { 0 };
    bool deleted = false;
    if (fsns_delete(nn->ns, call->user, req->src, req->recursive, &deleted, &removed, &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        Hadoop__Hdfs__DeleteResponseProto r = HADOOP__HDFS__DELETE_RESPONSE_PROTO__INIT;
        r.result = deleted;
        nn_reply(call, &r.base);
    }
    nn_drop_blocks(nn, &removed);
    FREE(hadoop__hdfs__delete_request_proto, req);
}

NN_HANDLER(rename)
{
    NN_DECODE(req, Hadoop__Hdfs__RenameRequestProto, hadoop__hdfs__rename_request_proto, call, param, len);
    struct fsns_err err;
    bool ok = false;
    if (fsns_rename(nn->ns, call->user, req->src, req->dst, &ok, &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        Hadoop__Hdfs__RenameResponseProto r = HADOOP__HDFS__RENAME_RESPONSE_PROTO__INIT;
        r.result = ok;
        nn_reply(call, &r.base);
    }
    FREE(hadoop__hdfs__rename_request_proto, req);
}

NN_HANDLER(rename2)
{
    NN_DECODE(req, Hadoop__Hdfs__Rename2RequestProto, hadoop__hdfs__rename2_request_proto, call, param, len);
    struct fsns_err err;
    struct fsns_blocklist removed = { 0 };
    if (fsns_rename2(nn->ns, call->user, req->src, req->dst, req->overwritedest, &removed, &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        Hadoop__Hdfs__Rename2ResponseProto r = HADOOP__HDFS__RENAME2_RESPONSE_PROTO__INIT;
        nn_reply(call, &r.base);
    }
    nn_drop_blocks(nn, &removed);
    FREE(hadoop__hdfs__rename2_request_proto, req);
}

NN_HANDLER(setPermission)
{
    NN_DECODE(req, Hadoop__Hdfs__SetPermissionRequestProto, hadoop__hdfs__set_permission_request_proto, call, param,
              len);
    struct fsns_err err;
    if (fsns_setpermission(nn->ns, call->user, req->src, (uint16_t)(req->permission->perm & 07777), &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        Hadoop__Hdfs__SetPermissionResponseProto r = HADOOP__HDFS__SET_PERMISSION_RESPONSE_PROTO__INIT;
        nn_reply(call, &r.base);
    }
    FREE(hadoop__hdfs__set_permission_request_proto, req);
}

NN_HANDLER(setOwner)
{
    NN_DECODE(req, Hadoop__Hdfs__SetOwnerRequestProto, hadoop__hdfs__set_owner_request_proto, call, param, len);
    struct fsns_err err;
    if (fsns_setowner(nn->ns, call->user, req->src, req->username, req->groupname, &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        Hadoop__Hdfs__SetOwnerResponseProto r = HADOOP__HDFS__SET_OWNER_RESPONSE_PROTO__INIT;
        nn_reply(call, &r.base);
    }
    FREE(hadoop__hdfs__set_owner_request_proto, req);
}

NN_HANDLER(setTimes)
{
    NN_DECODE(req, Hadoop__Hdfs__SetTimesRequestProto, hadoop__hdfs__set_times_request_proto, call, param, len);
    struct fsns_err err;
    if (fsns_settimes(nn->ns, call->user, req->src, (int64_t)req->mtime, (int64_t)req->atime, &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        Hadoop__Hdfs__SetTimesResponseProto r = HADOOP__HDFS__SET_TIMES_RESPONSE_PROTO__INIT;
        nn_reply(call, &r.base);
    }
    FREE(hadoop__hdfs__set_times_request_proto, req);
}

NN_HANDLER(setReplication)
{
    NN_DECODE(req, Hadoop__Hdfs__SetReplicationRequestProto, hadoop__hdfs__set_replication_request_proto, call, param,
              len);
    struct fsns_err err;
    bool ok = false;
    if (fsns_setreplication(nn->ns, call->user, req->src, req->replication, &ok, &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        Hadoop__Hdfs__SetReplicationResponseProto r = HADOOP__HDFS__SET_REPLICATION_RESPONSE_PROTO__INIT;
        r.result = ok;
        nn_reply(call, &r.base);
    }
    FREE(hadoop__hdfs__set_replication_request_proto, req);
}

NN_HANDLER(getContentSummary)
{
    NN_DECODE(req, Hadoop__Hdfs__GetContentSummaryRequestProto, hadoop__hdfs__get_content_summary_request_proto, call,
              param, len);
    struct fsns_err err;
    struct fsns_summary s;
    if (fsns_content_summary(nn->ns, call->user, req->path, &s, &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        Hadoop__Hdfs__ContentSummaryProto cs = HADOOP__HDFS__CONTENT_SUMMARY_PROTO__INIT;
        cs.length = s.length;
        cs.filecount = s.file_count;
        cs.directorycount = s.directory_count;
        cs.quota = (uint64_t)s.quota;
        cs.spaceconsumed = s.space_consumed;
        cs.spacequota = (uint64_t)s.space_quota;
        Hadoop__Hdfs__GetContentSummaryResponseProto r = HADOOP__HDFS__GET_CONTENT_SUMMARY_RESPONSE_PROTO__INIT;
        r.summary = &cs;
        nn_reply(call, &r.base);
    }
    FREE(hadoop__hdfs__get_content_summary_request_proto, req);
}

NN_HANDLER(getQuotaUsage)
{
    NN_DECODE(req, Hadoop__Hdfs__GetQuotaUsageRequestProto, hadoop__hdfs__get_quota_usage_request_proto, call, param,
              len);
    struct fsns_err err;
    struct fsns_summary s;
    if (fsns_content_summary(nn->ns, call->user, req->path, &s, &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        Hadoop__Hdfs__QuotaUsageProto q = HADOOP__HDFS__QUOTA_USAGE_PROTO__INIT;
        q.fileanddirectorycount = s.file_count + s.directory_count;
        q.quota = (uint64_t)s.quota;
        q.spaceconsumed = s.space_consumed;
        q.spacequota = (uint64_t)s.space_quota;
        Hadoop__Hdfs__GetQuotaUsageResponseProto r = HADOOP__HDFS__GET_QUOTA_USAGE_RESPONSE_PROTO__INIT;
        r.usage = &q;
        nn_reply(call, &r.base);
    }
    FREE(hadoop__hdfs__get_quota_usage_request_proto, req);
}

NN_HANDLER(getPreferredBlockSize)
{
    NN_DECODE(req, Hadoop__Hdfs__GetPreferredBlockSizeRequestProto, hadoop__hdfs__get_preferred_block_size_request_proto,
              call, param, len);
    struct fsns_err err;
    uint64_t bs = 0;
    if (fsns_preferred_block_size(nn->ns, call->user, req->filename, &bs, &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        Hadoop__Hdfs__GetPreferredBlockSizeResponseProto r = HADOOP__HDFS__GET_PREFERRED_BLOCK_SIZE_RESPONSE_PROTO__INIT;
        r.bsize = bs;
        nn_reply(call, &r.base);
    }
    FREE(hadoop__hdfs__get_preferred_block_size_request_proto, req);
}

NN_HANDLER(isFileClosed)
{
    NN_DECODE(req, Hadoop__Hdfs__IsFileClosedRequestProto, hadoop__hdfs__is_file_closed_request_proto, call, param, len);
    struct fsns_err err;
    bool closed = false;
    if (fsns_is_file_closed(nn->ns, call->user, req->src, &closed, &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        Hadoop__Hdfs__IsFileClosedResponseProto r = HADOOP__HDFS__IS_FILE_CLOSED_RESPONSE_PROTO__INIT;
        r.result = closed;
        nn_reply(call, &r.base);
    }
    FREE(hadoop__hdfs__is_file_closed_request_proto, req);
}

/* The deepest --ez zone at or above src (a path, not checked to exist, as
 * the zone holds whatever is created below it), or none. */
NN_HANDLER(getEZForPath)
{
    NN_DECODE(req, Hadoop__Hdfs__GetEZForPathRequestProto, hadoop__hdfs__get_ezfor_path_request_proto, call, param,
              len);
    int best = -1;
    size_t best_len = 0, sl = strlen(req->src);
    for (int i = 0; i < nn->nez; i++) {
        size_t zl = strlen(nn->ez[i]);
        bool above = zl == 1 || (sl >= zl && memcmp(req->src, nn->ez[i], zl) == 0 && (sl == zl || req->src[zl] == '/'));
        if (above && (best < 0 || zl > best_len)) {
            best = i;
            best_len = zl;
        }
    }
    Hadoop__Hdfs__GetEZForPathResponseProto r = HADOOP__HDFS__GET_EZFOR_PATH_RESPONSE_PROTO__INIT;
    Hadoop__Hdfs__EncryptionZoneProto z = HADOOP__HDFS__ENCRYPTION_ZONE_PROTO__INIT;
    if (best >= 0) {
        z.id = 16384 + best;
        z.path = (char *)nn->ez[best];
        z.suite = HADOOP__HDFS__CIPHER_SUITE_PROTO__AES_CTR_NOPADDING;
        z.cryptoprotocolversion = HADOOP__HDFS__CRYPTO_PROTOCOL_VERSION_PROTO__ENCRYPTION_ZONES;
        z.keyname = "minidfs-key";
        r.zone = &z;
    }
    nn_reply(call, &r.base);
    FREE(hadoop__hdfs__get_ezfor_path_request_proto, req);
}

/* ---- extended attributes ---- */

static const char *xattr_ns_name(int ns)
{
    static const char *names[] = { "user", "trusted", "security", "system", "raw" };
    return ns >= 0 && ns < 5 ? names[ns] : NULL;
}

/* "user.name" from an XAttrProto, into buf. -1 when the namespace is unknown. */
static int xattr_full_name(const Hadoop__Hdfs__XAttrProto *x, char *buf, size_t cap)
{
    const char *ns = xattr_ns_name((int)x->namespace_);
    if (!ns || snprintf(buf, cap, "%s.%s", ns, x->name) >= (int)cap)
        return -1;
    return 0;
}

/* Splits "user.name" back into an XAttrProto (name points into full). */
static void xattr_to_proto(const struct fsns_xattr *a, Hadoop__Hdfs__XAttrProto *x)
{
    Hadoop__Hdfs__XAttrProto init = HADOOP__HDFS__XATTR_PROTO__INIT;
    *x = init;
    const char *dot = strchr(a->name, '.');
    for (int i = 0; i < 5; i++) {
        size_t l = strlen(xattr_ns_name(i));
        if (dot && (size_t)(dot - a->name) == l && strncmp(a->name, xattr_ns_name(i), l) == 0)
            x->namespace_ = (Hadoop__Hdfs__XAttrProto__XAttrNamespaceProto)i;
    }
    x->name = (char *)(dot ? dot + 1 : a->name);
    if (a->value) {
        x->has_value = 1;
        x->value.data = (uint8_t *)a->value;
        x->value.len = a->len;
    }
}

NN_HANDLER(setXAttr)
{
    NN_DECODE(req, Hadoop__Hdfs__SetXAttrRequestProto, hadoop__hdfs__set_xattr_request_proto, call, param, len);
    struct fsns_err err;
    char name[512];
    if (!req->xattr || xattr_full_name(req->xattr, name, sizeof name) < 0) {
        nn_reply_error(call, "org.apache.hadoop.HadoopIllegalArgumentException", "An XAttr name must be prefixed with user/trusted/security/system/raw, followed by a '.'");
    } else if (fsns_setxattr(nn->ns, call->user, req->src, name, req->xattr->value.data, req->xattr->value.len,
                             req->has_flag ? req->flag : FSNS_XATTR_CREATE | FSNS_XATTR_REPLACE, &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        Hadoop__Hdfs__SetXAttrResponseProto r = HADOOP__HDFS__SET_XATTR_RESPONSE_PROTO__INIT;
        nn_reply(call, &r.base);
    }
    FREE(hadoop__hdfs__set_xattr_request_proto, req);
}

static void reply_xattrs(struct nn_call *call, const struct fsns_xattr *xs, size_t n, bool list)
{
    Hadoop__Hdfs__XAttrProto protos[FSNS_MAX_XATTRS], *ptrs[FSNS_MAX_XATTRS];
    for (size_t i = 0; i < n && i < FSNS_MAX_XATTRS; i++) {
        xattr_to_proto(&xs[i], &protos[i]);
        ptrs[i] = &protos[i];
    }
    if (list) {
        Hadoop__Hdfs__ListXAttrsResponseProto r = HADOOP__HDFS__LIST_XATTRS_RESPONSE_PROTO__INIT;
        r.n_xattrs = n;
        r.xattrs = ptrs;
        nn_reply(call, &r.base);
    } else {
        Hadoop__Hdfs__GetXAttrsResponseProto r = HADOOP__HDFS__GET_XATTRS_RESPONSE_PROTO__INIT;
        r.n_xattrs = n;
        r.xattrs = ptrs;
        nn_reply(call, &r.base);
    }
}

NN_HANDLER(getXAttrs)
{
    NN_DECODE(req, Hadoop__Hdfs__GetXAttrsRequestProto, hadoop__hdfs__get_xattrs_request_proto, call, param, len);
    struct fsns_err err;
    struct fsns_xattr out[FSNS_MAX_XATTRS];
    size_t n = 0;
    if (req->n_xattrs > FSNS_MAX_XATTRS) {
        nn_reply_error(call, "java.io.IOException", "At least one of the attributes provided was not found.");
        FREE(hadoop__hdfs__get_xattrs_request_proto, req);
        return;
    }
    char names[FSNS_MAX_XATTRS][512];
    const char *np[FSNS_MAX_XATTRS];
    for (size_t i = 0; i < req->n_xattrs; i++) {
        if (xattr_full_name(req->xattrs[i], names[i], sizeof names[i]) < 0)
            names[i][0] = 0;
        np[i] = names[i];
    }
    if (fsns_getxattrs(nn->ns, call->user, req->src, req->n_xattrs ? np : NULL, req->n_xattrs, out, &n, &err) < 0)
        nn_reply_fsns_err(call, &err);
    else
        reply_xattrs(call, out, n, false);
    FREE(hadoop__hdfs__get_xattrs_request_proto, req);
}

NN_HANDLER(listXAttrs)
{
    NN_DECODE(req, Hadoop__Hdfs__ListXAttrsRequestProto, hadoop__hdfs__list_xattrs_request_proto, call, param, len);
    struct fsns_err err;
    struct fsns_xattr out[FSNS_MAX_XATTRS];
    size_t n = 0;
    if (fsns_listxattrs(nn->ns, call->user, req->src, out, &n, &err) < 0)
        nn_reply_fsns_err(call, &err);
    else
        reply_xattrs(call, out, n, true);
    FREE(hadoop__hdfs__list_xattrs_request_proto, req);
}

NN_HANDLER(removeXAttr)
{
    NN_DECODE(req, Hadoop__Hdfs__RemoveXAttrRequestProto, hadoop__hdfs__remove_xattr_request_proto, call, param, len);
    struct fsns_err err;
    char name[512];
    if (!req->xattr || xattr_full_name(req->xattr, name, sizeof name) < 0) {
        nn_reply_error(call, "org.apache.hadoop.HadoopIllegalArgumentException", "An XAttr name must be prefixed with user/trusted/security/system/raw, followed by a '.'");
    } else if (fsns_removexattr(nn->ns, call->user, req->src, name, &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        Hadoop__Hdfs__RemoveXAttrResponseProto r = HADOOP__HDFS__REMOVE_XATTR_RESPONSE_PROTO__INIT;
        nn_reply(call, &r.base);
    }
    FREE(hadoop__hdfs__remove_xattr_request_proto, req);
}

/* ---- snapshots ---- */

NN_HANDLER(allowSnapshot)
{
    NN_DECODE(req, Hadoop__Hdfs__AllowSnapshotRequestProto, hadoop__hdfs__allow_snapshot_request_proto, call, param,
              len);
    struct fsns_err err;
    if (fsns_allow_snapshot(nn->ns, call->user, req->snapshotroot, &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        Hadoop__Hdfs__AllowSnapshotResponseProto r = HADOOP__HDFS__ALLOW_SNAPSHOT_RESPONSE_PROTO__INIT;
        nn_reply(call, &r.base);
    }
    FREE(hadoop__hdfs__allow_snapshot_request_proto, req);
}

NN_HANDLER(disallowSnapshot)
{
    NN_DECODE(req, Hadoop__Hdfs__DisallowSnapshotRequestProto, hadoop__hdfs__disallow_snapshot_request_proto, call,
              param, len);
    struct fsns_err err;
    if (fsns_disallow_snapshot(nn->ns, call->user, req->snapshotroot, &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        Hadoop__Hdfs__DisallowSnapshotResponseProto r = HADOOP__HDFS__DISALLOW_SNAPSHOT_RESPONSE_PROTO__INIT;
        nn_reply(call, &r.base);
    }
    FREE(hadoop__hdfs__disallow_snapshot_request_proto, req);
}

NN_HANDLER(createSnapshot)
{
    NN_DECODE(req, Hadoop__Hdfs__CreateSnapshotRequestProto, hadoop__hdfs__create_snapshot_request_proto, call, param,
              len);
    struct fsns_err err;
    char path[8192];
    if (fsns_create_snapshot(nn->ns, call->user, req->snapshotroot, req->snapshotname, path, sizeof path, &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        Hadoop__Hdfs__CreateSnapshotResponseProto r = HADOOP__HDFS__CREATE_SNAPSHOT_RESPONSE_PROTO__INIT;
        r.snapshotpath = path;
        nn_reply(call, &r.base);
    }
    FREE(hadoop__hdfs__create_snapshot_request_proto, req);
}

NN_HANDLER(deleteSnapshot)
{
    NN_DECODE(req, Hadoop__Hdfs__DeleteSnapshotRequestProto, hadoop__hdfs__delete_snapshot_request_proto, call, param,
              len);
    struct fsns_err err;
    if (fsns_delete_snapshot(nn->ns, call->user, req->snapshotroot, req->snapshotname, &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        Hadoop__Hdfs__DeleteSnapshotResponseProto r = HADOOP__HDFS__DELETE_SNAPSHOT_RESPONSE_PROTO__INIT;
        nn_reply(call, &r.base);
    }
    FREE(hadoop__hdfs__delete_snapshot_request_proto, req);
}

NN_HANDLER(renameSnapshot)
{
    NN_DECODE(req, Hadoop__Hdfs__RenameSnapshotRequestProto, hadoop__hdfs__rename_snapshot_request_proto, call, param,
              len);
    struct fsns_err err;
    if (fsns_rename_snapshot(nn->ns, call->user, req->snapshotroot, req->snapshotoldname, req->snapshotnewname,
                             &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        Hadoop__Hdfs__RenameSnapshotResponseProto r = HADOOP__HDFS__RENAME_SNAPSHOT_RESPONSE_PROTO__INIT;
        nn_reply(call, &r.base);
    }
    FREE(hadoop__hdfs__rename_snapshot_request_proto, req);
}

NN_HANDLER(getSnapshottableDirListing)
{
    struct fsns_err err;
    struct fsns_snapdir *d = NULL;
    size_t n = 0;
    if (fsns_snapshottable_dirs(nn->ns, call->user, &d, &n, &err) < 0) {
        nn_reply_fsns_err(call, &err);
        return;
    }
    Hadoop__Hdfs__GetSnapshottableDirListingResponseProto r =
        HADOOP__HDFS__GET_SNAPSHOTTABLE_DIR_LISTING_RESPONSE_PROTO__INIT;
    Hadoop__Hdfs__SnapshottableDirectoryListingProto l = HADOOP__HDFS__SNAPSHOTTABLE_DIRECTORY_LISTING_PROTO__INIT;
    struct nn_status_buf *sbs = calloc(n ? n : 1, sizeof *sbs);
    Hadoop__Hdfs__SnapshottableDirectoryStatusProto *ss = calloc(n ? n : 1, sizeof *ss);
    Hadoop__Hdfs__SnapshottableDirectoryStatusProto **ps = calloc(n ? n : 1, sizeof *ps);
    if (!sbs || !ss || !ps) {
        nn_reply_error(call, "java.io.IOException", "out of memory");
    } else {
        for (size_t i = 0; i < n; i++) {
            Hadoop__Hdfs__SnapshottableDirectoryStatusProto init = HADOOP__HDFS__SNAPSHOTTABLE_DIRECTORY_STATUS_PROTO__INIT;
            ss[i] = init;
            nn_fill_status(&sbs[i], &d[i].st);
            ss[i].dirstatus = &sbs[i].st;
            ss[i].snapshot_quota = d[i].snapshot_quota;
            ss[i].snapshot_number = d[i].snapshot_count;
            ss[i].parent_fullpath.data = (uint8_t *)d[i].parent;
            ss[i].parent_fullpath.len = strlen(d[i].parent);
            ps[i] = &ss[i];
        }
        /* HDFS answers no listing at all when there is no snapshottable dir. */
        if (n) {
            l.n_snapshottabledirlisting = n;
            l.snapshottabledirlisting = ps;
            r.snapshottabledirlist = &l;
        }
        nn_reply(call, &r.base);
    }
    free(sbs);
    free(ss);
    free(ps);
    fsns_snapdirs_free(d, n);
}

/* ---- ACLs (minidfs keeps none: the status is the permission bits) ---- */

NN_HANDLER(getAclStatus)
{
    NN_DECODE(req, Hadoop__Hdfs__GetAclStatusRequestProto, hadoop__hdfs__get_acl_status_request_proto, call, param, len);
    struct fsns_err err;
    struct fsns_stat st;
    if (fsns_getfileinfo(nn->ns, call->user, req->src, &st, &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        Hadoop__Hdfs__FsPermissionProto perm = HADOOP__HDFS__FS_PERMISSION_PROTO__INIT;
        perm.perm = st.perm;
        Hadoop__Hdfs__AclStatusProto a = HADOOP__HDFS__ACL_STATUS_PROTO__INIT;
        a.owner = (char *)st.owner;
        a.group = (char *)st.group;
        a.sticky = (st.perm & 01000) != 0;
        a.permission = &perm;
        Hadoop__Hdfs__GetAclStatusResponseProto r = HADOOP__HDFS__GET_ACL_STATUS_RESPONSE_PROTO__INIT;
        r.result = &a;
        nn_reply(call, &r.base);
    }
    FREE(hadoop__hdfs__get_acl_status_request_proto, req);
}

NN_HANDLER(checkAccess)
{
    NN_DECODE(req, Hadoop__Hdfs__CheckAccessRequestProto, hadoop__hdfs__check_access_request_proto, call, param, len);
    struct fsns_err err;
    struct fsns_stat st;
    if (fsns_getfileinfo(nn->ns, call->user, req->path, &st, &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        /* FsActionProto: bit 4 read, 2 write, 1 execute. */
        unsigned want = (unsigned)req->mode & 7, have;
        if (strcmp(call->user, nn->superuser) == 0)
            have = 7;
        else if (strcmp(call->user, st.owner) == 0)
            have = (st.perm >> 6) & 7;
        else if (strcmp(call->user, st.group) == 0)
            have = (st.perm >> 3) & 7;
        else
            have = st.perm & 7;
        if ((want & have) != want) {
            static const char *acts[] = { "NONE", "EXECUTE", "WRITE", "WRITE_EXECUTE",
                                          "READ", "READ_EXECUTE", "READ_WRITE", "ALL" };
            char mode[11];
            snprintf(mode, sizeof mode, "%c%c%c%c%c%c%c%c%c%c", st.type == FSNS_DIR ? 'd' : '-',
                     st.perm & 0400 ? 'r' : '-', st.perm & 0200 ? 'w' : '-', st.perm & 0100 ? 'x' : '-',
                     st.perm & 040 ? 'r' : '-', st.perm & 020 ? 'w' : '-', st.perm & 010 ? 'x' : '-',
                     st.perm & 04 ? 'r' : '-', st.perm & 02 ? 'w' : '-',
                     st.perm & 01000 ? 't' : (st.perm & 01 ? 'x' : '-'));
            nn_reply_error(call, "org.apache.hadoop.security.AccessControlException",
                           "Permission denied: user=%s, access=%s, inode=\"%s\":%s:%s:%s", call->user, acts[want],
                           req->path, st.owner, st.group, mode);
        } else {
            Hadoop__Hdfs__CheckAccessResponseProto r = HADOOP__HDFS__CHECK_ACCESS_RESPONSE_PROTO__INIT;
            nn_reply(call, &r.base);
        }
    }
    FREE(hadoop__hdfs__check_access_request_proto, req);
}
