/* cmd_run.c — `quantbench run`: the main job, each invocation one run in the database (so
 * `compare` and `report` see it whole), its report written at the end.
 *
 * `run --model FILE` answers "on my machine, with my model, what do I give up and what do I
 * gain with each format": the model step (run_model.c) — accuracy, speed and memory of every
 * chosen format — as one table, then the report.
 *
 * `run --suite NAME` (the default when no --model is given) runs named, versioned sets of
 * measurements; the default suite is what ./run.sh runs, the nightly suite what a nightly job
 * compares. Steps:
 *   1. errors: every registered format on every synthetic weight source;
 *   2. bench: dequantize, GEMV and GEMM of the formats behind model_formats against the
 *      machine's limits (the selection guide's speed column, the roofline);
 *   3. model: the model step on the shipped model (datasets/model/quantbench-tiny.gguf, trained
 *      by `quantbench train`, datasets/model/TRAINING.md) under model_formats, on the held-out
 *      license text it never saw; its bandwidth bound uses the limits step 2 measured.
 * The nightly suite measures the same with more samples, split over 6 interleaved rounds
 * (bench/sweep.h: so that two nights of one build agree), at every thread count 1..N. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench/sweep.h"
#include "../common/parallel.h"
#include "../datasets/source.h"
#include "../reports/report.h"
#include "cli.h"

#ifndef QB_SOURCE_DIR
#define QB_SOURCE_DIR "."
#endif
#define QB_SUITE_MODEL QB_SOURCE_DIR "/datasets/model/quantbench-tiny.gguf"
#define QB_SUITE_TEXT "/usr/share/common-licenses/MPL-2.0"
#define QB_SUITE_CTX 128 /* the model's training context */
#define QB_MODEL_TEXT "/usr/share/common-licenses/GPL-3"
#define QB_MODEL_FORMATS "Q8_0,Q6_K,Q5_K_M,Q4_K_M,Q4_0,Q3_K_M"
#define QB_REPORT_DIR "reports/latest"
/* IEEE references, llama.cpp file types where llama.cpp has one (its per-tensor policy), and
 * one of each other family: FP8 with a per-row scale, the MX and NVIDIA 4-bit floats,
 * bitsandbytes NF4, and GPTQ/AWQ-style int4 (asymmetric, groups of 128). */
static const char *const model_formats[] = {"f32",    "bf16",   "f16",    "Q8_0", "Q6_K",        "Q5_K_M", "Q4_K_M",
                                            "Q4_0",   "Q3_K_M", "Q2_K",   "IQ4_NL", "fp8_e4m3_pc", "mxfp4",  "nvfp4",
                                            "nf4",    "int4_asym_g128"};

