#!/usr/bin/env bash
# test_eval_cli.sh — `quantbench eval` end to end on a generated llama model (random weights,
# no tokenizer, so the text is given as --tokens):
#   - the table, the evals rows with their configuration and the --json agree; the reference
#     row (f32 against f32) has KLD 0, top-1 1 and PPL ratio 1 exactly; q4_0 is further from
#     the reference than q8_0;
#   - PPL and KLD recomputed in numpy from llama_tool's logits of the same chunks (windows,
#     second half scored, KLD against the exact reference) agree with the stored figures;
#   - the figures do not depend on where the reference records live (--ref-mem 0 puts them in
#     a temporary file); another --threads changes PPL only by the forward pass's summation order;
#   - --resume evaluates only the formats a run lacks; --ref f16, and an f16 model's default
#     reference; a --ctx beyond the training context warns, as llama-perplexity;
#   - --methods rtn,imatrix,gptq,awq: a row per format and applicable method (methods that do not
#     apply are skipped with a note), calibration time on calibrated rows only, the same size;
#   - weight+activation specs W:A (W8A8 int8_sym_row:int8_sym_row, FP8 per tensor) beside the
#     weight-only format, with smoothquant: activation quantization adds error;
#   - gguf_tool's model with VOCAB >= 260 has a tokenizer: --text works, ids as llama.cpp's;
#   - bad input: missing text file, unknown format, too few tokens, a token outside the
#     vocabulary, a bad --ref, --text on a model without a tokenizer: exit 2 or 4, one line.
# Args: quantbench gguf_tool llama_tool [python with numpy]
. "$(dirname "$0")/../../cli/tests/lib.sh" "$@"
LT=${3:-}
PY=${4:-python3}
[ -n "$GT" ] && [ -x "$GT" ] && [ -n "$LT" ] && [ -x "$LT" ] || { echo "usage: $0 quantbench gguf_tool llama_tool [python]" >&2; exit 1; }

"$GT" llama m.gguf 2 64 128 4 2 256 f32 || { echo "gguf_tool failed"; exit 1; }
# 300 ids with some structure (a noisy counter), so the model's predictions vary by position
python3 -c 'import random
r = random.Random(5)
print("\n".join(str((i * 7 + r.randrange(5)) % 256) for i in range(300)))' >ids.txt
DB=$T/e.db

qb --db "$DB" eval --model m.gguf --tokens ids.txt --formats f32,q8_0,q4_0 --ctx 64 --chunks 2 --threads 2
expect_rc "eval" 0
check "table lists every format" grep -qE '^q4_0 ' "$OUT"
check "table header" grep -q 'ΔPPL' "$OUT"
cp "$OUT" table.txt

rows=$(sql "$DB" "SELECT count(*) FROM evals")
check "3 evals rows (got $rows)" test "$rows" = 3
ref=$(sql "$DB" "SELECT kld_mean, kld_max, top1, ppl_ratio, dp_rms, ref_format, tokens, chunks, ctx, method FROM evals WHERE format='f32'")
check "reference row: KLD 0, top-1 1, ratio 1 exactly, 62 scored tokens (got $ref)" test "$ref" = "0.0|0.0|1.0|1.0|0.0|f32|62|2|64|perplexity"
pycheck "q8_0 and q4_0 rows: KLD > 0, q4_0 further than q8_0, errors and sizes present" '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
r = {f: (k, e, t, b, s, tps) for f, k, e, t, b, s, tps in c.execute(
    "SELECT format, kld_mean, kld_err, top1, bits_per_weight, model_bytes, tokens_per_s FROM evals")}
print(r)
assert 0 < r["q8_0"][0] < r["q4_0"][0], "KLD order"
assert all(r[f][1] > 0 for f in ("q8_0", "q4_0")), "KLD errors"
assert r["f32"][3] > r["q8_0"][3] > r["q4_0"][3] > 0, "bits per weight"
assert r["f32"][4] > r["q8_0"][4] > r["q4_0"][4], "model bytes"
assert all(v[5] > 0 for v in r.values()), "tokens/s"
kinds = sorted(k for (k,) in c.execute("SELECT kind FROM inputs"))
assert kinds == ["gguf", "tokens"], kinds
st = c.execute("SELECT status, command FROM runs").fetchall()
assert st == [("complete", "eval")], st
' "$DB"

