/*
 * hms_sql.c: database names in the SQL text of views.
 *
 * A view stores its query as text (Table.viewOriginalText as typed, and
 * viewExpandedText, where Hive quotes every name: `db`.`t` `alias`). A
 * federated metastore knows its databases without the prefix ("orders"),
 * clients know them with it ("sales_orders"), so the text is rewritten on
 * the way out (prefix added) and on the way in (prefix taken off). Only the
 * database part of a table or function reference changes. t.col in an
 * expression looks just like db.t, and must stay as it is.
 *
 * This is no parser: a lexer cuts the text into tokens and a small state
 * machine, one state per level of parentheses, tracks where a table name
 * may stand. The text is copied byte for byte around the changed names.
 *
 *   tokens    words [A-Za-z0-9_ and bytes >= 0x80], `quoted` names (`` is a
 *             quote inside), '...' and "..." strings (backslash escapes),
 *             r'...' raw strings, single-byte punctuation. Blanks, --
 *             comments and block comments are skipped (and copied as they
 *             are). Block comments end at the first close, even where Spark
 *             would nest them: taking less text for comment only means that
 *             a name in a comment may be rewritten, never that a real one is
 *             missed.
 *   names     word or `quoted` parts joined by '.': db.t, `db`.t,
 *             spark_catalog.db.t (Spark's session catalog, skipped),
 *             db.t.snapshots (an Iceberg metadata table: db first), and
 *             `db.t` (one quoted part holding a dot; Hive splits it into
 *             db and table, and writes a UDF as `db.fn`(...)).
 *   tables    a name after FROM; after JOIN (with any of LEFT, OUTER, SEMI,
 *             CROSS ... before it); after ',' in a FROM clause (an ON
 *             condition belongs to the clause; its commas are inside
 *             parentheses); first in '(' that opens a FROM source; after
 *             INTO and TABLE; after ON first thing in a table function's
 *             arguments (Hive: noop(ON db.t PARTITION BY ...)).
 *   functions a qualified name followed by '(' anywhere: a UDF lives in a
 *             database of that metastore, so its database gets the prefix
 *             too. The function after LATERAL VIEW is one, not a table, and
 *             so is a table function in FROM.
 *   levels    '(' after a function name holds expressions: FROM there is
 *             not a clause (EXTRACT(day FROM t.ts), TRIM(BOTH 'x' FROM c),
 *             SUBSTRING(s FROM 1)) until SELECT or a set operation shows a
 *             query. A bare '(' holds a query when SELECT, WITH, VALUES or
 *             FROM come first. a IS [NOT] DISTINCT FROM b is no clause.
 *
 * Left alone: names without a database (CTE names and tables of the view's
 * own database, which the backend resolves itself), a file read through a
 * format (parquet.`/data/x`: the part after the dot holds a '/'),
 * three-part column references (db.t.col), names inside literals and
 * comments (Trino's views keep their query base64-encoded in a comment),
 * and db.t.x where db with the prefix would read as spark_catalog. Every
 * decision depends on tokens that are never rewritten themselves, so the
 * text is classified the same way before and after the prefix changes: out
 * then in gives back the original.
 *
 * The state is a stack of small frames grown on the heap up to
 * HMS_SQL_MAX_DEPTH; nothing recurses.
 */
#include "hms_sql.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- lexer ---- */

enum tok_kind { T_END, T_WORD, T_QID, T_STR, T_PUNCT };

struct tok {
    enum tok_kind kind;
    size_t at, end;                     /* the token's bytes, quotes included */
    size_t c0, c1;                      /* T_WORD, T_QID: the name without its quotes */
};

static bool word_byte(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
}

