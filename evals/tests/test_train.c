/* test_train.c — the trainer (evals/train.h, train_ops.h).
 *
 * Gradient checks: each backward kernel against central finite differences of its forward
 * kernel, through a random linear read-out L = Σ c_i·y_i (so dL/dy = c), on random inputs:
 * matmul (dX, dW), RMSNorm (dx, dw), RoPE (both pair orders), causal GQA attention (dq, dk, dv),
 * SwiGLU (dg, du), embedding (dE), cross-entropy (dlogits); then the whole model's gradient
 * (qb_train_grad) on a tiny model, entry by entry on a sample of every tensor. Tolerance:
 * |fd − analytic| ≤ 2e-3 + 2e-2·|analytic| (float forward, step 1e-2, sums in double).
 * AdamW: two steps on three values against the update computed by hand from the formula.
 * Runs: a tiny training job on a generated corpus (no third-party text): an uninterrupted run
 * and a run stopped at a checkpoint then resumed give identical weights and identical files;
 * a rerun gives the same file; QAT from that model writes a q4_0 model that `--init` reads
 * back. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/io.h"
#include "../../common/qbtest.h"
#include "../../datasets/gguf.h"
#include "../train.h"

static uint64_t rs = 12345;
static float frand(void) { /* uniform in [−1, 1) */
    rs = rs * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rs >> 11) / 4503599627370496.0 - 1.0);
}
static void fill(float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = frand() * scale;
}
static double dotd(const float *a, const float *b, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

#define H 1e-2f
static int close_enough(double fd, double an) { return fabs(fd - an) <= 2e-3 + 2e-2 * fabs(an); }

/* Checks every entry of the gradient g of parameter p (n values) against central differences
 * of loss(). */
#define FD_CHECK(label, p, g, n, loss)                                                                  \
    do {                                                                                                \
        double worst = 0.0;                                                                             \
        for (int64_t i_ = 0; i_ < (n); i_++) {                                                          \
            const float keep_ = (p)[i_];                                                                \
            (p)[i_] = keep_ + H;                                                                        \
            const double lp_ = (loss);                                                                  \
            (p)[i_] = keep_ - H;                                                                        \
            const double lm_ = (loss);                                                                  \
            (p)[i_] = keep_;                                                                            \
            const double fd_ = (lp_ - lm_) / (2.0 * H);                                                 \
            if (fabs(fd_ - (g)[i_]) > worst) worst = fabs(fd_ - (g)[i_]);                               \
            CHECK_LIMITED(close_enough(fd_, (g)[i_]), "%s[%lld]: finite difference %.6g, backward %.6g", \
                          label, (long long)i_, fd_, (double)(g)[i_]);                                  \
        }                                                                                               \
        printf("gradient %-22s %5lld entries, max |fd - backward| %.2e\n", label, (long long)(n), worst); \
    } while (0)

/* ---- per kernel ---- */

static double l_matmul(const float *X, const float *W, float *Y, const float *c, int n, int in, int out) {
    qb_train_matmul(X, W, Y, n, in, out);
    return dotd(Y, c, (int64_t)n * out);
}

static void test_matmul(void) {
    enum { n = 5, in = 7, out = 6 };
    float X[n * in], W[out * in], Y[n * out], c[n * out], dX[n * in], dW[out * in];
    fill(X, n * in, 1), fill(W, out * in, 1), fill(c, n * out, 1);
    memset(dW, 0, sizeof dW);
    qb_train_matmul_bwd(c, X, W, dX, dW, n, in, out);
    FD_CHECK("matmul dX", X, dX, n * in, l_matmul(X, W, Y, c, n, in, out));
    FD_CHECK("matmul dW", W, dW, out * in, l_matmul(X, W, Y, c, n, in, out));
}

static double l_rms(const float *x, const float *w, float *y, const float *c, int n) {
    qb_llama_rmsnorm(x, w, y, n, 1e-5f);
    return dotd(y, c, n);
}

static void test_rmsnorm(void) {
    enum { n = 16 };
    float x[n], w[n], y[n], c[n], dx[n], dw[n];
    fill(x, n, 2), fill(w, n, 1), fill(c, n, 1);
    memset(dw, 0, sizeof dw);
    qb_train_rmsnorm_bwd(x, w, c, dx, dw, n, 1e-5f);
    FD_CHECK("rmsnorm dx", x, dx, n, l_rms(x, w, y, c, n));
    FD_CHECK("rmsnorm dw", w, dw, n, l_rms(x, w, y, c, n));
}

static double l_rope(const qb_rope *r, const float *cs, const float *x, const float *c, int nh, int hd) {
    float y[64];
    memcpy(y, x, (size_t)(nh * hd) * sizeof *y);
    qb_llama_rope(r, cs, y, nh, hd);
    return dotd(y, c, nh * hd);
}

static void test_rope(void) {
    enum { nh = 3, hd = 8 };
    for (int neox = 0; neox < 2; neox++) {
        qb_rope r = {.n_rot = 6, .neox = neox, .theta_scale = powf(10000.0f, -2.0f / 6), .freq_scale = 1.0f};
        float cs[6], x[nh * hd], c[nh * hd], dx[nh * hd];
        qb_llama_rope_cache(&r, 5, cs);
        fill(x, nh * hd, 1), fill(c, nh * hd, 1);
        memcpy(dx, c, sizeof dx);
        qb_train_rope_bwd(&r, cs, dx, nh, hd);
        FD_CHECK(neox ? "rope (neox) dx" : "rope dx", x, dx, nh * hd, l_rope(&r, cs, x, c, nh, hd));
    }
}

enum { AT = 6, AH = 4, AKV = 2, AD = 4 };
static double l_attn(const float *q, const float *k, const float *v, const float *c) {
    float p[AH * AT * AT], o[AT * AH * AD];
    qb_train_attn(q, k, v, p, o, AT, AH, AKV, AD);
    return dotd(o, c, AT * AH * AD);
}

static void test_attention(void) {
    float q[AT * AH * AD], k[AT * AKV * AD], v[AT * AKV * AD], c[AT * AH * AD], p[AH * AT * AT], o[AT * AH * AD];
    float dq[AT * AH * AD], dk[AT * AKV * AD], dv[AT * AKV * AD];
    fill(q, AT * AH * AD, 1.5f), fill(k, AT * AKV * AD, 1.5f), fill(v, AT * AKV * AD, 1), fill(c, AT * AH * AD, 1);
    qb_train_attn(q, k, v, p, o, AT, AH, AKV, AD);
    /* the causal mask: no weight on a later position, each row sums to 1 */
    int causal = 1;
    for (int h = 0; h < AH; h++)
        for (int t = 0; t < AT; t++) {
            double s = 0;
            for (int u = 0; u < AT; u++) {
                s += p[(h * AT + t) * AT + u];
                if (u > t && p[(h * AT + t) * AT + u] != 0.0f) causal = 0;
            }
            if (fabs(s - 1.0) > 1e-5) causal = 0;
        }
    CHECK(causal, "attention rows must be causal softmax rows");
    qb_train_attn_bwd(q, k, v, p, c, dq, dk, dv, AT, AH, AKV, AD);
    FD_CHECK("attention dq", q, dq, AT * AH * AD, l_attn(q, k, v, c));
    FD_CHECK("attention dk (GQA)", k, dk, AT * AKV * AD, l_attn(q, k, v, c));
    FD_CHECK("attention dv (GQA)", v, dv, AT * AKV * AD, l_attn(q, k, v, c));
}

static double l_swiglu(const float *g, const float *u, const float *c, int n) {
    float h[32];
    memcpy(h, g, (size_t)n * sizeof *h);
    qb_llama_swiglu(h, u, n);
    return dotd(h, c, n);
}

static void test_swiglu(void) {
    enum { n = 24 };
    float g[n], u[n], c[n], dg[n], du[n];
    fill(g, n, 4), fill(u, n, 2), fill(c, n, 1);
    qb_train_swiglu_bwd(g, u, c, dg, du, n);
    FD_CHECK("swiglu dg", g, dg, n, l_swiglu(g, u, c, n));
    FD_CHECK("swiglu du", u, du, n, l_swiglu(g, u, c, n));
}

static double l_embed(const float *E, const int32_t *tok, const float *c, int n, int dim) {
    float x[64];
    qb_train_embed(E, tok, x, n, dim);
    return dotd(x, c, (int64_t)n * dim);
}

static void test_embed(void) {
    enum { V = 5, dim = 4, n = 7 };
    const int32_t tok[n] = {3, 1, 3, 0, 4, 3, 1};
    float E[V * dim], c[n * dim], dE[V * dim];
    fill(E, V * dim, 1), fill(c, n * dim, 1);
    memset(dE, 0, sizeof dE);
    qb_train_embed_bwd(c, tok, dE, n, dim);
    FD_CHECK("embedding dE", E, dE, V * dim, l_embed(E, tok, c, n, dim));
}

static void test_xent(void) {
    enum { n = 4, V = 9 };
    const int32_t tgt[n] = {2, 8, 0, 2};
    float z[n * V], dz[n * V];
    fill(z, n * V, 3);
    const double loss = qb_train_xent(z, tgt, dz, n, V, 0.5f);
    /* −log softmax by hand for row 0 */
    double s = 0;
    for (int j = 0; j < V; j++) s += exp((double)z[j]);
    double l0 = log(s) - z[2], rest = qb_train_xent(z + V, tgt + 1, NULL, n - 1, V, 1);
    CHECK(fabs(loss - (l0 + rest)) < 1e-9 * (1 + loss), "xent %.12g vs row sum %.12g", loss, l0 + rest);
    FD_CHECK("cross-entropy dlogits", z, dz, n * V, 0.5 * qb_train_xent(z, tgt, NULL, n, V, 1));
}

/* ---- the whole model ---- */

static void test_model_grad(void) {
    const qb_train_shape s = {.n_vocab = 11, .dim = 8, .n_layer = 2, .n_head = 4, .n_head_kv = 2, .n_ff = 12, .n_ctx = 5,
                              .rope_base = 10000.0f, .eps = 1e-5f};
    qb_train_model m;
    CHECK(qb_train_model_init(&m, &s) == QB_OK, "init: %s", qb_errmsg());
    qb_train_model_randomize(&m, 7);
    /* larger weights than the 0.02 init, norms away from 1, so every path carries gradient */
    for (int64_t i = 0; i < m.n_params; i++) m.w[i] *= 20.0f;
    for (int i = 0; i < m.n_t; i++)
        if (!m.t[i].matrix)
            for (int64_t j = 0; j < m.t[i].rows; j++) m.w[m.t[i].off + j] = 1.0f + 0.5f * frand();
    const int B = 2, T = 5;
    int32_t tok[2 * 6] = {1, 4, 9, 2, 2, 7, 10, 0, 3, 5, 8, 6};
    qb_train_ws *ws = qb_train_ws_new(&m, B, 2);
    float *g = qb_malloc((size_t)m.n_params * sizeof *g);
    const double loss = qb_train_grad(&m, m.w, tok, B, T, g, ws);
    CHECK(fabs(loss - qb_train_grad(&m, m.w, tok, B, T, NULL, ws)) < 1e-12, "the loss must not depend on the backward pass");
    for (int i = 0; i < m.n_t; i++) {
        const qb_train_tensor *t = &m.t[i];
        float *p = m.w + t->off, *gt = g + t->off;
        const int64_t n = t->rows * t->cols < 24 ? t->rows * t->cols : 24;
        int64_t idx[24];
        for (int64_t j = 0; j < n; j++) idx[j] = (int64_t)((uint64_t)(j * 7919 + i * 131) % (uint64_t)(t->rows * t->cols));
        double worst = 0;
        for (int64_t j = 0; j < n; j++) {
            float *x = p + idx[j];
            const float keep = *x;
            *x = keep + H;
            const double lp = qb_train_grad(&m, m.w, tok, B, T, NULL, ws);
            *x = keep - H;
            const double lm = qb_train_grad(&m, m.w, tok, B, T, NULL, ws);
            *x = keep;
            const double fd = (lp - lm) / (2.0 * H);
            if (fabs(fd - gt[idx[j]]) > worst) worst = fabs(fd - gt[idx[j]]);
            CHECK_LIMITED(close_enough(fd, gt[idx[j]]), "%s[%lld]: finite difference %.6g, backward %.6g", t->name,
                          (long long)idx[j], fd, (double)gt[idx[j]]);
        }
        printf("model gradient %-24s %3lld entries, max |fd - backward| %.2e\n", t->name, (long long)n, worst);
    }
    free(g);
    qb_train_ws_free(ws);
    qb_train_model_free(&m);
}

static void test_adamw(void) {
    qb_adamw a = {.lr = 0.1f, .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f, .weight_decay = 0.5f};
    float w[3] = {1.0f, -2.0f, 0.5f}, m[3] = {0}, v[3] = {0};
    const float g1[3] = {0.5f, -1.0f, 0.0f}, g2[3] = {-0.25f, 2.0f, 1.0f};
    qb_train_adamw(&a, 1, w, g1, m, v, 3, 1);
    qb_train_adamw(&a, 2, w, g2, m, v, 3, 1);
    /* by hand: step 1, m = 0.1 g1, v = 0.01 g1², m̂ = g1, v̂ = g1², update sign(g1) (0 for g = 0);
     * w1 = w0·(1 − 0.05) − 0.1·sign(g1) */
    const double w1[3] = {1.0 * 0.95 - 0.1, -2.0 * 0.95 + 0.1, 0.5 * 0.95};
    double exp_w[3];
    for (int i = 0; i < 3; i++) {
        const double m2 = 0.9 * 0.1 * g1[i] + 0.1 * g2[i], v2 = 0.99 * 0.01 * g1[i] * g1[i] + 0.01 * g2[i] * g2[i];
        const double mh = m2 / (1 - 0.81), vh = v2 / (1 - 0.9801);
        exp_w[i] = w1[i] * 0.95 - 0.1 * mh / (sqrt(vh) + 1e-8);
        CHECK(fabs(w[i] - exp_w[i]) < 1e-6, "adamw w[%d] = %.9g, by hand %.9g", i, (double)w[i], exp_w[i]);
    }
    float x[1] = {3.0f}, mx[1] = {0}, vx[1] = {0};
    const float gx[1] = {0.0f};
    qb_train_adamw(&a, 1, x, gx, mx, vx, 1, 0);
    CHECK(x[0] == 3.0f, "no decay and no gradient must leave the weight alone (%.9g)", (double)x[0]);
}

/* ---- training runs ---- */

static char *slurp(const char *path, size_t *n) {
    qb_map mp;
    if (qb_map_file(&mp, path) != QB_OK) return NULL;
    char *b = qb_malloc(mp.size + 1);
    memcpy(b, mp.data, mp.size);
    *n = mp.size;
    qb_unmap(&mp);
    return b;
}

static int same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char *x = slurp(a, &na), *y = slurp(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x), free(y);
    return same;
}

