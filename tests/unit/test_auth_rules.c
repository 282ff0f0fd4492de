/*
 * test_auth_rules: auth/auth_to_local and auth/proxyuser against the
 * expectations of Hadoop's own tests, plus the corners Hadoop's grammar and
 * messages imply.
 *
 * Taken from Hadoop (the expected values are theirs):
 *   TestKerberosName.testRules        the five-rule set, six principals
 *   TestKerberosName.testAntiPatterns "owen/owen/owen@FOO.COM" and
 *                                     "owen@foo/bar.com" are malformed;
 *                                     "foo@ACME.COM", "root/joe@FOO.COM" map
 *                                     to nothing (the "hadoop" mechanism)
 *   TestKerberosName.testParsing      the three shapes of HTTP/abc.com@EXAMPLE.COM
 *   TestKerberosName.testToLowerCase  /L after a rule, a sed part and g
 *   TestProxyUsers                    testProxyUsers, testProxyUsersWithUserConf,
 *                                     testWildcardGroup, testWildcardUser,
 *                                     testWildcardIP, testIPRange,
 *                                     testWithDuplicateProxyHosts
 *   TestMachineList                   testWildCard, testIPList, testIPListSpaces,
 *                                     testCIDRs, testCIDRWith16bitmask,
 *                                     testCIDRWith8BitMask, testInvalidCIDR,
 *                                     testIPandCIDRs, testHostNameIPandCIDRs
 *                                     (names matched as text, see proxyuser.h)
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_to_local.h"
#include "check.h"
#include "proxyuser.h"

/* ---- auth_to_local ---- */

struct map_case {
    const char *principal;
    int rc;             /* A2L_OK or the error */
    const char *expect; /* the name, or the whole error message */
};

static void run_map(const char *rules_text, const char *realm, const struct map_case *c, size_t n)
{
    char err[512];
    struct a2l_rules *rules = a2l_parse(rules_text, err, sizeof err);
    CHECK(rules != NULL);
    if (!rules) {
        fprintf(stderr, "parse failed: %s\n", err);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char out[A2L_MAX_NAME + 1];
        err[0] = 0;
        int rc = a2l_short_name(rules, c[i].principal, realm, out, sizeof out, err, sizeof err);
        const char *got = rc == A2L_OK ? out : err;
        bool ok = rc == c[i].rc && strcmp(got, c[i].expect) == 0;
        CHECK(ok);
        if (!ok)
            fprintf(stderr, "  %s -> %d \"%s\" (want %d \"%s\")\n", c[i].principal, rc, got, c[i].rc, c[i].expect);
    }
    a2l_free(rules);
}

/* TestKerberosName.setUp's rules (the Java literal "\\." is the regex \.). */
static const char HADOOP_RULES[] = "RULE:[1:$1@$0](.*@YAHOO\\.COM)s/@.*//\n"
                                   "RULE:[2:$1](johndoe)s/^.*$/guest/\n"
                                   "RULE:[2:$1;$2](^.*;admin$)s/;admin$//\n"
                                   "RULE:[2:$2](root)\n"
                                   "DEFAULT";

static void test_hadoop_rules(void)
{
    static const struct map_case c[] = {
        /* testRules */
        { "omalley@EXAMPLE.COM", A2L_OK, "omalley" },
        { "hdfs/10.0.0.1@EXAMPLE.COM", A2L_OK, "hdfs" },
        { "oom@YAHOO.COM", A2L_OK, "oom" },
        { "johndoe/zoo@FOO.COM", A2L_OK, "guest" },
        { "joe/admin@FOO.COM", A2L_OK, "joe" },
        { "joe/root@FOO.COM", A2L_OK, "root" },
        /* testAntiPatterns */
        { "owen/owen/owen@FOO.COM", A2L_MALFORMED, "Malformed Kerberos name: owen/owen/owen@FOO.COM" },
        { "owen@foo/bar.com", A2L_MALFORMED, "Malformed Kerberos name: owen@foo/bar.com" },
        { "foo@ACME.COM", A2L_NO_RULE, "No rules applied to foo@ACME.COM" },
        { "root/joe@FOO.COM", A2L_NO_RULE, "No rules applied to root/joe@FOO.COM" },
        /* testParsing's shapes: no realm means no DEFAULT and $0 = "null" */
        { "HTTP/abc.com@EXAMPLE.COM", A2L_OK, "HTTP" },
        { "HTTP/abc.com", A2L_NO_RULE, "No rules applied to HTTP/abc.com" },
        { "HTTP@EXAMPLE.COM", A2L_OK, "HTTP" },
        /* simple names stay as they are, without the rules */
        { "alice", A2L_OK, "alice" },
        { "a/b/c", A2L_OK, "a/b/c" },
        { "", A2L_OK, "" },
        { "a/", A2L_OK, "a/" },
        { "@EXAMPLE.COM", A2L_MALFORMED, "Malformed Kerberos name: @EXAMPLE.COM" },
        { "a@", A2L_MALFORMED, "Malformed Kerberos name: a@" },
        { "a/@EXAMPLE.COM", A2L_MALFORMED, "Malformed Kerberos name: a/@EXAMPLE.COM" },
        { "a@B@C", A2L_MALFORMED, "Malformed Kerberos name: a@B@C" },
    };
    run_map(HADOOP_RULES, "EXAMPLE.COM", c, sizeof c / sizeof c[0]);
}

