/*
 * hms_up.c: backend metastore connections (see hms_up.h). A URI that names
 * a host is looked up off this loop (lib/resolve); its connection waits
 * CONNECTING, without a socket, for the answer.
 *
 *   hms_up_send --idle conn of the key (at the remembered URI)?--> [replay
 *               session changes] --> write the call --> BUSY
 *               --else--> connect --> [set_ugi, setMetaConf replays, wait
 *               for their replies] --> write --> BUSY
 *   refused / timed out / died while CONNECTING or in SETUP (the call not
 *   written) --> the same with the target's next URI
 *   reply: whole (frame or scan) --> done() --> IDLE (idle timer) or closed
 *          in parts --> part() ... [paused until hms_up_resume] ... END
 *          --> IDLE --> done(OK, NULL)
 */
#define _GNU_SOURCE
#include "hms_up.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "conn.h"
#include "resolve.h"

#define HU_READ_CHUNK (64u << 10)
#define HU_KEY_MAX 4096
#define HU_LOG_EVERY_MS 10000           /* one left-out line per metastore per this */

/* ---- targets ---- */

struct hms_target {
    char *name;
    size_t n;
    char **uris;                        /* as configured */
    char **addrs;                       /* host:port of each */
    _Atomic int active;                 /* the URI that last worked */
    _Atomic uint64_t failovers;         /* calls moved past a URI they could not reach */
    _Atomic uint64_t left_out;          /* fan-outs answered without this metastore */
    struct fr_log_rate left_out_log;    /* its left-out lines: one per HU_LOG_EVERY_MS */
    struct hms_target *next;            /* newest first */
};

static _Atomic(struct hms_target *) targets;
static pthread_mutex_t targets_lock = PTHREAD_MUTEX_INITIALIZER;

static bool same_target(const struct hms_target *t, const char *name, char *const *uris, size_t n)
{
    if (t->n != n || strcmp(t->name, name) != 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(t->uris[i], uris[i]) != 0)
            return false;
    return true;
}

static struct hms_target *find_target(const char *name, char *const *uris, size_t n)
{
    for (struct hms_target *t = atomic_load_explicit(&targets, memory_order_acquire); t; t = t->next)
        if (same_target(t, name, uris, n))
            return t;
    return NULL;
}

static void target_free(struct hms_target *t)
{
    for (size_t i = 0; t->uris && i < t->n; i++)
        free(t->uris[i]);
    for (size_t i = 0; t->addrs && i < t->n; i++)
        free(t->addrs[i]);
    free(t->uris);
    free(t->addrs);
    free(t->name);
    free(t);
}

struct hms_target *hms_target_get(const char *name, char *const *uris, size_t n)
{
    struct hms_target *t = find_target(name, uris, n);
    if (t || n == 0)
        return t;
    pthread_mutex_lock(&targets_lock);
    t = find_target(name, uris, n);
    if (t) {
        pthread_mutex_unlock(&targets_lock);
        return t;
    }
    t = calloc(1, sizeof *t);
    bool ok = t && (t->name = strdup(name)) && (t->uris = calloc(n, sizeof *t->uris)) &&
              (t->addrs = calloc(n, sizeof *t->addrs));
    for (size_t i = 0; ok && i < n; i++) {
        const char *a = strstr(uris[i], "://");
        ok = (t->uris[i] = strdup(uris[i])) && (t->addrs[i] = strdup(a ? a + 3 : uris[i]));
    }
    if (!ok) {
        if (t) {
            t->n = n;
            target_free(t);
        }
        pthread_mutex_unlock(&targets_lock);
        return NULL;
    }
    t->n = n;
    fr_log_rate_init(&t->left_out_log, 1, HU_LOG_EVERY_MS);
    /* The same metastore with another URI list (a reload): keep using the
     * URI it used, and keep counting. */
    for (struct hms_target *o = atomic_load(&targets); o; o = o->next) {
        if (strcmp(o->name, name) != 0)
            continue;
        const char *was = o->uris[atomic_load(&o->active) % (int)o->n];
        for (size_t i = 0; i < n; i++)
            if (strcmp(t->uris[i], was) == 0)
                atomic_store(&t->active, (int)i);
        atomic_store(&t->failovers, atomic_load(&o->failovers));
        atomic_store(&t->left_out, atomic_load(&o->left_out));
        break;
    }
    t->next = atomic_load(&targets);
    atomic_store_explicit(&targets, t, memory_order_release);
    pthread_mutex_unlock(&targets_lock);
    return t;
}

const char *hms_target_name(const struct hms_target *t)
{
    return t->name;
}

void hms_target_left_out(struct hms_target *t, const char *call, const char *why)
{
    atomic_fetch_add(&t->left_out, 1);
    fr_log_rated(&t->left_out_log, FR_LOG_WARN, NULL, "metastore %s left out of %s: %s", t->name, call, why);
}

void hms_targets_gauges(struct buf *out, void *arg)
{
    struct hms_target *head = atomic_load_explicit(&targets, memory_order_acquire);
    metrics_printf(out, "# TYPE fedrouter_hms_uri_in_use gauge\n");
    for (int pass = 0; pass < 3; pass++) {
        if (pass == 1)
            metrics_printf(out, "# TYPE fedrouter_hms_uri_failovers_total counter\n");
        if (pass == 2)
            metrics_printf(out, "# TYPE fedrouter_hms_left_out_total counter\n");
        for (struct hms_target *t = head; t; t = t->next) {
            bool newest = true; /* one line per metastore: its newest URI list */
            for (struct hms_target *o = head; o != t && newest; o = o->next)
                newest = strcmp(o->name, t->name) != 0;
            if (!newest)
                continue;
            if (pass == 0) {
                int a = atomic_load(&t->active);
                for (size_t i = 0; i < t->n; i++)
                    metrics_printf(out, "fedrouter_hms_uri_in_use{ms=\"%s\",uri=\"%s\"} %d\n", t->name, t->uris[i],
                                   (int)i == a);
            } else {
                metrics_printf(out, "%s{ms=\"%s\"} %llu\n",
                               pass == 1 ? "fedrouter_hms_uri_failovers_total" : "fedrouter_hms_left_out_total",
                               t->name,
                               (unsigned long long)atomic_load(pass == 1 ? &t->failovers : &t->left_out));
            }
        }
    }
}

