/* report.c — renders one run of the results database as a directory: index.md, a
 * self-contained index.html, errors.csv, and an SQNR-vs-bits plot (sqnr_vs_bits.dat, the
 * gnuplot script sqnr_vs_bits.gp, and the .svg/.png gnuplot draws from them).
 *
 * Only the database is read, never the format registry or the machine we run on: a report of
 * an old run, or of a database copied from another host, shows what was measured there and
 * then. The whole run is loaded first and every file is rendered from that one snapshot, so
 * the tables, the CSV and the plot agree even while another process is still adding rows.
 * Tables go through qb_table so Markdown, HTML and CSV always carry the same columns. Files
 * are written through qb_out (temporary name, renamed when complete), so a failed report never
 * leaves a truncated index.html behind that looks finished. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* fork, confstr, open_memstream */
#endif
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/io.h"
#include "../common/table.h"

/* ---- the run, loaded from the database ---------------------------------------------- */

typedef struct run_meta {
    char *id, *command, *suite, *status, *started_at, *finished_at, *version, *git_commit, *error;
    char *hostname, *cpu_model, *cpu_flags, *os, *kernel, *compiler, *cflags, *openblas, *onednn, *gpus;
    int64_t cores, mem_bytes;
    double duration_s; /* NaN while the run has no finish time */
} run_meta;

typedef struct err_row {
    char *input_id, *input_name, *spec, *tensor, *format, *tensor_format;
    const char *source; /* points at input_name, or at input_id when two inputs share a name */
    int64_t rows, cols;
    double bpw, mse, rmse, max_abs, sqnr_db, cosine; /* NaN where the database holds NULL */
    double p50, p95, p99, p999;
    int detail; /* a tensor of a model whose '(total)' row stands for it in tables and plot */
} err_row;

typedef struct report {
    run_meta run;
    err_row *rows; /* [nrows], grouped by input (name, id), then bits/weight descending, format */
    int nrows;
} report;

typedef struct plot_info {
    int npoints;    /* finite (bits, SQNR) points written to the data file */
    char *skipped;  /* "f32 on gaussian, …" for points left out, or NULL */
    int drawn;      /* gnuplot wrote both images */
    char *error;    /* why it did not, one line */
} plot_info;

static qb_status dberr(qb_db *db, const char *what) {
    return qb_fail(QB_EDB, "database %s: %s failed: %s", db->path, what, sqlite3_errmsg(db->h));
}

static char *col_str(sqlite3_stmt *s, int i) {
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? qb_strdup((const char *)t) : NULL;
}

