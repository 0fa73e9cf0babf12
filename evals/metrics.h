/* metrics.h — reconstruction error of a tensor against its reference (FORMATS.md §10):
 * MSE, RMSE, max abs error, SQNR in dB and cosine similarity, accumulated in double. */
#ifndef QB_METRICS_H
#define QB_METRICS_H

#include <stdint.h>

typedef struct qb_errstats {
    int64_t n;
    double mse, rmse, max_abs;
    double sqnr_db; /* +Inf when the reconstruction is exact; NaN when both are all zero */
    double cosine;  /* NaN when either vector is all zero */
} qb_errstats;

/* x: reference, y: reconstruction, n values each. A non-finite y gives Inf errors, which is
 * the truth about a format that overflowed. */
void qb_error_stats(const float *x, const float *y, int64_t n, qb_errstats *out);

#endif
