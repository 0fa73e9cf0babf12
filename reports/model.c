/* model.c — the model-run part of the report (`quantbench run --model`): for each format of a
 * model, its accuracy (evals), its speed as llama-bench measures it (model_speed: prompt
 * processing ppN and generation tgN) and its memory, in the one table the CLI prints
 * (cli/run_model.c), with the selection guide's verdicts (verdict.h); the speed/accuracy
 * trade-off with its Pareto front; pp and tg bars with error bars and the bandwidth bound;
 * then every stored figure, folded, and the evaluation's own plots (evals.c).
 *
 * Invariants:
 *  1. A row is one (format, method) of the model at one (device, threads). Its accuracy is
 *     the evals row of the same run, model, format and method, from the evaluation's most
 *     common text and context (as the guide); methods match without evals' 'perplexity'
 *     prefix ('perplexity' = 'rtn', 'perplexity+gptq' = 'gptq'). An evaluated format without
 *     speed rows is listed too, its speed cells empty.
 *  2. pp and tg are the run's pp and tg tests with the most rows (normally pp512 and tg128);
 *     a cell is the mean t/s over the repetitions ± their standard deviation.
 *  3. tg / bound is tg t/s over bound_tps = read_bw / bytes_per_token of the same row: the
 *     rate at which the measured read bandwidth could feed the bytes one token reads. When
 *     those bytes fit in the run machine's last-level cache (machines.l3_bytes) the cell is
 *     starred, as the CLI stars it: DRAM bandwidth does not bound that format there.
 *  4. Speed vs f16 is tg(format) / tg(f16, plain rtn) at the same device and threads; a run
 *     without f16 compares with its reference format instead, and the column says which.
 *  5. Peak memory is the larger of the evaluation's peak RSS and the speed tests' peaks.
 *  6. Verdicts are verdict.h's, from ΔPPL and KLD, over the rows of the table.
 *  7. The plots show the most common (device, threads) of the model's speed rows; a point is
 *     on the trade-off's Pareto front when no other has a loss as low and a tg as high, one of
 *     them strictly. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* open_memstream, strcasecmp */
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sections.h"
#include "verdict.h"

static const char how_to_read[] =
    "One row per format of the model: its accuracy against the reference format on the same tokens (PPL with one "
    "standard error; ΔPPL % = 100 * (PPL/PPL_ref - 1); KLD = mean KL divergence of the token distributions; top-1 = how "
    "often both predict the same token), its speed as llama-bench measures it (ppN: N prompt tokens in one batch; tgN: N "
    "tokens generated one at a time; mean t/s over the repetitions ± one standard deviation), and its memory (size of "
    "the weights or of the GGUF file, and the peak resident memory while evaluating or generating).";

typedef struct mrow {
    char *format, *method, *device; /* method without evals' prefix: "rtn", "gptq", … (invariant 1) */
    int threads, has_speed, has_eval, is_ref, smallest;
    double bpw, size_bytes, ppl, ppl_err, dppl, dppl_err, kld, top1_pct, rss_eval;
    double pp, pp_sd, ttft_s, tg, tg_sd, bound, read_bw, bytes_per_token, rss_speed, gpu_mem;
    double vs_base; /* invariant 4 */
    const char *tier;
} mrow;

typedef struct model_tab {
    char *model_id, *model, *text, *ref, *pp_test, *tg_test, *base, *device; /* device: of the plots (invariant 7) */
    int ctx, threads, nrows, ncombos;
    double llc_bytes; /* the run machine's last-level cache, NaN when unknown (invariant 3) */
    mrow *r;
} model_tab;

/* Invariant 1: evals stores "perplexity[+METHOD]"; a speed row may name the method either way. */
static char *method_key(const char *m) {
    if (!m || !*m || strcmp(m, "perplexity") == 0) return qb_strdup("rtn");
    return qb_strdup(strncmp(m, "perplexity+", 11) == 0 ? m + 11 : m);
}

static int finite_pos(double v) { return isfinite(v) && v > 0; }

static mrow *add_row(model_tab *t) {
    t->r = qb_realloc(t->r, sizeof *t->r * (size_t)(t->nrows + 1));
    mrow *r = &t->r[t->nrows++];
    memset(r, 0, sizeof *r);
    double *nan_fields[] = {&r->bpw, &r->size_bytes, &r->ppl, &r->ppl_err, &r->dppl, &r->dppl_err, &r->kld, &r->top1_pct,
                            &r->rss_eval, &r->pp, &r->pp_sd, &r->ttft_s, &r->tg, &r->tg_sd, &r->bound, &r->read_bw,
                            &r->bytes_per_token, &r->rss_speed, &r->gpu_mem, &r->vs_base};
    for (size_t i = 0; i < sizeof nan_fields / sizeof nan_fields[0]; i++) *nan_fields[i] = NAN;
    return r;
}

