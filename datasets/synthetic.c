/* synthetic.c — seeded weight generators. Each has standard deviation 0.02, the typical
 * scale of LLM linear weights, so f16's range and subnormals matter as they do on a model;
 * they differ in tails, which is what separates formats:
 *   gaussian   N(0, σ²)
 *   laplace    Laplace with b = σ/√2 (heavier tails)
 *   student_t  Student-t with ν = 3, scaled by σ/√3 (heavy tails, rare large values)
 *   uniform    U(−σ√3, σ√3) (no tails: the best case for linear grids)
 *   outliers   gaussian, with ~0.5 % of columns (at least one) scaled 20–100×, as the
 *              outlier feature dimensions of LLM activations and weights are */
#include <math.h>
#include <string.h>

#include "source.h"

#define SIGMA 0.02
#define PI 3.14159265358979323846

const char *const qb_synthetic_names[] = {"gaussian", "laplace", "student_t", "uniform", "outliers", NULL};

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void qb_rng_seed(qb_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t qb_rng_next(qb_rng *r) {
    uint64_t *s = r->s, result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double qb_rng_uniform(qb_rng *r) { return (double)(qb_rng_next(r) >> 11) * 0x1p-53; }

double qb_rng_normal(qb_rng *r) {
    double u1 = 1.0 - qb_rng_uniform(r), u2 = qb_rng_uniform(r); /* u1 ∈ (0, 1]: log is finite */
    return sqrt(-2.0 * log(u1)) * cos(2.0 * PI * u2);
}

qb_status qb_synthetic_fill(const char *name, int64_t rows, int64_t cols, uint64_t seed, float *out) {
    qb_rng r;
    qb_rng_seed(&r, seed);
    int64_t n = rows * cols;
    if (strcmp(name, "gaussian") == 0 || strcmp(name, "outliers") == 0) {
        for (int64_t i = 0; i < n; i++) out[i] = (float)(SIGMA * qb_rng_normal(&r));
        if (name[0] == 'o') {
            int64_t k = cols / 200 > 0 ? cols / 200 : 1;
            for (int64_t j = 0; j < k; j++) {
                int64_t c = (int64_t)(qb_rng_uniform(&r) * (double)cols);
                float scale = (float)(20.0 + 80.0 * qb_rng_uniform(&r));
                for (int64_t row = 0; row < rows; row++) out[row * cols + c] *= scale;
            }
        }
    } else if (strcmp(name, "laplace") == 0) {
        double b = SIGMA / sqrt(2.0);
        for (int64_t i = 0; i < n; i++) {
            double u = qb_rng_uniform(&r) - 0.5; /* [−0.5, 0.5) */
            double m = 1.0 - 2.0 * fabs(u);      /* (0, 1] */
            out[i] = (float)(u < 0 ? b * log(m) : -b * log(m));
        }
    } else if (strcmp(name, "student_t") == 0) {
        double scale = SIGMA / sqrt(3.0);
        for (int64_t i = 0; i < n; i++) {
            double z = qb_rng_normal(&r), v = 0;
            for (int k = 0; k < 3; k++) {
                double g = qb_rng_normal(&r);
                v += g * g;
            }
            out[i] = (float)(scale * z / sqrt(v / 3.0));
        }
    } else if (strcmp(name, "uniform") == 0) {
        double a = SIGMA * sqrt(3.0);
        for (int64_t i = 0; i < n; i++) out[i] = (float)(a * (2.0 * qb_rng_uniform(&r) - 1.0));
    } else {
        return qb_fail(QB_EUSAGE, "unknown synthetic source '%s' (valid: gaussian, laplace, student_t, uniform, outliers)", name);
    }
    return QB_OK;
}
