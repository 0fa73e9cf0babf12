/* ggml_x86.c — AVX2/FMA/F16C fast paths for the GGUF block formats (q8_0, q8_1, q8_K, q4_0,
 * iq4_nl, iq4_xs, q4_K, q5_K, q6_K), compiled with -mavx2 -mfma -mf16c and installed by
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
 *      q4_K, q5_K      the 8 sub-blocks of a super-block run make_qkx2_quants (or, with an
 *                      imatrix, make_qkx3_quants) in 8 lanes: within a sub-block the candidates
 *                      depend on each other through the running min, so each lane repeats the
 *                      scalar sequence exactly, accepting or not with a per-lane mask;
 *      q6_K            8 of the 16 sub-blocks per pass through make_qx_quants, likewise.
 *    The remaining per-super-block steps (sub-scale quantization, make_qp_quants, packing)
 *    are the reference's scalar code; re-quantization is elementwise and vectorized. Blocks
 *    whose inverse scale overflows to Inf (amax below ~1e-36), where the reference converts
 *    Inf/NaN to int8, are handed to the reference itself, as are imatrix rows for q4_0 and
 *    inputs that are not finite (the reference reports them).
 *  - vec_dot: exact integer sums per block (maddubs with the unsigned operand in [0, 128]
 *    and the signed one never −128, or sign-extended madd for q8_0 × q8_0). The 32-element
 *    types scale each block's 8 integer lanes by d_w·d_a with FMA into two float
 *    accumulators; the 256-element types add d·(exact super-block total) one super-block at
 *    a time (q4_K/q5_K in double: their min term can nearly cancel the main one). The float
 *    order differs from ggml's generic code, within format.h's tolerance 1e-5·Σ|w·a|. q6_K
 *    and q4_K/q5_K take the activation's per-16 sums from its bsums, as ggml does; q8_K's
 *    quantizer writes them as the sums of its qs.
 *
 * Not here, so on the reference paths: q2_K, q3_K, q4_1, q5_0, q5_1, mxfp4, nvfp4, tq1_0,
 * tq2_0, q1_0, q2_0 (all ops), q8_1's dequantize. Nothing rules them out: q2_K's search is
 * make_qkx2_quants again (2 × 8 lanes of 16), and q3_K's make_q3_quants sweeps can run per
 * lane under masks (a sweep that changes nothing leaves the state as it was, so a lane that
 * has converged may sweep again harmlessly); they are simply not written yet. */
#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "../format.h"
#include "../ggml_blocks.h"
#include "../ggml_common.h"

