/*
 * health: what /healthz?verbose says of each backend. Every NameNode of
 * every nameservice and every URI of every metastore in the current table
 * is probed with a TCP connect, all at once, bounded by one timeout; a
 * nameservice or metastore is reachable when one of its addresses is.
 * Runs on the admin thread, when asked (never on a worker loop, and never
 * for the plain /healthz, which must answer even with no descriptor left).
 */
#ifndef FR_HEALTH_H
#define FR_HEALTH_H

#include <stdbool.h>

#include "buf.h"

struct snapshot;

/* Appends `"nameservices":[...],"metastores":[...]` (JSON members, no
 * braces) for s, waiting at most timeout_ms for the connects. Returns
 * false when a nameservice or metastore has no reachable address. */
bool health_backends_json(struct buf *out, const struct snapshot *s, int timeout_ms);

/* One address to probe: "host:port", "[v6]:port" or "thrift://host:port"
 * (anything after the port is ignored). */
struct health_target {
    const char *addr;
    int fd;         /* -1 once settled */
    bool reachable;
    double ms;      /* connect time, when reachable */
    char why[96];   /* why not, when not */
};

/* Connects to every target at once (non-blocking connects, one poll
 * loop) and settles each: reachable with its connect time, or why not;
 * waits at most timeout_ms in all. Blocking: for the admin thread. */
void health_probe(struct health_target *ts, size_t n, int timeout_ms);

/* Appends s as a JSON string (quotes and escapes included). */
void health_json_str(struct buf *out, const char *s);

#endif
