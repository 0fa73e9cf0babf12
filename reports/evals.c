/* evals.c — the model evaluation part of the report: every evals row of a run, and bits per
 * weight against ΔPPL and against mean KLD with the Pareto front.
 *
 * Invariants:
 *  1. ΔPPL % is 100 * (ppl_ratio - 1) with its error 100 * ppl_ratio_err: the ratio to the
 *     run's own reference format, measured on the same tokens, as llama-perplexity reports.
 *  2. A point is on the Pareto front when no other point of the same model has fewer or equal
 *     bits/weight and a smaller or equal loss, one of them strictly; the front is drawn
 *     through those points in order of bits/weight.
 *  3. The table lists every column of evals (page.h invariant 3), so metrics added by later
 *     migrations appear without a change here.
 *  4. A run with more than one quantization method (`eval --methods`) shows evals.method as
 *     the method's own name (rtn for 'perplexity', gptq for 'perplexity+gptq', as model.c
 *     reads it), right after the format, and sorts a format's methods together; each plot
 *     draws one series per method (its own colour and point type; rtn, imatrix, gptq, awq,
 *     smoothquant, then others by name) and the Pareto front over every point. A run with
 *     one method is shown as before: the raw method column, one series 'format'. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* open_memstream */
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sections.h"

typedef struct ev_point {
    char *format;
    int method; /* index into the run's methods (invariant 4) */
    double bpw, dppl, dppl_err, kld, kld_err;
} ev_point;

/* evals.method as the method's name (invariant 4), as SQL over column e.method. */
#define METHOD_SQL "CASE WHEN e.method = 'perplexity' THEN 'rtn' WHEN substr(e.method, 1, 11) = 'perplexity+' THEN substr(e.method, 12) ELSE e.method END"
/* The series order: the methods `eval --methods` knows in their help order, then the rest by name. */
#define METHOD_RANK_SQL "CASE " METHOD_SQL " WHEN 'rtn' THEN 0 WHEN 'imatrix' THEN 1 WHEN 'gptq' THEN 2 WHEN 'awq' THEN 3" \
                        " WHEN 'smoothquant' THEN 4 ELSE 5 END"

static const char how_to_read[] =
    "Each row evaluates the model with its weights in one format over the same tokens. "
    "ppl is the perplexity (lower is better); ppl_ratio is PPL(format)/PPL(reference) and "
    "dppl_pct = 100*(ppl_ratio-1) the loss in percent, with one standard error (_err). kld_* "
    "are the KL divergence of the format's token distribution from the reference's (mean and "
    "percentiles; 0 = identical); top1 is how often both predict the same token; dp_* is the "
    "change in the probability of the correct token. bits_per_weight counts every weight of "
    "the model as llama.cpp's BPW does.";

static int on_front(const ev_point *p, int n, int i, int kld) {
    double li = kld ? p[i].kld : p[i].dppl;
    if (!isfinite(li) || !isfinite(p[i].bpw)) return 0;
    for (int j = 0; j < n; j++) {
        double lj = kld ? p[j].kld : p[j].dppl;
        if (j == i || !isfinite(lj) || !isfinite(p[j].bpw)) continue;
        if (p[j].bpw <= p[i].bpw && lj <= li && (p[j].bpw < p[i].bpw || lj < li)) return 0;
    }
    return 1;
}

static int by_bpw(const void *a, const void *b) {
    const ev_point *x = a, *y = b;
    return (x->bpw > y->bpw) - (x->bpw < y->bpw);
}

