/* tokenizer.c — llama.cpp's SentencePiece-style (SPM) and GPT-2-style byte-level BPE
 * tokenizers (src/llama-vocab.cpp, src/unicode.cpp), re-implemented from their behaviour.
 *
 * Pipeline of qb_tokenize(), as llama_vocab::impl::tokenize() with parse_special = false:
 *   1. Partition: the text is cut around every occurrence of a USER_DEFINED token (token type
 *      4; llama.cpp still splits these out when special tokens are not parsed), longest
 *      token first. Control and unknown tokens are never matched in text.
 *   2. Each text fragment is tokenized on its own:
 *      SPM: a space is put in front when add_space_prefix holds and the fragment is the first
 *           one or follows a user-defined token; every ' ' becomes U+2581 "▁"; the fragment is
 *           cut into UTF-8 characters (by lead byte only, as llama.cpp) and adjacent symbols
 *           are merged while their concatenation is a token, highest score first (ties: the
 *           leftmost). A final symbol that is not a token becomes byte tokens: "<0xXX>", else
 *           the one-byte token, else the text cannot be tokenized (llama.cpp throws too).
 *      BPE: the fragment is decoded to code points (an invalid byte becomes U+FFFD, as
 *           llama.cpp's unicode_cpts_from_utf8), split into words by the pre-tokenizer of
 *           tokenizer.ggml.pre, each word re-encoded as UTF-8 and mapped byte by byte to GPT-2's
 *           printable byte-level characters; a word that is itself a token is kept whole when
 *           the pre-tokenizer says ignore_merges (llama3); otherwise adjacent symbols are merged
 *           by lowest merge rank (ties: the leftmost). A final symbol that is not a token
 *           contributes the tokens of those of its single bytes that are tokens (llama.cpp's
 *           fallback, which drops the others).
 *   3. BOS first when add_special and add_bos, EOS last when add_special and add_eos.
 *
 * Pre-tokenizers (the splitters below follow llama.cpp's hand-written versions of the
 * regexes, unicode_regex_split_custom_gpt2/_llama3, step for step):
 *   gpt2   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   llama3 (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *          ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *   qwen2  the llama3 regex with \p{N} instead of \p{N}{1,3}. llama.cpp runs this one through
 *          std::regex over a text where every non-ASCII code point is collapsed to one byte of
 *          its class; for this regex the leftmost-first backtracking match is exactly what the
 *          llama3 procedure computes with runs of digits cut to length 1, which is how it is
 *          done here.
 *   Case-insensitive contractions need only ASCII case folding: no non-ASCII code point
 *   lower-cases to s, t, r, e, v, m, l or d.
 *
 * Invariants:
 *  1. Token texts are unique (a duplicate is refused, as current llama.cpp does); an empty
 *     token text is renamed "[EMPTY_<id>]" as llama.cpp does, so it never matches text.
 *  2. A merge "A B" is split at the first space after its first byte (llama.cpp's rule); the
 *     first of duplicate pairs keeps its rank.
 *  3. Every symbol chain is contiguous in its buffer: a live bigram's right symbol is its left
 *     symbol's next, so a bigram is current exactly when both symbols are non-empty and their
 *     lengths still add up to the bigram's.
 *  4. The one deliberate difference from llama.cpp: a 4-byte UTF-8 sequence decoding above
 *     U+10FFFF is treated as invalid (U+FFFD per byte) where llama.cpp throws. */
#define _GNU_SOURCE
#include "tokenizer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/io.h"
#include "unicode_data.h"

/* llama.cpp's token attributes from tokenizer.ggml.token_type (1 … 6; anything else is
 * "undefined", which decodes to nothing) */
enum { A_NORMAL = 1, A_UNKNOWN = 2, A_CONTROL = 4, A_USER = 8, A_UNUSED = 16, A_BYTE = 32 };
enum { KIND_SPM, KIND_BPE };
enum { SPLIT_GPT2, SPLIT_LLAMA3, SPLIT_QWEN2 };

typedef struct tok {
    size_t off;   /* text in t->arena */
    uint32_t len;
    float score;
    uint8_t attr;
} tok;

typedef struct merge {
    size_t off;          /* "A B" in t->arena */
    uint32_t llen, rlen; /* A is [off, off+llen), B is [off+llen+1, …+rlen) */
} merge;

/* Open addressing over byte strings: slot holds index+1 (0 = empty). */
typedef struct strmap {
    uint32_t *slot;
    size_t mask;
} strmap;

struct qb_tokenizer {
    int kind, split, ignore_merges;
    int add_bos, add_eos, add_space_prefix;
    int32_t bos, eos, n_vocab;
    tok *tok;
    char *arena;
    size_t arena_n, arena_cap;
    strmap vocab;
    merge *merges;
    uint32_t n_merges;
    strmap mmap;
    int32_t *user; /* USER_DEFINED token ids, longest text first (ties: lower id first) */
    size_t n_user;
    int32_t byte_tok[256]; /* SPM byte fallback: "<0xXX>", else the one-byte token, else -1 */
    int32_t char_tok[256]; /* the token whose text is exactly that one byte, else -1 */
    uint16_t byte_cpt[256]; /* BPE: byte → its GPT-2 byte-level code point */
    int16_t cpt_byte[0x144]; /* and back (-1: not a byte-level character) */
};

/* ---- small helpers -------------------------------------------------------------------------- */

typedef struct ivec {
    int32_t *v;
    size_t n, cap;
} ivec;

static void ivec_push(ivec *a, int32_t x) {
    if (a->n == a->cap) a->cap = a->cap ? 2 * a->cap : 64, a->v = qb_realloc(a->v, a->cap * sizeof *a->v);
    a->v[a->n++] = x;
}

static size_t arena_add(qb_tokenizer *t, const void *p, size_t n) {
    if (t->arena_n + n > t->arena_cap) {
        while (t->arena_n + n > t->arena_cap) t->arena_cap = t->arena_cap ? 2 * t->arena_cap : 1 << 16;
        t->arena = qb_realloc(t->arena, t->arena_cap);
    }
    memcpy(t->arena + t->arena_n, p, n);
    t->arena_n += n;
    return t->arena_n - n;
}

