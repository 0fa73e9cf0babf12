#!/usr/bin/env bash
# test_bench_cli.sh — `quantbench bench` black-box: a --quick run stores its cases, every
# sample and the limits in a fresh database and prints the table; --json parses and agrees
# with the database; bad options exit 2 with one line naming the problem and create no
# database; --help works. Plumbing only: no figure is asserted (speed is measured, never
# tested).
#
# Usage: bash bench/tests/test_bench_cli.sh /abs/path/to/quantbench
set -u
. "$(dirname "$0")/../../cli/tests/lib.sh" "$@"

qb bench --help
expect_rc "bench --help" 0
check "bench --help: usage on stdout" grep -q '^Usage: quantbench bench' "$OUT"
expect_err_empty "bench --help"
qb --help
check "quantbench --help lists bench" grep -qE '^  bench ' "$OUT"

# ---- usage errors: exit 2, one line, nothing created -------------------------------------
bad "unknown op" 2 bench --db "$T/u.db" --ops gemv,frob --quick
expect_err_has "unknown op" "frob"
bad "unknown format" 2 bench --db "$T/u.db" --formats q4_0,f17 --quick
expect_err_has "unknown format" "f17"
bad "threads zero" 2 bench --db "$T/u.db" --threads 0 --quick
expect_err_has "threads zero" "--threads"
bad "threads not a number" 2 bench --db "$T/u.db" --threads 1,x --quick
expect_err_has "threads not a number" "'x'"
bad "too few samples" 2 bench --db "$T/u.db" --samples 5 --quick
expect_err_has "too few samples" "--samples"
bad "unknown option" 2 bench --db "$T/u.db" --bogus
expect_err_has "unknown option" "--bogus"
bad "stray argument" 2 bench --db "$T/u.db" --quick extra
expect_err_has "stray argument" "extra"
check "usage errors create no database" test ! -e "$T/u.db"

# ---- a quick run -------------------------------------------------------------------------
DB=$T/b.db
qb bench --db "$DB" --quick --ops quantize,dequantize,gemv,gemm --formats q4_0,f32,bf16,fp8_e4m3_pt --threads 1,2
expect_rc "bench --quick" 0
check "table header with the fraction column" grep -q 'fraction of limit' "$OUT"
check "a row per op" sh -c "grep -q '^quantize ' '$OUT' && grep -q '^dequantize ' '$OUT' && grep -q '^gemv ' '$OUT' && grep -q '^gemv_latency ' '$OUT' && grep -q '^gemm ' '$OUT'"
check "limits table printed" grep -q 'Limits measured in this run' "$OUT"
check "memory table: q4_0 is 18/32 bytes per weight, 3.94 GB at 7B" grep -qE '^q4_0 +0\.5625 +0\.56 +3\.94 +7\.31 +39\.38 ' "$OUT"
RUN=$(sql "$DB" "SELECT id FROM runs WHERE command='bench'")
check "one complete bench run" test "$(sql "$DB" "SELECT status FROM runs WHERE command='bench'")" = complete
pycheck "the largest level's read and copy measured again after every operation, as end_ limits" '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1]); run = sys.argv[2]
end = sorted(c.execute("SELECT kind, threads FROM limits WHERE run_id=? AND kind LIKE \"end_%\"", (run,)))
assert end == [("end_copy_bw_L2", 1), ("end_copy_bw_L2", 2), ("end_read_bw_L2", 1), ("end_read_bw_L2", 2)], end
for kind, t in end:
    assert c.execute("SELECT count(*) FROM limits WHERE run_id=? AND kind=? AND threads=?", (run, kind[4:], t)).fetchone()[0] == 1, kind
