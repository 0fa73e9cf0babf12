/* test_stats.c — bench/stats.c on hand-computed sets (median, MAD, modified z-score outlier
 * flags with and without the MAD = 0 fallback, CV, numpy-"linear" percentiles) and on
 * algebraic properties over random samples (shift and scale laws); the limit kernels' fast
 * paths against their scalar references (integer-valued data, so the sums are exact) and the
 * FMA loops against an fmaf emulation of the same chains; the pinned team (every member runs
 * exactly once per dispatch) and the sample loop's bookkeeping; the paired limit kernel (one
 * sample of it after each sample, its own iterations), the cases that get one, and the
 * paired fraction the sweep stores (recomputed from the stored samples). */
#define _GNU_SOURCE
#include <math.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/qbtest.h"
#include "../../common/team.h"
#include "../../datasets/source.h"
#include "../../results/db.h"
#include "../../results/fingerprint.h"
#include "../bench.h"
#include "../sweep.h"

#define NEAR(a, b, tol) (fabs((a) - (b)) <= (tol))

static void known_sets(void) {
    const double a[] = {1, 2, 3, 4, 5};
    CHECK(qb_stats_median(a, 5) == 3, "median %g", qb_stats_median(a, 5));
    CHECK(qb_stats_mad(a, 5) == 1, "MAD %g", qb_stats_mad(a, 5));
    CHECK(NEAR(qb_stats_cv(a, 5), sqrt(2.5) / 3, 1e-15), "CV %.17g", qb_stats_cv(a, 5));

    const double even[] = {4, 1, 3, 2};
    CHECK(qb_stats_median(even, 4) == 2.5, "even median %g", qb_stats_median(even, 4));
    CHECK(qb_stats_mad(even, 4) == 1.0, "even MAD %g", qb_stats_mad(even, 4)); /* |d| = 1.5 1.5 .5 .5 */
    CHECK(even[0] == 4 && even[1] == 1, "input left unsorted");

    /* one far sample: z = 0.6745·97/1 = 65.4 is flagged, z = 0.6745·(−2) = −1.35 is not */
    const double far[] = {1, 2, 3, 4, 100};
    double z[10];
    uint8_t o[10];
    qb_stats_modz(far, 5, z);
    CHECK(NEAR(z[4], 0.6745 * 97, 1e-12) && NEAR(z[0], -0.6745 * 2, 1e-12), "z %g %g", z[0], z[4]);
    qb_stats s;
    qb_stats_summarize(far, 5, &s, o);
    CHECK(s.noutliers == 1 && o[4] == 1 && o[0] == 0 && o[3] == 0, "outliers %d flags %d%d%d%d%d", s.noutliers, o[0], o[1], o[2], o[3], o[4]);
    CHECK(s.min == 1 && s.max == 100 && s.median == 3 && s.mad == 1, "summary %g %g %g %g", s.min, s.max, s.median, s.mad);
    CHECK(s.unstable == 1, "CV %g > 0.1 marks unstable", s.cv);

    /* MAD = 0: mean absolute deviation 4/7, z(9) = 4 / (1.253314·4/7) = 5.585 */
    const double flat[] = {5, 5, 5, 5, 5, 5, 9};
    qb_stats_modz(flat, 7, z);
    CHECK(NEAR(z[6], 4.0 / (1.253314 * 4.0 / 7.0), 1e-9) && z[0] == 0, "MAD=0 fallback z %g", z[6]);
    qb_stats_summarize(flat, 7, &s, o);
    CHECK(s.mad == 0 && s.noutliers == 1 && o[6] == 1, "MAD=0 outliers %d", s.noutliers);

    const double same[] = {7, 7, 7};
    qb_stats_summarize(same, 3, &s, o);
    CHECK(s.noutliers == 0 && s.cv == 0 && s.unstable == 0, "constant samples: %d outliers, cv %g", s.noutliers, s.cv);

    const double steady[] = {100, 101, 99, 100, 102, 98, 100, 100, 101, 99};
    qb_stats_summarize(steady, 10, &s, o);
    CHECK(s.unstable == 0 && s.noutliers == 0 && s.cv < 0.02, "steady: cv %g outliers %d", s.cv, s.noutliers);

    /* one preempted sample: flagged, CV of all 10 samples ≈ 3, but the case is stable */
    const double preempted[] = {100, 101, 99, 100, 102, 98, 100, 100, 101, 1500};
    qb_stats_summarize(preempted, 10, &s, o);
    CHECK(s.cv > 1 && s.noutliers == 1 && o[9] == 1 && s.cv_inliers < 0.02 && s.unstable == 0,
          "preempted: cv %g, inliers' cv %g, outliers %d, unstable %d", s.cv, s.cv_inliers, s.noutliers, s.unstable);

    /* numpy.percentile([10, 20, 30, 40], [0, 50, 90, 99, 100]) = 10, 25, 37, 39.7, 40 */
    const double p[] = {40, 10, 30, 20};
    CHECK(qb_stats_percentile(p, 4, 0) == 10, "p0");
    CHECK(qb_stats_percentile(p, 4, 50) == 25, "p50 %g", qb_stats_percentile(p, 4, 50));
    CHECK(NEAR(qb_stats_percentile(p, 4, 90), 37, 1e-12), "p90 %g", qb_stats_percentile(p, 4, 90));
    CHECK(NEAR(qb_stats_percentile(p, 4, 99), 39.7, 1e-12), "p99 %g", qb_stats_percentile(p, 4, 99));
    CHECK(qb_stats_percentile(p, 4, 100) == 40, "p100");
    const double one[] = {3.5};
    CHECK(qb_stats_median(one, 1) == 3.5 && qb_stats_cv(one, 1) == 0 && qb_stats_mad(one, 1) == 0, "n = 1");
}

