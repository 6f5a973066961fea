/*
 * jsonw.h - a streaming JSON writer into one growable buffer.
 *
 * A record is built in memory (`struct jsonw`), then handed to the output
 * sink in one write.  The writer places commas itself: it remembers, for
 * each open object or array, whether a member has been written yet, and
 * whether a key is waiting for its value.  Callers therefore only say what
 * comes next (a key, a value, an open, a close).
 *
 * Strings are escaped through a 256-entry table; input that is not valid
 * UTF-8 is never copied raw (see jw_str()).  Numbers are formatted by hand,
 * independent of the locale.  The buffer grows geometrically up to
 * JW_MAX_SIZE; past that the writer sets `overflow`, stops appending and
 * the caller drops the field contents (the record stays valid JSON because
 * the closing brackets are always written: see jw_finish()).
 *
 * Ownership: the writer owns `buf`; jw_free() releases it.  Nothing here
 * allocates per value, only when the buffer must grow.
 */
#ifndef JOY_JSONW_H
#define JOY_JSONW_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

#define JW_MAX_DEPTH 64
#define JW_MAX_SIZE (64u << 20) /* 64 MiB per record, far above any cap */

struct jsonw {
    char *buf;
    size_t len, cap;
    int depth;
    bool overflow;               /* a write was refused: record too large */
    bool need_comma[JW_MAX_DEPTH];
    bool after_key;              /* a key was written, its value is next */
    char close[JW_MAX_DEPTH];    /* the closing bracket of each level */
};

void jw_init(struct jsonw *w);
void jw_free(struct jsonw *w);
void jw_reset(struct jsonw *w);

void jw_obj_open(struct jsonw *w);
void jw_arr_open(struct jsonw *w);
void jw_close(struct jsonw *w);     /* closes the innermost object or array */
void jw_finish(struct jsonw *w);    /* closes everything still open, adds '\n' */

/* A key of len trusted bytes (no escaping): a C literal, see jw_key(). */
void jw_key_n(struct jsonw *w, const char *key, size_t len);
/*
 * The common case of a key inline: a key of constant length `len` (a C
 * literal), no key waiting for its value, and room for the key and `room`
 * bytes of value.  Writes the comma (when one is due) and "key": and
 * returns where the value goes; NULL when the case is not the common one
 * (then nothing was written and the caller takes the out-of-line path).
 * The same bytes and state as key_room() in jsonw.c.  Always inlined:
 * only in its caller is the length a constant.
 */
#if defined(__GNUC__) || defined(__clang__)
#define JW_ALWAYS_INLINE static inline __attribute__((always_inline))
#define JW_CONSTANT(x) __builtin_constant_p(x)
#else
#define JW_ALWAYS_INLINE static inline
#define JW_CONSTANT(x) 0
#endif
JW_ALWAYS_INLINE char *jw_key_inline(struct jsonw *w, const char *key, size_t len, size_t room)
{
    if (!JW_CONSTANT(len) || len > 32 || w->after_key || w->overflow ||
        w->len + len + 4 + room > w->cap)
        return NULL;
    char *o = w->buf + w->len;
    bool *comma = &w->need_comma[w->depth];
    *o = ',';
    o += *comma;
    *comma = true;
    *o++ = '"';
    memcpy(o, key, len);
    o += len;
    o[0] = '"';
    o[1] = ':';
    return o + 2;
}

/* key is a trusted C literal; inline so that its strlen() is a constant */
JW_ALWAYS_INLINE void jw_key(struct jsonw *w, const char *key)
{
    size_t len = strlen(key);
    char *o = jw_key_inline(w, key, len, 0);
    if (!o) {
        jw_key_n(w, key, len);
        return;
    }
    w->len = (size_t)(o - w->buf);
    w->after_key = true;
}
/* A key from untrusted bytes (an HTTP header name): escaped like jw_str. */
void jw_key_str(struct jsonw *w, const void *key, size_t len);

