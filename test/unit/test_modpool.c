/* test_modpool.c - the meter's pool for per-flow module state (modpool.c):
 * zeroed blocks, reuse of freed blocks of the same size class (no new
 * memory in steady state), realloc keeping the contents across classes,
 * requests larger than the largest class and blocks made without a pool
 * (malloc), and freeing NULL.  Under AddressSanitizer the pool is
 * bypassed, so only the contents are checked there. */
#include "module.h"
#include "unit.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static void test_zero_and_reuse(void)
{
    struct module_env env;
    memset(&env, 0, sizeof env);
    env.pool = modpool_new();
    CHECK(env.pool != NULL);
    /* a block written all over, freed, and asked for again: zeroed */
    uint8_t *a = module_calloc(&env, 536);
    CHECK(a && all_zero(a, 536));
    memset(a, 0xa5, 536);
    CHECK(((uintptr_t)a & 15) == 0);
    module_free(a);
    uint8_t *b = module_calloc(&env, 530); /* same class */
    CHECK(b && all_zero(b, 530));
#ifndef MODPOOL_BYPASS
    CHECK(b == a); /* the freed block came back */
#endif
    /* many blocks of one class, all freed, then as many again: the same
     * blocks (steady state takes no new memory) */
    enum { N = 300 };
    void *first[N], *again[N];
    for (int i = 0; i < N; i++) {
        first[i] = module_malloc(&env, 40);
        CHECK(first[i] != NULL);
        if (first[i])
            memset(first[i], i, 40);
    }
    for (int i = 0; i < N; i++)
        module_free(first[i]);
    for (int i = 0; i < N; i++)
        again[i] = module_calloc(&env, 40);
#ifndef MODPOOL_BYPASS
    for (int i = 0; i < N; i++) {
        bool found = false;
        for (int j = 0; j < N && !found; j++)
            found = again[i] == first[j];
        CHECK(found);
    }
#endif
    for (int i = 0; i < N; i++) {
        CHECK(again[i] && all_zero(again[i], 40));
        module_free(again[i]);
    }
    module_free(b);
    module_free(NULL);
    modpool_free(env.pool);
}

static void test_realloc_and_large(void)
{
    struct module_env env;
    memset(&env, 0, sizeof env);
    env.pool = modpool_new();
    /* grow through several classes and past the largest one (malloc) */
    uint8_t *p = module_realloc(&env, NULL, 100);
    CHECK(p != NULL);
    for (int i = 0; i < 100; i++)
        p[i] = (uint8_t)i;
    size_t sizes[] = {110, 1000, 4000, 100000, 64};
    size_t have = 100;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        uint8_t *q = module_realloc(&env, p, sizes[k]);
        CHECK(q != NULL);
        if (!q)
            break;
        p = q;
        size_t keep = have < sizes[k] ? have : sizes[k];
        bool same = true;
        for (size_t i = 0; i < keep; i++)
            same = same && p[i] == (uint8_t)i;
        CHECK(same);
        for (size_t i = keep; i < sizes[k]; i++)
            p[i] = (uint8_t)i;
        have = sizes[k];
    }
    module_free(p);
    /* a request larger than the largest class: zeroed, freed the same way */
    uint8_t *big = module_calloc(&env, 70000);
    CHECK(big && all_zero(big, 70000));
    module_free(big);
    modpool_free(env.pool);
    /* no pool (the fuzz targets' env) and no env: plain malloc */
    struct module_env none;
    memset(&none, 0, sizeof none);
    uint8_t *m = module_calloc(&none, 64);
    CHECK(m && all_zero(m, 64));
    m = module_realloc(&none, m, 5000);
    CHECK(m && all_zero(m, 64));
    module_free(m);
    m = module_calloc(NULL, 8);
    CHECK(m && all_zero(m, 8));
    module_free(m);
}

void run_modpool_tests(void)
{
    TEST_RUN(test_zero_and_reuse);
    TEST_RUN(test_realloc_and_large);
}
