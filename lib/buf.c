#include "buf.h"

#include <stdlib.h>
#include <string.h>

int buf_reserve(struct buf *b, size_t n)
{
    if (b->cap - b->wpos >= n)
        return 0;
    /* Reuse the consumed front before growing. */
    if (b->rpos > 0 && b->cap - buf_len(b) >= n) {
        buf_compact(b);
        return 0;
    }
    size_t need = buf_len(b) + n;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            return -1;
        cap *= 2;
    }
    if (b->rpos > 0)
        buf_compact(b);
    uint8_t *d = realloc(b->data, cap);
    if (!d)
        return -1;
    b->data = d;
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (buf_reserve(b, n) < 0)
        return -1;
    memcpy(b->data + b->wpos, p, n);
    b->wpos += n;
    return 0;
}

void buf_consume(struct buf *b, size_t n)
{
    b->rpos += n;
    if (b->rpos >= b->wpos)
        b->rpos = b->wpos = 0;
}

void buf_compact(struct buf *b)
{
    size_t n = buf_len(b);
    if (b->rpos == 0)
        return;
    if (n)
        memmove(b->data, b->data + b->rpos, n);
    b->rpos = 0;
    b->wpos = n;
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->rpos = b->wpos = b->cap = 0;
}
