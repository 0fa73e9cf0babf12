"""oracle_quantize.py — `quantbench quantize` checked against llama.cpp's own tools.

A 4-layer llama-shaped GGUF (GQA, f16) is quantized by quantbench into several llama.cpp
file types. Each output is read by gguf-py (llama.cpp's Python reader):
  - metadata kept, general.file_type and general.quantization_version set;
  - every tensor present with its shape, and for Q4_K_M the per-tensor types of FORMATS.md §6.4
    (4 layers: use_more_bits picks layers 2 and 3 for attn_v and ffn_down);
  - every quantized tensor dequantized by gguf-py's numpy code and by `quantbench decode`:
    identical floats (two independent implementations of each block type).
When llama-cpp-python is importable, llama.cpp's quantizer (llama_model_quantize) quantizes
the same file: every tensor's bytes must equal ours, and so must the whole file (metadata
order, tensor order, alignment and padding included).

usage: oracle_quantize.py QUANTBENCH GGUF_TOOL      (exit 77 = skipped, no oracle)
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
    from gguf.quants import dequantize
except Exception as e:  # noqa: BLE001
    oracle.skip(f"gguf/numpy not importable ({e})")

try:
    import llama_cpp  # builds llama.cpp; optional
except Exception:  # noqa: BLE001
    llama_cpp = None

qb, tool = sys.argv[1], sys.argv[2]
tmp = tempfile.mkdtemp(prefix="qb_oracle_quantize_")
src = os.path.join(tmp, "tiny.gguf")
subprocess.run([tool, "llama", src, "4", "256", "768", "8", "4", "512", "f16"], check=True)

# file type → (llama_ftype value, type of an ordinary matrix); types by gguf-py's enum names
cases = {
    "Q4_K_M": (15, "Q4_K"), "Q3_K_S": (11, "Q3_K"), "Q2_K": (10, "Q2_K"), "Q5_K_S": (16, "Q5_K"),
    "Q6_K": (18, "Q6_K"), "Q8_0": (7, "Q8_0"), "Q4_0": (2, "Q4_0"), "IQ4_XS": (30, "IQ4_XS"),
    "TQ2_0": (37, "TQ2_0"),
}
qk_m = {f"blk.{i}.{r}.weight": ("Q6_K" if i >= 2 else "Q4_K") for i in range(4) for r in ("attn_v", "ffn_down")}
qk_m["output.weight"] = "Q6_K"

src_r = gguf.GGUFReader(src)
src_t = {t.name: t for t in src_r.tensors}


def field_value(r, key):
    f = r.fields[key]
    return f.parts[f.data[0]][0]


def ours_decode(t, qtype_name):
    raw = os.path.join(tmp, "t.bin")
    out = os.path.join(tmp, "t.f32")
    with open(raw, "wb") as fh:
        fh.write(np.asarray(t.data).tobytes())
    fmt = qtype_name.lower().replace("_k", "_K")
    cols = int(t.shape[0])  # gguf-py shape is ne order: ne[0] first
    subprocess.run([qb, "decode", "--format", fmt, "--cols", str(cols), raw, out], check=True)
    return np.fromfile(out, dtype=np.float32)


for ftype, (ftype_id, base) in cases.items():
    out = os.path.join(tmp, f"{ftype}.gguf")
    r = subprocess.run([qb, "quantize", src, out, ftype, "--threads", "2"], capture_output=True, text=True)
    oracle.check(r.returncode == 0, f"{ftype}: quantize failed: {r.stderr.strip()}")
    if r.returncode:
        continue
    rd = gguf.GGUFReader(out)
    oracle.check(int(field_value(rd, "general.file_type")) == ftype_id, f"{ftype}: general.file_type")
    oracle.check(int(field_value(rd, "general.quantization_version")) == 2, f"{ftype}: quantization_version")
    oracle.check(int(field_value(rd, "llama.block_count")) == 4, f"{ftype}: metadata copied")
    got = {t.name: t for t in rd.tensors}
    oracle.check(set(got) == set(src_t), f"{ftype}: tensor names differ")
    for name, t in got.items():
        oracle.check(list(t.shape) == list(src_t[name].shape), f"{ftype} {name}: shape {list(t.shape)}")
        tname = t.tensor_type.name
        if name.endswith("_norm.weight"):
            oracle.check(tname == "F32", f"{ftype} {name}: norm became {tname}")
            continue
        if ftype == "Q4_K_M":
            want = qk_m.get(name, "Q4_K")
            oracle.check(tname == want, f"Q4_K_M {name}: {tname}, want {want}")
        # ordinary matrices get the file type's base type (Q2_K's are covered by test_mixes)
        if name.endswith(("attn_q.weight", "attn_k.weight", "ffn_up.weight", "ffn_gate.weight")) and ftype != "Q2_K":
            oracle.check(tname == base, f"{ftype} {name}: {tname}, want {base}")
        # two independent dequantizers must agree bit for bit
        ref = np.asarray(dequantize(np.asarray(t.data), t.tensor_type), dtype=np.float32).reshape(-1)
        mine = ours_decode(t, tname)
        oracle.check(mine.shape == ref.shape and np.array_equal(mine.view(np.uint32), ref.view(np.uint32)),
              f"{ftype} {name} ({tname}): quantbench decode differs from gguf-py dequantize")
        # and the values are a sane approximation of the source
        x = np.asarray(dequantize(np.asarray(src_t[name].data), src_t[name].tensor_type), dtype=np.float32).reshape(-1)
        rel = float(np.sqrt(np.mean((ref - x) ** 2)) / np.sqrt(np.mean(x ** 2)))
        oracle.check(rel < 0.9, f"{ftype} {name}: relative RMSE {rel:.3f}")

    if llama_cpp is not None:
        ref_out = os.path.join(tmp, f"{ftype}.llama.gguf")
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = ftype_id
        params.nthread = 2
        rc = llama_cpp.llama_model_quantize(src.encode(), ref_out.encode(), params)
        oracle.check(rc == 0, f"{ftype}: llama_model_quantize failed ({rc})")
        if rc == 0:
            lr = {t.name: t for t in gguf.GGUFReader(ref_out).tensors}
            for name, t in got.items():
                lt = lr.get(name)
                same = lt is not None and lt.tensor_type == t.tensor_type and \
                    np.asarray(lt.data).tobytes() == np.asarray(t.data).tobytes()
                oracle.check(same, f"{ftype} {name}: bytes differ from llama.cpp's "
                            f"({t.tensor_type.name} vs {lt.tensor_type.name if lt is not None else 'missing'})")
            import filecmp
            oracle.check(filecmp.cmp(out, ref_out, shallow=False), f"{ftype}: the file differs from llama-quantize's")
    print(f"{ftype}: checked {len(got)} tensors" + (" against llama.cpp" if llama_cpp else ""))

# --imatrix: an importance file in llama-imatrix's GGUF layout (NAME.in_sum2, NAME.counts),
# written by gguf-py; each quantized tensor must equal `quantbench encode --imatrix` of the
# same rows with importance in_sum2/counts (the quantize plumbing against the codec's), and
# differ from the quantization without importance.
im_path = os.path.join(tmp, "imatrix.gguf")
w = gguf.GGUFWriter(im_path, arch="llama")
w.add_string("general.type", "imatrix")
imps = {}
for name, t in src_t.items():
    if len(t.shape) < 2 or name.endswith("_norm.weight"):
        continue
    ne0 = int(t.shape[0])
    counts = float(1 + len(imps))
    in_sum2 = (np.abs(np.sin(np.arange(ne0, dtype=np.float32) * (1 + len(imps)))) * 5 + 0.01) * counts
    imps[name] = (in_sum2 / counts).astype(np.float32)
    w.add_tensor(name + ".in_sum2", in_sum2.astype(np.float32).reshape(1, ne0))
    w.add_tensor(name + ".counts", np.array([[counts]], dtype=np.float32))
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
im_out = os.path.join(tmp, "Q4_K_M.imatrix.gguf")
r = subprocess.run([qb, "quantize", src, im_out, "Q4_K_M", "--imatrix", im_path], capture_output=True, text=True)
oracle.check(r.returncode == 0, f"quantize --imatrix failed: {r.stderr.strip()}")
if r.returncode == 0:
    got_im = {t.name: t for t in gguf.GGUFReader(im_out).tensors}
    plain = {t.name: t for t in gguf.GGUFReader(os.path.join(tmp, "Q4_K_M.gguf")).tensors}
    for name in ("blk.0.attn_q.weight", "blk.3.attn_v.weight", "blk.1.ffn_down.weight"):
        t = got_im[name]
        cols = int(t.shape[0])
        x = np.asarray(dequantize(np.asarray(src_t[name].data), src_t[name].tensor_type), dtype=np.float32)
        x.tofile(os.path.join(tmp, "x.f32"))
        imps[name].tofile(os.path.join(tmp, "imp.f32"))
        enc = os.path.join(tmp, "enc.bin")
        fmt = t.tensor_type.name.lower().replace("_k", "_K")
        subprocess.run([qb, "encode", "--format", fmt, "--cols", str(cols), "--imatrix", os.path.join(tmp, "imp.f32"),
                        os.path.join(tmp, "x.f32"), enc], check=True)
        ours = np.asarray(t.data).tobytes()
        oracle.check(open(enc, "rb").read() == ours, f"--imatrix {name} ({fmt}): quantize differs from encode --imatrix")
        oracle.check(ours != np.asarray(plain[name].data).tobytes(), f"--imatrix {name}: importance changed nothing")

if llama_cpp is None:
    print("note: llama-cpp-python not importable: byte comparison with llama.cpp's quantizer not run")
sys.exit(oracle.finish())
