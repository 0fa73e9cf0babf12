/* calib.c — see calib.h. */
#include "calib.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/io.h"
#include "../datasets/tokenizer.h"
#include "perplexity.h"

void qb_calib_init(qb_calib *c, int hessian, int process_output) {
    memset(c, 0, sizeof *c);
    c->hessian = hessian;
    c->process_output = process_output;
    c->last_w = -1;
}

void qb_calib_free(qb_calib *c) {
    for (int i = 0; i < c->n_w; i++) free(c->w[i].name);
    for (int i = 0; i < c->n_s; i++) free(c->s[i].sum2), free(c->s[i].sumabs), free(c->s[i].absmax), free(c->s[i].h);
    free(c->w);
    free(c->s);
    memset(c, 0, sizeof *c);
}

static int find_weight(const qb_calib *c, const char *name) {
    for (int i = 0; i < c->n_w; i++)
        if (strcmp(c->w[i].name, name) == 0) return i;
    return -1;
}

static int new_stat(qb_calib *c, int64_t cols) {
    c->s = qb_realloc(c->s, sizeof *c->s * (size_t)(c->n_s + 1));
    qb_calib_stat *s = &c->s[c->n_s];
    *s = (qb_calib_stat){.cols = cols};
    s->sum2 = qb_calloc((size_t)cols, sizeof(double));
    s->sumabs = qb_calloc((size_t)cols, sizeof(double));
    s->absmax = qb_calloc((size_t)cols, sizeof(double));
    if (c->hessian) s->h = qb_calloc((size_t)(cols * cols), sizeof(double));
    return c->n_s++;
}

static void accumulate(qb_calib_stat *s, const float *x, int64_t n) {
    const int64_t cols = s->cols;
    for (int64_t t = 0; t < n; t++)
        for (int64_t j = 0; j < cols; j++) {
            const double v = x[t * cols + j], a = fabs(v);
            s->sum2[j] += v * v;
            s->sumabs[j] += a;
            if (a > s->absmax[j]) s->absmax[j] = a;
        }
    if (s->h) { /* H += XᵀX: the upper triangle by dsyrk on a double copy, mirrored at the end */
        double *xd = qb_malloc(sizeof *xd * (size_t)(n * cols));
        for (int64_t i = 0; i < n * cols; i++) xd[i] = x[i];
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)cols, (int)n, 1.0, xd, (int)cols, 1.0, s->h, (int)cols);
        free(xd);
    }
    s->count += n;
}

void qb_calib_capture(void *ctx, const char *weight, const float *x, int64_t n, int64_t cols) {
    qb_calib *c = ctx;
    if (strncmp(weight, "blk.", 4) != 0 && !(c->process_output && strcmp(weight, "output.weight") == 0)) return; /* invariant 2 */
    int w = find_weight(c, weight), leader;
    /* the buffer alone does not identify an input (act_format reuses one for every product) */
    const uint64_t h = qb_fnv1a(QB_FNV_INIT, x, sizeof *x * (size_t)(n * cols));
    if (w < 0) { /* first sight: the same input as the previous product, or a new one (invariant 1) */
        int shared = c->last_w >= 0 && c->last_x == x && c->last_cols == cols && c->last_hash == h;
        c->w = qb_realloc(c->w, sizeof *c->w * (size_t)(c->n_w + 1));
        c->w[c->n_w] = (qb_calib_weight){qb_strdup(weight), shared ? c->w[c->last_w].stat : new_stat(c, cols)};
        w = c->n_w++;
    }
    /* the first weight registered on a statistic is its leader: it alone accumulates */
    leader = 1;
    for (int i = 0; i < w; i++) leader &= c->w[i].stat != c->w[w].stat;
    if (leader) accumulate(&c->s[c->w[w].stat], x, n);
    c->last_x = x, c->last_cols = cols, c->last_w = w, c->last_hash = h;
}