qb --db "$DB" --json eval --model m.gguf --tokens ids.txt --formats f32,q8_0,q4_0 --ctx 64 --chunks 2 --threads 1
expect_rc "eval --json" 0
cp "$OUT" run1.json
pycheck "--json rows equal the database rows of that run; PPL near the first run's (threads 2 vs 1)" '
import json, sqlite3, sys
j = json.load(open(sys.argv[1]))
rows = {r["format"]: r for r in j["rows"]}
assert sorted(rows) == ["f32", "q4_0", "q8_0"], sorted(rows)
assert rows["f32"]["kld_mean"] == 0 and rows["f32"]["top1"] == 1, rows["f32"]
c = sqlite3.connect(sys.argv[2])
for f, ppl, kld, p99, top1 in c.execute("SELECT format, ppl, kld_mean, kld_p99, top1 FROM evals WHERE run_id = ?", (j["run"],)):
    r = rows[f]
    assert (r["ppl"], r["kld_mean"], r["kld_p99"], r["top1"]) == (ppl, kld, p99, top1), (f, r, ppl, kld, p99, top1)
# another thread count sums the forward pass in another order (evals/llama.c): close, not equal
first = dict(c.execute("SELECT format, ppl FROM evals WHERE run_id != ?", (j["run"],)).fetchall())
for f, ppl in first.items():
    assert abs(rows[f]["ppl"] / ppl - 1) < 1e-4, (f, rows[f]["ppl"], ppl)
table = open(sys.argv[3]).read()
assert "%.4f" % first["q4_0"] in table, ("PPL not in the table", table)
' run1.json "$DB" table.txt

qb --db "$T/file.db" --json eval --model m.gguf --tokens ids.txt --formats q8_0,q4_0 --ctx 64 --chunks 2 --threads 1 --ref-mem 0
expect_rc "eval --ref-mem 0" 0
pycheck "reference records in a temporary file give the same figures, and leave no file" '
import json, os, sys
a = {r["format"]: r for r in json.load(open(sys.argv[1]))["rows"]}
b = {r["format"]: r for r in json.load(open(sys.argv[2]))["rows"]}
for f in ("f32", "q8_0", "q4_0"):
    for k in ("ppl", "kld_mean", "kld_max", "dp_rms", "top1"):
        assert a[f][k] == b[f][k], (f, k, a[f][k], b[f][k])
left = [n for n in os.listdir(sys.argv[3]) if "quantbench-ref" in n]
assert not left, left
' run1.json "$OUT" "$T"

# numpy: the same windows from llama_tool logits (chunk c = ids[64c, 64c+64), no BOS: the model
# has no tokenizer), rows 32..62 predicting the next id
if "$PY" -c 'import numpy' 2>/dev/null; then
    for f in - q8_0; do
        for c in 0 1; do
            "$LT" logits m.gguf "$f" "logits_${f}_$c.f32" $(sed -n "$((64 * c + 1)),$((64 * c + 64))p" ids.txt) || echo "llama_tool failed"
        done
    done
    pycheck "PPL and KLD match numpy on llama_tool logits" "$(cat <<'EOF'
import json, subprocess, sys
import numpy as np
rows = {r["format"]: r for r in json.load(open(sys.argv[1]))["rows"]}
ids = np.array([int(x) for x in open("ids.txt").read().split()])
V = 256
def logp(f, c):
    z = np.fromfile("logits_%s_%d.f32" % (f, c), dtype=np.float32).astype(np.float64).reshape(64, V)
    z -= z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))
nll_ref, nll_q, kld = [], [], []
for c in range(2):
    p, q = logp("-", c), logp("q8_0", c)
    for j in range(32, 63):
        t = ids[64 * c + j + 1]
        nll_ref.append(-p[j, t]); nll_q.append(-q[j, t])
        kld.append(float((np.exp(p[j]) * (p[j] - q[j]))[p[j] > -16].sum()))
