/*
 * net: the socket chores every peer repeats (router, minidfs, admin):
 * a listening socket from "HOST:PORT", and draining an output buffer into a
 * nonblocking socket.
 */
#ifndef FR_NET_H
#define FR_NET_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Splits "HOST:PORT" at its last colon, taking the brackets off an IPv6
 * literal ("[::1]:8020" gives "::1"): the host into host (empty for
 * ":PORT"), *port at what follows the colon. false when there is no colon
 * or nothing after it, or the host does not fit in hostcap. */
bool net_split_hostport(const char *hostport, char *host, size_t hostcap, const char **port);

/* A nonblocking listening TCP socket on HOST:PORT or [V6]:PORT (an empty
 * host listens on every address; port 0 picks one; the bound port goes to
 * *port_out when not NULL). -1 with a reason in err. */
int net_listen(const char *hostport, bool reuseport, int *port_out, char *err, size_t errlen);

/* Accepts one connection, nonblocking with TCP_NODELAY; writes the peer as
 * "ip:port" into peer (may be NULL). -1 when none is waiting. */
int net_accept(int lfd, char *peer, size_t peerlen);

/* The host part of "HOST:PORT" (all of it when there is no colon; an IPv6
 * literal keeps its brackets) into host. 0, or -1 when it does not fit. */
int net_host_of(const char *hostport, char *host, size_t hostlen);

enum net_send { NET_SENT = 0, NET_PENDING = 1, NET_ERROR = -1 };
/* Writes as much of out as the socket takes now (consuming it): NET_SENT
 * when all is gone, NET_PENDING when the socket is full, NET_ERROR when the
 * peer is gone. */
enum net_send net_send_buf(int fd, struct buf *out);

#endif
