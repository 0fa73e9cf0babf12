/* metrics.h — reconstruction error of a tensor against its reference (FORMATS.md §10):
 * MSE, RMSE, max abs error, SQNR in dB, cosine similarity, and percentiles of |error|.
 *
 * An accumulator takes the tensor in chunks (so a tensor larger than memory can be measured
 * as it streams) and merges with others (for a whole-model total weighted by element count).
 * Sums are in double. |error| percentiles come from a histogram with 8 log-spaced bins per
 * octave read straight off the float's bits, so a percentile is the geometric middle of its
 * bin: within ±4.4 % of the exact order statistic. */
#ifndef QB_METRICS_H
#define QB_METRICS_H

#include <stdint.h>

typedef struct qb_errstats {
    int64_t n;
    double mse, rmse, max_abs;
    double sqnr_db; /* +Inf when the reconstruction is exact; NaN when both are all zero */
    double cosine;  /* NaN when either vector is all zero */
    double p50_abs, p95_abs, p99_abs, p999_abs; /* |error| percentiles (0 when exact) */
} qb_errstats;

/* bins: [0] |e| < 2^-40 (and 0); [1 .. QB_HIST_BINS] 8 per octave up to 2^24; last: above, Inf, NaN */
#define QB_HIST_OCT_LO (-40)
#define QB_HIST_OCT_HI 24
#define QB_HIST_BINS (8 * (QB_HIST_OCT_HI - QB_HIST_OCT_LO))

typedef struct qb_erracc {
    int64_t n;
    double see, sxx, syy, sxy, maxe;
    int64_t hist[QB_HIST_BINS + 2];
} qb_erracc;

void qb_erracc_init(qb_erracc *a);
void qb_erracc_add(qb_erracc *a, const float *x, const float *y, int64_t n);
void qb_erracc_merge(qb_erracc *into, const qb_erracc *from);
void qb_erracc_stats(const qb_erracc *a, qb_errstats *out);
/* The accumulator as JSON — its sums and the |error| histogram:
 * {"n":…,"see":…,"sxx":…,"syy":…,"sxy":…,"max":…,"bins_per_octave":8,"first_octave":-40,
 *  "counts":[…]} with the under/overflow bins first and last (heap string). Stored with each
 * row, so a resumed run can merge finished tensors into a model's total exactly. */
char *qb_erracc_json(const qb_erracc *a);
/* The inverse; 0 when `json` is not such an object. */
int qb_erracc_from_json(qb_erracc *a, const char *json);

/* One-shot: x reference, y reconstruction, n values each. */
void qb_error_stats(const float *x, const float *y, int64_t n, qb_errstats *out);

#endif
