/* llama_tool.c — test and benchmark driver of the forward pass (evals/llama.h).
 *
 *   llama_tool logits MODEL FORMAT OUT.f32 [--ref] [--threads N] [--batch N] ID...
 *       evaluates the token ids as one sequence from position 0 and writes the n × n_vocab
 *       logits as raw little-endian float32 to OUT.f32 ("-": stdout). FORMAT "-" keeps the
 *       weights as stored; else a registry format or a llama.cpp file type (Q4_K_M).
 *       Used by evals/tests/oracle_forward.py against llama.cpp.
 *   llama_tool bench MODEL FORMAT [--threads N] [--tokens N] [--reps N]
 *       prompt processing: the median time of evaluating N tokens (default 512) as one batch
 *       on the fast path, as tokens/s; then the same matrix products done by OpenBLAS sgemm
 *       alone on f32 matrices of the model's shapes (the ceiling of a dequantize-then-sgemm
 *       path), with GFLOP/s of both and their ratio. FLOPs counted: 2·n·rows·cols per weight
 *       matrix, attention and element-wise work not counted (they are overhead to us). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "../../common/qb.h"
#include "../llama.h"

extern void openblas_set_num_threads(int num_threads);

static int usage(void) {
    fprintf(stderr, "usage: llama_tool logits MODEL FORMAT OUT.f32 [--ref] [--threads N] [--batch N] ID...\n"
                    "       llama_tool bench MODEL FORMAT [--threads N] [--tokens N] [--reps N]\n"
                    "FORMAT: '-' (weights as stored), a registry format (q8_0) or a llama.cpp file type (Q4_K_M)\n");
    return QB_EUSAGE;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static qb_status cmd_logits(const qb_model *m, qb_llama_opts *o, const char *out, int32_t *ids, int n) {
    o->n_ctx = n;
    qb_llama *l;
    qb_status st = qb_llama_load(m, o, &l);
    if (st) return st;
    size_t nv = (size_t)qb_llama_n_vocab(l);
    float *logits = qb_malloc(sizeof(float) * nv * (size_t)n);
    st = qb_llama_eval(l, ids, n, logits);
    FILE *f = NULL;
    if (!st && !(f = strcmp(out, "-") == 0 ? stdout : fopen(out, "wb"))) st = qb_fail(QB_ERUNTIME, "%s: cannot open for writing", out);
    if (!st && fwrite(logits, sizeof(float), nv * (size_t)n, f) != nv * (size_t)n) st = qb_fail(QB_ERUNTIME, "%s: short write", out);
    if (f && f != stdout && fclose(f) != 0 && !st) st = qb_fail(QB_ERUNTIME, "%s: write failed", out);
    fprintf(stderr, "llama_tool: %d tokens, %zu logits each, %.4f bits per weight, %" PRIu64 " parameters\n", n, nv, qb_llama_bpw(l),
            qb_llama_n_params(l));
    free(logits);
    qb_llama_free(l);
    return st;
}

/* Matrix shapes (rows × cols) of the model's products per token, from its tensors. */
static int matrix_shapes(const qb_model *m, int64_t (*shape)[2], int cap) {
    int n = 0, tied = 1;
    for (int i = 0; i < m->n; i++) tied &= strcmp(m->t[i].name, "output.weight") != 0;
    for (int i = 0; i < m->n && n < cap; i++) {
        const qb_model_tensor *t = &m->t[i];
        int is_out = strcmp(t->name, "output.weight") == 0 || (tied && strcmp(t->name, "token_embd.weight") == 0);
        if (t->n_dims == 2 && (is_out || strncmp(t->name, "blk.", 4) == 0)) shape[n][0] = t->ne[1], shape[n][1] = t->ne[0], n++;
    }
    return n;
}

