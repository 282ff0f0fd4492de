/*
 * test_pbrewrite: the nested path walker and rewriter, checked against
 * protoc-c's own encoder and decoder (the messages are real ClientProtocol
 * messages; the oracle is unpack of the rewritten bytes).
 */
#include <stdlib.h>
#include <string.h>

#include "ClientNamenodeProtocol.pb-c.h"
#include "check.h"
#include "pbrewrite.h"
#include "pbwire.h"

#define P(...) ((const uint32_t[]){ __VA_ARGS__, 0 })

/* Maps "/dst..." to "/mnt/client..." (longer) and "/x/y" to "/z" (shorter). */
struct map_ctx {
    char scratch[4096];
    int seen;
};

static int map_prefix(void *vctx, unsigned idx, const uint8_t *s, size_t len, const uint8_t **out, size_t *out_len)
{
    struct map_ctx *c = vctx;
    c->seen++;
    if (len >= 4 && memcmp(s, "/dst", 4) == 0) {
        int n = snprintf(c->scratch, sizeof c->scratch, "/mnt/client%.*s", (int)(len - 4), (const char *)s + 4);
        *out = (const uint8_t *)c->scratch;
        *out_len = (size_t)n;
        return 1;
    }
    if (len == 4 && memcmp(s, "/x/y", 4) == 0) {
        *out = (const uint8_t *)"/z";
        *out_len = 2;
        return 1;
    }
    if (len == 5 && memcmp(s, "abort", 5) == 0)
        return -1;
    return 0;
}

static size_t pack(const ProtobufCMessage *m, uint8_t **out)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    *out = malloc(n ? n : 1);
    protobuf_c_message_pack(m, *out);
    return n;
}

/* A listing with symlink targets (field 1.1[].9) that need mapping. */
static void test_nested_repeated(void)
{
    Hadoop__Hdfs__HdfsFileStatusProto st[3];
    Hadoop__Hdfs__HdfsFileStatusProto *sp[3];
    Hadoop__Hdfs__FsPermissionProto perm = HADOOP__HDFS__FS_PERMISSION_PROTO__INIT;
    perm.perm = 0644;
    const char *names[3] = { "a", "b", "c" };
    /* b's target is long enough that the mapped status crosses 127 bytes:
     * its length prefix grows from one byte to two. */
    char longt[120];
    memset(longt, 'q', sizeof longt);
    memcpy(longt, "/dst/", 5);
    longt[sizeof longt - 1] = 0;
    const char *targets[3] = { "/dst/t1", longt, "relative" };
    for (int i = 0; i < 3; i++) {
        Hadoop__Hdfs__HdfsFileStatusProto z = HADOOP__HDFS__HDFS_FILE_STATUS_PROTO__INIT;
        st[i] = z;
        st[i].filetype = HADOOP__HDFS__HDFS_FILE_STATUS_PROTO__FILE_TYPE__IS_SYMLINK;
        st[i].path.data = (uint8_t *)names[i];
        st[i].path.len = 1;
        st[i].symlink.data = (uint8_t *)targets[i];
        st[i].symlink.len = strlen(targets[i]);
        st[i].has_symlink = 1;
        st[i].permission = &perm;
        st[i].owner = "o";
        st[i].group = "g";
        sp[i] = &st[i];
    }
    Hadoop__Hdfs__DirectoryListingProto dl = HADOOP__HDFS__DIRECTORY_LISTING_PROTO__INIT;
    dl.n_partiallisting = 3;
    dl.partiallisting = sp;
    dl.remainingentries = 7;
    Hadoop__Hdfs__GetListingResponseProto resp = HADOOP__HDFS__GET_LISTING_RESPONSE_PROTO__INIT;
    resp.dirlist = &dl;
    uint8_t *msg;
    size_t len = pack(&resp.base, &msg);

    struct pb_pathset ps = { (const uint32_t *const[]){ P(1, 1, 9) }, 1 };
    struct buf out = BUF_INIT;
    struct map_ctx c = { .seen = 0 };
    CHECK_EQ(pbr_rewrite(msg, len, &ps, map_prefix, &c, &out), PBR_CHANGED);
    CHECK_EQ(c.seen, 3);
    Hadoop__Hdfs__GetListingResponseProto *got =
        hadoop__hdfs__get_listing_response_proto__unpack(NULL, buf_len(&out), buf_rptr(&out));
    CHECK(got != NULL);
    if (got) {
        CHECK_EQ(got->dirlist->n_partiallisting, 3u);
        CHECK_EQ(got->dirlist->remainingentries, 7u);
        const Hadoop__Hdfs__HdfsFileStatusProto *g0 = got->dirlist->partiallisting[0];
        CHECK(g0->symlink.len == strlen("/mnt/client/t1") && memcmp(g0->symlink.data, "/mnt/client/t1", 14) == 0);
        const Hadoop__Hdfs__HdfsFileStatusProto *g1 = got->dirlist->partiallisting[1];
        CHECK(g1->symlink.len == strlen(longt) - 4 + 11 && memcmp(g1->symlink.data + 11, longt + 4, 10) == 0);
        const Hadoop__Hdfs__HdfsFileStatusProto *g2 = got->dirlist->partiallisting[2];
        CHECK(g2->symlink.len == 8 && memcmp(g2->symlink.data, "relative", 8) == 0);
        CHECK(g2->permission && g2->permission->perm == 0644);
        CHECK(strcmp(g1->owner, "o") == 0 && g1->path.len == 1 && g1->path.data[0] == 'b');
        hadoop__hdfs__get_listing_response_proto__free_unpacked(got, NULL);
    }
    /* The walker sees the same three strings, in order. */
    buf_reset(&out);
    CHECK_EQ(pbr_find_one(msg, len, P(1, 1, 9), &(const uint8_t *){ NULL }, &(size_t){ 0 }), PBR_EDUP);
    /* Nothing to map: unchanged, nothing written. */
    targets[0] = targets[1] = "relative";
    for (int i = 0; i < 2; i++) {
        st[i].symlink.data = (uint8_t *)"keep";
        st[i].symlink.len = 4;
    }
    free(msg);
    len = pack(&resp.base, &msg);
    CHECK_EQ(pbr_rewrite(msg, len, &ps, map_prefix, &c, &out), PBR_UNCHANGED);
    CHECK_EQ(buf_len(&out), 0u);
    free(msg);
    buf_free(&out);
}

