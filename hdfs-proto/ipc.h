/*
 * ipc: the Hadoop IPC (RPC version 9, protobuf engine) codec shared by the
 * router, minidfs and the benchmark. Wire facts: shared facts/hadoop-ipc.md.
 *
 *   connection:  "hrpc" 9 <service class> <auth>        (7-byte preamble)
 *                [SASL frames, call id -33]
 *                context frame (call id -3)
 *                call frames ... (multiplexed by call id)
 *   frame:       u32 big-endian length | body
 *   call body:   varint-delimited RpcRequestHeaderProto
 *                varint-delimited RequestHeaderProto     (method, protocol)
 *                varint-delimited request message
 *   reply body:  varint-delimited RpcResponseHeaderProto
 *                varint-delimited response message      (SUCCESS only)
 *
 * Parsing is incremental and copy-free: callers keep bytes in their own input
 * buffer, ask ipc_frame_cut() whether a whole frame is there, and parse it in
 * place; the parsed views point into that buffer and live as long as it does.
 * Every length is checked against what is left and against the frame limit.
 */
#ifndef FR_IPC_H
#define FR_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct ProtobufCMessage;

#define IPC_VERSION 9
#define IPC_PREAMBLE_LEN 7
#define IPC_AUTH_NONE 0x00
#define IPC_AUTH_SASL 0xDF
#define IPC_MAX_FRAME_DEFAULT (128u << 20) /* ipc.maximum.data.length */
#define IPC_CLIENT_ID_LEN 16

/* Out-of-band call ids. */
#define IPC_CALLID_AUTH_FAILED (-1)
#define IPC_CALLID_INVALID (-2)
#define IPC_CALLID_CONTEXT (-3)
#define IPC_CALLID_PING (-4)
#define IPC_CALLID_SASL (-33)

#define IPC_CLIENT_PROTOCOL "org.apache.hadoop.hdfs.protocol.ClientProtocol"
/* NamenodeProtocol: the router asks each NameNode for its block pool with
 * versionRequest (as RBF's heartbeat does). */
#define IPC_NAMENODE_PROTOCOL "org.apache.hadoop.hdfs.server.protocol.NamenodeProtocol"

/* Return codes: >= 0 is success (or "need more bytes"), < 0 an error. */
enum ipc_rc {
    IPC_OK = 0,
    IPC_AGAIN = 1,          /* not enough bytes yet */
    IPC_EMAGIC = -1,        /* preamble does not start with "hrpc" */
    IPC_EHTTP = -2,         /* an HTTP request reached the IPC port */
    IPC_EVERSION = -3,      /* IPC version other than 9 */
    IPC_EAUTH = -4,         /* unknown auth protocol byte */
    IPC_ETOOBIG = -5,       /* frame length over the limit */
    IPC_EMALFORMED = -6,    /* bad protobuf, missing field, trailing bytes */
    IPC_ENOMEM = -7,
};
const char *ipc_strerror(int rc);

/* Response status and error codes (RpcResponseHeaderProto). */
enum ipc_status { IPC_SUCCESS = 0, IPC_ERROR = 1, IPC_FATAL = 2 };
enum ipc_errdetail {
    IPC_ERR_APPLICATION = 1,
    IPC_ERR_NO_SUCH_METHOD = 2,
    IPC_ERR_NO_SUCH_PROTOCOL = 3,
    IPC_ERR_RPC_SERVER = 4,
    IPC_ERR_SERIALIZING_RESPONSE = 5,
    IPC_ERR_RPC_VERSION_MISMATCH = 6,
    IPC_FATAL_UNKNOWN = 10,
    IPC_FATAL_UNSUPPORTED_SERIALIZATION = 11,
    IPC_FATAL_INVALID_RPC_HEADER = 12,
    IPC_FATAL_DESERIALIZING_REQUEST = 13,
    IPC_FATAL_VERSION_MISMATCH = 14,
    IPC_FATAL_UNAUTHORIZED = 15,
};

/* A view of bytes inside a caller's buffer (not NUL-terminated). */
struct ipc_span {
    const uint8_t *p;
    size_t len;
};

struct ipc_preamble {
    uint8_t version;
    uint8_t service_class;
    uint8_t auth;           /* IPC_AUTH_NONE or IPC_AUTH_SASL */
};

/* Checks the 7-byte preamble at p. IPC_AGAIN when fewer than 7 bytes. */
int ipc_parse_preamble(const uint8_t *p, size_t len, struct ipc_preamble *out);

/* Is a whole frame at p? Returns IPC_OK and sets *body and *body_len (and
 * *frame_len = 4 + body_len, the bytes to consume), IPC_AGAIN, or IPC_ETOOBIG. */
