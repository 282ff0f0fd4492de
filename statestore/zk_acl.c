/* zk_acl.c: the auth file, digest identities and the ACLs the records get. */
#include <errno.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include "zkstore_int.h"

/* ---- auth file ---- */

static char *digest_id(const char *cred)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(cred, strlen(cred), md, &mdlen, EVP_sha1(), NULL))
        return NULL;
    const char *colon = strchr(cred, ':');
    size_t ulen = (size_t)(colon - cred);
    char *out = malloc(ulen + 1 + 4 * ((mdlen + 2) / 3) + 1);
    if (!out)
        return NULL;
    memcpy(out, cred, ulen);
    out[ulen] = ':';
    EVP_EncodeBlock((unsigned char *)out + ulen + 1, md, (int)mdlen);
    return out;
}

char *zk_trim_ws(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

int zk_read_auth_file(struct zks *z, const char *file, char *err, size_t errlen)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        fr_errf(err, errlen, "%s: %s", file, strerror(errno));
        return -1;
    }
    char line[1024];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char *p = zk_trim_ws(line);
        if (!*p || *p == '#')
            continue;
        bool reader = false;
        if (!strncmp(p, "read", 4) && (p[4] == ' ' || p[4] == '\t')) {
            reader = true;
            p = zk_trim_ws(p + 5);
        }
        if (!strncmp(p, "digest:", 7))
            p += 7;
        char *colon = strchr(p, ':');
        if (!colon || colon == p || !colon[1]) {
            fr_errf(err, errlen, "%s:%d: expected [read] user:password", file, lineno);
            rc = -1;
            break;
        }
        char **slot = reader ? &z->reader_cred : &z->admin_cred;
        if (*slot)
            continue; /* the first one of each kind counts */
        if (!(*slot = strdup(p))) {
            fr_errf(err, errlen, "out of memory");
            rc = -1;
        }
    }
    fclose(f);
    if (rc < 0)
        return -1;
    if ((z->admin_cred && !(z->admin_id = digest_id(z->admin_cred))) ||
        (z->reader_cred && !(z->reader_id = digest_id(z->reader_cred)))) {
        fr_errf(err, errlen, "cannot compute the digest of the auth file's identities");
        return -1;
    }
    return 0;
}

void zk_setup_acls(struct zks *z)
{
    static char digest[] = "digest", world[] = "world", anyone[] = "anyone";
    if (!z->admin_id && !z->reader_id) {
        z->v_rec = ZOO_OPEN_ACL_UNSAFE;
        z->v_rfolder = ZOO_OPEN_ACL_UNSAFE;
        z->v_rnode = ZOO_OPEN_ACL_UNSAFE;
        return;
    }
    struct Id reader = z->reader_id ? (struct Id){digest, z->reader_id} : (struct Id){world, anyone};
    char *me = z->admin_id ? z->admin_id : z->reader_id;
    int n = 0;
    if (z->admin_id)
        z->acl_rec[n++] = (struct ACL){ZOO_PERM_ALL, {digest, z->admin_id}};
    z->acl_rec[n++] = (struct ACL){ZOO_PERM_READ, reader};
    z->v_rec = (struct ACL_vector){n, z->acl_rec};

    n = 0;
    if (z->admin_id)
        z->acl_rfolder[n++] = (struct ACL){ZOO_PERM_ALL, {digest, z->admin_id}};
    z->acl_rfolder[n++] = (struct ACL){ZOO_PERM_READ | ZOO_PERM_CREATE | ZOO_PERM_DELETE, reader};
    z->v_rfolder = (struct ACL_vector){n, z->acl_rfolder};

    n = 0;
    z->acl_rnode[n++] = (struct ACL){ZOO_PERM_ALL, {digest, me}};
    if (!z->reader_id || strcmp(me, z->reader_id))
        z->acl_rnode[n++] = (struct ACL){ZOO_PERM_READ, reader};
    z->v_rnode = (struct ACL_vector){n, z->acl_rnode};
}
