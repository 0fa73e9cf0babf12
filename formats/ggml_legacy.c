/* ggml_legacy.c — GGUF's legacy 32-element block types q4_0, q4_1, q5_0, q5_1, q8_0 and q8_1,
 * byte-compatible with ggml (FORMATS.md §5.3–5.8, §5.16; checked by formats/tests/
 * test_golden.c against the reference quantizer's bytes).
 *
 * Without importance weights each type uses ggml's `quantize_row_*_ref` rounding (RHUP via a
 * truncating cast for q4/q5, RHAZ for q8_0) with the fp32 scale computed before its fp16
 * rounding. With importance weights (an imatrix, one weight per column) q4_0/q5_0 search
 * the scale with make_qx_quants and q4_1/q5_1 with make_qkx3_quants, weighting element i by
 * imp_i·sqrt(σ² + x_i²), σ² the mean square of the whole row; q8_0 ignores them. q8_1 is
 * q8_0 plus s = fp16(d·Σq), the block sum that dot products with asymmetric weights use; ggml
 * makes it for activations and never writes it to files, and has no dequantizer for it (ours
 * returns q·d, ignoring s).
 * Bit-exactness depends on evaluating every float expression in ggml's order and precision
 * without FMA contraction (the build passes -ffp-contract=off).
 *
 * Block layouts (all little-endian; element e and e+16 share byte e of qs, §5.3):
 *   q4_0 (18 B)  0: d fp16 | 2: qs[16]                      y = (q − 8)·d
 *   q4_1 (20 B)  0: d fp16 | 2: m fp16 | 4: qs[16]          y = q·d + m
 *   q5_0 (22 B)  0: d fp16 | 2: qh[4]  | 6: qs[16]          y = (q − 16)·d, bit 4 of q_e = bit e of qh
 *   q5_1 (24 B)  0: d fp16 | 2: m fp16 | 4: qh[4] | 8: qs[16]   y = q·d + m
 *   q8_0 (34 B)  0: d fp16 | 2: qs[32] int8                  y = q·d
 *   q8_1 (36 B)  0: d fp16 | 2: s fp16 | 4: qs[32] int8       y = q·d, s = fp16(d·Σ q)
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "ggml_blocks.h"
#include "ggml_common.h"

#define QK 32

/* ---- shared block plumbing --------------------------------------------------------------- */

static void min_max(const float *x, float *mn, float *mx) {
    *mn = FLT_MAX;
    *mx = -FLT_MAX;
    for (int j = 0; j < QK; j++) {
        if (x[j] < *mn) *mn = x[j];
        if (x[j] > *mx) *mx = x[j];
    }
}

/* Per-element weights for a block under an imatrix: imp_i·sqrt(σ² + x_i²) (§5.4). */
static void imatrix_weights(const float *xb, const float *imp, float sigma2, float *w) {
    for (int j = 0; j < QK; j++) w[j] = imp[j] * sqrtf(sigma2 + xb[j] * xb[j]);
}

static float row_sigma2(const float *x, int64_t cols) {
    float sum_x2 = 0;
    for (int64_t j = 0; j < cols; j++) sum_x2 += x[j] * x[j];
    return sum_x2 / (float)cols;
}

static void pack_nibbles(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < QK / 2; j++) qs[j] = (uint8_t)((L[j] & 0x0F) | ((L[j + QK / 2] & 0x0F) << 4));
}

static void pack_high_bits(const uint8_t *L, uint8_t qh[4]) {
    uint32_t h = 0;
    for (int j = 0; j < QK; j++) h |= (uint32_t)((L[j] >> 4) & 1) << j;
    memcpy(qh, &h, 4);
}

/* 5-bit values from the low nibbles and the qh bits. */
static void unpack5(const uint8_t *qs, const uint8_t qh[4], int q[QK]) {
    uint32_t h;
    memcpy(&h, qh, 4);
    for (int j = 0; j < QK / 2; j++) {
        q[j] = (qs[j] & 0x0F) | (int)(((h >> j) << 4) & 0x10);
        q[j + QK / 2] = (qs[j] >> 4) | (int)((h >> (j + 12)) & 0x10);
    }
}

/* Runs a block quantizer over every block of every row after checking the values are finite
 * (ggml's validation rejects NaN/Inf in weights; the casts below would be undefined). */
typedef void (*block_fn)(const float *xb, void *blk, const float *imp, float sigma2);

