#!/usr/bin/env python3
"""oracle_eval.py — `quantbench eval --text` against llama.cpp doing llama-perplexity's work.

  python3 evals/tests/oracle_eval.py QUANTBENCH

A small llama model with random weights and an SPM vocabulary (<unk> <s> </s>, the 256 byte
tokens, and every prefix of the text's 150 most common words as ▁-pieces) is written with
gguf-py; `quantbench quantize` makes its Q8_0 file (byte-identical to llama-quantize's).
The evaluation text is /usr/share/common-licenses/GPL-3 (skip when absent).

llama.cpp (llama-cpp-python; f32 KV cache, flash attention off) tokenizes the whole text with
add_bos as llama-perplexity does, and for each chunk c of CTX tokens evaluates it with the first
token replaced by BOS; rows CTX/2 … CTX−2 score the next original token. numpy turns its logits
into PPL ± error, bits per byte (bytes of the scored tokens' pieces), and the exact KLD of the
Q8_0 file against the f32 model. Checked against `quantbench eval --text GPL-3 --formats
Q8_0,FILE.gguf --json`:
  - the number of scored tokens (so tokenization and windows agree);
  - f32 PPL within 1e-4 relative, its error within 1e-3, bits per byte within 1e-4;
  - Q8_0 PPL within 2e-3 relative and mean KLD within 20 % + 2e-5 (see TOL_KLD);
  - Q8_0 quantized in memory gives exactly the figures of the Q8_0 file.
Exit 0 when all pass, 1 on any failure, 77 (skip) when numpy, gguf or llama_cpp is missing
(unless QB_REQUIRE_ORACLES=1) or the text is. The last line is "N passed, M failed".
"""
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "common", "tests"))
import oracle  # noqa: E402 - the shared skip/check/finish of every oracle

try:
    import numpy as np
    import gguf
    import llama_cpp
except Exception as e:  # noqa: BLE001 - depends on the machine
    oracle.skip("the oracle needs numpy, gguf and llama-cpp-python: %s" % e)

TEXT = "/usr/share/common-licenses/GPL-3"
CTX, CHUNKS = 128, 4
# llama.cpp and we both round q8_0 activations, and a rounding that flips on a float-noise tie
# changes later logits by up to ~1e-2 relative (oracle_forward.py, TOL_QUANT); the KLD of q8_0
# on this model is ~1e-4, so the two KLDs agree to tens of percent, not to float precision.
TOL_KLD_REL, TOL_KLD_ABS = 0.2, 2e-5

if not os.path.exists(TEXT):
    oracle.skip("%s is missing (Debian's base-files provides it)" % TEXT)
qb = sys.argv[1]
tmp = tempfile.mkdtemp(prefix="qb_oracle_eval_")


