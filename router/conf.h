/*
 * conf: the router's configuration file (DESIGN.md, "Configuration"):
 * [router] and [statestore] settings, and, for the `file` driver, the
 * [nameservice NAME], [mount /path] and [metastore NAME] records in the same
 * file. Errors are "FILE:LINE: reason"; unknown sections and keys are errors.
 */
#ifndef FR_CONF_H
#define FR_CONF_H

#include <stdio.h>

#include "records.h"
#include "snapshot.h"

struct conf_router {
    char id[128];
    char hdfs_listen[256];
    char hms_listen[256];
    char admin_listen[256];
    int workers;                         /* 0 = number of cores */
    char default_ns[128];
    int connect_timeout_ms;
    int call_timeout_ms;
    int idle_timeout_ms;
    int max_conns_per_user;
    uint32_t client_max_frame;
    int shutdown_grace_ms;
    char driver[32];                     /* file | zookeeper */
    char zk_hosts[512];
    char zk_root[256];
};

struct conf {
    struct conf_router router;
    struct record_set recs;
};

/* Loads FILE. 0, or -1 with "FILE:LINE: reason" in why. */
int conf_load(const char *path, struct conf *c, char *why, size_t whylen);
/* The routing snapshot of the loaded records; NULL with why. */
struct snapshot *conf_snapshot(const struct conf *c, char *why, size_t whylen);
void conf_free(struct conf *c);
/* Every [router]/[statestore] option with its default and meaning. */
void conf_print_options(FILE *f);

#endif
