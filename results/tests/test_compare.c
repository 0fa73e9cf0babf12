/* test_compare.c — the regression verdicts (results/compare.h).
 *
 *  - The Mann–Whitney p-value against scipy's documented example (scipy.stats.mannwhitneyu,
 *    method="asymptotic": males [19, 22, 16, 29, 24] vs females [20, 11, 17, 12] → U = 17,
 *    p = 0.11134688653314041) and against hand values (complete separation, all ties).
 *  - Its behaviour as a test, on random samples: under the null (A/A, same distribution)
 *    p < 0.002 happens about 0.2 % of the time; a 15 % slowdown with 3 % noise is always found.
 *  - Whole comparisons on a database filled by hand: A/A gives no regression, a 15 % slower
 *    case is a regression, a 3 % slower one is not (below the minimum effect), unstable cases
 *    and sub-µs calls are not judged, changed error figures are reported exactly, the automatic
 *    baselines are the newest earlier complete runs of the same command on the same machine.
 *  - Several baselines: a case slower than the newest baseline but not than an older one is
 *    not a regression; one slower than both is.
 *  - Model-level speed (model_speed): a tg test 15 % slower over 10 repetitions is a
 *    regression; 5 repetitions against 5 can never reach p < 0.002 and are not judged.
 *  - Probes beside the samples: a case as much slower as its probe is not a regression; one
 *    slower at the same probe time is. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/qbtest.h"
#include "../../datasets/source.h"
#include "../compare.h"

static void test_p_values(void) {
    const double males[] = {19, 22, 16, 29, 24}, females[] = {20, 11, 17, 12};
    double p = qb_mann_whitney_p(males, 5, females, 4);
    CHECK(fabs(p - 0.11134688653314041) < 1e-12, "scipy's example: p = %.17g", p);
    CHECK(fabs(qb_mann_whitney_p(females, 4, males, 5) - p) < 1e-15, "two-sided: symmetric in its arguments");

    double a[10], b[10];
    for (int i = 0; i < 10; i++) a[i] = i + 1, b[i] = i + 11;
    /* U = 0, μ = 50, σ² = 10·10·21/12: z = 49.5/√175 */
    double want = erfc(49.5 / sqrt(175.0) / sqrt(2.0));
    CHECK(fabs(qb_mann_whitney_p(a, 10, b, 10) - want) < 1e-15, "separated samples: p = %g, want %g", qb_mann_whitney_p(a, 10, b, 10), want);
    double same[6] = {3, 3, 3, 3, 3, 3};
    CHECK(qb_mann_whitney_p(same, 3, same + 3, 3) == 1.0, "all ties: p = 1");
    CHECK(qb_mann_whitney_p(a, 0, b, 10) == 1.0, "an empty side: p = 1");
}

static void fill(qb_rng *r, double *x, int n, double centre, double cv) {
    for (int i = 0; i < n; i++) x[i] = centre * exp(cv * qb_rng_normal(r)); /* timings: log-normal */
}

static void test_power_and_size(void) {
    qb_rng r;
    qb_rng_seed(&r, 42);
    double a[15], b[15];
    int false_pos = 0, found = 0, trials = 4000;
    for (int t = 0; t < trials; t++) {
        fill(&r, a, 15, 1000.0, 0.03);
        fill(&r, b, 15, 1000.0, 0.03);
        false_pos += qb_mann_whitney_p(a, 15, b, 15) < 0.002;
        fill(&r, b, 15, 1150.0, 0.03);
        found += qb_mann_whitney_p(a, 15, b, 15) < 0.002;
    }
    /* null rate 0.002 → about 8 of 4000; 25 is beyond 5 binomial standard deviations */
    CHECK(false_pos <= 25, "A/A: %d of %d comparisons below α = 0.002", false_pos, trials);
    CHECK(found == trials, "15 %% slower: found in %d of %d", found, trials);
}

/* ---- whole comparisons ------------------------------------------------------------------ */

static void sql(qb_db *db, const char *q) {
    char *msg = NULL;
    if (sqlite3_exec(db->h, q, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "sql failed: %s: %s\n", msg, q);
        exit(1);
    }
}

/* A gemv case of 20 samples around `centre` ns per iteration; probe > 0: a probe read beside
 * each sample around `probe` ns (independent noise). */
