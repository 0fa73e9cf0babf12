#!/usr/bin/env bash
# test_cli.sh — behaviour of the quantbench command line, black-box: exit codes, one-line
# error messages that name the problem, --help/--version, encode/decode round trips against
# Python's own IEEE conversions, --json shapes, run → report, and that a failing command
# never loses what the database already holds.
#
# Usage: bash cli/tests/test_cli.sh /abs/path/to/quantbench [/abs/path/to/gguf_tool]
# (gguf_tool makes the model files of the quantize / inspect / errors-on-a-model checks)
# Prints one line "N passed, M failed" at the end; exits 1 when M > 0, 77 (skip) when the
# tools it needs (python3) are missing.
set -u
. "$(dirname "$0")/lib.sh" "$@"
CMDS="formats encode decode errors run report"

# ---- help, version, command dispatch -------------------------------------------------------
qb --help
expect_rc "quantbench --help" 0
check "quantbench --help: usage on stdout" grep -q '^Usage: quantbench' "$OUT"
expect_err_empty "quantbench --help"
for c in $CMDS; do
    check "quantbench --help lists '$c'" grep -qE "^  $c " "$OUT"
done
for c in $CMDS; do
    qb "$c" --help
    expect_rc "quantbench $c --help" 0
    check "quantbench $c --help: usage on stdout" grep -q "^Usage: quantbench $c" "$OUT"
    expect_err_empty "quantbench $c --help"
done

qb --version
expect_rc "quantbench --version" 0
check "--version prints 'quantbench X.Y.Z (git …)'" grep -qE '^quantbench [0-9]+\.[0-9]+\.[0-9]+ \(git [^)]+\)$' "$OUT"
check "--version prints one line" test "$(wc -l <"$OUT")" -eq 1

qb
expect_rc "no command" 2
check "no command: usage on stderr" grep -q 'Usage: quantbench' "$ERR"
check "no command: nothing on stdout" test ! -s "$OUT"

bad "unknown command" 2 frobnicate
expect_err_has "unknown command" "frobnicate"

# ---- usage errors ----------------------------------------------------------------------------
bad "errors: unknown format" 2 errors --db "$T/u.db" --formats f17 --weights synthetic:gaussian:4x8
expect_err_has "errors: unknown format" "f17"
expect_err_re "errors: unknown format lists valid names (f16)" '(^|[^b])f16'
expect_err_has "errors: unknown format lists valid names (bf16)" "bf16"
check "errors: unknown format creates no database" test ! -e "$T/u.db"

python3 -c 'import struct; open("ok8.f32","wb").write(struct.pack("<8f",*range(8)))'
bad "encode: unknown format" 2 encode --format f17 ok8.f32 out.bin
expect_err_has "encode: unknown format" "f17"
expect_err_re "encode: unknown format lists valid names (f16)" '(^|[^b])f16'
expect_err_has "encode: unknown format lists valid names (bf16)" "bf16"
check "encode: unknown format writes no output" test ! -e out.bin

bad "unknown option after others" 2 errors --formats f16 --bogus
expect_err_has "unknown option after others" "--bogus"
bad "unknown option first" 2 errors --bogus --formats f16
expect_err_has "unknown option first" "--bogus"
bad "unknown option of formats" 2 formats --frob
expect_err_has "unknown option of formats" "--frob"
bad "unknown global option" 2 --frob formats
expect_err_has "unknown global option" "--frob"

bad "missing option value (errors --formats)" 2 errors --weights synthetic:gaussian:4x8 --formats
expect_err_has "missing option value (errors --formats)" "--formats"
bad "missing option value (encode --format)" 2 encode ok8.f32 out.bin --format
expect_err_has "missing option value (encode --format)" "--format"
bad "bad --cols value" 2 encode --format f16 --cols abc ok8.f32 out.bin
expect_err_has "bad --cols value" "abc"

bad "run --suite nope" 2 run --db "$T/nope.db" --suite nope
expect_err_has "run --suite nope" "nope"

