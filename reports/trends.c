/* trends.c — nightly trends: a few headline metrics over every run of the same command,
 * suite and machine up to the reported run, one line per format, with regressions marked.
 *
 * Invariants:
 *  1. A point is a regression when qb_is_regression() says so against the previous run of the
 *     same series; that one function is the rule.
 *  2. Runs are ordered by start time, then by insertion (rowid): two runs can start within
 *     the same second.
 *  3. Series are comparable across runs only at equal conditions: the gemv trend keeps the
 *     reported run's shape and thread count, the ΔPPL trend its model and context. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* open_memstream */
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sections.h"

/* The trend's own rule, on the medians it plots: worse by 5 % or more of the previous value,
 * and by more than abs_tol (for a loss near zero, the ΔPPL of a near-lossless format, a
 * relative change alone is noise). `quantbench compare` (results/compare.h) also tests the
 * raw samples (Mann–Whitney) and skips unstable cases; marking points by its verdicts is the
 * next step, so the two agree. */
enum { REGRESSION_PCT = 5 };
int qb_is_regression(double prev, double cur, int lower_is_better, double abs_tol) {
    if (!isfinite(prev) || !isfinite(cur)) return 0;
    double worse = lower_is_better ? cur - prev : prev - cur;
    return worse > 0 && worse >= fabs(prev) * REGRESSION_PCT / 100.0 && worse > abs_tol;
}

typedef struct trend {
    const char *key, *title, *ylabel, *sql;
    const char *setup; /* extra gnuplot commands */
    int lower_is_better;
    double abs_tol; /* for qb_is_regression */
} trend;

/* ?1 = the reported run. Columns: started_at, run id, series (format, or format/backend),
 * value, run number in the group (oldest = 1); ordered by series, then time. */
static const trend trends[] = {
    {"gemv", "gemv median time per format and backend", "median ns per gemv (lower is better)",
     "WITH me AS (SELECT r.command, r.suite, r.machine_id, r.started_at, r.rowid AS rid FROM runs r WHERE r.id = ?1),"
     " big AS (SELECT shape, threads FROM bench_cases WHERE run_id = ?1 AND op = 'gemv'"
     "  ORDER BY threads DESC, json_extract(config, '$.working_set_bytes') DESC LIMIT 1)"
     " SELECT r.started_at, r.id, c.format || '/' || c.backend, json_extract(c.config, '$.median_ns')"
     ", (SELECT count(*) FROM runs r2 WHERE r2.command = me.command AND r2.suite IS me.suite"
     "  AND r2.machine_id = me.machine_id AND (r2.started_at < r.started_at OR (r2.started_at = r.started_at AND r2.rowid <= r.rowid))) FROM runs r, me, big"
     " JOIN bench_cases c ON c.run_id = r.id WHERE r.command = me.command AND r.suite IS me.suite"
     " AND r.machine_id = me.machine_id AND (r.started_at < me.started_at OR (r.started_at = me.started_at AND r.rowid <= me.rid)) AND c.op = 'gemv' AND c.shape = big.shape"
     " AND c.threads = big.threads AND json_extract(c.config, '$.median_ns') > 0 ORDER BY c.format, c.backend, r.started_at, r.rowid",
     "set logscale y  # formats differ by orders of magnitude", 1, 0},
    {"dppl", "ΔPPL per format", "ΔPPL vs reference, % (lower is better)",
     "WITH me AS (SELECT r.command, r.suite, r.machine_id, r.started_at, r.rowid AS rid FROM runs r WHERE r.id = ?1),"
     " m AS (SELECT model_id, ctx FROM evals WHERE run_id = ?1 GROUP BY model_id, ctx ORDER BY count(*) DESC LIMIT 1)"
     " SELECT r.started_at, r.id, e.format, 100.0 * (e.ppl_ratio - 1)"
     ", (SELECT count(*) FROM runs r2 WHERE r2.command = me.command AND r2.suite IS me.suite"
     "  AND r2.machine_id = me.machine_id AND (r2.started_at < r.started_at OR (r2.started_at = r.started_at AND r2.rowid <= r.rowid))) FROM runs r, me, m"
     " JOIN evals e ON e.run_id = r.id WHERE r.command = me.command AND r.suite IS me.suite"
     " AND r.machine_id = me.machine_id AND (r.started_at < me.started_at OR (r.started_at = me.started_at AND r.rowid <= me.rid)) AND e.model_id = m.model_id"
     " AND e.ctx = m.ctx AND e.ppl_ratio IS NOT NULL AND e.format <> coalesce(e.ref_format, '') ORDER BY e.format, r.started_at, r.rowid",
     "", 1, 0.05},
};

