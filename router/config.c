/*
 * config: the INI parser for the router's file, its key table and --help
 * text. See config.h.
 */
#include "auth_to_local.h"
#include "config.h"
#include "proxyuser.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum sec { SEC_NONE = -1, SEC_ROUTER = 0, SEC_STORE = 1, SEC_SECURITY = 2, SEC_RECORD = 3, SEC_SKIP = 4 };
#define NSETSECS 3 /* sections of settings keys: router, statestore, security */

enum ktype {
    T_STR,      /* any text */
    T_ADDR,     /* host:port (port 0 = any, for tests) */
    T_ADDR_OPT, /* host:port or "off" / "" */
    T_HOSTS,    /* host:port[,host:port...] */
    T_ZPATH,    /* absolute normalised znode path */
    T_NAME,     /* nameservice name or "" */
    T_INT,      /* int within [min, max] */
    T_SIZE,     /* bytes with k m g suffixes, int64 within [min, max] */
    T_ENUM,     /* one of `choices` ('|'-separated), stored as its index */
    T_FLAGS,    /* comma-separated list of `choices`, stored as bits (first choice = 1) */
};

static const char *const type_names[] = {"string", "host:port", "host:port|off", "host:port,...", "znode path",
                                         "name",   "integer",   "size",          "enum",          "list"};

/* flags of a key, one of: */
#define CF_RESTART 0 /* read at start-up only: a reload that changes it logs that it needs a restart */
#define CF_RELOAD 1  /* a changed value takes effect when the file driver reloads the file */

/* One [router] / [statestore] key. */
struct cfg_key {
    int sec;                /* SEC_ROUTER, SEC_STORE or SEC_SECURITY */
    const char *name;
    enum ktype type;
    const char *def;        /* default, parsed like a value from the file */
    int64_t min, max;       /* T_INT, T_SIZE */
    const char *choices;    /* T_ENUM */
    size_t off;             /* field in struct config */
    const char *shown;      /* what --help shows as the default when def is resolved later, else NULL */
    const char *doc;
    int flags;              /* CF_* */
};

#define R(f) offsetof(struct config, router.f)
#define S(f) offsetof(struct config, store.f)
#define X(f) offsetof(struct config, security.f)
#define DAY 86400000

