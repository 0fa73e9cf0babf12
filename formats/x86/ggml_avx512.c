/* ggml_avx512.c — AVX-512 (F, BW, VL, VNNI) GEMV dots for q4_K and q6_K, the two weight types
 * of Q4_K_M, for q5_K (Q5_K_M's), and for the 32-element block types q4_0, q8_0 and iq4_nl
 * (the block32_dot.h loop with vpdpbusd pair sums, below; q4_0, iq4_nl, q4_K and q5_K also
 * two rows at once, format.h's vec_dot2, over an activation prepared once per GEMV), the dequantize of
 * q4_K, q4_0 and iq4_nl by table lookup, and q3_K's quantize search without an imatrix (its
 * own comment, bottom), compiled with -mavx512f -mavx512bw -mavx512vl
 * -mavx512vnni (and AVX2, FMA, F16C) and installed by qb_formats_init_x86 (float_x86.c) over
 * the AVX2 kernels of ggml_x86.c only on a CPU that reports them all. Decode reads every
 * weight once per token, so these dots must keep up with memory: the AVX2 q4_K dot spends
 * ~22 cycles on a 144-byte super-block (~23 GB/s a core), below what two cores can stream.
 * Zen 4 runs a 512-bit op as two 256-bit halves, so the gain comes only from doing less work
 * per super-block:
 *
 *  - vpdpbusd multiplies unsigned levels by the signed activations and adds four products
 *    into an int32 lane in one op, where AVX2 needs maddubs, madd and add;
 *  - q6_K's 64-byte ql load meets 64 contiguous activation bytes; its 2-bit qh fields, a
 *    32-byte load broadcast to both halves of a register, are placed by one shift per half
 *    (q4_K and q5_K instead reorder the activation once per GEMV to meet their 64-byte loads,
 *    their own comment);
 *  - the sub-block scales are applied to packed sums: vpackssdw folds two vpdpbusd results
 *    (int32 lanes of four products, which fit int16) into one register of 16-bit sums, and
 *    one vpdpwssd multiplies each by its sub-block's scale and adds pairs into the int32
 *    accumulator: per 128 elements one pack and one vpdpwssd.
 *
 * Measured in cache on one Zen 4 core (3.7 GHz): q6_K 29 → 36 GB/s (25 → 20 cycles a
 * super-block), q4_K 23 → 30 GB/s (22 → 17.4 cycles; two rows at once 16.3), where the
 * q8_K-order kernel's levels and vpdpbusd alone took ~11 cycles and its per-super-block
 * double epilogue (invariant 2) ~5.
 *
 * Invariants (format.h invariant 5):
 *  1. The integer sums are exact, for any weight bytes and any q8_K bytes: a lane of vpdpbusd
 *     adds four products q·a with q ≤ 15 (q4_K), ≤ 31 (q5_K) or ≤ 63 (q6_K) and |a| ≤ 128, so
 *     |lane| ≤ 4·63·128 = 32256 and vpackssdw never saturates; vpdpwssd multiplies them by
 *     6-bit (q4_K, q5_K) or int8 (q6_K) scales, and no int32 lane, nor the horizontal sums of
 *     eight of them (q4_K, q5_K), reaches 2^31 (q6_K's largest lane: 32·2·32768·128 from the
 *     bsums plus 2·2·32256·128).
 *  2. q4_K and q5_K add each super-block's two exact integer terms (Σ sc·q·a and Σ m·bsums)
 *     in double, scaled by its rounded float scales (four super-blocks per step, their own
 *     comment), as the AVX2 dot does, since the two can
 *     nearly cancel; q6_K scales its exact int32 lanes by d·d_a in float (FMA), one horizontal
 *     sum per row. The float order differs from ggml's generic code within 1e-5·Σ|w·a|.
 *  3. The min term of q4_K/q5_K and the −32 level offset of q6_K use the activation's bsums, as
 *     ggml does (q8_K's quantizer writes them as the sums of its qs). */
#include <immintrin.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "../ggml_blocks.h"
#include "../ggml_common.h"
#include "block32_dot.h"
#include "ggml_avx512.h"
#include "ggml_x86.h"

/* ==== q4_K, q5_K ===============================================================================
 * Both run over an activation prepared once per GEMV (format.h's act_prep; vec_dot prepares
 * four super-blocks at a time on the stack and runs the same code, so vec_dot2 gives its bits).
 * Per super-block the prepared activation holds:
 *  - its 256 bytes in the order of the weights' two 64-byte qs loads. Group j = qs[32j … 32j+31]
 *    holds sub-block 2j (elements 64j … 64j+31) in its low nibbles and 2j+1 in its high ones,
 *    so the load of qs[0 … 63] meets, low nibbles, elements 0–31 then 64–95, and high nibbles
 *    32–63 then 96–127 (qs[64 … 127] the same plus 128): four 64-byte activation registers
 *    A0 = a[0…31] a[64…95], A1 = a[32…63] a[96…127], A2, A3 (+128);
 *  - d_a and −d_a, the float scales of its two integer terms (invariant 2);
 *  - bsums[2j] + bsums[2j+1], the activation sum of sub-block j, for the min term.
 * Against a q8_K row read as it lies this saves, per super-block, two of the four nibble shifts
 * (one 64-byte load gives both halves' levels, where the q8_K order needs a broadcast and a
 * shift for each 32-byte group) and the bsums pairing. vpdpbusd then leaves sub-block 0 in the
 * lanes 0–7 of d0 and 2 in its lanes 8–15, 1 and 3 in d1's, and vpackssdw of d0 and d1 gives
 * 128-bit lane L four sums of sub-block (L < 2 ? 0 : 2), then four of (L < 2 ? 1 : 3).
 *
 * The epilogue (the two exact integer terms of each super-block, scaled in double) goes four
 * super-blocks at a time: one hadd per super-block to eight lanes, two more and a lane fold to
 * [Σqa, Σm] of all four, and two double FMAs, where one super-block at a time took ~5 cycles
 * of its ~22. In cache on one Zen 4 core, the q8_K-order kernel with a per-super-block epilogue
 * ran 22.0 cycles a super-block, this one 17.4, and two rows at once 16.3 (24 → 30 → 32 GB/s,
 * kernels interleaved in one run); two threads on weights in L3 34.9 GB/s, against 29.7 for
 * the old kernel one row at a time and 33.2 for it two rows at a time. A vector decode of the
 * scales, GFNI nibble extraction, maddubs + vpdpwssd and software prefetch were each within
 * 3 % of the old kernel, or slower.
 *
 * q5_K is q4_K with a fifth bit per level from qh (levels ≤ 31, so a vpdpbusd lane stays below
 * 4·31·128): one rotate per super-block and one ternary-logic op per 64 levels. */
typedef struct {
    int8_t qs[4][256];  /* four super-blocks' activations, each in the order above */
    float da[8];        /* d_a, −d_a of each */
    int16_t bs8[4][8];  /* bsums[2j] + bsums[2j + 1] (|·| ≤ 2·16·128: exact in int16) */
    uint8_t pad[32];
} q8_K_prep4;
_Static_assert(sizeof(q8_K_prep4) == 1152, "18 cache lines");
_Static_assert(offsetof(block_q4_K, scales) == offsetof(block_q5_K, scales), "d, dmin and scales lie alike");

