/* minifloat_x86.c — AVX2 fast paths for the FP8 formats (encode and decode), the FP8 W8A8
 * dot, and the decoders of bitsandbytes nf4/fp4_bnb, the int4 group formats and the OCP MX
 * formats. Compiled with -mavx2 -mf16c -mfma, installed by qb_formats_init_x86 only on a CPU
 * with AVX2 and F16C. Reference paths: formats/minifloat.c, mx.c, bnb.c, intq.c.
 *
 * Invariants (format.h invariant 2; formats/tests/test_formats.c checks every one):
 *  1. Encode gives the reference's bytes. FP8 RNE is integer arithmetic on the fp32 bits:
 *     for results in the normal range, add 2^(s−1) − 1 plus the kept LSB to the magnitude
 *     bits and shift by s = 23 − m (a carry moves to the next binade, as the reference's
 *     nearbyintf does); below the smallest normal 2^(1−bias) the code IS the count of
 *     subnormal steps, RNE(|x|·2^(bias−1+m)) by cvtps (MXCSR round-to-nearest-even, like
 *     nearbyintf in the default mode). Overflow and NaN by lane masks, no per-element
 *     branch. Scales (amax, amax/448, x/s) are the reference's IEEE operations in the same
 *     order, so they are bit-identical.
 *  2. Decode gives the reference's bits: FP8 through F16C, exact (fp8x8), with the NaN codes
 *     from the reference's 256-entry table (qb_mf_lut, gathered), FP6 from that table, the
 *     4-bit formats from the same 16-entry codebooks (two permutes and a blend); each value
 *     multiplied by the same scale in the same order (a single IEEE product per element).
 *  3. The FP8 dot sums exact fp32 products in double, exactly while the reference's does
 *     (rows up to 131072 values), so it returns the reference's bits.
 * Not covered here (reference paths): fp6/fp4 raw and MX encode, nvfp4_ts, the encoders of
 * the bitsandbytes and int4 formats. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "../format.h"
#include "../minifloat.h"

/* ---- FP8 encode: 8 fp32 lanes → 8 codes in int32 lanes ---------------------------------- */

typedef struct mf8 {
    int m, bias, max_code;
    int ovf_code;  /* code for overflow: max_code (saturating), 0x7F (E4M3 NaN), 0x7C (E5M2 Inf) */
    int nan_code;  /* code for NaN input (E5M2 0x7E); unused where NaN is rejected first */
} mf8;

static const mf8 e4m3_sat = {3, 7, 0x7e, 0x7e, 0x7f}, e4m3_nonsat = {3, 7, 0x7e, 0x7f, 0x7f};
static const mf8 e5m2_nonsat = {2, 15, 0x7b, 0x7c, 0x7e};

static inline __m256i mf8_encode8(__m256 x, const mf8 *p) {
    const __m256i u = _mm256_castps_si256(x);
    const __m256i a = _mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff));
    const int s = 23 - p->m;
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(a, s), _mm256_set1_epi32(1));
    __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(a, _mm256_set1_epi32((1 << (s - 1)) - 1)), lsb), s);
    __m256i norm = _mm256_sub_epi32(r, _mm256_set1_epi32((127 - p->bias) << p->m));
    /* subnormal results: |x|·2^(bias−1+m) rounded to an integer (exact scaling by 2^k) */
    __m256 ax = _mm256_castsi256_ps(a);
    __m256i sub = _mm256_cvtps_epi32(_mm256_mul_ps(ax, _mm256_castsi256_ps(_mm256_set1_epi32((127 + p->bias - 1 + p->m) << 23))));
    __m256i is_sub = _mm256_cmpgt_epi32(_mm256_set1_epi32((128 - p->bias) << 23), a);
    __m256i code = _mm256_blendv_epi8(norm, sub, is_sub);
    __m256i over = _mm256_cmpgt_epi32(code, _mm256_set1_epi32(p->max_code));
    code = _mm256_blendv_epi8(code, _mm256_set1_epi32(p->ovf_code), over);
    __m256i is_nan = _mm256_cmpgt_epi32(a, _mm256_set1_epi32(0x7f800000));
    code = _mm256_blendv_epi8(code, _mm256_set1_epi32(p->nan_code), is_nan);
    return _mm256_or_si256(code, _mm256_slli_epi32(_mm256_srli_epi32(u, 31), 7));
}