static double col_real(sqlite3_stmt *s, int i) {
    return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

static void run_meta_free(run_meta *m) {
    char **f[] = {&m->id, &m->command, &m->suite, &m->status, &m->started_at, &m->finished_at, &m->version,
                  &m->git_commit, &m->error, &m->hostname, &m->cpu_model, &m->cpu_flags, &m->os, &m->kernel,
                  &m->compiler, &m->cflags, &m->openblas, &m->onednn, &m->gpus};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(*f[i]);
    memset(m, 0, sizeof *m);
}

static void report_free(report *r) {
    run_meta_free(&r->run);
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
    memset(r, 0, sizeof *r);
}

/* A unique prefix is accepted as well as a full id: ids are UUIDs nobody types in full.
 * substr() rather than LIKE, because '_' and '%' in a typed prefix must not be wildcards. */
static qb_status load_run(qb_db *db, const char *want, run_meta *m) {
    if (!*want) return qb_fail(QB_EUSAGE, "report: empty run id; give a run id or prefix, or none for the latest run");
    const char *sql =
        "SELECT r.id, r.command, r.suite, r.status, r.started_at, r.finished_at, r.version, r.git_commit, r.error,"
        " m.hostname, m.cpu_model, m.cpu_flags, m.os, m.kernel, m.compiler, m.cflags, m.openblas, m.onednn, m.gpus,"
        " m.cores, m.mem_bytes, (julianday(r.finished_at) - julianday(r.started_at)) * 86400.0"
        " FROM runs r JOIN machines m ON m.id = r.machine_id"
        " WHERE substr(r.id, 1, length(?1)) = ?1 ORDER BY r.started_at DESC LIMIT 2";
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db->h, sql, -1, &s, NULL) != SQLITE_OK) return dberr(db, "reading the run");
    if (sqlite3_bind_text(s, 1, want, -1, SQLITE_STATIC) != SQLITE_OK) {
        qb_status st = dberr(db, "reading the run");
        sqlite3_finalize(s);
        return st;
    }
    int found = 0, rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && ++found == 1) {
        int k = 0;
        m->id = col_str(s, k++);
        m->command = col_str(s, k++);
        m->suite = col_str(s, k++);
        m->status = col_str(s, k++);
        m->started_at = col_str(s, k++);
        m->finished_at = col_str(s, k++);
        m->version = col_str(s, k++);
        m->git_commit = col_str(s, k++);
        m->error = col_str(s, k++);
        m->hostname = col_str(s, k++);
        m->cpu_model = col_str(s, k++);
        m->cpu_flags = col_str(s, k++);
        m->os = col_str(s, k++);
        m->kernel = col_str(s, k++);
        m->compiler = col_str(s, k++);
        m->cflags = col_str(s, k++);
        m->openblas = col_str(s, k++);
        m->onednn = col_str(s, k++);
        m->gpus = col_str(s, k++);
        m->cores = sqlite3_column_int64(s, k++);
        m->mem_bytes = sqlite3_column_int64(s, k++);
        m->duration_s = col_real(s, k++);
        if (!m->id) m->id = qb_strdup(want); /* NOT NULL columns: only out of memory leaves them NULL */
        if (!m->status) m->status = qb_strdup("unknown");
    }
    qb_status st = QB_OK;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) st = dberr(db, "reading the run");
    else if (found == 0) st = qb_fail(QB_EUSAGE, "no run with id '%s' in database %s", want, db->path);
    else if (found > 1) st = qb_fail(QB_EUSAGE, "run id prefix '%s' matches several runs in database %s; give more characters", want, db->path);
    sqlite3_finalize(s);
    if (st) run_meta_free(m);
    return st;
}

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
    if (sqlite3_bind_text(s, 1, r->run.id, -1, SQLITE_STATIC) != SQLITE_OK) {
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

static char *fmt_duration(double s) {
    if (!(s >= 0)) return NULL;
    if (s < 120) return qb_asprintf("%.0f s", s);
    if (s < 7200) return qb_asprintf("%.1f min", s / 60);
    return qb_asprintf("%.1f h", s / 3600);
}

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

/* ---- header fields, shared by the Markdown and HTML renderings ------------------------ */

typedef struct kv {
    const char *key;
    char *val;
} kv;

enum { MAX_FIELDS = 16 };

static char *or_dflt(const char *s, const char *dflt) { return qb_strdup(s && *s ? s : dflt); }

static int run_fields(const run_meta *m, kv *f) {
    int n = 0;
    f[n++] = (kv){"Run", qb_strdup(m->id)};
    f[n++] = (kv){"Status", m->error && *m->error ? qb_asprintf("%s (%s)", m->status, m->error) : qb_strdup(m->status)};
    f[n++] = (kv){"Command", or_dflt(m->command, "?")};
    f[n++] = (kv){"Suite", or_dflt(m->suite, "none")};
    f[n++] = (kv){"Started", or_dflt(m->started_at, "?")};
    char *took = fmt_duration(m->duration_s);
    f[n++] = (kv){"Finished", m->finished_at ? (took ? qb_asprintf("%s (took %s)", m->finished_at, took) : qb_strdup(m->finished_at))
                                             : qb_strdup("not finished")};
    free(took);
    f[n++] = (kv){"quantbench", qb_asprintf("%s (git commit %s)", m->version ? m->version : "?", m->git_commit ? m->git_commit : "?")};
    return n;
}

static int machine_fields(const run_meta *m, kv *f) {
    int n = 0;
    f[n++] = (kv){"Host", or_dflt(m->hostname, "?")};
    f[n++] = (kv){"CPU", or_dflt(m->cpu_model, "unknown")};
    f[n++] = (kv){"SIMD flags", or_dflt(m->cpu_flags, "none detected")};
    f[n++] = (kv){"Cores", qb_asprintf("%lld", (long long)m->cores)};
    f[n++] = (kv){"Memory", qb_asprintf("%.1f GiB", (double)m->mem_bytes / (1024.0 * 1024.0 * 1024.0))};
    f[n++] = (kv){"OS", or_dflt(m->os, "unknown")};
    f[n++] = (kv){"Kernel", or_dflt(m->kernel, "unknown")};
    f[n++] = (kv){"Compiler", m->cflags && *m->cflags ? qb_asprintf("%s, flags %s", m->compiler ? m->compiler : "?", m->cflags)
                                                       : or_dflt(m->compiler, "?")};
    f[n++] = (kv){"OpenBLAS", or_dflt(m->openblas, "unknown")};
    f[n++] = (kv){"oneDNN", or_dflt(m->onednn, "not built")};
    f[n++] = (kv){"GPUs", or_dflt(m->gpus, "none")};
    return n;
}

static void fields_free(kv *f, int n) {
    for (int i = 0; i < n; i++) free(f[i].val);
}

/* A run that is not complete has tables with holes; say so first, before anyone reads them. */
static char *status_warning(const run_meta *m) {
    if (strcmp(m->status, "complete") == 0) return NULL;
    if (strcmp(m->status, "incomplete") == 0)
        return qb_strdup("This run is INCOMPLETE: it stopped before every measurement finished (the process was "
                         "killed or interrupted), so the tables hold only the rows stored until then. "
                         "Resuming the run (--resume) measures the rest.");
    if (strcmp(m->status, "failed") == 0)
        return qb_asprintf("This run FAILED%s%s; the tables hold only the rows stored before the failure.",
                           m->error ? ": " : "", m->error ? m->error : "");
    if (strcmp(m->status, "running") == 0)
        return qb_strdup("This run is still RUNNING: the tables are a snapshot of the rows stored so far.");
    return qb_asprintf("This run has the unknown status '%s'; its tables may be partial.", m->status);
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
    "from 1. Tables round to 4 significant digits; errors.csv keeps full precision.";

/* ---- escaping ----------------------------------------------------------------------------- */

/* Markdown would read CPU names, errors and paths as emphasis, links or raw HTML. */
static void put_md(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '\n' || *s == '\r') {
            fputc(' ', f);
            continue;
        }
        if (strchr("\\`*_[]<>|#!", *s)) fputc('\\', f);
        fputc(*s, f);
    }
}