/* The table rows, for the reference paths that rare blocks fall back to (set at init). */
static const qb_format *fmt_q8_0, *fmt_q8_1, *fmt_q8_K, *fmt_q4_0, *fmt_q4_K, *fmt_q5_K, *fmt_q6_K, *fmt_iq4_nl,
    *fmt_iq4_xs;

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
static int all_finite(const float *x, int64_t n) {
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
    if (cols % 32 || !all_finite(x, rows * cols)) return fmt_q8_0->quantize_ref(x, q, rows, cols, imp);
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
    if (cols % 32 || !all_finite(x, rows * cols)) return fmt_q8_1->quantize_ref(x, q, rows, cols, imp);
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
    if (cols % 256 || !all_finite(x, rows * cols)) return fmt_q8_K->quantize_ref(x, q, rows, cols, imp);
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
    if (imp || cols % 32 || !all_finite(x, rows * cols)) return fmt_q4_0->quantize_ref(x, q, rows, cols, imp);
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
    if (cols % 32 || !all_finite(x, rows * cols)) return fmt_iq4_nl->quantize_ref(x, q, rows, cols, imp);
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
    if (cols % 256 || !all_finite(x, rows * cols)) return fmt_iq4_xs->quantize_ref(x, q, rows, cols, imp);
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

static inline __m256i clamp_epi32(__m256i v, int lo, int hi) {
    return _mm256_max_epi32(_mm256_min_epi32(v, _mm256_set1_epi32(hi)), _mm256_set1_epi32(lo));
}

static inline __m256 select_ps(__m256 mask, __m256 if_true, __m256 if_false) {
    return _mm256_blendv_ps(if_false, if_true, mask);
}

/* make_qkx2_quants (qkx3 = 0) or make_qkx3_quants (qkx3 = 1, weights given) of ggml_common.c
 * for 8 groups at once: lane j of x[i], w[i] is element i of group j (i < n). Each lane does
 * the scalar function's float operations in its order; acceptance is a per-lane mask. L[i]
 * receives the levels, *scale and *the_min the return value and the min, per lane. */
static void qkx_lanes(int n, int nmax, const __m256 *x, const __m256 *w, __m256i *L, __m256 *scale_out,
                      __m256 *the_min_out, float rmin, float rdelta, int nstep, int use_mad, int qkx3) {
    const __m256 zero = _mm256_setzero_ps(), fnmax = _mm256_set1_ps((float)nmax);
    __m256 min = x[0], max = x[0], sum_w = w[0], sum_x = _mm256_mul_ps(w[0], x[0]);
    for (int i = 1; i < n; i++) {
        min = select_ps(_mm256_cmp_ps(x[i], min, _CMP_LT_OQ), x[i], min);
        max = select_ps(_mm256_cmp_ps(x[i], max, _CMP_GT_OQ), x[i], max);
        sum_w = _mm256_add_ps(sum_w, w[i]);
        sum_x = _mm256_add_ps(sum_x, _mm256_mul_ps(w[i], x[i]));
    }
    min = select_ps(_mm256_cmp_ps(min, zero, _CMP_GT_OQ), zero, min);
    const __m256 flat = qkx3 ? _mm256_cmp_ps(max, min, _CMP_LE_OQ) : _mm256_cmp_ps(max, min, _CMP_EQ_OQ);
    __m256 iscale = _mm256_div_ps(fnmax, _mm256_sub_ps(max, min));
    __m256 scale = _mm256_div_ps(_mm256_set1_ps(1.0f), iscale), best = zero;
    for (int i = 0; i < n; i++) {
        L[i] = clamp_epi32(nearest_int_v(_mm256_mul_ps(iscale, _mm256_sub_ps(x[i], min))), 0, nmax);
        __m256 diff = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(scale, _mm256_cvtepi32_ps(L[i])), min), x[i]);
        diff = use_mad ? abs_ps(diff) : _mm256_mul_ps(diff, diff);
        best = _mm256_add_ps(best, _mm256_mul_ps(w[i], diff));
    }
    __m256i Laux[32];
    for (int is = 0; nstep >= 1 && is <= nstep; is++) {
        iscale = _mm256_div_ps(_mm256_set1_ps(rmin + rdelta * is + nmax), _mm256_sub_ps(max, min));
        __m256 sum_l = zero, sum_l2 = zero, sum_xl = zero;
        for (int i = 0; i < n; i++) {
            Laux[i] = clamp_epi32(nearest_int_v(_mm256_mul_ps(iscale, _mm256_sub_ps(x[i], min))), 0, nmax);
            const __m256 l = _mm256_cvtepi32_ps(Laux[i]), wl = _mm256_mul_ps(w[i], l);
            sum_l = _mm256_add_ps(sum_l, wl);
            sum_l2 = _mm256_add_ps(sum_l2, _mm256_mul_ps(wl, l));
            sum_xl = _mm256_add_ps(sum_xl, _mm256_mul_ps(wl, x[i]));
        }
        const __m256 D = _mm256_sub_ps(_mm256_mul_ps(sum_w, sum_l2), _mm256_mul_ps(sum_l, sum_l));
        const __m256 ok = _mm256_cmp_ps(D, zero, _CMP_GT_OQ);
        if (_mm256_testz_ps(ok, ok)) continue;
        __m256 this_scale = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_w, sum_xl), _mm256_mul_ps(sum_x, sum_l)), D);
        __m256 this_min = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_l2, sum_x), _mm256_mul_ps(sum_l, sum_xl)), D);
        const __m256 pos = _mm256_cmp_ps(this_min, zero, _CMP_GT_OQ);
        this_min = select_ps(pos, zero, this_min);
        this_scale = select_ps(pos, _mm256_div_ps(sum_xl, sum_l2), this_scale);
        __m256 err = zero;
        for (int i = 0; i < n; i++) {
            const __m256 fit = _mm256_add_ps(_mm256_mul_ps(this_scale, _mm256_cvtepi32_ps(Laux[i])), this_min);
            __m256 diff = _mm256_sub_ps(fit, x[i]);
            diff = use_mad ? abs_ps(diff) : _mm256_mul_ps(diff, diff);
            err = _mm256_add_ps(err, _mm256_mul_ps(w[i], diff));
        }
        const __m256 take = _mm256_and_ps(ok, _mm256_cmp_ps(err, best, _CMP_LT_OQ));
        if (_mm256_testz_ps(take, take)) continue;
        for (int i = 0; i < n; i++) L[i] = _mm256_blendv_epi8(L[i], Laux[i], _mm256_castps_si256(take));
        best = select_ps(take, err, best);
        scale = select_ps(take, this_scale, scale);
        min = select_ps(take, this_min, min);
    }
    for (int i = 0; i < n; i++) L[i] = _mm256_andnot_si256(_mm256_castps_si256(flat), L[i]);
    *scale_out = select_ps(flat, zero, scale);
    *the_min_out = _mm256_xor_ps(min, _mm256_set1_ps(-0.0f)); /* −min, the sign of a zero included */
}