bool hms_target_in_use(const char *ms, char *out, size_t cap)
{
    /* The list only grows (newest first) and is freed at exit. */
    for (struct hms_target *t = atomic_load_explicit(&targets, memory_order_acquire); t; t = t->next)
        if (strcmp(t->name, ms) == 0 && t->n) {
            snprintf(out, cap, "%s", t->uris[atomic_load(&t->active) % (int)t->n]);
            return true;
        }
    return false;
}

/* A call reached a metastore at URI i: later calls go there first. */
static void remember(struct hms_target *t, int i, const char *why)
{
    int old = atomic_load(&t->active);
    if (old != i && atomic_compare_exchange_strong(&t->active, &old, i))
        fr_info("metastore %s: now using %s (%s)", t->name, t->uris[i],
                why[0] ? why : "the one used before did not answer");
}

/* ---- sessions ---- */

static _Atomic uint64_t next_session = 1;

void hms_session_pin(struct hms_session *s)
{
    if (!s->id)
        s->id = atomic_fetch_add(&next_session, 1);
}

int hms_session_set(struct hms_session *s, const uint8_t *key, size_t kl, const uint8_t *val, size_t vl,
                    struct hms_conf_undo *undo)
{
    *undo = (struct hms_conf_undo){ -1, false, NULL, 0 };
    if (kl > HMS_MAX_CONF_LEN || vl > HMS_MAX_CONF_LEN || memchr(key, 0, kl) || memchr(val, 0, vl))
        return -1;
    size_t i = 0;
    while (i < s->nconf && !(strlen(s->conf[i].key) == kl && memcmp(s->conf[i].key, key, kl) == 0))
        i++;
    if (i == s->nconf && i == HMS_MAX_CONF)
        return -1;
    char *v = strndup((const char *)val, vl);
    if (!v)
        return -1;
    if (i < s->nconf) {
        *undo = (struct hms_conf_undo){ (int)i, false, s->conf[i].value, s->conf[i].gen };
        s->conf[i].value = v;
    } else {
        char *k = strndup((const char *)key, kl);
        if (!k) {
            free(v);
            return -1;
        }
        s->conf[i] = (struct hms_conf){ k, v, 0 };
        s->nconf++;
        *undo = (struct hms_conf_undo){ (int)i, true, NULL, 0 };
    }
    s->conf[i].gen = ++s->gen;
    return 0;
}

void hms_session_undo(struct hms_session *s, struct hms_conf_undo *undo, bool apply)
{
    if (undo->idx < 0)
        return;
    size_t i = (size_t)undo->idx;
    if (apply && undo->added && i < s->nconf) {
        free(s->conf[i].key);
        free(s->conf[i].value);
        memmove(&s->conf[i], &s->conf[i + 1], (s->nconf - i - 1) * sizeof s->conf[0]);
        s->nconf--;
    } else if (apply && i < s->nconf) {
        free(s->conf[i].value);
        s->conf[i].value = undo->old_value;
        s->conf[i].gen = undo->old_gen;
        undo->old_value = NULL;
    }
    free(undo->old_value);
    *undo = (struct hms_conf_undo){ -1, false, NULL, 0 };
}

void hms_session_free(struct hms_session *s)
{
    for (size_t i = 0; i < s->nconf; i++) {
        free(s->conf[i].key);
        free(s->conf[i].value);
    }
    s->nconf = 0;
}

/* ---- the pool ---- */

/*
 * A connection's states; hu_move() is the one place they change, by this
 * table (row: from, column: to). Anything else is a bug: debug builds stop
 * on an assert, release builds close the connection with a reason.
 *
 *   CONNECTING --connected--> SETUP --set-up answered--> BUSY <--> IDLE
 *        |         \__________(nothing to set up)_______/^          |
 *        |                                              IDLE -> SETUP (session changes to replay)
 *        +------------- every state but CLOSED ------------> CLOSED
 */
static const bool hu_moves[HU_NSTATES][HU_NSTATES] = {
    [HU_CONNECTING] = { [HU_SETUP] = true, [HU_BUSY] = true, [HU_CLOSED] = true },
    [HU_SETUP] = { [HU_BUSY] = true, [HU_CLOSED] = true },
    [HU_IDLE] = { [HU_SETUP] = true, [HU_BUSY] = true, [HU_CLOSED] = true },
    [HU_BUSY] = { [HU_IDLE] = true, [HU_CLOSED] = true },
};

static const char *const hu_names[HU_NSTATES] = {
    [HU_CONNECTING] = "connecting", [HU_SETUP] = "setup", [HU_IDLE] = "idle", [HU_BUSY] = "busy",
    [HU_CLOSED] = "closed",
};

bool hms_upconn_move_ok(enum hms_upconn_state from, enum hms_upconn_state to)
{
    return (unsigned)from < HU_NSTATES && (unsigned)to < HU_NSTATES && hu_moves[from][to];
}

const char *hms_upconn_state_name(enum hms_upconn_state s)
{
    return (unsigned)s < HU_NSTATES ? hu_names[s] : "?";
}

