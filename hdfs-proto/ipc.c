/*
 * ipc.c: Hadoop IPC frames in and out. See ipc.h for the layout.
 *
 * The headers (RpcRequestHeaderProto, RequestHeaderProto,
 * RpcResponseHeaderProto, IpcConnectionContextProto) are read and written
 * here at the byte level with pbwire, since they are on every call; request
 * and response messages are packed by protobuf-c straight into the output
 * buffer, after the length prefixes are computed from their packed size.
 */
#include "wire.h"
#include "ipc.h"

#include <fcntl.h>
#include <protobuf-c/protobuf-c.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "pbwire.h"

const char *ipc_strerror(int rc)
{
    switch (rc) {
    case IPC_OK: return "ok";
    case IPC_AGAIN: return "incomplete";
    case IPC_EMAGIC: return "bad connection preamble (not hrpc)";
    case IPC_EHTTP: return "HTTP request on the IPC port";
    case IPC_EVERSION: return "unsupported IPC version";
    case IPC_EAUTH: return "unknown auth protocol";
    case IPC_ETOOBIG: return "frame length over the limit";
    case IPC_EMALFORMED: return "malformed frame";
    case IPC_ENOMEM: return "out of memory";
    default: return "unknown error";
    }
}

int ipc_parse_preamble(const uint8_t *p, size_t len, struct ipc_preamble *out)
{
    static const uint8_t magic[4] = { 'h', 'r', 'p', 'c' };
    size_t n = len < 4 ? len : 4;
    if (memcmp(p, magic, n) != 0)
        return (len >= 4 && memcmp(p, "GET ", 4) == 0) ? IPC_EHTTP : IPC_EMAGIC;
    if (len < IPC_PREAMBLE_LEN)
        return IPC_AGAIN;
    out->version = p[4];
    out->service_class = p[5];
    out->auth = p[6];
    if (out->version != IPC_VERSION)
        return IPC_EVERSION;
    if (out->auth != IPC_AUTH_NONE && out->auth != IPC_AUTH_SASL)
        return IPC_EAUTH;
    return IPC_OK;
}


int ipc_frame_cut(const uint8_t *p, size_t len, uint32_t max_frame,
                  const uint8_t **body, uint32_t *body_len, size_t *frame_len)
{
    if (len < 4)
        return IPC_AGAIN;
    uint32_t n = wire_get_be32(p);
    if (n > max_frame || n > INT32_MAX)
        return IPC_ETOOBIG;
    if (len - 4 < n)
        return IPC_AGAIN;
    *body = p + 4;
    *body_len = n;
    *frame_len = 4 + (size_t)n;
    return IPC_OK;
}

/* Reads one varint-delimited message at *pp; sets span, advances. */
static int get_delimited(const uint8_t **pp, const uint8_t *end, struct ipc_span *s)
{
    uint64_t n;
    size_t k = pb_get_varint(*pp, end, &n);
    if (!k || n > (uint64_t)(end - *pp - k))
        return -1;
    s->p = *pp + k;
    s->len = (size_t)n;
    *pp = s->p + n;
    return 0;
}

static int parse_rpc_header(struct ipc_span m, struct ipc_rpc_header *h)
{
    const uint8_t *p = m.p, *end = m.p + m.len;
    struct pb_field f;
    int r;
    bool have_call_id = false;
    memset(h, 0, sizeof(*h));
    h->retry_count = -1;
    h->raw = m;
    while ((r = pb_next_field(&p, end, &f)) > 0) {
        switch (f.num) {
        case 1: if (f.type != PB_VARINT) return -1; h->rpc_kind = (uint32_t)f.varint; break;
        case 2: if (f.type != PB_VARINT) return -1; h->rpc_op = (uint32_t)f.varint; break;
        case 3:
            if (f.type != PB_VARINT) return -1;
            h->call_id = pb_unzigzag32(f.varint);
            have_call_id = true;
            break;
        case 4: if (f.type != PB_LEN) return -1; h->client_id = (struct ipc_span){ f.data, f.len }; break;
        case 5: if (f.type != PB_VARINT) return -1; h->retry_count = pb_unzigzag32(f.varint); break;
        case 6: if (f.type != PB_LEN) return -1; h->trace_info = (struct ipc_span){ f.data, f.len }; break;
        case 7: if (f.type != PB_LEN) return -1; h->caller_context = (struct ipc_span){ f.data, f.len }; break;
        case 8:
            if (f.type != PB_VARINT) return -1;
            h->state_id = (int64_t)f.varint;
            h->has_state_id = true;
            break;
        case 9: if (f.type != PB_LEN) return -1; h->router_federated_state = (struct ipc_span){ f.data, f.len }; break;
        default: break; /* unknown fields are skipped */
        }
    }
    /* callId and clientId are required fields. */
    if (r < 0 || !have_call_id)
        return -1;
    return 0;
}