/* make_qx_quants (ggml_common.c) with rmse_type 1 for 8 groups at once (lane j of x[i] is
 * element i of group j; weights qw, or x² when qw is NULL). L[i] receives l + nmax. */
static void qx_lanes(int n, int nmax, const __m256 *x, const __m256 *qw, __m256i *L, __m256 *scale_out) {
    const __m256 zero = _mm256_setzero_ps();
    __m256 max = zero, amax = zero, w[16];
    for (int i = 0; i < n; i++) {
        const __m256 ax = abs_ps(x[i]), gt = _mm256_cmp_ps(ax, amax, _CMP_GT_OQ);
        amax = select_ps(gt, ax, amax);
        max = select_ps(gt, x[i], max);
        w[i] = qw ? qw[i] : _mm256_mul_ps(x[i], x[i]);
    }
    const __m256 tiny = _mm256_cmp_ps(amax, _mm256_set1_ps(QB_GGML_GROUP_MAX_EPS), _CMP_LT_OQ);
    __m256i Laux[16];
    __m256 scale = zero, best = zero;
    for (int is = 0; is <= 18; is++) { /* is = 0: the start; then −9…9 without 0, ascending */
        const int t = is == 0 ? 0 : is <= 9 ? is - 10 : is - 9;
        const __m256 iscale = _mm256_div_ps(_mm256_set1_ps(is == 0 ? (float)-nmax : -(nmax + 0.1f * t)), max);
        __m256 sumlx = zero, suml2 = zero;
        for (int i = 0; i < n; i++) {
            const __m256i li = clamp_epi32(nearest_int_v(_mm256_mul_ps(iscale, x[i])), -nmax, nmax - 1);
            const __m256 l = _mm256_cvtepi32_ps(li);
            Laux[i] = _mm256_add_epi32(li, _mm256_set1_epi32(nmax));
            sumlx = _mm256_add_ps(sumlx, _mm256_mul_ps(_mm256_mul_ps(w[i], x[i]), l));
            suml2 = _mm256_add_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(w[i], l), l));
        }
        if (is == 0) {
            for (int i = 0; i < n; i++) L[i] = Laux[i];
            const __m256 nz = _mm256_cmp_ps(suml2, zero, _CMP_NEQ_UQ);
            scale = _mm256_and_ps(nz, _mm256_div_ps(sumlx, suml2));
            best = _mm256_mul_ps(scale, sumlx);
            continue;
        }
        const __m256 take = _mm256_and_ps(_mm256_cmp_ps(suml2, zero, _CMP_GT_OQ),
                                          _mm256_cmp_ps(_mm256_mul_ps(sumlx, sumlx), _mm256_mul_ps(best, suml2), _CMP_GT_OQ));
        if (_mm256_testz_ps(take, take)) continue;
        for (int i = 0; i < n; i++) L[i] = _mm256_blendv_epi8(L[i], Laux[i], _mm256_castps_si256(take));
        const __m256 s = _mm256_div_ps(sumlx, suml2);
        scale = select_ps(take, s, scale);
        best = select_ps(take, _mm256_mul_ps(s, sumlx), best);
    }
    for (int i = 0; i < n; i++) L[i] = _mm256_andnot_si256(_mm256_castps_si256(tiny), L[i]);
    *scale_out = select_ps(tiny, zero, scale);
}

