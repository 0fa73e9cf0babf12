/* compare.h — regression verdicts between two runs of the database: a candidate (usually
 * tonight's) against a baseline (the last good run of the same suite on the same machine).
 *
 * Speed: every benchmark case of the candidate is matched to the baseline's case with the same
 * operation, format, backend, device, shape and thread count (model-level pp/tg tests, kind
 * "speed" too, by model, format, method, device, threads and test); their raw samples (ns per
 * iteration, or seconds per repetition) are compared with a two-sided Mann–Whitney U test. A
 * change is confirmed only when p < alpha (default 0.002) AND the medians differ by at least
 * min_effect (default 5 %): statistics alone flag tiny real shifts on a quiet machine, the
 * effect size alone flags noise on a busy one. Cases marked unstable (CV > 10 %) in the
 * candidate or in every baseline are listed but not judged. Cases whose median call is under min_ns are listed as "too short",
 * and cases with too few samples for any p below alpha (5 repetitions against 5 cannot reach
 * 0.002) as "too few samples"; neither is judged. The machine's limits measured in the same
 * runs (kind "limit") get the same test but are reported as "slower"/"faster": they describe
 * the machine, not the code.
 *
 * Several baselines (auto: the newest `history` complete runs, default 3): a change is
 * confirmed only when it is confirmed against every baseline that can judge the case. On a
 * shared machine one run's process can land fast or slow; a candidate slower than the
 * nightly runs before it, each by the minimum effect and each significantly, is not that. A
 * baseline whose case is unstable still takes part: its spread is evidence of how far the
 * case moves.
 * The table shows the judged baseline nearest to the candidate and the largest p.
 *
 * Cases beyond the LLC carry a probe beside each sample (bench.h: the time of a fixed read).
 * When both runs have them, both sides' samples are scaled to the baseline's median probe time
 * before the test (compare.c, scale_to_base): a neighbour's memory traffic that slows the
 * machine for minutes slows the probe as much, and is not taken for a regression.
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

/* A case's key in SQL over a bench_cases (evals) row whose table prefix is t ("" or "c."): how
 * compare matches cases across runs and names them in its verdicts (reports/trends.c looks
 * verdicts up by it). */
#define QB_COMPARE_BENCH_KEY(t) \
    t "op || ' ' || coalesce(" t "format, '-') || ' ' || " t "backend || ' ' || " t "device || ' ' || " t "shape || ' t' || " t "threads"
#define QB_COMPARE_EVAL_KEY(t) \
    t "model_id || ' ' || " t "text_id || ' ' || " t "format || ' ' || " t "method || ' ctx ' || " t "ctx"

typedef struct qb_compare_opts {
    double alpha;      /* Mann–Whitney significance level */
    double min_effect; /* minimum relative change of the median */
    double eval_rtol;  /* relative tolerance on model-evaluation figures */
    double min_ns;     /* speed cases whose median call is shorter are not judged */
    int history;       /* baselines taken by auto (1 … QB_COMPARE_MAX_BASELINES) */
} qb_compare_opts;

/* min_ns = 1 µs: on our 2-vCPU test VM a call of a few hundred instructions moved by 13–25 %
 * between two processes of the same build (`bench --ops dequantize`, four runs), most calls of
 * 10 µs and more by under 3 %. Some longer cases are bimodal across processes too (±8–31 %,
 * DRAM-bound ones especially): hence interleaved rounds in the nightly suite (bench/sweep.h)
 * and several baselines here (results/tests/test_nightly.sh measures both). */
#define QB_COMPARE_DEFAULTS {0.002, 0.05, 1e-4, 1000.0, 3}
#define QB_COMPARE_MAX_BASELINES 8

typedef struct qb_verdict {
    char *kind;     /* "speed", "limit", "accuracy" or "eval" */
    char *what;     /* the case: "gemv q4_0 avx2 4096x4096 t2", "synthetic:… q4_0 sqnr_db", … */
    double base, cand; /* speed: median ns per iteration (scaled: at the baseline's bandwidth); else the figure */
    double change;  /* cand / base − 1 */
    double p;       /* Mann–Whitney p-value (speed), else NaN */
    int scaled;     /* speed: samples scaled to the baseline's bandwidth by their probes */
    const char *verdict; /* "regression", "improvement", "unchanged", "changed", "unstable", "too short", "too few samples",
                            "new", "missing";
                            limits: "slower", "faster" */
} qb_verdict;

typedef struct qb_comparison {
    char base[37], cand[37];           /* base: the newest baseline */
    char bases[QB_COMPARE_MAX_BASELINES][37];
    int nbase;
    int n;
    qb_verdict *v;
    int regressions, improvements, unstable;
} qb_comparison;

/* The baselines for run `cand`: the newest `max` complete runs before it with the same
 * command, suite and machine, newest first, *n of them. QB_EUSAGE saying what to do when there
 * is none. */
qb_status qb_compare_auto_baselines(qb_db *db, const char *cand, int max, char (*out)[37], int *n);
/* A run id from a unique prefix ("latest": the newest run with results). */
qb_status qb_compare_resolve(qb_db *db, const char *want, char out[37]);

/* Judges `cand` against base[0 … nbase-1] (newest first; accuracy against base[0] only). */
qb_status qb_compare_runs(qb_db *db, const char (*base)[37], int nbase, const char *cand, const qb_compare_opts *o,
                          qb_comparison *out);
void qb_comparison_free(qb_comparison *c);

/* Two-sided Mann–Whitney U test of samples a[na] and b[nb]: the normal approximation with
 * the tie correction of the variance and a continuity correction (scipy's
 * method="asymptotic", use_continuity=True). Returns p in [0, 1]; 1 when either is empty. */
double qb_mann_whitney_p(const double *a, int na, const double *b, int nb);

#endif
