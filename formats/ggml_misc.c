/* ggml_misc.c — GGUF's low-bit block types that search nothing: the ternary tq1_0 and tq2_0
 * (BitNet b1.58 / TriLM), ggml's own FP4 layouts mxfp4 (E8M0 scale per 32) and nvfp4 (four
 * UE4M3 scales per 64, no per-tensor scale), and the 1- and 2-bit q1_0 and q2_0,
 * byte-compatible with ggml's `quantize_row_*_ref` (FORMATS.md §2.3–2.4, §5.9–5.11; checked
 * by formats/tests/test_golden.c against the reference quantizer's bytes). llama-quantize
 * uses those same functions for every one of them, so importance weights are ignored.
 *
 * Every scale is computed in fp32 first: tq*, q1_0 and q2_0 round elements with the fp32 scale
 * and store its fp16; mxfp4 and nvfp4 round elements against the stored scale, decoded.
 * FP4 elements use ggml's doubled E2M1 table {0, 1, 2, 3, 4, 6, 8, 12, −0, −1, …, −12} with
 * half the scale, and take the first table entry of least |value − x| (ties go to the lower
 * index, so 1.75 → 1.5, not RNE's 2). The build passes -ffp-contract=off: no FMA fusion.
 *
 * Block layouts (all little-endian):
 *   OFFSET SIZE DESCRIPTION
 *   tq1_0 (54 B, 256 elems)  y = (t − 1)·d, t ∈ {0, 1, 2}
 *     0     48  qs: 5 trits per byte; e < 160 → qs[e mod 32], trit e/32; 160 ≤ e < 240 →
 *               qs[32 + (e−160) mod 16], trit (e−160)/16. Byte = ceil(256·Σ t_n·3^(4−n) / 243)
 *     48     4  qh: 4 trits per byte; 240 ≤ e → qh[(e−240) mod 4], trit (e−240)/4, packed as
 *               a 5-trit byte whose last trit is 0
 *     52     2  d fp16 = amax
 *   tq2_0 (66 B, 256 elems)  y = (t − 1)·d
 *     0     64  qs: e → bits 2n…2n+1 of qs[32c + m], c = e/128, n = (e mod 128)/32, m = e mod 32
 *     64     2  d fp16 = amax
 *   mxfp4 (17 B, 32 elems)   y = E2M1(q)·2^(e−127)
 *     0      1  e: E8M0 exponent byte, floor(log2 amax) − 2 + 127
 *     1     16  qs: element j in the low nibble of qs[j], j + 16 in the high nibble (§5.3)
 *   nvfp4 (36 B, 64 elems)   y = E2M1(q)·UE4M3(d[s]), s = e/16
 *     0      4  d[4]: UE4M3 scale of each 16-element sub-block, ≈ amax/6
 *     4     32  qs: sub-block s in qs[8s…8s+7]; element r < 8 low nibble of qs[8s + r],
 *               r ≥ 8 high nibble of qs[8s + r − 8]
 *   q1_0 (18 B, 128 elems)   y = bit ? +d : −d
 *     0      2  d fp16 = mean |x|
 *     2     16  qs: bit e mod 8 of qs[e/8], set iff x ≥ 0 (−0 included)
 *   q2_0 (18 B, 64 elems)    y = (q − 1)·d, q ∈ {0, 1, 2} (3 decodes as +2d, never written)
 *     0      2  d fp16 = amax
 *     2     16  qs: bits 2(e mod 4)… of qs[e/4]
 */
#include <math.h>
#include <string.h>

#include "format.h"
#include "ggml_blocks.h"

#define QK_K 256
#define QK_MXFP4 32
#define QK_NVFP4 64
#define QK_NVFP4_SUB 16
#define QK1_0 128
#define QK2_0 64

/* E2M1 values ×2 (ggml's kvalues_mxfp4), indexed by the 4-bit code. */
static const int8_t kvalues_fp4[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

/* ---- shared block plumbing --------------------------------------------------------------- */

static float absmax(const float *x, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; j++)
        if (amax < fabsf(x[j])) amax = fabsf(x[j]);
    return amax;
}

/* Runs a block quantizer over every block of every row after checking the values are finite
 * (ggml's validation rejects NaN/Inf in weights; lroundf and the casts would be undefined). */
typedef void (*block_fn)(const float *xb, void *blk);

