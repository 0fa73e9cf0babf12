/* source.h — weight sources: where the tensors that formats are measured on come from.
 *
 * A source is named by a spec string:
 *   synthetic:NAME[:ROWSxCOLS]  seeded generator (gaussian, laplace, student_t, uniform,
 *                               outliers), default 256x4096, σ ≈ 0.02 like LLM weights
 *   raw:PATH[:COLS]             a little-endian float32 file, memory-mapped (one row if no COLS)
 * Later sources (GGUF, safetensors) yield many tensors through the same iteration. */
#ifndef QB_SOURCE_H
#define QB_SOURCE_H

#include <stdint.h>

#include "../common/io.h"
#include "../common/qb.h"

typedef struct qb_tensor {
    const char *name; /* "" for a source that is one matrix */
    int64_t rows, cols;
    const float *data;
} qb_tensor;

typedef struct qb_source {
    char *kind;          /* "synthetic", "raw" */
    char *name;          /* generator name or file base name */
    char *spec;          /* canonical spec incl. seed: how to get the same data again */
    char *id;            /* kind:name:shape:content-hash, the inputs table key */
    char content_hash[17];
    int ntensors;
    qb_tensor tensor;    /* the one tensor of the sources implemented so far */
    float *owned;        /* generated data */
    qb_map map;          /* mapped file */
} qb_source;

/* Opens and (for synthetic) generates the source. Checks every value is finite and names
 * the first bad one (row, column) so no NaN silently poisons a metric. */
qb_status qb_source_open(qb_source *s, const char *spec, uint64_t seed);
void qb_source_close(qb_source *s);

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
