/*
 * hms_names.c: database names between the client's federated view and a
 * backend metastore (PREFIXED mode: every metastore but the primary owns a
 * prefix; it is stripped on the way in and put back on the way out).
 *
 * Forms a name takes on the wire (the rule table says which at each path):
 *   "sales_db"          plain (Hive 2.3 clients)
 *   "@hive#sales_db"    catalog-qualified (Hive 3/4 clients); "@hive#" alone
 *                       means every database
 *   "sales_db.tbl..."   a qualified table name, db first
 * Database names compare case-insensitively, as the metastore stores them in
 * lower case.
 */
#define _GNU_SOURCE
#include "hms_names.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hms_sql.h"

/* Where the database part of s starts and ends for a path kind. */
static void db_span(enum hms_path_kind kind, const uint8_t *s, size_t len, size_t *off, size_t *dlen)
{
    *off = 0;
    if (len > 1 && s[0] == '@') {
        const uint8_t *hash = memchr(s, '#', len);
        if (hash)
            *off = (size_t)(hash - s) + 1;
    }
    *dlen = len - *off;
    if (kind == HMS_PK_QUALIFIED) {
        const uint8_t *dot = memchr(s + *off, '.', *dlen);
        if (dot)
            *dlen = (size_t)(dot - (s + *off));
    }
}

bool hms_db_of(enum hms_path_kind kind, const uint8_t *s, size_t len, const uint8_t **db, size_t *dlen)
{
    if (kind != HMS_PK_DB && kind != HMS_PK_QUALIFIED)
        return false;
    size_t off;
    db_span(kind, s, len, &off, dlen);
    *db = s + off;
    return *dlen > 0;
}

/* View texts: hms_sql_map's answer as a tw_rewrite answer. */
static int sql_result(struct hms_names *n, int rc, const uint8_t **out, size_t *out_len)
{
    if (rc == 1) {
        *out = buf_rptr(&n->out);
        *out_len = buf_len(&n->out);
    }
    return rc;
}

int hms_name_in(struct hms_names *n, enum hms_path_kind kind, const uint8_t *s, size_t len, const uint8_t **out,
                size_t *out_len)
{
    size_t pl = strlen(n->prefix);
    if (pl && kind == HMS_PK_SQL) {
        unsigned foreign = 0;
        int rc = hms_sql_map(n->prefix, true, s, len, &n->out, &foreign);
        n->foreign_refs += foreign;
        return sql_result(n, rc, out, out_len);
    }
    if (!pl || kind == HMS_PK_SQL || kind == HMS_PK_OBJNAME)
        return 0;
    size_t off, dlen;
    db_span(kind, s, len, &off, &dlen);
    if (kind == HMS_PK_PATTERN)
        dlen = len - off;
    if (dlen < pl || strncasecmp((const char *)s + off, n->prefix, pl) != 0)
        return 0;
    struct buf *o = &n->out;
    buf_reset(o);
    if (buf_append(o, s, off) < 0 || buf_append(o, s + off + pl, len - off - pl) < 0)
        return -1;
    *out = buf_rptr(o);
    *out_len = buf_len(o);
    return 1;
}

int hms_name_out(struct hms_names *n, enum hms_path_kind kind, const uint8_t *s, size_t len, const uint8_t **out,
                 size_t *out_len)
{
    size_t pl = strlen(n->prefix);
    if (pl && kind == HMS_PK_SQL)
        return sql_result(n, hms_sql_map(n->prefix, false, s, len, &n->out, NULL), out, out_len);
    if (!pl || (kind != HMS_PK_DB && kind != HMS_PK_QUALIFIED))
        return 0;
    size_t off, dlen;
    db_span(kind, s, len, &off, &dlen);
    struct buf *o = &n->out;
    buf_reset(o);
    if (buf_append(o, s, off) < 0 || buf_append(o, n->prefix, pl) < 0 || buf_append(o, s + off, len - off) < 0)
        return -1;
    *out = buf_rptr(o);
    *out_len = buf_len(o);
    return 1;
}

bool hms_pattern_is_wild(const char *pattern, size_t len)
{
    if (len > 1 && pattern[0] == '@' && pattern[len - 1] == '#' && memchr(pattern, '#', len) == pattern + len - 1)
        return true;
    return memchr(pattern, '*', len) || memchr(pattern, '|', len) || memchr(pattern, '.', len);
}

bool hms_pattern_match(const char *pattern, const char *name)
{
    /* Hive: '|' separates alternatives, '*' is any run of characters, the
     * rest is a Java regular expression, matched case-insensitively. */
    size_t pl = strlen(pattern);
    char *re = malloc(pl * 2 + 8);
    if (!re)
        return false;
    size_t k = 0;
    re[k++] = '^';
    re[k++] = '(';
    for (size_t i = 0; i < pl; i++) {
        if (pattern[i] == '*') {
            re[k++] = '.';
            re[k++] = '*';
        } else {
            re[k++] = pattern[i];
        }
    }
    re[k++] = ')';
    re[k++] = '$';
    re[k] = 0;
    regex_t rx;
    bool ok = false;
    if (regcomp(&rx, re, REG_EXTENDED | REG_ICASE | REG_NOSUB) == 0) {
        ok = regexec(&rx, name, 0, NULL, 0) == 0;
        regfree(&rx);
    }
    free(re);
    return ok;
}