static int parse_request_header(struct ipc_span m, struct ipc_call *c)
{
    const uint8_t *p = m.p, *end = m.p + m.len;
    struct pb_field f;
    int r;
    bool have_method = false, have_proto = false;
    while ((r = pb_next_field(&p, end, &f)) > 0) {
        switch (f.num) {
        case 1: if (f.type != PB_LEN) return -1; c->method = (struct ipc_span){ f.data, f.len }; have_method = true; break;
        case 2: if (f.type != PB_LEN) return -1; c->protocol = (struct ipc_span){ f.data, f.len }; have_proto = true; break;
        case 3: if (f.type != PB_VARINT) return -1; c->client_protocol_version = f.varint; break;
        default: break;
        }
    }
    if (r < 0 || !have_method || !have_proto || c->method.len == 0)
        return -1;
    return 0;
}

int ipc_parse_call(const uint8_t *body, size_t len, struct ipc_call *c)
{
    const uint8_t *p = body, *end = body + len;
    struct ipc_span hdr;
    memset(c, 0, sizeof(*c));
    if (get_delimited(&p, end, &hdr) < 0 || parse_rpc_header(hdr, &c->hdr) < 0)
        return IPC_EMALFORMED;
    if (c->hdr.call_id < 0) {
        if (c->hdr.call_id == IPC_CALLID_PING) {
            return p == end ? IPC_OK : IPC_EMALFORMED;
        }
        if (p == end)
            return IPC_EMALFORMED;
        if (get_delimited(&p, end, &c->oob) < 0 || p != end)
            return IPC_EMALFORMED;
        return IPC_OK;
    }
    struct ipc_span rh;
    if (get_delimited(&p, end, &rh) < 0 || parse_request_header(rh, c) < 0)
        return IPC_EMALFORMED;
    /* The request message: delimited; a frame that stops here means an empty one. */
    if (p == end) {
        c->param = (struct ipc_span){ p, 0 };
        return IPC_OK;
    }
    if (get_delimited(&p, end, &c->param) < 0 || p != end)
        return IPC_EMALFORMED;
    return IPC_OK;
}

static int copy_string_field(const struct pb_field *f, char *dst, size_t dstlen)
{
    if (f->type != PB_LEN || f->len >= dstlen)
        return -1;
    memcpy(dst, f->data, f->len);
    dst[f->len] = 0;
    return 0;
}

int ipc_parse_context(const uint8_t *m, size_t len, struct ipc_context *ctx)
{
    const uint8_t *p = m, *end = m + len;
    struct pb_field f;
    int r;
    memset(ctx, 0, sizeof(*ctx));
    while ((r = pb_next_field(&p, end, &f)) > 0) {
        if (f.num == 2) {
            if (f.type != PB_LEN)
                return IPC_EMALFORMED;
            const uint8_t *q = f.data, *qend = f.data + f.len;
            struct pb_field u;
            int r2;
            while ((r2 = pb_next_field(&q, qend, &u)) > 0) {
                if (u.num == 1 && copy_string_field(&u, ctx->effective_user, sizeof(ctx->effective_user)) < 0)
                    return IPC_EMALFORMED;
                if (u.num == 2 && copy_string_field(&u, ctx->real_user, sizeof(ctx->real_user)) < 0)
                    return IPC_EMALFORMED;
            }
            if (r2 < 0)
                return IPC_EMALFORMED;
        } else if (f.num == 3) {
            if (copy_string_field(&f, ctx->protocol, sizeof(ctx->protocol)) < 0)
                return IPC_EMALFORMED;
        }
    }
    return r < 0 ? IPC_EMALFORMED : IPC_OK;
}

