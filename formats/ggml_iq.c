/* ggml_iq.c — GGUF's non-linear 4-bit types iq4_nl (32-element blocks) and iq4_xs (256-element
 * super-blocks of eight 32-element sub-blocks with 6-bit sub-scales), byte-compatible with the
 * path llama-quantize writes files with, `quantize_iq4_nl` / `quantize_iq4_xs` (FORMATS.md
 * §5.12, §5.16; checked by formats/tests/test_golden.c against the reference bytes, with and
 * without an imatrix).
 *
 * Elements are indices into a fixed 16-entry codebook (kvalues_iq4nl, denser near zero). Each
 * 32-element group searches its scale over 1 + 15 candidates (ntry = 7): the start d = max/127
 * and inverse scales (t − 127)/max for t = −7…7, keeping the weighted least-squares scale of
 * the candidate with the largest (Σwqx)²/Σwq² (w = x², or with an imatrix imp·sqrt(σ² + x²),
 * σ² = 2·Σx²/n over the 32- or 256-element super-block). iq4_nl stores that scale in fp16;
 * iq4_xs stores D = −max_scale/32 in fp16 and each group's round(scale/D) ∈ [−32, 31] + 32.
 * Indices are then chosen as the codebook entry nearest x / (fp32 scale). We implement only
 * this ntry = 7 path: ggml's `quantize_row_iq4_nl_ref` (ntry = −1, not used to write files)
 * leaves stale index bytes for an all-zero block; here such a block is always d = 0 with every
 * index 8 (bytes 0x88), as the file path writes it. An imatrix group whose 32 weights are all
 * 0 makes ggml's scale 0/0 = NaN; this module reproduces that (its validation rejects it).
 * The build passes -ffp-contract=off: ggml's float expressions are evaluated as written.
 *
 * Block layouts (all little-endian):
 *   OFFSET SIZE DESCRIPTION
 *   iq4_nl (18 B, 32 elems)    y = d·kvalues[q]
 *     0      2  d fp16
 *     2     16  qs: element j in the low nibble of qs[j], j + 16 in the high nibble (§5.3)
 *   iq4_xs (136 B, 256 elems)  y = (d·(ls_j − 32))·kvalues[q], j = e/32 the sub-block
 *     0      2  d fp16
 *     2      2  scales_h: bits 2j…2j+1 are bits 4–5 of ls_j
 *     4      4  scales_l: low nibble of scales_l[j/2] for even j, high for odd: bits 0–3 of ls_j
 *     8    128  qs: sub-block j in qs[16j…16j+15], element r < 16 low nibble of qs[16j + r],
 *               r ≥ 16 high nibble of qs[16j + r − 16]
 */
#include <math.h>
#include <string.h>

#include "format.h"
#include "ggml_blocks.h"
#include "ggml_common.h"

#define QK4_NL 32
#define QK_K 256
#define NTRY 7

/* ---- the search -------------------------------------------------------------------------- */

/* Index of the codebook entry nearest v; an exact midpoint goes to the higher index. */
static int best_index(float v) {
    if (v <= qb_kvalues_iq4nl[0]) return 0;
    if (v >= qb_kvalues_iq4nl[15]) return 15;
    int lo = 0, hi = 15;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (v < qb_kvalues_iq4nl[mid]) hi = mid;
        else lo = mid;
    }
    return v - qb_kvalues_iq4nl[lo] < qb_kvalues_iq4nl[hi] - v ? lo : hi;
}

/* Σ w·q·x and Σ w·q² for the indices inverse scale id gives. */
static void fit_sums(const float *xb, const float *w, float id, float *sumqx, float *sumq2) {
    float sqx = 0, sq2 = 0;
    for (int j = 0; j < 32; j++) {
        float q = qb_kvalues_iq4nl[best_index(id * xb[j])];
        sqx += w[j] * q * xb[j];
        sq2 += w[j] * q * q;
    }
    *sumqx = sqx;
    *sumq2 = sq2;
}

