/*
 * sasl_layer: the SASL security layer of Hadoop IPC (QOP integrity or
 * privacy), on either side of a connection, over the security layer
 * (sec_layer.h) of an exchange that completed with an SSF > 0.
 *
 *   plain packet:  u32 len | RpcRequest/ResponseHeaderProto | body
 *   wrapped:       u32 len | header(callId -33) | RpcSaslProto{WRAP, token}
 *                  token = the layer's wrap of the plain packet
 *
 * One plain packet becomes one WRAP frame (Hadoop's Server.wrapWithSasl and
 * SaslRpcClient's WrappedOutputStream both do this). A packet longer than
 * the peer takes in one token is split into several tokens, each in a
 * frame of its own, which a Java peer reassembles but the Go client does
 * not; the Go client says it takes 0xFFFFFF bytes, so no IPC reply of
 * ordinary size is split for it.
 *
 * Unwrapping takes whole frames from the wire: WRAP frames give their
 * plaintext (one or more whole packets), any other frame passes unchanged,
 * as Hadoop's server accepts plain requests on a connection with a layer
 * (the Go client wraps nothing it sends). A SASL frame in another state, a
 * frame over the limit, or a token the layer refuses is an error: the caller
 * closes that connection.
 *
 * Neither function keeps state of its own; the layer holds the sequence
 * numbers, so calls on one connection must be serialised (one
 * thread at a time, packets in order).
 */
#ifndef FR_SASL_LAYER_H
#define FR_SASL_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum sasl_layer_side { SASL_LAYER_SERVER, SASL_LAYER_CLIENT };

/* Wraps one whole IPC packet msg[0..n) (the u32 length + header + body that
 * would go on the wire unwrapped) with the layer and appends one frame to
 * out (more when the peer's maximum is smaller than the packet): u32 length, the side's RPC
 * header with callId -33 (server: RpcResponseHeaderProto status SUCCESS;
 * client: RpcRequestHeaderProto rpcKind RPC_PROTOCOL_BUFFER, rpcOp
 * RPC_FINAL_PACKET, callId -33, clientId empty, retryCount -1), then
 * delimited RpcSaslProto{state WRAP, token}. 0, or -1 with why (-2 when
 * out of memory); on failure out is as it was. */
struct sec_layer;
int sasl_layer_wrap(struct sec_layer *layer, enum sasl_layer_side side, const uint8_t *msg, size_t n, struct buf *out,
                    char *why, size_t whylen);

/* Consumes whole frames from wire (each at most max_frame bytes): a WRAP
 * frame (callId -33 + RpcSaslProto WRAP) is unwrapped by the layer and its
 * plaintext (one or more whole packets)
 * appended to plain; any other frame is appended unchanged (Hadoop accepts
 * plain requests after privacy; the Go client sends them). A partial frame
 * stays in wire. 0, or -1 with why (bad/oversized frame, decode failure, a
 * SASL frame that is not WRAP). side = the side doing the decoding. The
 * bytes of a consumed WRAP frame are overwritten in place. */
int sasl_layer_unwrap(struct sec_layer *layer, enum sasl_layer_side side, struct buf *wire, struct buf *plain,
                      uint32_t max_frame, char *why, size_t whylen);

/* The RPC call id a frame body carries, for the side that reads it
 * (SERVER: a client's RpcRequestHeaderProto); sets *rest to the bytes after
 * the delimited header. -1 on a malformed header. Shared with tests. */
int sasl_layer_frame_call_id(enum sasl_layer_side side, const uint8_t *body, size_t len, int32_t *call_id,
                             const uint8_t **rest);

/*
 * Installs the layer as c's transport (lib/xprt.h) once the exchange
 * negotiated ssf > 0 (1: integrity, more: privacy). Decoding unwraps what
 * the other side wraps (plain frames pass). Encoding wraps each message on
 * the server side; the client side sends its requests plain (no encoder,
 * no copy), as the Go client does and Hadoop's server takes them. Whole
 * frames or messages of 16 KiB or more go to the crypto threads. layer
 * must outlive c's memory; who is copied for log lines, since the transport may
 * run on a crypto thread. 0, or -1: out of memory, or the bytes already
 * waiting did not unwrap (c is then closed).
 */
struct conn;
struct fr_log_who;
int sasl_layer_install(struct conn *c, enum sasl_layer_side side, struct sec_layer *layer, unsigned ssf,
                       uint32_t max_frame, const struct fr_log_who *who);

#endif
