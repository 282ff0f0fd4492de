/*
 * upstream.c: see upstream.h. A pool holds sets, one per (NameNode, user);
 * a set holds up to max_conns_per_key connections; a connection holds the
 * calls in flight in a small hash table keyed by (clientId, callId).
 *
 * Every call is in that table from upstream_send() on, whatever the state of
 * its connection; only where its frame waits depends on the state:
 *
 *   CONNECTING, HANDSHAKE:  frame -> c->pending   (socket untouched)
 *   READY:                  frame -> conn_out() -> socket (lib/conn)
 *
 * The socket side (fd, watchers, buffers, connect, close, lifetime) is an
 * embedded struct conn; this file keeps the NameNode protocol only. The
 * conn's callbacks drive it: on_connected starts the handshake, on_input
 * cuts reply frames, on_close fails the calls, on_free frees the memory.
 * conn_move() is the one place a state changes; conn_fail() the one way to
 * CLOSED.
 *
 * A set's address is resolved off this loop (lib/resolve): a literal IP at
 * once, a host name by the resolver thread. Until the answer comes back
 * through the pool's inbox, new connections of the set are CONNECTING with
 * no socket (and so no struct conn yet), and their calls wait in `pending`
 * like any other. Such a connection is only ever pointed at by its set's
 * list and by its calls, so conn_fail() frees it itself once its calls are
 * failed; from the connect on, its memory goes with the conn's last
 * reference.
 */
#define _GNU_SOURCE
#include "upstream.h"

#include "conn.h"
#include "jexc.h"
#include "log.h"
#include "net.h"
#include "resolve.h"
#include "sasl_client.h"
#include "sasl_layer.h"
#include "sasl_server.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define UP_BUCKETS 64
#define UP_SETS 1024
#define UP_NNS 64
#define UP_MAX_WAITING 4096 /* calls waiting for a connection to one NameNode */
#define UP_BACKOFF_MIN 0.1
#define UP_BACKOFF_MAX 5.0

struct upstream_set;
struct upstream_nn;

struct upstream_conn {
    struct conn conn; /* the socket; valid only once has_sock */
    bool has_sock;    /* conn_connect() was started */
    struct upstream_pool *pool;
    struct upstream_set *set;
    struct upstream_conn *next;     /* in set->conns */
    enum upstream_conn_state state; /* changed by conn_move() only */
    ev_timer timer;                 /* connect + handshake timeout, then idle timeout */
    struct buf pending;             /* frames of calls sent before READY, in order */
    uint32_t in_flight;
    bool answered;                       /* a reply came on it: the NameNode is up */
    bool probe;                          /* the one connect allowed while backed off */
    bool idle;                           /* in nn's idle list */
    struct upstream_conn *iprev, *inext; /* nn's idle list, least recently idle first */
    struct upstream_call *calls[UP_BUCKETS];
    struct auth_ipc_client *sasl; /* Kerberos NameNode: the SASL exchange (HANDSHAKE) */
};

/* A call waiting for a connection to its NameNode (see upstream.h). */
struct upstream_wait {
    struct upstream_pool *pool;
    struct upstream_wait *next;
    struct upstream_call *uc;
    struct upstream_set *set;
    struct buf frame; /* the encoded call */
};

/* One NameNode address, all users: the bound, the backoff, the waiters. */
struct upstream_nn {
    struct upstream_nn *next; /* hash chain in the pool */
    char addr[128];
    int nsets;                /* sets pointing here */
    int nconns;               /* open connections of all its sets */
    bool down;                /* backed off */
    bool probing;             /* a probe connection is out */
    double backoff, retry_at; /* seconds; ev_now() time */
    struct upstream_conn *idle_head, *idle_tail;
    struct upstream_wait *wait_head, *wait_tail;
    int nwait;
};

struct upstream_set {
    struct upstream_set *next; /* hash chain in the pool */
    char addr[128];
    char user[256];
    char principal[256]; /* NameNode principal (nn/_HOST@R); "": SIMPLE */
    struct sockaddr_storage sa;
    socklen_t salen; /* 0: not resolved (yet) */
    bool resolving;  /* rq is with the resolver thread */
    struct fr_resolve_req rq;
    int nconns;
    struct upstream_conn *conns; /* while resolving: CONNECTING ones without a socket */
    struct upstream_nn *nn;
    int nwait;  /* its calls in nn's wait list */
    bool swept; /* on the pool's list of sets to look at */
    struct upstream_set *sweep_next;
};

/* The figures upstream_pool_stats() reads are written by the pool's worker
 * and read by the admin thread: both sides use __atomic builtins. */
struct upstream_pool {
    struct ev_loop *loop;
    struct upstream_limits lim;
    struct conn_counts *counts; /* the worker's NameNode socket gauges; may be NULL */
    struct upstream_set *sets[UP_SETS];
    struct upstream_nn *nns[UP_NNS];
    struct upstream_set *sweep; /* sets that may be empty now */
    ev_timer tick;              /* runs the waiters and the sweep from the loop */
    bool tick_on;
    uint64_t conns, in_flight, connects, connect_failures;
    uint64_t by_state[UPSTREAM_CONN_NSTATES]; /* open connections per state (CLOSED: never counted) */
    uint64_t nsets, waiting, queued, reaped, backoff_failures, ndown;
    uint8_t router_client_id[IPC_CLIENT_ID_LEN];
    struct fr_inbox resolved; /* answers of the resolver thread */
    bool closing;
};

/* The router's Kerberos login (main sets it before any pool runs; read-only
 * after). NULL: no login, so connections to a kerberized NameNode fail. */
static struct auth_login *up_login;

void upstream_set_login(struct auth_login *login) { up_login = login; }

static inline void stat_add(uint64_t *v, int64_t d) { __atomic_fetch_add(v, (uint64_t)d, __ATOMIC_RELAXED); }

/* The allowed moves: row = from, column = to. */
static const bool conn_moves[UPSTREAM_CONN_NSTATES][UPSTREAM_CONN_NSTATES] = {
    [UPSTREAM_CONN_CONNECTING] = { [UPSTREAM_CONN_HANDSHAKE] = true, [UPSTREAM_CONN_CLOSED] = true },
    [UPSTREAM_CONN_HANDSHAKE] = { [UPSTREAM_CONN_READY] = true, [UPSTREAM_CONN_CLOSED] = true },
    [UPSTREAM_CONN_READY] = { [UPSTREAM_CONN_CLOSED] = true },
};

