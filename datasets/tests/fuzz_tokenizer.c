/* fuzz_tokenizer.c — libFuzzer target for the tokenizers (datasets/tokenizer.c).
 *
 * Two kinds of input:
 *  - starting with "GGUF": the input is a vocabulary file; when qb_tokenizer_from_gguf accepts
 *    it (otherwise: QB_EINPUT with a one-line message), a fixed text holding every byte value
 *    is tokenized: QB_OK or QB_EINPUT (an SPM vocabulary without byte tokens), ids in range.
 *  - otherwise the first byte picks one of four fixed vocabularies (SPM; BPE with the
 *    llama-bpe, qwen2 and gpt-2 pre-tokenizers, all with every byte covered) and the rest is
 *    the text. Tokenizing must succeed with ids in range, and the pieces must give the text
 *    back: SPM " " + text (when the text is well-formed UTF-8 — otherwise a stray lead byte
 *    can swallow part of an escaped space's U+2581 into one symbol — holds no literal U+2581,
 *    which decodes to a space, and no user-defined "<x>", after which the next fragment gets a
 *    space prefix again),
 *    BPE the text itself when it is well-formed UTF-8 (otherwise bytes become U+FFFD).
 * Anything else aborts, which libFuzzer reports as a crash.
 *
 * Built only with clang and -DQB_FUZZ=ON; ctest's fuzz_tokenizer runs it for 60 s seeded with
 * the vocabulary files test_tokenizer writes. By hand:
 *   BUILD/fuzz/fuzz_tokenizer -max_total_time=60 BUILD/fuzz/tokenizer_corpus BUILD/fuzz/tokenizer_seeds */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/gguf.h"
#include "datasets/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static qb_tokenizer *vocab[4];

static void die(const char *what) {
    fprintf(stderr, "fuzz_tokenizer: %s: %s\n", what, qb_errmsg());
    abort();
}

/* GPT-2's byte-level character of byte b, as UTF-8 */
static void byte_char(int b, char *out) {
    int n = 0, c = -1;
    for (int x = 0; x <= b; x++) {
        int printable = (x >= 0x21 && x <= 0x7e) || (x >= 0xa1 && x <= 0xac) || x >= 0xae;
        c = printable ? x : 256 + n++;
    }
    if (c < 0x80) out[0] = (char)c, out[1] = 0;
    else out[0] = (char)(0xc0 | c >> 6), out[1] = (char)(0x80 | (c & 0x3f)), out[2] = 0;
}

static qb_tokenizer *make(int bpe, const char *pre) {
    static const char *spm_words[] = {"▁", "▁t", "he", "▁the", "in", "er", "▁a", "an", "on", "▁▁", "é", "<x>"};
    static const char *bpe_words[] = {"Ġt", "he", "Ġthe", "in", "er", "Ġa", "an", "on", "ĠĠ", "ĊĊ", "12", "123"};
    static const char *bpe_merges[] = {"Ġ t", "h e", "Ġt he", "i n", "e r", "Ġ a", "a n", "o n", "Ġ Ġ", "Ċ Ċ", "1 2", "12 3"};
    static char names[259][8];
    const char *tok[259 + 13];
    int32_t type[259 + 13];
    float score[259 + 13];
    int n = 0;
    if (!bpe) tok[n] = "<unk>", type[n++] = 2, tok[n] = "<s>", type[n++] = 3, tok[n] = "</s>", type[n++] = 3;
    for (int b = 0; b < 256; b++) {
        if (bpe) byte_char(b, names[b]);
        else snprintf(names[b], 8, "<0x%02X>", b);
        tok[n] = names[b], type[n++] = bpe ? 1 : 6;
    }
    for (int i = 0; i < 12; i++) tok[n] = bpe ? bpe_words[i] : spm_words[i], type[n++] = 1;
    if (!bpe) type[n - 1] = 4; /* <x>: user-defined */
    if (bpe) tok[n] = "<|bos|>", type[n++] = 3; /* control: its piece is empty */
    for (int i = 0; i < n; i++) score[i] = -(float)(i % 7);
    char path[] = "/tmp/qb_fuzz_tok_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) die("mkstemp");
    close(fd);
    qb_gguf_writer w;
    if (qb_gguf_writer_open(&w, path, 0)) die("writer");
    qb_gguf_writer_set_string(&w, "tokenizer.ggml.model", bpe ? "gpt2" : "llama");
    if (bpe) qb_gguf_writer_set_string(&w, "tokenizer.ggml.pre", pre);
    qb_gguf_writer_set_string_array(&w, "tokenizer.ggml.tokens", tok, NULL, (uint64_t)n);
    qb_gguf_writer_set_array(&w, "tokenizer.ggml.token_type", QB_GGUF_INT32, type, (uint64_t)n);
    qb_gguf_writer_set_array(&w, "tokenizer.ggml.scores", QB_GGUF_FLOAT32, score, (uint64_t)n);
    if (bpe) qb_gguf_writer_set_string_array(&w, "tokenizer.ggml.merges", bpe_merges, NULL, 12);
    if (bpe) qb_gguf_writer_set_u32(&w, "tokenizer.ggml.bos_token_id", (uint32_t)n - 1);
    if (qb_gguf_writer_finish(&w)) die("finish");
    qb_gguf g;
    qb_tokenizer *t = NULL;
    if (qb_gguf_open(&g, path) || qb_tokenizer_from_gguf(&g, path, &t)) die("load");
    qb_gguf_close(&g);
    unlink(path);
    return t;
}

