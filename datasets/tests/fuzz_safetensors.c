/* fuzz_safetensors.c — libFuzzer target for the safetensors reader (datasets/safetensors.c).
 * Each input is parsed in place (libFuzzer's buffer is exactly sized, so ASan flags any read
 * past it). The reader must succeed — then every tensor's first and last byte are read and
 * its range checked to lie in the input — or fail with QB_EINPUT and one non-empty line. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qb_safetensors s;
    qb_status st = qb_safetensors_open_mem(&s, data, size, "fuzz.safetensors");
    if (st != QB_OK) {
        const char *m = qb_errmsg();
        if (st != QB_EINPUT || !m[0] || strchr(m, '\n')) {
            fprintf(stderr, "fuzz_safetensors: bad failure: status %d, message \"%s\"\n", (int)st, m);
            abort();
        }
        return 0;
    }
    volatile uint8_t sink = 0;
    for (int i = 0; i < s.n; i++) {
        const qb_st_tensor *t = &s.tensors[i];
        const uint8_t *p = t->data;
        uint64_t n = t->end - t->begin;
        if (p < data || p + n > data + size) abort();
        if (n) sink ^= p[0] ^ p[n - 1];
        if (qb_safetensors_find(&s, t->name) != t) abort(); /* names are unique */
    }
    (void)sink;
    qb_safetensors_close(&s);
    return 0;
}