/* 4 × 8 codes (0…255 in int32 lanes) → 32 bytes in order */
static inline void store_codes32(uint8_t *o, __m256i c0, __m256i c1, __m256i c2, __m256i c3) {
    __m256i p = _mm256_packus_epi16(_mm256_packus_epi32(c0, c1), _mm256_packus_epi32(c2, c3));
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)o, p);
}

static inline uint8_t mf8_encode1(float x, const mf8 *p) {
    __m256i c = mf8_encode8(_mm256_set1_ps(x), p);
    return (uint8_t)_mm_cvtsi128_si32(_mm256_castsi256_si128(c));
}

/* codes of x[0..n); div > 0 divides every element by it first (the scaled formats' x/s) */
static void mf8_encode_run(const float *x, uint8_t *o, int64_t n, const mf8 *p, float div) {
    int64_t i = 0;
    const __m256 d = _mm256_set1_ps(div);
#define LOADX(k) (div > 0.0f ? _mm256_div_ps(_mm256_loadu_ps(x + i + 8 * (k)), d) : _mm256_loadu_ps(x + i + 8 * (k)))
    for (; i + 32 <= n; i += 32)
        store_codes32(o + i, mf8_encode8(LOADX(0), p), mf8_encode8(LOADX(1), p), mf8_encode8(LOADX(2), p),
                      mf8_encode8(LOADX(3), p));
#undef LOADX
    for (; i < n; i++) o[i] = mf8_encode1(div > 0.0f ? x[i] / div : x[i], p);
}

/* ---- decode: FP8 through F16C, 256-entry table gather, 16-entry codebook permute -------- */

static inline __m256 lut256_8(const float *lut, const uint8_t *c) {
    return _mm256_i32gather_ps(lut, _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)c)), 4);
}

/* 8 FP8 codes (kind QB_MF_E4M3 or QB_MF_E5M2) as fp32 without the table's gather, which is
 * what held decode to about two thirds of copy bandwidth on one core: an E5M2 code is the top
 * byte of an IEEE half; E4M3's magnitude bits shifted left by 7 are the half of 2^-8 its
 * value (exponent bias 15 against 7, subnormals included), which F16C widens exactly and 256
 * scales back exactly. A group holding a NaN code (E4M3 0x7F/0xFF, E5M2 exponent 31 with a
 * mantissa) is read from the table, for the reference's NaN bits. */
static inline __m256 fp8x8(int kind, const uint8_t *c) {
    const __m128i b = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)c)), mag = _mm_and_si128(b, _mm_set1_epi16(0x7f));
    __m128i h, nan;
    if (kind == QB_MF_E5M2) {
        h = _mm_slli_epi16(b, 8);
        nan = _mm_cmpgt_epi16(mag, _mm_set1_epi16(0x7c));
    } else {
        h = _mm_or_si128(_mm_slli_epi16(mag, 7), _mm_slli_epi16(_mm_xor_si128(b, mag), 8));
        nan = _mm_cmpeq_epi16(mag, _mm_set1_epi16(0x7f));
    }
    if (!_mm_testz_si128(nan, nan)) return lut256_8(qb_mf_lut[kind], c);
    const __m256 v = _mm256_cvtph_ps(h);
    return kind == QB_MF_E5M2 ? v : _mm256_mul_ps(v, _mm256_set1_ps(256.0f));
}

static void fp8_run(int kind, const uint8_t *c, float *y, int64_t n, float s, int scaled) {
    const float *lut = qb_mf_lut[kind];
    int64_t i = 0;
    const __m256 sv = _mm256_set1_ps(s);
    for (; i + 8 <= n; i += 8) {
        __m256 v = fp8x8(kind, c + i);
        _mm256_storeu_ps(y + i, scaled ? _mm256_mul_ps(v, sv) : v);
    }
    for (; i < n; i++) y[i] = scaled ? lut[c[i]] * s : lut[c[i]];
}

/* 16 bytes → 32 nibble indices, in element order: low nibble first (ggml/PyTorch/int4) or
 * high nibble first (bitsandbytes). Returns the 32 indices as bytes. */
static inline __m256i nibbles32(const uint8_t *b, int high_first) {
    __m128i v = _mm_loadu_si128((const __m128i *)b), m = _mm_set1_epi8(0x0f);
    __m128i lo = _mm_and_si128(v, m), hi = _mm_and_si128(_mm_srli_epi16(v, 4), m);
    __m128i first = high_first ? hi : lo, second = high_first ? lo : hi;
    return _mm256_set_m128i(_mm_unpackhi_epi8(first, second), _mm_unpacklo_epi8(first, second));
}