/* Two top-level paths (rename2), a shorter and a longer replacement, unknown
 * fields and field order kept. */
static void test_top_level(void)
{
    Hadoop__Hdfs__Rename2RequestProto req = HADOOP__HDFS__RENAME2_REQUEST_PROTO__INIT;
    req.src = "/x/y";
    req.dst = "/dst/new";
    req.overwritedest = 1;
    req.has_movetotrash = 1;
    req.movetotrash = 1;
    uint8_t *msg;
    size_t len = pack(&req.base, &msg);
    /* An unknown field (99, varint) appended must survive. */
    uint8_t *m2 = malloc(len + 8);
    memcpy(m2, msg, len);
    size_t l2 = len + pb_put_varint_field(m2 + len, 99, 12345);
    struct pb_pathset ps = { (const uint32_t *const[]){ P(1), P(2) }, 2 };
    struct buf out = BUF_INIT;
    struct map_ctx c = { .seen = 0 };
    CHECK_EQ(pbr_rewrite(m2, l2, &ps, map_prefix, &c, &out), PBR_CHANGED);
    Hadoop__Hdfs__Rename2RequestProto *got =
        hadoop__hdfs__rename2_request_proto__unpack(NULL, buf_len(&out), buf_rptr(&out));
    CHECK(got != NULL);
    if (got) {
        CHECK(strcmp(got->src, "/z") == 0);
        CHECK(strcmp(got->dst, "/mnt/client/new") == 0);
        CHECK(got->overwritedest && got->has_movetotrash && got->movetotrash);
        CHECK_EQ(got->base.n_unknown_fields, 1u);
        hadoop__hdfs__rename2_request_proto__free_unpacked(got, NULL);
    }
    const uint8_t *s;
    size_t sl;
    CHECK_EQ(pbr_find_one(m2, l2, P(2), &s, &sl), 1);
    CHECK(sl == 8 && memcmp(s, "/dst/new", 8) == 0);
    CHECK_EQ(pbr_find_one(m2, l2, P(7), &s, &sl), 0);
    /* A duplicated path field is refused by find_one (protobuf takes the
     * last; the router must not route by one copy and forward another). */
    uint8_t dup[64];
    size_t dl = pb_put_bytes_field(dup, 1, "/a", 2);
    dl += pb_put_bytes_field(dup + dl, 1, "/b", 2);
    CHECK_EQ(pbr_find_one(dup, dl, P(1), &s, &sl), PBR_EDUP);
    free(msg);
    free(m2);
    buf_free(&out);
}

static void test_errors(void)
{
    struct buf out = BUF_INIT;
    struct map_ctx c = { .seen = 0 };
    struct pb_pathset ps = { (const uint32_t *const[]){ P(1) }, 1 };
    /* Truncated: a length past the end. */
    const uint8_t bad[] = { 0x0a, 0x05, '/', 'a' };
    CHECK_EQ(pbr_rewrite(bad, sizeof bad, &ps, map_prefix, &c, &out), PBR_EMALFORMED);
    CHECK_EQ(buf_len(&out), 0u);
    CHECK_EQ(pbr_walk(bad, sizeof bad, &ps, NULL, NULL), PBR_EPATH);
    /* A bad tag (field 0). */
    const uint8_t bad2[] = { 0x02, 0x01, 'x' };
    CHECK_EQ(pbr_rewrite(bad2, sizeof bad2, &ps, map_prefix, &c, &out), PBR_EMALFORMED);
    /* The callback aborts: out restored. */
    uint8_t m[32];
    size_t ml = pb_put_bytes_field(m, 1, "/dst/a", 6);
    ml += pb_put_bytes_field(m + ml, 1, "abort", 5);
    CHECK_EQ(pbr_rewrite(m, ml, &ps, map_prefix, &c, &out), PBR_EABORT);
    CHECK_EQ(buf_len(&out), 0u);
    /* Bad path sets: empty, a prefix of another, too deep. */
    struct pb_pathset empty = { NULL, 0 };
    CHECK_EQ(pbr_check_paths(&empty), PBR_EPATH);
    struct pb_pathset prefix = { (const uint32_t *const[]){ P(1), P(1, 2) }, 2 };
    CHECK_EQ(pbr_check_paths(&prefix), PBR_EPATH);
    struct pb_pathset deep = { (const uint32_t *const[]){ P(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1) }, 1 };
    CHECK_EQ(pbr_check_paths(&deep), PBR_EPATH);
    CHECK_EQ(pbr_rewrite(m, ml, &prefix, map_prefix, &c, &out), PBR_EPATH);
    /* A varint field with a path's number is skipped, not an error. */
    uint8_t v[16];
    size_t vl = pb_put_varint_field(v, 1, 300);
    CHECK_EQ(pbr_rewrite(v, vl, &ps, map_prefix, &c, &out), PBR_UNCHANGED);
    /* Empty message. */
    CHECK_EQ(pbr_rewrite(NULL, 0, &ps, map_prefix, &c, &out), PBR_UNCHANGED);
    buf_free(&out);
}

int main(void)
{
    test_nested_repeated();
    test_top_level();
    test_errors();
    return check_report();
}
