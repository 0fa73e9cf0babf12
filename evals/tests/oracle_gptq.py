#!/usr/bin/env python3
"""oracle_gptq.py — GPTQ into the K-quants (evals/gptq.c) against gguf-py's decoder.

  python3 evals/tests/oracle_gptq.py /abs/path/test_gptq

Runs test_gptq with a temporary directory, which writes a random layer W (24 × 512), its
correlated calibration inputs X (768 × 512), and for q2_K, q3_K, q4_K, q5_K, q6_K the bytes
of the format's own quantize (RTN) and of GPTQ with and without act-order, with the values
GPTQ chose. Checks, with gguf-py (llama.cpp's Python package) as the independent decoder:
  - gguf.quants.dequantize of GPTQ's bytes equals the values GPTQ chose, bit for bit (the
    packed codes sit where llama.cpp reads them, beside the scales GPTQ fixed);
  - ‖WX − ŴX‖² (numpy, float64) of GPTQ's decoded weights is below RTN's, for every format
    and both orders (the issue's property, computed outside quantbench).
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
    from gguf.quants import dequantize
except ImportError as e:  # pragma: no cover - depends on the machine
    oracle.skip("the oracle needs numpy and gguf (pip install numpy gguf): %s" % e)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    types = {"q2_K": gguf.GGMLQuantizationType.Q2_K, "q3_K": gguf.GGMLQuantizationType.Q3_K,
             "q4_K": gguf.GGMLQuantizationType.Q4_K, "q5_K": gguf.GGMLQuantizationType.Q5_K,
             "q6_K": gguf.GGMLQuantizationType.Q6_K}
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([sys.argv[1], d], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        oracle.check(r.returncode == 0, "test_gptq %s exited %d:\n%s" % (d, r.returncode, r.stdout[-2000:]))
        rows, cols, n = (int(v) for v in open(os.path.join(d, "dims.txt")).read().split())
        w = np.fromfile(os.path.join(d, "w.f32"), dtype=np.float32).reshape(rows, cols).astype(np.float64)
        x = np.fromfile(os.path.join(d, "x.f32"), dtype=np.float32).reshape(n, cols).astype(np.float64)

        def decode(name, t):
            raw = np.fromfile(os.path.join(d, name), dtype=np.uint8).reshape(rows, -1)
            return dequantize(raw, t).astype(np.float32).reshape(rows, cols)

        def out_err(wh):
            return float(np.sum(((w - wh.astype(np.float64)) @ x.T) ** 2))

        for fmt, t in types.items():
            er = out_err(decode("rtn_%s.bin" % fmt, t))
            for ao in (0, 1):
                got = decode("gptq_%s_ao%d.bin" % (fmt, ao), t)
                chosen = np.fromfile(os.path.join(d, "gptq_%s_ao%d.f32" % (fmt, ao)), dtype=np.float32).reshape(rows, cols)
                diff = np.flatnonzero(got.view(np.uint32) != chosen.view(np.uint32))
                oracle.check(diff.size == 0, "%s act-order %d: gguf-py decodes %d of %d values differently from GPTQ's (first at %s: %r vs %r)"
                      % (fmt, ao, diff.size, got.size, diff[:1], got.flat[diff[0]] if diff.size else None,
                         chosen.flat[diff[0]] if diff.size else None))
                eg = out_err(got)
                oracle.check(eg < er, "%s act-order %d: ||WX - W^X||^2 GPTQ %.6g not below RTN %.6g" % (fmt, ao, eg, er))
                print("%s act-order %d: gguf-py decode == GPTQ's values; ||WX - W^X||^2 RTN %.5g GPTQ %.5g (%.1f%%)"
                      % (fmt, ao, er, eg, 100 * eg / er))
    return oracle.finish()


if __name__ == "__main__":
    sys.exit(main())
