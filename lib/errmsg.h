/*
 * errmsg: writing a reason into a caller's buffer, the error convention of
 * the parsers and stores (char *why, size_t whylen). A NULL or empty buffer
 * means the caller does not want the text.
 */
#ifndef FR_ERRMSG_H
#define FR_ERRMSG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static inline void fr_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline void fr_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

#endif
