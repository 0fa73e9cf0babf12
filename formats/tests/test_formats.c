/* test_formats.c — registry-driven checks of every format in the table (ggml's
 * test-quantize-fns habit): sizes add up, round trips stay within the documented error bound
 * (format.h, invariant 4) on seeded data of several distributions and odd shapes, every
 * fast path gives the reference path's bytes and bits, specials included (and on arbitrary
 * bytes), and every GEMV dot (invariant 5) agrees with its reference, on quantized and on
 * arbitrary weight bytes, and the reference with a double-precision dot of the dequantized
 * rows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/qbtest.h"
#include "datasets/source.h"
#include "formats/format.h"
#include "formats/ggml_blocks.h"

/* Shapes with odd row counts and columns that leave SIMD tails (block formats use multiples
 * of their block). */
static const int64_t shapes[][2] = {{1, 1}, {3, 7}, {2, 33}, {5, 64}, {4, 255}, {1, 4096}, {17, 257}};

static void fill(qb_rng *r, float *x, int64_t n, int kind) {
    for (int64_t i = 0; i < n; i++) {
        double v = qb_rng_normal(r);
        switch (kind) {
        case 0: x[i] = (float)(0.02 * v); break;                                   /* LLM-like */
        case 1: x[i] = (float)(v * exp2(qb_rng_uniform(r) * 30.0 - 20.0)); break; /* wide dynamic range */
        case 2: x[i] = (float)(1000.0 * v); break;                                 /* large, inside f16 */
        case 4: x[i] = (float)v; break;                                            /* unit scale */
        case 3: x[i] = (i % 5 == 0) ? 0.0f : (float)(1e-6 * v); break;             /* zeros, f16 subnormals */
        }
    }
}

static double block_amax(const qb_format *f, const float *x, int64_t cols, int64_t i) {
    int64_t w = f->row_extra_bytes ? cols : f->block_elems; /* per-row scale: the row is the block */
    int64_t start = (i % cols) / w * w + (i / cols) * cols;
    double m = 0;
    for (int64_t k = start; k < start + w; k++) m = fmax(m, fabs(x[k]));
    return m;
}

static void test_sizes(const qb_format *f) {
    size_t n;
    int64_t cols = 256 * f->block_elems;
    CHECK(qb_format_bytes(f, 3, cols, &n) == QB_OK, "%s", f->name);
    CHECK(n == (size_t)(3 * (cols / f->block_elems * f->block_bytes + f->row_extra_bytes) + f->tensor_extra_bytes),
          "%s: %zu bytes", f->name, n);
    CHECK(fabs(qb_format_bpw(f, 3, cols) - 8.0 * (double)n / (3.0 * (double)cols)) < 1e-12, "%s bpw", f->name);
    if (f->block_elems > 1)
        CHECK(qb_format_bytes(f, 1, f->block_elems + 1, &n) == QB_EINPUT, "%s accepted a partial block", f->name);
    CHECK(qb_format_find(f->name) == f, "%s not found by name", f->name);
}

enum { NKINDS = 5 };