/* book[idx] for 8 indices 0…15 in int32 lanes: book as two 8-float halves */
static inline __m256 book16(__m256 lo8, __m256 hi8, __m256i idx) {
    return _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo8, idx), _mm256_permutevar8x32_ps(hi8, idx),
                            _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
}

/* The k-th 8 of 32 byte indices widened to int32. */
static inline __m256i idx8(__m256i idx32, int k) {
    __m128i h = k < 2 ? _mm256_castsi256_si128(idx32) : _mm256_extracti128_si256(idx32, 1);
    return _mm256_cvtepu8_epi32(k & 1 ? _mm_srli_si128(h, 8) : h);
}

/* 32 codebook values · s from 16 packed bytes */
static inline void book_block32(const float book[16], const uint8_t *b, int high_first, float s, float *y) {
    __m256 lo8 = _mm256_loadu_ps(book), hi8 = _mm256_loadu_ps(book + 8), sv = _mm256_set1_ps(s);
    __m256i idx = nibbles32(b, high_first);
    for (int k = 0; k < 4; k++) _mm256_storeu_ps(y + 8 * k, _mm256_mul_ps(book16(lo8, hi8, idx8(idx, k)), sv));
}

/* ---- FP8 formats ----------------------------------------------------------------------- */

static const qb_format *fmt_e4m3; /* the raw E4M3 row, for its reference's NaN message */

static qb_status fp8_e4m3_quantize_avx2(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    int64_t n = rows * cols, i = 0;
    __m256 any = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        any = _mm256_or_ps(any, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    int nan = _mm256_movemask_ps(any);
    for (; i < n; i++) nan |= x[i] != x[i];
    if (nan) return fmt_e4m3->quantize_ref(x, q, rows, cols, imp); /* the reference names the row and column */
    mf8_encode_run(x, q, n, &e4m3_nonsat, 0.0f);
    return QB_OK;
}

static qb_status fp8_e5m2_quantize_avx2(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    (void)imp;
    mf8_encode_run(x, q, rows * cols, &e5m2_nonsat, 0.0f);
    return QB_OK;
}

#define FP8_RAW_DEC(NAME, KIND)                                                               \
    static void NAME##_dequantize_avx2(const void *q, float *y, int64_t rows, int64_t cols) { \
        qb_mf_init();                                                                         \
        fp8_run(KIND, q, y, rows * cols, 1.0f, 0);                                            \
    }
FP8_RAW_DEC(fp8_e4m3, QB_MF_E4M3)
FP8_RAW_DEC(fp8_e5m2, QB_MF_E5M2)
#undef FP8_RAW_DEC

/* [s fp32][n codes], s = amax/448, codes of x/s (saturating): minifloat.c's e4m3_scaled_run */
static void e4m3_scaled_run_avx2(const float *x, uint8_t *s_out, uint8_t *o, int64_t n) {
    __m256 m = _mm256_setzero_ps();
    const __m256 abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + i), abs));
    float lanes[8], amax = 0.0f;
    _mm256_storeu_ps(lanes, m);
    for (int k = 0; k < 8; k++) amax = fmaxf(amax, lanes[k]);
    for (; i < n; i++) amax = fmaxf(amax, fabsf(x[i])); /* a maximum is exact: any order gives the reference's */
    float s = amax / 448.0f;
    memcpy(s_out, &s, 4);
    if (s > 0.0f) mf8_encode_run(x, o, n, &e4m3_sat, s);
    else memset(o, 0, (size_t)n);
}

static qb_status fp8_e4m3_pt_quantize_avx2(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    (void)imp;
    qb_mf_init();
    qb_status st = qb_check_finite(x, rows, cols, "fp8_e4m3_pt");
    if (st) return st;
    e4m3_scaled_run_avx2(x, q, (uint8_t *)q + 4, rows * cols);
    return QB_OK;
}

static qb_status fp8_e4m3_pc_quantize_avx2(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    (void)imp;
    qb_mf_init();
    qb_status st = qb_check_finite(x, rows, cols, "fp8_e4m3_pc");
    if (st) return st;
    uint8_t *o = q;
    for (int64_t r = 0; r < rows; r++, o += 4 + cols) e4m3_scaled_run_avx2(x + r * cols, o, o + 4, cols);
    return QB_OK;
}

