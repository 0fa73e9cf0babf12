/* db.h — the results store: one SQLite file per user (default results/quantbench.db),
 * written by any number of processes at once.
 *
 * Open sets WAL, foreign_keys, busy_timeout and migrates the schema. Every write is its own
 * BEGIN IMMEDIATE transaction, committed as soon as the measurement exists (schema.c,
 * invariant 1), and retried while another writer holds the lock. */
#ifndef QB_DB_H
#define QB_DB_H

#include <sqlite3.h>

#include "../common/qb.h"
#include "../formats/format.h"
#include "fingerprint.h"

typedef struct qb_db {
    sqlite3 *h;
    char *path;
} qb_db;

/* Opens or creates the database (and its parent directory). QB_EDB with the path and how to
 * fix it when the file cannot be opened, is not ours, or is newer than this build. */
qb_status qb_db_open(qb_db *db, const char *path);
void qb_db_close(qb_db *db);

/* Runs `sql` (one or more statements, no parameters) in one BEGIN IMMEDIATE transaction. */
qb_status qb_db_exec(qb_db *db, const char *sql);

typedef struct qb_run_info {
    const char *command, *suite, *config, *argv;
    int64_t seed;
} qb_run_info;

/* Stores the machine and the registry's formats, inserts a run in state 'running', and
 * writes its UUID into run_id. */
qb_status qb_db_begin_run(qb_db *db, const qb_machine *m, const qb_run_info *ri, char run_id[37]);
/* Finds a run to continue: `want` (a UUID or unique prefix), or when NULL the newest
 * incomplete or failed run of `command` with the same config. Checks the config matches,
 * marks it 'running' under this process, and writes its id. */
qb_status qb_db_resume_run(qb_db *db, const qb_run_info *ri, const char *want, char run_id[37]);
/* status: "complete", "failed" or "incomplete"; error may be NULL. */
qb_status qb_db_finish_run(qb_db *db, const char *run_id, const char *status, const char *error);

typedef struct qb_input {
    const char *id, *kind, *name, *spec, *content_hash;
    int64_t rows, cols;
} qb_input;

qb_status qb_db_put_input(qb_db *db, const qb_input *in);

typedef struct qb_tensor_error {
    const char *input_id, *tensor, *format;
    int64_t rows, cols;
    double bits_per_weight, mse, rmse, max_abs, sqnr_db, cosine;
    const char *tensor_format;                  /* under a file type: the tensor's own format; else NULL */
    double p50_abs, p95_abs, p99_abs, p999_abs; /* NaN when not measured */
    const char *hist;                           /* JSON, or NULL */
} qb_tensor_error;

#define QB_TOTAL_TENSOR "(total)" /* tensor name of a model's element-weighted total row */

qb_status qb_db_put_tensor_error(qb_db *db, const char *run_id, const qb_tensor_error *e);
/* When the run already holds the row keyed by e->input_id, e->tensor, e->format, fills the
 * figures of *e (NULL columns as NaN) and returns 1; else 0. */
int qb_db_get_tensor_error(qb_db *db, const char *run_id, qb_tensor_error *e);

/* The run to report when none is named: the newest run that stored any result. */
qb_status qb_db_latest_run(qb_db *db, char run_id[37]);

/* Optional figures: NaN is "no value" and binds as NULL (±Inf, a lossless SQNR, is stored as
 * is); a count or size ≤ 0 is "unknown" and binds as NULL; a NULL column reads back as NaN. */
void qb_db_bind_real(sqlite3_stmt *s, int k, double v);
void qb_db_bind_pos(sqlite3_stmt *s, int k, int64_t v);
double qb_db_col_real(sqlite3_stmt *s, int k);

#endif
