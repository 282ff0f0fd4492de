/*
 * records: the statestore's record types, their validation and their
 * canonical text form.
 *
 *   mount entry   [mount /src]            federated path -> (nameservice, path)...
 *   nameservice   [nameservice NAME]      NameNodes of one subcluster (HA order)
 *   metastore     [metastore NAME]        a backend Hive metastore and its db prefix
 *
 * The canonical text form of a record is its INI section, exactly as it is
 * written in the router's configuration file (the `file` driver) and in a
 * znode (the `zookeeper` driver):
 *
 *   [mount /data]
 *   destinations = ns1:/data, ns2:/data
 *   order = HASH
 *
 * Building a record: record_init() (kind + key, defaults), record_set() per
 * `key = value`, record_finish() (required keys, dependent defaults, whole-
 * record checks). record_parse_text() does all three from a text. Every
 * failure writes one line (no trailing newline) into the caller's `why`.
 * Nothing here logs, exits or keeps global state.
 */
#ifndef FR_RECORDS_H
#define FR_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FR_PATH_MAX 16384       /* longest path accepted, in bytes */
#define FR_NAME_MAX 128         /* longest nameservice / metastore name */
#define FR_MAX_DESTS 64         /* destinations per mount entry */
#define FR_MAX_ADDRS 64         /* URIs per metastore */
#define FR_MAX_NAMENODES 8      /* NameNodes per nameservice (the HA layer tries each in turn) */

/* ---- paths ---- */

/*
 * Normalises an absolute path as the NameNode expects it: duplicate slashes
 * collapse, a trailing slash goes ("/" stays "/"). Refused: empty or relative
 * paths, "." and ".." components, ':' in a component, NUL bytes, more than
 * FR_PATH_MAX bytes. Writes a NUL-terminated result to out (outsz bytes;
 * in-place use with out == in is allowed) and returns its length, or -1 with
 * a static reason in *why (too small an out is reported as such).
 */
long path_normalize(const char *in, size_t len, char *out, size_t outsz, const char **why);

/* ---- mount entries ---- */

/* How a mount entry with several destinations picks the first one (the
 * numbers are RBF's DestinationOrder values). */
enum mount_order {
    ORDER_HASH = 0,             /* consistent hash of the first component below the mount point */
    ORDER_LOCAL = 1,            /* subcluster local to the client */
    ORDER_RANDOM = 2,           /* random subcluster */
    ORDER_HASH_ALL = 3,         /* consistent hash of the whole path */
    ORDER_SPACE = 4,            /* subcluster with the most free space */
    ORDER_LEADER_FOLLOWER = 5,  /* first destination leads, the others follow */
};

const char *mount_order_name(enum mount_order o);
/* Case-insensitive; -1 when s names no order. */
int mount_order_parse(const char *s, enum mount_order *out);
/* Orders under which directories exist in every destination (RBF's
 * "folder-all": HASH_ALL, RANDOM, SPACE, LEADER_FOLLOWER). */
bool mount_order_folder_all(enum mount_order o);

/* One destination of a mount entry. */
struct remote_loc {
    char *ns;                   /* nameservice name */
    char *path;                 /* absolute, normalised path in that nameservice */
};

/* A mount table entry. Strings are owned (heap); "" when not set. */
struct mount_rec {
    char *src;                  /* federated path, normalised: the record's key */
    struct remote_loc *dests;   /* in the order written; 1..FR_MAX_DESTS */
    size_t ndests;
    enum mount_order order;     /* default HASH */
    bool readonly;              /* writes fail with "... is in a read only mount point" */
    bool faulttolerant;         /* on a dead subcluster, writes may go to another destination */
    char *owner;                /* owner of the mount entry itself ("" = not set) */
    char *group;
    uint32_t mode;              /* permission bits of the entry, default 0755, <= 01777 */
    int64_t ns_quota;           /* router quota on names (files + dirs); -1 = none */
    int64_t ss_quota;           /* router quota on storage space in bytes; -1 = none */
    uint64_t mtime_ms;          /* last change (drivers fill it; 0 = unknown); not in the text form */
};

/* ---- nameservices ---- */

/* One subcluster. namenodes are "host:port" strings, tried in order (HA). */
struct ns_rec {
    char *name;
    char **namenodes;
    size_t nnamenodes;
    bool disabled;              /* left out of resolution and fan-out, as RBF's disabled nameservices */
    char *principal;            /* the NameNodes' Kerberos principal (nn/_HOST@REALM); NULL = SIMPLE upstream */
};

/* ---- metastore routes ---- */

enum ms_access {
    MS_ACCESS_DEFAULT = -1,     /* until record_finish(): read-write for the primary, else read-only */
    MS_READ_ONLY = 0,
    MS_READ_WRITE = 1,
};

/* A backend metastore. Databases whose name starts with `prefix` go there
 * (prefix stripped on the way in, put back on the way out); the primary
 * takes calls without a database and names no other route matches. */
struct ms_rec {
    char *name;
    char **uris;                /* "thrift://host:port", tried in order */
    size_t nuris;
    char *prefix;               /* lower case; NULL until record_finish(): then "<name>_" (primary: "") */
    bool primary;
    enum ms_access access;
    char **databases;           /* MANUAL mode: the databases routed here (lower case) */
    size_t ndatabases;
    char **writable;            /* database patterns (as this metastore names them, '*' any,
                                   '|' alternatives) writable even when access is read-only */
    size_t nwritable;
};

