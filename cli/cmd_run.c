/* cmd_run.c — `quantbench run --suite NAME`: named, versioned sets of measurements, each
 * invocation one run in the database (so `compare` and `report` see it whole). The default
 * suite is what ./run.sh runs; the nightly suite is what a nightly job compares. Steps:
 *   1. errors: every registered format on every synthetic weight source;
 *   2. model: the shipped model (datasets/model/quantbench-tiny.gguf, trained by `quantbench
 *      train`, datasets/model/TRAINING.md) evaluated as `quantbench eval` does, under the
 *      formats of model_formats, on the held-out license text it never saw;
 *   3. bench: dequantize, GEMV and GEMM of the formats behind model_formats against the
 *      machine's limits (the selection guide's speed column, the roofline).
 * The nightly suite measures the same with more samples and every thread count 1..N. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/parallel.h"
#include "../bench/sweep.h"
#include "../datasets/source.h"
#include "../evals/eval_job.h"
#include "cli.h"

#ifndef QB_SOURCE_DIR
#define QB_SOURCE_DIR "."
#endif
#define QB_SUITE_MODEL QB_SOURCE_DIR "/datasets/model/quantbench-tiny.gguf"
#define QB_SUITE_TEXT "/usr/share/common-licenses/MPL-2.0"
#define QB_SUITE_CTX 128 /* the model's training context */
/* IEEE references, llama.cpp file types where llama.cpp has one (its per-tensor policy), and
 * one of each other family: FP8 with a per-row scale, the MX and NVIDIA 4-bit floats,
 * bitsandbytes NF4, and GPTQ/AWQ-style int4 (asymmetric, groups of 128). */
static const char *const model_formats[] = {"f32",    "bf16",   "f16",    "Q8_0", "Q6_K",        "Q5_K_M", "Q4_K_M",
                                            "Q4_0",   "Q3_K_M", "Q2_K",   "IQ4_NL", "fp8_e4m3_pc", "mxfp4",  "nvfp4",
                                            "nf4",    "int4_asym_g128"};

static const char usage[] =
    "Usage: quantbench run [--suite default|nightly] [--seed S] [--shard I/N] [--resume[=RUN]]\n"
    "                      [--model FILE | --no-model] [--no-bench] [--db PATH] [--json]\n"
    "\n"
    "Runs a suite of measurements and stores them in the database as one run; render it\n"
    "with 'quantbench report', judge it against the last one with 'quantbench compare'.\n"
    "\n"
    "Suites:\n"
    "  default   1. quantization error of every registered format on every synthetic weight\n"
    "               source (gaussian, laplace, student_t, uniform, outliers; 256x4096 each);\n"
    "            2. the shipped model (datasets/model/quantbench-tiny.gguf) under f32, bf16,\n"
    "               f16, Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_0, Q3_K_M, Q2_K, IQ4_NL, fp8_e4m3_pc,\n"
    "               mxfp4, nvfp4, nf4 and int4_asym_g128: perplexity and KLD against f32 on\n"
    "               " QB_SUITE_TEXT " (held out from its training), ctx 128;\n"
    "            3. dequantize, GEMV and GEMM of those formats against the machine's measured\n"
    "               limits, at all threads (as 'quantbench bench').\n"
    "  nightly   the same, the benchmarks with 15 samples at every thread count 1..N: what a\n"
    "            nightly job runs before 'quantbench compare' (exit 3 on a regression)\n"
    "\n"
    "--model FILE evaluates another model in step 2; --no-model and --no-bench skip steps.\n"
    "With --json each step prints one JSON object (one line each).\n"
    "\n"
    "--resume continues an interrupted run of the same suite (or RUN) where it stopped.\n"
    "--shard I/N measures the I-th of N disjoint parts of step 1 (0 <= I < N), so N machines\n"
    "(e.g. a Slurm job array) share one sweep; shard 0 also runs steps 2 and 3. 'quantbench\n"
    "merge' then joins their databases.\n";

/* The registry formats behind model_formats, for the bench step (file types by their base). */
static const char *const bench_formats[] = {"f32", "bf16", "f16", "q8_0", "q6_K", "q5_K", "q4_K", "q4_0", "q3_K", "q2_K",
                                            "iq4_nl", "fp8_e4m3_pc", "mxfp4", "nvfp4", "nf4", "int4_asym_g128"};

typedef struct suite {
    qb_cli *cli;
    const qb_errors_job *errors;
    const qb_eval_job *model;    /* NULL: no model step */
    const qb_bench_opts *bench;  /* NULL: no bench step */
    const qb_bench_env *env;
    int nrows, ncases;
    double bench_s;
} suite;

static int has_bench_cases(qb_db *db, const char *run_id) {
    sqlite3_stmt *s;
    int found = 0;
    if (sqlite3_prepare_v2(db->h, "SELECT 1 FROM bench_cases WHERE run_id = ? LIMIT 1", -1, &s, NULL) != SQLITE_OK) return 0;
    sqlite3_bind_text(s, 1, run_id, -1, SQLITE_STATIC);
    found = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_finalize(s);
    return found;
}

static qb_status suite_job(qb_db *db, const char *run_id, void *ctx) {
    suite *x = ctx;
    qb_status st = qb_cli_errors_step(x->cli, db, run_id, x->errors, &x->nrows);
    if (!st && x->model) {
        const qb_eval_job *e = x->model;
        if (!x->cli->json) printf("\nmodel %s on %s (ctx %d, reference %s):\n", e->model_path, e->text_path, e->ctx, e->ref);
        int n = 0;
        st = qb_cli_eval_step(x->cli, db, run_id, e, &n);
    }
    /* a resumed run whose bench step had started keeps its cases: they are not measured twice */
    if (!st && x->bench && !has_bench_cases(db, run_id)) {
        if (!x->cli->json) printf("\nbenchmarks of the model's formats on this machine:\n");
        st = qb_cli_bench_step(x->cli, db, run_id, x->bench, x->env, &x->ncases, &x->bench_s);
    }
    return st;
}

