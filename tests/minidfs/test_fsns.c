/*
 * test_fsns.c: unit tests of the minidfs namespace (fsns): every operation's
 * success and error paths, permission denials, path normalisation, limits,
 * and a getFileInfo throughput check. Prints "N passed, N failed"; exits
 * non-zero on any failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fsns.h"

static int npass, nfail;
static struct fsns_err E;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (cond) {                                                                  \
            npass++;                                                                 \
        } else {                                                                     \
            nfail++;                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

/* The call succeeds. */
#define OK(call)                                                                                        \
    do {                                                                                                \
        memset(&E, 0, sizeof E);                                                                        \
        int rc_ = (call);                                                                               \
        if (rc_ == 0) {                                                                                 \
            npass++;                                                                                    \
        } else {                                                                                        \
            nfail++;                                                                                    \
            fprintf(stderr, "%s:%d: %s failed: %s: %s\n", __FILE__, __LINE__, #call, E.cls, E.msg);     \
        }                                                                                               \
    } while (0)

/* The call fails with `code` and a message containing `sub`. */
#define FAILS(call, ecode, sub)                                                                         \
    do {                                                                                                \
        memset(&E, 0, sizeof E);                                                                        \
        int rc_ = (call);                                                                               \
        if (rc_ == -1 && E.code == (ecode) && strstr(E.msg, (sub)) && E.cls && *E.cls) {                \
            npass++;                                                                                    \
        } else {                                                                                        \
            nfail++;                                                                                    \
            fprintf(stderr, "%s:%d: %s: want code %d with \"%s\", got rc %d code %d %s: %s\n", __FILE__, \
                    __LINE__, #call, (int)(ecode), (sub), rc_, (int)E.code, E.cls ? E.cls : "", E.msg);  \
        }                                                                                               \
    } while (0)

#define SU "hdfs"

static struct fsns_create_args cargs(const char *client, uint16_t perm, uint32_t flags, bool parent)
{
    struct fsns_create_args a = { client, "127.0.0.1", perm, flags, parent, 1, 1048576, 0 };
    return a;
}

/* Creates and closes a file whose blocks have the given lengths. */
static uint64_t mkfile(struct fsns *ns, const char *user, const char *path, const uint64_t *lens, int n)
{
    struct fsns_create_args a = cargs("c-mk", 0644, FSNS_CREATE | FSNS_OVERWRITE, true);
    struct fsns_stat st;
    struct fsns_blocklist rm = { 0 };
    struct fsns_err e;
    if (fsns_create(ns, user, path, &a, &st, &rm, &e) < 0) {
        fprintf(stderr, "mkfile %s: %s\n", path, e.msg);
        nfail++;
        return 0;
    }
    fsns_blocklist_free(&rm);
    struct fsns_block b, prev;
    bool have = false;
    uint64_t off;
    for (int i = 0; i < n; i++) {
        if (fsns_addblock(ns, user, path, st.fileid, "c-mk", have ? &prev : NULL, &b, &off, &e) < 0) {
            fprintf(stderr, "mkfile addblock %s: %s\n", path, e.msg);
            nfail++;
            return 0;
        }
        b.len = lens[i];
        prev = b;
        have = true;
    }
    bool done;
    if (fsns_complete(ns, user, path, st.fileid, "c-mk", have ? &prev : NULL, &done, &e) < 0 || !done) {
        fprintf(stderr, "mkfile complete %s: %s\n", path, e.msg);
        nfail++;
    }
    return st.fileid;
}

static bool has_id(const struct fsns_blocklist *bl, uint64_t id)
{
    for (size_t i = 0; i < bl->n; i++)
        if (bl->ids[i] == id)
            return true;
    return false;
}

static void test_root_and_paths(void)
{
    struct fsns *ns = fsns_new(SU);
    struct fsns_stat st;
    OK(fsns_getfileinfo(ns, SU, "/", &st, &E));
    CHECK(st.type == FSNS_DIR && st.fileid == 16385 && st.perm == 0755);
    CHECK(!strcmp(st.owner, SU) && !strcmp(st.group, "supergroup") && !strcmp(st.name, ""));
    OK(fsns_getfileinfo(ns, "alice", "///", &st, &E));
    CHECK(st.fileid == 16385);

    FAILS(fsns_getfileinfo(ns, SU, "a/b", &st, &E), FSNS_EINVALPATH, "Invalid path name Invalid file name: a/b");
    CHECK(!strcmp(E.cls, "org.apache.hadoop.fs.InvalidPathException"));
    FAILS(fsns_getfileinfo(ns, SU, "", &st, &E), FSNS_EINVALPATH, "Invalid path name");
    FAILS(fsns_getfileinfo(ns, SU, NULL, &st, &E), FSNS_EINVALPATH, "Invalid path name");
    FAILS(fsns_getfileinfo(ns, SU, "/a/./b", &st, &E), FSNS_EINVALPATH, "/a/./b");
    FAILS(fsns_getfileinfo(ns, SU, "/a/../b", &st, &E), FSNS_EINVALPATH, "/a/../b");
    FAILS(fsns_mkdirs(ns, SU, "/a:b", 0755, &E), FSNS_EINVALPATH, "Invalid file name: /a:b");
    FAILS(fsns_mkdirs(ns, SU, "/..", 0755, &E), FSNS_EINVALPATH, "/..");

    /* creating refuses "//" in the middle; trailing slashes are fine */
    FAILS(fsns_mkdirs(ns, SU, "/x//y", 0755, &E), FSNS_EINVALPATH, "Invalid path name Invalid file name: /x//y");
    FAILS(fsns_mkdirs(ns, SU, "//x", 0755, &E), FSNS_EINVALPATH, "//x");
    OK(fsns_mkdirs(ns, SU, "/x/y/", 0755, &E));
    OK(fsns_mkdirs(ns, SU, "/x/y//", 0755, &E));
    /* lookups normalise */
    OK(fsns_getfileinfo(ns, SU, "/x//y", &st, &E));
    CHECK(st.type == FSNS_DIR);
    OK(fsns_getfileinfo(ns, SU, "//x///y//", &st, &E));
    struct fsns_stat out[4];
    uint32_t n, rem;
    OK(fsns_getlisting(ns, SU, "/x/", NULL, 0, 4, out, &n, &rem, &E));
    CHECK(n == 1 && !strcmp(out[0].name, "y"));

    /* limits */
    char comp[300];
    memset(comp, 'c', 256);
    comp[256] = 0;
    char p[700];
    snprintf(p, sizeof p, "/x/%s", comp);
    FAILS(fsns_mkdirs(ns, SU, p, 0755, &E), FSNS_ECOMPONENTLEN,
          "in directory /x is exceeded: limit=255 length=256");
    CHECK(!strcmp(E.cls, "org.apache.hadoop.hdfs.protocol.FSLimitException$PathComponentTooLongException"));
    comp[255] = 0;
    snprintf(p, sizeof p, "/x/%s", comp);
    OK(fsns_mkdirs(ns, SU, p, 0755, &E));
    struct fsns_create_args a = cargs("c1", 0644, FSNS_CREATE, true);
    snprintf(p, sizeof p, "/x/%s/%sX", comp, comp);
    FAILS(fsns_create(ns, SU, p, &a, &st, NULL, &E), FSNS_ECOMPONENTLEN, "limit=255 length=256");
    FAILS(fsns_mkdirs(ns, SU, "/x/.snapshot", 0755, &E), FSNS_EARG, "\".snapshot\" is a reserved name.");

    size_t big = 9000;
    char *lp = malloc(big + 1);
    for (size_t i = 0; i < big; i++)
        lp[i] = (i % 2 == 0) ? '/' : 'd';
    lp[big] = 0;
    FAILS(fsns_mkdirs(ns, SU, lp, 0755, &E), FSNS_EIO, "mkdirs: Pathname too long.  Limit 8000 characters, 1000 levels.");
    FAILS(fsns_getfileinfo(ns, SU, lp, &st, &E), FSNS_ENOENT, "File does not exist");
    lp[2002] = 0; /* 1001 components */
    FAILS(fsns_mkdirs(ns, SU, lp, 0755, &E), FSNS_EIO, "Pathname too long");
    FAILS(fsns_create(ns, SU, lp, &a, &st, NULL, &E), FSNS_EIO, "create: Pathname too long");
    lp[2000] = 0; /* 1000 components: accepted */
    OK(fsns_mkdirs(ns, SU, lp, 0755, &E));
    OK(fsns_getfileinfo(ns, SU, lp, &st, &E));
    bool deleted;
    OK(fsns_delete(ns, SU, "/d", true, &deleted, NULL, &E));
    CHECK(deleted);
    /* a huge path made of slashes normalises to the root for lookups */
    char *slashes = malloc(100001);
    memset(slashes, '/', 100000);
    slashes[100000] = 0;
    OK(fsns_getfileinfo(ns, SU, slashes, &st, &E));
    CHECK(st.fileid == 16385);
    free(slashes);
    free(lp);
    fsns_free(ns);
}

static void test_mkdirs_and_info(void)
{
    struct fsns *ns = fsns_new(SU);
    struct fsns_stat st;
    fsns_set_time(ns, 1000000);
    OK(fsns_mkdirs(ns, SU, "/a/b/c", 0755, &E));
    OK(fsns_getfileinfo(ns, SU, "/a/b/c", &st, &E));
    CHECK(st.type == FSNS_DIR && st.perm == 0755 && !strcmp(st.owner, SU) && !strcmp(st.group, "supergroup"));
    CHECK(st.mtime == 1000000 && st.atime == 0 && st.children == 0 && st.fileid > 16385);
    OK(fsns_getfileinfo(ns, SU, "/a", &st, &E));
    CHECK(st.children == 1);
    /* existing directory: success */
    OK(fsns_mkdirs(ns, SU, "/a/b", 0700, &E));
    /* ancestors get u+wx, the last the masked permission */
    OK(fsns_mkdirs(ns, SU, "/m/n", 0500, &E));
    OK(fsns_getfileinfo(ns, SU, "/m", &st, &E));
    CHECK(st.perm == 0700);
    OK(fsns_getfileinfo(ns, SU, "/m/n", &st, &E));
    CHECK(st.perm == 0500);
    /* sticky kept on the last */
    OK(fsns_mkdirs(ns, SU, "/tmp", 01777, &E));
    OK(fsns_getfileinfo(ns, SU, "/tmp", &st, &E));
    CHECK(st.perm == 01777);

    /* group is inherited from the parent */
    OK(fsns_setowner(ns, SU, "/a", "alice", "staff", &E));
    OK(fsns_mkdirs(ns, "alice", "/a/new/deep", 0755, &E));
    OK(fsns_getfileinfo(ns, SU, "/a/new/deep", &st, &E));
    CHECK(!strcmp(st.owner, "alice") && !strcmp(st.group, "staff"));

    /* a file in the way */
    uint64_t lens[1] = { 5 };
    mkfile(ns, SU, "/f", lens, 1);
    FAILS(fsns_mkdirs(ns, SU, "/f", 0755, &E), FSNS_EEXIST, "Path is not a directory: /f");
    CHECK(!strcmp(E.cls, "org.apache.hadoop.fs.FileAlreadyExistsException"));
    FAILS(fsns_mkdirs(ns, SU, "/f/x/y", 0755, &E), FSNS_EPARENTNOTDIR, "/f (is not a directory)");
    CHECK(!strcmp(E.cls, "org.apache.hadoop.fs.ParentNotDirectoryException"));

    /* permission: WRITE on the nearest existing ancestor */
    FAILS(fsns_mkdirs(ns, "bob", "/a/b/x/y", 0755, &E), FSNS_EACCES,
          "Permission denied: user=bob, access=WRITE, inode=\"/a/b\":hdfs:supergroup:drwxr-xr-x");
    CHECK(!strcmp(E.cls, "org.apache.hadoop.security.AccessControlException"));
    /* traverse needs x on every ancestor */
    OK(fsns_mkdirs(ns, SU, "/p/q", 0755, &E));
    OK(fsns_setpermission(ns, SU, "/p", 0700, &E));
    FAILS(fsns_getfileinfo(ns, "alice", "/p/q", &st, &E), FSNS_EACCES,
          "Permission denied: user=alice, access=EXECUTE, inode=\"/p\":hdfs:supergroup:drwx------");
    OK(fsns_getfileinfo(ns, "alice", "/p", &st, &E)); /* the last itself needs nothing */
    OK(fsns_getfileinfo(ns, SU, "/p/q", &st, &E));

    /* getFileInfo errors */
    FAILS(fsns_getfileinfo(ns, SU, "/nope", &st, &E), FSNS_ENOENT, "File does not exist: /nope");
    CHECK(!strcmp(E.cls, "java.io.FileNotFoundException"));
    FAILS(fsns_getfileinfo(ns, "alice", "/f/x", &st, &E), FSNS_EACCES, "/f (is not a directory)");
    FAILS(fsns_getfileinfo(ns, SU, "/f/x", &st, &E), FSNS_ENOENT, "File does not exist");
    FAILS(fsns_delete(ns, SU, "/f/x", false, &(bool){ 0 }, NULL, &E), FSNS_EACCES, "/f (is not a directory)");

    /* file status */
    OK(fsns_getfileinfo(ns, SU, "/f", &st, &E));
    CHECK(st.type == FSNS_FILE && st.length == 5 && st.replication == 1 && st.block_size == 1048576);
    CHECK(st.nblocks == 1 && st.blocks[0].len == 5 && !st.under_construction && st.lease_holder == NULL);
    CHECK(!strcmp(st.name, ""));

    /* storage policy is inherited */
    OK(fsns_setstoragepolicy(ns, SU, "/a", 12, &E));
    OK(fsns_getfileinfo(ns, SU, "/a/new/deep", &st, &E));
    CHECK(st.storage_policy == 12);
    OK(fsns_getfileinfo(ns, SU, "/f", &st, &E));
    CHECK(st.storage_policy == 0);
    FAILS(fsns_setstoragepolicy(ns, SU, "/zz", 7, &E), FSNS_ENOENT, "does not exist");
    FAILS(fsns_setstoragepolicy(ns, "bob", "/a", 7, &E), FSNS_EACCES, "access=WRITE");
    fsns_free(ns);
}

static void test_symlink(void)
{
    struct fsns *ns = fsns_new(SU);
    struct fsns_stat st;
    fsns_set_time(ns, 2000000);
    OK(fsns_mkdirs(ns, SU, "/d", 0755, &E));
    OK(fsns_setowner(ns, SU, "/d", "alice", "staff", &E));

    /* the link answers for itself: type, target, length of the target */
    OK(fsns_symlink(ns, "alice", "/elsewhere/file", "/d/l", 0755, false, &E));
    OK(fsns_getfileinfo(ns, SU, "/d/l", &st, &E));
    CHECK(st.type == FSNS_SYMLINK && st.symlink && !strcmp(st.symlink, "/elsewhere/file"));
    CHECK(st.length == strlen("/elsewhere/file") && st.perm == 0777 && st.mtime == 2000000);
    CHECK(!strcmp(st.owner, "alice") && !strcmp(st.group, "staff") && st.nblocks == 0);
    /* a relative, dangling target is kept word for word */
    OK(fsns_symlink(ns, SU, "../x/./y", "/d/rel", 0755, false, &E));
    OK(fsns_getfileinfo(ns, SU, "/d/rel", &st, &E));
    CHECK(st.type == FSNS_SYMLINK && !strcmp(st.symlink, "../x/./y"));

    /* the listing reports the target; listing the link lists the link */
    struct fsns_stat out[8];
    uint32_t n = 0, rem = 0;
    OK(fsns_getlisting(ns, SU, "/d", NULL, 0, 8, out, &n, &rem, &E));
    CHECK(n == 2 && rem == 0);
    CHECK(n == 2 && !strcmp(out[0].name, "l") && out[0].type == FSNS_SYMLINK &&
          !strcmp(out[0].symlink, "/elsewhere/file"));
    CHECK(n == 2 && !strcmp(out[1].name, "rel") && !strcmp(out[1].symlink, "../x/./y"));
    OK(fsns_getlisting(ns, SU, "/d/l", NULL, 0, 8, out, &n, &rem, &E));
    CHECK(n == 1 && out[0].type == FSNS_SYMLINK && !strcmp(out[0].symlink, "/elsewhere/file"));

    /* an existing name, whatever it is */
    FAILS(fsns_symlink(ns, SU, "/t", "/d/l", 0755, false, &E), FSNS_EEXIST, "failed to create link /d/l");
    CHECK(!strcmp(E.cls, "org.apache.hadoop.fs.FileAlreadyExistsException"));
    FAILS(fsns_symlink(ns, SU, "/t", "/d", 0755, true, &E), FSNS_EEXIST, "/d");
    FAILS(fsns_symlink(ns, SU, "/t", "/", 0755, true, &E), FSNS_EEXIST, "/");

    /* missing parent */
    FAILS(fsns_symlink(ns, SU, "/t", "/m/n/l", 0755, false, &E), FSNS_ENOENT, "Parent directory doesn't exist: /m/n");
    CHECK(!strcmp(E.cls, "java.io.FileNotFoundException"));
    FAILS(fsns_getfileinfo(ns, SU, "/m", &st, &E), FSNS_ENOENT, "/m");
    /* ... made as mkdirs makes them with createParent: dirPerm | u+wx */
    OK(fsns_symlink(ns, SU, "/t", "/m/n/l", 0500, true, &E));
    OK(fsns_getfileinfo(ns, SU, "/m/n", &st, &E));
    CHECK(st.type == FSNS_DIR && st.perm == 0700 && st.children == 1);
    OK(fsns_getfileinfo(ns, SU, "/m/n/l", &st, &E));
    CHECK(st.type == FSNS_SYMLINK && !strcmp(st.symlink, "/t"));

    /* the parent is a file, or a symlink (never followed) */
    uint64_t lens[1] = { 3 };
    mkfile(ns, SU, "/f", lens, 1);
    FAILS(fsns_symlink(ns, SU, "/t", "/f/l", 0755, false, &E), FSNS_EPARENTNOTDIR, "/f");
    CHECK(!strcmp(E.cls, "org.apache.hadoop.fs.ParentNotDirectoryException"));
    FAILS(fsns_symlink(ns, SU, "/t", "/f/x/l", 0755, true, &E), FSNS_EPARENTNOTDIR, "/f");
    FAILS(fsns_symlink(ns, SU, "/t", "/d/l/x", 0755, true, &E), FSNS_EPARENTNOTDIR, "/d/l");

    /* bad names, write permission on the parent */
    FAILS(fsns_symlink(ns, SU, "/t", "rel/l", 0755, false, &E), FSNS_EINVALPATH, "Invalid link name: rel/l");
    FAILS(fsns_symlink(ns, SU, "", "/d/e", 0755, false, &E), FSNS_EINVALPATH, "Invalid target name");
    FAILS(fsns_symlink(ns, "bob", "/t", "/d/b", 0755, false, &E), FSNS_EACCES,
          "Permission denied: user=bob, access=WRITE, inode=\"/d\":alice:staff:drwxr-xr-x");
    FAILS(fsns_symlink(ns, "bob", "/t", "/d/q/b", 0755, true, &E), FSNS_EACCES, "access=WRITE, inode=\"/d\"");
    FAILS(fsns_getfileinfo(ns, SU, "/d/q", &st, &E), FSNS_ENOENT, "/d/q");

    /* rename and delete treat the link as a leaf */
    bool ok = false, deleted = false;
    OK(fsns_rename(ns, SU, "/d/l", "/m/l2", &ok, &E));
    CHECK(ok);
    OK(fsns_getfileinfo(ns, SU, "/m/l2", &st, &E));
    CHECK(st.type == FSNS_SYMLINK && !strcmp(st.symlink, "/elsewhere/file"));
    OK(fsns_rename2(ns, SU, "/m/l2", "/d/rel", true, NULL, &E));
    OK(fsns_getfileinfo(ns, SU, "/d/rel", &st, &E));
    CHECK(st.type == FSNS_SYMLINK && !strcmp(st.symlink, "/elsewhere/file"));
    struct fsns_summary sum;
    OK(fsns_content_summary(ns, SU, "/m", &sum, &E));
    CHECK(sum.directory_count == 2 && sum.file_count == 1 && sum.length == 0);
    OK(fsns_delete(ns, SU, "/d/rel", false, &deleted, NULL, &E));
    CHECK(deleted);
    FAILS(fsns_getfileinfo(ns, SU, "/d/rel", &st, &E), FSNS_ENOENT, "/d/rel");
    OK(fsns_delete(ns, SU, "/m", true, &deleted, NULL, &E));
    CHECK(deleted);
    OK(fsns_getlisting(ns, SU, "/d", NULL, 0, 8, out, &n, &rem, &E));
    CHECK(n == 0);
    fsns_free(ns);
}

static void test_listing(void)
{
    struct fsns *ns = fsns_new(SU);
    const char *names[] = { "b", "a", "c", "aa", "B" };
    char p[64];
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "/l/%s", names[i]);
        OK(fsns_mkdirs(ns, SU, p, 0755, &E));
    }
    struct fsns_stat out[10];
    uint32_t n, rem;
    OK(fsns_getlisting(ns, SU, "/l", NULL, 0, 10, out, &n, &rem, &E));
    CHECK(n == 5 && rem == 0);
    CHECK(n == 5 && !strcmp(out[0].name, "B") && !strcmp(out[1].name, "a") && !strcmp(out[2].name, "aa") &&
          !strcmp(out[3].name, "b") && !strcmp(out[4].name, "c"));
    OK(fsns_getlisting(ns, SU, "/l", "a", 1, 10, out, &n, &rem, &E));
    CHECK(n == 3 && !strcmp(out[0].name, "aa"));
    OK(fsns_getlisting(ns, SU, "/l", "ab", 2, 10, out, &n, &rem, &E));
    CHECK(n == 2 && !strcmp(out[0].name, "b"));
    OK(fsns_getlisting(ns, SU, "/l", NULL, 0, 2, out, &n, &rem, &E));
    CHECK(n == 2 && rem == 3);
    OK(fsns_getlisting(ns, SU, "/l", "aa", 2, 2, out, &n, &rem, &E));
    CHECK(n == 2 && rem == 0 && !strcmp(out[1].name, "c"));
    OK(fsns_getlisting(ns, SU, "/l", "zz", 2, 10, out, &n, &rem, &E));
    CHECK(n == 0 && rem == 0);
    /* a file lists itself, unnamed */
    uint64_t lens[1] = { 3 };
    mkfile(ns, SU, "/l/a/file", lens, 1);
    OK(fsns_getlisting(ns, SU, "/l/a/file", NULL, 0, 10, out, &n, &rem, &E));
    CHECK(n == 1 && rem == 0 && out[0].type == FSNS_FILE && !strcmp(out[0].name, "") && out[0].length == 3);
    FAILS(fsns_getlisting(ns, SU, "/l/none", NULL, 0, 10, out, &n, &rem, &E), FSNS_ENOENT, "/l/none");
    /* listing needs r-x on the directory */
    OK(fsns_setpermission(ns, SU, "/l", 0711, &E));
    FAILS(fsns_getlisting(ns, "alice", "/l", NULL, 0, 10, out, &n, &rem, &E), FSNS_EACCES,
          "user=alice, access=READ_EXECUTE, inode=\"/l\":hdfs:supergroup:drwx--x--x");
    OK(fsns_getlisting(ns, "alice", "/l/a", NULL, 0, 10, out, &n, &rem, &E));
    fsns_free(ns);
}

