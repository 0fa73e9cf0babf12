/* bench.h — CPU microbenchmarks measured against the machine's own limits (issue 7).
 *
 * A case is one operation (quantize, dequantize, gemv, gemm, or a limit kernel: read, copy,
 * triad, fma, sgemm) on one format, backend, shape and thread count. Measuring a case:
 *   1. set-up outside the clock (inputs are generated, quantized and first-touched);
 *   2. warm-up: iterations run until warmup_ns has passed (at least two), which also gives
 *      the time of one iteration (the first call, which pays one-time costs, left out),
 *      from which the iterations per sample are sized so that a sample lasts at least
 *      min_sample_ns;
 *   3. the case's share of its samples (all of them, or 1/rounds: sweep.h) timed on
 *      CLOCK_MONOTONIC, each `iters` iterations; with flush set, the caches are flushed (a
 *      2×LLC buffer read and written) before each one. A case whose working set lies beyond
 *      the LLC also times, after each sample and outside it, a 4 MiB read on one thread from a
 *      2×LLC probe buffer (the windows rotate, so each comes from DRAM): the bandwidth the
 *      machine gave at that moment (a neighbour's memory traffic on a shared host moves
 *      DRAM-bound cases by a third; compare.h uses it).
 *   4. A dequantize or GEMV case beyond the LLC also alternates its samples with samples of
 *      its own limit kernel (copy or read), run by the same threads on the case's own
 *      buffers: its paired limit. The run's limits are measured minutes away from most cases,
 *      and on a shared VM the DRAM bandwidth moves by a third within a minute, so a fraction
 *      of them says as much about the minute as about the kernel; the paired fraction (the
 *      case's median rate over its paired kernel's) compares the two at the same moments.
 *      Likewise a quantize case through the scalar reference alternates with the fast path
 *      on the same input: the fast path's speedup is then a ratio taken in the same seconds;
 *      and a GEMM case with the FMA peak kernel on as many threads of a team of its own
 *      (qb_fma_pair), its paired fraction one of GFLOP/s.
 * Threads are a team of pinned workers (common/team.h), kept for the whole case, so a sample
 * times work, not thread start-up. Each case runs in its own forked process (run.c): its
 * peak RSS is the case's own, a crash in one case loses only that case, and OpenMP/OpenBLAS
 * state never leaks from one case into the next.
 *
 * Invariants:
 *  1. Raw samples (ns, iters) are kept and stored; statistics are derived from ns/iters.
 *  2. bytes and flops per iteration are what the operation must move or compute (STREAM's
 *     convention: reads plus writes, no write-allocate traffic), never measured counters.
 *  3. A case's level (L1, L2, L3, DRAM) is computed from its working set against the cache
 *     sizes, per thread for the private L1/L2, in total for the shared L3 and beyond. */
#ifndef QB_BENCH_H
#define QB_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "../common/qb.h"
#include "../common/team.h"
#include "../formats/format.h"
#include "stats.h"

#define QB_BENCH_MAX_SAMPLES 512
#define QB_BENCH_MAX_THREADS 256
#define QB_BENCH_PROBE_WINDOW (4 << 20) /* bytes each probe read takes (timer.c) */
#define QB_BENCH_PAIR_IDLE_NS 50000     /* a paired kernel's own team sleeps after this idle */
#define QB_BENCH_FMA_PAIR_ITERS 100000  /* FMA iterations per call of the paired FMA kernel (~0.2 ms) */
#define QB_BENCH_PAIR_SLOW 0.75         /* a compute pair below this share of the run's peak is suspect */

/* ---- the sample loop (timer.c) -------------------------------------------------------- */

typedef struct qb_bench_cfg {
    int samples;           /* ≥ 10 in all (limit and latency cases take more: run.c) */
    int rounds;            /* the samples are split over this many processes of the case
                              (≥ 1; 0 counts as 1): see sweep.h on interleaved rounds */
    int64_t min_sample_ns; /* iterations per sample are sized to at least this */
    int64_t warmup_ns;
    int fixed_iters;       /* > 0: exactly this many iterations per sample (latency cases) */
    int flush;             /* flush the caches before each sample */
    double max_case_s;     /* a case whose samples would take longer is skipped */
    int pin;
    int64_t probe_bytes;   /* > 0: after each sample, time the read of the next
                              QB_BENCH_PROBE_WINDOW bytes of a buffer this large (the
                              machine's bandwidth beside the sample); 0: none */
    void (*pair)(void *ctx, int64_t i); /* non-NULL: the paired kernel (step 4), one
                              iteration per call, warmed up and sized like fn, one sample of
                              it after each sample of fn */
    void *pair_ctx;
    void (*pair_enter)(void *pair_ctx), (*pair_leave)(void *pair_ctx); /* non-NULL: called
                              before and after each of the pair's samples (and its warm-up),
                              outside both clocks */
} qb_bench_cfg;

