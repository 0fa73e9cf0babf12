/* quant_errors.h — the tensor-error job shared by `quantbench errors` and the suites: for
 * every weight source × tensor × format, quantize, dequantize, measure (metrics.h) and
 * commit one tensor_errors row at once. Rows the run already holds are skipped, which is
 * what makes --resume continue a killed run. */
#ifndef QB_QUANT_ERRORS_H
#define QB_QUANT_ERRORS_H

#include <signal.h>

#include "../formats/format.h"
#include "../results/db.h"

typedef struct qb_errors_job {
    const char *const *sources; /* weight-source specs (datasets/source.h) */
    int nsources;
    const qb_format *const *formats;
    int nformats;
    uint64_t seed;
    /* 1: a format whose block does not divide a source's rows is skipped with a note on
     * stderr (formats chosen as "all"); 0: it is an error (formats the user named) */
    int skip_misfits;
} qb_errors_job;

/* Called for each row, stored now or found stored by an earlier attempt (resumed = 1). */
typedef void (*qb_errors_row_fn)(void *ctx, const char *source_name, const qb_tensor_error *row, int resumed);

/* Set from a signal handler: the job stops between measurements and returns QB_ERUNTIME. */
extern volatile sig_atomic_t qb_interrupted;

qb_status qb_errors_run(qb_db *db, const char *run_id, const qb_errors_job *job, qb_errors_row_fn fn, void *ctx);

#endif
