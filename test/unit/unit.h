/*
 * unit.h - a minimal unit test harness.
 *
 * A test is a function; TEST_RUN(fn) runs it and counts it as passed when
 * none of its CHECKs failed.  The runner prints "N passed, N failed".
 */
#ifndef JOY_UNIT_H
#define JOY_UNIT_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

extern int unit_failures_in_test;
extern int unit_passed, unit_failed;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            unit_failures_in_test++;                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                           \
    } while (0)

#define CHECK_STREQ(a, b)                                                                  \
    do {                                                                                   \
        const char *a_ = (a), *b_ = (b);                                                   \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                           \
            unit_failures_in_test++;                                                       \
            fprintf(stderr, "%s:%d: expected \"%s\"\n  got      \"%s\"\n", __FILE__, __LINE__, \
                    b_ ? b_ : "(null)", a_ ? a_ : "(null)");                               \
        }                                                                                  \
    } while (0)

#define TEST_RUN(fn)                                                  \
    do {                                                              \
        unit_failures_in_test = 0;                                    \
        fn();                                                         \
        if (unit_failures_in_test) {                                  \
            unit_failed++;                                            \
            fprintf(stderr, "FAIL %s\n", #fn);                        \
        } else {                                                      \
            unit_passed++;                                            \
        }                                                             \
    } while (0)

/* Bytes a test builds (a TLS message, an extension): appending past the
 * capacity drops the bytes, so a buffer too small shows as a failed check,
 * never as an overflow. */
struct ubuf {
    uint8_t b[8192];
    size_t n;
};

static inline void ub_put(struct ubuf *x, const void *p, size_t n)
{
    if (x->n + n <= sizeof x->b) {
        memcpy(x->b + x->n, p, n);
        x->n += n;
    }
}

static inline void ub_u8(struct ubuf *x, unsigned v)
{
    uint8_t b = (uint8_t)v;
    ub_put(x, &b, 1);
}

/* big-endian */
static inline void ub_u16(struct ubuf *x, unsigned v)
{
    ub_u8(x, v >> 8);
    ub_u8(x, v);
}

void run_jsonw_tests(void);
void run_decode_tests(void);
void run_flow_tests(void);
void run_config_tests(void);
void run_capfile_tests(void);
void run_addr_scrub_tests(void);
void run_module_tests(void);
void run_sink_tests(void);
void run_source_tests(void);
void run_addr_tests(void);
void run_ja4_tests(void);
void run_modpool_tests(void);
void run_sct_tests(void);
void run_x509_shared_tests(void);
void run_sockproc_tests(void);

#endif
