/*
 * audit.c: the audit logs (see audit.h).
 *
 * The queue of one log is a ring of AUDIT_QUEUE_LINES slots, each with a
 * sequence number (a bounded multi-producer queue after Dmitry Vyukov's):
 *
 *   slot i free for the producer at position p:   seq == p
 *   filled (the writer may take it):               seq == p + 1
 *   taken, free for position p + cap:              seq == p + cap
 *
 * A producer claims position `head` with one compare-and-swap and fills the
 * slot; a full ring (the slot still holds the line of p - cap) drops the
 * line. The writer alone moves `tail`. It takes what the rings hold every
 * AUDIT_FLUSH_MS, in one write(2) per batch, so that a worker makes no
 * system call for a line; a worker wakes it early (an eventfd) only when
 * its line is a quarter of a ring past the last such wake-up, which at
 * any rate the router reaches leaves the ring far from full.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "clock.h"
#include "hdfs_conn.h"
#include "hms_conn.h"
#include "hms_rules.h"
#include "jexc.h"
#include "log.h"
#include "methods.h"
#include "metrics.h"
#include "pbrewrite.h"
#include "pbwire.h"

/* One line as a worker hands it over: the text after the log's prefix. */
struct aline {
    int64_t ms;     /* wall clock when the call was answered */
    size_t len;
    char text[];
};

struct slot {
    _Atomic size_t seq;
    struct aline *line;
};

struct alog {
    const char *prefix;               /* " INFO FSNamesystem.audit: " */
    const char *name;                 /* "hdfs", for metrics */
    _Atomic bool on;
    _Atomic bool reopen;              /* the writer opens path again */
    pthread_mutex_t mu;               /* guards path */
    char path[4096];
    int fd;                           /* the writer's; -1 when closed */
    bool open_failed;                 /* the last open failed (logged once until one succeeds) */
    struct slot *ring;                /* set once, before has_ring; freed by audit_stop */
    _Atomic bool has_ring;
    _Atomic size_t head;              /* next position a producer claims */
    size_t tail;                      /* next position the writer takes (writer only) */
    _Atomic uint64_t lines, dropped_full, dropped_write;
};

static struct alog logs[AUDIT_NLOGS] = {
    [AUDIT_HDFS] = { .prefix = " INFO FSNamesystem.audit: ", .name = "hdfs", .mu = PTHREAD_MUTEX_INITIALIZER,
                     .fd = -1 },
    [AUDIT_HMS] = { .prefix = " INFO HiveMetaStore.audit: ", .name = "hms", .mu = PTHREAD_MUTEX_INITIALIZER,
                    .fd = -1 },
};

static struct {
    pthread_mutex_t mu; /* guards started (the thread's start and stop) */
    _Atomic bool started;
    pthread_t thread;
    int efd;
    _Atomic bool stop;
} W = { .mu = PTHREAD_MUTEX_INITIALIZER, .efd = -1 };

#define MASK (AUDIT_QUEUE_LINES - 1)
_Static_assert((AUDIT_QUEUE_LINES & MASK) == 0, "AUDIT_QUEUE_LINES must be a power of two");

/* ---- the queue ---- */

static void wake_writer(void);

static bool q_push(struct alog *l, struct aline *line)
{
    size_t pos = atomic_load_explicit(&l->head, memory_order_relaxed);
    for (;;) {
        struct slot *s = &l->ring[pos & MASK];
        size_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)pos;
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&l->head, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                s->line = line;
                atomic_store_explicit(&s->seq, pos + 1, memory_order_release);
                if (((pos + 1) & (AUDIT_QUEUE_LINES / 4 - 1)) == 0)
                    wake_writer();
                return true;
            }
        } else if (dif < 0) {
            return false; /* the writer has not taken the line a whole ring back */
        } else {
            pos = atomic_load_explicit(&l->head, memory_order_relaxed);
        }
    }
}