qb run --db "$T/nightly.db" --suite nightly --no-model --no-bench
expect_rc "run --suite nightly" 0
check "run --suite nightly: stored as the nightly suite" test "$(sql "$T/nightly.db" "SELECT suite || ' ' || status FROM runs")" = "nightly complete"
bad "run --resume with nothing to resume" 2 run --db "$T/resume.db" --resume
expect_err_has "run --resume with nothing to resume" "resume"
bad "errors --resume with nothing to resume" 2 errors --db "$T/resume.db" --resume --formats f16 --weights synthetic:gaussian:4x8
expect_err_has "errors --resume with nothing to resume" "resume"

# ---- bad input files -------------------------------------------------------------------------
printf 'abcdefg' >seven.bin
bad "encode: size not a multiple of 4" 4 encode --format f16 seven.bin out.bin
expect_err_has "encode: size not a multiple of 4" "seven.bin"
expect_err_has "encode: size not a multiple of 4 gives the size" "7"

python3 -c 'import struct; open("five.f32","wb").write(struct.pack("<5f",1,2,3,4,5))'
bad "encode: float count not a multiple of --cols" 4 encode --format int8_sym_row --cols 2 five.f32 out.bin
expect_err_has "encode: float count not a multiple of --cols" "five.f32"
check "encode: failed encode writes no output" test ! -e out.bin

: >empty.f32
bad "encode: empty file" 4 encode --format f16 empty.f32 out.bin
expect_err_has "encode: empty file names it" "empty.f32"
expect_err_has "encode: empty file says empty" "empty"

bad "encode: missing input file" 4 encode --format f16 no_such.f32 out.bin
expect_err_has "encode: missing input file" "no_such.f32"

bad "decode: not a whole number of rows" 4 decode --format int8_sym_row --cols 4 seven.bin out.f32
expect_err_has "decode: not a whole number of rows" "seven.bin"
bad "decode f16: odd size" 4 decode --format f16 seven.bin out.f32
expect_err_has "decode f16: odd size" "seven.bin"

# NaN at flat index 6 of a 2x4 matrix: row 1, column 2.
python3 -c 'import struct; open("nan.f32","wb").write(struct.pack("<8f",0.5,-1.25,3,4,5,6,float("nan"),8))'
bad "errors: NaN in raw weights" 4 errors --db "$T/nan.db" --formats f16 --weights raw:nan.f32:4
expect_err_re "errors: NaN names the row" 'row 1([^0-9]|$)'
expect_err_re "errors: NaN names the column" 'column 2([^0-9]|$)'
expect_err_has "errors: NaN says NaN" "NaN"

bad "encode int8_sym_row: NaN" 4 encode --format int8_sym_row --cols 4 nan.f32 out.bin
expect_err_re "encode int8_sym_row: NaN names the row" 'row 1([^0-9]|$)'
expect_err_re "encode int8_sym_row: NaN names the column" 'column 2([^0-9]|$)'
expect_err_has "encode int8_sym_row: NaN names the format" "int8_sym_row"
check "encode int8_sym_row: NaN writes no output" test ! -e out.bin

qb encode --format f16 --cols 4 nan.f32 nan.f16
expect_rc "encode f16 of a NaN" 0
qb decode --format f16 --cols 4 nan.f16 nan.back.f32
expect_rc "decode f16 of a NaN" 0
pycheck "f16 round trip keeps the NaN and the other values" '
import math, struct, sys
x = struct.unpack("<8f", open("nan.f32","rb").read())
b = open("nan.f16","rb").read()
y = struct.unpack("<8f", open("nan.back.f32","rb").read())
bad = []
if len(b) != 16: bad.append("encoded size %d, expected 16" % len(b))
for i, (a, c) in enumerate(zip(x, y)):
    if math.isnan(a) != math.isnan(c) or (not math.isnan(a) and a != c): bad.append("index %d: in %r out %r" % (i, a, c))
print("\n".join(bad)); sys.exit(1 if bad else 0)'

# ---- the database: unwritable, foreign, and nothing stored is ever lost ----------------------
: >afile
bad "--db under a regular file" 5 errors --db "$T/afile/x.db" --formats f16 --weights synthetic:gaussian:4x8
expect_err_has "--db under a regular file mentions --db" "--db"
expect_err_has "--db under a regular file names the path" "afile/x.db"
bad "--db two levels under a regular file" 5 errors --db "$T/afile/sub/x.db" --formats f16 --weights synthetic:gaussian:4x8
expect_err_has "--db two levels under a regular file mentions --db" "--db"
expect_err_has "--db two levels under a regular file gives the OS reason" "Not a directory"
bad "--db in /proc" 5 errors --db /proc/qb.db --formats f16 --weights synthetic:gaussian:4x8
expect_err_has "--db in /proc mentions --db" "--db"
bad "report --db under a regular file" 5 report --db "$T/afile/x.db" --out "$T/rep_bad"

