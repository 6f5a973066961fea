/*
 * jsonw.c - JSON writer (see jsonw.h) and a small strict JSON validator.
 *
 * RFC 8259 (JSON), RFC 3629 (UTF-8).
 */
#include "jsonw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

void jw_init(struct jsonw *w)
{
    memset(w, 0, sizeof *w);
}

void jw_free(struct jsonw *w)
{
    free(w->buf);
    jw_init(w);
}

void jw_reset(struct jsonw *w)
{
    w->len = 0;
    w->depth = 0;
    w->overflow = false;
    w->after_key = false;
    w->need_comma[0] = false;
}

/*
 * Buffer space.  reserve() is on the path of every key and value, so its
 * common case (room left, no overflow) is an inline test; growing the
 * buffer is the out-of-line slow path.
 */
static bool grow(struct jsonw *w, size_t n)
{
    if (w->overflow)
        return false;
    size_t cap = w->cap ? w->cap : 4096;
    while (cap < w->len + n)
        cap *= 2;
    if (cap > JW_MAX_SIZE) {
        w->overflow = true;
        return false;
    }
    char *nb = realloc(w->buf, cap);
    if (!nb) {
        w->overflow = true;
        return false;
    }
    w->buf = nb;
    w->cap = cap;
    return true;
}

/* Make room for n more bytes; false (and overflow set) if impossible. */
static inline bool reserve(struct jsonw *w, size_t n)
{
    if (!w->overflow && w->len + n <= w->cap)
        return true;
    return grow(w, n);
}

static inline void put(struct jsonw *w, const char *s, size_t n)
{
    if (reserve(w, n)) {
        memcpy(w->buf + w->len, s, n);
        w->len += n;
    }
}

static inline void putc1(struct jsonw *w, char c)
{
    if (reserve(w, 1))
        w->buf[w->len++] = c;
}

/* Does the next key or value need a separating comma?  Updates the state
 * as if it were written. */
static inline bool take_comma(struct jsonw *w)
{
    if (w->after_key) {
        w->after_key = false;
        return false;
    }
    bool comma = w->need_comma[w->depth];
    w->need_comma[w->depth] = true;
    return comma;
}

/* Called before every value and key: writes the separating comma. */
static inline void before_value(struct jsonw *w)
{
    if (take_comma(w))
        putc1(w, ',');
}

/*
 * Start a value of at most n bytes: its comma is placed and room for the
 * value is reserved; returns where the value goes (the caller then sets
 * w->len past it), or NULL when the record overflowed.
 */
static inline char *value_room(struct jsonw *w, size_t n)
{
    bool comma = take_comma(w);
    if (!reserve(w, n + 1))
        return NULL;
    char *o = w->buf + w->len;
    if (comma)
        *o++ = ',';
    return o;
}

static void open_level(struct jsonw *w, char open, char close)
{
    before_value(w);
    putc1(w, open);
    if (w->depth + 1 >= JW_MAX_DEPTH) {
        w->overflow = true;
        return;
    }
    w->depth++;
    w->need_comma[w->depth] = false;
    w->close[w->depth] = close;
}

void jw_obj_open(struct jsonw *w) { open_level(w, '{', '}'); }
void jw_arr_open(struct jsonw *w) { open_level(w, '[', ']'); }

void jw_close(struct jsonw *w)
{
    if (w->depth <= 0)
        return;
    if (w->after_key) { /* a key without value: keep the JSON valid */
        w->after_key = false;
        put(w, "null", 4);
    }
    putc1(w, w->close[w->depth]);
    w->depth--;
}

void jw_finish(struct jsonw *w)
{
    /* Even after an overflow the brackets must close: make room for them
     * by lifting the overflow flag just for this. */
    bool ovf = w->overflow;
    w->overflow = false;
    while (w->depth > 0)
        jw_close(w);
    putc1(w, '\n');
    w->overflow = w->overflow || ovf;
}

/* Before a key: a key still waiting for its value gets null, so even a
 * caller's mistake cannot produce invalid JSON. */