/* The writer's side: the next line, or NULL when none is complete yet. */
static struct aline *q_pop(struct alog *l)
{
    struct slot *s = &l->ring[l->tail & MASK];
    if (atomic_load_explicit(&s->seq, memory_order_acquire) != l->tail + 1)
        return NULL;
    struct aline *line = s->line;
    s->line = NULL;
    atomic_store_explicit(&s->seq, l->tail + AUDIT_QUEUE_LINES, memory_order_release);
    l->tail++;
    return line;
}

static void wake_writer(void)
{
    uint64_t one = 1;
    if (W.efd >= 0 && write(W.efd, &one, sizeof one) < 0 && errno != EAGAIN)
        fr_warn("audit: cannot wake the writer: %s", strerror(errno));
}

/* A worker hands a line over; never blocks. */
static void push(struct alog *l, struct aline *line)
{
    if (!q_push(l, line)) {
        free(line);
        atomic_fetch_add_explicit(&l->dropped_full, 1, memory_order_relaxed);
    }
}

/* ---- the writer ---- */

static void open_file(struct alog *l)
{
    char path[sizeof l->path];
    pthread_mutex_lock(&l->mu);
    memcpy(path, l->path, sizeof path);
    pthread_mutex_unlock(&l->mu);
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    if (!path[0])
        return;
    l->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (l->fd < 0 && !l->open_failed)
        fr_error("audit.%s: cannot open %s: %s (its lines are dropped until a reopen succeeds)", l->name, path,
                 strerror(errno));
    l->open_failed = l->fd < 0;
}

/* Writes out[0..*n) to l's file; lines lost on an error are counted. */
static void flush(struct alog *l, char *out, size_t *n, uint64_t *nlines)
{
    size_t off = 0;
    while (l->fd >= 0 && off < *n) {
        ssize_t w = write(l->fd, out + off, *n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            FR_LOG_EVERY(1, 10000, FR_LOG_ERROR, NULL, "audit.%s: write failed: %s (lines dropped)", l->name,
                         w < 0 ? strerror(errno) : "no progress");
            break;
        }
        off += (size_t)w;
    }
    if (off < *n)
        atomic_fetch_add_explicit(&l->dropped_write, *nlines, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&l->lines, *nlines, memory_order_relaxed);
    *n = 0;
    *nlines = 0;
}

/* "2026-12-06 13:40:01,123" in local time, as log4j's ISO8601 layout. */
static size_t stamp(int64_t ms, char *p)
{
    static time_t last_sec = -1;
    static char last[32];
    time_t sec = (time_t)(ms / 1000);
    if (sec != last_sec) {
        struct tm tm;
        localtime_r(&sec, &tm);
        strftime(last, sizeof last, "%Y-%m-%d %H:%M:%S", &tm);
        last_sec = sec;
    }
    return (size_t)sprintf(p, "%s,%03d", last, (int)(ms % 1000));
}

#define OUT_CAP (256 * 1024)

/* Stamp, prefix, text and newline of line at p (room for 32 + plen +
 * line->len + 1 bytes); returns the bytes written. */
static size_t format_line(const struct alog *l, size_t plen, const struct aline *line, char *p)
{
    size_t n = stamp(line->ms, p);
    memcpy(p + n, l->prefix, plen);
    n += plen;
    memcpy(p + n, line->text, line->len);
    n += line->len;
    p[n++] = '\n';
    return n;
}

static void drain(struct alog *l, char *out)
{
    size_t n = 0;
    uint64_t nlines = 0;
    size_t plen = strlen(l->prefix);
    struct aline *line;
    while ((line = q_pop(l))) {
        size_t need = 32 + plen + line->len + 1;
        if (n + need > OUT_CAP)
            flush(l, out, &n, &nlines);
        if (need > OUT_CAP) { /* a line longer than the buffer: on its own */
            char *big = malloc(need);
            if (big) {
                size_t bn = format_line(l, plen, line, big);
                uint64_t one = 1;
                flush(l, big, &bn, &one);
                free(big);
            } else {
                atomic_fetch_add_explicit(&l->dropped_write, 1, memory_order_relaxed);
            }
            free(line);
            continue;
        }
        n += format_line(l, plen, line, out + n);
        nlines++;
        free(line);
    }
    if (n)
        flush(l, out, &n, &nlines);
}

