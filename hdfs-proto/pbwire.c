#include "wire.h"
#include "pbwire.h"

#include <string.h>

size_t pb_get_varint_long(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (size_t i = 0; i < 10; i++) {
        if (p + i >= end)
            return 0;
        uint8_t b = p[i];
        if (i == 9 && b > 1)
            return 0; /* more than 64 bits */
        r |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = r;
            return i + 1;
        }
    }
    return 0;
}

size_t pb_put_varint(uint8_t *p, uint64_t v)
{
    return wire_put_varint(p, v);
}

size_t pb_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

int pb_next_field(const uint8_t **pp, const uint8_t *end, struct pb_field *f)
{
    const uint8_t *p = *pp;
    if (p >= end)
        return 0;
    uint64_t tag;
    size_t n = pb_get_varint(p, end, &tag);
    if (!n || tag >> 3 == 0 || tag >> 3 > 0x1fffffff)
        return -1;
    p += n;
    f->num = (uint32_t)(tag >> 3);
    f->type = (enum pb_wiretype)(tag & 7);
    f->data = NULL;
    f->len = 0;
    f->varint = 0;
    switch (f->type) {
    case PB_VARINT:
        n = pb_get_varint(p, end, &f->varint);
        if (!n)
            return -1;
        p += n;
        break;
    case PB_I64:
        if (end - p < 8)
            return -1;
        for (int i = 7; i >= 0; i--)
            f->varint = (f->varint << 8) | p[i];
        p += 8;
        break;
    case PB_I32:
        if (end - p < 4)
            return -1;
        for (int i = 3; i >= 0; i--)
            f->varint = (f->varint << 8) | p[i];
        p += 4;
        break;
    case PB_LEN: {
        uint64_t len;
        n = pb_get_varint(p, end, &len);
        if (!n)
            return -1;
        p += n;
        if (len > (uint64_t)(end - p))
            return -1;
        f->data = p;
        f->len = (size_t)len;
        p += len;
        break;
    }
    default:
        return -1; /* groups (3, 4) and reserved types */
    }
    *pp = p;
    return 1;
}

size_t pb_put_tag(uint8_t *p, uint32_t num, enum pb_wiretype t)
{
    return pb_put_varint(p, ((uint64_t)num << 3) | (uint64_t)t);
}

size_t pb_put_bytes_field(uint8_t *p, uint32_t num, const void *data, size_t len)
{
    size_t n = pb_put_tag(p, num, PB_LEN);
    n += pb_put_varint(p + n, len);
    if (len)
        memcpy(p + n, data, len);
    return n + len;
}

size_t pb_put_varint_field(uint8_t *p, uint32_t num, uint64_t v)
{
    size_t n = pb_put_tag(p, num, PB_VARINT);
    return n + pb_put_varint(p + n, v);
}
