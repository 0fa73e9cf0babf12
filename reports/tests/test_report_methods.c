/* test_report_methods.c — the evaluation section by quantization method (reports/evals.c
 * invariant 4). An eval run of two formats × three methods (stored as evals.method
 * 'perplexity', 'perplexity+imatrix', 'perplexity+gptq', as `eval --methods` stores them, the
 * rows inserted out of order) must show:
 *  - the table (its CSV) with a method column right after the format, holding the methods'
 *    names, a format's methods together in the order rtn, imatrix, gptq, formats by bits/weight
 *    descending;
 *  - both plots' data with one block per method, in that order, each point at its
 *    (bits/weight, loss, s.e.) worked out by hand from the inserted rows, then the Pareto front
 *    over every point (here gptq's two points), and the gnuplot script drawing one titled series
 *    per method.
 * A second run with one method only must come out as before methods existed: the raw method
 * column and the single 'format' series.
 * gnuplot is optional here (test_report checks the rendering): without it the report fails
 * with QB_ERUNTIME after writing every table, .dat and .gp, which is all this test reads.
 * QB_TEST_KEEP=1 keeps the temporary directory (kept anyway on a failure). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp, nftw */
#endif
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../common/qbtest.h"
#include "../report.h"

static char *path_in(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static char *slurp_in(const char *dir, const char *fmt, const char *run, const char *kind) {
    char name[96];
    snprintf(name, sizeof name, fmt, kind, run);
    char *path = path_in(dir, name);
    FILE *f = fopen(path, "rb");
    free(path);
    if (!f) return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0, k;
    do {
        cap = cap ? 2 * cap : 4096;
        buf = realloc(buf, cap);
        k = fread(buf + n, 1, cap - n - 1, f);
        n += k;
    } while (k > 0);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static int rm_entry(const char *p, const struct stat *st, int type, struct FTW *ftw) {
    (void)st, (void)type, (void)ftw;
    return remove(p);
}

/* The CSV's data lines as "format,method" pairs, joined by ';' (cells 3 and 4). */
static void csv_format_method(const char *csv, char *out, size_t cap) {
    out[0] = '\0';
    for (const char *line = strchr(csv, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
        const char *c = line + 1;
        for (int k = 0; k < 2 && c; k++) c = strchr(c, ',') ? strchr(c, ',') + 1 : NULL;
        if (!c) break;
        const char *e = strchr(c, ',');
        e = e ? strchr(e + 1, ',') : NULL;
        if (!e) break;
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%s%.*s", len ? ";" : "", (int)(e - c), c);
    }
}

static const struct {
    const char *format, *method;
    double bpw, ratio, kld;
} fix[] = { /* out of the report's order on purpose */
    {"int3_asym_g128", "perplexity+gptq", 3.25, 1.08, 0.1},  {"q4_K", "perplexity+imatrix", 4.5, 1.03, 0.025},
    {"q4_K", "perplexity", 4.5, 1.04, 0.03},                  {"int3_asym_g128", "perplexity", 3.25, 1.20, 0.2},
    {"q4_K", "perplexity+gptq", 4.5, 1.02, 0.02},             {"int3_asym_g128", "perplexity+imatrix", 3.25, 1.12, 0.15},
};
enum { NFIX = (int)(sizeof fix / sizeof fix[0]) };

static qb_status put_run(qb_db *db, qb_machine *m, char run[37], int single) {
    qb_run_info ri = {"eval", NULL, "{}", "quantbench eval", 0};
    qb_status st = qb_db_begin_run(db, m, &ri, run);
    for (int i = 0; i < NFIX && !st; i++) {
        if (single && strcmp(fix[i].method, "perplexity") != 0) continue;
        char *sql = qb_asprintf("INSERT INTO evals(run_id, model_id, text_id, format, method, ctx, chunks, tokens, ppl, ppl_ratio,"
                                " ppl_ratio_err, kld_mean, kld_err, bits_per_weight, ref_format, calib_s, created_at) VALUES ('%s',"
                                " 'gguf:tiny.gguf:x:cccc', 'text:mpl.txt:x:dddd', '%s', '%s', 128, 4, 508, %.17g, %.17g, 0.001,"
                                " %.17g, 0.001, %.17g, 'bf16', %s, '2026-01-01T00:00:00Z')",
                                run, fix[i].format, fix[i].method, 10 * fix[i].ratio, fix[i].ratio, fix[i].kld, fix[i].bpw,
                                strcmp(fix[i].method, "perplexity") ? "1.5" : "NULL");
        st = qb_db_exec(db, sql);
        free(sql);
    }
    if (!st) st = qb_db_finish_run(db, run, "complete", NULL);
    return st;
}

int main(void) {
    char tmp[] = "/tmp/qb_test_report_methods_XXXXXX";
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    char *db_path = path_in(tmp, "results.db"), *dir = path_in(tmp, "report");
    qb_db db;
    qb_status st = qb_db_open(&db, db_path);
    CHECK(st == QB_OK, "qb_db_open %s: %s", db_path, qb_errmsg());
    if (st) return qbt_finish();
    qb_machine m;
    qb_machine_collect(&m);
    const qb_input in[] = {{"gguf:tiny.gguf:x:cccc", "gguf", "tiny.gguf", "tiny.gguf", "cccc", 0, 0},
                           {"text:mpl.txt:x:dddd", "text", "mpl.txt", "mpl.txt", "dddd", 0, 0}};
    for (int i = 0; i < 2 && !st; i++) st = qb_db_put_input(&db, &in[i]);
    char multi[37], single[37];
    if (!st) st = put_run(&db, &m, multi, 0);
    if (!st) st = put_run(&db, &m, single, 1);
    CHECK(st == QB_OK, "building the database: %s", qb_errmsg());
    qb_report_out out;
    memset(&out, 0, sizeof out);
    if (!st) {
        const char *const ids[] = {multi, single};
        st = qb_report_write(&db, ids, 2, dir, &out);
        CHECK(st == QB_OK || st == QB_ERUNTIME, "report: %s", qb_errmsg());
    }
    char got[512];

    /* the multi-method run: table */
    char *csv = slurp_in(dir, "%s_%.8s.csv", multi, "evals");
    CHECK(csv && strncmp(csv, "model,text,format,method,", 25) == 0, "evals csv header '%.40s', expected model,text,format,method,…",
          csv ? csv : "(missing)");
    if (csv) {
        csv_format_method(csv, got, sizeof got);
        const char *want = "q4_K,rtn;q4_K,imatrix;q4_K,gptq;int3_asym_g128,rtn;int3_asym_g128,imatrix;int3_asym_g128,gptq";
        CHECK(strcmp(got, want) == 0, "table rows (format,method) '%s', expected '%s'", got, want);
        CHECK(!strstr(csv, "perplexity"), "the multi-method table still shows evals' raw 'perplexity…' names");
    }
    free(csv);
    /* the multi-method run: plot data, one block per method then the front, and the series */
    static const char *const want_dat[2] = {
        "3.25 20 0.1 \"int3_asym_g128\"\n4.5 4 0.1 \"q4_K\"\n\n\n"   /* rtn */
        "3.25 12 0.1 \"int3_asym_g128\"\n4.5 3 0.1 \"q4_K\"\n\n\n"   /* imatrix */
        "3.25 8 0.1 \"int3_asym_g128\"\n4.5 2 0.1 \"q4_K\"\n\n\n"    /* gptq */
        "3.25 8 0 \"int3_asym_g128\"\n4.5 2 0 \"q4_K\"\n",           /* the front: gptq's points */
        "3.25 0.2 0.001 \"int3_asym_g128\"\n4.5 0.03 0.001 \"q4_K\"\n\n\n"
        "3.25 0.15 0.001 \"int3_asym_g128\"\n4.5 0.025 0.001 \"q4_K\"\n\n\n"
        "3.25 0.1 0.001 \"int3_asym_g128\"\n4.5 0.02 0.001 \"q4_K\"\n\n\n"
        "3.25 0.1 0 \"int3_asym_g128\"\n4.5 0.02 0 \"q4_K\"\n"};
    static const char *const kinds[2] = {"dppl", "kld"};
    for (int k = 0; k < 2; k++) {
        char *dat = slurp_in(dir, "evals_%s_%.8s.dat", multi, kinds[k]);
        const char *body = dat ? strstr(dat, "Pareto front\n") : NULL;
        CHECK(dat && strstr(dat, "# blocks 0-2: one per method (rtn, imatrix, gptq); block 3: the Pareto front\n"),
              "%s data: header names no block per method", kinds[k]);
        CHECK(body && strcmp(body + 13, want_dat[k]) == 0, "%s data:\n%s\nexpected:\n%s", kinds[k], body ? body + 13 : "(missing)",
              want_dat[k]);
        free(dat);
        char *gp = slurp_in(dir, "evals_%s_%.8s.gp", multi, kinds[k]);
        CHECK(gp && strstr(gp, "index 0 using 1:2:3 with yerrorbars lt 1 title 'rtn (± 1 s.e.)'") &&
                  strstr(gp, "index 1 using 1:2:3 with yerrorbars lt 2 title 'imatrix (± 1 s.e.)'") &&
                  strstr(gp, "index 2 using 1:2:3 with yerrorbars lt 3 title 'gptq (± 1 s.e.)'") &&
                  strstr(gp, "index 3 using 1:2 with lines lt 4 lw 2 dt 2 title 'Pareto front'") && !strstr(gp, "index 4"),
              "%s script lacks a series per method or the front:\n%s", kinds[k], gp ? gp : "(missing)");
        free(gp);
    }

    /* the single-method run: as before */
    csv = slurp_in(dir, "%s_%.8s.csv", single, "evals");
    if (csv) csv_format_method(csv, got, sizeof got);
    CHECK(csv && strcmp(got, "q4_K,perplexity;int3_asym_g128,perplexity") == 0, "single-method table rows '%s', expected the raw method",
          csv ? got : "(missing)");
    free(csv);
    char *dat = slurp_in(dir, "evals_%s_%.8s.dat", single, "dppl");
    const char *body = dat ? strstr(dat, "# block 0: every format; block 1: the Pareto front\n") : NULL;
    CHECK(body && strcmp(body + 51, "3.25 20 0.1 \"int3_asym_g128\"\n4.5 4 0.1 \"q4_K\"\n\n\n3.25 20 0 \"int3_asym_g128\"\n4.5 4 0 \"q4_K\"\n") == 0,
          "single-method dppl data:\n%s", dat ? dat : "(missing)");
    free(dat);
    char *gp = slurp_in(dir, "evals_%s_%.8s.gp", single, "dppl");
    CHECK(gp && strstr(gp, "title 'format (± 1 s.e.)'") && strstr(gp, "index 1 using 1:2 with linespoints") && !strstr(gp, "index 2"),
          "single-method script changed:\n%s", gp ? gp : "(missing)");
    free(gp);

    qb_report_out_free(&out);
    qb_machine_free(&m);
    qb_db_close(&db);
    if (qbt_fail_ == 0 && !getenv("QB_TEST_KEEP")) nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    else printf("kept %s for inspection\n", tmp);
    free(db_path), free(dir);
    return qbt_finish();
}