static sqlite3_stmt *prepare2(qb_page *pg, const char *sql, const char *what, const char *run_id, const char *model_id) {
    sqlite3_stmt *s = qb_page_prepare(pg, sql, what, run_id);
    if (s) sqlite3_bind_text(s, 2, model_id, -1, SQLITE_TRANSIENT);
    return s;
}

/* Invariant 2: the speed rows, one per (format, method, device, threads). */
static void load_speed(qb_page *pg, const qb_run_meta *run, model_tab *t) {
    static const char sql[] =
        "WITH pp AS (SELECT test FROM model_speed WHERE run_id = ?1 AND model_id = ?2 AND test LIKE 'pp%'"
        "  GROUP BY test ORDER BY count(*) DESC, max(n_tokens) DESC, test LIMIT 1),"
        " tg AS (SELECT test FROM model_speed WHERE run_id = ?1 AND model_id = ?2 AND test LIKE 'tg%'"
        "  GROUP BY test ORDER BY count(*) DESC, max(n_tokens) DESC, test LIMIT 1)"
        " SELECT s.format, s.method, s.device, s.threads,"
        " max(CASE WHEN s.test = pp.test THEN s.tps_mean END), max(CASE WHEN s.test = pp.test THEN s.tps_sd END),"
        " max(CASE WHEN s.test = pp.test THEN s.ttft_s END),"
        " max(CASE WHEN s.test = tg.test THEN s.tps_mean END), max(CASE WHEN s.test = tg.test THEN s.tps_sd END),"
        " max(CASE WHEN s.test = tg.test THEN coalesce(s.bound_tps, s.read_bw / s.bytes_per_token) END),"
        " max(CASE WHEN s.test = tg.test THEN s.read_bw END), max(CASE WHEN s.test = tg.test THEN s.bytes_per_token END),"
        " max(s.rss_peak_bytes), max(s.gpu_mem_bytes), pp.test, tg.test"
        " FROM model_speed s LEFT JOIN pp ON 1 LEFT JOIN tg ON 1 WHERE s.run_id = ?1 AND s.model_id = ?2"
        " GROUP BY s.format, s.method, s.device, s.threads";
    sqlite3_stmt *s = prepare2(pg, sql, "model speed rows", run->id, t->model_id);
    if (!s) return;
    while (sqlite3_step(s) == SQLITE_ROW) {
        mrow *r = add_row(t);
        r->has_speed = 1;
        r->format = qb_col_str(s, 0);
        r->method = method_key((const char *)sqlite3_column_text(s, 1));
        r->device = qb_col_str(s, 2);
        r->threads = sqlite3_column_int(s, 3);
        double *v[] = {&r->pp, &r->pp_sd, &r->ttft_s, &r->tg, &r->tg_sd, &r->bound, &r->read_bw, &r->bytes_per_token,
                       &r->rss_speed, &r->gpu_mem};
        for (int k = 0; k < 10; k++) *v[k] = qb_db_col_real(s, 4 + k);
        if (!r->format) r->format = qb_strdup("?");
        if (!t->pp_test) t->pp_test = qb_col_str(s, 14);
        if (!t->tg_test) t->tg_test = qb_col_str(s, 15);
    }
    sqlite3_finalize(s);
}