static void test_create_write(void)
{
    struct fsns *ns = fsns_new(SU);
    fsns_set_block_pool_id(ns, "BP-1");
    struct fsns_stat st;
    struct fsns_create_args a = cargs("c1", 0644, FSNS_CREATE, false);
    OK(fsns_mkdirs(ns, SU, "/w", 0777, &E));
    OK(fsns_setowner(ns, SU, "/w", NULL, "wg", &E));
    OK(fsns_create(ns, "alice", "/w/f", &a, &st, NULL, &E));
    CHECK(st.type == FSNS_FILE && st.under_construction && !strcmp(st.lease_holder, "c1") && st.perm == 0644);
    CHECK(!strcmp(st.owner, "alice") && !strcmp(st.group, "wg") && st.length == 0 && st.nblocks == 0);
    uint64_t fid = st.fileid;
    bool closed;
    OK(fsns_is_file_closed(ns, SU, "/w/f", &closed, &E));
    CHECK(!closed);

    /* create errors */
    FAILS(fsns_create(ns, "alice", "/w/f", &a, &st, NULL, &E), FSNS_EBEINGCREATED,
          "Failed to CREATE_FILE /w/f for c1 on 127.0.0.1 because c1 is already the current lease holder.");
    CHECK(!strcmp(E.cls, "org.apache.hadoop.hdfs.protocol.AlreadyBeingCreatedException"));
    struct fsns_create_args a2 = cargs("c2", 0644, FSNS_CREATE, false);
    FAILS(fsns_create(ns, "alice", "/w/f", &a2, &st, NULL, &E), FSNS_EBEINGCREATED,
          "because this file lease is currently owned by c1 on 127.0.0.1");
    FAILS(fsns_create(ns, "alice", "/w", &a, &st, NULL, &E), FSNS_EACCES, "access=WRITE, inode=\"/\"");
    FAILS(fsns_create(ns, SU, "/w", &a, &st, NULL, &E), FSNS_EEXIST, "/w already exists as a directory");
    FAILS(fsns_create(ns, SU, "/nodir/f", &a, &st, NULL, &E), FSNS_ENOENT,
          "Parent directory doesn't exist: /nodir");
    struct fsns_create_args nc = cargs("c1", 0644, FSNS_OVERWRITE, false);
    FAILS(fsns_create(ns, "alice", "/w/g", &nc, &st, NULL, &E), FSNS_ENOENT, "Can't overwrite non-existent /w/g");
    struct fsns_create_args r0 = cargs("c1", 0644, FSNS_CREATE, false);
    r0.replication = 0;
    FAILS(fsns_create(ns, "alice", "/w/g", &r0, &st, NULL, &E), FSNS_EIO,
          "Requested replication factor of 0 is less than the required minimum of 1");
    r0.replication = 513;
    FAILS(fsns_create(ns, "alice", "/w/g", &r0, &st, NULL, &E), FSNS_EIO, "exceeds maximum of 512");
    struct fsns_create_args bs = cargs("c1", 0644, FSNS_CREATE, false);
    bs.block_size = 1024;
    FAILS(fsns_create(ns, "alice", "/w/g", &bs, &st, NULL, &E), FSNS_EIO,
          "Specified block size is less than configured minimum value "
          "(dfs.namenode.fs-limits.min-block-size): 1024 < 1048576");
    fsns_set_min_block_size(ns, 512);
    OK(fsns_create(ns, "alice", "/w/small", &bs, &st, NULL, &E));
    FAILS(fsns_create(ns, "alice", "/w//g", &a, &st, NULL, &E), FSNS_EINVALPATH, "Invalid path name /w//g");
    FAILS(fsns_create(ns, "alice", "/w/small/x", &a, &st, NULL, &E), FSNS_EPARENTNOTDIR,
          "/w/small (is not a directory)");
    FAILS(fsns_create(ns, "bob", "/f", &a, &st, NULL, &E), FSNS_EACCES,
          "user=bob, access=WRITE, inode=\"/\":hdfs:supergroup:drwxr-xr-x");

    /* create with parents: they get the nearest existing ancestor's
     * permission plus u+wx */
    struct fsns_create_args cp = cargs("c3", 0600, FSNS_CREATE, true);
    OK(fsns_setpermission(ns, SU, "/w", 01467, &E));
    OK(fsns_create(ns, "bob", "/w/p1/p2/file", &cp, &st, NULL, &E));
    CHECK(st.perm == 0600);
    OK(fsns_getfileinfo(ns, SU, "/w/p1", &st, &E));
    CHECK(st.perm == 0767 && !strcmp(st.owner, "bob") && !strcmp(st.group, "wg"));
    OK(fsns_getfileinfo(ns, SU, "/w/p1/p2", &st, &E));
    CHECK(st.perm == 0767);
    OK(fsns_setpermission(ns, SU, "/w", 0777, &E));

    /* blocks */
    struct fsns_block b1, b2, b3, again;
    uint64_t off;
    OK(fsns_addblock(ns, "alice", "/w/f", fid, "c1", NULL, &b1, &off, &E));
    CHECK(b1.id == 1073741825ULL && b1.gs == 1001 && b1.len == 0 && b1.uc && off == 0);
    FAILS(fsns_addblock(ns, "alice", "/w/f", fid, "c2", &b1, &b2, &off, &E), FSNS_ELEASE,
          "Client (=c2) is not the lease owner (=c1");
    CHECK(!strcmp(E.cls, "org.apache.hadoop.hdfs.server.namenode.LeaseExpiredException"));
    /* retry of the first allocation gives the same block */
    OK(fsns_addblock(ns, "alice", "/w/f", fid, "c1", NULL, &again, &off, &E));
    CHECK(again.id == b1.id && off == 0);
    b1.len = 100;
    OK(fsns_addblock(ns, "alice", "/w/f", fid, "c1", &b1, &b2, &off, &E));
    CHECK(b2.id == b1.id + 1 && b2.gs == b1.gs + 1 && off == 100);
    OK(fsns_addblock(ns, "alice", "/w/f", fid, "c1", &b1, &again, &off, &E));
    CHECK(again.id == b2.id && off == 100);
    struct fsns_block bogus = { 999, 1, 0, false };
    FAILS(fsns_addblock(ns, "alice", "/w/f", fid, "c1", &bogus, &b3, &off, &E), FSNS_EIO,
          "Cannot allocate block in /w/f: passed 'previous' block BP-1:blk_999_1 does not match actual last block "
          "in file BP-1:blk_1073741826_1002");
    /* fsync records the last block's length */
    OK(fsns_fsync(ns, "alice", "/w/f", fid, "c1", 7, &E));
    OK(fsns_getfileinfo(ns, SU, "/w/f", &st, &E));
    CHECK(st.length == 107);
    FAILS(fsns_fsync(ns, "alice", "/w/f", fid, "zz", 7, &E), FSNS_ELEASE, "is not the lease owner");
    /* abandon the last block */
    OK(fsns_abandonblock(ns, "alice", "/w/f", fid, "c1", b2.id, &E));
    OK(fsns_getfileinfo(ns, SU, "/w/f", &st, &E));
    CHECK(st.nblocks == 1 && st.length == 100);
    OK(fsns_abandonblock(ns, "alice", "/w/f", fid, "c1", 12345, &E)); /* not last: nothing */
    OK(fsns_addblock(ns, "alice", "/w/f", fid, "c1", &b1, &b2, &off, &E));
    /* renamed while open: found by inode id */
    bool ok;
    OK(fsns_rename(ns, "alice", "/w/f", "/w/f2", &ok, &E));
    CHECK(ok);
    b2.len = 50;
    struct fsns_block badid = b2;
    badid.id++;
    FAILS(fsns_complete(ns, "alice", "/w/f", fid, "c1", &badid, &ok, &E), FSNS_EIO,
          "Trying to commit inconsistent block");
    struct fsns_block badgs = b2;
    badgs.gs++;
    FAILS(fsns_complete(ns, "alice", "/w/f", fid, "c1", &badgs, &ok, &E), FSNS_EIO,
          "Commit block with mismatching GS. NN has BP-1:blk_");
    OK(fsns_complete(ns, "alice", "/w/f", fid, "c1", NULL, &ok, &E));
    CHECK(!ok); /* the last block is not committed yet */
    OK(fsns_complete(ns, "alice", "/w/f", fid, "c1", &b2, &ok, &E));
    CHECK(ok);
    OK(fsns_getfileinfo(ns, SU, "/w/f2", &st, &E));
    CHECK(!st.under_construction && st.length == 150 && st.nblocks == 2 && !st.blocks[1].uc);
    OK(fsns_complete(ns, "alice", "/w/f", fid, "c1", &b2, &ok, &E)); /* retried complete */
    CHECK(ok);
    FAILS(fsns_complete(ns, "alice", "/w/f2", 0, "c1", &b1, &ok, &E), FSNS_ELEASE,
          "No lease on /w/f2 (inode");
    FAILS(fsns_addblock(ns, "alice", "/w/f2", 0, "c1", &b2, &b3, &off, &E), FSNS_ELEASE,
          "File is not open for writing. [Lease.  Holder: c1, pending creates: 1]");
    FAILS(fsns_addblock(ns, "alice", "/w/f2", 0, "c0", &b2, &b3, &off, &E), FSNS_ELEASE,
          "No lease on /w/f2 (inode 16387): File is not open for writing. Holder c0 does not have any open files.");
    FAILS(fsns_addblock(ns, "alice", "/w/gone", 0, "c1", NULL, &b3, &off, &E), FSNS_ENOENT,
          "No lease on /w/gone (inode 0): File does not exist.");
    FAILS(fsns_addblock(ns, "alice", "/w/gone", 99999, "c1", NULL, &b3, &off, &E), FSNS_ENOENT, "(inode 99999)");
    FAILS(fsns_addblock(ns, "alice", "/w", 0, "c1", NULL, &b3, &off, &E), FSNS_ELEASE, "INode is not a regular file");
    OK(fsns_is_file_closed(ns, SU, "/w/f2", &closed, &E));
    CHECK(closed);
    uint64_t pbs;
    OK(fsns_preferred_block_size(ns, SU, "/w/f2", &pbs, &E));
    CHECK(pbs == 1048576);
    FAILS(fsns_preferred_block_size(ns, SU, "/w/none", &pbs, &E), FSNS_ENOENT, "File does not exist: /w/none");
    FAILS(fsns_preferred_block_size(ns, SU, "/w", &pbs, &E), FSNS_ENOENT, "Path is not a file: /w");
    FAILS(fsns_is_file_closed(ns, SU, "/w/none", &closed, &E), FSNS_ENOENT, "File does not exist: /w/none");

    /* block lookups */
    struct fsns_blockinfo bi;
    CHECK(fsns_block_lookup(ns, b2.id, &bi) == 0 && bi.fileid == fid && bi.index == 1 && bi.offset == 100 &&
          bi.block.len == 50 && bi.block.gs == b2.gs);
    CHECK(fsns_block_lookup(ns, 42, &bi) == -1);
    char path[64];
    CHECK(fsns_inode_path(ns, fid, path, sizeof path) == 0 && !strcmp(path, "/w/f2"));
    CHECK(fsns_inode_path(ns, 16385, path, sizeof path) == 0 && !strcmp(path, "/"));
    CHECK(fsns_inode_path(ns, 1, path, sizeof path) == -1);
    CHECK(fsns_inode_path(ns, fid, path, 3) == -1);
    CHECK(fsns_block_sync(ns, b2.id, b2.gs, 60) == 0);
    OK(fsns_getfileinfo(ns, SU, "/w/f2", &st, &E));
    CHECK(st.length == 160);
    CHECK(fsns_block_sync(ns, 42, 1, 1) == -1);

    /* overwrite: the old blocks are reported */
    struct fsns_blocklist rm = { 0 };
    struct fsns_create_args ow = cargs("c9", 0600, FSNS_CREATE | FSNS_OVERWRITE, false);
    FAILS(fsns_create(ns, "bob", "/w/f2", &ow, &st, &rm, &E), FSNS_EACCES,
          "user=bob, access=WRITE, inode=\"/w/f2\":alice:wg:-rw-r--r--");
    OK(fsns_create(ns, "alice", "/w/f2", &ow, &st, &rm, &E));
    CHECK(rm.n == 2 && has_id(&rm, b1.id) && has_id(&rm, b2.id));
    CHECK(st.fileid != fid && st.perm == 0600);
    CHECK(fsns_block_lookup(ns, b1.id, &bi) == -1);
    fsns_blocklist_free(&rm);
    struct fsns_create_args nocr = cargs("c9", 0600, FSNS_CREATE, false);
    FAILS(fsns_create(ns, "alice", "/w/small", &nocr, &st, NULL, &E), FSNS_EBEINGCREATED,
          "Failed to CREATE_FILE /w/small for c9");
    uint64_t one[1] = { 1 };
    mkfile(ns, SU, "/w/closed", one, 1);
    FAILS(fsns_create(ns, SU, "/w/closed", &nocr, &st, NULL, &E), FSNS_EEXIST,
          "/w/closed for client 127.0.0.1 already exists");

    /* totals */
    struct fsns_totals t;
    fsns_totals(ns, &t);
    CHECK(t.files == 4 && t.directories == 4 && t.blocks == 1 && t.used == 1 && t.under_construction == 3);
    OK(fsns_renewlease(ns, "alice", "c1", &E));
    fsns_free(ns);
}

