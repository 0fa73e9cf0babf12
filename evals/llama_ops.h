/* llama_ops.h — the element-wise and per-row kernels of the Llama forward pass (llama.c),
 * shared by its reference and fast paths so both do the same arithmetic outside the matrix
 * products. Each follows ggml's CPU operator (ggml/src/ggml-cpu/ops.cpp, vec.h) closely enough
 * that f32 logits match llama.cpp's within 1e-4 relative:
 *   - RMSNorm: squares in float summed in double, mean and 1/sqrtf(mean + eps) in float, then
 *     the weight multiplied separately (ggml_rms_norm then ggml_mul);
 *   - RoPE (ggml_rope_ext without YaRN): θ_i = pos·base^(−2i/n_rot), built by repeated float
 *     multiplication by theta_scale as ggml's rope cache does, divided by the Llama-3 frequency
 *     factor when there is one, times freq_scale (linear scaling);
 *   - softmax: x·scale, max, expf(x − max) summed in double, scaled by 1/sum (ggml_soft_max_ext
 *     with a causal mask: the masked tail is written as 0);
 *   - SwiGLU: silu(g)·u with silu(x) = x / (1 + expf(−x)).
 *
 * Invariants:
 *  1. The kernels are pure functions of their arguments (no state), so a token gives the same
 *     bits whether it is evaluated alone or inside a batch. */
#ifndef QB_LLAMA_OPS_H
#define QB_LLAMA_OPS_H

#include <stdint.h>

/* y[i] = x[i] / sqrt(mean(x²) + eps) · w[i], n values; y may equal x. */
void qb_llama_rmsnorm(const float *x, const float *w, float *y, int64_t n, float eps);

/* RoPE parameters of a model (ggml_rope_ext's arguments). */
typedef struct qb_rope {
    int n_rot;                 /* rotated dimensions per head (≤ head_dim, even) */
    int neox;                  /* 0: adjacent pairs (x[2i], x[2i+1]); 1: halves (x[i], x[i + n_rot/2]) */
    float theta_scale;         /* powf(freq_base, −2 / n_rot) */
    float freq_scale;          /* 1 / linear scaling factor (1: none) */
    const float *freq_factors; /* n_rot/2 Llama-3 factors (rope_freqs) or NULL */
} qb_rope;

/* cs[2i], cs[2i+1] = cos, sin of the angle of pair i at position pos (n_rot values). */
void qb_llama_rope_cache(const qb_rope *r, int32_t pos, float *cs);
/* Rotates n_head heads of head_dim values at x (head h at x + h·head_dim) with a cache from
 * qb_llama_rope_cache; dimensions from n_rot on are left alone. */
void qb_llama_rope(const qb_rope *r, const float *cs, float *x, int n_head, int head_dim);

/* x[0..n_valid) = softmax(x·scale) over those values; x[n_valid..n) = 0 (causally masked). */
void qb_llama_softmax(float *x, int64_t n_valid, int64_t n, float scale);

/* g[i] = silu(g[i]) · u[i], n values. */
void qb_llama_swiglu(float *g, const float *u, int64_t n);

#endif
