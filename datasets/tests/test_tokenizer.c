/* test_tokenizer.c — the tokenizers of datasets/tokenizer.h on tiny vocabularies built here,
 * with every expected tokenization worked out by hand from llama.cpp's rules (comments give
 * the merge order), plus the metadata checks and --tokens files:
 *  - SPM: ▁ escaping and the space prefix, merges by score with the leftmost of equal scores
 *    first, byte fallback <0xXX>, a byte without a token refused, BOS/EOS flags, a
 *    user-defined token cut out of the text (each fragment after it gets the prefix again);
 *  - BPE: merges by rank (leftmost first on ties), the gpt-2 / llama3 / qwen2 splits of
 *    digits, contractions (case), whitespace runs and newlines, ignore_merges (llama3 only),
 *    invalid UTF-8 → U+FFFD's three byte-level characters, pieces decoding;
 *  - malformed metadata (missing or mistyped keys, short arrays, duplicate tokens, unknown
 *    model / pre-tokenizer) → QB_EINPUT naming the key;
 *  - qb_tokens_read: decimal and binary files, bad entries with their byte offsets.
 * argv[1] (optional): a directory to save the vocabulary files in as fuzz seeds. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/qbtest.h"
#include "datasets/gguf.h"
#include "datasets/tokenizer.h"

static char tmpdir[] = "/tmp/qb_test_tok_XXXXXX";
static const char *seed_dir;

typedef struct vspec {
    const char *model, *pre; /* pre NULL: key absent */
    const char *const *tok;
    int n_tok;
    const float *scores;   /* NULL: key absent */
    const int32_t *types;  /* NULL: key absent */
    const char *const *merges;
    int n_merges;
    int add_bos, add_eos, add_space_prefix; /* -1: key absent */
    int64_t bos, eos;                       /* -1: key absent */
} vspec;

/* Writes the vocabulary as a GGUF and loads it; NULL (with *st) on failure. */
static qb_tokenizer *load_st(const vspec *v, const char *name, qb_status *st) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s.gguf", tmpdir, name);
    qb_gguf_writer w;
    if (qb_gguf_writer_open(&w, path, 0)) return NULL;
    qb_gguf_writer_set_string(&w, "general.architecture", "llama");
    if (v->model) qb_gguf_writer_set_string(&w, "tokenizer.ggml.model", v->model);
    if (v->pre) qb_gguf_writer_set_string(&w, "tokenizer.ggml.pre", v->pre);
    qb_gguf_writer_set_string_array(&w, "tokenizer.ggml.tokens", v->tok, NULL, (uint64_t)v->n_tok);
    if (v->scores) qb_gguf_writer_set_array(&w, "tokenizer.ggml.scores", QB_GGUF_FLOAT32, v->scores, (uint64_t)v->n_tok);
    if (v->types) qb_gguf_writer_set_array(&w, "tokenizer.ggml.token_type", QB_GGUF_INT32, v->types, (uint64_t)v->n_tok);
    if (v->merges) qb_gguf_writer_set_string_array(&w, "tokenizer.ggml.merges", v->merges, NULL, (uint64_t)v->n_merges);
    if (v->add_bos >= 0) qb_gguf_writer_set_bool(&w, "tokenizer.ggml.add_bos_token", v->add_bos);
    if (v->add_eos >= 0) qb_gguf_writer_set_bool(&w, "tokenizer.ggml.add_eos_token", v->add_eos);
    if (v->add_space_prefix >= 0) qb_gguf_writer_set_bool(&w, "tokenizer.ggml.add_space_prefix", v->add_space_prefix);
    if (v->bos >= 0) qb_gguf_writer_set_u32(&w, "tokenizer.ggml.bos_token_id", (uint32_t)v->bos);
    if (v->eos >= 0) qb_gguf_writer_set_u32(&w, "tokenizer.ggml.eos_token_id", (uint32_t)v->eos);
    if (qb_gguf_writer_finish(&w)) return NULL;
    if (seed_dir) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s' '%s/'", seed_dir, path, seed_dir);
        if (system(cmd) != 0) fprintf(stderr, "note: could not save the seed %s\n", path);
    }
    qb_gguf g;
    *st = qb_gguf_open(&g, path);
    if (*st) return NULL;
    qb_tokenizer *t = NULL;
    *st = qb_tokenizer_from_gguf(&g, path, &t);
    qb_gguf_close(&g);
    return *st ? NULL : t;
}