static void test_append_truncate_pipeline(void)
{
    struct fsns *ns = fsns_new(SU);
    fsns_set_time(ns, 5000000);
    struct fsns_stat st;
    struct fsns_block last;
    bool has;
    OK(fsns_setpermission(ns, SU, "/", 0777, &E));
    uint64_t l2[2] = { 1048576, 300 };
    uint64_t fid = mkfile(ns, "alice", "/f", l2, 2);

    OK(fsns_append(ns, "alice", "/f", "cA", "10.0.0.1", 0, &st, &has, &last, &E));
    CHECK(has && last.len == 300 && last.uc && st.under_construction && st.length == 1048876);
    FAILS(fsns_append(ns, "alice", "/f", "cA", "10.0.0.1", 0, &st, &has, &last, &E), FSNS_EBEINGCREATED,
          "Failed to APPEND_FILE /f for cA on 10.0.0.1 because cA is already the current lease holder.");
    FAILS(fsns_append(ns, "alice", "/f", "cB", "10.0.0.2", 0, &st, &has, &last, &E), FSNS_EBEINGCREATED,
          "Failed to APPEND_FILE /f for cB on 10.0.0.2 because this file lease is currently owned by cA on 10.0.0.1");
    FAILS(fsns_truncate(ns, "alice", "/f", 1, "cB", "10.0.0.2", &has, &has, &last, NULL, &E), FSNS_EBEINGCREATED,
          "Failed to TRUNCATE_FILE /f for cB");

    /* pipeline recovery on the appended block */
    struct fsns_block nb;
    OK(fsns_update_block_for_pipeline(ns, "alice", last.id, last.gs, "cA", &nb, &E));
    CHECK(nb.id == last.id && nb.gs > last.gs);
    struct fsns_blockinfo bi;
    CHECK(fsns_block_lookup(ns, last.id, &bi) == 0 && bi.block.gs == last.gs); /* not stored yet */
    FAILS(fsns_update_block_for_pipeline(ns, "alice", last.id, last.gs, "cZ", &nb, &E), FSNS_ELEASE,
          "Lease mismatch on blk_");
    FAILS(fsns_update_block_for_pipeline(ns, "alice", 4242, 1, "cA", &nb, &E), FSNS_EIO, "blk_4242_1 does not exist.");
    FAILS(fsns_update_block_for_pipeline(ns, "alice", last.id - 1, 1, "cA", &nb, &E), FSNS_EIO,
          "is COMPLETE but not UNDER_CONSTRUCTION");
    FAILS(fsns_update_pipeline(ns, "alice", "cA", last.id, last.gs, last.gs, 400, &E), FSNS_EIO,
          "does not have a larger generation stamp");
    FAILS(fsns_update_pipeline(ns, "alice", "cA", last.id, last.gs, nb.gs, 10, &E), FSNS_EIO,
          "to a smaller size block");
    OK(fsns_update_pipeline(ns, "alice", "cA", last.id, last.gs, nb.gs, 400, &E));
    CHECK(fsns_block_lookup(ns, last.id, &bi) == 0 && bi.block.gs == nb.gs && bi.block.len == 400);
    last.gs = nb.gs;
    last.len = 500;
    bool done;
    OK(fsns_complete(ns, "alice", "/f", fid, "cA", &last, &done, &E));
    CHECK(done);
    OK(fsns_getfileinfo(ns, SU, "/f", &st, &E));
    CHECK(st.length == 1048576 + 500 && !st.under_construction);

    /* NEW_BLOCK: no last block; addBlock with no previous */
    OK(fsns_append(ns, "alice", "/f", "cA", "h", FSNS_NEW_BLOCK, &st, &has, &last, &E));
    CHECK(!has);
    struct fsns_block b;
    uint64_t off;
    OK(fsns_addblock(ns, "alice", "/f", 0, "cA", NULL, &b, &off, &E));
    CHECK(off == 1048576 + 500);
    b.len = 10;
    OK(fsns_complete(ns, "alice", "/f", 0, "cA", &b, &done, &E));
    OK(fsns_getfileinfo(ns, SU, "/f", &st, &E));
    CHECK(st.nblocks == 3 && st.length == 1048576 + 510);

    /* a full last block: nothing to continue */
    uint64_t full[1] = { 1048576 };
    mkfile(ns, "alice", "/full", full, 1);
    OK(fsns_append(ns, "alice", "/full", "cA", "h", 0, &st, &has, &last, &E));
    CHECK(!has);
    OK(fsns_complete(ns, "alice", "/full", 0, "cA", NULL, &done, &E));
    CHECK(done);

    /* append errors */
    OK(fsns_mkdirs(ns, SU, "/d", 0755, &E));
    FAILS(fsns_append(ns, "alice", "/d", "cA", "h", 0, &st, &has, &last, &E), FSNS_EEXIST,
          "Cannot append to directory /d; already exists as a directory.");
    FAILS(fsns_append(ns, "alice", "/nf", "cA", "h", 0, &st, &has, &last, &E), FSNS_ENOENT,
          "Failed to append to non-existent file /nf for client h");
    FAILS(fsns_append(ns, "bob", "/full", "cB", "h", 0, &st, &has, &last, &E), FSNS_EACCES,
          "user=bob, access=WRITE, inode=\"/full\":alice:supergroup:-rw-r--r--");

    /* the soft limit lets another client take over */
    OK(fsns_append(ns, "alice", "/full", "cA", "h", 0, &st, &has, &last, &E));
    fsns_set_time(ns, 5000000 + 30000);
    FAILS(fsns_append(ns, "alice", "/full", "cB", "h2", 0, &st, &has, &last, &E), FSNS_EBEINGCREATED,
          "currently owned by cA");
    fsns_set_time(ns, 5000000 + 61000);
    OK(fsns_append(ns, "alice", "/full", "cB", "h2", 0, &st, &has, &last, &E));
    CHECK(!strcmp(st.lease_holder, "cB"));
    /* recoverLease closes it */
    bool closed;
    FAILS(fsns_recoverlease(ns, "bob", "/full", "cX", &closed, &E), FSNS_EACCES, "access=WRITE");
    OK(fsns_recoverlease(ns, "alice", "/full", "cX", &closed, &E));
    CHECK(closed);
    OK(fsns_getfileinfo(ns, SU, "/full", &st, &E));
    CHECK(!st.under_construction);
    OK(fsns_recoverlease(ns, "alice", "/full", "cX", &closed, &E));
    CHECK(closed);
    FAILS(fsns_recoverlease(ns, "alice", "/nf", "cX", &closed, &E), FSNS_ENOENT, "File does not exist: /nf");
    FAILS(fsns_recoverlease(ns, "alice", "/d", "cX", &closed, &E), FSNS_ENOENT, "Path is not a file: /d");

    /* truncate */
    uint64_t l3[3] = { 1048576, 1048576, 100 };
    mkfile(ns, "alice", "/t", l3, 3);
    OK(fsns_getfileinfo(ns, SU, "/t", &st, &E));
    uint64_t ids[3] = { st.blocks[0].id, st.blocks[1].id, st.blocks[2].id };
    bool cut;
    struct fsns_block cb;
    struct fsns_blocklist rm = { 0 };
    FAILS(fsns_truncate(ns, "alice", "/t", -1, "cT", "h", &done, &cut, &cb, &rm, &E), FSNS_EARG,
          "Cannot truncate to a negative file size: -1.");
    CHECK(!strcmp(E.cls, "org.apache.hadoop.HadoopIllegalArgumentException"));
    FAILS(fsns_truncate(ns, "alice", "/t", 5000000, "cT", "h", &done, &cut, &cb, &rm, &E), FSNS_EARG,
          "Cannot truncate to a larger file size. Current size: 2097252, truncate size: 5000000.");
    OK(fsns_truncate(ns, "alice", "/t", 2097252, "cT", "h", &done, &cut, &cb, &rm, &E));
    CHECK(done && !cut && rm.n == 0);
    OK(fsns_truncate(ns, "alice", "/t", 1048576, "cT", "h", &done, &cut, &cb, &rm, &E));
    CHECK(done && !cut && rm.n == 2 && has_id(&rm, ids[1]) && has_id(&rm, ids[2]));
    OK(fsns_truncate(ns, "alice", "/t", 1000, "cT", "h", &done, &cut, &cb, &rm, &E));
    CHECK(done && cut && cb.id == ids[0] && cb.len == 1000);
    OK(fsns_getfileinfo(ns, SU, "/t", &st, &E));
    CHECK(st.length == 1000 && st.nblocks == 1 && !st.under_construction);
    OK(fsns_truncate(ns, "alice", "/t", 0, "cT", "h", &done, &cut, &cb, &rm, &E));
    OK(fsns_getfileinfo(ns, SU, "/t", &st, &E));
    CHECK(st.length == 0 && st.nblocks == 0 && rm.n == 3);
    fsns_blocklist_free(&rm);
    FAILS(fsns_truncate(ns, "alice", "/d", 0, "cT", "h", &done, &cut, &cb, NULL, &E), FSNS_EACCES,
          "access=WRITE, inode=\"/d\"");
    FAILS(fsns_truncate(ns, SU, "/d", 0, "cT", "h", &done, &cut, &cb, NULL, &E), FSNS_ENOENT,
          "Path is not a file: /d");
    FAILS(fsns_truncate(ns, "alice", "/nf", 0, "cT", "h", &done, &cut, &cb, NULL, &E), FSNS_ENOENT,
          "File does not exist: /nf");
    FAILS(fsns_truncate(ns, "bob", "/t", 0, "cT", "h", &done, &cut, &cb, NULL, &E), FSNS_EACCES, "access=WRITE");

    /* getBlockLocations: READ, atime */
    OK(fsns_getblocks(ns, "bob", "/f", &st, &E));
    CHECK(st.atime == 5000000 && st.nblocks == 3); /* within the precision */
    fsns_set_time(ns, 5000000 + 3600001);
    OK(fsns_getblocks(ns, "bob", "/f", &st, &E));
    CHECK(st.atime == 5000000 + 3600001);
    OK(fsns_setpermission(ns, "alice", "/f", 0600, &E));
    FAILS(fsns_getblocks(ns, "bob", "/f", &st, &E), FSNS_EACCES, "access=READ,");
    FAILS(fsns_getblocks(ns, "bob", "/d", &st, &E), FSNS_ENOENT, "Path is not a file: /d");
    FAILS(fsns_getblocks(ns, "bob", "/none", &st, &E), FSNS_ENOENT, "File does not exist: /none");
    fsns_free(ns);
}

