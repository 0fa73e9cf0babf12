/* metrics.c — see metrics.h. Sums run in double: with 2^24+ float terms a float sum loses
 * the small errors of good formats entirely. */
#include "metrics.h"

#include <math.h>

void qb_error_stats(const float *x, const float *y, int64_t n, qb_errstats *out) {
    double see = 0, sxx = 0, syy = 0, sxy = 0, maxe = 0;
    for (int64_t i = 0; i < n; i++) {
        double a = x[i], b = y[i], e = a - b;
        see += e * e;
        sxx += a * a;
        syy += b * b;
        sxy += a * b;
        double ae = fabs(e);
        if (ae > maxe || ae != ae) maxe = ae != ae ? INFINITY : ae;
    }
    out->n = n;
    out->mse = n ? see / (double)n : NAN;
    out->rmse = sqrt(out->mse);
    out->max_abs = maxe;
    if (see == 0.0) out->sqnr_db = sxx > 0.0 ? INFINITY : NAN;
    else out->sqnr_db = 10.0 * log10(sxx / see);
    /* one sqrt of the product: x̂ = x then gives exactly 1 */
    out->cosine = (sxx > 0.0 && syy > 0.0) ? sxy / sqrt(sxx * syy) : NAN;
}