python3 -c 'import sqlite3; c = sqlite3.connect("foreign.db"); c.execute("CREATE TABLE notes(x)"); c.execute("INSERT INTO notes VALUES (42)"); c.commit()'
FOREIGN_MODE_BEFORE=$(sql foreign.db "PRAGMA journal_mode")
bad "not a quantbench database" 5 errors --db "$T/foreign.db" --formats f16 --weights synthetic:gaussian:4x8
expect_err_has "not a quantbench database names the file" "foreign.db"
bad "report on a foreign database" 5 report --db "$T/foreign.db" --out "$T/rep_foreign"
check "foreign database keeps its table and row" test "$(sql foreign.db 'SELECT group_concat(name) FROM sqlite_schema')|$(sql foreign.db 'SELECT x FROM notes')" = "notes|42"
check "foreign database keeps its journal mode ($FOREIGN_MODE_BEFORE) after errors and report refused it" test "$(sql foreign.db 'PRAGMA journal_mode')" = "$FOREIGN_MODE_BEFORE"

qb errors --db "$T/keep.db" --json --formats all --weights synthetic:gaussian:4x64,synthetic:uniform:2x32
expect_rc "errors into a database" 0
sql keep.db "SELECT * FROM tensor_errors ORDER BY 1,2,3,4" >keep.before
sql keep.db "SELECT id, status FROM runs" >runs.before
check "errors stored its rows" test "$(wc -l <keep.before)" -ge 8
qb errors --db "$T/keep.db" --formats f16 --weights raw:nan.f32:4
expect_rc "failing errors on the same database" 4
sql keep.db "SELECT * FROM tensor_errors ORDER BY 1,2,3,4" >keep.after
check "failing errors keeps every stored row" cmp -s keep.before keep.after
check "failing errors keeps the earlier run complete" grep -qF "$(head -n1 runs.before)" <(sql keep.db "SELECT id, status FROM runs")
check "database integrity_check ok after a failure" test "$(sql keep.db 'PRAGMA integrity_check')" = "ok"
qb errors --db "$T/keep.db" --formats nope --weights synthetic:gaussian:4x8
sql keep.db "SELECT * FROM tensor_errors ORDER BY 1,2,3,4" >keep.after2
check "usage error keeps every stored row" cmp -s keep.before keep.after2

# ---- encode/decode round trips --------------------------------------------------------------
# f16: finite values inside the range, normals, subnormals, exact ties; expected = Python's 'e'.
python3 - <<'EOF'
import random, struct
r = random.Random(1234)
xs = [0.0, -0.0, 1.0, -1.0, 65504.0, -65504.0, 65519.0, 2.0**-24, 2.0**-25, 3 * 2.0**-26, 2.0**-14,
      1.0 + 2.0**-11, 1.0 + 3 * 2.0**-11, 2048.0 + 1.0, 2048.0 + 3.0, 6.103515625e-5 * 0.75]
for _ in range(4000):  # random float32 bit patterns with |x| < 65504
    e = r.randrange(127 - 30, 127 + 16)
    u = (r.getrandbits(1) << 31) | (e << 23) | r.getrandbits(23)
    x = struct.unpack("<f", struct.pack("<I", u))[0]
    if abs(x) < 65504: xs.append(x)
for _ in range(500):  # exact ties between neighbouring halves (low 13 bits = 0x1000)
    e = r.randrange(127 - 14, 127 + 15)
    u = (r.getrandbits(1) << 31) | (e << 23) | (r.getrandbits(10) << 13) | 0x1000
    xs.append(struct.unpack("<f", struct.pack("<I", u))[0])
for _ in range(500):  # f16 subnormal range
    xs.append(r.uniform(-2.0**-14, 2.0**-14))
