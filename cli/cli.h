/* cli.h — what the subcommands share: global options (--db, --json, --help), option
 * parsing with our own one-line messages, and list arguments (formats, weight sources). */
#ifndef QB_CLI_H
#define QB_CLI_H

#include <getopt.h>

#include "../common/json.h"
#include "../common/qb.h"
#include "../common/table.h"
#include "../evals/eval_job.h"
#include "../evals/quant_errors.h"
#include "../formats/format.h"
#include "../results/db.h"

#define QB_DEFAULT_DB "results/quantbench.db"

typedef struct qb_cli {
    const char *db_path; /* --db, default QB_DEFAULT_DB */
    int json;            /* --json: one JSON object on stdout instead of tables */
    const char *cmd;     /* the subcommand, for messages */
    const char *shortopts; /* getopt letters a command also accepts (e.g. "o:" for -o as --out), or NULL */
} qb_cli;

/* Long options every subcommand accepts; put first in each command's option table. */
#define QB_COMMON_OPTIONS                                                                  \
    {"db", required_argument, NULL, 'D'}, {"json", no_argument, NULL, 'J'},              \
        {"help", no_argument, NULL, 'h'}

enum { QB_CLI_DONE = -1, QB_CLI_HELP = -2, QB_CLI_ERROR = -3 };

/* getopt_long over a command's arguments that handles the common options itself. Returns
 * the next command-specific option's val, QB_CLI_DONE at the end (positionals then start
 * at optind), QB_CLI_HELP after printing `usage` to stdout, or QB_CLI_ERROR with the
 * message recorded (unknown option, missing value). */
int qb_cli_next(qb_cli *cli, int argc, char **argv, const struct option *opts, const char *usage);

/* "f16,bf16" or "all" → registry entries (caller frees *out). */
qb_status qb_cli_formats(const char *list, const qb_format ***out, int *n);
/* Appends the comma-separated specs in `list` to *specs; "synthetic:all[:RxC]" expands to
 * every generator. */
/* "Q4_K_M,Q8_0" → llama.cpp file types (caller frees *out). */
qb_status qb_cli_mixes(const char *list, const qb_mix ***out, int *n);
void qb_cli_add_sources(const char *list, char ***specs, int *n);
void qb_cli_free_list(char **list, int n);
/* "I/N" of --shard: 0 <= I < N. */
qb_status qb_cli_shard(const char *s, int *i, int *n);
/* Parses a non-negative integer option value. */
qb_status qb_cli_int(const char *opt, const char *s, int64_t min, int64_t max, int64_t *out);

/* A job run as one run of the database (errors, eval, bench, suites): opens the database,
 * begins a run described by ri (ri.argv is filled from argc/argv) — or with resume, continues
 * run resume_id, or the newest incomplete one with the same command and config — traps
 * SIGINT/SIGTERM into qb_interrupted so the job stops between steps, calls fn, and finishes
 * the run as complete, incomplete (interrupted) or failed (with the error). fn prints its own
 * output; run_id receives the run's id. */
typedef qb_status (*qb_cli_job_fn)(qb_db *db, const char *run_id, void *ctx);
/* A job's rows on stdout: with --json (json = 1) the object {"run": ID, "rows": [ … ]} — the
 * job writes each row into j — else a text table of `cols` the job fills. rows_end closes
 * the array (the object stays open for more keys until qb_json_end) or prints the table, if
 * it has rows, and frees it. */
void qb_cli_rows_begin(int json, qb_json *j, qb_table *t, const char *run_id, const char *const *cols);
void qb_cli_rows_end(int json, qb_json *j, qb_table *t);
qb_status qb_cli_run_job(qb_cli *cli, qb_run_info ri, int resume, const char *resume_id, int argc, char **argv,
                         qb_cli_job_fn fn, void *ctx, char run_id[37]);

/* The errors job's rows into run_id, printed as a table or one JSON object; *nrows counts
 * them. For `errors` and the suites (cmd_run.c), inside qb_cli_run_job. */
qb_status qb_cli_errors_step(qb_cli *cli, qb_db *db, const char *run_id, const qb_errors_job *job, int *nrows);
/* The options that define what an errors job (and the suite `suite`, evaluating `model`)
 * measures, as canonical JSON: --resume compares it. NULLs are left out. Heap string. */
char *qb_cli_errors_config(const char *suite, const qb_errors_job *job, const char *model);
/* The eval job's defining options (model, text, formats, ref, ctx, chunks, methods) into an
 * open JSON object, in the order `eval` and `run --model` both store (cmd_eval.c). */
void qb_cli_eval_config(qb_json *j, const qb_eval_job *job);

/* The model step of `run` (run_model.c): the eval job with speed tests on every format, after
 * the read bandwidth at eval.threads is measured (or found stored in the run), printed as one
 * table — accuracy, speed, bound, memory, verdict — or one JSON object; *nrows counts rows. */
typedef struct qb_model_run {
    qb_eval_job eval;     /* model, text, formats, ctx, chunks, threads; the step sets eval.speed */
    qb_speed_opts speed;  /* n_prompt, n_gen, reps, seed; the step sets read_bw */
    int quick;            /* stated under the table */
} qb_model_run;
qb_status qb_cli_model_step(qb_cli *cli, qb_db *db, const char *run_id, qb_model_run *m, int *nrows);
/* The benchmark sweep's rows into run_id (printed as cmd_bench prints them); *ncases and
 * *secs report what it did. For `bench` and the suites, inside qb_cli_run_job. */
struct qb_bench_opts;
struct qb_bench_env;
qb_status qb_cli_bench_step(qb_cli *cli, qb_db *db, const char *run_id, const struct qb_bench_opts *o, const struct qb_bench_env *env,
                            int *ncases, double *secs);

qb_status cmd_formats(qb_cli *cli, int argc, char **argv);
qb_status cmd_encode(qb_cli *cli, int argc, char **argv);
qb_status cmd_decode(qb_cli *cli, int argc, char **argv);
qb_status cmd_errors(qb_cli *cli, int argc, char **argv);
qb_status cmd_run(qb_cli *cli, int argc, char **argv);
qb_status cmd_report(qb_cli *cli, int argc, char **argv);
qb_status cmd_quantize(qb_cli *cli, int argc, char **argv);
qb_status cmd_inspect(qb_cli *cli, int argc, char **argv);
qb_status cmd_bench(qb_cli *cli, int argc, char **argv);
qb_status cmd_compare(qb_cli *cli, int argc, char **argv);
qb_status cmd_tokenize(qb_cli *cli, int argc, char **argv);
qb_status cmd_merge(qb_cli *cli, int argc, char **argv);
qb_status cmd_eval(qb_cli *cli, int argc, char **argv);
qb_status cmd_train(qb_cli *cli, int argc, char **argv);
qb_status cmd_imatrix(qb_cli *cli, int argc, char **argv);

#endif
