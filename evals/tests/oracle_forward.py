#!/usr/bin/env python3
"""oracle_forward.py — quantbench's Llama-family forward pass (evals/llama.c) against llama.cpp.

  python3 evals/tests/oracle_forward.py LLAMA_TOOL QUANTBENCH

Small models with random weights are written with gguf-py's GGUFWriter: llama-shaped and
qwen2-shaped, with a minimal SPM vocabulary llama.cpp accepts (<unk>, <s>, </s>, the 256 byte
tokens <0x00>…<0xFF>, then filler pieces; scores; token types) and the hparam keys llama.cpp
reads. llama.cpp (llama-cpp-python) evaluates a fixed list of token ids in one batch with
logits for every position, an f32 KV cache and flash attention off; `llama_tool logits`
evaluates the same ids on our fast path (its batch route: sgemm), and on the f32 models also on
the reference path. No tokenizer is involved on either side.

Measure: per position, max_v |ours_v − llama.cpp_v| / max_v |llama.cpp_v|; the worst position
is reported ("rel") with the largest absolute difference ("max|d|").

Cases (f32 weights, tolerance 1e-4 relative, the issue's requirement):
  llama GQA 8 heads / 2 KV heads; llama 8/4 with tied embeddings and rope.freq_base 50000;
  qwen2 with q/k/v biases (NeoX RoPE), 8/2, freq_base 1e6, tied; llama with Llama-3 rope
  scaling (a rope_freqs.weight tensor, freq_base 500000); llama with linear rope scaling
  (rope.scaling.type linear, factor 4).
Quantized weights: the first model is quantized by `quantbench quantize` (byte-identical to
llama-quantize) to Q8_0, Q4_0 and Q4_K_M; llama.cpp loads that file, we evaluate the same file
as stored. Both sides round activations to the vec_dot type (q8_0 / q8_K) as ggml does, and
differ in float summation order (llama.cpp's repacked AVX2 kernels vs our sgemm on dequantized
tiles), which can flip the rounding of an activation lying on a boundary. Tolerance
TOL_QUANT (below), chosen from what was measured (see its comment). Also checked: quantizing in
memory at load (`llama_tool logits F32MODEL Q4_K_M`) gives logits identical to evaluating the
file `quantbench quantize` wrote (same bytes, same arithmetic).

A Hugging Face checkpoint (safetensors with q/k in bf16, config.json with Llama-3 rope_scaling)
is read by us directly and compared (1e-4) with llama.cpp on the GGUF llama.cpp's converter
would make of it: q/k rows permuted to interleaved order (its permute, in numpy), kept in
BF16, rope_freqs.weight computed from rope_scaling as the converter does.

Exit 0 when all pass, 1 on any failure, 77 (skip) when numpy, gguf or llama_cpp is missing
unless QB_REQUIRE_ORACLES=1 (then 1). The last line is "N passed, M failed".
"""
import json
import math
import os
import shutil
import struct
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

TOL_F32 = 1e-4
# Measured on these models (max over positions of max|d| / max|logit|), ours vs llama.cpp:
# Q4_K_M 8.7e-7, Q8_0 1.2e-2, Q4_0 1.3e-2. The last two are each one activation whose q8_0
# rounding flipped (x·127/amax within float noise of k + 1/2: seen in a dump, 22.4999 vs
# 22.5001): a step of 1/127 of its block's largest value, carried by the KV cache to every
# later position. Our own two paths differ by such flips too (QB_LLAMA_FAST_TOL_ROUNDED,
# evals/llama.h: worst 1.95e-2 over 11 seeds). 6e-2 admits a flip with 3x margin and still
# catches a wrong block decode or attention (O(1)); the type policy is checked exactly by the
# in-memory-vs-file comparison below.
TOL_QUANT = 6e-2

tool, qb = sys.argv[1], sys.argv[2]
tmp = tempfile.mkdtemp(prefix="qb_oracle_forward_")


def make_weights(arch, layers=2, dim=256, ff=512, heads=8, kv_heads=2, vocab=320, tied=False, biases=False, seed=1, **_):
    """Random weights by GGUF name, as numpy arrays of shape (rows, cols) = ggml ne reversed."""
    rng = np.random.default_rng(seed)
    kv = dim // heads * kv_heads

    def mat(rows, cols, sd):
        return (rng.standard_normal((rows, cols)) * sd).astype(np.float32)

    def vec(n, mean, sd):
        return (mean + rng.standard_normal(n) * sd).astype(np.float32)

    sw = 1 / np.sqrt(dim)
    t = {"token_embd.weight": mat(vocab, dim, 1.0), "output_norm.weight": vec(dim, 1, 0.1)}
    if not tied:
        t["output.weight"] = mat(vocab, dim, sw)
    for l in range(layers):
        p = "blk.%d." % l
        t[p + "attn_norm.weight"] = vec(dim, 1, 0.1)
        t[p + "attn_q.weight"] = mat(dim, dim, sw)
        t[p + "attn_k.weight"] = mat(kv, dim, sw)
        t[p + "attn_v.weight"] = mat(kv, dim, sw)
        if biases:
            t[p + "attn_q.bias"] = vec(dim, 0, 0.5)
            t[p + "attn_k.bias"] = vec(kv, 0, 0.5)
            t[p + "attn_v.bias"] = vec(kv, 0, 0.5)
        t[p + "attn_output.weight"] = mat(dim, dim, sw)
        t[p + "ffn_norm.weight"] = vec(dim, 1, 0.1)
        t[p + "ffn_gate.weight"] = mat(ff, dim, sw)
        t[p + "ffn_up.weight"] = mat(ff, dim, sw)
        t[p + "ffn_down.weight"] = mat(dim, ff, 1 / np.sqrt(ff))
    return t


