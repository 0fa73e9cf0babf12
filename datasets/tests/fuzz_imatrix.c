/* fuzz_imatrix.c — libFuzzer target for llama.cpp's legacy imatrix reader
 * (qb_imatrix_load_dat_mem in datasets/imatrix.c; the GGUF form goes through the GGUF reader,
 * fuzzed by fuzz_gguf). It must succeed with finite, non-negative importance values, or fail
 * with QB_EINPUT and one non-empty line. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/imatrix.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qb_imatrix im;
    qb_status st = qb_imatrix_load_dat_mem(&im, data, size, "fuzz.dat");
    if (st != QB_OK) {
        const char *m = qb_errmsg();
        if (st != QB_EINPUT || !m[0] || strchr(m, '\n')) {
            fprintf(stderr, "fuzz_imatrix: bad failure: status %d, message \"%s\"\n", (int)st, m);
            abort();
        }
        return 0;
    }
    for (int i = 0; i < im.n; i++)
        for (int64_t k = 0; k < im.e[i].n_per_row * im.e[i].n_mat; k++)
            if (!isfinite(im.e[i].values[k]) || im.e[i].values[k] < 0) abort();
    qb_imatrix_free(&im);
    return 0;
}
