#!/usr/bin/env python3
"""oracle_gguf.py — quantbench's GGUF reader and writer against llama.cpp's gguf-py.

  python3 datasets/tests/oracle_gguf.py /abs/path/gguf_tool

1. `gguf_tool write` (quantbench's writer; alignment 32 and 64) is read with gguf.GGUFReader:
   every KV must have the expected value types and values, every tensor the expected name,
   ggml type, dims and bytes (regenerated here with the tool's xorshift64* stream).
2. A file made with gguf.GGUFWriter (several tensor types incl. raw quantized blocks, 1-D…4-D,
   metadata of many types, custom alignment) goes through `gguf_tool copy` (quantbench's reader
   → writer); GGUFReader must see identical KVs and tensors in the copy.
3. A file gguf-py writes with a nested array (array of arrays) is refused by `gguf_tool copy`
   with exit code 4 and a "nested array" message (our documented choice; ggml refuses it too).

Shape conventions: a GGUF file stores ne[] with ne[0] the contiguous dimension. GGUFReader's
ReaderTensor.shape holds the dims in that file order, while .data is a NumPy array with the
dims reversed (and, for block types, the last axis in bytes). GGUFWriter takes NumPy shapes
and writes them reversed. Everything here is compared in file (ne) order.

Exit 0 when all pass, 1 on any failure, 77 (skip) when numpy or gguf is missing unless
QB_REQUIRE_ORACLES=1 (then 1). The last line is "N passed, M failed".
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
    from gguf import GGMLQuantizationType as QT
    from gguf import GGUFValueType as VT
except ImportError as e:  # pragma: no cover - depends on the machine
    oracle.skip("the oracle needs numpy and gguf (pip install numpy gguf): %s" % e)


M64 = (1 << 64) - 1


def fill_bytes(n, seed):
    """gguf_tool's deterministic bytes (xorshift64*)."""
    x = (seed * 0x9E3779B97F4A7C15 + 1) & M64
    out = bytearray(n)
    for i in range(n):
        x ^= x >> 12
        x ^= (x << 25) & M64
        x ^= x >> 27
        out[i] = ((x * 0x2545F4914F6CDD1D) & M64) >> 56
    return bytes(out)


def elem_type(field):
    """The element type of an ARRAY field from its raw parts (works for empty arrays too)."""
    return VT(int(field.parts[3][0]))


def field_value(field):
    """(types, value) of a GGUFReader field; value compared as Python objects."""
    t = VT(field.types[0])
    if t == VT.ARRAY:
        return ("ARRAY", elem_type(field).name), list(field.contents())
    return (t.name,), field.contents()


def tensor_bytes(t):
    return np.ascontiguousarray(t.data).tobytes()


# ---- 1. quantbench's writer → GGUFReader ---------------------------------------------------------

# gguf_tool.c write_fixed(): (key, types, value)
EXPECTED_KV = [
    ("general.architecture", ("STRING",), "llama"),
    ("general.name", ("STRING",), "quantbench gguf_tool fixture"),
    ("general.file_type", ("UINT32",), 15),
    ("general.quantization_version", ("UINT32",), 2),
    ("test.u8", ("UINT8",), 200),
    ("test.i8", ("INT8",), -100),
    ("test.u16", ("UINT16",), 60000),
    ("test.i16", ("INT16",), -30000),
    ("test.u32", ("UINT32",), 4000000000),
    ("test.i32", ("INT32",), -2000000000),
    ("test.f32", ("FLOAT32",), 1.5),
    ("test.bool", ("BOOL",), True),
    ("test.u64", ("UINT64",), 9223372036854775813),
    ("test.i64", ("INT64",), -4611686018427387904),
    ("test.f64", ("FLOAT64",), 2.718281828459045),
    ("test.empty_string", ("STRING",), ""),
    ("test.ключ.名前", ("STRING",), "значение ✓"),
    ("test.arr_str", ("ARRAY", "STRING"), ["alpha", "", "ñandú ✓", "tab\there"]),
    ("test.arr_i32", ("ARRAY", "INT32"), [1, -2, 2147483647, -2147483648]),
    ("test.arr_f32", ("ARRAY", "FLOAT32"), [float(np.float32(v)) for v in (0.5, -1.25, 3.0e38, 1.0e-40)]),
    ("test.arr_u64", ("ARRAY", "UINT64"), [0, 1, 18446744073709551615]),
    ("test.arr_i16", ("ARRAY", "INT16"), [-32768, 0, 32767]),
    ("test.arr_u8", ("ARRAY", "UINT8"), [0, 7, 255]),
    ("test.arr_f64", ("ARRAY", "FLOAT64"), [3.141592653589793, -0.0]),
    ("test.arr_bool", ("ARRAY", "BOOL"), [True, False, True]),
    ("test.arr_empty", ("ARRAY", "INT32"), []),
]