/*
 * Lifetime: from its connect on, a connection's memory goes with the last
 * reference on its struct conn (lib/conn.h): the conn's own until it
 * closes, plus the one the conn's callbacks hold while they run, so a close
 * from inside done() or part() (a cancel, a session's end) leaves the
 * parser up the stack a valid object in state CLOSED. Before its connect (a
 * host name being looked up) there is no struct conn: such a connection is
 * pointed at only by the pool list and its call, so closing it frees it at
 * once, or, when the lookup cannot be withdrawn, when its answer arrives.
 */
struct hms_upconn {
    struct conn conn;                   /* the socket; valid only once has_sock */
    bool has_sock;                      /* conn_connect() was started */
    struct hms_pool *pool;
    char *key;
    char addr[256];
    int uri;                            /* index in the target of the call that opened it */
    ev_timer idle;                      /* idle timeout; while CONNECTING and in SETUP, the set-up's */
    enum hms_upconn_state state;        /* changed by hu_move() only */
    enum tw_proto proto;
    bool framed;
    uint64_t sess;                      /* the session it belongs to; 0: pooled */
    uint64_t conf_gen;                  /* the session's changes it has */
    int setup_left;                     /* set-up replies still to come */
    struct buf pending;                 /* the call, written once the set-up is answered */
    struct tw_scan scan;                /* whole messages (unframed) */
    /* a reply handed to part() */
    bool paused;                        /* the consumer cannot take more now */
    bool whole;                         /* the consumer wants this reply whole */
    bool frame_known;                   /* framed: the reply's length is read */
    bool frame_hdr;                     /* framed: its 4 bytes are still in the input */
    size_t frame_total, frame_left;
    struct hms_upcall *call;
    struct hms_upconn *prev, *next;     /* in the pool's list, until CLOSED */
    /* The address, looked up off this loop when it is a host name. Until
     * the answer comes the connection is CONNECTING with no socket. */
    struct fr_resolve_req rq;
    bool resolving;                     /* rq is with the resolver thread */
    bool orphan;                        /* closed before the answer came: freed when it does */
};

struct hms_pool {
    struct ev_loop *loop;
    struct hms_pool_limits lim;
    struct tw_limits whole;             /* replies held whole */
    struct conn_counts *counts;         /* the worker's metastore socket gauges; may be NULL */
    struct hms_upconn *conns;           /* every connection not CLOSED */
    uint64_t by_state[HU_NSTATES];      /* connections per state (CLOSED: never counted); __atomic,
                                           the admin thread reads them */
    bool closing;                       /* hms_pool_free: no failover */
    struct fr_inbox resolved;           /* answers of the resolver thread */
};

static void on_resolved(struct fr_inbox_node *node, void *arg);

struct hms_pool *hms_pool_new(struct ev_loop *loop, const struct hms_pool_limits *lim, struct conn_counts *counts)
{
    struct hms_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->loop = loop;
    p->lim = *lim;
    p->counts = counts;
    if (p->lim.connect_timeout <= 0)
        p->lim.connect_timeout = 2.0;
    if (p->lim.call_timeout <= 0)
        p->lim.call_timeout = 600.0;
    if (p->lim.idle_timeout <= 0)
        p->lim.idle_timeout = 60.0;
    if (p->lim.max_reply == 0)
        p->lim.max_reply = TW_DEFAULT_SIZE;
    p->whole = (struct tw_limits){ 0, p->lim.max_reply, p->lim.max_reply, p->lim.max_reply };
    fr_inbox_init(&p->resolved, loop, on_resolved, p);
    ev_unref(loop); /* a pending lookup alone does not keep the loop running */
    return p;
}

static void hu_count(struct hms_pool *p, enum hms_upconn_state s, int64_t d)
{
    if (s != HU_CLOSED)
        __atomic_fetch_add(&p->by_state[s], (uint64_t)d, __ATOMIC_RELAXED);
}

static void conn_fail(struct hms_upconn *c, enum hms_up_status st, const char *why);

/* Moves c to `to`. false: the move is impossible (a bug; c is then closed,
 * its call failed at once, and the caller must stop using c unless it
 * holds a reference). */
static bool hu_move(struct hms_upconn *c, enum hms_upconn_state to)
{
    enum hms_upconn_state from = c->state;
    if (!hms_upconn_move_ok(from, to)) {
        FR_LOG_EVERY(10, 1000, FR_LOG_ERROR, NULL, "metastore %s: closing: impossible state change %s -> %s", c->addr,
                     hms_upconn_state_name(from), hms_upconn_state_name(to));
        assert(!"impossible metastore connection state change");
        if (from != HU_CLOSED)
            conn_fail(c, HMS_UP_PROTO, "impossible state change");
        return false;
    }
    hu_count(c->pool, from, -1);
    hu_count(c->pool, to, 1);
    c->state = to;
    return true;
}

/* Reading follows the consumer: off while a reply handed to part() waits. */
static void hu_want_read(struct hms_upconn *c, bool on)
{
    if (c->has_sock)
        conn_want_read(&c->conn, on);
}

/* Frees a connection that never had a socket, or marks it for on_resolved. */
static void free_sockless(struct hms_upconn *c)
{
    if (c->resolving && !fr_resolve_cancel(&c->rq)) {
        c->orphan = true; /* the answer on its way still names c */
        return;
    }
    free(c->key);
    free(c);
}

/*
 * The one way to CLOSED: out of the pool, socket closed (why: the reason,
 * NULL for a quiet close). The call, if any, is the caller's business (see
 * conn_fail). c may be freed when this returns, unless the caller holds a
 * reference on c->conn (the conn's callbacks do).
 */
