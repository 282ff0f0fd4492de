/* snapshot_hash.c: MD5, RBF's temporary-name stripping and the consistent-hash
 * ring, computed as Hadoop's Java code does (see snapshot_int.h). */
#include "snapshot_int.h"

/* ---- MD5 (RFC 1321) ---- */

#define MD5_F(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
#define MD5_G(x, y, z) ((y) ^ ((z) & ((x) ^ (y))))
#define MD5_H(x, y, z) ((x) ^ (y) ^ (z))
#define MD5_I(x, y, z) ((y) ^ ((x) | ~(z)))
#define MD5_STEP(f, a, b, c, d, x, t, r)                                                                              \
    do {                                                                                                             \
        (a) += f((b), (c), (d)) + (x) + (t);                                                                         \
        (a) = ((a) << (r) | (a) >> (32 - (r))) + (b);                                                                \
    } while (0)
/* four steps of one round: message words i0..i3, constants from k[n..n+3] */
#define MD5_4(f, n, i0, i1, i2, i3, r0, r1, r2, r3)                                                                 \
    do {                                                                                                             \
        MD5_STEP(f, a, b, c, d, w[i0], md5_k[n], r0);                                                                \
        MD5_STEP(f, d, a, b, c, w[i1], md5_k[n + 1], r1);                                                            \
        MD5_STEP(f, c, d, a, b, w[i2], md5_k[n + 2], r2);                                                            \
        MD5_STEP(f, b, c, d, a, w[i3], md5_k[n + 3], r3);                                                            \
    } while (0)

