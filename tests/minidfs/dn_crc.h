/* dn_crc: CRC32 (zlib polynomial) and CRC32C (Castagnoli), slice-by-8. */
#ifndef MINIDFS_DN_CRC_H
#define MINIDFS_DN_CRC_H

#include <stddef.h>
#include <stdint.h>

enum dn_crc_type { DN_CRC32 = 1, DN_CRC32C = 2 }; /* ChecksumTypeProto values */

/* CRC of p[0..n) of the given type (a fresh CRC, not a continuation). */
uint32_t dn_crc(enum dn_crc_type t, const uint8_t *p, size_t n);

#endif