static void test_roundtrip(const qb_format *f, qb_rng *r) {
    int64_t checked = 0;
    /* err_rel ≥ 1 says only "0 is on the grid": every format must state a real bound */
    CHECK(f->err_rel < 0.5, "%s declares err_rel = %g, no bound at all", f->name, f->err_rel);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int kind = 0; kind < NKINDS; kind++) {
            int64_t rows = shapes[s][0], cols = (shapes[s][1] + f->block_elems - 1) / f->block_elems * f->block_elems;
            int64_t n = rows * cols;
            size_t nb;
            if (qb_format_bytes(f, rows, cols, &nb) != QB_OK) {
                CHECK(0, "%s: no size for %lldx%lld", f->name, (long long)rows, (long long)cols);
                continue;
            }
            float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float)), *y2 = malloc(n * sizeof(float));
            unsigned char *q = malloc(nb), *q2 = malloc(nb);
            fill(r, x, n, kind);
            CHECK(f->quantize_ref(x, q, rows, cols, NULL) == QB_OK, "%s quantize_ref: %s", f->name, qb_errmsg());
            f->dequantize_ref(q, y, rows, cols);
            int bad = 0;
            double tmax = 0; /* amax(tensor): the per-tensor term, and the domain of QB_FMT_TENSOR_AMAX formats */
            for (int64_t i = 0; i < n; i++) tmax = fmax(tmax, fabs(x[i]));
            const int by_tensor = (f->flags & QB_FMT_TENSOR_AMAX) != 0;
            CHECK(by_tensor == (f->err_tensor > 0), "%s: err_tensor %g without QB_FMT_TENSOR_AMAX or back", f->name, f->err_tensor);
            for (int64_t i = 0; i < n && bad < 3; i++) {
                double amax = block_amax(f, x, cols, i), dom = by_tensor ? tmax : amax;
                if (f->dom_hi > 0 && (dom < f->dom_lo || dom > f->dom_hi)) continue; /* outside the format's range */
                checked++;
                double bound = f->err_rel * fabs(x[i]) + f->err_block * amax + f->err_tensor * tmax + f->err_abs;
                double err = fabs((double)x[i] - (double)y[i]);
                if (!(err <= bound * (1 + 1e-6) + 1e-30)) {
                    bad++;
                    CHECK(0, "%s kind %d %lldx%lld [%lld]: x=%.9g y=%.9g err=%.3g > bound %.3g", f->name, kind,
                          (long long)rows, (long long)cols, (long long)i, x[i], y[i], err, bound);
                }
            }
            if (!bad) qbt_pass_++;
            /* fast path == reference path, bytes and bits */
            memset(q2, 0xA5, nb);
            CHECK(f->quantize(x, q2, rows, cols, NULL) == QB_OK, "%s quantize (%s)", f->name, f->impl);
            CHECK(memcmp(q, q2, nb) == 0, "%s: %s quantize differs from ref (%lldx%lld kind %d)", f->name, f->impl,
                  (long long)rows, (long long)cols, kind);
            f->dequantize(q, y2, rows, cols);
            CHECK(memcmp(y, y2, n * sizeof(float)) == 0, "%s: %s dequantize differs from ref", f->name, f->impl);
            free(x), free(y), free(y2), free(q), free(q2);
        }
    CHECK(checked > 0, "%s: no element inside its declared range [%g, %g] was checked", f->name, f->dom_lo, f->dom_hi);
}

/* Specials through both paths: formats with NaN keep NaN/±Inf/±0; the others must refuse a
 * NaN naming its row and column. */
static void test_specials(const qb_format *f) {
    int64_t cols = 40 * f->block_elems; /* ≥ 40 values: the fast paths' vector bodies see them */
    float *x = calloc(cols, sizeof(float)), *y = calloc(cols, sizeof(float));
    size_t nb;
    qb_format_bytes(f, 2, cols, &nb);
    unsigned char *q = malloc(nb), *q2 = malloc(nb);
    float *xx = calloc(2 * cols, sizeof(float));
    for (int64_t i = 0; i < cols; i++) xx[i] = 0.01f * (float)(i % 7);
    xx[cols + 3] = NAN;
    if (f->flags & QB_FMT_HAS_NAN) {
        xx[cols + 9] = INFINITY;
        xx[cols + 10] = -INFINITY;
        xx[cols + 11] = -0.0f;
        uint32_t snan = 0xff800001u; /* negative signalling NaN with a payload */
        memcpy(&xx[cols + 12], &snan, 4);
        CHECK(f->quantize_ref(xx, q, 2, cols, NULL) == QB_OK, "%s", f->name);
        CHECK(f->quantize(xx, q2, 2, cols, NULL) == QB_OK, "%s", f->name);
        CHECK(memcmp(q, q2, nb) == 0, "%s: %s differs from ref on NaN/Inf", f->name, f->impl);
        float *yy = calloc(2 * cols, sizeof(float));
        f->dequantize(q, yy, 2, cols);
        CHECK(isnan(yy[cols + 3]) && isnan(yy[cols + 12]), "%s lost a NaN", f->name);
        CHECK(yy[cols + 9] == INFINITY && yy[cols + 10] == -INFINITY, "%s lost an Inf", f->name);
        CHECK(yy[cols + 11] == 0.0f && signbit(yy[cols + 11]), "%s lost -0", f->name);
        free(yy);
    } else {
        qb_status st = f->quantize(xx, q, 2, cols, NULL);
        CHECK(st == QB_EINPUT && strstr(qb_errmsg(), "row 1") && strstr(qb_errmsg(), "column 3"),
              "%s: NaN gave status %d, message '%s'", f->name, st, qb_errmsg());
    }
    free(x), free(y), free(q), free(q2), free(xx);
}