static void test_lower_case(void)
{
    /* testToLowerCase */
    static const char rules[] = "RULE:[1:$1]/L\n"
                                "RULE:[2:$1]/L\n"
                                "RULE:[2:$1;$2](^.*;admin$)s/;admin$///L\n"
                                "RULE:[2:$1;$2](^.*;guest$)s/;guest$//g/L\n"
                                "DEFAULT";
    static const struct map_case c[] = {
        { "Joe@FOO.COM", A2L_OK, "joe" },
        { "Joe/root@FOO.COM", A2L_OK, "joe" },
        { "Joe/admin@FOO.COM", A2L_OK, "joe" },
        { "Joe/guestguest@FOO.COM", A2L_OK, "joe" },
    };
    run_map(rules, "EXAMPLE.COM", c, sizeof c / sizeof c[0]);

    /* The sed rules alone, reached: g replaces every match, /L lowercases after. */
    static const char sed[] = "RULE:[2:$1;$2](^.*;admin$)s/;admin$///L "
                              "RULE:[2:$1;$2](^.*;guest$)s/;guest$//g/L "
                              "RULE:[1:$1](X.*)s/X/y/g "
                              "RULE:[1:$1](Z.*)s/Z/y/";
    static const struct map_case c2[] = {
        { "Joe/admin@FOO.COM", A2L_OK, "joe" },
        { "Joe/guest@FOO.COM", A2L_OK, "joe" },
        /* in testToLowerCase this one is caught by RULE:[2:$1]/L: (^.*;guest$) wants one "guest" */
        { "Joe/guestguest@FOO.COM", A2L_NO_RULE, "No rules applied to Joe/guestguest@FOO.COM" },
        { "XaXbX@R", A2L_OK, "yayby" },
        { "ZaZbZ@R", A2L_OK, "yaZbZ" },
        { "Joe/root@FOO.COM", A2L_NO_RULE, "No rules applied to Joe/root@FOO.COM" },
    };
    run_map(sed, "EXAMPLE.COM", c2, sizeof c2 / sizeof c2[0]);
}

static void test_default_realm(void)
{
    static const struct map_case c[] = {
        { "alice@EXAMPLE.COM", A2L_OK, "alice" },
        { "nn/host.example.com@EXAMPLE.COM", A2L_OK, "nn" },
        { "alice@OTHER.COM", A2L_NO_RULE, "No rules applied to alice@OTHER.COM" },
        { "alice@example.com", A2L_NO_RULE, "No rules applied to alice@example.com" },
    };
    run_map("DEFAULT", "EXAMPLE.COM", c, sizeof c / sizeof c[0]);
    run_map(NULL, "EXAMPLE.COM", c, sizeof c / sizeof c[0]); /* unset = DEFAULT */

    /* No default realm: "" (Hadoop without a krb5 configuration). */
    static const struct map_case c2[] = {
        { "alice@EXAMPLE.COM", A2L_NO_RULE, "No rules applied to alice@EXAMPLE.COM" },
    };
    run_map("DEFAULT", NULL, c2, 1);

    /* An empty text is no rules at all. */
    run_map("", "EXAMPLE.COM", c2, 1);
    run_map(" \n\t ", "EXAMPLE.COM", c2, 1);

    /* A NULL rule set behaves as DEFAULT. */
    char out[64], err[256];
    CHECK(a2l_short_name(NULL, "bob@EXAMPLE.COM", "EXAMPLE.COM", out, sizeof out, err, sizeof err) == A2L_OK &&
          strcmp(out, "bob") == 0);
    CHECK(a2l_short_name(NULL, "bob@X", "EXAMPLE.COM", out, sizeof out, err, sizeof err) == A2L_NO_RULE &&
          strcmp(err, "No rules applied to bob@X") == 0);
}

static void test_rule_semantics(void)
{
    /* Component counts, $0/$1/$2, the "null" realm, full-string matching. */
    static const char rules[] = "RULE:[1:$1@$0](.*@SALES\\.EXAMPLE\\.COM)s/@.*//\n"
                                "RULE:[2:$1@$0](nn@EXAMPLE\\.COM)s/.*/hdfs/\n"
                                "RULE:[2:$2-$1]\n"
                                "RULE:[1:x$1x](xab)\n"
                                "RULE:[1:pre-$1]";
    static const struct map_case c[] = {
        { "carol@SALES.EXAMPLE.COM", A2L_OK, "carol" },
        { "nn/h1@EXAMPLE.COM", A2L_OK, "hdfs" },
        { "dn/h1@EXAMPLE.COM", A2L_OK, "h1-dn" },
        { "dn/h1", A2L_OK, "h1-dn" },
        { "ab@R", A2L_OK, "pre-ab" }, /* (xab) must match the whole "xabx" */
        { "a@R", A2L_OK, "pre-a" },
    };
    run_map(rules, "EXAMPLE.COM", c, sizeof c / sizeof c[0]);

    static const struct map_case c2[] = {
        { "svc/h@R", A2L_OK, "svc_null_h" }, /* realm present */
        { "svc/h", A2L_OK, "svc_null_h" },   /* $0 of no realm is "null" */
    };
    run_map("RULE:[2:$1_null_$2](.*)", "R", c2, 2);
    static const struct map_case c3[] = {
        { "svc/h", A2L_OK, "null" },
        { "svc/h@R", A2L_OK, "R" },
    };
    run_map("RULE:[2:$0]", "R", c3, 2);

    /* Non-simple results (checked before /L), with the rule quoted as Hadoop prints it. */
    static const struct map_case c4[] = {
        { "bob@EXAMPLE.COM", A2L_NON_SIMPLE,
          "Non-simple name bob@EXAMPLE.COM after auth_to_local rule RULE:[1:$1@$0]" },
        { "nn/h@EXAMPLE.COM", A2L_NON_SIMPLE,
          "Non-simple name NN/h after auth_to_local rule RULE:[2:$1/$2](.*)s/n/N/g/L" },
    };
    run_map("RULE:[1:$1@$0] RULE:[2:$1/$2](.*)s/n/N/g/L", "EXAMPLE.COM", c4, 2);

    /* Format errors only when the component count fits. */
    static const struct map_case c5[] = {
        { "a@R", A2L_BAD_FORMAT, "index 2 from $2 is outside of the valid range 0 to 1" },
        { "a/b@R", A2L_OK, "b" },
    };
    run_map("RULE:[1:$2] RULE:[2:$2]", "R", c5, 2);
    static const struct map_case c6[] = {
        { "a@R", A2L_BAD_FORMAT, "bad format in username mapping in " },
        { "a/b@R", A2L_BAD_FORMAT, "bad format in username mapping in 99999999999" },
    };
    run_map("RULE:[1:$x] RULE:[2:$99999999999]", "R", c6, 2);
    static const struct map_case c7[] = {
        { "a@R", A2L_BAD_FORMAT, "index 7 from x$007 is outside of the valid range 0 to 1" },
        { "a/b@R", A2L_OK, "ba" },
    };
    run_map("RULE:[1:x$007] RULE:[2:$02$01]", "R", c7, 2);

    /* A rule with 0 or 3 components never applies. */
    static const struct map_case c8[] = {
        { "a@R", A2L_NO_RULE, "No rules applied to a@R" },
    };
    run_map("RULE:[0:x] RULE:[3:$1]", "R", c8, 1);
}