/* The fp32 scale of one 32-element group (0 when amax < 1e-15). */
static float group_scale(const float *xb, const float *w) {
    float amax = 0, max = 0;
    for (int j = 0; j < 32; j++)
        if (fabsf(xb[j]) > amax) {
            amax = fabsf(xb[j]);
            max = xb[j];
        }
    if (amax < QB_GGML_GROUP_MAX_EPS) return 0;
    float d = -max / qb_kvalues_iq4nl[0], sumqx, sumq2;
    fit_sums(xb, w, 1 / d, &sumqx, &sumq2);
    d = sumqx / sumq2;
    float best = d * sumqx;
    for (int t = -NTRY; t <= NTRY; t++) {
        fit_sums(xb, w, (t + qb_kvalues_iq4nl[0]) / max, &sumqx, &sumq2);
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    return d;
}

/* Scales of the n/32 groups of a super-block of n elements (imp: its n weights or NULL). */
static void group_scales(const float *x, int n, const float *imp, float *scales) {
    float sigma2 = 0, w[32];
    for (int j = 0; j < n; j++) sigma2 += x[j] * x[j];
    sigma2 *= 2.f / n;
    for (int ib = 0; ib < n / 32; ib++) {
        const float *xb = x + 32 * ib;
        for (int j = 0; j < 32; j++) w[j] = imp ? imp[32 * ib + j] * sqrtf(sigma2 + xb[j] * xb[j]) : xb[j] * xb[j];
        scales[ib] = group_scale(xb, w);
    }
}

/* Indices nearest x·id into nibbles, element j and j + 16 sharing byte j. */
static void pack_group(const float *xb, float id, uint8_t *qs) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)(best_index(id * xb[j]) | best_index(id * xb[j + 16]) << 4);
}

static void iq4_nl_block(const float *x, void *blk, const float *imp) {
    block_iq4_nl *y = blk;
    float d;
    group_scales(x, QK4_NL, imp, &d);
    y->d = qb_f32_to_f16(d);
    pack_group(x, d ? 1 / d : 0, y->qs);
}

static void iq4_xs_block(const float *x, void *blk, const float *imp) {
    block_iq4_xs *y = blk;
    float scales[QK_K / 32], max_scale = 0, amax_scale = 0;
    group_scales(x, QK_K, imp, scales);
    for (int ib = 0; ib < QK_K / 32; ib++)
        if (fabsf(scales[ib]) > amax_scale) {
            amax_scale = fabsf(scales[ib]);
            max_scale = scales[ib];
        }
    const float d = -max_scale / 32, id = d ? 1 / d : 0.f; /* all-zero: d = −0, stored 0x8000 */
    y->d = qb_f32_to_f16(d);
    y->scales_h = 0;
    memset(y->scales_l, 0, sizeof y->scales_l);
    for (int ib = 0; ib < QK_K / 32; ib++) {
        int l = qb_ggml_nearest_int(id * scales[ib]);
        l = l < -32 ? -32 : l > 31 ? 31 : l;
        const float dl = d * l;
        pack_group(x + 32 * ib, dl ? 1 / dl : 0.f, y->qs + 16 * ib);
        l += 32;
        y->scales_l[ib / 2] |= (uint8_t)((l & 0xF) << 4 * (ib % 2));
        y->scales_h |= (uint16_t)((l >> 4) << 2 * ib);
    }
}

/* ---- entry points ------------------------------------------------------------------------ */

/* Checks the values are finite (ggml's validation rejects NaN/Inf in weights), then runs the
 * super-block quantizer with the slice of the row's importance weights it covers. */
typedef void (*block_fn)(const float *x, void *blk, const float *imp);

