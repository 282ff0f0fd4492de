/*
 * hms_sql: database names inside the SQL text of a view
 * (Table.viewOriginalText / viewExpandedText), see hms_sql.c.
 */
#ifndef FR_HMS_SQL_H
#define FR_HMS_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Parentheses nested deeper than this make the text an error. */
#define HMS_SQL_MAX_DEPTH 10000

/*
 * Puts prefix in front of (in = false: backend -> client) or takes it off
 * (in = true: client -> backend) the database part of every db-qualified
 * table reference and function call in the SQL text s[0..len). Nothing else
 * changes: not the case, quoting or spacing, not literals or comments.
 *
 * Returns 1 when the text changed (out is reset and holds the new text),
 * 0 when nothing changed (out is not touched), -1 when out of memory, when
 * the prefix holds anything but a-z 0-9 _, or when parentheses nest deeper
 * than HMS_SQL_MAX_DEPTH (out may then hold part of a text). An empty
 * prefix changes nothing. Time and memory are linear in len.
 *
 * foreign_refs (may be NULL) gets, on the way in, the number of references
 * whose database does not carry the prefix: the backend would resolve them
 * in a same-named database of its own, not the one the client meant. It is
 * always 0 on the way out.
 */
int hms_sql_map(const char *prefix, bool in, const uint8_t *s, size_t len, struct buf *out, unsigned *foreign_refs);

#endif
