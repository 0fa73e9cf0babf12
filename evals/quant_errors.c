/* quant_errors.c — see quant_errors.h. One source is open at a time, and one chunk of rows
 * (CHUNK_VALUES values) is alive in three copies (float32, quantized, dequantized), so memory
 * stays near 12 bytes per chunk value whatever the model's size. Formats with per-tensor data
 * take a whole tensor per chunk, since their scale spans it. */
#include "quant_errors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../datasets/source.h"
#include "metrics.h"

#define CHUNK_VALUES (1 << 22)


typedef struct scheme {
    const char *name;
    const qb_format *format; /* NULL for a file type */
    const qb_mix *mix;
} scheme;

/* The format tensor i gets under scheme sc (NULL: skipped, with a note). */
static qb_status tensor_format(const qb_errors_job *job, const qb_source *src, int i, const scheme *sc, const qb_format **out) {
    const qb_tensor *t = &src->tensors[i];
    const qb_mix_model *info = qb_source_model_info(src);
    *out = NULL;
    if (sc->mix) {
        if (!info) return qb_fail(QB_EUSAGE, "file type %s needs a model file as --weights, not '%s'", sc->name, src->spec);
        const qb_model_tensor *mt = &src->model->t[src->model_index[i]];
        return qb_mix_tensor_type(sc->mix, info, t->name, mt->ne, out);
    }
    if (info) {
        *out = qb_mix_fallback(sc->format, t->cols); /* what quantize would write */
        return QB_OK;
    }
    if (t->cols % sc->format->block_elems == 0) {
        *out = sc->format;
        return QB_OK;
    }
    if (!job->skip_misfits)
        return qb_fail(QB_EINPUT, "%s stores blocks of %d values; rows of %lld values in '%s' are not a multiple of %d", sc->name,
                       sc->format->block_elems, (long long)t->cols, src->spec, sc->format->block_elems);
    qb_progress_done();
    fprintf(stderr, "note: %s skipped for %s: its blocks of %d do not divide rows of %lld values\n", sc->name, src->name,
            sc->format->block_elems, (long long)t->cols);
    return QB_OK;
}

/* Quantizes and dequantizes tensor i in chunks, accumulating the error. */
static qb_status measure(const qb_source *src, int i, const qb_format *f, int threads, qb_erracc *acc, float *x, float *y,
                         void *q) {
    const qb_tensor *t = &src->tensors[i];
    int64_t chunk = f->tensor_extra_bytes ? t->rows : CHUNK_VALUES / t->cols > 0 ? CHUNK_VALUES / t->cols : 1;
    for (int64_t r0 = 0; r0 < t->rows; r0 += chunk) {
        if (qb_interrupted) return qb_fail(QB_ERUNTIME, "interrupted; completed rows are stored, continue with --resume");
        int64_t nr = r0 + chunk > t->rows ? t->rows - r0 : chunk;
        qb_status st = qb_source_rows(src, i, r0, nr, x);
        if (!st) st = qb_format_quantize_mt(f, x, q, nr, t->cols, NULL, threads);
        if (st) return st;
        qb_format_dequantize_mt(f, q, y, nr, t->cols, threads);
        qb_erracc_add(acc, x, y, nr * t->cols);
        qb_source_release(src, i, r0, nr);
    }
    return QB_OK;
}

static void fill_stats(qb_tensor_error *e, const qb_erracc *acc) {
    qb_errstats es;
    qb_erracc_stats(acc, &es);
    e->mse = es.mse, e->rmse = es.rmse, e->max_abs = es.max_abs, e->sqnr_db = es.sqnr_db, e->cosine = es.cosine;
    e->p50_abs = es.p50_abs, e->p95_abs = es.p95_abs, e->p99_abs = es.p99_abs, e->p999_abs = es.p999_abs;
}

/* Reads a stored row and its accumulator (for the total); 1 when the run holds it. */
static int stored(qb_db *db, const char *run_id, qb_tensor_error *e, qb_erracc *acc) {
    if (!qb_db_get_tensor_error(db, run_id, e)) return 0;
    sqlite3_stmt *s;
    char *json = NULL;
    if (sqlite3_prepare_v2(db->h, "SELECT hist FROM tensor_errors WHERE run_id=? AND input_id=? AND tensor=? AND format=?", -1,
                           &s, NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, run_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, e->input_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, e->tensor, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, e->format, -1, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0)) json = qb_strdup((const char *)sqlite3_column_text(s, 0));
        sqlite3_finalize(s);
    }
    int ok = qb_erracc_from_json(acc, json);
    free(json);
    return ok ? 1 : -1; /* -1: stored without sums (an older row): measured again for the total */
}