static void strmap_init(strmap *m, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    m->slot = qb_calloc(cap, sizeof *m->slot);
    m->mask = cap - 1;
}

/* ---- vocabulary lookup ---------------------------------------------------------------------- */

static int32_t vocab_find(const qb_tokenizer *t, const char *s, size_t n) {
    for (size_t i = qb_fnv1a(QB_FNV_INIT, s, n) & t->vocab.mask;; i = (i + 1) & t->vocab.mask) {
        uint32_t e = t->vocab.slot[i];
        if (!e) return -1;
        const tok *k = &t->tok[e - 1];
        if (k->len == n && memcmp(t->arena + k->off, s, n) == 0) return (int32_t)(e - 1);
    }
}

/* Inserts token `id`; returns the id already holding the same text, or -1. */
static int32_t vocab_insert(qb_tokenizer *t, int32_t id) {
    const tok *k = &t->tok[id];
    for (size_t i = qb_fnv1a(QB_FNV_INIT, t->arena + k->off, k->len) & t->vocab.mask;; i = (i + 1) & t->vocab.mask) {
        uint32_t e = t->vocab.slot[i];
        if (!e) {
            t->vocab.slot[i] = (uint32_t)id + 1;
            return -1;
        }
        const tok *o = &t->tok[e - 1];
        if (o->len == k->len && memcmp(t->arena + o->off, t->arena + k->off, k->len) == 0) return (int32_t)(e - 1);
    }
}

static uint64_t pair_hash(const char *a, size_t an, const char *b, size_t bn) {
    return qb_fnv1a(qb_fnv1a(qb_fnv1a(QB_FNV_INIT, a, an), " ", 1), b, bn);
}

/* Rank of merging A and B, or -1. */
static int32_t merge_rank(const qb_tokenizer *t, const char *a, size_t an, const char *b, size_t bn) {
    for (size_t i = pair_hash(a, an, b, bn) & t->mmap.mask;; i = (i + 1) & t->mmap.mask) {
        uint32_t e = t->mmap.slot[i];
        if (!e) return -1;
        const merge *m = &t->merges[e - 1];
        const char *s = t->arena + m->off;
        if (m->llen == an && m->rlen == bn && memcmp(s, a, an) == 0 && memcmp(s + an + 1, b, bn) == 0)
            return (int32_t)(e - 1);
    }
}

/* ---- UTF-8 ---------------------------------------------------------------------------------- */

/* Bytes of the UTF-8 character a lead byte starts (llama.cpp's unicode_len_utf8: continuation
 * bytes count as 1). */
static size_t utf8_len(uint8_t b) {
    static const uint8_t len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return len[b >> 4];
}

/* llama.cpp's lenient decoder: no overlong or surrogate checks; a bad sequence gives U+FFFD
 * and consumes one byte (and, invariant 4, so does a value above U+10FFFF). */
static uint32_t utf8_decode(const uint8_t *s, size_t n, size_t *off) {
    size_t o = *off;
    uint8_t b = s[o];
    uint32_t c;
    size_t k;
    if (b < 0x80) {
        *off = o + 1;
        return b;
    }
    if (!(b & 0x40)) goto bad;
    if (!(b & 0x20)) k = 2, c = b & 0x1fu;
    else if (!(b & 0x10)) k = 3, c = b & 0x0fu;
    else if (!(b & 0x08)) k = 4, c = b & 0x07u;
    else goto bad;
    if (o + k > n) goto bad;
    for (size_t i = 1; i < k; i++) {
        if ((s[o + i] & 0xc0) != 0x80) goto bad;
        c = c << 6 | (s[o + i] & 0x3fu);
    }
    if (c > 0x10FFFF) goto bad;
    *off = o + k;
    return c;
bad:
    *off = o + 1;
    return 0xFFFD;
}

static size_t utf8_encode(uint32_t c, uint8_t *out) {
    if (c < 0x80) return out[0] = (uint8_t)c, 1;
    if (c < 0x800) return out[0] = (uint8_t)(0xc0 | c >> 6), out[1] = (uint8_t)(0x80 | (c & 0x3f)), 2;
    if (c < 0x10000) {
        out[0] = (uint8_t)(0xe0 | c >> 12), out[1] = (uint8_t)(0x80 | (c >> 6 & 0x3f));
        out[2] = (uint8_t)(0x80 | (c & 0x3f));
        return 3;
    }
    out[0] = (uint8_t)(0xf0 | c >> 18), out[1] = (uint8_t)(0x80 | (c >> 12 & 0x3f));
    out[2] = (uint8_t)(0x80 | (c >> 6 & 0x3f)), out[3] = (uint8_t)(0x80 | (c & 0x3f));
    return 4;
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes
 * map in order to U+0100 … U+0143. */
static void byte_level_table(uint16_t map[256]) {
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
        map[b] = (uint16_t)(printable ? b : 256 + n++);
    }
}

/* ---- symbols and the merge queue shared by SPM and BPE --------------------------------------- */

typedef struct sym {
    int prev, next;
    uint32_t start, n; /* bytes in the session's buffer; n == 0 once merged away */
} sym;

/* A candidate merge of symbols left and right (invariant 3). key: SPM −score, BPE rank, so
 * both pop the smallest key first, ties broken by the smaller left index (llama.cpp's
 * comparators). */
typedef struct bigram {
    double key;
    int left, right;
    uint32_t size;
} bigram;

typedef struct heap {
    bigram *b;
    size_t n, cap;
} heap;

static int bg_before(const bigram *x, const bigram *y) {
    return x->key < y->key || (x->key == y->key && x->left < y->left);
}