static const char *const conn_state_names[UPSTREAM_CONN_NSTATES] = {
    [UPSTREAM_CONN_CONNECTING] = "connecting",
    [UPSTREAM_CONN_HANDSHAKE] = "handshake",
    [UPSTREAM_CONN_READY] = "ready",
    [UPSTREAM_CONN_CLOSED] = "closed",
};

bool upstream_conn_move_ok(enum upstream_conn_state from, enum upstream_conn_state to)
{
    return (unsigned)from < UPSTREAM_CONN_NSTATES && (unsigned)to < UPSTREAM_CONN_NSTATES && conn_moves[from][to];
}

const char *upstream_conn_state_name(enum upstream_conn_state s)
{
    return (unsigned)s < UPSTREAM_CONN_NSTATES ? conn_state_names[s] : "?";
}

static uint32_t hash_str2(const char *a, const char *b)
{
    uint32_t h = 2166136261u;
    for (; *a; a++)
        h = (h ^ (uint8_t)*a) * 16777619u;
    h = (h ^ 0xff) * 16777619u;
    for (; *b; b++)
        h = (h ^ (uint8_t)*b) * 16777619u;
    return h;
}

static uint32_t call_bucket(const uint8_t *cid, size_t cidlen, int32_t call_id)
{
    uint32_t h = (uint32_t)call_id * 2654435761u;
    for (size_t i = 0; i < cidlen; i++)
        h = (h ^ cid[i]) * 16777619u;
    return h % UP_BUCKETS;
}

static void on_resolved(struct fr_inbox_node *node, void *arg);
static void on_tick(struct ev_loop *loop, ev_timer *w, int revents);

struct upstream_pool *upstream_pool_new(struct ev_loop *loop, const struct upstream_limits *lim,
                                        struct conn_counts *counts)
{
    struct upstream_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->loop = loop;
    p->lim = *lim;
    p->counts = counts;
    if (p->lim.max_conns_per_key < 1)
        p->lim.max_conns_per_key = 1;
    if (p->lim.calls_per_conn < 1)
        p->lim.calls_per_conn = 1;
    if (!p->lim.max_frame)
        p->lim.max_frame = IPC_MAX_FRAME_DEFAULT;
    if (p->lim.max_conns_per_nn < 0)
        p->lim.max_conns_per_nn = 0;
    if (p->lim.backoff_min <= 0)
        p->lim.backoff_min = UP_BACKOFF_MIN;
    if (p->lim.backoff_max < p->lim.backoff_min)
        p->lim.backoff_max = p->lim.backoff_min > UP_BACKOFF_MAX ? p->lim.backoff_min : UP_BACKOFF_MAX;
    ev_timer_init(&p->tick, on_tick, 0, 0);
    ipc_new_client_id(p->router_client_id);
    fr_inbox_init(&p->resolved, loop, on_resolved, p);
    /* Waiting for an answer must not keep the loop alive by itself: a call
     * that waits has its own timers. */
    ev_unref(loop);
    return p;
}

static void up_fail(struct upstream_conn *c, const char *why);
static void up_fail_ex(struct upstream_conn *c, const char *why, const char *cls, const char *msg);

/*
 * Moves c to state `to`, keeping the pool's per-state counts. A move the
 * table does not allow is a bug: debug builds stop on the assert; release
 * builds log it and close the connection (its calls fail with UP_EDOWN).
 * Returns false then, and the caller must stop what it was doing with c
 * (which may be freed if the caller holds no reference on it).
 */
static bool up_move(struct upstream_conn *c, enum upstream_conn_state to)
{
    enum upstream_conn_state from = c->state;
    if (!upstream_conn_move_ok(from, to)) {
        assert(!"impossible upstream connection state change");
        FR_LOG_EVERY(10, 1000, FR_LOG_ERROR, NULL, "upstream %s (user %s): closing: impossible state change %s -> %s",
                     c->set->addr, c->set->user, upstream_conn_state_name(from), upstream_conn_state_name(to));
        if (from != UPSTREAM_CONN_CLOSED)
            up_fail(c, NULL);
        return false;
    }
    if (from != UPSTREAM_CONN_CLOSED)
        stat_add(&c->pool->by_state[from], -1);
    if (to != UPSTREAM_CONN_CLOSED)
        stat_add(&c->pool->by_state[to], 1);
    c->state = to;
    return true;
}

/* Runs on_tick from the loop, soon: waiting calls are placed and empty sets
 * freed there, never from inside a callback that may hold them. */
static void pool_tick(struct upstream_pool *p)
{
    if (p->tick_on || p->closing)
        return;
    p->tick_on = true;
    ev_timer_set(&p->tick, 0, 0);
    ev_timer_start(p->loop, &p->tick);
}

/* The NameNode's idle list, least recently idle first: where a user
 * without a connection takes one from when the bound is reached. */
static void idle_add(struct upstream_conn *c)
{
    struct upstream_nn *nn = c->set->nn;
    if (c->idle)
        return;
    c->idle = true;
    c->inext = NULL;
    c->iprev = nn->idle_tail;
    if (nn->idle_tail)
        nn->idle_tail->inext = c;
    else
        nn->idle_head = c;
    nn->idle_tail = c;
}

static void idle_del(struct upstream_conn *c)
{
    struct upstream_nn *nn = c->set->nn;
    if (!c->idle)
        return;
    c->idle = false;
    if (c->iprev)
        c->iprev->inext = c->inext;
    else
        nn->idle_head = c->inext;
    if (c->inext)
        c->inext->iprev = c->iprev;
    else
        nn->idle_tail = c->iprev;
    c->iprev = c->inext = NULL;
}

/* A set with no connection, no waiting call and no lookup out is freed on
 * the next tick (unless it is used again by then). */
static void set_check(struct upstream_pool *p, struct upstream_set *s)
{
    if (s->nconns || s->nwait || s->resolving || s->swept)
        return;
    s->swept = true;
    s->sweep_next = p->sweep;
    p->sweep = s;
    pool_tick(p);
}

/* A connection to nn failed before the NameNode ever answered on it: the
 * address is backed off (see upstream.h). */
