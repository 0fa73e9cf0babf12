/* train.c — the trainer of train.h.
 *
 * One step, for N = B·T token rows (layer l, weights as GGUF names; shapes [rows][cols]):
 *
 *   x = token_embd[tok]                                                   x     [N][dim]
 *   per layer:  h1 = rmsnorm(x)·attn_norm;  q, k, v = h1·Wqᵀ, h1·Wkᵀ, h1·Wvᵀ   q [N][dim], k, v [N][kv]
 *               RoPE(q, k) at positions 0..T−1 of each sequence
 *               ao = attention(q, k, v) per sequence (p: softmax rows)          p [B][head][T][T]
 *               xm = x + ao·Woᵀ
 *               h2 = rmsnorm(xm)·ffn_norm;  g, u = h2·Wgateᵀ, h2·Wupᵀ;  a = silu(g)·u   g, u, a [N][ff]
 *               x = xm + a·Wdownᵀ
 *   logits = (rmsnorm(x)·output_norm)·Woutᵀ; loss = mean cross-entropy     logits [N][vocab]
 *
 * The backward pass walks the same steps in reverse with train_ops.c, keeping every activation
 * above per layer (about N·(6·dim + 2·kv + 3·ff)·4 bytes per layer plus p: 18 MB per layer at
 * dim 256, ff 768, N 1024). Attention runs per sequence, sequences split over the threads;
 * sgemm runs on OpenBLAS's threads (set to opts.threads for the run). */
#define _GNU_SOURCE
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/parallel.h"
#include "../datasets/corpus.h"
#include "../datasets/gguf.h"
#include "../datasets/model.h"
#include "../datasets/tokenizer.h"
#include "../formats/mixes.h"

extern void openblas_set_num_threads(int num_threads);
extern int openblas_get_num_threads(void);

/* ---- model layout ---------------------------------------------------------------------------- */

