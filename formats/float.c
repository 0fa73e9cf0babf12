/* float.c — IEEE-style scalar formats: f32, f16 (binary16) and bf16, with the reference
 * conversions of ggml's file-writing path (FORMATS.md §1.2–1.3):
 *   f32→f16  round to nearest even, correct rounding into subnormals, |x| ≥ 65520 → ±Inf,
 *            any NaN → 0x7E00 with the input's sign (payload dropped);
 *   f16→f32  exact; a NaN comes back quiet (bit 22 set), as ggml's and F16C's widening do;
 *   f32→bf16 round to nearest even on the 16 dropped bits (±Inf stays, ≥ 0x7F7F8000 → Inf,
 *            subnormals rounded, not flushed); NaN keeps sign and upper payload, quiet bit set;
 *   bf16→f32 exact (bits << 16).
 * Storage is little-endian, one element per 2 or 4 bytes, no scales.
 *
 * tf32 (FORMATS.md §1.4): NVIDIA's tensor-core input precision, 1/8/10, held in a 32-bit
 * word. Conversion is PTX cvt.rna.tf32.f32: round to nearest on the 13 dropped mantissa bits,
 * ties AWAY from zero (add 0x1000 to the magnitude bits, clear the low 13) — not the RNE of
 * f16/bf16, and not the truncation of simply zeroing the bits. Subnormal inputs are rounded
 * the same way (no flush); a carry out of the top binade gives ±Inf (|x| ≥ (2 − 2^-11)·2^127,
 * no .satfinite); ±Inf stays; NaN stays NaN with its sign and upper payload, quiet bit set (so
 * clearing the low bits never turns a NaN into Inf). Stored as the fp32 word with the low 13
 * bits zero: 32 bits/weight of storage — TF32 is a compute precision (19 significant bits),
 * never a storage format, and quantbench records what it costs in accuracy, not in bytes.
 *
 * f16_g32: f16 elements with a power-of-two E8M0 scale per block of 32 (a range-extended f16,
 * the MX recipe applied to binary16). Scale e = floor(log2 amax) − 14 (clamped to [−127, 127];
 * all-zero block: e = −127, byte 0), so every scaled value V/2^e lies below 2^15 < 65504 and
 * never overflows, and the block's largest values keep f16's full 11-bit precision whatever
 * their magnitude: f16 alone overflows above 65504 and loses relative precision below 2^-14;
 * here only values more than 2^28 below their block max fall into f16's subnormals. V/2^e is
 * exact (ldexpf), then f16 RNE; decode x̂ = 2^e·f16(P) (exact in fp32). NaN/Inf rejected (a
 * block scale cannot hold them, as MX). No bf16 counterpart: a power-of-two scale changes
 * neither bf16's relative grid nor its range (fp32's), so it would measure nothing.
 *   OFFSET  SIZE  DESCRIPTION
 *   0       1     E8M0 scale byte, 2^(byte − 127)
 *   1       64    32 f16 codes, little-endian
 *   65 bytes per 32 values: 16.25 bits/weight.
 * Error bound: normal P: RNE to 11 bits, ≤ 2^-11·|x|; subnormal P (|P| < 2^-14): half the
 * step 2^-24·2^e ≤ 2^-25·amax/2^14 = 2^-39·amax. Domain amax ∈ [2^-100, 0x1.ffcp127] (beyond
 * the top, P would round up to 2^15 and 2^e·2^15 = 2^128 overflows fp32). */
#include <float.h>
#include <math.h>
#include <string.h>

#include "format.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "storage is little-endian; add byte swaps for this host");

static uint32_t f32_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static float bits_f32(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}

uint16_t qb_f32_to_f16(float x) {
    uint32_t u = f32_bits(x);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffff;
    if (a > 0x7f800000) return sign | 0x7e00;        /* NaN */
    if (a >= 0x477ff000) return sign | 0x7c00;       /* ≥ 65520 (and Inf) */
    if (a >= 0x38800000) {                           /* normal in f16: ≥ 2^-14 */
        uint32_t m = a - 0x38000000;                 /* rebias exponent 127 → 15 */
        m += 0xfff + ((m >> 13) & 1);                /* RNE on the 13 dropped bits */
        return sign | (uint16_t)(m >> 13);
    }
    if (a <= 0x33000000) return sign;                /* ≤ 2^-25: rounds to ±0 (2^-25 is a tie to 0) */
    /* subnormal in f16: value in units of 2^-24 is mant·2^(e−126) */
    uint32_t e = a >> 23, mant = (a & 0x7fffff) | 0x800000;
    uint32_t shift = 126 - e;                        /* 14 … 24 */
    uint32_t q = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) q++; /* may carry into the smallest normal: correct */
    return sign | (uint16_t)q;
}