static void test_delete(void)
{
    struct fsns *ns = fsns_new(SU);
    uint64_t l1[1] = { 10 }, l2[2] = { 20, 30 };
    OK(fsns_mkdirs(ns, SU, "/d/sub", 0755, &E));
    mkfile(ns, SU, "/d/a", l1, 1);
    mkfile(ns, SU, "/d/sub/b", l2, 2);
    struct fsns_totals t;
    fsns_totals(ns, &t);
    CHECK(t.files == 2 && t.directories == 3 && t.blocks == 3 && t.used == 60);
    bool deleted;
    struct fsns_blocklist rm = { 0 };
    FAILS(fsns_delete(ns, SU, "/d", false, &deleted, &rm, &E), FSNS_ENOTEMPTY, "/d is non empty");
    CHECK(!strcmp(E.cls, "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException"));
    OK(fsns_delete(ns, SU, "/nothing", false, &deleted, &rm, &E));
    CHECK(!deleted);
    OK(fsns_delete(ns, SU, "/", true, &deleted, &rm, &E));
    CHECK(!deleted);
    FAILS(fsns_delete(ns, SU, "/", false, &deleted, &rm, &E), FSNS_ENOTEMPTY, "/ is non empty");
    /* permissions: WRITE on the parent, ALL on non-empty subdirectories */
    FAILS(fsns_delete(ns, "alice", "/d/a", false, &deleted, &rm, &E), FSNS_EACCES,
          "user=alice, access=WRITE, inode=\"/d\"");
    OK(fsns_setowner(ns, SU, "/d", "alice", NULL, &E));
    FAILS(fsns_delete(ns, "alice", "/d", true, &deleted, &rm, &E), FSNS_EACCES, "access=WRITE, inode=\"/\"");
    OK(fsns_mkdirs(ns, SU, "/home", 0777, &E));
    OK(fsns_rename2(ns, SU, "/d", "/home/d", false, NULL, &E));
    FAILS(fsns_delete(ns, "alice", "/home/d", true, &deleted, &rm, &E), FSNS_EACCES,
          "user=alice, access=ALL, inode=\"/home/d/sub\":hdfs:supergroup:drwxr-xr-x");
    OK(fsns_delete(ns, "alice", "/home/d/a", false, &deleted, &rm, &E));
    CHECK(deleted && rm.n == 1);
    OK(fsns_delete(ns, SU, "/home/d", true, &deleted, &rm, &E));
    CHECK(deleted && rm.n == 3);
    fsns_blocklist_free(&rm);
    fsns_totals(ns, &t);
    CHECK(t.files == 0 && t.directories == 2 && t.blocks == 0 && t.used == 0);
    /* an empty subdirectory does not need ALL */
    OK(fsns_mkdirs(ns, "alice", "/home/e", 0755, &E));
    OK(fsns_mkdirs(ns, SU, "/home/e/empty", 0700, &E));
    OK(fsns_delete(ns, "alice", "/home/e", true, &deleted, NULL, &E));
    CHECK(deleted);
    /* sticky bit */
    OK(fsns_mkdirs(ns, SU, "/tmp", 01777, &E));
    mkfile(ns, "alice", "/tmp/af", l1, 1);
    FAILS(fsns_delete(ns, "bob", "/tmp/af", false, &deleted, NULL, &E), FSNS_EACCES,
          "Permission denied by sticky bit: user=bob, path=\"/tmp/af\":alice:supergroup:-rw-r--r--, "
          "parent=\"/tmp\":hdfs:supergroup:drwxrwxrwt");
    OK(fsns_delete(ns, "alice", "/tmp/af", false, &deleted, NULL, &E));
    CHECK(deleted);
    /* snapshots block deletion */
    OK(fsns_mkdirs(ns, SU, "/s/in", 0755, &E));
    OK(fsns_allow_snapshot(ns, SU, "/s/in", &E));
    OK(fsns_create_snapshot(ns, SU, "/s/in", "x", NULL, 0, &E));
    FAILS(fsns_delete(ns, SU, "/s", true, &deleted, NULL, &E), FSNS_ESNAPSHOT,
          "The directory /s/in cannot be deleted since /s/in is snapshottable and already has snapshots");
    OK(fsns_delete_snapshot(ns, SU, "/s/in", "x", &E));
    OK(fsns_delete(ns, SU, "/s", true, &deleted, NULL, &E));
    CHECK(deleted);
    struct fsns_snapdir *sd;
    size_t nsd;
    OK(fsns_snapshottable_dirs(ns, SU, &sd, &nsd, &E));
    CHECK(nsd == 0 && sd == NULL);
    fsns_free(ns);
}

