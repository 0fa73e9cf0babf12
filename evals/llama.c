/* llama.c — the Llama-family forward pass of llama.h, as llama.cpp's llm_build_llama and
 * llm_build_qwen2 compute it on the CPU:
 *
 *   x = token_embd[token]
 *   per layer:  h = rmsnorm(x)·attn_norm;  q, k, v = h·Wq, h·Wk, h·Wv (+ biases, qwen2);
 *               RoPE(q, k) at the token's position; k, v appended to the KV cache;
 *               a = softmax(q·kᵀ/sqrt(head_dim), causal)·v per head (GQA: head h reads KV head
 *               h / (n_head / n_head_kv));  x += a·Wo;
 *               h = rmsnorm(x)·ffn_norm;  x += (silu(h·Wgate) · h·Wup)·Wdown
 *   logits = (rmsnorm(x)·output_norm)·Wout   (Wout = token_embd when there is no output.weight)
 *
 * Weights. A matrix is rows × cols in one registry format, rows contiguous: either the model's
 * stored bytes in the memory map (nothing copied), or bytes we own: the tensor quantized at load
 * to the format asked for (formats/mixes.h decides per tensor, as llama-quantize does), or a
 * safetensors q/k projection re-encoded in its own IEEE type with its rows un-permuted (exact).
 * Norm weights, biases and rope_freqs are small: decoded to f32 once.
 *
 * The two paths differ only in the matrix products and the attention products; everything
 * else (RMSNorm, RoPE, softmax, SwiGLU) is llama_ops.c, the same code for both:
 *   - reference: one thread; a product dequantizes the whole weight tensor to f32 and runs
 *     plain loops (float sums), attention likewise;
 *   - fast: for 1..VEC_MAX_TOKENS tokens, the format's fused vec_dot against the activation
 *     quantized to its vec_dot_type (ggml's GEMV, formats/gemv.h), products that share an
 *     input (q, k, v; gate, up) in one region with one quantization of it; for more tokens,
 *     each thread takes a share of the weight's rows and, a tile of TILE_VALUES at a time,
 *     dequantizes them and multiplies with single-threaded OpenBLAS sgemm, so no f32 copy of
 *     a whole model exists and a model larger than memory in f32 still runs (an f32 tensor in
 *     the map is handed to sgemm as it is). Attention: per head over the KV cache, plain
 *     loops for a few tokens and sgemm beyond, heads shared out. OpenBLAS runs one thread
 *     inside our threads during eval: its own workers spin between calls and would take the
 *     cores our dequantization needs (at 2 threads that cost q4_K_M a third of its speed).
 *     Threads: a team (common/team.h) started at load and kept until qb_llama_free runs every
 *     parallel region: a decode step has about five per layer of tens of µs each, where
 *     starting threads per region cost as much as the work. GEMV chunks and attention heads
 *     come from a counter (qb_team_run_pool), so on a shared machine a descheduled member
 *     costs a region nothing instead of a scheduler slice. The team is not pinned: its
 *     caller is member 0, and a pinned caller would hand its one-CPU mask to every thread it
 *     starts between forward passes (qb_parallel_for in an eval job).
 * Activations: ggml never multiplies a quantized (or f16/bf16) weight by f32 activations; it
 * first rounds them to the weight format's vec_dot_type. Both paths do the same (act_in), so
 * quantized logits are llama.cpp's, not those of an idealised f32-activation model.
 * The KV cache is f32 (llama.cpp defaults to f16; its oracle runs are asked for f32, so the
 * comparison measures our arithmetic, not the cache's rounding).
 * Calibration-aware quantization plugs in through three hooks, none of which costs the normal
 * path more than a pointer test: the capture hook sees each product's f32 input (evals/
 * calib.h collects imatrix/GPTQ/AWQ statistics from it), the quant hook replaces a tensor's
 * quantize at load (GPTQ, imatrix, AWQ/SmoothQuant-scaled weights), the fold hook rewrites
 * norm weights at load (the inverse scales). act_format quantizes and dequantizes each blk.*
 * product's input (W8A8, W4A8, FP8 activations) on both paths alike, before the vec_dot_type
 * rounding a product may add.
 *
 * Invariants:
 *  1. Fast and reference logits agree within QB_LLAMA_FAST_TOL (llama.h): |fast − ref| ≤ tol·max|ref|
 *     per position, on every weight format; evals/tests/test_llama.c checks it, and that
 *     evaluating a sequence one token at a time matches evaluating it as one batch.
 *  2. A matrix's bytes are immutable after load: evaluation only reads weights.
 *  3. Every tensor the architecture needs is checked for presence and shape at load, so eval
 *     fails only on its own inputs (token ids, cache capacity). */
#define _GNU_SOURCE /* madvise's MADV_HUGEPAGE */
#include "llama.h"

#include <cJSON.h>
#include <cblas.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../common/io.h"
#include "../common/team.h"
#include "../formats/gemv.h"
#include "llama_ops.h"

/* From OpenBLAS itself (its cblas.h is not the only one a Debian machine may select). */
extern void openblas_set_num_threads(int num_threads);
extern int openblas_get_num_threads(void);

#define VEC_MAX_TOKENS 4      /* up to this many tokens: GEMV with vec_dot, not tiles + sgemm */
#define TILE_VALUES (1 << 19) /* f32 values of one thread's dequantized weight tile (2 MiB) */
#define SWIGLU_PIECE 1024     /* values per piece of a SwiGLU region (a multiple of 16: 64 bytes) */
#define MAX_SHARED 3          /* most products sharing one input (q, k, v); ≤ QB_GEMV_MAX_MATS */
#define TEAM_IDLE_NS 1000000  /* team members sleep after 1 ms without work (between calls) */

/* A weight matrix: rows × cols values in format f, rows contiguous; row r at
 * data + f->tensor_extra_bytes + r·rb (the tensor's header, if any, at data). */
typedef struct lw {
    char name[64];         /* the tensor, for the calibration hook */
    const qb_format *f;
    const qb_format *act;  /* the activation format of f's vec_dot, NULL: no GEMV path */
    const uint8_t *data;
    uint8_t *owned;        /* data when we quantized or reordered it, else NULL */
    size_t rb;
    int64_t rows, cols;
} lw;

typedef struct layer {
    float *attn_norm, *ffn_norm; /* [dim] */
    float *bq, *bk, *bv;         /* [dim], [kv_dim], [kv_dim] or NULL */
    lw wq, wk, wv, wo, gate, up, down;
    float *kc, *vc;              /* KV cache: [n_ctx][kv_dim] each, position-major */
} layer;

