/*
 * pbrewrite: find and replace strings deep inside a protobuf message without
 * decoding it.
 *
 * A field path names a string through nested messages by field numbers,
 * outermost first, and ends with 0: {1, 2, 0} is "field 2 of every field 1".
 * A repeated field on the way applies to each element; a field that occurs
 * several times is visited every time. Only length-delimited occurrences
 * match; a varint or fixed field with a path's number is skipped, so one path
 * can cover message types that share numbers.
 *
 *   request bytes --pbr_walk-----> each string at the paths (routing)
 *                 --pbr_rewrite--> callback maps each string -> new bytes,
 *                                  every enclosing length prefix re-encoded
 *
 * The rewriter copies every byte it does not replace verbatim (unknown fields,
 * field order, packed arrays); only the tags and length prefixes on the way
 * to a replaced string are re-encoded. When nothing changes it writes nothing
 * and allocates nothing: the caller forwards the original bytes.
 *
 * Bounds: a path has at most PBR_MAX_DEPTH numbers (so the walk never nests
 * deeper than that), a set has at most PBR_MAX_PATHS paths, and every length
 * read from the message is checked against what is left. Malformed input is an
 * error value.
 */
#ifndef FR_PBREWRITE_H
#define FR_PBREWRITE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define PBR_MAX_DEPTH 16
#define PBR_MAX_PATHS 32

/* A set of field paths; each p[i] is an array of field numbers ending with 0.
 * No path may be a prefix of another (nor equal to one). */
struct pb_pathset {
    const uint32_t *const *p;
    uint8_t n;
};

enum pbr_status {
    PBR_UNCHANGED = 0,      /* pbr_rewrite: nothing replaced, out untouched */
    PBR_CHANGED = 1,        /* pbr_rewrite: the new message was appended to out */
    PBR_STOP = 2,           /* pbr_walk: the visitor asked to stop */
    PBR_EMALFORMED = -1,    /* bad tag, truncated field, length past the end */
    PBR_EPATH = -2,         /* bad path set (empty, too deep, prefix of another) */
    PBR_ENOMEM = -3,
    PBR_EABORT = -4,        /* the callback returned an error */
    PBR_EDUP = -5,          /* pbr_find_one: the path occurs more than once */
};

/*
 * Rewriter callback: sees one string s/len found at ps->p[idx]. Returns 0 to
 * keep it, 1 to replace it with (*out, *out_len), or -1 to abort the rewrite.
 * The replacement must not point into the output buffer and must stay valid
 * until the callback returns again or pbr_rewrite returns (a scratch buffer
 * in ctx reused per call is fine). A replacement equal to the original counts
 * as keeping it.
 */
typedef int (*pbr_map_fn)(void *ctx, unsigned idx, const uint8_t *s, size_t len, const uint8_t **out,
                          size_t *out_len);

/*
 * Rewrites msg (a whole message, without its own length prefix). Returns
 * PBR_CHANGED with the new message appended to out, PBR_UNCHANGED with out
 * untouched, or an error (out is restored to its length on entry). Strings are
 * visited in message order.
 */
int pbr_rewrite(const uint8_t *msg, size_t len, const struct pb_pathset *ps, pbr_map_fn fn, void *ctx,
                struct buf *out);

/* Walker visitor: returns 0 to go on, 1 to stop (pbr_walk returns PBR_STOP),
 * -1 to abort (PBR_EABORT). s points into the caller's message. */
typedef int (*pbr_visit_fn)(void *ctx, unsigned idx, const uint8_t *s, size_t len);

/* Calls fn for every string at the paths, in message order. Returns 0 when
 * the whole walk ran, PBR_STOP, or an error. Only the messages on the paths
 * are parsed; other fields are skipped by their length. */
int pbr_walk(const uint8_t *msg, size_t len, const struct pb_pathset *ps, pbr_visit_fn fn, void *ctx);

/* The string at one path (ending with 0) when it occurs exactly once.
 * Returns 1 (found: *s and *slen point into msg), 0 (absent), PBR_EDUP when it
 * occurs more than once (protobuf would take the last, a router must not
 * route by one copy and let the NameNode use another), or an error. */
int pbr_find_one(const uint8_t *msg, size_t len, const uint32_t *path, const uint8_t **s, size_t *slen);

/* Checks a path set: 0 or PBR_EPATH. Both entry points check it too. */
int pbr_check_paths(const struct pb_pathset *ps);

#endif
