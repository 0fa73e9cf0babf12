/* ggml_k.c — GGUF's K-quant super-block types q2_K, q3_K, q4_K, q5_K and q6_K, and the
 * dot-product activation type q8_K, byte-compatible with ggml (FORMATS.md §5.1, §5.13–5.16;
 * checked by formats/tests/test_golden.c against the reference quantizer's bytes).
 *
 * A super-block holds 256 values split into sub-blocks of 16 (q2_K, q3_K, q6_K) or 32 (q4_K,
 * q5_K), each with its own small integer scale (and min) under one fp16 super-scale d (and
 * dmin). Without importance weights each type follows ggml's `quantize_row_*_ref`: a per
 * sub-block scale search (make_qkx2_quants, make_q3_quants or make_qx_quants), the sub-scales
 * quantized against the largest one, then every element re-quantized with the fp16-ROUNDED
 * d/dmin read back from the block (§5.1). With importance weights (an imatrix, one weight
 * per column; the module receives the row's and hands each super-block its 256) they follow
 * `quantize_row_*_impl` (§5.15): make_qkx3_quants / make_qx_quants per sub-block and
 * make_qp_quants or make_qx_quants for the sub-scales. q8_K ignores them. Bit-exactness
 * depends on evaluating every float expression in ggml's order and precision (float, never
 * double) without FMA contraction (the build passes -ffp-contract=off).
 *
 * Block layouts (all little-endian; e = element 0…255 of the super-block):
 *   q2_K (84 B)   0: scales[16]  sub-block j = e/16: low nibble sc_j, high nibble m_j
 *                16: qs[64]      2-bit q: (qs[32·(e/128) + e%32] >> 2·((e%128)/32)) & 3
 *                80: d fp16  | 82: dmin fp16            y = d·sc_j·q − dmin·m_j
 *   q3_K (110 B)  0: hmask[32]   high bit of e = bit e/32 of hmask[e%32]
 *                32: qs[64]      low 2 bits as q2_K; q3 = low2 − (hbit ? 0 : 4) ∈ [−4, 3]
 *                96: scales[12]  16 × 6-bit s_j: low nibbles in bytes 0–7 (j ≥ 8: high
 *                                nibble of byte j−8), top 2 bits in byte 8 + j%4 at 2·(j/4)
 *               108: d fp16                             y = d·(s_j − 32)·q3
 *   q4_K (144 B)  0: d fp16  |  2: dmin fp16
 *                 4: scales[12]  8 × (6-bit sc_j, 6-bit m_j), j = e/32 (get_scale_min_k4)
 *                16: qs[128]     q: low nibble of qs[32·(e/64) + e%32] when e%64 < 32, else
 *                                its high nibble         y = d·sc_j·q − dmin·m_j
 *   q5_K (176 B)  0: d | 2: dmin | 4: scales[12] as q4_K
 *                16: qh[32]      bit 4 of q = bit e/32 of qh[e%32]
 *                48: qs[128]     low 4 bits as q4_K     y = d·sc_j·q − dmin·m_j, q ∈ [0, 31]
 *   q6_K (210 B)  0: ql[128]     low 4 bits; 128: qh[64] top 2 bits (map in §5.13)
 *               192: scales[16]  int8, j = e/16
 *               208: d fp16                             y = d·scales[j]·(q − 32)
 *   q8_K (292 B)  0: d fp32  |  4: qs[256] int8  |  260: bsums[16] int16 (Σ qs per 16)
 *                                                       y = d·q
 * q8_K note: ggml leaves bsums unwritten for an all-zero super-block (amax = 0); we write
 * zeros there (the true sums), so the bytes are deterministic; d and qs match ggml's. */
#include <math.h>
#include <string.h>

#include "format.h"
#include "ggml_blocks.h"
#include "ggml_common.h"

#define QK_K 256

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ---- shared super-block plumbing ---------------------------------------------------------- */

/* Σ x² over the super-block, accumulated in element order (the imatrix paths' σ²). */
static float sum_sq(const float *x) {
    float s = 0;
    for (int j = 0; j < QK_K; j++) s += x[j] * x[j];
    return s;
}

/* Packs 2-bit levels: byte l of each 32-byte group holds elements l, l+32, l+64, l+96 of its
 * 128-element half (q2_K's qs and q3_K's low bits). */
static void pack2(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < QK_K; j += 128)
        for (int l = 0; l < 32; l++)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}


