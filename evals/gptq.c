/* gptq.c — see gptq.h. */
#include "gptq.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/io.h"
#include "../common/parallel.h"
#include "../formats/ggml_common.h"

/* LAPACK (OpenBLAS carries it): Cholesky factor and inverse from it, column-major. */
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
extern void dpotri_(const char *uplo, const int *n, double *a, const int *lda, int *info);
extern void openblas_set_num_threads(int num_threads);
extern int openblas_get_num_threads(void);

/* The grid of a format GPTQ writes, from its registry row: an intq group format (name
 * int<b>_<sym|asym>_g<g>, block = fp16 scale [+ uint8 zero] + g·b/8 code bytes, intq.c's
 * layout), or GGUF q4_0 / q8_0 (fp16 d + 32 codes, formats/ggml_legacy.c). */
enum { GRID_INTQ, GRID_Q4_0, GRID_Q8_0 };

typedef struct grid {
    int kind, bits, sym, group, hdr;
} grid;

static int grid_of(const qb_format *f, grid *g) {
    char kind[8];
    int n = 0;
    if (f && (strcmp(f->name, "q4_0") == 0 || strcmp(f->name, "q8_0") == 0)) {
        const int q4 = f->name[1] == '4';
        *g = (grid){q4 ? GRID_Q4_0 : GRID_Q8_0, q4 ? 4 : 8, 1, 32, 2};
        return f->block_elems == 32 && f->block_bytes == 2 + 32 * g->bits / 8;
    }
    g->kind = GRID_INTQ;
    if (!f || strcmp(f->family, "int") != 0 || sscanf(f->name, "int%d_%7[a-z]_g%d%n", &g->bits, kind, &g->group, &n) != 3 ||
        f->name[n] != '\0')
        return 0;
    g->sym = strcmp(kind, "sym") == 0;
    if (!g->sym && strcmp(kind, "asym") != 0) return 0;
    g->hdr = 2 + !g->sym;
    return g->bits >= 2 && g->bits <= 8 && g->group == f->block_elems && f->row_extra_bytes == 0 && f->tensor_extra_bytes == 0 &&
           f->block_bytes == g->hdr + g->group * g->bits / 8;
}

int qb_gptq_supports(const qb_format *f) {
    grid g;
    return grid_of(f, &g);
}

/* A group's stored scale sd (as decoded), zero point, and the inverse its codes are computed
 * with (ggml's q4_0/q8_0 multiply by 1/d of the unrounded d; intq.c divides by sd). */
typedef struct gparam {
    float sd, id;
    int z, ok;
} gparam;

static gparam group_params(const grid *g, const float *x, int64_t n) {
    const int umax = (1 << g->bits) - 1, qmax = (1 << (g->bits - 1)) - 1;
    gparam p = {0};
    if (g->kind != GRID_INTQ) { /* q4_0: d = max/−8 (max: the value of largest magnitude); q8_0: d = amax/127 */
        float amax, max = qb_ggml_signed_absmax(x, (int)n, &amax);
        const float d = g->kind == GRID_Q4_0 ? max / -8.0f : amax / 127.0f;
        p.id = d ? 1.0f / d : 0.0f;
        p.sd = qb_f16_to_f32(qb_f32_to_f16(d));
        p.ok = 1;
        return p;
    }
    float s, mn = 0.0f, mx = 0.0f, amax = 0.0f;
    for (int64_t i = 0; i < n; i++) amax = fmaxf(amax, fabsf(x[i])), mn = fminf(mn, x[i]), mx = fmaxf(mx, x[i]);
    s = g->sym ? amax / (float)qmax : (mx - mn) / (float)umax;
    p.sd = qb_f16_to_f32(qb_f32_to_f16(s));
    p.ok = p.sd > 0.0f && p.sd - p.sd == 0.0f;
    if (!g->sym && p.ok) {
        float zf = nearbyintf(-mn / p.sd);
        p.z = zf < 0.0f ? 0 : zf > (float)umax ? umax : (int)zf;
    }
    return p;
}

/* The stored code of v under p, as the format computes it; clamped to the code range, which
 * RTN never leaves but values GPTQ has updated may. */
static int code_of(const grid *g, const gparam *p, float v) {
    const int umax = (1 << g->bits) - 1, half = 1 << (g->bits - 1), qmax = half - 1;
    if (g->kind == GRID_Q4_0) { /* ggml: (int8_t)(x·id + 8.5), at most 15 */
        const float t = v * p->id + 8.5f;
        return t < 0.0f ? 0 : t >= 15.0f ? 15 : (int)t;
    }
    if (g->kind == GRID_Q8_0) { /* ggml: roundf(x·id), stored as int8 (here offset by 128) */
        const float r = roundf(v * p->id);
        return (r > 127.0f ? 127 : r < -127.0f ? -127 : (int)r) + 128;
    }
    if (!p->ok) return g->sym ? half : p->z;
    float r = nearbyintf(v / p->sd);
    if (g->sym) return (r > (float)qmax ? qmax : r < (float)-qmax ? -qmax : (int)r) + half;
    r += (float)p->z;
    return r < 0.0f ? 0 : r > (float)umax ? umax : (int)r;
}