static void fp8_e4m3_pt_dequantize_avx2(const void *q, float *y, int64_t rows, int64_t cols) {
    qb_mf_init();
    float s;
    memcpy(&s, q, 4);
    fp8_run(QB_MF_E4M3, (const uint8_t *)q + 4, y, rows * cols, s, 1);
}

static void fp8_e4m3_pc_dequantize_avx2(const void *q, float *y, int64_t rows, int64_t cols) {
    qb_mf_init();
    const uint8_t *in = q;
    for (int64_t r = 0; r < rows; r++, in += 4 + cols) {
        float s;
        memcpy(&s, in, 4);
        fp8_run(QB_MF_E4M3, in + 4, y + r * cols, cols, s, 1);
    }
}

static float e4m3_scaled_dot_avx2(const void *w_row, const void *act_row, int64_t cols) {
    qb_mf_init();
    const uint8_t *w = (const uint8_t *)w_row + 4, *a = (const uint8_t *)act_row + 4;
    const float *lut = qb_mf_lut[QB_MF_E4M3];
    __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= cols; i += 8) {
        __m256 p = _mm256_mul_ps(fp8x8(QB_MF_E4M3, w + i), fp8x8(QB_MF_E4M3, a + i)); /* exact */
        acc0 = _mm256_add_pd(acc0, _mm256_cvtps_pd(_mm256_castps256_ps128(p)));
        acc1 = _mm256_add_pd(acc1, _mm256_cvtps_pd(_mm256_extractf128_ps(p, 1)));
    }
    double lanes[4], acc = 0;
    _mm256_storeu_pd(lanes, _mm256_add_pd(acc0, acc1));
    for (int k = 0; k < 4; k++) acc += lanes[k];
    for (; i < cols; i++) acc += (double)(lut[w[i]] * lut[a[i]]);
    float sw, sa;
    memcpy(&sw, w_row, 4);
    memcpy(&sa, act_row, 4);
    return (float)acc * (sw * sa);
}

/* ---- OCP MX decode (mx.c layout: [E8M0][32 elements]) ---------------------------------- */

#define MX8_DEC(NAME, KIND)                                                                   \
    static void NAME##_dequantize_avx2(const void *q, float *y, int64_t rows, int64_t cols) { \
        qb_mf_init();                                                                         \
        const uint8_t *in = q;                                                                \
        for (int64_t i = 0, n = rows * cols; i < n; i += 32, in += 33)                        \
            fp8_run(KIND, in + 1, y + i, 32, qb_e8m0_decode(in[0]), 1);                       \
    }
MX8_DEC(mxfp8_e4m3, QB_MF_E4M3)
MX8_DEC(mxfp8_e5m2, QB_MF_E5M2)
#undef MX8_DEC

static void mxfp4_e2m1_dequantize_avx2(const void *q, float *y, int64_t rows, int64_t cols) {
    qb_mf_init();
    const uint8_t *in = q;
    for (int64_t i = 0, n = rows * cols; i < n; i += 32, in += 17)
        book_block32(qb_mf_lut[QB_MF_E2M1], in + 1, 0, qb_e8m0_decode(in[0]), y + i);
}

/* FP6: group g of 4 codes is the 24-bit word at code bytes [3g, 3g+3); gathering the 32-bit
 * word one byte earlier (the scale byte, or the previous group's last byte) and shifting out
 * that byte stays inside the block. Lane g of V_j holds element 4g+j; a 4×8 transpose
 * restores element order. */
