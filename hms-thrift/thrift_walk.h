/*
 * thrift_walk: a streaming walker over Thrift binary and compact messages.
 *
 * It finds where a message ends without a typed decode, visits the strings
 * that a method's rule names, rewrites those strings and copies every other
 * byte unchanged. It is the Thrift counterpart of hdfs-proto/pbrewrite.h; the
 * router uses it to move Hive Metastore calls between backends (database
 * names in requests and replies, method renames, sequence ids).
 *
 *   connection bytes --tw_detect---------> protocol, framed or not
 *   stream bytes     --tw_scan_feed------> end of one message (unframed)
 *   frame bytes      --tw_frame_cut------> one message (framed)
 *   message          --tw_parse_header---> name, type, seqid, body offset
 *   body (a struct)  --tw_walk-----------> each string at the paths (routing)
 *                    --tw_rewrite--------> callback maps each string; the
 *                                          rest is copied byte for byte
 *   whole message    --tw_rewrite_message> new header (name/seqid) + body
 *
 * Thrift needs no length fixups outside the string itself: a struct is a run
 * of fields ended by STOP and a container carries an element count, so a
 * replaced string changes only its own length prefix (a big-endian i32 in
 * binary, a varint in compact). Only the message length changes, which a
 * framed transport re-emits around the new bytes.
 *
 * Paths. A path names values inside the message body (the `<method>_args` or
 * `<method>_result` struct), outermost step first, and ends with TW_END:
 *
 *   a field id (-32768..32767)  the field with that id of the struct in hand
 *   TW_ELEM                     every element of the list or set in hand
 *   TW_KEY / TW_VAL             every key / every value of the map in hand
 *
 * The value the last step reaches is visited when it is a string (Thrift
 * `string` or `binary`). When a step does not fit what is on the wire (a
 * field holds an i32 where the path wants a string, a list where it wants a
 * struct) the value is skipped, so one path can cover shapes that share ids.
 * Field id 0 is an ordinary id (the `success` field of every result), which
 * is why paths end with TW_END and not with 0. Examples:
 *
 *   TW_P(1)              get_database_args.name
 *   TW_P(2, TW_ELEM)     set_ugi_args.group_names, each element
 *   TW_P(0, TW_ELEM, 2)  get_table_objects_by_name_result.success (list<Table>),
 *                        each Table's dbName
 *   TW_P(1, 3, TW_KEY)   field 3 (a map) of the struct in field 1, each key
 *
 * Bounds (struct tw_limits): nesting depth (the body struct is level 1 and
 * every struct, list, set or map inside it adds one), string length,
 * container element count and message size. Every length read from the wire
 * is checked against the limits and against the bytes that are left before
 * anything is read behind it; a container's count is refused up front when
 * its elements, at their smallest encoding, could not fit in max_message.
 * Malformed or oversized input is an error value; nothing here reads past the
 * length it is given.
 *
 * What is accepted follows the Java reader: fields in any order and repeated
 * fields (each occurrence is visited), any byte as a bool, element types of
 * an empty container unchecked, compact STOP judged by the low nibble, UUID
 * (binary 16, compact 13) as 16 bytes, varints of at most 5 bytes (i16, i32,
 * lengths, counts) or 10 (i64), and the old non-strict binary header on read
 * (it is always written strict: HMS refuses the old one).
 */
#ifndef FR_THRIFT_WALK_H
#define FR_THRIFT_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum tw_proto { TW_BINARY = 0, TW_COMPACT = 1 };

/* Message types as on the wire (both protocols). */
enum tw_msg_type { TW_CALL = 1, TW_REPLY = 2, TW_EXCEPTION = 3, TW_ONEWAY = 4 };

/* TApplicationException.type values (the EXCEPTION message body). */
enum tw_app_error {
    TW_APP_UNKNOWN = 0,
    TW_APP_UNKNOWN_METHOD = 1,
    TW_APP_INVALID_MESSAGE_TYPE = 2,
    TW_APP_WRONG_METHOD_NAME = 3,
    TW_APP_BAD_SEQUENCE_ID = 4,
    TW_APP_MISSING_RESULT = 5,
    TW_APP_INTERNAL_ERROR = 6,
    TW_APP_PROTOCOL_ERROR = 7,
};

