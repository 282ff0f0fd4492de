/*
 * workpool.c: jobs handed to N threads (see workpool.h).
 *
 *   submit (a loop)                      pool thread
 *   ---------------                      -----------
 *   push on `incoming` (one CAS)   -->   sem_wait(avail)
 *   sem_post(avail)                      lock take (threads only): the
 *                                        oldest of `order`, refilled from
 *                                        `incoming` (taken whole, reversed)
 *
 * No loop ever waits on a lock the threads hold (a loop taking back a stale
 * job only tries theirs, fr_workpool_take_stale). The threads run at
 * a lower priority (nice): a thread preempted while holding a lock the
 * loops also took would stall a loop, and every call on it, until the
 * scheduler came back to that thread (milliseconds on busy cores: the
 * priority inversion this layout avoids). Submitting is a compare-and-swap
 * and a semaphore post, neither of which waits for a thread; the threads'
 * own lock orders them among themselves only. Jobs start in the order they
 * were submitted: `incoming` is newest first, and is reversed behind what
 * `order` still holds.
 */
#define _GNU_SOURCE
#include "workpool.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
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
    fr_inbox_stack incoming;     /* submitted, not yet taken: newest first */
    sem_t avail;                 /* one post per submitted job, and per thread at the stop */
    pthread_mutex_t take;        /* the threads' own: `order` and the refill */
    struct fr_inbox_node *order; /* taken from incoming, oldest first (under take) */
    size_t depth;                /* jobs submitted and not started (atomic) */
    size_t max_queued;
    bool stopping; /* no more submits; threads leave once nothing is left (atomic) */
    int nthreads;
    pthread_t *thr;
    pthread_mutex_t setup; /* start-up only: nup */
    pthread_cond_t up;     /* a thread has set itself up */
    int nup;
    char name[16]; /* thread name prefix (ps -L, top -H) */
    int nice;      /* each thread's niceness, set by the thread itself */
    /* counters: atomic adds, read by scrapes */
    uint64_t submitted, refused, wait_ns, run_ns, finished, running, taken_back;
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

/* Moves what was submitted behind `order`, oldest first, when `order` is
 * empty. Under p->take. */
static void refill(struct fr_workpool *p)
{
    if (!p->order)
        p->order = fr_inbox_stack_take(&p->incoming);
}

#define QJOB(n) ((struct fr_job *)((char *)(n)-offsetof(struct fr_job, qnode)))

/* The oldest job not started, or NULL. Under p->take. */
static struct fr_job *take_oldest(struct fr_workpool *p)
{
    refill(p);
    struct fr_inbox_node *n = p->order;
    if (!n)
        return NULL;
    p->order = atomic_load_explicit(&n->next, memory_order_relaxed);
    __atomic_fetch_sub(&p->depth, 1, __ATOMIC_RELAXED);
    return QJOB(n);
}

/* Runs j and hands it back to its loop. */
static void run_one(struct fr_workpool *p, struct fr_job *j)
{
    add(&p->running, 1);
    j->started_ns = fr_mono_ns();
    j->run(j);
    j->finished_ns = fr_mono_ns();
    account(p, j);
    __atomic_fetch_sub(&p->running, 1, __ATOMIC_RELAXED);
    /* After this push the job belongs to its owner's loop again: it may be
     * freed or resubmitted before the next line runs. */
    fr_inbox_push(j->home, &j->node);
}

static void *pool_main(void *arg)
{
    struct fr_workpool *p = arg;
    /* Linux keeps a niceness and a policy per thread: this one's, not the
     * process's. */
    if (p->nice == FR_WORKPOOL_IDLE) {
        struct sched_param sp = { .sched_priority = 0 };
        int rc = pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
        if (rc)
            fr_warn("%s thread: cannot switch to SCHED_IDLE: %s", p->name, strerror(rc));
    } else if (p->nice && setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), p->nice) < 0) {
        fr_warn("%s thread: cannot set niceness %d: %s", p->name, p->nice, strerror(errno));
    }
    pthread_mutex_lock(&p->setup);
    p->nup++;
    pthread_cond_broadcast(&p->up);
    pthread_mutex_unlock(&p->setup);
    for (;;) {
        while (sem_wait(&p->avail) < 0 && errno == EINTR)
            ;
        pthread_mutex_lock(&p->take);
        struct fr_job *j = take_oldest(p);
        pthread_mutex_unlock(&p->take);
        if (j)
            run_one(p, j);
        else if (__atomic_load_n(&p->stopping, __ATOMIC_ACQUIRE))
            break; /* a stop's post, and nothing left */
    }
    return NULL;
}

