/*
 * admin.h: what the files of fedrouter-admin share.
 *
 *   fedrouter-admin.c   main, usage, dispatch, the commands that edit one record
 *   admin_ls.c          listings and -resolve (either driver)
 *   admin_table.c       -export, -import [-dryRun], -refresh
 *   admin_mkdirs.c      -add's destination directories, over Hadoop IPC
 */
#ifndef FR_ADMIN_H
#define FR_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "records.h"
#include "zkstore.h"

#define EXIT_USAGE 1
#define EXIT_CONFLICT 2
#define EXIT_FAILED 3
#define CONNECT_TIMEOUT_MS 10000

extern const char *prog;

/* Where the commands read and write: the ZooKeeper store (z), or, with
 * driver = file, the records of the config file (z == NULL). */
struct admin {
    const struct config *c;
    const char *cfgpath;
    struct zks *z;
};

int usage_error(const char *fmt, const char *arg);
/* Maps a store result to an exit code, printing the message. */
int store_fail(int rc, const char *err);

/* Every valid record (a copy the caller frees with recset_free). 0, or an
 * exit code after saying why. */
int load_all(const struct admin *ad, struct record_set *set);
/* The records of one kind sorted by key (pointers into set; free the array). */
const struct record **sorted(const struct record_set *set, enum rec_kind kind, size_t *n);

/* admin_ls.c */
int cmd_ls(const struct admin *ad, enum rec_kind kind, int argc, char **argv);
int cmd_disabled_ns(const struct admin *ad);
int cmd_resolve(const struct admin *ad, const char *path);
int cmd_routers(const struct admin *ad);

/* admin_table.c */
int cmd_export(const struct admin *ad, int argc, char **argv);
int cmd_import(const struct admin *ad, int argc, char **argv);
int cmd_refresh(const struct admin *ad, int argc, char **argv);

/* admin_mkdirs.c: creates m's missing destination directories on their
 * nameservices (NameNodes from set), then sets the entry's owner, group and
 * mode on each one it created. Prints a line per directory created. 0, or
 * EXIT_FAILED after saying which could not be made. */
int mkdirs_for_mount(const struct mount_rec *m, const struct record_set *set);

#endif