static void add_probed_case(qb_db *db, const char *run, const char *case_id, const char *format, int unstable, double centre,
                            double cv, uint64_t seed, double probe) {
    char q[512];
    snprintf(q, sizeof q,
             "INSERT INTO bench_cases(id, run_id, op, format, backend, device, shape, threads, config, created_at)"
             " VALUES ('%s', '%s', 'gemv', '%s', 'avx2', 'cpu', '4096x4096', 2, '{\"unstable\": %d}', '2026-01-01')",
             case_id, run, format, unstable);
    sql(db, q);
    qb_rng r;
    qb_rng_seed(&r, seed);
    double x[20], pr[20];
    fill(&r, x, 20, centre, cv);
    fill(&r, pr, 20, probe, 0.01);
    for (int i = 0; i < 20; i++) {
        char pn[32] = "NULL";
        if (probe > 0) snprintf(pn, sizeof pn, "%lld", (long long)llround(pr[i]));
        snprintf(q, sizeof q, "INSERT INTO bench_samples(case_id, idx, ns, iters, probe_ns) VALUES ('%s', %d, %lld, 10, %s)", case_id, i,
                 (long long)llround(x[i] * 10), pn);
        sql(db, q);
    }
}

static void add_case(qb_db *db, const char *run, const char *case_id, const char *format, int unstable, double centre, double cv,
                     uint64_t seed) {
    add_probed_case(db, run, case_id, format, unstable, centre, cv, seed, 0);
}

static void add_run(qb_db *db, const char *id, const char *machine, const char *started, const char *status) {
    char q[512];
    snprintf(q, sizeof q,
             "INSERT INTO runs(id, machine_id, command, suite, config, argv, version, git_commit, host, pid, started_at, status)"
             " VALUES ('%s', '%s', 'run', 'nightly', '{}', 'quantbench run', '0', 'x', 'h', 1, '%s', '%s')",
             id, machine, started, status);
    sql(db, q);
}

static const qb_verdict *find(const qb_comparison *c, const char *kind, const char *needle) {
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->v[i].kind, kind) == 0 && strstr(c->v[i].what, needle)) return &c->v[i];
    return NULL;
}

