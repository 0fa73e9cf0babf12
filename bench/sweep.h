/* sweep.h — `quantbench bench` as a job: plans the cases (limits first, then every format ×
 * op × size level × thread count), runs each in its own process, derives statistics and
 * fractions of the measured limits, and commits each case with all its samples at once
 * (schema.c invariant 1), so a killed run keeps every case it finished.
 *
 * Interleaved rounds (cfg.rounds = R > 1, the nightly suite's 6): a case's samples are split
 * over R processes, one per round; each round runs the limits, then every operation in a
 * shuffled order (google/benchmark's random interleaving). Why: on a shared VM a case's speed
 * depends on its process (where its pages land) and on the minute (the neighbours' memory
 * traffic), while the samples of one process are tightly grouped. With one process per case,
 * two runs of one build differ by more than their samples admit, and a comparison of the raw
 * samples finds "regressions" in an A/A pair. Spreading the samples over processes and over
 * the run puts that variation inside each run's samples, where the statistics see it, and a
 * case that swings between processes is marked unstable (CV > 10 %) instead of judged. After
 * each round a case is stored again with every sample so far, so a killed run keeps them.
 *
 * Storage (schema migrations 1, 6 and 7):
 *   bench_cases   op, format, backend, device "cpu", shape ("ROWSxCOLS", gemm "MxNxK"),
 *                 threads, config = JSON: level, working_set_bytes, bytes/flops per
 *                 iteration, impl, fallback, copies, median/mad/min/max/mean ns per
 *                 iteration, cv, unstable, outliers, gbps, gflops, fraction_of_limit,
 *                 limit_kind, limit_value, peak_rss_bytes, wall_s (the case's process,
 *                 set-up included), p50/p90/p99_ns (latency),
 *                 skipped (message) — a skipped case has no samples;
 *   bench_samples every sample: ns, iters, bytes and flops of the sample, outlier flag,
 *                 probe_ns (cases beyond the LLC: bench.h; config probe_bytes, probe_gbps);
 *                 pair_ns, pair_iters (dequantize and gemv beyond the LLC, gemm, and quantize
 *                 through the reference: the paired kernel's sample after it, bench.h step 4;
 *                 config pair_kind, pair_bytes_per_iter and pair_gbps or, for gemm's
 *                 fma_peak, pair_flops_per_iter and pair_gflops, paired_fraction);
 *   limits        read_bw_L1 … read_bw_DRAM, copy_bw_*, triad_bw_* (B/s), fma_peak,
 *                 sgemm_peak (FLOP/s) per thread count, each from its case's best sample
 *                 (STREAM's convention; operations report medians); l1d/l2/l3_bytes; the 1-minute
 *                 load average at the end (loadavg_end). Run-level state (governor, boost,
 *                 load average at the start, FTZ/DAZ, pinning) is in runs.config. */
#ifndef QB_BENCH_SWEEP_H
#define QB_BENCH_SWEEP_H

#include "../results/db.h"
#include "bench.h"

typedef struct qb_bench_opts {
    unsigned ops;                   /* bit (1u << qb_op) for QUANTIZE … GEMM */
    const qb_format *const *formats;
    int nformats;
    const int *threads;
    int nthreads;
    int quick;                      /* tiny shapes, L1/L2 only: plumbing, seconds */
    qb_bench_cfg cfg;
} qb_bench_opts;

typedef struct qb_bench_row {
    const qb_case *c;
    const qb_case_result *r;
    qb_stats st;                    /* over ns per iteration */
    double p50_ns, p90_ns, p99_ns;
    double gbps, fmt_gbps, f32_gbps, gflops; /* NaN when not applicable */
    double probe_gbps;              /* median bandwidth of the probe reads (bench.h); NaN: none */
    double fraction;                /* of limit_kind at the same thread count; NaN if none */
    double pair_gbps;               /* the paired kernel's median rate (bench.h); NaN: none */
    double pair_gflops;             /* likewise for a paired compute limit (fma_peak) */
    double paired_fraction;         /* gbps / pair_gbps or gflops / pair_gflops; NaN: no pair */
    int pair_slow;                  /* qb_bench_pair_slow(pair_gflops, limit_value): paired_fraction untrusted */
    char limit_kind[32];
    double limit_value;
    double wall_s;                  /* the case's processes, set-up included */
    int rounds;                     /* processes (rounds) whose samples it holds */
    char case_id[37];
} qb_bench_row;

typedef struct qb_bench_memory {
    const qb_format *f;
    double bytes_per_weight;        /* exact, for a 4096 × 4096 tensor, scales included */
    int64_t peak_rss_bytes;         /* largest over this format's case processes */
} qb_bench_memory;

typedef void (*qb_bench_row_fn)(void *ctx, const qb_bench_row *row);

/* Whether a compute pair's median rate (GFLOP/s) is below QB_BENCH_PAIR_SLOW of the run's own
 * limit for it (the FMA peak at those threads): the pair then shared its CPUs with something
 * the case did not (a library's spinning workers, which made oneDNN's pairs run 2-4x slow,
 * or a neighbour's burst), so its paired fraction overstates the case and is not judged by.
 * Bandwidth pairs are never called slow: DRAM's rate moves by a third within a minute, which
 * is what pairing is for. 0 when either rate is unknown. */
int qb_bench_pair_slow(double pair_gflops, double limit_gflops);

/* Stops between cases when qb_interrupted is set (common/qb.h), keeping the stored ones. */
qb_status qb_bench_sweep(qb_db *db, const char *run_id, const qb_bench_opts *o, const qb_bench_env *env, qb_bench_row_fn fn,
                         void *ctx, qb_bench_memory *mem /* [o->nformats] */);

/* Run-level state as one JSON object (for runs.config), heap string. */
char *qb_bench_env_json(const qb_bench_env *e, const qb_bench_opts *o);

#endif
