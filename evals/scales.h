/* scales.h — per-channel scale plans folded into a model as it loads (evals/llama.h's quant
 * and fold hooks): the weight input columns of a linear multiplied by s, and the op that
 * produces that input divided by s — a norm weight, or the rows of the linear before it — so
 * the products are unchanged in real arithmetic while the weights to quantize change. AWQ
 * (awq.h) and SmoothQuant (smoothquant.h) each compute such a plan.
 *
 * Invariants:
 *  1. Folding is exact in real arithmetic: a plan applied to a model quantized by an identity-
 *     like format gives its logits within that format's rounding (tests/test_awq.c). */
#ifndef QB_SCALES_H
#define QB_SCALES_H

#include <stdint.h>

#include "../common/qb.h"
#include "../datasets/model.h"
#include "../formats/format.h"

typedef struct qb_scales_entry {
    char *tensor;
    int64_t n_cols, n_rows;
    float *mul_cols; /* matrix: input columns × mul_cols[j] (n_cols), or NULL */
    float *div_rows; /* matrix: rows ÷ div_rows[r] (n_rows), or NULL */
    float *div;      /* vector (norm weight): ÷ div[j] (n_cols), or NULL */
} qb_scales_entry;

typedef struct qb_scales {
    int n;
    qb_scales_entry *e;
    double loss, loss_rtn; /* the search's own figures, Σ over its groups (AWQ) */
} qb_scales;

/* The weights of the nw (≤ 3) linears that read one input (q/k/v, gate/up, …) as f32:
 * w[k] = rows[k] × cols, each freed by the caller (also on failure). QB_EINPUT naming the
 * model and `method` when a tensor is missing or its rows are not cols long. */
qb_status qb_scales_load_group(const qb_model *m, const char *method, const char *const *names, int nw, int64_t cols, float *w[3],
                               int64_t rows[3]);
/* The entry of a tensor, added empty when absent. */
qb_scales_entry *qb_scales_entry_of(qb_scales *p, const char *tensor);
void qb_scales_free(qb_scales *p);
/* evals/llama.h hooks with ctx = a qb_scales: the quantizer (the plan's scales, then f's own
 * quantize) and the vector fold. */
qb_status qb_scales_quant(void *ctx, const char *tensor, const qb_format *f, const float *x, void *q, int64_t rows, int64_t cols,
                          int threads);
void qb_scales_fold(void *ctx, const char *tensor, float *v, int64_t n);

#endif
