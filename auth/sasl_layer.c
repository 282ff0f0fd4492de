/*
 * sasl_layer.c: Hadoop IPC WRAP frames over a security layer (sec_layer.h).
 * See sasl_layer.h.
 */
#include "sasl_layer.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "errmsg.h"
#include "log.h"
#include "pbwire.h"
#include "sec_layer.h"
#include "wire.h"

#define SASL_CALL_ID (-33)
#define SASL_STATE_WRAP 5

/* RpcResponseHeaderProto{callId: -33 (as uint32), status: SUCCESS}. */
static const uint8_t server_hdr[] = { 0x08, 0xDF, 0xFF, 0xFF, 0xFF, 0x0F, 0x10, 0x00 };
/* RpcRequestHeaderProto{rpcKind: RPC_PROTOCOL_BUFFER, rpcOp: RPC_FINAL_PACKET,
 * callId: -33 (zigzag 65), clientId: "", retryCount: -1 (zigzag 1)}. */
static const uint8_t client_hdr[] = { 0x08, 0x02, 0x10, 0x00, 0x18, 0x41, 0x22, 0x00, 0x28, 0x01 };

/* Where a token goes: a WRAP frame appended to out, whose headers are
 * written once the token's length is known (sec_layer's reserve). */
struct frame_out {
    enum sasl_layer_side side;
    struct buf *out;
    bool nomem; /* a reserve failed: the wrap fails for want of memory */
};

static uint8_t *reserve_frame(void *arg, size_t tl)
{
    struct frame_out *f = arg;
    const uint8_t *h = f->side == SASL_LAYER_SERVER ? server_hdr : client_hdr;
    size_t hl = f->side == SASL_LAYER_SERVER ? sizeof server_hdr : sizeof client_hdr;
    size_t ml = 2 + 1 + pb_varint_size(tl) + tl; /* state, token tag, length, token */
    size_t body = 1 + hl + pb_varint_size(ml) + ml;
    if (body > UINT32_MAX)
        return NULL;
    if (buf_reserve(f->out, 4 + body) < 0) {
        f->nomem = true;
        return NULL;
    }
    uint8_t *p = buf_wptr(f->out);
    size_t k = 0;
    wire_put_be32(p, (uint32_t)body);
    k += 4;
    p[k++] = (uint8_t)hl;
    memcpy(p + k, h, hl);
    k += hl;
    k += pb_put_varint(p + k, ml);
    p[k++] = 0x10; /* state */
    p[k++] = SASL_STATE_WRAP;
    p[k++] = 0x1A; /* token */
    k += pb_put_varint(p + k, tl);
    buf_commit(f->out, k + tl);
    return p + k;
}

int sasl_layer_wrap(struct sec_layer *layer, enum sasl_layer_side side, const uint8_t *msg, size_t n, struct buf *out,
                    char *why, size_t whylen)
{
    if (!layer || n > UINT32_MAX / 2)
        return fr_errf(why, whylen, "cannot wrap %zu bytes", n), -1;
    size_t start = out->wpos;
    struct frame_out f = { side, out, false };
    if (sec_layer_wrap(layer, msg, n, reserve_frame, &f, why, whylen) < 0) {
        out->wpos = start;
        return f.nomem ? -2 : -1;
    }
    return 0;
}

int sasl_layer_frame_call_id(enum sasl_layer_side side, const uint8_t *body, size_t len, int32_t *call_id,
                             const uint8_t **rest)
{
    const uint8_t *p = body, *end = body + len;
    uint64_t hl;
    size_t k = pb_get_varint(p, end, &hl);
    if (!k || hl > (uint64_t)(end - p - k))
        return -1;
    p += k;
    const uint8_t *he = p + hl;
    /* The decoding side reads the other side's header: a server reads a
     * request header (callId = field 3, sint32), a client a response
     * header (callId = field 1, uint32). */
    uint32_t want = side == SASL_LAYER_SERVER ? 3 : 1;
    bool found = false;
    struct pb_field f;
    int r;
    while ((r = pb_next_field(&p, he, &f)) == 1)
        if (f.num == want && f.type == PB_VARINT) {
            *call_id = side == SASL_LAYER_SERVER ? pb_unzigzag32(f.varint) : (int32_t)(uint32_t)f.varint;
            found = true;
        }
    if (r < 0 || !found)
        return -1;
    *rest = he;
    return 0;
}

