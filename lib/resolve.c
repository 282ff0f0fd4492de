/*
 * resolve: the address cache and the thread that fills it. See resolve.h.
 *
 * One mutex guards the cache, the queue and the `running` slot. The thread
 * takes a job off the queue, copies its address, lets go of the mutex for
 * getaddrinfo(), and takes it back to store the answer and push the node.
 * Pushing under the mutex is what lets fr_resolve_cancel() give a clear
 * yes or no: a request is either still ours to drop, or already pushed.
 */
#define _GNU_SOURCE
#include "resolve.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net.h"

struct cache_ent {
    struct cache_ent *next;
    char addr[FR_RESOLVE_ADDR_MAX];
    int status; /* FR_RESOLVE_DONE or FR_RESOLVE_FAIL */
    struct sockaddr_storage sa;
    socklen_t salen;
    char why[96];
    double expires;  /* monotonic seconds */
    bool refreshing; /* a background lookup is queued or running */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct cache_ent *cache;
static struct fr_resolve_req *q_head, *q_tail;
static struct fr_resolve_req *running; /* the job getaddrinfo() runs for; cleared by cancel */
static bool started;

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "host:port" / "[v6]:port" with a host. */
static bool split(const char *addr, char *host, size_t hostcap, const char **port)
{
    return net_split_hostport(addr, host, hostcap, port) && host[0];
}

bool fr_resolve_literal(const char *addr, struct sockaddr_storage *sa, socklen_t *salen)
{
    char host[FR_RESOLVE_ADDR_MAX];
    const char *port;
    if (!split(addr, host, sizeof host, &port))
        return false;
    char *end;
    long pn = strtol(port, &end, 10);
    if (*end || pn < 0 || pn > 65535)
        return false;
    memset(sa, 0, sizeof *sa);
    struct sockaddr_in *v4 = (struct sockaddr_in *)sa;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)sa;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)pn);
        *salen = sizeof *v4;
        return true;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)pn);
        *salen = sizeof *v6;
        return true;
    }
    return false;
}

static struct cache_ent *cache_find(const char *addr)
{
    for (struct cache_ent *e = cache; e; e = e->next)
        if (strcmp(e->addr, addr) == 0)
            return e;
    return NULL;
}

static void copy_answer(struct fr_resolve_req *req, const struct cache_ent *e)
{
    req->status = e->status;
    req->sa = e->sa;
    req->salen = e->salen;
    snprintf(req->why, sizeof req->why, "%s", e->why);
}

/* The blocking part, run with the mutex released. */
static void lookup(const char *addr, struct cache_ent *out)
{
    char host[FR_RESOLVE_ADDR_MAX];
    const char *port;
    memset(out, 0, sizeof *out);
    out->status = FR_RESOLVE_FAIL;
    if (!split(addr, host, sizeof host, &port)) {
        snprintf(out->why, sizeof out->why, "not a host:port address");
        return;
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai = NULL;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0 || !ai) {
        snprintf(out->why, sizeof out->why, "%s", rc ? gai_strerror(rc) : "no address");
        if (ai)
            freeaddrinfo(ai);
        return;
    }
    if (ai->ai_addrlen <= sizeof out->sa) {
        memcpy(&out->sa, ai->ai_addr, ai->ai_addrlen);
        out->salen = ai->ai_addrlen;
        out->status = FR_RESOLVE_DONE;
    } else {
        snprintf(out->why, sizeof out->why, "address too long");
    }
    freeaddrinfo(ai);
}

/* Mutex held. Stores a fresh answer. A failed refresh keeps an answer that
 * is still usable: a blip in DNS should not take a working host away. */
static void cache_store(const char *addr, const struct cache_ent *ans)
{
    struct cache_ent *e = cache_find(addr);
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e)
            return;
        snprintf(e->addr, sizeof e->addr, "%s", addr);
        e->next = cache;
        cache = e;
    } else if (ans->status != FR_RESOLVE_DONE && e->status == FR_RESOLVE_DONE) {
        e->refreshing = false;
        e->expires = now_mono() + FR_RESOLVE_NEG_TTL; /* try again soon */
        return;
    }
    e->status = ans->status;
    e->sa = ans->sa;
    e->salen = ans->salen;
    snprintf(e->why, sizeof e->why, "%s", ans->why);
    e->expires = now_mono() + (ans->status == FR_RESOLVE_DONE ? FR_RESOLVE_TTL : FR_RESOLVE_NEG_TTL);
    e->refreshing = false;
}