last = [r[0] for r in c.execute("SELECT backend FROM bench_cases WHERE run_id=? ORDER BY rowid", (run,))][-4:]
assert last == ["stream_end"] * 4, last
' "$DB" "$RUN"
pycheck "database holds cases, samples and limits" '
import sqlite3, sys, json
c = sqlite3.connect(sys.argv[1]); run = sys.argv[2]
cfg = json.loads(c.execute("SELECT config FROM runs WHERE id=?", (run,)).fetchone()[0])
for k in ("governor", "boost", "loadavg", "ftz", "daz", "pinned", "threads"): assert k in cfg, k
assert cfg["threads"] == [1, 2], cfg["threads"]
ops = {r[0] for r in c.execute("SELECT DISTINCT op FROM bench_cases WHERE run_id=?", (run,))}
want = {"read", "copy", "triad", "fma", "sgemm_peak", "quantize", "dequantize", "gemv", "gemv_latency", "gemm"}
assert want <= ops, want - ops
fmts = {r[0] for r in c.execute("SELECT DISTINCT format FROM bench_cases WHERE run_id=? AND format IS NOT NULL", (run,))}
assert fmts == {"q4_0", "f32", "bf16", "fp8_e4m3_pt"}, fmts
bad = []
for cid, op, cfgs in c.execute("SELECT id, op, config FROM bench_cases WHERE run_id=?", (run,)):
    k = json.loads(cfgs)
    n = c.execute("SELECT count(*), min(ns), min(iters) FROM bench_samples WHERE case_id=?", (cid,)).fetchone()
    if "skipped" in k:
        assert n[0] == 0, (op, "skipped case with samples"); continue
    assert "error" not in k, (op, k.get("error"))
    need = 200 if op == "gemv_latency" else 10
    if n[0] < need or n[1] <= 0 or n[2] < 1: bad.append((op, n))
    assert k["level"] in ("L1", "L2", "L3", "DRAM"), k
    assert k["peak_rss_bytes"] > 0 and k["samples"] == n[0] and k["median_ns"] > 0, k
    meds = sorted(r[0] / r[1] for r in c.execute("SELECT ns, iters FROM bench_samples WHERE case_id=?", (cid,)))
    m = len(meds); med = (meds[(m - 1) // 2] + meds[m // 2]) / 2
    assert abs(med - k["median_ns"]) <= 1e-9 * med, (op, med, k["median_ns"])
assert not bad, bad
lim = {(r[0], r[1]) for r in c.execute("SELECT kind, threads FROM limits WHERE run_id=?", (run,))}
for t in (1, 2):
    for kind in ("read_bw_L1", "copy_bw_L2", "triad_bw_L1", "fma_peak", "sgemm_peak"): assert (kind, t) in lim, (kind, t)
assert ("l3_bytes", 1) in lim
# every fraction stored is the case figure over the stored limit of its thread count
for op, thr, cfgs in c.execute("SELECT op, threads, config FROM bench_cases WHERE run_id=? AND op IN (\"dequantize\", \"gemm\")", (run,)):
    k = json.loads(cfgs)
    if "skipped" in k: continue
    v = c.execute("SELECT value FROM limits WHERE run_id=? AND kind=? AND threads=?", (run, k["limit_kind"], thr)).fetchone()
    fig = k["gbps"] if op == "dequantize" else k["gflops"]
    assert v and abs(fig / (v[0] * 1e-9) - k["fraction_of_limit"]) < 1e-9 * k["fraction_of_limit"], (op, k)
' "$DB" "$RUN"

# ---- a killed run stays 'incomplete' with every case it completed ---------------------------
KDB=$T/k.db
"$QB" bench --db "$KDB" --quick --formats all --threads 1,2 >/dev/null 2>&1 &
KPID=$!
for _ in $(seq 1 100); do # until a few format cases are stored (10 s at most)
    sleep 0.1
    [ -e "$KDB" ] && [ "$(sql "$KDB" "SELECT count(*) FROM bench_cases WHERE format IS NOT NULL" 2>/dev/null || echo 0)" -gt 3 ] && break
done
kill -9 "$KPID" 2>/dev/null
wait "$KPID" 2>/dev/null
qb bench --db "$KDB" --quick --ops dequantize --formats f16 --threads 1 # opening the database marks the dead run
expect_rc "a bench after a killed one" 0
pycheck "killed run: incomplete, its cases whole" '
import sqlite3, sys, json
c = sqlite3.connect(sys.argv[1])
runs = c.execute("SELECT id, status FROM runs WHERE command=\"bench\" ORDER BY started_at").fetchall()
assert len(runs) == 2 and runs[0][1] == "incomplete" and runs[1][1] == "complete", runs
n = 0
for cid, op, cfg in c.execute("SELECT id, op, config FROM bench_cases WHERE run_id=?", (runs[0][0],)):
    k = json.loads(cfg); n += 1
    got = c.execute("SELECT count(*) FROM bench_samples WHERE case_id=?", (cid,)).fetchone()[0]
    assert got == k.get("samples", 0), (op, got, k.get("samples"))
assert n > 3, n
' "$KDB"

# ---- cache flush between samples, unpinned threads: plumbing and what the run records --------
FDB=$T/f.db
qb bench --db "$FDB" --quick --flush-cache --no-pin --ops dequantize --formats q8_0 --threads 1
expect_rc "bench --flush-cache --no-pin" 0
pycheck "run config records flush and pinning" '
import sqlite3, sys, json
c = sqlite3.connect(sys.argv[1])
cfg = json.loads(c.execute("SELECT config FROM runs").fetchone()[0])
assert cfg["flush_cache"] == 1 and cfg["pinned"] == 0 and cfg["threads"] == [1], cfg
n = c.execute("SELECT count(*) FROM bench_cases WHERE op=\"dequantize\" AND format=\"q8_0\"").fetchone()[0]
assert n == 1, n
' "$FDB"

# ---- --json ------------------------------------------------------------------------------------
qb bench --db "$DB" --quick --json --ops dequantize,gemv --formats q8_0 --threads 1
expect_rc "bench --json" 0
pycheck "--json parses, its rows are the stored cases" '
import json, sqlite3, sys
d = json.load(open(sys.argv[1]))
c = sqlite3.connect(sys.argv[2])
assert set(d) >= {"run", "rows", "limits", "memory", "targets"}, set(d)
ids = {r[0] for r in c.execute("SELECT id FROM bench_cases WHERE run_id=?", (d["run"],))}
assert {r["case_id"] for r in d["rows"]} == ids and len(ids) == len(d["rows"]), "rows vs database"
ops = {r["op"] for r in d["rows"]}
assert {"dequantize", "gemv", "gemv_latency", "read"} <= ops and "gemm" not in ops, ops
lat = [r for r in d["rows"] if r["op"] == "gemv_latency"][0]
assert lat["samples"] >= 200 and lat["p50_ns"] <= lat["p90_ns"] <= lat["p99_ns"], lat
m = d["memory"][0]
assert m["format"] == "q8_0" and m["bytes_per_weight"] == 34 / 32 and m["model_bytes_7B"] == 7e9 * 34 / 32, m
' "$OUT" "$DB"

# ---- quantize: the fast path beside the scalar reference, and the speedup target --------------
qb bench --db "$DB" --quick --json --ops quantize --formats q4_K,f32 --threads 1,2
expect_rc "bench --ops quantize" 0
pycheck "a reference case (one thread) for q4_K, none for f32, its samples paired with the fast path; the speedup is their ratio" '
import json, sys
d = json.load(open(sys.argv[1]))
q = [r for r in d["rows"] if r["op"] == "quantize"]
ref = [r for r in q if r["backend"] == "reference"]
assert [(r["format"], r["threads"], r["impl"]) for r in ref] == [("q4_K", 1, "ref")], ref
fast = [r for r in q if r["backend"] == "registry" and r["format"] == "q4_K" and r["threads"] == 1 and r["level"] == ref[0]["level"]]
assert len(fast) == 1 and fast[0]["impl"] != "ref", fast
t = [t for t in d["targets"] if t["target"].startswith("quantize")]
assert len(t) == 1 and t[0]["format"] == "q4_K" and t[0]["fraction_of_limit"] is None and t[0]["paired_fraction"] is None, t
assert ref[0]["pair_gbps"] > 0 and abs(ref[0]["paired_fraction"] - ref[0]["gbps"] / ref[0]["pair_gbps"]) <= 1e-9, ref
assert fast[0]["pair_gbps"] is None, fast
want = ref[0]["pair_gbps"] / ref[0]["gbps"]
assert abs(t[0]["speedup"] - want) <= 1e-9 * want, (t, want)
assert t[0]["verdict"] == ("met" if want >= 10 else "MISSED"), t
' "$OUT"

# ---- --rounds: each case's samples from R processes, one case row each --------------------------
qb bench --db "$T/r.db" --quick --json --rounds 3 --samples 10 --ops dequantize,gemv --formats q8_0,q4_0 --threads 1
expect_rc "bench --rounds 3" 0
pycheck "--rounds 3: ceil(10/3) = 4 samples per round, 12 in all; limits 3 × 10 each; latency 3 × 67; rows = cases" '
import json, sqlite3, sys
d = json.load(open(sys.argv[1]))
c = sqlite3.connect(sys.argv[2])
assert json.loads(c.execute("SELECT config FROM runs WHERE id=?", (d["run"],)).fetchone()[0])["rounds"] == 3
ids = [r["case_id"] for r in d["rows"]]
assert len(ids) == len(set(ids)) == c.execute("SELECT count(*) FROM bench_cases WHERE run_id=?", (d["run"],)).fetchone()[0], "one row per case"
for cid, op, cfg in c.execute("SELECT id, op, config FROM bench_cases WHERE run_id=?", (d["run"],)):
    k = json.loads(cfg)
    n = c.execute("SELECT count(*), count(DISTINCT idx), min(idx), max(idx) FROM bench_samples WHERE case_id=?", (cid,)).fetchone()
    want = {"gemv_latency": 201, "read": 30, "copy": 30, "triad": 30, "fma": 30, "sgemm_peak": 12}.get(op, 12)
    assert n == (want, want, 0, want - 1) and k["samples"] == want and k["rounds"] == 3, (op, n, k.get("rounds"))
' "$OUT" "$T/r.db"
bad "rounds zero" 2 bench --db "$T/u.db" --rounds 0 --quick
expect_err_has "rounds zero" "--rounds"

finish
