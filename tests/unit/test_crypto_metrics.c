/*
 * test_crypto_metrics: the crypto-thread and transport families of
 * /metrics (metrics_render_crypto). Two loops' counters with the same
 * transport name and one of another are summed by name; a real pool that
 * ran jobs gives the wait histogram (cumulative, count = jobs) and the
 * gauges; no pool renders zeros; every family has one TYPE line and its
 * samples right after it.
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "conn_crypto.h"
#include "metrics.h"
#include "workpool.h"

static char *render(const struct conn_crypto *const *cc, int n, const struct fr_workpool *pool)
{
    struct buf out = BUF_INIT;
    metrics_render_crypto(&out, cc, n, pool);
    char *s = strndup((const char *)buf_rptr(&out), buf_len(&out));
    buf_free(&out);
    return s;
}

static bool has(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = strstr(text, line); p; p = strstr(p + 1, line))
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return true;
    return false;
}

/* Each "# TYPE name" once, and every sample of that family before the next TYPE. */
static bool families_contiguous(const char *text)
{
    char seen[64][96];
    int nseen = 0;
    char cur[96] = "";
    for (const char *p = text; *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)len, p);
        if (strncmp(line, "# TYPE ", 7) == 0) {
            sscanf(line + 7, "%95s", cur);
            for (int i = 0; i < nseen; i++)
                if (strcmp(seen[i], cur) == 0)
                    return false;
            if (nseen < 64)
                snprintf(seen[nseen++], sizeof seen[0], "%s", cur);
        } else if (line[0] != '#') {
            if (strncmp(line, cur, strlen(cur)) != 0)
                return false;
        }
        p += len + (e ? 1 : 0);
    }
    return nseen > 0;
}

struct job {
    struct fr_job j;
};
static void j_run(struct fr_job *j) {}
static int done;
static void j_done(struct fr_job *j) { done++; }
/* Holds the pool's one thread until hold_open is set. */
static atomic_int hold_open;
static void j_hold(struct fr_job *j)
{
    while (!atomic_load(&hold_open))
        usleep(1000);
}

int main(void)
{
    struct conn_crypto a, b;
    conn_crypto_init(&a, NULL, NULL);
    conn_crypto_init(&b, NULL, NULL);
    /* as conn_set_xprt fills them on each loop */
    a.xs[0].name = "sasl-privacy";
    a.xs[0].enc_msgs = 3;
    a.xs[0].enc_bytes = 300;
    a.xs[0].enc_wire = 360;
    a.xs[0].jobs[0] = 2;
    a.xs[0].dec_calls = 4;
    a.xs[0].failures[CONN_XF_DECODE] = 1;
    b.xs[0].name = "tls";
    b.xs[0].inline_full = 7;
    b.xs[1].name = "sasl-privacy";
    b.xs[1].enc_msgs = 10;
    b.xs[1].dec_bytes = 50;
    b.xs[1].jobs[1] = 5;
    const struct conn_crypto *cc[2] = { &a, &b };

    char *t = render(cc, 2, NULL);
    CHECK(has(t, "fedrouter_xprt_messages_total{xprt=\"sasl-privacy\",op=\"encode\"} 13"));
    CHECK(has(t, "fedrouter_xprt_messages_total{xprt=\"sasl-privacy\",op=\"decode\"} 4"));
    CHECK(has(t, "fedrouter_xprt_plain_bytes_total{xprt=\"sasl-privacy\",op=\"encode\"} 300"));
    CHECK(has(t, "fedrouter_xprt_plain_bytes_total{xprt=\"sasl-privacy\",op=\"decode\"} 50"));
    CHECK(has(t, "fedrouter_xprt_wire_bytes_total{xprt=\"sasl-privacy\",op=\"encode\"} 360"));
    CHECK(has(t, "fedrouter_xprt_offloaded_total{xprt=\"sasl-privacy\",op=\"encode\"} 2"));
    CHECK(has(t, "fedrouter_xprt_offloaded_total{xprt=\"sasl-privacy\",op=\"decode\"} 5"));
    CHECK(has(t, "fedrouter_xprt_queue_full_total{xprt=\"tls\"} 7"));
    CHECK(has(t, "fedrouter_xprt_failures_total{xprt=\"sasl-privacy\",reason=\"decode_refused\"} 1"));
    CHECK(has(t, "fedrouter_xprt_failures_total{xprt=\"tls\",reason=\"encode_refused\"} 0"));
    CHECK(has(t, "fedrouter_crypto_threads 0"));
    CHECK(has(t, "fedrouter_crypto_queue_depth 0"));
    CHECK(has(t, "fedrouter_crypto_queue_wait_seconds_count 0"));
    CHECK(families_contiguous(t));
    free(t);

    /* a pool that ran jobs: the histogram counts each once */
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct fr_inbox home;
    fr_inbox_init(&home, loop, fr_job_inbox_handler, NULL);
    struct fr_workpool *p = fr_workpool_new(3, 100, "test", 0);
    struct job jobs[20];
    for (int i = 0; i < 20; i++) {
        jobs[i].j = (struct fr_job){ .run = j_run, .done = j_done, .home = &home };
        CHECK(fr_workpool_submit(p, &jobs[i].j) == 0);
    }
    while (done < 20)
        fr_inbox_drain(&home);
    t = render(cc, 2, p);
    CHECK(has(t, "fedrouter_crypto_threads 3"));
    CHECK(has(t, "fedrouter_crypto_jobs_total 20"));
    CHECK(has(t, "fedrouter_crypto_queue_wait_seconds_bucket{le=\"+Inf\"} 20"));
    CHECK(has(t, "fedrouter_crypto_queue_wait_seconds_count 20"));
    CHECK(has(t, "fedrouter_crypto_running_jobs 0"));
    CHECK(has(t, "fedrouter_crypto_jobs_taken_back_total 0"));
    CHECK(families_contiguous(t));
    free(t);

    /* a job a loop took back after it waited: counted among the jobs run */
    struct job late = { .j = { .run = j_run, .done = j_done, .home = &home } };
    fr_workpool_free(p);
    p = fr_workpool_new(1, 4, "test", 0);
    struct job hold = { .j = { .run = j_hold, .done = j_done, .home = &home } };
    CHECK(fr_workpool_submit(p, &hold.j) == 0);
    while (fr_workpool_depth(p))
        usleep(1000);
    CHECK(fr_workpool_submit(p, &late.j) == 0);
    struct fr_job *got = fr_workpool_take_stale(p, 0);
    CHECK(got == &late.j);
    if (got)
        fr_workpool_run_here(p, got);
    atomic_store(&hold_open, 1);
    while (done < 22)
        fr_inbox_drain(&home);
    t = render(cc, 2, p);
    CHECK(has(t, "fedrouter_crypto_jobs_total 2"));
    CHECK(has(t, "fedrouter_crypto_jobs_taken_back_total 1"));
    CHECK(families_contiguous(t));
    free(t);
    fr_workpool_free(p);
    fr_inbox_stop(&home);
    ev_loop_destroy(loop);
    return check_report();
}
