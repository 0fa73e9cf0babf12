/* sections.h — the parts of the report page, each drawn from the database for one run
 * (report.c picks the runs and calls them in page order). Shared by reports/ only. */
#ifndef QB_REPORT_SECTIONS_H
#define QB_REPORT_SECTIONS_H

#include "page.h"

/* A run and the machine it ran on, as stored. */
typedef struct qb_run_meta {
    char *id, *command, *suite, *status, *started_at, *finished_at, *version, *git_commit, *error, *machine_id;
    char *hostname, *cpu_model, *cpu_flags, *os, *kernel, *compiler, *cflags, *openblas, *onednn, *gpus;
    int64_t cores, mem_bytes;
    double duration_s; /* NaN while the run has no finish time */
    int n_errors, n_evals, n_bench, n_speed; /* rows of each kind the run stored (n_speed: model_speed) */
    int n_bench_formats;                     /* bench_cases of a format (not the machine's limits) */
} qb_run_meta;

/* Quantization error tables, SQNR-vs-bits plot and per-tensor heat maps; returns the rows. */
int qb_section_errors(qb_page *pg, const qb_run_meta *run, const char *csv_name, const char *plot_name);
/* Model evaluation: table and bits/weight vs ΔPPL and vs KLD with the Pareto front. */
void qb_section_evals(qb_page *pg, const qb_run_meta *run);
/* The same without its heading, the table folded when `folded` (the model run's details). */
void qb_section_evals_body(qb_page *pg, const qb_run_meta *run, int folded);
/* Model run (`run --model`): accuracy, speed and memory per format in one table with the
 * guide's verdicts, the speed/accuracy trade-off and the pp/tg bars; then evals' details. */
void qb_section_model(qb_page *pg, const qb_run_meta *run);
/* Throughput bars, roofline, limits and the case table. */
void qb_section_bench(qb_page *pg, const qb_run_meta *run);
/* Headline metrics over every run of the same command, suite and machine. */
void qb_section_trends(qb_page *pg, const qb_run_meta *run);
/* The selection guide from an eval run and/or a bench run (either may be NULL). */
void qb_section_guide(qb_page *pg, const qb_run_meta *eval, const qb_run_meta *bench, const qb_run_meta *machine);

/* Helpers shared by the sections. */
_Noreturn void qb_memstream_failed(void); /* open_memstream only fails without memory */
char *qb_col_str(sqlite3_stmt *s, int i);   /* heap copy, NULL for NULL */
sqlite3_stmt *qb_page_prepare(qb_page *pg, const char *sql, const char *what, const char *param);
/* Anchor-safe and file-safe form of a name (heap): [A-Za-z0-9_-], others '_'. */
char *qb_slug(const char *s);

#endif
