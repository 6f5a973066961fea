/* test_jsonw.c - the JSON writer: escaping, invalid UTF-8, numbers, nesting. */
#include "jsonw.h"
#include "unit.h"

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
}
