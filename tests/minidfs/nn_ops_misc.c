/*
 * nn_ops_misc.c: the calls about the cluster rather than a path: server
 * defaults, file system and DataNode statistics, leases, HA state, safe mode,
 * host list refresh, storage policies, encryption keys (none: data transfer
 * is not encrypted), and NamenodeProtocol's versionRequest.
 */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "HAServiceProtocol.pb-c.h"
#include "HdfsServer.pb-c.h"
#include "datanode.h"
#include "fsns.h"
#include "nn_ops.h"

static uint64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

Hadoop__Hdfs__DatanodeInfoProto *nn_datanode_info(struct nn *nn)
{
    static Hadoop__Hdfs__DatanodeIDProto id = HADOOP__HDFS__DATANODE_IDPROTO__INIT;
    static Hadoop__Hdfs__DatanodeInfoProto info = HADOOP__HDFS__DATANODE_INFO_PROTO__INIT;
    static char location[] = "/default-rack";
    id.ipaddr = (char *)nn->host;
    id.hostname = (char *)nn->host;
    id.datanodeuuid = (char *)nn->datanode_uuid;
    id.xferport = (uint32_t)nn->dn_port;
    id.infoport = 0;
    id.ipcport = 0;
    info.id = &id;
    uint64_t cap = 0, used = 0, rem = 0;
    datanode_stats(nn->dn, &cap, &used, &rem);
    info.has_capacity = info.has_dfsused = info.has_remaining = info.has_blockpoolused = 1;
    info.capacity = cap;
    info.dfsused = used;
    info.remaining = rem;
    info.blockpoolused = used;
    info.has_nondfsused = 1;
    info.nondfsused = cap > used + rem ? cap - used - rem : 0;
    info.has_lastupdate = 1;
    info.lastupdate = now_ms();
    info.location = location;
    info.has_adminstate = 1;
    info.adminstate = HADOOP__HDFS__DATANODE_INFO_PROTO__ADMIN_STATE__NORMAL;
    return &info;
}

NN_HANDLER(getServerDefaults)
{
    Hadoop__Hdfs__FsServerDefaultsProto d = HADOOP__HDFS__FS_SERVER_DEFAULTS_PROTO__INIT;
    d.blocksize = nn->block_size;
    d.bytesperchecksum = 512;
    d.writepacketsize = 64 * 1024;
    d.replication = 1;
    d.filebuffersize = 4096;
    d.has_encryptdatatransfer = 1;
    d.encryptdatatransfer = 0;
    d.has_trashinterval = 1;
    d.trashinterval = 0;
    d.has_checksumtype = 1;
    d.checksumtype = HADOOP__HDFS__CHECKSUM_TYPE_PROTO__CHECKSUM_CRC32C;
    Hadoop__Hdfs__GetServerDefaultsResponseProto r = HADOOP__HDFS__GET_SERVER_DEFAULTS_RESPONSE_PROTO__INIT;
    r.serverdefaults = &d;
    nn_reply(call, &r.base);
}

NN_HANDLER(getFsStats)
{
    uint64_t cap = 0, used = 0, rem = 0;
    datanode_stats(nn->dn, &cap, &used, &rem);
    Hadoop__Hdfs__GetFsStatsResponseProto r = HADOOP__HDFS__GET_FS_STATS_RESPONSE_PROTO__INIT;
    r.capacity = cap;
    r.used = used;
    r.remaining = rem;
    nn_reply(call, &r.base);
}

NN_HANDLER(getDatanodeReport)
{
    NN_DECODE(req, Hadoop__Hdfs__GetDatanodeReportRequestProto, hadoop__hdfs__get_datanode_report_request_proto,
              call, param, len);
    Hadoop__Hdfs__GetDatanodeReportResponseProto r = HADOOP__HDFS__GET_DATANODE_REPORT_RESPONSE_PROTO__INIT;
    Hadoop__Hdfs__DatanodeInfoProto *di = nn_datanode_info(nn);
    /* The one DataNode is always live. */
    if (req->type == HADOOP__HDFS__DATANODE_REPORT_TYPE_PROTO__ALL ||
        req->type == HADOOP__HDFS__DATANODE_REPORT_TYPE_PROTO__LIVE) {
        r.n_di = 1;
        r.di = &di;
    }
    nn_reply(call, &r.base);
    hadoop__hdfs__get_datanode_report_request_proto__free_unpacked(req, NULL);
}

