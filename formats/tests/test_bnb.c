/* test_bnb.c — bitsandbytes NF4/FP4 (formats/bnb.c) and the linear integer formats of
 * formats/intq.c: codebooks against FORMATS.md §7's published constants, special blocks
 * (all zero, power-of-two absmax, midpoint ties), the double-quantized absmax, packing order,
 * and bits/weight against closed forms computed here independently of the registry. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/qbtest.h"
#include "datasets/source.h"
#include "formats/format.h"

extern const float qb_bnb_nf4_code[16], qb_bnb_fp4_code[16];
void qb_bnb_dynamic_map(float map[256]);

/* FORMATS.md §7.1, verbatim */
static const double nf4_doc[16] = {
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334,
    -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
};
/* §7.2: magnitude codes before normalisation, then the printed normalised magnitudes */
static const double fp4_raw[8] = {0, 0.0625, 8, 12, 4, 6, 2, 3};
static const double fp4_printed[8] = {0, 0.005208333, 0.6666667, 1.0, 0.3333333, 0.5, 0.1666667, 0.25};

static const qb_format *need(const char *name) {
    const qb_format *f = qb_format_find(name);
    CHECK(f != NULL, "%s not registered", name);
    return f;
}

static void test_codebooks(void) {
    for (int i = 0; i < 16; i++) CHECK(qb_bnb_nf4_code[i] == (float)nf4_doc[i], "nf4[%d] = %.9g", i, qb_bnb_nf4_code[i]);
    for (int i = 0; i < 16; i++) {
        float want = (float)(fp4_raw[i & 7] / 12.0) * (i & 8 ? -1.0f : 1.0f);
        CHECK(qb_bnb_fp4_code[i] == want && !!signbit(qb_bnb_fp4_code[i]) == (i >= 8), "fp4[%d] = %.9g", i, qb_bnb_fp4_code[i]);
        CHECK(fabs(fabs(qb_bnb_fp4_code[i]) - fp4_printed[i & 7]) <= 5e-8, "fp4[%d] vs printed %.9g", i, fp4_printed[i & 7]);
    }
    /* through the format: a block holding every code value (absmax 1) decodes to them exactly */
    const char *names[2] = {"nf4", "fp4_bnb"};
    const float *books[2] = {qb_bnb_nf4_code, qb_bnb_fp4_code};
    for (int k = 0; k < 2; k++) {
        const qb_format *f = need(names[k]);
        if (!f) continue;
        float x[64], y[64];
        unsigned char q[36];
        for (int i = 0; i < 64; i++) x[i] = books[k][i % 16];
        x[63] = 1.0f;
        CHECK(f->quantize(x, q, 1, 64, NULL) == QB_OK, "%s", qb_errmsg());
        f->dequantize(q, y, 1, 64);
        int same = 1;
        for (int i = 0; i < 64; i++) same &= y[i] == x[i];
        CHECK(same, "%s: codebook values do not round-trip exactly", names[k]);
        /* packing: element 0 in the high nibble of the first code byte */
        unsigned char lo = q[4] & 15, hi = q[4] >> 4;
        CHECK(books[k][hi] == x[0] && books[k][lo] == x[1], "%s: nibble order (byte %02x)", names[k], q[4]);
    }
    /* midpoint tie goes to the lower code (strict >): NF4 threshold between codes 7 and 8 */
    const qb_format *f = need("nf4");
    if (f) {
        float x[64] = {0}, y[64];
        unsigned char q[36];
        x[0] = 1.0f;
        x[1] = 0.03979014977812767f;
        x[2] = nextafterf(0.03979014977812767f, 1.0f);
        f->quantize(x, q, 1, 64, NULL);
        f->dequantize(q, y, 1, 64);
        CHECK(y[1] == 0.0f && y[2] == qb_bnb_nf4_code[8], "tie: %.9g, above: %.9g", y[1], y[2]);
    }
}