static qb_tokenizer *load(const vspec *v, const char *name) {
    qb_status st;
    qb_tokenizer *t = load_st(v, name, &st);
    CHECK(t != NULL, "%s: %s", name, qb_errmsg());
    return t;
}

/* The test's own lookup of a token text (independent of the tokenizer's hash table). */
static int32_t id_of(const vspec *v, const char *s) {
    for (int i = 0; i < v->n_tok; i++)
        if (strcmp(v->tok[i], s) == 0) return i;
    fprintf(stderr, "test bug: no token \"%s\"\n", s);
    abort();
}

/* Tokenizes `text` (len bytes) and compares with the expected token texts (NULL-terminated);
 * a leading "#BOS"/"#EOS" entry stands for that id. */
static void expect(const qb_tokenizer *t, const vspec *v, const char *text, size_t len, int add_special,
                   const char *const *want, const char *what) {
    int32_t exp[64];
    int ne = 0;
    for (; want[ne]; ne++)
        exp[ne] = strcmp(want[ne], "#BOS") == 0 ? qb_tokenizer_bos(t)
                  : strcmp(want[ne], "#EOS") == 0 ? qb_tokenizer_eos(t)
                                                  : id_of(v, want[ne]);
    int32_t *ids = NULL;
    size_t n = 0;
    qb_status st = qb_tokenize(t, text, len, add_special, &ids, &n);
    int ok = st == QB_OK && n == (size_t)ne;
    for (size_t i = 0; ok && i < n; i++) ok = ids[i] == exp[i];
    char got[512] = "", wnt[512] = "";
    for (size_t i = 0, k = 0; st == QB_OK && i < n && k < 480; i++) k += (size_t)snprintf(got + k, sizeof got - k, " %d", ids[i]);
    for (int i = 0, k = 0; i < ne && k < 480; i++) k += snprintf(wnt + k, sizeof wnt - (size_t)k, " %d", exp[i]);
    CHECK(ok, "%s: got [%s] (status %d %s), want [%s]", what, got, (int)st, st ? qb_errmsg() : "", wnt);
    free(ids);
}

#define EXPECT(t, v, text, sp, what, ...) \
    expect(t, v, text, sizeof(text) - 1, sp, (const char *const[]){__VA_ARGS__, NULL}, what)

/* ---- SPM ------------------------------------------------------------------------------------ */

static const char *spm_words[] = {"▁", "h", "e", "l", "o", "w", "r", "d", "a", "b", "x",
                                  "he", "ll", "hell", "▁w", "or", "ld", "aa", "<tag>"};
static const float spm_word_scores[] = {-10, -10, -10, -10, -10, -10, -10, -10, -10, -10, -10,
                                        -3, -2, -1, -4, -5, -6, -1, 0};

