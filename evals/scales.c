/* scales.c — see scales.h. */
#include "scales.h"

#include <stdlib.h>
#include <string.h>

#include "../common/io.h"

qb_scales_entry *qb_scales_entry_of(qb_scales *a, const char *tensor) {
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->e[i].tensor, tensor) == 0) return &a->e[i];
    a->e = qb_realloc(a->e, sizeof *a->e * (size_t)(a->n + 1));
    a->e[a->n] = (qb_scales_entry){.tensor = qb_strdup(tensor)};
    return &a->e[a->n++];
}

void qb_scales_free(qb_scales *a) {
    for (int i = 0; i < a->n; i++) free(a->e[i].tensor), free(a->e[i].mul_cols), free(a->e[i].div_rows), free(a->e[i].div);
    free(a->e);
    memset(a, 0, sizeof *a);
}

static const qb_scales_entry *find(const qb_scales *a, const char *tensor) {
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->e[i].tensor, tensor) == 0) return &a->e[i];
    return NULL;
}

qb_status qb_scales_quant(void *ctx, const char *tensor, const qb_format *f, const float *x, void *q, int64_t rows, int64_t cols,
                          int threads) {
    const qb_scales_entry *e = find(ctx, tensor);
    if (!e || (!e->mul_cols && !e->div_rows)) return qb_format_quantize_mt(f, x, q, rows, cols, NULL, threads);
    if ((e->mul_cols && e->n_cols != cols) || (e->div_rows && e->n_rows != rows))
        return qb_fail(QB_EINPUT, "scales: plan for '%s' are for %lld x %lld, the tensor is %lld x %lld", tensor, (long long)e->n_rows,
                       (long long)e->n_cols, (long long)rows, (long long)cols);
    float *xs = qb_malloc(sizeof *xs * (size_t)(rows * cols));
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < cols; j++)
            xs[r * cols + j] = x[r * cols + j] * (e->mul_cols ? e->mul_cols[j] : 1.0f) / (e->div_rows ? e->div_rows[r] : 1.0f);
    qb_status st = qb_format_quantize_mt(f, xs, q, rows, cols, NULL, threads);
    free(xs);
    return st;
}

void qb_scales_fold(void *ctx, const char *tensor, float *v, int64_t n) {
    const qb_scales_entry *e = find(ctx, tensor);
    if (!e || !e->div || e->n_cols != n) return;
    for (int64_t j = 0; j < n; j++) v[j] /= e->div[j];
}

qb_status qb_scales_load_group(const qb_model *m, const char *method, const char *const *names, int nw, int64_t cols, float *w[3],
                               int64_t rows[3]) {
    qb_status st = QB_OK;
    for (int k = 0; k < nw && !st; k++) {
        int i = -1;
        for (int t = 0; t < m->n && i < 0; t++)
            if (strcmp(m->t[t].name, names[k]) == 0) i = t;
        if (i < 0 || m->t[i].ne[0] != cols)
            return qb_fail(QB_EINPUT, "%s: %s needs tensor '%s' with %lld columns", m->path, method, names[k], (long long)cols);
        rows[k] = m->t[i].ne[1];
        w[k] = qb_malloc(sizeof(float) * (size_t)(rows[k] * cols));
        st = qb_model_rows_f32(m, i, 0, rows[k], w[k]);
    }
    return st;
}