static qb_status quantize_rows(const char *name, block_fn fn, int qk, size_t bsize, const float *x, void *q,
                               int64_t rows, int64_t cols) {
    qb_status st = qb_check_finite(x, rows, cols, name);
    if (st) return st;
    uint8_t *out = q;
    for (int64_t i = 0, nb = rows * (cols / qk); i < nb; i++, out += bsize) fn(x + i * qk, out);
    return QB_OK;
}

/* ---- tq1_0 / tq2_0: ternary, d = amax, t = RHAZ(x/d) + 1 ---------------------------------- */

static int trit(float x, float id) { return (int)lroundf(x * id) + 1; }

/* Five trits (first most significant) → the byte whose top trit the decoder reads first. */
static uint8_t pack_trits(int v) { return (uint8_t)((v * 256 + 242) / 243); }

static void tq1_0_block(const float *xb, void *blk) {
    block_tq1_0 *y = blk;
    const float d = absmax(xb, QK_K), id = d ? 1.0f / d : 0.0f;
    y->d = qb_f32_to_f16(d);
    for (int m = 0; m < 32; m++) { /* elements 0…159: byte m holds m, m+32, …, m+128 */
        int v = 0;
        for (int n = 0; n < 5; n++) v = v * 3 + trit(xb[m + 32 * n], id);
        y->qs[m] = pack_trits(v);
    }
    for (int m = 0; m < 16; m++) { /* elements 160…239 */
        int v = 0;
        for (int n = 0; n < 5; n++) v = v * 3 + trit(xb[160 + m + 16 * n], id);
        y->qs[32 + m] = pack_trits(v);
    }
    for (int m = 0; m < 4; m++) { /* elements 240…255, four trits and a zero */
        int v = 0;
        for (int n = 0; n < 4; n++) v = v * 3 + trit(xb[240 + m + 4 * n], id);
        y->qh[m] = pack_trits(v * 3);
    }
}

static void tq2_0_block(const float *xb, void *blk) {
    block_tq2_0 *y = blk;
    const float d = absmax(xb, QK_K), id = d ? 1.0f / d : 0.0f;
    y->d = qb_f32_to_f16(d);
    for (int c = 0; c < 2; c++)
        for (int m = 0; m < 32; m++) {
            int v = 0;
            for (int n = 0; n < 4; n++) v |= (trit(xb[128 * c + m + 32 * n], id) & 3) << (2 * n);
            y->qs[32 * c + m] = (uint8_t)v;
        }
}

/* Trit n (0 = most significant) of a packed byte: multiply by 3^n modulo 256, then the top
 * trit is (p·3) >> 8. */
static int unpack_trit(uint8_t b, int n) {
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    uint8_t p = (uint8_t)(b * pow3[n]);
    return (p * 3) >> 8;
}

static void tq1_0_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_tq1_0 *b = q;
    for (int64_t i = 0, nb = rows * cols / QK_K; i < nb; i++, y += QK_K) {
        const float d = qb_f16_to_f32(b[i].d);
        for (int e = 0; e < QK_K; e++) {
            int t = e < 160   ? unpack_trit(b[i].qs[e % 32], e / 32)
                    : e < 240 ? unpack_trit(b[i].qs[32 + (e - 160) % 16], (e - 160) / 16)
                              : unpack_trit(b[i].qh[(e - 240) % 4], (e - 240) / 4);
            y[e] = (float)(t - 1) * d;
        }
    }
}

static void tq2_0_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_tq2_0 *b = q;
    for (int64_t i = 0, nb = rows * cols / QK_K; i < nb; i++, y += QK_K) {
        const float d = qb_f16_to_f32(b[i].d);
        for (int e = 0; e < QK_K; e++) {
            int r = e % 128, t = (b[i].qs[32 * (e / 128) + r % 32] >> (2 * (r / 32))) & 3;
            y[e] = (float)(t - 1) * d;
        }
    }
}

/* ---- mxfp4 / nvfp4: E2M1 elements under a power-of-two or UE4M3 scale --------------------- */

/* First code of least |kvalues·d − x|; d is half the block scale. */
static uint8_t fp4_index(float x, float d) {
    int best = 0;
    float best_err = fabsf(kvalues_fp4[0] * d - x);
    for (int i = 1; i < 16; i++) {
        float err = fabsf(kvalues_fp4[i] * d - x);
        if (err < best_err) {
            best = i;
            best_err = err;
        }
    }
    return (uint8_t)best;
}

