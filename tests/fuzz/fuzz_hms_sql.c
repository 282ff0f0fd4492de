/*
 * fuzz_hms_sql: arbitrary bytes as a view text for the database-name
 * rewriter (router/hms/hms_sql.h).
 *
 * The first input byte picks the prefix (low 3 bits); the rest is the text.
 * Properties checked, besides no crash and no read past the input (every
 * call gets an exact-size copy):
 *   - out (backend -> client) never fails below the nesting limit, finds no
 *     foreign reference, and only grows the text by whole prefixes, at most
 *     one per three bytes of input;
 *   - in (client -> backend) of that output gives the input back, with no
 *     foreign reference; when out changes nothing, in changes nothing;
 *   - token by token (a scanner of its own here), both directions keep
 *     blanks, comments, literals and punctuation byte for byte: a word or a
 *     quoted name differs only by the prefix at its start;
 *   - in of the raw input only shrinks it by whole prefixes; when it finds
 *     no foreign reference, out of its output gives the input back (the
 *     prefix perhaps in another case).
 *
 * Built two ways, like fuzz_ipc: with libFuzzer (-DFR_LIBFUZZER), and as a
 * replay program that runs files given on the command line and a fixed
 * number of pseudo-random mutations of seed texts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hms_sql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const prefixes[8] = { "sales_", "s", "x_1_", "_", "9", "lake_", "", "ab" };

/* The input being run, printed when a property fails. */
static const uint8_t *cur;
static size_t cur_len;

static void show_input(void)
{
    fprintf(stderr, "input (%zu bytes, prefix byte %u): \"", cur_len ? cur_len - 1 : 0, cur_len ? cur[0] : 0);
    for (size_t i = 1; i < cur_len; i++) {
        uint8_t c = cur[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            fputc(c, stderr);
        else
            fprintf(stderr, "\\x%02x", c);
    }
    fprintf(stderr, "\"\n");
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, __VA_ARGS__);                                                              \
        show_input();                                                                              \
        abort();                                                                                   \
    } while (0)

static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    if (n)
        memcpy(d, p, n);
    return d;
}

/* ---- a scanner of the test's own: where tokens start and end ---- */

enum ftok { F_BLANK, F_COMMENT, F_STR, F_QID, F_WORD, F_OTHER };

static int is_word(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
}

static size_t quoted_end(const uint8_t *s, size_t n, size_t i, int escapes)
{
    for (size_t j = i + 1; j < n; j++) {
        if (escapes && s[j] == '\\')
            j++;
        else if (s[j] == s[i])
            return j + 1;
    }
    return n;
}

/* The token at i: its kind, and its end in *end. */
static enum ftok scan(const uint8_t *s, size_t n, size_t i, size_t *end)
{
    uint8_t c = s[i];
    size_t j = i + 1;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
        while (j < n && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r' || s[j] == '\f' || s[j] == '\v'))
            j++;
        *end = j;
        return F_BLANK;
    }
    if (c == '-' && j < n && s[j] == '-') {
        while (j < n && s[j] != '\n' && s[j] != '\r')
            j++;
        *end = j;
        return F_COMMENT;
    }
    if (c == '/' && j < n && s[j] == '*') {
        const uint8_t *e = NULL;
        for (size_t k = i + 2; k + 1 < n && !e; k++)
            if (s[k] == '*' && s[k + 1] == '/')
                e = s + k;
        *end = e ? (size_t)(e - s) + 2 : n;
        return F_COMMENT;
    }
    if (c == '\'' || c == '"') {
        *end = quoted_end(s, n, i, 1);
        return F_STR;
    }
    if (c == '`') {
        while (j < n) {
            if (s[j] == '`' && j + 1 < n && s[j + 1] == '`')
                j += 2;
            else if (s[j++] == '`')
                break;
        }
        *end = j;
        return F_QID;
    }
    if (is_word(c)) {
        if ((c == 'r' || c == 'R') && j < n && (s[j] == '\'' || s[j] == '"') && (i == 0 || !is_word(s[i - 1]))) {
            *end = quoted_end(s, n, j, 0);
            return F_STR;
        }
        while (j < n && is_word(s[j]))
            j++;
        *end = j;
        return F_WORD;
    }
    *end = j;
    return F_OTHER;
}

/*
 * a and b token by token: same kinds, same bytes, except words and quoted
 * names where the longer one is the shorter one with prefix p (pl bytes)
 * after its opening quote (bytes compared case-insensitively when fold).
 * Returns the number of such names, or -1.
 */