static void properties(void) {
    qb_rng g;
    qb_rng_seed(&g, 7);
    for (int trial = 0; trial < 200; trial++) {
        int n = 10 + (int)(qb_rng_next(&g) % 300);
        double x[310], y[310];
        for (int i = 0; i < n; i++) x[i] = 1000 + 50 * qb_rng_normal(&g) + (qb_rng_uniform(&g) < 0.05 ? 2000 : 0);
        double shift = 123.25, scale = -4.0;
        for (int i = 0; i < n; i++) y[i] = x[i] * scale + shift;
        double med = qb_stats_median(x, n), mad = qb_stats_mad(x, n);
        CHECK_LIMITED(NEAR(qb_stats_median(y, n), med * scale + shift, 1e-9 * fabs(med * scale)), "median is equivariant");
        CHECK_LIMITED(NEAR(qb_stats_mad(y, n), mad * fabs(scale), 1e-9 * mad * 4), "MAD scales with |a|");
        double prev = -INFINITY;
        for (double q = 0; q <= 100; q += 2.5) {
            double v = qb_stats_percentile(x, n, q);
            CHECK_LIMITED(v >= prev, "percentiles are monotone");
            prev = v;
        }
        uint8_t o1[310], o2[310];
        qb_stats s1, s2;
        qb_stats_summarize(x, n, &s1, o1);
        qb_stats_summarize(y, n, &s2, o2);
        CHECK_LIMITED(memcmp(o1, o2, (size_t)n) == 0, "outlier flags are affine invariant");
        for (int i = 0; i < n; i++) CHECK_LIMITED(!o1[i] || fabs(x[i] - med) > 3.5 * mad / 0.6745 - 1e-9, "a flagged sample is far");
        double c2 = qb_stats_cv(x, n);
        for (int i = 0; i < n; i++) y[i] = x[i] * 3;
        CHECK_LIMITED(NEAR(qb_stats_cv(y, n), c2, 1e-12), "CV is scale-free");
    }
}

/* ---- kernels ---------------------------------------------------------------------------- */

static float emulate_fma(int isa, int64_t iters, float seed) {
    int chains = isa == 0 ? 8 : 12, lanes = isa == 2 ? 16 : isa == 1 ? 8 : 1;
    float acc[12];
    for (int j = 0; j < chains; j++) {
        acc[j] = seed + (float)j;
        for (int64_t i = 0; i < iters; i++) {
            if (isa == 0) {
                float t = acc[j] * 0.99999994f;
                acc[j] = t + 1e-7f;
            } else {
                acc[j] = fmaf(acc[j], 0.99999994f, 1e-7f);
            }
        }
    }
    if (isa == 0) { /* the scalar loop sums the chains in order */
        float r = 0;
        for (int j = 0; j < chains; j++) r += acc[j];
        return r;
    }
    float sum = acc[0];
    for (int j = 1; j < chains; j++) sum += acc[j];
    float r = 0;
    for (int l = 0; l < lanes; l++) r += sum;
    return r;
}