int ipc_parse_reply(const uint8_t *body, size_t len, struct ipc_reply *r)
{
    const uint8_t *p = body, *end = body + len;
    struct ipc_span hdr;
    struct pb_field f;
    int rc;
    bool have_call_id = false, have_status = false;
    memset(r, 0, sizeof(*r));
    r->retry_count = -1;
    if (get_delimited(&p, end, &hdr) < 0)
        return IPC_EMALFORMED;
    r->header = hdr;
    const uint8_t *q = hdr.p, *qend = hdr.p + hdr.len;
    while ((rc = pb_next_field(&q, qend, &f)) > 0) {
        bool is_len = f.type == PB_LEN, is_var = f.type == PB_VARINT;
        switch (f.num) {
        case 1: if (!is_var) return IPC_EMALFORMED; r->call_id = (int32_t)(uint32_t)f.varint; have_call_id = true; break;
        case 2:
            if (!is_var || f.varint > IPC_FATAL) return IPC_EMALFORMED;
            r->status = (enum ipc_status)f.varint;
            have_status = true;
            break;
        case 3: if (!is_var) return IPC_EMALFORMED; r->server_ipc_version = (uint32_t)f.varint; break;
        case 4: if (!is_len) return IPC_EMALFORMED; r->exception_class = (struct ipc_span){ f.data, f.len }; break;
        case 5: if (!is_len) return IPC_EMALFORMED; r->error_msg = (struct ipc_span){ f.data, f.len }; break;
        case 6: if (!is_var) return IPC_EMALFORMED; r->error_detail = (uint32_t)f.varint; break;
        case 7: if (!is_len) return IPC_EMALFORMED; r->client_id = (struct ipc_span){ f.data, f.len }; break;
        case 8: if (!is_var) return IPC_EMALFORMED; r->retry_count = pb_unzigzag32(f.varint); break;
        case 9: if (!is_var) return IPC_EMALFORMED; r->state_id = (int64_t)f.varint; r->has_state_id = true; break;
        case 10: if (!is_len) return IPC_EMALFORMED; r->router_federated_state = (struct ipc_span){ f.data, f.len }; break;
        default: break;
        }
    }
    if (rc < 0 || !have_call_id || !have_status)
        return IPC_EMALFORMED;
    if (r->status == IPC_SUCCESS && p < end) {
        if (get_delimited(&p, end, &r->payload) < 0)
            return IPC_EMALFORMED;
    }
    if (p != end && r->status == IPC_SUCCESS)
        return IPC_EMALFORMED;
    return IPC_OK;
}

/* ---- writers ---- */

/* Upper bound of an RpcRequestHeaderProto we write. */
#define RPC_HDR_MAX (2 + 2 + 6 + 2 + IPC_CLIENT_ID_LEN + 6)

static size_t put_rpc_request_header(uint8_t *p, const struct ipc_ids *ids)
{
    size_t n = 0;
    n += pb_put_varint_field(p + n, 1, 2);  /* RPC_PROTOCOL_BUFFER */
    n += pb_put_varint_field(p + n, 2, 0);  /* RPC_FINAL_PACKET */
    n += pb_put_varint_field(p + n, 3, pb_zigzag32(ids->call_id));
    size_t cl = ids->client_id_len > IPC_CLIENT_ID_LEN ? IPC_CLIENT_ID_LEN : ids->client_id_len;
    n += pb_put_bytes_field(p + n, 4, ids->client_id, cl);
    if (ids->retry_count != -1)
        n += pb_put_varint_field(p + n, 5, pb_zigzag32(ids->retry_count));
    return n;
}

/*
 * Appends: u32 len | varint hlen | header | [varint mlen | message].
 * The header is built in a small stack buffer by the caller; the message is
 * either raw bytes or a protobuf-c message packed in place.
 */