/* Decodes the RpcSaslProto after the header of a SASL frame at
 * body[0..len) and appends its plaintext. */
static int unwrap_one(struct sec_layer *layer, uint8_t *frame, const uint8_t *rest, const uint8_t *end,
                      struct buf *plain, char *why, size_t whylen)
{
    uint64_t ml;
    size_t k = pb_get_varint(rest, end, &ml);
    if (!k || ml != (uint64_t)(end - rest - k))
        return fr_errf(why, whylen, "malformed SASL message in a frame"), -1;
    const uint8_t *p = rest + k;
    struct pb_field f;
    int r;
    uint64_t state = 0;
    bool has_state = false;
    const uint8_t *tok = NULL;
    size_t tl = 0;
    while ((r = pb_next_field(&p, end, &f)) == 1) {
        if (f.num == 2 && f.type == PB_VARINT) {
            state = f.varint;
            has_state = true;
        } else if (f.num == 3 && f.type == PB_LEN) {
            tok = f.data;
            tl = f.len;
        }
    }
    if (r < 0 || !has_state)
        return fr_errf(why, whylen, "malformed SASL message in a frame"), -1;
    if (state != SASL_STATE_WRAP)
        return fr_errf(why, whylen, "SASL message in state %llu after the handshake (only WRAP is allowed)",
                       (unsigned long long)state),
               -1;
    if (!tok || !tl)
        return fr_errf(why, whylen, "WRAP message without a token"), -1;
    /* The plaintext is never longer than its token. */
    if (buf_reserve(plain, tl) < 0)
        return fr_errf(why, whylen, "out of memory"), -1;
    size_t pl = 0;
    if (sec_layer_unwrap(layer, frame + (tok - frame), tl, buf_wptr(plain), &pl, why, whylen) < 0)
        return -1;
    buf_commit(plain, pl);
    return 0;
}

int sasl_layer_unwrap(struct sec_layer *layer, enum sasl_layer_side side, struct buf *wire, struct buf *plain,
                      uint32_t max_frame, char *why, size_t whylen)
{
    if (!layer)
        return fr_errf(why, whylen, "no security layer"), -1;
    while (buf_len(wire) >= 4) {
        uint8_t *frame = buf_rptr(wire);
        uint32_t bl = wire_get_be32(frame);
        if (bl > max_frame)
            return fr_errf(why, whylen, "frame of %u bytes is over the limit of %u", bl, max_frame), -1;
        if (buf_len(wire) - 4 < bl)
            return 0; /* wait for the rest */
        int32_t id;
        const uint8_t *rest;
        if (sasl_layer_frame_call_id(side, frame + 4, bl, &id, &rest) < 0 || id != SASL_CALL_ID) {
            /* Plain frames (and malformed ones, which the protocol parser
             * refuses with the words it has for them) go on unchanged. */
            if (buf_append(plain, frame, 4 + (size_t)bl) < 0)
                return fr_errf(why, whylen, "out of memory"), -1;
        } else if (unwrap_one(layer, frame, rest, frame + 4 + bl, plain, why, whylen) < 0) {
            return -1;
        }
        buf_consume(wire, 4 + (size_t)bl);
    }
    return 0;
}

/* ---- the layer as a connection transport (lib/xprt.h) ---- */

/* Units this large go to a crypto thread: privacy on OpenSSL wraps about
 * 0.6 GB/s per core (MIT's builtin AES, for other enctypes, 150 MB/s), so
 * 16 KiB holds a loop for ~25 us (0.1 ms). */
#define SASL_LAYER_OFFLOAD_MIN (16u << 10)

/* encode and decode may run on a crypto thread: they read only this, never
 * the connection's owner, whose fields its loop changes meanwhile. */
