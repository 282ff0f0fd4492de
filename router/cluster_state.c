/*
 * cluster_state.c: free space and hosts per nameservice (see cluster_state.h).
 *
 * The refresher is one thread with blocking sockets: a round first asks each
 * nameservice of the current snapshot for its block pool (versionRequest of
 * NamenodeProtocol, which a standby answers too), then for getFsStats and
 * getDatanodeReport, NameNodes in configured order until one answers (a
 * standby answers StandbyException and the next is tried). Each call has a
 * 1 s connect and 2 s read limit, so a dead subcluster slows a round, never
 * the workers.
 */
#define _GNU_SOURCE
#include "cluster_state.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "pbwire.h"
#include "resolve.h"
#include "route_state.h"
#include "snapshot.h"

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
static int64_t max_age_ms = 30000;
static _Atomic uint64_t rounds;

static pthread_t thr;
static bool running;
static char last_err[300];              /* refresher thread: why the last call_nn failed */
static atomic_bool stop_flag;
static struct route_state *cs_rs;
static char cs_user[256];
static int cs_interval_ms;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
    spaces[i].at_ms = mono_ms();
    pthread_mutex_unlock(&lock);
}

int cs_space(const char *ns, uint64_t *remaining)
{
    int rc = -1;
    int64_t now = mono_ms();
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
    hosts[i].at_ms = mono_ms();
    pthread_mutex_unlock(&lock);
}

bool cs_host_ns(const char *host, char *out, size_t cap)
{
    bool found = false;
    int64_t now = mono_ms();
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
    usages[i].at_ms = mono_ms();
    pthread_mutex_unlock(&lock);
}

int cs_usage(const char *src, struct cs_usage *u)
{
    int rc = -1;
    int64_t now = mono_ms();
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

uint64_t cs_rounds(void)
{
    return atomic_load(&rounds);
}

/* ---- one blocking call ---- */

static int connect_to(const char *hostport)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof host)
        return -1;
    snprintf(host, sizeof host, "%.*s", (int)(colon - hostport), hostport);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || !ai)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return -1;
    struct pollfd pfd = { fd, POLLOUT, 0 };
    int err = 0;
    socklen_t el = sizeof err;
    if (poll(&pfd, 1, 1000) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
        close(fd);
        return -1;
    }
    return fd;
}

