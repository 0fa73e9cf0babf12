/* test_gemv.c — decode's GEMV (formats/gemv.h) on every format with a fused dot, two
 * products sharing 1 to 4 activation rows, run by thread teams of 1, 2 and 3 members:
 *  - each output equals the scalar reference vec_dot_ref of its weight row and activation
 *    row within format.h's invariant-5 tolerance (1e-5·Σ|w_i·a_i| + 1e-30);
 *  - outputs between the rows of y (ldy > rows) stay untouched, activation strides are
 *    honoured, and the results are the same bits whatever the team size (invariant 1);
 *  - q8_0 weights holding −128 (which llama.cpp's quantizer never writes but a file may
 *    hold) still give exact integer sums. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/qbtest.h"
#include "../../common/team.h"
#include "../../datasets/source.h"
#include "../format.h"
#include "../gemv.h"

#define ROWS 400 /* several chunks of QB_GEMV_CHUNK_BYTES at 768 columns */
#define ROWS2 5
#define NTOK 4
#define SENTINEL -12345.0f

static void fill(qb_rng *r, float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)qb_rng_normal(r) * (i % 17 == 0 ? 4.0f : 1.0f);
}

/* Σ|w_i·a_i| of one weight row and one activation row, both decoded by the references. */
static double abs_dot(const qb_format *f, const qb_format *a, const void *w, const void *act, int64_t cols, float *wd, float *ad) {
    f->dequantize_ref(w, wd, 1, cols);
    a->dequantize_ref(act, ad, 1, cols);
    double s = 0;
    for (int64_t i = 0; i < cols; i++) s += fabs((double)wd[i] * (double)ad[i]);
    return s;
}