static void mxfp6_block(const uint8_t *in, const float *lut, float *y) {
    const __m256i w = _mm256_srli_epi32(
        _mm256_i32gather_epi32((const int *)in, _mm256_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21), 1), 8);
    const __m256i m6 = _mm256_set1_epi32(0x3f);
    __m256 v[4];
    for (int j = 0; j < 4; j++) v[j] = _mm256_i32gather_ps(lut, _mm256_and_si256(_mm256_srli_epi32(w, 6 * j), m6), 4);
    __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpacklo_ps(v[2], v[3]);
    __m256 t2 = _mm256_unpackhi_ps(v[0], v[1]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
    __m256 u0 = _mm256_shuffle_ps(t0, t1, 0x44), u1 = _mm256_shuffle_ps(t0, t1, 0xee); /* groups 0,1 | 4,5 */
    __m256 u2 = _mm256_shuffle_ps(t2, t3, 0x44), u3 = _mm256_shuffle_ps(t2, t3, 0xee); /* groups 2,3 | 6,7 */
    const __m256 x = _mm256_set1_ps(qb_e8m0_decode(in[0]));
    _mm256_storeu_ps(y, _mm256_mul_ps(x, _mm256_permute2f128_ps(u0, u1, 0x20)));
    _mm256_storeu_ps(y + 8, _mm256_mul_ps(x, _mm256_permute2f128_ps(u2, u3, 0x20)));
    _mm256_storeu_ps(y + 16, _mm256_mul_ps(x, _mm256_permute2f128_ps(u0, u1, 0x31)));
    _mm256_storeu_ps(y + 24, _mm256_mul_ps(x, _mm256_permute2f128_ps(u2, u3, 0x31)));
}

#define MX6_DEC(NAME, KIND)                                                                   \
    static void NAME##_dequantize_avx2(const void *q, float *y, int64_t rows, int64_t cols) { \
        qb_mf_init();                                                                         \
        const uint8_t *in = q;                                                                \
        for (int64_t i = 0, n = rows * cols; i < n; i += 32, in += 25) mxfp6_block(in, qb_mf_lut[KIND], y + i); \
    }
MX6_DEC(mxfp6_e3m2, QB_MF_E3M2)
MX6_DEC(mxfp6_e2m3, QB_MF_E2M3)
#undef MX6_DEC

static void mxint8_dequantize_avx2(const void *q, float *y, int64_t rows, int64_t cols) {
    qb_mf_init();
    const uint8_t *in = q;
    for (int64_t i = 0, n = rows * cols; i < n; i += 32, in += 33) {
        __m256 xs = _mm256_set1_ps(qb_e8m0_decode(in[0])), k = _mm256_set1_ps(0x1p-6f);
        for (int j = 0; j < 32; j += 8) {
            __m256 p = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(in + 1 + j))));
            _mm256_storeu_ps(y + i + j, _mm256_mul_ps(xs, _mm256_mul_ps(p, k)));
        }
    }
}

/* ---- bitsandbytes nf4 / fp4_bnb decode (bnb.c layout: [absmax fp32][32 bytes]) --------- */

extern const float qb_bnb_nf4_code[16], qb_bnb_fp4_code[16];

#define BNB_DEC(NAME, BOOK)                                                                   \
    static void NAME##_dequantize_avx2(const void *q, float *y, int64_t rows, int64_t cols) { \
        const uint8_t *in = q;                                                                \
        for (int64_t i = 0, n = rows * cols; i < n; i += 64, in += 36) {                      \
            float a;                                                                          \
            memcpy(&a, in, 4);                                                                \
            book_block32(BOOK, in + 4, 1, a, y + i);                                          \
            book_block32(BOOK, in + 20, 1, a, y + i + 32);                                    \
        }                                                                                     \
    }
BNB_DEC(nf4, qb_bnb_nf4_code)
BNB_DEC(fp4_bnb, qb_bnb_fp4_code)
#undef BNB_DEC

/* _dq rows: [offset fp32][absmax2 fp32] then per block [dynamic-map code][32 bytes];
 * absmax' = map[code]·absmax2 + offset, as bnb.c (no FMA: -ffp-contract=off) */
void qb_bnb_dynamic_map(float map[256]);
static float dyn_map[256];

#define BNB_DQ_DEC(NAME, BOOK)                                                                \
    static void NAME##_dequantize_avx2(const void *q, float *y, int64_t rows, int64_t cols) { \
        const uint8_t *in = q;                                                                \
        for (int64_t r = 0; r < rows; r++) {                                                  \
            float off, a2;                                                                    \
            memcpy(&off, in, 4);                                                              \
            memcpy(&a2, in + 4, 4);                                                           \
            in += 8;                                                                          \
            for (int64_t c = 0; c + 64 <= cols; c += 64, in += 33) {                          \
                float a = dyn_map[in[0]] * a2 + off;                                          \
                book_block32(BOOK, in + 1, 1, a, y + r * cols + c);                           \
                book_block32(BOOK, in + 17, 1, a, y + r * cols + c + 32);                     \
            }                                                                                 \
        }                                                                                     \
    }
