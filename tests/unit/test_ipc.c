/* Unit tests of the Hadoop IPC codec: known bytes from the wire facts,
 * round trips, incremental cutting, and malformed input. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ipc.h"
#include "pbwire.h"

static const uint8_t CID[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

/* getFileInfo("/a"), call id 0, retry 0: the worked layout in the facts. */
static size_t worked_frame(uint8_t *f)
{
    static const char proto[] = "org.apache.hadoop.hdfs.protocol.ClientProtocol";
    size_t n = 0;
    uint8_t body[128];
    size_t b = 0;
    body[b++] = 0x1A;
    const uint8_t h[] = { 0x08, 0x02, 0x10, 0x00, 0x18, 0x00, 0x22, 0x10 };
    memcpy(body + b, h, sizeof h);
    b += sizeof h;
    memcpy(body + b, CID, 16);
    b += 16;
    body[b++] = 0x28;
    body[b++] = 0x00;
    body[b++] = 0x3F;
    body[b++] = 0x0A;
    body[b++] = 0x0B;
    memcpy(body + b, "getFileInfo", 11);
    b += 11;
    body[b++] = 0x12;
    body[b++] = 0x2E;
    memcpy(body + b, proto, 46);
    b += 46;
    body[b++] = 0x18;
    body[b++] = 0x01;
    const uint8_t req[] = { 0x04, 0x0A, 0x02, '/', 'a' };
    memcpy(body + b, req, sizeof req);
    b += sizeof req;
    f[n++] = 0;
    f[n++] = 0;
    f[n++] = 0;
    f[n++] = (uint8_t)b;
    memcpy(f + n, body, b);
    return n + b;
}

static void test_preamble(void)
{
    struct ipc_preamble pr;
    const uint8_t ok[] = { 'h', 'r', 'p', 'c', 9, 0, 0 };
    CHECK_EQ(ipc_parse_preamble(ok, 7, &pr), IPC_OK);
    CHECK_EQ(pr.auth, IPC_AUTH_NONE);
    CHECK_EQ(ipc_parse_preamble(ok, 3, &pr), IPC_AGAIN);
    const uint8_t sasl[] = { 'h', 'r', 'p', 'c', 9, 0, 0xDF };
    CHECK_EQ(ipc_parse_preamble(sasl, 7, &pr), IPC_OK);
    CHECK_EQ(pr.auth, IPC_AUTH_SASL);
    const uint8_t v8[] = { 'h', 'r', 'p', 'c', 8, 0, 0 };
    CHECK_EQ(ipc_parse_preamble(v8, 7, &pr), IPC_EVERSION);
    const uint8_t badauth[] = { 'h', 'r', 'p', 'c', 9, 0, 5 };
    CHECK_EQ(ipc_parse_preamble(badauth, 7, &pr), IPC_EAUTH);
    CHECK_EQ(ipc_parse_preamble((const uint8_t *)"GET / HTTP/1.1", 14, &pr), IPC_EHTTP);
    CHECK_EQ(ipc_parse_preamble((const uint8_t *)"hxpc", 4, &pr), IPC_EMAGIC);
    CHECK_EQ(ipc_parse_preamble((const uint8_t *)"x", 1, &pr), IPC_EMAGIC);
}

static void test_worked_layout(void)
{
    uint8_t f[256];
    size_t n = worked_frame(f);
    CHECK_EQ(n, 100u); /* 4 + 96, as the facts say */
    const uint8_t *body;
    uint32_t blen;
    size_t flen;
    CHECK_EQ(ipc_frame_cut(f, n, IPC_MAX_FRAME_DEFAULT, &body, &blen, &flen), IPC_OK);
    CHECK_EQ(blen, 96u);
    CHECK_EQ(flen, n);
    struct ipc_call c;
    CHECK_EQ(ipc_parse_call(body, blen, &c), IPC_OK);
    CHECK_EQ(c.hdr.call_id, 0);
    CHECK_EQ(c.hdr.retry_count, 0);
    CHECK_EQ(c.hdr.rpc_kind, 2u);
    CHECK(c.hdr.client_id.len == 16 && memcmp(c.hdr.client_id.p, CID, 16) == 0);
    CHECK(ipc_span_eq(c.method, "getFileInfo"));
    CHECK(ipc_span_eq(c.protocol, IPC_CLIENT_PROTOCOL));
    CHECK_EQ(c.client_protocol_version, 1u);
    CHECK(c.param.len == 4 && memcmp(c.param.p, "\x0a\x02/a", 4) == 0);

    /* The writer produces the same bytes. */
    struct buf out = BUF_INIT;
    struct ipc_ids ids = { 0, 0, CID, 16 };
    CHECK_EQ(ipc_write_call_raw(&out, &ids, "getFileInfo", IPC_CLIENT_PROTOCOL, (const uint8_t *)"\x0a\x02/a", 4), IPC_OK);
    CHECK(buf_len(&out) == n && memcmp(buf_rptr(&out), f, n) == 0);
    buf_free(&out);
}

