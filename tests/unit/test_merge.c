/*
 * test_merge: fan-out answers merged as the method table says (route_merge.c;
 * the datanode merges are finding R18 of the RBF audit),
 * on answers built with the generated protobuf-c code and read back with it.
 *
 *   - datanode reports: a datanode that two subclusters list appears once,
 *     where first seen, with the newer entry (lastUpdate), the first of equal
 *     ones; datanodes of one subcluster pass unchanged;
 *   - storage reports: the same, and numBlocks is the sum over subclusters;
 *   - slow datanode reports: as datanode reports;
 *   - union merges still drop byte-identical elements;
 *   - a malformed answer fails the merge.
 */
#include <stdlib.h>
#include <string.h>

#include "ClientNamenodeProtocol.pb-c.h"
#include "check.h"
#include "erasurecoding.pb-c.h"
#include "methods.h"
#include "route_deps.h"

#define MAXDN 4

/* One datanode as a subcluster reports it. */
struct dn_spec {
    const char *ip;
    uint32_t port;
    uint64_t last_update;
    uint64_t capacity;                  /* tells the entries apart */
    uint32_t num_blocks;
    const char *storage;                /* storage reports: the one storage's uuid */
};

struct dn_mem {
    Hadoop__Hdfs__DatanodeIDProto id;
    Hadoop__Hdfs__DatanodeInfoProto info;
    Hadoop__Hdfs__DatanodeStorageProto st;
    Hadoop__Hdfs__StorageReportProto sr;
    Hadoop__Hdfs__StorageReportProto *srs[1];
    Hadoop__Hdfs__DatanodeStorageReportProto dsr;
};

static void fill(struct dn_mem *m, const struct dn_spec *s)
{
    Hadoop__Hdfs__DatanodeIDProto id = HADOOP__HDFS__DATANODE_IDPROTO__INIT;
    Hadoop__Hdfs__DatanodeInfoProto info = HADOOP__HDFS__DATANODE_INFO_PROTO__INIT;
    Hadoop__Hdfs__DatanodeStorageProto st = HADOOP__HDFS__DATANODE_STORAGE_PROTO__INIT;
    Hadoop__Hdfs__StorageReportProto sr = HADOOP__HDFS__STORAGE_REPORT_PROTO__INIT;
    Hadoop__Hdfs__DatanodeStorageReportProto dsr = HADOOP__HDFS__DATANODE_STORAGE_REPORT_PROTO__INIT;
    m->id = id;
    m->info = info;
    m->st = st;
    m->sr = sr;
    m->dsr = dsr;
    m->id.ipaddr = (char *)s->ip;
    m->id.hostname = (char *)s->ip;
    m->id.datanodeuuid = "uuid";
    m->id.xferport = s->port;
    m->info.id = &m->id;
    m->info.has_lastupdate = 1;
    m->info.lastupdate = s->last_update;
    m->info.has_capacity = 1;
    m->info.capacity = s->capacity;
    m->info.has_numblocks = 1;
    m->info.numblocks = s->num_blocks;
    m->st.storageuuid = (char *)(s->storage ? s->storage : "DS-none");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    m->sr.storageuuid = m->st.storageuuid;
#pragma GCC diagnostic pop
    m->sr.storage = &m->st;
    m->srs[0] = &m->sr;
    m->dsr.datanodeinfo = &m->info;
    m->dsr.n_storagereports = 1;
    m->dsr.storagereports = m->srs;
}

/* A packed GetDatanodeReportResponseProto (slow: GetSlowDatanodeReportResponseProto). */
static size_t pack_report(const struct dn_spec *s, int n, bool slow, uint8_t *out)
{
    struct dn_mem mem[MAXDN];
    Hadoop__Hdfs__DatanodeInfoProto *infos[MAXDN];
    for (int i = 0; i < n; i++) {
        fill(&mem[i], &s[i]);
        infos[i] = &mem[i].info;
    }
    if (slow) {
        Hadoop__Hdfs__GetSlowDatanodeReportResponseProto r = HADOOP__HDFS__GET_SLOW_DATANODE_REPORT_RESPONSE_PROTO__INIT;
        r.n_datanodeinfoproto = (size_t)n;
        r.datanodeinfoproto = infos;
        return protobuf_c_message_pack(&r.base, out);
    }
    Hadoop__Hdfs__GetDatanodeReportResponseProto r = HADOOP__HDFS__GET_DATANODE_REPORT_RESPONSE_PROTO__INIT;
    r.n_di = (size_t)n;
    r.di = infos;
    return protobuf_c_message_pack(&r.base, out);
}