float qb_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0x1f) return bits_f32(sign | 0x7f800000 | (m ? 0x400000 : 0) | (m << 13));
    if (e == 0) {
        float v = (float)m * 0x1p-24f; /* exact: m < 2^10 */
        return sign ? -v : v;
    }
    return bits_f32(sign | ((e + 112) << 23) | (m << 13));
}

uint16_t qb_f32_to_bf16(float x) {
    uint32_t u = f32_bits(x);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

float qb_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

float qb_f32_to_tf32(float x) {
    uint32_t u = f32_bits(x);
    if ((u & 0x7fffffff) > 0x7f800000) return bits_f32((u & ~0x1fffu) | 0x400000); /* NaN: quiet, low bits cleared */
    return bits_f32((u + 0x1000) & ~0x1fffu); /* ties away: the carry may reach the exponent (→ next binade, Inf) */
}

/* ---- f32: the identity, kept as a format so the baseline sits in every table ---------- */

static qb_status f32_quantize(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    (void)imp;
    memcpy(q, x, (size_t)(rows * cols) * 4);
    return QB_OK;
}

static void f32_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {
    memcpy(y, q, (size_t)(rows * cols) * 4);
}

/* ---- f16, bf16: one 16-bit code per element ------------------------------------------- */

#define HALF_CODEC(NAME, ENC, DEC)                                                              \
    static qb_status NAME##_quantize(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) { \
        (void)imp;                                                                              \
        uint16_t *h = q;                                                                        \
        for (int64_t i = 0, n = rows * cols; i < n; i++) h[i] = ENC(x[i]);                      \
        return QB_OK;                                                                           \
    }                                                                                           \
    static void NAME##_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {         \
        const uint16_t *h = q;                                                                  \
        for (int64_t i = 0, n = rows * cols; i < n; i++) y[i] = DEC(h[i]);                      \
    }
HALF_CODEC(f16, qb_f32_to_f16, qb_f16_to_f32)
HALF_CODEC(bf16, qb_f32_to_bf16, qb_bf16_to_f32)
#undef HALF_CODEC

/* ---- dot products (format.h invariant 5): ggml_vec_dot_f32/f16/bf16's scalar path, each
 * product rounded to float and summed in double ---------------------------------------- */

static float f32_vec_dot(const void *w_row, const void *act_row, int64_t cols) {
    const float *x = w_row, *y = act_row;
    double sumf = 0;
    for (int64_t i = 0; i < cols; i++) sumf += (double)(x[i] * y[i]);
    return (float)sumf;
}

#define HALF_DOT(NAME, DEC)                                                             \
    static float NAME##_vec_dot(const void *w_row, const void *act_row, int64_t cols) {  \
        const uint16_t *x = w_row, *y = act_row;                                        \
        double sumf = 0;                                                                \
        for (int64_t i = 0; i < cols; i++) sumf += (double)(DEC(x[i]) * DEC(y[i]));     \
        return (float)sumf;                                                             \
    }
HALF_DOT(f16, qb_f16_to_f32)
HALF_DOT(bf16, qb_bf16_to_f32)
#undef HALF_DOT

/* ---- tf32 ---------------------------------------------------------------------------- */

static qb_status tf32_quantize(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    (void)imp;
    float *o = q;
    for (int64_t i = 0, n = rows * cols; i < n; i++) o[i] = qb_f32_to_tf32(x[i]);
    return QB_OK;
}

/* ---- f16_g32 ------------------------------------------------------------------------- */

enum { F16G_BLOCK = 32, F16G_BYTES = 1 + 2 * F16G_BLOCK };

