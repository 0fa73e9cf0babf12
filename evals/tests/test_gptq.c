/* test_gptq.c — GPTQ into the int group formats and the K-quants (evals/gptq.h):
 *  - a hand-checked case: int4_sym_g32, one row, inputs 0 and 1 correlated (H = I except
 *    H01 = H10 = 0.5, no dampening). sd = amax/7 = 1; column 0: 2.4 → 2, error 0.4 carried to
 *    column 1 as w1 − e·U01/U00 = w1 + 0.5·0.4 (U = chol(H⁻¹), U01/U00 = −ρ), so 1.4 becomes
 *    1.6 → 2 where RTN gives 1; every other column is RTN's. Output error δᵀHδ: 0.28 vs 0.48;
 *  - invariant 1: with a diagonal H, GPTQ's bytes are RTN's (the registry's quantize), for
 *    every format it writes (the intq group formats, q4_0, q8_0); for the K-quants, whose
 *    super-block search takes diag(H) as importance weights, its values are those of the
 *    registry's quantize with those weights (values, not bytes: ggml leaves a zero-scale
 *    sub-block's codes as its search left them);
 *  - random layers with correlated calibration inputs, every supported format (the K-quants
 *    q2_K … q6_K included, two super-blocks per row), with and without act-order:
 *    ‖WX − ŴX‖² is never above RTN's (the registry's quantize without importance weights),
 *    the bytes decode with the format's own dequantize to exactly the values GPTQ chose
 *    (qb_gptq_opts.chosen), they do not depend on the thread count (invariant 2), and dead
 *    inputs (H_ii = 0) decode to 0;
 *  - formats GPTQ cannot write are refused with QB_EUSAGE.
 * With a directory argument it also writes seed 1's layer (w.f32, x.f32, dims.txt: R C N) and,
 * per K-quant, RTN's and GPTQ's bytes (rtn_<f>.bin, gptq_<f>_ao<0|1>.bin) with the values GPTQ
 * chose (gptq_<f>_ao<0|1>.f32), for oracle_gptq.py to decode with gguf-py. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/qbtest.h"
#include "datasets/source.h"
#include "evals/gptq.h"

static uint8_t *alloc_q(const qb_format *f, int64_t rows, int64_t cols) {
    size_t b = 0;
    qb_format_bytes(f, rows, cols, &b);
    return calloc(b ? b : 1, 1);
}

static double out_err(const float *w, const float *wh, int64_t rows, int64_t cols, const float *x, int64_t n) {
    double e = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t t = 0; t < n; t++) {
            double d = 0;
            for (int64_t c = 0; c < cols; c++) d += ((double)w[r * cols + c] - wh[r * cols + c]) * x[t * cols + c];
            e += d * d;
        }
    return e;
}

static void hand_case(void) {
    const qb_format *f = qb_format_find("int4_sym_g32");
    enum { C = 32 };
    float w[C], wr[C], wg[C];
    for (int c = 0; c < C; c++) w[c] = (float)((c % 5) - 2) * 0.9f + 0.13f;
    w[0] = 2.4f, w[1] = 1.4f, w[2] = 7.0f;
    double h[C * C] = {0};
    for (int c = 0; c < C; c++) h[c * C + c] = 1.0;
    h[1] = h[C] = 0.5;
    uint8_t *qr = alloc_q(f, 1, C), *qg = alloc_q(f, 1, C);
    qb_gptq_opts o = {0.0, 128, 0, NULL};
    CHECK(f->quantize(w, qr, 1, C, NULL) == QB_OK, "rtn");
    CHECK(qb_gptq_quantize(f, w, 1, C, h, &o, qg, 1) == QB_OK, "gptq: %s", qb_errmsg());
    f->dequantize(qr, wr, 1, C);
    f->dequantize(qg, wg, 1, C);
    CHECK(wr[0] == 2.0f && wr[1] == 1.0f && wr[2] == 7.0f, "RTN gives 2, 1, 7 (got %g %g %g)", wr[0], wr[1], wr[2]);
    CHECK(wg[0] == 2.0f && wg[1] == 2.0f && wg[2] == 7.0f, "GPTQ gives 2, 2, 7 (got %g %g %g)", wg[0], wg[1], wg[2]);
    int same = 1;
    for (int c = 3; c < C; c++) same &= wg[c] == wr[c];
    CHECK(same, "columns 2..31 are uncorrelated: RTN's values");
    double er = 0, eg = 0;
    for (int i = 0; i < C; i++)
        for (int j = 0; j < C; j++) {
            er += ((double)w[i] - wr[i]) * h[i * C + j] * ((double)w[j] - wr[j]);
            eg += ((double)w[i] - wg[i]) * h[i * C + j] * ((double)w[j] - wg[j]);
        }
    double rest = er - 0.48; /* the uncorrelated columns' share, equal in both */
    CHECK(fabs(eg - rest - 0.28) < 1e-5 && fabs(er - rest - 0.48) < 1e-5, "δᵀHδ over columns 0, 1: GPTQ %.6f (0.28), RTN %.6f (0.48)", eg - rest,
          er - rest);
    printf("hand case: RTN %g %g, GPTQ %g %g; output error (cols 0-1) RTN %.4f GPTQ %.4f\n", wr[0], wr[1], wg[0], wg[1], er - rest, eg - rest);
    free(qr), free(qg);
}

