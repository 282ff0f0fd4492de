/*
 * test_methods: the ClientNamenodeProtocol method table against the service
 * as protoc-c compiled it from hdfs-proto/proto.
 *
 *  - every rpc of the service has exactly one row, and every row is an rpc;
 *  - rows are in strcmp order and method_lookup finds each of them;
 *  - every field path of a row walks through the generated descriptors:
 *    request paths through the request message, response paths through the
 *    response message, ending in a string (paths, pool ids), a message or a
 *    scalar of the type its merge needs;
 *  - refused rows say what to answer;
 *  - the flags that single out methods are on exactly the rows they were
 *    made for, and fit the rpc (the fields they name exist).
 */
#include <stdbool.h>
#include <string.h>

#include "ClientNamenodeProtocol.pb-c.h"
#include "check.h"
#include "methods.h"

/* The field of desc numbered num, NULL when none. */
static const ProtobufCFieldDescriptor *field_of(const ProtobufCMessageDescriptor *desc, uint32_t num)
{
    for (unsigned i = 0; i < desc->n_fields; i++)
        if (desc->fields[i].id == num)
            return &desc->fields[i];
    return NULL;
}

/* Walks path through desc: every step but the last must be a message; the
 * last field is returned (NULL when a step does not exist). */
static const ProtobufCFieldDescriptor *walk(const ProtobufCMessageDescriptor *desc, const uint32_t *path)
{
    const ProtobufCFieldDescriptor *f = NULL;
    for (unsigned d = 0; path[d]; d++) {
        if (!desc)
            return NULL;
        f = field_of(desc, path[d]);
        if (!f)
            return NULL;
        desc = f->type == PROTOBUF_C_TYPE_MESSAGE ? f->descriptor : NULL;
    }
    return f;
}

static int failures_before;

static void row_fail(const struct method_row *r, const char *what)
{
    fprintf(stderr, "row %s: %s\n", r->name, what);
}

/* Every path of a set ends in a string field. */
static void check_string_paths(const struct method_row *r, const struct pb_pathset *ps,
                               const ProtobufCMessageDescriptor *desc, const char *what)
{
    if (ps->n == 0)
        return;
    CHECK_EQ(pbr_check_paths(ps), 0);
    for (unsigned i = 0; i < ps->n; i++) {
        const ProtobufCFieldDescriptor *f = walk(desc, ps->p[i]);
        bool ok = f && (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_BYTES);
        if (!ok)
            row_fail(r, what);
        CHECK(ok);
    }
}

/* The rows that carry one flag, exactly: the routing code treats these
 * methods apart by the flag alone, so a row gaining or losing it changes
 * routing. NULL-ended. */
struct flag_rows {
    uint32_t flag;
    const char *name;
    const char *const *rows;
};

#define ROWS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static const struct flag_rows flag_rows[] = {
    { METHOD_STATUS, "STATUS", ROWS("getFileInfo") },
    { METHOD_LISTING, "LISTING", ROWS("getListing") },
    { METHOD_QUOTA_USAGE, "QUOTA_USAGE", ROWS("getQuotaUsage") },
    { METHOD_CREATES, "CREATES", ROWS("create", "createSymlink") },
    { METHOD_FILE_OP, "FILE_OP",
      ROWS("append", "concat", "create", "createSymlink", "fsync", "recoverLease", "rename", "rename2", "truncate") },
    { METHOD_ADDS_NAMES, "ADDS_NAMES", ROWS("create", "createSymlink", "mkdirs", "rename", "rename2") },
    { METHOD_ADDS_BYTES, "ADDS_BYTES", ROWS("addBlock", "append", "concat", "truncate") },
    { METHOD_MAKES_DIR, "MAKES_DIR", ROWS("mkdirs") },
    { METHOD_RENAME, "RENAME", ROWS("rename", "rename2") },
    { METHOD_RENAME_INTO, "RENAME_INTO", ROWS("rename") },
    { METHOD_PROBE, "PROBE", ROWS("create", "mkdirs") },
    { METHOD_NAMES_NS, "NAMES_NS", ROWS("append", "create") },
    { METHOD_LEASE_NAMES, "LEASE_NAMES", ROWS("renewLease") },
    { METHOD_HA_STATE, "HA_STATE", ROWS("getHAServiceState") },
    { METHOD_CHECKED_ACTIVE, "CHECKED_ACTIVE", ROWS("setSafeMode") },
    { METHOD_LINK_TARGET, "LINK_TARGET", ROWS("createSymlink") },
    { METHOD_NOMP_ALL_PATHS, "NOMP_ALL_PATHS", ROWS("concat") },
    { METHOD_SNAPSHOT_DIRS, "SNAPSHOT_DIRS", ROWS("getSnapshottableDirListing") },
};