static void one_trend(qb_page *pg, const qb_run_meta *run, const trend *t) {
    sqlite3_stmt *s = qb_page_prepare(pg, t->sql, "trend", run->id);
    if (!s) return;
    char *data = NULL, *plot = NULL;
    size_t dlen = 0, plen = 0;
    FILE *d = open_memstream(&data, &dlen), *p = open_memstream(&plot, &plen);
    if (!d || !p) qb_memstream_failed();
    char *name = qb_asprintf("trend_%s_%.8s", t->key, run->id);
    fprintf(d, "# %s over the runs of command '%s' on this machine up to run %s\n"
               "# one block per format; columns: started_at run value regression(0/1)\n",
            t->title, run->command ? run->command : "?", run->id);
    static const char *const cols[] = {"format", "run", "started", ">previous", ">value", ">change %", NULL};
    qb_table reg;
    qb_table_init(&reg, cols);
    char series[128] = "";
    double prev = NAN;
    int nseries = 0, maxlen = 0, len = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *at = (const char *)sqlite3_column_text(s, 0), *id = (const char *)sqlite3_column_text(s, 1),
                   *fmt = (const char *)sqlite3_column_text(s, 2);
        double v = qb_db_col_real(s, 3);
        if (!at || !id || !fmt || !isfinite(v)) continue;
        if (strcmp(fmt, series) != 0) {
            snprintf(series, sizeof series, "%s", fmt);
            if (nseries) fputs("\n\n", d);
            char *q = qb_gp_quote(fmt);
            fprintf(p, "%s'%s.dat' index %d using 1:2:xtic(4) with linespoints lt %d title %s", nseries ? ", \\\n  " : "plot ", name, nseries,
                    nseries + 1, q);
            free(q);
            fprintf(d, "# format: %s\n", fmt);
            nseries++;
            prev = NAN;
            len = 0;
        }
        int r = qb_is_regression(prev, v, t->lower_is_better, t->abs_tol);
        fprintf(d, "%d %.9g %d \"%.8s\" %s\n", sqlite3_column_int(s, 4), v, r, id, at);
        if (r) {
            char pv[32], cv[32], ch[32];
            snprintf(pv, sizeof pv, "%.4g", prev);
            snprintf(cv, sizeof cv, "%.4g", v);
            snprintf(ch, sizeof ch, "%+.1f", 100.0 * (v - prev) / fabs(prev));
            char rid[9];
            snprintf(rid, sizeof rid, "%.8s", id);
            const char *cells[] = {fmt, rid, at, pv, cv, ch};
            qb_table_row(&reg, cells);
        }
        prev = v;
        if (++len > maxlen) maxlen = len;
    }
    sqlite3_finalize(s);
    fclose(d);
    if (nseries)
        fprintf(p, ", \\\n  for [i=0:%d] '%s.dat' index i using 1:($3 > 0 ? $2 : NaN) with points lc rgb '#c62828' pt 6 ps 2.5 lw 2 "
                   "title (i == 0 ? 'regression' : '')",
                nseries - 1, name);
    fclose(p);
    qb_page_heading(pg, 3, t->title, NULL);
    if (maxlen < 2) {
        qb_page_note(pg, "Only one run of this command, suite and machine holds this metric so far: a trend needs two.");
    } else {
        char *title = qb_asprintf("%s: runs of '%s' on %s", t->title, run->command ? run->command : "?",
                                  run->hostname ? run->hostname : "?");
        char *setup = qb_asprintf("set xlabel 'run (oldest first; the data file has each start time)'\nset ylabel '%s'\n"
                                  "set key outside right top box\nset xtics rotate by -30 left\n%s\n"
                                  "set offsets graph 0.02, graph 0.02, graph 0.1, graph 0.1",
                                  t->ylabel, t->setup);
        qb_plot pl = {.name = name,
                      .title = title,
                      .about = "one block per series; columns 1 run number, 2 value, 3 regression flag, 4 run id, 5 start (UTC)",
                      .setup = setup,
                      .plot = plot,
                      .data = data};
        char *cap = qb_asprintf("%s over every run of this command, suite and machine; circled points are regressions "
                                "(worse by %d %% or more than the previous run).",
                                t->title, REGRESSION_PCT);
        qb_page_plot(pg, &pl, cap);
        free(cap);
        free(title);
        free(setup);
        if (reg.nrows) qb_page_table(pg, &reg);
        else qb_page_note(pg, "No regressions.");
    }
    qb_table_free(&reg);
    free(name);
    free(data);
    free(plot);
}

void qb_section_trends(qb_page *pg, const qb_run_meta *run) {
    if (pg->st) return;
    qb_page_run_heading(pg, "trends", "Trends", run->id, 1);
    char *t = qb_asprintf("Every run of command '%s' (suite %s) on this machine up to this run, oldest first. A point is "
                          "marked a regression when it is worse than the previous run of the same format by %d %% or more "
                          "(ΔPPL: and by more than 0.05 points).",
                          run->command ? run->command : "?", run->suite ? run->suite : "none", REGRESSION_PCT);
    qb_page_note(pg, t);
    free(t);
    for (size_t i = 0; i < sizeof trends / sizeof trends[0]; i++)
        if ((strcmp(trends[i].key, "gemv") == 0 && run->n_bench) || (strcmp(trends[i].key, "dppl") == 0 && run->n_evals))
            one_trend(pg, run, &trends[i]);
}
