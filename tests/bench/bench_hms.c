/*
 * bench_hms.c: the metastore ops of fedrouter-bench.
 *
 *   get_table(db, table)                         reply: Table
 *   get_partitions_by_names(db, table, names)    reply: list<Partition>
 *
 * Calls are unframed binary Thrift with the strict header (80 01 00 01),
 * which is what Hive's own client, Spark and Trino send. The args struct of
 * a run never changes, so it is encoded once (hms_prepare) and every call is
 * a fresh header (method, seqid) in front of those bytes.
 *
 * A reply is checked, not decoded: the header must name the method and carry
 * the call's seqid, and the body's first field must be the result (field 0)
 * of the expected type; for get_partitions_by_names the list must hold one
 * partition per name asked for. A declared exception (MetaException,
 * NoSuchObjectException, ...) or a TApplicationException is an error reply
 * with its message; the connection stays usable after both, as in Thrift.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "bench.h"
#include "thrift_walk.h"

/* Thrift binary type ids. */
enum { T_STOP = 0, T_I16 = 6, T_STRING = 11, T_STRUCT = 12, T_LIST = 15 };

#define SETUP_TIMEOUT_S 10
#define MAX_PARTS 100000 /* names get_partitions_by_names may ask for */

static int put_u8(struct buf *b, uint8_t v) { return buf_append(b, &v, 1); }

static int put_be16(struct buf *b, uint16_t v)
{
    uint8_t p[2] = { (uint8_t)(v >> 8), (uint8_t)v };
    return buf_append(b, p, 2);
}