/* A single-quoted gnuplot string: quotes are doubled, and a newline would end the command. */
static char *gp_quote(const char *s) {
    size_t n = strlen(s);
    char *q = qb_malloc(2 * n + 3), *p = q;
    *p++ = '\'';
    for (; *s; s++) {
        if (*s == '\'') *p++ = '\'';
        *p++ = (unsigned char)*s < 0x20 ? ' ' : *s;
    }
    *p++ = '\'';
    *p = '\0';
    return q;
}

/* A double-quoted string column of the data file; gnuplot has no escape for '"' there. */
static void put_dat_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) fputc(*s == '"' ? '\'' : (unsigned char)*s < 0x20 ? ' ' : *s, f);
    fputc('"', f);
}

/* The directory as a shell word, for the "cd DIR && gnuplot …" hint; control characters
 * become '?' because the hint also sits in one-line comments. */
static char *sh_quote(const char *s) {
    int plain = 1;
    for (const char *p = s; *p; p++)
        if (!strchr("/._-+,:=@%", *p) && !(*p >= '0' && *p <= '9') && !((*p | 32) >= 'a' && (*p | 32) <= 'z')) plain = 0;
    if (plain) return qb_strdup(s);
    size_t n = strlen(s);
    char *q = qb_malloc(4 * n + 3), *p = q;
    *p++ = '\'';
    for (; *s; s++) {
        if (*s == '\'') {
            memcpy(p, "'\\''", 4);
            p += 4;
        } else {
            *p++ = (unsigned char)*s < 0x20 ? '?' : *s;
        }
    }
    *p++ = '\'';
    *p = '\0';
    return q;
}

/* ---- output files --------------------------------------------------------------------- */

/* qb_out and qb_mkdirs report QB_EINPUT, but an output we cannot write is an environment
 * failure of this command (exit code 1), not bad input data. */
static qb_status as_runtime(qb_status st, const char *hint) {
    if (st == QB_OK) return st;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", qb_errmsg());
    return qb_fail(st == QB_EINPUT ? QB_ERUNTIME : st, "%s%s", msg, hint);
}

static qb_status out_open(qb_outfile *o, const char *path) {
    memset(o, 0, sizeof *o);
    return as_runtime(qb_out_open(o, path), " (choose a writable report directory)");
}

/* Commits unless rendering failed or the stream saw a write error (which qb_out_commit's
 * final flush alone would not notice once the failed buffer has been dropped). */
static qb_status out_close(qb_outfile *o, qb_status st) {
    if (st == QB_OK && ferror(o->f)) st = qb_fail(QB_ERUNTIME, "writing '%s' failed (disk full?)", o->path);
    if (st != QB_OK) {
        qb_out_abort(o);
        return st;
    }
    return as_runtime(qb_out_commit(o), "");
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir);
    return qb_asprintf("%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", name);
}

static int nonempty_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

/* ---- the plot ------------------------------------------------------------------------- */

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
static qb_status write_plot_data(const report *r, const char *path, plot_info *p, char ***titles, int *nseries) {
    qb_outfile o;
    qb_status st = out_open(&o, path);
    if (st) return st;
    fprintf(o.f, "# SQNR (dB) against bits per weight for quantbench run %s, one block per weight source.\n"
                 "# columns: bits_per_weight sqnr_db \"label\"; non-finite SQNR (lossless) is left out.\n", r->run.id);
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
                fputs(*nseries ? "\n\n# source: " : "# source: ", o.f);
                for (const char *c = e->source; *c; c++) fputc((unsigned char)*c < 0x20 ? ' ' : *c, o.f);
                fputc('\n', o.f);
                (*titles)[(*nseries)++] = qb_strdup(e->source);
                started = 1;
            }
            fprintf(o.f, "%.9g %.9g ", e->bpw, e->sqnr_db);
            if (e->tensor[0]) {
                char *label = qb_asprintf("%s %s", e->format, e->tensor);
                put_dat_str(o.f, label);
                free(label);
            } else {
                put_dat_str(o.f, e->format);
            }
            fputc('\n', o.f);
            p->npoints++;
        }
    }
    if (nskipped > 12) {
        char *next = qb_asprintf("%s and %d more", p->skipped, nskipped - 12);
        free(p->skipped);
        p->skipped = next;
    }
    return out_close(&o, QB_OK);
}

