/*
 * hms_names: database names between the federated view and one backend
 * metastore (see hms_names.c). The callbacks fit tw_rewrite: they return
 * 0 (keep), 1 (replaced by out/out_len, valid until the next call) or -1.
 */
#ifndef FR_HMS_NAMES_H
#define FR_HMS_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "hms_rules.h"

struct hms_names {
    const char *prefix;             /* the backend's prefix ("" for the primary) */
    struct buf out;                 /* the last replacement (reused; grows as needed) */
    unsigned foreign_refs;          /* in: view texts' references to databases without the
                                     * prefix (another metastore's; see hms_sql_map) */
};

/* The database part of a string at a path of that kind (false: none). */
bool hms_db_of(enum hms_path_kind kind, const uint8_t *s, size_t len, const uint8_t **db, size_t *dlen);
/* Client -> backend: strips the prefix from a name, a qualified name, a
 * pattern or the names in a view text (counting foreign references). */
int hms_name_in(struct hms_names *n, enum hms_path_kind kind, const uint8_t *s, size_t len, const uint8_t **out,
                size_t *out_len);
/* Backend -> client: puts the prefix in front of a database name (and of
 * those a view text names). */
int hms_name_out(struct hms_names *n, enum hms_path_kind kind, const uint8_t *s, size_t len, const uint8_t **out,
                 size_t *out_len);
/* Hive's database pattern ('*' any, '|' alternatives), case-insensitive. */
bool hms_pattern_match(const char *pattern, const char *name);
/* Can the pattern match more than one name? '*' and '|' as Hive's grammar,
 * '.' as the regular expression it becomes (HiveServer2 turns a JDBC
 * schema's '_' into '.'), and "@cat#" alone for all. */
bool hms_pattern_is_wild(const char *pattern, size_t len);

#endif
