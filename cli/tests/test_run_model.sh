#!/usr/bin/env bash
# test_run_model.sh — `quantbench run --model`, the main job, end to end on a generated llama
# model (gguf_tool: 2 layers, dim 256, FFN 512, 4/2 heads, vocabulary 300 with a byte-level
# tokenizer, f16):
#   - one run (suite 'model') holds an evals row and a pp and a tg model_speed row per format,
#     the reference (f16, as stored) included; --json rows equal the database rows;
#   - speed statistics are consistent (n = --reps, min ≤ mean ≤ max, sd ≥ 0) and the tg bound
#     is the read bandwidth (probed beside each repetition: the same kernel as the run's stored
#     limit, so within a factor 4 of it on a machine whose bandwidth moves 2x) over the bytes a
#     token reads, which is checked against a count made here from the shapes and the formats'
#     block sizes;
#   - accuracy: the reference at KLD 0 and ΔPPL 0, Q4_K_M further from it than q8_0;
#   - the text table has every column and the verdicts; the report shows the model section;
#   - bad input: a missing model, an unknown format, --device cuda, --quick's note.
# Usage: bash test_run_model.sh /abs/path/to/quantbench /abs/path/to/gguf_tool
. "$(dirname "$0")/lib.sh" "$@"
[ -n "$GT" ] || { echo "usage: bash $0 QUANTBENCH GGUF_TOOL" >&2; exit 1; }

TEXT=/usr/share/common-licenses/GPL-3
[ -f "$TEXT" ] || { echo "SKIP: $TEXT is missing"; exit 77; }
run "$GT" llama m.gguf 2 256 512 4 2 300 f16
expect_rc "generate the model" 0

# ---- one run, as JSON -------------------------------------------------------------------------
qb run --db r.db --model m.gguf --text "$TEXT" --formats q8_0,Q4_K_M --ctx 64 --chunks 3 --reps 2 --threads 2 --json \
    --report rep
expect_rc "run --model --json" 0
cp "$OUT" run.json
pycheck "one run of suite 'model': an evals row and pp/tg rows per format, the reference included; JSON equals the database" '
import json, sqlite3, sys
o = json.load(open("run.json"))
db = sqlite3.connect("r.db")
run = o["run"]
assert db.execute("SELECT suite, status FROM runs WHERE id = ?", (run,)).fetchone() == ("model", "complete")
rows = {r["format"]: r for r in o["rows"]}
assert set(rows) == {"f16", "q8_0", "Q4_K_M"}, sorted(rows)
ev = {f: (p, k) for f, p, k in db.execute("SELECT format, ppl, kld_mean FROM evals WHERE run_id = ?", (run,))}
assert set(ev) == set(rows), ev
sp = {(f, t): (m, n) for f, t, m, n in db.execute("SELECT format, test, tps_mean, reps FROM model_speed WHERE run_id = ?", (run,))}
assert set(sp) == {(f, t) for f in rows for t in ("pp512", "tg128")}, sorted(sp)
for f, r in rows.items():
    assert abs(r["ppl"] - ev[f][0]) <= 1e-9 * ev[f][0] and abs(r["kld_mean"] - ev[f][1]) <= 1e-12 + 1e-9 * ev[f][1], (f, r, ev[f])
    assert abs(r["pp_tps"]["mean"] - sp[(f, "pp512")][0]) <= 1e-9 * r["pp_tps"]["mean"], f
    assert abs(r["tg_tps"]["mean"] - sp[(f, "tg128")][0]) <= 1e-9 * r["tg_tps"]["mean"], f
    assert sp[(f, "tg128")][1] == 2
'
pycheck "speed statistics: n = reps, min <= mean <= max, sd >= 0; ttft; peak memory at least the weights" '
import json
o = json.load(open("run.json"))
for r in o["rows"]:
    for k in ("pp_tps", "tg_tps", "ttft_s"):
        s = r[k]
        assert s["n"] == 2 and s["min"] <= s["mean"] * (1 + 1e-12) and s["mean"] <= s["max"] * (1 + 1e-12) and s["sd"] >= 0, (r["format"], k, s)
    assert r["n_prompt"] == 512 and r["n_gen"] == 128 and r["reps"] == 2, r
    assert r["peak_rss_bytes"] >= r["model_bytes"] > 0, r
    assert r["tg_tps"]["mean"] > 0 and r["pp_tps"]["mean"] > 0
'
pycheck "tg bound = read bandwidth (probed; near the run's stored limit) / bytes per token, counted here from the shapes" '
import json, sqlite3
o = json.load(open("run.json"))
db = sqlite3.connect("r.db")
bw = db.execute("SELECT value FROM limits WHERE run_id = ? AND kind = ? AND threads = 2", (o["run"], "read_bw_DRAM")).fetchone()[0]
L, dim, ff, heads, kvh, vocab, n_gen = 2, 256, 512, 4, 2, 300, 128
kv = dim // heads * kvh
mats = L * (dim * dim * 2 + dim * kv * 2 + 3 * dim * ff)  # q, o; k, v; gate, up, down
def q8_0(n): return n // 32 * 34
def f16(n): return 2 * n
norms = (2 * L + 1) * dim * 4
kv_bytes = 2 * L * kv * 4 * (n_gen + 1) / 2   # keys and values at positions 0..n_past, n_past = 0..n_gen-1 on average
expect = {"f16": mats * 2 + f16(dim * vocab) + f16(dim) + norms + kv_bytes,   # output table and one embedding row
          "q8_0": q8_0(mats) + q8_0(dim * vocab) + q8_0(dim) + norms + kv_bytes}