static void pareto_plot(qb_page *pg, const qb_run_meta *run, ev_point *p, int n, char *const *methods, int nm, const char *model,
                        int kld) {
    qsort(p, (size_t)n, sizeof *p, by_bpw);
    char *data = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&data, &len);
    if (!f) qb_memstream_failed();
    if (nm > 1)
        fprintf(f, "# %s against bits per weight of %s, run %s\n# blocks 0-%d: one per method (", kld ? "mean KLD" : "ΔPPL %",
                model, run->id, nm - 1);
    else
        fprintf(f, "# %s against bits per weight of %s, run %s\n# block 0: every format", kld ? "mean KLD" : "ΔPPL %", model, run->id);
    for (int k = 0; nm > 1 && k < nm; k++) fprintf(f, "%s%s", k ? ", " : "", methods[k]);
    fprintf(f, "%s; block %d: the Pareto front\n", nm > 1 ? ")" : "", nm);
    for (int k = 0; k < nm; k++) {
        for (int i = 0; i < n; i++) {
            double y = kld ? p[i].kld : p[i].dppl, e = kld ? p[i].kld_err : p[i].dppl_err;
            if (p[i].method != k || !isfinite(y) || !isfinite(p[i].bpw)) continue;
            fprintf(f, "%.9g %.9g %.9g ", p[i].bpw, y, isfinite(e) ? e : 0.0);
            qb_gp_put_dat_str(f, p[i].format);
            fputc('\n', f);
        }
        fputs("\n\n", f);
    }
    for (int i = 0; i < n; i++)
        if (on_front(p, n, i, kld)) {
            fprintf(f, "%.9g %.9g 0 ", p[i].bpw, kld ? p[i].kld : p[i].dppl);
            qb_gp_put_dat_str(f, p[i].format);
            fputc('\n', f);
        }
    fclose(f);
    char *name = qb_asprintf("evals_%s_%.8s", kld ? "kld" : "dppl", run->id);
    char *title = qb_asprintf("%s vs bits per weight: %s (run %.8s)", kld ? "Mean KLD" : "ΔPPL", model, run->id);
    char *setup = qb_asprintf("set xlabel 'bits per weight (all weights)'\nset ylabel '%s'\n"
                              "set key top right box opaque\nset offsets graph 0.02, graph 0.12, graph 0.08, graph 0.04",
                              kld ? "mean KL divergence from the reference (nats)" : "ΔPPL vs reference (%)");
    char *plot;
    if (nm > 1) { /* invariant 4: a series per method; formats labelled once, at the first method's points */
        char *series = NULL;
        size_t slen = 0;
        FILE *sf = open_memstream(&series, &slen);
        if (!sf) qb_memstream_failed();
        fprintf(sf, "plot ");
        for (int k = 0; k < nm; k++) {
            char *t = qb_slug(methods[k]);
            if (k) fputs("''", sf);
            else fprintf(sf, "'%s.dat'", name);
            fprintf(sf, " index %d using 1:2:3 with yerrorbars lt %d title '%s (± 1 s.e.)', \\\n  ", k, k + 1, t);
            free(t);
        }
        fprintf(sf, "'' index %d using 1:2 with lines lt %d lw 2 dt 2 title 'Pareto front', \\\n"
                    "  '' index 0 using 1:2:4 with labels left offset char 0.7,0.6 tc rgb '#333333' notitle",
                nm, nm + 1);
        fclose(sf);
        plot = series;
    } else {
        plot = qb_asprintf("plot '%s.dat' index 0 using 1:2:3 with yerrorbars lt 1 title 'format (± 1 s.e.)', \\\n"
                           "  '' index 1 using 1:2 with linespoints lt 2 lw 2 pt 6 ps 1.8 title 'Pareto front', \\\n"
                           "  '' index 0 using 1:2:4 with labels left offset char 0.7,0.6 tc rgb '#333333' notitle",
                           name);
    }
    char *about = nm > 1 ? qb_asprintf("blocks 0-%d one per method (in the order of the key), block %d the Pareto front over "
                                       "every point (fewest bits for the loss); columns 1 bits/weight, 2 loss, 3 its standard "
                                       "error, 4 format", nm - 1, nm)
                         : qb_strdup("block 0 every format, block 1 the Pareto front (fewest bits for the loss); columns 1 "
                                     "bits/weight, 2 loss, 3 its standard error, 4 format");
    qb_plot pl = {.name = name, .title = title, .about = about, .setup = setup, .plot = plot, .data = data};
    char *cap = nm > 1 ? qb_asprintf("%s against bits per weight for %s, one series per quantization method, with the Pareto "
                                     "front over every (format, method): those no other beats on both size and %s.",
                                     kld ? "Mean KL divergence" : "Perplexity increase (%)", model, kld ? "KLD" : "ΔPPL")
                       : qb_asprintf("%s against bits per weight for %s, with the Pareto front: the formats no other format "
                                     "beats on both size and %s.",
                                     kld ? "Mean KL divergence" : "Perplexity increase (%)", model, kld ? "KLD" : "ΔPPL");
    qb_page_plot(pg, &pl, cap);
    free(cap);
    free(name);
    free(title);
    free(setup);
    free(plot);
    free(about);
    free(data);
}

void qb_section_evals(qb_page *pg, const qb_run_meta *run) {
    if (pg->st) return;
    qb_page_run_heading(pg, "evals", "Model evaluation", run->id, 0);
    qb_section_evals_body(pg, run, 0);
}

/* The table's SELECT: every column of evals (invariant 3), its method by name when the run has
 * several (invariant 4; from evals' own columns, in their order, so later migrations still show). */
