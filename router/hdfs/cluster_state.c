/*
 * cluster_state.c: free space and hosts per nameservice (see cluster_state.h).
 *
 * The refresher is one thread running its own small libev loop, with its
 * own NameNode pool (upstream.h) and nothing blocking on it:
 *
 *   cs_tick --> round_start: hold the snapshot, lay out the round's calls
 *     pump --> up to CS_WINDOW calls in flight, in layout order:
 *              versionRequest (NamenodeProtocol, which a standby answers
 *              too) of every nameservice, getQuotaUsage of each destination
 *              of a mount with a quota, getFsStats, getDatanodeReport,
 *              then getFsStats to each NameNode on its own (its role and
 *              latency, for the status page)
 *       call_send --> ha_send_to(NameNode idx) --> upstream pool --> NameNode
 *       on_answer <-- success: call_finish records it
 *                 <-- anything else: the next NameNode, in configured order
 *   every call over --> round_end: rounds++, cs_tick re-armed for the interval
 *   cs_stop --> cs_wake (ev_async) --> the loop stops; calls still out are
 *              cancelled, then the pool closes its connections
 *
 * The pool writes the preamble and connection context, resolves host names
 * off the loop (lib/resolve) and will carry whatever authentication the
 * router's other NameNode connections get, so the refresher has no client
 * of its own. Its limits are short: 1 s to connect, and a call that has no
 * answer 3 s after it was sent (the connect, then 2 s) moves on to the next
 * NameNode, so a dead subcluster slows a round, never the
 * workers. Calls go out under the router's user with a client id of the
 * refresher's own; a connection stays open from one round to the next when
 * the interval is under 10 s (idle limit: twice the interval, at most 10 s).
 */
#define _GNU_SOURCE
#include "clock.h"
#include "cluster_state.h"

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ha.h"
#include "ipc.h"
#include "log.h"
#include "pbwire.h"
#include "resolve.h"
#include "route_state.h"
#include "snapshot.h"
#include "upstream.h"

#define CS_NAME 64
#define CS_HOST 64
#define CS_MAX_REPLY (16u << 20)

struct space_ent {
    char ns[CS_NAME];
    uint64_t remaining;
    int64_t at_ms;
};

struct host_ent {
    char host[CS_HOST];
    char ns[CS_NAME];
    int64_t at_ms;
};

struct nn_ent {
    char ns[CS_NAME];
    char addr[128];
    struct cs_nn st;                    /* age_ms holds the time seen (monotonic ms) */
};

struct usage_ent {
    char *src;
    struct cs_usage u;
    int64_t at_ms;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct usage_ent *usages;
static size_t nusages, capusages;
static atomic_bool any_quota;
static struct space_ent *spaces;
static size_t nspaces, capspaces;
static struct host_ent *hosts;
static size_t nhosts, caphosts;
static struct nn_ent *nntab;
static size_t nnntab, capnntab;
static int64_t max_age_ms = 30000;
static _Atomic uint64_t rounds;

static pthread_t thr;
static bool running;
static atomic_bool stop_flag;
static struct route_state *cs_rs;
static char cs_user[256];
static int cs_interval_ms;

/* ---- the tables ---- */

/* Makes room for one more element in *arr (n in use, *cap allocated).
 * 0, or -1 when out of memory (the array is unchanged). */
static int grow(void **arr, size_t *cap, size_t n, size_t elem, size_t first)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? 2 * *cap : first;
    void *g = realloc(*arr, nc * elem);
    if (!g)
        return -1;
    *arr = g;
    *cap = nc;
    return 0;
}

void cs_note_space(const char *ns, uint64_t remaining)
{
    pthread_mutex_lock(&lock);
    size_t i = 0;
    while (i < nspaces && strcmp(spaces[i].ns, ns) != 0)
        i++;
    if (i == nspaces) {
        if (grow((void **)&spaces, &capspaces, nspaces, sizeof *spaces, 16) < 0) {
            pthread_mutex_unlock(&lock);
            return;
        }
        snprintf(spaces[nspaces].ns, CS_NAME, "%s", ns);
        nspaces++;
    }
    spaces[i].remaining = remaining;
    spaces[i].at_ms = fr_mono_ms();
    pthread_mutex_unlock(&lock);
}