/* 2^(e−128), half the E8M0 value, built from bits (e < 2 are fp32 subnormals). */
static float e8m0_half(uint8_t e) {
    uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* ggml's UE4M3 decode, halved: 0x00 and 0x7F → 0; sign bit ignored; exponent 0 → M·2^-9,
 * else (1 + M/8)·2^(E−7). Exact. */
static float ue4m3_half(uint8_t u) {
    if (u == 0 || u == 0x7F) return 0.0f;
    int ex = (u >> 3) & 0xF, man = u & 7;
    return ex == 0 ? ldexpf((float)man, -10) : ldexpf((float)(8 + man), ex - 11);
}

/* ggml's fp32 → UE4M3 (§5.9): clamp to 448, subnormals by trunc(x·512 + 0.5) capped at 7,
 * normals keep 3 mantissa bits and round half up on the fourth; exponent 15 saturates to
 * 0x7E (448). x ≤ 0 or NaN → 0. */
static uint8_t f32_to_ue4m3(float x) {
    if (!(x > 0.0f)) return 0;
    if (x > 448.0f) x = 448.0f;
    uint32_t bits;
    memcpy(&bits, &x, 4);
    int ex = (int)((bits >> 23) & 0xFF) - 127 + 7;
    if (ex <= 0) {
        int man = (int)(x * 512.0f + 0.5f);
        if (man > 7) man = 7;
        return man < 1 ? 0 : (uint8_t)man;
    }
    if (ex >= 15) return 0x7E;
    int man = (int)((bits >> 20) & 7) + (int)((bits >> 19) & 1);
    if (man > 7) {
        man = 0;
        if (++ex >= 15) return 0x7E;
    }
    return (uint8_t)((ex << 3) | man);
}

/* The exponent is ggml's floorf(log2f(amax)) − 2 + 127 (log2f's rounding included: an amax
 * just below a power of two may take the next exponent). For 0 < amax < 2^-125 that value is
 * negative and ggml's float→uint8 conversion undefined (x86 gives 0xFF, a NaN scale that its
 * validation rejects); here it is clamped to 0, the smallest scale, which still holds such
 * blocks within half a step of 2^-128. amax = 0 gives 0 as in ggml. */
static void mxfp4_block(const float *xb, void *blk) {
    block_mxfp4 *y = blk;
    const float amax = absmax(xb, QK_MXFP4);
    uint8_t e = 0;
    if (amax > 0.0f) {
        const float ef = floorf(log2f(amax)) - 2 + 127;
        e = ef < 0.0f ? 0 : (uint8_t)ef;
    }
    const float d = e8m0_half(e);
    y->e = e;
    for (int j = 0; j < QK_MXFP4 / 2; j++)
        y->qs[j] = (uint8_t)(fp4_index(xb[j], d) | fp4_index(xb[j + QK_MXFP4 / 2], d) << 4);
}

static void nvfp4_block(const float *xb, void *blk) {
    block_nvfp4 *y = blk;
    for (int s = 0; s < QK_NVFP4 / QK_NVFP4_SUB; s++, xb += QK_NVFP4_SUB) {
        const uint8_t u = f32_to_ue4m3(absmax(xb, QK_NVFP4_SUB) / 6.0f);
        const float d = ue4m3_half(u);
        y->d[s] = u;
        for (int j = 0; j < QK_NVFP4_SUB / 2; j++)
            y->qs[8 * s + j] = (uint8_t)(fp4_index(xb[j], d) | fp4_index(xb[j + QK_NVFP4_SUB / 2], d) << 4);
    }
}

static void mxfp4_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_mxfp4 *b = q;
    for (int64_t i = 0, nb = rows * cols / QK_MXFP4; i < nb; i++, y += QK_MXFP4) {
        const float d = e8m0_half(b[i].e);
        for (int j = 0; j < QK_MXFP4 / 2; j++) {
            y[j] = kvalues_fp4[b[i].qs[j] & 0x0F] * d;
            y[j + QK_MXFP4 / 2] = kvalues_fp4[b[i].qs[j] >> 4] * d;
        }
    }
}

static void nvfp4_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_nvfp4 *b = q;
    for (int64_t i = 0, nb = rows * cols / QK_NVFP4; i < nb; i++)
        for (int s = 0; s < QK_NVFP4 / QK_NVFP4_SUB; s++, y += QK_NVFP4_SUB) {
            const float d = ue4m3_half(b[i].d[s]);
            for (int j = 0; j < QK_NVFP4_SUB / 2; j++) {
                y[j] = kvalues_fp4[b[i].qs[8 * s + j] & 0x0F] * d;
                y[j + QK_NVFP4_SUB / 2] = kvalues_fp4[b[i].qs[8 * s + j] >> 4] * d;
            }
        }
}

