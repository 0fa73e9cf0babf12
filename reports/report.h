/* report.h — the report of one run, rendered from the results database alone: a header with
 * the run and its machine, one error table per weight source (Markdown, HTML, and one CSV of
 * every row), and a plot of SQNR against bits per weight drawn by gnuplot. Everything lands in
 * one directory that can be copied elsewhere: index.html embeds its CSS and the SVG plot and
 * loads nothing from the network. */
#ifndef QB_REPORT_H
#define QB_REPORT_H

#include "../common/qb.h"
#include "../results/db.h"

/* The files written, as paths joined onto out_dir (heap strings, NULL when not written). */
typedef struct qb_report_out {
    char *run_id;     /* the run reported: the one asked for, or the newest with results */
    char *index_html, *index_md, *csv, *plot_svg, *plot_png;
    int n_rows;       /* tensor_errors rows of the run */
    char *plot_error; /* one line when the plot could not be drawn, else NULL */
} qb_report_out;

/* Writes DIR/index.md, DIR/index.html, DIR/errors.csv and the plot files for run `run_id`
 * (a full id or a unique prefix; NULL = the newest run with results, via qb_db_latest_run),
 * reading ONLY the database. On success fills *out (paths the caller prints). If gnuplot is
 * not installed or fails, it still writes all tables, the plot's data and script, sets
 * out->plot_error to a one-line message, and returns QB_ERUNTIME with that message. On any
 * other error *out is left empty. */
qb_status qb_report_write(qb_db *db, const char *run_id, const char *out_dir, qb_report_out *out);
void qb_report_out_free(qb_report_out *out);

#endif