static void settle_key(struct jsonw *w)
{
    if (w->after_key) {
        w->after_key = false;
        put(w, "null", 4);
    }
}

/*
 * memcpy for the few bytes of a key: moves of fixed size (which compile to
 * plain loads and stores), overlapping when n is not their size, instead
 * of a call that dominated the cost of a short key.
 */
static inline void copy_short(char *d, const char *s, size_t n)
{
    if (n > 16) {
        memcpy(d, s, n);
    } else if (n >= 8) {
        memcpy(d, s, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4) {
        memcpy(d, s, 4);
        memcpy(d + n - 4, s + n - 4, 4);
    } else if (n) {
        d[0] = s[0];
        d[n / 2] = s[n / 2];
        d[n - 1] = s[n - 1];
    }
}

/*
 * Write `"key":` (after a comma when one is due) and reserve `extra` more
 * bytes for the value that follows; returns where that value goes, or NULL
 * when the record overflowed.  The key is then waiting for its value.
 */
static inline char *key_room(struct jsonw *w, const char *key, size_t len, size_t extra)
{
    settle_key(w);
    char *o = value_room(w, len + 3 + extra);
    if (o) {
        *o++ = '"';
        copy_short(o, key, len);
        o += len;
        *o++ = '"';
        *o++ = ':';
        w->len = (size_t)(o - w->buf);
    }
    w->after_key = true;
    return o;
}

void jw_key_n(struct jsonw *w, const char *key, size_t len)
{
    key_room(w, key, len, 0);
}

void jw_key_str(struct jsonw *w, const void *key, size_t len)
{
    settle_key(w);
    jw_str(w, key, len); /* places the comma, escapes the bytes */
    putc1(w, ':');
    w->after_key = true;
}

void jw_null(struct jsonw *w)
{
    before_value(w);
    put(w, "null", 4);
}

void jw_bool(struct jsonw *w, bool v)
{
    before_value(w);
    if (v)
        put(w, "true", 4);
    else
        put(w, "false", 5);
}

/* Decimal digits, two per step: jw_digit_pairs holds "00" "01" ... "99". */
const char jw_digit_pairs[201] =
    "0001020304050607080910111213141516171819"
    "2021222324252627282930313233343536373839"
    "4041424344454647484950515253545556575859"
    "6061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

const uint64_t jw_pow10[20] = {
    1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
    100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
    10000000000000ull, 100000000000000ull, 1000000000000000ull, 10000000000000000ull,
    100000000000000000ull, 1000000000000000000ull, 10000000000000000000ull,
};

/* Digits of v into the end of tmp; returns the start. */
static char *utoa_rev(uint64_t v, char *end)
{
    return jw_utoa_width(v, end, jw_dec_len(v));
}

char *jw_raw_begin(struct jsonw *w, size_t n)
{
    if (n > JW_MAX_SIZE) {
        take_comma(w);
        w->overflow = true;
        return NULL;
    }
    return value_room(w, n);
}

void jw_kv_plain_n(struct jsonw *w, const char *key, size_t klen, const char *v, size_t n)
{
    if (n > JW_MAX_SIZE) {
        w->overflow = true;
        return;
    }
    char *o = key_room(w, key, klen, n + 2);
    w->after_key = false;
    if (o) {
        *o++ = '"';
        memcpy(o, v, n);
        o += n;
        *o++ = '"';
        w->len = (size_t)(o - w->buf);
    }
}

void jw_uint(struct jsonw *w, uint64_t v)
{
    char *o = value_room(w, 20);
    if (o)
        w->len = (size_t)(jw_fmt_uint(o, v) - w->buf);
}

void jw_uint_at(struct jsonw *w, char *o, uint64_t v)
{
    w->len = (size_t)(jw_fmt_uint(o, v) - w->buf);
}

void jw_kv_uint_n(struct jsonw *w, const char *key, size_t len, uint64_t v)
{
    char *o = key_room(w, key, len, 20);
    w->after_key = false; /* the value below is the one it waits for */
    if (o)
        w->len = (size_t)(jw_fmt_uint(o, v) - w->buf);
}

/* v and a comma at o; returns the end (the list writers below) */
static inline char *put_uint_comma(char *o, uint64_t v)
{
    o = jw_fmt_uint(o, v);
    *o++ = ',';
    return o;
}

/* ends a list written with put_uint_comma(): its last comma (or, empty,
 * nothing yet) becomes the closing bracket */
static void end_uint_list(struct jsonw *w, char *o, size_t n)
{
    if (n)
        o[-1] = ']';
    else
        *o++ = ']';
    w->len = (size_t)(o - w->buf);
}

/*
 * Each number is written with a comma after it and the last comma becomes
 * the closing bracket (no test per number for the first one).  Arrays of
 * counts are mostly single digits (byte_dist: 256 counts, most of them 0),
 * so four numbers below 10 are written at once as one 8-byte word of
 * "d,d,d,d,": '0' + d in the even bytes, ',' in the odd ones.  v < 10
 * exactly when v | (v + 6) < 16 (a v near 2^64 whose v + 6 wraps has high
 * bits of its own), so one OR over four such terms tests all four.
 */
void jw_uint_array(struct jsonw *w, const uint64_t *v, size_t n)
{
    /* brackets, and at most 20 digits and a comma per number */
    if (n > JW_MAX_SIZE / 21) {
        w->overflow = true;
        return;
    }
    char *o = value_room(w, 21 * n + 2);
    if (!o)
        return;
    *o++ = '[';
    size_t i = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (; i + 4 <= n; i += 4) {
        uint64_t a = v[i], b = v[i + 1], c = v[i + 2], d = v[i + 3];
        if (((a | (a + 6)) | (b | (b + 6)) | (c | (c + 6)) | (d | (d + 6))) < 16) {
            uint64_t x = 0x2c302c302c302c30ull + (a | b << 16 | c << 32 | d << 48);
            memcpy(o, &x, 8);
            o += 8;
            continue;
        }
        for (size_t j = i; j < i + 4; j++)
            o = put_uint_comma(o, v[j]);
    }
#endif
    for (; i < n; i++)
        o = put_uint_comma(o, v[i]);
    end_uint_list(w, o, n);
}

/*
 * The same text as jw_uint_array() for 16-bit numbers (byte_dist's
 * counts as kept by the module): eight numbers below 10 are written at
 * once with SSE2, packed to bytes, '0' added, and interleaved with commas
 * into the 16 bytes "d,d,d,d,d,d,d,d,".
 */
void jw_u16_array(struct jsonw *w, const uint16_t *v, size_t n)
{
    /* brackets, and at most 5 digits and a comma per number */
    if (n > JW_MAX_SIZE / 6) {
        w->overflow = true;
        return;
    }
    char *o = value_room(w, 6 * n + 2);
    if (!o)
        return;
    *o++ = '[';
    size_t i = 0;
#ifdef __SSE2__
    const __m128i nine = _mm_set1_epi16(9), digit0 = _mm_set1_epi8('0');
    const __m128i comma = _mm_set1_epi8(','), zero = _mm_setzero_si128();
    for (; i + 8 <= n; i += 8) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(v + i));
        /* saturating x - 9 is 0 exactly where x <= 9 */
        __m128i small = _mm_cmpeq_epi16(_mm_subs_epu16(x, nine), zero);
        if (_mm_movemask_epi8(small) == 0xffff) {
            __m128i d = _mm_add_epi8(_mm_packus_epi16(x, x), digit0);
            _mm_storeu_si128((__m128i *)(void *)o, _mm_unpacklo_epi8(d, comma));
            o += 16;
            continue;
        }
        for (size_t j = i; j < i + 8; j++)
            o = put_uint_comma(o, v[j]);
    }