struct fr_workpool *fr_workpool_new(int nthreads, size_t max_queued, const char *name, int nice)
{
    if (nthreads < 1 || max_queued < 1 || nice < 0 || nice > FR_WORKPOOL_IDLE)
        return NULL;
    struct fr_workpool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->thr = calloc((size_t)nthreads, sizeof *p->thr);
    if (!p->thr || sem_init(&p->avail, 0, 0) < 0) {
        free(p->thr);
        free(p);
        return NULL;
    }
    atomic_init(&p->incoming, NULL);
    pthread_mutex_init(&p->take, NULL);
    pthread_mutex_init(&p->setup, NULL);
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
    /* Returned, the pool's threads run at their niceness (or policy). */
    pthread_mutex_lock(&p->setup);
    while (p->nup < p->nthreads)
        pthread_cond_wait(&p->up, &p->setup);
    pthread_mutex_unlock(&p->setup);
    return p;
}

int fr_workpool_submit(struct fr_workpool *p, struct fr_job *j)
{
    if (__atomic_load_n(&p->stopping, __ATOMIC_ACQUIRE)) {
        add(&p->refused, 1);
        return -1;
    }
    if (__atomic_fetch_add(&p->depth, 1, __ATOMIC_RELAXED) >= p->max_queued) {
        __atomic_fetch_sub(&p->depth, 1, __ATOMIC_RELAXED);
        add(&p->refused, 1);
        return -1;
    }
    j->queued_ns = fr_mono_ns();
    fr_inbox_stack_push(&p->incoming, &j->qnode);
    add(&p->submitted, 1);
    sem_post(&p->avail);
    return 0;
}

struct fr_job *fr_workpool_take_stale(struct fr_workpool *p, uint64_t waited_ns)
{
    if (!__atomic_load_n(&p->depth, __ATOMIC_RELAXED))
        return NULL;
    /* Never waits: a thread holding the lock is taking a job, so the
     * threads are not stalled. */
    if (pthread_mutex_trylock(&p->take) != 0)
        return NULL;
    refill(p);
    struct fr_job *j = NULL;
    if (p->order && fr_mono_ns() - QJOB(p->order)->queued_ns >= waited_ns)
        j = take_oldest(p);
    pthread_mutex_unlock(&p->take);
    if (j)
        add(&p->taken_back, 1);
    return j;
}

void fr_workpool_run_here(struct fr_workpool *p, struct fr_job *j) { run_one(p, j); }

bool fr_workpool_idle(const struct fr_workpool *p) { return p->nice == FR_WORKPOOL_IDLE; }

size_t fr_workpool_depth(const struct fr_workpool *p) { return __atomic_load_n(&p->depth, __ATOMIC_RELAXED); }

void fr_workpool_stats(const struct fr_workpool *p, struct fr_workpool_stats *out)
{
    out->submitted = __atomic_load_n(&p->submitted, __ATOMIC_RELAXED);
    out->refused = __atomic_load_n(&p->refused, __ATOMIC_RELAXED);
    out->wait_ns = __atomic_load_n(&p->wait_ns, __ATOMIC_RELAXED);
    out->run_ns = __atomic_load_n(&p->run_ns, __ATOMIC_RELAXED);
    out->finished = __atomic_load_n(&p->finished, __ATOMIC_RELAXED);
    out->taken_back = __atomic_load_n(&p->taken_back, __ATOMIC_RELAXED);
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
    __atomic_store_n(&p->stopping, true, __ATOMIC_RELEASE);
    for (int i = 0; i < p->nthreads; i++)
        sem_post(&p->avail);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->thr[i], NULL);
    /* A thread leaves at a stop's post that finds nothing, so jobs posted
     * after it are still here: they run now, as promised. */
    for (struct fr_job *j; (j = take_oldest(p));)
        run_one(p, j);
    sem_destroy(&p->avail);
    pthread_cond_destroy(&p->up);
    pthread_mutex_destroy(&p->setup);
    pthread_mutex_destroy(&p->take);
    free(p->thr);
    free(p);
}

void fr_job_complete(struct fr_inbox_node *node)
{
    struct fr_job *j = (struct fr_job *)((char *)node - offsetof(struct fr_job, node));
    j->done(j);
}

void fr_job_inbox_handler(struct fr_inbox_node *node, void *arg) { fr_job_complete(node); }
