/* test_llama.c — the forward pass (evals/llama.h) on small random-weight models it writes
 * itself (llama with GQA, qwen2 with biases and tied embeddings, llama with Llama-3
 * rope_freqs), checked by properties that hold whatever the arithmetic details:
 *  - fast and reference paths agree within QB_LLAMA_FAST_TOL (QB_LLAMA_FAST_TOL_ROUNDED where
 *    activations are rounded to a vec_dot_type) on every weight format tried (stored f32,
 *    f16, q8_0, q4_0, q4_1, Q4_K_M, nf4, a per-tensor int4), through both fast routes (GEMV
 *    with vec_dot for a few tokens, tiles + sgemm for more), with the fast path's thread team
 *    at 2 and 3 members; one token at a time on the fast path is the decode step (GEMV
 *    against the KV cache), checked against the reference batch likewise;
 *  - KV cache: a sequence evaluated one token at a time gives the logits of one batch (the
 *    reference path bit for bit: its per-token arithmetic does not depend on the batch), and
 *    so does a batch split into n_batch pieces (within the same tolerance);
 *  - causality: the logits of a prefix do not depend on the tokens after it;
 *  - parameter and byte counts equal the tensors' element count and 4 bytes each for f32;
 *  - bad input: unknown architecture, a missing tensor, a wrong shape, an unsupported rope
 *    scaling, a token outside the vocabulary and a full cache fail with QB_EINPUT and a message naming the culprit.
 * Agreement with llama.cpp itself is evals/tests/oracle_forward.py. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/qbtest.h"
#include "datasets/gguf.h"
#include "datasets/source.h"
#include "evals/llama.h"

typedef struct spec {
    const char *arch;
    int layers, heads, kv_heads;
    int64_t dim, ff, vocab;
    int tied, biases, rope_freqs;
    float freq_base;
    const char *omit;       /* a tensor left out, or NULL */
    const char *bad_shape;  /* a tensor written with one row too many, or NULL */
    const char *rope_type;  /* {arch}.rope.scaling.type, or NULL */
} spec;

static char dir[64];

static void fill(qb_rng *r, float *x, int64_t n, double mean, double sd) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)(mean + sd * qb_rng_normal(r));
}

static qb_status write_model(const char *path, const spec *s, uint64_t seed) {
    qb_gguf_writer w;
    qb_status st = qb_gguf_writer_open(&w, path, 0);
    if (st) return st;
    char key[128];
    const char *a = s->arch;
#define SETU(k, v) (snprintf(key, sizeof key, "%s.%s", a, k), st = st ? st : qb_gguf_writer_set_u32(&w, key, (uint32_t)(v)))
#define SETF(k, v) (snprintf(key, sizeof key, "%s.%s", a, k), st = st ? st : qb_gguf_writer_set_f32(&w, key, (v)))
    st = qb_gguf_writer_set_string(&w, "general.architecture", a);
    SETU("block_count", s->layers);
    SETU("context_length", 256);
    SETU("embedding_length", s->dim);
    SETU("feed_forward_length", s->ff);
    SETU("attention.head_count", s->heads);
    SETU("attention.head_count_kv", s->kv_heads);
    SETF("rope.freq_base", s->freq_base);
    SETF("attention.layer_norm_rms_epsilon", 1e-6f);
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    if (!st && s->rope_type) st = qb_gguf_writer_set_string(&w, key, s->rope_type);
#undef SETU
#undef SETF
    int64_t hd = s->dim / s->heads, kv = hd * s->kv_heads;
    struct { char name[64]; int64_t ne0, ne1; double mean, sd; } t[512];
    int nt = 0;
#define T(N0, N1, MEAN, SD, ...) \
    (snprintf(t[nt].name, 64, __VA_ARGS__), t[nt].ne0 = (N0), t[nt].ne1 = (N1), t[nt].mean = (MEAN), t[nt].sd = (SD), nt++)
    T(s->dim, s->vocab, 0, 1, "token_embd.weight");
    T(s->dim, 0, 1, 0.1, "output_norm.weight");
    if (!s->tied) T(s->dim, s->vocab, 0, 1 / sqrt((double)s->dim), "output.weight");
    if (s->rope_freqs) T(hd / 2, 0, 3, 1, "rope_freqs.weight");
    double sw = 1 / sqrt((double)s->dim);
    for (int l = 0; l < s->layers; l++) {
        T(s->dim, 0, 1, 0.1, "blk.%d.attn_norm.weight", l);
        T(s->dim, s->dim, 0, sw, "blk.%d.attn_q.weight", l);
        T(s->dim, kv, 0, sw, "blk.%d.attn_k.weight", l);
        T(s->dim, kv, 0, sw, "blk.%d.attn_v.weight", l);
        if (s->biases) {
            T(s->dim, 0, 0, 0.5, "blk.%d.attn_q.bias", l);
            T(kv, 0, 0, 0.5, "blk.%d.attn_k.bias", l);
            T(kv, 0, 0, 0.5, "blk.%d.attn_v.bias", l);
        }
        T(s->dim, s->dim, 0, sw, "blk.%d.attn_output.weight", l);
        T(s->dim, 0, 1, 0.1, "blk.%d.ffn_norm.weight", l);
        T(s->dim, s->ff, 0, sw, "blk.%d.ffn_gate.weight", l);
        T(s->dim, s->ff, 0, sw, "blk.%d.ffn_up.weight", l);
        T(s->ff, s->dim, 0, 1 / sqrt((double)s->ff), "blk.%d.ffn_down.weight", l);
    }
#undef T
    int keep[512], nk = 0;
    for (int k = 0; k < nt && !st; k++) {
        if (s->omit && strcmp(t[k].name, s->omit) == 0) continue;
        if (s->bad_shape && strcmp(t[k].name, s->bad_shape) == 0) t[k].ne1 += 1;
        int64_t ne[2] = {t[k].ne0, t[k].ne1 ? t[k].ne1 : 1};
        st = qb_gguf_writer_add_tensor(&w, t[k].name, t[k].ne1 ? 2 : 1, ne, 0);
        keep[nk++] = k;
    }
    qb_rng r;
    qb_rng_seed(&r, seed);
    for (int i = 0; i < nk && !st; i++) {
        int64_t n = t[keep[i]].ne0 * (t[keep[i]].ne1 ? t[keep[i]].ne1 : 1);
        float *x = malloc(sizeof(float) * (size_t)n);
        fill(&r, x, n, t[keep[i]].mean, t[keep[i]].sd);
        st = qb_gguf_writer_write_tensor(&w, (uint64_t)i, x, (uint64_t)n * 4);
        free(x);
    }
    if (st) {
        qb_gguf_writer_abort(&w);
        return st;
    }
    return qb_gguf_writer_finish(&w);
}

