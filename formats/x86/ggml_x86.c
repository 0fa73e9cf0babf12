/* ggml_x86.c — AVX2/FMA/F16C fast paths for the GGUF block formats (q8_0, q8_1, q8_K, q4_0,
 * iq4_nl, iq4_xs, q2_K…q6_K), compiled with -mavx2 -mfma -mf16c and installed by
 * qb_formats_init_x86 (float_x86.c) only on a CPU that reports all three. What each path
 * keeps from its reference in ggml_legacy.c / ggml_k.c / ggml_iq.c (format.h invariants):
 *
 *  - dequantize: the reference's float operations per element, in its order and without
 *    FMA (the build passes -ffp-contract=off and no intrinsic here fuses), so the same bits.
 *  - quantize: the same bytes. Rounding is reproduced lane by lane: roundf as truncate plus
 *    a half-step correction, ggml's nearest_int with its own float-adder trick (so even
 *    out-of-range lanes match), fp16 scales through F16C's round-to-nearest-even (equal to
 *    qb_f32_to_f16 for every non-NaN float). The scale searches sum in element order in
 *    float, and reordering those sums would change the chosen scale, so they are vectorized
 *    across independent searches, never across the elements of one sum:
 *      iq4_nl, iq4_xs  the 16 candidate inverse scales of a 32-element group run in 16 lanes
 *                      (they do not depend on each other; picking the best stays scalar, in
 *                      the reference's order);
 *      q4_K, q5_K      the 8 sub-blocks of each of two super-blocks run make_qkx2_quants
 *                      (or, with an imatrix, make_qkx3_quants) in 2 × 8 lanes: within a
 *                      sub-block the candidates depend on each other through the running min,
 *                      so each lane repeats the scalar sequence exactly, accepting or not with
 *                      a per-lane mask;
 *      q2_K            the 16 sub-blocks of 16 through make_qkx2/qkx3_quants, likewise;
 *      q6_K            the 16 sub-blocks through make_qx_quants, likewise (and q3_K with an
 *                      imatrix);
 *      q3_K            the 16 sub-blocks through make_q3_quants: the initial levels, their
 *                      sums and the first sweep's every visit from that state in lanes; the
 *                      sub-blocks where a visit accepts (one in five) then sweep on one at a
 *                      time, each sweep evaluating all its later visits at once from the state
 *                      and taking the first that accepts (q3_sweeps). ggml_avx512.c runs the
 *                      same search its own faster way and shares the steps after it
 *                      (ggml_x86.h: qb_x86_q3_K_scales, qb_x86_q3_K_levels).
 *    Two groups of 8 lanes run interleaved (NG) because the searches' running sums are
 *    latency-bound chains; the searches keep levels as floats, rounded by vroundps where the
 *    range check of level_mode proves it equal to nearest_int. The remaining per-super-block
 *    steps (sub-scale quantization, make_qp_quants) are the reference's scalar code — for
 *    q2_K and q3_K literally, through ggml_k.c's qb_ggml_q2_K_scales / qb_ggml_q3_K_scales
 *    (q3_K's imatrix sub-scale search through qx_candidates, its 19 candidates in lanes;
 *    without one, qb_x86_q3_K_scales does its operations in vectors);
 *    re-quantization and packing are elementwise and vectorized. Blocks whose inverse scale
 *    overflows to Inf (amax below ~1e-36), where the reference converts Inf/NaN to int8, are
 *    handed to the reference itself, as are imatrix rows for q4_0 and inputs that are not
 *    finite (the reference reports them).
 *  - vec_dot: exact integer sums per block (maddubs with the unsigned operand in [0, 128]
 *    and the signed one never −128). The 32-element types scale each block's 8 integer
 *    lanes by d_w·d_a with FMA into two float accumulators, converting the fp16 scales of 8
 *    blocks at a time; the 256-element types scale each super-block's exact integer lanes
 *    into vector accumulators, with one horizontal sum per row, not per super-block (the
 *    affine q2_K/q4_K/q5_K in double: their min term can nearly cancel the main one). The
 *    float order differs from ggml's generic code, within format.h's tolerance
 *    1e-5·Σ|w·a|. The K-quant dots take the activation's per-16 sums from its bsums, as ggml
 *    does (q8_K's quantizer writes them as the sums of its qs): q2_K/q4_K/q5_K for the min
 *    term; q3_K and q6_K for their level offset (4, 32), so that the levels enter maddubs
 *    unsigned and the offset is subtracted once per sub-block. q2_K, q3_K and q6_K share the
 *    sub-block-of-16 integer loop (sub16_isum).
 *
 * Not here, so on the reference paths: q4_1, q5_0, q5_1, mxfp4, nvfp4, tq1_0, tq2_0, q1_0,
 * q2_0 (all ops) and q8_1's dequantize. */
#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "../format.h"
#include "../ggml_blocks.h"
#include "../ggml_common.h"
#include "block32_dot.h"
#include "ggml_x86.h"

/* The table rows, for the reference paths that rare blocks fall back to (set at init). */
static const qb_format *fmt_q8_0, *fmt_q8_1, *fmt_q8_K, *fmt_q4_0, *fmt_q2_K, *fmt_q3_K, *fmt_q4_K, *fmt_q5_K,
    *fmt_q6_K, *fmt_iq4_nl, *fmt_iq4_xs;

/* ==== helpers ============================================================================== */

static inline float f16_to_f32(uint16_t h) { return _cvtsh_ss(h); }

/* Only for finite inputs: F16C keeps a NaN's payload where qb_f32_to_f16 writes 0x7E00. */
static inline uint16_t f32_to_f16_finite(float x) {
    return (uint16_t)_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

static inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float hmax_ps(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline int hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

static inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

/* ggml's nearest_int (ggml_common.c) per lane, by the same float-adder trick: RNE for
 * |v| ≤ 4194303 and, beyond, the same integers the scalar code computes. */
static inline __m256i nearest_int_v(__m256 v) {
    __m256i t = _mm256_castps_si256(_mm256_add_ps(v, _mm256_set1_ps(12582912.f)));
    return _mm256_sub_epi32(_mm256_and_si256(t, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x00400000));
}

/* roundf (half away from zero) per lane, exact for finite v: v − trunc(v) is exact. */
static inline __m256 roundf_v(__m256 v) {
    __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 up = _mm256_cmp_ps(abs_ps(_mm256_sub_ps(v, t)), _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    __m256 one = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(v, _mm256_set1_ps(-0.0f)));
    return _mm256_add_ps(t, _mm256_and_ps(up, one));
}

/* 32 int32 (four vectors, elements in order, each in [−128, 127]) → 32 int8. */
static inline __m256i pack_i32x32_i8(__m256i a, __m256i b, __m256i c, __m256i d) {
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* 32 levels in [0, 15] (four int32 vectors, elements 0…31) → 16 bytes, element j in the low
 * nibble of byte j and element j + 16 in its high nibble (FORMATS.md §5.3). */
static inline void pack_nibbles_v(__m256i l0, __m256i l1, __m256i l2, __m256i l3, uint8_t *qs) {
    __m256i a = _mm256_or_si256(l0, _mm256_slli_epi32(l2, 4)), b = _mm256_or_si256(l1, _mm256_slli_epi32(l3, 4));
    __m256i p = _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xD8);
    _mm_storeu_si128((__m128i *)qs, _mm_packus_epi16(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1)));
}

/* Four groups of 8 bytes (as 32 bytes in one register) widened to floats. */
static inline void u8x32_to_ps(__m256i v, __m256 out[4]) {
    __m128i lo = _mm256_castsi256_si128(v), hi = _mm256_extracti128_si256(v, 1);
    out[0] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo));
    out[1] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_unpackhi_epi64(lo, lo)));
    out[2] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi));
    out[3] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_unpackhi_epi64(hi, hi)));
}

static inline void i8x32_to_ps(__m256i v, __m256 out[4]) {
    __m128i lo = _mm256_castsi256_si128(v), hi = _mm256_extracti128_si256(v, 1);
    out[0] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo));
    out[1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(lo, lo)));
    out[2] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi));
    out[3] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(hi, hi)));
}

/* 1 when all n values are finite (a NaN or an Inf has every exponent bit set). */
int qb_x86_all_finite(const float *x, int64_t n) {
    const __m256i e = _mm256_set1_epi32(0x7f800000);
    __m256i bad = _mm256_setzero_si256();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i v = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(x + i)), e);
        bad = _mm256_or_si256(bad, _mm256_cmpeq_epi32(v, e));
    }
    for (; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return _mm256_testz_si256(bad, bad);
}

/* The value of largest magnitude among n (a multiple of 8) as the references pick it: the
 * first one, with its sign; 0 (never −0) when all are zero. */
static float signed_absmax(const float *x, int n, float *amax_out) {
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) m = _mm256_max_ps(m, abs_ps(_mm256_loadu_ps(x + i)));
    const float amax = hmax_ps(m);
    *amax_out = amax;
    if (amax == 0) return 0.0f;
    const __m256 va = _mm256_set1_ps(amax);
    for (int i = 0; i < n; i += 8) {
        int hit = _mm256_movemask_ps(_mm256_cmp_ps(abs_ps(_mm256_loadu_ps(x + i)), va, _CMP_EQ_OQ));
        if (hit) return x[i + __builtin_ctz((unsigned)hit)];
    }
    return 0.0f; /* not reached */
}

/* ==== q8_0, q8_1, q8_K: the activation quantizers ========================================== */

/* q8_0/q8_1's block: d = amax/127, q = roundf(x·(1/d)). Returns 0, writing nothing, when 1/d
 * overflows (amax < 127·2^-128): the caller runs the reference on that block. */
static int q8_block(const float *x, int8_t *qs, float *d_out) {
    __m256 v[4], m = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_loadu_ps(x + 8 * k);
        m = _mm256_max_ps(m, abs_ps(v[k]));
    }
    const float amax = hmax_ps(m), d = amax / 127, id = d ? 1.0f / d : 0.0f;
    if (!(id <= FLT_MAX)) return 0;
    const __m256 vid = _mm256_set1_ps(id);
    __m256i q[4];
    for (int k = 0; k < 4; k++) q[k] = _mm256_cvtps_epi32(roundf_v(_mm256_mul_ps(v[k], vid)));
    _mm256_storeu_si256((__m256i *)qs, pack_i32x32_i8(q[0], q[1], q[2], q[3]));
    *d_out = d;
    return 1;
}

/* Σ of 32 int8 (exact): sums of (q + 128) by SAD against zero. */
static inline int sum_i8x32(__m256i q) {
    __m256i s = _mm256_sad_epu8(_mm256_xor_si256(q, _mm256_set1_epi8((char)0x80)), _mm256_setzero_si256());
    return hsum_epi32(s) - 32 * 128; /* the SAD sums fit the low dword of each qword */
}

static qb_status q8_0_quantize_avx2(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    if (cols % 32 || !qb_x86_all_finite(x, rows * cols)) return fmt_q8_0->quantize_ref(x, q, rows, cols, imp);
    block_q8_0 *b = q;
    for (int64_t i = 0, nb = rows * cols / 32; i < nb; i++) {
        float d;
        if (q8_block(x + 32 * i, b[i].qs, &d))
            b[i].d = f32_to_f16_finite(d);
        else
            fmt_q8_0->quantize_ref(x + 32 * i, &b[i], 1, 32, NULL);
    }
    return QB_OK;
}

static qb_status q8_1_quantize_avx2(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    if (cols % 32 || !qb_x86_all_finite(x, rows * cols)) return fmt_q8_1->quantize_ref(x, q, rows, cols, imp);
    block_q8_1 *b = q;
    for (int64_t i = 0, nb = rows * cols / 32; i < nb; i++) {
        float d;
        if (q8_block(x + 32 * i, b[i].qs, &d)) {
            const int sum = sum_i8x32(_mm256_loadu_si256((const __m256i *)b[i].qs));
            b[i].d = f32_to_f16_finite(d);
            b[i].s = f32_to_f16_finite(sum * d);
        } else {
            fmt_q8_1->quantize_ref(x + 32 * i, &b[i], 1, 32, NULL);
        }
    }
    return QB_OK;
}

/* q8_K's super-block: iscale = −127/max (max the signed extreme), q = min(127,
 * nearest_int(iscale·x)), d = 1/iscale in fp32, bsums the sums of q per 16. Returns 0 when
 * iscale overflows. */
static int q8_K_block(const float *x, block_q8_K *y) {
    float amax;
    const float max = signed_absmax(x, 256, &amax);
    if (!amax) {
        memset(y, 0, sizeof *y);
        return 1;
    }
    const float iscale = -127.f / max;
    if (!(fabsf(iscale) <= FLT_MAX)) return 0;
    const __m256 vs = _mm256_set1_ps(iscale);
    const __m256i top = _mm256_set1_epi32(127);
    for (int c = 0; c < 8; c++) {
        __m256i q[4];
        for (int k = 0; k < 4; k++)
            q[k] = _mm256_min_epi32(nearest_int_v(_mm256_mul_ps(vs, _mm256_loadu_ps(x + 32 * c + 8 * k))), top);
        __m256i p = pack_i32x32_i8(q[0], q[1], q[2], q[3]);
        _mm256_storeu_si256((__m256i *)(y->qs + 32 * c), p);
        /* per 8 bytes, Σ(q + 128) in the low dword of each qword */
        __m256i s = _mm256_sad_epu8(_mm256_xor_si256(p, _mm256_set1_epi8((char)0x80)), _mm256_setzero_si256());
        int32_t s4[8];
        _mm256_storeu_si256((__m256i *)s4, s);
        y->bsums[2 * c] = (int16_t)(s4[0] + s4[2] - 16 * 128);
        y->bsums[2 * c + 1] = (int16_t)(s4[4] + s4[6] - 16 * 128);
    }
    y->d = 1 / iscale;
    return 1;
}

