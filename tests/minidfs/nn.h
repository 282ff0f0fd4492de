/*
 * nn: the NameNode of minidfs. One libev loop serves the Hadoop IPC
 * ClientProtocol, and versionRequest of NamenodeProtocol (the namespace's
 * identity: block pool, cluster and namespace ids); the namespace (fsns) and
 * the in-process DataNode do the work.
 *
 *   accept -> conn (PREAMBLE -> [SASL] -> CONTEXT -> CALLS)
 *          -> frame -> nn_dispatch(method) -> handler in nn_ops*.c
 *          -> reply appended to conn->out -> written when the reads are drained
 */
#ifndef MINIDFS_NN_H
#define MINIDFS_NN_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "ipc.h"
#include "ipc_server.h"

struct fsns;
struct datanode;
struct auth_server;
struct auth_session;
struct ProtobufCMessage;

/* The process-wide NameNode state (one loop, no locks). */
struct nn {
    struct ev_loop *loop;
    int listen_fd;
    ev_io accept_w;
    struct fsns *ns;             /* the namespace */
    struct datanode *dn;         /* the in-process DataNode */
    const char *host;            /* address the DataNode is reached at */
    int nn_port, dn_port;
    const char *nameservice;
    const char *block_pool_id;
    const char *cluster_id;      /* "CID-<uuid>", as a formatted NameNode has */
    uint32_t namespace_id;       /* random, fixed for the process's life */
    const char *datanode_uuid;
    const char *superuser;       /* the user who started the process */
    uint64_t block_size;         /* default block size */
    bool standby;                /* calls answer StandbyException, but for the ones a standby
                                    NameNode serves (nn_standby_serves) */
    bool safe_mode;              /* set and read with setSafeMode; only a flag: writes are not
                                    refused while it is on */
    uint64_t refreshes;          /* refreshNodes calls served */
    const char *ez[8];           /* encryption zone roots (--ez), for getEZForPath */
    int nez;
    struct auth_server *auth;    /* --kerberos: SASL GSSAPI only; NULL: SIMPLE only */
    struct nn_conn *conns;       /* live connections */
    uint64_t nconns;
    uint64_t next_conn_id;
};

/* One client connection. */
struct nn_conn {
    struct nn *nn;
    int fd;
    uint64_t id;
    ev_io rw, ww;
    struct ipc_sconn s;           /* handshake state */
    struct buf in, out;
    struct auth_session *auth;   /* with nn->auth: this connection's SASL session */
    bool layer;                  /* SASL integrity/privacy negotiated: in and out go through it */
    struct buf wire_in;          /* with a layer: bytes as read, unwrapped into `in` */
    struct buf wire_out;         /* with a layer: frames as written (out's packets, wrapped) */
    char user[256];              /* effective user from the connection context */
    struct nn_conn *prev, *next; /* on nn->conns */
};

/* The call being handled: where its reply goes and under which ids. */
struct nn_call {
    struct nn_conn *conn;
    struct ipc_ids ids;
    const char *method;          /* NUL-terminated copy */
    const char *user;            /* == conn->user */
};

/* A method handler: decodes param, does the work, replies once. */
typedef void (*nn_handler_fn)(struct nn *nn, struct nn_call *call, const uint8_t *param, size_t len);

/* Looks up a ClientProtocol handler by method name; NULL when minidfs does
 * not serve it. */
nn_handler_fn nn_find_handler(const char *method);
/* Does a standby NameNode serve this ClientProtocol method? The calls of
 * category UNCHECKED do (refreshNodes; setSafeMode unless the request says
 * checked, which its handler sees to); the rest answer StandbyException. */
bool nn_standby_serves(const char *method);
/* NamenodeProtocol's versionRequest (nn_ops_misc.c): the namespace's
 * identity, to the superuser, in any HA state. */
void nn_op_versionRequest(struct nn *nn, struct nn_call *call, const uint8_t *param, size_t len);

/* Replies (append to the connection's output). */
void nn_reply(struct nn_call *call, const struct ProtobufCMessage *msg);
void nn_reply_error(struct nn_call *call, const char *cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Starts listening on host:port (SO_REUSEADDR). Returns 0 or -1 with errno. */
int nn_listen(struct nn *nn, const char *host, int port);
/* Closes the listener and every connection. */
void nn_shutdown(struct nn *nn);

#endif
