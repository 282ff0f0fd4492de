/*
 * store.c: the calls every driver answers the same way, and the dispatch
 * through a driver's ops (see store.h).
 */
#include "clock.h"
#include "store_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void store_base_init(struct store *st, const struct store_ops *ops, const struct store_host *host)
{
    st->ops = ops;
    st->host = *host;
    atomic_init(&st->stop, false);
    atomic_init(&st->loaded_at_ms, fr_wall_ms()); /* the caller published the first snapshot */
    atomic_init(&st->reload_failures, 0);
    pthread_mutex_init(&st->mu, NULL);
    st->last_error[0] = 0;
}

void store_base_destroy(struct store *st)
{
    pthread_mutex_destroy(&st->mu);
}

void store_publish(struct store *st, struct snapshot *s)
{
    if (st->host.before_publish)
        st->host.before_publish(st->host.ctx, s);
    snapshot_ref_publish(st->host.ref, s);
}

void store_failed(struct store *st, const char *why)
{
    atomic_fetch_add(&st->reload_failures, 1);
    pthread_mutex_lock(&st->mu);
    snprintf(st->last_error, sizeof st->last_error, "%s", why);
    pthread_mutex_unlock(&st->mu);
}

void store_clear_error(struct store *st)
{
    pthread_mutex_lock(&st->mu);
    st->last_error[0] = 0;
    pthread_mutex_unlock(&st->mu);
}

struct store *store_start(const struct store_ops *ops, const struct store_params *set,
                          const struct store_host *host, char *why, size_t whylen)
{
    return ops->start(set, host, why, whylen);
}

void store_advertise(struct store *st, const char *hdfs_addr, const char *admin_addr)
{
    if (st && st->ops->advertise)
        st->ops->advertise(st, hdfs_addr, admin_addr);
}

bool store_health(struct store *st, char *out, size_t cap)
{
    if (cap)
        out[0] = 0;
    if (!st)
        return true;
    return st->ops->health ? st->ops->health(st, out, cap) : true;
}

void store_last_error(struct store *st, char *out, size_t cap)
{
    if (!st) {
        if (cap)
            out[0] = 0;
        return;
    }
    pthread_mutex_lock(&st->mu);
    snprintf(out, cap, "%s", st->last_error);
    pthread_mutex_unlock(&st->mu);
}

void store_gauges(struct store *st, store_print_fn print, void *out)
{
    print(out, "# TYPE fedrouter_config_reload_failures_total counter\n"
               "fedrouter_config_reload_failures_total %llu\n",
          st ? (unsigned long long)atomic_load(&st->reload_failures) : 0ull);
    if (st && st->ops->gauges)
        st->ops->gauges(st, print, out);
}

void store_info(struct store *st, struct store_info *out)
{
    memset(out, 0, sizeof *out);
    out->driver = st ? st->ops->name : "";
    if (!st)
        return;
    out->loaded_at_ms = atomic_load(&st->loaded_at_ms);
    if (st->ops->info)
        st->ops->info(st, out);
}

int store_routers(struct store *st, struct store_router **out, size_t *n, char *why, size_t whylen)
{
    *out = NULL;
    *n = 0;
    if (!st || !st->ops->routers)
        return 0;
    return st->ops->routers(st, out, n, why, whylen);
}

void store_stop(struct store *st)
{
    if (st)
        st->ops->stop(st);
}
