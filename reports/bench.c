/* bench.c — the throughput part of the report: the measured limits, throughput per op,
 * format and backend as bars with error bars, a roofline, and every case with every key of
 * its config JSON as a column.
 *
 * Invariants:
 *  1. A bar is the case of its (op, format, backend) at the most threads and the largest
 *     working set (the DRAM-bound case, what a model sees); its error bar is the throughput
 *     at median ± MAD of the time per iteration. The `reference` quantize cases are not bars:
 *     the speedup target's yardstick, timed on one thread at one size, they would stand beside
 *     the fast paths' cases at other sizes and thread counts (they stay in the case table).
 *  2. The roofline's lines are the best read bandwidth (largest cache level measured, DRAM
 *     when present) and the fp32 FMA peak, both at the thread count of the bars.
 *  3. The case table's columns come from the JSON keys the run stored (json_each), so a key
 *     the benchmark adds later shows up without a change here (page.h invariant 3). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* open_memstream */
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sections.h"

static const char how_to_read[] =
    "Each case runs one operation (quantize: f32 to the format, dequantize: back to f32, gemv: "
    "one token's matrix-vector product with the format's fused dot, gemm: a 512-token prompt) "
    "in its own process; the figure is the median over its samples. gbps counts the bytes an "
    "iteration touches, gflops its arithmetic; fraction_of_limit compares with the machine limit "
    "named by limit_kind at the same cache level and thread count; paired_fraction (dequantize and "
    "gemv beyond the last-level cache, gemm) compares with pair_gbps (pair_gflops), that limit's own "
    "kernel run on as many threads between the case's samples, so both were taken in the same "
    "seconds. unstable = 1 marks a "
    "coefficient of variation above 10 %: treat its figure with care.";

/* One bar: the case (op, format, backend) chosen by invariant 1. */
typedef struct bar {
    char *op, *format, *backend, *level;
    int threads;
    double value, lo, hi, ai, gflops; /* value in GB/s (GFLOP/s for gemm) */
} bar;

static void bars_free(bar *b, int n) {
    for (int i = 0; i < n; i++) {
        free(b[i].op);
        free(b[i].format);
        free(b[i].backend);
        free(b[i].level);
    }
    free(b);
}

static int load_bars(qb_page *pg, const qb_run_meta *run, bar **out) {
    sqlite3_stmt *s = qb_page_prepare(
        pg,
        "SELECT op, coalesce(format, ''), backend, threads, json_extract(config, '$.level'),"
        " json_extract(config, '$.gbps'), json_extract(config, '$.gflops'), json_extract(config, '$.median_ns'),"
        " json_extract(config, '$.mad_ns'), json_extract(config, '$.flops_per_iter'), json_extract(config, '$.bytes_per_iter')"
        " FROM bench_cases WHERE run_id = ?1 AND op IN ('quantize', 'dequantize', 'gemv', 'gemm')"
        " AND backend <> 'reference' AND json_extract(config, '$.median_ns') > 0"
        " ORDER BY op, format, backend, threads DESC, json_extract(config, '$.working_set_bytes') DESC",
        "benchmark cases", run->id);
    if (!s) return 0;
    bar *b = NULL;
    int n = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *op = (const char *)sqlite3_column_text(s, 0), *fmt = (const char *)sqlite3_column_text(s, 1),
                   *be = (const char *)sqlite3_column_text(s, 2);
        if (!op || !fmt || !be) continue;
        if (n && strcmp(b[n - 1].op, op) == 0 && strcmp(b[n - 1].format, fmt) == 0 && strcmp(b[n - 1].backend, be) == 0)
            continue; /* not the first of its group: fewer threads or a smaller working set */
        int gemm = strcmp(op, "gemm") == 0;
        double gbps = qb_db_col_real(s, 5), gflops = qb_db_col_real(s, 6), med = qb_db_col_real(s, 7), mad = qb_db_col_real(s, 8);
        double v = gemm ? gflops : gbps;
        if (!isfinite(v)) continue;
        b = qb_realloc(b, sizeof *b * (size_t)(n + 1));
        bar *x = &b[n++];
        x->op = qb_strdup(op);
        x->format = qb_strdup(fmt);
        x->backend = qb_strdup(be);
        x->level = qb_col_str(s, 4);
        x->threads = sqlite3_column_int(s, 3);
        x->value = v;
        x->lo = isfinite(mad) && mad < med ? v * med / (med + mad) : v;
        x->hi = isfinite(mad) && mad < med ? v * med / (med - mad) : v;
        double fl = qb_db_col_real(s, 9), by = qb_db_col_real(s, 10);
        x->ai = fl > 0 && by > 0 ? fl / by : NAN;
        x->gflops = gflops;
    }
    sqlite3_finalize(s);
    *out = b;
    return n;
}