static void *resolver_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    for (;;) {
        while (!q_head)
            pthread_cond_wait(&cv, &mu);
        struct fr_resolve_req *req = q_head;
        q_head = req->next;
        if (!q_head)
            q_tail = NULL;
        req->next = NULL;
        char addr[FR_RESOLVE_ADDR_MAX];
        snprintf(addr, sizeof addr, "%s", req->addr);
        bool background = req->inbox == NULL;
        /* A request queued behind another for the same name is answered
         * from what that one found. */
        struct cache_ent *e = cache_find(addr);
        if (!background && e && !e->refreshing && e->expires > now_mono()) {
            copy_answer(req, e);
            req->queued = false;
            fr_inbox_push(req->inbox, &req->node);
            continue;
        }
        running = req;
        pthread_mutex_unlock(&mu);
        struct cache_ent ans;
        lookup(addr, &ans);
        if (background)
            free(req);
        pthread_mutex_lock(&mu);
        cache_store(addr, &ans);
        if (!background && running == req) {
            req->status = ans.status;
            req->sa = ans.sa;
            req->salen = ans.salen;
            snprintf(req->why, sizeof req->why, "%s", ans.why);
            req->queued = false;
            fr_inbox_push(req->inbox, &req->node);
        }
        running = NULL;
    }
    return NULL;
}

/* Mutex held. Queues a job, starting the thread on first use. False when
 * the thread cannot be started. */
static bool enqueue(struct fr_resolve_req *req)
{
    if (!started) {
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &at, resolver_main, NULL);
        pthread_attr_destroy(&at);
        if (rc != 0)
            return false;
        started = true;
    }
    req->next = NULL;
    req->queued = true;
    if (q_tail)
        q_tail->next = req;
    else
        q_head = req;
    q_tail = req;
    pthread_cond_signal(&cv);
    return true;
}

/* Mutex held. Queues a background lookup of e's address, once. */
static void refresh(const char *addr, struct cache_ent *e)
{
    if (e && e->refreshing)
        return;
    struct fr_resolve_req *bg = calloc(1, sizeof *bg);
    if (!bg)
        return;
    snprintf(bg->addr, sizeof bg->addr, "%s", addr);
    if (!enqueue(bg)) {
        free(bg);
        return;
    }
    if (e)
        e->refreshing = true;
}

enum fr_resolve_rc fr_resolve_start(struct fr_resolve_req *req, const char *addr, struct fr_inbox *inbox)
{
    req->queued = false;
    req->why[0] = 0;
    if (fr_resolve_literal(addr, &req->sa, &req->salen))
        return req->status = FR_RESOLVE_DONE;
    if (strlen(addr) >= sizeof req->addr) {
        snprintf(req->why, sizeof req->why, "address too long");
        return req->status = FR_RESOLVE_FAIL;
    }
    snprintf(req->addr, sizeof req->addr, "%s", addr);
    req->inbox = inbox;
    pthread_mutex_lock(&mu);
    struct cache_ent *e = cache_find(addr);
    if (e && (e->expires > now_mono() || (e->status == FR_RESOLVE_DONE))) {
        /* Fresh, or stale but usable: answer now, look again behind it. */
        if (e->expires <= now_mono())
            refresh(addr, e);
        copy_answer(req, e);
        pthread_mutex_unlock(&mu);
        return (enum fr_resolve_rc)req->status;
    }
    if (!enqueue(req)) {
        pthread_mutex_unlock(&mu);
        snprintf(req->why, sizeof req->why, "cannot start the resolver thread");
        return req->status = FR_RESOLVE_FAIL;
    }
    pthread_mutex_unlock(&mu);
    return FR_RESOLVE_PENDING;
}

bool fr_resolve_cancel(struct fr_resolve_req *req)
{
    pthread_mutex_lock(&mu);
    bool ours = req->queued;
    if (ours) {
        struct fr_resolve_req **pp = &q_head, *prev = NULL;
        while (*pp && *pp != req) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        if (*pp) {
            *pp = req->next;
            if (q_tail == req)
                q_tail = prev;
        }
        if (running == req)
            running = NULL;
        req->queued = false;
    }
    pthread_mutex_unlock(&mu);
    return ours;
}

void fr_resolve_prefetch(const char *addr)
{
    struct sockaddr_storage sa;
    socklen_t salen;
    if (strlen(addr) >= FR_RESOLVE_ADDR_MAX || fr_resolve_literal(addr, &sa, &salen))
        return;
    pthread_mutex_lock(&mu);
    struct cache_ent *e = cache_find(addr);
    if (!e || e->expires <= now_mono())
        refresh(addr, e);
    pthread_mutex_unlock(&mu);
}
