/* kernels_x86.c — the limit kernels in AVX2/FMA (this file is compiled with -mavx2 -mfma and
 * entered only after a CPUID check in limits.c) and the AVX-512F FMA loop (target attribute,
 * entered only when the CPU has AVX-512F). Loads and stores are regular ones: the dequantize
 * and GEMV kernels they are compared with do not use streaming stores either. */
#include <immintrin.h>

#include "bench.h"

float qb_kern_read_avx2(const float *a, int64_t n);
void qb_kern_copy_avx2(float *restrict b, const float *restrict a, int64_t n);
void qb_kern_triad_avx2(float *restrict a, const float *restrict b, const float *restrict c, float s, int64_t n);
float qb_kern_fma_avx2(int64_t iters, float seed);
float qb_kern_fma_avx512(int64_t iters, float seed);

float qb_kern_read_avx2(const float *a, int64_t n) {
    /* 8 accumulators: two loads per cycle × add latency 3-4 needs at least 6 in flight */
    __m256 s[8];
    for (int k = 0; k < 8; k++) s[k] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int k = 0; k < 8; k++) s[k] = _mm256_add_ps(s[k], _mm256_loadu_ps(a + i + 8 * k));
    for (; i + 8 <= n; i += 8) s[0] = _mm256_add_ps(s[0], _mm256_loadu_ps(a + i));
    __m256 t = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s[0], s[1]), _mm256_add_ps(s[2], s[3])),
                             _mm256_add_ps(_mm256_add_ps(s[4], s[5]), _mm256_add_ps(s[6], s[7])));
    float lane[8], r = 0;
    _mm256_storeu_ps(lane, t);
    for (int k = 0; k < 8; k++) r += lane[k];
    for (; i < n; i++) r += a[i];
    return r;
}

void qb_kern_copy_avx2(float *restrict b, const float *restrict a, int64_t n) {
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 x0 = _mm256_loadu_ps(a + i), x1 = _mm256_loadu_ps(a + i + 8);
        __m256 x2 = _mm256_loadu_ps(a + i + 16), x3 = _mm256_loadu_ps(a + i + 24);
        _mm256_storeu_ps(b + i, x0);
        _mm256_storeu_ps(b + i + 8, x1);
        _mm256_storeu_ps(b + i + 16, x2);
        _mm256_storeu_ps(b + i + 24, x3);
    }
    for (; i < n; i++) b[i] = a[i];
}

void qb_kern_triad_avx2(float *restrict a, const float *restrict b, const float *restrict c, float s, int64_t n) {
    __m256 vs = _mm256_set1_ps(s);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm256_storeu_ps(a + i, _mm256_fmadd_ps(vs, _mm256_loadu_ps(c + i), _mm256_loadu_ps(b + i)));
        _mm256_storeu_ps(a + i + 8, _mm256_fmadd_ps(vs, _mm256_loadu_ps(c + i + 8), _mm256_loadu_ps(b + i + 8)));
    }
    for (; i < n; i++) a[i] = b[i] + s * c[i];
}

/* 12 independent chains: enough to cover FMA latency (4-5 cycles) × 2 pipes on current x86
 * cores. acc = acc·m + c with m just below 1 stays finite and normal for any iters. */
#define FMA_CHAINS(T, SET1, FMADD, ADD, NACC, WIDTH)                                   \
    T m = SET1(0.99999994f), c = SET1(1e-7f), acc[NACC];                               \
    for (int j = 0; j < NACC; j++) acc[j] = SET1(seed + (float)j);                     \
    for (int64_t it = 0; it < iters; it++) {                                           \
        for (int j = 0; j < NACC; j++) acc[j] = FMADD(acc[j], m, c);                   \
    }                                                                                  \
    T sum = acc[0];                                                                    \
    for (int j = 1; j < NACC; j++) sum = ADD(sum, acc[j]);                             \
    float lane[WIDTH], r = 0;

float qb_kern_fma_avx2(int64_t iters, float seed) {
    FMA_CHAINS(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, 12, 8)
    _mm256_storeu_ps(lane, sum);
    for (int k = 0; k < 8; k++) r += lane[k];
    return r;
}

__attribute__((target("avx512f"))) float qb_kern_fma_avx512(int64_t iters, float seed) {
    FMA_CHAINS(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, 12, 16)
    _mm512_storeu_ps(lane, sum);
    for (int k = 0; k < 16; k++) r += lane[k];
    return r;
}