static void kernels(void) {
    qb_rng g;
    qb_rng_seed(&g, 3);
    static float a[4103], b[4103], c[4103], d[4103];
    for (int i = 0; i < 4103; i++) {
        a[i] = (float)((int64_t)(qb_rng_next(&g) % 2001) - 1000);
        b[i] = (float)((int64_t)(qb_rng_next(&g) % 2001) - 1000);
    }
    const int64_t lens[] = {0, 1, 7, 31, 32, 33, 63, 100, 1000, 4103};
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        int64_t n = lens[k];
        double ref = 0;
        for (int64_t i = 0; i < n; i++) ref += a[i];
        CHECK(qb_kern_read(a, n) == (float)ref, "read n=%lld: %g vs %g", (long long)n, qb_kern_read(a, n), ref);
        memset(c, 0, sizeof c);
        qb_kern_copy(c, a, n);
        CHECK(memcmp(c, a, sizeof(float) * (size_t)n) == 0 && (n == 4103 || c[n] == 0), "copy n=%lld", (long long)n);
        memset(d, 0, sizeof d);
        qb_kern_triad(d, a, b, 3.0f, n);
        int ok = 1;
        for (int64_t i = 0; i < n; i++) ok &= d[i] == a[i] + 3.0f * b[i];
        CHECK(ok && (n == 4103 || d[n] == 0), "triad n=%lld", (long long)n);
    }
    int best = qb_kern_best_isa();
    for (int isa = 0; isa <= best; isa++) {
        float got = qb_kern_fma(isa, 1000, 1.5f), want = emulate_fma(isa, 1000, 1.5f);
        CHECK(got == want, "fma %s: %.9g vs emulated %.9g", qb_isa_names[isa], got, want);
    }
    CHECK(qb_kern_fma_flops_per_iter(1) == 192 && qb_kern_fma_flops_per_iter(2) == 384, "flops per iteration");
}

/* ---- team and sample loop ------------------------------------------------------------------ */

typedef struct team_ctx {
    atomic_int ran[8];
    atomic_int wrong_n;
    int expect_n;
} team_ctx;

static void mark(void *p, int t, int n) {
    team_ctx *x = p;
    atomic_fetch_add(&x->ran[t], 1);
    if (n != x->expect_n) atomic_fetch_add(&x->wrong_n, 1);
}

static void count_iter(void *p, int64_t i) {
    int64_t *calls = p;
    CHECK_LIMITED(i == *calls, "iteration index %lld, expected %lld", (long long)i, (long long)*calls);
    (*calls)++;
}

