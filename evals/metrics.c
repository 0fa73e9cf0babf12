/* metrics.c — see metrics.h. Sums run in double: with 2^24+ float terms a float sum loses
 * the small errors of good formats entirely. */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/qb.h"

void qb_erracc_init(qb_erracc *a) { memset(a, 0, sizeof *a); }

/* Bin of |e| from its float bits: exponent and the top 3 mantissa bits (8 bins per octave). */
static int bin_of(float e) {
    uint32_t u;
    memcpy(&u, &e, 4);
    u &= 0x7fffffff;
    int b = (int)(u >> 20) - ((127 + QB_HIST_OCT_LO) << 3) + 1;
    return b < 1 ? 0 : b > QB_HIST_BINS ? QB_HIST_BINS + 1 : b;
}

void qb_erracc_add(qb_erracc *a, const float *x, const float *y, int64_t n) {
    double see = 0, sxx = 0, syy = 0, sxy = 0, maxe = a->maxe;
    for (int64_t i = 0; i < n; i++) {
        double xi = x[i], yi = y[i], e = xi - yi;
        see += e * e;
        sxx += xi * xi;
        syy += yi * yi;
        sxy += xi * yi;
        double ae = fabs(e);
        if (ae > maxe || ae != ae) maxe = ae != ae ? INFINITY : ae;
        a->hist[ae != ae ? QB_HIST_BINS + 1 : bin_of((float)ae)]++;
    }
    a->see += see, a->sxx += sxx, a->syy += syy, a->sxy += sxy, a->maxe = maxe;
    a->n += n;
}

void qb_erracc_merge(qb_erracc *into, const qb_erracc *from) {
    into->n += from->n;
    into->see += from->see, into->sxx += from->sxx, into->syy += from->syy, into->sxy += from->sxy;
    if (from->maxe > into->maxe || from->maxe != from->maxe) into->maxe = from->maxe;
    for (int b = 0; b < QB_HIST_BINS + 2; b++) into->hist[b] += from->hist[b];
}

/* Geometric middle of the bin holding the q-quantile (0 for the zero bin, Inf for overflow). */
static double percentile(const qb_erracc *a, double q) {
    if (a->n == 0) return NAN;
    int64_t rank = (int64_t)ceil(q * (double)a->n), seen = 0;
    if (rank < 1) rank = 1;
    for (int b = 0; b < QB_HIST_BINS + 2; b++) {
        seen += a->hist[b];
        if (seen >= rank) {
            if (b == 0) return 0.0;
            if (b == QB_HIST_BINS + 1) return INFINITY;
            return exp2((double)QB_HIST_OCT_LO + ((double)(b - 1) + 0.5) / 8.0);
        }
    }
    return INFINITY;
}

void qb_erracc_stats(const qb_erracc *a, qb_errstats *out) {
    out->n = a->n;
    out->mse = a->n ? a->see / (double)a->n : NAN;
    out->rmse = sqrt(out->mse);
    out->max_abs = a->maxe;
    if (a->see == 0.0) out->sqnr_db = a->sxx > 0.0 ? INFINITY : NAN;
    else out->sqnr_db = 10.0 * log10(a->sxx / a->see);
    /* one sqrt of the product: x̂ = x then gives exactly 1 */
    out->cosine = (a->sxx > 0.0 && a->syy > 0.0) ? a->sxy / sqrt(a->sxx * a->syy) : NAN;
    out->p50_abs = percentile(a, 0.50);
    out->p95_abs = percentile(a, 0.95);
    out->p99_abs = percentile(a, 0.99);
    out->p999_abs = percentile(a, 0.999);
}

char *qb_erracc_hist_json(const qb_erracc *a) {
    size_t cap = 64 + 21 * (QB_HIST_BINS + 2), k = 0;
    char *s = qb_malloc(cap);
    k += (size_t)snprintf(s + k, cap - k, "{\"bins_per_octave\":8,\"first_octave\":%d,\"counts\":[", QB_HIST_OCT_LO);
    for (int b = 0; b < QB_HIST_BINS + 2; b++) k += (size_t)snprintf(s + k, cap - k, "%s%lld", b ? "," : "", (long long)a->hist[b]);
    snprintf(s + k, cap - k, "]}");
    return s;
}

void qb_error_stats(const float *x, const float *y, int64_t n, qb_errstats *out) {
    qb_erracc *a = qb_malloc(sizeof *a);
    qb_erracc_init(a);
    qb_erracc_add(a, x, y, n);
    qb_erracc_stats(a, out);
    free(a);
}