static const struct cfg_key table[] = {
    {SEC_ROUTER, "id", T_STR, "", 0, 0, NULL, R(id), "host name", "this router's id in the statestore, metrics and logs",
     CF_RESTART},
    {SEC_ROUTER, "hdfs.listen", T_ADDR, "0.0.0.0:8020", 0, 0, NULL, R(hdfs_listen), NULL,
     "address for HDFS clients (fs.defaultFS = hdfs://<this>)", CF_RESTART},
    {SEC_ROUTER, "hms.listen", T_ADDR_OPT, "0.0.0.0:9083", 0, 0, NULL, R(hms_listen), NULL,
     "address for metastore clients (hive.metastore.uris = thrift://<this>); off = none", CF_RESTART},
    {SEC_ROUTER, "admin.listen", T_ADDR_OPT, "0.0.0.0:8021", 0, 0, NULL, R(admin_listen), NULL,
     "address for the status page (GET /), /metrics, /healthz and /readyz; off = none", CF_RESTART},
    {SEC_ROUTER, "workers", T_INT, "0", 0, 1024, NULL, R(workers), "0 = number of cores",
     "worker threads, each with its own event loop and listeners", CF_RESTART},
    {SEC_ROUTER, "crypto_threads", T_INT, "2", 0, 256, NULL, R(crypto_threads), NULL,
     "threads that wrap and unwrap large SASL messages (privacy, integrity), under crypto_sched = nice also "
     "send the wrapped replies, and "
     "that map the paths of large answers (32 KiB or more) back through the mounts, for every worker, so that "
     "one connection's large reply does not hold back the other connections of its worker; used only while "
     "other calls wait on that worker. A full queue (256 jobs per thread) runs the work on the worker, and so "
     "does a job no thread has started within 10 ms (threads starved of CPU). "
     "0 = all such work on the workers", CF_RESTART},
    {SEC_ROUTER, "crypto_nice", T_INT, "10", 0, 19, NULL, R(crypto_nice), NULL,
     "niceness of the crypto threads under crypto_sched = nice (Linux keeps one per thread): above the "
     "workers' so that, when the cores are busy, bulk wrapping yields them to the worker loops; 0 = the same "
     "as the workers", CF_RESTART},
    {SEC_ROUTER, "crypto_sched", T_ENUM, "idle", 0, 0, "idle|nice", R(crypto_sched), NULL,
     "how the crypto threads are scheduled: idle (Linux SCHED_IDLE: they run only on a core that nothing else "
     "wants, and a worker that wakes takes it from them at once; the workers send what they wrapped) keeps "
     "small calls fastest when the cores are full, and large replies then wait for a free core, up to 10 ms "
     "before a worker runs their work. nice (at crypto_nice) keeps the threads a share of busy cores: for a "
     "host whose cores other busy processes share, where idle threads would mostly wait",
     CF_RESTART},
    {SEC_ROUTER, "default.nameservice", T_NAME, "", 0, 0, NULL, R(default_ns), "none",
     "nameservice for paths under no mount point (none: such paths fail)", CF_RELOAD},
    {SEC_ROUTER, "upstream.connect_timeout_ms", T_INT, "2000", 1, 600000, NULL, R(upstream_connect_timeout_ms), NULL,
     "time to connect to a NameNode or metastore (for a metastore, with the replies to set_ugi and "
     "setMetaConf replays) before trying the next", CF_RESTART},
    {SEC_ROUTER, "upstream.call_timeout_ms", T_INT, "120000", 0, DAY, NULL, R(upstream_call_timeout_ms), NULL,
     "time for one forwarded HDFS call before the client gets an error; 0 = no limit (metastore calls: "
     "hms.call_timeout_ms)", CF_RESTART},
    {SEC_ROUTER, "upstream.max_conns_per_user", T_INT, "4", 1, 1024, NULL, R(upstream_max_conns_per_user), NULL,
     "upstream connections per worker, NameNode and effective user", CF_RESTART},
    {SEC_ROUTER, "upstream.max_conns_per_namenode", T_INT, "64", 1, 65536, NULL, R(upstream_max_conns_per_namenode),
     NULL,
     "upstream connections per worker to one NameNode, all users together (a NameNode connection serves one "
     "user). Past it a call of a user without a connection closes the least recently idle connection of "
     "another user, or waits for one to go idle or close; a call still waiting after "
     "upstream.call_timeout_ms fails (HA: the next NameNode is tried). Counted in "
     "fedrouter_upstream_reaped_total and fedrouter_upstream_queued_total", CF_RESTART},
    {SEC_ROUTER, "upstream.max_calls_per_conn", T_INT, "256", 1, 65536, NULL, R(upstream_max_calls_per_conn), NULL,
     "calls multiplexed on one upstream connection before another opens", CF_RESTART},
    {SEC_ROUTER, "upstream.idle_timeout_ms", T_INT, "60000", 0, DAY, NULL, R(upstream_idle_timeout_ms), NULL,
     "idle upstream connections close after this; 0 = never", CF_RESTART},
    {SEC_ROUTER, "upstream.max_attempts", T_INT, "3", 1, 64, NULL, R(upstream_max_attempts), NULL,
     "NameNodes of a nameservice one call tries (HA failover, each at most once) before giving up. A call "
     "that times out on one moves to the next only when it is safe to repeat (@Idempotent, or @AtMostOnce with "
     "the client's id for the retry cache), each try with the full upstream.call_timeout_ms: at most "
     "max_attempts timeouts in all", CF_RESTART},
    {SEC_ROUTER, "client.max_frame", T_SIZE, "128m", 4096, 2147483647, NULL, R(client_max_frame), NULL,
     "largest request frame a client may send (Hadoop's ipc.maximum.data.length)", CF_RESTART},
    {SEC_ROUTER, "client.max_inflight", T_INT, "1024", 1, 1048576, NULL, R(client_max_inflight), NULL,
     "calls in flight from one client connection before the router stops reading it", CF_RESTART},
    {SEC_ROUTER, "client.max_output", T_SIZE, "64m", 65536, (int64_t)1 << 40, NULL, R(client_max_output), NULL,
     "response bytes queued for one client before the router stops reading it; a metastore reply passed "
     "on as it arrives also stops being read from the metastore until half of them are written", CF_RESTART},
    {SEC_ROUTER, "client.max_conns", T_INT, "0", 0, 10000000, NULL, R(client_max_conns), NULL,
     "client connections (HDFS and metastore together) the router keeps open; one more is accepted and "
     "closed at once, counted in fedrouter_client_refused_total and logged; 0 = no limit (when descriptors run "
     "out, new clients are closed at once too)", CF_RESTART},
    {SEC_ROUTER, "client.idle_timeout_ms", T_INT, "0", 0, DAY, NULL, R(client_idle_timeout_ms), NULL,
     "a client connection that makes no progress (no whole message read, nothing written, no calls in "
     "flight) for this long is closed; a sender trickling a message counts as idle. 0 = never: Hadoop clients "
     "close idle connections themselves and Hive clients keep theirs open for hours", CF_RESTART},
    {SEC_ROUTER, "client.handshake_timeout_ms", T_INT, "10000", 0, DAY, NULL, R(client_handshake_timeout_ms), NULL,
     "time a new client has to finish its handshake (HDFS: preamble and connection context; metastore: its "
     "first whole call) before it is closed; real clients send them at once; 0 = no limit", CF_RESTART},
    {SEC_ROUTER, "cluster.refresh_ms", T_INT, "5000", 100, 3600000, NULL, R(cluster_refresh_ms), NULL,
     "how often block pools (block-only calls), free space and hosts (SPACE and LOCAL mount orders) of each "
     "nameservice are asked for", CF_RESTART},
    {SEC_ROUTER, "shutdown.grace_ms", T_INT, "30000", 0, 3600000, NULL, R(shutdown_grace_ms), NULL,
     "on SIGTERM the listening sockets close at once (new connections are refused) and idle clients are "
     "closed; calls in flight get this long to finish, then the router exits 0", CF_RESTART},
    {SEC_ROUTER, "hms.mode", T_ENUM, "prefixed", 0, 0, "prefixed|manual", R(hms_mode), NULL,
     "metastore federation: prefixed (each metastore but the primary owns a name prefix) or manual "
     "(each [metastore] lists its databases; the rest go to the primary)", CF_RESTART},
    {SEC_ROUTER, "hdfs.down", T_ENUM, "partial", 0, 0, "partial|fail", R(hdfs_down), NULL,
     "a subcluster that does not answer a listing or summary that spans several, or a report sent to every "
     "subcluster (getFsStats as in hdfs df, datanode reports): partial (answered with "
     "the rest, logged and counted in fedrouter_hdfs_partial_answers_total) or fail (the call fails naming it)", CF_RESTART},
    {SEC_ROUTER, "hms.down", T_ENUM, "skip", 0, 0, "skip|fail", R(hms_down), NULL,
     "a metastore that does not answer a call sent to every metastore: skip (left out, counted in "
     "fedrouter_hms_left_out_total, logged at most every 10 s) or fail", CF_RESTART},
    {SEC_ROUTER, "hms.call_timeout_ms", T_INT, "600000", 0, DAY, NULL, R(hms_call_timeout_ms), NULL,
     "time a metastore has to answer one call, and between two parts of a long reply, before the client gets "
     "an error (Hive's own client waits 600 s); 0 = no limit", CF_RESTART},
    {SEC_ROUTER, "hms.fanout_timeout_ms", T_INT, "8000", 1, DAY, NULL, R(hms_fanout_timeout_ms), NULL,
     "time each metastore has to answer its part of a call sent to every metastore (database listings, "
     "get_table_meta with a wildcard, get_all_functions); a slower one counts as down (hms.down)", CF_RESTART},
    {SEC_ROUTER, "hms.max_buffered_reply", T_SIZE, "256m", 1048576, 2147483647, NULL, R(hms_max_buffered_reply),
     NULL,
     "largest metastore reply the router holds whole: fan-out answers it merges, answers for framed clients "
     "it must map, _req answers it turns back into old calls; other replies pass as they arrive, any size", CF_RESTART},
    {SEC_ROUTER, "hms.max_message", T_SIZE, "100m", 4096, 2147483647, NULL, R(hms_max_message), NULL,
     "largest call a metastore client may send, framed or not (the metastore's own "
     "metastore.server.max.message.size is 100 MiB); a larger one closes the connection with a log line", CF_RESTART},
    {SEC_ROUTER, "log.level", T_ENUM, "info", 0, 0, "error|warn|info|debug", R(log_level), NULL,
     "least severe messages written", CF_RELOAD},
    {SEC_ROUTER, "audit.hdfs", T_STR, "", 0, 0, NULL, R(audit_hdfs), NULL,
     "file for the HDFS audit log: one line per client call once it is answered, in the NameNode's format "
     "(allowed= ugi= ip= cmd= src= dst= perm= proto=) plus ns= (the nameservices it went to); empty = off. "
     "A thread of its own writes it: workers queue lines (65536 at most per log) and never wait; when the "
     "queue is full new lines are dropped and counted in fedrouter_audit_dropped_total. SIGHUP reopens the "
     "file (after logrotate moved it)", CF_RELOAD},
    {SEC_ROUTER, "audit.hms", T_STR, "", 0, 0, NULL, R(audit_hms), NULL,
     "file for the metastore audit log: one line per call in HMSHandler's format (ugi= ip= cmd=METHOD : "
     "db=DB tbl=TABLE) plus metastore= (where it went); empty = off; queued, dropped when full and "
     "reopened on SIGHUP as audit.hdfs", CF_RELOAD},
    {SEC_STORE, "driver", T_ENUM, "file", 0, 0, "file|zookeeper", S(driver), NULL,
     "file: records in this file; zookeeper: records in ZooKeeper (fedrouter-admin edits them)", CF_RESTART},
    {SEC_STORE, "file.settle_ms", T_INT, "500", 0, 60000, NULL, S(file_settle_ms), NULL,
     "driver = file: a changed file is loaded once it has stayed unchanged this long (a file whose last "
     "line has no newline: at least 2000 ms), so a file being written in place is not loaded half-written; "
     "replace the file by rename for a change that is atomic", CF_RESTART},
    {SEC_STORE, "zk.hosts", T_HOSTS, "", 0, 0, NULL, S(zk_hosts), "none",
     "ZooKeeper ensemble host:port[,host:port...] (required with driver = zookeeper)", CF_RESTART},
    {SEC_STORE, "zk.root", T_ZPATH, "/fedrouter", 0, 0, NULL, S(zk_root), NULL, "znode under which records live", CF_RESTART},
    {SEC_STORE, "zk.session_timeout_ms", T_INT, "30000", 2000, 600000, NULL, S(zk_session_timeout_ms), NULL,
     "ZooKeeper session timeout; the last good table keeps serving while it is away", CF_RESTART},
    {SEC_STORE, "zk.auth_file", T_STR, "", 0, 0, NULL, S(zk_auth_file), "none",
     "file holding scheme:credentials (e.g. digest:user:password) for ZooKeeper", CF_RESTART},
    {SEC_SECURITY, "auth", T_FLAGS, "simple", 0, 0, "simple|kerberos", X(auth), NULL,
     "how HDFS clients may authenticate: simple (the user the client names is trusted), kerberos (SASL "
     "GSSAPI with the router's principal; QOP authentication). Without simple, a SIMPLE client is refused "
     "as a secure NameNode refuses it", CF_RESTART},
    {SEC_SECURITY, "principal", T_STR, "", 0, 0, NULL, X(principal), "none",
     "the router's service principal service/host@REALM, as clients name it (dfs.namenode.kerberos.principal); "
     "_HOST becomes the hdfs.listen host (its reverse lookup for an address, this machine's canonical name for "
     "0.0.0.0). Required with kerberos", CF_RESTART},
    {SEC_SECURITY, "keytab", T_STR, "", 0, 0, NULL, X(keytab), "KRB5_KTNAME or the system keytab",
     "keytab holding the principal's keys (fedrouter -t checks that it does); KRB5_CONFIG selects krb5.conf",
     CF_RESTART},
    {SEC_SECURITY, "auth_to_local", T_STR, "DEFAULT", 0, 0, NULL, X(auth_to_local), NULL,
     "Hadoop's hadoop.security.auth_to_local: RULE:[n:fmt](regex)s/pattern/replacement/[g][/L] and DEFAULT, "
     "separated by spaces, mapping an authenticated principal to the user the NameNodes see",
     CF_RESTART},
    {SEC_SECURITY, "rpc.protection", T_FLAGS, "authentication", 0, 0, "authentication|integrity|privacy",
     X(rpc_protection), NULL,
     "Hadoop's hadoop.rpc.protection for Kerberos clients: authentication (no security layer), integrity "
     "(every message signed) or privacy (signed and encrypted), as a list. A list with privacy offers only "
     "privacy to GSSAPI: the Go client takes the strongest QOP the router names and echoes the layers it "
     "is offered, so no client settles below privacy; integrity with authentication "
     "lets the client choose. Needs auth = kerberos (SIMPLE clients get no layer, as in Hadoop)",
     CF_RESTART},
};
#define NKEYS (sizeof table / sizeof table[0])

