/* stats.c — see stats.h. Sorting copies: n is at most a few hundred samples. */
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/qb.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double *sorted_copy(const double *x, int n) {
    double *s = qb_malloc(sizeof *s * (size_t)(n > 0 ? n : 1));
    if (n > 0) memcpy(s, x, sizeof *s * (size_t)n);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return s;
}

double qb_stats_percentile(const double *x, int n, double p) {
    if (n <= 0) return NAN;
    double *s = sorted_copy(x, n);
    double rank = p / 100.0 * (n - 1);
    if (rank < 0) rank = 0;
    if (rank > n - 1) rank = n - 1;
    int lo = (int)floor(rank), hi = lo + 1 < n ? lo + 1 : lo;
    double v = s[lo] + (rank - lo) * (s[hi] - s[lo]);
    free(s);
    return v;
}

double qb_stats_median(const double *x, int n) { return qb_stats_percentile(x, n, 50.0); }

double qb_stats_mad(const double *x, int n) {
    if (n <= 0) return NAN;
    double med = qb_stats_median(x, n), *d = qb_malloc(sizeof *d * (size_t)n);
    for (int i = 0; i < n; i++) d[i] = fabs(x[i] - med);
    double mad = qb_stats_median(d, n);
    free(d);
    return mad;
}

double qb_stats_cv(const double *x, int n) {
    if (n <= 1) return 0.0;
    double mean = 0, ss = 0;
    for (int i = 0; i < n; i++) mean += x[i];
    mean /= n;
    for (int i = 0; i < n; i++) ss += (x[i] - mean) * (x[i] - mean);
    return sqrt(ss / (n - 1)) / mean;
}

void qb_stats_modz(const double *x, int n, double *z) {
    if (n <= 0) return;
    double med = qb_stats_median(x, n), mad = qb_stats_mad(x, n), scale = 0;
    if (mad > 0) {
        scale = mad / 0.6745;
    } else {
        double mean_ad = 0;
        for (int i = 0; i < n; i++) mean_ad += fabs(x[i] - med);
        scale = 1.253314 * mean_ad / n;
    }
    for (int i = 0; i < n; i++) z[i] = scale > 0 ? (x[i] - med) / scale : 0.0;
}

void qb_stats_summarize(const double *x, int n, qb_stats *s, uint8_t *outlier) {
    memset(s, 0, sizeof *s);
    s->n = n;
    if (n <= 0) {
        s->median = s->mad = s->min = s->max = s->mean = s->stddev = s->cv = NAN;
        return;
    }
    s->median = qb_stats_median(x, n);
    s->mad = qb_stats_mad(x, n);
    s->min = s->max = x[0];
    for (int i = 0; i < n; i++) {
        s->mean += x[i];
        if (x[i] < s->min) s->min = x[i];
        if (x[i] > s->max) s->max = x[i];
    }
    s->mean /= n;
    s->cv = qb_stats_cv(x, n);
    s->stddev = s->cv * s->mean;
    double *z = qb_malloc(sizeof *z * (size_t)n), *in = qb_malloc(sizeof *in * (size_t)n);
    qb_stats_modz(x, n, z);
    int nin = 0;
    for (int i = 0; i < n; i++) {
        int o = fabs(z[i]) > QB_OUTLIER_Z;
        s->noutliers += o;
        if (outlier) outlier[i] = (uint8_t)o;
        if (!o) in[nin++] = x[i];
    }
    s->cv_inliers = qb_stats_cv(in, nin);
    s->unstable = s->cv_inliers > QB_UNSTABLE_CV;
    free(z);
    free(in);
}
