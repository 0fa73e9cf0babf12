#!/usr/bin/env bash
# test_report_browser.sh — `quantbench report` end to end on real runs, then the page in a real
# browser:
#   - a database from real commands: `errors` on a generated llama model (per-tensor rows:
#     heat map), `run --model --quick` of two formats (the model-run table and plots), then
#     `eval` of three formats (Pareto plots, guide), two `bench --quick` runs (bars,
#     roofline, a trend over two runs);
#   - the default report picks the newest run of each kind; every plot exists as .dat, .gp,
#     .svg and .png; --json lists the files;
#   - the model-run table (model_RUN.csv) against the database, recomputed here: ΔPPL, tg as a
#     fraction of the stored bound, tg vs the reference, peak memory, the verdicts by the
#     thresholds;
#   - the selection guide against the database, recomputed here: sizes = params x bits / 8,
#     speed = f16's median gemv ns / the format's, f32 the reference; the Pareto front in
#     the ΔPPL data is exactly the non-dominated points;
#   - repeated --run reports exactly the runs named; a bad --run fails naming it;
#   - browser_check.py in headless Chromium: the page is not blank, every plot renders, no
#     network request; and two pages broken on purpose (a network image and a missing file;
#     a blank page) must be caught, so the checks can fail.
# Chromium missing: skip (77) unless QB_REQUIRE_ORACLES=1; the report checks still run first.
# Args: quantbench gguf_tool [python]
. "$(dirname "$0")/../../cli/tests/lib.sh" "$@"
PY=${3:-python3}
CHECK=$(cd "$(dirname "$0")" && pwd)/browser_check.py
[ -n "$GT" ] && [ -x "$GT" ] || { echo "usage: $0 quantbench gguf_tool [python]" >&2; exit 1; }

"$GT" llama m.gguf 2 64 128 4 2 256 f32 >/dev/null || { echo "gguf_tool failed"; exit 1; }
python3 -c 'import random
r = random.Random(5)
print("\n".join(str((i * 7 + r.randrange(5)) % 256) for i in range(300)))' >ids.txt
DB=$T/r.db

qb --db "$DB" errors --weights m.gguf --type Q8_0,Q4_0
expect_rc "errors on the model" 0
qb --db "$DB" run --model m.gguf --tokens ids.txt --formats q8_0,q4_0 --ctx 64 --chunks 2 --threads 1 --quick --no-report
expect_rc "run --model" 0
qb --db "$DB" eval --model m.gguf --tokens ids.txt --formats f32,q8_0,q4_0 --ctx 64 --chunks 2 --threads 1
expect_rc "eval" 0
for i in 1 2; do
    qb --db "$DB" bench --quick --formats f32,f16,q8_0,q4_0 --threads 1
    expect_rc "bench --quick $i" 0
done

qb --db "$DB" --json report --out rep
expect_rc "report (default runs)" 0
cp "$OUT" report.json
pycheck "default report = newest errors, eval and bench runs; --json lists every file, all present" '
import json, os, sqlite3, sys
doc = json.load(open(sys.argv[1])); db = sqlite3.connect(sys.argv[2])
want = [db.execute("SELECT id FROM runs WHERE command = ? ORDER BY started_at DESC, rowid DESC LIMIT 1", (c,)).fetchone()[0]
        for c in ("errors", "eval", "bench")]
model = db.execute("SELECT DISTINCT run_id FROM model_speed").fetchall()
assert len(model) == 1, model
want.insert(2, model[0][0])  # errors, eval, model run, bench (report.c invariant 1)
assert doc["runs"] == want, (doc["runs"], want)
files = [r["file"] for r in doc["rows"]]
assert all(os.path.getsize(os.path.join("rep", f)) > 0 for f in files), files
b, e, m = want[3][:8], want[1][:8], want[2][:8]
for stem in ["sqnr_vs_bits", "evals_dppl_" + e, "evals_kld_" + e, "bench_gemv_" + b, "bench_gemm_" + b,
             "roofline_" + b, "trend_gemv_" + b, "heatmap_m_gguf_Q4_0", "evals_dppl_" + m,
             "model_%s_tradeoff" % m, "model_%s_pp" % m, "model_%s_tg" % m]:
    for ext in ("dat", "gp", "svg", "png"):
        assert stem + "." + ext in files, stem + "." + ext + " missing"
for csv in ["errors.csv", "guide.csv", "evals_%s.csv" % e, "bench_%s.csv" % b, "limits_%s.csv" % b,
            "model_%s.csv" % m, "model_speed_%s.csv" % m, "evals_%s.csv" % m]:
    assert csv in files, csv
' report.json "$DB"

pycheck "model-run table: ΔPPL, tg / bound, tg vs the reference, peak memory and verdicts agree with the database" '
import csv, math, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
run = db.execute("SELECT DISTINCT run_id FROM model_speed").fetchone()[0]
rows = list(csv.DictReader(open("rep/model_%s.csv" % run[:8])))
assert [r["format"] for r in rows] == ["f32", "q8_0", "q4_0"], [r["format"] for r in rows]
ev = {f: (ratio, kld, rss, f == ref) for f, ratio, kld, rss, ref in db.execute(
    "SELECT format, ppl_ratio, kld_mean, rss_peak_bytes, ref_format FROM evals WHERE run_id = ?", (run,))}
