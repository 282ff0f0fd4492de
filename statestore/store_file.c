/*
 * store_file.c: the `file` statestore driver. The records live in the
 * router's own config file; a thread polls the file and reloads it when it
 * has changed and then stayed unchanged for a while.
 *
 *   stat() every 100 ms --identity, size or mtime changed--> pending
 *   pending, unchanged for settle_ms --> read the whole file into memory,
 *        checking it did not change while being read
 *        --> host->load(bytes): parses exactly those bytes
 *            --> snapshot: before_publish, snapshot_ref_publish (workers
 *                see it at their next call)
 *            --> NULL: counted, reason kept, the last good table serves on
 *
 * Why the wait: a file written in place (truncated, then written in one or
 * more steps, as some editors and config tools do) goes through states
 * that are not the file the operator meant, and a prefix of a valid file
 * is often valid on its own (cut between two sections, it just lacks the
 * mounts that follow), so parsing cannot tell it apart. The driver loads a
 * file only after it has been stable for settle_ms, and longer
 * (LONG_SETTLE_MS) when it does not end with a newline, which is how a
 * file cut in the middle of a line looks. This narrows the window; only
 * replacing the file by rename() (write a temporary file in the same
 * directory, then rename it over the config) closes it, which is what the
 * README asks operators to do. A rename changes the file's inode, and is
 * picked up like any other change.
 *
 * The loader is the router's (it parses the whole file, [router] keys
 * included, and applies what a reload may change): see store.h for why it
 * is a callback.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "store_int.h"

#define POLL_MS 100
#define LONG_SETTLE_MS 2000             /* a file whose last line has no newline waits at least this */
#define MAX_FILE ((size_t)256 << 20)

struct store_file {
    struct store base;                  /* first: a struct store * is a struct store_file * */
    char path[4096];                    /* the config file */
    int settle_ms;                      /* how long the file must stay unchanged before a reload */
    pthread_t watcher;
};

/* What identifies one version of the file. exists == false: stat failed
 * (the file is being replaced, or gone). */
struct version {
    bool exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
};

static struct version version_of(const struct stat *sb)
{
    return (struct version){ .exists = true, .dev = sb->st_dev, .ino = sb->st_ino, .size = sb->st_size,
                             .mtime = sb->st_mtim, .ctime = sb->st_ctim };
}

static struct version stat_version(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) < 0)
        return (struct version){ .exists = false };
    return version_of(&sb);
}

static bool same_ts(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static bool same_version(const struct version *a, const struct version *b)
{
    if (a->exists != b->exists)
        return false;
    if (!a->exists)
        return true;
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && same_ts(a->mtime, b->mtime) &&
           same_ts(a->ctime, b->ctime);
}

/*
 * Reads the whole file. 1 with *text (malloc'd) and *len when the bytes
 * read are those of version `want` (the file did not change before or
 * during the read); 0 when it changed (try again once it settles); -1 with
 * why when it cannot be read.
 */
static int read_whole(const char *path, const struct version *want, char **text, size_t *len, char *why,
                      size_t whylen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0; /* between an unlink and its replacement */
        snprintf(why, whylen, "%.300s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0) {
        snprintf(why, whylen, "%.300s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    struct version before = version_of(&sb);
    if (!same_version(&before, want)) {
        close(fd);
        return 0;
    }
    if ((size_t)sb.st_size > MAX_FILE) {
        snprintf(why, whylen, "%.300s: larger than 256 MiB", path);
        close(fd);
        return -1;
    }
    size_t cap = (size_t)sb.st_size + 1, n = 0; /* one byte more: growth shows as a longer read */
    char *buf = malloc(cap);
    if (!buf) {
        snprintf(why, whylen, "%.300s: out of memory reading it", path);
        close(fd);
        return -1;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(why, whylen, "%.300s: cannot read: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }
        if (r == 0 || (n += (size_t)r) == cap)
            break;
    }
    bool stable = n == (size_t)sb.st_size && fstat(fd, &sb) == 0;
    close(fd);
    if (stable) {
        struct version after = version_of(&sb);
        stable = same_version(&after, want);
    }
    if (!stable) {
        free(buf);
        return 0;
    }
    *text = buf;
    *len = n;
    return 1;
}

static void reload(struct store_file *f, const char *text, size_t len)
{
    struct store *st = &f->base;
    char why[512];
    struct snapshot *s = st->host.load(st->host.ctx, f->path, text, len, why, sizeof why);
    if (!s) {
        store_failed(st, why);
        fr_warn("reload of %s failed, keeping the last good table: %s", f->path, why);
        return;
    }
    store_publish(st, s);
    atomic_store(&st->loaded_at_ms, fr_wall_ms());
    store_clear_error(st);
    fr_info("reloaded %s (snapshot %llu)", f->path, (unsigned long long)snapshot_version(s));
}

static void *watch_main(void *arg)
{
    struct store_file *f = arg;
    struct store *st = &f->base;
    struct version loaded = stat_version(f->path); /* what main loaded at start-up */
    struct version seen = loaded;                   /* the version last looked at */
    int64_t seen_since = fr_mono_ms();              /* since when it has been `seen` */
    while (!atomic_load(&st->stop)) {
        usleep(POLL_MS * 1000);
        struct version now = stat_version(f->path);
        int64_t t = fr_mono_ms();
        if (!same_version(&now, &seen)) {
            seen = now;
            seen_since = t; /* still changing: wait for it to settle */
            continue;
        }
        if (!now.exists || same_version(&now, &loaded) || t - seen_since < f->settle_ms)
            continue;
        char *text = NULL, why[512];
        size_t len = 0;
        int rc = read_whole(f->path, &now, &text, &len, why, sizeof why);
        if (rc == 0) {
            seen_since = t; /* changed under us: settle again */
            continue;
        }
        if (rc > 0 && len && text[len - 1] != '\n' && t - seen_since < LONG_SETTLE_MS) {
            free(text); /* possibly cut in the middle of a line: give the writer longer */
            continue;
        }
        loaded = now; /* this version is done with, loaded or not */
        if (rc < 0) {
            store_failed(st, why);
            fr_warn("reload of %s failed, keeping the last good table: %s", f->path, why);
            continue;
        }
        reload(f, text, len);
        free(text);
    }
    return NULL;
}

static struct store *file_start(const struct store_params *set, const struct store_host *host, char *why,
                                size_t whylen)
{
    struct store_file *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(why, whylen, "cannot start the config watcher");
        return NULL;
    }
    store_base_init(&f->base, &store_file_ops, host);
    snprintf(f->path, sizeof f->path, "%s", set->path);
    f->settle_ms = set->file_settle_ms > 0 ? set->file_settle_ms : 0;
    if (pthread_create(&f->watcher, NULL, watch_main, f) != 0) {
        snprintf(why, whylen, "cannot start the config watcher");
        store_base_destroy(&f->base);
        free(f);
        return NULL;
    }
    return &f->base;
}

static bool file_health(struct store *st, char *out, size_t cap)
{
    (void)st;
    if (cap)
        out[0] = 0;
    return true;
}

static void file_stop(struct store *st)
{
    struct store_file *f = (struct store_file *)st;
    atomic_store(&st->stop, true);
    pthread_join(f->watcher, NULL);
    store_base_destroy(st);
    free(f);
}

const struct store_ops store_file_ops = {
    .name = "file",
    .start = file_start,
    .advertise = NULL,                  /* a file-driven router registers nowhere */
    .health = file_health,
    .gauges = NULL,                     /* the reload failure count is all it has */
    .stop = file_stop,
};