static qb_status quantize_rows(const char *name, block_fn fn, int qk, size_t bsize, const float *x, void *q,
                               int64_t rows, int64_t cols, const float *imp) {
    qb_status st = qb_check_finite(x, rows, cols, name);
    if (st) return st;
    uint8_t *out = q;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t b = 0; b < cols / qk; b++, out += bsize) fn(x + r * cols + b * qk, out, imp ? imp + b * qk : NULL);
    return QB_OK;
}

static qb_status iq4_nl_quantize(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    return quantize_rows("iq4_nl", iq4_nl_block, QK4_NL, sizeof(block_iq4_nl), x, q, rows, cols, imp);
}

static qb_status iq4_xs_quantize(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    return quantize_rows("iq4_xs", iq4_xs_block, QK_K, sizeof(block_iq4_xs), x, q, rows, cols, imp);
}

static void iq4_nl_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_iq4_nl *b = q;
    for (int64_t i = 0, nb = rows * cols / QK4_NL; i < nb; i++, y += QK4_NL) {
        const float d = qb_f16_to_f32(b[i].d);
        for (int j = 0; j < QK4_NL / 2; j++) {
            y[j] = d * qb_kvalues_iq4nl[b[i].qs[j] & 0x0F];
            y[j + QK4_NL / 2] = d * qb_kvalues_iq4nl[b[i].qs[j] >> 4];
        }
    }
}

static void iq4_xs_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_iq4_xs *b = q;
    for (int64_t i = 0, nb = rows * cols / QK_K; i < nb; i++) {
        const float d = qb_f16_to_f32(b[i].d);
        for (int ib = 0; ib < QK_K / 32; ib++, y += 32) {
            const int ls = ((b[i].scales_l[ib / 2] >> 4 * (ib % 2)) & 0xF) | (((b[i].scales_h >> 2 * ib) & 3) << 4);
            const float dl = d * (ls - 32);
            const uint8_t *qs = b[i].qs + 16 * ib;
            for (int j = 0; j < 16; j++) {
                y[j] = dl * qb_kvalues_iq4nl[qs[j] & 0x0F];
                y[j + 16] = dl * qb_kvalues_iq4nl[qs[j] >> 4];
            }
        }
    }
}

/* ---- dot products (format.h invariant 5) -----------------------------------------------------
 * ggml's vec_dot_iq4_nl_q8_0_generic and vec_dot_iq4_xs_q8_K_generic: an integer Σ kvalues·a
 * per 32 elements, times (d_a·d) for iq4_nl, times ((d·d_a)·(ls_j − 32)) for iq4_xs. */

static float iq4_nl_vec_dot(const void *w_row, const void *act_row, int64_t cols) {
    const block_iq4_nl *x = w_row;
    const block_q8_0 *y = act_row;
    float sumf = 0;
    for (int64_t ib = 0, nb = cols / QK4_NL; ib < nb; ib++) {
        const float d = qb_f16_to_f32(y[ib].d) * qb_f16_to_f32(x[ib].d);
        int sumi = 0;
        for (int j = 0; j < QK4_NL / 2; j++)
            sumi += y[ib].qs[j] * qb_kvalues_iq4nl[x[ib].qs[j] & 0xF] +
                    y[ib].qs[j + QK4_NL / 2] * qb_kvalues_iq4nl[x[ib].qs[j] >> 4];
        sumf += d * sumi;
    }
    return sumf;
}

static float iq4_xs_vec_dot(const void *w_row, const void *act_row, int64_t cols) {
    const block_iq4_xs *x = w_row;
    const block_q8_K *y = act_row;
    float sumf = 0;
    for (int64_t i = 0, nb = cols / QK_K; i < nb; i++) {
        const float d4d8 = qb_f16_to_f32(x[i].d) * y[i].d;
        for (int ib = 0; ib < QK_K / 32; ib++) {
            const int ls = ((x[i].scales_l[ib / 2] >> 4 * (ib % 2)) & 0xF) | (((x[i].scales_h >> 2 * ib) & 3) << 4);
            const uint8_t *qs = x[i].qs + 16 * ib;
            const int8_t *q8 = y[i].qs + 32 * ib;
            int sumi = 0;
            for (int j = 0; j < 16; j++)
                sumi += q8[j] * qb_kvalues_iq4nl[qs[j] & 0xF] + q8[j + 16] * qb_kvalues_iq4nl[qs[j] >> 4];
            sumf += (d4d8 * (ls - 32)) * sumi;
        }
    }
    return sumf;
}