static const char *const sec_names[NSETSECS] = {"router", "statestore", "security"};
static const char *const all_secs[] = {"router", "statestore", "security", "nameservice", "mount", "metastore"};

/* ---- errors ---- */

struct pctx {
    const char *file;
    struct cfg_error *err;
};

static void err_at(struct pctx *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void err_at(struct pctx *p, int line, const char *fmt, ...)
{
    struct cfg_error *e = p->err;
    if (e->n == CFG_MAX_ERRORS) {
        e->dropped++;
        return;
    }
    char *m = e->msg[e->n++];
    int k = line > 0 ? snprintf(m, CFG_ERR_LEN, "%s:%d: ", p->file, line) : snprintf(m, CFG_ERR_LEN, "%s: ", p->file);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m + k, CFG_ERR_LEN - (size_t)k, fmt, ap);
    va_end(ap);
}

void cfg_error_print(const struct cfg_error *err, FILE *out)
{
    for (int i = 0; i < err->n; i++)
        fprintf(out, "%s\n", err->msg[i]);
    if (err->dropped)
        fprintf(out, "... and %d more\n", err->dropped);
}

/* Edit distance for did-you-mean (short strings only). */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    size_t d[64], prev;
    for (size_t j = 0; j <= lb; j++)
        d[j] = j;
    for (size_t i = 1; i <= la; i++) {
        prev = d[0];
        d[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t t = d[j];
            size_t sub = prev + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            size_t best = d[j] + 1 < d[j - 1] + 1 ? d[j] + 1 : d[j - 1] + 1;
            d[j] = sub < best ? sub : best;
            prev = t;
        }
    }
    return d[lb];
}

