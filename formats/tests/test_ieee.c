/* test_ieee.c — f16 and bf16 conversions against independent computations:
 *  - decode of all 65,536 codes of each vs the value computed from sign/exponent/mantissa
 *    with ldexp in double (IEEE 754 §3.4), bit-exact, NaN as NaN;
 *  - encode on the spec's listed cases (FORMATS.md §1.2–1.3): ties, subnormals, overflow
 *    thresholds, ±0, ±Inf, NaN;
 *  - encode is round-to-nearest-even: on 2^22 random finite floats (every exponent), the
 *    chosen code is at least as close as both neighbours, and on an exact tie it is even;
 *  - the fast paths equal the references on all 65,536 codes and the random floats. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/qbtest.h"
#include "datasets/source.h"
#include "formats/format.h"

static uint32_t bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static float from_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}

/* Value of a code of a binary format with `e` exponent and `m` mantissa bits. */
static double ieee_value(uint32_t code, int e, int m) {
    int bias = (1 << (e - 1)) - 1;
    uint32_t sign = code >> (e + m), ex = (code >> m) & ((1u << e) - 1), man = code & ((1u << m) - 1);
    double v;
    if (ex == (1u << e) - 1) v = man ? NAN : INFINITY;
    else if (ex == 0) v = ldexp((double)man, 1 - bias - m);
    else v = ldexp((double)(man | (1u << m)), (int)ex - bias - m);
    return sign ? -v : v;
}

static void test_decode_all(void) {
    for (uint32_t h = 0; h < 65536; h++) {
        double want16 = ieee_value(h, 5, 10), wantb = ieee_value(h, 8, 7);
        float got16 = qb_f16_to_f32((uint16_t)h), gotb = qb_bf16_to_f32((uint16_t)h);
        if (isnan(want16)) CHECK_LIMITED(isnan(got16) && (signbit(got16) != 0) == (h >> 15 != 0), "f16 %04x", h);
        else CHECK_LIMITED(bits(got16) == bits((float)want16), "f16 %04x: got %.9g want %.9g", h, got16, want16);
        if (isnan(wantb)) CHECK_LIMITED(isnan(gotb), "bf16 %04x", h);
        else CHECK_LIMITED(bits(gotb) == bits((float)wantb), "bf16 %04x: got %.9g want %.9g", h, gotb, wantb);
    }
}

