/*
 * bench_conn.c: one fedrouter-bench worker thread.
 *
 * A worker owns a libev loop and its share of the connections. Each
 * connection is a closed loop:
 *
 *   IDLE --connect()--> CONNECTING --writable, SO_ERROR 0--> READY
 *     ^                      |                                 |
 *     +--- retry timer <-----+------ failure (see conn_fail) --+
 *
 * On READY it queues the preamble (auth NONE), the connection context and
 * `depth` calls; every reply frees its slot and queues the next call. Output
 * is only appended to c->out while events are handled; the prepare watcher
 * (run when the loop has handled everything ready, just before it polls)
 * writes out each connection with pending bytes, so replies that arrive
 * together are answered by one write.
 *
 * create+complete+delete chains three calls in one slot: the reply to the
 * create (its fileId) queues the complete, the complete's the delete, and
 * only the delete's reply ends the op (one op, one latency from the create).
 * An ERROR reply, or a complete/delete that answers false, abandons the op
 * and the slot starts a new one on a new name.
 *
 * The metastore ops (get_table, get_partitions_by_names) skip the preamble
 * and keep one Thrift call in flight (depth is 1): its seqid counts from 1 per
 * TCP connection, and a resumable scan (thrift_walk's tw_scan) finds where
 * each unframed reply ends. bench_hms.c encodes the calls and judges the
 * replies: an exception reply is an error and the loop goes on; a reply with
 * the wrong seqid or method, or bytes that are not binary Thrift, close the
 * connection as below.
 *
 * Errors: an ERROR reply counts one error and the loop goes on; a FATAL reply,
 * an unknown call id, a malformed or oversized frame, EOF, a socket error or
 * 10 s without progress close the connection, count one error per call lost
 * (at least one) and reconnect after a back-off (10 ms doubling to 1 s).
 */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "ipc.h"
#include "pbwire.h"
#include "sasl_layer.h"
#include "sec_layer.h"
#include "thrift_walk.h"

#define READ_CHUNK (64u * 1024)
#define BACKOFF_MIN 0.01
#define BACKOFF_MAX 1.0

/* Where a create+complete+delete op stands: the call outstanding. */
enum ccd_phase { PH_CREATE, PH_COMPLETE, PH_DELETE };

/* One outstanding call (for create+complete+delete: one op in progress). */
struct slot {
    int32_t call_id;
    bool busy;
    enum ccd_phase phase; /* create+complete+delete only */
    uint64_t seq;         /* mkdirs/create/ccd: the name's number */
    uint64_t fileid;      /* ccd: from the create reply, 0 if none */
    uint64_t t_send;      /* ns, when the op's first call was queued */
};

enum conn_state { C_IDLE, C_CONNECTING, C_READY };

struct conn {
    struct worker *w;
    unsigned gid; /* run-wide index: names mkdirs/create targets */
    int fd;       /* -1 unless CONNECTING/READY */
    enum conn_state state;
    ev_io rio, wio;
    ev_timer retry; /* reconnect after a failure */
    ev_timer pace;  /* --rate: the next op's start time */
    uint64_t due;   /* --rate: ns, when the next op is due */
    bool held;      /* --rate: that op waits for a slot (timed from due) */
    double backoff; /* next retry delay, s */
    struct buf in, out;
    uint8_t client_id[IPC_CLIENT_ID_LEN]; /* new for every TCP connection */
    int32_t next_call_id;                 /* restarts at 0 (metastore: 1) per TCP connection */
    uint64_t seq;                         /* name counter; survives reconnects */
    unsigned outstanding;                 /* busy slots */
    struct slot *slots;                   /* cfg->depth of them */
    struct tw_scan *scan;                 /* metastore ops: the reply being received */
    struct sec_layer *sasl;               /* --kerberos: the security layer, NULL at ssf 0 */
    struct buf plain;                     /* --kerberos: unwrapped reply bytes */
    uint64_t last_progress;               /* ns: connect start, connect, or last reply */
    bool dirty;                           /* on w->dirty */
    struct conn *next_dirty;
};