/* The closest of names[] to word, or NULL when none is close. */
static const char *closest(const char *word, const char *const *names, size_t n)
{
    size_t lim = strlen(word) / 3;
    lim = lim < 1 ? 1 : lim > 3 ? 3 : lim;
    const char *best = NULL;
    size_t bd = lim + 1;
    for (size_t i = 0; i < n; i++) {
        size_t d = distance(word, names[i]);
        if (d < bd) {
            bd = d;
            best = names[i];
        }
    }
    return best;
}

/* ---- values ---- */

static char **str_slot(struct config *c, const struct cfg_key *k)
{
    return (char **)((char *)c + k->off);
}

/* Parses and stores one value. 0, or -1 with a reason. */
static int set_value(struct config *c, const struct cfg_key *k, const char *v, char *why, size_t wl)
{
    int64_t n;
    switch (k->type) {
    case T_ADDR_OPT:
        if (!*v || !strcasecmp(v, "off") || !strcasecmp(v, "none"))
            v = "";
        else if (hostport_check(v, 0, why, wl) < 0)
            return -1;
        break;
    case T_ADDR:
        if (hostport_check(v, 0, why, wl) < 0)
            return -1;
        break;
    case T_HOSTS: {
        char *copy = strdup(v), *save = NULL;
        if (!copy)
            return snprintf(why, wl, "out of memory"), -1;
        int bad = 0;
        for (char *t = strtok_r(copy, ",", &save); t && !bad; t = strtok_r(NULL, ",", &save)) {
            while (isspace((unsigned char)*t))
                t++;
            size_t tl = strlen(t);
            while (tl && isspace((unsigned char)t[tl - 1]))
                t[--tl] = '\0';
            bad = hostport_check(t, 1, why, wl) < 0;
        }
        free(copy);
        if (bad)
            return -1;
        break;
    }
    case T_ZPATH: {
        char buf[1024];
        const char *pw;
        long len = path_normalize(v, strlen(v), buf, sizeof buf, &pw);
        if (len < 0)
            return snprintf(why, wl, "'%s': %s", v, pw), -1;
        if (strcmp(buf, v))
            return snprintf(why, wl, "'%.200s': write it as '%.200s'", v, buf), -1;
        break;
    }
    case T_NAME:
        if (*v && !name_valid(v))
            return snprintf(why, wl, "'%s': use A-Z a-z 0-9 _ . -", v), -1;
        break;
    case T_STR:
        for (const char *q = v; *q; q++)
            if (iscntrl((unsigned char)*q))
                return snprintf(why, wl, "control character in value"), -1;
        break;
    case T_INT:
    case T_SIZE:
        if (parse_i64(v, k->type == T_SIZE, &n) < 0)
            return snprintf(why, wl, "'%s' is not %s", v, k->type == T_SIZE ? "a size (e.g. 128m)" : "an integer"),
                   -1;
        if (n < k->min || n > k->max)
            return snprintf(why, wl, "%lld is out of range %lld..%lld", (long long)n, (long long)k->min,
                            (long long)k->max),
                   -1;
        if (k->type == T_INT)
            *(int *)((char *)c + k->off) = (int)n;
        else
            *(int64_t *)((char *)c + k->off) = n;
        return 0;
    case T_ENUM: {
        const char *ch = k->choices;
        for (int i = 0; *ch; i++) {
            size_t l = strcspn(ch, "|");
            if (strlen(v) == l && !strncasecmp(v, ch, l)) {
                *(int *)((char *)c + k->off) = i;
                return 0;
            }
            ch += l + (ch[l] == '|');
        }
        return snprintf(why, wl, "'%s': use one of %s", v, k->choices), -1;
    }
    case T_FLAGS: {
        int bits = 0;
        const char *q = v;
        while (*q) {
            while (*q == ' ' || *q == '\t' || *q == ',')
                q++;
            if (!*q)
                break;
            size_t wlen = strcspn(q, ", \t");
            int bit = 0;
            const char *ch = k->choices;
            for (int i = 0; *ch && !bit; i++) {
                size_t l = strcspn(ch, "|");
                if (wlen == l && !strncasecmp(q, ch, l))
                    bit = 1 << i;
                ch += l + (ch[l] == '|');
            }
            if (!bit)
                return snprintf(why, wl, "'%.*s': use a list of %s", (int)wlen, q, k->choices), -1;
            if (bits & bit)
                return snprintf(why, wl, "'%.*s' is listed twice", (int)wlen, q), -1;
            bits |= bit;
            q += wlen;
        }
        if (!bits)
            return snprintf(why, wl, "empty: use a list of %s", k->choices), -1;
        *(int *)((char *)c + k->off) = bits;
        return 0;
    }
    }
    char *d = strdup(v);
    if (!d)
        return snprintf(why, wl, "out of memory"), -1;
    free(*str_slot(c, k));
    *str_slot(c, k) = d;
    return 0;
}

