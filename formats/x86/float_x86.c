/* float_x86.c — F16C/AVX2 fast paths for f16 and bf16, compiled with -mf16c -mavx2 and
 * chosen at start-up only when the CPU reports both. Each gives the same bits as the
 * reference in formats/float.c (tested): F16C rounds to nearest even like the reference, and
 * the rare NaN lanes are re-encoded by the scalar reference, because F16C keeps NaN payload
 * bits where ggml writes the canonical 0x7E00. */
#include <cpuid.h>
#include <immintrin.h>
#include <string.h>

#include "../format.h"

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
            f->impl = "f16c";
        } else if (avx2 && strcmp(f->name, "bf16") == 0) {
            f->quantize = bf16_quantize_avx2;
            f->dequantize = bf16_dequantize_avx2;
            f->impl = "avx2";
        }
    }
    if (avx2 && f16c) qb_formats_init_x86_minifloat(table, n);
    /* the GGUF block kernels (ggml_x86.c) need all three */
    if (avx2 && fma && f16c) qb_formats_init_x86_ggml(table, n);
}