/* Lane j of the result is p[stride·j] (a strided gather of 8 floats). */
static inline __m256 gather8(const float *p, int stride) {
    const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(stride));
    return _mm256_i32gather_ps(p, idx, 4);
}

/* Lane j of L[i] → levels[stride·j + i] (i < n). */
static void scatter_levels(const __m256i *L, int n, int stride, uint8_t *levels) {
    for (int i = 0; i < n; i++) {
        int32_t v[8];
        _mm256_storeu_si256((__m256i *)v, L[i]);
        for (int j = 0; j < 8; j++) levels[stride * j + i] = (uint8_t)v[j];
    }
}

/* ggml_k.c's k4_block (scales, d, dmin and levels of a q4_K or q5_K super-block). */
static void k4_block_avx2(const float *x, const float *imp, int nmax, uint8_t s[12], uint16_t *d16, uint16_t *dmin16,
                          uint8_t *L) {
    __m256 xt[32], wt[32], sc, mn;
    __m256i Lt[32];
    float scales[8], mins[8];
    uint8_t ls[8], lm[8];
    for (int i = 0; i < 32; i++) xt[i] = gather8(x + i, 32);
    if (!imp) {
        __m256 sum_x2 = _mm256_setzero_ps();
        for (int i = 0; i < 32; i++) sum_x2 = _mm256_add_ps(sum_x2, _mm256_mul_ps(xt[i], xt[i]));
        const __m256 av_x = _mm256_sqrt_ps(_mm256_div_ps(sum_x2, _mm256_set1_ps(32)));
        for (int i = 0; i < 32; i++) wt[i] = _mm256_add_ps(av_x, abs_ps(xt[i]));
        if (nmax == 15)
            qkx_lanes(32, 15, xt, wt, Lt, &sc, &mn, -1.f, 0.1f, 20, 0, 0);
        else
            qkx_lanes(32, 31, xt, wt, Lt, &sc, &mn, -0.5f, 0.1f, 15, 0, 0);
        _mm256_storeu_ps(scales, sc), _mm256_storeu_ps(mins, mn);
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
        pack_scale_min_k4(ls, lm, s);
        *d16 = qb_f32_to_f16(max_scale / 63.f);
        *dmin16 = qb_f32_to_f16(max_min / 63.f);
    } else {
        float sw[8], sum_x2 = 0;
        for (int j = 0; j < 256; j++) sum_x2 += x[j] * x[j];
        const __m256 sigma2 = _mm256_set1_ps(2 * sum_x2 / 256);
        __m256 sumw = _mm256_setzero_ps();
        for (int i = 0; i < 32; i++) {
            wt[i] = _mm256_mul_ps(gather8(imp + i, 32), _mm256_sqrt_ps(_mm256_add_ps(sigma2, _mm256_mul_ps(xt[i], xt[i]))));
            sumw = _mm256_add_ps(sumw, wt[i]);
        }
        _mm256_storeu_ps(sw, sumw);
        qkx_lanes(32, nmax, xt, wt, Lt, &sc, &mn, -0.9f, 0.05f, 36, 0, 1);
        _mm256_storeu_ps(scales, sc), _mm256_storeu_ps(mins, mn);
        float d_block = qb_ggml_make_qp_quants(8, 63, scales, ls, sw);
        float m_block = qb_ggml_make_qp_quants(8, 63, mins, lm, sw);
        if (nmax == 31)
            for (int j = 0; j < 8; j++) {
                ls[j] = ls[j] < 63 ? ls[j] : 63;
                lm[j] = lm[j] < 63 ? lm[j] : 63;
            }
        pack_scale_min_k4(ls, lm, s);
        *d16 = qb_f32_to_f16(d_block);
        *dmin16 = qb_f32_to_f16(m_block);
    }
    scatter_levels(Lt, 32, 32, L);
    /* re-quantize with the stored fp16 d/dmin: q = clamp(nearest_int((x + dmin·m)/(d·sc))) */
    for (int j = 0; j < 8; j++) {
        uint8_t scj, mj;
        get_scale_min_k4(j, s, &scj, &mj);
        const float d = f16_to_f32(*d16) * scj;
        if (!d) continue;
        const float dm = f16_to_f32(*dmin16) * mj;
        __m256i l[4];
        for (int k = 0; k < 4; k++) {
            __m256 v = _mm256_div_ps(_mm256_add_ps(_mm256_loadu_ps(x + 32 * j + 8 * k), _mm256_set1_ps(dm)), _mm256_set1_ps(d));
            l[k] = clamp_epi32(nearest_int_v(v), 0, nmax);
        }
        _mm256_storeu_si256((__m256i *)(L + 32 * j), pack_i32x32_i8(l[0], l[1], l[2], l[3]));
    }
}