rows = {r["format"]: r for r in o["rows"]}
for f, e in expect.items():
    r = rows[f]
    assert abs(r["bytes_per_token"] - e) <= 1e-9 * e, (f, r["bytes_per_token"], e)
    # the bandwidth is probed beside the repetitions with the kernel of the run limit
    assert bw / 4 <= r["read_bw"] <= bw * 4 and abs(r["bound_tps"] - r["read_bw"] / e) <= 1e-9 * r["bound_tps"], (f, r["read_bw"], bw)
    assert abs(r["tg_fraction_of_bound"] - r["tg_tps"]["mean"] / r["bound_tps"]) <= 1e-9
'
pycheck "accuracy: the reference at KLD 0 and ratio 1, Q4_K_M further from it than q8_0; verdicts" '
import json
rows = {r["format"]: r for r in json.load(open("run.json"))["rows"]}
assert rows["f16"]["kld_mean"] == 0 and rows["f16"]["ppl_ratio"] == 1 and rows["f16"]["verdict"] == "reference", rows["f16"]
assert rows["Q4_K_M"]["kld_mean"] > rows["q8_0"]["kld_mean"] > 0, (rows["Q4_K_M"]["kld_mean"], rows["q8_0"]["kld_mean"])
assert rows["Q4_K_M"]["bits_per_weight"] < rows["q8_0"]["bits_per_weight"] < rows["f16"]["bits_per_weight"]
assert all(r["verdict"] for r in rows.values())
'
check "the report has the model section" grep -q "pp512" rep/index.html
check "the report lists Q4_K_M" grep -q "Q4_K_M" rep/index.md
pycheck "the guide's speed vs f16 without a benchmark: tg tokens/s over f16's, from the same run" '
import csv, json
rows = {r["format"]: r for r in json.load(open("run.json"))["rows"]}
g = {r["format"]: r for r in csv.DictReader(open("rep/guide.csv"))}
col = [k for k in next(iter(g.values())) if k.startswith("speed vs f16")][0]
for f in ("f16", "q8_0", "Q4_K_M"):
    want = rows[f]["tg_tps"]["mean"] / rows["f16"]["tg_tps"]["mean"]
    assert abs(float(g[f][col]) - want) <= 1e-5 * want, (f, g[f][col], want)  # the CSV keeps 6 digits
assert "token generation" in open("rep/index.md").read()
'

# ---- the text table, --quick ------------------------------------------------------------------
qb run --db r.db --model m.gguf --text "$TEXT" --formats Q4_K_M --ctx 64 --chunks 2 --threads 1 --quick --no-report
expect_rc "run --model --quick" 0
check "table header: every column" grep -qE 'format +bits/weight +size +PPL +ΔPPL % +KLD +top-1 % +pp256 t/s +tg32 t/s +tg/bound +tg vs f16 +peak mem +verdict' "$OUT"
check "the reference row says so" grep -qE '^f16 .* reference' "$OUT"
check "--quick is stated" grep -q -- '--quick' "$OUT"
check "the bound is explained with the measured bandwidth" grep -qE 'bandwidth at 1 thread is measured beside each tg repetition' "$OUT"
check "the quick run stored pp256 and tg32 with 3 repetitions" test "$(sql r.db "SELECT group_concat(test || ':' || reps, ' ') FROM (SELECT test, reps FROM model_speed WHERE run_id = (SELECT id FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1) AND format = 'Q4_K_M' ORDER BY test)")" = "pp256:3 tg32:3"

# ---- an already-quantized file in place of a format -------------------------------------------
qb quantize m.gguf q4km.gguf Q4_K_M
expect_rc "quantize to Q4_K_M" 0
qb run --db r.db --model m.gguf --text "$TEXT" --formats q4km.gguf --ctx 64 --chunks 2 --reps 1 --threads 1 --json --no-report
expect_rc "run --model with a .gguf format" 0
pycheck "the file's row: its size on disk, and the same weights as Q4_K_M quantized in memory" '
import json, os
rows = {r["format"]: r for r in json.load(open("'"$OUT"'"))["rows"]}
first = {r["format"]: r for r in json.load(open("run.json"))["rows"]}
r = rows["q4km.gguf"]
assert r["file_bytes"] == os.path.getsize("q4km.gguf"), (r.get("file_bytes"), os.path.getsize("q4km.gguf"))
assert r["model_bytes"] == first["Q4_K_M"]["model_bytes"] and r["bits_per_weight"] == first["Q4_K_M"]["bits_per_weight"], (r, first["Q4_K_M"])
'

# ---- bad input ---------------------------------------------------------------------------------
bad "a missing model" 4 run --db r.db --model nosuch.gguf --no-report
expect_err_has "a missing model" "nosuch.gguf"
bad "an unknown format" 2 run --db r.db --model m.gguf --formats q9_9 --no-report
expect_err_has "an unknown format" "q9_9"
bad "--device cuda" 2 run --db r.db --model m.gguf --device cuda
expect_err_has "--device cuda" "--device cpu"
bad "--shard with --model" 2 run --db r.db --model m.gguf --shard 0/2
bad "--quick without --model" 2 run --db r.db --quick
finish