static size_t pack_storage(const struct dn_spec *s, int n, uint8_t *out)
{
    struct dn_mem mem[MAXDN];
    Hadoop__Hdfs__DatanodeStorageReportProto *dsrs[MAXDN];
    for (int i = 0; i < n; i++) {
        fill(&mem[i], &s[i]);
        dsrs[i] = &mem[i].dsr;
    }
    Hadoop__Hdfs__GetDatanodeStorageReportResponseProto r =
        HADOOP__HDFS__GET_DATANODE_STORAGE_REPORT_RESPONSE_PROTO__INIT;
    r.n_datanodestoragereports = (size_t)n;
    r.datanodestoragereports = dsrs;
    return protobuf_c_message_pack(&r.base, out);
}

static int merge(const char *method, uint8_t bufs[][1024], const size_t *lens, int n, struct buf *out)
{
    struct rd_answer a[4];
    for (int i = 0; i < n; i++) {
        a[i].p = bufs[i];
        a[i].len = lens[i];
    }
    buf_reset(out);
    return rd_merge(method_lookup_cstr(method), a, n, out);
}

static void check_reports(bool slow)
{
    const char *method = slow ? "getSlowDatanodeReport" : "getDatanodeReport";
    /* ns1 lists dn1 (older) and dn2; ns2 lists dn3 and dn1 (newer). */
    const struct dn_spec ns1[] = { { "10.0.0.1", 9866, 100, 111, 5, NULL }, { "10.0.0.2", 9866, 50, 222, 3, NULL } };
    const struct dn_spec ns2[] = { { "10.0.0.3", 9866, 10, 333, 1, NULL }, { "10.0.0.1", 9866, 200, 444, 7, NULL } };
    uint8_t bufs[2][1024];
    size_t lens[2] = { pack_report(ns1, 2, slow, bufs[0]), pack_report(ns2, 2, slow, bufs[1]) };
    struct buf out = BUF_INIT;
    CHECK_EQ(merge(method, bufs, lens, 2, &out), 0);
    Hadoop__Hdfs__DatanodeInfoProto **di = NULL;
    size_t ndi = 0;
    Hadoop__Hdfs__GetDatanodeReportResponseProto *r = NULL;
    Hadoop__Hdfs__GetSlowDatanodeReportResponseProto *sr = NULL;
    if (slow) {
        sr = hadoop__hdfs__get_slow_datanode_report_response_proto__unpack(NULL, buf_len(&out), buf_rptr(&out));
        CHECK(sr != NULL);
        if (sr) {
            di = sr->datanodeinfoproto;
            ndi = sr->n_datanodeinfoproto;
        }
    } else {
        r = hadoop__hdfs__get_datanode_report_response_proto__unpack(NULL, buf_len(&out), buf_rptr(&out));
        CHECK(r != NULL);
        if (r) {
            di = r->di;
            ndi = r->n_di;
        }
    }
    CHECK_EQ(ndi, 3u);
    if (ndi == 3) {
        /* First-seen order: dn1, dn2, dn3; dn1 is ns2's newer entry. */
        CHECK(strcmp(di[0]->id->ipaddr, "10.0.0.1") == 0 && di[0]->lastupdate == 200 && di[0]->capacity == 444);
        CHECK(strcmp(di[1]->id->ipaddr, "10.0.0.2") == 0 && di[1]->capacity == 222);
        CHECK(strcmp(di[2]->id->ipaddr, "10.0.0.3") == 0 && di[2]->capacity == 333);
        /* Datanode reports keep each entry's own numBlocks (RBF adds them up for storage reports only). */
        CHECK_EQ(di[0]->numblocks, 7u);
    }
    if (sr)
        hadoop__hdfs__get_slow_datanode_report_response_proto__free_unpacked(sr, NULL);
    if (r)
        hadoop__hdfs__get_datanode_report_response_proto__free_unpacked(r, NULL);

    /* Equal lastUpdate: the first answer's entry stays. Another port is
     * another datanode. */
    const struct dn_spec a[] = { { "10.0.0.1", 9866, 100, 111, 5, NULL } };
    const struct dn_spec b[] = { { "10.0.0.1", 9866, 100, 999, 5, NULL }, { "10.0.0.1", 9867, 1, 555, 0, NULL } };
    lens[0] = pack_report(a, 1, slow, bufs[0]);
    lens[1] = pack_report(b, 2, slow, bufs[1]);
    CHECK_EQ(merge(method, bufs, lens, 2, &out), 0);
    if (!slow) {
        r = hadoop__hdfs__get_datanode_report_response_proto__unpack(NULL, buf_len(&out), buf_rptr(&out));
        CHECK(r && r->n_di == 2 && r->di[0]->capacity == 111 && r->di[1]->id->xferport == 9867);
        if (r)
            hadoop__hdfs__get_datanode_report_response_proto__free_unpacked(r, NULL);
    }
    buf_free(&out);
}