static qb_status run_scheme(qb_db *db, const char *run_id, const qb_errors_job *job, const qb_source *src, const scheme *sc,
                            qb_errors_row_fn fn, void *ctx, int64_t *done, int64_t total, float *x, float *y, void *q) {
    qb_erracc *acc = qb_malloc(sizeof *acc), *sum = qb_malloc(sizeof *sum);
    qb_erracc_init(sum);
    double bytes = 0, elems = 0;
    int multi = src->ntensors > 1, measured = 0;
    qb_status st = QB_OK;
    for (int i = 0; i < src->ntensors && !st; i++) {
        const qb_tensor *t = &src->tensors[i];
        char label[200];
        snprintf(label, sizeof label, "%s %s × %s", src->name, t->name, sc->name);
        qb_progress(++*done, total, label);
        const qb_format *f;
        if ((st = tensor_format(job, src, i, sc, &f)) || !f) continue;
        qb_tensor_error e = {.input_id = src->id, .tensor = t->name, .format = sc->name, .rows = t->rows, .cols = t->cols,
                             .tensor_format = f != sc->format ? f->name : NULL};
        size_t nb = 0;
        qb_format_bytes(f, t->rows, t->cols, &nb);
        e.bits_per_weight = 8.0 * (double)nb / ((double)t->rows * (double)t->cols);
        int have = stored(db, run_id, &e, acc);
        if (have == 1) {
            if (fn) fn(ctx, src->name, &e, 1);
        } else {
            qb_erracc_init(acc);
            if ((st = measure(src, i, f, job->threads, acc, x, y, q))) break;
            fill_stats(&e, acc);
            char *json = qb_erracc_json(acc);
            e.hist = json;
            if (have == 0) st = qb_db_put_tensor_error(db, run_id, &e);
            free(json);
            if (!st && fn && have == 0) fn(ctx, src->name, &e, 0);
        }
        qb_erracc_merge(sum, acc);
        bytes += (double)nb, elems += (double)t->rows * (double)t->cols;
        measured++;
    }
    if (!st && multi && measured) {
        qb_tensor_error e = {.input_id = src->id, .tensor = QB_TOTAL_TENSOR, .format = sc->name, .rows = (int64_t)elems, .cols = 1,
                             .bits_per_weight = 8 * bytes / elems};
        if (stored(db, run_id, &e, acc) == 1) { /* acc is free again: it only receives the stored copy */
            if (fn) fn(ctx, src->name, &e, 1);
        } else {
            fill_stats(&e, sum);
            char *json = qb_erracc_json(sum);
            e.hist = json;
            st = qb_db_put_tensor_error(db, run_id, &e);
            free(json);
            if (!st && fn) fn(ctx, src->name, &e, 0);
        }
    }
    free(acc);
    free(sum);
    return st;
}

qb_status qb_errors_run(qb_db *db, const char *run_id, const qb_errors_job *job, qb_errors_row_fn fn, void *ctx) {
    int nschemes = job->nformats + job->nmixes;
    scheme *schemes = qb_calloc((size_t)(nschemes ? nschemes : 1), sizeof *schemes);
    for (int k = 0; k < job->nformats; k++) schemes[k] = (scheme){job->formats[k]->name, job->formats[k], NULL};
    for (int k = 0; k < job->nmixes; k++) schemes[job->nformats + k] = (scheme){job->mixes[k]->name, NULL, job->mixes[k]};
    float *x = qb_malloc(sizeof(float) * CHUNK_VALUES), *y = qb_malloc(sizeof(float) * CHUNK_VALUES);
    void *q = qb_malloc(sizeof(float) * CHUNK_VALUES);
    int64_t done = 0;
    qb_status st = QB_OK;
    int shards = job->shard_n > 1 ? job->shard_n : 1;
    for (int i = 0; i < job->nsources && !st; i++) {
        int mine = 0; /* schemes of this source in our shard */
        for (int k = 0; k < nschemes; k++) mine += ((int64_t)i * nschemes + k) % shards == job->shard_i;
        if (!mine) continue;
        qb_source src;
        if ((st = qb_source_open(&src, job->sources[i], job->seed))) break;
        /* a whole-tensor chunk (formats with per-tensor scales) may exceed the buffers */
        int64_t largest = 0;
        for (int k = 0; k < src.ntensors; k++)
            if (src.tensors[k].rows * src.tensors[k].cols > largest) largest = src.tensors[k].rows * src.tensors[k].cols;
        if (largest > CHUNK_VALUES) {
            x = qb_realloc(x, sizeof(float) * (size_t)largest), y = qb_realloc(y, sizeof(float) * (size_t)largest);
            q = qb_realloc(q, sizeof(float) * (size_t)largest);
        }
        qb_input in = {src.id, src.kind, src.name, src.spec, src.content_hash, src.tensors[0].rows, src.tensors[0].cols};
        if (src.ntensors > 1) in.rows = src.ntensors, in.cols = 0; /* a model: its tensor count */
        st = qb_db_put_input(db, &in);
        int64_t total = (int64_t)job->nsources * nschemes * src.ntensors / shards;
        for (int k = 0; k < nschemes && !st; k++)
            if (((int64_t)i * nschemes + k) % shards == job->shard_i) st = run_scheme(db, run_id, job, &src, &schemes[k], fn, ctx, &done, total, x, y, q);
        qb_source_close(&src);
    }
    qb_progress_done();
    free(x), free(y), free(q), free(schemes);
    return st;
}
