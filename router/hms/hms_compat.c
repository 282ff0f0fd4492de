/*
 * hms_compat.c: old clients against new metastores.
 *
 * Hive 4 removed get_table and get_table_objects_by_name (HIVE-26537), which
 * Spark's built-in Hive 2.3 client still sends; a Hive 4 metastore answers
 * them with TApplicationException UNKNOWN_METHOD. The router then sends the
 * _req form of the call and turns its answer back into the old one:
 *
 *   get_table(1: db, 2: tbl)          --> get_table_req(1: GetTableRequest{1: db, 2: tbl})
 *   reply success GetTableResult{1: Table}        --> success Table
 *   get_table_objects_by_name(1: db, 2: list<string>)
 *                                     --> get_table_objects_by_name_req(1: GetTablesRequest{1: db, 2: names})
 *   reply success GetTablesResult{1: list<Table>} --> success list<Table>
 *
 * The declared exceptions have the same ids in both forms, so they pass as
 * they are. Done for the binary protocol (what these clients use).
 */
#define _GNU_SOURCE
#include "hms_compat.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


enum hms_compat_kind hms_compat_kind(const uint8_t *name, size_t len)
{
    if (len == 9 && memcmp(name, "get_table", 9) == 0)
        return HMS_COMPAT_GET_TABLE;
    if (len == 25 && memcmp(name, "get_table_objects_by_name", 25) == 0)
        return HMS_COMPAT_GET_TABLES;
    return HMS_COMPAT_NONE;
}

static int no_string(void *vctx, unsigned idx, const uint8_t *s, size_t len)
{
    return 0;
}

static int take_type(void *vctx, unsigned idx, int64_t v)
{
    *(int64_t *)vctx = v;
    return 1;
}

bool hms_compat_unknown_method(enum tw_proto proto, const uint8_t *msg, size_t len)
{
    struct tw_header h;
    if (proto != TW_BINARY || tw_parse_header(proto, msg, len, NULL, &h) != TW_COMPLETE || h.type != TW_EXCEPTION)
        return false;
    /* TApplicationException {1: string message, 2: i32 type}. */
    const struct tw_pathset ps = TW_PS(TW_P(2));
    int64_t type = -1;
    int rc = tw_walk_values(proto, msg + h.body_off, len - h.body_off, NULL, &ps, no_string, take_type, &type);
    return rc >= 0 && type == TW_APP_UNKNOWN_METHOD;
}

struct args {
    const uint8_t *db;
    size_t dblen;
    const uint8_t *names[4096];
    size_t lens[4096];
    size_t n;
    bool too_many;
};

static int take(void *vctx, unsigned idx, const uint8_t *s, size_t len)
{
    struct args *a = vctx;
    if (idx == 0) {
        a->db = s;
        a->dblen = len;
    } else if (a->n < 4096) {
        a->names[a->n] = s;
        a->lens[a->n++] = len;
    } else {
        a->too_many = true;
    }
    return 0;
}

int hms_compat_request(enum hms_compat_kind kind, const struct tw_header *h, const uint8_t *msg, size_t len,
                       struct buf *out)
{
    static __thread struct args a;
    a.db = NULL;
    a.n = 0;
    a.too_many = false;
    const struct tw_pathset ps = TW_PS(TW_P(1), TW_P(2), TW_P(2, TW_ELEM));
    if (tw_walk(TW_BINARY, msg + h->body_off, len - h->body_off, NULL, &ps, take, &a) < 0 || !a.db || a.too_many)
        return -1;
    char name[64];
    size_t nl = (size_t)snprintf(name, sizeof name, "%.*s_req", (int)h->name_len, (const char *)h->name);
    int16_t last = 0, inner = 0;
    int rc = tw_write_header(TW_BINARY, out, (const uint8_t *)name, nl, TW_CALL, h->seqid);
    rc |= tw_put_field(TW_BINARY, out, TW_T_STRUCT, 1, &last);
    rc |= tw_put_field(TW_BINARY, out, TW_T_STRING, 1, &inner);
    rc |= tw_put_string(TW_BINARY, out, a.db, a.dblen);
    if (kind == HMS_COMPAT_GET_TABLE) {
        if (a.n != 1)
            return -1;
        rc |= tw_put_field(TW_BINARY, out, TW_T_STRING, 2, &inner);
        rc |= tw_put_string(TW_BINARY, out, a.names[0], a.lens[0]);
    } else {
        rc |= tw_put_field(TW_BINARY, out, TW_T_LIST, 2, &inner);
        rc |= tw_put_list(TW_BINARY, out, TW_T_STRING, a.n);
        for (size_t i = 0; i < a.n; i++)
            rc |= tw_put_string(TW_BINARY, out, a.names[i], a.lens[i]);
    }
    rc |= tw_put_stop(out);
    rc |= tw_put_stop(out);
    return rc < 0 ? -1 : 0;
}