#endif
    for (; i < n; i++)
        o = put_uint_comma(o, v[i]);
    end_uint_list(w, o, n);
}

void jw_int(struct jsonw *w, int64_t v)
{
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char *o = value_room(w, 21);
    if (!o)
        return;
    if (v < 0)
        *o++ = '-';
    w->len = (size_t)(jw_fmt_uint(o, u) - w->buf);
}

void jw_fixed(struct jsonw *w, double v, int decimals)
{
    static const double pow10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    if (decimals < 0)
        decimals = 0;
    if (decimals > 9)
        decimals = 9;
    if (!isfinite(v) || fabs(v) >= 9e18 / pow10[decimals]) {
        jw_null(w);
        return;
    }
    bool neg = v < 0;
    double scaled = fabs(v) * pow10[decimals] + 0.5;
    uint64_t u = (uint64_t)scaled;
    uint64_t ip = u / jw_pow10[decimals];
    uint64_t fp = u % jw_pow10[decimals];
    char tmp[48];
    char *end = tmp + sizeof tmp;
    char *p = jw_utoa_width(fp, end, decimals);
    if (decimals)
        *--p = '.';
    p = utoa_rev(ip, p);
    if (neg && u != 0)
        *--p = '-';
    before_value(w);
    put(w, p, (size_t)(end - p));
}