/* q4_K/q5_K requantization with the stored fp16 d/dmin and 6-bit levels: q = clamp(round((x +
 * dmin·m_j)/(d·sc_j)), 0, nmax); sub-blocks whose d·sc_j is 0 keep their search levels. */
static void requant_k4(const float *x, const uint8_t s[12], uint16_t d16, uint16_t dmin16, int nmax, uint8_t *L) {
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t sc, m;
        get_scale_min_k4(j, s, &sc, &m);
        const float d = qb_f16_to_f32(d16) * sc;
        if (!d) continue;
        const float dm = qb_f16_to_f32(dmin16) * m;
        for (int ii = 0; ii < 32; ii++)
            L[32 * j + ii] = (uint8_t)clampi(qb_ggml_nearest_int((x[32 * j + ii] + dm) / d), 0, nmax);
    }
}

/* q3_K's 6-bit sub-scale j (still biased by 32). */
static int q3_scale(const uint8_t s[12], int j) {
    int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
    return lo | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4);
}

static void q3_set_scale(uint8_t s[12], int j, int l) {
    if (j < 8)
        s[j] = (uint8_t)(l & 0xF);
    else
        s[j - 8] |= (uint8_t)((l & 0xF) << 4);
    s[j % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
}

/* Runs a super-block quantizer over every super-block of every row after checking the values
 * are finite (ggml's validation rejects NaN/Inf in weights). imp, when given, holds one weight
 * per column; each super-block gets its 256. */
typedef void (*block_fn)(const float *xb, void *blk, const float *imp);

static qb_status quantize_rows(const char *name, block_fn fn, size_t bsize, const float *x, void *q, int64_t rows,
                               int64_t cols, const float *imp) {
    if (cols % QK_K != 0)
        return qb_fail(QB_EINPUT, "%s stores super-blocks of %d values; a row of %lld values is not a multiple of %d",
                       name, QK_K, (long long)cols, QK_K);
    qb_status st = qb_check_finite(x, rows, cols, name);
    if (st) return st;
    uint8_t *out = q;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t b = 0; b < cols / QK_K; b++, out += bsize)
            fn(x + r * cols + b * QK_K, out, imp ? imp + b * QK_K : NULL);
    return QB_OK;
}

/* ---- q2_K: 16 × 16 elements, 2-bit affine, 4-bit sub-scales and mins ------------------------ */

static void q2_K_block(const float *x, void *blk, const float *imp) {
    uint8_t L[QK_K];
    float scales[16], mins[16], w[16], sw[16];
    if (!imp) {
        for (int j = 0; j < 16; j++) {
            for (int l = 0; l < 16; l++) w[l] = fabsf(x[16 * j + l]);
            scales[j] = qb_ggml_make_qkx2_quants(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], -0.5f, 0.1f, 15, 1);
        }
    } else {
        float sigma2 = sum_sq(x) / QK_K;
        for (int j = 0; j < 16; j++) {
            sw[j] = 0;
            for (int l = 0; l < 16; l++) {
                w[l] = imp[16 * j + l] * sqrtf(sigma2 + x[16 * j + l] * x[16 * j + l]);
                sw[j] += w[l];
            }
            scales[j] = qb_ggml_make_qkx3_quants(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], -0.9f, 0.05f, 36);
        }
    }
    block_q2_K *y = blk;
    qb_ggml_q2_K_scales(scales, mins, imp ? sw : NULL, y);
    const float dm = qb_f16_to_f32(y->d), mm = qb_f16_to_f32(y->dmin); /* the stored d and dmin, read back */
    for (int j = 0; j < 16; j++) {
        const float d = dm * (y->scales[j] & 0xF);
        if (!d) continue;
        const float m = mm * (y->scales[j] >> 4);
        for (int ii = 0; ii < 16; ii++)
            L[16 * j + ii] = (uint8_t)clampi(qb_ggml_nearest_int((x[16 * j + ii] + m) / d), 0, 3);
    }
    pack2(L, y->qs);
}