static int put_be32(struct buf *b, uint32_t v)
{
    uint8_t p[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
    return buf_append(b, p, 4);
}

static int put_field(struct buf *b, uint8_t type, int16_t id)
{
    return put_u8(b, type) || put_be16(b, (uint16_t)id) ? -1 : 0;
}

static int put_str(struct buf *b, const char *s, size_t n)
{
    return put_be32(b, (uint32_t)n) || buf_append(b, s, n) ? -1 : 0;
}

/* Fields 1 and 2 of every args struct used here: db name, table name. */
static int put_db_table(struct buf *b, const struct bench_cfg *cfg)
{
    return put_field(b, T_STRING, 1) || put_str(b, cfg->db, strlen(cfg->db)) || put_field(b, T_STRING, 2) ||
                   put_str(b, cfg->table, strlen(cfg->table))
               ? -1
               : 0;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int hms_write_call(struct buf *out, const struct bench_cfg *cfg, int32_t seqid)
{
    const char *m = cfg->hms_method;
    if (tw_write_header(TW_BINARY, out, (const uint8_t *)m, strlen(m), TW_CALL, seqid) != 0)
        return -1;
    return buf_append(out, cfg->hms_args, cfg->hms_args_len);
}

/* ---- reading replies ---- */

/* Copies the first string found at path (in the struct body) into dst, with
 * control characters and anything after a newline dropped; "" if none. */
struct first_str {
    char *dst;
    size_t cap;
    bool found;
};

static int take_first(void *ctx, unsigned idx, const uint8_t *s, size_t len)
{
    struct first_str *f = ctx;
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < f->cap; i++) {
        if (s[i] == '\n')
            break;
        f->dst[n++] = s[i] < 0x20 ? ' ' : (char)s[i];
    }
    f->dst[n] = 0;
    f->found = true;
    return 1;
}

static void string_at(const uint8_t *body, size_t len, int32_t fid, int32_t sub, char *dst, size_t cap)
{
    const int32_t path[] = { fid, sub, TW_END };
    const int32_t *const paths[] = { path };
    const struct tw_pathset ps = { paths, 1 };
    struct first_str f = { dst, cap, false };
    dst[0] = 0;
    tw_walk(TW_BINARY, body, len, NULL, &ps, take_first, &f);
}

/* The declared exceptions, by result field id. */
static const char *exception_name(const char *method, int16_t fid)
{
    if (strcmp(method, "get_partition_names") == 0)
        return fid == 1 ? "NoSuchObjectException" : fid == 2 ? "MetaException" : "an undeclared exception";
    return fid == 1                                                     ? "MetaException"
           : fid == 2                                                   ? "NoSuchObjectException"
           : fid == 3 && strcmp(method, "get_partitions_by_names") == 0 ? "InvalidObjectException"
                                                                        : "an undeclared exception";
}

enum hms_verdict hms_check_reply(const struct bench_cfg *cfg, const uint8_t *msg, size_t len, int32_t seqid, char *why,
                                 size_t whylen)
{
    const char *m = cfg->hms_method;
    struct tw_header h;
    int rc = tw_parse_header(TW_BINARY, msg, len, NULL, &h);
    if (rc != TW_COMPLETE) {
        snprintf(why, whylen, "bad reply header: %s", rc < 0 ? tw_strerror(rc) : "truncated");
        return HMS_BROKEN;
    }
    if (h.name_len != strlen(m) || memcmp(h.name, m, h.name_len) != 0) {
        snprintf(why, whylen, "the reply names method '%.*s', not %s", (int)(h.name_len > 64 ? 64 : h.name_len),
                 (const char *)h.name, m);
        return HMS_BROKEN;
    }
    if (h.seqid != seqid) {
        snprintf(why, whylen, "reply seqid %d, the call's is %d", (int)h.seqid, (int)seqid);
        return HMS_BROKEN;
    }
    const uint8_t *body = msg + h.body_off;
    size_t blen = len - h.body_off;
    char text[160];
    if (h.type == TW_EXCEPTION) {
        string_at(body, blen, 1, TW_END, text, sizeof text);
        snprintf(why, whylen, "%s: TApplicationException: %s", m, text);
        return HMS_ERROR_REPLY;
    }
    if (h.type != TW_REPLY) {
        snprintf(why, whylen, "reply of message type %d", (int)h.type);
        return HMS_BROKEN;
    }
    if (blen < 1 || body[0] == T_STOP) {
        snprintf(why, whylen, "%s: the reply holds neither a result nor an exception", m);
        return HMS_ERROR_REPLY;
    }
    if (blen < 3) {
        snprintf(why, whylen, "%s: truncated reply", m);
        return HMS_BROKEN;
    }
    int16_t fid = (int16_t)(body[1] << 8 | body[2]);
    if (fid != 0) {
        string_at(body, blen, fid, 1, text, sizeof text);
        snprintf(why, whylen, "%s: %s: %s", m, exception_name(m, fid), text);
        return HMS_ERROR_REPLY;
    }
    if (cfg->op == OP_GET_TABLE) {
        if (body[0] != T_STRUCT) {
            snprintf(why, whylen, "%s: the result is of type %u, not a Table", m, body[0]);
            return HMS_ERROR_REPLY;
        }
        return HMS_OK;
    }
    if (body[0] != T_LIST || blen < 8 || body[3] != T_STRUCT) {
        snprintf(why, whylen, "%s: the result is not a list<Partition>", m);
        return HMS_ERROR_REPLY;
    }
    uint32_t n = be32(body + 4);
    if (n != cfg->hms_nparts) {
        snprintf(why, whylen, "%s: %u partitions in the reply, %u asked for", m, n, cfg->hms_nparts);
        return HMS_ERROR_REPLY;
    }
    return HMS_OK;
}

/* ---- one blocking call, for the setup ---- */

/* Calls method with args on a new connection and leaves the whole reply
 * message in reply. Returns 0, or -1 with a message in err. */
static int call_blocking(const struct bench_cfg *cfg, const char *method, const struct buf *args, struct buf *reply,
                         char *err, size_t errlen)
{
    struct buf out = BUF_INIT;
    int fd = -1, ret = -1;
    if (tw_write_header(TW_BINARY, &out, (const uint8_t *)method, strlen(method), TW_CALL, 1) != 0 ||
        buf_append(&out, buf_rptr(args), buf_len(args)) != 0) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    fd = socket(cfg->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        goto done;
    }
    struct timeval tv = { SETUP_TIMEOUT_S, 0 };
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (const struct sockaddr *)&cfg->addr, cfg->addrlen) < 0) {
        snprintf(err, errlen, "connect: %s", strerror(errno));
        goto done;
    }
    while (buf_len(&out)) {
        ssize_t n = write(fd, buf_rptr(&out), buf_len(&out));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "write: %s", n < 0 ? strerror(errno) : "nothing written");
            goto done;
        }
        buf_consume(&out, (size_t)n);
    }
    struct tw_scan scan;
    tw_scan_init(&scan, TW_BINARY, NULL);
    for (;;) {
        size_t mlen;
        int rc = tw_scan_feed(&scan, buf_rptr(reply), buf_len(reply), &mlen);
        if (rc == TW_COMPLETE) {
            ret = 0;
            break;
        }
        if (rc < 0) {
            snprintf(err, errlen, "the reply to %s is not binary Thrift: %s", method, tw_strerror(rc));
            goto done;
        }
        if (buf_reserve(reply, 64 * 1024) < 0) {
            snprintf(err, errlen, "out of memory");
            goto done;
        }
        ssize_t n = read(fd, buf_wptr(reply), buf_room(reply));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "no reply to %s: %s", method,
                     n == 0                                    ? "closed by the server"
                     : errno == EAGAIN || errno == EWOULDBLOCK ? "timed out"
                                                               : strerror(errno));
            goto done;
        }
        buf_commit(reply, (size_t)n);
    }