static char *table_sql(qb_page *pg, int multi) {
    const char *tail = " 100.0 * (e.ppl_ratio - 1) AS dppl_pct, 100.0 * e.ppl_ratio_err AS dppl_pct_err FROM evals e"
                       " JOIN inputs m ON m.id = e.model_id JOIN inputs t ON t.id = e.text_id WHERE e.run_id = ?1"
                       " ORDER BY m.name, e.model_id, e.ctx, e.bits_per_weight DESC, e.format";
    if (!multi) return qb_asprintf("SELECT m.name AS model, t.name AS text, e.*,%s", tail);
    sqlite3_stmt *s = qb_page_prepare(pg, "SELECT name FROM pragma_table_info('evals') ORDER BY cid", "the evals columns", NULL);
    if (!s) return NULL;
    char *cols = qb_strdup("");
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *c = (const char *)sqlite3_column_text(s, 0);
        char *next = strcmp(c, "method") == 0 ? qb_asprintf("%s " METHOD_SQL " AS method,", cols)
                                              : qb_asprintf("%s e.\"%s\",", cols, c);
        free(cols);
        cols = next;
    }
    sqlite3_finalize(s);
    char *sql = qb_asprintf("SELECT m.name AS model, t.name AS text,%s%s, " METHOD_RANK_SQL, cols, tail);
    free(cols);
    return sql;
}

void qb_section_evals_body(qb_page *pg, const qb_run_meta *run, int folded) {
    if (pg->st) return;
    qb_page_para(pg, how_to_read);
    /* the run's methods, in series order (invariant 4) */
    sqlite3_stmt *s = qb_page_prepare(pg, "SELECT DISTINCT " METHOD_SQL ", " METHOD_RANK_SQL " AS rank FROM evals e WHERE e.run_id = ?1"
                                          " ORDER BY rank, 1", "evaluation methods", run->id);
    if (!s) return;
    char **methods = NULL;
    int nm = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        methods = qb_realloc(methods, sizeof *methods * (size_t)(nm + 1));
        methods[nm] = qb_col_str(s, 0);
        if (!methods[nm]) methods[nm] = qb_strdup("?");
        nm++;
    }
    sqlite3_finalize(s);
    static const char *const skip[] = {"run_id", "model_id", "text_id", "variant_id", "created_at", NULL};
    const char *params[] = {run->id};
    char *csv = qb_asprintf("evals_%.8s.csv", run->id), *sql = table_sql(pg, nm > 1);
    if (folded) qb_page_fold(pg, "Show every figure of the evaluation (also in the CSV below)");
    if (sql) qb_page_sql_table(pg, sql, params, 1, skip, nm > 1 ? 4 : 3, csv, "Evaluation rows"); /* model, text, format[, method] */
    if (folded) qb_page_unfold(pg);
    free(csv);
    free(sql);
    /* plots: the model with the most rows (a run evaluates one model in practice) */
    s = qb_page_prepare(pg,
                        "SELECT e.format, e.bits_per_weight, 100.0 * (e.ppl_ratio - 1), 100.0 * e.ppl_ratio_err,"
                        " e.kld_mean, e.kld_err, m.name, " METHOD_SQL " FROM evals e JOIN inputs m ON m.id = e.model_id"
                        " WHERE e.run_id = ?1 AND e.model_id = (SELECT model_id FROM evals WHERE run_id = ?1"
                        "  GROUP BY model_id, text_id, ctx ORDER BY count(*) DESC LIMIT 1)"
                        " AND e.ctx = (SELECT ctx FROM evals WHERE run_id = ?1"
                        "  GROUP BY model_id, text_id, ctx ORDER BY count(*) DESC LIMIT 1)",
                        "evaluation rows", run->id);
    ev_point *p = NULL;
    int n = 0;
    char *model = NULL;
    while (s && sqlite3_step(s) == SQLITE_ROW) {
        p = qb_realloc(p, sizeof *p * (size_t)(n + 1));
        ev_point *q = &p[n++];
        q->format = qb_col_str(s, 0);
        if (!q->format) q->format = qb_strdup("?");
        q->bpw = qb_db_col_real(s, 1);
        q->dppl = qb_db_col_real(s, 2);
        q->dppl_err = qb_db_col_real(s, 3);
        q->kld = qb_db_col_real(s, 4);
        q->kld_err = qb_db_col_real(s, 5);
        if (!model) model = qb_col_str(s, 6);
        const char *mname = (const char *)sqlite3_column_text(s, 7);
        q->method = 0;
        for (int k = 0; k < nm; k++)
            if (mname && strcmp(methods[k], mname) == 0) q->method = k;
    }
    if (s) sqlite3_finalize(s);
    if (n) {
        qb_page_heading(pg, 3, "Accuracy loss vs size", NULL);
        pareto_plot(pg, run, p, n, methods, nm, model ? model : "?", 0);
        pareto_plot(pg, run, p, n, methods, nm, model ? model : "?", 1);
    }
    for (int i = 0; i < n; i++) free(p[i].format);
    for (int k = 0; k < nm; k++) free(methods[k]);
    free(methods);
    free(p);
    free(model);
}
