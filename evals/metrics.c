/* metrics.c — see metrics.h. Sums run in double: with 2^24+ float terms a float sum loses
 * the small errors of good formats entirely. */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

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

char *qb_erracc_json(const qb_erracc *a) {
    size_t cap = 256 + 21 * (QB_HIST_BINS + 2), k = 0;
    char *s = qb_malloc(cap);
    k += (size_t)snprintf(s + k, cap - k,
                          "{\"n\":%lld,\"see\":%.17g,\"sxx\":%.17g,\"syy\":%.17g,\"sxy\":%.17g,\"max\":%.17g,"
                          "\"bins_per_octave\":8,\"first_octave\":%d,\"counts\":[",
                          (long long)a->n, a->see, a->sxx, a->syy, a->sxy, isfinite(a->maxe) ? a->maxe : 1e308, QB_HIST_OCT_LO);
    for (int b = 0; b < QB_HIST_BINS + 2; b++) k += (size_t)snprintf(s + k, cap - k, "%s%lld", b ? "," : "", (long long)a->hist[b]);
    snprintf(s + k, cap - k, "]}");
    return s;
}

int qb_erracc_from_json(qb_erracc *a, const char *json) {
    qb_erracc_init(a);
    cJSON *j = json ? cJSON_Parse(json) : NULL;
    const cJSON *counts = cJSON_GetObjectItemCaseSensitive(j, "counts");
    int ok = cJSON_GetArraySize(counts) == QB_HIST_BINS + 2;
    const char *keys[] = {"n", "see", "sxx", "syy", "sxy", "max"};
    double v[6] = {0};
    for (int k = 0; ok && k < 6; k++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, keys[k]);
        ok = cJSON_IsNumber(x);
        if (ok) v[k] = x->valuedouble;
    }
    int b = 0;
    for (const cJSON *c = counts ? counts->child : NULL; ok && c; c = c->next) a->hist[b++] = (int64_t)c->valuedouble;
    if (ok) a->n = (int64_t)v[0], a->see = v[1], a->sxx = v[2], a->syy = v[3], a->sxy = v[4], a->maxe = v[5] >= 1e308 ? INFINITY : v[5];
    cJSON_Delete(j);
    if (!ok) qb_erracc_init(a);
    return ok;
}

void qb_error_stats(const float *x, const float *y, int64_t n, qb_errstats *out) {
    qb_erracc *a = qb_malloc(sizeof *a);
    qb_erracc_init(a);
    qb_erracc_add(a, x, y, n);
    qb_erracc_stats(a, out);
    free(a);
}