static void test_rename(void)
{
    struct fsns *ns = fsns_new(SU);
    uint64_t l1[1] = { 10 };
    bool ok;
    struct fsns_stat st;
    OK(fsns_mkdirs(ns, SU, "/a/b", 0755, &E));
    OK(fsns_mkdirs(ns, SU, "/c", 0755, &E));
    uint64_t fid = mkfile(ns, SU, "/a/f", l1, 1);
    OK(fsns_rename(ns, SU, "/a/f", "/a/g", &ok, &E));
    CHECK(ok);
    OK(fsns_getfileinfo(ns, SU, "/a/g", &st, &E));
    CHECK(st.fileid == fid);
    OK(fsns_rename(ns, SU, "/a/g", "/c", &ok, &E)); /* into an existing directory */
    CHECK(ok);
    OK(fsns_getfileinfo(ns, SU, "/c/g", &st, &E));
    CHECK(st.fileid == fid);
    mkfile(ns, SU, "/c/h", l1, 1);
    OK(fsns_rename(ns, SU, "/c/g", "/c/h", &ok, &E));
    CHECK(!ok);
    OK(fsns_rename(ns, SU, "/nope", "/x", &ok, &E));
    CHECK(!ok);
    OK(fsns_rename(ns, SU, "/a", "/a/b/z", &ok, &E));
    CHECK(!ok);
    OK(fsns_rename(ns, SU, "/c/g", "/c/g", &ok, &E));
    CHECK(ok);
    OK(fsns_rename(ns, SU, "/c/g", "/c", &ok, &E)); /* /c/g onto itself */
    CHECK(ok);
    OK(fsns_rename(ns, SU, "/c/g", "/none/x", &ok, &E));
    CHECK(!ok);
    OK(fsns_rename(ns, SU, "/", "/x", &ok, &E));
    CHECK(!ok);
    FAILS(fsns_rename(ns, SU, "/c/g", "/x//y", &ok, &E), FSNS_EIO, "Invalid name: /x//y");
    CHECK(!strcmp(E.cls, "java.io.IOException"));
    FAILS(fsns_rename(ns, SU, "/c/g", "/c/h/x", &ok, &E), FSNS_EPARENTNOTDIR, "/c/h (is not a directory)");
    FAILS(fsns_rename(ns, "alice", "/c/g", "/a/q", &ok, &E), FSNS_EACCES, "access=WRITE, inode=\"/c\"");
    OK(fsns_mkdirs(ns, SU, "/tmp", 01777, &E));
    mkfile(ns, "alice", "/tmp/af", l1, 1);
    FAILS(fsns_rename(ns, "bob", "/tmp/af", "/tmp/bf", &ok, &E), FSNS_EACCES, "sticky bit");
    FAILS(fsns_rename(ns, "alice", "/tmp/af", "/c/af", &ok, &E), FSNS_EACCES,
          "user=alice, access=WRITE, inode=\"/c\"");
    OK(fsns_rename(ns, "alice", "/tmp/af", "/tmp/bf", &ok, &E));
    CHECK(ok);
    FAILS(fsns_rename(ns, SU, "/c/g", "/c/.snapshot", &ok, &E), FSNS_EARG, "reserved name");

    /* rename2 */
    struct fsns_blocklist rm = { 0 };
    OK(fsns_getfileinfo(ns, SU, "/c/h", &st, &E));
    uint64_t hblock = st.blocks[0].id;
    FAILS(fsns_rename2(ns, SU, "/c/g", "/c/h", false, &rm, &E), FSNS_EEXIST, "rename destination /c/h already exists");
    OK(fsns_rename2(ns, SU, "/c/g", "/c/h", true, &rm, &E));
    CHECK(rm.n == 1 && rm.ids[0] == hblock);
    OK(fsns_getfileinfo(ns, SU, "/c/h", &st, &E));
    CHECK(st.fileid == fid);
    FAILS(fsns_rename2(ns, SU, "/c/h", "/a/b", true, &rm, &E), FSNS_EIO,
          "Source /c/h and destination /a/b must both be directories");
    OK(fsns_mkdirs(ns, SU, "/e1/x", 0755, &E));
    OK(fsns_mkdirs(ns, SU, "/e2", 0755, &E));
    FAILS(fsns_rename2(ns, SU, "/e2", "/e1", true, &rm, &E), FSNS_EIO, "rename destination directory is not empty: /e1");
    OK(fsns_rename2(ns, SU, "/e1/x", "/e2", true, &rm, &E)); /* empty directory replaced */
    FAILS(fsns_rename2(ns, SU, "/nope", "/x", false, &rm, &E), FSNS_ENOENT, "rename source /nope is not found.");
    FAILS(fsns_rename2(ns, SU, "/c/h", "/c/h", false, &rm, &E), FSNS_EEXIST,
          "The source /c/h and destination /c/h are the same");
    FAILS(fsns_rename2(ns, SU, "/a", "/a/b/c", false, &rm, &E), FSNS_EIO,
          "Rename destination /a/b/c is a directory or file under source /a");
    FAILS(fsns_rename2(ns, SU, "/a", "/", false, &rm, &E), FSNS_EIO, "rename destination cannot be the root");
    FAILS(fsns_rename2(ns, SU, "/", "/z", false, &rm, &E), FSNS_EIO, "rename source cannot be the root");
    FAILS(fsns_rename2(ns, SU, "/a", "/no/pe", false, &rm, &E), FSNS_ENOENT, "rename destination parent /no/pe not found.");
    FAILS(fsns_rename2(ns, SU, "/a", "/x//y", false, &rm, &E), FSNS_EINVALPATH, "Invalid path name Invalid name: /x//y");
    FAILS(fsns_rename2(ns, SU, "/a", "/c/h/y", false, &rm, &E), FSNS_EPARENTNOTDIR, "/c/h (is not a directory)");
    OK(fsns_rename2(ns, SU, "/a", "/c/a2", false, &rm, &E));
    OK(fsns_getfileinfo(ns, SU, "/c/a2/b", &st, &E));
    /* snapshots */
    OK(fsns_allow_snapshot(ns, SU, "/c/a2/b", &E));
    OK(fsns_create_snapshot(ns, SU, "/c/a2/b", "s", NULL, 0, &E));
    FAILS(fsns_rename2(ns, SU, "/c/a2", "/c/a3", false, &rm, &E), FSNS_ESNAPSHOT, "already has snapshots");
    FAILS(fsns_rename(ns, SU, "/c/a2", "/c/a3", &ok, &E), FSNS_ESNAPSHOT, "already has snapshots");
    fsns_blocklist_free(&rm);
    fsns_free(ns);
}