static void *writer_main(void *arg)
{
    (void)arg;
    char *out = malloc(OUT_CAP);
    if (!out) {
        fr_error("audit: out of memory starting the writer: audit lines are dropped");
        return NULL;
    }
    for (;;) {
        bool stop = atomic_load(&W.stop);
        for (int i = 0; i < AUDIT_NLOGS; i++) {
            struct alog *l = &logs[i];
            if (!atomic_load(&l->has_ring))
                continue;
            bool re = atomic_exchange(&l->reopen, false);
            if (re && l->fd < 0) {
                open_file(l); /* first: lines queued before it opened go into it */
                re = false;
            }
            drain(l, out); /* lines of before a reopen go to the file they were meant for */
            if (re)
                open_file(l);
        }
        if (stop)
            break;
        struct pollfd p = { .fd = W.efd, .events = POLLIN };
        if (poll(&p, 1, AUDIT_FLUSH_MS) > 0) {
            uint64_t v;
            if (read(W.efd, &v, sizeof v) < 0 && errno != EAGAIN)
                fr_warn("audit: reading the wake-up counter: %s", strerror(errno));
        }
    }
    for (int i = 0; i < AUDIT_NLOGS; i++)
        if (logs[i].fd >= 0) {
            close(logs[i].fd);
            logs[i].fd = -1;
        }
    free(out);
    return NULL;
}

static int start_writer(char *why, size_t whylen)
{
    pthread_mutex_lock(&W.mu);
    int rc = 0;
    if (!W.started) {
        W.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (W.efd < 0 || pthread_create(&W.thread, NULL, writer_main, NULL) != 0) {
            snprintf(why, whylen, "audit: cannot start the writer thread: %s", strerror(errno));
            if (W.efd >= 0)
                close(W.efd);
            W.efd = -1;
            rc = -1;
        } else {
            W.started = true;
        }
    }
    pthread_mutex_unlock(&W.mu);
    return rc;
}

int audit_set_path(enum audit_log which, const char *path, char *why, size_t whylen)
{
    struct alog *l = &logs[which];
    const char *p = path ? path : "";
    pthread_mutex_lock(&l->mu);
    bool same = !strcmp(l->path, p);
    pthread_mutex_unlock(&l->mu);
    if (same)
        return 0;
    if (strlen(p) >= sizeof l->path) {
        snprintf(why, whylen, "audit.%s: the path is longer than %zu bytes", l->name, sizeof l->path - 1);
        return -1;
    }
    if (*p) {
        /* Said now, where the operator is looking, rather than by the writer. */
        int fd = open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0) {
            snprintf(why, whylen, "audit.%s: cannot open %s: %s", l->name, p, strerror(errno));
            return -1;
        }
        close(fd);
        if (!l->ring) {
            struct slot *ring = calloc(AUDIT_QUEUE_LINES, sizeof *ring);
            if (!ring) {
                snprintf(why, whylen, "audit.%s: out of memory", l->name);
                return -1;
            }
            for (size_t i = 0; i < AUDIT_QUEUE_LINES; i++)
                atomic_init(&ring[i].seq, i);
            l->ring = ring;
            atomic_store(&l->has_ring, true); /* the writer's and, through `on`, the workers' sign */
        }
        if (start_writer(why, whylen) < 0)
            return -1;
    }
    pthread_mutex_lock(&l->mu);
    snprintf(l->path, sizeof l->path, "%s", p);
    pthread_mutex_unlock(&l->mu);
    atomic_store(&l->reopen, true);
    atomic_store(&l->on, *p != 0);
    if (W.started)
        wake_writer();
    if (*p)
        fr_info("audit.%s: calls are logged to %s", l->name, p);
    else
        fr_info("audit.%s: off", l->name);
    return 0;
}

