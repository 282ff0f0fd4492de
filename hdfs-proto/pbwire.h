/*
 * pbwire: the protobuf wire format at the byte level, for the few messages
 * the IPC codec reads and writes on the hot path without a full decode
 * (frame headers), and for walking a message to find one field.
 *
 * Readers never read past `end`; every length is checked against what is
 * left. Functions return the number of bytes used, or 0 on malformed input.
 */
#ifndef FR_PBWIRE_H
#define FR_PBWIRE_H

#include <stddef.h>
#include <stdint.h>

enum pb_wiretype { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

/* Reads a varint of at most 10 bytes. Returns bytes used, 0 if truncated or too long. */
size_t pb_get_varint_long(const uint8_t *p, const uint8_t *end, uint64_t *v);
static inline size_t pb_get_varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    if (p < end && !(p[0] & 0x80)) { /* tags and small lengths: one byte */
        *v = p[0];
        return 1;
    }
    return pb_get_varint_long(p, end, v);
}
/* Writes a varint (at most 10 bytes). Returns bytes written. */
size_t pb_put_varint(uint8_t *p, uint64_t v);
/* Bytes a varint of v takes. */
size_t pb_varint_size(uint64_t v);

static inline uint64_t pb_zigzag32(int32_t v) { return (uint32_t)((uint32_t)v << 1) ^ (uint32_t)(v >> 31); }
static inline int32_t pb_unzigzag32(uint64_t v) { return (int32_t)((uint32_t)(v >> 1) ^ (uint32_t)-(int32_t)(v & 1)); }

/* One field as found by pb_next_field(). For PB_LEN, data/len is the payload. */
struct pb_field {
    uint32_t num;          /* field number */
    enum pb_wiretype type;
    uint64_t varint;       /* PB_VARINT, PB_I64, PB_I32 value */
    const uint8_t *data;   /* PB_LEN payload */
    size_t len;
};

/* Reads the next field at *pp (advancing it). Returns 1 for a field, 0 at the
 * end, -1 on malformed input (bad tag, truncated, group wire types). */
int pb_next_field(const uint8_t **pp, const uint8_t *end, struct pb_field *f);

/* Writers into a raw byte pointer; the caller has sized the space. */
size_t pb_put_tag(uint8_t *p, uint32_t num, enum pb_wiretype t);
size_t pb_put_bytes_field(uint8_t *p, uint32_t num, const void *data, size_t len);
size_t pb_put_varint_field(uint8_t *p, uint32_t num, uint64_t v);

#endif