struct qb_llama {
    const qb_model *m;
    int ref, threads, n_ctx, n_batch;
    qb_team *team;               /* fast path at threads > 1, else NULL */
    int n_layer, n_head, n_head_kv, head_dim;
    int64_t dim, kv_dim, n_ff, n_vocab;
    int32_t n_ctx_train;
    float eps, kq_scale;
    qb_rope rope;
    float *rope_freqs;           /* [n_rot/2] or NULL */
    lw tok, out;                 /* out.data == tok.data when tied */
    float *out_norm;             /* [dim] */
    layer *L;
    int32_t n_past;
    uint64_t bytes, params;
    qb_llama_capture_fn capture; /* calibration hook or NULL */
    void *capture_ctx;
    /* scratch for one batch of nb = n_batch tokens */
    float *x, *h, *q, *att;      /* [nb][dim] */
    float *g, *u;                /* [nb][n_ff] */
    float *s;                    /* [threads][nb][n_ctx] attention scores, one head per thread */
    float *cs;                   /* [nb][n_rot] RoPE cos/sin */
    float *tile;                 /* [threads][tile_values] dequantized weights */
    int64_t tile_values;         /* TILE_VALUES, or one row if longer */
    uint8_t *act;                /* [MAX_SHARED][nb] activation rows in a vec_dot_type */
    size_t act_bytes;            /* bytes of one of them, the largest over all matrices */
    void *gemv_scratch;          /* the GEMV's prepared activations (formats/gemv.h), grown on use */
    size_t gemv_scratch_bytes;
    float *xr;                   /* [nb][max cols] those rows decoded again (act_in) */
    const qb_format *actf;       /* qb_llama_opts.act_format, or NULL */
    uint8_t *aq;                 /* [nb × max cols] activations in actf */
    float *xq;                   /* [nb][max cols] them decoded again */
};

/* ---- loading ---------------------------------------------------------------------------- */

static int find_tensor(const qb_model *m, const char *name) {
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->t[i].name, name) == 0) return i;
    return -1;
}

/* {arch}.suffix as an integer; *out unchanged when absent and not required. */
static qb_status hp_int(const qb_model *m, const char *suffix, int required, int64_t *out) {
    char key[256];
    snprintf(key, sizeof key, "%s.%s", m->arch, suffix);
    if (!qb_gguf_find_kv(&m->g, key))
        return required ? qb_fail(QB_EINPUT, "%s: key '%s' is missing (a %s model needs it)", m->path, key, m->arch) : QB_OK;
    return qb_gguf_get_i64(&m->g, key, out);
}

static qb_status hp_f32(const qb_model *m, const char *suffix, int required, float *out) {
    char key[256];
    snprintf(key, sizeof key, "%s.%s", m->arch, suffix);
    if (!qb_gguf_find_kv(&m->g, key))
        return required ? qb_fail(QB_EINPUT, "%s: key '%s' is missing (a %s model needs it)", m->path, key, m->arch) : QB_OK;
    return qb_gguf_get_f32(&m->g, key, out);
}

/* Linear or Llama-3 rope scaling from a safetensors model's config.json ("rope_scaling"), the
 * factors computed as llama.cpp's converter writes them into rope_freqs. */
static qb_status st_rope_scaling(qb_llama *l, double freq_base) {
    const qb_model *m = l->m;
    const char *slash = strrchr(m->path, '/');
    size_t n = strlen(m->path);
    int is_file = n > 12 && strcmp(m->path + n - 12, ".safetensors") == 0;
    char *path = !is_file ? qb_asprintf("%s/config.json", m->path)
                 : slash  ? qb_asprintf("%.*s/config.json", (int)(slash - m->path), m->path)
                          : qb_strdup("config.json");
    qb_map cm;
    qb_status st = qb_map_file(&cm, path);
    cJSON *c = st ? NULL : cJSON_ParseWithLength(cm.data, cm.size);
    if (!st) qb_unmap(&cm);
    const cJSON *rs = c ? cJSON_GetObjectItemCaseSensitive(c, "rope_scaling") : NULL;
    if (st) {
        st = qb_fail(QB_EINPUT, "%s: cannot read it again for rope_scaling (%s)", path, qb_errmsg());
    } else if (cJSON_IsObject(rs)) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
        if (!cJSON_IsString(type)) type = cJSON_GetObjectItemCaseSensitive(rs, "type");
        const char *ty = cJSON_IsString(type) ? type->valuestring : "";
#define NUM(key, dflt) (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(rs, key)) ? cJSON_GetObjectItemCaseSensitive(rs, key)->valuedouble : (dflt))
        double factor = NUM("factor", 1.0);
        if (strcmp(ty, "linear") == 0 && factor > 0) {
            l->rope.freq_scale = (float)(1.0 / factor);
        } else if (strcmp(ty, "llama3") == 0 && factor > 0) {
            double lo = NUM("low_freq_factor", 1.0), hi = NUM("high_freq_factor", 4.0);
            double old_ctx = NUM("original_max_position_embeddings", 8192.0);
            double lo_wavelen = old_ctx / lo, hi_wavelen = old_ctx / hi;
            l->rope_freqs = qb_malloc(sizeof(float) * (size_t)(l->rope.n_rot / 2));
            for (int i = 0; i < l->rope.n_rot / 2; i++) {
                /* the converter's arithmetic: torch float32 frequencies, Python floats after */
                float freq = 1.0f / powf((float)freq_base, (float)(2 * i) / (float)l->rope.n_rot);
                double wavelen = 2 * 3.14159265358979323846 / freq, f;
                if (wavelen < hi_wavelen) f = 1.0;
                else if (wavelen > lo_wavelen) f = factor;
                else {
                    double smooth = (old_ctx / wavelen - lo) / (hi - lo);
                    f = 1.0 / ((1 - smooth) / factor + smooth);
                }
                l->rope_freqs[i] = (float)f;
            }
            l->rope.freq_factors = l->rope_freqs;
        } else if (strcmp(ty, "default") != 0 && !(strcmp(ty, "linear") == 0 && factor == 1.0)) {
            st = qb_fail(QB_EINPUT, "%s: rope_scaling type '%s' is not supported (linear and llama3 are)", path, ty);
        }
#undef NUM
    }
    cJSON_Delete(c);
    free(path);
    return st;
}