/* Return values. Functions document which of the non-negative ones they use;
 * every error is negative. */
enum tw_status {
    TW_NEED_MORE = 0,    /* detect/scan/header/frame: the bytes so far are a valid prefix */
    TW_COMPLETE = 1,     /* detect/scan/header/frame: done, results set */
    TW_UNCHANGED = 0,    /* rewrite: nothing replaced, out untouched */
    TW_CHANGED = 1,      /* rewrite: the new bytes were appended to out */
    TW_STOP = 2,         /* walk: the visitor asked to stop */
    TW_EVERSION = -1,    /* not a Thrift message: bad protocol id or version */
    TW_EDEPTH = -2,      /* nesting deeper than max_depth */
    TW_ESTRING = -3,     /* string length negative or above max_string */
    TW_ECONTAINER = -4,  /* element count negative or above max_container */
    TW_EMSGSIZE = -5,    /* the message (or frame) would exceed max_message */
    TW_ETYPE = -6,       /* unknown value type or message type */
    TW_EMALFORMED = -7,  /* over-long varint */
    TW_ETRUNCATED = -8,  /* walk/rewrite: the message ends before its last STOP */
    TW_ETRAILING = -9,   /* walk/rewrite: bytes after the body's final STOP */
    TW_EPATH = -10,      /* bad path set */
    TW_ENOMEM = -11,
    TW_EABORT = -12,     /* the callback returned an error */
};

/* Limits; a zero field means the default. Defaults follow the Java library
 * and the Hive Metastore server: depth 64, strings, element counts and
 * messages up to 100 MiB. A reply stream may need a larger max_message
 * (Hive 4 clients allow 2 GiB replies). max_depth above TW_DEPTH_CAP is
 * treated as TW_DEPTH_CAP. */
struct tw_limits {
    uint32_t max_depth;
    size_t max_string;     /* bytes */
    size_t max_container;  /* elements of one list/set, entries of one map */
    size_t max_message;    /* bytes, header included, frame length excluded */
};

#define TW_DEFAULT_DEPTH 64
#define TW_DEFAULT_SIZE ((size_t)100 << 20)
#define TW_DEPTH_CAP 128

/* ---- connection start, frames, headers ---- */

/*
 * Looks at the first bytes of a connection. Binary strict starts 80 01,
 * compact starts 82 with version 1 in the low five bits of the next byte;
 * anything else is read as a 4-byte big-endian frame length followed by one
 * of those. An old non-strict binary header (i32 name length, name) is
 * recognised too: unframed when byte 4 (the first byte of the name) is not
 * zero, framed when it is (then the frame's first i32 is the name length,
 * whose high byte is 0). Returns TW_COMPLETE, TW_NEED_MORE (fewer than 8
 * bytes and not decided yet) or TW_EVERSION.
 */
int tw_detect(const uint8_t *p, size_t len, enum tw_proto *proto, bool *framed);

/*
 * Cuts one frame: a big-endian i32 length, then that many bytes. Returns
 * TW_COMPLETE with *msg and *msg_len (the payload) and *frame_len (4 + payload),
 * TW_NEED_MORE, or TW_EMSGSIZE when the length is negative, zero or above
 * max_frame (Java's default is 16,384,000).
 */
int tw_frame_cut(const uint8_t *p, size_t len, size_t max_frame, const uint8_t **msg, size_t *msg_len,
                 size_t *frame_len);

/* Writes a frame length prefix (big-endian) for a payload of n bytes. */
int tw_put_frame_len(struct buf *out, size_t n);

struct tw_header {
    const uint8_t *name;  /* points into the message */
    size_t name_len;
    enum tw_msg_type type;
    int32_t seqid;
    size_t body_off;      /* offset of the body struct in the message */
    bool strict;          /* binary: versioned header (false: old style) */
};

