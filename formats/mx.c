/* mx.c — OCP Microscaling (MX) v1.0 formats (FORMATS.md §3): blocks of 32 elements sharing
 * one E8M0 scale X = 2^e.
 *
 * Scale (§3.3, the OCP "FLOOR" rule): e = floor(log2(amax)) − emax_elem, clamped to
 * [−127, 127] (for finite fp32 input it never exceeds 127 − emax); an all-zero block stores
 * e = −127 (byte 0), as ggml does. Elements: P_i = convert(V_i / X) with round to nearest even
 * and saturation to ±max_element (the hardware rule, PTX cvt.rn.satfinite; microxcaling's
 * library default rounds half away from zero instead — ties differ, documented choice).
 * V_i / X is computed exactly (ldexpf by −e). NaN and Inf inputs are rejected (the scale of
 * a block holding one would be NaN). Decoding: v_i = X·P_i; scale byte 0xFF decodes the
 * whole block to NaN, as the spec says (§3.2); FP8 element NaN/Inf codes decode as such.
 *
 * Block layout (every format here):
 *   OFFSET  SIZE        DESCRIPTION
 *   0       1           E8M0 scale byte, X = 2^(byte − 127)
 *   1       32·bits/8   elements: 8-bit codes one per byte (mxfp8_*, mxint8: int8
 *                       two's complement); FP6 4 codes per 3 bytes, element i of a group in
 *                       bits [6i, 6i+6) of the little-endian 24-bit word; FP4 element 2k in
 *                       the low nibble, 2k+1 in the high nibble of byte k.
 *
 *   mxfp8_e4m3 33 B / 32 = 8.25 bits/weight   mxfp6_e3m2, mxfp6_e2m3  25 B = 6.25
 *   mxfp8_e5m2 33 B = 8.25                     mxfp4_e2m1 17 B = 4.25      mxint8 33 B = 8.25
 *
 * mxfp4_e2m1 vs the GGUF `mxfp4` (formats/ggml_misc.c): same value set and scale rule,
 * different semantics and bytes — OCP RNE with ties to even where ggml picks the first
 * nearest table entry, and PyTorch's nibble order (2k, 2k+1) where ggml puts elements j and
 * j+16 in one byte — hence a separate name.
 *
 * mxint8 (§3.1, §3.3 step 6): P = clamp(RNE(V/X·64), −127, 127)/64, emax_elem = 0
 * (microxcaling rounds half away from zero; RNE here).
 *
 * Error bound: amax/X ∈ [2^emax, 2^(emax+1)). A normal element rounds within 2^-(m+1)·|x|;
 * a saturated one within (2^(emax+1) − max)·X ≤ 2^-(m+1)·amax; subnormal elements within
 * half a subnormal step, smaller still. So err_block = 2^-(m+1) (mxint8: clamping 127.99 → 127
 * costs < X/64 ≤ 2^-6·amax). Blocks whose amax is below 2^-100 (scale clamped at 2^-127, fp32
 * subnormal products) are outside the declared domain. E4M3 is the exception to 2^-(m+1):
 * its max 448 is 1.75·2^8 (mantissa 111 of the top binade is NaN), so saturation costs up
 * to 1 − 448/512 = 2^-3 of amax.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "format.h"
#include "minifloat.h"

static int shared_exp(const float *v, int emax) {
    float amax = 0.0f;
    for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(v[i]));
    if (amax == 0.0f) return -127;
    int e = ilogbf(amax) - emax;
    return e < -127 ? -127 : e > 127 ? 127 : e;
}

/* kind < 0: mxint8. bits: element bits (8, 6, 4). */
static void mx_quantize_block(const float *v, uint8_t *o, int kind, int bits) {
    int emax = kind < 0 ? 0 : qb_mf_spec_of((qb_mf_kind)kind)->emax;
    int e = shared_exp(v, emax);
    o[0] = (uint8_t)(e + 127);
    uint8_t c[32];
    for (int i = 0; i < 32; i++) {
        float s = ldexpf(v[i], -e);
        if (kind < 0) {
            float n = nearbyintf(s * 64.0f);
            c[i] = (uint8_t)(int8_t)(n > 127.0f ? 127 : n < -127.0f ? -127 : (int)n);
        } else {
            c[i] = qb_mf_encode((qb_mf_kind)kind, s, QB_MF_SATURATE);
        }
    }
    if (bits == 8) memcpy(o + 1, c, 32);
    else if (bits == 4)
        for (int k = 0; k < 16; k++) o[1 + k] = (uint8_t)(c[2 * k] | c[2 * k + 1] << 4);
    else
        for (int g = 0; g < 8; g++) {
            uint32_t w = c[4 * g] | (uint32_t)c[4 * g + 1] << 6 | (uint32_t)c[4 * g + 2] << 12 | (uint32_t)c[4 * g + 3] << 18;
            o[1 + 3 * g] = (uint8_t)w, o[2 + 3 * g] = (uint8_t)(w >> 8), o[3 + 3 * g] = (uint8_t)(w >> 16);
        }
}

