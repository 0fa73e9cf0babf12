/* format.h — the format interface: one struct of traits and function pointers per numeric
 * format, all of them in one table (registry.c), in the spirit of ggml's type traits.
 *
 * Storage model. A tensor of rows × cols values is stored row after row; a row is
 * cols / block_elems blocks of block_bytes each, preceded by row_extra_bytes (a per-row
 * scale), and the whole tensor is preceded by tensor_extra_bytes (a per-tensor scale).
 * Scalar formats have block_elems = 1. qb_format_bytes() gives the exact size; bits per
 * weight are 8·bytes / (rows·cols), scales included.
 *
 * GEMV dot product (ggml's vec_dot / vec_dot_type). A matrix-vector product y = W·a never
 * dequantizes W: the activation row a is quantized once to the format named vec_dot_type,
 * and each weight row is dotted with it in integer arithmetic per block, the block's scales
 * applied in float. vec_dot_type pairs as ggml does: q8_0 for q4_0, q5_0, q8_0, iq4_nl,
 * mxfp4, nvfp4, q1_0, q2_0; q8_1 (which also carries each block's fp16 sum d·Σq) for q4_1
 * and q5_1; q8_K (fp32 d, int16 sums per 16) for q2_K…q6_K, iq4_xs, tq1_0, tq2_0; and the
 * IEEE formats f32, f16, bf16 dot with their own format (ggml's ggml_vec_dot_f16 etc.:
 * float products summed in double); fp8_e4m3_pc and fp8_e4m3_pt with themselves (vLLM's
 * W8A8 FP8: the activation row gets its own amax/448 scale, per token; exact E4M3 products
 * summed exactly, one fp32 rounding, then s_w·s_a). NULL (int8_sym_row, q8_1, q8_K, and
 * the other non-GGUF formats) means no fused dot.
 *
 * Invariants:
 *  1. quantize, dequantize and (when vec_dot_type is set) vec_dot are never NULL:
 *     qb_formats_init() fills them from the reference paths and then overrides them where
 *     this CPU has a faster kernel (BLIS's habit), so callers never test for NULL.
 *  2. Every fast path gives the same bytes (quantize) and the same bits (dequantize) as its
 *     reference path; formats/tests/test_formats.c checks this for every row of the table.
 *  3. A format's name is its permanent key in the results database; never reuse one.
 *  4. Error bound: for every element, |x − x̂| ≤ err_rel·|x| + err_block·amax(block) +
 *     err_tensor·amax(tensor) + err_abs, for finite inputs inside the format's range: when
 *     dom_hi > 0, blocks whose amax lies in [dom_lo, dom_hi] (round-trip tests use it). The
 *     block of a format with row_extra_bytes is the row (its scale is per row). Formats that
 *     scale by the whole tensor (fp8_e4m3_pt, int4_sym_pt, nvfp4_ts) set QB_FMT_TENSOR_AMAX:
 *     their err_tensor term is the real bound, and [dom_lo, dom_hi] then bounds amax(tensor)
 *     instead of amax(block) (their scale is computed from it).
 *  5. vec_dot_ref evaluates ggml's generic (scalar) vec_dot arithmetic exactly: the integer
 *     sums per block, then the float scale products and accumulation in ggml's order. A
 *     fast vec_dot keeps the integer sums exact but may reorder the float accumulation and
 *     fuse multiply-adds: |vec_dot − vec_dot_ref| ≤ 1e-5·Σ|w_i·a_i| + 1e-30 (w, a the
 *     dequantized rows), checked by test_formats.c on every format with a vec_dot_type (on
 *     its distributions the worst seen is 3e-7·Σ|w_i·a_i|). Caveat for the affine types
 *     (q4_1, q5_1, q2_K, q4_K, q5_K): their dots subtract a block-offset term, so the float
 *     error scales with Σ(|d·q| + |m|)·|a_i|, the magnitudes before that cancellation
 *     (≤ 2e-7 of it measured for q4_K, q5_K); on blocks whose values sit far above their min
 *     (one far low outlier per block) it exceeds the Σ|w_i·a_i| form, up to 5e-4 of it for q5_K,
 *     and it is ggml's float accumulation that drifts (the AVX2 q4_K/q5_K dots add each
 *     super-block's exact integer terms in double). */