static void test_spm(void) {
    /* 0 <unk>, 1 <s>, 2 </s>, 3 … 258 <0x00> … <0xFF>, then the words */
    enum { NB = 3 + 256, NW = sizeof spm_words / sizeof spm_words[0] };
    static char bytes[256][8];
    const char *tok[NB + NW];
    float score[NB + NW];
    int32_t type[NB + NW];
    tok[0] = "<unk>", tok[1] = "<s>", tok[2] = "</s>";
    type[0] = 2, type[1] = type[2] = 3;
    for (int b = 0; b < 256; b++) snprintf(bytes[b], 8, "<0x%02X>", b), tok[3 + b] = bytes[b], type[3 + b] = 6;
    for (int i = 0; i < NB; i++) score[i] = 0;
    for (int i = 0; i < NW; i++) tok[NB + i] = spm_words[i], score[NB + i] = spm_word_scores[i], type[NB + i] = 1;
    type[NB + NW - 1] = 4; /* <tag>: user-defined */
    vspec v = {"llama", NULL, tok, NB + NW, score, type, NULL, 0, -1, -1, -1, -1, -1};
    qb_tokenizer *t = load(&v, "spm");
    if (!t) return;
    CHECK(qb_tokenizer_n_vocab(t) == NB + NW && qb_tokenizer_bos(t) == 1 && qb_tokenizer_eos(t) == 2 && qb_tokenizer_add_bos(t),
          "defaults: n %d bos %d eos %d add_bos %d", qb_tokenizer_n_vocab(t), qb_tokenizer_bos(t), qb_tokenizer_eos(t),
          qb_tokenizer_add_bos(t));
    /* "▁hello▁world": ll(-2), he(-3), then he+ll = hell(-1), ▁w(-4), or(-5), ld(-6) */
    EXPECT(t, &v, "hello world", 1, "spm hello world", "#BOS", "▁", "hell", "o", "▁w", "or", "ld");
    EXPECT(t, &v, "hello world", 0, "spm no special", "▁", "hell", "o", "▁w", "or", "ld");
    /* aa + a: two equal-score bigrams, the leftmost merges first */
    EXPECT(t, &v, "aaa", 0, "spm tie", "▁", "aa", "a");
    /* é has no token: its two bytes */
    EXPECT(t, &v, "h\xc3\xa9", 0, "spm byte fallback", "▁", "h", "<0xC3>", "<0xA9>");
    /* a lone continuation byte is its own symbol */
    EXPECT(t, &v, "\x80x", 0, "spm stray byte", "▁", "<0x80>", "x");
    /* user-defined token: cut out; the fragment after it gets the space prefix again */
    EXPECT(t, &v, "a<tag>b", 0, "spm user-defined", "▁", "a", "<tag>", "▁", "b");
    EXPECT(t, &v, "<tag>", 0, "spm only user-defined", "<tag>");
    EXPECT(t, &v, "", 1, "spm empty", "#BOS");
    /* control tokens are not parsed from text */
    EXPECT(t, &v, "</s>", 0, "spm control text", "▁", "<0x3C>", "<0x2F>", "<0x73>", "<0x3E>");
    char p[16];
    CHECK(qb_token_piece(t, id_of(&v, "▁w"), p, sizeof p) == 2 && memcmp(p, " w", 2) == 0, "piece ▁w");
    CHECK(qb_token_piece(t, id_of(&v, "<0xC3>"), p, sizeof p) == 1 && (uint8_t)p[0] == 0xC3, "piece <0xC3>");
    CHECK(qb_token_piece(t, 1, p, sizeof p) == 0, "piece of a control token is empty");
    CHECK(qb_token_piece(t, id_of(&v, "hell"), p, 2) == 4 && memcmp(p, "he", 2) == 0, "piece truncated to cap");
    qb_tokenizer_free(t);

    /* no space prefix, EOS added, BOS not */
    v.add_space_prefix = 0, v.add_eos = 1, v.add_bos = 0;
    t = load(&v, "spm_flags");
    if (t) {
        EXPECT(t, &v, "hello world", 1, "spm flags", "hell", "o", "▁w", "or", "ld", "#EOS");
        qb_tokenizer_free(t);
    }

    /* a vocabulary without byte tokens cannot tokenize 'q' (llama.cpp throws too) */
    const char *small[] = {"<unk>", "<s>", "</s>", "▁", "a"};
    vspec s = {"llama", NULL, small, 5, NULL, NULL, NULL, 0, -1, -1, -1, -1, -1};
    t = load(&s, "spm_nobytes");
    if (t) {
        int32_t *ids = NULL;
        size_t n;
        qb_status st = qb_tokenize(t, "aq", 2, 1, &ids, &n);
        CHECK(st == QB_EINPUT && strstr(qb_errmsg(), "0x71"), "missing byte token: status %d, %s", (int)st, qb_errmsg());
        free(ids);
        EXPECT(t, &s, "a", 1, "spm small", "#BOS", "▁", "a");
        qb_tokenizer_free(t);
    }
}

