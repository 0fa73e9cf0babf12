/* minifloat.c — OCP FP8/FP6/FP4 scalar conversions (minifloat.h, FORMATS.md §2) and the raw
 * and scaled element formats built on them.
 *
 * Formats (no block scale; NaN rejected with its row and column):
 *   fp8_e4m3   1 byte per element, E4M3FN code. Overflow NON-saturating like ml_dtypes and
 *              PyTorch: |x| > 464 and ±Inf give the NaN code 0x7F|sign (so the error bound
 *              holds for |x| ≤ 464 only: dom_hi = 464). 8 bits/weight.
 *   fp8_e5m2   1 byte per element, IEEE-like: overflow (|x| ≥ 61440) → ±Inf, NaN → 0x7E|sign,
 *              ±Inf and NaN kept (QB_FMT_HAS_NAN). 8 bits/weight.
 *   fp6_e3m2, fp6_e2m3  densely packed: 4 elements in 3 bytes, element i of a group in bits
 *              [6i, 6i+6) of the little-endian 24-bit word. Overflow saturates (±Inf too), as
 *              ml_dtypes does. 6 bits/weight (cols a multiple of 4).
 *   fp4_e2m1   2 elements per byte, element 2k in the low nibble, 2k+1 in the high nibble
 *              (PyTorch float4_e2m1fn_x2). Saturating. 4 bits/weight (cols even).
 * Scaled FP8 E4M3 (NaN and Inf rejected, saturating conversion of x/s, s = amax/448, an
 * all-zero tensor/row stores s = 0):
 *   fp8_e4m3_pt  per-tensor scale. Layout: OFFSET 0 SIZE 4 s (fp32 LE); OFFSET 4 SIZE rows·cols
 *                codes. 8 bits/weight + 32 bits per tensor.
 *   fp8_e4m3_pc  per-row scale. Row layout: OFFSET 0 SIZE 4 s (fp32 LE); OFFSET 4 SIZE cols codes.
 *                8 + 32/cols bits/weight.
 */
#include "minifloat.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "format.h"

float qb_mf_lut[QB_MF_NKINDS][256];
float qb_e8m0_lut[256];

static const qb_mf_spec specs[QB_MF_NKINDS] = {
    [QB_MF_E4M3] = {"fp8_e4m3", 4, 3, 7, 0x7e, 448.0f, 8},
    [QB_MF_E5M2] = {"fp8_e5m2", 5, 2, 15, 0x7b, 57344.0f, 15},
    [QB_MF_E3M2] = {"fp6_e3m2", 3, 2, 3, 0x1f, 28.0f, 4},
    [QB_MF_E2M3] = {"fp6_e2m3", 2, 3, 1, 0x1f, 7.5f, 2},
    [QB_MF_E2M1] = {"fp4_e2m1", 2, 1, 1, 0x07, 6.0f, 2},
};

const qb_mf_spec *qb_mf_spec_of(qb_mf_kind k) { return &specs[k]; }

static float decode_slow(qb_mf_kind k, unsigned c) {
    const qb_mf_spec *s = &specs[k];
    unsigned nb = 1 + (unsigned)s->ebits + (unsigned)s->mbits;
    unsigned sign = (c >> (nb - 1)) & 1, e = (c >> s->mbits) & ((1u << s->ebits) - 1), m = c & ((1u << s->mbits) - 1);
    unsigned mag = c & ((1u << (nb - 1)) - 1);
    float v;
    if (k == QB_MF_E4M3 && mag == 0x7f) v = NAN;
    else if (k == QB_MF_E5M2 && e == 31) v = m ? NAN : INFINITY;
    else if (e == 0) v = ldexpf((float)m, 1 - s->bias - s->mbits);
    else v = ldexpf((float)((1u << s->mbits) | m), (int)e - s->bias - s->mbits);
    return sign ? -v : v;
}