/* Strictly well-formed UTF-8 (no overlongs, surrogates or values above U+10FFFF). */
static int utf8_valid(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint8_t b = s[i];
        size_t k = b < 0x80 ? 1 : (b & 0xe0) == 0xc0 ? 2 : (b & 0xf0) == 0xe0 ? 3 : (b & 0xf8) == 0xf0 ? 4 : 0;
        if (!k || i + k > n) return 0;
        uint32_t c = k == 1 ? b : k == 2 ? b & 0x1fu : k == 3 ? b & 0x0fu : b & 0x07u;
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return 0;
            c = c << 6 | (s[i + j] & 0x3fu);
        }
        static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (c < min[k] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
        i += k;
    }
    return 1;
}

/* Tokenizes and checks the ids; returns the concatenated pieces (malloc'd) or NULL when the
 * status was QB_EINPUT and that is allowed. */
static char *run(const qb_tokenizer *t, const uint8_t *text, size_t len, int allow_einput, size_t *out_len) {
    int32_t *ids = NULL;
    size_t n = 0;
    qb_status st = qb_tokenize(t, (const char *)text, len, 1, &ids, &n);
    if (st != QB_OK) {
        const char *m = qb_errmsg();
        if (!allow_einput || st != QB_EINPUT || !m[0] || strchr(m, '\n')) die("bad tokenize failure");
        return NULL;
    }
    size_t cap = 64, k = 0;
    char *out = malloc(cap);
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= qb_tokenizer_n_vocab(t)) die("id out of range");
        size_t pl = qb_token_piece(t, ids[i], NULL, 0);
        while (k + pl > cap) cap *= 2, out = realloc(out, cap);
        if (qb_token_piece(t, ids[i], out + k, pl) != pl) die("piece length changed");
        k += pl;
    }
    free(ids);
    *out_len = k;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size >= 4 && memcmp(data, "GGUF", 4) == 0) {
        qb_gguf g;
        if (qb_gguf_open_mem(&g, data, size, "fuzz.gguf") != QB_OK) return 0;
        qb_tokenizer *t = NULL;
        qb_status st = qb_tokenizer_from_gguf(&g, "fuzz.gguf", &t);
        qb_gguf_close(&g); /* the tokenizer must not point into the file */
        if (st != QB_OK) {
            const char *m = qb_errmsg();
            if (st != QB_EINPUT || !m[0] || strchr(m, '\n')) die("bad load failure");
            return 0;
        }
        uint8_t text[256 + 24];
        for (int b = 0; b < 256; b++) text[b] = (uint8_t)b;
        memcpy(text + 256, " the in 12345 aaa\n\n x", 22);
        size_t k;
        free(run(t, text, 278, 1, &k));
        qb_tokenizer_free(t);
        return 0;
    }
    if (!vocab[0]) {
        vocab[0] = make(0, NULL);
        vocab[1] = make(1, "llama-bpe");
        vocab[2] = make(1, "qwen2");
        vocab[3] = make(1, "gpt-2");
    }
    if (size == 0) return 0;
    int v = data[0] & 3;
    const uint8_t *text = data + 1;
    size_t len = size - 1, k;
    char *back = run(vocab[v], text, len, 0, &k);
    if (v == 0 && utf8_valid(text, len) && !memmem(text, len, "\xe2\x96\x81", 3) && !memmem(text, len, "<x>", 3)) {
        /* SPM: every byte has a token, so the pieces are " " + text (none for an empty text) */
        if (len == 0 ? k != 0 : (k != len + 1 || back[0] != ' ' || memcmp(back + 1, text, len) != 0))
            die("SPM pieces do not give the text back");
    } else if (v > 0 && utf8_valid(text, len)) {
        if (k != len || memcmp(back, text, len) != 0) die("BPE pieces do not give the text back");
    }
    free(back);
    return 0;
}
