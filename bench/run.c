/* run.c — one case in this process (qb_bench_case_run) or in a forked child
 * (qb_bench_case_fork, see bench.h for why). The child sends its qb_case_result back through
 * a pipe as raw bytes: same binary, same struct layout. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

const char *const qb_op_names[QB_OP_COUNT] = {"read", "copy", "triad", "fma", "sgemm_peak",
                                              "quantize", "dequantize", "gemv", "gemv_latency", "gemm"};

void qb_case_shape(const qb_case *c, char *buf, size_t n) {
    if (c->op == QB_OP_GEMM || c->op == QB_OP_SGEMM_PEAK)
        snprintf(buf, n, "%lldx%lldx%lld", (long long)c->m, (long long)c->n, (long long)c->k);
    else if (c->op == QB_OP_FMA) snprintf(buf, n, "%lld iters", (long long)c->m);
    else snprintf(buf, n, "%lldx%lld", (long long)c->n, (long long)c->k);
}

void qb_bench_case_run(const qb_case *c, const qb_bench_cfg *cfg, const qb_bench_env *env, qb_case_result *r) {
    memset(r, 0, sizeof *r);
    qb_bench_cfg cc = *cfg;
    if (c->op == QB_OP_GEMV_LATENCY) {
        cc.fixed_iters = 1; /* each sample is one call */
        if (cc.samples < 200) cc.samples = 200;
    }
    if (c->op <= QB_OP_SGEMM_PEAK) {
        /* a limit is its best sample: the stream and FMA kernels take 3× the samples (cheap)
         * to catch a quiet moment on a shared machine, and no limit is ever skipped */
        if (c->op != QB_OP_SGEMM_PEAK) cc.samples = cc.samples * 3 > QB_BENCH_MAX_SAMPLES ? QB_BENCH_MAX_SAMPLES : cc.samples * 3;
        cc.max_case_s = 0;
    }
    int rounds = cfg->rounds > 1 ? cfg->rounds : 1;
    cc.samples = (cc.samples + rounds - 1) / rounds;
    if (c->op <= QB_OP_SGEMM_PEAK) qb_bench_limit_case(c, &cc, env, r);
    else if (c->op == QB_OP_GEMM && strcmp(c->backend, "onednn") == 0) qb_bench_onednn_gemm(c, &cc, r);
    else qb_bench_op_case(c, &cc, env, r);
    if (r->st) {
        snprintf(r->msg, sizeof r->msg, "%s", qb_errmsg());
        if (strncmp(r->msg, "skipped: ", 9) == 0) r->skipped = 1;
    }
    snprintf(r->level, sizeof r->level, "%s", qb_bench_level(env, r->working_set, c->threads));
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) r->peak_rss_bytes = (int64_t)ru.ru_maxrss * 1024;
}

void qb_bench_case_fork(const qb_case *c, const qb_bench_cfg *cfg, const qb_bench_env *env, qb_case_result *r) {
    memset(r, 0, sizeof *r);
    int fd[2];
    fflush(NULL);
    if (pipe(fd) != 0) {
        r->st = qb_fail(QB_ERUNTIME, "pipe: %s", strerror(errno));
        snprintf(r->msg, sizeof r->msg, "%s", qb_errmsg());
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        qb_case_result *cr = qb_malloc(sizeof *cr);
        qb_bench_case_run(c, cfg, env, cr);
        const char *p = (const char *)cr;
        size_t left = sizeof *cr;
        while (left > 0) {
            ssize_t w = write(fd[1], p, left);
            if (w <= 0) _exit(1);
            p += w, left -= (size_t)w;
        }
        _exit(0);
    }
    close(fd[1]);
    if (pid < 0) {
        close(fd[0]);
        r->st = qb_fail(QB_ERUNTIME, "fork: %s", strerror(errno));
        snprintf(r->msg, sizeof r->msg, "%s", qb_errmsg());
        return;
    }
    char *p = (char *)r;
    size_t got = 0;
    while (got < sizeof *r) {
        ssize_t n = read(fd[0], p + got, sizeof *r - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (got != sizeof *r) {
        memset(r, 0, sizeof *r);
        r->st = qb_fail(QB_ERUNTIME, "%s case process ended without a result (%s %d)", qb_op_names[c->op],
                        WIFSIGNALED(status) ? "signal" : "exit status", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        snprintf(r->msg, sizeof r->msg, "%s", qb_errmsg());
    } else if (r->st) {
        qb_fail(r->st, "%s", r->msg); /* the child's message, for the caller */
    }
}
