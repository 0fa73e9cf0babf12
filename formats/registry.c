/* registry.c — the one table of formats. Adding a format is one module file and one row
 * here; tests, CLI and reports iterate the table. Rows are listed as families, then by
 * increasing bits per weight. */
#include "format.h"

#include <stdio.h>
#include <string.h>

#include "../common/parallel.h"

#define FORMATS(X)                                                                     \
    X(qb_format_f32) X(qb_format_tf32) X(qb_format_f16) X(qb_format_bf16) X(qb_format_f16_g32) X(qb_format_int8_sym_row) X(qb_format_int8_llm) \
    X(qb_format_fp8_e5m2) X(qb_format_fp8_e4m3) X(qb_format_fp8_e4m3_pc) X(qb_format_fp8_e4m3_pt) X(qb_format_fp6_e3m2) X(qb_format_fp6_e2m3) X(qb_format_fp4_e2m1) \
    X(qb_format_mxfp8_e4m3) X(qb_format_mxfp8_e5m2) X(qb_format_mxint8) X(qb_format_mxfp6_e3m2) X(qb_format_mxfp6_e2m3) X(qb_format_mxfp4_e2m1) X(qb_format_nvfp4_ts) \
    X(qb_format_int2_asym_g64) X(qb_format_int3_asym_g128) X(qb_format_int4_sym_pt) X(qb_format_int4_sym_pc) X(qb_format_int4_sym_g128) \
    X(qb_format_int4_asym_g128) X(qb_format_int4_sym_g64) X(qb_format_int4_asym_g64) X(qb_format_int4_asym_g64_hqq) X(qb_format_int4_sym_g32) \
    X(qb_format_int4_asym_g32) X(qb_format_int8_sym_g128) \
    X(qb_format_nf4_dq) X(qb_format_fp4_bnb_dq) X(qb_format_nf4) X(qb_format_fp4_bnb) \
    X(qb_format_q8_0) X(qb_format_q5_1) X(qb_format_q5_0) X(qb_format_q4_1) X(qb_format_q4_0) \
    X(qb_format_q8_K) X(qb_format_q6_K) X(qb_format_q5_K) X(qb_format_q4_K) X(qb_format_q3_K) X(qb_format_q2_K) \
    X(qb_format_q8_1) X(qb_format_iq4_nl) X(qb_format_iq4_xs) X(qb_format_mxfp4) X(qb_format_nvfp4) X(qb_format_q2_0) \
    X(qb_format_tq2_0) X(qb_format_tq1_0) X(qb_format_q1_0)                                \
    X(qb_format_q5_1_opt) X(qb_format_q5_0_opt) X(qb_format_q4_1_opt) X(qb_format_q4_0_opt)

#define DECLARE(sym) extern qb_format sym;
FORMATS(DECLARE)
#undef DECLARE

#define ROW(sym) &sym,
static qb_format *const table[] = {FORMATS(ROW)};
#undef ROW

enum { NFORMATS = (int)(sizeof table / sizeof table[0]) };

void qb_formats_init(void) {
    static int done;
    if (done) return;
    done = 1;
    for (int i = 0; i < NFORMATS; i++) {
        table[i]->quantize = table[i]->quantize_ref;
        table[i]->dequantize = table[i]->dequantize_ref;
        table[i]->vec_dot = table[i]->vec_dot_ref;
        table[i]->vec_dot2 = NULL;
        table[i]->act_prep_bytes = NULL;
        table[i]->act_prep = NULL;
        table[i]->impl = "ref";
    }
#if defined(__x86_64__) || defined(__i386__)
    qb_formats_init_x86(table, NFORMATS);
#endif
}

int qb_format_count(void) { return NFORMATS; }

const qb_format *qb_format_at(int i) { return i >= 0 && i < NFORMATS ? table[i] : NULL; }

const qb_format *qb_format_find(const char *name) {
    for (int i = 0; i < NFORMATS; i++)
        if (strcmp(table[i]->name, name) == 0) return table[i];
    return NULL;
}

/* An unknown name fails on one line with the valid names of its family (those sharing the text
 * up to its last '_', e.g. int4_sym_* for int4_sym_g48), or with every valid name. */
qb_status qb_format_require(const char *name, const qb_format **out) {
    *out = qb_format_find(name);
    if (*out) return QB_OK;
    const char *us = strrchr(name, '_');
    size_t stem = us ? (size_t)(us - name) + 1 : 0;
    char near[512], names[2048];
    size_t k = 0, kn = 0;
    names[0] = near[0] = '\0';
    for (int i = 0; i < NFORMATS; i++) {
        if (k < sizeof names) k += (size_t)snprintf(names + k, sizeof names - k, "%s%s", i ? ", " : "", table[i]->name);
        if (stem && strncmp(table[i]->name, name, stem) == 0 && kn < sizeof near)
            kn += (size_t)snprintf(near + kn, sizeof near - kn, "%s%s", kn ? ", " : "", table[i]->name);
    }
    if (kn)
        return qb_fail(QB_EUSAGE, "unknown format '%s' (valid %.*s* formats: %s; 'quantbench formats' lists all %d)", name,
                       (int)stem, name, near, NFORMATS);
    return qb_fail(QB_EUSAGE, "unknown format '%s' (valid: %s; see 'quantbench formats')", name, names);
}