static void build_tables(void) {
    for (int k = 0; k < QB_MF_NKINDS; k++)
        for (unsigned c = 0; c < 256; c++) qb_mf_lut[k][c] = decode_slow((qb_mf_kind)k, c);
    for (int e = 0; e < 255; e++) qb_e8m0_lut[e] = ldexpf(1.0f, e - 127);
    qb_e8m0_lut[255] = NAN;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
void qb_mf_init(void) { pthread_once(&once, build_tables); }

uint8_t qb_mf_encode(qb_mf_kind k, float x, qb_mf_overflow ov) {
    const qb_mf_spec *s = &specs[k];
    uint32_t u;
    memcpy(&u, &x, 4);
    uint8_t sign = (uint8_t)((u >> 31) << (s->ebits + s->mbits));
    uint32_t a = u & 0x7fffffff;
    if (a > 0x7f800000) {                              /* NaN */
        if (k == QB_MF_E4M3) return sign | 0x7f;
        if (k == QB_MF_E5M2) return sign | 0x7e;
        return 0;
    }
    int32_t code;
    if (a == 0x7f800000) code = 0x7fffffff;            /* Inf: overflow */
    else {
        const int emin = 1 - s->bias;
        int ex = (int)(a >> 23) - 127;                  /* fp32 subnormals: far below emin */
        float ax;
        memcpy(&ax, &a, 4);
        if (ex < emin) {
            float n = nearbyintf(ldexpf(ax, s->mbits - emin)); /* units of the subnormal step; exact scaling */
            code = (int32_t)n;                          /* n = 2^m is the smallest normal, same code */
        } else if (ex > 64) {
            code = 0x7fffffff;
        } else {
            float n = nearbyintf(ldexpf(ax, s->mbits - ex)); /* in [2^m, 2^(m+1)] */
            code = ((ex + s->bias) << s->mbits) + ((int32_t)n - (1 << s->mbits)); /* carry moves to the next binade */
        }
    }
    if (code > s->max_code) {
        if (ov == QB_MF_SATURATE) return sign | s->max_code;
        if (k == QB_MF_E5M2) return sign | 0x7c;
        if (k == QB_MF_E4M3) return sign | 0x7f;
        return sign | s->max_code;
    }
    return sign | (uint8_t)code;
}

uint8_t qb_ue4m3_encode(float x) { return qb_mf_encode(QB_MF_E4M3, fabsf(x), QB_MF_SATURATE); }

/* Rejects NaN (with row and column, as qb_check_finite); ±Inf pass and follow the overflow mode. */
static qb_status check_nan(const float *x, int64_t rows, int64_t cols, const char *name) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            if (x[r * cols + c] != x[r * cols + c]) {
                int64_t n = 0;
                for (int64_t k = c; k < cols; k++) n += x[r * cols + k] != x[r * cols + k];
                return qb_fail(QB_EINPUT, "%s cannot represent NaN: found %lld NaN value(s) in row %lld (first at column %lld)",
                               name, (long long)n, (long long)r, (long long)c);
            }
    return QB_OK;
}

/* ---- raw fp8 ---------------------------------------------------------------------------- */

#define FP8_RAW(NAME, KIND, OV, CHECK)                                                            \
    static qb_status NAME##_quantize(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) { \
        (void)imp;                                                                                \
        qb_mf_init();                                                                             \
        CHECK;                                                                                    \
        uint8_t *o = q;                                                                           \
        for (int64_t i = 0, n = rows * cols; i < n; i++) o[i] = qb_mf_encode(KIND, x[i], OV);     \
        return QB_OK;                                                                             \
    }                                                                                             \
    static void NAME##_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {          \
        qb_mf_init();                                                                             \
        const uint8_t *c = q;                                                                     \
        const float *lut = qb_mf_lut[KIND];                                                       \
        for (int64_t i = 0, n = rows * cols; i < n; i++) y[i] = lut[c[i]];                        \
    }
FP8_RAW(fp8_e4m3, QB_MF_E4M3, QB_MF_NONSAT, qb_status st = check_nan(x, rows, cols, "fp8_e4m3"); if (st) return st)
FP8_RAW(fp8_e5m2, QB_MF_E5M2, QB_MF_NONSAT, (void)0)
#undef FP8_RAW

/* ---- fp6 (4 in 3 bytes) and fp4 (2 per byte), saturating --------------------------------- */

