/* ggml_common.h — ggml's rounding and scale-search helpers (FORMATS.md §5.16), shared by every
 * GGUF block module. Each reproduces ggml's float arithmetic in ggml's order so that the
 * modules built on them write llama.cpp's bytes exactly (the build uses -ffp-contract=off). */
#ifndef QB_GGML_COMMON_H
#define QB_GGML_COMMON_H

#include <stdint.h>

#define QB_GGML_GROUP_MAX_EPS 1e-15f

/* Round to nearest even through the float adder; valid for |v| ≤ 4194303. */
int qb_ggml_nearest_int(float v);

/* The element of largest magnitude, the first one on ties (ggml's strict >), and that
 * magnitude through amax. */
float qb_ggml_signed_absmax(const float *x, int n, float *amax);

/* Symmetric levels l ∈ [−nmax, nmax−1], stored in L as l + nmax; returns the scale s with
 * x ≈ s·l maximising (Σ w x l)²/Σ w l² over 19 candidate inverse scales. Weights are qw when
 * given, else by rmse_type: 1 → x², 2 → 1, 3 → |x|, other → sqrt|x|. rmse_type 0: plain
 * rounding, returns 1/iscale. */
float qb_ggml_make_qx_quants(int n, int nmax, const float *x, uint8_t *L, int rmse_type, const float *qw);

/* Affine levels q ∈ [0, nmax] with x ≈ s·q − the_min (the_min ≥ 0) minimising the weighted
 * squared error (weights w, or x² when NULL) over nstep + 1 scales; n ≤ 32. */
float qb_ggml_make_qkx3_quants(int n, int nmax, const float *x, const float *w, uint8_t *L, float *the_min, float rmin,
                               float rdelta, int nstep);

/* The element of largest magnitude, the first one on ties (ggml's strict >), and that
 * magnitude through amax. */
float qb_ggml_signed_absmax(const float *x, int n, float *amax);

/* Symmetric levels l ∈ [−nmax, nmax−1] (stored as l + nmax) for Q3_K's reference path: with
 * do_rmse, up to 5 coordinate-descent sweeps maximise (Σ w x l)²/Σ w l², w = x², and the LS
 * scale is returned; without, plain rounding and 1/iscale. All-zero input: L = 0, returns 0. */
float qb_ggml_make_q3_quants(int n, int nmax, const float *x, uint8_t *L, int do_rmse);

/* Affine levels q ∈ [0, nmax] with x ≈ s·q − the_min (the_min ≥ 0) minimising Σ w·|err|
 * (use_mad) or Σ w·err² over nstep + 1 scales; weights w required; n ≤ 32. */
float qb_ggml_make_qkx2_quants(int n, int nmax, const float *x, const float *w, uint8_t *L, float *the_min, float rmin,
                               float rdelta, int nstep, int use_mad);

/* Levels L ∈ [0, nmax] for non-negative values x (K-quant sub-scales and mins) under one
 * positive scale, weighted by qw: 8 candidate scales, then up to 5 coordinate-descent sweeps;
 * returns the LS scale (0 when max x < 1e-15). */
float qb_ggml_make_qp_quants(int n, int nmax, const float *x, uint8_t *L, const float *qw);

/* q2_K's and q3_K's sub-scale quantization (ggml_k.c), shared by the reference and the x86
 * paths so both derive the same stored scales from the same search results: from the 16
 * sub-block scales (and q2_K's mins) fill blk's scales, d (and dmin) as ggml's
 * quantize_row_*_ref does when sw is NULL, else as its imatrix path does, sw holding the sums
 * of each sub-block's weights. blk is a block_q2_K / block_q3_K; its levels are not touched.
 * q3_K's imatrix path searches the sub-scales with make_qx: qb_ggml_make_qx_quants or an
 * implementation with identical results. */
void qb_ggml_q2_K_scales(const float scales[16], const float mins[16], const float *sw, void *blk);

/* q3_K's search of sub-block j of the super-block x (levels + 4 into L, its scale returned):
 * make_q3_quants, or with an imatrix imp make_qx_quants weighted imp·sqrt(sigma2 + x²), whose
 * sum goes to *sw (sigma2 = qb_ggml_q3_K_sigma2(x)). The reference's own step, for the fast
 * paths to redo the rare sub-block whose stored scale is 0 (it keeps these levels). */
float qb_ggml_q3_K_group(const float *x, const float *imp, float sigma2, int j, uint8_t L[16], float *sw);
float qb_ggml_q3_K_sigma2(const float *x);
void qb_ggml_q3_K_scales(const float scales[16], const float *sw, void *blk,
                         float (*make_qx)(int n, int nmax, const float *x, uint8_t *L, int rmse_type, const float *qw));

#endif