static bool blank(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* The first byte at or after i that is neither blank nor in a comment. */
static size_t skip_blank(const uint8_t *s, size_t len, size_t i)
{
    while (i < len) {
        if (blank(s[i])) {
            i++;
        } else if (s[i] == '-' && i + 1 < len && s[i + 1] == '-') {
            /* Ends at either line break: Hive's rule, and the one that
             * takes the least text for comment. */
            while (i < len && s[i] != '\n' && s[i] != '\r')
                i++;
        } else if (s[i] == '/' && i + 1 < len && s[i + 1] == '*') {
            size_t j = i + 2;
            while (j + 1 < len && !(s[j] == '*' && s[j + 1] == '/'))
                j++;
            i = j + 1 < len ? j + 2 : len;
        } else {
            break;
        }
    }
    return i;
}

/* The end of the string literal whose opening quote is at i (the end of
 * the text when it is not closed). */
static size_t string_end(const uint8_t *s, size_t len, size_t i, bool escapes)
{
    uint8_t q = s[i];
    for (size_t j = i + 1; j < len; j++) {
        if (escapes && s[j] == '\\')
            j++;
        else if (s[j] == q)
            return j + 1;
    }
    return len;
}

/* The token at or after i; T_END at the end of the text. */
static struct tok lex(const uint8_t *s, size_t len, size_t i)
{
    struct tok t = { T_END, len, len, len, len };
    i = skip_blank(s, len, i);
    if (i >= len)
        return t;
    t.at = i;
    uint8_t c = s[i];
    if (c == '`') {
        size_t j = i + 1;
        bool closed = false;
        while (j < len) {
            if (s[j] != '`') {
                j++;
            } else if (j + 1 < len && s[j + 1] == '`') {
                j += 2;
            } else {
                closed = true;
                j++;
                break;
            }
        }
        t.kind = T_QID;
        t.end = j;
        t.c0 = i + 1;
        t.c1 = closed ? j - 1 : j;
    } else if (word_byte(c)) {
        size_t j = i;
        while (j < len && word_byte(s[j]))
            j++;
        if (j == i + 1 && (c == 'r' || c == 'R') && j < len && (s[j] == '\'' || s[j] == '"')) {
            t.kind = T_STR; /* Spark's raw string: no escapes */
            t.end = string_end(s, len, j, false);
        } else {
            t.kind = T_WORD;
            t.end = j;
            t.c0 = i;
            t.c1 = j;
        }
    } else if (c == '\'' || c == '"') {
        t.kind = T_STR;
        t.end = string_end(s, len, i, true);
    } else {
        t.kind = T_PUNCT;
        t.end = i + 1;
    }
    return t;
}

static bool punct(const uint8_t *s, const struct tok *t, uint8_t c)
{
    return t->kind == T_PUNCT && s[t->at] == c;
}

/* ---- keywords ---- */

enum kw {
    K_NONE,
    K_AS, K_DISTINCT, K_FROM, K_INTO, K_IS, K_JOIN, K_LATERAL, K_NOT, K_ON, K_OUTER, K_SELECT, K_SETOP,
    K_TABLE, K_USING, K_VALUES, K_VIEW, K_WITH,
    K_CLAUSE,                           /* ends a FROM clause: WHERE, GROUP, ... */
};

static const struct {
    const char *word;
    enum kw kw;
} keywords[] = {
    { "as", K_AS },          { "distinct", K_DISTINCT }, { "from", K_FROM },       { "into", K_INTO },
    { "is", K_IS },          { "join", K_JOIN },         { "lateral", K_LATERAL }, { "not", K_NOT },
    { "on", K_ON },          { "outer", K_OUTER },       { "select", K_SELECT },   { "table", K_TABLE },
    { "using", K_USING },    { "values", K_VALUES },     { "view", K_VIEW },       { "with", K_WITH },
    { "union", K_SETOP },    { "intersect", K_SETOP },   { "except", K_SETOP },    { "minus", K_SETOP },
    { "where", K_CLAUSE },   { "group", K_CLAUSE },      { "having", K_CLAUSE },   { "order", K_CLAUSE },
    { "sort", K_CLAUSE },    { "cluster", K_CLAUSE },    { "distribute", K_CLAUSE }, { "limit", K_CLAUSE },
    { "window", K_CLAUSE },  { "qualify", K_CLAUSE },    { "partition", K_CLAUSE }, { "insert", K_CLAUSE },
};

static enum kw keyword(const uint8_t *s, const struct tok *t)
{
    size_t n = t->end - t->at;
    if (t->kind != T_WORD || n > 10)
        return K_NONE;
    for (size_t k = 0; k < sizeof keywords / sizeof keywords[0]; k++)
        if (strlen(keywords[k].word) == n && strncasecmp((const char *)s + t->at, keywords[k].word, n) == 0)
            return keywords[k].kw;
    return K_NONE;
}

/* ---- names ---- */

struct name {
    struct tok part[2];                 /* the first two parts */
    struct tok last;                    /* the last part */
    unsigned n;                         /* parts */
    bool trail_dot;                     /* a '.' follows that starts no part */
    size_t end;                         /* where the name ends */
};

/* The name that starts with the word or quoted name first. */
static void read_name(const uint8_t *s, size_t len, const struct tok *first, struct name *nm)
{
    nm->part[0] = nm->last = *first;
    nm->n = 1;
    nm->trail_dot = false;
    size_t pos = first->end;
    for (;;) {
        struct tok dot = lex(s, len, pos);
        if (!punct(s, &dot, '.'))
            break;
        struct tok w = lex(s, len, dot.end);
        if (w.kind != T_WORD && w.kind != T_QID) {
            nm->trail_dot = true;
            break;
        }
        if (nm->n < 2)
            nm->part[nm->n] = w;
        nm->last = w;
        if (nm->n < UINT_MAX)
            nm->n++;
        pos = w.end;
    }
    nm->end = pos;
}

/* The keyword at or after pos: a word not followed by '.' (which would
 * make it the first part of a name). */
static enum kw keyword_at(const uint8_t *s, size_t len, size_t pos, struct tok *t)
{
    *t = lex(s, len, pos);
    if (t->kind != T_WORD)
        return K_NONE;
    struct tok next = lex(s, len, t->end);
    return punct(s, &next, '.') ? K_NONE : keyword(s, t);
}

static const char session_catalog[] = "spark_catalog";

/* Is t Spark's session catalog, with prefix p (pl bytes) in front of it? */
static bool is_session_catalog(const uint8_t *s, const struct tok *t, const char *p, size_t pl)
{
    size_t n = sizeof session_catalog - 1;
    return pl <= n && t->c1 - t->c0 == n - pl && strncasecmp(session_catalog, p, pl) == 0 &&
           strncasecmp((const char *)s + t->c0, session_catalog + pl, n - pl) == 0;
}

/* The part of a name that holds its database (false: none). dotted: the
 * database is the quoted part up to its first '.'. */
static bool db_of(const uint8_t *s, const char *prefix, size_t pl, const struct name *nm, const struct tok **db,
                  bool *dotted)
{
    unsigned first = 0;
    if (nm->n >= 3) {
        if (is_session_catalog(s, &nm->part[0], "", 0))
            first = 1;
        else if (is_session_catalog(s, &nm->part[0], prefix, pl))
            return false; /* db.t.x whose db would read as the catalog with the
                           * prefix: neither way can tell the two apart */
    }
    *dotted = false;
    if (nm->n - first >= 2) {
        *db = &nm->part[first];
        return true;
    }
    const struct tok *p = &nm->part[0];
    if (nm->n == 1 && p->kind == T_QID && memchr(s + p->c0, '.', p->c1 - p->c0)) {
        *db = p;
        *dotted = true;
        return true;
    }
    return false;
}

/* A file read through a data source (parquet.`/data/x`), not a table. */
static bool is_path(const uint8_t *s, const struct name *nm)
{
    const struct tok *l = &nm->last;
    return l->kind == T_QID && memchr(s + l->c0, '/', l->c1 - l->c0);
}

/* ---- state ---- */

enum state {
    S_EXPR,                             /* expressions (select list, WHERE, ...): no tables */
    S_SOURCE,                           /* a FROM source comes next */
    S_FROM,                             /* after a source: alias, JOIN, ON ..., ',' */
    S_TABLE,                            /* after INTO or TABLE: one table name */
    S_LV_FN,                            /* after LATERAL VIEW [OUTER]: its function */
    S_LV_ALIAS,                         /* after that function's ')': its alias */
    S_LV_COLS,                          /* its column aliases: ',' separates them */
};

/* What a '(' opens. */
enum paren {
    P_BARE,                             /* no function name before it */
    P_CALL,                             /* a function's arguments */
    P_TVF,                              /* a table function's arguments (in FROM) */
    P_SOURCE,                           /* a FROM source: a table, a join, a subquery */
};

/* One level of parentheses. */
struct frame {
    uint8_t st;                         /* enum state */
    bool query;                         /* FROM opens a FROM clause at this level */
    bool bare;                          /* P_BARE: may turn out to hold a query */
    bool tvf;                           /* P_TVF: ON and TABLE (...) name tables */
    bool fresh;                         /* no token seen yet at this level */
    uint8_t lv_words;                   /* S_LV_ALIAS: words after the function */
};

static const struct frame top_frame = { S_EXPR, true, true, false, true, 0 };

struct sqlmap {
    const uint8_t *s;
    size_t len;
    const char *prefix;
    size_t pl;
    bool in;                            /* strip (client -> backend), else add */
    struct buf *out;
    bool changed;                       /* out was reset and holds s[0..copied), edited */
    size_t copied;
    unsigned foreign;                   /* in: databases without the prefix */
    struct frame *fr;                   /* fr[0..depth], innermost last */
    size_t depth, cap;
    struct frame small[16];
};

/* Copies the text up to at, then drops drop bytes (in) or puts the prefix
 * there (out). Edits come in text order. */
static int splice(struct sqlmap *m, size_t at, size_t drop)
{
    if (!m->changed) {
        buf_reset(m->out);
        m->changed = true;
    }
    if (buf_append(m->out, m->s + m->copied, at - m->copied) < 0 ||
        (!m->in && buf_append(m->out, m->prefix, m->pl) < 0))
        return -1;
    m->copied = at + drop;
    return 0;
}

/* The database db (a name part) as the other side knows it. */
static int map_db(struct sqlmap *m, const struct tok *db, bool dotted)
{
    size_t c0 = db->c0, c1 = db->c1;
    if (dotted)
        c1 = (size_t)((const uint8_t *)memchr(m->s + c0, '.', c1 - c0) - m->s);
    if (!m->in)
        return splice(m, c0, 0);
    size_t dl = c1 - c0;
    /* An unquoted name that is the prefix alone has nothing left to name:
     * the way out never writes one, so it is not ours. */
    if (dl >= m->pl && (db->kind == T_QID || dl > m->pl) &&
        strncasecmp((const char *)m->s + c0, m->prefix, m->pl) == 0)
        return splice(m, c0, m->pl);
    if (m->foreign < UINT_MAX)
        m->foreign++;
    return 0;
}

/* The way in: a db.t.x whose db, once the prefix is taken off, would read
 * as Spark's session catalog (prefix "s": sspark_catalog.t.x). The backend
 * text could not say which was meant, so the name counts as one the
 * metastore cannot hold (the view is refused) rather than being rewritten
 * into the catalog. */
static bool strips_to_catalog(const struct sqlmap *m, const struct name *nm, const struct tok *db)
{
    size_t n = sizeof session_catalog - 1;
    if (!m->in || nm->n < 3 || db != &nm->part[0] || db->c1 - db->c0 != m->pl + n)
        return false;
    return strncasecmp((const char *)m->s + db->c0, m->prefix, m->pl) == 0 &&
           strncasecmp((const char *)m->s + db->c0 + m->pl, session_catalog, n) == 0;
}

/* map_db for the database of a name. */
static int map_name_db(struct sqlmap *m, const struct name *nm, const struct tok *db, bool dotted)
{
    if (strips_to_catalog(m, nm, db)) {
        if (m->foreign < UINT_MAX)
            m->foreign++;
        return 0;
    }
    return map_db(m, db, dotted);
}

static int push(struct sqlmap *m, enum paren kind)
{
    if (m->depth >= HMS_SQL_MAX_DEPTH)
        return -1;
    if (m->depth + 1 >= m->cap) {
        size_t nc = m->cap * 2;
        struct frame *g = malloc(nc * sizeof *g);
        if (!g)
            return -1;
        memcpy(g, m->fr, (m->depth + 1) * sizeof *g);
        if (m->fr != m->small)
            free(m->fr);
        m->fr = g;
        m->cap = nc;
    }
    struct frame *f = &m->fr[++m->depth];
    f->st = kind == P_SOURCE ? S_SOURCE : S_EXPR;
    f->query = kind == P_SOURCE;
    f->bare = kind == P_BARE;
    f->tvf = kind == P_TVF;
    f->fresh = true;
    f->lv_words = 0;
    return 0;
}

/* A name that is no keyword here. *paren: what a '(' right after it opens. */
static int on_name(struct sqlmap *m, struct frame *f, const struct name *nm, enum paren *paren)
{
    struct tok after = lex(m->s, m->len, nm->end);
    const struct tok *db;
    bool dotted;
    bool has_db = db_of(m->s, m->prefix, m->pl, nm, &db, &dotted);
    if (punct(m->s, &after, '(')) {
        /* A function call; in a FROM source, a table function. */
        *paren = f->st == S_SOURCE ? P_TVF : P_CALL;
        if (f->st == S_TABLE)
            f->st = S_EXPR;
        return has_db ? map_name_db(m, nm, db, dotted) : 0;
    }
    switch (f->st) {
    case S_SOURCE:
    case S_TABLE:
        f->st = f->st == S_SOURCE ? S_FROM : S_EXPR;
        return has_db && !is_path(m->s, nm) ? map_name_db(m, nm, db, dotted) : 0;
    case S_LV_ALIAS:
        /* The alias, then (Spark, AS left out) column aliases. */
        if (f->lv_words++ > 0)
            f->st = S_LV_COLS;
        return 0;
    default:
        return 0; /* a column, an alias, a CTE name */
    }
}

/* Keywords that count in S_SOURCE; any other word there is a table. */
static bool source_keyword(enum kw k)
{
    return k == K_SELECT || k == K_WITH || k == K_VALUES || k == K_FROM || k == K_LATERAL || k == K_TABLE;
}

/* A keyword; *pos is past it (and past VIEW after LATERAL). */
static void on_keyword(struct sqlmap *m, struct frame *f, enum kw k, bool fresh, enum kw prev1, enum kw prev2,
                       size_t *pos, enum paren *paren)
{
    struct tok ahead;
    switch (k) {
    case K_FROM:
        if (prev1 == K_DISTINCT && (prev2 == K_IS || prev2 == K_NOT))
            break; /* a IS [NOT] DISTINCT FROM b */
        if (f->query || (fresh && f->bare)) {
            f->query = true;
            f->st = S_SOURCE;
        }
        break;
    case K_JOIN:
        if (f->query || f->st != S_EXPR)
            f->st = S_SOURCE;
        break;
    case K_SELECT:
    case K_SETOP:
        f->query = true;
        f->st = S_EXPR;
        break;
    case K_WITH:
    case K_VALUES:
        /* Elsewhere WITH is ROLLUP, TIME ZONE ... */
        if (f->st == S_SOURCE || (fresh && f->bare)) {
            f->query = true;
            f->st = S_EXPR;
        }
        break;
    case K_CLAUSE:
        f->st = S_EXPR;
        break;
    case K_ON:
    case K_USING:
        if (k == K_ON && fresh && f->tvf)
            f->st = S_SOURCE; /* noop(ON db.t ...) */
        else if (f->st != S_EXPR)
            f->st = S_FROM;
        break;
    case K_LATERAL:
        if ((f->st == S_FROM || f->st == S_LV_ALIAS || f->st == S_LV_COLS) &&
            keyword_at(m->s, m->len, *pos, &ahead) == K_VIEW) {
            *pos = ahead.end;
            f->st = S_LV_FN;
        }
        break; /* in S_SOURCE: LATERAL (subquery) */
    case K_AS:
        if (f->st == S_LV_ALIAS)
            f->st = S_LV_COLS;
        break;
    case K_TABLE:
        if (f->st == S_SOURCE || f->st == S_TABLE)
            break;
        if (keyword_at(m->s, m->len, *pos, &ahead) != K_NONE)
            break; /* a column named table, as Spark allows */
        if (punct(m->s, &ahead, '(')) {
            if (f->tvf)
                *paren = P_SOURCE; /* Spark: my_tvf(TABLE(db.t)) */
        } else if (ahead.kind == T_WORD || ahead.kind == T_QID) {
            f->st = S_TABLE;
        }
        break;
    case K_INTO:
        f->st = S_TABLE;
        break;
    default:
        break; /* AS, IS, NOT, DISTINCT, OUTER, VIEW: only seen as context */
    }
}

static int run(struct sqlmap *m)
{
    const uint8_t *s = m->s;
    enum kw prev1 = K_NONE, prev2 = K_NONE;
    enum paren next_paren = P_BARE;
    size_t pos = 0;
    for (;;) {
        struct tok t = lex(s, m->len, pos);
        if (t.kind == T_END)
            return 0;
        struct frame *f = &m->fr[m->depth];
        bool fresh = f->fresh;
        f->fresh = false;
        enum paren paren = next_paren;
        next_paren = P_BARE;
        enum kw k = K_NONE;
        pos = t.end;
        if (t.kind == T_WORD || t.kind == T_QID) {
            struct name nm;
            read_name(s, m->len, &t, &nm);
            pos = nm.end;
            if (nm.n == 1 && !nm.trail_dot)
                k = keyword(s, &t);
            if (f->st == S_SOURCE && !source_keyword(k))
                k = K_NONE;
            if (f->st == S_TABLE && k != K_NONE && k != K_TABLE)
                f->st = S_EXPR; /* INTO or TABLE without a name after all */
            if (k == K_NONE) {
                if (on_name(m, f, &nm, &next_paren) < 0)
                    return -1;
            } else {
                on_keyword(m, f, k, fresh, prev1, prev2, &pos, &next_paren);
            }
        } else if (t.kind == T_PUNCT) {
            switch (s[t.at]) {
            case '(':
                switch (f->st) {
                case S_SOURCE:
                    paren = paren == P_TVF ? P_TVF : P_SOURCE;
                    f->st = S_FROM;
                    break;
                case S_LV_FN:
                    f->st = S_LV_ALIAS;
                    f->lv_words = 0;
                    break;
                case S_TABLE:
                    f->st = S_EXPR;
                    break;
                default:
                    break;
                }
                if (push(m, paren) < 0)
                    return -1;
                break;
            case ')':
                if (m->depth > 0)
                    m->depth--;
                break;
            case ',':
                if (f->st == S_FROM || f->st == S_LV_ALIAS)
                    f->st = S_SOURCE; /* a comma join */
                else if (f->st == S_TABLE)
                    f->st = S_EXPR;
                break;
            case ';':
                m->depth = 0;
                m->fr[0] = top_frame;
                break;
            default:
                break;
            }
        }
        prev2 = prev1;
        prev1 = k;
    }
}

int hms_sql_map(const char *prefix, bool in, const uint8_t *s, size_t len, struct buf *out, unsigned *foreign_refs)
{
    if (foreign_refs)
        *foreign_refs = 0;
    size_t pl = strlen(prefix);
    for (size_t k = 0; k < pl; k++) {
        char c = prefix[k];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return -1;
    }
    if (!pl)
        return 0;
    struct sqlmap m;
    memset(&m, 0, sizeof m);
    m.s = s;
    m.len = len;
    m.prefix = prefix;
    m.pl = pl;
    m.in = in;
    m.out = out;
    m.fr = m.small;
    m.cap = sizeof m.small / sizeof m.small[0];
    m.fr[0] = top_frame;
    int rc = run(&m);
    if (m.fr != m.small)
        free(m.fr);
    if (rc < 0)
        return -1;
    if (foreign_refs)
        *foreign_refs = m.foreign;
    if (!m.changed)
        return 0;
    return buf_append(out, s + m.copied, len - m.copied) < 0 ? -1 : 1;
}
