/* tokenizer.h — text → token ids as llama.cpp tokenizes them, from a GGUF's tokenizer.ggml.*
 * metadata: SentencePiece-style ("llama": scores, byte fallback) and GPT-2-style byte-level
 * BPE ("gpt2": merges, with the llama-bpe / qwen2 / gpt2 pre-tokenizer splits named by
 * tokenizer.ggml.pre).
 *
 * Implemented: tokenizer.ggml.model "llama" (SPM) and "gpt2" (BPE) with tokenizer.ggml.pre one
 * of llama3, llama-v3, llama-bpe, falcon3, falcon-h1, pixtral, midm-2.0, lfm2, dbrx, smaug-bpe
 * (the llama3 split), qwen2, deepseek-r1-qwen, megrez, stablelm2, hunyuan (the qwen2 split),
 * gpt-2, phi-2, jina-es, jina-de, gigachat, jina-v2-es, jina-v2-de, mpt, olmo, jais, trillion,
 * granite-docling (the gpt-2 split). Anything else (WPM, UGM, RWKV, llama.cpp's "default"
 * multi-regex split, …) is refused with a message pointing at --tokens. The algorithms and
 * their details are described in tokenizer.c.
 *
 * Invariants:
 *  1. qb_tokenize() gives the ids llama.cpp's llama_tokenize() gives for the same vocabulary,
 *     text and add_special, with parse_special = false (what llama-perplexity uses): checked
 *     against llama-cpp-python by datasets/tests/oracle_tokenizer.py.
 *  2. Any bytes tokenize without crashing (invalid UTF-8 is handled as llama.cpp does;
 *     datasets/tests/fuzz_tokenizer.c). The one failure: an SPM vocabulary with neither
 *     "<0xXX>" nor the one-byte token for a byte of the text (QB_EINPUT; llama.cpp throws).
 *  3. Known differences from llama.cpp, all outside what real vocabularies and texts hit:
 *     a 4-byte UTF-8 sequence above U+10FFFF is treated as invalid bytes (llama.cpp throws);
 *     the letter/number/space classes come from the Unicode version of datasets/unicode_data.c
 *     (14.0), llama.cpp's from a newer one, so code points assigned since may split
 *     differently; tokens llama.cpp promotes to CONTROL by their text (<|endoftext|>, …) and
 *     its per-model LSTRIP/RSTRIP attributes (phi-3) are not reproduced: only the GGUF token
 *     types count. */
#ifndef QB_TOKENIZER_H
#define QB_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "../common/qb.h"
#include "gguf.h"

typedef struct qb_tokenizer qb_tokenizer;

/* From tokenizer.ggml.* of an open GGUF (the tokenizer copies what it needs; g may be closed
 * afterwards). QB_EINPUT naming the file's key when a key is missing or malformed, or the
 * tokenizer model / pre-tokenizer is one we don't implement (the message suggests --tokens). */
qb_status qb_tokenizer_from_gguf(const qb_gguf *g, const char *path, qb_tokenizer **out);
void qb_tokenizer_free(qb_tokenizer *t);

int32_t qb_tokenizer_n_vocab(const qb_tokenizer *t);
int32_t qb_tokenizer_bos(const qb_tokenizer *t); /* -1 when the vocabulary has none */
int32_t qb_tokenizer_eos(const qb_tokenizer *t); /* -1 when the vocabulary has none */
/* Whether a BOS goes first, as llama.cpp decides it (tokenizer.ggml.add_bos_token, else the
 * tokenizer model's default). */
int qb_tokenizer_add_bos(const qb_tokenizer *t);

/* Tokenizes text[0, len) (the tokenizer is only read: several threads may share one).
 * add_special: prepend BOS when qb_tokenizer_add_bos() (and append
 * EOS when tokenizer.ggml.add_eos_token says so), as llama_tokenize(add_special = true) does.
 * *ids is allocated (caller frees), *n its length. */
qb_status qb_tokenize(const qb_tokenizer *t, const char *text, size_t len, int add_special, int32_t **ids, size_t *n);

/* The bytes token `id` stands for when decoded (byte tokens give their byte, SPM's ▁ gives a
 * space, BPE's byte-level characters their bytes; control tokens give nothing). Writes at
 * most cap bytes to buf, returns the piece's full length. */
size_t qb_token_piece(const qb_tokenizer *t, int32_t id, char *buf, size_t cap);

/* --tokens FILE: pre-tokenized ids for a model whose tokenizer we don't implement. The format
 * is told by the content: a file of printable ASCII and whitespace only is decimal text (ids
 * 0 … 2^31-1 separated by any whitespace, e.g. one per line); any other byte makes it binary
 * little-endian int32 (ids below 2^24 always contain a zero byte, so real binary files are
 * never mistaken for text). QB_EINPUT naming the file and the byte offset of the first bad
 * entry (not a decimal number, above 2^31-1, negative, a size not a multiple of 4, no ids);
 * ids are range-checked by the caller against its vocabulary. *ids is allocated (caller
 * frees). */
qb_status qb_tokens_read(const char *path, int32_t **ids, size_t *n);

#endif