/* Prepares super-blocks y[0 … n − 1], n ≤ 4, into g; missing ones are zeros (d_a = 0). */
static void q8_K_prep_group(const block_q8_K *y, int n, q8_K_prep4 *g) {
    static const int from[4] = {0, 64, 32, 96}; /* the 32 bytes each 32 of a 128-element half take */
    memset(g, 0, sizeof *g);
    for (int k = 0; k < n; k++) {
        for (int c = 0; c < 8; c++)
            _mm256_storeu_si256((__m256i *)(g->qs[k] + 32 * c), _mm256_loadu_si256((const __m256i *)(y[k].qs + 128 * (c / 4) + from[c % 4])));
        g->da[2 * k] = y[k].d, g->da[2 * k + 1] = -y[k].d;
        _mm_storeu_si128((__m128i *)g->bs8[k], _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)y[k].bsums),
                                                            _mm_loadu_si128((const __m128i *)(y[k].bsums + 8))));
    }
}

static size_t q8_K_prep_bytes(int64_t cols) { return (size_t)(cols / 256 + 3) / 4 * sizeof(q8_K_prep4); }

static void q8_K_prep_act(const void *act_row, int64_t cols, void *out) {
    const block_q8_K *y = act_row;
    for (int64_t i = 0, nb = cols / 256; i < nb; i += 4) q8_K_prep_group(y + i, nb - i < 4 ? (int)(nb - i) : 4, (q8_K_prep4 *)out + i / 4);
}

/* The eight 6-bit scales (byte j of *sc) and mins (*m) of a super-block from its 12 bytes s,
 * as ggml's get_scale_min_k4 for all j at once on three 32-bit words: sc_j = s_j & 63 and
 * m_j = s_{j+4} & 63 for j < 4; sc_j = (s_{j+4} & 15) | (s_{j−4} >> 6) << 4 and
 * m_j = s_{j+4} >> 4 | (s_j >> 6) << 4 for j ≥ 4. (Scalar: these ALU ops run beside the
 * vector ones; a vector decode measured slower.) */
static inline void q4_K_scales_mins(const uint8_t s[12], uint64_t *sc, uint64_t *m) {
    uint32_t w[3];
    memcpy(w, s, 12);
    const uint32_t sc_lo = w[0] & 0x3f3f3f3f, sc_hi = (w[2] & 0x0f0f0f0f) | ((w[0] >> 2) & 0x30303030);
    const uint32_t m_lo = w[1] & 0x3f3f3f3f, m_hi = ((w[2] >> 4) & 0x0f0f0f0f) | ((w[1] >> 2) & 0x30303030);
    *sc = sc_lo | (uint64_t)sc_hi << 32;
    *m = m_lo | (uint64_t)m_hi << 32;
}

/* Super-block k of g against the q4_K (q5 = 0) or q5_K block at b: eight int32 lanes whose
 * 0, 1, 4, 5 add up to Σ sc·q·a and 2, 3 to Σ m·bsums (4–7 of the second term are zero). */
static inline __attribute__((always_inline)) __m256i k4_super(const uint8_t *b, int q5, const q8_K_prep4 *g, int k) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), m10 = _mm512_set1_epi8(0x10), z = _mm512_setzero_si512();
    /* pshufb indices picking, for each 16-bit sum of the packed d0, d1, its scale from the 8
     * scale bytes repeated in every 64-bit lane (high byte 0x80: zero); d2, d3 take j + 4.
     * set_epi16 lists word 31 first. */
#define P4(j) (short)(0x8000 | (j)), (short)(0x8000 | (j)), (short)(0x8000 | (j)), (short)(0x8000 | (j))
    const __m512i pick01 = _mm512_set_epi16(P4(3), P4(2), P4(3), P4(2), P4(1), P4(0), P4(1), P4(0));
#undef P4
    const __m512i pick23 = _mm512_add_epi16(pick01, _mm512_set1_epi16(4));
    uint64_t sc, mn;
    q4_K_scales_mins(b + offsetof(block_q4_K, scales), &sc, &mn);
    const uint8_t *qs = b + (q5 ? offsetof(block_q5_K, qs) : offsetof(block_q4_K, qs));
    const __m512i l0 = _mm512_loadu_si512(qs), l1 = _mm512_loadu_si512(qs + 64);
    __m512i q0 = _mm512_and_si512(l0, m4), q1 = _mm512_and_si512(_mm512_srli_epi16(l0, 4), m4);
    __m512i q2 = _mm512_and_si512(l1, m4), q3 = _mm512_and_si512(_mm512_srli_epi16(l1, 4), m4);
    if (q5) {
        /* The fifth bit of the level of qs[l] in group j is bit 2j (low nibble) or 2j + 1 (high)
         * of qh[l]. The 32 qh bytes in both halves, each 32-bit lane rotated left by 4 (lower
         * half: group 0's bit 0) or 2 (upper: group 1's bit 2), land q0's bits on bit 4;
         * further right rotations by 1, 4 and 5 do it for q1 (bits 1, 3), q2 (4, 6) and q3 (5, 7).
         * No bit of another byte reaches a bit 4. (A, B, C) → (A & B) | C is ternary logic 0xEA. */
        const __m512i rot = _mm512_inserti64x4(_mm512_set1_epi32(4), _mm256_set1_epi32(2), 1);
        const __m512i hq = _mm512_rolv_epi32(_mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(b + offsetof(block_q5_K, qh)))), rot);
        q0 = _mm512_ternarylogic_epi32(hq, m10, q0, 0xEA);
        q1 = _mm512_ternarylogic_epi32(_mm512_ror_epi32(hq, 1), m10, q1, 0xEA);
        q2 = _mm512_ternarylogic_epi32(_mm512_ror_epi32(hq, 4), m10, q2, 0xEA);
        q3 = _mm512_ternarylogic_epi32(_mm512_ror_epi32(hq, 5), m10, q3, 0xEA);
    }
    const int8_t *a = g->qs[k];
    const __m512i d0 = _mm512_dpbusd_epi32(z, q0, _mm512_loadu_si512(a)), d1 = _mm512_dpbusd_epi32(z, q1, _mm512_loadu_si512(a + 64));
    const __m512i d2 = _mm512_dpbusd_epi32(z, q2, _mm512_loadu_si512(a + 128)), d3 = _mm512_dpbusd_epi32(z, q3, _mm512_loadu_si512(a + 192));
    const __m512i scb = _mm512_set1_epi64((long long)sc);
    __m512i t = _mm512_dpwssd_epi32(z, _mm512_packs_epi32(d0, d1), _mm512_shuffle_epi8(scb, pick01));
    t = _mm512_dpwssd_epi32(t, _mm512_packs_epi32(d2, d3), _mm512_shuffle_epi8(scb, pick23));
    /* Σ_j m_j·(bsums[2j] + bsums[2j+1]), the m_j widened to 16 bits */
    const __m128i mins = _mm_madd_epi16(_mm_loadu_si128((const __m128i *)g->bs8[k]), _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)mn)));
    const __m256i t8 = _mm256_add_epi32(_mm512_castsi512_si256(t), _mm512_extracti64x4_epi64(t, 1));
    return _mm256_hadd_epi32(t8, _mm256_zextsi128_si256(mins));
}

