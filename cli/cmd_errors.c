/* cmd_errors.c — `quantbench errors`, and the run lifecycle it shares with `run` (start or
 * resume a run, measure, print, finish). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/json.h"
#include "../common/parallel.h"
#include "../common/table.h"
#include "../results/db.h"
#include "cli.h"

static const char usage[] =
    "Usage: quantbench errors [--formats F1,F2,…|all] [--type Q4_K_M,…] --weights SOURCE[,SOURCE…]\n"
    "                         [--seed S] [--threads N] [--shard I/N] [--resume[=RUN]] [--db PATH] [--json]\n"
    "\n"
    "Quantizes every weight source with every format and prints, per pair: bits per weight\n"
    "(scales included), MSE, RMSE, max abs error, SQNR in dB (higher is better, ≈6 dB per\n"
    "bit) and cosine similarity. Every row is stored in the database as soon as it exists.\n"
    "\n"
    "SOURCE is one of:\n"
    "  synthetic:NAME[:ROWSxCOLS]  seeded generator: gaussian, laplace, student_t, uniform,\n"
    "                              outliers (a few columns 20-100x larger); 'all' = each.\n"
    "                              Default shape 256x4096; σ = 0.02 like LLM weights.\n"
    "  raw:FILE[:COLS]             little-endian float32 file, rows of COLS (default 1 row)\n"
    "  MODEL                       a .gguf, .safetensors or checkpoint directory: every weight\n"
    "                              tensor llama-quantize would quantize, one row each, plus a\n"
    "                              '(total)' row weighted by element count\n"
    "--type takes llama.cpp file types (Q4_K_M, Q3_K_S, …): each tensor of a model is measured\n"
    "in the format llama-quantize gives it (the 'tensor format' column). On models, a format\n"
    "whose block does not divide a tensor's rows takes llama.cpp's fallback, as quantize does.\n"
    "p99 is the 99th percentile of |error| (±4.4 %; p50, p95, p99.9 and the histogram are in\n"
    "--json and the database).\n"
    "--weights may be repeated. --seed (default 0) picks the synthetic data.\n"
    "--resume continues an interrupted run (the newest one with the same options, or RUN),\n"
    "skipping the rows it already stored.\n"
    "--shard I/N measures the I-th of N disjoint parts of the source × format pairs; 'quantbench\n"
    "merge' joins the shards' databases.\n"
    "\n"
    "Example:\n"
    "  quantbench errors --formats f16,bf16,int8_sym_row --weights synthetic:all\n";

typedef struct printer {
    qb_table t;
    qb_json j;
    int json, nrows, models; /* models: tensor columns shown */
} printer;

static void on_row(void *ctx, const char *source, const qb_tensor_error *e, int resumed) {
    printer *p = ctx;
    p->nrows++;
    if (p->json) {
        qb_json_obj(&p->j);
        qb_json_kstr(&p->j, "source", source);
        qb_json_kstr(&p->j, "input_id", e->input_id);
        qb_json_kstr(&p->j, "tensor", e->tensor);
        qb_json_kstr(&p->j, "format", e->format);
        qb_json_kint(&p->j, "rows", e->rows);
        qb_json_kint(&p->j, "cols", e->cols);
        qb_json_knum(&p->j, "bits_per_weight", e->bits_per_weight);
        qb_json_knum(&p->j, "mse", e->mse);
        qb_json_knum(&p->j, "rmse", e->rmse);
        qb_json_knum(&p->j, "max_abs", e->max_abs);
        qb_json_knum(&p->j, "sqnr_db", e->sqnr_db);
        qb_json_knum(&p->j, "cosine", e->cosine);
        qb_json_kstr(&p->j, "tensor_format", e->tensor_format);
        qb_json_knum(&p->j, "p50_abs", e->p50_abs);
        qb_json_knum(&p->j, "p95_abs", e->p95_abs);
        qb_json_knum(&p->j, "p99_abs", e->p99_abs);
        qb_json_knum(&p->j, "p999_abs", e->p999_abs);
        qb_json_kint(&p->j, "resumed", resumed);
        qb_json_obj_end(&p->j);
        return;
    }
    const char *cells[] = {source, e->tensor, e->format, e->tensor_format ? e->tensor_format : e->format,
                           qb_fmt_f(e->bits_per_weight, 4), qb_fmt_g(e->mse, 4), qb_fmt_g(e->rmse, 4), qb_fmt_g(e->max_abs, 4),
                           qb_fmt_g(e->p99_abs, 3), qb_fmt_f(e->sqnr_db, 2), qb_fmt_cosine(e->cosine)};
    if (p->models) qb_table_row(&p->t, cells);
    else qb_table_row(&p->t, (const char *const[]){cells[0], cells[2], cells[4], cells[5], cells[6], cells[7], cells[8], cells[9], cells[10]});
}

char *qb_cli_errors_config(const char *suite, const qb_errors_job *job, const char *model) {
    qb_json_doc d;
    qb_json *j = qb_json_doc_begin(&d);
    if (suite) qb_json_kstr(j, "suite", suite);
    qb_json_key(j, "formats");
    qb_json_arr(j);
    for (int i = 0; i < job->nformats; i++) qb_json_str(j, job->formats[i]->name);
    qb_json_arr_end(j);
    qb_json_key(j, "weights");
    qb_json_arr(j);
    for (int i = 0; i < job->nsources; i++) qb_json_str(j, job->sources[i]);
    qb_json_arr_end(j);
    qb_json_key(j, "types");
    qb_json_arr(j);
    for (int i = 0; i < job->nmixes; i++) qb_json_str(j, job->mixes[i]->name);
    qb_json_arr_end(j);
    qb_json_kint(j, "seed", (int64_t)job->seed);
    if (job->shard_n > 1) {
        qb_json_kint(j, "shard", job->shard_i);
        qb_json_kint(j, "shards", job->shard_n);
    }
    if (model) qb_json_kstr(j, "model", model);
    return qb_json_doc_end(&d);
}

