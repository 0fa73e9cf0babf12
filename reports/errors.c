/* errors.c — the quantization error part of the report: one table per weight source, every
 * row in a CSV, SQNR against bits per weight, and a heat map of a model's per-tensor SQNR by
 * layer and tensor role.
 *
 * The run's rows are loaded once and every table, file and plot is rendered from that one
 * snapshot, so they agree even while another process still adds rows.
 *
 * Invariants:
 *  1. A model with a '(total)' row is one point per file type in tables and the SQNR plot;
 *     its per-tensor rows appear only in the CSV and the heat map.
 *  2. Non-finite SQNR (lossless) is never plotted; the page lists what was left out.
 *  3. Tensor names are split into layer and role the way GGUF names them
 *     ("blk.N.ROLE.weight"); tensors outside a block (token_embd, output) are layer "-". */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* open_memstream */
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sections.h"

typedef struct err_row {
    char *input_id, *input_name, *spec, *tensor, *format, *tensor_format;
    const char *source; /* points at input_name, or at input_id when two inputs share a name */
    int64_t rows, cols;
    double bpw, mse, rmse, max_abs, sqnr_db, cosine; /* NaN where the database holds NULL */
    double p50, p95, p99, p999;
    int detail; /* a tensor of a model whose '(total)' row stands for it in tables and plot */
} err_row;

typedef struct report {
    const qb_run_meta *run;
    err_row *rows; /* [nrows], grouped by input (name, id), then bits/weight descending, format */
    int nrows;
} report;

static void report_free(report *r) {
    for (int i = 0; i < r->nrows; i++) {
        err_row *e = &r->rows[i];
        free(e->input_id);
        free(e->input_name);
        free(e->spec);
        free(e->tensor);
        free(e->format);
        free(e->tensor_format);
    }
    free(r->rows);
}

typedef struct plot_info {
    int npoints;   /* finite (bits, SQNR) points written to the data */
    char *skipped; /* "f32 on gaussian, …" for points left out, or NULL */
} plot_info;

static qb_status dberr(qb_db *db, const char *what) {
    return qb_fail(QB_EDB, "database %s: %s failed: %s", db->path, what, sqlite3_errmsg(db->h));
}

#define col_str qb_col_str
#define col_real qb_db_col_real

