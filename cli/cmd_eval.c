/* cmd_eval.c — `quantbench eval`: perplexity and KL-divergence of a model under several
 * formats (evals/eval_job.h), as a run in the database, printed as one table or --json. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/json.h"
#include "../common/parallel.h"
#include "../common/table.h"
#include "../evals/eval_job.h"
#include "../results/db.h"
#include "cli.h"

#define DEFAULT_TEXT "/usr/share/common-licenses/GPL-3"

static const char usage[] =
    "Usage: quantbench eval --model M --formats F1,F2,… [--text FILE | --tokens FILE] [--ctx N]\n"
    "                       [--chunks N] [--ref f32|f16|bf16] [--threads N] [--ref-mem MB]\n"
    "                       [--methods rtn,imatrix,gptq,awq,smoothquant --calib-text FILE\n"
    "                       [--calib-chunks N] [--sq-alpha A]]\n"
    "                       [--resume[=RUN]] [--db PATH] [--json]\n"
    "\n"
    "Evaluates model M (GGUF or safetensors, Llama family) under each format and scores the\n"
    "text as llama-perplexity does: non-overlapping chunks of --ctx tokens (default 512), the\n"
    "first token of each replaced by BOS when the model adds one, only the second half of each\n"
    "chunk scored. At least 2 x ctx tokens are needed.\n"
    "\n"
    "A format is a registry format (q8_0, nf4, … see 'quantbench formats') or a llama.cpp file\n"
    "type (Q4_K_M, …): the model is quantized in memory. A path to a .gguf file evaluates that\n"
    "already-quantized file. The reference --ref is evaluated first (default: f16 or bf16 when\n"
    "the model's weights are all stored so, as llama.cpp users compare, else f32). Its\n"
    "per-position log-probabilities (2 bytes per vocabulary entry and scored token, as\n"
    "llama.cpp's KLD base file) stay in memory up to --ref-mem MB (default 1024), beyond that\n"
    "in a temporary file beside the database. Each format is compared with it: KL-divergence,\n"
    "Δp of the correct token, same top token, PPL ratio. A format W:A also quantizes the input\n"
    "of every layer product through registry format A (weight+activation schemes):\n"
    "int8_sym_row:int8_sym_row = W8A8 (per-token int8), int4_sym_g128:int8_sym_row = W4A8,\n"
    "fp8_e4m3_pc:fp8_e4m3_pc = FP8 per token, fp8_e4m3_pc:fp8_e4m3_pt = FP8 per tensor.\n"
    "\n"
    "--text FILE   UTF-8 text, tokenized with the model's GGUF tokenizer (default\n"
    "              " DEFAULT_TEXT ", present on every Debian machine)\n"
    "--tokens FILE token ids (decimal, whitespace-separated, or little-endian int32) for a\n"
    "              model whose tokenizer is not implemented; taken as is (include the BOS)\n"
    "--chunks N    evaluate at most N chunks (default: all)\n"
    "--methods M1,M2,…  quantize each format by each method that applies to it (default rtn):\n"
    "              rtn      the format's own round-to-nearest quantize;\n"
    "              imatrix  with llama.cpp's importance weights (mean x² per input column) from\n"
    "                       the calibration text: formats that take them (K-quants, iq*, Q4_K_M, …);\n"
    "              gptq     GPTQ (Hessian from the calibration text, 1% dampening, lazy batches\n"
    "                       of 128, act-order): the int group formats (int4_asym_g128, …),\n"
    "                       q4_0, q8_0, and the K-quants q2_K … q6_K (each super-block's\n"
    "                       scales from the format's own search, diag(H) as importance)\n"
    "              awq      AWQ per-channel scales (grid search on the exponent, folded into the\n"
    "                       norms and weights), then the format's quantize: any quantized format\n"
    "              smoothquant  SmoothQuant scales max|X|^a / max|W|^(1-a), a = --sq-alpha\n"
    "                       (default 0.5), folded likewise: for weight+activation schemes\n"
    "--calib-text FILE    calibration text for every method but rtn (or --calib-tokens FILE:\n"
    "              ids), run through the model as stored in chunks of --ctx tokens, as\n"
    "              llama-imatrix does; use another text than the evaluated one\n"
    "--calib-chunks N     at most N calibration chunks (default 32)\n"
    "--resume      continue an interrupted run (the newest with the same options, or RUN);\n"
    "              formats it already stored are not evaluated again\n"
    "\n"
    "Columns: PPL ± its standard error; ΔPPL % = PPL/PPL(ref) − 1 with an error that accounts\n"
    "for the correlation of the two; mean and 99th percentile KLD in nats; top-1 = how often\n"
    "the most likely token equals the reference's; calib s = collecting the calibration\n"
    "statistics (once per run) plus the method's own search and quantization. --json and\n"
    "the database also hold bits per byte, KLD median/p90/p99.9/max, Δp mean/RMS/percentiles\n"
    "and load time.\n"
    "\n"
    "Example:\n"
    "  quantbench eval --model llama-3.2-1b-f16.gguf --formats q8_0,q6_K,Q4_K_M --ctx 512\n"
    "  quantbench eval --model m-f16.gguf --formats int4_asym_g128,q4_K --methods rtn,imatrix,gptq,awq\n"
    "                  --calib-text wiki.train.raw --text wiki.test.raw\n";

typedef struct printer {
    qb_table t;
    qb_json j;
    int json, nrows;
    double ppl_ref;
} printer;

/* "v ± e" with `decimals` fixed decimals, or (decimals < 0) −decimals significant digits. */
static const char *pm(double v, double e, int decimals) {
    static char buf[8][80];
    static int k;
    char *b = buf[k++ & 7];
    char vs[32], es[32];
    snprintf(vs, sizeof vs, "%s", decimals < 0 ? qb_fmt_g(v, -decimals) : qb_fmt_f(v, decimals));
    snprintf(es, sizeof es, "%s", decimals < 0 ? qb_fmt_g(e, 2) : qb_fmt_f(e, decimals));
    snprintf(b, sizeof buf[0], "%s ± %s", vs, es);
    return b;
}