static int io_all(int fd, uint8_t *p, size_t n, bool out)
{
    while (n) {
        struct pollfd pfd = { fd, out ? POLLOUT : POLLIN, 0 };
        if (poll(&pfd, 1, 2000) != 1)
            return -1;
        ssize_t k = out ? send(fd, p, n, MSG_NOSIGNAL) : recv(fd, p, n, 0);
        if (k <= 0) {
            if (k < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Calls method of protocol on one NameNode. 0 with the response message in
 * resp; 1 when it answered an error (standby included); -1 when it could not
 * be asked. */
static int call_nn(const char *hostport, const char *protocol, const char *method, const uint8_t *req, size_t reqlen,
                   struct buf *resp)
{
    snprintf(last_err, sizeof last_err, "%s: no answer", hostport);
    int fd = connect_to(hostport);
    if (fd < 0)
        return -1;
    uint8_t cid[IPC_CLIENT_ID_LEN];
    ipc_new_client_id(cid);
    struct ipc_ids ids = { 0, 0, cid, sizeof cid };
    struct buf out = BUF_INIT;
    int rc = -1;
    uint8_t *body = NULL;
    if (ipc_write_preamble(&out, IPC_AUTH_NONE) < 0 ||
        ipc_write_context(&out, cid, cs_user, NULL, protocol) < 0 ||
        ipc_write_call_raw(&out, &ids, method, protocol, req, reqlen) < 0 ||
        io_all(fd, buf_rptr(&out), buf_len(&out), true) < 0)
        goto out;
    uint8_t hdr[4];
    if (io_all(fd, hdr, 4, false) < 0)
        goto out;
    uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    if (len == 0 || len > CS_MAX_REPLY || !(body = malloc(len)) || io_all(fd, body, len, false) < 0)
        goto out;
    struct ipc_reply r;
    if (ipc_parse_reply(body, len, &r) < 0)
        goto out;
    if (r.status != IPC_SUCCESS) {
        char cls[128], msg[128];
        ipc_span_copy(r.exception_class, cls, sizeof cls);
        ipc_span_copy(r.error_msg, msg, sizeof msg);
        snprintf(last_err, sizeof last_err, "%s: %s: %s", hostport, cls, msg);
        rc = 1;
        goto out;
    }
    rc = buf_append(resp, r.payload.p, r.payload.len) < 0 ? -1 : 0;
out:
    free(body);
    buf_free(&out);
    close(fd);
    return rc;
}

/* The first NameNode of ns that answers method (of protocol) successfully. */
static int call_ns_proto(const struct snap_ns *ns, const char *protocol, const char *method, const uint8_t *req,
                         size_t reqlen, struct buf *resp)
{
    for (uint32_t i = 0; i < ns->nnamenodes && !atomic_load(&stop_flag); i++) {
        buf_reset(resp);
        if (call_nn(ns->namenodes[i], protocol, method, req, reqlen, resp) == 0)
            return 0;
    }
    return -1;
}

static int call_ns(const struct snap_ns *ns, const char *method, const uint8_t *req, size_t reqlen, struct buf *resp)
{
    return call_ns_proto(ns, IPC_CLIENT_PROTOCOL, method, req, reqlen, resp);
}

/* ---- the refresher ---- */

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

/* The usage below one destination: getQuotaUsage of its path. */
static int dest_usage(const struct snap_dest *d, struct cs_usage *u, struct buf *resp)
{
    uint8_t req[FR_PATH_MAX + 8];
    if (d->path_len > FR_PATH_MAX)
        return -1;
    size_t rl = pb_put_bytes_field(req, 1, d->path, d->path_len);
    if (call_ns(d->ns, "getQuotaUsage", req, rl, resp) < 0)
        return -1;
    const uint8_t *p = buf_rptr(resp), *end = p + buf_len(resp);
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
    return 0;
}

/* Router quotas: the usage of every mount entry that sets one, each
 * destination asked once (a destination that does not exist yet counts
 * nothing). */
static void refresh_usage(const struct snapshot *s, struct buf *resp)
{
    size_t n = snapshot_mount_count(s);
    bool any = false;
    for (size_t i = 0; i < n && !atomic_load(&stop_flag); i++) {
        const struct snap_mount *m = snapshot_mount_at(s, i);
        if (m->rec->ns_quota < 0 && m->rec->ss_quota < 0)
            continue;
        any = true;
        struct cs_usage u = { 0, 0 };
        for (uint32_t k = 0; k < m->ndests; k++)
            if (m->dests[k].ns->defined && !m->dests[k].ns->disabled)
                dest_usage(&m->dests[k], &u, resp);
        note_usage(m->src, &u);
    }
    atomic_store(&any_quota, any);
}

/* Block pools: every nameservice names its own, so calls that name only a
 * block route right from the start, and after a router restart. A
 * nameservice whose pool cannot be learned is logged when that starts (a
 * NameNode answers versionRequest to its superuser only) and when it ends. */
static void refresh_pools(const struct snapshot *s, struct buf *resp)
{
    static char failing[64][CS_NAME];
    size_t n = snapshot_ns_count(s);
    for (size_t i = 0; i < n && !atomic_load(&stop_flag); i++) {
        const struct snap_ns *ns = snapshot_ns_at(s, i);
        if (!ns->defined || ns->disabled)
            continue;
        bool ok = call_ns_proto(ns, IPC_NAMENODE_PROTOCOL, "versionRequest", NULL, 0, resp) == 0;
        if (ok && route_state_learn_version(buf_rptr(resp), buf_len(resp), ns->name) < 0) {
            snprintf(last_err, sizeof last_err, "the answer names no block pool");
            ok = false;
        }
        int k = 0, free_slot = -1;
        while (k < 64 && strcmp(failing[k], ns->name) != 0) {
            if (!failing[k][0] && free_slot < 0)
                free_slot = k;
            k++;
        }
        if (!ok && k == 64 && free_slot >= 0) {
            fr_warn("cannot learn the block pool of nameservice %s (%s); calls naming only its blocks will fail",
                    ns->name, last_err);
            snprintf(failing[free_slot], CS_NAME, "%s", ns->name);
        } else if (ok && k < 64) {
            fr_info("learned the block pool of nameservice %s", ns->name);
            failing[k][0] = 0;
        }
    }
}

static void refresh_round(void)
{
    struct snapshot *s = snapshot_acquire(&cs_rs->ref);
    if (!s)
        return;
    struct buf resp = BUF_INIT;
    refresh_pools(s, &resp);
    refresh_usage(s, &resp);
    size_t n = snapshot_ns_count(s);
    for (size_t i = 0; i < n && !atomic_load(&stop_flag); i++) {
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
        if (call_ns(ns, "getFsStats", NULL, 0, &resp) == 0) {
            uint64_t remaining = 0;
            const uint8_t *p = buf_rptr(&resp), *end = p + buf_len(&resp);
            struct pb_field f;
            while (pb_next_field(&p, end, &f) > 0)
                if (f.num == 3 && f.type == PB_VARINT)
                    remaining = f.varint;
            cs_note_space(ns->name, remaining);
        }
        uint8_t req[4];
        size_t rl = pb_put_varint_field(req, 1, 1); /* DatanodeReportTypeProto ALL */
        if (call_ns(ns, "getDatanodeReport", req, rl, &resp) == 0)
            learn_datanodes(ns->name, buf_rptr(&resp), buf_len(&resp));
    }
    buf_free(&resp);
    snapshot_release(s);
    atomic_fetch_add(&rounds, 1);
}

static void *refresher(void *arg)
{
    while (!atomic_load(&stop_flag)) {
        refresh_round();
        for (int waited = 0; waited < cs_interval_ms && !atomic_load(&stop_flag); waited += 50)
            usleep(50000);
    }
    return NULL;
}

int cs_start(struct route_state *rs, const char *user, int interval_ms)
{
    cs_rs = rs;
    snprintf(cs_user, sizeof cs_user, "%s", user);
    cs_interval_ms = interval_ms > 0 ? interval_ms : 5000;
    max_age_ms = 3 * (int64_t)cs_interval_ms + 5000;
    atomic_store(&stop_flag, false);
    if (pthread_create(&thr, NULL, refresher, NULL) != 0)
        return -1;
    running = true;
    return 0;
}

void cs_stop(void)
{
    if (!running)
        return;
    atomic_store(&stop_flag, true);
    pthread_join(thr, NULL);
    running = false;
}