#ifndef QB_FORMAT_H
#define QB_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "../common/qb.h"

enum {
    QB_FMT_HAS_NAN = 1u << 0,   /* NaN and ±Inf inputs are representable and encode as such */
    QB_FMT_USES_IMP = 1u << 1,  /* quantize reads per-column importance weights */
    QB_FMT_TENSOR_AMAX = 1u << 2, /* scaled by amax(tensor): err_tensor and the domain refer to it (invariant 4) */
    QB_FMT_INF_ENCODES = 1u << 3, /* ±Inf is accepted (NaN is not) and encodes as overflow: ±max or the NaN code */
};

/* Non-finite input, the policy per family (formats/tests/test_formats.c checks every row):
 *  - QB_FMT_HAS_NAN (f32, f16, bf16, tf32, fp8_e5m2): NaN and ±Inf encode and decode as
 *    themselves.
 *  - QB_FMT_INF_ENCODES (the raw minifloats fp8_e4m3, fp6_*, fp4_e2m1): NaN is rejected;
 *    ±Inf follows the element conversion's overflow rule (fp8_e4m3: the NaN code, as
 *    ml_dtypes/PyTorch; fp6/fp4: saturate to ±max, as ml_dtypes), so no block scale is
 *    involved and nothing else in the row changes.
 *  - every other format (any scale: per row, block or tensor): NaN and ±Inf are rejected
 *    with QB_EINPUT naming the row and column, since one non-finite value would make its
 *    whole block's (row's, tensor's) scale NaN or Inf.
 * An all-zero block (row, tensor) encodes with a zero (or the smallest) scale and decodes to
 * exact zeros in every format. */

typedef struct qb_format {
    const char *name;          /* database key, e.g. "f16", "int8_sym_row" */
    const char *family;        /* "ieee", "int", later "minifloat", "mx", "ggml", "bnb" */
    const char *description;   /* one line for `quantbench formats` */
    int32_t block_elems;       /* elements per block (1 for scalar formats) */
    int32_t block_bytes;       /* bytes per block */
    int32_t row_extra_bytes;   /* bytes stored once per row before its blocks */
    int32_t tensor_extra_bytes;/* bytes stored once per tensor before its rows */
    int32_t gguf_type;         /* GGUF/ggml type id, or -1 */
    uint32_t flags;            /* QB_FMT_* */
    double err_rel, err_block, err_abs; /* documented error bound, invariant 4 */
    double dom_lo, dom_hi;              /* block amax range where that bound holds; 0, 0: every finite input */

    /* x: rows × cols floats, row-major; q: qb_format_bytes(rows, cols) bytes; imp: cols
     * importance weights or NULL. Returns QB_OK or QB_EINPUT with the row/column named
     * (e.g. a NaN in a format that has none). */
    qb_status (*quantize_ref)(const float *x, void *q, int64_t rows, int64_t cols, const float *imp);
    /* Any bytes decode (hostile input yields NaN or garbage values, never a crash). */
    void (*dequantize_ref)(const void *q, float *y, int64_t rows, int64_t cols);

    /* Fast paths (invariant 1) and which implementation fills them ("ref", "f16c", "avx2"). */
    qb_status (*quantize)(const float *x, void *q, int64_t rows, int64_t cols, const float *imp);
    void (*dequantize)(const void *q, float *y, int64_t rows, int64_t cols);
    const char *impl;

    /* GEMV dot (invariant 5; appended, the table only grows at the end). vec_dot_type: the
     * registry name of the activation format, NULL when there is no fused dot. w_row: one
     * row of cols values in this format (qb_format_bytes(f, 1, cols) bytes); act_row: cols
     * values quantized with vec_dot_type's quantize; cols a multiple of both block sizes.
     * Returns Σ w_i·a_i. vec_dot is filled from vec_dot_ref by qb_formats_init() and
     * overridden by a fast path where one exists. */
    const char *vec_dot_type;
    float (*vec_dot_ref)(const void *w_row, const void *act_row, int64_t cols);
    float (*vec_dot)(const void *w_row, const void *act_row, int64_t cols);

    /* Invariant 4's per-tensor term (appended; 0 for formats without a tensor scale). */
    double err_tensor;

    /* Two rows at once (appended; NULL: decode's GEMV calls vec_dot per row): out[0], out[1]
     * = vec_dot of the rows at w and w + rb with act_row, the same bits as vec_dot gives. A
     * fast path that shares the activation's work between the rows sets it with vec_dot. */
    void (*vec_dot2)(const void *w, size_t rb, const void *act_row, int64_t cols, float *out);

    /* The activation row as vec_dot2 reads it (appended; NULL: vec_dot2 reads act_row itself).
     * act_prep(act_row, cols, out) writes act_prep_bytes(cols) bytes (a multiple of 64) at out
     * from an act_row of vec_dot_type, and vec_dot2 then takes out in act_row's place. Decode's
     * GEMV (gemv.h) prepares each activation row once for all the weight rows it meets, so
     * work that depends on the activation alone (its sums, its scales as floats, its bytes in
     * the order the dot meets them) is done once per product, not once per weight row. Set
     * and cleared with vec_dot2; out is 4-byte aligned (it holds floats), and 64-byte
     * aligned is faster. */
    size_t (*act_prep_bytes)(int64_t cols);
    void (*act_prep)(const void *act_row, int64_t cols, void *out);
} qb_format;