NN_HANDLER(getDatanodeStorageReport)
{
    NN_DECODE(req, Hadoop__Hdfs__GetDatanodeStorageReportRequestProto,
              hadoop__hdfs__get_datanode_storage_report_request_proto, call, param, len);
    Hadoop__Hdfs__DatanodeInfoProto *di = nn_datanode_info(nn);
    Hadoop__Hdfs__DatanodeStorageProto st = HADOOP__HDFS__DATANODE_STORAGE_PROTO__INIT;
    char sid[64];
    snprintf(sid, sizeof sid, "DS-%s", nn->datanode_uuid);
    st.storageuuid = sid;
    Hadoop__Hdfs__StorageReportProto sr = HADOOP__HDFS__STORAGE_REPORT_PROTO__INIT;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    sr.storageuuid = sid; /* deprecated in favour of storage, but still required */
#pragma GCC diagnostic pop
    sr.storage = &st;
    sr.has_capacity = sr.has_dfsused = sr.has_remaining = sr.has_blockpoolused = 1;
    sr.capacity = di->capacity;
    sr.dfsused = di->dfsused;
    sr.remaining = di->remaining;
    sr.blockpoolused = di->blockpoolused;
    Hadoop__Hdfs__StorageReportProto *srs[1] = { &sr };
    Hadoop__Hdfs__DatanodeStorageReportProto dsr = HADOOP__HDFS__DATANODE_STORAGE_REPORT_PROTO__INIT;
    dsr.datanodeinfo = di;
    dsr.n_storagereports = 1;
    dsr.storagereports = srs;
    Hadoop__Hdfs__DatanodeStorageReportProto *dsrs[1] = { &dsr };
    Hadoop__Hdfs__GetDatanodeStorageReportResponseProto r =
        HADOOP__HDFS__GET_DATANODE_STORAGE_REPORT_RESPONSE_PROTO__INIT;
    if (req->type == HADOOP__HDFS__DATANODE_REPORT_TYPE_PROTO__ALL ||
        req->type == HADOOP__HDFS__DATANODE_REPORT_TYPE_PROTO__LIVE) {
        r.n_datanodestoragereports = 1;
        r.datanodestoragereports = dsrs;
    }
    nn_reply(call, &r.base);
    hadoop__hdfs__get_datanode_storage_report_request_proto__free_unpacked(req, NULL);
}

NN_HANDLER(getDataEncryptionKey)
{
    /* Data transfer encryption is off (server defaults say so): no key. */
    Hadoop__Hdfs__GetDataEncryptionKeyResponseProto r = HADOOP__HDFS__GET_DATA_ENCRYPTION_KEY_RESPONSE_PROTO__INIT;
    nn_reply(call, &r.base);
}

NN_HANDLER(renewLease)
{
    NN_DECODE(req, Hadoop__Hdfs__RenewLeaseRequestProto, hadoop__hdfs__renew_lease_request_proto, call, param, len);
    Hadoop__Hdfs__RenewLeaseResponseProto r = HADOOP__HDFS__RENEW_LEASE_RESPONSE_PROTO__INIT;
    nn_reply(call, &r.base);
    hadoop__hdfs__renew_lease_request_proto__free_unpacked(req, NULL);
}

NN_HANDLER(getHAServiceState)
{
    Hadoop__Hdfs__HAServiceStateResponseProto r = HADOOP__HDFS__HASERVICE_STATE_RESPONSE_PROTO__INIT;
    r.state = nn->standby ? HADOOP__COMMON__HASERVICE_STATE_PROTO__STANDBY : HADOOP__COMMON__HASERVICE_STATE_PROTO__ACTIVE;
    nn_reply(call, &r.base);
}

NN_HANDLER(msync)
{
    Hadoop__Hdfs__MsyncResponseProto r = HADOOP__HDFS__MSYNC_RESPONSE_PROTO__INIT;
    nn_reply(call, &r.base);
}

NN_HANDLER(getCurrentEditLogTxid)
{
    Hadoop__Hdfs__GetCurrentEditLogTxidResponseProto r = HADOOP__HDFS__GET_CURRENT_EDIT_LOG_TXID_RESPONSE_PROTO__INIT;
    r.txid = 0;
    nn_reply(call, &r.base);
}

static bool is_superuser(struct nn *nn, struct nn_call *call)
{
    if (strcmp(call->user, nn->superuser) == 0)
        return true;
    nn_reply_error(call, "org.apache.hadoop.security.AccessControlException",
                   "Access denied for user %s. Superuser privilege is required", call->user);
    return false;
}

