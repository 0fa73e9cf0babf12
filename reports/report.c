/* report.c — `quantbench report`: picks the runs, then writes the page (page.h) section by
 * section (sections.h): the runs and their machines, the selection guide, the model run or
 * model evaluation, quantization error, throughput, and nightly trends.
 *
 * Only the database is read, never the format registry or the machine we run on: a report of
 * an old run, or of a database copied from another host, shows what was measured there and
 * then. Files are written through qb_out (temporary name, renamed when complete), so a failed
 * report never leaves a truncated index.html behind that looks finished.
 *
 * Invariants:
 *  1. Without --run the report holds the newest run of each kind that stored results: one
 *     with tensor_errors (errors/run), one with evals, one with model_speed (run --model), one
 *     with bench_cases; a run holding several kinds is shown once with all of them.
 *  2. Runs are shown in the order given (or errors, eval, model, bench by default); the
 *     selection guide takes the first eval run and the first run that benchmarked formats (a
 *     model run's own limit measurements do not make it one).
 *  3. A run with model_speed rows shows its evaluation inside its model-run section (model.c),
 *     never as a second "Model evaluation" section of the same formats. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* open_memstream */
#endif
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/io.h"
#include "sections.h"

typedef qb_run_meta run_meta;

static qb_status dberr(qb_db *db, const char *what) {
    return qb_fail(QB_EDB, "database %s: %s failed: %s", db->path, what, sqlite3_errmsg(db->h));
}

char *qb_col_str(sqlite3_stmt *s, int i) {
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? qb_strdup((const char *)t) : NULL;
}

#define col_str qb_col_str
#define col_real qb_db_col_real

_Noreturn void qb_memstream_failed(void) {
    fputs("quantbench: out of memory (open_memstream)\n", stderr);
    abort();
}

sqlite3_stmt *qb_page_prepare(qb_page *pg, const char *sql, const char *what, const char *param) {
    if (pg->st) return NULL;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(pg->db->h, sql, -1, &s, NULL) != SQLITE_OK) {
        pg->st = dberr(pg->db, what);
        return NULL;
    }
    if (param) sqlite3_bind_text(s, 1, param, -1, SQLITE_TRANSIENT);
    return s;
}

char *qb_slug(const char *s) {
    char *o = qb_strdup(s);
    for (char *c = o; *c; c++)
        if (!((*c >= '0' && *c <= '9') || ((*c | 32) >= 'a' && (*c | 32) <= 'z') || *c == '-' || *c == '_')) *c = '_';
    return o;
}

static void run_meta_free(run_meta *m) {
    char **f[] = {&m->id, &m->command, &m->suite, &m->status, &m->started_at, &m->finished_at, &m->version,
                  &m->git_commit, &m->error, &m->machine_id, &m->hostname, &m->cpu_model, &m->cpu_flags, &m->os,
                  &m->kernel, &m->compiler, &m->cflags, &m->openblas, &m->onednn, &m->gpus};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(*f[i]);
    memset(m, 0, sizeof *m);
}

/* A unique prefix is accepted as well as a full id: ids are UUIDs nobody types in full.
 * substr() rather than LIKE, because '_' and '%' in a typed prefix must not be wildcards. */
