/* block32_dot.h — the loop shared by the GEMV dots of the 32-element block types (q4_0, q8_0,
 * iq4_nl, each against q8_0 activations): the AVX2 dots of ggml_x86.c and the AVX-512 VNNI
 * ones of ggml_avx512.c differ only in how they form each pair of blocks' exact integer sums,
 * so both instantiate BLOCK32_DOT with their own pair function. Include after <immintrin.h>
 * and ggml_blocks.h, in a file compiled with AVX2, FMA and F16C. */
#ifndef QB_BLOCK32_DOT_H
#define QB_BLOCK32_DOT_H

#include <immintrin.h>
#include <stdint.h>

/* The fp16 scales d of 8 consecutive blocks of `bytes` bytes (d first, then bytes − 2 of
 * quants) starting at b, as 8 floats. Block k's d lies at byte k·bytes = k·(bytes − 2) + 2k,
 * so the 16 bytes loaded at b + k·(bytes − 2) hold it as their word k, and seven word blends
 * (each taking its load as a memory operand) collect the eight: eight loads and seven
 * one-cycle ops, where assembling them with scalar loads and vpinsrw costs a register move
 * from the integer side per scale. The last load ends with block 7's d: nothing past the
 * eight blocks is read. */
static inline __m256 block32_scales8(const void *b, int bytes) {
    const uint8_t *p = b;
    const int s = bytes - 2;
    __m128i r = _mm_loadu_si128((const __m128i *)p);
    r = _mm_blend_epi16(r, _mm_loadu_si128((const __m128i *)(p + s)), 0x02);
    r = _mm_blend_epi16(r, _mm_loadu_si128((const __m128i *)(p + 2 * s)), 0x04);
    r = _mm_blend_epi16(r, _mm_loadu_si128((const __m128i *)(p + 3 * s)), 0x08);
    r = _mm_blend_epi16(r, _mm_loadu_si128((const __m128i *)(p + 4 * s)), 0x10);
    r = _mm_blend_epi16(r, _mm_loadu_si128((const __m128i *)(p + 5 * s)), 0x20);
    r = _mm_blend_epi16(r, _mm_loadu_si128((const __m128i *)(p + 6 * s)), 0x40);
    r = _mm_blend_epi16(r, _mm_loadu_si128((const __m128i *)(p + 7 * s)), 0x80);
    return _mm256_cvtph_ps(r);
}

/* The 16 bytes at lo and the 16 at hi as one register's halves. */
static inline __m256i load_2x128(const void *lo, const void *hi) {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)lo)),
                                   _mm_loadu_si128((const __m128i *)hi), 1);
}

static inline float block32_hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* NAME(w_row, act_row, cols) = Σ_blocks d_w·d_a·(integer sum), W the weight block type and
 * PAIR(x0, x1, y0, y1) the exact integer sums of two blocks in 8 int32 lanes (lanes 0–3 add
 * up to x0·y0's, lanes 4–7 to x1·y1's). Two blocks per vector and pairs alternating between
 * two accumulators (independent FMA chains); eight blocks per step share one conversion of
 * their 8 + 8 scales, each pair's two products d_w·d_a then spread over its lanes; the last
 * nb % 8 blocks go in pairs with their own scales, a last odd block paired with itself at
 * scale 0. */
#define BLOCK32_DOT(NAME, W, PAIR)                                                                          \
    static float NAME(const void *w_row, const void *act_row, int64_t cols) {                               \
        const W *x = w_row;                                                                                 \
        const block_q8_0 *y = act_row;                                                                      \
        __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};                                         \
        int64_t ib = 0, nb = cols / 32;                                                                     \
        for (; ib + 8 <= nb; ib += 8) {                                                                     \
            const __m256 d = _mm256_mul_ps(block32_scales8(x + ib, sizeof(W)), block32_scales8(y + ib, sizeof(block_q8_0))); \
            for (int k = 0; k < 8; k += 2) {                                                                \
                const __m256 dk = _mm256_permutevar8x32_ps(d, _mm256_setr_epi32(k, k, k, k, k + 1, k + 1, k + 1, k + 1)); \
                const __m256i p = PAIR(&x[ib + k], &x[ib + k + 1], &y[ib + k], &y[ib + k + 1]);              \
                acc[k / 2 & 1] = _mm256_fmadd_ps(dk, _mm256_cvtepi32_ps(p), acc[k / 2 & 1]);                 \
            }                                                                                               \
        }                                                                                                   \
        for (; ib < nb; ib += 2) {                                                                          \
            const int64_t i1 = ib + 1 < nb ? ib + 1 : ib;                                                   \
            const float d0 = _cvtsh_ss(x[ib].d) * _cvtsh_ss(y[ib].d);                                       \
            const float d1 = i1 > ib ? _cvtsh_ss(x[i1].d) * _cvtsh_ss(y[i1].d) : 0.0f;                      \
            const __m256 dk = _mm256_set_m128(_mm_set1_ps(d1), _mm_set1_ps(d0));                             \
            const __m256i p = PAIR(&x[ib], &x[i1], &y[ib], &y[i1]);                                         \
            acc[0] = _mm256_fmadd_ps(dk, _mm256_cvtepi32_ps(p), acc[0]);                                    \
        }                                                                                                   \
        return block32_hsum(_mm256_add_ps(acc[0], acc[1]));                                                 \
    }

#endif
