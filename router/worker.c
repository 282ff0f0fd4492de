/*
 * worker.c: start and stop the worker threads. Each binds its own
 * SO_REUSEPORT listener on the HDFS address, so the kernel spreads new
 * connections across workers and no accept lock is shared.
 */
#define _GNU_SOURCE
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hdfs_conn.h"
#include "hms_conn.h"
#include "hms_up.h"
#include "log.h"
#include "metrics.h"
#include "net.h"
#include "router.h"
#include "upstream.h"
#include "workpool.h"

/*
 * Draining: the listening sockets are closed, not just unwatched, so the
 * kernel refuses new connections (and resets those still in the backlog)
 * and a load balancer or client moves to another router at once instead
 * of waiting for this process to exit. Idle clients are closed; those with
 * calls in flight close once they are answered.
 */
static void drain(struct worker *wk)
{
    if (wk->hms_fd >= 0) {
        conn_listener_stop(&wk->hms_accept);
        close(wk->hms_fd);
        wk->hms_fd = -1;
        mconn_drain_all(wk);
    }
    if (wk->hdfs_fd >= 0) {
        conn_listener_stop(&wk->hdfs_listener);
        close(wk->hdfs_fd);
        wk->hdfs_fd = -1;
        hconn_drain_all(wk);
    }
}

static void on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
    struct worker *wk = w->data;
    struct router *r = wk->router;
    if (atomic_load(&r->draining))
        drain(wk);
    if (atomic_load(&r->stopping))
        ev_break(loop, EVBREAK_ALL);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    conn_crypto_bind(&w->crypto); /* every connection of this thread hands slow work to the pool */
    ev_run(w->loop, 0);
    /* Jobs still out come back while the connections they name are alive
     * (what they finish may queue more: the quiesce waits for that too);
     * the clients close; what their closing set going comes back as well.
     * No job is out after that, so no thread pushes to the inbox. */
    conn_crypto_quiesce(&w->crypto);
    hconn_close_all(w);
    mconn_close_all(w);
    conn_crypto_quiesce(&w->crypto);
    fr_inbox_stop(&w->inbox);
    conn_crypto_bind(NULL);
    hms_pool_free(w->hup);
    w->hup = NULL;
    upstream_pool_free(w->up);
    w->up = NULL;
    return NULL;
}

int worker_start(struct worker *w, struct router *r, int id, const char *hdfs_listen, int *port_io, char *err,
                 size_t errlen)
{
    memset(w, 0, sizeof *w);
    w->hms_fd = -1;
    w->id = id;
    w->router = r;
    /* All workers bind the same port: the first may have picked it (port 0). */
    char addr[300], host[256];
    if (*port_io > 0 && net_host_of(hdfs_listen, host, sizeof host) == 0) {
        snprintf(addr, sizeof addr, "%s:%d", host, *port_io);
    } else {
        snprintf(addr, sizeof addr, "%s", hdfs_listen);
    }
    w->hdfs_fd = net_listen(addr, true, port_io, err, errlen);
    if (w->hdfs_fd < 0)
        return -1;
    w->loop = ev_loop_new(EVFLAG_AUTO);
    w->metrics = metrics_shard_new();
    w->up = upstream_pool_new(w->loop, &r->upstream_limits, &w->socks[WS_NAMENODE]);
    const struct hms_pool_limits hl = { r->upstream_limits.connect_timeout, r->hms_call_timeout,
                                        r->upstream_limits.idle_timeout, r->hms_max_reply };
    w->hup = hms_pool_new(w->loop, &hl, &w->socks[WS_METASTORE]);
    if (!w->loop || !w->up || !w->hup) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    conn_listener_start(&w->hdfs_listener, w->loop, w->hdfs_fd, hconn_accept, w);
    conn_listener_reserve(&w->hdfs_listener, CONN_SPARE_DROP);
    if (r->hms_listen[0]) {
        char haddr[300];
        if (r->hms_port > 0 && net_host_of(r->hms_listen, host, sizeof host) == 0) {
            snprintf(haddr, sizeof haddr, "%s:%d", host, r->hms_port);
        } else {
            snprintf(haddr, sizeof haddr, "%s", r->hms_listen);
        }
        w->hms_fd = net_listen(haddr, true, &r->hms_port, err, errlen);
        if (w->hms_fd < 0)
            return -1;
        conn_listener_start(&w->hms_accept, w->loop, w->hms_fd, mconn_accept, w);
        conn_listener_reserve(&w->hms_accept, CONN_SPARE_DROP);
    }
    ev_async_init(&w->wake, on_wake);
    w->wake.data = w;
    ev_async_start(w->loop, &w->wake);
    fr_inbox_init(&w->inbox, w->loop, fr_job_inbox_handler, w);
    conn_crypto_init(&w->crypto, r->crypto_pool, &w->inbox);
    conn_crypto_watch_calls(&w->crypto, &w->in_flight);
    if (pthread_create(&w->thr, NULL, worker_main, w) != 0) {
        snprintf(err, errlen, "cannot start worker thread %d", id);
        return -1;
    }
    return 0;
}

