/* test_report.c — builds a results database by hand (two weight sources × three formats, one
 * of them lossless with SQNR = +inf, one metric NULL), renders its report and checks the
 * files against the inserted values: the Markdown rows as formatted for humans, errors.csv
 * read back at full precision, index.html self-contained, and the gnuplot script and data.
 * Then the same report with PATH emptied must fail with the install hint yet still write
 * every table, and an incomplete run must be flagged as such.
 *
 * gnuplot is required (CI installs it); QB_TEST_NO_GNUPLOT=1 lets the test pass on a machine
 * without it by expecting the friendly error there as well. QB_TEST_KEEP=1 keeps the temporary
 * directory (it is kept anyway when a check fails) to look at the rendered report. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp, setenv, nftw */
#endif
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/qbtest.h"
#include "../report.h"
#include "../sections.h"

typedef struct expect_row {
    const char *input_id, *source, *format;
    double bpw, mse, rmse, max_abs, sqnr_db, cosine; /* NaN: stored as NULL */
    /* the Markdown cells: bits/weight, MSE, RMSE, max abs err, SQNR dB, cosine */
    const char *md[6];
} expect_row;

#define SRC_A "gaussian"
#define SRC_B "laplace & co" /* '&' must come out escaped in HTML */

/* Listed in the order the report must show them: by source, then bits/weight descending. */
static const expect_row rows[] = {
    {"synthetic:gaussian:64x256:aaaa", SRC_A, "f32", 32, 0, 0, 0, INFINITY, 1,
     {"32", "0", "0", "0", "inf (lossless)", "1"}},
    {"synthetic:gaussian:64x256:aaaa", SRC_A, "f16", 16, 1.2345678e-08, 1.1110976e-04, 4.8828125e-04, 79.08567, 0.9999999876,
     {"16", "1.235e-08", "0.0001111", "0.0004883", "79.09", "0.99999998760"}},
    {"synthetic:gaussian:64x256:aaaa", SRC_A, "int8_sym_row", 8.125, 2.0408163e-05, 0.0045175395, 0.0123456, 46.9012345,
     0.99998765, {"8.125", "2.041e-05", "0.004518", "0.01235", "46.9", "0.99998765"}},
    {"synthetic:laplace:64x256:bbbb", SRC_B, "f32", 32, 0, 0, 0, INFINITY, 1,
     {"32", "0", "0", "0", "inf (lossless)", "1"}},
    {"synthetic:laplace:64x256:bbbb", SRC_B, "bf16", 16, 3.3e-06, 0.0018165902, 0.0078126, 52.123456, 0.99999695,
     {"16", "3.3e-06", "0.001817", "0.007813", "52.12", "0.999996950"}},
    {"synthetic:laplace:64x256:bbbb", SRC_B, "int8_sym_row", 8.125, 5.5e-05, 0.0074161985, NAN, 42.5, 0.99991234,
     {"8.125", "5.5e-05", "0.007416", "", "42.5", "0.99991234"}},
};
enum { NROWS = (int)(sizeof rows / sizeof rows[0]) };