static qb_status q8_K_quantize_avx2(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    if (cols % 256 || !qb_x86_all_finite(x, rows * cols)) return fmt_q8_K->quantize_ref(x, q, rows, cols, imp);
    block_q8_K *b = q;
    for (int64_t i = 0, nb = rows * cols / 256; i < nb; i++)
        if (!q8_K_block(x + 256 * i, &b[i])) fmt_q8_K->quantize_ref(x + 256 * i, &b[i], 1, 256, NULL);
    return QB_OK;
}

/* ==== q4_0 ================================================================================== */

/* d = max/−8, L = min(15, trunc(x·(1/d) + 8.5)). Returns 0 when 1/d overflows. */
static int q4_0_block(const float *x, block_q4_0 *y) {
    float amax;
    const float max = signed_absmax(x, 32, &amax), d = max / -8, id = d ? 1.0f / d : 0.0f;
    if (!(fabsf(id) <= FLT_MAX)) return 0;
    const __m256 vid = _mm256_set1_ps(id), half = _mm256_set1_ps(8.5f);
    __m256i l[4];
    for (int k = 0; k < 4; k++) {
        __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), vid), half);
        l[k] = _mm256_min_epi32(_mm256_cvttps_epi32(v), _mm256_set1_epi32(15));
    }
    y->d = f32_to_f16_finite(d);
    pack_nibbles_v(l[0], l[1], l[2], l[3], y->qs);
    return 1;
}

static qb_status q4_0_quantize_avx2(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    if (imp || cols % 32 || !qb_x86_all_finite(x, rows * cols)) return fmt_q4_0->quantize_ref(x, q, rows, cols, imp);
    block_q4_0 *b = q;
    for (int64_t i = 0, nb = rows * cols / 32; i < nb; i++)
        if (!q4_0_block(x + 32 * i, &b[i])) fmt_q4_0->quantize_ref(x + 32 * i, &b[i], 1, 32, NULL);
    return QB_OK;
}

/* ==== iq4_nl, iq4_xs: the codebook search, 16 candidate scales in 16 lanes ================== */

static const float kvf[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/* kvf[i] for i in [0, 15]. */
static inline __m256 kv_lookup(__m256i i) {
    const __m256 t0 = _mm256_loadu_ps(kvf), t1 = _mm256_loadu_ps(kvf + 8);
    __m256 hi = _mm256_castsi256_ps(_mm256_cmpgt_epi32(i, _mm256_set1_epi32(7)));
    return _mm256_blendv_ps(_mm256_permutevar8x32_ps(t0, i), _mm256_permutevar8x32_ps(t1, i), hi);
}

/* ggml_iq.c's best_index per lane, and the codebook value it picks: lo = the bracketing
 * entry (14 − #{k ∈ 1…14 : v < kv[k]}, which also sends NaN to 15 as the scalar bisection
 * does), then the same float comparison v − kv[lo] < kv[lo+1] − v (ties to the higher). */
static inline __m256i iq4_best_index(__m256 v, __m256 *q) {
    __m256i lo = _mm256_set1_epi32(14);
    for (int k = 1; k < 15; k++)
        lo = _mm256_add_epi32(lo, _mm256_castps_si256(_mm256_cmp_ps(v, _mm256_set1_ps(kvf[k]), _CMP_LT_OQ)));
    const __m256i hi = _mm256_add_epi32(lo, _mm256_set1_epi32(1));
    const __m256 a = kv_lookup(lo), b = kv_lookup(hi);
    const __m256 take_lo = _mm256_cmp_ps(_mm256_sub_ps(v, a), _mm256_sub_ps(b, v), _CMP_LT_OQ);
    *q = _mm256_blendv_ps(b, a, take_lo);
    return _mm256_add_epi32(hi, _mm256_castps_si256(take_lo));
}

/* ggml_iq.c's group_scale: the weighted least-squares scale of the best of 16 candidates
 * (the start 1/d0 with d0 = max/127, then (t − 127)/max, t = −7…7). Lane c of the two
 * vectors accumulates candidate c's Σ w·q·x and Σ w·q² in element order, as fit_sums does. */
static float iq4_group_scale(const float *xb, const float *w) {
    float amax = 0, max = 0;
    for (int j = 0; j < 32; j++)
        if (fabsf(xb[j]) > amax) {
            amax = fabsf(xb[j]);
            max = xb[j];
        }
    if (amax < QB_GGML_GROUP_MAX_EPS) return 0;
    const float d0 = -max / qb_kvalues_iq4nl[0];
    float ids[16], sqx[16], sq2[16];
    ids[0] = 1 / d0;
    for (int t = -7; t <= 7; t++) ids[t + 8] = (t + qb_kvalues_iq4nl[0]) / max;
    const __m256 id0 = _mm256_loadu_ps(ids), id1 = _mm256_loadu_ps(ids + 8);
    __m256 sx0 = _mm256_setzero_ps(), s20 = _mm256_setzero_ps(), sx1 = _mm256_setzero_ps(), s21 = _mm256_setzero_ps();
    for (int j = 0; j < 32; j++) {
        const __m256 xj = _mm256_set1_ps(xb[j]), wj = _mm256_set1_ps(w[j]);
        __m256 q0, q1;
        iq4_best_index(_mm256_mul_ps(id0, xj), &q0);
        iq4_best_index(_mm256_mul_ps(id1, xj), &q1);
        const __m256 wq0 = _mm256_mul_ps(wj, q0), wq1 = _mm256_mul_ps(wj, q1);
        sx0 = _mm256_add_ps(sx0, _mm256_mul_ps(wq0, xj));
        s20 = _mm256_add_ps(s20, _mm256_mul_ps(wq0, q0));
        sx1 = _mm256_add_ps(sx1, _mm256_mul_ps(wq1, xj));
        s21 = _mm256_add_ps(s21, _mm256_mul_ps(wq1, q1));
    }
    _mm256_storeu_ps(sqx, sx0), _mm256_storeu_ps(sqx + 8, sx1);
    _mm256_storeu_ps(sq2, s20), _mm256_storeu_ps(sq2 + 8, s21);
    float d = sqx[0] / sq2[0], best = d * sqx[0];
    for (int c = 1; c < 16; c++)
        if (sq2[c] > 0 && sqx[c] * sqx[c] > best * sq2[c]) {
            d = sqx[c] / sq2[c];
            best = d * sqx[c];
        }
    return d;
}

/* Indices nearest x·id for a 32-element group into 16 nibble-packed bytes. */
static void iq4_pack_group(const float *xb, float id, uint8_t *qs) {
    const __m256 vid = _mm256_set1_ps(id);
    __m256i l[4];
    __m256 q;
    for (int k = 0; k < 4; k++) l[k] = iq4_best_index(_mm256_mul_ps(vid, _mm256_loadu_ps(xb + 8 * k)), &q);
    pack_nibbles_v(l[0], l[1], l[2], l[3], qs);
}

/* group_scales of ggml_iq.c over n = 32 or 256 elements. */
static void iq4_group_scales(const float *x, int n, const float *imp, float *scales) {
    float sigma2 = 0, w[32];
    for (int j = 0; j < n; j++) sigma2 += x[j] * x[j];
    sigma2 *= 2.f / n;
    for (int ib = 0; ib < n / 32; ib++) {
        const float *xb = x + 32 * ib;
        for (int j = 0; j < 32; j++) w[j] = imp ? imp[32 * ib + j] * sqrtf(sigma2 + xb[j] * xb[j]) : xb[j] * xb[j];
        scales[ib] = iq4_group_scale(xb, w);
    }
}

static qb_status iq4_nl_quantize_avx2(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    if (cols % 32 || !qb_x86_all_finite(x, rows * cols)) return fmt_iq4_nl->quantize_ref(x, q, rows, cols, imp);
    block_iq4_nl *y = q;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t b = 0; b < cols / 32; b++, y++) {
            const float *xb = x + r * cols + 32 * b;
            float d;
            iq4_group_scales(xb, 32, imp ? imp + 32 * b : NULL, &d);
            y->d = qb_f32_to_f16(d); /* d is NaN for an all-zero imatrix group, as in ggml */
            iq4_pack_group(xb, d ? 1 / d : 0, y->qs);
        }
    return QB_OK;
}

static qb_status iq4_xs_quantize_avx2(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    if (cols % 256 || !qb_x86_all_finite(x, rows * cols)) return fmt_iq4_xs->quantize_ref(x, q, rows, cols, imp);
    block_iq4_xs *y = q;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t b = 0; b < cols / 256; b++, y++) {
            const float *xs = x + r * cols + 256 * b;
            float scales[8], max_scale = 0, amax_scale = 0;
            iq4_group_scales(xs, 256, imp ? imp + 256 * b : NULL, scales);
            for (int ib = 0; ib < 8; ib++)
                if (fabsf(scales[ib]) > amax_scale) {
                    amax_scale = fabsf(scales[ib]);
                    max_scale = scales[ib];
                }
            const float d = -max_scale / 32, id = d ? 1 / d : 0.f;
            y->d = qb_f32_to_f16(d);
            y->scales_h = 0;
            memset(y->scales_l, 0, sizeof y->scales_l);
            for (int ib = 0; ib < 8; ib++) {
                int l = qb_ggml_nearest_int(id * scales[ib]);
                l = l < -32 ? -32 : l > 31 ? 31 : l;
                const float dl = d * l;
                iq4_pack_group(xs + 32 * ib, dl ? 1 / dl : 0.f, y->qs + 16 * ib);
                l += 32;
                y->scales_l[ib / 2] |= (uint8_t)((l & 0xF) << 4 * (ib % 2));
                y->scales_h |= (uint16_t)((l >> 4) << 2 * ib);
            }
        }
    return QB_OK;
}

/* ==== K-quants: scale searches with one sub-block per lane ================================= */

/* Independent 8-lane groups each search runs side by side: a search's running sums are long
 * chains of dependent adds, so two interleaved groups (16 sub-blocks) keep the FP units busy
 * where one would wait on latency. 16 sub-blocks of 16 (q2_K, q3_K, q6_K) fill them exactly. */
#define NG 2

static inline __m256i clamp_epi32(__m256i v, int lo, int hi) {
    return _mm256_max_epi32(_mm256_min_epi32(v, _mm256_set1_epi32(hi)), _mm256_set1_epi32(lo));
}

static inline __m256 select_ps(__m256 mask, __m256 if_true, __m256 if_false) {
    return _mm256_blendv_ps(if_false, if_true, mask);
}

static inline int any_ps(const __m256 m[NG]) {
    __m256 a = m[0];
    for (int g = 1; g < NG; g++) a = _mm256_or_ps(a, m[g]);
    return !_mm256_testz_ps(a, a);
}

/* How level_ps rounds: LEVEL_EXACT by ggml's float-adder trick, whose out-of-range integers
 * the scalar code also produces; LEVEL_RNE by round-to-nearest-even and float clamps, the
 * same value whenever |v| ≤ 4194303, where nearest_int is exactly RNE (a zero may come out as
 * −0, which no sum or square below can tell from +0): the caller guarantees that range. */
enum { LEVEL_EXACT, LEVEL_RNE };

/* The level clamp(nearest_int(v), lo, hi) as a float. */
static inline __m256 level_ps(__m256 v, int lo, int hi, int mode) {
    if (mode == LEVEL_EXACT) return _mm256_cvtepi32_ps(clamp_epi32(nearest_int_v(v), lo, hi));
    const __m256 r = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return _mm256_min_ps(_mm256_max_ps(r, _mm256_set1_ps((float)lo)), _mm256_set1_ps((float)hi));
}

/* The level_ps mode for v = iscale[g]·(x − min[g]), x in [xmin[g], max[g]]: LEVEL_RNE when
 * every |v| ≤ 4194303 in every lane but those in skip (whose levels are discarded) —
 * products and differences round monotonically, so the ends bound every element, and a NaN
 * fails the ordered compare — else LEVEL_EXACT. */
static int level_mode(const __m256 iscale[NG], const __m256 min[NG], const __m256 xmin[NG], const __m256 max[NG],
                      const __m256 skip[NG]) {
    __m256 ok = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
    for (int g = 0; g < NG; g++) {
        const __m256 span = _mm256_max_ps(abs_ps(_mm256_sub_ps(max[g], min[g])), abs_ps(_mm256_sub_ps(xmin[g], min[g])));
        const __m256 in = _mm256_cmp_ps(_mm256_mul_ps(abs_ps(iscale[g]), span), _mm256_set1_ps(4e6f), _CMP_LE_OQ);
        ok = _mm256_and_ps(ok, _mm256_or_ps(in, skip[g]));
    }
    return _mm256_movemask_ps(ok) == 0xFF ? LEVEL_RNE : LEVEL_EXACT;
}

/* make_qkx2_quants (qkx3 = 0) or make_qkx3_quants (qkx3 = 1, weights given) of ggml_common.c
 * for NG × 8 groups at once: lane j of x[i][g], w[i][g] is element i of group 8g + j (i < n).
 * Each lane does the scalar function's float operations in its order; acceptance is a
 * per-lane mask, and a flat group (the scalar's early return) never accepts. Levels are kept
 * as floats (level_ps; x − min is kept in xm and redone when a min is accepted); the levels
 * of the accepted candidate are recomputed at the end from its iscale and the min it used.
 * L[i][g] receives the levels, scale_out[g] and the_min_out[g] the return value and the min. */
