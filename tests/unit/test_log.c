/*
 * test_log: lib/log against a pipe it writes to.
 *
 *   - the level threshold drops less severe lines, and parses log.level's names;
 *   - the connection prefix shows the parts that are known, in order;
 *   - the limiter lets `burst` lines through per interval, counts the rest and
 *     reports the count with the first line of the next interval;
 *   - two threads writing at once never cut into each other's lines.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "log.h"

static int rd = -1;

/* Everything written since the last drain (NUL-terminated, caller frees). */
static char *drain(void)
{
    size_t cap = 1 << 16, n = 0;
    char *s = malloc(cap);
    for (;;) {
        if (n + 4096 + 1 > cap)
            s = realloc(s, cap *= 2);
        ssize_t k = read(rd, s + n, 4096);
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    s[n] = 0;
    return s;
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

static void test_levels(void)
{
    CHECK_EQ(fr_log_level_parse("error"), FR_LOG_ERROR);
    CHECK_EQ(fr_log_level_parse("debug"), FR_LOG_DEBUG);
    CHECK_EQ(fr_log_level_parse("loud"), -1);
    CHECK(strcmp(fr_log_level_name(FR_LOG_WARN), "warn") == 0);

    fr_log_set_level(FR_LOG_WARN);
    fr_error("one %d", 1);
    fr_warn("two");
    fr_info("three");
    fr_debug("four");
    char *s = drain();
    CHECK(strcmp(s, "fedrouter: one 1\nfedrouter: two\n") == 0);
    free(s);

    fr_log_set_level(FR_LOG_DEBUG);
    fr_debug("four");
    fr_log_set_level(FR_LOG_ERROR);
    fr_warn("hidden");
    s = drain();
    CHECK(strcmp(s, "fedrouter: four\n") == 0);
    free(s);
    fr_log_set_level(FR_LOG_INFO);
}

static void test_who(void)
{
    struct fr_log_who all = { .worker = 1, .conn = 42, .user = "alice", .peer = "10.0.0.7:51234" };
    struct fr_log_who peer = { .worker = -1, .peer = "10.0.0.7:51234" };
    struct fr_log_who none = { .worker = -1 };
    fr_log_conn(FR_LOG_INFO, &all, "client closed: %s", "write failed");
    fr_log_conn(FR_LOG_INFO, &peer, "x");
    fr_log_conn(FR_LOG_INFO, &none, "y\n"); /* a trailing newline is not doubled */
    char *s = drain();
    CHECK(strcmp(s, "fedrouter: w1 c42 alice@10.0.0.7:51234: client closed: write failed\n"
                    "fedrouter: 10.0.0.7:51234: x\n"
                    "fedrouter: y\n") == 0);
    free(s);

    /* a message longer than a line is cut, and still ends the line */
    char big[3 * FR_LOG_LINE_MAX];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = 0;
    fr_info("%s", big);
    s = drain();
    size_t n = strlen(s);
    CHECK(n <= FR_LOG_LINE_MAX && n > 100 && s[n - 1] == '\n' && count(s, "\n") == 1);
    free(s);
}

static void test_rate(void)
{
    struct fr_log_rate rl;
    uint64_t dropped = 99;
    fr_log_rate_init(&rl, 2, 1000);
    CHECK(fr_log_rate_take(&rl, 5000, &dropped) && dropped == 0);
    CHECK(fr_log_rate_take(&rl, 5001, &dropped) && dropped == 0);
    CHECK(!fr_log_rate_take(&rl, 5002, &dropped));
    CHECK(!fr_log_rate_take(&rl, 5999, &dropped));
    CHECK(!fr_log_rate_take(&rl, 5999, &dropped));
    CHECK(fr_log_rate_take(&rl, 6000, &dropped) && dropped == 3);
    CHECK(fr_log_rate_take(&rl, 6001, &dropped) && dropped == 0);
    CHECK(fr_log_rate_take(&rl, 9000, &dropped) && dropped == 0); /* nothing held back since */

    /* through the log call, on the real clock: one site, 2 per 300 ms */
    for (int i = 0; i < 7; i++)
        FR_LOG_EVERY(2, 300, FR_LOG_WARN, NULL, "metastore slow left out of %s", "get_all_databases");
    char *s = drain();
    CHECK_EQ(count(s, "left out"), 2);
    CHECK_EQ(count(s, "suppressed"), 0);
    free(s);
    usleep(400 * 1000);
    struct fr_log_who w = { .worker = 0, .conn = 0 };
    for (int i = 0; i < 2; i++)
        FR_LOG_EVERY(1, 300, FR_LOG_WARN, &w, "again");
    s = drain(); /* a new site: its first line carries no count */
    CHECK(strcmp(s, "fedrouter: w0: again\n") == 0);
    free(s);

    /* a shared limiter reports what it held back with its next line */
    struct fr_log_rate shared = FR_LOG_RATE_INIT(1, 200);
    for (int i = 0; i < 6; i++)
        fr_log_rated(&shared, FR_LOG_WARN, NULL, "line %d", i);
    usleep(300 * 1000);
    fr_log_rated(&shared, FR_LOG_WARN, NULL, "line %d", 6);
    s = drain();
    CHECK(strcmp(s, "fedrouter: line 0\nfedrouter: line 6\nfedrouter: (5 similar lines suppressed)\n") == 0);
    free(s);

    /* filtered lines do not use the limiter up */
    struct fr_log_rate quiet = FR_LOG_RATE_INIT(1, 60000);
    fr_log_rated(&quiet, FR_LOG_DEBUG, NULL, "not written");
    fr_log_rated(&quiet, FR_LOG_WARN, NULL, "written");
    s = drain();
    CHECK(strcmp(s, "fedrouter: written\n") == 0);
    free(s);
}

#define LINES 2000

static void *writer(void *arg)
{
    const char *tag = arg;
    struct fr_log_who who = { .worker = tag[0] == 'A' ? 0 : 1, .conn = 7, .user = "u", .peer = "p:1" };
    char pad[300];
    memset(pad, tag[0], sizeof pad - 1);
    pad[sizeof pad - 1] = 0;
    for (int i = 0; i < LINES; i++)
        fr_log_conn(FR_LOG_INFO, &who, "%s %d %s end", tag, i, pad);
    return NULL;
}

/* Reads the pipe while two threads fill it (it would block them otherwise). */
static void test_threads(void)
{
    int fl = fcntl(rd, F_GETFL);
    fcntl(rd, F_SETFL, fl & ~O_NONBLOCK);
    pthread_t a, b;
    pthread_create(&a, NULL, writer, "A");
    pthread_create(&b, NULL, writer, "B");
    size_t cap = 4 << 20, n = 0;
    char *s = malloc(cap);
    size_t want = 0;
    {
        char one[1024];
        char pad[300];
        memset(pad, 'A', sizeof pad - 1);
        pad[sizeof pad - 1] = 0;
        for (int i = 0; i < LINES; i++)
            want += (size_t)snprintf(one, sizeof one, "fedrouter: w0 c7 u@p:1: A %d %s end\n", i, pad);
        want *= 2; /* B's lines are as long */
    }
    while (n < want) {
        ssize_t k = read(rd, s + n, cap - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    s[n] = 0;
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    fcntl(rd, F_SETFL, fl);
    CHECK_EQ(n, want);

    int good = 0, bad = 0, next[2] = { 0, 0 };
    for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
        char t;
        int w, i;
        int used = 0;
        if (sscanf(line, "fedrouter: w%d c7 u@p:1: %c %d %n", &w, &t, &i, &used) != 3 || used == 0) {
            bad++;
            continue;
        }
        const char *rest = line + used;
        size_t k = 0;
        while (rest[k] == t)
            k++;
        bool whole = (w == 0 ? t == 'A' : t == 'B') && k == 299 && strcmp(rest + k, " end") == 0 &&
                     i == next[w]; /* each thread's lines in its own order */
        if (whole) {
            good++;
            next[w]++;
        } else {
            bad++;
        }
    }
    CHECK_EQ(good, 2 * LINES);
    CHECK_EQ(bad, 0);
    free(s);
}

int main(void)
{
    int p[2];
    if (pipe(p) < 0)
        return 2;
    fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
    rd = p[0];
    fcntl(rd, F_SETFL, fcntl(rd, F_GETFL) | O_NONBLOCK);
    CHECK_EQ(fr_log_set_fd(p[1]), 2);

    test_levels();
    test_who();
    test_rate();
    test_threads();

    fr_log_set_fd(2);
    return check_report();
}
