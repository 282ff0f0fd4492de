/*
 * test_inbox: lib/inbox with real threads and a real libev loop.
 *
 *   - one thread, no loop running: pushes and drains in every order the
 *     queue's placeholder node makes interesting;
 *   - three producer threads push 100,000 nodes each while the loop thread
 *     drains: every node arrives once, each producer's nodes in order;
 *   - ping-pong: a producer pushes one node and waits until the loop has
 *     handled it, many times over, so each round needs its own wakeup and a
 *     lost one hangs the test instead of hiding behind later pushes;
 *   - stop with nodes still queued hands them all to the handler first.
 *
 * The loop has no timer of its own (a timer would wake it and hide a lost
 * wakeup). A watchdog thread fails the test if it has not finished in time.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "inbox.h"

#define NPROD 3
#define PER_PROD 100000
#define PINGS 20000
#define DEADLINE_S 120 /* generous: sanitizer builds are slow */

struct tnode {
    struct fr_inbox_node node;
    int producer;
    uint32_t seq;
};

#define TNODE(n) ((struct tnode *)((char *)(n) - offsetof(struct tnode, node)))

/* ---- one thread ---- */

struct order {
    uint32_t got[64];
    size_t n;
};

static void record(struct fr_inbox_node *n, void *arg)
{
    struct order *o = arg;
    if (o->n < 64)
        o->got[o->n] = TNODE(n)->seq;
    o->n++;
}

static void test_single_thread(void)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct fr_inbox q;
    struct order o = { .n = 0 };
    struct tnode t[8];
    for (uint32_t i = 0; i < 8; i++)
        t[i] = (struct tnode){ .seq = i };
    fr_inbox_init(&q, loop, record, &o);

    CHECK_EQ(fr_inbox_drain(&q), 0u);
    fr_inbox_push(&q, &t[0].node);
    CHECK_EQ(fr_inbox_drain(&q), 1u);
    CHECK_EQ(o.got[0], 0u);
    CHECK_EQ(fr_inbox_drain(&q), 0u);
    /* A lone node again, after the inbox was emptied. */
    fr_inbox_push(&q, &t[1].node);
    CHECK_EQ(fr_inbox_drain(&q), 1u);
    for (int i = 2; i < 8; i++)
        fr_inbox_push(&q, &t[i].node);
    CHECK_EQ(fr_inbox_drain(&q), 6u);
    CHECK_EQ(o.n, 8u);
    for (uint32_t i = 0; i < 8; i++)
        CHECK_EQ(o.got[i], i);
    /* A handled node may be pushed again straight away. */
    fr_inbox_push(&q, &t[3].node);
    fr_inbox_push(&q, &t[5].node);
    CHECK_EQ(fr_inbox_drain(&q), 2u);
    CHECK_EQ(o.got[8], 3u);
    CHECK_EQ(o.got[9], 5u);

    /* The signal from a push on the loop's own thread runs the callback. */
    fr_inbox_push(&q, &t[7].node);
    ev_run(loop, EVRUN_NOWAIT);
    CHECK_EQ(o.n, 11u);
    fr_inbox_stop(&q);
    CHECK(!ev_is_active(&q.async));
    ev_loop_destroy(loop);
}

/* ---- producers against a running loop ---- */

struct bulk {
    struct ev_loop *loop;
    struct fr_inbox q;
    struct tnode *nodes[NPROD]; /* PER_PROD each */
    uint32_t next_seq[NPROD];   /* loop thread only */
    uint8_t *seen[NPROD];
    long out_of_order;
    long handled;
    long goal;
    _Atomic long handled_pub;   /* what the ping-pong producer waits on */
    struct ev_loop *break_loop;
};

static void on_bulk(struct fr_inbox_node *n, void *arg)
{
    struct bulk *b = arg;
    struct tnode *t = TNODE(n);
    if (t->seq != b->next_seq[t->producer])
        b->out_of_order++;
    b->next_seq[t->producer] = t->seq + 1;
    b->seen[t->producer][t->seq]++;
    b->handled++;
    atomic_store_explicit(&b->handled_pub, b->handled, memory_order_release);
    if (b->handled == b->goal)
        ev_break(b->loop, EVBREAK_ALL);
}

struct prod {
    struct bulk *b;
    int id;
    _Atomic int *go;
};

static void *producer(void *arg)
{
    struct prod *p = arg;
    while (!atomic_load(p->go))
        sched_yield();
    struct tnode *nodes = p->b->nodes[p->id];
    for (uint32_t i = 0; i < PER_PROD; i++) {
        nodes[i].producer = p->id;
        nodes[i].seq = i;
        fr_inbox_push(&p->b->q, &nodes[i].node);
    }
    return NULL;
}

static void *loop_thread(void *arg)
{
    struct bulk *b = arg;
    ev_run(b->loop, 0);
    return NULL;
}