qb_status qb_cli_errors_step(qb_cli *cli, qb_db *db, const char *run_id, const qb_errors_job *job, int *nrows) {
    printer p = {.json = cli->json};
    for (int i = 0; i < job->nsources; i++) /* synthetic and raw sources are single matrices */
        p.models |= strncmp(job->sources[i], "synthetic:", 10) != 0 && strncmp(job->sources[i], "raw:", 4) != 0;
    static const char *const cols[] = {"source", "format", ">bits/weight", ">MSE", ">RMSE", ">max abs err", ">p99 abs err",
                                       ">SQNR dB", ">cosine", NULL};
    static const char *const model_cols[] = {"source", "tensor", "scheme", "tensor format", ">bits/weight", ">MSE", ">RMSE",
                                             ">max abs err", ">p99 abs err", ">SQNR dB", ">cosine", NULL};
    qb_cli_rows_begin(p.json, &p.j, &p.t, run_id, p.models ? model_cols : cols);
    qb_status st = qb_errors_run(db, run_id, job, on_row, &p);
    /* on failure main prints the one error line; rows already measured are printed too */
    qb_cli_rows_end(p.json, &p.j, &p.t);
    if (p.json) qb_json_end(&p.j);
    *nrows = p.nrows;
    return st;
}

typedef struct errors_ctx {
    qb_cli *cli;
    const qb_errors_job *job;
    int nrows;
} errors_ctx;

static qb_status errors_job(qb_db *db, const char *run_id, void *ctx) {
    errors_ctx *x = ctx;
    return qb_cli_errors_step(x->cli, db, run_id, x->job, &x->nrows);
}

qb_status cmd_errors(qb_cli *cli, int argc, char **argv) {
    static const struct option opts[] = {QB_COMMON_OPTIONS, {"formats", required_argument, NULL, 'f'},
                                         {"weights", required_argument, NULL, 'w'}, {"seed", required_argument, NULL, 's'},
                                         {"resume", optional_argument, NULL, 'r'}, {"type", required_argument, NULL, 'T'},
                                         {"threads", required_argument, NULL, 't'}, {"shard", required_argument, NULL, 'H'},
                                         {NULL, 0, NULL, 0}};
    const char *formats = NULL, *resume_id = NULL, *types = NULL;
    int64_t threads = qb_cpu_count();
    char **specs = NULL;
    int nspecs = 0, resume = 0, c, shard_i = 0, shard_n = 1;
    int64_t seed = 0;
    qb_status st = QB_OK;
    while (!st && (c = qb_cli_next(cli, argc, argv, opts, usage)) != QB_CLI_DONE) {
        switch (c) {
        case QB_CLI_HELP: qb_cli_free_list(specs, nspecs); return QB_OK;
        case QB_CLI_ERROR: st = QB_EUSAGE; break;
        case 'f': formats = optarg; break;
        case 'w': qb_cli_add_sources(optarg, &specs, &nspecs); break;
        case 's': st = qb_cli_int("seed", optarg, 0, INT64_MAX, &seed); break;
        case 'r': resume = 1, resume_id = optarg; break;
        case 'T': types = optarg; break;
        case 't': st = qb_cli_int("threads", optarg, 1, 1024, &threads); break;
        case 'H': st = qb_cli_shard(optarg, &shard_i, &shard_n); break;
        default: st = qb_fail(QB_EUSAGE, "unexpected option");
        }
    }
    if (!st && optind < argc) st = qb_fail(QB_EUSAGE, "unexpected argument '%s'", argv[optind]);
    if (!st && !formats && !types) st = qb_fail(QB_EUSAGE, "--formats or --type is required, e.g. --formats f16,bf16 or --type Q4_K_M");
    if (!st && nspecs == 0) st = qb_fail(QB_EUSAGE, "--weights is required, e.g. --weights synthetic:gaussian");
    const qb_format **fmts = NULL;
    const qb_mix **mixes = NULL;
    int nfmts = 0, nmixes = 0;
    if (!st && formats) st = qb_cli_formats(formats, &fmts, &nfmts);
    if (!st && types) st = qb_cli_mixes(types, &mixes, &nmixes);
    if (!st) {
        qb_errors_job job = {.sources = (const char *const *)specs, .nsources = nspecs, .formats = fmts, .nformats = nfmts,
                             .seed = (uint64_t)seed, .skip_misfits = formats && strcmp(formats, "all") == 0,
                             .mixes = mixes, .nmixes = nmixes, .threads = (int)threads, .shard_i = shard_i,
                             .shard_n = shard_n};
        char *config = qb_cli_errors_config(NULL, &job, NULL), run_id[37];
        qb_run_info ri = {.command = "errors", .config = config, .seed = seed};
        errors_ctx x = {cli, &job, 0};
        st = qb_cli_run_job(cli, ri, resume, resume_id, argc - 1, argv + 1, errors_job, &x, run_id);
        if (st == QB_OK) fprintf(stderr, "errors run %s: %d rows in %s; render it with 'quantbench report'\n", run_id, x.nrows, cli->db_path);
        free(config);
    }
    free(fmts);
    free(mixes);
    qb_cli_free_list(specs, nspecs);
    return st;
}