static void write_text(const char *path, int seed, int words) {
    static const char *w[] = {"the", "model", "quantized", "weights", "of", "a", "format", "block", "scale", "error",
                              "is", "small", "and", "large", "bits", "per", "value", "\n"};
    FILE *f = fopen(path, "w");
    uint64_t r = (uint64_t)seed;
    for (int i = 0; i < words; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        fprintf(f, "%s ", w[(r >> 33) % (sizeof w / sizeof *w)]);
    }
    fclose(f);
}

static void test_runs(void) {
    char dir[] = "/tmp/qb_test_train_XXXXXX";
    if (!mkdtemp(dir)) qbt_skip("no temporary directory");
    char *data = qb_asprintf("%s/data", dir);
    qb_mkdirs(data);
    for (int i = 0; i < 3; i++) {
        char *p = qb_asprintf("%s/text%d", data, i);
        write_text(p, i + 1, 300);
        free(p);
    }
    char *ck_a = qb_asprintf("%s/a.ckpt", dir), *ck_b = qb_asprintf("%s/b.ckpt", dir);
    char *out_a = qb_asprintf("%s/a.gguf", dir), *out_b = qb_asprintf("%s/b.gguf", dir), *out_c = qb_asprintf("%s/c.gguf", dir);
    char *out_q = qb_asprintf("%s/q.gguf", dir);
    qb_train_opts o = {.data_dir = data, .heldout = "text2", .out_path = out_a, .out_type = "f32", .checkpoint = ck_a,
                       .shape = {.dim = 32, .n_layer = 2, .n_head = 4, .n_head_kv = 2, .n_ff = 64, .n_ctx = 16,
                                 .rope_base = 10000.0f, .eps = 1e-5f},
                       .batch = 3, .steps = 8, .warmup = 2, .eval_every = 4, .threads = 1, .lr = 3e-3f, .lr_min = 0.1f,
                       .weight_decay = 0.1f, .clip = 1.0f, .beta1 = 0.9f, .beta2 = 0.95f, .seed = 5};
    qb_train_summary s;
    qb_status st = qb_train_run(&o, &s);
    CHECK(st == QB_OK, "uninterrupted run: %s", qb_errmsg());
    CHECK(s.steps == 8 && s.final_loss < s.first_loss, "8 steps must lower the loss (%.4f -> %.4f)", s.first_loss, s.final_loss);
    CHECK(s.heldout_ppl > 1 && s.heldout_ppl < 260 && s.unigram_ppl > 1 && s.unigram_ppl < 260,
          "held-out ppl %.3f and unigram %.3f must lie between 1 and the vocabulary size", s.heldout_ppl, s.unigram_ppl);
    /* stopped after step 3, then resumed */
    o.checkpoint = ck_b, o.out_path = out_b, o.stop_after = 3;
    st = qb_train_run(&o, &s);
    CHECK(st == QB_OK && s.steps == 3, "stopped run: %s (steps %d)", qb_errmsg(), s.steps);
    o.stop_after = 0, o.resume = 1;
    st = qb_train_run(&o, &s);
    CHECK(st == QB_OK && s.steps == 8, "resumed run: %s", qb_errmsg());
    CHECK(same_file(ck_a, ck_b), "a resumed run must end with the checkpoint (weights, moments) of an uninterrupted one");
    CHECK(same_file(out_a, out_b), "a resumed run must write the same model as an uninterrupted one");
    /* a rerun from scratch reproduces the file */
    o.resume = 0, o.checkpoint = NULL, o.out_path = out_c;
    CHECK(qb_train_run(&o, &s) == QB_OK && same_file(out_a, out_c), "a rerun must give the same model: %s", qb_errmsg());
    /* a checkpoint made with other options is refused */
    o.checkpoint = ck_a, o.resume = 1, o.seed = 6;
    CHECK(qb_train_run(&o, &s) == QB_EUSAGE, "resuming with another seed must be refused");
    /* QAT from the trained model: q4_0 output, read back by --init */
    qb_train_opts q = o;
    q.seed = 5, q.checkpoint = NULL, q.resume = 0, q.init = out_a, q.qat = "q4_0", q.out_path = out_q, q.steps = 3;
    st = qb_train_run(&q, &s);
    CHECK(st == QB_OK, "QAT run: %s", qb_errmsg());
    qb_gguf g;
    if (st == QB_OK && qb_gguf_open(&g, out_q) == QB_OK) {
        const qb_gguf_tensor *t = qb_gguf_find_tensor(&g, "blk.0.ffn_up.weight"), *n = qb_gguf_find_tensor(&g, "blk.0.ffn_norm.weight");
        CHECK(t && t->type == 2 && n && n->type == 0, "QAT output: matrices q4_0 (2), norms f32 (0)");
        CHECK(qb_gguf_find_kv(&g, "tokenizer.ggml.tokens") != NULL, "QAT output keeps the vocabulary");
        qb_gguf_close(&g);
    }
    q.qat = "f32_nosuch";
    CHECK(qb_train_run(&q, &s) == QB_EUSAGE, "an unknown QAT format is a usage error");
    const char *files[] = {ck_a, ck_b, out_a, out_b, out_c, out_q};
    for (int i = 0; i < 6; i++) unlink(files[i]);
    for (int i = 0; i < 3; i++) {
        char *p = qb_asprintf("%s/text%d", data, i);
        unlink(p);
        free(p);
    }
    rmdir(data), rmdir(dir);
    free(data), free(ck_a), free(ck_b), free(out_a), free(out_b), free(out_c), free(out_q);
}

int main(void) {
    qb_formats_init();
    test_matmul();
    test_rmsnorm();
    test_rope();
    test_attention();
    test_swiglu();
    test_embed();
    test_xent();
    test_model_grad();
    test_adamw();
    test_runs();
    return qbt_finish();
}