static qb_status read_hparams(qb_llama *l) {
    const qb_model *m = l->m;
    int64_t n_rot = -1, ctx = 0, head_dim = -1, v_dim = -1;
    float base = 10000.0f, freq_scale = 1.0f;
    qb_status st = QB_OK;
    if (m->is_gguf) {
        int64_t dim = 0, nl = 0, nh = 0, nkv = -1;
        if (!st) st = hp_int(m, "embedding_length", 1, &dim);
        if (!st) st = hp_int(m, "block_count", 1, &nl);
        if (!st) st = hp_int(m, "attention.head_count", 1, &nh);
        if (!st) st = hp_int(m, "attention.head_count_kv", 0, &nkv);
        if (!st) st = hp_int(m, "context_length", 1, &ctx);
        if (!st) st = hp_int(m, "rope.dimension_count", 0, &n_rot);
        if (!st) st = hp_int(m, "attention.key_length", 0, &head_dim);
        if (!st) st = hp_int(m, "attention.value_length", 0, &v_dim);
        if (!st) st = hp_f32(m, "attention.layer_norm_rms_epsilon", 1, &l->eps);
        if (!st) st = hp_f32(m, "rope.freq_base", 0, &base);
        if (st) return st;
        char key[256];
        const char *ty = "none";
        uint64_t tylen = 4;
        snprintf(key, sizeof key, "%s.rope.scaling.type", m->arch);
        if (qb_gguf_find_kv(&m->g, key) && (st = qb_gguf_get_string(&m->g, key, &ty, &tylen))) return st;
        float factor = 0.0f;
        if ((st = hp_f32(m, "rope.scaling.factor", 0, &factor)) || (st = hp_f32(m, "rope.scale_linear", 0, &factor))) return st;
        if (tylen == 6 && memcmp(ty, "linear", 6) == 0) {
            if (factor > 0.0f) freq_scale = 1.0f / factor;
        } else if (!(tylen == 4 && memcmp(ty, "none", 4) == 0)) {
            return qb_fail(QB_EINPUT, "%s: %s is '%.*s': only none and linear rope scaling are supported (Llama 3's comes as rope_freqs.weight)",
                           m->path, key, (int)tylen, ty);
        } else if (factor > 0.0f) {
            freq_scale = 1.0f / factor; /* the older rope.scale_linear key, no type */
        }
        l->dim = dim, l->n_layer = (int)nl, l->n_head = (int)nh, l->n_head_kv = (int)(nkv < 0 ? nh : nkv);
    } else {
        l->dim = m->dim, l->n_layer = m->info.n_layer, l->n_head = m->info.n_head, l->n_head_kv = m->info.n_head_kv;
        ctx = m->ctx_len, base = (float)m->rope_theta, l->eps = (float)m->rms_eps;
    }
    if (l->dim <= 0 || l->n_layer <= 0 || l->n_layer > 100000 || l->n_head <= 0 || l->n_head_kv <= 0 || l->n_head % l->n_head_kv ||
        l->dim % l->n_head)
        return qb_fail(QB_EINPUT, "%s: implausible shape: embedding %lld, %d layers, %d heads, %d KV heads (heads must divide the "
                       "embedding and be a multiple of the KV heads)", m->path, (long long)l->dim, l->n_layer, l->n_head, l->n_head_kv);
    if (head_dim < 0) head_dim = l->dim / l->n_head;
    if (v_dim < 0) v_dim = head_dim;
    if (head_dim != l->dim / l->n_head || v_dim != head_dim)
        return qb_fail(QB_EINPUT, "%s: key/value head size %lld/%lld differs from embedding/heads = %lld: not supported", m->path,
                       (long long)head_dim, (long long)v_dim, (long long)(l->dim / l->n_head));
    if (n_rot < 0) n_rot = head_dim;
    if (n_rot <= 0 || n_rot > head_dim || n_rot % 2)
        return qb_fail(QB_EINPUT, "%s: rope.dimension_count %lld must be even and at most the head size %lld", m->path, (long long)n_rot,
                       (long long)head_dim);
    if (!(base > 0.0f) || !(l->eps >= 0.0f)) return qb_fail(QB_EINPUT, "%s: rope.freq_base %g or rms epsilon %g out of range", m->path, base, l->eps);
    l->head_dim = (int)head_dim;
    l->kv_dim = head_dim * l->n_head_kv;
    l->n_ctx_train = (int32_t)(ctx > 0 && ctx < INT32_MAX ? ctx : 0);
    l->kq_scale = 1.0f / sqrtf((float)head_dim);
    l->rope = (qb_rope){.n_rot = (int)n_rot, .neox = strcmp(m->arch, "qwen2") == 0, .theta_scale = powf(base, -2.0f / (float)n_rot),
                        .freq_scale = freq_scale};
    return m->is_gguf ? QB_OK : st_rope_scaling(l, base);
}

typedef struct load_ctx {
    qb_llama *l;
    const qb_mix *mix;       /* a llama.cpp file type, or */
    const qb_format *single; /* one format for every quantizable tensor, or neither: as stored */
    qb_llama_quant_fn quant; /* qb_llama_opts.quant */
    void *quant_ctx;
    qb_llama_vector_fn fold; /* qb_llama_opts.fold */
    void *fold_ctx;
} load_ctx;

static qb_status check_shape(const qb_model *m, const qb_model_tensor *t, int64_t ne0, int64_t ne1) {
    int ok = ne1 ? t->n_dims == 2 && t->ne[0] == ne0 && t->ne[1] == ne1 : t->n_dims == 1 && t->ne[0] == ne0;
    if (ok) return QB_OK;
    char have[64];
    qb_model_shape(t, have, sizeof have);
    return ne1 ? qb_fail(QB_EINPUT, "%s: tensor '%s' is %s, expected %lldx%lld", m->path, t->name, have, (long long)ne0, (long long)ne1)
               : qb_fail(QB_EINPUT, "%s: tensor '%s' is %s, expected %lld", m->path, t->name, have, (long long)ne0);
}

static qb_status need(const qb_model *m, const char *name, int *idx) {
    *idx = find_tensor(m, name);
    if (*idx < 0) return qb_fail(QB_EINPUT, "%s: tensor '%s' is missing (a %s model needs it)", m->path, name, m->arch);
    if (!m->t[*idx].decoder)
        return qb_fail(QB_EINPUT, "%s: tensor '%s' is stored as %s, which this build cannot decode", m->path, name,
                       qb_model_type_name(&m->t[*idx]));
    return QB_OK;
}

/* A 1-D tensor (norm, bias, rope_freqs) decoded to f32; *out stays NULL when it is absent and
 * optional. */
static qb_status load_vector(load_ctx *c, const char *name, int64_t n, int required, float **out) {
    const qb_model *m = c->l->m;
    int i;
    *out = NULL;
    if (!required && find_tensor(m, name) < 0) return QB_OK;
    qb_status st = need(m, name, &i);
    if (!st) st = check_shape(m, &m->t[i], n, 0);
    if (st) return st;
    *out = qb_malloc(sizeof(float) * (size_t)n);
    c->l->bytes += m->t[i].nbytes;
    c->l->params += (uint64_t)n;
    st = qb_model_rows_f32(m, i, 0, 1, *out);
    if (!st && c->fold) c->fold(c->fold_ctx, name, *out, n);
    return st;
}

/* Bytes for a weight matrix we quantize at load. Decode streams every weight once per token:
 * on 2 MiB pages (transparent huge pages, asked for with madvise where the system leaves it
 * to the program) the stream crosses a page, and pays a TLB miss and a restart of the
 * hardware prefetcher, every 2 MiB instead of every 4 KiB. Freed with free(). */
static void *weights_alloc(size_t n) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const size_t huge = (size_t)2 << 20;
    void *p;
    if (n >= huge && posix_memalign(&p, huge, n) == 0) {
        madvise(p, n, MADV_HUGEPAGE); /* advice only: 4 KiB pages when refused */
        return p;
    }
