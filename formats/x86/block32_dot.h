/* block32_dot.h — the loop shared by the GEMV dots of the 32-element block types (q4_0, q8_0,
 * iq4_nl, each against q8_0 activations): the AVX2 dots of ggml_x86.c and the AVX-512 VNNI
 * ones of ggml_avx512.c differ only in how they form each pair of blocks' exact integer sums,
 * so both instantiate BLOCK32_DOT with their own pair function (and ggml_avx512.c also its
 * two-row dots over a prepared activation, with BLOCK32_DOT_ROWS itself). Include after
 * <immintrin.h> and ggml_blocks.h, in a file compiled with AVX2, FMA and F16C. */
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

/* The loop for NR weight rows (row r at w + r·rb) against one activation row: out[r] = Σ_blocks
 * d_w·d_a·(integer sum). ASCALES8(ib) is the activation's scales d_a of blocks ib … ib + 7 as
 * 8 floats, ASCALE(i) block i's as a float. SUMS, a statement, sets p[r] for r < NR to the
 * exact integer sums of row r's blocks i0 and i1 (x[r][i0], x[r][i1]) against the
 * activation's in 8 int32 lanes (lanes 0–3 add up to block i0's, lanes 4–7 to block i1's);
 * with several rows it shares the activation's loads and sums between them. Two blocks per
 * vector and pairs alternating between two accumulators per row (independent FMA chains);
 * eight blocks per step share one conversion of their 8 + 8 scales, each pair's two products
 * d_w·d_a then spread over its lanes; the last nb % 8 blocks go in pairs with their own
 * scales, a last odd block paired with itself (i1 = i0) at scale 0. Each row's float
 * operations are the same, in the same order, whatever NR and wherever the activation's
 * scales come from: a row's dot is the same bits alone or beside another. */
#define BLOCK32_DOT_ROWS(W, NR, ASCALES8, ASCALE, SUMS)                                                     \
    const W *x[NR];                                                                                         \
    for (int r = 0; r < NR; r++) x[r] = (const W *)((const char *)w + (size_t)r * rb);                     \
    __m256 acc[NR][2];                                                                                      \
    for (int r = 0; r < NR; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();                             \
    int64_t ib = 0, nb = cols / 32;                                                                         \
    for (; ib + 8 <= nb; ib += 8) {                                                                         \
        const __m256 dy = ASCALES8(ib);                                                                     \
        __m256 d[NR];                                                                                       \
        for (int r = 0; r < NR; r++) d[r] = _mm256_mul_ps(block32_scales8(x[r] + ib, sizeof(W)), dy);     \
        for (int k = 0; k < 8; k += 2) {                                                                    \
            const int64_t i0 = ib + k, i1 = ib + k + 1;                                                     \
            const __m256i sel = _mm256_setr_epi32(k, k, k, k, k + 1, k + 1, k + 1, k + 1);                  \
            __m256i p[NR];                                                                                  \
            SUMS;                                                                                           \
            for (int r = 0; r < NR; r++)                                                                    \
                acc[r][k / 2 & 1] = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(d[r], sel), _mm256_cvtepi32_ps(p[r]), acc[r][k / 2 & 1]); \
        }                                                                                                   \
    }                                                                                                       \
    for (; ib < nb; ib += 2) {                                                                              \
        const int64_t i0 = ib, i1 = ib + 1 < nb ? ib + 1 : ib;                                              \
        __m256i p[NR];                                                                                      \
        SUMS;                                                                                               \
        for (int r = 0; r < NR; r++) {                                                                      \
            const float d0 = _cvtsh_ss(x[r][i0].d) * ASCALE(i0);                                            \
            const float d1 = i1 > i0 ? _cvtsh_ss(x[r][i1].d) * ASCALE(i1) : 0.0f;                           \
            acc[r][0] = _mm256_fmadd_ps(_mm256_set_m128(_mm_set1_ps(d1), _mm_set1_ps(d0)), _mm256_cvtepi32_ps(p[r]), acc[r][0]); \
        }                                                                                                   \
    }                                                                                                       \
    for (int r = 0; r < NR; r++) out[r] = block32_hsum(_mm256_add_ps(acc[r][0], acc[r][1]));

/* NAME(w_row, act_row, cols): format.h's vec_dot, W the weight block type and PAIR(x0, x1, y0,
 * y1) one row's pair sums (SUMS above). */
#define BLOCK32_Q8_0_SCALES8(ib) block32_scales8(y + (ib), sizeof(block_q8_0))
#define BLOCK32_Q8_0_SCALE(i) _cvtsh_ss(y[i].d)
#define BLOCK32_DOT(NAME, W, PAIR)                                                                          \
    static float NAME(const void *w, const void *act_row, int64_t cols) {                                   \
        const size_t rb = 0;                                                                                \
        const block_q8_0 *y = act_row;                                                                      \
        float out[1];                                                                                       \
        BLOCK32_DOT_ROWS(W, 1, BLOCK32_Q8_0_SCALES8, BLOCK32_Q8_0_SCALE, p[0] = PAIR(&x[0][i0], &x[0][i1], &y[i0], &y[i1])) \
        return out[0];                                                                                      \
    }

#endif
