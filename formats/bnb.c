/* bnb.c — bitsandbytes 4-bit formats (FORMATS.md §7): NF4 and bnb FP4, blockwise with one
 * absmax per 64 values, and their double-quantized variants (QLoRA, compress_statistics).
 *
 * Blocks. bitsandbytes blocks the flattened tensor; here blocks of 64 run along each row,
 * which is the same partition whenever cols is a multiple of 64 (required: block_elems = 64).
 *
 * Quantize (bitsandbytes' kQuantizeBlockwise + dQuantizeNF4/dQuantizeFP4, §7.3):
 *   absmax = max|x| over the block (fp32); x_n = x·(1/absmax) in fp32;
 *   NF4: code = number of the 15 ascending fp32 thresholds t with x_n > t (strict >, so a value
 *        exactly on a midpoint takes the lower code, as the kernel's decision tree does);
 *   FP4: sign bit 3 = (x_n < 0) (−0.0 encodes positive); magnitude code from the 7 fp32
 *        thresholds of §7.3 by the same strict-> rule, mapped to bnb's bit assignment.
 *   An all-zero block stores absmax 0 and the codebook's zero (NF4 7, FP4 0) in every element
 *   (the kernel would compute 0·(1/0) = NaN there; the decoded values are 0 either way).
 * Dequantize: y = code[q]·absmax in fp32.
 *
 * Packing (bitsandbytes' order): element 2j in the HIGH nibble of byte j, element 2j+1 in
 * the low nibble (opposite of ggml).
 *
 * nf4 / fp4_bnb block layout (36 bytes per 64 values, 4.5 bits/weight):
 *   OFFSET  SIZE  DESCRIPTION
 *   0       4     absmax, fp32 little-endian
 *   4       32    codes, byte j = code[2j] << 4 | code[2j+1]
 *
 * Double quantization (nf4_dq / fp4_bnb_dq, §7.4), SCOPE = ONE ROW (documented deviation):
 * bitsandbytes takes offset = mean(absmax) over the whole tensor and quantizes
 * (absmax − offset) with the signed 8-bit dynamic map in groups of 256 blocks, one fp32
 * absmax2 per group. quantbench's storage model has a fixed number of bytes per row, so here
 * the second-level group is the row: offset = mean of the row's block absmaxes (summed in
 * double, rounded to fp32), absmax2 = max|absmax_b − offset| over the row (fp32), code_b =
 * nearest entry of the dynamic map to (absmax_b − offset)·(1/absmax2), clamped to [−1, 1],
 * ties to the lower entry. For rows of ≤ 256 blocks (cols ≤ 16384, every common LLM row) this
 * is bitsandbytes' scheme with one group per row; longer rows share one absmax2 (coarser).
 * The 4-bit codes are computed with the exact absmax (as bitsandbytes does: quantize first,
 * then compress the statistics); dequantize: absmax'_b = dyn[code_b]·absmax2 + offset,
 * y = code[q]·absmax'_b.
 * Dynamic map: create_dynamic_map(signed=True, 7, 8) rebuilt in fp32 the way PyTorch does it
 * (float linspace, (a+b)/2, times fp32(10^(i−6))); bit-exactness with bitsandbytes' tensor is
 * not verified against a golden file.
 *
 * nf4_dq / fp4_bnb_dq row layout (bits/weight = 4 + 8/64 + 64/cols):
 *   OFFSET  SIZE  DESCRIPTION
 *   0       4     offset, fp32
 *   4       4     absmax2, fp32
 *   8 + 33b 1     block b: uint8 index into the dynamic map
 *   9 + 33b 32    block b: codes, packed as above
 *
 * Error bounds (invariant 4). nf4: the widest gap between adjacent codes is 1 − 0.6961928
 * (top and bottom), so |x − x̂| ≤ 0.1519036·absmax, plus fp32 rounding. fp4_bnb: widest gap
 * 1 − 2/3, so ≤ absmax/6. The _dq variants add |absmax − absmax'| ≤ 0.00704·absmax2 ≤
 * 0.00704·amax(row) (half the widest gap of the dynamic map, between 0.99296875 and 1), and
 * their block for the bound is the row (row_extra_bytes). Domain: amax ≥ 1e-37 (1/absmax
 * stays finite) and ≤ 3e38. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

enum { BNB_BLOCK = 64 };

const float qb_bnb_nf4_code[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
};

static const float nf4_thr[15] = {
    -0.8480964004993439f, -0.6106329262256622f, -0.4599952697753906f, -0.33967943489551544f,
    -0.23460740596055984f, -0.13791173323988914f, -0.045525018125772476f, 0.03979014977812767f,
    0.1202552504837513f, 0.2035212516784668f, 0.2920137718319893f, 0.3893125355243683f,
    0.5016634166240692f, 0.6427869200706482f, 0.8614784181118011f,
};

/* bnb FP4: magnitudes {0, 0.0625, 8, 12, 4, 6, 2, 3}/12 for codes 0…7, bit 3 = sign. */
const float qb_bnb_fp4_code[16] = {
    0.0f, (float)(0.0625 / 12.0), (float)(8.0 / 12.0), 1.0f, (float)(4.0 / 12.0), 0.5f, (float)(2.0 / 12.0), 0.25f,
    -0.0f, -(float)(0.0625 / 12.0), -(float)(8.0 / 12.0), -1.0f, -(float)(4.0 / 12.0), -0.5f, -(float)(2.0 / 12.0), -0.25f,
};