static void hu_close(struct hms_upconn *c, const char *why)
{
    struct hms_pool *p = c->pool;
    if (c->state == HU_CLOSED)
        return;
    hu_count(p, c->state, -1);
    c->state = HU_CLOSED; /* allowed from every state: the table's last column */
    ev_timer_stop(p->loop, &c->idle);
    if (c->prev)
        c->prev->next = c->next;
    else
        p->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    buf_free(&c->pending);
    if (c->call) {
        c->call->conn = NULL;
        c->call = NULL;
    }
    /* From inside on_close this returns at once. The conn keeps its reason
     * past this call, so it gets a string that lives for good (why may be
     * on the caller's stack; the call's story has it). */
    if (c->has_sock)
        conn_close(&c->conn, why ? "metastore connection failed" : NULL);
    else
        free_sockless(c);
}

/* Adds "addr: what" to the story of the call's tries. */
static void note_why(struct hms_upcall *uc, const char *addr, const char *what)
{
    size_t l = strlen(uc->why);
    if (l + 3 < sizeof uc->why)
        snprintf(uc->why + l, sizeof uc->why - l, "%s%.100s: %.120s", l ? "; " : "", addr, what);
}

static void tmo_restart(struct hms_pool *p, struct hms_upcall *uc)
{
    ev_timer_stop(p->loop, &uc->tmo);
    ev_timer_set(&uc->tmo, uc->timeout > 0 ? uc->timeout : p->lim.call_timeout, 0.);
    ev_timer_start(p->loop, &uc->tmo);
}

static int place(struct hms_pool *p, struct hms_upcall *uc, const uint8_t *msg, size_t len, struct buf *own);

/* Closes c. Its call moves to the next URI when it surely was not
 * written (DOWN while connecting or in set-up), else fails with why. Runs
 * from the loop only (never inside hms_up_send). c may be freed. */
static void conn_fail(struct hms_upconn *c, enum hms_up_status st, const char *why)
{
    if (c->state == HU_CLOSED)
        return;
    struct hms_pool *p = c->pool;
    struct hms_upcall *uc = c->call;
    bool unsent = c->state == HU_CONNECTING || c->state == HU_SETUP;
    struct buf msg = c->pending;
    c->pending = (struct buf)BUF_INIT;
    if (uc)
        note_why(uc, c->addr, why);
    hu_close(c, why); /* detaches uc; c is not used after this */
    if (!uc) {
        buf_free(&msg);
        return;
    }
    if (st == HMS_UP_DOWN && unsent && !p->closing && buf_len(&msg) &&
        place(p, uc, buf_rptr(&msg), buf_len(&msg), &msg) == 0)
        return;
    buf_free(&msg);
    ev_timer_stop(p->loop, &uc->tmo);
    uc->done(uc, st, NULL, 0, uc->why);
}

void hms_pool_free(struct hms_pool *p)
{
    if (!p)
        return;
    /* From outside every callback of the pool: each connection's memory
     * goes with its close (or, still looking its address up, when the
     * answer is handed back by the stop below). */
    p->closing = true;
    while (p->conns)
        conn_fail(p->conns, HMS_UP_DOWN, "the router is stopping");
    ev_ref(p->loop); /* undo the unref of hms_pool_new before the stop */
    fr_inbox_stop(&p->resolved);
    free(p);
}

void hms_pool_counts(const struct hms_pool *p, size_t *open, size_t *idle)
{
    uint64_t n[HU_NSTATES] = { 0 };
    hms_pool_count_states(p, n);
    *open = 0;
    for (int k = 0; k < HU_CLOSED; k++)
        *open += n[k];
    *idle = n[HU_IDLE];
}

void hms_pool_count_states(const struct hms_pool *p, uint64_t n[HU_NSTATES])
{
    for (int k = 0; k < HU_CLOSED; k++)
        n[k] += __atomic_load_n(&p->by_state[k], __ATOMIC_RELAXED);
}

void hms_pool_session_end(struct hms_pool *p, uint64_t id)
{
    if (!p || !id)
        return;
    struct hms_upconn *c = p->conns, *next;
    for (; c; c = next) {
        next = c->next;
        if (c->sess == id && !c->call)
            hu_close(c, NULL);
    }
}

/* Appends one message to the output, framed when the backend wants frames. */
static int put_message(struct hms_upconn *c, const uint8_t *msg, size_t len)
{
    struct buf *out = conn_out(&c->conn);
    if (c->framed && tw_put_frame_len(out, len) < 0)
        return -1;
    if (buf_append(out, msg, len) < 0)
        return -1;
    return conn_out_end(&c->conn);
}

/* ---- set-up messages, written by hand in both protocols ---- */

/* set_ugi_args { 1: string user_name, 2: list<string> group_names }. */
static int write_set_ugi(struct buf *b, enum tw_proto proto, const struct hms_ident *id)
{
    int16_t last = 0;
    int rc = tw_write_header(proto, b, (const uint8_t *)"set_ugi", 7, TW_CALL, 0);
    rc |= tw_put_field(proto, b, TW_T_STRING, 1, &last);
    rc |= tw_put_string(proto, b, id->user, strlen(id->user));
    rc |= tw_put_field(proto, b, TW_T_LIST, 2, &last);
    rc |= tw_put_list(proto, b, TW_T_STRING, id->ngroups);
    for (size_t i = 0; i < id->ngroups; i++)
        rc |= tw_put_string(proto, b, id->groups[i], strlen(id->groups[i]));
    rc |= tw_put_stop(b);
    return rc < 0 ? -1 : 0;
}

/* setMetaConf_args { 1: string key, 2: string value }. */
static int write_set_conf(struct buf *b, enum tw_proto proto, const struct hms_conf *cf)
{
    int16_t last = 0;
    int rc = tw_write_header(proto, b, (const uint8_t *)"setMetaConf", 11, TW_CALL, 0);
    rc |= tw_put_field(proto, b, TW_T_STRING, 1, &last);
    rc |= tw_put_string(proto, b, cf->key, strlen(cf->key));
    rc |= tw_put_field(proto, b, TW_T_STRING, 2, &last);
    rc |= tw_put_string(proto, b, cf->value, strlen(cf->value));
    rc |= tw_put_stop(b);
    return rc < 0 ? -1 : 0;
}