/* Invariant 1: accuracy from evals, into the speed rows of the same format and method. */
static void load_evals(qb_page *pg, const qb_run_meta *run, model_tab *t) {
    static const char sql[] =
        "SELECT e.format, e.method, coalesce(e.bits_per_weight, 8.0 * f.block_bytes / f.block_elems),"
        " coalesce(e.file_bytes, e.model_bytes), e.ppl, e.ppl_err, 100.0 * (e.ppl_ratio - 1), 100.0 * e.ppl_ratio_err,"
        " e.kld_mean, 100.0 * e.top1, e.format = coalesce(e.ref_format, ''), e.rss_peak_bytes, e.ref_format, x.name, e.ctx"
        " FROM evals e LEFT JOIN formats f ON f.name = e.format LEFT JOIN inputs x ON x.id = e.text_id"
        " WHERE e.run_id = ?1 AND e.model_id = ?2 AND (e.text_id, e.ctx) = (SELECT text_id, ctx FROM evals"
        "  WHERE run_id = ?1 AND model_id = ?2 GROUP BY text_id, ctx ORDER BY count(*) DESC LIMIT 1)";
    sqlite3_stmt *s = prepare2(pg, sql, "evaluation rows of the model run", run->id, t->model_id);
    if (!s) return;
    const int nspeed = t->nrows;
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *format = (const char *)sqlite3_column_text(s, 0);
        if (!format) continue;
        char *method = method_key((const char *)sqlite3_column_text(s, 1));
        int matched = 0;
        for (int i = 0; i <= nspeed; i++) {
            mrow *r;
            if (i < nspeed) {
                r = &t->r[i];
                if (strcmp(r->format, format) != 0 || strcmp(r->method, method) != 0) continue;
            } else {
                if (matched) break;
                r = add_row(t); /* evaluated, not timed */
                r->format = qb_strdup(format);
                r->method = qb_strdup(method);
            }
            matched = 1;
            r->has_eval = 1;
            double *v[] = {&r->bpw, &r->size_bytes, &r->ppl, &r->ppl_err, &r->dppl, &r->dppl_err, &r->kld, &r->top1_pct};
            for (int k = 0; k < 8; k++) *v[k] = qb_db_col_real(s, 2 + k);
            r->is_ref = sqlite3_column_int(s, 10);
            r->rss_eval = qb_db_col_real(s, 11);
        }
        free(method);
        if (!t->ref) t->ref = qb_col_str(s, 12);
        if (!t->text) t->text = qb_col_str(s, 13);
        t->ctx = sqlite3_column_int(s, 14);
    }
    sqlite3_finalize(s);
}

static int by_bpw_desc(const void *a, const void *b) {
    const mrow *x = a, *y = b;
    int c = isnan(x->bpw) - isnan(y->bpw); /* unknown sizes last */
    if (c) return c;
    if (x->bpw != y->bpw) return (x->bpw < y->bpw) - (x->bpw > y->bpw);
    if ((c = strcmp(x->format, y->format)) || (c = strcmp(x->method, y->method))) return c;
    if ((c = strcmp(x->device ? x->device : "", y->device ? y->device : ""))) return c;
    return x->threads - y->threads;
}

static int same_setting(const mrow *a, const mrow *b) {
    return a->has_speed && b->has_speed && a->threads == b->threads && strcmp(a->device, b->device) == 0;
}

/* Invariants 4, 6, 7: baseline speed, verdicts, and the (device, threads) the plots show. */
static void derive(model_tab *t) {
    qsort(t->r, (size_t)t->nrows, sizeof *t->r, by_bpw_desc);
    int have_f16 = 0, best = -1, best_n = 0;
    for (int i = 0; i < t->nrows; i++) have_f16 |= t->r[i].has_speed && strcasecmp(t->r[i].format, "f16") == 0;
    t->base = qb_strdup(have_f16 ? "f16" : t->ref ? t->ref : "");
    double *bpw = qb_calloc((size_t)t->nrows + 1, sizeof *bpw), *kld = qb_calloc((size_t)t->nrows + 1, sizeof *kld);
    const char **tier = qb_calloc((size_t)t->nrows + 1, sizeof *tier);
    for (int i = 0; i < t->nrows; i++) {
        mrow *r = &t->r[i];
        int n_same = 0;
        for (int j = 0; j < t->nrows; j++) {
            const mrow *b = &t->r[j];
            if (!same_setting(r, b)) continue;
            n_same++;
            if (strcasecmp(b->format, t->base) == 0 && strcmp(b->method, "rtn") == 0 && finite_pos(b->tg))
                r->vs_base = r->tg / b->tg;
        }
        int seen = 0; /* count each (device, threads) once */
        for (int j = 0; j < i; j++) seen |= same_setting(&t->r[j], r);
        if (r->has_speed && !seen) {
            t->ncombos++;
            if (n_same > best_n || (n_same == best_n && best >= 0 && r->threads > t->r[best].threads)) best = i, best_n = n_same;
        }
        bpw[i] = r->bpw;
        kld[i] = r->kld;
        tier[i] = r->tier = qb_verdict_tier(r->is_ref, r->dppl, r->kld);
    }
    int smallest = qb_verdict_smallest_usable(bpw, kld, tier, t->nrows);
    for (int i = 0; smallest >= 0 && i < t->nrows; i++) /* every setting's row of that format */
        t->r[i].smallest = strcmp(t->r[i].format, t->r[smallest].format) == 0 && strcmp(t->r[i].method, t->r[smallest].method) == 0;
    if (best >= 0) {
        t->device = qb_strdup(t->r[best].device);
        t->threads = t->r[best].threads;
    }
    free(bpw);
    free(kld);
    free(tier);
}

static char *row_label(const mrow *r) {
    return strcmp(r->method, "rtn") == 0 ? qb_strdup(r->format) : qb_asprintf("%s (%s)", r->format, r->method);
}

static int fits_llc(const model_tab *t, const mrow *r) { return finite_pos(r->bytes_per_token) && r->bytes_per_token < t->llc_bytes; }

