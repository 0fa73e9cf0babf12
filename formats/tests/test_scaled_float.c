/* test_scaled_float.c — f16_g32 (f16 elements under an E8M0 block scale, formats/float.c) and
 * the W8A8 FP8 dot of fp8_e4m3_pc / fp8_e4m3_pt (vLLM's fbgemm_fp8 / ptpc_fp8 / fp8 pairs,
 * formats/minifloat.c), against expectations computed here:
 *  - f16_g32: the scale byte is floor(log2 amax) − 14 + 127 (frexp), values that are f16 values
 *    times any power of two come back exactly, values far outside f16's range keep 11-bit
 *    precision, 16.25 bits/weight;
 *  - FP8 pairs: an activation tensor quantized per token holds one scale per row equal to
 *    amax(row)/448 (per tensor: one for all rows); vec_dot_ref equals an exact integer dot of
 *    the codes (E4M3 values are multiples of 2^-9) rounded once and scaled by s_w·s_a, and is
 *    within 4·2^-24·Σ|w_i·a_i| of the double dot of the dequantized rows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/qbtest.h"
#include "datasets/source.h"
#include "formats/format.h"
#include "formats/minifloat.h"

static const qb_format *need(const char *name) {
    const qb_format *f = qb_format_find(name);
    CHECK(f != NULL, "%s not registered", name);
    return f;
}

static void test_f16_g32(qb_rng *r) {
    const qb_format *f = need("f16_g32");
    if (!f) return;
    CHECK(fabs(qb_format_bpw(f, 3, 4096) - 16.25) < 1e-12, "bpw %.6g", qb_format_bpw(f, 3, 4096));
    enum { N = 32 * 64 };
    float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
    unsigned char *q = malloc(65 * (N / 32));
    /* blocks at magnitudes 2^-60 … 2^60: exact f16 values (11 significant bits, within 2^28 of
     * the block max) times 2^k come back exactly, whatever k */
    for (int b = 0; b < N / 32; b++) {
        int k = -60 + 2 * b;
        for (int j = 0; j < 32; j++) {
            double m = (double)(1024 + (int)(qb_rng_uniform(r) * 1024)) * (j % 2 ? -1 : 1); /* 11 bits */
            x[32 * b + j] = (float)ldexp(m, k - 10 - (j % 5));
        }
    }
    CHECK(f->quantize(x, q, 1, N, NULL) == QB_OK, "%s", qb_errmsg());
    f->dequantize(q, y, 1, N);
    int exact = 1, bytes_ok = 1;
    for (int b = 0; b < N / 32; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[32 * b + j]));
        int e2;
        frexp(amax, &e2); /* amax = f·2^e2, f ∈ [0.5, 1): floor(log2 amax) = e2 − 1 */
        bytes_ok &= q[65 * b] == e2 - 1 - 14 + 127;
        for (int j = 0; j < 32; j++) exact &= y[32 * b + j] == x[32 * b + j];
    }
    CHECK(bytes_ok, "f16_g32: a scale byte differs from floor(log2 amax) - 14 + 127");
    CHECK(exact, "f16_g32: power-of-two-scaled f16 values did not round-trip exactly");

    /* outside f16's range: 1e6 and 3e-9 keep 2^-11 relative precision (plain f16: Inf, and
     * a subnormal with 2 significant bits) */
    for (int i = 0; i < 32; i++) x[i] = 1e6f * (float)(1.0 + 0.37 * qb_rng_normal(r));
    for (int i = 32; i < 64; i++) x[i] = 3e-9f * (float)(1.0 + 0.37 * qb_rng_normal(r));
    CHECK(f->quantize(x, q, 1, 64, NULL) == QB_OK, "%s", qb_errmsg());
    f->dequantize(q, y, 1, 64);
    double worst = 0;
    for (int i = 0; i < 64; i++) worst = fmax(worst, fabs((double)x[i] - y[i]) / fabs((double)x[i]));
    CHECK(worst <= 0x1p-11 * (1 + 1e-6), "f16_g32 far from f16's range: worst relative error %.3g > 2^-11", worst);
    printf("  f16_g32: exact on scaled f16 values at 2^-60..2^60; at 1e6 and 3e-9 worst relative error %.3g\n", worst);
    free(x), free(y), free(q);
}

/* Exact Σ code values·2^9 products (integers) of two [s][codes] rows. */
static int64_t int_dot(const uint8_t *w, const uint8_t *a, int64_t cols) {
    int64_t acc = 0;
    for (int64_t i = 0; i < cols; i++)
        acc += (int64_t)(qb_mf_lut[QB_MF_E4M3][w[4 + i]] * 512.0f) * (int64_t)(qb_mf_lut[QB_MF_E4M3][a[4 + i]] * 512.0f);
    return acc;
}