static void team_and_timer(void) {
    for (int n = 1; n <= 3; n++) {
        team_ctx x = {.expect_n = n};
        qb_team *t = qb_team_start(n, 1, QB_TEAM_NEVER_SLEEP);
        CHECK(qb_team_size(t) == n, "team size %d", qb_team_size(t));
        for (int rep = 0; rep < 300; rep++) qb_team_run(t, mark, &x);
        qb_team_stop(t);
        for (int m = 0; m < 8; m++)
            CHECK(atomic_load(&x.ran[m]) == (m < n ? 300 : 0), "n=%d member %d ran %d times", n, m, atomic_load(&x.ran[m]));
        CHECK(atomic_load(&x.wrong_n) == 0, "members saw the team size");
    }
    qb_bench_cfg cfg = {.samples = 12, .min_sample_ns = 100000, .warmup_ns = 10000};
    qb_samples s;
    int64_t calls = 0;
    CHECK(qb_bench_measure(&cfg, count_iter, &calls, &s) == QB_OK, "measure");
    int64_t sum = 0;
    for (int i = 0; i < s.n; i++) {
        sum += s.iters[i];
        CHECK_LIMITED(s.ns[i] > 0 && s.iters[i] >= 1, "sample %d", i);
    }
    CHECK(s.n == 12 && calls > sum, "12 samples of %lld iterations after a warm-up (%lld calls)", (long long)sum, (long long)calls);
    cfg.samples = 3; /* one round's share of a case's samples (the sweep and the CLI keep ≥ 10 in all) */
    cfg.fixed_iters = 1;
    calls = 0;
    qb_bench_measure(&cfg, count_iter, &calls, &s);
    CHECK(s.n == 3 && s.iters[0] == 1 && s.iters[2] == 1, "3 samples, fixed iterations: %d × %lld", s.n, (long long)s.iters[0]);
    CHECK(s.probe_ns[0] == 0 && s.probe_ns[2] == 0, "no probe unless asked");
    cfg.probe_bytes = 4 << 20; /* a probe read after each sample, outside it */
    calls = 0;
    qb_bench_measure(&cfg, count_iter, &calls, &s);
    CHECK(s.n == 3 && s.probe_ns[0] > 0 && s.probe_ns[1] > 0 && s.probe_ns[2] > 0, "a probe time beside each sample");

    qb_bench_env e = {.l1d_bytes = 32 << 10, .l2_bytes = 1 << 20, .l3_bytes = 32 << 20};
    CHECK(strcmp(qb_bench_level(&e, 30 << 10, 1), "L1") == 0, "30 KiB on one thread is L1");
    CHECK(strcmp(qb_bench_level(&e, 60 << 10, 2), "L1") == 0, "60 KiB over two threads is L1");
    CHECK(strcmp(qb_bench_level(&e, 60 << 10, 1), "L2") == 0, "60 KiB on one thread is L2");
    CHECK(strcmp(qb_bench_level(&e, 4 << 20, 2), "L3") == 0, "4 MiB is L3");
    CHECK(strcmp(qb_bench_level(&e, 33 << 20, 2), "DRAM") == 0, "33 MiB is DRAM");
}

/* ---- the paired limit kernel ------------------------------------------------------------- */

typedef struct seen_ctx {
    int64_t calls, *pair_calls;
    int64_t seen[4096]; /* the pair's calls so far, at each call of the case's iteration */
} seen_ctx;

static void seen_iter(void *p, int64_t i) {
    seen_ctx *x = p;
    if (i < 4096) x->seen[i] = *x->pair_calls;
    x->calls++;
}

/* The pair's enter and leave hooks: the pair calls seen at each, alternately. */
typedef struct hooks_ctx {
    int64_t *pair_calls;
    int64_t at[64];
    int n;
} hooks_ctx;
static hooks_ctx hooks;
static void hook(void *p) {
    (void)p;
    if (hooks.n < 64) hooks.at[hooks.n++] = *hooks.pair_calls;
}

/* A case's samples, each followed by one of its pair: fixed iterations, so the calls of
 * sample k are known, and the pair calls seen at each must be the warm-up's plus the
 * earlier samples' pair iterations; the enter and leave hooks run around the pair's warm-up
 * and each of its samples, before its first call and after its last. */
static void paired_samples(void) {
    int64_t pair_calls = 0;
    seen_ctx x = {.pair_calls = &pair_calls};
    qb_bench_cfg cfg = {.samples = 10, .min_sample_ns = 20000, .warmup_ns = 10000, .fixed_iters = 3, .pair = count_iter, .pair_ctx = &pair_calls,
                        .pair_enter = hook, .pair_leave = hook};
    hooks = (hooks_ctx){.pair_calls = &pair_calls};
    qb_samples s;
    CHECK(qb_bench_measure(&cfg, seen_iter, &x, &s) == QB_OK && s.n == 10, "measure with a pair");
    int hooks_ok = hooks.n == 22 && hooks.at[0] == 0;
    for (int k = 0, calls = (int)(hooks.at[1] - hooks.at[0]); k < 10 && hooks_ok; k++)
        hooks_ok = hooks.at[2 + 2 * k] == hooks.at[1 + 2 * k] && hooks.at[3 + 2 * k] == hooks.at[2 + 2 * k] + s.pair_iters[k] && calls >= 2;
    CHECK(hooks_ok, "enter and leave around the pair's warm-up and each of its samples (%d calls)", hooks.n);
    int64_t pair_sum = 0;
    for (int k = 0; k < s.n; k++) {
        CHECK_LIMITED(s.pair_ns[k] > 0 && s.pair_iters[k] == 3, "pair sample %d: %lld ns, %lld iterations", k, (long long)s.pair_ns[k],
                      (long long)s.pair_iters[k]);
        pair_sum += s.pair_iters[k];
    }
    const int64_t op_warm = x.calls - 30, pair_warm = pair_calls - pair_sum;
    CHECK(op_warm >= 2 && pair_warm >= 2 && x.calls < 4096, "both warmed up: %lld and %lld calls", (long long)op_warm, (long long)pair_warm);
    for (int k = 0, before = 0; k < s.n; before += (int)s.pair_iters[k], k++) {
        const int64_t first = op_warm + 3 * k, last = first + 2;
        CHECK_LIMITED(x.seen[first] == pair_warm + before && x.seen[last] == pair_warm + before,
                      "sample %d ran after %lld pair calls (expected %lld)", k, (long long)x.seen[first], (long long)(pair_warm + before));
    }
    cfg.pair = NULL;
    x.calls = 0;
    qb_bench_measure(&cfg, seen_iter, &x, &s);
    CHECK(s.pair_ns[0] == 0 && s.pair_iters[9] == 0, "no pair unless asked");
}