/* The gnuplot script is kept here as a string instead of a template file installed next to
 * the binary: a copied or relocated quantbench then still writes a complete report, and the
 * written sqnr_vs_bits.gp is the user's own copy to restyle and rerun. @NAME@ is replaced.
 * Terminals are noenhanced because format names contain underscores, which enhanced text
 * would set as subscripts ("int8_sym_row"). */
static const char gp_template[] =
    "# sqnr_vs_bits.gp: SQNR against bits per weight for quantbench run @RUN@.\n"
    "# Written by the quantbench report; restyle it freely and redraw both images with\n"
    "#   cd @DIR@ && gnuplot sqnr_vs_bits.gp\n"
    "# sqnr_vs_bits.dat holds one block per weight source (gnuplot `index N`), columns:\n"
    "#   1 bits per weight, 2 SQNR (dB), 3 format name. Points with a non-finite SQNR\n"
    "# (lossless formats) are not in the data: they cannot be drawn.\n"
    "\n"
    "set title @TITLE@\n"
    "set xlabel 'bits per weight'\n"
    "set ylabel 'SQNR (dB)'\n"
    "set grid xtics ytics lc rgb '#d0d0d0' dt 2\n"
    "set key top left reverse Left box opaque\n"
    "# bits start at 0 so plots of different runs line up; room on the right for the point\n"
    "# labels, and above and below the outermost points\n"
    "set xrange [0:*]\n"
    "set offsets graph 0.03, graph 0.16, graph 0.08, graph 0.08\n"
    "set linetype 1 lc rgb '#1f77b4' lw 2 pt 7 ps 1.1\n"
    "set linetype 2 lc rgb '#d62728' lw 2 pt 5 ps 1.1\n"
    "set linetype 3 lc rgb '#2ca02c' lw 2 pt 9 ps 1.3\n"
    "set linetype 4 lc rgb '#9467bd' lw 2 pt 11 ps 1.3\n"
    "set linetype 5 lc rgb '#ff7f0e' lw 2 pt 13 ps 1.3\n"
    "set linetype 6 lc rgb '#8c564b' lw 2 pt 7 ps 1.1\n"
    "set linetype 7 lc rgb '#e377c2' lw 2 pt 5 ps 1.1\n"
    "set linetype 8 lc rgb '#17becf' lw 2 pt 9 ps 1.3\n"
    "set linetype cycle 8\n"
    "@EMPTY@"
    "\n"
    "set terminal svg size 900,560 dynamic noenhanced font 'Sans,12' background rgb 'white'\n"
    "set output 'sqnr_vs_bits.svg'\n"
    "@PLOT@\n"
    "\n"
    "set terminal pngcairo size 900,560 noenhanced font 'Sans,10' background rgb 'white'\n"
    "set output 'sqnr_vs_bits.png'\n"
    "replot\n"
    "unset output\n";

/* Copies the template with each @KEY@ in keys[] replaced by vals[]. */
static void put_template(FILE *f, const char *t, const char *const *keys, const char *const *vals, int n) {
    while (*t) {
        const char *at = strchr(t, '@');
        if (!at) {
            fputs(t, f);
            return;
        }
        fwrite(t, 1, (size_t)(at - t), f);
        const char *end = strchr(at + 1, '@');
        int k = -1;
        for (int i = 0; end && i < n; i++)
            if ((size_t)(end - at - 1) == strlen(keys[i]) && strncmp(at + 1, keys[i], (size_t)(end - at - 1)) == 0) k = i;
        if (k < 0) {
            fputc('@', f);
            t = at + 1;
        } else {
            fputs(vals[k], f);
            t = end + 1;
        }
    }
}