static void nn_failed(struct upstream_pool *p, struct upstream_nn *nn, const char *why)
{
    if (!nn->down) {
        nn->down = true;
        nn->backoff = p->lim.backoff_min;
        stat_add(&p->ndown, 1);
        FR_LOG_EVERY(5, 1000, FR_LOG_WARN, NULL,
                     "NameNode %s is down (%s): calls that need a new connection to it fail at once, and it is "
                     "tried again after %.0f ms, then at intervals doubling up to %.0f ms until it answers",
                     nn->addr, why, nn->backoff * 1000, p->lim.backoff_max * 1000);
    } else {
        nn->backoff = nn->backoff * 2 < p->lim.backoff_max ? nn->backoff * 2 : p->lim.backoff_max;
        fr_debug("NameNode %s still down (%s): next try in %.0f ms", nn->addr, why, nn->backoff * 1000);
    }
    nn->retry_at = ev_now(p->loop) + nn->backoff;
}

/* The NameNode answered on a connection: the backoff is over. */
static void nn_answered(struct upstream_pool *p, struct upstream_nn *nn)
{
    if (!nn->down)
        return;
    nn->down = false;
    nn->backoff = 0;
    stat_add(&p->ndown, -1);
    FR_LOG_EVERY(5, 1000, FR_LOG_INFO, NULL, "NameNode %s answers again", nn->addr);
}

/* A READY connection with no call in flight closes after idle_timeout. */
static void up_arm_idle(struct upstream_conn *c)
{
    ev_timer_stop(c->pool->loop, &c->timer);
    ev_timer_set(&c->timer, c->pool->lim.idle_timeout, 0);
    ev_timer_start(c->pool->loop, &c->timer);
    idle_add(c);
    if (c->set->nn->nwait)
        pool_tick(c->pool); /* a waiting call of another user may take its place */
}

static void call_unlink(struct upstream_call *uc)
{
    struct upstream_conn *c = uc->conn;
    if (!c)
        return;
    struct upstream_call **pp = &c->calls[call_bucket(uc->client_id, uc->client_id_len, uc->call_id)];
    while (*pp && *pp != uc)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = uc->hnext;
    uc->hnext = NULL;
    ev_timer_stop(c->pool->loop, &uc->tmo);
    uc->conn = NULL;
    c->in_flight--;
    stat_add(&c->pool->in_flight, -1);
    /* Before READY the timer bounds the connect and handshake: leave it. */
    if (c->in_flight == 0 && c->state == UPSTREAM_CONN_READY)
        up_arm_idle(c);
}

/*
 * Closes a connection: every call in flight or queued completes with
 * UP_EDOWN. why == NULL closes quietly (idle, shutdown). c may be freed
 * when this returns, unless the caller holds a reference on c->conn (the
 * conn's own callbacks do).
 */
static void up_fail(struct upstream_conn *c, const char *why) { up_fail_ex(c, why, NULL, NULL); }

/* Completes a call with an ERROR reply carrying a Java exception, as if the
 * NameNode had answered it so: the client sees what refused it. */
static void call_refuse(struct upstream_call *uc, const char *cls, const char *msg)
{
    struct buf b = { 0 };
    const struct ipc_ids ids = { uc->call_id, -1, uc->client_id, uc->client_id_len };
    const uint8_t *body;
    uint32_t blen;
    size_t flen;
    struct ipc_reply r;
    if (ipc_write_error(&b, &ids, IPC_ERROR, IPC_ERR_APPLICATION, cls, msg) != IPC_OK ||
        ipc_frame_cut(buf_rptr(&b), buf_len(&b), UINT32_MAX, &body, &blen, &flen) != IPC_OK ||
        ipc_parse_reply(body, blen, &r) != IPC_OK)
        uc->done(uc, UP_EDOWN, NULL, NULL, 0);
    else
        uc->done(uc, UP_OK, &r, body, blen);
    buf_free(&b);
}

/* up_fail; with cls, every call completes with that exception and msg
 * instead of UP_EDOWN (authentication refused: another NameNode of the
 * nameservice would refuse it too). */
static void up_fail_ex(struct upstream_conn *c, const char *why, const char *cls, const char *msg)
{
    if (c->state == UPSTREAM_CONN_CLOSED)
        return;
    struct upstream_pool *p = c->pool;
    struct upstream_set *s = c->set;
    struct upstream_nn *nn = s->nn;
    bool sock = c->has_sock;
    /* Failed before the NameNode answered anything with calls waiting for
     * it: refused, timed out, hung up or garbled at once. Such failures back
     * the address off and are logged there, once per outage. */
    bool early = why && sock && !c->answered &&
                 (c->state != UPSTREAM_CONN_READY || c->in_flight > 0 || buf_len(&c->pending) > 0);
    if (sock)
        conn_ref(&c->conn); /* c lives until the calls' callbacks are over */
    idle_del(c);
    up_move(c, UPSTREAM_CONN_CLOSED); /* allowed from every open state */
    nn->nconns--;
    if (c->probe) {
        c->probe = false;
        nn->probing = false;
    }
    if (early)
        nn_failed(p, nn, why);
    ev_timer_stop(p->loop, &c->timer);
    buf_free(&c->pending);
    /* Out of the set first, so that callbacks that resend pick another conn. */
    struct upstream_conn **pp = &c->set->conns;
    while (*pp && *pp != c)
        pp = &(*pp)->next;
    if (*pp)
        *pp = c->next;
    c->set->nconns--;
    stat_add(&p->conns, -1);
    /* Detach every pending call, then complete them. */
    struct upstream_call *list = NULL;
    for (int b = 0; b < UP_BUCKETS; b++) {
        while (c->calls[b]) {
            struct upstream_call *uc = c->calls[b];
            c->calls[b] = uc->hnext;
            ev_timer_stop(p->loop, &uc->tmo);
            uc->conn = NULL;
            uc->hnext = list;
            list = uc;
            stat_add(&p->in_flight, -1);
        }
    }
    c->in_flight = 0;
    if (why && !early)
        FR_LOG_EVERY(10, 1000, FR_LOG_WARN, NULL, "upstream %s (user %s): %s", c->set->addr, c->set->user, why);
    set_check(p, s);
    if (nn->nwait)
        pool_tick(p); /* room for a waiting call */
    /* From inside the conn's on_close this returns at once. The conn keeps
     * its reason past this call, so it gets a string that lives for good
     * (why may be on the caller's stack; it was logged above). */
    if (sock)
        conn_close(&c->conn, why ? "NameNode connection failed" : NULL);
    while (list) {
        struct upstream_call *uc = list;
        list = uc->hnext;
        uc->hnext = NULL;
        if (cls)
            call_refuse(uc, cls, msg);
        else
            uc->done(uc, UP_EDOWN, NULL, NULL, 0);
    }
    if (sock) {
        conn_unref(&c->conn);
    } else {
        auth_ipc_client_free(c->sasl);
        free(c); /* nothing else points at a connection that never had a socket */
    }
}