ppl_ref, ppl_q = np.exp(np.mean(nll_ref)), np.exp(np.mean(nll_q))
err = ppl_ref * np.sqrt(np.var(nll_ref) / (len(nll_ref) - 1))
print("numpy: PPL f32 %.6f ± %.6f, q8_0 %.6f, KLD %.3e; quantbench: %.6f ± %.6f, %.6f, %.3e" % (
    ppl_ref, err, ppl_q, np.mean(kld), rows["f32"]["ppl"], rows["f32"]["ppl_err"], rows["q8_0"]["ppl"], rows["q8_0"]["kld_mean"]))
assert abs(rows["f32"]["ppl"] / ppl_ref - 1) < 1e-5
assert abs(rows["f32"]["ppl_err"] / err - 1) < 1e-3
assert abs(rows["q8_0"]["ppl"] / ppl_q - 1) < 1e-5
# the record resolves log-probs to 16/131070 nats: KLD within that of the exact value
assert abs(rows["q8_0"]["kld_mean"] - np.mean(kld)) < 2e-4, (rows["q8_0"]["kld_mean"], np.mean(kld))
assert abs(rows["q8_0"]["kld_p99"] - np.percentile(kld, 99)) < 2e-4
EOF
)" run1.json
elif [ "${QB_REQUIRE_ORACLES:-0}" = 1 ]; then
    fail "numpy is required (QB_REQUIRE_ORACLES=1) for the independent PPL/KLD check" "python: $PY"
else
    echo "note: $PY has no numpy; the independent PPL/KLD check is skipped"
fi

# --ref f16: the reference row is f16's, and every row names it
qb --db "$T/f16.db" --json eval --model m.gguf --tokens ids.txt --formats q8_0 --ctx 64 --chunks 2 --ref f16
expect_rc "eval --ref f16" 0
pycheck "--ref f16: rows f16 (KLD 0) and q8_0, both against f16" '
import json, sys
rows = {r["format"]: r for r in json.load(open(sys.argv[1]))["rows"]}
assert sorted(rows) == ["f16", "q8_0"], sorted(rows)
assert all(r["ref_format"] == "f16" for r in rows.values()), rows
assert rows["f16"]["kld_mean"] == 0 and rows["q8_0"]["kld_mean"] > 0, rows
assert 15.9 < rows["f16"]["bits_per_weight"] < 16.1, rows["f16"]["bits_per_weight"]
' "$OUT"

# an f16 model: the default reference is f16, its weights as stored
"$GT" llama m16.gguf 2 64 128 4 2 256 f16 || echo "gguf_tool f16 failed"
qb --db "$T/f16.db" --json eval --model m16.gguf --tokens ids.txt --formats q8_0 --ctx 64 --chunks 2
expect_rc "eval of an f16 model" 0
pycheck "an f16 model is compared with f16 by default" '
import json, sys
rows = {r["format"]: r for r in json.load(open(sys.argv[1]))["rows"]}
assert sorted(rows) == ["f16", "q8_0"] and rows["q8_0"]["ref_format"] == "f16", rows
' "$OUT"

# --resume: drop q4_0's row from the first run, mark it incomplete, continue it
RUN1=$(sql "$DB" "SELECT id FROM runs ORDER BY started_at LIMIT 1")
Q4_PPL=$(sql "$DB" "SELECT ppl FROM evals WHERE run_id='$RUN1' AND format='q4_0'")
Q4_KLD=$(sql "$DB" "SELECT kld_mean FROM evals WHERE run_id='$RUN1' AND format='q4_0'")
sql "$DB" "DELETE FROM evals WHERE run_id='$RUN1' AND format='q4_0'" >/dev/null
sql "$DB" "UPDATE runs SET status='incomplete' WHERE id='$RUN1'" >/dev/null
qb --db "$DB" --json eval --model m.gguf --tokens ids.txt --formats f32,q8_0,q4_0 --ctx 64 --chunks 2 --threads 2 --resume="$RUN1"
expect_rc "eval --resume" 0
pycheck "resume re-evaluates q4_0 only, to the figures it had (same threads)" '
import json, sys
j = json.load(open(sys.argv[1]))
res = {r["format"]: r["resumed"] for r in j["rows"]}
assert res == {"f32": 1, "q8_0": 1, "q4_0": 0}, res
q4 = [r for r in j["rows"] if r["format"] == "q4_0"][0]
want = (float(sys.argv[2]), float(sys.argv[3]))
assert abs(q4["ppl"] / want[0] - 1) < 1e-12 and abs(q4["kld_mean"] / want[1] - 1) < 1e-12, (q4, want)
' "$OUT" "$Q4_PPL" "$Q4_KLD"
n=$(sql "$DB" "SELECT count(*) FROM evals WHERE run_id='$RUN1'")
check "resumed run holds 3 rows (got $n)" test "$n" = 3