static int in_plots(const model_tab *t, const mrow *r) {
    return r->has_speed && t->device && r->threads == t->threads && strcmp(r->device, t->device) == 0;
}

/* ---- the table ---------------------------------------------------------------------------- */

static const char *cell(char *buf, size_t cap, const char *fmt, double v) {
    if (!isfinite(v)) return NULL;
    snprintf(buf, cap, fmt, v);
    return buf;
}

/* "v ± e" in fmt; a signed fmt signs v only. Long numbers are cut to the buffer, not overrun. */
static const char *cell_pm(char *buf, size_t cap, const char *fmt, double v, double e) {
    if (!isfinite(v)) return NULL;
    int n = snprintf(buf, cap, fmt, v);
    char err[48];
    int m = isfinite(e) ? snprintf(err, sizeof err, fmt, fabs(e)) : -1;
    if (n < 0 || (size_t)n >= cap || m < 0 || (size_t)m >= sizeof err) return buf;
    m = snprintf(buf + n, cap - (size_t)n, " ± %s", err[0] == '+' ? err + 1 : err);
    return m < 0 ? NULL : buf;
}

static void put_table(qb_page *pg, const model_tab *t, const char *stem) {
    int any_ttft = 0, any_gpu = 0, multi = t->ncombos > 1;
    for (int i = 0; i < t->nrows; i++) {
        any_ttft |= isfinite(t->r[i].ttft_s);
        any_gpu |= finite_pos(t->r[i].gpu_mem);
    }
    char *pp_h = qb_asprintf(">%s t/s", t->pp_test ? t->pp_test : "pp"), *tg_h = qb_asprintf(">%s t/s", t->tg_test ? t->tg_test : "tg");
    char *vs_h = strcasecmp(t->base, "f16") == 0 || !*t->base ? qb_strdup(">tg vs f16") : qb_asprintf(">tg vs %s (reference; no f16)", t->base);
    const char *cols[24];
    int nc = 0;
    cols[nc++] = "format";
    if (multi) cols[nc++] = "device", cols[nc++] = ">threads";
    const char *mid[] = {">bits/weight", ">size MiB", ">PPL", ">ΔPPL %", ">KLD", ">top-1 %"};
    for (int k = 0; k < 6; k++) cols[nc++] = mid[k];
    cols[nc++] = pp_h;
    cols[nc++] = tg_h;
    cols[nc++] = ">tg / bound";
    cols[nc++] = vs_h;
    if (any_ttft) cols[nc++] = ">TTFT ms";
    cols[nc++] = ">peak memory MiB";
    if (any_gpu) cols[nc++] = ">GPU memory MiB";
    cols[nc++] = "verdict";
    cols[nc] = NULL;
    static const char *const csv_names[] = {"format", "method", "device", "threads", "bits_per_weight", "size_bytes", "ppl", "ppl_err",
                                            "dppl_pct", "dppl_pct_err", "kld_mean", "top1_pct", "pp_test", "pp_tps", "pp_tps_sd",
                                            "ttft_s", "tg_test", "tg_tps", "tg_tps_sd", "bound_tps", "read_bw", "bytes_per_token",
                                            "tg_fraction_of_bound", "fits_llc", "tg_vs_base", "base_format", "rss_peak_bytes", "gpu_mem_bytes",
                                            "verdict", NULL};
    qb_table tab, full;
    qb_table_init(&tab, cols);
    qb_table_init(&full, csv_names);
    for (int i = 0; i < t->nrows; i++) {
        const mrow *r = &t->r[i];
        double frac = finite_pos(r->bound) ? r->tg / r->bound : NAN;
        double peak = fmax(r->rss_eval, r->rss_speed); /* fmax ignores a NaN side */
        if (!(peak > 0)) peak = NAN;
        const char *verdict = qb_verdict_label(r->tier, r->smallest);
        char b[24][80], *label = row_label(r);
        const char *c[24];
        int k = 0;
        c[k++] = label;
        if (multi) c[k++] = r->device, c[k++] = r->has_speed ? cell(b[0], sizeof b[0], "%.0f", r->threads) : NULL;
        c[k++] = cell(b[1], sizeof b[0], "%.4g", r->bpw);
        c[k++] = cell(b[2], sizeof b[0], "%.2f", r->size_bytes / 1048576.0);
        c[k++] = cell_pm(b[3], sizeof b[0], "%.4f", r->ppl, r->ppl_err);
        c[k++] = cell_pm(b[4], sizeof b[0], "%+.2f", r->dppl, r->dppl_err);
        c[k++] = cell(b[5], sizeof b[0], "%.4g", r->kld);
        c[k++] = cell(b[6], sizeof b[0], "%.2f", r->top1_pct);
        c[k++] = cell_pm(b[7], sizeof b[0], "%.1f", r->pp, r->pp_sd);
        c[k++] = cell_pm(b[8], sizeof b[0], "%.1f", r->tg, r->tg_sd);
        c[k++] = cell(b[9], sizeof b[0], fits_llc(t, r) ? "%.2f*" : "%.2f", frac);
        c[k++] = cell(b[10], sizeof b[0], "%.2fx", r->vs_base);
        if (any_ttft) c[k++] = cell(b[11], sizeof b[0], "%.1f", 1e3 * r->ttft_s);
        c[k++] = cell(b[12], sizeof b[0], "%.1f", peak / 1048576.0);
        if (any_gpu) c[k++] = cell(b[13], sizeof b[0], "%.1f", finite_pos(r->gpu_mem) ? r->gpu_mem / 1048576.0 : NAN);
        c[k++] = verdict;
        qb_table_row(&tab, c);
        char f[28][40];
        const char *d[32];
        k = 0;
        d[k++] = r->format;
        d[k++] = r->method;
        d[k++] = r->device;
        d[k++] = r->has_speed ? cell(f[0], 40, "%.0f", r->threads) : NULL;
        d[k++] = cell(f[1], 40, "%.9g", r->bpw);
        d[k++] = cell(f[2], 40, "%.0f", r->size_bytes); /* bytes exactly, not 9 digits */
        const double num[] = {r->ppl, r->ppl_err, r->dppl, r->dppl_err, r->kld, r->top1_pct};
        for (int q = 0; q < 6; q++) d[k++] = cell(f[3 + q], 40, "%.9g", num[q]);
        d[k++] = r->has_speed ? t->pp_test : NULL;
        d[k++] = cell(f[9], 40, "%.9g", r->pp);
        d[k++] = cell(f[10], 40, "%.9g", r->pp_sd);
        d[k++] = cell(f[11], 40, "%.9g", r->ttft_s);
        d[k++] = r->has_speed ? t->tg_test : NULL;
        const double sp[] = {r->tg, r->tg_sd, r->bound, r->read_bw, r->bytes_per_token, frac};
        for (int q = 0; q < 6; q++) d[k++] = cell(f[12 + q], 40, "%.9g", sp[q]);
        d[k++] = finite_pos(r->bytes_per_token) && isfinite(t->llc_bytes) ? (fits_llc(t, r) ? "1" : "0") : NULL;
        d[k++] = cell(f[18], 40, "%.9g", r->vs_base);
        d[k++] = isfinite(r->vs_base) ? t->base : NULL;
        d[k++] = cell(f[19], 40, "%.0f", peak);
        d[k++] = cell(f[20], 40, "%.0f", finite_pos(r->gpu_mem) ? r->gpu_mem : NAN);
        d[k++] = verdict;
        qb_table_row(&full, d);
        free(label);
    }
    qb_page_table(pg, &tab);
    char *csv = qb_asprintf("%s.csv", stem);
    qb_page_csv(pg, &full, csv, "The model-run table");
    free(csv);
    qb_table_free(&tab);
    qb_table_free(&full);
    free(pp_h);
    free(tg_h);
    free(vs_h);
}

