/*
 * fuzz_auth_rules: arbitrary bytes as auth_to_local rules and principals,
 * or as proxy-user rules and a request (auth/).
 *
 * The first input byte picks the mode (low bit) and a default realm (next
 * two bits). The rest:
 *   auth_to_local: the rules text, then NUL-separated principals.
 *     - parsing either gives rules or fails with a message naming a line;
 *     - the canonical form of the parsed rules (a2l_rule_string, one rule a
 *       line) parses again to the same rules, and maps every principal the
 *       same way (same result, same message);
 *     - a mapped name holds no '/' or '@', unless the principal was a
 *       simple name given back as it is (then it holds no '@');
 *     - an error always comes with a message.
 *   proxyuser: lines "key=value" fed to proxyuser_rules_set (a leading '.'
 *     stands for "hadoop.proxyuser."), then a last line "real eff ip host
 *     group..." checked.
 *     - a refusal carries one of Hadoop's two texts, naming the real user;
 *     - the short and the full form of the check agree.
 *
 * Built two ways, like the other targets: with libFuzzer (-DFR_LIBFUZZER),
 * and as a replay program that runs the files and directories given on the
 * command line (the seed corpus is tests/fuzz/corpus/fuzz_auth_rules) and a
 * fixed number of pseudo-random mutations of seed texts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_to_local.h"
#include "proxyuser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const realms[4] = { "EXAMPLE.COM", "R", "", "FOO.COM" };

static const uint8_t *cur;
static size_t cur_len;

static void show_input(void)
{
    fprintf(stderr, "input (%zu bytes): \"", cur_len);
    for (size_t i = 0; i < cur_len; i++) {
        uint8_t c = cur[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            fputc(c, stderr);
        else
            fprintf(stderr, "\\x%02x", c);
    }
    fprintf(stderr, "\"\n");
}

#define FAIL(...)                                                                                                      \
    do {                                                                                                               \
        fprintf(stderr, __VA_ARGS__);                                                                                  \
        show_input();                                                                                                  \
        abort();                                                                                                       \
    } while (0)

/* The canonical text of a rule set: one rule a line. Caller frees. */
static char *canonical(const struct a2l_rules *r)
{
    size_t n = a2l_count(r), cap = 1, len = 0;
    char *out = malloc(cap);
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        char one[8 * A2L_MAX_FIELD];
        int k = a2l_rule_string(r, i, one, sizeof one);
        if (k < 0)
            FAIL("rule %zu has no canonical form\n", i);
        out = realloc(out, cap = len + (size_t)k + 2);
        memcpy(out + len, one, (size_t)k);
        len += (size_t)k;
        out[len++] = '\n';
        out[len] = 0;
    }
    return out;
}

static void fuzz_a2l(const char *realm, const char *text, const char *names, size_t names_len)
{
    char err[512] = "";
    struct a2l_rules *r = a2l_parse(text, err, sizeof err);
    if (!r) {
        if (!strstr(err, "auth_to_local: "))
            FAIL("parse failed without a message: \"%s\"\n", err);
        return;
    }
    char *canon = canonical(r);
    char err2[512] = "";
    struct a2l_rules *r2 = a2l_parse(canon, err2, sizeof err2);
    if (!r2)
        FAIL("the canonical form does not parse: %s\n", err2);
    char *canon2 = canonical(r2);
    if (a2l_count(r2) != a2l_count(r) || strcmp(canon, canon2) != 0)
        FAIL("the canonical form changes: \"%s\" -> \"%s\"\n", canon, canon2);

    for (size_t off = 0; off < names_len;) {
        const char *p = names + off;
        size_t pl = strlen(p);
        off += pl + 1;
        char out[A2L_MAX_NAME + 1], out2[A2L_MAX_NAME + 1];
        char e1[2 * A2L_MAX_NAME] = "", e2[2 * A2L_MAX_NAME] = "";
        int rc = a2l_short_name(r, p, realm, out, sizeof out, e1, sizeof e1);
        int rc2 = a2l_short_name(r2, p, realm, out2, sizeof out2, e2, sizeof e2);
        if (rc != rc2 || (rc == A2L_OK ? strcmp(out, out2) : strcmp(e1, e2)) != 0)
            FAIL("the canonical rules map \"%s\" differently: %d/%d\n", p, rc, rc2);
        if (rc == A2L_OK) {
            bool given_back = strcmp(out, p) == 0 && !strchr(p, '@');
            if (strpbrk(out, "/@") && !given_back)
                FAIL("\"%s\" maps to the non-simple \"%s\"\n", p, out);
        } else if (rc > 0 || rc < A2L_ERROR || !e1[0]) {
            FAIL("bad result %d (\"%s\") for \"%s\"\n", rc, e1, p);
        }
    }
    free(canon);
    free(canon2);
    a2l_free(r2);
    a2l_free(r);
}

