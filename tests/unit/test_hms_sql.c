/*
 * test_hms_sql: database names in view texts (router/hms/hms_sql.h), and the
 * way hms_names hands view texts to it.
 *
 *   test_hms_sql CORPUS    CORPUS is tests/unit/hms_views.txt: views as the
 *                          backend stores them and as clients see them,
 *                          texts with nothing to rewrite, and texts clients
 *                          send with references to other metastores
 *
 * For every view: backend -> client gives the client text, client ->
 * backend gives the original back, and neither finds a foreign reference.
 * Texts with nothing to rewrite come back unchanged (0, out untouched) both
 * ways. Then limits, prefixes, and hms_name_in/out with HMS_PK_SQL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hms_names.h"
#include "hms_sql.h"

#define PREFIX "sales_"

/* ---- the corpus ---- */

struct text {
    char *s;
    size_t len;
};

struct corpus_case {
    char kind[8];                       /* "view", "same", "in" */
    char name[64];
    unsigned foreign;                   /* "in": references without the prefix */
    struct text a, b;                   /* the text, and its counterpart (view, in) */
};

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *d = malloc(cap + 1);
    size_t got;
    while (d && (got = fread(d + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *g = realloc(d, 2 * cap + 1);
            if (!g) {
                free(d);
                d = NULL;
                break;
            }
            d = g;
            cap *= 2;
        }
    }
    fclose(f);
    if (d)
        d[n] = 0;
    *len = n;
    return d;
}

/* The text from p up to the next line that starts with "@@" (or the end),
 * without its trailing newlines. *next: that line. */
static struct text block(char *p, char **next)
{
    char *e = p;
    while (*e && !(e[0] == '@' && e[1] == '@' && (e == p || e[-1] == '\n')))
        e++;
    *next = e;
    while (e > p && e[-1] == '\n')
        e--;
    struct text t = { p, (size_t)(e - p) };
    return t;
}

/* The next case of the corpus at *p (false at the end). The corpus is
 * changed in place: texts end with a 0 byte. */
static bool next_case(char **p, struct corpus_case *c)
{
    for (;;) {
        char *line = strstr(*p, "@@ ");
        while (line && line != *p && line[-1] != '\n')
            line = strstr(line + 1, "@@ ");
        if (!line)
            return false;
        char *eol = strchr(line, '\n');
        if (!eol)
            return false;
        *eol = 0;
        memset(c, 0, sizeof *c);
        int n = sscanf(line, "@@ %7s %63s %u", c->kind, c->name, &c->foreign);
        char *rest;
        if (n < 1 || c->kind[0] == '#') {
            *p = eol + 1;
            continue;
        }
        c->a = block(eol + 1, &rest);
        if (strcmp(c->kind, "view") == 0 || strcmp(c->kind, "in") == 0) {
            const char *want = c->kind[0] == 'v' ? "@@ client\n" : "@@ backend\n";
            if (strncmp(rest, want, strlen(want)) != 0) {
                fprintf(stderr, "corpus: %s %s: no %.*s\n", c->kind, c->name, (int)strlen(want) - 1, want);
                check_failed++;
                return false;
            }
            c->b = block(rest + strlen(want), &rest);
            c->b.s[c->b.len] = 0;
        }
        c->a.s[c->a.len] = 0;
        *p = rest;
        return true;
    }
}

/* ---- helpers ---- */

static int map(const char *prefix, bool in, const struct text *t, struct buf *out, unsigned *foreign)
{
    return hms_sql_map(prefix, in, (const uint8_t *)t->s, t->len, out, foreign);
}

static bool same_text(const struct buf *b, const struct text *t)
{
    return buf_len(b) == t->len && memcmp(buf_rptr(b), t->s, t->len) == 0;
}

static void show(const char *what, const char *name, const struct buf *got, const struct text *want)
{
    fprintf(stderr, "%s %s:\n  got  %.*s\n  want %.*s\n", what, name, (int)buf_len(got), (const char *)buf_rptr(got),
            (int)want->len, want->s);
}

/* A buffer holding "sentinel", to see that an unchanged answer leaves it. */
static void sentinel(struct buf *b)
{
    buf_reset(b);
    buf_append(b, "sentinel", 8);
}

static bool is_sentinel(const struct buf *b)
{
    return buf_len(b) == 8 && memcmp(buf_rptr(b), "sentinel", 8) == 0;
}

/* ---- the corpus cases ---- */