static const char usage[] =
    "Usage: quantbench run --model FILE [--text FILE | --tokens FILE] [--formats F1,F2,…]\n"
    "                      [--ref f32|f16|bf16] [--device cpu] [--threads N] [--ctx N] [--chunks N]\n"
    "                      [--reps N] [--quick] [--resume[=RUN]] [--report DIR | --no-report]\n"
    "                      [--db PATH] [--json]\n"
    "       quantbench run [--suite default|nightly] [--seed S] [--shard I/N] [--resume[=RUN]]\n"
    "                      [--model FILE | --no-model] [--no-bench] [--report DIR | --no-report]\n"
    "                      [--db PATH] [--json]\n"
    "\n"
    "With --model: what each format costs and gains on your model, on this machine, as one\n"
    "table and one run in the database. For the reference (the weights as stored when they are\n"
    "f16/bf16, else f32: --ref) and each format, it quantizes the model in memory a tensor at a\n"
    "time (a .gguf path evaluates that already-quantized file instead) and measures:\n"
    "  accuracy  perplexity over --text in chunks of --ctx tokens (as llama-perplexity), and\n"
    "            KL-divergence and top-1 agreement against the reference, position by position;\n"
    "  speed     as llama-bench: pp512 (a 512-token prompt in one batch) and tg128 (128 tokens\n"
    "            generated one at a time with the KV cache), random tokens, one warm-up and\n"
    "            --reps timed repetitions (default 5) each, tokens/s mean ± sd; time to first\n"
    "            token (the prompt and the first generated token); tg as a fraction of the\n"
    "            memory-bandwidth bound: the read bandwidth at --threads, measured beside\n"
    "            each repetition, over the bytes one generated token reads;\n"
    "  memory    bits/weight, size of the weights, peak resident set while evaluating and\n"
    "            generating.\n"
    "Then the verdicts of the selection guide, and the report in --report DIR (default\n"
    QB_REPORT_DIR ").\n"
    "\n"
    "  --formats LIST  registry formats, llama.cpp file types or .gguf files\n"
    "                  (default " QB_MODEL_FORMATS ")\n"
    "  --text FILE     evaluation text, tokenized with the model's tokenizer (default\n"
    "                  " QB_MODEL_TEXT "); --tokens FILE: token ids instead\n"
    "  --ctx N         perplexity chunk length (default 512); --chunks N: at most N chunks\n"
    "  --threads N     threads for everything (default: all CPUs)\n"
    "  --device cpu    where the model runs (cpu only in this version)\n"
    "  --quick         a useful answer in minutes on a 7B-class model on a laptop: at most 8\n"
    "                  chunks, pp256/tg32 with 3 repetitions (stated in the output)\n"
    "\n"
    "Without --model, runs a suite (default: --suite default):\n"
    "  default   1. quantization error of every registered format on every synthetic weight\n"
    "               source (gaussian, laplace, student_t, uniform, outliers; 256x4096 each);\n"
    "            2. dequantize, GEMV and GEMM of the formats of step 3 against the machine's\n"
    "               measured limits, at all threads (as 'quantbench bench');\n"
    "            3. the model step above on the shipped model (datasets/model/quantbench-tiny.gguf)\n"
    "               under f32, bf16, f16, Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_0, Q3_K_M, Q2_K, IQ4_NL,\n"
    "               fp8_e4m3_pc, mxfp4, nvfp4, nf4 and int4_asym_g128, against f32 on\n"
    "               " QB_SUITE_TEXT " (held out from its training), ctx 128.\n"
    "  nightly   the same, the benchmarks with 30 samples in 6 interleaved rounds ('bench\n"
    "            --rounds') at every thread count 1..N and the model's pp/tg with 10\n"
    "            repetitions: what a nightly job runs before 'quantbench compare' (exit 3 on\n"
    "            a regression)\n"
    "--model FILE with --suite evaluates another model in step 3; --no-model and --no-bench\n"
    "skip steps. With --json each step prints one JSON object (one line each).\n"
    "\n"
    "--resume continues an interrupted run (the newest with the same options, or RUN) where it\n"
    "stopped. --shard I/N measures the I-th of N disjoint parts of a suite's step 1 (0 <= I < N),\n"
    "so N machines (e.g. a Slurm job array) share one sweep; shard 0 also runs steps 2 and 3.\n"
    "'quantbench merge' then joins their databases.\n"
    "\n"
    "Example:\n"
    "  quantbench run --model Llama-3.2-1B-Instruct-f16.gguf --formats Q8_0,Q4_K_M,Q3_K_M --quick\n";

/* The registry formats behind model_formats, for the bench step (file types by their base). */
static const char *const bench_formats[] = {"f32", "bf16", "f16", "q8_0", "q6_K", "q5_K", "q4_K", "q4_0", "q3_K", "q2_K",
                                            "iq4_nl", "fp8_e4m3_pc", "mxfp4", "nvfp4", "nf4", "int4_asym_g128"};

typedef struct job {
    qb_cli *cli;
    const qb_errors_job *errors;  /* NULL: no errors step (a model run) */
    qb_model_run *model;          /* NULL: no model step */
    const qb_bench_opts *bench;   /* NULL: no bench step */
    const qb_bench_env *env;
    int nrows, nmodel, ncases;
    double bench_s;
} job;