/* ±Inf, the policy of format.h per flag: HAS_NAN keeps it (test_specials), INF_ENCODES maps
 * it to the element format's overflow value (±max finite, or fp8_e4m3's NaN code) leaving the
 * rest of the row as without it, every other format refuses it naming row and column. */
static void test_inf(const qb_format *f) {
    if (f->flags & QB_FMT_HAS_NAN) return;
    int64_t cols = 8 * f->block_elems;
    float *x = malloc(2 * cols * sizeof(float)), *y = malloc(2 * cols * sizeof(float)), *y0 = malloc(2 * cols * sizeof(float));
    size_t nb;
    qb_format_bytes(f, 2, cols, &nb);
    unsigned char *q = malloc(nb);
    for (int64_t i = 0; i < 2 * cols; i++) x[i] = 0.25f * (float)((i % 9) - 4);
    const int64_t at = cols + 5;
    for (int sign = 0; sign < 2; sign++) {
        float inf = sign ? -INFINITY : INFINITY;
        x[at] = 0.0f;
        CHECK(f->quantize(x, q, 2, cols, NULL) == QB_OK, "%s: %s", f->name, qb_errmsg());
        f->dequantize(q, y0, 2, cols);
        x[at] = inf;
        qb_status st = f->quantize(x, q, 2, cols, NULL);
        if (!(f->flags & QB_FMT_INF_ENCODES)) {
            CHECK(st == QB_EINPUT && strstr(qb_errmsg(), "Inf") && strstr(qb_errmsg(), "row 1") && strstr(qb_errmsg(), "column 5"),
                  "%s: %cInf gave status %d, message '%s'", f->name, sign ? '-' : '+', st, qb_errmsg());
            continue;
        }
        CHECK(st == QB_OK, "%s: %s", f->name, qb_errmsg());
        f->dequantize(q, y, 2, cols);
        x[at] = 0.0f;
        int same = 1;
        for (int64_t i = 0; i < 2 * cols; i++) same &= i == at || y[i] == y0[i];
        CHECK(same, "%s: an Inf changed other elements of its row", f->name);
        if (strcmp(f->name, "fp8_e4m3") == 0) CHECK(isnan(y[at]), "fp8_e4m3: Inf decoded %g, want the NaN code", y[at]);
        else { /* saturating: ±max finite of FORMATS.md §2.1 */
            float big = strcmp(f->name, "fp6_e3m2") == 0 ? 28.0f : strcmp(f->name, "fp6_e2m3") == 0 ? 7.5f
                        : strcmp(f->name, "fp4_e2m1") == 0 ? 6.0f : NAN;
            CHECK(y[at] == (sign ? -big : big), "%s: %cInf decoded %g, want %g", f->name, sign ? '-' : '+', y[at], sign ? -big : big);
        }
    }
    free(x), free(y), free(y0), free(q);
}

/* Arbitrary bytes (format.h: any bytes decode, never a crash): the fast dequantize gives the
 * reference's bits there too, NaN for NaN (payloads may differ), so a kernel cannot agree
 * only on the codes an encoder happens to produce. */
