/* test_stats.c — bench/stats.c on hand-computed sets (median, MAD, modified z-score outlier
 * flags with and without the MAD = 0 fallback, CV, numpy-"linear" percentiles) and on
 * algebraic properties over random samples (shift and scale laws); the limit kernels' fast
 * paths against their scalar references (integer-valued data, so the sums are exact) and the
 * FMA loops against an fmaf emulation of the same chains; the pinned team (every member runs
 * exactly once per dispatch) and the sample loop's bookkeeping. */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "../../common/qbtest.h"
#include "../../common/team.h"
#include "../../datasets/source.h"
#include "../bench.h"

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

int main(void) {
    known_sets();
    properties();
    kernels();
    team_and_timer();
    return qbt_finish();
}
