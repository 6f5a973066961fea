/*
 * cursor.h - the one bounds-checked reader for untrusted bytes.
 *
 * The binary fields of packets and capture files are read through a
 * `struct cursor`: a window [p, end) over memory that the
 * cursor does not own.  Reads past the end never touch memory; they return
 * zero and set the sticky `err` flag instead.  A parser can therefore read a
 * whole header field by field and check `cur_ok()` once at the end, in the
 * manner of mercury's `datum`.  No struct is ever overlaid on packet memory
 * and no pointer is ever cast to a wider integer type: multi-byte fields are
 * assembled from bytes, so alignment and byte order never matter.
 *
 * A length-prefixed field gets a cursor of its own (cur_sub), so a parser
 * of the field cannot read past it whatever the field claims.
 *
 * Invariants: p <= end at all times; once err is set it stays set and every
 * later read returns 0 (or NULL) without moving p.
 *
 * Not read through a cursor (doc/robustness.md keeps the same list): text
 * scanned byte by byte with the length checked at each step (HTTP and SSH
 * lines, the configuration file); a few fixed headers indexed after an
 * explicit length check (TLS record and SSLv2 hello detection, the
 * handshake message header in mod_tls.c, the ClientHello header in the
 * QUIC CRYPTO stream that joy reassembled itself); and the TLS fingerprint
 * writers, which index arrays (cipher suites, extension data) that the
 * hello parser has already measured through a cursor.
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

/* Either byte order, chosen at run time (capture files say which). */
static inline uint16_t cur_u16_order(struct cursor *c, bool big_endian)
{
    return big_endian ? cur_u16(c) : cur_u16le(c);
}

static inline uint32_t cur_u32_order(struct cursor *c, bool big_endian)
{
    return big_endian ? cur_u32(c) : cur_u32le(c);
}

/*
 * QUIC variable-length integer (RFC 9000 section 16): the two high bits of
 * the first byte give the length (1, 2, 4 or 8 bytes), the other 6, 14, 30
 * or 62 bits the value, most significant first.
 */
static inline uint64_t cur_varint(struct cursor *c)
{
    if (!cur_need(c, 1))
        return 0;
    size_t n = (size_t)1 << (c->p[0] >> 6);
    if (!cur_need(c, n))
        return 0;
    uint64_t v = c->p[0] & 0x3f;
    for (size_t i = 1; i < n; i++)
        v = (v << 8) | c->p[i];
    c->p += n;
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

/* Consume everything that is left; *n gets its length (0 on error). */
static inline const uint8_t *cur_rest(struct cursor *c, size_t *n)
{
    *n = cur_left(c);
    return c->err ? NULL : cur_bytes(c, *n);
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

/* Every byte read, and nothing read past the end. */
static inline bool cur_done(const struct cursor *c) { return !c->err && c->p == c->end; }

/* How far the cursor has moved since base (a pointer it once held). */
static inline size_t cur_offset(const struct cursor *c, const uint8_t *base)
{
    return (size_t)(c->p - base);
}

/* Big-endian loads from a byte array already known to be long enough. */
static inline uint16_t load_be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t load_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

#endif