done:
    if (fd >= 0)
        close(fd);
    buf_free(&out);
    return ret;
}

/* get_partition_names: collects the names (path 0/elem) or the exception
 * message (paths 1/1, 2/1). */
struct names {
    struct buf *args; /* the names are appended here as list elements */
    unsigned n;
    int exc; /* result field id of an exception, 0 if none */
    char msg[160];
    bool too_many;
};

static int take_name(void *ctx, unsigned idx, const uint8_t *s, size_t len)
{
    struct names *nm = ctx;
    if (idx == 0) {
        if (nm->n == MAX_PARTS) {
            nm->too_many = true;
            return 1;
        }
        if (put_str(nm->args, (const char *)s, len) != 0)
            return -1;
        nm->n++;
        return 0;
    }
    nm->exc = (int)idx;
    struct first_str f = { nm->msg, sizeof nm->msg, false };
    return take_first(&f, idx, s, len);
}

static int fetch_names(struct bench_cfg *cfg, struct buf *names_out, unsigned *count, char *err, size_t errlen)
{
    struct buf args = BUF_INIT, reply = BUF_INIT;
    int ret = -1;
    if (put_db_table(&args, cfg) || put_field(&args, T_I16, 3) || put_be16(&args, 0xffff) || put_u8(&args, T_STOP)) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    char why[256];
    if (call_blocking(cfg, "get_partition_names", &args, &reply, why, sizeof why) < 0) {
        snprintf(err, errlen, "get_partition_names(%s, %s): %s", cfg->db, cfg->table, why);
        goto done;
    }
    const uint8_t *msg = buf_rptr(&reply);
    struct tw_header h;
    if (tw_parse_header(TW_BINARY, msg, buf_len(&reply), NULL, &h) != TW_COMPLETE || h.type == TW_CALL ||
        h.type == TW_ONEWAY) {
        snprintf(err, errlen, "get_partition_names: not a reply");
        goto done;
    }
    const uint8_t *body = msg + h.body_off;
    size_t blen = buf_len(&reply) - h.body_off;
    if (h.type == TW_EXCEPTION) {
        char text[160];
        string_at(body, blen, 1, TW_END, text, sizeof text);
        snprintf(err, errlen, "get_partition_names(%s, %s): TApplicationException: %s", cfg->db, cfg->table, text);
        goto done;
    }
    const struct tw_pathset ps = TW_PS(TW_P(0, TW_ELEM), TW_P(1, 1), TW_P(2, 1));
    struct names nm = { .args = names_out };
    int rc = tw_walk(TW_BINARY, body, blen, NULL, &ps, take_name, &nm);
    if (rc < 0) {
        snprintf(err, errlen, "get_partition_names: %s", rc == TW_EABORT ? "out of memory" : tw_strerror(rc));
        goto done;
    }
    if (nm.exc) {
        snprintf(err, errlen, "get_partition_names(%s, %s): %s: %s", cfg->db, cfg->table,
                 nm.exc == 1 ? "NoSuchObjectException" : "MetaException", nm.msg);
        goto done;
    }
    if (nm.too_many) {
        snprintf(err, errlen, "%s.%s has more than %u partitions", cfg->db, cfg->table, MAX_PARTS);
        goto done;
    }
    if (nm.n == 0) {
        snprintf(err, errlen, "%s.%s has no partitions to ask for", cfg->db, cfg->table);
        goto done;
    }
    *count = nm.n;
    ret = 0;
done:
    buf_free(&args);
    buf_free(&reply);
    return ret;
}

int hms_prepare(struct bench_cfg *cfg, char *err, size_t errlen)
{
    struct buf args = BUF_INIT, names = BUF_INIT;
    int ret = -1;
    if (put_db_table(&args, cfg) != 0)
        goto oom;
    if (cfg->op == OP_GET_TABLE) {
        cfg->hms_method = "get_table";
    } else {
        cfg->hms_method = "get_partitions_by_names";
        unsigned n = 0;
        if (fetch_names(cfg, &names, &n, err, errlen) < 0)
            goto done;
        cfg->hms_nparts = n;
        if (put_field(&args, T_LIST, 3) || put_u8(&args, T_STRING) || put_be32(&args, n) ||
            buf_append(&args, buf_rptr(&names), buf_len(&names)) != 0)
            goto oom;
    }
    if (put_u8(&args, T_STOP) != 0)
        goto oom;
    cfg->hms_args = malloc(buf_len(&args));
    if (!cfg->hms_args)
        goto oom;
    memcpy(cfg->hms_args, buf_rptr(&args), buf_len(&args));
    cfg->hms_args_len = buf_len(&args);
    ret = 0;
    goto done;
oom:
    snprintf(err, errlen, "out of memory");
done:
    buf_free(&args);
    buf_free(&names);
    return ret;
}