static void mx_dequantize_block(const uint8_t *in, float *y, int kind, int bits) {
    float x = qb_e8m0_decode(in[0]);
    uint8_t c[32];
    if (bits == 8) memcpy(c, in + 1, 32);
    else if (bits == 4)
        for (int k = 0; k < 16; k++) c[2 * k] = in[1 + k] & 0xf, c[2 * k + 1] = in[1 + k] >> 4;
    else
        for (int g = 0; g < 8; g++) {
            uint32_t w = in[1 + 3 * g] | (uint32_t)in[2 + 3 * g] << 8 | (uint32_t)in[3 + 3 * g] << 16;
            for (int j = 0; j < 4; j++) c[4 * g + j] = (w >> (6 * j)) & 0x3f;
        }
    if (kind < 0)
        for (int i = 0; i < 32; i++) y[i] = x * ((float)(int8_t)c[i] * 0x1p-6f);
    else {
        const float *lut = qb_mf_lut[kind];
        for (int i = 0; i < 32; i++) y[i] = x * lut[c[i]];
    }
}

#define MX_FORMAT(NAME, KIND, BITS, ERR, DESC)                                                    \
    static qb_status NAME##_quantize(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) { \
        (void)imp;                                                                                \
        qb_mf_init();                                                                             \
        qb_status st = qb_check_finite(x, rows, cols, #NAME);                                     \
        if (st) return st;                                                                        \
        uint8_t *o = q;                                                                           \
        for (int64_t i = 0, n = rows * cols; i < n; i += 32, o += 1 + 4 * (BITS))                 \
            mx_quantize_block(x + i, o, KIND, BITS);                                              \
        return QB_OK;                                                                             \
    }                                                                                             \
    static void NAME##_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {          \
        qb_mf_init();                                                                             \
        const uint8_t *in = q;                                                                    \
        for (int64_t i = 0, n = rows * cols; i < n; i += 32, in += 1 + 4 * (BITS))                \
            mx_dequantize_block(in, y + i, KIND, BITS);                                           \
    }                                                                                             \
    qb_format qb_format_##NAME = {                                                                \
        .name = #NAME, .family = "mx", .description = DESC,                                       \
        .block_elems = 32, .block_bytes = 1 + 4 * (BITS), .gguf_type = -1,                        \
        .err_block = ERR, .dom_lo = 0x1p-100, .dom_hi = FLT_MAX,                                  \
        .quantize_ref = NAME##_quantize, .dequantize_ref = NAME##_dequantize,                     \
    };

MX_FORMAT(mxfp8_e4m3, QB_MF_E4M3, 8, 0x1p-3, "OCP MXFP8 E4M3: 32 x FP8 E4M3 + E8M0 scale, RNE, saturating")
MX_FORMAT(mxfp8_e5m2, QB_MF_E5M2, 8, 0x1p-3, "OCP MXFP8 E5M2: 32 x FP8 E5M2 + E8M0 scale, RNE, saturating")
MX_FORMAT(mxfp6_e3m2, QB_MF_E3M2, 6, 0x1p-3, "OCP MXFP6 E3M2: 32 x FP6 E3M2 (packed) + E8M0 scale, RNE")
MX_FORMAT(mxfp6_e2m3, QB_MF_E2M3, 6, 0x1p-4, "OCP MXFP6 E2M3: 32 x FP6 E2M3 (packed) + E8M0 scale, RNE")
MX_FORMAT(mxfp4_e2m1, QB_MF_E2M1, 4, 0x1p-2, "OCP MXFP4: 32 x FP4 E2M1 + E8M0 scale, RNE (GGUF mxfp4 differs)")
MX_FORMAT(mxint8, -1, 8, 0x1p-6, "OCP MXINT8: 32 x int8 (code/64) + E8M0 scale, RNE")
#undef MX_FORMAT
