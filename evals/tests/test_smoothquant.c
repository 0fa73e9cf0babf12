/* test_smoothquant.c — SmoothQuant (evals/smoothquant.h) and activation quantization in the
 * forward pass (evals/llama.h act_format):
 *  - the scale formula against hand values, and its defining identity: at α = 0.5, every
 *    channel's activation absmax after X/s equals its weight absmax after W·s, both
 *    sqrt(max|X_j|·max|W_j|) (within float rounding); α = 0 leaves the activations alone
 *    in ratio (s_j = 1/max|W_j|), α = 1 makes every activation channel's absmax 1;
 *  - on a random llama model written by gguf_tool (argv[1]): an act_format that is exact for
 *    the activations (f32) gives bit-identical logits to none; per-token int8 activations
 *    (int8_sym_row) change the logits, agree between the fast and reference paths within
 *    QB_LLAMA_FAST_TOL_ROUNDED, and (per-token scales) give the same reference logits
 *    whether the tokens come one at a time or as one batch; an unknown or ill-fitting act
 *    format is refused with QB_EUSAGE;
 *  - the SmoothQuant plan folded into the model (f16 weights, no activation quantization)
 *    keeps its logits within f16 rounding. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/qbtest.h"
#include "datasets/source.h"
#include "evals/smoothquant.h"
#include "evals/tests/tiny_llama.h"

static void formula(void) {
    enum { R = 3, C = 4 };
    const float w0[R * C] = {1, -2, 0.5f, 0, 3, 1, -0.25f, 0, -1, 0.5f, 0.5f, 0};
    const float w1[2 * C] = {0.5f, 4, 0.1f, 0, -2, 1, 1, 0};
    const float *w[2] = {w0, w1};
    const int64_t rows[2] = {R, 2};
    const double xmax[C] = {4, 1, 9, 2};
    const double wmax[C] = {3, 4, 1, 0}; /* column absmax over both linears; column 3 all zero → 1e-5 */
    float s[C];
    for (int ai = 0; ai <= 2; ai++) {
        const double alpha = ai * 0.5;
        qb_smoothquant_scale(xmax, w, rows, 2, C, alpha, s);
        for (int j = 0; j < C; j++) {
            double want = fmax(pow(xmax[j], alpha) / pow(fmax(wmax[j], 1e-5), 1 - alpha), 1e-5);
            CHECK(fabs(s[j] - want) <= 1e-6 * want, "α %.1f channel %d: s %.9g, by hand %.9g", alpha, j, (double)s[j], want);
        }
        if (ai == 1)
            for (int j = 0; j < 3; j++) {
                double xa = xmax[j] / s[j], wa = wmax[j] * s[j], g = sqrt(xmax[j] * wmax[j]);
                CHECK(fabs(xa - g) <= 1e-6 * g && fabs(wa - g) <= 1e-6 * g, "α 0.5 channel %d: max|X'| %g = max|W'| %g = %g", j, xa, wa, g);
            }
        if (ai == 2)
            for (int j = 0; j < C; j++) CHECK(fabs(xmax[j] / s[j] - 1) <= 1e-6, "α 1 channel %d: max|X'| = 1", j);
    }
}

enum { T = 40, V = TINY_LLAMA_VOCAB };

static int run(const qb_model *m, const qb_llama_opts *o, const int32_t *tok, int per_call, float *out) {
    qb_llama *l = NULL;
    qb_status st = qb_llama_load(m, o, &l);
    if (st) return st;
    for (int t = 0; t < T && !st; t += per_call) st = qb_llama_eval(l, tok + t, per_call, out + (size_t)t * V);
    qb_llama_free(l);
    return st;
}