static qb_status quantize_rows(const char *name, block_fn fn, size_t bsize, const float *x, void *q, int64_t rows,
                               int64_t cols, const float *imp) {
    qb_status st = qb_check_finite(x, rows, cols, name);
    if (st) return st;
    uint8_t *out = q;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float sigma2 = imp ? row_sigma2(xr, cols) : 0.0f;
        for (int64_t b = 0; b < cols / QK; b++, out += bsize) fn(xr + b * QK, out, imp ? imp + b * QK : NULL, sigma2);
    }
    return QB_OK;
}

/* ---- q4_0 / q5_0: symmetric, d = max/−2^(bits−1) ------------------------------------------ */

/* Levels of a symmetric block: d = max/−nmax and L = min(2·nmax − 1, trunc(x/d + nmax + ½)),
 * or ggml's weighted search under importance weights; returns d as fp16. */
static uint16_t sym_block(const float *xb, const float *imp, float sigma2, int nmax, uint8_t *L) {
    if (imp) {
        float w[QK];
        imatrix_weights(xb, imp, sigma2, w);
        return qb_f32_to_f16(qb_ggml_make_qx_quants(QK, nmax, xb, L, 1, w));
    }
    float amax, max = qb_ggml_signed_absmax(xb, QK, &amax);
    const float d = max / (float)-nmax, id = d ? 1.0f / d : 0.0f, offset = (float)nmax + 0.5f;
    for (int j = 0; j < QK; j++) {
        int v = (int8_t)(xb[j] * id + offset);
        L[j] = (uint8_t)(v < 2 * nmax - 1 ? v : 2 * nmax - 1);
    }
    return qb_f32_to_f16(d);
}

static void q4_0_block(const float *xb, void *blk, const float *imp, float sigma2) {
    block_q4_0 *y = blk;
    uint8_t L[QK];
    y->d = sym_block(xb, imp, sigma2, 8, L);
    pack_nibbles(L, y->qs);
}

static void q5_0_block(const float *xb, void *blk, const float *imp, float sigma2) {
    block_q5_0 *y = blk;
    uint8_t L[QK];
    y->d = sym_block(xb, imp, sigma2, 16, L);
    pack_nibbles(L, y->qs);
    pack_high_bits(L, y->qh);
}

/* ---- q4_1 / q5_1: affine, d = (max − min)/(2^bits − 1), m = min --------------------------- */

static void affine_block(const float *xb, const float *imp, float sigma2, int nmax, uint16_t *d, uint16_t *m, uint8_t *L) {
    if (imp) {
        float w[QK], the_min;
        imatrix_weights(xb, imp, sigma2, w);
        float scale = qb_ggml_make_qkx3_quants(QK, nmax, xb, w, L, &the_min, -0.9f, 0.05f, 36);
        *d = qb_f32_to_f16(scale);
        *m = qb_f32_to_f16(-the_min);
        return;
    }
    float mn, mx;
    min_max(xb, &mn, &mx);
    const float dd = (mx - mn) / nmax, id = dd ? 1.0f / dd : 0.0f;
    *d = qb_f32_to_f16(dd);
    *m = qb_f32_to_f16(mn);
    for (int j = 0; j < QK; j++) {
        int v = (int)(uint8_t)((xb[j] - mn) * id + 0.5f);
        L[j] = (uint8_t)(v < nmax ? v : nmax); /* q5_1's reference has no clamp: its values never exceed 31 */
    }
}

static void q4_1_block(const float *xb, void *blk, const float *imp, float sigma2) {
    block_q4_1 *y = blk;
    uint8_t L[QK];
    affine_block(xb, imp, sigma2, 15, &y->d, &y->m, L);
    pack_nibbles(L, y->qs);
}

static void q5_1_block(const float *xb, void *blk, const float *imp, float sigma2) {
    block_q5_1 *y = blk;
    uint8_t L[QK];
    affine_block(xb, imp, sigma2, 31, &y->d, &y->m, L);
    pack_nibbles(L, y->qs);
    pack_high_bits(L, y->qh);
}

/* ---- q8_0: d = amax/127, q = roundf(x/d); importance weights do not apply -------------- */

