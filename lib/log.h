/*
 * log: the daemon's one way to write a line to its log (stderr by default).
 *
 *   fedrouter: [CONTEXT: ]MESSAGE\n
 *
 * - Four levels. One process-wide threshold (`log.level` in the config):
 *   lines less severe than it are dropped before they are formatted.
 * - Each line, whole, goes out in one write(2) of at most FR_LOG_LINE_MAX
 *   bytes (longer messages are cut), so lines from different threads never
 *   interleave on a pipe or a file opened with O_APPEND.
 * - CONTEXT names a connection: "w1 c42 alice@10.0.0.7:51234" (worker,
 *   connection id, user, peer; each part is left out when unknown).
 * - Rate limiting: a struct fr_log_rate lets at most `burst` lines through
 *   per `interval_ms`; the rest are counted, and the first line let through
 *   after that is followed by "(N similar lines suppressed)". FR_LOG_EVERY
 *   gives a call site its own limiter; a limiter can also live in any object
 *   (one per backend, say). Both are lock-free and safe from any thread.
 *
 * Nothing here allocates; errno is kept across every call.
 */
#ifndef FR_LOG_H
#define FR_LOG_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum fr_log_level { FR_LOG_ERROR = 0, FR_LOG_WARN = 1, FR_LOG_INFO = 2, FR_LOG_DEBUG = 3 };

#define FR_LOG_LINE_MAX 4096 /* PIPE_BUF on Linux: a write this size is atomic on a pipe */

extern _Atomic int fr_log_threshold; /* read through fr_log_on() */

/* Sets the least severe level written (lines above it are dropped). */
void fr_log_set_level(enum fr_log_level level);
enum fr_log_level fr_log_get_level(void);
/* "error", "warn", "info", "debug" -> level; -1 for anything else. */
int fr_log_level_parse(const char *name);
const char *fr_log_level_name(enum fr_log_level level);

/* Where lines go (2 until set); returns the fd used before. The caller keeps
 * ownership of the fd. */
int fr_log_set_fd(int fd);

static inline bool fr_log_on(enum fr_log_level level)
{
    return (int)level <= atomic_load_explicit(&fr_log_threshold, memory_order_relaxed);
}

/* Who a line is about. worker < 0, conn == 0, user or peer NULL or "": that
 * part is left out. */
struct fr_log_who {
    int worker;       /* worker index */
    uint64_t conn;    /* the worker's connection id */
    const char *user; /* effective user */
    const char *peer; /* client address, "host:port" */
};

/* Limiter state; set up with FR_LOG_RATE_INIT (static) or fr_log_rate_init. */
struct fr_log_rate {
    uint32_t burst; /* lines let through per interval */
    uint32_t interval_ms;
    _Atomic uint64_t window_ms; /* start of the open interval; 0 = none yet */
    _Atomic uint32_t used;      /* lines taken in it */
    _Atomic uint64_t dropped;   /* lines refused since the last report */
};
#define FR_LOG_RATE_INIT(burst_, interval_ms_)                                                                         \
    {                                                                                                                  \
        .burst = (burst_), .interval_ms = (interval_ms_)                                                               \
    }
void fr_log_rate_init(struct fr_log_rate *rl, uint32_t burst, uint32_t interval_ms);

/* The limiter's decision for one line at time now_ms (monotonic): true to
 * write it. When it is the first line of a new interval, *dropped gets the
 * number refused since the previous report (and that count restarts). */
bool fr_log_rate_take(struct fr_log_rate *rl, uint64_t now_ms, uint64_t *dropped);

void fr_log(enum fr_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fr_log_conn(enum fr_log_level level, const struct fr_log_who *who, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Through limiter rl (who may be NULL). */
void fr_log_rated(struct fr_log_rate *rl, enum fr_log_level level, const struct fr_log_who *who, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void fr_log_v(enum fr_log_level level, const struct fr_log_who *who, uint64_t dropped, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

#define fr_error(...) fr_log(FR_LOG_ERROR, __VA_ARGS__)
#define fr_warn(...) fr_log(FR_LOG_WARN, __VA_ARGS__)
#define fr_info(...) fr_log(FR_LOG_INFO, __VA_ARGS__)
#define fr_debug(...)                                                                                                  \
    do {                                                                                                               \
        if (fr_log_on(FR_LOG_DEBUG))                                                                                   \
            fr_log(FR_LOG_DEBUG, __VA_ARGS__);                                                                         \
    } while (0)

/* A limiter of this call site's own: at most burst lines per interval_ms
 * from here, whoever calls. */
#define FR_LOG_EVERY(burst, interval_ms, level, who, ...)                                                              \
    do {                                                                                                               \
        static struct fr_log_rate fr_site_rate_ = FR_LOG_RATE_INIT(burst, interval_ms);                                \
        fr_log_rated(&fr_site_rate_, level, who, __VA_ARGS__);                                                         \
    } while (0)

#endif