static void conn_start(struct conn *c);
static void conn_fail(struct conn *c, const char *why, unsigned counted);

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Keeps the first error message of the worker for the report. */
__attribute__((format(printf, 2, 3))) static void note_error(struct worker *w, const char *fmt, ...)
{
    if (w->first_error[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->first_error, sizeof w->first_error, fmt, ap);
    va_end(ap);
}

/* Notes an ERROR/FATAL reply: kind, exception class, first line of the message. */
static void note_reply(struct worker *w, const char *kind, const struct ipc_reply *r)
{
    char cls[160], msg[96];
    if (w->first_error[0])
        return;
    ipc_span_copy(r->exception_class, cls, sizeof cls);
    ipc_span_copy(r->error_msg, msg, sizeof msg);
    char *nl = strchr(msg, '\n');
    if (nl)
        *nl = 0;
    note_error(w, "%s reply (call id %d): %s: %s", kind, (int)r->call_id, cls, msg);
}

static void mark_dirty(struct conn *c)
{
    if (c->dirty)
        return;
    c->dirty = true;
    c->next_dirty = c->w->dirty;
    c->w->dirty = c;
}

static const char client_name[] = "fedrouter-bench";

/* CreateRequestProto fields after src (shared by create and ccd). */
static size_t pack_create_rest(uint8_t *p)
{
    uint8_t perm[8];
    size_t n = 0, pl = pb_put_varint_field(perm, 1, 0644);
    n += pb_put_bytes_field(p + n, 2, perm, pl); /* masked */
    n += pb_put_bytes_field(p + n, 3, client_name, sizeof client_name - 1);
    n += pb_put_varint_field(p + n, 4, 1);            /* createFlag CREATE */
    n += pb_put_varint_field(p + n, 5, 1);            /* createParent */
    n += pb_put_varint_field(p + n, 6, 1);            /* replication */
    n += pb_put_varint_field(p + n, 7, 128ull << 20); /* blockSize */
    return n;
}

/* Packs the request message of slot s's next call into p (room for
 * BENCH_MAX_PATH + 256 bytes); sets *method. Returns the length. */
static size_t pack_request(struct conn *c, const struct slot *s, uint8_t *p, const char **method)
{
    const struct bench_cfg *cfg = c->w->cfg;
    char name[BENCH_MAX_PATH + 64];
    const char *src = cfg->path;
    size_t n = 0, sl;
    if (cfg->op == OP_MKDIRS || cfg->op == OP_CREATE || cfg->op == OP_CCD) {
        const char *sep = strcmp(cfg->path, "/") == 0 ? "" : "/";
        snprintf(name, sizeof name, "%s%sbench-%u-%llu", cfg->path, sep, c->gid, (unsigned long long)s->seq);
        src = name;
    }
    sl = strlen(src);
    n += pb_put_bytes_field(p + n, 1, src, sl); /* src */
    switch (cfg->op) {
    case OP_GETFILEINFO: *method = "getFileInfo"; break;
    case OP_GETLISTING:
        *method = "getListing";
        n += pb_put_bytes_field(p + n, 2, "", 0); /* startAfter */
        n += pb_put_varint_field(p + n, 3, 0);    /* needLocation */
        break;
    case OP_MKDIRS: {
        uint8_t perm[8];
        size_t pl = pb_put_varint_field(perm, 1, 0755);
        *method = "mkdirs";
        n += pb_put_bytes_field(p + n, 2, perm, pl); /* masked */
        n += pb_put_varint_field(p + n, 3, 1);       /* createParent */
        break;
    }
    case OP_CREATE:
        *method = "create";
        n += pack_create_rest(p + n);
        break;
    case OP_CCD:
        switch (s->phase) {
        case PH_CREATE:
            *method = "create";
            n += pack_create_rest(p + n);
            break;
        case PH_COMPLETE:
            *method = "complete";
            n += pb_put_bytes_field(p + n, 2, client_name, sizeof client_name - 1); /* clientName */
            if (s->fileid)
                n += pb_put_varint_field(p + n, 4, s->fileid); /* fileId */
            break;
        case PH_DELETE:
            *method = "delete";
            n += pb_put_varint_field(p + n, 2, 0); /* recursive */
            break;
        }
        break;
    case OP_GET_TABLE:
    case OP_GET_PARTS_BY_NAMES: break; /* Thrift: bench_hms.c */
    }
    return n;
}

/* Queues the next call of slot s: with fresh set, the first call of a new
 * op (a new name for the write ops, the latency clock restarts); otherwise
 * the next step of the create+complete+delete op in progress. Returns 0, or
 * -1 when out of memory. */
static int issue_call_at(struct conn *c, struct slot *s, bool fresh, uint64_t start)
{
    uint8_t param[BENCH_MAX_PATH + 256];
    const char *method = "";
    if (fresh) {
        s->phase = PH_CREATE;
        s->fileid = 0;
        s->seq = c->seq++;
    }
    if (op_is_hms(c->w->cfg->op)) {
        if (hms_write_call(&c->out, c->w->cfg, c->next_call_id) != 0)
            return -1;
    } else {
        size_t plen = pack_request(c, s, param, &method);
        struct ipc_ids ids = { c->next_call_id, 0, c->client_id, IPC_CLIENT_ID_LEN };
        if (ipc_write_call_raw(&c->out, &ids, method, IPC_CLIENT_PROTOCOL, param, plen) != IPC_OK)
            return -1;
    }
    s->call_id = c->next_call_id;
    c->next_call_id = c->next_call_id == INT32_MAX ? 0 : c->next_call_id + 1;
    s->busy = true;
    if (fresh)
        s->t_send = start ? start : bench_now_ns();
    c->outstanding++;
    mark_dirty(c);
    return 0;
}

static int issue_call(struct conn *c, struct slot *s, bool fresh) { return issue_call_at(c, s, fresh, 0); }

/* ns between two ops of one connection under --rate. */
static uint64_t pace_interval(const struct bench_cfg *cfg) { return (uint64_t)((double)cfg->conns * 1e9 / cfg->rate); }

/*
 * --rate: starts every op that is due, in free slots, and arms the timer for
 * the next one. An op that was due while every slot was busy is timed from
 * when it was due, not from when a slot came free for it: a target that
 * falls behind shows its backlog in the figures instead of slowing the load
 * down (no coordinated omission). An op started by its timer is timed from
 * now: the loop's timers fire up to a millisecond late (epoll's
 * granularity), which is the load generator's delay, not the target's.
 * Returns 0, or -1 when out of memory.
 */
static int pace(struct conn *c)
{
    struct worker *w = c->w;
    uint64_t now = bench_now_ns();
    ev_timer_stop(w->loop, &c->pace);
    while (c->due <= now) {
        struct slot *s = NULL;
        for (unsigned i = 0; i < w->cfg->depth && !s; i++)
            if (!c->slots[i].busy)
                s = &c->slots[i];
        if (!s) {
            c->held = true; /* the next free slot starts it, late */
            return 0;
        }
        if (issue_call_at(c, s, true, c->held ? c->due : now) < 0)
            return -1;
        c->held = false;
        c->due += pace_interval(w->cfg);
    }
    ev_timer_set(&c->pace, (double)(c->due - now) / 1e9, 0);
    ev_timer_start(w->loop, &c->pace);
    return 0;
}

static void on_pace(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct conn *c = t->data;
    if (c->state == C_READY && pace(c) < 0)
        conn_fail(c, "out of memory", 0);
}

/* Closes the connection and schedules a reconnect. counted: errors already
 * counted for this failure (e.g. the FATAL call); every call still
 * outstanding counts one more, and a failure costs at least one error. */
static void conn_fail(struct conn *c, const char *why, unsigned counted)
{
    struct worker *w = c->w;
    unsigned lost = c->outstanding;
    if (counted + lost == 0)
        lost = 1;
    w->errors += lost;
    w->conn_failures++;
    note_error(w, "connection: %s", why);
    ev_timer_stop(w->loop, &c->pace);
    ev_io_stop(w->loop, &c->rio);
    ev_io_stop(w->loop, &c->wio);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->state = C_IDLE;
    bench_krb_free(&c->sasl);
    buf_reset(&c->plain);
    buf_reset(&c->in);
    buf_reset(&c->out);
    for (unsigned i = 0; i < w->cfg->depth; i++)
        c->slots[i].busy = false;
    c->outstanding = 0;
    if (c->scan)
        tw_scan_init(c->scan, TW_BINARY, NULL);
    ev_timer_set(&c->retry, c->backoff, 0);
    ev_timer_start(w->loop, &c->retry);
    c->backoff = c->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : c->backoff * 2;
}

/* Writes out c->out; waits for writability when the socket is full. */
static void conn_flush(struct conn *c)
{
    while (buf_len(&c->out)) {
        ssize_t n = write(c->fd, buf_rptr(&c->out), buf_len(&c->out));
        if (n > 0) {
            buf_consume(&c->out, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ev_io_start(c->w->loop, &c->wio);
            return;
        }
        conn_fail(c, n < 0 ? strerror(errno) : "write returned 0", 0);
        return;
    }
    ev_io_stop(c->w->loop, &c->wio);
}

static void on_connected(struct conn *c)
{
    struct worker *w = c->w;
    w->connects++;
    atomic_store(&w->shared->ever_connected, 1);
    c->state = C_READY;
    c->last_progress = bench_now_ns();
    ipc_new_client_id(c->client_id);
    c->next_call_id = op_is_hms(w->cfg->op) ? 1 : 0;
    /* A kerberized connection sent its preamble during the handshake. */
    if (!op_is_hms(w->cfg->op) &&
        ((!w->cfg->krb_service && ipc_write_preamble(&c->out, IPC_AUTH_NONE) != IPC_OK) ||
         ipc_write_context(&c->out, c->client_id, w->cfg->user, NULL, IPC_CLIENT_PROTOCOL) != IPC_OK)) {
        conn_fail(c, "cannot build the connection context", 0);
        return;
    }
    if (w->cfg->rate > 0) {
        /* Connections start a slice of an interval apart, so the ops of the
         * whole run are evenly spaced. */
        c->due = c->last_progress + (uint64_t)((double)c->gid * 1e9 / w->cfg->rate);
        c->held = false;
        if (pace(c) < 0) {
            conn_fail(c, "out of memory", 0);
            return;
        }
    }
    for (unsigned i = 0; i < w->cfg->depth && w->cfg->rate <= 0; i++) {
        if (issue_call(c, &c->slots[i], true) < 0) {
            conn_fail(c, "out of memory", 0);
            return;
        }
    }
    ev_io_start(w->loop, &c->rio);
    mark_dirty(c);
}

/* CreateResponseProto { optional HdfsFileStatusProto fs = 1 }: the file's
 * fileId (HdfsFileStatusProto field 13), or 0 when absent or unreadable. */
static uint64_t create_reply_fileid(const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    struct pb_field f;
    while (pb_next_field(&p, end, &f) == 1) {
        if (f.num != 1 || f.type != PB_LEN)
            continue;
        const uint8_t *q = f.data, *qend = f.data + f.len;
        struct pb_field g;
        while (pb_next_field(&q, qend, &g) == 1)
            if (g.num == 13 && g.type == PB_VARINT)
                return g.varint;
    }
    return 0;
}

/* The `bool result = 1` of CompleteResponseProto / DeleteResponseProto. */
static bool reply_bool(const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    struct pb_field f;
    while (pb_next_field(&p, end, &f) == 1)
        if (f.num == 1 && f.type == PB_VARINT)
            return f.varint != 0;
    return false;
}

/* Handles one reply frame. Returns 0, or -1 after conn_fail. */
static int handle_reply(struct conn *c, const uint8_t *body, uint32_t len, uint64_t now)
{
    struct worker *w = c->w;
    struct ipc_reply r;
    int rc = ipc_parse_reply(body, len, &r);
    if (rc != IPC_OK) {
        conn_fail(c, ipc_strerror(rc), 0);
        return -1;
    }
    struct slot *s = NULL;
    for (unsigned i = 0; i < w->cfg->depth; i++) {
        if (c->slots[i].busy && c->slots[i].call_id == r.call_id) {
            s = &c->slots[i];
            break;
        }
    }
    if (!s) {
        /* FATAL replies to the connection itself use call id -1. */
        if (r.status == IPC_FATAL) {
            note_reply(w, "FATAL", &r);
            conn_fail(c, "FATAL reply to the connection", 0);
        } else {
            conn_fail(c, "reply with an unknown call id", 0);
        }
        return -1;
    }
    s->busy = false;
    c->outstanding--;
    c->last_progress = now;
    w->replies++;
    bool fresh = true;
    switch (r.status) {
    case IPC_SUCCESS:
        c->backoff = BACKOFF_MIN;
        if (w->cfg->op == OP_CCD && s->phase != PH_DELETE) {
            if (s->phase == PH_CREATE) {
                s->fileid = create_reply_fileid(r.payload.p, r.payload.len);
                s->phase = PH_COMPLETE;
            } else if (reply_bool(r.payload.p, r.payload.len)) {
                s->phase = PH_DELETE;
            } else {
                /* Not completed (it should be: it has no blocks): an error;
                 * the file stays and the slot starts a new op. */
                w->errors++;
                note_error(w, "complete returned false");
                break;
            }
            fresh = false;
            break;
        }
        if (w->cfg->op == OP_CCD && !reply_bool(r.payload.p, r.payload.len)) {
            w->errors++;
            note_error(w, "delete returned false");
            break;
        }
        if (now >= w->cfg->win_begin_ns && now < w->cfg->win_end_ns) {
            hist_record(&w->hist, now - s->t_send);
            w->ops++;
        }
        break;
    case IPC_ERROR:
        w->errors++;
        w->error_replies++;
        note_reply(w, "ERROR", &r);
        break;
    case IPC_FATAL:
        w->errors++;
        note_reply(w, "FATAL", &r);
        conn_fail(c, "FATAL reply", 1);
        return -1;
    }
    if ((w->cfg->rate > 0 && fresh ? pace(c) : issue_call(c, s, fresh)) < 0) {
        conn_fail(c, "out of memory", 0);
        return -1;
    }
    return 0;
}

/* Handles one whole metastore reply (msg/len). Returns 0, or -1 after conn_fail. */
static int handle_hms_reply(struct conn *c, const uint8_t *msg, size_t len, uint64_t now)
{
    struct worker *w = c->w;
    struct slot *s = &c->slots[0];
    char why[256];
    if (!s->busy) {
        conn_fail(c, "a reply with no call outstanding", 0);
        return -1;
    }
    switch (hms_check_reply(w->cfg, msg, len, s->call_id, why, sizeof why)) {
    case HMS_BROKEN: conn_fail(c, why, 0); return -1;
    case HMS_ERROR_REPLY:
        w->errors++;
        w->error_replies++;
        note_error(w, "%s", why);
        break;
    case HMS_OK:
        c->backoff = BACKOFF_MIN;
        if (now >= w->cfg->win_begin_ns && now < w->cfg->win_end_ns) {
            hist_record(&w->hist, now - s->t_send);
            w->ops++;
        }
        break;
    }
    s->busy = false;
    c->outstanding--;
    c->last_progress = now;
    w->replies++;
    if ((w->cfg->rate > 0 ? pace(c) : issue_call(c, s, true)) < 0) {
        conn_fail(c, "out of memory", 0);
        return -1;
    }
    return 0;
}

/* Cuts and handles the metastore replies in c->in. Returns 0, or -1 after conn_fail. */
static int read_hms_replies(struct conn *c, uint64_t now)
{
    for (;;) {
        size_t mlen;
        int rc = tw_scan_feed(c->scan, buf_rptr(&c->in), buf_len(&c->in), &mlen);
        if (rc == TW_NEED_MORE)
            return 0;
        if (rc < 0) {
            char why[128];
            bool http = buf_len(&c->in) >= 5 && memcmp(buf_rptr(&c->in), "HTTP/", 5) == 0;
            snprintf(why, sizeof why, "%s%s",
                     http ? "the server answered in HTTP, not Thrift: " : "bad reply: ", tw_strerror(rc));
            conn_fail(c, why, 0);
            return -1;
        }
        tw_scan_init(c->scan, TW_BINARY, NULL);
        if (handle_hms_reply(c, buf_rptr(&c->in), mlen, now) < 0)
            return -1;
        buf_consume(&c->in, mlen);
    }
}

static void on_read(struct ev_loop *loop, ev_io *io, int revents)
{
    struct conn *c = io->data;
    for (;;) {
        if (buf_reserve(&c->in, READ_CHUNK) < 0) {
            conn_fail(c, "out of memory", 0);
            return;
        }
        size_t room = buf_room(&c->in);
        ssize_t n = read(c->fd, buf_wptr(&c->in), room);
        if (n > 0) {
            buf_commit(&c->in, (size_t)n);
            if ((size_t)n == room)
                continue;
            break;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        conn_fail(c, n == 0 ? "closed by the server" : strerror(errno), 0);
        return;
    }
    uint64_t now = bench_now_ns();
    if (c->scan) {
        read_hms_replies(c, now);
        return;
    }
    /* At integrity or privacy every reply arrives in a WRAP frame. */
    struct buf *src = &c->in;
    if (c->sasl) {
        char why[200];
        if (sasl_layer_unwrap(c->sasl, SASL_LAYER_CLIENT, &c->in, &c->plain, IPC_MAX_FRAME_DEFAULT, why, sizeof why) <
            0) {
            conn_fail(c, why, 0);
            return;
        }
        src = &c->plain;
    }
    for (;;) {
        const uint8_t *body;
        uint32_t blen;
        size_t flen;
        int rc = ipc_frame_cut(buf_rptr(src), buf_len(src), IPC_MAX_FRAME_DEFAULT, &body, &blen, &flen);
        if (rc == IPC_AGAIN)
            break;
        if (rc != IPC_OK) {
            bool http = buf_len(src) >= 5 && memcmp(buf_rptr(src), "HTTP/", 5) == 0;
            conn_fail(c, http ? "the server answered in HTTP, not Hadoop IPC" : "reply frame over 128 MiB", 0);
            return;
        }
        if (handle_reply(c, body, blen, now) < 0)
            return;
        buf_consume(src, flen);
    }
}

static void on_write(struct ev_loop *loop, ev_io *io, int revents)
{
    struct conn *c = io->data;
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
            err = errno;
        if (err) {
            conn_fail(c, strerror(err), 0);
            return;
        }
        ev_io_stop(loop, &c->wio);
        on_connected(c);
        return;
    }
    conn_flush(c);
}

static void on_retry(struct ev_loop *loop, ev_timer *t, int revents) { conn_start(t->data); }

/* --kerberos: connect and authenticate on a blocking socket, then hand the
 * connection to the loop. */
static void conn_start_krb(struct conn *c)
{
    const struct bench_cfg *cfg = c->w->cfg;
    char why[256];
    unsigned ssf = 0;
    int fd = socket(cfg->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        conn_fail(c, strerror(errno), 0);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    if (connect(fd, (const struct sockaddr *)&cfg->addr, cfg->addrlen) < 0) {
        conn_fail(c, strerror(errno), 0);
        return;
    }
    if (bench_krb_handshake(fd, cfg->krb_service, cfg->krb_host, &c->sasl, &ssf, why, sizeof why) < 0) {
        conn_fail(c, why, 0);
        return;
    }
    if (ssf == 0)
        bench_krb_free(&c->sasl); /* authentication only: replies come plain */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    ev_io_set(&c->rio, fd, EV_READ);
    ev_io_set(&c->wio, fd, EV_WRITE);
    on_connected(c);
}

static void conn_start(struct conn *c)
{
    const struct bench_cfg *cfg = c->w->cfg;
    c->last_progress = bench_now_ns();
    if (cfg->krb_service) {
        conn_start_krb(c);
        return;
    }
    int fd = socket(cfg->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        conn_fail(c, strerror(errno), 0);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    ev_io_set(&c->rio, fd, EV_READ);
    ev_io_set(&c->wio, fd, EV_WRITE);
    if (connect(fd, (const struct sockaddr *)&cfg->addr, cfg->addrlen) == 0) {
        on_connected(c);
        return;
    }
    if (errno != EINPROGRESS) {
        conn_fail(c, strerror(errno), 0);
        return;
    }
    c->state = C_CONNECTING;
    ev_io_start(c->w->loop, &c->wio);
}

/* Before the loop polls: write out everything queued in this iteration. */
static void on_prepare(struct ev_loop *loop, ev_prepare *p, int revents)
{
    struct worker *w = p->data;
    while (w->dirty) {
        struct conn *c = w->dirty;
        w->dirty = c->next_dirty;
        c->dirty = false;
        c->next_dirty = NULL;
        if (c->state == C_READY && buf_len(&c->out))
            conn_flush(c);
    }
}

/* Once a second: give up on connections that made no progress for 10 s. */
static void on_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;
    uint64_t now = bench_now_ns();
    for (unsigned i = 0; i < w->nconns; i++) {
        struct conn *c = &w->conns[i];
        bool waiting = c->state == C_CONNECTING || (c->state == C_READY && c->outstanding);
        if (waiting && now - c->last_progress > BENCH_CALL_TIMEOUT_NS)
            conn_fail(c, c->state == C_CONNECTING ? "connect timed out" : "no reply for 10 s", 0);
    }
}

static void on_stop(struct ev_loop *loop, ev_timer *t, int revents) { ev_break(loop, EVBREAK_ALL); }

void *worker_main(void *arg)
{
    struct worker *w = arg;
    const struct bench_cfg *cfg = w->cfg;
    ev_prepare prep;
    ev_timer tick, stop;

    w->loop = ev_loop_new(EVFLAG_AUTO);
    w->nconns = (cfg->conns - w->id + cfg->threads - 1) / cfg->threads;
    w->conns = calloc(w->nconns ? w->nconns : 1, sizeof *w->conns);
    if (!w->loop || !w->conns) {
        snprintf(w->setup_error, sizeof w->setup_error, "worker %u: cannot create its loop", w->id);
        free(w->conns);
        if (w->loop)
            ev_loop_destroy(w->loop);
        return NULL;
    }
    for (unsigned i = 0; i < w->nconns; i++)
        w->conns[i].fd = -1;
    for (unsigned i = 0; i < w->nconns; i++) {
        struct conn *c = &w->conns[i];
        c->w = w;
        c->gid = w->id + i * cfg->threads;
        c->backoff = BACKOFF_MIN;
        c->slots = calloc(cfg->depth, sizeof *c->slots);
        if (op_is_hms(cfg->op)) {
            c->scan = malloc(sizeof *c->scan);
            if (c->scan)
                tw_scan_init(c->scan, TW_BINARY, NULL);
        }
        if (!c->slots || (op_is_hms(cfg->op) && !c->scan)) {
            snprintf(w->setup_error, sizeof w->setup_error, "worker %u: out of memory", w->id);
            break;
        }
        ev_io_init(&c->rio, on_read, -1, EV_READ);
        ev_io_init(&c->wio, on_write, -1, EV_WRITE);
        ev_timer_init(&c->retry, on_retry, 0, 0);
        ev_timer_init(&c->pace, on_pace, 0, 0);
        c->rio.data = c->wio.data = c->retry.data = c->pace.data = c;
    }
    if (!w->setup_error[0]) {
        ev_prepare_init(&prep, on_prepare);
        prep.data = w;
        ev_prepare_start(w->loop, &prep);
        ev_timer_init(&tick, on_tick, 1, 1);
        tick.data = w;
        ev_timer_start(w->loop, &tick);
        uint64_t now = bench_now_ns();
        double left = cfg->win_end_ns > now ? (double)(cfg->win_end_ns - now) / 1e9 : 0;
        ev_now_update(w->loop);
        ev_timer_init(&stop, on_stop, left, 0);
        ev_timer_start(w->loop, &stop);
        for (unsigned i = 0; i < w->nconns; i++)
            conn_start(&w->conns[i]);
        ev_run(w->loop, 0);
    }
    for (unsigned i = 0; i < w->nconns; i++) {
        struct conn *c = &w->conns[i];
        if (c->fd >= 0)
            close(c->fd);
        bench_krb_free(&c->sasl);
        buf_free(&c->plain);
        buf_free(&c->in);
        buf_free(&c->out);
        free(c->slots);
        free(c->scan);
    }
    free(w->conns);
    w->conns = NULL;
    ev_loop_destroy(w->loop);
    w->loop = NULL;
    return NULL;
}
