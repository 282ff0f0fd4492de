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


static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

enum hms_compat_kind hms_compat_kind(const uint8_t *name, size_t len)
{
    if (len == 9 && memcmp(name, "get_table", 9) == 0)
        return HMS_COMPAT_GET_TABLE;
    if (len == 25 && memcmp(name, "get_table_objects_by_name", 25) == 0)
        return HMS_COMPAT_GET_TABLES;
    return HMS_COMPAT_NONE;
}

bool hms_compat_unknown_method(enum tw_proto proto, const uint8_t *msg, size_t len)
{
    struct tw_header h;
    if (proto != TW_BINARY || tw_parse_header(proto, msg, len, NULL, &h) != TW_COMPLETE || h.type != TW_EXCEPTION)
        return false;
    /* TApplicationException {1: string message, 2: i32 type}, fields in any order. */
    const uint8_t *p = msg + h.body_off, *end = msg + len;
    while (p < end && *p != 0) {
        if (end - p < 3)
            return false;
        uint8_t type = p[0];
        uint16_t id = (uint16_t)(p[1] << 8 | p[2]);
        p += 3;
        if (type == 11) {
            if (end - p < 4 || get_be32(p) > (uint32_t)(end - p - 4))
                return false;
            p += 4 + get_be32(p);
        } else if (type == 8) {
            if (end - p < 4)
                return false;
            if (id == 2)
                return get_be32(p) == 1; /* UNKNOWN_METHOD */
            p += 4;
        } else {
            return false;
        }
    }
    return false;
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
    if (type != TW_REPLY || bl < 3 || b[0] != 12 || b[1] != 0 || b[2] != 0)
        return (rc | buf_append(out, b, bl)) < 0 ? -1 : 0;
    const uint8_t *s = b + 3; /* GetTableResult / GetTablesResult */
    size_t sl = bl - 3;
    long slen = struct_len(s, sl);
    if (slen < 4 || (size_t)slen > sl)
        return -1;
    static const uint8_t stop = 0;
    if (kind == HMS_COMPAT_GET_TABLE) {
        if (s[0] != 12 || s[1] != 0 || s[2] != 1)
            return -1;
        long tl = struct_len(s + 3, (size_t)slen - 3);
        if (tl < 1)
            return -1;
        static const uint8_t f0[] = { 12, 0, 0 };
        rc |= buf_append(out, f0, 3);
        rc |= buf_append(out, s + 3, (size_t)tl);
    } else {
        /* GetTablesResult has only field 1: the list runs to its STOP. */
        if (s[0] != 15 || s[1] != 0 || s[2] != 1)
            return -1;
        static const uint8_t f0[] = { 15, 0, 0 };
        rc |= buf_append(out, f0, 3);
        rc |= buf_append(out, s + 3, (size_t)slen - 4);
    }
    rc |= buf_append(out, &stop, 1);
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