/* Rows x[0 … NR − 1] (block size bs), n ≤ 4 super-blocks from each, against prepared g: adds
 * [Σqa·d·d_a, −Σm·dmin·d_a] of super-blocks 0, 1 to acc[r][0] and of 2, 3 to acc[r][1]. */
static inline __attribute__((always_inline)) void k4_group4(const uint8_t *const *x, int NR, size_t bs, int q5, const q8_K_prep4 *g, int n, __m256d acc[][2]) {
#pragma GCC unroll 2
    for (int r = 0; r < NR; r++) {
        __m256i h[4];
        uint32_t dm[4] = {0, 0, 0, 0}; /* each block's fp16 d and dmin */
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++)
            if (k < n) {
                h[k] = k4_super(x[r] + k * bs, q5, g, k);
                memcpy(&dm[k], x[r] + k * bs, 4);
            } else
                h[k] = _mm256_setzero_si256();
        /* [Σqa, Σm] of super-blocks 0, 1 | 2, 3: exact (invariant 1) */
        const __m256i g0 = _mm256_hadd_epi32(h[0], h[1]), g1 = _mm256_hadd_epi32(h[2], h[3]);
        const __m256i s = _mm256_add_epi32(_mm256_permute2x128_si256(g0, g1, 0x20), _mm256_permute2x128_si256(g0, g1, 0x31));
        /* [d, dmin]·[d_a, −d_a], rounded in float as the generic code's products are */
        const __m256 dd = _mm256_mul_ps(_mm256_cvtph_ps(_mm_setr_epi32((int)dm[0], (int)dm[1], (int)dm[2], (int)dm[3])), _mm256_loadu_ps(g->da));
        acc[r][0] = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(dd)), _mm256_cvtepi32_pd(_mm256_castsi256_si128(s)), acc[r][0]);
        acc[r][1] = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(dd, 1)), _mm256_cvtepi32_pd(_mm256_extracti128_si256(s, 1)), acc[r][1]);
    }
}

/* out[r] for NR rows at w + r·rb against act: prepared (q8_K_prep_act) or, raw, a q8_K row
 * prepared here four super-blocks at a time. The same operations either way. */
static inline __attribute__((always_inline)) void k4_dot(const void *w, size_t rb, const void *act, int64_t cols, float *out, int NR, int q5, int raw) {
    const size_t bs = q5 ? sizeof(block_q5_K) : sizeof(block_q4_K);
    __m256d acc[2][2] = {{_mm256_setzero_pd(), _mm256_setzero_pd()}, {_mm256_setzero_pd(), _mm256_setzero_pd()}};
    q8_K_prep4 local;
    for (int64_t i = 0, nb = cols / 256; i < nb; i += 4) {
        const int n = nb - i < 4 ? (int)(nb - i) : 4;
        const q8_K_prep4 *g = (const q8_K_prep4 *)act + i / 4;
        if (raw) q8_K_prep_group((const block_q8_K *)act + i, n, &local), g = &local;
        const uint8_t *x[2] = {(const uint8_t *)w + i * bs, (const uint8_t *)w + rb + i * bs};
        if (n == 4) /* a constant count: the full groups inline unrolled, without a test per block */
            k4_group4(x, NR, bs, q5, g, 4, acc);
        else
            k4_group4(x, NR, bs, q5, g, n, acc);
    }
    for (int r = 0; r < NR; r++) {
        const __m256d v = _mm256_add_pd(acc[r][0], acc[r][1]);
        const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
        out[r] = (float)(_mm_cvtsd_f64(s) + _mm_cvtsd_f64(_mm_unpackhi_pd(s, s)));
    }
}

static float q4_K_vec_dot_avx512(const void *w_row, const void *act_row, int64_t cols) {
    float out[1];
    k4_dot(w_row, 0, act_row, cols, out, 1, 0, 1);
    return out[0];
}

static float q5_K_vec_dot_avx512(const void *w_row, const void *act_row, int64_t cols) {
    float out[1];
    k4_dot(w_row, 0, act_row, cols, out, 1, 1, 1);
    return out[0];
}

static void q4_K_vec_dot2_avx512(const void *w, size_t rb, const void *act, int64_t cols, float *out) { k4_dot(w, rb, act, cols, out, 2, 0, 0); }
static void q5_K_vec_dot2_avx512(const void *w, size_t rb, const void *act, int64_t cols, float *out) { k4_dot(w, rb, act, cols, out, 2, 1, 0); }

/* ==== q6_K ====================================================================================
 * Half h (0, 1) of a super-block: ql[64h … 64h+63] and qh[32h … 32h+31]. Element 128h + 32t + l
 * (t = 0…3, l = 0…31) has level (ql[64h + 32(t%2) + l] >> 4(t/2) & 0xF) | (qh[32h + l] >> 2t & 3) << 4
 * and sub-block 8h + 2t + l/16. The 64-byte ql load, low nibbles, is t = 0, 1 in order; its high
 * nibbles t = 2, 3; qh broadcast to both halves gives each t its 2-bit field at bits 4–5 with
 * one shift per half. vpdpbusd then leaves sub-block 8h + L (t = 0, 1) or 8h + 4 + L (t = 2, 3)
 * in 128-bit lane L, and vpackssdw of the two gives lane L four sums of each. */

static float q6_K_vec_dot_avx512(const void *w_row, const void *act_row, int64_t cols) {
    const block_q6_K *x = w_row;
    const block_q8_K *y = act_row;
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    /* qh shifted left by 4 (t = 0) in the lower half and by 2 (t = 1) in the upper */
    const __m512i shl = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    /* vpermw indices of each 16-bit sum's scale among the 16 (sign-extended) scales: lane L of
     * half h takes sub-block 8h + L, four times, then 8h + 4 + L */
    const __m512i pick0 = _mm512_set_epi16(7, 7, 7, 7, 3, 3, 3, 3, 6, 6, 6, 6, 2, 2, 2, 2, 5, 5, 5, 5, 1, 1, 1, 1, 4, 4, 4, 4, 0, 0, 0, 0);
    const __m512i pick1 = _mm512_add_epi16(pick0, _mm512_set1_epi16(8));
    __m512 sumv = _mm512_setzero_ps();
    for (int64_t i = 0, nb = cols / 256; i < nb; i++) {
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
        const __m512i sc = _mm512_castsi256_si512(sc16);
        /* 32·Σ_k sc_k·bsums_k, subtracted from the lower eight lanes (exact) */
        const __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[i].bsums), sc16), 5);
        __m512i t = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_zextsi256_si512(off));
        for (int h = 0; h < 2; h++) {
            const __m512i ql = _mm512_loadu_si512(x[i].ql + 64 * h);
            const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h)));
            const __m512i hi01 = _mm512_and_si512(_mm512_sllv_epi16(qh, shl), m30);
            const __m512i hi23 = _mm512_and_si512(_mm512_mask_srli_epi16(qh, (__mmask32)0xFFFF0000u, qh, 2), m30);
            /* (a & 0x0F) | b as one ternary-logic op (0xEA: (A & B) | C with A, B, C the operands) */
            const __m512i q01 = _mm512_ternarylogic_epi32(ql, m4, hi01, 0xEA);
            const __m512i q23 = _mm512_ternarylogic_epi32(_mm512_srli_epi16(ql, 4), m4, hi23, 0xEA);
            const __m512i d01 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q01, _mm512_loadu_si512(y[i].qs + 128 * h));
            const __m512i d23 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q23, _mm512_loadu_si512(y[i].qs + 128 * h + 64));
            t = _mm512_dpwssd_epi32(t, _mm512_packs_epi32(d01, d23), _mm512_permutexvar_epi16(h ? pick1 : pick0, sc));
        }
        sumv = _mm512_fmadd_ps(_mm512_set1_ps(_cvtsh_ss(x[i].d) * y[i].d), _mm512_cvtepi32_ps(t), sumv);
    }
    return _mm512_reduce_add_ps(sumv);
}