static float value_of(const grid *g, const gparam *p, int u) {
    if (g->kind == GRID_Q8_0) return p->sd * (float)(u - 128);
    return p->sd * (float)(u - (g->sym ? 1 << (g->bits - 1) : p->z)); /* q4_0: sym, offset 8 */
}

/* ---- H → U, the upper Cholesky factor of (H + λI)⁻¹ ---------------------------------------- */

static qb_status hinv_chol(double *a, int n, double percdamp, double *u) {
    double mean = 0;
    for (int i = 0; i < n; i++) mean += a[(size_t)i * n + i];
    mean /= n;
    double *work = malloc(sizeof *work * (size_t)n * (size_t)n);
    if (!work) return qb_fail(QB_ERUNTIME, "gptq: out of memory for a %d x %d Hessian", n, n);
    int info = 1;
    for (int attempt = 0; attempt < 6 && info != 0; attempt++, percdamp = percdamp > 0 ? percdamp * 10 : 1e-4) {
        memcpy(work, a, sizeof *work * (size_t)n * (size_t)n);
        for (int i = 0; i < n; i++) work[(size_t)i * n + i] += percdamp * mean;
        dpotrf_("L", &n, work, &n, &info);
        if (!info) dpotri_("L", &n, work, &n, &info);
        if (info) continue;
        for (int j = 0; j < n; j++) /* column-major lower → full symmetric */
            for (int i = j + 1; i < n; i++) work[j + (size_t)i * n] = work[i + (size_t)j * n];
        dpotrf_("U", &n, work, &n, &info);
    }
    if (info) {
        free(work);
        return qb_fail(QB_EINPUT, "gptq: the calibration Hessian (%d x %d) is not positive definite even after dampening; give more calibration tokens", n, n);
    }
    for (int i = 0; i < n; i++) /* column-major upper (i ≤ j at i + j·n) → row-major U[i][j] */
        for (int j = 0; j < n; j++) u[(size_t)i * n + j] = j >= i ? work[i + (size_t)j * n] : 0.0;
    free(work);
    return QB_OK;
}

/* ---- the column sweep, per range of rows -------------------------------------------------- */

typedef struct sweep {
    const grid *g;
    const float *w;
    int64_t cols;
    const int *perm;       /* processing position → original column */
    const unsigned char *dead;
    const double *u;       /* [cols][cols] upper factor, in processing order */
    int block, act_order;
    uint8_t *codes;        /* [rows][cols] original column order */
    gparam *par;           /* [rows][cols / group] */
} sweep;

static void sweep_rows(void *ctx, int64_t r0, int64_t r1) {
    const sweep *s = ctx;
    const grid *g = s->g;
    const int64_t n = s->cols, nr = r1 - r0, ng = n / g->group, B = s->block;
    double *wd = qb_malloc(sizeof *wd * (size_t)(nr * n)), *err = qb_malloc(sizeof *err * (size_t)(nr * B));
    float *tmp = qb_malloc(sizeof *tmp * (size_t)g->group);
    for (int64_t r = 0; r < nr; r++) {
        const float *wr = s->w + (r0 + r) * n;
        for (int64_t i = 0; i < n; i++) wd[r * n + i] = s->dead[s->perm[i]] ? 0.0 : (double)wr[s->perm[i]];
        if (s->act_order) /* static groups: parameters from the original row */
            for (int64_t k = 0; k < ng; k++) s->par[(r0 + r) * ng + k] = group_params(g, wr + k * g->group, g->group);
    }
    for (int64_t i1 = 0; i1 < n; i1 += B) {
        const int64_t i2 = i1 + B < n ? i1 + B : n;
        for (int64_t i = i1; i < i2; i++) {
            const int64_t c = s->perm[i], k = c / g->group;
            const double d = s->u[i * n + i];
            for (int64_t r = 0; r < nr; r++) {
                double *wr = wd + r * n;
                gparam *p = &s->par[(r0 + r) * ng + k];
                if (!s->act_order && c % g->group == 0) { /* identity order: the group is columns i … i + g − 1 */
                    for (int64_t t = 0; t < g->group; t++) tmp[t] = (float)wr[i + t];
                    *p = group_params(g, tmp, g->group);
                }
                const int code = code_of(g, p, (float)wr[i]);
                const double e = (wr[i] - (double)value_of(g, p, code)) / d;
                s->codes[(r0 + r) * n + c] = (uint8_t)code;
                err[r * B + (i - i1)] = e;
                for (int64_t j = i + 1; j < i2; j++) wr[j] -= e * s->u[i * n + j];
            }
        }
        if (i2 < n) /* lazy batch update of every later column */
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nr, (int)(n - i2), (int)(i2 - i1), -1.0, err, (int)B,
                        s->u + i1 * n + i2, (int)n, 1.0, wd + i2, (int)n);
    }
    free(wd);
    free(err);
    free(tmp);
}

/* ---- the format's bytes ----------------------------------------------------------------- */

