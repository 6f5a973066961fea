/*
 * test_addr_scrub.c - address literals found in text (addr_scrub.h).
 *
 * The hide function used here "anonymises" 10.0.0.0/8 by turning the first
 * octet into 99 and 2001:db8::/32 by turning 0x0db8 into 0x0abc, so each
 * expectation can be checked by eye.
 */
#include "addr_scrub.h"
#include "unit.h"

#include <stdlib.h>

static bool toy_hide(void *ctx, const struct ipaddr *a, int ipver, struct ipaddr *out)
{
    int *calls = ctx;
    ++*calls;
    if (ipver == 4 && a->b[0] == 10) {
        *out = *a;
        out->b[0] = 99;
        return true;
    }
    if (ipver == 6 && a->b[0] == 0x20 && a->b[1] == 0x01 && a->b[2] == 0x0d && a->b[3] == 0xb8) {
        *out = *a;
        out->b[2] = 0x0a;
        out->b[3] = 0xbc;
        return true;
    }
    return false;
}

/* The text after scrubbing (s itself when nothing was replaced). */
static const char *scrub(const char *s, int *calls)
{
    static char out[4096];
    size_t n = addr_scrub(s, strlen(s), toy_hide, calls, out, sizeof out - 1);
    if (n == 0)
        return s;
    out[n] = '\0';
    return out;
}

static void replaces_ipv4_wherever_quoted(void)
{
    int calls = 0;
    CHECK_STREQ(scrub("10.1.2.3", &calls), "99.1.2.3");
    CHECK_STREQ(scrub("Host: 10.1.2.3:8080", &calls), "Host: 99.1.2.3:8080");
    CHECK_STREQ(scrub("http://10.0.0.1/x?a=10.0.0.2", &calls), "http://99.0.0.1/x?a=99.0.0.2");
    CHECK_STREQ(scrub("CN=10.20.30.40,O=x", &calls), "CN=99.20.30.40,O=x");
    CHECK_STREQ(scrub("10.1.2.3.nip.io", &calls), "99.1.2.3.nip.io");
    CHECK_STREQ(scrub("host-10.1.2.3", &calls), "host-99.1.2.3");
    CHECK_STREQ(scrub("for=10.9.9.9, 10.8.8.8", &calls), "for=99.9.9.9, 99.8.8.8");
}

static void leaves_other_text_alone(void)
{
    int calls = 0;
    const char *keep[] = {
        "192.168.1.1",       /* not in the hidden subnet */
        "1.10.1.2.3",        /* five numbers: a version, not an address */
        "10.1.2",            /* three */
        "10.1.2.300",        /* 300 > 255 */
        "10.1.2.3x",         /* glued to a letter */
        "v10.1.2.3",         /* glued to a letter before */
        "12:30:45",          /* a time */
        "00:11:22:33:44:55", /* a MAC address */
        "deadbeef", "", "no digits here", "Mozilla/5.0 (X11)",
    };
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        char out[1024];
        CHECK(addr_scrub(keep[i], strlen(keep[i]), toy_hide, &calls, out, sizeof out) == 0);
    }
}

static void replaces_ipv6_and_mapped_ipv4(void)
{
    int calls = 0;
    CHECK_STREQ(scrub("2001:db8::1", &calls), "2001:abc::1");
    CHECK_STREQ(scrub("[2001:db8:0:1::5]:443", &calls), "[2001:abc:0:1::5]:443");
    CHECK_STREQ(scrub("::ffff:10.1.2.3", &calls), "::ffff:99.1.2.3");
    CHECK_STREQ(scrub("2001:db9::1", &calls), "2001:db9::1");
    /* as OpenSSL prints alternative names: after a ':', uncompressed */
    CHECK_STREQ(scrub("IP Address:10.1.2.3", &calls), "IP Address:99.1.2.3");
    CHECK_STREQ(scrub("IP Address:2001:DB8:0:0:0:0:0:5", &calls), "IP Address:2001:abc::5");
}

static void many_literals_no_overread_and_retry(void)
{
    /* Many literals back to back, in a heap copy without a terminator so
     * that ASan catches any read past len; first with too little room. */
    static char in[600];
    size_t n = 0;
    while (n + 9 < sizeof in) {
        memcpy(in + n, "10.0.0.0 ", 9);
        n += 9;
    }
    char *heap = malloc(n);
    memcpy(heap, in, n);
    char *out = malloc(n);
    int calls = 0;
    size_t need = addr_scrub(heap, n, toy_hide, &calls, out, 10);
    CHECK(need == n && calls == (int)(n / 9)); /* 10.0.0.0 -> 99.0.0.0: same length */
    CHECK(addr_scrub(heap, n, toy_hide, &calls, out, need) == need);
    CHECK(memcmp(out, "99.0.0.0 99.0.0.0 ", 18) == 0);
    free(heap);
    free(out);
}

void run_addr_scrub_tests(void)
{
    TEST_RUN(replaces_ipv4_wherever_quoted);
    TEST_RUN(leaves_other_text_alone);
    TEST_RUN(replaces_ipv6_and_mapped_ipv4);
    TEST_RUN(many_literals_no_overread_and_retry);
}