static void check_view(const struct corpus_case *c)
{
    struct buf out = BUF_INIT;
    unsigned foreign = 99;
    int rc = map(PREFIX, false, &c->a, &out, &foreign);
    CHECK(rc == 1 && foreign == 0);
    if (rc == 1 && !same_text(&out, &c->b)) {
        show("out", c->name, &out, &c->b);
        CHECK(!"backend -> client");
    }
    foreign = 99;
    rc = map(PREFIX, true, &c->b, &out, &foreign);
    CHECK(rc == 1 && foreign == 0);
    if (rc == 1 && !same_text(&out, &c->a)) {
        show("in", c->name, &out, &c->a);
        CHECK(!"client -> backend");
    }
    /* Another prefix: the same references, so the same round trip. */
    struct buf back = BUF_INIT;
    rc = map("lake2_", false, &c->a, &out, NULL);
    CHECK(rc == 1 && buf_len(&out) > c->a.len && (buf_len(&out) - c->a.len) % 6 == 0);
    if (rc == 1) {
        struct text t = { (char *)buf_rptr(&out), buf_len(&out) };
        CHECK(map("lake2_", true, &t, &back, &foreign) == 1 && foreign == 0 && same_text(&back, &c->a));
        /* With the router's prefix the way in finds only foreign names. */
        CHECK(map(PREFIX, true, &c->a, &back, &foreign) >= 0 && foreign > 0);
    }
    buf_free(&back);
    buf_free(&out);
}

static void check_same(const struct corpus_case *c)
{
    struct buf out = BUF_INIT;
    unsigned foreign = 99;
    sentinel(&out);
    CHECK(map(PREFIX, false, &c->a, &out, &foreign) == 0 && foreign == 0 && is_sentinel(&out));
    foreign = 99;
    CHECK(map(PREFIX, true, &c->a, &out, &foreign) == 0 && foreign == 0 && is_sentinel(&out));
    buf_free(&out);
}

static void check_in(const struct corpus_case *c)
{
    struct buf out = BUF_INIT;
    unsigned foreign = 99;
    sentinel(&out);
    bool changes = c->a.len != c->b.len || memcmp(c->a.s, c->b.s, c->a.len) != 0;
    int rc = map(PREFIX, true, &c->a, &out, &foreign);
    CHECK(rc == (changes ? 1 : 0));
    if (foreign != c->foreign) {
        fprintf(stderr, "in %s: %u foreign references, want %u\n", c->name, foreign, c->foreign);
        CHECK(!"foreign references");
    }
    if (rc == 0)
        CHECK(is_sentinel(&out));
    else if (rc == 1 && !same_text(&out, &c->b)) {
        show("in", c->name, &out, &c->b);
        CHECK(!"client -> backend");
    }
    buf_free(&out);
}

static void test_corpus(const char *path)
{
    size_t len;
    char *data = read_all(path, &len);
    CHECK(data != NULL);
    if (!data)
        return;
    unsigned views = 0, same = 0, ins = 0;
    char *p = data;
    struct corpus_case c;
    while (next_case(&p, &c)) {
        if (strcmp(c.kind, "view") == 0) {
            check_view(&c);
            views++;
        } else if (strcmp(c.kind, "same") == 0) {
            check_same(&c);
            same++;
        } else if (strcmp(c.kind, "in") == 0) {
            check_in(&c);
            ins++;
        } else {
            fprintf(stderr, "corpus: unknown case kind %s\n", c.kind);
            CHECK(!"corpus case kind");
        }
    }
    printf("corpus: %u views, %u unchanged, %u client texts\n", views, same, ins);
    CHECK(views >= 40 && same > 0 && ins > 0);
    free(data);
}

/* ---- edge cases ---- */

static int map_str(const char *prefix, bool in, const char *s, struct buf *out, unsigned *foreign)
{
    return hms_sql_map(prefix, in, (const uint8_t *)s, strlen(s), out, foreign);
}

static bool out_is(const struct buf *b, const char *s)
{
    return buf_len(b) == strlen(s) && memcmp(buf_rptr(b), s, buf_len(b)) == 0;
}