/* ---- BPE ------------------------------------------------------------------------------------ */

/* byte-level characters: Ġ = ' ' (U+0120), Ċ = '\n' (U+010A), ï ¿ ½ = EF BF BD (U+FFFD) */
static const char *bpe_tok[] = {
    "H", "e", "l", "o", "Ġ", "w", "r", "d", "D", "O", "N", "T", "n", "t", "'", "x", "y", "z", "a", "b",
    "1", "2", "3", "4", "5", "Ċ", "ï", "¿", "½",
    "He", "ll", "llo", "Hello", "Ġw", "or", "Ġwor", "ld", "'T", "'t", "12", "123", "1234", "45", "Ġb", "ĊĊ", "xyz",
    "<|endoftext|>"};
static const char *bpe_merges[] = {"H e", "l l", "ll o", "He llo", "Ġ w", "o r", "Ġw or", "l d",
                                   "' T", "' t", "1 2", "12 3", "123 4", "4 5", "Ġ b", "Ċ Ċ"};

static void test_bpe(void) {
    enum { N = sizeof bpe_tok / sizeof bpe_tok[0] };
    int32_t type[N];
    for (int i = 0; i < N; i++) type[i] = 1;
    type[N - 1] = 3;
    vspec v = {"gpt2", "gpt-2", bpe_tok, N, NULL, type, bpe_merges, sizeof bpe_merges / sizeof bpe_merges[0],
               -1, -1, -1, N - 1, N - 1};
    qb_tokenizer *g = load(&v, "bpe_gpt2");
    v.pre = "llama-bpe";
    qb_tokenizer *l = load(&v, "bpe_llama3");
    v.pre = "qwen2";
    qb_tokenizer *q = load(&v, "bpe_qwen2");
    if (!g || !l || !q) goto done;
    CHECK(!qb_tokenizer_add_bos(g) && qb_tokenizer_add_bos(l) && !qb_tokenizer_add_bos(q), "add_bos defaults %d %d %d",
          qb_tokenizer_add_bos(g), qb_tokenizer_add_bos(l), qb_tokenizer_add_bos(q));
    /* "Hello": H e → He, l l → ll, ll o → llo, He llo → Hello; "Ġworld": Ġw, or, Ġwor, ld */
    EXPECT(g, &v, "Hello world", 0, "gpt2 hello", "Hello", "Ġwor", "ld");
    EXPECT(l, &v, "Hello world", 1, "llama3 hello + BOS", "#BOS", "Hello", "Ġwor", "ld");
    EXPECT(q, &v, "Hello world", 1, "qwen2 hello (no BOS)", "Hello", "Ġwor", "ld");
    /* ties: l l l → the leftmost pair first */
    EXPECT(g, &v, "lll", 0, "bpe tie", "ll", "l");
    /* digits: gpt2 one word (12, 123, 1234, then 4 is gone: 5 stays), llama3 123|45, qwen2 singles */
    EXPECT(g, &v, "12345", 0, "gpt2 digits", "1234", "5");
    EXPECT(l, &v, "12345", 0, "llama3 digits", "123", "45");
    EXPECT(q, &v, "12345", 0, "qwen2 digits", "1", "2", "3", "4", "5");
    /* contractions: gpt2 is case-sensitive ('T is ' + T), llama3/qwen2 are not */
    EXPECT(g, &v, "DON'T", 0, "gpt2 DON'T", "D", "O", "N", "'", "T");
    EXPECT(l, &v, "DON'T", 0, "llama3 DON'T", "D", "O", "N", "'T");
    EXPECT(q, &v, "don't", 0, "qwen2 don't", "d", "o", "n", "'t");
    /* two spaces: the first stays alone (\s+(?!\S)), the second joins the word */
    EXPECT(g, &v, "a  b", 0, "gpt2 spaces", "a", "Ġ", "Ġb");
    EXPECT(l, &v, "a  b", 0, "llama3 spaces", "a", "Ġ", "Ġb");
    /* newlines: llama3 keeps \n\n as one word (\s*[\r\n]+), merged to ĊĊ */
    EXPECT(l, &v, "a\n\nb", 0, "llama3 newlines", "a", "ĊĊ", "b");
    EXPECT(g, &v, "a\n\n", 0, "gpt2 trailing newlines", "a", "ĊĊ");
    /* ignore_merges: "xyz" is a token no merge reaches — llama3 keeps the word whole */
    EXPECT(l, &v, "xyz", 0, "llama3 ignore_merges", "xyz");
    EXPECT(g, &v, "xyz", 0, "gpt2 merges only", "x", "y", "z");
    /* an invalid byte is U+FFFD = EF BF BD → ï ¿ ½ */
    EXPECT(q, &v, "\xff", 0, "invalid utf-8", "ï", "¿", "½");
    /* special tokens are not parsed from text: < | … are not in the vocabulary and vanish,
     * as in llama.cpp's byte fallback */
    EXPECT(g, &v, "<|endoftext|>", 0, "no special parsing", "e", "n", "d", "o", "t", "e", "x", "t");
    char p[64];
    size_t pl = qb_token_piece(g, id_of(&v, "Ġwor"), p, sizeof p);
    CHECK(pl == 4 && memcmp(p, " wor", 4) == 0, "piece Ġwor: %zu", pl);
    pl = qb_token_piece(g, id_of(&v, "ï"), p, sizeof p);
    CHECK(pl == 1 && (uint8_t)p[0] == 0xEF, "piece ï: %zu", pl);
    CHECK(qb_token_piece(g, N - 1, p, sizeof p) == 0, "piece of a control token is empty");
done:
    qb_tokenizer_free(g), qb_tokenizer_free(l), qb_tokenizer_free(q);
}