/* The session changes a call on c needs first: generations (c->conf_gen, want]. */
static uint64_t conf_wanted(const struct hms_upcall *uc)
{
    const struct hms_session *s = uc->id.sess;
    if (!s)
        return 0;
    return uc->applies_gen ? uc->applies_gen - 1 : s->gen;
}

/* Queues the set-up messages a call on c needs: set_ugi on a new
 * connection, then the session's changes c lacks. The count, or -1. */
static int queue_setup(struct hms_upconn *c, const struct hms_upcall *uc, bool fresh)
{
    int n = 0;
    struct buf m = BUF_INIT;
    if (fresh && uc->id.user && *uc->id.user) {
        if (write_set_ugi(&m, c->proto, &uc->id) < 0 || put_message(c, buf_rptr(&m), buf_len(&m)) < 0)
            goto fail;
        n++;
    }
    const struct hms_session *s = uc->id.sess;
    uint64_t want = conf_wanted(uc);
    for (size_t i = 0; s && i < s->nconf; i++) {
        if (s->conf[i].gen <= c->conf_gen || s->conf[i].gen > want)
            continue;
        buf_reset(&m);
        if (write_set_conf(&m, c->proto, &s->conf[i]) < 0 || put_message(c, buf_rptr(&m), buf_len(&m)) < 0)
            goto fail;
        n++;
    }
    if (s && want > c->conf_gen)
        c->conf_gen = want;
    buf_free(&m);
    return n;
fail:
    buf_free(&m);
    return -1;
}

/* ---- I/O ---- */

/* A oneway call is done once it is queued; its done() runs from the loop
 * (the call's timer, fed), never from inside hms_up_send. */
static void oneway_done_later(struct hms_pool *p, struct hms_upcall *uc)
{
    ev_timer_stop(p->loop, &uc->tmo);
    ev_feed_event(p->loop, &uc->tmo, EV_CUSTOM);
}

/* Writes the call: c is BUSY (or IDLE again after a oneway call). -1 when
 * c was closed (its call failed; not from inside hms_up_send, where
 * `pending` is always empty). */
static int start_call_io(struct hms_upconn *c)
{
    struct hms_pool *p = c->pool;
    if (!hu_move(c, HU_BUSY))
        return -1;
    if (buf_len(&c->pending) && put_message(c, buf_rptr(&c->pending), buf_len(&c->pending)) < 0) {
        conn_fail(c, HMS_UP_DOWN, "out of memory");
        return -1;
    }
    buf_free(&c->pending);
    ev_timer_stop(p->loop, &c->idle);
    tw_scan_init(&c->scan, c->proto, &p->whole);
    c->paused = c->whole = c->frame_known = c->frame_hdr = false;
    hu_want_read(c, true);
    struct hms_upcall *uc = c->call;
    if (!uc)
        return 0;
    remember(uc->target, c->uri, uc->why);
    if (uc->applies_gen && uc->applies_gen > c->conf_gen)
        c->conf_gen = uc->applies_gen;
    if (uc->oneway) {
        /* No reply comes: the call is done once queued. */
        c->call = NULL;
        uc->conn = NULL;
        hu_move(c, HU_IDLE);
        ev_timer_again(p->loop, &c->idle);
        oneway_done_later(p, uc);
    }
    return 0;
}

/* The call is over on c (whole reply or its last part): c is idle. */
static struct hms_upcall *call_over(struct hms_upconn *c)
{
    struct hms_upcall *uc = c->call;
    c->call = NULL;
    if (uc) {
        uc->conn = NULL;
        ev_timer_stop(c->pool->loop, &uc->tmo);
    }
    hu_move(c, HU_IDLE);
    c->paused = false;
    ev_timer_again(c->pool->loop, &c->idle);
    hu_want_read(c, true);
    return uc;
}

/* After a big reply held whole, the input buffer's room goes. */
static void trim_input(struct hms_upconn *c)
{
    struct buf *in = conn_in(&c->conn);
    if (in->cap > 4 * HU_READ_CHUNK && !buf_len(in))
        buf_free(in);
}

/* Cuts the next whole message from the input: 1 with msg/len/used, 0 for
 * more bytes, or a negative thrift_walk status. */
static int cut_whole(struct hms_upconn *c, const struct tw_limits *lim, const uint8_t **msg, size_t *mlen,
                     size_t *used)
{
    struct buf *in = conn_in(&c->conn);
    if (c->framed)
        return tw_frame_cut(buf_rptr(in), buf_len(in), lim->max_message, msg, mlen, used);
    int rc = tw_scan_feed(&c->scan, buf_rptr(in), buf_len(in), mlen);
    *msg = buf_rptr(in);
    *used = *mlen;
    return rc;
}

/* Replies to the set-up messages: each must be a REPLY; a session change
 * the metastore refuses is logged (the client's own call to it was
 * answered long ago), a refused set_ugi fails the call. */