static void test_special_blocks(void) {
    const char *names[4] = {"nf4", "fp4_bnb", "nf4_dq", "fp4_bnb_dq"};
    for (int k = 0; k < 4; k++) {
        const qb_format *f = need(names[k]);
        if (!f) continue;
        size_t nb;
        qb_format_bytes(f, 1, 128, &nb);
        unsigned char *q = malloc(nb);
        float x[128] = {0}, y[128];
        CHECK(f->quantize(x, q, 1, 128, NULL) == QB_OK, "%s", qb_errmsg());
        f->dequantize(q, y, 1, 128);
        int zero = 1;
        for (int i = 0; i < 128; i++) zero &= y[i] == 0.0f;
        CHECK(zero, "%s: an all-zero row does not decode to zeros", names[k]);
        /* block 0 all zero, block 1 with absmax exactly 4 holding 4·code values */
        const float *book = k % 2 ? qb_bnb_fp4_code : qb_bnb_nf4_code;
        for (int i = 0; i < 64; i++) x[64 + i] = 4.0f * book[i % 16];
        x[127] = -4.0f;
        CHECK(f->quantize(x, q, 1, 128, NULL) == QB_OK, "%s", qb_errmsg());
        f->dequantize(q, y, 1, 128);
        int exact = 1, zero0 = 1;
        for (int i = 0; i < 64; i++) zero0 &= y[i] == 0.0f;
        for (int i = 64; i < 128; i++) exact &= y[i] == x[i];
        if (k < 2) {
            float a;
            memcpy(&a, q + 36, 4);
            CHECK(a == 4.0f, "%s: stored absmax %.9g", names[k], a);
            CHECK(exact && zero0, "%s: power-of-two absmax block not exact", names[k]);
        } else {
            /* two blocks: absmax {0, 4}, offset 2, absmax2 2, codes −1 and +1 of the dynamic map: exact */
            float off, a2;
            memcpy(&off, q, 4);
            memcpy(&a2, q + 4, 4);
            CHECK(off == 2.0f && a2 == 2.0f, "%s: offset %.9g absmax2 %.9g", names[k], off, a2);
            CHECK(exact, "%s: power-of-two absmax block not exact after double quantization", names[k]);
            for (int i = 0; i < 64; i++) CHECK_LIMITED(fabsf(y[i]) <= 0.00704f * 2.0f, "%s: zero block [%d] = %g", names[k], i, y[i]);
        }
        free(q);
    }
}

static void test_double_quant(void) {
    float map[256];
    qb_bnb_dynamic_map(map);
    int inc = 1;
    for (int i = 1; i < 256; i++) inc &= map[i] > map[i - 1];
    CHECK(inc && map[255] == 1.0f && map[127] == 0.0f && map[0] == -map[254], "dynamic map shape");
    double gap = 0;
    for (int i = 1; i < 256; i++) gap = fmax(gap, (double)map[i] - (double)map[i - 1]);
    CHECK(gap / 2 <= 0.00704, "dynamic map half gap %.6g > 0.00704 used by the bound", gap / 2);

    qb_rng r;
    qb_rng_seed(&r, 7);
    const char *names[2] = {"nf4_dq", "nf4"};
    const qb_format *dq = need(names[0]), *plain = need(names[1]);
    if (!dq || !plain) return;
    const int64_t rows = 5, cols = 64 * 300; /* > 256 blocks per row */
    float *x = malloc(rows * cols * 4), *y = malloc(rows * cols * 4), *yp = malloc(rows * cols * 4);
    size_t nb, np;
    qb_format_bytes(dq, rows, cols, &nb);
    qb_format_bytes(plain, rows, cols, &np);
    unsigned char *q = malloc(nb), *qp = malloc(np);
    for (int64_t i = 0; i < rows * cols; i++) x[i] = (float)(0.02 * qb_rng_normal(&r) * (1 + (i / 64) % 5));
    CHECK(dq->quantize(x, q, rows, cols, NULL) == QB_OK, "%s", qb_errmsg());
    CHECK(plain->quantize(x, qp, rows, cols, NULL) == QB_OK, "%s", qb_errmsg());
    dq->dequantize(q, y, rows, cols);
    plain->dequantize(qp, yp, rows, cols);
    double worst = 0, worst_abs = 0;
    for (int64_t rr = 0; rr < rows; rr++) {
        double amax = 0;
        for (int64_t c = 0; c < cols; c++) amax = fmax(amax, fabs(x[rr * cols + c]));
        float a2;
        memcpy(&a2, q + (size_t)rr * (nb / rows) + 4, 4);
        for (int64_t c = 0; c < cols; c++) {
            int64_t i = rr * cols + c;
            worst = fmax(worst, fabs((double)x[i] - y[i]) / amax);
            /* same 4-bit codes as nf4; only the absmax moved: |y − yp| ≤ 0.00704·absmax2 */
            worst_abs = fmax(worst_abs, fabs((double)y[i] - yp[i]) / a2);
        }
    }
    CHECK(worst <= dq->err_block, "nf4_dq worst error %.4g·amax > bound %.4g", worst, dq->err_block);
    CHECK(worst_abs <= 0.00704 * (1 + 1e-6), "absmax double-quant error %.4g·absmax2", worst_abs);
    printf("nf4_dq: worst |x - y| = %.4f·amax(row) (bound %.4f); absmax error <= %.5f·absmax2\n", worst, dq->err_block,
           worst_abs);
    free(x), free(y), free(yp), free(q), free(qp);
}

