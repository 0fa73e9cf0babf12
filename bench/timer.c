/* timer.c — the sample loop of bench.h: warm-up, iteration sizing, samples, cache flush. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static unsigned char *flush_buf;
static size_t flush_len;

void qb_cache_flush(void) {
    if (!flush_buf) {
        qb_bench_env e;
        qb_bench_env_collect(&e);
        flush_len = (size_t)(2 * (e.l3_bytes + e.l2_bytes * e.cpus));
        flush_buf = qb_malloc(flush_len);
        memset(flush_buf, 1, flush_len);
    }
    /* one read-modify-write per line evicts every line the case left, dirty ones included */
    volatile unsigned char *p = flush_buf;
    for (size_t i = 0; i < flush_len; i += 64) p[i] = (unsigned char)(p[i] + 1);
}

/* The ns to read the next QB_BENCH_PROBE_WINDOW bytes of a `bytes` buffer (allocated and
 * first-touched at the first call). The windows rotate through the buffer, twice the LLC, so
 * each was evicted since its last read and comes from DRAM, at a small fraction of the cost of
 * reading it all (a latency case takes 200 samples). */
static int64_t probe(int64_t bytes) {
    static float *buf;
    static int64_t n, at;
    const int64_t w = QB_BENCH_PROBE_WINDOW / 4;
    if (!buf || n != bytes / 4) {
        free(buf);
        n = bytes / 4 < w ? w : bytes / 4 / w * w;
        buf = qb_malloc(sizeof *buf * (size_t)n);
        for (int64_t i = 0; i < n; i++) buf[i] = (float)(i & 7);
        at = 0;
    }
    int64_t t0 = qb_now_ns();
    volatile float sink = qb_kern_read(buf + at, w);
    (void)sink;
    int64_t dt = qb_now_ns() - t0;
    at = (at + w) % n;
    return dt;
}

double qb_bench_test_slowdown(void) {
    const char *v = getenv("QB_BENCH_TEST_SLOWDOWN");
    double f = v ? atof(v) : 0.0;
    return f > 0 && f < 10 ? f : 0.0;
}

/* Runs fn until warmup_ns has passed (at least twice; the first call, which pays one-time
 * costs, left out of the estimate) and returns the iterations a sample of min_sample_ns takes;
 * *i counts fn's iterations. */
static int64_t warm_up(const qb_bench_cfg *cfg, void (*fn)(void *ctx, int64_t i), void *ctx, int64_t *i, double *per_iter_ns) {
    int64_t t0 = qb_now_ns(), t1;
    fn(ctx, (*i)++);
    int64_t t_first = qb_now_ns(), first = *i;
    do fn(ctx, (*i)++);
    while ((t1 = qb_now_ns()) - t0 < cfg->warmup_ns);
    *per_iter_ns = (double)(t1 - t_first) / (double)(*i - first);
    return cfg->fixed_iters > 0 ? cfg->fixed_iters : (int64_t)((double)cfg->min_sample_ns / *per_iter_ns) + 1;
}

qb_status qb_bench_measure(const qb_bench_cfg *cfg, void (*fn)(void *ctx, int64_t i), void *ctx, qb_samples *out) {
    memset(out, 0, sizeof *out);
    int samples = cfg->samples < 1 ? 1 : cfg->samples;
    if (samples > QB_BENCH_MAX_SAMPLES) samples = QB_BENCH_MAX_SAMPLES;
    int64_t i = 0, j = 0, pair_iters = 0;
    double per_iter_ns, pair_per_iter_ns;
    const int64_t iters = warm_up(cfg, fn, ctx, &i, &per_iter_ns);
    int all = samples * (cfg->rounds > 1 ? cfg->rounds : 1); /* the case's samples over all its rounds */
    double predicted_s = per_iter_ns * (double)iters * all * 1e-9;
    if (cfg->max_case_s > 0 && predicted_s > cfg->max_case_s)
        return qb_fail(QB_ERUNTIME, "skipped: one iteration takes %.3g s, so %d samples would take %.0f s (over %.0f s)",
                       per_iter_ns * 1e-9, all, predicted_s, cfg->max_case_s);
    if (cfg->pair) {
        if (cfg->pair_enter) cfg->pair_enter(cfg->pair_ctx);
        pair_iters = warm_up(cfg, cfg->pair, cfg->pair_ctx, &j, &pair_per_iter_ns);
        if (cfg->pair_leave) cfg->pair_leave(cfg->pair_ctx);
    }
    double slow = qb_bench_test_slowdown();
    for (int s = 0; s < samples; s++) {
        if (cfg->flush) qb_cache_flush();
        int64_t a = qb_now_ns();
        for (int64_t k = 0; k < iters; k++) fn(ctx, i++);
        if (slow > 0) /* the test knob: a busy wait inside the timed region */
            for (int64_t until = qb_now_ns() + (int64_t)((double)(qb_now_ns() - a) * slow); qb_now_ns() < until;) {
            }
        out->ns[s] = qb_now_ns() - a;
        out->iters[s] = iters;
        out->probe_ns[s] = cfg->probe_bytes > 0 ? probe(cfg->probe_bytes) : 0;
        if (cfg->pair) {
            if (cfg->pair_enter) cfg->pair_enter(cfg->pair_ctx);
            a = qb_now_ns();
            for (int64_t k = 0; k < pair_iters; k++) cfg->pair(cfg->pair_ctx, j++);
            out->pair_ns[s] = qb_now_ns() - a;
            out->pair_iters[s] = pair_iters;
            if (cfg->pair_leave) cfg->pair_leave(cfg->pair_ctx);
        }
        out->n++;
    }
    return QB_OK;
}