xs = [struct.unpack("<f", struct.pack("<f", x))[0] for x in xs]
open("rt.f32", "wb").write(struct.pack("<%df" % len(xs), *xs))
EOF
qb encode --format f16 rt.f32 rt.f16
expect_rc "encode f16" 0
qb decode --format f16 rt.f16 rt.f16.f32
expect_rc "decode f16" 0
pycheck "f16 decode(encode(x)) == Python's IEEE half rounding (RNE)" '
import struct, sys
raw = open("rt.f32","rb").read(); n = len(raw) // 4
x = struct.unpack("<%df" % n, raw)
enc = open("rt.f16","rb").read()
if len(enc) != 2 * n: print("encoded %d bytes, expected %d" % (len(enc), 2 * n)); sys.exit(1)
codes = struct.unpack("<%dH" % n, enc)
y = struct.unpack("<%df" % n, open("rt.f16.f32","rb").read())
bad = 0
for i in range(n):
    want_code = struct.unpack("<H", struct.pack("<e", x[i]))[0]
    want = struct.unpack("<e", struct.pack("<e", x[i]))[0]
    if codes[i] != want_code or struct.pack("<f", y[i]) != struct.pack("<f", want):
        bad += 1
        if bad <= 5: print("index %d: x=%r (0x%08x) code ours 0x%04x python 0x%04x, value ours %r python %r" % (i, x[i], struct.unpack("<I", struct.pack("<f", x[i]))[0], codes[i], want_code, y[i], want))
if bad: print("%d of %d values differ" % (bad, n))
sys.exit(1 if bad else 0)'

qb encode --format bf16 rt.f32 rt.bf16
expect_rc "encode bf16" 0
qb decode --format bf16 rt.bf16 rt.bf16.f32
expect_rc "decode bf16" 0
pycheck "bf16 decode(encode(x)) == RNE on the upper 16 bits" '
import struct, sys
raw = open("rt.f32","rb").read(); n = len(raw) // 4
u = struct.unpack("<%dI" % n, raw)
codes = struct.unpack("<%dH" % n, open("rt.bf16","rb").read())
y = struct.unpack("<%dI" % n, open("rt.bf16.f32","rb").read())
bad = 0
for i in range(n):
    want = ((u[i] + 0x7FFF + ((u[i] >> 16) & 1)) >> 16) & 0xFFFF
    if codes[i] != want or y[i] != want << 16:
        bad += 1
        if bad <= 5: print("index %d: x=0x%08x code ours 0x%04x want 0x%04x decoded 0x%08x" % (i, u[i], codes[i], want, y[i]))
if bad: print("%d of %d values differ" % (bad, n))
sys.exit(1 if bad else 0)'

qb encode --format f32 rt.f32 rt.f32.bin
expect_rc "encode f32" 0
check "f32 encode is byte-identical" cmp -s rt.f32 rt.f32.bin
qb decode --format f32 rt.f32.bin rt.f32.back
expect_rc "decode f32" 0
check "f32 decode is byte-identical" cmp -s rt.f32 rt.f32.back

python3 - <<'EOF'
import random, struct
r = random.Random(99)
rows, cols = 7, 48
xs = []
for i in range(rows):
    scale = 10.0 ** r.uniform(-4, 3)
    row = [r.gauss(0, scale) for _ in range(cols)]
    if i == 3: row = [0.0] * cols  # an all-zero row
    if i == 5: row[7] = 40 * scale  # an outlier
    xs += row
open("i8.f32", "wb").write(struct.pack("<%df" % len(xs), *xs))
EOF
qb encode --format int8_sym_row --cols 48 i8.f32 i8.bin
expect_rc "encode int8_sym_row --cols" 0
check "int8_sym_row size = rows*(4+cols)" test "$(stat -c %s i8.bin)" -eq $((7 * (4 + 48)))
qb decode --format int8_sym_row --cols 48 i8.bin i8.back.f32
expect_rc "decode int8_sym_row --cols" 0
pycheck "int8_sym_row error within amax/254 per row" '
import struct, sys
rows, cols = 7, 48
x = struct.unpack("<%df" % (rows * cols), open("i8.f32","rb").read())
yb = open("i8.back.f32","rb").read()
if len(yb) != 4 * rows * cols: print("decoded %d bytes, expected %d" % (len(yb), 4 * rows * cols)); sys.exit(1)
y = struct.unpack("<%df" % (rows * cols), yb)
bad = 0
for r in range(rows):
    xr, yr = x[r*cols:(r+1)*cols], y[r*cols:(r+1)*cols]
    amax = max(abs(v) for v in xr)
    tol = amax / 254 * (1 + 1e-6)
    for c in range(cols):
        if not abs(xr[c] - yr[c]) <= tol:
            bad += 1
            if bad <= 5: print("row %d col %d: x=%r y=%r |err|=%g > amax/254=%g" % (r, c, xr[c], yr[c], abs(xr[c]-yr[c]), tol))
    if amax == 0 and any(v != 0 for v in yr): bad += 1; print("row %d: all-zero row decoded to non-zero" % r)
