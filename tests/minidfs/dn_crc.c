#include "dn_crc.h"

#include <pthread.h>

static uint32_t tab[2][8][256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void make_tables(void)
{
    static const uint32_t poly[2] = { 0xEDB88320u, 0x82F63B78u };
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
}

uint32_t dn_crc(enum dn_crc_type type, const uint8_t *p, size_t n)
{
    pthread_once(&once, make_tables);
    uint32_t (*T)[256] = tab[type == DN_CRC32C ? 1 : 0];
    uint32_t c = 0xFFFFFFFFu;
    while (n >= 8) {
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        c = T[7][lo & 0xff] ^ T[6][(lo >> 8) & 0xff] ^ T[5][(lo >> 16) & 0xff] ^ T[4][lo >> 24] ^ T[3][p[4]] ^
            T[2][p[5]] ^ T[1][p[6]] ^ T[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n--)
        c = T[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}
