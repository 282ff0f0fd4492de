/*
 * workpool.c: a FIFO of jobs under one mutex, N threads waiting on a
 * condition variable (see workpool.h). Jobs are few and slow (a large
 * message to encrypt takes the better part of a millisecond), so one lock
 * taken twice per job costs nothing next to the job itself.
 */
#define _GNU_SOURCE
#include "workpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

const uint64_t fr_workpool_bucket_us[FR_WORKPOOL_NBUCKETS] = {
    10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 50000, 250000, UINT64_MAX,
};

struct fr_workpool {
    pthread_mutex_t lock;
    pthread_cond_t wake;        /* a job was queued, or stopping */
    pthread_cond_t up;          /* a thread has set itself up */
    int nup;                    /* threads set up (under the lock) */
    struct fr_job *head, *tail; /* waiting jobs, oldest first */
    size_t depth;               /* jobs waiting (atomic reads from outside) */
    size_t max_queued;
    bool stopping; /* no more submits; threads leave once the queue is empty */
    int nthreads;
    pthread_t *thr;
    char name[16]; /* thread name prefix (ps -L, top -H) */
    int nice;      /* each thread's niceness, set by the thread itself */
    /* counters: written under the lock or by atomic adds, read by scrapes */
    uint64_t submitted, refused, wait_ns, run_ns, finished, running;
    uint64_t wait_buckets[FR_WORKPOOL_NBUCKETS];
};

static void add(uint64_t *v, uint64_t d) { __atomic_fetch_add(v, d, __ATOMIC_RELAXED); }

static void account(struct fr_workpool *p, struct fr_job *j)
{
    uint64_t wait = j->started_ns - j->queued_ns;
    add(&p->wait_ns, wait);
    add(&p->run_ns, j->finished_ns - j->started_ns);
    add(&p->finished, 1);
    int b = 0;
    while (b < FR_WORKPOOL_NBUCKETS - 1 && wait / 1000 > fr_workpool_bucket_us[b])
        b++;
    add(&p->wait_buckets[b], 1);
}

static void *pool_main(void *arg)
{
    struct fr_workpool *p = arg;
    /* Linux keeps a niceness per thread: this one's, not the process's. */
    if (p->nice && setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), p->nice) < 0)
        fr_warn("%s thread: cannot set niceness %d: %s", p->name, p->nice, strerror(errno));
    pthread_mutex_lock(&p->lock);
    p->nup++;
    pthread_cond_broadcast(&p->up);
    for (;;) {
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->wake, &p->lock);
        struct fr_job *j = p->head;
        if (!j)
            break; /* stopping and nothing left */
        p->head = j->qnext;
        if (!p->head)
            p->tail = NULL;
        __atomic_store_n(&p->depth, p->depth - 1, __ATOMIC_RELAXED);
        add(&p->running, 1);
        pthread_mutex_unlock(&p->lock);

        j->started_ns = fr_mono_ns();
        j->run(j);
        j->finished_ns = fr_mono_ns();
        account(p, j);
        __atomic_fetch_sub(&p->running, 1, __ATOMIC_RELAXED);
        /* After this push the job belongs to its owner's loop again: it may
         * be freed or resubmitted before the next line runs. */
        fr_inbox_push(j->home, &j->node);

        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

struct fr_workpool *fr_workpool_new(int nthreads, size_t max_queued, const char *name, int nice)
{
    if (nthreads < 1 || max_queued < 1 || nice < 0 || nice > 19)
        return NULL;
    struct fr_workpool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->thr = calloc((size_t)nthreads, sizeof *p->thr);
    if (!p->thr) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->up, NULL);
    p->max_queued = max_queued;
    p->nice = nice;
    snprintf(p->name, sizeof p->name, "%s", name && *name ? name : "pool");
    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&p->thr[i], NULL, pool_main, p) != 0) {
            fr_workpool_free(p); /* joins the ones that started */
            return NULL;
        }
        p->nthreads = i + 1;
        char tn[16]; /* the kernel keeps 15 characters */
        snprintf(tn, sizeof tn, "%.10s-%u", p->name, (unsigned)i % 1000u);
        pthread_setname_np(p->thr[i], tn);
    }
    /* Returned, the pool's threads run at their niceness. */
    pthread_mutex_lock(&p->lock);
    while (p->nup < p->nthreads)
        pthread_cond_wait(&p->up, &p->lock);
    pthread_mutex_unlock(&p->lock);
    return p;
}

int fr_workpool_submit(struct fr_workpool *p, struct fr_job *j)
{
    j->qnext = NULL;
    j->queued_ns = fr_mono_ns();
    pthread_mutex_lock(&p->lock);
    if (p->stopping || p->depth >= p->max_queued) {
        pthread_mutex_unlock(&p->lock);
        add(&p->refused, 1);
        return -1;
    }
    if (p->tail)
        p->tail->qnext = j;
    else
        p->head = j;
    p->tail = j;
    __atomic_store_n(&p->depth, p->depth + 1, __ATOMIC_RELAXED);
    add(&p->submitted, 1);
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

size_t fr_workpool_depth(const struct fr_workpool *p) { return __atomic_load_n(&p->depth, __ATOMIC_RELAXED); }

void fr_workpool_stats(const struct fr_workpool *p, struct fr_workpool_stats *out)
{
    out->submitted = __atomic_load_n(&p->submitted, __ATOMIC_RELAXED);
    out->refused = __atomic_load_n(&p->refused, __ATOMIC_RELAXED);
    out->wait_ns = __atomic_load_n(&p->wait_ns, __ATOMIC_RELAXED);
    out->run_ns = __atomic_load_n(&p->run_ns, __ATOMIC_RELAXED);
    out->finished = __atomic_load_n(&p->finished, __ATOMIC_RELAXED);
    for (int b = 0; b < FR_WORKPOOL_NBUCKETS; b++)
        out->wait_buckets[b] = __atomic_load_n(&p->wait_buckets[b], __ATOMIC_RELAXED);
    out->depth = fr_workpool_depth(p);
    out->running = __atomic_load_n(&p->running, __ATOMIC_RELAXED);
    out->threads = p->nthreads;
    out->max_queued = p->max_queued;
}

void fr_workpool_free(struct fr_workpool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->thr[i], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->up);
    pthread_mutex_destroy(&p->lock);
    free(p->thr);
    free(p);
}

void fr_job_complete(struct fr_inbox_node *node)
{
    struct fr_job *j = (struct fr_job *)((char *)node - offsetof(struct fr_job, node));
    j->done(j);
}

void fr_job_inbox_handler(struct fr_inbox_node *node, void *arg) { fr_job_complete(node); }
