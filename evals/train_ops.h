/* train_ops.h — the backward kernels of the Llama trainer (train.c), beside the forward pieces
 * the evaluator does not have. The forward arithmetic of RMSNorm, RoPE, softmax and SwiGLU is
 * llama_ops.c itself, so a trained model is evaluated with exactly the operators it was trained
 * with; each backward kernel here is the exact derivative of that forward code (tested by
 * finite differences in evals/tests/test_train.c).
 *
 * Shapes: activations are row-major with one row per token ([n][width]); a weight matrix is
 * [out][in] as GGUF stores it (ggml ne = {in, out}), so a linear layer is Y = X·Wᵀ.
 *
 * Invariants:
 *  1. Backward kernels ACCUMULATE into weight gradients (dW, dw, dE: a weight is used by every
 *     token of the batch) and OVERWRITE activation gradients (dX, dq, dk, dv, dg, du) unless
 *     stated otherwise.
 *  2. The kernels are pure functions of their arguments: the same inputs give the same bits
 *     (the matrix products depend on OpenBLAS's thread count, which the trainer fixes). */
#ifndef QB_TRAIN_OPS_H
#define QB_TRAIN_OPS_H

#include <stdint.h>

#include "llama_ops.h"

/* Y[n][out] = X[n][in] · W[out][in]ᵀ (OpenBLAS sgemm). */
void qb_train_matmul(const float *X, const float *W, float *Y, int64_t n, int64_t in, int64_t out);
/* dX[n][in] = dY·W (overwritten; skipped when dX is NULL), dW[out][in] += dYᵀ·X. */
void qb_train_matmul_bwd(const float *dY, const float *X, const float *W, float *dX, float *dW, int64_t n, int64_t in,
                         int64_t out);

/* Backward of qb_llama_rmsnorm over one row of n values: x the forward input; dx overwritten,
 * dw accumulated. */
void qb_train_rmsnorm_bwd(const float *x, const float *w, const float *dy, float *dx, float *dw, int64_t n, float eps);

/* Backward of qb_llama_rope (a rotation, so its transpose: the rotation by −θ) in place on the
 * gradient of n_head heads, with the same cache. */
void qb_train_rope_bwd(const qb_rope *r, const float *cs, float *dx, int n_head, int head_dim);

/* Backward of qb_llama_swiglu: g, u the forward inputs (g before activation), dh the gradient
 * of silu(g)·u; dg and du overwritten. */
void qb_train_swiglu_bwd(const float *g, const float *u, const float *dh, float *dg, float *du, int64_t n);

/* Causal grouped-query attention over one sequence of T tokens, as llama.c computes it:
 * q[T][n_head·hd], k, v [T][n_head_kv·hd] (after RoPE); head h reads KV head
 * h / (n_head / n_head_kv); p[n_head][T][T] receives the softmax rows (qb_llama_softmax with
 * scale 1/sqrt(hd), masked tail 0), o[T][n_head·hd] the output. */
void qb_train_attn(const float *q, const float *k, const float *v, float *p, float *o, int T, int n_head, int n_head_kv,
                   int hd);
/* Its backward from the saved p: dq, dk, dv overwritten. */
void qb_train_attn_bwd(const float *q, const float *k, const float *v, const float *p, const float *dout, float *dq,
                       float *dk, float *dv, int T, int n_head, int n_head_kv, int hd);

/* Token embedding: x[i] = E[tok[i]] (dim values each); backward dE[tok[i]] += dx[i]. */
void qb_train_embed(const float *E, const int32_t *tok, float *x, int64_t n, int64_t dim);
void qb_train_embed_bwd(const float *dx, const int32_t *tok, float *dE, int64_t n, int64_t dim);

/* Cross-entropy of logits[n][V] against targets: returns Σ_i −log softmax(logits_i)[target_i]
 * (in double); when dlogits is not NULL it receives (softmax − onehot) · scale (dlogits may
 * equal logits). */
double qb_train_xent(const float *logits, const int32_t *targets, float *dlogits, int64_t n, int64_t V, float scale);

/* AdamW hyper-parameters (decoupled weight decay, PyTorch's torch.optim.AdamW). */
typedef struct qb_adamw {
    float lr, beta1, beta2, eps, weight_decay;
} qb_adamw;
/* One update of n values at step t (1-based): m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
 * w ← w·(1 − lr·wd) − lr·(m/(1−β1ᵗ)) / (sqrt(v/(1−β2ᵗ)) + eps). wd applies when decay is 1. */
void qb_train_adamw(const qb_adamw *a, int64_t t, float *w, const float *g, float *m, float *v, int64_t n, int decay);

#endif
