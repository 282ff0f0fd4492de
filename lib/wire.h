/*
 * wire: the integer encodings both codecs share. Big-endian 32-bit words
 * (Hadoop IPC frame lengths, Thrift framing and binary-protocol integers)
 * and base-128 varints (protobuf, Thrift's compact protocol), low group
 * first, at most 10 bytes for 64 bits.
 */
#ifndef FR_WIRE_H
#define FR_WIRE_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t wire_get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void wire_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Writes v as a varint at p (room for 10 bytes); returns the bytes used. */
static inline size_t wire_put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

#endif