static const uint32_t md5_k[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

static void md5_block(struct md5 *m, const unsigned char *p)
{
    uint32_t w[16];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
               (uint32_t)p[4 * i + 3] << 24;
    uint32_t a = m->h[0], b = m->h[1], c = m->h[2], d = m->h[3];
    MD5_4(MD5_F, 0, 0, 1, 2, 3, 7, 12, 17, 22);
    MD5_4(MD5_F, 4, 4, 5, 6, 7, 7, 12, 17, 22);
    MD5_4(MD5_F, 8, 8, 9, 10, 11, 7, 12, 17, 22);
    MD5_4(MD5_F, 12, 12, 13, 14, 15, 7, 12, 17, 22);
    MD5_4(MD5_G, 16, 1, 6, 11, 0, 5, 9, 14, 20);
    MD5_4(MD5_G, 20, 5, 10, 15, 4, 5, 9, 14, 20);
    MD5_4(MD5_G, 24, 9, 14, 3, 8, 5, 9, 14, 20);
    MD5_4(MD5_G, 28, 13, 2, 7, 12, 5, 9, 14, 20);
    MD5_4(MD5_H, 32, 5, 8, 11, 14, 4, 11, 16, 23);
    MD5_4(MD5_H, 36, 1, 4, 7, 10, 4, 11, 16, 23);
    MD5_4(MD5_H, 40, 13, 0, 3, 6, 4, 11, 16, 23);
    MD5_4(MD5_H, 44, 9, 12, 15, 2, 4, 11, 16, 23);
    MD5_4(MD5_I, 48, 0, 7, 14, 5, 6, 10, 15, 21);
    MD5_4(MD5_I, 52, 12, 3, 10, 1, 6, 10, 15, 21);
    MD5_4(MD5_I, 56, 8, 15, 6, 13, 6, 10, 15, 21);
    MD5_4(MD5_I, 60, 4, 11, 2, 9, 6, 10, 15, 21);
    m->h[0] += a;
    m->h[1] += b;
    m->h[2] += c;
    m->h[3] += d;
}

void snap_md5_init(struct md5 *m)
{
    m->h[0] = 0x67452301;
    m->h[1] = 0xefcdab89;
    m->h[2] = 0x98badcfe;
    m->h[3] = 0x10325476;
    m->len = 0;
}

void snap_md5_update(struct md5 *m, const void *data, size_t n)
{
    const unsigned char *p = data;
    size_t have = m->len & 63;
    m->len += n;
    if (have) {
        size_t take = 64 - have < n ? 64 - have : n;
        memcpy(m->buf + have, p, take);
        p += take;
        n -= take;
        if (have + take < 64)
            return;
        md5_block(m, m->buf);
    }
    for (; n >= 64; p += 64, n -= 64)
        md5_block(m, p);
    memcpy(m->buf, p, n);
}

/* Digest as two big-endian words: comparing (hi, lo) orders digests as their
 * lower-case hex strings order (the ring keys in RBF). */
void snap_md5_final(struct md5 *m, uint64_t *hi, uint64_t *lo)
{
    uint64_t bits = m->len * 8;
    static const unsigned char pad[64] = {0x80};
    size_t have = m->len & 63;
    snap_md5_update(m, pad, have < 56 ? 56 - have : 120 - have);
    unsigned char l[8];
    for (int i = 0; i < 8; i++)
        l[i] = (unsigned char)(bits >> (8 * i));
    snap_md5_update(m, l, 8);
    unsigned char d[16];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            d[4 * i + j] = (unsigned char)(m->h[i] >> (8 * j));
    *hi = *lo = 0;
    for (int i = 0; i < 8; i++) {
        *hi = *hi << 8 | d[i];
        *lo = *lo << 8 | d[8 + i];
    }
}

/* Feeds bytes as Hadoop's UTF8 class encodes the Java string: a 4-byte UTF-8
 * sequence becomes two 3-byte surrogates; everything else passes as is. */
static void md5_update_java(struct md5 *m, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t start = 0;
    for (size_t i = 0; i + 3 < n; i++) {
        if (p[i] < 0xF0 || p[i] > 0xF4 || (p[i + 1] & 0xC0) != 0x80 || (p[i + 2] & 0xC0) != 0x80 ||
            (p[i + 3] & 0xC0) != 0x80)
            continue;
        snap_md5_update(m, p + start, i - start);
        uint32_t cp = (uint32_t)(p[i] & 7) << 18 | (uint32_t)(p[i + 1] & 63) << 12 | (uint32_t)(p[i + 2] & 63) << 6 |
                      (p[i + 3] & 63);
        uint32_t u[2] = {0xD800 + ((cp - 0x10000) >> 10), 0xDC00 + ((cp - 0x10000) & 0x3FF)};
        unsigned char e[6];
        for (int k = 0; k < 2; k++) {
            e[3 * k] = (unsigned char)(0xE0 | u[k] >> 12);
            e[3 * k + 1] = (unsigned char)(0x80 | ((u[k] >> 6) & 63));
            e[3 * k + 2] = (unsigned char)(0x80 | (u[k] & 63));
        }
        snap_md5_update(m, e, 6);
        i += 3;
        start = i + 1;
    }
    snap_md5_update(m, p + start, n - start);
}

/* ---- RBF's temporary-name stripping (HashResolver) ---- */

static bool ends_with(const char *p, size_t n, const char *s, size_t sn)
{
    return n >= sn && !memcmp(p + n - sn, s, sn);
}

static bool digits(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

static bool is_uuid(const char *p)
{
    static const unsigned char groups[] = {8, 4, 4, 4, 12};
    for (int g = 0; g < 5; g++) {
        for (int i = 0; i < groups[g]; i++, p++)
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F')))
                return false;
        if (g < 4 && *p++ != '-')
            return false;
    }
    return true;
}

/* attempt_\d+_\d{4}_._\d{6}_\d{2} at p; its length or 0. */
static size_t attempt_len(const char *p, size_t n)
{
    if (n < 8 || memcmp(p, "attempt_", 8))
        return 0;
    size_t i = 8;
    while (i < n && p[i] >= '0' && p[i] <= '9')
        i++;
    if (i == 8 || n - i < 1 + 4 + 1 + 1 + 1 + 6 + 1 + 2)
        return 0;
    if (p[i] != '_' || !digits(p + i + 1, 4) || p[i + 5] != '_' || p[i + 7] != '_' || !digits(p + i + 8, 6) ||
        p[i + 14] != '_' || !digits(p + i + 15, 2))
        return 0;
    return i + 17;
}

/* `_temp/(.+)$` or `_temporary/(.+)\.<uuid>$` at position j. */
static bool temp_at(const char *p, size_t n, size_t j, struct slices *o)
{
    if (n - j > 6 && !memcmp(p + j, "_temp/", 6)) {
        o->a = p + j + 6;
        o->an = n - j - 6;
        return true;
    }
    if (n - j >= 11 + 1 + 37 && !memcmp(p + j, "_temporary/", 11) && p[n - 37] == '.' && is_uuid(p + n - 36)) {
        o->a = p + j + 11;
        o->an = n - j - 11 - 37;
        return true;
    }
    return false;
}

void snap_temp_strip(const char *p, size_t n, struct slices *o)
{
    memset(o, 0, sizeof *o);
    o->a = p;
    o->an = n;
    if (n > 8 && ends_with(p, n, ".COPYING", 8)) {
        o->an = n - 8;
        return;
    }
    for (size_t k = n >= 10 ? n - 10 : 0; n >= 11 && k >= 1; k--)
        if (!memcmp(p + k, "._COPYING_", 10)) {
            o->an = k;
            return;
        }
    if (n > 4 && ends_with(p, n, ".tmp", 4)) {
        o->an = n - 4;
        return;
    }
    if (temp_at(p, n, 0, o))
        return;
    /* (.*)_temporary/\d/_temporary/<attempt>/(.+)$ with the rightmost start */
    for (size_t k = n; k-- > 0;) {
        if (p[k] != '_' || n - k < 27 || memcmp(p + k, "_temporary/", 11) || p[k + 11] < '0' || p[k + 11] > '9' ||
            memcmp(p + k + 12, "/_temporary/", 12))
            continue;
        size_t at = k + 24, al = attempt_len(p + at, n - at);
        if (!al || at + al + 1 >= n || p[at + al] != '/')
            continue;
        o->an = k;
        o->b = p + at + al + 1;
        o->bn = n - (at + al + 1);
        return;
    }
    for (size_t j = 1; j < n; j++)
        if (p[j] == '_' && temp_at(p, n, j, o))
            return;
}

/* ---- consistent hash ring ---- */

int snap_cmp_pt(const void *a, const void *b)
{
    const struct ring_pt *x = a, *y = b;
    if (x->hi != y->hi)
        return x->hi < y->hi ? -1 : 1;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

const struct snap_ns *snap_ring_lookup(const struct snap_ring *r, const struct slices *key)
{
    struct md5 m;
    uint64_t hi, lo;
    snap_md5_init(&m);
    md5_update_java(&m, key->a, key->an);
    if (key->bn)
        md5_update_java(&m, key->b, key->bn);
    snap_md5_final(&m, &hi, &lo);
    size_t l = 0, h = r->npts;
    while (l < h) { /* first point >= key */
        size_t mid = (l + h) / 2;
        const struct ring_pt *p = &r->pts[mid];
        if (p->hi < hi || (p->hi == hi && p->lo < lo))
            l = mid + 1;
        else
            h = mid;
    }
    return r->pts[l == r->npts ? 0 : l].ns;
}