static void test_attrs(void)
{
    struct fsns *ns = fsns_new(SU);
    uint64_t l1[1] = { 10 };
    struct fsns_stat st;
    OK(fsns_mkdirs(ns, SU, "/u", 0777, &E));
    mkfile(ns, "alice", "/u/f", l1, 1);
    /* setPermission */
    OK(fsns_setpermission(ns, "alice", "/u/f", 0640, &E));
    OK(fsns_getfileinfo(ns, SU, "/u/f", &st, &E));
    CHECK(st.perm == 0640);
    OK(fsns_setpermission(ns, "alice", "/u/f", 0177777, &E)); /* only 01777 kept */
    OK(fsns_getfileinfo(ns, SU, "/u/f", &st, &E));
    CHECK(st.perm == 01777);
    FAILS(fsns_setpermission(ns, "bob", "/u/f", 0777, &E), FSNS_EACCES,
          "Permission denied. user=bob is not the owner of inode=/u/f");
    FAILS(fsns_setpermission(ns, "bob", "/u/none", 0777, &E), FSNS_ENOENT, "Directory/File does not exist /u/none");
    OK(fsns_setpermission(ns, SU, "/u/f", 01774, &E));
    FAILS(fsns_setpermission(ns, "bob", "/u/f", 0777, &E), FSNS_EACCES, "not the owner");
    FAILS(fsns_settimes(ns, "bob", "/u/f", 1, 1, &E), FSNS_EACCES, ":alice:supergroup:-rwxrwxr-T");
    OK(fsns_setpermission(ns, SU, "/u/f", 01775, &E));
    FAILS(fsns_settimes(ns, "bob", "/u/f", 1, 1, &E), FSNS_EACCES, ":alice:supergroup:-rwxrwxr-t");
    OK(fsns_setpermission(ns, SU, "/u/f", 0644, &E));
    /* setOwner */
    FAILS(fsns_setowner(ns, "alice", "/u/f", "bob", NULL, &E), FSNS_EACCES,
          "User alice is not a super user (non-super user cannot change owner).");
    FAILS(fsns_setowner(ns, "alice", "/u/f", NULL, "bob", &E), FSNS_EACCES, "User alice does not belong to bob");
    OK(fsns_setowner(ns, "alice", "/u/f", "alice", "alice", &E));
    OK(fsns_getfileinfo(ns, SU, "/u/f", &st, &E));
    CHECK(!strcmp(st.owner, "alice") && !strcmp(st.group, "alice"));
    FAILS(fsns_setowner(ns, "bob", "/u/f", NULL, "bob", &E), FSNS_EACCES, "is not the owner");
    OK(fsns_setowner(ns, SU, "/u/f", "carol", "", &E));
    OK(fsns_getfileinfo(ns, SU, "/u/f", &st, &E));
    CHECK(!strcmp(st.owner, "carol") && !strcmp(st.group, "alice"));
    OK(fsns_setowner(ns, SU, "/u/f", NULL, "supergroup", &E));
    FAILS(fsns_setowner(ns, SU, "/u/none", "x", NULL, &E), FSNS_ENOENT, "Directory/File does not exist");
    /* the superuser's supergroup grants group access */
    OK(fsns_setowner(ns, SU, "/u/f", "carol", "supergroup", &E));
    OK(fsns_setpermission(ns, SU, "/u/f", 0060, &E));
    OK(fsns_getblocks(ns, SU, "/u/f", &st, &E));
    FAILS(fsns_getblocks(ns, "carol", "/u/f", &st, &E), FSNS_EACCES, "----rw----");
    OK(fsns_setpermission(ns, SU, "/u/f", 0644, &E));
    /* setTimes */
    OK(fsns_settimes(ns, "carol", "/u/f", 1234, -1, &E));
    OK(fsns_getfileinfo(ns, SU, "/u/f", &st, &E));
    int64_t at = st.atime;
    CHECK(st.mtime == 1234);
    OK(fsns_settimes(ns, "carol", "/u/f", -1, 99, &E));
    OK(fsns_getfileinfo(ns, SU, "/u/f", &st, &E));
    CHECK(st.mtime == 1234 && st.atime == 99 && at != 99);
    FAILS(fsns_settimes(ns, "bob", "/u/f", 1, 1, &E), FSNS_EACCES, "user=bob, access=WRITE, inode=\"/u/f\":carol");
    FAILS(fsns_settimes(ns, SU, "/u/none", 1, 1, &E), FSNS_ENOENT, "File/Directory /u/none does not exist.");
    /* setReplication */
    bool ok;
    OK(fsns_setreplication(ns, "carol", "/u/f", 3, &ok, &E));
    CHECK(ok);
    OK(fsns_getfileinfo(ns, SU, "/u/f", &st, &E));
    CHECK(st.replication == 3);
    OK(fsns_setreplication(ns, SU, "/u", 3, &ok, &E));
    CHECK(!ok);
    OK(fsns_setreplication(ns, SU, "/u/none", 3, &ok, &E));
    CHECK(!ok);
    FAILS(fsns_setreplication(ns, SU, "/u/f", 0, &ok, &E), FSNS_EIO, "Requested replication factor of 0");
    FAILS(fsns_setreplication(ns, "bob", "/u/f", 2, &ok, &E), FSNS_EACCES, "access=WRITE");
    /* content summary */
    uint64_t l2[2] = { 100, 50 };
    mkfile(ns, SU, "/u/sub/g", l2, 2);
    struct fsns_summary s;
    OK(fsns_content_summary(ns, SU, "/u", &s, &E));
    CHECK(s.length == 160 && s.file_count == 2 && s.directory_count == 2 && s.quota == -1 && s.space_quota == -1);
    CHECK(s.space_consumed == 10 * 3 + 150);
    OK(fsns_content_summary(ns, SU, "/u/f", &s, &E));
    CHECK(s.length == 10 && s.file_count == 1 && s.directory_count == 0);
    FAILS(fsns_content_summary(ns, SU, "/u/none", &s, &E), FSNS_ENOENT, "File does not exist: /u/none");
    OK(fsns_setpermission(ns, SU, "/u/sub", 0700, &E));
    FAILS(fsns_content_summary(ns, "alice", "/u", &s, &E), FSNS_EACCES,
          "user=alice, access=READ_EXECUTE, inode=\"/u/sub\"");
    fsns_free(ns);
}

