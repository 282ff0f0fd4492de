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

#include <ctype.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/*
 * View texts name tables as `db`.`table` (Hive writes the expanded text
 * that way). A quoted identifier followed by ".`", right after FROM or
 * JOIN, is a database name: in (strip) or out (add) the prefix. Left alone:
 * unquoted names (a view's original text as typed) and tables listed after
 * a comma in FROM, which cannot be told from columns without parsing SQL.
 */
/* Is the text before position i (spaces skipped) the keyword FROM or JOIN? */
static bool after_table_keyword(const uint8_t *s, size_t i)
{
    while (i > 0 && isspace(s[i - 1]))
        i--;
    size_t e = i;
    while (i > 0 && isalpha(s[i - 1]))
        i--;
    size_t wl = e - i;
    return (wl == 4 && strncasecmp((const char *)s + i, "from", 4) == 0) ||
           (wl == 4 && strncasecmp((const char *)s + i, "join", 4) == 0);
}

static int sql_map(struct hms_names *n, bool in, const uint8_t *s, size_t len, const uint8_t **out, size_t *out_len)
{
    size_t pl = strlen(n->prefix);
    bool changed = false;
    struct buf *o = &n->out;
    buf_reset(o);
    for (size_t i = 0; i < len;) {
        if (s[i] == '`') {
            const uint8_t *close = memchr(s + i + 1, '`', len - i - 1);
            if (close) {
                size_t id_len = (size_t)(close - (s + i + 1));
                size_t after = (size_t)(close - s) + 1;
                /* `x`.`y` is db.table after FROM or JOIN (elsewhere it is
                 * table.column, which looks the same). */
                bool db = after + 1 < len && s[after] == '.' && s[after + 1] == '`' && after_table_keyword(s, i);
                const uint8_t *id = s + i + 1;
                size_t skip = 0;
                bool add = false;
                if (db && in && id_len > pl && strncasecmp((const char *)id, n->prefix, pl) == 0)
                    skip = pl;
                else if (db && !in)
                    add = true;
                if (buf_append(o, "`", 1) < 0 || (add && buf_append(o, n->prefix, pl) < 0) ||
                    buf_append(o, id + skip, id_len - skip) < 0 || buf_append(o, "`", 1) < 0)
                    return -1;
                changed |= add || skip;
                i = after;
                continue;
            }
        }
        /* Copy up to the next quote in one go. */
        const uint8_t *q = memchr(s + i + 1, '`', len - i - 1);
        size_t run = q ? (size_t)(q - (s + i)) : len - i;
        if (buf_append(o, s + i, run) < 0)
            return -1;
        i += run;
    }
    if (!changed)
        return 0;
    *out = buf_rptr(o);
    *out_len = buf_len(o);
    return 1;
}

int hms_name_in(struct hms_names *n, enum hms_path_kind kind, const uint8_t *s, size_t len, const uint8_t **out,
                size_t *out_len)
{
    size_t pl = strlen(n->prefix);
    if (pl && kind == HMS_PK_SQL)
        return sql_map(n, true, s, len, out, out_len);
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
        return sql_map(n, false, s, len, out, out_len);
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