static qb_status write_plot_script(const report *r, const char *path, const char *out_dir, char **titles, int nseries) {
    char *plot = NULL;
    size_t plot_len = 0;
    FILE *pf = open_memstream(&plot, &plot_len);
    if (!pf) return qb_fail(QB_ERUNTIME, "out of memory writing the plot script %s", path);
    if (nseries == 0) {
        fputs("plot NaN notitle", pf);
    } else {
        fputs("plot \\\n", pf);
        for (int i = 0; i < nseries; i++) {
            char *title = gp_quote(titles[i]);
            /* labels of alternate series sit above / below their points, so two sources with a
             * format at the same bits/weight do not print its name on top of each other */
            fprintf(pf,
                    "  'sqnr_vs_bits.dat' index %d using 1:2 with linespoints lt %d title %s, \\\n"
                    "  '' index %d using 1:2:3 with labels left offset char 0.8,%s tc lt %d notitle%s\n",
                    i, i + 1, title, i, i % 2 ? "-0.8" : "0.8", i + 1, i + 1 < nseries ? ", \\" : "");
            free(title);
        }
    }
    fclose(pf);
    char *title_text = qb_asprintf("SQNR vs bits per weight (run %.8s)", r->run.id);
    char *title = gp_quote(title_text);
    char *dir = sh_quote(out_dir);
    char *run = qb_strdup(r->run.id);
    for (char *c = run; *c; c++)
        if ((unsigned char)*c < 0x20) *c = '?';
    const char *empty = nseries ? ""
                                : "# no finite SQNR in this run: draw empty axes with a note\n"
                                  "set xrange [0:33]\nset yrange [0:100]\n"
                                  "unset key\nset label 1 'no finite SQNR values to plot' at graph 0.5,0.5 center\n";
    const char *keys[] = {"RUN", "DIR", "TITLE", "EMPTY", "PLOT"};
    const char *vals[] = {run, dir, title, empty, plot};
    qb_outfile o;
    qb_status st = out_open(&o, path);
    if (!st) {
        put_template(o.f, gp_template, keys, vals, 5);
        st = out_close(&o, QB_OK);
    }
    free(plot);
    free(title_text);
    free(title);
    free(dir);
    free(run);
    return st;
}

/* Looks for an executable as execvp would, so a missing gnuplot gets an install hint rather
 * than the child's bare exit status 127. */
static int on_path(const char *name) {
    const char *path = getenv("PATH");
    char dflt[256] = "/bin:/usr/bin";
    if (!path) {
        confstr(_CS_PATH, dflt, sizeof dflt);
        path = dflt;
    }
    for (const char *p = path;;) {
        const char *end = strchr(p, ':');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char *full = n ? qb_asprintf("%.*s/%s", (int)n, p, name) : qb_strdup(name);
        struct stat st;
        int ok = stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0;
        free(full);
        if (ok) return 1;
        if (!end) return 0;
        p = end + 1;
    }
}

/* The last non-empty line of gnuplot's log: gnuplot ends with the line naming its error. */
static char *last_log_line(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char line[512], *last = NULL;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        const char *s = line + strspn(line, " \t^");
        if (*s) {
            free(last);
            last = qb_strdup(s);
        }
    }
    fclose(f);
    return last;
}

/* Runs `gnuplot sqnr_vs_bits.gp` inside out_dir, the way a user would rerun it, with its
 * output in out_dir/gnuplot.log. On failure returns QB_ERUNTIME with the message in *why. */
static qb_status run_gnuplot(const char *out_dir, char **why) {
    char *log_path = join(out_dir, "gnuplot.log");
    char *gp_path = join(out_dir, "sqnr_vs_bits.gp");
    qb_status st = QB_OK;
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (log_fd < 0) {
        *why = qb_asprintf("cannot write gnuplot's log %s: %s", log_path, strerror(errno));
        goto done;
    }
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    char arg0[] = "gnuplot", arg1[] = "sqnr_vs_bits.gp";
    char *argv[] = {arg0, arg1, NULL};
    pid_t pid = fork();
    if (pid == 0) {
        /* child: only async-signal-safe calls until exec, the parent may have threads */
        static const char chdir_msg[] = "quantbench: cannot enter the report directory\n";
        static const char exec_msg[] = "quantbench: cannot execute gnuplot\n";
        dup2(log_fd, STDOUT_FILENO);
        dup2(log_fd, STDERR_FILENO);
        if (null_fd >= 0) dup2(null_fd, STDIN_FILENO); /* a `pause` in an edited script must not hang us */
        if (chdir(out_dir) != 0) {
            ssize_t w = write(STDERR_FILENO, chdir_msg, sizeof chdir_msg - 1);
            (void)w;
            _exit(126);
        }
        execvp(argv[0], argv);
        ssize_t w = write(STDERR_FILENO, exec_msg, sizeof exec_msg - 1);
        (void)w;
        _exit(127);
    }
    int fork_errno = errno;
    close(log_fd);
    if (null_fd >= 0) close(null_fd);
    if (pid < 0) {
        *why = qb_asprintf("cannot start gnuplot: fork failed: %s", strerror(fork_errno));
        goto done;
    }
    int ws;
    while (waitpid(pid, &ws, 0) < 0) {
        if (errno != EINTR) {
            *why = qb_asprintf("waiting for gnuplot failed: %s", strerror(errno));
            goto done;
        }
    }
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        char *last = last_log_line(log_path);
        char *how = WIFEXITED(ws) ? qb_asprintf("exited with status %d", WEXITSTATUS(ws))
                                  : qb_asprintf("was killed by signal %d", WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
        *why = qb_asprintf("gnuplot %s running %s%s%s; see %s", how, gp_path, last ? ": " : "", last ? last : "", log_path);
        free(how);
        free(last);
    }
done:
    if (*why) st = qb_fail(QB_ERUNTIME, "%s", *why);
    free(log_path);
    free(gp_path);
    return st;
}