#endif
    return qb_malloc(n);
}

static qb_status load_matrix(load_ctx *c, const char *name, int64_t cols, int64_t rows, lw *w) {
    qb_llama *l = c->l;
    const qb_model *m = l->m;
    int i;
    qb_status st = need(m, name, &i);
    if (!st) st = check_shape(m, &m->t[i], cols, rows);
    if (st) return st;
    const qb_model_tensor *t = &m->t[i];
    const qb_format *to = NULL;
    if ((c->mix || c->single) && qb_mix_quantizable(t->name, (int)t->n_dims)) {
        if (c->mix) st = qb_mix_tensor_type(c->mix, &m->info, t->name, t->ne, &to);
        else to = qb_mix_fallback(c->single, cols);
        if (st) return qb_fail_context(st, "%s", m->path);
    }
    if (to == t->decoder) to = NULL;
    if (!to && t->permute_heads) to = t->decoder; /* exact: safetensors holds IEEE types */
    *w = (lw){.f = to ? to : t->decoder, .data = t->data, .rows = rows, .cols = cols};
    snprintf(w->name, sizeof w->name, "%s", t->name);
    size_t bytes;
    if ((st = qb_format_bytes(w->f, rows, cols, &bytes))) return qb_fail_context(st, "%s: tensor '%s'", m->path, t->name);
    w->rb = (bytes - (size_t)w->f->tensor_extra_bytes) / (size_t)rows;
    if (to) {
        /* one tensor in f32 at a time: peak memory is the quantized model plus this */
        float *x = qb_malloc(sizeof(float) * (size_t)(rows * cols));
        w->owned = weights_alloc(bytes);
        st = qb_model_rows_f32(m, i, 0, rows, x);
        if (!st) st = c->quant ? c->quant(c->quant_ctx, t->name, to, x, w->owned, rows, cols, l->threads)
                               : qb_format_quantize_mt(to, x, w->owned, rows, cols, NULL, l->threads);
        if (st) st = qb_fail_context(st, "%s: tensor '%s' as %s", m->path, t->name, to->name);
        free(x);
        qb_model_release(m, i, 0, rows);
        w->data = w->owned;
    }
    w->act = w->f->vec_dot_type && !w->f->tensor_extra_bytes ? qb_format_find(w->f->vec_dot_type) : NULL;
    size_t ab;
    if (w->act && qb_format_bytes(w->act, 1, cols, &ab) != QB_OK) w->act = NULL; /* row not a multiple of its block */
    if (w->act && ab > l->act_bytes) l->act_bytes = ab;
    l->bytes += to ? bytes : t->nbytes;
    l->params += (uint64_t)(rows * cols);
    return st;
}

static qb_status load_layer(load_ctx *c, int il) {
    qb_llama *l = c->l;
    layer *y = &l->L[il];
    int qwen2 = strcmp(l->m->arch, "qwen2") == 0;
    char n[96];
    qb_status st = QB_OK;
#define NAME(s) (snprintf(n, sizeof n, "blk.%d.%s", il, s), n)
    if (!st) st = load_vector(c, NAME("attn_norm.weight"), l->dim, 1, &y->attn_norm);
    if (!st) st = load_matrix(c, NAME("attn_q.weight"), l->dim, l->dim, &y->wq);
    if (!st) st = load_matrix(c, NAME("attn_k.weight"), l->dim, l->kv_dim, &y->wk);
    if (!st) st = load_matrix(c, NAME("attn_v.weight"), l->dim, l->kv_dim, &y->wv);
    if (!st) st = load_matrix(c, NAME("attn_output.weight"), l->dim, l->dim, &y->wo);
    /* qwen2 has q/k/v biases; llama.cpp's llama graph takes them when present too */
    if (!st) st = load_vector(c, NAME("attn_q.bias"), l->dim, qwen2, &y->bq);
    if (!st) st = load_vector(c, NAME("attn_k.bias"), l->kv_dim, qwen2, &y->bk);
    if (!st) st = load_vector(c, NAME("attn_v.bias"), l->kv_dim, qwen2, &y->bv);
    if (!st) st = load_vector(c, NAME("ffn_norm.weight"), l->dim, 1, &y->ffn_norm);
    if (!st && il == 0) {
        int i;
        if ((st = need(l->m, NAME("ffn_gate.weight"), &i))) return st;
        l->n_ff = l->m->t[i].ne[1];
    }
    if (!st) st = load_matrix(c, NAME("ffn_gate.weight"), l->dim, l->n_ff, &y->gate);
    if (!st) st = load_matrix(c, NAME("ffn_up.weight"), l->dim, l->n_ff, &y->up);
    if (!st) st = load_matrix(c, NAME("ffn_down.weight"), l->n_ff, l->dim, &y->down);
#undef NAME
    return st;
}