static void qkx_lanes(int n, int nmax, const __m256 (*x)[NG], const __m256 (*w)[NG], __m256i (*L)[NG],
                      __m256 scale_out[NG], __m256 the_min_out[NG], float rmin, float rdelta, int nstep, int use_mad,
                      int qkx3) {
    const __m256 zero = _mm256_setzero_ps(), fnmax = _mm256_set1_ps((float)nmax);
    __m256 min[NG], xmin[NG], max[NG], sum_w[NG], sum_x[NG], flat[NG], iscale[NG], scale[NG], best[NG];
    __m256 xm[32][NG], Laux[32][NG], take_iscale[NG], take_min[NG];
    for (int g = 0; g < NG; g++) {
        min[g] = max[g] = x[0][g];
        sum_w[g] = w[0][g];
        sum_x[g] = _mm256_mul_ps(w[0][g], x[0][g]);
    }
    for (int i = 1; i < n; i++)
        for (int g = 0; g < NG; g++) {
            min[g] = select_ps(_mm256_cmp_ps(x[i][g], min[g], _CMP_LT_OQ), x[i][g], min[g]);
            max[g] = select_ps(_mm256_cmp_ps(x[i][g], max[g], _CMP_GT_OQ), x[i][g], max[g]);
            sum_w[g] = _mm256_add_ps(sum_w[g], w[i][g]);
            sum_x[g] = _mm256_add_ps(sum_x[g], _mm256_mul_ps(w[i][g], x[i][g]));
        }
    for (int g = 0; g < NG; g++) {
        xmin[g] = min[g];
        min[g] = select_ps(_mm256_cmp_ps(min[g], zero, _CMP_GT_OQ), zero, min[g]);
        flat[g] = qkx3 ? _mm256_cmp_ps(max[g], min[g], _CMP_LE_OQ) : _mm256_cmp_ps(max[g], min[g], _CMP_EQ_OQ);
        iscale[g] = _mm256_div_ps(fnmax, _mm256_sub_ps(max[g], min[g]));
        scale[g] = _mm256_div_ps(_mm256_set1_ps(1.0f), iscale[g]);
        best[g] = zero;
        take_iscale[g] = iscale[g], take_min[g] = min[g];
    }
    for (int i = 0; i < n; i++)
        for (int g = 0; g < NG; g++) xm[i][g] = _mm256_sub_ps(x[i][g], min[g]);
    int mode = level_mode(iscale, min, xmin, max, flat);
    for (int i = 0; i < n; i++)
        for (int g = 0; g < NG; g++) {
            const __m256 l = level_ps(_mm256_mul_ps(iscale[g], xm[i][g]), 0, nmax, mode);
            __m256 diff = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(scale[g], l), min[g]), x[i][g]);
            diff = use_mad ? abs_ps(diff) : _mm256_mul_ps(diff, diff);
            best[g] = _mm256_add_ps(best[g], _mm256_mul_ps(w[i][g], diff));
        }
    for (int is = 0; nstep >= 1 && is <= nstep; is++) {
        const __m256 num = _mm256_set1_ps(rmin + rdelta * is + nmax);
        __m256 sum_l[NG], sum_l2[NG], sum_xl[NG], ok[NG], this_scale[NG], this_min[NG], err[NG];
        for (int g = 0; g < NG; g++) {
            iscale[g] = _mm256_div_ps(num, _mm256_sub_ps(max[g], min[g]));
            sum_l[g] = sum_l2[g] = sum_xl[g] = zero;
        }
        mode = level_mode(iscale, min, xmin, max, flat);
        for (int i = 0; i < n; i++)
            for (int g = 0; g < NG; g++) {
                const __m256 l = level_ps(_mm256_mul_ps(iscale[g], xm[i][g]), 0, nmax, mode), wl = _mm256_mul_ps(w[i][g], l);
                Laux[i][g] = l;
                sum_l[g] = _mm256_add_ps(sum_l[g], wl);
                sum_l2[g] = _mm256_add_ps(sum_l2[g], _mm256_mul_ps(wl, l));
                sum_xl[g] = _mm256_add_ps(sum_xl[g], _mm256_mul_ps(wl, x[i][g]));
            }
        for (int g = 0; g < NG; g++) {
            const __m256 D = _mm256_sub_ps(_mm256_mul_ps(sum_w[g], sum_l2[g]), _mm256_mul_ps(sum_l[g], sum_l[g]));
            ok[g] = _mm256_andnot_ps(flat[g], _mm256_cmp_ps(D, zero, _CMP_GT_OQ));
            this_scale[g] = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_w[g], sum_xl[g]), _mm256_mul_ps(sum_x[g], sum_l[g])), D);
            this_min[g] = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_l2[g], sum_x[g]), _mm256_mul_ps(sum_l[g], sum_xl[g])), D);
            const __m256 pos = _mm256_cmp_ps(this_min[g], zero, _CMP_GT_OQ);
            this_min[g] = select_ps(pos, zero, this_min[g]);
            this_scale[g] = select_ps(pos, _mm256_div_ps(sum_xl[g], sum_l2[g]), this_scale[g]);
            err[g] = zero;
        }
        if (!any_ps(ok)) continue;
        for (int i = 0; i < n; i++)
            for (int g = 0; g < NG; g++) {
                const __m256 fit = _mm256_add_ps(_mm256_mul_ps(this_scale[g], Laux[i][g]), this_min[g]);
                __m256 diff = _mm256_sub_ps(fit, x[i][g]);
                diff = use_mad ? abs_ps(diff) : _mm256_mul_ps(diff, diff);
                err[g] = _mm256_add_ps(err[g], _mm256_mul_ps(w[i][g], diff));
            }
        __m256 take[NG];
        for (int g = 0; g < NG; g++) take[g] = _mm256_and_ps(ok[g], _mm256_cmp_ps(err[g], best[g], _CMP_LT_OQ));
        if (!any_ps(take)) continue;
        for (int g = 0; g < NG; g++) {
            take_iscale[g] = select_ps(take[g], iscale[g], take_iscale[g]);
            take_min[g] = select_ps(take[g], min[g], take_min[g]);
            best[g] = select_ps(take[g], err[g], best[g]);
            scale[g] = select_ps(take[g], this_scale[g], scale[g]);
            min[g] = select_ps(take[g], this_min[g], min[g]);
        }
        for (int i = 0; i < n; i++)
            for (int g = 0; g < NG; g++) xm[i][g] = _mm256_sub_ps(x[i][g], min[g]);
    }
    mode = level_mode(take_iscale, take_min, xmin, max, flat);
    for (int i = 0; i < n; i++)
        for (int g = 0; g < NG; g++) {
            const __m256 l = level_ps(_mm256_mul_ps(take_iscale[g], _mm256_sub_ps(x[i][g], take_min[g])), 0, nmax, mode);
            L[i][g] = _mm256_andnot_si256(_mm256_castps_si256(flat[g]), _mm256_cvtps_epi32(l));
        }
    for (int g = 0; g < NG; g++) {
        scale_out[g] = select_ps(flat[g], zero, scale[g]);
        the_min_out[g] = _mm256_xor_ps(min[g], _mm256_set1_ps(-0.0f)); /* −min, the sign of a zero included */
    }
}

/* The signed value of largest magnitude per lane (the first on ties, ggml's strict >) and
 * whether that magnitude is below QB_GGML_GROUP_MAX_EPS, the symmetric searches' start. */
static void signed_absmax_lanes(int n, const __m256 (*x)[NG], __m256 max[NG], __m256 tiny[NG]) {
    __m256 amax[NG];
    for (int g = 0; g < NG; g++) max[g] = amax[g] = _mm256_setzero_ps();
    for (int i = 0; i < n; i++)
        for (int g = 0; g < NG; g++) {
            const __m256 ax = abs_ps(x[i][g]), gt = _mm256_cmp_ps(ax, amax[g], _CMP_GT_OQ);
            amax[g] = select_ps(gt, ax, amax[g]);
            max[g] = select_ps(gt, x[i][g], max[g]);
        }
    for (int g = 0; g < NG; g++) tiny[g] = _mm256_cmp_ps(amax[g], _mm256_set1_ps(QB_GGML_GROUP_MAX_EPS), _CMP_LT_OQ);
}

/* make_qx_quants (ggml_common.c) with rmse_type 1 for NG × 8 groups at once (lane j of x[i][g]
 * is element i of group 8g + j; weights qw, or x² when qw is NULL). L[i][g] receives l + nmax.
 * Every |iscale·x| ≤ (nmax + 0.9)·|x|/amax stays far inside level_ps's LEVEL_RNE range,
 * except in the groups below QB_GGML_GROUP_MAX_EPS, whose results are replaced by zeros. */
static void qx_lanes(int n, int nmax, const __m256 (*x)[NG], const __m256 (*qw)[NG], __m256i (*L)[NG],
                     __m256 scale_out[NG]) {
    const __m256 zero = _mm256_setzero_ps();
    __m256 max[NG], tiny[NG], scale[NG], best[NG], wx[16][NG], w[16][NG];
    signed_absmax_lanes(n, x, max, tiny);
    for (int i = 0; i < n; i++)
        for (int g = 0; g < NG; g++) {
            w[i][g] = qw ? qw[i][g] : _mm256_mul_ps(x[i][g], x[i][g]);
            wx[i][g] = _mm256_mul_ps(w[i][g], x[i][g]);
        }
    __m256 best_iscale[NG]; /* the levels are those of the last candidate taken: kept as its iscale */
    for (int g = 0; g < NG; g++) best_iscale[g] = scale[g] = best[g] = zero; /* all set at is = 0 */
    for (int is = 0; is <= 18; is++) { /* is = 0: the start; then −9…9 without 0, ascending */
        const int t = is == 0 ? 0 : is <= 9 ? is - 10 : is - 9;
        const __m256 num = _mm256_set1_ps(is == 0 ? (float)-nmax : -(nmax + 0.1f * t));
        __m256 iscale[NG], sumlx[NG], suml2[NG];
        for (int g = 0; g < NG; g++) {
            iscale[g] = _mm256_div_ps(num, max[g]);
            sumlx[g] = suml2[g] = zero;
        }
        for (int i = 0; i < n; i++)
            for (int g = 0; g < NG; g++) {
                const __m256 l = level_ps(_mm256_mul_ps(iscale[g], x[i][g]), -nmax, nmax - 1, LEVEL_RNE);
                sumlx[g] = _mm256_add_ps(sumlx[g], _mm256_mul_ps(wx[i][g], l));
                suml2[g] = _mm256_add_ps(suml2[g], _mm256_mul_ps(_mm256_mul_ps(w[i][g], l), l));
            }
        if (is == 0) {
            for (int g = 0; g < NG; g++) {
                best_iscale[g] = iscale[g];
                const __m256 nz = _mm256_cmp_ps(suml2[g], zero, _CMP_NEQ_UQ);
                scale[g] = _mm256_and_ps(nz, _mm256_div_ps(sumlx[g], suml2[g]));
                best[g] = _mm256_mul_ps(scale[g], sumlx[g]);
            }
            continue;
        }
        __m256 take[NG];
        for (int g = 0; g < NG; g++)
            take[g] = _mm256_and_ps(_mm256_cmp_ps(suml2[g], zero, _CMP_GT_OQ),
                                    _mm256_cmp_ps(_mm256_mul_ps(sumlx[g], sumlx[g]), _mm256_mul_ps(best[g], suml2[g]), _CMP_GT_OQ));
        if (!any_ps(take)) continue;
        for (int g = 0; g < NG; g++) {
            const __m256 s = _mm256_div_ps(sumlx[g], suml2[g]);
            best_iscale[g] = select_ps(take[g], iscale[g], best_iscale[g]);
            scale[g] = select_ps(take[g], s, scale[g]);
            best[g] = select_ps(take[g], _mm256_mul_ps(s, sumlx[g]), best[g]);
        }
    }
    for (int i = 0; i < n; i++)
        for (int g = 0; g < NG; g++) {
            const __m256 lf = level_ps(_mm256_mul_ps(best_iscale[g], x[i][g]), -nmax, nmax - 1, LEVEL_RNE);
            const __m256i l = _mm256_add_epi32(_mm256_cvtps_epi32(lf), _mm256_set1_epi32(nmax));
            L[i][g] = _mm256_andnot_si256(_mm256_castps_si256(tiny[g]), l);
        }
    for (int g = 0; g < NG; g++) scale_out[g] = select_ps(tiny[g], zero, scale[g]);
}

/* make_qx_quants (ggml_common.c) with weights qw for one group of n ≤ 32, the same signature
 * and results: its 19 candidate inverse scales run in 3 × 8 lanes (each lane sums over the
 * elements in order, as the scalar loop does for its candidate), the pick runs in the
 * scalar's order, and the levels are those of the picked candidate, which the scalar code
 * recomputes on taking it. |iscale·x| ≤ (nmax + 0.9)·|x|/amax keeps level_ps's LEVEL_RNE
 * range. Other arguments go to the scalar function. */