void qb_ggml_q2_K_scales(const float scales[16], const float mins[16], const float *sw, void *blk) {
    block_q2_K *y = blk;
    if (!sw) {
        float max_scale = 0, max_min = 0; /* the min is subtracted: scales are ≥ 0 */
        for (int j = 0; j < 16; j++) {
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            float iscale = 15.f / max_scale;
            for (int j = 0; j < 16; j++) y->scales[j] = (uint8_t)qb_ggml_nearest_int(iscale * scales[j]); /* no clamp */
            y->d = qb_f32_to_f16(max_scale / 15.f);
        } else {
            memset(y->scales, 0, 16);
            y->d = qb_f32_to_f16(0.f);
        }
        if (max_min > 0) {
            float iscale = 15.f / max_min;
            for (int j = 0; j < 16; j++)
                y->scales[j] |= (uint8_t)((unsigned)qb_ggml_nearest_int(iscale * mins[j]) << 4);
            y->dmin = qb_f32_to_f16(max_min / 15.f);
        } else {
            y->dmin = qb_f32_to_f16(0.f);
        }
    } else {
        uint8_t Ls[16], Lm[16];
        y->d = qb_f32_to_f16(qb_ggml_make_qp_quants(16, 15, scales, Ls, sw));
        y->dmin = qb_f32_to_f16(qb_ggml_make_qp_quants(16, 15, mins, Lm, sw));
        for (int j = 0; j < 16; j++) y->scales[j] = (uint8_t)(Ls[j] | (Lm[j] << 4));
    }
}

/* ---- q3_K: 16 × 16 elements, 3-bit symmetric, 6-bit signed sub-scales ----------------------- */

float qb_ggml_q3_K_group(const float *x, const float *imp, float sigma2, int j, uint8_t L[16], float *sw) {
    if (!imp) return qb_ggml_make_q3_quants(16, 4, x + 16 * j, L, 1);
    float w[16], sumw = 0;
    for (int l = 0; l < 16; l++) w[l] = imp[16 * j + l] * sqrtf(sigma2 + x[16 * j + l] * x[16 * j + l]);
    for (int l = 0; l < 16; l++) sumw += w[l];
    *sw = sumw;
    return qb_ggml_make_qx_quants(16, 4, x + 16 * j, L, 1, w);
}

float qb_ggml_q3_K_sigma2(const float *x) { return 2 * sum_sq(x) / QK_K; }

static void q3_K_block(const float *x, void *blk, const float *imp) {
    uint8_t L[QK_K];
    float scales[16], sw[16];
    const float sigma2 = imp ? qb_ggml_q3_K_sigma2(x) : 0;
    for (int j = 0; j < 16; j++) scales[j] = qb_ggml_q3_K_group(x, imp, sigma2, j, L + 16 * j, &sw[j]);
    block_q3_K *y = blk;
    qb_ggml_q3_K_scales(scales, imp ? sw : NULL, y, qb_ggml_make_qx_quants);
    for (int j = 0; j < 16; j++) {
        const float d = qb_f16_to_f32(y->d) * (q3_scale(y->scales, j) - 32);
        if (!d) continue;
        for (int ii = 0; ii < 16; ii++)
            L[16 * j + ii] = (uint8_t)(clampi(qb_ggml_nearest_int(x[16 * j + ii] / d), -4, 3) + 4);
    }
    /* high bit of element e into bit e/32 of hmask[e%32], then the low 2 bits as q2_K */
    memset(y->hmask, 0, sizeof y->hmask);
    for (int j = 0; j < QK_K; j++)
        if (L[j] > 3) {
            y->hmask[j % 32] |= (uint8_t)(1u << (j / 32));
            L[j] -= 4;
        }
    pack2(L, y->qs);
}

void qb_ggml_q3_K_scales(const float scales[16], const float *sw, void *blk,
                         float (*make_qx)(int n, int nmax, const float *x, uint8_t *L, int rmse_type, const float *qw)) {
    block_q3_K *y = blk;
    memset(y->scales, 0, 12);
    if (!sw) {
        float max_scale = 0, amax = 0; /* the signed sub-scale of largest magnitude */
        for (int j = 0; j < 16; j++) {
            float a = fabsf(scales[j]);
            if (a > amax) {
                amax = a;
                max_scale = scales[j];
            }
        }
        if (max_scale) {
            float iscale = -32.f / max_scale;
            for (int j = 0; j < 16; j++) {
                int8_t l = (int8_t)qb_ggml_nearest_int(iscale * scales[j]);
                q3_set_scale(y->scales, j, clampi(l, -32, 31) + 32);
            }
            y->d = qb_f32_to_f16(1 / iscale);
        } else {
            y->d = qb_f32_to_f16(0.f);
        }
    } else {
        uint8_t Ls[16];
        float d_block = make_qx(16, 32, scales, Ls, 1, sw); /* Ls already biased by 32 */
        for (int j = 0; j < 16; j++) q3_set_scale(y->scales, j, Ls[j]);
        y->d = qb_f32_to_f16(d_block);
    }
}