/* On a machine whose caches are declared tiny, small dequantize and gemv cases lie beyond the
 * "LLC" and get their paired kernel: copy over the output's two halves, read over the weight
 * copy; cases within the caches get none, and quantize none unless through the reference,
 * which is paired with the fast path at any size; gemm and the sgemm limit case get the FMA
 * kernel. */
static void paired_cases(void) {
    qb_bench_env tiny = {.l1d_bytes = 1 << 10, .l2_bytes = 2 << 10, .l3_bytes = 8 << 10, .cpus = 1};
    qb_bench_env real = {.l1d_bytes = 32 << 10, .l2_bytes = 1 << 20, .l3_bytes = 32 << 20, .cpus = 1};
    qb_bench_cfg cfg = {.samples = 10, .min_sample_ns = 20000, .warmup_ns = 10000, .pin = 0};
    const qb_format *f = qb_format_find("q8_0");
    size_t qbytes = 0;
    qb_format_bytes(f, 64, 256, &qbytes);
    qb_case_result *r = qb_malloc(sizeof *r);
    for (int threads = 1; threads <= 2; threads++) {
        qb_case deq = {.op = QB_OP_DEQUANTIZE, .fmt = f, .backend = "registry", .n = 64, .k = 256, .threads = threads};
        qb_bench_case_run(&deq, &cfg, &tiny, r);
        int all = r->s.n == 10;
        for (int k = 0; k < r->s.n; k++) all &= r->s.pair_ns[k] > 0 && r->s.pair_iters[k] > 0;
        CHECK(r->st == QB_OK && strcmp(r->level, "DRAM") == 0 && strcmp(r->pair_kind, "copy_bw") == 0 && r->pair_bytes == 8.0 * 64 * 256 / 2 && all,
              "dequantize beyond the LLC, %d thread(s): paired with %s of %g bytes, a pair sample after each sample", threads, r->pair_kind,
              r->pair_bytes);
        qb_case gemv = {.op = QB_OP_GEMV, .fmt = f, .backend = "vec_dot", .n = 64, .k = 256, .threads = threads, .span = 4.0 * tiny.l3_bytes};
        qb_bench_case_run(&gemv, &cfg, &tiny, r);
        CHECK(r->st == QB_OK && r->copies == 2 && strcmp(r->pair_kind, "read_bw") == 0 && r->pair_bytes == 4.0 * (double)((qbytes - 3) / 4) &&
                  r->s.pair_ns[9] > 0,
              "gemv beyond the LLC, %d thread(s): paired with %s of %g bytes", threads, r->pair_kind, r->pair_bytes);
    }
    const qb_format *k4 = qb_format_find("q4_K");
    qb_case quant = {.op = QB_OP_QUANTIZE, .fmt = k4, .backend = "registry", .n = 64, .k = 256, .threads = 1};
    qb_bench_case_run(&quant, &cfg, &tiny, r);
    CHECK(r->st == QB_OK && !r->pair_kind[0] && r->s.pair_ns[0] == 0, "quantize through the fast path has no pair");
    quant.backend = "reference";
    qb_bench_case_run(&quant, &cfg, &real, r);
    CHECK(k4->quantize != k4->quantize_ref && r->st == QB_OK && strcmp(r->pair_kind, "fast_path") == 0 && r->pair_bytes == r->bytes &&
              r->s.pair_ns[9] > 0 && strcmp(r->impl, "ref") == 0,
          "quantize through the reference, within the caches too: paired with the fast path (%s)", r->pair_kind);
    qb_case deq = {.op = QB_OP_DEQUANTIZE, .fmt = f, .backend = "registry", .n = 64, .k = 256, .threads = 1};
    qb_bench_case_run(&deq, &cfg, &real, r);
    CHECK(r->st == QB_OK && !r->pair_kind[0] && r->s.pair_ns[0] == 0, "a case within the caches has no pair");
    /* gemm, in the caches too: the FMA kernel on as many threads, its flops per call exact */
    const double fma_call = qb_kern_fma_flops_per_iter(qb_kern_best_isa()) * QB_BENCH_FMA_PAIR_ITERS;
    for (int threads = 1; threads <= 2; threads++) {
        const char *backends[] = {"openblas", "tile_sgemm", "onednn"};
        for (int b = 0; b < 3; b++) {
            if (b == 2 && !qb_onednn_available()) continue;
            qb_case gemm = {.op = QB_OP_GEMM, .fmt = qb_format_find(b == 1 ? "q8_0" : "f32"), .backend = backends[b], .m = 8, .n = 64,
                            .k = 256, .threads = threads};
            qb_bench_case_run(&gemm, &cfg, &real, r);
            int all = r->s.n == 10;
            for (int k = 0; k < r->s.n; k++) all &= r->s.pair_ns[k] > 0 && r->s.pair_iters[k] > 0;
            CHECK(r->st == QB_OK && strcmp(r->pair_kind, "fma_peak") == 0 && r->pair_flops == fma_call * threads && r->pair_bytes == 0 && all,
                  "gemm %s, %d thread(s): paired with %s of %g flops a call (expected %g)", backends[b], threads, r->pair_kind, r->pair_flops,
                  fma_call * threads);
        }
        /* and the square sgemm limit case, the same way */
        qb_case sq = {.op = QB_OP_SGEMM_PEAK, .backend = "openblas", .m = 64, .n = 64, .k = 64, .threads = threads};
        qb_bench_case_run(&sq, &cfg, &real, r);
        CHECK(r->st == QB_OK && strcmp(r->pair_kind, "fma_peak") == 0 && r->pair_flops == fma_call * threads && r->s.pair_ns[r->s.n - 1] > 0,
              "sgemm limit case, %d thread(s): paired with %s of %g flops a call", threads, r->pair_kind, r->pair_flops);
    }
    free(r);
}

