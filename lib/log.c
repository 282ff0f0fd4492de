/*
 * log: formatting into one stack buffer, then one write(2). See log.h.
 */
#define _GNU_SOURCE
#include "clock.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

_Atomic int fr_log_threshold = FR_LOG_INFO;
static _Atomic int log_fd = 2;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void fr_log_set_level(enum fr_log_level level)
{
    if (level < FR_LOG_ERROR)
        level = FR_LOG_ERROR;
    if (level > FR_LOG_DEBUG)
        level = FR_LOG_DEBUG;
    atomic_store(&fr_log_threshold, (int)level);
}

enum fr_log_level fr_log_get_level(void) { return (enum fr_log_level)atomic_load(&fr_log_threshold); }

int fr_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

const char *fr_log_level_name(enum fr_log_level level)
{
    return level >= FR_LOG_ERROR && level <= FR_LOG_DEBUG ? level_names[level] : "?";
}

int fr_log_set_fd(int fd) { return atomic_exchange(&log_fd, fd); }

/* ---- the limiter ---- */

void fr_log_rate_init(struct fr_log_rate *rl, uint32_t burst, uint32_t interval_ms)
{
    rl->burst = burst;
    rl->interval_ms = interval_ms;
    atomic_init(&rl->window_ms, 0);
    atomic_init(&rl->used, 0);
    atomic_init(&rl->dropped, 0);
}

/*
 * The thread whose compare-and-swap moves the window forward owns the new
 * interval's first line and reports the count. Threads racing with it may
 * be refused a line the new interval would have let through; that line is
 * counted, so the report stays exact over time.
 */
bool fr_log_rate_take(struct fr_log_rate *rl, uint64_t now_ms, uint64_t *dropped)
{
    *dropped = 0;
    if (now_ms == 0)
        now_ms = 1; /* 0 marks "no interval yet" */
    uint64_t w = atomic_load_explicit(&rl->window_ms, memory_order_acquire);
    if (w == 0 || now_ms < w || now_ms - w >= rl->interval_ms) {
        if (atomic_compare_exchange_strong(&rl->window_ms, &w, now_ms)) {
            atomic_store(&rl->used, 1);
            *dropped = atomic_exchange(&rl->dropped, 0);
            return rl->burst > 0;
        }
    }
    if (atomic_fetch_add(&rl->used, 1) < rl->burst)
        return true;
    atomic_fetch_add(&rl->dropped, 1);
    return false;
}

static uint64_t mono_ms(void) { return (uint64_t)fr_mono_ms(); }

/* ---- lines ---- */

/* Appends to b (capacity cap, used *n): never past cap - 1 (room for '\n'). */
static void put(char *b, size_t cap, size_t *n, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void put(char *b, size_t cap, size_t *n, const char *fmt, ...)
{
    if (*n >= cap - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b + *n, cap - 1 - *n, fmt, ap);
    va_end(ap);
    if (k > 0)
        *n += (size_t)k < cap - 1 - *n ? (size_t)k : cap - 2 - *n;
}

static void put_who(char *b, size_t cap, size_t *n, const struct fr_log_who *who)
{
    if (!who)
        return;
    size_t start = *n;
    if (who->worker >= 0)
        put(b, cap, n, "w%d", who->worker);
    if (who->conn)
        put(b, cap, n, "%sc%" PRIu64, *n > start ? " " : "", who->conn);
    bool user = who->user && who->user[0], peer = who->peer && who->peer[0];
    if (user || peer)
        put(b, cap, n, "%s%s%s%s", *n > start ? " " : "", user ? who->user : "", user && peer ? "@" : "",
            peer ? who->peer : "");
    if (*n > start)
        put(b, cap, n, ": ");
}

void fr_log_v(enum fr_log_level level, const struct fr_log_who *who, uint64_t dropped, const char *fmt, va_list ap)
{
    if (!fr_log_on(level))
        return;
    int saved = errno;
    char b[FR_LOG_LINE_MAX];
    size_t n = 0, cap = sizeof b;
    /* room for the count line, so a long message cannot push it out */
    char tail[80];
    int tl = dropped ? snprintf(tail, sizeof tail, "fedrouter: (%" PRIu64 " similar lines suppressed)\n", dropped) : 0;
    if (tl > 0)
        cap -= (size_t)tl;
    put(b, cap, &n, "fedrouter: ");
    put_who(b, cap, &n, who);
    if (n < cap - 1) {
        int k = vsnprintf(b + n, cap - 1 - n, fmt, ap);
        if (k > 0)
            n += (size_t)k < cap - 1 - n ? (size_t)k : cap - 2 - n;
    }
    while (n > 0 && b[n - 1] == '\n')
        n--; /* the line ends here, whatever the format said */
    b[n++] = '\n';
    if (tl > 0) {
        memcpy(b + n, tail, (size_t)tl);
        n += (size_t)tl;
    }
    int fd = atomic_load(&log_fd);
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, b + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* nowhere to say it */
        off += (size_t)w;
    }
    errno = saved;
}

void fr_log(enum fr_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fr_log_v(level, NULL, 0, fmt, ap);
    va_end(ap);
}

void fr_log_conn(enum fr_log_level level, const struct fr_log_who *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fr_log_v(level, who, 0, fmt, ap);
    va_end(ap);
}

void fr_log_rated(struct fr_log_rate *rl, enum fr_log_level level, const struct fr_log_who *who, const char *fmt, ...)
{
    if (!fr_log_on(level))
        return; /* a filtered line does not use up the limiter */
    uint64_t dropped;
    if (!fr_log_rate_take(rl, mono_ms(), &dropped))
        return;
    va_list ap;
    va_start(ap, fmt);
    fr_log_v(level, who, dropped, fmt, ap);
    va_end(ap);
}
