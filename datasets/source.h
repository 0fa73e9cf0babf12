/* source.h — weight sources: where the tensors that formats are measured on come from.
 *
 * A source is named by a spec string:
 *   synthetic:NAME[:ROWSxCOLS]  seeded generator (gaussian, laplace, student_t, uniform,
 *                               outliers), default 256x4096, σ ≈ 0.02 like LLM weights
 *   raw:PATH[:COLS]             a little-endian float32 file, memory-mapped (one row if no COLS)
 *   PATH                        a model: .gguf, .safetensors, or a checkpoint directory; its
 *                               quantizable tensors (2-D+ weights, as llama-quantize picks them)
 * Tensors are read a chunk of rows at a time as float32, so a model larger than memory can be
 * measured; every value read is checked to be finite. */
#ifndef QB_SOURCE_H
#define QB_SOURCE_H

#include <stdint.h>

#include "../common/io.h"
#include "../common/qb.h"
#include "model.h"

typedef struct qb_tensor {
    const char *name;   /* "" for a source that is one matrix */
    int64_t rows, cols;
    const float *data;  /* in-memory sources (synthetic, raw); NULL for model files */
} qb_tensor;

typedef struct qb_source {
    char *kind;          /* "synthetic", "raw", "gguf", "safetensors" */
    char *name;          /* generator name or file base name */
    char *spec;          /* canonical spec incl. seed: how to get the same data again */
    char *id;            /* kind:name:shape-or-size:content-hash, the inputs table key */
    char content_hash[17];
    int ntensors;
    qb_tensor *tensors;
    float *owned;        /* generated data */
    qb_map map;          /* mapped raw file */
    qb_model *model;     /* model files: tensors[i] is model->t[model_index[i]] */
    int *model_index;
} qb_source;

/* Opens the source (synthetic data is generated now and checked finite). */
qb_status qb_source_open(qb_source *s, const char *spec, uint64_t seed);
void qb_source_close(qb_source *s);

/* Rows [r0, r0 + nr) of tensor i as float32; QB_EINPUT naming the tensor, row and column
 * of the first NaN or Inf. */
qb_status qb_source_rows(const qb_source *s, int i, int64_t r0, int64_t nr, float *out);
/* Drops the consumed rows of a memory-mapped model from the resident set. */
void qb_source_release(const qb_source *s, int i, int64_t r0, int64_t nr);
/* What the llama.cpp file-type policy needs (NULL unless the source is a model file). */
const qb_mix_model *qb_source_model_info(const qb_source *s);

/* Names of the synthetic generators, NULL-terminated. */
extern const char *const qb_synthetic_names[];
#define QB_SYNTHETIC_DEFAULT_ROWS 256
#define QB_SYNTHETIC_DEFAULT_COLS 4096

/* Fills out[rows × cols] from generator `name`; QB_EUSAGE listing the names when unknown. */
qb_status qb_synthetic_fill(const char *name, int64_t rows, int64_t cols, uint64_t seed, float *out);

/* xoshiro256** seeded by splitmix64: the same stream on every platform. */
typedef struct qb_rng {
    uint64_t s[4];
} qb_rng;
void qb_rng_seed(qb_rng *r, uint64_t seed);
uint64_t qb_rng_next(qb_rng *r);
double qb_rng_uniform(qb_rng *r); /* [0, 1), 53 random bits */
double qb_rng_normal(qb_rng *r);  /* N(0, 1), Box–Muller */

#endif