typedef struct qb_samples {
    int n;
    int64_t ns[QB_BENCH_MAX_SAMPLES], iters[QB_BENCH_MAX_SAMPLES];
    int64_t probe_ns[QB_BENCH_MAX_SAMPLES]; /* the probe read after each sample; 0 without one */
    int64_t pair_ns[QB_BENCH_MAX_SAMPLES], pair_iters[QB_BENCH_MAX_SAMPLES]; /* the paired
                              kernel's sample after each sample; 0 without one */
} qb_samples;

/* fn runs one iteration; i counts iterations from 0 (bodies that rotate between copies of
 * their data use it). QB_ERUNTIME with "skipped: …" when one iteration is so slow that the
 * samples would exceed cfg->max_case_s. */
qb_status qb_bench_measure(const qb_bench_cfg *cfg, void (*fn)(void *ctx, int64_t i), void *ctx, qb_samples *out);
/* Test-only knob: with QB_BENCH_TEST_SLOWDOWN=F in the environment (0 < F < 10), every sample
 * is stretched by F times its measured time with a busy wait inside the timed region, so
 * results/tests/test_nightly.sh can prove that `compare` finds an injected slowdown. A run
 * made with it records test_slowdown in its config. 0 when unset. */
double qb_bench_test_slowdown(void);
/* Reads and writes a buffer twice the size of the last-level cache. */
void qb_cache_flush(void);

/* ---- machine state recorded with a run (env.c) ----------------------------------------- */

typedef struct qb_bench_env {
    char governor[64];   /* cpufreq scaling governor of cpu0, "unavailable" without cpufreq */
    char boost[32];      /* "on", "off" or "unavailable" */
    double loadavg[3];
    int ftz, daz;        /* MXCSR flush-to-zero and denormals-are-zero of the measuring threads */
    int64_t l1d_bytes, l2_bytes, l3_bytes; /* from sysfs (cpu0); defaults 32K/1M/32M when absent */
    int cpus;            /* CPUs in this process's affinity mask */
} qb_bench_env;

void qb_bench_env_collect(qb_bench_env *e);
/* "L1", "L2", "L3" or "DRAM" for a working set (invariant 3). */
const char *qb_bench_level(const qb_bench_env *e, double working_set_bytes, int threads);

/* ---- cases (limits.c, ops.c) --------------------------------------------------------------- */

typedef enum qb_op {
    QB_OP_READ, QB_OP_COPY, QB_OP_TRIAD, QB_OP_FMA, QB_OP_SGEMM_PEAK, /* limits */
    QB_OP_QUANTIZE, QB_OP_DEQUANTIZE, QB_OP_GEMV, QB_OP_GEMV_LATENCY, QB_OP_GEMM,
    QB_OP_COUNT
} qb_op;

extern const char *const qb_op_names[QB_OP_COUNT];

typedef struct qb_case {
    qb_op op;
    const qb_format *fmt; /* NULL for limits */
    const char *backend;  /* see ops.c / limits.c for the vocabulary */
    const char *level;    /* requested size level for sweeps ("L1" … "DRAM"), or NULL */
    int64_t m, n, k;      /* quantize/dequantize/read/copy/triad: n rows × k cols (k = 1 for
                             streams); gemv: n×k weights; gemm: (m×k)·(n×k)ᵀ; fma: m iterations */
    int threads;
    double span;          /* gemv: copies of the weights are rotated until they span this many
                             bytes (the sweep: 4× the LLC, so each call streams from DRAM);
                             0: one copy */
} qb_case;

typedef struct qb_case_result {
    qb_status st;
    int skipped;           /* st != OK because the case was too slow, not broken */
    char msg[256];
    qb_samples s;
    double bytes, flops;   /* per iteration (invariant 2) */
    double f32_bytes, fmt_bytes; /* per iteration, for quantize/dequantize GB/s of each side */
    double working_set;    /* bytes */
    char level[8];
    int64_t peak_rss_bytes;
    int copies;            /* copies of the weights rotated through (gemv) */
    double probe_bytes;    /* bytes of each probe read after a sample; 0: none */
    char pair_kind[16];    /* the paired kernel: a limit's ("copy_bw", "read_bw", "fma_peak")
                              or the fast path beside the reference ("fast_path"); "": none */
    double pair_bytes;     /* bytes it moves per iteration (invariant 2) */
    double pair_flops;     /* flops it does per iteration (fma_peak; then pair_bytes is 0) */
    char impl[160];        /* implementation that ran: registry impl, oneDNN impl_info_str, … */
    int fallback;          /* 1: the library ran a reference implementation */
} qb_case_result;

