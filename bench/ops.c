/* ops.c — the per-format operations, each through the path a user of the format would take:
 *   quantize    f32 → format, the registry's fast path, rows split over the team;
 *   dequantize  format → f32, likewise. Formats with a per-tensor header (tensor_extra_bytes)
 *               run on one thread, as qb_format_(de)quantize_mt does;
 *   gemv        y = W·a, the decode shape: backend "vec_dot" quantizes a to the format's
 *               vec_dot_type once per call (one thread, as ggml does) and runs decode's
 *               GEMV (formats/gemv.h: the fused dot on guided chunks of rows);
 *               formats without a fused dot use "dequant_dot" (dequantize a row into L1,
 *               OpenBLAS sdot); f32 also goes through "openblas" (sgemv on each member's
 *               rows). Weights are copied until the copies span c->span bytes (the sweep
 *               asks for 4× the last-level cache) and each call reads the next copy, so a
 *               call streams its weights from DRAM as a model's next layer does;
 *   gemm        C = A·Wᵀ, the prompt shape: "openblas" (f32 sgemm, OpenBLAS's threads),
 *               "tile_sgemm" (each team member dequantizes TILE_ROWS weight rows at a time
 *               and multiplies them with a single-threaded sgemm), "onednn" (onednn.c).
 * Dequantize and gemv beyond the LLC alternate their samples with their limit's own kernel on
 * the same team (bench.h, step 4): copy between the halves of the f32 output, read of the
 * weight copy that comes next in the rotation they share; quantize through the reference
 * alternates with the fast path, for the speedup; gemm with the FMA peak kernel (limits.c's
 * qb_fma_pair), on its own team or, for OpenBLAS, on one beside OpenBLAS's threads.
 * Inputs are N(0, 0.02²) weights (datasets/synthetic.c, seed 0): a 64-row tile generated and
 * quantized once, then repeated, so set-up of a 128 MiB case costs a copy, not a quantize. A
 * format with a per-tensor header gets the tile's header, which is the whole tensor's too,
 * since every row repeats the tile. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../datasets/source.h"
#include "../common/team.h"
#include "../formats/gemv.h"
#include "bench.h"

#define TILE_ROWS 256 /* tile_sgemm: 4 MiB of f32 at k = 4096; amortizes sgemm's packing of A */
#define SEED_ROWS 64

typedef qb_status (*quantize_fn)(const float *, void *, int64_t, int64_t, const float *);

typedef struct opdata {
    const qb_case *c;
    const qb_format *f, *act_f;
    int64_t rows, cols;
    size_t rb, hdr, qbytes; /* bytes per row, tensor header, one copy of the tensor */
    float *x;               /* rows × cols f32: quantize input, dequantize output */
    unsigned char *q;       /* copies × qbytes */
    int copies;
    int64_t reads;          /* gemv: copies read so far, by the case and its paired kernel alike,
                               so that each copy was last read `copies` reads ago */
    float *act, *y;         /* gemv: cols, rows */
    unsigned char *act_q;
    void *gemv_scratch;     /* gemv: the prepared activation (formats/gemv.h) */
    float *A, *C;           /* gemm: m × cols, m × rows */
    float **buf;            /* per member: one row (dequant_dot) or TILE_ROWS rows (tile_sgemm) */
    unsigned char **scratch;/* per member: header + rows, for formats with a tensor header */
    const unsigned char *w; /* the copy this iteration reads */
    int one_thread;         /* per-tensor header: quantize/dequantize run on member 0 only */
    quantize_fn quantize;   /* the fast path or the reference */
    int sgemv;              /* gemv of f32 weights through OpenBLAS sgemv, one slice per member */
    const unsigned char *pw;/* the copy the paired read kernel reads */
    volatile float sink[QB_BENCH_MAX_THREADS];
    qb_status st;
    qb_team *team;
} opdata;

/* Rows [r0, r0 + nr) of a tensor as f32; a tensor header is copied in front of the rows. */
static void dequant_rows(const opdata *d, const unsigned char *w, int64_t r0, int64_t nr, unsigned char *scratch, float *y) {
    if (!d->hdr) {
        d->f->dequantize(w + (size_t)r0 * d->rb, y, nr, d->cols);
        return;
    }
    memcpy(scratch, w, d->hdr);
    memcpy(scratch + d->hdr, w + d->hdr + (size_t)r0 * d->rb, (size_t)nr * d->rb);
    d->f->dequantize(scratch, y, nr, d->cols);
}

