/* awq.c — see awq.h. */
#include "awq.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/io.h"
#include "../formats/mixes.h"

#define AWQ_GRID 20

/* Σ_rows Δw H Δwᵀ for Δ = w − Q(w·diag(s))·diag(s)⁻¹ (rows × cols). */
static qb_status awq_loss(const qb_format *f, const float *w, int64_t rows, int64_t cols, const float *s, const double *h, double *loss) {
    size_t nb;
    qb_status st = qb_format_bytes(f, rows, cols, &nb);
    if (st) return st;
    float *ws = qb_malloc(sizeof *ws * (size_t)(rows * cols));
    uint8_t *q = qb_malloc(nb);
    double *d = qb_malloc(sizeof *d * (size_t)(rows * cols)), *p = qb_malloc(sizeof *p * (size_t)(rows * cols));
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < cols; j++) ws[r * cols + j] = w[r * cols + j] * s[j];
    st = f->quantize(ws, q, rows, cols, NULL);
    if (!st) {
        f->dequantize(q, ws, rows, cols);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < cols; j++) d[r * cols + j] = (double)w[r * cols + j] - (double)ws[r * cols + j] / (double)s[j];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)cols, (int)cols, 1.0, d, (int)cols, h, (int)cols, 0.0, p,
                    (int)cols);
        double l = 0;
        for (int64_t i = 0; i < rows * cols; i++) l += d[i] * p[i];
        *loss += l;
    }
    free(ws), free(q), free(d), free(p);
    return st;
}

qb_status qb_awq_scale(const qb_format *f, const float *const *w, const int64_t *rows, int nw, int64_t cols, const double *a,
                       const double *h, float *s, double *alpha, double *loss, double *loss_rtn) {
    float *cand = qb_malloc(sizeof *cand * (size_t)cols);
    qb_status st = QB_OK;
    *loss = INFINITY;
    for (int gi = 0; gi < AWQ_GRID && !st; gi++) {
        const double al = (double)gi / AWQ_GRID;
        double mx = 0, mn = INFINITY, l = 0;
        for (int64_t j = 0; j < cols; j++) {
            double v = pow(a[j], al);
            v = v > 1e-4 ? v : 1e-4;
            cand[j] = (float)v;
            mx = fmax(mx, v), mn = fmin(mn, v);
        }
        const double norm = sqrt(mx * mn);
        for (int64_t j = 0; j < cols; j++) cand[j] = (float)(cand[j] / norm);
        for (int k = 0; k < nw && !st; k++) st = awq_loss(f, w[k], rows[k], cols, cand, h, &l);
        if (st) break;
        if (gi == 0) *loss_rtn = l;
        if (l < *loss) { /* strict: ties keep the smaller α (α = 0: RTN itself) */
            *loss = l, *alpha = al;
            memcpy(s, cand, sizeof *s * (size_t)cols);
        }
    }
    free(cand);
    return st;
}

/* ---- the model -------------------------------------------------------------------------- */

static float *copy_scales(const float *s, int64_t n) {
    float *c = qb_malloc(sizeof *c * (size_t)n);
    memcpy(c, s, sizeof *c * (size_t)n);
    return c;
}

/* One group: linears names[0..nw) sharing their input; the scales then go to `norm`'s weight
 * (÷) or, when norm is NULL, to prev's rows (÷). */
static qb_status search_group(const qb_model *m, const qb_calib *cal, const qb_format *f, const char *const *names, int nw, const char *norm,
                              const char *prev, qb_scales *out) {
    const qb_calib_stat *st_in = qb_calib_find(cal, names[0]);
    if (!st_in || !st_in->h || st_in->count == 0)
        return qb_fail(QB_EINPUT, "awq: no calibration statistics (with a Hessian) for '%s'", names[0]);
    const int64_t cols = st_in->cols;
    float *w[3] = {0};
    int64_t rows[3] = {0};
    qb_status st = qb_scales_load_group(m, "awq", names, nw, cols, w, rows);
    double *a = qb_malloc(sizeof *a * (size_t)cols), alpha = 0, loss = 0, loss_rtn = 0;
    float *s = qb_malloc(sizeof *s * (size_t)cols);
    for (int64_t j = 0; j < cols; j++) a[j] = st_in->sumabs[j] / (double)st_in->count;
    /* the format each tensor really gets: a row that is not whole blocks falls back as at load */
    if (!st) st = qb_awq_scale(qb_mix_fallback(f, cols), (const float *const *)w, rows, nw, cols, a, st_in->h, s, &alpha, &loss, &loss_rtn);
    if (!st) {
        out->loss += loss, out->loss_rtn += loss_rtn;
        for (int k = 0; k < nw; k++) {
            qb_scales_entry *e = qb_scales_entry_of(out, names[k]);
            e->mul_cols = copy_scales(s, cols), e->n_cols = cols;
        }
        qb_scales_entry *e = qb_scales_entry_of(out, norm ? norm : prev);
        if (norm) e->div = copy_scales(s, cols), e->n_cols = cols;
        else e->div_rows = copy_scales(s, cols), e->n_rows = cols; /* prev's outputs are this input */
    }
    for (int k = 0; k < nw; k++) free(w[k]);
    free(a), free(s);
    return st;
}

qb_status qb_awq_search(const qb_model *m, const qb_calib *cal, const qb_format *f, qb_scales *out) {
    memset(out, 0, sizeof *out);
    qb_status st = QB_OK;
    for (int l = 0; l < m->info.n_layer && !st; l++) {
        char q[64], k[64], v[64], an[64], g[64], u[64], fn[64], d[64];
        snprintf(q, sizeof q, "blk.%d.attn_q.weight", l), snprintf(k, sizeof k, "blk.%d.attn_k.weight", l);
        snprintf(v, sizeof v, "blk.%d.attn_v.weight", l), snprintf(an, sizeof an, "blk.%d.attn_norm.weight", l);
        snprintf(g, sizeof g, "blk.%d.ffn_gate.weight", l), snprintf(u, sizeof u, "blk.%d.ffn_up.weight", l);
        snprintf(fn, sizeof fn, "blk.%d.ffn_norm.weight", l), snprintf(d, sizeof d, "blk.%d.ffn_down.weight", l);
        const char *qkv[] = {q, k, v}, *gu[] = {g, u}, *dn[] = {d};
        st = search_group(m, cal, f, qkv, 3, an, NULL, out);
        if (!st) st = search_group(m, cal, f, gu, 2, fn, NULL, out);
        if (!st) st = search_group(m, cal, f, dn, 1, NULL, u, out);
    }
    if (st) qb_scales_free(out);
    return st;
}