static int write_frame(struct buf *out, const uint8_t *h1, size_t h1len, const uint8_t *h2, size_t h2len,
                       bool with_msg, const ProtobufCMessage *msg, const uint8_t *raw, size_t rawlen)
{
    size_t mlen = 0;
    if (with_msg)
        mlen = msg ? protobuf_c_message_get_packed_size(msg) : rawlen;
    size_t body = pb_varint_size(h1len) + h1len;
    if (h2)
        body += pb_varint_size(h2len) + h2len;
    if (with_msg)
        body += pb_varint_size(mlen) + mlen;
    if (body > INT32_MAX)
        return IPC_ETOOBIG;
    if (buf_reserve(out, 4 + body) < 0)
        return IPC_ENOMEM;
    uint8_t *p = buf_wptr(out);
    size_t n = 4;
    wire_put_be32(p, (uint32_t)body);
    n += pb_put_varint(p + n, h1len);
    memcpy(p + n, h1, h1len);
    n += h1len;
    if (h2) {
        n += pb_put_varint(p + n, h2len);
        memcpy(p + n, h2, h2len);
        n += h2len;
    }
    if (with_msg) {
        n += pb_put_varint(p + n, mlen);
        if (msg)
            protobuf_c_message_pack(msg, p + n);
        else if (rawlen)
            memcpy(p + n, raw, rawlen);
        n += mlen;
    }
    buf_commit(out, n);
    return IPC_OK;
}

int ipc_write_preamble(struct buf *out, uint8_t auth)
{
    uint8_t p[IPC_PREAMBLE_LEN] = { 'h', 'r', 'p', 'c', IPC_VERSION, 0, auth };
    return buf_append(out, p, sizeof(p)) < 0 ? IPC_ENOMEM : IPC_OK;
}

int ipc_write_context(struct buf *out, const uint8_t client_id[IPC_CLIENT_ID_LEN],
                      const char *effective_user, const char *real_user, const char *protocol)
{
    struct ipc_ids ids = { IPC_CALLID_CONTEXT, -1, client_id, IPC_CLIENT_ID_LEN };
    uint8_t h[RPC_HDR_MAX];
    size_t hl = put_rpc_request_header(h, &ids);
    size_t eu = strlen(effective_user), ru = real_user ? strlen(real_user) : 0, pl = strlen(protocol);
    if (eu > 1024 || ru > 1024 || pl > 1024)
        return IPC_EMALFORMED;
    uint8_t ui[2 * (1024 + 8)], ctx[2 * (1024 + 8) + 1024 + 16];
    size_t uil = pb_put_bytes_field(ui, 1, effective_user, eu);
    if (real_user)
        uil += pb_put_bytes_field(ui + uil, 2, real_user, ru);
    size_t cl = pb_put_bytes_field(ctx, 2, ui, uil);
    cl += pb_put_bytes_field(ctx + cl, 3, protocol, pl);
    return write_frame(out, h, hl, NULL, 0, true, NULL, ctx, cl);
}

static int write_call(struct buf *out, const struct ipc_ids *ids, const char *method, const char *protocol,
                      const ProtobufCMessage *msg, const uint8_t *raw, size_t rawlen)
{
    uint8_t h[RPC_HDR_MAX];
    size_t hl = put_rpc_request_header(h, ids);
    size_t ml = strlen(method), pl = strlen(protocol);
    if (ml > 256 || pl > 256)
        return IPC_EMALFORMED;
    uint8_t rh[256 + 256 + 32];
    size_t rhl = pb_put_bytes_field(rh, 1, method, ml);
    rhl += pb_put_bytes_field(rh + rhl, 2, protocol, pl);
    rhl += pb_put_varint_field(rh + rhl, 3, 1);
    return write_frame(out, h, hl, rh, rhl, true, msg, raw, rawlen);
}

int ipc_write_call_raw(struct buf *out, const struct ipc_ids *ids, const char *method,
                       const char *protocol, const uint8_t *param, size_t param_len)
{
    return write_call(out, ids, method, protocol, NULL, param, param_len);
}

int ipc_write_call(struct buf *out, const struct ipc_ids *ids, const char *method,
                   const char *protocol, const ProtobufCMessage *param)
{
    return write_call(out, ids, method, protocol, param, NULL, 0);
}

int ipc_write_sasl_call(struct buf *out, const ProtobufCMessage *msg)
{
    struct ipc_ids ids = { IPC_CALLID_SASL, -1, NULL, 0 };
    uint8_t h[RPC_HDR_MAX];
    size_t hl = put_rpc_request_header(h, &ids);
    return write_frame(out, h, hl, NULL, 0, true, msg, NULL, 0);
}

