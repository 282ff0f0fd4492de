#define _GNU_SOURCE
#include "conf.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum ktype { K_STR, K_INT, K_ADDR };

struct key {
    const char *section;
    const char *name;
    enum ktype type;
    size_t off, size;                    /* into struct conf_router */
    long min, max;                       /* K_INT */
    const char *def;
    const char *doc;
};

#define S(sec, name, field, def, doc) { sec, name, K_STR, offsetof(struct conf_router, field), sizeof(((struct conf_router *)0)->field), 0, 0, def, doc }
#define A(sec, name, field, def, doc) { sec, name, K_ADDR, offsetof(struct conf_router, field), sizeof(((struct conf_router *)0)->field), 0, 0, def, doc }
#define I(sec, name, field, lo, hi, def, doc) { sec, name, K_INT, offsetof(struct conf_router, field), sizeof(int), lo, hi, def, doc }

static const struct key keys[] = {
    S("router", "id", id, "", "this router's name (default: the host name)"),
    A("router", "hdfs.listen", hdfs_listen, "127.0.0.1:8020", "Hadoop IPC address clients use as fs.defaultFS"),
    A("router", "hms.listen", hms_listen, "127.0.0.1:9083", "metastore thrift address (hive.metastore.uris)"),
    A("router", "admin.listen", admin_listen, "127.0.0.1:8021", "GET /metrics and GET /healthz"),
    I("router", "workers", workers, 0, 256, "0", "worker threads, each with its own loop (0: one per core)"),
    S("router", "default.nameservice", default_ns, "", "where paths under no mount point go (none: an error)"),
    I("router", "upstream.connect_timeout_ms", connect_timeout_ms, 1, 600000, "2000", "NameNode connect timeout"),
    I("router", "upstream.call_timeout_ms", call_timeout_ms, 1, 3600000, "60000", "a NameNode call's reply timeout"),
    I("router", "upstream.idle_timeout_ms", idle_timeout_ms, 1, 86400000, "60000", "close NameNode connections idle this long"),
    I("router", "upstream.max_conns_per_user", max_conns_per_user, 1, 1024, "4", "connections per worker, NameNode and user"),
    I("router", "client.max_frame", client_max_frame, 1024, 1073741824, "134217728", "largest client frame (ipc.maximum.data.length)"),
    I("router", "shutdown.grace_ms", shutdown_grace_ms, 0, 600000, "10000", "on SIGTERM, how long in-flight calls may finish"),
    S("statestore", "driver", driver, "file", "file (this file) or zookeeper"),
    S("statestore", "zk.hosts", zk_hosts, "127.0.0.1:2181", "ZooKeeper connect string (zookeeper driver)"),
    S("statestore", "zk.root", zk_root, "/fedrouter", "ZooKeeper root of the records"),
};
#define NKEYS (sizeof keys / sizeof keys[0])

static int set_key(struct conf_router *r, const struct key *k, const char *v, char *why, size_t whylen)
{
    char *field = (char *)r + k->off;
    if (k->type == K_INT) {
        int64_t x;
        if (parse_i64(v, false, &x) < 0 || x < k->min || x > k->max) {
            snprintf(why, whylen, "%s: want an integer in [%ld, %ld], got '%s'", k->name, k->min, k->max, v);
            return -1;
        }
        if (k->off == offsetof(struct conf_router, client_max_frame))
            *(uint32_t *)field = (uint32_t)x;
        else
            *(int *)field = (int)x;
        return 0;
    }
    if (k->type == K_ADDR && hostport_check(v, 0, why, whylen) < 0)
        return -1;
    if (strlen(v) >= k->size) {
        snprintf(why, whylen, "%s: value too long", k->name);
        return -1;
    }
    memcpy(field, v, strlen(v) + 1);
    return 0;
}

void conf_print_options(FILE *f)
{
    const char *sec = "";
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(sec, keys[i].section) != 0)
            fprintf(f, "  [%s]\n", sec = keys[i].section);
        fprintf(f, "    %-30s %-16s %s\n", keys[i].name, keys[i].def[0] ? keys[i].def : "(none)", keys[i].doc);
    }
    fprintf(f, "  [nameservice NAME], [mount /path], [metastore NAME]: see DESIGN.md\n");
}

