/*
 * cursor.h - the one bounds-checked reader for untrusted bytes.
 *
 * Every byte that comes from a packet, a capture file or a config file is
 * read through a `struct cursor`: a window [p, end) over memory that the
 * cursor does not own.  Reads past the end never touch memory; they return
 * zero and set the sticky `err` flag instead.  A parser can therefore read a
 * whole header field by field and check `cur_ok()` once at the end, in the
 * manner of mercury's `datum`.  No struct is ever overlaid on packet memory
 * and no pointer is ever cast to a wider integer type: multi-byte fields are
 * assembled from bytes, so alignment and byte order never matter.
 *
 * Invariants: p <= end at all times; once err is set it stays set and every
 * later read returns 0 (or NULL) without moving p.
 */
#ifndef JOY_CURSOR_H
#define JOY_CURSOR_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

struct cursor {
    const uint8_t *p;   /* next byte to read */
    const uint8_t *end; /* one past the last readable byte */
    bool err;           /* sticky: a read went past end (or a parser flagged) */
};

static inline void cur_init(struct cursor *c, const uint8_t *data, size_t len)
{
    c->p = data;
    c->end = data + len;
    c->err = false;
}

static inline size_t cur_left(const struct cursor *c)
{
    return c->err ? 0 : (size_t)(c->end - c->p);
}

static inline bool cur_ok(const struct cursor *c) { return !c->err; }

/* Flag an error that the parser found itself (a length that lies, ...). */
static inline void cur_fail(struct cursor *c) { c->err = true; }

/* True (and nothing consumed) if n more bytes are available. */
static inline bool cur_has(const struct cursor *c, size_t n)
{
    return !c->err && (size_t)(c->end - c->p) >= n;
}

static inline bool cur_need(struct cursor *c, size_t n)
{
    if (cur_has(c, n))
        return true;
    c->err = true;
    return false;
}

static inline uint8_t cur_u8(struct cursor *c)
{
    if (!cur_need(c, 1))
        return 0;
    return *c->p++;
}

static inline uint16_t cur_u16(struct cursor *c)
{
    if (!cur_need(c, 2))
        return 0;
    uint16_t v = (uint16_t)((c->p[0] << 8) | c->p[1]);
    c->p += 2;
    return v;
}

static inline uint32_t cur_u24(struct cursor *c)
{
    if (!cur_need(c, 3))
        return 0;
    uint32_t v = ((uint32_t)c->p[0] << 16) | ((uint32_t)c->p[1] << 8) | c->p[2];
    c->p += 3;
    return v;
}

static inline uint32_t cur_u32(struct cursor *c)
{
    if (!cur_need(c, 4))
        return 0;
    uint32_t v = ((uint32_t)c->p[0] << 24) | ((uint32_t)c->p[1] << 16) |
                 ((uint32_t)c->p[2] << 8) | c->p[3];
    c->p += 4;
    return v;
}

static inline uint64_t cur_u64(struct cursor *c)
{
    uint64_t hi = cur_u32(c);
    return (hi << 32) | cur_u32(c);
}

/* Little-endian variants, for capture file headers and BSD loopback. */
static inline uint16_t cur_u16le(struct cursor *c)
{
    if (!cur_need(c, 2))
        return 0;
    uint16_t v = (uint16_t)(c->p[0] | (c->p[1] << 8));
    c->p += 2;
    return v;
}

static inline uint32_t cur_u32le(struct cursor *c)
{
    if (!cur_need(c, 4))
        return 0;
    uint32_t v = (uint32_t)c->p[0] | ((uint32_t)c->p[1] << 8) |
                 ((uint32_t)c->p[2] << 16) | ((uint32_t)c->p[3] << 24);
    c->p += 4;
    return v;
}

static inline void cur_skip(struct cursor *c, size_t n)
{
    if (cur_need(c, n))
        c->p += n;
}

/* Return a pointer to the next n bytes and consume them, or NULL. */
static inline const uint8_t *cur_bytes(struct cursor *c, size_t n)
{
    if (!cur_need(c, n))
        return NULL;
    const uint8_t *q = c->p;
    c->p += n;
    return q;
}

/* Copy n bytes into dst (zero-filled on error). */
static inline void cur_copy(struct cursor *c, void *dst, size_t n)
{
    const uint8_t *q = cur_bytes(c, n);
    uint8_t *d = dst;
    for (size_t i = 0; i < n; i++)
        d[i] = q ? q[i] : 0;
}

/*
 * Split off the next n bytes as a cursor of their own (for a length-prefixed
 * field).  If fewer than n bytes remain, the sub-cursor is in error and so
 * is the parent.
 */
static inline struct cursor cur_sub(struct cursor *c, size_t n)
{
    struct cursor s;
    const uint8_t *q = cur_bytes(c, n);
    if (q) {
        cur_init(&s, q, n);
    } else {
        s.p = s.end = c->end;
        s.err = true;
    }
    return s;
}

/* Peek at the byte at offset off without consuming (0 if out of range). */
static inline uint8_t cur_peek(const struct cursor *c, size_t off)
{
    return cur_has(c, off + 1) ? c->p[off] : 0;
}

/* Big-endian loads from a byte array already known to be long enough. */
static inline uint16_t load_be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t load_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

#endif