/* Writes the data and the script always (they are the user's way to redraw the plot later),
 * then draws the images when gnuplot is there; any plot failure is left in p->error. */
static qb_status make_plot(const report *r, const char *out_dir, plot_info *p) {
    char *dat = join(out_dir, "sqnr_vs_bits.dat"), *gp = join(out_dir, "sqnr_vs_bits.gp");
    char *svg = join(out_dir, "sqnr_vs_bits.svg"), *png = join(out_dir, "sqnr_vs_bits.png");
    char **titles = NULL;
    int nseries = 0;
    qb_status st = write_plot_data(r, dat, p, &titles, &nseries);
    if (!st) st = write_plot_script(r, gp, out_dir, titles, nseries);
    /* images from an earlier report in this directory would be shown beside the new tables */
    if (!st && ((unlink(svg) != 0 && errno != ENOENT) || (unlink(png) != 0 && errno != ENOENT)))
        st = qb_fail(QB_ERUNTIME, "cannot replace the old plot in %s: %s", out_dir, strerror(errno));
    if (!st) {
        if (!on_path("gnuplot")) {
            char *dir = sh_quote(out_dir);
            p->error = qb_asprintf("gnuplot not found on PATH: install it with 'apt-get install gnuplot-nox', then draw "
                                   "the plot with 'cd %s && gnuplot sqnr_vs_bits.gp'", dir);
            free(dir);
        } else if (run_gnuplot(out_dir, &p->error) == QB_OK) {
            if (nonempty_file(svg) && nonempty_file(png)) p->drawn = 1;
            else p->error = qb_asprintf("gnuplot ran %s but did not write %s and %s", gp, svg, png);
        }
    }
    for (int i = 0; titles && i < nseries; i++) free(titles[i]);
    free(titles);
    free(dat);
    free(gp);
    free(svg);
    free(png);
    return st;
}

/* ---- index.md ------------------------------------------------------------------------- */

static void md_fields(FILE *f, const kv *fl, int n) {
    for (int i = 0; i < n; i++) {
        fprintf(f, "- **%s:** ", fl[i].key);
        put_md(f, fl[i].val);
        fputc('\n', f);
    }
}

static qb_status write_md(const report *r, const plot_info *p, const char *out_dir, const char *path) {
    qb_outfile o;
    qb_status st = out_open(&o, path);
    if (st) return st;
    FILE *f = o.f;
    kv fl[MAX_FIELDS];
    int n;

    fputs("# quantbench report: run ", f);
    put_md(f, r->run.id);
    fputs("\n\n", f);
    char *warn = status_warning(&r->run);
    if (warn) {
        fputs("> **Warning:** ", f);
        put_md(f, warn);
        fputs("\n\n", f);
        free(warn);
    }
    fputs("## Run\n\n", f);
    n = run_fields(&r->run, fl);
    md_fields(f, fl, n);
    fields_free(fl, n);
    fputs("\n## Machine\n\n", f);
    n = machine_fields(&r->run, fl);
    md_fields(f, fl, n);
    fields_free(fl, n);

    fputs("\n## How to read this\n\n", f);
    put_md(f, how_to_read);
    fputs("\n\n## Quantization error\n\n", f);
    if (r->nrows == 0) fputs("This run stored no quantization error measurements.\n\n", f);
    for (int a = 0, b; a < r->nrows; a = b) {
        b = group_end(r, a);
        fputs("### ", f);
        put_md(f, r->rows[a].source);
        fputs("\n\nInput: ", f);
        put_md(f, r->rows[a].spec);
        fputs("\n\n", f);
        qb_table t;
        source_table(r, a, b, &t);
        qb_table_print(&t, f, QB_TABLE_MARKDOWN);
        qb_table_free(&t);
        int nd = group_details(r, a, b);
        if (nd) fprintf(f, "\nThe model's %d per-tensor rows (type, error, |error| percentiles) are in errors.csv.\n", nd);
        fputc('\n', f);
    }

    fputs("## SQNR vs bits per weight\n\n", f);
    char *dir = sh_quote(out_dir);
    if (p->drawn) {
        fputs("![SQNR (dB) against bits per weight, one line per weight source](sqnr_vs_bits.svg)\n\n"
              "Also as [PNG](sqnr_vs_bits.png). ",
              f);
    } else {
        fputs("**Plot not drawn:** ", f);
        put_md(f, p->error ? p->error : "unknown reason");
        fputs("\n\n", f);
    }
    fputs("Data: [sqnr_vs_bits.dat](sqnr_vs_bits.dat); script: [sqnr_vs_bits.gp](sqnr_vs_bits.gp), redraw with `cd ", f);
    fputs(dir, f);
    fputs(" && gnuplot sqnr_vs_bits.gp`.\n", f);
    free(dir);
    if (p->skipped) {
        fputs("\nNot plotted (SQNR not finite, i.e. lossless): ", f);
        put_md(f, p->skipped);
        fputs(".\n", f);
    }
    if (p->npoints == 0) fputs("\nNo finite SQNR values to plot.\n", f);
    fputs("\nAll rows with full precision: [errors.csv](errors.csv).\n", f);
    return out_close(&o, QB_OK);
}