static const float fp4_thr[7] = {0.00260417f, 0.0859375f, 0.20833333f, 0.29166667f, 0.4166667f, 0.583333f, 0.8333333f};
static const uint8_t fp4_rank_code[8] = {0, 1, 6, 7, 4, 5, 2, 3}; /* k-th smallest magnitude → code */

static uint8_t enc_nf4(float xn) {
    uint8_t k = 0;
    for (int i = 0; i < 15; i++) k += xn > nf4_thr[i];
    return k;
}

static uint8_t enc_fp4(float xn) {
    uint8_t sign = xn < 0.0f ? 8 : 0, k = 0;
    float m = fabsf(xn);
    for (int i = 0; i < 7; i++) k += m > fp4_thr[i];
    return (uint8_t)(sign | fp4_rank_code[k]);
}

typedef struct bnb_kind {
    const char *name;
    const float *code;
    uint8_t (*enc)(float);
    uint8_t zero_code;
    int dq;
} bnb_kind;

/* Signed dynamic 8-bit map (§7.4), ascending. */
void qb_bnb_dynamic_map(float map[256]) {
    int n = 0;
    for (int i = 0; i < 7; i++) {
        int steps = (1 << i) + 1;
        float b[65];
        float step = (1.0f - 0.1f) / (float)(steps - 1);
        for (int k = 0; k < steps; k++)
            b[k] = k < steps / 2 ? 0.1f + step * (float)k : 1.0f - step * (float)(steps - 1 - k);
        float sc = (float)pow(10.0, i - 6);
        for (int k = 0; k + 1 < steps; k++) {
            float mean = (b[k] + b[k + 1]) / 2.0f;
            map[n++] = sc * mean;
            map[n++] = -(sc * mean);
        }
    }
    map[n++] = 0.0f;
    map[n++] = 1.0f;
    for (int i = 1; i < 256; i++) /* insertion sort, 256 values */
        for (int j = i; j > 0 && map[j - 1] > map[j]; j--) {
            float t = map[j];
            map[j] = map[j - 1];
            map[j - 1] = t;
        }
}

static uint8_t dyn_nearest(const float map[256], float v) {
    if (v <= map[0]) return 0;
    if (v >= map[255]) return 255;
    int lo = 0, hi = 255; /* map[lo] < v ≤ map[hi] */
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (map[mid] < v) lo = mid;
        else hi = mid;
    }
    return (uint8_t)(v - map[lo] <= map[hi] - v ? lo : hi);
}

static void enc_block(const bnb_kind *k, const float *x, float absmax, uint8_t *codes) {
    float inv = absmax > 0.0f ? 1.0f / absmax : 0.0f;
    for (int j = 0; j < BNB_BLOCK / 2; j++) {
        uint8_t hi = absmax > 0.0f ? k->enc(x[2 * j] * inv) : k->zero_code;
        uint8_t lo = absmax > 0.0f ? k->enc(x[2 * j + 1] * inv) : k->zero_code;
        codes[j] = (uint8_t)(hi << 4 | lo);
    }
}

static void dec_block(const bnb_kind *k, const uint8_t *codes, float absmax, float *y) {
    for (int j = 0; j < BNB_BLOCK / 2; j++) {
        y[2 * j] = k->code[codes[j] >> 4] * absmax;
        y[2 * j + 1] = k->code[codes[j] & 15] * absmax;
    }
}

static float block_absmax(const float *x) {
    float m = 0.0f;
    for (int i = 0; i < BNB_BLOCK; i++) m = fmaxf(m, fabsf(x[i]));
    return m;
}