qb_status qb_format_bytes(const qb_format *f, int64_t rows, int64_t cols, size_t *out) {
    if (rows < 0 || cols < 0) return qb_fail(QB_EINPUT, "negative shape %lldx%lld", (long long)rows, (long long)cols);
    if (cols % f->block_elems != 0)
        return qb_fail(QB_EINPUT,
                       "%s stores blocks of %d values; a row of %lld values is not a multiple of %d (pad the rows, or pick a "
                       "format whose block divides %lld: see 'quantbench formats')",
                       f->name, f->block_elems, (long long)cols, f->block_elems, (long long)cols);
    /* every factor ≤ 2^62 / next: keeps the product exact */
    uint64_t row = (uint64_t)(cols / f->block_elems) * (uint64_t)f->block_bytes + (uint64_t)f->row_extra_bytes;
    if (rows != 0 && row > (UINT64_MAX / 4) / (uint64_t)rows)
        return qb_fail(QB_EINPUT, "a %lldx%lld %s tensor is too large", (long long)rows, (long long)cols, f->name);
    uint64_t total = row * (uint64_t)rows + (uint64_t)f->tensor_extra_bytes;
    if (total > (uint64_t)SIZE_MAX) return qb_fail(QB_EINPUT, "tensor too large for this machine");
    *out = (size_t)total;
    return QB_OK;
}

double qb_format_bpw(const qb_format *f, int64_t rows, int64_t cols) {
    size_t n = 0;
    if (rows <= 0 || cols <= 0 || qb_format_bytes(f, rows, cols, &n) != QB_OK) return 0.0;
    return 8.0 * (double)n / ((double)rows * (double)cols);
}

typedef struct rows_job {
    const qb_format *f;
    const float *x;
    float *y;
    const uint8_t *qin;
    uint8_t *q;
    int64_t cols;
    size_t row_bytes;
    const float *imp;
    qb_status st;
} rows_job;

static void quantize_slice(void *ctx, int64_t r0, int64_t r1) {
    rows_job *j = ctx;
    qb_status st = j->f->quantize(j->x + r0 * j->cols, j->q + (size_t)r0 * j->row_bytes, r1 - r0, j->cols, j->imp);
    if (st) j->st = st; /* every slice fails alike, whichever reports it */
}

static void dequantize_slice(void *ctx, int64_t r0, int64_t r1) {
    rows_job *j = ctx;
    j->f->dequantize(j->qin + (size_t)r0 * j->row_bytes, j->y + r0 * j->cols, r1 - r0, j->cols);
}

qb_status qb_format_quantize_mt(const qb_format *f, const float *x, void *q, int64_t rows, int64_t cols, const float *imp,
                                int threads) {
    size_t rb = 0;
    qb_status st = qb_format_bytes(f, 1, cols, &rb);
    if (st) return st;
    if (f->tensor_extra_bytes) return f->quantize(x, q, rows, cols, imp);
    rows_job j = {f, x, NULL, NULL, q, cols, rb, imp, QB_OK};
    qb_parallel_for(threads, rows, quantize_slice, &j);
    return j.st;
}

void qb_format_dequantize_mt(const qb_format *f, const void *q, float *y, int64_t rows, int64_t cols, int threads) {
    size_t rb = 0;
    if (f->tensor_extra_bytes || qb_format_bytes(f, 1, cols, &rb) != QB_OK) {
        f->dequantize(q, y, rows, cols);
        return;
    }
    rows_job j = {f, NULL, y, q, NULL, cols, rb, NULL, QB_OK};
    qb_parallel_for(threads, rows, dequantize_slice, &j);
}

qb_status qb_check_finite(const float *x, int64_t rows, int64_t cols, const char *fmt_name) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            float v = x[r * cols + c];
            if (v != v || v - v != 0.0f) {
                int64_t n = 0;
                for (int64_t k = c; k < cols; k++) n += !(x[r * cols + k] - x[r * cols + k] == 0.0f);
                return qb_fail(QB_EINPUT, "%s cannot represent %s: found %lld non-finite value(s) in row %lld (first at column %lld)",
                               fmt_name, v != v ? "NaN" : "Inf", (long long)n, (long long)r, (long long)c);
            }
        }
    return QB_OK;
}