/* The NameNode answered something on c: it is up. */
static void mark_answered(struct upstream_conn *c)
{
    if (!c->answered) {
        c->answered = true;
        if (c->probe) {
            c->probe = false;
            c->set->nn->probing = false;
        }
        nn_answered(c->pool, c->set->nn);
    }
}

static void handle_reply(struct upstream_conn *c, const uint8_t *body, size_t len)
{
    struct ipc_reply r;
    if (ipc_parse_reply(body, len, &r) != IPC_OK) {
        up_fail(c, "malformed reply from the NameNode");
        return;
    }
    mark_answered(c);
    if (r.status == IPC_FATAL || r.call_id < 0) {
        char cls[128], msg[256];
        ipc_span_copy(r.exception_class, cls, sizeof cls);
        ipc_span_copy(r.error_msg, msg, sizeof msg);
        char why[420];
        snprintf(why, sizeof why, "fatal reply: %s: %s", cls, msg);
        /* On a Kerberos connection a FATAL here is the NameNode refusing
         * the context (the router may not act for this user): the calls
         * get its exception, as a client talking to it would. */
        if (c->sasl && r.status == IPC_FATAL && cls[0])
            up_fail_ex(c, why, cls, msg);
        else
            up_fail(c, why);
        return;
    }
    uint32_t b = call_bucket(r.client_id.p, r.client_id.len, r.call_id);
    struct upstream_call *uc = c->calls[b];
    while (uc && !(uc->call_id == r.call_id && uc->client_id_len == r.client_id.len &&
                   memcmp(uc->client_id, r.client_id.p, r.client_id.len) == 0))
        uc = uc->hnext;
    if (!uc)
        return; /* timed out or cancelled: drop */
    call_unlink(uc);
    uc->done(uc, UP_OK, &r, body, len);
}

static void up_ready(struct upstream_conn *c);

/* The connection context, once the NameNode knows who we are. With
 * Kerberos, Hadoop's client sends the effective user only (the real user is
 * the authenticated principal): the end user, or the login's own principal
 * when the call is the router's own. */
static int write_context(struct upstream_conn *c)
{
    const char *user = c->set->user;
    if (c->sasl && up_login && !strcmp(user, auth_login_user(up_login)))
        user = auth_login_principal(up_login);
    return ipc_write_context(conn_out(&c->conn), c->pool->router_client_id, user, NULL, IPC_CLIENT_PROTOCOL) ==
                       IPC_OK &&
                   conn_out_end(&c->conn) == 0
               ? 0
               : -1;
}

/* A NameNode that negotiated integrity or privacy wraps every reply: from
 * then on the connection's input is read through the SASL layer (large
 * replies unwrapped on the crypto threads); requests go plain. -1 when out
 * of memory or the bytes already waiting do not unwrap. */
static int start_layer(struct upstream_conn *c, unsigned ssf)
{
    const struct fr_log_who who = { .worker = -1, .peer = c->set->addr };
    return sasl_layer_install(&c->conn, SASL_LAYER_CLIENT, auth_ipc_client_layer(c->sasl), ssf, c->pool->lim.max_frame,
                              &who);
}

/* One frame of the SASL exchange with a kerberized NameNode. */
static void sasl_frame(struct upstream_conn *c, const uint8_t *body, size_t len)
{
    const char *cls = NULL;
    char why[512], msg[800];
    struct buf *out = conn_out(&c->conn);
    size_t before = buf_len(out);
    mark_answered(c);
    switch (auth_ipc_client_frame(c->sasl, body, len, out, &cls, why, sizeof why)) {
    case AUTH_IPC_CONTINUE:
        if (buf_len(out) > before && conn_out_end(&c->conn) < 0)
            up_fail(c, "out of memory");
        return;
    case AUTH_IPC_DONE: {
        auth_stats_upstream(true);
        /* Integrity or privacy: the NameNode wraps every reply from now on. */
        unsigned ssf = auth_ipc_client_ssf(c->sasl);
        if (ssf > 0 && start_layer(c, ssf) < 0) {
            if (!conn_closed(&c->conn))
                up_fail(c, "cannot start the SASL layer");
            return;
        }
        if (write_context(c) < 0) {
            up_fail(c, "out of memory");
            return;
        }
        up_ready(c);
        return;
    }
    case AUTH_IPC_REFUSED:
        auth_stats_upstream(false);
        snprintf(msg, sizeof msg, "Kerberos handshake refused: %s: %s", cls, why);
        up_fail_ex(c, msg, cls, why);
        return;
    default:
        auth_stats_upstream(false);
        snprintf(msg, sizeof msg, "Kerberos handshake with %s failed: %s", c->set->addr, why);
        up_fail_ex(c, msg, cls, msg);
        return;
    }
}

/* conn callback: reply frames are in. The conn holds a reference on itself
 * while this runs, so c stays valid whatever done() does. */
static void on_input(struct conn *cn)
{
    struct upstream_conn *c = cn->owner;
    struct buf *in = conn_in(cn);
    while (c->state != UPSTREAM_CONN_CLOSED) {
        const uint8_t *body;
        uint32_t blen;
        size_t flen;
        int rc = ipc_frame_cut(buf_rptr(in), buf_len(in), c->pool->lim.max_frame, &body, &blen, &flen);
        if (rc == IPC_AGAIN)
            break;
        if (rc != IPC_OK) {
            up_fail(c, "reply frame over the limit");
            break;
        }
        if (c->state == UPSTREAM_CONN_HANDSHAKE && c->sasl) {
            /* The SUCCESS frame goes before the layer starts: bytes after
             * it are read through the layer (conn_set_xprt decodes them). */
            buf_consume(in, flen);
            sasl_frame(c, body, blen);
            if (c->state == UPSTREAM_CONN_CLOSED || conn_closed(cn))
                break;
            in = conn_in(cn);
            continue;
        }
        if (c->state != UPSTREAM_CONN_READY) {
            /* SIMPLE auth expects nothing before READY. */
            up_fail(c, "frame from the NameNode before the handshake finished");
            break;
        }
        handle_reply(c, body, blen);
        if (c->state != UPSTREAM_CONN_CLOSED)
            buf_consume(in, flen);
    }
}

/* Appends the frame at f (flen bytes, as ipc_write_* made it) to the
 * output as one message. -1 when out of memory. */
static int out_frame(struct upstream_conn *c, const uint8_t *f, size_t flen)
{
    return buf_append(conn_out(&c->conn), f, flen) < 0 || conn_out_end(&c->conn) < 0 ? -1 : 0;
}

