/* train_ops.c — see train_ops.h. */
#include "train_ops.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/qb.h"

void qb_train_matmul(const float *X, const float *W, float *Y, int64_t n, int64_t in, int64_t out) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)out, (int)in, 1.0f, X, (int)in, W, (int)in, 0.0f, Y,
                (int)out);
}

void qb_train_matmul_bwd(const float *dY, const float *X, const float *W, float *dX, float *dW, int64_t n, int64_t in,
                         int64_t out) {
    if (dX)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)in, (int)out, 1.0f, dY, (int)out, W, (int)in,
                    0.0f, dX, (int)in);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)out, (int)in, (int)n, 1.0f, dY, (int)out, X, (int)in, 1.0f,
                dW, (int)in);
}

void qb_train_rmsnorm_bwd(const float *x, const float *w, const float *dy, float *dx, float *dw, int64_t n, float eps) {
    /* the forward's scale r = 1/sqrt(mean(x²) + eps), recomputed as llama_ops.c does;
     * y_i = x_i·r·w_i, dr/dx_j = −r³·x_j/n, so dx_j = r·w_j·dy_j − x_j·r³/n · Σ_i dy_i·w_i·x_i */
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
    const float mean = (float)(sum / (double)n);
    const double r = 1.0 / sqrt((double)(mean + eps));
    double dot = 0.0;
    for (int64_t i = 0; i < n; i++) {
        dot += (double)dy[i] * w[i] * x[i];
        dw[i] += (float)((double)dy[i] * x[i] * r);
    }
    const double c = dot * r * r * r / (double)n;
    for (int64_t i = 0; i < n; i++) dx[i] = (float)(r * w[i] * dy[i] - c * x[i]);
}

void qb_train_rope_bwd(const qb_rope *r, const float *cs, float *dx, int n_head, int head_dim) {
    const int half = r->n_rot / 2;
    for (int h = 0; h < n_head; h++) {
        float *v = dx + (int64_t)h * head_dim;
        for (int i = 0; i < half; i++) {
            const int a = r->neox ? i : 2 * i, b = r->neox ? i + half : 2 * i + 1;
            const float c = cs[2 * i], s = cs[2 * i + 1], x0 = v[a], x1 = v[b];
            v[a] = x0 * c + x1 * s; /* Rᵀ: the forward's matrix [[c, −s], [s, c]] transposed */
            v[b] = -x0 * s + x1 * c;
        }
    }
}

void qb_train_swiglu_bwd(const float *g, const float *u, const float *dh, float *dg, float *du, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float s = 1.0f / (1.0f + expf(-g[i])), silu = g[i] * s;
        /* d silu/dg = s + g·s·(1 − s) */
        dg[i] = dh[i] * u[i] * (s + g[i] * s * (1.0f - s));
        du[i] = dh[i] * silu;
    }
}

void qb_train_attn(const float *q, const float *k, const float *v, float *p, float *o, int T, int n_head, int n_head_kv,
                   int hd) {
    const int qs = n_head * hd, ks = n_head_kv * hd, grp = n_head / n_head_kv;
    const float scale = 1.0f / sqrtf((float)hd);
    for (int h = 0; h < n_head; h++) {
        const int kh = h / grp;
        for (int t = 0; t < T; t++) {
            const float *qt = q + (int64_t)t * qs + (int64_t)h * hd;
            float *pr = p + ((int64_t)h * T + t) * T;
            for (int s = 0; s <= t; s++) {
                const float *kv = k + (int64_t)s * ks + (int64_t)kh * hd;
                float d = 0.0f;
                for (int i = 0; i < hd; i++) d += qt[i] * kv[i];
                pr[s] = d;
            }
            qb_llama_softmax(pr, t + 1, T, scale);
            float *ot = o + (int64_t)t * qs + (int64_t)h * hd;
            memset(ot, 0, (size_t)hd * sizeof *ot);
            for (int s = 0; s <= t; s++) {
                const float *vv = v + (int64_t)s * ks + (int64_t)kh * hd;
                for (int i = 0; i < hd; i++) ot[i] += pr[s] * vv[i];
            }
        }
    }
}