static float qx_candidates(int n, int nmax, const float *x, uint8_t *L, int rmse_type, const float *qw) {
    if (!qw || rmse_type == 0 || n > 32) return qb_ggml_make_qx_quants(n, nmax, x, L, rmse_type, qw);
    float amax, max = qb_ggml_signed_absmax(x, n, &amax);
    if (amax < QB_GGML_GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscales[24] = {0}, sumlx[24], suml2[24]; /* 0: the start; 1…18: is = −9…9 without 0 */
    iscales[0] = -nmax / max;
    for (int is = -9, c = 1; is <= 9; is++)
        if (is) iscales[c++] = -(nmax + 0.1f * is) / max;
    __m256 isv[3], sx[3], s2[3];
    for (int k = 0; k < 3; k++) {
        isv[k] = _mm256_loadu_ps(iscales + 8 * k);
        sx[k] = s2[k] = _mm256_setzero_ps();
    }
    for (int i = 0; i < n; i++) {
        const __m256 xi = _mm256_set1_ps(x[i]), wi = _mm256_set1_ps(qw[i]), wx = _mm256_set1_ps(qw[i] * x[i]);
        for (int k = 0; k < 3; k++) {
            const __m256 l = level_ps(_mm256_mul_ps(isv[k], xi), -nmax, nmax - 1, LEVEL_RNE);
            sx[k] = _mm256_add_ps(sx[k], _mm256_mul_ps(wx, l));
            s2[k] = _mm256_add_ps(s2[k], _mm256_mul_ps(_mm256_mul_ps(wi, l), l));
        }
    }
    for (int k = 0; k < 3; k++) _mm256_storeu_ps(sumlx + 8 * k, sx[k]), _mm256_storeu_ps(suml2 + 8 * k, s2[k]);
    float scale = suml2[0] ? sumlx[0] / suml2[0] : 0.0f, best = scale * sumlx[0];
    int pick = 0;
    for (int c = 1; c < 19; c++)
        if (suml2[c] > 0 && sumlx[c] * sumlx[c] > best * suml2[c]) {
            scale = sumlx[c] / suml2[c];
            best = scale * sumlx[c];
            pick = c;
        }
    for (int i = 0; i < n; i++) {
        const int l = qb_ggml_nearest_int(iscales[pick] * x[i]);
        L[i] = (uint8_t)(nmax + (l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l));
    }
    return scale;
}

/* make_q3_quants' (ggml_common.c) pieces in the scalar code's operations, in its order: an
 * element's first level clamp(nearest_int(iscale·x)); the terms of level l in sumlx and suml2,
 * wx·l and (w·l)·l (w = x², wx = w·x); and a visit of elements at levels l (terms wxl, wll)
 * from the state s1 = sumlx, s2 = suml2 (s11 = s1·s1): the lanes that accept the new level
 * *nl, with its terms *wxn, *wnn and the sums *slx2, *sl22 it would leave. */
static inline __m256 q3_first_level(__m256 iscale, __m256 x, int nmax) {
    return _mm256_cvtepi32_ps(clamp_epi32(nearest_int_v(_mm256_mul_ps(iscale, x)), -nmax, nmax - 1));
}

static inline void q3_terms(__m256 w, __m256 wx, __m256 l, __m256 *wxl, __m256 *wll) {
    *wxl = _mm256_mul_ps(wx, l);
    *wll = _mm256_mul_ps(_mm256_mul_ps(w, l), l);
}

static inline __m256 q3_visit(__m256 x, __m256 w, __m256 wx, __m256 l, __m256 wxl, __m256 wll, __m256 s1, __m256 s2, __m256 s11,
                              int nmax, __m256 *nl, __m256 *wxn, __m256 *wnn, __m256 *slx2, __m256 *sl22) {
    const __m256 zero = _mm256_setzero_ps();
    const __m256 slx = _mm256_sub_ps(s1, wxl), sl2 = _mm256_sub_ps(s2, wll);
    *nl = _mm256_cvtepi32_ps(clamp_epi32(nearest_int_v(_mm256_div_ps(_mm256_mul_ps(x, sl2), slx)), -nmax, nmax - 1));
    q3_terms(w, wx, *nl, wxn, wnn);
    *slx2 = _mm256_add_ps(slx, *wxn);
    *sl22 = _mm256_add_ps(sl2, *wnn);
    __m256 acc = _mm256_and_ps(_mm256_cmp_ps(slx, zero, _CMP_GT_OQ), _mm256_cmp_ps(*nl, l, _CMP_NEQ_OQ));
    acc = _mm256_and_ps(acc, _mm256_cmp_ps(*sl22, zero, _CMP_GT_OQ));
    return _mm256_and_ps(acc, _mm256_cmp_ps(_mm256_mul_ps(_mm256_mul_ps(*slx2, *slx2), s2), _mm256_mul_ps(s11, *sl22), _CMP_GT_OQ));
}

/* make_q3_quants' sweeps (do_rmse, ggml_common.c) over one group of 16 elements x from its
 * levels l = clamp(nearest_int(iscale·x)) and their sums sumlx, suml2 (formed by the caller in
 * the scalar code's order): the scale it ends with. Within a sweep a visit changes the state
 * (its level, sumlx, suml2) only when it accepts a new level, so from one state every later
 * visit of the sweep is evaluated at once, by the scalar code's operations in two vectors of
 * 8 elements, and the first visit that accepts is the one the scalar code takes; the visits
 * after it are evaluated again from the state it leaves. Four groups in
 * five of N(0, σ) weights accept nothing in their first sweep (q3_search tests that one in
 * lanes), the others 2.2 times in 2.3 sweeps, about 4.5 evaluations. Lanes of 8 groups that
 * sweep together, this file's earlier way, sweep as often as their slowest lane (2.8 sweeps
 * a super-block); this way measured 3180 → 2370 cycles a super-block on one Zen 4 core. */
static float q3_sweeps(const float *x16, float iscale, int nmax, float sumlx, float suml2) {
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256 x[2], w[2], wx[2], lf[2], wxl[2], wll[2];
    for (int h = 0; h < 2; h++) {
        x[h] = _mm256_loadu_ps(x16 + 8 * h);
        w[h] = _mm256_mul_ps(x[h], x[h]);
        wx[h] = _mm256_mul_ps(w[h], x[h]);
        lf[h] = q3_first_level(_mm256_set1_ps(iscale), x[h], nmax);
        q3_terms(w[h], wx[h], lf[h], &wxl[h], &wll[h]);
    }
    /* the state stays in registers, sumlx and suml2 broadcast: a visit that accepts hands the
     * next evaluation its sums by a lane permute, not through memory */
    __m256 s1 = _mm256_set1_ps(sumlx), s2 = _mm256_set1_ps(suml2);
    for (int itry = 0; itry < 5; itry++) {
        int changed = 0;
        for (unsigned from = 0;;) {
            const __m256 s11 = _mm256_mul_ps(s1, s1);
            __m256 nl[2], wxn[2], wnn[2], slx2[2], sl22[2];
            unsigned m = 0;
            for (int h = 0; h < 2; h++) {
                const __m256 acc = q3_visit(x[h], w[h], wx[h], lf[h], wxl[h], wll[h], s1, s2, s11, nmax, &nl[h], &wxn[h], &wnn[h],
                                            &slx2[h], &sl22[h]);
                m |= (unsigned)_mm256_movemask_ps(acc) << (8 * h);
            }
            m &= 0xFFFFu << from;
            if (!m) break;
            const int i = __builtin_ctz(m);
            const __m256i idx = _mm256_set1_epi32(i & 7);
            const __m256 hi = _mm256_castsi256_ps(_mm256_set1_epi32(-(i >> 3)));
            for (int h = 0; h < 2; h++) {
                const __m256 at = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_add_epi32(iota, _mm256_set1_epi32(8 * h)), _mm256_set1_epi32(i)));
                lf[h] = _mm256_blendv_ps(lf[h], nl[h], at);
                wxl[h] = _mm256_blendv_ps(wxl[h], wxn[h], at);
                wll[h] = _mm256_blendv_ps(wll[h], wnn[h], at);
            }
            s1 = _mm256_permutevar8x32_ps(_mm256_blendv_ps(slx2[0], slx2[1], hi), idx);
            s2 = _mm256_permutevar8x32_ps(_mm256_blendv_ps(sl22[0], sl22[1], hi), idx);
            changed = 1, from = (unsigned)i + 1;
        }
        if (!changed) break;
    }
    sumlx = _mm256_cvtss_f32(s1), suml2 = _mm256_cvtss_f32(s2);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* make_q3_quants with do_rmse for the 16 groups of 16 of a super-block xb (xt: transposed, lane
 * j of xt[i][g] element i of group 8g + j): the scales, into scale[8g + j] (qb_x86_q3_K_levels
 * then requantizes under the stored ones). In lanes, element by element (the scalar code's
 * order): the initial levels, their sums, and every visit of the first sweep from that state. A group none of whose
 * visits accepts keeps its initial levels (the scalar code stops after that sweep); only the
 * others (one in five on N(0, σ) weights) run their sweeps, group by group (q3_sweeps). */
static void q3_search(const float *xb, const __m256 (*xt)[NG], int nmax, float *scale) {
    const __m256 zero = _mm256_setzero_ps();
    __m256 max[NG], tiny[NG];
    float maxs[16], s1[16], s2[16], moves[16];
    signed_absmax_lanes(16, xt, max, tiny);
    for (int g = 0; g < NG; g++) {
        const __m256 iscale = _mm256_div_ps(_mm256_set1_ps((float)-nmax), max[g]);
        __m256 sumlx = zero, suml2 = zero, w[16], wx[16], l[16], wxl[16], wll[16];
        for (int i = 0; i < 16; i++) {
            w[i] = _mm256_mul_ps(xt[i][g], xt[i][g]);
            wx[i] = _mm256_mul_ps(w[i], xt[i][g]);
            l[i] = q3_first_level(iscale, xt[i][g], nmax);
            q3_terms(w[i], wx[i], l[i], &wxl[i], &wll[i]);
            sumlx = _mm256_add_ps(sumlx, wxl[i]);
            suml2 = _mm256_add_ps(suml2, wll[i]);
        }
        const __m256 s11 = _mm256_mul_ps(sumlx, sumlx);
        __m256 move = zero;
        for (int i = 0; i < 16; i++) { /* every visit of the first sweep, from the initial state */
            __m256 nl, wxn, wnn, slx2, sl22;
            move = _mm256_or_ps(move, q3_visit(xt[i][g], w[i], wx[i], l[i], wxl[i], wll[i], sumlx, suml2, s11, nmax, &nl, &wxn, &wnn, &slx2,
                                               &sl22));
        }
        const __m256 sc = _mm256_and_ps(_mm256_cmp_ps(suml2, zero, _CMP_GT_OQ), _mm256_div_ps(sumlx, suml2));
        _mm256_storeu_ps(scale + 8 * g, _mm256_andnot_ps(tiny[g], sc));
        _mm256_storeu_ps(moves + 8 * g, _mm256_andnot_ps(tiny[g], move));
        _mm256_storeu_ps(maxs + 8 * g, max[g]);
        _mm256_storeu_ps(s1 + 8 * g, sumlx);
        _mm256_storeu_ps(s2 + 8 * g, suml2);
    }
    for (int j = 0; j < 16; j++)
        if (moves[j] != 0.0f) scale[j] = q3_sweeps(xb + 16 * j, (float)-nmax / maxs[j], nmax, s1[j], s2[j]);
}

/* Lane j of out[i][g] = base[stride·j + i] for i < n (a multiple of 8): 8 rows (sub-blocks)
 * turned into n vectors of one element each, by 8 × 8 in-register transposes. */
static void transpose_lanes(const float *base, int stride, int n, __m256 (*out)[NG], int g) {
    for (int t = 0; t < n; t += 8) {
        __m256 r[8], a[8], b[8];
        for (int j = 0; j < 8; j++) r[j] = _mm256_loadu_ps(base + stride * j + t);
        for (int j = 0; j < 8; j += 2) {
            a[j] = _mm256_unpacklo_ps(r[j], r[j + 1]);
            a[j + 1] = _mm256_unpackhi_ps(r[j], r[j + 1]);
        }
        for (int j = 0; j < 8; j += 4) {
            b[j] = _mm256_shuffle_ps(a[j], a[j + 2], 0x44);
            b[j + 1] = _mm256_shuffle_ps(a[j], a[j + 2], 0xEE);
            b[j + 2] = _mm256_shuffle_ps(a[j + 1], a[j + 3], 0x44);
            b[j + 3] = _mm256_shuffle_ps(a[j + 1], a[j + 3], 0xEE);
        }
        for (int k = 0; k < 4; k++) {
            out[t + k][g] = _mm256_permute2f128_ps(b[k], b[k + 4], 0x20);
            out[t + k + 4][g] = _mm256_permute2f128_ps(b[k], b[k + 4], 0x31);
        }
    }
}

/* The search levels of one group (lane j of L[i][g], i < n) into levels[i]. Re-quantization
 * overwrites them wherever the group's stored scale is non-zero, so only the other groups
 * (rare) fetch them. */
static void lane_levels(const __m256i (*L)[NG], int g, int j, int n, uint8_t *levels) {
    for (int i = 0; i < n; i++) {
        int32_t v[8];
        _mm256_storeu_si256((__m256i *)v, L[i][g]);
        levels[i] = (uint8_t)v[j];
    }
}

/* 16 int32 levels in [0, 255] (two vectors, in order) → 16 bytes. */
static inline void store_u8x16(__m256i a, __m256i b, uint8_t *dst) {
    const __m256i p = _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xD8);
    _mm_storeu_si128((__m128i *)dst, _mm_packus_epi16(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1)));
}

/* Σ x² over a super-block in element order (ggml_k.c's sum_sq, the imatrix paths' σ²). */
static float sum_sq256(const float *x) {
    float s = 0;
    for (int j = 0; j < 256; j++) s += x[j] * x[j];
    return s;
}

/* Lane j of x16[i][g] = x[16·(8g + j) + i]: the 16 sub-blocks of 16 of a super-block, transposed. */
static void transpose16(const float *x, __m256 (*x16)[NG]) {
    for (int g = 0; g < NG; g++) transpose_lanes(x + 128 * g, 16, 16, x16, g);
}

/* The imatrix weights of group g, w[i][g] = imp·sqrt(σ² + x²) (lane j: imp[stride·j + i]),
 * as the K-quants' imatrix paths form them, and their sums over i in order into *sum_w. */
static void imatrix_lanes(const float *imp, int stride, int n, float sigma2, const __m256 (*x)[NG], __m256 (*w)[NG], int g,
                          __m256 *sum_w) {
    const __m256 s2 = _mm256_set1_ps(sigma2);
    __m256 sum = _mm256_setzero_ps();
    transpose_lanes(imp, stride, n, w, g);
    for (int i = 0; i < n; i++) {
        w[i][g] = _mm256_mul_ps(w[i][g], _mm256_sqrt_ps(_mm256_add_ps(s2, _mm256_mul_ps(x[i][g], x[i][g]))));
        sum = _mm256_add_ps(sum, w[i][g]);
    }
    *sum_w = sum;
}

/* Packs 2-bit levels as ggml_k.c's pack2 (q2_K's qs, q3_K's low bits): byte l of each 32-byte
 * group of qs holds elements l, l+32, l+64, l+96 of its 128-element half, and low[c] holds
 * elements 32c … 32c + 31. */
static inline void pack2_regs(const __m256i low[8], uint8_t *qs) {
    for (int h = 0; h < 2; h++) {
        __m256i q = low[4 * h];
        for (int k = 1; k < 4; k++) q = _mm256_or_si256(q, _mm256_slli_epi16(low[4 * h + k], 2 * k)); /* ≤ 3: no bit crosses a byte */
        _mm256_storeu_si256((__m256i *)(qs + 32 * h), q);
    }
}

