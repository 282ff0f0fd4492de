/*
 * ha: calls to a nameservice of one or more NameNodes (HA). A call goes to
 * the NameNode last seen active; on a StandbyException or a dead connection
 * it moves to the next one, and the one that answers becomes the active for
 * every worker (one atomic index per nameservice). The client's ids travel
 * unchanged on every try, so the NameNodes' retry caches see one call.
 * A timeout moves on to the next NameNode only for calls safe to repeat
 * (@Idempotent, or @AtMostOnce with the client's id: see methods.h); any
 * other call may still be running where it timed out, and fails with the
 * timeout. Every try gets the full call timeout, and there are at most
 * upstream.max_attempts of them. A NameNode that is backed off (upstream.h)
 * refuses the call at once, and the next one is tried.
 *
 * ha_send_to sends to one given NameNode instead, for the calls a standby
 * serves as well (refreshNodes, unchecked setSafeMode, versionRequest): no
 * other NameNode is tried, and its answer, whatever it is, never moves the
 * active index.
 */
#ifndef FR_HA_H
#define FR_HA_H

#include <stdatomic.h>
#include <stdbool.h>

#include "upstream.h"

#define HA_MAX_NAMENODES 8

/* A nameservice as the routing snapshot holds it; shared by all workers. */
struct ha_ns {
    char name[64];
    int n;                                  /* NameNodes, in configured order */
    char addrs[HA_MAX_NAMENODES][128];      /* host:port */
    char principal[256];                    /* NameNodes' Kerberos principal (nn/_HOST@R); "" = SIMPLE */
    _Atomic int active;                     /* index last seen active */
    _Atomic int metrics_id;                 /* metrics name id + 1 (0: not looked up yet) */
};

struct ha_call;
/* The final outcome: st UP_OK with the reply (which may be an ERROR reply
 * other than StandbyException), or the last failure with `why` naming the
 * nameservice and what each NameNode answered. */
typedef void (*ha_done_fn)(struct ha_call *hc, enum upstream_status st, const struct ipc_reply *r,
                           const uint8_t *body, size_t len, const char *why);

/* One call to a nameservice. Embed it; keep it alive until done or ha_cancel. */
struct ha_call {
    struct upstream_call uc;                /* first: the pool's callback lands here */
    ha_done_fn done;
    void *arg;
    const char *protocol;                   /* the call's protocol, NULL: ClientProtocol (static string) */
    /* private */
    struct ha_ns *ns;
    struct upstream_pool *pool;
    char user[256];
    struct ipc_ids ids;
    uint8_t cid[IPC_CLIENT_ID_LEN];
    char method[64];
    uint8_t *param;                         /* owned copy for retries */
    size_t param_len;
    int start, tried;
    bool pinned;                            /* ha_send_to: only addrs[start] */
    char why[512];
};

/* Sends; returns 0 (done() runs once, later, from the loop: never before
 * this returns, as upstream_send promises) or -1 when nothing could be sent
 * (why filled, done() not called). */
int ha_send(struct ha_call *hc, struct upstream_pool *pool, struct ha_ns *ns, const char *user,
            const struct ipc_ids *ids, const char *method, const uint8_t *param, size_t len);
/* Sends to the NameNode ns->addrs[idx] only; returns as ha_send. */
int ha_send_to(struct ha_call *hc, struct upstream_pool *pool, struct ha_ns *ns, int idx, const char *user,
               const struct ipc_ids *ids, const char *method, const uint8_t *param, size_t len);
/* Forgets the call: done() will not run. */
void ha_cancel(struct ha_call *hc);

#endif