static void test_fp8_pairs(qb_rng *r) {
    qb_mf_init();
    const char *names[2] = {"fp8_e4m3_pc", "fp8_e4m3_pt"};
    for (int k = 0; k < 2; k++) {
        const qb_format *f = need(names[k]);
        if (!f) continue;
        CHECK(f->vec_dot_type && strcmp(f->vec_dot_type, f->name) == 0, "%s: vec_dot_type %s", f->name,
              f->vec_dot_type ? f->vec_dot_type : "NULL");
        /* activations: 3 tokens of very different magnitude, quantized as vec_dot_type */
        enum { T = 3, C = 512 };
        float act[T * C];
        for (int t = 0; t < T; t++)
            for (int i = 0; i < C; i++) act[t * C + i] = (float)(qb_rng_normal(r) * pow(10.0, 2 * t - 2));
        size_t na;
        qb_format_bytes(f, T, C, &na);
        unsigned char *qa = malloc(na);
        CHECK(f->quantize(act, qa, T, C, NULL) == QB_OK, "%s", qb_errmsg());
        for (int t = 0; t < T; t++) {
            float amax = 0, s;
            for (int i = 0; i < C; i++) amax = fmaxf(amax, fabsf(act[(k ? 0 : t) * C + i]));
            if (k) /* per tensor: one scale, the amax over every token */
                for (int i = 0; i < T * C; i++) amax = fmaxf(amax, fabsf(act[i]));
            memcpy(&s, qa + (k ? 0 : (size_t)t * (4 + C)), 4);
            CHECK(s == amax / 448.0f, "%s token %d: scale %.9g, want amax/448 = %.9g", f->name, t, s, amax / 448.0f);
        }
        free(qa);

        /* dots on random rows: exact integer form, and the double dot of the dequantized rows */
        double worst = 0;
        for (int trial = 0; trial < 200; trial++) {
            int64_t cols = 1 + (int64_t)(qb_rng_uniform(r) * 3000);
            float *w = malloc(cols * sizeof(float)), *a = malloc(cols * sizeof(float));
            float *wd = malloc(cols * sizeof(float)), *ad = malloc(cols * sizeof(float));
            double sw_mag = pow(10.0, qb_rng_uniform(r) * 8 - 6), sa_mag = pow(10.0, qb_rng_uniform(r) * 8 - 4);
            for (int64_t i = 0; i < cols; i++) {
                w[i] = (float)(sw_mag * qb_rng_normal(r));
                a[i] = (float)(sa_mag * qb_rng_normal(r) * (i % 97 == 0 ? 30 : 1)); /* a few outlier features */
            }
            size_t nb;
            qb_format_bytes(f, 1, cols, &nb);
            uint8_t *qw = malloc(nb), *qa1 = malloc(nb);
            CHECK(f->quantize(w, qw, 1, cols, NULL) == QB_OK && f->quantize(a, qa1, 1, cols, NULL) == QB_OK, "%s", qb_errmsg());
            f->dequantize_ref(qw, wd, 1, cols);
            f->dequantize_ref(qa1, ad, 1, cols);
            float sw, sa;
            memcpy(&sw, qw, 4);
            memcpy(&sa, qa1, 4);
            float want = (float)ldexp((double)int_dot(qw, qa1, cols), -18) * (sw * sa);
            float got = f->vec_dot_ref(qw, qa1, cols);
            CHECK_LIMITED(got == want, "%s %lld cols: vec_dot_ref %.9g, exact integer form %.9g", f->name, (long long)cols, got,
                          want);
            double exact = 0, sabs = 0;
            for (int64_t i = 0; i < cols; i++) exact += (double)wd[i] * ad[i], sabs += fabs((double)wd[i] * ad[i]);
            CHECK_LIMITED(fabs(got - exact) <= 4 * 0x1p-24 * sabs + 1e-37, "%s %lld cols: |ref - dequantized dot| %.3g > %.3g",
                          f->name, (long long)cols, fabs(got - exact), 4 * 0x1p-24 * sabs);
            if (sabs > 0) worst = fmax(worst, fabs(got - exact) / sabs);
            free(w), free(a), free(wd), free(ad), free(qw), free(qa1);
        }
        printf("  %s: vec_dot_ref = exact integer form in 200 rows; |ref - dequantized dot| <= %.2e sum|w*a| (bound 2.4e-07)\n",
               f->name, worst);
    }
}

int main(void) {
    qb_formats_init();
    qb_rng r;
    qb_rng_seed(&r, 1234);
    test_f16_g32(&r);
    test_fp8_pairs(&r);
    return qbt_finish();
}