/* Lane k of v broadcast (k < 8). */
static inline __m256 lane_ps(__m256 v, int k) { return _mm256_permutevar8x32_ps(v, _mm256_set1_epi32(k)); }

/* Bit j set where lane j of the 16 floats v[0], v[1] equals x (one per sub-block of 16). */
static inline unsigned eq_mask16(const __m256 v[2], float x) {
    const __m256 vx = _mm256_set1_ps(x);
    return (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v[0], vx, _CMP_EQ_OQ)) |
           (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v[1], vx, _CMP_EQ_OQ)) << 8;
}

/* ==== q2_K, q3_K: the 16 sub-block searches in 2 × 8 lanes =================================== */

/* qb_ggml_q2_K_scales without an imatrix, in vectors: each nibble from nearest_int(15·v/max),
 * max the largest positive scale (min), unclamped as the scalar code leaves it. qkx_lanes'
 * scales and mins are finite (a candidate whose sums overflow never beats a finite error). */
static void q2_K_scales_v(const float scales[16], const float mins[16], block_q2_K *y) {
    const float *src[2] = {scales, mins};
    __m256i l[2][2];
    for (int t = 0; t < 2; t++) {
        const __m256 v[2] = {_mm256_loadu_ps(src[t]), _mm256_loadu_ps(src[t] + 8)};
        __m256 m = _mm256_setzero_ps();
        for (int h = 0; h < 2; h++) m = _mm256_max_ps(m, v[h]);
        const float max = hmax_ps(m);
        const uint16_t d = f32_to_f16_finite(max > 0 ? max / 15.f : 0.f);
        if (t) y->dmin = d; else y->d = d;
        for (int h = 0; h < 2; h++)
            l[t][h] = max > 0 ? nearest_int_v(_mm256_mul_ps(_mm256_set1_ps(15.f / max), v[h])) : _mm256_setzero_si256();
    }
    const __m256i byte = _mm256_set1_epi32(0xFF);
    __m256i b[2];
    for (int h = 0; h < 2; h++) /* (uint8_t)l_s | (uint8_t)(l_m << 4) */
        b[h] = _mm256_or_si256(_mm256_and_si256(l[0][h], byte), _mm256_and_si256(_mm256_slli_epi32(l[1][h], 4), byte));
    store_u8x16(b[0], b[1], y->scales);
}

/* q2_K's levels under y's stored scales: clamp(nearest_int((x + dmin·m_j)/(d·sc_j)), 0, 3), and
 * where d·sc_j is 0 the search's levels (lane j of L[i][j / 8]), as ggml_k.c's q2_K_block. */
static void q2_K_levels(const float *xb, const __m256i (*L)[NG], block_q2_K *y) {
    const __m128i sc = _mm_loadu_si128((const __m128i *)y->scales);
    const __m128i lo = _mm_and_si128(sc, _mm_set1_epi8(0x0F)), hi = _mm_and_si128(_mm_srli_epi16(sc, 4), _mm_set1_epi8(0x0F));
    const __m256 dm = _mm256_set1_ps(f16_to_f32(y->d)), mm = _mm256_set1_ps(f16_to_f32(y->dmin));
    __m256 d[2], m[2];
    for (int h = 0; h < 2; h++) {
        d[h] = _mm256_mul_ps(dm, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8 * h))));
        m[h] = _mm256_mul_ps(mm, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8 * h))));
    }
    const unsigned zero = eq_mask16(d, 0.0f);
    __m256i low[8];
    for (int c = 0; c < 8; c++) { /* elements 32c … 32c + 31: sub-blocks 2c, 2c + 1 */
        __m256i l[4];
        for (int k = 0; k < 2; k++) {
            const int j = 2 * c + k;
            const __m256 dj = lane_ps(d[j / 8], j % 8), mj = lane_ps(m[j / 8], j % 8);
            for (int h = 0; h < 2; h++) {
                const __m256 q = _mm256_div_ps(_mm256_add_ps(_mm256_loadu_ps(xb + 16 * j + 8 * h), mj), dj);
                l[2 * k + h] = clamp_epi32(nearest_int_v(q), 0, 3);
            }
        }
        low[c] = pack_i32x32_i8(l[0], l[1], l[2], l[3]);
        if (zero >> 2 * c & 3) { /* a sub-block whose stored scale is 0 keeps its search levels (rare) */
            uint8_t b[32];
            _mm256_storeu_si256((__m256i *)b, low[c]);
            for (int k = 0; k < 2; k++)
                if (zero >> (2 * c + k) & 1) lane_levels(L, (2 * c + k) / 8, (2 * c + k) % 8, 16, b + 16 * k);
            low[c] = _mm256_loadu_si256((const __m256i *)b);
        }
    }
    pack2_regs(low, y->qs);
}

static qb_status q2_K_quantize_avx2(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    if (cols % 256 || !qb_x86_all_finite(x, rows * cols)) return fmt_q2_K->quantize_ref(x, q, rows, cols, imp);
    block_q2_K *y = q;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t b = 0; b < cols / 256; b++, y++) {
            const float *xb = x + r * cols + 256 * b, *ib = imp ? imp + 256 * b : NULL;
            __m256 xt[16][NG], wt[16][NG], sc[NG], mn[NG], sumw[NG];
            __m256i Lt[16][NG];
            float scales[16], mins[16], sw[16];
            transpose16(xb, xt);
            if (!ib) {
                for (int i = 0; i < 16; i++)
                    for (int g = 0; g < NG; g++) wt[i][g] = abs_ps(xt[i][g]);
                qkx_lanes(16, 3, (const __m256(*)[NG])xt, (const __m256(*)[NG])wt, Lt, sc, mn, -0.5f, 0.1f, 15, 1, 0);
            } else {
                const float sigma2 = sum_sq256(xb) / 256;
                for (int g = 0; g < NG; g++)
                    imatrix_lanes(ib + 128 * g, 16, 16, sigma2, (const __m256(*)[NG])xt, wt, g, &sumw[g]);
                qkx_lanes(16, 3, (const __m256(*)[NG])xt, (const __m256(*)[NG])wt, Lt, sc, mn, -0.9f, 0.05f, 36, 0, 1);
            }
            for (int g = 0; g < NG; g++) {
                _mm256_storeu_ps(scales + 8 * g, sc[g]), _mm256_storeu_ps(mins + 8 * g, mn[g]);
                if (ib) _mm256_storeu_ps(sw + 8 * g, sumw[g]);
            }
            if (ib)
                qb_ggml_q2_K_scales(scales, mins, sw, y);
            else
                q2_K_scales_v(scales, mins, y);
            q2_K_levels(xb, (const __m256i(*)[NG])Lt, y);
        }
    return QB_OK;
}

/* q3_K's 16 signed sub-scales s_j − 32 as int8 from their 12 bytes (the layout in ggml_k.c's
 * file comment): the low nibbles of bytes 0–7 (j < 8), then their high nibbles (j ≥ 8); the
 * top two bits of s_j at 2·(j/4) in byte 8 + j%4, i.e. in 32-bit lane j/4 of bytes 8–11
 * shifted right by 2·(j/4). In registers: a round trip through memory would stall on
 * store-to-load forwarding in the dot. */
static inline __m128i q3_K_scales(const uint8_t s[12]) {
    uint32_t w2;
    memcpy(&w2, s + 8, 4);
    const __m128i b = _mm_loadl_epi64((const __m128i *)s);
    const __m128i lo = _mm_and_si128(_mm_unpacklo_epi64(b, _mm_srli_epi16(b, 4)), _mm_set1_epi8(0x0F));
    const __m128i hi = _mm_and_si128(_mm_srlv_epi32(_mm_set1_epi32((int)w2), _mm_setr_epi32(0, 2, 4, 6)), _mm_set1_epi8(3));
    return _mm_sub_epi8(_mm_or_si128(lo, _mm_slli_epi16(hi, 4)), _mm_set1_epi8(32)); /* hi ≤ 3: no bit crosses a byte */
}

/* The inverse of q3_K_scales: 16 biased sub-scales v (bytes < 64) into their 12 bytes. */
static inline void q3_K_pack_scales(__m128i v, uint8_t s[12]) {
    const __m128i lo = _mm_and_si128(v, _mm_set1_epi8(0x0F));
    const __m128i b07 = _mm_or_si128(lo, _mm_slli_epi16(_mm_srli_si128(lo, 8), 4)); /* ≤ 15: no bit crosses a byte */
    __m128i hi = _mm_sllv_epi32(_mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(3)), _mm_setr_epi32(0, 2, 4, 6));
    hi = _mm_or_si128(hi, _mm_srli_si128(hi, 8));
    hi = _mm_or_si128(hi, _mm_srli_si128(hi, 4));
    const uint32_t h = (uint32_t)_mm_cvtsi128_si32(hi);
    _mm_storel_epi64((__m128i *)s, b07);
    memcpy(s + 8, &h, 4);
}

void qb_x86_q3_K_scales(const float scales[16], block_q3_K *y) {
    const __m256 s[2] = {_mm256_loadu_ps(scales), _mm256_loadu_ps(scales + 8)};
    __m256 a[2];
    for (int h = 0; h < 2; h++) /* a search whose sums overflowed gives NaN, which the scalar strict > never picks */
        a[h] = _mm256_and_ps(abs_ps(s[h]), _mm256_cmp_ps(s[h], s[h], _CMP_ORD_Q));
    const float amax = hmax_ps(_mm256_max_ps(a[0], a[1]));
    if (amax == 0.0f) {
        memset(y->scales, 0, 12);
        y->d = f32_to_f16_finite(0.0f);
        return;
    }
    const float iscale = -32.f / scales[__builtin_ctz(eq_mask16(a, amax))];
    __m256i l[2];
    for (int h = 0; h < 2; h++) { /* (int8_t)nearest_int: its low byte, sign-extended */
        const __m256i n = nearest_int_v(_mm256_mul_ps(_mm256_set1_ps(iscale), s[h]));
        l[h] = _mm256_add_epi32(clamp_epi32(_mm256_srai_epi32(_mm256_slli_epi32(n, 24), 24), -32, 31), _mm256_set1_epi32(32));
    }
    uint8_t b[16];
    store_u8x16(l[0], l[1], b);
    q3_K_pack_scales(_mm_loadu_si128((const __m128i *)b), y->scales);
    y->d = f32_to_f16_finite(1 / iscale);
}

void qb_x86_q3_K_levels(const float *xb, const float *ib, block_q3_K *y) {
    /* d_j = d·(s_j − 32) for the 16 sub-blocks at once, and which are 0 */
    const __m128i s3 = q3_K_scales(y->scales);
    const __m256 dall = _mm256_set1_ps(f16_to_f32(y->d));
    const __m256 dv[2] = {_mm256_mul_ps(dall, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(s3))),
                          _mm256_mul_ps(dall, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(s3, 8))))};
    const unsigned zero = eq_mask16(dv, 0.0f);
    __m256i hm = _mm256_setzero_si256(), bit = _mm256_set1_epi8(1), low[8];
    for (int c = 0; c < 8; c++, bit = _mm256_add_epi8(bit, bit)) { /* elements 32c … 32c + 31: sub-blocks 2c, 2c + 1 */
        __m256i l[4], v;
        for (int k = 0; k < 2; k++) {
            const __m256 d = lane_ps(dv[c / 4], 2 * (c % 4) + k);
            for (int h = 0; h < 2; h++) {
                const __m256 q = _mm256_div_ps(_mm256_loadu_ps(xb + 32 * c + 16 * k + 8 * h), d);
                l[2 * k + h] = _mm256_add_epi32(clamp_epi32(nearest_int_v(q), -4, 3), _mm256_set1_epi32(4));
            }
        }
        v = pack_i32x32_i8(l[0], l[1], l[2], l[3]);
        if (zero >> 2 * c & 3) { /* a sub-block whose stored scale is 0 keeps its search levels (rare): the reference's */
            uint8_t b[32];
            _mm256_storeu_si256((__m256i *)b, v);
            for (int k = 0; k < 2; k++)
                if (zero >> (2 * c + k) & 1) {
                    float sw;
                    qb_ggml_q3_K_group(xb, ib, ib ? qb_ggml_q3_K_sigma2(xb) : 0, 2 * c + k, b + 16 * k, &sw);
                }
            v = _mm256_loadu_si256((const __m256i *)b);
        }
        /* the high bit of element e into bit e/32 of hmask[e%32]; the low 2 bits packed as q2_K */
        hm = _mm256_or_si256(hm, _mm256_and_si256(_mm256_cmpgt_epi8(v, _mm256_set1_epi8(3)), bit));
        low[c] = _mm256_and_si256(v, _mm256_set1_epi8(3));
    }
    _mm256_storeu_si256((__m256i *)y->hmask, hm);
    pack2_regs(low, y->qs);
}

qb_status qb_x86_q3_K_quantize_avx2(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    if (cols % 256 || !qb_x86_all_finite(x, rows * cols)) return fmt_q3_K->quantize_ref(x, q, rows, cols, imp);
    block_q3_K *y = q;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t b = 0; b < cols / 256; b++, y++) {
            const float *xb = x + r * cols + 256 * b, *ib = imp ? imp + 256 * b : NULL;
            __m256 xt[16][NG], wt[16][NG], sc[NG], sumw[NG];
            __m256i Lt[16][NG];
            float scales[16], sw[16];
            transpose16(xb, xt);
            if (!ib) {
                q3_search(xb, (const __m256(*)[NG])xt, 4, scales);
                qb_x86_q3_K_scales(scales, y);
            } else {
                const float sigma2 = qb_ggml_q3_K_sigma2(xb);
                for (int g = 0; g < NG; g++)
                    imatrix_lanes(ib + 128 * g, 16, 16, sigma2, (const __m256(*)[NG])xt, wt, g, &sumw[g]);
                qx_lanes(16, 4, (const __m256(*)[NG])xt, (const __m256(*)[NG])wt, Lt, sc);
                for (int g = 0; g < NG; g++) {
                    _mm256_storeu_ps(scales + 8 * g, sc[g]);
                    _mm256_storeu_ps(sw + 8 * g, sumw[g]);
                }
                qb_ggml_q3_K_scales(scales, sw, y, qx_candidates);
            }
            qb_x86_q3_K_levels(xb, ib, y);
        }
    return QB_OK;
}