static void test_substitution(void)
{
    /* Java's replaceAll stepping over empty matches: "baaac".replaceAll("a*", "-") is "-b--c-". */
    static const struct map_case c[] = {
        { "baaac@R", A2L_OK, "-b--c-" },
    };
    run_map("RULE:[1:$1]s/a*/-/g", "R", c, 1);
    static const struct map_case c1[] = {
        { "baaac@R", A2L_OK, "-baaac" },
    };
    run_map("RULE:[1:$1]s/a*/-/", "R", c1, 1);
    static const struct map_case c1b[] = {
        { "abc@R", A2L_OK, "Xabc" },
    };
    run_map("RULE:[1:$1]s//X/", "R", c1b, 1);

    /* Groups in the replacement, \-escapes, multi-digit references. */
    static const struct map_case c2[] = {
        { "john.smith@CORP", A2L_OK, "smith_john$" },
    };
    run_map("RULE:[1:$1](.*\\..*)s/([a-z]+)\\.([a-z]+)/$2_$1\\$/", "R", c2, 1);
    static const struct map_case c3[] = {
        { "abcdefghijk@R", A2L_OK, "k0" }, /* $10 is group 1 then "0": one group only */
    };
    run_map("RULE:[1:$1]s/.*(k)/$10/", "R", c3, 1);
    static const struct map_case c4[] = {
        { "abcdefghijk@R", A2L_OK, "j" }, /* eleven groups: $10 is group 10 */
    };
    run_map("RULE:[1:$1]s/(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)/$10/", "R", c4, 1);

    /* ^ anchors at the start only, also on later matches of g. */
    static const struct map_case c5[] = {
        { "aaa@R", A2L_OK, "Xaa" },
    };
    run_map("RULE:[1:$1]s/^a/X/g", "R", c5, 1);

    /* Java classes and escapes translated to POSIX. */
    static const struct map_case c6[] = {
        { "user42@R", A2L_OK, "user" },
        { "a b@R", A2L_OK, "a_b" },
        { "x.y@R", A2L_OK, "x-y" },
        { "q@R", A2L_OK, "Q" },
    };
    run_map("RULE:[1:$1](\\w+\\d+)s/\\d+//\n"
            "RULE:[1:$1](.*\\s.*)s/\\s/_/g\n"
            "RULE:[1:$1](\\Qx.y\\E)s/[.]/-/\n"
            "RULE:[1:$1]([^\\d\\s]{1})s/\\x71/Q/",
            "R", c6, 4);

    /* A documented difference: POSIX takes the longest alternative (Java: "xb"). */
    static const struct map_case c8[] = {
        { "ab@R", A2L_OK, "x" },
    };
    run_map("RULE:[1:$1]s/a|ab/x/", "R", c8, 1);

    /* . does not cross a line break, as in Java. */
    static const struct map_case c7[] = {
        { "a\nb@R", A2L_NO_RULE, "No rules applied to a\nb@R" },
        { "ab@R", A2L_OK, "ab" },
    };
    run_map("RULE:[1:$1](a.*b)", "R", c7, 2);
}

/* ---- malformed rules ---- */

struct bad_rule {
    const char *text;
    const char *needle; /* a piece the message must hold */
};

