/* nvfp4_nv.c — NVIDIA NVFP4 with two-level scaling (FORMATS.md §4), torchao's reference
 * recipe (nvfp4_quantize / per_tensor_amax_to_scale): FP4 E2M1 elements, blocks of 16 with
 * a UE4M3 block scale, one fp32 per-tensor scale.
 *   s_t = amax(tensor) / (448·6)                         (fp32; 0 for an all-zero tensor)
 *   s_b = ue4m3(clamp((amax(block)/6) / s_t, 2^-6, 448)) (RNE, saturating)
 *   q_i = e2m1_sat(x_i / (s_t·s_b))                      (RNE, ties to even)
 *   x̂_i = e2m1(q_i) · (s_t·s_b)                          (the same fp32 product)
 * An all-zero tensor stores s_t = 0, s_b = 2^-6 (0x08) and zero codes. NaN/Inf rejected.
 * Named nvfp4_ts: the plain `nvfp4` is the GGUF layout (formats/ggml_misc.c, §5.9: no
 * per-tensor scale).
 *
 * Layout:
 *   OFFSET    SIZE  DESCRIPTION
 *   0         4     s_t, fp32 little-endian (per tensor)
 *   4 + 9·b   1     block b's scale, UE4M3 code (sign bit 0; ignored on decode)
 *   5 + 9·b   8     16 E2M1 codes, element 2k in the low nibble, 2k+1 in the high nibble
 *                   (PyTorch float4_e2m1fn_x2)
 * 9 bytes per 16 elements: 4.5 bits/weight, plus 32 bits per tensor.
 *
 * Error bound (invariant 4, QB_FMT_TENSOR_AMAX): when s_b is not clamped at 2^-6,
 * sc = s_t·s_b ≤ (amax_b/6)·(1 + 2^-4) (UE4M3 RNE), x/sc ≤ 6·17/16 and the element error is
 * ≤ 1·sc (half of E2M1's widest step 2, or the saturation of (6, 6.375]) ≤ 17/96·amax_b.
 * When s_b is clamped low (blocks below amax_t/4779), sc = s_t·2^-6 = amax_t/172032 and
 * x/sc < 6, so the error is ≤ 1·sc = amax_t/172032. Hence err_block = 17/96 and
 * err_tensor = 1/172032 (the max of the two cases is below their sum). The domain is
 * amax(tensor) ≥ 2^-100 (s_t a normal fp32).
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "format.h"
#include "minifloat.h"

static qb_status nvfp4_ts_quantize(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    (void)imp;
    qb_mf_init();
    qb_status st = qb_check_finite(x, rows, cols, "nvfp4_ts");
    if (st) return st;
    int64_t n = rows * cols;
    float amax = 0.0f;
    for (int64_t i = 0; i < n; i++) amax = fmaxf(amax, fabsf(x[i]));
    float s_t = amax / (448.0f * 6.0f);
    uint8_t *o = q;
    memcpy(o, &s_t, 4);
    o += 4;
    for (int64_t i = 0; i < n; i += 16, o += 9) {
        float bmax = 0.0f;
        for (int j = 0; j < 16; j++) bmax = fmaxf(bmax, fabsf(x[i + j]));
        float sb = s_t > 0.0f ? (bmax / 6.0f) / s_t : 0.0f;
        sb = sb < 0x1p-6f ? 0x1p-6f : sb > 448.0f ? 448.0f : sb;
        o[0] = qb_ue4m3_encode(sb);
        float sc = s_t * qb_ue4m3_decode(o[0]);
        uint8_t c[16];
        for (int j = 0; j < 16; j++) c[j] = sc > 0.0f ? qb_mf_encode(QB_MF_E2M1, x[i + j] / sc, QB_MF_SATURATE) : 0;
        for (int k = 0; k < 8; k++) o[1 + k] = (uint8_t)(c[2 * k] | c[2 * k + 1] << 4);
    }
    return QB_OK;
}

static void nvfp4_ts_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {
    qb_mf_init();
    const uint8_t *in = q;
    float s_t;
    memcpy(&s_t, in, 4);
    in += 4;
    const float *lut = qb_mf_lut[QB_MF_E2M1];
    for (int64_t i = 0, n = rows * cols; i < n; i += 16, in += 9) {
        float sc = s_t * qb_ue4m3_decode(in[0]);
        for (int k = 0; k < 8; k++) {
            y[i + 2 * k] = lut[in[1 + k] & 0xf] * sc;
            y[i + 2 * k + 1] = lut[in[1 + k] >> 4] * sc;
        }
    }
}

qb_format qb_format_nvfp4_ts = {
    .name = "nvfp4_ts", .family = "mx",
    .description = "NVIDIA NVFP4: 16 x E2M1 + UE4M3 block scale, fp32 tensor scale amax/2688 (torchao)",
    .block_elems = 16, .block_bytes = 9, .tensor_extra_bytes = 4, .gguf_type = -1, .flags = QB_FMT_TENSOR_AMAX,
    .err_rel = 1e-6, .err_block = 17.0 / 96.0, .err_tensor = 1.0 / 172032.0, .dom_lo = 0x1p-100, .dom_hi = FLT_MAX,
    .quantize_ref = nvfp4_ts_quantize, .dequantize_ref = nvfp4_ts_dequantize,
};
