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
 * layout), GGUF q4_0 / q8_0 (fp16 d + 32 codes, formats/ggml_legacy.c), or a K-quant q2_K …
 * q6_K (super-blocks of 256, sub-blocks of `sub`, b-bit codes; formats/ggml_k.c). */
enum { GRID_INTQ, GRID_Q4_0, GRID_Q8_0, GRID_K };

typedef struct grid {
    int kind, bits, sym, group, hdr;
    int sub; /* GRID_K: elements per sub-block (one scale [and min] each) */
    const qb_format *f;
} grid;

static int grid_of(const qb_format *f, grid *g) {
    static const char *const kq[] = {"q2_K", "q3_K", "q4_K", "q5_K", "q6_K"}; /* codes of 2 … 6 bits */
    char kind[8];
    int n = 0;
    for (int k = 0; f && k < 5; k++)
        if (strcmp(f->name, kq[k]) == 0) {
            *g = (grid){GRID_K, k + 2, 0, 256, 0, k == 2 || k == 3 ? 32 : 16, f};
            return f->block_elems == 256 && f->row_extra_bytes == 0 && f->tensor_extra_bytes == 0;
        }
    if (f && (strcmp(f->name, "q4_0") == 0 || strcmp(f->name, "q8_0") == 0)) {
        const int q4 = f->name[1] == '4';
        *g = (grid){q4 ? GRID_Q4_0 : GRID_Q8_0, q4 ? 4 : 8, 1, 32, 2, 0, f};
        return f->block_elems == 32 && f->block_bytes == 2 + 32 * g->bits / 8;
    }
    g->kind = GRID_INTQ, g->sub = 0, g->f = f;
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

/* ---- K-quant super-blocks ------------------------------------------------------------------ */

/* Writes code u (0 … 2^b − 1) of element e into a K-quant block, leaving its scales alone
 * (the layouts of ggml_k.c's header; q3_K's code u is q3 + 4, q6_K's q + 32). */
static void k_set_code(int bits, uint8_t *b, int e, unsigned u) {
    const int l32 = e % 32;
    if (bits == 2 || bits == 3) { /* qs (q2_K at 16, q3_K at 32): byte 32·(e/128) + e%32, bits 2·((e%128)/32) */
        uint8_t *qs = b + (bits == 2 ? 16 : 32) + 32 * (e / 128) + l32;
        const int sh = 2 * (e % 128 / 32);
        *qs = (uint8_t)((*qs & ~(3u << sh)) | (u & 3u) << sh);
        if (bits == 3) b[l32] = (uint8_t)((b[l32] & ~(1u << e / 32)) | (u >> 2 & 1u) << e / 32); /* hmask */
    } else if (bits == 4 || bits == 5) { /* qs (q4_K at 16, q5_K at 48): nibble (e%64)/32 of byte 32·(e/64) + e%32 */
        uint8_t *qs = b + (bits == 4 ? 16 : 48) + 32 * (e / 64) + l32;
        const int sh = 4 * (e % 64 / 32);
        *qs = (uint8_t)((*qs & ~(15u << sh)) | (u & 15u) << sh);
        if (bits == 5) b[16 + l32] = (uint8_t)((b[16 + l32] & ~(1u << e / 32)) | (u >> 4 & 1u) << e / 32); /* qh */
    } else { /* q6_K, per half h of 128: quarter k = (e%128)/32; ql[64h + 32(k&1) + l] nibble k/2, qh[128 + 32h + l] bits 2k */
        const int h = e / 128, k = e % 128 / 32;
        uint8_t *ql = b + 64 * h + 32 * (k & 1) + l32, *qh = b + 128 + 32 * h + l32;
        const int sl = 4 * (k / 2), shh = 2 * k;
        *ql = (uint8_t)((*ql & ~(15u << sl)) | (u & 15u) << sl);
        *qh = (uint8_t)((*qh & ~(3u << shh)) | (u >> 4 & 3u) << shh);
    }
}

/* Fixes one super-block: its scales (and mins) from the format's own quantize of x (256
 * values; imp: their 256 importance weights), written to blk, and the value every code
 * decodes to in each sub-block, tab[j·2^b + u], read back through the format's own dequantize
 * of blk with every code set to u, so the values GPTQ works with are the decoder's bits.
 * 0 when the quantize refuses x (non-finite). */
static int k_fix(const grid *g, const float *x, const float *imp, uint8_t *blk, float *tab) {
    const int nc = 1 << g->bits, nsub = 256 / g->sub;
    uint8_t tmp[512];
    float y[256];
    if (g->f->quantize(x, blk, 1, 256, imp) != QB_OK) return 0;
    for (int u = 0; u < nc; u++) {
        memcpy(tmp, blk, (size_t)g->f->block_bytes);
        for (int e = 0; e < 256; e++) k_set_code(g->bits, tmp, e, (unsigned)u);
        g->f->dequantize(tmp, y, 1, 256);
        for (int j = 0; j < nsub; j++) tab[j * nc + u] = y[j * g->sub];
    }
    return 1;
}

/* The code of the value nearest v among a sub-block's (the first on ties). */
static int k_nearest(const float *t, int nc, double v) {
    int best = 0;
    double bd = fabs(v - (double)t[0]);
    for (int u = 1; u < nc; u++) {
        const double d = fabs(v - (double)t[u]);
        if (d < bd) bd = d, best = u;
    }
    return best;
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
    gparam *par;           /* [rows][cols / group] (not GRID_K) */
    float *chosen;         /* NULL or [rows][cols]: the values chosen (qb_gptq_opts.chosen) */
    /* GRID_K */
    const float *imp;      /* [cols] diag(H), the super-block search's importance weights */
    uint8_t *q;            /* the output: each super-block's scales, written when fixed */
    float *tab;            /* [rows][cols / 256][256 / sub · 2^b] values per code (k_fix) */
    uint8_t *bad;          /* [rows] 1: a super-block's quantize refused the updated row */
} sweep;

static void sweep_rows(void *ctx, int64_t r0, int64_t r1) {
    const sweep *s = ctx;
    const grid *g = s->g;
    const int64_t n = s->cols, nr = r1 - r0, ng = n / g->group, B = s->block;
    const int kq = g->kind == GRID_K, nc = 1 << g->bits, tsz = kq ? 256 / g->sub * nc : 0;
    const size_t bb = kq ? (size_t)g->f->block_bytes : 0;
    double *wd = qb_malloc(sizeof *wd * (size_t)(nr * n)), *err = qb_malloc(sizeof *err * (size_t)(nr * B));
    float *tmp = qb_malloc(sizeof *tmp * (size_t)g->group);
    for (int64_t r = 0; r < nr; r++) {
        const float *wr = s->w + (r0 + r) * n;
        for (int64_t i = 0; i < n; i++) wd[r * n + i] = s->dead[s->perm[i]] ? 0.0 : (double)wr[s->perm[i]];
        if (s->act_order) /* static groups: parameters from the original row */
            for (int64_t k = 0; k < ng; k++) {
                const int64_t rk = (r0 + r) * ng + k;
                if (!kq) s->par[rk] = group_params(g, wr + k * g->group, g->group);
                else if (!k_fix(g, wr + k * 256, s->imp + k * 256, s->q + rk * bb, s->tab + rk * tsz)) s->bad[r0 + r] = 1;
            }
    }
    for (int64_t i1 = 0; i1 < n; i1 += B) {
        const int64_t i2 = i1 + B < n ? i1 + B : n;
        for (int64_t i = i1; i < i2; i++) {
            const int64_t c = s->perm[i], k = c / g->group;
            const double d = s->u[i * n + i];
            for (int64_t r = 0; r < nr; r++) {
                double *wr = wd + r * n;
                const int64_t rk = (r0 + r) * ng + k;
                int code;
                float v;
                if (!kq) {
                    gparam *p = &s->par[rk];
                    if (!s->act_order && c % g->group == 0) { /* identity order: the group is columns i … i + g − 1 */
                        for (int64_t t = 0; t < g->group; t++) tmp[t] = (float)wr[i + t];
                        *p = group_params(g, tmp, g->group);
                    }
                    code = code_of(g, p, (float)wr[i]);
                    v = value_of(g, p, code);
                } else { /* the super-block's scales fixed from its current values, then each row's grid */
                    if (!s->act_order && c % 256 == 0) {
                        for (int64_t t = 0; t < 256; t++) tmp[t] = (float)wr[i + t];
                        if (!k_fix(g, tmp, s->imp + c, s->q + rk * bb, s->tab + rk * tsz)) s->bad[r0 + r] = 1;
                    }
                    const float *t = s->tab + rk * tsz + c % 256 / g->sub * nc;
                    code = k_nearest(t, nc, wr[i]);
                    v = t[code];
                }
                const double e = (wr[i] - (double)v) / d;
                s->codes[(r0 + r) * n + c] = (uint8_t)code;
                if (s->chosen) s->chosen[(r0 + r) * n + c] = v;
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
    if (g->kind == GRID_K) { /* the scales are in place (k_fix): the codes only */
        for (int64_t r = 0; r < rows; r++)
            for (int64_t k = 0; k < ng; k++, out += g->f->block_bytes)
                for (int e = 0; e < 256; e++) k_set_code(g->bits, out, e, codes[r * cols + k * 256 + e]);
        return;
    }
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
    if (!grid_of(f, &g))
        return qb_fail(QB_EUSAGE, "gptq: format %s is not one GPTQ writes (int group formats such as int4_asym_g128, q4_0, q8_0, q2_K … q6_K)",
                       f->name);
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
        const int kq = g.kind == GRID_K;
        const int64_t ng = cols / g.group;
        uint8_t *codes = qb_malloc((size_t)(rows * cols)), *bad = qb_calloc((size_t)rows, 1);
        gparam *par = kq ? NULL : qb_malloc(sizeof *par * (size_t)(rows * ng));
        float *imp = kq ? qb_malloc(sizeof *imp * (size_t)n) : NULL;
        float *tab = kq ? qb_calloc((size_t)(rows * ng * (256 / g.sub) << g.bits), sizeof *tab) : NULL;
        for (int i = 0; kq && i < n; i++) imp[i] = (float)diag[i];
        sweep s = {&g, w, cols, perm, dead, u, o->block, o->act_order, codes, par, o->chosen, imp, q, tab, bad};
        int blas = openblas_get_num_threads();
        openblas_set_num_threads(1); /* each of our threads runs its own products (invariant 2) */
        qb_parallel_for(threads, rows, sweep_rows, &s);
        openblas_set_num_threads(blas);
        for (int64_t r = 0; r < rows && !st; r++)
            if (bad[r]) st = qb_fail(QB_EINPUT, "gptq: %s: row %lld left the finite range while its errors propagated; raise the dampening", f->name, (long long)r);
        if (!st) pack(&g, codes, par, rows, cols, q);
        free(codes), free(bad), free(par), free(imp), free(tab);
    }
    free(a), free(u), free(diag), free(perm), free(dead);
    return st;
}
