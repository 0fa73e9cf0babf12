/* limits.c — the machine's limits, measured in the same run as the operations so every
 * figure can be given as a fraction of them:
 *   read / copy / triad  STREAM-style bandwidth (bytes: 1, 2, 3 arrays of 4-byte floats per
 *                        element), at sizes resident in L1, L2, L3 and in DRAM (each array
 *                        4× the last-level cache, STREAM's rule), each thread on its own
 *                        contiguous slice that it first-touched itself;
 *   fma                  register-resident FMA chains on every thread: the fp32 peak of the
 *                        widest vector ISA the CPU has (AVX-512F, AVX2+FMA, or scalar);
 *   sgemm                OpenBLAS sgemm on a square n×n×n product, OpenBLAS's own threads,
 *                        paired with the FMA kernel as the GEMM cases are (qb_fma_pair).
 * The vector kernels live in kernels_x86.c (compiled for AVX2/FMA); the scalar versions
 * below are the reference paths used on CPUs without them (and agree with them: the
 * limits test in bench/tests/test_stats.c checks read/copy/triad results). */
#define _GNU_SOURCE /* RTLD_DEFAULT */
#include <cblas.h>
#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/team.h"
#include "bench.h"

const char *const qb_isa_names[3] = {"scalar", "avx2", "avx512"};

#if defined(__x86_64__)
#define QB_BENCH_X86 1
float qb_kern_read_avx2(const float *a, int64_t n);
void qb_kern_copy_avx2(float *restrict b, const float *restrict a, int64_t n);
void qb_kern_triad_avx2(float *restrict a, const float *restrict b, const float *restrict c, float s, int64_t n);
float qb_kern_fma_avx2(int64_t iters, float seed);
float qb_kern_fma_avx512(int64_t iters, float seed);
#endif