static qb_status load_rows(qb_db *db, report *r) {
    const char *sql =
        "SELECT i.id, i.name, i.spec, e.tensor, e.format, e.rows, e.cols, e.bits_per_weight,"
        " e.mse, e.rmse, e.max_abs, e.sqnr_db, e.cosine, e.tensor_format, e.p50_abs, e.p95_abs, e.p99_abs, e.p999_abs,"
        " e.tensor <> '" QB_TOTAL_TENSOR "' AND EXISTS (SELECT 1 FROM tensor_errors t WHERE t.run_id = e.run_id"
        "   AND t.input_id = e.input_id AND t.tensor = '" QB_TOTAL_TENSOR "')"
        " FROM tensor_errors e JOIN inputs i ON i.id = e.input_id WHERE e.run_id = ?1"
        " ORDER BY i.name, i.id, e.bits_per_weight DESC, e.format, e.tensor";
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db->h, sql, -1, &s, NULL) != SQLITE_OK) return dberr(db, "reading the error rows");
    if (sqlite3_bind_text(s, 1, r->run->id, -1, SQLITE_STATIC) != SQLITE_OK) {
        qb_status st = dberr(db, "reading the error rows");
        sqlite3_finalize(s);
        return st;
    }
    int cap = 0, rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (r->nrows == cap) {
            cap = cap ? 2 * cap : 64;
            r->rows = qb_realloc(r->rows, sizeof *r->rows * (size_t)cap);
        }
        err_row *e = &r->rows[r->nrows++];
        int k = 0;
        e->input_id = col_str(s, k++);
        e->input_name = col_str(s, k++);
        e->spec = col_str(s, k++);
        e->tensor = col_str(s, k++);
        e->format = col_str(s, k++);
        e->rows = sqlite3_column_int64(s, k++);
        e->cols = sqlite3_column_int64(s, k++);
        e->bpw = col_real(s, k++);
        e->mse = col_real(s, k++);
        e->rmse = col_real(s, k++);
        e->max_abs = col_real(s, k++);
        e->sqnr_db = col_real(s, k++);
        e->cosine = col_real(s, k++);
        e->tensor_format = col_str(s, k++);
        e->p50 = col_real(s, k++);
        e->p95 = col_real(s, k++);
        e->p99 = col_real(s, k++);
        e->p999 = col_real(s, k++);
        e->detail = sqlite3_column_int(s, k++);
        /* NOT NULL columns; only a hand-edited file breaks these, and a NULL must not crash us */
        if (!e->input_id) e->input_id = qb_strdup("?");
        if (!e->input_name) e->input_name = qb_strdup("?");
        if (!e->spec) e->spec = qb_strdup("");
        if (!e->tensor) e->tensor = qb_strdup("");
        if (!e->format) e->format = qb_strdup("?");
    }
    qb_status st = rc == SQLITE_DONE ? QB_OK : dberr(db, "reading the error rows");
    sqlite3_finalize(s);
    if (st) return st;

    /* Inputs are named by their generator or file, so two of them (two shapes of "gaussian")
     * can share a name; their rows are adjacent (sorted by name), and only then the unique
     * input id tells the tables and plot series apart. */
    for (int a = 0, b; a < r->nrows; a = b) {
        int clash = 0;
        for (b = a + 1; b < r->nrows && strcmp(r->rows[b].input_name, r->rows[a].input_name) == 0; b++)
            if (strcmp(r->rows[b].input_id, r->rows[a].input_id) != 0) clash = 1;
        for (int i = a; i < b; i++) r->rows[i].source = clash ? r->rows[i].input_id : r->rows[i].input_name;
    }
    return QB_OK;
}

/* End of the group of rows from the same input that starts at row a. */
static int group_end(const report *r, int a) {
    int b = a + 1;
    while (b < r->nrows && strcmp(r->rows[b].input_id, r->rows[a].input_id) == 0) b++;
    return b;
}

/* Rows of [a, b) that only errors.csv lists (a model's tensors behind its '(total)' rows). */
static int group_details(const report *r, int a, int b) {
    int n = 0;
    for (int i = a; i < b; i++) n += r->rows[i].detail;
    return n;
}

static int group_has_tensors(const report *r, int a, int b) {
    for (int i = a; i < b; i++)
        if (r->rows[i].tensor[0]) return 1;
    return 0;
}

/* ---- number formatting ---------------------------------------------------------------- */

/* Human tables show 4 significant digits; NULL (NaN here) is an empty cell, not "nan", since
 * it means "not measured". */
static const char *fmt_metric(double v) { return isnan(v) ? NULL : qb_fmt_g(v, 4); }

static const char *fmt_sqnr(double v) {
    if (isnan(v)) return NULL;
    if (isinf(v) && v > 0) return "inf (lossless)"; /* zero error: f32 reproduces its input */
    return qb_fmt_g(v, 4);
}

/* CSV keeps full precision; %.9g prints "inf" for lossless SQNR, which strtod reads back. */
static const char *fmt_full(double v) { return isnan(v) ? NULL : qb_fmt_g(v, 9); }

/* ---- tables --------------------------------------------------------------------------- */

static const char *const error_cols[] = {"format", ">bits/weight", ">MSE", ">RMSE", ">max abs err", ">SQNR dB", ">cosine", NULL};
static const char *const error_cols_tensor[] = {"tensor", "format", ">bits/weight", ">MSE", ">RMSE", ">max abs err", ">SQNR dB",
                                                ">cosine", NULL};

/* The human table of one input's rows [a, b); a tensor column only when the input has named
 * tensors (a model file), since a lone matrix's tensor name is always "". */