static int has_bench_cases(qb_db *db, const char *run_id) {
    sqlite3_stmt *s;
    int found = 0;
    if (sqlite3_prepare_v2(db->h, "SELECT 1 FROM bench_cases WHERE run_id = ? AND op NOT IN ('read','copy','triad','fma','sgemm_peak') LIMIT 1",
                           -1, &s, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(s, 1, run_id, -1, SQLITE_STATIC);
    found = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_finalize(s);
    return found;
}

static qb_status run_steps(qb_db *db, const char *run_id, void *ctx) {
    job *x = ctx;
    qb_status st = x->errors ? qb_cli_errors_step(x->cli, db, run_id, x->errors, &x->nrows) : QB_OK;
    /* a resumed run whose bench step had started keeps its cases: they are not measured twice */
    if (!st && x->bench && !has_bench_cases(db, run_id)) {
        if (!x->cli->json) printf("\nbenchmarks of the model's formats on this machine:\n");
        st = qb_cli_bench_step(x->cli, db, run_id, x->bench, x->env, &x->ncases, &x->bench_s);
    }
    if (!st && x->model) {
        const qb_eval_job *e = &x->model->eval;
        if (!x->cli->json)
            printf("%smodel %s on %s (ctx %d%s, %d thread%s):\n", x->errors ? "\n" : "", e->model_path,
                   e->text_path ? e->text_path : e->tokens_path, e->ctx, x->model->quick ? ", --quick" : "", e->threads,
                   e->threads > 1 ? "s" : "");
        st = qb_cli_model_step(x->cli, db, run_id, x->model, &x->nmodel);
    }
    return st;
}

/* The options that define what a model run measures, as canonical JSON: --resume compares it. */
static char *model_config(const qb_model_run *m) {
    qb_json_doc d;
    qb_json *j = qb_json_doc_begin(&d);
    qb_cli_eval_config(j, &m->eval);
    qb_json_kint(j, "threads", m->eval.threads);
    qb_json_kint(j, "n_prompt", m->speed.n_prompt);
    qb_json_kint(j, "n_gen", m->speed.n_gen);
    qb_json_kint(j, "reps", m->speed.reps);
    qb_json_kstr(j, "device", "cpu");
    return qb_json_doc_end(&d);
}

/* The run's report into dir, as `quantbench report --run ID --out DIR`; the path of its
 * index.html (heap), or NULL with the reason on stderr. A missing gnuplot leaves the tables
 * (qb_report_write says so) and does not fail the run: its results are stored. */
static char *write_report(qb_cli *cli, const char *run_id, const char *dir) {
    qb_db db;
    if (qb_db_open(&db, cli->db_path) != QB_OK) {
        fprintf(stderr, "quantbench: report not written: %s\n", qb_errmsg());
        return NULL;
    }
    const char *runs[1] = {run_id};
    qb_report_out out = {0};
    qb_status st = qb_report_write(&db, runs, 1, dir, &out);
    char *index = out.index_html ? qb_strdup(out.index_html) : NULL;
    if (st) fprintf(stderr, "quantbench: report: %s\n", qb_errmsg());
    qb_report_out_free(&out);
    qb_db_close(&db);
    return index;
}

static qb_status split_list(const char *list, const char *opt, char ***out, int *n) {
    char *copy = qb_strdup(list), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        *out = qb_realloc(*out, sizeof **out * (size_t)(*n + 1));
        (*out)[(*n)++] = qb_strdup(tok);
    }
    free(copy);
    return *n ? QB_OK : qb_fail(QB_EUSAGE, "--%s is empty", opt);
}

qb_status cmd_run(qb_cli *cli, int argc, char **argv) {
    static const struct option opts[] = {QB_COMMON_OPTIONS, {"suite", required_argument, NULL, 'S'},
                                         {"seed", required_argument, NULL, 's'}, {"resume", optional_argument, NULL, 'r'},
                                         {"shard", required_argument, NULL, 'H'}, {"model", required_argument, NULL, 'm'},
                                         {"no-model", no_argument, NULL, 'n'}, {"no-bench", no_argument, NULL, 'B'},
                                         {"text", required_argument, NULL, 'x'}, {"tokens", required_argument, NULL, 'k'},
                                         {"formats", required_argument, NULL, 'f'}, {"ref", required_argument, NULL, 'R'},
                                         {"device", required_argument, NULL, 'd'}, {"threads", required_argument, NULL, 't'},
                                         {"ctx", required_argument, NULL, 'c'}, {"chunks", required_argument, NULL, 'C'},
                                         {"reps", required_argument, NULL, 'p'}, {"quick", no_argument, NULL, 'q'},
                                         {"report", required_argument, NULL, 'o'}, {"no-report", no_argument, NULL, 'N'},
                                         {NULL, 0, NULL, 0}};
    const char *suite_name = NULL, *resume_id = NULL, *model = NULL, *formats = NULL, *report_dir = QB_REPORT_DIR;
    int resume = 0, c, shard_i = 0, shard_n = 1, no_model = 0, no_bench = 0, quick = 0, reps_given = 0, chunks_given = 0;
    int64_t seed = 0, v;
    qb_model_run mr = {.eval = {.ctx = 512, .threads = qb_cpu_count(), .ref_mem_bytes = INT64_C(1024) << 20},
                       .speed = {.n_prompt = 512, .n_gen = 128, .reps = 5}};
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
        case 'x': mr.eval.text_path = optarg; break;
        case 'k': mr.eval.tokens_path = optarg; break;
        case 'f': formats = optarg; break;
        case 'R': mr.eval.ref = optarg; break;
        case 'd':
            if (strcmp(optarg, "cpu") != 0)
                st = qb_fail(QB_EUSAGE, "--device %s: this version runs models on the CPU only (give --device cpu, or leave it out)", optarg);
            break;
        case 't': st = qb_cli_int("threads", optarg, 1, 1024, &v), mr.eval.threads = (int)v; break;
        case 'c': st = qb_cli_int("ctx", optarg, 4, 1 << 20, &v), mr.eval.ctx = (int)v; break;
        case 'C': st = qb_cli_int("chunks", optarg, 1, INT32_MAX, &v), mr.eval.max_chunks = (int)v, chunks_given = 1; break;
        case 'p': st = qb_cli_int("reps", optarg, 1, 1000, &v), mr.speed.reps = (int)v, reps_given = 1; break;
        case 'q': quick = 1; break;
        case 'o': report_dir = optarg; break;
        case 'N': report_dir = NULL; break;
        default: return qb_fail(QB_EUSAGE, "unexpected option");
        }
    }
    if (st) return st;
    if (optind < argc) return qb_fail(QB_EUSAGE, "unexpected argument '%s'", argv[optind]);
    const int model_run = model && !suite_name;
    if (!suite_name) suite_name = "default";
    const int nightly = strcmp(suite_name, "nightly") == 0;
    if (!model_run && !nightly && strcmp(suite_name, "default") != 0)
        return qb_fail(QB_EUSAGE, "unknown suite '%s' (valid: default, nightly)", suite_name);
    if (model_run && (no_model || no_bench || shard_n > 1))
        return qb_fail(QB_EUSAGE, "--no-model, --no-bench and --shard belong to suites (--suite); a run with --model has one step");
    if (!model_run && (formats || mr.eval.text_path || mr.eval.tokens_path || quick))
        return qb_fail(QB_EUSAGE, "--formats, --text, --tokens and --quick belong to a model run: give --model FILE without --suite");
    if (mr.eval.text_path && mr.eval.tokens_path) return qb_fail(QB_EUSAGE, "give --text or --tokens, not both");
    if (mr.eval.ref && strcmp(mr.eval.ref, "f32") && strcmp(mr.eval.ref, "f16") && strcmp(mr.eval.ref, "bf16"))
        return qb_fail(QB_EUSAGE, "--ref %s: the reference is f32, f16 or bf16", mr.eval.ref);
    /* compare's test needs more than 5 repetitions a side to reach p < 0.002 (compare.h) */
    if (nightly && !reps_given) mr.speed.reps = 10;
    if (quick) {
        if (!chunks_given) mr.eval.max_chunks = 8;
        if (!reps_given) mr.speed.reps = 3;
        mr.speed.n_prompt = 256, mr.speed.n_gen = 32, mr.quick = 1;
    }

    /* the model and the machine are measured whole by shard 0; the errors step is split */
    const int with_model = model_run || (!no_model && shard_i == 0), with_bench = !model_run && !no_bench && shard_i == 0;
    if (!model) model = QB_SUITE_MODEL;
    FILE *mf = with_model ? fopen(model, "rb") : NULL;
    if (with_model && !mf)
        return qb_fail(QB_EINPUT, "%s: cannot open the model%s", model, model_run ? "" : " (give --model FILE, or --no-model to skip the step)");
    if (mf) fclose(mf);

    char **specs = NULL, **flist = NULL;
    int nspecs = 0, nflist = 0;
    const qb_format **fmts = NULL, **bfmts = qb_malloc(sizeof *bfmts * (sizeof bench_formats / sizeof *bench_formats));
    int nfmts = 0, nb = 0;
    qb_bench_env env;
    qb_bench_env_collect(&env);
    int *threads = qb_malloc(sizeof *threads * (size_t)(env.cpus > 0 ? env.cpus : 1)), nthreads = 0;
    if (model_run) {
        mr.eval.model_path = model;
        if (!mr.eval.text_path && !mr.eval.tokens_path) mr.eval.text_path = QB_MODEL_TEXT;
        st = split_list(formats ? formats : QB_MODEL_FORMATS, "formats", &flist, &nflist);
        mr.eval.formats = (const char *const *)flist, mr.eval.nformats = nflist;
    } else {
        qb_cli_add_sources("synthetic:all", &specs, &nspecs);
        st = qb_cli_formats("all", &fmts, &nfmts);
        for (size_t i = 0; !st && i < sizeof bench_formats / sizeof *bench_formats; i++) st = qb_format_require(bench_formats[i], &bfmts[nb++]);
        if (nightly)
            for (int t = 1; t <= env.cpus; t++) threads[nthreads++] = t;
        else
            threads[nthreads++] = env.cpus > 0 ? env.cpus : 1;
        mr.eval = (qb_eval_job){.model_path = model, .text_path = QB_SUITE_TEXT, .formats = model_formats,
                                .nformats = (int)(sizeof model_formats / sizeof *model_formats), .ref = "f32", .ctx = QB_SUITE_CTX,
                                .threads = env.cpus > 0 ? env.cpus : 1, .ref_mem_bytes = INT64_C(256) << 20};
    }
    if (!st) {
        qb_errors_job errors = {.sources = (const char *const *)specs, .nsources = nspecs, .formats = fmts, .nformats = nfmts,
                                .seed = (uint64_t)seed, .skip_misfits = 1, .threads = 1, .shard_i = shard_i, .shard_n = shard_n};
        qb_bench_opts bench = {.ops = 1u << QB_OP_DEQUANTIZE | 1u << QB_OP_GEMV | 1u << QB_OP_GEMM, .formats = bfmts, .nformats = nb,
                               .threads = threads, .nthreads = nthreads,
                               .cfg = {.samples = nightly ? 30 : 10, .rounds = nightly ? 6 : 1, .min_sample_ns = 5000000, .warmup_ns = 10000000,
                                       .max_case_s = 3.0, .pin = 1}};
        char *config = model_run ? model_config(&mr) : qb_cli_errors_config(suite_name, &errors, with_model ? model : NULL), run_id[37];
        qb_run_info ri = {.command = "run", .suite = model_run ? "model" : suite_name, .config = config, .seed = seed};
        job x = {cli, model_run ? NULL : &errors, with_model ? &mr : NULL, with_bench ? &bench : NULL, &env, 0, 0, 0, 0};
        st = qb_cli_run_job(cli, ri, resume, resume_id, argc - 1, argv + 1, run_steps, &x, run_id);
        if (st == QB_OK) { /* one summary line: what was stored where, and the report */
            char *index = report_dir ? write_report(cli, run_id, report_dir) : NULL;
            if (model_run)
                fprintf(stderr, "run %s: %d formats of %s in %s", run_id, x.nmodel, model, cli->db_path);
            else
                fprintf(stderr, "run %s (suite %s): %d error rows, %d model rows, %d bench cases in %s", run_id, suite_name, x.nrows,
                        x.nmodel, x.ncases, cli->db_path);
            if (index) fprintf(stderr, "; report: %s", index);
            fputc('\n', stderr);
            free(index);
        }
        free(config);
    }
    free(threads);
    free(bfmts);
    free(fmts);
    qb_cli_free_list(specs, nspecs);
    qb_cli_free_list(flist, nflist);
    return st;
}