void jw_time_ns(struct jsonw *w, uint64_t ns)
{
    uint64_t sec = ns / 1000000000u;
    uint64_t usec = (ns % 1000000000u) / 1000u;
    char *o = value_room(w, 20 + 7);
    if (!o)
        return;
    o = jw_fmt_uint(o, sec);
    *o++ = '.';
    o += 6;
    jw_utoa_width(usec, o, 6);
    w->len = (size_t)(o - w->buf);
}

void jw_time_base_ns(struct jsonw *w, int64_t base_sec, uint64_t ns)
{
    if (base_sec == 0) {
        jw_time_ns(w, ns);
        return;
    }
    /* |base_sec| <= 2^62 and ns / 1e9 < 2^35: no overflow */
    int64_t sec = base_sec + (int64_t)(ns / 1000000000u);
    uint64_t usec = (ns % 1000000000u) / 1000u;
    bool neg = sec < 0;
    uint64_t mag;
    if (neg && usec) { /* -2 s + 0.5 s = -1.5 */
        mag = (uint64_t)(-(sec + 1));
        usec = 1000000u - usec;
    } else {
        mag = neg ? (uint64_t)(-sec) : (uint64_t)sec;
    }
    char *o = value_room(w, 21 + 7);
    if (!o)
        return;
    if (neg)
        *o++ = '-';
    o = jw_fmt_uint(o, mag);
    *o++ = '.';
    o += 6;
    jw_utoa_width(usec, o, 6);
    w->len = (size_t)(o - w->buf);
}

/*
 * Escape classes: 0 = copy, 1 = two-character escape (\" \\ \n ...),
 * 2 = \u00XX, 3 = first byte of a possible multi-byte UTF-8 sequence.
 */