static void on_row(void *ctx, const qb_eval_row *r, int resumed) {
    printer *p = ctx;
    p->nrows++;
    const qb_ppl_stats *s = &r->st;
    if (p->json) {
        qb_json_obj(&p->j);
        qb_json_kstr(&p->j, "format", r->format);
        qb_json_kstr(&p->j, "method", r->method);
        qb_json_kstr(&p->j, "ref_format", r->ref_format);
        qb_json_kstr(&p->j, "variant", r->variant);
        qb_json_kint(&p->j, "ctx", r->ctx);
        qb_json_kint(&p->j, "chunks", r->chunks);
        qb_json_kint(&p->j, "tokens", r->tokens);
        qb_json_knum(&p->j, "bits_per_weight", r->bits_per_weight);
        qb_json_kint(&p->j, "model_bytes", r->model_bytes);
        const char *k[] = {"ppl", "ppl_err", "bpb", "ppl_ref", "ppl_ratio", "ppl_ratio_err", "kld_mean", "kld_err", "kld_p50", "kld_p90",
                           "kld_p99", "kld_p999", "kld_max", "dp_mean", "dp_err", "dp_rms", "dp_rms_err", "dp_min", "dp_p01", "dp_p50",
                           "dp_p99", "dp_max", "top1", "top1_err", "tokens_per_s", "load_s", "calib_s"};
        const double v[] = {s->ppl, s->ppl_err, r->bpb, s->ppl_ref, s->ppl_ratio, s->ppl_ratio_err, s->kld_mean, s->kld_err, s->kld_p50,
                            s->kld_p90, s->kld_p99, s->kld_p999, s->kld_max, s->dp_mean, s->dp_err, s->dp_rms, s->dp_rms_err, s->dp_min,
                            s->dp_p01, s->dp_p50, s->dp_p99, s->dp_max, s->top1, s->top1_err, r->tokens_per_s, r->load_s, r->calib_s};
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) qb_json_knum(&p->j, k[i], v[i]);
        qb_json_kint(&p->j, "threads", r->threads);
        qb_json_kint(&p->j, "resumed", resumed);
        qb_json_obj_end(&p->j);
        return;
    }
    char size[32];
    snprintf(size, sizeof size, "%.2f", (double)r->model_bytes / (1024.0 * 1024.0));
    const char *cells[] = {r->format,
                           r->method,
                           qb_fmt_f(r->bits_per_weight, 4),
                           size,
                           pm(s->ppl, s->ppl_err, 4),
                           pm(100 * (s->ppl_ratio - 1), 100 * s->ppl_ratio_err, 3),
                           pm(s->kld_mean, s->kld_err, -4),
                           qb_fmt_g(s->kld_p99, 4),
                           pm(100 * s->top1, 100 * s->top1_err, 2),
                           qb_fmt_f(r->tokens_per_s, 1),
                           r->calib_s == r->calib_s ? qb_fmt_f(r->calib_s, 2) : "-"};
    qb_table_row(&p->t, cells);
}

