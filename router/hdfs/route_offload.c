/*
 * route_offload.c: mapping a large answer's paths on a crypto thread.
 *
 *   complete_one (loop)              crypto thread            loop (inbox)
 *   -------------------              -------------            ------------
 *   large answer, paths to map  -->  rd_map_response    -->   answer the call
 *   and other calls waiting          into the job's buffer    (reply_one_mapped),
 *                                                              free the state
 *
 * A listing of a thousand entries is walked field by field for symlink
 * targets to map back through the mount; done on the loop, that walk holds
 * back every small call of the worker behind it, which is what the crypto
 * threads are there to prevent. The thread reads only what the call's state
 * keeps still while the job is out: the snapshot (held by the state), the
 * method row, the mount's paths, the nameservice's name and the answer's
 * bytes. Nothing of the client connection is touched there.
 *
 * While the job is out the call stays on its connection with rc->route set,
 * so a client that goes away cancels it like any call in flight: the state
 * forgets the call (st->rc = NULL) and the job frees the state when it is
 * back, answering no one. A worker that stops waits for the job like for its
 * transport jobs (the loop's conn_crypto counts both).
 *
 * IPC answers carry their call id, so this answer may overtake or follow
 * others of the same connection, as answers of different subclusters do.
 */
#include <stdlib.h>

#include "conn_crypto.h"
#include "hdfs_conn.h"
#include "route_deps.h"
#include "route_internal.h"
#include "workpool.h"
#include "worker.h"

/* Answers smaller than this are mapped on the loop: the hand-off would cost
 * more than the walk. */
#define REPLY_OFFLOAD_MIN (32u << 10)

struct reply_job {
    struct fr_job base;
    struct rstate *st;
    struct sub *s;
    struct conn_crypto *cc;
    struct buf out; /* the mapped answer (mapped == 1) */
    int mapped;     /* rd_map_response's result */
};

static void run_map(struct fr_job *fj)
{
    struct reply_job *j = (struct reply_job *)fj;
    const struct rstate *st = j->st;
    j->mapped = rd_map_response(st->snap, st->m, j->s->hc.ns->name, st->dest, st->src, buf_rptr(&j->s->payload),
                                buf_len(&j->s->payload), &j->out);
}

static void map_done(struct fr_job *fj)
{
    struct reply_job *j = (struct reply_job *)fj;
    struct rstate *st = j->st;
    conn_crypto_job_back(j->cc);
    st->job = NULL;
    if (st->rc) {
        st->rc->route = NULL;
        /* As inline: an answer that could not be mapped goes as it came. */
        if (j->mapped == 1)
            reply_one_mapped(st, j->s, buf_rptr(&j->out), buf_len(&j->out));
        else
            reply_one_mapped(st, j->s, buf_rptr(&j->s->payload), buf_len(&j->s->payload));
    }
    buf_free(&j->out);
    free(j);
    st_free(st);
}

bool reply_map_offload(struct rstate *st, struct sub *s)
{
    struct rcall *rc = st->rc;
    struct conn_crypto *cc = &rc->c->w->crypto;
    if (!cc->pool || buf_len(&s->payload) < REPLY_OFFLOAD_MIN || !st->dest || !s->hc.ns ||
        !rd_response_maps(st->m, st->dest, st->src))
        return false;
    struct reply_job *j = malloc(sizeof *j);
    if (!j)
        return false; /* mapped on the loop, as without threads */
    *j = (struct reply_job){ .base = { .run = run_map, .done = map_done }, .st = st, .s = s, .cc = cc };
    /* Only while another call waits on the worker (this one counts among
     * those in flight), and when the queue has room: else on the loop now. */
    if (!conn_crypto_submit(cc, &j->base)) {
        free(j);
        return false;
    }
    st->job = j;
    rc->route = st;
    return true;
}

bool reply_map_cancel(struct rstate *st)
{
    if (!st->job)
        return false;
    st->rc = NULL; /* the job frees st when it is back */
    return true;
}
