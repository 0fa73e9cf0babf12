/* test_metrics.c — error metrics on cases with known answers:
 *  - a uniform quantizer of step Δ on a dense uniform grid over [−1, 1): MSE = Δ²/12 and
 *    SQNR = 10·log10((1/3)/(Δ²/12)) = 6.0206·b dB for Δ = 2/2^b;
 *  - a constant offset c: MSE = c², max error = c;
 *  - cosine² = 1 − MSE/E[x²] for that quantizer (its error is orthogonal to its output);
 *  - cosine(x, 2x) = 1, cosine(x, −x) = −1, cosine of orthogonal vectors = 0;
 *  - exact reconstruction: SQNR = +Inf; all zeros: SQNR and cosine undefined (NaN);
 *  - a non-finite reconstruction makes the errors infinite rather than hiding it;
 *  - |error| percentiles of that quantizer, whose |error| is uniform on [0, Δ/2], land within
 *    the documented ±4.4 % of q·Δ/2;
 *  - accumulating in chunks and merging gives the one-shot figures. */
#include <math.h>
#include <stdlib.h>

#include "common/qbtest.h"
#include "evals/metrics.h"

int main(void) {
    enum { N = 1 << 20 };
    float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
    qb_errstats s;
    for (int b = 2; b <= 8; b++) {
        double step = 2.0 / (1 << b);
        for (int i = 0; i < N; i++) {
            x[i] = (float)(-1.0 + 2.0 * (i + 0.5) / N);               /* midpoints: exactly uniform */
            y[i] = (float)((floor(x[i] / step) + 0.5) * step);        /* mid-rise quantizer */
        }
        qb_error_stats(x, y, N, &s);
        double want_mse = step * step / 12.0, want_sqnr = 10.0 * log10((1.0 / 3.0) / want_mse);
        CHECK(fabs(s.mse / want_mse - 1.0) < 1e-3, "b=%d mse %.6g want %.6g", b, s.mse, want_mse);
        CHECK(fabs(s.sqnr_db - want_sqnr) < 0.01, "b=%d sqnr %.4f want %.4f", b, s.sqnr_db, want_sqnr);
        CHECK(fabs(s.sqnr_db - 6.0206 * b) < 0.01, "b=%d sqnr %.4f not 6.02 dB/bit", b, s.sqnr_db);
        CHECK(fabs(s.max_abs - step / 2) < 1e-6, "b=%d max %.6g", b, s.max_abs);
        double qs[4] = {0.5, 0.95, 0.99, 0.999}, got[4] = {s.p50_abs, s.p95_abs, s.p99_abs, s.p999_abs};
        for (int k = 0; k < 4; k++)
            CHECK(fabs(got[k] / (qs[k] * step / 2) - 1) < 0.045, "b=%d p%g = %.6g, want %.6g ± 4.4%%", b, qs[k] * 100, got[k],
                  qs[k] * step / 2);
        /* chunked + merged == one shot */
        qb_erracc a1, a2;
        qb_erracc_init(&a1);
        qb_erracc_init(&a2);
        qb_erracc_add(&a1, x, y, N / 3);
        qb_erracc_add(&a2, x + N / 3, y + N / 3, N - N / 3);
        qb_erracc_merge(&a1, &a2);
        qb_errstats m;
        qb_erracc_stats(&a1, &m);
        CHECK(m.n == s.n && fabs(m.mse / s.mse - 1) < 1e-9 && fabs(m.sqnr_db - s.sqnr_db) < 1e-8 && m.max_abs == s.max_abs &&
                  m.p99_abs == s.p99_abs && fabs(m.cosine - s.cosine) < 1e-9, /* sums in another order */
              "b=%d merged %.9g/%.6f vs %.9g/%.6f", b, m.mse, m.sqnr_db, s.mse, s.sqnr_db);
        /* the mid-rise error is orthogonal to the output, so cos² = 1 − MSE/E[x²] */
        double want_cos = sqrt(1.0 - s.mse / (1.0 / 3.0));
        CHECK(fabs(s.cosine - want_cos) < 1e-6, "b=%d cosine %.9f want %.9f", b, s.cosine, want_cos);
    }
    for (int i = 0; i < N; i++) x[i] = (float)sin(i * 0.001), y[i] = x[i] + 0.25f;
    qb_error_stats(x, y, N, &s);
    CHECK(fabs(s.mse - 0.0625) < 1e-6 && fabs(s.rmse - 0.25) < 1e-6 && fabs(s.max_abs - 0.25) < 1e-6, "offset: mse %g max %g", s.mse, s.max_abs);
    for (int i = 0; i < N; i++) y[i] = 2.0f * x[i];
    qb_error_stats(x, y, N, &s);
    CHECK(fabs(s.cosine - 1.0) < 1e-12, "cos(x,2x) = %.15f", s.cosine);
    CHECK(fabs(s.sqnr_db) < 1e-9, "sqnr(x, 2x) = %g dB (error = signal → 0 dB)", s.sqnr_db);
    for (int i = 0; i < N; i++) y[i] = -x[i];
    qb_error_stats(x, y, N, &s);
    CHECK(fabs(s.cosine + 1.0) < 1e-12, "cos(x,-x) = %.15f", s.cosine);
    float a[4] = {1, 0, 1, 0}, b2[4] = {0, 3, 0, -2}, z[4] = {0};
    qb_error_stats(a, b2, 4, &s);
    CHECK(s.cosine == 0.0, "orthogonal cosine %g", s.cosine);
    qb_error_stats(a, a, 4, &s);
    CHECK(s.sqnr_db == INFINITY && s.mse == 0 && fabs(s.cosine - 1.0) < 1e-15, "exact: sqnr %g cos %.17g", s.sqnr_db, s.cosine);
    qb_error_stats(z, z, 4, &s);
    CHECK(isnan(s.sqnr_db) && isnan(s.cosine) && s.mse == 0, "zeros: sqnr %g cos %g", s.sqnr_db, s.cosine);
    CHECK(s.p50_abs == 0 && s.p999_abs == 0, "exact: percentiles %g %g", s.p50_abs, s.p999_abs);
    float inf[4] = {1, 0, INFINITY, 0}, nan4[4] = {1, 0, NAN, 0};
    qb_error_stats(a, inf, 4, &s);
    CHECK(isinf(s.mse) && isinf(s.max_abs), "overflow hidden: mse %g", s.mse);
    qb_error_stats(a, nan4, 4, &s);
    CHECK(isinf(s.max_abs) && isnan(s.mse), "NaN hidden: max %g mse %g", s.max_abs, s.mse);
    CHECK(isinf(s.p999_abs), "NaN lands in the overflow bin: p99.9 %g", s.p999_abs);
    free(x), free(y);
    return qbt_finish();
}