void qb_train_attn_bwd(const float *q, const float *k, const float *v, const float *p, const float *dout, float *dq,
                       float *dk, float *dv, int T, int n_head, int n_head_kv, int hd) {
    const int qs = n_head * hd, ks = n_head_kv * hd, grp = n_head / n_head_kv;
    const float scale = 1.0f / sqrtf((float)hd);
    memset(dq, 0, (size_t)T * (size_t)qs * sizeof *dq);
    memset(dk, 0, (size_t)T * (size_t)ks * sizeof *dk);
    memset(dv, 0, (size_t)T * (size_t)ks * sizeof *dv);
    float *dp = qb_malloc((size_t)(T > 0 ? T : 1) * sizeof *dp); /* one row of dP */
    for (int h = 0; h < n_head; h++) {
        const int kh = h / grp;
        for (int t = 0; t < T; t++) {
            const float *pr = p + ((int64_t)h * T + t) * T;
            const float *dot = dout + (int64_t)t * qs + (int64_t)h * hd;
            /* dP_ts = dO_t·v_s; dV_s += P_ts·dO_t */
            double pdp = 0.0;
            for (int s = 0; s <= t; s++) {
                const float *vv = v + (int64_t)s * ks + (int64_t)kh * hd;
                float *dvv = dv + (int64_t)s * ks + (int64_t)kh * hd;
                float d = 0.0f;
                for (int i = 0; i < hd; i++) {
                    d += dot[i] * vv[i];
                    dvv[i] += pr[s] * dot[i];
                }
                dp[s] = d;
                pdp += (double)pr[s] * d;
            }
            /* softmax backward: dS_ts = P_ts·(dP_ts − Σ_s' P_ts'·dP_ts'), then the 1/sqrt(hd) scale */
            const float *qt = q + (int64_t)t * qs + (int64_t)h * hd;
            float *dqt = dq + (int64_t)t * qs + (int64_t)h * hd;
            for (int s = 0; s <= t; s++) {
                const float ds = pr[s] * (dp[s] - (float)pdp) * scale;
                const float *kv = k + (int64_t)s * ks + (int64_t)kh * hd;
                float *dkv = dk + (int64_t)s * ks + (int64_t)kh * hd;
                for (int i = 0; i < hd; i++) {
                    dqt[i] += ds * kv[i];
                    dkv[i] += ds * qt[i];
                }
            }
        }
    }
    free(dp);
}

void qb_train_embed(const float *E, const int32_t *tok, float *x, int64_t n, int64_t dim) {
    for (int64_t i = 0; i < n; i++) memcpy(x + i * dim, E + (int64_t)tok[i] * dim, (size_t)dim * sizeof *x);
}

void qb_train_embed_bwd(const float *dx, const int32_t *tok, float *dE, int64_t n, int64_t dim) {
    for (int64_t i = 0; i < n; i++) {
        float *row = dE + (int64_t)tok[i] * dim;
        for (int64_t j = 0; j < dim; j++) row[j] += dx[i * dim + j];
    }
}

double qb_train_xent(const float *logits, const int32_t *targets, float *dlogits, int64_t n, int64_t V, float scale) {
    double loss = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float *z = logits + i * V;
        float max = z[0];
        for (int64_t j = 1; j < V; j++) max = z[j] > max ? z[j] : max;
        double sum = 0.0;
        for (int64_t j = 0; j < V; j++) sum += exp((double)z[j] - max);
        const double lse = max + log(sum);
        loss += lse - z[targets[i]];
        if (dlogits) {
            float *d = dlogits + i * V;
            for (int64_t j = 0; j < V; j++) d[j] = (float)exp((double)z[j] - lse) * scale;
            d[targets[i]] -= scale;
        }
    }
    return loss;
}

void qb_train_adamw(const qb_adamw *a, int64_t t, float *w, const float *g, float *m, float *v, int64_t n, int decay) {
    const double bc1 = 1.0 - pow(a->beta1, (double)t), bc2 = 1.0 - pow(a->beta2, (double)t);
    const float shrink = decay ? 1.0f - a->lr * a->weight_decay : 1.0f;
    for (int64_t i = 0; i < n; i++) {
        m[i] = a->beta1 * m[i] + (1.0f - a->beta1) * g[i];
        v[i] = a->beta2 * v[i] + (1.0f - a->beta2) * g[i] * g[i];
        const double mh = m[i] / bc1, vh = v[i] / bc2;
        w[i] = (float)(w[i] * shrink - a->lr * mh / (sqrt(vh) + a->eps));
    }
}
