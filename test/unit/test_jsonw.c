/* test_jsonw.c - the JSON writer: escaping, invalid UTF-8, numbers, nesting. */
#include "jsonw.h"
#include "unit.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static char *render_str(const void *s, size_t n)
{
    static char out[4096];
    struct jsonw w;
    jw_init(&w);
    jw_str(&w, s, n);
    size_t len = w.len < sizeof out - 1 ? w.len : sizeof out - 1;
    memcpy(out, w.buf, len);
    out[len] = '\0';
    jw_free(&w);
    return out;
}

static void test_escapes(void)
{
    CHECK_STREQ(render_str("a\"b\\c", 5), "\"a\\\"b\\\\c\"");
    CHECK_STREQ(render_str("\n\r\t\b\f", 5), "\"\\n\\r\\t\\b\\f\"");
    CHECK_STREQ(render_str("\x01\x1f\x7f", 3), "\"\\u0001\\u001f\\u007f\"");
    CHECK_STREQ(render_str("a\0b", 3), "\"a\\u0000b\"");
    CHECK_STREQ(render_str("/", 1), "\"/\"");
}

static void test_utf8(void)
{
    /* valid 2-, 3- and 4-byte sequences pass through */
    CHECK_STREQ(render_str("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9),
                "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    /* a lone continuation byte, an overlong form, a surrogate, a cut sequence */
    CHECK_STREQ(render_str("\x80", 1), "\"\\u0080\"");
    CHECK_STREQ(render_str("\xc0\xaf", 2), "\"\\u00c0\\u00af\"");
    CHECK_STREQ(render_str("\xed\xa0\x80", 3), "\"\\u00ed\\u00a0\\u0080\"");
    CHECK_STREQ(render_str("x\xe2\x82", 3), "\"x\\u00e2\\u0082\"");
    CHECK_STREQ(render_str("\xf5\x80\x80\x80", 4), "\"\\u00f5\\u0080\\u0080\\u0080\"");
    /* every output is valid JSON */
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    const char *o = render_str(all, 256);
    CHECK(json_validate(o, strlen(o)));
}

static void test_numbers_and_nesting(void)
{
    struct jsonw w;
    jw_init(&w);
    jw_obj_open(&w);
    jw_kv_uint(&w, "a", 18446744073709551615ull);
    jw_kv_int(&w, "b", -9223372036854775807ll - 1);
    jw_key(&w, "c");
    jw_fixed(&w, 3.14159, 3);
    jw_key(&w, "d");
    jw_fixed(&w, -0.0004, 3);
    jw_key(&w, "t");
    jw_time_ns(&w, 1452263349635237999ull);
    jw_key(&w, "e");
    jw_arr_open(&w);
    jw_uint(&w, 1);
    jw_obj_open(&w);
    jw_close(&w);
    jw_arr_open(&w);
    jw_close(&w);
    jw_null(&w);
    jw_close(&w);
    jw_key(&w, "h");
    jw_hex(&w, "\x00\xff\x10", 3);
    jw_finish(&w);
    const char *want = "{\"a\":18446744073709551615,\"b\":-9223372036854775808,\"c\":3.142,"
                       "\"d\":0.000,\"t\":1452263349.635237,\"e\":[1,{},[],null],\"h\":\"00ff10\"}\n";
    CHECK(w.len == strlen(want) && memcmp(w.buf, want, w.len) == 0);
    if (!(w.len == strlen(want) && memcmp(w.buf, want, w.len) == 0))
        fprintf(stderr, "got %.*s", (int)w.len, w.buf);
    CHECK(json_validate(w.buf, w.len));
    jw_free(&w);
}

static void test_time_format(void)
{
    struct jsonw w;
    jw_init(&w);
    jw_time_ns(&w, 0);
    CHECK(w.len == 8 && memcmp(w.buf, "0.000000", 8) == 0);
    jw_reset(&w);
    jw_time_ns(&w, 1000);
    CHECK(w.len == 8 && memcmp(w.buf, "0.000001", 8) == 0);
    jw_free(&w);
}

static void test_rollback(void)
{
    struct jsonw w;
    jw_init(&w);
    jw_obj_open(&w);
    jw_kv_uint(&w, "a", 1);
    struct jw_mark m = jw_mark(&w);
    jw_key(&w, "empty");
    jw_obj_open(&w);
    jw_rollback(&w, m);
    jw_kv_uint(&w, "b", 2);
    jw_finish(&w);
    CHECK(w.len == 14 && memcmp(w.buf, "{\"a\":1,\"b\":2}\n", 14) == 0);
    jw_free(&w);
}

static void test_key_from_bytes(void)
{
    struct jsonw w;
    jw_init(&w);
    jw_obj_open(&w);
    jw_kv_uint(&w, "a", 1);
    jw_key_str(&w, "X-\"Odd\"\x01\xff", 9);
    jw_cstr(&w, "v");
    jw_finish(&w);
    const char *want = "{\"a\":1,\"X-\\\"Odd\\\"\\u0001\\u00ff\":\"v\"}\n";
    CHECK(w.len == strlen(want) && memcmp(w.buf, want, w.len) == 0);
    CHECK(json_validate(w.buf, w.len));
    jw_free(&w);
}

static void test_validator(void)
{
    static const char *const good[] = {"{}", "[]", "0", "-1.5e3", "\"\\u00e9\"", "{\"a\":[1,2,{\"b\":null}]}", " true "};
    static const char *const bad[] = {"", "{", "[1,]", "{\"a\"}", "01", "\"\x01\"", "\"\\x\"", "nul", "{} {}", "\"\xc0\xaf\""};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        CHECK(json_validate(good[i], strlen(good[i])));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(!json_validate(bad[i], strlen(bad[i])));
}

static void test_close_with_dangling_key(void)
{
    struct jsonw w;
    jw_init(&w);
    jw_obj_open(&w);
    jw_key(&w, "k");
    jw_finish(&w);
    CHECK(json_validate(w.buf, w.len));
    /* a key right after a key (found by fuzz_jsonw): the first gets null */
    jw_reset(&w);
    jw_obj_open(&w);
    jw_key(&w, "a");
    jw_key(&w, "b");
    jw_uint(&w, 1);
    jw_finish(&w);
    CHECK(w.len == 17 && memcmp(w.buf, "{\"a\":null,\"b\":1}\n", 17) == 0);
    jw_free(&w);
}

/*
 * jw_str() against a plain byte-at-a-time escaper written from its
 * contract (jsonw.h): jw_str takes runs of 16 plain bytes at a time, so
 * the strings are long, with the bytes that need care (quotes, controls,
 * DEL, UTF-8 sequences valid and not, cut at the end) at every offset
 * around the 16-byte steps.
 */
static size_t ref_utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (!len || n < len)
        return 0;
    unsigned long cp = c & (0x3fu >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    unsigned long min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

static size_t ref_escape(const unsigned char *s, size_t n, char *out)
{
    char *o = out;
    *o++ = '"';
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t l;
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
            i++;
        } else if (c >= 0x20 && c < 0x7f) {
            *o++ = (char)c;
            i++;
        } else if (c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f') {
            *o++ = '\\';
            *o++ = c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : c == '\b' ? 'b' : 'f';
            i++;
        } else if (c >= 0x80 && (l = ref_utf8_len(s + i, n - i)) != 0) {
            memcpy(o, s + i, l);
            o += l;
            i += l;
        } else {
            o += sprintf(o, "\\u%04x", c);
            i++;
        }
    }
    *o++ = '"';
    return (size_t)(o - out);
}

static void test_str_long_runs(void)
{
    static const char *const odd[] = {
        "\"", "\\", "\n", "\x01", "\x7f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
        "\x80", "\xc0\xaf", "\xed\xa0\x80", "\xe2\x82", "\xff",
    };
    static char want[8192];
    unsigned char s[300];
    struct jsonw w;
    jw_init(&w);
    uint64_t seed = 0x243f6a8885a308d3ull;
    int bad = 0;
    for (size_t k = 0; k < sizeof odd / sizeof odd[0]; k++) {
        size_t ol = strlen(odd[k]);
        for (size_t at = 0; at < 40; at++) {
            for (size_t total = at + ol; total < at + ol + 40; total += 7) {
                for (size_t i = 0; i < total; i++) {
                    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                    s[i] = (unsigned char)(' ' + (seed >> 33) % 95); /* printable */
                }
                memcpy(s + at, odd[k], ol);
                if (k % 3 == 0 && total > at + ol + 20) /* a second odd byte further on */
                    s[total - 3] = '\\';
                size_t wl = ref_escape(s, total, want);
                jw_reset(&w);
                jw_str(&w, s, total);
                if (w.len != wl || memcmp(w.buf, want, wl) != 0)
                    bad++;
            }
        }
    }
    CHECK(bad == 0);
    /* a whole string of plain bytes, and one of nothing but bytes to escape */
    memset(s, 'a', 64);
    jw_reset(&w);
    jw_str(&w, s, 64);
    CHECK(w.len == 66 && ref_escape(s, 64, want) == 66 && memcmp(w.buf, want, 66) == 0);
    memset(s, 0x01, 64);
    jw_reset(&w);
    jw_str(&w, s, 64);
    CHECK(w.len == 2 + 64 * 6 && memcmp(w.buf, want, ref_escape(s, 64, want)) == 0);
    jw_free(&w);
}

/*
 * The array writers (four or eight single digits at once) give the same
 * text as one jw_uint() per member: every length to 40, runs of small
 * numbers broken by large ones at every offset, the edges 9/10 and the
 * numbers near 2^64 whose v + 6 wraps.
 */
static void test_arrays(void)
{
    static const uint64_t big[] = {10, 99, 100, 65535, 18446744073709551615ull,
                                   18446744073709551610ull, 18446744073709551609ull};
    uint64_t v[40];
    uint16_t v16[40];
    struct jsonw a, b;
    jw_init(&a);
    jw_init(&b);
    int bad = 0;
    for (size_t n = 0; n <= 40; n++) {
        for (size_t at = 0; at <= n; at++) {
            for (size_t k = 0; k < sizeof big / sizeof big[0]; k++) {
                for (size_t i = 0; i < n; i++)
                    v[i] = (i * 7 + n) % 10;
                if (at < n)
                    v[at] = big[k];
                jw_reset(&a);
                jw_reset(&b);
                jw_uint_array(&a, v, n);
                jw_arr_open(&b);
                for (size_t i = 0; i < n; i++)
                    jw_uint(&b, v[i]);
                jw_close(&b);
                if (a.len != b.len || memcmp(a.buf, b.buf, a.len) != 0)
                    bad++;
                if (big[k] > 65535)
                    continue;
                for (size_t i = 0; i < n; i++)
                    v16[i] = (uint16_t)v[i];
                jw_reset(&a);
                jw_u16_array(&a, v16, n);
                if (a.len != b.len || memcmp(a.buf, b.buf, a.len) != 0)
                    bad++;
            }
        }
    }
    CHECK(bad == 0);
    /* as members of an object: the comma before the array is placed */
    jw_reset(&a);
    jw_obj_open(&a);
    jw_kv_uint(&a, "x", 1);
    jw_key(&a, "d");
    v16[0] = 0;
    v16[1] = 12;
    jw_u16_array(&a, v16, 2);
    jw_key(&a, "e");
    jw_u16_array(&a, v16, 0);
    jw_finish(&a);
    CHECK(a.len == 26 && memcmp(a.buf, "{\"x\":1,\"d\":[0,12],\"e\":[]}\n", 26) == 0);
    jw_free(&a);
    jw_free(&b);
}

/*
 * jw_key() and jw_kv_uint() with a literal key take an inline path when
 * the buffer has room and no key waits: the same text as the out-of-line
 * calls, also across the buffer's growth (4 KB, 8 KB, ...) and after a key
 * that waits for its value.
 */
static void test_inline_keys(void)
{
    struct jsonw a, b;
    jw_init(&a);
    jw_init(&b);
    jw_obj_open(&a);
    jw_obj_open(&b);
    for (uint64_t i = 0; i < 3000; i++) {
        uint64_t v = i * 0x9e3779b97f4a7c15ull >> (i % 64);
        jw_kv_uint(&a, "bytes_out", v);
        jw_kv_uint_n(&b, "bytes_out", 9, v);
        jw_key(&a, "n");
        jw_key_n(&b, "n", 1);
        jw_uint(&a, i);
        jw_uint(&b, i);
        if (i % 100 == 0) { /* a key after a key: the first gets null */
            jw_key(&a, "dangling");
            jw_key_n(&b, "dangling", 8);
            jw_kv_uint(&a, "after", i);
            jw_kv_uint_n(&b, "after", 5, i);
        }
    }
    jw_finish(&a);
    jw_finish(&b);
    CHECK(a.len == b.len && memcmp(a.buf, b.buf, a.len) == 0);
    CHECK(json_validate(a.buf, a.len));
    jw_free(&a);
    jw_free(&b);
}

void run_jsonw_tests(void)
{
    TEST_RUN(test_escapes);
    TEST_RUN(test_utf8);
    TEST_RUN(test_numbers_and_nesting);
    TEST_RUN(test_time_format);
    TEST_RUN(test_rollback);
    TEST_RUN(test_key_from_bytes);
    TEST_RUN(test_validator);
    TEST_RUN(test_close_with_dangling_key);
    TEST_RUN(test_str_long_runs);
    TEST_RUN(test_arrays);
    TEST_RUN(test_inline_keys);
}
