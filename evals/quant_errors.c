/* quant_errors.c — see quant_errors.h. One source is generated (or mapped) at a time and
 * one quantized copy is alive at a time, so memory stays at about 3× one tensor. */
#include "quant_errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../datasets/source.h"
#include "metrics.h"

volatile sig_atomic_t qb_interrupted;

static qb_status measure(const qb_format *f, const qb_tensor *t, qb_tensor_error *e) {
    size_t nbytes;
    qb_status st = qb_format_bytes(f, t->rows, t->cols, &nbytes);
    if (st) return st;
    void *q = qb_malloc(nbytes);
    float *y = qb_malloc((size_t)(t->rows * t->cols) * sizeof(float));
    st = f->quantize(t->data, q, t->rows, t->cols, NULL);
    if (!st) {
        f->dequantize(q, y, t->rows, t->cols);
        qb_errstats es;
        qb_error_stats(t->data, y, t->rows * t->cols, &es);
        e->rows = t->rows;
        e->cols = t->cols;
        e->bits_per_weight = 8.0 * (double)nbytes / ((double)t->rows * (double)t->cols);
        e->mse = es.mse;
        e->rmse = es.rmse;
        e->max_abs = es.max_abs;
        e->sqnr_db = es.sqnr_db;
        e->cosine = es.cosine;
    }
    free(q);
    free(y);
    return st;
}

qb_status qb_errors_run(qb_db *db, const char *run_id, const qb_errors_job *job, qb_errors_row_fn fn, void *ctx) {
    int64_t total = (int64_t)job->nsources * job->nformats, done = 0;
    for (int i = 0; i < job->nsources; i++) {
        qb_source src;
        qb_status st = qb_source_open(&src, job->sources[i], job->seed);
        if (st) return st;
        qb_input in = {src.id, src.kind, src.name, src.spec, src.content_hash, src.tensor.rows, src.tensor.cols};
        st = qb_db_put_input(db, &in);
        for (int k = 0; !st && k < job->nformats; k++) {
            const qb_format *f = job->formats[k];
            qb_tensor_error e = {.input_id = src.id, .tensor = src.tensor.name, .format = f->name};
            char label[160];
            snprintf(label, sizeof label, "%s × %s", src.name, f->name);
            qb_progress(++done, total, label);
            if (job->skip_misfits && src.tensor.cols % f->block_elems != 0) {
                qb_progress_done();
                fprintf(stderr, "note: %s skipped for %s: its blocks of %d do not divide rows of %lld values\n", f->name,
                        src.name, f->block_elems, (long long)src.tensor.cols);
                continue;
            }
            if (qb_interrupted) {
                st = qb_fail(QB_ERUNTIME, "interrupted; completed rows are stored, continue with --resume");
                break;
            }
            if (qb_db_get_tensor_error(db, run_id, &e)) {
                if (fn) fn(ctx, src.name, &e, 1);
                continue;
            }
            st = measure(f, &src.tensor, &e);
            if (!st) st = qb_db_put_tensor_error(db, run_id, &e);
            if (!st && fn) fn(ctx, src.name, &e, 0);
        }
        qb_source_close(&src);
        if (st) {
            qb_progress_done();
            return st;
        }
    }
    qb_progress_done();
    return QB_OK;
}
