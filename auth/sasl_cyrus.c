/* sasl_cyrus: Cyrus SASL process state shared by both sides (sasl_cyrus.h). */
#include "sasl_cyrus.h"

#include <pthread.h>
#include <stdlib.h>

#include <sasl/sasl.h>

#include "log.h"

static void *mx_alloc(void)
{
    pthread_mutex_t *m = malloc(sizeof *m);
    if (m)
        pthread_mutex_init(m, NULL);
    return m;
}
static int mx_lock(void *m) { return pthread_mutex_lock(m) ? SASL_FAIL : SASL_OK; }
static int mx_unlock(void *m) { return pthread_mutex_unlock(m) ? SASL_FAIL : SASL_OK; }
static void mx_free(void *m)
{
    if (m) {
        pthread_mutex_destroy(m);
        free(m);
    }
}

void sasl_cyrus_set_mutexes(void) { sasl_set_mutex(mx_alloc, mx_lock, mx_unlock, mx_free); }

int sasl_cyrus_log(void *prefix, int level, const char *message)
{
    const char *who = prefix ? prefix : "sasl";
    if (level <= SASL_LOG_ERR)
        fr_warn("%s: %s", who, message);
    else if (level <= SASL_LOG_NOTE && fr_log_on(FR_LOG_DEBUG))
        fr_debug("%s: %s", who, message);
    return SASL_OK;
}