static void source_table(const report *r, int a, int b, qb_table *t) {
    int tensors = group_has_tensors(r, a, b);
    qb_table_init(t, tensors ? error_cols_tensor : error_cols);
    for (int i = a; i < b; i++) {
        const err_row *e = &r->rows[i];
        if (e->detail) continue;
        const char *cells[8];
        int k = 0;
        if (tensors) cells[k++] = e->tensor;
        cells[k++] = e->format;
        cells[k++] = fmt_metric(e->bpw);
        cells[k++] = fmt_metric(e->mse);
        cells[k++] = fmt_metric(e->rmse);
        cells[k++] = fmt_metric(e->max_abs);
        cells[k++] = fmt_sqnr(e->sqnr_db);
        cells[k++] = (isnan(e->cosine) ? NULL : qb_fmt_cosine(e->cosine));
        qb_table_row(t, cells);
    }
}

static void csv_table(const report *r, qb_table *t) {
    static const char *const cols[] = {"source", "tensor", "format", "tensor_format", ">rows", ">cols", ">bits_per_weight", ">mse",
                                       ">rmse", ">max_abs", ">sqnr_db", ">cosine", ">p50_abs", ">p95_abs", ">p99_abs",
                                       ">p999_abs", NULL};
    qb_table_init(t, cols);
    for (int i = 0; i < r->nrows; i++) {
        const err_row *e = &r->rows[i];
        char nr[24], nc[24];
        snprintf(nr, sizeof nr, "%lld", (long long)e->rows);
        snprintf(nc, sizeof nc, "%lld", (long long)e->cols);
        const char *cells[] = {e->source, e->tensor, e->format, e->tensor_format ? e->tensor_format : e->format, nr, nc,
                               fmt_full(e->bpw), fmt_full(e->mse), fmt_full(e->rmse), fmt_full(e->max_abs),
                               fmt_full(e->sqnr_db), fmt_full(e->cosine), fmt_full(e->p50), fmt_full(e->p95),
                               fmt_full(e->p99), fmt_full(e->p999)};
        qb_table_row(t, cells);
    }
}

static void append_skipped(plot_info *p, int *nskipped, const err_row *e) {
    enum { LIST_MAX = 12 }; /* a model with hundreds of tensors must not make a page of names */
    (*nskipped)++;
    if (*nskipped > LIST_MAX) return;
    char *item = e->tensor[0] ? qb_asprintf("%s on %s/%s", e->format, e->source, e->tensor) : qb_asprintf("%s on %s", e->format, e->source);
    char *next = qb_asprintf("%s%s%s", p->skipped ? p->skipped : "", p->skipped ? ", " : "", item);
    free(item);
    free(p->skipped);
    p->skipped = next;
}

/* sqnr_vs_bits.dat: one block per source with a finite point, blocks separated by two blank
 * lines so gnuplot's `index N` selects source N; columns bits, SQNR, "label". */
static char *plot_data(const report *r, plot_info *p, char ***titles, int *nseries) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) qb_memstream_failed();
    fprintf(f, "# SQNR (dB) against bits per weight for quantbench run %s, one block per weight source.\n"
                 "# columns: bits_per_weight sqnr_db \"label\"; non-finite SQNR (lossless) is left out.\n", r->run->id);
    int nskipped = 0;
    *titles = qb_calloc((size_t)r->nrows + 1, sizeof **titles);
    *nseries = 0;
    for (int a = 0, b; a < r->nrows; a = b) {
        b = group_end(r, a);
        int started = 0;
        for (int i = a; i < b; i++) {
            const err_row *e = &r->rows[i];
            if (e->detail) continue; /* a model is one point per scheme: its total */
            if (!isfinite(e->sqnr_db) || !isfinite(e->bpw)) {
                append_skipped(p, &nskipped, e);
                continue;
            }
            if (!started) {
                fputs(*nseries ? "\n\n# source: " : "# source: ", f);
                for (const char *c = e->source; *c; c++) fputc((unsigned char)*c < 0x20 ? ' ' : *c, f);
                fputc('\n', f);
                (*titles)[(*nseries)++] = qb_strdup(e->source);
                started = 1;
            }
            fprintf(f, "%.9g %.9g ", e->bpw, e->sqnr_db);
            if (e->tensor[0]) {
                char *label = qb_asprintf("%s %s", e->format, e->tensor);
                qb_gp_put_dat_str(f, label);
                free(label);
            } else {
                qb_gp_put_dat_str(f, e->format);
            }
            fputc('\n', f);
            p->npoints++;
        }
    }
    if (nskipped > 12) {
        char *next = qb_asprintf("%s and %d more", p->skipped, nskipped - 12);
        free(p->skipped);
        p->skipped = next;
    }
    fclose(f);
    return buf;
}

