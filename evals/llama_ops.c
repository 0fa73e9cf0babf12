/* llama_ops.c — see llama_ops.h. */
#include "llama_ops.h"

#include <math.h>

void qb_llama_rmsnorm(const float *x, const float *w, float *y, int64_t n, float eps) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * x[i]); /* float square, double sum: ggml */
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    for (int64_t i = 0; i < n; i++) y[i] = (x[i] * scale) * w[i]; /* rms_norm, then ggml_mul */
}

void qb_llama_rope_cache(const qb_rope *r, int32_t pos, float *cs) {
    float theta = (float)pos; /* ggml accumulates θ by products, not powf per pair */
    for (int i = 0; i < r->n_rot / 2; i++) {
        const float ff = r->freq_factors ? r->freq_factors[i] : 1.0f;
        const float t = r->freq_scale * (theta / ff);
        cs[2 * i] = cosf(t);
        cs[2 * i + 1] = sinf(t);
        theta *= r->theta_scale;
    }
}

void qb_llama_rope(const qb_rope *r, const float *cs, float *x, int n_head, int head_dim) {
    const int half = r->n_rot / 2;
    for (int h = 0; h < n_head; h++) {
        float *v = x + (int64_t)h * head_dim;
        for (int i = 0; i < half; i++) {
            /* normal order rotates neighbours, NeoX order the two halves of the rotated part */
            const int a = r->neox ? i : 2 * i, b = r->neox ? i + half : 2 * i + 1;
            const float c = cs[2 * i], s = cs[2 * i + 1], x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
    }
}

void qb_llama_softmax(float *x, int64_t n_valid, int64_t n, float scale) {
    float max = -INFINITY;
    for (int64_t i = 0; i < n_valid; i++) {
        x[i] *= scale;
        if (x[i] > max) max = x[i];
    }
    double sum = 0.0;
    for (int64_t i = 0; i < n_valid; i++) {
        x[i] = expf(x[i] - max);
        sum += (double)x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n_valid; i++) x[i] *= inv;
    for (int64_t i = n_valid; i < n; i++) x[i] = 0.0f;
}

void qb_llama_swiglu(float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}
