/*
 * buf: a growable byte buffer with a read cursor.
 *
 *   data                rpos               wpos            cap
 *    |---- consumed ----|---- unread ------|---- free -----|
 *
 * Input buffers append at wpos and consume from rpos; buf_compact() moves the
 * unread bytes to the front when that frees enough room. Output buffers are
 * filled with buf_append*() and drained with buf_consume().
 */
#ifndef FR_BUF_H
#define FR_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *data; /* owned; NULL until the first reserve */
    size_t rpos;   /* first unread byte */
    size_t wpos;   /* end of the written bytes */
    size_t cap;    /* allocated size of data */
};

/* clang-format off */
#define BUF_INIT { NULL, 0, 0, 0 }
/* clang-format on */

static inline size_t buf_len(const struct buf *b) { return b->wpos - b->rpos; }
static inline uint8_t *buf_rptr(const struct buf *b) { return b->data + b->rpos; }
static inline uint8_t *buf_wptr(const struct buf *b) { return b->data + b->wpos; }
static inline size_t buf_room(const struct buf *b) { return b->cap - b->wpos; }

/* Makes room for n more bytes after wpos. Returns 0, or -1 when out of memory. */
int buf_reserve(struct buf *b, size_t n);
/* Appends n bytes. Returns 0 or -1 (out of memory). */
int buf_append(struct buf *b, const void *p, size_t n);
/* Marks n bytes, written directly at buf_wptr(), as written. */
static inline void buf_commit(struct buf *b, size_t n) { b->wpos += n; }
/* Drops n unread bytes; resets to empty when everything was read. */
void buf_consume(struct buf *b, size_t n);
/* Moves the unread bytes to the front. */
void buf_compact(struct buf *b);
/* Empties the buffer and keeps its memory. */
static inline void buf_reset(struct buf *b) { b->rpos = b->wpos = 0; }
/* Frees the memory; the buffer is BUF_INIT again. */
void buf_free(struct buf *b);

#endif
