/* run_model.c — the model step of `quantbench run` (cli.h, qb_cli_model_step): a user's model
 * under each chosen format — accuracy (perplexity, KLD, top-1 against the unquantized
 * reference, evals/eval_job.h), speed as llama-bench measures it (pp/tg tokens/s,
 * time to first token, evals/speed.h) and memory (size, bits/weight, peak resident set) —
 * printed as one table with the selection guide's verdicts (reports/verdict.h).
 *
 * Token generation is also reported as a fraction of its memory-bandwidth bound: the read
 * bandwidth at the same thread count, probed beside each tg repetition (evals/speed.h), over
 * the bytes one generated token reads. The run's limit (bench/'s read_bw_DRAM, stored in the
 * run's limits table) stands in where a probe fails, and is printed beside the probes.
 *
 * Invariants:
 *  1. Every figure printed is a figure stored: the rows come from the eval job's callback,
 *     which reports stored rows (measured now or by the attempt a --resume continues).
 *  2. The run's limit is measured once per run and thread count: a run that already holds
 *     read_bw_DRAM at these threads (the suite's bench step, or an interrupted attempt) uses it. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../bench/sweep.h"
#include "../evals/eval_job.h"
#include "../reports/verdict.h"
#include "cli.h"

/* ---- the measured read bandwidth ----------------------------------------------------------- */