/* ==== q4_K, q5_K: the 8 sub-block searches of NG super-blocks in NG × 8 lanes ================= */

/* ggml_k.c's k4_block (scales, d, dmin and levels of a q4_K or q5_K super-block) for the NG
 * super-blocks xs[g] (importances imps[g], all NULL or none); a repeated pointer is allowed. */
static void k4_blocks_avx2(const float *const xs[NG], const float *const imps[NG], int nmax, uint8_t *const s[NG],
                           uint16_t *const d16[NG], uint16_t *const dmin16[NG], uint8_t (*L)[256]) {
    __m256 xt[32][NG], wt[32][NG], sc[NG], mn[NG], sumw[NG];
    __m256i Lt[32][NG];
    for (int g = 0; g < NG; g++) transpose_lanes(xs[g], 32, 32, xt, g);
    if (!imps[0]) {
        for (int g = 0; g < NG; g++) {
            __m256 sum_x2 = _mm256_setzero_ps();
            for (int i = 0; i < 32; i++) sum_x2 = _mm256_add_ps(sum_x2, _mm256_mul_ps(xt[i][g], xt[i][g]));
            const __m256 av_x = _mm256_sqrt_ps(_mm256_div_ps(sum_x2, _mm256_set1_ps(32)));
            for (int i = 0; i < 32; i++) wt[i][g] = _mm256_add_ps(av_x, abs_ps(xt[i][g]));
        }
        if (nmax == 15)
            qkx_lanes(32, 15, (const __m256(*)[NG])xt, (const __m256(*)[NG])wt, Lt, sc, mn, -1.f, 0.1f, 20, 0, 0);
        else
            qkx_lanes(32, 31, (const __m256(*)[NG])xt, (const __m256(*)[NG])wt, Lt, sc, mn, -0.5f, 0.1f, 15, 0, 0);
    } else {
        for (int g = 0; g < NG; g++)
            imatrix_lanes(imps[g], 32, 32, 2 * sum_sq256(xs[g]) / 256, (const __m256(*)[NG])xt, wt, g, &sumw[g]);
        qkx_lanes(32, nmax, (const __m256(*)[NG])xt, (const __m256(*)[NG])wt, Lt, sc, mn, -0.9f, 0.05f, 36, 0, 1);
    }
    for (int g = 0; g < NG; g++) {
        float scales[8], mins[8];
        uint8_t ls[8], lm[8];
        _mm256_storeu_ps(scales, sc[g]), _mm256_storeu_ps(mins, mn[g]);
        if (!imps[0]) {
            float max_scale = 0, max_min = 0;
            for (int j = 0; j < 8; j++) {
                if (scales[j] > max_scale) max_scale = scales[j];
                if (mins[j] > max_min) max_min = mins[j];
            }
            float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f, inv_min = max_min > 0 ? 63.f / max_min : 0.f;
            for (int j = 0; j < 8; j++) {
                uint8_t a = (uint8_t)qb_ggml_nearest_int(inv_scale * scales[j]);
                uint8_t b = (uint8_t)qb_ggml_nearest_int(inv_min * mins[j]);
                ls[j] = a < 63 ? a : 63;
                lm[j] = b < 63 ? b : 63;
            }
            *d16[g] = qb_f32_to_f16(max_scale / 63.f);
            *dmin16[g] = qb_f32_to_f16(max_min / 63.f);
        } else {
            float sw[8];
            _mm256_storeu_ps(sw, sumw[g]);
            float d_block = qb_ggml_make_qp_quants(8, 63, scales, ls, sw);
            float m_block = qb_ggml_make_qp_quants(8, 63, mins, lm, sw);
            if (nmax == 31)
                for (int j = 0; j < 8; j++) {
                    ls[j] = ls[j] < 63 ? ls[j] : 63;
                    lm[j] = lm[j] < 63 ? lm[j] : 63;
                }
            *d16[g] = qb_f32_to_f16(d_block);
            *dmin16[g] = qb_f32_to_f16(m_block);
        }
        pack_scale_min_k4(ls, lm, s[g]);
        /* re-quantize with the stored fp16 d/dmin: q = clamp(nearest_int((x + dmin·m)/(d·sc))) */
        for (int j = 0; j < 8; j++) {
            uint8_t scj, mj;
            get_scale_min_k4(j, s[g], &scj, &mj);
            const float d = f16_to_f32(*d16[g]) * scj;
            if (!d) {
                lane_levels((const __m256i(*)[NG])Lt, g, j, 32, L[g] + 32 * j);
                continue;
            }
            const float dm = f16_to_f32(*dmin16[g]) * mj;
            __m256i l[4];
            for (int k = 0; k < 4; k++) {
                __m256 v = _mm256_div_ps(_mm256_add_ps(_mm256_loadu_ps(xs[g] + 32 * j + 8 * k), _mm256_set1_ps(dm)),
                                         _mm256_set1_ps(d));
                l[k] = clamp_epi32(nearest_int_v(v), 0, nmax);
            }
            _mm256_storeu_si256((__m256i *)(L[g] + 32 * j), pack_i32x32_i8(l[0], l[1], l[2], l[3]));
        }
    }
}

/* Quantizes every super-block of a q4_K (nmax 15) or q5_K (31) tensor, NG at a time (the last
 * group repeats the final super-block when their count is not a multiple of NG). */
static void k4_quantize(const float *x, uint8_t *q, size_t bsize, int64_t rows, int64_t cols, const float *imp, int nmax,
                        void (*pack)(const uint8_t *L, void *blk)) {
    const int64_t per_row = cols / 256, nb = rows * per_row;
    for (int64_t k = 0; k < nb; k += NG) {
        const float *xs[NG], *imps[NG];
        uint8_t *s[NG];
        uint16_t *d16[NG], *dmin16[NG];
        uint8_t L[NG][256];
        for (int g = 0; g < NG; g++) {
            const int64_t kk = k + g < nb ? k + g : nb - 1, b = kk % per_row;
            block_q4_K *h = (block_q4_K *)(q + kk * bsize); /* q5_K begins with the same d, dmin, scales */
            xs[g] = x + kk / per_row * cols + 256 * b;
            imps[g] = imp ? imp + 256 * b : NULL;
            s[g] = h->scales, d16[g] = &h->d, dmin16[g] = &h->dmin;
        }
        k4_blocks_avx2(xs, imps, nmax, s, d16, dmin16, L);
        for (int g = 0; g < NG && k + g < nb; g++) pack(L[g], q + (k + g) * bsize);
    }
}

/* q4_K's levels (≤ 15) into qs, or q5_K's (≤ 31) into qs and qh: byte l of 32-byte group c
 * holds the low 4 bits of elements 64c + l (low nibble) and 64c + 32 + l (high nibble), and
 * bits 2c and 2c + 1 of qh[l] their bit 4 (ggml_k.c's layout table). */
static void k4_pack(const uint8_t *L, uint8_t *qs, uint8_t *qh) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    __m256i h = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        const __m256i a = _mm256_loadu_si256((const __m256i *)(L + 64 * c));
        const __m256i b = _mm256_loadu_si256((const __m256i *)(L + 64 * c + 32));
        /* 16-bit shifts: every shifted byte value stays inside its byte */
        _mm256_storeu_si256((__m256i *)(qs + 32 * c),
                            _mm256_or_si256(_mm256_and_si256(a, m4), _mm256_slli_epi16(_mm256_and_si256(b, m4), 4)));
        const __m256i ha = _mm256_and_si256(_mm256_srli_epi16(a, 4), one), hb = _mm256_and_si256(_mm256_srli_epi16(b, 4), one);
        h = _mm256_or_si256(h, _mm256_sll_epi16(ha, _mm_cvtsi32_si128(2 * c)));
        h = _mm256_or_si256(h, _mm256_sll_epi16(hb, _mm_cvtsi32_si128(2 * c + 1)));
    }
    if (qh) _mm256_storeu_si256((__m256i *)qh, h);
}

static void q4_K_pack(const uint8_t *L, void *blk) { k4_pack(L, ((block_q4_K *)blk)->qs, NULL); }

static void q5_K_pack(const uint8_t *L, void *blk) { k4_pack(L, ((block_q5_K *)blk)->qs, ((block_q5_K *)blk)->qh); }

static qb_status q4_K_quantize_avx2(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    if (cols % 256 || !qb_x86_all_finite(x, rows * cols)) return fmt_q4_K->quantize_ref(x, q, rows, cols, imp);
    k4_quantize(x, q, sizeof(block_q4_K), rows, cols, imp, 15, q4_K_pack);
    return QB_OK;
}

static qb_status q5_K_quantize_avx2(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    if (cols % 256 || !qb_x86_all_finite(x, rows * cols)) return fmt_q5_K->quantize_ref(x, q, rows, cols, imp);
    k4_quantize(x, q, sizeof(block_q5_K), rows, cols, imp, 31, q5_K_pack);
    return QB_OK;
}

/* ==== q6_K: make_qx_quants on the 16 sub-blocks in 2 × 8 lanes ================================ */

static void q6_K_block_avx2(const float *x, block_q6_K *y, const float *imp) {
    uint8_t L[256];
    __m256 xt[16][NG], wt[16][NG], sc[NG];
    __m256i Lt[16][NG];
    float scales[16], max_scale = 0, max_abs_scale = 0;
    transpose16(x, xt);
    if (imp) transpose16(imp, wt);
    qx_lanes(16, 32, (const __m256(*)[NG])xt, imp ? (const __m256(*)[NG])wt : NULL, Lt, sc);
    for (int g = 0; g < NG; g++) _mm256_storeu_ps(scales + 8 * g, sc[g]);
    for (int ib = 0; ib < 16; ib++) {
        float a = fabsf(scales[ib]);
        if (a > max_abs_scale) {
            max_abs_scale = a;
            max_scale = scales[ib];
        }
    }
    if (max_abs_scale < QB_GGML_GROUP_MAX_EPS) {
        memset(y, 0, sizeof *y);
        y->d = qb_f32_to_f16(0.f);
        return;
    }
    float iscale = -128.f / max_scale;
    y->d = qb_f32_to_f16(1 / iscale);
    for (int ib = 0; ib < 16; ib++) {
        int l = qb_ggml_nearest_int(iscale * scales[ib]);
        y->scales[ib] = (int8_t)(l < 127 ? l : 127);
    }
    for (int j = 0; j < 16; j++) {
        const float d = f16_to_f32(y->d) * y->scales[j];
        if (!d) {
            lane_levels((const __m256i(*)[NG])Lt, j / 8, j % 8, 16, L + 16 * j);
            continue;
        }
        __m256i l[2];
        for (int k = 0; k < 2; k++) {
            const __m256 v = _mm256_div_ps(_mm256_loadu_ps(x + 16 * j + 8 * k), _mm256_set1_ps(d));
            l[k] = _mm256_add_epi32(clamp_epi32(nearest_int_v(v), -32, 31), _mm256_set1_epi32(32));
        }
        store_u8x16(l[0], l[1], L + 16 * j);
    }
    /* the inverse of q6_levels: per 128-element half, four 32-byte groups t (elements
     * 128h + 32t + l) give ql's nibbles and qh's 2-bit fields (16-bit shifts stay in bytes) */
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; h++) {
        __m256i t[4];
        for (int k = 0; k < 4; k++) t[k] = _mm256_loadu_si256((const __m256i *)(L + 128 * h + 32 * k));
        _mm256_storeu_si256((__m256i *)(y->ql + 64 * h),
                            _mm256_or_si256(_mm256_and_si256(t[0], m4), _mm256_slli_epi16(_mm256_and_si256(t[2], m4), 4)));
        _mm256_storeu_si256((__m256i *)(y->ql + 64 * h + 32),
                            _mm256_or_si256(_mm256_and_si256(t[1], m4), _mm256_slli_epi16(_mm256_and_si256(t[3], m4), 4)));
        __m256i qh = _mm256_and_si256(_mm256_srli_epi16(t[0], 4), m2);
        qh = _mm256_or_si256(qh, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(t[1], 4), m2), 2));
        qh = _mm256_or_si256(qh, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(t[2], 4), m2), 4));
        qh = _mm256_or_si256(qh, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(t[3], 4), m2), 6));
        _mm256_storeu_si256((__m256i *)(y->qh + 32 * h), qh);
    }
}

static qb_status q6_K_quantize_avx2(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    if (cols % 256 || !qb_x86_all_finite(x, rows * cols)) return fmt_q6_K->quantize_ref(x, q, rows, cols, imp);
    block_q6_K *y = q;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t b = 0; b < cols / 256; b++, y++) q6_K_block_avx2(x + r * cols + 256 * b, y, imp ? imp + 256 * b : NULL);
    return QB_OK;
}

/* ==== dequantize: the reference's operations, eight lanes at a time ======================= */

static void q8_0_dequantize_avx2(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_q8_0 *b = q;
    for (int64_t i = 0, nb = rows * cols / 32; i < nb; i++, y += 32) {
        const __m256 d = _mm256_set1_ps(f16_to_f32(b[i].d));
        __m256 v[4];
        i8x32_to_ps(_mm256_loadu_si256((const __m256i *)b[i].qs), v);
        for (int k = 0; k < 4; k++) _mm256_storeu_ps(y + 8 * k, _mm256_mul_ps(v[k], d));
    }
}

static void q8_K_dequantize_avx2(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_q8_K *b = q;
    for (int64_t i = 0, nb = rows * cols / 256; i < nb; i++) {
        const __m256 d = _mm256_set1_ps(b[i].d);
        for (int c = 0; c < 8; c++, y += 32) {
            __m256 v[4];
            i8x32_to_ps(_mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * c)), v);
            for (int k = 0; k < 4; k++) _mm256_storeu_ps(y + 8 * k, _mm256_mul_ps(d, v[k]));
        }
    }
}