#define FP6_RAW(NAME, KIND)                                                                       \
    static qb_status NAME##_quantize(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) { \
        (void)imp;                                                                                \
        qb_mf_init();                                                                             \
        qb_status st = check_nan(x, rows, cols, #NAME);                                           \
        if (st) return st;                                                                        \
        uint8_t *o = q;                                                                           \
        for (int64_t i = 0, n = rows * cols; i < n; i += 4, o += 3) {                             \
            uint32_t w = 0;                                                                       \
            for (int j = 0; j < 4; j++) w |= (uint32_t)qb_mf_encode(KIND, x[i + j], QB_MF_SATURATE) << (6 * j); \
            o[0] = (uint8_t)w, o[1] = (uint8_t)(w >> 8), o[2] = (uint8_t)(w >> 16);                \
        }                                                                                         \
        return QB_OK;                                                                             \
    }                                                                                             \
    static void NAME##_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {          \
        qb_mf_init();                                                                             \
        const uint8_t *c = q;                                                                     \
        const float *lut = qb_mf_lut[KIND];                                                       \
        for (int64_t i = 0, n = rows * cols; i < n; i += 4, c += 3) {                             \
            uint32_t w = c[0] | (uint32_t)c[1] << 8 | (uint32_t)c[2] << 16;                       \
            for (int j = 0; j < 4; j++) y[i + j] = lut[(w >> (6 * j)) & 0x3f];                    \
        }                                                                                         \
    }
FP6_RAW(fp6_e3m2, QB_MF_E3M2)
FP6_RAW(fp6_e2m3, QB_MF_E2M3)
#undef FP6_RAW

static qb_status fp4_e2m1_quantize(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    (void)imp;
    qb_mf_init();
    qb_status st = check_nan(x, rows, cols, "fp4_e2m1");
    if (st) return st;
    uint8_t *o = q;
    for (int64_t i = 0, n = rows * cols; i < n; i += 2)
        o[i / 2] = (uint8_t)(qb_mf_encode(QB_MF_E2M1, x[i], QB_MF_SATURATE) |
                             qb_mf_encode(QB_MF_E2M1, x[i + 1], QB_MF_SATURATE) << 4);
    return QB_OK;
}

static void fp4_e2m1_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {
    qb_mf_init();
    const uint8_t *c = q;
    const float *lut = qb_mf_lut[QB_MF_E2M1];
    for (int64_t i = 0, n = rows * cols; i < n; i += 2) {
        y[i] = lut[c[i / 2] & 0xf];
        y[i + 1] = lut[c[i / 2] >> 4];
    }
}

/* ---- scaled fp8 e4m3: s = amax/448, code = e4m3_sat(x/s) --------------------------------- */

static void e4m3_scaled_run(const float *x, uint8_t *s_out, uint8_t *o, int64_t n) {
    float amax = 0.0f;
    for (int64_t i = 0; i < n; i++) amax = fmaxf(amax, fabsf(x[i]));
    float s = amax / 448.0f;
    memcpy(s_out, &s, 4);
    for (int64_t i = 0; i < n; i++) o[i] = s > 0.0f ? qb_mf_encode(QB_MF_E4M3, x[i] / s, QB_MF_SATURATE) : 0;
}

static qb_status fp8_e4m3_pt_quantize(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    (void)imp;
    qb_mf_init();
    qb_status st = qb_check_finite(x, rows, cols, "fp8_e4m3_pt");
    if (st) return st;
    e4m3_scaled_run(x, q, (uint8_t *)q + 4, rows * cols);
    return QB_OK;
}

static void fp8_e4m3_pt_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {
    qb_mf_init();
    float s;
    memcpy(&s, q, 4);
    const uint8_t *c = (const uint8_t *)q + 4;
    const float *lut = qb_mf_lut[QB_MF_E4M3];
    for (int64_t i = 0, n = rows * cols; i < n; i++) y[i] = lut[c[i]] * s;
}

