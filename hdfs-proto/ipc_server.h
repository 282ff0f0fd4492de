/*
 * ipc_server: the server side of a Hadoop IPC connection up to the calls,
 * shared by minidfs's NameNode and the router.
 *
 *   PREAMBLE --(auth NONE)--> CONTEXT --(context frame)--> CALLS
 *            --(auth SASL)--> SASL --(NEGOTIATE: we answer SUCCESS,
 *                                     i.e. SIMPLE only)--> CONTEXT
 *
 * The caller owns the socket and the buffers; ipc_sconn_next() looks at the
 * input buffer and either hands out the next call, asks for more bytes, or
 * says the connection must be closed (after writing what it appended to out:
 * the FATAL reply Hadoop gives for that mistake, or a plain-text answer to
 * an HTTP request). Pings are swallowed. Errors never touch other connections.
 */
#ifndef FR_IPC_SERVER_H
#define FR_IPC_SERVER_H

#include "ipc.h"

enum ipc_sstate { IPC_S_PREAMBLE, IPC_S_SASL, IPC_S_CONTEXT, IPC_S_CALLS, IPC_S_CLOSING };

struct ipc_sconn {
    enum ipc_sstate state;
    uint32_t max_frame;
    struct ipc_context ctx;          /* filled when the context arrives */
    const char *close_reason;        /* why IPC_S_CLOSING, for the log */
};

enum ipc_snext {
    IPC_S_NEED_MORE = 0,             /* wait for more bytes */
    IPC_S_CALL = 1,                  /* *call is valid; consume *frame_len bytes after handling */
    IPC_S_CLOSE = 2,                 /* flush out, then close */
};

void ipc_sconn_init(struct ipc_sconn *s, uint32_t max_frame);

/* Advances over handshake frames in `in` (consuming them) and stops at the
 * next call. A returned call points into `in`: handle it, then
 * buf_consume(in, *frame_len). */
enum ipc_snext ipc_sconn_next(struct ipc_sconn *s, struct buf *in, struct buf *out, struct ipc_call *call,
                              size_t *frame_len);

#endif