int cs_space(const char *ns, uint64_t *remaining)
{
    int rc = -1;
    int64_t now = fr_mono_ms();
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nspaces; i++)
        if (strcmp(spaces[i].ns, ns) == 0) {
            if (now - spaces[i].at_ms <= max_age_ms) {
                *remaining = spaces[i].remaining;
                rc = 0;
            }
            break;
        }
    pthread_mutex_unlock(&lock);
    return rc;
}

void cs_note_host(const char *ns, const char *host)
{
    if (!host || !*host || strlen(host) >= CS_HOST)
        return;
    pthread_mutex_lock(&lock);
    size_t i = 0;
    while (i < nhosts && !(strcmp(hosts[i].host, host) == 0 && strcmp(hosts[i].ns, ns) == 0))
        i++;
    if (i == nhosts) {
        if (grow((void **)&hosts, &caphosts, nhosts, sizeof *hosts, 64) < 0) {
            pthread_mutex_unlock(&lock);
            return;
        }
        snprintf(hosts[nhosts].host, CS_HOST, "%s", host);
        snprintf(hosts[nhosts].ns, CS_NAME, "%s", ns);
        nhosts++;
    }
    hosts[i].at_ms = fr_mono_ms();
    pthread_mutex_unlock(&lock);
}

bool cs_host_ns(const char *host, char *out, size_t cap)
{
    bool found = false;
    int64_t now = fr_mono_ms();
    pthread_mutex_lock(&lock);
    /* The freshest entry wins when a host serves several subclusters. */
    int64_t best = -1;
    for (size_t i = 0; i < nhosts; i++)
        if (strcmp(hosts[i].host, host) == 0 && now - hosts[i].at_ms <= max_age_ms && hosts[i].at_ms > best) {
            snprintf(out, cap, "%s", hosts[i].ns);
            best = hosts[i].at_ms;
            found = true;
        }
    pthread_mutex_unlock(&lock);
    return found;
}

bool cs_quotas_set(void)
{
    return atomic_load_explicit(&any_quota, memory_order_relaxed);
}

static void note_usage(const char *src, const struct cs_usage *u)
{
    pthread_mutex_lock(&lock);
    size_t i = 0;
    while (i < nusages && strcmp(usages[i].src, src) != 0)
        i++;
    if (i == nusages) {
        if (grow((void **)&usages, &capusages, nusages, sizeof *usages, 16) < 0) {
            pthread_mutex_unlock(&lock);
            return;
        }
        usages[nusages].src = strdup(src);
        if (!usages[nusages].src) {
            pthread_mutex_unlock(&lock);
            return;
        }
        nusages++;
    }
    usages[i].u = *u;
    usages[i].at_ms = fr_mono_ms();
    pthread_mutex_unlock(&lock);
}

int cs_usage(const char *src, struct cs_usage *u)
{
    int rc = -1;
    int64_t now = fr_mono_ms();
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nusages; i++)
        if (strcmp(usages[i].src, src) == 0) {
            if (now - usages[i].at_ms <= max_age_ms) {
                *u = usages[i].u;
                rc = 0;
            }
            break;
        }
    pthread_mutex_unlock(&lock);
    return rc;
}

const char *cs_nn_role_name(enum cs_nn_role r)
{
    switch (r) {
    case CS_NN_ACTIVE: return "active";
    case CS_NN_STANDBY: return "standby";
    case CS_NN_ERROR: return "error";
    default: return "unreachable";
    }
}