static void bar_plot(qb_page *pg, const qb_run_meta *run, const bar *b, int a, int e) {
    int gemm = strcmp(b[a].op, "gemm") == 0;
    char *data = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&data, &len);
    if (!f) qb_memstream_failed();
    fprintf(f, "# %s throughput per format/backend, run %s\n# columns: \"format/backend\" %s low high threads \"level\"\n",
            b[a].op, run->id, gemm ? "GFLOP/s" : "GB/s");
    for (int i = a; i < e; i++) {
        char *label = qb_asprintf("%s/%s", *b[i].format ? b[i].format : "-", b[i].backend);
        qb_gp_put_dat_str(f, label);
        fprintf(f, " %.6g %.6g %.6g %d ", b[i].value, b[i].lo, b[i].hi, b[i].threads);
        qb_gp_put_dat_str(f, b[i].level ? b[i].level : "?");
        fputc('\n', f);
        free(label);
    }
    fclose(f);
    char *name = qb_asprintf("bench_%s_%.8s", b[a].op, run->id);
    char *title = qb_asprintf("%s throughput by format and backend (run %.8s, %d thread%s, %s working set)", b[a].op, run->id,
                              b[a].threads, b[a].threads == 1 ? "" : "s", b[a].level ? b[a].level : "largest");
    char *setup = qb_asprintf("set ylabel '%s (median; error bar: median ± MAD)'\nset yrange [0:*]\nunset key\n"
                              "set style fill solid 0.6 border -1\nset boxwidth 0.7\nset xtics rotate by -40 left\n"
                              "set bmargin 7\nset grid noxtics ytics",
                              gemm ? "GFLOP/s" : "GB/s");
    char *plot = qb_asprintf("plot '%s.dat' using 0:2:xtic(1) with boxes lt 1, \\\n  '' using 0:2:3:4 with yerrorbars lc rgb '#c62828' lw 1.5 pt 1 ps 0", name);
    qb_plot pl = {.name = name,
                  .title = title,
                  .about = "columns 1 format/backend, 2 median throughput, 3-4 at median ± MAD, 5 threads, 6 cache level",
                  .setup = setup,
                  .plot = plot,
                  .data = data,
                  .width = 900 + 12 * (e - a > 30 ? e - a - 30 : 0)};
    char *cap = qb_asprintf("%s: %s per format and backend, median with error bars at median ± MAD.", b[a].op,
                            gemm ? "GFLOP/s" : "GB/s");
    qb_page_plot(pg, &pl, cap);
    free(cap);
    free(name);
    free(title);
    free(setup);
    free(plot);
    free(data);
}

/* Invariant 2: the first value `sql` (?1 = the run) selects from the limits, NaN if none. */
static double limit_at(qb_page *pg, const qb_run_meta *run, const char *sql) {
    sqlite3_stmt *s = qb_page_prepare(pg, sql, "limits", run->id);
    if (!s) return NAN;
    double v = sqlite3_step(s) == SQLITE_ROW ? qb_db_col_real(s, 0) : NAN;
    sqlite3_finalize(s);
    return v;
}

static void roofline(qb_page *pg, const qb_run_meta *run, const bar *b, int n) {
    int threads = 0, npts = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(b[i].ai) && isfinite(b[i].gflops)) {
            npts++;
            if (b[i].threads > threads) threads = b[i].threads;
        }
    if (!npts) return;
    char *q = qb_asprintf("SELECT value FROM limits WHERE run_id = ?1 AND threads = %d AND kind LIKE 'read_bw_%%'"
                          " ORDER BY CASE WHEN kind = 'read_bw_DRAM' THEN 0 ELSE 1 END, value ASC LIMIT 1", threads);
    double bw = limit_at(pg, run, q);
    free(q);
    q = qb_asprintf("SELECT value FROM limits WHERE run_id = ?1 AND threads = %d AND kind = 'fma_peak'", threads);
    double peak = limit_at(pg, run, q);
    free(q);
    char *data = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&data, &len);
    if (!f) qb_memstream_failed();
    fprintf(f, "# roofline of run %s at %d thread(s): columns FLOP/byte GFLOP/s \"op format/backend\"\n", run->id, threads);
    for (int i = 0; i < n; i++) {
        if (!isfinite(b[i].ai) || !isfinite(b[i].gflops) || b[i].threads != threads) continue;
        char *label = qb_asprintf("%s %s/%s", b[i].op, *b[i].format ? b[i].format : "-", b[i].backend);
        fprintf(f, "%.6g %.6g ", b[i].ai, b[i].gflops);
        qb_gp_put_dat_str(f, label);
        fputc('\n', f);
        free(label);
    }
    fclose(f);
    char *name = qb_asprintf("roofline_%.8s", run->id);
    char *title = qb_asprintf("Roofline (run %.8s, %d thread%s)", run->id, threads, threads == 1 ? "" : "s");
    char *setup = qb_asprintf("set logscale xy\nset xlabel 'arithmetic intensity (FLOP per byte moved)'\n"
                              "set ylabel 'GFLOP/s'\nset key bottom right box opaque\nset samples 400\n"
                              "# measured limits (NaN when the run has none): bandwidth in GB/s, peak in GFLOP/s\n"
                              "bw = %.6g\npeak = %.6g\nset xrange [0.01:1000]\n%s",
                              isfinite(bw) ? bw / 1e9 : NAN, isfinite(peak) ? peak / 1e9 : NAN,
                              isfinite(peak) ? "set yrange [*:peak * 4]" : "");
    /* a limit the run did not measure is left out: gnuplot fails on a function that is
     * undefined everywhere */
    char *plot = qb_asprintf("plot %s%s%s'%s.dat' using 1:2 with points lt 1 pt 7 title 'cases', \\\n"
                             "  '' using 1:2:3 with labels left offset char 0.6,0.4 font ',8' notitle",
                             isfinite(bw) ? "bw * x title sprintf('read bandwidth %.0f GB/s', bw) lt 2 dt 2, \\\n  " : "",
                             isfinite(peak) ? "peak title sprintf('fp32 FMA peak %.0f GFLOP/s', peak) lt 3 dt 2, \\\n  " : "",
                             isfinite(bw) && isfinite(peak) ? "(bw * x < peak ? bw * x : peak) title 'roof' lt 8 lw 3, \\\n  " : "",
                             name);
    qb_plot pl = {.name = name,
                  .title = title,
                  .about = "columns 1 FLOP per byte of an iteration, 2 GFLOP/s (median), 3 op format/backend",
                  .setup = setup,
                  .plot = plot,
                  .data = data,
                  .height = 600};
    qb_page_plot(pg, &pl, "Arithmetic intensity against achieved GFLOP/s, under the roof of the measured read bandwidth "
                          "and fp32 FMA peak: points near the slanted line are memory-bound, near the flat one compute-bound.");
    free(name);
    free(title);
    free(setup);
    free(plot);
    free(data);
}

