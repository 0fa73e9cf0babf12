/* stats.h — robust summary statistics of benchmark samples, pure functions over arrays.
 *
 * Timings are skewed to the right (interrupts, page faults, a neighbour's burst), so the
 * centre is the median and the spread the median absolute deviation, as hyperfine and
 * google/benchmark report them; mean, standard deviation and CV are kept for the stability
 * flag. Outliers are flagged, never removed: the samples stay what was measured.
 *
 * Definitions (n ≥ 1; every function leaves its input unchanged):
 *  - median: middle value of the sorted samples, mean of the two middle ones for even n.
 *  - MAD: median of |x_i − median|, unscaled (multiply by 1.4826 for a normal σ).
 *  - modified z-score (Iglewicz & Hoaglin): z_i = 0.6745·(x_i − median)/MAD; a sample is an
 *    outlier when |z_i| > 3.5. When MAD = 0 (over half the samples equal) the mean absolute
 *    deviation from the median stands in, z_i = (x_i − median)/(1.2533·meanAD) (IBM SPSS's
 *    rule); when that is 0 too, every sample equals the median and none is flagged.
 *  - CV: sample standard deviation (n − 1) over the mean; 0 for n = 1.
 *  - unstable: the CV of the samples not flagged as outliers exceeds 10 %. A sample the OS
 *    preempted is an outlier, flagged and kept, and alone says nothing of the case; a case
 *    whose bulk is spread (noisy neighbours, frequency changes) is unstable.
 *  - percentile p ∈ [0, 100]: linear interpolation between closest ranks, rank p/100·(n − 1)
 *    (numpy's default "linear" method). */
#ifndef QB_BENCH_STATS_H
#define QB_BENCH_STATS_H

#include <stdint.h>

#define QB_OUTLIER_Z 3.5
#define QB_UNSTABLE_CV 0.10 /* a case whose CV exceeds 10 % is marked unstable */

typedef struct qb_stats {
    int n, noutliers, unstable;
    double median, mad, min, max, mean, stddev, cv;
    double cv_inliers; /* CV without the flagged outliers: decides unstable */
} qb_stats;

double qb_stats_median(const double *x, int n);
double qb_stats_mad(const double *x, int n);
double qb_stats_percentile(const double *x, int n, double p);
double qb_stats_cv(const double *x, int n);
/* Modified z-score of every sample into z[n] (0 where undefined, see above). */
void qb_stats_modz(const double *x, int n, double *z);
/* All of the above; outlier[i] = 1 when |z_i| > QB_OUTLIER_Z (outlier may be NULL). */
void qb_stats_summarize(const double *x, int n, qb_stats *s, uint8_t *outlier);

#endif