/* ---- malformed metadata --------------------------------------------------------------------- */

static void refused(const vspec *v, const char *name, const char *needle) {
    qb_status st;
    qb_tokenizer *t = load_st(v, name, &st);
    CHECK(!t && st == QB_EINPUT && strstr(qb_errmsg(), needle) && !strchr(qb_errmsg(), '\n'),
          "%s: status %d, message \"%s\" should name \"%s\"", name, (int)st, qb_errmsg(), needle);
    qb_tokenizer_free(t);
}

static void test_malformed(void) {
    const char *tok[] = {"a", "b", "a b"};
    const char *dup[] = {"a", "b", "a"};
    const char *merges[] = {"a b"};
    float sc[3] = {0, 0, 0};
    vspec v = {"llama", NULL, tok, 3, sc, NULL, NULL, 0, -1, -1, -1, -1, -1};
    v.model = NULL;
    refused(&v, "no_model", "tokenizer.ggml.model");
    v.model = "t5";
    refused(&v, "t5", "--tokens");
    v.model = "llama", v.tok = dup;
    refused(&v, "dup", "tokens 0 and 2");
    v.tok = tok, v.add_bos = 1, v.bos = 7; /* out of range: default 1 stays */
    qb_status st;
    qb_tokenizer *t = load_st(&v, "bos_range", &st);
    CHECK(t && qb_tokenizer_bos(t) == 1, "bos out of range keeps the default");
    qb_tokenizer_free(t);
    v.bos = -1;
    v.model = "gpt2", v.pre = "llama-bpe";
    refused(&v, "no_merges", "tokenizer.ggml.merges");
    v.merges = merges, v.n_merges = 1, v.pre = "deepseek-coder";
    refused(&v, "bad_pre", "deepseek-coder");
    v.pre = NULL;
    refused(&v, "no_pre", "tokenizer.ggml.pre");
    /* gpt2's default BOS 11 is out of range here, so add_bos has no token */
    v.pre = "gpt-2", v.add_bos = 1;
    refused(&v, "bos_missing", "bos_token_id");

    /* a scores array shorter than the tokens, and one of the wrong type */
    char path[256];
    snprintf(path, sizeof path, "%s/short.gguf", tmpdir);
    for (int k = 0; k < 2; k++) {
        qb_gguf_writer w;
        qb_gguf_writer_open(&w, path, 0);
        qb_gguf_writer_set_string(&w, "tokenizer.ggml.model", "llama");
        qb_gguf_writer_set_string_array(&w, "tokenizer.ggml.tokens", tok, NULL, 3);
        if (k == 0) qb_gguf_writer_set_array(&w, "tokenizer.ggml.scores", QB_GGUF_FLOAT32, sc, 2);
        else qb_gguf_writer_set_string_array(&w, "tokenizer.ggml.scores", tok, NULL, 3);
        qb_gguf_writer_finish(&w);
        qb_gguf g;
        CHECK(qb_gguf_open(&g, path) == QB_OK, "%s", qb_errmsg());
        t = NULL;
        st = qb_tokenizer_from_gguf(&g, path, &t);
        CHECK(st == QB_EINPUT && strstr(qb_errmsg(), "tokenizer.ggml.scores"), "scores case %d: %s", k, qb_errmsg());
        qb_tokenizer_free(t);
        qb_gguf_close(&g);
    }
}

