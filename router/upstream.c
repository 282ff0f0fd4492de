/*
 * upstream.c: see upstream.h. A pool holds sets, one per (NameNode, user);
 * a set holds up to max_conns_per_key connections; a connection holds the
 * calls in flight in a small hash table keyed by (clientId, callId).
 *
 * Every call is in that table from upstream_send() on, whatever the state of
 * its connection; only where its frame waits depends on the state:
 *
 *   CONNECTING, HANDSHAKE:  frame -> c->pending   (socket untouched)
 *   READY:                  frame -> c->out -> socket
 *
 * conn_move() is the one place a state changes; conn_fail() the one way to
 * CLOSED.
 *
 * A set's address is resolved off this loop (lib/resolve): a literal IP at
 * once, a host name by the resolver thread. Until the answer comes back
 * through the pool's inbox, new connections of the set are CONNECTING with
 * no socket, and their calls wait in `pending` like any other.
 */
#define _GNU_SOURCE
#include "upstream.h"

#include "log.h"
#include "net.h"
#include "resolve.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define UP_BUCKETS 64
#define UP_SETS 256
#define UP_READ_CHUNK (64u << 10)

struct upstream_set;

struct upstream_conn {
    struct upstream_pool *pool;
    struct upstream_set *set;
    struct upstream_conn *next;          /* in set->conns */
    int fd;
    enum upstream_conn_state state;      /* changed by conn_move() only */
    bool in_callback;                    /* freeing is deferred while set */
    ev_io rw, ww;
    ev_timer timer;                      /* connect + handshake timeout, then idle timeout */
    struct buf in, out;
    struct buf pending;                  /* frames of calls sent before READY, in order */
    uint32_t in_flight;
    struct upstream_call *calls[UP_BUCKETS];
};

struct upstream_set {
    struct upstream_set *next;           /* hash chain in the pool */
    char addr[128];
    char user[256];
    struct sockaddr_storage sa;
    socklen_t salen;                     /* 0: not resolved (yet) */
    bool resolving;                      /* rq is with the resolver thread */
    struct fr_resolve_req rq;
    int nconns;
    struct upstream_conn *conns;         /* while resolving: CONNECTING ones without a socket */
};

struct upstream_pool {
    struct ev_loop *loop;
    struct upstream_limits lim;
    struct upstream_set *sets[UP_SETS];
    uint64_t conns, in_flight, connects, connect_failures;
    uint64_t by_state[UPSTREAM_CONN_NSTATES]; /* open connections per state (CLOSED: never counted) */
    uint8_t router_client_id[IPC_CLIENT_ID_LEN];
    struct fr_inbox resolved;            /* answers of the resolver thread */
    bool closing;
};

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

struct upstream_pool *upstream_pool_new(struct ev_loop *loop, const struct upstream_limits *lim)
{
    struct upstream_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->loop = loop;
    p->lim = *lim;
    if (p->lim.max_conns_per_key < 1)
        p->lim.max_conns_per_key = 1;
    if (p->lim.calls_per_conn < 1)
        p->lim.calls_per_conn = 1;
    if (!p->lim.max_frame)
        p->lim.max_frame = IPC_MAX_FRAME_DEFAULT;
    ipc_new_client_id(p->router_client_id);
    fr_inbox_init(&p->resolved, loop, on_resolved, p);
    /* Waiting for an answer must not keep the loop alive by itself: a call
     * that waits has its own timers. */
    ev_unref(loop);
    return p;
}

static void conn_fail(struct upstream_conn *c, const char *why);

/*
 * Moves c to state `to`, keeping the pool's per-state counts. A move the
 * table does not allow is a bug: debug builds stop on the assert; release
 * builds log it and close the connection (its calls fail with UP_EDOWN).
 * Returns false then, and the caller must stop what it was doing with c.
 */
