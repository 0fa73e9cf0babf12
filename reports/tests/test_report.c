/* test_report.c — builds a results database by hand (two weight sources × three formats, one
 * of them lossless with SQNR = +inf, one metric NULL), renders its report and checks the
 * files against the inserted values: the Markdown rows as formatted for humans, errors.csv
 * read back at full precision, index.html self-contained, and the gnuplot script and data.
 * Then the same report with PATH emptied must fail with the install hint yet still write
 * every table, and an incomplete run must be flagged as such. Then the selection guide's
 * verdicts at their thresholds, and a model run (`run --model`: three formats with accuracy,
 * speed and memory) whose one table, CSV and plot data are checked against figures worked
 * out by hand from the inserted rows.
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
#include "../verdict.h"

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

/* The trends mark exactly the points `compare` calls regressions (trends.c invariant 1).
 * Four bench runs, gemv median ns per run: q8_0 10000, 10000, 10000, 11500 (run 4 slower than
 * each run before: marked); q4_0 10000, 10000, 11500, 11500 (run 3 marked; run 4 is as slow as
 * run 3, so not); q4_K 10000, 11500, 10000, 11500 (run 2 marked; run 4 is no slower than run 2,
 * so not, where a "worse than the previous point" rule would mark it). */
static void case_trend_verdicts(const char *tmp, int have_gnuplot) {
    char *db_path = path_in(tmp, "trend.db"), *dir = path_in(tmp, "trend");
    qb_db db;
    qb_status st = qb_db_open(&db, db_path);
    CHECK(st == QB_OK, "qb_db_open %s: %s", db_path, qb_errmsg());
    if (st) goto out;
    qb_machine m;
    qb_machine_collect(&m);
    static const struct {
        const char *fmt;
        double ns[4];
        int marked; /* run number (1-based) marked, 0: none */
    } series[] = {{"q8_0", {10000, 10000, 10000, 11500}, 4}, {"q4_0", {10000, 10000, 11500, 11500}, 3},
                  {"q4_K", {10000, 11500, 10000, 11500}, 2}};
    char run[4][37];
    for (int r = 0; r < 4 && !st; r++) {
        qb_run_info ri = {"bench", NULL, "{}", "quantbench bench", 0};
        st = qb_db_begin_run(&db, &m, &ri, run[r]);
        for (size_t f = 0; f < sizeof series / sizeof series[0] && !st; f++) {
            char q[512], id[48];
            snprintf(id, sizeof id, "%.8s-%s", run[r], series[f].fmt);
            snprintf(q, sizeof q,
                     "INSERT INTO bench_cases(id, run_id, op, format, backend, device, shape, threads, config, created_at) VALUES"
                     " ('%s', '%s', 'gemv', '%s', 'vec_dot', 'cpu', '4096x4096', 2, '{\"median_ns\": %g, \"working_set_bytes\": 1e8}', 't')",
                     id, run[r], series[f].fmt, series[f].ns[r]);
            st = sqlite3_exec(db.h, q, NULL, NULL, NULL) == SQLITE_OK ? QB_OK : QB_EDB;
            for (int i = 0; i < 20 && !st; i++) { /* ±1 % around the median, 10 iterations a sample */
                snprintf(q, sizeof q, "INSERT INTO bench_samples(case_id, idx, ns, iters) VALUES ('%s', %d, %lld, 10)", id, i,
                         (long long)llround(10 * series[f].ns[r] * (1 + 0.002 * ((i * 7) % 11 - 5))));
                st = sqlite3_exec(db.h, q, NULL, NULL, NULL) == SQLITE_OK ? QB_OK : QB_EDB;
            }
        }
        if (!st) st = qb_db_finish_run(&db, run[r], "complete", NULL);
    }
    /* the last run also quantizes q4_K: the fast path at 2 threads, the reference on 1 */
    for (int k = 0; k < 2 && !st; k++) {
        char q[512];
        snprintf(q, sizeof q,
                 "INSERT INTO bench_cases(id, run_id, op, format, backend, device, shape, threads, config, created_at) VALUES"
                 " ('%.8s-q4_K-%d', '%s', 'quantize', 'q4_K', '%s', 'cpu', '64x2048', %d,"
                 " '{\"median_ns\": 1000, \"gbps\": %d, \"working_set_bytes\": 1e6}', 't')",
                 run[3], k, run[3], k ? "reference" : "registry", k ? 1 : 2, k ? 1 : 10);
        st = sqlite3_exec(db.h, q, NULL, NULL, NULL) == SQLITE_OK ? QB_OK : QB_EDB;
    }
    CHECK(st == QB_OK, "four bench runs: %s", sqlite3_errmsg(db.h));
    qb_machine_free(&m);
    if (!st && have_gnuplot) {
        qb_report_out out;
        st = qb_report_write(&db, (const char *const[]){run[3]}, 1, dir, &out);
        CHECK(st == QB_OK, "report of the fourth run: %s", qb_errmsg());
        qb_report_out_free(&out);
        char name[64];
        snprintf(name, sizeof name, "bench_quantize_%.8s.dat", run[3]);
        char *qpath = path_in(dir, name), *qdat = slurp(qpath);
        CHECK(qdat && strstr(qdat, "\n\"q4_K/registry\" 10 ") && !strstr(qdat, "reference"),
              "%s: a bar for q4_K's fast quantizer and none for the reference it is timed against", qpath);
        free(qdat);
        free(qpath);
        snprintf(name, sizeof name, "trend_gemv_%.8s.dat", run[3]);
        char *path = path_in(dir, name), *dat = slurp(path);
        CHECK(dat != NULL, "no %s", path);
        /* blocks "# format: F/vec_dot", then "RUNNO VALUE FLAG ..." lines */
        for (size_t f = 0; dat && f < sizeof series / sizeof series[0]; f++) {
            char head[64];
            snprintf(head, sizeof head, "# format: %s/vec_dot\n", series[f].fmt);
            const char *b = strstr(dat, head);
            CHECK(b != NULL, "%s: no block for %s", name, series[f].fmt);
            if (!b) continue;
            b += strlen(head);
            for (int r = 1; r <= 4; r++) {
                int no = 0, flag = -1;
                double v = 0;
                CHECK(sscanf(b, "%d %lf %d", &no, &v, &flag) == 3 && no == r && flag == (r == series[f].marked),
                      "%s run %d: point %d flagged %d, expected %d", series[f].fmt, r, no, flag, r == series[f].marked);
                b = strchr(b, '\n');
                if (!b) break;
                b++;
            }
        }
        free(dat);
        free(path);
    }
    qb_db_close(&db);
out:
    free(db_path), free(dir);
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

/* The verdict rule (verdict.h) at its thresholds, and the smallest usable pick. */
static void case_verdicts(void) {
    static const struct {
        int ref;
        double dppl, kld;
        const char *want;
    } c[] = {
        {1, NAN, NAN, "reference"},          {0, NAN, 0.001, NULL},           {0, 0.5, 0.005, "near-lossless"},
        {0, 0.5, NAN, "near-lossless"},      {0, 0.5001, 0, "balanced"},      {0, 0.1, 0.0051, "balanced"},
        {0, 3, 0.05, "balanced"},            {0, 3.01, 0.01, "usable"},       {0, 10, 0.15, "usable"},
        {0, 10.01, 0, "not recommended"},    {0, 0.1, 0.151, "not recommended"}, {0, -0.3, 0.001, "near-lossless"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        const char *got = qb_verdict_tier(c[i].ref, c[i].dppl, c[i].kld);
        CHECK(c[i].want ? got && strcmp(got, c[i].want) == 0 : got == NULL, "qb_verdict_tier(%d, %g, %g) = '%s', expected '%s'",
              c[i].ref, c[i].dppl, c[i].kld, got ? got : "(null)", c[i].want ? c[i].want : "(null)");
    }
    /* equal bits: the smaller KLD wins; without KLDs the earlier row; reference and beyond never */
    const double bpw[] = {16, 8.5, 4.5, 4.5, 2.6}, kld[] = {0, 0.001, 0.09, 0.03, 0.4};
    const char *tier[] = {"reference", "near-lossless", "usable", "balanced", "not recommended"};
    int got = qb_verdict_smallest_usable(bpw, kld, tier, 5);
    CHECK(got == 3, "smallest usable with KLDs: %d, expected 3 (4.5 bits, KLD 0.03)", got);
    got = qb_verdict_smallest_usable(bpw, NULL, tier, 5);
    CHECK(got == 2, "smallest usable without KLDs: %d, expected 2 (the first at 4.5 bits)", got);
    got = qb_verdict_smallest_usable(bpw, kld, tier, 2);
    CHECK(got == 1, "smallest usable of the first two: %d, expected 1", got);
    const char *none[] = {"reference", NULL, "not recommended"};
    CHECK(qb_verdict_smallest_usable(bpw, kld, none, 3) == -1, "no usable row: expected -1");
    CHECK(strcmp(qb_verdict_label("balanced", 1), "balanced; smallest usable") == 0 &&
              strcmp(qb_verdict_label("usable", 1), "smallest usable") == 0 && strcmp(qb_verdict_label("usable", 0), "usable") == 0 &&
              qb_verdict_label(NULL, 0) == NULL,
          "qb_verdict_label");
}

/* ---- the model run -------------------------------------------------------------------- */

/* Three formats of a user's model, as `run --model` stores them; f32 is the reference and
 * there is no f16, so speed is compared with f32. Expected cells worked out by hand. */
static const struct mfix {
    const char *format;
    double bpw, model_mib, file_mib, ppl, ppl_err, ratio, ratio_err, kld, top1, rss_eval_mib;
    double pp, pp_sd, ttft_s, tg, tg_sd, bytes_per_token, rss_pp_mib, rss_tg_mib;
    /* the Markdown cells: size MiB, PPL, ΔPPL %, top-1 %, pp512, tg128, tg / bound, tg vs f32, TTFT ms, peak MiB, verdict */
    const char *md[11];
    double frac; /* tg / (read_bw / bytes_per_token) */
} mfix[] = {
    {"f32", 32, 40, NAN, 10.0, 0.2, 1.0, 0, 0, 1.0, 50, 400, 5, 1.3, 20, 0.5, 1.6e9, 55, 60,
     {"40.00", "10.0000 ± 0.2000", "+0.00 ± 0.00", "100.00", "400.0 ± 5.0", "20.0 ± 0.5", "0.80", "1.00x", "1300.0", "60.0", "reference"},
     20 / 25.0},
    {"q8_0", 8.5, 10.625, 11, 10.02, 0.2, 1.002, 0.001, 0.001, 0.98, 20, 600, 6, 0.9, 60, 1, 4.25e8, 18, 17,
     {"11.00", "10.0200 ± 0.2000", "+0.20 ± 0.10", "98.00", "600.0 ± 6.0", "60.0 ± 1.0", "0.64", "3.00x", "900.0", "20.0", "near-lossless"},
     60 / (40e9 / 4.25e8)},
    {"q4_0", 4.5, 5.5, NAN, 10.45, 0.21, 1.045, 0.004, 0.06, 0.9, 15, 500, 10, 1.05, 50, 2, 2.25e8, 16.5, 16,
     {"5.50", "10.4500 ± 0.2100", "+4.50 ± 0.40", "90.00", "500.0 ± 10.0", "50.0 ± 2.0", "0.28*", "2.50x", "1050.0", "16.5",
      "smallest usable"},
     50 / (40e9 / 2.25e8)},
};
enum { NMFIX = 3 };
#define READ_BW 40e9
#define LLC_MIB 256 /* the machine's L3: q4_0's 225 MB per token fit (starred), q8_0's 425 MB do not */
#define MIB 1048576.0

/* A number as SQL (NULL for NaN) in one of the caller's buffers. */
static const char *sql_num(char buf[40], double v) {
    if (isfinite(v)) snprintf(buf, 40, "%.17g", v);
    else snprintf(buf, 40, "NULL");
    return buf;
}

static qb_status put_model_run(qb_db *db, const char *run, const char *model_id, const char *text_id, int with_speed) {
    qb_status st = QB_OK;
    for (int i = 0; i < NMFIX && !st; i++) {
        const struct mfix *f = &mfix[i];
        char b[6][40];
        char *sql = qb_asprintf(
            "INSERT INTO evals(run_id, model_id, text_id, format, method, ctx, chunks, tokens, ppl, ppl_err, ppl_ratio, ppl_ratio_err,"
            " kld_mean, top1, bits_per_weight, model_bytes, file_bytes, rss_peak_bytes, ref_format, created_at) VALUES ('%s', '%s',"
            " '%s', '%s', 'perplexity', 128, 4, 508, %.17g, %.17g, %.17g, %.17g, %.17g, %.17g, %.17g, %.0f, %s, %.0f, 'f32',"
            " '2026-01-01T00:00:00Z')",
            run, model_id, text_id, f->format, f->ppl, f->ppl_err, f->ratio, f->ratio_err, f->kld, f->top1, f->bpw, f->model_mib * MIB,
            sql_num(b[0], f->file_mib * MIB), f->rss_eval_mib * MIB);
        st = qb_db_exec(db, sql);
        free(sql);
        for (int tg = 0; tg < 2 && with_speed && !st; tg++) {
            double tps = tg ? f->tg : f->pp;
            sql = qb_asprintf(
                "INSERT INTO model_speed(run_id, model_id, format, method, device, threads, test, n_tokens, reps, tps_mean, tps_sd,"
                " tps_min, tps_max, samples, ttft_s, bytes_per_token, read_bw, bound_tps, rss_peak_bytes, created_at) VALUES ('%s',"
                " '%s', '%s', 'perplexity', 'cpu', 4, '%s', %d, 3, %.17g, %.17g, %.17g, %.17g, '[0.5,0.5,0.5]', %s, %s, %s, %s, %.0f,"
                " '2026-01-01T00:00:00Z')",
                run, model_id, f->format, tg ? "tg128" : "pp512", tg ? 128 : 512, tps, tg ? f->tg_sd : f->pp_sd, tps - 1, tps + 1,
                sql_num(b[1], tg ? NAN : f->ttft_s), sql_num(b[2], tg ? f->bytes_per_token : NAN), sql_num(b[3], tg ? READ_BW : NAN),
                sql_num(b[4], tg ? READ_BW / f->bytes_per_token : NAN), (tg ? f->rss_tg_mib : f->rss_pp_mib) * MIB);
            st = qb_db_exec(db, sql);
            free(sql);
        }
    }
    return st;
}

/* The Markdown table under `heading`: its header cells into head, returns a pointer to the
 * first row line (or NULL). */
static const char *md_table_under(const char *md, const char *heading, char head[][64], int *nhead) {
    const char *p = strstr(md, heading);
    if (!p) return NULL;
    p = strstr(p, "\n| ");
    if (!p) return NULL;
    *nhead = md_cells(p + 1, head, 24);
    p = strchr(p + 1, '\n'); /* the rule */
    return p ? strchr(p + 1, '\n') : NULL;
}

static int col_of(char head[][64], int n, const char *name) {
    for (int c = 0; c < n; c++)
        if (strcmp(head[c], name) == 0) return c;
    return -1;
}

static void check_model_md(const char *md, const char *run) {
    char heading[64], head[24][64], cells[24][64];
    snprintf(heading, sizeof heading, "\n## Model run (run %.8s)\n", run);
    int nh = 0;
    const char *p = md_table_under(md, heading, head, &nh);
    CHECK(p != NULL, "index.md has no table under '%s'", heading + 1);
    if (!p) return;
    static const char *const want_cols[] = {"size MiB", "PPL", "ΔPPL %", "top-1 %", "pp512 t/s", "tg128 t/s", "tg / bound",
                                            "tg vs f32 (reference; no f16)", "TTFT ms", "peak memory MiB", "verdict"};
    int col[11];
    for (int k = 0; k < 11; k++) {
        col[k] = col_of(head, nh, want_cols[k]);
        CHECK(col[k] >= 0, "model table: no column '%s'", want_cols[k]);
        if (col[k] < 0) return;
    }
    CHECK(strcmp(head[0], "format") == 0 && col_of(head, nh, "bits/weight") == 1 && col_of(head, nh, "KLD") >= 0,
          "model table: header starts '%s', '%s'", head[0], head[1]);
    CHECK(col_of(head, nh, "GPU memory MiB") < 0 && col_of(head, nh, "device") < 0,
          "model table: a GPU memory or device column without GPU rows or a second device");
    for (int i = 0; i < NMFIX; i++) { /* rows by bits/weight descending: f32, q8_0, q4_0 */
        if (!p || p[1] != '|') {
            CHECK(0, "model table: only %d of %d rows", i, NMFIX);
            return;
        }
        p++;
        int n = md_cells(p, cells, 24);
        CHECK(n == nh && strcmp(cells[0], mfix[i].format) == 0, "model table row %d: %d cells, format '%s', expected %s", i, n, cells[0],
              mfix[i].format);
        for (int k = 0; k < 11 && n == nh; k++)
            CHECK(strcmp(cells[col[k]], mfix[i].md[k]) == 0, "model table %s '%s': got '%s', expected '%s'", mfix[i].format,
                  want_cols[k], cells[col[k]], mfix[i].md[k]);
        p = strchr(p, '\n');
    }
    CHECK(p && p[1] != '|', "model table: more rows than the %d stored", NMFIX);
    CHECK(strstr(md, "read bandwidth 40.0 GB/s") && strstr(md, "q8\\_0 94.1 t/s (425.0 MB/token)"),
          "index.md does not state the read bandwidth and the bound of q8_0 under the table");
    CHECK(strstr(md, "\\* The bytes a token reads fit in the machine's last-level cache (256 MiB)"),
          "index.md does not explain the star on q4_0's tg / bound");
    CHECK(strstr(md, "the run has no f16, so tg t/s is compared with its reference format f32"),
          "index.md does not say that speed is compared with the reference f32");
}

/* The verdicts by verdict.h's thresholds, written out here: f32 is the reference, q4_0 has
 * the fewest bits among the usable. */
static const char *expect_verdict(const char *format, double dppl, double kld) {
    if (strcmp(format, "f32") == 0) return "reference";
    const char *tier = dppl <= 0.5 && kld <= 0.005 ? "near-lossless" : dppl <= 3 && kld <= 0.05 ? "balanced"
                       : dppl <= 10 && kld <= 0.15                   ? "usable"
                                                                     : "not recommended";
    if (strcmp(format, "q4_0") == 0) return strcmp(tier, "usable") == 0 ? "smallest usable" : "(q4_0 should be usable)";
    return tier;
}

static void check_model_csv(const char *dir, const char *run) {
    char name[64];
    snprintf(name, sizeof name, "model_%.8s.csv", run);
    char *path = path_in(dir, name), *csv = slurp(path);
    CHECK(csv != NULL, "%s not written", path);
    if (!csv) {
        free(path);
        return;
    }
    char head[32][64], cells[32][64];
    int nh = csv_cells(csv, head, 32), lines = 0;
    int c_fmt = col_of(head, nh, "format"), c_dppl = col_of(head, nh, "dppl_pct"), c_frac = col_of(head, nh, "tg_fraction_of_bound");
    int c_vs = col_of(head, nh, "tg_vs_base"), c_base = col_of(head, nh, "base_format"), c_size = col_of(head, nh, "size_bytes");
    int c_peak = col_of(head, nh, "rss_peak_bytes"), c_ver = col_of(head, nh, "verdict"), c_bound = col_of(head, nh, "bound_tps");
    int c_llc = col_of(head, nh, "fits_llc");
    CHECK(c_fmt == 0 && c_dppl > 0 && c_frac > 0 && c_vs > 0 && c_base > 0 && c_size > 0 && c_peak > 0 && c_ver > 0 && c_bound > 0 &&
              c_llc > 0,
          "%s: header lacks a column (%d columns)", name, nh);
    for (const char *line = strchr(csv, '\n'); line && line[1] && c_fmt == 0 && c_ver > 0; line = strchr(line + 1, '\n')) {
        int n = csv_cells(line + 1, cells, 32);
        CHECK(n == nh, "%s line %d: %d cells, header %d", name, lines + 2, n, nh);
        if (n != nh || lines >= NMFIX) {
            lines++;
            continue;
        }
        const struct mfix *f = &mfix[lines++];
        CHECK(strcmp(cells[c_fmt], f->format) == 0, "%s: row %d is %s, expected %s", name, lines, cells[c_fmt], f->format);
        double dppl = strtod(cells[c_dppl], NULL), frac = strtod(cells[c_frac], NULL), vs = strtod(cells[c_vs], NULL);
        CHECK(fabs(dppl - 100 * (f->ratio - 1)) < 1e-7, "%s %s dppl_pct %s, expected %.9g", name, f->format, cells[c_dppl],
              100 * (f->ratio - 1));
        CHECK(strcmp(cells[c_llc], f->bytes_per_token < LLC_MIB * MIB ? "1" : "0") == 0, "%s %s fits_llc %s", name, f->format,
              cells[c_llc]);
        CHECK(fabs(frac - f->frac) < 1e-8, "%s %s tg_fraction_of_bound %s, expected %.9g", name, f->format, cells[c_frac], f->frac);
        CHECK(fabs(strtod(cells[c_bound], NULL) - READ_BW / f->bytes_per_token) < 1e-6, "%s %s bound_tps %s", name, f->format,
              cells[c_bound]);
        CHECK(fabs(vs - f->tg / mfix[0].tg) < 1e-9 && strcmp(cells[c_base], "f32") == 0, "%s %s tg_vs_base %s vs %s, expected %g vs f32",
              name, f->format, cells[c_vs], cells[c_base], f->tg / mfix[0].tg);
        double size = isfinite(f->file_mib) ? f->file_mib * MIB : f->model_mib * MIB;
        CHECK(strtod(cells[c_size], NULL) == size, "%s %s size_bytes %s, expected %.0f (the file when there is one)", name, f->format,
              cells[c_size], size);
        double peak = fmax(f->rss_eval_mib, fmax(f->rss_pp_mib, f->rss_tg_mib)) * MIB;
        CHECK(strtod(cells[c_peak], NULL) == peak, "%s %s rss_peak_bytes %s, expected %.0f", name, f->format, cells[c_peak], peak);
        /* the verdict by the thresholds, recomputed here: reference / near-lossless (<= 0.5 %, <= 0.005) / usable (<= 10 %, <= 0.15) */
        const char *want = expect_verdict(f->format, 100 * (f->ratio - 1), f->kld);
        CHECK(strcmp(cells[c_ver], want) == 0, "%s %s verdict '%s', expected '%s'", name, f->format, cells[c_ver], want);
    }
    CHECK(lines == NMFIX, "%s: %d rows, expected %d", name, lines, NMFIX);
    free(csv);
    free(path);
}

static void check_model_plots(const char *dir, const char *run, int have_gnuplot) {
    char name[64];
    static const char *const kinds[] = {"tradeoff", "pp", "tg"};
    for (int k = 0; k < 3; k++) {
        const char *ext[] = {"dat", "gp", "svg", "png"};
        for (int e = 0; e < (have_gnuplot ? 4 : 2); e++) {
            snprintf(name, sizeof name, "model_%.8s_%s.%s", run, kinds[k], ext[e]);
            check_nonempty(dir, name);
        }
    }
    /* the trade-off: KLD against tg; q4_0 (KLD 0.06, 50 t/s) is beaten by q8_0 (0.001, 60 t/s) */
    snprintf(name, sizeof name, "model_%.8s_tradeoff.dat", run);
    char *path = path_in(dir, name), *dat = slurp(path);
    CHECK(dat && strstr(dat, "\n0.001 60 1 \"q8_0\"\n") && strstr(dat, "\n0.06 50 2 \"q4_0\"\n"), "%s lacks the q8_0 or q4_0 point", name);
    const char *front = dat ? strstr(dat, "\n\n\n") : NULL;
    CHECK(front && strcmp(front, "\n\n\n0 20\n0.001 60\n") == 0, "%s: Pareto front '%s', expected f32 (0, 20) and q8_0 (0.001, 60)",
          name, front ? front + 3 : "(none)");
    free(dat);
    free(path);
    snprintf(name, sizeof name, "model_%.8s_tg.dat", run);
    path = path_in(dir, name);
    dat = slurp(path);
    CHECK(dat && strstr(dat, "\n\"q8_0\" 60 1 94.1176471\n") && strstr(dat, "\n\"f32\" 20 0.5 25\n"),
          "%s lacks tg with its bound (q8_0: 40 GB/s / 425 MB = 94.1176471 t/s)", name);
    free(dat);
    free(path);
    snprintf(name, sizeof name, "model_%.8s_tg.gp", run);
    path = path_in(dir, name);
    dat = slurp(path);
    CHECK(dat && strstr(dat, "with yerrorbars") && strstr(dat, "title 'bandwidth bound'"), "%s lacks the error bars or the bound", name);
    free(dat);
    free(path);
}

/* The same run with q4_0 also timed on a GPU: device and threads columns, the GPU memory
 * column, the verdict on both q4_0 rows, and the plots kept to the CPU rows (the most). */
static void case_model_gpu(qb_db *db, const char *run, const char *dir) {
    qb_status st = QB_OK;
    for (int tg = 0; tg < 2 && !st; tg++) {
        char *sql = qb_asprintf("INSERT INTO model_speed(run_id, model_id, format, method, device, threads, test, n_tokens, reps, tps_mean,"
                                " tps_sd, samples, gpu_mem_bytes, created_at) SELECT run_id, model_id, format, method, 'cuda:0', 1, test,"
                                " n_tokens, reps, 10 * tps_mean, tps_sd, samples, %lld, created_at FROM model_speed WHERE run_id = '%s'"
                                " AND format = 'q4_0' AND test = '%s'",
                                tg ? 2048LL * 1048576 : 1024LL * 1048576, run, tg ? "tg128" : "pp512");
        st = qb_db_exec(db, sql);
        free(sql);
    }
    CHECK(st == QB_OK, "adding the GPU rows: %s", qb_errmsg());
    qb_report_out out;
    st = qb_report_write(db, (const char *const[]){run}, 1, dir, &out);
    CHECK(st == QB_OK || st == QB_ERUNTIME, "model report with GPU rows: %s", qb_errmsg());
    char *md = out.index_md ? slurp(out.index_md) : NULL;
    char heading[64], head[24][64], cells[24][64];
    snprintf(heading, sizeof heading, "\n## Model run (run %.8s)\n", run);
    int nh = 0, rows = 0, q4 = 0;
    const char *p = md ? md_table_under(md, heading, head, &nh) : NULL;
    int c_dev = col_of(head, nh, "device"), c_gpu = col_of(head, nh, "GPU memory MiB"), c_ver = col_of(head, nh, "verdict");
    int c_tg = col_of(head, nh, "tg128 t/s");
    CHECK(p && c_dev == 1 && col_of(head, nh, "threads") == 2 && c_gpu > 0 && c_ver > 0 && c_tg > 0,
          "GPU rows: the table lacks device, threads or GPU memory columns");
    for (; p && p[1] == '|' && c_dev == 1 && c_gpu > 0 && c_ver > 0 && c_tg > 0; p = strchr(p + 1, '\n')) {
        int n = md_cells(p + 1, cells, 24);
        rows++;
        if (n != nh || strcmp(cells[0], "q4_0") != 0) continue;
        q4++;
        int gpu = strcmp(cells[c_dev], "cuda:0") == 0;
        CHECK(strcmp(cells[c_gpu], gpu ? "2048.0" : "") == 0 && strcmp(cells[c_tg], gpu ? "500.0 ± 2.0" : "50.0 ± 2.0") == 0,
              "q4_0 on %s: GPU memory '%s', tg '%s'", cells[c_dev], cells[c_gpu], cells[c_tg]);
        CHECK(strcmp(cells[c_ver], "smallest usable") == 0, "q4_0 on %s: verdict '%s'", cells[c_dev], cells[c_ver]);
    }
    CHECK(rows == NMFIX + 1 && q4 == 2, "GPU rows: %d rows (%d of q4_0), expected %d (2)", rows, q4, NMFIX + 1);
    char name[64];
    snprintf(name, sizeof name, "model_%.8s_tg.dat", run);
    char *path = path_in(dir, name), *dat = slurp(path);
    CHECK(dat && strstr(dat, "(cpu, 4 threads)") && strstr(dat, "\n\"q4_0\" 50 2 ") && !strstr(dat, "\"q4_0\" 500"),
          "%s: the plots do not keep to the CPU rows", name);
    free(dat), free(path), free(md);
    qb_report_out_free(&out);
}

/* A model run (three formats with speed rows), then a newer plain evaluation: the default
 * report shows both, the model run as its one table with the evaluation folded inside. */
static void case_model(const char *tmp, int have_gnuplot) {
    char *db_path = path_in(tmp, "model.db"), *dir = path_in(tmp, "model");
    qb_db db;
    qb_status st = qb_db_open(&db, db_path);
    CHECK(st == QB_OK, "qb_db_open %s: %s", db_path, qb_errmsg());
    if (st) {
        free(db_path), free(dir);
        return;
    }
    qb_machine m;
    qb_machine_collect(&m);
    const qb_input in[] = {{"gguf:user.gguf:x:eeee", "gguf", "user.gguf", "user.gguf", "eeee", 0, 0},
                           {"text:wiki.txt:x:ffff", "text", "wiki.txt", "wiki.txt", "ffff", 0, 0}};
    for (int i = 0; i < 2 && !st; i++) st = qb_db_put_input(&db, &in[i]);
    char run[37], evrun[37];
    qb_run_info ri = {"run", NULL, "{\"model\":\"user.gguf\"}", "quantbench run --model user.gguf", 0};
    if (!st) st = qb_db_begin_run(&db, &m, &ri, run);
    if (!st) st = put_model_run(&db, run, in[0].id, in[1].id, 1);
    char *sql = qb_asprintf("UPDATE machines SET l3_bytes = %d WHERE id = (SELECT machine_id FROM runs WHERE id = '%s')",
                            LLC_MIB * 1048576, run);
    if (!st) st = qb_db_exec(&db, sql);
    free(sql);
    if (!st) st = qb_db_finish_run(&db, run, "complete", NULL);
    qb_run_info ri2 = {"eval", NULL, "{}", "quantbench eval", 0};
    if (!st) st = qb_db_begin_run(&db, &m, &ri2, evrun);
    if (!st) st = put_model_run(&db, evrun, in[0].id, in[1].id, 0);
    if (!st) st = qb_db_finish_run(&db, evrun, "complete", NULL);
    CHECK(st == QB_OK, "building the model-run database: %s", qb_errmsg());
    qb_report_out out;
    memset(&out, 0, sizeof out);
    if (!st) {
        st = qb_report_write(&db, NULL, 0, dir, &out);
        CHECK(st == (have_gnuplot ? QB_OK : QB_ERUNTIME), "model report: status %d: %s", st, qb_errmsg());
        CHECK(out.nruns == 2 && strcmp(out.run_ids[0], evrun) == 0 && strcmp(out.run_ids[1], run) == 0,
              "default runs: %d (%s, %s), expected the newest eval run %s and the model run %s", out.nruns,
              out.nruns > 0 ? out.run_ids[0] : "", out.nruns > 1 ? out.run_ids[1] : "", evrun, run);
    }
    char *md = out.index_md ? slurp(out.index_md) : NULL, *html = out.index_html ? slurp(out.index_html) : NULL;
    CHECK(md && html, "model report: index files not written");
    if (md && html) {
        check_model_md(md, run);
        char want[128];
        snprintf(want, sizeof want, "## Model evaluation (run %.8s)", run);
        CHECK(strstr(md, want) == NULL, "the model run also has its own '%s' section", want);
        snprintf(want, sizeof want, "## Model evaluation (run %.8s)", evrun);
        CHECK(strstr(md, want) != NULL, "the plain evaluation run lacks its '%s' section", want);
        snprintf(want, sizeof want, "[evals_%.8s.csv]", run);
        const char *first = strstr(md, want);
        CHECK(first && !strstr(first + 1, want), "the model run's evaluation rows (%s) are not linked exactly once", want);
        snprintf(want, sizeof want, "<a href=\"#model-%.8s\">Model run</a>", run);
        CHECK(strstr(html, want) != NULL, "index.html's contents lack '%s'", want);
        snprintf(want, sizeof want, "href=\"#evals-%.8s\"", run);
        CHECK(strstr(html, want) == NULL, "index.html's contents link a separate evaluation of the model run");
        CHECK(strstr(html, "<td class=\"num\">0.64</td>") && strstr(html, "<td>smallest usable</td>"),
              "index.html lacks q8_0's tg / bound or q4_0's verdict");
        snprintf(want, sizeof want, "[model_speed_%.8s.csv]", run);
        CHECK(strstr(md, want) != NULL, "index.md does not link every speed row (%s)", want);
        check_self_contained(html);
        check_model_csv(dir, run);
        check_model_plots(dir, run, have_gnuplot);
    }
    free(md), free(html);
    qb_report_out_free(&out);
    if (!st || st == QB_ERUNTIME) case_model_gpu(&db, run, dir);
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
    case_trend_verdicts(tmp, have_gnuplot);
    case_verdicts();
    case_guide(tmp);
    case_model(tmp, have_gnuplot);
    if (qbt_fail_ == 0 && !getenv("QB_TEST_KEEP")) nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    else printf("kept %s for inspection\n", tmp);
    free(db_path), free(dir), free(dir2), free(empty_bin);
    return qbt_finish();
}