static const char short_escape[256] = {
    ['"'] = '"', ['\\'] = '\\', ['\b'] = 'b', ['\f'] = 'f',
    ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't',
};

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_seq(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    size_t len;
    uint32_t min;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    uint32_t cp = c & (0x3f >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

static const char hexdig[] = "0123456789abcdef";

/* "00" "01" ... "ff": two hex digits per byte in one load */
static const char hex_pairs[513] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

void jw_str(struct jsonw *w, const void *sv, size_t n)
{
    const uint8_t *s = sv;
    before_value(w);
    /* worst case 6 output bytes per input byte, plus quotes */
    if (n > JW_MAX_SIZE / 8 || !reserve(w, n * 6 + 2)) {
        w->overflow = true;
        return;
    }
    char *o = w->buf + w->len;
    *o++ = '"';
    size_t i = 0;
    while (i < n) {
#ifdef __SSE2__
        /* Runs of printable ASCII other than '"' and '\\', 16 bytes at a
         * time: the bytes are stored whole, then the output advances to
         * the first byte that needs the loop below (a signed compare with
         * ' ' finds both the controls and the bytes from 0x80 on).  The
         * store stays in the room reserved: the output so far is at most
         * 6 bytes per input byte, and 16 more input bytes remain. */
        const __m128i space = _mm_set1_epi8(' '), quote = _mm_set1_epi8('"');
        const __m128i bslash = _mm_set1_epi8('\\'), del = _mm_set1_epi8(0x7f);
        while (i + 16 <= n) {
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
            __m128i bad = _mm_or_si128(
                _mm_or_si128(_mm_cmplt_epi8(x, space), _mm_cmpeq_epi8(x, quote)),
                _mm_or_si128(_mm_cmpeq_epi8(x, bslash), _mm_cmpeq_epi8(x, del)));
            unsigned m = (unsigned)_mm_movemask_epi8(bad);
            _mm_storeu_si128((__m128i *)(void *)o, x);
            if (m) {
                unsigned k = (unsigned)__builtin_ctz(m);
                o += k;
                i += k;
                break;
            }
            o += 16;
            i += 16;
        }
        if (i >= n)
            break;
#endif
        uint8_t c = s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            *o++ = (char)c;
            i++;
        } else if (c < 0x80) {
            if (short_escape[c]) {
                *o++ = '\\';
                *o++ = short_escape[c];
            } else {
                memcpy(o, "\\u00", 4);
                o[4] = hexdig[c >> 4];
                o[5] = hexdig[c & 15];
                o += 6;
            }
            i++;
        } else {
            size_t l = utf8_seq(s + i, n - i);
            if (l) {
                memcpy(o, s + i, l);
                o += l;
                i += l;
            } else {
                memcpy(o, "\\u00", 4);
                o[4] = hexdig[c >> 4];
                o[5] = hexdig[c & 15];
                o += 6;
                i++;
            }
        }
    }
    *o++ = '"';
    w->len = (size_t)(o - w->buf);
}

void jw_cstr(struct jsonw *w, const char *s)
{
    jw_str(w, s, strlen(s));
}

void jw_hex(struct jsonw *w, const void *sv, size_t n)
{
    const uint8_t *s = sv;
    before_value(w);
    if (n > JW_MAX_SIZE / 4 || !reserve(w, 2 * n + 2)) {
        w->overflow = true;
        return;
    }
    char *o = w->buf + w->len;
    *o++ = '"';
    size_t i = 0;
#ifdef __SSE2__
    /* 16 bytes to 32 hex digits at a time (idp=1400 writes 2.8 KB of hex
     * per direction): the high and low nibbles interleaved, then '0' + v,
     * plus 'a' - '0' - 10 where v > 9.  The same text as the table below. */
    const __m128i low4 = _mm_set1_epi8(0x0f), nine = _mm_set1_epi8(9);
    const __m128i zero = _mm_set1_epi8('0'), gap = _mm_set1_epi8('a' - '0' - 10);
    for (; i + 16 <= n; i += 16, o += 32) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i hi = _mm_and_si128(_mm_srli_epi16(x, 4), low4);
        __m128i lo = _mm_and_si128(x, low4);
        __m128i a = _mm_unpacklo_epi8(hi, lo), b = _mm_unpackhi_epi8(hi, lo);
        a = _mm_add_epi8(_mm_add_epi8(a, zero), _mm_and_si128(_mm_cmpgt_epi8(a, nine), gap));
        b = _mm_add_epi8(_mm_add_epi8(b, zero), _mm_and_si128(_mm_cmpgt_epi8(b, nine), gap));
        _mm_storeu_si128((__m128i *)(void *)o, a);
        _mm_storeu_si128((__m128i *)(void *)(o + 16), b);
    }
#endif
    for (; i < n; i++, o += 2)
        memcpy(o, hex_pairs + 2 * s[i], 2);
    *o++ = '"';
    w->len = (size_t)(o - w->buf);
}

void jw_raw_value(struct jsonw *w, const char *s, size_t n)
{
    before_value(w);
    put(w, s, n);
}

void jw_replace_from(struct jsonw *w, size_t from, const char *s, size_t n)
{
    if (w->overflow || from > w->len)
        return;
    w->len = from;
    put(w, s, n);
}

/* ---------------------------------------------------------------------
 * Validator: a recursive-descent recogniser with a depth bound.
 */