static void q8_0_block(const float *xb, void *blk, const float *imp, float sigma2) {
    (void)imp, (void)sigma2;
    block_q8_0 *y = blk;
    float amax;
    qb_ggml_signed_absmax(xb, QK, &amax);
    const float d = amax / 127, id = d ? 1.0f / d : 0.0f;
    y->d = qb_f32_to_f16(d);
    for (int j = 0; j < QK; j++) y->qs[j] = (int8_t)roundf(xb[j] * id);
}

/* q8_1: q8_0's d and q, and s = fp16(Σq · d) with the fp32 d. */
static void q8_1_block(const float *xb, void *blk, const float *imp, float sigma2) {
    (void)imp, (void)sigma2;
    block_q8_1 *y = blk;
    float amax;
    qb_ggml_signed_absmax(xb, QK, &amax);
    const float d = amax / 127, id = d ? 1.0f / d : 0.0f;
    int sum = 0;
    y->d = qb_f32_to_f16(d);
    for (int j = 0; j < QK; j++) {
        y->qs[j] = (int8_t)roundf(xb[j] * id);
        sum += y->qs[j];
    }
    y->s = qb_f32_to_f16(sum * d);
}

/* ---- entry points ------------------------------------------------------------------------ */

#define QUANTIZE(T, USES_IMP)                                                                              \
    static qb_status T##_quantize(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {  \
        return quantize_rows(#T, T##_block, sizeof(block_##T), x, q, rows, cols, USES_IMP ? imp : NULL); \
    }
QUANTIZE(q4_0, 1)
QUANTIZE(q4_1, 1)
QUANTIZE(q5_0, 1)
QUANTIZE(q5_1, 1)
QUANTIZE(q8_0, 0)
QUANTIZE(q8_1, 0)
#undef QUANTIZE

/* "_opt" variants: the same GGUF layouts (llama.cpp loads them as q4_0 … q5_1), quantized
 * with the weighted scale search ggml runs under an imatrix, given uniform importance
 * (w_i = sqrt(σ² + x_i²)) instead of the reference's min/max rounding. Better error, same
 * bits, different bytes: separate registry names, so neither is mistaken for the other. */
#define OPT(T)                                                                                            \
    static qb_status T##_opt_quantize(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) { \
        if (imp) return T##_quantize(x, q, rows, cols, imp);                                             \
        float *ones = qb_malloc(sizeof(float) * (size_t)(cols ? cols : 1));                              \
        for (int64_t j = 0; j < cols; j++) ones[j] = 1.0f;                                                \
        qb_status st = T##_quantize(x, q, rows, cols, ones);                                             \
        free(ones);                                                                                       \
        return st;                                                                                        \
    }
OPT(q4_0)
OPT(q4_1)
OPT(q5_0)
OPT(q5_1)
#undef OPT

static void q4_0_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_q4_0 *b = q;
    for (int64_t i = 0, nb = rows * cols / QK; i < nb; i++, y += QK) {
        const float d = qb_f16_to_f32(b[i].d);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = ((b[i].qs[j] & 0x0F) - 8) * d;
            y[j + QK / 2] = ((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void q4_1_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_q4_1 *b = q;
    for (int64_t i = 0, nb = rows * cols / QK; i < nb; i++, y += QK) {
        const float d = qb_f16_to_f32(b[i].d), m = qb_f16_to_f32(b[i].m);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = (b[i].qs[j] & 0x0F) * d + m;
            y[j + QK / 2] = (b[i].qs[j] >> 4) * d + m;
        }
    }
}

static void q5_0_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_q5_0 *b = q;
    int v[QK];
    for (int64_t i = 0, nb = rows * cols / QK; i < nb; i++, y += QK) {
        const float d = qb_f16_to_f32(b[i].d);
        unpack5(b[i].qs, b[i].qh, v);
        for (int j = 0; j < QK; j++) y[j] = (v[j] - 16) * d;
    }
}

static void q5_1_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_q5_1 *b = q;
    int v[QK];
    for (int64_t i = 0, nb = rows * cols / QK; i < nb; i++, y += QK) {
        const float d = qb_f16_to_f32(b[i].d), m = qb_f16_to_f32(b[i].m);
        unpack5(b[i].qs, b[i].qh, v);
        for (int j = 0; j < QK; j++) y[j] = v[j] * d + m;
    }
}

static void q8_0_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_q8_0 *b = q;
    for (int64_t i = 0, nb = rows * cols / QK; i < nb; i++, y += QK) {
        const float d = qb_f16_to_f32(b[i].d);
        for (int j = 0; j < QK; j++) y[j] = b[i].qs[j] * d;
    }
}