qb_status cmd_run(qb_cli *cli, int argc, char **argv) {
    static const struct option opts[] = {QB_COMMON_OPTIONS, {"suite", required_argument, NULL, 'S'},
                                         {"seed", required_argument, NULL, 's'}, {"resume", optional_argument, NULL, 'r'},
                                         {"shard", required_argument, NULL, 'H'}, {"model", required_argument, NULL, 'm'},
                                         {"no-model", no_argument, NULL, 'n'}, {"no-bench", no_argument, NULL, 'B'},
                                         {NULL, 0, NULL, 0}};
    const char *suite_name = "default", *resume_id = NULL, *model = QB_SUITE_MODEL;
    int resume = 0, c, shard_i = 0, shard_n = 1, no_model = 0, no_bench = 0;
    int64_t seed = 0;
    qb_status st = QB_OK;
    while (!st && (c = qb_cli_next(cli, argc, argv, opts, usage)) != QB_CLI_DONE) {
        switch (c) {
        case QB_CLI_HELP: return QB_OK;
        case QB_CLI_ERROR: return QB_EUSAGE;
        case 'S': suite_name = optarg; break;
        case 's': st = qb_cli_int("seed", optarg, 0, INT64_MAX, &seed); break;
        case 'r': resume = 1, resume_id = optarg; break;
        case 'H': st = qb_cli_shard(optarg, &shard_i, &shard_n); break;
        case 'm': model = optarg; break;
        case 'n': no_model = 1; break;
        case 'B': no_bench = 1; break;
        default: return qb_fail(QB_EUSAGE, "unexpected option");
        }
    }
    if (st) return st;
    if (optind < argc) return qb_fail(QB_EUSAGE, "unexpected argument '%s'", argv[optind]);
    const int nightly = strcmp(suite_name, "nightly") == 0;
    if (!nightly && strcmp(suite_name, "default") != 0)
        return qb_fail(QB_EUSAGE, "unknown suite '%s' (valid: default, nightly)", suite_name);

    /* the model and the machine are measured whole by shard 0; the errors step is split */
    const int with_model = !no_model && shard_i == 0, with_bench = !no_bench && shard_i == 0;
    FILE *mf = with_model ? fopen(model, "rb") : NULL;
    if (with_model && !mf)
        return qb_fail(QB_EINPUT, "the suite's model %s is missing (give --model FILE, or --no-model to skip the step)", model);
    if (mf) fclose(mf);

    char **specs = NULL;
    int nspecs = 0;
    qb_cli_add_sources("synthetic:all", &specs, &nspecs);
    const qb_format **fmts = NULL, **bfmts = qb_malloc(sizeof *bfmts * (sizeof bench_formats / sizeof *bench_formats));
    int nfmts = 0, nb = 0;
    st = qb_cli_formats("all", &fmts, &nfmts);
    for (size_t i = 0; !st && i < sizeof bench_formats / sizeof *bench_formats; i++) st = qb_format_require(bench_formats[i], &bfmts[nb++]);
    qb_bench_env env;
    qb_bench_env_collect(&env);
    int *threads = qb_malloc(sizeof *threads * (size_t)(env.cpus > 0 ? env.cpus : 1)), nthreads = 0;
    if (nightly)
        for (int t = 1; t <= env.cpus; t++) threads[nthreads++] = t;
    else
        threads[nthreads++] = env.cpus > 0 ? env.cpus : 1;
    if (!st) {
        qb_errors_job errors = {.sources = (const char *const *)specs, .nsources = nspecs, .formats = fmts, .nformats = nfmts,
                                .seed = (uint64_t)seed, .skip_misfits = 1, .threads = 1, .shard_i = shard_i, .shard_n = shard_n};
        qb_eval_job eval = {.model_path = model, .text_path = QB_SUITE_TEXT, .formats = model_formats,
                            .nformats = (int)(sizeof model_formats / sizeof *model_formats), .ref = "f32", .ctx = QB_SUITE_CTX,
                            .threads = qb_cpu_count(), .ref_mem_bytes = INT64_C(256) << 20};
        qb_bench_opts bench = {.ops = 1u << QB_OP_DEQUANTIZE | 1u << QB_OP_GEMV | 1u << QB_OP_GEMM, .formats = bfmts, .nformats = nb,
                               .threads = threads, .nthreads = nthreads,
                               .cfg = {.samples = nightly ? 15 : 10, .min_sample_ns = 5000000, .warmup_ns = 10000000,
                                       .max_case_s = 3.0, .pin = 1}};
        char *config = qb_cli_errors_config(suite_name, &errors, with_model ? model : NULL), run_id[37];
        qb_run_info ri = {.command = "run", .suite = suite_name, .config = config, .seed = seed};
        suite x = {cli, &errors, with_model ? &eval : NULL, with_bench ? &bench : NULL, &env, 0, 0, 0};
        st = qb_cli_run_job(cli, ri, resume, resume_id, argc - 1, argv + 1, suite_job, &x, run_id);
        if (st == QB_OK)
            fprintf(stderr, "run %s (suite %s): %d error rows%s, %d bench cases in %s; render it with 'quantbench report'\n", run_id,
                    suite_name, x.nrows, with_model ? ", the model's formats" : "", x.ncases, cli->db_path);
        free(config);
    }
    free(threads);
    free(bfmts);
    free(fmts);
    qb_cli_free_list(specs, nspecs);
    return st;
}