sys.exit(1 if bad else 0)'

# without --cols: one row, both ways
head -c $((48 * 4)) i8.f32 >i8row.f32
qb encode --format int8_sym_row i8row.f32 i8row.bin
expect_rc "encode int8_sym_row, one row" 0
check "int8_sym_row one row size = 4+cols" test "$(stat -c %s i8row.bin)" -eq $((4 + 48))
qb decode --format int8_sym_row i8row.bin i8row.back.f32
expect_rc "decode int8_sym_row without --cols" 0
check "decode without --cols gives one row of all values" test "$(stat -c %s i8row.back.f32)" -eq $((48 * 4))
qb decode --format int8_sym_row --cols 48 i8row.bin i8row.back2.f32
check "decode without --cols == decode with --cols for one row" cmp -s i8row.back.f32 i8row.back2.f32
qb decode --format int8_sym_row i8.bin i8.onerow.f32
expect_rc "decode a 7-row file without --cols" 0
check "decode without --cols reads the file as one row (size-4 values)" test "$(stat -c %s i8.onerow.f32)" -eq $(((7 * 52 - 4) * 4))

# ---- --json ----------------------------------------------------------------------------------
# strict JSON: reject the non-standard NaN/Infinity tokens Python would otherwise accept
STRICT='import json, sys
def strict(s): raise ValueError("non-standard JSON token " + s)
doc = json.loads(open(sys.argv[1]).read(), parse_constant=strict)'

qb errors --db "$T/json.db" --json --formats all --weights synthetic:gaussian:8x64
expect_rc "errors --json" 0
cp "$OUT" errors.json
check "errors --json parses with json.tool" python3 -m json.tool errors.json /dev/null
pycheck "errors --json shape: run UUID, rows with the metric keys, f32 sqnr_db null" "$STRICT"'
import re
bad = []
if not isinstance(doc, dict): bad.append("not an object")
elif not isinstance(doc.get("run"), str) or not re.match(sys.argv[2], doc["run"]): bad.append("run is not a UUID: %r" % doc.get("run"))
rows = doc.get("rows") if isinstance(doc, dict) else None
if not isinstance(rows, list) or not rows: bad.append("rows is not a non-empty list: %r" % rows); rows = []
for r in rows:
    for k in ("format", "bits_per_weight", "mse", "rmse", "max_abs", "sqnr_db", "cosine"):
        if k not in r: bad.append("row %r lacks %s" % (r.get("format"), k))
f32 = [r for r in rows if r.get("format") == "f32"]
if not f32: bad.append("no f32 row")
for r in f32:
    if r.get("sqnr_db", 0) is not None: bad.append("f32 sqnr_db is %r, expected null" % r.get("sqnr_db"))
for r in rows:
    if r.get("format") != "f32" and not isinstance(r.get("sqnr_db"), (int, float)): bad.append("%s sqnr_db is %r" % (r.get("format"), r.get("sqnr_db")))
print("\n".join(bad)); sys.exit(1 if bad else 0)' errors.json "$UUID_RE"
check "errors --json stdout holds only the JSON object" test "$(wc -l <errors.json)" -eq 1