static long compare_tokens(const uint8_t *a, size_t an, const uint8_t *b, size_t bn, const char *p, size_t pl,
                           int fold)
{
    size_t i = 0, j = 0;
    long edits = 0;
    while (i < an && j < bn) {
        size_t ie, je;
        enum ftok ka = scan(a, an, i, &ie), kb = scan(b, bn, j, &je);
        if (ka != kb)
            return -1;
        size_t la = ie - i, lb = je - j;
        if (la != lb || memcmp(a + i, b + j, la) != 0) {
            if ((ka != F_WORD && ka != F_QID) || lb != la + pl)
                return -1;
            size_t q = ka == F_QID ? 1 : 0; /* the opening quote */
            if (memcmp(a + i, b + j, q) != 0 || memcmp(a + i + q, b + j + q + pl, la - q) != 0)
                return -1;
            if (fold ? strncasecmp((const char *)b + j + q, p, pl) != 0 : memcmp(b + j + q, p, pl) != 0)
                return -1;
            edits++;
        }
        i = ie;
        j = je;
    }
    return i == an && j == bn ? edits : -1;
}

static size_t count_byte(const uint8_t *s, size_t n, uint8_t c)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += s[i] == c;
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    cur = data;
    cur_len = size;
    const char *prefix = prefixes[data[0] & 7];
    size_t pl = strlen(prefix);
    size_t len = size - 1;
    uint8_t *text = dup_exact(data + 1, len);
    bool may_nest_too_deep = count_byte(text, len, '(') >= HMS_SQL_MAX_DEPTH;

    /* Backend -> client, then back. */
    struct buf out = BUF_INIT, back = BUF_INIT;
    unsigned foreign = 99;
    int ro = hms_sql_map(prefix, false, text, len, &out, &foreign);
    if (ro < 0 && !may_nest_too_deep)
        FAIL("out failed (%d) on %zu bytes\n", ro, len);
    if (ro >= 0 && foreign != 0)
        FAIL("out found %u foreign references\n", foreign);
    if (!pl && ro != 0)
        FAIL("the empty prefix changed the text\n");
    if (ro == 1) {
        size_t on = buf_len(&out);
        if (on <= len || (on - len) % pl != 0 || (on - len) / pl > len / 3)
            FAIL("out: %zu bytes from %zu with a %zu-byte prefix\n", on, len, pl);
        uint8_t *o = dup_exact(buf_rptr(&out), on);
        long edits = compare_tokens(text, len, o, on, prefix, pl, 0);
        if (edits < 0 || (size_t)edits * pl != on - len)
            FAIL("out changed more than database names (%ld)\n", edits);
        foreign = 99;
        int ri = hms_sql_map(prefix, true, o, on, &back, &foreign);
        if (ri != 1 || foreign != 0 || buf_len(&back) != len || memcmp(buf_rptr(&back), text, len) != 0)
            FAIL("in after out: %d, %u foreign, %zu bytes (want %zu)\n", ri, foreign, buf_len(&back), len);
        free(o);
    } else if (ro == 0) {
        foreign = 99;
        int ri = hms_sql_map(prefix, true, text, len, &back, &foreign);
        if (ri != 0 || foreign != 0)
            FAIL("out changed nothing, but in gives %d with %u foreign\n", ri, foreign);
    }

    /* Client -> backend on the raw input. */
    foreign = 99;
    buf_reset(&back);
    int ri = hms_sql_map(prefix, true, text, len, &back, &foreign);
    if (ri < 0 && !may_nest_too_deep)
        FAIL("in failed (%d) on %zu bytes\n", ri, len);
    if (ri == 1) {
        size_t bn = buf_len(&back);
        if (bn >= len || (len - bn) % pl != 0)
            FAIL("in: %zu bytes from %zu with a %zu-byte prefix\n", bn, len, pl);
        uint8_t *b = dup_exact(buf_rptr(&back), bn);
        long edits = compare_tokens(b, bn, text, len, prefix, pl, 1);
        if (edits < 0 || (size_t)edits * pl != len - bn)
            FAIL("in changed more than database names (%ld)\n", edits);
        if (foreign == 0) {
            unsigned f2 = 99;
            int r2 = hms_sql_map(prefix, false, b, bn, &out, &f2);
            if (r2 != 1 || f2 != 0 || buf_len(&out) != len)
                FAIL("out after in: %d, %u foreign, %zu bytes (want %zu)\n", r2, f2, buf_len(&out), len);
            for (size_t k = 0; k < len; k++) {
                uint8_t x = buf_rptr(&out)[k], y = text[k];
                if (x != y && !(x >= 'a' && x <= 'z' && x - 'a' + 'A' == y))
                    FAIL("out after in differs at %zu\n", k);
            }
        }
        free(b);
    }
    buf_free(&out);
    buf_free(&back);
    free(text);
    return 0;
}