static void test_encode_cases(void) {
    static const struct {
        float x;
        uint16_t f16, bf16;
    } cases[] = {
        {0.0f, 0x0000, 0x0000},
        {-0.0f, 0x8000, 0x8000},
        {1.0f, 0x3c00, 0x3f80},
        {-2.0f, 0xc000, 0xc000},
        {65504.0f, 0x7bff, 0x4780},          /* bf16: 0x477FE000 rounds up */
        {65519.99f, 0x7bff, 0x4780},          /* just below f16's overflow threshold */
        {65520.0f, 0x7c00, 0x4780},           /* the threshold itself rounds to Inf */
        {1e6f, 0x7c00, 0x4974},
        {INFINITY, 0x7c00, 0x7f80},
        {-INFINITY, 0xfc00, 0xff80},
        {0x1p-14f, 0x0400, 0x3880},           /* smallest f16 normal */
        {0x1p-24f, 0x0001, 0x3380},           /* smallest f16 subnormal */
        {0x1p-25f, 0x0000, 0x3300},           /* tie between 0 and 2^-24 → even (0) */
        {0x1.000002p-25f, 0x0001, 0x3300},    /* just above the tie */
        {0x1.8p-24f, 0x0002, 0x33c0},         /* 1.5 units: tie → even (2) */
        {0x1.02p+0f, 0x3c08, 0x3f81},         /* 1 + 2^-7: exact in both */
        {0x1.01p+0f, 0x3c04, 0x3f80},         /* 1.00390625: exact in f16; bf16 tie → even (down) */
        {1.01171875f, 0x3c0c, 0x3f82},        /* bf16 tie → even (up) */
        {3.4028235e38f, 0x7c00, 0x7f80},      /* FLT_MAX → Inf in both */
        {0x1.fefffep127f, 0x7c00, 0x7f7f},    /* below bf16's rounding threshold 0x7F7F8000 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(qb_f32_to_f16(cases[i].x) == cases[i].f16, "f16(%a) = %04x, want %04x", cases[i].x, qb_f32_to_f16(cases[i].x), cases[i].f16);
        CHECK(qb_f32_to_bf16(cases[i].x) == cases[i].bf16, "bf16(%a) = %04x, want %04x", cases[i].x, qb_f32_to_bf16(cases[i].x), cases[i].bf16);
    }
    /* NaN: f16 → canonical 0x7E00 with the sign; bf16 keeps sign and payload, forced quiet */
    CHECK(qb_f32_to_f16(from_bits(0x7f800001)) == 0x7e00, "sNaN → %04x", qb_f32_to_f16(from_bits(0x7f800001)));
    CHECK(qb_f32_to_f16(from_bits(0xffc12345)) == 0xfe00, "-qNaN → %04x", qb_f32_to_f16(from_bits(0xffc12345)));
    CHECK(qb_f32_to_bf16(from_bits(0x7f800001)) == 0x7fc0, "sNaN → %04x (spec: 0x7FC0)", qb_f32_to_bf16(from_bits(0x7f800001)));
    CHECK(qb_f32_to_bf16(from_bits(0xffa50000)) == 0xffe5, "-NaN payload → %04x", qb_f32_to_bf16(from_bits(0xffa50000)));
    CHECK(qb_f32_to_bf16(from_bits(0x7f7f8000)) == 0x7f80, "0x7F7F8000 rounds to Inf");
}

/* RNE property: |x − dec(c)| ≤ |x − dec(c ± 1)|, and on a tie c is even. Codes are ordered
 * by magnitude within a sign, so the neighbours are c − 1 and c + 1 of the same sign. */
static void check_rne(float x, uint16_t c, float (*dec)(uint16_t), uint16_t maxfinite, const char *name) {
    double ax = fabs((double)x);
    uint16_t mag = c & 0x7fff;
    if (mag > maxfinite) { /* Inf: x must be at least halfway to the next binade step past max */
        double mx = dec(maxfinite), next = 2.0 * mx - dec((uint16_t)(maxfinite - 1));
        CHECK_LIMITED(mag == (maxfinite + 1) && ax >= (mx + next) / 2, "%s(%a) overflowed to %04x", name, x, c);
        return;
    }
    double v = fabs((double)dec(mag)), e = fabs(ax - v);
    double lo = mag ? fabs((double)dec((uint16_t)(mag - 1))) : -1.0;
    double hi = mag < maxfinite ? fabs((double)dec((uint16_t)(mag + 1))) : 2.0 * v - lo;
    double elo = mag ? fabs(ax - lo) : INFINITY, ehi = fabs(ax - hi);
    CHECK_LIMITED(e <= elo && e <= ehi, "%s(%a) = %04x (%.9g) is not nearest", name, x, c, v);
    if (e == elo || e == ehi) CHECK_LIMITED((mag & 1) == 0 || e == 0, "%s(%a) = %04x: tie not to even", name, x, c);
    CHECK_LIMITED(((c >> 15) != 0) == (signbit(x) != 0), "%s(%a) = %04x: wrong sign", name, x, c);
}

static void test_rne_random(void) {
    qb_rng r;
    qb_rng_seed(&r, 7);
    enum { N = 1 << 22 };
    float *x = malloc(N * sizeof(float));
    uint16_t *a = malloc(N * 2), *b = malloc(N * 2);
    for (int i = 0; i < N; i++) {
        uint32_t u = (uint32_t)qb_rng_next(&r);
        if (i & 1) u = (u & 0x80001fffu) | ((uint32_t)(102 + qb_rng_next(&r) % 40) << 23) | (u & 0x7fe000); /* f16 range */
        if ((u & 0x7f800000) == 0x7f800000) u &= 0xbfffffffu; /* finite only here; specials above */
        x[i] = from_bits(u);
    }
    for (int i = 0; i < N; i++) {
        check_rne(x[i], qb_f32_to_f16(x[i]), qb_f16_to_f32, 0x7bff, "f16");
        check_rne(x[i], qb_f32_to_bf16(x[i]), qb_bf16_to_f32, 0x7f7f, "bf16");
    }
    /* fast paths vs reference on the same data */
    const char *names[] = {"f16", "bf16"};
    for (int k = 0; k < 2; k++) {
        const qb_format *f = qb_format_find(names[k]);
        f->quantize_ref(x, a, 1, N, NULL);
        f->quantize(x, b, 1, N, NULL);
        CHECK(memcmp(a, b, N * 2) == 0, "%s %s encode differs from ref on random floats", f->name, f->impl);
        uint16_t *all = malloc(65536 * 2);
        float *ya = malloc(65536 * 4), *yb = malloc(65536 * 4);
        for (int i = 0; i < 65536; i++) all[i] = (uint16_t)i;
        f->dequantize_ref(all, ya, 1, 65536);
        f->dequantize(all, yb, 1, 65536);
        CHECK(memcmp(ya, yb, 65536 * 4) == 0, "%s %s decode differs from ref on some code", f->name, f->impl);
        /* and re-encoding every decoded code gives the code back (NaNs canonicalised) */
        f->quantize(ya, b, 1, 65536, NULL);
        int bad = 0;
        for (int i = 0; i < 65536; i++)
            if (!isnan(ya[i]) && b[i] != i) bad++;
        CHECK(bad == 0, "%s: %d codes do not survive decode→encode", f->name, bad);
        free(all), free(ya), free(yb);
    }
    free(x), free(a), free(b);
}

int main(void) {
    qb_formats_init();
    test_decode_all();
    test_encode_cases();
    test_rne_random();
    return qbt_finish();
}