/* ---- q1_0: sign bits, d = mean |x|; q2_0: d = amax, q = RHAZ(x/d) + 1 --------------------- */

static void q1_0_block(const float *xb, void *blk) {
    block_q1_0 *y = blk;
    float sum_abs = 0.0f;
    for (int j = 0; j < QK1_0; j++) sum_abs += fabsf(xb[j]);
    y->d = qb_f32_to_f16(sum_abs / QK1_0);
    memset(y->qs, 0, sizeof y->qs);
    for (int j = 0; j < QK1_0; j++)
        if (xb[j] >= 0.0f) y->qs[j / 8] |= (uint8_t)(1u << (j % 8));
}

static void q2_0_block(const float *xb, void *blk) {
    block_q2_0 *y = blk;
    const float d = absmax(xb, QK2_0), id = d ? 1.0f / d : 0.0f;
    y->d = qb_f32_to_f16(d);
    memset(y->qs, 0, sizeof y->qs);
    for (int j = 0; j < QK2_0; j++) {
        int v = (int)lroundf(xb[j] * id) + 1;
        v = v < 0 ? 0 : v > 3 ? 3 : v;
        y->qs[j / 4] |= (uint8_t)(v << (2 * (j % 4)));
    }
}

static void q1_0_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_q1_0 *b = q;
    for (int64_t i = 0, nb = rows * cols / QK1_0; i < nb; i++, y += QK1_0) {
        const float d = qb_f16_to_f32(b[i].d);
        for (int j = 0; j < QK1_0; j++) y[j] = (b[i].qs[j / 8] >> (j % 8)) & 1 ? d : -d;
    }
}

static void q2_0_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {
    const block_q2_0 *b = q;
    for (int64_t i = 0, nb = rows * cols / QK2_0; i < nb; i++, y += QK2_0) {
        const float d = qb_f16_to_f32(b[i].d);
        for (int j = 0; j < QK2_0; j++) y[j] = (((b[i].qs[j / 4] >> (2 * (j % 4))) & 3) - 1) * d;
    }
}

/* ---- entry points ------------------------------------------------------------------------ */

#define QUANTIZE(T, QKT)                                                                                  \
    static qb_status T##_quantize(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) { \
        (void)imp;                                                                                        \
        return quantize_rows(#T, T##_block, QKT, sizeof(block_##T), x, q, rows, cols);                    \
    }
QUANTIZE(tq1_0, QK_K)
QUANTIZE(tq2_0, QK_K)
QUANTIZE(mxfp4, QK_MXFP4)
QUANTIZE(nvfp4, QK_NVFP4)
QUANTIZE(q1_0, QK1_0)
QUANTIZE(q2_0, QK2_0)
#undef QUANTIZE

/* ---- dot products (format.h invariant 5) -----------------------------------------------------
 * ggml's generic vec_dots: tq1_0/tq2_0 with q8_K, an integer Σ (t − 1)·a per super-block times
 * (d·d_a); mxfp4 with q8_0, (d_a·scale/2)·Σ kvalues·a per 32; nvfp4 with q8_0, (d_a·scale_s/2)
 * ·Σ per 16-element sub-block; q1_0 and q2_0 with q8_0, a float partial Σ_k d_a,k·(integer Σ
 * over q8_0 block k) per weight block, then times d. */

static float tq1_0_vec_dot(const void *w_row, const void *act_row, int64_t cols) {
    const block_tq1_0 *x = w_row;
    const block_q8_K *y = act_row;
    float sumf = 0;
    for (int64_t i = 0, nb = cols / QK_K; i < nb; i++) {
        int sum = 0;
        for (int e = 0; e < QK_K; e++) {
            int t = e < 160   ? unpack_trit(x[i].qs[e % 32], e / 32)
                    : e < 240 ? unpack_trit(x[i].qs[32 + (e - 160) % 16], (e - 160) / 16)
                              : unpack_trit(x[i].qh[(e - 240) % 4], (e - 240) / 4);
            sum += (t - 1) * y[i].qs[e];
        }
        sumf += (float)sum * (qb_f16_to_f32(x[i].d) * y[i].d);
    }
    return sumf;
}