/* ---- q4_K / q5_K: 8 × 32 elements, affine, 6-bit sub-scales and mins ------------------------ */

/* Fills scales/d/dmin and the levels L (before packing) for nmax = 15 (q4_K) or 31 (q5_K). */
static void k4_block(const float *x, const float *imp, int nmax, uint8_t s[12], uint16_t *d16, uint16_t *dmin16,
                     uint8_t *L) {
    float scales[8], mins[8], w[32];
    uint8_t ls[8], lm[8];
    if (!imp) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 8; j++) {
            float sum_x2 = 0;
            for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
            float av_x = sqrtf(sum_x2 / 32);
            for (int l = 0; l < 32; l++) w[l] = av_x + fabsf(x[32 * j + l]);
            if (nmax == 15)
                scales[j] = qb_ggml_make_qkx2_quants(32, 15, x + 32 * j, w, L + 32 * j, &mins[j], -1.f, 0.1f, 20, 0);
            else
                scales[j] = qb_ggml_make_qkx2_quants(32, 31, x + 32 * j, w, L + 32 * j, &mins[j], -0.5f, 0.1f, 15, 0);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f, inv_min = max_min > 0 ? 63.f / max_min : 0.f;
        for (int j = 0; j < 8; j++) {
            /* ggml stores the rounded level in a uint8_t before the min(63, ·) */
            uint8_t a = (uint8_t)qb_ggml_nearest_int(inv_scale * scales[j]);
            uint8_t b = (uint8_t)qb_ggml_nearest_int(inv_min * mins[j]);
            ls[j] = a < 63 ? a : 63;
            lm[j] = b < 63 ? b : 63;
        }
        pack_scale_min_k4(ls, lm, s);
        *d16 = qb_f32_to_f16(max_scale / 63.f);
        *dmin16 = qb_f32_to_f16(max_min / 63.f);
    } else {
        float sw[8];
        float sigma2 = 2 * sum_sq(x) / QK_K;
        for (int j = 0; j < 8; j++) {
            for (int l = 0; l < 32; l++) w[l] = imp[32 * j + l] * sqrtf(sigma2 + x[32 * j + l] * x[32 * j + l]);
            float sumw = 0;
            for (int l = 0; l < 32; l++) sumw += w[l];
            sw[j] = sumw;
            scales[j] = qb_ggml_make_qkx3_quants(32, nmax, x + 32 * j, w, L + 32 * j, &mins[j], -0.9f, 0.05f, 36);
        }
        float d_block = qb_ggml_make_qp_quants(8, 63, scales, ls, sw);
        float m_block = qb_ggml_make_qp_quants(8, 63, mins, lm, sw);
        if (nmax == 31) /* q5_K's impl clamps again (a no-op for non-negative input); q4_K's does not */
            for (int j = 0; j < 8; j++) {
                ls[j] = ls[j] < 63 ? ls[j] : 63;
                lm[j] = lm[j] < 63 ? lm[j] : 63;
            }
        pack_scale_min_k4(ls, lm, s);
        *d16 = qb_f32_to_f16(d_block);
        *dmin16 = qb_f32_to_f16(m_block);
    }
    requant_k4(x, s, *d16, *dmin16, nmax, L);
}

static void q4_K_block(const float *x, void *blk, const float *imp) {
    block_q4_K *y = blk;
    uint8_t L[QK_K];
    k4_block(x, imp, 15, y->scales, &y->d, &y->dmin, L);
    for (int j = 0; j < QK_K; j += 64)
        for (int l = 0; l < 32; l++) y->qs[j / 2 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
}

static void q5_K_block(const float *x, void *blk, const float *imp) {
    block_q5_K *y = blk;
    uint8_t L[QK_K];
    k4_block(x, imp, 31, y->scales, &y->d, &y->dmin, L);
    memset(y->qh, 0, sizeof y->qh);
    for (int n = 0, g = 0; n < QK_K; n += 64, g += 2)
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

/* ---- q6_K: 16 × 16 elements, 6-bit symmetric, int8 sub-scales ------------------------------ */

static void q6_K_block(const float *x, void *blk, const float *imp) {
    block_q6_K *y = blk;
    uint8_t L[QK_K];
    float scales[16], max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < 16; ib++) {
        /* with an imatrix the weights are the importances themselves (no σ² term, §5.15) */
        scales[ib] = qb_ggml_make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, 1, imp ? imp + 16 * ib : NULL);
        float a = fabsf(scales[ib]);
        if (a > max_abs_scale) {
            max_abs_scale = a;
            max_scale = scales[ib];
        }
    }
    if (max_abs_scale < QB_GGML_GROUP_MAX_EPS) { /* all 210 bytes zero */
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
        const float d = qb_f16_to_f32(y->d) * y->scales[j];
        if (!d) continue;
        for (int ii = 0; ii < 16; ii++)
            L[16 * j + ii] = (uint8_t)(clampi(qb_ggml_nearest_int(x[16 * j + ii] / d), -32, 31) + 32);
    }
    for (int j = 0; j < QK_K; j += 128)
        for (int l = 0; l < 32; l++) {
            const uint8_t *Lj = L + j + l;
            y->ql[j / 2 + l] = (uint8_t)((Lj[0] & 0xF) | ((Lj[64] & 0xF) << 4));
            y->ql[j / 2 + l + 32] = (uint8_t)((Lj[32] & 0xF) | ((Lj[96] & 0xF) << 4));
            y->qh[j / 4 + l] =
                (uint8_t)((Lj[0] >> 4) | ((Lj[32] >> 4) << 2) | ((Lj[64] >> 4) << 4) | ((Lj[96] >> 4) << 6));
        }
}