qb formats --json
expect_rc "formats --json" 0
cp "$OUT" formats.json
check "formats --json parses with json.tool" python3 -m json.tool formats.json /dev/null
pycheck "formats --json rows: bits_per_weight = 8*bytes/elements" "$STRICT"'
bad = []
rows = doc.get("rows")
if not isinstance(rows, list) or not rows: print("rows is not a non-empty list"); sys.exit(1)
by = {r.get("format"): r for r in rows}
for r in rows:
    for k in ("format", "bits_per_weight", "block_elems", "block_bytes", "row_extra_bytes", "tensor_extra_bytes"):
        if k not in r: bad.append("row %r lacks %s" % (r.get("format"), k))
    if bad: continue
    cols = (4096 // r["block_elems"]) * r["block_elems"]
    nbytes = cols // r["block_elems"] * r["block_bytes"] + r["row_extra_bytes"] + r["tensor_extra_bytes"]
    want = 8.0 * nbytes / cols
    if abs(r["bits_per_weight"] - want) > 1e-12 * want: bad.append("%s bits_per_weight %r, expected %r" % (r["format"], r["bits_per_weight"], want))
for name, want in (("f32", 32.0), ("f16", 16.0), ("bf16", 16.0), ("int8_sym_row", 8 + 32 / 4096)):
    if name not in by: bad.append("no row for " + name)
    elif abs(by[name]["bits_per_weight"] - want) > 1e-12: bad.append("%s bits_per_weight %r, expected %r" % (name, by[name]["bits_per_weight"], want))
print("\n".join(bad)); sys.exit(1 if bad else 0)' formats.json
pycheck "formats --json has the architecture's top-level keys: run (null) and rows (list)" "$STRICT"'
bad = []
if "run" not in doc: bad.append("no \"run\" key (ARCHITECTURE: {\"run\": \"<uuid or null>\", \"rows\": [...]}); keys: %s" % sorted(doc))
elif doc["run"] is not None: bad.append("run is %r, expected null (formats is not a run)" % doc["run"])
if not isinstance(doc.get("rows"), list): bad.append("rows is not a list")
print("\n".join(bad)); sys.exit(1 if bad else 0)' formats.json
NFORMATS=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["rows"]))' formats.json 2>/dev/null || echo 0)

# ---- run → report ----------------------------------------------------------------------------
qb run --db "$T/run.db" --no-model --no-bench # the model step: evals/tests/test_train_cli.sh; bench: bench_cli
expect_rc "run --db" 0
check "run (stderr not a TTY): exactly one summary line on stderr" test "$(wc -l <"$ERR")" -eq 1
check "run (stderr not a TTY): no progress '\\r' on stderr" test "$(tr -cd '\r' <"$ERR" | wc -c)" -eq 0
check "run (stderr not a TTY): no terminal escapes on stderr" test "$(tr -cd '\033' <"$ERR" | wc -c)" -eq 0
check "run summary line names the database" grep -qF "run.db" "$ERR"
if command -v script >/dev/null 2>&1; then
    LAST_CMD="script -qec '$QB run --db $T/tty.db --no-model --no-bench >/dev/null' /dev/null"
    script -qec "$(printf '%q ' "$QB" run --db "$T/tty.db" --no-model --no-bench) >/dev/null" /dev/null >tty.out 2>&1 </dev/null
    RC=$?
    : >"$ERR"
    check "run on a TTY shows '\\r' progress lines" test "$(tr -cd '\r' <tty.out | wc -c)" -gt 1
fi

qb run --db "$T/run2.db" --json --no-model --no-bench
expect_rc "run --json" 0
cp "$OUT" run.json
RUN_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["run"])' run.json 2>/dev/null || echo none)
check "run --json gives the run id" grep -qE "$UUID_RE" <<<"$RUN_ID"

qb report --db "$T/run2.db" --out "$T/rep"
expect_rc "report --db --out" 0
for f in index.html index.md errors.csv; do
    check "report wrote $f" test -s "$T/rep/$f"
done
check "formats --json listed formats" test "$NFORMATS" -gt 0
check "errors.csv has 1 header + formats x 5 sources lines ($NFORMATS x 5)" test "$(wc -l <"$T/rep/errors.csv")" -eq $((1 + NFORMATS * 5))
check "index.html names the run" grep -qF "$RUN_ID" "$T/rep/index.html"

qb report --db "$T/run2.db" --out "$T/rep2" --json
expect_rc "report --json" 0
cp "$OUT" report.json
check "report --json parses with json.tool" python3 -m json.tool report.json /dev/null
pycheck "report --json names the run it rendered" "$STRICT"'
ok = isinstance(doc, dict) and doc.get("run") == sys.argv[2]
if not ok: print("run is %r, expected %r" % (doc.get("run") if isinstance(doc, dict) else doc, sys.argv[2]))
sys.exit(0 if ok else 1)' report.json "$RUN_ID"
pycheck "report --json has the architecture's rows list" "$STRICT"'
rows = doc.get("rows")
if not isinstance(rows, list): print("rows is %r (%s), ARCHITECTURE says --json prints {\"run\": ..., \"rows\": [ ... ]}" % (rows, type(rows).__name__)); sys.exit(1)' report.json