/* What the columns mean, with the bandwidth bound per format stated (invariant 3). */
static void put_notes(qb_page *pg, const model_tab *t) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) qb_memstream_failed();
    double bw = NAN;
    int one_bw = 1, nb = 0;
    for (int i = 0; i < t->nrows; i++) {
        const mrow *r = &t->r[i];
        if (!finite_pos(r->read_bw)) continue;
        if (isfinite(bw) && fabs(r->read_bw - bw) > 1e-9 * bw) one_bw = 0;
        bw = r->read_bw;
    }
    fprintf(f, "tg / bound: %s t/s over its bandwidth bound, the read bandwidth measured in this run over the bytes one "
               "generated token reads (the weights but the embedding table, and the KV cache)",
            t->tg_test ? t->tg_test : "tg");
    if (isfinite(bw) && one_bw) fprintf(f, "; read bandwidth %.1f GB/s", bw / 1e9);
    for (int i = 0; i < t->nrows; i++) {
        const mrow *r = &t->r[i];
        if (!finite_pos(r->bound)) continue;
        char *label = row_label(r);
        fprintf(f, "%s %s", nb++ ? "," : ". Bounds:", label);
        if (t->ncombos > 1) fprintf(f, " on %s with %d threads", r->device, r->threads);
        fprintf(f, " %.1f t/s", r->bound);
        if (finite_pos(r->bytes_per_token)) fprintf(f, " (%.1f MB/token)", r->bytes_per_token / 1e6);
        if (!one_bw && finite_pos(r->read_bw)) fprintf(f, " at %.1f GB/s", r->read_bw / 1e9);
        free(label);
    }
    if (!nb) fputs(". This run stored no bandwidth bound", f);
    int in_llc = 0;
    for (int i = 0; i < t->nrows; i++) in_llc |= fits_llc(t, &t->r[i]);
    if (in_llc)
        fprintf(f, ". * The bytes a token reads fit in the machine's last-level cache (%.0f MiB): DRAM bandwidth does not bound "
                   "that format on this model",
                t->llc_bytes / 1048576.0);
    if (strcasecmp(t->base, "f16") == 0)
        fputs(". tg vs f16: tg t/s over f16's at the same device and threads (> 1: faster)", f);
    else if (*t->base)
        fprintf(f, ". tg vs %s: the run has no f16, so tg t/s is compared with its reference format %s at the same device and "
                   "threads (> 1: faster)", t->base, t->base);
    fputs(". Size: the GGUF file when the format was one, else the weights as evaluated. Peak memory: the larger of the "
          "process's peak resident memory while evaluating and while generating with the format",
          f);
    int any_ttft = 0;
    for (int i = 0; i < t->nrows; i++) any_ttft |= isfinite(t->r[i].ttft_s);
    if (any_ttft) fprintf(f, ". TTFT: time to the first generated token after the %s prompt", t->pp_test ? t->pp_test : "pp");
    char *rule = qb_verdict_rule();
    fprintf(f, ". Verdict, as in the selection guide (point estimates): %s", rule);
    free(rule);
    fclose(f);
    qb_page_note(pg, text);
    free(text);
}