static bool is_str_type(enum ktype t)
{
    return t != T_INT && t != T_SIZE && t != T_ENUM && t != T_FLAGS;
}

int config_init(struct config *c)
{
    memset(c, 0, sizeof *c);
    recset_init(&c->records);
    c->path = strdup("");
    char why[256];
    for (size_t i = 0; i < NKEYS; i++)
        if (set_value(c, &table[i], table[i].def, why, sizeof why) < 0) {
            config_free(c);
            return -1;
        }
    return c->path ? 0 : -1;
}

void config_free(struct config *c)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (is_str_type(table[i].type))
            free(*str_slot(c, &table[i]));
    free(c->path);
    recset_free(&c->records);
    proxyuser_rules_free(c->security.proxyusers);
    memset(c, 0, sizeof *c);
}

/* ---- the parser ---- */

struct seen {
    const char *name;
    int line;
};

struct parser {
    struct pctx p;
    struct config *c;
    int sec;
    int sec_line[NSETSECS];     /* where [router] / [statestore] / [security] started */
    int key_line[NKEYS];        /* where each settings key was set */
    struct record rec;          /* record being read (SEC_RECORD) */
    bool have_rec;
    bool table;                 /* a mount table for -import: records, not this router's settings */
    struct seen seen[64];       /* keys of the current section */
    int nseen;
    char *keybuf[64];
};

static void reset_seen(struct parser *ps)
{
    for (int i = 0; i < ps->nseen; i++)
        free(ps->keybuf[i]);
    ps->nseen = 0;
}

/* false (and an error) when the key was already set in this section */
static bool first_time(struct parser *ps, const char *key, int line)
{
    for (int i = 0; i < ps->nseen; i++)
        if (!strcmp(ps->seen[i].name, key)) {
            err_at(&ps->p, line, "duplicate key '%s' (first set at line %d)", key, ps->seen[i].line);
            return false;
        }
    if (ps->nseen < 64 && (ps->keybuf[ps->nseen] = strdup(key))) {
        ps->seen[ps->nseen].name = ps->keybuf[ps->nseen];
        ps->seen[ps->nseen++].line = line;
    }
    return true;
}

static void end_record(struct parser *ps)
{
    if (!ps->have_rec)
        return;
    ps->have_rec = false;
    char why[512];
    if (record_finish(&ps->rec, why, sizeof why) < 0) {
        err_at(&ps->p, ps->rec.line, "%s", why);
        record_free(&ps->rec);
        return;
    }
    if (recset_add(&ps->c->records, &ps->rec) < 0) {
        err_at(&ps->p, ps->rec.line, "out of memory");
        record_free(&ps->rec);
    }
}

static void on_section(struct parser *ps, const char *kind, const char *name, int line)
{
    end_record(ps);
    reset_seen(ps);
    ps->sec = SEC_SKIP;
    for (int s = 0; s < NSETSECS; s++)
        if (!strcmp(kind, sec_names[s])) {
            if (*name)
                err_at(&ps->p, line, "[%s] takes no name", kind);
            else if (ps->sec_line[s])
                err_at(&ps->p, line, "duplicate [%s] section (first at line %d)", kind, ps->sec_line[s]);
            else {
                ps->sec = s;
                ps->sec_line[s] = line;
            }
            return;
        }
    enum rec_kind rk;
    if (rec_kind_parse(kind, &rk) == 0) {
        char why[512];
        if (!*name)
            err_at(&ps->p, line, "[%s] needs a %s: [%s %s]", kind, rk == REC_MOUNT ? "path" : "name", kind,
                   rk == REC_MOUNT ? "/path" : "NAME");
        else if (record_init(&ps->rec, rk, name, why, sizeof why) < 0)
            err_at(&ps->p, line, "%s", why);
        else {
            ps->rec.line = line;
            ps->have_rec = true;
            ps->sec = SEC_RECORD;
        }
        return;
    }
    const char *dym = closest(kind, all_secs, sizeof all_secs / sizeof all_secs[0]);
    if (dym)
        err_at(&ps->p, line, "unknown section [%s] (did you mean [%s]?)", kind, dym);
    else
        err_at(&ps->p, line,
               "unknown section [%s] (sections: router, statestore, security, nameservice, mount, metastore)", kind);
}