static void note_namenode(const char *ns, const char *addr, const struct cs_nn *st)
{
    pthread_mutex_lock(&lock);
    size_t i = 0;
    while (i < nnntab && !(strcmp(nntab[i].ns, ns) == 0 && strcmp(nntab[i].addr, addr) == 0))
        i++;
    if (i == nnntab) {
        if (grow((void **)&nntab, &capnntab, nnntab, sizeof *nntab, 16) < 0) {
            pthread_mutex_unlock(&lock);
            return;
        }
        snprintf(nntab[nnntab].ns, CS_NAME, "%s", ns);
        snprintf(nntab[nnntab].addr, sizeof nntab[nnntab].addr, "%s", addr);
        nnntab++;
    }
    nntab[i].st = *st;
    nntab[i].st.age_ms = fr_mono_ms();
    pthread_mutex_unlock(&lock);
}

int cs_namenode(const char *ns, const char *addr, struct cs_nn *out)
{
    int rc = -1;
    int64_t now = fr_mono_ms();
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nnntab; i++)
        if (strcmp(nntab[i].ns, ns) == 0 && strcmp(nntab[i].addr, addr) == 0) {
            if (now - nntab[i].st.age_ms <= max_age_ms) {
                *out = nntab[i].st;
                out->age_ms = now - nntab[i].st.age_ms;
                rc = 0;
            }
            break;
        }
    pthread_mutex_unlock(&lock);
    return rc;
}

uint64_t cs_rounds(void)
{
    return atomic_load(&rounds);
}

/* ---- the refresher's calls ---- */

/* What a call asks, and so what its answer feeds. */
enum cs_kind {
    CS_POOL,                            /* versionRequest: the block pool */
    CS_STATS,                           /* getFsStats: remaining bytes */
    CS_NODES,                           /* getDatanodeReport: DataNode hosts */
    CS_USAGE,                           /* getQuotaUsage of one destination */
    CS_PROBE,                           /* getFsStats of one NameNode alone: its role */
};

enum cs_call_state { CS_QUEUED = 0, CS_SENT, CS_DONE };

/* A mount entry with a quota: its destinations' usage, summed as their
 * answers come. */
struct cs_acc {
    const char *src;                    /* in the round's snapshot */
    struct cs_usage u;
    uint32_t left;                      /* destinations not answered yet */
};

struct cs_round;

/* One call of a round: one method to one nameservice, its NameNodes tried
 * one at a time in configured order until one answers. */
struct cs_call {
    struct ha_call hc;                  /* first: ha's callback lands here */
    struct cs_round *round;
    enum cs_kind kind;
    enum cs_call_state state;
    struct ha_ns *ns;                   /* the round's copy of the nameservice */
    int idx;                            /* the NameNode asked now */
    int target;                         /* CS_PROBE: the one NameNode it asks */
    uint64_t sent_us;                   /* when it went out (CS_PROBE's latency) */
    const char *method;                 /* static string */
    uint8_t *req;                       /* the request message (owned; NULL: empty) */
    size_t reqlen;
    struct cs_acc *acc;                 /* CS_USAGE: the mount it adds to */
    char why[400];                      /* what each NameNode answered */
};

/* A round: every call it makes, sent at most CS_WINDOW at a time in array
 * order (block pools first), and what it holds while they run. */
struct cs_round {
    struct snapshot *s;
    struct ha_ns *nss;                  /* one per nameservice, by snapshot index */
    struct cs_acc *accs;
    size_t naccs;
    struct cs_call *calls;
    size_t ncalls, next, ndone;
    uint32_t in_flight;
    bool pumping;                       /* pump() is on the stack */
    bool any_quota;
};

#define CS_WINDOW 8                     /* calls of a round in flight at once */
#define CS_CONNECT_TIMEOUT 1.0          /* seconds */
#define CS_CALL_TIMEOUT 3.0             /* the connect, then 2 s for the answer */

/* Refresher thread only (set up by cs_start before the thread starts). */
static struct ev_loop *cs_loop;
static struct upstream_pool *cs_pool;
static ev_async cs_wake;                /* cs_stop -> the loop */
static ev_timer cs_tick;                /* the next round */
static struct cs_round *cs_cur;         /* the round under way, or NULL */
static uint8_t cs_cid[IPC_CLIENT_ID_LEN];
static int32_t cs_next_id;
static char cs_failing[64][CS_NAME];    /* nameservices whose block pool is not known */

static void pump(struct cs_round *rd);

