/*
 * vecstate.h - clearing the upper halves of the vector registers after a
 * library call that used AVX/AVX-512 (ISA-L's igzip).
 *
 * igzip picks its AVX-512 (or AVX2) code at run time and returns with the
 * upper halves of the vector registers dirty.  Until they are cleared,
 * every SSE instruction of the code that runs next (libm's log2, memcpy,
 * the JSON writer, the Walsh-Hadamard and byte-distribution loops) pays a
 * state transition or a false dependency: log2 in the entropy module ran
 * about ten times slower.  vzeroupper after each call clears them; it
 * changes no data, only the vector state, and exists only on CPUs with AVX,
 * hence the check.  Every caller of isal_deflate() calls vec_clear_upper()
 * after it (sink_isal.c for the one-stream outputs, gzmember.c for the
 * members that threads compress).
 */
#ifndef JOY_OUTPUT_VECSTATE_H
#define JOY_OUTPUT_VECSTATE_H

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

__attribute__((target("avx"))) static inline void vec_clear_upper_avx(void)
{
    _mm256_zeroupper();
}

/* __builtin_cpu_supports() reads what libgcc's (or compiler-rt's)
 * constructor found: one load, no state of ours, safe from any thread. */
static inline void vec_clear_upper(void)
{
    if (__builtin_cpu_supports("avx"))
        vec_clear_upper_avx();
}
#else
static inline void vec_clear_upper(void) {}
#endif

#endif