/*
 * The handshake is over: the calls queued while it ran go out first, in the
 * order they were sent, one message per frame, and later calls are written
 * as they come. The caller (a conn callback) flushes.
 */
static void up_ready(struct upstream_conn *c)
{
    if (!up_move(c, UPSTREAM_CONN_READY))
        return;
    ev_timer_stop(c->pool->loop, &c->timer); /* connect + handshake bound */
    const uint8_t *q = buf_rptr(&c->pending);
    size_t left = buf_len(&c->pending);
    while (left >= 4) {
        size_t flen = 4 + ((size_t)q[0] << 24 | (size_t)q[1] << 16 | (size_t)q[2] << 8 | q[3]);
        if (flen > left || out_frame(c, q, flen) < 0) {
            up_fail(c, flen > left ? "queued frames out of step" : "out of memory");
            return;
        }
        q += flen;
        left -= flen;
    }
    buf_free(&c->pending);
    if (c->in_flight == 0)
        up_arm_idle(c);
}

/*
 * conn callback: connected. The preamble names the auth method, the context
 * the user; both are written now, never before the connect is done. With
 * SIMPLE auth the NameNode answers neither, so the handshake ends as soon
 * as both are queued. A SASL exchange would instead write its first message
 * here, stay in HANDSHAKE while on_input takes the NameNode's answers, and
 * call up_ready() when the exchange succeeds. The conn flushes on return.
 */
static void on_connected(struct conn *cn)
{
    struct upstream_conn *c = cn->owner;
    if (!up_move(c, UPSTREAM_CONN_HANDSHAKE))
        return;
    struct buf *out = conn_out(cn);
    if (c->set->principal[0]) {
        /* A kerberized NameNode: preamble + NEGOTIATE now; on_input runs
         * the exchange and writes the context when it succeeds. */
        char why[512], host[256];
        if (net_host_of(c->set->addr, host, sizeof host) < 0) {
            snprintf(why, sizeof why, "NameNode address %s is too long", c->set->addr);
            up_fail_ex(c, why, JEXC_IO, why);
            return;
        }
        if (!up_login) {
            snprintf(why, sizeof why,
                     "NameNode %s needs Kerberos (principal %s) but the router has no Kerberos "
                     "login ([security] principal and keytab)",
                     c->set->addr, c->set->principal);
            up_fail_ex(c, why, JEXC_IO, why);
            return;
        }
        if (!(c->sasl = auth_ipc_client_new(up_login, c->set->principal, host, why, sizeof why))) {
            up_fail_ex(c, why, JEXC_IO, why);
            return;
        }
        if (auth_ipc_client_begin(c->sasl, out) < 0 || conn_out_end(cn) < 0)
            up_fail(c, "out of memory");
        return;
    }
    if (ipc_write_preamble(out, IPC_AUTH_NONE) != IPC_OK || conn_out_end(cn) < 0 ||
        ipc_write_context(out, c->pool->router_client_id, c->set->user, NULL, IPC_CLIENT_PROTOCOL) != IPC_OK ||
        conn_out_end(cn) < 0) {
        up_fail(c, "out of memory");
        return;
    }
    up_ready(c);
}

/* conn callback: the socket closed under us (connect refused, the NameNode
 * hung up, a write failed). A close this file asked for arrives here with
 * c already CLOSED. */
static void on_close(struct conn *cn, const char *reason)
{
    struct upstream_conn *c = cn->owner;
    if (c->state == UPSTREAM_CONN_CLOSED)
        return;
    if (c->state == UPSTREAM_CONN_CONNECTING)
        stat_add(&c->pool->connect_failures, 1);
    up_fail(c, reason ? reason : "connection closed by the NameNode");
}

/* conn callback: the last reference went. */
static void on_free(struct conn *cn)
{
    struct upstream_conn *c = cn->owner;
    auth_ipc_client_free(c->sasl);
    free(c);
}

static const struct conn_ops up_conn_ops = {
    .on_input = on_input,
    .on_connected = on_connected,
    .on_close = on_close,
    .on_free = on_free,
};

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct upstream_conn *c = w->data;
    if (c->state != UPSTREAM_CONN_READY) {
        stat_add(&c->pool->connect_failures, 1);
        up_fail(c, c->state != UPSTREAM_CONN_CONNECTING ? "handshake timed out"
                   : !c->has_sock                       ? "resolving the address timed out"
                                                        : "connect timed out");
    } else if (c->in_flight == 0) {
        up_fail(c, NULL); /* idle */
    }
}

/* Takes a waiting call out of its NameNode's list; the caller completes it
 * or places it. */
static void wait_remove(struct upstream_wait *w)
{
    struct upstream_nn *nn = w->set->nn;
    struct upstream_wait **pp = &nn->wait_head, *prev = NULL;
    while (*pp && *pp != w) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp) {
        *pp = w->next;
        if (nn->wait_tail == w)
            nn->wait_tail = prev;
    }
    w->next = NULL;
    nn->nwait--;
    w->set->nwait--;
    w->uc->wait = NULL;
}

static void wait_free(struct upstream_pool *p, struct upstream_wait *w)
{
    struct upstream_set *s = w->set;
    stat_add(&p->waiting, -1);
    buf_free(&w->frame);
    free(w);
    set_check(p, s);
}

static void on_call_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct upstream_call *uc = w->data;
    if (uc->wait) {
        /* Never sent: every connection stayed busy for the whole timeout. */
        struct upstream_wait *wt = uc->wait;
        struct upstream_pool *p = wt->pool;
        wait_remove(wt);
        wait_free(p, wt);
        uc->done(uc, UP_EBUSY, NULL, NULL, 0);
        return;
    }
    call_unlink(uc);
    uc->done(uc, UP_ETIMEOUT, NULL, NULL, 0);
}

/*
 * Looks the set's address up unless it is known or being looked up. A
 * literal IP or a cached answer is there at once; otherwise the resolver
 * thread answers through the pool's inbox (on_resolved) and calls sent
 * meanwhile wait in connections that have no socket yet. -1 (with why)
 * when the address is known not to resolve.
 */
static int set_resolve(struct upstream_pool *p, struct upstream_set *s, char *why, size_t whylen)
{
    if (s->salen || s->resolving)
        return 0;
    switch (fr_resolve_start(&s->rq, s->addr, &p->resolved)) {
    case FR_RESOLVE_DONE:
        s->sa = s->rq.sa;
        s->salen = s->rq.salen;
        return 0;
    case FR_RESOLVE_PENDING: s->resolving = true; return 0;
    default: snprintf(why, whylen, "cannot resolve NameNode address %s: %s", s->addr, s->rq.why); return -1;
    }
}