/* RpcResponseHeaderProto; strings bounded by the caller. */
static size_t put_reply_header(uint8_t *p, const struct ipc_ids *ids, enum ipc_status st, uint32_t detail,
                               const char *cls, size_t cl, const char *msg, size_t ml)
{
    size_t n = 0;
    n += pb_put_varint_field(p + n, 1, (uint32_t)ids->call_id);
    n += pb_put_varint_field(p + n, 2, st);
    n += pb_put_varint_field(p + n, 3, IPC_VERSION);
    if (cls) {
        n += pb_put_bytes_field(p + n, 4, cls, cl);
        n += pb_put_bytes_field(p + n, 5, msg, ml);
        n += pb_put_varint_field(p + n, 6, detail);
    }
    if (ids->client_id_len) {
        size_t l = ids->client_id_len > IPC_CLIENT_ID_LEN ? IPC_CLIENT_ID_LEN : ids->client_id_len;
        n += pb_put_bytes_field(p + n, 7, ids->client_id, l);
    }
    if (ids->retry_count != -1)
        n += pb_put_varint_field(p + n, 8, pb_zigzag32(ids->retry_count));
    return n;
}

#define REPLY_HDR_MAX (6 + 3 + 3 + 6 + 2 + IPC_CLIENT_ID_LEN + 6)

int ipc_write_sasl_reply(struct buf *out, const ProtobufCMessage *msg)
{
    struct ipc_ids ids = { IPC_CALLID_SASL, -1, NULL, 0 };
    uint8_t h[REPLY_HDR_MAX];
    size_t hl = put_reply_header(h, &ids, IPC_SUCCESS, 0, NULL, 0, NULL, 0);
    return write_frame(out, h, hl, NULL, 0, true, msg, NULL, 0);
}

int ipc_write_reply(struct buf *out, const struct ipc_ids *ids, const ProtobufCMessage *msg)
{
    uint8_t h[REPLY_HDR_MAX];
    size_t hl = put_reply_header(h, ids, IPC_SUCCESS, 0, NULL, 0, NULL, 0);
    return write_frame(out, h, hl, NULL, 0, true, msg, NULL, 0);
}

int ipc_write_reply_raw(struct buf *out, const struct ipc_ids *ids, const uint8_t *msg, size_t len)
{
    uint8_t h[REPLY_HDR_MAX];
    size_t hl = put_reply_header(h, ids, IPC_SUCCESS, 0, NULL, 0, NULL, 0);
    return write_frame(out, h, hl, NULL, 0, true, NULL, msg, len);
}

#define ERR_STR_MAX 4096

int ipc_write_error(struct buf *out, const struct ipc_ids *ids, enum ipc_status status,
                    enum ipc_errdetail detail, const char *exception_class, const char *message)
{
    size_t cl = strlen(exception_class), ml = message ? strlen(message) : 0;
    if (cl > 512)
        cl = 512;
    if (ml > ERR_STR_MAX)
        ml = ERR_STR_MAX;
    uint8_t h[REPLY_HDR_MAX + 512 + ERR_STR_MAX + 16];
    size_t hl = put_reply_header(h, ids, status, detail, exception_class, cl, message ? message : "", ml);
    return write_frame(out, h, hl, NULL, 0, false, NULL, NULL, 0);
}

void ipc_new_client_id(uint8_t id[IPC_CLIENT_ID_LEN])
{
    if (getrandom(id, IPC_CLIENT_ID_LEN, 0) != IPC_CLIENT_ID_LEN) {
        /* Extremely unlikely; fall back to something unique enough per process. */
        static uint64_t ctr;
        uint64_t a = (uint64_t)getpid() << 32 | (uint64_t)++ctr, b = (uint64_t)(uintptr_t)id;
        memcpy(id, &a, 8);
        memcpy(id + 8, &b, 8);
    }
    id[6] = (uint8_t)((id[6] & 0x0f) | 0x40); /* a version 4 UUID, as Java's */
    id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
}

void ipc_span_copy(struct ipc_span s, char *dst, size_t dstlen)
{
    if (!dstlen)
        return;
    size_t n = s.len < dstlen - 1 ? s.len : dstlen - 1;
    if (n)
        memcpy(dst, s.p, n);
    dst[n] = 0;
}

bool ipc_span_eq(struct ipc_span s, const char *str)
{
    size_t n = strlen(str);
    return s.len == n && (n == 0 || memcmp(s.p, str, n) == 0);
}
