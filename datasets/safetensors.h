/* safetensors.h — a validating reader of Hugging Face's safetensors files, memory-mapped, so
 * a checkpoint can be the unquantized reference of a comparison.
 *
 * File: u64 LE header length N | N bytes of UTF-8 JSON (may end in spaces) | data buffer.
 * The JSON maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
 * relative to the data buffer) plus an optional "__metadata__" string map. Accepted only
 * when: N ≤ 100 MB and inside the file; the header is valid UTF-8 and valid JSON with no
 * duplicate keys; every dtype is known and end − begin = elements × dtype size; the tensors,
 * sorted by offset, tile the data buffer exactly (no gap, no overlap, no trailing bytes). */
#ifndef QB_SAFETENSORS_H
#define QB_SAFETENSORS_H

#include <stdint.h>

#include "../common/io.h"
#include "../common/qb.h"

#define QB_ST_MAX_DIMS 8

typedef struct qb_st_tensor {
    char *name;
    char dtype[12];        /* "F32", "BF16", "F8_E4M3", … as in the file */
    const char *format;    /* registry format that decodes it ("f32", "f16", "bf16", …), or NULL */
    int elem_bytes;
    int n_dims;
    int64_t shape[QB_ST_MAX_DIMS]; /* as stored: shape[n_dims − 1] is contiguous */
    uint64_t begin, end;   /* byte range in the data buffer */
    const void *data;      /* begin inside the map */
} qb_st_tensor;

typedef struct qb_safetensors {
    qb_map map;
    const char *path;
    int n;                 /* tensors, in file order of the header */
    qb_st_tensor *tensors;
    char *metadata;        /* "__metadata__" as JSON text, or NULL */
} qb_safetensors;

qb_status qb_safetensors_open(qb_safetensors *s, const char *path);
/* The same checks over a buffer the caller keeps alive (the fuzz target uses it). */
qb_status qb_safetensors_open_mem(qb_safetensors *s, const void *data, size_t size, const char *name);
void qb_safetensors_close(qb_safetensors *s);
const qb_st_tensor *qb_safetensors_find(const qb_safetensors *s, const char *name);

#endif
