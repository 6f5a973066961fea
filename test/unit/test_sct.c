/* test_sct.c - the CT SCT list printer (tls_sct_list_text) against
 * OpenSSL's X509V3_EXT_print of the same extension: lists of one to three
 * SCTs with RSA and ECDSA signatures of lengths around the 16-byte line
 * breaks, with and without SCT extensions, and timestamps at the epoch,
 * a leap day, day and year ends and the last millisecond before the year
 * 10000 must give OpenSSL's text byte for byte; malformed or unusual
 * lists (truncated, inconsistent lengths, another version or algorithm,
 * trailing bytes, an empty signature or list, BER lengths, later
 * timestamps) must be left to OpenSSL (0). */
#include "tls_parse.h"
#include "unit.h"

#include <openssl/bio.h>
#include <openssl/x509v3.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>


static uint32_t rng = 12345;
static uint8_t rnd8(void)
{
    rng = rng * 1103515245u + 12345u;
    return (uint8_t)(rng >> 16);
}

/* One SCT (with its 2-byte length) appended to x. */
static void sct(struct ubuf *x, unsigned version, uint64_t ts, size_t ext_len, unsigned hash,
                unsigned alg, size_t sig_len, size_t trailing)
{
    struct ubuf s = {.n = 0};
    ub_u8(&s, version);
    for (int i = 0; i < 32; i++)
        ub_u8(&s, rnd8());
    for (int i = 7; i >= 0; i--)
        ub_u8(&s, (unsigned)(ts >> (8 * i)));
    ub_u16(&s, (unsigned)ext_len);
    for (size_t i = 0; i < ext_len; i++)
        ub_u8(&s, rnd8());
    ub_u8(&s, hash);
    ub_u8(&s, alg);
    ub_u16(&s, (unsigned)sig_len);
    for (size_t i = 0; i < sig_len + trailing; i++)
        ub_u8(&s, rnd8());
    ub_u16(x, (unsigned)s.n);
    ub_put(x, s.b, s.n);
}

/* The extension value: OCTET STRING { list length, SCTs } (DER length). */
static void wrap(struct ubuf *out, const struct ubuf *scts)
{
    size_t inner = scts->n + 2;
    out->n = 0;
    ub_u8(out, 0x04);
    if (inner < 0x80) {
        ub_u8(out, (unsigned)inner);
    } else if (inner < 0x100) {
        ub_u8(out, 0x81);
        ub_u8(out, (unsigned)inner);
    } else {
        ub_u8(out, 0x82);
        ub_u16(out, (unsigned)inner);
    }
    ub_u16(out, (unsigned)scts->n);
    ub_put(out, scts->b, scts->n);
}

/* OpenSSL's text for the extension value v (NUL-terminated in out). */
static bool openssl_text(const struct ubuf *v, char *out, size_t cap)
{
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ex = NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    bool ok = false;
    if (os && bio && ASN1_OCTET_STRING_set(os, v->b, (int)v->n) &&
        (ex = X509_EXTENSION_create_by_NID(NULL, NID_ct_precert_scts, 0, os)) != NULL &&
        X509V3_EXT_print(bio, ex, 0, 0) > 0) {
        char *p = NULL;
        long n = BIO_get_mem_data(bio, &p);
        if (n >= 0 && (size_t)n < cap) {
            memcpy(out, p, (size_t)n);
            out[n] = 0;
            ok = true;
        }
    }
    X509_EXTENSION_free(ex);
    ASN1_OCTET_STRING_free(os);
    BIO_free(bio);
    return ok;
}

static char ours[16384], theirs[16384];

static void same_as_openssl(const struct ubuf *scts)
{
    struct ubuf v;
    wrap(&v, scts);
    size_t n = tls_sct_list_text(v.b, v.n, ours, sizeof ours);
    CHECK(n > 0);
    CHECK(openssl_text(&v, theirs, sizeof theirs));
    if (n)
        CHECK_STREQ(ours, theirs);
}

