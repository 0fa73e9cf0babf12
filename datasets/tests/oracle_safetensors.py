"""oracle_safetensors.py — a Hugging Face checkpoint read through quantbench's safetensors
path (datasets/model.c) and written as GGUF, checked with gguf-py against an independent
numpy rendering of what llama.cpp's converter (convert_hf_to_gguf.py) produces:
  - HF tensor names mapped to GGUF names; shapes reversed into ggml's ne order;
  - q_proj and k_proj rows un-permuted from HF's rotate-half order with llama.cpp's own
    formula, permute(w, n_head, n_head_kv) = w.reshape(n_head, 2, d/n_head/2, *rest)
    .swapaxes(1, 2).reshape(w.shape), written here again in numpy;
  - every other tensor copied value for value (bf16 and f16 sources widened exactly);
  - the llama.* metadata taken from config.json.
A sharded checkpoint directory (two .safetensors files) is read as one model.

usage: oracle_safetensors.py QUANTBENCH     (exit 77 = skipped: numpy or gguf missing)
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "common", "tests"))
import oracle  # noqa: E402 - the shared skip/check/finish of every oracle

try:
    import numpy as np
    import gguf
except Exception as e:  # noqa: BLE001
    oracle.skip(f"numpy/gguf not importable ({e})")


def write_safetensors(path, tensors):
    """The safetensors layout written by hand: u64 header length, JSON, data buffer."""
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


def permute(w, n_head, n_head_kv):  # convert_hf_to_gguf.py's LlamaModel.permute, in numpy
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def bf16(x):  # round-to-nearest-even float32 → bfloat16 bits, and back to float32
    u = x.astype(np.float32).view(np.uint32)
    b = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return b, (b.astype(np.uint32) << 16).view(np.float32)


qb = sys.argv[1]
tmp = tempfile.mkdtemp(prefix="qb_oracle_st_")
ckpt = os.path.join(tmp, "ckpt")
os.makedirs(ckpt)
rng = np.random.default_rng(3)
dim, n_head, n_kv, ffn, vocab, layers = 64, 4, 2, 96, 50, 2
hd = dim // n_head
cfg = {"architectures": ["LlamaForCausalLM"], "hidden_size": dim, "num_attention_heads": n_head,
       "num_key_value_heads": n_kv, "intermediate_size": ffn, "vocab_size": vocab, "num_hidden_layers": layers,
       "max_position_embeddings": 256, "rope_theta": 500000.0, "rms_norm_eps": 1e-6}
json.dump(cfg, open(os.path.join(ckpt, "config.json"), "w"))

hf = {}  # name → float32 values as the converter sees them (after the stored dtype)
shards = [{}, {}]


def add(shard, name, shape, dtype="F32"):
    x = (rng.standard_normal(shape) * 0.02).astype(np.float32)
    if dtype == "BF16":
        bits, x = bf16(x)
        shards[shard][name] = ("BF16", bits)
    elif dtype == "F16":
        x = x.astype(np.float16)
        shards[shard][name] = ("F16", x)
        x = x.astype(np.float32)
    else:
        shards[shard][name] = ("F32", x)
    hf[name] = x


add(0, "model.embed_tokens.weight", (vocab, dim), "BF16")
for i in range(layers):
    s = i  # layer i in shard i
    p = f"model.layers.{i}."
    add(s, p + "self_attn.q_proj.weight", (n_head * hd, dim), "BF16")
    add(s, p + "self_attn.k_proj.weight", (n_kv * hd, dim), "BF16")
    add(s, p + "self_attn.v_proj.weight", (n_kv * hd, dim), "F16")
    add(s, p + "self_attn.o_proj.weight", (dim, n_head * hd))
    add(s, p + "mlp.gate_proj.weight", (ffn, dim))
    add(s, p + "mlp.up_proj.weight", (ffn, dim))
    add(s, p + "mlp.down_proj.weight", (dim, ffn))
    add(s, p + "input_layernorm.weight", (dim,))
    add(s, p + "post_attention_layernorm.weight", (dim,))
add(1, "model.norm.weight", (dim,))
add(1, "lm_head.weight", (vocab, dim), "BF16")
write_safetensors(os.path.join(ckpt, "model-00001-of-00002.safetensors"), shards[0])
write_safetensors(os.path.join(ckpt, "model-00002-of-00002.safetensors"), shards[1])

out = os.path.join(tmp, "out.gguf")
r = subprocess.run([qb, "quantize", ckpt, out, "F32"], capture_output=True, text=True)
oracle.check(r.returncode == 0, f"quantize of the checkpoint failed: {r.stderr.strip()}")
if r.returncode == 0:
    rd = gguf.GGUFReader(out)
    f = {k: rd.fields[k] for k in rd.fields}

    def val(k):
        return f[k].parts[f[k].data[0]][0]

    oracle.check(bytes(f["general.architecture"].parts[-1]).decode() == "llama", "architecture")
    for k, want in (("llama.block_count", layers), ("llama.embedding_length", dim), ("llama.attention.head_count", n_head),
                    ("llama.attention.head_count_kv", n_kv), ("llama.feed_forward_length", ffn), ("llama.vocab_size", vocab),
                    ("llama.context_length", 256), ("llama.rope.dimension_count", hd)):
        oracle.check(k in f and int(val(k)) == want, f"{k} = {val(k) if k in f else 'missing'}, want {want}")
    oracle.check(abs(float(val("llama.rope.freq_base")) - 500000.0) < 1e-3, "rope.freq_base")
    oracle.check(abs(float(val("llama.attention.layer_norm_rms_epsilon")) - 1e-6) < 1e-12, "rms eps")
    got = {t.name: t for t in rd.tensors}
    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    layer_map = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
                 "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
                 "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}
    for i in range(layers):
        for a, b in layer_map.items():
            names[f"model.layers.{i}.{a}.weight"] = f"blk.{i}.{b}.weight"
    oracle.check(set(got) == set(names.values()), f"tensor names: {sorted(set(got) ^ set(names.values()))}")
    for hname, gname in names.items():
        t = got.get(gname)
        if t is None:
            continue
        want = hf[hname]
        if hname.endswith("q_proj.weight"):
            want = permute(want, n_head, n_head)
        elif hname.endswith("k_proj.weight"):
            want = permute(want, n_head, n_kv)
        oracle.check(list(t.shape) == list(reversed(want.shape)), f"{gname}: ne {list(t.shape)} vs HF shape {list(want.shape)}")
        oracle.check(t.tensor_type.name == "F32", f"{gname}: {t.tensor_type.name}")
        data = np.asarray(t.data, dtype=np.float32).reshape(-1)
        oracle.check(np.array_equal(data, want.reshape(-1)), f"{gname}: values differ from the converter's")
sys.exit(oracle.finish())