static void test_producers(void)
{
    struct bulk *b = calloc(1, sizeof *b);
    b->loop = ev_loop_new(EVFLAG_AUTO);
    b->goal = (long)NPROD * PER_PROD;
    for (int i = 0; i < NPROD; i++) {
        b->nodes[i] = calloc(PER_PROD, sizeof(struct tnode));
        b->seen[i] = calloc(PER_PROD, 1);
    }
    fr_inbox_init(&b->q, b->loop, on_bulk, b);

    pthread_t lt, pt[NPROD];
    _Atomic int go = 0;
    struct prod ps[NPROD];
    pthread_create(&lt, NULL, loop_thread, b);
    for (int i = 0; i < NPROD; i++) {
        ps[i] = (struct prod){ b, i, &go };
        pthread_create(&pt[i], NULL, producer, &ps[i]);
    }
    atomic_store(&go, 1);
    for (int i = 0; i < NPROD; i++)
        pthread_join(pt[i], NULL);
    /* The loop returns only once it has handled the last node. */
    pthread_join(lt, NULL);

    CHECK_EQ(b->handled, b->goal);
    CHECK_EQ(b->out_of_order, 0);
    long once = 0;
    for (int i = 0; i < NPROD; i++)
        for (int s = 0; s < PER_PROD; s++)
            once += b->seen[i][s] == 1;
    CHECK_EQ(once, b->goal);
    CHECK_EQ(fr_inbox_drain(&b->q), 0u);

    /* Ping-pong on the same inbox: one node in flight at a time. */
    b->goal = b->handled + PINGS;
    memset(b->next_seq, 0, sizeof b->next_seq);
    pthread_create(&lt, NULL, loop_thread, b);
    struct tnode *t = &b->nodes[0][0];
    for (uint32_t i = 0; i < PINGS; i++) {
        long before = atomic_load_explicit(&b->handled_pub, memory_order_acquire);
        t->producer = 0;
        t->seq = i;
        fr_inbox_push(&b->q, &t->node);
        while (atomic_load_explicit(&b->handled_pub, memory_order_acquire) == before)
            sched_yield();
    }
    pthread_join(lt, NULL);
    CHECK_EQ(b->handled, b->goal);
    CHECK_EQ(b->out_of_order, 0);

    fr_inbox_stop(&b->q);
    ev_loop_destroy(b->loop);
    for (int i = 0; i < NPROD; i++) {
        free(b->nodes[i]);
        free(b->seen[i]);
    }
    free(b);
}

/* ---- stop with nodes queued ---- */

static void *push_some(void *arg)
{
    struct prod *p = arg;
    for (uint32_t i = 0; i < 1000; i++) {
        struct tnode *t = &p->b->nodes[p->id][i];
        t->producer = p->id;
        t->seq = i;
        fr_inbox_push(&p->b->q, &t->node);
    }
    return NULL;
}

static void test_stop_drains(void)
{
    struct bulk *b = calloc(1, sizeof *b);
    b->loop = ev_loop_new(EVFLAG_AUTO);
    b->goal = -1; /* never break: the loop is not run here */
    for (int i = 0; i < NPROD; i++) {
        b->nodes[i] = calloc(1000, sizeof(struct tnode));
        b->seen[i] = calloc(1000, 1);
    }
    fr_inbox_init(&b->q, b->loop, on_bulk, b);
    /* Queued from other threads while the loop sleeps (it never runs). */
    pthread_t pt[NPROD];
    struct prod ps[NPROD];
    for (int i = 0; i < NPROD; i++) {
        ps[i] = (struct prod){ b, i, NULL };
        pthread_create(&pt[i], NULL, push_some, &ps[i]);
    }
    for (int i = 0; i < NPROD; i++)
        pthread_join(pt[i], NULL);
    CHECK_EQ(b->handled, 0);
    fr_inbox_stop(&b->q);
    CHECK_EQ(b->handled, NPROD * 1000);
    CHECK_EQ(b->out_of_order, 0);
    CHECK(!ev_is_active(&b->q.async));
    /* The signals the pushes left behind find no watcher and no node. */
    ev_run(b->loop, EVRUN_NOWAIT);
    CHECK_EQ(b->handled, NPROD * 1000);
    ev_loop_destroy(b->loop);
    for (int i = 0; i < NPROD; i++) {
        free(b->nodes[i]);
        free(b->seen[i]);
    }
    free(b);
}

static void *watchdog(void *arg)
{
    sleep(DEADLINE_S);
    fprintf(stderr, "test_inbox: not done after %d s (a lost wakeup?)\n", DEADLINE_S);
    _exit(2);
}

int main(void)
{
    pthread_t wd;
    pthread_create(&wd, NULL, watchdog, NULL);
    pthread_detach(wd);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    test_single_thread();
    test_producers();
    test_stop_drains();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("took %.2f s\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    return check_report();
}