static void learn_datanodes(const char *ns, const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    struct pb_field f;
    while (pb_next_field(&p, end, &f) > 0) {
        if (f.num != 1 || f.type != PB_LEN)
            continue;
        /* DatanodeInfoProto.id(1) -> DatanodeIDProto.ipAddr(1) */
        const uint8_t *q = f.data, *qe = f.data + f.len;
        struct pb_field g;
        while (pb_next_field(&q, qe, &g) > 0) {
            if (g.num != 1 || g.type != PB_LEN)
                continue;
            const uint8_t *r = g.data, *re = g.data + g.len;
            struct pb_field h;
            while (pb_next_field(&r, re, &h) > 0)
                if (h.num == 1 && h.type == PB_LEN && h.len < CS_HOST) {
                    char ip[CS_HOST];
                    memcpy(ip, h.data, h.len);
                    ip[h.len] = 0;
                    cs_note_host(ns, ip);
                }
        }
    }
}

/* GetQuotaUsageResponseProto.usage(1): fileAndDirectoryCount(1), spaceConsumed(3). */
static void add_usage(struct cs_usage *u, const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    struct pb_field f;
    while (pb_next_field(&p, end, &f) > 0) {
        if (f.num != 1 || f.type != PB_LEN)
            continue;
        const uint8_t *q = f.data, *qe = f.data + f.len;
        struct pb_field g;
        while (pb_next_field(&q, qe, &g) > 0) {
            if (g.num == 1 && g.type == PB_VARINT)
                u->names += g.varint;
            else if (g.num == 3 && g.type == PB_VARINT)
                u->space += g.varint;
        }
    }
}

/* Block pools: every nameservice names its own, so calls that name only a
 * block route right from the start, and after a router restart. A
 * nameservice whose pool cannot be learned is logged when that starts (a
 * NameNode answers versionRequest to its superuser only) and when it ends. */
static void note_pool_outcome(const char *ns, bool ok, const char *why)
{
    int k = 0, free_slot = -1;
    while (k < 64 && strcmp(cs_failing[k], ns) != 0) {
        if (!cs_failing[k][0] && free_slot < 0)
            free_slot = k;
        k++;
    }
    if (!ok && k == 64 && free_slot >= 0) {
        fr_warn("cannot learn the block pool of nameservice %s (%s); calls naming only its blocks will fail", ns,
                why);
        snprintf(cs_failing[free_slot], CS_NAME, "%s", ns);
    } else if (ok && k < 64) {
        fr_info("learned the block pool of nameservice %s", ns);
        cs_failing[k][0] = 0;
    }
}

/* The call is over: ok with the answer's payload, or failed on every
 * NameNode (c->why says how). */
static void call_finish(struct cs_call *c, bool ok, const uint8_t *payload, size_t len)
{
    struct cs_round *rd = c->round;
    const char *ns = c->ns->name;
    /* While stopping, calls end without an answer: record nothing. */
    switch (atomic_load(&stop_flag) ? -1 : (int)c->kind) {
    case CS_POOL:
        if (ok && route_state_learn_version(payload, len, ns) < 0) {
            snprintf(c->why, sizeof c->why, "the answer names no block pool");
            ok = false;
        }
        note_pool_outcome(ns, ok, c->why);
        break;
    case CS_STATS:
        if (ok) {
            uint64_t remaining = 0;
            const uint8_t *p = payload, *end = p + len;
            struct pb_field f;
            while (pb_next_field(&p, end, &f) > 0)
                if (f.num == 3 && f.type == PB_VARINT)
                    remaining = f.varint;
            cs_note_space(ns, remaining);
        }
        break;
    case CS_NODES:
        if (ok)
            learn_datanodes(ns, payload, len);
        break;
    case CS_PROBE:
        /* A probe ends here with ok only from probe_answer, which noted
         * the role; otherwise nothing could be sent. */
        if (!ok) {
            struct cs_nn nn = { .role = CS_NN_DOWN };
            snprintf(nn.why, sizeof nn.why, "%.159s", c->why[0] ? c->why : "cannot send the call");
            note_namenode(ns, c->ns->addrs[c->target], &nn);
        }
        break;
    case CS_USAGE:
        /* A destination that does not exist yet counts nothing. */
        if (ok)
            add_usage(&c->acc->u, payload, len);
        if (--c->acc->left == 0)
            note_usage(c->acc->src, &c->acc->u);
        break;
    default:
        break;
    }
    c->state = CS_DONE;
    free(c->req);
    c->req = NULL;
    rd->in_flight--;
    rd->ndone++;
    pump(rd);
}