static void test_malformed(void)
{
    static const struct bad_rule bad[] = {
        { "RULE", "expected DEFAULT or RULE:[n:fmt]" },
        { "DEFAULTS", "line 1, column 8: expected DEFAULT or RULE" },
        { "RULE:[:$1]", "expected the component count" },
        { "RULE:[x:$1]", "expected the component count" },
        { "RULE:[1$1]", "expected ':' after the component count" },
        { "RULE:[1:$1", "the format has no closing ']'" },
        { "RULE:[99999999999:$1]", "the component count is too large" },
        { "RULE:[1:$1](abc", "the match part has no closing ')'" },
        { "RULE:[1:$1](a(b))", "unclosed '('" },
        { "RULE:[1:$1]s/a/b", "incomplete s/from/to/" },
        { "RULE:[1:$1]s/a", "incomplete s/from/to/" },
        { "RULE:[1:$1]sx", "expected DEFAULT or RULE" },
        { "RULE:[1:$1]/s/a/b/", "expected DEFAULT or RULE" },
        { "DEFAULT\n  RULE:[1:$1](a*?)", "line 2, column 17: a quantifier after a quantifier" },
        { "RULE:[1:$1](a++)", "a quantifier after a quantifier" },
        { "RULE:[1:$1](*a)", "nothing to repeat" },
        { "RULE:[1:$1]((?i)a)", "(?...) groups are not supported" },
        { "RULE:[1:$1](\\bx)", "this escape is not supported" },
        { "RULE:[1:$1](\\1)", "back references are not supported" },
        { "RULE:[1:$1]([a-z&&[^b]])", "not supported" },
        { "RULE:[1:$1]([z-a])", "illegal character range" },
        { "RULE:[1:$1]([abc)", "unclosed '['" },
        { "RULE:[1:$1](a{2,1})", "m below n" },
        { "RULE:[1:$1](a{999})", "above 255" },
        { "RULE:[1:$1](a{x})", "a '{' that is not" },
        { "RULE:[1:$1](\\x0)", "\\x needs two hex digits" },
        { "RULE:[1:$1](\\x80)", "ASCII" },
        { "RULE:[1:$1](a\\)", "a '\\' ends the expression" },
        { "RULE:[1:$1]s/a)/b/", "unmatched ')'" },
        { "RULE:[1:$1]s/a/$/", "Illegal group reference" },
        { "RULE:[1:$1]s/a/$1/", "No group" },
        { "RULE:[1:$1]s/(a)/$2/", "No group" },
        { "RULE:[1:$1]s/a/b\\/", "character to be escaped is missing" },
        { "RULE:[1:$1]s/"
          "(a)(a)(a)(a)(a)(a)(a)(a)(a)(a)(a)(a)(a)(a)(a)(a)(a)(a)(a)(a)(a)(a)(a)(a)(a)(a)(a)(a)(a)(a)(a)(a)(a)/$33/",
          "a group above 32" },
        { "DEFAULT\x01"
          "DEFAULT",
          "expected DEFAULT or RULE" },
        { "RULE:[1:$1](\xc3\xa9+)", "non-ASCII" },
        { "RULE:[1:$1]s/((a{255}){255})/x/", "too large once its repetitions are expanded" },
        { "RULE:[1:$1]s/((a{100}){101})/x/", "too large" },
        { "RULE:[1:$1]s/(((((((((((((((((((((((((((((((((a)))))))))))))))))))))))))))))))))/x/", "nested too deep" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[512] = "";
        struct a2l_rules *r = a2l_parse(bad[i].text, err, sizeof err);
        bool ok = r == NULL && strstr(err, bad[i].needle) != NULL;
        CHECK(ok);
        if (!ok)
            fprintf(stderr, "  rule \"%s\": %s (want \"%s\")\n", bad[i].text, r ? "parsed" : err, bad[i].needle);
        a2l_free(r);
    }

    /* Forms Hadoop's grammar accepts, with the canonical form it prints. */
    struct good {
        const char *text;
        size_t n;
        const char *first;
    } good[] = {
        { "DEFAULT", 1, "DEFAULT" },
        { "DEFAULT/L", 1, "DEFAULT" }, /* /L is dropped on DEFAULT */
        { "DEFAULTDEFAULT", 2, "DEFAULT" },
        { "RULE:[1:$1]L", 1, "RULE:[1:$1]/L" },
        { "RULE:[1:$1]/", 1, "RULE:[1:$1]" },
        { "RULE:[01:$1]RULE:[2:$1]", 2, "RULE:[1:$1]" },
        { "RULE:[1:$1]s/a/b/L", 1, "RULE:[1:$1]s/a/b//L" },
        { "RULE:[1:$1]()", 1, "RULE:[1:$1]()" },
        { "RULE:[1:$1]s///", 1, "RULE:[1:$1]s///" },
        { "\t\n RULE:[2:$1](x|y)s/x/z/g/L \n\n DEFAULT \x01", 2, "RULE:[2:$1](x|y)s/x/z/g/L" },
        { "RULE:[1:a b]", 1, "RULE:[1:a b]" },
        { "RULE:[1:$1]s/((a{100}){100})/x/", 1, "RULE:[1:$1]s/((a{100}){100})/x/" },
        { "RULE:[1:$1]s/((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))/x/", 1,
          "RULE:[1:$1]s/((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))/x/" },
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char err[512] = "", buf[256] = "";
        struct a2l_rules *r = a2l_parse(good[i].text, err, sizeof err);
        bool ok = r && a2l_count(r) == good[i].n && a2l_rule_string(r, 0, buf, sizeof buf) > 0 &&
                  strcmp(buf, good[i].first) == 0;
        CHECK(ok);
        if (!ok)
            fprintf(stderr, "  rule \"%s\": %s / \"%s\"\n", good[i].text, r ? "parsed" : err, buf);
        a2l_free(r);
    }
}

/* ---- bounds ---- */

static void test_limits(void)
{
    char err[512];
    /* A text just over the limit, and a text with too many rules. */
    size_t big = A2L_MAX_TEXT + 1;
    char *t = malloc(big + 1);
    memset(t, ' ', big);
    memcpy(t, "DEFAULT", 7);
    t[big] = 0;
    CHECK(a2l_parse(t, err, sizeof err) == NULL && strstr(err, "longer than"));
    t[0] = 0;
    for (int i = 0; i < A2L_MAX_RULES + 1; i++)
        strcat(t, "DEFAULT ");
    CHECK(a2l_parse(t, err, sizeof err) == NULL && strstr(err, "more than 256 rules"));
    t[0] = 0;
    for (int i = 0; i < A2L_MAX_RULES; i++)
        strcat(t, "DEFAULT\n");
    struct a2l_rules *r = a2l_parse(t, err, sizeof err);
    CHECK(r && a2l_count(r) == A2L_MAX_RULES);
    a2l_free(r);

    /* A field over the limit. */
    strcpy(t, "RULE:[1:");
    memset(t + 8, 'a', A2L_MAX_FIELD + 1);
    strcpy(t + 8 + A2L_MAX_FIELD + 1, "]");
    CHECK(a2l_parse(t, err, sizeof err) == NULL && strstr(err, "too long"));

    /* Long principals and results. */
    r = a2l_parse("RULE:[1:$1$1$1] RULE:[2:$1]s/x/xxxxxxxxxxxxxxxx/g", err, sizeof err);
    CHECK(r != NULL);
    char *p = malloc(A2L_MAX_NAME + 16);
    char out[A2L_MAX_NAME + 1];
    memset(p, 'a', A2L_MAX_NAME + 1);
    strcpy(p + A2L_MAX_NAME + 1, "@R");
    CHECK(a2l_short_name(r, p, "R", out, sizeof out, err, sizeof err) == A2L_TOO_LONG);
    memset(p, 'a', 500);
    strcpy(p + 500, "@R");
    CHECK(a2l_short_name(r, p, "R", out, sizeof out, err, sizeof err) == A2L_TOO_LONG); /* 1500 bytes */
    memset(p, 'x', 100);
    strcpy(p + 100, "/h@R");
    CHECK(a2l_short_name(r, p, "R", out, sizeof out, err, sizeof err) == A2L_TOO_LONG); /* 1600 bytes */
    memset(p, 'a', 300);
    strcpy(p + 300, "@R");
    CHECK(a2l_short_name(r, p, "R", out, sizeof out, err, sizeof err) == A2L_OK && strlen(out) == 900);
    char small[8];
    CHECK(a2l_short_name(r, p, "R", small, sizeof small, err, sizeof err) == A2L_TOO_LONG);
    CHECK(a2l_short_name(r, "abc", "R", small, 3, err, sizeof err) == A2L_TOO_LONG);
    CHECK(a2l_short_name(r, "ab", "R", small, 3, err, sizeof err) == A2L_OK && strcmp(small, "ab") == 0);
    a2l_free(r);
    free(p);
    free(t);
}

/* ---- proxyuser ---- */

static struct proxyuser_rules *pu_load(const char *const *kv)
{
    char err[256];
    struct proxyuser_rules *r = proxyuser_rules_new();
    for (; kv[0]; kv += 2) {
        int rc = proxyuser_rules_set(r, kv[0], kv[1], err, sizeof err);
        CHECK(rc == 0);
        if (rc)
            fprintf(stderr, "  %s = %s: %s\n", kv[0], kv[1], err);
    }
    return r;
}

static const char *const FOO_GROUP[] = { "foo_group", NULL };
static const char *const BAR_GROUP[] = { "bar_group", NULL };

/* 0 allowed, 1 refused on the ACL, 2 refused on the host. */
static int pu_try(const struct proxyuser_rules *r, const char *eff, const char *const *groups, const char *ip)
{
    char err[256] = "";
    if (proxyuser_check(r, "proxier", eff, groups, ip, err, sizeof err) == 0)
        return 0;
    char want[256];
    snprintf(want, sizeof want, "User: proxier is not allowed to impersonate %s", eff);
    if (strcmp(err, want) == 0)
        return 1;
    snprintf(want, sizeof want, "Unauthorized connection for super-user: proxier from IP %s", ip);
    if (strcmp(err, want) == 0)
        return 2;
    fprintf(stderr, "  unexpected message: %s\n", err);
    return -1;
}

static void test_proxy_users(void)
{
    /* testProxyUsers: groups */
    static const char *const kv1[] = { "hadoop.proxyuser.proxier.groups", "foo_group", "hadoop.proxyuser.proxier.hosts",
                                       "1.2.3.4", NULL };
    struct proxyuser_rules *r = pu_load(kv1);
    CHECK(pu_try(r, "proxied_user", FOO_GROUP, "1.2.3.4") == 0);
    CHECK(pu_try(r, "proxied_user", FOO_GROUP, "1.2.3.5") == 2);
    CHECK(pu_try(r, "proxied_user", BAR_GROUP, "1.2.3.4") == 1);
    CHECK(pu_try(r, "proxied_user", BAR_GROUP, "1.2.3.5") == 1);
    CHECK(pu_try(r, "proxied_user", NULL, "1.2.3.4") == 1);
    proxyuser_rules_free(r);

    /* testProxyUsersWithUserConf: users */
    static const char *const kv2[] = { "hadoop.proxyuser.proxier.users", "authorized_proxied_user",
                                       "hadoop.proxyuser.proxier.hosts", "1.2.3.4", NULL };
    r = pu_load(kv2);
    CHECK(pu_try(r, "authorized_proxied_user", FOO_GROUP, "1.2.3.4") == 0);
    CHECK(pu_try(r, "authorized_proxied_user", FOO_GROUP, "1.2.3.5") == 2);
    CHECK(pu_try(r, "proxied_user", FOO_GROUP, "1.2.3.4") == 1);
    CHECK(pu_try(r, "proxied_user", FOO_GROUP, "1.2.3.5") == 1);
    proxyuser_rules_free(r);

    /* testWildcardGroup, testWildcardUser */
    static const char *const kv3[] = { "hadoop.proxyuser.proxier.groups", "*", "hadoop.proxyuser.proxier.hosts",
                                       "1.2.3.4", NULL };
    static const char *const kv4[] = { "proxyuser.proxier.users", " * ", "proxyuser.proxier.hosts", "1.2.3.4", NULL };
    for (int k = 0; k < 2; k++) {
        r = pu_load(k ? kv4 : kv3);
        CHECK(pu_try(r, "proxied_user", FOO_GROUP, "1.2.3.4") == 0);
        CHECK(pu_try(r, "proxied_user", FOO_GROUP, "1.2.3.5") == 2);
        CHECK(pu_try(r, "authorized_proxied_user", BAR_GROUP, "1.2.3.4") == 0);
        CHECK(pu_try(r, "authorized_proxied_user", BAR_GROUP, "1.2.3.5") == 2);
        proxyuser_rules_free(r);
    }

    /* testWildcardIP */
    static const char *const kv5[] = { "hadoop.proxyuser.proxier.groups", "foo_group", "hadoop.proxyuser.proxier.hosts",
                                       "*", NULL };
    r = pu_load(kv5);
    CHECK(pu_try(r, "proxied_user", FOO_GROUP, "1.2.3.4") == 0);
    CHECK(pu_try(r, "proxied_user", FOO_GROUP, "1.2.3.5") == 0);
    CHECK(pu_try(r, "proxied_user", BAR_GROUP, "1.2.3.4") == 1);
    CHECK(pu_try(r, "proxied_user", BAR_GROUP, "1.2.3.5") == 1);
    proxyuser_rules_free(r);

    /* testIPRange */
    static const char *const kv6[] = { "hadoop.proxyuser.proxier.groups", "*", "hadoop.proxyuser.proxier.hosts",
                                       "10.222.0.0/16,10.113.221.221", NULL };
    r = pu_load(kv6);
    CHECK(pu_try(r, "proxied_user", FOO_GROUP, "10.222.0.0") == 0);
    CHECK(pu_try(r, "proxied_user", FOO_GROUP, "10.221.0.0") == 2);
    CHECK(pu_try(r, "proxied_user", FOO_GROUP, "10.113.221.221") == 0);
    proxyuser_rules_free(r);

    /* testWithDuplicateProxyHosts ("1.2.3.4,1.2.3.4"), and "*" twice is still "*" */
    static const char *const kv7[] = { "hadoop.proxyuser.proxier.groups", "foo_group,foo_group",
                                       "hadoop.proxyuser.proxier.hosts", "1.2.3.4,1.2.3.4", NULL };
    r = pu_load(kv7);
    CHECK(pu_try(r, "proxied_user", FOO_GROUP, "1.2.3.4") == 0);
    CHECK(pu_try(r, "proxied_user", FOO_GROUP, "1.2.3.5") == 2);
    CHECK(proxyuser_rules_set(r, "hadoop.proxyuser.proxier.hosts", "*, *", NULL, 0) == 0);
    CHECK(pu_try(r, "proxied_user", FOO_GROUP, "9.9.9.9") == 0);
    /* "*" among other items is only a (never matching) name */
    CHECK(proxyuser_rules_set(r, "hadoop.proxyuser.proxier.hosts", "*,1.2.3.4", NULL, 0) == 0);
    CHECK(pu_try(r, "proxied_user", FOO_GROUP, "9.9.9.9") == 2);
    proxyuser_rules_free(r);

    /* No rules for this real user, only hosts, only an ACL. */
    static const char *const kv8[] = { "hadoop.proxyuser.other.groups", "*", "hadoop.proxyuser.other.hosts", "*",
                                       NULL };
    r = pu_load(kv8);
    CHECK(pu_try(r, "proxied_user", FOO_GROUP, "1.2.3.4") == 1);
    CHECK(proxyuser_rules_set(r, "hadoop.proxyuser.proxier.hosts", "*", NULL, 0) == 0);
    CHECK(pu_try(r, "proxied_user", FOO_GROUP, "1.2.3.4") == 1);
    proxyuser_rules_free(r);
    static const char *const kv9[] = { "hadoop.proxyuser.proxier.users", "proxied_user", NULL };
    r = pu_load(kv9);
    CHECK(pu_try(r, "proxied_user", FOO_GROUP, "1.2.3.4") == 2);
    CHECK(proxyuser_rules_set(r, "hadoop.proxyuser.proxier.hosts", "", NULL, 0) == 0);
    CHECK(pu_try(r, "proxied_user", FOO_GROUP, "1.2.3.4") == 2);
    /* the last value of a key wins */
    CHECK(proxyuser_rules_set(r, "hadoop.proxyuser.proxier.users", "someone_else", NULL, 0) == 0);
    CHECK(pu_try(r, "proxied_user", FOO_GROUP, "1.2.3.4") == 1);
    proxyuser_rules_free(r);
    CHECK(pu_try(NULL, "proxied_user", FOO_GROUP, "1.2.3.4") == 1);

    /* The full request: names in the message differ from the names looked up. */
    static const char *const kv10[] = { "hadoop.proxyuser.hue.users", "alice", "hadoop.proxyuser.hue.hosts",
                                        "gw1.example.com, ::1, 192.168.0.0/24", NULL };
    r = pu_load(kv10);
    char err[256];
    struct proxyuser_request q = { .real_short = "hue",
                                   .real_name = "hue/gw1.example.com@EXAMPLE.COM",
                                   .effective_short = "alice",
                                   .effective_name = "alice@EXAMPLE.COM",
                                   .client_ip = "10.0.0.9",
                                   .client_host = "GW1.example.com" };
    CHECK(proxyuser_check_request(r, &q, err, sizeof err) == 0);
    q.client_host = NULL;
    CHECK(proxyuser_check_request(r, &q, err, sizeof err) == -1 &&
          strcmp(err, "Unauthorized connection for super-user: hue/gw1.example.com@EXAMPLE.COM from IP 10.0.0.9") == 0);
    q.client_ip = "0:0:0:0:0:0:0:1";
    CHECK(proxyuser_check_request(r, &q, err, sizeof err) == 0);
    q.client_ip = "::ffff:192.168.0.77"; /* IPv4-mapped: inside the IPv4 range */
    CHECK(proxyuser_check_request(r, &q, err, sizeof err) == 0);
    q.client_ip = "gw1.example.com"; /* a name as the address text */
    CHECK(proxyuser_check_request(r, &q, err, sizeof err) == 0);
    q.effective_short = "bob";
    q.effective_name = "bob";
    CHECK(proxyuser_check_request(r, &q, err, sizeof err) == -1 &&
          strcmp(err, "User: hue/gw1.example.com@EXAMPLE.COM is not allowed to impersonate bob") == 0);
    proxyuser_rules_free(r);
}

static void test_machine_list(void)
{
    struct ml_case {
        const char *hosts;
        const char *ip;
        int want; /* 0 in, 2 out */
    } c[] = {
        { "*", "10.119.103.112", 0 },
        { "*", "1.2.3.4", 0 },
        { "10.119.103.110,10.119.103.112,10.119.103.114", "10.119.103.112", 0 },
        { "10.119.103.110,10.119.103.112,10.119.103.114", "10.119.103.111", 2 },
        { " 10.119.103.110 , 10.119.103.112,10.119.103.114 ,10.119.103.110, ", "10.119.103.112", 0 },
        { " 10.119.103.110 , 10.119.103.112,10.119.103.114 ,10.119.103.110, ", "10.119.103.111", 2 },
        { "10.222.0.0/16,10.241.23.0/24", "10.221.255.255", 2 },
        { "10.222.0.0/16,10.241.23.0/24", "10.222.0.0", 0 },
        { "10.222.0.0/16,10.241.23.0/24", "10.222.0.1", 0 },
        { "10.222.0.0/16,10.241.23.0/24", "10.222.0.255", 0 },
        { "10.222.0.0/16,10.241.23.0/24", "10.222.255.0", 0 },
        { "10.222.0.0/16,10.241.23.0/24", "10.222.255.254", 0 },
        { "10.222.0.0/16,10.241.23.0/24", "10.222.255.255", 0 },
        { "10.222.0.0/16,10.241.23.0/24", "10.223.0.0", 2 },
        { "10.222.0.0/16,10.241.23.0/24", "10.241.23.0", 0 },
        { "10.222.0.0/16,10.241.23.0/24", "10.241.23.1", 0 },
        { "10.222.0.0/16,10.241.23.0/24", "10.241.23.254", 0 },
        { "10.222.0.0/16,10.241.23.0/24", "10.241.23.255", 0 },
        { "10.222.0.0/16,10.241.23.0/24", "10.119.103.111", 2 },
        { "10.241.23.0/24", "10.241.22.255", 2 },
        { "10.241.23.0/24", "10.241.24.0", 2 },
        { "10.222.0.0/16,10.119.103.110,10.119.103.112,10.119.103.114,10.241.23.0/24", "10.119.103.112", 0 },
        { "10.222.0.0/16,10.119.103.110,10.119.103.112,10.119.103.114,10.241.23.0/24", "10.119.103.111", 2 },
        { "host1,10.222.0.0/16,10.119.103.110,10.119.103.112,10.119.103.114,10.241.23.0/24,host4,", "10.119.103.112",
          0 },
        { "host1,10.222.0.0/16,10.119.103.110,10.119.103.112,10.119.103.114,10.241.23.0/24,host4,", "10.223.0.0", 2 },
        { "host1,10.222.0.0/16,10.119.103.110,10.119.103.112,10.119.103.114,10.241.23.0/24,host4,", "10.241.23.255",
          0 },
        /* our own: ranges at the edges, IPv6 against IPv4 ranges */
        { "0.0.0.0/0", "255.255.255.255", 0 },
        { "10.1.2.3/32", "10.1.2.3", 0 },
        { "10.1.2.3/32", "10.1.2.4", 2 },
        { "10.1.2.3/8", "10.200.0.1", 0 },
        { "10.0.0.0/8", "::1", 2 },
        { "10.0.0.0/8", "not-an-ip", 2 },
        { "[::1]", "::1", 0 },
        { "", "1.2.3.4", 2 },
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        struct proxyuser_rules *r = proxyuser_rules_new();
        CHECK(proxyuser_rules_set(r, "hadoop.proxyuser.proxier.groups", "*", NULL, 0) == 0);
        CHECK(proxyuser_rules_set(r, "hadoop.proxyuser.proxier.hosts", c[i].hosts, NULL, 0) == 0);
        int got = pu_try(r, "u", NULL, c[i].ip);
        CHECK(got == c[i].want);
        if (got != c[i].want)
            fprintf(stderr, "  hosts \"%s\", ip %s: %d (want %d)\n", c[i].hosts, c[i].ip, got, c[i].want);
        proxyuser_rules_free(r);
    }
}

static void test_proxy_bad_rules(void)
{
    struct bad {
        const char *key, *value, *needle;
    } bad[] = {
        { "hadoop.proxyuser.u.hosts", "10.241/24", "Invalid CIDR syntax : 10.241/24" }, /* testInvalidCIDR */
        { "hadoop.proxyuser.u.hosts", "10.0.0.0/33", "Invalid CIDR syntax : 10.0.0.0/33" },
        { "hadoop.proxyuser.u.hosts", "10.0.0.256/8", "Invalid CIDR syntax" },
        { "hadoop.proxyuser.u.hosts", "1.2.3.4, ::1/64", "Invalid CIDR syntax : ::1/64" },
        { "hadoop.proxyuser.u.hosts", "10.0.0.0/8x", "Invalid CIDR syntax" },
        { "hadoop.proxyuser.u.hosts", "0010.0.0.0/8", "Invalid CIDR syntax" },
        { "hadoop.proxyuser.u.host", "*", "want .hosts, .groups or .users" },
        { "hadoop.proxy.u.hosts", "*", "not a proxyuser key" },
        { "hadoop.proxyuser..hosts", "*", "no user name" },
        { "hadoop.proxyuser.hosts", "*", "at the end" },
        { "hadoop.proxyuser.a b.hosts", "*", "blank" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct proxyuser_rules *r = proxyuser_rules_new();
        char err[256] = "";
        int rc = proxyuser_rules_set(r, bad[i].key, bad[i].value, err, sizeof err);
        bool ok = rc == -1 && strstr(err, bad[i].needle) != NULL;
        CHECK(ok);
        if (!ok)
            fprintf(stderr, "  %s = %s: %d %s\n", bad[i].key, bad[i].value, rc, err);
        proxyuser_rules_free(r);
    }
    /* A failed set leaves the earlier value in place; dotted user names work. */
    struct proxyuser_rules *r = proxyuser_rules_new();
    CHECK(proxyuser_rules_set(r, "hadoop.proxyuser.svc.etl.groups", "*", NULL, 0) == 0);
    CHECK(proxyuser_rules_set(r, "hadoop.proxyuser.svc.etl.hosts", "1.2.3.4", NULL, 0) == 0);
    CHECK(proxyuser_rules_set(r, "hadoop.proxyuser.svc.etl.hosts", "1.2.3.0/40", NULL, 0) == -1);
    CHECK(proxyuser_check(r, "svc.etl", "x", NULL, "1.2.3.4", NULL, 0) == 0);
    CHECK(proxyuser_check(r, "svc", "x", NULL, "1.2.3.4", NULL, 0) == -1);

    /* Bounds: a long value, too many items, many users. */
    size_t n = PROXYUSER_MAX_VALUE + 2;
    char *v = malloc(n);
    memset(v, 'a', n - 1);
    v[n - 1] = 0;
    char err[256];
    CHECK(proxyuser_rules_set(r, "hadoop.proxyuser.x.users", v, err, sizeof err) == -1 && strstr(err, "longer"));
    /* Repeated items count once (Hadoop keeps them in sets). */
    for (size_t i = 0; i + 1 < n; i += 2) {
        v[i] = 'a';
        v[i + 1] = ',';
    }
    v[PROXYUSER_MAX_VALUE - 1] = 0;
    CHECK(proxyuser_rules_set(r, "hadoop.proxyuser.x.users", v, err, sizeof err) == 0);
    CHECK(proxyuser_check(r, "x", "a", NULL, "1.2.3.4", err, sizeof err) == -1 && strstr(err, "super-user"));
    /* More distinct items than the bound. */
    size_t len = 0;
    for (int i = 0; i <= PROXYUSER_MAX_ITEMS; i++)
        len += (size_t)snprintf(v + len, n - len, "g%d,", i);
    CHECK(proxyuser_rules_set(r, "hadoop.proxyuser.x.groups", v, err, sizeof err) == -1 && strstr(err, "too many"));
    free(v);
    proxyuser_rules_free(r);
    r = proxyuser_rules_new();
    char key[64];
    int rc = 0;
    for (int i = 0; i < PROXYUSER_MAX_USERS && rc == 0; i++) {
        snprintf(key, sizeof key, "hadoop.proxyuser.u%d.hosts", i);
        rc = proxyuser_rules_set(r, key, "*", NULL, 0);
    }
    CHECK(rc == 0);
    CHECK(proxyuser_rules_set(r, "hadoop.proxyuser.one_more.hosts", "*", err, sizeof err) == -1 &&
          strstr(err, "more than"));
    proxyuser_rules_free(r);
}

int main(void)
{
    test_hadoop_rules();
    test_lower_case();
    test_default_realm();
    test_rule_semantics();
    test_substitution();
    test_malformed();
    test_limits();
    test_proxy_users();
    test_machine_list();
    test_proxy_bad_rules();
    return check_report();
}