# --ctx beyond the model's training context (4096 in gguf_tool's models): a warning, as llama-perplexity
python3 -c 'print("\n".join(str(i * 7 % 256) for i in range(8200)))' >long.txt
qb --db "$T/long.db" eval --model m.gguf --tokens long.txt --formats f32 --ctx 4100 --chunks 1
expect_rc "--ctx 4100 > training context" 0
expect_err_has "--ctx 4100 > training context" "trained on only 4096 context tokens"

# --methods: rtn, imatrix and gptq side by side, calibrated on other ids than the evaluated ones
python3 -c 'import random
r = random.Random(11)
print("\n".join(str((i * 7 + r.randrange(5)) % 256) for i in range(400)))' >calib.txt
qb --db "$T/m.db" --json eval --model m.gguf --tokens ids.txt --formats int4_asym_g128,q4_K,int2_asym_g64 --methods rtn,imatrix,gptq,awq \
   --calib-tokens calib.txt --calib-chunks 4 --ctx 64 --chunks 2 --threads 2
expect_rc "eval --methods" 0
expect_err_has "--methods: imatrix skips an int format" "method imatrix does not apply to int4_asym_g128"
pycheck "--methods: one row per (format, applicable method); calib_s only on calibrated rows; same bits, other figures" '
import json, sqlite3, sys
j = json.load(open(sys.argv[1]))
rows = {(r["format"], r["method"]): r for r in j["rows"]}
assert sorted(rows) == sorted([("f32", "rtn"), ("int4_asym_g128", "rtn"), ("int4_asym_g128", "gptq"), ("int4_asym_g128", "awq"),
                               ("q4_K", "rtn"), ("q4_K", "imatrix"), ("q4_K", "gptq"), ("q4_K", "awq"), ("int2_asym_g64", "rtn"), ("int2_asym_g64", "gptq"),
                               ("int2_asym_g64", "awq")]), sorted(rows)
for (f, m), r in rows.items():
    assert (m == "rtn") == (r["calib_s"] is None), (f, m, r["calib_s"])
    if m != "rtn":
        base = rows[(f, "rtn")]
        assert r["bits_per_weight"] == base["bits_per_weight"] and r["model_bytes"] == base["model_bytes"], (f, m)
        # q4_K + gptq: every tensor of this model (64 or 128 columns) falls back to q5_0, which GPTQ does not write
        assert r["calib_s"] > 0 and (r["kld_mean"] == base["kld_mean"]) == ((f, m) == ("q4_K", "gptq")), (f, m, r["kld_mean"], base["kld_mean"])
c = sqlite3.connect(sys.argv[2])
db = sorted(c.execute("SELECT format, method, calib_s IS NULL FROM evals"))
assert db == sorted([(f, "perplexity" + ("" if m == "rtn" else "+" + m), int(m == "rtn")) for f, m in rows]), db
' "$OUT" "$T/m.db"
qb --db "$T/a.db" --json eval --model m.gguf --tokens ids.txt --formats int8_sym_row,int8_sym_row:int8_sym_row,fp8_e4m3_pc:fp8_e4m3_pt \
   --methods rtn,smoothquant --calib-tokens calib.txt --calib-chunks 2 --ctx 64 --chunks 2 --threads 2
