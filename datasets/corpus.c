/* corpus.c — see corpus.h. */
#define _GNU_SOURCE /* mkstemp, lstat */
#include "corpus.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/io.h"

qb_status qb_vocab_bytes_write_n(qb_gguf_writer *w, int64_t n_vocab) {
    if (n_vocab < QB_VOCAB_BYTES_N || n_vocab > INT32_MAX)
        return qb_fail(QB_EUSAGE, "a byte vocabulary has %d to 2^31-1 tokens, not %lld", QB_VOCAB_BYTES_N, (long long)n_vocab);
    /* token types as llama.cpp numbers them: 1 normal, 2 unknown, 3 control, 5 unused, 6 byte */
    const size_t n = (size_t)n_vocab;
    char **toks = qb_malloc(sizeof *toks * n);
    float *scores = qb_malloc(sizeof *scores * n);
    int32_t *types = qb_malloc(sizeof *types * n);
    char bytes[256][8];
    toks[0] = "<unk>", toks[1] = "<s>", toks[2] = "</s>";
    types[0] = 2, types[1] = 3, types[2] = 3;
    for (int i = 0; i < 256; i++) {
        snprintf(bytes[i], sizeof bytes[i], "<0x%02X>", i);
        toks[3 + i] = bytes[i], types[3 + i] = 6;
    }
    toks[259] = "\xe2\x96\x81", types[259] = 1;
    for (size_t i = 0; i < QB_VOCAB_BYTES_N; i++) scores[i] = 0.0f; /* single characters: no merges to rank */
    for (size_t i = QB_VOCAB_BYTES_N; i < n; i++) /* padding no text reaches (no piece merges into it) */
        toks[i] = qb_asprintf("<unused%zu>", i - QB_VOCAB_BYTES_N), types[i] = 5, scores[i] = -1e9f;
    qb_status st = qb_gguf_writer_set_string(w, "tokenizer.ggml.model", "llama");
    if (!st) st = qb_gguf_writer_set_string_array(w, "tokenizer.ggml.tokens", (const char *const *)toks, NULL, n);
    if (!st) st = qb_gguf_writer_set_array(w, "tokenizer.ggml.scores", QB_GGUF_FLOAT32, scores, n);
    if (!st) st = qb_gguf_writer_set_array(w, "tokenizer.ggml.token_type", QB_GGUF_INT32, types, n);
    if (!st) st = qb_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    if (!st) st = qb_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    if (!st) st = qb_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    if (!st) st = qb_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", 1);
    if (!st) st = qb_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", 0);
    for (size_t i = QB_VOCAB_BYTES_N; i < n; i++) free(toks[i]);
    free(toks);
    free(scores);
    free(types);
    return st;
}

qb_status qb_vocab_bytes_write(qb_gguf_writer *w) { return qb_vocab_bytes_write_n(w, QB_VOCAB_BYTES_N); }

qb_status qb_vocab_bytes_tokenizer(qb_tokenizer **out) {
    *out = NULL;
    const char *dir = getenv("TMPDIR");
    char *path = qb_asprintf("%s/qb_vocab_XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        qb_status st = qb_fail(QB_ERUNTIME, "cannot create a temporary file %s: %s (set TMPDIR)", path, strerror(errno));
        free(path);
        return st;
    }
    close(fd);
    qb_gguf_writer w;
    qb_status st = qb_gguf_writer_open(&w, path, 0);
    if (!st) {
        st = qb_vocab_bytes_write(&w);
        if (!st) st = qb_gguf_writer_finish(&w);
        else qb_gguf_writer_abort(&w);
    }
    qb_gguf g;
    if (!st && !(st = qb_gguf_open(&g, path))) {
        st = qb_tokenizer_from_gguf(&g, path, out);
        qb_gguf_close(&g);
    }
    unlink(path);
    free(path);
    return st;
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Tokenizes one file (BOS first) and appends its ids to *ids. */
static qb_status add_file(const char *path, const qb_tokenizer *tok, int32_t **ids, size_t *n, uint64_t *bytes) {
    qb_map m;
    qb_status st = qb_map_file(&m, path);
    if (st) return st;
    int32_t *t = NULL;
    size_t nt = 0;
    st = qb_tokenize(tok, m.data ? m.data : "", m.size, 1, &t, &nt);
    if (!st) {
        *ids = qb_realloc(*ids, (*n + nt) * sizeof **ids);
        memcpy(*ids + *n, t, nt * sizeof *t);
        *n += nt, *bytes += m.size;
    }
    free(t);
    qb_unmap(&m);
    return st ? qb_fail_context(st, "%s: ", path) : QB_OK;
}

qb_status qb_corpus_load(const char *dir, const char *heldout, const qb_tokenizer *tok, qb_corpus *c) {
    memset(c, 0, sizeof *c);
    DIR *d = opendir(dir);
    if (!d) return qb_fail(QB_EINPUT, "cannot read the corpus directory '%s': %s (give --data DIR)", dir, strerror(errno));
    char **names = NULL;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *p = qb_asprintf("%s/%s", dir, e->d_name);
        struct stat s;
        if (lstat(p, &s) == 0 && S_ISREG(s.st_mode)) { /* lstat: aliases (symlinks) are not read twice */
            names = qb_realloc(names, (size_t)(n + 1) * sizeof *names);
            names[n++] = qb_strdup(e->d_name);
        }
        free(p);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, name_cmp);
    int found = 0;
    for (int i = 0; i < n; i++) found |= strcmp(names[i], heldout) == 0;
    qb_status st = QB_OK;
    if (!found) st = qb_fail(QB_EINPUT, "%s: no regular file '%s' to hold out (give --heldout NAME)", dir, heldout);
    else if (n < 2) st = qb_fail(QB_EINPUT, "%s: no file to train on besides the held-out '%s'", dir, heldout);
    for (int i = 0; i < n && !st; i++) {
        char *p = qb_asprintf("%s/%s", dir, names[i]);
        if (strcmp(names[i], heldout) == 0) st = add_file(p, tok, &c->heldout, &c->n_heldout, &c->heldout_bytes);
        else st = add_file(p, tok, &c->train, &c->n_train, &c->train_bytes), c->n_files++;
        free(p);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    if (st) qb_corpus_free(c);
    return st;
}

void qb_corpus_free(qb_corpus *c) {
    free(c->train);
    free(c->heldout);
    memset(c, 0, sizeof *c);
}
