/*
 * test_sasl_names: the principal handling of auth/sasl_server without a KDC:
 * splitting service/host@REALM, _HOST expansion, and the DEFAULT
 * auth_to_local mapping against the default realm of a krb5.conf named by
 * KRB5_CONFIG (written here, so the machine's own file does not matter).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "sasl_server.h"

int main(void)
{
    char conf[4096];
    const char *dir = getenv("TMPDIR");
    snprintf(conf, sizeof conf, "%s/fr-krb5-XXXXXX", dir && *dir ? dir : ".");
    int fd = mkstemp(conf);
    CHECK(fd >= 0);
    const char text[] = "[libdefaults]\n  default_realm = EXAMPLE.TEST\n";
    CHECK(write(fd, text, sizeof text - 1) == (ssize_t)(sizeof text - 1));
    close(fd);
    setenv("KRB5_CONFIG", conf, 1);

    char sv[64], host[256], realm[256], out[512];
    CHECK(auth_principal_split("nn/h1.example.com@EXAMPLE.TEST", sv, sizeof sv, host, sizeof host, realm,
                               sizeof realm) == 0);
    CHECK(!strcmp(sv, "nn") && !strcmp(host, "h1.example.com") && !strcmp(realm, "EXAMPLE.TEST"));
    CHECK(auth_principal_split("nn/h1", sv, sizeof sv, host, sizeof host, realm, sizeof realm) == 0);
    CHECK(!strcmp(sv, "nn") && !strcmp(host, "h1") && !realm[0]);
    CHECK(auth_principal_split("nn@EXAMPLE.TEST", sv, sizeof sv, host, sizeof host, realm, sizeof realm) < 0);
    CHECK(auth_principal_split("a/b/c@R", sv, sizeof sv, host, sizeof host, realm, sizeof realm) < 0);
    CHECK(auth_principal_split("/h@R", sv, sizeof sv, host, sizeof host, realm, sizeof realm) < 0);
    CHECK(auth_principal_split("nn/@R", sv, sizeof sv, host, sizeof host, realm, sizeof realm) < 0);
    CHECK(auth_principal_split("nn/h@", sv, sizeof sv, host, sizeof host, realm, sizeof realm) < 0);

    /* _HOST: a name as written (lower case), an address by its name. */
    CHECK(auth_expand_host("nn/_HOST@EXAMPLE.TEST", "NN1.Example.COM", out, sizeof out) == 0);
    CHECK(!strcmp(out, "nn/nn1.example.com@EXAMPLE.TEST"));
    CHECK(auth_expand_host("nn/_HOST", "127.0.0.1", out, sizeof out) == 0);
    CHECK(!strcmp(out, "nn/localhost"));
    CHECK(auth_expand_host("nn/fixed.host@R", "127.0.0.1", out, sizeof out) == 0);
    CHECK(!strcmp(out, "nn/fixed.host@R"));
    CHECK(auth_expand_host("nn/_HOSTS@R", "127.0.0.1", out, sizeof out) == 0); /* only _HOST itself */
    CHECK(!strcmp(out, "nn/_HOSTS@R"));
    CHECK(auth_expand_host("nn/_HOST@R", "0.0.0.0", out, sizeof out) == 0);
    CHECK(strncmp(out, "nn/", 3) == 0 && strcmp(out, "nn/_HOST@R") && strstr(out, "@R"));

    /* DEFAULT auth_to_local: the default realm's principals lose it and
     * every component but the first; other realms map to nothing. */
    char user[64];
    CHECK(auth_principal_to_user("alice@EXAMPLE.TEST", user, sizeof user) == 0 && !strcmp(user, "alice"));
    CHECK(auth_principal_to_user("nn/h1@EXAMPLE.TEST", user, sizeof user) == 0 && !strcmp(user, "nn"));
    CHECK(auth_principal_to_user("alice", user, sizeof user) == 0 && !strcmp(user, "alice"));
    CHECK(auth_principal_to_user("alice@OTHER.TEST", user, sizeof user) < 0);
    CHECK(auth_principal_to_user("@EXAMPLE.TEST", user, sizeof user) < 0);

    unlink(conf);
    return check_report();
}