bool worker_client_admit(struct worker *w, bool hms, const char *peer)
{
    struct router *r = w->router;
    uint64_t n = atomic_fetch_add(&r->client_conns, 1) + 1;
    if (!r->client_max_conns || n <= r->client_max_conns)
        return true;
    atomic_fetch_sub(&r->client_conns, 1);
    uint64_t refused = atomic_fetch_add(&r->client_refused[hms], 1) + 1;
    static struct fr_log_rate rl = FR_LOG_RATE_INIT(1, 10000);
    fr_log_rated(&rl, FR_LOG_WARN, NULL,
                 "refused a %s client from %s: client.max_conns (%u) connections are open (%llu refused so far)",
                 hms ? "metastore" : "HDFS", peer, r->client_max_conns, (unsigned long long)refused);
    return false;
}

void worker_client_gone(struct worker *w) { atomic_fetch_sub(&w->router->client_conns, 1); }

void worker_wake(struct worker *w)
{
    ev_async_send(w->loop, &w->wake);
}

void worker_join(struct worker *w)
{
    pthread_join(w->thr, NULL);
    if (w->hdfs_fd >= 0)
        close(w->hdfs_fd);
    if (w->hms_fd >= 0)
        close(w->hms_fd);
    ev_loop_destroy(w->loop);
}

const char *worker_sock_name(enum worker_sock k)
{
    static const char *const names[WS_NKINDS] = { "hdfs_client", "hms_client", "namenode", "metastore" };
    return (unsigned)k < WS_NKINDS ? names[k] : "?";
}

/* Scrape time (admin thread): the crypto threads and every worker's
 * transport counters. */
static void crypto_gauges(struct buf *out, void *arg)
{
    struct router *r = arg;
    const struct conn_crypto *cc[1024];
    int n = 0;
    for (int i = 0; i < r->nworkers && n < 1024; i++)
        cc[n++] = &r->workers[i].crypto;
    metrics_render_crypto(out, cc, n, r->crypto_pool);
}

#define CRYPTO_QUEUE_PER_THREAD 256 /* jobs waiting per crypto thread before work runs on the worker */

int workers_crypto_start(struct router *r, int threads, int nice, char *err, size_t errlen)
{
    r->crypto_pool = NULL;
    if (threads > 0) {
        r->crypto_pool = fr_workpool_new(threads, (size_t)threads * CRYPTO_QUEUE_PER_THREAD, "fr-crypto", nice);
        if (!r->crypto_pool) {
            snprintf(err, errlen, "cannot start %d crypto threads", threads);
            return -1;
        }
    }
    metrics_add_gauge(crypto_gauges, r);
    return 0;
}

void workers_crypto_stop(struct router *r)
{
    fr_workpool_free(r->crypto_pool);
    r->crypto_pool = NULL;
}