#ifndef FR_LIBFUZZER
#include "replay.h"

/* Seed texts: views as Hive and Spark write them, and some odd corners. */
static const char *const seeds[] = {
    "SELECT `daily`.`id` FROM `orders`.`daily` JOIN `orders`.`daily` `d2` ON 1=1",
    "select d.id, p.name from orders.daily d join customers.people p on d.cust = p.id",
    "SELECT * FROM orders.daily d, customers.people p, `web`.hist h WHERE d.cust = p.id",
    "WITH a AS (SELECT * FROM orders.daily), b AS (SELECT * FROM a JOIN c.p ON a.x = p.x) SELECT * FROM b",
    "SELECT extract(day FROM `daily`.`ts`), trim(BOTH 'x' FROM t.c), substring(s FROM 1) FROM `o`.`d`",
    "SELECT 'from `a`.`b`', \"join c.d\", r'\\' FROM x.y -- JOIN e.f\n/* FROM g.h */ JOIN i.j",
    "SELECT `orders.mask`(c), orders.f(d), spark_catalog.db.g(e) FROM spark_catalog.db.t, db.t.snapshots",
    "SELECT * FROM a.t LATERAL VIEW OUTER db.explode(t.arr) e AS v, w LEFT JOIN b.u ON 1=1",
    "SELECT * FROM a.t LATERAL VIEW explode(t.arr) e, b.u LATERAL VIEW posexplode(x) p pos, val",
    "SELECT * FROM (a.b x JOIN (SELECT * FROM c.d) y ON x.i = y.i) WHERE z IN (SELECT k FROM e.f)",
    "(SELECT 1 FROM a.b) UNION ALL (SELECT 2 FROM c.d) INTERSECT SELECT 3 FROM e.f EXCEPT TABLE g.h",
    "SELECT * FROM noop(ON a.b PARTITION BY c, d.e ORDER BY f) JOIN my_tvf(TABLE(g.h), TABLE i.j) t",
    "SELECT a IS NOT DISTINCT FROM b.c FROM parquet.`/x/y`, `db.t`, `a``b`.c; INSERT INTO x.y SELECT 1",
    "SELECT * FROM (FROM a.b SELECT x) t WHERE EXISTS (SELECT 1 FROM c.d) GROUP BY x.y, z.w LIMIT 1, 2",
    "SELECT sspark_catalog.a.i(x), spark_catalog.sa.f(y) FROM sspark_catalog.a.t JOIN park_catalog.b.c",
};

/* Words and pieces that mutations insert. */
static const char *const pieces[] = {
    " FROM ", " JOIN ", ", ", "(", ")", ".", "`", "'", "\"", "--", "/*", "*/", " SELECT ", " LATERAL VIEW ",
    " AS ", " ON ", " TABLE ", " WITH ", " UNION ", " IS DISTINCT ", "sales_", "SALES_", "a.b", "`x`.`y`",
    " WHERE ", "\\", "\n", " r'", ";", " INTO ", " VALUES ",
};

int main(int argc, char **argv)
{
    long rounds = replay_rounds(argc, argv, 200000);
    replay_seed(0x9E3779B97F4A7C15ull);
    size_t nseeds = sizeof seeds / sizeof seeds[0], npieces = sizeof pieces / sizeof pieces[0];
    enum { CAP = 1024 };
    uint8_t buf[CAP];
    for (long r = 0; r < rounds; r++) {
        const char *s = seeds[(size_t)r % nseeds];
        size_t len = strlen(s) + 1;
        buf[0] = (uint8_t)replay_rand();
        memcpy(buf + 1, s, len - 1);
        int edits = (int)(replay_rand() % 6);
        for (int e = 0; e < edits && len > 1; e++) {
            size_t at = 1 + replay_rand() % (len - 1);
            switch (replay_rand() % 5) {
            case 0: buf[at] = (uint8_t)replay_rand(); break;
            case 1: len = at + 1; break; /* truncate */
            case 2:                      /* delete a few bytes */
            {
                size_t k = 1 + replay_rand() % 8;
                if (at + k <= len) {
                    memmove(buf + at, buf + at + k, len - at - k);
                    len -= k;
                }
                break;
            }
            default: /* insert a piece */
            {
                const char *p = pieces[replay_rand() % npieces];
                size_t k = strlen(p);
                if (len + k <= CAP) {
                    memmove(buf + at + k, buf + at, len - at);
                    memcpy(buf + at, p, k);
                    len += k;
                }
                break;
            }
            }
        }
        replay_bytes(buf, len);
    }
    replay_args(argc, argv);
    printf("fuzz_hms_sql: %ld mutated inputs ran clean\n", rounds);
    return 0;
}
#endif
