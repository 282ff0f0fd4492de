/*
 * test_admin: the admin endpoint and the metrics it renders. Records calls
 * into two shards (two workers), scrapes GET /metrics over a real socket and
 * checks the sums, the histogram's cumulative buckets and that each family
 * is contiguous; GET /healthz (text, or JSON with ?verbose) and GET
 * /readyz answer 200 or 503 as the health callback says; anything else is 404; a request over the size limit is dropped; a
 * request head split over several packets is answered; a connection open
 * when the endpoint stops goes with it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin.h"
#include "check.h"
#include "metrics.h"

static bool healthy = true;

static bool health(struct buf *out, enum admin_check what, void *arg)
{
    const char *s = healthy ? "ok snapshot=1" : "stale: statestore unreachable";
    if (what == ADMIN_READY)
        s = healthy ? "ready" : "not ready: draining";
    else if (what == ADMIN_HEALTH_VERBOSE)
        s = healthy ? "{\"status\":\"ok\"}" : "{\"status\":\"stale\"}";
    buf_append(out, s, strlen(s));
    return healthy;
}

/* Sends req to the port and returns the whole answer (malloc'd). */
static char *http(int port, const char *req, size_t reqlen)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return NULL;
    }
    struct timeval tv = { 5, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    send(fd, req, reqlen, MSG_NOSIGNAL);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap + 1);
    ssize_t n;
    while ((n = recv(fd, out + len, cap - len, 0)) > 0) {
        len += (size_t)n;
        if (len == cap) {
            cap *= 2;
            out = realloc(out, cap + 1);
        }
    }
    out[len] = 0;
    close(fd);
    return out;
}

int main(void)
{
    char err[256];
    struct admin *a = admin_start("127.0.0.1:0", health, NULL, err, sizeof err);
    CHECK(a != NULL);
    if (!a)
        return check_report();
    int port = admin_port(a);

    struct metrics_shard *w1 = metrics_shard_new(), *w2 = metrics_shard_new();
    int gfi = metrics_name_id("getFileInfo"), ns1 = metrics_name_id("ns1");
    CHECK(gfi >= 0 && ns1 >= 0 && gfi != ns1);
    CHECK_EQ(metrics_name_id("getFileInfo"), gfi);
    metrics_record(w1, 0, gfi, ns1, 40, false);      /* bucket 50us */
    metrics_record(w1, 0, gfi, ns1, 700, true);      /* bucket 1ms */
    metrics_record(w2, 0, gfi, ns1, 3000000, false); /* bucket 5s */

    const char get_metrics[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    char *m = http(port, get_metrics, sizeof get_metrics - 1);
    CHECK(m && strstr(m, "HTTP/1.1 200"));
    CHECK(m && strstr(m, "fedrouter_calls_total{proto=\"hdfs\",method=\"getFileInfo\",ns=\"ns1\"} 3\n"));
    CHECK(m && strstr(m, "fedrouter_call_errors_total{proto=\"hdfs\",method=\"getFileInfo\",ns=\"ns1\"} 1\n"));
    CHECK(m && strstr(m, "fedrouter_call_seconds_bucket{proto=\"hdfs\",method=\"getFileInfo\",ns=\"ns1\",le=\"5e-05\"} 1\n"));
    CHECK(m && strstr(m, "fedrouter_call_seconds_bucket{proto=\"hdfs\",method=\"getFileInfo\",ns=\"ns1\",le=\"0.001\"} 2\n"));
    CHECK(m && strstr(m, "fedrouter_call_seconds_bucket{proto=\"hdfs\",method=\"getFileInfo\",ns=\"ns1\",le=\"+Inf\"} 3\n"));
    CHECK(m && strstr(m, "fedrouter_call_seconds_count{proto=\"hdfs\",method=\"getFileInfo\",ns=\"ns1\"} 3\n"));
    /* Families are contiguous: no calls_total line after the errors family starts. */
    if (m) {
        char *errors = strstr(m, "fedrouter_call_errors_total{");
        CHECK(errors && !strstr(errors, "fedrouter_calls_total{"));
    }
    free(m);

    const char get_health[] = "GET /healthz HTTP/1.0\r\n\r\n";
    char *h = http(port, get_health, sizeof get_health - 1);
    CHECK(h && strstr(h, "HTTP/1.1 200") && strstr(h, "ok snapshot=1"));
    free(h);
    healthy = false;
    h = http(port, get_health, sizeof get_health - 1);
    CHECK(h && strstr(h, "HTTP/1.1 503") && strstr(h, "stale"));
    free(h);

    /* The query string picks the JSON form; /readyz is asked for readiness. */
    const char *const asks[][2] = {
        { "GET /healthz?verbose HTTP/1.0\r\n\r\n", "{\"status\":\"stale\"}" },
        { "GET /healthz?x=1&verbose=1 HTTP/1.0\r\n\r\n", "application/json" },
        { "GET /healthz?verbosely HTTP/1.0\r\n\r\n", "stale: statestore" },
        { "GET /readyz HTTP/1.0\r\n\r\n", "not ready: draining" },
    };
    for (size_t i = 0; i < sizeof asks / sizeof asks[0]; i++) {
        h = http(port, asks[i][0], strlen(asks[i][0]));
        CHECK(h && strstr(h, "HTTP/1.1 503") && strstr(h, asks[i][1]));
        free(h);
    }
    healthy = true;
    const char get_ready[] = "GET /readyz HTTP/1.0\r\n\r\n";
    h = http(port, get_ready, sizeof get_ready - 1);
    CHECK(h && strstr(h, "HTTP/1.1 200") && strstr(h, "\r\n\r\nready\n"));
    free(h);
    healthy = false;

    const char other[] = "GET /nope HTTP/1.1\r\n\r\n";
    char *o = http(port, other, sizeof other - 1);
    CHECK(o && strstr(o, "HTTP/1.1 404"));
    free(o);

    /* 16 KiB of header without an end: dropped without an answer. */
    size_t big = 16384;
    char *junk = malloc(big);
    memset(junk, 'a', big);
    memcpy(junk, "GET /metrics HTTP/1.1\r\nX: ", 26);
    char *j = http(port, junk, big);
    CHECK(j && strlen(j) == 0);
    free(j);
    free(junk);

    /* A request head that arrives in pieces is answered once it is whole. */
    {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
        struct timeval tv = { 5, 0 };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        send(fd, "GET /healthz HTTP/1.1\r\n", 23, MSG_NOSIGNAL);
        usleep(50000);
        send(fd, "Host: x\r\n\r\n", 11, MSG_NOSIGNAL);
        char got[4096];
        size_t len = 0;
        ssize_t n;
        while (len < sizeof got - 1 && (n = recv(fd, got + len, sizeof got - 1 - len, 0)) > 0)
            len += (size_t)n;
        got[len] = 0;
        CHECK(strstr(got, "HTTP/1.1 503") != NULL);
        close(fd);
    }

    /* A connection still open when the endpoint stops is closed and freed
     * with it (the sanitizer build checks nothing leaks). */
    int idle = socket(AF_INET, SOCK_STREAM, 0);
    {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        CHECK(connect(idle, (struct sockaddr *)&sa, sizeof sa) == 0);
        send(idle, "GET /met", 8, MSG_NOSIGNAL);
        usleep(50000);
    }
    admin_stop(a);
    close(idle);
    return check_report();
}