/* ---- the plots ---------------------------------------------------------------------------- */

/* Invariant 7. `kld`: the loss axis is KLD, else ΔPPL. */
static int on_front(const model_tab *t, int i, int kld) {
    const mrow *a = &t->r[i];
    double la = kld ? a->kld : a->dppl;
    for (int j = 0; j < t->nrows; j++) {
        const mrow *b = &t->r[j];
        double lb = kld ? b->kld : b->dppl;
        if (j == i || !in_plots(t, b) || !isfinite(lb) || !isfinite(b->tg)) continue;
        if (lb <= la && b->tg >= a->tg && (lb < la || b->tg > a->tg)) return 0;
    }
    return 1;
}

static int by_loss(const void *a, const void *b) {
    const double *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

static void tradeoff_plot(qb_page *pg, const qb_run_meta *run, const model_tab *t, const char *stem) {
    int kld = 0, n = 0;
    for (int i = 0; i < t->nrows; i++) kld |= in_plots(t, &t->r[i]) && isfinite(t->r[i].kld);
    char *data = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&data, &len);
    if (!f) qb_memstream_failed();
    fprintf(f, "# %s t/s against %s per format of %s, run %s (%s, %d threads)\n# block 0: every format; block 1: the Pareto front\n",
            t->tg_test ? t->tg_test : "tg", kld ? "mean KLD" : "ΔPPL %", t->model, run->id, t->device, t->threads);
    double(*front)[2] = qb_calloc((size_t)t->nrows + 1, sizeof *front);
    int nf = 0;
    for (int i = 0; i < t->nrows; i++) {
        const mrow *r = &t->r[i];
        double loss = kld ? r->kld : r->dppl;
        if (!in_plots(t, r) || !isfinite(loss) || !isfinite(r->tg)) continue;
        char *label = row_label(r);
        fprintf(f, "%.9g %.9g %.9g ", loss, r->tg, isfinite(r->tg_sd) ? r->tg_sd : 0.0);
        qb_gp_put_dat_str(f, label);
        fputc('\n', f);
        free(label);
        n++;
        if (on_front(t, i, kld)) front[nf][0] = loss, front[nf++][1] = r->tg;
    }
    qsort(front, (size_t)nf, sizeof *front, by_loss);
    fputs("\n\n", f);
    for (int i = 0; i < nf; i++) fprintf(f, "%.9g %.9g\n", front[i][0], front[i][1]);
    fclose(f);
    free(front);
    if (n) {
        char *name = qb_asprintf("%s_tradeoff", stem);
        char *title = qb_asprintf("Generation speed vs accuracy loss: %s (run %.8s, %s, %d threads)", t->model, run->id, t->device, t->threads);
        char *setup = qb_asprintf("set xlabel '%s'\nset ylabel '%s t/s (mean ± sd; higher is better)'\nset yrange [0:*]\n"
                                  "set key top right box opaque\nset offsets graph 0.04, graph 0.12, graph 0.1, 0",
                                  kld ? "mean KL divergence from the reference (nats; lower is better)"
                                      : "ΔPPL vs reference, % (lower is better)",
                                  t->tg_test ? t->tg_test : "tg");
        char *plot = qb_asprintf("plot '%s.dat' index 0 using 1:2:3 with yerrorbars lt 1 title 'format', \\\n"
                                 "  '' index 1 using 1:2 with linespoints lt 2 lw 2 pt 6 ps 1.8 title 'Pareto front', \\\n"
                                 "  '' index 0 using 1:2:4 with labels left offset char 0.7,0.6 tc rgb '#333333' notitle",
                                 name);
        qb_plot pl = {.name = name,
                      .title = title,
                      .about = "block 0 every format: columns 1 loss (mean KLD, else ΔPPL %), 2 tg t/s, 3 its sd, 4 format; "
                               "block 1 the Pareto front (no other format as accurate and as fast)",
                      .setup = setup,
                      .plot = plot,
                      .data = data};
        char *cap = qb_asprintf("Token generation speed against %s per format, with the Pareto front: the formats no other "
                                "format beats on both speed and accuracy.",
                                kld ? "mean KL divergence" : "perplexity increase");
        qb_page_plot(pg, &pl, cap);
        free(cap);
        free(name);
        free(title);
        free(setup);
        free(plot);
    }
    free(data);
}