/* ---- q8_K: d = max/−127 in fp32, q = min(127, round(x/d)); importance weights do not apply - */

static void q8_K_block(const float *x, void *blk, const float *imp) {
    (void)imp;
    block_q8_K *y = blk;
    float max = 0, amax = 0;
    for (int j = 0; j < QK_K; j++)
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    if (!amax) { /* ggml leaves bsums unwritten here; zeros are their true value */
        memset(y, 0, sizeof *y);
        return;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < QK_K; j++) {
        int v = qb_ggml_nearest_int(iscale * x[j]);
        y->qs[j] = (int8_t)(v < 127 ? v : 127);
    }
    for (int j = 0; j < QK_K / 16; j++) {
        int sum = 0;
        for (int ii = 0; ii < 16; ii++) sum += y->qs[16 * j + ii];
        y->bsums[j] = (int16_t)sum;
    }
    y->d = 1 / iscale;
}

/* ---- entry points ------------------------------------------------------------------------ */

#define QUANTIZE(T, USES_IMP)                                                                              \
    static qb_status T##_quantize(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {  \
        return quantize_rows(#T, T##_block, sizeof(block_##T), x, q, rows, cols, USES_IMP ? imp : NULL); \
    }
QUANTIZE(q2_K, 1)
QUANTIZE(q3_K, 1)
QUANTIZE(q4_K, 1)
QUANTIZE(q5_K, 1)
QUANTIZE(q6_K, 1)
QUANTIZE(q8_K, 0)
#undef QUANTIZE

static void q2_K_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_q2_K *b = q;
    for (int64_t i = 0, nb = rows * cols / QK_K; i < nb; i++) {
        const float d = qb_f16_to_f32(b[i].d), min = qb_f16_to_f32(b[i].dmin);
        for (int e = 0; e < QK_K; e++) {
            const uint8_t sc = b[i].scales[e / 16];
            const float dl = d * (sc & 0xF), ml = min * (sc >> 4);
            const int v = (b[i].qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
            *y++ = dl * v - ml;
        }
    }
}

static void q3_K_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_q3_K *b = q;
    for (int64_t i = 0, nb = rows * cols / QK_K; i < nb; i++) {
        const float d_all = qb_f16_to_f32(b[i].d);
        for (int j = 0; j < 16; j++) {
            const float dl = d_all * (q3_scale(b[i].scales, j) - 32);
            for (int e = 16 * j; e < 16 * j + 16; e++) {
                const int low = (b[i].qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
                const int hbit = (b[i].hmask[e % 32] >> (e / 32)) & 1;
                *y++ = dl * (low - (hbit ? 0 : 4));
            }
        }
    }
}

static void q4_K_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_q4_K *b = q;
    for (int64_t i = 0, nb = rows * cols / QK_K; i < nb; i++) {
        const float d = qb_f16_to_f32(b[i].d), min = qb_f16_to_f32(b[i].dmin);
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            get_scale_min_k4(j, b[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            const uint8_t *qs = b[i].qs + 32 * (j / 2);
            for (int l = 0; l < 32; l++) *y++ = d1 * (j % 2 ? qs[l] >> 4 : qs[l] & 0xF) - m1;
        }
    }
}

