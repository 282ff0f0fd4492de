/*
 * workpool: a few threads that run slow jobs (encryption of large messages)
 * off the event loops, and hand each finished job back to the loop it came
 * from.
 *
 *   loop thread                 pool threads                loop thread
 *   -----------                 ------------                -----------
 *   fr_workpool_submit(job) --> queue (bounded) --> run(job)
 *                                                   fr_inbox_push(home) --> done(job)
 *
 * - The queue holds at most max_queued jobs that no thread has started.
 *   Submitting to a full queue fails at once (it never waits): the caller
 *   decides what to do instead (the connection layer runs the work inline).
 * - Jobs start in the order they were submitted; with more than one thread
 *   they may finish in any order. A caller that needs order keeps at most one
 *   job of its own out at a time.
 * - done() runs on the loop that owns `home` (an inbox whose handler is
 *   fr_job_inbox_handler, or one that calls fr_job_complete for its nodes).
 * - Nothing here allocates per job: the job is the caller's, embedded in its
 *   own object, and stays the caller's; the pool only links it while it is
 *   queued and running.
 *
 * Shutdown (fr_workpool_free): every job already queued still runs and is
 * handed back; then the threads are joined. Owners must have stopped
 * submitting, and must keep their inboxes alive until their jobs came back.
 */
#ifndef FR_WORKPOOL_H
#define FR_WORKPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inbox.h"

struct fr_job {
    struct fr_inbox_node node;      /* link in `home` once run */
    struct fr_inbox_node qnode;     /* link in the pool's queue; the pool's */
    void (*run)(struct fr_job *j);  /* on a pool thread */
    void (*done)(struct fr_job *j); /* on home's loop, after run */
    struct fr_inbox *home;          /* where the finished job goes */
    uint64_t queued_ns;             /* set by submit (monotonic) */
    uint64_t started_ns;            /* set when a thread takes it */
    uint64_t finished_ns;           /* set when run returned */
};

/* Wait-time histogram bounds in microseconds (the last is +Inf). */
#define FR_WORKPOOL_NBUCKETS 12
extern const uint64_t fr_workpool_bucket_us[FR_WORKPOOL_NBUCKETS];

/* Counters since the start, for metrics (read with relaxed atomics). */
struct fr_workpool_stats {
    uint64_t submitted;                          /* jobs accepted by submit */
    uint64_t refused;                            /* submits that failed: queue full */
    uint64_t wait_ns;                            /* sum of queued -> started */
    uint64_t run_ns;                             /* sum of started -> finished */
    uint64_t finished;                           /* jobs run to the end */
    uint64_t taken_back;                         /* of those, run by a loop after waiting too long */
    uint64_t wait_buckets[FR_WORKPOOL_NBUCKETS]; /* by wait, not cumulative */
    uint64_t depth;                              /* queued now, not started */
    uint64_t running;                            /* being run now */
    int threads;
    size_t max_queued;
};

struct fr_workpool;

/* `nice` beyond the niceness range: the threads run under Linux's SCHED_IDLE
 * policy, only on a core that no other thread of the machine wants, and any
 * thread that wakes there takes the core from them at once. */
#define FR_WORKPOOL_IDLE 20

/* Starts nthreads threads (>= 1) with a queue of at most max_queued (>= 1)
 * jobs waiting, named "<name>-<i>" (name cut to 10 characters) and running
 * at niceness `nice` (0..19; higher yields the CPU to the rest of the
 * process) or, with FR_WORKPOOL_IDLE, under SCHED_IDLE. NULL when a thread
 * or memory cannot be had, or nice is out of range (nothing is left
 * running then). */
struct fr_workpool *fr_workpool_new(int nthreads, size_t max_queued, const char *name, int nice);

/* Queues j (run, done and home set by the caller). 0, or -1 when the queue is
 * full or the pool is stopping: j was not taken. Any thread. */
int fr_workpool_submit(struct fr_workpool *p, struct fr_job *j);

/* The oldest job not started, taken off the queue when it has waited
 * waited_ns or more, for the caller to run with fr_workpool_run_here (its
 * threads have not come to it: they are starved of CPU, under SCHED_IDLE or
 * a high niceness on full cores). NULL when there is none, or when a thread
 * is taking a job right now. Never waits for a lock. Any thread. */
struct fr_job *fr_workpool_take_stale(struct fr_workpool *p, uint64_t waited_ns);
/* Runs a job fr_workpool_take_stale gave, on the calling thread, and hands it
 * back to its home as a pool thread would (counted as run by the pool). */
void fr_workpool_run_here(struct fr_workpool *p, struct fr_job *j);

/* Whether the threads run under SCHED_IDLE (FR_WORKPOOL_IDLE). */
bool fr_workpool_idle(const struct fr_workpool *p);

/* Jobs queued and not yet started now. Any thread. */
size_t fr_workpool_depth(const struct fr_workpool *p);

void fr_workpool_stats(const struct fr_workpool *p, struct fr_workpool_stats *out);

/* Runs what is queued, hands it back, joins the threads, frees p. NULL: no-op. */
void fr_workpool_free(struct fr_workpool *p);

/* For a home inbox's owner: the node is a finished job; call its done(). */
void fr_job_complete(struct fr_inbox_node *node);
/* An fr_inbox_handler that does just that (arg unused). */
void fr_job_inbox_handler(struct fr_inbox_node *node, void *arg);

#endif