static qb_status q4_K_quantize_avx2(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    if (cols % 256 || !all_finite(x, rows * cols)) return fmt_q4_K->quantize_ref(x, q, rows, cols, imp);
    block_q4_K *y = q;
    uint8_t L[256];
    for (int64_t r = 0; r < rows; r++)
        for (int64_t b = 0; b < cols / 256; b++, y++) {
            k4_block_avx2(x + r * cols + 256 * b, imp ? imp + 256 * b : NULL, 15, y->scales, &y->d, &y->dmin, L);
            for (int j = 0; j < 256; j += 64)
                for (int l = 0; l < 32; l++) y->qs[j / 2 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
        }
    return QB_OK;
}

static qb_status q5_K_quantize_avx2(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    if (cols % 256 || !all_finite(x, rows * cols)) return fmt_q5_K->quantize_ref(x, q, rows, cols, imp);
    block_q5_K *y = q;
    uint8_t L[256];
    for (int64_t r = 0; r < rows; r++)
        for (int64_t b = 0; b < cols / 256; b++, y++) {
            k4_block_avx2(x + r * cols + 256 * b, imp ? imp + 256 * b : NULL, 31, y->scales, &y->d, &y->dmin, L);
            memset(y->qh, 0, sizeof y->qh);
            for (int n = 0, g = 0; n < 256; n += 64, g += 2)
                for (int j = 0; j < 32; j++) {
                    int l1 = L[n + j], l2 = L[n + j + 32];
                    if (l1 > 15) {
                        l1 -= 16;
                        y->qh[j] |= (uint8_t)(1u << g);
                    }
                    if (l2 > 15) {
                        l2 -= 16;
                        y->qh[j] |= (uint8_t)(2u << g);
                    }
                    y->qs[n / 2 + j] = (uint8_t)(l1 | (l2 << 4));
                }
        }
    return QB_OK;
}

/* ggml_k.c's q6_K_block: make_qx_quants on the 16 sub-blocks, 8 per pass. */
static void q6_K_block_avx2(const float *x, block_q6_K *y, const float *imp) {
    uint8_t L[256];
    float scales[16], max_scale = 0, max_abs_scale = 0;
    for (int p = 0; p < 2; p++) {
        __m256 xt[16], wt[16], sc;
        __m256i Lt[16];
        for (int i = 0; i < 16; i++) {
            xt[i] = gather8(x + 128 * p + i, 16);
            if (imp) wt[i] = gather8(imp + 128 * p + i, 16);
        }
        qx_lanes(16, 32, xt, imp ? wt : NULL, Lt, &sc);
        _mm256_storeu_ps(scales + 8 * p, sc);
        scatter_levels(Lt, 16, 16, L + 128 * p);
    }
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
        if (!d) continue;
        int32_t l[16];
        for (int k = 0; k < 2; k++) {
            __m256 v = _mm256_div_ps(_mm256_loadu_ps(x + 16 * j + 8 * k), _mm256_set1_ps(d));
            __m256i li = _mm256_add_epi32(clamp_epi32(nearest_int_v(v), -32, 31), _mm256_set1_epi32(32));
            _mm256_storeu_si256((__m256i *)(l + 8 * k), li);
        }
        for (int ii = 0; ii < 16; ii++) L[16 * j + ii] = (uint8_t)l[ii];
    }
    for (int j = 0; j < 256; j += 128)
        for (int l = 0; l < 32; l++) {
            const uint8_t *Lj = L + j + l;
            y->ql[j / 2 + l] = (uint8_t)((Lj[0] & 0xF) | ((Lj[64] & 0xF) << 4));
            y->ql[j / 2 + l + 32] = (uint8_t)((Lj[32] & 0xF) | ((Lj[96] & 0xF) << 4));
            y->qh[j / 4 + l] =
                (uint8_t)((Lj[0] >> 4) | ((Lj[32] >> 4) << 2) | ((Lj[64] >> 4) << 4) | ((Lj[96] >> 4) << 6));
        }
}

