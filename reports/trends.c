/* trends.c — nightly trends: a few headline metrics over every run of the same command,
 * suite and machine up to the reported run, one line per format, with regressions marked.
 *
 * Invariants:
 *  1. A point is a regression exactly when `quantbench compare` (results/compare.h) calls that
 *     run's case a regression against the runs before it (auto baselines, default options):
 *     the report and the nightly job's exit code never disagree.
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

#include "../results/compare.h"
#include "sections.h"

/* compare's verdicts of one run against its automatic baselines, computed once per run. */
typedef struct run_verdicts {
    char run[37];
    int have; /* 0: the first run of its group, nothing to compare with */
    qb_comparison c;
} run_verdicts;

typedef struct verdict_cache {
    run_verdicts *v;
    int n;
} verdict_cache;

static const qb_verdict *verdict_of(qb_page *pg, verdict_cache *vc, const char *run, const char *kind, const char *key) {
    run_verdicts *rv = NULL;
    for (int i = 0; i < vc->n && !rv; i++)
        if (strcmp(vc->v[i].run, run) == 0) rv = &vc->v[i];
    if (!rv) {
        vc->v = qb_realloc(vc->v, sizeof *vc->v * (size_t)(vc->n + 1));
        rv = &vc->v[vc->n++];
        memset(rv, 0, sizeof *rv);
        snprintf(rv->run, sizeof rv->run, "%s", run);
        qb_compare_opts o = QB_COMPARE_DEFAULTS;
        char base[QB_COMPARE_MAX_BASELINES][37];
        int nb = 0;
        rv->have = qb_compare_auto_baselines(pg->db, run, o.history, base, &nb) == QB_OK &&
                   qb_compare_runs(pg->db, (const char(*)[37])base, nb, run, &o, &rv->c) == QB_OK;
    }
    for (int i = 0; rv->have && i < rv->c.n; i++)
        if (strcmp(rv->c.v[i].kind, kind) == 0 && strcmp(rv->c.v[i].what, key) == 0) return &rv->c.v[i];
    return NULL;
}

static void verdict_cache_free(verdict_cache *vc) {
    for (int i = 0; i < vc->n; i++)
        if (vc->v[i].have) qb_comparison_free(&vc->v[i].c);
    free(vc->v);
}

typedef struct trend {
    const char *key, *title, *ylabel, *sql;
    const char *setup;   /* extra gnuplot commands */
    const char *kind;    /* compare's verdict kind for the points */
} trend;

/* ?1 = the reported run. Columns: started_at, run id, series (format, or format/backend),
 * value, run number in the group (oldest = 1), compare's key of the case; ordered by series,
 * then time. */