static qb_status fp8_e4m3_pc_quantize(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    (void)imp;
    qb_mf_init();
    qb_status st = qb_check_finite(x, rows, cols, "fp8_e4m3_pc");
    if (st) return st;
    uint8_t *o = q;
    for (int64_t r = 0; r < rows; r++, o += 4 + cols) e4m3_scaled_run(x + r * cols, o, o + 4, cols);
    return QB_OK;
}

static void fp8_e4m3_pc_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {
    qb_mf_init();
    const uint8_t *in = q;
    const float *lut = qb_mf_lut[QB_MF_E4M3];
    for (int64_t r = 0; r < rows; r++, in += 4 + cols) {
        float s;
        memcpy(&s, in, 4);
        for (int64_t c = 0; c < cols; c++) y[r * cols + c] = lut[in[4 + c]] * s;
    }
}

/* ---- GEMV dot of scaled E4M3 rows: the W8A8 FP8 pairs of vLLM --------------------------
 * A weight row of fp8_e4m3_pc (or a one-row fp8_e4m3_pt tensor) and an activation row
 * quantized the same way — the activation's own amax/448 scale is vLLM's dynamic per-token
 * (fbgemm_fp8, ptpc_fp8) or, for a one-token GEMV, per-tensor (fp8) activation scale. Both
 * layouts are [s fp32][cols codes]. Arithmetic of an FP8 tensor-core GEMM with an fp32
 * epilogue: the products of two E4M3 values are exact in fp32 (4 significant bits each) and
 * multiples of 2^-18; their sum is accumulated in double, exactly while cols·448² < 2^35
 * (rows up to 131072 values), rounded once to fp32 (an ideal fp32 accumulator), then scaled:
 * acc·(s_w·s_a). Against the dequantized rows (each value rounded once to fp32) the result
 * differs by at most 4·2^-24·Σ|w_i·a_i|. NaN codes (hostile bytes) propagate as NaN. */
float qb_e4m3_scaled_dot(const void *w_row, const void *act_row, int64_t cols) {
    qb_mf_init();
    const uint8_t *w = w_row, *a = act_row;
    float sw, sa;
    memcpy(&sw, w, 4);
    memcpy(&sa, a, 4);
    const float *lut = qb_mf_lut[QB_MF_E4M3];
    double acc = 0;
    for (int64_t i = 0; i < cols; i++) acc += (double)(lut[w[4 + i]] * lut[a[4 + i]]);
    return (float)acc * (sw * sa);
}

/* Error bounds (invariant 4). RNE to m mantissa bits: |x − x̂| ≤ 2^-(m+1)·|x| for normals;
 * below the smallest normal, half the subnormal step 2^(1−bias−m−1) absolute. Saturating fp6/fp4
 * and non-saturating fp8 hold the bound up to the rounding threshold of max finite only
 * (dom_hi; for block_elems = 1 the block amax is |x| itself; fp6/fp4 blocks of 4/2 elements
 * are within range when their amax is). */
qb_format qb_format_fp8_e4m3 = {
    .name = "fp8_e4m3", .family = "minifloat",
    .description = "OCP FP8 E4M3FN (1/4/3, max 448, no Inf), RNE, overflow -> NaN as ml_dtypes/PyTorch",
    .block_elems = 1, .block_bytes = 1, .gguf_type = -1, .flags = QB_FMT_INF_ENCODES,
    .err_rel = 0x1p-4, .err_abs = 0x1p-10, .dom_lo = 0, .dom_hi = 464.0,
    .quantize_ref = fp8_e4m3_quantize, .dequantize_ref = fp8_e4m3_dequantize,
};

qb_format qb_format_fp8_e5m2 = {
    .name = "fp8_e5m2", .family = "minifloat",
    .description = "OCP FP8 E5M2 (1/5/2, max 57344, Inf/NaN), RNE, overflow -> Inf",
    .block_elems = 1, .block_bytes = 1, .gguf_type = -1, .flags = QB_FMT_HAS_NAN,
    .err_rel = 0x1p-3, .err_abs = 0x1p-17, .dom_lo = 0, .dom_hi = 61439.0,
    .quantize_ref = fp8_e5m2_quantize, .dequantize_ref = fp8_e5m2_dequantize,
};