static void test_xattrs(void)
{
    struct fsns *ns = fsns_new(SU);
    uint64_t l1[1] = { 10 };
    OK(fsns_setpermission(ns, SU, "/", 0777, &E));
    mkfile(ns, "alice", "/f", l1, 1);
    OK(fsns_mkdirs(ns, SU, "/tmp", 01777, &E));
    const uint8_t v1[] = "one", v2[] = "two";
    OK(fsns_setxattr(ns, "alice", "/f", "user.a", v1, 3, FSNS_XATTR_CREATE, &E));
    FAILS(fsns_setxattr(ns, "alice", "/f", "user.a", v2, 3, FSNS_XATTR_CREATE, &E), FSNS_EIO,
          "XAttr: a already exists. The REPLACE flag must be specified.");
    OK(fsns_setxattr(ns, "alice", "/f", "user.a", v2, 3, FSNS_XATTR_REPLACE, &E));
    FAILS(fsns_setxattr(ns, "alice", "/f", "user.b", v2, 3, FSNS_XATTR_REPLACE, &E), FSNS_EIO,
          "XAttr: b does not exist. The CREATE flag must be specified.");
    FAILS(fsns_setxattr(ns, "alice", "/f", "user.b", v2, 3, 0, &E), FSNS_EARG, "A flag must be specified.");
    FAILS(fsns_setxattr(ns, "alice", "/f", "foo.b", v2, 3, FSNS_XATTR_CREATE, &E), FSNS_EARG,
          "An XAttr name must be prefixed with user/trusted/security/system/raw, followed by a '.'");
    FAILS(fsns_setxattr(ns, "alice", "/f", "user.", v2, 3, FSNS_XATTR_CREATE, &E), FSNS_EARG, "cannot be empty");
    FAILS(fsns_setxattr(ns, "alice", "/f", "trusted.t", v2, 3, FSNS_XATTR_CREATE, &E), FSNS_EACCES,
          "User doesn't have permission for xattr: trusted.t");
    FAILS(fsns_setxattr(ns, SU, "/f", "system.s", v2, 3, FSNS_XATTR_CREATE, &E), FSNS_EACCES, "system.s");
    OK(fsns_setxattr(ns, SU, "/f", "trusted.t", NULL, 0, FSNS_XATTR_CREATE, &E));
    OK(fsns_setxattr(ns, "alice", "/f", "USER.Upper", v1, 3, FSNS_XATTR_CREATE | FSNS_XATTR_REPLACE, &E));
    FAILS(fsns_setxattr(ns, "bob", "/f", "user.x", v1, 3, FSNS_XATTR_CREATE, &E), FSNS_EACCES,
          "user=bob, access=WRITE, inode=\"/f\"");
    FAILS(fsns_setxattr(ns, "bob", "/tmp", "user.x", v1, 3, FSNS_XATTR_CREATE, &E), FSNS_EACCES,
          "Permission denied. user=bob is not the owner of inode=/tmp");
    OK(fsns_setxattr(ns, SU, "/tmp", "user.x", v1, 3, FSNS_XATTR_CREATE, &E));
    FAILS(fsns_setxattr(ns, "alice", "/none", "user.x", v1, 3, FSNS_XATTR_CREATE, &E), FSNS_ENOENT, "cannot find /none");
    FAILS(fsns_setxattr(ns, "alice", "/f", "security.hdfs.unreadable.by.superuser", v1, 3, FSNS_XATTR_CREATE, &E),
          FSNS_EACCES, "Values are not allowed for this xattr.");
    FAILS(fsns_setxattr(ns, SU, "/tmp", "security.hdfs.unreadable.by.superuser", NULL, 0, FSNS_XATTR_CREATE, &E),
          FSNS_EIO, "on a file.");
    OK(fsns_setxattr(ns, "alice", "/f", "security.hdfs.unreadable.by.superuser", NULL, 0, FSNS_XATTR_CREATE, &E));
    uint8_t *bigv = calloc(1, 16384);
    FAILS(fsns_setxattr(ns, "alice", "/f", "user.big", bigv, 16382, FSNS_XATTR_CREATE, &E), FSNS_EARG,
          "The XAttr is too big. The maximum combined size of the name and value is 16384, but the total size is "
          "16385");
    OK(fsns_setxattr(ns, "alice", "/f", "user.big", bigv, 16381, FSNS_XATTR_CREATE, &E));
    free(bigv);

    struct fsns_xattr out[FSNS_MAX_XATTRS + 4];
    size_t n;
    OK(fsns_getxattrs(ns, "alice", "/f", NULL, 0, out, &n, &E));
    CHECK(n == 4); /* user.big, unreadable, user.Upper, user.a (latest first); not trusted */
    CHECK(n == 4 && !strcmp(out[0].name, "user.big") && !strcmp(out[2].name, "user.Upper") &&
          !strcmp(out[3].name, "user.a") && out[3].len == 3 && !memcmp(out[3].value, "two", 3));
    OK(fsns_getxattrs(ns, SU, "/f", NULL, 0, out, &n, &E));
    CHECK(n == 5);
    const char *want[] = { "user.a", "USER.Upper" };
    OK(fsns_getxattrs(ns, "alice", "/f", want, 2, out, &n, &E));
    CHECK(n == 2 && !strcmp(out[0].name, "user.a") && !strcmp(out[1].name, "user.Upper"));
    const char *missing[] = { "user.a", "user.zz" };
    FAILS(fsns_getxattrs(ns, "alice", "/f", missing, 2, out, &n, &E), FSNS_EIO,
          "At least one of the attributes provided was not found.");
    const char *tr[] = { "trusted.t" };
    FAILS(fsns_getxattrs(ns, "alice", "/f", tr, 1, out, &n, &E), FSNS_EACCES, "trusted.t");
    OK(fsns_getxattrs(ns, SU, "/f", tr, 1, out, &n, &E));
    CHECK(n == 1 && out[0].value == NULL && out[0].len == 0);
    OK(fsns_setpermission(ns, "alice", "/f", 0600, &E));
    FAILS(fsns_getxattrs(ns, "bob", "/f", NULL, 0, out, &n, &E), FSNS_EACCES, "access=READ,");
    FAILS(fsns_getxattrs(ns, "bob", "/none", NULL, 0, out, &n, &E), FSNS_ENOENT, "cannot find /none");
    /* listXAttrs needs x on the parent only */
    OK(fsns_listxattrs(ns, "bob", "/f", out, &n, &E));
    CHECK(n == 4 && out[0].value == NULL);
    OK(fsns_mkdirs(ns, SU, "/priv/x", 0755, &E));
    OK(fsns_setpermission(ns, SU, "/priv", 0700, &E));
    FAILS(fsns_listxattrs(ns, "bob", "/priv/x", out, &n, &E), FSNS_EACCES, "access=EXECUTE, inode=\"/priv\"");
    FAILS(fsns_listxattrs(ns, SU, "/nonex", out, &n, &E), FSNS_ENOENT, "cannot find /nonex");
    /* remove */
    OK(fsns_removexattr(ns, "alice", "/f", "user.a", &E));
    FAILS(fsns_removexattr(ns, "alice", "/f", "user.a", &E), FSNS_EIO, "No matching attributes found for remove operation");
    FAILS(fsns_removexattr(ns, "alice", "/f", "security.hdfs.unreadable.by.superuser", &E), FSNS_EACCES,
          "can not be deleted.");
    FAILS(fsns_removexattr(ns, "alice", "/f", "trusted.t", &E), FSNS_EACCES, "permission for xattr");
    OK(fsns_removexattr(ns, SU, "/f", "trusted.t", &E));
    FAILS(fsns_removexattr(ns, "bob", "/f", "user.big", &E), FSNS_EACCES, "access=WRITE");
    /* 32 user-visible attributes per inode */
    char nm[32];
    mkfile(ns, "alice", "/many", l1, 1);
    for (int i = 0; i < 32; i++) {
        snprintf(nm, sizeof nm, "user.k%d", i);
        OK(fsns_setxattr(ns, "alice", "/many", nm, v1, 1, FSNS_XATTR_CREATE, &E));
    }
    FAILS(fsns_setxattr(ns, "alice", "/many", "user.k32", v1, 1, FSNS_XATTR_CREATE, &E), FSNS_EIO,
          "Cannot add additional XAttr to inode, would exceed limit of 32");
    OK(fsns_setxattr(ns, "alice", "/many", "user.k5", v2, 1, FSNS_XATTR_REPLACE, &E));
    OK(fsns_setxattr(ns, "alice", "/many", "security.hdfs.unreadable.by.superuser", NULL, 0, FSNS_XATTR_CREATE, &E));
    OK(fsns_getxattrs(ns, "alice", "/many", NULL, 0, out, &n, &E));
    CHECK(n == FSNS_MAX_XATTRS);
    fsns_free(ns);
}

static void test_snapshots(void)
{
    struct fsns *ns = fsns_new(SU);
    fsns_set_time(ns, 1700000000123LL);
    uint64_t l1[1] = { 10 };
    OK(fsns_mkdirs(ns, SU, "/s/t/u", 0755, &E));
    OK(fsns_mkdirs(ns, SU, "/alice", 0755, &E));
    OK(fsns_setowner(ns, SU, "/alice", "alice", NULL, &E));
    mkfile(ns, SU, "/file", l1, 1);
    char path[256];
    FAILS(fsns_allow_snapshot(ns, "alice", "/alice", &E), FSNS_EACCES,
          "Access denied for user alice. Superuser privilege is required");
    FAILS(fsns_allow_snapshot(ns, SU, "/nope", &E), FSNS_ENOENT, "Directory does not exist: /nope");
    FAILS(fsns_allow_snapshot(ns, SU, "/file", &E), FSNS_ENOTDIR, "`/file': Is not a directory");
    CHECK(!strcmp(E.cls, "org.apache.hadoop.fs.PathIsNotDirectoryException"));
    FAILS(fsns_create_snapshot(ns, SU, "/s", "x", path, sizeof path, &E), FSNS_ESNAPSHOT,
          "Directory is not a snapshottable directory: /s");
    CHECK(!strcmp(E.cls, "org.apache.hadoop.hdfs.protocol.SnapshotException"));
    OK(fsns_allow_snapshot(ns, SU, "/s/t", &E));
    OK(fsns_allow_snapshot(ns, SU, "/s/t", &E)); /* again: fine */
    FAILS(fsns_allow_snapshot(ns, SU, "/s", &E), FSNS_ESNAPSHOT,
          "Nested snapshottable directories not allowed: path=/s, the subdirectory /s/t is already a snapshottable "
          "directory.");
    FAILS(fsns_allow_snapshot(ns, SU, "/s/t/u", &E), FSNS_ESNAPSHOT, "the ancestor /s/t is already");
    struct fsns_stat st;
    OK(fsns_getfileinfo(ns, SU, "/s/t", &st, &E));
    CHECK(st.snapshottable);
    OK(fsns_create_snapshot(ns, SU, "/s/t", "s1", path, sizeof path, &E));
    CHECK(!strcmp(path, "/s/t/.snapshot/s1"));
    FAILS(fsns_create_snapshot(ns, SU, "/s/t", "s1", path, sizeof path, &E), FSNS_ESNAPSHOT,
          "Failed to add snapshot: there is already a snapshot with the same name \"s1\".");
    OK(fsns_create_snapshot(ns, SU, "/s/t", NULL, path, sizeof path, &E));
    CHECK(!strcmp(path, "/s/t/.snapshot/s20231114-221320.123"));
    FAILS(fsns_create_snapshot(ns, SU, "/s/t", "a:b", path, sizeof path, &E), FSNS_EINVALPATH,
          "Invalid path name Invalid snapshot name: a:b");
    FAILS(fsns_create_snapshot(ns, SU, "/s/t", ".snapshot", path, sizeof path, &E), FSNS_EARG, "reserved");
    FAILS(fsns_create_snapshot(ns, "alice", "/s/t", "x", path, sizeof path, &E), FSNS_EACCES,
          "Permission denied. user=alice is not the owner of inode=/s/t");
    FAILS(fsns_create_snapshot(ns, SU, "/none", "x", path, sizeof path, &E), FSNS_ENOENT,
          "Directory/File does not exist /none");
    const struct fsns_snapshot *sn;
    size_t n;
    OK(fsns_list_snapshots(ns, SU, "/s/t", &sn, &n, &E));
    CHECK(n == 2 && !strcmp(sn[0].name, "s1") && sn[0].ctime == 1700000000123LL && sn[1].id == sn[0].id + 1);
    FAILS(fsns_list_snapshots(ns, SU, "/s", &sn, &n, &E), FSNS_ESNAPSHOT, "not a snapshottable directory");
    /* rename */
    OK(fsns_rename_snapshot(ns, SU, "/s/t", "s1", "s2", &E));
    OK(fsns_rename_snapshot(ns, SU, "/s/t", "s2", "s2", &E));
    FAILS(fsns_rename_snapshot(ns, SU, "/s/t", "s1", "s3", &E), FSNS_ESNAPSHOT,
          "The snapshot s1 does not exist for directory /s/t");
    FAILS(fsns_rename_snapshot(ns, SU, "/s/t", "s2", "s20231114-221320.123", &E), FSNS_ESNAPSHOT,
          "The snapshot s20231114-221320.123 already exists for directory /s/t");
    FAILS(fsns_rename_snapshot(ns, SU, "/s/t", "s2", "a/b", &E), FSNS_EARG, "Snapshot name cannot contain \"/\"");
    FAILS(fsns_rename_snapshot(ns, SU, "/s", "s2", "s4", &E), FSNS_ESNAPSHOT, "not a snapshottable directory");
    /* disallow / delete */
    FAILS(fsns_disallow_snapshot(ns, SU, "/s/t", &E), FSNS_ESNAPSHOT,
          "The directory /s/t has snapshot(s). Please redo the operation after removing all the snapshots.");
    FAILS(fsns_disallow_snapshot(ns, "alice", "/s/t", &E), FSNS_EACCES, "Superuser privilege is required");
    FAILS(fsns_delete_snapshot(ns, SU, "/s/t", "zz", &E), FSNS_ESNAPSHOT,
          "Cannot delete snapshot zz from path /s/t: the snapshot does not exist.");
    FAILS(fsns_delete_snapshot(ns, "alice", "/s/t", "s2", &E), FSNS_EACCES, "not the owner");
    OK(fsns_delete_snapshot(ns, SU, "/s/t", "s2", &E));
    OK(fsns_delete_snapshot(ns, SU, "/s/t", "s20231114-221320.123", &E));
    OK(fsns_list_snapshots(ns, SU, "/s/t", &sn, &n, &E));
    CHECK(n == 0 && sn == NULL);
    OK(fsns_disallow_snapshot(ns, SU, "/s/t", &E));
    OK(fsns_disallow_snapshot(ns, SU, "/s/t", &E)); /* already not: fine */
    OK(fsns_getfileinfo(ns, SU, "/s/t", &st, &E));
    CHECK(!st.snapshottable);
    /* listing of snapshottable directories */
    OK(fsns_allow_snapshot(ns, SU, "/alice", &E));
    OK(fsns_allow_snapshot(ns, SU, "/s", &E));
    OK(fsns_create_snapshot(ns, "alice", "/alice", "mine", path, sizeof path, &E));
    struct fsns_snapdir *d;
    OK(fsns_snapshottable_dirs(ns, SU, &d, &n, &E));
    CHECK(n == 2);
    if (n == 2) {
        CHECK(!strcmp(d[0].st.name, "s") && !strcmp(d[0].parent, "/") && d[0].snapshot_count == 0);
        CHECK(!strcmp(d[1].st.name, "alice") && d[1].snapshot_count == 1 && d[1].snapshot_quota == 65536);
    }
    fsns_snapdirs_free(d, n);
    OK(fsns_snapshottable_dirs(ns, "alice", &d, &n, &E));
    CHECK(n == 1 && !strcmp(d[0].st.owner, "alice"));
    fsns_snapdirs_free(d, n);
    OK(fsns_snapshottable_dirs(ns, "bob", &d, &n, &E));
    CHECK(n == 0 && d == NULL);
    /* deleting a snapshottable directory without snapshots forgets it */
    bool del;
    OK(fsns_delete(ns, SU, "/s", true, &del, NULL, &E));
    OK(fsns_snapshottable_dirs(ns, SU, &d, &n, &E));
    CHECK(n == 1);
    fsns_snapdirs_free(d, n);
    fsns_free(ns);

    /* the root */
    ns = fsns_new(SU);
    OK(fsns_allow_snapshot(ns, SU, "/", &E));
    OK(fsns_create_snapshot(ns, SU, "/", "r", path, sizeof path, &E));
    CHECK(!strcmp(path, "/.snapshot/r"));
    OK(fsns_snapshottable_dirs(ns, SU, &d, &n, &E));
    CHECK(n == 1 && !strcmp(d[0].parent, "") && !strcmp(d[0].st.name, ""));
    fsns_snapdirs_free(d, n);
    fsns_free(ns);
}

