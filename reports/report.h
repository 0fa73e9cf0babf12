/* report.h — the report of one or more runs, rendered from the results database alone into
 * one directory that can be copied elsewhere: index.html (self-contained: CSS and every plot
 * inline as SVG, nothing loaded from the network), index.md, a CSV per table, and per plot its
 * data, gnuplot script and SVG/PNG images. Parts: the runs and machines; a selection guide
 * (format, bits/weight, model sizes, accuracy loss, speed, hardware support, recommendation);
 * a model run (accuracy, speed and memory per format in one table, the speed/accuracy
 * trade-off); model evaluation (ΔPPL and KLD against bits/weight with the Pareto front); quantization
 * error (tables, SQNR vs bits, per-tensor heat maps); throughput (bars with error bars,
 * roofline); nightly trends of the same command, suite and machine. */
#ifndef QB_REPORT_H
#define QB_REPORT_H

#include "../common/qb.h"
#include "../results/db.h"

typedef struct qb_report_out {
    char **run_ids;   /* the runs reported [nruns] */
    int nruns;
    char *run_id;     /* run_ids[0] */
    char *index_html, *index_md;
    char *csv, *plot_svg, *plot_png; /* the first errors run's errors.csv and SQNR plot, or NULL */
    int n_rows;       /* tensor_errors rows of that run */
    char **files;     /* every other file written, relative to out_dir [nfiles] */
    int nfiles;
    char *plot_error; /* one line when a plot could not be drawn, else NULL */
} qb_report_out;

/* Writes the report of runs run_ids[0..nruns) (full ids or unique prefixes) into out_dir;
 * nruns == 0 reports the newest run of each kind that stored results (errors, eval, model
 * speed, bench).
 * Reads ONLY the database. If gnuplot is missing or fails, it still writes every table and
 * every plot's data and script, sets out->plot_error to a one-line message and returns
 * QB_ERUNTIME with it. On any other error *out is left empty. */
qb_status qb_report_write(qb_db *db, const char *const *run_ids, int nruns, const char *out_dir, qb_report_out *out);
void qb_report_out_free(qb_report_out *out);

#endif
