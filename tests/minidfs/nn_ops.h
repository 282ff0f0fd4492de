/*
 * nn_ops.h: what the method handlers of minidfs share: request decoding,
 * the DataNode description, and conversions from the namespace to protos.
 */
#ifndef MINIDFS_NN_OPS_H
#define MINIDFS_NN_OPS_H

#include "ClientNamenodeProtocol.pb-c.h"
#include "hdfs.pb-c.h"
#include "fsns.h"
#include "nn.h"

/* Decodes param into `var` with protobuf-c (type prefix `pfx`), or answers
 * the call with an IOException and returns from the handler. */
#define NN_DECODE(var, type, pfx, call, param, len)                                       \
    type *var = pfx##__unpack(NULL, (len), (param));                                      \
    do {                                                                                  \
        if (!var) {                                                                       \
            nn_reply_error((call), "java.io.IOException",                                 \
                           "malformed %s request (missing required field or bad bytes)", \
                           (call)->method);                                               \
            return;                                                                       \
        }                                                                                 \
    } while (0)

/* The one DataNode of this process, as clients see it. The storage is
 * static in nn_ops_misc.c; refreshed on each call. */
Hadoop__Hdfs__DatanodeInfoProto *nn_datanode_info(struct nn *nn);

/* Storage for one HdfsFileStatusProto built by nn_fill_status. */
struct nn_status_buf {
    Hadoop__Hdfs__HdfsFileStatusProto st;
    Hadoop__Hdfs__FsPermissionProto perm;
};
void nn_fill_status(struct nn_status_buf *b, const struct fsns_stat *s);

/* LocatedBlockProto / LocatedBlocksProto for a file's blocks; free with the
 * matching nn_free_*(). */
Hadoop__Hdfs__LocatedBlockProto *nn_new_located(struct nn *nn, const struct fsns_block *b, uint64_t offset);
void nn_free_located(Hadoop__Hdfs__LocatedBlockProto *lb);
/* Blocks overlapping [offset, offset+length) of the file st describes. */
Hadoop__Hdfs__LocatedBlocksProto *nn_new_located_blocks(struct nn *nn, const struct fsns_stat *st,
                                                        uint64_t offset, uint64_t length);
void nn_free_located_blocks(Hadoop__Hdfs__LocatedBlocksProto *lbs);

/* Answers the call with the exception an fsns operation failed with. */
void nn_reply_fsns_err(struct nn_call *call, const struct fsns_err *err);
/* Deletes the replicas of removed blocks on the DataNode and frees the list. */
void nn_drop_blocks(struct nn *nn, struct fsns_blocklist *bl);

/* Handlers, one per ClientProtocol method served (nn_ops_*.c). */
#define NN_HANDLER(name) void nn_op_##name(struct nn *nn, struct nn_call *call, const uint8_t *param, size_t len)
#define NN_OPS(X)                                                                               \
    X(getServerDefaults) X(getFsStats) X(getDatanodeReport) X(getDatanodeStorageReport)        \
    X(getDataEncryptionKey) X(renewLease) X(getHAServiceState) X(msync) X(setSafeMode)         \
    X(getStoragePolicies) X(getPreferredBlockSize) X(isFileClosed) X(recoverLease)             \
    X(getFileInfo) X(getFileLinkInfo) X(getLocatedFileInfo) X(getListing) X(mkdirs)             \
    X(createSymlink) X(delete) X(rename) X(rename2) X(setPermission) X(setOwner) X(setTimes)   \
    X(setReplication)                                                                          \
    X(getContentSummary) X(getQuotaUsage) X(create) X(append) X(addBlock) X(abandonBlock)       \
    X(complete) X(fsync) X(getBlockLocations) X(truncate) X(updateBlockForPipeline)            \
    X(updatePipeline) X(getAdditionalDatanode) X(reportBadBlocks) X(setXAttr) X(getXAttrs)     \
    X(listXAttrs) X(removeXAttr) X(allowSnapshot) X(disallowSnapshot) X(createSnapshot)        \
    X(deleteSnapshot) X(renameSnapshot) X(getSnapshottableDirListing)                         \
    X(getAclStatus) X(checkAccess) X(getCurrentEditLogTxid) X(refreshNodes) X(getEZForPath)

#define NN_DECLARE(name) NN_HANDLER(name);
NN_OPS(NN_DECLARE)
#undef NN_DECLARE

#endif
