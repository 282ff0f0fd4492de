/*
 * crc32c: the two CRC-32 flavours HDFS checksums data with.
 *
 *   crc32c      Castagnoli polynomial (reflected 0x82F63B78), CHECKSUM_CRC32C.
 *               SSE4.2 instruction when the CPU has it, else slice-by-8 tables.
 *   crc32_ieee  zlib/gzip polynomial (reflected 0xEDB88320), CHECKSUM_CRC32.
 *               Slice-by-8 tables.
 *
 * Both follow zlib's convention: pass 0 to start, pass a previous result to
 * continue over more bytes (crc(crc(0, a), b) == crc(0, a || b)). The value is
 * the ordinary one: crc32c(0, "123456789", 9) == 0xE3069283,
 * crc32_ieee(0, "123456789", 9) == 0xCBF43926. HDFS stores it big-endian.
 *
 * Thread-safe (tables are built once, on first use).
 */
#ifndef MINIDFS_CRC32C_H
#define MINIDFS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t crc32_ieee(uint32_t crc, const void *buf, size_t len);

/* The table-driven CRC32C, whatever the CPU (for tests and comparisons). */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);
/* 1 when crc32c() uses the SSE4.2 instruction. */
int crc32c_hw_available(void);

/* CRC of A||B from crc(A), crc(B) and the length of B, without the bytes
 * (what HDFS's composite CRC does to chunk CRCs). */
uint32_t crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);
uint32_t crc32_ieee_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

#endif