/* The 16 packed bytes of a 32-element block as 32 bytes: low nibbles, then high nibbles. */
static inline __m256i unpack_nibbles32(const uint8_t *qs) {
    const __m256i raw = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
    return _mm256_and_si256(_mm256_blend_epi32(raw, _mm256_srli_epi16(raw, 4), 0xF0), _mm256_set1_epi8(0x0F));
}

static void q4_0_dequantize_avx2(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_q4_0 *b = q;
    for (int64_t i = 0, nb = rows * cols / 32; i < nb; i++, y += 32) {
        const __m256 d = _mm256_set1_ps(f16_to_f32(b[i].d));
        __m256 v[4];
        i8x32_to_ps(_mm256_sub_epi8(unpack_nibbles32(b[i].qs), _mm256_set1_epi8(8)), v);
        for (int k = 0; k < 4; k++) _mm256_storeu_ps(y + 8 * k, _mm256_mul_ps(v[k], d));
    }
}

/* The codebook value of each nibble of a 32-element block (int8, elements in order). */
static inline __m256i iq4_values32(const uint8_t *qs) {
    const __m256i tbl = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qb_kvalues_iq4nl));
    return _mm256_shuffle_epi8(tbl, unpack_nibbles32(qs));
}

static void iq4_nl_dequantize_avx2(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_iq4_nl *b = q;
    for (int64_t i = 0, nb = rows * cols / 32; i < nb; i++, y += 32) {
        const __m256 d = _mm256_set1_ps(f16_to_f32(b[i].d));
        __m256 v[4];
        i8x32_to_ps(iq4_values32(b[i].qs), v);
        for (int k = 0; k < 4; k++) _mm256_storeu_ps(y + 8 * k, _mm256_mul_ps(d, v[k]));
    }
}

static inline int iq4_xs_scale(const block_iq4_xs *b, int ib) {
    return ((b->scales_l[ib / 2] >> 4 * (ib % 2)) & 0xF) | (((b->scales_h >> 2 * ib) & 3) << 4);
}

static void iq4_xs_dequantize_avx2(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_iq4_xs *b = q;
    for (int64_t i = 0, nb = rows * cols / 256; i < nb; i++) {
        const float d = f16_to_f32(b[i].d);
        for (int ib = 0; ib < 8; ib++, y += 32) {
            const __m256 dl = _mm256_set1_ps(d * (iq4_xs_scale(&b[i], ib) - 32));
            __m256 v[4];
            i8x32_to_ps(iq4_values32(b[i].qs + 16 * ib), v);
            for (int k = 0; k < 4; k++) _mm256_storeu_ps(y + 8 * k, _mm256_mul_ps(dl, v[k]));
        }
    }
}

/* The eight 6-bit scales (bytes 0–7 of sc) and mins (bytes 0–7 of m) of a q4_K/q5_K
 * super-block, get_scale_min_k4 for all j at once on the three 32-bit words of scales[12]. */
static inline void k4_scales_mins(const uint8_t s[12], uint8_t sc[8], uint8_t m[8]) {
    uint32_t w[3], a[2], b[2];
    memcpy(w, s, 12);
    a[0] = w[0] & 0x3f3f3f3f;                                           /* sc 0–3 */
    a[1] = (w[2] & 0x0f0f0f0f) | (((w[0] >> 6) & 0x03030303) << 4);    /* sc 4–7 */
    b[0] = w[1] & 0x3f3f3f3f;                                           /* m 0–3 */
    b[1] = ((w[2] >> 4) & 0x0f0f0f0f) | (((w[1] >> 6) & 0x03030303) << 4); /* m 4–7 */
    memcpy(sc, a, 8);
    memcpy(m, b, 8);
}

/* q4_K and q5_K: y = (d·sc_j)·q − dmin·m_j with the two scale products rounded first. */
static void k4_dequantize(const block_q4_K *b4, const block_q5_K *b5, float *y, int64_t nb) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *scales = b4 ? b4[i].scales : b5[i].scales, *qs = b4 ? b4[i].qs : b5[i].qs;
        const float d = f16_to_f32(b4 ? b4[i].d : b5[i].d), min = f16_to_f32(b4 ? b4[i].dmin : b5[i].dmin);
        const __m256i qh = b5 ? _mm256_loadu_si256((const __m256i *)b5[i].qh) : _mm256_setzero_si256();
        uint8_t sc[8], m[8];
        k4_scales_mins(scales, sc, m);
        for (int j = 0; j < 8; j++, y += 32) {
            const __m256 d1 = _mm256_set1_ps(d * sc[j]), m1 = _mm256_set1_ps(min * m[j]);
            const __m256i raw = _mm256_loadu_si256((const __m256i *)(qs + 32 * (j / 2)));
            __m256i v = _mm256_and_si256(j % 2 ? _mm256_srli_epi16(raw, 4) : raw, m4);
            if (b5) {
                __m256i h = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(j)), one);
                v = _mm256_or_si256(v, _mm256_slli_epi16(h, 4));
            }
            __m256 f[4];
            u8x32_to_ps(v, f);
            for (int k = 0; k < 4; k++) _mm256_storeu_ps(y + 8 * k, _mm256_sub_ps(_mm256_mul_ps(d1, f[k]), m1));
        }
    }
}

static void q4_K_dequantize_avx2(const void *q, float *y, int64_t rows, int64_t cols) {
    k4_dequantize(q, NULL, y, rows * cols / 256);
}

static void q5_K_dequantize_avx2(const void *q, float *y, int64_t rows, int64_t cols) {
    k4_dequantize(NULL, q, y, rows * cols / 256);
}

/* q6_K's 6-bit levels of the 128-element half h as four 32-byte groups t (elements
 * 128h + 32t + l): low nibbles from ql, top two bits from qh. */
static inline void q6_levels(const block_q6_K *b, int h, __m256i q[4]) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h));
    const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32));
    const __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
    q[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4));
    q[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4));
}

static void q6_K_dequantize_avx2(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_q6_K *b = q;
    for (int64_t i = 0, nb = rows * cols / 256; i < nb; i++) {
        const float d = f16_to_f32(b[i].d);
        for (int h = 0; h < 2; h++) {
            __m256i lv[4];
            q6_levels(&b[i], h, lv);
            for (int t = 0; t < 4; t++, y += 32) {
                const int sb = 8 * h + 2 * t; /* sub-block of the first 16 elements */
                const __m256 d0 = _mm256_set1_ps(d * b[i].scales[sb]), d1 = _mm256_set1_ps(d * b[i].scales[sb + 1]);
                __m256 f[4];
                i8x32_to_ps(_mm256_sub_epi8(lv[t], _mm256_set1_epi8(32)), f);
                _mm256_storeu_ps(y, _mm256_mul_ps(d0, f[0]));
                _mm256_storeu_ps(y + 8, _mm256_mul_ps(d0, f[1]));
                _mm256_storeu_ps(y + 16, _mm256_mul_ps(d1, f[2]));
                _mm256_storeu_ps(y + 24, _mm256_mul_ps(d1, f[3]));
            }
        }
    }
}

/* The 2-bit fields of the 128-element half h of q2_K's qs (q3_K's low bits) as four 32-byte
 * groups t (elements 128h + 32t + l: sub-blocks 8h + 2t and 8h + 2t + 1), levels 0…3. */
static inline void q2_levels(const uint8_t *qs, int h, __m256i q[4]) {
    const __m256i raw = _mm256_loadu_si256((const __m256i *)(qs + 32 * h)), m2 = _mm256_set1_epi8(3);
    for (int t = 0; t < 4; t++) q[t] = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * t), m2);
}

/* q3_K's levels q3 + 4 ∈ [0, 7] of the half h, grouped as q2_levels. The high bit of element
 * 128h + 32t + l is bit 4h + t of hmask[l]: one 16-bit shift (for h = 0) and then byte-wise
 * doublings bring it to each byte's sign bit, t = 3 first, where blendv turns it into 4. No
 * per-t bit masks: with them the dot ran out of registers and took 30 % longer. */
static inline void q3_levels(const block_q3_K *b, int h, __m256i q[4]) {
    __m256i x = _mm256_loadu_si256((const __m256i *)b->hmask);
    if (!h) x = _mm256_slli_epi16(x, 4); /* bits 0–3 of each byte to 4–7 */
    q2_levels(b->qs, h, q);
    for (int t = 3; t >= 0; t--, x = _mm256_add_epi8(x, x))
        q[t] = _mm256_or_si256(q[t], _mm256_blendv_epi8(_mm256_setzero_si256(), _mm256_set1_epi8(4), x));
}

/* The 16 sub-scales of a super-block (int8) times its float scale d, each product rounded as
 * the reference's d·sc, into out[16] (read back by a broadcast per sub-block). */
static inline void scale16_ps(__m128i sc, float d, float out[16]) {
    const __m256 vd = _mm256_set1_ps(d);
    _mm256_storeu_ps(out, _mm256_mul_ps(vd, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc))));
    _mm256_storeu_ps(out + 8, _mm256_mul_ps(vd, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(sc, sc)))));
}

/* q2_K: y = (d·sc_j)·q − dmin·m_j with both products rounded first, as the reference. */
static void q2_K_dequantize_avx2(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_q2_K *b = q;
    const __m128i m4 = _mm_set1_epi8(0x0F);
    for (int64_t i = 0, nb = rows * cols / 256; i < nb; i++) {
        const __m128i raw = _mm_loadu_si128((const __m128i *)b[i].scales);
        float dl[16], ml[16];
        scale16_ps(_mm_and_si128(raw, m4), f16_to_f32(b[i].d), dl);
        scale16_ps(_mm_and_si128(_mm_srli_epi16(raw, 4), m4), f16_to_f32(b[i].dmin), ml);
        for (int h = 0; h < 2; h++) {
            __m256i lv[4];
            q2_levels(b[i].qs, h, lv);
            for (int t = 0; t < 4; t++, y += 32) {
                __m256 f[4];
                u8x32_to_ps(lv[t], f);
                for (int k = 0; k < 4; k++) {
                    const int j = 8 * h + 2 * t + k / 2;
                    const __m256 v = _mm256_mul_ps(_mm256_broadcast_ss(&dl[j]), f[k]);
                    _mm256_storeu_ps(y + 8 * k, _mm256_sub_ps(v, _mm256_broadcast_ss(&ml[j])));
                }
            }
        }
    }
}

/* q3_K: y = (d·(s_j − 32))·q3. */
static void q3_K_dequantize_avx2(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_q3_K *b = q;
    for (int64_t i = 0, nb = rows * cols / 256; i < nb; i++) {
        float dl[16];
        scale16_ps(q3_K_scales(b[i].scales), f16_to_f32(b[i].d), dl);
        for (int h = 0; h < 2; h++) {
            __m256i lv[4];
            q3_levels(&b[i], h, lv);
            for (int t = 0; t < 4; t++, y += 32) {
                __m256 f[4];
                i8x32_to_ps(_mm256_sub_epi8(lv[t], _mm256_set1_epi8(4)), f);
                for (int k = 0; k < 4; k++)
                    _mm256_storeu_ps(y + 8 * k, _mm256_mul_ps(_mm256_broadcast_ss(&dl[8 * h + 2 * t + k / 2]), f[k]));
            }
        }
    }
}

/* ==== dot products ============================================================================
 * Integer products: _mm256_maddubs_epi16(u, s) multiplies unsigned bytes u by signed bytes s
 * and adds pairs with int16 saturation, which never triggers here: |u| ≤ 128 and |s| ≤ 127
 * (2·128·127 < 2^15) or u ≤ 63. For a signed pair (w, a) the sign trick makes u = |a| (a =
 * −128 gives 128, still exact) and s = w·sign(a), exact while w ≠ −128, which holds for the
 * q4_0 levels (−8…7) and the iq4 codebook (−127…113); q8_0 × q8_0, whose weights may hold
 * −128, swaps the roles (u = |w|, s = a·sign(w)): its activations never hold −128. */

static inline __m256i dot_signed_i8(__m256i w, __m256i a) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(a), _mm256_sign_epi8(w, a)), _mm256_set1_epi16(1));
}

/* The exact integer sums Σ w·a of two 32-element blocks (x0 with y0, x1 with y1) of each
 * 32-element-block dot in 8 int32 lanes: lanes 0–3 add up to the first block's, lanes 4–7
 * to the second's. The 4-bit types take both blocks' 16 packed bytes into one register (low
 * nibbles: elements 0–15, high nibbles: 16–31), matched by the activations' halves. */

/* q4_0: Σ (q − 8)·a as maddubs(q, a) − maddubs(8, a) on the unsigned levels q ∈ [0, 15]
 * (each 16-bit pair sum within ±2·15·128; the two halves' differences, each within ±2·8·128,
 * add exactly), one op fewer than the sign trick. */
static inline __m256i q4_0_pair_isum(const block_q4_0 *x0, const block_q4_0 *x1, const block_q8_0 *y0,
                                     const block_q8_0 *y1) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), eight = _mm256_set1_epi8(8);
    const __m256i raw = load_2x128(x0->qs, x1->qs);
    const __m256i lo = _mm256_and_si256(raw, m4), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
    const __m256i alo = load_2x128(y0->qs, y1->qs), ahi = load_2x128(y0->qs + 16, y1->qs + 16);
    const __m256i plo = _mm256_sub_epi16(_mm256_maddubs_epi16(lo, alo), _mm256_maddubs_epi16(eight, alo));
    const __m256i phi = _mm256_sub_epi16(_mm256_maddubs_epi16(hi, ahi), _mm256_maddubs_epi16(eight, ahi));
    return _mm256_madd_epi16(_mm256_add_epi16(plo, phi), _mm256_set1_epi16(1));
}