static void check_format(const qb_format *f, qb_rng *r, int plant_min) {
    const qb_format *a = qb_format_find(f->vec_dot_type);
    int64_t cols = 256;
    while (cols % f->block_elems || cols % a->block_elems) cols += 256;
    cols *= 3;
    size_t rb, ab;
    if (qb_format_bytes(f, 1, cols, &rb) != QB_OK || qb_format_bytes(a, 1, cols, &ab) != QB_OK) {
        CHECK(0, "%s: no size for %lld columns", f->name, (long long)cols);
        return;
    }
    float *x = malloc(sizeof(float) * (size_t)(ROWS * cols)), *wd = malloc(sizeof(float) * (size_t)cols),
          *ad = malloc(sizeof(float) * (size_t)cols);
    unsigned char *w = malloc(rb * ROWS), *act = malloc((ab + 8) * NTOK);
    fill(r, x, ROWS * cols);
    CHECK(f->quantize(x, w, ROWS, cols, NULL) == QB_OK, "%s: %s", f->name, qb_errmsg());
    if (plant_min) /* every 5th weight of every block −128 (q8_0: a block is an fp16 scale and 32 int8) */
        for (size_t i = 0; i < rb * ROWS; i += 34)
            for (int k = 0; k < 32; k += 5) w[i + 2 + (size_t)k] = 0x80;
    size_t as = ab + 8; /* activation rows 8 bytes further apart than they need: the stride is honoured */
    for (int t = 0; t < NTOK; t++) {
        fill(r, x, cols);
        CHECK(a->quantize(x, act + (size_t)t * as, 1, cols, NULL) == QB_OK, "%s: %s", a->name, qb_errmsg());
    }
    double worst = 0;
    const int64_t ldy = ROWS + 3, ldy2 = ROWS2 + 1;
    float *y = malloc(sizeof(float) * NTOK * ldy), *y2 = malloc(sizeof(float) * NTOK * ldy2), *y1 = malloc(sizeof(float) * NTOK * ldy);
    for (int members = 1; members <= 3; members++) {
        qb_team *team = qb_team_start(members, 0, QB_TEAM_NEVER_SLEEP);
        for (int n = 1; n <= NTOK; n++) {
            for (int64_t i = 0; i < NTOK * ldy; i++) y[i] = SENTINEL;
            for (int64_t i = 0; i < NTOK * ldy2; i++) y2[i] = SENTINEL;
            /* the second product: the last ROWS2 weight rows, on the same activation rows */
            const qb_gemv_mat m[2] = {{.f = f, .w = w, .rb = rb, .rows = ROWS, .cols = cols, .act = act, .ab = as, .y = y, .ldy = ldy},
                                      {.f = f, .w = w + (ROWS - ROWS2) * rb, .rb = rb, .rows = ROWS2, .cols = cols, .act = act, .ab = as,
                                       .y = y2, .ldy = ldy2}};
            qb_gemv_job j;
            void *scratch = malloc(qb_gemv_scratch_bytes(m, 2, n) + 1);
            qb_gemv_init(&j, m, 2, n, members, scratch);
            qb_team_run_pool(team, qb_gemv_run, &j);
            free(scratch);
            for (int t = 0; t < NTOK; t++)
                for (int64_t row = 0; row < ldy; row++) {
                    const float got = y[t * ldy + row];
                    if (row >= ROWS || t >= n) {
                        CHECK_LIMITED(got == SENTINEL, "%s n=%d: y[%d][%lld] outside the product written", f->name, n, t, (long long)row);
                        continue;
                    }
                    if (row >= ROWS - ROWS2)
                        CHECK_LIMITED(y2[t * ldy2 + row - (ROWS - ROWS2)] == got, "%s n=%d: second product's row %lld token %d %.9g, first's %.9g",
                                      f->name, n, (long long)(row - (ROWS - ROWS2)), t, y2[t * ldy2 + row - (ROWS - ROWS2)], got);
                    if (members == 1 && n == NTOK) {
                        y1[t * ldy + row] = got;
                        const unsigned char *wr = w + (size_t)row * rb, *ar = act + (size_t)t * as;
                        const double ref = f->vec_dot_ref(wr, ar, cols), sabs = abs_dot(f, a, wr, ar, cols, wd, ad);
                        CHECK_LIMITED(fabs(got - ref) <= 1e-5 * sabs + 1e-30, "%s row %lld token %d: %.9g, reference %.9g (sum|w*a| %.3g)",
                                      f->name, (long long)row, t, got, ref, sabs);
                        if (sabs > 0) worst = fmax(worst, fabs(got - ref) / sabs);
                    } else if (members > 1) { /* a vec_dot does not depend on n or the split */
                        CHECK_LIMITED(got == y1[t * ldy + row], "%s: %d members give %.9g for row %lld token %d, one member %.9g", f->name,
                                      members, got, (long long)row, t, y1[t * ldy + row]);
                    }
                }
            for (int t = 0; t < NTOK; t++)
                CHECK_LIMITED(y2[t * ldy2 + ROWS2] == SENTINEL, "%s n=%d: y2 padding of token %d written", f->name, n, t);
        }
        qb_team_stop(team);
    }
    free(y), free(y1), free(y2);
    printf("%-12s%s cols %5lld: |gemv - vec_dot_ref| <= %.2e x sum|w*a| (impl %s)\n", f->name, plant_min ? " (-128s)" : "", (long long)cols,
           worst, f->vec_dot == f->vec_dot_ref ? "reference" : "fast");
    free(x), free(wd), free(ad), free(w), free(act);
}

int main(void) {
    qb_formats_init();
    qb_rng r;
    qb_rng_seed(&r, 11);
    int tested = 0;
    for (int i = 0; i < qb_format_count(); i++) {
        const qb_format *f = qb_format_at(i);
        if (!f->vec_dot_type || f->tensor_extra_bytes) continue; /* decode's GEMV takes formats without a tensor header */
        check_format(f, &r, 0);
        tested++;
    }
    check_format(qb_format_find("q8_0"), &r, 1);
    CHECK(tested >= 10, "only %d formats with a fused dot", tested);
    return qbt_finish();
}