sp = {(f, t[:2]): (tps, bound, rss) for f, t, tps, bound, rss in db.execute(
    "SELECT format, test, tps_mean, bound_tps, rss_peak_bytes FROM model_speed WHERE run_id = ?", (run,))}
def tier(f):
    ratio, kld, _, ref = ev[f]
    d = 100 * (ratio - 1)
    if ref: return "reference"
    for name, dmax, kmax in (("near-lossless", 0.5, 0.005), ("balanced", 3, 0.05), ("usable", 10, 0.15)):
        if d <= dmax and kld <= kmax: return name
    return "not recommended"
usable = [r for r in rows if tier(r["format"]) in ("near-lossless", "balanced", "usable")]
smallest = min(usable, key=lambda r: (float(r["bits_per_weight"]), ev[r["format"]][1]))["format"] if usable else None
for r in rows:
    f = r["format"]
    ratio, kld, rss_eval, _ = ev[f]
    tg, bound, rss_tg = sp[(f, "tg")]
    assert abs(float(r["dppl_pct"]) - 100 * (ratio - 1)) <= 1e-6 * max(1, abs(100 * (ratio - 1))), (f, r["dppl_pct"], ratio)
    assert abs(float(r["tg_fraction_of_bound"]) - tg / bound) <= 1e-6 * tg / bound, (f, r["tg_fraction_of_bound"], tg, bound)
    assert abs(float(r["tg_vs_base"]) - tg / sp[("f32", "tg")][0]) <= 1e-6 * float(r["tg_vs_base"]), (f, r["tg_vs_base"])
    assert r["base_format"] == "f32", r["base_format"]
    peak = max(v for v in (rss_eval, rss_tg, sp[(f, "pp")][2]) if v)
    assert int(r["rss_peak_bytes"]) == peak, (f, r["rss_peak_bytes"], peak)
    t = tier(f)
    want = t if f != smallest else {"near-lossless": "near-lossless; smallest usable", "balanced": "balanced; smallest usable"}.get(t, "smallest usable")
    assert r["verdict"] == want, (f, r["verdict"], want)
' "$DB"

pycheck "selection guide: sizes, ΔPPL, KLD and speed vs f16 agree with the database" '
import csv, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = {r["format"]: r for r in csv.DictReader(open("rep/guide.csv"))}
assert sorted(rows) == ["f32", "q4_0", "q8_0"], sorted(rows)
ev = {f: (b, r, k) for f, b, r, k in db.execute("SELECT format, bits_per_weight, ppl_ratio, kld_mean FROM evals WHERE run_id ="
                                                 " (SELECT id FROM runs WHERE command = \"eval\")")}
bench = db.execute("SELECT id FROM runs WHERE command = \"bench\" ORDER BY started_at DESC, rowid DESC LIMIT 1").fetchone()[0]
shape, thr = db.execute("SELECT shape, threads FROM bench_cases WHERE run_id = ? AND op = \"gemv\" ORDER BY threads DESC,"
                        " json_extract(config, \"$.working_set_bytes\") DESC LIMIT 1", (bench,)).fetchone()
ns = {}
for f, t in db.execute("SELECT format, json_extract(config, \"$.median_ns\") FROM bench_cases WHERE run_id = ? AND op = \"gemv\""
                       " AND shape = ? AND threads = ? AND json_extract(config, \"$.median_ns\") > 0", (bench, shape, thr)):
    ns[f] = min(ns.get(f, t), t)
for f, r in rows.items():
    bpw, ratio, kld = ev[f]
    assert abs(float(r["bits/weight"]) - bpw) <= 1e-8 * bpw, (f, r["bits/weight"], bpw)
    for p, col in ((1, "1B GB"), (7, "7B GB"), (13, "13B GB"), (70, "70B GB")):
        assert abs(float(r[col]) - p * bpw / 8) <= 1e-6 * p * bpw, (f, col, r[col])
    assert abs(float(r["ΔPPL %"]) - 100 * (ratio - 1)) <= 1e-7 + 1e-6 * abs(100 * (ratio - 1)), (f, r["ΔPPL %"], ratio)
    assert abs(float(r["KLD"]) - kld) <= 1e-12 + 1e-6 * kld, (f, r["KLD"], kld)
    sp = float(r["speed vs f16 (CPU)"])
    assert abs(sp - ns["f16"] / ns[f]) <= 1e-5 * sp, (f, sp, ns["f16"] / ns[f])