static bool listed(const char *const *rows, const char *name)
{
    for (; *rows; rows++)
        if (strcmp(*rows, name) == 0)
            return true;
    return false;
}

static void check_flag_rows(void)
{
    for (size_t f = 0; f < sizeof flag_rows / sizeof flag_rows[0]; f++) {
        const struct flag_rows *fr = &flag_rows[f];
        for (size_t i = 0; i < method_count(); i++) {
            const struct method_row *r = method_at(i);
            bool want = listed(fr->rows, r->name), has = (r->flags & fr->flag) != 0;
            if (want != has)
                fprintf(stderr, "row %s: METHOD_%s %s\n", r->name, fr->name, want ? "missing" : "not expected");
            CHECK(want == has);
        }
    }
}

/* Hadoop's ClientProtocol marks every method @Idempotent or @AtMostOnce; the
 * HA layer sends a timed-out call to another NameNode only under one of the
 * two, so every row must carry exactly one. The at-most-once ones, as the
 * annotations in ClientProtocol.java list them: */
static const char *const at_most_once_rows[] = {
    "addCacheDirective", "addCachePool", "addErasureCodingPolicies", "append", "concat", "create",
    "createEncryptionZone", "createSnapshot", "createSymlink", "delete", "deleteSnapshot",
    "disableErasureCodingPolicy", "enableErasureCodingPolicy", "modifyCacheDirective", "modifyCachePool",
    "reencryptEncryptionZone", "removeCacheDirective", "removeCachePool", "removeErasureCodingPolicy",
    "removeXAttr", "rename", "rename2", "renameSnapshot", "satisfyStoragePolicy", "saveNamespace",
    "setErasureCodingPolicy", "setXAttr", "unsetErasureCodingPolicy", "updatePipeline", NULL,
};

static void check_retry_flags(void)
{
    for (size_t i = 0; i < method_count(); i++) {
        const struct method_row *r = method_at(i);
        bool amo = (r->flags & METHOD_AT_MOST_ONCE) != 0, idem = (r->flags & METHOD_IDEMPOTENT) != 0;
        if (amo == idem)
            row_fail(r, "needs exactly one of METHOD_IDEMPOTENT and METHOD_AT_MOST_ONCE");
        CHECK(amo != idem);
        bool want_amo = listed(at_most_once_rows, r->name);
        if (want_amo != amo)
            row_fail(r, want_amo ? "is @AtMostOnce in ClientProtocol" : "is @Idempotent in ClientProtocol");
        CHECK(want_amo == amo);
        /* A partial answer leaves a subcluster out: only for reads sent to all. */
        if (r->flags & METHOD_PARTIAL) {
            bool ok = r->route == ROUTE_ALL_MERGE && !(r->flags & (METHOD_WRITE | METHOD_AT_MOST_ONCE)) &&
                      !(r->flags & METHOD_ALL_NAMENODES);
            if (!ok)
                row_fail(r, "METHOD_PARTIAL on a row that writes or is not sent to every subcluster");
            CHECK(ok);
        }
    }
    const struct method_row *r = method_lookup_cstr("getFsStats");
    CHECK(r && (r->flags & METHOD_PARTIAL) && (r->flags & METHOD_IDEMPOTENT));
    r = method_lookup_cstr("create");
    CHECK(r && !(r->flags & METHOD_IDEMPOTENT));
}

