/*
 * test_resolve: lib/resolve against a real libev loop.
 *
 *   - literal IPv4 and IPv6 addresses are answered in place, no thread;
 *   - a host name ("localhost:1234") is PENDING at once and the answer comes
 *     back through the inbox; a second start is then answered from the cache;
 *   - a name that cannot resolve fails through the inbox, and is then
 *     remembered as failed;
 *   - a cancelled request is never pushed.
 * A timer bounds each wait so that a lost answer fails instead of hanging.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "resolve.h"

static int arrived;
static struct fr_resolve_req *last;

static void on_node(struct fr_inbox_node *node, void *arg)
{
    struct ev_loop *loop = arg;
    last = (struct fr_resolve_req *)((char *)node - offsetof(struct fr_resolve_req, node));
    arrived++;
    ev_break(loop, EVBREAK_ONE);
}

static void on_deadline(struct ev_loop *loop, ev_timer *t, int revents)
{
    ev_break(loop, EVBREAK_ONE);
}

/* Runs the loop until a node arrives or `secs` pass. */
static void wait_node(struct ev_loop *loop, double secs)
{
    ev_timer t;
    ev_timer_init(&t, on_deadline, secs, 0);
    ev_timer_start(loop, &t);
    ev_run(loop, 0);
    ev_timer_stop(loop, &t);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int port_of(const struct fr_resolve_req *r)
{
    if (r->sa.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&r->sa)->sin_port);
    if (r->sa.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&r->sa)->sin6_port);
    return -1;
}

int main(void)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct fr_inbox inbox;
    fr_inbox_init(&inbox, loop, on_node, loop);

    /* Literals: no waiting, no inbox. */
    struct fr_resolve_req r;
    CHECK_EQ(fr_resolve_start(&r, "127.0.0.1:8020", &inbox), FR_RESOLVE_DONE);
    CHECK_EQ(r.sa.ss_family, AF_INET);
    CHECK_EQ(port_of(&r), 8020);
    CHECK_EQ(r.salen, (socklen_t)sizeof(struct sockaddr_in));
    CHECK_EQ(fr_resolve_start(&r, "[::1]:9083", &inbox), FR_RESOLVE_DONE);
    CHECK_EQ(r.sa.ss_family, AF_INET6);
    CHECK_EQ(port_of(&r), 9083);
    struct sockaddr_storage sa;
    socklen_t salen;
    CHECK(!fr_resolve_literal("localhost:1234", &sa, &salen));
    CHECK(!fr_resolve_literal("127.0.0.1", &sa, &salen));
    CHECK(!fr_resolve_literal("127.0.0.1:99999", &sa, &salen));

    /* A name: PENDING at once, answer through the inbox. */
    double t0 = now_s();
    enum fr_resolve_rc rc = fr_resolve_start(&r, "localhost:1234", &inbox);
    CHECK(now_s() - t0 < 0.05); /* a table look-up, never a DNS round trip */
    CHECK_EQ(rc, FR_RESOLVE_PENDING);
    CHECK_EQ(arrived, 0); /* nothing is handed back before the loop runs */
    wait_node(loop, 30);
    CHECK_EQ(arrived, 1);
    CHECK(last == &r);
    CHECK_EQ(r.status, FR_RESOLVE_DONE);
    CHECK(r.sa.ss_family == AF_INET || r.sa.ss_family == AF_INET6);
    CHECK_EQ(port_of(&r), 1234);

    /* Now cached: answered in place. */
    struct fr_resolve_req r2;
    CHECK_EQ(fr_resolve_start(&r2, "localhost:1234", &inbox), FR_RESOLVE_DONE);
    CHECK_EQ(port_of(&r2), 1234);

    /* A name that cannot resolve (.invalid is reserved for that). */
    arrived = 0;
    rc = fr_resolve_start(&r, "no-such-host.invalid:1", &inbox);
    CHECK_EQ(rc, FR_RESOLVE_PENDING);
    wait_node(loop, 30);
    CHECK_EQ(arrived, 1);
    CHECK_EQ(r.status, FR_RESOLVE_FAIL);
    CHECK(r.why[0] != 0);
    CHECK_EQ(fr_resolve_start(&r2, "no-such-host.invalid:1", &inbox), FR_RESOLVE_FAIL);

    /* Cancel: true means it is never pushed. */
    arrived = 0;
    rc = fr_resolve_start(&r, "localhost:4321", &inbox);
    CHECK_EQ(rc, FR_RESOLVE_PENDING);
    bool dropped = fr_resolve_cancel(&r);
    wait_node(loop, dropped ? 0.5 : 30);
    CHECK_EQ(arrived, dropped ? 0 : 1);
    CHECK(!fr_resolve_cancel(&r)); /* nothing left to withdraw */

    fr_inbox_stop(&inbox);
    ev_loop_destroy(loop);
    return check_report();
}