static inline __m256i iq4_nl_pair_isum(const block_iq4_nl *x0, const block_iq4_nl *x1, const block_q8_0 *y0,
                                       const block_q8_0 *y1) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i tbl = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qb_kvalues_iq4nl));
    const __m256i raw = load_2x128(x0->qs, x1->qs);
    const __m256i wlo = _mm256_shuffle_epi8(tbl, _mm256_and_si256(raw, m4));
    const __m256i whi = _mm256_shuffle_epi8(tbl, _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4));
    const __m256i alo = load_2x128(y0->qs, y1->qs), ahi = load_2x128(y0->qs + 16, y1->qs + 16);
    return _mm256_add_epi32(dot_signed_i8(wlo, alo), dot_signed_i8(whi, ahi));
}

/* q8_0: the sign trick with the roles swapped, u = |w| (w = −128 gives 128, still exact) and
 * s = a·sign(w), exact because the activation comes from q8_0's quantizer, whose levels lie
 * in −127…127 (d = amax/127); four ops per block instead of sign-extending both to 16 bits. */
static inline __m256i q8_0_block_isum(const block_q8_0 *x, const block_q8_0 *y) {
    const __m256i w = _mm256_loadu_si256((const __m256i *)x->qs), a = _mm256_loadu_si256((const __m256i *)y->qs);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(a, w)), _mm256_set1_epi16(1));
}

static inline __m256i q8_0_pair_isum(const block_q8_0 *x0, const block_q8_0 *x1, const block_q8_0 *y0,
                                     const block_q8_0 *y1) {
    const __m256i p0 = q8_0_block_isum(x0, y0), p1 = q8_0_block_isum(x1, y1);
    return _mm256_add_epi32(_mm256_permute2x128_si256(p0, p1, 0x20), _mm256_permute2x128_si256(p0, p1, 0x31));
}

BLOCK32_DOT(q4_0_vec_dot_avx2, block_q4_0, q4_0_pair_isum)
BLOCK32_DOT(q8_0_vec_dot_avx2, block_q8_0, q8_0_pair_isum)
BLOCK32_DOT(iq4_nl_vec_dot_avx2, block_iq4_nl, iq4_nl_pair_isum)

static float iq4_xs_vec_dot_avx2(const void *w_row, const void *act_row, int64_t cols) {
    const block_iq4_xs *x = w_row;
    const block_q8_K *y = act_row;
    __m256 sumv = _mm256_setzero_ps();
    for (int64_t i = 0, nb = cols / 256; i < nb; i++) {
        __m256i acc = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib++) {
            const __m256i w = iq4_values32(x[i].qs + 16 * ib), a = _mm256_loadu_si256((const __m256i *)(y[i].qs + 32 * ib));
            const __m256i p16 = _mm256_maddubs_epi16(_mm256_abs_epi8(a), _mm256_sign_epi8(w, a));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p16, _mm256_set1_epi16((int16_t)(iq4_xs_scale(&x[i], ib) - 32))));
        }
        sumv = _mm256_fmadd_ps(_mm256_set1_ps(f16_to_f32(x[i].d) * y[i].d), _mm256_cvtepi32_ps(acc), sumv);
    }
    return hsum_ps(sumv);
}

/* The affine K-quants' (q2_K, q4_K, q5_K) super-block total d·d_a·Σ sc·q·a − dmin·d_a·Σ m·a
 * from the exact int32 lanes acc (Σ sc·q·a) and summv (Σ m·bsums), added to four double lanes.
 * The two terms can be large and nearly cancel (a block whose values sit far above its min):
 * summed in double, the result carries only the rounding of the scales. Both folded to two
 * exact int32 halves, [Σqa, Σqa, Σm, Σm] times [d, d, −dmin, −dmin] (float scales, rounded as
 * the reference rounds them, times integers below 2^25: exact double products) go into the
 * four lanes: no horizontal sum per super-block. dm: the block's fp16 d, then dmin. */
static inline __m256d affine_terms_pd(__m256i acc, __m256i summv, const uint16_t *dm, float dy, __m256d acc4) {
    uint32_t dpair;
    memcpy(&dpair, dm, 4);
    const __m128 dd = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128((int)dpair)), _mm_set1_ps(dy)); /* d·dy, dmin·dy */
    const __m128 dsc = _mm_xor_ps(_mm_shuffle_ps(dd, dd, 0x50), _mm_setr_ps(0.0f, 0.0f, -0.0f, -0.0f));
    const __m256i t = _mm256_hadd_epi32(acc, summv); /* qa01 qa23 m01 m23 | qa45 qa67 m45 m67 */
    const __m128i u = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
    return _mm256_fmadd_pd(_mm256_cvtps_pd(dsc), _mm256_cvtepi32_pd(u), acc4);
}

static inline float hsum_pd(__m256d v) {
    const __m128d h = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return (float)(_mm_cvtsd_f64(h) + _mm_cvtsd_f64(_mm_unpackhi_pd(h, h)));
}

/* q2_K, q3_K and q6_K: Σ_j sc_j·Σ q·a over the 128-element half h, added to acc's int32
 * lanes. lv[t]: the unsigned levels (≤ 63) of elements 128h + 32t + l as q2_levels groups them,
 * sub-block 8h + 2t in the low 128 bits and 8h + 2t + 1 in the high; sc16: the 16 sub-scales
 * as int16 words; a: the activation's 128 values of the half. */
static inline __m256i sub16_isum(const __m256i lv[4], __m256i sc16, int h, const int8_t *a, __m256i acc) {
    const __m256i half = h ? _mm256_permute2x128_si256(sc16, sc16, 0x11)
                           : _mm256_permute2x128_si256(sc16, sc16, 0x00); /* words 8h…8h+7, twice */
    for (int t = 0; t < 4; t++) {
        const __m256i idx = _mm256_set_m128i(_mm_set1_epi16((short)(0x0100 + 0x0202 * (2 * t + 1))),
                                             _mm_set1_epi16((short)(0x0100 + 0x0202 * 2 * t)));
        const __m256i p = _mm256_maddubs_epi16(lv[t], _mm256_loadu_si256((const __m256i *)(a + 32 * t)));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_shuffle_epi8(half, idx)));
    }
    return acc;
}

/* q2_K: Σ_j sc_j·Σ q·a, and Σ_j m_j·bsums_j for the min term (its 16 sums of 16, as ggml). */
static float q2_K_vec_dot_avx2(const void *w_row, const void *act_row, int64_t cols) {
    const block_q2_K *x = w_row;
    const block_q8_K *y = act_row;
    const __m128i m4 = _mm_set1_epi8(0x0F);
    __m256d acc4 = _mm256_setzero_pd();
    for (int64_t i = 0, nb = cols / 256; i < nb; i++) {
        const __m128i raw = _mm_loadu_si128((const __m128i *)x[i].scales);
        const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(raw, m4));
        const __m256i m16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), m4));
        const __m256i summv = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[i].bsums), m16);
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i lv[4];
            q2_levels(x[i].qs, h, lv);
            acc = sub16_isum(lv, sc16, h, y[i].qs + 128 * h, acc);
        }
        acc4 = affine_terms_pd(acc, summv, &x[i].d, y[i].d, acc4);
    }
    return hsum_pd(acc4);
}

/* q3_K and q6_K: Σ_j s_j·Σ q·a over the levels stored with an offset of 2^SHIFT (q3 + 4 ∈
 * [0, 7], q6 ∈ [0, 63] for q6 − 32), so they enter maddubs unsigned, minus 2^SHIFT·Σ_j
 * s_j·bsums_j (s_j the signed sub-scales, 16-bit words), subtracted lane-wise and exactly;
 * the super-blocks' exact lanes are scaled into vector accumulators, one horizontal sum per
 * row. SCALES8 gives the 16 sub-scales of a block as int8 in a __m128i. */
#define OFFSET16_DOT(T, SCALES8, LEVELS, SHIFT)                                                                  \
    static float T##_vec_dot_avx2(const void *w_row, const void *act_row, int64_t cols) {                       \
        const block_##T *x = w_row;                                                                             \
        const block_q8_K *y = act_row;                                                                          \
        __m256 sumv = _mm256_setzero_ps();                                                                      \
        for (int64_t i = 0, nb = cols / 256; i < nb; i++) {                                                     \
            const __m256i sc16 = _mm256_cvtepi8_epi16(SCALES8(x[i].scales));                                   \
            __m256i acc = _mm256_slli_epi32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[i].bsums), sc16), SHIFT); \
            acc = _mm256_sub_epi32(_mm256_setzero_si256(), acc);                                                \
            for (int h = 0; h < 2; h++) {                                                                       \
                __m256i lv[4];                                                                                  \
                LEVELS(&x[i], h, lv);                                                                           \
                acc = sub16_isum(lv, sc16, h, y[i].qs + 128 * h, acc);                                          \
            }                                                                                                   \
            sumv = _mm256_fmadd_ps(_mm256_set1_ps(f16_to_f32(x[i].d) * y[i].d), _mm256_cvtepi32_ps(acc), sumv); \
        }                                                                                                       \
        return hsum_ps(sumv);                                                                                   \
    }
static inline __m128i q6_K_scales(const int8_t s[16]) { return _mm_loadu_si128((const __m128i *)s); }
OFFSET16_DOT(q3_K, q3_K_scales, q3_levels, 2)
OFFSET16_DOT(q6_K, q6_K_scales, q6_levels, 5)
#undef OFFSET16_DOT

/* q4_K/q5_K: Σ_j sc_j·Σ q·a exactly per super-block, minus dmin·Σ_j m_j·(a's sums). */
static float k4_vec_dot(const block_q4_K *x4, const block_q5_K *x5, const block_q8_K *y, int64_t nb) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    __m256d acc4 = _mm256_setzero_pd();
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *scales = x4 ? x4[i].scales : x5[i].scales, *qs = x4 ? x4[i].qs : x5[i].qs;
        uint8_t sc[8], m[8];
        k4_scales_mins(scales, sc, m);
        /* Σ_j m_j·(bsums[2j] + bsums[2j+1]): each m_j widened twice to 16 bits, then madd */
        const __m128i mm = _mm_loadl_epi64((const __m128i *)m);
        const __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mm, mm));
        const __m256i summv = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[i].bsums), m16);
        __m256i qh = x5 ? _mm256_loadu_si256((const __m256i *)x5[i].qh) : _mm256_setzero_si256();
        __m256i acc = _mm256_setzero_si256();
        /* sc_j as 16-bit words in both 128-bit lanes; a byte shuffle broadcasts one of them */
        const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)sc)));
        for (int j = 0; j < 4; j++) {
            const __m256i raw = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
            __m256i lo = _mm256_and_si256(raw, m4), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
            if (x5) {
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(qh, one), 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 1), one), 4));
                qh = _mm256_srli_epi16(qh, 2);
            }
            const __m256i plo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * j)));
            const __m256i phi = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * j + 32)));
            const __m256i slo = _mm256_shuffle_epi8(sc16, _mm256_set1_epi16((short)(0x0100 + 0x0202 * 2 * j)));
            const __m256i shi = _mm256_shuffle_epi8(sc16, _mm256_set1_epi16((short)(0x0100 + 0x0202 * (2 * j + 1))));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(plo, slo));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(phi, shi));
        }
        acc4 = affine_terms_pd(acc, summv, x4 ? &x4[i].d : &x5[i].d, y[i].d, acc4);
    }
    return hsum_pd(acc4);
}

static float q4_K_vec_dot_avx2(const void *w_row, const void *act_row, int64_t cols) {
    return k4_vec_dot(w_row, NULL, act_row, cols / 256);
}

static float q5_K_vec_dot_avx2(const void *w_row, const void *act_row, int64_t cols) {
    return k4_vec_dot(NULL, w_row, act_row, cols / 256);
}


/* ==== installation ============================================================================ */

typedef struct {
    const char *name;
    const qb_format **self;
    qb_status (*quantize)(const float *, void *, int64_t, int64_t, const float *);
    void (*dequantize)(const void *, float *, int64_t, int64_t);
    float (*vec_dot)(const void *, const void *, int64_t);
} kernels;

static const kernels table_avx2[] = {
    {"q8_0", &fmt_q8_0, q8_0_quantize_avx2, q8_0_dequantize_avx2, q8_0_vec_dot_avx2},
    {"q8_1", &fmt_q8_1, q8_1_quantize_avx2, NULL, NULL},
    {"q8_K", &fmt_q8_K, q8_K_quantize_avx2, q8_K_dequantize_avx2, NULL},
    {"q4_0", &fmt_q4_0, q4_0_quantize_avx2, q4_0_dequantize_avx2, q4_0_vec_dot_avx2},
    {"iq4_nl", &fmt_iq4_nl, iq4_nl_quantize_avx2, iq4_nl_dequantize_avx2, iq4_nl_vec_dot_avx2},
    {"iq4_xs", &fmt_iq4_xs, iq4_xs_quantize_avx2, iq4_xs_dequantize_avx2, iq4_xs_vec_dot_avx2},
    {"q2_K", &fmt_q2_K, q2_K_quantize_avx2, q2_K_dequantize_avx2, q2_K_vec_dot_avx2},
    {"q3_K", &fmt_q3_K, qb_x86_q3_K_quantize_avx2, q3_K_dequantize_avx2, q3_K_vec_dot_avx2},
    {"q4_K", &fmt_q4_K, q4_K_quantize_avx2, q4_K_dequantize_avx2, q4_K_vec_dot_avx2},
    {"q5_K", &fmt_q5_K, q5_K_quantize_avx2, q5_K_dequantize_avx2, q5_K_vec_dot_avx2},
    {"q6_K", &fmt_q6_K, q6_K_quantize_avx2, q6_K_dequantize_avx2, q6_K_vec_dot_avx2},
};

void qb_formats_init_x86_ggml(qb_format *const *table, int n) {
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < sizeof table_avx2 / sizeof table_avx2[0]; k++) {
            const kernels *kn = &table_avx2[k];
            qb_format *f = table[i];
            if (strcmp(f->name, kn->name) != 0) continue;
            *kn->self = f;
            if (kn->quantize) f->quantize = kn->quantize;
            if (kn->dequantize) f->dequantize = kn->dequantize;
            if (kn->vec_dot && f->vec_dot_type) f->vec_dot = kn->vec_dot;
            f->impl = "avx2";
        }
}
