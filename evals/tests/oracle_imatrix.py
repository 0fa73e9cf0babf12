#!/usr/bin/env python3
"""oracle_imatrix.py — `quantbench imatrix` against a direct computation and gguf-py.

A random llama model (gguf_tool) is run over token ids by `quantbench imatrix`; the file is
read with gguf-py (an independent GGUF reader) and checked for llama-imatrix's layout
(tools/imatrix/imatrix.cpp, save_imatrix): general.type = "imatrix", imatrix.datasets,
imatrix.chunk_count, imatrix.chunk_size; per weight, in name order, NAME.in_sum2 F32
[n_per_row, 1] and NAME.counts F32 [1, 1] = calibration tokens. The values are compared with a
float64 numpy forward pass of the same model written here from the architecture's definition
(RMSNorm, RoPE on adjacent pairs, grouped-query causal attention, SwiGLU): Σ x_j² of every
weight's input over every chunk (each from position 0), within 1e-4 relative. Products that
share an input (q, k, v; gate, up) must hold identical sums. Then `quantbench quantize
--imatrix` must take the file, and --process-output must add output.weight.

Args: quantbench gguf_tool. Exit 0 on success, 1 on failure, 77 (skip) when numpy or gguf is
missing unless QB_REQUIRE_ORACLES=1. Last line: "N passed, N failed".
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "common", "tests"))
import oracle  # noqa: E402 - the shared skip/check/finish of every oracle

try:
    import numpy as np
    import gguf
except ImportError as e:
    oracle.skip(f"the oracle needs numpy and gguf: {e}")

QB, GT = sys.argv[1], sys.argv[2]


def field(r, key):
    f = r.fields[key]
    return f.parts[f.data[0]]


def forward_sums(model, chunks):
    """Σ x² per input column of every blk.* weight, float64, as the model computes it."""
    r = gguf.GGUFReader(model)
    w = {t.name: np.array(t.data, dtype=np.float64) for t in r.tensors}
    hp = lambda k: field(r, "llama." + k)[0]
    dim, n_layer, n_head, n_kv = int(hp("embedding_length")), int(hp("block_count")), int(hp("attention.head_count")), int(hp("attention.head_count_kv"))
    eps, base = float(hp("attention.layer_norm_rms_epsilon")), float(hp("rope.freq_base"))
    hd = dim // n_head
    sums = {}

    def add(name, x):
        sums[name] = sums.get(name, 0) + (x * x).sum(axis=0)

    def rms(x, g):
        return x / np.sqrt((x * x).mean(axis=1, keepdims=True) + eps) * g

    def rope(x, n_heads):  # x: [n, n_heads*hd], adjacent pairs
        n = x.shape[0]
        pos = np.arange(n)[:, None]
        theta = pos * base ** (-np.arange(0, hd, 2) / hd)
        c, s = np.cos(theta), np.sin(theta)
        x = x.reshape(n, n_heads, hd // 2, 2).copy()
        a, b = x[..., 0].copy(), x[..., 1].copy()
        x[..., 0] = a * c[:, None, :] - b * s[:, None, :]
        x[..., 1] = a * s[:, None, :] + b * c[:, None, :]
        return x.reshape(n, n_heads * hd)

    for ids in chunks:
        x = w["token_embd.weight"][ids]
        n = len(ids)
        for l in range(n_layer):
            p = f"blk.{l}."
            h = rms(x, w[p + "attn_norm.weight"])
            for k in ("attn_q", "attn_k", "attn_v"):
                add(p + k + ".weight", h)
            q, k_, v = h @ w[p + "attn_q.weight"].T, h @ w[p + "attn_k.weight"].T, h @ w[p + "attn_v.weight"].T
            q, k_ = rope(q, n_head), rope(k_, n_kv)
            att = np.zeros((n, dim))
            for hh in range(n_head):
                kv = hh // (n_head // n_kv)
                sc = q[:, hh * hd:(hh + 1) * hd] @ k_[:, kv * hd:(kv + 1) * hd].T / np.sqrt(hd)
                sc[np.triu_indices(n, 1)] = -np.inf
                sc = np.exp(sc - sc.max(axis=1, keepdims=True))
                sc /= sc.sum(axis=1, keepdims=True)
                att[:, hh * hd:(hh + 1) * hd] = sc @ v[:, kv * hd:(kv + 1) * hd]
            add(p + "attn_output.weight", att)
            x = x + att @ w[p + "attn_output.weight"].T
            h = rms(x, w[p + "ffn_norm.weight"])
            add(p + "ffn_gate.weight", h)
            add(p + "ffn_up.weight", h)
            g, u = h @ w[p + "ffn_gate.weight"].T, h @ w[p + "ffn_up.weight"].T
            a = g / (1 + np.exp(-g)) * u
            add(p + "ffn_down.weight", a)
            x = x + a @ w[p + "ffn_down.weight"].T
    return sums


def main():
    with tempfile.TemporaryDirectory() as d:
        model, ids_path, out = os.path.join(d, "m.gguf"), os.path.join(d, "ids.txt"), os.path.join(d, "im.gguf")
        subprocess.run([GT, "llama", model, "2", "64", "128", "4", "2", "256", "f32"], check=True, capture_output=True)
        rng = np.random.default_rng(3)
        ids = rng.integers(0, 256, size=100)
        open(ids_path, "w").write("\n".join(map(str, ids)))
        ctx, nchunks = 32, 3  # 100 ids: 3 whole chunks
        p = subprocess.run([QB, "imatrix", "--model", model, "--tokens", ids_path, "--ctx", str(ctx), "-o", out, "--threads", "2"],
                           capture_output=True, text=True)
        oracle.check(p.returncode == 0, f"imatrix exit {p.returncode}: {p.stderr}")
        r = gguf.GGUFReader(out)
        oracle.check(bytes(field(r, "general.type")).decode() == "imatrix", "general.type")
        oracle.check(int(field(r, "imatrix.chunk_count")[0]) == nchunks, "imatrix.chunk_count")
        oracle.check(int(field(r, "imatrix.chunk_size")[0]) == ctx, "imatrix.chunk_size")
        oracle.check(bytes(field(r, "imatrix.datasets")).decode() == "ids.txt", "imatrix.datasets")
        names = [t.name for t in r.tensors]
        bases = sorted({n.rsplit(".", 1)[0] for n in names})
        oracle.check(names == [b + s for b in bases for s in (".counts", ".in_sum2")] or
              names == [b + s for b in bases for s in (".in_sum2", ".counts")], f"entries in name order, in_sum2 and counts: {names[:4]}")
        t = {x.name: x for x in r.tensors}
        want = forward_sums(model, [ids[c * ctx:(c + 1) * ctx] for c in range(nchunks)])
        oracle.check(sorted(want) == bases, f"one entry per blk.* weight: {bases}")
        worst = 0.0
        for b in bases:
            s2, cnt = t[b + ".in_sum2"], t[b + ".counts"]
            oracle.check(s2.tensor_type == gguf.GGMLQuantizationType.F32 and list(s2.shape) == [len(want[b]), 1], f"{b}.in_sum2 F32 [n, 1]: {s2.shape}")
            oracle.check(list(cnt.shape) == [1, 1] and float(cnt.data.flatten()[0]) == nchunks * ctx, f"{b}.counts = {nchunks * ctx}")
            got = np.array(s2.data, dtype=np.float64).flatten()
            rel = np.abs(got - want[b]).max() / np.abs(want[b]).max()
            worst = max(worst, rel)
            oracle.check(rel < 1e-4, f"{b}: in_sum2 vs numpy forward, max rel error {rel:.3g}")
        for l in range(2):
            p_ = f"blk.{l}."
            q = t[p_ + "attn_q.weight.in_sum2"].data
            oracle.check(np.array_equal(q, t[p_ + "attn_k.weight.in_sum2"].data) and np.array_equal(q, t[p_ + "attn_v.weight.in_sum2"].data), "q, k, v share")
            oracle.check(np.array_equal(t[p_ + "ffn_gate.weight.in_sum2"].data, t[p_ + "ffn_up.weight.in_sum2"].data), "gate, up share")
        print(f"{len(bases)} entries, max relative error against the numpy forward pass {worst:.3g}")
        q = subprocess.run([QB, "quantize", model, os.path.join(d, "q.gguf"), "Q4_K_M", "--imatrix", out], capture_output=True, text=True)
        oracle.check(q.returncode == 0, f"quantize --imatrix exit {q.returncode}: {q.stderr}")
        p = subprocess.run([QB, "imatrix", "--model", model, "--tokens", ids_path, "--ctx", str(ctx), "-o", out, "--process-output"],
                           capture_output=True, text=True)
        oracle.check(p.returncode == 0 and "output.weight.in_sum2" in [x.name for x in gguf.GGUFReader(out).tensors], "--process-output adds output.weight")
        p = subprocess.run([QB, "imatrix", "--model", model, "--tokens", ids_path, "--ctx", "512", "-o", out], capture_output=True, text=True)
        oracle.check(p.returncode == 4 and "at least one chunk of 512 tokens" in p.stderr and p.stderr.count("\n") == 1, f"too short: {p.returncode} {p.stderr}")
    return oracle.finish()


sys.exit(main())