static void test_incremental(void)
{
    /* Three frames in one stream, fed a byte at a time and all at once. */
    struct buf s = BUF_INIT;
    struct ipc_ids ids = { 0, 0, CID, 16 };
    for (int i = 0; i < 3; i++) {
        ids.call_id = i + 7;
        CHECK_EQ(ipc_write_call_raw(&s, &ids, "mkdirs", IPC_CLIENT_PROTOCOL, (const uint8_t *)"\x0a\x01x", 3), IPC_OK);
    }
    size_t total = buf_len(&s);
    const uint8_t *all = buf_rptr(&s);
    int seen = 0;
    size_t off = 0;
    for (size_t have = 1; have <= total; have++) {
        const uint8_t *body;
        uint32_t blen;
        size_t flen;
        int rc = ipc_frame_cut(all + off, have - off, IPC_MAX_FRAME_DEFAULT, &body, &blen, &flen);
        if (rc == IPC_AGAIN)
            continue;
        CHECK_EQ(rc, IPC_OK);
        struct ipc_call c;
        CHECK_EQ(ipc_parse_call(body, blen, &c), IPC_OK);
        CHECK_EQ(c.hdr.call_id, seen + 7);
        seen++;
        off += flen;
    }
    CHECK_EQ(seen, 3);
    CHECK_EQ(off, total);
    buf_free(&s);
}

static void test_limits(void)
{
    const uint8_t big[] = { 0x08, 0x00, 0x00, 0x01 }; /* 128 MiB + 1 */
    const uint8_t *body;
    uint32_t blen;
    size_t flen;
    CHECK_EQ(ipc_frame_cut(big, 4, IPC_MAX_FRAME_DEFAULT, &body, &blen, &flen), IPC_ETOOBIG);
    const uint8_t neg[] = { 0xff, 0xff, 0xff, 0xff };
    CHECK_EQ(ipc_frame_cut(neg, 4, UINT32_MAX, &body, &blen, &flen), IPC_ETOOBIG);
    const uint8_t small[] = { 0, 0, 0, 10, 1, 2 };
    CHECK_EQ(ipc_frame_cut(small, 6, 5, &body, &blen, &flen), IPC_ETOOBIG);
    CHECK_EQ(ipc_frame_cut(small, 6, 100, &body, &blen, &flen), IPC_AGAIN);
}