static qb_status load_run(qb_db *db, const char *want, run_meta *m) {
    if (!*want) return qb_fail(QB_EUSAGE, "report: empty run id; give a run id or prefix, or none for the latest run");
    const char *sql =
        "SELECT r.id, r.command, r.suite, r.status, r.started_at, r.finished_at, r.version, r.git_commit, r.error,"
        " m.hostname, m.cpu_model, m.cpu_flags, m.os, m.kernel, m.compiler, m.cflags, m.openblas, m.onednn, m.gpus,"
        " m.cores, m.mem_bytes, (julianday(r.finished_at) - julianday(r.started_at)) * 86400.0, r.machine_id,"
        " (SELECT count(*) FROM tensor_errors WHERE run_id = r.id), (SELECT count(*) FROM evals WHERE run_id = r.id),"
        " (SELECT count(*) FROM bench_cases WHERE run_id = r.id), (SELECT count(*) FROM model_speed WHERE run_id = r.id),"
        " (SELECT count(*) FROM bench_cases WHERE run_id = r.id AND format IS NOT NULL AND format <> '')"
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
        m->machine_id = col_str(s, k++);
        m->n_errors = sqlite3_column_int(s, k++);
        m->n_evals = sqlite3_column_int(s, k++);
        m->n_bench = sqlite3_column_int(s, k++);
        m->n_speed = sqlite3_column_int(s, k++);
        m->n_bench_formats = sqlite3_column_int(s, k++);
        if (!m->id) m->id = qb_strdup(want); /* NOT NULL columns: only out of memory leaves them NULL */
        if (!m->status) m->status = qb_strdup("unknown");
        if (!m->machine_id) m->machine_id = qb_strdup("?");
    }
    qb_status st = QB_OK;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) st = dberr(db, "reading the run");
    else if (found == 0) st = qb_fail(QB_EUSAGE, "no run with id '%s' in database %s", want, db->path);
    else if (found > 1) st = qb_fail(QB_EUSAGE, "run id prefix '%s' matches several runs in database %s; give more characters", want, db->path);
    sqlite3_finalize(s);
    if (st) run_meta_free(m);
    return st;
}

static char *fmt_duration(double s) {
    if (!(s >= 0)) return NULL;
    if (s < 120) return qb_asprintf("%.0f s", s);
    if (s < 7200) return qb_asprintf("%.1f min", s / 60);
    return qb_asprintf("%.1f h", s / 3600);
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

static void show_fields(qb_page *pg, kv *f, int n, int bad_status) {
    const char *keys[MAX_FIELDS] = {0};
    char *vals[MAX_FIELDS] = {0};
    int bad = -1;
    for (int i = 0; i < n; i++) {
        keys[i] = f[i].key;
        vals[i] = f[i].val;
        if (bad_status && strcmp(f[i].key, "Status") == 0) bad = i;
    }
    qb_page_fields(pg, keys, vals, n, bad);
    fields_free(f, n);
}

static const char *run_kind(const run_meta *m) {
    return m->n_speed ? "model run" : m->n_evals ? "model evaluation" : m->n_bench ? "benchmarks" : m->n_errors ? "quantization error" : "no results";
}

/* Invariant 1: the newest run holding each kind of result. */
enum { NKINDS = 4 };
static qb_status default_runs(qb_db *db, char ids[NKINDS][37], int *n) {
    static const char *const tables[NKINDS] = {"tensor_errors", "evals", "model_speed", "bench_cases"};
    *n = 0;
    for (int k = 0; k < NKINDS; k++) {
        char *sql = qb_asprintf("SELECT r.id FROM runs r WHERE EXISTS (SELECT 1 FROM %s t WHERE t.run_id = r.id)"
                                " ORDER BY r.started_at DESC, r.rowid DESC LIMIT 1", tables[k]);
        sqlite3_stmt *s;
        int rc = sqlite3_prepare_v2(db->h, sql, -1, &s, NULL);
        free(sql);
        if (rc != SQLITE_OK) return dberr(db, "finding the latest runs");
        if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            const char *id = (const char *)sqlite3_column_text(s, 0);
            int dup = 0;
            for (int i = 0; i < *n; i++) dup |= id && strcmp(ids[i], id) == 0;
            if (id && !dup) snprintf(ids[(*n)++], 37, "%s", id);
        }
        sqlite3_finalize(s);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) return dberr(db, "finding the latest runs");
    }
    if (*n == 0) { /* nothing stored yet: the latest run, or qb_db_latest_run's message */
        qb_status st = qb_db_latest_run(db, ids[0]);
        if (st) return st;
        *n = 1;
    }
    return QB_OK;
}

static const char how_to_use[] =
    "This page is generated from the results database alone. Each part below names the run it "
    "comes from; every table is also a CSV file next to this page, and every plot has its data "
    "(.dat) and its gnuplot script (.gp) beside it, to restyle and redraw.";