/* Calibration inputs with correlated columns of varied scale: x = z·A, A mixing neighbours. */
static void make_x(qb_rng *r, float *x, int64_t n, int64_t cols) {
    double *z = malloc(sizeof *z * (size_t)cols);
    for (int64_t t = 0; t < n; t++) {
        for (int64_t c = 0; c < cols; c++) z[c] = qb_rng_normal(r);
        for (int64_t c = 0; c < cols; c++) {
            double scale = 0.3 + 2.0 * (double)((c * 37) % 11) / 11.0;
            x[t * cols + c] = (float)(scale * (z[c] + 0.8 * z[(c + 1) % cols] + 0.5 * z[(c + 7) % cols]));
        }
    }
    free(z);
}

static void hessian(const float *x, int64_t n, int64_t cols, double *h) {
    memset(h, 0, sizeof *h * (size_t)(cols * cols));
    for (int64_t t = 0; t < n; t++)
        for (int64_t i = 0; i < cols; i++)
            for (int64_t j = 0; j < cols; j++) h[i * cols + j] += (double)x[t * cols + i] * x[t * cols + j];
}

static void dump(const char *dir, const char *name, const void *p, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(p, 1, n, f) == n && fclose(f) == 0, "writing %s", path);
}

static void random_layers(const char *dir) {
    static const char *const fmts[] = {"int4_sym_g32", "int4_sym_g128", "int4_asym_g64", "int4_asym_g128", "int3_asym_g128", "int2_asym_g64",
                                       "int8_sym_g128", "q4_0", "q8_0", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K"};
    enum { R = 24, C = 512, N = 768 };
    float *w = malloc(sizeof *w * R * C), *x = malloc(sizeof *x * N * C), *wr = malloc(sizeof *wr * R * C), *wg = malloc(sizeof *wg * R * C);
    float *chosen = malloc(sizeof *chosen * R * C);
    double *h = malloc(sizeof *h * C * C);
    qb_rng rng;
    for (int seed = 1; seed <= 3; seed++) {
        qb_rng_seed(&rng, (uint64_t)seed);
        for (int i = 0; i < R * C; i++) w[i] = (float)(0.02 * qb_rng_normal(&rng));
        make_x(&rng, x, N, C);
        hessian(x, N, C, h);
        if (dir && seed == 1) {
            char dims[64];
            int len = snprintf(dims, sizeof dims, "%d %d %d\n", R, C, N);
            dump(dir, "w.f32", w, sizeof *w * R * C);
            dump(dir, "x.f32", x, sizeof *x * N * C);
            dump(dir, "dims.txt", dims, (size_t)len);
        }
        for (size_t k = 0; k < sizeof fmts / sizeof fmts[0]; k++) {
            const qb_format *f = qb_format_find(fmts[k]);
            CHECK(f && qb_gptq_supports(f), "%s is supported", fmts[k]);
            if (!f) continue;
            uint8_t *qr = alloc_q(f, R, C), *qg = alloc_q(f, R, C), *qt = alloc_q(f, R, C);
            size_t nb;
            qb_format_bytes(f, R, C, &nb);
            f->quantize(w, qr, R, C, NULL);
            f->dequantize(qr, wr, R, C);
            const double er = out_err(w, wr, R, C, x, N);
            const int kq = strstr(fmts[k], "_K") != NULL;
            char name[64];
            if (dir && seed == 1 && kq) snprintf(name, sizeof name, "rtn_%s.bin", fmts[k]), dump(dir, name, qr, nb);
            for (int ao = 0; ao <= 1; ao++) {
                qb_gptq_opts o = {0.01, 64, ao, NULL};
                CHECK(qb_gptq_quantize(f, w, R, C, h, &o, qt, 3) == QB_OK, "%s threads 3: %s", fmts[k], qb_errmsg());
                o.chosen = chosen;
                CHECK(qb_gptq_quantize(f, w, R, C, h, &o, qg, 1) == QB_OK, "%s: %s", fmts[k], qb_errmsg());
                CHECK(memcmp(qg, qt, nb) == 0, "%s act-order %d: 1 and 3 threads give the same bytes", fmts[k], ao);
                f->dequantize(qg, wg, R, C);
                int same = 0;
                while (same < R * C && wg[same] == chosen[same]) same++;
                CHECK(same == R * C, "%s act-order %d: the bytes decode to GPTQ's values (first difference at %d: %.9g, chose %.9g)", fmts[k],
                      ao, same, same < R * C ? wg[same] : 0, same < R * C ? chosen[same] : 0);
                const double eg = out_err(w, wg, R, C, x, N);
                CHECK(eg <= er, "%s seed %d act-order %d: ‖WX − ŴX‖² GPTQ %.6g ≤ RTN %.6g", fmts[k], seed, ao, eg, er);
                if (dir && seed == 1 && kq) {
                    snprintf(name, sizeof name, "gptq_%s_ao%d.bin", fmts[k], ao);
                    dump(dir, name, qg, nb);
                    snprintf(name, sizeof name, "gptq_%s_ao%d.f32", fmts[k], ao);
                    dump(dir, name, chosen, sizeof *chosen * R * C);
                }
                if (seed == 1) printf("%-15s act-order %d: ‖WX−ŴX‖² RTN %.5g  GPTQ %.5g  (%.1f%%)\n", fmts[k], ao, er, eg, 100 * eg / er);
            }
            free(qr), free(qg), free(qt);
        }
    }
    /* dead inputs: column 5's input never fires → its weights are zeroed, as gptq.py does */
    const qb_format *f = qb_format_find("int4_asym_g128");
    for (int i = 0; i < C; i++) h[5 * C + i] = h[i * C + 5] = 0.0;
    uint8_t *qg = alloc_q(f, R, C);
    qb_gptq_opts o = QB_GPTQ_DEFAULTS;
    CHECK(qb_gptq_quantize(f, w, R, C, h, &o, qg, 2) == QB_OK, "dead input: %s", qb_errmsg());
    f->dequantize(qg, wg, R, C);
    int zero = 1;
    for (int r = 0; r < R; r++) zero &= wg[r * C + 5] == 0.0f;
    CHECK(zero, "a dead input's column decodes to 0");
    free(qg);
    free(w), free(x), free(wr), free(wg), free(h), free(chosen);
}

static void diagonal_is_rtn(void) {
    enum { R = 8, C = 256 };
    float w[R * C], imp[C], wr[R * C], wg[R * C];
    double *h = calloc(C * C, sizeof *h);
    qb_rng rng;
    qb_rng_seed(&rng, 9);
    int nk = 0;
    for (int i = 0; i < R * C; i++) w[i] = (float)qb_rng_normal(&rng);
    for (int c = 0; c < C; c++) h[c * C + c] = 0.5 + (double)(c % 13), imp[c] = (float)h[c * C + c];
    for (int i = 0; i < qb_format_count(); i++) {
        const qb_format *f = qb_format_at(i);
        if (!qb_gptq_supports(f)) continue;
        uint8_t *qr = alloc_q(f, R, C), *qg = alloc_q(f, R, C);
        size_t nb;
        qb_format_bytes(f, R, C, &nb);
        qb_gptq_opts o = QB_GPTQ_DEFAULTS;
        const int kq = strstr(f->name, "_K") != NULL; /* the K-quants: the search with diag(H) as importance */
        f->quantize(w, qr, R, C, kq ? imp : NULL);
        CHECK(qb_gptq_quantize(f, w, R, C, h, &o, qg, 2) == QB_OK, "%s", qb_errmsg());
        if (!kq) {
            CHECK(memcmp(qr, qg, nb) == 0, "%s: diagonal H gives RTN's bytes", f->name);
        } else {
            f->dequantize(qr, wr, R, C);
            f->dequantize(qg, wg, R, C);
            int same = 0;
            while (same < R * C && wr[same] == wg[same]) same++;
            CHECK(same == R * C, "%s: diagonal H gives the values of the quantize with importance diag(H) (first difference at %d)", f->name,
                  same);
        }
        nk += kq;
        free(qr), free(qg);
    }
    CHECK(nk == 5, "GPTQ writes the five K-quants q2_K … q6_K (%d)", nk);
    free(h);
}

static void refused(void) {
    static const char *const no[] = {"q4_1", "q8_K", "iq4_xs", "int4_asym_g64_hqq", "int4_sym_pc", "int4_sym_pt", "nf4", "f16"};
    double h[64 * 64] = {0};
    float w[64] = {0};
    uint8_t q[256];
    qb_gptq_opts o = QB_GPTQ_DEFAULTS;
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        const qb_format *f = qb_format_find(no[i]);
        if (!f) continue;
        CHECK(!qb_gptq_supports(f) && qb_gptq_quantize(f, w, 1, 64, h, &o, q, 1) == QB_EUSAGE, "%s is refused", no[i]);
    }
}

int main(int argc, char **argv) {
    qb_formats_init();
    hand_case();
    diagonal_is_rtn();
    random_layers(argc > 1 ? argv[1] : NULL);
    refused();
    return qbt_finish();
}