int qb_kern_best_isa(void) {
#if QB_BENCH_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}

static int have_avx2(void) { return qb_kern_best_isa() >= 1; }

float qb_kern_read(const float *a, int64_t n) {
#if QB_BENCH_X86
    if (have_avx2()) return qb_kern_read_avx2(a, n);
#endif
    float s[4] = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++) s[k] += a[i + k];
    for (; i < n; i++) s[0] += a[i];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

void qb_kern_copy(float *restrict b, const float *restrict a, int64_t n) {
#if QB_BENCH_X86
    if (have_avx2()) {
        qb_kern_copy_avx2(b, a, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) b[i] = a[i];
}

void qb_kern_triad(float *restrict a, const float *restrict b, const float *restrict c, float s, int64_t n) {
#if QB_BENCH_X86
    if (have_avx2()) {
        qb_kern_triad_avx2(a, b, c, s, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];
}

float qb_kern_fma(int isa, int64_t iters, float seed) {
#if QB_BENCH_X86
    if (isa == 2) return qb_kern_fma_avx512(iters, seed);
    if (isa == 1) return qb_kern_fma_avx2(iters, seed);
#endif
    float acc[8];
    for (int j = 0; j < 8; j++) acc[j] = seed + (float)j;
    for (int64_t it = 0; it < iters; it++)
        for (int j = 0; j < 8; j++) acc[j] = acc[j] * 0.99999994f + 1e-7f;
    float r = 0;
    for (int j = 0; j < 8; j++) r += acc[j];
    return r;
}

double qb_kern_fma_flops_per_iter(int isa) {
    /* chains × lanes × 2 (a fused multiply-add is two flops; the scalar loop's mul + add too) */
    return isa == 2 ? 12 * 16 * 2 : isa == 1 ? 12 * 8 * 2 : 8 * 2;
}

/* ---- the FMA kernel as a GEMM case's pair (bench.h: qb_fma_pair) ------------------------ */

static void fma_pair_slice(void *p, int t, int nt) {
    (void)nt;
    qb_fma_pair *x = p;
    x->sink[t] = qb_kern_fma(x->isa, QB_BENCH_FMA_PAIR_ITERS, 1.0f + (float)t);
}

static void fma_pair_iter(void *p, int64_t i) {
    (void)i;
    qb_fma_pair *x = p;
    qb_team_run(x->team, fma_pair_slice, x);
}

static void fma_pair_enter(void *p) {
    qb_fma_pair *x = p;
    if (x->quiet) x->quiet();
}

static void fma_pair_leave(void *p) {
    qb_fma_pair *x = p;
    if (x->wake) x->wake(x->wake_ctx, 0);
}

void qb_fma_pair_init(qb_fma_pair *x, qb_team *team, qb_bench_cfg *cfg, qb_case_result *r) {
    x->team = team;
    x->quiet = NULL, x->wake = NULL, x->wake_ctx = NULL;
    x->isa = qb_kern_best_isa();
    cfg->pair = fma_pair_iter, cfg->pair_ctx = x;
    cfg->pair_enter = fma_pair_enter, cfg->pair_leave = fma_pair_leave;
    snprintf(r->pair_kind, sizeof r->pair_kind, "fma_peak");
    r->pair_flops = qb_kern_fma_flops_per_iter(x->isa) * QB_BENCH_FMA_PAIR_ITERS * qb_team_size(team);
}

void qb_fma_pair_beside_openblas(qb_fma_pair *x, void (*call)(void *ctx, int64_t i), void *ctx) {
    /* OpenBLAS stops its workers at fork by this export and restarts them on the next call
     * (0.4-0.8 ms): that call is the wake-up, outside the clocks */
    x->quiet = (void (*)(void))dlsym(RTLD_DEFAULT, "blas_thread_shutdown_");
    if (x->quiet) x->wake = call, x->wake_ctx = ctx;
}

static int (*omp_pause_all)(int kind);
static void omp_quiet(void) { omp_pause_all(1 /* omp_pause_soft */); }

void qb_fma_pair_beside_openmp(qb_fma_pair *x, void (*call)(void *ctx, int64_t i), void *ctx) {
    /* libgomp ends its workers here (it frees its thread pool), and the next parallel region
     * starts them again: that call is the wake-up, outside the clocks */
    omp_pause_all = (int (*)(int))dlsym(RTLD_DEFAULT, "omp_pause_resource_all");
    if (omp_pause_all) x->quiet = omp_quiet, x->wake = call, x->wake_ctx = ctx;
}

qb_status qb_bench_measure_library(const qb_bench_cfg *cfg, int threads, void (*fn)(void *ctx, int64_t i), void *ctx,
                                   void (*beside)(qb_fma_pair *, void (*)(void *, int64_t), void *), qb_case_result *r) {
    qb_bench_cfg mc = *cfg;
    qb_team *pair_team = qb_team_start(threads, 0, QB_BENCH_PAIR_IDLE_NS);
    qb_fma_pair fma;
    qb_fma_pair_init(&fma, pair_team, &mc, r);
    beside(&fma, fn, ctx);
    const qb_status st = qb_bench_measure(&mc, fn, ctx, &r->s);
    qb_team_stop(pair_team);
    return st;
}

/* ---- cases ------------------------------------------------------------------------------ */

typedef struct stream_ctx {
    qb_op op;
    float *a, *b, *c;
    int64_t n;
    int64_t iters; /* fma: chain iterations per thread; streams: passes over the slice */
    int isa;
    volatile float sink[QB_BENCH_MAX_THREADS];
    qb_team *team;
} stream_ctx;

static void stream_slice(void *p, int t, int nt) {
    stream_ctx *x = p;
    int64_t lo = x->n * t / nt, hi = x->n * (t + 1) / nt, n = hi - lo;
    if (x->op == QB_OP_FMA) {
        x->sink[t] = qb_kern_fma(x->isa, x->iters, 1.0f + (float)t);
        return;
    }
    for (int64_t rep = 0; rep < x->iters; rep++) {
        switch (x->op) {
        case QB_OP_READ: x->sink[t] = qb_kern_read(x->a + lo, n); break;
        case QB_OP_COPY: qb_kern_copy(x->b + lo, x->a + lo, n); break;
        case QB_OP_TRIAD: qb_kern_triad(x->a + lo, x->b + lo, x->c + lo, 3.0f, n); break;
        default: break;
        }
    }
}

/* first touch by the thread that will use the slice */
static void init_slice(void *p, int t, int nt) {
    stream_ctx *x = p;
    int64_t lo = x->n * t / nt, hi = x->n * (t + 1) / nt;
    for (int64_t i = lo; i < hi; i++) {
        x->a[i] = 1.0f + (float)(i & 7);
        if (x->b) x->b[i] = 2.0f;
        if (x->c) x->c[i] = 0.5f;
    }
}

static void stream_iter(void *p, int64_t i) {
    (void)i;
    stream_ctx *x = p;
    qb_team_run(x->team, stream_slice, x);
}

typedef struct sgemm_ctx {
    float *a, *b, *c;
    int n;
} sgemm_ctx;

static void sgemm_iter(void *p, int64_t i) {
    (void)i;
    sgemm_ctx *x = p;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, x->n, x->n, x->n, 1.0f, x->a, x->n, x->b, x->n, 0.0f, x->c, x->n);
}

void qb_bench_limit_case(const qb_case *c, const qb_bench_cfg *cfg, const qb_bench_env *env, qb_case_result *r) {
    if (c->op == QB_OP_SGEMM_PEAK) {
        int n = (int)c->n;
        sgemm_ctx x = {qb_malloc(sizeof(float) * (size_t)n * n), qb_malloc(sizeof(float) * (size_t)n * n),
                       qb_malloc(sizeof(float) * (size_t)n * n), n};
        for (size_t i = 0; i < (size_t)n * n; i++) x.a[i] = x.b[i] = 0.001f * (float)(i % 1000);
        openblas_set_num_threads(c->threads);
        r->flops = 2.0 * n * (double)n * n;
        r->working_set = 3.0 * sizeof(float) * n * (double)n;
        snprintf(r->impl, sizeof r->impl, "OpenBLAS %s", openblas_get_corename());
        /* paired with the FMA kernel as the GEMM cases are (bench.h, step 4): the limit is
         * still the best sample, and the target judges the rate over the kernel's */
        r->st = qb_bench_measure_library(cfg, c->threads, sgemm_iter, &x, qb_fma_pair_beside_openblas, r);
        free(x.a), free(x.b), free(x.c);
        return;
    }
    stream_ctx x = {.op = c->op, .n = c->n};
    int narrays = c->op == QB_OP_READ ? 1 : c->op == QB_OP_COPY ? 2 : c->op == QB_OP_TRIAD ? 3 : 0;
    x.team = qb_team_start(c->threads, cfg->pin, QB_TEAM_NEVER_SLEEP);
    if (c->op == QB_OP_FMA) {
        x.isa = strcmp(c->backend, "avx512") == 0 ? 2 : strcmp(c->backend, "avx2") == 0 ? 1 : 0;
        x.iters = c->m;
        x.n = qb_team_size(x.team);
        r->flops = qb_kern_fma_flops_per_iter(x.isa) * (double)c->m * qb_team_size(x.team);
        snprintf(r->impl, sizeof r->impl, "%s, 12 chains per thread", qb_isa_names[x.isa]);
    } else {
        x.a = qb_malloc(sizeof(float) * (size_t)c->n);
        if (narrays > 1) x.b = qb_malloc(sizeof(float) * (size_t)c->n);
        if (narrays > 2) x.c = qb_malloc(sizeof(float) * (size_t)c->n);
        qb_team_run(x.team, init_slice, &x);
        /* a cache-resident slice is swept several times per dispatch, so that a dispatch
         * moves ≥ 4 MiB per thread and the team's wake-up (≈ 1 µs) stays out of the figure */
        double per_thread = (double)narrays * sizeof(float) * (double)c->n / qb_team_size(x.team);
        x.iters = (int64_t)ceil(4194304.0 / per_thread);
        r->working_set = (double)narrays * sizeof(float) * (double)c->n;
        r->bytes = r->working_set * (double)x.iters;
        snprintf(r->impl, sizeof r->impl, "%s", have_avx2() ? "avx2" : "scalar");
    }
    r->st = qb_bench_measure(cfg, stream_iter, &x, &r->s);
    qb_team_stop(x.team);
    free(x.a), free(x.b), free(x.c);
    (void)env;
}