static struct upstream_nn *nn_get(struct upstream_pool *p, const char *addr)
{
    uint32_t h = hash_str2(addr, "") % UP_NNS;
    for (struct upstream_nn *nn = p->nns[h]; nn; nn = nn->next)
        if (strcmp(nn->addr, addr) == 0)
            return nn;
    struct upstream_nn *nn = calloc(1, sizeof *nn);
    if (!nn)
        return NULL;
    snprintf(nn->addr, sizeof nn->addr, "%s", addr);
    nn->next = p->nns[h];
    p->nns[h] = nn;
    return nn;
}

/* Frees nn once nothing uses it; one that is backed off is kept, so that its
 * backoff outlives its users (addresses come from the configuration). */
static void nn_maybe_free(struct upstream_pool *p, struct upstream_nn *nn)
{
    if (nn->nsets || nn->nconns || nn->nwait || nn->down)
        return;
    struct upstream_nn **pp = &p->nns[hash_str2(nn->addr, "") % UP_NNS];
    while (*pp && *pp != nn)
        pp = &(*pp)->next;
    if (*pp)
        *pp = nn->next;
    free(nn);
}

static struct upstream_set *set_get(struct upstream_pool *p, const char *addr, const char *principal, const char *user)
{
    if (!principal)
        principal = "";
    if (strlen(addr) >= sizeof(((struct upstream_set *)0)->addr) || strlen(user) >= 256 || strlen(principal) >= 256)
        return NULL;
    uint32_t h = hash_str2(addr, user) % UP_SETS;
    for (struct upstream_set *s = p->sets[h]; s; s = s->next)
        if (strcmp(s->addr, addr) == 0 && strcmp(s->user, user) == 0 && strcmp(s->principal, principal) == 0)
            return s;
    struct upstream_nn *nn = nn_get(p, addr);
    struct upstream_set *s = nn ? calloc(1, sizeof *s) : NULL;
    if (!s)
        return NULL;
    snprintf(s->addr, sizeof s->addr, "%s", addr);
    snprintf(s->user, sizeof s->user, "%s", user);
    snprintf(s->principal, sizeof s->principal, "%s", principal);
    s->nn = nn;
    nn->nsets++;
    stat_add(&p->nsets, 1);
    s->next = p->sets[h];
    p->sets[h] = s;
    return s;
}

static void set_free(struct upstream_pool *p, struct upstream_set *s)
{
    struct upstream_set **pp = &p->sets[hash_str2(s->addr, s->user) % UP_SETS];
    while (*pp && *pp != s)
        pp = &(*pp)->next;
    if (*pp)
        *pp = s->next;
    struct upstream_nn *nn = s->nn;
    nn->nsets--;
    stat_add(&p->nsets, -1);
    free(s);
    nn_maybe_free(p, nn);
}

/* Starts the non-blocking connect of a connection whose address is known;
 * from here on the conn layer reports back (on_connected or on_close). */
static int up_connect(struct upstream_conn *c, char *why, size_t whylen)
{
    struct upstream_pool *p = c->pool;
    struct upstream_set *s = c->set;
    stat_add(&p->connects, 1);
    int rc = conn_connect(&c->conn, p->loop, (const struct sockaddr *)&s->sa, s->salen, &up_conn_ops, c, p->counts);
    if (rc < 0) {
        snprintf(why, whylen, "connect %s: %s", s->addr, strerror(-rc));
        stat_add(&p->connect_failures, 1);
        /* Out of descriptors or memory says nothing about the NameNode. */
        if (rc != -EMFILE && rc != -ENFILE && rc != -ENOMEM && rc != -ENOBUFS)
            nn_failed(p, s->nn, strerror(-rc));
        return -1;
    }
    c->has_sock = true;
    return 0;
}

/*
 * The resolver answered for a set. Its socketless connections connect now,
 * or fail (their calls with UP_EDOWN, so HA moves on to the next NameNode).
 */
static void on_resolved(struct fr_inbox_node *node, void *arg)
{
    struct upstream_pool *p = arg;
    struct upstream_set *s = (struct upstream_set *)((char *)node - offsetof(struct upstream_set, rq.node));
    s->resolving = false;
    if (p->closing)
        return;
    bool ok = s->rq.status == FR_RESOLVE_DONE;
    if (ok) {
        s->sa = s->rq.sa;
        s->salen = s->rq.salen;
    }
    char why[sizeof s->addr + sizeof s->rq.why + 64];
    snprintf(why, sizeof why, "cannot resolve NameNode address %s: %s", s->addr, s->rq.why);
    /* Failing a connection runs callbacks that may send again and change
     * the list, so look for the next waiting one from the start each time;
     * a connection that got its socket is no longer waiting. */
    for (;;) {
        struct upstream_conn *c = s->conns;
        while (c && !(c->state == UPSTREAM_CONN_CONNECTING && !c->has_sock))
            c = c->next;
        if (!c)
            break;
        if (!ok || up_connect(c, why, sizeof why) < 0)
            up_fail(c, why); /* frees c */
    }
    set_check(p, s);
}

/* A new connection to the set; until the address is resolved it has no
 * socket and its calls wait in `pending`, bounded by the connect timeout. */
static struct upstream_conn *up_open(struct upstream_pool *p, struct upstream_set *s, char *why, size_t whylen)
{
    struct upstream_conn *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    c->pool = p;
    c->set = s;
    ev_timer_init(&c->timer, on_timer, p->lim.connect_timeout, 0);
    c->timer.data = c;
    if (!s->resolving && up_connect(c, why, whylen) < 0) {
        free(c); /* conn_connect started nothing */
        return NULL;
    }
    c->state = UPSTREAM_CONN_CONNECTING; /* the first state: not a move */
    stat_add(&p->by_state[UPSTREAM_CONN_CONNECTING], 1);
    ev_timer_start(p->loop, &c->timer);
    c->next = s->conns;
    s->conns = c;
    s->nconns++;
    s->nn->nconns++;
    stat_add(&p->conns, 1);
    return c;
}

/* Is a call with the ids of `call` in flight on c? */
static bool up_has_call(const struct upstream_conn *c, const struct upstream_call *call)
{
    for (const struct upstream_call *uc = c->calls[call_bucket(call->client_id, call->client_id_len, call->call_id)];
         uc; uc = uc->hnext)
        if (uc->call_id == call->call_id && uc->client_id_len == call->client_id_len &&
            memcmp(uc->client_id, call->client_id, call->client_id_len) == 0)
            return true;
    return false;
}