/* The eval job's options that define what a run measures, in a fixed order: --resume
 * compares the config strings, so `run --model` writes these first too (cli.h). */
void qb_cli_eval_config(qb_json *j, const qb_eval_job *job) {
    qb_json_kstr(j, "model", job->model_path);
    qb_json_kstr(j, job->text_path ? "text" : "tokens", job->text_path ? job->text_path : job->tokens_path);
    qb_json_key(j, "formats");
    qb_json_arr(j);
    for (int i = 0; i < job->nformats; i++) qb_json_str(j, job->formats[i]);
    qb_json_arr_end(j);
    qb_json_kstr(j, "ref", job->ref ? job->ref : "default");
    qb_json_kint(j, "ctx", job->ctx);
    qb_json_kint(j, "chunks", job->max_chunks);
    if (job->nmethods) { /* absent when not given, so runs from before --methods resume as before */
        qb_json_key(j, "methods");
        qb_json_arr(j);
        for (int i = 0; i < job->nmethods; i++) qb_json_str(j, job->methods[i]);
        qb_json_arr_end(j);
        qb_json_kstr(j, job->calib_text_path ? "calib_text" : "calib_tokens", job->calib_text_path ? job->calib_text_path : job->calib_tokens_path);
        qb_json_kint(j, "calib_chunks", job->calib_chunks);
        qb_json_knum(j, "sq_alpha", job->sq_alpha);
    }
}

static char *config_json(const qb_eval_job *job) {
    qb_json_doc d;
    qb_cli_eval_config(qb_json_doc_begin(&d), job);
    return qb_json_doc_end(&d);
}

/* The eval job's rows into run_id, as one table or one JSON object; *nrows counts them. */
static qb_status eval_step(qb_cli *cli, qb_db *db, const char *run_id, const qb_eval_job *job, int *nrows) {
    printer p = {.json = cli->json};
    static const char *const cols[] = {"format", "method", ">bits/weight", ">size MiB", ">PPL", ">ΔPPL %", ">mean KLD", ">p99 KLD",
                                       ">top-1 %", ">tokens/s", ">calib s", NULL};
    qb_cli_rows_begin(p.json, &p.j, &p.t, run_id, cols);
    qb_status st = qb_eval_run(db, run_id, job, on_row, &p);
    qb_cli_rows_end(p.json, &p.j, &p.t);
    if (p.json) qb_json_end(&p.j);
    *nrows = p.nrows;
    return st;
}

typedef struct eval_ctx {
    qb_cli *cli;
    const qb_eval_job *job;
    int nrows;
} eval_ctx;

static qb_status eval_job(qb_db *db, const char *run_id, void *ctx) {
    eval_ctx *x = ctx;
    return eval_step(x->cli, db, run_id, x->job, &x->nrows);
}

static qb_status eval_run(qb_cli *cli, const qb_eval_job *job, int resume, const char *resume_id, int argc, char **argv) {
    char *config = config_json(job), run_id[37];
    qb_run_info ri = {.command = "eval", .config = config};
    eval_ctx x = {.cli = cli, .job = job};
    qb_status st = qb_cli_run_job(cli, ri, resume, resume_id, argc, argv, eval_job, &x, run_id);
    if (st == QB_OK) fprintf(stderr, "eval run %s: %d rows (format, method) in %s\n", run_id, x.nrows, cli->db_path);
    free(config);
    return st;
}

