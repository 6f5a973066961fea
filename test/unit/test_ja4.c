/* test_ja4.c - JA4 (tls_fp_ja4) on the examples of the JA4 specification
 * (FoxIO, technical_details/JA4.md): the documented example ClientHello,
 * its variant without signature algorithms, and every ALPN example of
 * the "ALPN Extension Value" section (raw bytes, hex when the first or
 * last byte is not ASCII alphanumeric), plus the "00"/empty-list rules. */
#include "tls_parse.h"
#include "unit.h"

#include <stdint.h>
#include <string.h>

/* A ClientHello body is written into a struct ubuf (unit.h). */

/* Patch a 16-bit length at `at` to cover everything written after it. */
static void len16(struct ubuf *h, size_t at)
{
    size_t n = h->n - at - 2;
    h->b[at] = (uint8_t)(n >> 8);
    h->b[at + 1] = (uint8_t)n;
}

/* The spec's example: 15 ciphers, 16 extensions (GREASE added around
 * them, which JA4 ignores), ALPN values given raw. */
struct hello_opts {
    bool sni;
    bool sigalgs;          /* signature_algorithms with the example's list */
    bool alpn;             /* an ALPN extension */
    const uint8_t *alpn1;  /* the first ALPN value */
    size_t alpn1_len;
    bool alpn_empty_list;  /* ALPN extension with no values */
    bool no_suites;
    bool no_ext;
};

static const uint16_t example_suites[] = {0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f,
                                          0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
                                          0xc014, 0x009c, 0x009d, 0x002f, 0x0035};
static const uint16_t example_exts[] = {0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017,
                                        0x002d, 0x000d, 0x0005, 0x0023, 0x0012, 0x002b,
                                        0xff01, 0x000b, 0x000a, 0x0015};
static const uint16_t example_sigs[] = {0x0403, 0x0804, 0x0401, 0x0503,
                                        0x0805, 0x0501, 0x0806, 0x0601};

static void build(struct ubuf *h, const struct hello_opts *o)
{
    memset(h, 0, sizeof *h);
    ub_u16(h, 0x0303);
    for (int i = 0; i < 32; i++)
        ub_u8(h, (unsigned)i);
    ub_u8(h, 0); /* session id */
    size_t at = h->n;
    ub_u16(h, 0);
    if (!o->no_suites) {
        ub_u16(h, 0x3a3a); /* GREASE */
        for (size_t i = 0; i < sizeof example_suites / sizeof example_suites[0]; i++)
            ub_u16(h, example_suites[i]);
    }
    len16(h, at);
    ub_u8(h, 1);
    ub_u8(h, 0); /* compression: null */
    if (o->no_ext)
        return;
    size_t ext_at = h->n;
    ub_u16(h, 0);
    ub_u16(h, 0x0a0a); /* a GREASE extension */
    ub_u16(h, 0);
    for (size_t i = 0; i < sizeof example_exts / sizeof example_exts[0]; i++) {
        uint16_t t = example_exts[i];
        if ((t == 0x0000 && !o->sni) || (t == 0x0010 && !o->alpn))
            continue;
        ub_u16(h, t);
        size_t e = h->n;
        ub_u16(h, 0);
        switch (t) {
        case 0x0000: { /* server_name: host_name "example.com" */
            size_t l = h->n;
            ub_u16(h, 0);
            ub_u8(h, 0);
            ub_u16(h, 11);
            ub_put(h, "example.com", 11);
            len16(h, l);
            break;
        }
        case 0x0010: { /* ALPN: the first value, then h2 */
            size_t l = h->n;
            ub_u16(h, 0);
            if (!o->alpn_empty_list) {
                ub_u8(h, (unsigned)o->alpn1_len);
                ub_put(h, o->alpn1, o->alpn1_len);
                ub_u8(h, 2);
                ub_put(h, "h2", 2);
            }
            len16(h, l);
            break;
        }
        case 0x000d: { /* signature_algorithms */
            size_t l = h->n;
            ub_u16(h, 0);
            if (o->sigalgs)
                for (size_t k = 0; k < sizeof example_sigs / sizeof example_sigs[0]; k++)
                    ub_u16(h, example_sigs[k]);
            len16(h, l);
            break;
        }
        case 0x002b: /* supported_versions: GREASE, 1.3, 1.2 */
            ub_u8(h, 6);
            ub_u16(h, 0x5a5a);
            ub_u16(h, 0x0304);
            ub_u16(h, 0x0303);
            break;
        case 0x000a: /* supported_groups */
            ub_u16(h, 4);
            ub_u16(h, 0x001d);
            ub_u16(h, 0x0017);
            break;
        case 0x000b:
            ub_u8(h, 1);
            ub_u8(h, 0);
            break;
        case 0xff01:
            ub_u8(h, 0);
            break;
        default:
            break;
        }
        len16(h, e);
    }
    ub_u16(h, 0xfafa); /* GREASE again, with a byte of data */
    ub_u16(h, 1);
    ub_u8(h, 0);
    len16(h, ext_at);
}

static const struct hello_opts example = {
    .sni = true, .sigalgs = true, .alpn = true,
    .alpn1 = (const uint8_t *)"h2", .alpn1_len = 2,
};