static float tq2_0_vec_dot(const void *w_row, const void *act_row, int64_t cols) {
    const block_tq2_0 *x = w_row;
    const block_q8_K *y = act_row;
    float sumf = 0;
    for (int64_t i = 0, nb = cols / QK_K; i < nb; i++) {
        int sumi = 0;
        for (int e = 0; e < QK_K; e++) {
            int r = e % 128, t = (x[i].qs[32 * (e / 128) + r % 32] >> (2 * (r / 32))) & 3;
            sumi += (t - 1) * y[i].qs[e];
        }
        sumf += (float)sumi * (y[i].d * qb_f16_to_f32(x[i].d));
    }
    return sumf;
}

static float mxfp4_vec_dot(const void *w_row, const void *act_row, int64_t cols) {
    const block_mxfp4 *x = w_row;
    const block_q8_0 *y = act_row;
    float sumf = 0;
    for (int64_t ib = 0, nb = cols / QK_MXFP4; ib < nb; ib++) {
        const float d = qb_f16_to_f32(y[ib].d) * e8m0_half(x[ib].e);
        int sumi = 0;
        for (int j = 0; j < QK_MXFP4 / 2; j++)
            sumi += y[ib].qs[j] * kvalues_fp4[x[ib].qs[j] & 0xF] + y[ib].qs[j + QK_MXFP4 / 2] * kvalues_fp4[x[ib].qs[j] >> 4];
        sumf += d * sumi;
    }
    return sumf;
}

static float nvfp4_vec_dot(const void *w_row, const void *act_row, int64_t cols) {
    const block_nvfp4 *x = w_row;
    const block_q8_0 *y = act_row;
    float sumf = 0;
    for (int64_t ib = 0, nb = cols / QK_NVFP4; ib < nb; ib++)
        for (int s = 0; s < QK_NVFP4 / QK_NVFP4_SUB; s++) {
            const block_q8_0 *yb = &y[2 * ib + s / 2];
            const int8_t *q8 = yb->qs + QK_NVFP4_SUB * (s % 2);
            const float d = ue4m3_half(x[ib].d[s]), dy = qb_f16_to_f32(yb->d);
            int sumi = 0;
            for (int j = 0; j < QK_NVFP4_SUB / 2; j++) {
                const uint8_t qv = x[ib].qs[8 * s + j];
                sumi += q8[j] * kvalues_fp4[qv & 0xF] + q8[j + QK_NVFP4_SUB / 2] * kvalues_fp4[qv >> 4];
            }
            sumf += dy * d * sumi;
        }
    return sumf;
}

static float q1_0_vec_dot(const void *w_row, const void *act_row, int64_t cols) {
    const block_q1_0 *x = w_row;
    const block_q8_0 *y = act_row;
    float sumf = 0;
    for (int64_t i = 0, nb = cols / QK1_0; i < nb; i++) {
        float sumi = 0;
        for (int k = 0; k < QK1_0 / 32; k++) {
            const block_q8_0 *yb = &y[4 * i + k];
            int sumi_block = 0;
            for (int j = 0; j < 32; j++) {
                const int e = 32 * k + j;
                sumi_block += (x[i].qs[e / 8] >> (e % 8)) & 1 ? yb->qs[j] : -yb->qs[j];
            }
            sumi += qb_f16_to_f32(yb->d) * sumi_block;
        }
        sumf += qb_f16_to_f32(x[i].d) * sumi;
    }
    return sumf;
}

static float q2_0_vec_dot(const void *w_row, const void *act_row, int64_t cols) {
    const block_q2_0 *x = w_row;
    const block_q8_0 *y = act_row;
    float sumf = 0;
    for (int64_t i = 0, nb = cols / QK2_0; i < nb; i++) {
        float sumi = 0;
        for (int k = 0; k < QK2_0 / 32; k++) {
            const block_q8_0 *yb = &y[2 * i + k];
            int sumi_block = 0;
            for (int j = 0; j < 32; j++) {
                const int e = 32 * k + j;
                sumi_block += (((x[i].qs[e / 4] >> (2 * (e % 4))) & 3) - 1) * yb->qs[j];
            }
            sumi += qb_f16_to_f32(yb->d) * sumi_block;
        }
        sumf += qb_f16_to_f32(x[i].d) * sumi;
    }
    return sumf;
}