int conf_load(const char *path, struct conf *c, char *why, size_t whylen)
{
    memset(c, 0, sizeof *c);
    recset_init(&c->recs);
    char err[400];
    for (size_t i = 0; i < NKEYS; i++)
        if (set_key(&c->router, &keys[i], keys[i].def, err, sizeof err) < 0 && keys[i].def[0]) {
            snprintf(why, whylen, "internal default of %s: %s", keys[i].name, err);
            return -1;
        }
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, whylen, "%s: cannot open: %m", path);
        return -1;
    }
    char line[8192];
    int lineno = 0, rc = 0;
    const char *section = "";
    char secbuf[64] = "";
    struct record cur;
    bool have_rec = false;
    int rec_line = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(why, whylen, "%s:%d: line longer than %zu bytes", path, lineno, sizeof line - 1);
            rc = -1;
            break;
        }
        struct ini_line il;
        enum ini_kind kind = ini_parse_line(line, &il);
        if (kind == INI_BLANK)
            continue;
        if (kind == INI_ERROR) {
            snprintf(why, whylen, "%s:%d: %s", path, lineno, il.why);
            rc = -1;
            break;
        }
        if (kind == INI_SECTION) {
            if (have_rec) {
                if (record_finish(&cur, err, sizeof err) < 0 || recset_add(&c->recs, &cur) < 0) {
                    snprintf(why, whylen, "%s:%d: %s", path, rec_line, err);
                    rc = -1;
                    have_rec = false;
                    break;
                }
                have_rec = false;
            }
            snprintf(secbuf, sizeof secbuf, "%s", il.a);
            section = secbuf;
            if (strcmp(section, "router") == 0 || strcmp(section, "statestore") == 0) {
                if (il.b && il.b[0]) {
                    snprintf(why, whylen, "%s:%d: [%s] takes no name", path, lineno, section);
                    rc = -1;
                    break;
                }
                continue;
            }
            enum rec_kind rk;
            if (rec_kind_parse(section, &rk) < 0) {
                snprintf(why, whylen, "%s:%d: unknown section [%s] (router, statestore, nameservice, mount, metastore)",
                         path, lineno, section);
                rc = -1;
                break;
            }
            if (record_init(&cur, rk, il.b ? il.b : "", err, sizeof err) < 0) {
                snprintf(why, whylen, "%s:%d: %s", path, lineno, err);
                rc = -1;
                break;
            }
            have_rec = true;
            rec_line = lineno;
            continue;
        }
        /* key = value */
        if (have_rec) {
            if (record_set(&cur, il.a, il.b, err, sizeof err) < 0) {
                snprintf(why, whylen, "%s:%d: %s", path, lineno, err);
                rc = -1;
                break;
            }
            continue;
        }
        const struct key *k = NULL;
        for (size_t i = 0; i < NKEYS && !k; i++)
            if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, il.a) == 0)
                k = &keys[i];
        if (!k) {
            snprintf(why, whylen, "%s:%d: unknown key '%s'%s%s%s", path, lineno, il.a, section[0] ? " in [" : " before any section",
                     section, section[0] ? "]" : "");
            rc = -1;
            break;
        }
        if (set_key(&c->router, k, il.b, err, sizeof err) < 0) {
            snprintf(why, whylen, "%s:%d: %s", path, lineno, err);
            rc = -1;
            break;
        }
    }
    if (rc == 0 && have_rec) {
        if (record_finish(&cur, err, sizeof err) < 0 || recset_add(&c->recs, &cur) < 0) {
            snprintf(why, whylen, "%s:%d: %s", path, rec_line, err);
            rc = -1;
        }
        have_rec = false;
    }
    if (have_rec)
        record_free(&cur);
    fclose(f);
    if (rc == 0 && strcmp(c->router.driver, "file") != 0) {
        snprintf(why, whylen, "%s: statestore driver '%s' is not available yet (file only)", path, c->router.driver);
        rc = -1;
    }
    if (rc == 0 && !c->router.id[0] && gethostname(c->router.id, sizeof c->router.id - 1) < 0)
        snprintf(c->router.id, sizeof c->router.id, "router");
    if (rc < 0)
        conf_free(c);
    return rc;
}

struct skip_ctx {
    char *why;
    size_t whylen;
    int n;
};

static void on_skip(void *ctx, const struct record *r, const char *why)
{
    struct skip_ctx *s = ctx;
    fprintf(stderr, "fedrouter: record %s %s skipped: %s\n", r ? rec_kind_name(r->kind) : "default.nameservice",
            r ? record_key(r) : "", why);
    s->n++;
}

struct snapshot *conf_snapshot(const struct conf *c, char *why, size_t whylen)
{
    struct skip_ctx sc = { why, whylen, 0 };
    struct snap_params p = { .default_ns = c->router.default_ns, .on_skip = on_skip, .ctx = &sc };
    struct snapshot *s = snapshot_build(&c->recs, &p, NULL);
    if (!s)
        snprintf(why, whylen, "out of memory building the routing snapshot");
    return s;
}

void conf_free(struct conf *c)
{
    recset_free(&c->recs);
}