static void take_setup(struct hms_upconn *c)
{
    static const struct tw_limits small = { TW_DEFAULT_DEPTH, TW_DEFAULT_SIZE, TW_DEFAULT_SIZE, TW_DEFAULT_SIZE };
    struct buf *in = conn_in(&c->conn);
    while (c->state == HU_SETUP && buf_len(in)) {
        const uint8_t *msg;
        size_t mlen = 0, used = 0;
        int rc = cut_whole(c, &small, &msg, &mlen, &used);
        if (rc == TW_NEED_MORE)
            return;
        struct tw_header h;
        if (rc != TW_COMPLETE || tw_parse_header(c->proto, msg, mlen, NULL, &h) != TW_COMPLETE) {
            conn_fail(c, HMS_UP_PROTO, "malformed reply to set_ugi or setMetaConf");
            return;
        }
        bool ugi = h.name_len == 7 && memcmp(h.name, "set_ugi", 7) == 0;
        bool refused = h.type != TW_REPLY || (mlen > h.body_off && msg[h.body_off] != 0);
        if (ugi && h.type != TW_REPLY) {
            conn_fail(c, HMS_UP_PROTO, "set_ugi was refused");
            return;
        }
        if (!ugi && refused)
            FR_LOG_EVERY(10, 1000, FR_LOG_WARN, NULL,
                         "metastore %s refused a setting replayed for a client session (setMetaConf); its calls "
                         "there run without it", c->addr);
        buf_consume(in, used);
        tw_scan_init(&c->scan, c->proto, NULL);
        if (--c->setup_left == 0) {
            if (buf_len(in)) {
                conn_fail(c, HMS_UP_PROTO, "bytes after the set-up replies");
                return;
            }
            start_call_io(c);
            return;
        }
    }
}

/*
 * A whole reply: done() gets it where it lies, in the connection's input
 * buffer (no copy). The conn's callback holds a reference, so the bytes stay
 * put while done() runs whatever it does: send again (maybe on this very
 * connection, now IDLE: that only writes), cancel, end a session. The input
 * is emptied once done() returns.
 */
static void take_whole(struct hms_upconn *c)
{
    struct hms_pool *p = c->pool;
    const uint8_t *msg = NULL;
    size_t mlen = 0, used = 0;
    int rc = cut_whole(c, &p->whole, &msg, &mlen, &used);
    if (rc == TW_NEED_MORE)
        return;
    if (rc == TW_EMSGSIZE || rc == TW_ESTRING || rc == TW_ECONTAINER) {
        char why[160];
        snprintf(why, sizeof why, "the reply is larger than hms.max_buffered_reply (%zu bytes), the most the "
                                  "router holds whole", p->lim.max_reply);
        conn_fail(c, HMS_UP_TOOBIG, why);
        return;
    }
    struct buf *in = conn_in(&c->conn);
    if (rc != TW_COMPLETE || used != buf_len(in)) {
        char why[96];
        snprintf(why, sizeof why, "malformed reply (%s)", rc != TW_COMPLETE ? tw_strerror(rc) : "bytes after it");
        conn_fail(c, HMS_UP_PROTO, why);
        return;
    }
    struct hms_upcall *uc = call_over(c);
    if (uc)
        uc->done(uc, HMS_UP_OK, msg, mlen, NULL);
    buf_reset(in); /* nothing was read meanwhile: these are the reply's bytes */
    trim_input(c);
}

static inline uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Hands what there is of the reply to part(). */
static void take_parts(struct hms_upconn *c)
{
    struct hms_upcall *uc = c->call;
    struct buf *in = conn_in(&c->conn);
    size_t hdr = 0, avail = buf_len(in);
    if (c->framed) {
        if (!c->frame_known) {
            if (avail < 4)
                return;
            uint32_t n = be32(buf_rptr(in));
            if (n == 0 || n > INT32_MAX) {
                conn_fail(c, HMS_UP_PROTO, "malformed reply (bad frame length)");
                return;
            }
            c->frame_known = c->frame_hdr = true;
            c->frame_total = c->frame_left = n;
        }
        hdr = c->frame_hdr ? 4 : 0;
        avail -= hdr;
        if (avail > c->frame_left)
            avail = c->frame_left;
    }
    if (avail == 0)
        return;
    size_t used = 0;
    char why[160] = "";
    enum hms_part r = uc->part(uc, buf_rptr(in) + hdr, avail, c->framed ? c->frame_total : 0, &used, why,
                               sizeof why);
    /* part() must not cancel, but what it does for the client may end the
     * client, and with it this call: then c is CLOSED (still valid). */
    if (c->state == HU_CLOSED || c->call != uc)
        return;
    if (r == HMS_PART_WHOLE) {
        c->whole = true;
        take_whole(c);
        return;
    }
    if (r == HMS_PART_ERROR || used > avail) {
        conn_fail(c, HMS_UP_PROTO, why[0] ? why : "malformed reply");
        return;
    }
    /* Framed: when the frame's last byte is here, "more" never comes. */
    bool all_there = c->framed && avail == c->frame_left;
    if (used) {
        /* The frame length goes with the first bytes taken: until then the
         * reply may still be asked for whole. */
        buf_consume(in, hdr + used);
        c->frame_hdr = false;
        c->frame_left -= c->framed ? used : 0;
        tmo_restart(c->pool, uc); /* the reply moves: the timeout counts from here */
    }
    if (r == HMS_PART_END) {
        if (c->framed ? c->frame_left != 0 : buf_len(in) != 0) {
            conn_fail(c, HMS_UP_PROTO, "bytes after the reply");
            return;
        }
        uc = call_over(c);
        if (uc)
            uc->done(uc, HMS_UP_OK, NULL, 0, NULL);
        if (c->state != HU_CLOSED)
            trim_input(c);
        return;
    }
    if (r == HMS_PART_PAUSE) {
        c->paused = true;
        ev_timer_stop(c->pool->loop, &uc->tmo);
        hu_want_read(c, false);
        return;
    }
    if (all_there)
        conn_fail(c, HMS_UP_PROTO, "malformed reply (its frame ends inside it)");
}

/* conn callback: input is in (read, or already buffered after a resume). */
static void on_input(struct conn *cn)
{
    struct hms_upconn *c = cn->owner;
    if (c->paused || !buf_len(conn_in(cn)))
        return;
    switch (c->state) {
    case HU_IDLE:
        conn_fail(c, HMS_UP_PROTO, "bytes from the metastore with no call in flight");
        return;
    case HU_SETUP:
        take_setup(c);
        return;
    case HU_BUSY:
        if (c->call && c->call->part && !c->whole)
            take_parts(c);
        else
            take_whole(c);
        return;
    case HU_CONNECTING:
    case HU_CLOSED:
    case HU_NSTATES:
        return;
    }
}