static void q8_1_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_q8_1 *b = q;
    for (int64_t i = 0, nb = rows * cols / QK; i < nb; i++, y += QK) {
        const float d = qb_f16_to_f32(b[i].d);
        for (int j = 0; j < QK; j++) y[j] = b[i].qs[j] * d;
    }
}

/* ---- dot products with the activation row (format.h invariant 5) --------------------------
 * ggml's vec_dot_*_generic: an exact integer sum per block, then the scales in float, in
 * ggml's order (q4_0: (Σ·dx)·dy; q5_0: (dx·dy)·Σ; q8_0: Σ·(dx·dy); q4_1/q5_1 add mx·sy,
 * sy the activation's fp16 block sum d·Σq). */

static float q4_0_vec_dot(const void *w_row, const void *act_row, int64_t cols) {
    const block_q4_0 *x = w_row;
    const block_q8_0 *y = act_row;
    float sumf = 0;
    for (int64_t ib = 0, nb = cols / QK; ib < nb; ib++) {
        int sumi = 0;
        for (int j = 0; j < QK / 2; j++)
            sumi += ((x[ib].qs[j] & 0x0F) - 8) * y[ib].qs[j] + ((x[ib].qs[j] >> 4) - 8) * y[ib].qs[j + QK / 2];
        sumf += sumi * qb_f16_to_f32(x[ib].d) * qb_f16_to_f32(y[ib].d);
    }
    return sumf;
}

static float q4_1_vec_dot(const void *w_row, const void *act_row, int64_t cols) {
    const block_q4_1 *x = w_row;
    const block_q8_1 *y = act_row;
    float sumf = 0;
    for (int64_t ib = 0, nb = cols / QK; ib < nb; ib++) {
        int sumi = 0;
        for (int j = 0; j < QK / 2; j++)
            sumi += (x[ib].qs[j] & 0x0F) * y[ib].qs[j] + (x[ib].qs[j] >> 4) * y[ib].qs[j + QK / 2];
        sumf += (qb_f16_to_f32(x[ib].d) * qb_f16_to_f32(y[ib].d)) * sumi +
                qb_f16_to_f32(x[ib].m) * qb_f16_to_f32(y[ib].s);
    }
    return sumf;
}

static float q5_0_vec_dot(const void *w_row, const void *act_row, int64_t cols) {
    const block_q5_0 *x = w_row;
    const block_q8_0 *y = act_row;
    float sumf = 0;
    int v[QK];
    for (int64_t ib = 0, nb = cols / QK; ib < nb; ib++) {
        int sumi = 0;
        unpack5(x[ib].qs, x[ib].qh, v);
        for (int j = 0; j < QK; j++) sumi += (v[j] - 16) * y[ib].qs[j];
        sumf += (qb_f16_to_f32(x[ib].d) * qb_f16_to_f32(y[ib].d)) * sumi;
    }
    return sumf;
}

static float q5_1_vec_dot(const void *w_row, const void *act_row, int64_t cols) {
    const block_q5_1 *x = w_row;
    const block_q8_1 *y = act_row;
    float sumf = 0;
    int v[QK];
    for (int64_t ib = 0, nb = cols / QK; ib < nb; ib++) {
        int sumi = 0;
        unpack5(x[ib].qs, x[ib].qh, v);
        for (int j = 0; j < QK; j++) sumi += v[j] * y[ib].qs[j];
        sumf += (qb_f16_to_f32(x[ib].d) * qb_f16_to_f32(y[ib].d)) * sumi +
                qb_f16_to_f32(x[ib].m) * qb_f16_to_f32(y[ib].s);
    }
    return sumf;
}

static float q8_0_vec_dot(const void *w_row, const void *act_row, int64_t cols) {
    const block_q8_0 *x = w_row;
    const block_q8_0 *y = act_row;
    float sumf = 0;
    for (int64_t ib = 0, nb = cols / QK; ib < nb; ib++) {
        int sumi = 0;
        for (int j = 0; j < QK; j++) sumi += x[ib].qs[j] * y[ib].qs[j];
        sumf += sumi * (qb_f16_to_f32(x[ib].d) * qb_f16_to_f32(y[ib].d));
    }
    return sumf;
}

