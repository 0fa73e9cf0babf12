/* smoothquant.h — SmoothQuant (FORMATS.md §9.4; mit-han-lab/smoothquant smooth.py, arXiv
 * 2211.10438): per input channel j of the linears that share an input,
 *   s_j = max|X_j|^α / max(max|W_j|, 1e-5)^(1−α), clamped ≥ 1e-5,
 * with max|X_j| the calibration absmax of the channel (evals/calib.h) and max|W_j| the absmax
 * of weight column j over all those linears. X' = X/s is folded into the norm before them and
 * W' = W·diag(s) into their columns (scales.h), so X'W'ᵀ = XWᵀ and, at α = 0.5, each channel's
 * activation and weight ranges become equal: max|X'_j| = max|W'_j| = sqrt(max|X_j|·max|W_j|),
 * which is what makes W8A8 (per-token int8 activations, evals/llama.h act_format) lose less.
 * Groups, as smooth_lm does for Llama: attn_norm → q, k, v and ffn_norm → gate, up. */
#ifndef QB_SMOOTHQUANT_H
#define QB_SMOOTHQUANT_H

#include <stdint.h>

#include "../common/qb.h"
#include "../datasets/model.h"
#include "calib.h"
#include "scales.h"

/* s[cols] for nw linears w[k] (rows[k] × cols) whose input has calibration absmax x_absmax. */
void qb_smoothquant_scale(const double *x_absmax, const float *const *w, const int64_t *rows, int nw, int64_t cols, double alpha, float *s);
/* The plan for every layer of model m (llama tensor names) from statistics cal. */
qb_status qb_smoothquant_search(const qb_model *m, const qb_calib *cal, double alpha, qb_scales *out);

#endif