qb_status qb_llama_load(const qb_model *m, const qb_llama_opts *o, qb_llama **out) {
    *out = NULL;
    qb_formats_init();
    if (strcmp(m->arch, "llama") != 0 && strcmp(m->arch, "qwen2") != 0)
        return qb_fail(QB_EINPUT, "%s: architecture '%s' is not supported by the forward pass (supported: llama, qwen2)", m->path, m->arch);
    if (o->threads < 1 || o->n_ctx < 1 || o->n_batch < 0)
        return qb_fail(QB_EUSAGE, "qb_llama_load: threads (%d) and n_ctx (%d) must be at least 1, n_batch (%d) at least 0", o->threads,
                       o->n_ctx, o->n_batch);
    load_ctx c = {.quant = o->quant, .quant_ctx = o->quant_ctx, .fold = o->fold, .fold_ctx = o->fold_ctx};
    qb_status st = QB_OK;
    if (o->format && *o->format && !(c.single = qb_format_find(o->format)) && (st = qb_mix_require(o->format, &c.mix)))
        return qb_fail(QB_EUSAGE, "unknown format or file type '%s': see 'quantbench formats' (or a llama.cpp type such as Q4_K_M)",
                       o->format);
    qb_llama *l = qb_calloc(1, sizeof *l);
    c.l = l;
    l->m = m, l->ref = o->ref, l->threads = o->threads, l->n_ctx = o->n_ctx, l->n_batch = o->n_batch ? o->n_batch : 512;
    if (o->act_format && *o->act_format && !(l->actf = qb_format_find(o->act_format))) {
        free(l);
        return qb_fail(QB_EUSAGE, "unknown activation format '%s': give a registry format such as int8_sym_row or fp8_e4m3_pc", o->act_format);
    }
    if (l->n_batch > l->n_ctx) l->n_batch = l->n_ctx; /* a step never holds more tokens than the cache */
    st = read_hparams(l);
    int i;
    if (!st) st = need(m, "token_embd.weight", &i);
    if (!st) l->n_vocab = m->t[i].ne[1];
    if (!st) st = load_matrix(&c, "token_embd.weight", l->dim, l->n_vocab, &l->tok);
    if (!st) st = load_vector(&c, "output_norm.weight", l->dim, 1, &l->out_norm);
    if (!st && find_tensor(m, "output.weight") >= 0) st = load_matrix(&c, "output.weight", l->dim, l->n_vocab, &l->out);
    else if (!st) l->out = l->tok, l->out.owned = NULL; /* tied: freed once, through tok */
    if (!st && m->is_gguf) st = load_vector(&c, "rope_freqs.weight", l->rope.n_rot / 2, 0, &l->rope_freqs);
    if (!st && l->rope_freqs) l->rope.freq_factors = l->rope_freqs;
    if (!st) l->L = qb_calloc((size_t)l->n_layer, sizeof *l->L);
    for (int il = 0; il < l->n_layer && !st; il++) st = load_layer(&c, il);
    if (st) {
        qb_llama_free(l);
        return st;
    }
    size_t nb = (size_t)l->n_batch, ctx = (size_t)l->n_ctx;
    for (int il = 0; il < l->n_layer; il++) {
        l->L[il].kc = qb_malloc(sizeof(float) * ctx * (size_t)l->kv_dim);
        l->L[il].vc = qb_malloc(sizeof(float) * ctx * (size_t)l->kv_dim);
    }
    l->x = qb_malloc(sizeof(float) * nb * (size_t)l->dim);
    l->h = qb_malloc(sizeof(float) * nb * (size_t)l->dim);
    l->q = qb_malloc(sizeof(float) * nb * (size_t)l->dim);
    l->att = qb_malloc(sizeof(float) * nb * (size_t)l->dim);
    l->g = qb_malloc(sizeof(float) * nb * (size_t)l->n_ff);
    l->u = qb_malloc(sizeof(float) * nb * (size_t)l->n_ff);
    size_t nt = (size_t)(l->ref ? 1 : l->threads);
    l->s = qb_malloc(sizeof(float) * nt * nb * ctx);
    l->cs = qb_malloc(sizeof(float) * nb * (size_t)l->rope.n_rot);
    int64_t max_cols = l->n_ff > l->dim ? l->n_ff : l->dim;
    l->tile_values = max_cols > TILE_VALUES ? max_cols : TILE_VALUES;
    l->tile = qb_malloc(sizeof(float) * nt * (size_t)l->tile_values);
    l->act = qb_malloc(MAX_SHARED * nb * (l->act_bytes ? l->act_bytes : 1));
    l->xr = qb_malloc(sizeof(float) * nb * (size_t)max_cols);
    if (l->actf) {
        size_t b1, b2;
        qb_status ast = qb_format_bytes(l->actf, (int64_t)nb, l->dim, &b1);
        if (!ast) ast = qb_format_bytes(l->actf, (int64_t)nb, l->n_ff, &b2);
        if (ast) {
            ast = qb_fail(QB_EUSAGE, "activation format %s does not fit rows of %lld and %lld values (pick one whose block divides both)",
                          o->act_format, (long long)l->dim, (long long)l->n_ff);
            qb_llama_free(l);
            return ast;
        }
        l->aq = qb_malloc(b1 > b2 ? b1 : b2);
        l->xq = qb_malloc(sizeof(float) * nb * (size_t)max_cols);
    }
    /* not pinned (see the file comment) */
    if (!l->ref && l->threads > 1) l->team = qb_team_start(l->threads, 0, TEAM_IDLE_NS);
    *out = l;
    return QB_OK;
}

static void lw_free(lw *w) { free(w->owned); }

void qb_llama_free(qb_llama *l) {
    if (!l) return;
    qb_team_stop(l->team);
    for (int il = 0; l->L && il < l->n_layer; il++) {
        layer *y = &l->L[il];
        free(y->attn_norm), free(y->ffn_norm), free(y->bq), free(y->bk), free(y->bv), free(y->kc), free(y->vc);
        lw_free(&y->wq), lw_free(&y->wk), lw_free(&y->wv), lw_free(&y->wo), lw_free(&y->gate), lw_free(&y->up), lw_free(&y->down);
    }
    free(l->L);
    lw_free(&l->tok), lw_free(&l->out);
    free(l->out_norm), free(l->rope_freqs);
    free(l->x), free(l->h), free(l->q), free(l->att), free(l->g), free(l->u), free(l->s), free(l->cs), free(l->tile), free(l->act), free(l->gemv_scratch), free(l->xr);
    free(l->aq), free(l->xq);
    free(l);
}

int32_t qb_llama_n_vocab(const qb_llama *l) { return (int32_t)l->n_vocab; }
int32_t qb_llama_n_ctx_train(const qb_llama *l) { return l->n_ctx_train; }
uint64_t qb_llama_weight_bytes(const qb_llama *l) { return l->bytes; }
double qb_llama_bpw(const qb_llama *l) { return l->params ? 8.0 * (double)l->bytes / (double)l->params : 0.0; }
uint64_t qb_llama_n_params(const qb_llama *l) { return l->params; }

uint64_t qb_llama_token_bytes(const qb_llama *l, int n_past) {
    const int tied = l->out.data == l->tok.data;
    uint64_t tok_table = (uint64_t)l->tok.f->tensor_extra_bytes + (uint64_t)l->tok.rows * l->tok.rb;
    uint64_t b = l->bytes - (tied ? 0 : tok_table) + (tied ? 0 : l->tok.rb);
    return b + 2ull * (uint64_t)l->n_layer * (uint64_t)(n_past + 1) * (uint64_t)l->kv_dim * sizeof(float);
}
void qb_llama_reset(qb_llama *l) { l->n_past = 0; }
void qb_llama_set_capture(qb_llama *l, qb_llama_capture_fn fn, void *ctx) { l->capture = fn, l->capture_ctx = ctx; }

/* ---- weight rows ------------------------------------------------------------------------ */

/* Rows [r0, r0 + nr) of w as f32. A format with a per-tensor header needs it in front of the
 * rows it decodes, so those rows are copied behind a copy of the header first. */
static void lw_rows(const lw *w, int64_t r0, int64_t nr, float *y, int threads) {
    size_t hdr = (size_t)w->f->tensor_extra_bytes;
    const uint8_t *src = w->data + hdr + (size_t)r0 * w->rb;
    if (!hdr) {
        qb_format_dequantize_mt(w->f, src, y, nr, w->cols, threads);
        return;
    }
    uint8_t *tmp = qb_malloc(hdr + (size_t)nr * w->rb);
    memcpy(tmp, w->data, hdr);
    memcpy(tmp + hdr, src, (size_t)nr * w->rb);
    w->f->dequantize(tmp, y, nr, w->cols);
    free(tmp);
}

/* ---- the team: every parallel region of the fast path ---------------------------------- */

/* Runs fn(ctx, t, nt) on every member of the model's team, or once as member 0 of 1 on the
 * reference path and at one thread. */
static void team_run(const qb_llama *l, void (*fn)(void *ctx, int t, int nt), void *ctx) {
    if (l->team) qb_team_run(l->team, fn, ctx);
    else fn(ctx, 0, 1);
}