/*
 * conn callback: connected. The set-up messages the call needs (set_ugi,
 * the session's settings) are written now, never before; the call waits in
 * `pending` until they are answered, or goes at once when there are none.
 * The conn flushes on return.
 */
static void on_connected(struct conn *cn)
{
    struct hms_upconn *c = cn->owner;
    struct hms_upcall *uc = c->call;
    if (!uc) {
        hu_close(c, NULL); /* cannot happen: a cancel closes the connection */
        return;
    }
    int n = queue_setup(c, uc, true);
    if (n < 0) {
        conn_fail(c, HMS_UP_DOWN, "out of memory");
        return;
    }
    c->setup_left = n;
    if (n == 0) {
        start_call_io(c);
        return;
    }
    if (hu_move(c, HU_SETUP)) /* the set-up timer runs on */
        tw_scan_init(&c->scan, c->proto, NULL);
}

/* conn callback: the socket closed under us (connect refused, the metastore
 * hung up, a write failed). A close this file asked for arrives with c
 * already CLOSED. */
static void on_close(struct conn *cn, const char *reason)
{
    struct hms_upconn *c = cn->owner;
    if (c->state != HU_CLOSED)
        conn_fail(c, HMS_UP_DOWN, reason ? reason : "connection closed by the metastore");
}

/* conn callback: the last reference went. */
static void on_free(struct conn *cn)
{
    struct hms_upconn *c = cn->owner;
    free(c->key);
    free(c);
}

static const struct conn_ops hu_conn_ops = {
    .on_input = on_input,
    .on_connected = on_connected,
    .on_close = on_close,
    .on_free = on_free,
};

static void on_idle(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct hms_upconn *c = t->data;
    if (c->state == HU_IDLE)
        hu_close(c, NULL);
    else if (c->state == HU_CONNECTING)
        conn_fail(c, HMS_UP_DOWN, !c->has_sock ? "resolving the address timed out" : "connect timed out");
    else if (c->state == HU_SETUP)
        conn_fail(c, HMS_UP_DOWN, "no answer to set_ugi or setMetaConf within the connect timeout");
}

/* The call's timer: its timeout, or (fed, EV_CUSTOM) a oneway call queued. */
static void on_call_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct hms_upcall *uc = t->data;
    if (revents & EV_CUSTOM) {
        if (!uc->conn)
            uc->done(uc, HMS_UP_OK, NULL, 0, NULL);
        return;
    }
    if (uc->conn)
        conn_fail(uc->conn, HMS_UP_TIMEOUT,
                  uc->conn->state == HU_BUSY ? "no reply within the call timeout"
                                             : "not connected within the call timeout");
}

/* Starts the non-blocking connect to a resolved address: from here on the
 * conn layer reports back (on_connected or on_close). -1 with why when no
 * connect could be started. */
static int hu_connect(struct hms_upconn *c, char *why, size_t whylen)
{
    struct hms_pool *p = c->pool;
    int rc = conn_connect(&c->conn, p->loop, (const struct sockaddr *)&c->rq.sa, c->rq.salen, &hu_conn_ops, c,
                          p->counts);
    if (rc < 0) {
        snprintf(why, whylen, "%s", strerror(-rc));
        return -1;
    }
    c->has_sock = true;
    return 0;
}

/*
 * The resolver answered for a connection. It connects now, or fails like a
 * refused connect would: its call moves on to the target's next URI.
 */
static void on_resolved(struct fr_inbox_node *node, void *arg)
{
    struct hms_upconn *c = (struct hms_upconn *)((char *)node - offsetof(struct hms_upconn, rq.node));
    c->resolving = false;
    if (c->orphan) {
        free(c->key);
        free(c);
        return;
    }
    char why[sizeof c->rq.why + 32];
    if (c->rq.status != FR_RESOLVE_DONE) {
        snprintf(why, sizeof why, "cannot resolve it: %s", c->rq.why);
        conn_fail(c, HMS_UP_DOWN, why);
        return;
    }
    if (hu_connect(c, why, sizeof why) < 0)
        conn_fail(c, HMS_UP_DOWN, why);
}

/* The pool key of a connection: session, address, protocol, framing, user
 * and groups (each name with its length, so no two identities meet).
 * Written into k (cap bytes); false when it does not fit. */
static bool make_key(char *k, size_t cap, const char *addr, const struct hms_ident *id, enum tw_proto proto,
                     bool framed)
{
    const char *user = id->user ? id->user : "";
    int w = snprintf(k, cap, "%llu\n%s\n%d%c\n%zu:%s", (unsigned long long)(id->sess ? id->sess->id : 0), addr,
                     (int)proto, framed ? 'f' : 'u', strlen(user), user);
    if (w < 0 || (size_t)w >= cap)
        return false;
    size_t used = (size_t)w;
    for (size_t i = 0; *user && i < id->ngroups; i++) {
        w = snprintf(k + used, cap - used, "\n%zu:%s", strlen(id->groups[i]), id->groups[i]);
        if (w < 0 || (size_t)w >= cap - used)
            return false;
        used += (size_t)w;
    }
    return true;
}

static struct hms_upconn *find_idle(struct hms_pool *p, const char *key)
{
    struct hms_upconn *c = p->conns;
    while (c && !(c->state == HU_IDLE && strcmp(c->key, key) == 0))
        c = c->next;
    return c;
}

/* A new connection to the target's URI i for uc: CONNECTING, with or
 * without its socket yet. NULL with why when no connect could be started. */