/* Splits s at `sep` in place; returns the pieces (at most max). */
static size_t split(char *s, char sep, char **out, size_t max)
{
    size_t n = 0;
    while (n < max) {
        out[n++] = s;
        char *e = strchr(s, sep);
        if (!e)
            break;
        *e = 0;
        s = e + 1;
    }
    return n;
}

static void fuzz_proxy(char *text)
{
    struct proxyuser_rules *r = proxyuser_rules_new();
    char *line[64];
    size_t nl = split(text, '\n', line, 64);
    for (size_t i = 0; i + 1 < nl; i++) {
        char *eq = strchr(line[i], '=');
        if (!eq)
            continue;
        *eq = 0;
        char key[PROXYUSER_MAX_KEY + 32], err[256] = "";
        snprintf(key, sizeof key, "%s%s", line[i][0] == '.' ? "hadoop.proxyuser" : "", line[i]);
        if (proxyuser_rules_set(r, key, eq + 1, err, sizeof err) != 0 && !err[0])
            FAIL("a refused rule without a message\n");
    }
    char *f[16] = { 0 };
    size_t nf = nl ? split(line[nl - 1], ' ', f, 15) : 0;
    const char *real = nf > 0 ? f[0] : "u";
    const char *eff = nf > 1 ? f[1] : "v";
    const char *ip = nf > 2 ? f[2] : "1.2.3.4";
    const char *host = nf > 3 ? f[3] : NULL;
    const char *const *groups = nf > 4 ? (const char *const *)&f[4] : NULL;
    char err[1024] = "", err2[1024] = "";
    struct proxyuser_request q = {
        .real_short = real, .effective_short = eff, .effective_groups = groups, .client_ip = ip, .client_host = host
    };
    int rc = proxyuser_check_request(r, &q, err, sizeof err);
    if (rc != 0) {
        char want1[1024], want2[1024];
        snprintf(want1, sizeof want1, "User: %s is not allowed to impersonate %s", real, eff);
        snprintf(want2, sizeof want2, "Unauthorized connection for super-user: %s from IP %s", real, ip);
        if (rc != -1 || (strcmp(err, want1) != 0 && strcmp(err, want2) != 0))
            FAIL("refusal %d with \"%s\"\n", rc, err);
    }
    if (!host) {
        int rc2 = proxyuser_check(r, real, eff, groups, ip, err2, sizeof err2);
        if (rc2 != rc || strcmp(err, err2) != 0)
            FAIL("the two checks disagree: %d \"%s\" / %d \"%s\"\n", rc, err, rc2, err2);
    }
    proxyuser_rules_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 1 << 16)
        return 0;
    cur = data;
    cur_len = size;
    const char *realm = realms[(data[0] >> 1) & 3];
    /* An exact-size, NUL-terminated copy of the rest. */
    size_t len = size - 1;
    char *text = malloc(len + 1);
    memcpy(text, data + 1, len);
    text[len] = 0;
    if (data[0] & 1) {
        fuzz_proxy(text);
    } else {
        size_t tl = strlen(text);
        fuzz_a2l(realm, text, text + tl + (tl < len), tl < len ? len - tl - 1 : 0);
    }
    free(text);
    return 0;
}

#ifndef FR_LIBFUZZER
#include "replay.h"

/* Seeds: a selector byte, then the text (NULs separate principals). */
struct seed {
    const char *name;
    uint8_t sel;
    const char *text;
    size_t len; /* 0: strlen */
};

#define A2L(name, realm, s)                                                                                            \
    {                                                                                                                  \
        name, (uint8_t)((realm) << 1), s, sizeof(s) - 1                                                                \
    }
#define PU(name, s)                                                                                                    \
    {                                                                                                                  \
        name, 1, s, 0                                                                                                  \
    }