/* The shape as stored and printed: "ROWSxCOLS", gemm "MxNxK", fma "N iters". */
void qb_case_shape(const qb_case *c, char *buf, size_t n);
/* Runs a case in this process: ceil(n / cfg->rounds) samples of the case's n in all. */
void qb_bench_case_run(const qb_case *c, const qb_bench_cfg *cfg, const qb_bench_env *env, qb_case_result *r);
/* Runs a case in a forked child and reports its peak RSS (run.c). */
void qb_bench_case_fork(const qb_case *c, const qb_bench_cfg *cfg, const qb_bench_env *env, qb_case_result *r);

/* Per-op implementations (limits.c, ops.c, onednn.c), called by qb_bench_case_run. */
void qb_bench_limit_case(const qb_case *c, const qb_bench_cfg *cfg, const qb_bench_env *env, qb_case_result *r);
void qb_bench_op_case(const qb_case *c, const qb_bench_cfg *cfg, const qb_bench_env *env, qb_case_result *r);
int qb_onednn_available(void);
/* oneDNN matmul (m×k)·(k×n) for fmt f32, bf16, f16 or int8_sym_row (u8·s8 → s32). */
void qb_bench_onednn_gemm(const qb_case *c, const qb_bench_cfg *cfg, qb_case_result *r);
/* Does oneDNN have a matmul for this format at all (not whether it is a reference one)? */
int qb_onednn_format(const qb_format *f);

/* ---- kernels (kernels_x86.c, scalar fallbacks in limits.c) ------------------------------- */

/* Σ a[i] over n floats. */
float qb_kern_read(const float *a, int64_t n);
/* b[i] = a[i], regular (not streaming) stores. */
void qb_kern_copy(float *restrict b, const float *restrict a, int64_t n);
/* a[i] = b[i] + s·c[i]. */
void qb_kern_triad(float *restrict a, const float *restrict b, const float *restrict c, float s, int64_t n);
/* Register-resident FMA chains: iters × QB_FMA_FLOPS_PER_ITER(isa) flops; returns a value
 * that depends on every chain so the loop cannot be removed. isa: 0 scalar, 1 AVX2, 2 AVX-512. */
float qb_kern_fma(int isa, int64_t iters, float seed);
double qb_kern_fma_flops_per_iter(int isa);

/* The FMA peak kernel of the widest ISA as a GEMM case's paired kernel (step 4), run by every
 * member of team: sets cfg->pair, pair_ctx (p), pair_enter, pair_leave, r->pair_kind and
 * r->pair_flops. A library's idle threads (OpenBLAS's spin and yield for ~0.1 s after a call)
 * would share the CPUs with it: when set, quiet sends them away before each of its samples,
 * and wake(wake_ctx, 0) (one iteration of the case) brings them back after it, so that
 * neither clock pays for their stop or start. */
typedef struct qb_fma_pair {
    qb_team *team;
    void (*quiet)(void);
    void (*wake)(void *ctx, int64_t i);
    void *wake_ctx;
    int isa;
    volatile float sink[QB_BENCH_MAX_THREADS];
} qb_fma_pair;
void qb_fma_pair_init(qb_fma_pair *p, qb_team *team, qb_bench_cfg *cfg, qb_case_result *r);
/* For a case whose iterations are OpenBLAS calls on OpenBLAS's own threads: quiet is the
 * library's exported blas_thread_shutdown_ (pthreads builds; none: the pair runs beside its
 * spinning workers, and reads slow), wake one call, call(ctx, 0). */
void qb_fma_pair_beside_openblas(qb_fma_pair *p, void (*call)(void *ctx, int64_t i), void *ctx);
/* Likewise for a library on OpenMP (oneDNN): after each call libgomp's workers spin for
 * GOMP_SPINCOUNT (300,000) pauses, milliseconds on Zen 4, and the pair beside them ran 2-4x
 * slow in some runs. quiet is OpenMP 5.0's omp_pause_resource_all (none in the process: the
 * pair runs beside them), wake one call. */
void qb_fma_pair_beside_openmp(qb_fma_pair *p, void (*call)(void *ctx, int64_t i), void *ctx);
/* qb_bench_measure of a case whose iteration fn is one call of a library on its own threads,
 * paired with the FMA kernel on `threads` threads of a team of its own (unpinned, as the
 * library's threads are; asleep while the case runs), quieted by beside
 * (qb_fma_pair_beside_openblas or _openmp). */
qb_status qb_bench_measure_library(const qb_bench_cfg *cfg, int threads, void (*fn)(void *ctx, int64_t i), void *ctx,
                                   void (*beside)(qb_fma_pair *, void (*)(void *, int64_t), void *), qb_case_result *r);
/* Highest FMA ISA this CPU runs: 0 scalar, 1 AVX2+FMA, 2 AVX-512F. */
int qb_kern_best_isa(void);
extern const char *const qb_isa_names[3];

#endif