/* ==== q4_0, q8_0, iq4_nl: 32-element blocks against q8_0 ========================================
 * The loop is block32_dot.h's, as for the AVX2 dots; only the pair sums change. vpdpbusd needs
 * one unsigned operand: q4_0's levels q ∈ [0, 15] are, and iq4_nl's codebook plus 128 (1…241)
 * is, so Σ (q − 8)·a = Σ q·a − 8·Σ a and Σ v·a = Σ (v + 128)·a − 128·Σ a, the offset term one
 * vpdpbusd of the constant against the same activations (one op fewer than sign-extending, or
 * than the sign trick's vpabsb and vpsignb). q8_0's weights are signed on both sides, so it
 * keeps the AVX2 dot's sign trick (u = |w|, s = a·sign(w); the activation never holds −128)
 * with vpdpbusd in place of maddubs and madd. Exact for any weight bytes: a lane adds four
 * products of at most 241·128, and a pair's two halves add below 2^21. */

/* The unsigned values u(q) of two blocks' 4-bit indices, in the order of their activations'
 * halves: both blocks' 16 packed bytes share a register, low nibbles (elements 0–15) in lo,
 * high (16–31) in hi. LUT(v) takes bytes whose low 4 bits are the index (the high nibbles
 * after a 16-bit shift, so bits 4–7 hold the next byte's low bits) and ignores the rest. */
#define NIBBLE_LEVELS(T, W, LUT, ATTR)                                                                       \
    ATTR static inline void T##_levels(const W *x0, const W *x1, __m256i *lo, __m256i *hi) {               \
        const __m256i raw = load_2x128(x0->qs, x1->qs);                                                      \
        *lo = LUT(raw), *hi = LUT(_mm256_srli_epi16(raw, 4));                                                \
    }
/* one row's pair sums Σ u(q)·a − 2^SHIFT·Σ a against q8_0 blocks y0, y1 */
#define NIBBLE_PAIR(T, W)                                                                                    \
    static inline __m256i T##_pair_vnni(const W *x0, const W *x1, const block_q8_0 *y0, const block_q8_0 *y1) { \
        const __m256i off = _mm256_set1_epi8((char)(1 << T##_SHIFT));                                        \
        const __m256i alo = load_2x128(y0->qs, y1->qs), ahi = load_2x128(y0->qs + 16, y1->qs + 16);         \
        const __m256i offa = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), off, alo), off, ahi); \
        __m256i lo, hi;                                                                                      \
        T##_levels(x0, x1, &lo, &hi);                                                                        \
        return _mm256_sub_epi32(_mm256_dpbusd_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), lo, alo), hi, ahi), offa); \
    }
#define q4_0_SHIFT 3
#define iq4_nl_SHIFT 7
#define NIBBLE(v) _mm256_and_si256((v), _mm256_set1_epi8(0x0F))
/* kvalues_iq4nl + 128 (−127…113 → 1…241), in both 128-bit lanes */
#define IQ4_NL_U8 _mm256_xor_si256(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qb_kvalues_iq4nl)), _mm256_set1_epi8((char)0x80))
#define Q4_0_LEVELS(v) NIBBLE(v)
#define IQ4_NL_LEVELS(v) _mm256_shuffle_epi8(IQ4_NL_U8, NIBBLE(v)) /* pshufb: bit 7 would zero, so the AND stays */
NIBBLE_LEVELS(q4_0, block_q4_0, Q4_0_LEVELS, )
NIBBLE_LEVELS(iq4_nl, block_iq4_nl, IQ4_NL_LEVELS, )
NIBBLE_PAIR(q4_0, block_q4_0)
NIBBLE_PAIR(iq4_nl, block_iq4_nl)
#undef NIBBLE_PAIR

/* ---- two rows at once over a prepared activation (format.h's vec_dot2 and act_prep) ----------
 * Two rows sharing the activation's work, a pair of blocks of one row still costs ~18 vector
 * ops and ~8 load slots (Zen 4 loads two a cycle, and one that crosses a cache line takes
 * two), a quarter of the ops and over 40 % of the slots the activation's: its halves gathered
 * from 34-byte blocks (crossing a line a quarter of the time, a lane insert each), its offset
 * sums, and its eight fp16 scales collected and converted every eight blocks. All of that
 * depends on the activation alone, so act_prep does it once per GEMV and the two-row dots
 * load it: per pair of blocks the two halves as whole aligned registers and −Σ a per lane,
 * which, shifted by log2 of the offset, is the integer sums' starting value (no
 * subtraction), and per eight blocks the scales as floats. In cache on one Zen 4 core, two
 * iq4_nl rows at a time went from 21.7 to 27.6 GB/s (the two kernels interleaved in one run). The integer sums and the
 * float operations are the ones vec_dot performs (block32_dot.h), so the bits are too. */
typedef struct {
    int8_t lo[32], hi[32]; /* blocks 2k and 2k + 1: elements 0–15 of each, then 16–31 of each */
    int32_t neg_sum[8];    /* lane j: −Σ of the 8 bytes it meets, lo[4j … 4j + 3] and hi[4j … 4j + 3] */
} q8_0_prep_pair;
typedef struct {
    float d[8]; /* the eight blocks' scales */
    q8_0_prep_pair pair[4];
} q8_0_prep; /* 416 bytes per 8 blocks; a last partial group's missing blocks are zeros */

static size_t q8_0_prep_bytes(int64_t cols) { return ((size_t)(cols / 32 + 7) / 8 * sizeof(q8_0_prep) + 63) / 64 * 64; }