BNB_DQ_DEC(nf4_dq, qb_bnb_nf4_code)
BNB_DQ_DEC(fp4_bnb_dq, qb_bnb_fp4_code)
#undef BNB_DQ_DEC

/* ---- int4 groups (intq.c layout: [sd fp16][z u8, asym only][g/2 bytes, low nibble first]);
 * x̂ = sd·(float)(u − off), off = 8 (sym) or z ------------------------------------------- */

static void int4_groups_dec(const uint8_t *in, float *y, int64_t n, int g, int asym) {
    const int hb = 2 + asym;
    for (int64_t i = 0; i < n; i += g, in += hb + g / 2) {
        uint16_t h;
        memcpy(&h, in, 2);
        const __m256 sd = _mm256_set1_ps(_cvtsh_ss(h));
        const __m256i off = _mm256_set1_epi32(asym ? in[2] : 8);
        for (int j = 0; j < g; j += 32) {
            __m256i idx = nibbles32(in + hb + j / 2, 0);
            for (int k = 0; k < 4; k++)
                _mm256_storeu_ps(y + i + j + 8 * k, _mm256_mul_ps(sd, _mm256_cvtepi32_ps(_mm256_sub_epi32(idx8(idx, k), off))));
        }
    }
}

#define INT4_DEC(NAME, G, ASYM)                                                               \
    static void NAME##_dequantize_avx2(const void *q, float *y, int64_t rows, int64_t cols) { \
        if (cols % (G)) return;                                                               \
        int4_groups_dec(q, y, rows * cols, G, ASYM);                                          \
    }
INT4_DEC(int4_sym_g32, 32, 0)
INT4_DEC(int4_sym_g64, 64, 0)
INT4_DEC(int4_sym_g128, 128, 0)
INT4_DEC(int4_asym_g32, 32, 1)
INT4_DEC(int4_asym_g64, 64, 1)
INT4_DEC(int4_asym_g128, 128, 1)
#undef INT4_DEC

/* ---- installation ---------------------------------------------------------------------- */

typedef struct kernel {
    const char *name;
    qb_status (*quantize)(const float *, void *, int64_t, int64_t, const float *);
    void (*dequantize)(const void *, float *, int64_t, int64_t);
    float (*vec_dot)(const void *, const void *, int64_t);
} kernel;

#define DEC_ONLY(NAME) {#NAME, NULL, NAME##_dequantize_avx2, NULL}
static const kernel kernels[] = {
    {"fp8_e4m3", fp8_e4m3_quantize_avx2, fp8_e4m3_dequantize_avx2, NULL},
    {"fp8_e5m2", fp8_e5m2_quantize_avx2, fp8_e5m2_dequantize_avx2, NULL},
    {"fp8_e4m3_pt", fp8_e4m3_pt_quantize_avx2, fp8_e4m3_pt_dequantize_avx2, e4m3_scaled_dot_avx2},
    {"fp8_e4m3_pc", fp8_e4m3_pc_quantize_avx2, fp8_e4m3_pc_dequantize_avx2, e4m3_scaled_dot_avx2},
    DEC_ONLY(mxfp8_e4m3), DEC_ONLY(mxfp8_e5m2), DEC_ONLY(mxfp4_e2m1), DEC_ONLY(mxint8),
    DEC_ONLY(mxfp6_e3m2), DEC_ONLY(mxfp6_e2m3),
    DEC_ONLY(nf4), DEC_ONLY(fp4_bnb), DEC_ONLY(nf4_dq), DEC_ONLY(fp4_bnb_dq),
    DEC_ONLY(int4_sym_g32), DEC_ONLY(int4_sym_g64), DEC_ONLY(int4_sym_g128),
    DEC_ONLY(int4_asym_g32), DEC_ONLY(int4_asym_g64), DEC_ONLY(int4_asym_g128),
};
#undef DEC_ONLY

void qb_formats_init_x86_minifloat(qb_format *const *table, int n) {
    qb_mf_init();
    qb_bnb_dynamic_map(dyn_map);
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
            if (strcmp(table[i]->name, kernels[k].name) != 0) continue;
            qb_format *f = table[i];
            if (kernels[k].quantize) f->quantize = kernels[k].quantize;
            f->dequantize = kernels[k].dequantize;
            if (kernels[k].vec_dot) f->vec_dot = kernels[k].vec_dot;
            f->impl = "avx2";
            if (strcmp(f->name, "fp8_e4m3") == 0) fmt_e4m3 = f;
        }
}