static const char how_to_read[] =
    "Each row quantizes one weight source with one format, dequantizes it again and compares the "
    "result with the original weights. bits/weight is the storage cost per weight including the "
    "block scales and any per-row or per-tensor data, so formats compare at their true size. MSE, "
    "RMSE and max abs err are the mean squared, root mean squared and largest absolute error, in "
    "the units of the weights (lower is better). SQNR dB is 10*log10(signal power / error power): "
    "higher is better, and a uniform quantizer gains about 6.02 dB per extra bit; inf means every "
    "weight came back exactly (lossless). cosine is the cosine similarity between original and "
    "dequantized weights: closer to 1 is better, printed with enough digits to show its distance "
    "from 1. Tables round to 4 significant digits; the CSV keeps full precision.";

static void sqnr_plot(qb_page *pg, const report *r, const char *name) {
    plot_info p = {0};
    char **titles = NULL;
    int nseries = 0;
    char *data = plot_data(r, &p, &titles, &nseries);
    char *plot = NULL;
    size_t plot_len = 0;
    FILE *pf = open_memstream(&plot, &plot_len);
    if (!pf) qb_memstream_failed();
    if (nseries == 0) {
        fputs("# no finite SQNR in this run: empty axes with a note\n"
              "set xrange [0:33]\nset yrange [0:100]\nunset key\n"
              "set label 1 'no finite SQNR values to plot' at graph 0.5,0.5 center\nplot NaN notitle", pf);
    } else {
        fputs("plot \\\n", pf);
        for (int i = 0; i < nseries; i++) {
            char *title = qb_gp_quote(titles[i]);
            /* labels of alternate series sit above / below their points, so two sources with a
             * format at the same bits/weight do not print its name on top of each other */
            fprintf(pf,
                    "  '%s.dat' index %d using 1:2 with linespoints lt %d title %s, \\\n"
                    "  '' index %d using 1:2:3 with labels left offset char 0.8,%s tc lt %d notitle%s\n",
                    name, i, i + 1, title, i, i % 2 ? "-0.8" : "0.8", i + 1, i + 1 < nseries ? ", \\" : "");
            free(title);
        }
    }
    fclose(pf);
    char *title = qb_asprintf("SQNR vs bits per weight (run %.8s)", r->run->id);
    qb_plot pl = {.name = name,
                  .title = title,
                  .about = "one block per weight source (gnuplot `index N`); columns 1 bits per weight, 2 SQNR (dB), 3 "
                           "format. Non-finite SQNR (lossless) is left out: it cannot be drawn.",
                  .setup = "set xlabel 'bits per weight'\nset ylabel 'SQNR (dB)'\nset key top left reverse Left box opaque\n"
                           "# bits start at 0 so plots of different runs line up; room for the labels\n"
                           "set xrange [0:*]\nset offsets graph 0.03, graph 0.16, graph 0.08, graph 0.08",
                  .plot = plot,
                  .data = data,
                  .height = 560};
    qb_page_heading(pg, 3, "SQNR vs bits per weight", NULL);
    qb_page_plot(pg, &pl, "SQNR (dB) against bits per weight, one line per weight source.");
    if (p.skipped) {
        char *t = qb_asprintf("Not plotted (SQNR not finite, i.e. lossless): %s.", p.skipped);
        qb_page_note(pg, t);
        free(t);
    }
    if (p.npoints == 0) qb_page_note(pg, "No finite SQNR values to plot.");
    for (int i = 0; i < nseries; i++) free(titles[i]);
    free(titles);
    free(title);
    free(plot);
    free(data);
    free(p.skipped);
}