static void forward(const char *gguf_tool) {
    tiny_llama tl;
    if (!tiny_llama_open(&tl, gguf_tool)) return;
    qb_model *m = &tl.m;
    int32_t tok[T];
    for (int i = 0; i < T; i++) tok[i] = (i * 53 + 7) % V;
    float *plain = malloc(sizeof(float) * T * V), *a = malloc(sizeof(float) * T * V), *b = malloc(sizeof(float) * T * V);
    qb_llama_opts o = {.threads = 2, .n_ctx = T, .ref = 1};
    CHECK(run(m, &o, tok, T, plain) == QB_OK, "plain: %s", qb_errmsg());
    o.act_format = "f32";
    CHECK(run(m, &o, tok, T, a) == QB_OK && memcmp(a, plain, sizeof(float) * T * V) == 0, "act f32: identical logits");
    o.act_format = "int8_sym_row";
    CHECK(run(m, &o, tok, T, a) == QB_OK, "act int8 ref: %s", qb_errmsg());
    const double d8 = max_rel_diff(plain, a, (size_t)T * V);
    CHECK(d8 > 1e-5 && d8 < 0.2, "per-token int8 activations move the logits a little (max rel %.3g)", d8);
    CHECK(run(m, &o, tok, 1, b) == QB_OK && memcmp(a, b, sizeof(float) * T * V) == 0, "per-token: one at a time = one batch (reference, bit for bit)");
    o.ref = 0;
    CHECK(run(m, &o, tok, T, b) == QB_OK, "act int8 fast: %s", qb_errmsg());
    const double df = max_rel_diff(a, b, (size_t)T * V);
    CHECK(df <= QB_LLAMA_FAST_TOL_ROUNDED, "act int8: fast vs reference max rel %.3g", df);
    printf("act int8_sym_row: vs plain %.3g, fast vs ref %.3g\n", d8, df);
    o.act_format = "nope";
    CHECK(run(m, &o, tok, T, b) == QB_EUSAGE && strstr(qb_errmsg(), "nope"), "unknown act format: %s", qb_errmsg());
    o.act_format = "q4_K"; /* blocks of 256 do not divide rows of 64 */
    CHECK(run(m, &o, tok, T, b) == QB_EUSAGE && strstr(qb_errmsg(), "does not fit"), "ill-fitting act format: %s", qb_errmsg());

    /* the SmoothQuant plan folded: the same model in real arithmetic */
    qb_calib cal;
    qb_calib_init(&cal, 0, 0);
    qb_llama *l = NULL;
    qb_llama_opts co = {.threads = 2, .n_ctx = T};
    CHECK(qb_llama_load(m, &co, &l) == QB_OK && qb_calib_run(&cal, l, tok, T, T, 0, -1) == QB_OK, "calibration: %s", qb_errmsg());
    qb_llama_free(l);
    qb_scales plan;
    CHECK(qb_smoothquant_search(m, &cal, 0.5, &plan) == QB_OK, "search: %s", qb_errmsg());
    CHECK(plan.n == 2 * 7, "per layer: q, k, v, gate, up and two norms (got %d entries)", plan.n);
    qb_llama_opts f16 = {.format = "f16", .threads = 2, .n_ctx = T};
    CHECK(run(m, &f16, tok, T, a) == QB_OK, "f16");
    f16.quant = qb_scales_quant, f16.quant_ctx = &plan, f16.fold = qb_scales_fold, f16.fold_ctx = &plan;
    CHECK(run(m, &f16, tok, T, b) == QB_OK, "f16 smoothed");
    const double ds = max_rel_diff(a, b, (size_t)T * V);
    CHECK(ds < 5e-3, "smoothed f16 model: logits within f16 rounding (max rel %.3g)", ds);
    printf("smoothquant fold: f16 vs smoothed f16 max rel %.3g\n", ds);
    qb_scales_free(&plan);
    qb_calib_free(&cal);
    free(plain), free(a), free(b);
    tiny_llama_close(&tl);
}

int main(int argc, char **argv) {
    qb_formats_init();
    formula();
    if (argc > 1) forward(argv[1]);
    else printf("no gguf_tool given: forward pass not tested\n");
    return qbt_finish();
}