/*
 * The connection a call of set s goes on (its ids are in uc), opening one,
 * or closing another user's idle one to make room, as the bounds allow.
 * NULL with *wait set: every connection to the NameNode is busy, the call
 * must wait. NULL otherwise: it fails now, why says why.
 */
static struct upstream_conn *up_pick(struct upstream_pool *p, struct upstream_set *s, const struct upstream_call *uc,
                                     bool *wait, char *why, size_t whylen)
{
    /* The least busy connection; a new one when all are busy and we may.
     * Replies are matched by (client id, call id): a connection where those
     * ids are already in flight (a client's retry while its first try is
     * still out) cannot take the call, or the two answers could swap. */
    struct upstream_conn *best = NULL;
    bool clash = false;
    *wait = false;
    for (struct upstream_conn *c = s->conns; c; c = c->next) {
        if (c->state == UPSTREAM_CONN_CLOSED)
            continue;
        if (up_has_call(c, uc)) {
            clash = true;
            continue;
        }
        if (!best || c->in_flight < best->in_flight)
            best = c;
    }
    if (!best && clash && s->nconns >= p->lim.max_conns_per_key) {
        snprintf(why, whylen, "call %d of this client is still in flight to %s", uc->call_id, s->addr);
        return NULL;
    }
    if (best && (best->in_flight < (uint32_t)p->lim.calls_per_conn || s->nconns >= p->lim.max_conns_per_key))
        return best;
    struct upstream_nn *nn = s->nn;
    if (nn->down) {
        /* Backed off: one probe connect once the interval is over; calls
         * meanwhile use what is open, or fail at once. */
        if (!nn->probing && ev_now(p->loop) >= nn->retry_at) {
            struct upstream_conn *c = up_open(p, s, why, whylen);
            if (c && c->state != UPSTREAM_CONN_CLOSED) {
                c->probe = true;
                nn->probing = true;
                return c;
            }
        } else {
            snprintf(why, whylen, "NameNode %s is down; tried again in %.0f ms", s->addr,
                     nn->probing ? 0.0 : (nn->retry_at - ev_now(p->loop)) * 1000);
        }
        if (!best)
            stat_add(&p->backoff_failures, 1);
        return best;
    }
    if (p->lim.max_conns_per_nn > 0 && nn->nconns >= p->lim.max_conns_per_nn) {
        if (!nn->idle_head) {
            *wait = !best;
            return best;
        }
        /* The least recently idle connection of another user gives way
         * (an idle one of this set would have been `best`). */
        stat_add(&p->reaped, 1);
        up_fail(nn->idle_head, NULL);
    }
    struct upstream_conn *c = up_open(p, s, why, whylen);
    return c ? c : best;
}

/* Puts call uc, whose frame is already in c's queue, in c's table. */
static void up_attach(struct upstream_pool *p, struct upstream_conn *c, struct upstream_call *uc)
{
    uc->conn = c;
    uint32_t b = call_bucket(uc->client_id, uc->client_id_len, uc->call_id);
    uc->hnext = c->calls[b];
    c->calls[b] = uc;
    c->in_flight++;
    stat_add(&p->in_flight, 1);
    if (c->state == UPSTREAM_CONN_READY) {
        ev_timer_stop(p->loop, &c->timer); /* no longer idle */
        idle_del(c);
        /* The write goes out from the loop, later in this same iteration:
         * the frames of every call sent meanwhile (the worker sends one per
         * client frame read in one go) leave in one write, and a failing
         * write fails the calls from the loop, never from in here. */
        conn_kick(&c->conn);
    }
}

/* The waiting calls of nn, in order, while connections can be had. */
static void nn_drain(struct upstream_pool *p, struct upstream_nn *nn)
{
    while (nn->wait_head) {
        struct upstream_wait *w = nn->wait_head;
        struct upstream_call *uc = w->uc;
        char why[256] = "";
        bool wait;
        struct upstream_conn *c = up_pick(p, w->set, uc, &wait, why, sizeof why);
        if (!c && wait)
            return;
        wait_remove(w);
        if (c) {
            bool ready = c->state == UPSTREAM_CONN_READY;
            struct buf *q = ready ? conn_out(&c->conn) : &c->pending;
            size_t mark = buf_len(q);
            if (buf_append(q, buf_rptr(&w->frame), buf_len(&w->frame)) < 0 || (ready && conn_out_end(&c->conn) < 0)) {
                q->wpos = q->rpos + mark;
                c = NULL;
            }
        }
        wait_free(p, w);
        if (!c) {
            ev_timer_stop(p->loop, &uc->tmo);
            uc->done(uc, UP_EDOWN, NULL, NULL, 0); /* may send again: the loop looks from the start */
            continue;
        }
        up_attach(p, c, uc);
    }
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct upstream_pool *p = (struct upstream_pool *)((char *)w - offsetof(struct upstream_pool, tick));
    p->tick_on = false;
    for (int h = 0; h < UP_NNS; h++)
        for (struct upstream_nn *nn = p->nns[h]; nn; nn = nn->next)
            if (nn->wait_head)
                nn_drain(p, nn);
    while (p->sweep) {
        struct upstream_set *s = p->sweep;
        p->sweep = s->sweep_next;
        s->swept = false;
        if (!s->nconns && !s->nwait && !s->resolving)
            set_free(p, s);
    }
}

int upstream_send(struct upstream_pool *p, const char *addr, const char *user, const struct ipc_ids *ids,
                  const char *method, const uint8_t *param, size_t param_len, struct upstream_call *uc, char *why,
                  size_t whylen)
{
    return upstream_send_proto(p, addr, user, ids, IPC_CLIENT_PROTOCOL, method, param, param_len, uc, why, whylen);
}

int upstream_send_proto(struct upstream_pool *p, const char *addr, const char *user, const struct ipc_ids *ids,
                        const char *protocol, const char *method, const uint8_t *param, size_t param_len,
                        struct upstream_call *uc, char *why, size_t whylen)
{
    const struct upstream_target t = { addr, NULL };
    return upstream_send_to(p, &t, user, ids, protocol, method, param, param_len, uc, why, whylen);
}