/* A quick sweep on the tiny machine: each gemv case beyond the "LLC" and each gemm case store
 * their pair samples, and the paired fraction is the median rate over the median rate of those
 * samples (bytes for gemv's read, flops for gemm's FMA kernel). */
static void paired_sweep(void) {
    char path[] = "/tmp/qb_test_pairXXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "temporary database");
    if (fd < 0) return;
    close(fd);
    unlink(path);
    qb_db db;
    qb_machine m;
    qb_machine_collect(&m);
    char run[37];
    const qb_run_info ri = {.command = "bench", .suite = "test", .config = "{}", .argv = "test_bench_stats"};
    CHECK(qb_db_open(&db, path) == QB_OK && qb_db_begin_run(&db, &m, &ri, run) == QB_OK, "database and run");
    const qb_format *fmts[1] = {qb_format_find("q8_0")};
    const int threads[1] = {1};
    qb_bench_opts o = {.ops = 1u << QB_OP_GEMV | 1u << QB_OP_GEMM, .formats = fmts, .nformats = 1, .threads = threads, .nthreads = 1, .quick = 1,
                       .cfg = {.samples = 10, .min_sample_ns = 20000, .warmup_ns = 10000}};
    qb_bench_env tiny = {.l1d_bytes = 1 << 10, .l2_bytes = 2 << 10, .l3_bytes = 8 << 10, .cpus = 1};
    qb_bench_memory mem[1];
    CHECK(qb_bench_sweep(&db, run, &o, &tiny, NULL, NULL, mem) == QB_OK, "quick gemv and gemm sweep");
    sqlite3_stmt *c, *smp;
    int checked = 0, gemms = 0;
    sqlite3_prepare_v2(db.h,
                       "SELECT id, coalesce(json_extract(config, '$.pair_gbps'), json_extract(config, '$.pair_gflops')),"
                       " json_extract(config, '$.paired_fraction'), coalesce(json_extract(config, '$.pair_bytes_per_iter'),"
                       " json_extract(config, '$.pair_flops_per_iter')), json_extract(config, '$.pair_kind'), op,"
                       " json_extract(config, CASE op WHEN 'gemm' THEN '$.gflops' ELSE '$.gbps' END),"
                       " coalesce(json_extract(config, '$.pair_slow'), 0), json_extract(config, '$.limit_value') FROM bench_cases"
                       " WHERE op IN ('gemv', 'gemm')",
                       -1, &c, NULL);
    sqlite3_prepare_v2(db.h, "SELECT pair_ns, pair_iters FROM bench_samples WHERE case_id = ? ORDER BY idx", -1, &smp, NULL);
    while (sqlite3_step(c) == SQLITE_ROW) {
        const double pair_rate = sqlite3_column_double(c, 1), frac = sqlite3_column_double(c, 2), per_iter = sqlite3_column_double(c, 3);
        const char *kind = (const char *)sqlite3_column_text(c, 4), *op = (const char *)sqlite3_column_text(c, 5);
        const double rate_case = sqlite3_column_double(c, 6);
        const int gemm = strcmp(op, "gemm") == 0;
        /* the stored flag is the rule's verdict on the stored rates (gemm: GFLOP/s against the run's FMA peak) */
        CHECK(sqlite3_column_int(c, 7) == (gemm && qb_bench_pair_slow(pair_rate, sqlite3_column_type(c, 8) == SQLITE_NULL ? NAN : sqlite3_column_double(c, 8))),
              "%s case: pair_slow %d for a pair at %g of limit %g", op, sqlite3_column_int(c, 7), pair_rate, sqlite3_column_double(c, 8));
        gemms += gemm;
        double rate[QB_BENCH_MAX_SAMPLES];
        int n = 0;
        sqlite3_reset(smp);
        sqlite3_bind_text(smp, 1, (const char *)sqlite3_column_text(c, 0), -1, SQLITE_TRANSIENT);
        while (sqlite3_step(smp) == SQLITE_ROW && n < QB_BENCH_MAX_SAMPLES)
            rate[n++] = per_iter * sqlite3_column_double(smp, 1) / sqlite3_column_double(smp, 0);
        const double med = n ? qb_stats_median(rate, n) : NAN;
        CHECK(kind && strcmp(kind, gemm ? "fma_peak" : "read_bw") == 0 && n >= 10 && NEAR(pair_rate, med, 1e-9 * med) &&
                  NEAR(frac, rate_case / pair_rate, 1e-9 * frac),
              "%s case: %d pair samples, pair rate %g (samples' median %g), paired fraction %g = %g / %g", op, n, pair_rate, med, frac,
              rate_case, pair_rate);
        checked++;
    }
    sqlite3_finalize(c);
    sqlite3_finalize(smp);
    CHECK(checked >= 3 && gemms >= 1, "both quick gemv shapes and a gemm checked (%d, %d gemm)", checked, gemms);
    qb_db_close(&db);
    qb_machine_free(&m);
    unlink(path);
}

/* The rule that stops a starved compute pair from vouching for its case (sweep.h): below
 * QB_BENCH_PAIR_SLOW of the run's peak, and only when both rates are known. */
static void pair_slow_rule(void) {
    const double peak = 117.0;
    CHECK(qb_bench_pair_slow(0.5 * peak, peak) && qb_bench_pair_slow(nextafter(QB_BENCH_PAIR_SLOW * peak, 0), peak),
          "a pair at half the peak, or just below the bound, is slow");
    CHECK(!qb_bench_pair_slow(QB_BENCH_PAIR_SLOW * peak, peak) && !qb_bench_pair_slow(0.95 * peak, peak) && !qb_bench_pair_slow(1.2 * peak, peak),
          "a pair at the bound or above is not");
    CHECK(!qb_bench_pair_slow(NAN, peak) && !qb_bench_pair_slow(10.0, NAN), "an unknown rate calls nothing slow");
}

int main(void) {
    known_sets();
    pair_slow_rule();
    properties();
    kernels();
    team_and_timer();
    qb_formats_init();
    paired_samples();
    paired_cases();
    paired_sweep();
    return qbt_finish();
}