static qb_status q6_K_quantize_avx2(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    if (cols % 256 || !all_finite(x, rows * cols)) return fmt_q6_K->quantize_ref(x, q, rows, cols, imp);
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
    const __m128i raw = _mm_loadu_si128((const __m128i *)qs), m4 = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(raw, 4), m4), _mm_and_si128(raw, m4));
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
    const __m128i tbl = _mm_loadu_si128((const __m128i *)qb_kvalues_iq4nl);
    const __m128i raw = _mm_loadu_si128((const __m128i *)qs), m4 = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_shuffle_epi8(tbl, _mm_and_si128(_mm_srli_epi16(raw, 4), m4)),
                            _mm_shuffle_epi8(tbl, _mm_and_si128(raw, m4)));
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

/* ==== dot products ============================================================================
 * Integer products: _mm256_maddubs_epi16(u, s) multiplies unsigned bytes u by signed bytes s
 * and adds pairs with int16 saturation, which never triggers here: |u| ≤ 128 and |s| ≤ 127
 * (2·128·127 < 2^15) or u ≤ 63. For a signed pair (w, a) the sign trick makes u = |a| (a =
 * −128 gives 128, still exact) and s = w·sign(a), exact while w ≠ −128, which holds for the
 * q4_0 levels (−8…7) and the iq4 codebook (−127…113); q8_0 × q8_0, whose weights may hold
 * −128, sign-extends to 16 bits instead. */

static inline __m256i dot_signed_i8(__m256i w, __m256i a) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(a), _mm256_sign_epi8(w, a)), _mm256_set1_epi16(1));
}

/* One 32-element block of each 32-element-block dot, accumulated into acc: d_w·d_a·Σ w·a. */
static inline __m256 q4_0_block_dot(const block_q4_0 *x, const block_q8_0 *y, __m256 acc) {
    const __m256i w = _mm256_sub_epi8(unpack_nibbles32(x->qs), _mm256_set1_epi8(8));
    const __m256i p = dot_signed_i8(w, _mm256_loadu_si256((const __m256i *)y->qs));
    return _mm256_fmadd_ps(_mm256_set1_ps(f16_to_f32(x->d) * f16_to_f32(y->d)), _mm256_cvtepi32_ps(p), acc);
}

static inline __m256 q8_0_block_dot(const block_q8_0 *x, const block_q8_0 *y, __m256 acc) {
    const __m128i *w = (const __m128i *)x->qs, *a = (const __m128i *)y->qs;
    const __m256i p0 = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128(w)), _mm256_cvtepi8_epi16(_mm_loadu_si128(a)));
    const __m256i p1 = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128(w + 1)), _mm256_cvtepi8_epi16(_mm_loadu_si128(a + 1)));
    const __m256i p = _mm256_add_epi32(p0, p1);
    return _mm256_fmadd_ps(_mm256_set1_ps(f16_to_f32(x->d) * f16_to_f32(y->d)), _mm256_cvtepi32_ps(p), acc);
}

static inline __m256 iq4_nl_block_dot(const block_iq4_nl *x, const block_q8_0 *y, __m256 acc) {
    const __m256i p = dot_signed_i8(iq4_values32(x->qs), _mm256_loadu_si256((const __m256i *)y->qs));
    return _mm256_fmadd_ps(_mm256_set1_ps(f16_to_f32(x->d) * f16_to_f32(y->d)), _mm256_cvtepi32_ps(p), acc);
}

/* Two blocks per step into two accumulators (independent FMA chains). */
#define BLOCK32_DOT(T, W)                                                                      \
    static float T##_vec_dot_avx2(const void *w_row, const void *act_row, int64_t cols) {       \
        const W *x = w_row;                                                                     \
        const block_q8_0 *y = act_row;                                                          \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                          \
        int64_t ib = 0, nb = cols / 32;                                                         \
        for (; ib + 1 < nb; ib += 2) {                                                          \
            acc0 = T##_block_dot(&x[ib], &y[ib], acc0);                                         \
            acc1 = T##_block_dot(&x[ib + 1], &y[ib + 1], acc1);                                 \
        }                                                                                       \
        if (ib < nb) acc0 = T##_block_dot(&x[ib], &y[ib], acc0);                                \
        return hsum_ps(_mm256_add_ps(acc0, acc1));                                              \
    }