/* ---- helpers -------------------------------------------------------------------------- */

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t k;
    while (buf && (k = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += k;
        if (cap - n - 1 == 0) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    return buf;
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static char *path_in(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static void check_nonempty(const char *dir, const char *name) {
    char *p = path_in(dir, name);
    long n = file_size(p);
    CHECK(n > 0, "%s: size %ld, expected a non-empty file", p, n);
    free(p);
}

static void check_absent(const char *dir, const char *name) {
    char *p = path_in(dir, name);
    CHECK(file_size(p) < 0, "%s exists, expected it removed or never written", p);
    free(p);
}

static int gnuplot_on_path(void) {
    const char *path = getenv("PATH");
    if (!path) return 0;
    char *copy = strdup(path), *save = NULL;
    int found = 0;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char *p = path_in(d, "gnuplot");
        found = access(p, X_OK) == 0;
        free(p);
    }
    free(copy);
    return found;
}

static int rm_entry(const char *p, const struct stat *st, int type, struct FTW *ftw) {
    (void)st, (void)type, (void)ftw;
    return remove(p);
}

/* Splits a Markdown table line "| a | b |" into trimmed cells; returns the count. */
static int md_cells(const char *line, char cells[][64], int max) {
    int n = 0;
    const char *eol = line + strcspn(line, "\n");
    const char *p = strchr(line, '|');
    while (p && p < eol && n < max) {
        const char *q = strchr(p + 1, '|');
        if (!q || q > eol) break;
        const char *a = p + 1, *b = q;
        while (a < b && *a == ' ') a++;
        while (b > a && b[-1] == ' ') b--;
        snprintf(cells[n], 64, "%.*s", (int)(b - a), a);
        n++;
        p = q;
    }
    return n;
}

/* Splits a CSV line with no quoted fields (none of ours needs quoting) into cells. */
static int csv_cells(const char *line, char cells[][64], int max) {
    int n = 0;
    const char *p = line;
    for (;;) {
        size_t k = strcspn(p, ",\n");
        if (n < max) snprintf(cells[n++], 64, "%.*s", (int)k, p);
        if (p[k] != ',') break;
        p += k + 1;
    }
    return n;
}

/* ---- building the database ------------------------------------------------------------ */

static void put_inputs(qb_db *db) {
    const qb_input in[] = {
        {"synthetic:gaussian:64x256:aaaa", "synthetic", SRC_A, "synthetic:gaussian:64x256 seed=0", "aaaa", 64, 256},
        {"synthetic:laplace:64x256:bbbb", "synthetic", SRC_B, "synthetic:laplace:64x256 seed=0", "bbbb", 64, 256},
    };
    for (int i = 0; i < 2; i++) {
        qb_status st = qb_db_put_input(db, &in[i]);
        CHECK(st == QB_OK, "qb_db_put_input %s: %s", in[i].id, qb_errmsg());
    }
}

static void put_row(qb_db *db, const char *run, const expect_row *r) {
    qb_tensor_error e = {.input_id = r->input_id, .tensor = "", .format = r->format, .rows = 64, .cols = 256,
                         .bits_per_weight = r->bpw, .mse = r->mse, .rmse = r->rmse, .max_abs = r->max_abs, .sqnr_db = r->sqnr_db,
                         .cosine = r->cosine, .p50_abs = NAN, .p95_abs = NAN, .p99_abs = NAN, .p999_abs = NAN};
    qb_status st = qb_db_put_tensor_error(db, run, &e);
    CHECK(st == QB_OK, "qb_db_put_tensor_error %s/%s: %s", r->source, r->format, qb_errmsg());
}

/* ---- checks --------------------------------------------------------------------------- */

/* Every row of `source` in index.md, in order, with the expected cells. */
static void check_md_source(const char *md, const char *source, int first, int count) {
    char heading[128];
    snprintf(heading, sizeof heading, "\n### %s\n", source);
    const char *p = strstr(md, heading);
    CHECK(p != NULL, "index.md has no heading '### %s'", source);
    if (!p) return;
    p = strstr(p, "\n| ");
    CHECK(p != NULL, "index.md: no table under '### %s'", source);
    if (!p) return;
    p++;
    char cells[16][64];
    int n = md_cells(p, cells, 16);
    const char *head[] = {"format", "bits/weight", "MSE", "RMSE", "max abs err", "SQNR dB", "cosine"};
    CHECK(n == 7, "index.md '%s': header has %d cells, expected 7", source, n);
    for (int c = 0; c < n && c < 7; c++) CHECK(strcmp(cells[c], head[c]) == 0, "header cell %d: '%s' vs '%s'", c, cells[c], head[c]);
    p = strchr(p, '\n') + 1; /* the rule */
    for (int i = 0; i < count; i++) {
        p = strchr(p, '\n');
        if (!p || p[1] != '|') {
            CHECK(0, "index.md '%s': only %d of %d rows", source, i, count);
            return;
        }
        p++;
        const expect_row *r = &rows[first + i];
        n = md_cells(p, cells, 16);
        CHECK(n == 7, "index.md '%s' row %d: %d cells", source, i, n);
        if (n != 7) continue;
        CHECK(strcmp(cells[0], r->format) == 0, "index.md '%s' row %d: format '%s', expected '%s' (sorted by bits desc)", source, i,
              cells[0], r->format);
        for (int c = 0; c < 6; c++)
            CHECK(strcmp(cells[c + 1], r->md[c]) == 0, "index.md %s/%s column %d: got '%s', expected '%s'", source, r->format,
                  c + 1, cells[c + 1], r->md[c]);
    }
    p = strchr(p, '\n');
    CHECK(p && p[1] != '|', "index.md '%s': more rows than the %d inserted", source, count);
}

static void check_csv(const char *csv) {
    const char *p = csv;
    int nlines = 0;
    for (const char *q = csv; *q; q++) nlines += *q == '\n';
    CHECK(nlines == 1 + NROWS, "errors.csv has %d lines, expected header + %d", nlines, NROWS);
    char cells[20][64];
    int n = csv_cells(p, cells, 20);
    const char *head[] = {"source", "tensor", "format", "tensor_format", "rows", "cols", "bits_per_weight", "mse", "rmse", "max_abs",
                          "sqnr_db", "cosine", "p50_abs", "p95_abs", "p99_abs", "p999_abs"};
    CHECK(n == 16, "errors.csv header has %d columns, expected 16", n);
    for (int c = 0; c < n && c < 16; c++) CHECK(strcmp(cells[c], head[c]) == 0, "csv header %d: '%s' vs '%s'", c, cells[c], head[c]);
    for (int i = 0; i < NROWS; i++) {
        p = strchr(p, '\n');
        if (!p || !p[1]) break;
        p++;
        n = csv_cells(p, cells, 20);
        if (n != 16) {
            CHECK(0, "errors.csv line %d has %d columns", i + 2, n);
            continue;
        }
        const expect_row *r = &rows[i];
        CHECK(strcmp(cells[0], r->source) == 0 && strcmp(cells[2], r->format) == 0, "errors.csv line %d: %s/%s, expected %s/%s",
              i + 2, cells[0], cells[2], r->source, r->format);
        CHECK(strcmp(cells[1], "") == 0 && strcmp(cells[3], r->format) == 0 && strcmp(cells[4], "64") == 0 &&
                  strcmp(cells[5], "256") == 0,
              "errors.csv line %d: tensor '%s' (%s) shape %sx%s, expected '' (%s) 64x256", i + 2, cells[1], cells[3], cells[4],
              cells[5], r->format);
        const double want[] = {r->bpw, r->mse, r->rmse, r->max_abs, r->sqnr_db, r->cosine};
        for (int c = 0; c < 6; c++) {
            const char *cell = cells[6 + c];
            if (isnan(want[c])) {
                CHECK(cell[0] == '\0', "errors.csv %s/%s %s: '%s', expected empty (NULL)", r->source, r->format, head[6 + c], cell);
                continue;
            }
            char buf[64];
            snprintf(buf, sizeof buf, "%.9g", want[c]);
            char *end;
            double got = strtod(cell, &end), exp = strtod(buf, NULL);
            CHECK(*cell && *end == '\0' && got == exp, "errors.csv %s/%s %s: '%s' = %.17g, expected %s", r->source, r->format,
                  head[6 + c], cell, got, buf);
        }
    }
}

/* Every http(s) URL in the page must be an SVG namespace name, which is never fetched. */
static void check_self_contained(const char *html) {
    CHECK(strstr(html, "src=\"http") == NULL && strstr(html, "href=\"http") == NULL && strstr(html, "href='http") == NULL,
          "index.html links an external URL");
    CHECK(strstr(html, "<script") == NULL, "index.html contains a <script>");
    CHECK(strstr(html, "<link") == NULL, "index.html loads a <link>ed resource");
    const char *schemes[] = {"http://", "https://"};
    for (int s = 0; s < 2; s++)
        for (const char *p = html; (p = strstr(p, schemes[s])) != NULL; p++) {
            const char *attr = p;
            int back = 0;
            while (attr > html && back < 40 && attr[-1] != ' ' && attr[-1] != '\n') attr--, back++;
            CHECK_LIMITED(strncmp(attr, "xmlns", 5) == 0, "index.html: URL outside an xmlns attribute: %.60s", attr);
        }
}

/* ---- the cases ------------------------------------------------------------------------ */

/* The complete run, with gnuplot present (or, with QB_TEST_NO_GNUPLOT=1, absent). */
static void case_full(qb_db *db, const char *run, const char *dir, int have_gnuplot) {
    qb_report_out out;
    qb_status st = qb_report_write(db, NULL, 0, dir, &out);
    if (have_gnuplot) {
        CHECK(st == QB_OK, "qb_report_write: status %d: %s", st, qb_errmsg());
        CHECK(out.plot_error == NULL, "plot_error: %s", out.plot_error);
    } else {
        CHECK(st == QB_ERUNTIME && out.plot_error, "without gnuplot: status %d (%s), expected %d with plot_error", st, qb_errmsg(),
              QB_ERUNTIME);
    }
    CHECK(out.run_id && strcmp(out.run_id, run) == 0, "run_id '%s', expected the latest run '%s'", out.run_id, run);
    CHECK(out.n_rows == NROWS, "n_rows %d, expected %d", out.n_rows, NROWS);
    CHECK(out.index_md && out.index_html && out.csv, "output paths not filled");
    if (!out.index_md || !out.index_html || !out.csv) {
        qb_report_out_free(&out);
        return;
    }
    const char *files[] = {"index.md", "index.html", "errors.csv", "sqnr_vs_bits.dat", "sqnr_vs_bits.gp"};
    for (int i = 0; i < 5; i++) check_nonempty(dir, files[i]);
    if (have_gnuplot) {
        CHECK(out.plot_svg && out.plot_png, "plot paths not filled");
        check_nonempty(dir, "sqnr_vs_bits.svg");
        check_nonempty(dir, "sqnr_vs_bits.png");
        char *log = path_in(dir, "sqnr_vs_bits.log");
        CHECK(file_size(log) >= 0, "%s was not written", log);
        free(log);
    }

    char *md = slurp(out.index_md), *html = slurp(out.index_html), *csv = slurp(out.csv);
    char *gp_path = path_in(dir, "sqnr_vs_bits.gp"), *dat_path = path_in(dir, "sqnr_vs_bits.dat");
    char *gp = slurp(gp_path), *dat = slurp(dat_path);
    CHECK(md && html && csv && gp && dat, "cannot read the report files back");
    if (md && html && csv && gp && dat) {
        /* header */
        char want[256];
        snprintf(want, sizeof want, "- **Run:** %s\n", run);
        CHECK(strstr(md, want) != NULL, "index.md lacks '%s'", want);
        CHECK(strstr(md, "- **Status:** complete\n") != NULL, "index.md lacks the complete status");
        CHECK(strstr(md, "Warning") == NULL, "index.md warns about a complete run");
        CHECK(strstr(md, "- **Command:** errors\n") && strstr(md, "- **Suite:** default\n"), "index.md lacks command/suite");
        snprintf(want, sizeof want, "- **quantbench:** %s (git commit %s)\n", qb_version, qb_git_commit);
        CHECK(strstr(md, want) != NULL, "index.md lacks '%s'", want);
        CHECK(strstr(md, "**Started:**") && strstr(md, "**Finished:**"), "index.md lacks start/finish times");
        const char *machine_keys[] = {"**CPU:**", "**Cores:**", "**Memory:**", "**OS:**", "**Kernel:**", "**Compiler:**",
                                      "**OpenBLAS:**", "**oneDNN:**", "**GPUs:**"};
        for (int i = 0; i < 9; i++) CHECK(strstr(md, machine_keys[i]) != NULL, "index.md lacks machine field %s", machine_keys[i]);
        CHECK(strstr(md, "6.02 dB") && strstr(md, "How to read this"), "index.md lacks the how-to-read paragraph");
        /* tables */
        check_md_source(md, SRC_A, 0, 3);
        check_md_source(md, SRC_B, 3, 3);
        CHECK(strstr(md, "f32 on gaussian") && strstr(md, "f32 on laplace & co"), "index.md does not list the unplotted lossless points");
        check_csv(csv);
        /* html */
        CHECK(strstr(html, "<table") != NULL, "index.html has no <table>");
        CHECK(strstr(html, "laplace &amp; co") && !strstr(html, "<h3>laplace & co"), "index.html does not escape the source name");
        CHECK(strstr(html, "<td class=\"num\">inf (lossless)</td>") != NULL, "index.html lacks the lossless SQNR cell");
        check_self_contained(html);
        if (have_gnuplot) {
            CHECK(strstr(html, "<svg") != NULL, "index.html does not inline the SVG");
            CHECK(strstr(html, "<?xml") == NULL && strstr(html, "<!DOCTYPE svg") == NULL, "index.html kept the SVG's prolog");
            CHECK(strstr(html, "href=\"sqnr_vs_bits.png\"") != NULL, "index.html does not link the PNG");
            CHECK(strstr(md, "](sqnr_vs_bits.svg)") != NULL, "index.md does not show the SVG");
        } else {
            CHECK(strstr(html, "gnuplot not found on PATH") != NULL, "index.html does not say why the plot is missing");
        }
        /* plot script and data */
        CHECK(strstr(gp, "set terminal svg") && strstr(gp, "set terminal pngcairo"), "sqnr_vs_bits.gp lacks a terminal");
        CHECK(strstr(gp, "'sqnr_vs_bits.svg'") && strstr(gp, "'sqnr_vs_bits.png'"), "sqnr_vs_bits.gp lacks an output");
        CHECK(strstr(gp, "'bits per weight'") && strstr(gp, "'SQNR (dB)'"), "sqnr_vs_bits.gp lacks the axis titles");
        CHECK(strstr(gp, "title 'gaussian'") && strstr(gp, "title 'laplace & co'"), "sqnr_vs_bits.gp lacks a series title");
        int blocks = 0;
        for (const char *q = dat; (q = strstr(q, "# source: ")) != NULL; q++) blocks++;
        CHECK(blocks == 2, "sqnr_vs_bits.dat has %d blocks, expected 2", blocks);
        CHECK(strstr(dat, "\n\n\n# source: laplace & co\n") != NULL, "sqnr_vs_bits.dat blocks are not separated by two blank lines");
        CHECK(strstr(dat, "inf") == NULL, "sqnr_vs_bits.dat holds a non-finite point");
        CHECK(strstr(dat, "8.125 46.9012345 \"int8_sym_row\"\n") != NULL, "sqnr_vs_bits.dat lacks the int8 point of gaussian");
    }
    free(md), free(html), free(csv), free(gp), free(dat), free(gp_path), free(dat_path);
    qb_report_out_free(&out);
}

/* PATH without gnuplot: QB_ERUNTIME with the install hint, tables still written, and the
 * images of the previous report in the same directory removed rather than shown as current. */
static void case_no_gnuplot(qb_db *db, const char *run, const char *dir, const char *empty_bin) {
    char *saved = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    setenv("PATH", empty_bin, 1);
    qb_report_out out;
    qb_status st = qb_report_write(db, &run, 1, dir, &out);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", qb_errmsg());
    if (saved) setenv("PATH", saved, 1);
    else unsetenv("PATH");
    free(saved);

    CHECK(st == QB_ERUNTIME, "no gnuplot: status %d, expected QB_ERUNTIME (%d): %s", st, QB_ERUNTIME, msg);
    const char *hint = "gnuplot not found on PATH: install it with 'apt-get install gnuplot-nox'";
    CHECK(out.plot_error && strncmp(out.plot_error, hint, strlen(hint)) == 0, "plot_error '%s'", out.plot_error);
    CHECK(strncmp(msg, hint, strlen(hint)) == 0, "qb_errmsg '%s'", msg);
    CHECK(strchr(msg, '\n') == NULL, "the message is not one line: %s", msg);
    CHECK(out.plot_svg == NULL && out.plot_png == NULL, "plot paths set although nothing was drawn");
    CHECK(out.n_rows == NROWS && out.index_md && out.index_html && out.csv, "tables not reported (n_rows %d)", out.n_rows);
    const char *files[] = {"index.md", "index.html", "errors.csv", "sqnr_vs_bits.dat", "sqnr_vs_bits.gp"};
    for (int i = 0; i < 5; i++) check_nonempty(dir, files[i]);
    check_absent(dir, "sqnr_vs_bits.svg");
    check_absent(dir, "sqnr_vs_bits.png");
    char *html = out.index_html ? slurp(out.index_html) : NULL, *md = out.index_md ? slurp(out.index_md) : NULL;
    CHECK(html && strstr(html, "<table") && !strstr(html, "<svg") && strstr(html, "Plot not drawn"), "index.html without gnuplot");
    CHECK(md && strstr(md, "**Plot not drawn:**") && strstr(md, "gnuplot-nox"), "index.md does not explain the missing plot");
    if (md) check_md_source(md, SRC_A, 0, 3);
    free(html), free(md);
    qb_report_out_free(&out);
}

/* A run finished as "incomplete" is flagged in both pages; named by an id prefix. */
static void case_incomplete(qb_db *db, const qb_machine *m, const char *dir, int have_gnuplot) {
    qb_run_info ri = {"errors", "default", "{\"case\":\"incomplete\"}", "quantbench errors", 0};
    char run[37];
    qb_status st = qb_db_begin_run(db, m, &ri, run);
    CHECK(st == QB_OK, "qb_db_begin_run: %s", qb_errmsg());
    if (st) return;
    put_row(db, run, &rows[1]);
    st = qb_db_finish_run(db, run, "incomplete", NULL);
    CHECK(st == QB_OK, "qb_db_finish_run: %s", qb_errmsg());
    char prefix[9];
    snprintf(prefix, sizeof prefix, "%.8s", run);
    qb_report_out out;
    st = qb_report_write(db, (const char *const[]){prefix}, 1, dir, &out);
    CHECK(st == (have_gnuplot ? QB_OK : QB_ERUNTIME), "report of the incomplete run: status %d: %s", st, qb_errmsg());
    CHECK(out.run_id && strcmp(out.run_id, run) == 0, "prefix %s resolved to '%s', expected %s", prefix, out.run_id, run);
    CHECK(out.n_rows == 1, "incomplete run: n_rows %d, expected 1", out.n_rows);
    char *md = out.index_md ? slurp(out.index_md) : NULL, *html = out.index_html ? slurp(out.index_html) : NULL;
    CHECK(md && strstr(md, "- **Status:** incomplete\n"), "index.md does not give the incomplete status");
    CHECK(md && strstr(md, "> **Warning:** This run is INCOMPLETE"), "index.md does not flag the incomplete run");
    CHECK(html && strstr(html, "<p class=\"warn\"><strong>Warning:</strong> This run is INCOMPLETE"),
          "index.html does not flag the incomplete run");
    free(md), free(html);
    qb_report_out_free(&out);

    st = qb_report_write(db, (const char *const[]){"zzzz"}, 1, dir, &out);
    CHECK(st == QB_EUSAGE && strstr(qb_errmsg(), "no run with id 'zzzz'"), "unknown run: status %d: %s", st, qb_errmsg());
    CHECK(out.index_md == NULL, "unknown run: output filled");
    qb_report_out_free(&out);
}

/* The trends' regression rule: worse by >= 5 % of the previous value and by more than the
 * absolute tolerance, in the direction that is bad; nothing against a missing point. */
static void case_regression_rule(void) {
    static const struct {
        double prev, cur;
        int lower, tol_case, want;
    } c[] = {
        {100, 105, 1, 0, 1},   {100, 104.9, 1, 0, 0}, {100, 95, 1, 0, 0},     {100, 95, 0, 0, 1}, {100, 96, 0, 0, 0},
        {0.2, 0.24, 1, 1, 0},  {0.2, 0.26, 1, 1, 1},  {NAN, 5, 1, 0, 0},      {5, NAN, 1, 0, 0},  {-2, -1.8, 1, 0, 1},
        {20, 21.2, 1, 1, 1},   {20, 20.9, 1, 1, 0},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        int got = qb_is_regression(c[i].prev, c[i].cur, c[i].lower, c[i].tol_case ? 0.05 : 0);
        CHECK(got == c[i].want, "qb_is_regression(%g -> %g, lower_is_better %d, tol %g) = %d, expected %d", c[i].prev, c[i].cur,
              c[i].lower, c[i].tol_case ? 0.05 : 0, got, c[i].want);
    }
}

/* The selection guide from a hand-made evaluation on a machine with AVX2 + F16C and an sm_90
 * GPU: each recommendation tier by its documented thresholds, the sizes, and the hardware
 * column read from the stored flags and compute capability (not from this machine). */
static void case_guide(const char *tmp) {
    char *db_path = path_in(tmp, "guide.db"), *dir = path_in(tmp, "guide");
    qb_db db;
    qb_status st = qb_db_open(&db, db_path);
    CHECK(st == QB_OK, "qb_db_open %s: %s", db_path, qb_errmsg());
    if (st) {
        free(db_path), free(dir);
        return;
    }
    qb_machine m;
    qb_machine_collect(&m);
    qb_run_info ri = {"eval", NULL, "{}", "quantbench eval", 0};
    char run[37];
    st = qb_db_begin_run(&db, &m, &ri, run);
    CHECK(st == QB_OK, "qb_db_begin_run: %s", qb_errmsg());
    const qb_input in[] = {{"gguf:tiny.gguf:x:cccc", "gguf", "tiny.gguf", "tiny.gguf", "cccc", 0, 0},
                           {"tokens:ids.txt:x:dddd", "tokens", "ids.txt", "ids.txt", "dddd", 0, 0}};
    for (int i = 0; i < 2 && !st; i++) st = qb_db_put_input(&db, &in[i]);
    static const struct {
        const char *format;
        double bpw, ratio, kld;
        const char *want_rec, *want_hw;
    } ev[] = {
        {"f32", 32, 1.0, 0, "reference", "every CPU and GPU"},
        {"bf16", 16, 1.0001, 1e-5, "near-lossless", "GPU BF16 tensor cores"},
        {"q8_0", 8.5, 1.002, 0.001, "near-lossless", "AVX2"},
        {"fp8_e4m3", 8, 1.004, 0.004, "near-lossless", "GPU FP8 tensor cores (sm_89+)"},
        {"q4_K", 4.5, 1.02, 0.03, "balanced", "AVX2"},
        {"nvfp4", 4.5, 1.12, 0.1, "not recommended", "no tensor cores for it on this GPU (dequantized)"},
        {"q3_K", 3.4375, 1.08, 0.1, "smallest usable", "AVX2"},
        {"q2_K", 2.625, 1.30, 0.4, "not recommended", "AVX2"},
    };
    enum { NEV = (int)(sizeof ev / sizeof ev[0]) };
    for (int i = 0; i < NEV && !st; i++) {
        char *sql = qb_asprintf("INSERT INTO evals(run_id, model_id, text_id, format, method, ctx, chunks, tokens, ppl, ppl_ratio,"
                                " ppl_ratio_err, kld_mean, bits_per_weight, ref_format, created_at) VALUES ('%s', '%s', '%s',"
                                " '%s', 'perplexity', 64, 2, 62, %.17g, %.17g, 0.001, %.17g, %.17g, 'f32', '2026-01-01T00:00:00Z')",
                                run, in[0].id, in[1].id, ev[i].format, 10 * ev[i].ratio, ev[i].ratio, ev[i].kld, ev[i].bpw);
        st = qb_db_exec(&db, sql);
        free(sql);
    }
    char *sql = qb_asprintf("UPDATE machines SET cpu_flags = 'sse4_2 avx f16c fma avx2', gpus = 'NVIDIA H200 (sm_90, 139.8 GiB)'"
                            " WHERE id = (SELECT machine_id FROM runs WHERE id = '%s')", run);
    if (!st) st = qb_db_exec(&db, sql);
    free(sql);
    if (!st) st = qb_db_finish_run(&db, run, "complete", NULL);
    CHECK(st == QB_OK, "building the guide database: %s", qb_errmsg());
    qb_report_out out;
    if (!st) {
        st = qb_report_write(&db, NULL, 0, dir, &out);
        CHECK(st == QB_OK || st == QB_ERUNTIME, "guide report: %s", qb_errmsg());
        char *csv_path = path_in(dir, "guide.csv");
        char *csv = slurp(csv_path);
        CHECK(csv != NULL, "%s not written", csv_path);
        int found = 0;
        for (const char *line = csv ? strchr(csv, '\n') : NULL; line && line[1]; line = strchr(line + 1, '\n')) {
            /* format,bits/weight,1B GB,7B GB,13B GB,70B GB,ΔPPL %,KLD,speed,hardware,recommendation */
            char cells[12][64];
            int n = csv_cells(line + 1, cells, 12);
            CHECK(n == 11, "guide.csv: %d columns in '%.60s', expected 11", n, line + 1);
            if (n != 11) break;
            for (int i = 0; i < NEV; i++) {
                if (strcmp(cells[0], ev[i].format) != 0) continue;
                found++;
                CHECK(strcmp(cells[10], ev[i].want_rec) == 0, "guide %s: recommendation '%s', expected '%s'", ev[i].format, cells[10],
                      ev[i].want_rec);
                CHECK(strstr(cells[9], ev[i].want_hw) != NULL, "guide %s: hardware '%s' lacks '%s'", ev[i].format, cells[9],
                      ev[i].want_hw);
                CHECK(fabs(strtod(cells[3], NULL) - 7 * ev[i].bpw / 8) < 1e-9, "guide %s: 7B size %s, expected %g", ev[i].format,
                      cells[3], 7 * ev[i].bpw / 8);
                CHECK(fabs(strtod(cells[6], NULL) - 100 * (ev[i].ratio - 1)) < 1e-9, "guide %s: ΔPPL %s, expected %g",
                      ev[i].format, cells[6], 100 * (ev[i].ratio - 1));
            }
        }
        CHECK(found == NEV, "guide.csv lists %d of the %d evaluated formats", found, NEV);
        free(csv);
        free(csv_path);
        qb_report_out_free(&out);
    }
    qb_machine_free(&m);
    qb_db_close(&db);
    free(db_path), free(dir);
}

int main(void) {
    char tmp[] = "/tmp/qb_test_report_XXXXXX";
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    int have_gnuplot = gnuplot_on_path();
    int no_gnuplot_ok = getenv("QB_TEST_NO_GNUPLOT") && strcmp(getenv("QB_TEST_NO_GNUPLOT"), "1") == 0;
    if (!have_gnuplot && !no_gnuplot_ok)
        CHECK(0, "gnuplot is not on PATH: install it ('apt-get install gnuplot-nox'), or set QB_TEST_NO_GNUPLOT=1 to test "
                 "only the report without it");
    if (!have_gnuplot) printf("gnuplot not on PATH: checking the report's friendly error instead of the plot\n");

    char *db_path = path_in(tmp, "results.db"), *dir = path_in(tmp, "out/report"), *dir2 = path_in(tmp, "incomplete");
    char *empty_bin = path_in(tmp, "emptybin");
    mkdir(empty_bin, 0755);
    qb_db db;
    qb_status st = qb_db_open(&db, db_path);
    CHECK(st == QB_OK, "qb_db_open %s: %s", db_path, qb_errmsg());
    if (st == QB_OK) {
        qb_machine m;
        qb_machine_collect(&m);
        qb_run_info ri = {"errors", "default", "{}", "quantbench errors", 0};
        char run[37];
        st = qb_db_begin_run(&db, &m, &ri, run);
        CHECK(st == QB_OK, "qb_db_begin_run: %s", qb_errmsg());
        if (st == QB_OK) {
            put_inputs(&db);
            for (int i = 0; i < NROWS; i++) put_row(&db, run, &rows[i]);
            st = qb_db_finish_run(&db, run, "complete", NULL);
            CHECK(st == QB_OK, "qb_db_finish_run: %s", qb_errmsg());
            case_full(&db, run, dir, have_gnuplot);
            case_no_gnuplot(&db, run, dir, empty_bin);
            case_incomplete(&db, &m, dir2, have_gnuplot);
        }
        qb_machine_free(&m);
        qb_db_close(&db);
    }
    case_regression_rule();
    case_guide(tmp);
    if (qbt_fail_ == 0 && !getenv("QB_TEST_KEEP")) nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    else printf("kept %s for inspection\n", tmp);
    free(db_path), free(dir), free(dir2), free(empty_bin);
    return qbt_finish();
}