/* Parses a message header. Returns TW_COMPLETE, TW_NEED_MORE, TW_EVERSION,
 * TW_ETYPE (type not 1..4), TW_ESTRING (name length) or TW_EMSGSIZE. lim may
 * be NULL (defaults). */
int tw_parse_header(enum tw_proto proto, const uint8_t *p, size_t len, const struct tw_limits *lim,
                    struct tw_header *h);

/* Appends a header (binary: always the strict form). Returns 0, TW_ESTRING
 * (name over INT32_MAX bytes) or TW_ENOMEM. */
int tw_write_header(enum tw_proto proto, struct buf *out, const uint8_t *name, size_t name_len,
                    enum tw_msg_type type, int32_t seqid);

/* Small writers for messages built by hand (the router's own answers):
 * a big-endian i32, an unsigned varint, and a string in the protocol's
 * form (binary: i32 length; compact: varint length). 0 or TW_ENOMEM. */
int tw_put_be32(struct buf *out, uint32_t v);
int tw_put_uvarint(struct buf *out, uint64_t v);
int tw_put_string(enum tw_proto proto, struct buf *out, const void *s, size_t len);

/* TTypes of the values the router writes itself. */
enum tw_ttype { TW_T_STRING = 11, TW_T_STRUCT = 12, TW_T_LIST = 15 };
/* A field header in a struct; *last is the previous field id written in
 * that struct (0 at its start), which compact field headers are relative to. */
int tw_put_field(enum tw_proto proto, struct buf *out, enum tw_ttype type, int16_t id, int16_t *last);
/* A list header: element type and count. */
int tw_put_list(enum tw_proto proto, struct buf *out, enum tw_ttype elem, size_t n);
/* The STOP that ends a struct. */
int tw_put_stop(struct buf *out);

/* Appends a whole EXCEPTION message carrying TApplicationException
 * {1: message, 2: type}; e.g. UNKNOWN_METHOD with "Invalid method name: 'x'". */
int tw_write_app_exception(enum tw_proto proto, struct buf *out, const uint8_t *name, size_t name_len,
                           int32_t seqid, enum tw_app_error type, const char *message);

/* ---- what a reply holds ---- */

/* The first field of a struct, as tw_result_field reads it. */
struct tw_field {
    bool set;             /* false: the struct is empty (STOP first) */
    int16_t id;           /* the field's id */
    uint8_t type;         /* its TType in binary's numbering (compact types are mapped), e.g. TW_T_STRUCT */
    size_t value_off;     /* where its value starts, counted from the start of the struct */
};

/*
 * Which field of a REPLY's result struct (`<method>_result`, the message
 * body at h.body_off) is set. A result holds at most one field: success
 * (id 0), or one of the method's declared exceptions (ids 1 and up); a void
 * method's success is the empty struct (f->set false). Only the first field
 * header is read, so p may be the first bytes of the body, and the same call
 * finds the first field of any struct (a result's success value, say).
 * Returns TW_COMPLETE with *f, TW_NEED_MORE when the bytes end inside the
 * field header, TW_ETYPE for a type no Thrift value has, or TW_EMALFORMED
 * (an over-long compact field id).
 */
int tw_result_field(enum tw_proto proto, const uint8_t *p, size_t len, struct tw_field *f);

/*
 * A list or set header at p: the element TType (binary numbering), the
 * element count and the header's length. Returns TW_COMPLETE, TW_NEED_MORE,
 * TW_ETYPE, TW_ECONTAINER (a negative count) or TW_EMALFORMED.
 */
int tw_list_header(enum tw_proto proto, const uint8_t *p, size_t len, uint8_t *elem, size_t *count,
                   size_t *hdr_len);

/* ---- message boundaries ---- */

/*
 * Resumable scanner for unframed streams: call tw_scan_feed with all bytes of
 * the message received so far, from its first byte, each time more arrive
 * (the buffer may move; the bytes already passed must not change). Work done
 * on earlier calls is not repeated, so a large message arriving in small
 * pieces costs one pass. Returns TW_NEED_MORE, TW_COMPLETE with *msg_len set
 * (bytes after it belong to the next message), or an error, which sticks.
 * Initialise again for the next message. The struct is plain data (about
 * 2 KiB) and may live in a connection; its fields are private.
 */