static double stored_read_bw(qb_db *db, const char *run_id, int threads) {
    sqlite3_stmt *s;
    double v = NAN;
    if (sqlite3_prepare_v2(db->h, "SELECT value FROM limits WHERE run_id = ? AND kind = 'read_bw_DRAM' AND threads = ?", -1, &s, NULL) !=
        SQLITE_OK)
        return v;
    sqlite3_bind_text(s, 1, run_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, threads);
    if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_double(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* The machine's limits at `threads` (bench/sweep.h with no format cases), stored in the run. */
static qb_status read_bw(qb_db *db, const char *run_id, int threads, double *bw) {
    *bw = stored_read_bw(db, run_id, threads);
    if (*bw > 0) return QB_OK;
    if (qb_progress_enabled()) fprintf(stderr, "measuring this machine's memory bandwidth and peak at %d thread%s …\n", threads, threads > 1 ? "s" : "");
    qb_bench_env env;
    qb_bench_env_collect(&env);
    qb_bench_opts o = {.threads = &threads, .nthreads = 1,
                       .cfg = {.samples = 10, .min_sample_ns = 5000000, .warmup_ns = 10000000, .max_case_s = 3.0, .pin = 1}};
    qb_bench_memory none[1];
    qb_status st = qb_bench_sweep(db, run_id, &o, &env, NULL, NULL, none);
    if (st) return st;
    *bw = stored_read_bw(db, run_id, threads);
    return *bw > 0 ? QB_OK : qb_fail(QB_ERUNTIME, "the read-bandwidth limit at %d threads was not measured", threads);
}

/* The same read limit measured again in this process (best of 5 samples), beside each tg
 * repetition (evals/speed.h: the bandwidth of a shared machine moves within a minute). */
typedef struct bw_probe {
    qb_bench_env env;
    int threads;
} bw_probe;

static double probe_read_bw(void *ctx) {
    const bw_probe *p = ctx;
    qb_case c = {.op = QB_OP_READ, .backend = "stream", .level = "DRAM", .n = p->env.l3_bytes / 64 * 64, .k = 1, .threads = p->threads};
    qb_bench_cfg cfg = {.samples = 5, .min_sample_ns = 5000000, .warmup_ns = 2000000, .max_case_s = 2.0};
    qb_case_result r;
    qb_bench_case_run(&c, &cfg, &p->env, &r);
    double best = 0;
    for (int i = 0; !r.st && i < r.s.n; i++)
        if (r.s.ns[i] > 0) best = fmax(best, r.bytes * (double)r.s.iters[i] / (double)r.s.ns[i] * 1e9);
    return best;
}

/* ---- rows ------------------------------------------------------------------------------------ */

typedef struct mrow {
    char *format, *method, *ref_format;
    double bpw;
    int64_t model_bytes, file_bytes, rss_eval;
    qb_ppl_stats st;
    int has_speed;
    qb_speed_result sp;
} mrow;

typedef struct collector {
    mrow *r;
    int n;
} collector;

static void on_row(void *ctx, const qb_eval_row *row, int resumed) {
    (void)resumed;
    collector *c = ctx;
    c->r = qb_realloc(c->r, sizeof *c->r * (size_t)(c->n + 1));
    mrow *m = &c->r[c->n++];
    *m = (mrow){qb_strdup(row->format), qb_strdup(row->method), qb_strdup(row->ref_format), row->bits_per_weight, row->model_bytes,
                row->file_bytes, row->rss_peak, row->st, row->speed != NULL, {0}};
    if (row->speed) m->sp = *row->speed;
}

static int is_ref(const mrow *m) { return strcmp(m->format, m->ref_format) == 0 && strcmp(m->method, "rtn") == 0; }

static int64_t peak_rss(const mrow *m) {
    int64_t p = m->rss_eval;
    if (m->has_speed && m->sp.rss_pp > p) p = m->sp.rss_pp;
    if (m->has_speed && m->sp.rss_tg > p) p = m->sp.rss_tg;
    return p;
}

/* The row speed is compared with: f16 as the users ask, else the reference. */
static const mrow *speed_base(const collector *c) {
    for (int i = 0; i < c->n; i++)
        if (strcasecmp(c->r[i].format, "f16") == 0 && c->r[i].has_speed && strcmp(c->r[i].method, "rtn") == 0) return &c->r[i];
    for (int i = 0; i < c->n; i++)
        if (is_ref(&c->r[i]) && c->r[i].has_speed) return &c->r[i];
    return NULL;
}

static const char *bytes_h(int64_t b) {
    static char buf[8][24];
    static int k;
    char *s = buf[k++ & 7];
    if (b <= 0) return "-";
    if (b >= INT64_C(1) << 30) snprintf(s, sizeof buf[0], "%.2f GiB", (double)b / (double)(INT64_C(1) << 30));
    else snprintf(s, sizeof buf[0], "%.1f MiB", (double)b / (double)(1 << 20));
    return s;
}

/* "v ± e" with `decimals` decimals, or "-" for a NaN v. */
static const char *pm(double v, double e, int decimals) {
    static char buf[16][64];
    static int k;
    char *s = buf[k++ & 15];
    if (!(v == v)) return "-";
    char vs[32];
    snprintf(vs, sizeof vs, "%s", qb_fmt_f(v, decimals));
    snprintf(s, sizeof buf[0], "%s ± %s", vs, qb_fmt_f(e, decimals));
    return s;
}

static double tg_fraction(const mrow *m) { return m->has_speed && m->sp.bound_tps > 0 ? m->sp.tg_tps.mean / m->sp.bound_tps : NAN; }

static void put_stat(qb_json *j, const char *key, const qb_speed_stat *s) {
    qb_json_key(j, key);
    qb_json_obj(j);
    qb_json_knum(j, "mean", s->mean);
    qb_json_knum(j, "sd", s->sd);
    qb_json_knum(j, "min", s->min);
    qb_json_knum(j, "max", s->max);
    qb_json_kint(j, "n", s->n);
    qb_json_obj_end(j);
}

static void print_rows(qb_cli *cli, const char *run_id, const collector *c, const qb_model_run *m, double bw, double llc) {
    const mrow *base = speed_base(c);
    double *bpw = qb_malloc(sizeof *bpw * (size_t)(c->n ? c->n : 1)), *kld = qb_malloc(sizeof *kld * (size_t)(c->n ? c->n : 1));
    const char **tier = qb_malloc(sizeof *tier * (size_t)(c->n ? c->n : 1));
    for (int i = 0; i < c->n; i++) {
        const mrow *r = &c->r[i];
        bpw[i] = r->bpw, kld[i] = r->st.kld_mean;
        tier[i] = qb_verdict_tier(is_ref(r), 100 * (r->st.ppl_ratio - 1), r->st.kld_mean);
    }
    const int smallest = qb_verdict_smallest_usable(bpw, kld, tier, c->n);
    char pp_col[32], tg_col[32], vs_col[40];
    snprintf(pp_col, sizeof pp_col, ">pp%d t/s", m->speed.n_prompt);
    snprintf(tg_col, sizeof tg_col, ">tg%d t/s", m->speed.n_gen);
    snprintf(vs_col, sizeof vs_col, ">tg vs %s", base ? base->format : "ref");
    const char *const cols[] = {"format", ">bits/weight", ">size", ">PPL", ">ΔPPL %", ">KLD", ">top-1 %", pp_col, tg_col, ">tg/bound",
                                vs_col, ">peak mem", "verdict", NULL};
    qb_json j;
    qb_table t;
    int in_llc = 0;
    qb_cli_rows_begin(cli->json, &j, &t, run_id, cols);
    for (int i = 0; i < c->n; i++) {
        const mrow *r = &c->r[i];
        const double vs = base && r->has_speed ? r->sp.tg_tps.mean / base->sp.tg_tps.mean : NAN;
        const char *verdict = qb_verdict_label(tier[i], i == smallest);
        if (cli->json) {
            qb_json_obj(&j);
            qb_json_kstr(&j, "format", r->format);
            qb_json_kstr(&j, "method", r->method);
            qb_json_kstr(&j, "ref_format", r->ref_format);
            qb_json_knum(&j, "bits_per_weight", r->bpw);
            qb_json_kint(&j, "model_bytes", r->model_bytes);
            if (r->file_bytes > 0) qb_json_kint(&j, "file_bytes", r->file_bytes);
            qb_json_knum(&j, "ppl", r->st.ppl);
            qb_json_knum(&j, "ppl_err", r->st.ppl_err);
            qb_json_knum(&j, "ppl_ratio", r->st.ppl_ratio);
            qb_json_knum(&j, "ppl_ratio_err", r->st.ppl_ratio_err);
            qb_json_knum(&j, "kld_mean", r->st.kld_mean);
            qb_json_knum(&j, "kld_err", r->st.kld_err);
            qb_json_knum(&j, "top1", r->st.top1);
            qb_json_knum(&j, "top1_err", r->st.top1_err);
            if (r->has_speed) {
                qb_json_kint(&j, "n_prompt", r->sp.n_prompt);
                qb_json_kint(&j, "n_gen", r->sp.n_gen);
                qb_json_kint(&j, "reps", r->sp.reps);
                put_stat(&j, "pp_tps", &r->sp.pp_tps);
                put_stat(&j, "tg_tps", &r->sp.tg_tps);
                put_stat(&j, "ttft_s", &r->sp.ttft_s);
                qb_json_knum(&j, "bytes_per_token", r->sp.bytes_per_token);
                qb_json_knum(&j, "read_bw", r->sp.read_bw);
                qb_json_knum(&j, "bound_tps", r->sp.bound_tps);
                qb_json_knum(&j, "tg_fraction_of_bound", tg_fraction(r));
            qb_json_kint(&j, "fits_llc", r->sp.bytes_per_token < llc);
                qb_json_knum(&j, "tg_vs_base", vs);
                qb_json_kint(&j, "rss_pp_bytes", r->sp.rss_pp);
                qb_json_kint(&j, "rss_tg_bytes", r->sp.rss_tg);
            }
            qb_json_kint(&j, "rss_eval_bytes", r->rss_eval);
            qb_json_kint(&j, "peak_rss_bytes", peak_rss(r));
            qb_json_kstr(&j, "verdict", tier[i]);
            qb_json_kint(&j, "smallest_usable", i == smallest);
            qb_json_obj_end(&j);
            continue;
        }
        char vs_s[24], frac[24];
        snprintf(vs_s, sizeof vs_s, "%s×", qb_fmt_f(vs, 2));
        snprintf(frac, sizeof frac, "%s%s", qb_fmt_f(tg_fraction(r), 2), r->has_speed && r->sp.bytes_per_token < llc ? "*" : "");
        in_llc |= r->has_speed && r->sp.bytes_per_token < llc;
        const char *cells[] = {r->format,
                               qb_fmt_f(r->bpw, 2),
                               bytes_h(r->model_bytes),
                               pm(r->st.ppl, r->st.ppl_err, 4),
                               pm(100 * (r->st.ppl_ratio - 1), 100 * r->st.ppl_ratio_err, 2),
                               qb_fmt_g(r->st.kld_mean, 3),
                               qb_fmt_f(100 * r->st.top1, 2),
                               r->has_speed ? pm(r->sp.pp_tps.mean, r->sp.pp_tps.sd, 1) : "-",
                               r->has_speed ? pm(r->sp.tg_tps.mean, r->sp.tg_tps.sd, 1) : "-",
                               r->has_speed ? frac : "-",
                               vs == vs ? vs_s : "-",
                               bytes_h(peak_rss(r)),
                               verdict ? verdict : "-"};
        qb_table_row(&t, cells);
    }
    qb_cli_rows_end(cli->json, &j, &t);
    if (cli->json) {
        qb_json_knum(&j, "read_bw", bw);
        qb_json_kint(&j, "threads", m->eval.threads);
        qb_json_kint(&j, "quick", m->quick);
        qb_json_end(&j);
    } else if (c->n) {
        double lo = INFINITY, hi = 0;
        for (int i = 0; i < c->n; i++)
            if (c->r[i].has_speed && c->r[i].sp.read_bw > 0) lo = fmin(lo, c->r[i].sp.read_bw), hi = fmax(hi, c->r[i].sp.read_bw);
        char bw_list[64] = "-";
        if (hi > 0) snprintf(bw_list, sizeof bw_list, "%.1f to %.1f", lo * 1e-9, hi * 1e-9);
        printf("tg/bound: tg t/s over the bandwidth bound = read bandwidth / bytes read per generated token (the weights but the\n"
               "embedding table, and the KV cache). The bandwidth at %d thread%s is measured beside each tg repetition (the median\n"
               "of the better probe on either side of each; %s GB/s over the formats, --json has each; the run's limit, at its\n"
               "start, was %.1f GB/s). tg vs %s: tg speed over %s's.\n"
               "peak mem: the process's peak resident set while evaluating or generating with the format.\n"
               "%d repetitions of each speed test (mean ± sd)%s.\n",
               m->eval.threads, m->eval.threads > 1 ? "s" : "", bw_list, bw * 1e-9, base ? base->format : "the reference",
               base ? base->format : "the reference", m->speed.reps,
               m->quick ? ", --quick: fewer chunks, repetitions and tokens than a full run" : "");
        if (in_llc)
            printf("* the bytes a token reads fit in the last-level cache (%.0f MiB): DRAM bandwidth does not bound this model.\n",
                   llc / (1 << 20));
        char *rule = qb_verdict_rule();
        printf("verdict: %s\n", rule);
        free(rule);
    }
    free(bpw);
    free(kld);
    free(tier);
}

qb_status qb_cli_model_step(qb_cli *cli, qb_db *db, const char *run_id, qb_model_run *m, int *nrows) {
    double bw;
    qb_status st = read_bw(db, run_id, m->eval.threads, &bw);
    if (st) return st;
    bw_probe probe = {.threads = m->eval.threads};
    qb_bench_env_collect(&probe.env);
    m->speed.read_bw = bw;
    m->speed.measure_bw = probe_read_bw, m->speed.measure_bw_ctx = &probe;
    m->eval.speed = &m->speed;
    collector c = {0};
    st = qb_eval_run(db, run_id, &m->eval, on_row, &c);
    print_rows(cli, run_id, &c, m, bw, (double)probe.env.l3_bytes);
    m->speed.measure_bw = NULL, m->speed.measure_bw_ctx = NULL;
    *nrows = c.n;
    for (int i = 0; i < c.n; i++) free(c.r[i].format), free(c.r[i].method), free(c.r[i].ref_format);
    free(c.r);
    return st;
}
