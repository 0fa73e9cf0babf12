/* test_sources.c — weight sources: generators are deterministic per seed and have the
 * moments their definitions imply (σ = 0.02; kurtosis 3 gaussian, 6 laplace, 1.8 uniform,
 * heavy for student-t ν=3; outlier columns 20–100× the others); specs and raw files with
 * problems fail with one precise message. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/qbtest.h"
#include "datasets/source.h"

static void moments(const float *x, int64_t n, double *mean, double *sd, double *kurt) {
    double m = 0, m2 = 0, m4 = 0;
    for (int64_t i = 0; i < n; i++) m += x[i];
    m /= n;
    for (int64_t i = 0; i < n; i++) {
        double d = x[i] - m;
        m2 += d * d;
        m4 += d * d * d * d;
    }
    m2 /= n, m4 /= n;
    *mean = m, *sd = sqrt(m2), *kurt = m4 / (m2 * m2);
}

static void test_generators(void) {
    static const struct {
        const char *name;
        double sd_tol, kurt_lo, kurt_hi;
    } want[] = {{"gaussian", 0.01, 2.95, 3.05}, {"laplace", 0.01, 5.7, 6.3}, {"uniform", 0.01, 1.79, 1.81},
                {"student_t", 0.15, 8.0, 1e9}};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        char spec[64];
        snprintf(spec, sizeof spec, "synthetic:%s", want[k].name);
        qb_source a, b, c;
        CHECK(qb_source_open(&a, spec, 1) == QB_OK, "%s: %s", spec, qb_errmsg());
        CHECK(qb_source_open(&b, spec, 1) == QB_OK && qb_source_open(&c, spec, 2) == QB_OK, "%s", spec);
        CHECK(a.tensors[0].rows == 256 && a.tensors[0].cols == 4096, "%s default shape", spec);
        CHECK(strcmp(a.id, b.id) == 0 && strcmp(a.id, c.id) != 0, "%s: same seed → same id (%s, %s, %s)", spec, a.id, b.id, c.id);
        CHECK(memcmp(a.tensors[0].data, b.tensors[0].data, 256 * 4096 * 4) == 0, "%s not deterministic", spec);
        double mean, sd, kurt;
        moments(a.tensors[0].data, 256 * 4096, &mean, &sd, &kurt);
        CHECK(fabs(mean) < 1e-4, "%s mean %g", spec, mean);
        CHECK(fabs(sd / 0.02 - 1) < want[k].sd_tol, "%s sd %g", spec, sd);
        CHECK(kurt > want[k].kurt_lo && kurt < want[k].kurt_hi, "%s kurtosis %g", spec, kurt);
        qb_source_close(&a), qb_source_close(&b), qb_source_close(&c);
    }
    qb_source o;
    CHECK(qb_source_open(&o, "synthetic:outliers:64x2000", 3) == QB_OK, "%s", qb_errmsg());
    int big = 0;
    for (int64_t col = 0; col < 2000; col++) {
        double s = 0;
        for (int64_t r = 0; r < 64; r++) s += (double)o.tensors[0].data[r * 2000 + col] * o.tensors[0].data[r * 2000 + col];
        double sd = sqrt(s / 64);
        if (sd > 0.02 * 10) {
            big++;
            CHECK(sd > 0.02 * 12 && sd < 0.02 * 140, "outlier column %lld sd %g", (long long)col, sd);
        } else {
            CHECK(sd < 0.02 * 1.8, "ordinary column %lld sd %g", (long long)col, sd);
        }
    }
    CHECK(big >= 1 && big <= 10, "%d outlier columns of 2000 (want 10, fewer on collisions)", big);
    qb_source_close(&o);
}

static char tmpdir[64];

static char *write_floats(const char *name, const float *v, size_t n, size_t extra_bytes) {
    char *path = qb_asprintf("%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    fwrite(v, sizeof(float), n, f);
    for (size_t i = 0; i < extra_bytes; i++) fputc(0, f);
    fclose(f);
    return path;
}

static void expect_fail(const char *spec, qb_status want, const char *fragment) {
    qb_source s;
    qb_status st = qb_source_open(&s, spec, 0);
    CHECK(st == want && strstr(qb_errmsg(), fragment), "'%s': status %d, message '%s' (want %d, '%s')", spec, st, qb_errmsg(),
          want, fragment);
    if (st == QB_OK) qb_source_close(&s);
}

static void test_errors(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/qb_sources_XXXXXX");
    CHECK(mkdtemp(tmpdir) != NULL, "mkdtemp");
    expect_fail("synthetic:nope", QB_EUSAGE, "valid: gaussian");
    expect_fail("synthetic:gaussian:12", QB_EUSAGE, "ROWSxCOLS");
    expect_fail("synthetic:gaussian:0x5", QB_EUSAGE, "ROWSxCOLS");
    expect_fail("synthetic:gaussian:100000x100000", QB_EUSAGE, "too large");
    expect_fail("s3:bucket/weights", QB_EUSAGE, "unknown weight source");
    expect_fail("/nonexistent/model.gguf", QB_EINPUT, "cannot open '/nonexistent/model.gguf'");
    float v[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    char *ok = write_floats("ok.f32", v, 12, 0), *spec = qb_asprintf("raw:%s:4", ok);
    qb_source s;
    CHECK(qb_source_open(&s, spec, 0) == QB_OK && s.tensors[0].rows == 3 && s.tensors[0].cols == 4 && s.tensors[0].data[11] == 12,
          "raw 3x4: %s", qb_errmsg());
    qb_source_close(&s);
    free(spec);
    spec = qb_asprintf("raw:%s:5", ok);
    expect_fail(spec, QB_EINPUT, "not a whole number of rows of 5");
    free(spec);
    v[6] = NAN;
    char *bad = write_floats("nan.f32", v, 12, 0);
    spec = qb_asprintf("raw:%s:4", bad);
    expect_fail(spec, QB_EINPUT, "NaN at row 1, column 2 (byte offset 24)");
    free(spec);
    char *odd = write_floats("odd.f32", v, 2, 3);
    spec = qb_asprintf("raw:%s", odd);
    expect_fail(spec, QB_EINPUT, "not a multiple of 4");
    free(spec);
    char *empty = write_floats("empty.f32", v, 0, 0);
    spec = qb_asprintf("raw:%s", empty);
    expect_fail(spec, QB_EINPUT, "is empty");
    free(spec);
    expect_fail("raw:/nonexistent/w.f32", QB_EINPUT, "cannot open '/nonexistent/w.f32'");
    unlink(ok), unlink(bad), unlink(odd), unlink(empty), rmdir(tmpdir);
    free(ok), free(bad), free(odd), free(empty);
}

int main(void) {
    test_generators();
    test_errors();
    return qbt_finish();
}
