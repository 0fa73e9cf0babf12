/* tiny_llama.h — what the calibration tests share: a small random llama model written by
 * gguf_tool (2 layers, dim 64, FFN 128, 4/2 heads, vocab 256, f32) in a temporary
 * directory, and the largest logit difference relative to the largest reference logit. */
#ifndef QB_TINY_LLAMA_H
#define QB_TINY_LLAMA_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/qbtest.h"
#include "datasets/model.h"

#define TINY_LLAMA_VOCAB 256

typedef struct tiny_llama {
    char dir[32], path[64];
    qb_model m;
} tiny_llama;

/* 1 when the model is written and open; 0 after a failed CHECK (the test goes on). */
static inline int tiny_llama_open(tiny_llama *t, const char *gguf_tool) {
    snprintf(t->dir, sizeof t->dir, "/tmp/qb_tiny_XXXXXX");
    if (!mkdtemp(t->dir)) qbt_skip("no temporary directory");
    snprintf(t->path, sizeof t->path, "%s/m.gguf", t->dir);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "'%s' llama '%s' 2 64 128 4 2 %d f32 >/dev/null", gguf_tool, t->path, TINY_LLAMA_VOCAB);
    CHECK(system(cmd) == 0, "gguf_tool");
    if (qb_model_open(&t->m, t->path) != QB_OK) {
        CHECK(0, "open: %s", qb_errmsg());
        return 0;
    }
    return 1;
}

static inline void tiny_llama_close(tiny_llama *t) {
    qb_model_close(&t->m);
    unlink(t->path);
    rmdir(t->dir);
}

/* max |a − b| / max |a| over n values */
static inline double max_rel_diff(const float *a, const float *b, size_t n) {
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i])), m = fmax(m, fabs((double)a[i]));
    return d / m;
}

#endif