static void test_random_bytes(const qb_format *f, qb_rng *r) {
    int64_t rows = 3, cols = 16 * f->block_elems;
    size_t nb;
    if (qb_format_bytes(f, rows, cols, &nb) != QB_OK) return;
    unsigned char *q = malloc(nb);
    float *y = malloc(rows * cols * sizeof(float)), *y2 = malloc(rows * cols * sizeof(float));
    for (size_t i = 0; i < nb; i++) q[i] = (unsigned char)(qb_rng_uniform(r) * 256.0);
    f->dequantize_ref(q, y, rows, cols);
    f->dequantize(q, y2, rows, cols);
    int64_t bad = -1;
    for (int64_t i = 0; i < rows * cols && bad < 0; i++)
        if (!(isnan(y[i]) && isnan(y2[i])) && memcmp(&y[i], &y2[i], 4) != 0) bad = i;
    CHECK(bad < 0, "%s: %s dequantize of random bytes differs from ref at %lld: %.9g vs %.9g", f->name, f->impl,
          (long long)bad, bad < 0 ? 0.0 : y2[bad], bad < 0 ? 0.0 : y[bad]);
    free(q), free(y), free(y2);
}

/* An all-zero block beside non-zero ones, and an all-zero tensor: exact zeros back. */
static void test_zero_block(const qb_format *f) {
    int64_t cols = 4 * f->block_elems;
    if (f->block_elems == 1) cols = 64;
    float *x = malloc(2 * cols * sizeof(float)), *y = malloc(2 * cols * sizeof(float));
    size_t nb;
    qb_format_bytes(f, 2, cols, &nb);
    unsigned char *q = malloc(nb);
    for (int pass = 0; pass < 2; pass++) {
        for (int64_t i = 0; i < 2 * cols; i++) x[i] = pass ? 0.0f : 0.01f * (float)((i % 11) - 5) + 0.001f;
        int64_t z0 = cols + cols / 4 / f->block_elems * f->block_elems, z1 = z0 + (f->block_elems > 1 ? f->block_elems : 16);
        for (int64_t i = z0; i < z1; i++) x[i] = 0.0f; /* one zero block in row 1 (pass 0) */
        CHECK(f->quantize(x, q, 2, cols, NULL) == QB_OK, "%s: %s", f->name, qb_errmsg());
        f->dequantize(q, y, 2, cols);
        int ok = 1;
        for (int64_t i = pass ? 0 : z0; i < (pass ? 2 * cols : z1); i++) ok &= y[i] == 0.0f;
        CHECK(ok, "%s: %s decodes to non-zero values", f->name, pass ? "an all-zero tensor" : "an all-zero block");
    }
    free(x), free(y), free(q);
}

/* ---- GEMV dot products (format.h invariant 5) ------------------------------------------- */

/* Slack for activations that carry a rounded block sum: q8_1 stores s = fp16(d·Σq), and the
 * q4_1/q5_1 dots (and their _opt variants) use m·s for their block offset m where the
 * dequantized rows give m·Σ(d·q). m is read from the weight block (both layouts start with
 * fp16 d, m): the weighted searches of the _opt variants may leave every code above 0, so
 * |m| can exceed the block's dequantized amax. The affine terms are also rounded at their own
 * magnitude, Σ|m|·|a_i| before the cancellation (format.h invariant 5's caveat), which the
 * Σ|w_i·a_i| tolerance does not see. Returns Σ_blocks |m_b|·(|s_b − Σ_b a_i| + 1e-5·Σ_b |a_i|)
 * (a dequantized), 0 for other activations. */
static double act_sum_slack(const qb_format *f, const void *qw, const qb_format *a, const void *qa, const float *ad,
                            int64_t cols) {
    if (strcmp(a->name, "q8_1") != 0) return 0;
    const block_q8_1 *b = qa;
    double slack = 0;
    for (int64_t ib = 0; ib < cols / 32; ib++) {
        double sum = 0, sabs = 0;
        for (int j = 0; j < 32; j++) sum += ad[32 * ib + j], sabs += fabs(ad[32 * ib + j]);
        uint16_t m;
        memcpy(&m, (const unsigned char *)qw + ib * f->block_bytes + 2, 2);
        slack += fabs((double)qb_f16_to_f32(m)) * (fabs((double)qb_f16_to_f32(b[ib].s) - sum) + 1e-5 * sabs);
    }
    return slack;
}