/* ---- records, generically ---- */

enum rec_kind { REC_MOUNT = 0, REC_NAMESERVICE = 1, REC_METASTORE = 2 };
#define REC_NKINDS 3

/* One record of any kind. `line` is where its section starts in a file (0
 * when it came from elsewhere), for messages. */
struct record {
    enum rec_kind kind;
    int line;
    union {
        struct mount_rec mount;
        struct ns_rec ns;
        struct ms_rec ms;
    } u;
};

/* "mount", "nameservice", "metastore"; rec_kind_parse() returns -1 for other words. */
const char *rec_kind_name(enum rec_kind k);
int rec_kind_parse(const char *s, enum rec_kind *out);
/* The record's key: the mount's source path or the name. */
const char *record_key(const struct record *r);

/* Starts a record of `kind` keyed by `name` (a mount path is normalised)
 * with every default set. 0, or -1 with a reason. */
int record_init(struct record *r, enum rec_kind kind, const char *name, char *why, size_t whylen);
/* Sets one key. 0; -1 bad value; -2 unknown key (reason says so). */
int record_set(struct record *r, const char *key, const char *value, char *why, size_t whylen);
/* Required keys present, dependent defaults applied, record valid. 0 or -1. */
int record_finish(struct record *r, char *why, size_t whylen);
void record_free(struct record *r);
/* Deep copy; 0 or -1 (out of memory). */
int record_copy(struct record *dst, const struct record *src);

/* Per-kind checks of a finished record (used again on records from a
 * driver before they enter a snapshot). 0 or -1 with a reason. */
int mount_rec_validate(const struct mount_rec *m, char *why, size_t whylen);
int ns_rec_validate(const struct ns_rec *n, char *why, size_t whylen);
int ms_rec_validate(const struct ms_rec *m, char *why, size_t whylen);
int record_validate(const struct record *r, char *why, size_t whylen);

/*
 * Canonical text: the INI section, keys in table order, one `key = value`
 * per line, each line ending in '\n'. With all_keys false, keys at their
 * default value are left out (for hand-edited files); with all_keys true
 * every key is written (for a store, so a changed default never changes a
 * stored record). snprintf contract: returns the length of the full text and
 * writes at most size bytes (NUL-terminated when size > 0).
 */
size_t record_format(const struct record *r, bool all_keys, char *buf, size_t size);
/* Parses one record's canonical text (comments and blank lines allowed).
 * 0, or -1 with a reason that names the line. */
int record_parse_text(const char *text, size_t len, struct record *out, char *why, size_t whylen);

/* ---- the keys of each record kind, for --help and for did-you-mean ---- */

struct rec_key {
    enum rec_kind kind;
    const char *name;
    const char *type;           /* "list", "enum", "bool", "string", "octal", "count", "size" */
    const char *def;            /* default as text; NULL = required */
    const char *doc;            /* one line */
};
const struct rec_key *record_keys(size_t *n);

/* ---- INI lines (shared with the configuration parser) ---- */

enum ini_kind { INI_BLANK, INI_SECTION, INI_KV, INI_ERROR };

/* One parsed line. Pointers point into the line, which is modified in
 * place. Section "[mount /a b]": a = "mount", b = "/a b" (b = "" without a
 * name). Pair "key = value  # note": a = "key", b = "value". A value may be
 * double-quoted to hold '#'; otherwise '#' after whitespace starts a comment. */
struct ini_line {
    enum ini_kind kind;
    char *a;
    char *b;
    const char *why;            /* INI_ERROR: static reason */
};
enum ini_kind ini_parse_line(char *line, struct ini_line *out);

/* ---- value helpers (shared with the configuration parser) ---- */

/* "true/false/yes/no/on/off/1/0", case-insensitive. 0 or -1. */
int parse_bool(const char *s, bool *out);
/* Decimal integer, optional binary suffix k m g t p (KiB..PiB) when
 * allow_suffix. 0 or -1 (also on overflow). */
int parse_i64(const char *s, bool allow_suffix, int64_t *out);
/* host:port, [v6]:port or v4:port; port in [minport, 65535]. 0 or -1 with a reason. */
int hostport_check(const char *s, int minport, char *why, size_t whylen);
/* Names of nameservices and metastores: [A-Za-z0-9_.-], 1..FR_NAME_MAX. */
bool name_valid(const char *s);

/* ---- a set of records ---- */

/* An unordered bag of records of every kind (what a driver has loaded). */
struct record_set {
    struct record *recs;
    size_t n, cap;
};

void recset_init(struct record_set *s);
void recset_free(struct record_set *s);
/* Moves *r into the set (r is left zeroed). 0, or -1 when out of memory. */
int recset_add(struct record_set *s, struct record *r);
struct record *recset_find(const struct record_set *s, enum rec_kind k, const char *key);
/* Removes and frees a record; false when there was none. */
bool recset_remove(struct record_set *s, enum rec_kind k, const char *key);

/*
 * Checks that hold across records: keys unique per kind, at most one
 * primary metastore, metastore prefixes unique. With strict_refs also: every
 * mount destination and default_ns (when not NULL/"") name a defined
 * nameservice. Each problem is passed to report (with the record it concerns,
 * NULL for default_ns); returns the number of problems.
 */
typedef void (*recset_report_fn)(void *ctx, const struct record *r, const char *why);
int recset_validate(const struct record_set *s, const char *default_ns, bool strict_refs, recset_report_fn report,
                    void *ctx);

#endif
