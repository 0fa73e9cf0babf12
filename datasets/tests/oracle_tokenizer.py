#!/usr/bin/env python3
"""oracle_tokenizer.py — quantbench's tokenizers (datasets/tokenizer.c, through `quantbench
tokenize --json`) against llama.cpp's own (llama-cpp-python, Llama(vocab_only=True).tokenize
with special=False) on vocabulary-only GGUF files built here with gguf-py's GGUFWriter:

  python3 datasets/tests/oracle_tokenizer.py /abs/path/quantbench

Vocabularies (learned here by a small BPE training over the test corpus, so merges and scores
are realistic; seeded and deterministic):
  spm        tokenizer.ggml.model = llama: <unk> <s> </s>, the 256 <0xXX> byte tokens, learned
             pieces over the ▁-escaped corpus with score = −⌊rank/3⌋ (so equal scores
             compete), one user-defined token
             "<tag>"; with add_space_prefix (default) and a second file without it
  llama-bpe  tokenizer.ggml.model = gpt2: the 256 byte-level characters, learned merges and
             their tokens, a few whole words no merge reaches (ignore_merges), control
             tokens <|begin_of_text|> / <|endoftext|>
  qwen2      the same vocabulary with pre = qwen2
  gpt-2      the same vocabulary with pre = gpt-2
Every vocabulary tokenizes every test string (ASCII, accents, CJK, emoji, RTL, whitespace
runs, newlines, tabs, digit runs, contractions in both cases, punctuation, the empty string,
invalid UTF-8, a user-defined token inside text) with and without add_special; the ids must be
identical. Then /usr/share/common-licenses/GPL-3 (when present) is tokenized whole by both,
ids compared, and tokens/s printed for each side (best of 5; quantbench's time is that of
qb_tokenize alone, llama.cpp's that of the Python call; not asserted).

Exit 0 when all agree, 1 on any difference, 77 (skip) when gguf or llama_cpp is missing unless
QB_REQUIRE_ORACLES=1 (then 1). The last line is "N passed, M failed".
"""
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "common", "tests"))
import oracle  # noqa: E402 - the shared skip/check/finish of every oracle

try:
    import gguf
    import llama_cpp
except ImportError as e:  # pragma: no cover - depends on the machine
    oracle.skip("the oracle needs gguf and llama-cpp-python (pip install gguf llama-cpp-python): %s" % e)

GPL = "/usr/share/common-licenses/GPL-3"
SHOW = 6

CORPUS = """The quick brown fox jumps over the lazy dog. It's the dog's toy, isn't it? We'll see;
they're sure you've done what I'd said. HELLO World!!! 1234567890 3.14159 2024-11-22 $100 50%
Café naïve résumé façade über Straße. Ελληνικά κείμενα. Русский текст здесь. 日本語のテキスト
中文文本测试 한국어 텍스트 مرحبا بالعالم שלום עולם 😀🎉👍 emoji🙂 tabs\there  spaces   and
newlines\n\nand\r\nwindows lines. def f(x): return x**2 # code {braces} [brackets] <angles>
===== ------- ..... ====== ---- ... ======== ----- ...... aaaa bbbbb
"""

STRINGS = [
    "", " ", "  ", "\n", "Hello world", "hello world", " Hello world", "Hello  world",
    "The quick brown fox jumps over the lazy dog.", "   leading and trailing   ",
    "tabs\tand\t\ttabs", "line1\nline2\n\nline4\r\nline5", "\n\n\n", " \n \n ", "a\u00a0b\u3000c",
    "1", "12", "123", "1234", "1234567", "3.14159 and 2,718", "x123y4567z",
    "it's", "It's", "IT'S", "don't DON'T", "we're WE'RE you've I'd I'D they'll THEY'LL I'm I'M",
    "'s 't 're 've 'm 'll 'd", "Hello!!! What??? ...", "$100 (50%) {a: [1, 2]} <b>&amp;</b>",
    "Café naïve résumé", "Straße über", "日本語のテキスト", "中文文本测试", "한국어", "مرحبا بالعالم",
    "שלום עולם", "😀🎉👍 emoji🙂", "Ελληνικά Русский", "e\u0301 combining", "x<tag>y <tag> z",
    "<|endoftext|> is not parsed", "</s><s>", "=====", "-------", "x.....y", "aaaaa bbb",
]
BYTE_STRINGS = [b"\xff", b"ab\xc3", b"\xc3(", b"\xe2\x82", b"a\x80b", b"\xf0\x9f\x98", b"\x00nul\x01", b"\xed\xa0\x80",
                b"\xc0\x80"]


def bytes_to_unicode():
    bs = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def learn_merges(words, n_merges):
    """Plain BPE training: words = {tuple(symbols): count}; returns the merges in order."""
    words = dict(words)
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        new = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] = new.get(tuple(out), 0) + c
        words = new
    return merges


def corpus_text():
    # numbers often enough that digit merges are learned (llama3 cuts runs at 3, qwen2 at 1)
    text = CORPUS + " ".join(str(i * 7919 % 100003) for i in range(400)) + "\n"
    if os.path.exists(GPL):
        with open(GPL, encoding="utf-8") as f:
            text += f.read()[:20000]
    return text


def add_llama_hparams(w):
    w.add_context_length(2048)
    w.add_embedding_length(64)
    w.add_block_count(1)
    w.add_feed_forward_length(128)
    w.add_head_count(4)
    w.add_head_count_kv(4)
    w.add_rope_dimension_count(16)
    w.add_layer_norm_rms_eps(1e-5)