static bool conn_move(struct upstream_conn *c, enum upstream_conn_state to)
{
    enum upstream_conn_state from = c->state;
    if (!upstream_conn_move_ok(from, to)) {
        assert(!"impossible upstream connection state change");
        FR_LOG_EVERY(10, 1000, FR_LOG_ERROR, NULL, "upstream %s (user %s): closing: impossible state change %s -> %s",
                     c->set->addr, c->set->user, upstream_conn_state_name(from), upstream_conn_state_name(to));
        if (from != UPSTREAM_CONN_CLOSED)
            conn_fail(c, NULL);
        return false;
    }
    if (from != UPSTREAM_CONN_CLOSED)
        c->pool->by_state[from]--;
    if (to != UPSTREAM_CONN_CLOSED)
        c->pool->by_state[to]++;
    c->state = to;
    return true;
}

/* A READY connection with no call in flight closes after idle_timeout. */
static void conn_arm_idle(struct upstream_conn *c)
{
    ev_timer_stop(c->pool->loop, &c->timer);
    ev_timer_set(&c->timer, c->pool->lim.idle_timeout, 0);
    ev_timer_start(c->pool->loop, &c->timer);
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
    c->pool->in_flight--;
    /* Before READY the timer bounds the connect and handshake: leave it. */
    if (c->in_flight == 0 && c->state == UPSTREAM_CONN_READY)
        conn_arm_idle(c);
}

static void conn_destroy(struct upstream_conn *c)
{
    free(c);
}

/* Closes a connection: every call in flight or queued completes with
 * UP_EDOWN. why == NULL closes quietly (idle, shutdown). */
static void conn_fail(struct upstream_conn *c, const char *why)
{
    if (c->state == UPSTREAM_CONN_CLOSED)
        return;
    struct upstream_pool *p = c->pool;
    conn_move(c, UPSTREAM_CONN_CLOSED); /* allowed from every open state */
    ev_io_stop(p->loop, &c->rw);
    ev_io_stop(p->loop, &c->ww);
    ev_timer_stop(p->loop, &c->timer);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    buf_free(&c->in);
    buf_free(&c->out);
    buf_free(&c->pending);
    /* Out of the set first, so that callbacks that resend pick another conn. */
    struct upstream_conn **pp = &c->set->conns;
    while (*pp && *pp != c)
        pp = &(*pp)->next;
    if (*pp)
        *pp = c->next;
    c->set->nconns--;
    p->conns--;
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
            p->in_flight--;
        }
    }
    c->in_flight = 0;
    if (why)
        FR_LOG_EVERY(10, 1000, FR_LOG_WARN, NULL, "upstream %s (user %s): %s", c->set->addr, c->set->user, why);
    bool was = c->in_callback;
    c->in_callback = true; /* keep c alive while callbacks run */
    while (list) {
        struct upstream_call *uc = list;
        list = uc->hnext;
        uc->hnext = NULL;
        uc->done(uc, UP_EDOWN, NULL, NULL, 0);
    }
    c->in_callback = was;
}

static void conn_maybe_free(struct upstream_conn *c)
{
    if (c->state == UPSTREAM_CONN_CLOSED && !c->in_callback)
        conn_destroy(c);
}

static void conn_flush(struct upstream_conn *c)
{
    switch (net_send_buf(c->fd, &c->out)) {
    case NET_SENT:
        ev_io_stop(c->pool->loop, &c->ww);
        return;
    case NET_PENDING:
        ev_io_start(c->pool->loop, &c->ww);
        return;
    default:
        conn_fail(c, "write failed");
    }
}