/* Closed forms, independent of the registry's fields. */
static void test_bpw(void) {
    static const struct {
        const char *name;
        int bits, group, scale_bits, zero_bits;
    } g[] = {
        {"int4_sym_g32", 4, 32, 16, 0},     {"int4_sym_g64", 4, 64, 16, 0},   {"int4_sym_g128", 4, 128, 16, 0},
        {"int4_asym_g32", 4, 32, 16, 8},    {"int4_asym_g64", 4, 64, 16, 8},  {"int4_asym_g128", 4, 128, 16, 8},
        {"int8_sym_g128", 8, 128, 16, 0},   {"int3_asym_g128", 3, 128, 16, 8}, {"int2_asym_g64", 2, 64, 16, 8},
        {"nf4", 4, 64, 32, 0},              {"fp4_bnb", 4, 64, 32, 0},
        {"int4_asym_g64_hqq", 4, 64, 16, 16},
    };
    const int64_t shapes[][2] = {{1, 16384}, {3, 4096}, {7, 11008}};
    for (size_t k = 0; k < sizeof g / sizeof g[0]; k++) {
        const qb_format *f = need(g[k].name);
        if (!f) continue;
        double want = g[k].bits + (double)(g[k].scale_bits + g[k].zero_bits) / g[k].group;
        for (int s = 0; s < 3; s++) {
            if (shapes[s][1] % g[k].group) continue;
            double got = qb_format_bpw(f, shapes[s][0], shapes[s][1]);
            CHECK(fabs(got - want) < 1e-12, "%s %lldx%lld: %.9g bpw, closed form %.9g", g[k].name,
                  (long long)shapes[s][0], (long long)shapes[s][1], got, want);
        }
        printf("%-15s %.4f bits/weight\n", g[k].name, want);
    }
    const char *dq[2] = {"nf4_dq", "fp4_bnb_dq"};
    for (int k = 0; k < 2; k++) {
        const qb_format *f = need(dq[k]);
        for (int s = 0; f && s < 3; s++) {
            double cols = (double)shapes[s][1], want = 4 + 8.0 / 64 + 64.0 / cols; /* row: fp32 offset + absmax2 */
            CHECK(fabs(qb_format_bpw(f, shapes[s][0], shapes[s][1]) - want) < 1e-12, "%s cols %g", dq[k], cols);
        }
        if (f) printf("%-15s 4 + 8/64 + 64/cols bits/weight (4.1406 at 4096 cols)\n", dq[k]);
    }
    const qb_format *pc = need("int4_sym_pc");
    for (int s = 0; pc && s < 3; s++) {
        double want = 4 + 32.0 / (double)shapes[s][1];
        CHECK(fabs(qb_format_bpw(pc, shapes[s][0], shapes[s][1]) - want) < 1e-12, "int4_sym_pc cols %lld",
              (long long)shapes[s][1]);
    }
    const qb_format *pt = need("int4_sym_pt");
    for (int s = 0; pt && s < 3; s++) {
        double want = 4 + 32.0 / ((double)shapes[s][0] * (double)shapes[s][1]);
        CHECK(fabs(qb_format_bpw(pt, shapes[s][0], shapes[s][1]) - want) < 1e-12, "int4_sym_pt %lldx%lld",
              (long long)shapes[s][0], (long long)shapes[s][1]);
    }
    /* groups not dividing the row are refused */
    size_t n;
    CHECK(qb_format_bytes(need("int4_sym_g128"), 1, 4096 + 64, &n) == QB_EINPUT, "g128 accepted 4160 columns");
    CHECK(qb_format_bytes(need("nf4"), 1, 96, &n) == QB_EINPUT, "nf4 accepted 96 columns");
}

/* int3/int2 dense packing: element i at bits [b·i, b·i + b), little-endian bit stream. */
static void test_int_packing(void) {
    const qb_format *f = need("int3_asym_g128");
    if (!f) return;
    float x[128], y[128];
    unsigned char q[3 + 48];
    for (int i = 0; i < 128; i++) x[i] = (float)(i % 8); /* min 0 → z = 0, scale 1: u = x */
    CHECK(f->quantize(x, q, 1, 128, NULL) == QB_OK, "%s", qb_errmsg());
    CHECK(q[0] == 0x00 && q[1] == 0x3c && q[2] == 0, "int3 header %02x %02x %02x (fp16 1.0, z 0)", q[0], q[1], q[2]);
    /* codes 0,1,2,3,4,5,6,7 → bit stream 000 100 010 110 001 101 011 111 (LSB first) = 0x88 0xc6 0xfa */
    CHECK(q[3] == 0x88 && q[4] == 0xc6 && q[5] == 0xfa, "int3 codes %02x %02x %02x", q[3], q[4], q[5]);
    f->dequantize(q, y, 1, 128);
    int same = 1;
    for (int i = 0; i < 128; i++) same &= y[i] == x[i];
    CHECK(same, "int3 integers round-trip");
    const qb_format *s4 = need("int4_sym_g32");
    if (!s4) return;
    float a[32] = {0};
    a[0] = -7.0f, a[1] = 7.0f, a[2] = 3.0f;
    unsigned char q4[2 + 16];
    s4->quantize(a, q4, 1, 32, NULL);
    /* scale 1; offset binary u = q + 8: elements 0,1 → 1 and 15 in the low and high nibble */
    CHECK(q4[2] == 0xf1 && q4[3] == 0x8b, "int4 nibbles %02x %02x", q4[2], q4[3]);
}