/* pp (tg = 0) or tg (tg = 1) t/s per format as bars with ± sd, tg with its bandwidth bound. */
static void speed_bars(qb_page *pg, const qb_run_meta *run, const model_tab *t, const char *stem, int tg) {
    const char *test = tg ? t->tg_test : t->pp_test;
    if (!test) return;
    int n = 0, nbound = 0;
    char *data = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&data, &len);
    if (!f) qb_memstream_failed();
    fprintf(f, "# %s t/s per format of %s, run %s (%s, %d threads); '?' = not measured\n"
               "# columns: \"format\" mean sd%s\n",
            test, t->model, run->id, t->device, t->threads, tg ? " bound" : "");
    for (int i = 0; i < t->nrows; i++) {
        const mrow *r = &t->r[i];
        double v = tg ? r->tg : r->pp, sd = tg ? r->tg_sd : r->pp_sd;
        if (!in_plots(t, r) || !isfinite(v)) continue;
        char *label = row_label(r);
        qb_gp_put_dat_str(f, label);
        fprintf(f, " %.9g %.9g", v, isfinite(sd) ? sd : 0.0);
        if (tg && finite_pos(r->bound)) fprintf(f, " %.9g", r->bound), nbound++;
        else if (tg) fputs(" ?", f);
        fputc('\n', f);
        free(label);
        n++;
    }
    fclose(f);
    if (n) {
        char *name = qb_asprintf("%s_%s", stem, tg ? "tg" : "pp");
        char *title = qb_asprintf("%s: %s by format (run %.8s, %s, %d threads)", t->model, test, run->id, t->device, t->threads);
        char *setup = qb_asprintf("set ylabel '%s t/s (mean; error bar: ± 1 sd)'\nset yrange [0:*]\nset datafile missing '?'\n"
                                  "set style fill solid 0.6 border -1\nset boxwidth 0.7\nset xtics rotate by -40 left\n"
                                  "set bmargin 7\nset grid noxtics ytics\nset key top right box opaque\n"
                                  "set offsets 0, 0, graph 0.22, 0  # headroom for the key above the bars and bounds",
                                  test);
        char *plot = qb_asprintf("plot '%s.dat' using 0:2:xtic(1) with boxes lt 1 title '%s t/s', \\\n"
                                 "  '' using 0:2:3 with yerrorbars lc rgb '#c62828' lw 1.5 pt 1 ps 0 title '± 1 sd'%s",
                                 name, test,
                                 nbound ? ", \\\n  '' using ($0 - 0.45):4:(0.9):(0) with vectors nohead lt 2 lw 3 "
                                          "title 'bandwidth bound'"
                                        : "");
        qb_plot pl = {.name = name,
                      .title = title,
                      .about = tg ? "columns 1 format, 2 mean tg t/s, 3 sd, 4 bandwidth bound t/s (read_bw / bytes_per_token)"
                                  : "columns 1 format, 2 mean pp t/s, 3 sd",
                      .setup = setup,
                      .plot = plot,
                      .data = data};
        char *cap = tg ? qb_asprintf("%s: generation t/s per format, mean ± 1 sd, with each format's bandwidth bound (the "
                                     "t/s at which the measured read bandwidth feeds the bytes of a token) as a line.",
                                     test)
                       : qb_asprintf("%s: prompt-processing t/s per format, mean ± 1 sd.", test);
        qb_page_plot(pg, &pl, cap);
        free(cap);
        free(name);
        free(title);
        free(setup);
        free(plot);
    }
    free(data);
}