static void test_edges(void)
{
    struct buf out = BUF_INIT;
    unsigned foreign = 99;

    /* The primary has no prefix: nothing to do either way. */
    CHECK(map_str("", false, "SELECT * FROM orders.daily", &out, &foreign) == 0 && foreign == 0);
    CHECK(map_str("", true, "SELECT * FROM web.t", &out, &foreign) == 0 && foreign == 0);
    /* Prefixes are lower-case names. */
    CHECK(map_str("Sales_", false, "SELECT * FROM a.b", &out, NULL) == -1);
    CHECK(map_str("a-b", false, "SELECT * FROM a.b", &out, NULL) == -1);
    CHECK(map_str("a`", false, "SELECT * FROM a.b", &out, NULL) == -1);
    /* An empty text, and foreign_refs may be NULL. */
    CHECK(hms_sql_map(PREFIX, false, (const uint8_t *)"", 0, &out, NULL) == 0);
    CHECK(map_str(PREFIX, true, "SELECT * FROM web.t", &out, NULL) == 0);

    /* Unclosed literal, comment and quoted name: up to the end of the text. */
    CHECK(map_str(PREFIX, false, "SELECT * FROM a.b WHERE x = 'open from c.d", &out, NULL) == 1 &&
          out_is(&out, "SELECT * FROM sales_a.b WHERE x = 'open from c.d"));
    CHECK(map_str(PREFIX, false, "SELECT * FROM a.b /* open JOIN c.d", &out, NULL) == 1 &&
          out_is(&out, "SELECT * FROM sales_a.b /* open JOIN c.d"));
    CHECK(map_str(PREFIX, false, "SELECT * FROM a.b, `c.d", &out, NULL) == 1 &&
          out_is(&out, "SELECT * FROM sales_a.b, `sales_c.d"));
    CHECK(map_str(PREFIX, false, "SELECT 'a\\", &out, NULL) == 0);
    /* A line comment ends at either line break. */
    CHECK(map_str(PREFIX, false, "SELECT 1 -- x\rFROM a.b", &out, NULL) == 1 &&
          out_is(&out, "SELECT 1 -- x\rFROM sales_a.b"));
    /* Statements after ';' start afresh. */
    CHECK(map_str(PREFIX, false, "SELECT trim(x FROM y; SELECT * FROM a.b", &out, NULL) == 1 &&
          out_is(&out, "SELECT trim(x FROM y; SELECT * FROM sales_a.b"));
    /* Unbalanced ')' does not underflow. */
    CHECK(map_str(PREFIX, false, ")) SELECT * FROM a.b)", &out, NULL) == 1 &&
          out_is(&out, ")) SELECT * FROM sales_a.b)"));
    /* A quoted database that is the prefix alone is ours (the way out
     * writes it for an empty name); an unquoted one is not. */
    CHECK(map_str(PREFIX, false, "SELECT * FROM ``.t", &out, NULL) == 1 && out_is(&out, "SELECT * FROM `sales_`.t"));
    CHECK(map_str(PREFIX, true, "SELECT * FROM `sales_`.t", &out, &foreign) == 1 && foreign == 0 &&
          out_is(&out, "SELECT * FROM ``.t"));
    CHECK(map_str(PREFIX, true, "SELECT * FROM sales_.t", &out, &foreign) == 0 && foreign == 1);
    /* INSERT INTO/OVERWRITE TABLE name a table. */
    CHECK(map_str(PREFIX, false, "INSERT OVERWRITE TABLE a.b PARTITION (p = 1) SELECT x.y FROM c.d x", &out,
                  NULL) == 1 &&
          out_is(&out, "INSERT OVERWRITE TABLE sales_a.b PARTITION (p = 1) SELECT x.y FROM sales_c.d x"));
    CHECK(map_str(PREFIX, false, "INSERT INTO a.b SELECT 1", &out, NULL) == 1 &&
          out_is(&out, "INSERT INTO sales_a.b SELECT 1"));
    /* Spark's table arguments of a table function. */
    CHECK(map_str(PREFIX, false, "SELECT * FROM my_tvf(TABLE(a.b), TABLE c.d)", &out, NULL) == 1 &&
          out_is(&out, "SELECT * FROM my_tvf(TABLE(sales_a.b), TABLE sales_c.d)"));
    /* A column named table (Spark allows it) is no table keyword. */
    CHECK(map_str(PREFIX, false, "SELECT table FROM a.b", &out, NULL) == 1 &&
          out_is(&out, "SELECT table FROM sales_a.b"));
    /* FROM-first subquery (Hive). */
    CHECK(map_str(PREFIX, false, "SELECT * FROM (FROM a.b SELECT x) t", &out, NULL) == 1 &&
          out_is(&out, "SELECT * FROM (FROM sales_a.b SELECT x) t"));
    /* FROM inside function arguments at any depth is no clause. */
    CHECK(map_str(PREFIX, false, "SELECT f(g(trim(x.y FROM a.b))), (extract(day FROM c.d)) FROM e.f", &out, NULL) ==
              1 &&
          out_is(&out, "SELECT f(g(trim(x.y FROM a.b))), (extract(day FROM c.d)) FROM sales_e.f"));

    /* Nesting: HMS_SQL_MAX_DEPTH levels are fine, one more is an error. */
    for (int extra = 0; extra < 2; extra++) {
        size_t d = HMS_SQL_MAX_DEPTH + (size_t)extra;
        struct buf t = BUF_INIT;
        buf_append(&t, "SELECT * FROM ", 14);
        for (size_t k = 0; k < d; k++)
            buf_append(&t, "(", 1);
        buf_append(&t, "a.b", 3);
        for (size_t k = 0; k < d; k++)
            buf_append(&t, ")", 1);
        int rc = hms_sql_map(PREFIX, false, buf_rptr(&t), buf_len(&t), &out, NULL);
        CHECK(rc == (extra ? -1 : 1));
        if (rc == 1)
            CHECK(buf_len(&out) == buf_len(&t) + 6 && memcmp(buf_rptr(&out) + 14 + d, "sales_a.b", 9) == 0);
        buf_free(&t);
    }

    /* Many tables in one comma join: every one, in one pass. */
    struct buf big = BUF_INIT, want = BUF_INIT;
    buf_append(&big, "SELECT * FROM ", 14);
    buf_append(&want, "SELECT * FROM ", 14);
    const unsigned n = 20000;
    for (unsigned k = 0; k < n; k++) {
        char part[64];
        int pl = snprintf(part, sizeof part, "%sd%u.t%u", k ? ", " : "", k, k);
        buf_append(&big, part, (size_t)pl);
        pl = snprintf(part, sizeof part, "%ssales_d%u.t%u", k ? ", " : "", k, k);
        buf_append(&want, part, (size_t)pl);
    }
    CHECK(hms_sql_map(PREFIX, false, buf_rptr(&big), buf_len(&big), &out, NULL) == 1 && buf_len(&out) == buf_len(&want) &&
          memcmp(buf_rptr(&out), buf_rptr(&want), buf_len(&want)) == 0);
    CHECK(hms_sql_map(PREFIX, true, buf_rptr(&big), buf_len(&big), &out, &foreign) == 0 && foreign == n);
    buf_free(&big);
    buf_free(&want);
    buf_free(&out);
}