static void handle_reply(struct upstream_conn *c, const uint8_t *body, size_t len)
{
    struct ipc_reply r;
    if (ipc_parse_reply(body, len, &r) != IPC_OK) {
        conn_fail(c, "malformed reply from the NameNode");
        return;
    }
    if (r.status == IPC_FATAL || r.call_id < 0) {
        char cls[128], msg[256];
        ipc_span_copy(r.exception_class, cls, sizeof cls);
        ipc_span_copy(r.error_msg, msg, sizeof msg);
        char why[420];
        snprintf(why, sizeof why, "fatal reply: %s: %s", cls, msg);
        conn_fail(c, why);
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

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    struct upstream_conn *c = w->data;
    c->in_callback = true;
    if (buf_reserve(&c->in, UP_READ_CHUNK) < 0) {
        conn_fail(c, "out of memory");
        goto out;
    }
    ssize_t n = recv(c->fd, buf_wptr(&c->in), buf_room(&c->in), 0);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            goto out;
        conn_fail(c, n == 0 ? "connection closed by the NameNode" : strerror(errno));
        goto out;
    }
    buf_commit(&c->in, (size_t)n);
    while (c->state != UPSTREAM_CONN_CLOSED) {
        const uint8_t *body;
        uint32_t blen;
        size_t flen;
        int rc = ipc_frame_cut(buf_rptr(&c->in), buf_len(&c->in), c->pool->lim.max_frame, &body, &blen, &flen);
        if (rc == IPC_AGAIN)
            break;
        if (rc != IPC_OK) {
            conn_fail(c, "reply frame over the limit");
            break;
        }
        if (c->state != UPSTREAM_CONN_READY) {
            /* SIMPLE auth expects nothing before READY; a SASL step would
             * take this frame here. */
            conn_fail(c, "frame from the NameNode before the handshake finished");
            break;
        }
        handle_reply(c, body, blen);
        if (c->state != UPSTREAM_CONN_CLOSED)
            buf_consume(&c->in, flen);
    }
out:
    c->in_callback = false;
    conn_maybe_free(c);
}

/*
 * The handshake is over: the calls queued while it ran go out first, in the
 * order they were sent, and later calls are written as they come.
 */
static void conn_ready(struct upstream_conn *c)
{
    if (!conn_move(c, UPSTREAM_CONN_READY))
        return;
    ev_timer_stop(c->pool->loop, &c->timer); /* connect + handshake bound */
    if (buf_len(&c->pending) && buf_append(&c->out, buf_rptr(&c->pending), buf_len(&c->pending)) < 0) {
        conn_fail(c, "out of memory");
        return;
    }
    buf_free(&c->pending);
    if (c->in_flight == 0)
        conn_arm_idle(c);
    conn_flush(c);
}

/*
 * Connected: the preamble names the auth method, the context the user. With
 * SIMPLE auth the NameNode answers neither, so the handshake ends as soon as
 * both are written. A SASL exchange would instead write its first message
 * here, stay in HANDSHAKE while on_read takes the NameNode's answers, and
 * call conn_ready() when the exchange succeeds.
 */
static void conn_handshake(struct upstream_conn *c)
{
    if (!conn_move(c, UPSTREAM_CONN_HANDSHAKE))
        return;
    ev_io_start(c->pool->loop, &c->rw);
    if (ipc_write_preamble(&c->out, IPC_AUTH_NONE) != IPC_OK ||
        ipc_write_context(&c->out, c->pool->router_client_id, c->set->user, NULL, IPC_CLIENT_PROTOCOL) != IPC_OK) {
        conn_fail(c, "out of memory");
        return;
    }
    conn_ready(c);
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    struct upstream_conn *c = w->data;
    c->in_callback = true;
    if (c->state == UPSTREAM_CONN_CONNECTING) {
        /* Writable while connecting: the connect finished, well or not. */
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            c->pool->connect_failures++;
            conn_fail(c, strerror(err));
        } else {
            conn_handshake(c); /* writes, and flushes once READY */
        }
        goto out;
    }
    conn_flush(c);
out:
    c->in_callback = false;
    conn_maybe_free(c);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct upstream_conn *c = w->data;
    c->in_callback = true;
    if (c->state != UPSTREAM_CONN_READY) {
        c->pool->connect_failures++;
        conn_fail(c, c->state != UPSTREAM_CONN_CONNECTING ? "handshake timed out"
                     : c->fd < 0                             ? "resolving the address timed out"
                                                             : "connect timed out");
    } else if (c->in_flight == 0) {
        conn_fail(c, NULL); /* idle */
    }
    c->in_callback = false;
    conn_maybe_free(c);
}

static void on_call_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct upstream_call *uc = w->data;
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
    case FR_RESOLVE_PENDING:
        s->resolving = true;
        return 0;
    default:
        snprintf(why, whylen, "cannot resolve NameNode address %s: %s", s->addr, s->rq.why);
        return -1;
    }
}

