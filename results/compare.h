/* compare.h — regression verdicts between two runs of the database: a candidate (usually
 * tonight's) against a baseline (the last good run of the same suite on the same machine).
 *
 * Speed: every benchmark case of the candidate is matched to the baseline's case with the same
 * operation, format, backend, device, shape and thread count; their raw samples (ns per
 * iteration) are compared with a two-sided Mann–Whitney U test. A change is confirmed only
 * when p < alpha (default 0.002) AND the medians differ by at least min_effect (default 5 %):
 * statistics alone flag tiny real shifts on a quiet machine, the effect size alone flags noise
 * on a busy one. Cases marked unstable (CV > 10 %) in either run are listed but not judged.
 * Cases whose median call is under min_ns are listed as "too short" and not judged either.
 * The machine's limits measured in the same runs (kind "limit") get the same test but are
 * reported as "slower"/"faster": they describe the machine, not the code.
 *
 * Accuracy: the error figures of deterministic CPU paths (tensor_errors) must be identical;
 * any difference is reported, as a regression when SQNR fell. Model evaluations (evals) are
 * compared with a relative tolerance (threads may reorder float sums): a perplexity or KLD
 * that rose beyond it is a regression.
 *
 * Invariant: a verdict is "regression" only when one of the rules above confirms it; the
 * command exits 3 exactly when at least one verdict is "regression". */
#ifndef QB_COMPARE_H
#define QB_COMPARE_H

#include "db.h"

typedef struct qb_compare_opts {
    double alpha;      /* Mann–Whitney significance level */
    double min_effect; /* minimum relative change of the median */
    double eval_rtol;  /* relative tolerance on model-evaluation figures */
    double min_ns;     /* speed cases whose median call is shorter are not judged */
} qb_compare_opts;

/* min_ns = 1 µs: on our 2-vCPU test VM a call of a few hundred instructions moved by 13–25 %
 * between two processes of the same build (`bench --ops dequantize`, four runs), most calls of
 * 10 µs and more by under 3 %. Some longer cases are bimodal across processes too (±8–31 %,
 * DRAM-bound ones especially): one baseline run cannot tell that from a regression, so on such
 * a machine compare against several nights before acting (results/tests/test_nightly.sh). */
#define QB_COMPARE_DEFAULTS {0.002, 0.05, 1e-4, 1000.0}

typedef struct qb_verdict {
    char *kind;     /* "speed", "limit", "accuracy" or "eval" */
    char *what;     /* the case: "gemv q4_0 avx2 4096x4096 t2", "synthetic:… q4_0 sqnr_db", … */
    double base, cand; /* speed: median ns per iteration; else the figure */
    double change;  /* cand / base − 1 */
    double p;       /* Mann–Whitney p-value (speed), else NaN */
    const char *verdict; /* "regression", "improvement", "unchanged", "changed", "unstable", "too short", "new", "missing";
                            limits: "slower", "faster" */
} qb_verdict;

typedef struct qb_comparison {
    char base[37], cand[37];
    int n;
    qb_verdict *v;
    int regressions, improvements, unstable;
} qb_comparison;

/* The baseline for run `cand`: the newest complete run before it with the same command,
 * suite and machine. QB_EUSAGE saying what to do when there is none. */
qb_status qb_compare_auto_baseline(qb_db *db, const char *cand, char out[37]);
/* A run id from a unique prefix ("latest": the newest run with results). */
qb_status qb_compare_resolve(qb_db *db, const char *want, char out[37]);

qb_status qb_compare_runs(qb_db *db, const char *base, const char *cand, const qb_compare_opts *o, qb_comparison *out);
void qb_comparison_free(qb_comparison *c);

/* Two-sided Mann–Whitney U test of samples a[na] and b[nb]: the normal approximation with
 * the tie correction of the variance and a continuity correction (scipy's
 * method="asymptotic", use_continuity=True). Returns p in [0, 1]; 1 when either is empty. */
double qb_mann_whitney_p(const double *a, int na, const double *b, int nb);

#endif