static void on_answer(struct ha_call *hc, enum upstream_status st, const struct ipc_reply *r, const uint8_t *body,
                      size_t len, const char *why);

static void note_why(struct cs_call *c, const char *what)
{
    size_t used = strlen(c->why);
    snprintf(c->why + used, sizeof c->why - used, "%s%s: %s", used ? "; " : "", c->ns->addrs[c->idx], what);
}

/* Sends the call to NameNode c->idx or, when that cannot take it, to the
 * ones after it. -1 when none is left. The answer may come before this
 * returns, and then c may already be finished: do not touch it after 0. */
static int call_send(struct cs_call *c)
{
    int last = c->kind == CS_PROBE ? c->target + 1 : c->ns->n; /* a probe asks its NameNode only */
    for (; c->idx < last && !atomic_load(&stop_flag); c->idx++) {
        struct ipc_ids ids = { cs_next_id, 0, cs_cid, sizeof cs_cid };
        cs_next_id = cs_next_id == INT32_MAX ? 0 : cs_next_id + 1;
        c->hc.done = on_answer;
        c->hc.arg = c;
        c->hc.protocol = c->kind == CS_POOL ? IPC_NAMENODE_PROTOCOL : NULL;
        c->hc.why[0] = 0;
        c->sent_us = fr_mono_us();
        if (ha_send_to(&c->hc, cs_pool, c->ns, c->idx, cs_user, &ids, c->method, c->req, c->reqlen) == 0)
            return 0;
        /* ha says why nothing went out ("addr: reason"), e.g. a name that
         * does not resolve. */
        size_t used = strlen(c->why);
        snprintf(c->why + used, sizeof c->why - used, "%s%.350s", used ? "; " : "",
                 c->hc.why[0] ? c->hc.why : "cannot send the call");
    }
    return -1;
}

/* A probe's answer: the NameNode's role, whatever it is; a probe never
 * moves on to another NameNode. */
static void probe_answer(struct cs_call *c, enum upstream_status st, const struct ipc_reply *r)
{
    struct cs_nn nn = { .role = CS_NN_DOWN };
    if (st == UP_OK) {
        nn.latency_us = fr_mono_us() - c->sent_us;
        if (r->status == IPC_SUCCESS) {
            nn.role = CS_NN_ACTIVE;
        } else {
            char cls[128], msg[128];
            ipc_span_copy(r->exception_class, cls, sizeof cls);
            ipc_span_copy(r->error_msg, msg, sizeof msg);
            nn.role = strstr(cls, "StandbyException") ? CS_NN_STANDBY : CS_NN_ERROR;
            snprintf(nn.why, sizeof nn.why, "%.80s: %.70s", cls, msg);
        }
    } else {
        snprintf(nn.why, sizeof nn.why, "%s",
                 st == UP_ETIMEOUT ? "no answer in time" : st == UP_EDOWN ? "unreachable" : "protocol error");
    }
    if (!atomic_load(&stop_flag))
        note_namenode(c->ns->name, c->ns->addrs[c->target], &nn);
    call_finish(c, true, NULL, 0);
}

/*
 * One NameNode's answer. Anything but a success (StandbyException, another
 * error, a lost connection, a timeout) moves on to the next NameNode: the
 * refresher's calls only read, so asking again elsewhere is always safe.
 */