static void test_runs(const char *path) {
    qb_db db;
    if (qb_db_open(&db, path) != QB_OK) {
        fprintf(stderr, "%s\n", qb_errmsg());
        exit(1);
    }
    static const char *const machine_cols = "id, hostname, cpu_model, cpu_flags, cores, mem_bytes, os, kernel, compiler, cflags,"
                                            " sqlite_version, openblas, fingerprint";
    char q[512];
    for (int m = 0; m < 2; m++) {
        snprintf(q, sizeof q, "INSERT INTO machines(%s) VALUES ('m%d','h','cpu','',2,1,'os','k','cc','','3','ob','{}')", machine_cols, m);
        sql(&db, q);
    }
    add_run(&db, "base-old", "m0", "2026-01-01T00:00:00Z", "complete");
    add_run(&db, "base", "m0", "2026-01-02T00:00:00Z", "complete");
    add_run(&db, "broken", "m0", "2026-01-02T12:00:00Z", "failed");
    add_run(&db, "elsewhere", "m1", "2026-01-02T18:00:00Z", "complete");
    add_run(&db, "cand", "m0", "2026-01-03T00:00:00Z", "complete");

    char base[QB_COMPARE_MAX_BASELINES][37];
    int nb = 0;
    CHECK(qb_compare_auto_baselines(&db, "cand", 3, base, &nb) == QB_OK && nb == 2 && strcmp(base[0], "base") == 0 &&
              strcmp(base[1], "base-old") == 0,
          "auto baselines: the newest earlier complete runs on the same machine, newest first; got %d: %s", nb, base[0]);
    CHECK(qb_compare_auto_baselines(&db, "cand", 1, base, &nb) == QB_OK && nb == 1 && strcmp(base[0], "base") == 0,
          "auto baselines, history 1: %d", nb);
    CHECK(qb_compare_auto_baselines(&db, "base-old", 3, base, &nb) == QB_EUSAGE, "no earlier run: a usage error");
    const char one[1][37] = {"base"}, two[2][37] = {"base", "base-old"}, self[1][37] = {"cand"}, back[1][37] = {"cand"};

    /* same distribution; 15 % slower; 3 % slower (under the minimum effect); noisy and unstable */
    add_case(&db, "base", "b1", "q4_0", 0, 10000, 0.02, 1);
    add_case(&db, "cand", "c1", "q4_0", 0, 10000, 0.02, 2);
    add_case(&db, "base", "b2", "q8_0", 0, 10000, 0.02, 3);
    add_case(&db, "cand", "c2", "q8_0", 0, 11500, 0.02, 4);
    add_case(&db, "base", "b3", "q6_K", 0, 10000, 0.005, 5);
    add_case(&db, "cand", "c3", "q6_K", 0, 10300, 0.005, 6);
    add_case(&db, "base", "b4", "iq4_nl", 0, 10000, 0.02, 7);
    add_case(&db, "cand", "c4", "iq4_nl", 1, 13000, 0.3, 8);
    add_case(&db, "cand", "c5", "f16", 0, 10000, 0.02, 9);
    /* 20 % slower, but a call of 0.3 µs: too short to judge */
    add_case(&db, "base", "b6", "q5_0", 0, 300, 0.01, 10);
    add_case(&db, "cand", "c6", "q5_0", 0, 360, 0.01, 11);
    /* the older baseline: q8_0 was as slow then as the candidate is now; q4_K was as fast */
    add_case(&db, "base-old", "o2", "q8_0", 0, 11500, 0.02, 12);
    add_case(&db, "base", "b7", "q4_K", 0, 10000, 0.02, 13);
    add_case(&db, "base-old", "o7", "q4_K", 0, 10000, 0.02, 14);
    add_case(&db, "cand", "c7", "q4_K", 0, 11500, 0.02, 15);
    /* beyond the LLC, with probes: q3_K 35 % slower while the probe beside it is 35 % slower too
     * (a neighbour took bandwidth): not a regression; q5_K 15 % slower at the same probe time: one */
    add_probed_case(&db, "base", "b8", "q3_K", 0, 10000, 0.02, 16, 2e6);
    add_probed_case(&db, "cand", "c8", "q3_K", 0, 13500, 0.02, 17, 2.7e6);
    add_probed_case(&db, "base", "b9", "q5_K", 0, 10000, 0.02, 18, 2e6);
    add_probed_case(&db, "cand", "c9", "q5_K", 0, 11500, 0.02, 19, 2e6);
    sql(&db, "INSERT INTO inputs(id, kind, name, spec, content_hash) VALUES ('in', 'synthetic', 'g', 'synthetic:g', 'h')");
    sql(&db, "INSERT INTO formats(name, family, description, block_elems, block_bytes, row_extra_bytes, tensor_extra_bytes)"
             " VALUES ('q4_0', 'ggml', '', 32, 18, 0, 0), ('q8_0', 'ggml', '', 32, 34, 0, 0)");
    static const char *const te = "INSERT INTO tensor_errors(run_id, input_id, tensor, format, rows, cols, bits_per_weight, mse,"
                                  " max_abs, sqnr_db, cosine, created_at) VALUES ";
    snprintf(q, sizeof q, "%s('base','in','','q4_0',1,32,4.5,1e-4,0.01,20.5,0.99,'t'), ('base','in','','q8_0',1,32,8.5,1e-6,0.001,40.25,0.9999,'t')", te);
    sql(&db, q);
    snprintf(q, sizeof q, "%s('cand','in','','q4_0',1,32,4.5,1e-4,0.01,20.5,0.99,'t'), ('cand','in','','q8_0',1,32,8.5,1.1e-6,0.001,40.0,0.9999,'t')", te);
    sql(&db, q);

    qb_compare_opts o = QB_COMPARE_DEFAULTS;
    qb_comparison c;
    sql(&db, "INSERT INTO inputs(id, kind, name, spec, content_hash) VALUES ('m', 'gguf', 'm.gguf', 'm.gguf', 'hm')");
    /* model-level speed: tg128 over 10 repetitions 15 % slower; pp512 over 5, 15 % slower */
    static const char *const ms = "INSERT INTO model_speed(run_id, model_id, format, method, device, threads, test, n_tokens, reps,"
                                  " tps_mean, tps_sd, samples, created_at) VALUES ";
    snprintf(q, sizeof q, "%s('base','m','Q4_K_M','rtn','cpu',2,'tg128',128,10,6400,64,"
             "'[0.0200,0.0201,0.0199,0.0202,0.0198,0.0200,0.0201,0.0199,0.0200,0.0203]','t'),"
             " ('base','m','Q4_K_M','rtn','cpu',2,'pp512',512,5,5120,51,'[0.100,0.101,0.099,0.100,0.102]','t')", ms);
    sql(&db, q);
    snprintf(q, sizeof q, "%s('cand','m','Q4_K_M','rtn','cpu',2,'tg128',128,10,5565,56,"
             "'[0.0230,0.0231,0.0229,0.0232,0.0228,0.0230,0.0231,0.0229,0.0230,0.0233]','t'),"
             " ('cand','m','Q4_K_M','rtn','cpu',2,'pp512',512,5,4452,45,'[0.115,0.116,0.114,0.115,0.117]','t')", ms);
    sql(&db, q);
    CHECK(qb_compare_runs(&db, one, 1, "cand", &o, &c) == QB_OK, "compare: %s", qb_errmsg());
    const qb_verdict *v;
    CHECK((v = find(&c, "speed", "q4_0")) && strcmp(v->verdict, "unchanged") == 0, "A/A case: %s", v ? v->verdict : "absent");
    CHECK((v = find(&c, "speed", "q8_0")) && strcmp(v->verdict, "regression") == 0 && fabs(v->change - 0.15) < 0.03,
          "15 %% slower: %s, change %g", v ? v->verdict : "absent", v ? v->change : NAN);
    CHECK((v = find(&c, "speed", "q6_K")) && strcmp(v->verdict, "unchanged") == 0 && v->p < 0.002,
          "3 %% slower: significant (p = %g) but under the minimum effect: %s", v ? v->p : NAN, v ? v->verdict : "absent");
    CHECK((v = find(&c, "speed", "iq4_nl")) && strcmp(v->verdict, "unstable") == 0, "unstable: %s", v ? v->verdict : "absent");
    CHECK((v = find(&c, "speed", "f16")) && strcmp(v->verdict, "new") == 0, "new case: %s", v ? v->verdict : "absent");
    CHECK((v = find(&c, "speed", "q5_0")) && strcmp(v->verdict, "too short") == 0, "0.3 µs call: %s", v ? v->verdict : "absent");
    CHECK((v = find(&c, "accuracy", "q4_0")) && strcmp(v->verdict, "unchanged") == 0, "same figures: %s", v ? v->verdict : "absent");
    CHECK((v = find(&c, "accuracy", "q8_0")) && strcmp(v->verdict, "regression") == 0 && v->base == 40.25 && v->cand == 40.0,
          "lower SQNR: %s", v ? v->verdict : "absent");
    CHECK((v = find(&c, "speed", "model tg128 Q4_K_M")) && strcmp(v->verdict, "regression") == 0 && fabs(v->change - 0.15) < 0.01 &&
              fabs(v->cand - 0.023e9) < 1e3,
          "tg128 15 %% slower over 10 repetitions: %s, change %g", v ? v->verdict : "absent", v ? v->change : NAN);
    CHECK((v = find(&c, "speed", "model pp512 Q4_K_M")) && strcmp(v->verdict, "too few samples") == 0,
          "pp512 over 5 repetitions: %s", v ? v->verdict : "absent");
    CHECK((v = find(&c, "speed", "q4_K")) && strcmp(v->verdict, "regression") == 0, "q4_K against the newest: %s",
          v ? v->verdict : "absent");
    CHECK((v = find(&c, "speed", "q3_K")) && strcmp(v->verdict, "unchanged") == 0 && v->scaled && fabs(v->change) < 0.03,
          "35 %% slower with a probe 35 %% slower: %s, change at the baseline's bandwidth %g", v ? v->verdict : "absent",
          v ? v->change : NAN);
    CHECK((v = find(&c, "speed", "q5_K")) && strcmp(v->verdict, "regression") == 0 && v->scaled && fabs(v->change - 0.15) < 0.03,
          "15 %% slower at the same probe time: %s", v ? v->verdict : "absent");
    CHECK((v = find(&c, "speed", "q8_0")) && !v->scaled, "no probes: not scaled");
    CHECK(c.regressions == 5 && c.unstable == 1, "totals: %d regressions, %d unstable", c.regressions, c.unstable);
    qb_comparison_free(&c);

    /* two baselines: q8_0 was as slow in the older one, so it is not confirmed; q4_K is */
    CHECK(qb_compare_runs(&db, two, 2, "cand", &o, &c) == QB_OK && c.nbase == 2, "compare with two baselines: %s", qb_errmsg());
    CHECK((v = find(&c, "speed", "q8_0")) && strcmp(v->verdict, "unchanged") == 0 && fabs(v->change) < 0.03,
          "slower than the newest baseline only: %s, change shown %g (against the nearer one)", v ? v->verdict : "absent",
          v ? v->change : NAN);
    CHECK((v = find(&c, "speed", "q4_K")) && strcmp(v->verdict, "regression") == 0 && fabs(v->change - 0.15) < 0.03,
          "slower than both baselines: %s", v ? v->verdict : "absent");
    CHECK((v = find(&c, "speed", "q6_K")) && strcmp(v->verdict, "unchanged") == 0, "a case the older baseline lacks: %s",
          v ? v->verdict : "absent");
    CHECK((v = find(&c, "speed", "f16")) && strcmp(v->verdict, "new") == 0, "new in both: %s", v ? v->verdict : "absent");
    qb_comparison_free(&c);

    /* a run against itself: every case unchanged */
    CHECK(qb_compare_runs(&db, self, 1, "cand", &o, &c) == QB_OK && c.regressions == 0 && c.improvements == 0, "self: %d regressions",
          c.regressions);
    qb_comparison_free(&c);
    /* the other way round the slowdown is an improvement */
    CHECK(qb_compare_runs(&db, back, 1, "base", &o, &c) == QB_OK && (v = find(&c, "speed", "q8_0")) &&
              strcmp(v->verdict, "improvement") == 0,
          "15 %% faster: %s", v ? v->verdict : "absent");
    qb_comparison_free(&c);
    qb_db_close(&db);
}

int main(void) {
    test_p_values();
    test_power_and_size();
    char dir[] = "/tmp/qb_compare.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char path[64];
    snprintf(path, sizeof path, "%s/c.db", dir);
    test_runs(path);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return qbt_finish();
}
