#!/usr/bin/env python3
"""oracle_minifloat.py — quantbench's OCP FP8/FP6/FP4 element conversions (formats/minifloat.c)
and the E8M0 scale decode (formats/mx.c) against ml_dtypes.

  python3 formats/tests/oracle_minifloat.py /abs/path/quantbench

Formats and oracles: fp8_e4m3 ↔ float8_e4m3fn, fp8_e5m2 ↔ float8_e5m2, fp6_e3m2 ↔
float6_e3m2fn, fp6_e2m3 ↔ float6_e2m3fn, fp4_e2m1 ↔ float4_e2m1fn; E8M0 ↔ float8_e8m0fnu.
quantbench's registry formats use overflow mode QB_MF_NONSAT (minifloat.h), which is ml_dtypes'
plain astype: E4M3 overflow and ±Inf → NaN code 0x7F|sign, E5M2 overflow → ±Inf, FP6/FP4 (no
Inf/NaN) saturate to ±max, so every compared code must be identical — no exceptions.
The one documented difference: the formats without NaN (fp8_e4m3, fp6_*, fp4_e2m1) reject a
NaN input (exit ≠ 0, naming row and column) where ml_dtypes returns a code (E4M3: NaN;
FP6/FP4: ±0); that rejection is checked. fp8_e5m2 encodes NaN as 0x7E|sign, as ml_dtypes.

Encode inputs: every representable value of the format, the exact midpoints between neighbours
(ties), the float32 neighbours of both, values around max finite and the overflow threshold,
subnormals, ±0, ±Inf, random float32 bit patterns over all exponents, uniform values in
±2·max. Decode: every code (fp6 packed 4 per 3 bytes, fp4 2 per byte, low nibble first).
E8M0: 256 mxfp8_e4m3 blocks, block E holding scale byte E and elements 1.0, decode must
equal float8_e8m0fnu(E) (0xFF: NaN).
Block formats (mxfp8_e4m3, mxfp8_e5m2, mxfp6_e3m2, mxfp6_e2m3, mxfp4_e2m1, mxint8, nvfp4_ts):
the encoded bytes of 16 rows × 256 (normal, wide-range, ties, zero and 1e-30 blocks) must
equal an independent numpy model of FORMATS.md §3.3 / §4 built on ml_dtypes' RNE casts.

Exit 0 when all pass, 1 on any failure, 77 (skip) when numpy or ml_dtypes (≥ 0.5, for the
FP6/FP4/E8M0 types) is missing unless QB_REQUIRE_ORACLES=1 (then 1). The last line is
"N passed, M failed".
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
    _ = (ml_dtypes.float6_e3m2fn, ml_dtypes.float6_e2m3fn, ml_dtypes.float4_e2m1fn, ml_dtypes.float8_e8m0fnu)
except (ImportError, AttributeError) as e:  # pragma: no cover - depends on the machine
    oracle.skip("the oracle needs numpy and ml_dtypes >= 0.5 (pip install numpy ml_dtypes): %s" % e)

SEED = 20251122
SHOW = 8

# name, ml_dtypes type, bits per code, has NaN code (accepts NaN input)
FORMATS = [
    ("fp8_e4m3", ml_dtypes.float8_e4m3fn, 8, False),
    ("fp8_e5m2", ml_dtypes.float8_e5m2, 8, True),
    ("fp6_e3m2", ml_dtypes.float6_e3m2fn, 6, False),
    ("fp6_e2m3", ml_dtypes.float6_e2m3fn, 6, False),
    ("fp4_e2m1", ml_dtypes.float4_e2m1fn, 4, False),
]


def pack(codes, bits):
    c = codes.astype(np.uint32)
    if bits == 8:
        return c.astype(np.uint8)
    if bits == 4:
        return (c[0::2] | (c[1::2] << 4)).astype(np.uint8)
    g = c.reshape(-1, 4)
    w = g[:, 0] | (g[:, 1] << 6) | (g[:, 2] << 12) | (g[:, 3] << 18)
    return np.stack([w & 0xFF, (w >> 8) & 0xFF, (w >> 16) & 0xFF], axis=1).reshape(-1).astype(np.uint8)


def unpack(data, bits, n):
    d = data.astype(np.uint32)
    if bits == 8:
        return d[:n].astype(np.uint8)
    if bits == 4:
        return np.stack([d & 0xF, d >> 4], axis=1).reshape(-1)[:n].astype(np.uint8)
    t = d.reshape(-1, 3)
    w = t[:, 0] | (t[:, 1] << 8) | (t[:, 2] << 16)
    return np.stack([(w >> (6 * j)) & 0x3F for j in range(4)], axis=1).reshape(-1)[:n].astype(np.uint8)


def inputs(rng, dtype, bits, with_nan):
    f32 = np.float32
    codes = np.arange(1 << bits, dtype=np.uint8)
    vals = codes.view(dtype).astype(f32)
    fin = np.unique(np.abs(vals[np.isfinite(vals)]))  # sorted non-negative representable values
    mids = ((fin[:-1].astype(np.float64) + fin[1:]) / 2).astype(f32)  # exact ties
    top = float(fin[-1])
    ulp_top = float(fin[-1] - fin[-2])
    around_max = np.array([top, top + ulp_top / 4, top + ulp_top / 2, top + ulp_top * 3 / 4, top + ulp_top,
                           top + ulp_top * 1.5, 2 * top, 4 * top, 1e30, 3.4e38], dtype=f32)
    base = np.concatenate([fin, mids, around_max])
    neigh = np.concatenate([np.nextafter(base, f32(np.inf)), np.nextafter(base, f32(0))]).astype(f32)
    tiny = (rng.uniform(0, 2 * float(fin[1]), size=4096)).astype(f32)  # subnormal range and below
    unif = rng.uniform(-2 * top, 2 * top, size=1 << 15).astype(f32)
    u = rng.integers(0, 1 << 32, size=1 << 16, dtype=np.uint64).astype(np.uint32)
    u = u[(u & np.uint32(0x7F800000)) != np.uint32(0x7F800000)]
    specials = np.array([0.0, np.inf, np.finfo(f32).tiny, 1e-45], dtype=f32)
    pos = np.concatenate([base, neigh, tiny, specials]).astype(f32)
    x = np.concatenate([pos, -pos, unif, u.view(f32), np.array([-0.0, -np.inf], dtype=f32)])
    if with_nan:
        nans = np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, 0x7FFFFFFF], dtype=np.uint32).view(f32)
        x = np.concatenate([x, nans])
    x = x[rng.permutation(x.size)]
    pad = (-x.size) % 4
    return np.concatenate([x, np.ones(pad, dtype=f32)]).astype("<f4")


BCOLS = 256


def block_inputs(rng):
    """rows of BCOLS float32: LLM-like, wide dynamic range per block, grid ties, zero blocks."""
    f32 = np.float32
    rows = [rng.normal(0, 0.02, BCOLS), rng.normal(0, 1, BCOLS) * np.exp2(rng.uniform(-20, 10, BCOLS)),
            rng.normal(0, 1000, BCOLS), np.zeros(BCOLS)]
    # ties: multiples of 2^-k halfway points scaled into every block
    t = (rng.integers(-64, 64, BCOLS) + 0.5) * 2.0 ** rng.integers(-6, 3, BCOLS)
    rows.append(t)
    r = rng.normal(0, 1, BCOLS)
    r[:16] = 0
    r[32:64] = 1e-30 * rng.normal(0, 1, 32)
    rows.append(r)
    x = np.stack(rows).astype(f32)
    return np.concatenate([x, rng.normal(0, 3, (10, BCOLS)).astype(f32)]).astype("<f4")


def mx_model(x, dtype, emax, bits):
    """FORMATS.md §3.3: e = floor(log2 amax) − emax clamped to [−127, 127] (zero block: −127),
    elements RNE-saturating (clip to ±max, then ml_dtypes' RNE cast); mxint8 clamp(rint(V/X·64))."""
    b = x.reshape(-1, 32)
    amax = np.max(np.abs(b), axis=1)
    _, ex = np.frexp(amax)
    e = np.where(amax == 0, -127, np.clip(ex.astype(np.int64) - 1 - emax, -127, 127))
    s = np.ldexp(b, (-e)[:, None].astype(np.int32)).astype(np.float32)
    if dtype is None:
        codes = np.clip(np.rint(s * np.float32(64)), -127, 127).astype(np.int8).view(np.uint8)
    else:
        mx = float(ml_dtypes.finfo(dtype).max)
        codes = np.clip(s, -mx, mx).astype(dtype).view(np.uint8) & np.uint8((1 << bits) - 1)
    packed = pack(codes.reshape(-1), bits).reshape(b.shape[0], -1)
    return np.concatenate([(e + 127).astype(np.uint8)[:, None], packed], axis=1).reshape(-1)


def nvfp4_model(x):
    """FORMATS.md §4 (torchao): s_t = amax/2688, s_b = e4m3(clip((bmax/6)/s_t, 2^-6, 448)),
    q = e2m1(clip(x/(s_t·s_b), −6, 6)), all in float32."""
    f32 = np.float32
    s_t = f32(np.max(np.abs(x))) / f32(2688)
    b = x.reshape(-1, 16)
    bmax = np.max(np.abs(b), axis=1)
    sb = np.clip((bmax / f32(6)) / s_t, f32(2.0 ** -6), f32(448)).astype(f32)
    sbc = sb.astype(ml_dtypes.float8_e4m3fn)
    sc = (s_t * sbc.astype(f32)).astype(f32)
    q = np.clip(b / sc[:, None], f32(-6), f32(6)).astype(ml_dtypes.float4_e2m1fn).view(np.uint8) & np.uint8(0xF)
    packed = pack(q.reshape(-1), 4).reshape(b.shape[0], -1)
    blocks = np.concatenate([sbc.view(np.uint8)[:, None], packed], axis=1).reshape(-1)
    return np.concatenate([np.frombuffer(np.array([s_t], dtype="<f4").tobytes(), dtype=np.uint8), blocks])


def main():
    if len(sys.argv) != 2 or not os.access(sys.argv[1], os.X_OK):
        print("usage: python3 %s /abs/path/quantbench" % sys.argv[0])
        sys.exit(1)
    qb = os.path.abspath(sys.argv[1])
    rng = np.random.default_rng(SEED)
    with tempfile.TemporaryDirectory(prefix="qb_oracle_mf_") as tmp:
        for fmt, dtype, bits, has_nan in FORMATS:
            x = inputs(rng, dtype, bits, has_nan)
            n = x.size
            src = os.path.join(tmp, fmt + ".f32")
            out = os.path.join(tmp, fmt + ".bin")
            x.tofile(src)
            # ---- encode ----
            rc, _, err = oracle.run(qb, "encode", "--format", fmt, src, out)
            ok = rc == 0 and os.path.exists(out) and os.path.getsize(out) == n * bits // 8
            oracle.result("encode --format %s of %d values exits 0 and writes %d bytes" % (fmt, n, n * bits // 8), ok,
                   ["exit %d, stderr: %s" % (rc, err.strip())])
            if ok:
                ours = unpack(np.fromfile(out, dtype=np.uint8), bits, n)
                with np.errstate(all="ignore"):
                    want = x.astype(dtype).view(np.uint8) & np.uint8((1 << bits) - 1)
                idx = np.nonzero(ours != want)[0]
                oracle.result("encode %s == ml_dtypes %s for all %d inputs (NaN included: %s)" % (fmt, dtype.__name__, n, has_nan),
                       idx.size == 0,
                       ["%d codes differ; first: %s" % (idx.size, "; ".join(
                           "x=%r (0x%08x) ours 0x%02x oracle 0x%02x" % (float(x[i]), int(x[i:i + 1].view(np.uint32)[0]),
                                                                      int(ours[i]), int(want[i])) for i in idx[:SHOW]))])
            # ---- NaN rejected by the formats without NaN (documented difference) ----
            if not has_nan:
                bad = np.ones(8, dtype="<f4")
                bad[5] = np.nan
                bsrc = os.path.join(tmp, fmt + ".nan.f32")
                bad.tofile(bsrc)
                rc, _, err = oracle.run(qb, "encode", "--format", fmt, bsrc, os.path.join(tmp, fmt + ".nan.bin"))
                oracle.result("encode %s rejects NaN naming column 5" % fmt, rc != 0 and "column 5" in err,
                       ["exit %d, stderr: %s" % (rc, err.strip())])
            # ---- decode every code ----
            codes = np.arange(1 << bits, dtype=np.uint8)
            ncodes = codes.size
            csrc = os.path.join(tmp, fmt + ".codes")
            cout = os.path.join(tmp, fmt + ".codes.f32")
            pack(codes, bits).tofile(csrc)
            rc, _, err = oracle.run(qb, "decode", "--format", fmt, csrc, cout)
            ok = rc == 0 and os.path.exists(cout) and os.path.getsize(cout) == 4 * ncodes
            oracle.result("decode --format %s of all %d codes exits 0" % (fmt, ncodes), ok, ["exit %d, stderr: %s" % (rc, err.strip())])
            if ok:
                ours = np.fromfile(cout, dtype="<f4")
                want = codes.view(dtype).astype(np.float32)
                wn = np.isnan(want)
                idx = np.nonzero((wn != np.isnan(ours)) | (~wn & (ours.view(np.uint32) != want.view(np.uint32))))[0]
                oracle.result("decode %s == ml_dtypes %s bit for bit, NaN codes NaN (%d NaN codes)" % (fmt, dtype.__name__, int(wn.sum())),
                       idx.size == 0,
                       ["%d codes differ; first: %s" % (idx.size, "; ".join(
                           "code 0x%02x ours %r oracle %r" % (int(codes[i]), float(ours[i]), float(want[i])) for i in idx[:SHOW]))])

        # ---- E8M0 through mxfp8_e4m3 blocks: scale byte E, 32 elements 1.0 (E4M3 0x38) ----
        e = np.arange(256, dtype=np.uint8)
        blocks = np.concatenate([e[:, None], np.full((256, 32), 0x38, dtype=np.uint8)], axis=1).reshape(-1)
        bsrc = os.path.join(tmp, "e8m0.bin")
        bout = os.path.join(tmp, "e8m0.f32")
        blocks.tofile(bsrc)
        rc, _, err = oracle.run(qb, "decode", "--format", "mxfp8_e4m3", "--cols", "32", bsrc, bout)
        ok = rc == 0 and os.path.exists(bout) and os.path.getsize(bout) == 4 * 256 * 32
        oracle.result("decode mxfp8_e4m3 of 256 blocks exits 0", ok, ["exit %d, stderr: %s" % (rc, err.strip())])
        if ok:
            ours = np.fromfile(bout, dtype="<f4").reshape(256, 32)
            want = e.view(ml_dtypes.float8_e8m0fnu).astype(np.float32)
            wn = np.isnan(want)
            okv = np.all((np.isnan(ours) == wn[:, None]) | False, axis=1) & np.all(
                wn[:, None] | (ours.view(np.uint32) == want.view(np.uint32)[:, None]), axis=1)
            idx = np.nonzero(~okv)[0]
            oracle.result("E8M0 scale decode == ml_dtypes float8_e8m0fnu for all 256 bytes (0xFF NaN)", idx.size == 0,
                   ["%d scale bytes differ; first: %s" % (idx.size, "; ".join(
                       "E=0x%02x ours %r oracle %r" % (int(i), float(ours[i, 0]), float(want[i])) for i in idx[:SHOW]))])

        # ---- block formats: bytes equal an independent numpy/ml_dtypes model of the recipes ----
        bx = block_inputs(rng)
        bsrc = os.path.join(tmp, "blocks.f32")
        bx.tofile(bsrc)
        for fmt, want in (("mxfp8_e4m3", mx_model(bx, ml_dtypes.float8_e4m3fn, 8, 8)),
                          ("mxfp8_e5m2", mx_model(bx, ml_dtypes.float8_e5m2, 15, 8)),
                          ("mxfp6_e3m2", mx_model(bx, ml_dtypes.float6_e3m2fn, 4, 6)),
                          ("mxfp6_e2m3", mx_model(bx, ml_dtypes.float6_e2m3fn, 2, 6)),
                          ("mxfp4_e2m1", mx_model(bx, ml_dtypes.float4_e2m1fn, 2, 4)),
                          ("mxint8", mx_model(bx, None, 0, 8)),
                          ("nvfp4_ts", nvfp4_model(bx))):
            out = os.path.join(tmp, "blocks." + fmt)
            rc, _, err = oracle.run(qb, "encode", "--format", fmt, "--cols", str(BCOLS), bsrc, out)
            if rc != 0 or not os.path.exists(out):
                oracle.result("encode --format %s exits 0" % fmt, False, ["exit %d, stderr: %s" % (rc, err.strip())])
                continue
            ours = np.fromfile(out, dtype=np.uint8)
            idx = np.nonzero(ours != want)[0] if ours.size == want.size else np.arange(1)
            oracle.result("encode %s == numpy/ml_dtypes model of FORMATS.md (%d bytes)" % (fmt, want.size), idx.size == 0,
                   ["sizes %d/%d, %d bytes differ; first offsets %s" % (ours.size, want.size, idx.size,
                                                                        " ".join(str(int(i)) for i in idx[:SHOW]))])

    sys.exit(oracle.finish())


if __name__ == "__main__":
    main()