struct tw_level {
    uint32_t left;        /* list/set: elements left; map: keys and values left */
    uint32_t active;      /* paths still matching below this level */
    int16_t last_fid;     /* compact: id of the previous field */
    uint8_t kind, t1, t2, pd;
};

struct tw_scan {
    enum tw_proto proto;
    int state;            /* 0 header, 1 body, 2 done, <0 error */
    size_t pos;           /* next unread byte (may pass len while skipping a string) */
    size_t end;           /* message length once done */
    struct tw_limits lim;
    unsigned sp;
    struct tw_level st[TW_DEPTH_CAP];
};

void tw_scan_init(struct tw_scan *s, enum tw_proto proto, const struct tw_limits *lim);
int tw_scan_feed(struct tw_scan *s, const uint8_t *p, size_t len, size_t *msg_len);

/* One-shot form: the same result for bytes that start at a message. */
int tw_message_end(enum tw_proto proto, const uint8_t *p, size_t len, const struct tw_limits *lim,
                   size_t *msg_len);

/* Length of the struct whose fields start at p (up to and with its STOP),
 * for taking apart a list of structs without decoding them. Returns
 * TW_COMPLETE with *n, or the scanner's error for the same bytes
 * (TW_ETRUNCATED when they end first). Bytes after the struct are allowed. */
int tw_struct_len(enum tw_proto proto, const uint8_t *p, size_t len, const struct tw_limits *lim, size_t *n);

/* ---- paths, walking, rewriting ---- */

#define TW_END 0x10000
#define TW_ELEM 0x10001
#define TW_KEY 0x10002
#define TW_VAL 0x10003
#define TW_MAX_STEPS 16   /* steps in one path, TW_END excluded */
#define TW_MAX_PATHS 32

/* A set of paths; each p[i] is an array of steps ending with TW_END. Equal
 * paths are refused. */
struct tw_pathset {
    const int32_t *const *p;
    uint8_t n;
};

/* One path, and a set of them (an initializer for a struct tw_pathset):
 *   static const struct tw_pathset gtobn = TW_PS(TW_P(0, TW_ELEM, 2));
 * at file scope (inside a function, without `static`). */
#define TW_P(...) ((const int32_t[]){ __VA_ARGS__, TW_END })
#define TW_PS(...)                                                                                \
    { (const int32_t *const[]){ __VA_ARGS__ },                                                    \
      (uint8_t)(sizeof((const int32_t *const[]){ __VA_ARGS__ }) / sizeof(const int32_t *)) }

/* Checks a path set: 0 or TW_EPATH. The entry points check it too. */
int tw_check_paths(const struct tw_pathset *ps);

/* Walker visitor: one string s/len (pointing into the body) found at
 * ps->p[idx] (the first path that matches). Returns 0 to go on, 1 to stop
 * (tw_walk returns TW_STOP), -1 to abort (TW_EABORT). */
typedef int (*tw_visit_fn)(void *ctx, unsigned idx, const uint8_t *s, size_t len);

/*
 * Visits every string at the paths in message order. body/len must be
 * exactly one struct (the message body). Returns 0, TW_STOP or an error:
 * the error tw_scan_feed reports for the same bytes, TW_ETRUNCATED where the
 * scanner would ask for more, and TW_ETRAILING when bytes follow the final
 * STOP. max_message applies to the body alone here. lim may be NULL.
 */
int tw_walk(enum tw_proto proto, const uint8_t *body, size_t len, const struct tw_limits *lim,
            const struct tw_pathset *ps, tw_visit_fn fn, void *ctx);

/* Integer visitor: an i16, i32 or i64 (enums too) found at ps->p[idx]; same
 * returns as tw_visit_fn. */
typedef int (*tw_visit_int_fn)(void *ctx, unsigned idx, int64_t v);

/* tw_walk that also visits the integers at the paths, in message order
 * with the strings (e.g. LockComponent.type beside its dbname). */