/* Per tensor: the bound invariant 4 cannot express, |x − x̂| ≤ (1+2^-20)·amax(tensor)/14. */
static void test_per_tensor(void) {
    const qb_format *f = need("int4_sym_pt");
    if (!f) return;
    qb_rng r;
    qb_rng_seed(&r, 11);
    const int64_t rows = 9, cols = 130;
    float x[9 * 130], y[9 * 130];
    unsigned char q[4 + 9 * 65];
    size_t n;
    CHECK(qb_format_bytes(f, rows, cols, &n) == QB_OK && n == sizeof q, "int4_sym_pt bytes %zu", n);
    double amax = 0, worst = 0;
    for (int64_t i = 0; i < rows * cols; i++) amax = fmax(amax, fabs(x[i] = (float)(qb_rng_normal(&r) * (1 + i % 3))));
    CHECK(f->quantize(x, q, rows, cols, NULL) == QB_OK, "%s", qb_errmsg());
    f->dequantize(q, y, rows, cols);
    for (int64_t i = 0; i < rows * cols; i++) worst = fmax(worst, fabs((double)x[i] - y[i]));
    CHECK(worst <= amax / 14 * (1 + 0x1p-20), "int4_sym_pt worst %.6g > amax/14 = %.6g", worst, amax / 14);
}

/* HQQ against plain RTN on LLM-like rows: reported (HQQ minimizes an l0.7 loss, not the MSE). */
static void test_hqq_vs_rtn(void) {
    const qb_format *h = need("int4_asym_g64_hqq"), *a = need("int4_asym_g64");
    if (!h || !a) return;
    qb_rng r;
    qb_rng_seed(&r, 5);
    enum { N = 64 * 512 };
    static float x[N], y[N];
    static unsigned char q[N];
    for (int i = 0; i < N; i++) x[i] = (float)(0.02 * qb_rng_normal(&r));
    const qb_format *fs[2] = {h, a};
    for (int k = 0; k < 2; k++) {
        CHECK(fs[k]->quantize(x, q, 8, N / 8, NULL) == QB_OK, "%s", qb_errmsg());
        fs[k]->dequantize(q, y, 8, N / 8);
        double l1 = 0, l2 = 0, l07 = 0;
        for (int i = 0; i < N; i++) {
            double e = fabs((double)x[i] - y[i]);
            l1 += e, l2 += e * e, l07 += pow(e, 0.7);
        }
        printf("%-18s mean|e| %.4e  rmse %.4e  mean|e|^0.7 %.4e\n", fs[k]->name, l1 / N, sqrt(l2 / N), l07 / N);
    }
}

/* Any bytes decode without a crash (run under the sanitizer build). */
static void test_hostile_bytes(void) {
    static const char *names[] = {"nf4", "fp4_bnb", "nf4_dq", "fp4_bnb_dq", "int4_sym_g32", "int4_asym_g128", "int8_sym_g128",
                                  "int3_asym_g128", "int2_asym_g64", "int4_sym_pc", "int4_sym_pt", "int4_asym_g64_hqq"};
    qb_rng r;
    qb_rng_seed(&r, 3);
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        const qb_format *f = need(names[k]);
        size_t n;
        if (!f || qb_format_bytes(f, 3, 384, &n) != QB_OK) continue;
        unsigned char *q = malloc(n);
        float *y = malloc(3 * 384 * sizeof(float));
        for (size_t i = 0; i < n; i++) q[i] = (unsigned char)(qb_rng_uniform(&r) * 256.0);
        f->dequantize(q, y, 3, 384);
        CHECK(1, "%s", names[k]);
        free(q), free(y);
    }
}

int main(void) {
    qb_formats_init();
    test_codebooks();
    test_special_blocks();
    test_double_quant();
    test_bpw();
    test_int_packing();
    test_per_tensor();
    test_hqq_vs_rtn();
    test_hostile_bytes();
    return qbt_finish();
}
