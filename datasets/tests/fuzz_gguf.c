/* fuzz_gguf.c — libFuzzer target for the GGUF reader (datasets/gguf.c).
 *
 * Each input is parsed in place by qb_gguf_open_mem (libFuzzer's buffer is exactly sized, so
 * ASan flags any read past it). The reader must either succeed — then every KV value, every
 * string of every string array and every tensor's bytes are touched, so a pointer outside the
 * input is caught — or fail with QB_EINPUT and a non-empty one-line message; anything else
 * aborts, which libFuzzer reports as a crash.
 *
 * Built only with clang and -DQB_FUZZ=ON (CMakeLists.txt); ctest's fuzz_gguf runs it for 60 s
 * seeded with the valid files test_gguf writes. By hand:
 *   BUILD/fuzz/fuzz_gguf -max_total_time=60 -rss_limit_mb=2048 BUILD/fuzz/gguf_corpus BUILD/fuzz/gguf_seeds */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qb_gguf g;
    qb_status st = qb_gguf_open_mem(&g, data, size, "fuzz.gguf");
    if (st != QB_OK) {
        const char *m = qb_errmsg();
        if (st != QB_EINPUT || !m[0] || strchr(m, '\n')) {
            fprintf(stderr, "fuzz_gguf: bad failure: status %d, message \"%s\"\n", (int)st, m);
            abort();
        }
        return 0;
    }
    volatile uint8_t sink = 0;
    for (uint64_t i = 0; i < g.n_kv; i++) {
        const qb_gguf_kv *kv = &g.kv[i];
        for (uint64_t k = 0; k < kv->val_bytes; k++) sink ^= kv->val[k];
        if (qb_gguf_find_kv(&g, kv->key) != kv) abort(); /* keys are unique */
        if (kv->type == QB_GGUF_ARRAY && kv->arr_type == QB_GGUF_STRING) {
            uint64_t cur = 0, n = 0, len;
            const char *s;
            while (qb_gguf_kv_next_string(kv, &cur, &s, &len)) {
                if (len) sink ^= (uint8_t)s[0] ^ (uint8_t)s[len - 1];
                n++;
            }
            if (n != kv->arr_n) abort();
        }
    }
    uint32_t al;
    if (qb_gguf_find_kv(&g, "general.alignment") &&
        (qb_gguf_get_u32(&g, "general.alignment", &al) != QB_OK || al != g.alignment))
        abort();
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        const qb_gguf_tensor *t = &g.tensors[i];
        const uint8_t *p = t->data;
        if (p < data || p + t->nbytes > data + size || t->offset % g.alignment) abort();
        sink ^= p[0] ^ p[t->nbytes - 1];
        if (qb_gguf_find_tensor(&g, t->name) != t) abort(); /* names are unique */
    }
    (void)sink;
    qb_gguf_close(&g);
    return 0;
}
