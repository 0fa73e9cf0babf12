/* float_x86.c — F16C/AVX2/FMA fast paths for f16 and bf16 (and f32's dot), compiled with -mf16c -mavx2 -mfma
 * and chosen at start-up only when the CPU reports what each uses (the dots also need FMA).
 * Quantize and dequantize give the same bits as the reference in formats/float.c (tested):
 * F16C rounds to nearest even like the reference, and the rare NaN lanes are re-encoded by the
 * scalar reference, because F16C keeps NaN payload bits where ggml writes the canonical
 * 0x7E00. The dots reorder the sum within format.h's invariant 5 (see FLOAT_DOT_X86). */
#include <cpuid.h>
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "../format.h"
#include "ggml_avx512.h"

static qb_status f16_quantize_f16c(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    (void)imp;
    uint16_t *h = q;
    int64_t n = rows * cols, i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m128i r = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128((__m128i *)(h + i), r);
        int nan = _mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        while (nan) {
            int k = __builtin_ctz((unsigned)nan);
            h[i + k] = qb_f32_to_f16(x[i + k]);
            nan &= nan - 1;
        }
    }
    for (; i < n; i++) h[i] = qb_f32_to_f16(x[i]);
    return QB_OK;
}

static void f16_dequantize_f16c(const void *q, float *y, int64_t rows, int64_t cols) {
    const uint16_t *h = q;
    int64_t n = rows * cols, i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
    for (; i < n; i++) y[i] = qb_f16_to_f32(h[i]);
}

static qb_status bf16_quantize_avx2(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    (void)imp;
    uint16_t *h = q;
    int64_t n = rows * cols, i = 0;
    const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    const __m256i bias = _mm256_set1_epi32(0x7fff), one = _mm256_set1_epi32(1), quiet = _mm256_set1_epi32(0x40);
    for (; i + 8 <= n; i += 8) {
        __m256i u = _mm256_loadu_si256((const __m256i *)(x + i));
        __m256i is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs_mask), inf);
        __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), one);
        __m256i rne = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, bias), lsb), 16);
        __m256i nanv = _mm256_or_si256(_mm256_srli_epi32(u, 16), quiet);
        __m256i r = _mm256_blendv_epi8(rne, nanv, is_nan);
        /* pack 8 × u32 (all ≤ 0xFFFF) to u16: packus works per 128-bit lane, permute fixes order */
        __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0xD8);
        _mm_storeu_si128((__m128i *)(h + i), _mm256_castsi256_si128(p));
    }
    for (; i < n; i++) h[i] = qb_f32_to_bf16(x[i]);
    return QB_OK;
}

static void bf16_dequantize_avx2(const void *q, float *y, int64_t rows, int64_t cols) {
    const uint16_t *h = q;
    int64_t n = rows * cols, i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(h + i)));
        _mm256_storeu_si256((__m256i *)(y + i), _mm256_slli_epi32(w, 16));
    }
    for (; i < n; i++) y[i] = qb_bf16_to_f32(h[i]);
}

/* The dots (format.h invariant 5). Each product of two halves is exact in float (11- or 8-bit
 * significands), so FMA adds nothing to the reference's rounding there; what differs is the
 * summation: float FMA into 2 × 8 lanes over a chunk of 128 elements (each lane adds 8
 * products, relative error ≤ 8·2^-24 of that chunk's Σ|w·a|), and the chunks added in double
 * as the reference adds every product — far inside the 1e-5·Σ|w·a| bound, at memory speed.
 * f32's dot is the same loop: its products are not exact in float, but FMA rounds each
 * product-and-add once, so the bound per lane stays 8·2^-24 of the chunk's Σ|w·a|. */
#define FLOAT_DOT_CHUNK 128

static inline __m256 f32x8(const float *p) { return _mm256_loadu_ps(p); }
static inline float f32_of(float v) { return v; }
static inline __m256 f16x8(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

static inline __m256 bf16x8(const uint16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

static inline __m256d widen_sum(__m256 v, __m256d acc) {
    acc = _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    return _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

static inline double hsum_pd(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

#define FLOAT_DOT_X86(NAME, T, LOAD8, DEC)                                                                    \
    static float NAME##_vec_dot_x86(const void *w_row, const void *act_row, int64_t cols) {                   \
        const T *x = w_row, *y = act_row;                                                                     \
        __m256d sum = _mm256_setzero_pd();                                                                    \
        int64_t i = 0;                                                                                        \
        for (; i + FLOAT_DOT_CHUNK <= cols; i += FLOAT_DOT_CHUNK) {                                           \
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();                                        \
            for (int k = 0; k < FLOAT_DOT_CHUNK; k += 16) {                                                   \
                a0 = _mm256_fmadd_ps(LOAD8(x + i + k), LOAD8(y + i + k), a0);                                 \
                a1 = _mm256_fmadd_ps(LOAD8(x + i + k + 8), LOAD8(y + i + k + 8), a1);                         \
            }                                                                                                 \
            sum = widen_sum(_mm256_add_ps(a0, a1), sum);                                                      \
        }                                                                                                     \
        double tail = 0;                                                                                      \
        for (; i < cols; i++) tail += (double)(DEC(x[i]) * DEC(y[i]));                                        \
        return (float)(hsum_pd(sum) + tail);                                                                  \
    }
FLOAT_DOT_X86(f32, float, f32x8, f32_of)
FLOAT_DOT_X86(f16, uint16_t, f16x8, qb_f16_to_f32)
FLOAT_DOT_X86(bf16, uint16_t, bf16x8, qb_bf16_to_f32)
#undef FLOAT_DOT_X86

void qb_formats_init_x86(qb_format *const *table, int n) {
    __builtin_cpu_init();
    /* F16C is CPUID leaf 1, ECX bit 29: read directly, as clang's __builtin_cpu_supports
     * does not know the name */
    unsigned a, b, c, d;
    int f16c = __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1) && __builtin_cpu_supports("avx");
    int avx2 = __builtin_cpu_supports("avx2"), fma = __builtin_cpu_supports("fma");
    for (int i = 0; i < n; i++) {
        qb_format *f = table[i];
        if (f16c && strcmp(f->name, "f16") == 0) {
            f->quantize = f16_quantize_f16c;
            f->dequantize = f16_dequantize_f16c;
            if (fma) f->vec_dot = f16_vec_dot_x86;
            f->impl = "f16c";
        } else if (avx2 && fma && strcmp(f->name, "f32") == 0) {
            f->vec_dot = f32_vec_dot_x86; /* its quantize and dequantize are copies */
            f->impl = "avx2";
        } else if (avx2 && strcmp(f->name, "bf16") == 0) {
            f->quantize = bf16_quantize_avx2;
            f->dequantize = bf16_dequantize_avx2;
            if (fma) f->vec_dot = bf16_vec_dot_x86;
            f->impl = "avx2";
        }
    }
    if (avx2 && f16c) qb_formats_init_x86_minifloat(table, n);
    /* the GGUF block kernels (ggml_x86.c) need all three */
    if (avx2 && fma && f16c) qb_formats_init_x86_ggml(table, n);
    /* and the AVX-512 VNNI dots and table dequantizers (ggml_avx512.c) these four as well; QB_NO_AVX512=1 keeps
     * the AVX2 kernels (to compare them, and so the tests cover them on an AVX-512 CPU) */
    const char *no512 = getenv("QB_NO_AVX512");
    if (avx2 && fma && f16c && !(no512 && *no512 && strcmp(no512, "0") != 0) && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni"))
        qb_formats_init_x86_avx512(table, n);
}