/* Worst |Δ|/Σ|w_i·a_i| seen over all formats, for the closing summary. */
static double worst_fast, worst_ref;

/* Weight rows of each distribution, activation rows LLM-like or wide-range, at lengths of
 * 1, 3, 7, 16, 33 and 4096/B common blocks B (odd block counts included):
 *  (a) |vec_dot − vec_dot_ref| ≤ 1e-5·Σ|w_i·a_i| + 1e-30;
 *  (b) |vec_dot_ref − Σ w_i·a_i (double)| ≤ the same, plus act_sum_slack — an independent
 *      check of the reference against the dequantized rows. */
static void test_vec_dot(const qb_format *f, qb_rng *r) {
    if (!f->vec_dot_type) {
        CHECK(!f->vec_dot_ref && !f->vec_dot, "%s: a dot without a vec_dot_type", f->name);
        return;
    }
    const qb_format *a = qb_format_find(f->vec_dot_type);
    CHECK(a != NULL, "%s: vec_dot_type '%s' is not a registered format", f->name, f->vec_dot_type);
    CHECK(f->vec_dot_ref && f->vec_dot, "%s: vec_dot_type set but a NULL dot (invariant 1)", f->name);
    if (!a || !f->vec_dot_ref || !f->vec_dot) return;
    int64_t lcm = f->block_elems; /* a length both formats can hold */
    while (lcm % a->block_elems) lcm += f->block_elems;
    const int64_t mult[] = {1, 3, 7, 16, 33, 4096 / lcm};
    double worst_a = 0, worst_b = 0;
    int cases = 0;
    for (size_t m = 0; m < sizeof mult / sizeof mult[0]; m++)
        for (int wkind = 0; wkind < 4; wkind++)
            for (int akind = 0; akind < 2; akind++) {
                int64_t cols = lcm * mult[m];
                size_t nw, na;
                if (qb_format_bytes(f, 1, cols, &nw) != QB_OK || qb_format_bytes(a, 1, cols, &na) != QB_OK) {
                    CHECK(0, "%s: no size for %lld columns", f->name, (long long)cols);
                    continue;
                }
                float *w = malloc(cols * sizeof(float)), *x = malloc(cols * sizeof(float));
                float *wd = malloc(cols * sizeof(float)), *ad = malloc(cols * sizeof(float));
                unsigned char *qw = malloc(nw), *qa = malloc(na);
                fill(r, w, cols, wkind);
                fill(r, x, cols, akind);
                CHECK(f->quantize(w, qw, 1, cols, NULL) == QB_OK, "%s: %s", f->name, qb_errmsg());
                CHECK(a->quantize(x, qa, 1, cols, NULL) == QB_OK, "%s: %s", a->name, qb_errmsg());
                f->dequantize_ref(qw, wd, 1, cols);
                a->dequantize_ref(qa, ad, 1, cols);
                double exact = 0, sabs = 0;
                for (int64_t i = 0; i < cols; i++) {
                    exact += (double)wd[i] * (double)ad[i];
                    sabs += fabs((double)wd[i] * (double)ad[i]);
                }
                const double tol = 1e-5 * sabs + 1e-30, slack = act_sum_slack(f, qw, a, qa, ad, cols);
                const double ref = f->vec_dot_ref(qw, qa, cols), fast = f->vec_dot(qw, qa, cols);
                CHECK_LIMITED(fabs(fast - ref) <= tol, "%s·%s (%s) %lld cols, kinds %d/%d: vec_dot %.9g, ref %.9g, |d| %.3g > %.3g",
                              f->name, a->name, f->impl, (long long)cols, wkind, akind, fast, ref, fabs(fast - ref), tol);
                CHECK_LIMITED(fabs(ref - exact) <= tol + slack,
                              "%s·%s %lld cols, kinds %d/%d: vec_dot_ref %.9g, double dot %.9g, |d| %.9g > %.3g + %.9g", f->name,
                              a->name, (long long)cols, wkind, akind, ref, exact, fabs(ref - exact), tol, slack);
                if (sabs > 0) {
                    worst_a = fmax(worst_a, fabs(fast - ref) / sabs);
                    worst_b = fmax(worst_b, (fabs(ref - exact) - slack) / sabs);
                }
                cases++;
                free(w), free(x), free(wd), free(ad), free(qw), free(qa);
            }
    worst_fast = fmax(worst_fast, worst_a);
    worst_ref = fmax(worst_ref, worst_b);
    printf("  dot %s·%s: %d rows, |vec_dot - ref| <= %.2e, |ref - double| <= %.2e (x sum|w*a|; limit 1e-5)\n", f->name,
           a->name, cases, worst_a, worst_b);
}