static void on_answer(struct ha_call *hc, enum upstream_status st, const struct ipc_reply *r, const uint8_t *body,
                      size_t len, const char *why)
{
    struct cs_call *c = (struct cs_call *)hc;
    if (c->kind == CS_PROBE) {
        probe_answer(c, st, r);
        return;
    }
    if (st == UP_OK && r->status == IPC_SUCCESS) {
        call_finish(c, true, r->payload.p, r->payload.len);
        return;
    }
    if (st == UP_OK) {
        char cls[128], msg[128], what[260];
        ipc_span_copy(r->exception_class, cls, sizeof cls);
        ipc_span_copy(r->error_msg, msg, sizeof msg);
        snprintf(what, sizeof what, "%s: %s", cls, msg);
        note_why(c, what);
    } else {
        note_why(c, st == UP_ETIMEOUT ? "no answer in time" : st == UP_EDOWN ? "unreachable" : "protocol error");
    }
    c->idx++;
    if (call_send(c) < 0)
        call_finish(c, false, NULL, 0);
}

/* ---- rounds ---- */

static void round_free(struct cs_round *rd)
{
    for (size_t i = 0; i < rd->ncalls; i++) {
        if (rd->calls[i].state == CS_SENT)
            ha_cancel(&rd->calls[i].hc);
        free(rd->calls[i].req);
    }
    free(rd->calls);
    free(rd->accs);
    free(rd->nss);
    snapshot_release(rd->s);
    free(rd);
}

/* Every call answered: the round counts, and the next one is due after the
 * interval. */
static void round_end(struct cs_round *rd)
{
    atomic_store(&any_quota, rd->any_quota);
    cs_cur = NULL;
    round_free(rd);
    atomic_fetch_add(&rounds, 1);
    ev_timer_set(&cs_tick, cs_interval_ms / 1000.0, 0);
    ev_timer_start(cs_loop, &cs_tick);
}

/* Sends queued calls while the window has room; ends the round once every
 * call is over. Calls that complete while it sends come back here and
 * return at once: the outer loop goes on. */
static void pump(struct cs_round *rd)
{
    if (rd->pumping)
        return;
    rd->pumping = true;
    while (rd->next < rd->ncalls && rd->in_flight < CS_WINDOW && !atomic_load(&stop_flag)) {
        struct cs_call *c = &rd->calls[rd->next++];
        c->state = CS_SENT;
        rd->in_flight++;
        if (call_send(c) < 0)
            call_finish(c, false, NULL, 0);
    }
    rd->pumping = false;
    if (rd->ndone == rd->ncalls && !atomic_load(&stop_flag))
        round_end(rd);
}

static bool ns_asked(const struct snap_ns *ns)
{
    return ns->defined && !ns->disabled && ns->nnamenodes > 0;
}

static void call_init(struct cs_call *c, struct cs_round *rd, enum cs_kind kind, const struct snap_ns *ns,
                      const char *method)
{
    c->round = rd;
    c->kind = kind;
    c->ns = &rd->nss[ns->idx];
    c->method = method;
}

/* Lays out the calls of a round over snapshot s: block pools, then quota
 * usage, then free space and DataNodes. -1 when out of memory. */