static void on_key(struct parser *ps, const char *key, const char *value, int line)
{
    char why[512];
    if (ps->sec == SEC_SKIP)
        return;
    if (ps->sec == SEC_NONE) {
        err_at(&ps->p, line, "'%s' is outside any section (start with [router])", key);
        return;
    }
    if (!first_time(ps, key, line))
        return;
    if (ps->sec == SEC_RECORD) {
        int rc = record_set(&ps->rec, key, value, why, sizeof why);
        if (rc == -2) {
            size_t nk;
            const struct rec_key *rk = record_keys(&nk);
            const char *names[32];
            size_t n = 0;
            for (size_t i = 0; i < nk && n < 32; i++)
                if (rk[i].kind == ps->rec.kind)
                    names[n++] = rk[i].name;
            const char *dym = closest(key, names, n);
            if (dym)
                err_at(&ps->p, line, "unknown key '%s' in [%s] (did you mean '%s'?)", key, rec_kind_name(ps->rec.kind),
                       dym);
            else
                err_at(&ps->p, line, "unknown key '%s' in [%s]", key, rec_kind_name(ps->rec.kind));
        } else if (rc < 0) {
            err_at(&ps->p, line, "%s: %s", key, why);
        }
        return;
    }
    if (ps->sec == SEC_SECURITY && !strncmp(key, "proxyuser.", 10)) {
        struct security_settings *sec = &ps->c->security;
        if (!sec->proxyusers && !(sec->proxyusers = proxyuser_rules_new())) {
            err_at(&ps->p, line, "%s: out of memory", key);
            return;
        }
        if (proxyuser_rules_set(sec->proxyusers, key, value, why, sizeof why) < 0)
            err_at(&ps->p, line, "%s: %s", key, why);
        else
            sec->nproxyuser_keys++;
        return;
    }
    for (size_t i = 0; i < NKEYS; i++)
        if (table[i].sec == ps->sec && !strcmp(table[i].name, key)) {
            if (set_value(ps->c, &table[i], value, why, sizeof why) < 0)
                err_at(&ps->p, line, "%s: %s", key, why);
            else
                ps->key_line[i] = line;
            return;
        }
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(table[i].name, key)) {
            err_at(&ps->p, line, "'%s' belongs in [%s], not [%s]", key, sec_names[table[i].sec], sec_names[ps->sec]);
            return;
        }
    const char *names[NKEYS];
    size_t n = 0;
    for (size_t i = 0; i < NKEYS; i++)
        if (table[i].sec == ps->sec)
            names[n++] = table[i].name;
    const char *dym = closest(key, names, n);
    if (dym)
        err_at(&ps->p, line, "unknown key '%s' in [%s] (did you mean '%s'?)", key, sec_names[ps->sec], dym);
    else
        err_at(&ps->p, line, "unknown key '%s' in [%s] (fedrouter --help lists the keys)", key, sec_names[ps->sec]);
}

static void report_rec(void *ctx, const struct record *r, const char *why)
{
    struct parser *ps = ctx;
    int line = 0;
    if (r)
        line = r->line;
    else
        for (size_t i = 0; i < NKEYS; i++)
            if (table[i].off == R(default_ns))
                line = ps->key_line[i];
    err_at(&ps->p, line, "%s", why);
}

static int key_index(size_t off)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (table[i].off == off)
            return (int)i;
    return 0;
}

/* A Kerberos service principal as the router needs it: service/host with
 * an optional @REALM, no empty part, one '/', no blanks. */
static bool principal_ok(const char *p)
{
    const char *at = strrchr(p, '@'), *slash = strchr(p, '/');
    size_t nl = at ? (size_t)(at - p) : strlen(p);
    if (!slash || slash == p || (size_t)(slash - p) + 1 >= nl || memchr(slash + 1, '/', nl - (size_t)(slash - p) - 1))
        return false;
    if (at && (!at[1] || strchr(p, '@') != at))
        return false;
    for (const char *q = p; *q; q++)
        if (isspace((unsigned char)*q))
            return false;
    return true;
}

static void security_checks(struct parser *ps)
{
    const struct security_settings *s = &ps->c->security;
    char why[CFG_ERR_LEN - 64];
    struct a2l_rules *rules = a2l_parse(s->auth_to_local, why, sizeof why);
    if (!rules)
        err_at(&ps->p, ps->key_line[key_index(X(auth_to_local))], "%s", why);
    a2l_free(rules);
    int auth_line = ps->key_line[key_index(X(auth))], pr_line = ps->key_line[key_index(X(principal))];
    int kt_line = ps->key_line[key_index(X(keytab))];
    if (s->auth & CFG_AUTH_KERBEROS) {
        if (!*s->principal)
            err_at(&ps->p, auth_line, "principal is required with auth = kerberos (e.g. nn/_HOST@EXAMPLE.TEST)");
        else if (!principal_ok(s->principal))
            err_at(&ps->p, pr_line, "principal: '%s' is not service/host@REALM (e.g. nn/_HOST@EXAMPLE.TEST)",
                   s->principal);
    } else if (*s->principal || *s->keytab) {
        /* The router's own login for kerberized NameNodes needs them too:
         * a [nameservice] with a principal, or records in ZooKeeper that may
         * name one. */
        bool upstream = ps->c->store.driver == STORE_ZOOKEEPER;
        for (size_t i = 0; i < ps->c->records.n && !upstream; i++)
            upstream = ps->c->records.recs[i].kind == REC_NAMESERVICE && ps->c->records.recs[i].u.ns.principal;
        if (!upstream)
            err_at(&ps->p, *s->principal ? pr_line : kt_line,
                   "%s is set but auth does not include kerberos and no [nameservice] has a principal",
                   *s->principal ? "principal" : "keytab");
        else if (*s->principal && !principal_ok(s->principal))
            err_at(&ps->p, pr_line, "principal: '%s' is not service/host@REALM (e.g. router/_HOST@EXAMPLE.TEST)",
                   s->principal);
    }
    for (size_t i = 0; i < ps->c->records.n; i++) {
        const struct record *r = &ps->c->records.recs[i];
        if (r->kind == REC_NAMESERVICE && r->u.ns.principal && !*s->principal && !ps->table)
            err_at(&ps->p, r->line,
                   "[nameservice %s] principal: the router logs in to its NameNodes with Kerberos as [security] "
                   "principal (from keytab), which is not set",
                   r->u.ns.name);
    }
    if ((s->rpc_protection & ~CFG_QOP_AUTHENTICATION) && !(s->auth & CFG_AUTH_KERBEROS))
        err_at(&ps->p, ps->key_line[key_index(X(rpc_protection))],
               "rpc.protection integrity or privacy needs auth = kerberos");
}