/* ---- index.html ----------------------------------------------------------------------- */

static const char html_css[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;"
    "max-width:64rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b;line-height:1.45}\n"
    "h1{font-size:1.45rem;word-break:break-all}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}"
    "h3{font-size:1.05rem;margin-bottom:.3rem}\n"
    "table{border-collapse:collapse;margin:.4rem 0 1.2rem;font-size:.92rem}\n"
    "th,td{border:1px solid #ccc;padding:.22rem .6rem;text-align:left;vertical-align:top}\n"
    "th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    "table.meta th{background:none;white-space:nowrap}\n"
    ".warn{border:2px solid #c62828;background:#fdecea;padding:.6rem 1rem;margin:1rem 0}\n"
    ".status-bad{color:#c62828;font-weight:bold}\n"
    ".plot svg{display:block;width:100%;max-width:900px;height:auto}\n"
    ".note{color:#555;font-size:.92rem}code{background:#f2f2f2;padding:0 .2rem}\n";

static void html_fields(FILE *f, const kv *fl, int n, int bad_status) {
    fputs("<table class=\"meta\">\n", f);
    for (int i = 0; i < n; i++) {
        fprintf(f, "<tr><th>%s</th><td%s>", fl[i].key, bad_status && strcmp(fl[i].key, "Status") == 0 ? " class=\"status-bad\"" : "");
        qb_put_html(f, fl[i].val);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

/* Inlines the SVG so index.html is one self-contained file; the XML prolog and doctype are
 * dropped because they are not allowed in the middle of an HTML document. */
static qb_status inline_svg(qb_outfile *o, const char *svg_path) {
    qb_map m;
    qb_status st = qb_map_file(&m, svg_path);
    if (st) return as_runtime(st, "");
    const char *s = m.data, *end = s ? s + m.size : NULL, *start = NULL;
    for (const char *q = s; q && q + 4 <= end; q++)
        if (memcmp(q, "<svg", 4) == 0 && (q + 4 == end || strchr(" \t\r\n>", q[4]))) {
            start = q;
            break;
        }
    if (!start) st = qb_fail(QB_ERUNTIME, "%s holds no <svg> element; redraw it with gnuplot", svg_path);
    else st = qb_out_write(o, start, (size_t)(end - start));
    qb_unmap(&m);
    return st;
}

static qb_status write_html(const report *r, const plot_info *p, const char *out_dir, const char *path, const char *svg_path) {
    qb_outfile o;
    qb_status st = out_open(&o, path);
    if (st) return st;
    FILE *f = o.f;
    kv fl[MAX_FIELDS];
    int n, bad = strcmp(r->run.status, "complete") != 0;

    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>quantbench report: run ", f);
    qb_put_html(f, r->run.id);
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>quantbench report: run ", html_css);
    qb_put_html(f, r->run.id);
    fputs("</h1>\n", f);
    char *warn = status_warning(&r->run);
    if (warn) {
        fputs("<div class=\"warn\"><strong>Warning:</strong> ", f);
        qb_put_html(f, warn);
        fputs("</div>\n", f);
        free(warn);
    }
    fputs("<h2>Run</h2>\n", f);
    n = run_fields(&r->run, fl);
    html_fields(f, fl, n, bad);
    fields_free(fl, n);
    fputs("<h2>Machine</h2>\n", f);
    n = machine_fields(&r->run, fl);
    html_fields(f, fl, n, 0);
    fields_free(fl, n);

    fputs("<h2>How to read this</h2>\n<p>", f);
    qb_put_html(f, how_to_read);
    fputs("</p>\n<h2>Quantization error</h2>\n", f);
    if (r->nrows == 0) fputs("<p>This run stored no quantization error measurements.</p>\n", f);
    for (int a = 0, b; a < r->nrows; a = b) {
        b = group_end(r, a);
        fputs("<h3>", f);
        qb_put_html(f, r->rows[a].source);
        fputs("</h3>\n<p class=\"note\">Input: <code>", f);
        qb_put_html(f, r->rows[a].spec);
        fputs("</code></p>\n", f);
        qb_table t;
        source_table(r, a, b, &t);
        qb_table_print(&t, f, QB_TABLE_HTML);
        qb_table_free(&t);
        int nd = group_details(r, a, b);
        if (nd) fprintf(f, "<p class=\"note\">The model's %d per-tensor rows (type, error, |error| percentiles) are in errors.csv.</p>\n", nd);
    }

    fputs("<h2>SQNR vs bits per weight</h2>\n", f);
    if (p->drawn) {
        fputs("<figure>\n<div class=\"plot\">\n", f);
        st = inline_svg(&o, svg_path);
        fputs("\n</div>\n<figcaption class=\"note\">SQNR (dB) against bits per weight, one line per weight source. "
              "Also as <a href=\"sqnr_vs_bits.png\">PNG</a>.</figcaption>\n</figure>\n", f);
    } else {
        fputs("<p class=\"warn\"><strong>Plot not drawn:</strong> ", f);
        qb_put_html(f, p->error ? p->error : "unknown reason");
        fputs("</p>\n", f);
    }
    char *dir = sh_quote(out_dir);
    fputs("<p class=\"note\">Data: <a href=\"sqnr_vs_bits.dat\">sqnr_vs_bits.dat</a>; script: "
          "<a href=\"sqnr_vs_bits.gp\">sqnr_vs_bits.gp</a>, redraw with <code>cd ", f);
    qb_put_html(f, dir);
    fputs(" &amp;&amp; gnuplot sqnr_vs_bits.gp</code>.", f);
    free(dir);
    if (p->skipped) {
        fputs(" Not plotted (SQNR not finite, i.e. lossless): ", f);
        qb_put_html(f, p->skipped);
        fputc('.', f);
    }
    if (p->npoints == 0) fputs(" No finite SQNR values to plot.", f);
    fputs("</p>\n<p class=\"note\">All rows with full precision: <a href=\"errors.csv\">errors.csv</a>.</p>\n"
          "</body>\n</html>\n", f);
    return out_close(&o, st);
}

/* ---- errors.csv ----------------------------------------------------------------------- */

static qb_status write_csv(const report *r, const char *path) {
    qb_outfile o;
    qb_status st = out_open(&o, path);
    if (st) return st;
    qb_table t;
    csv_table(r, &t);
    qb_table_print(&t, o.f, QB_TABLE_CSV);
    qb_table_free(&t);
    return out_close(&o, QB_OK);
}

/* ---- entry point ---------------------------------------------------------------------- */

qb_status qb_report_write(qb_db *db, const char *run_id, const char *out_dir, qb_report_out *out) {
    memset(out, 0, sizeof *out);
    if (!db || !db->h) return qb_fail(QB_EUSAGE, "report: no database open");
    if (!out_dir || !*out_dir) return qb_fail(QB_EUSAGE, "report: no output directory given");
    char latest[37];
    if (!run_id) {
        qb_status st = qb_db_latest_run(db, latest);
        if (st) return st;
        run_id = latest;
    }
    report r;
    memset(&r, 0, sizeof r);
    plot_info p;
    memset(&p, 0, sizeof p);
    qb_status st = load_run(db, run_id, &r.run);
    if (st) return st;
    st = load_rows(db, &r);
    if (!st) st = as_runtime(qb_mkdirs(out_dir), " (choose a writable report directory)");

    char *md = join(out_dir, "index.md"), *html = join(out_dir, "index.html"), *csv = join(out_dir, "errors.csv");
    char *svg = join(out_dir, "sqnr_vs_bits.svg"), *png = join(out_dir, "sqnr_vs_bits.png");
    if (!st) st = make_plot(&r, out_dir, &p);
    if (!st) st = write_csv(&r, csv);
    if (!st) st = write_md(&r, &p, out_dir, md);
    if (!st) st = write_html(&r, &p, out_dir, html, svg);

    if (st == QB_OK) {
        out->run_id = qb_strdup(r.run.id);
        out->index_md = md;
        out->index_html = html;
        out->csv = csv;
        out->n_rows = r.nrows;
        if (p.drawn) {
            out->plot_svg = svg;
            out->plot_png = png;
            svg = png = NULL;
        }
        out->plot_error = p.error;
        p.error = NULL;
        md = html = csv = NULL;
        if (out->plot_error) st = qb_fail(QB_ERUNTIME, "%s", out->plot_error);
    }
    free(md);
    free(html);
    free(csv);
    free(svg);
    free(png);
    free(p.skipped);
    free(p.error);
    report_free(&r);
    return st;
}

void qb_report_out_free(qb_report_out *out) {
    free(out->run_id);
    free(out->index_html);
    free(out->index_md);
    free(out->csv);
    free(out->plot_svg);
    free(out->plot_png);
    free(out->plot_error);
    memset(out, 0, sizeof *out);
}
