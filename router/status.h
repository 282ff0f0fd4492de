/*
 * status: the status page on admin.listen, for operators.
 *
 *   GET /              the page (router/status_page.html, built into the
 *                      binary): plain HTML and a little JavaScript that
 *                      polls /status.json every two seconds and redraws
 *   GET /status.json   everything the page shows, as one JSON object:
 *                      router (id, version, uptime), statestore (driver,
 *                      snapshot, zxid, staleness), nameservices and their
 *                      NameNodes (role, latency: the cluster state
 *                      refresher's probes), metastores and their URIs
 *                      (TCP connect probes), the mount table, the routers
 *                      registered in the statestore, and per-method calls,
 *                      errors, rates and latency percentiles (metrics.h)
 *   GET /resolve?path=P  where the router's own resolver sends P now
 *
 * Everything runs on the admin thread and reads what the workers already
 * share with it (the snapshot holder, atomic counters, the metrics shards,
 * the refresher's table); nothing here takes a lock a worker takes on its
 * hot path.
 */
#ifndef FR_STATUS_H
#define FR_STATUS_H

#include <stdbool.h>
#include <stddef.h>

#include "admin.h"

struct router;

/* Serves the status pages on a's endpoint for router r. */
void status_attach(struct admin *a, struct router *r);

/* The admin_page_fn behind it (arg: the struct router). */
bool status_page(const char *target, size_t len, struct admin_page *page, void *arg);

/* Decodes the value of query parameter name in target (the request target)
 * into out (%XX and '+'); false when the target has no such parameter or
 * it does not fit. */
bool status_query_param(const char *target, size_t len, const char *name, char *out, size_t cap);

#endif