static void q8_0_prep_act(const void *act_row, int64_t cols, void *out) {
    const block_q8_0 *y = act_row;
    q8_0_prep *g = out;
    const int64_t nb = cols / 32;
    memset(out, 0, q8_0_prep_bytes(cols));
    static const int8_t none[32]; /* a missing last odd block's activations */
    const __m256i ones = _mm256_set1_epi8(1);
    for (int64_t i = 0; i < nb; i += 2) {
        q8_0_prep_pair *pp = &g[i / 8].pair[i % 8 / 2];
        const int8_t *y1 = i + 1 < nb ? y[i + 1].qs : none;
        const __m256i lo = load_2x128(y[i].qs, y1), hi = load_2x128(y[i].qs + 16, y1 + 16);
        _mm256_storeu_si256((__m256i *)pp->lo, lo);
        _mm256_storeu_si256((__m256i *)pp->hi, hi);
        _mm256_storeu_si256((__m256i *)pp->neg_sum,
                            _mm256_sub_epi32(_mm256_setzero_si256(),
                                             _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), ones, lo), ones, hi)));
        g[i / 8].d[i % 8] = _cvtsh_ss(y[i].d);
        if (i + 1 < nb) g[i / 8].d[i % 8 + 1] = _cvtsh_ss(y[i + 1].d);
    }
}

#define PREP_SCALES8(ib) _mm256_loadu_ps(g[(ib) / 8].d)
#define PREP_SCALE(i) g[(i) / 8].d[(i) % 8]
#define NIBBLE_DOT2(T, W, ATTR)                                                                               \
    /* rows a and b's pair sums against prepared pair ap: Σ u(q)·a − 2^SHIFT·Σ a */                          \
    ATTR static inline void T##_pair2_prep(const W *a0, const W *a1, const W *b0, const W *b1, const q8_0_prep_pair *ap, __m256i p[2]) { \
        const __m256i alo = _mm256_loadu_si256((const __m256i *)ap->lo), ahi = _mm256_loadu_si256((const __m256i *)ap->hi); \
        const __m256i init = _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)ap->neg_sum), T##_SHIFT); \
        __m256i lo, hi;                                                                                       \
        T##_levels(a0, a1, &lo, &hi);                                                                         \
        p[0] = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(init, lo, alo), hi, ahi);                              \
        T##_levels(b0, b1, &lo, &hi);                                                                         \
        p[1] = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(init, lo, alo), hi, ahi);                              \
    }                                                                                                         \
    ATTR static void T##_vec_dot2_avx512(const void *w, size_t rb, const void *act, int64_t cols, float *out) { \
        const q8_0_prep *g = act;                                                                             \
        BLOCK32_DOT_ROWS(W, 2, PREP_SCALES8, PREP_SCALE,                                                      \
                         T##_pair2_prep(&x[0][i0], &x[0][i1], &x[1][i0], &x[1][i1], &g[i0 / 8].pair[i0 % 8 / 2], p)) \
    }
NIBBLE_DOT2(q4_0, block_q4_0, )
NIBBLE_DOT2(iq4_nl, block_iq4_nl, )

/* iq4_nl's two-row dot with AVX512_VBMI (Ice Lake, Zen 4; not Cascade Lake, whose VNNI the
 * rest of this file serves): vpermb reads only an index's low 5 bits, so over the codebook
 * written twice (32 entries) it needs neither AND; 3 ops a pair of blocks for the levels
 * where pshufb takes 5. In cache on one Zen 4 core 1.12× the pshufb form's rate (two rows,
 * prepared activation, interleaved in one run). The same exact sums, so the same bits. */
#define iq4_nl_vbmi_SHIFT 7
#define IQ4_NL_VBMI_LEVELS(v) _mm256_permutexvar_epi8((v), IQ4_NL_U8)
#define VBMI __attribute__((target("avx512vbmi")))
NIBBLE_LEVELS(iq4_nl_vbmi, block_iq4_nl, IQ4_NL_VBMI_LEVELS, VBMI)
NIBBLE_DOT2(iq4_nl_vbmi, block_iq4_nl, VBMI)
#undef VBMI

#undef NIBBLE_LEVELS
#undef NIBBLE_DOT2
#undef PREP_SCALES8
#undef PREP_SCALE
#undef q4_0_SHIFT
#undef iq4_nl_SHIFT
#undef iq4_nl_vbmi_SHIFT
#undef NIBBLE
#undef IQ4_NL_U8
#undef Q4_0_LEVELS
#undef IQ4_NL_LEVELS
#undef IQ4_NL_VBMI_LEVELS

static inline __m256i q8_0_block_vnni(const block_q8_0 *x, const block_q8_0 *y) {
    __m256i w = _mm256_loadu_si256((const __m256i *)x->qs);
    /* keeps w in a register: GCC otherwise folds the load into both vpabsb and vpsignb, two
     * loads that mostly straddle cache lines (34-byte blocks), measured 13 % slower */
    __asm__("" : "+x"(w));
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(w),
                               _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)y->qs), w));
}

static inline __m256i q8_0_pair_vnni(const block_q8_0 *x0, const block_q8_0 *x1, const block_q8_0 *y0, const block_q8_0 *y1) {
    const __m256i p0 = q8_0_block_vnni(x0, y0), p1 = q8_0_block_vnni(x1, y1);
    return _mm256_add_epi32(_mm256_permute2x128_si256(p0, p1, 0x20), _mm256_permute2x128_si256(p0, p1, 0x31));
}

BLOCK32_DOT(q4_0_vec_dot_avx512, block_q4_0, q4_0_pair_vnni)
BLOCK32_DOT(q8_0_vec_dot_avx512, block_q8_0, q8_0_pair_vnni)
BLOCK32_DOT(iq4_nl_vec_dot_avx512, block_iq4_nl, iq4_nl_pair_vnni)

/* ==== q4_K dequantize by table ==================================================================
 * A sub-block's outputs depend on nothing but its level: y = (d·sc)·q − dmin·m with the two
 * products rounded first. So the 16 values the reference computes, by its operations in its
 * order, are formed once per sub-block and looked up: vpermps reads only the low 4 bits of each
 * 32-bit index, so a zero-extended byte of qs indexes its low nibble as it is and its high
 * nibble after one shift. The same bits as the reference by construction, NaN and Inf included.
 * The AVX2 path converts, scales and offsets every element instead: in cache on one Zen 4 core
 * 41 → 56 GB/s (L1) and 37 → 50 GB/s (L2), bytes read + written. (q5_K's 32-entry table
 * through vpermt2ps, with its fifth bit rotated into each index, measured no faster than its
 * AVX2 path, so it keeps that.) */
static void q4_K_dequantize_avx512(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_q4_K *b = q;
    const __m512 iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int64_t i = 0, nb = rows * cols / 256; i < nb; i++, y += 256) {
        uint64_t sc, mn;
        q4_K_scales_mins(b[i].scales, &sc, &mn);
        /* d·sc_s and dmin·m_s of the 8 sub-blocks at once, broadcast from memory below */
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(b[i].d)), min = _mm256_set1_ps(_cvtsh_ss(b[i].dmin));
        float d1s[8], m1s[8];
        _mm256_storeu_ps(d1s, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc)))));
        _mm256_storeu_ps(m1s, _mm256_mul_ps(min, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)mn)))));
        for (int s = 0; s < 8; s++) {
            /* sub-block s: nibble s % 2 of qs[32·(s/2) + l], l < 32 */
            const __m512 t = _mm512_sub_ps(_mm512_mul_ps(_mm512_set1_ps(d1s[s]), iota), _mm512_set1_ps(m1s[s]));
            for (int k = 0; k < 2; k++) {
                __m512i idx = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(b[i].qs + 32 * (s / 2) + 16 * k)));
                if (s % 2) idx = _mm512_srli_epi32(idx, 4);
                _mm512_storeu_ps(y + 32 * s + 16 * k, _mm512_permutexvar_ps(idx, t));
            }
        }
    }
}

