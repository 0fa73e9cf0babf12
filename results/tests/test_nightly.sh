#!/usr/bin/env bash
# test_nightly.sh — the regression verdicts on real benchmark runs, as a nightly job uses
# them: two runs of the same build (A/A) report no regression, and a run slowed by 15 % with
# the test-only knob QB_BENCH_TEST_SLOWDOWN (bench/bench.h) is reported as one (exit 3).
# ctest runs it alone (RUN_SERIAL): timing tests need the machine to themselves.
#
# Usage: bash results/tests/test_nightly.sh /abs/path/to/quantbench
set -u
. "$(dirname "$0")/../../cli/tests/lib.sh" "$@"

# dequantize from L1 to beyond the LLC: calls of 10 µs and more, which move by under 3 % between
# two processes here; the sub-µs one is "too short" to judge (results/compare.h)
bench() { qb --db n.db bench --ops dequantize --formats q8_0,q4_0 --threads 1 --samples 15; }
bench
expect_rc "bench A" 0
bench
expect_rc "bench A again" 0
qb --db n.db compare --json
expect_rc "A/A: no regression" 0
judged=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(sum(r["kind"] == "speed" and r["verdict"] in ("unchanged", "improvement", "regression") for r in d["rows"]))' "$OUT")
if [ "${judged:-0}" -lt 2 ]; then # every operation case unstable: nothing can be judged here
    echo "SKIP: the machine is too busy: only ${judged:-0} benchmark cases were stable enough to judge"
    exit 77
fi
pycheck "A/A: no operation case is a regression" '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["regressions"] == 0, [r for r in d["rows"] if r["verdict"] == "regression"]' "$OUT"

QB_BENCH_TEST_SLOWDOWN=0.15 bench
expect_rc "bench B, slowed by 15 %" 0
check "the knob is recorded with the run" [ "$(sql n.db "SELECT json_extract(config, '$.test_slowdown') FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1")" = 0.15 ]
bad "15 % slower: a regression" 3 --db n.db compare
expect_err_re "15 % slower: a regression" '[0-9]+ regression\(s\) of run'
pycheck "15 % slower: operation cases found slower by at least the minimum effect" '
import re, sys
rows = [l for l in open(sys.argv[1]) if re.match(r"\| regression +\| speed +\|", l)]
assert rows, open(sys.argv[1]).read()
for l in rows:
    assert float(re.search(r"\|\s*\+([0-9.]+) %", l).group(1)) >= 5, l' "$OUT"

finish
