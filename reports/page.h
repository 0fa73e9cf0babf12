/* page.h — the report page being written: index.md and index.html side by side, plus the
 * CSV files and plots beside them. Every section of the report writes through these calls,
 * so the Markdown and the HTML always hold the same headings, tables and figures.
 *
 * Invariants:
 *  1. The first error sticks in pg->st and every later call does nothing; the caller checks
 *     once at the end, and a failed report never commits a truncated index.html.
 *  2. A plot that gnuplot could not draw leaves a visible note where the figure would be and
 *     its reason in pg->plot_error (the first one); the rest of the report is still written.
 *  3. Tables from SQL take their columns from the query's result (sqlite3_column_name), and
 *     drop a column that is NULL in every row: a metric added by a later schema migration or
 *     a new key in a JSON config shows up in the report without a code change. */
#ifndef QB_REPORT_PAGE_H
#define QB_REPORT_PAGE_H

#include <stdio.h>

#include "../common/io.h"
#include "../common/table.h"
#include "../results/db.h"
#include "gnuplot.h"

typedef struct qb_page {
    qb_db *db;
    const char *out_dir;
    qb_outfile md, html;
    qb_status st;
    char *plot_error;      /* first plot that was not drawn, one line */
    char **files;          /* every file written besides index.*, names relative to out_dir */
    int nfiles;
} qb_page;

qb_status qb_page_open(qb_page *pg, qb_db *db, const char *out_dir, const char *title);
/* Ends the document and commits both files (or removes them when pg->st is set). */
qb_status qb_page_close(qb_page *pg);
void qb_page_free(qb_page *pg);

void qb_page_heading(qb_page *pg, int level, const char *text, const char *anchor);
/* The anchor of run_id's section of `kind` ("evals", "errors", "bench", "trends"): both the
 * table of contents (report.c) and the section's heading use it. Heap string. */
char *qb_page_run_anchor(const char *kind, const char *run_id);
/* A run's section heading "TITLE (run 1234abcd)", or "(up to run …)" with up_to, anchored so. */
void qb_page_run_heading(qb_page *pg, const char *kind, const char *title, const char *run_id, int up_to);
/* A line of links to in-page anchors (HTML only: Markdown viewers build their own). */
void qb_page_nav(qb_page *pg, const char *const *labels, const char *const *anchors, int n);
void qb_page_para(qb_page *pg, const char *text);           /* plain text, escaped */
void qb_page_note(qb_page *pg, const char *text);           /* smaller, grey */
void qb_page_warn(qb_page *pg, const char *label, const char *text);
void qb_page_fields(qb_page *pg, const char *const *keys, char *const *vals, int n, int bad_key);
void qb_page_table(qb_page *pg, const qb_table *t);
/* Folds what follows, until qb_page_unfold, under a one-line summary in HTML (<details>),
 * for long tables a reader opens on demand; Markdown shows it unfolded. */
void qb_page_fold(qb_page *pg, const char *summary);
void qb_page_unfold(qb_page *pg);
/* Writes t as NAME (a CSV in out_dir) and links it in a note. */
void qb_page_csv(qb_page *pg, const qb_table *t, const char *name, const char *what);
/* Runs `sql` with the text parameters ?1.. = params[], builds a table from its result as
 * invariant 3 says (skip: column names left out), 4 significant digits for humans, full
 * precision in the CSV `csv_name` (NULL: none). A result wider than QB_PAGE_MAX_COLS is shown
 * as several tables, each repeating the first `lead` columns (what identifies a row).
 * Returns the number of rows. */
enum { QB_PAGE_MAX_COLS = 16 };
int qb_page_sql_table(qb_page *pg, const char *sql, const char *const *params, int nparams, const char *const *skip, int lead,
                      const char *csv_name, const char *what);
/* Draws the plot and shows it: SVG inline in HTML, the SVG file in Markdown, PNG linked. */
void qb_page_plot(qb_page *pg, const qb_plot *p, const char *caption);
/* Records a file written into out_dir (for --json and the summary). */
void qb_page_add_file(qb_page *pg, const char *name);

/* Markdown-escaped text. */
void qb_put_md(FILE *f, const char *s);

#endif