qb_status cmd_eval(qb_cli *cli, int argc, char **argv) {
    static const struct option opts[] = {QB_COMMON_OPTIONS,
                                         {"model", required_argument, NULL, 'm'},
                                         {"text", required_argument, NULL, 'x'},
                                         {"tokens", required_argument, NULL, 'k'},
                                         {"formats", required_argument, NULL, 'f'},
                                         {"ctx", required_argument, NULL, 'c'},
                                         {"chunks", required_argument, NULL, 'n'},
                                         {"ref", required_argument, NULL, 'R'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"ref-mem", required_argument, NULL, 'M'},
                                         {"resume", optional_argument, NULL, 'r'},
                                         {"methods", required_argument, NULL, 'E'},
                                         {"calib-text", required_argument, NULL, 'X'},
                                         {"calib-tokens", required_argument, NULL, 'K'},
                                         {"calib-chunks", required_argument, NULL, 'C'},
                                         {"sq-alpha", required_argument, NULL, 'S'},
                                         {NULL, 0, NULL, 0}};
    qb_eval_job job = {.ctx = 512, .threads = qb_cpu_count(), .ref_mem_bytes = INT64_C(1024) << 20, .calib_chunks = 32,
                       .sq_alpha = 0.5};
    const char *formats = NULL, *methods = NULL, *resume_id = NULL;
    int64_t v;
    int resume = 0, c;
    qb_status st = QB_OK;
    while (!st && (c = qb_cli_next(cli, argc, argv, opts, usage)) != QB_CLI_DONE) {
        switch (c) {
        case QB_CLI_HELP: return QB_OK;
        case QB_CLI_ERROR: st = QB_EUSAGE; break;
        case 'm': job.model_path = optarg; break;
        case 'x': job.text_path = optarg; break;
        case 'k': job.tokens_path = optarg; break;
        case 'f': formats = optarg; break;
        case 'c': st = qb_cli_int("ctx", optarg, 4, 1 << 20, &v), job.ctx = (int)v; break;
        case 'n': st = qb_cli_int("chunks", optarg, 1, INT32_MAX, &v), job.max_chunks = (int)v; break;
        case 'R': job.ref = optarg; break;
        case 't': st = qb_cli_int("threads", optarg, 1, 1024, &v), job.threads = (int)v; break;
        case 'M': st = qb_cli_int("ref-mem", optarg, 0, INT64_C(1) << 40, &v), job.ref_mem_bytes = v << 20; break;
        case 'r': resume = 1, resume_id = optarg; break;
        case 'E': methods = optarg; break;
        case 'X': job.calib_text_path = optarg; break;
        case 'K': job.calib_tokens_path = optarg; break;
        case 'C': st = qb_cli_int("calib-chunks", optarg, 1, INT32_MAX, &v), job.calib_chunks = (int)v; break;
        case 'S': {
            char *end;
            job.sq_alpha = strtod(optarg, &end);
            if (*end || !(job.sq_alpha >= 0 && job.sq_alpha <= 1)) st = qb_fail(QB_EUSAGE, "--sq-alpha %s: give a number from 0 to 1", optarg);
            break;
        }
        default: st = qb_fail(QB_EUSAGE, "unexpected option");
        }
    }
    if (!st && optind < argc) st = qb_fail(QB_EUSAGE, "unexpected argument '%s'", argv[optind]);
    if (!st && !job.model_path) st = qb_fail(QB_EUSAGE, "--model is required, e.g. --model model-f16.gguf");
    if (!st && !formats) st = qb_fail(QB_EUSAGE, "--formats is required, e.g. --formats q8_0,q4_K,Q4_K_M");
    if (!st && job.text_path && job.tokens_path) st = qb_fail(QB_EUSAGE, "give --text or --tokens, not both");
    if (!st && job.ref && strcmp(job.ref, "f32") && strcmp(job.ref, "f16") && strcmp(job.ref, "bf16"))
        st = qb_fail(QB_EUSAGE, "--ref %s: the reference is f32, f16 or bf16", job.ref);
    if (!st && job.calib_text_path && job.calib_tokens_path) st = qb_fail(QB_EUSAGE, "give --calib-text or --calib-tokens, not both");
    if (!st && !job.text_path && !job.tokens_path) job.text_path = DEFAULT_TEXT;
    char **list = NULL, **mlist = NULL;
    if (!st && methods) {
        char *copy = qb_strdup(methods), *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            mlist = qb_realloc(mlist, sizeof *mlist * (size_t)(job.nmethods + 1));
            mlist[job.nmethods++] = qb_strdup(tok);
        }
        free(copy);
        if (job.nmethods == 0) st = qb_fail(QB_EUSAGE, "--methods is empty; give rtn, imatrix, gptq, awq, smoothquant");
        job.methods = (const char *const *)mlist;
    }
    if (!st) {
        char *copy = qb_strdup(formats), *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            list = qb_realloc(list, sizeof *list * (size_t)(job.nformats + 1));
            list[job.nformats++] = qb_strdup(tok);
        }
        free(copy);
        if (job.nformats == 0) st = qb_fail(QB_EUSAGE, "--formats is empty; give names such as q8_0,q4_K");
    }
    if (!st) {
        job.formats = (const char *const *)list;
        st = eval_run(cli, &job, resume, resume_id, argc - 1, argv + 1);
    }
    qb_cli_free_list(list, job.nformats);
    qb_cli_free_list(mlist, job.nmethods);
    return st;
}