/* nblk blocks of f at qw drawn from random bytes until each decodes to finite values below
 * 1e20 (into wd), so only the scale fields are constrained, and only away from NaN/Inf. */
static void random_blocks(const qb_format *f, qb_rng *r, unsigned char *qw, int64_t nblk, float *wd) {
    for (int64_t b = 0; b < nblk; b++) {
        unsigned char *blk = qw + b * f->block_bytes;
        float *v = wd + b * f->block_elems;
        int ok = 0;
        for (int tries = 0; tries < 1000 && !ok; tries++) {
            for (int k = 0; k < f->block_bytes; k++) blk[k] = (unsigned char)(qb_rng_uniform(r) * 256.0);
            f->dequantize_ref(blk, v, 1, f->block_elems);
            ok = 1;
            for (int k = 0; k < f->block_elems; k++) ok &= fabsf(v[k]) < 1e20f; /* false for NaN too */
        }
        CHECK(ok, "%s: no finite block in 1000 draws of random bytes", f->name);
    }
}

/* (a) of test_vec_dot on weight rows of arbitrary bytes, so a fast dot cannot agree only on the
 * codes a quantizer happens to write (q3_K's hmask and 6-bit scales, q2_K's min nibbles, a
 * q8_0 weight of −128…): every block of a block format (no row or tensor header) is drawn
 * afresh until it decodes to finite values below 1e20, so only the scale fields are
 * constrained, and only away from NaN/Inf. Activations come from the quantizer, as in a GEMV. */
static void test_vec_dot_random_bytes(const qb_format *f, qb_rng *r) {
    if (!f->vec_dot_type || f->vec_dot == f->vec_dot_ref || f->block_elems == 1 || f->row_extra_bytes ||
        f->tensor_extra_bytes)
        return;
    const qb_format *a = qb_format_find(f->vec_dot_type);
    int64_t cols = f->block_elems;
    while (cols % a->block_elems || cols < 4096) cols += f->block_elems;
    const int64_t nblk = cols / f->block_elems;
    size_t nw, na;
    if (qb_format_bytes(f, 1, cols, &nw) != QB_OK || qb_format_bytes(a, 1, cols, &na) != QB_OK) return;
    unsigned char *qw = malloc(nw), *qa = malloc(na);
    float *x = malloc(cols * sizeof(float)), *wd = malloc(cols * sizeof(float)), *ad = malloc(cols * sizeof(float));
    double worst = 0;
    enum { ROWS = 8 };
    for (int row = 0; row < ROWS; row++) {
        random_blocks(f, r, qw, nblk, wd);
        fill(r, x, cols, row % 2);
        CHECK(a->quantize(x, qa, 1, cols, NULL) == QB_OK, "%s: %s", a->name, qb_errmsg());
        a->dequantize_ref(qa, ad, 1, cols);
        double sabs = 0;
        for (int64_t i = 0; i < cols; i++) sabs += fabs((double)wd[i] * (double)ad[i]);
        const double tol = 1e-5 * sabs + 1e-30 + act_sum_slack(f, qw, a, qa, ad, cols);
        const double ref = f->vec_dot_ref(qw, qa, cols), fast = f->vec_dot(qw, qa, cols);
        CHECK_LIMITED(fabs(fast - ref) <= tol, "%s·%s (%s) random weight bytes, row %d: vec_dot %.9g, ref %.9g, |d| %.3g > %.3g",
                      f->name, a->name, f->impl, row, fast, ref, fabs(fast - ref), tol);
        if (sabs > 0) worst = fmax(worst, fabs(fast - ref) / sabs);
    }
    printf("  dot %s·%s on random weight bytes: %d rows of %lld, |vec_dot - ref| <= %.2e x sum|w*a|\n", f->name, a->name,
           (int)ROWS, (long long)cols, worst);
    free(qw), free(qa), free(x), free(wd), free(ad);
}

