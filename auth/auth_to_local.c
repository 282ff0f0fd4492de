/*
 * auth_to_local: the rules parser, the Java-regex-to-POSIX translation and
 * the mapping itself. See auth_to_local.h for the behaviour; the comments
 * here say how each step matches Hadoop's KerberosName.
 *
 *   text --parse_rule()--> struct a2l_rule[]      (once, at load)
 *            |-- re_translate(): Java subset -> ERE, then regcomp()
 *            `-- check_replacement(): $n and \x in `to`
 *
 *   principal --split_principal()--> service, host, realm
 *             --apply_rule() per rule--> expand fmt, match, substitute,
 *                                        non-simple check, lowercase
 */
#include "errmsg.h"
#include "auth_to_local.h"

#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct a2l_rule {
    bool is_default;     /* DEFAULT (every field below unused) */
    bool lower;          /* /L */
    bool has_match;      /* (match) given */
    bool has_sed;        /* s/from/to/ given */
    bool global;         /* g */
    int ncomp;           /* n of [n:fmt] */
    char *fmt;           /* as written */
    char *match_src;     /* as written, for the canonical form */
    char *from_src;      /* as written */
    char *to;            /* as written (Java replacement syntax) */
    regex_t match_re;    /* ^(match)$, REG_NOSUB */
    regex_t from_re;     /* from */
    size_t from_ngroups; /* capturing groups of from */
    size_t to_maxref;    /* highest group `to` refers to (<= A2L_MAX_GROUPS) */
};

struct a2l_rules {
    size_t n;
    struct a2l_rule rule[];
};

/* ---- a growable string for the translated regexes (parse time only) ---- */

struct sb {
    char *p;
    size_t n, cap;
    bool oom;
};