/* Fills the fast paths; idempotent, call once before using the table (the CLI does). */
void qb_formats_init(void);
int qb_format_count(void);
const qb_format *qb_format_at(int i);
/* NULL when unknown; qb_format_require() instead fails with QB_EUSAGE listing valid names. */
const qb_format *qb_format_find(const char *name);
qb_status qb_format_require(const char *name, const qb_format **out);

/* Bytes needed for rows × cols; QB_EINPUT when cols is not a multiple of block_elems or the
 * size overflows. */
qb_status qb_format_bytes(const qb_format *f, int64_t rows, int64_t cols, size_t *out);
/* Bits per weight for a shape, scales included. */
double qb_format_bpw(const qb_format *f, int64_t rows, int64_t cols);

/* quantize / dequantize of rows split over `threads` threads (formats without per-tensor
 * data only; others run on one thread). Same bytes and bits as one call. */
qb_status qb_format_quantize_mt(const qb_format *f, const float *x, void *q, int64_t rows, int64_t cols, const float *imp,
                                int threads);
void qb_format_dequantize_mt(const qb_format *f, const void *q, float *y, int64_t rows, int64_t cols, int threads);

/* Per-architecture fast paths override table entries from here (formats/x86/). The GGUF
 * block kernels (formats/x86/ggml_x86.c) are installed by qb_formats_init_x86 only on a CPU
 * with AVX2, FMA and F16C, since that file is compiled for them. */
void qb_formats_init_x86(qb_format *const *table, int n);
void qb_formats_init_x86_ggml(qb_format *const *table, int n);
/* FP8 encode/decode, bitsandbytes, int4-group and MX decode kernels (formats/x86/
 * minifloat_x86.c), installed by qb_formats_init_x86 on a CPU with AVX2 and F16C. */
void qb_formats_init_x86_minifloat(qb_format *const *table, int n);

/* Shared helpers for modules: IEEE half and bfloat16 conversions (reference semantics of
 * FORMATS.md §1.2–1.3) and NaN validation with a precise message. */
uint16_t qb_f32_to_f16(float x);
float qb_f16_to_f32(uint16_t h);
uint16_t qb_f32_to_bf16(float x);
float qb_bf16_to_f32(uint16_t h);
/* fp32 → TF32 as PTX cvt.rna.tf32.f32 (ties away from zero), returned as the fp32 value. */
float qb_f32_to_tf32(float x);
qb_status qb_check_finite(const float *x, int64_t rows, int64_t cols, const char *fmt_name);

#endif
