/* awq.h — AWQ, activation-aware weight quantization (FORMATS.md §9.3; mit-han-lab/llm-awq
 * auto_scale.py, arXiv 2306.00978): per input channel scales s that enlarge the weight columns
 * of salient channels (large mean |x_j|) before quantization, folded back out exactly:
 * W' = W·diag(s) is quantized, and the op before the product divides its output by s.
 *
 * Search, per group of linears sharing one input (q, k, v after attn_norm; gate, up after
 * ffn_norm; down after up): for α ∈ {0, 1/20, …, 19/20}, s_j = max(a_j^α, 1e-4) with a_j the
 * mean |x_j| over calibration tokens, normalised s ← s / sqrt(max s · min s); the loss is
 * Σ_k ‖(W_k − Q(W_k·diag(s))·diag(s)⁻¹)·X‖² over the group's linears, evaluated as
 * Σ_rows Δwᵀ H Δw with H = Σ x xᵀ (evals/calib.h). llm-awq instead runs the whole block (the
 * attention or MLP) and compares its outputs; this measures the products themselves, the
 * quantity GPTQ minimises too. The α with the smallest loss wins. α = 0 gives s = 1, plain
 * RTN, so the chosen loss is never above RTN's (invariant 1). Not done: llm-awq's clipping
 * search (auto_clip.py) and the v→o scaling (its shapes differ under grouped-query attention).
 * Q is the target format's own quantize/dequantize (any registry format).
 *
 * Folding (scales.h, as the model loads): attn_norm and ffn_norm weights are
 * divided by their group's s; q, k, v, gate and up get their input columns multiplied by it;
 * down's columns are multiplied by its s and up's rows divided by the same s (SwiGLU's output
 * is linear in up's output, so down's input is divided by s exactly).
 *
 * Invariants:
 *  1. The chosen loss ≤ the RTN loss (α = 0 is in the grid), checked by the tests. */
#ifndef QB_AWQ_H
#define QB_AWQ_H

#include <stdint.h>

#include "../common/qb.h"
#include "../datasets/model.h"
#include "../formats/format.h"
#include "calib.h"
#include "scales.h"

/* The α of the grid minimising the loss above for nw linears w[k] (rows[k] × cols) sharing an
 * input with mean |x| a[cols] and H h[cols × cols]; writes s[cols], the chosen α and the losses
 * of the choice and of RTN (α = 0). */
qb_status qb_awq_scale(const qb_format *f, const float *const *w, const int64_t *rows, int nw, int64_t cols, const double *a,
                       const double *h, float *s, double *alpha, double *loss, double *loss_rtn);

/* Searches every layer of model m (llama tensor names) for format f from statistics cal
 * (collected with hessian = 1): the plan (scales.h) and its loss beside RTN's. */
qb_status qb_awq_search(const qb_model *m, const qb_calib *cal, const qb_format *f, qb_scales *out);

#endif
