/* smoothquant.c — see smoothquant.h. */
#include "smoothquant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/io.h"

void qb_smoothquant_scale(const double *x_absmax, const float *const *w, const int64_t *rows, int nw, int64_t cols, double alpha, float *s) {
    for (int64_t j = 0; j < cols; j++) {
        double wmax = 0;
        for (int k = 0; k < nw; k++)
            for (int64_t r = 0; r < rows[k]; r++) wmax = fmax(wmax, fabs((double)w[k][r * cols + j]));
        double v = pow(x_absmax[j], alpha) / pow(fmax(wmax, 1e-5), 1.0 - alpha);
        s[j] = (float)fmax(v, 1e-5);
    }
}

static qb_status group(const qb_model *m, const qb_calib *cal, double alpha, const char *const *names, int nw, const char *norm, qb_scales *out) {
    const qb_calib_stat *in = qb_calib_find(cal, names[0]);
    if (!in || in->count == 0) return qb_fail(QB_EINPUT, "smoothquant: no calibration statistics for '%s'", names[0]);
    const int64_t cols = in->cols;
    float *w[3] = {0}, *s = qb_malloc(sizeof *s * (size_t)cols);
    int64_t rows[3] = {0};
    qb_status st = qb_scales_load_group(m, "smoothquant", names, nw, cols, w, rows);
    if (!st) {
        qb_smoothquant_scale(in->absmax, (const float *const *)w, rows, nw, cols, alpha, s);
        for (int k = 0; k < nw; k++) {
            qb_scales_entry *e = qb_scales_entry_of(out, names[k]);
            e->mul_cols = qb_malloc(sizeof *s * (size_t)cols), e->n_cols = cols;
            memcpy(e->mul_cols, s, sizeof *s * (size_t)cols);
        }
        qb_scales_entry *e = qb_scales_entry_of(out, norm);
        e->div = s, e->n_cols = cols;
        s = NULL;
    }
    for (int k = 0; k < nw; k++) free(w[k]);
    free(s);
    return st;
}

qb_status qb_smoothquant_search(const qb_model *m, const qb_calib *cal, double alpha, qb_scales *out) {
    memset(out, 0, sizeof *out);
    qb_status st = QB_OK;
    for (int l = 0; l < m->info.n_layer && !st; l++) {
        char q[64], k[64], v[64], an[64], g[64], u[64], fn[64];
        snprintf(q, sizeof q, "blk.%d.attn_q.weight", l), snprintf(k, sizeof k, "blk.%d.attn_k.weight", l);
        snprintf(v, sizeof v, "blk.%d.attn_v.weight", l), snprintf(an, sizeof an, "blk.%d.attn_norm.weight", l);
        snprintf(g, sizeof g, "blk.%d.ffn_gate.weight", l), snprintf(u, sizeof u, "blk.%d.ffn_up.weight", l);
        snprintf(fn, sizeof fn, "blk.%d.ffn_norm.weight", l);
        const char *qkv[] = {q, k, v}, *gu[] = {g, u};
        st = group(m, cal, alpha, qkv, 3, an, out);
        if (!st) st = group(m, cal, alpha, gu, 2, fn, out);
    }
    if (st) qb_scales_free(out);
    return st;
}