/* Error bounds (format.h invariant 4), derived per type; fp16 scales add 2^-11 relative
 * (normal) or 2^-25 absolute (subnormal) per unit of code, and every bound holds up to
 * amax < 65520, where an fp16 scale overflows (mxfp4 and nvfp4 have no fp16 field).
 *  tq1_0, tq2_0, q2_0  x/d ∈ [−1, 1] rounded to a trit: |x − x̂| ≤ amax/2 plus d's fp16
 *                      rounding (|t| ≤ 1) and a little for x·(1/d) ≠ x/d: err_block = 1/2 +
 *                      2^-10, err_abs = 2^-25. Large by design: 1.6–2.25 bits per weight.
 *  q1_0                x̂ = ±d with amax/128 ≤ d = mean|x| ≤ amax: an element above d is off by
 *                      ≤ amax − d ≤ 127/128·amax, one below by ≤ d − |x| ≤ 127/128·amax (the
 *                      mean counts |x| itself): err_block = 127/128 + 2^-10, err_abs = 2^-25.
 *  mxfp4               amax/scale ∈ [4, 8): elements below 4·scale are within half a step
 *                      (≤ scale/2), those in [4, 6]·scale within one scale, those above 6·scale
 *                      saturate by < 2·scale; each ≤ amax/4: err_block = 1/4. Every finite
 *                      input is in range; blocks with amax < 2^-125 (clamped exponent, above)
 *                      are within 2^-129: err_abs = 2^-129.
 *  nvfp4               the bare UE4M3 scale covers only amax ∈ [6·2^-6, 6·448] = [0.094, 2688]
 *                      per 16: there the scale is amax/6 within 1/16 and the error ≤ one scale
 *                      ≤ 17/96·amax (the 4→6 step). Below it the scale is subnormal (3-bit
 *                      M·2^-9, error up to amax/3 at M = 1) and for amax < 6·2^-10 it is 0 and
 *                      the block decodes to zeros; above 2688 elements saturate at ±2688. And
 *                      ggml's fp32→UE4M3 sends every scale ≥ 248 to 448 (codes for 256…416 are
 *                      never written, FORMATS.md §5.9), so for amax above 6·248 = 1488 the scale
 *                      jumps and the error reaches ~0.19·amax. The bound holds for 64-blocks
 *                      whose amax is in [0.094, 1488] (dom_lo, dom_hi): err_block = 17/96 of the
 *                      block amax, and err_abs = 0.032 for a
 *                      16-element sub-block of such a block that lies below 0.094 itself
 *                      (its subnormal scale errs by at most its amax/3 < 0.0313). */
#define MISC(T, ID, QKT, BYTES, DESC, EREL, EBLOCK, EABS, DOT_TYPE, ...)                                    \
    qb_format qb_format_##T = {                                                                           \
        .name = #T, .family = "ggml", .description = DESC, .block_elems = QKT, .block_bytes = BYTES,         \
        .gguf_type = ID, .err_rel = EREL, .err_block = EBLOCK, .err_abs = EABS, __VA_ARGS__ .quantize_ref = T##_quantize, \
        .dequantize_ref = T##_dequantize, .vec_dot_type = DOT_TYPE, .vec_dot_ref = T##_vec_dot,            \
    };
MISC(tq1_0, 34, QK_K, 54, "GGUF TQ1_0: 256 ternary, 5 trits per byte, fp16 scale d = amax", 0, 0.5 + 0x1p-10, 0x1p-25, "q8_K")
MISC(tq2_0, 35, QK_K, 66, "GGUF TQ2_0: 256 ternary as 2-bit codes, fp16 scale d = amax", 0, 0.5 + 0x1p-10, 0x1p-25, "q8_K")
MISC(mxfp4, 39, QK_MXFP4, 17, "GGUF MXFP4: 32 x E2M1, E8M0 power-of-two scale", 0, 0.25, 0x1p-129, "q8_0")
MISC(nvfp4, 40, QK_NVFP4, 36, "GGUF NVFP4: 64 x E2M1, UE4M3 scale per 16, no tensor scale", 0, 17.0 / 96.0, 0.032, "q8_0", .dom_lo = 0.094, .dom_hi = 1488,)
MISC(q1_0, 41, QK1_0, 18, "GGUF Q1_0: 128 sign bits, fp16 scale d = mean |x|", 0, 127.0 / 128 + 0x1p-10, 0x1p-25, "q8_0")
MISC(q2_0, 42, QK2_0, 18, "GGUF Q2_0: 64 x 2-bit {-d, 0, d}, fp16 scale d = amax", 0, 0.5 + 0x1p-10, 0x1p-25, "q8_0")
#undef MISC