void jw_null(struct jsonw *w);
void jw_bool(struct jsonw *w, bool v);
void jw_uint(struct jsonw *w, uint64_t v);
void jw_int(struct jsonw *w, int64_t v);
/* An array of n numbers: the same bytes as jw_arr_open(), n jw_uint(),
 * jw_close(), with one buffer check. */
void jw_uint_array(struct jsonw *w, const uint64_t *v, size_t n);
/* The same for 16-bit numbers. */
void jw_u16_array(struct jsonw *w, const uint16_t *v, size_t n);
/* v with exactly `decimals` digits after the point (0..9), no exponent;
 * NaN and infinities are written as null. */
void jw_fixed(struct jsonw *w, double v, int decimals);
/* a time in nanoseconds since the epoch as seconds with 6 decimals */
void jw_time_ns(struct jsonw *w, uint64_t ns);
/* the time base_sec + ns/1e9 (base_sec may be negative: times before
 * 1970 are written with a minus sign), seconds with 6 decimals */
void jw_time_base_ns(struct jsonw *w, int64_t base_sec, uint64_t ns);

/* A string from untrusted bytes: valid UTF-8 is kept, control characters,
 * '"' and '\\' are escaped, and each byte that is not part of a valid UTF-8
 * sequence is written as \u00XX (its Latin-1 reading), so the result is
 * always valid JSON in valid UTF-8 and nothing is silently dropped. */
void jw_str(struct jsonw *w, const void *s, size_t len);
void jw_cstr(struct jsonw *w, const char *s);
/* bytes as a string of lowercase hex digits */
void jw_hex(struct jsonw *w, const void *s, size_t len);
/* raw text that the caller guarantees is a valid JSON value */
void jw_raw_value(struct jsonw *w, const char *s, size_t len);
/*
 * A value the caller formats in place, for arrays of numbers written in
 * one go: jw_raw_begin() places the comma and returns room for n bytes
 * (NULL when the record overflowed); the caller writes a valid JSON value
 * there (jw_fmt_uint() for the numbers) and calls jw_raw_end() with the
 * end of what it wrote.
 */
char *jw_raw_begin(struct jsonw *w, size_t n);
static inline void jw_raw_end(struct jsonw *w, char *end) { w->len = (size_t)(end - w->buf); }
/* v in decimal at o (room for JW_UINT_MAX bytes); returns the end
 * (inline, with its helpers, below) */
#define JW_UINT_MAX 20
static inline char *jw_fmt_uint(char *o, uint64_t v);
/* Replace the text written since offset `from` by s[0..len), which the
 * caller guarantees leaves the JSON structure (open containers, pending
 * commas) as it was: e.g. the same members with other string values. */
void jw_replace_from(struct jsonw *w, size_t from, const char *s, size_t len);

/* A position to roll back to, for an object that may turn out empty:
 *   struct jw_mark m = jw_mark(w); jw_key(w, "x"); jw_obj_open(w);
 *   size_t body = w->len; ...members...; if (w->len == body) jw_rollback(w, m); else jw_close(w);
 */
struct jw_mark {
    size_t len;
    int depth;
    bool need_comma;
    bool after_key;
};
static inline struct jw_mark jw_mark(const struct jsonw *w)
{
    struct jw_mark m = {w->len, w->depth, w->need_comma[w->depth], w->after_key};
    return m;
}
static inline void jw_rollback(struct jsonw *w, struct jw_mark m)
{
    if (!w->overflow && m.len <= w->len)
        w->len = m.len;
    w->depth = m.depth;
    w->need_comma[m.depth] = m.need_comma;
    w->after_key = m.after_key;
}

/* convenience: key + value */
/* v in decimal at o, which jw_key_inline() returned: ends the value (out
 * of line: the number's code once, not at every key) */
