/*
 * methods.c: the ClientNamenodeProtocol method table (see methods.h).
 *
 * Rows are sorted by name in byte order (strcmp), as the binary search needs;
 * the unit test fails when one is out of place or missing. Routing follows
 * Hadoop's Router-Based Federation unless a comment on the row says why not.
 * Field numbers come from hdfs-proto/proto; the test walks every path through
 * the generated descriptors.
 *
 * Shapes used below (field numbers):
 *   LocatedBlockProto      b(1) -> ExtendedBlockProto poolId(1)
 *   LocatedBlocksProto     blocks(2)[] and lastBlock(4), each a LocatedBlockProto
 *   HdfsFileStatusProto    symlink(9) (link target, may be relative),
 *                          locations(12) LocatedBlocksProto, namespace(19)
 *   DatanodeInfoProto      id(1) DatanodeIDProto {ipAddr 1, xferPort 4}
 */
#include "jexc.h"
#include "methods.h"

#include <string.h>

/* One path: field numbers, outermost first. */
#define P(...) ((const uint32_t[]){ __VA_ARGS__, 0 })
/* A set of paths. */
#define PS(...)                                                                                   \
    { (const uint32_t *const[]){ __VA_ARGS__ },                                                   \
      (uint8_t)(sizeof((const uint32_t *const[]){ __VA_ARGS__ }) / sizeof(const uint32_t *)) }

#define SRC PS(P(1))                        /* the usual `src`/`path` = 1 */
#define W METHOD_WRITE
#define AMO METHOD_AT_MOST_ONCE
#define IDEM METHOD_IDEMPOTENT
#define NOMP METHOD_NO_MOUNT_POINT
#define UNSUPPORTED JEXC_UNSUPPORTED

/* Path-routed by field 1. */
#define PATH1(f) .route = ROUTE_PATH, .req = SRC, .flags = (f)
/* Every subcluster, merged. */
#define ALL(m) .route = ROUTE_ALL_MERGE, .merge = (m)

