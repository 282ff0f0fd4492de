/*
 * auth_to_local: Kerberos principal -> short user name, with the rules of
 * Hadoop's `hadoop.security.auth_to_local` (the "hadoop" rule mechanism,
 * Hadoop's default), as KerberosName.getShortName applies them.
 *
 *   rules text ---a2l_parse()---> struct a2l_rules (immutable, shareable)
 *   "nn/host@REALM" ---a2l_short_name(rules, default realm)---> "hdfs"
 *
 * The rules text
 * --------------
 * Rules follow each other, separated by any white space (none is needed),
 * and are tried in order; the first that gives a name wins:
 *
 *   DEFAULT
 *       A principal of the default realm maps to its first component
 *       ("alice@R" and "nn/host@R" -> "alice", "nn"); other realms do not.
 *   RULE:[n:fmt](match)s/from/to/g/L
 *       Applies to principals with exactly n components (1: "a@R",
 *       2: "a/b@R"). fmt builds a string where $0 is the realm, $1 the first
 *       component and $2 the second ("$1@$0"). When the (match) regex
 *       matches that whole string (or there is no match part), the optional
 *       sed part replaces the first match of `from` by `to` (every match with
 *       g), and the result is the name. /L (or a bare L) lowercases it.
 *       The match part cannot contain ')', from and to cannot contain '/'
 *       (Hadoop's grammar has no escapes for them either).
 *
 * How a principal maps (Hadoop's behaviour, kept on purpose)
 * ----------------------------------------------------------
 * - "name" with neither host nor realm is already short: returned as is,
 *   without looking at the rules. A text that does not parse as
 *   name[/host][@REALM] and holds no '@' (say "a/b/c") counts as such a
 *   name too; one with an '@' is "Malformed Kerberos name: <principal>".
 * - "name/host" without a realm has realm "null" for $0 (Java string
 *   concatenation of a null), and never matches DEFAULT.
 * - A name made by a rule that holds '/' or '@' is an error:
 *   "Non-simple name <result> after auth_to_local rule <rule>" (checked
 *   before /L lowercases it).
 * - When no rule gives a name: "No rules applied to <principal>".
 * - A '$' in fmt must be followed by digits: "$x" is "bad format in username
 *   mapping in <digits>", "$7" is "index 7 from <fmt> is outside of the
 *   valid range 0 to <n>". Both only when the rule's component count fits.
 * - NULL rules text (a2l_parse) or a NULL rule set (a2l_short_name) means
 *   what Hadoop uses when the key is unset: "DEFAULT".
 *   An empty text means no rules (every principal with a realm fails).
 *
 * Regular expressions
 * -------------------
 * Hadoop compiles `match` and `from` with java.util.regex. Here they are
 * translated to POSIX extended syntax (regcomp, REG_EXTENDED) with a subset
 * that keeps Java's meaning, and anything outside it is refused when the
 * rules are parsed, never silently read another way:
 *   supported: literals, . (not matching \n or \r, as in Java), [] classes
 *     with ranges, ^ inside for negation, escapes \d \w \s in them, ^ $ |
 *     ( ) groups (nested up to 32 deep), * + ? {n} {n,} {n,m} (greedy,
 *     counts up to 255, and at most 10000 positions once nested counts are
 *     multiplied out, which keeps regcomp small), escaped
 *     punctuation (\. \@ \$ ...), \t \n \r \f \a \e \xhh (ASCII), \d \D \w
 *     \W \s \S, \Q...\E quoting.
 *   refused: (?...) groups (non-capturing, look-around, flags, names),
 *     lazy (*?) and possessive (*+) quantifiers, back references, \b \B \A
 *     \z \Z \G \p{..} \u \c and other escapes, nested classes and && in [],
 *     a ']' first in a class (write \]),
 *     non-ASCII bytes inside [] or before a quantifier.
 * Remaining differences: Java's $ also matches before a final line break;
 * POSIX picks the longest match at the leftmost position where Java takes
 * the first alternative that succeeds, so "s/a|ab/x/" on "ab" gives "x" here
 * and "xb" in Hadoop (whole-string matching of the (match) part is the
 * same); non-ASCII text is compared byte by byte; /L lowercases ASCII only.
 * The `to` part follows Java's replacement syntax: $1..$9 (more digits when
 * the group exists; group 32 at most) insert a group, \x inserts x
 * literally. A reference to a missing group, a '$' without a digit and a
 * trailing '\' are refused at parse time (Hadoop would fail on the first
 * principal the rule applies to).
 *
 * Thread safety: a parsed rule set is read-only; any number of threads may
 * map names with it at once (regexec is reentrant).
 */
#ifndef FR_AUTH_TO_LOCAL_H
#define FR_AUTH_TO_LOCAL_H

#include <stddef.h>

#define A2L_MAX_TEXT 65536 /* longest rules text, bytes */
#define A2L_MAX_RULES 256  /* rules in one text */
#define A2L_MAX_FIELD 1024 /* longest fmt, match, from or to, bytes */
#define A2L_MAX_REPEAT 255 /* largest {n,m} count in a regex */
#define A2L_MAX_COST 10000 /* positions of a regex once repetitions are expanded */
#define A2L_MAX_DEPTH 32   /* nested groups in a regex */
#define A2L_MAX_NAME 1024  /* longest principal, formatted string or result, bytes */

/* Results of a2l_short_name(); the error message says the same in Hadoop's words. */
enum a2l_rc {
    A2L_OK = 0,
    A2L_NO_RULE = -1,    /* "No rules applied to ..." (KerberosName.NoMatchingRule) */
    A2L_NON_SIMPLE = -2, /* "Non-simple name ... after auth_to_local rule ..." (NoMatchingRule) */
    A2L_BAD_FORMAT = -3, /* a $ in fmt that cannot be expanded (KerberosName.BadFormatString) */
    A2L_MALFORMED = -4,  /* "Malformed Kerberos name: ..." (IllegalArgumentException) */
    A2L_TOO_LONG = -5,   /* a principal or a result longer than A2L_MAX_NAME, or `out` too small */
    A2L_ERROR = -6,      /* regexec failed (out of memory) */
};

struct a2l_rules;

/*
 * Parses a rules text (NULL = "DEFAULT"). Returns the rule set, or NULL with
 * a message naming the line, the column and what was wrong in err (err may
 * be NULL). Free with a2l_free().
 */
struct a2l_rules *a2l_parse(const char *text, char *err, size_t errlen);

void a2l_free(struct a2l_rules *rules);

/* Number of rules in the set. */
size_t a2l_count(const struct a2l_rules *rules);

/*
 * Writes rule i back in Hadoop's canonical form (as KerberosName prints
 * rules, the form its error messages quote) into out. Returns the length, or
 * -1 when i is out of range or out is too small.
 */
int a2l_rule_string(const struct a2l_rules *rules, size_t i, char *out, size_t outlen);

/*
 * Maps principal to its short name, written NUL-terminated to out.
 * default_realm is the realm DEFAULT accepts (NULL counts as "", as when
 * Hadoop finds no krb5 configuration). Returns A2L_OK, or a negative
 * enum a2l_rc with Hadoop's message in err (err may be NULL).
 */
int a2l_short_name(const struct a2l_rules *rules, const char *principal, const char *default_realm, char *out,
                   size_t outlen, char *err, size_t errlen);

#endif
