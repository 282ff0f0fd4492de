/*
 * fedrouter-bench: a load generator for Hadoop IPC
 * (ClientProtocol over RPC v9, auth NONE) and for the Hive Metastore
 * (unframed binary Thrift), used to compare fedrouter with a direct
 * connection to the backend and with a TCP passthrough.
 *
 *   fedrouter-bench --target HOST:PORT
 *                   --op getFileInfo|getListing|mkdirs|create|create+complete+delete
 *                   --path P --conns N --duration S
 *                   [--user U] [--depth D] [--threads T] [--warmup S]
 *                   [--kerberos SERVICE/HOST] [--rate R]
 *   fedrouter-bench --target HOST:PORT --op get_table|get_partitions_by_names
 *                   --db D --table T --conns N --duration S
 *                   [--threads T] [--warmup S] [--rate R]
 *
 * N connections spread over T threads (a libev loop each) keep D calls
 * outstanding each (the metastore ops: one, as Thrift clients do). With
 * --rate, ops start on a fixed schedule instead, R per second over all the
 * connections (at most D in flight per connection), and an op's latency
 * runs from when it was due: an open loop, for latency below saturation.
 * Latencies of the calls that complete after the warmup are recorded; the
 * last output line is, for scripts:
 *
 *   ops/s=N p50_us=N p99_us=N p999_us=N errors=N
 *
 * Exit status: 0 the run completed (even with errors), 1 the target could
 * never be reached (or, for get_partitions_by_names, did not list the
 * table's partitions), 2 bad arguments.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define PROBE_TIMEOUT_NS (3ull * 1000000000ull)

static const char *const op_names[] = {
    "getFileInfo", "getListing", "mkdirs", "create", "create+complete+delete", "get_table", "get_partitions_by_names"
};
#define N_OPS (sizeof op_names / sizeof op_names[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: fedrouter-bench --target HOST:PORT\n"
               "                       --op getFileInfo|getListing|mkdirs|create|create+complete+delete\n"
               "                       --path P --conns N --duration S\n"
               "                       [--user U] [--depth D] [--threads T] [--warmup S]\n"
               "                       [--kerberos SERVICE/HOST] [--rate R]\n"
               "       fedrouter-bench --target HOST:PORT --op get_table|get_partitions_by_names\n"
               "                       --db D --table T --conns N --duration S\n"
               "                       [--threads T] [--warmup S] [--rate R]\n"
               "  Hadoop IPC load (a closed loop unless --rate): N connections over T threads\n"
               "  (default 1), each keeping D calls outstanding (default 1), for S seconds after a warmup\n"
               "  (default 1 s). U is the effective user of the connections (default bench).\n"
               "  --rate R starts R ops per second over all connections on a fixed schedule\n"
               "  (each connection still keeps at most D in flight) and times each op from\n"
               "  when it was due, so a target that falls behind shows its backlog.\n"
               "  --kerberos authenticates every HDFS connection with SASL GSSAPI to the service\n"
               "  principal SERVICE/HOST (ticket cache: KRB5CCNAME; U should be its user) and\n"
               "  takes the strongest protection the server offers (wrapped replies at\n"
               "  integrity and privacy; requests go plain, as the Go hdfs client sends them).\n"
               "  getFileInfo/getListing query P; mkdirs/create make P/bench-<conn>-<seq>\n"
               "  (names repeat between runs: give create a fresh P each run).\n"
               "  create+complete+delete (alias ccd) is one op of three calls in a row: create\n"
               "  P/bench-<conn>-<seq>, complete it (empty), delete it; its latency covers all three.\n"
               "  get_table and get_partitions_by_names are Hive Metastore calls (unframed binary\n"
               "  Thrift) on table D.T, one call in flight per connection (--depth stays 1);\n"
               "  get_partitions_by_names asks for every partition the table has (listed once at\n"
               "  start with get_partition_names) and checks that each one comes back.\n"
               "  Last line: ops/s=N p50_us=N p99_us=N p999_us=N errors=N\n"
               "  Exit: 0 run completed (even with errors), 1 target unreachable (or no partition\n"
               "  names to ask for), 2 bad arguments.\n");
}

/* Reports a bad command line; returns the exit status 2. */
__attribute__((format(printf, 1, 2))) static int bad_arg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fedrouter-bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    usage(stderr);
    return 2;
}

