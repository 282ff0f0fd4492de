/*
 * crc32c.c: see crc32c.h. Slice-by-8 tables for both polynomials (built on
 * first use), and the SSE4.2 crc32 instruction for Castagnoli on x86-64 when
 * the CPU reports it (checked once at run time; the build needs no -msse4.2).
 */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CRC_HAVE_X86 1
#include <nmmintrin.h>
#endif

#define POLY_IEEE 0xEDB88320u
#define POLY_CASTAGNOLI 0x82F63B78u

/* tab[0] = zlib polynomial, tab[1] = Castagnoli; tab[t][k][b] is the CRC
 * contribution of byte b followed by k zero bytes. */
static uint32_t tab[2][8][256];
static int use_hw;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    static const uint32_t poly[2] = { POLY_IEEE, POLY_CASTAGNOLI };
    for (int t = 0; t < 2; t++) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = (c & 1) ? (c >> 1) ^ poly[t] : c >> 1;
            tab[t][0][i] = c;
        }
        for (uint32_t i = 0; i < 256; i++)
            for (int s = 1; s < 8; s++)
                tab[t][s][i] = (tab[t][s - 1][i] >> 8) ^ tab[t][0][tab[t][s - 1][i] & 0xff];
    }
#ifdef CRC_HAVE_X86
    __builtin_cpu_init();
    use_hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
#endif
}

/* c is the running (inverted) register; returns it updated. */
static uint32_t crc_tables(const uint32_t (*T)[256], uint32_t c, const uint8_t *p, size_t n)
{
    while (n >= 8) {
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        c = T[7][lo & 0xff] ^ T[6][(lo >> 8) & 0xff] ^ T[5][(lo >> 16) & 0xff] ^ T[4][lo >> 24] ^ T[3][p[4]] ^
            T[2][p[5]] ^ T[1][p[6]] ^ T[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n--)
        c = T[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return c;
}

#ifdef CRC_HAVE_X86
__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t c, const uint8_t *p, size_t n)
{
    while (n && ((uintptr_t)p & 7)) {
        c = _mm_crc32_u8(c, *p++);
        n--;
    }
    uint64_t c64 = c;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8); /* aligned here; memcpy keeps the aliasing rules happy */
        c64 = _mm_crc32_u64(c64, v);
        p += 8;
        n -= 8;
    }
    c = (uint32_t)c64;
    while (n--)
        c = _mm_crc32_u8(c, *p++);
    return c;
}
#endif

uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&init_once, crc_init);
    return ~crc_tables(tab[1], ~crc, buf, len);
}

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&init_once, crc_init);
#ifdef CRC_HAVE_X86
    if (use_hw)
        return ~crc_sse42(~crc, buf, len);
#endif
    return ~crc_tables(tab[1], ~crc, buf, len);
}

uint32_t crc32_ieee(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&init_once, crc_init);
    return ~crc_tables(tab[0], ~crc, buf, len);
}

int crc32c_hw_available(void)
{
    pthread_once(&init_once, crc_init);
    return use_hw;
}

/* ---- combining: polynomial arithmetic modulo P, reflected bit order
 * (bit 31 holds the x^0 coefficient). ---- */

static uint32_t gf_mul(uint32_t a, uint32_t b, uint32_t poly)
{
    uint32_t m = 1u << 31, prod = 0;
    while (m) {
        if (a & m)
            prod ^= b;
        m >>= 1;
        b = (b & 1) ? (b >> 1) ^ poly : b >> 1;
    }
    return prod;
}

/* x^(8 * nbytes) mod P. */
static uint32_t x_pow_8n(uint64_t nbytes, uint32_t poly)
{
    uint32_t result = 1u << 31; /* x^0 */
    uint32_t base = 1u << 23;   /* x^8 */
    while (nbytes) {
        if (nbytes & 1)
            result = gf_mul(result, base, poly);
        base = gf_mul(base, base, poly);
        nbytes >>= 1;
    }
    return result;
}

/* With init and final xor both all-ones they cancel out, so
 * crc(A||B) = crc(A) * x^(8|B|) + crc(B) (mod P). */
uint32_t crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
    return gf_mul(x_pow_8n(len_b, POLY_CASTAGNOLI), crc_a, POLY_CASTAGNOLI) ^ crc_b;
}

uint32_t crc32_ieee_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
    return gf_mul(x_pow_8n(len_b, POLY_IEEE), crc_a, POLY_IEEE) ^ crc_b;
}