static void slice(int64_t n, int t, int nt, int64_t *lo, int64_t *hi) {
    *lo = n * t / nt;
    *hi = n * (t + 1) / nt;
}

/* ---- quantize / dequantize ------------------------------------------------------------- */

static void quantize_with(opdata *d, quantize_fn quantize, int t, int nt) {
    if (d->one_thread) {
        if (t == 0 && quantize(d->x, d->q, d->rows, d->cols, NULL) != QB_OK) d->st = QB_EINPUT;
        return;
    }
    int64_t lo, hi;
    slice(d->rows, t, nt, &lo, &hi);
    if (hi > lo && quantize(d->x + lo * d->cols, d->q + (size_t)lo * d->rb, hi - lo, d->cols, NULL) != QB_OK) d->st = QB_EINPUT;
}

static void quantize_slice(void *p, int t, int nt) {
    opdata *d = p;
    quantize_with(d, d->quantize, t, nt);
}

static void dequantize_slice(void *p, int t, int nt) {
    opdata *d = p;
    if (d->one_thread) {
        if (t == 0) d->f->dequantize(d->q, d->x, d->rows, d->cols);
        return;
    }
    int64_t lo, hi;
    slice(d->rows, t, nt, &lo, &hi);
    if (hi > lo) d->f->dequantize(d->q + (size_t)lo * d->rb, d->x + lo * d->cols, hi - lo, d->cols);
}

static void quantize_iter(void *p, int64_t i) {
    (void)i;
    qb_team_run(((opdata *)p)->team, quantize_slice, p);
}

static void dequantize_iter(void *p, int64_t i) {
    (void)i;
    qb_team_run(((opdata *)p)->team, dequantize_slice, p);
}

/* ---- gemv ------------------------------------------------------------------------------- */

static void gemv_slice(void *p, int t, int nt) {
    opdata *d = p;
    int64_t lo, hi;
    slice(d->rows, t, nt, &lo, &hi);
    if (d->sgemv) {
        if (hi > lo)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)(hi - lo), (int)d->cols, 1.0f, (const float *)d->w + lo * d->cols,
                        (int)d->cols, d->act, 1, 0.0f, d->y + lo, 1);
    } else {
        for (int64_t r = lo; r < hi; r++) {
            dequant_rows(d, d->w, r, 1, d->scratch[t], d->buf[t]);
            d->y[r] = cblas_sdot((int)d->cols, d->buf[t], 1, d->act, 1);
        }
    }
}

/* The weight copy the next read takes, in one rotation for the case and its paired kernel. */
static const unsigned char *next_copy(opdata *d) { return d->q + (size_t)(d->reads++ % d->copies) * d->qbytes; }

static void gemv_iter(void *p, int64_t i) {
    (void)i;
    opdata *d = p;
    d->w = next_copy(d);
    if (d->act_f) { /* decode's GEMV itself (formats/gemv.h, as evals/llama.c runs it) */
        d->act_f->quantize(d->act, d->act_q, 1, d->cols, NULL);
        const qb_gemv_mat m = {.f = d->f, .w = d->w + d->hdr, .rb = d->rb, .rows = d->rows, .cols = d->cols, .act = d->act_q, .y = d->y};
        qb_gemv_job j;
        qb_gemv_init(&j, &m, 1, 1, qb_team_size(d->team), d->gemv_scratch);
        qb_team_run_pool(d->team, qb_gemv_run, &j);
        return;
    }
    qb_team_run(d->team, gemv_slice, d);
}

/* ---- the paired kernels (bench.h, step 4) -------------------------------------------------- */

/* quantize through the scalar reference: the fast path on the same input, whose speedup over
 * the reference is then a ratio of two rates taken in the same seconds (this VM moves a
 * compute-bound case by up to 30 % within a minute); dequantize: the STREAM copy of the
 * output's first half into its second (each 2× the LLC when the output is 4×), each member
 * its slice; gemv: the read, as floats, of the weight copy the call would read, each member
 * its slice. The read kernel's adds take any bit pattern (NaN, denormal) at full rate on
 * current x86 cores, which is what lets it read quantized bytes; the floats start at the
 * first 4-byte boundary of the copy. */