static void cross_checks(struct parser *ps)
{
    struct config *c = ps->c;
    security_checks(ps);
    if (c->store.driver == STORE_ZOOKEEPER) {
        if (!*c->store.zk_hosts)
            err_at(&ps->p, ps->sec_line[SEC_STORE], "zk.hosts is required with driver = zookeeper");
        for (size_t i = 0; i < c->records.n; i++)
            err_at(&ps->p, c->records.recs[i].line,
                   "[%s %s]: with driver = zookeeper records live in ZooKeeper (add them with fedrouter-admin)",
                   rec_kind_name(c->records.recs[i].kind), record_key(&c->records.recs[i]));
    } else {
        recset_validate(&c->records, c->router.default_ns, true, report_rec, ps);
    }
    const struct {
        size_t off;
    } l[3] = {{R(hdfs_listen)}, {R(hms_listen)}, {R(admin_listen)}};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < i; j++) {
            const char *a = *(char **)((char *)c + l[i].off), *b = *(char **)((char *)c + l[j].off);
            if (*a && !strcmp(a, b) && strcmp(a + strlen(a) - 2, ":0"))
                err_at(&ps->p, ps->key_line[key_index(l[i].off)], "%s and %s both use %s",
                       table[key_index(l[j].off)].name, table[key_index(l[i].off)].name, a);
        }
}

static void resolve_defaults(struct config *c)
{
    if (c->router.workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->router.workers = n > 0 ? (n > 1024 ? 1024 : (int)n) : 1;
    }
    if (!*c->router.id) {
        char host[256] = "";
        if (gethostname(host, sizeof host - 1) != 0 || !*host)
            strcpy(host, "router");
        char *d = strdup(host);
        if (d) {
            free(c->router.id);
            c->router.id = d;
        }
    }
}