/* The same for an fn that takes its work from a shared counter (GEMV chunks, attention
 * heads): a member that has not begun when the caller is done is not waited for. */
static void team_pool(const qb_llama *l, void (*fn)(void *ctx, int t, int nt), void *ctx) {
    if (l->team) qb_team_run_pool(l->team, fn, ctx);
    else fn(ctx, 0, 1);
}

/* ---- matrix products: y[t·ldy + r] = Σ_c W[r][c]·a[t·cols + c] for n tokens ------------- */

/* The input of one or more products. ggml never multiplies a quantized (or f16/bf16) weight
 * with f32 activations: it first rounds them to the weight format's vec_dot_type (q8_0, q8_K,
 * f16, …). Both our paths do the same, so their arithmetic is the model as llama.cpp runs it:
 * the GEMV route hands the quantized rows to vec_dot, the sgemm and reference routes decode
 * them again to f32 (an exact image of the same values). xr holds that image, made once per
 * activation format for products sharing an input (q, k, v; gate, up). */
typedef struct act_in {
    const float *x;                /* [n][cols] f32 activations */
    int64_t n;
    const qb_format *rounded_as;   /* the format xr holds x rounded through, NULL: none yet */
} act_in;

/* One product of a group sharing an input: y[t·ldy + r] (+ bias[r]). */
typedef struct prod {
    const lw *w;
    float *y;
    int64_t ldy;
    const float *bias; /* [w->rows] or NULL */
} prod;

typedef struct round_job {
    qb_llama *l;
    const qb_format *f;
    const float *x;
    int64_t n, cols;
    size_t ab;
} round_job;

static void round_rows(void *p, int t, int nt) {
    const round_job *j = p;
    int64_t t0, t1;
    qb_team_share(j->n, 1, t, nt, &t0, &t1);
    for (; t0 < t1; t0++) {
        uint8_t *q = j->l->act + (size_t)t0 * j->ab;
        j->f->quantize(j->x + t0 * j->cols, q, 1, j->cols, NULL);
        j->f->dequantize(q, j->l->xr + t0 * j->cols, 1, j->cols);
    }
}

/* The activations as w's products see them: x itself, or x rounded through w->act into xr. */
static const float *act_for(qb_llama *l, const lw *w, act_in *in) {
    if (!w->act || strcmp(w->act->name, "f32") == 0) return in->x;
    if (in->rounded_as != w->act) {
        round_job j = {l, w->act, in->x, in->n, w->cols, 0};
        qb_format_bytes(w->act, 1, w->cols, &j.ab);
        if (in->n > 1) team_run(l, round_rows, &j);
        else round_rows(&j, 0, 1);
        in->rounded_as = w->act;
    }
    return l->xr;
}

static void mm_ref(qb_llama *l, const lw *w, act_in *in, float *y, int64_t ldy) {
    const float *x = act_for(l, w, in);
    float *wf = qb_malloc(sizeof(float) * (size_t)(w->rows * w->cols));
    lw_rows(w, 0, w->rows, wf, 1);
    for (int64_t t = 0; t < in->n; t++)
        for (int64_t r = 0; r < w->rows; r++) {
            const float *a = wf + r * w->cols, *b = x + t * w->cols;
            float s = 0.0f;
            for (int64_t k = 0; k < w->cols; k++) s += a[k] * b[k];
            y[t * ldy + r] = s;
        }
    free(wf);
}

/* A group's GEMV (formats/gemv.h: guided chunks of rows from one cursor, so the team's
 * members read equal bytes when they run alike and a late one holds no one up). Each product's
 * activation rows in its vec_dot_type; products with the same type share one quantization. */
static void mm_gemv(qb_llama *l, act_in *in, const prod *p, int np) {
    qb_gemv_mat m[MAX_SHARED];
    uint8_t *next = l->act;
    for (int i = 0; i < np; i++) {
        const lw *w = p[i].w;
        m[i] = (qb_gemv_mat){.f = w->f, .w = w->data, .rb = w->rb, .rows = w->rows, .cols = w->cols, .y = p[i].y, .ldy = p[i].ldy};
        qb_format_bytes(w->act, 1, w->cols, &m[i].ab);
        int k = 0;
        while (k < i && p[k].w->act != w->act) k++;
        if (k < i) { /* same vec_dot_type (and cols) as an earlier product: its rows */
            m[i].act = m[k].act;
            continue;
        }
        for (int64_t t = 0; t < in->n; t++) w->act->quantize(in->x + t * w->cols, next + (size_t)t * m[i].ab, 1, w->cols, NULL);
        m[i].act = next;
        next += (size_t)in->n * l->act_bytes;
    }
    const size_t sb = qb_gemv_scratch_bytes(m, np, in->n);
    if (sb > l->gemv_scratch_bytes) { /* grows to the largest group's, a few times a model */
        free(l->gemv_scratch);
        l->gemv_scratch = qb_malloc(sb);
        l->gemv_scratch_bytes = sb;
    }
    qb_gemv_job j;
    qb_gemv_init(&j, m, np, in->n, l->team ? qb_team_size(l->team) : 1, l->gemv_scratch);
    team_pool(l, qb_gemv_run, &j);
}

/* Member t of the sgemm route: its share of w's rows, a tile at a time, dequantized into its
 * own tile buffer and multiplied by single-threaded sgemm. Each member owns its rows from
 * decoding to product, so no member waits for another (OpenBLAS's own threads would spin
 * between our dequantizations and take their cores). */
typedef struct tiles_job {
    qb_llama *l;
    const lw *w;
    const float *x;
    int64_t n;
    float *y;
    int64_t ldy;
} tiles_job;

static void tiles_slice(void *p, int t, int nt) {
    const tiles_job *j = p;
    const lw *w = j->w;
    const qb_llama *l = j->l;
    const int n = (int)j->n, cols = (int)w->cols, ldy = (int)j->ldy;
    int64_t r, r_end;
    qb_team_share(w->rows, 1, t, nt, &r, &r_end);
    if (r == r_end) return;
    if (strcmp(w->f->name, "f32") == 0 && ((uintptr_t)w->data & 3) == 0) { /* stored f32: sgemm reads the map */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, (int)(r_end - r), cols, 1.0f, j->x, cols,
                    (const float *)w->data + r * cols, cols, 0.0f, j->y + r, ldy);
        return;
    }
    float *tile = l->tile + t * l->tile_values;
    for (int64_t tr = l->tile_values / cols; r < r_end; r += tr) {
        int64_t nr = r_end - r < tr ? r_end - r : tr;
        lw_rows(w, r, nr, tile, 1);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, (int)nr, cols, 1.0f, j->x, cols, tile, cols, 0.0f, j->y + r, ldy);
    }
}

typedef struct actq_job {
    qb_llama *l;
    const float *x;
    int64_t n, cols;
    size_t rb;
    int failed[QB_TEAM_MAX_THREADS];
} actq_job;

