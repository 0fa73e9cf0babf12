/* quant_errors.h — the tensor-error job shared by `quantbench errors` and the suites: for
 * every weight source × scheme × tensor, quantize, dequantize and measure (metrics.h) a chunk
 * of rows at a time, and commit one tensor_errors row as soon as a tensor is done. A scheme is
 * a registry format or a llama.cpp file type (formats/mixes.h: each tensor gets the format the
 * policy gives it). A source with several tensors (a model file) also gets a '(total)' row per
 * scheme, weighted by element count. Rows the run already holds are skipped (and merged into
 * the total from their stored sums), which is what makes --resume continue a killed run. */
#ifndef QB_QUANT_ERRORS_H
#define QB_QUANT_ERRORS_H

#include "../formats/format.h"
#include "../formats/mixes.h"
#include "../results/db.h"

typedef struct qb_errors_job {
    const char *const *sources; /* weight-source specs (datasets/source.h) */
    int nsources;
    const qb_format *const *formats;
    int nformats;
    uint64_t seed;
    /* 1: a format whose block does not divide a source's rows is skipped with a note on
     * stderr (formats chosen as "all"); 0: it is an error (formats the user named). Model
     * files instead take llama.cpp's fallback format for such tensors, as quantize does. */
    int skip_misfits;
    const qb_mix *const *mixes; /* llama.cpp file types: need model-file sources */
    int nmixes;
    int threads;
    /* --shard I/N: only the (source, scheme) pairs whose index in source-major order is I mod N
     * (shard_n 0 or 1: all). Deterministic, so N machines with the same build and options
     * measure disjoint parts of one sweep, to be merged with `quantbench merge`. */
    int shard_i, shard_n;
} qb_errors_job;

/* Called for each row, stored now or found stored by an earlier attempt (resumed = 1). */
typedef void (*qb_errors_row_fn)(void *ctx, const char *source_name, const qb_tensor_error *row, int resumed);

qb_status qb_errors_run(qb_db *db, const char *run_id, const qb_errors_job *job, qb_errors_row_fn fn, void *ctx);

#endif