static struct hms_upconn *open_conn(struct hms_pool *p, struct hms_upcall *uc, int i, const char *key, char *why,
                                    size_t whylen)
{
    struct hms_upconn *c = calloc(1, sizeof *c);
    if (!c || !(c->key = strdup(key))) {
        free(c);
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    c->pool = p;
    c->uri = i;
    snprintf(c->addr, sizeof c->addr, "%s", uc->target->addrs[i]);
    c->proto = uc->proto;
    c->framed = uc->framed;
    c->sess = uc->id.sess ? uc->id.sess->id : 0;
    int rc = -1;
    switch (fr_resolve_start(&c->rq, uc->target->addrs[i], &p->resolved)) {
    case FR_RESOLVE_DONE:
        rc = hu_connect(c, why, whylen);
        break;
    case FR_RESOLVE_PENDING:
        c->resolving = true; /* on_resolved connects it */
        rc = 0;
        break;
    default:
        snprintf(why, whylen, "cannot resolve it: %s", c->rq.why);
        break;
    }
    if (rc < 0) {
        free(c->key);
        free(c);
        return NULL;
    }
    c->state = HU_CONNECTING; /* the first state: not a move */
    hu_count(p, HU_CONNECTING, 1);
    c->next = p->conns;
    if (p->conns)
        p->conns->prev = c;
    p->conns = c;
    /* The idle timer doubles as the connect and set-up timer. */
    ev_init(&c->idle, on_idle);
    c->idle.data = c;
    ev_timer_set(&c->idle, p->lim.connect_timeout, p->lim.idle_timeout);
    ev_timer_start(p->loop, &c->idle);
    return c;
}

/*
 * Puts the call (msg/len; held in *own when own is not NULL, which is
 * taken) on a connection to the next URI of its target not tried yet.
 * 0, or -1 when none is left (uc->why says what each did). Never runs
 * done() and never writes to a socket: what it queues on an open
 * connection goes out from the loop (conn_kick).
 */
static int place(struct hms_pool *p, struct hms_upcall *uc, const uint8_t *msg, size_t len, struct buf *own)
{
    struct hms_target *t = uc->target;
    char key[HU_KEY_MAX], why[200];
    while (uc->tried < (int)t->n) {
        int i = (uc->start + uc->tried) % (int)t->n;
        if (uc->tried++ > 0)
            atomic_fetch_add(&t->failovers, 1);
        if (!make_key(key, sizeof key, t->addrs[i], &uc->id, uc->proto, uc->framed)) {
            note_why(uc, t->addrs[i], "the user's name and groups are too long for a pool key");
            continue;
        }
        struct hms_upconn *c = find_idle(p, key);
        bool fresh = !c;
        if (!c && !(c = open_conn(p, uc, i, key, why, sizeof why))) {
            note_why(uc, t->addrs[i], why);
            continue;
        }
        /* A new connection writes its set-up once connected (on_connected);
         * an idle one replays the session changes it lacks first. */
        int n = fresh ? 0 : queue_setup(c, uc, false);
        bool wait = fresh || n > 0;
        int rc = n < 0 ? -1
                 : !wait ? put_message(c, msg, len)
                 : own ? 0
                       : buf_append(&c->pending, msg, len);
        if (rc < 0) {
            hu_close(c, "out of memory"); /* no call on it yet: nothing runs */
            snprintf(uc->why, sizeof uc->why, "out of memory");
            break;
        }
        if (wait && own) {
            c->pending = *own;
            *own = (struct buf)BUF_INIT;
        }
        c->call = uc;
        uc->conn = c;
        if (!fresh) {
            ev_timer_stop(p->loop, &c->idle);
            c->uri = i;
            c->setup_left = n;
            if (n) {
                /* Session changes to replay first, under the set-up timer. */
                hu_move(c, HU_SETUP);
                tw_scan_init(&c->scan, c->proto, NULL);
                ev_timer_set(&c->idle, p->lim.connect_timeout, p->lim.idle_timeout);
                ev_timer_start(p->loop, &c->idle);
            } else {
                start_call_io(c); /* `pending` is empty: cannot fail */
            }
            conn_kick(&c->conn);
        }
        if (own)
            buf_free(own);
        return 0;
    }
    if (own)
        buf_free(own);
    return -1;
}

int hms_up_send(struct hms_pool *p, struct hms_target *t, const struct hms_ident *id, enum tw_proto proto,
                bool framed, const uint8_t *msg, size_t len, struct hms_upcall *uc, char *why, size_t whylen)
{
    uc->pool = p;
    uc->conn = NULL;
    uc->target = t;
    uc->id = *id;
    uc->proto = proto;
    uc->framed = framed;
    uc->start = t->n ? atomic_load(&t->active) % (int)t->n : 0;
    uc->tried = 0;
    uc->why[0] = 0;
    ev_init(&uc->tmo, on_call_timeout);
    uc->tmo.data = uc;
    tmo_restart(p, uc);
    if (place(p, uc, msg, len, NULL) == 0)
        return 0;
    ev_timer_stop(p->loop, &uc->tmo);
    snprintf(why, whylen, "%s", uc->why[0] ? uc->why : "no address");
    return -1;
}

void hms_up_resume(struct hms_upcall *uc)
{
    struct hms_upconn *c = uc->conn;
    if (!c || !c->paused)
        return;
    c->paused = false;
    tmo_restart(c->pool, uc);
    hu_want_read(c, true);
    /* The bytes already read go on from the loop, not from here. */
    conn_kick(&c->conn);
}

void hms_up_cancel(struct hms_upcall *uc)
{
    if (uc->pool)
        ev_timer_stop(uc->pool->loop, &uc->tmo); /* also a oneway's done() still to come */
    struct hms_upconn *c = uc->conn;
    if (!c)
        return;
    c->call = NULL;
    uc->conn = NULL;
    hu_close(c, NULL); /* the reply would be out of step */
}