/* max over positions of max|a − b| / max|b| */
static double rel_diff(const float *a, const float *b, int n, int nv) {
    double worst = 0;
    for (int t = 0; t < n; t++) {
        double d = 0, m = 0;
        for (int v = 0; v < nv; v++) {
            double e = fabs((double)a[t * nv + v] - b[t * nv + v]);
            if (e > d || e != e) d = e;
            if (fabs(b[t * nv + v]) > m) m = fabs(b[t * nv + v]);
        }
        if (!(d / m <= worst)) worst = d / m;
    }
    return worst;
}

/* Logits of tokens[0..n) from position 0, evaluated in pieces of `step` tokens. */
static qb_status run(qb_llama *l, const int32_t *tokens, int n, int step, float **out) {
    size_t nv = (size_t)qb_llama_n_vocab(l);
    qb_status st = QB_OK;
    *out = malloc(sizeof(float) * (size_t)n * nv);
    qb_llama_reset(l);
    for (int t = 0; t < n && !st; t += step) st = qb_llama_eval(l, tokens + t, n - t < step ? n - t : step, *out + (size_t)t * nv);
    return st;
}

static void check_model(const char *name, const spec *s, const char *const *formats, int nf) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s.gguf", dir, name);
    CHECK(write_model(path, s, 7) == QB_OK, "%s: %s", path, qb_errmsg());
    qb_model m;
    if (qb_model_open(&m, path) != QB_OK) {
        CHECK(0, "%s: %s", path, qb_errmsg());
        return;
    }
    enum { N = 13 };
    int32_t tok[N];
    for (int i = 0; i < N; i++) tok[i] = (int32_t)((i * 37 + 5) % s->vocab);
    for (int k = 0; k < nf; k++) {
        const char *f = formats[k];
        float *ref = NULL, *ref1 = NULL;
        qb_llama *lr = NULL;
        qb_llama_opts o = {.format = f, .threads = 1, .ref = 1, .n_ctx = 64};
        qb_status st = qb_llama_load(&m, &o, &lr);
        int nv = lr ? qb_llama_n_vocab(lr) : 0;
        /* the reference one token at a time re-decodes every weight per token: two formats do */
        int ref_steps = k == 0 || (f && strcmp(f, "Q4_K_M") == 0);
        if (!st) st = run(lr, tok, N, N, &ref);
        if (!st && ref_steps) st = run(lr, tok, N, 1, &ref1);
        float *last = malloc(sizeof(float) * (size_t)(nv ? nv : 1));
        if (!st) { /* the head for the last position only: the same arithmetic as its row of the batch */
            qb_llama_reset(lr);
            st = qb_llama_eval_last(lr, tok, N, last);
            CHECK(st || rel_diff(last, ref + (size_t)(N - 1) * nv, 1, nv) == 0, "%s %s: eval_last differs from the batch's last row", name,
                  f ? f : "-");
        }
        qb_llama_free(lr);
        CHECK(st == QB_OK, "%s %s: %s", name, f ? f : "as stored", qb_errmsg());
        /* a file type (Q4_K_M) or a format with a vec_dot_type other than f32 rounds activations */
        const qb_format *ff = f ? qb_format_find(f) : NULL;
        int rounded = f && (!ff || (ff->vec_dot_type && strcmp(ff->vec_dot_type, "f32") != 0));
        double tol = rounded ? QB_LLAMA_FAST_TOL_ROUNDED : QB_LLAMA_FAST_TOL;
        if (!st) {
            double d_ref1 = ref1 ? rel_diff(ref1, ref, N, nv) : 0;
            CHECK(d_ref1 == 0, "%s %s: reference one by one differs from its batch by %.3g", name, f ? f : "-", d_ref1);
        }
        /* the fast path's thread team at 2 and 3 members (3: shares of unequal size); one by one
         * is the decode step, GEMV against the KV cache */
        for (int th = 2; th <= 3 && !st; th++) {
            float *fast = NULL, *fast1 = NULL, *split = NULL, *prefix = NULL;
            qb_llama *lf = NULL;
            o.ref = 0, o.threads = th;
            st = qb_llama_load(&m, &o, &lf);
            if (!st) st = run(lf, tok, N, N, &fast);
            if (!st) st = run(lf, tok, N, 1, &fast1);
            if (!st) st = run(lf, tok, N, 5, &split); /* 5 + 5 (sgemm) + 3 (GEMV) */
            if (!st) st = run(lf, tok, 8, 8, &prefix);
            if (!st) qb_llama_reset(lf), st = qb_llama_eval_last(lf, tok, N, last);
            qb_llama_free(lf);
            CHECK(st == QB_OK, "%s %s threads %d: %s", name, f ? f : "as stored", th, qb_errmsg());
            if (!st) {
                double d_fast = rel_diff(fast, ref, N, nv), d_fast1 = rel_diff(fast1, ref, N, nv);
                double d_split = rel_diff(split, fast, N, nv), d_prefix = rel_diff(prefix, fast, 8, nv);
                printf("%-8s %-12s t%d fast(batch) %.2e  fast(1 by 1, GEMV) %.2e  ref(1 by 1) %.1e  batch of 5 %.2e  prefix %.2e  (tol %.0e)\n",
                       name, f ? f : "as stored", th, d_fast, d_fast1, ref1 ? rel_diff(ref1, ref, N, nv) : 0.0, d_split, d_prefix, tol);
                CHECK(d_fast <= tol, "%s %s t%d: fast batch vs reference %.3g", name, f ? f : "-", th, d_fast);
                CHECK(d_fast1 <= tol, "%s %s t%d: fast one by one vs reference %.3g", name, f ? f : "-", th, d_fast1);
                CHECK(d_split <= tol, "%s %s t%d: batches of 5 vs one batch %.3g", name, f ? f : "-", th, d_split);
                CHECK(d_prefix <= tol, "%s %s t%d: a prefix's logits depend on later tokens (%.3g)", name, f ? f : "-", th, d_prefix);
                double d_last = rel_diff(last, fast + (size_t)(N - 1) * nv, 1, nv);
                CHECK(d_last <= tol, "%s %s t%d: eval_last vs the batch's last row %.3g", name, f ? f : "-", th, d_last);
                for (int i = 0; i < N * nv; i++)
                    if (!isfinite(fast[i]) || !isfinite(fast1[i])) {
                        CHECK(0, "%s %s t%d: logit %d is %g / %g", name, f ? f : "-", th, i, fast[i], fast1[i]);
                        break;
                    }
            }
            free(fast), free(fast1), free(split), free(prefix);
        }
        free(ref), free(ref1), free(last);
    }
    /* counts: stored f32 weights are 4 bytes per parameter */
    qb_llama_opts o = {.threads = 1, .n_ctx = 8};
    qb_llama *l;
    if (qb_llama_load(&m, &o, &l) == QB_OK) {
        uint64_t params = 0;
        for (int i = 0; i < m.n; i++) params += (uint64_t)(m.t[i].ne[0] * qb_model_rows(&m.t[i]));
        CHECK(qb_llama_n_params(l) == params, "%s: %llu parameters, the tensors hold %llu", name, (unsigned long long)qb_llama_n_params(l),
              (unsigned long long)params);
        CHECK(qb_llama_weight_bytes(l) == 4 * params && qb_llama_bpw(l) == 32.0, "%s: %llu bytes, %g bpw", name,
              (unsigned long long)qb_llama_weight_bytes(l), qb_llama_bpw(l));
        CHECK(qb_llama_n_vocab(l) == s->vocab && qb_llama_n_ctx_train(l) == 256, "%s: vocab %d ctx %d", name, qb_llama_n_vocab(l),
              qb_llama_n_ctx_train(l));
        qb_llama_free(l);
    }
    qb_model_close(&m);
    unlink(path);
}