expect_rc "eval W:A formats with smoothquant" 0
pycheck "W8A8: activation quantization adds to the weight-only error; smoothquant rows present" '
import json, sys
r = {(x["format"], x["method"]): x for x in json.load(open(sys.argv[1]))["rows"]}
want = {(f, m) for f in ("int8_sym_row", "int8_sym_row:int8_sym_row", "fp8_e4m3_pc:fp8_e4m3_pt") for m in ("rtn", "smoothquant")}
assert set(r) == want | {("f32", "rtn")}, sorted(r)
assert r[("int8_sym_row:int8_sym_row", "rtn")]["kld_mean"] > r[("int8_sym_row", "rtn")]["kld_mean"] > 0
assert r[("int8_sym_row:int8_sym_row", "rtn")]["bits_per_weight"] == r[("int8_sym_row", "rtn")]["bits_per_weight"]
' "$OUT"
bad "unknown activation format" 2 --db "$DB" eval --model m.gguf --tokens ids.txt --formats int8_sym_row:int9 --ctx 64
expect_err_has "unknown activation format" "int9"
bad "--methods without calibration text" 2 --db "$DB" eval --model m.gguf --tokens ids.txt --formats int4_asym_g128 --methods gptq --ctx 64
expect_err_has "--methods without calibration text" "--calib-text"
bad "unknown method" 2 --db "$DB" eval --model m.gguf --tokens ids.txt --formats int4_asym_g128 --methods awq2 --calib-tokens calib.txt --ctx 64
expect_err_has "unknown method" "awq2"

# a generated model of VOCAB >= 260 carries gguf_tool's byte tokenizer: --text works on it (bits
# per byte stored), and it tokenizes as llama.cpp does (llama-cpp-python, when installed)
"$GT" llama mt.gguf 2 64 128 4 2 300 f32 >/dev/null || echo "gguf_tool llama with a tokenizer failed"
for i in 1 2 3 4 5 6 7 8; do printf 'The quick brown fox jumps over the lazy dög, %d times. ' "$i"; done >fox.txt
qb --db "$DB" eval --model mt.gguf --text fox.txt --formats q8_0 --ctx 64 --chunks 2
expect_rc "--text on a generated model with a tokenizer" 0
check "--text on a generated model: bits per byte on both rows" \
    [ "$(sql "$DB" "SELECT count(*) FROM evals WHERE model_id LIKE '%mt.gguf%' AND bpb > 0")" = 2 ]
qb tokenize --model mt.gguf --text fox.txt --json
cp "$OUT" fox.json
if "$PY" -c 'import llama_cpp' 2>/dev/null; then
    want=$("$PY" -c 'import json, sys, llama_cpp
m = llama_cpp.Llama(sys.argv[1], vocab_only=True, verbose=False)
print(json.dumps([m.n_vocab()] + m.tokenize(open(sys.argv[2], "rb").read(), add_bos=True, special=False)))' mt.gguf fox.txt 2>/dev/null)
    pycheck "generated tokenizer: llama.cpp's vocabulary and ids" '
import json, sys
got, want = json.load(open(sys.argv[1]))["ids"], json.loads(sys.argv[2])
assert want[0] == 300, want[0]
assert got == want[1:] and max(got) < 260, (got[:20], want[1:21])' fox.json "$want"
else
    echo "note: llama_cpp not importable by $PY: the generated tokenizer is not compared with llama.cpp's"
fi

# bad input
bad "missing text file" 4 --db "$DB" eval --model m.gguf --text "$T/nope.txt" --formats q8_0 --ctx 64
expect_err_has "missing text file" "nope.txt"
bad "unknown format" 2 --db "$DB" eval --model m.gguf --tokens ids.txt --formats q8_0,q9_9 --ctx 64
expect_err_has "unknown format" "q9_9"
head -n 100 ids.txt >short.txt
bad "too few tokens" 4 --db "$DB" eval --model m.gguf --tokens short.txt --formats q8_0 --ctx 64
expect_err_has "too few tokens" "needs at least 128"
{ head -n 150 ids.txt; echo 256; head -n 20 ids.txt; } >oov.txt
bad "token outside the vocabulary" 4 --db "$DB" eval --model m.gguf --tokens oov.txt --formats q8_0 --ctx 64
expect_err_has "token outside the vocabulary" "index 150"
bad "bad --ref" 2 --db "$DB" eval --model m.gguf --tokens ids.txt --formats q8_0 --ref q8_0
bad "no tokenizer for --text" 4 --db "$DB" eval --model m.gguf --text ids.txt --formats q8_0 --ctx 64
bad "missing model" 4 --db "$DB" eval --model "$T/none.gguf" --tokens ids.txt --formats q8_0 --ctx 64
bad "no --formats" 2 --db "$DB" eval --model m.gguf --tokens ids.txt
qb eval --help
expect_rc "--help" 0
check "--help names the text default" grep -q "common-licenses" "$OUT"

finish