static void heap_push(heap *h, bigram x) {
    if (h->n == h->cap) h->cap = h->cap ? 2 * h->cap : 64, h->b = qb_realloc(h->b, h->cap * sizeof *h->b);
    size_t i = h->n++;
    while (i > 0 && bg_before(&x, &h->b[(i - 1) / 2])) h->b[i] = h->b[(i - 1) / 2], i = (i - 1) / 2;
    h->b[i] = x;
}

static bigram heap_pop(heap *h) {
    bigram top = h->b[0], last = h->b[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && bg_before(&h->b[c + 1], &h->b[c])) c++;
        if (!bg_before(&h->b[c], &last)) break;
        h->b[i] = h->b[c], i = c;
    }
    if (h->n) h->b[i] = last;
    return top;
}

typedef struct session {
    const qb_tokenizer *t;
    const char *buf; /* the text being merged */
    sym *s;
    size_t n, cap;
    heap q;
} session;

/* Cuts buf[0, len) into UTF-8 characters (by lead byte, clamped at the end). */
static void sess_symbols(session *ss, const char *buf, size_t len) {
    ss->buf = buf;
    ss->n = 0;
    ss->q.n = 0;
    for (size_t o = 0; o < len;) {
        size_t k = utf8_len((uint8_t)buf[o]);
        if (k > len - o) k = len - o;
        if (ss->n == ss->cap) ss->cap = ss->cap ? 2 * ss->cap : 256, ss->s = qb_realloc(ss->s, ss->cap * sizeof *ss->s);
        ss->s[ss->n] = (sym){(int)ss->n - 1, o + k == len ? -1 : (int)ss->n + 1, (uint32_t)o, (uint32_t)k};
        ss->n++;
        o += k;
    }
}

static void sess_try(session *ss, int l, int r) {
    if (l < 0 || r < 0) return;
    const sym *a = &ss->s[l], *b = &ss->s[r];
    double key;
    if (ss->t->kind == KIND_SPM) {
        int32_t id = vocab_find(ss->t, ss->buf + a->start, a->n + b->n);
        if (id < 0) return;
        key = -(double)ss->t->tok[id].score;
    } else {
        int32_t rank = merge_rank(ss->t, ss->buf + a->start, a->n, ss->buf + b->start, b->n);
        if (rank < 0) return;
        key = rank;
    }
    heap_push(&ss->q, (bigram){key, l, r, a->n + b->n});
}

/* Merges until no candidate is left; symbol 0 heads the chain. */
static void sess_merge(session *ss) {
    for (size_t i = 1; i < ss->n; i++) sess_try(ss, (int)i - 1, (int)i);
    while (ss->q.n) {
        bigram g = heap_pop(&ss->q);
        sym *a = &ss->s[g.left], *b = &ss->s[g.right];
        if (a->n == 0 || b->n == 0 || a->n + b->n != g.size) continue; /* stale (invariant 3) */
        a->n += b->n;
        b->n = 0;
        a->next = b->next;
        if (b->next >= 0) ss->s[b->next].prev = g.left;
        sess_try(ss, a->prev, g.left);
        sess_try(ss, g.left, a->next);
    }
}

/* ---- SPM ------------------------------------------------------------------------------------ */

static qb_status spm_fragment(const qb_tokenizer *t, session *ss, const char *text, size_t len, int prefix, ivec *out) {
    /* ' ' → U+2581 (3 bytes) */
    char *buf = qb_malloc(3 * (len + 1));
    size_t k = 0;
    if (prefix) memcpy(buf, "\xe2\x96\x81", 3), k = 3;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') memcpy(buf + k, "\xe2\x96\x81", 3), k += 3;
        else buf[k++] = text[i];
    }
    if (k > INT32_MAX) {
        free(buf);
        return qb_fail(QB_EINPUT, "text fragment of %zu bytes is too long to tokenize (limit 2 GiB)", len);
    }
    sess_symbols(ss, buf, k);
    sess_merge(ss);
    qb_status st = QB_OK;
    for (int i = ss->n ? 0 : -1; i != -1 && st == QB_OK; i = ss->s[i].next) {
        const sym *y = &ss->s[i];
        int32_t id = vocab_find(t, buf + y->start, y->n);
        if (id >= 0) {
            ivec_push(out, id);
            continue;
        }
        for (uint32_t j = 0; j < y->n; j++) {
            uint8_t b = (uint8_t)buf[y->start + j];
            if (t->byte_tok[b] < 0) {
                st = qb_fail(QB_EINPUT, "byte 0x%02X has no token in the vocabulary (neither <0x%02X> nor the byte itself), "
                             "so the text cannot be tokenized (llama.cpp fails on it too)", b, b);
                break;
            }
            ivec_push(out, t->byte_tok[b]);
        }
    }
    free(buf);
    return st;
}

/* ---- BPE pre-tokenizer splits ---------------------------------------------------------------- */

/* A word is cpts[start, start+len). The splitters follow llama.cpp's custom versions: pos is
 * always the end of the previous word, each branch ends one word. */
typedef struct words {
    size_t *start, *len;
    size_t n, cap;
} words;

static void words_add(words *w, size_t start, size_t end) {
    if (end <= start) return;
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 256;
        w->start = qb_realloc(w->start, w->cap * sizeof *w->start);
        w->len = qb_realloc(w->len, w->cap * sizeof *w->len);
    }
    w->start[w->n] = start, w->len[w->n] = end - start, w->n++;
}

#define IS_L(f) ((f) & QB_U_LETTER)
#define IS_N(f) ((f) & QB_U_NUMBER)
#define IS_WS(f) ((f) & QB_U_WHITESPACE)
#define IS_OTHER(f) (!((f) & (QB_U_LETTER | QB_U_NUMBER | QB_U_WHITESPACE)))

static int ascii_lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? (int)(c + 32) : (int)c; }