static void pack(const grid *g, const uint8_t *codes, const gparam *par, int64_t rows, int64_t cols, uint8_t *out) {
    const int64_t ng = cols / g->group, code_bytes = g->group * g->bits / 8;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < ng; k++, out += g->hdr + code_bytes) {
            const gparam *p = &par[r * ng + k];
            uint16_t h = qb_f32_to_f16(p->sd);
            memcpy(out, &h, 2);
            if (!g->sym) out[2] = (uint8_t)p->z;
            uint8_t *cb = out + g->hdr;
            memset(cb, 0, (size_t)code_bytes);
            const uint8_t *u = codes + r * cols + k * g->group;
            if (g->kind == GRID_Q4_0) { /* element j in the low nibble of byte j, j + 16 in its high nibble */
                for (int64_t j = 0; j < 16; j++) cb[j] = (uint8_t)(u[j] | u[j + 16] << 4);
                continue;
            }
            if (g->kind == GRID_Q8_0) {
                for (int64_t j = 0; j < 32; j++) cb[j] = (uint8_t)(int8_t)(u[j] - 128);
                continue;
            }
            for (int64_t i = 0; i < g->group; i++) { /* little-endian bit stream, element i at bits [b·i, b·i + b) */
                uint32_t u = codes[r * cols + k * g->group + i];
                for (int64_t bit = i * g->bits, t = 0; t < g->bits; t++, bit++)
                    if (u >> t & 1u) cb[bit >> 3] |= (uint8_t)(1u << (bit & 7));
            }
        }
}

/* ---- the whole ------------------------------------------------------------------------- */

static const double *g_diag; /* qsort context: diag(H) */

static int by_diag_desc(const void *a, const void *b) {
    const int i = *(const int *)a, j = *(const int *)b;
    if (g_diag[i] != g_diag[j]) return g_diag[i] > g_diag[j] ? -1 : 1;
    return i - j; /* stable */
}

qb_status qb_gptq_quantize(const qb_format *f, const float *w, int64_t rows, int64_t cols, const double *h, const qb_gptq_opts *o,
                           void *q, int threads) {
    grid g;
    if (!grid_of(f, &g)) return qb_fail(QB_EUSAGE, "gptq: format %s is not a linear int group format (int4_sym_g128, int3_asym_g128, …)", f->name);
    if (cols % g.group) return qb_fail(QB_EINPUT, "gptq: %s: a row of %lld values does not fill whole groups of %d", f->name, (long long)cols, g.group);
    if (cols > 65536 || o->block < 1 || !(o->percdamp >= 0)) return qb_fail(QB_EUSAGE, "gptq: %lld columns, block %d, percdamp %g out of range", (long long)cols, o->block, o->percdamp);
    qb_status st = qb_check_finite(w, rows, cols, "gptq");
    if (st) return st;
    const int n = (int)cols;
    double *a = malloc(sizeof *a * (size_t)n * (size_t)n), *u = malloc(sizeof *u * (size_t)n * (size_t)n), *diag = malloc(sizeof *diag * (size_t)n);
    int *perm = malloc(sizeof *perm * (size_t)n);
    unsigned char *dead = calloc((size_t)n, 1);
    if (!a || !u || !diag || !perm || !dead) {
        free(a), free(u), free(diag), free(perm), free(dead);
        return qb_fail(QB_ERUNTIME, "gptq: out of memory for a %d x %d Hessian", n, n);
    }
    for (int i = 0; i < n && !st; i++) {
        diag[i] = h[(size_t)i * n + i];
        if (!isfinite(diag[i])) st = qb_fail(QB_EINPUT, "gptq: Hessian diagonal %d is %g", i, diag[i]);
        dead[i] = diag[i] == 0.0;
        perm[i] = i;
    }
    if (!st && o->act_order) {
        g_diag = diag;
        qsort(perm, (size_t)n, sizeof *perm, by_diag_desc);
    }
    for (int i = 0; !st && i < n; i++) /* permuted H, dead inputs made harmless */
        for (int j = 0; j < n; j++) {
            const int pi = perm[i], pj = perm[j];
            a[(size_t)i * n + j] = dead[pi] || dead[pj] ? (pi == pj ? 1.0 : 0.0) : h[(size_t)pi * n + pj];
        }
    if (!st) st = hinv_chol(a, n, o->percdamp, u);
    if (!st) {
        uint8_t *codes = qb_malloc((size_t)(rows * cols));
        gparam *par = qb_malloc(sizeof *par * (size_t)(rows * (cols / g.group)));
        sweep s = {&g, w, cols, perm, dead, u, o->block, o->act_order, codes, par};
        int blas = openblas_get_num_threads();
        openblas_set_num_threads(1); /* each of our threads runs its own products (invariant 2) */
        qb_parallel_for(threads, rows, sweep_rows, &s);
        openblas_set_num_threads(blas);
        pack(&g, codes, par, rows, cols, q);
        free(codes);
        free(par);
    }
    free(a), free(u), free(diag), free(perm), free(dead);
    return st;
}