# gguf_tool.c write_fixed(): (name, ggml type, ne in file order)
EXPECTED_TENSORS = [
    ("token_embd.weight", QT.F32, [8, 3]),
    ("blk.0.attn_norm.weight", QT.F32, [8]),
    ("blk.0.ffn_up.weight", QT.F16, [16, 5]),
    ("blk.0.attn_q.weight", QT.Q4_0, [64, 3]),
    ("blk.0.attn_k.weight", QT.Q8_0, [32, 2, 2]),
    ("blk.0.attn_v.weight", QT.Q4_K, [256, 1, 2, 2]),
    ("blk.0.ffn_down.weight", QT.Q6_K, [256, 2]),
    ("blk.0.ffn_gate.weight", QT.BF16, [4, 4]),
    ("blk.0.iq.weight", QT.IQ2_XXS, [512]),
    ("blk.0.i32", QT.I32, [7]),
    ("blk.0.mxfp4", QT.MXFP4, [64, 2]),
]


def expected_bytes(i, qtype, ne):
    blk, size = gguf.GGML_QUANT_SIZES[qtype]
    n = int(np.prod(ne)) // blk * size
    if qtype == QT.F32:
        return (np.arange(n // 4, dtype=np.float64) * 0.25 - 3.0).astype("<f4").tobytes()
    return fill_bytes(n, i + 1)


def check_fixture(path, alignment):
    tag = os.path.basename(path)
    try:
        r = gguf.GGUFReader(path)
    except Exception as e:  # noqa: BLE001 - any reader error is a failure to report
        oracle.result(tag + ": GGUFReader opens it", False, [repr(e)])
        return
    oracle.result(tag + ": version 3", int(r.fields["GGUF.version"].contents()) == 3)
    keys = [k for k in r.fields if not k.startswith("GGUF.")]
    want_keys = [k for k, _, _ in EXPECTED_KV] + (["general.alignment"] if alignment != 32 else [])
    oracle.result(tag + ": keys in insertion order", keys == want_keys, ["got  %s" % keys, "want %s" % want_keys])
    for key, types, value in EXPECTED_KV:
        f = r.fields.get(key)
        if f is None:
            oracle.result(tag + ": key " + key, False, ["missing"])
            continue
        got_types, got = field_value(f)
        same = got_types == types and got == value
        if same and types[-1] in ("FLOAT32", "FLOAT64"):  # -0.0 == 0.0: compare signs too
            same = [np.signbit(x) for x in np.atleast_1d(got)] == [np.signbit(x) for x in np.atleast_1d(value)]
        oracle.result(tag + ": key " + key, same, ["got  %s %r" % (got_types, got), "want %s %r" % (types, value)])
    if alignment != 32:
        f = r.fields.get("general.alignment")
        oracle.result(tag + ": general.alignment", f is not None and field_value(f) == (("UINT32",), alignment),
               [f and field_value(f)])
    oracle.result(tag + ": reader alignment", int(r.alignment) == alignment, [r.alignment])
    oracle.result(tag + ": tensor count", len(r.tensors) == len(EXPECTED_TENSORS), [len(r.tensors)])
    for i, (t, (name, qtype, ne)) in enumerate(zip(r.tensors, EXPECTED_TENSORS)):
        want = expected_bytes(i, qtype, ne)
        got = tensor_bytes(t)
        ok = (t.name == name and t.tensor_type == qtype and [int(d) for d in t.shape] == ne
              and int(t.n_bytes) == len(want) and got == want and t.data_offset % alignment == 0)
        diff = next((k for k in range(min(len(got), len(want))) if got[k] != want[k]), None)
        oracle.result(tag + ": tensor " + name, ok,
               ["got  %s %s %s %d bytes @%d" % (t.name, t.tensor_type.name, [int(d) for d in t.shape], len(got),
                                                 t.data_offset),
                "want %s %s %s %d bytes" % (name, qtype.name, ne, len(want)),
                "first differing byte: %s" % diff])
        # NumPy view: dims reversed (block types: last axis in bytes)
        np_shape = list(reversed(ne))
        blk, size = gguf.GGML_QUANT_SIZES[qtype]
        if qtype not in (QT.F32, QT.F16, QT.F64, QT.I8, QT.I16, QT.I32, QT.I64):
            np_shape[-1] = np_shape[-1] // blk * size
        oracle.result(tag + ": tensor " + name + " numpy shape", list(t.data.shape) == np_shape,
               [list(t.data.shape), np_shape])


# ---- 2. GGUFWriter → quantbench's reader + writer → GGUFReader -----------------------------------

def write_with_gguf_py(path, rng):
    w = gguf.GGUFWriter(path, arch="qbtest")
    w.add_custom_alignment(64)
    w.add_uint8("m.u8", 250)
    w.add_int8("m.i8", -7)
    w.add_uint16("m.u16", 65535)
    w.add_int16("m.i16", -32768)
    w.add_uint32("m.u32", 123456789)
    w.add_int32("m.i32", -5)
    w.add_float32("m.f32", -0.15625)
    w.add_bool("m.bool", False)
    w.add_string("m.str", "héllo wörld")
    w.add_string("m.empty", "")
    w.add_uint64("m.u64", 2 ** 64 - 2)
    w.add_int64("m.i64", -(2 ** 63))
    w.add_float64("m.f64", 1e-300)
    w.add_array("m.arr_i32", [1, 2, -3])
    w.add_array("m.arr_f32", [0.5, 1.5, -2.25])
    w.add_array("m.arr_str", ["<s>", "</s>", "▁the", ""])
    w.add_array("m.arr_bool", [True, False])
    w.add_key_value("m.arr_u64", [1, 2 ** 63], VT.ARRAY, sub_type=VT.UINT64)
    w.add_key_value("m.arr_i8", [-1, 2], VT.ARRAY, sub_type=VT.INT8)
    w.add_key_value("m.arr_f64", [0.1, -0.2], VT.ARRAY, sub_type=VT.FLOAT64)
    w.add_tensor("f32.2d", rng.standard_normal((3, 8)).astype(np.float32))
    w.add_tensor("f32.4d", rng.standard_normal((2, 1, 3, 4)).astype(np.float32))
    w.add_tensor("f16.1d", rng.standard_normal(16).astype(np.float16))
    w.add_tensor("i8.3d", rng.integers(-128, 128, (2, 2, 4), dtype=np.int8))
    w.add_tensor("i32.1d", rng.integers(-1000, 1000, 5, dtype=np.int32))
    w.add_tensor("f64.1d", rng.standard_normal(3))
    # block types given as raw bytes: NumPy shape (rows…, bytes per row)
    w.add_tensor("q8_0.2d", rng.integers(0, 256, (2, 34), dtype=np.uint8), raw_dtype=QT.Q8_0)
    w.add_tensor("q4_k.3d", rng.integers(0, 256, (1, 2, 144), dtype=np.uint8), raw_dtype=QT.Q4_K)
    w.add_tensor("iq4_nl.2d", rng.integers(0, 256, (3, 36), dtype=np.uint8), raw_dtype=QT.IQ4_NL)
    w.add_tensor("bf16.2d", rng.integers(0, 65536, (4, 4), dtype=np.uint16), raw_dtype=QT.BF16)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def compare_readers(tag, a, b):
    fa = [(k, field_value(f)) for k, f in a.fields.items()]
    fb = [(k, field_value(f)) for k, f in b.fields.items()]
    oracle.result(tag + ": same keys", [k for k, _ in fa] == [k for k, _ in fb],
           [[k for k, _ in fa], [k for k, _ in fb]])
    for (ka, va), (kb, vb) in zip(fa, fb):
        same = ka == kb and va[0] == vb[0] and np.array_equal(np.asarray(va[1], dtype=object),
                                                              np.asarray(vb[1], dtype=object))
        oracle.result(tag + ": key " + ka, same, ["original %r" % (va,), "copy     %r" % (vb,)])
    oracle.result(tag + ": tensor count", len(a.tensors) == len(b.tensors), [len(a.tensors), len(b.tensors)])
    for ta, tb in zip(a.tensors, b.tensors):
        ok = (ta.name == tb.name and ta.tensor_type == tb.tensor_type and list(ta.shape) == list(tb.shape)
              and tensor_bytes(ta) == tensor_bytes(tb) and ta.data_offset % int(b.alignment) == 0)
        oracle.result(tag + ": tensor " + ta.name, ok,
               ["original %s %s %s" % (ta.name, ta.tensor_type.name, list(ta.shape)),
                "copy     %s %s %s" % (tb.name, tb.tensor_type.name, list(tb.shape))])


def main():
    if len(sys.argv) != 2:
        print("usage: oracle_gguf.py /abs/path/gguf_tool")
        return 2
    exe = sys.argv[1]
    rng = np.random.default_rng(20240607)
    with tempfile.TemporaryDirectory() as d:
        # 1. ours → gguf-py
        for alignment in (32, 64):
            out = os.path.join(d, "ours%d.gguf" % alignment)
            rc, _, err = oracle.run(exe, "write", out, str(alignment))
            oracle.result("gguf_tool write (alignment %d)" % alignment, rc == 0, [err])
            if rc == 0:
                check_fixture(out, alignment)

        # 2. gguf-py → ours → gguf-py
        src = os.path.join(d, "gguf_py.gguf")
        dst = os.path.join(d, "gguf_py.copy.gguf")
        write_with_gguf_py(src, rng)
        rc, _, err = oracle.run(exe, "copy", src, dst)
        oracle.result("gguf_tool copy of a GGUFWriter file", rc == 0, [err])
        if rc == 0:
            a, b = gguf.GGUFReader(src), gguf.GGUFReader(dst)
            oracle.result("copy keeps alignment 64", int(a.alignment) == 64 and int(b.alignment) == 64,
                   [a.alignment, b.alignment])
            compare_readers("gguf-py → quantbench", a, b)
            with open(src, "rb") as f1, open(dst, "rb") as f2:
                same = f1.read() == f2.read()
            # informational: gguf-py and ggml lay files out the same way, so this usually holds
            print("note: copy is %s the GGUFWriter file" % ("byte-identical to" if same else "laid out differently from"))

        # 3. nested arrays: gguf-py writes them, we refuse them (as ggml does)
        nested = os.path.join(d, "nested.gguf")
        w = gguf.GGUFWriter(nested, arch="qbtest")
        w.add_array("m.nested", [[1, 2], [3]])
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        rc, _, err = oracle.run(exe, "copy", nested, os.path.join(d, "nested.copy.gguf"))
        oracle.result("nested array refused with exit code 4", rc == 4 and "nested array" in err, [rc, err.strip()])
        oracle.result("no output for a refused file", not os.path.exists(os.path.join(d, "nested.copy.gguf")))

    return oracle.finish()


if __name__ == "__main__":
    sys.exit(main())
