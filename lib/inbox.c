/*
 * inbox: an intrusive multi-producer, single-consumer queue (the design
 * Dmitry Vyukov published) behind an ev_async watcher. See inbox.h.
 *
 * The nodes form a list from `tail` (oldest) to `head` (newest):
 *
 *   tail -> n1 -> n2 -> ... -> head -> NULL
 *
 * A push swaps itself in as `head` (the only step producers contend on) and
 * then links the previous head to itself. Between those two steps the list is
 * cut: the consumer can see everything before the cut and waits for the rest.
 * The consumer never removes the last node while a producer might still link
 * to it; when it wants that node, it first pushes `stub` behind it, so that
 * the list always keeps at least one node and `head` never has to be reset.
 */
#define _GNU_SOURCE
#include "inbox.h"

#include <sched.h>

static void link_in(struct fr_inbox *q, struct fr_inbox_node *n)
{
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    /* acq_rel: release publishes n (and what its owner wrote into the object
     * around it) to whoever follows n; acquire pairs with the previous pusher. */
    struct fr_inbox_node *prev = atomic_exchange_explicit(&q->head, n, memory_order_acq_rel);
    /* The consumer's acquire load of prev->next sees n, and everything the
     * producer wrote before this store. */
    atomic_store_explicit(&prev->next, n, memory_order_release);
}

/* The oldest fully linked node, taken off the queue; NULL when the queue is
 * empty or cut by a push in progress. */
static struct fr_inbox_node *pop(struct fr_inbox *q)
{
    struct fr_inbox_node *tail = q->tail;
    struct fr_inbox_node *next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (tail == &q->stub) {
        if (!next)
            return NULL;
        /* Step over the placeholder. */
        q->tail = next;
        tail = next;
        next = atomic_load_explicit(&tail->next, memory_order_acquire);
    }
    if (next) {
        q->tail = next;
        return tail;
    }
    /* `tail` is the last linked node. If it is not also `head`, a producer
     * has swapped in a newer node but not linked it yet. */
    if (tail != atomic_load_explicit(&q->head, memory_order_acquire))
        return NULL;
    /* Put the placeholder behind `tail` so that it can be taken. */
    link_in(q, &q->stub);
    next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (next) {
        q->tail = next;
        return tail;
    }
    /* A producer got in between our check and the stub's push and has not
     * linked yet; its wakeup will bring us back. */
    return NULL;
}

static void on_async(struct ev_loop *loop, ev_async *w, int revents) { (void)fr_inbox_drain(w->data); }

void fr_inbox_init(struct fr_inbox *inbox, struct ev_loop *loop, fr_inbox_handler handler, void *arg)
{
    atomic_init(&inbox->stub.next, NULL);
    atomic_init(&inbox->head, &inbox->stub);
    inbox->tail = &inbox->stub;
    inbox->loop = loop;
    inbox->handler = handler;
    inbox->arg = arg;
    ev_async_init(&inbox->async, on_async);
    inbox->async.data = inbox;
    ev_async_start(loop, &inbox->async);
}

void fr_inbox_push(struct fr_inbox *inbox, struct fr_inbox_node *node)
{
    link_in(inbox, node);
    /* Only after the link: a drain woken by this signal must find the node. */
    ev_async_send(inbox->loop, &inbox->async);
}

size_t fr_inbox_drain(struct fr_inbox *inbox)
{
    size_t n = 0;
    struct fr_inbox_node *node;
    while ((node = pop(inbox))) {
        inbox->handler(node, inbox->arg);
        n++;
    }
    return n;
}

void fr_inbox_stop(struct fr_inbox *inbox)
{
    for (;;) {
        fr_inbox_drain(inbox);
        /* Empty: nothing behind the oldest node and no push half done. */
        if (atomic_load_explicit(&inbox->head, memory_order_acquire) == inbox->tail)
            break;
        /* A producer is between its two steps; it finishes within a few
         * instructions once it runs again. */
        sched_yield();
    }
    ev_async_stop(inbox->loop, &inbox->async);
}