struct sasl_xprt {
    struct sec_layer *layer; /* the owner's: it outlives the transport */
    enum sasl_layer_side side;
    uint32_t max_frame;
    int worker; /* who the peer is, copied for log lines */
    uint64_t conn_id;
    char user[256];
    char peer[128];
};

static void sx_log(const struct sasl_xprt *x, const char *why)
{
    struct fr_log_who who = { .worker = x->worker, .conn = x->conn_id, .user = x->user, .peer = x->peer };
    FR_LOG_EVERY(10, 1000, FR_LOG_WARN, &who, "%s: %s", x->side == SASL_LAYER_SERVER ? "client" : "NameNode", why);
}

static enum xprt_status sx_decode(struct conn *cn, void *ctx, struct buf *wire, struct buf *plain)
{
    struct sasl_xprt *x = ctx;
    char why[256];
    (void)cn;
    if (sasl_layer_unwrap(x->layer, x->side, wire, plain, x->max_frame, why, sizeof why) == 0)
        return XPRT_OK;
    sx_log(x, why);
    return XPRT_ERROR;
}

/* The server wraps every reply. The router as a client sends its requests
 * plain, as the Go client does and Hadoop's server takes them: that side
 * has no encoder, and requests go to the socket as written. */
static enum xprt_status sx_encode(struct conn *cn, void *ctx, const uint8_t *msg, size_t n, struct buf *wire)
{
    struct sasl_xprt *x = ctx;
    char why[256];
    (void)cn;
    int rc = sasl_layer_wrap(x->layer, x->side, msg, n, wire, why, sizeof why);
    if (rc == 0)
        return XPRT_OK;
    sx_log(x, why);
    return rc == -2 ? XPRT_NOMEM : XPRT_ERROR;
}

/* Bytes of the whole frames at the front of wire: a frame still arriving
 * gives a thread nothing to decode. */
static size_t whole_frames(const struct buf *wire)
{
    const uint8_t *p = buf_rptr(wire);
    size_t left = buf_len(wire), whole = 0;
    while (left >= 4) {
        size_t fl = 4 + (size_t)wire_get_be32(p);
        if (fl > left)
            break;
        whole += fl;
        p += fl;
        left -= fl;
    }
    return whole;
}

static bool sx_needs_offload(const struct conn *cn, void *ctx, bool decode, size_t n)
{
    (void)ctx;
    if (decode && n >= SASL_LAYER_OFFLOAD_MIN)
        n = whole_frames(&cn->wire_in);
    return n >= SASL_LAYER_OFFLOAD_MIN;
}

static const struct xprt_ops xprt_ops[2][2] = {
    [SASL_LAYER_SERVER] = {
        { .name = "sasl-integrity", .decode = sx_decode, .encode = sx_encode,
          .needs_offload = sx_needs_offload, .destroy = free },
        { .name = "sasl-privacy", .decode = sx_decode, .encode = sx_encode,
          .needs_offload = sx_needs_offload, .destroy = free },
    },
    [SASL_LAYER_CLIENT] = {
        { .name = "sasl-integrity-upstream", .decode = sx_decode, .encode = NULL,
          .needs_offload = sx_needs_offload, .destroy = free },
        { .name = "sasl-privacy-upstream", .decode = sx_decode, .encode = NULL,
          .needs_offload = sx_needs_offload, .destroy = free },
    },
};

int sasl_layer_install(struct conn *c, enum sasl_layer_side side, struct sec_layer *layer, unsigned ssf,
                       uint32_t max_frame, const struct fr_log_who *who)
{
    struct sasl_xprt *x = calloc(1, sizeof *x);
    if (!x)
        return -1;
    x->layer = layer;
    x->side = side;
    x->max_frame = max_frame;
    x->worker = who ? who->worker : -1;
    x->conn_id = who ? who->conn : 0;
    snprintf(x->user, sizeof x->user, "%s", who && who->user ? who->user : "");
    snprintf(x->peer, sizeof x->peer, "%s", who && who->peer ? who->peer : "");
    return conn_set_xprt(c, &xprt_ops[side][ssf > 1], x);
}
