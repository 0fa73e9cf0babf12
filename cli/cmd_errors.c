/* cmd_errors.c — `quantbench errors`, and the run lifecycle it shares with `run` (start or
 * resume a run, measure, print, finish). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/json.h"
#include "../common/table.h"
#include "../results/db.h"
#include "cli.h"

static const char usage[] =
    "Usage: quantbench errors --formats F1,F2,…|all --weights SOURCE[,SOURCE…] [--seed S]\n"
    "                         [--resume[=RUN]] [--db PATH] [--json]\n"
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
    "--weights may be repeated. --seed (default 0) picks the synthetic data.\n"
    "--resume continues an interrupted run (the newest one with the same options, or RUN),\n"
    "skipping the rows it already stored.\n"
    "\n"
    "Example:\n"
    "  quantbench errors --formats f16,bf16,int8_sym_row --weights synthetic:all\n";

typedef struct printer {
    qb_table t;
    qb_json j;
    int json, nrows;
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
        qb_json_kint(&p->j, "resumed", resumed);
        qb_json_obj_end(&p->j);
        return;
    }
    const char *cells[] = {source, e->format, qb_fmt_f(e->bits_per_weight, 4), qb_fmt_g(e->mse, 4), qb_fmt_g(e->rmse, 4),
                           qb_fmt_g(e->max_abs, 4), qb_fmt_f(e->sqnr_db, 2), qb_fmt_cosine(e->cosine)};
    qb_table_row(&p->t, cells);
}

static void on_signal(int sig) {
    (void)sig;
    qb_interrupted = 1;
}

/* The options that define what a run measures, as canonical JSON: --resume compares it. */
static char *config_json(const char *suite, const qb_errors_job *job) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    qb_json j;
    qb_json_begin(&j, f);
    if (suite) qb_json_kstr(&j, "suite", suite);
    qb_json_key(&j, "formats");
    qb_json_arr(&j);
    for (int i = 0; i < job->nformats; i++) qb_json_str(&j, job->formats[i]->name);
    qb_json_arr_end(&j);
    qb_json_key(&j, "weights");
    qb_json_arr(&j);
    for (int i = 0; i < job->nsources; i++) qb_json_str(&j, job->sources[i]);
    qb_json_arr_end(&j);
    qb_json_kint(&j, "seed", (int64_t)job->seed);
    qb_json_end(&j);
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    return buf;
}

static char *join_argv(int argc, char **argv) {
    char *s = qb_strdup("quantbench");
    for (int i = 0; i < argc; i++) {
        char *next = qb_asprintf("%s %s", s, argv[i]);
        free(s);
        s = next;
    }
    return s;
}

qb_status qb_cli_errors_run(qb_cli *cli, const char *command, const char *suite, const qb_errors_job *job,
                            int resume, const char *resume_id, int argc, char **argv) {
    qb_db db;
    qb_status st = qb_db_open(&db, cli->db_path);
    if (st) return st;
    qb_machine m;
    qb_machine_collect(&m);
    char *config = config_json(suite, job), *args = join_argv(argc, argv);
    qb_run_info ri = {.command = command, .suite = suite, .config = config, .argv = args, .seed = (int64_t)job->seed};
    char run_id[37];
    st = resume ? qb_db_resume_run(&db, &ri, resume_id, run_id) : qb_db_begin_run(&db, &m, &ri, run_id);
    if (!st) {
        struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);

        printer p = {.json = cli->json};
        static const char *const cols[] = {"source", "format", ">bits/weight", ">MSE", ">RMSE", ">max abs err",
                                           ">SQNR dB", ">cosine", NULL};
        if (p.json) {
            qb_json_begin(&p.j, stdout);
            qb_json_kstr(&p.j, "run", run_id);
            qb_json_key(&p.j, "rows");
            qb_json_arr(&p.j);
        } else {
            qb_table_init(&p.t, cols);
        }
        st = qb_errors_run(&db, run_id, job, on_row, &p);
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);

        qb_status fin = qb_db_finish_run(&db, run_id, st == QB_OK ? "complete" : qb_interrupted ? "incomplete" : "failed",
                                         st == QB_OK ? NULL : qb_errmsg());
        if (st == QB_OK) st = fin;
        if (p.json) {
            qb_json_arr_end(&p.j);
            qb_json_end(&p.j);
        } else {
            if (p.nrows) qb_table_print(&p.t, stdout, QB_TABLE_TEXT);
            qb_table_free(&p.t);
        }
        /* on failure main prints the one error line; rows already measured are on stdout */
        if (st == QB_OK)
            fprintf(stderr, "%s run %s: %d rows in %s; render it with 'quantbench report'\n", command, run_id, p.nrows, cli->db_path);
    }
    free(config);
    free(args);
    qb_machine_free(&m);
    qb_db_close(&db);
    return st;
}

qb_status cmd_errors(qb_cli *cli, int argc, char **argv) {
    static const struct option opts[] = {QB_COMMON_OPTIONS, {"formats", required_argument, NULL, 'f'},
                                         {"weights", required_argument, NULL, 'w'}, {"seed", required_argument, NULL, 's'},
                                         {"resume", optional_argument, NULL, 'r'}, {NULL, 0, NULL, 0}};
    const char *formats = NULL, *resume_id = NULL;
    char **specs = NULL;
    int nspecs = 0, resume = 0, c;
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
        default: st = qb_fail(QB_EUSAGE, "unexpected option");
        }
    }
    if (!st && optind < argc) st = qb_fail(QB_EUSAGE, "unexpected argument '%s'", argv[optind]);
    if (!st && !formats) st = qb_fail(QB_EUSAGE, "--formats is required, e.g. --formats f16,bf16 or --formats all");
    if (!st && nspecs == 0) st = qb_fail(QB_EUSAGE, "--weights is required, e.g. --weights synthetic:gaussian");
    const qb_format **fmts = NULL;
    int nfmts = 0;
    if (!st) st = qb_cli_formats(formats, &fmts, &nfmts);
    if (!st) {
        qb_errors_job job = {(const char *const *)specs, nspecs, fmts, nfmts, (uint64_t)seed, strcmp(formats, "all") == 0};
        st = qb_cli_errors_run(cli, "errors", NULL, &job, resume, resume_id, argc - 1, argv + 1);
    }
    free(fmts);
    qb_cli_free_list(specs, nspecs);
    return st;
}