static void check_storage(void)
{
    /* dn1 in both subclusters; ns2's entry is newer: its storage is kept and
     * numBlocks is 5 + 7. dn2 only in ns1: as it was. */
    const struct dn_spec ns1[] = { { "10.0.0.1", 9866, 100, 111, 5, "DS-old" },
                                   { "10.0.0.2", 9866, 100, 222, 3, "DS-two" } };
    const struct dn_spec ns2[] = { { "10.0.0.1", 9866, 200, 444, 7, "DS-new" } };
    const struct dn_spec ns3[] = { { "10.0.0.1", 9866, 150, 555, 4, "DS-mid" } };
    uint8_t bufs[3][1024];
    size_t lens[3] = { pack_storage(ns1, 2, bufs[0]), pack_storage(ns2, 1, bufs[1]), pack_storage(ns3, 1, bufs[2]) };
    struct buf out = BUF_INIT;
    CHECK_EQ(merge("getDatanodeStorageReport", bufs, lens, 3, &out), 0);
    Hadoop__Hdfs__GetDatanodeStorageReportResponseProto *r =
        hadoop__hdfs__get_datanode_storage_report_response_proto__unpack(NULL, buf_len(&out), buf_rptr(&out));
    CHECK(r != NULL);
    if (r) {
        CHECK_EQ(r->n_datanodestoragereports, 2u);
        if (r->n_datanodestoragereports == 2) {
            Hadoop__Hdfs__DatanodeStorageReportProto *d0 = r->datanodestoragereports[0];
            Hadoop__Hdfs__DatanodeStorageReportProto *d1 = r->datanodestoragereports[1];
            CHECK(strcmp(d0->datanodeinfo->id->ipaddr, "10.0.0.1") == 0);
            CHECK_EQ(d0->datanodeinfo->lastupdate, 200u);
            CHECK_EQ(d0->datanodeinfo->capacity, 444u);
            CHECK_EQ(d0->datanodeinfo->numblocks, 16u);
            CHECK(d0->n_storagereports == 1 && strcmp(d0->storagereports[0]->storage->storageuuid, "DS-new") == 0);
            CHECK(strcmp(d1->datanodeinfo->id->ipaddr, "10.0.0.2") == 0);
            CHECK_EQ(d1->datanodeinfo->numblocks, 3u);
            CHECK(strcmp(d1->storagereports[0]->storage->storageuuid, "DS-two") == 0);
        }
        hadoop__hdfs__get_datanode_storage_report_response_proto__free_unpacked(r, NULL);
    }

    /* One subcluster: the answer's entries come back as they were. */
    CHECK_EQ(merge("getDatanodeStorageReport", bufs, lens, 1, &out), 0);
    CHECK(buf_len(&out) == lens[0] && memcmp(buf_rptr(&out), bufs[0], lens[0]) == 0);

    /* A truncated answer fails the merge. */
    lens[1] -= 3;
    CHECK(merge("getDatanodeStorageReport", bufs, lens, 2, &out) < 0);
    buf_free(&out);
}

static void check_union(void)
{
    Hadoop__Hdfs__CodecProto c1 = HADOOP__HDFS__CODEC_PROTO__INIT, c2 = HADOOP__HDFS__CODEC_PROTO__INIT;
    c1.codec = "rs";
    c1.coders = "rs_native";
    c2.codec = "xor";
    c2.coders = "xor_native";
    Hadoop__Hdfs__CodecProto *l1[] = { &c1 }, *l2[] = { &c1, &c2 };
    Hadoop__Hdfs__GetErasureCodingCodecsResponseProto r1 = HADOOP__HDFS__GET_ERASURE_CODING_CODECS_RESPONSE_PROTO__INIT;
    Hadoop__Hdfs__GetErasureCodingCodecsResponseProto r2 = HADOOP__HDFS__GET_ERASURE_CODING_CODECS_RESPONSE_PROTO__INIT;
    r1.n_codec = 1;
    r1.codec = l1;
    r2.n_codec = 2;
    r2.codec = l2;
    uint8_t bufs[2][1024];
    size_t lens[2] = { protobuf_c_message_pack(&r1.base, bufs[0]), protobuf_c_message_pack(&r2.base, bufs[1]) };
    struct buf out = BUF_INIT;
    CHECK_EQ(merge("getErasureCodingCodecs", bufs, lens, 2, &out), 0);
    Hadoop__Hdfs__GetErasureCodingCodecsResponseProto *r =
        hadoop__hdfs__get_erasure_coding_codecs_response_proto__unpack(NULL, buf_len(&out), buf_rptr(&out));
    CHECK(r && r->n_codec == 2 && strcmp(r->codec[0]->codec, "rs") == 0 && strcmp(r->codec[1]->codec, "xor") == 0);
    if (r)
        hadoop__hdfs__get_erasure_coding_codecs_response_proto__free_unpacked(r, NULL);
    buf_free(&out);
}

int main(void)
{
    check_reports(false);
    check_reports(true);
    check_storage();
    check_union();
    return check_report();
}