/* ==== q4_0, iq4_nl dequantize by table =========================================================
 * As q4_K above: y = value(q)·d for a block's 16 possible values, (q − 8) for q4_0 and the
 * codebook for iq4_nl, formed once per block (the product commutes, so the same bits as the
 * reference's value·d or d·value) and looked up for the low nibbles, elements 0–15, and the
 * high ones, 16–31. Each block is 18 bytes: fp16 d, then the 16 bytes of nibbles. In cache on
 * one Zen 4 core, against the AVX2 path's sign-extend, convert and multiply: q4_0 65 → 97 GB/s
 * (L1) and 45 → 75 (L3), iq4_nl 52 → 96 and 48 → 72. */
_Static_assert(sizeof(block_q4_0) == 18 && sizeof(block_iq4_nl) == 18, "fp16 d + 16 bytes");

static inline void nibble32_dequantize(const uint8_t *blk, __m512 values, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, blk += 18, y += 32) {
        uint16_t d;
        memcpy(&d, blk, 2);
        const __m512 t = _mm512_mul_ps(values, _mm512_set1_ps(_cvtsh_ss(d)));
        const __m512i idx = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(blk + 2)));
        _mm512_storeu_ps(y, _mm512_permutexvar_ps(idx, t));
        _mm512_storeu_ps(y + 16, _mm512_permutexvar_ps(_mm512_srli_epi32(idx, 4), t));
    }
}

static void q4_0_dequantize_avx512(const void *q, float *y, int64_t rows, int64_t cols) {
    const __m512 v = _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7);
    nibble32_dequantize(q, v, y, rows * cols / 32);
}

static void iq4_nl_dequantize_avx512(const void *q, float *y, int64_t rows, int64_t cols) {
    const __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)qb_kvalues_iq4nl)));
    nibble32_dequantize(q, v, y, rows * cols / 32);
}

/* ==== q3_K quantize ============================================================================
 * The reference's make_q3_quants (ggml_common.c, do_rmse) per sub-block of 16: first levels
 * l = clamp(nearest_int(−4·x/max)), the sums Σ w·x·l and Σ w·l² (w = x²), then up to 5
 * sweeps, each visiting the elements in order and accepting a visit's new level when it
 * raises (Σ w·x·l)² / Σ w·l². The same bytes (format.h invariant 5) by the same float
 * operations, on two observations:
 *  - a visit changes nothing unless its element's quotient q = x·sl2/slx rounds to another
 *    level. Whether q_exact lies strictly between the floats just inside l ± ½ (q3_bounds)
 *    is the sign of one FMA each (t − b·slx, rounded once, keeps its sign), and then fl(q)
 *    lies between them too, so q3_moves can clear a visit without the divide, and it clears
 *    all but ~3 of a super-block's 256 first-sweep visits (N(0, σ) weights);
 *  - within a sweep the state changes only when a visit accepts, so from one state every
 *    later visit can be evaluated at once (q3_step) and the first that accepts is the visit
 *    the scalar code takes.
 * q3_search runs the first levels, their sums (lane j: sub-block j, so each sum keeps its
 * order) and q3_moves for the first sweep in lanes; the ~3 sub-blocks where a visit may move
 * are queued, and q3_sweeps finishes them Q3_SLOTS at a time, one zmm a sub-block, because a
 * step is a chain of ~60 cycles (divide, round, compare, permute). */

/* ggml's nearest_int per lane by its own float-adder trick (the same integers out of range). */
static inline __m512i nearest_int_z(__m512 v) {
    const __m512i t = _mm512_castps_si512(_mm512_add_ps(v, _mm512_set1_ps(12582912.f)));
    return _mm512_sub_epi32(_mm512_and_si512(t, _mm512_set1_epi32(0x007fffff)), _mm512_set1_epi32(0x00400000));
}

/* The first level clamp(nearest_int(iscale·x), −4, 3) as a float: |iscale·x| ≤ 4·(1 + 2^-23)
 * (iscale = −4/max), where nearest_int is round-to-nearest-even. Sub-blocks below
 * QB_GGML_GROUP_MAX_EPS (an iscale that may be Inf) are discarded by the caller. */