def write_model(path, arch, layers=2, dim=256, ff=512, heads=8, kv_heads=2, vocab=320, freq_base=10000.0, rope_freqs=None,
                linear_scale=0.0, tensors=None, **kw):
    tensors = tensors if tensors is not None else make_weights(arch, layers, dim, ff, heads, kv_heads, vocab, **kw)
    w = gguf.GGUFWriter(path, arch)
    w.add_name("quantbench oracle " + arch)
    w.add_context_length(256)
    w.add_embedding_length(dim)
    w.add_block_count(layers)
    w.add_feed_forward_length(ff)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_rope_dimension_count(dim // heads)
    w.add_rope_freq_base(freq_base)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_file_type(0)
    if linear_scale:
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(linear_scale)
    # a minimal SPM vocabulary: llama.cpp needs <unk>, <s>, </s> and the byte tokens
    toks = [b"<unk>", b"<s>", b"</s>"] + [("<0x%02X>" % i).encode() for i in range(256)]
    types = [2, 3, 3] + [6] * 256
    while len(toks) < vocab:
        toks.append(("\u2581p%d" % len(toks)).encode())
        types.append(1)
    w.add_tokenizer_model("llama")
    w.add_token_list(toks)
    w.add_token_scores([-float(i) for i in range(vocab)])
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    if rope_freqs is not None:
        w.add_tensor("rope_freqs.weight", np.asarray(rope_freqs, dtype=np.float32))
    for name, arr in tensors.items():
        if arr.dtype == np.uint16:  # bfloat16 bits
            w.add_tensor(name, arr, raw_dtype=gguf.GGMLQuantizationType.BF16)
        else:
            w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def llama3_factors(base, dim, factor, lo, hi, old_ctx):
    """rope_freqs as llama.cpp's convert_hf_to_gguf.py computes them (torch float32 frequencies)."""
    freqs = np.float32(1.0) / np.power(np.float32(base), np.arange(0, dim, 2, dtype=np.float32) / np.float32(dim))
    out = []
    for f in freqs:
        wavelen = 2 * math.pi / float(f)
        if wavelen < old_ctx / hi:
            out.append(1.0)
        elif wavelen > old_ctx / lo:
            out.append(factor)
        else:
            smooth = (old_ctx / wavelen - lo) / (hi - lo)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def write_safetensors(path, tensors):
    """The safetensors layout: u64 header length, JSON header, data."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, (dtype, arr) in tensors.items():
        raw = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def bf16_round(x):
    u = x.astype(np.float32).view(np.uint32)
    return (((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16).astype(np.uint32).view(np.float32)


def gguf_to_hf_qk(w, n_head):
    """Inverse of convert_hf_to_gguf.py's LlamaModel.permute: GGUF (interleaved pairs) rows back to
    HF's rotate-half order."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def hf_to_gguf_qk(w, n_head):  # convert_hf_to_gguf.py's permute
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


TOKENS = [int(t) for t in np.random.default_rng(5).integers(3, 320, 24)]


def theirs(path):
    llm = llama_cpp.Llama(model_path=path, n_ctx=64, n_batch=64, n_ubatch=64, n_threads=2, n_threads_batch=2, logits_all=True,
                          type_k=0, type_v=0, flash_attn=False, verbose=False)
    llm.eval(TOKENS)
    out = np.array(llm.scores[: len(TOKENS)], dtype=np.float32)
    del llm
    return out


def ours(path, fmt="-", ref=False):
    out = os.path.join(tmp, "logits.f32")
    cmd = [tool, "logits", path, fmt, out, "--threads", "2"] + (["--ref"] if ref else []) + [str(t) for t in TOKENS]
    subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
    return np.fromfile(out, dtype=np.float32).reshape(len(TOKENS), -1)


def compare(name, a, b, tol):
    if a.shape != b.shape:
        oracle.check(False, "%s: shapes %s vs %s" % (name, a.shape, b.shape))
        return
    d = np.abs(a.astype(np.float64) - b)
    rel = float(np.max(d.max(axis=1) / np.abs(b).max(axis=1)))
    print("%-34s rel %.2e  max|d| %.2e  (max|logit| %.2f, tol %.0e)" % (name, rel, d.max(), np.abs(b).max(), tol))
    oracle.check(rel <= tol, "%s: relative difference %.3g above %g" % (name, rel, tol))


cases = [
    ("llama_gqa", dict(arch="llama", kv_heads=2)),
    ("llama_tied_base5e4", dict(arch="llama", kv_heads=4, tied=True, freq_base=50000.0, seed=2)),
    ("qwen2_bias_tied", dict(arch="qwen2", kv_heads=2, tied=True, biases=True, freq_base=1e6, seed=3)),
    ("llama3_rope_freqs", dict(arch="llama", kv_heads=2, rope_freqs=np.linspace(1, 8, 16), freq_base=500000.0, seed=4)),
    ("llama_linear_rope", dict(arch="llama", kv_heads=2, linear_scale=4.0, seed=5)),
]
for name, kw in cases:
    path = os.path.join(tmp, name + ".gguf")
    write_model(path, **kw)
    want = theirs(path)
    compare(name + " f32 fast", ours(path), want, TOL_F32)
    compare(name + " f32 reference", ours(path, ref=True), want, TOL_F32)

base = os.path.join(tmp, "llama_gqa.gguf")
for ftype in ["Q8_0", "Q4_0", "Q4_K_M"]:
    q = os.path.join(tmp, "llama_gqa_%s.gguf" % ftype)
    subprocess.run([qb, "quantize", base, q, ftype, "--threads", "2"], check=True, stdout=subprocess.DEVNULL)
    want = theirs(q)
    stored = ours(q)
    compare("llama_gqa %s (file)" % ftype, stored, want, TOL_QUANT)
    in_mem = ours(base, ftype)
    same = np.array_equal(in_mem, stored)
    print("%-34s %s" % ("llama_gqa %s in memory vs file" % ftype, "identical" if same else "DIFFERENT"))
    oracle.check(same, "%s quantized at load differs from the quantized file: max|d| %g" % (ftype, np.abs(in_mem - stored).max()))


# A Hugging Face checkpoint (safetensors + config.json, Llama-3 rope scaling, q/k in bf16 and in
# HF's rotate-half row order) read directly by us, against llama.cpp on the GGUF that
# llama.cpp's converter would write for it (q/k permuted, rope_freqs from rope_scaling).
ckpt = os.path.join(tmp, "hf")
os.makedirs(ckpt)
heads, kvh, base_theta = 8, 2, 500000.0
scaling = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
           "original_max_position_embeddings": 64}