struct vstate {
    const uint8_t *p, *end;
    int depth;
};

static void skip_ws(struct vstate *v)
{
    while (v->p < v->end && (*v->p == ' ' || *v->p == '\t' || *v->p == '\n' || *v->p == '\r'))
        v->p++;
}

static bool v_value(struct vstate *v);

static bool v_string(struct vstate *v)
{
    if (v->p >= v->end || *v->p != '"')
        return false;
    v->p++;
    while (v->p < v->end) {
        uint8_t c = *v->p;
        if (c == '"') {
            v->p++;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c == '\\') {
            v->p++;
            if (v->p >= v->end)
                return false;
            c = *v->p++;
            if (c == 'u') {
                for (int i = 0; i < 4; i++) {
                    if (v->p >= v->end || !strchr("0123456789abcdefABCDEF", *v->p) || *v->p == 0)
                        return false;
                    v->p++;
                }
            } else if (!strchr("\"\\/bfnrt", c) || c == 0) {
                return false;
            }
        } else if (c >= 0x80) {
            size_t l = utf8_seq(v->p, (size_t)(v->end - v->p));
            if (!l)
                return false;
            v->p += l;
        } else {
            v->p++;
        }
    }
    return false;
}

static bool v_number(struct vstate *v)
{
    const uint8_t *s = v->p;
    if (v->p < v->end && *v->p == '-')
        v->p++;
    if (v->p >= v->end)
        return false;
    if (*v->p == '0') {
        v->p++;
    } else if (*v->p >= '1' && *v->p <= '9') {
        while (v->p < v->end && *v->p >= '0' && *v->p <= '9')
            v->p++;
    } else {
        return false;
    }
    if (v->p < v->end && *v->p == '.') {
        v->p++;
        if (v->p >= v->end || *v->p < '0' || *v->p > '9')
            return false;
        while (v->p < v->end && *v->p >= '0' && *v->p <= '9')
            v->p++;
    }
    if (v->p < v->end && (*v->p == 'e' || *v->p == 'E')) {
        v->p++;
        if (v->p < v->end && (*v->p == '+' || *v->p == '-'))
            v->p++;
        if (v->p >= v->end || *v->p < '0' || *v->p > '9')
            return false;
        while (v->p < v->end && *v->p >= '0' && *v->p <= '9')
            v->p++;
    }
    return v->p > s;
}

static bool v_lit(struct vstate *v, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(v->end - v->p) < n || memcmp(v->p, lit, n) != 0)
        return false;
    v->p += n;
    return true;
}

static bool v_container(struct vstate *v, char close, bool is_obj)
{
    v->p++;
    if (++v->depth > 512)
        return false;
    skip_ws(v);
    if (v->p < v->end && *v->p == close) {
        v->p++;
        v->depth--;
        return true;
    }
    for (;;) {
        skip_ws(v);
        if (is_obj) {
            if (!v_string(v))
                return false;
            skip_ws(v);
            if (v->p >= v->end || *v->p != ':')
                return false;
            v->p++;
        }
        if (!v_value(v))
            return false;
        skip_ws(v);
        if (v->p >= v->end)
            return false;
        if (*v->p == ',') {
            v->p++;
            continue;
        }
        if (*v->p == close) {
            v->p++;
            v->depth--;
            return true;
        }
        return false;
    }
}

static bool v_value(struct vstate *v)
{
    skip_ws(v);
    if (v->p >= v->end)
        return false;
    switch (*v->p) {
    case '{': return v_container(v, '}', true);
    case '[': return v_container(v, ']', false);
    case '"': return v_string(v);
    case 't': return v_lit(v, "true");
    case 'f': return v_lit(v, "false");
    case 'n': return v_lit(v, "null");
    default: return v_number(v);
    }
}

bool json_validate(const char *s, size_t len)
{
    struct vstate v = {(const uint8_t *)s, (const uint8_t *)s + len, 0};
    if (!v_value(&v))
        return false;
    skip_ws(&v);
    return v.p == v.end;
}