/* Invariant 3: "blk.12.attn_q.weight" is layer 12, role attn_q; "token_embd.weight" is
 * layer -1, role token_embd. The role is written into role[] (truncated to its size). */
static int split_tensor(const char *name, char *role, size_t cap) {
    int layer = -1, used = 0;
    if (sscanf(name, "blk.%d.%n", &layer, &used) == 1 && used > 0) name += used;
    else layer = -1;
    size_t n = strlen(name);
    if (n > 7 && strcmp(name + n - 7, ".weight") == 0) n -= 7;
    if (n >= cap) n = cap - 1;
    memcpy(role, name, n);
    role[n] = '\0';
    return layer;
}

/* Heat map of one model (rows [a, b)) under its lowest-bits file type: SQNR by layer (x) and
 * role (y). The lowest-bits type is the one where the differences between tensors matter. */
static void heatmap(qb_page *pg, const report *r, int a, int b, const char *plot_prefix) {
    const char *fmt = NULL;
    double best = INFINITY;
    for (int i = a; i < b; i++)
        if (r->rows[i].detail && r->rows[i].bpw < best) {
            best = r->rows[i].bpw;
            fmt = r->rows[i].format;
        }
    if (!fmt) return;
    enum { ROLE_MAX = 64 };
    char roles[ROLE_MAX][48];
    int nroles = 0, maxlayer = -1, other = 0;
    for (int i = a; i < b; i++) {
        const err_row *e = &r->rows[i];
        if (!e->detail || strcmp(e->format, fmt) != 0) continue;
        char role[48];
        int layer = split_tensor(e->tensor, role, sizeof role);
        if (layer > maxlayer) maxlayer = layer;
        if (layer < 0) other = 1;
        int k = 0;
        while (k < nroles && strcmp(roles[k], role) != 0) k++;
        if (k == nroles && nroles < ROLE_MAX) strcpy(roles[nroles++], role);
    }
    int ncols = maxlayer + 1 + other; /* column maxlayer+1 holds the tensors outside blocks */
    if (ncols > 4096) return;
    double *grid = qb_malloc(sizeof *grid * (size_t)(ncols * nroles + 1));
    for (int i = 0; i < ncols * nroles; i++) grid[i] = NAN;
    int lossless = 0;
    for (int i = a; i < b; i++) {
        const err_row *e = &r->rows[i];
        if (!e->detail || strcmp(e->format, fmt) != 0) continue;
        char role[48];
        int layer = split_tensor(e->tensor, role, sizeof role);
        int x = layer < 0 ? maxlayer + 1 : layer, y = 0;
        while (y < nroles && strcmp(roles[y], role) != 0) y++;
        if (y == nroles) continue;
        if (isfinite(e->sqnr_db)) grid[y * ncols + x] = e->sqnr_db;
        else lossless++;
    }
    char *data = NULL, *setup = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&data, &len);
    if (!f) qb_memstream_failed();
    fprintf(f, "# SQNR (dB) of each tensor of %s under %s; x = layer (%d = outside the blocks), y = role index\n",
            r->rows[a].source, fmt, maxlayer + 1);
    for (int x = 0; x < ncols; x++) {
        for (int y = 0; y < nroles; y++) fprintf(f, "%d %d %.6g\n", x, y, grid[y * ncols + x]);
        fputc('\n', f);
    }
    fclose(f);
    f = open_memstream(&setup, &len);
    if (!f) qb_memstream_failed();
    fputs("set xlabel 'layer'\nset ylabel 'tensor role'\nset cblabel 'SQNR (dB), higher is better'\n"
          "set palette defined (0 '#b2182b', 0.5 '#f7f7f7', 1 '#2166ac')\nunset key\nunset grid\n"
          "set tics out nomirror\n",
          f);
    fprintf(f, "set xrange [-0.5:%d.5]\nset yrange [-0.5:%d.5]\nset ytics (", ncols - 1, nroles - 1);
    for (int y = 0; y < nroles; y++) {
        char *q = qb_gp_quote(roles[y]);
        fprintf(f, "%s%s %d", y ? ", " : "", q, y);
        free(q);
    }
    fputs(")\n", f);
    if (other) fprintf(f, "set xtics add ('other' %d)\n", maxlayer + 1);
    fputs("# cells with no tensor, or a lossless one (SQNR inf), are NaN: left blank", f);
    fclose(f);
    char *slug = qb_slug(r->rows[a].source), *fslug = qb_slug(fmt);
    char *name = qb_asprintf("%sheatmap_%s_%s", plot_prefix, slug, fslug);
    char *title = qb_asprintf("Per-tensor SQNR of %s under %s", r->rows[a].source, fmt);
    char *plot = qb_asprintf("plot '%s.dat' using 1:2:3 with image pixels", name); /* pixels: crisp cells in every viewer */
    qb_plot pl = {.name = name,
                  .title = title,
                  .about = "columns 1 layer, 2 role index (the ytics name them), 3 SQNR dB (NaN: no tensor or lossless)",
                  .setup = setup,
                  .plot = plot,
                  .data = data,
                  .height = 120 + 28 * nroles};
    if (pl.height < 360) pl.height = 360;
    char *h = qb_asprintf("Per-tensor SQNR heat map: %s under %s", r->rows[a].source, fmt);
    qb_page_heading(pg, 3, h, NULL);
    char *cap = qb_asprintf("SQNR (dB) of every tensor of %s quantized as %s (its lowest-bits file type in this run), by "
                            "layer and tensor role; red cells lose the most.%s",
                            r->rows[a].source, fmt, lossless ? " Blank cells: no such tensor, or kept lossless." : "");
    qb_page_plot(pg, &pl, cap);
    free(h);
    free(cap);
    free(slug);
    free(fslug);
    free(name);
    free(title);
    free(plot);
    free(setup);
    free(data);
    free(grid);
}

