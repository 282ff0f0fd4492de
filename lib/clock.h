/*
 * clock: the two clocks the code reads. Monotonic time measures durations
 * and deadlines (it never jumps); wall time is only for what people and
 * other hosts read (log stamps, "loaded at", statestore records).
 */
#ifndef FR_CLOCK_H
#define FR_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t fr_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t fr_mono_us(void) { return fr_mono_ns() / 1000u; }
static inline int64_t fr_mono_ms(void) { return (int64_t)(fr_mono_ns() / 1000000u); }

static inline int64_t fr_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