static const struct seed seeds[] = {
    A2L("hadoop_rules", 0,
        "RULE:[1:$1@$0](.*@YAHOO\\.COM)s/@.*//\nRULE:[2:$1](johndoe)s/^.*$/guest/\n"
        "RULE:[2:$1;$2](^.*;admin$)s/;admin$//\nRULE:[2:$2](root)\nDEFAULT\0omalley@EXAMPLE.COM\0"
        "hdfs/10.0.0.1@EXAMPLE.COM\0oom@YAHOO.COM\0johndoe/zoo@FOO.COM\0joe/admin@FOO.COM\0joe/root@FOO.COM\0"
        "foo@ACME.COM\0owen/owen/owen@FOO.COM\0owen@foo/bar.com\0HTTP/abc.com"),
    A2L("lower", 3,
        "RULE:[1:$1]/L\nRULE:[2:$1]/L\nRULE:[2:$1;$2](^.*;admin$)s/;admin$///L\n"
        "RULE:[2:$1;$2](^.*;guest$)s/;guest$//g/L\nDEFAULT\0Joe@FOO.COM\0Joe/root@FOO.COM\0Joe/admin@FOO.COM"),
    A2L("classes", 1,
        "RULE:[1:$1](\\w+\\d+)s/\\d+//\nRULE:[1:$1](.*\\s.*)s/\\s/_/g\nRULE:[1:$1](\\Qx.y\\E)s/[.]/-/\n"
        "RULE:[1:$1]([^\\d\\s]{1,3})s/\\x71/Q/\0user42@R\0a b@R\0x.y@R\0q@R"),
    A2L("groups", 1, "RULE:[2:$2-$1@$0](([a-z]+)-(nn|dn)@R)s/([a-z]+)-([a-z]+)@.*/$2_$1\\$/g\0nn/host@R\0dn/x@R"),
    A2L("empty_matches", 1, "RULE:[1:$1]s/a*/-/g RULE:[2:$1]s/^/x/g\0baaac@R\0a/b@R"),
    A2L("default", 0, "DEFAULT/L DEFAULTDEFAULT\0a@EXAMPLE.COM\0a@B\0a\0a/b/c\0@R"),
    A2L("nonsimple", 0, "RULE:[1:$1@$0] RULE:[2:$1/$2](.*)s/n/N/g/L\0bob@EXAMPLE.COM\0nn/h@R"),
    A2L("bad", 0, "RULE:[1:$1](a{2,1}) RULE:[x:y]"),
    PU("groups", "hadoop.proxyuser.proxier.groups=foo_group\nhadoop.proxyuser.proxier.hosts=1.2.3.4\n"
                 "proxier proxied_user 1.2.3.4 - foo_group"),
    PU("users", ".proxier.users=authorized_proxied_user\n.proxier.hosts=10.222.0.0/16, 10.113.221.221\n"
                "proxier authorized_proxied_user 10.222.7.7"),
    PU("hosts", ".hue.groups=*\n.hue.hosts=gw1.example.com, ::1, 192.168.0.0/24,*\n"
                "hue alice ::ffff:192.168.0.9 GW1.example.com g1 g2"),
    PU("bad", ".u.hosts=10.241/24\nproxyuser.u.host=*\n.u.users= * \nu v 1.2.3.4"),
};

static const char *const pieces[] = {
    "RULE:[", "1:", "2:", "$0",    "$1",      "$2", "$",           "](",         ")",   "]",           "s/",
    "/",      "/g", "/L", "L",     "DEFAULT", "\n", " ",           ".*",         "\\",  "\\d",         "\\w",
    "[^",     "[",  "]",  "{1,2}", "*",       "+",  "?",           "|",          "(?",  "\\Q",         "\\E",
    "@",      "^",  "\0", ",",     "=",       "*",  ".hue.hosts=", "10.0.0.0/8", "::1", ".hue.users=",
};

static size_t seed_len(const struct seed *s) { return s->len ? s->len : strlen(s->text); }

/* Writes the seeds as files, the starting corpus: fuzz_auth_rules --seeds=DIR. */
static void write_seeds(const char *dir)
{
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s_%s", dir, seeds[i].sel & 1 ? "proxy" : "a2l", seeds[i].name);
        FILE *f = fopen(path, "wb");
        if (!f)
            continue;
        fwrite(&seeds[i].sel, 1, 1, f);
        fwrite(seeds[i].text, 1, seed_len(&seeds[i]), f);
        fclose(f);
    }
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--seeds=", 8) == 0) {
            write_seeds(argv[i] + 8);
            return 0;
        }
    }
    long rounds = replay_rounds(argc, argv, 200000);
    replay_seed(0x2545F4914F6CDD1Dull);
    size_t nseeds = sizeof seeds / sizeof seeds[0], npieces = sizeof pieces / sizeof pieces[0];
    enum { CAP = 2048 };
    uint8_t buf[CAP];
    for (long r = 0; r < rounds; r++) {
        const struct seed *s = &seeds[(size_t)r % nseeds];
        size_t len = seed_len(s) + 1;
        buf[0] = (uint8_t)((replay_rand() & 0x06) | s->sel);
        memcpy(buf + 1, s->text, len - 1);
        int edits = (int)(replay_rand() % 6);
        for (int e = 0; e < edits && len > 1; e++) {
            size_t at = 1 + replay_rand() % (len - 1);
            switch (replay_rand() % 5) {
            case 0: buf[at] = (uint8_t)replay_rand(); break;
            case 1: len = at + 1; break;
            case 2: {
                size_t k = 1 + replay_rand() % 8;
                if (at + k <= len) {
                    memmove(buf + at, buf + at + k, len - at - k);
                    len -= k;
                }
                break;
            }
            default: {
                const char *p = pieces[replay_rand() % npieces];
                size_t k = p[0] ? strlen(p) : 1; /* "\0" inserts one NUL */
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
    int files = replay_args(argc, argv);
    printf("fuzz_auth_rules: %ld mutated inputs and %d files ran clean\n", rounds, files);
    return 0;
}
#endif
