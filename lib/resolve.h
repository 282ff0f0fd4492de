/*
 * resolve: "host:port" -> socket address, without blocking an event loop.
 *
 *   worker loop                          resolver thread
 *   -----------                          ---------------
 *   fr_resolve_start(req, addr, inbox)
 *     literal IP -> FR_RESOLVE_DONE (parsed in place, no lock)
 *     fresh cache entry -> DONE / FAIL
 *     otherwise -> FR_RESOLVE_PENDING --> queue --> getaddrinfo()
 *                                                   cache the answer
 *   handler(&req->node) <-- fr_inbox_push(inbox, &req->node)
 *
 * - One process-wide cache, keyed by the address string. An answer is fresh
 *   for FR_RESOLVE_TTL seconds, a failure for FR_RESOLVE_NEG_TTL. A stale
 *   answer is still handed out at once while the resolver thread looks the
 *   name up again in the background, so a slow or broken DNS never holds up
 *   calls to a host that resolved before.
 * - The worker side takes one mutex for a table lookup and never waits on
 *   the resolver: the mutex is never held across getaddrinfo().
 * - The resolver thread starts on first need and lives as long as the
 *   process.
 */
#ifndef FR_RESOLVE_H
#define FR_RESOLVE_H

#include <stdbool.h>
#include <sys/socket.h>

#include "inbox.h"

#define FR_RESOLVE_TTL 30.0     /* seconds an answer is fresh */
#define FR_RESOLVE_NEG_TTL 5.0  /* seconds a failure is remembered */
#define FR_RESOLVE_ADDR_MAX 256 /* longest "host:port", with its NUL */

enum fr_resolve_rc {
    FR_RESOLVE_DONE = 0,    /* req->sa / req->salen hold the address */
    FR_RESOLVE_PENDING = 1, /* the answer comes later through the inbox */
    FR_RESOLVE_FAIL = -1,   /* cannot be resolved; req->why says why */
};

/*
 * One lookup. The caller owns the memory (embed it in its own object) and
 * keeps it alive until the node comes back through the inbox or
 * fr_resolve_cancel() returned.
 */
struct fr_resolve_req {
    struct fr_inbox_node node; /* pushed to `inbox` with the answer */
    /* the answer (valid on DONE, or when the node arrives) */
    int status; /* FR_RESOLVE_DONE or FR_RESOLVE_FAIL */
    struct sockaddr_storage sa;
    socklen_t salen;
    char why[96]; /* on FAIL */
    /* private */
    char addr[FR_RESOLVE_ADDR_MAX];
    struct fr_inbox *inbox;
    struct fr_resolve_req *next; /* in the resolver's queue */
    bool queued;
};

/*
 * Starts resolving addr ("host:port", "[v6]:port"). Never blocks.
 * Returns DONE or FAIL with the answer in req, or PENDING: the resolver
 * thread then fills req and pushes &req->node to `inbox` (once).
 */
enum fr_resolve_rc fr_resolve_start(struct fr_resolve_req *req, const char *addr, struct fr_inbox *inbox);

/* Withdraws a PENDING request. True: it will never be pushed and the
 * memory is the caller's again. False: it was pushed already, or is being
 * pushed right now; it arrives through the inbox. */
bool fr_resolve_cancel(struct fr_resolve_req *req);

/* Parses a literal IPv4/IPv6 "host:port" without any lookup. True on
 * success; false for a host name or a malformed address. */
bool fr_resolve_literal(const char *addr, struct sockaddr_storage *sa, socklen_t *salen);

/* Warms the cache for addr in the background (no answer is delivered);
 * for addresses about to be used, e.g. when a routing table is published. */
void fr_resolve_prefetch(const char *addr);

#endif