/* ---- --tokens files ------------------------------------------------------------------------- */

static qb_status read_file(const char *name, const void *data, size_t n, int32_t **ids, size_t *cnt) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return QB_ERUNTIME;
    fwrite(data, 1, n, f);
    fclose(f);
    return qb_tokens_read(path, ids, cnt);
}

static void test_tokens_read(void) {
    int32_t *ids = NULL;
    size_t n = 0;
    const char text[] = "1 22\n333\r\n\t0 2147483647\n";
    CHECK(read_file("a.txt", text, sizeof text - 1, &ids, &n) == QB_OK && n == 5 && ids[0] == 1 && ids[1] == 22 && ids[2] == 333 &&
              ids[3] == 0 && ids[4] == 2147483647,
          "decimal: %s", qb_errmsg());
    free(ids), ids = NULL;
    const int32_t bin[4] = {5, 0, 128000, 70000};
    CHECK(read_file("a.bin", bin, sizeof bin, &ids, &n) == QB_OK && n == 4 && memcmp(ids, bin, sizeof bin) == 0,
          "binary: %s", qb_errmsg());
    free(ids), ids = NULL;
    const char bad[] = "12 4x5 7";
    CHECK(read_file("bad.txt", bad, sizeof bad - 1, &ids, &n) == QB_EINPUT && strstr(qb_errmsg(), "4x5") &&
              strstr(qb_errmsg(), "offset 3"),
          "bad decimal entry: %s", qb_errmsg());
    const char big[] = "1\n2147483648\n";
    CHECK(read_file("big.txt", big, sizeof big - 1, &ids, &n) == QB_EINPUT && strstr(qb_errmsg(), "offset 2"),
          "id above int32: %s", qb_errmsg());
    const char neg[] = "-3\n";
    CHECK(read_file("neg.txt", neg, sizeof neg - 1, &ids, &n) == QB_EINPUT && strstr(qb_errmsg(), "offset 0"),
          "negative decimal: %s", qb_errmsg());
    const int32_t nbin[3] = {1, -5, 2};
    CHECK(read_file("neg.bin", nbin, sizeof nbin, &ids, &n) == QB_EINPUT && strstr(qb_errmsg(), "offset 4"),
          "negative binary: %s", qb_errmsg());
    CHECK(read_file("odd.bin", bin, 7, &ids, &n) == QB_EINPUT && strstr(qb_errmsg(), "7 bytes"), "odd size: %s", qb_errmsg());
    CHECK(read_file("empty.txt", "", 0, &ids, &n) == QB_EINPUT, "empty file");
    CHECK(read_file("ws.txt", " \n ", 3, &ids, &n) == QB_EINPUT && strstr(qb_errmsg(), "no token ids"), "blank: %s", qb_errmsg());
}

int main(int argc, char **argv) {
    if (argc > 1) seed_dir = argv[1];
    if (!mkdtemp(tmpdir)) qbt_skip("cannot create a temporary directory");
    test_spm();
    test_bpe();
    test_malformed();
    test_tokens_read();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", tmpdir);
    return qbt_finish();
}