bad "report of an unknown run" 2 report --db "$T/run2.db" --run ffffffff --out "$T/rep3"
expect_err_has "report of an unknown run names it" "ffffffff"

# ---- model files: quantize, inspect, errors --weights MODEL ---------------------------------
if [ -n "$GT" ] && [ -x "$GT" ]; then
    run "$GT" llama "$T/m.gguf" 2 256 512 4 2 300 f16
    check "gguf_tool makes a model" test "$RC" -eq 0
    qb inspect "$T/m.gguf"
    expect_rc "inspect" 0
    check "inspect names the architecture and layers" grep -q 'llama, 2 layers, 21 tensors' "$OUT"
    qb inspect "$T/m.gguf" --json
    cp "$OUT" inspect.json
    pycheck "inspect --json: every tensor with type and bits/weight" "$STRICT"'
rows = doc["rows"]
ok = len(rows) == 21 and all(r["type"] in ("F16", "F32") and r["bits_per_weight"] in (16.0, 32.0) for r in rows)
if not ok: print(rows[:3])
sys.exit(0 if ok else 1)' inspect.json

    qb quantize "$T/m.gguf" "$T/q.gguf" Q4_K_M --threads 2
    expect_rc "quantize Q4_K_M" 0
    check "quantize prints the totals" grep -qE 'bits per weight; [0-9]+ tensors quantized, [0-9]+ copied' "$OUT"
    qb inspect "$T/q.gguf"
    check "the quantized file has Q4_K and Q6_K tensors" grep -qE '^Q4_K ' "$OUT"
    bad "quantize to an unknown type" 2 quantize "$T/m.gguf" "$T/x.gguf" Q4_K_X
    expect_err_has "unknown type lists the valid ones" "Q4_K_M"
    bad "quantize to a format without a GGUF type" 2 quantize "$T/m.gguf" "$T/x.gguf" int8_sym_row
    expect_err_has "quantize explains the GGUF type" "no GGUF type"
    bad "quantize a missing file" 4 quantize "$T/nope.gguf" "$T/x.gguf" Q8_0
    head -c 1000 "$T/m.gguf" >"$T/trunc.gguf"
    bad "quantize a truncated GGUF" 4 quantize "$T/trunc.gguf" "$T/x.gguf" Q8_0
    expect_err_has "truncated GGUF is named" "trunc.gguf"
    check "a failed quantize leaves no output file" test ! -e "$T/x.gguf"
    check "and no temporary file" sh -c "! ls '$T'/x.gguf.tmp.* >/dev/null 2>&1"
    bad "inspect a file that is not a model" 4 inspect "$T/trunc.gguf"

    qb errors --db "$T/m.db" --weights "$T/m.gguf" --type Q4_K_M --formats q8_0 --json
    expect_rc "errors on a model" 0
    cp "$OUT" merr.json
    pycheck "errors on a model: a row per tensor and scheme plus totals" "$STRICT"'
rows = doc["rows"]
tot = [r for r in rows if r["tensor"] == "(total)"]
per = [r for r in rows if r["tensor"] != "(total)"]
# 2 layers x 7 matrices + token_embd + output = 16 quantizable tensors, 2 schemes
ok = len(per) == 32 and len(tot) == 2 and {r["format"] for r in tot} == {"Q4_K_M", "q8_0"}
ok = ok and all(r["tensor_format"] in ("q4_K", "q6_K") for r in per if r["format"] == "Q4_K_M")
ok = ok and all(r["p50_abs"] <= r["p99_abs"] <= r["max_abs"] * 1.05 for r in per)
if not ok: print(len(per), len(tot), tot)
sys.exit(0 if ok else 1)' merr.json
    bad "a file type needs a model" 2 errors --db "$T/m.db" --weights synthetic:gaussian --type Q4_K_M
    expect_err_has "file type on synthetic data is explained" "needs a model file"
else
    echo "note: no gguf_tool given; model-file checks not run"
fi

finish
