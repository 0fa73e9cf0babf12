/* corpus.h — the training text of `quantbench train` and the vocabulary it is tokenized with.
 *
 * Corpus. Every regular file of a directory (symbolic links are skipped, so
 * /usr/share/common-licenses' GPL -> GPL-3 aliases are not counted twice), in byte order of
 * their names; one named file is held out for evaluation. The text is read at run time and
 * never copied into the repository. Each file is tokenized on its own with the model's
 * tokenizer (datasets/tokenizer.h, so the ids are llama.cpp's) with BOS first, and the files
 * are concatenated into one stream.
 *
 * Vocabulary. SentencePiece-style ("llama") with byte fallback: <unk>, <s>, </s>, the 256 byte
 * tokens <0x00>…<0xFF>, and "▁" (U+2581, the space). llama.cpp's SPM tokenizer escapes spaces
 * to ▁ and falls back to the byte tokens for every character without a piece of its own, so
 * the model sees the text byte by byte (a space as ▁). Any byte sequence tokenizes; llama.cpp
 * loads the vocabulary as it loads any SPM model (datasets/tests/oracle_tokenizer.py).
 *
 * Invariants:
 *  1. Train and held-out streams depend only on the directory's content and the held-out name
 *     (sorted listing), so a rerun sees the same tokens. */
#ifndef QB_CORPUS_H
#define QB_CORPUS_H

#include <stddef.h>
#include <stdint.h>

#include "../common/qb.h"
#include "gguf.h"
#include "tokenizer.h"

#define QB_VOCAB_BYTES_N 260 /* 3 specials + 256 bytes + ▁ */

/* Writes the vocabulary's tokenizer.ggml.* keys. */
qb_status qb_vocab_bytes_write(qb_gguf_writer *w);
/* The same padded to n_vocab ≥ QB_VOCAB_BYTES_N tokens with unused ones ("<unusedK>", type 5),
 * which no text tokenizes to: a model of any vocabulary size gets a working tokenizer. */
qb_status qb_vocab_bytes_write_n(qb_gguf_writer *w, int64_t n_vocab);
/* The same vocabulary as a tokenizer (built through a temporary GGUF holding only those keys,
 * so it is the exact tokenizer `quantbench eval` will build from the trained model). */
qb_status qb_vocab_bytes_tokenizer(qb_tokenizer **out);

typedef struct qb_corpus {
    int32_t *train, *heldout; /* token streams */
    size_t n_train, n_heldout;
    int n_files;              /* training files */
    uint64_t train_bytes, heldout_bytes;
} qb_corpus;

/* Reads dir, holds out the file named `heldout` (QB_EINPUT when it is not a regular file of
 * dir, or when dir has no other file), tokenizes. */
qb_status qb_corpus_load(const char *dir, const char *heldout, const qb_tokenizer *tok, qb_corpus *c);
void qb_corpus_free(qb_corpus *c);

#endif