void audit_reopen(void)
{
    for (int i = 0; i < AUDIT_NLOGS; i++)
        if (atomic_load(&logs[i].on))
            atomic_store(&logs[i].reopen, true);
    if (W.started)
        wake_writer();
}

void audit_stop(void)
{
    pthread_mutex_lock(&W.mu);
    if (W.started) {
        atomic_store(&W.stop, true);
        wake_writer();
        /* A file that takes no more bytes (a pipe nobody reads, a hung
         * mount) must not keep the router from exiting: after 5 s the
         * writer is left behind, with its memory. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 5;
        if (pthread_timedjoin_np(W.thread, NULL, &until) != 0) {
            fr_warn("audit: the writer is stuck writing (lines still queued are lost)");
            pthread_mutex_unlock(&W.mu);
            return;
        }
        close(W.efd);
        W.efd = -1;
        W.started = false;
    }
    pthread_mutex_unlock(&W.mu);
    for (int i = 0; i < AUDIT_NLOGS; i++) {
        struct alog *l = &logs[i];
        atomic_store(&l->on, false);
        if (l->ring) {
            struct aline *line;
            while ((line = q_pop(l)))
                free(line);
            free(l->ring);
            l->ring = NULL;
            atomic_store(&l->has_ring, false);
        }
    }
}

bool audit_on(enum audit_log which)
{
    return atomic_load_explicit(&logs[which].on, memory_order_acquire); /* after it, the ring is there */
}

void audit_metrics(struct buf *out, void *arg)
{
    (void)arg;
    metrics_printf(out, "# TYPE fedrouter_audit_lines_total counter\n");
    for (int i = 0; i < AUDIT_NLOGS; i++)
        metrics_printf(out, "fedrouter_audit_lines_total{log=\"%s\"} %llu\n", logs[i].name,
                       (unsigned long long)atomic_load(&logs[i].lines));
    metrics_printf(out, "# TYPE fedrouter_audit_dropped_total counter\n");
    for (int i = 0; i < AUDIT_NLOGS; i++)
        metrics_printf(out,
                       "fedrouter_audit_dropped_total{log=\"%s\",reason=\"queue_full\"} %llu\n"
                       "fedrouter_audit_dropped_total{log=\"%s\",reason=\"write_error\"} %llu\n",
                       logs[i].name, (unsigned long long)atomic_load(&logs[i].dropped_full), logs[i].name,
                       (unsigned long long)atomic_load(&logs[i].dropped_write));
}

/* ---- one call's line ---- */

struct audit_call {
    const char *cmd;                  /* static: the NameNode's name for the method; NULL: the method's */
    char cmdbuf[48];                  /* rename2: "rename (options=[...])" */
    char *first, *second;             /* HDFS src, dst; metastore db, table (owned; NULL: none) */
    size_t ntargets;
    char targets[200];                /* "ns1,ns2": where subcalls went */
};

void audit_call_free(struct audit_call *a)
{
    if (!a)
        return;
    free(a->first);
    free(a->second);
    free(a);
}

void audit_add_target(struct audit_call *a, const char *name)
{
    if (!a || !name)
        return;
    size_t n = strlen(name);
    /* already listed? */
    for (const char *p = a->targets; *p;) {
        size_t k = strcspn(p, ",");
        if (k == n && !memcmp(p, name, n))
            return;
        p += k + (p[k] == ',');
    }
    if (a->ntargets + n + 2 > sizeof a->targets)
        return; /* more than fit: the first ones are named */
    if (a->ntargets)
        a->targets[a->ntargets++] = ',';
    memcpy(a->targets + a->ntargets, name, n);
    a->ntargets += n;
    a->targets[a->ntargets] = 0;
}

/* The line being built, per worker thread: in lfix, or when it grows past
 * that in lheap (freed with the line, so a worker thread keeps no heap
 * memory here); lb_lost: out of memory on the way. */
static __thread char lfix[4096];
static __thread size_t lpos;
static __thread struct buf lheap;
static __thread bool lbig, lb_lost;

static void put(const char *s, size_t n)
{
    if (!lbig && lpos + n <= sizeof lfix) {
        memcpy(lfix + lpos, s, n);
        lpos += n;
        return;
    }
    if (!lbig) {
        lbig = true;
        if (buf_append(&lheap, lfix, lpos) < 0)
            lb_lost = true;
    }
    if (buf_append(&lheap, s, n) < 0)
        lb_lost = true;
}

static void puts0(const char *s)
{
    put(s, strlen(s));
}

/* s as Java's escapeJava writes it into Hadoop's line: backslash, quote and
 * control characters escaped, so a name cannot forge a field or a line. */
static void put_escaped(const char *s)
{
    if (!s) {
        puts0("null");
        return;
    }
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        char e[8];
        switch (ch) {
        case '\\': puts0("\\\\"); break;
        case '"': puts0("\\\""); break;
        case '\t': puts0("\\t"); break;
        case '\n': puts0("\\n"); break;
        case '\r': puts0("\\r"); break;
        default:
            if (ch < 0x20 || ch == 0x7f) {
                snprintf(e, sizeof e, "\\u%04X", ch);
                puts0(e);
            } else {
                put(p, 1);
            }
        }
    }
}