/* Flags that only make sense together with others. */
static void check_flag_pairs(const struct method_row *r, const ProtobufCMethodDescriptor *md)
{
    uint32_t fl = r->flags;
    bool ok = true;
    if ((fl & (METHOD_ADDS_NAMES | METHOD_ADDS_BYTES)) && !(fl & METHOD_WRITE))
        ok = false; /* what adds is a write */
    if ((fl & METHOD_ADDS_NAMES) && (fl & METHOD_ADDS_BYTES))
        ok = false;
    if ((fl & METHOD_CREATES) && !(fl & METHOD_FILE_OP))
        ok = false;
    if ((fl & (METHOD_STATUS | METHOD_LISTING)) && !(fl & METHOD_SUBTREE))
        ok = false;
    if ((fl & METHOD_QUOTA_USAGE) && !((fl & METHOD_SUBTREE) && r->merge == MERGE_SUM))
        ok = false;
    if ((fl & METHOD_MAKES_DIR) && !(fl & METHOD_PROBE))
        ok = false;
    if ((fl & METHOD_RENAME_INTO) && !((fl & METHOD_RENAME) && (fl & METHOD_FALSE_NOT_HERE)))
        ok = false;
    if ((fl & METHOD_HA_STATE) && r->route != ROUTE_ROUTER)
        ok = false;
    if ((fl & METHOD_LINK_TARGET) && r->route != ROUTE_TWO_PATHS)
        ok = false;
    if ((fl & METHOD_NOMP_ALL_PATHS) && !(fl & METHOD_NO_MOUNT_POINT))
        ok = false;
    if ((fl & METHOD_SNAPSHOT_DIRS) && !(fl & METHOD_RESP_REVERSE))
        ok = false;
    if ((fl & METHOD_CHECKED_ACTIVE)) {
        /* checked(2), a bool of the request */
        const ProtobufCFieldDescriptor *c = field_of(md->input, 2);
        ok = ok && (fl & METHOD_ALL_NAMENODES) && c && c->type == PROTOBUF_C_TYPE_BOOL;
    }
    if ((fl & METHOD_LEASE_NAMES)) {
        /* namespaces(2), repeated strings of the request */
        const ProtobufCFieldDescriptor *n = field_of(md->input, 2);
        ok = ok && r->route == ROUTE_ALL_MERGE && n && n->type == PROTOBUF_C_TYPE_STRING &&
             n->label == PROTOBUF_C_LABEL_REPEATED;
    }
    /* The status that gets namespace(19): a HdfsFileStatusProto field of the answer. */
    if (((fl & METHOD_NAMES_NS) != 0) != (r->status_field != 0))
        ok = false;
    if (r->status_field) {
        const ProtobufCFieldDescriptor *st = field_of(md->output, r->status_field);
        const ProtobufCFieldDescriptor *ns =
            st && st->type == PROTOBUF_C_TYPE_MESSAGE ? field_of(st->descriptor, 19) : NULL;
        ok = ok && ns && strcmp(ns->name, "namespace") == 0 && ns->type == PROTOBUF_C_TYPE_STRING;
    }
    /* A router-answered row with an exception says both what and why. */
    if (r->route == ROUTE_ROUTER && (r->refuse_class != NULL) != (r->refuse_msg != NULL))
        ok = false;
    if (!ok)
        row_fail(r, "flags that do not fit together or do not fit the rpc");
    CHECK(ok);
}

static void check_merge(const struct method_row *r, const ProtobufCMessageDescriptor *out)
{
    const ProtobufCFieldDescriptor *f = r->merge_path ? walk(out, r->merge_path) : NULL;
    bool ok = true;
    switch (r->merge) {
    case MERGE_NONE:
        ok = r->route != ROUTE_ALL_MERGE && r->nopath != ROUTE_ALL_MERGE && !(r->flags & METHOD_SUBTREE && r->merge_path);
        break;
    case MERGE_VOID:
    case MERGE_ANY_OK:
    case MERGE_FIRST:
        ok = r->merge_path == NULL;
        break;
    case MERGE_SUM:
        /* NULL: the top level; else a message whose varints add up. */
        ok = r->merge_path == NULL || (f && f->type == PROTOBUF_C_TYPE_MESSAGE);
        break;
    case MERGE_MAX:
        ok = f && (f->type == PROTOBUF_C_TYPE_INT64 || f->type == PROTOBUF_C_TYPE_UINT64);
        break;
    case MERGE_AND:
        ok = f && f->type == PROTOBUF_C_TYPE_BOOL;
        break;
    case MERGE_CONCAT:
        ok = r->merge_path == NULL || f != NULL;
        break;
    case MERGE_UNION:
        ok = f && f->label == PROTOBUF_C_LABEL_REPEATED;
        break;
    case MERGE_DATANODES:
    case MERGE_DATANODE_STORAGE:
        ok = f && f->label == PROTOBUF_C_LABEL_REPEATED && f->type == PROTOBUF_C_TYPE_MESSAGE && r->merge_key;
        if (ok) {
            const ProtobufCFieldDescriptor *k = walk(f->descriptor, r->merge_key);
            ok = k && k->type == PROTOBUF_C_TYPE_MESSAGE && walk(k->descriptor, (const uint32_t[]){ 1, 0 }) &&
                 walk(k->descriptor, (const uint32_t[]){ 4, 0 });
        }
        if (ok) {
            /* The DatanodeInfoProto holding the key: lastUpdate(6), numBlocks(17). */
            uint32_t info[PBR_MAX_DEPTH + 1] = { 0 };
            unsigned d = 0;
            while (r->merge_key[d + 1] && d < PBR_MAX_DEPTH)
                info[d] = r->merge_key[d], d++;
            const ProtobufCMessageDescriptor *im = d ? NULL : f->descriptor;
            if (d) {
                const ProtobufCFieldDescriptor *i = walk(f->descriptor, info);
                im = i && i->type == PROTOBUF_C_TYPE_MESSAGE ? i->descriptor : NULL;
            }
            const ProtobufCFieldDescriptor *lu = im ? field_of(im, 6) : NULL, *nb = im ? field_of(im, 17) : NULL;
            ok = lu && lu->type == PROTOBUF_C_TYPE_UINT64 && strcmp(lu->name, "lastUpdate") == 0 && nb &&
                 nb->type == PROTOBUF_C_TYPE_UINT32 && strcmp(nb->name, "numBlocks") == 0;
        }
        break;
    }
    if (!ok)
        row_fail(r, "merge kind and merge_path do not fit the response");
    CHECK(ok);
}