static void test_malformed(void)
{
    struct ipc_call c;
    /* Truncated varint length. */
    CHECK_EQ(ipc_parse_call((const uint8_t *)"\x80", 1, &c), IPC_EMALFORMED);
    /* Header length past the end. */
    CHECK_EQ(ipc_parse_call((const uint8_t *)"\x10\x08\x02", 3, &c), IPC_EMALFORMED);
    /* Header without a call id. */
    CHECK_EQ(ipc_parse_call((const uint8_t *)"\x02\x08\x02", 3, &c), IPC_EMALFORMED);
    /* Group wire type inside the header. */
    CHECK_EQ(ipc_parse_call((const uint8_t *)"\x04\x18\x00\x0b\x00", 5, &c), IPC_EMALFORMED);
    /* A call with no request header. */
    CHECK_EQ(ipc_parse_call((const uint8_t *)"\x02\x18\x00", 3, &c), IPC_EMALFORMED);
    /* Trailing garbage after the request message. */
    uint8_t f[256];
    size_t n = worked_frame(f);
    f[n] = 0x00;
    CHECK_EQ(ipc_parse_call(f + 4, n - 4 + 1, &c), IPC_EMALFORMED);
    /* An 11-byte varint. */
    const uint8_t v11[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
    uint64_t v;
    CHECK_EQ(pb_get_varint(v11, v11 + sizeof v11, &v), 0u);
    /* A ping is a header alone. */
    struct buf b = BUF_INIT;
    uint8_t h[32];
    size_t hl = 0;
    hl += pb_put_varint_field(h + hl, 3, pb_zigzag32(IPC_CALLID_PING));
    hl += pb_put_bytes_field(h + hl, 4, "", 0);
    uint8_t body[40];
    size_t bl = pb_put_varint(body, hl);
    memcpy(body + bl, h, hl);
    bl += hl;
    CHECK_EQ(ipc_parse_call(body, bl, &c), IPC_OK);
    CHECK_EQ(c.hdr.call_id, IPC_CALLID_PING);
    buf_free(&b);
}

static void test_context_roundtrip(void)
{
    struct buf b = BUF_INIT;
    CHECK_EQ(ipc_write_context(&b, CID, "alice", "router", IPC_CLIENT_PROTOCOL), IPC_OK);
    const uint8_t *body;
    uint32_t blen;
    size_t flen;
    CHECK_EQ(ipc_frame_cut(buf_rptr(&b), buf_len(&b), IPC_MAX_FRAME_DEFAULT, &body, &blen, &flen), IPC_OK);
    struct ipc_call c;
    CHECK_EQ(ipc_parse_call(body, blen, &c), IPC_OK);
    CHECK_EQ(c.hdr.call_id, IPC_CALLID_CONTEXT);
    struct ipc_context ctx;
    CHECK_EQ(ipc_parse_context(c.oob.p, c.oob.len, &ctx), IPC_OK);
    CHECK(strcmp(ctx.effective_user, "alice") == 0);
    CHECK(strcmp(ctx.real_user, "router") == 0);
    CHECK(strcmp(ctx.protocol, IPC_CLIENT_PROTOCOL) == 0);
    /* A user name longer than the field is refused, not truncated. */
    char longname[400];
    memset(longname, 'u', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    buf_reset(&b);
    CHECK_EQ(ipc_write_context(&b, CID, longname, NULL, IPC_CLIENT_PROTOCOL), IPC_OK);
    CHECK_EQ(ipc_frame_cut(buf_rptr(&b), buf_len(&b), IPC_MAX_FRAME_DEFAULT, &body, &blen, &flen), IPC_OK);
    CHECK_EQ(ipc_parse_call(body, blen, &c), IPC_OK);
    CHECK_EQ(ipc_parse_context(c.oob.p, c.oob.len, &ctx), IPC_EMALFORMED);
    buf_free(&b);
}

static void test_reply_roundtrip(void)
{
    struct buf b = BUF_INIT;
    struct ipc_ids ids = { 42, 3, CID, 16 };
    CHECK_EQ(ipc_write_reply_raw(&b, &ids, (const uint8_t *)"\x08\x01", 2), IPC_OK);
    ids.call_id = IPC_CALLID_AUTH_FAILED;
    CHECK_EQ(ipc_write_error(&b, &ids, IPC_FATAL, IPC_FATAL_VERSION_MISMATCH, "org.apache.hadoop.ipc.RPC$VersionMismatch", "bad"), IPC_OK);
    ids.call_id = 43;
    CHECK_EQ(ipc_write_reply(&b, &ids, NULL), IPC_OK);

    const uint8_t *p = buf_rptr(&b), *body;
    size_t left = buf_len(&b), flen;
    uint32_t blen;
    struct ipc_reply r;

    CHECK_EQ(ipc_frame_cut(p, left, IPC_MAX_FRAME_DEFAULT, &body, &blen, &flen), IPC_OK);
    CHECK_EQ(ipc_parse_reply(body, blen, &r), IPC_OK);
    CHECK_EQ(r.call_id, 42);
    CHECK_EQ(r.status, IPC_SUCCESS);
    CHECK_EQ(r.retry_count, 3);
    CHECK(r.payload.len == 2 && r.payload.p[0] == 0x08);
    CHECK(r.client_id.len == 16);
    p += flen, left -= flen;

    CHECK_EQ(ipc_frame_cut(p, left, IPC_MAX_FRAME_DEFAULT, &body, &blen, &flen), IPC_OK);
    CHECK_EQ(ipc_parse_reply(body, blen, &r), IPC_OK);
    CHECK_EQ(r.call_id, -1);
    CHECK_EQ(r.status, IPC_FATAL);
    CHECK_EQ(r.error_detail, (uint32_t)IPC_FATAL_VERSION_MISMATCH);
    CHECK(ipc_span_eq(r.exception_class, "org.apache.hadoop.ipc.RPC$VersionMismatch"));
    CHECK(ipc_span_eq(r.error_msg, "bad"));
    /* Negative ids go out as unsigned 32-bit varints (5 bytes). */
    CHECK(memcmp(r.header.p, "\x08\xff\xff\xff\xff\x0f", 6) == 0);
    p += flen, left -= flen;

    CHECK_EQ(ipc_frame_cut(p, left, IPC_MAX_FRAME_DEFAULT, &body, &blen, &flen), IPC_OK);
    CHECK_EQ(ipc_parse_reply(body, blen, &r), IPC_OK);
    CHECK_EQ(r.call_id, 43);
    CHECK_EQ(r.payload.len, 0u);
    CHECK_EQ(left, flen);
    buf_free(&b);
}

static void test_client_id(void)
{
    uint8_t a[16], b[16];
    ipc_new_client_id(a);
    ipc_new_client_id(b);
    CHECK(memcmp(a, b, 16) != 0);
    CHECK_EQ(a[6] >> 4, 4);
}

int main(void)
{
    test_preamble();
    test_worked_layout();
    test_incremental();
    test_limits();
    test_malformed();
    test_context_roundtrip();
    test_reply_roundtrip();
    test_client_id();
    return check_report();
}