static int parse(const char *name, const char *text, size_t len, struct config *c, struct cfg_error *err, bool is_table)
{
    memset(err, 0, sizeof *err);
    struct parser *ps = calloc(1, sizeof *ps);
    char *copy = malloc(len + 1);
    if (!ps || !copy || config_init(c) < 0) {
        free(ps);
        free(copy);
        snprintf(err->msg[0], CFG_ERR_LEN, "%s: out of memory", name);
        err->n = 1;
        return -1;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    free(c->path);
    c->path = strdup(name);
    ps->p.file = name;
    ps->p.err = err;
    ps->c = c;
    ps->sec = SEC_NONE;
    ps->table = is_table;
    char *line = copy;
    for (int lineno = 1; line <= copy + len; lineno++) {
        char *nl = memchr(line, '\n', (size_t)(copy + len - line));
        char *end = nl ? nl : copy + len;
        if (memchr(line, '\0', (size_t)(end - line))) {
            err_at(&ps->p, lineno, "NUL byte in the file");
            break;
        }
        *end = '\0';
        struct ini_line il;
        switch (ini_parse_line(line, &il)) {
        case INI_BLANK: break;
        case INI_ERROR: err_at(&ps->p, lineno, "%s", il.why); break;
        case INI_SECTION: on_section(ps, il.a, il.b, lineno); break;
        case INI_KV: on_key(ps, il.a, il.b, lineno); break;
        }
        if (!nl)
            break;
        line = nl + 1;
    }
    end_record(ps);
    reset_seen(ps);
    if (err->n == 0)
        cross_checks(ps);
    free(copy);
    free(ps);
    if (!c->path && err->n == 0)
        err_at(&(struct pctx){name, err}, 0, "out of memory");
    if (err->n) {
        config_free(c);
        return -1;
    }
    resolve_defaults(c);
    return 0;
}

int config_parse(const char *name, const char *text, size_t len, struct config *c, struct cfg_error *err)
{
    return parse(name, text, len, c, err, false);
}

static int load(const char *path, struct config *c, struct cfg_error *err, bool is_table)
{
    memset(err, 0, sizeof *err);
    memset(c, 0, sizeof *c);
    struct pctx p = {path, err};
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_at(&p, 0, "cannot open: %s", strerror(errno));
        return -1;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    const size_t limit = (size_t)256 << 20;
    while (buf) {
        if (len == cap) {
            if (cap >= limit) {
                err_at(&p, 0, "larger than 256 MiB");
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    int rd_err = ferror(f);
    fclose(f);
    if (!buf || rd_err || err->n) {
        if (!err->n)
            err_at(&p, 0, "cannot read: %s", buf ? strerror(errno) : "out of memory");
        free(buf);
        return -1;
    }
    int rc = parse(path, buf, len, c, err, is_table);
    free(buf);
    return rc;
}

int config_load(const char *path, struct config *c, struct cfg_error *err) { return load(path, c, err, false); }

int config_load_table(const char *path, struct config *c, struct cfg_error *err) { return load(path, c, err, true); }

/* ---- help and snapshot ---- */

void config_print_keys(FILE *out)
{
    fprintf(out, "[reload]: a change in the file takes effect when the router reloads it (driver = file);\n"
                 "[restart]: read at start-up only; a reload that changes it logs a warning naming the key.\n\n");
    for (int s = 0; s < NSETSECS; s++) {
        fprintf(out, "[%s]\n", sec_names[s]);
        for (size_t i = 0; i < NKEYS; i++) {
            const struct cfg_key *k = &table[i];
            if (k->sec != s)
                continue;
            char ty[96];
            if (k->type == T_ENUM)
                snprintf(ty, sizeof ty, "%s", k->choices);
            else if (k->type == T_FLAGS)
                snprintf(ty, sizeof ty, "list of %s", k->choices);
            else if (k->type == T_INT && k->max)
                snprintf(ty, sizeof ty, "integer %lld..%lld", (long long)k->min, (long long)k->max);
            else
                snprintf(ty, sizeof ty, "%s", type_names[k->type]);
            fprintf(out, "  %-30s %-24s default: %s  %s\n      %s\n", k->name, ty,
                    k->shown ? k->shown : (*k->def ? k->def : "(empty)"),
                    (k->flags & CF_RELOAD) ? "[reload]" : "[restart]", k->doc);
        }
        if (s == SEC_SECURITY)
            fprintf(out,
                    "  %-30s %-24s default: (none)  [restart]\n"
                    "      users and groups whose members the authenticated user USER (its short name) may act "
                    "for, comma lists, * = anyone (Hadoop's hadoop.proxyuser.USER.users/.groups; groups from the "
                    "system's group database); a client naming another effective user is otherwise refused with "
                    "AuthorizationException: User: X is not allowed to impersonate Y\n"
                    "  %-30s %-24s default: (none)  [restart]\n"
                    "      addresses USER may impersonate from: * , addresses, IPv4 CIDR ranges, or names matched as "
                    "written (not resolved) (hadoop.proxyuser.USER.hosts); needed with .users/.groups\n",
                    "proxyuser.USER.users|groups", "list", "proxyuser.USER.hosts", "list");
        fprintf(out, "\n");
    }
    static const char *const heads[REC_NKINDS] = {"[mount /PATH]", "[nameservice NAME]", "[metastore NAME]"};
    size_t nk;
    const struct rec_key *rk = record_keys(&nk);
    for (int kind = REC_NAMESERVICE, n = 0; n < REC_NKINDS; n++, kind = (kind + 1) % REC_NKINDS) {
        fprintf(out, "%s   (records: here with driver = file, in ZooKeeper otherwise)\n", heads[kind]);
        for (size_t i = 0; i < nk; i++)
            if ((int)rk[i].kind == kind)
                fprintf(out, "  %-30s %-24s %s%s\n      %s\n", rk[i].name, rk[i].type, rk[i].def ? "default: " : "",
                        rk[i].def ? (*rk[i].def ? rk[i].def : "(empty)") : "required", rk[i].doc);
        fprintf(out, "\n");
    }
}

struct snapshot *config_build_snapshot(const struct config *c, uint64_t version, struct snap_stats *stats)
{
    struct snap_params p = {.default_ns = c->router.default_ns, .version = version};
    return snapshot_build(&c->records, &p, stats);
}

/* ---- reload ---- */

/* Whether key k has the same value in a and b. */
static bool same_value(const struct config *a, const struct config *b, const struct cfg_key *k)
{
    switch (k->type) {
    case T_INT:
    case T_FLAGS:
    case T_ENUM: return *(const int *)((const char *)a + k->off) == *(const int *)((const char *)b + k->off);
    case T_SIZE:
        return *(const int64_t *)((const char *)a + k->off) == *(const int64_t *)((const char *)b + k->off);
    default: {
        const char *x = *(char *const *)((const char *)a + k->off), *y = *(char *const *)((const char *)b + k->off);
        return !strcmp(x ? x : "", y ? y : "");
    }
    }
}

int config_reload_diff(const struct config *running, const struct config *next,
                       void (*fn)(void *arg, const char *section, const char *key, bool applies), void *arg)
{
    int n = 0;
    for (size_t i = 0; i < NKEYS; i++)
        if (!same_value(running, next, &table[i])) {
            n++;
            if (fn)
                fn(arg, sec_names[table[i].sec], table[i].name, (table[i].flags & CF_RELOAD) != 0);
        }
    return n;
}

int config_take_reloadable(struct config *running, const struct config *next)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const struct cfg_key *k = &table[i];
        if (!(k->flags & CF_RELOAD) || same_value(running, next, k))
            continue;
        if (k->type == T_INT || k->type == T_ENUM || k->type == T_FLAGS) {
            *(int *)((char *)running + k->off) = *(const int *)((const char *)next + k->off);
        } else if (k->type == T_SIZE) {
            *(int64_t *)((char *)running + k->off) = *(const int64_t *)((const char *)next + k->off);
        } else {
            const char *v = *(char *const *)((const char *)next + k->off);
            char *d = strdup(v ? v : "");
            if (!d)
                return -1;
            free(*str_slot(running, k));
            *str_slot(running, k) = d;
        }
    }
    return 0;
}