/* The client's address without its port, as a.b.c.d or an IPv6 text. */
static void put_ip(const char *peer)
{
    const char *colon = strrchr(peer, ':');
    put(peer, colon ? (size_t)(colon - peer) : strlen(peer));
}

static void finish_line(enum audit_log which)
{
    struct alog *l = &logs[which];
    const char *text = lbig ? (const char *)buf_rptr(&lheap) : lfix;
    size_t n = lbig ? buf_len(&lheap) : lpos;
    struct aline *line = NULL;
    if (lb_lost || !(line = malloc(sizeof *line + n)))
        atomic_fetch_add_explicit(&l->dropped_full, 1, memory_order_relaxed);
    if (line) {
        line->ms = fr_wall_ms();
        line->len = n;
        memcpy(line->text, text, n);
    }
    lpos = 0;
    lb_lost = false;
    if (lbig) {
        buf_free(&lheap);
        lbig = false;
    }
    if (line && atomic_load_explicit(&l->on, memory_order_acquire))
        push(l, line);
    else
        free(line); /* the log was switched off while the call ran */
}

/* ---- HDFS ---- */

/* The NameNode's audit name of each method whose name differs from it
 * (FSNamesystem's operationName); the others are logged by method name. */
static const struct {
    const char *method, *cmd;
} nn_cmds[] = {
    { "getBlockLocations", "open" },
    { "getContentSummary", "contentSummary" },
    { "getDatanodeReport", "datanodeReport" },
    { "getFileInfo", "getfileinfo" },
    { "getFileLinkInfo", "getfileinfo" },
    { "getListing", "listStatus" },
    { "getQuotaUsage", "quotaUsage" },
    { "getSnapshotDiffReport", "computeSnapshotDiff" },
    { "getSnapshotDiffReportListing", "computeSnapshotDiff" },
    { "getSnapshotListing", "ListSnapshot" },
    { "getSnapshottableDirListing", "listSnapshottableDirectory" },
    { "rollEdits", "rollEditLog" },
};