static struct upstream_set *set_get(struct upstream_pool *p, const char *addr, const char *user)
{
    if (strlen(addr) >= sizeof(((struct upstream_set *)0)->addr) || strlen(user) >= 256)
        return NULL;
    uint32_t h = hash_str2(addr, user) % UP_SETS;
    for (struct upstream_set *s = p->sets[h]; s; s = s->next)
        if (strcmp(s->addr, addr) == 0 && strcmp(s->user, user) == 0)
            return s;
    struct upstream_set *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    snprintf(s->addr, sizeof s->addr, "%s", addr);
    snprintf(s->user, sizeof s->user, "%s", user);
    s->next = p->sets[h];
    p->sets[h] = s;
    return s;
}

/* Starts the non-blocking connect of a connection whose address is known. */
static int conn_connect(struct upstream_conn *c, char *why, size_t whylen)
{
    struct upstream_pool *p = c->pool;
    struct upstream_set *s = c->set;
    int fd = socket(s->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(why, whylen, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    p->connects++;
    if (connect(fd, (struct sockaddr *)&s->sa, s->salen) < 0 && errno != EINPROGRESS) {
        snprintf(why, whylen, "connect %s: %s", s->addr, strerror(errno));
        p->connect_failures++;
        close(fd);
        return -1;
    }
    c->fd = fd;
    ev_io_set(&c->rw, fd, EV_READ);
    ev_io_set(&c->ww, fd, EV_WRITE);
    ev_io_start(p->loop, &c->ww); /* writable = connected (or failed) */
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
     * the list, so look for the next waiting one from the start each time. */
    for (;;) {
        struct upstream_conn *c = s->conns;
        while (c && !(c->state == UPSTREAM_CONN_CONNECTING && c->fd < 0))
            c = c->next;
        if (!c)
            break;
        c->in_callback = true;
        if (!ok)
            conn_fail(c, why);
        else if (conn_connect(c, why, sizeof why) < 0)
            conn_fail(c, why);
        c->in_callback = false;
        conn_maybe_free(c);
    }
}

/* A new connection to the set; until the address is resolved it has no
 * socket and its calls wait in `pending`, bounded by the connect timeout. */
static struct upstream_conn *conn_open(struct upstream_pool *p, struct upstream_set *s, char *why, size_t whylen)
{
    struct upstream_conn *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    c->pool = p;
    c->set = s;
    c->fd = -1;
    ev_io_init(&c->rw, on_read, -1, EV_READ);
    ev_io_init(&c->ww, on_write, -1, EV_WRITE);
    ev_timer_init(&c->timer, on_timer, p->lim.connect_timeout, 0);
    c->rw.data = c->ww.data = c->timer.data = c;
    if (!s->resolving && conn_connect(c, why, whylen) < 0) {
        free(c);
        return NULL;
    }
    c->state = UPSTREAM_CONN_CONNECTING; /* the first state: not a move */
    p->by_state[UPSTREAM_CONN_CONNECTING]++;
    ev_timer_start(p->loop, &c->timer);
    c->next = s->conns;
    s->conns = c;
    s->nconns++;
    p->conns++;
    return c;
}

/* Is a call with these ids in flight on c? */
static bool conn_has_call(const struct upstream_conn *c, const struct ipc_ids *ids)
{
    for (const struct upstream_call *uc = c->calls[call_bucket(ids->client_id, ids->client_id_len, ids->call_id)]; uc;
         uc = uc->hnext)
        if (uc->call_id == ids->call_id && uc->client_id_len == ids->client_id_len &&
            memcmp(uc->client_id, ids->client_id, ids->client_id_len) == 0)
            return true;
    return false;
}

int upstream_send(struct upstream_pool *p, const char *addr, const char *user, const struct ipc_ids *ids,
                  const char *method, const uint8_t *param, size_t param_len, struct upstream_call *uc,
                  char *why, size_t whylen)
{
    return upstream_send_proto(p, addr, user, ids, IPC_CLIENT_PROTOCOL, method, param, param_len, uc, why, whylen);
}

int upstream_send_proto(struct upstream_pool *p, const char *addr, const char *user, const struct ipc_ids *ids,
                        const char *protocol, const char *method, const uint8_t *param, size_t param_len,
                        struct upstream_call *uc, char *why, size_t whylen)
{
    if (ids->client_id_len > IPC_CLIENT_ID_LEN || ids->call_id < 0) {
        snprintf(why, whylen, "bad call ids");
        return -1;
    }
    struct upstream_set *s = set_get(p, addr, user);
    if (!s) {
        snprintf(why, whylen, "bad NameNode address %s, or out of memory", addr);
        return -1;
    }
    if (set_resolve(p, s, why, whylen) < 0)
        return -1;
    /* The least busy connection; a new one when all are busy and we may.
     * Replies are matched by (client id, call id): a connection where those
     * ids are already in flight (a client's retry while its first try is
     * still out) cannot take the call, or the two answers could swap. */
    struct upstream_conn *best = NULL;
    bool clash = false;
    for (struct upstream_conn *c = s->conns; c; c = c->next) {
        if (c->state == UPSTREAM_CONN_CLOSED)
            continue;
        if (conn_has_call(c, ids)) {
            clash = true;
            continue;
        }
        if (!best || c->in_flight < best->in_flight)
            best = c;
    }
    if (!best && clash && s->nconns >= p->lim.max_conns_per_key) {
        snprintf(why, whylen, "call %d of this client is still in flight to %s", ids->call_id, addr);
        return -1;
    }
    if (!best || (best->in_flight >= (uint32_t)p->lim.calls_per_conn && s->nconns < p->lim.max_conns_per_key)) {
        struct upstream_conn *n = conn_open(p, s, why, whylen);
        if (n)
            best = n;
        else if (!best)
            return -1;
    }
    struct upstream_conn *c = best;
    /* Until READY the frame waits in the queue; the socket is not ours yet. */
    bool ready = c->state == UPSTREAM_CONN_READY;
    if (ipc_write_call_raw(ready ? &c->out : &c->pending, ids, method, protocol, param, param_len) != IPC_OK) {
        snprintf(why, whylen, "cannot encode the call");
        return -1;
    }
    memcpy(uc->client_id, ids->client_id, ids->client_id_len);
    uc->client_id_len = (uint8_t)ids->client_id_len;
    uc->call_id = ids->call_id;
    uc->conn = c;
    uint32_t b = call_bucket(uc->client_id, uc->client_id_len, uc->call_id);
    uc->hnext = c->calls[b];
    c->calls[b] = uc;
    c->in_flight++;
    p->in_flight++;
    ev_timer_init(&uc->tmo, on_call_timeout, p->lim.call_timeout, 0);
    uc->tmo.data = uc;
    ev_timer_start(p->loop, &uc->tmo);
    if (ready) {
        ev_timer_stop(p->loop, &c->timer); /* no longer idle */
        /* Write at once; the worker batches by calling us for each frame
         * read in one go, so a deferred flush would add latency only. */
        c->in_callback = true;
        conn_flush(c);
        c->in_callback = false;
        if (c->state == UPSTREAM_CONN_CLOSED) {
            conn_maybe_free(c);
            return 0; /* done() already ran with UP_EDOWN */
        }
    }
    return 0;
}

void upstream_cancel(struct upstream_call *uc)
{
    call_unlink(uc);
}

int upstream_max_attempts(const struct upstream_pool *p)
{
    return p->lim.max_attempts;
}

void upstream_pool_stats(const struct upstream_pool *p, struct upstream_stats *st)
{
    st->conns = p->conns;
    st->in_flight = p->in_flight;
    st->connects = p->connects;
    st->connect_failures = p->connect_failures;
    memcpy(st->by_state, p->by_state, sizeof st->by_state);
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
    for (int h = 0; h < UP_SETS; h++) {
        while (p->sets[h]) {
            struct upstream_set *s = p->sets[h];
            while (s->conns) {
                struct upstream_conn *c = s->conns;
                conn_fail(c, NULL);
                conn_destroy(c);
            }
            p->sets[h] = s->next;
            free(s);
        }
    }
    free(p);
}
