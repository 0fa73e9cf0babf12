/* calib.h — calibration statistics of a model's matrix products: what calibration-aware
 * quantization (FORMATS.md §9.2–9.4, §10.3) needs to know about the activations each weight
 * matrix is multiplied by, gathered by running the model (evals/llama.h's capture hook) over
 * calibration text in chunks of n_ctx tokens, as llama-imatrix does.
 *
 * Per distinct input (the rows q, k and v share are one input; so are gate's and up's), over
 * all calibration tokens x (cols values each):
 *   count    tokens seen;
 *   sum2[j]  Σ x_j²       (llama.cpp's imatrix: importance = sum2 / count);
 *   sumabs[j] Σ |x_j|     (AWQ's activation magnitude = sumabs / count);
 *   absmax[j] max |x_j|   (SmoothQuant's max|X_j|);
 *   h        Σ x xᵀ, cols × cols, when asked for (GPTQ's Hessian up to the factor 2/N, which
 *            GPTQ's dampening and solution do not depend on).
 * Sums are in double, so their value does not depend on how tokens are batched beyond double
 * rounding.
 *
 * Invariants:
 *  1. Products that share an input share one statistic: the hook sees them consecutively with
 *     the same activations (same buffer, same contents) the first time they run, and that
 *     pairing is kept for the rest of the run; only the first of a group accumulates, so
 *     shared inputs count once.
 *  2. Only weights named blk.* are collected (llama-imatrix's default), plus output.weight when
 *     process_output is set. */
#ifndef QB_CALIB_H
#define QB_CALIB_H

#include <stdint.h>

#include "../common/qb.h"
#include "../datasets/imatrix.h"
#include "llama.h"

typedef struct qb_calib_stat {
    int64_t cols, count;
    double *sum2, *sumabs, *absmax; /* [cols] */
    double *h;                      /* [cols][cols] Σ x xᵀ (full, symmetric) or NULL */
} qb_calib_stat;

typedef struct qb_calib_weight {
    char *name;
    int stat; /* index into s */
} qb_calib_weight;

typedef struct qb_calib {
    int hessian, process_output;
    int n_w, n_s;
    qb_calib_weight *w;
    qb_calib_stat *s;
    int64_t chunks, chunk_size; /* what was run */
    double collect_s;           /* seconds spent running the model and accumulating */
    /* the previous call of the hook (invariant 1) */
    const float *last_x;
    uint64_t last_hash; /* of its contents */
    int64_t last_cols;
    int last_w;
} qb_calib;

void qb_calib_init(qb_calib *c, int hessian, int process_output);
void qb_calib_free(qb_calib *c);
/* The capture hook (qb_llama_capture_fn) with ctx = a qb_calib. */
void qb_calib_capture(void *ctx, const char *weight, const float *x, int64_t n, int64_t cols);
/* Runs l over floor(n_ids / n_ctx) chunks of n_ctx tokens (at most max_chunks, ≤ 0: all), each
 * from an empty KV cache with its first token replaced by bos when bos ≥ 0 (llama-imatrix's
 * chunks), collecting into c. QB_EINPUT when fewer than n_ctx tokens are given. */
qb_status qb_calib_run(qb_calib *c, qb_llama *l, const int32_t *ids, int64_t n_ids, int n_ctx, int max_chunks, int32_t bos);
/* Calibration token ids: the UTF-8 file text_path tokenized with m's GGUF tokenizer (whole
 * file, BOS added as llama.cpp adds it) or the ids file tokens_path (datasets/tokenizer.h);
 * *bos = the BOS id each chunk starts with, or −1 (no tokenizer, or none added). */
qb_status qb_calib_tokens(const qb_model *m, const char *text_path, const char *tokens_path, int32_t **ids, size_t *n, int32_t *bos);
/* The statistic of a weight, NULL when it was not collected. */
const qb_calib_stat *qb_calib_find(const qb_calib *c, const char *weight);
/* The collected statistics as an importance matrix (one entry per weight, values sum2/count,
 * counts = tokens), with dataset and chunk fields filled. */
void qb_calib_to_imatrix(const qb_calib *c, const char *dataset, qb_imatrix *im);

#endif