static void test_sct_text(void)
{
    static const uint64_t times[] = {
        0, 1, 999, 1576549048336ull, 951782400000ull /* 2000-02-29 */,
        951868799999ull /* its last ms */, 1609459199999ull /* 2020-12-31 23:59:59.999 */,
        4107542400000ull /* 2100-03-01 */, 253402300799999ull /* 9999-12-31 23:59:59.999 */,
        1700000000123ull,
    };
    static const size_t sigs[] = {1, 2, 15, 16, 17, 31, 32, 33, 70, 71, 72, 256, 512};
    static const size_t exts[] = {0, 1, 16, 17, 40};
    int k = 0;
    for (size_t t = 0; t < sizeof times / sizeof times[0]; t++) {
        for (size_t g = 0; g < sizeof sigs / sizeof sigs[0]; g++) {
            struct ubuf l = {.n = 0};
            sct(&l, 0, times[t], exts[k % 5], 4, (k & 1) ? 1 : 3, sigs[g], 0);
            if (k % 3 == 0)
                sct(&l, 0, times[(t + 1) % 10], exts[(k + 2) % 5], 4, 3, sigs[(g + 5) % 13], 0);
            if (k % 7 == 0)
                sct(&l, 0, times[(t + 3) % 10], 0, 4, 1, 72, 0);
            same_as_openssl(&l);
            k++;
        }
    }
}

static void test_sct_fallback(void)
{
    char out[4096];
    struct ubuf l = {.n = 0}, v;
    sct(&l, 0, 1576549048336ull, 0, 4, 3, 72, 0);
    wrap(&v, &l);
    CHECK(tls_sct_list_text(v.b, v.n, out, sizeof out) > 0);
    /* every truncation of a good list */
    for (size_t cut = 0; cut < v.n; cut++)
        CHECK(tls_sct_list_text(v.b, cut, out, sizeof out) == 0);
    /* too small an output buffer */
    CHECK(tls_sct_list_text(v.b, v.n, out, 100) == 0);
    /* a byte after the OCTET STRING; a list length one off */
    struct ubuf x = v;
    ub_u8(&x, 0);
    CHECK(tls_sct_list_text(x.b, x.n, out, sizeof out) == 0);
    x = v;
    x.b[3]++;
    CHECK(tls_sct_list_text(x.b, x.n, out, sizeof out) == 0);
    /* a BER (non-minimal) length */
    x.n = 0;
    ub_u8(&x, 0x04);
    ub_u8(&x, 0x82);
    ub_u16(&x, (unsigned)(l.n + 2));
    ub_u16(&x, (unsigned)l.n);
    ub_put(&x, l.b, l.n);
    CHECK(tls_sct_list_text(x.b, x.n, out, sizeof out) == 0);
    /* version 2, another hash or signature algorithm, no signature,
     * bytes after the signature, a timestamp in the year 10000, an empty list */
    struct {
        unsigned version, hash, alg;
        size_t sig, trailing;
        uint64_t ts;
    } bad[] = {
        {1, 4, 3, 72, 0, 1}, {0, 5, 3, 72, 0, 1}, {0, 4, 2, 72, 0, 1}, {0, 4, 3, 0, 0, 1},
        {0, 4, 3, 72, 1, 1}, {0, 4, 3, 72, 0, 253402300800000ull},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ubuf b = {.n = 0};
        sct(&b, bad[i].version, bad[i].ts, 0, bad[i].hash, bad[i].alg, bad[i].sig,
            bad[i].trailing);
        wrap(&v, &b);
        CHECK(tls_sct_list_text(v.b, v.n, out, sizeof out) == 0);
    }
    struct ubuf empty = {.n = 0};
    wrap(&v, &empty);
    CHECK(tls_sct_list_text(v.b, v.n, out, sizeof out) == 0);
    CHECK(tls_sct_list_text(NULL, 0, out, sizeof out) == 0);
}

void run_sct_tests(void)
{
    TEST_RUN(test_sct_text);
    TEST_RUN(test_sct_fallback);
}