assert rows["f32"]["recommendation"] == "reference", rows["f32"]
assert all(rows[f]["recommendation"] for f in ("q8_0", "q4_0")), rows
flags = db.execute("SELECT cpu_flags FROM machines").fetchone()[0].split()
hw = rows["q8_0"]["hardware support here"]
assert ("AVX2" in hw.split(", ")) == ("avx2" in flags), (hw, flags)
assert ("AVX-512 VNNI" in hw) == ("avx512_vnni" in flags), (hw, flags)
assert rows["f32"]["hardware support here"] == "every CPU and GPU", rows["f32"]
' "$DB"

pycheck "ΔPPL plot: block 1 (the Pareto front) is exactly the non-dominated points of block 0" '
import glob
text = open(glob.glob("rep/evals_dppl_*.dat")[0]).read()
blocks = [[l.split() for l in b.strip().splitlines() if l and not l.startswith("#")] for b in text.split("\n\n\n")]
pts = [(float(r[0]), float(r[1]), r[3]) for r in blocks[0]]
front = sorted((float(r[0]), float(r[1]), r[3]) for r in blocks[1])
want = sorted(p for p in pts if not any(q[0] <= p[0] and q[1] <= p[1] and (q[0] < p[0] or q[1] < p[1]) for q in pts))
assert front == want, (front, want)
assert len(pts) == 3, pts
'

pycheck "heat map data: one cell per layer (2 blocks + other) and role, SQNR of the per-tensor rows" '
import sqlite3, sys, math
db = sqlite3.connect(sys.argv[1])
cells = [l.split() for l in open("rep/heatmap_m_gguf_Q4_0.dat") if l.strip() and not l.startswith("#")]
xs = sorted({int(c[0]) for c in cells}); assert xs == [0, 1, 2], xs
vals = sorted(float(c[2]) for c in cells if not math.isnan(float(c[2])))
want = sorted(s for (s,) in db.execute("SELECT sqnr_db FROM tensor_errors WHERE format = \"Q4_0\" AND tensor <> \"(total)\""
                                       " AND sqnr_db < 1e308"))
assert len(vals) == len(want) and all(abs(a - b) <= 1e-5 * abs(b) for a, b in zip(vals, want)), (vals, want)
' "$DB"

EVAL=$(sql "$DB" "SELECT id FROM runs WHERE command = 'eval'")
BENCH1=$(sql "$DB" "SELECT id FROM runs WHERE command = 'bench' ORDER BY started_at, rowid LIMIT 1")
qb --db "$DB" --json report --run "${EVAL:0:8}" --run "$BENCH1" --out rep2
expect_rc "report --run --run" 0
pycheck "repeated --run reports exactly those runs, in order; the first bench run has no trend yet" '
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["runs"] == [sys.argv[2], sys.argv[3]], doc["runs"]
files = [r["file"] for r in doc["rows"]]
assert not any(f.startswith("sqnr_vs_bits") or f == "errors.csv" for f in files), files
assert not any(f.startswith("trend_gemv") for f in files), files
' "$OUT" "$EVAL" "$BENCH1"
check "the first bench run notes its trend needs two runs" grep -q "a trend needs two" rep2/index.md
bad "report of an unknown run" 2 report --db "$DB" --run 0000dead --out rep3
expect_err_has "unknown run is named" "0000dead"

# ---- the browser ----
"$PY" "$CHECK" rep >browser.txt 2>&1
BRC=$?
cat browser.txt
if [ "$BRC" -eq 77 ]; then
    if [ "${QB_REQUIRE_ORACLES:-}" = 1 ]; then fail "chromium required (QB_REQUIRE_ORACLES=1) but not installed"; finish; fi
    echo "SKIP: chromium not installed: the browser checks did not run ($PASS report checks passed)"
    exit 77
fi
LAST_CMD="browser_check.py rep"; RC=$BRC
expect_rc "the report renders in Chromium: not blank, plots drawn, no network" 0

mkdir broken blank
cp rep/*.svg broken/ 2>/dev/null
sed 's|</body>|<img src="http://198.51.100.7/x.png" alt="net"><img src="missing.png" alt="missing"></body>|' rep/index.html >broken/index.html
"$PY" "$CHECK" broken --expect-fail >broken.txt 2>&1
LAST_CMD="browser_check.py broken --expect-fail"; RC=$?
expect_rc "negative control: a broken page is caught" 0
check "broken page: the network image is caught by the static check" grep -q "^static: <img src='http://198.51.100.7/x.png'> points outside" broken.txt
check "broken page: the browser tried the network (net log)" grep -q "^net log: request to http://198.51.100.7/x.png" broken.txt
check "broken page: the missing image did not decode" grep -q "^browser: img not decoded: missing.png" broken.txt
printf '<!DOCTYPE html><html><head><meta charset="utf-8"><title>x</title></head><body></body></html>\n' >blank/index.html
"$PY" "$CHECK" blank --expect-fail >blank.txt 2>&1
LAST_CMD="browser_check.py blank --expect-fail"; RC=$?
expect_rc "negative control: a blank page is caught" 0
check "blank page: the screenshot is blank" grep -q "^screenshot: the page looks blank" blank.txt
finish