int ipc_frame_cut(const uint8_t *p, size_t len, uint32_t max_frame,
                  const uint8_t **body, uint32_t *body_len, size_t *frame_len);

/* The common part of every client frame (RpcRequestHeaderProto). */
struct ipc_rpc_header {
    int32_t call_id;
    int32_t retry_count;      /* -1 when absent */
    uint32_t rpc_kind;        /* 2 = protocol buffers */
    uint32_t rpc_op;          /* 0 final packet, 2 close connection */
    struct ipc_span client_id;
    struct ipc_span trace_info;      /* raw field payloads, empty when absent */
    struct ipc_span caller_context;
    int64_t state_id;
    bool has_state_id;
    struct ipc_span router_federated_state;
    struct ipc_span raw;      /* the whole header message */
};

/* One client frame, parsed in place. */
struct ipc_call {
    struct ipc_rpc_header hdr;
    /* call_id >= 0: */
    struct ipc_span method;           /* RequestHeaderProto.methodName */
    struct ipc_span protocol;         /* declaringClassProtocolName */
    uint64_t client_protocol_version;
    struct ipc_span param;            /* the request message bytes */
    /* call_id == -3 (context) or -33 (SASL): the message after the header */
    struct ipc_span oob;
};

/* Parses a frame body sent by a client. Returns IPC_OK or IPC_EMALFORMED. */
int ipc_parse_call(const uint8_t *body, size_t len, struct ipc_call *c);

/* IpcConnectionContextProto, decoded. Strings are NUL-terminated copies,
 * truncated to the field size (names longer than that are refused). */
struct ipc_context {
    char effective_user[256];
    char real_user[256];
    char protocol[256];
};
int ipc_parse_context(const uint8_t *p, size_t len, struct ipc_context *ctx);

/* A server reply frame, parsed in place (client side). */
struct ipc_reply {
    int32_t call_id;
    enum ipc_status status;
    uint32_t server_ipc_version;
    struct ipc_span exception_class;
    struct ipc_span error_msg;
    uint32_t error_detail;            /* 0 when absent */
    struct ipc_span client_id;
    int32_t retry_count;
    int64_t state_id;
    bool has_state_id;
    struct ipc_span router_federated_state;
    struct ipc_span header;           /* the whole RpcResponseHeaderProto */
    struct ipc_span payload;          /* SUCCESS: the response message bytes */
};
int ipc_parse_reply(const uint8_t *body, size_t len, struct ipc_reply *r);

/* ---- writers: each appends one complete frame (length prefix included) ---- */

/* Identity a writer puts in the RpcRequestHeaderProto / echoes in a reply. */
struct ipc_ids {
    int32_t call_id;
    int32_t retry_count;              /* -1: leave the field out */
    const uint8_t *client_id;         /* may be NULL when len is 0 */
    size_t client_id_len;
};

int ipc_write_preamble(struct buf *out, uint8_t auth);
/* Connection context frame (call id -3). real_user may be NULL. */
int ipc_write_context(struct buf *out, const uint8_t client_id[IPC_CLIENT_ID_LEN],
                      const char *effective_user, const char *real_user, const char *protocol);
/* A call whose request message is given as packed bytes. */
int ipc_write_call_raw(struct buf *out, const struct ipc_ids *ids, const char *method,
                       const char *protocol, const uint8_t *param, size_t param_len);
/* A call whose request message is packed from a protobuf-c message. */
int ipc_write_call(struct buf *out, const struct ipc_ids *ids, const char *method,
                   const char *protocol, const struct ProtobufCMessage *param);
/* A SASL frame (call id -33) from either side; msg is an RpcSaslProto. */
int ipc_write_sasl_call(struct buf *out, const struct ProtobufCMessage *msg);
int ipc_write_sasl_reply(struct buf *out, const struct ProtobufCMessage *msg);

/* A SUCCESS reply with the response message packed from msg (NULL: empty). */
int ipc_write_reply(struct buf *out, const struct ipc_ids *ids, const struct ProtobufCMessage *msg);
/* A SUCCESS reply with the response message as packed bytes. */
int ipc_write_reply_raw(struct buf *out, const struct ipc_ids *ids, const uint8_t *msg, size_t len);
/* An ERROR or FATAL reply carrying a Java exception class and message. */
int ipc_write_error(struct buf *out, const struct ipc_ids *ids, enum ipc_status status,
                    enum ipc_errdetail detail, const char *exception_class, const char *message);

/* A fresh random 16-byte client id. */
void ipc_new_client_id(uint8_t id[IPC_CLIENT_ID_LEN]);

/* The span as a NUL-terminated copy in dst (truncated to dstlen-1). */
void ipc_span_copy(struct ipc_span s, char *dst, size_t dstlen);
/* Does the span hold exactly the string s? */
bool ipc_span_eq(struct ipc_span s, const char *str);

#endif
