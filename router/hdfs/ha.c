#include "ha.h"

#include "jexc.h"
#include "methods.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STANDBY_EXCEPTION JEXC_STANDBY

static void ha_on_reply(struct upstream_call *uc, enum upstream_status st, const struct ipc_reply *r,
                        const uint8_t *body, size_t len);

static void note(struct ha_call *hc, const char *addr, const char *what)
{
    size_t used = strlen(hc->why);
    snprintf(hc->why + used, sizeof hc->why - used, "%s%s: %s", used ? "; " : "", addr, what);
}

static void finish(struct ha_call *hc, enum upstream_status st, const struct ipc_reply *r, const uint8_t *body,
                   size_t len)
{
    free(hc->param);
    hc->param = NULL;
    char why[sizeof hc->why + sizeof hc->ns->name + 64];
    if (hc->pinned)
        snprintf(why, sizeof why, "a NameNode of nameservice %s did not answer (%s)", hc->ns->name, hc->why);
    else
        snprintf(why, sizeof why, "no NameNode of nameservice %s is available (%s)", hc->ns->name, hc->why);
    hc->done(hc, st, r, body, len, st == UP_OK ? NULL : why);
}

/* How many NameNodes one call may try: each at most once (a call that may
 * have reached a NameNode is never sent to it again), and no more than
 * upstream.max_attempts of them. */
static int max_tries(const struct ha_call *hc)
{
    if (hc->pinned)
        return 1;
    int m = upstream_max_attempts(hc->pool);
    return m > 0 && m < hc->ns->n ? m : hc->ns->n;
}

/*
 * May a call that timed out on one NameNode go to the next? It may have run
 * there, or still be running, so only when running it again is harmless,
 * as Hadoop's failover proxy decides: @Idempotent ClientProtocol calls, and
 * @AtMostOnce ones that carry the client's 16-byte id (the router forwards
 * the client's clientId and callId, so the NameNodes' retry cache, which a
 * standby fills from the edit log, recognises the repeat). Calls of other
 * protocols, and methods the table does not know, are not repeated.
 */
static bool safe_after_timeout(const struct ha_call *hc)
{
    if (hc->protocol && strcmp(hc->protocol, IPC_CLIENT_PROTOCOL) != 0)
        return false;
    const struct method_row *m = method_lookup_cstr(hc->method);
    if (!m)
        return false;
    if (m->flags & METHOD_IDEMPOTENT)
        return true;
    return (m->flags & METHOD_AT_MOST_ONCE) && hc->ids.client_id_len == IPC_CLIENT_ID_LEN;
}

/* Tries the NameNodes from the current position; -1 when none took the call. */
static int try_next(struct ha_call *hc)
{
    while (hc->tried < max_tries(hc)) {
        int idx = (hc->start + hc->tried) % hc->ns->n;
        hc->tried++;
        memset(&hc->uc, 0, sizeof hc->uc);
        hc->uc.done = ha_on_reply;
        hc->uc.arg = hc;
        char why[256];
        const struct upstream_target t = {hc->ns->addrs[idx], hc->ns->principal[0] ? hc->ns->principal : NULL};
        if (upstream_send_to(hc->pool, &t, hc->user, &hc->ids, hc->protocol ? hc->protocol : IPC_CLIENT_PROTOCOL,
                             hc->method, hc->param, hc->param_len, &hc->uc, why, sizeof why) == 0)
            return 0;
        note(hc, hc->ns->addrs[idx], why);
    }
    return -1;
}

static void ha_on_reply(struct upstream_call *uc, enum upstream_status st, const struct ipc_reply *r,
                        const uint8_t *body, size_t len)
{
    struct ha_call *hc = (struct ha_call *)uc;
    int idx = (hc->start + hc->tried - 1) % hc->ns->n;
    const char *addr = hc->ns->addrs[idx];
    bool standby = st == UP_OK && r->status == IPC_ERROR && ipc_span_eq(r->exception_class, STANDBY_EXCEPTION);
    if (st == UP_OK && (!standby || hc->pinned)) {
        if (!hc->pinned)
            atomic_store_explicit(&hc->ns->active, idx, memory_order_relaxed);
        finish(hc, st, r, body, len);
        return;
    }
    if (st == UP_ETIMEOUT) {
        /* Each try has the whole call timeout, as Hadoop's failover proxy
         * gives each of its tries: a call waits at most max_attempts times
         * upstream.call_timeout_ms. */
        bool again = safe_after_timeout(hc);
        note(hc, addr, again ? "no reply within the call timeout"
                             : "no reply within the call timeout (not repeated elsewhere: the call may have run)");
        if (!again || try_next(hc) < 0)
            finish(hc, st, NULL, NULL, 0);
        return;
    }
    note(hc, addr, standby ? "standby" : st == UP_EDOWN ? "unreachable"
                   : st == UP_EBUSY ? "no connection free within the call timeout" : "protocol error");
    if (try_next(hc) < 0) {
        /* Every NameNode said standby: that reply goes back as it is, so the
         * client sees the StandbyException it knows how to handle. */
        finish(hc, standby ? UP_OK : UP_EDOWN, standby ? r : NULL, standby ? body : NULL, standby ? len : 0);
    }
}

/* idx < 0: any NameNode, the last seen active first; else that one only. */
static int send_from(struct ha_call *hc, struct upstream_pool *pool, struct ha_ns *ns, int idx, const char *user,
                     const struct ipc_ids *ids, const char *method, const uint8_t *param, size_t len)
{
    if (ns->n <= 0 || idx >= ns->n || strlen(user) >= sizeof hc->user || strlen(method) >= sizeof hc->method ||
        ids->client_id_len > IPC_CLIENT_ID_LEN)
        return -1;
    hc->ns = ns;
    hc->pool = pool;
    snprintf(hc->user, sizeof hc->user, "%s", user);
    snprintf(hc->method, sizeof hc->method, "%s", method);
    if (ids->client_id_len)
        memcpy(hc->cid, ids->client_id, ids->client_id_len);
    hc->ids = *ids;
    hc->ids.client_id = hc->cid;
    hc->param = malloc(len ? len : 1);
    if (!hc->param)
        return -1;
    if (len) /* an empty request may come as a NULL pointer */
        memcpy(hc->param, param, len);
    hc->param_len = len;
    hc->why[0] = 0;
    hc->pinned = idx >= 0;
    hc->start = hc->pinned ? idx : atomic_load_explicit(&ns->active, memory_order_relaxed) % ns->n;
    hc->tried = 0;
    if (try_next(hc) < 0) {
        free(hc->param);
        hc->param = NULL;
        return -1;
    }
    return 0;
}

int ha_send(struct ha_call *hc, struct upstream_pool *pool, struct ha_ns *ns, const char *user,
            const struct ipc_ids *ids, const char *method, const uint8_t *param, size_t len)
{
    return send_from(hc, pool, ns, -1, user, ids, method, param, len);
}

int ha_send_to(struct ha_call *hc, struct upstream_pool *pool, struct ha_ns *ns, int idx, const char *user,
               const struct ipc_ids *ids, const char *method, const uint8_t *param, size_t len)
{
    return idx < 0 ? -1 : send_from(hc, pool, ns, idx, user, ids, method, param, len);
}

void ha_cancel(struct ha_call *hc)
{
    upstream_cancel(&hc->uc);
    free(hc->param);
    hc->param = NULL;
}