static long struct_len(const uint8_t *p, size_t avail)
{
    size_t n;
    return tw_struct_len(TW_BINARY, p, avail, NULL, &n) == TW_COMPLETE ? (long)n : -1;
}

int hms_compat_reply(enum hms_compat_kind kind, const struct tw_header *orig, const uint8_t *msg, size_t len,
                     struct buf *out)
{
    struct tw_header h;
    if (tw_parse_header(TW_BINARY, msg, len, NULL, &h) != TW_COMPLETE)
        return -1;
    enum tw_msg_type type = h.type;
    int rc = tw_write_header(TW_BINARY, out, orig->name, orig->name_len, type, orig->seqid);
    const uint8_t *b = msg + h.body_off;
    size_t bl = len - h.body_off;
    /* Not a success (a declared exception, or an EXCEPTION message): as is. */
    struct tw_field f, in;
    if (type != TW_REPLY || tw_result_field(TW_BINARY, b, bl, &f) != TW_COMPLETE || !f.set || f.id != 0 ||
        f.type != TW_T_STRUCT)
        return (rc | buf_append(out, b, bl)) < 0 ? -1 : 0;
    const uint8_t *s = b + f.value_off; /* GetTableResult / GetTablesResult */
    size_t sl = bl - f.value_off;
    long slen = struct_len(s, sl);
    if (slen < 4 || (size_t)slen > sl || tw_result_field(TW_BINARY, s, (size_t)slen, &in) != TW_COMPLETE ||
        !in.set || in.id != 1)
        return -1;
    int16_t last = 0;
    if (kind == HMS_COMPAT_GET_TABLE) {
        if (in.type != TW_T_STRUCT)
            return -1;
        long tl = struct_len(s + in.value_off, (size_t)slen - in.value_off);
        if (tl < 1)
            return -1;
        rc |= tw_put_field(TW_BINARY, out, TW_T_STRUCT, 0, &last);
        rc |= buf_append(out, s + in.value_off, (size_t)tl);
    } else {
        /* GetTablesResult has only field 1: the list runs to its STOP. */
        if (in.type != TW_T_LIST)
            return -1;
        rc |= tw_put_field(TW_BINARY, out, TW_T_LIST, 0, &last);
        rc |= buf_append(out, s + in.value_off, (size_t)slen - in.value_off - 1);
    }
    rc |= tw_put_stop(out);
    return rc < 0 ? -1 : 0;
}

/* Metastores known to lack the old calls: asked in the new form at once. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *known[64];
static size_t nknown;

bool hms_compat_known(const char *ms)
{
    bool found = false;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nknown && !found; i++)
        found = strcmp(known[i], ms) == 0;
    pthread_mutex_unlock(&lock);
    return found;
}

void hms_compat_learn(const char *ms)
{
    if (hms_compat_known(ms))
        return;
    pthread_mutex_lock(&lock);
    if (nknown < sizeof known / sizeof known[0]) {
        char *s = strdup(ms);
        if (s)
            known[nknown++] = s;
    }
    pthread_mutex_unlock(&lock);
}
