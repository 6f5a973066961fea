/*
 * unit.h - a minimal unit test harness.
 *
 * A test is a function; TEST_RUN(fn) runs it and counts it as passed when
 * none of its CHECKs failed.  The runner prints "N passed, N failed".
 */
#ifndef JOY_UNIT_H
#define JOY_UNIT_H

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

#endif