int qb_section_errors(qb_page *pg, const qb_run_meta *run, const char *csv_name, const char *plot_name) {
    if (pg->st) return 0;
    report r = {.run = run};
    qb_status st = load_rows(pg->db, &r);
    if (st) {
        pg->st = st;
        report_free(&r);
        return 0;
    }
    qb_page_run_heading(pg, "errors", "Quantization error", run->id, 0);
    qb_page_heading(pg, 3, "How to read this", NULL);
    qb_page_para(pg, how_to_read);
    if (r.nrows == 0) qb_page_para(pg, "This run stored no quantization error measurements.");
    for (int a = 0, b; a < r.nrows; a = b) {
        b = group_end(&r, a);
        qb_page_heading(pg, 3, r.rows[a].source, NULL);
        char *t = qb_asprintf("Input: %s", r.rows[a].spec);
        qb_page_note(pg, t);
        free(t);
        qb_table tab;
        source_table(&r, a, b, &tab);
        qb_page_table(pg, &tab);
        qb_table_free(&tab);
        int nd = group_details(&r, a, b);
        if (nd) {
            t = qb_asprintf("The model's %d per-tensor rows (type, error, |error| percentiles) are in %s.", nd, csv_name);
            qb_page_note(pg, t);
            free(t);
        }
    }
    qb_table tab;
    csv_table(&r, &tab);
    qb_page_csv(pg, &tab, csv_name, "All rows");
    qb_table_free(&tab);
    sqnr_plot(pg, &r, plot_name);
    /* the plot prefix keeps a second errors run's heat maps apart from the first's */
    char *prefix = strcmp(plot_name, "sqnr_vs_bits") == 0 ? qb_strdup("") : qb_asprintf("%.8s_", run->id);
    for (int a = 0, b; a < r.nrows; a = b) {
        b = group_end(&r, a);
        if (group_details(&r, a, b)) heatmap(pg, &r, a, b, prefix);
    }
    free(prefix);
    int n = r.nrows;
    report_free(&r);
    return n;
}