static const trend trends[] = {
    {"gemv", "gemv median time per format and backend", "median ns per gemv (lower is better)",
     "WITH me AS (SELECT r.command, r.suite, r.machine_id, r.started_at, r.rowid AS rid FROM runs r WHERE r.id = ?1),"
     " big AS (SELECT shape, threads FROM bench_cases WHERE run_id = ?1 AND op = 'gemv'"
     "  ORDER BY threads DESC, json_extract(config, '$.working_set_bytes') DESC LIMIT 1)"
     " SELECT r.started_at, r.id, c.format || '/' || c.backend, json_extract(c.config, '$.median_ns')"
     ", (SELECT count(*) FROM runs r2 WHERE r2.command = me.command AND r2.suite IS me.suite"
     "  AND r2.machine_id = me.machine_id AND (r2.started_at < r.started_at OR (r2.started_at = r.started_at AND r2.rowid <= r.rowid))), " QB_COMPARE_BENCH_KEY("c.") " FROM runs r, me, big"
     " JOIN bench_cases c ON c.run_id = r.id WHERE r.command = me.command AND r.suite IS me.suite"
     " AND r.machine_id = me.machine_id AND (r.started_at < me.started_at OR (r.started_at = me.started_at AND r.rowid <= me.rid)) AND c.op = 'gemv' AND c.shape = big.shape"
     " AND c.threads = big.threads AND json_extract(c.config, '$.median_ns') > 0 ORDER BY c.format, c.backend, r.started_at, r.rowid",
     "set logscale y  # formats differ by orders of magnitude", "speed"},
    {"dppl", "ΔPPL per format", "ΔPPL vs reference, % (lower is better)",
     "WITH me AS (SELECT r.command, r.suite, r.machine_id, r.started_at, r.rowid AS rid FROM runs r WHERE r.id = ?1),"
     " m AS (SELECT model_id, ctx FROM evals WHERE run_id = ?1 GROUP BY model_id, ctx ORDER BY count(*) DESC LIMIT 1)"
     " SELECT r.started_at, r.id, e.format, 100.0 * (e.ppl_ratio - 1)"
     ", (SELECT count(*) FROM runs r2 WHERE r2.command = me.command AND r2.suite IS me.suite"
     "  AND r2.machine_id = me.machine_id AND (r2.started_at < r.started_at OR (r2.started_at = r.started_at AND r2.rowid <= r.rowid))), " QB_COMPARE_EVAL_KEY("e.") " FROM runs r, me, m"
     " JOIN evals e ON e.run_id = r.id WHERE r.command = me.command AND r.suite IS me.suite"
     " AND r.machine_id = me.machine_id AND (r.started_at < me.started_at OR (r.started_at = me.started_at AND r.rowid <= me.rid)) AND e.model_id = m.model_id"
     " AND e.ctx = m.ctx AND e.ppl_ratio IS NOT NULL AND e.format <> coalesce(e.ref_format, '') ORDER BY e.format, r.started_at, r.rowid",
     "", "eval"},
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
    static const char *const cols[] = {"format", "run", "started", ">previous", ">value", ">compare's change %", ">p", NULL};
    qb_table reg;
    qb_table_init(&reg, cols);
    char series[128] = "";
    double prev = NAN;
    int nseries = 0, maxlen = 0, len = 0;
    verdict_cache vc = {0};
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
        const char *key = (const char *)sqlite3_column_text(s, 5);
        const qb_verdict *vd = key ? verdict_of(pg, &vc, id, t->kind, key) : NULL;
        int r = vd && strcmp(vd->verdict, "regression") == 0;
        fprintf(d, "%d %.9g %d \"%.8s\" %s\n", sqlite3_column_int(s, 4), v, r, id, at);
        if (r) {
            char pv[32], cv[32], ch[32], pp[32];
            snprintf(pv, sizeof pv, "%.4g", prev);
            snprintf(cv, sizeof cv, "%.4g", v);
            snprintf(ch, sizeof ch, "%+.1f", 100.0 * vd->change);
            snprintf(pp, sizeof pp, "%.2g", vd->p);
            char rid[9];
            snprintf(rid, sizeof rid, "%.8s", id);
            const char *cells[] = {fmt, rid, at, pv, cv, ch, isnan(vd->p) ? "" : pp};
            qb_table_row(&reg, cells);
        }
        prev = v;
        if (++len > maxlen) maxlen = len;
    }
    sqlite3_finalize(s);
    verdict_cache_free(&vc);
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
                                "('quantbench compare' finds a regression in that run against the runs before it).",
                                t->title);
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
                          "marked a regression when 'quantbench compare' (default options, baseline auto) reports that run's "
                          "case as one: a gemv slower by at least 5 %% with Mann-Whitney p < 0.002 against each of up to 3 runs "
                          "before it; a perplexity or KLD higher by more than 1e-4 relative than in the run before.",
                          run->command ? run->command : "?", run->suite ? run->suite : "none");
    qb_page_note(pg, t);
    free(t);
    for (size_t i = 0; i < sizeof trends / sizeof trends[0]; i++)
        if ((strcmp(trends[i].key, "gemv") == 0 && run->n_bench) || (strcmp(trends[i].key, "dppl") == 0 && run->n_evals))
            one_trend(pg, run, &trends[i]);
}
