/*
 * admin: the router's admin HTTP endpoint on its own thread and loop.
 *   GET /metrics  Prometheus text (metrics_render)
 *   GET /healthz  200 "ok ..." when healthy, 503 with the reason otherwise
 *   GET /healthz?verbose  the same verdict as JSON, with each nameservice
 *                 and metastore and whether it is reachable
 *   GET /readyz   200 "ready" when the router should get traffic (load
 *                 balancers, Kubernetes), 503 with the reason otherwise
 *   anything else: the page callback, when one is set (the status page)
 * Otherwise 404; requests over 8 KiB or slower than 5 s are dropped.
 * One request per connection: the answer is sent, then the connection
 * closes. The health callback and the metrics gauges run on the admin
 * thread, so what they read must be safe to read from there.
 */
#ifndef FR_ADMIN_H
#define FR_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* What an admin_health_fn is asked. */
enum admin_check {
    ADMIN_HEALTH,                       /* /healthz: one line of text */
    ADMIN_HEALTH_VERBOSE,               /* /healthz?verbose: one JSON object */
    ADMIN_READY,                        /* /readyz: one line of text */
};

/* Writes the answer to `what` into out and says whether it is a yes
 * (healthy, ready). */
typedef bool (*admin_health_fn)(struct buf *out, enum admin_check what, void *arg);

struct admin;

/* An answer the page callback fills: body, its type and the status code. */
struct admin_page {
    struct buf *body;
    const char *ctype;                  /* static string; default text/plain */
    int code;                           /* default 200 */
};

/* Answers a GET for target (the request target, not NUL-terminated: path
 * and query); false when it has no page there (the admin endpoint then
 * answers 404). Runs on the admin thread. */
typedef bool (*admin_page_fn)(const char *target, size_t len, struct admin_page *page, void *arg);

/* Binds HOST:PORT (port 0 picks one) and starts the thread. NULL + err on failure. */
struct admin *admin_start(const char *hostport, admin_health_fn health, void *arg, char *err, size_t errlen);
int admin_port(const struct admin *a);
/* Sets the page callback (once, from any thread; requests before it see
 * none). */
void admin_set_pages(struct admin *a, admin_page_fn fn, void *arg);
void admin_stop(struct admin *a);

#endif