/* A model that must fail to load (or, with n_tok > 0, to evaluate n_tok tokens ending in tok) with QB_EINPUT and a message
 * containing `want`. */
static void check_error(const char *name, const spec *s, int32_t tok, int n_tok, const char *want) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s.gguf", dir, name);
    CHECK(write_model(path, s, 3) == QB_OK, "%s: %s", path, qb_errmsg());
    qb_model m;
    if (qb_model_open(&m, path) != QB_OK) {
        CHECK(0, "%s: %s", path, qb_errmsg());
        return;
    }
    qb_llama_opts o = {.threads = 1, .n_ctx = 4};
    qb_llama *l = NULL;
    qb_status st = qb_llama_load(&m, &o, &l);
    if (!st && n_tok > 0) {
        int32_t toks[8] = {0, 1, 2, 3, 4, 5, 6, 7};
        toks[n_tok - 1] = tok;
        float *logits = malloc(sizeof(float) * 8 * (size_t)qb_llama_n_vocab(l));
        st = qb_llama_eval(l, toks, n_tok, logits);
        free(logits);
    }
    CHECK(st == QB_EINPUT && strstr(qb_errmsg(), want), "%s: status %d, message '%s', expected QB_EINPUT with '%s'", name, st, qb_errmsg(),
          want);
    printf("%-12s -> %s\n", name, qb_errmsg());
    qb_llama_free(l);
    qb_model_close(&m);
    unlink(path);
}