void jw_uint_at(struct jsonw *w, char *o, uint64_t v);
/* key of len trusted bytes and its number, with one buffer check */
void jw_kv_uint_n(struct jsonw *w, const char *key, size_t len, uint64_t v);
JW_ALWAYS_INLINE void jw_kv_uint(struct jsonw *w, const char *k, uint64_t v)
{
    size_t len = strlen(k);
    char *o = jw_key_inline(w, k, len, JW_UINT_MAX);
    if (!o) {
        jw_kv_uint_n(w, k, len, v);
        return;
    }
    jw_uint_at(w, o, v);
}
static inline void jw_kv_int(struct jsonw *w, const char *k, int64_t v) { jw_key(w, k); jw_int(w, v); }
static inline void jw_kv_cstr(struct jsonw *w, const char *k, const char *v) { jw_key(w, k); jw_cstr(w, v); }
/* key and a string value of n bytes that need no escaping (printable
 * ASCII other than '"' and '\\': a literal, an address), with one buffer
 * check: the same bytes as jw_kv_str() would write */
void jw_kv_plain_n(struct jsonw *w, const char *key, size_t klen, const char *v, size_t n);
static inline void jw_kv_plain(struct jsonw *w, const char *k, const char *v) { jw_kv_plain_n(w, k, strlen(k), v, strlen(v)); }
static inline void jw_kv_str(struct jsonw *w, const char *k, const void *v, size_t n) { jw_key(w, k); jw_str(w, v, n); }
static inline void jw_kv_hex(struct jsonw *w, const char *k, const void *v, size_t n) { jw_key(w, k); jw_hex(w, v, n); }
static inline void jw_kv_bool(struct jsonw *w, const char *k, bool v) { jw_key(w, k); jw_bool(w, v); }

/* Validate that [s, s+len) is one JSON value followed only by white space.
 * Used by tests and fuzz targets to check the writer's own output. */
bool json_validate(const char *s, size_t len);


/* ---------------------------------------------------------------------
 * Decimal numbers, inline for the writers that format arrays in place.
 */
extern const char jw_digit_pairs[201]; /* "00" "01" ... "99" */
extern const uint64_t jw_pow10[20];

/* Exactly `width` digits of v (the low ones, zero-padded), ending just
 * before end, two per division by 100; returns where they start. */
static inline char *jw_utoa_width(uint64_t v, char *end, int width)
{
    if (v <= UINT32_MAX) { /* most numbers: 32-bit divisions by 100, shorter */
        uint32_t x = (uint32_t)v;
        for (; width >= 2; width -= 2) {
            end -= 2;
            memcpy(end, jw_digit_pairs + 2 * (x % 100), 2);
            x /= 100;
        }
        if (width)
            *--end = (char)('0' + x % 10);
        return end;
    }
    for (; width >= 2; width -= 2) {
        end -= 2;
        memcpy(end, jw_digit_pairs + 2 * (v % 100), 2);
        v /= 100;
    }
    if (width)
        *--end = (char)('0' + v % 10);
    return end;
}

/*
 * Number of decimal digits of v (1..20), from its bit length: a number of
 * `bits` bits has floor(bits x log10(2)) + 1 digits or one fewer (1233 /
 * 4096 is log10(2) rounded up, exact enough below 2^64), and one
 * comparison tells which.  v | 1 has the same digits as v (only odd
 * numbers end a run of 9s) and is never 0.
 */
static inline int jw_dec_len(uint64_t v)
{
    uint64_t x = v | 1;
    int bits = 64 - __builtin_clzll(x);
    int t = (bits * 1233) >> 12;
    return t + 1 - (x < jw_pow10[t]);
}

static inline char *jw_fmt_uint(char *o, uint64_t v)
{
    if (v < 100) {
        /* two bytes are always copied (the room is there): for v < 10 the
         * pair starts at the second digit of "0v", and only one byte counts */
        memcpy(o, jw_digit_pairs + 2 * v + (v < 10), 2);
        return o + 1 + (v >= 10);
    }
    char *end = o + jw_dec_len(v);
    jw_utoa_width(v, end, (int)(end - o));
    return end;
}

#endif