/* Strict unsigned parse into [lo, hi]. */
static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        return -1;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* A decimal number (seconds, ops per second) in [lo, hi]. */
static int parse_decimal(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    if ((*s < '0' || *s > '9') && *s != '.')
        return -1;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* HOST:PORT or [V6]:PORT -> cfg->addr. Returns 0, or -1 with a message in err. */
static int resolve(const char *target, struct bench_cfg *cfg, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(target, ':');
    if (!colon || colon == target || !colon[1]) {
        snprintf(err, errlen, "--target must be HOST:PORT");
        return -1;
    }
    size_t hl = (size_t)(colon - target);
    const char *h = target;
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= sizeof host) {
        snprintf(err, errlen, "--target: bad host");
        return -1;
    }
    memcpy(host, h, hl);
    host[hl] = 0;
    unsigned port;
    if (parse_uint(colon + 1, 1, 65535, &port) < 0) {
        snprintf(err, errlen, "--target: bad port");
        return -1;
    }
    struct addrinfo hints = { 0 }, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "--target: cannot resolve %.200s: %s", host, gai_strerror(rc));
        return -1;
    }
    memcpy(&cfg->addr, res->ai_addr, res->ai_addrlen);
    cfg->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* Can we reach the target at all? Retries refused connects for up to 3 s
 * (a server that is still starting). Returns 0, or -1 with errno's text in err. */
static int probe(const struct bench_cfg *cfg, char *err, size_t errlen)
{
    uint64_t deadline = bench_now_ns() + PROBE_TIMEOUT_NS;
    for (;;) {
        int fd = socket(cfg->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            snprintf(err, errlen, "socket: %s", strerror(errno));
            return -1;
        }
        struct timeval tv = { 3, 0 };
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); /* bounds connect() */
        int rc = connect(fd, (const struct sockaddr *)&cfg->addr, cfg->addrlen);
        int e = errno;
        if (rc == 0 && cfg->krb_service) {
            /* One handshake up front: a refused ticket is reported once,
             * with the server's words, not as a run full of errors. */
            struct sec_layer *sasl = NULL;
            unsigned ssf = 0;
            rc = bench_krb_handshake(fd, cfg->krb_service, cfg->krb_host, &sasl, &ssf, err, errlen);
            bench_krb_free(&sasl);
            close(fd);
            if (rc == 0)
                printf("fedrouter-bench: kerberos %s/%s, security strength %u\n", cfg->krb_service, cfg->krb_host, ssf);
            return rc;
        }
        close(fd);
        if (rc == 0)
            return 0;
        snprintf(err, errlen, "%s", strerror(e));
        if (bench_now_ns() >= deadline || (e != ECONNREFUSED && e != EINTR))
            return -1;
        struct timespec ts = { 0, 100 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
}

/* Raises the open-file limit for N connections; -1 when it cannot. */
static int ensure_fds(unsigned conns)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)conns + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 0;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
            return -1;
        rl.rlim_cur = need;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            return -1;
    }
    return 0;
}

static unsigned long long ns_to_us(uint64_t ns) { return (unsigned long long)((ns + 500) / 1000); }