qb_status qb_report_write(qb_db *db, const char *const *run_ids, int nruns, const char *out_dir, qb_report_out *out) {
    memset(out, 0, sizeof *out);
    if (!db || !db->h) return qb_fail(QB_EUSAGE, "report: no database open");
    if (!out_dir || !*out_dir) return qb_fail(QB_EUSAGE, "report: no output directory given");
    char dflt[NKINDS][37];
    const char *dflt_ptr[NKINDS];
    if (nruns == 0) {
        qb_status st = default_runs(db, dflt, &nruns);
        if (st) return st;
        for (int i = 0; i < nruns; i++) dflt_ptr[i] = dflt[i];
        run_ids = dflt_ptr;
    }
    run_meta *runs = qb_calloc((size_t)nruns, sizeof *runs);
    qb_status st = QB_OK;
    int n = 0;
    for (int i = 0; i < nruns && !st; i++) {
        st = load_run(db, run_ids[i], &runs[n]);
        if (st) break;
        int dup = 0; /* a prefix given twice, or two prefixes of one run: show it once */
        for (int j = 0; j < n; j++) dup |= strcmp(runs[j].id, runs[n].id) == 0;
        if (dup) run_meta_free(&runs[n]);
        else n++;
    }
    if (!st) {
        st = qb_mkdirs(out_dir);
        if (st) st = qb_fail(QB_ERUNTIME, "%s (choose a writable report directory)", qb_errmsg());
    }
    qb_page pg;
    memset(&pg, 0, sizeof pg);
    if (!st) {
        char *title = n == 1 ? qb_asprintf("quantbench report: run %s", runs[0].id) : qb_strdup("quantbench report");
        st = qb_page_open(&pg, db, out_dir, title);
        free(title);
    }
    const run_meta *eval = NULL, *bench = NULL;
    for (int i = 0; i < n; i++) {
        if (!eval && runs[i].n_evals) eval = &runs[i];
        if (!bench && runs[i].n_bench_formats) bench = &runs[i];
    }
    if (!st) {
        qb_page_note(&pg, how_to_use);
        /* contents, in page order; the anchors are the sections' "KIND-RUNID8" */
        enum { NAV_MAX = 64 };
        char *labels[NAV_MAX], *anchors[NAV_MAX];
        int nn = 0;
        if (eval || bench) {
            labels[nn] = qb_strdup("Selection guide");
            anchors[nn++] = qb_strdup("guide");
        }
        static const struct {
            const char *kind, *label;
        } parts[] = {{"model", "Model run"},     {"evals", "Model evaluation"}, {"errors", "Quantization error"},
                     {"bench", "Throughput"}, {"trends", "Trends"}};
        for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++)
            for (int i = 0; i < n && nn < NAV_MAX; i++) {
                const run_meta *m = &runs[i];
                int has = k == 0   ? m->n_speed > 0
                          : k == 1 ? m->n_evals > 0 && !m->n_speed /* invariant 3 */
                          : k == 2 ? (m->n_errors > 0 || !(m->n_evals || m->n_bench || m->n_speed))
                          : k == 3 ? m->n_bench > 0
                                   : (m->n_evals || m->n_bench);
                if (!has) continue;
                /* trends come once per eval and bench run: their command tells them apart */
                labels[nn] = k == 4 ? qb_asprintf("%s (%s)", parts[k].label, m->command ? m->command : m->id)
                                    : qb_strdup(parts[k].label);
                anchors[nn++] = qb_page_run_anchor(parts[k].kind, m->id);
            }
        qb_page_nav(&pg, (const char *const *)labels, (const char *const *)anchors, nn);
        for (int i = 0; i < nn; i++) {
            free(labels[i]);
            free(anchors[i]);
        }
        /* runs and machines first: a reader must see an incomplete run before its tables */
        for (int i = 0; i < n; i++) {
            char *warn = status_warning(&runs[i]);
            if (warn) qb_page_warn(&pg, "Warning:", warn);
            free(warn);
        }
        for (int i = 0; i < n; i++) {
            char *h = n == 1 ? qb_strdup("Run") : qb_asprintf("Run %.8s: %s", runs[i].id, run_kind(&runs[i]));
            qb_page_heading(&pg, 2, h, NULL);
            free(h);
            kv fl[MAX_FIELDS];
            int nf = run_fields(&runs[i], fl);
            show_fields(&pg, fl, nf, strcmp(runs[i].status, "complete") != 0);
        }
        for (int i = 0; i < n; i++) {
            int seen = 0;
            for (int j = 0; j < i; j++) seen |= strcmp(runs[j].machine_id, runs[i].machine_id) == 0;
            if (seen) continue;
            char *h = n == 1 ? qb_strdup("Machine") : qb_asprintf("Machine %s", runs[i].hostname ? runs[i].hostname : "?");
            qb_page_heading(&pg, 2, h, NULL);
            free(h);
            kv fl[MAX_FIELDS];
            int nf = machine_fields(&runs[i], fl);
            show_fields(&pg, fl, nf, 0);
        }
        if (eval || bench) qb_section_guide(&pg, eval, bench, eval ? eval : bench);
        for (int i = 0; i < n; i++) {
            if (runs[i].n_speed) qb_section_model(&pg, &runs[i]);
            else if (runs[i].n_evals) qb_section_evals(&pg, &runs[i]);
        }
        int first_errors = 1;
        for (int i = 0; i < n; i++) {
            if (!runs[i].n_errors && (runs[i].n_evals || runs[i].n_bench || runs[i].n_speed)) continue;
            /* the first errors run keeps the historical names errors.csv / sqnr_vs_bits */
            char *csv = first_errors ? qb_strdup("errors.csv") : qb_asprintf("errors_%.8s.csv", runs[i].id);
            char *plot = first_errors ? qb_strdup("sqnr_vs_bits") : qb_asprintf("sqnr_vs_bits_%.8s", runs[i].id);
            int rows = qb_section_errors(&pg, &runs[i], csv, plot);
            if (first_errors) {
                out->n_rows = rows;
                out->csv = qb_path_join(out_dir, csv);
                char *svg = qb_asprintf("%s.svg", plot), *png = qb_asprintf("%s.png", plot);
                for (int f = 0; f < pg.nfiles; f++) {
                    if (strcmp(pg.files[f], svg) == 0) out->plot_svg = qb_path_join(out_dir, svg);
                    if (strcmp(pg.files[f], png) == 0) out->plot_png = qb_path_join(out_dir, png);
                }
                free(svg);
                free(png);
            }
            first_errors = 0;
            free(csv);
            free(plot);
        }
        for (int i = 0; i < n; i++)
            if (runs[i].n_bench) qb_section_bench(&pg, &runs[i]);
        for (int i = 0; i < n; i++)
            if (runs[i].n_evals || runs[i].n_bench) qb_section_trends(&pg, &runs[i]);
        st = qb_page_close(&pg);
    }
    if (st == QB_OK) {
        out->run_ids = qb_calloc((size_t)n + 1, sizeof *out->run_ids);
        for (int i = 0; i < n; i++) out->run_ids[i] = qb_strdup(runs[i].id);
        out->nruns = n;
        out->run_id = qb_strdup(runs[0].id);
        out->index_md = qb_path_join(out_dir, "index.md");
        out->index_html = qb_path_join(out_dir, "index.html");
        out->files = pg.files;
        out->nfiles = pg.nfiles;
        pg.files = NULL;
        pg.nfiles = 0;
        out->plot_error = pg.plot_error;
        pg.plot_error = NULL;
        if (out->plot_error) st = qb_fail(QB_ERUNTIME, "%s", out->plot_error);
    } else {
        qb_report_out_free(out);
    }
    qb_page_free(&pg);
    for (int i = 0; i < n; i++) run_meta_free(&runs[i]);
    free(runs);
    return st;
}

void qb_report_out_free(qb_report_out *out) {
    for (int i = 0; i < out->nruns; i++) free(out->run_ids[i]);
    free(out->run_ids);
    for (int i = 0; i < out->nfiles; i++) free(out->files[i]);
    free(out->files);
    free(out->run_id);
    free(out->index_html);
    free(out->index_md);
    free(out->csv);
    free(out->plot_svg);
    free(out->plot_png);
    free(out->plot_error);
    memset(out, 0, sizeof *out);
}