/* ---- the section -------------------------------------------------------------------------- */

static void tab_free(model_tab *t) {
    for (int i = 0; i < t->nrows; i++) {
        free(t->r[i].format);
        free(t->r[i].method);
        free(t->r[i].device);
    }
    free(t->r);
    char **s[] = {&t->model_id, &t->model, &t->text, &t->ref, &t->pp_test, &t->tg_test, &t->base, &t->device};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) free(*s[i]);
    memset(t, 0, sizeof *t);
}

void qb_section_model(qb_page *pg, const qb_run_meta *run) {
    if (pg->st) return;
    qb_page_run_heading(pg, "model", "Model run", run->id, 0);
    qb_page_para(pg, how_to_read);
    /* one table per model timed (a run --model times one) */
    sqlite3_stmt *s = qb_page_prepare(pg,
                                      "SELECT s.model_id, coalesce(m.name, s.model_id) FROM model_speed s LEFT JOIN inputs m ON m.id = s.model_id"
                                      " WHERE s.run_id = ?1 GROUP BY s.model_id ORDER BY count(*) DESC, s.model_id",
                                      "models of the model run", run->id);
    if (!s) return;
    model_tab *tabs = NULL;
    int nm = 0;
    double llc = NAN;
    sqlite3_stmt *q = qb_page_prepare(pg, "SELECT m.l3_bytes FROM runs r JOIN machines m ON m.id = r.machine_id WHERE r.id = ?1",
                                      "the run's machine", run->id);
    if (q && sqlite3_step(q) == SQLITE_ROW) llc = qb_db_col_real(q, 0);
    sqlite3_finalize(q);
    while (sqlite3_step(s) == SQLITE_ROW) {
        tabs = qb_realloc(tabs, sizeof *tabs * (size_t)(nm + 1));
        memset(&tabs[nm], 0, sizeof *tabs);
        tabs[nm].model_id = qb_col_str(s, 0);
        tabs[nm++].model = qb_col_str(s, 1);
    }
    sqlite3_finalize(s);
    for (int m = 0; m < nm && !pg->st; m++) {
        model_tab *t = &tabs[m];
        if (!t->model_id) continue;
        t->llc_bytes = llc;
        load_speed(pg, run, t);
        load_evals(pg, run, t);
        derive(t);
        if (nm > 1) qb_page_heading(pg, 3, t->model, NULL);
        char *stem = m ? qb_asprintf("model_%.8s_%d", run->id, m + 1) : qb_asprintf("model_%.8s", run->id);
        char ctx[48] = "";
        if (t->text) snprintf(ctx, sizeof ctx, " at context %d", t->ctx);
        char *about = qb_asprintf("Model %s%s%s%s; speed on %s with %d thread%s%s.", t->model, t->text ? ", evaluated on " : "",
                                  t->text ? t->text : "", ctx, t->device ? t->device : "?", t->threads, t->threads == 1 ? "" : "s",
                                  t->ncombos > 1 ? " in the plots (the table has every device and thread count)" : "");
        qb_page_note(pg, about);
        free(about);
        put_table(pg, t, stem);
        put_notes(pg, t);
        qb_page_heading(pg, 3, nm > 1 ? "Speed and accuracy (this model)" : "Speed and accuracy", NULL);
        tradeoff_plot(pg, run, t, stem);
        speed_bars(pg, run, t, stem, 0);
        speed_bars(pg, run, t, stem, 1);
        free(stem);
    }
    for (int m = 0; m < nm; m++) tab_free(&tabs[m]);
    free(tabs);
    /* every stored figure, folded: the speed rows (samples included), then the evaluation's */
    qb_page_heading(pg, 3, "Every speed measurement", NULL);
    static const char *const skip[] = {"run_id", "model_id", "created_at", NULL};
    const char *params[] = {run->id};
    char *csv = qb_asprintf("model_speed_%.8s.csv", run->id);
    qb_page_fold(pg, "Show every speed test with its repetitions (also in the CSV below)");
    qb_page_sql_table(pg,
                      "SELECT m.name AS model, s.* FROM model_speed s LEFT JOIN inputs m ON m.id = s.model_id WHERE s.run_id = ?1"
                      " ORDER BY m.name, s.format, s.method, s.device, s.threads, s.test",
                      params, 1, skip, 6, csv, "Speed rows"); /* model … test identify a row */
    qb_page_unfold(pg);
    free(csv);
    if (run->n_evals) {
        qb_page_heading(pg, 3, "Every evaluation figure", NULL);
        qb_section_evals_body(pg, run, 1);
    }
}
