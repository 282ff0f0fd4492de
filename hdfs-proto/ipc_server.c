#include "ipc_server.h"

#include <protobuf-c/protobuf-c.h>
#include <string.h>

#include "RpcHeader.pb-c.h"

static const char HTTP_REPLY[] =
    "HTTP/1.1 404 Not Found\r\nContent-type: text/plain\r\nConnection: close\r\n\r\n"
    "It looks like you are making an HTTP request to a Hadoop IPC port. "
    "This is not the web port of this server.\n";

static enum ipc_snext fatal(struct ipc_sconn *s, struct buf *out, enum ipc_errdetail detail, const char *cls,
                            const char *msg)
{
    struct ipc_ids ids = { IPC_CALLID_AUTH_FAILED, -1, NULL, 0 };
    (void)ipc_write_error(out, &ids, IPC_FATAL, detail, cls, msg);
    s->state = IPC_S_CLOSING;
    s->close_reason = msg;
    return IPC_S_CLOSE;
}

void ipc_sconn_init(struct ipc_sconn *s, uint32_t max_frame)
{
    memset(s, 0, sizeof *s);
    s->state = IPC_S_PREAMBLE;
    s->max_frame = max_frame ? max_frame : IPC_MAX_FRAME_DEFAULT;
}

/* SIMPLE-only SASL: NEGOTIATE gets SUCCESS; anything else is refused. */
static enum ipc_snext sasl(struct ipc_sconn *s, const struct ipc_call *c, struct buf *out)
{
    Hadoop__Common__RpcSaslProto *m = hadoop__common__rpc_sasl_proto__unpack(NULL, c->oob.len, c->oob.p);
    if (!m)
        return fatal(s, out, IPC_FATAL_DESERIALIZING_REQUEST, "org.apache.hadoop.ipc.IpcException",
                     "malformed SASL message");
    bool negotiate = m->state == HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__NEGOTIATE;
    hadoop__common__rpc_sasl_proto__free_unpacked(m, NULL);
    if (!negotiate)
        return fatal(s, out, IPC_FATAL_UNAUTHORIZED, "org.apache.hadoop.security.AccessControlException",
                     "SASL is not enabled here: only SIMPLE authentication");
    Hadoop__Common__RpcSaslProto r = HADOOP__COMMON__RPC_SASL_PROTO__INIT;
    r.state = HADOOP__COMMON__RPC_SASL_PROTO__SASL_STATE__SUCCESS;
    (void)ipc_write_sasl_reply(out, &r.base);
    s->state = IPC_S_CONTEXT;
    return IPC_S_NEED_MORE;
}

enum ipc_snext ipc_sconn_next(struct ipc_sconn *s, struct buf *in, struct buf *out, struct ipc_call *call,
                              size_t *frame_len)
{
    for (;;) {
        if (s->state == IPC_S_CLOSING)
            return IPC_S_CLOSE;
        if (buf_len(in) == 0)
            return IPC_S_NEED_MORE;
        if (s->state == IPC_S_PREAMBLE) {
            struct ipc_preamble pr;
            int rc = ipc_parse_preamble(buf_rptr(in), buf_len(in), &pr);
            switch (rc) {
            case IPC_AGAIN:
                return IPC_S_NEED_MORE;
            case IPC_OK:
                buf_consume(in, IPC_PREAMBLE_LEN);
                s->state = pr.auth == IPC_AUTH_SASL ? IPC_S_SASL : IPC_S_CONTEXT;
                continue;
            case IPC_EHTTP:
                buf_append(out, HTTP_REPLY, sizeof HTTP_REPLY - 1);
                s->state = IPC_S_CLOSING;
                s->close_reason = "HTTP request on the IPC port";
                return IPC_S_CLOSE;
            case IPC_EVERSION:
                return fatal(s, out, IPC_FATAL_VERSION_MISMATCH, "org.apache.hadoop.ipc.RPC$VersionMismatch",
                             "Server IPC version 9 cannot communicate with this client's version");
            case IPC_EAUTH:
                return fatal(s, out, IPC_FATAL_UNKNOWN, "org.apache.hadoop.ipc.IpcException",
                             "Unknown auth protocol");
            default:
                s->state = IPC_S_CLOSING;
                s->close_reason = ipc_strerror(rc);
                return IPC_S_CLOSE;
            }
        }
        const uint8_t *body;
        uint32_t blen;
        size_t flen;
        int rc = ipc_frame_cut(buf_rptr(in), buf_len(in), s->max_frame, &body, &blen, &flen);
        if (rc == IPC_AGAIN)
            return IPC_S_NEED_MORE;
        if (rc != IPC_OK)
            return fatal(s, out, IPC_FATAL_INVALID_RPC_HEADER, "org.apache.hadoop.ipc.IpcException",
                         "RPC data length out of range");
        if (ipc_parse_call(body, blen, call) != IPC_OK)
            return fatal(s, out, IPC_FATAL_INVALID_RPC_HEADER, "org.apache.hadoop.ipc.IpcException",
                         "malformed RPC header");
        if (call->hdr.rpc_kind != 2)
            return fatal(s, out, IPC_FATAL_UNSUPPORTED_SERIALIZATION, "org.apache.hadoop.ipc.IpcException",
                         "only protocol buffer calls are supported");
        int32_t id = call->hdr.call_id;
        if (id == IPC_CALLID_PING) {
            buf_consume(in, flen);
            continue;
        }
        switch (s->state) {
        case IPC_S_SASL: {
            if (id != IPC_CALLID_SASL)
                return fatal(s, out, IPC_FATAL_INVALID_RPC_HEADER, "org.apache.hadoop.ipc.IpcException",
                             "expected a SASL message");
            enum ipc_snext r = sasl(s, call, out);
            if (r == IPC_S_CLOSE)
                return r;
            buf_consume(in, flen);
            continue;
        }
        case IPC_S_CONTEXT:
            if (id != IPC_CALLID_CONTEXT)
                return fatal(s, out, IPC_FATAL_INVALID_RPC_HEADER, "org.apache.hadoop.ipc.IpcException",
                             "Connection context not established");
            if (ipc_parse_context(call->oob.p, call->oob.len, &s->ctx) != IPC_OK || !s->ctx.effective_user[0])
                return fatal(s, out, IPC_FATAL_DESERIALIZING_REQUEST, "org.apache.hadoop.ipc.IpcException",
                             "malformed connection context");
            buf_consume(in, flen);
            s->state = IPC_S_CALLS;
            continue;
        default:
            if (id < 0)
                return fatal(s, out, IPC_FATAL_INVALID_RPC_HEADER, "org.apache.hadoop.ipc.IpcException",
                             id == IPC_CALLID_CONTEXT ? "Connection context already processed"
                                                      : "Unknown out of band call");
            *frame_len = flen;
            return IPC_S_CALL;
        }
    }
}
