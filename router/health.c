/*
 * health.c: reachability of the backends for /healthz?verbose.
 *
 *   snapshot --> targets (one per NameNode address, one per metastore URI)
 *            --> non-blocking connect() on each --> one poll() loop until
 *                all are settled or the timeout --> JSON per nameservice
 *                and metastore, each address with its result
 */
#define _GNU_SOURCE
#include "health.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "net.h"
#include "cluster_state.h"
#include "records.h"
#include "snapshot.h"

#define HEALTH_MAX_TARGETS 512

static void settle(struct health_target *t, bool ok, const char *why, uint64_t t0)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    t->reachable = ok;
    t->ms = ok ? (double)(fr_mono_ns() - t0) / 1e6 : 0;
    snprintf(t->why, sizeof t->why, "%s", ok ? "" : why);
}

/* Starts the connect of t; settles it at once when that already decides. */
static void start(struct health_target *t, uint64_t t0)
{
    t->fd = -1;
    const char *a = t->addr;
    if (strncmp(a, "thrift://", 9) == 0)
        a += 9;
    /* A URI may go on after the port ("thrift://h:9083/"). */
    char hp[300];
    snprintf(hp, sizeof hp, "%.*s", (int)strcspn(a, "/?"), a);
    char host[256];
    const char *port;
    if (!net_split_hostport(hp, host, sizeof host, &port) || !host[0]) {
        settle(t, false, "not host:port", t0);
        return;
    }
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        settle(t, false, gai_strerror(rc), t0);
        return;
    }
    t->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (t->fd < 0) {
        freeaddrinfo(ai);
        settle(t, false, strerror(errno), t0);
        return;
    }
    rc = connect(t->fd, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    if (rc == 0)
        settle(t, true, "", t0);
    else if (errno != EINPROGRESS)
        settle(t, false, strerror(errno), t0);
}

void health_probe(struct health_target *ts, size_t n, int timeout_ms)
{
    uint64_t t0 = fr_mono_ns();
    for (size_t i = 0; i < n; i++)
        start(&ts[i], t0);
    struct pollfd *pf = calloc(n ? n : 1, sizeof *pf);
    size_t *idx = calloc(n ? n : 1, sizeof *idx);
    for (;;) {
        size_t k = 0;
        for (size_t i = 0; pf && idx && i < n; i++)
            if (ts[i].fd >= 0) {
                pf[k] = (struct pollfd){ .fd = ts[i].fd, .events = POLLOUT };
                idx[k++] = i;
            }
        if (k == 0)
            break;
        int left = timeout_ms - (int)((fr_mono_ns() - t0) / 1000000);
        if (left <= 0 || poll(pf, k, left) < 0) {
            for (size_t j = 0; j < k; j++)
                settle(&ts[idx[j]], false, "timed out", t0);
            break;
        }
        for (size_t j = 0; j < k; j++) {
            if (!pf[j].revents)
                continue;
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(pf[j].fd, SOL_SOCKET, SO_ERROR, &err, &len);
            settle(&ts[idx[j]], err == 0, strerror(err), t0);
        }
    }
    for (size_t i = 0; i < n; i++) /* out of memory for the poll set */
        if (ts[i].fd >= 0)
            settle(&ts[i], false, "out of memory", t0);
    free(pf);
    free(idx);
}

void health_json_str(struct buf *out, const char *s)
{
    buf_append(out, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            buf_append(out, esc, 2);
        } else if (c < 0x20) {
            int n = snprintf(esc, sizeof esc, "\\u%04x", c);
            buf_append(out, esc, (size_t)n);
        } else {
            buf_append(out, s, 1);
        }
    }
    buf_append(out, "\"", 1);
}

static void put(struct buf *out, const char *s)
{
    buf_append(out, s, strlen(s));
}

/* `"addresses":[...]` for n targets; true when one is reachable. */
static bool addresses(struct buf *out, const struct health_target *ts, size_t n)
{
    bool any = false;
    put(out, "\"addresses\":[");
    for (size_t i = 0; i < n; i++) {
        char num[64];
        put(out, i ? ",{\"address\":" : "{\"address\":");
        health_json_str(out, ts[i].addr);
        if (ts[i].reachable) {
            snprintf(num, sizeof num, ",\"reachable\":true,\"connect_ms\":%.3f}", ts[i].ms);
            put(out, num);
            any = true;
        } else {
            put(out, ",\"reachable\":false,\"error\":");
            health_json_str(out, ts[i].why);
            put(out, "}");
        }
    }
    put(out, "]");
    return any;
}

bool health_backends_json(struct buf *out, const struct snapshot *s, int timeout_ms)
{
    size_t nns = s ? snapshot_ns_count(s) : 0, nms = s ? snapshot_ms_count(s) : 0, n = 0;
    for (size_t i = 0; i < nns; i++) {
        const struct snap_ns *ns = snapshot_ns_at(s, i);
        if (ns->defined && !ns->disabled)
            n += ns->nnamenodes;
    }
    for (size_t i = 0; i < nms; i++)
        n += snapshot_ms_at(s, i)->nuris;
    if (n > HEALTH_MAX_TARGETS)
        n = HEALTH_MAX_TARGETS; /* the rest are reported unprobed */
    struct health_target *ts = calloc(n ? n : 1, sizeof *ts);
    if (!ts) {
        put(out, "\"error\":\"out of memory\"");
        return false;
    }
    size_t k = 0;
    for (size_t i = 0; i < nns; i++) {
        const struct snap_ns *ns = snapshot_ns_at(s, i);
        for (uint32_t j = 0; ns->defined && !ns->disabled && j < ns->nnamenodes && k < n; j++)
            ts[k++].addr = ns->namenodes[j];
    }
    for (size_t i = 0; i < nms; i++) {
        const struct ms_rec *m = snapshot_ms_at(s, i);
        for (size_t j = 0; j < m->nuris && k < n; j++)
            ts[k++].addr = m->uris[j];
    }
    health_probe(ts, n, timeout_ms);

    bool all = true;
    k = 0;
    put(out, "\"nameservices\":[");
    for (size_t i = 0; i < nns; i++) {
        const struct snap_ns *ns = snapshot_ns_at(s, i);
        put(out, i ? ",{\"name\":" : "{\"name\":");
        health_json_str(out, ns->name);
        if (!ns->defined) {
            put(out, ",\"defined\":false,\"reachable\":false}");
            all = false;
            continue;
        }
        if (ns->disabled) {
            put(out, ",\"disabled\":true}");
            continue;
        }
        size_t m = ns->nnamenodes <= n - k ? ns->nnamenodes : n - k;
        uint64_t space;
        /* answering: the refresher's getFsStats got an answer lately */
        put(out, cs_space(ns->name, &space) == 0 ? ",\"answering\":true," : ",\"answering\":false,");
        bool up = addresses(out, ts + k, m);
        k += m;
        put(out, up ? ",\"reachable\":true}" : ",\"reachable\":false}");
        all = all && up;
    }
    put(out, "],\"metastores\":[");
    for (size_t i = 0; i < nms; i++) {
        const struct ms_rec *ms = snapshot_ms_at(s, i);
        put(out, i ? ",{\"name\":" : "{\"name\":");
        health_json_str(out, ms->name);
        put(out, ",");
        size_t m = ms->nuris <= n - k ? ms->nuris : n - k;
        bool up = addresses(out, ts + k, m);
        k += m;
        put(out, up ? ",\"reachable\":true}" : ",\"reachable\":false}");
        all = all && up;
    }
    put(out, "]");
    free(ts);
    return all;
}