/* Invariant 3: SELECT op, …, json_extract(config, '$."KEY"') AS "KEY" for every key stored. */
static char *cases_sql(qb_page *pg, const qb_run_meta *run) {
    sqlite3_stmt *s = qb_page_prepare(pg,
                                      "SELECT j.key FROM bench_cases c, json_each(c.config) j WHERE c.run_id = ?1"
                                      " GROUP BY j.key ORDER BY min(j.id)",
                                      "benchmark config keys", run->id);
    if (!s) return NULL;
    char *sql = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&sql, &len);
    if (!f) qb_memstream_failed();
    fputs("SELECT op, format, backend, device, shape, threads", f);
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(s, 0);
        if (!k) continue;
        fputs(", json_extract(config, '$.\"", f);
        for (const char *c = k; *c; c++) fprintf(f, "%s", *c == '\'' ? "''" : *c == '"' ? "\\\"" : (char[2]){*c, 0});
        fputs("\"') AS \"", f);
        for (const char *c = k; *c; c++) fprintf(f, "%s", *c == '"' ? "\"\"" : (char[2]){*c, 0});
        fputc('"', f);
    }
    sqlite3_finalize(s);
    fputs(" FROM bench_cases WHERE run_id = ?1 ORDER BY op, format, backend, threads,"
          " json_extract(config, '$.working_set_bytes')", f);
    fclose(f);
    return sql;
}

void qb_section_bench(qb_page *pg, const qb_run_meta *run) {
    if (pg->st) return;
    qb_page_run_heading(pg, "bench", "Throughput", run->id, 0);
    qb_page_para(pg, how_to_read);
    bar *b = NULL;
    int n = load_bars(pg, run, &b);
    for (int a = 0, e; a < n; a = e) {
        for (e = a + 1; e < n && strcmp(b[e].op, b[a].op) == 0;) e++;
        bar_plot(pg, run, b, a, e);
    }
    qb_page_heading(pg, 3, "Roofline", NULL);
    roofline(pg, run, b, n);
    bars_free(b, n);
    qb_page_heading(pg, 3, "Measured limits", NULL);
    const char *params[] = {run->id};
    char *csv = qb_asprintf("limits_%.8s.csv", run->id);
    if (!qb_page_sql_table(pg, "SELECT kind, threads, value, unit FROM limits WHERE run_id = ?1 ORDER BY kind, threads", params,
                           1, NULL, 0, csv, "Limits"))
        qb_page_note(pg, "This run stored no limits.");
    free(csv);
    qb_page_heading(pg, 3, "Every case", NULL);
    char *sql = cases_sql(pg, run);
    if (sql) {
        csv = qb_asprintf("bench_%.8s.csv", run->id);
        qb_page_fold(pg, "Show every case with every figure its config holds (also in the CSV below)");
        qb_page_sql_table(pg, sql, params, 1, NULL, 6, csv, "Every case"); /* op … threads identify a case */
        qb_page_unfold(pg);
        free(csv);
    }
    free(sql);
}