qb_status qb_calib_run(qb_calib *c, qb_llama *l, const int32_t *ids, int64_t n_ids, int n_ctx, int max_chunks, int32_t bos) {
    if (n_ctx < 1 || n_ids < n_ctx)
        return qb_fail(QB_EINPUT, "calibration needs at least one chunk of %d tokens, the text has %lld (give a longer text or a smaller --ctx)",
                       n_ctx, (long long)n_ids);
    int64_t chunks = n_ids / n_ctx;
    if (max_chunks > 0 && chunks > max_chunks) chunks = max_chunks;
    const qb_ppl_plan plan = {.n_ctx = n_ctx, .n_chunks = (int)chunks};
    const int V = qb_llama_n_vocab(l);
    int32_t *tok = qb_malloc(sizeof *tok * (size_t)n_ctx);
    float *logits = qb_malloc(sizeof *logits * (size_t)n_ctx * (size_t)V);
    qb_status st = QB_OK;
    const int64_t t0 = qb_now_ns();
    qb_llama_set_capture(l, qb_calib_capture, c);
    for (int ch = 0; ch < plan.n_chunks && !st; ch++) {
        if (qb_interrupted) {
            st = qb_fail(QB_ERUNTIME, "interrupted during calibration");
            break;
        }
        char line[96];
        snprintf(line, sizeof line, "calibration: chunk %d/%d", ch + 1, plan.n_chunks);
        qb_progress(ch, plan.n_chunks, line);
        qb_ppl_chunk_tokens(&plan, ids, ch, bos, tok);
        qb_llama_reset(l);
        c->last_x = NULL, c->last_w = -1; /* pairing is decided within one forward step */
        st = qb_llama_eval(l, tok, n_ctx, logits);
    }
    qb_llama_set_capture(l, NULL, NULL);
    qb_progress_done();
    /* mirror the Hessians' upper triangles */
    for (int i = 0; i < c->n_s && !st; i++) {
        qb_calib_stat *s = &c->s[i];
        for (int64_t a = 0; s->h && a < s->cols; a++)
            for (int64_t b = 0; b < a; b++) s->h[a * s->cols + b] = s->h[b * s->cols + a];
    }
    c->chunks += plan.n_chunks;
    c->chunk_size = n_ctx;
    c->collect_s += (double)(qb_now_ns() - t0) / 1e9;
    free(tok);
    free(logits);
    return st;
}

const qb_calib_stat *qb_calib_find(const qb_calib *c, const char *weight) {
    int w = find_weight(c, weight);
    return w < 0 ? NULL : &c->s[c->w[w].stat];
}

void qb_calib_to_imatrix(const qb_calib *c, const char *dataset, qb_imatrix *im) {
    memset(im, 0, sizeof *im);
    for (int i = 0; i < c->n_w; i++) {
        const qb_calib_stat *s = &c->s[c->w[i].stat];
        qb_imatrix_entry *e = qb_imatrix_add(im, c->w[i].name, s->cols, 1);
        e->counts[0] = (float)s->count;
        for (int64_t j = 0; j < s->cols; j++) e->values[j] = s->count ? (float)(s->sum2[j] / (double)s->count) : 1.0f;
    }
    im->dataset = dataset ? qb_strdup(dataset) : NULL;
    im->chunks = c->chunks;
    im->chunk_size = c->chunk_size;
}

qb_status qb_calib_tokens(const qb_model *m, const char *text_path, const char *tokens_path, int32_t **ids, size_t *n, int32_t *bos) {
    *ids = NULL, *n = 0, *bos = -1;
    if (!text_path) {
        qb_status st = qb_tokens_read(tokens_path, ids, n);
        qb_tokenizer *tok;
        if (!st && m->is_gguf && qb_tokenizer_from_gguf(&m->g, m->path, &tok) == QB_OK) { /* ids need none, but keep its BOS rule */
            if (qb_tokenizer_add_bos(tok)) *bos = qb_tokenizer_bos(tok);
            qb_tokenizer_free(tok);
        }
        return st;
    }
    if (!m->is_gguf)
        return qb_fail(QB_EUSAGE, "%s is not a GGUF file, so its tokenizer is unknown here: give --tokens FILE (ids from the model's own tokenizer)", m->path);
    qb_map map;
    qb_status st = qb_map_file(&map, text_path);
    if (st) return qb_fail_context(st, "--text: ");
    qb_tokenizer *tok = NULL;
    if (map.size == 0) st = qb_fail(QB_EINPUT, "text file '%s' is empty", text_path);
    if (!st) st = qb_tokenizer_from_gguf(&m->g, m->path, &tok);
    if (!st) st = qb_tokenize(tok, map.data, map.size, 1, ids, n);
    if (!st && qb_tokenizer_add_bos(tok)) *bos = qb_tokenizer_bos(tok);
    if (tok) qb_tokenizer_free(tok);
    qb_unmap(&map);
    return st;
}