#define q8_1_vec_dot NULL /* an activation format: ggml has no q8_1 weight dot */

/* Error bounds (format.h invariant 4), without importance weights: half a step, or a whole
 * step for the element clamped at the top code, plus the fp16 rounding of d (and m) times the
 * largest code; err_abs covers d landing in fp16's subnormal range. */
#define LEGACY(T, ID, BYTES, DESC, FLAGS, EBLOCK, EABS, DOT_TYPE)                                 \
    qb_format qb_format_##T = {                                                                  \
        .name = #T, .family = "ggml", .description = DESC, .block_elems = QK, .block_bytes = BYTES, \
        .gguf_type = ID, .flags = FLAGS, .err_block = EBLOCK, .err_abs = EABS,                     \
        .quantize_ref = T##_quantize, .dequantize_ref = T##_dequantize,                          \
        .vec_dot_type = DOT_TYPE, .vec_dot_ref = T##_vec_dot,                                    \
    };
LEGACY(q4_0, 2, 18, "GGUF Q4_0: 32 x 4-bit, fp16 scale d = max/-8", QB_FMT_USES_IMP, 1.0 / 8 + 1.0 / 2048, 0x1p-22, "q8_0")
LEGACY(q4_1, 3, 20, "GGUF Q4_1: 32 x 4-bit, fp16 scale and min", QB_FMT_USES_IMP, 1.0 / 15 + 3.0 / 2048, 0x1p-21, "q8_1")
LEGACY(q5_0, 6, 22, "GGUF Q5_0: 32 x 5-bit, fp16 scale d = max/-16", QB_FMT_USES_IMP, 1.0 / 16 + 1.0 / 2048, 0x1p-21, "q8_0")
LEGACY(q5_1, 7, 24, "GGUF Q5_1: 32 x 5-bit, fp16 scale and min", QB_FMT_USES_IMP, 1.0 / 31 + 3.0 / 2048, 0x1p-20, "q8_1")
LEGACY(q8_0, 8, 34, "GGUF Q8_0: 32 x int8, fp16 scale d = amax/127", 0, 1.0 / 254 + 1.0 / 2048, 0x1p-18, "q8_0")
LEGACY(q8_1, 9, 36, "GGUF Q8_1: Q8_0 plus fp16 block sum d*sum(q) (dot-product activations)", 0, 1.0 / 254 + 1.0 / 2048, 0x1p-18,
       NULL)
/* The searched scale is a least-squares fit, not the min/max rule the bounds above derive
 * from, so these bounds are measured, not derived: the worst |x − x̂|/amax seen over 64×4096
 * values of each of test_formats.c's five distributions was 0.123 (q4_0_opt), 0.092 (q4_1_opt),
 * 0.056 (q5_0_opt) and 0.048 (q5_1_opt); the bounds leave 1.5–2.2× of that. */
#define LEGACY_OPT(T, ID, BYTES, DESC, EBLOCK, EABS, DOT_TYPE)                                        \
    qb_format qb_format_##T##_opt = {                                                                \
        .name = #T "_opt", .family = "ggml", .description = DESC, .block_elems = QK, .block_bytes = BYTES, \
        .gguf_type = ID, .flags = QB_FMT_USES_IMP, .err_block = EBLOCK, .err_abs = EABS,               \
        .quantize_ref = T##_opt_quantize, .dequantize_ref = T##_dequantize,                          \
        .vec_dot_type = DOT_TYPE, .vec_dot_ref = T##_vec_dot,                                        \
    };
LEGACY_OPT(q4_0, 2, 18, "Q4_0 layout, ggml's weighted scale search instead of max/-8 (loads as Q4_0)", 0.25, 0x1p-21, "q8_0")
LEGACY_OPT(q4_1, 3, 20, "Q4_1 layout, ggml's weighted scale/min search (loads as Q4_1)", 0.15, 0x1p-20, "q8_1")
LEGACY_OPT(q5_0, 6, 22, "Q5_0 layout, ggml's weighted scale search instead of max/-16 (loads as Q5_0)", 0.125, 0x1p-20, "q8_0")
LEGACY_OPT(q5_1, 7, 24, "Q5_1 layout, ggml's weighted scale/min search (loads as Q5_1)", 0.075, 0x1p-19, "q8_1")
#undef LEGACY_OPT
#undef LEGACY
#undef q8_1_vec_dot