static int round_plan(struct cs_round *rd)
{
    const struct snapshot *s = rd->s;
    size_t nns = snapshot_ns_count(s), nm = snapshot_mount_count(s), nasked = 0, nusage = 0;
    rd->nss = calloc(nns ? nns : 1, sizeof *rd->nss);
    if (!rd->nss)
        return -1;
    for (size_t i = 0; i < nns; i++) {
        const struct snap_ns *ns = snapshot_ns_at(s, i);
        struct ha_ns *h = &rd->nss[ns->idx];
        snprintf(h->name, sizeof h->name, "%s", ns->name);
        snprintf(h->principal, sizeof h->principal, "%s", ns->principal ? ns->principal : "");
        h->n = (int)(ns->nnamenodes < HA_MAX_NAMENODES ? ns->nnamenodes : HA_MAX_NAMENODES);
        for (int k = 0; k < h->n; k++)
            snprintf(h->addrs[k], sizeof h->addrs[k], "%s", ns->namenodes[k]);
        nasked += ns_asked(ns);
    }
    for (size_t i = 0; i < nm; i++) {
        const struct snap_mount *m = snapshot_mount_at(s, i);
        if (m->rec->ns_quota < 0 && m->rec->ss_quota < 0)
            continue;
        rd->naccs++;
        for (uint32_t k = 0; k < m->ndests; k++)
            nusage += ns_asked(m->dests[k].ns) && m->dests[k].path_len <= FR_PATH_MAX;
    }
    rd->accs = calloc(rd->naccs ? rd->naccs : 1, sizeof *rd->accs);
    size_t nprobes = 0;
    for (size_t i = 0; i < nns; i++)
        if (ns_asked(snapshot_ns_at(s, i)))
            nprobes += (size_t)rd->nss[snapshot_ns_at(s, i)->idx].n;
    rd->calls = calloc(3 * nasked + nusage + nprobes + 1, sizeof *rd->calls);
    if (!rd->accs || !rd->calls)
        return -1;
    for (size_t i = 0; i < nns; i++) {
        const struct snap_ns *ns = snapshot_ns_at(s, i);
        if (ns_asked(ns))
            call_init(&rd->calls[rd->ncalls++], rd, CS_POOL, ns, "versionRequest");
    }
    /* Router quotas: the usage of every mount entry that sets one, each
     * destination asked once. */
    size_t a = 0;
    for (size_t i = 0; i < nm; i++) {
        const struct snap_mount *m = snapshot_mount_at(s, i);
        if (m->rec->ns_quota < 0 && m->rec->ss_quota < 0)
            continue;
        struct cs_acc *acc = &rd->accs[a++];
        acc->src = m->src;
        rd->any_quota = true;
        for (uint32_t k = 0; k < m->ndests; k++) {
            const struct snap_dest *d = &m->dests[k];
            if (!ns_asked(d->ns) || d->path_len > FR_PATH_MAX)
                continue;
            struct cs_call *c = &rd->calls[rd->ncalls];
            c->req = malloc(d->path_len + 8);
            if (!c->req)
                return -1;
            c->reqlen = pb_put_bytes_field(c->req, 1, d->path, d->path_len);
            call_init(c, rd, CS_USAGE, d->ns, "getQuotaUsage");
            c->acc = acc;
            acc->left++;
            rd->ncalls++;
        }
        if (acc->left == 0)
            note_usage(acc->src, &acc->u);
    }
    for (size_t i = 0; i < nns; i++) {
        const struct snap_ns *ns = snapshot_ns_at(s, i);
        if (!ns_asked(ns))
            continue;
        call_init(&rd->calls[rd->ncalls++], rd, CS_STATS, ns, "getFsStats");
        struct cs_call *c = &rd->calls[rd->ncalls];
        c->req = malloc(4);
        if (!c->req)
            return -1;
        c->reqlen = pb_put_varint_field(c->req, 1, 1); /* DatanodeReportTypeProto ALL */
        call_init(c, rd, CS_NODES, ns, "getDatanodeReport");
        rd->ncalls++;
    }
    /* Last, so that they never delay what routing needs. */
    for (size_t i = 0; i < nns; i++) {
        const struct snap_ns *ns = snapshot_ns_at(s, i);
        if (!ns_asked(ns))
            continue;
        for (int k = 0; k < rd->nss[ns->idx].n; k++) {
            struct cs_call *c = &rd->calls[rd->ncalls++];
            call_init(c, rd, CS_PROBE, ns, "getFsStats");
            c->idx = c->target = k;
        }
    }
    return 0;
}

/* The hosts of every NameNode, known from the snapshot alone. */
static void note_namenode_hosts(const struct snapshot *s)
{
    size_t n = snapshot_ns_count(s);
    for (size_t i = 0; i < n; i++) {
        const struct snap_ns *ns = snapshot_ns_at(s, i);
        if (!ns->defined || ns->disabled)
            continue;
        for (uint32_t k = 0; k < ns->nnamenodes; k++) {
            /* Keeps the workers' address cache warm, so that their first
             * call to a NameNode named by host does not wait for a lookup. */
            fr_resolve_prefetch(ns->namenodes[k]);
            char host[CS_HOST];
            const char *colon = strrchr(ns->namenodes[k], ':');
            if (colon && (size_t)(colon - ns->namenodes[k]) < sizeof host) {
                snprintf(host, sizeof host, "%.*s", (int)(colon - ns->namenodes[k]), ns->namenodes[k]);
                cs_note_host(ns->name, host);
            }
        }
    }
}