static const char *nn_cmd(const char *method)
{
    size_t lo = 0, hi = sizeof nn_cmds / sizeof nn_cmds[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(method, nn_cmds[mid].method);
        if (c == 0)
            return nn_cmds[mid].cmd;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

struct path_take {
    struct audit_call *a;
    struct buf srcs;                  /* concat: every source, "[a, b]" as Java prints an array */
    bool concat;
};

static int take_path(void *vctx, unsigned idx, const uint8_t *s, size_t len)
{
    struct path_take *t = vctx;
    if (t->concat && idx == 1) {
        if ((buf_len(&t->srcs) && buf_append(&t->srcs, ", ", 2) < 0) || buf_append(&t->srcs, s, len) < 0)
            return -1;
        return 0;
    }
    char **slot = idx == 0 ? &t->a->first : idx == 1 ? &t->a->second : NULL;
    if (slot && !*slot && !(*slot = strndup((const char *)s, len)))
        return -1;
    return 0;
}

/* rename2's options as the NameNode prints them: OVERWRITE, TO_TRASH, or NONE. */
static void rename2_cmd(struct audit_call *a, const uint8_t *p, size_t len)
{
    bool overwrite = false, trash = false;
    const uint8_t *q = p, *end = p + len;
    struct pb_field f;
    while (pb_next_field(&q, end, &f) == 1)
        if (f.type == PB_VARINT && f.num == 3)
            overwrite = f.varint != 0;
        else if (f.type == PB_VARINT && f.num == 4)
            trash = f.varint != 0;
    snprintf(a->cmdbuf, sizeof a->cmdbuf, "rename (options=[%s])",
             overwrite ? "OVERWRITE" : trash ? "TO_TRASH" : "NONE");
    a->cmd = a->cmdbuf;
}

struct audit_call *audit_hdfs_begin(const struct method_row *m, const char *method, const uint8_t *param,
                                    size_t len)
{
    if (!audit_on(AUDIT_HDFS))
        return NULL;
    struct audit_call *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->cmd = nn_cmd(method);
    if (m && m->req.n) {
        struct path_take t = { .a = a, .srcs = BUF_INIT, .concat = !strcmp(method, "concat") };
        pbr_walk(param, len, &m->req, take_path, &t); /* a malformed request keeps what was found */
        if (t.concat) {
            /* Hadoop: src = the sources, dst = the target. */
            char *trg = a->first;
            a->first = NULL;
            if (buf_append(&t.srcs, "]", 1) == 0 && (a->first = malloc(buf_len(&t.srcs) + 2)))
                snprintf(a->first, buf_len(&t.srcs) + 2, "[%.*s", (int)buf_len(&t.srcs), (char *)buf_rptr(&t.srcs));
            free(a->second);
            a->second = trg;
        }
        buf_free(&t.srcs);
    }
    if (!strcmp(method, "rename2"))
        rename2_cmd(a, param, len);
    return a;
}

/* Hadoop's UserGroupInformation.toString(): "alice (auth:SIMPLE)", and for
 * a proxy user "alice (auth:PROXY) via hive (auth:KERBEROS)". */
static void put_ugi(const struct hconn *c)
{
    const char *eff = c->s.ctx.effective_user, *real = c->s.ctx.real_user;
    const char *how = c->s.authenticated && c->s.method[0] ? c->s.method : "SIMPLE";
    if (real[0] && strcmp(real, eff)) {
        put_escaped(eff);
        puts0(" (auth:PROXY) via ");
        put_escaped(real);
    } else {
        put_escaped(eff[0] ? eff : real);
    }
    puts0(" (auth:");
    puts0(how);
    puts0(")");
}

void audit_hdfs_end(struct rcall *rc, const char *cls)
{
    struct audit_call *a = rc->audit;
    if (!a)
        return;
    rc->audit = NULL;
    bool allowed = !cls || strcmp(cls, JEXC_ACCESS_CONTROL) != 0;
    puts0(allowed ? "allowed=true\tugi=" : "allowed=false\tugi=");
    put_ugi(rc->c);
    puts0("\tip=/");
    put_ip(rc->c->peer);
    puts0("\tcmd=");
    put_escaped(a->cmd ? a->cmd : rc->method);
    puts0("\tsrc=");
    put_escaped(a->first);
    puts0("\tdst=");
    put_escaped(a->second);
    puts0("\tperm=null\tproto=rpc\tns=");
    /* rc->ns names the one nameservice that answered; "*" and "-" (fan-out,
     * the router's own subcalls, or none) give way to the list. */
    bool one = rc->ns && strcmp(rc->ns, "*") && strcmp(rc->ns, "-");
    puts0(one ? rc->ns : a->ntargets ? a->targets : "null");
    finish_line(AUDIT_HDFS);
    audit_call_free(a);
}

/* ---- metastore ---- */

struct first_str {
    unsigned idx;
    char *s;
};

static int take_first(void *vctx, unsigned idx, const uint8_t *s, size_t len)
{
    struct first_str *f = vctx;
    f->idx = idx;
    f->s = strndup((const char *)s, len);
    return f->s ? 1 : -1;
}

/* Does the method name one table next to its database? Table and
 * partition calls do (Hive's startTableFunction / startPartitionFunction);
 * listings of several tables and patterns do not. */
static bool names_a_table(const char *name, size_t n)
{
    char m[128];
    snprintf(m, sizeof m, "%.*s", (int)(n < 127 ? n : 127), name);
    if (strstr(m, "tables") || strstr(m, "table_names") || strstr(m, "table_meta") || strstr(m, "table_objects"))
        return false;
    return strstr(m, "table") || strstr(m, "partition") || !strncmp(m, "get_fields", 10) ||
           !strncmp(m, "get_schema", 10);
}

struct audit_call *audit_hms_begin(const struct hms_rule *rule, enum tw_proto proto, const uint8_t *msg, size_t len,
                                   const struct tw_header *h)
{
    if (!audit_on(AUDIT_HMS))
        return NULL;
    struct audit_call *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    if (!rule || !rule->args.n[HMS_PK_DB] || h->body_off > len)
        return a;
    const uint8_t *body = msg + h->body_off;
    size_t blen = len - h->body_off;
    struct tw_pathset dbs = hms_paths_of(&rule->args, HMS_PK_DB);
    struct first_str db = { 0, NULL };
    if (tw_walk(proto, body, blen, NULL, &dbs, take_first, &db) < 0 || !db.s)
        return a;
    /* Hive 3 clients may write "@catalog#db". */
    const char *hash = db.s[0] == '@' ? strchr(db.s, '#') : NULL;
    a->first = hash ? strdup(hash + 1) : db.s;
    if (hash)
        free(db.s);
    if (!a->first || !names_a_table((const char *)h->name, h->name_len))
        return a;
    /* The table beside the database: field 2 after a database in field 1
     * (arguments and request structs: dbName, tblName); a Table struct has
     * its name in field 1 before dbName (2); a Partition in field 3. */
    const int32_t *dp = dbs.p[db.idx];
    int32_t tp[TW_MAX_STEPS + 1];
    size_t n = 0;
    while (n < TW_MAX_STEPS && dp[n] != TW_END) {
        tp[n] = dp[n];
        n++;
    }
    if (!n)
        return a;
    int32_t last = tp[n - 1];
    bool partition = memmem(h->name, h->name_len, "partition", 9) != NULL;
    if (last == 1)
        tp[n - 1] = 2;
    else if (last == 2)
        tp[n - 1] = partition ? 3 : 1;
    else
        return a;
    tp[n] = TW_END;
    const int32_t *one[1] = { tp };
    struct tw_pathset ts = { one, 1 };
    struct first_str tbl = { 0, NULL };
    if (tw_walk(proto, body, blen, NULL, &ts, take_first, &tbl) >= 0)
        a->second = tbl.s;
    else
        free(tbl.s);
    return a;
}

void audit_hms_end(struct mconn *c)
{
    struct audit_call *a = c->call.audit;
    if (!a)
        return;
    c->call.audit = NULL;
    puts0("ugi=");
    put_escaped(c->ugi_set && c->user ? c->user : NULL);
    puts0("\tip=");
    put_ip(c->peer);
    puts0("\tcmd=");
    put_escaped(c->call.method);
    if (a->first) {
        puts0(" : db=");
        put_escaped(a->first);
        if (a->second) {
            puts0(" tbl=");
            put_escaped(a->second);
        }
    }
    puts0("\tmetastore=");
    const char *ms = c->call.ms;
    bool one = ms && strcmp(ms, "*") && strcmp(ms, "-");
    puts0(one ? ms : a->ntargets ? a->targets : "null");
    finish_line(AUDIT_HMS);
    audit_call_free(a);
}
