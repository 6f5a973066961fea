/* test_x509_shared.c - the certificate cache the meters of a context share
 * (tls_x509_shared, tls_parse.h).  Certificates made here with OpenSSL
 * (self-signed, P-256) are written as a TLS certificate_list; a tls_ctx
 * that shares a table must write exactly the JSON of one that does not,
 * whether it decoded a certificate itself or took another meter's; the
 * table's counters say which happened; and four threads, each with its own
 * tls_ctx on one table, write the same JSON every time (also under ASan). */
#include "jsonw.h"
#include "tls_parse.h"
#include "unit.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { N_CERTS = 6, THREADS = 4, ROUNDS = 50 };

static uint8_t *der[N_CERTS];
static int der_len[N_CERTS];

/* A self-signed certificate with CN name, serial serial; its DER. */
static int make_cert(EVP_PKEY *key, const char *name, long serial, uint8_t **out)
{
    X509 *x = X509_new();
    if (!x)
        return -1;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509_set_pubkey(x, key);
    int len = -1;
    if (X509_sign(x, key, EVP_sha256()) > 0) {
        *out = NULL;
        len = i2d_X509(x, out);
    }
    X509_free(x);
    return len;
}

/* A certificate_list of the certificates in order[0..n) (RFC 5246 7.4.2). */
static size_t cert_list(const int *order, int n, uint8_t *buf, size_t cap)
{
    size_t at = 3;
    for (int i = 0; i < n; i++) {
        int k = order[i];
        if (at + 3 + (size_t)der_len[k] > cap)
            return 0;
        buf[at] = (uint8_t)(der_len[k] >> 16);
        buf[at + 1] = (uint8_t)(der_len[k] >> 8);
        buf[at + 2] = (uint8_t)der_len[k];
        memcpy(buf + at + 3, der[k], (size_t)der_len[k]);
        at += 3 + (size_t)der_len[k];
    }
    size_t body = at - 3;
    buf[0] = (uint8_t)(body >> 16);
    buf[1] = (uint8_t)(body >> 8);
    buf[2] = (uint8_t)body;
    return at;
}

/* The JSON a tls_ctx writes for the list (malloc'd, NUL-terminated). */
static char *json_of(struct tls_ctx *c, const uint8_t *list, size_t len)
{
    struct jsonw w;
    jw_init(&w);
    tls_json_cert_list(&w, list, len, N_CERTS, c);
    char *s = malloc(w.len + 1);
    if (s) {
        memcpy(s, w.buf, w.len);
        s[w.len] = 0;
    }
    jw_free(&w);
    return s;
}

static char *ref_json[N_CERTS];   /* one certificate each, by a tls_ctx that shares nothing */
static struct tls_x509_shared *table;
static int thread_bad;

static void test_shared_equals_own(void)
{
    struct tls_ctx *a = tls_ctx_new(), *b = tls_ctx_new();
    CHECK(a && b);
    tls_ctx_share(a, table);
    tls_ctx_share(b, table);
    uint8_t buf[16384];
    uint64_t hits, puts;
    for (int k = 0; k < N_CERTS; k++) {
        int one[1] = {k};
        size_t n = cert_list(one, 1, buf, sizeof buf);
        char *ja = json_of(a, buf, n);     /* a decodes it, puts it in the table */
        char *jb = json_of(b, buf, n);     /* b takes a's */
        char *ja2 = json_of(a, buf, n);    /* a's own cache */
        CHECK_STREQ(ja, ref_json[k]);
        CHECK_STREQ(jb, ref_json[k]);
        CHECK_STREQ(ja2, ref_json[k]);
        free(ja);
        free(jb);
        free(ja2);
    }
    tls_x509_shared_counts(table, &hits, &puts);
    CHECK(puts == N_CERTS);      /* each decoded once, by a */
    CHECK(hits == N_CERTS);      /* and each taken once, by b */
    tls_ctx_free(a);
    tls_ctx_free(b);
}

static void *hammer(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    struct tls_ctx *c = tls_ctx_new();
    if (!c) {
        __atomic_add_fetch(&thread_bad, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    tls_ctx_share(c, table);
    uint8_t buf[16384];
    for (int r = 0; r < ROUNDS; r++) {
        int k = (int)(rand_r(&seed) % N_CERTS), one[1] = {k};
        size_t n = cert_list(one, 1, buf, sizeof buf);
        char *j = json_of(c, buf, n);
        if (!j || strcmp(j, ref_json[k]) != 0)
            __atomic_add_fetch(&thread_bad, 1, __ATOMIC_RELAXED);
        free(j);
    }
    tls_ctx_free(c);
    return NULL;
}

static void test_threads(void)
{
    tls_x509_shared_free(table);
    table = tls_x509_shared_new();
    CHECK(table != NULL);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&th[i], NULL, hammer, (void *)(uintptr_t)(i + 1)) == 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    CHECK(thread_bad == 0);
    uint64_t hits, puts;
    tls_x509_shared_counts(table, &hits, &puts);
    CHECK(puts <= N_CERTS);      /* a certificate is put once at most */
    CHECK(puts + hits <= (uint64_t)THREADS * N_CERTS);  /* only on a meter's own miss */
}

void run_x509_shared_tests(void)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    CHECK(key != NULL);
    if (!key)
        return;
    struct tls_ctx *plain = tls_ctx_new();
    table = tls_x509_shared_new();
    CHECK(plain && table);
    bool made = plain && table;
    uint8_t buf[16384];
    for (int k = 0; made && k < N_CERTS; k++) {
        char name[32];
        snprintf(name, sizeof name, "cert%d.example", k);
        der_len[k] = make_cert(key, name, 1000 + k, &der[k]);
        int one[1] = {k};
        size_t n = der_len[k] > 0 ? cert_list(one, 1, buf, sizeof buf) : 0;
        ref_json[k] = n ? json_of(plain, buf, n) : NULL;
        made = ref_json[k] && strstr(ref_json[k], name);
    }
    CHECK(made);
    if (made) {
        TEST_RUN(test_shared_equals_own);
        TEST_RUN(test_threads);
    }
    for (int k = 0; k < N_CERTS; k++) {
        OPENSSL_free(der[k]);
        free(ref_json[k]);
    }
    tls_x509_shared_free(table);
    tls_ctx_free(plain);
    EVP_PKEY_free(key);
}