int tw_walk_values(enum tw_proto proto, const uint8_t *body, size_t len, const struct tw_limits *lim,
                   const struct tw_pathset *ps, tw_visit_fn fn, tw_visit_int_fn ifn, void *ctx);

/*
 * Rewriter callback: sees one string at ps->p[idx]; returns 0 to keep it, 1
 * to replace it with (*out, *out_len), -1 to abort. The replacement must not
 * point into the output buffer and must stay valid until the callback is
 * called again or the rewrite returns (a scratch buffer in ctx is fine). A
 * replacement equal to the original counts as keeping it.
 */
typedef int (*tw_map_fn)(void *ctx, unsigned idx, const uint8_t *s, size_t len, const uint8_t **out,
                         size_t *out_len);

/*
 * Rewrites a body (as for tw_walk). Returns TW_CHANGED with the new body
 * appended to out, TW_UNCHANGED with out untouched (forward the original
 * bytes), or an error with out as it was on entry (TW_ESTRING when a
 * replacement is longer than max_string). Unchanged stretches are copied
 * with one memcpy each.
 */
int tw_rewrite(enum tw_proto proto, const uint8_t *body, size_t len, const struct tw_limits *lim,
               const struct tw_pathset *ps, tw_map_fn fn, void *ctx, struct buf *out);

/* Header changes for tw_rewrite_message: a new method name (name != NULL)
 * and/or a new seqid (set_seqid). */
struct tw_header_edit {
    const uint8_t *name;
    size_t name_len;
    bool set_seqid;
    int32_t seqid;
};

/*
 * A whole message: always appends one complete message to out, its header
 * re-encoded (binary: strict form, also for an old-style input) with the
 * edits applied (edit may be NULL), its body rewritten at the paths (ps may
 * be NULL: the body is copied). msg/len must be exactly one message; its
 * errors are tw_message_end's for the same bytes (TW_ETRUNCATED for "need
 * more", TW_ETRAILING for bytes after the message). Returns TW_CHANGED when
 * any byte differs from the input, TW_UNCHANGED when the output is a copy,
 * or an error with out as on entry. The output may be longer than
 * max_message; a caller that forwards it checks its length.
 */
int tw_rewrite_message(enum tw_proto proto, const uint8_t *msg, size_t len, const struct tw_limits *lim,
                       const struct tw_header_edit *edit, const struct tw_pathset *ps, tw_map_fn fn,
                       void *ctx, struct buf *out);

/*
 * A message that arrives in pieces and need not be held whole (a reply of
 * any size): tw_rewrite_message's work done as the bytes come, for the
 * body only (the header is copied as it is). Feed p/len = the bytes of the
 * message not consumed yet, from the first of them; the call appends to out
 * the output for what it consumed and sets *used, the bytes the caller may
 * drop (it feeds the rest again with more behind). Returns TW_NEED_MORE,
 * TW_COMPLETE when the message ended (*used: the byte after it within p), or
 * an error, which sticks (out as on entry). What stays unconsumed is one
 * step: a field header, a container header, or a string at a path, which
 * is handed to fn whole (bounded by max_string). The limits are the whole
 * message's; a caller that wants no message limit sets max_message to
 * SIZE_MAX. ps may be NULL: the bytes are copied through, checked only.
 */
struct tw_stream {
    struct tw_scan s;     /* positions relative to the unconsumed bytes */
    const struct tw_pathset *ps;
    tw_map_fn fn;
    void *ctx;
    size_t max_message;   /* of the whole message */
    size_t passed;        /* bytes consumed so far */
};

/* 0, or TW_EPATH for a bad path set (then every feed fails with it). */
int tw_stream_init(struct tw_stream *st, enum tw_proto proto, const struct tw_limits *lim,
                   const struct tw_pathset *ps, tw_map_fn fn, void *ctx);
int tw_stream_feed(struct tw_stream *st, const uint8_t *p, size_t len, struct buf *out, size_t *used);

/* A short description of a status value, for logs. */
const char *tw_strerror(int rc);

#endif