/* ---- through hms_names ---- */

static void test_names(void)
{
    const char *view = "SELECT * FROM orders.daily d JOIN `web`.`t` w ON w.id = d.id";
    const char *client = "SELECT * FROM sales_orders.daily d JOIN `sales_web`.`t` w ON w.id = d.id";
    struct hms_names n = { PREFIX, BUF_INIT, 0 };
    const uint8_t *o;
    size_t ol;
    CHECK(hms_name_out(&n, HMS_PK_SQL, (const uint8_t *)view, strlen(view), &o, &ol) == 1 && ol == strlen(client) &&
          memcmp(o, client, ol) == 0);
    CHECK(hms_name_in(&n, HMS_PK_SQL, (const uint8_t *)client, strlen(client), &o, &ol) == 1 &&
          ol == strlen(view) && memcmp(o, view, ol) == 0 && n.foreign_refs == 0);
    /* Foreign references add up over the texts of one call. */
    const char *mixed = "SELECT * FROM sales_orders.daily JOIN web.t USING (id)";
    CHECK(hms_name_in(&n, HMS_PK_SQL, (const uint8_t *)mixed, strlen(mixed), &o, &ol) == 1 && n.foreign_refs == 1);
    CHECK(hms_name_in(&n, HMS_PK_SQL, (const uint8_t *)mixed, strlen(mixed), &o, &ol) == 1 && n.foreign_refs == 2);
    const char *none = "SELECT 1";
    CHECK(hms_name_in(&n, HMS_PK_SQL, (const uint8_t *)none, strlen(none), &o, &ol) == 0 && n.foreign_refs == 2);
    buf_free(&n.out);
    /* The primary: view texts pass as they are. */
    struct hms_names p = { "", BUF_INIT, 0 };
    CHECK(hms_name_out(&p, HMS_PK_SQL, (const uint8_t *)view, strlen(view), &o, &ol) == 0);
    CHECK(hms_name_in(&p, HMS_PK_SQL, (const uint8_t *)mixed, strlen(mixed), &o, &ol) == 0 && p.foreign_refs == 0);
    buf_free(&p.out);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_hms_sql tests/unit/hms_views.txt\n");
        return 2;
    }
    test_corpus(argv[1]);
    test_edges();
    test_names();
    return check_report();
}