/* Error bounds (format.h invariant 4), without importance weights (w = x²).
 * iq4_nl. With id the winning candidate's inverse scale and ζ = id·x, the stored scale is the
 * weighted LS fit d = Σζ³q / Σζ²q² · (1/id), a mean of the ratios ζ/q weighted by ζ²q². The
 * extreme element sits at |ζ| = 127 (start) or 120…134 (t = ±7) with weight ≥ 2·10^8, and
 * every element heavy enough to move the mean (|q| ≥ 53) has ζ/q ∈ [0.86, 1.19], so
 * ρ = amax/|d| ∈ [107, 149] (measured on random and hill-climbed adversarial blocks:
 * [112.6, 144.1]). x/d then lies within ±149; inside the codebook [−127, 113] the nearest
 * entry is within half the widest gap, 12·|d| ≤ 12/107·amax, beyond it within
 * (ρ − 113)·|d| ≤ (1 − 113/149)·amax = 0.242·amax; fp16 rounding of d adds 127·2^-11·|d|
 * < 0.001·amax: err_block = 1/4 (the adversarial search's worst block reaches 0.183). When d
 * is an fp16 subnormal its absolute rounding (≤ 2^-25) costs ≤ 127·2^-25, and when it
 * rounds to 0 (|d| ≤ 2^-25) the block decodes to zeros, |x| ≤ amax ≤ 149·2^-25 of which the
 * block term covers a quarter: err_abs = 2^-18. Range: amax below about 7·10^6 (fp16 d).
 * iq4_xs. Each sub-block j keeps its iq4_nl-style scale s_j only to the nearest multiple of
 * D = max_scale/32 (within |D|, at the +31 clamp), so an element is off by its iq4_nl error
 * (≤ 0.242·amax_j) plus ≤ 127·|D| = 127·|max_scale|/32 ≤ 127/(32·107)·amax = 0.037·amax,
 * amax being the super-block's; a sub-block whose scale rounds to 0 holds values
 * ≤ 149·|D|/2 ≤ 0.022·amax. With fp16 rounding: err_block = 0.28 (adversarial search 0.176).
 * D subnormal costs ≤ 32·127·2^-25 < 2^-13; D rounding to 0 means amax ≤ 149·32·2^-25,
 * 0.72 of which is ≤ 2^-13: err_abs = 2^-13. */
qb_format qb_format_iq4_nl = {
    .name = "iq4_nl", .family = "ggml", .description = "GGUF IQ4_NL: 32 x 4-bit non-linear codebook, fp16 scale",
    .block_elems = QK4_NL, .block_bytes = 18, .gguf_type = 20, .flags = QB_FMT_USES_IMP,
    .err_block = 0.25, .err_abs = 0x1p-18,
    .quantize_ref = iq4_nl_quantize, .dequantize_ref = iq4_nl_dequantize,
    .vec_dot_type = "q8_0", .vec_dot_ref = iq4_nl_vec_dot,
};

qb_format qb_format_iq4_xs = {
    .name = "iq4_xs", .family = "ggml", .description = "GGUF IQ4_XS: 256 x 4-bit non-linear codebook, 6-bit sub-scales",
    .block_elems = QK_K, .block_bytes = 136, .gguf_type = 23, .flags = QB_FMT_USES_IMP,
    .err_block = 0.28, .err_abs = 0x1p-13,
    .quantize_ref = iq4_xs_quantize, .dequantize_ref = iq4_xs_dequantize,
    .vec_dot_type = "q8_K", .vec_dot_ref = iq4_xs_vec_dot,
};
