/* format.h — the format interface: one struct of traits and function pointers per numeric
 * format, all of them in one table (registry.c), in the spirit of ggml's type traits.
 *
 * Storage model. A tensor of rows × cols values is stored row after row; a row is
 * cols / block_elems blocks of block_bytes each, preceded by row_extra_bytes (a per-row
 * scale), and the whole tensor is preceded by tensor_extra_bytes (a per-tensor scale).
 * Scalar formats have block_elems = 1. qb_format_bytes() gives the exact size; bits per
 * weight are 8·bytes / (rows·cols), scales included.
 *
 * Invariants:
 *  1. quantize and dequantize are never NULL: qb_formats_init() fills them from the
 *     reference paths and then overrides them where this CPU has a faster kernel (BLIS's
 *     habit), so callers never test for NULL.
 *  2. Every fast path gives the same bytes (quantize) and the same bits (dequantize) as its
 *     reference path; formats/tests/test_formats.c checks this for every row of the table.
 *  3. A format's name is its permanent key in the results database; never reuse one.
 *  4. Error bound: for every element, |x − x̂| ≤ err_rel·|x| + err_block·amax(block) +
 *     err_abs, for finite inputs inside the format's range (round-trip tests use it). */
#ifndef QB_FORMAT_H
#define QB_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "../common/qb.h"

enum {
    QB_FMT_HAS_NAN = 1u << 0,   /* NaN and ±Inf inputs are representable and encode as such */
    QB_FMT_USES_IMP = 1u << 1,  /* quantize reads per-column importance weights */
};

typedef struct qb_format {
    const char *name;          /* database key, e.g. "f16", "int8_sym_row" */
    const char *family;        /* "ieee", "int", later "minifloat", "mx", "ggml", "bnb" */
    const char *description;   /* one line for `quantbench formats` */
    int32_t block_elems;       /* elements per block (1 for scalar formats) */
    int32_t block_bytes;       /* bytes per block */
    int32_t row_extra_bytes;   /* bytes stored once per row before its blocks */
    int32_t tensor_extra_bytes;/* bytes stored once per tensor before its rows */
    int32_t gguf_type;         /* GGUF/ggml type id, or -1 */
    uint32_t flags;            /* QB_FMT_* */
    double err_rel, err_block, err_abs; /* documented error bound, invariant 4 */

    /* x: rows × cols floats, row-major; q: qb_format_bytes(rows, cols) bytes; imp: cols
     * importance weights or NULL. Returns QB_OK or QB_EINPUT with the row/column named
     * (e.g. a NaN in a format that has none). */
    qb_status (*quantize_ref)(const float *x, void *q, int64_t rows, int64_t cols, const float *imp);
    /* Any bytes decode (hostile input yields NaN or garbage values, never a crash). */
    void (*dequantize_ref)(const void *q, float *y, int64_t rows, int64_t cols);

    /* Fast paths (invariant 1) and which implementation fills them ("ref", "f16c", "avx2"). */
    qb_status (*quantize)(const float *x, void *q, int64_t rows, int64_t cols, const float *imp);
    void (*dequantize)(const void *q, float *y, int64_t rows, int64_t cols);
    const char *impl;
} qb_format;

/* Fills the fast paths; idempotent, call once before using the table (the CLI does). */
void qb_formats_init(void);
int qb_format_count(void);
const qb_format *qb_format_at(int i);
/* NULL when unknown; qb_format_require() instead fails with QB_EUSAGE listing valid names. */
const qb_format *qb_format_find(const char *name);
qb_status qb_format_require(const char *name, const qb_format **out);

/* Bytes needed for rows × cols; QB_EINPUT when cols is not a multiple of block_elems or the
 * size overflows. */
qb_status qb_format_bytes(const qb_format *f, int64_t rows, int64_t cols, size_t *out);
/* Bits per weight for a shape, scales included. */
double qb_format_bpw(const qb_format *f, int64_t rows, int64_t cols);

/* Per-architecture fast paths override table entries from here (formats/x86/). */
void qb_formats_init_x86(qb_format *const *table, int n);

/* Shared helpers for modules: IEEE half and bfloat16 conversions (reference semantics of
 * FORMATS.md §1.2–1.3) and NaN validation with a precise message. */
uint16_t qb_f32_to_f16(float x);
float qb_f16_to_f32(uint16_t h);
uint16_t qb_f32_to_bf16(float x);
float qb_bf16_to_f32(uint16_t h);
qb_status qb_check_finite(const float *x, int64_t rows, int64_t cols, const char *fmt_name);

#endif