int main(int argc, char **argv)
{
    enum {
        O_TARGET = 1,
        O_OP,
        O_PATH,
        O_CONNS,
        O_DURATION,
        O_USER,
        O_DEPTH,
        O_THREADS,
        O_WARMUP,
        O_DB,
        O_TABLE,
        O_KRB,
        O_RATE,
        O_HELP
    };
    static const struct option opts[] = {
        { "target", required_argument, 0, O_TARGET },
        { "op", required_argument, 0, O_OP },
        { "path", required_argument, 0, O_PATH },
        { "conns", required_argument, 0, O_CONNS },
        { "duration", required_argument, 0, O_DURATION },
        { "user", required_argument, 0, O_USER },
        { "depth", required_argument, 0, O_DEPTH },
        { "threads", required_argument, 0, O_THREADS },
        { "warmup", required_argument, 0, O_WARMUP },
        { "db", required_argument, 0, O_DB },
        { "table", required_argument, 0, O_TABLE },
        { "help", no_argument, 0, O_HELP },
        { "kerberos", required_argument, 0, O_KRB },
        { "rate", required_argument, 0, O_RATE },
        { 0, 0, 0, 0 },
    };
    static struct bench_cfg cfg;
    const char *target = NULL, *op = NULL, *path = NULL;
    double duration = -1, warmup = 1;
    bool have_conns = false, have_user = false;
    char err[256];
    int o;

    cfg.user = "bench";
    cfg.depth = 1;
    cfg.threads = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case O_TARGET: target = optarg; break;
        case O_OP: op = optarg; break;
        case O_PATH: path = optarg; break;
        case O_USER:
            cfg.user = optarg;
            have_user = true;
            break;
        case O_DB: cfg.db = optarg; break;
        case O_TABLE: cfg.table = optarg; break;
        case O_KRB: {
            static char svc[256];
            const char *slash = strchr(optarg, '/');
            if (!slash || slash == optarg || !slash[1] || strlen(optarg) >= sizeof svc || strchr(optarg, '@'))
                return bad_arg("bad --kerberos %s (SERVICE/HOST, e.g. nn/localhost)", optarg);
            memcpy(svc, optarg, (size_t)(slash - optarg));
            svc[slash - optarg] = 0;
            cfg.krb_service = svc;
            cfg.krb_host = slash + 1;
            break;
        }
        case O_CONNS:
            if (parse_uint(optarg, 1, 1000000, &cfg.conns) < 0)
                return bad_arg("bad --conns %s (1..1000000)", optarg);
            have_conns = true;
            break;
        case O_DEPTH:
            if (parse_uint(optarg, 1, BENCH_MAX_DEPTH, &cfg.depth) < 0)
                return bad_arg("bad --depth %s (1..1024)", optarg);
            break;
        case O_THREADS:
            if (parse_uint(optarg, 1, BENCH_MAX_THREADS, &cfg.threads) < 0)
                return bad_arg("bad --threads %s (1..256)", optarg);
            break;
        case O_DURATION:
            if (parse_decimal(optarg, 0.001, 86400, &duration) < 0)
                return bad_arg("bad --duration %s (seconds, > 0)", optarg);
            break;
        case O_WARMUP:
            if (parse_decimal(optarg, 0, 86400, &warmup) < 0)
                return bad_arg("bad --warmup %s (seconds, >= 0)", optarg);
            break;
        case O_RATE:
            if (parse_decimal(optarg, 0.001, 1e7, &cfg.rate) < 0)
                return bad_arg("bad --rate %s (ops per second, 0.001..10000000)", optarg);
            break;
        case O_HELP: usage(stdout); return 0;
        default: return bad_arg("unknown or incomplete option %s", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return bad_arg("unexpected argument %s", argv[optind]);
    if (!target || !op || !have_conns || duration < 0)
        return bad_arg("--target, --op, --conns and --duration are required");
    int opi = -1;
    for (int i = 0; i < (int)N_OPS; i++)
        if (strcmp(op, op_names[i]) == 0)
            opi = i;
    if (strcmp(op, "ccd") == 0)
        opi = OP_CCD;
    if (opi < 0)
        return bad_arg("unknown --op %s", op);
    cfg.op = (enum bench_op)opi;
    if (op_is_hms(cfg.op)) {
        if (cfg.depth > 1)
            return bad_arg("--op %s keeps one call in flight per connection, as metastore clients do"
                           " (a Thrift connection carries one call at a time): --depth %u is refused;"
                           " use more --conns instead",
                           op, cfg.depth);
        if (path)
            return bad_arg("--op %s reads a table: give --db and --table, not --path", op);
        if (have_user)
            return bad_arg("--user is for the HDFS ops; the metastore ops send no user");
        if (cfg.krb_service)
            return bad_arg("--kerberos is for the HDFS ops");
        if (!cfg.db || !cfg.table)
            return bad_arg("--op %s needs --db and --table", op);
        if (!cfg.db[0] || !cfg.table[0] || strlen(cfg.db) > BENCH_MAX_NAME || strlen(cfg.table) > BENCH_MAX_NAME)
            return bad_arg("--db and --table must be 1..%d bytes", BENCH_MAX_NAME);
    } else {
        if (!path)
            return bad_arg("--op %s needs --path", op);
        if (cfg.db || cfg.table)
            return bad_arg("--db and --table are for the metastore ops (get_table, get_partitions_by_names)");
        size_t pl = strlen(path);
        if (path[0] != '/' || pl > BENCH_MAX_PATH)
            return bad_arg("--path must be absolute and at most 3000 bytes: %s", path);
        static char pathbuf[BENCH_MAX_PATH + 1];
        memcpy(pathbuf, path, pl + 1);
        while (pl > 1 && pathbuf[pl - 1] == '/')
            pathbuf[--pl] = 0;
        cfg.path = pathbuf;
        if (!cfg.user[0] || strlen(cfg.user) > BENCH_MAX_USER)
            return bad_arg("bad --user '%s' (1..256 bytes)", cfg.user);
    }
    if (cfg.threads > cfg.conns)
        return bad_arg("--threads (%u) must not exceed --conns (%u)", cfg.threads, cfg.conns);
    if (resolve(target, &cfg, err, sizeof err) < 0)
        return bad_arg("%s", err);
    cfg.target = target;
    if (ensure_fds(cfg.conns) < 0)
        return bad_arg("--conns %u is over the open-file limit (ulimit -n)", cfg.conns);

    signal(SIGPIPE, SIG_IGN);
    if (op_is_hms(cfg.op))
        printf("fedrouter-bench: target=%s op=%s db=%s table=%s\n", target, op_names[opi], cfg.db, cfg.table);
    else
        printf("fedrouter-bench: target=%s op=%s path=%s user=%s\n", target, op_names[opi], cfg.path, cfg.user);
    printf("fedrouter-bench: conns=%u depth=%u threads=%u duration=%gs warmup=%gs\n", cfg.conns, cfg.depth, cfg.threads,
           duration, warmup);
    if (cfg.rate > 0)
        printf("fedrouter-bench: rate=%g ops/s (open loop)\n", cfg.rate);
    fflush(stdout);
    if (probe(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "fedrouter-bench: cannot connect to %s: %s\n", target, err);
        return 1;
    }
    if (op_is_hms(cfg.op)) {
        if (hms_prepare(&cfg, err, sizeof err) < 0) {
            fprintf(stderr, "fedrouter-bench: %s: %s\n", target, err);
            return 1;
        }
        if (cfg.op == OP_GET_PARTS_BY_NAMES)
            printf("fedrouter-bench: partitions=%u (each call asks for all of them by name)\n", cfg.hms_nparts);
        fflush(stdout);
    }

    struct worker *ws = calloc(cfg.threads, sizeof *ws);
    if (!ws) {
        fprintf(stderr, "fedrouter-bench: out of memory\n");
        return 1;
    }
    uint64_t start = bench_now_ns();
    cfg.win_begin_ns = start + (uint64_t)(warmup * 1e9);
    cfg.win_end_ns = cfg.win_begin_ns + (uint64_t)(duration * 1e9);
    unsigned started = 0;
    for (unsigned i = 0; i < cfg.threads; i++) {
        ws[i].cfg = &cfg;
        ws[i].shared = &cfg;
        ws[i].id = i;
        int rc = pthread_create(&ws[i].thr, NULL, worker_main, &ws[i]);
        if (rc != 0) {
            fprintf(stderr, "fedrouter-bench: cannot start thread %u: %s\n", i, strerror(rc));
            break;
        }
        started++;
    }

    /* Merge into a heap histogram (it is 35 KB). */
    struct hist *all = calloc(1, sizeof *all);
    uint64_t ops = 0, errors = 0, error_replies = 0, failures = 0, connects = 0, replies = 0;
    const char *first_error = NULL;
    bool setup_failed = started < cfg.threads;
    for (unsigned i = 0; i < started; i++) {
        pthread_join(ws[i].thr, NULL);
        if (ws[i].setup_error[0]) {
            fprintf(stderr, "fedrouter-bench: %s\n", ws[i].setup_error);
            setup_failed = true;
        }
        if (all)
            hist_merge(all, &ws[i].hist);
        ops += ws[i].ops;
        errors += ws[i].errors;
        error_replies += ws[i].error_replies;
        failures += ws[i].conn_failures;
        connects += ws[i].connects;
        replies += ws[i].replies;
        if (!first_error && ws[i].first_error[0])
            first_error = ws[i].first_error;
    }
    if (!all || setup_failed) {
        fprintf(stderr, "fedrouter-bench: the run could not be set up\n");
        return 1;
    }
    if (!atomic_load(&cfg.ever_connected)) {
        fprintf(stderr, "fedrouter-bench: no connection to %s succeeded during the run (%s)\n", target,
                first_error ? first_error : "no error recorded");
        return 1;
    }
    printf("fedrouter-bench: calls=%llu errors=%llu (error replies %llu, connection failures %llu,"
           " connects %llu; counted over warmup + run)\n",
           (unsigned long long)ops, (unsigned long long)errors, (unsigned long long)error_replies,
           (unsigned long long)failures, (unsigned long long)connects);
    printf("fedrouter-bench: replies=%llu (every reply, warmup + run)\n", (unsigned long long)replies);
    printf("fedrouter-bench: p90_us=%llu p999_us=%llu max_us=%llu\n", ns_to_us(hist_quantile(all, 0.90)),
           ns_to_us(hist_quantile(all, 0.999)), ns_to_us(all->max));
    if (first_error)
        printf("fedrouter-bench: first error: %s\n", first_error);
    printf("ops/s=%llu p50_us=%llu p99_us=%llu p999_us=%llu errors=%llu\n",
           (unsigned long long)((double)ops / duration + 0.5), ns_to_us(hist_quantile(all, 0.50)),
           ns_to_us(hist_quantile(all, 0.99)), ns_to_us(hist_quantile(all, 0.999)), (unsigned long long)errors);
    free(all);
    free(ws);
    free(cfg.hms_args);
    return 0;
}
