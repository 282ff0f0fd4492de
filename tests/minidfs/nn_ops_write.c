/*
 * nn_ops_write.c: the write path and block calls: create, append, addBlock,
 * abandonBlock, complete, fsync, getBlockLocations, truncate, the pipeline
 * calls, lease recovery. Blocks live on the in-process DataNode; the
 * NameNode only hands out ids and generation stamps and records lengths.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datanode.h"
#include "nn_ops.h"

#define FREE(pfx, m) pfx##__free_unpacked((m), NULL)

/* An ExtendedBlockProto from a client, checked against our block pool. */
static int take_block(struct nn *nn, struct nn_call *call, const Hadoop__Hdfs__ExtendedBlockProto *eb,
                      struct fsns_block *out)
{
    if (strcmp(eb->poolid, nn->block_pool_id) != 0) {
        nn_reply_error(call, "java.io.IOException", "Unexpected BlockPoolId %s - expected %s", eb->poolid,
                       nn->block_pool_id);
        return -1;
    }
    out->id = eb->blockid;
    out->gs = eb->generationstamp;
    out->len = eb->has_numbytes ? eb->numbytes : 0;
    out->uc = false;
    return 0;
}

NN_HANDLER(create)
{
    NN_DECODE(req, Hadoop__Hdfs__CreateRequestProto, hadoop__hdfs__create_request_proto, call, param, len);
    struct fsns_err err;
    struct fsns_stat st;
    struct fsns_blocklist removed = { 0 };
    struct fsns_create_args a = {
        .client = req->clientname,
        .client_machine = "",
        .masked = (uint16_t)(req->masked->perm & 07777),
        .flags = req->createflag,
        .create_parent = req->createparent,
        .replication = req->replication,
        .block_size = req->blocksize,
    };
    if (fsns_create(nn->ns, call->user, req->src, &a, &st, &removed, &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        struct nn_status_buf sb;
        nn_fill_status(&sb, &st);
        Hadoop__Hdfs__CreateResponseProto r = HADOOP__HDFS__CREATE_RESPONSE_PROTO__INIT;
        r.fs = &sb.st;
        nn_reply(call, &r.base);
    }
    nn_drop_blocks(nn, &removed);
    FREE(hadoop__hdfs__create_request_proto, req);
}

NN_HANDLER(append)
{
    NN_DECODE(req, Hadoop__Hdfs__AppendRequestProto, hadoop__hdfs__append_request_proto, call, param, len);
    struct fsns_err err;
    struct fsns_stat st;
    struct fsns_block last;
    bool has_last = false;
    if (fsns_append(nn->ns, call->user, req->src, req->clientname, "", req->has_flag ? req->flag : 0, &st, &has_last,
                    &last, &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        struct nn_status_buf sb;
        nn_fill_status(&sb, &st);
        Hadoop__Hdfs__AppendResponseProto r = HADOOP__HDFS__APPEND_RESPONSE_PROTO__INIT;
        Hadoop__Hdfs__LocatedBlockProto *lb = NULL;
        if (has_last) {
            lb = nn_new_located(nn, &last, st.length - last.len);
            r.block = lb;
        }
        r.stat = &sb.st;
        nn_reply(call, &r.base);
        nn_free_located(lb);
    }
    FREE(hadoop__hdfs__append_request_proto, req);
}

NN_HANDLER(addBlock)
{
    NN_DECODE(req, Hadoop__Hdfs__AddBlockRequestProto, hadoop__hdfs__add_block_request_proto, call, param, len);
    struct fsns_err err;
    struct fsns_block prev, out;
    uint64_t offset = 0;
    if (req->previous && take_block(nn, call, req->previous, &prev) < 0) {
        FREE(hadoop__hdfs__add_block_request_proto, req);
        return;
    }
    if (fsns_addblock(nn->ns, call->user, req->src, req->fileid, req->clientname, req->previous ? &prev : NULL, &out,
                      &offset, &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        Hadoop__Hdfs__AddBlockResponseProto r = HADOOP__HDFS__ADD_BLOCK_RESPONSE_PROTO__INIT;
        r.block = nn_new_located(nn, &out, offset);
        if (!r.block)
            nn_reply_error(call, "java.io.IOException", "out of memory");
        else
            nn_reply(call, &r.base);
        nn_free_located(r.block);
    }
    FREE(hadoop__hdfs__add_block_request_proto, req);
}

NN_HANDLER(abandonBlock)
{
    NN_DECODE(req, Hadoop__Hdfs__AbandonBlockRequestProto, hadoop__hdfs__abandon_block_request_proto, call, param, len);
    struct fsns_err err;
    struct fsns_block b;
    if (take_block(nn, call, req->b, &b) == 0) {
        if (fsns_abandonblock(nn->ns, call->user, req->src, req->fileid, req->holder, b.id, &err) < 0) {
            nn_reply_fsns_err(call, &err);
        } else {
            datanode_delete_block(nn->dn, b.id);
            Hadoop__Hdfs__AbandonBlockResponseProto r = HADOOP__HDFS__ABANDON_BLOCK_RESPONSE_PROTO__INIT;
            nn_reply(call, &r.base);
        }
    }
    FREE(hadoop__hdfs__abandon_block_request_proto, req);
}

NN_HANDLER(complete)
{
    NN_DECODE(req, Hadoop__Hdfs__CompleteRequestProto, hadoop__hdfs__complete_request_proto, call, param, len);
    struct fsns_err err;
    struct fsns_block last;
    bool done = false;
    if (req->last && take_block(nn, call, req->last, &last) < 0) {
        FREE(hadoop__hdfs__complete_request_proto, req);
        return;
    }
    if (fsns_complete(nn->ns, call->user, req->src, req->fileid, req->clientname, req->last ? &last : NULL, &done,
                      &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        Hadoop__Hdfs__CompleteResponseProto r = HADOOP__HDFS__COMPLETE_RESPONSE_PROTO__INIT;
        r.result = done;
        nn_reply(call, &r.base);
    }
    FREE(hadoop__hdfs__complete_request_proto, req);
}

NN_HANDLER(fsync)
{
    NN_DECODE(req, Hadoop__Hdfs__FsyncRequestProto, hadoop__hdfs__fsync_request_proto, call, param, len);
    struct fsns_err err;
    if (fsns_fsync(nn->ns, call->user, req->src, req->fileid, req->client, req->lastblocklength, &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        Hadoop__Hdfs__FsyncResponseProto r = HADOOP__HDFS__FSYNC_RESPONSE_PROTO__INIT;
        nn_reply(call, &r.base);
    }
    FREE(hadoop__hdfs__fsync_request_proto, req);
}

NN_HANDLER(getBlockLocations)
{
    NN_DECODE(req, Hadoop__Hdfs__GetBlockLocationsRequestProto, hadoop__hdfs__get_block_locations_request_proto, call,
              param, len);
    struct fsns_err err;
    struct fsns_stat st;
    Hadoop__Hdfs__GetBlockLocationsResponseProto r = HADOOP__HDFS__GET_BLOCK_LOCATIONS_RESPONSE_PROTO__INIT;
    if (fsns_getblocks(nn->ns, call->user, req->src, &st, &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        r.locations = nn_new_located_blocks(nn, &st, req->offset, req->length);
        nn_reply(call, &r.base);
        nn_free_located_blocks(r.locations);
    }
    FREE(hadoop__hdfs__get_block_locations_request_proto, req);
}

NN_HANDLER(truncate)
{
    NN_DECODE(req, Hadoop__Hdfs__TruncateRequestProto, hadoop__hdfs__truncate_request_proto, call, param, len);
    struct fsns_err err;
    struct fsns_blocklist removed = { 0 };
    struct fsns_block cut;
    bool done = false, has_cut = false;
    if (fsns_truncate(nn->ns, call->user, req->src, req->newlength, req->clientname, "", &done, &has_cut, &cut,
                      &removed, &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        /* The block recovery a real cluster runs is done here at once: the
         * replica is cut to its new length under the new generation stamp. */
        if (has_cut && datanode_truncate_block(nn->dn, cut.id, cut.len, cut.gs) < 0) {
            nn_reply_error(call, "java.io.IOException", "cannot truncate block blk_%llu on the DataNode",
                           (unsigned long long)cut.id);
        } else {
            Hadoop__Hdfs__TruncateResponseProto r = HADOOP__HDFS__TRUNCATE_RESPONSE_PROTO__INIT;
            r.result = done;
            nn_reply(call, &r.base);
        }
    }
    nn_drop_blocks(nn, &removed);
    FREE(hadoop__hdfs__truncate_request_proto, req);
}

NN_HANDLER(updateBlockForPipeline)
{
    NN_DECODE(req, Hadoop__Hdfs__UpdateBlockForPipelineRequestProto,
              hadoop__hdfs__update_block_for_pipeline_request_proto, call, param, len);
    struct fsns_err err;
    struct fsns_block b, out;
    if (take_block(nn, call, req->block, &b) == 0) {
        if (fsns_update_block_for_pipeline(nn->ns, call->user, b.id, b.gs, req->clientname, &out, &err) < 0) {
            nn_reply_fsns_err(call, &err);
        } else {
            struct fsns_blockinfo bi;
            uint64_t offset = fsns_block_lookup(nn->ns, b.id, &bi) == 0 ? bi.offset : 0;
            Hadoop__Hdfs__UpdateBlockForPipelineResponseProto r =
                HADOOP__HDFS__UPDATE_BLOCK_FOR_PIPELINE_RESPONSE_PROTO__INIT;
            r.block = nn_new_located(nn, &out, offset);
            if (r.block)
                nn_reply(call, &r.base);
            else
                nn_reply_error(call, "java.io.IOException", "out of memory");
            nn_free_located(r.block);
        }
    }
    FREE(hadoop__hdfs__update_block_for_pipeline_request_proto, req);
}

NN_HANDLER(updatePipeline)
{
    NN_DECODE(req, Hadoop__Hdfs__UpdatePipelineRequestProto, hadoop__hdfs__update_pipeline_request_proto, call, param,
              len);
    struct fsns_err err;
    struct fsns_block ob, nb;
    if (take_block(nn, call, req->oldblock, &ob) == 0 && take_block(nn, call, req->newblock, &nb) == 0) {
        if (fsns_update_pipeline(nn->ns, call->user, req->clientname, ob.id, ob.gs, nb.gs, nb.len, &err) < 0) {
            nn_reply_fsns_err(call, &err);
        } else {
            Hadoop__Hdfs__UpdatePipelineResponseProto r = HADOOP__HDFS__UPDATE_PIPELINE_RESPONSE_PROTO__INIT;
            nn_reply(call, &r.base);
        }
    }
    FREE(hadoop__hdfs__update_pipeline_request_proto, req);
}

NN_HANDLER(getAdditionalDatanode)
{
    /* One DataNode: there is never another to add to a pipeline. */
    nn_reply_error(call, "java.io.IOException",
                   "Failed to add a datanode: nodes.length != original.length + 1, minidfs has a single DataNode");
}

NN_HANDLER(reportBadBlocks)
{
    NN_DECODE(req, Hadoop__Hdfs__ReportBadBlocksRequestProto, hadoop__hdfs__report_bad_blocks_request_proto, call,
              param, len);
    /* Like HDFS, a block id is looked up whatever pool the report names
     * (ids repeat from one namespace to the next); the log names both. */
    for (size_t i = 0; i < req->n_blocks; i++)
        if (req->blocks[i]->b)
            fprintf(stderr, "minidfs: client reports a bad replica of blk_%llu of pool %s\n",
                    (unsigned long long)req->blocks[i]->b->blockid, req->blocks[i]->b->poolid);
    Hadoop__Hdfs__ReportBadBlocksResponseProto r = HADOOP__HDFS__REPORT_BAD_BLOCKS_RESPONSE_PROTO__INIT;
    nn_reply(call, &r.base);
    FREE(hadoop__hdfs__report_bad_blocks_request_proto, req);
}

NN_HANDLER(recoverLease)
{
    NN_DECODE(req, Hadoop__Hdfs__RecoverLeaseRequestProto, hadoop__hdfs__recover_lease_request_proto, call, param, len);
    struct fsns_err err;
    bool closed = false;
    if (fsns_recoverlease(nn->ns, call->user, req->src, req->clientname, &closed, &err) < 0) {
        nn_reply_fsns_err(call, &err);
    } else {
        Hadoop__Hdfs__RecoverLeaseResponseProto r = HADOOP__HDFS__RECOVER_LEASE_RESPONSE_PROTO__INIT;
        r.result = closed;
        nn_reply(call, &r.base);
    }
    FREE(hadoop__hdfs__recover_lease_request_proto, req);
}