/* vec_dot2 (format.h): two rows of random blocks, `gap` bytes apart beyond a row's own, give
 * the same bits as vec_dot on each, at block counts that leave every remainder of the
 * eight-block steps, odd ones included. */
static void test_vec_dot2(const qb_format *f, qb_rng *r) {
    if (!f->vec_dot2) return;
    const qb_format *a = qb_format_find(f->vec_dot_type);
    static const int64_t nblocks[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 128, 131};
    int cases = 0;
    for (size_t i = 0; i < sizeof nblocks / sizeof nblocks[0]; i++)
        for (int gap = 0; gap <= 3 * f->block_bytes; gap += 3 * f->block_bytes) {
            const int64_t cols = nblocks[i] * f->block_elems;
            size_t nw, na;
            if (cols % a->block_elems || qb_format_bytes(f, 1, cols, &nw) != QB_OK || qb_format_bytes(a, 1, cols, &na) != QB_OK) continue;
            const size_t rb = nw + (size_t)gap;
            unsigned char *qw = malloc(2 * rb), *qa = malloc(na);
            float *x = malloc(cols * sizeof(float)), *wd = malloc(cols * sizeof(float));
            random_blocks(f, r, qw, nblocks[i], wd);
            random_blocks(f, r, qw + rb, nblocks[i], wd);
            fill(r, x, cols, (int)i % 2);
            CHECK(a->quantize(x, qa, 1, cols, NULL) == QB_OK, "%s: %s", a->name, qb_errmsg());
            /* vec_dot2 reads what act_prep makes of the row, where the format has one, from an
             * address off the cache line (format.h asks for 4-byte alignment only), which
             * act_prep must fill whole */
            unsigned char *prep = NULL;
            if (f->act_prep) {
                const size_t pb = f->act_prep_bytes(cols);
                CHECK(pb % 64 == 0, "%s act_prep_bytes(%lld) = %zu, not a multiple of 64", f->name, (long long)cols, pb);
                prep = aligned_alloc(64, pb + 64);
                memset(prep, 0xA5, pb + 64);
                f->act_prep(qa, cols, prep + 4);
            }
            float two[2];
            f->vec_dot2(qw, rb, prep ? prep + 4 : qa, cols, two);
            free(prep);
            const float one[2] = {f->vec_dot(qw, qa, cols), f->vec_dot(qw + rb, qa, cols)};
            CHECK(memcmp(one, two, sizeof one) == 0, "%s vec_dot2, %lld cols, rows %d bytes apart: %.9g %.9g, vec_dot %.9g %.9g", f->name,
                  (long long)cols, (int)rb, two[0], two[1], one[0], one[1]);
            cases++;
            free(qw), free(qa), free(x), free(wd);
        }
    printf("  dot %s two rows at once: the bits of one row at a time in %d cases\n", f->name, cases);
}

static const char *op_impl(const qb_format *f, int fast_is_ref) { return fast_is_ref ? "ref" : f->impl; }