static const struct method_row rows[] = {
    /* The block names the subcluster; src(2) is still rewritten. */
    { .name = "abandonBlock", .route = ROUTE_PATH, .req = PS(P(2)), .flags = W | METHOD_POOL_FIRST | IDEM, .file_id = 4,
      .req_pool = PS(P(1, 1)) },
    { .name = "addBlock", PATH1(W | NOMP | METHOD_POOL_FIRST | METHOD_ADDS_BYTES | IDEM), .file_id = 5, .req_pool = PS(P(3, 1)),
      .resp_pool = PS(P(1, 1, 1)) },
    /* info(1).path(2). The directive id in the answer is the subcluster's own. */
    { .name = "addCacheDirective", .route = ROUTE_PATH, .req = PS(P(1, 2)), .flags = W | AMO | NOMP },
    /* Pools are made on every subcluster so that directives anywhere can use them. */
    { .name = "addCachePool", ALL(MERGE_VOID), .flags = W | AMO },
    { .name = "addErasureCodingPolicies", ALL(MERGE_UNION), .merge_path = P(1), .flags = W | AMO },
    /* Snapshots of a mount point or of a directory above mount points would
     * cover one subcluster's part of what the client sees: refused, as RBF
     * does (getLocationsForPath with failIfLocked). */
    { .name = "allowSnapshot", PATH1(W | NOMP | IDEM) },
    /* The router should set stat(2).namespace(19) to the nameservice, as RBF
     * does: the client sends those names back in renewLease. */
    { .name = "append", PATH1(W | AMO | NOMP | METHOD_NAMES_NS | METHOD_FILE_OP | METHOD_ADDS_BYTES), .status_field = 2,
      .resp_pool = PS(P(1, 1, 1)) },
    /* Delegation tokens are the router's own (a token must be good on every
     * router, and the client knows only the router's service name), as in RBF.
     * Without a secret manager in the router, answer as a NameNode with
     * security off: an empty GetDelegationTokenResponseProto (token absent);
     * renewing or cancelling one is refused with the row's exception. */
    { .name = "cancelDelegationToken", .route = ROUTE_ROUTER, .flags = W | IDEM, .refuse_class = JEXC_IO,
      .refuse_msg = "cancelDelegationToken: this router issues no delegation tokens (security is off), so it "
                    "has none to cancel" },
    { .name = "checkAccess", PATH1(IDEM) },
    { .name = "complete", PATH1(W | NOMP | METHOD_POOL_FIRST | IDEM), .file_id = 4, .req_pool = PS(P(3, 1)) },
    /* trg(1) and every srcs(2): one subcluster, or "concat across subclusters"
     * IOException. The sources are deleted, so none may be a mount point. */
    { .name = "concat", .route = ROUTE_TWO_PATHS, .req = PS(P(1), P(2)),
      .flags = W | AMO | NOMP | METHOD_NOMP_ALL_PATHS | METHOD_FILE_OP | METHOD_ADDS_BYTES },
    /* See append about namespace(19) in fs(1). */
    { .name = "create",
      PATH1(W | AMO | NOMP | METHOD_NAMES_NS | METHOD_PROBE | METHOD_CREATES | METHOD_FILE_OP | METHOD_ADDS_NAMES),
      .status_field = 1 },
    { .name = "createEncryptionZone", PATH1(W | AMO) },
    { .name = "createSnapshot", PATH1(W | AMO | NOMP), .resp = PS(P(1)) },
    /* Routed by link(2); target(1) is rewritten only when absolute (a relative
     * target is left as is and not resolved). */
    { .name = "createSymlink", .route = ROUTE_TWO_PATHS, .req = PS(P(2), P(1)),
      .flags = W | AMO | NOMP | METHOD_LINK_TARGET | METHOD_CREATES | METHOD_FILE_OP | METHOD_ADDS_NAMES },
    { .name = "delete", PATH1(W | AMO | NOMP | METHOD_FALSE_NOT_HERE) },
    { .name = "deleteSnapshot", PATH1(W | AMO | NOMP) },
    { .name = "disableErasureCodingPolicy", ALL(MERGE_VOID), .flags = W | AMO },
    { .name = "disallowSnapshot", PATH1(W | NOMP | IDEM) },
    { .name = "enableErasureCodingPolicy", ALL(MERGE_VOID), .flags = W | AMO },
    { .name = "finalizeUpgrade", ALL(MERGE_VOID), .flags = IDEM },
    { .name = "fsync", PATH1(W | NOMP | METHOD_FILE_OP | IDEM), .file_id = 4 },
    { .name = "getAclStatus", PATH1(IDEM) },
    { .name = "getAdditionalDatanode", PATH1(METHOD_POOL_FIRST | IDEM), .file_id = 8, .req_pool = PS(P(2, 1)),
      .resp_pool = PS(P(1, 1, 1)) },
    { .name = "getBatchedListing", .route = ROUTE_REFUSE, .req = PS(P(1)),
      .resp_pool = PS(P(1, 1, 12, 2, 1, 1), P(1, 1, 12, 4, 1, 1)), .refuse_class = UNSUPPORTED,
      .refuse_msg = "Operation \"getBatchedListing\" is not supported by the router: a batched listing "
                    "cannot show mount points; list each directory with getListing", .flags = IDEM },
    { .name = "getBlockLocations", PATH1(IDEM), .resp_pool = PS(P(1, 2, 1, 1), P(1, 4, 1, 1)) },
    /* summary(1): sum over the path and every mount below it, each subcluster
     * counted once (the outermost location). quota(4), spaceQuota(6) and
     * typeQuotaInfos(7) are limits, not counts: take them from the path's own
     * location. */
    { .name = "getContentSummary", PATH1(METHOD_SUBTREE | IDEM), .merge = MERGE_SUM, .merge_path = P(1),
      .merge_keep = P(4, 6) },
    /* Transaction ids are per subcluster; RBF answers the largest. */
    { .name = "getCurrentEditLogTxid", ALL(MERGE_MAX), .merge_path = P(1), .flags = IDEM },
    /* Each block pool has its own data encryption keys, so no single key works
     * for the client's blocks everywhere (RBF refuses it too). */
    { .name = "getDataEncryptionKey", .route = ROUTE_REFUSE, .resp_pool = PS(P(1, 2)),
      .refuse_class = UNSUPPORTED,
      .refuse_msg = "Operation \"getDataEncryptionKey\" is not supported by the router: each subcluster "
                    "has its own data encryption keys", .flags = IDEM },
    /* di(1)[]; RBF also prefixes each location(8) with "/<nameservice>". */
    { .name = "getDatanodeReport", ALL(MERGE_DATANODES), .merge_path = P(1), .merge_key = P(1), .flags = IDEM | METHOD_PARTIAL },
    /* datanodeStorageReports(1)[].datanodeInfo(1).id(1); numBlocks added up. */
    { .name = "getDatanodeStorageReport", ALL(MERGE_DATANODE_STORAGE), .merge_path = P(1),
      .merge_key = P(1, 1), .flags = IDEM | METHOD_PARTIAL },
    /* See cancelDelegationToken. */
    { .name = "getDelegationToken", .route = ROUTE_ROUTER, .flags = W | IDEM },
    /* response(1).isSupported(2): unsupported anywhere means unsupported. */
    { .name = "getECTopologyResultForPolicies", ALL(MERGE_AND), .merge_path = P(1, 2), .flags = IDEM },
    { .name = "getEZForPath", PATH1(IDEM), .resp = PS(P(1, 2)) },
    /* Each subcluster has its own edit log and transaction ids: there is no
     * one event stream to give (RBF refuses it too). */
    { .name = "getEditsFromTxid", .route = ROUTE_REFUSE, .refuse_class = UNSUPPORTED,
      .refuse_msg = "Operation \"getEditsFromTxid\" is not supported by the router: each subcluster has "
                    "its own edit log and transaction ids", .flags = IDEM },
    /* Answered by the router, as RBF does: the deeper of the path's mount
     * point and the encryption zone getEZForPath finds in its subcluster
     * (mapped back); the NameNode's own getEnclosingRoot is not asked, so
     * subclusters older than Hadoop 3.4 serve it too. */
    { .name = "getEnclosingRoot", PATH1(METHOD_MOUNT_ANSWER | IDEM) },
    { .name = "getErasureCodingCodecs", ALL(MERGE_UNION), .merge_path = P(1), .flags = IDEM | METHOD_PARTIAL },
    { .name = "getErasureCodingPolicies", ALL(MERGE_UNION), .merge_path = P(1), .flags = IDEM | METHOD_PARTIAL },
    { .name = "getErasureCodingPolicy", PATH1(IDEM) },
    /* fs(1).symlink(9): an absolute target under the destination maps back. */
    { .name = "getFileInfo", PATH1(METHOD_SUBTREE | METHOD_NONE_NOT_HERE | METHOD_STATUS | IDEM), .resp = PS(P(1, 9)) },
    { .name = "getFileLinkInfo", PATH1(METHOD_NONE_NOT_HERE | IDEM), .resp = PS(P(1, 9)) },
    { .name = "getFsECBlockGroupStats", ALL(MERGE_SUM), .flags = IDEM | METHOD_PARTIAL },
    { .name = "getFsReplicatedBlockStats", ALL(MERGE_SUM), .flags = IDEM | METHOD_PARTIAL },
    { .name = "getFsStats", ALL(MERGE_SUM), .flags = IDEM | METHOD_PARTIAL },
    /* ACTIVE, or STANDBY while the router is in safe mode (RBF). */
    { .name = "getHAServiceState", .route = ROUTE_ROUTER, .flags = METHOD_HA_STATE | IDEM },
    /* targetPath(1); RBF leaves it unmapped. */
    { .name = "getLinkTarget", PATH1(IDEM), .resp = PS(P(1)) },
    /* dirList(1).partialListing(1)[]: local names, so only symlink targets
     * map back; mount points below the path are merged in (METHOD_SUBTREE). */
    { .name = "getListing", PATH1(METHOD_SUBTREE | METHOD_NONE_NOT_HERE | METHOD_LISTING | IDEM), .resp = PS(P(1, 1, 9)),
      .resp_pool = PS(P(1, 1, 12, 2, 1, 1), P(1, 1, 12, 4, 1, 1)) },
    { .name = "getLocatedFileInfo", PATH1(METHOD_NONE_NOT_HERE | IDEM), .resp = PS(P(1, 9)),
      .resp_pool = PS(P(1, 12, 2, 1, 1), P(1, 12, 4, 1, 1)) },
    { .name = "getPreferredBlockSize", PATH1(IDEM) },
    /* usage(1): like getContentSummary; quota(2)/spaceQuota(4) are limits. A
     * mount entry with router quotas (quota.ns / quota.ss) reports those, as
     * RBF reports its global quota. */
    { .name = "getQuotaUsage", PATH1(METHOD_SUBTREE | METHOD_QUOTA_USAGE | IDEM), .merge = MERGE_SUM, .merge_path = P(1),
      .merge_keep = P(2, 4) },
    /* Any subcluster's defaults do (RBF: the default one, cached). */
    { .name = "getServerDefaults", .route = ROUTE_DEFAULT, .flags = IDEM },
    { .name = "getSlowDatanodeReport", ALL(MERGE_DATANODES), .merge_path = P(1), .merge_key = P(1), .flags = IDEM | METHOD_PARTIAL },
    /* diffReport(1).snapshotRoot(1); the entries are relative to it. See
     * allowSnapshot about mount points. */
    { .name = "getSnapshotDiffReport", PATH1(NOMP | IDEM), .resp = PS(P(1, 1)) },
    /* Entries and cursor(4).startPath are relative to the snapshot root. */
    { .name = "getSnapshotDiffReportListing", PATH1(NOMP | IDEM) },
    { .name = "getSnapshotListing", PATH1(NOMP | IDEM), .resp = PS(P(1, 1, 3)) },
    /* snapshottableDirList(1).snapshottableDirListing(1)[].parent_fullpath(4).
     * RBF joins the lists but leaves these paths as the subclusters wrote them;
     * we map each back through its nameservice's mounts. */
    { .name = "getSnapshottableDirListing", ALL(MERGE_CONCAT), .resp = PS(P(1, 1, 4)),
      .flags = METHOD_RESP_REVERSE | METHOD_SNAPSHOT_DIRS | IDEM | METHOD_PARTIAL },
    { .name = "getStoragePolicies", .route = ROUTE_DEFAULT, .flags = IDEM },
    { .name = "getStoragePolicy", PATH1(IDEM) },
    { .name = "getXAttrs", PATH1(IDEM) },
    { .name = "isFileClosed", PATH1(IDEM) },
    /* filter(2).path(2) when given; elements(1)[].info(1).path(2) map back.
     * Without a path RBF answers the first subcluster's list: directive ids
     * and paging cursors are per subcluster, so lists cannot be joined. */
    { .name = "listCacheDirectives", .route = ROUTE_PATH, .req = PS(P(2, 2)), .nopath = ROUTE_ALL_MERGE,
      .merge = MERGE_FIRST, .resp = PS(P(1, 1, 2)), .flags = METHOD_RESP_REVERSE | IDEM },
    /* Pools exist on every subcluster (addCachePool): one answer lists them. */
    { .name = "listCachePools", ALL(MERGE_FIRST), .flags = IDEM | METHOD_PARTIAL },
    /* corrupt(1).files(1)[] are full paths; RBF leaves them unmapped. */
    { .name = "listCorruptFileBlocks", PATH1(IDEM), .resp = PS(P(1, 1)) },
    { .name = "listEncryptionZones", .route = ROUTE_REFUSE, .resp = PS(P(1, 2)), .refuse_class = UNSUPPORTED,
      .refuse_msg = "Operation \"listEncryptionZones\" is not supported by the router: zones are listed "
                    "per subcluster; use getEZForPath", .flags = IDEM },
    /* RBF refuses it. We serve it by path(3) inside one mount (the NameNode
     * filters by path prefix, so every entries(1)[].path(2) maps back). The
     * client sends "/" when no path is given: a mount point, or a path with
     * mount points below it, spans subclusters with their own cursors, so
     * that is refused with the row's class (NOMP), as a request without a
     * path is. */
    { .name = "listOpenFiles", .route = ROUTE_PATH, .req = PS(P(3)), .nopath = ROUTE_REFUSE,
      .resp = PS(P(1, 2)), .flags = NOMP | IDEM, .refuse_class = UNSUPPORTED,
      .refuse_msg = "Operation \"listOpenFiles\" is supported by the router only for a path inside one "
                    "mount point" },
    { .name = "listReencryptionStatus", .route = ROUTE_REFUSE, .resp = PS(P(1, 2), P(1, 10)),
      .refuse_class = UNSUPPORTED,
      .refuse_msg = "Operation \"listReencryptionStatus\" is not supported by the router: zones are "
                    "listed per subcluster", .flags = IDEM },
    { .name = "listXAttrs", PATH1(IDEM) },
    /* filename(1) is a file on the NameNode's host, not an HDFS path. */
    { .name = "metaSave", ALL(MERGE_VOID), .flags = IDEM },
    { .name = "mkdirs", PATH1(W | METHOD_PROBE | METHOD_MAKES_DIR | METHOD_ADDS_NAMES | IDEM) },
    { .name = "modifyAclEntries", PATH1(W | IDEM) },
    /* info(1).path(2) when given; else by id on every subcluster, failures
     * ignored, as RBF does. Ids are per subcluster: the same id on another
     * subcluster names another directive (RBF has the same hazard). */
    { .name = "modifyCacheDirective", .route = ROUTE_PATH, .req = PS(P(1, 2)), .nopath = ROUTE_ALL_MERGE,
      .merge = MERGE_ANY_OK, .flags = W | AMO },
    { .name = "modifyCachePool", ALL(MERGE_VOID), .flags = W | AMO },
    /* No observer reads through the router: every call goes to an active
     * NameNode, so there is nothing to wait for. */
    { .name = "msync", .route = ROUTE_ROUTER, .flags = IDEM },
    { .name = "recoverLease", PATH1(W | NOMP | METHOD_FILE_OP | IDEM) },
    /* RBF refuses it; zone(2) is a path, so we route it. */
    { .name = "reencryptEncryptionZone", .route = ROUTE_PATH, .req = PS(P(2)), .flags = W | AMO },
    /* Standbys re-read their host lists too, so that a failover keeps the
     * decommissions (RBF). */
    { .name = "refreshNodes", ALL(MERGE_VOID), .flags = METHOD_ALL_NAMENODES | IDEM },
    { .name = "removeAcl", PATH1(W | IDEM) },
    { .name = "removeAclEntries", PATH1(W | IDEM) },
    /* By id on every subcluster; see modifyCacheDirective about ids. */
    { .name = "removeCacheDirective", ALL(MERGE_ANY_OK), .flags = W | AMO },
    { .name = "removeCachePool", ALL(MERGE_VOID), .flags = W | AMO },
    { .name = "removeDefaultAcl", PATH1(W | IDEM) },
    { .name = "removeErasureCodingPolicy", ALL(MERGE_VOID), .flags = W | AMO },
    { .name = "removeXAttr", PATH1(W | AMO) },
    /* src(1) and dst(2) in one subcluster; NOMP applies to src. */
    { .name = "rename", .route = ROUTE_TWO_PATHS, .req = PS(P(1), P(2)),
      .flags = W | AMO | NOMP | METHOD_RENAME | METHOD_RENAME_INTO | METHOD_FALSE_NOT_HERE | METHOD_FILE_OP |
               METHOD_ADDS_NAMES },
    { .name = "rename2", .route = ROUTE_TWO_PATHS, .req = PS(P(1), P(2)),
      .flags = W | AMO | NOMP | METHOD_RENAME | METHOD_FILE_OP | METHOD_ADDS_NAMES },
    { .name = "renameSnapshot", PATH1(W | AMO | NOMP) },
    /* See cancelDelegationToken. */
    { .name = "renewDelegationToken", .route = ROUTE_ROUTER, .flags = W | IDEM, .refuse_class = JEXC_IO,
      .refuse_msg = "renewDelegationToken: this router issues no delegation tokens (security is off), so it "
                    "has none to renew" },
    /* namespaces(2): nameservice ids the client learned from the namespace(19)
     * of create/append answers; when present only those, else every
     * subcluster (RBF, HDFS-16283). Clear the field when forwarding. */
    { .name = "renewLease", ALL(MERGE_ANY_OK), .flags = W | METHOD_LEASE_NAMES | IDEM },
    /* blocks(1)[].b(1).poolId(1): blocks of several pools go as one call per
     * nameservice, each with its own blocks (RBF); any unknown pool refuses
     * the whole call before a block is sent. */
    { .name = "reportBadBlocks", .route = ROUTE_BLOCK_POOL, .merge = MERGE_VOID, .req_pool = PS(P(1, 1, 1)),
      .flags = W | IDEM },
    { .name = "restoreFailedStorage", ALL(MERGE_AND), .merge_path = P(1), .flags = IDEM },
    { .name = "rollEdits", ALL(MERGE_MAX), .merge_path = P(1), .flags = W | IDEM },
    /* rollingUpgradeInfo(1).status(1).blockPoolId(1). */
    { .name = "rollingUpgrade", ALL(MERGE_FIRST), .resp_pool = PS(P(1, 1, 1)), .flags = IDEM },
    /* On or above mount points it would reach one subcluster's part: refused (RBF). */
    { .name = "satisfyStoragePolicy", PATH1(W | AMO | NOMP) },
    /* saved(1) defaults to true when absent. */
    { .name = "saveNamespace", ALL(MERGE_AND), .merge_path = P(1), .flags = AMO },
    { .name = "setAcl", PATH1(W | IDEM) },
    { .name = "setBalancerBandwidth", ALL(MERGE_VOID), .flags = IDEM },
    { .name = "setErasureCodingPolicy", PATH1(W | AMO) },
    { .name = "setOwner", PATH1(W | IDEM) },
    { .name = "setPermission", PATH1(W | IDEM) },
    /* RBF refuses a quota on a mount entry itself (the router's own quota,
     * quota.ns / quota.ss, set with the admin tool); elsewhere it goes to the
     * path's subcluster. */
    { .name = "setQuota", PATH1(W | METHOD_NOT_MOUNT_ENTRY | IDEM) },
    { .name = "setReplication", PATH1(W | NOMP | METHOD_FALSE_NOT_HERE | IDEM) },
    /* result(1): true only if every NameNode asked is in safe mode. Unless
     * checked(2), standbys get it too (RBF: standby = !isChecked). */
    { .name = "setSafeMode", ALL(MERGE_AND), .merge_path = P(1),
      .flags = W | METHOD_ALL_NAMENODES | METHOD_CHECKED_ACTIVE | IDEM },
    { .name = "setStoragePolicy", PATH1(W | IDEM) },
    { .name = "setTimes", PATH1(W | IDEM) },
    { .name = "setXAttr", PATH1(W | AMO) },
    { .name = "truncate", PATH1(W | NOMP | METHOD_FILE_OP | METHOD_ADDS_BYTES | IDEM) },
    { .name = "unsetErasureCodingPolicy", PATH1(W | AMO) },
    { .name = "unsetStoragePolicy", PATH1(W | IDEM) },
    { .name = "updateBlockForPipeline", .route = ROUTE_BLOCK_POOL, .req_pool = PS(P(1, 1)),
      .resp_pool = PS(P(1, 1, 1)), .flags = W | IDEM },
    /* oldBlock(2) and newBlock(3) are the same block: same pool. */
    { .name = "updatePipeline", .route = ROUTE_BLOCK_POOL, .req_pool = PS(P(2, 1), P(3, 1)), .flags = W | AMO },
    /* RBF refuses it; upgradeFinalized(1) is true only if true everywhere. */
    { .name = "upgradeStatus", ALL(MERGE_AND), .merge_path = P(1), .flags = IDEM },
};