static void add_tensor(qb_train_model *m, const char *name, int64_t rows, int64_t cols, int matrix) {
    qb_train_tensor *t = &m->t[m->n_t++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->rows = rows, t->cols = cols, t->off = m->n_params, t->matrix = matrix;
    m->n_params += rows * cols;
}

qb_status qb_train_model_init(qb_train_model *m, const qb_train_shape *s) {
    memset(m, 0, sizeof *m);
    if (s->n_vocab < 4 || s->dim < 2 || s->n_layer < 1 || s->n_head < 1 || s->n_head_kv < 1 || s->n_ff < 1 || s->n_ctx < 2)
        return qb_fail(QB_EUSAGE, "model shape: every size must be positive (vocab ≥ 4, ctx ≥ 2)");
    if (s->dim % s->n_head || (s->dim / s->n_head) % 2)
        return qb_fail(QB_EUSAGE, "model shape: dim %d must be n_head %d times an even head size", s->dim, s->n_head);
    if (s->n_head % s->n_head_kv)
        return qb_fail(QB_EUSAGE, "model shape: n_head %d must be a multiple of n_head_kv %d", s->n_head, s->n_head_kv);
    m->s = *s;
    const int64_t d = s->dim, kv = (int64_t)s->dim / s->n_head * s->n_head_kv, ff = s->n_ff;
    m->t = qb_calloc((size_t)(3 + 9 * s->n_layer), sizeof *m->t);
    add_tensor(m, "token_embd.weight", s->n_vocab, d, 1);
    char n[64];
    for (int l = 0; l < s->n_layer; l++) {
#define ADD(suffix, r, c, mat) (snprintf(n, sizeof n, "blk.%d.%s", l, suffix), add_tensor(m, n, r, c, mat))
        ADD("attn_norm.weight", d, 1, 0);
        ADD("attn_q.weight", d, d, 1);
        ADD("attn_k.weight", kv, d, 1);
        ADD("attn_v.weight", kv, d, 1);
        ADD("attn_output.weight", d, d, 1);
        ADD("ffn_norm.weight", d, 1, 0);
        ADD("ffn_gate.weight", ff, d, 1);
        ADD("ffn_up.weight", ff, d, 1);
        ADD("ffn_down.weight", d, ff, 1);
#undef ADD
    }
    add_tensor(m, "output_norm.weight", d, 1, 0);
    add_tensor(m, "output.weight", s->n_vocab, d, 1);
    m->w = qb_calloc((size_t)m->n_params, sizeof *m->w);
    return QB_OK;
}

void qb_train_model_free(qb_train_model *m) {
    free(m->t);
    free(m->w);
    memset(m, 0, sizeof *m);
}

int qb_train_find(const qb_train_model *m, const char *name) {
    for (int i = 0; i < m->n_t; i++)
        if (strcmp(m->t[i].name, name) == 0) return i;
    return -1;
}

/* splitmix64: the one generator of the trainer (init, batches), seeded explicitly */
static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_normal(uint64_t *s) {
    const double u1 = ((double)(rng_next(s) >> 11) + 0.5) / 9007199254740992.0, u2 = (double)(rng_next(s) >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void qb_train_model_randomize(qb_train_model *m, uint64_t seed) {
    uint64_t r = seed ^ 0x5eed5eed5eed5eedull;
    const double resid = 0.02 / sqrt(2.0 * m->s.n_layer);
    for (int i = 0; i < m->n_t; i++) {
        const qb_train_tensor *t = &m->t[i];
        float *w = m->w + t->off;
        const int64_t n = t->rows * t->cols;
        const double sd = strstr(t->name, "attn_output") || strstr(t->name, "ffn_down") ? resid : 0.02;
        for (int64_t j = 0; j < n; j++) w[j] = t->matrix ? (float)(rng_normal(&r) * sd) : 1.0f;
    }
}

/* ---- forward and backward ---------------------------------------------------------------------- */

typedef struct layer_act {
    float *x, *h1, *q, *k, *v, *p, *ao, *xm, *h2, *g, *u, *a;
} layer_act;

struct qb_train_ws {
    int B, T, n_layer;        /* capacity: B sequences of n_ctx tokens */
    int threads;
    layer_act *L;             /* [n_layer] */
    float *xf, *hf, *logits;  /* final residual, normed, logits (then their gradient) */
    float *dx, *dh, *tmp, *dq, *dk, *dv, *dao, *dg, *du, *da;
    float *cs;                /* RoPE cos/sin of positions 0..n_ctx−1: [n_ctx][n_rot] */
    int32_t *in, *tgt;        /* [N] */
    qb_rope rope;
};

qb_train_ws *qb_train_ws_new(const qb_train_model *m, int batch, int threads) {
    const qb_train_shape *s = &m->s;
    const size_t N = (size_t)batch * (size_t)s->n_ctx, d = (size_t)s->dim, hd = d / (size_t)s->n_head,
                 kv = hd * (size_t)s->n_head_kv, ff = (size_t)s->n_ff;
    qb_train_ws *ws = qb_calloc(1, sizeof *ws);
    ws->B = batch, ws->T = s->n_ctx, ws->n_layer = s->n_layer, ws->threads = threads < 1 ? 1 : threads;
    ws->L = qb_calloc((size_t)s->n_layer, sizeof *ws->L);
    for (int l = 0; l < s->n_layer; l++) {
        layer_act *a = &ws->L[l];
        a->x = qb_malloc(N * d * 4), a->h1 = qb_malloc(N * d * 4), a->q = qb_malloc(N * d * 4);
        a->k = qb_malloc(N * kv * 4), a->v = qb_malloc(N * kv * 4);
        a->p = qb_malloc((size_t)batch * (size_t)s->n_head * (size_t)s->n_ctx * (size_t)s->n_ctx * 4);
        a->ao = qb_malloc(N * d * 4), a->xm = qb_malloc(N * d * 4), a->h2 = qb_malloc(N * d * 4);
        a->g = qb_malloc(N * ff * 4), a->u = qb_malloc(N * ff * 4), a->a = qb_malloc(N * ff * 4);
    }
    ws->xf = qb_malloc(N * d * 4), ws->hf = qb_malloc(N * d * 4), ws->logits = qb_malloc(N * (size_t)s->n_vocab * 4);
    ws->dx = qb_malloc(N * d * 4), ws->dh = qb_malloc(N * d * 4), ws->tmp = qb_malloc(N * d * 4);
    ws->dq = qb_malloc(N * d * 4), ws->dk = qb_malloc(N * kv * 4), ws->dv = qb_malloc(N * kv * 4);
    ws->dao = qb_malloc(N * d * 4), ws->dg = qb_malloc(N * ff * 4), ws->du = qb_malloc(N * ff * 4);
    ws->da = qb_malloc(N * ff * 4);
    ws->in = qb_malloc(N * 4), ws->tgt = qb_malloc(N * 4);
    ws->rope = (qb_rope){.n_rot = (int)hd, .neox = 0, .theta_scale = powf(s->rope_base, -2.0f / (float)hd), .freq_scale = 1.0f};
    ws->cs = qb_malloc((size_t)s->n_ctx * hd * 4);
    for (int t = 0; t < s->n_ctx; t++) qb_llama_rope_cache(&ws->rope, t, ws->cs + (size_t)t * hd);
    return ws;
}

void qb_train_ws_free(qb_train_ws *ws) {
    if (!ws) return;
    for (int l = 0; l < ws->n_layer; l++) {
        layer_act *a = &ws->L[l];
        free(a->x), free(a->h1), free(a->q), free(a->k), free(a->v), free(a->p);
        free(a->ao), free(a->xm), free(a->h2), free(a->g), free(a->u), free(a->a);
    }
    free(ws->L);
    free(ws->xf), free(ws->hf), free(ws->logits), free(ws->dx), free(ws->dh), free(ws->tmp);
    free(ws->dq), free(ws->dk), free(ws->dv), free(ws->dao), free(ws->dg), free(ws->du), free(ws->da);
    free(ws->in), free(ws->tgt), free(ws->cs);
    free(ws);
}

/* Tensor indices in the layout of qb_train_model_init. */
#define T_EMBD 0
#define T_LAYER(l, k) (1 + 9 * (l) + (k)) /* k: 0 attn_norm, 1 q, 2 k, 3 v, 4 o, 5 ffn_norm, 6 gate, 7 up, 8 down */
#define T_ONORM(m) (1 + 9 * (m)->s.n_layer)
#define T_OUT(m) (2 + 9 * (m)->s.n_layer)

typedef struct attn_ctx {
    const qb_train_model *m;
    qb_train_ws *ws;
    const layer_act *a;
    int T, bwd;
} attn_ctx;

/* Attention of sequences [b0, b1), forward or backward (a thread's share). */
static void attn_range(void *ctx, int64_t b0, int64_t b1) {
    const attn_ctx *c = ctx;
    const qb_train_shape *s = &c->m->s;
    const int hd = s->dim / s->n_head, kv = hd * s->n_head_kv, T = c->T;
    for (int64_t b = b0; b < b1; b++) {
        const int64_t r = b * T;
        float *p = c->a->p + b * (int64_t)s->n_head * T * T;
        if (!c->bwd)
            qb_train_attn(c->a->q + r * s->dim, c->a->k + r * kv, c->a->v + r * kv, p, c->a->ao + r * s->dim, T, s->n_head,
                          s->n_head_kv, hd);
        else
            qb_train_attn_bwd(c->a->q + r * s->dim, c->a->k + r * kv, c->a->v + r * kv, p, c->ws->dao + r * s->dim,
                              c->ws->dq + r * s->dim, c->ws->dk + r * kv, c->ws->dv + r * kv, T, s->n_head, s->n_head_kv, hd);
    }
}

static void add_to(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

double qb_train_grad(const qb_train_model *m, const float *w, const int32_t *tokens, int B, int T, float *grad,
                     qb_train_ws *ws) {
    const qb_train_shape *s = &m->s;
    const int64_t N = (int64_t)B * T, d = s->dim, hd = d / s->n_head, kv = hd * s->n_head_kv, ff = s->n_ff, V = s->n_vocab;
    const float eps = s->eps;
#define WT(i) (w + m->t[i].off)
#define GT(i) (grad + m->t[i].off)
    for (int b = 0; b < B; b++) {
        memcpy(ws->in + (int64_t)b * T, tokens + (int64_t)b * (T + 1), (size_t)T * sizeof *ws->in);
        memcpy(ws->tgt + (int64_t)b * T, tokens + (int64_t)b * (T + 1) + 1, (size_t)T * sizeof *ws->tgt);
    }
    /* ---- forward ---- */
    qb_train_embed(WT(T_EMBD), ws->in, ws->L[0].x, N, d);
    for (int l = 0; l < s->n_layer; l++) {
        layer_act *a = &ws->L[l];
        float *xnext = l + 1 < s->n_layer ? ws->L[l + 1].x : ws->xf;
        for (int64_t i = 0; i < N; i++) qb_llama_rmsnorm(a->x + i * d, WT(T_LAYER(l, 0)), a->h1 + i * d, d, eps);
        qb_train_matmul(a->h1, WT(T_LAYER(l, 1)), a->q, N, d, d);
        qb_train_matmul(a->h1, WT(T_LAYER(l, 2)), a->k, N, d, kv);
        qb_train_matmul(a->h1, WT(T_LAYER(l, 3)), a->v, N, d, kv);
        for (int64_t i = 0; i < N; i++) {
            const float *cs = ws->cs + (i % T) * hd;
            qb_llama_rope(&ws->rope, cs, a->q + i * d, s->n_head, (int)hd);
            qb_llama_rope(&ws->rope, cs, a->k + i * kv, s->n_head_kv, (int)hd);
        }
        attn_ctx ac = {.m = m, .ws = ws, .a = a, .T = T, .bwd = 0};
        qb_parallel_for(ws->threads, B, attn_range, &ac);
        qb_train_matmul(a->ao, WT(T_LAYER(l, 4)), a->xm, N, d, d);
        add_to(a->xm, a->x, N * d);
        for (int64_t i = 0; i < N; i++) qb_llama_rmsnorm(a->xm + i * d, WT(T_LAYER(l, 5)), a->h2 + i * d, d, eps);
        qb_train_matmul(a->h2, WT(T_LAYER(l, 6)), a->g, N, d, ff);
        qb_train_matmul(a->h2, WT(T_LAYER(l, 7)), a->u, N, d, ff);
        memcpy(a->a, a->g, (size_t)(N * ff) * sizeof *a->a);
        qb_llama_swiglu(a->a, a->u, N * ff);
        qb_train_matmul(a->a, WT(T_LAYER(l, 8)), xnext, N, ff, d);
        add_to(xnext, a->xm, N * d);
    }
    for (int64_t i = 0; i < N; i++) qb_llama_rmsnorm(ws->xf + i * d, WT(T_ONORM(m)), ws->hf + i * d, d, eps);
    qb_train_matmul(ws->hf, WT(T_OUT(m)), ws->logits, N, d, V);
    const float scale = 1.0f / (float)N;
    const double loss = qb_train_xent(ws->logits, ws->tgt, grad ? ws->logits : NULL, N, V, scale) / (double)N;
    if (!grad) return loss;

    /* ---- backward (ws->logits now holds d loss / d logits) ---- */
    memset(grad, 0, (size_t)m->n_params * sizeof *grad);
    qb_train_matmul_bwd(ws->logits, ws->hf, WT(T_OUT(m)), ws->dh, GT(T_OUT(m)), N, d, V);
    for (int64_t i = 0; i < N; i++)
        qb_train_rmsnorm_bwd(ws->xf + i * d, WT(T_ONORM(m)), ws->dh + i * d, ws->dx + i * d, GT(T_ONORM(m)), d, eps);
    for (int l = s->n_layer - 1; l >= 0; l--) {
        layer_act *a = &ws->L[l];
        /* x = xm + a·Wdownᵀ: dx reaches xm unchanged and a through Wdown */
        qb_train_matmul_bwd(ws->dx, a->a, WT(T_LAYER(l, 8)), ws->da, GT(T_LAYER(l, 8)), N, ff, d);
        qb_train_swiglu_bwd(a->g, a->u, ws->da, ws->dg, ws->du, N * ff);
        qb_train_matmul_bwd(ws->dg, a->h2, WT(T_LAYER(l, 6)), ws->dh, GT(T_LAYER(l, 6)), N, d, ff);
        qb_train_matmul_bwd(ws->du, a->h2, WT(T_LAYER(l, 7)), ws->tmp, GT(T_LAYER(l, 7)), N, d, ff);
        add_to(ws->dh, ws->tmp, N * d);
        for (int64_t i = 0; i < N; i++)
            qb_train_rmsnorm_bwd(a->xm + i * d, WT(T_LAYER(l, 5)), ws->dh + i * d, ws->tmp + i * d, GT(T_LAYER(l, 5)), d, eps);
        add_to(ws->dx, ws->tmp, N * d); /* dx is now d loss / d xm */
        /* xm = x + ao·Woᵀ */
        qb_train_matmul_bwd(ws->dx, a->ao, WT(T_LAYER(l, 4)), ws->dao, GT(T_LAYER(l, 4)), N, d, d);
        attn_ctx ac = {.m = m, .ws = ws, .a = a, .T = T, .bwd = 1};
        qb_parallel_for(ws->threads, B, attn_range, &ac);
        for (int64_t i = 0; i < N; i++) {
            const float *cs = ws->cs + (i % T) * hd;
            qb_train_rope_bwd(&ws->rope, cs, ws->dq + i * d, s->n_head, (int)hd);
            qb_train_rope_bwd(&ws->rope, cs, ws->dk + i * kv, s->n_head_kv, (int)hd);
        }
        qb_train_matmul_bwd(ws->dq, a->h1, WT(T_LAYER(l, 1)), ws->dh, GT(T_LAYER(l, 1)), N, d, d);
        qb_train_matmul_bwd(ws->dk, a->h1, WT(T_LAYER(l, 2)), ws->tmp, GT(T_LAYER(l, 2)), N, d, kv);
        add_to(ws->dh, ws->tmp, N * d);
        qb_train_matmul_bwd(ws->dv, a->h1, WT(T_LAYER(l, 3)), ws->tmp, GT(T_LAYER(l, 3)), N, d, kv);
        add_to(ws->dh, ws->tmp, N * d);
        for (int64_t i = 0; i < N; i++)
            qb_train_rmsnorm_bwd(a->x + i * d, WT(T_LAYER(l, 0)), ws->dh + i * d, ws->tmp + i * d, GT(T_LAYER(l, 0)), d, eps);
        add_to(ws->dx, ws->tmp, N * d);
    }
    qb_train_embed_bwd(ws->dx, ws->in, GT(T_EMBD), N, d);
#undef WT
#undef GT
    return loss;
}

/* ---- weights as a format would store them ------------------------------------------------------ */

/* dst = src with every matrix put through f's quantize → dequantize (vectors copied): the
 * weights QAT computes with, and the weights of a file written in f. */
static qb_status round_matrices(const qb_train_model *m, const qb_format *f, const float *src, float *dst, int threads) {
    memcpy(dst, src, (size_t)m->n_params * sizeof *dst);
    void *q = NULL;
    size_t cap = 0;
    qb_status st = QB_OK;
    for (int i = 0; i < m->n_t && !st; i++) {
        const qb_train_tensor *t = &m->t[i];
        if (!t->matrix) continue;
        size_t nb;
        if ((st = qb_format_bytes(f, t->rows, t->cols, &nb))) break;
        if (nb > cap) q = qb_realloc(q, nb), cap = nb;
        st = qb_format_quantize_mt(f, src + t->off, q, t->rows, t->cols, NULL, threads);
        if (!st) qb_format_dequantize_mt(f, q, dst + t->off, t->rows, t->cols, threads);
        if (st) qb_fail_context(st, "%s in %s: ", t->name, f->name);
    }
    free(q);
    return st;
}

/* ---- GGUF: the model, the checkpoint, --init ---------------------------------------------------- */

static qb_status write_model(const qb_train_model *m, const float *w, const qb_format *f, const qb_model *init,
                             const char *path) {
    const qb_train_shape *s = &m->s;
    const qb_format *f32 = qb_format_find("f32");
    qb_gguf_writer g;
    qb_status st = qb_gguf_writer_open(&g, path, 0);
    if (st) return st;
    if (init) {
        st = qb_model_write_metadata(init, &g); /* architecture, hparams and tokenizer as they were */
        qb_gguf_writer_remove(&g, "general.file_type");
    } else {
        char key[96];
#define KEY(k) (snprintf(key, sizeof key, "llama.%s", k), key)
        st = qb_gguf_writer_set_string(&g, "general.architecture", "llama");
        if (!st) st = qb_gguf_writer_set_string(&g, "general.name", "quantbench-tiny");
        if (!st) st = qb_gguf_writer_set_u32(&g, KEY("context_length"), (uint32_t)s->n_ctx);
        if (!st) st = qb_gguf_writer_set_u32(&g, KEY("embedding_length"), (uint32_t)s->dim);
        if (!st) st = qb_gguf_writer_set_u32(&g, KEY("block_count"), (uint32_t)s->n_layer);
        if (!st) st = qb_gguf_writer_set_u32(&g, KEY("feed_forward_length"), (uint32_t)s->n_ff);
        if (!st) st = qb_gguf_writer_set_u32(&g, KEY("attention.head_count"), (uint32_t)s->n_head);
        if (!st) st = qb_gguf_writer_set_u32(&g, KEY("attention.head_count_kv"), (uint32_t)s->n_head_kv);
        if (!st) st = qb_gguf_writer_set_u32(&g, KEY("rope.dimension_count"), (uint32_t)(s->dim / s->n_head));
        if (!st) st = qb_gguf_writer_set_f32(&g, KEY("rope.freq_base"), s->rope_base);
        if (!st) st = qb_gguf_writer_set_f32(&g, KEY("attention.layer_norm_rms_epsilon"), s->eps);
        if (!st) st = qb_gguf_writer_set_u32(&g, KEY("vocab_size"), (uint32_t)s->n_vocab);
#undef KEY
        if (!st) st = qb_vocab_bytes_write(&g);
    }
    const int32_t ft = qb_mix_file_type_of(f);
    if (!st && ft >= 0) st = qb_gguf_writer_set_u32(&g, "general.file_type", (uint32_t)ft);
    for (int i = 0; i < m->n_t && !st; i++) {
        const qb_train_tensor *t = &m->t[i];
        const qb_format *tf = t->matrix ? f : f32;
        const int64_t ne[2] = {t->cols, t->rows};
        st = qb_gguf_writer_add_tensor(&g, t->name, t->cols == 1 ? 1 : 2, t->cols == 1 ? (int64_t[]){t->rows} : ne,
                                       (uint32_t)tf->gguf_type);
    }
    void *q = NULL;
    for (int i = 0; i < m->n_t && !st; i++) {
        const qb_train_tensor *t = &m->t[i];
        const qb_format *tf = t->matrix ? f : f32;
        const int64_t rows = t->cols == 1 ? 1 : t->rows, cols = t->cols == 1 ? t->rows : t->cols;
        size_t nb;
        if ((st = qb_format_bytes(tf, rows, cols, &nb))) break;
        q = qb_realloc(q, nb);
        if (!(st = tf->quantize(w + t->off, q, rows, cols, NULL))) st = qb_gguf_writer_write_tensor(&g, (uint64_t)i, q, nb);
    }
    free(q);
    if (!st) return qb_gguf_writer_finish(&g);
    qb_gguf_writer_abort(&g);
    return st;
}

/* Everything a checkpoint must agree on to be resumed. */
static char *config_string(const qb_train_opts *o, const qb_train_shape *s) {
    return qb_asprintf("vocab=%d dim=%d layers=%d heads=%d kv_heads=%d ff=%d ctx=%d rope_base=%g eps=%g batch=%d steps=%d "
                       "warmup=%d lr=%g lr_min=%g wd=%g clip=%g beta1=%g beta2=%g seed=%llu threads=%d qat=%s init=%s "
                       "data=%s heldout=%s",
                       s->n_vocab, s->dim, s->n_layer, s->n_head, s->n_head_kv, s->n_ff, s->n_ctx, (double)s->rope_base,
                       (double)s->eps, o->batch, o->steps, o->warmup, (double)o->lr, (double)o->lr_min,
                       (double)o->weight_decay, (double)o->clip, (double)o->beta1, (double)o->beta2,
                       (unsigned long long)o->seed, o->threads, o->qat ? o->qat : "-", o->init ? o->init : "-",
                       o->data_dir, o->heldout);
}

static const char *const ckpt_names[3] = {"train.w", "train.m", "train.v"};

static qb_status save_checkpoint(const char *path, const char *config, int64_t step, const qb_train_model *m,
                                 float *const bufs[3]) {
    qb_gguf_writer g;
    qb_status st = qb_gguf_writer_open(&g, path, 0);
    if (st) return st;
    st = qb_gguf_writer_set_string(&g, "train.config", config);
    if (!st) st = qb_gguf_writer_set_u64(&g, "train.step", (uint64_t)step);
    const int64_t ne[1] = {m->n_params};
    for (int i = 0; i < 3 && !st; i++) st = qb_gguf_writer_add_tensor(&g, ckpt_names[i], 1, ne, 0);
    for (int i = 0; i < 3 && !st; i++)
        st = qb_gguf_writer_write_tensor(&g, (uint64_t)i, bufs[i], (uint64_t)m->n_params * sizeof(float));
    if (!st) return qb_gguf_writer_finish(&g);
    qb_gguf_writer_abort(&g);
    return st;
}

static qb_status load_checkpoint(const char *path, const char *config, const qb_train_model *m, float *const bufs[3],
                                 int64_t *step) {
    qb_gguf g;
    qb_status st = qb_gguf_open(&g, path);
    if (st) return st;
    const char *c;
    uint64_t clen, s;
    st = qb_gguf_get_string(&g, "train.config", &c, &clen);
    if (!st) st = qb_gguf_get_u64(&g, "train.step", &s);
    if (!st && (clen != strlen(config) || memcmp(c, config, clen) != 0))
        st = qb_fail(QB_EUSAGE, "%s: the checkpoint was made with other options (%.*s); give the same options, or remove it",
                     path, (int)clen, c);
    for (int i = 0; i < 3 && !st; i++) {
        const qb_gguf_tensor *t = qb_gguf_find_tensor(&g, ckpt_names[i]);
        if (!t || t->type != 0 || t->nbytes != (uint64_t)m->n_params * sizeof(float))
            st = qb_fail(QB_EINPUT, "%s: tensor %s is missing or not %lld f32 values", path, ckpt_names[i], (long long)m->n_params);
        else memcpy(bufs[i], t->data, t->nbytes);
    }
    if (!st) *step = (int64_t)s;
    qb_gguf_close(&g);
    return st;
}

static qb_status hparam(const qb_model *im, const char *k, int *out) {
    char key[96];
    snprintf(key, sizeof key, "llama.%s", k);
    int64_t v;
    qb_status st = qb_gguf_get_i64(&im->g, key, &v);
    if (!st && (v < 1 || v > (1 << 24))) st = qb_fail(QB_EINPUT, "%s: %s = %lld is out of range", im->path, key, (long long)v);
    if (!st) *out = (int)v;
    return st;
}

/* The shape and weights of a llama GGUF (--init). */
static qb_status load_init(const qb_model *im, qb_train_model *m) {
    if (!im->is_gguf || strcmp(im->arch, "llama") != 0)
        return qb_fail(QB_EINPUT, "%s: --init needs a GGUF model of architecture llama (this is %s)", im->path, im->arch);
    qb_train_shape s = {0};
    qb_status st = hparam(im, "embedding_length", &s.dim);
    if (!st) st = hparam(im, "block_count", &s.n_layer);
    if (!st) st = hparam(im, "feed_forward_length", &s.n_ff);
    if (!st) st = hparam(im, "attention.head_count", &s.n_head);
    if (!st) st = hparam(im, "attention.head_count_kv", &s.n_head_kv);
    if (!st) st = hparam(im, "context_length", &s.n_ctx);
    if (!st) st = qb_gguf_get_f32(&im->g, "llama.rope.freq_base", &s.rope_base);
    if (!st) st = qb_gguf_get_f32(&im->g, "llama.attention.layer_norm_rms_epsilon", &s.eps);
    const qb_gguf_tensor *e = st ? NULL : qb_gguf_find_tensor(&im->g, "token_embd.weight");
    if (!st && !e) st = qb_fail(QB_EINPUT, "%s: no tensor token_embd.weight", im->path);
    if (!st) s.n_vocab = (int)e->ne[1];
    if (!st) st = qb_train_model_init(m, &s);
    for (int i = 0; i < m->n_t && !st; i++) {
        const qb_train_tensor *t = &m->t[i];
        int k = -1;
        for (int j = 0; j < im->n; j++)
            if (strcmp(im->t[j].name, t->name) == 0) k = j;
        if (k < 0) st = qb_fail(QB_EINPUT, "%s: no tensor %s (the trainer needs an untied llama model)", im->path, t->name);
        else if (im->t[k].ne[0] * qb_model_rows(&im->t[k]) != t->rows * t->cols || im->t[k].ne[0] != (t->cols == 1 ? t->rows : t->cols))
            st = qb_fail(QB_EINPUT, "%s: tensor %s has shape %lldx%lld, expected %lldx%lld", im->path, t->name,
                         (long long)im->t[k].ne[0], (long long)qb_model_rows(&im->t[k]), (long long)t->cols, (long long)t->rows);
        else st = qb_model_rows_f32(im, k, 0, qb_model_rows(&im->t[k]), m->w + t->off);
    }
    if (!st && im->n != m->n_t) st = qb_fail(QB_EINPUT, "%s: %d tensors, the trainer's llama has %d", im->path, im->n, m->n_t);
    if (st) qb_train_model_free(m);
    return st;
}

/* ---- the training run ---------------------------------------------------------------------------- */

/* Mean loss over the held-out stream in windows of T + 1 tokens (stride T), and the add-one
 * unigram model of the training stream over the same predicted positions. */
static void heldout_loss(const qb_train_model *m, const float *w, const qb_corpus *c, int B, int T, qb_train_ws *ws,
                         double *loss, double *unigram, int64_t *n_pos) {
    const int64_t nwin = c->n_heldout > (size_t)T ? (int64_t)((c->n_heldout - 1) / (size_t)T) : 0;
    double sum = 0.0;
    for (int64_t w0 = 0; w0 < nwin; w0 += B) {
        const int nb = (int)(nwin - w0 < B ? nwin - w0 : B);
        int32_t *tok = qb_malloc((size_t)nb * (size_t)(T + 1) * sizeof *tok);
        for (int b = 0; b < nb; b++) memcpy(tok + (size_t)b * (size_t)(T + 1), c->heldout + (w0 + b) * T, (size_t)(T + 1) * sizeof *tok);
        sum += qb_train_grad(m, w, tok, nb, T, NULL, ws) * nb * T;
        free(tok);
    }
    *n_pos = nwin * T;
    *loss = *n_pos ? sum / (double)*n_pos : NAN;
    if (unigram) {
        const int V = m->s.n_vocab;
        double *cnt = qb_calloc((size_t)V, sizeof *cnt);
        for (size_t i = 0; i < c->n_train; i++) cnt[c->train[i]] += 1.0;
        double u = 0.0;
        for (int64_t i = 1; i <= *n_pos; i++) u -= log((cnt[c->heldout[i]] + 1.0) / ((double)c->n_train + V));
        *unigram = *n_pos ? u / (double)*n_pos : NAN;
        free(cnt);
    }
}

static float lr_at(const qb_train_opts *o, int64_t step) {
    if (step <= o->warmup) return o->lr * (float)step / (float)(o->warmup > 0 ? o->warmup : 1);
    const double p = (double)(step - o->warmup) / (double)(o->steps > o->warmup ? o->steps - o->warmup : 1);
    const double lo = (double)o->lr * o->lr_min;
    return (float)(lo + ((double)o->lr - lo) * 0.5 * (1.0 + cos(3.141592653589793 * p)));
}

static void fmt_eta(double s, char *buf, size_t n) {
    if (!(s >= 0) || s > 1e7) snprintf(buf, n, "?");
    else if (s >= 3600) snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

qb_status qb_train_run(const qb_train_opts *o, qb_train_summary *sum) {
    memset(sum, 0, sizeof *sum);
    qb_formats_init();
    FILE *log = o->json ? stderr : stdout;
    const qb_format *out_f = NULL, *qat_f = NULL;
    qb_status st = QB_OK;
    if (o->qat) {
        if ((st = qb_format_require(o->qat, &qat_f))) return st;
        if (qat_f->gguf_type < 0)
            return qb_fail(QB_EUSAGE, "--qat %s: the format has no GGUF type, so the trained model could not be written "
                                      "(use a GGUF format: q4_K, q3_K, q2_K, q4_0, iq4_nl, …)", o->qat);
        out_f = qat_f;
    } else {
        const char *ot = o->out_type ? o->out_type : "bf16";
        if (strcmp(ot, "f32") != 0 && strcmp(ot, "bf16") != 0 && strcmp(ot, "f16") != 0)
            return qb_fail(QB_EUSAGE, "--type %s: the trained model is written as f32, f16 or bf16", ot);
        out_f = qb_format_find(ot);
    }
    if (o->batch < 1 || o->steps < 1 || o->threads < 1)
        return qb_fail(QB_EUSAGE, "--batch, --steps and --threads must be at least 1");

    /* model and vocabulary */
    qb_model im = {0};
    int have_im = 0;
    qb_train_model m = {0};
    qb_tokenizer *tok = NULL;
    if (o->init) {
        if (!(st = qb_model_open(&im, o->init))) {
            have_im = 1;
            if (!(st = load_init(&im, &m))) st = qb_tokenizer_from_gguf(&im.g, o->init, &tok);
            if (!st && qb_tokenizer_n_vocab(tok) != m.s.n_vocab)
                st = qb_fail(QB_EINPUT, "%s: the vocabulary has %d tokens, token_embd.weight %d rows", o->init,
                             qb_tokenizer_n_vocab(tok), m.s.n_vocab);
        }
    } else {
        qb_train_shape s = o->shape;
        s.n_vocab = QB_VOCAB_BYTES_N;
        if (!(st = qb_train_model_init(&m, &s))) {
            qb_train_model_randomize(&m, o->seed);
            st = qb_vocab_bytes_tokenizer(&tok);
        }
    }
    qb_corpus c = {0};
    if (!st) st = qb_corpus_load(o->data_dir, o->heldout, tok, &c);
    const int T = m.s.n_ctx;
    if (!st && c.n_train < (size_t)T + 2)
        st = qb_fail(QB_EINPUT, "%s: %zu training tokens, fewer than one window of --ctx %d", o->data_dir, c.n_train, T);
    if (st) goto done0;

    const int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(o->threads);
    char *config = config_string(o, &m.s);
    const size_t np = (size_t)m.n_params;
    float *grad = qb_malloc(np * 4), *mom = qb_calloc(np, 4), *var = qb_calloc(np, 4);
    float *wq = qat_f ? qb_malloc(np * 4) : NULL;
    float *const bufs[3] = {m.w, mom, var};
    int64_t step = 0;
    if (o->checkpoint && o->resume) {
        FILE *f = fopen(o->checkpoint, "rb");
        if (f) {
            fclose(f);
            if (!(st = load_checkpoint(o->checkpoint, config, &m, bufs, &step)))
                fprintf(log, "resumed from %s at step %lld\n", o->checkpoint, (long long)step);
        }
    }
    qb_train_ws *ws = qb_train_ws_new(&m, o->batch, o->threads);
    int32_t *tokens = qb_malloc((size_t)o->batch * (size_t)(T + 1) * sizeof *tokens);
    const qb_adamw aw0 = {.lr = o->lr, .beta1 = o->beta1, .beta2 = o->beta2, .eps = 1e-8f, .weight_decay = o->weight_decay};
    if (!st)
        fprintf(log, "training %lld parameters (dim %d, %d layers, %d/%d heads, ffn %d, vocab %d) on %zu tokens of %d files "
                     "(%s held out: %zu tokens); batch %d x %d tokens, %d steps%s%s\n",
                (long long)m.n_params, m.s.dim, m.s.n_layer, m.s.n_head, m.s.n_head_kv, m.s.n_ff, m.s.n_vocab, c.n_train,
                c.n_files, o->heldout, c.n_heldout, o->batch, T, o->steps, qat_f ? ", QAT " : "", qat_f ? qat_f->name : "");
    const int64_t t0 = qb_now_ns();
    const int64_t step0 = step;
    double interval_loss = 0.0;
    int interval_n = 0;
    sum->first_loss = NAN;
    while (!st && step < o->steps) {
        if (qb_interrupted) {
            st = qb_fail(QB_ERUNTIME, "interrupted at step %lld%s", (long long)step,
                         o->checkpoint ? " (resume with --resume)" : "");
            break;
        }
        step++;
        /* the batch of this step: windows at positions drawn from (seed, step) alone */
        uint64_t r = o->seed * 0x9e3779b97f4a7c15ull ^ (uint64_t)step * 0xd1b54a32d192ed03ull;
        for (int b = 0; b < o->batch; b++) {
            const size_t at = (size_t)(rng_next(&r) % (uint64_t)(c.n_train - (size_t)T));
            memcpy(tokens + (size_t)b * (size_t)(T + 1), c.train + at, (size_t)(T + 1) * sizeof *tokens);
        }
        if (qat_f && (st = round_matrices(&m, qat_f, m.w, wq, o->threads))) break;
        const double loss = qb_train_grad(&m, qat_f ? wq : m.w, tokens, o->batch, T, grad, ws);
        if (!isfinite(loss)) {
            st = qb_fail(QB_ERUNTIME, "the loss is %g at step %lld (lower --lr)", loss, (long long)step);
            break;
        }
        if (isnan(sum->first_loss)) sum->first_loss = loss;
        interval_loss += loss, interval_n++;
        double norm = 0.0;
        for (size_t i = 0; i < np; i++) norm += (double)grad[i] * grad[i];
        norm = sqrt(norm);
        if (o->clip > 0 && norm > o->clip) {
            const float k = (float)(o->clip / norm);
            for (size_t i = 0; i < np; i++) grad[i] *= k;
        }
        qb_adamw aw = aw0;
        aw.lr = lr_at(o, step);
        for (int i = 0; i < m.n_t; i++) {
            const qb_train_tensor *t = &m.t[i];
            qb_train_adamw(&aw, step, m.w + t->off, grad + t->off, mom + t->off, var + t->off, t->rows * t->cols, t->matrix);
        }
        const int last = step == o->steps, stop = o->stop_after > 0 && step == o->stop_after;
        if ((o->eval_every > 0 && step % o->eval_every == 0) || last) {
            double hl;
            int64_t npos;
            heldout_loss(&m, qat_f ? wq : m.w, &c, o->batch, T, ws, &hl, NULL, &npos);
            const double el = (double)(qb_now_ns() - t0) / 1e9;
            char eta[32];
            fmt_eta(el / (double)(step - step0) * (double)(o->steps - step), eta, sizeof eta);
            fprintf(log, "step %6lld/%d  loss %.4f  held-out %.4f (ppl %.3f)  lr %.2e  |g| %.3f  %.0f tok/s  ETA %s\n",
                    (long long)step, o->steps, interval_loss / interval_n, hl, exp(hl), (double)aw.lr, norm,
                    (double)(step - step0) * o->batch * T / el, eta);
            fflush(log);
            sum->final_loss = interval_loss / interval_n;
            interval_loss = 0.0, interval_n = 0;
        }
        if (o->checkpoint && ((o->checkpoint_every > 0 && step % o->checkpoint_every == 0) || last || stop))
            st = save_checkpoint(o->checkpoint, config, step, &m, bufs);
        if (stop) break;
    }
    sum->seconds = (double)(qb_now_ns() - t0) / 1e9;
    sum->steps = (int)step;
    sum->tokens_seen = step * o->batch * T;
    if (!st && step == o->steps) {
        /* the model as written: matrices rounded to the output format */
        float *wout = qb_malloc(np * 4);
        st = round_matrices(&m, out_f, m.w, wout, o->threads);
        if (!st) {
            heldout_loss(&m, wout, &c, o->batch, T, ws, &sum->heldout_loss, &sum->unigram_ppl, &sum->heldout_tokens);
            sum->heldout_ppl = exp(sum->heldout_loss), sum->unigram_ppl = exp(sum->unigram_ppl);
            st = write_model(&m, m.w, out_f, have_im ? &im : NULL, o->out_path);
        }
        free(wout);
    }
    sum->n_params = m.n_params, sum->train_tokens = (int64_t)c.n_train;
    free(tokens);
    qb_train_ws_free(ws);
    free(grad), free(mom), free(var), free(wq), free(config);
    openblas_set_num_threads(blas_threads);
done0:
    qb_corpus_free(&c);
    qb_tokenizer_free(tok);
    qb_train_model_free(&m);
    if (have_im) qb_model_close(&im);
    return st;
}