static void round_start(void)
{
    struct snapshot *s = snapshot_acquire(&cs_rs->ref);
    struct cs_round *rd = s ? calloc(1, sizeof *rd) : NULL;
    if (!rd) {
        if (s)
            snapshot_release(s);
        ev_timer_set(&cs_tick, cs_interval_ms / 1000.0, 0);
        ev_timer_start(cs_loop, &cs_tick);
        return;
    }
    rd->s = s;
    note_namenode_hosts(s);
    if (round_plan(rd) < 0) {
        fr_warn("cluster state: out of memory; skipping a refresh round");
        round_free(rd);
        ev_timer_set(&cs_tick, cs_interval_ms / 1000.0, 0);
        ev_timer_start(cs_loop, &cs_tick);
        return;
    }
    cs_cur = rd;
    pump(rd);
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    if (!atomic_load(&stop_flag))
        round_start();
}

static void on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
    if (atomic_load(&stop_flag))
        ev_break(loop, EVBREAK_ALL);
}

static void *refresher(void *arg)
{
    ev_run(cs_loop, 0);
    /* Stopped: withdraw the calls still out, then close the connections. */
    if (cs_cur) {
        round_free(cs_cur);
        cs_cur = NULL;
    }
    ev_timer_stop(cs_loop, &cs_tick);
    upstream_pool_free(cs_pool);
    cs_pool = NULL;
    return NULL;
}

int cs_start(struct route_state *rs, const char *user, int interval_ms)
{
    cs_rs = rs;
    snprintf(cs_user, sizeof cs_user, "%s", user);
    cs_interval_ms = interval_ms > 0 ? interval_ms : 5000;
    max_age_ms = 3 * (int64_t)cs_interval_ms + 5000;
    atomic_store(&stop_flag, false);
    cs_loop = ev_loop_new(EVFLAG_AUTO);
    if (!cs_loop)
        return -1;
    /* Connections live from round to round, as long as rounds come often. */
    double idle = 2 * cs_interval_ms / 1000.0;
    const struct upstream_limits lim = {
        .max_conns_per_key = 1,
        .calls_per_conn = CS_WINDOW,
        .connect_timeout = CS_CONNECT_TIMEOUT,
        .call_timeout = CS_CALL_TIMEOUT,
        .idle_timeout = idle < 10.0 ? idle : 10.0,
        .max_frame = CS_MAX_REPLY,
        .max_attempts = 0,
    };
    cs_pool = upstream_pool_new(cs_loop, &lim, NULL);
    if (!cs_pool) {
        ev_loop_destroy(cs_loop);
        cs_loop = NULL;
        return -1;
    }
    ipc_new_client_id(cs_cid);
    cs_next_id = 0;
    ev_async_init(&cs_wake, on_wake);
    ev_async_start(cs_loop, &cs_wake);
    ev_timer_init(&cs_tick, on_tick, 0., 0.); /* the first round at once */
    ev_timer_start(cs_loop, &cs_tick);
    if (pthread_create(&thr, NULL, refresher, NULL) != 0) {
        ev_timer_stop(cs_loop, &cs_tick);
        ev_async_stop(cs_loop, &cs_wake);
        upstream_pool_free(cs_pool);
        cs_pool = NULL;
        ev_loop_destroy(cs_loop);
        cs_loop = NULL;
        return -1;
    }
    running = true;
    return 0;
}

void cs_stop(void)
{
    if (!running)
        return;
    atomic_store(&stop_flag, true);
    ev_async_send(cs_loop, &cs_wake);
    pthread_join(thr, NULL);
    ev_async_stop(cs_loop, &cs_wake);
    ev_loop_destroy(cs_loop);
    cs_loop = NULL;
    running = false;
}
