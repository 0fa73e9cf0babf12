#!/usr/bin/env python3
"""oracle_ieee.py — quantbench's f16 and bf16 conversions against real peers' implementations,
and tf32 (PTX cvt.rna.tf32.f32) against its definition computed in float64.

Oracles: numpy's float16 (npy_floatbits_to_halfbits / halfbits_to_floatbits) and ml_dtypes'
bfloat16 (the type JAX and TensorFlow use). Both round to nearest even, like ggml's reference
path that FORMATS.md §1.2–1.3 describes, so every non-NaN code must be identical.

  python3 formats/tests/oracle_ieee.py /abs/path/quantbench

Inputs: ~2^20 float32 values from a fixed seed — random bit patterns over every exponent,
f16's subnormal range, the f16 overflow threshold 65504..65520, exact ties for both formats,
bf16's overflow threshold, ±0, ±Inf, and NaNs scattered among them (so the SIMD fast paths
meet NaN lanes). `quantbench encode` must give the oracles' uint16 codes for every non-NaN
input; NaN inputs must give NaN codes with the input's sign (f16: exactly 0x7E00|sign as ggml
writes; bf16: the top 16 bits with the quiet bit 0x0040 set, FORMATS.md §1.2). `quantbench
decode` of all 65536 codes must equal the oracles' widening bit for bit, NaN codes giving NaN.

Exit 0 when all pass, 1 on any failure, 77 (skip) when numpy or ml_dtypes is missing unless
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
    import ml_dtypes
except ImportError as e:  # pragma: no cover - depends on the machine
    oracle.skip("the oracles need numpy and ml_dtypes (pip install numpy ml_dtypes): %s" % e)

SEED = 20240607
SHOW = 8  # mismatches printed per check


def f32_inputs(rng):
    """float32 values, NaN included (about 1 in 512), length not a multiple of 8."""
    parts = []
    u32 = np.uint32
    # 1. random bit patterns over the whole float32 range, NaN/Inf patterns excluded
    u = rng.integers(0, 1 << 32, size=(1 << 19) + (1 << 17), dtype=np.uint64).astype(u32)
    u = u[(u & u32(0x7F800000)) != u32(0x7F800000)]
    parts.append(u)
    # 2. every exponent 0..254, 256 random mantissas and signs each
    e = np.repeat(np.arange(255, dtype=u32), 256)
    m = rng.integers(0, 1 << 23, size=e.size, dtype=np.uint64).astype(u32)
    s = rng.integers(0, 2, size=e.size, dtype=np.uint64).astype(u32)
    parts.append((s << u32(31)) | (e << u32(23)) | m)
    # 3. f16 subnormal range |x| < 2^-14 (dense), and around 2^-25 / 2^-24
    x = rng.uniform(-(2.0 ** -14), 2.0 ** -14, size=1 << 17).astype(np.float32)
    parts.append(x.view(u32))
    x = (rng.uniform(0.25, 2.5, size=1 << 14) * 2.0 ** -24).astype(np.float32)
    parts.append(x.view(u32))
    parts.append((-x).view(u32))
    # 4. every float32 from 65504 to the first one above 65520 (f16 overflow threshold), both signs
    ov = np.arange(0x477FE000, 0x47800001, dtype=np.uint64).astype(u32)
    parts.append(ov)
    parts.append(ov | u32(0x80000000))
    # 5. exact f16 ties: normal range (13 dropped bits = 0x1000), subnormal range (half ulp)
    e = rng.integers(127 - 14, 127 + 16, size=1 << 16, dtype=np.uint64).astype(u32)
    m = rng.integers(0, 1 << 10, size=e.size, dtype=np.uint64).astype(u32)
    s = rng.integers(0, 2, size=e.size, dtype=np.uint64).astype(u32)
    parts.append((s << u32(31)) | (e << u32(23)) | (m << u32(13)) | u32(0x1000))
    k = rng.integers(0, 1 << 10, size=1 << 14).astype(np.float64)
    ties = ((k + 0.5) * 2.0 ** -24).astype(np.float32)  # exact: ≤ 11 significant bits
    parts.append(ties.view(u32))
    parts.append((-ties).view(u32))
    # 6. exact bf16 ties (16 dropped bits = 0x8000), every exponent
    e = rng.integers(0, 255, size=1 << 16, dtype=np.uint64).astype(u32)
    m = rng.integers(0, 1 << 7, size=e.size, dtype=np.uint64).astype(u32)
    s = rng.integers(0, 2, size=e.size, dtype=np.uint64).astype(u32)
    parts.append((s << u32(31)) | (e << u32(23)) | (m << u32(16)) | u32(0x8000))
    # 7. bf16 overflow threshold 0x7F7F8000 and specials
    near = np.arange(0x7F7F7FF0, 0x7F7F8010, dtype=np.uint64).astype(u32)
    parts.append(near)
    parts.append(near | u32(0x80000000))
    parts.append(np.array([0, 0x80000000, 0x7F800000, 0xFF800000, 0x7F7FFFFF, 0xFF7FFFFF, 1, 0x80000001,
                           0x00800000, 0x33000000, 0x33000001, 0x387FFFFF, 0x38800000, 0x477FEFFF, 0x477FF000,
                           0x3F808000, 0x3F818000, 0x3F804000], dtype=u32))
    u = np.concatenate(parts)
    u = u[rng.permutation(u.size)]
    # 8. NaNs at random places: quiet, signalling, payloads, both signs
    nans = np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, 0x7FBFFFFF, 0xFFFFFFFF, 0x7FFFFFFF,
                     0x7F802000, 0x7FC0FFFF, 0xFFA5A5A5], dtype=u32)
    extra = rng.integers(0, 1 << 23, size=2048, dtype=np.uint64).astype(u32) | u32(1)
    sign = rng.integers(0, 2, size=extra.size, dtype=np.uint64).astype(u32) << u32(31)
    nans = np.concatenate([nans, sign | u32(0x7F800000) | extra])
    pos = np.sort(rng.choice(u.size, size=nans.size, replace=False))
    u = np.insert(u, pos, nans)
    if u.size % 8 == 0:
        u = np.append(u, np.array([0x3F800000, 0x40490FDB, 0xC0490FDB], dtype=u32))
    return u.astype("<u4")


def hexes(a, width):
    return " ".join(("0x%0" + str(width) + "x") % int(v) for v in a)


def compare_codes(name, x_u32, ours, theirs, mask):
    """ours/theirs: uint16 arrays; mask: positions to compare."""
    idx = np.nonzero(mask & (ours != theirs))[0]
    ev = ["%d of %d compared codes differ; first %d:" % (idx.size, int(mask.sum()), min(SHOW, idx.size))]
    for i in idx[:SHOW]:
        ev.append("index %d: input 0x%08x (%r)  ours 0x%04x  oracle 0x%04x" % (
            i, int(x_u32[i]), float(x_u32[i:i + 1].view(np.float32)[0]), int(ours[i]), int(theirs[i])))
    oracle.result(name, idx.size == 0, ev)


def main():
    if len(sys.argv) != 2 or not os.access(sys.argv[1], os.X_OK):
        print("usage: python3 %s /abs/path/quantbench" % sys.argv[0])
        sys.exit(1)
    qb = os.path.abspath(sys.argv[1])
    rng = np.random.default_rng(SEED)
    x_u32 = f32_inputs(rng)
    x = x_u32.view(np.float32)
    n = x.size
    is_nan = np.isnan(x)
    sign16 = ((x_u32 >> np.uint32(16)) & np.uint32(0x8000)).astype(np.uint16)
    exps = np.unique((x_u32[~is_nan] >> np.uint32(23)) & np.uint32(0xFF))
    print("inputs: %d float32 values (%d NaN), %d distinct exponents" % (n, int(is_nan.sum()), exps.size))

    with np.errstate(all="ignore"):
        want_f16 = x.astype(np.float16).view(np.uint16)
        want_bf16 = x.astype(ml_dtypes.bfloat16).view(np.uint16)

    with tempfile.TemporaryDirectory(prefix="qb_oracle_") as tmp:
        src = os.path.join(tmp, "x.f32")
        x_u32.tofile(src)

        # ---- encode ------------------------------------------------------------------------
        for fmt, want in (("f16", want_f16), ("bf16", want_bf16)):
            out = os.path.join(tmp, "x." + fmt)
            rc, _, err = oracle.run(qb, "encode", "--format", fmt, src, out)
            ok = rc == 0 and os.path.exists(out) and os.path.getsize(out) == 2 * n
            oracle.result("encode --format %s exits 0 and writes %d bytes" % (fmt, 2 * n), ok,
                   ["exit %d, stderr: %s" % (rc, err.strip()),
                    "size %s" % (os.path.getsize(out) if os.path.exists(out) else "missing")])
            if not ok:
                continue
            ours = np.fromfile(out, dtype="<u2")
            peer = "numpy float16" if fmt == "f16" else "ml_dtypes bfloat16"
            compare_codes("encode %s == %s for every non-NaN input" % (fmt, peer), x_u32, ours, want, ~is_nan)

            # NaN inputs: a NaN code with the input's sign, as the oracle (payloads may differ)
            mant_bits = 0x03FF if fmt == "f16" else 0x007F
            exp_bits = 0x7C00 if fmt == "f16" else 0x7F80
            code_is_nan = ((ours & exp_bits) == exp_bits) & ((ours & mant_bits) != 0)
            want_is_nan = ((want & exp_bits) == exp_bits) & ((want & mant_bits) != 0)
            bad = np.nonzero(is_nan & ~(code_is_nan & want_is_nan & ((ours & 0x8000) == (want & 0x8000))))[0]
            oracle.result("encode %s: NaN inputs give NaN codes with the sign %s gives" % (fmt, peer), bad.size == 0,
                   ["%d NaN inputs wrong; first: %s" % (bad.size, "; ".join(
                       "input 0x%08x ours 0x%04x oracle 0x%04x" % (int(x_u32[i]), int(ours[i]), int(want[i]))
                       for i in bad[:SHOW]))])

            # NaN inputs, exact code of ggml's reference path (FORMATS.md §1.2–1.3)
            if fmt == "f16":
                exact = sign16 | np.uint16(0x7E00)
                rule = "0x7E00 | sign"
            else:
                exact = ((x_u32 >> np.uint32(16)) | np.uint32(0x40)).astype(np.uint16)
                rule = "(u >> 16) | 0x0040"
            bad = np.nonzero(is_nan & (ours != exact))[0]
            oracle.result("encode %s: NaN inputs give %s" % (fmt, rule), bad.size == 0,
                   ["%d NaN inputs wrong; first: %s" % (bad.size, "; ".join(
                       "input 0x%08x ours 0x%04x want 0x%04x" % (int(x_u32[i]), int(ours[i]), int(exact[i]))
                       for i in bad[:SHOW]))])

        # ---- decode all 65536 codes ------------------------------------------------------------
        codes = np.arange(1 << 16, dtype=np.uint32).astype("<u2")
        csrc = os.path.join(tmp, "codes.bin")
        codes.tofile(csrc)
        for fmt, dtype in (("f16", np.float16), ("bf16", ml_dtypes.bfloat16)):
            out = os.path.join(tmp, "codes.%s.f32" % fmt)
            rc, _, err = oracle.run(qb, "decode", "--format", fmt, csrc, out)
            ok = rc == 0 and os.path.exists(out) and os.path.getsize(out) == 4 * codes.size
            oracle.result("decode --format %s of all 65536 codes exits 0 and writes %d bytes" % (fmt, 4 * codes.size), ok,
                   ["exit %d, stderr: %s" % (rc, err.strip())])
            if not ok:
                continue
            ours = np.fromfile(out, dtype="<u4")
            want = codes.view(dtype).astype(np.float32).view(np.uint32)
            code_nan = np.isnan(codes.view(dtype).astype(np.float32))
            idx = np.nonzero(~code_nan & (ours != want))[0]
            peer = "numpy float16" if fmt == "f16" else "ml_dtypes bfloat16"
            oracle.result("decode %s == %s widening, bit for bit, for every non-NaN code" % (fmt, peer), idx.size == 0,
                   ["%d codes differ; first: %s" % (idx.size, "; ".join(
                       "code 0x%04x ours 0x%08x oracle 0x%08x" % (int(codes[i]), int(ours[i]), int(want[i]))
                       for i in idx[:SHOW]))])
            ours_nan = np.isnan(ours.view(np.float32))
            idx = np.nonzero(code_nan & ~ours_nan)[0]
            oracle.result("decode %s: every NaN code (%d) decodes to NaN" % (fmt, int(code_nan.sum())), idx.size == 0,
                   ["%d NaN codes decode to non-NaN; first: %s" % (idx.size, "; ".join(
                       "code 0x%04x -> 0x%08x" % (int(codes[i]), int(ours[i])) for i in idx[:SHOW]))])
            idx = np.nonzero(code_nan & ((ours >> np.uint32(31)) != (codes >> np.uint16(15)).astype(np.uint32)))[0]
            oracle.result("decode %s: NaN codes keep their sign" % fmt, idx.size == 0,
                   ["%d NaN codes lose their sign; first: %s" % (idx.size, "; ".join(
                       "code 0x%04x -> 0x%08x" % (int(codes[i]), int(ours[i])) for i in idx[:SHOW]))])

        # ---- round trip through the encoder's own output: decode(encode(x)) == oracle --------
        for fmt, dtype, want in (("f16", np.float16, want_f16), ("bf16", ml_dtypes.bfloat16, want_bf16)):
            enc = os.path.join(tmp, "x." + fmt)
            out = os.path.join(tmp, "x.%s.f32" % fmt)
            if not os.path.exists(enc):
                continue
            rc, _, err = oracle.run(qb, "decode", "--format", fmt, enc, out)
            if rc != 0 or os.path.getsize(out) != 4 * n:
                oracle.result("decode(encode(x)) for %s" % fmt, False, ["exit %d, stderr: %s" % (rc, err.strip())])
                continue
            ours = np.fromfile(out, dtype="<u4")
            with np.errstate(all="ignore"):
                ref = want.view(dtype).astype(np.float32).view(np.uint32)
            idx = np.nonzero(~is_nan & (ours != ref))[0]
            oracle.result("decode(encode(x)) %s == oracle round trip for every non-NaN input" % fmt, idx.size == 0,
                   ["%d values differ; first: %s" % (idx.size, "; ".join(
                       "input 0x%08x ours 0x%08x oracle 0x%08x" % (int(x_u32[i]), int(ours[i]), int(ref[i]))
                       for i in idx[:SHOW]))])
            idx = np.nonzero(is_nan & ~np.isnan(ours.view(np.float32)))[0]
            oracle.result("decode(encode(NaN)) %s is NaN" % fmt, idx.size == 0,
                   ["%d NaN inputs come back non-NaN; first: %s" % (idx.size, hexes(x_u32[idx[:SHOW]], 8))])

        # ---- tf32: PTX cvt.rna.tf32.f32, round half away from zero to 10 mantissa bits --------
        # No library implements it, so the expectation is computed here from the definition in
        # float64: the value rounded to a multiple of its ulp (2^(e-10) for a normal with exponent
        # e, 2^-136 for fp32 subnormals) with ties away from zero, ±Inf past the top binade.
        out = os.path.join(tmp, "x.tf32")
        rc, _, err = oracle.run(qb, "encode", "--format", "tf32", src, out)
        ok = rc == 0 and os.path.exists(out) and os.path.getsize(out) == 4 * n
        oracle.result("encode --format tf32 exits 0 and writes %d bytes" % (4 * n), ok, ["exit %d, stderr: %s" % (rc, err.strip())])
        if ok:
            ours = np.fromfile(out, dtype="<u4")
            fin = ~is_nan
            ax = np.abs(x[fin].astype(np.float64))
            _, e = np.frexp(ax)                     # ax = f·2^e, f in [0.5, 1)
            e = np.maximum(e - 1, -126)             # exponent of the binade; subnormals share -126
            ulp = np.ldexp(1.0, e - 10)
            with np.errstate(all="ignore"):
                r = np.floor(ax / ulp + 0.5) * ulp  # ties away: |x| only, sign restored below
                r = np.where(np.isinf(ax), np.inf, r)
                r = np.where(r >= 2.0 ** 128, np.inf, r)
                want = (np.copysign(r, x[fin].astype(np.float64))).astype(np.float32).view(np.uint32)
            got = ours[fin]
            idx = np.nonzero(got != want)[0]
            fx = x_u32[fin]
            oracle.result("encode tf32 == round-half-away to 10 mantissa bits (float64 model) for every non-NaN input",
                   idx.size == 0, ["%d differ; first: %s" % (idx.size, "; ".join(
                       "input 0x%08x ours 0x%08x want 0x%08x" % (int(fx[i]), int(got[i]), int(want[i])) for i in idx[:SHOW]))])
            ties = fin & ((x_u32 & np.uint32(0x1FFF)) == np.uint32(0x1000)) & ((x_u32 & np.uint32(0x7F800000)) != np.uint32(0x7F800000))
            away = np.abs(ours[ties].view(np.float32)) > np.abs(x[ties])
            oracle.result("encode tf32: all %d exact ties round away from zero" % int(ties.sum()), bool(ties.any() and away.all()),
                   ["%d ties not rounded away" % int((~away).sum())])
            low = (ours & np.uint32(0x1FFF)) != 0
            oracle.result("encode tf32: the low 13 bits are zero in every output word", not low.any(),
                   ["%d words with low bits set; first input %s" % (int(low.sum()), hexes(x_u32[low][:SHOW], 8))])
            nan_out = np.isnan(ours.view(np.float32))
            keep_sign = (ours >> np.uint32(31)) == (x_u32 >> np.uint32(31))
            bad = np.nonzero(is_nan & ~(nan_out & keep_sign))[0]
            oracle.result("encode tf32: NaN inputs stay NaN with their sign", bad.size == 0,
                   ["%d wrong; first input %s" % (bad.size, hexes(x_u32[bad[:SHOW]], 8))])

    sys.exit(oracle.finish())


if __name__ == "__main__":
    main()