static qb_status f16_g32_quantize(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    (void)imp;
    qb_status st = qb_check_finite(x, rows, cols, "f16_g32");
    if (st) return st;
    uint8_t *o = q;
    for (int64_t i = 0, n = rows * cols; i < n; i += F16G_BLOCK, o += F16G_BYTES) {
        float amax = 0.0f;
        for (int j = 0; j < F16G_BLOCK; j++) amax = fmaxf(amax, fabsf(x[i + j]));
        int e = amax > 0.0f ? ilogbf(amax) - 14 : -127;
        e = e < -127 ? -127 : e > 127 ? 127 : e;
        o[0] = (uint8_t)(e + 127);
        for (int j = 0; j < F16G_BLOCK; j++) {
            uint16_t h = qb_f32_to_f16(ldexpf(x[i + j], -e));
            memcpy(o + 1 + 2 * j, &h, 2);
        }
    }
    return QB_OK;
}

static void f16_g32_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {
    const uint8_t *in = q;
    for (int64_t i = 0, n = rows * cols; i < n; i += F16G_BLOCK, in += F16G_BYTES) {
        /* 2^(byte − 127) as fp32 bits; byte 0 is the subnormal 2^-127, 0xFF NaN (E8M0, §2.3) */
        float sc = in[0] == 0xff ? NAN : in[0] ? bits_f32((uint32_t)in[0] << 23) : 0x1p-127f;
        for (int j = 0; j < F16G_BLOCK; j++) {
            uint16_t h;
            memcpy(&h, in + 1 + 2 * j, 2);
            y[i + j] = sc * qb_f16_to_f32(h);
        }
    }
}

qb_format qb_format_f32 = {
    .name = "f32", .family = "ieee", .description = "IEEE binary32, the unquantized reference",
    .block_elems = 1, .block_bytes = 4, .gguf_type = 0, .flags = QB_FMT_HAS_NAN,
    .quantize_ref = f32_quantize, .dequantize_ref = f32_dequantize,
    .vec_dot_type = "f32", .vec_dot_ref = f32_vec_dot,
};

/* Relative error of RNE to 10 (7) mantissa bits is at most 2^-11 (2^-8) in the normal range;
 * below it the absolute error is at most half the smallest subnormal. */
qb_format qb_format_f16 = {
    .name = "f16", .family = "ieee", .description = "IEEE binary16 (1/5/10), round to nearest even, max 65504",
    .block_elems = 1, .block_bytes = 2, .gguf_type = 1, .flags = QB_FMT_HAS_NAN,
    .err_rel = 0x1p-11, .err_abs = 0x1p-25,
    .quantize_ref = f16_quantize, .dequantize_ref = f16_dequantize,
    .vec_dot_type = "f16", .vec_dot_ref = f16_vec_dot,
};

qb_format qb_format_bf16 = {
    .name = "bf16", .family = "ieee", .description = "bfloat16 (1/8/7), upper half of f32, round to nearest even",
    .block_elems = 1, .block_bytes = 2, .gguf_type = 30, .flags = QB_FMT_HAS_NAN,
    .err_rel = 0x1p-8, .err_abs = 0x1p-134,
    .quantize_ref = bf16_quantize, .dequantize_ref = bf16_dequantize,
    .vec_dot_type = "bf16", .vec_dot_ref = bf16_vec_dot,
};

/* RNA to 10 mantissa bits: ≤ 2^-11·|x| for normals; fp32 subnormals lose bits below 2^-136,
 * half a step 2^-137 absolute. Finite up to the rounding threshold (2 − 2^-11)·2^127. */
qb_format qb_format_tf32 = {
    .name = "tf32", .family = "ieee",
    .description = "NVIDIA TF32 (1/8/10) compute precision, cvt.rna (ties away), stored as f32 with 13 zero bits",
    .block_elems = 1, .block_bytes = 4, .gguf_type = -1, .flags = QB_FMT_HAS_NAN,
    .err_rel = 0x1p-11, .err_abs = 0x1p-137, .dom_lo = 0, .dom_hi = 0x1.ffdp127,
    .quantize_ref = tf32_quantize, .dequantize_ref = f32_dequantize,
};

qb_format qb_format_f16_g32 = {
    .name = "f16_g32", .family = "ieee",
    .description = "f16 elements with an E8M0 power-of-two scale per 32 (range-extended f16), RNE",
    .block_elems = F16G_BLOCK, .block_bytes = F16G_BYTES, .gguf_type = -1,
    .err_rel = 0x1p-11, .err_block = 0x1p-39, .dom_lo = 0x1p-100, .dom_hi = 0x1.ffcp127,
    .quantize_ref = f16_g32_quantize, .dequantize_ref = f16_g32_dequantize,
};