json.dump({"architectures": ["LlamaForCausalLM"], "hidden_size": 256, "num_attention_heads": heads,
           "num_key_value_heads": kvh, "intermediate_size": 512, "vocab_size": 320, "num_hidden_layers": 2,
           "max_position_embeddings": 256, "rope_theta": base_theta, "rms_norm_eps": 1e-6, "rope_scaling": scaling},
          open(os.path.join(ckpt, "config.json"), "w"))
gt = make_weights("llama", seed=6)
hf_names = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
            "output.weight": "lm_head.weight"}
roles = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
         "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
         "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"}
st = {}
for name, arr in gt.items():
    if name.startswith("blk."):
        _, l, role, kind = name.split(".")
        hname = "model.layers.%s.%s.%s" % (l, roles[role], kind)
    else:
        hname = hf_names[name]
    if name.endswith("attn_q.weight") or name.endswith("attn_k.weight"):
        arr = bf16_round(arr)
        n = heads if name.endswith("attn_q.weight") else kvh
        h = gguf_to_hf_qk(arr, n)
        oracle.check(np.array_equal(hf_to_gguf_qk(h, n), arr), "%s: the permutation does not invert" % name)
        st[hname] = ("BF16", (h.view(np.uint32) >> 16).astype(np.uint16))
        gt[name] = (arr.view(np.uint32) >> 16).astype(np.uint16)  # BF16 in the GGUF too, as the converter keeps it
    else:
        st[hname] = ("F32", arr)
write_safetensors(os.path.join(ckpt, "model.safetensors"), st)
conv = os.path.join(tmp, "hf_converted.gguf")
rf = llama3_factors(base_theta, 256 // heads, 8.0, 1.0, 4.0, 64)
write_model(conv, "llama", kv_heads=kvh, freq_base=base_theta, rope_freqs=rf, tensors=gt)
want = theirs(conv)
compare("hf_safetensors_llama3 fast", ours(ckpt), want, TOL_F32)
compare("hf_safetensors_llama3 reference", ours(ckpt, ref=True), want, TOL_F32)
shutil.rmtree(tmp, ignore_errors=True)  # kept when a step raised, for a look at the files
sys.exit(oracle.finish())