/* Length of a contraction 's 't 're 've 'm 'll 'd at pos (0 if none); fold: case-insensitive. */
static size_t contraction(const uint32_t *c, size_t pos, size_t n, int fold) {
    if (c[pos] != '\'' || pos + 1 >= n) return 0;
    int a = fold ? ascii_lower(c[pos + 1]) : (int)c[pos + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (pos + 2 >= n) return 0;
    int b = fold ? ascii_lower(c[pos + 2]) : (int)c[pos + 2];
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

/* Trailing whitespace: \s+(?!\S) leaves the last space to the next word unless the run ends
 * the text; \s+ otherwise. Returns the word's end. */
static size_t ws_run(const uint8_t *f, size_t pos, size_t n) {
    size_t k = 0;
    while (pos + k < n && IS_WS(f[pos + k])) k++;
    if (k > 1 && pos + k < n) return pos + k - 1;
    return pos + (k ? k : 1); /* k == 0: no alternative matched, the character stands alone */
}

static void split_gpt2(const uint32_t *c, const uint8_t *f, size_t n, words *w) {
    for (size_t pos = 0; pos < n;) {
        size_t end, k = contraction(c, pos, n, 0);
        if (k) {
            words_add(w, pos, pos + k), pos += k;
            continue;
        }
        /* ' ?' then a run of one class; the class is that of the character after the space */
        size_t p = pos + (c[pos] == ' ' && pos + 1 < n);
        if (c[pos] != ' ' || pos + 1 < n) {
            uint8_t g = f[p];
            int cls = IS_L(g) ? 1 : IS_N(g) ? 2 : IS_OTHER(g) ? 3 : 0;
            if (cls) {
                end = p;
                while (end < n && (cls == 1 ? IS_L(f[end]) : cls == 2 ? IS_N(f[end]) : IS_OTHER(f[end]))) end++;
                words_add(w, pos, end), pos = end;
                continue;
            }
        }
        end = ws_run(f, pos, n);
        words_add(w, pos, end), pos = end;
    }
}

/* llama3 (max_digits 3) and qwen2 (max_digits 1). */
static void split_llama3(const uint32_t *c, const uint8_t *f, size_t n, size_t max_digits, words *w) {
    for (size_t pos = 0; pos < n;) {
        size_t end, k = contraction(c, pos, n, 1);
        if (k) {
            words_add(w, pos, pos + k), pos += k;
            continue;
        }
        uint32_t cp = c[pos];
        /* [^\r\n\p{L}\p{N}]?\p{L}+ */
        if (!(cp == '\r' || cp == '\n' || IS_N(f[pos])) && (IS_L(f[pos]) || (pos + 1 < n && IS_L(f[pos + 1])))) {
            end = pos + 1;
            while (end < n && IS_L(f[end])) end++;
            words_add(w, pos, end), pos = end;
            continue;
        }
        /* \p{N}{1,max} */
        if (IS_N(f[pos])) {
            end = pos;
            while (end < n && IS_N(f[end]) && end - pos < max_digits) end++;
            words_add(w, pos, end), pos = end;
            continue;
        }
        /* ' ?[^\s\p{L}\p{N}]+[\r\n]*' (a space at the very end also lands here, alone) */
        if (cp == ' ' ? (pos + 1 >= n || IS_OTHER(f[pos + 1])) : IS_OTHER(f[pos])) {
            end = pos + (cp == ' ');
            while (end < n && IS_OTHER(f[end])) end++;
            while (end < n && (c[end] == '\r' || c[end] == '\n')) end++;
            words_add(w, pos, end), pos = end;
            continue;
        }
        /* \s*[\r\n]+ : up to the last CR/LF of the whitespace run */
        size_t last_nl = 0;
        for (size_t q = pos; q < n && IS_WS(f[q]); q++)
            if (c[q] == '\r' || c[q] == '\n') last_nl = q + 1;
        end = last_nl ? last_nl : ws_run(f, pos, n);
        words_add(w, pos, end), pos = end;
    }
}

/* ---- BPE ------------------------------------------------------------------------------------ */

typedef struct bpe_scratch {
    uint32_t *cpt;
    uint8_t *flag;
    size_t cap;
    words w;
    char *word;
    size_t word_cap;
} bpe_scratch;

static void bpe_word(const qb_tokenizer *t, session *ss, const char *word, size_t len, ivec *out) {
    if (t->ignore_merges) {
        int32_t id = vocab_find(t, word, len);
        if (id >= 0) {
            ivec_push(out, id);
            return;
        }
    }
    sess_symbols(ss, word, len);
    sess_merge(ss);
    for (int i = 0; i != -1; i = ss->s[i].next) {
        const sym *y = &ss->s[i];
        int32_t id = vocab_find(t, word + y->start, y->n);
        if (id >= 0) {
            ivec_push(out, id);
            continue;
        }
        for (uint32_t j = 0; j < y->n; j++) {
            int32_t b = t->char_tok[(uint8_t)word[y->start + j]];
            if (b >= 0) ivec_push(out, b);
        }
    }
}

static void bpe_fragment(const qb_tokenizer *t, session *ss, bpe_scratch *x, const char *text, size_t len, ivec *out) {
    if (len > x->cap) {
        x->cap = len;
        x->cpt = qb_realloc(x->cpt, len * sizeof *x->cpt);
        x->flag = qb_realloc(x->flag, len);
    }
    size_t n = 0;
    for (size_t o = 0; o < len;) {
        x->cpt[n] = utf8_decode((const uint8_t *)text, len, &o);
        x->flag[n] = (uint8_t)qb_unicode_flags(x->cpt[n]);
        n++;
    }
    x->w.n = 0;
    if (t->split == SPLIT_GPT2) split_gpt2(x->cpt, x->flag, n, &x->w);
    else split_llama3(x->cpt, x->flag, n, t->split == SPLIT_LLAMA3 ? 3 : 1, &x->w);
    for (size_t k = 0; k < x->w.n; k++) {
        /* each code point → UTF-8 → one byte-level character (≤ 2 bytes) per byte */
        size_t need = 8 * x->w.len[k];
        if (need > x->word_cap) x->word_cap = need, x->word = qb_realloc(x->word, need);
        size_t m = 0;
        for (size_t i = x->w.start[k]; i < x->w.start[k] + x->w.len[k]; i++) {
            uint8_t u[4];
            size_t ul = utf8_encode(x->cpt[i], u);
            for (size_t j = 0; j < ul; j++) m += utf8_encode(t->byte_cpt[u[j]], (uint8_t *)x->word + m);
        }
        bpe_word(t, ss, x->word, m, out);
    }
}

/* ---- tokenize ------------------------------------------------------------------------------- */

typedef struct frag {
    int32_t id; /* ≥ 0: a user-defined token; -1: text[off, off+len) */
    size_t off, len;
} frag;

typedef struct fragv {
    frag *f;
    size_t n, cap;
} fragv;

static void frag_push(fragv *v, frag x) {
    if (v->n == v->cap) v->cap = v->cap ? 2 * v->cap : 16, v->f = qb_realloc(v->f, v->cap * sizeof *v->f);
    v->f[v->n++] = x;
}

/* Step 1: cuts the text fragments around each user-defined token, longest first. */
static void partition(const qb_tokenizer *t, const char *text, size_t len, fragv *v) {
    fragv nx = {0};
    if (len) frag_push(v, (frag){-1, 0, len});
    for (size_t u = 0; u < t->n_user; u++) {
        const tok *k = &t->tok[t->user[u]];
        const char *needle = t->arena + k->off;
        nx.n = 0;
        for (size_t i = 0; i < v->n; i++) {
            frag fr = v->f[i];
            if (fr.id >= 0) {
                frag_push(&nx, fr);
                continue;
            }
            size_t off = fr.off, end = fr.off + fr.len;
            const char *m;
            while (off < end && (m = memmem(text + off, end - off, needle, k->len))) {
                size_t at = (size_t)(m - text);
                if (at > off) frag_push(&nx, (frag){-1, off, at - off});
                frag_push(&nx, (frag){t->user[u], at, k->len});
                off = at + k->len;
            }
            if (off < end) frag_push(&nx, (frag){-1, off, end - off});
        }
        fragv tmp = *v;
        *v = nx, nx = tmp;
    }
    free(nx.f);
}

qb_status qb_tokenize(const qb_tokenizer *t, const char *text, size_t len, int add_special, int32_t **ids, size_t *n) {
    ivec out = {0};
    fragv fv = {0};
    session ss = {.t = t};
    bpe_scratch x = {0};
    qb_status st = QB_OK;
    if (add_special && t->add_bos) ivec_push(&out, t->bos);
    partition(t, text, len, &fv);
    int prev_special = 1; /* SPM: the first fragment gets the space prefix */
    for (size_t i = 0; i < fv.n && st == QB_OK; i++) {
        const frag *fr = &fv.f[i];
        if (fr->id >= 0) {
            ivec_push(&out, fr->id);
            prev_special = 1;
        } else if (t->kind == KIND_SPM) {
            st = spm_fragment(t, &ss, text + fr->off, fr->len, t->add_space_prefix && prev_special, &out);
            prev_special = 0;
        } else {
            bpe_fragment(t, &ss, &x, text + fr->off, fr->len, &out);
        }
    }
    if (add_special && t->add_eos) ivec_push(&out, t->eos);
    free(fv.f), free(ss.s), free(ss.q.b);
    free(x.cpt), free(x.flag), free(x.w.start), free(x.w.len), free(x.word);
    if (st != QB_OK) {
        free(out.v);
        return st;
    }
    *ids = out.v ? out.v : qb_malloc(sizeof(int32_t));
    *n = out.n;
    return QB_OK;
}

/* ---- pieces --------------------------------------------------------------------------------- */

static size_t put(char *buf, size_t cap, size_t k, const void *p, size_t n) {
    if (k < cap) memcpy(buf + k, p, k + n <= cap ? n : cap - k);
    return k + n;
}

size_t qb_token_piece(const qb_tokenizer *t, int32_t id, char *buf, size_t cap) {
    if (id < 0 || id >= t->n_vocab) return 0;
    const tok *k = &t->tok[id];
    const char *s = t->arena + k->off;
    if (k->attr & (A_UNKNOWN | A_CONTROL)) return 0;
    if (k->attr & A_USER) return put(buf, cap, 0, s, k->len);
    if (k->attr & A_NORMAL) {
        size_t o = 0;
        if (t->kind == KIND_SPM) { /* ▁ → ' ' */
            for (uint32_t i = 0; i < k->len;) {
                if (i + 3 <= k->len && memcmp(s + i, "\xe2\x96\x81", 3) == 0) o = put(buf, cap, o, " ", 1), i += 3;
                else o = put(buf, cap, o, s + i, 1), i++;
            }
            return o;
        }
        /* byte-level characters → bytes; a character outside the map is shown as llama.cpp's
         * llama_decode_text does: "[UNK_BYTE_0x<utf-8 hex><token text>]" */
        for (size_t i = 0; i < k->len;) {
            uint32_t c = utf8_decode((const uint8_t *)s, k->len, &i);
            int byte = c < 0x144 ? t->cpt_byte[c] : -1;
            if (byte >= 0) {
                char ch = (char)byte;
                o = put(buf, cap, o, &ch, 1);
            } else {
                uint8_t u[4];
                size_t ul = utf8_encode(c, u);
                char hex[16];
                o = put(buf, cap, o, "[UNK_BYTE_0x", 12);
                for (size_t j = 0; j < ul; j++) snprintf(hex, sizeof hex, "%02x", u[j]), o = put(buf, cap, o, hex, 2);
                o = put(buf, cap, o, s, k->len);
                o = put(buf, cap, o, "]", 1);
            }
        }
        return o;
    }
    if (k->attr & A_BYTE) { /* "<0xXX>" */
        char hex[3] = {k->len >= 5 ? s[3] : '0', k->len >= 5 ? s[4] : '0', 0};
        char ch = (char)strtol(hex, NULL, 16);
        return put(buf, cap, 0, &ch, 1);
    }
    return 0;
}

/* ---- loading -------------------------------------------------------------------------------- */

int32_t qb_tokenizer_n_vocab(const qb_tokenizer *t) { return t->n_vocab; }
int32_t qb_tokenizer_bos(const qb_tokenizer *t) { return t->bos; }
int32_t qb_tokenizer_eos(const qb_tokenizer *t) { return t->eos; }
int qb_tokenizer_add_bos(const qb_tokenizer *t) { return t->add_bos; }

void qb_tokenizer_free(qb_tokenizer *t) {
    if (!t) return;
    free(t->tok), free(t->arena), free(t->vocab.slot), free(t->merges), free(t->mmap.slot), free(t->user);
    free(t);
}

/* The pre-tokenizers implemented (tokenizer.ggml.pre names of llama.cpp's llama-vocab.cpp that
 * select the same regex) and what the name implies there. */
static const struct pre {
    const char *name;
    int split, ignore_merges, add_bos;
} pres[] = {
    {"llama3", SPLIT_LLAMA3, 1, 1},   {"llama-v3", SPLIT_LLAMA3, 1, 1}, {"llama-bpe", SPLIT_LLAMA3, 1, 1},
    {"falcon3", SPLIT_LLAMA3, 1, 1},  {"falcon-h1", SPLIT_LLAMA3, 1, 1}, {"pixtral", SPLIT_LLAMA3, 1, 1},
    {"midm-2.0", SPLIT_LLAMA3, 1, 1}, {"lfm2", SPLIT_LLAMA3, 1, 1},     {"dbrx", SPLIT_LLAMA3, 0, 0},
    {"smaug-bpe", SPLIT_LLAMA3, 0, 0},
    {"gpt-2", SPLIT_GPT2, 0, 0},      {"phi-2", SPLIT_GPT2, 0, 0},      {"jina-es", SPLIT_GPT2, 0, 0},
    {"jina-de", SPLIT_GPT2, 0, 0},    {"gigachat", SPLIT_GPT2, 0, 0},   {"jina-v2-es", SPLIT_GPT2, 0, 0},
    {"jina-v2-de", SPLIT_GPT2, 0, 0}, {"mpt", SPLIT_GPT2, 0, 0},        {"olmo", SPLIT_GPT2, 0, 0},
    {"jais", SPLIT_GPT2, 0, 0},       {"trillion", SPLIT_GPT2, 0, 0},   {"granite-docling", SPLIT_GPT2, 0, 0},
    {"qwen2", SPLIT_QWEN2, 0, 0},     {"deepseek-r1-qwen", SPLIT_QWEN2, 0, 0}, {"megrez", SPLIT_QWEN2, 0, 0},
    {"stablelm2", SPLIT_QWEN2, 0, 0}, {"hunyuan", SPLIT_QWEN2, 0, 0},
};

/* An optional ARRAY of element type `et` (or `et2` when non-zero) with at least n elements:
 * *elems NULL when absent. */
static qb_status opt_array(const qb_gguf *g, const char *path, const char *key, uint32_t et, uint32_t et2, uint64_t n,
                           const void **elems, uint32_t *type) {
    const qb_gguf_kv *kv = qb_gguf_find_kv(g, key);
    *elems = NULL;
    if (!kv) return QB_OK;
    if (kv->type != QB_GGUF_ARRAY || (kv->arr_type != et && (!et2 || kv->arr_type != et2)))
        return qb_fail(QB_EINPUT, "%s: key '%s' is %s of %s, expected ARRAY of %s%s%s", path, key, qb_gguf_type_name(kv->type),
                       qb_gguf_type_name(kv->arr_type), qb_gguf_type_name(et), et2 ? " or " : "", et2 ? qb_gguf_type_name(et2) : "");
    if (kv->arr_n < n)
        return qb_fail(QB_EINPUT, "%s: key '%s' has %" PRIu64 " elements, fewer than the %" PRIu64 " tokens", path, key, kv->arr_n, n);
    *type = kv->arr_type;
    *elems = kv->val + 12; /* uint32 element type, uint64 count, then the elements */
    return QB_OK;
}

static qb_status opt_bool(const qb_gguf *g, const char *key, int *v) {
    return qb_gguf_find_kv(g, key) ? qb_gguf_get_bool(g, key, v) : QB_OK;
}

/* Special token id: the default unless out of range; a key in range overrides it (llama.cpp
 * keeps the default for a key out of range). */
static qb_status special_id(const qb_gguf *g, const char *key, int32_t n_vocab, int32_t *id) {
    if (*id >= n_vocab) *id = -1;
    if (!qb_gguf_find_kv(g, key)) return QB_OK;
    uint32_t v;
    qb_status st = qb_gguf_get_u32(g, key, &v);
    if (st) return st;
    if (v < (uint32_t)n_vocab) *id = (int32_t)v;
    return QB_OK;
}

static int user_cmp_len(const void *a, const void *b, void *arg) {
    const qb_tokenizer *t = arg;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (t->tok[x].len != t->tok[y].len) return t->tok[x].len > t->tok[y].len ? -1 : 1;
    return x < y ? -1 : x > y;
}

static qb_status load_merges(qb_tokenizer *t, const qb_gguf *g, const char *path) {
    const char *key = "tokenizer.ggml.merges";
    const qb_gguf_kv *kv = qb_gguf_find_kv(g, key);
    if (!kv) return qb_fail(QB_EINPUT, "%s: key '%s' is missing (a gpt2 tokenizer needs its merges)", path, key);
    if (kv->type != QB_GGUF_ARRAY || kv->arr_type != QB_GGUF_STRING)
        return qb_fail(QB_EINPUT, "%s: key '%s' is %s, expected ARRAY of STRING", path, key, qb_gguf_type_name(kv->type));
    if (kv->arr_n > INT32_MAX) return qb_fail(QB_EINPUT, "%s: key '%s' has %" PRIu64 " merges, more than 2^31-1", path, key, kv->arr_n);
    t->merges = qb_malloc((size_t)kv->arr_n * sizeof *t->merges);
    strmap_init(&t->mmap, (size_t)kv->arr_n);
    uint64_t cur = 0, len;
    const char *s;
    while (qb_gguf_kv_next_string(kv, &cur, &s, &len)) {
        uint32_t i = t->n_merges++;
        const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
        if (!sp || len > UINT32_MAX) { /* llama.cpp ranks it as the pair ("", ""), which never matches */
            t->merges[i] = (merge){0, 0, 0};
            continue;
        }
        merge m = {arena_add(t, s, len), (uint32_t)(sp - s), (uint32_t)(len - (size_t)(sp - s) - 1)};
        t->merges[i] = m;
        const char *a = t->arena + m.off;
        for (size_t h = pair_hash(a, m.llen, a + m.llen + 1, m.rlen) & t->mmap.mask;; h = (h + 1) & t->mmap.mask) {
            uint32_t e = t->mmap.slot[h];
            if (!e) {
                t->mmap.slot[h] = i + 1;
                break;
            }
            const merge *o = &t->merges[e - 1];
            if (o->llen + o->rlen + 1 == len && memcmp(t->arena + o->off, a, len) == 0 && o->llen == m.llen)
                break; /* duplicate pair: the first keeps its rank (invariant 2) */
        }
    }
    return QB_OK;
}

qb_status qb_tokenizer_from_gguf(const qb_gguf *g, const char *path, qb_tokenizer **out) {
    if (!path) path = g->path;
    const char *model;
    uint64_t model_len;
    if (!qb_gguf_find_kv(g, "tokenizer.ggml.model"))
        return qb_fail(QB_EINPUT, "%s: no tokenizer (key 'tokenizer.ggml.model' is missing); give pre-tokenized ids with "
                       "--tokens FILE", path);
    qb_status st = qb_gguf_get_string(g, "tokenizer.ggml.model", &model, &model_len);
    if (st) return st;
    qb_tokenizer *t = qb_calloc(1, sizeof *t);
    if (model_len == 5 && memcmp(model, "llama", 5) == 0) {
        t->kind = KIND_SPM;
        t->bos = 1, t->eos = 2, t->add_bos = 1, t->add_space_prefix = 1;
    } else if (model_len == 4 && memcmp(model, "gpt2", 4) == 0) {
        t->kind = KIND_BPE;
        t->bos = 11, t->eos = 11;
    } else {
        qb_tokenizer_free(t);
        return qb_fail(QB_EINPUT, "%s: tokenizer model '%s' (tokenizer.ggml.model) is not implemented (llama and gpt2 are); "
                       "give pre-tokenized ids with --tokens FILE", path, qb_show(model, (size_t)model_len).s);
    }

    /* tokens, scores, types */
    const char *key = "tokenizer.ggml.tokens";
    const qb_gguf_kv *kv = qb_gguf_find_kv(g, key);
    if (!kv) st = qb_fail(QB_EINPUT, "%s: key '%s' is missing", path, key);
    else if (kv->type != QB_GGUF_ARRAY || kv->arr_type != QB_GGUF_STRING)
        st = qb_fail(QB_EINPUT, "%s: key '%s' is %s, expected ARRAY of STRING", path, key, qb_gguf_type_name(kv->type));
    else if (kv->arr_n == 0 || kv->arr_n > INT32_MAX)
        st = qb_fail(QB_EINPUT, "%s: key '%s' has %" PRIu64 " tokens, expected 1 … 2^31-1", path, key, kv->arr_n);
    const void *scores = NULL, *types = NULL;
    uint32_t score_type = 0, type_type = 0;
    if (!st) st = opt_array(g, path, "tokenizer.ggml.scores", QB_GGUF_FLOAT32, QB_GGUF_INT32, kv->arr_n, &scores, &score_type);
    if (!st) st = opt_array(g, path, "tokenizer.ggml.token_type", QB_GGUF_INT32, 0, kv->arr_n, &types, &type_type);
    if (st) {
        qb_tokenizer_free(t);
        return st;
    }
    t->n_vocab = (int32_t)kv->arr_n;
    t->tok = qb_calloc((size_t)t->n_vocab, sizeof *t->tok);
    strmap_init(&t->vocab, (size_t)t->n_vocab);
    uint64_t cur = 0, len;
    const char *s;
    for (int32_t i = 0; qb_gguf_kv_next_string(kv, &cur, &s, &len); i++) {
        tok *k = &t->tok[i];
        char empty[32];
        if (len == 0) len = (uint64_t)snprintf(empty, sizeof empty, "[EMPTY_%d]", i), s = empty;
        if (len > UINT32_MAX) st = qb_fail(QB_EINPUT, "%s: key '%s': token %d is %" PRIu64 " bytes long", path, key, i, len);
        if (st) break;
        k->off = arena_add(t, s, (size_t)len), k->len = (uint32_t)len;
        if (scores) {
            if (score_type == QB_GGUF_FLOAT32) memcpy(&k->score, (const char *)scores + 4 * (size_t)i, 4);
            else {
                int32_t v;
                memcpy(&v, (const char *)scores + 4 * (size_t)i, 4);
                k->score = (float)v;
            }
        }
        k->attr = A_NORMAL;
        if (types) {
            int32_t ty;
            memcpy(&ty, (const char *)types + 4 * (size_t)i, 4);
            static const uint8_t attr_of[7] = {0, A_NORMAL, A_UNKNOWN, A_CONTROL, A_USER, A_UNUSED, A_BYTE};
            k->attr = ty >= 0 && ty <= 6 ? attr_of[ty] : 0;
        }
        int32_t dup = vocab_insert(t, i);
        if (dup >= 0)
            st = qb_fail(QB_EINPUT, "%s: key '%s': tokens %d and %d are both \"%s\" (token texts must be unique)", path, key, dup, i,
                         qb_show(s, (size_t)len).s);
    }

    /* pre-tokenizer and merges */
    if (!st && t->kind == KIND_BPE) {
        const char *pre = "";
        uint64_t pre_len = 0;
        if (qb_gguf_find_kv(g, "tokenizer.ggml.pre")) st = qb_gguf_get_string(g, "tokenizer.ggml.pre", &pre, &pre_len);
        size_t i = 0;
        while (!st && i < sizeof pres / sizeof pres[0] && !(strlen(pres[i].name) == pre_len && memcmp(pres[i].name, pre, pre_len) == 0)) i++;
        if (!st && i == sizeof pres / sizeof pres[0])
            st = qb_fail(QB_EINPUT, "%s: pre-tokenizer '%s' (tokenizer.ggml.pre) is not implemented (llama-bpe, qwen2, gpt-2 and "
                         "their aliases are); give pre-tokenized ids with --tokens FILE", path,
                         pre_len ? qb_show(pre, (size_t)pre_len).s : "(missing: llama.cpp's default)");
        if (!st) t->split = pres[i].split, t->ignore_merges = pres[i].ignore_merges, t->add_bos = pres[i].add_bos;
        if (!st) st = load_merges(t, g, path);
    }

    /* special tokens and flags */
    if (!st) st = special_id(g, "tokenizer.ggml.bos_token_id", t->n_vocab, &t->bos);
    if (!st) st = special_id(g, "tokenizer.ggml.eos_token_id", t->n_vocab, &t->eos);
    if (!st) st = opt_bool(g, "tokenizer.ggml.add_bos_token", &t->add_bos);
    if (!st) st = opt_bool(g, "tokenizer.ggml.add_eos_token", &t->add_eos);
    if (!st) st = opt_bool(g, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix);
    if (!st && t->add_bos && t->bos < 0)
        st = qb_fail(QB_EINPUT, "%s: tokenizer.ggml.add_bos_token is true, but tokenizer.ggml.bos_token_id is not set", path);
    if (!st && t->add_eos && t->eos < 0)
        st = qb_fail(QB_EINPUT, "%s: tokenizer.ggml.add_eos_token is true, but tokenizer.ggml.eos_token_id is not set", path);
    if (st) {
        qb_tokenizer_free(t);
        return st;
    }

    /* byte tables and the user-defined tokens */
    byte_level_table(t->byte_cpt);
    memset(t->cpt_byte, 0xff, sizeof t->cpt_byte);
    for (int b = 0; b < 256; b++) t->cpt_byte[t->byte_cpt[b]] = (int16_t)b;
    for (int b = 0; b < 256; b++) {
        char one = (char)b, hex[8];
        t->char_tok[b] = vocab_find(t, &one, 1);
        snprintf(hex, sizeof hex, "<0x%02X>", b);
        int32_t h = vocab_find(t, hex, 6);
        t->byte_tok[b] = h >= 0 ? h : t->char_tok[b];
    }
    for (int32_t i = 0; i < t->n_vocab; i++)
        if ((t->tok[i].attr & A_USER) && !(t->tok[i].attr & (A_CONTROL | A_UNKNOWN))) {
            t->user = qb_realloc(t->user, (t->n_user + 1) * sizeof *t->user);
            t->user[t->n_user++] = i;
        }
    if (t->n_user) qsort_r(t->user, t->n_user, sizeof *t->user, user_cmp_len, t);
    *out = t;
    return QB_OK;
}

/* ---- pre-tokenized ids ---------------------------------------------------------------------- */

/* Format detection: a file of printable ASCII and whitespace only is decimal text; any other
 * byte (little-endian ids below 2^24 always have a zero byte) makes it binary int32. */
qb_status qb_tokens_read(const char *path, int32_t **ids, size_t *n) {
    qb_map m;
    qb_status st = qb_map_file(&m, path);
    if (st) return st;
    const uint8_t *p = m.data;
    size_t size = m.size;
    int text = 1;
    for (size_t i = 0; i < size && text; i++)
        text = (p[i] >= 0x20 && p[i] < 0x7f) || (p[i] >= '\t' && p[i] <= '\r');
    ivec v = {0};
    if (size == 0) st = qb_fail(QB_EINPUT, "%s: empty file: expected token ids (decimal text or int32)", path);
    else if (text) {
        for (size_t i = 0; i < size && !st;) {
            if (p[i] == ' ' || (p[i] >= '\t' && p[i] <= '\r')) {
                i++;
                continue;
            }
            size_t at = i;
            int64_t x = 0;
            while (i < size && p[i] >= '0' && p[i] <= '9' && x <= INT32_MAX) x = 10 * x + (p[i++] - '0');
            int bad_end = i < size && !(p[i] == ' ' || (p[i] >= '\t' && p[i] <= '\r'));
            if (i == at || bad_end || x > INT32_MAX) {
                size_t e = at;
                while (e < size && !(p[e] == ' ' || (p[e] >= '\t' && p[e] <= '\r')) && e - at < 20) e++;
                st = qb_fail(QB_EINPUT, "%s: bad token id \"%s\" at byte offset %zu: expected a decimal id 0 … 2147483647 "
                             "(one per line or whitespace-separated)", path, qb_show(p + at, e - at).s, at);
            } else {
                ivec_push(&v, (int32_t)x);
            }
        }
    } else if (size % 4) {
        st = qb_fail(QB_EINPUT, "%s: binary token file of %zu bytes is not a whole number of little-endian int32 ids", path, size);
    } else {
        for (size_t i = 0; i < size && !st; i += 4) {
            int32_t x = (int32_t)((uint32_t)p[i] | (uint32_t)p[i + 1] << 8 | (uint32_t)p[i + 2] << 16 | (uint32_t)p[i + 3] << 24);
            if (x < 0) st = qb_fail(QB_EINPUT, "%s: negative token id %d at byte offset %zu (little-endian int32 ids)", path, x, i);
            else ivec_push(&v, x);
        }
    }
    qb_unmap(&m);
    if (!st && v.n == 0) st = qb_fail(QB_EINPUT, "%s: no token ids in the file (only whitespace)", path);
    if (st) {
        free(v.v);
        return st;
    }
    *ids = v.v;
    *n = v.n;
    return QB_OK;
}
