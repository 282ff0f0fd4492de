/*
 * test_status_metrics: what the status page builds on. metrics_collect sums
 * a series over the shards of two workers and names it; metrics_quantile_us
 * interpolates inside the histogram's buckets (and answers the floor of the
 * unbounded last one); the admin endpoint hands the GETs it does not answer
 * itself to the page callback over a real socket, with the callback's type
 * and status code, and answers 404 where the callback has no page.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <math.h>
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

static bool near(double a, double b)
{
    return fabs(a - b) < 1e-6;
}

static void quantiles(void)
{
    uint64_t b[METRICS_NBUCKETS] = { 0 };
    CHECK(metrics_quantile_us(b, 0.5) == 0);
    /* 100 calls between 100 and 250 us (bucket 2): the median is halfway */
    b[2] = 100;
    CHECK(near(metrics_quantile_us(b, 0.5), 175));
    CHECK(near(metrics_quantile_us(b, 1.0), 250));
    /* 50 more under 50 us (bucket 0): p25 falls there, p90 in bucket 2 */
    b[0] = 50;
    CHECK(near(metrics_quantile_us(b, 0.25), 50 * (37.5 / 50)));
    CHECK(near(metrics_quantile_us(b, 0.9), 100 + 150 * (85.0 / 100)));
    /* one call over 5 s: p100 is the unbounded bucket's floor */
    b[METRICS_NBUCKETS - 1] = 1;
    CHECK(near(metrics_quantile_us(b, 1.0), 5000000));
    CHECK(metrics_quantile_us(b, 0.5) <= metrics_quantile_us(b, 0.9));
}

static void collect(void)
{
    struct metrics_shard *w1 = metrics_shard_new(), *w2 = metrics_shard_new();
    int m = metrics_name_id("getListing"), ns = metrics_name_id("nsq");
    for (int i = 0; i < 3; i++)
        metrics_record(w1, 0, m, ns, 80, false);
    metrics_record(w2, 0, m, ns, 3000, true);
    metrics_record(w2, 2, m, ns, 2000, false);
    size_t n = 0;
    struct metrics_row *rows = metrics_collect(&n);
    const struct metrics_row *client = NULL, *up = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].method, "getListing") == 0 && strcmp(rows[i].ns, "nsq") == 0) {
            if (strcmp(rows[i].proto, "hdfs") == 0)
                client = &rows[i];
            if (strcmp(rows[i].proto, "hdfs_upstream") == 0)
                up = &rows[i];
        }
    }
    CHECK(client != NULL && up != NULL);
    if (client) {
        CHECK_EQ(client->calls, 4u);
        CHECK_EQ(client->errors, 1u);
        CHECK_EQ(client->sum_us, 3 * 80u + 3000u);
        CHECK_EQ(client->buckets[1], 3u); /* 50 < 80 <= 100 */
        CHECK_EQ(client->buckets[6], 1u); /* 2500 < 3000 <= 5000 */
    }
    if (up)
        CHECK_EQ(up->calls, 1u);
    free(rows);
}

static char *http(int port, const char *req)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return strdup("");
    }
    struct timeval tv = { 5, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    send(fd, req, strlen(req), MSG_NOSIGNAL);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap + 1);
    ssize_t k;
    while (len < cap && (k = recv(fd, out + len, cap - len, 0)) > 0)
        len += (size_t)k;
    out[len] = 0;
    close(fd);
    return out;
}

static char seen[256];

static bool pages(const char *target, size_t len, struct admin_page *page, void *arg)
{
    snprintf(seen, sizeof seen, "%.*s", (int)len, target);
    if (len >= 5 && memcmp(target, "/page", 5) == 0) {
        buf_append(page->body, arg, strlen(arg));
        page->ctype = "application/json";
        return true;
    }
    if (len >= 4 && memcmp(target, "/bad", 4) == 0) {
        page->code = 400;
        return true;
    }
    return false;
}

static void page_callback(void)
{
    char err[256];
    struct admin *a = admin_start("127.0.0.1:0", NULL, NULL, err, sizeof err);
    CHECK(a != NULL);
    if (!a)
        return;
    int port = admin_port(a);
    char *r = http(port, "GET /page HTTP/1.1\r\n\r\n");
    CHECK(strstr(r, "404") != NULL); /* no callback yet */
    free(r);
    admin_set_pages(a, pages, "{\"x\":1}");
    r = http(port, "GET /page?path=%2Fa HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(strncmp(r, "HTTP/1.1 200", 12) == 0);
    CHECK(strstr(r, "Content-Type: application/json\r\n") != NULL);
    CHECK(strstr(r, "\r\n\r\n{\"x\":1}") != NULL);
    CHECK(strcmp(seen, "/page?path=%2Fa") == 0);
    free(r);
    r = http(port, "GET /bad HTTP/1.1\r\n\r\n");
    CHECK(strncmp(r, "HTTP/1.1 400", 12) == 0);
    free(r);
    r = http(port, "GET /other HTTP/1.1\r\n\r\n");
    CHECK(strncmp(r, "HTTP/1.1 404", 12) == 0);
    free(r);
    r = http(port, "GET /metrics HTTP/1.1\r\n\r\n"); /* the endpoint's own pages come first */
    CHECK(strncmp(r, "HTTP/1.1 200", 12) == 0 && strstr(r, "fedrouter_calls_total") != NULL);
    free(r);
    r = http(port, "POST /page HTTP/1.1\r\n\r\n");
    CHECK(strncmp(r, "HTTP/1.1 404", 12) == 0);
    free(r);
    admin_stop(a);
}

int main(void)
{
    quantiles();
    collect();
    page_callback();
    return check_report();
}