static void actq_slice(void *p, int t, int nt) {
    actq_job *j = p;
    const qb_format *f = j->l->actf;
    int64_t r0, r1;
    if (f->tensor_extra_bytes) { /* one scale over the whole input: member 0 alone */
        if (t) return;
        r0 = 0, r1 = j->n;
    } else {
        qb_team_share(j->n, 1, t, nt, &r0, &r1);
    }
    if (r0 == r1) return;
    const size_t off = f->tensor_extra_bytes ? 0 : (size_t)r0 * j->rb;
    j->failed[t] = f->quantize(j->x + r0 * j->cols, j->l->aq + off, r1 - r0, j->cols, NULL) != QB_OK;
    if (!j->failed[t]) f->dequantize(j->l->aq + off, j->l->xq + r0 * j->cols, r1 - r0, j->cols);
}

/* The input of blk.* products under act_format: x quantized and dequantized as one n × cols
 * tensor into xq, or x itself. A non-finite activation (which no scaled format encodes)
 * makes the whole input NaN, so the failure shows in the logits. */
static const float *act_quant(qb_llama *l, const float *x, int64_t n, int64_t cols) {
    if (!l->actf) return x;
    actq_job j = {.l = l, .x = x, .n = n, .cols = cols};
    qb_format_bytes(l->actf, 1, cols, &j.rb);
    team_run(l, actq_slice, &j);
    int failed = 0;
    for (int t = 0; t < QB_TEAM_MAX_THREADS; t++) failed |= j.failed[t];
    if (failed)
        for (int64_t i = 0; i < n * cols; i++) l->xq[i] = NAN;
    return l->xq;
}

/* The products of a group sharing the input `in` (q, k, v; gate, up; or one). */
static void mm(qb_llama *l, act_in *in, const prod *p, int np) {
    if (l->capture)
        for (int i = 0; i < np; i++) l->capture(l->capture_ctx, p[i].w->name, in->x, in->n, p[i].w->cols);
    int gemv = !l->ref && in->n <= VEC_MAX_TOKENS;
    for (int i = 0; i < np; i++) gemv &= p[i].w->act != NULL;
    if (gemv) {
        mm_gemv(l, in, p, np);
    } else {
        for (int i = 0; i < np; i++) {
            if (l->ref) {
                mm_ref(l, p[i].w, in, p[i].y, p[i].ldy);
                continue;
            }
            tiles_job j = {l, p[i].w, act_for(l, p[i].w, in), in->n, p[i].y, p[i].ldy};
            team_run(l, tiles_slice, &j);
        }
    }
    for (int i = 0; i < np; i++)
        if (p[i].bias)
            for (int64_t t = 0; t < in->n; t++)
                for (int64_t r = 0; r < p[i].w->rows; r++) p[i].y[t * p[i].ldy + r] += p[i].bias[r];
}

/* ---- per-token kernels, split over tokens (one thread on the reference path) ----------- */

typedef struct tok_job {
    qb_llama *l;
    const float *w;  /* norm weight */
    float *a, *b;    /* rows in / out */
    int64_t ld, p0;  /* row length; position of the batch's first token */
    int64_t n;       /* tokens */
    const layer *y;
} tok_job;

static void norm_rows(void *p, int t, int nt) {
    const tok_job *j = p;
    int64_t t0, t1;
    qb_team_share(j->n, 1, t, nt, &t0, &t1);
    for (; t0 < t1; t0++) qb_llama_rmsnorm(j->a + t0 * j->ld, j->w, j->b + t0 * j->ld, j->ld, j->l->eps);
}

static void rope_rows(void *p, int t, int nt) {
    const tok_job *j = p;
    const qb_llama *l = j->l;
    int64_t t0, t1;
    qb_team_share(j->n, 1, t, nt, &t0, &t1);
    for (; t0 < t1; t0++) {
        float *cs = l->cs + t0 * l->rope.n_rot;
        qb_llama_rope_cache(&l->rope, (int32_t)(j->p0 + t0), cs);
        qb_llama_rope(&l->rope, cs, l->q + t0 * l->dim, l->n_head, l->head_dim);
        qb_llama_rope(&l->rope, cs, j->y->kc + (j->p0 + t0) * l->kv_dim, l->n_head_kv, l->head_dim);
    }
}

/* SwiGLU is elementwise, so it is split by elements, in pieces of SWIGLU_PIECE taken from a
 * counter: one token's (an expf per value, ~20 µs at n_ff = 5632) is worth a region. */
typedef struct swiglu_job {
    float *g;
    const float *u;
    int64_t n;         /* values: tokens × n_ff */
    atomic_llong next; /* the next piece's first value */
} swiglu_job;

static void swiglu_slice(void *p, int t, int nt) {
    swiglu_job *j = p;
    (void)t, (void)nt;
    for (int64_t i; (i = atomic_fetch_add_explicit(&j->next, SWIGLU_PIECE, memory_order_relaxed)) < j->n;)
        qb_llama_swiglu(j->g + i, j->u + i, j->n - i < SWIGLU_PIECE ? j->n - i : SWIGLU_PIECE);
}

/* One token's RMSNorm or RoPE takes a few µs: a single token runs on the caller, no region. */
static void per_token(qb_llama *l, void (*fn)(void *, int, int), tok_job *j, int64_t n) {
    j->l = l, j->n = n;
    if (n > 1) team_run(l, fn, j);
    else fn(j, 0, 1);
}

/* ---- attention: att[t][h·hd..] for the n tokens after p0, over keys 0 .. p0 + t ---------- */

static void attn_ref(qb_llama *l, const layer *y, int64_t p0, int64_t n) {
    const int64_t hd = l->head_dim, group = l->n_head / l->n_head_kv;
    for (int64_t t = 0; t < n; t++)
        for (int64_t h = 0; h < l->n_head; h++) {
            const float *q = l->q + t * l->dim + h * hd;
            const int64_t kvo = (h / group) * hd, nk = p0 + t + 1;
            float *s = l->s;
            for (int64_t k = 0; k < nk; k++) {
                float d = 0.0f;
                for (int64_t i = 0; i < hd; i++) d += q[i] * y->kc[k * l->kv_dim + kvo + i];
                s[k] = d;
            }
            qb_llama_softmax(s, nk, nk, l->kq_scale);
            float *o = l->att + t * l->dim + h * hd;
            for (int64_t i = 0; i < hd; i++) o[i] = 0.0f;
            for (int64_t k = 0; k < nk; k++)
                for (int64_t i = 0; i < hd; i++) o[i] += s[k] * y->vc[k * l->kv_dim + kvo + i];
        }
}

/* Member t of the fast attention: heads from a shared counter, each with member t's score
 * buffer.
 * Up to VEC_MAX_TOKENS tokens, plain loops (eight partial sums, which the compiler keeps in
 * one vector register): one head's products are a few thousand flops, less than an sgemm
 * call's set-up. Beyond, two single-threaded sgemm products around a softmax. */
