#!/usr/bin/env bash
# test_formats_cli.sh — the format module through the command line, black-box: bad format
# names and shapes give one-line errors that say what is valid, non-finite input follows the
# per-family policy of formats/format.h, int8_llm's outlier columns follow --imatrix, and
# `quantbench formats` documents the naming scheme and vLLM's FP8 pairs.
#
# Usage: bash formats/tests/test_formats_cli.sh /abs/path/to/quantbench
set -u
. "$(dirname "$0")/../../cli/tests/lib.sh" "$@"

# f32 files: N values 0.01·(i mod 17 − 8), then optional (index value) overrides
mk() { # FILE N [INDEX VALUE]…
    python3 -c 'import struct, sys
n = int(sys.argv[2]); v = [0.01 * (i % 17 - 8) for i in range(n)]
for k in range(3, len(sys.argv), 2): v[int(sys.argv[k])] = float(sys.argv[k + 1])
open(sys.argv[1], "wb").write(struct.pack("<%df" % n, *v))' "$@"
}
mk x256.f32 256

# ---- unknown names and unsupported group sizes -------------------------------------------
bad "group size 48" 2 encode --format int4_sym_g48 x256.f32 o.bin
expect_err_has "group size 48" "'int4_sym_g48'"
expect_err_re "group size 48" "int4_sym_g32.*int4_sym_g128|int4_sym_g128.*int4_sym_g32"
bad "unknown family" 2 encode --format nosuch x256.f32 o.bin
expect_err_re "unknown family" "valid: f32, .*q4_K"
bad "decode, unknown name" 2 decode --format fp8_e4m3_g7 x256.f32 o.f32
expect_err_has "decode, unknown name" "fp8_e4m3_pc"

# ---- rows that do not fill whole blocks ---------------------------------------------------
bad "q4_0, 33 columns" 4 encode --format q4_0 --cols 33 x256.f32 o.bin
bad "int4_sym_g128, 64 columns" 4 encode --format int4_sym_g128 --cols 64 x256.f32 o.bin
expect_err_has "int4_sym_g128, 64 columns" "not a multiple of 128"
bad "file not whole rows" 4 encode --format int8_sym_row --cols 100 x256.f32 o.bin
expect_err_has "file not whole rows" "x256.f32"

# ---- non-finite input, per family ---------------------------------------------------------
mk nan.f32 256 133 nan
mk inf.f32 256 133 inf
for f in nf4 mxfp4_e2m1 int4_sym_g32 q4_0 fp8_e4m3_pc nvfp4_ts f16_g32 int8_llm; do
    bad "$f: NaN" 4 encode --format "$f" --cols 128 nan.f32 o.bin
    expect_err_re "$f: NaN" "NaN.*row 1.*column 5"
    bad "$f: Inf" 4 encode --format "$f" --cols 128 inf.f32 o.bin
    expect_err_re "$f: Inf" "Inf.*row 1.*column 5"
done
qb encode --format fp8_e4m3 inf.f32 o.bin
expect_rc "fp8_e4m3: Inf encodes (non-saturating)" 0
check "fp8_e4m3: Inf gives the NaN code 0x7F" [ "$(od -An -tx1 -j133 -N1 o.bin | tr -d ' ')" = 7f ]
qb encode --format fp4_e2m1 inf.f32 o.bin
expect_rc "fp4_e2m1: Inf encodes (saturating)" 0
check "fp4_e2m1: Inf gives +6 (code 7, high nibble of byte 66)" [ "$(od -An -tx1 -j66 -N1 o.bin | tr -d ' ' | cut -c1)" = 7 ]
for f in f16 bf16 tf32 fp8_e5m2; do
    qb encode --format "$f" nan.f32 o.bin
    expect_rc "$f keeps NaN" 0
done

# ---- int8_llm: the outlier columns follow --imatrix ----------------------------------------
# 4 rows × 64; the imatrix marks columns 3 and 40 (and nothing else) as active outliers
mk w.f32 256 3 5.0 131 -7.0
python3 -c 'import struct; v = [0.0] * 64; v[3] = 50.0; v[40] = 9.0
open("imp.f32", "wb").write(struct.pack("<64f", *v))'
qb encode --format int8_llm --cols 64 --imatrix imp.f32 w.f32 llm.bin
expect_rc "int8_llm with --imatrix" 0
qb decode --format int8_llm --cols 64 llm.bin llm.f32
expect_rc "int8_llm decode" 0
pycheck "int8_llm: columns 3 and 40 stored, exact fp16 values, the rest within amax/254 (+ fp32 rounding)" '
import struct, sys
q = open("llm.bin", "rb").read()
idx = struct.unpack("<8I", q[:32])
assert idx == (3, 40) + (0xFFFFFFFF,) * 6, idx
x = struct.unpack("<256f", open("w.f32", "rb").read())
y = struct.unpack("<256f", open("llm.f32", "rb").read())
f16 = lambda v: struct.unpack("<e", struct.pack("<e", v))[0]
for r in range(4):
    row = x[64 * r:64 * r + 64]
    amax = max(abs(v) for c, v in enumerate(row) if c not in (3, 40))
    for c in range(64):
        want, got = row[c], y[64 * r + c]
        if c in (3, 40):
            assert got == f16(want), (r, c, want, got)
        else:
            assert abs(got - want) <= amax / 254 * (1 + 1e-6) + abs(want) * 2 ** -23, (r, c, want, got, amax)
print("ok")'
check "int8_llm: size 32 + 4*(20 + 64) bytes" [ "$(wc -c <llm.bin)" -eq $((32 + 4 * (20 + 64))) ]

# ---- `quantbench formats`: naming scheme and vLLM pairs ------------------------------------
qb formats --help
expect_rc "formats --help" 0
for w in "_pt" "_pc" "_gNN" "_sym" "_asym" "_dq" "_hqq" "Q4_K_M" "fbgemm_fp8" "ptpc_fp8"; do
    check "formats --help explains $w" grep -qF -- "$w" "$OUT"
done
qb formats
expect_rc "formats" 0
check "formats: table names the dot partner of fp8_e4m3_pc" grep -qE '^fp8_e4m3_pc .* fp8_e4m3_pc ' "$OUT"
check "formats: footer points to the naming help" grep -qF "quantbench formats --help" "$OUT"
qb formats --json
expect_rc "formats --json" 0
pycheck "formats --json: vec_dot_type for the FP8 pairs, null where none" '
import json, sys
rows = {r["format"]: r for r in json.load(open(sys.argv[1]))["rows"]}
assert rows["fp8_e4m3_pc"]["vec_dot_type"] == "fp8_e4m3_pc", rows["fp8_e4m3_pc"]
assert rows["fp8_e4m3_pt"]["vec_dot_type"] == "fp8_e4m3_pt"
assert rows["nf4"]["vec_dot_type"] is None
assert abs(rows["f16_g32"]["bits_per_weight"] - 16.25) < 1e-9
for n in ("tf32", "int8_llm", "f16_g32"): assert n in rows, n
' "$OUT"

finish
