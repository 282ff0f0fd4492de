/*
 * store_file.c: the `file` statestore driver. The records live in the
 * router's own config file; a thread polls the file and reloads it when it
 * changes.
 *
 *   stat() every 100 ms --mtime or size changed--> host->load(path)
 *        --> snapshot: before_publish, snapshot_ref_publish (workers see it
 *            at their next call)
 *        --> NULL: counted, reason kept, the last good table keeps serving
 *
 * The loader is the router's (it parses the whole file, [router] keys
 * included, and applies what a reload may change): see store.h for why it
 * is a callback.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "store_int.h"

struct store_file {
    struct store base;                  /* first: a struct store * is a struct store_file * */
    char path[4096];                    /* the config file */
    pthread_t watcher;
};

static void *watch_main(void *arg)
{
    struct store_file *f = arg;
    struct store *st = &f->base;
    struct stat sb;
    struct timespec last = { 0, 0 };
    off_t last_size = -1;
    if (stat(f->path, &sb) == 0) {
        last = sb.st_mtim;
        last_size = sb.st_size;
    }
    while (!atomic_load(&st->stop)) {
        usleep(100000);
        if (stat(f->path, &sb) < 0)
            continue;
        if (sb.st_mtim.tv_sec == last.tv_sec && sb.st_mtim.tv_nsec == last.tv_nsec && sb.st_size == last_size)
            continue;
        last = sb.st_mtim;
        last_size = sb.st_size;
        char why[512];
        struct snapshot *s = st->host.load(st->host.ctx, f->path, why, sizeof why);
        if (!s) {
            store_failed(st, why);
            fr_warn("reload of %s failed, keeping the last good table: %s", f->path, why);
            continue;
        }
        store_publish(st, s);
        atomic_store(&st->loaded_at_ms, store_wall_ms());
        store_clear_error(st);
        fr_info("reloaded %s (snapshot %llu)", f->path, (unsigned long long)snapshot_version(s));
    }
    return NULL;
}

static struct store *file_start(const struct store_params *set, const struct store_host *host, char *why,
                                size_t whylen)
{
    struct store_file *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(why, whylen, "cannot start the config watcher");
        return NULL;
    }
    store_base_init(&f->base, &store_file_ops, host);
    snprintf(f->path, sizeof f->path, "%s", set->path);
    if (pthread_create(&f->watcher, NULL, watch_main, f) != 0) {
        snprintf(why, whylen, "cannot start the config watcher");
        store_base_destroy(&f->base);
        free(f);
        return NULL;
    }
    return &f->base;
}

static bool file_health(struct store *st, char *out, size_t cap)
{
    (void)st;
    if (cap)
        out[0] = 0;
    return true;
}

static void file_stop(struct store *st)
{
    struct store_file *f = (struct store_file *)st;
    atomic_store(&st->stop, true);
    pthread_join(f->watcher, NULL);
    store_base_destroy(st);
    free(f);
}

const struct store_ops store_file_ops = {
    .name = "file",
    .start = file_start,
    .advertise = NULL,                  /* a file-driven router registers nowhere */
    .health = file_health,
    .gauges = NULL,                     /* the reload failure count is all it has */
    .stop = file_stop,
};