/* Rows whose answers the router learns block pools from: path i of the
 * row's resp_pool is want (0-ended). */
static void check_resp_pool(const char *name, unsigned i, const uint32_t *want)
{
    const struct method_row *r = method_lookup_cstr(name);
    bool ok = r && i < r->resp_pool.n;
    for (unsigned d = 0; ok && (want[d] || r->resp_pool.p[i][d]); d++)
        ok = r->resp_pool.p[i][d] == want[d];
    if (!ok)
        fprintf(stderr, "row %s: resp_pool path %u is not the expected one\n", name, i);
    CHECK(ok);
}

static void check_token_rows(void)
{
    const struct method_row *r = method_lookup_cstr("renewDelegationToken");
    CHECK(r && r->route == ROUTE_ROUTER && r->refuse_class && strstr(r->refuse_msg, "none to renew"));
    r = method_lookup_cstr("cancelDelegationToken");
    CHECK(r && r->route == ROUTE_ROUTER && r->refuse_class && strstr(r->refuse_msg, "none to cancel"));
    r = method_lookup_cstr("getDelegationToken");
    CHECK(r && r->route == ROUTE_ROUTER && !r->refuse_class);
}

int main(void)
{
    const ProtobufCServiceDescriptor *svc = &hadoop__hdfs__client_namenode_protocol__descriptor;
    failures_before = check_failed;

    /* One row per rpc. */
    CHECK_EQ(method_count(), svc->n_methods);
    for (unsigned i = 0; i < svc->n_methods; i++) {
        const struct method_row *r = method_lookup_cstr(svc->methods[i].name);
        if (!r)
            fprintf(stderr, "rpc %s has no row\n", svc->methods[i].name);
        CHECK(r != NULL);
    }
    /* Sorted, and lookup finds each by (ptr, len) as the router calls it. */
    for (size_t i = 0; i < method_count(); i++) {
        const struct method_row *r = method_at(i);
        if (i > 0)
            CHECK(strcmp(method_at(i - 1)->name, r->name) < 0);
        CHECK(method_lookup(r->name, strlen(r->name)) == r);
        /* Prefixes and longer names are other methods. */
        CHECK(method_lookup(r->name, strlen(r->name) - 1) != r);
    }
    CHECK(method_lookup_cstr("noSuchMethod") == NULL);
    CHECK(method_lookup("getFileInfo\0x", 13) == NULL);
    CHECK(method_lookup("", 0) == NULL);

    /* Each row against its rpc's messages. */
    for (size_t i = 0; i < method_count(); i++) {
        const struct method_row *r = method_at(i);
        const ProtobufCMethodDescriptor *md = NULL;
        for (unsigned k = 0; k < svc->n_methods; k++)
            if (strcmp(svc->methods[k].name, r->name) == 0)
                md = &svc->methods[k];
        if (!md) {
            row_fail(r, "no such rpc in the service");
            CHECK(md != NULL);
            continue;
        }
        check_string_paths(r, &r->req, md->input, "a request path does not end in a string field");
        check_string_paths(r, &r->req_pool, md->input, "a request pool path does not end in a string field");
        check_string_paths(r, &r->resp, md->output, "a response path does not end in a string field");
        check_string_paths(r, &r->resp_pool, md->output, "a response pool path does not end in a string field");
        check_merge(r, md->output);
        check_flag_pairs(r, md);
        if (r->merge_keep) {
            bool ok = r->merge == MERGE_SUM && r->merge_path;
            for (unsigned k = 0; ok && r->merge_keep[k]; k++)
                ok = walk(walk(md->output, r->merge_path)->descriptor, (const uint32_t[]){ r->merge_keep[k], 0 }) != NULL;
            if (!ok)
                row_fail(r, "merge_keep names no field of the summed message");
            CHECK(ok);
        }
        switch (r->route) {
        case ROUTE_PATH:
        case ROUTE_TWO_PATHS:
            CHECK(r->req.n >= 1);
            if (r->route == ROUTE_TWO_PATHS)
                CHECK(r->req.n >= 2);
            break;
        case ROUTE_BLOCK_POOL:
            CHECK(r->req_pool.n >= 1);
            break;
        case ROUTE_REFUSE:
            CHECK(r->refuse_class && r->refuse_msg && *r->refuse_msg);
            break;
        case ROUTE_ALL_MERGE:
            CHECK(r->merge != MERGE_NONE);
            break;
        case ROUTE_NONE:
            row_fail(r, "no route");
            CHECK(0);
            break;
        default:
            break;
        }
        if (r->nopath == ROUTE_REFUSE)
            CHECK(r->refuse_class && r->refuse_msg);
        if (r->flags & METHOD_POOL_FIRST)
            CHECK(r->req_pool.n >= 1);
        if (r->flags & METHOD_ALL_NAMENODES)
            CHECK(r->route == ROUTE_ALL_MERGE);
        /* A block-only row that splits by pool: one path, from a repeated
         * field whose elements hold the pools. */
        if (r->route == ROUTE_BLOCK_POOL && r->merge != MERGE_NONE) {
            const ProtobufCFieldDescriptor *top = field_of(md->input, r->req_pool.p[0][0]);
            bool ok = r->req_pool.n == 1 && r->req_pool.p[0][1] != 0 && top &&
                      top->label == PROTOBUF_C_LABEL_REPEATED;
            if (!ok)
                row_fail(r, "a split by pool needs one pool path inside a repeated field");
            CHECK(ok);
        }
    }
    check_flag_rows();
    check_retry_flags();
    check_resp_pool("addBlock", 0, (const uint32_t[]){ 1, 1, 1, 0 });          /* block.b.poolId */
    check_resp_pool("append", 0, (const uint32_t[]){ 1, 1, 1, 0 });            /* block.b.poolId */
    check_resp_pool("getBlockLocations", 0, (const uint32_t[]){ 1, 2, 1, 1, 0 }); /* locations.blocks[].b.poolId */
    check_resp_pool("getBlockLocations", 1, (const uint32_t[]){ 1, 4, 1, 1, 0 }); /* locations.lastBlock.b.poolId */
    /* Router-answered token calls refuse with the row's exception. */
    check_token_rows();
    /* A few rows spelled out, so a wrong edit of the table shows here too. */
    const struct method_row *r = method_lookup_cstr("rename2");
    CHECK(r && r->route == ROUTE_TWO_PATHS && (r->flags & METHOD_WRITE) && (r->flags & METHOD_AT_MOST_ONCE));
    r = method_lookup_cstr("getFsStats");
    CHECK(r && r->route == ROUTE_ALL_MERGE && r->merge == MERGE_SUM);
    r = method_lookup_cstr("getFileInfo");
    CHECK(r && r->route == ROUTE_PATH && !(r->flags & METHOD_WRITE));
    r = method_lookup_cstr("updatePipeline");
    CHECK(r && r->route == ROUTE_BLOCK_POOL);
    r = method_lookup_cstr("reportBadBlocks");
    CHECK(r && r->route == ROUTE_BLOCK_POOL && r->merge == MERGE_VOID);
    r = method_lookup_cstr("refreshNodes");
    CHECK(r && (r->flags & METHOD_ALL_NAMENODES));
    r = method_lookup_cstr("setSafeMode");
    CHECK(r && (r->flags & METHOD_ALL_NAMENODES) && r->merge == MERGE_AND);
    printf("%zu rows for %u rpcs\n", method_count(), svc->n_methods);
    return check_report();
}
