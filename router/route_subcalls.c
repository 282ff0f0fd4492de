/*
 * route_subcalls.c: subcalls the router makes on its own behalf, rather than
 * the client's call forwarded.
 *
 * Such subcalls are reads and carry the router's own ids (a client id per
 * worker thread, call ids counting up), not the client's: several subcalls
 * of one call may share a NameNode connection, where replies are matched by
 * (client id, call id), and with the client's ids on each they could not be
 * told apart. The retry cache, which needs the client's ids, only matters
 * for writes.
 */
#include <stdint.h>

#include "route_internal.h"

void route_own_ids(struct ipc_ids *ids)
{
    static __thread uint8_t cid[IPC_CLIENT_ID_LEN];
    static __thread bool have_cid;
    static __thread int32_t next;
    if (!have_cid) {
        ipc_new_client_id(cid);
        have_cid = true;
    }
    ids->call_id = next;
    next = next == INT32_MAX ? 0 : next + 1;
    ids->retry_count = -1;
    ids->client_id = cid;
    ids->client_id_len = sizeof cid;
}
