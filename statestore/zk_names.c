/* zk_names.c: znode names for record keys, and back (see zkstore.h). */
#include "zkstore_int.h"

/* ---- znode names ---- */

static bool must_escape(unsigned char c)
{
    return c == '%' || c == '/' || c <= 0x20 || c >= 0x7f;
}

long zks_encode_name(const char *in, char *out, size_t outsz)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    if (!in || !*in)
        return -1;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        size_t need = must_escape(*p) ? 3 : 1;
        if (o + need >= outsz)
            return -1;
        if (need == 3) {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        } else {
            out[o++] = (char)*p;
        }
    }
    out[o] = '\0';
    return (long)o;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

long zks_decode_name(const char *in, char *out, size_t outsz)
{
    size_t o = 0;
    if (!in || !*in)
        return -1;
    for (const char *p = in; *p; p++) {
        if (o + 1 >= outsz)
            return -1;
        if (*p == '%') {
            int h = hexval(p[1]), l = h < 0 ? -1 : hexval(p[2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0))
                return -1;
            out[o++] = (char)(h * 16 + l);
            p += 2;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
    return (long)o;
}

/* The znode name of a record key: mount paths are encoded, names are used as they are. */
int zk_key_to_name(enum rec_kind kind, const char *key, char *out, size_t outsz, char *err, size_t errlen)
{
    if (kind == REC_MOUNT) {
        if (zks_encode_name(key, out, outsz) < 0) {
            fr_errf(err, errlen, "mount path too long or empty: %.80s", key ? key : "");
            return -1;
        }
        return 0;
    }
    if (!key || !name_valid(key)) {
        fr_errf(err, errlen, "not a valid %s name: '%.80s'", rec_kind_name(kind), key ? key : "");
        return -1;
    }
    snprintf(out, outsz, "%s", key);
    return 0;
}