static qb_status cmd_bench(const qb_model *m, qb_llama_opts *o, int n_tok, int reps) {
    o->n_ctx = n_tok, o->n_batch = n_tok;
    qb_llama *l;
    int64_t t0 = qb_now_ns();
    qb_status st = qb_llama_load(m, o, &l);
    if (st) return st;
    double load_s = (double)(qb_now_ns() - t0) * 1e-9;
    size_t nv = (size_t)qb_llama_n_vocab(l);
    int32_t *ids = qb_malloc(sizeof(int32_t) * (size_t)n_tok);
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < n_tok; i++) rng = rng * 6364136223846793005ull + 1442695040888963407ull, ids[i] = (int32_t)((rng >> 33) % nv);
    float *logits = qb_malloc(sizeof(float) * nv * (size_t)n_tok);
    int64_t *ns = qb_malloc(sizeof(int64_t) * (size_t)(reps + 1));
    for (int r = 0; r <= reps && !st; r++) { /* the first run warms caches and pages, not counted */
        qb_llama_reset(l);
        int64_t a = qb_now_ns();
        st = qb_llama_eval(l, ids, n_tok, logits);
        ns[r] = qb_now_ns() - a;
    }
    int64_t shapes[4096][2];
    int nsh = matrix_shapes(m, shapes, 4096);
    double flops = 0;
    int64_t max_rc = 1, max_r = 1, max_c = 1;
    for (int i = 0; i < nsh; i++) {
        flops += 2.0 * n_tok * (double)shapes[i][0] * (double)shapes[i][1];
        if (shapes[i][0] * shapes[i][1] > max_rc) max_rc = shapes[i][0] * shapes[i][1];
        if (shapes[i][0] > max_r) max_r = shapes[i][0];
        if (shapes[i][1] > max_c) max_c = shapes[i][1];
    }
    if (!st) {
        qsort(ns + 1, (size_t)reps, sizeof *ns, cmp_i64);
        double fwd_s = (double)ns[1 + reps / 2] * 1e-9;
        /* the same products by sgemm alone, on f32 operands of the same shapes */
        float *w = qb_malloc(sizeof(float) * (size_t)max_rc), *x = qb_malloc(sizeof(float) * (size_t)(n_tok * max_c));
        float *y = qb_malloc(sizeof(float) * (size_t)n_tok * (size_t)max_r);
        for (int64_t i = 0; i < max_rc; i++) w[i] = (float)((i * 7919) % 1000) * 1e-5f - 5e-3f;
        for (int64_t i = 0; i < n_tok * max_c; i++) x[i] = (float)((i * 104729) % 1000) * 1e-3f - 0.5f;
        openblas_set_num_threads(o->threads);
        for (int r = 0; r <= reps; r++) {
            int64_t a = qb_now_ns();
            for (int i = 0; i < nsh; i++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_tok, (int)shapes[i][0], (int)shapes[i][1], 1.0f, x, (int)shapes[i][1], w,
                            (int)shapes[i][1], 0.0f, y, (int)shapes[i][0]);
            ns[r] = qb_now_ns() - a;
        }
        qsort(ns + 1, (size_t)reps, sizeof *ns, cmp_i64);
        double gemm_s = (double)ns[1 + reps / 2] * 1e-9;
        printf("model %s  format %s  threads %d  tokens %d  params %" PRIu64 "  bits/weight %.4f  load %.2f s\n", m->path,
               o->format && *o->format ? o->format : "as stored", o->threads, n_tok, qb_llama_n_params(l), qb_llama_bpw(l), load_s);
        printf("forward  %8.3f s  %9.1f tokens/s  %7.2f GFLOP/s (matrix products)\n", fwd_s, n_tok / fwd_s, flops / fwd_s * 1e-9);
        printf("sgemm    %8.3f s  %9.1f tokens/s  %7.2f GFLOP/s (same shapes, f32, OpenBLAS alone)\n", gemm_s, n_tok / gemm_s,
               flops / gemm_s * 1e-9);
        printf("fraction of sgemm: %.3f   (median of %d runs each)\n", gemm_s / fwd_s, reps);
        free(w), free(x), free(y);
    }
    free(ns), free(ids), free(logits);
    qb_llama_free(l);
    return st;
}

int main(int argc, char **argv) {
    if (argc < 4) return usage();
    const char *cmd = argv[1], *path = argv[2], *format = argv[3];
    int logits = strcmp(cmd, "logits") == 0;
    if (!logits && strcmp(cmd, "bench") != 0) return usage();
    if (logits && argc < 5) return usage();
    qb_llama_opts o = {.format = strcmp(format, "-") == 0 ? NULL : format, .threads = 1};
    int n_tok = 512, reps = 5, a = logits ? 5 : 4, n = 0;
    int32_t *ids = qb_malloc(sizeof(int32_t) * (size_t)argc);
    for (; a < argc; a++) {
        const char *s = argv[a];
        if (strcmp(s, "--ref") == 0) o.ref = 1;
        else if (a + 1 < argc && strcmp(s, "--threads") == 0) o.threads = atoi(argv[++a]);
        else if (a + 1 < argc && strcmp(s, "--batch") == 0) o.n_batch = atoi(argv[++a]);
        else if (a + 1 < argc && strcmp(s, "--tokens") == 0) n_tok = atoi(argv[++a]);
        else if (a + 1 < argc && strcmp(s, "--reps") == 0) reps = atoi(argv[++a]);
        else if (logits && s[0] != '-') ids[n++] = (int32_t)strtol(s, NULL, 10);
        else {
            free(ids);
            return usage();
        }
    }
    if (o.threads < 1 || n_tok < 1 || reps < 1 || (logits && n < 1)) {
        free(ids);
        return usage();
    }
    qb_model m;
    qb_status st = qb_model_open(&m, path);
    if (!st) {
        st = logits ? cmd_logits(&m, &o, argv[4], ids, n) : cmd_bench(&m, &o, n_tok, reps);
        qb_model_close(&m);
    }
    free(ids);
    if (st) fprintf(stderr, "llama_tool: error: %s\n", qb_errmsg());
    return (int)st;
}