static void q5_K_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_q5_K *b = q;
    for (int64_t i = 0, nb = rows * cols / QK_K; i < nb; i++) {
        const float d = qb_f16_to_f32(b[i].d), min = qb_f16_to_f32(b[i].dmin);
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            get_scale_min_k4(j, b[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            const uint8_t *qs = b[i].qs + 32 * (j / 2);
            for (int l = 0; l < 32; l++) {
                const int v = (j % 2 ? qs[l] >> 4 : qs[l] & 0xF) + ((b[i].qh[l] >> j) & 1 ? 16 : 0);
                *y++ = d1 * v - m1;
            }
        }
    }
}

static void q6_K_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_q6_K *b = q;
    for (int64_t i = 0, nb = rows * cols / QK_K; i < nb; i++) {
        const float d = qb_f16_to_f32(b[i].d);
        for (int e = 0; e < QK_K; e++) {
            const int h = e / 128, t = (e % 128) / 32, l = e % 32;
            const uint8_t lb = b[i].ql[64 * h + 32 * (t % 2) + l];
            const int low = t < 2 ? lb & 0xF : lb >> 4, high = (b[i].qh[32 * h + l] >> (2 * t)) & 3;
            *y++ = d * b[i].scales[e / 16] * ((low | (high << 4)) - 32);
        }
    }
}

static void q8_K_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_q8_K *b = q;
    for (int64_t i = 0, nb = rows * cols / QK_K; i < nb; i++, y += QK_K)
        for (int j = 0; j < QK_K; j++) y[j] = b[i].d * b[i].qs[j];
}

/* ---- dot products with q8_K activations (format.h invariant 5) ----------------------------
 * ggml's vec_dot_*_q8_K_generic. q2_K: integer Σ sc_j·q·a per block and Σ m_j·bsums_j, then
 * dall·isum − dmin·summs (dall = d_a·d, dmin = d_a·dmin). q3_K…q6_K: element e's scaled
 * integer product goes to lane e mod 8 of eight int32 sums per block (ggml's aux32), each
 * lane adds d·aux32[l] (d = d·d_a) to one of eight float sums kept across blocks, q4_K/q5_K
 * subtract dmin·Σ m_j·bsums from the total block by block, and the eight float sums are
 * added to the total at the end, lane 0 first. */

static float q2_K_vec_dot(const void *w_row, const void *act_row, int64_t cols) {
    const block_q2_K *x = w_row;
    const block_q8_K *y = act_row;
    float sumf = 0;
    for (int64_t i = 0, nb = cols / QK_K; i < nb; i++) {
        int summs = 0, isum = 0;
        for (int j = 0; j < 16; j++) summs += y[i].bsums[j] * (x[i].scales[j] >> 4);
        for (int e = 0; e < QK_K; e++) {
            const int v = (x[i].qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
            isum += (x[i].scales[e / 16] & 0xF) * (v * y[i].qs[e]);
        }
        const float dall = y[i].d * qb_f16_to_f32(x[i].d), dmin = y[i].d * qb_f16_to_f32(x[i].dmin);
        sumf += dall * isum - dmin * summs;
    }
    return sumf;
}

static float q3_K_vec_dot(const void *w_row, const void *act_row, int64_t cols) {
    const block_q3_K *x = w_row;
    const block_q8_K *y = act_row;
    float sums[8] = {0}, sumf = 0;
    for (int64_t i = 0, nb = cols / QK_K; i < nb; i++) {
        int32_t aux[8] = {0};
        for (int e = 0; e < QK_K; e++) {
            const int low = (x[i].qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
            const int q3 = low - ((x[i].hmask[e % 32] >> (e / 32)) & 1 ? 0 : 4);
            aux[e % 8] += (q3_scale(x[i].scales, e / 16) - 32) * (q3 * y[i].qs[e]);
        }
        const float d = qb_f16_to_f32(x[i].d) * y[i].d;
        for (int l = 0; l < 8; l++) sums[l] += d * aux[l];
    }
    for (int l = 0; l < 8; l++) sumf += sums[l];
    return sumf;
}

/* q4_K and q5_K: 4-bit (hbit = 0) or 5-bit levels, 6-bit scales and mins. */
static float k4_vec_dot(const block_q4_K *x4, const block_q5_K *x5, const block_q8_K *y, int64_t nb) {
    float sums[8] = {0}, sumf = 0;
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *scales = x4 ? x4[i].scales : x5[i].scales, *qs = x4 ? x4[i].qs : x5[i].qs;
        int32_t aux[8] = {0};
        int sumi = 0;
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            get_scale_min_k4(j, scales, &sc, &m);
            sumi += (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]) * m;
            for (int l = 0; l < 32; l++) {
                const int e = 32 * j + l, low = j % 2 ? qs[32 * (j / 2) + l] >> 4 : qs[32 * (j / 2) + l] & 0xF;
                const int v = low + (x5 && (x5[i].qh[l] >> j) & 1 ? 16 : 0);
                aux[e % 8] += sc * (v * y[i].qs[e]);
            }
        }
        const float d = qb_f16_to_f32(x4 ? x4[i].d : x5[i].d) * y[i].d;
        for (int l = 0; l < 8; l++) sums[l] += d * aux[l];
        const float dmin = qb_f16_to_f32(x4 ? x4[i].dmin : x5[i].dmin) * y[i].d;
        sumf -= dmin * sumi;
    }
    for (int l = 0; l < 8; l++) sumf += sums[l];
    return sumf;
}