static void pair_slice(void *p, int t, int nt) {
    opdata *d = p;
    int64_t lo, hi;
    if (d->c->op == QB_OP_QUANTIZE) {
        quantize_with(d, d->f->quantize, t, nt);
        return;
    }
    if (d->c->op == QB_OP_DEQUANTIZE) {
        const int64_t half = d->rows * d->cols / 2;
        slice(half, t, nt, &lo, &hi);
        qb_kern_copy(d->x + half + lo, d->x + lo, hi - lo);
        return;
    }
    const float *w = (const float *)(d->pw + (-(uintptr_t)d->pw & 3));
    slice((int64_t)(d->qbytes - 3) / 4, t, nt, &lo, &hi);
    d->sink[t] = qb_kern_read(w + lo, hi - lo);
}

static void pair_iter(void *p, int64_t i) {
    (void)i;
    opdata *d = p;
    if (d->c->op == QB_OP_GEMV) d->pw = next_copy(d);
    qb_team_run(d->team, pair_slice, d);
}

/* ---- gemm ------------------------------------------------------------------------------- */

static void tile_slice(void *p, int t, int nt) {
    opdata *d = p;
    int64_t lo, hi, m = d->c->m;
    slice(d->rows, t, nt, &lo, &hi);
    for (int64_t r0 = lo; r0 < hi; r0 += TILE_ROWS) {
        int64_t nr = hi - r0 < TILE_ROWS ? hi - r0 : TILE_ROWS;
        dequant_rows(d, d->q, r0, nr, d->scratch[t], d->buf[t]);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)nr, (int)d->cols, 1.0f, d->A, (int)d->cols,
                    d->buf[t], (int)d->cols, 0.0f, d->C + r0, (int)d->rows);
    }
}

static void tile_iter(void *p, int64_t i) {
    (void)i;
    qb_team_run(((opdata *)p)->team, tile_slice, p);
}

static void sgemm_iter(void *p, int64_t i) {
    (void)i;
    opdata *d = p;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d->c->m, (int)d->rows, (int)d->cols, 1.0f, d->A, (int)d->cols,
                (const float *)d->q, (int)d->cols, 0.0f, d->C, (int)d->rows);
}

/* ---- set-up ------------------------------------------------------------------------------ */

/* rows × cols of N(0, 0.02²) into x (when not NULL) and the format's bytes into q (when not
 * NULL), from a SEED_ROWS tile repeated. */
static qb_status fill(const opdata *d, float *x, unsigned char *q) {
    int64_t tr = d->rows < SEED_ROWS ? d->rows : SEED_ROWS;
    float *tile = qb_malloc(sizeof(float) * (size_t)(tr * d->cols));
    qb_status st = qb_synthetic_fill("gaussian", tr, d->cols, 0, tile);
    for (int64_t r = 0; !st && x && r < d->rows; r += tr) {
        int64_t nr = d->rows - r < tr ? d->rows - r : tr;
        memcpy(x + r * d->cols, tile, sizeof(float) * (size_t)(nr * d->cols));
    }
    if (!st && q) {
        size_t tb = d->hdr + (size_t)tr * d->rb;
        unsigned char *qt = qb_malloc(tb);
        st = d->f->quantize(tile, qt, tr, d->cols, NULL);
        memcpy(q, qt, d->hdr);
        for (int64_t r = 0; !st && r < d->rows; r += tr) {
            int64_t nr = d->rows - r < tr ? d->rows - r : tr;
            memcpy(q + d->hdr + (size_t)r * d->rb, qt + d->hdr, (size_t)nr * d->rb);
        }
        free(qt);
    }
    free(tile);
    return st;
}

static void per_member(opdata *d, int nt, size_t buf_floats) {
    d->buf = qb_calloc((size_t)nt, sizeof *d->buf);
    d->scratch = qb_calloc((size_t)nt, sizeof *d->scratch);
    int64_t nrows = buf_floats / (size_t)d->cols;
    for (int t = 0; t < nt; t++) {
        d->buf[t] = qb_calloc(buf_floats, sizeof(float));
        if (d->hdr) d->scratch[t] = qb_malloc(d->hdr + (size_t)nrows * d->rb);
    }
}