int upstream_send_to(struct upstream_pool *p, const struct upstream_target *t, const char *user,
                     const struct ipc_ids *ids, const char *protocol, const char *method, const uint8_t *param,
                     size_t param_len, struct upstream_call *uc, char *why, size_t whylen)
{
    const char *addr = t->addr;
    if (ids->client_id_len > IPC_CLIENT_ID_LEN || ids->call_id < 0) {
        snprintf(why, whylen, "bad call ids");
        return -1;
    }
    struct upstream_set *s = set_get(p, addr, t->principal, user);
    if (!s) {
        snprintf(why, whylen, "bad NameNode address %s, or out of memory", addr);
        return -1;
    }
    if (set_resolve(p, s, why, whylen) < 0) {
        set_check(p, s);
        return -1;
    }
    memcpy(uc->client_id, ids->client_id, ids->client_id_len);
    uc->client_id_len = (uint8_t)ids->client_id_len;
    uc->call_id = ids->call_id;
    uc->conn = NULL;
    uc->wait = NULL;
    uc->hnext = NULL;
    bool wait;
    struct upstream_conn *c = up_pick(p, s, uc, &wait, why, whylen);
    if (!c && !wait) {
        set_check(p, s);
        return -1;
    }
    ev_timer_init(&uc->tmo, on_call_timeout, p->lim.call_timeout, 0);
    uc->tmo.data = uc;
    if (!c) {
        /* Every connection to the NameNode is busy: wait for one, in order,
         * for at most the call timeout. */
        struct upstream_nn *nn = s->nn;
        struct upstream_wait *w = nn->nwait < UP_MAX_WAITING ? calloc(1, sizeof *w) : NULL;
        if (!w || ipc_write_call_raw(&w->frame, ids, method, protocol, param, param_len) != IPC_OK) {
            if (w)
                buf_free(&w->frame);
            free(w);
            snprintf(why, whylen, "%s calls already wait for a connection to NameNode %s",
                     nn->nwait < UP_MAX_WAITING ? "out of memory, or too many" : "too many", addr);
            set_check(p, s);
            return -1;
        }
        w->pool = p;
        w->uc = uc;
        w->set = s;
        if (nn->wait_tail)
            nn->wait_tail->next = w;
        else
            nn->wait_head = w;
        nn->wait_tail = w;
        nn->nwait++;
        s->nwait++;
        uc->wait = w;
        stat_add(&p->waiting, 1);
        stat_add(&p->queued, 1);
        ev_timer_start(p->loop, &uc->tmo);
        return 0;
    }
    /* Until READY the frame waits in the queue; the socket is not ours yet. */
    bool ready = c->state == UPSTREAM_CONN_READY;
    struct buf *q = ready ? conn_out(&c->conn) : &c->pending;
    size_t mark = buf_len(q);
    if (ipc_write_call_raw(q, ids, method, protocol, param, param_len) != IPC_OK ||
        (ready && conn_out_end(&c->conn) < 0)) {
        q->wpos = q->rpos + mark; /* no half frame left behind */
        snprintf(why, whylen, "cannot encode the call");
        return -1;
    }
    ev_timer_start(p->loop, &uc->tmo);
    up_attach(p, c, uc);
    return 0;
}

void upstream_cancel(struct upstream_call *uc)
{
    if (uc->wait) {
        struct upstream_wait *w = uc->wait;
        struct upstream_pool *p = w->pool;
        ev_timer_stop(p->loop, &uc->tmo);
        wait_remove(w);
        wait_free(p, w);
        return;
    }
    call_unlink(uc);
}

int upstream_max_attempts(const struct upstream_pool *p) { return p->lim.max_attempts; }

void upstream_pool_stats(const struct upstream_pool *p, struct upstream_stats *st)
{
    st->conns = __atomic_load_n(&p->conns, __ATOMIC_RELAXED);
    st->in_flight = __atomic_load_n(&p->in_flight, __ATOMIC_RELAXED);
    st->connects = __atomic_load_n(&p->connects, __ATOMIC_RELAXED);
    st->connect_failures = __atomic_load_n(&p->connect_failures, __ATOMIC_RELAXED);
    for (int k = 0; k < UPSTREAM_CONN_NSTATES; k++)
        st->by_state[k] = __atomic_load_n(&p->by_state[k], __ATOMIC_RELAXED);
    st->sets = __atomic_load_n(&p->nsets, __ATOMIC_RELAXED);
    st->waiting = __atomic_load_n(&p->waiting, __ATOMIC_RELAXED);
    st->queued = __atomic_load_n(&p->queued, __ATOMIC_RELAXED);
    st->reaped = __atomic_load_n(&p->reaped, __ATOMIC_RELAXED);
    st->backoff_failures = __atomic_load_n(&p->backoff_failures, __ATOMIC_RELAXED);
    st->down = __atomic_load_n(&p->ndown, __ATOMIC_RELAXED);
}

void upstream_pool_free(struct upstream_pool *p)
{
    if (!p)
        return;
    /* Withdraw the lookups still out; answers already pushed are drained
     * (and ignored) by the stop, after which no thread touches the pool. */
    p->closing = true;
    for (int h = 0; h < UP_SETS; h++)
        for (struct upstream_set *s = p->sets[h]; s; s = s->next)
            if (s->resolving && fr_resolve_cancel(&s->rq))
                s->resolving = false;
    ev_ref(p->loop); /* undo the unref of upstream_pool_new before the stop */
    fr_inbox_stop(&p->resolved);
    ev_timer_stop(p->loop, &p->tick);
    /* Calls waiting for a connection fail as queued calls do. */
    for (int h = 0; h < UP_NNS; h++) {
        for (struct upstream_nn *nn = p->nns[h]; nn; nn = nn->next) {
            while (nn->wait_head) {
                struct upstream_wait *w = nn->wait_head;
                struct upstream_call *uc = w->uc;
                ev_timer_stop(p->loop, &uc->tmo);
                wait_remove(w);
                wait_free(p, w);
                uc->done(uc, UP_EDOWN, NULL, NULL, 0);
            }
        }
    }
    /* Called from outside every callback of the pool: the last reference of
     * each connection goes with its close. */
    for (int h = 0; h < UP_SETS; h++) {
        while (p->sets[h]) {
            struct upstream_set *s = p->sets[h];
            while (s->conns)
                up_fail(s->conns, NULL);
            p->sets[h] = s->next;
            free(s);
        }
    }
    for (int h = 0; h < UP_NNS; h++) {
        while (p->nns[h]) {
            struct upstream_nn *nn = p->nns[h];
            p->nns[h] = nn->next;
            free(nn);
        }
    }
    free(p);
}