BLOCK32_DOT(q4_0, block_q4_0)
BLOCK32_DOT(q8_0, block_q8_0)
BLOCK32_DOT(iq4_nl, block_iq4_nl)
#undef BLOCK32_DOT

static float iq4_xs_vec_dot_avx2(const void *w_row, const void *act_row, int64_t cols) {
    const block_iq4_xs *x = w_row;
    const block_q8_K *y = act_row;
    float sumf = 0;
    for (int64_t i = 0, nb = cols / 256; i < nb; i++) {
        __m256i acc = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib++) {
            const __m256i w = iq4_values32(x[i].qs + 16 * ib), a = _mm256_loadu_si256((const __m256i *)(y[i].qs + 32 * ib));
            const __m256i p16 = _mm256_maddubs_epi16(_mm256_abs_epi8(a), _mm256_sign_epi8(w, a));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p16, _mm256_set1_epi16((int16_t)(iq4_xs_scale(&x[i], ib) - 32))));
        }
        sumf += (f16_to_f32(x[i].d) * y[i].d) * hsum_epi32(acc);
    }
    return sumf;
}

/* q4_K/q5_K: Σ_j sc_j·Σ q·a exactly per super-block, minus dmin·Σ_j m_j·(a's sums). */
static float k4_vec_dot(const block_q4_K *x4, const block_q5_K *x5, const block_q8_K *y, int64_t nb) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    double sumf = 0;
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *scales = x4 ? x4[i].scales : x5[i].scales, *qs = x4 ? x4[i].qs : x5[i].qs;
        uint8_t sc[8], m[8];
        k4_scales_mins(scales, sc, m);
        /* Σ_j m_j·(bsums[2j] + bsums[2j+1]): each m_j widened twice to 16 bits, then madd */
        const __m128i mm = _mm_loadl_epi64((const __m128i *)m);
        const __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mm, mm));
        const int summ = hsum_epi32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[i].bsums), m16));
        __m256i qh = x5 ? _mm256_loadu_si256((const __m256i *)x5[i].qh) : _mm256_setzero_si256();
        __m256i acc = _mm256_setzero_si256();
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
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(plo, _mm256_set1_epi16(sc[2 * j])));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(phi, _mm256_set1_epi16(sc[2 * j + 1])));
        }
        /* the two terms can be large and nearly cancel (a block whose values sit far above its
         * min): summed in double, the result carries only the rounding of the scales */
        const float dy = y[i].d, d = f16_to_f32(x4 ? x4[i].d : x5[i].d) * dy;
        const float dmin = f16_to_f32(x4 ? x4[i].dmin : x5[i].dmin) * dy;
        sumf += (double)d * hsum_epi32(acc) - (double)dmin * summ;
    }
    return (float)sumf;
}

static float q4_K_vec_dot_avx2(const void *w_row, const void *act_row, int64_t cols) {
    return k4_vec_dot(w_row, NULL, act_row, cols / 256);
}

static float q5_K_vec_dot_avx2(const void *w_row, const void *act_row, int64_t cols) {
    return k4_vec_dot(NULL, w_row, act_row, cols / 256);
}

/* q6_K: Σ_j sc_j·Σ q·a over the unsigned levels q ∈ [0, 63], minus 32·Σ_j sc_j·bsums_j. */
static float q6_K_vec_dot_avx2(const void *w_row, const void *act_row, int64_t cols) {
    const block_q6_K *x = w_row;
    const block_q8_K *y = act_row;
    float sumf = 0;
    for (int64_t i = 0, nb = cols / 256; i < nb; i++) {
        int summ = 0;
        for (int j = 0; j < 16; j++) summ += x[i].scales[j] * y[i].bsums[j];
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i lv[4];
            q6_levels(&x[i], h, lv);
            for (int t = 0; t < 4; t++) {
                const int sb = 8 * h + 2 * t;
                const __m256i p = _mm256_maddubs_epi16(lv[t], _mm256_loadu_si256((const __m256i *)(y[i].qs + 128 * h + 32 * t)));
                const __m256i s = _mm256_set_m128i(_mm_set1_epi16(x[i].scales[sb + 1]), _mm_set1_epi16(x[i].scales[sb]));
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, s));
            }
        }
        sumf += (f16_to_f32(x[i].d) * y[i].d) * (hsum_epi32(acc) - 32 * summ);
    }
    return sumf;
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