static void free_member(opdata *d, int nt) {
    for (int t = 0; d->buf && t < nt; t++) free(d->buf[t]), free(d->scratch[t]);
    free(d->buf);
    free(d->scratch);
}

void qb_bench_op_case(const qb_case *c, const qb_bench_cfg *cfg, const qb_bench_env *env, qb_case_result *r) {
    opdata d = {.c = c, .f = c->fmt, .rows = c->n, .cols = c->k, .copies = 1};
    d.hdr = (size_t)d.f->tensor_extra_bytes;
    if ((r->st = qb_format_bytes(d.f, 1, d.cols, &d.rb)) != QB_OK) return;
    d.rb -= d.hdr;
    d.qbytes = d.hdr + d.rb * (size_t)d.rows;
    /* OpenBLAS's sgemm runs on its own threads: our team is then the caller alone, and not
     * pinned, so that the threads OpenBLAS starts do not inherit a one-CPU mask */
    int blas_threads = c->op == QB_OP_GEMM && strcmp(c->backend, "openblas") == 0;
    d.team = qb_team_start(blas_threads ? 1 : c->threads, blas_threads ? 0 : cfg->pin, QB_TEAM_NEVER_SLEEP);
    int nt = qb_team_size(d.team);
    double fmt_bytes = (double)d.qbytes, f32_bytes = 4.0 * (double)d.rows * (double)d.cols;
    void (*iter)(void *, int64_t) = NULL;
    const char *impl = d.f->impl;

    switch (c->op) {
    case QB_OP_QUANTIZE:
    case QB_OP_DEQUANTIZE:
        d.x = qb_malloc(sizeof(float) * (size_t)(d.rows * d.cols));
        d.q = qb_malloc(d.qbytes);
        r->st = fill(&d, d.x, d.q); /* also first-touches both buffers */
        d.one_thread = d.hdr > 0;
        /* backend "reference": the scalar reference quantizer, for the fast path's speedup */
        d.quantize = strcmp(c->backend, "reference") == 0 ? d.f->quantize_ref : d.f->quantize;
        if (d.quantize == d.f->quantize_ref) impl = "ref";
        iter = c->op == QB_OP_QUANTIZE ? quantize_iter : dequantize_iter;
        r->bytes = fmt_bytes + f32_bytes;
        r->f32_bytes = f32_bytes, r->fmt_bytes = fmt_bytes;
        r->working_set = r->bytes;
        snprintf(r->impl, sizeof r->impl, "%s%s", impl, d.one_thread ? "; one thread (per-tensor scale)" : "");
        break;
    case QB_OP_GEMV:
    case QB_OP_GEMV_LATENCY: {
        d.copies = cfg->flush ? 1 : (int)ceil(c->span / fmt_bytes);
        if (d.copies < 1) d.copies = 1;
        d.q = qb_malloc(d.qbytes * (size_t)d.copies);
        r->st = fill(&d, NULL, d.q);
        for (int k = 1; k < d.copies; k++) memcpy(d.q + (size_t)k * d.qbytes, d.q, d.qbytes);
        d.act = qb_malloc(sizeof(float) * (size_t)d.cols);
        d.y = qb_calloc((size_t)d.rows, sizeof(float));
        for (int64_t i = 0; i < d.cols; i++) d.act[i] = (float)sin(0.01 * (double)i);
        if (strcmp(c->backend, "openblas") == 0) {
            if (strcmp(d.f->name, "f32") != 0) r->st = qb_fail(QB_EUSAGE, "gemv backend openblas needs f32 weights, not %s", d.f->name);
            d.sgemv = 1;
            openblas_set_num_threads(1);
            snprintf(r->impl, sizeof r->impl, "OpenBLAS %s sgemv per thread", openblas_get_corename());
        } else if (d.f->vec_dot_type && !d.hdr && strcmp(c->backend, "vec_dot") == 0) {
            d.act_f = qb_format_find(d.f->vec_dot_type);
            size_t ab = 0;
            if (!r->st) r->st = qb_format_bytes(d.act_f, 1, d.cols, &ab);
            d.act_q = qb_malloc(ab ? ab : 1);
            const qb_gemv_mat m = {.f = d.f, .cols = d.cols};
            const size_t sb = qb_gemv_scratch_bytes(&m, 1, 1);
            d.gemv_scratch = sb ? qb_malloc(sb) : NULL;
            snprintf(r->impl, sizeof r->impl, "%s vec_dot with %s activations", impl, d.f->vec_dot_type);
        } else {
            per_member(&d, nt, (size_t)d.cols);
            openblas_set_num_threads(1);
            snprintf(r->impl, sizeof r->impl, "%s dequantize row + OpenBLAS sdot", impl);
        }
        r->copies = d.copies;
        iter = gemv_iter;
        r->bytes = fmt_bytes;
        r->fmt_bytes = fmt_bytes;
        r->flops = 2.0 * (double)d.rows * (double)d.cols;
        r->working_set = fmt_bytes * d.copies;
        break;
    }
    case QB_OP_GEMM: {
        int64_t m = c->m;
        d.A = qb_malloc(sizeof(float) * (size_t)(m * d.cols));
        d.C = qb_calloc((size_t)(m * d.rows), sizeof(float));
        for (int64_t i = 0; i < m * d.cols; i++) d.A[i] = (float)sin(0.001 * (double)i);
        d.q = qb_malloc(d.qbytes);
        r->st = fill(&d, NULL, d.q);
        r->flops = 2.0 * (double)m * (double)d.rows * (double)d.cols;
        r->bytes = fmt_bytes + 4.0 * (double)m * (double)(d.cols + d.rows);
        r->working_set = r->bytes;
        if (blas_threads) {
            openblas_set_num_threads(c->threads);
            iter = sgemm_iter;
            snprintf(r->impl, sizeof r->impl, "OpenBLAS %s sgemm, %d threads", openblas_get_corename(), c->threads);
        } else {
            openblas_set_num_threads(1);
            per_member(&d, nt, (size_t)TILE_ROWS * (size_t)d.cols);
            iter = tile_iter;
            snprintf(r->impl, sizeof r->impl, "%s dequantize %d-row tiles + OpenBLAS %s sgemm per thread", impl, TILE_ROWS,
                     openblas_get_corename());
        }
        break;
    }
    default: r->st = qb_fail(QB_EUSAGE, "op %s is not a format operation", qb_op_names[c->op]);
    }
    qb_bench_cfg mc = *cfg; /* beyond the LLC: the bandwidth beside each sample (bench.h) */
    qb_fma_pair fma;
    qb_team *pair_team = NULL;
    const int dram = strcmp(qb_bench_level(env, r->working_set, c->threads), "DRAM") == 0;
    mc.probe_bytes = dram ? 2 * env->l3_bytes : 0;
    r->probe_bytes = mc.probe_bytes ? QB_BENCH_PROBE_WINDOW : 0;
    if (c->op == QB_OP_QUANTIZE && d.quantize != d.f->quantize) {
        mc.pair = pair_iter, mc.pair_ctx = &d;
        snprintf(r->pair_kind, sizeof r->pair_kind, "fast_path");
        r->pair_bytes = r->bytes;
    } else if (c->op == QB_OP_GEMM) {
        if (blas_threads) pair_team = qb_team_start(c->threads, 0, QB_BENCH_PAIR_IDLE_NS); /* OpenBLAS's threads are not pinned either */
        qb_fma_pair_init(&fma, blas_threads ? pair_team : d.team, &mc, r);
        if (blas_threads) qb_fma_pair_beside_openblas(&fma, iter, &d);
    } else if (dram && (c->op == QB_OP_DEQUANTIZE || c->op == QB_OP_GEMV) && d.qbytes >= 4) {
        mc.pair = pair_iter, mc.pair_ctx = &d;
        const int copy = c->op == QB_OP_DEQUANTIZE;
        snprintf(r->pair_kind, sizeof r->pair_kind, "%s", copy ? "copy_bw" : "read_bw");
        r->pair_bytes = copy ? 8.0 * (double)(d.rows * d.cols / 2) : 4.0 * (double)((d.qbytes - 3) / 4);
    }
    if (!r->st) r->st = qb_bench_measure(&mc, iter, &d, &r->s);
    if (!r->st && d.st) r->st = qb_fail(d.st, "%s %s failed on the benchmark input", d.f->name, qb_op_names[c->op]);
    qb_team_stop(pair_team);
    qb_team_stop(d.team);
    free_member(&d, nt);
    free(d.x), free(d.q), free(d.act), free(d.y), free(d.act_q), free(d.gemv_scratch), free(d.A), free(d.C);
}
