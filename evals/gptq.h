/* gptq.h — GPTQ (FORMATS.md §9.2; IST-DASLab/gptq gptq.py, arXiv 2210.17323) into the
 * registry's linear integer group formats (formats/intq.c: int{2,3,4,8}_{sym,asym}_gN), the
 * GGUF block formats with one scale per block and no search (q4_0, q8_0), and the GGUF
 * K-quants q2_K, q3_K, q4_K, q5_K, q6_K.
 *
 * For W (rows × cols, rows = outputs) and H = Σ_n x_n x_nᵀ over calibration inputs (the
 * Hessian of ‖WX − ŴX‖² up to a factor, which nothing below depends on):
 *   1. dead inputs: H_ii = 0 → H_ii = 1 and W[:, i] = 0;
 *   2. act-order (optional): columns in descending diag(H), undone at the end;
 *   3. dampening: H += λI, λ = percdamp · mean(diag H) (×10 and retried while H is not
 *      positive definite);
 *   4. U = upper Cholesky factor of H⁻¹ (LAPACK dpotrf, dpotri, dpotrf);
 *   5. columns in blocks of `block`: for each column i, q = quant(w_i); e = (w_i − q)/U_ii;
 *      the block's later columns get w_j −= e·U_ij at once, the columns after the block get
 *      all the block's errors in one product (lazy batch update: W[:, i2:] −= E·U[i1:i2, i2:]).
 * Quantizer: the format's own grid. Each group of g columns gets its scale (and zero point)
 * by the format's rule (intq.c: symmetric s = amax/q_max, asymmetric from min(x, 0), max(x, 0),
 * the scale rounded to fp16, codes from the stored scale; q4_0: d = max/−8 with max the value
 * of largest magnitude, codes (int)(x/d + 8.5); q8_0: d = amax/127, codes roundf(x/d)),
 * codes clamped to the format's range (values GPTQ has updated may leave the group's): without act-order from the group's
 * values when its first column is reached (they then hold every update from earlier columns —
 * gptq.py takes them from the working matrix without the current block's updates; using the
 * values actually quantized is the tighter choice); with act-order from the original W
 * (gptq.py's static_groups), since the storage keeps groups contiguous in the original order.
 * K-quants: a super-block's scales come from a search over all its 256 values, so they are
 * fixed a super-block at a time: without act-order when the sweep reaches its first column
 * (every earlier column's error then propagated into it when `block` divides 256 or is a
 * multiple of it, as the default 128; otherwise its columns past the current lazy batch
 * still lack that batch's updates), for every row, by the format's own
 * quantize (ggml's make_qkx / make_q3 / make_qx searches, as quantize_row_*_impl) of the
 * current values with diag(H) of its 256 columns as importance weights; with act-order from
 * the original row, before the sweep (static groups, as above: the storage keeps super-blocks
 * contiguous). Each column is then rounded to the nearest value of its row's fixed sub-block
 * grid (d·sc·q − dmin·m or d·sc·q over the format's code range). That grid is read back from
 * the format's own dequantize of the block with every code set to q, so the values GPTQ
 * propagates errors from are the decoder's bits; the codes are then packed into the block
 * beside its scales (k_set_code: ggml_k.c's layouts).
 * Output: the format's bytes (the block layouts of intq.c, ggml_legacy.c and ggml_k.c), so the
 * registry's dequantize decodes exactly the values GPTQ chose (tested, qb_gptq_opts.chosen).
 * The i-quants are not covered (their codes index lattices, not an affine grid).
 *
 * Invariants:
 *  1. With H diagonal (uncorrelated inputs), GPTQ gives RTN's bytes: every U_ij (i ≠ j) is 0,
 *     nothing propagates (act-order's static groups are RTN's groups). For the K-quants: the
 *     values of the format's quantize with importance diag(H).
 *  2. Rows are independent (H is shared), so they are split over threads; the result does not
 *     depend on the thread count. */
#ifndef QB_GPTQ_H
#define QB_GPTQ_H

#include <stdint.h>

#include "../common/qb.h"
#include "../formats/format.h"

typedef struct qb_gptq_opts {
    double percdamp; /* 0.01 as gptq.py; 0 allowed when H is positive definite */
    int block;       /* lazy batch columns, 128 as gptq.py (≥ 1) */
    int act_order;   /* 1: columns in descending diag(H) (gptq.py's --act-order) */
    float *chosen;   /* NULL, or rows × cols: receives the values GPTQ chose (what the bytes decode to) */
} qb_gptq_opts;

/* act-order on (with static groups): on the shipped model's blk.0.ffn_down (inputs with a few
 * dominant channels), int2_asym_g64 GPTQ without it ended at 1.9× RTN's ‖WX − ŴX‖² on its
 * own calibration data (errors pushed late into the dominant columns, which then clamp); with
 * it at 0.06×. */
#define QB_GPTQ_DEFAULTS {0.01, 128, 1, NULL}

/* 1 when GPTQ can write format f (an intq group format, q4_0, q8_0, q2_K … q6_K), else 0. */
int qb_gptq_supports(const qb_format *f);

/* Quantizes w (rows × cols) into q (qb_format_bytes(f, rows, cols) bytes) with h (cols × cols,
 * symmetric, Σ x xᵀ). QB_EUSAGE when f is not supported; QB_EINPUT for non-finite w or h, or an
 * H that stays indefinite after dampening. */
qb_status qb_gptq_quantize(const qb_format *f, const float *w, int64_t rows, int64_t cols, const double *h, const qb_gptq_opts *o,
                           void *q, int threads);

#endif