/* Random operations on a small namespace by several users: nothing may
 * crash or leak, and the running totals must match a full recount. */
static void random_path(char *buf, size_t cap, unsigned *seed)
{
    static const char *const parts[] = { "a", "b", "c", "dd", "a", "b", "c", "x", "e:", ".", "", "x" };
    int depth = 1 + rand_r(seed) % 4;
    size_t o = 0;
    for (int i = 0; i < depth && o + 8 < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "/%s", parts[rand_r(seed) % (rand_r(seed) % 8 ? 8 : 12)]);
    if (rand_r(seed) % 10 == 0 && o + 2 < cap)
        buf[o++] = '/', buf[o] = 0;
}

static void test_random(void)
{
    struct fsns *ns = fsns_new(SU);
    fsns_set_min_block_size(ns, 1);
    unsigned seed = getenv("FSNS_SEED") ? (unsigned)atoi(getenv("FSNS_SEED")) : 12345;
    const char *users[] = { SU, "alice", "bob", NULL };
    const char *clients[] = { "c1", "c2", "c1" };
    char p1[64], p2[64];
    struct fsns_err e;
    struct fsns_stat st, list[8];
    struct fsns_blocklist rm = { 0 };
    struct fsns_block b, last;
    struct fsns_xattr xa[FSNS_MAX_XATTRS + 2];
    bool flag, flag2;
    uint64_t u64;
    uint32_t n32, r32;
    size_t nz;
    OK(fsns_setpermission(ns, SU, "/", 0777, &E));
    int okops[22] = { 0 };
    for (int i = 0; i < 60000; i++) {
        fsns_set_time(ns, 1000000 + (int64_t)i * 5);
        random_path(p1, sizeof p1, &seed);
        random_path(p2, sizeof p2, &seed);
        const char *u = users[rand_r(&seed) % 4];
        const char *c = clients[rand_r(&seed) % 3];
        uint16_t mode = rand_r(&seed) % 8 ? 0777 : (uint16_t)(rand_r(&seed) & 01777);
        struct fsns_create_args a = { c, "h", mode, 1 + (uint32_t)(rand_r(&seed) % 3),
                                      rand_r(&seed) % 2, 1 + (uint32_t)(rand_r(&seed) % 3), 1024, 0 };
        int op = rand_r(&seed) % 22, rc = 0;
        e.code = FSNS_OK;
        switch (op) {
        case 0: fsns_mkdirs(ns, u, p1, mode, &e); break;
        case 1: fsns_create(ns, u, p1, &a, &st, &rm, &e); break;
        case 2: fsns_delete(ns, u, p1, rand_r(&seed) % 2, &flag, &rm, &e); break;
        case 3: fsns_rename(ns, u, p1, p2, &flag, &e); break;
        case 4: fsns_rename2(ns, u, p1, p2, rand_r(&seed) % 2, &rm, &e); break;
        case 5:
            b.id = 0;
            if (fsns_getfileinfo(ns, SU, p1, &st, &e) == 0 && st.nblocks) {
                last = st.blocks[st.nblocks - 1];
                last.len = (uint64_t)(rand_r(&seed) % 2048);
                fsns_addblock(ns, u, p1, 0, c, &last, &b, &u64, &e);
            } else {
                fsns_addblock(ns, u, p1, 0, c, NULL, &b, &u64, &e);
            }
            break;
        case 6:
            if (fsns_getfileinfo(ns, SU, p1, &st, &e) == 0 && st.nblocks) {
                last = st.blocks[st.nblocks - 1];
                last.len = (uint64_t)(rand_r(&seed) % 2048);
                fsns_complete(ns, u, p1, st.fileid, c, &last, &flag, &e);
            } else {
                fsns_complete(ns, u, p1, 0, c, NULL, &flag, &e);
            }
            break;
        case 7: fsns_append(ns, u, p1, c, "h", rand_r(&seed) % 2 ? FSNS_NEW_BLOCK : 0, &st, &flag, &last, &e); break;
        case 8:
            fsns_truncate(ns, u, p1, rand_r(&seed) % 40, c, "h", &flag, &flag2, &last, &rm, &e);
            break;
        case 9: fsns_setpermission(ns, u, p1, mode, &e); break;
        case 10: fsns_setowner(ns, u, p1, rand_r(&seed) % 2 ? "alice" : NULL, rand_r(&seed) % 2 ? "bob" : NULL, &e); break;
        case 11: fsns_getlisting(ns, u, p1, "b", 1, 8, list, &n32, &r32, &e); break;
        case 12: fsns_setxattr(ns, u, p1, rand_r(&seed) % 2 ? "user.k" : "trusted.k", (const uint8_t *)"v", 1,
                               1 + (uint32_t)(rand_r(&seed) % 3), &e); break;
        case 13: fsns_getxattrs(ns, u, p1, NULL, 0, xa, &nz, &e); break;
        case 14: fsns_removexattr(ns, u, p1, "user.k", &e); break;
        case 15: fsns_allow_snapshot(ns, u, p1, &e); break;
        case 16: fsns_create_snapshot(ns, u, p1, rand_r(&seed) % 2 ? "s" : "t", NULL, 0, &e); break;
        case 17: fsns_delete_snapshot(ns, u, p1, "s", &e); break;
        case 18: fsns_recoverlease(ns, u, p1, c, &flag, &e); break;
        case 19: fsns_fsync(ns, u, p1, 0, c, rand_r(&seed) % 100, &e); break;
        case 20:
            if (fsns_getfileinfo(ns, SU, p1, &st, &e) == 0 && st.nblocks) {
                last = st.blocks[st.nblocks - 1];
                if (fsns_update_block_for_pipeline(ns, u, last.id, last.gs, c, &b, &e) == 0)
                    fsns_update_pipeline(ns, u, c, last.id, last.gs, b.gs, last.len + 1, &e);
            }
            break;
        default: fsns_disallow_snapshot(ns, u, p1, &e); break;
        }
        (void)rc;
        if (e.code == FSNS_OK)
            okops[op]++;
        rm.n = 0;
    }
    fsns_blocklist_free(&rm);
    struct fsns_totals t;
    fsns_totals(ns, &t);
    struct fsns_summary s;
    OK(fsns_content_summary(ns, SU, "/", &s, &E));
    CHECK(s.file_count == t.files && s.directory_count == t.directories && s.length == t.used);
    printf("random: %llu files, %llu dirs, %llu blocks, %llu open\n", (unsigned long long)t.files,
           (unsigned long long)t.directories, (unsigned long long)t.blocks, (unsigned long long)t.under_construction);
    CHECK(t.files > 0 && t.directories > 1);
    printf("random: successes per op:");
    for (int i = 0; i < 22; i++)
        printf(" %d", okops[i]);
    printf("\n");
    fsns_free(ns);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_lookup_speed(void)
{
    struct fsns *ns = fsns_new(SU);
    char p[128];
    struct fsns_create_args a = cargs("bench", 0644, FSNS_CREATE, true);
    struct fsns_stat st;
    int nf = 0;
    for (int i = 0; i < 100 && nf == 0; i++)
        for (int j = 0; j < 100; j++) {
            snprintf(p, sizeof p, "/bench/dir%03d/sub/file%05d", i, j);
            if (fsns_create(ns, SU, p, &a, &st, NULL, &E) < 0)
                nf++;
        }
    CHECK(nf == 0);
    int iters = 300000, found = 0;
    double t0 = now_s();
    for (int k = 0; k < iters; k++) {
        snprintf(p, sizeof p, "/bench/dir%03d/sub/file%05d", k % 100, (k / 100) % 100);
        if (fsns_getfileinfo(ns, "alice", p, &st, &E) == 0)
            found++;
    }
    double dt = now_s() - t0;
    CHECK(found == iters);
    /* A figure, not a check: speed depends on the build and the machine's load. */
    printf("getFileInfo: %.0f ops/s over %d inodes (this build)\n", iters / dt, 10000 + 201);
    fsns_free(ns);
}

int main(void)
{
    test_root_and_paths();
    test_mkdirs_and_info();
    test_symlink();
    test_listing();
    test_create_write();
    test_append_truncate_pipeline();
    test_delete();
    test_rename();
    test_attrs();
    test_xattrs();
    test_snapshots();
    test_random();
    test_lookup_speed();
    printf("%d passed, %d failed\n", npass, nfail);
    return nfail ? 1 : 0;
}