def write_model(path, text, dim=64, ff=128, heads=4, kv_heads=2, layers=2, seed=3):
    words = collections.Counter(re.findall(r"[A-Za-z]+", text)).most_common(150)
    pieces = []
    for word, _ in words:
        for k in range(1, len(word) + 1):
            p = "\u2581" + word[:k]
            if p not in pieces:
                pieces.append(p)
    toks = [b"<unk>", b"<s>", b"</s>"] + [("<0x%02X>" % i).encode() for i in range(256)] + [p.encode() for p in pieces]
    types = [2, 3, 3] + [6] * 256 + [1] * len(pieces)
    scores = [0.0] * 259 + [-float(i) for i in range(len(pieces))]
    vocab = len(toks)
    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(path, "llama")
    w.add_context_length(512)
    w.add_embedding_length(dim)
    w.add_block_count(layers)
    w.add_feed_forward_length(ff)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_rope_dimension_count(dim // heads)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_file_type(0)
    w.add_tokenizer_model("llama")
    w.add_token_list(toks)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    kv = dim // heads * kv_heads

    def mat(rows, cols, sd):
        return (rng.standard_normal((rows, cols)) * sd).astype(np.float32)

    def vec(n):
        return (1 + rng.standard_normal(n) * 0.1).astype(np.float32)

    sw = 1 / np.sqrt(dim)
    w.add_tensor("token_embd.weight", mat(vocab, dim, 1.0))
    w.add_tensor("output_norm.weight", vec(dim))
    w.add_tensor("output.weight", mat(vocab, dim, sw))
    for l in range(layers):
        p = "blk.%d." % l
        w.add_tensor(p + "attn_norm.weight", vec(dim))
        w.add_tensor(p + "attn_q.weight", mat(dim, dim, sw))
        w.add_tensor(p + "attn_k.weight", mat(kv, dim, sw))
        w.add_tensor(p + "attn_v.weight", mat(kv, dim, sw))
        w.add_tensor(p + "attn_output.weight", mat(dim, dim, sw))
        w.add_tensor(p + "ffn_norm.weight", vec(dim))
        w.add_tensor(p + "ffn_gate.weight", mat(ff, dim, sw))
        w.add_tensor(p + "ffn_up.weight", mat(ff, dim, sw))
        w.add_tensor(p + "ffn_down.weight", mat(dim, ff, 1 / np.sqrt(ff)))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def log_softmax(z):
    z = z.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def theirs(path, tokens, bos):
    """Per chunk, the log-probs of the scored rows (llama-perplexity's windows)."""
    llm = llama_cpp.Llama(model_path=path, n_ctx=CTX, n_batch=CTX, n_ubatch=CTX, n_threads=2, n_threads_batch=2,
                          logits_all=True, type_k=0, type_v=0, flash_attn=False, verbose=False)
    out = []
    for c in range(CHUNKS):
        batch = list(tokens[c * CTX:(c + 1) * CTX])
        batch[0] = bos
        llm.reset()
        llm.eval(batch)
        out.append(log_softmax(np.array(llm.scores[:CTX], dtype=np.float32))[CTX // 2:CTX - 1])
    return llm, out


text = open(TEXT, encoding="utf-8").read()
model, q8file = os.path.join(tmp, "m.gguf"), os.path.join(tmp, "q8.gguf")
write_model(model, text)
subprocess.run([qb, "quantize", model, q8file, "Q8_0"], check=True, stdout=subprocess.DEVNULL)

r = subprocess.run([qb, "--db", os.path.join(tmp, "e.db"), "--json", "eval", "--model", model, "--text", TEXT, "--formats",
                    "Q8_0," + q8file, "--ctx", str(CTX), "--chunks", str(CHUNKS), "--threads", "2"],
                   capture_output=True, text=True)
oracle.check(r.returncode == 0, "quantbench eval failed: %s" % r.stderr.strip())
rows = {x["format"]: x for x in json.loads(r.stdout)["rows"]} if r.returncode == 0 else {}

vocab_llm = llama_cpp.Llama(model_path=model, vocab_only=True, verbose=False)
tokens = vocab_llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
bos = vocab_llm.token_bos()
_, lp_ref = theirs(model, tokens, bos)
_, lp_q8 = theirs(q8file, tokens, bos)

nll_ref, nll_q8, kld, nbytes = [], [], [], 0
for c in range(CHUNKS):
    for j in range(CTX - 1 - CTX // 2):
        t = tokens[c * CTX + CTX // 2 + j + 1]
        nll_ref.append(-lp_ref[c][j, t])
        nll_q8.append(-lp_q8[c][j, t])
        p, q = lp_ref[c][j], lp_q8[c][j]
        kld.append(float((np.exp(p) * (p - q))[p > -16].sum()))
        nbytes += len(vocab_llm.detokenize([t]))
n = len(nll_ref)
ppl_ref, ppl_q8 = float(np.exp(np.mean(nll_ref))), float(np.exp(np.mean(nll_q8)))
err_ref = ppl_ref * float(np.sqrt(np.var(nll_ref) / (n - 1)))
bpb = float(np.sum(nll_ref)) / (np.log(2) * nbytes)
print("llama.cpp: %d tokens, %d scored; PPL f32 %.5f ± %.5f, bpb %.5f; Q8_0 PPL %.5f, KLD %.3e" % (
    len(tokens), n, ppl_ref, err_ref, bpb, ppl_q8, np.mean(kld)))
if rows:
    f, q, fq = rows["f32"], rows["Q8_0"], rows[os.path.basename(q8file)]
    print("quantbench: %d scored; PPL f32 %.5f ± %.5f, bpb %.5f; Q8_0 PPL %.5f, KLD %.3e" % (
        f["tokens"], f["ppl"], f["ppl_err"], f["bpb"], q["ppl"], q["kld_mean"]))
    oracle.check(f["tokens"] == n, "scored tokens %d, llama.cpp %d" % (f["tokens"], n))
    oracle.check(abs(f["ppl"] / ppl_ref - 1) < 1e-4, "f32 PPL %.6f vs llama.cpp %.6f" % (f["ppl"], ppl_ref))
    oracle.check(abs(f["ppl_err"] / err_ref - 1) < 1e-3, "f32 PPL error %.6f vs %.6f" % (f["ppl_err"], err_ref))
    oracle.check(f["bpb"] is not None and abs(f["bpb"] / bpb - 1) < 1e-4, "bits per byte %s vs %.6f" % (f["bpb"], bpb))
    oracle.check(abs(q["ppl"] / ppl_q8 - 1) < 2e-3, "Q8_0 PPL %.6f vs llama.cpp %.6f" % (q["ppl"], ppl_q8))
    oracle.check(abs(q["kld_mean"] - np.mean(kld)) <= TOL_KLD_REL * np.mean(kld) + TOL_KLD_ABS,
          "Q8_0 KLD %.4e vs llama.cpp %.4e" % (q["kld_mean"], np.mean(kld)))
    same = all(q[k] == fq[k] for k in ("ppl", "kld_mean", "kld_p99", "top1", "dp_rms", "model_bytes"))
    oracle.check(same, "Q8_0 in memory %s differs from the Q8_0 file %s" % (q, fq))
    oracle.check(fq["variant"] == q8file, "variant %s" % fq["variant"])
shutil.rmtree(tmp, ignore_errors=True)
sys.exit(oracle.finish())
