/* test_awq.c — AWQ (evals/awq.h):
 *  - random layers whose calibration inputs have a few outlier channels (10–30× the others,
 *    AWQ's premise), several formats: the loss qb_awq_scale reports equals ‖WX − ŴX‖²
 *    computed directly from X with the returned scales, its RTN loss equals the registry's RTN
 *    error, the chosen loss is never above RTN's (invariant 1), and on these inputs it is below;
 *  - folding (invariant 2), on a random llama model written by gguf_tool (argv[1]): statistics
 *    from the model itself, a search for int4_asym_g32, then every scale replaced by a random
 *    one in [1/4, 4]: the model loaded as f16 with AWQ's hooks (weights × s, norms ÷ s, up's
 *    rows ÷ down's s) gives the logits of the plain f16 model within f16 rounding, while the
 *    same scales without the norm fold do not. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/qbtest.h"
#include "datasets/source.h"
#include "evals/awq.h"
#include "evals/tests/tiny_llama.h"

static double direct_err(const qb_format *f, const float *w, int64_t rows, int64_t cols, const float *s, const float *x, int64_t n) {
    size_t nb;
    qb_format_bytes(f, rows, cols, &nb);
    float *ws = malloc(sizeof *ws * (size_t)(rows * cols));
    uint8_t *q = malloc(nb);
    for (int64_t i = 0; i < rows * cols; i++) ws[i] = w[i] * (s ? s[i % cols] : 1.0f);
    f->quantize(ws, q, rows, cols, NULL);
    f->dequantize(q, ws, rows, cols);
    double e = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t t = 0; t < n; t++) {
            double d = 0;
            for (int64_t c = 0; c < cols; c++) d += ((double)w[r * cols + c] - (double)ws[r * cols + c] / (s ? s[c] : 1.0f)) * x[t * cols + c];
            e += d * d;
        }
    free(ws), free(q);
    return e;
}

static void random_layers(void) {
    static const char *const fmts[] = {"int4_asym_g128", "int4_sym_g32", "int3_asym_g128", "q4_0", "nf4"};
    enum { R = 32, C = 256, N = 256 };
    float *w = malloc(sizeof *w * R * C), *x = malloc(sizeof *x * N * C), s[C];
    double *h = calloc(C * C, sizeof *h), a[C];
    qb_rng rng;
    qb_rng_seed(&rng, 4);
    for (int i = 0; i < R * C; i++) w[i] = (float)(0.05 * qb_rng_normal(&rng));
    for (int t = 0; t < N; t++)
        for (int c = 0; c < C; c++) x[t * C + c] = (float)(qb_rng_normal(&rng) * (c % 37 == 3 ? 10.0 + c % 3 * 10.0 : 1.0));
    for (int c = 0; c < C; c++) {
        a[c] = 0;
        for (int t = 0; t < N; t++) a[c] += fabs(x[t * C + c]) / N;
    }
    for (int t = 0; t < N; t++)
        for (int i = 0; i < C; i++)
            for (int j = 0; j < C; j++) h[i * C + j] += (double)x[t * C + i] * x[t * C + j];
    for (size_t k = 0; k < sizeof fmts / sizeof fmts[0]; k++) {
        const qb_format *f = qb_format_find(fmts[k]);
        if (!f) continue;
        const float *ws[1] = {w};
        int64_t rows[1] = {R};
        double alpha = -1, loss = 0, loss_rtn = 0;
        CHECK(qb_awq_scale(f, ws, rows, 1, C, a, h, s, &alpha, &loss, &loss_rtn) == QB_OK, "%s: %s", fmts[k], qb_errmsg());
        const double d = direct_err(f, w, R, C, s, x, N), d_rtn = direct_err(f, w, R, C, NULL, x, N);
        CHECK(fabs(loss - d) <= 1e-6 * d, "%s: reported loss %.9g = direct ‖WX − ŴX‖² %.9g", fmts[k], loss, d);
        CHECK(fabs(loss_rtn - d_rtn) <= 1e-6 * d_rtn, "%s: RTN loss %.9g = direct %.9g", fmts[k], loss_rtn, d_rtn);
        CHECK(loss < loss_rtn && alpha > 0, "%s: AWQ %.6g below RTN %.6g (α %.2f)", fmts[k], loss, loss_rtn, alpha);
        printf("%-15s α %.2f  ‖WX−ŴX‖² RTN %.5g  AWQ %.5g (%.1f%%)\n", fmts[k], alpha, loss_rtn, loss, 100 * loss / loss_rtn);
    }
    free(w), free(x), free(h);
}

static void logits(const qb_model *m, const qb_llama_opts *o, const int32_t *tok, int n, float *out) {
    qb_llama *l = NULL;
    CHECK(qb_llama_load(m, o, &l) == QB_OK, "load: %s", qb_errmsg());
    if (!l) return;
    CHECK(qb_llama_eval(l, tok, n, out) == QB_OK, "eval: %s", qb_errmsg());
    qb_llama_free(l);
}

static void folding(const char *gguf_tool) {
    tiny_llama tl;
    if (!tiny_llama_open(&tl, gguf_tool)) return;
    qb_model *m = &tl.m;
    enum { T = 48, V = TINY_LLAMA_VOCAB };
    int32_t tok[T];
    for (int i = 0; i < T; i++) tok[i] = (i * 37 + 11) % V;
    qb_calib cal;
    qb_calib_init(&cal, 1, 0);
    qb_llama *l = NULL;
    qb_llama_opts o = {.threads = 2, .n_ctx = T};
    CHECK(qb_llama_load(m, &o, &l) == QB_OK && qb_calib_run(&cal, l, tok, T, T, 0, -1) == QB_OK, "calibration: %s", qb_errmsg());
    qb_llama_free(l);
    qb_scales awq;
    CHECK(qb_awq_search(m, &cal, qb_format_find("int4_asym_g32"), &awq) == QB_OK, "search: %s", qb_errmsg());
    CHECK(awq.loss <= awq.loss_rtn, "model: AWQ loss %.6g ≤ RTN %.6g", awq.loss, awq.loss_rtn);
    printf("model search: Σ loss RTN %.5g, AWQ %.5g; %d tensors scaled\n", awq.loss_rtn, awq.loss, awq.n);
    qb_rng rng;
    qb_rng_seed(&rng, 2);
    int n_rows = 0, n_norm = 0;
    for (int i = 0; i < awq.n; i++) {
        qb_scales_entry *e = &awq.e[i];
        float *v[3] = {e->mul_cols, e->div_rows, e->div};
        for (int k = 0; k < 3; k++)
            for (int64_t j = 0; v[k] && j < (k == 1 ? e->n_rows : e->n_cols); j++) v[k][j] = 0.0f; /* cleared, refilled below */
        n_rows += e->div_rows != NULL, n_norm += e->div != NULL;
    }
    CHECK(n_rows == 2 && n_norm == 4, "per layer: up's rows and two norms scaled (got %d, %d)", n_rows, n_norm);
    /* the same random s for every tensor of a group: a group is named by its fold target */
    for (int i = 0; i < awq.n; i++) {
        qb_scales_entry *e = &awq.e[i];
        if (!e->div && !e->div_rows) continue;
        int64_t n = e->div ? e->n_cols : e->n_rows;
        float *s = e->div ? e->div : e->div_rows;
        for (int64_t j = 0; j < n; j++) s[j] = (float)exp2(4.0 * qb_rng_uniform(&rng) - 2.0);
        /* the group's linears: attn_norm → q, k, v; ffn_norm → gate, up; up's rows → down */
        const int layer = atoi(e->tensor + 4);
        const char *grp = e->div_rows ? "ffn_down" : strstr(e->tensor, "attn_norm") ? "attn_" : "ffn_";
        for (int k = 0; k < awq.n; k++) {
            qb_scales_entry *t = &awq.e[k];
            char blk[16];
            snprintf(blk, sizeof blk, "blk.%d.", layer);
            const char *kind = t->tensor + strlen(blk);
            if (!t->mul_cols || strncmp(t->tensor, blk, strlen(blk)) != 0 || strncmp(kind, grp, strlen(grp)) != 0) continue;
            if (strcmp(grp, "ffn_") == 0 && strncmp(kind, "ffn_down", 8) == 0) continue;
            memcpy(t->mul_cols, s, sizeof *s * (size_t)n);
        }
    }
    float *a = malloc(sizeof *a * T * V), *b = malloc(sizeof *b * T * V), *c = malloc(sizeof *c * T * V);
    qb_llama_opts plain = {.format = "f16", .threads = 2, .n_ctx = T};
    qb_llama_opts folded = {.format = "f16", .threads = 2, .n_ctx = T, .quant = qb_scales_quant, .quant_ctx = &awq, .fold = qb_scales_fold,
                            .fold_ctx = &awq};
    qb_llama_opts unfolded = folded;
    unfolded.fold = NULL;
    logits(m, &plain, tok, T, a);
    logits(m, &folded, tok, T, b);
    logits(m, &unfolded, tok, T, c);
    const double d = max_rel_diff(a, b, (size_t)T * V), dc = max_rel_diff(a, c, (size_t)T * V);
    CHECK(d < 5e-3, "folded scales: logits within f16 rounding of the plain model (max rel %.3g)", d);
    CHECK(dc > 0.1, "without the norm fold the logits move (max rel %.3g)", dc);
    printf("fold: scaled-and-folded f16 model vs plain f16 max rel %.3g; unfolded %.3g\n", d, dc);
    free(a), free(b), free(c);
    qb_scales_free(&awq);
    qb_calib_free(&cal);
    tiny_llama_close(&tl);
}

int main(int argc, char **argv) {
    qb_formats_init();
    random_layers();
    if (argc > 1) folding(argv[1]);
    else printf("no gguf_tool given: folding not tested\n");
    return qbt_finish();
}