/* The fast quantize gives the reference's bytes (or its status) where the searches meet their
 * corners: six distributions at scales 1e-35 … 1e34, where sums of x³ overflow to Inf and NaN
 * and sub-scales underflow, and with random importances for the formats that read them. */
static void test_quantize_extremes(const qb_format *f, qb_rng *r) {
    if (f->quantize == f->quantize_ref) return;
    const int64_t cols = (4096 + f->block_elems - 1) / f->block_elems * f->block_elems;
    size_t nb;
    if (qb_format_bytes(f, 1, cols, &nb) != QB_OK) return;
    float *x = malloc(cols * sizeof(float)), *imp = malloc(cols * sizeof(float));
    unsigned char *q = malloc(nb), *q2 = malloc(nb);
    int differ = 0;
    for (int64_t i = 0; i < cols; i++) imp[i] = (float)(qb_rng_uniform(r) * 4);
    for (int kind = 0; kind < 6; kind++)
        for (int e = -35; e <= 34; e += 3)
            for (int with_imp = 0; with_imp <= ((f->flags & QB_FMT_USES_IMP) != 0); with_imp++) {
                const double scale = pow(10.0, e);
                for (int64_t i = 0; i < cols; i++) {
                    const double g = qb_rng_normal(r), u = qb_rng_uniform(r);
                    const double v = kind == 0 ? g : kind == 1 ? floor(9 * u) - 4 : kind == 2 ? g * g * g : kind == 3 ? u - 0.5
                                   : kind == 4 ? (i % 16 == 0 ? 50 * g : g) : tan(3.1 * (u - 0.5));
                    x[i] = (float)(v * scale);
                }
                const float *w = with_imp ? imp : NULL;
                memset(q2, 0xA5, nb);
                const qb_status a = f->quantize_ref(x, q, 1, cols, w), b = f->quantize(x, q2, 1, cols, w);
                CHECK_LIMITED(a == b && (a != QB_OK || memcmp(q, q2, nb) == 0),
                              "%s: %s quantize differs from ref (kind %d, scale 1e%d, imatrix %d; status %d/%d)", f->name, f->impl,
                              kind, e, with_imp, a, b);
                differ += a != b || (a == QB_OK && memcmp(q, q2, nb) != 0);
            }
    if (!differ) qbt_pass_++;
    free(x), free(imp), free(q), free(q2);
}

int main(void) {
    qb_formats_init();
    qb_rng r;
    qb_rng_seed(&r, 42);
    CHECK(qb_format_count() >= 4, "registry holds %d formats", qb_format_count());
    for (int i = 0; i < qb_format_count(); i++) {
        const qb_format *f = qb_format_at(i);
        CHECK(f->quantize && f->dequantize && f->quantize_ref && f->dequantize_ref && f->impl, "%s has a NULL path", f->name);
        for (int k = 0; k < i; k++) CHECK(strcmp(qb_format_at(k)->name, f->name) != 0, "duplicate name %s", f->name);
        printf("%-14s impl=%s (quantize %s, dequantize %s, vec_dot %s)\n", f->name, f->impl,
               op_impl(f, f->quantize == f->quantize_ref), op_impl(f, f->dequantize == f->dequantize_ref),
               f->vec_dot ? op_impl(f, f->vec_dot == f->vec_dot_ref) : "-");
        test_sizes(f);
        test_roundtrip(f, &r);
        test_quantize_extremes(f, &r);
        test_specials(f);
        test_inf(f);
        test_zero_block(f);
        test_random_bytes(f, &r);
        test_vec_dot(f, &r);
        test_vec_dot_random_bytes(f, &r);
        test_vec_dot2(f, &r);
    }
    printf("dot products: worst |vec_dot - vec_dot_ref| = %.2e, worst |vec_dot_ref - double| = %.2e (x sum|w*a|)\n",
           worst_fast, worst_ref);
    const qb_format *f;
    CHECK(qb_format_require("no_such_fmt", &f) == QB_EUSAGE && strstr(qb_errmsg(), "f16"), "%s", qb_errmsg());
    return qbt_finish();
}