static float q4_K_vec_dot(const void *w_row, const void *act_row, int64_t cols) {
    return k4_vec_dot(w_row, NULL, act_row, cols / QK_K);
}

static float q5_K_vec_dot(const void *w_row, const void *act_row, int64_t cols) {
    return k4_vec_dot(NULL, w_row, act_row, cols / QK_K);
}

static float q6_K_vec_dot(const void *w_row, const void *act_row, int64_t cols) {
    const block_q6_K *x = w_row;
    const block_q8_K *y = act_row;
    float sums[8] = {0}, sumf = 0;
    for (int64_t i = 0, nb = cols / QK_K; i < nb; i++) {
        int32_t aux[8] = {0};
        for (int e = 0; e < QK_K; e++) {
            const int h = e / 128, t = (e % 128) / 32, l = e % 32;
            const uint8_t lb = x[i].ql[64 * h + 32 * (t % 2) + l];
            const int low = t < 2 ? lb & 0xF : lb >> 4, high = (x[i].qh[32 * h + l] >> (2 * t)) & 3;
            aux[e % 8] += x[i].scales[e / 16] * (((low | (high << 4)) - 32) * y[i].qs[e]);
        }
        const float d = qb_f16_to_f32(x[i].d) * y[i].d;
        for (int l = 0; l < 8; l++) sums[l] += d * aux[l];
    }
    for (int l = 0; l < 8; l++) sumf += sums[l];
    return sumf;
}

#define q8_K_vec_dot NULL /* an activation format: ggml has no q8_K weight dot */

/* ---- table rows --------------------------------------------------------------------------- */

/* Error bounds (format.h invariant 4), without importance weights, as err_block·amax + err_abs
 * with amax that of the 256-element super-block (err_rel = 0).
 *
 * err_block — a sub-block's step D_j = d·sc_j comes from a scale search, so it is bounded by
 * the search's range of candidate steps, and an element's error is at most one rounding or
 * clipping distance at that step, plus what quantizing the sub-scales (and mins) against the
 * largest one adds, plus fp16's relative rounding of d (2^-11) on the largest code:
 *  - symmetric q3_K/q6_K (levels −n…n−1, the extreme element at level −n): the searched
 *    extreme level lies in [n − 0.9, n + 0.9] (make_qx_quants' candidates; make_q3_quants'
 *    sweeps stay inside it on our data), so D_j ∈ [amax_j/(n+0.9), amax_j/(n−0.9)]. An element
 *    inside the levels is off by ≤ D/2 ≤ amax/(2n−1.8); the opposite-sign extreme is clipped at
 *    n−1 and off by ≤ amax_j·(1 − (n−1)/(n+0.9)), the larger term for both types. Rounding
 *    sc_j against the largest sub-scale (to 1/2 of d, d = max_scale/2^(b−1) for b-bit codes)
 *    moves the top level by ≤ (n−1)·d/2.
 *      q3_K (n = 4, 6-bit): 1 − 3/4.9 + 3·(1/3.1)/64 + 2^-11 ≈ 0.404
 *      q6_K (n = 32, int8): 1 − 31/32.9 + 31·(1/31.1)/256 + 2^-11 ≈ 0.062
 *  - affine q2_K/q4_K/q5_K (levels 0…nmax, y = D_j·q − M_j): the sub-block range is ≤ 2·amax
 *    (the min is taken ≤ 0) and the searched step ≤ range/(nmax + rmin) (rmin −0.5, −1, −0.5);
 *    the least-squares fit may clip the ends, so allow one full step, plus nmax·d/2 for the
 *    rounded sub-scale and dmin/2 ≤ amax/(2·S) for the rounded min (S = 15 or 63 codes):
 *      q2_K: 2/2.5 + 3·(2/2.5)/30 + 1/30 + 2^-10 ≈ 0.914
 *      q4_K: 2/14 + 15·(2/14)/126 + 1/126 + 2^-10 ≈ 0.169
 *      q5_K: 2/30.5 + 31·(2/30.5)/126 + 1/126 + 2^-10 ≈ 0.091
 *  - q8_K: d = max/−127 stays fp32: half a step, amax/254, plus float rounding of x·(1/d).
 * Measured worst err/amax over 10^5 super-blocks each of the test's distributions and harsher
 * ones (bimodal ±1, uniform [0,1), Student-t, constant+noise), away from fp16's subnormals:
 * q2_K 0.63, q3_K 0.26, q4_K 0.11, q5_K 0.060, q6_K 0.028, q8_K 1/254.
 *
 * err_abs — d and dmin are fp16: below 2^-14 they are subnormal with spacing 2^-24, so d·sc·q
 * and dmin·m can be off by up to K·2^-25, K = the largest code product (sc_max·|q|_max +
 * m_max), and an ideal d under 2^-25 flushes to 0 and the block decodes to −dmin·m or 0 (its
 * amax then itself ≲ K·2^-25). We allow K·2^-24: q2_K K = 15·3 + 15, q3_K 32·4, q4_K 63·15 +
 * 63, q5_K 63·31 + 63, q6_K 128·32. q8_K's fp32 iscale = −127/max overflows to −Inf for
 * amax < 127/FLT_MAX ≈ 3.7e-37 and the block decodes to 0: err_abs = 2^-120 covers it. The
 * test's tiny data (amax ≈ 4e-6) lands in this regime for every fp16-scaled type. */