int main(void) {
    qb_formats_init();
    snprintf(dir, sizeof dir, "/tmp/qb_test_llama_XXXXXX");
    if (!mkdtemp(dir)) qbt_skip("cannot create a temporary directory");

    static const char *const all[] = {NULL, "f16", "q8_0", "q4_0", "q4_1", "Q4_K_M", "nf4", "int4_sym_pt"};
    /* vocab 5000: the output matrix (1.28 M values) spans two sgemm tiles per thread */
    spec llama = {.arch = "llama", .layers = 2, .heads = 8, .kv_heads = 2, .dim = 256, .ff = 512, .vocab = 5000, .freq_base = 10000};
    check_model("llama", &llama, all, 8);
    static const char *const some[] = {NULL, "q8_0", "Q4_K_M"};
    spec qwen2 = {.arch = "qwen2", .layers = 2, .heads = 8, .kv_heads = 4, .dim = 256, .ff = 512, .vocab = 300, .tied = 1, .biases = 1,
                  .freq_base = 1e6f};
    check_model("qwen2", &qwen2, some, 3);
    spec llama3 = llama;
    llama3.rope_freqs = 1, llama3.freq_base = 500000;
    check_model("llama3", &llama3, some, 2);

    spec bad = llama;
    bad.arch = "gpt2";
    check_error("unknown_arch", &bad, -1, 0, "'gpt2' is not supported");
    bad = llama, bad.omit = "blk.1.ffn_up.weight";
    check_error("missing", &bad, -1, 0, "'blk.1.ffn_up.weight' is missing");
    bad = llama, bad.bad_shape = "blk.0.attn_k.weight";
    check_error("bad_shape", &bad, -1, 0, "'blk.0.attn_k.weight' is 256x65, expected 256x64");
    bad = llama, bad.rope_type = "yarn";
    check_error("yarn", &bad, -1, 0, "llama.rope.scaling.type is 'yarn': only none and linear rope scaling are supported");
    check_error("token_range", &llama, 5000, 3, "token 5000 at position 2 is outside the vocabulary (0 to 4999)");
    check_error("token_neg", &llama, -1 - 0x7ffffff0, 1, "outside the vocabulary");
    check_error("full_cache", &llama, 1, 5, "would exceed the context of 4 tokens");
    rmdir(dir);
    return qbt_finish();
}