static bool ja4_of(const struct hello_opts *o, char transport, char out[37], struct tls_ctx *ctx)
{
    struct ubuf h;
    build(&h, o);
    struct tls_hello th;
    memset(out, 0, 37);
    if (tls_parse_hello(&th, TLS_HS_CLIENT_HELLO, h.b, h.n, false) != 0 || !th.complete)
        return false;
    return tls_fp_ja4(&th, transport, out, ctx);
}

static struct tls_ctx *ctx;

/* "JA4 = t13d1516h2_8daaf6152771_e5627efa2ab1" (Example) */
static void test_ja4_spec_example(void)
{
    char out[37];
    CHECK(ja4_of(&example, 't', out, ctx));
    CHECK_STREQ(out, "t13d1516h2_8daaf6152771_e5627efa2ab1");
    CHECK(ja4_of(&example, 'q', out, ctx));
    CHECK_STREQ(out, "q13d1516h2_8daaf6152771_e5627efa2ab1");
    /* no SNI: "i", one extension fewer, same hashes (SNI is not hashed) */
    struct hello_opts o = example;
    o.sni = false;
    CHECK(ja4_of(&o, 't', out, ctx));
    CHECK_STREQ(out, "t13i1515h2_8daaf6152771_e5627efa2ab1");
}

/* "If there are no signature algorithms in the hello packet, then the
 * string ends without an underscore ... = 6d807ffa2a79" */
static void test_ja4_spec_no_sigalgs(void)
{
    struct hello_opts o = example;
    o.sigalgs = false;
    char out[37];
    CHECK(ja4_of(&o, 't', out, ctx));
    CHECK_STREQ(out, "t13d1516h2_8daaf6152771_6d807ffa2a79");
}

/* no ciphers, no extensions: "000000000000" for each hash */
static void test_ja4_spec_empty_lists(void)
{
    struct hello_opts o = example;
    o.no_suites = true;
    o.no_ext = true;
    char out[37];
    CHECK(ja4_of(&o, 't', out, ctx));
    CHECK_STREQ(out, "t12i000000_000000000000_000000000000");
}

static void check_alpn(const char *raw, size_t n, const char *want, int line)
{
    struct hello_opts o = example;
    o.alpn1 = (const uint8_t *)raw;
    o.alpn1_len = n;
    char out[37];
    bool ok = ja4_of(&o, 't', out, ctx);
    char got[3] = {out[8], out[9], 0};
    if (!ok || strcmp(got, want) != 0 || strncmp(out, "t13d1516", 8) != 0 ||
        strcmp(out + 10, "_8daaf6152771_e5627efa2ab1") != 0) {
        unit_failures_in_test++;
        fprintf(stderr, "test_ja4.c:%d: ALPN part: expected \"%s\", got \"%s\" (%s)\n", line,
                want, got, out);
    }
}

#define ALPN(raw, want) check_alpn(raw, sizeof raw - 1, want, __LINE__)

/* "ALPN Extension Value" */
static void test_ja4_spec_alpn(void)
{
    ALPN("h2", "h2");
    ALPN("http/1.1", "h1");
    ALPN("h", "hh");             /* a single character is first and last */
    /* the specification's list of non-alphanumeric first/last bytes */
    ALPN("\xab", "ab");
    ALPN("\x20", "20");
    ALPN("\xab\xcd", "ad");
    ALPN("\x20\x61", "21");
    ALPN("\x30\xab", "3b");
    ALPN("\x61\x20", "60");
    ALPN("\x30\x31\xab\xcd", "3d");
    ALPN("\x30\xab\xcd\x31", "01"); /* alphanumeric ends: the characters */
    /* the ASCII alphanumeric ranges' edges, raw bytes never as text */
    ALPN("\x2f", "2f");
    ALPN("\x3a", "3a");
    ALPN("\x40\x5b", "4b");
    ALPN("\x60\x7b", "6b");
    ALPN("0z", "0z");
    ALPN("AZ", "AZ");
    ALPN("\xc3\xa9", "c9");         /* UTF-8 "é": bytes, not a character */
    ALPN("\xef\xbf\xbd", "ed");     /* U+FFFD itself is just three bytes */
    ALPN("a\x00", "60");
    /* "If there is no ALPN extension, no ALPN values, or the first ALPN
     * value is empty, then we print 00" */
    ALPN("", "00");
    struct hello_opts o = example;
    o.alpn_empty_list = true;
    char out[37];
    CHECK(ja4_of(&o, 't', out, ctx));
    CHECK(out[8] == '0' && out[9] == '0');
    o = example;
    o.alpn = false;
    CHECK(ja4_of(&o, 't', out, ctx));
    CHECK_STREQ(out, "t13d151500_8daaf6152771_e5627efa2ab1");
}

void run_ja4_tests(void)
{
    ctx = tls_ctx_new();
    CHECK(ctx != NULL);
    if (!ctx)
        return;
    TEST_RUN(test_ja4_spec_example);
    TEST_RUN(test_ja4_spec_no_sigalgs);
    TEST_RUN(test_ja4_spec_empty_lists);
    TEST_RUN(test_ja4_spec_alpn);
    tls_ctx_free(ctx);
    ctx = NULL;
}