static qb_status bnb_quantize(const bnb_kind *k, const float *x, void *q, int64_t rows, int64_t cols) {
    qb_status st = qb_check_finite(x, rows, cols, k->name);
    if (st) return st;
    if (cols % BNB_BLOCK)
        return qb_fail(QB_EINPUT, "%s stores blocks of %d values; a row of %lld values is not a multiple", k->name,
                       BNB_BLOCK, (long long)cols);
    int64_t nb = cols / BNB_BLOCK;
    size_t rb = 8 + (size_t)nb * (1 + BNB_BLOCK / 2);
    uint8_t *out = q;
    if (!k->dq) {
        for (int64_t r = 0; r < rows; r++)
            for (int64_t b = 0; b < nb; b++, out += 4 + BNB_BLOCK / 2) {
                const float *xb = x + r * cols + b * BNB_BLOCK;
                float a = block_absmax(xb);
                memcpy(out, &a, 4);
                enc_block(k, xb, a, out + 4);
            }
        return QB_OK;
    }
    float map[256];
    qb_bnb_dynamic_map(map);
    float *am = malloc((size_t)(nb ? nb : 1) * sizeof(float));
    if (!am) return qb_fail(QB_ERUNTIME, "%s: out of memory", k->name);
    for (int64_t r = 0; r < rows; r++, out += rb) {
        const float *xr = x + r * cols;
        double sum = 0.0;
        for (int64_t b = 0; b < nb; b++) sum += (am[b] = block_absmax(xr + b * BNB_BLOCK));
        float off = nb ? (float)(sum / (double)nb) : 0.0f, a2 = 0.0f;
        for (int64_t b = 0; b < nb; b++) a2 = fmaxf(a2, fabsf(am[b] - off));
        float inv2 = a2 > 0.0f ? 1.0f / a2 : 0.0f;
        memcpy(out, &off, 4);
        memcpy(out + 4, &a2, 4);
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *blk = out + 8 + b * (1 + BNB_BLOCK / 2);
            float v = fminf(1.0f, fmaxf(-1.0f, (am[b] - off) * inv2));
            blk[0] = dyn_nearest(map, v);
            enc_block(k, xr + b * BNB_BLOCK, am[b], blk + 1);
        }
    }
    free(am);
    return QB_OK;
}

static void bnb_dequantize(const bnb_kind *k, const void *q, float *y, int64_t rows, int64_t cols) {
    int64_t nb = cols / BNB_BLOCK;
    const uint8_t *in = q;
    if (!k->dq) {
        for (int64_t r = 0; r < rows; r++)
            for (int64_t b = 0; b < nb; b++, in += 4 + BNB_BLOCK / 2) {
                float a;
                memcpy(&a, in, 4);
                dec_block(k, in + 4, a, y + r * cols + b * BNB_BLOCK);
            }
        return;
    }
    float map[256];
    qb_bnb_dynamic_map(map);
    for (int64_t r = 0; r < rows; r++) {
        float off, a2;
        memcpy(&off, in, 4);
        memcpy(&a2, in + 4, 4);
        in += 8;
        for (int64_t b = 0; b < nb; b++, in += 1 + BNB_BLOCK / 2)
            dec_block(k, in + 1, map[in[0]] * a2 + off, y + r * cols + b * BNB_BLOCK);
    }
}

#define BNB_FORMAT(NAME, CODE, ENC, ZERO, DQ, ERRB, DESC)                                                  \
    static const bnb_kind NAME##_kind = {#NAME, CODE, ENC, ZERO, DQ};                                      \
    static qb_status NAME##_quantize(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) { \
        (void)imp;                                                                                          \
        return bnb_quantize(&NAME##_kind, x, q, rows, cols);                                                \
    }                                                                                                       \
    static void NAME##_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {                    \
        bnb_dequantize(&NAME##_kind, q, y, rows, cols);                                                     \
    }                                                                                                       \
    qb_format qb_format_##NAME = {                                                                          \
        .name = #NAME, .family = "bnb", .description = DESC,                                                \
        .block_elems = BNB_BLOCK, .block_bytes = (DQ) ? 1 + BNB_BLOCK / 2 : 4 + BNB_BLOCK / 2,              \
        .row_extra_bytes = (DQ) ? 8 : 0, .gguf_type = -1,                                                   \
        .err_rel = 1e-6, .err_block = (ERRB) + ((DQ) ? 0.00704 : 0.0) + 1e-6, .dom_lo = 1e-37, .dom_hi = 3e38, \
        .quantize_ref = NAME##_quantize, .dequantize_ref = NAME##_dequantize,                               \
    };

BNB_FORMAT(nf4, qb_bnb_nf4_code, enc_nf4, 7, 0, 0.1519036, "bitsandbytes NF4, blocks of 64, fp32 absmax (4.5 bpw)")
BNB_FORMAT(fp4_bnb, qb_bnb_fp4_code, enc_fp4, 0, 0, 1.0 / 6.0, "bitsandbytes FP4 (not E2M1), blocks of 64, fp32 absmax (4.5 bpw)")
BNB_FORMAT(nf4_dq, qb_bnb_nf4_code, enc_nf4, 7, 1, 0.1519036,
           "NF4 with double-quantized absmax: 8-bit dynamic code per block, fp32 offset+scale per row")
BNB_FORMAT(fp4_bnb_dq, qb_bnb_fp4_code, enc_fp4, 0, 1, 1.0 / 6.0,
           "bnb FP4 with double-quantized absmax: 8-bit dynamic code per block, fp32 offset+scale per row")