static void sb_putn(struct sb *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_puts(struct sb *b, const char *s) { sb_putn(b, s, strlen(s)); }
static void sb_putc(struct sb *b, char c) { sb_putn(b, &c, 1); }

/* ---- a fixed-size string for the mapping (no allocation per call) ---- */

struct fb {
    char *p;
    size_t n, cap; /* cap counts the NUL */
    bool over;
};

static void fb_putn(struct fb *b, const char *s, size_t n)
{
    if (b->over || b->n + n + 1 > b->cap) {
        b->over = true;
        return;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

/* ---- Java regex subset -> POSIX ERE ---- */

/* What precedes the current position, for checking quantifiers. */
enum re_last { RL_NONE, RL_ATOM, RL_QUANT, RL_WIDE, RL_ANCHOR };

static const char DIGITS[] = "0-9";
static const char WORD[] = "0-9A-Z_a-z";
static const char SPACE[] = " \t\n\v\f\r"; /* Java's \s */

static bool is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Control characters that Java writes as \t \n \r \f \a \e. */
static int control_escape(unsigned char x)
{
    switch (x) {
    case 't': return '\t';
    case 'n': return '\n';
    case 'r': return '\r';
    case 'f': return '\f';
    case 'a': return '\a';
    case 'e': return 0x1b;
    default: return -1;
    }
}

/* One character that must match itself, written so ERE reads it literally. */
static void put_literal(struct sb *out, unsigned char c)
{
    if (c == ']')
        sb_puts(out, "[]]");
    else if (c == '}')
        sb_puts(out, "[}]");
    else {
        if (strchr(".[()*+?{|^$\\", c))
            sb_putc(out, '\\');
        sb_putc(out, (char)c);
    }
}

struct re_in {
    const char *s;
    size_t len, i;
    const char *why; /* on failure */
    size_t at;       /* on failure: offset in s */
};

static int re_fail(struct re_in *in, size_t at, const char *why)
{
    in->why = why;
    in->at = at;
    return -1;
}

/* \xhh at in->i (pointing at 'x'): the byte, or -1. ASCII only, no NUL. */
static int read_hex(struct re_in *in)
{
    size_t at = in->i - 1;
    int h = in->i + 1 < in->len ? hexval((unsigned char)in->s[in->i + 1]) : -1;
    int l = in->i + 2 < in->len ? hexval((unsigned char)in->s[in->i + 2]) : -1;
    if (h < 0 || l < 0)
        return re_fail(in, at, "\\x needs two hex digits (\\x{...} is not supported)");
    int v = h * 16 + l;
    if (v == 0 || v >= 0x80)
        return re_fail(in, at, "\\x must name an ASCII character other than NUL");
    in->i += 3;
    return v;
}

static void set_range(bool *set, int lo, int hi)
{
    for (int c = lo; c <= hi; c++)
        set[c] = true;
}

static void set_chars(bool *set, const char *chars)
{
    for (; *chars; chars++)
        set[(unsigned char)*chars] = true;
}

/*
 * One member of a [] class at in->i: returns the character, -2 when it was
 * a class escape (\d \w \s, added to set), or -1 on failure.
 */
static int class_char(struct re_in *in, bool *set)
{
    unsigned char c = (unsigned char)in->s[in->i];
    size_t at = in->i;
    if (c >= 0x80)
        return re_fail(in, at, "non-ASCII characters inside [] are not supported");
    if (c != '\\') {
        in->i++;
        return c;
    }
    if (in->i + 1 >= in->len)
        return re_fail(in, at, "a '\\' ends the expression");
    unsigned char x = (unsigned char)in->s[in->i + 1];
    in->i++;
    switch (x) {
    case 'd':
        set_range(set, '0', '9');
        in->i++;
        return -2;
    case 'w':
        set_range(set, '0', '9');
        set_range(set, 'A', 'Z');
        set_range(set, 'a', 'z');
        set['_'] = true;
        in->i++;
        return -2;
    case 's':
        set_chars(set, SPACE);
        in->i++;
        return -2;
    case 'x': return read_hex(in);
    default: break;
    }
    int ctl = control_escape(x);
    if (ctl >= 0) {
        in->i++;
        return ctl;
    }
    if (x >= 0x80 || is_alnum(x))
        return re_fail(in, at, "this escape is not supported inside []");
    in->i++;
    return x;
}

/* A [] class at in->i (pointing at '['), written as a POSIX bracket. */
static int translate_class(struct re_in *in, struct sb *out)
{
    size_t open = in->i;
    bool set[128] = { false }, neg = false;
    in->i++;
    if (in->i < in->len && in->s[in->i] == '^') {
        neg = true;
        in->i++;
    }
    if (in->i < in->len && in->s[in->i] == ']')
        return re_fail(in, in->i, "a class cannot start with ']' (write \\])");
    for (;;) {
        if (in->i >= in->len)
            return re_fail(in, open, "unclosed '['");
        char c = in->s[in->i];
        if (c == ']') {
            in->i++;
            break;
        }
        if (c == '[')
            return re_fail(in, in->i, "nested classes are not supported");
        if (c == '&' && in->i + 1 < in->len && in->s[in->i + 1] == '&')
            return re_fail(in, in->i, "class intersection (&&) is not supported");
        size_t at = in->i;
        int lo = class_char(in, set);
        if (lo == -1)
            return -1;
        if (lo == -2)
            continue;
        if (in->i + 1 < in->len && in->s[in->i] == '-' && in->s[in->i + 1] != ']') {
            in->i++;
            int hi = class_char(in, set);
            if (hi == -1)
                return -1;
            if (hi == -2 || hi < lo)
                return re_fail(in, at, "illegal character range");
            set_range(set, lo, hi);
        } else {
            set[lo] = true;
        }
    }
    size_t count = 0;
    for (int c = 1; c < 128; c++)
        count += set[c];
    if (!count)
        return re_fail(in, open, "empty class");
    if (!neg && count == 1 && set['^']) {
        sb_puts(out, "\\^");
        return 0;
    }
    /*
     * POSIX brackets have no escapes: ']' only first, '-' first or last,
     * '^' anywhere but first, and '[' last of the plain members so that no
     * "[:", "[." or "[=" appears.
     */
    sb_putc(out, '[');
    if (neg)
        sb_putc(out, '^');
    bool dash_done = false;
    if (set[']'])
        sb_putc(out, ']');
    else if (set['-']) {
        sb_putc(out, '-');
        dash_done = true;
    }
    for (int c = 1; c < 128; c++)
        if (set[c] && c != ']' && c != '-' && c != '^' && c != '[')
            sb_putc(out, (char)c);
    if (set['['])
        sb_putc(out, '[');
    if (set['^'])
        sb_putc(out, '^');
    if (set['-'] && !dash_done)
        sb_putc(out, '-');
    sb_putc(out, ']');
    return 0;
}

static int quant_check(struct re_in *in, enum re_last last)
{
    switch (last) {
    case RL_ATOM: return 0;
    case RL_QUANT:
        return re_fail(in, in->i,
                       "a quantifier after a quantifier (lazy *? and possessive *+ forms are not supported)");
    case RL_WIDE: return re_fail(in, in->i, "a quantifier after a non-ASCII character is not supported");
    case RL_ANCHOR: return re_fail(in, in->i, "a quantifier after an anchor is not supported");
    default: return re_fail(in, in->i, "a quantifier with nothing to repeat");
    }
}

/* {n}, {n,} or {n,m} at in->i. */
static int translate_repeat(struct re_in *in, struct sb *out)
{
    size_t open = in->i;
    int n[2] = { -1, -1 };
    int k = 0;
    bool comma = false;
    in->i++;
    for (;;) {
        if (in->i >= in->len)
            return re_fail(in, open, "unclosed '{'");
        char c = in->s[in->i++];
        if (c >= '0' && c <= '9') {
            n[k] = (n[k] < 0 ? 0 : n[k]) * 10 + (c - '0');
            if (n[k] > A2L_MAX_REPEAT)
                return re_fail(in, open, "a repetition count above 255");
        } else if (c == ',' && !comma && n[0] >= 0) {
            comma = true;
            k = 1;
        } else if (c == '}' && n[0] >= 0) {
            break;
        } else {
            return re_fail(in, open, "a '{' that is not {n}, {n,} or {n,m}");
        }
    }
    if (comma && n[1] >= 0 && n[1] < n[0])
        return re_fail(in, open, "a repetition {n,m} with m below n");
    char tmp[32];
    if (!comma)
        snprintf(tmp, sizeof tmp, "{%d}", n[0]);
    else if (n[1] < 0)
        snprintf(tmp, sizeof tmp, "{%d,}", n[0]);
    else
        snprintf(tmp, sizeof tmp, "{%d,%d}", n[0], n[1]);
    sb_puts(out, tmp);
    return 0;
}

/* An escape outside [] at in->i (pointing at '\'). Sets *last. */
static int translate_escape(struct re_in *in, struct sb *out, enum re_last *last)
{
    size_t at = in->i;
    if (in->i + 1 >= in->len)
        return re_fail(in, at, "a '\\' ends the expression");
    unsigned char x = (unsigned char)in->s[in->i + 1];
    const char *cls = NULL;
    bool neg = false;
    switch (x) {
    case 'd': cls = DIGITS; break;
    case 'D':
        cls = DIGITS;
        neg = true;
        break;
    case 'w': cls = WORD; break;
    case 'W':
        cls = WORD;
        neg = true;
        break;
    case 's': cls = SPACE; break;
    case 'S':
        cls = SPACE;
        neg = true;
        break;
    default: break;
    }
    if (cls) {
        sb_puts(out, neg ? "[^" : "[");
        sb_puts(out, cls);
        sb_putc(out, ']');
        in->i += 2;
        *last = RL_ATOM;
        return 0;
    }
    if (x == 'Q') {
        /* Everything up to \E (or the end) stands for itself. */
        in->i += 2;
        while (in->i < in->len) {
            if (in->s[in->i] == '\\' && in->i + 1 < in->len && in->s[in->i + 1] == 'E') {
                in->i += 2;
                return 0;
            }
            unsigned char c = (unsigned char)in->s[in->i++];
            if (c >= 0x80) {
                sb_putc(out, (char)c);
                *last = RL_WIDE;
            } else {
                put_literal(out, c);
                *last = RL_ATOM;
            }
        }
        return 0;
    }
    if (x == 'x') {
        in->i++;
        int v = read_hex(in);
        if (v < 0)
            return -1;
        put_literal(out, (unsigned char)v);
        *last = RL_ATOM;
        return 0;
    }
    int ctl = control_escape(x);
    if (ctl >= 0) {
        sb_putc(out, (char)ctl);
        in->i += 2;
        *last = RL_ATOM;
        return 0;
    }
    if (x >= '1' && x <= '9')
        return re_fail(in, at, "back references are not supported");
    if (x >= 0x80 || is_alnum(x))
        return re_fail(in, at, "this escape is not supported (see auth_to_local.h for the supported subset)");
    put_literal(out, x);
    in->i += 2;
    *last = RL_ATOM;
    return 0;
}

/*
 * Translates the Java regex s[0..len) into POSIX ERE in out. Capturing
 * groups keep their numbers (no group is added or removed). Returns 0, or
 * -1 with *why and *at (offset in s) set.
 */
static int re_translate(const char *s, size_t len, struct sb *out, const char **why, size_t *at)
{
    struct re_in in = { .s = s, .len = len };
    enum re_last last = RL_NONE;
    int depth = 0;
    size_t open_at = 0;
    int rc = 0;
    while (in.i < in.len && rc == 0) {
        unsigned char c = (unsigned char)s[in.i];
        switch (c) {
        case '(':
            if (in.i + 1 < in.len && s[in.i + 1] == '?') {
                rc = re_fail(&in, in.i, "(?...) groups are not supported");
                break;
            }
            if (depth++ == 0)
                open_at = in.i;
            sb_putc(out, '(');
            in.i++;
            last = RL_NONE;
            break;
        case ')':
            if (depth == 0) {
                rc = re_fail(&in, in.i, "unmatched ')'");
                break;
            }
            depth--;
            sb_putc(out, ')');
            in.i++;
            last = RL_ATOM;
            break;
        case '|':
            sb_putc(out, '|');
            in.i++;
            last = RL_NONE;
            break;
        case '^':
        case '$':
            sb_putc(out, (char)c);
            in.i++;
            last = RL_ANCHOR;
            break;
        case '.':
            sb_puts(out, "[^\n\r]"); /* Java's . stops at line breaks */
            in.i++;
            last = RL_ATOM;
            break;
        case '*':
        case '+':
        case '?':
            if ((rc = quant_check(&in, last)) != 0)
                break;
            sb_putc(out, (char)c);
            in.i++;
            last = RL_QUANT;
            break;
        case '{':
            if ((rc = quant_check(&in, last)) != 0)
                break;
            rc = translate_repeat(&in, out);
            last = RL_QUANT;
            break;
        case '[':
            rc = translate_class(&in, out);
            last = RL_ATOM;
            break;
        case '\\': rc = translate_escape(&in, out, &last); break;
        default:
            if (c >= 0x80) {
                sb_putc(out, (char)c);
                last = RL_WIDE;
            } else {
                put_literal(out, c);
                last = RL_ATOM;
            }
            in.i++;
            break;
        }
    }
    if (rc == 0 && depth > 0)
        rc = re_fail(&in, open_at, "unclosed '('");
    if (rc == 0 && out->oom)
        rc = re_fail(&in, 0, "out of memory");
    if (rc) {
        *why = in.why;
        *at = in.at;
    }
    return rc;
}

/* Groups a replacement may refer to (regexec reports this many submatches). */
#define A2L_MAX_GROUPS 32

/*
 * Checks a replacement in Java's syntax against ngroups groups: every '$'
 * needs a digit naming an existing group (more digits join while the
 * number stays a group, as in Java), a '\' needs a character after it.
 * Returns 0 with the highest group referred to in *maxref, or -1 with
 * *why and *at.
 */
static int check_replacement(const char *to, size_t ngroups, size_t *maxref, const char **why, size_t *at)
{
    *maxref = 0;
    for (size_t i = 0; to[i]; i++) {
        if (to[i] == '\\') {
            if (!to[i + 1]) {
                *why = "a '\\' ends the replacement (Java: character to be escaped is missing)";
                *at = i;
                return -1;
            }
            i++;
        } else if (to[i] == '$') {
            char d = to[i + 1];
            if (d < '0' || d > '9') {
                *why = "a '$' in the replacement without a group number (Java: Illegal group reference)";
                *at = i;
                return -1;
            }
            size_t g = (size_t)(d - '0');
            if (g > ngroups) {
                *why = "the replacement names a group the pattern does not have (Java: No group)";
                *at = i;
                return -1;
            }
            i++;
            while (to[i + 1] >= '0' && to[i + 1] <= '9' && g * 10 + (size_t)(to[i + 1] - '0') <= ngroups)
                g = g * 10 + (size_t)(to[++i] - '0');
            if (g > A2L_MAX_GROUPS) {
                *why = "the replacement refers to a group above 32";
                *at = i;
                return -1;
            }
            if (g > *maxref)
                *maxref = g;
        }
    }
    return 0;
}

/* ---- the rules text ---- */

/* Java's \s: what may separate rules. */
static bool is_jspace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

static void free_rule(struct a2l_rule *r)
{
    if (r->has_match)
        regfree(&r->match_re);
    if (r->has_sed)
        regfree(&r->from_re);
    free(r->fmt);
    free(r->match_src);
    free(r->from_src);
    free(r->to);
}

void a2l_free(struct a2l_rules *rules)
{
    if (!rules)
        return;
    for (size_t i = 0; i < rules->n; i++)
        free_rule(&rules->rule[i]);
    free(rules);
}

size_t a2l_count(const struct a2l_rules *rules) { return rules ? rules->n : 0; }

/* Where offset `at` of text lies, as line and column (both from 1). */
static void position(const char *text, size_t at, unsigned *line, unsigned *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < at && text[i]; i++) {
        if (text[i] == '\n') {
            ++*line;
            *col = 1;
        } else {
            ++*col;
        }
    }
}

struct parse {
    const char *text;
    char *err;
    size_t errlen;
};

/* A parse error at offset `at`: line, column, what, and the text from there. */
static int perr(struct parse *ps, size_t at, const char *what)
{
    unsigned line, col;
    position(ps->text, at, &line, &col);
    size_t n = strcspn(ps->text + at, "\n");
    if (n > 40)
        n = 40;
    fr_errf(ps->err, ps->errlen, "auth_to_local: line %u, column %u: %s, at \"%.*s\"", line, col, what, (int)n,
            ps->text + at);
    return -1;
}

static char *dup_span(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

/*
 * The size of the translated expression once repetitions are expanded, as
 * regcomp builds it: a bounded {n,m} copies its atom m times, so nested
 * counts multiply ("((a{255}){255}){255}" takes gigabytes). Walks the ERE
 * this file writes (brackets start "[", "[^", "[]" or "[^]"); wrap is 1
 * when the source sits in the "^(...)$" of a match part. Returns NULL
 * when within A2L_MAX_COST and A2L_MAX_DEPTH, else why not.
 */
static const char *re_too_big(const char *ere, int wrap)
{
    size_t sum[A2L_MAX_DEPTH + 2] = { 0 }, last = 0;
    int d = 0;
    const char *p = ere;
    while (*p) {
        switch (*p) {
        case '(':
            if (++d > A2L_MAX_DEPTH + wrap)
                return "groups nested too deep";
            sum[d] = 0;
            last = 0;
            p++;
            break;
        case ')':
            last = sum[d] ? sum[d] : 1;
            sum[--d] += last;
            p++;
            break;
        case '|':
        case '^':
        case '$':
            last = 0;
            p++;
            break;
        case '*':
        case '?': p++; break;
        case '+':
            sum[d] += last;
            p++;
            break;
        case '{': {
            char *e;
            unsigned long n = strtoul(p + 1, &e, 10), m = n;
            if (*e == ',')
                m = e[1] == '}' ? n + 1 : strtoul(e + 1, &e, 10);
            p = strchr(p, '}') + 1;
            sum[d] += last * (m ? m - 1 : 0);
            break;
        }
        case '[':
            p++;
            if (*p == '^')
                p++;
            if (*p == ']')
                p++;
            p = strchr(p, ']') + 1;
            last = 1;
            sum[d]++;
            break;
        case '\\':
            p += 2;
            last = 1;
            sum[d]++;
            break;
        default:
            p++;
            last = 1;
            sum[d]++;
            break;
        }
        if (sum[d] > A2L_MAX_COST)
            return "the expression is too large once its repetitions are expanded";
    }
    return NULL;
}

/* Translates and compiles one regex of a rule; src_at is its offset in the text. */
static int compile_re(struct parse *ps, const char *src, size_t src_at, bool whole, regex_t *re, size_t *ngroups)
{
    struct sb ere = { 0 };
    const char *why = NULL;
    size_t at = 0;
    if (whole)
        sb_puts(&ere, "^(");
    if (re_translate(src, strlen(src), &ere, &why, &at) != 0) {
        free(ere.p);
        return perr(ps, src_at + at, why);
    }
    if (whole)
        sb_puts(&ere, ")$");
    if (ere.oom) {
        free(ere.p);
        return perr(ps, src_at, "out of memory");
    }
    const char *big = re_too_big(ere.p ? ere.p : "", whole ? 1 : 0);
    if (big) {
        free(ere.p);
        return perr(ps, src_at, big);
    }
    int rc = regcomp(re, ere.p ? ere.p : "", REG_EXTENDED | (whole ? REG_NOSUB : 0));
    free(ere.p);
    if (rc != 0) {
        char msg[128], what[192];
        regerror(rc, re, msg, sizeof msg);
        snprintf(what, sizeof what, "bad regular expression (%s)", msg);
        return perr(ps, src_at, what);
    }
    if (ngroups)
        *ngroups = re->re_nsub;
    return 0;
}

/*
 * One rule at *pos (white space already skipped), following the grammar of
 * KerberosName's rule pattern step by step: every optional part is taken
 * when it is complete, as the Java matcher's greedy first choice is.
 */
static int parse_rule(struct parse *ps, size_t *pos, struct a2l_rule *r)
{
    const char *t = ps->text;
    size_t p = *pos, start = p;
    if (strncmp(t + p, "DEFAULT", 7) == 0) {
        r->is_default = true;
        p += 7;
    } else if (strncmp(t + p, "RULE:[", 6) == 0) {
        p += 6;
        size_t d0 = p;
        long n = 0;
        while (t[p] >= '0' && t[p] <= '9') {
            n = n * 10 + (t[p] - '0');
            if (n > INT_MAX)
                return perr(ps, d0, "the component count is too large");
            p++;
        }
        if (p == d0)
            return perr(ps, d0, "expected the component count after \"RULE:[\"");
        if (t[p] != ':')
            return perr(ps, p, "expected ':' after the component count");
        r->ncomp = (int)n;
        size_t f0 = ++p;
        while (t[p] && t[p] != ']')
            p++;
        if (!t[p])
            return perr(ps, f0 - 1, "the format has no closing ']'");
        if (p - f0 > A2L_MAX_FIELD)
            return perr(ps, f0, "the format is too long");
        if (!(r->fmt = dup_span(t + f0, p - f0)))
            return perr(ps, f0, "out of memory");
        p++;
        if (t[p] == '(') {
            size_t m0 = p + 1, m1 = m0;
            while (t[m1] && t[m1] != ')')
                m1++;
            if (!t[m1])
                return perr(ps, p, "the match part has no closing ')' (it cannot contain one)");
            if (m1 - m0 > A2L_MAX_FIELD)
                return perr(ps, m0, "the match part is too long");
            if (!(r->match_src = dup_span(t + m0, m1 - m0)))
                return perr(ps, m0, "out of memory");
            if (compile_re(ps, r->match_src, m0, true, &r->match_re, NULL) != 0)
                return -1;
            r->has_match = true;
            p = m1 + 1;
        }
        if (t[p] == 's' && t[p + 1] == '/') {
            size_t a0 = p + 2, a1 = a0;
            while (t[a1] && t[a1] != '/')
                a1++;
            size_t b0 = a1 + 1, b1 = b0;
            if (t[a1])
                while (t[b1] && t[b1] != '/')
                    b1++;
            if (!t[a1] || !t[b1])
                return perr(ps, p, "incomplete s/from/to/ part (from and to cannot contain '/')");
            if (a1 - a0 > A2L_MAX_FIELD || b1 - b0 > A2L_MAX_FIELD)
                return perr(ps, p, "the s/from/to/ part is too long");
            if (!(r->from_src = dup_span(t + a0, a1 - a0)) || !(r->to = dup_span(t + b0, b1 - b0)))
                return perr(ps, p, "out of memory");
            if (compile_re(ps, r->from_src, a0, false, &r->from_re, &r->from_ngroups) != 0)
                return -1;
            r->has_sed = true;
            const char *why;
            size_t at;
            if (check_replacement(r->to, r->from_ngroups, &r->to_maxref, &why, &at) != 0)
                return perr(ps, b0 + at, why);
            p = b1 + 1;
            if (t[p] == 'g') {
                r->global = true;
                p++;
            }
        }
    } else {
        return perr(ps, start, "expected DEFAULT or RULE:[n:fmt]");
    }
    /* The tail every rule may carry: an optional '/', then an optional L. */
    if (t[p] == '/')
        p++;
    if (t[p] == 'L') {
        r->lower = !r->is_default; /* Hadoop drops /L on DEFAULT */
        p++;
    }
    *pos = p;
    return 0;
}

struct a2l_rules *a2l_parse(const char *text, char *err, size_t errlen)
{
    if (!text)
        text = "DEFAULT";
    size_t len = strlen(text);
    if (len > A2L_MAX_TEXT) {
        fr_errf(err, errlen, "auth_to_local: the rules text is longer than %d bytes", A2L_MAX_TEXT);
        return NULL;
    }
    struct parse ps = { .text = text, .err = err, .errlen = errlen };
    struct a2l_rules *rules = calloc(1, sizeof *rules + A2L_MAX_RULES * sizeof(struct a2l_rule));
    if (!rules) {
        fr_errf(err, errlen, "auth_to_local: out of memory");
        return NULL;
    }
    /* Like Hadoop: trim the ends (every byte up to ' '), then \s between rules. */
    size_t end = len;
    while (end > 0 && (unsigned char)text[end - 1] <= ' ')
        end--;
    size_t p = 0;
    while (p < end && (unsigned char)text[p] <= ' ')
        p++;
    while (p < end) {
        if (rules->n == A2L_MAX_RULES) {
            perr(&ps, p, "more than 256 rules");
            goto fail;
        }
        struct a2l_rule *r = &rules->rule[rules->n];
        int rc = parse_rule(&ps, &p, r);
        rules->n++; /* a half-parsed rule is freed with the rest */
        if (rc != 0)
            goto fail;
        if (p > end) {
            /* A rule ran into the trimmed tail: only possible with trailing controls. */
            perr(&ps, end, "unexpected end of the rules");
            goto fail;
        }
        while (p < end && is_jspace(text[p]))
            p++;
    }
    struct a2l_rules *shrunk = realloc(rules, sizeof *rules + rules->n * sizeof(struct a2l_rule));
    return shrunk ? shrunk : rules;
fail:
    a2l_free(rules);
    return NULL;
}

int a2l_rule_string(const struct a2l_rules *rules, size_t i, char *out, size_t outlen)
{
    if (!rules || i >= rules->n)
        return -1;
    const struct a2l_rule *r = &rules->rule[i];
    int n;
    if (r->is_default) {
        n = snprintf(out, outlen, "DEFAULT");
    } else {
        n = snprintf(out, outlen, "RULE:[%d:%s]%s%s%s%s%s%s%s%s%s", r->ncomp, r->fmt, r->has_match ? "(" : "",
                     r->has_match ? r->match_src : "", r->has_match ? ")" : "", r->has_sed ? "s/" : "",
                     r->has_sed ? r->from_src : "", r->has_sed ? "/" : "", r->has_sed ? r->to : "",
                     r->has_sed ? (r->global ? "/g" : "/") : "", r->lower ? "/L" : "");
    }
    if (n < 0 || (size_t)n >= outlen)
        return -1;
    return n;
}

/* ---- mapping ---- */

struct principal {
    const char *params[3]; /* realm ("null" when absent), service, host */
    size_t plen[3];
    size_t nparams; /* 2 without a host, 3 with one */
    bool has_realm;
};

/*
 * Splits name[/host][@realm] as KerberosName's pattern does (each part at
 * least one character, none holding '/' or '@'). Returns 1 when it fits, 0
 * when it does not.
 */
static int split_principal(const char *s, struct principal *pr)
{
    size_t a = strcspn(s, "/@");
    if (a == 0)
        return 0;
    pr->params[1] = s;
    pr->plen[1] = a;
    pr->nparams = 2;
    const char *p = s + a;
    if (*p == '/') {
        size_t h = strcspn(p + 1, "/@");
        if (h == 0)
            return 0;
        pr->params[2] = p + 1;
        pr->plen[2] = h;
        pr->nparams = 3;
        p += 1 + h;
    }
    pr->has_realm = false;
    pr->params[0] = "null";
    pr->plen[0] = 4;
    if (*p == '@') {
        size_t r = strcspn(p + 1, "/@");
        if (r == 0 || p[1 + r])
            return 0;
        pr->params[0] = p + 1;
        pr->plen[0] = r;
        pr->has_realm = true;
        p += 1 + r;
    }
    return *p == 0;
}

/* Expands fmt with $n (KerberosName.replaceParameters). Returns 0 or A2L_BAD_FORMAT / A2L_TOO_LONG. */
static int expand_fmt(const char *fmt, const struct principal *pr, struct fb *out, char *err, size_t errlen)
{
    const char *p = fmt;
    while (*p) {
        size_t lit = strcspn(p, "$");
        fb_putn(out, p, lit);
        p += lit;
        if (!*p)
            break;
        const char *d = ++p;
        while (*p >= '0' && *p <= '9')
            p++;
        size_t nd = (size_t)(p - d);
        /* Integer.parseInt: an empty or an out-of-int number fails. */
        long long num = 0;
        bool bad = nd == 0;
        for (size_t k = 0; k < nd && !bad; k++) {
            num = num * 10 + (d[k] - '0');
            if (num > INT_MAX)
                bad = true;
        }
        if (bad) {
            fr_errf(err, errlen, "bad format in username mapping in %.*s", (int)nd, d);
            return A2L_BAD_FORMAT;
        }
        if ((size_t)num >= pr->nparams) {
            fr_errf(err, errlen, "index %lld from %s is outside of the valid range 0 to %zu", num, fmt,
                    pr->nparams - 1);
            return A2L_BAD_FORMAT;
        }
        fb_putn(out, pr->params[num], pr->plen[num]);
    }
    return out->over ? A2L_TOO_LONG : 0;
}

/* Appends the Java-syntax replacement `to` for the match in m (base is the subject). */
static void put_replacement(struct fb *out, const char *to, const char *base, const regmatch_t *m, size_t ngroups,
                            size_t nfilled)
{
    for (const char *p = to; *p; p++) {
        if (*p == '\\' && p[1]) {
            fb_putn(out, ++p, 1);
        } else if (*p == '$' && p[1] >= '0' && p[1] <= '9') {
            /* Java reads one digit, then more while the number stays a group. */
            size_t g = (size_t)(*++p - '0');
            while (p[1] >= '0' && p[1] <= '9' && g * 10 + (size_t)(p[1] - '0') <= ngroups)
                g = g * 10 + (size_t)(*++p - '0');
            if (g <= nfilled && m[g].rm_so >= 0)
                fb_putn(out, base + m[g].rm_so, (size_t)(m[g].rm_eo - m[g].rm_so));
        } else {
            fb_putn(out, p, 1);
        }
    }
}

/* Matcher.replaceFirst / replaceAll on base, with Java's stepping over empty matches. */
static int substitute(const struct a2l_rule *r, const char *base, size_t blen, struct fb *out)
{
    regmatch_t m[A2L_MAX_GROUPS + 1];
    size_t ng = r->to_maxref; /* the submatches the replacement uses */
    size_t from = 0, copied = 0;
    while (from <= blen) {
        int rc = regexec(&r->from_re, base + from, ng + 1, m, from > 0 ? REG_NOTBOL : 0);
        if (rc == REG_NOMATCH)
            break;
        if (rc != 0)
            return A2L_ERROR;
        for (size_t g = 0; g <= ng; g++) {
            if (m[g].rm_so >= 0) {
                m[g].rm_so += (regoff_t)from;
                m[g].rm_eo += (regoff_t)from;
            }
        }
        size_t ms = (size_t)m[0].rm_so, me = (size_t)m[0].rm_eo;
        fb_putn(out, base + copied, ms - copied);
        put_replacement(out, r->to, base, m, r->from_ngroups, ng);
        copied = me;
        if (!r->global || out->over)
            break;
        from = me == ms ? me + 1 : me;
    }
    fb_putn(out, base + copied, blen - copied);
    return out->over ? A2L_TOO_LONG : 0;
}

/*
 * Rule.apply: the name this rule gives (in out, returns 1), no name
 * (returns 0), or an error (negative).
 */
static int apply_rule(const struct a2l_rules *rules, size_t idx, const struct principal *pr, const char *default_realm,
                      struct fb *out, char *err, size_t errlen)
{
    const struct a2l_rule *r = &rules->rule[idx];
    out->n = 0;
    out->over = false;
    out->p[0] = 0;
    if (r->is_default) {
        if (!pr->has_realm || strlen(default_realm) != pr->plen[0] ||
            memcmp(default_realm, pr->params[0], pr->plen[0]) != 0)
            return 0;
        fb_putn(out, pr->params[1], pr->plen[1]);
    } else {
        if ((size_t)r->ncomp != pr->nparams - 1)
            return 0;
        char basebuf[A2L_MAX_NAME + 1];
        struct fb base = { .p = basebuf, .cap = sizeof basebuf };
        basebuf[0] = 0;
        int rc = expand_fmt(r->fmt, pr, &base, err, errlen);
        if (rc == A2L_TOO_LONG)
            fr_errf(err, errlen, "the name formatted by an auth_to_local rule is longer than %d bytes", A2L_MAX_NAME);
        if (rc)
            return rc;
        if (r->has_match) {
            rc = regexec(&r->match_re, basebuf, 0, NULL, 0);
            if (rc == REG_NOMATCH)
                return 0;
            if (rc != 0) {
                fr_errf(err, errlen, "auth_to_local: regular expression failed");
                return A2L_ERROR;
            }
        }
        if (r->has_sed) {
            rc = substitute(r, basebuf, base.n, out);
            if (rc == A2L_TOO_LONG)
                fr_errf(err, errlen, "the name made by an auth_to_local rule is longer than %d bytes", A2L_MAX_NAME);
            else if (rc)
                fr_errf(err, errlen, "auth_to_local: regular expression failed");
            if (rc)
                return rc;
        } else {
            fb_putn(out, basebuf, base.n);
        }
    }
    if (out->over) {
        fr_errf(err, errlen, "the name made by an auth_to_local rule is longer than %d bytes", A2L_MAX_NAME);
        return A2L_TOO_LONG;
    }
    if (strpbrk(out->p, "/@")) {
        char rs[4 * A2L_MAX_FIELD + 64];
        if (a2l_rule_string(rules, idx, rs, sizeof rs) < 0)
            snprintf(rs, sizeof rs, "#%zu", idx + 1);
        fr_errf(err, errlen, "Non-simple name %s after auth_to_local rule %s", out->p, rs);
        return A2L_NON_SIMPLE;
    }
    if (r->lower)
        for (char *c = out->p; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
    return 1;
}

int a2l_short_name(const struct a2l_rules *rules, const char *principal, const char *default_realm, char *out,
                   size_t outlen, char *err, size_t errlen)
{
    if (!default_realm)
        default_realm = "";
    if (!out || !outlen) {
        fr_errf(err, errlen, "auth_to_local: no room for the name");
        return A2L_TOO_LONG;
    }
    out[0] = 0;
    size_t plen = strlen(principal);
    if (plen > A2L_MAX_NAME) {
        fr_errf(err, errlen, "Kerberos name longer than %d bytes", A2L_MAX_NAME);
        return A2L_TOO_LONG;
    }
    struct principal pr;
    const char *simple = NULL;
    if (!split_principal(principal, &pr)) {
        if (strchr(principal, '@')) {
            fr_errf(err, errlen, "Malformed Kerberos name: %s", principal);
            return A2L_MALFORMED;
        }
        simple = principal; /* Hadoop keeps the whole text as the service name */
    } else if (pr.nparams == 2 && !pr.has_realm) {
        simple = principal;
    }
    if (simple) {
        if (plen + 1 > outlen) {
            fr_errf(err, errlen, "auth_to_local: the name does not fit in %zu bytes", outlen);
            return A2L_TOO_LONG;
        }
        memcpy(out, simple, plen + 1);
        return A2L_OK;
    }
    char resbuf[A2L_MAX_NAME + 1];
    struct fb res = { .p = resbuf, .cap = sizeof resbuf };
    /* No rule set at all: Hadoop falls back to DEFAULT. */
    if (!rules && pr.has_realm && strlen(default_realm) == pr.plen[0] &&
        memcmp(default_realm, pr.params[0], pr.plen[0]) == 0) {
        if (pr.plen[1] + 1 > outlen) {
            fr_errf(err, errlen, "auth_to_local: the name does not fit in %zu bytes", outlen);
            return A2L_TOO_LONG;
        }
        memcpy(out, pr.params[1], pr.plen[1]);
        out[pr.plen[1]] = 0;
        return A2L_OK;
    }
    for (size_t i = 0; rules && i < rules->n; i++) {
        int rc = apply_rule(rules, i, &pr, default_realm, &res, err, errlen);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            if (res.n + 1 > outlen) {
                fr_errf(err, errlen, "auth_to_local: the name does not fit in %zu bytes", outlen);
                return A2L_TOO_LONG;
            }
            memcpy(out, resbuf, res.n + 1);
            return A2L_OK;
        }
    }
    fr_errf(err, errlen, "No rules applied to %s", principal);
    return A2L_NO_RULE;
}
