/*
 * inbox: hand work from any thread to one event loop.
 *
 *   producer threads                     the loop's thread
 *   ----------------                     -----------------
 *   fr_inbox_push(node) --+
 *   fr_inbox_push(node) --+--> queue --> ev_async --> fr_inbox_drain()
 *   fr_inbox_push(node) --+                             handler(node, arg)
 *
 * - The queue is intrusive: embed a struct fr_inbox_node in your own object
 *   and get back to the object with offsetof in the handler. Nothing here
 *   allocates.
 * - Pushing never takes a lock and never waits for another thread: one
 *   compare-and-swap (retried only when another push got in first), then
 *   ev_async_send() to wake the loop.
 * - A push is one atomic step: a producer stopped anywhere inside it (say a
 *   low-priority thread the scheduler parks) hides only its own node, never
 *   the nodes other producers push after it.
 * - One consumer: the loop's thread. Its ev_async callback takes every queued
 *   node at once and calls the handler once per node. Nodes from one producer
 *   arrive in the order that producer pushed them; nodes from different
 *   producers interleave in the order their pushes took effect.
 * - No wakeup is lost: a push signals the loop after its node is linked in,
 *   and libev delivers a signal that comes in while the callback runs as a
 *   new callback.
 *
 * Ownership: the queue holds a pushed node until the handler is called with
 * it; from then on the node is the handler's again (free it, reuse it, push
 * it again). The queue never touches a node after passing it to the handler.
 */
#ifndef FR_INBOX_H
#define FR_INBOX_H

#include <ev.h>
#include <stdatomic.h>
#include <stddef.h>

struct fr_inbox_node {
    _Atomic(struct fr_inbox_node *) next; /* the queue's link; not for the owner */
};

/* The lock-free stack under every inbox, for other queues that hand nodes
 * from many threads to one taker at a time (the crypto threads' jobs).
 * fr_inbox_stack_push is one compare-and-swap (release) and can be called
 * from any thread; fr_inbox_stack_take swaps the whole stack out (acquire)
 * and returns it oldest first, linked through `next`, or NULL. What it
 * returns is the taker's: it reads the links with relaxed loads. */
typedef _Atomic(struct fr_inbox_node *) fr_inbox_stack;
void fr_inbox_stack_push(fr_inbox_stack *top, struct fr_inbox_node *node);
struct fr_inbox_node *fr_inbox_stack_take(fr_inbox_stack *top);

/* Called on the loop's thread for each node, in queue order. */
typedef void (*fr_inbox_handler)(struct fr_inbox_node *node, void *arg);

struct fr_inbox {
    /* Written by every producer: kept apart from the consumer's fields so
     * that pushes do not keep stealing the cache line the drain reads. */
    fr_inbox_stack top; /* newest node, linked to older ones */
    char pad_[64 - sizeof(void *)];
    ev_async async; /* the push -> loop signal */
    struct ev_loop *loop;
    fr_inbox_handler handler;
    void *arg;
};

/* Binds `inbox` to `loop` and starts its ev_async watcher. Call it on the
 * loop's thread, or before the loop runs. */
void fr_inbox_init(struct fr_inbox *inbox, struct ev_loop *loop, fr_inbox_handler handler, void *arg);

/* Queues `node` and wakes the loop. Safe from any thread, the loop's own
 * included; never blocks. Not allowed once fr_inbox_stop has begun. */
void fr_inbox_push(struct fr_inbox *inbox, struct fr_inbox_node *node);

/* Loop thread only. Calls the handler for every queued node, oldest first,
 * and returns how many. Nodes the handler pushes to this inbox are handled in
 * the same call. */
size_t fr_inbox_drain(struct fr_inbox *inbox);

/* Loop thread only; not from inside the handler. Hands every queued node to
 * the handler, then stops the watcher. Producers must be finished with this
 * inbox before it is called. */
void fr_inbox_stop(struct fr_inbox *inbox);

#endif
