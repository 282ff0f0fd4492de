/*
 * inbox: a lock-free stack that producers push onto and the loop empties in
 * one swap, behind an ev_async watcher. See inbox.h.
 *
 *   top -> newest -> ... -> oldest -> NULL
 *
 * A push links its node to the current top and swings `top` to it with one
 * compare-and-swap; when another push got in first, it links to the new top
 * and tries again. Until that swap succeeds the node is invisible, and once
 * it succeeds the node is fully linked: there is no moment in which a pushed
 * node cuts the list, so a stalled producer delays nobody but itself.
 *
 * The consumer swaps `top` for NULL, which takes the whole stack, turns the
 * taken list around (newest-first to oldest-first) and hands it out. Taking
 * everything at once is what keeps the stack free of the ABA problem: a push
 * compares `top` with the node it linked to, and whatever that node went
 * through in between, if it is `top` again it is the right node to link to.
 */
#include "inbox.h"

static void on_async(struct ev_loop *loop, ev_async *w, int revents) { (void)fr_inbox_drain(w->data); }

void fr_inbox_init(struct fr_inbox *inbox, struct ev_loop *loop, fr_inbox_handler handler, void *arg)
{
    atomic_init(&inbox->top, NULL);
    inbox->loop = loop;
    inbox->handler = handler;
    inbox->arg = arg;
    ev_async_init(&inbox->async, on_async);
    inbox->async.data = inbox;
    ev_async_start(loop, &inbox->async);
}

void fr_inbox_stack_push(fr_inbox_stack *top, struct fr_inbox_node *node)
{
    struct fr_inbox_node *old = atomic_load_explicit(top, memory_order_relaxed);
    do
        atomic_store_explicit(&node->next, old, memory_order_relaxed);
    /* release: the taker's acquire swap sees the node, its link and what the
     * producer wrote into the object around it. */
    while (!atomic_compare_exchange_weak_explicit(top, &old, node, memory_order_release, memory_order_relaxed));
}

struct fr_inbox_node *fr_inbox_stack_take(fr_inbox_stack *top)
{
    struct fr_inbox_node *taken = atomic_exchange_explicit(top, NULL, memory_order_acquire);
    /* Newest first as taken; reversed into push order. */
    struct fr_inbox_node *oldest = NULL;
    while (taken) {
        struct fr_inbox_node *next = atomic_load_explicit(&taken->next, memory_order_relaxed);
        atomic_store_explicit(&taken->next, oldest, memory_order_relaxed);
        oldest = taken;
        taken = next;
    }
    return oldest;
}

void fr_inbox_push(struct fr_inbox *inbox, struct fr_inbox_node *node)
{
    fr_inbox_stack_push(&inbox->top, node);
    /* Only after the swap: a drain woken by this signal must find the node. */
    ev_async_send(inbox->loop, &inbox->async);
}

size_t fr_inbox_drain(struct fr_inbox *inbox)
{
    size_t n = 0;
    struct fr_inbox_node *oldest;
    while ((oldest = fr_inbox_stack_take(&inbox->top))) {
        while (oldest) {
            struct fr_inbox_node *next = atomic_load_explicit(&oldest->next, memory_order_relaxed);
            /* The node is the handler's from here on: it may push it again. */
            inbox->handler(oldest, inbox->arg);
            oldest = next;
            n++;
        }
    }
    return n;
}

void fr_inbox_stop(struct fr_inbox *inbox)
{
    fr_inbox_drain(inbox);
    ev_async_stop(inbox->loop, &inbox->async);
}
