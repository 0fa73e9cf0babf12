/* imatrix.h — importance matrices as llama.cpp writes them (FORMATS.md §10.3): per weight
 * matrix, the mean squared activation of each input column over calibration tokens, one row
 * of ne[0] values per expert. Both of llama-imatrix's file forms are read:
 *   GGUF    tensors NAME.in_sum2 (F32 [n_per_row, n_mat]) and NAME.counts (F32 [1, n_mat]);
 *           importance = in_sum2 / counts per expert, 1 where an expert saw no token (as
 *           llama-quantize does); general.type = "imatrix", imatrix.datasets, chunk keys;
 *   legacy  ".dat": i32 n_entries, then per entry i32 name length, name, i32 ncall, i32 nval,
 *           nval floats holding (Σx²/count)·ncall; importance = value/ncall; then optionally
 *           i32 chunk count, i32 length and the dataset name.
 * Every count and length is checked against the bytes left before use.
 * qb_imatrix_save writes the GGUF form as llama-imatrix does (tools/imatrix, save_imatrix):
 * KVs general.type = "imatrix", imatrix.datasets (string array), imatrix.chunk_count and
 * imatrix.chunk_size (u32); per entry, in name order, NAME.in_sum2 F32 [n_per_row, n_mat] =
 * importance · count and NAME.counts F32 [1, n_mat], so llama-quantize and our reader get the
 * same importance back (to float rounding of the product and quotient). */
#ifndef QB_IMATRIX_H
#define QB_IMATRIX_H

#include <stdint.h>

#include "../common/qb.h"

typedef struct qb_imatrix_entry {
    char *name;        /* the weight tensor, e.g. "blk.0.attn_q.weight" */
    int64_t n_per_row; /* importance values per expert = the weight's ne[0] */
    int64_t n_mat;     /* experts (1 for a dense weight) */
    float *values;     /* [n_mat][n_per_row], all finite and ≥ 0 */
    float *counts;     /* [n_mat] calibration tokens per expert (GGUF), or ncall (.dat) */
} qb_imatrix_entry;

typedef struct qb_imatrix {
    int n;
    qb_imatrix_entry *e;
    char *dataset;     /* the calibration text's name, when the file records one */
    int64_t chunks;    /* chunks of calibration text, when recorded (else 0) */
    int64_t chunk_size;/* tokens per chunk, when recorded (GGUF; else 0) */
} qb_imatrix;

qb_status qb_imatrix_load(qb_imatrix *im, const char *path);
/* The legacy form from memory (the fuzz target and tests use it). */
qb_status qb_imatrix_load_dat_mem(qb_imatrix *im, const void *data, size_t size, const char *name);
void qb_imatrix_free(qb_imatrix *im);
const qb_imatrix_entry *qb_imatrix_find(const qb_imatrix *im, const char *tensor);
/* Adds an entry (name copied) with n_mat · n_per_row values and n_mat counts, zeroed, for the
 * caller to fill; the pointer stays valid until the next add or free. */
qb_imatrix_entry *qb_imatrix_add(qb_imatrix *im, const char *name, int64_t n_per_row, int64_t n_mat);
/* The GGUF form (above); written to a temporary name and renamed into place. */
qb_status qb_imatrix_save(const qb_imatrix *im, const char *path);

#endif