NN_HANDLER(setSafeMode)
{
    NN_DECODE(req, Hadoop__Hdfs__SetSafeModeRequestProto, hadoop__hdfs__set_safe_mode_request_proto, call, param, len);
    bool get = req->action == HADOOP__HDFS__SAFE_MODE_ACTION_PROTO__SAFEMODE_GET;
    if (nn->standby && req->has_checked && req->checked) {
        /* Checked: a read (GET) or a write like any other, so not on a standby. */
        nn_reply_error(call, "org.apache.hadoop.ipc.StandbyException",
                       "Operation category %s is not supported in state standby. "
                       "Visit https://s.apache.org/sbnn-error",
                       get ? "READ" : "WRITE");
    } else if (get || is_superuser(nn, call)) {
        if (req->action == HADOOP__HDFS__SAFE_MODE_ACTION_PROTO__SAFEMODE_ENTER)
            nn->safe_mode = true;
        else if (req->action == HADOOP__HDFS__SAFE_MODE_ACTION_PROTO__SAFEMODE_LEAVE ||
                 req->action == HADOOP__HDFS__SAFE_MODE_ACTION_PROTO__SAFEMODE_FORCE_EXIT)
            nn->safe_mode = false;
        if (!get)
            fprintf(stderr, "minidfs: safe mode is %s (%s, by %s)\n", nn->safe_mode ? "ON" : "OFF",
                    nn->standby ? "standby" : "active", call->user);
        Hadoop__Hdfs__SetSafeModeResponseProto r = HADOOP__HDFS__SET_SAFE_MODE_RESPONSE_PROTO__INIT;
        r.result = nn->safe_mode;
        nn_reply(call, &r.base);
    }
    hadoop__hdfs__set_safe_mode_request_proto__free_unpacked(req, NULL);
}

NN_HANDLER(refreshNodes)
{
    /* minidfs has no include or exclude files to read again: it counts the
     * call and says so in its log, where tests look for it. */
    if (!is_superuser(nn, call))
        return;
    nn->refreshes++;
    fprintf(stderr, "minidfs: refreshNodes by %s (%s), %llu so far\n", call->user,
            nn->standby ? "standby" : "active", (unsigned long long)nn->refreshes);
    Hadoop__Hdfs__RefreshNodesResponseProto r = HADOOP__HDFS__REFRESH_NODES_RESPONSE_PROTO__INIT;
    nn_reply(call, &r.base);
}

void nn_op_versionRequest(struct nn *nn, struct nn_call *call, const uint8_t *param, size_t len)
{
    if (!is_superuser(nn, call))
        return;
    Hadoop__Hdfs__StorageInfoProto si = HADOOP__HDFS__STORAGE_INFO_PROTO__INIT;
    si.layoutversion = (uint32_t)-66; /* the NameNode layout of Hadoop 3.3, negative as HDFS writes it */
    si.namespceid = nn->namespace_id;
    si.clusterid = (char *)nn->cluster_id;
    si.ctime = 0;                     /* the namespace was never upgraded */
    Hadoop__Hdfs__NamespaceInfoProto info = HADOOP__HDFS__NAMESPACE_INFO_PROTO__INIT;
    info.buildversion = "minidfs";
    info.unused = 0;
    info.blockpoolid = (char *)nn->block_pool_id;
    info.storageinfo = &si;
    info.softwareversion = "3.3.6";
    info.has_capabilities = 1;
    info.capabilities = 1;            /* block reports in protobuf buffers, as HDFS advertises */
    info.has_state = 1;
    info.state = nn->standby ? HADOOP__HDFS__NNHASTATUS_HEARTBEAT_PROTO__STATE__STANDBY
                             : HADOOP__HDFS__NNHASTATUS_HEARTBEAT_PROTO__STATE__ACTIVE;
    Hadoop__Hdfs__VersionResponseProto r = HADOOP__HDFS__VERSION_RESPONSE_PROTO__INIT;
    r.info = &info;
    nn_reply(call, &r.base);
}

NN_HANDLER(getStoragePolicies)
{
    /* HDFS's default policy HOT (id 7): every replica on DISK. */
    Hadoop__Hdfs__StorageTypeProto disk[1] = { HADOOP__HDFS__STORAGE_TYPE_PROTO__DISK };
    Hadoop__Hdfs__StorageTypesProto cr = HADOOP__HDFS__STORAGE_TYPES_PROTO__INIT;
    cr.n_storagetypes = 1;
    cr.storagetypes = disk;
    Hadoop__Hdfs__StorageTypesProto fb = HADOOP__HDFS__STORAGE_TYPES_PROTO__INIT;
    Hadoop__Hdfs__BlockStoragePolicyProto hot = HADOOP__HDFS__BLOCK_STORAGE_POLICY_PROTO__INIT;
    hot.policyid = 7;
    hot.name = "HOT";
    hot.creationpolicy = &cr;
    hot.creationfallbackpolicy = &fb;
    hot.replicationfallbackpolicy = &fb;
    Hadoop__Hdfs__BlockStoragePolicyProto *p[1] = { &hot };
    Hadoop__Hdfs__GetStoragePoliciesResponseProto r = HADOOP__HDFS__GET_STORAGE_POLICIES_RESPONSE_PROTO__INIT;
    r.n_policies = 1;
    r.policies = p;
    nn_reply(call, &r.base);
}