static inline __m512 q3_first_level_z(__m512 iscale, __m512 x) {
    const __m512 r = _mm512_roundscale_ps(_mm512_mul_ps(iscale, x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return _mm512_min_ps(_mm512_max_ps(r, _mm512_set1_ps(-4.f)), _mm512_set1_ps(3.f));
}

/* Per level l + 4: the floats next inside (l − ½, l + ½), at the clamped ends nearest_int's
 * exact range ±4194303 (beyond it the trick's integers are arbitrary). */
static const float q3_lo[16] = {-4194303.f, -3.4999998f, -2.4999998f, -1.4999999f, -0.49999997f, 0.50000006f, 1.5000001f, 2.5000002f};
static const float q3_hi[16] = {-3.5000002f, -2.5000002f, -1.5000001f, -0.50000006f, 0.49999997f, 1.4999999f, 2.4999998f, 4194303.f};

/* The lanes whose visit may change the level l: slx > 0 (else the scalar code skips the
 * visit) and q = t/slx (t = x·sl2) not provably inside l's bounds. */
static inline __mmask16 q3_moves(__m512 slx, __m512 t, __m512 l) {
    const __m512 zero = _mm512_setzero_ps();
    const __m512i i = _mm512_add_epi32(_mm512_cvtps_epi32(l), _mm512_set1_epi32(4));
    const __m512 lo = _mm512_permutexvar_ps(i, _mm512_loadu_ps(q3_lo)), hi = _mm512_permutexvar_ps(i, _mm512_loadu_ps(q3_hi));
    const __mmask16 above = _mm512_cmp_ps_mask(_mm512_fnmadd_ps(lo, slx, t), zero, _CMP_GT_OQ);
    const __mmask16 inside = _mm512_mask_cmp_ps_mask(above, _mm512_fnmadd_ps(hi, slx, t), zero, _CMP_LT_OQ);
    return _mm512_cmp_ps_mask(slx, zero, _CMP_GT_OQ) & (__mmask16)~inside;
}

/* A queued sub-block: its 16 values, first levels' iscale and sums, and where its scale goes. */
typedef struct {
    const float *x;
    float iscale, sumlx, suml2;
    float *scale;
} q3_group;

/* A sub-block's sweep state: values, levels and their sum terms, the sums broadcast, the next
 * visit, whether this sweep accepted one, and how many sweeps ended. */
typedef struct {
    __m512 x, w, wx, l, wxl, wll, s1, s2;
    unsigned from;
    int changed, sweeps;
    const q3_group *g;
} q3_state;

static void q3_start(q3_state *st, const q3_group *g) {
    st->x = _mm512_loadu_ps(g->x);
    st->w = _mm512_mul_ps(st->x, st->x);
    st->wx = _mm512_mul_ps(st->w, st->x);
    st->l = q3_first_level_z(_mm512_set1_ps(g->iscale), st->x);
    st->wxl = _mm512_mul_ps(st->wx, st->l);
    st->wll = _mm512_mul_ps(_mm512_mul_ps(st->w, st->l), st->l);
    st->s1 = _mm512_set1_ps(g->sumlx), st->s2 = _mm512_set1_ps(g->suml2);
    st->from = 0, st->changed = 0, st->sweeps = 0, st->g = g;
}

/* Visits st->from … 15 from the current state and takes the first that accepts. When none
 * does, the sweep ends, and the next (if it changed a level and was not the fifth) starts from
 * the same state: its first accepting visit, if any, is the first of all 16 evaluated here, so
 * one step does both. Returns 1 when the sweeps are over. */
static inline int q3_step(q3_state *st) {
    const __m512 slx = _mm512_sub_ps(st->s1, st->wxl), sl2 = _mm512_sub_ps(st->s2, st->wll), t = _mm512_mul_ps(st->x, sl2);
    const unsigned rest = 0xFFFFu << st->from, all = st->changed && st->sweeps < 4 ? 0xFFFFu : rest;
    if (!(q3_moves(slx, t, st->l) & all)) return 1;
    /* the scalar code's operations, in every lane */
    const __m512 zero = _mm512_setzero_ps();
    const __m512i n = _mm512_max_epi32(_mm512_min_epi32(nearest_int_z(_mm512_div_ps(t, slx)), _mm512_set1_epi32(3)), _mm512_set1_epi32(-4));
    const __m512 nl = _mm512_cvtepi32_ps(n), wxn = _mm512_mul_ps(st->wx, nl), wnn = _mm512_mul_ps(_mm512_mul_ps(st->w, nl), nl);
    const __m512 slx2 = _mm512_add_ps(slx, wxn), sl22 = _mm512_add_ps(sl2, wnn);
    __mmask16 k = _mm512_cmp_ps_mask(slx, zero, _CMP_GT_OQ);
    k = _mm512_mask_cmp_ps_mask(k, nl, st->l, _CMP_NEQ_OQ);
    k = _mm512_mask_cmp_ps_mask(k, sl22, zero, _CMP_GT_OQ);
    k = _mm512_mask_cmp_ps_mask(k, _mm512_mul_ps(_mm512_mul_ps(slx2, slx2), st->s2), _mm512_mul_ps(_mm512_mul_ps(st->s1, st->s1), sl22),
                                _CMP_GT_OQ);
    /* branch-free from here: which visit accepts is data, a branch on it a misprediction */
    const unsigned in_rest = (unsigned)k & rest, ended = in_rest == 0;
    const int i = __builtin_ctz((ended ? (unsigned)k & all : in_rest) | 0x10000u), took = i < 16;
    const __mmask16 at = (__mmask16)(1u << i), keep = (__mmask16)(took ? 0xFFFF : 0);
    st->l = _mm512_mask_mov_ps(st->l, at, nl);
    st->wxl = _mm512_mask_mov_ps(st->wxl, at, wxn);
    st->wll = _mm512_mask_mov_ps(st->wll, at, wnn);
    const __m512i idx = _mm512_set1_epi32(i & 15);
    st->s1 = _mm512_mask_permutexvar_ps(st->s1, keep, idx, slx2);
    st->s2 = _mm512_mask_permutexvar_ps(st->s2, keep, idx, sl22);
    st->sweeps += (int)ended;
    st->from = (unsigned)(i + 1) & 31; /* i = 16: over, from unused */
    st->changed = 1;
    return !took;
}

/* The sweeps of the n queued sub-blocks, Q3_SLOTS stepping in turn (each slot refilled from
 * the queue as its sub-block finishes), so that their latency chains overlap: 1 slot took
 * 1.6x as long, and more than 4 gave no more. */
#define Q3_SLOTS 4
static void q3_sweeps(const q3_group *q, int n) {
    q3_state st[Q3_SLOTS];
    int next = 0, busy = 0;
    while (busy < Q3_SLOTS && next < n) q3_start(&st[busy++], &q[next++]);
    while (busy)
        for (int k = 0; k < busy; k++) {
            if (!q3_step(&st[k])) continue;
            const float sumlx = _mm512_cvtss_f32(st[k].s1), suml2 = _mm512_cvtss_f32(st[k].s2);
            *st[k].g->scale = suml2 > 0.0f ? sumlx / suml2 : 0.0f;
            if (next < n)
                q3_start(&st[k], &q[next++]);
            else
                st[k--] = st[--busy];
        }
}

/* out[i], lane j = x[16j + i]: the 16 sub-blocks of a super-block, one element a vector. */
static void transpose16x16(const float *x, __m512 out[16]) {
    __m512 t[16], u[16], v[16];
    for (int j = 0; j < 16; j += 2) {
        const __m512 a = _mm512_loadu_ps(x + 16 * j), b = _mm512_loadu_ps(x + 16 * j + 16);
        t[j] = _mm512_unpacklo_ps(a, b);
        t[j + 1] = _mm512_unpackhi_ps(a, b);
    }
    for (int j = 0; j < 16; j += 4) {
        u[j] = _mm512_shuffle_ps(t[j], t[j + 2], 0x44);
        u[j + 1] = _mm512_shuffle_ps(t[j], t[j + 2], 0xEE);
        u[j + 2] = _mm512_shuffle_ps(t[j + 1], t[j + 3], 0x44);
        u[j + 3] = _mm512_shuffle_ps(t[j + 1], t[j + 3], 0xEE);
    }
    for (int h = 0; h < 16; h += 8)
        for (int k = 0; k < 4; k++) {
            v[h + k] = _mm512_shuffle_f32x4(u[h + k], u[h + k + 4], 0x88);
            v[h + k + 4] = _mm512_shuffle_f32x4(u[h + k], u[h + k + 4], 0xDD);
        }
    for (int k = 0; k < 8; k++) {
        out[k] = _mm512_shuffle_f32x4(v[k], v[k + 8], 0x88);
        out[k + 8] = _mm512_shuffle_f32x4(v[k], v[k + 8], 0xDD);
    }
}

/* The first levels, sums and first-sweep screen of the super-block xb's 16 sub-blocks in
 * lanes: the scales of those no visit may move into scale[], the others queued. */
static void q3_search(const float *xb, float *scale, q3_group *queue, int *nq) {
    const __m512 zero = _mm512_setzero_ps();
    __m512 x[16], amax = zero, max = zero;
    transpose16x16(xb, x);
    for (int i = 0; i < 16; i++) { /* the signed value of largest magnitude, the first on ties */
        const __m512 ax = _mm512_abs_ps(x[i]);
        const __mmask16 gt = _mm512_cmp_ps_mask(ax, amax, _CMP_GT_OQ);
        amax = _mm512_mask_mov_ps(amax, gt, ax);
        max = _mm512_mask_mov_ps(max, gt, x[i]);
    }
    const __mmask16 live = _mm512_cmp_ps_mask(amax, _mm512_set1_ps(QB_GGML_GROUP_MAX_EPS), _CMP_GE_OQ);
    const __m512 iscale = _mm512_div_ps(_mm512_set1_ps(-4.f), max);
    __m512 s1 = zero, s2 = zero, w[16], wx[16], l[16], wxl[16], wll[16];
    for (int i = 0; i < 16; i++) {
        w[i] = _mm512_mul_ps(x[i], x[i]);
        wx[i] = _mm512_mul_ps(w[i], x[i]);
        l[i] = q3_first_level_z(iscale, x[i]);
        wxl[i] = _mm512_mul_ps(wx[i], l[i]);
        wll[i] = _mm512_mul_ps(_mm512_mul_ps(w[i], l[i]), l[i]);
        s1 = _mm512_add_ps(s1, wxl[i]);
        s2 = _mm512_add_ps(s2, wll[i]);
    }
    __mmask16 move = 0;
    for (int i = 0; i < 16; i++) move |= q3_moves(_mm512_sub_ps(s1, wxl[i]), _mm512_mul_ps(x[i], _mm512_sub_ps(s2, wll[i])), l[i]);
    /* make_q3_quants' scale: sumlx/suml2 where suml2 > 0, and 0 for a sub-block below the eps */
    _mm512_storeu_ps(scale, _mm512_maskz_div_ps(_mm512_mask_cmp_ps_mask(live, s2, zero, _CMP_GT_OQ), s1, s2));
    move &= live;
    if (!move) return;
    float is[16], a[16], b[16];
    _mm512_storeu_ps(is, iscale), _mm512_storeu_ps(a, s1), _mm512_storeu_ps(b, s2);
    for (unsigned m = move; m; m &= m - 1) {
        const int j = __builtin_ctz(m);
        queue[(*nq)++] = (q3_group){xb + 16 * j, is[j], a[j], b[j], scale + j};
    }
}

/* Super-blocks searched before their queued sub-blocks sweep together: ~50 sub-blocks, enough
 * to keep q3_sweeps' slots full. */
#define Q3_BATCH 16

static qb_status q3_K_quantize_avx512(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    const int64_t nb = rows * cols / 256;
    if (imp || cols % 256) return qb_x86_q3_K_quantize_avx2(x, q, rows, cols, imp);
    block_q3_K *y = q;
    for (int64_t b0 = 0; b0 < nb; b0 += Q3_BATCH) {
        const int n = (int)(nb - b0 < Q3_BATCH ? nb - b0 : Q3_BATCH);
        const float *xb = x + 256 * b0;
        /* checked a batch at a time, which the search then reads from cache; a value that is
         * not finite sends the whole call to the AVX2 path, whose reference reports it */
        if (!qb_x86_all_finite(xb, 256 * (int64_t)n)) return qb_x86_q3_K_quantize_avx2(x, q, rows, cols, imp);
        float scales[Q3_BATCH][16];
        q3_group queue[16 * Q3_BATCH];
        int nq = 0;
        for (int t = 0; t < n; t++) q3_search(xb + 256 * t, scales[t], queue, &nq);
        q3_sweeps(queue, nq);
        /* the sub-scales of all, then the levels: each sub-scale step is a latency chain (two
         * divides, a horizontal max), which overlap when they follow one another */
        for (int t = 0; t < n; t++) qb_x86_q3_K_scales(scales[t], y + t);
        for (int t = 0; t < n; t++) qb_x86_q3_K_levels(xb + 256 * t, NULL, y + t);
        y += n;
    }
    return QB_OK;
}

/* ==== installation ============================================================================ */

static const struct {
    const char *name;
    qb_status (*quantize)(const float *, void *, int64_t, int64_t, const float *);
    void (*dequantize)(const void *, float *, int64_t, int64_t);
    float (*vec_dot)(const void *, const void *, int64_t);
    void (*vec_dot2)(const void *, size_t, const void *, int64_t, float *);
    size_t (*act_prep_bytes)(int64_t);
    void (*act_prep)(const void *, int64_t, void *);
    int vbmi; /* applied over the rows before it, only on a CPU with AVX512_VBMI */
} table_avx512[] = {
    {"q3_K", q3_K_quantize_avx512, NULL, NULL, NULL, NULL, NULL, 0},
    {"q4_K", NULL, q4_K_dequantize_avx512, q4_K_vec_dot_avx512, q4_K_vec_dot2_avx512, q8_K_prep_bytes, q8_K_prep_act, 0},
    {"q5_K", NULL, NULL, q5_K_vec_dot_avx512, q5_K_vec_dot2_avx512, q8_K_prep_bytes, q8_K_prep_act, 0},
    {"q6_K", NULL, NULL, q6_K_vec_dot_avx512, NULL, NULL, NULL, 0},
    {"q4_0", NULL, q4_0_dequantize_avx512, q4_0_vec_dot_avx512, q4_0_vec_dot2_avx512, q8_0_prep_bytes, q8_0_prep_act, 0},
    {"q8_0", NULL, NULL, q8_0_vec_dot_avx512, NULL, NULL, NULL, 0},
    {"iq4_nl", NULL, iq4_nl_dequantize_avx512, iq4_nl_vec_dot_avx512, iq4_nl_vec_dot2_avx512, q8_0_prep_bytes, q8_0_prep_act, 0},
    {"iq4_nl", NULL, NULL, NULL, iq4_nl_vbmi_vec_dot2_avx512, q8_0_prep_bytes, q8_0_prep_act, 1},
};

void qb_formats_init_x86_avx512(qb_format *const *table, int n) {
    /* QB_NO_VBMI=1 keeps the pshufb form, so the tests cover it on a CPU with VBMI */
    const char *novbmi = getenv("QB_NO_VBMI");
    const int vbmi = __builtin_cpu_supports("avx512vbmi") && !(novbmi && *novbmi && strcmp(novbmi, "0") != 0);
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < sizeof table_avx512 / sizeof table_avx512[0]; k++) {
            qb_format *f = table[i];
            if (strcmp(f->name, table_avx512[k].name) != 0 || !f->vec_dot_type || (table_avx512[k].vbmi && !vbmi)) continue;
            if (table_avx512[k].quantize) f->quantize = table_avx512[k].quantize;
            if (table_avx512[k].dequantize) f->dequantize = table_avx512[k].dequantize;
            if (table_avx512[k].vec_dot) f->vec_dot = table_avx512[k].vec_dot;
            if (table_avx512[k].vec_dot2) {
                f->vec_dot2 = table_avx512[k].vec_dot2;
                f->act_prep_bytes = table_avx512[k].act_prep_bytes;
                f->act_prep = table_avx512[k].act_prep;
            }
            f->impl = table_avx512[k].vbmi ? "avx2,avx512,vbmi" : "avx2,avx512";
        }
}