def write_gguf(path, fill):
    w = gguf.GGUFWriter(path, "llama")
    add_llama_hparams(w)
    fill(w)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def build_spm(path, add_space_prefix):
    text = corpus_text()
    words = collections.Counter(tuple("▁" + m) for m in re.findall(r"\S+", text))
    merges = learn_merges(words, 400)
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    types = [2, 3, 3] + [6] * 256
    scores = [0.0, 0.0, 0.0] + [0.0] * 256
    chars = sorted(set("▁" + text) - {" ", "\n", "\r", "\t"})
    seen = set(tokens)
    for i, (a, b) in enumerate(merges):
        if a + b not in seen:
            # groups of three pieces share a score, so equal-score merges occur (leftmost first)
            tokens.append(a + b), types.append(1), scores.append(-float(i // 3)), seen.add(a + b)
    for c in chars:
        if c not in seen:
            tokens.append(c), types.append(1), scores.append(-1000.0), seen.add(c)
    tokens.append("<tag>"), types.append(4), scores.append(0.0)

    def fill(w):
        w.add_tokenizer_model("llama")
        w.add_token_list(tokens)
        w.add_token_scores(scores)
        w.add_token_types(types)
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
        w.add_unk_token_id(0)
        if not add_space_prefix:
            w.add_add_space_prefix(False)
    write_gguf(path, fill)


def build_bpe(path, pre):
    b2u = bytes_to_unicode()
    text = corpus_text()
    # training words: a simple approximation of the GPT-2 split (the exact split is what is tested)
    words = collections.Counter()
    for m in re.findall(r"'(?:s|t|re|ve|m|ll|d)| ?[^\W\d_]+| ?\d{1,3}| ?[^\s\w]+|\s+", text):
        words[tuple(b2u[b] for b in m.encode("utf-8"))] += 1
    merges = learn_merges(words, 600)
    tokens = [b2u[b] for b in range(256)]
    seen = set(tokens)
    for a, b in merges:
        if a + b not in seen:
            tokens.append(a + b), seen.add(a + b)
    # whole words reachable by no merge: llama3's ignore_merges keeps them whole
    for wd in ["Ġunreachable", "Hello", "Ġworld"]:
        if wd not in seen:
            tokens.append(wd), seen.add(wd)
    types = [1] * len(tokens)
    tokens += ["<|begin_of_text|>", "<|endoftext|>"]
    types += [3, 3]

    def fill(w):
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre(pre)
        w.add_token_list(tokens)
        w.add_token_types(types)
        w.add_token_merges(["%s %s" % m for m in merges])
        w.add_bos_token_id(len(tokens) - 2)
        w.add_eos_token_id(len(tokens) - 1)
    write_gguf(path, fill)


def qb_tokenize(qb, model, data, add_special, tmp):
    path = os.path.join(tmp, "text.bin")
    with open(path, "wb") as f:
        f.write(data)
    cmd = [qb, "tokenize", "--model", model, "--text", path, "--json"] + ([] if add_special else ["--no-special"])
    r = subprocess.run(cmd, capture_output=True)
    if r.returncode != 0:
        return None, r.stderr.decode("utf-8", "replace").strip()
    return json.loads(r.stdout), None


def check(name, ok, detail):
    oracle.check(ok, name, detail)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    qb = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        vocabs = []
        p = os.path.join(tmp, "spm.gguf")
        build_spm(p, True)
        vocabs.append(("spm", p))
        p = os.path.join(tmp, "spm_noprefix.gguf")
        build_spm(p, False)
        vocabs.append(("spm-noprefix", p))
        for pre in ["llama-bpe", "qwen2", "gpt-2"]:
            p = os.path.join(tmp, "bpe_%s.gguf" % pre)
            build_bpe(p, pre)
            vocabs.append((pre, p))
        inputs = [s.encode("utf-8") for s in STRINGS] + BYTE_STRINGS
        for name, path in vocabs:
            llm = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
            n_tok = 0
            for data in inputs:
                for add_special in (True, False):
                    want = llm.tokenize(data, add_bos=add_special, special=False)
                    got, err = qb_tokenize(qb, path, data, add_special, tmp)
                    ids = got["ids"] if got else None
                    n_tok += len(want)
                    check("%s %r add_special=%d" % (name, data, add_special), ids == want,
                          "quantbench %s, llama.cpp %s" % (ids if ids is not None else err, want))
            print("%-13s %d strings x 2: %d llama.cpp tokens compared" % (name, len(inputs), n_tok))
            if os.path.exists(GPL):
                with open(GPL, "rb") as f:
                    data = f.read()
                t_llama = float("inf")
                for _ in range(5):  # best of 5 on both sides: the machine may be shared
                    t0 = time.perf_counter()
                    want = llm.tokenize(data, add_bos=False, special=False)
                    t_llama = min(t_llama, time.perf_counter() - t0)
                got, err = qb_tokenize(qb, path, data, False, tmp)
                for _ in range(4):
                    again, _ = qb_tokenize(qb, path, data, False, tmp)
                    if got and again:
                        got["tokenize_ns"] = min(got["tokenize_ns"], again["tokenize_ns"])
                ok = got is not None and got["ids"] == want
                first = None
                if got and not ok:
                    first = next((i for i, (a, b) in enumerate(zip(got["ids"], want)) if a != b), min(len(got["ids"]), len(want)))
                check("%s GPL-3" % name, ok, err if got is None else "%d vs %d tokens, first difference at %s" %
                      (len(got["ids"]), len(want), first))
                if got:
                    print("%-13s GPL-3 (%d bytes): %d tokens, quantbench %.2f Mtok/s, llama.cpp (via Python) %.2f Mtok/s" %
                          (name, len(data), len(want), len(got["ids"]) / (got["tokenize_ns"] * 1e-9) / 1e6,
                           len(want) / t_llama / 1e6))
            del llm
    sys.exit(oracle.finish())


if __name__ == "__main__":
    main()