typedef struct attn_job {
    qb_llama *l;
    const layer *y;
    int64_t p0, n;
    atomic_int next; /* the next head to take */
} attn_job;

static float dot8(const float *a, const float *b, int n) {
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += a[i + k] * b[i + k];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static void attn_slice(void *p, int t, int nt) {
    attn_job *j = p;
    (void)nt;
    const qb_llama *l = j->l;
    const int hd = l->head_dim, group = l->n_head / l->n_head_kv, n = (int)j->n, nk = (int)(j->p0 + j->n), ld = (int)l->dim,
              kvld = (int)l->kv_dim;
    float *s = l->s + t * (int64_t)l->n_batch * l->n_ctx;
    for (int h; (h = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < l->n_head;) {
        const int kvo = (h / group) * hd;
        const float *kc = j->y->kc + kvo, *vc = j->y->vc + kvo;
        if (n <= VEC_MAX_TOKENS) {
            for (int i = 0; i < n; i++) {
                const float *q = l->q + (int64_t)i * ld + h * hd;
                const int nv = (int)j->p0 + i + 1;
                for (int k = 0; k < nv; k++) s[k] = dot8(q, kc + (int64_t)k * kvld, hd);
                qb_llama_softmax(s, nv, nv, l->kq_scale);
                float *o = l->att + (int64_t)i * ld + h * hd;
                for (int c = 0; c < hd; c++) o[c] = 0.0f;
                for (int k = 0; k < nv; k++)
                    for (int c = 0; c < hd; c++) o[c] += s[k] * vc[(int64_t)k * kvld + c];
            }
            continue;
        }
        /* S = Q_h·K_hᵀ (n × nk), softmax per row under the causal mask, att_h = S·V_h */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, nk, hd, 1.0f, l->q + h * hd, ld, kc, kvld, 0.0f, s, nk);
        for (int i = 0; i < n; i++) qb_llama_softmax(s + (int64_t)i * nk, j->p0 + i + 1, nk, l->kq_scale);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, hd, nk, 1.0f, s, nk, vc, kvld, 0.0f, l->att + h * hd, ld);
    }
}

static void attn_fast(qb_llama *l, const layer *y, int64_t p0, int64_t n) {
    attn_job j = {l, y, p0, n, 0};
    team_pool(l, attn_slice, &j);
}

/* ---- the forward pass ------------------------------------------------------------------- */

static void add_rows(float *x, const float *d, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] += d[i];
}

/* logits: n × n_vocab, or with last_only the last position's n_vocab (NULL: no output head,
 * for a batch before the last under last_only). */
static void forward(qb_llama *l, const int32_t *tokens, int64_t n, float *logits, int last_only) {
    const int64_t p0 = l->n_past, dim = l->dim;
    for (int64_t t = 0; t < n; t++) lw_rows(&l->tok, tokens[t], 1, l->x + t * dim, 1);
    for (int il = 0; il < l->n_layer; il++) {
        const layer *y = &l->L[il];
        tok_job j = {.w = y->attn_norm, .a = l->x, .b = l->h, .ld = dim};
        per_token(l, norm_rows, &j, n);
        act_in in = {act_quant(l, l->h, n, dim), n, NULL};
        /* k and v straight into the cache */
        mm(l, &in, (const prod[]){{&y->wq, l->q, dim, y->bq}, {&y->wk, y->kc + p0 * l->kv_dim, l->kv_dim, y->bk},
                                  {&y->wv, y->vc + p0 * l->kv_dim, l->kv_dim, y->bv}}, 3);
        j = (tok_job){.p0 = p0, .y = y};
        per_token(l, rope_rows, &j, n);
        if (l->ref) attn_ref(l, y, p0, n);
        else attn_fast(l, y, p0, n);
        in = (act_in){act_quant(l, l->att, n, dim), n, NULL};
        mm(l, &in, (const prod[]){{&y->wo, l->h, dim, NULL}}, 1);
        add_rows(l->x, l->h, n * dim);
        j = (tok_job){.w = y->ffn_norm, .a = l->x, .b = l->h, .ld = dim};
        per_token(l, norm_rows, &j, n);
        in = (act_in){act_quant(l, l->h, n, dim), n, NULL};
        mm(l, &in, (const prod[]){{&y->gate, l->g, l->n_ff, NULL}, {&y->up, l->u, l->n_ff, NULL}}, 2);
        swiglu_job sw = {l->g, l->u, n * l->n_ff, 0};
        team_pool(l, swiglu_slice, &sw);
        in = (act_in){act_quant(l, l->g, n, l->n_ff), n, NULL};
        mm(l, &in, (const prod[]){{&y->down, l->h, dim, NULL}}, 1);
        add_rows(l->x, l->h, n * dim);
    }
    l->n_past += (int32_t)n;
    if (!logits) return;
    const int64_t h0 = last_only ? n - 1 : 0; /* the first position the head is computed for */
    tok_job j = {.w = l->out_norm, .a = l->x + h0 * dim, .b = l->h + h0 * dim, .ld = dim};
    per_token(l, norm_rows, &j, n - h0);
    act_in in = {l->h + h0 * dim, n - h0, NULL};
    mm(l, &in, (const prod[]){{&l->out, logits, l->n_vocab, NULL}}, 1);
}

static qb_status eval_tokens(qb_llama *l, const int32_t *tokens, int n, float *logits, int last_only) {
    if (last_only && n < 1) return qb_fail(QB_EUSAGE, "qb_llama_eval_last needs at least one token, not %d", n);
    if (n < 0 || (int64_t)l->n_past + n > l->n_ctx)
        return qb_fail(QB_EINPUT, "%d more tokens after %d would exceed the context of %d tokens (raise n_ctx, or reset)", n, l->n_past,
                       l->n_ctx);
    for (int t = 0; t < n; t++)
        if (tokens[t] < 0 || tokens[t] >= l->n_vocab)
            return qb_fail(QB_EINPUT, "token %d at position %d is outside the vocabulary (0 to %lld)", tokens[t], l->n_past + t,
                           (long long)l->n_vocab - 1);
    /* our threads call sgemm each on its own rows or heads, so OpenBLAS itself runs one */
    int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    for (int t0 = 0; t0 < n; t0 += l->n_batch) {
        int nb = n - t0 < l->n_batch ? n - t0 : l->n_batch;
        float *out = !last_only ? logits + (size_t)t0 * (size_t)l->n_vocab : t0 + nb == n ? logits : NULL;
        forward(l, tokens + t0, nb, out, last_only);
    }
    openblas_set_num_threads(blas_threads);
    return QB_OK;
}

qb_status qb_llama_eval(qb_llama *l, const int32_t *tokens, int n, float *logits) { return eval_tokens(l, tokens, n, logits, 0); }

qb_status qb_llama_eval_last(qb_llama *l, const int32_t *tokens, int n, float *logits) { return eval_tokens(l, tokens, n, logits, 1); }