#define KQUANT(T, ID, BYTES, DESC, FLAGS, EBLOCK, EABS, DOT_TYPE)                                   \
    qb_format qb_format_##T = {                                                                    \
        .name = #T, .family = "ggml", .description = DESC, .block_elems = QK_K, .block_bytes = BYTES, \
        .gguf_type = ID, .flags = FLAGS, .err_block = EBLOCK, .err_abs = EABS,                       \
        .quantize_ref = T##_quantize, .dequantize_ref = T##_dequantize,                            \
        .vec_dot_type = DOT_TYPE, .vec_dot_ref = T##_vec_dot,                                      \
    };
KQUANT(q2_K, 10, 84, "GGUF Q2_K: 256 x 2-bit affine, 4-bit sub-scales/mins, fp16 d and dmin", QB_FMT_USES_IMP,
       2 / 2.5 + 3 * (2 / 2.5) / 30 + 1.0 / 30 + 0x1p-10, (15 * 3 + 15) * 0x1p-24, "q8_K")
KQUANT(q3_K, 11, 110, "GGUF Q3_K: 256 x 3-bit, 6-bit signed sub-scales, fp16 d", QB_FMT_USES_IMP,
       1 - 3 / 4.9 + 3 * (1 / 3.1) / 64 + 0x1p-11, 32 * 4 * 0x1p-24, "q8_K")
KQUANT(q4_K, 12, 144, "GGUF Q4_K: 256 x 4-bit affine, 6-bit sub-scales/mins, fp16 d and dmin", QB_FMT_USES_IMP,
       2 / 14.0 + 15 * (2 / 14.0) / 126 + 1.0 / 126 + 0x1p-10, (63 * 15 + 63) * 0x1p-24, "q8_K")
KQUANT(q5_K, 13, 176, "GGUF Q5_K: 256 x 5-bit affine, 6-bit sub-scales/mins, fp16 d and dmin", QB_FMT_USES_IMP,
       2 / 30.5 + 31 * (2 / 30.5) / 126 + 1.0 / 126 + 0x1p-10, (63 * 31 + 63) * 0x1p-24, "q8_K")
KQUANT(q6_K, 14, 210, "GGUF Q6_K: 256 x 6-bit, int8 sub-scales, fp16 d", QB_FMT_USES_IMP,
       1 - 31 / 32.9 + 31 * (1 / 31.1) / 256 + 0x1p-11, 128 * 32 * 0x1p-24, "q8_K")
KQUANT(q8_K, 15, 292, "GGUF Q8_K: 256 x int8, fp32 d = max/-127, int16 block sums (dot-product activations)", 0,
       1.0 / 254 + 0x1p-20, 0x1p-120, NULL)
#undef KQUANT
#undef q8_K_vec_dot