qb_format qb_format_fp6_e3m2 = {
    .name = "fp6_e3m2", .family = "minifloat",
    .description = "OCP MX FP6 E3M2 (1/3/2, max 28), RNE, saturating, 4 codes per 3 bytes",
    .block_elems = 4, .block_bytes = 3, .gguf_type = -1, .flags = QB_FMT_INF_ENCODES,
    .err_rel = 0x1p-3, .err_abs = 0x1p-5, .dom_lo = 0, .dom_hi = 28.0,
    .quantize_ref = fp6_e3m2_quantize, .dequantize_ref = fp6_e3m2_dequantize,
};

qb_format qb_format_fp6_e2m3 = {
    .name = "fp6_e2m3", .family = "minifloat",
    .description = "OCP MX FP6 E2M3 (1/2/3, max 7.5), RNE, saturating, 4 codes per 3 bytes",
    .block_elems = 4, .block_bytes = 3, .gguf_type = -1, .flags = QB_FMT_INF_ENCODES,
    .err_rel = 0x1p-4, .err_abs = 0x1p-4, .dom_lo = 0, .dom_hi = 7.5,
    .quantize_ref = fp6_e2m3_quantize, .dequantize_ref = fp6_e2m3_dequantize,
};

qb_format qb_format_fp4_e2m1 = {
    .name = "fp4_e2m1", .family = "minifloat",
    .description = "OCP MX FP4 E2M1 (1/2/1, max 6), RNE, saturating, 2 codes per byte (low nibble first)",
    .block_elems = 2, .block_bytes = 1, .gguf_type = -1, .flags = QB_FMT_INF_ENCODES,
    .err_rel = 0x1p-2, .err_abs = 0x1p-2, .dom_lo = 0, .dom_hi = 6.0,
    .quantize_ref = fp4_e2m1_quantize, .dequantize_ref = fp4_e2m1_dequantize,
};

/* Scaled: x/s ∈ [−448, 448] so no saturation beyond rounding; normal codes err 2^-4·|x|,
 * subnormal codes (x/s < 2^-6) half a step 2^-10·s = 2^-10/448·amax, where amax is the row's
 * (per-row scale: the row is the block, invariant 4) or the tensor's (per-tensor scale:
 * QB_FMT_TENSOR_AMAX, the err_tensor term). The fp32 rounding of x/s and of code·s adds
 * ≤ 2^-23·|x|, inside the 1e-6 of err_rel. Domain: amax ≥ 1e-30, so s = amax/448 and
 * s·2^-9 stay normal fp32. */
qb_format qb_format_fp8_e4m3_pt = {
    .name = "fp8_e4m3_pt", .family = "minifloat",
    .description = "FP8 E4M3FN codes, fp32 per-tensor scale amax/448, RNE, saturating (vLLM fp8)",
    .block_elems = 1, .block_bytes = 1, .tensor_extra_bytes = 4, .gguf_type = -1, .flags = QB_FMT_TENSOR_AMAX,
    .err_rel = 0x1p-4 + 1e-6, .err_tensor = 0x1p-10 / 448.0, .dom_lo = 1e-30, .dom_hi = FLT_MAX,
    .quantize_ref = fp8_e4m3_pt_quantize, .dequantize_ref = fp8_e4m3_pt_dequantize,
    .vec_dot_type = "fp8_e4m3_pt", .vec_dot_ref = qb_e4m3_scaled_dot,
};

qb_format qb_format_fp8_e4m3_pc = {
    .name = "fp8_e4m3_pc", .family = "minifloat",
    .description = "FP8 E4M3FN codes, fp32 per-row scale amax/448, RNE, saturating (vLLM fbgemm_fp8, ptpc_fp8)",
    .block_elems = 1, .block_bytes = 1, .row_extra_bytes = 4, .gguf_type = -1,
    .err_rel = 0x1p-4, .err_block = 0x1p-10 / 448.0,
    .quantize_ref = fp8_e4m3_pc_quantize, .dequantize_ref = fp8_e4m3_pc_dequantize,
    .vec_dot_type = "fp8_e4m3_pc", .vec_dot_ref = qb_e4m3_scaled_dot,
};