#define NROWS (sizeof rows / sizeof rows[0])

/* strcmp order of row name vs a (name, len) key. */
static int cmp_key(const char *row, const char *key, size_t len)
{
    int c = strncmp(row, key, len);
    if (c != 0)
        return c;
    return row[len] != '\0' ? 1 : 0;
}

const struct method_row *method_lookup(const char *name, size_t len)
{
    if (!name || len == 0 || memchr(name, '\0', len))
        return NULL;
    size_t lo = 0, hi = NROWS;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_key(rows[mid].name, name, len);
        if (c == 0)
            return &rows[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const struct method_row *method_lookup_cstr(const char *name)
{
    return name ? method_lookup(name, strlen(name)) : NULL;
}

size_t method_count(void)
{
    return NROWS;
}

const struct method_row *method_at(size_t i)
{
    return i < NROWS ? &rows[i] : NULL;
}

const char *method_route_name(enum method_route r)
{
    switch (r) {
    case ROUTE_NONE: return "NONE";
    case ROUTE_PATH: return "PATH";
    case ROUTE_TWO_PATHS: return "TWO_PATHS";
    case ROUTE_ALL_MERGE: return "ALL_MERGE";
    case ROUTE_DEFAULT: return "DEFAULT";
    case ROUTE_BLOCK_POOL: return "BLOCK_POOL";
    case ROUTE_ROUTER: return "ROUTER";
    case ROUTE_REFUSE: return "REFUSE";
    }
    return "?";
}
