#!/usr/bin/env bash
# test_nightly.sh — the regression verdicts on real benchmark runs, as a nightly job uses
# them: benchmarks of 30 samples in 6 interleaved rounds (bench --rounds, as the nightly suite
# runs them, bench/sweep.h) and `compare` against the 3 runs before (results/compare.h).
#
#  - A/A: four runs of one build; the fourth against the three before it reports no
#    regression (exit 0). On the 2-vCPU VM this was written on, single-process runs judged
#    against one baseline showed a confirmed "regression" in most pairs (8 in 4 pairs of
#    `bench --ops dequantize --formats q8_0,q4_0`): a process's speed depends on where it
#    lands (in-cache cases moved by up to 29 % between processes on a quiet machine, with the
#    FMA rate unchanged: page placement, not clock). Rounds put that spread into each run's
#    samples, several baselines keep one lucky baseline from confirming a change. With 3
#    rounds the injected slowdown below went unconfirmed in 1 of 3 quiet trials; with 6
#    rounds of 5 samples it was found in every trial.
#  - A run slowed by 15 % with the test-only knob QB_BENCH_TEST_SLOWDOWN (bench/bench.h) is
#    reported as a regression (exit 3) against the same three baselines. A slowed run that a
#    neighbour disturbed (every case unstable: 2 of 11 such runs on this VM, one under ASan) is
#    marked failed and measured again, up to three times.
# The statistics themselves are proven on controlled samples by test_compare (the A/A false
# positive rate at α = 0.002 over 4000 trials). ctest runs this test alone (RUN_SERIAL).
#
# Under ASan/UBSan (QB_TEST_SANITIZED=1, set by CMake) every case runs several times slower and
# its timing noise is the sanitizer's: there the test runs the same jobs and checks that each
# comparison completes with a verdict (exit 0 or 3) and valid JSON, and leaves the statistical
# claims to the Release build, where they are asserted (an ASan rehearsal missed the injected
# slowdown once, with most cases unstable).
#
# Usage: bash results/tests/test_nightly.sh /abs/path/to/quantbench
set -u
. "$(dirname "$0")/../../cli/tests/lib.sh" "$@"

# dequantize from L1 to beyond the LLC (the sub-µs call is "too short" to judge: compare.h)
bench() { qb --db n.db bench --ops dequantize --formats q8_0,q4_0 --threads 1 --samples 30 --rounds 6; }
for a in 1 2 3 4; do
    bench
    expect_rc "bench A$a" 0
done
sanitized=${QB_TEST_SANITIZED:-0}
qb --db n.db compare --json
if [ "$sanitized" = 1 ]; then
    check "A/A under the sanitizers: compare gives its verdicts (exit 0 or 3)" test "$RC" -eq 0 -o "$RC" -eq 3
else
    expect_rc "A/A: the fourth run against the three before it finds no regression" 0
fi
pycheck "A/A: three baselines, every speed case judged or listed$([ "$sanitized" = 1 ] || echo ', none a regression')" '
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["baselines"]) == 3 and d["baseline"] == d["baselines"][0], d["baselines"]
speed = [r for r in d["rows"] if r["kind"] == "speed"]
assert len(speed) == 8 and (sys.argv[2] == "1" or d["regressions"] == 0), [(r["case"], r["verdict"], r["change"]) for r in speed]
print("A/A verdicts:", [(r["case"].split(" registry ")[0], r["verdict"], round(100 * r["change"], 1)) for r in speed])' "$OUT" "$sanitized"
check "cases beyond the LLC carry a probe beside every sample, the others none" [ "$(sql n.db "SELECT count(*) FROM bench_samples s
    JOIN bench_cases c ON c.id = s.case_id WHERE c.op = 'dequantize' AND (s.probe_ns > 0) <> (json_extract(c.config, '$.level') = 'DRAM')")" = 0 ]

# A run during which a neighbour took the machine leaves every case unstable, and compare
# rightly judges nothing: such a run is marked failed (no longer a baseline or a candidate)
# and measured again, at most three times.
latest() { sql n.db "SELECT id FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1"; }
for attempt in 1 2 3; do
    QB_BENCH_TEST_SLOWDOWN=0.15 bench
    expect_rc "bench B, slowed by 15 % (attempt $attempt)" 0
    qb --db n.db compare
    [ "$RC" -eq 3 ] || [ "$sanitized" = 1 ] && break
    echo "attempt $attempt: no regression confirmed ($(grep -c '| unstable' "$OUT") rows unstable); measuring again"
    sql n.db "UPDATE runs SET status = 'failed' WHERE id = '$(latest)'" >/dev/null
done
check "the knob is recorded with the run" [ "$(sql n.db "SELECT json_extract(config, '$.test_slowdown') FROM runs WHERE id = '$(latest)'")" = 0.15 ]
if [ "$sanitized" = 1 ]; then
    qb --db n.db compare
    check "15 % slower under the sanitizers: compare gives its verdicts (exit 0 or 3)" test "$RC" -eq 0 -o "$RC" -eq 3
else
    bad "15 % slower: a regression" 3 --db n.db compare
    expect_err_re "15 % slower: a regression" '[0-9]+ regression\(s\) of run'
    pycheck "15 % slower: operation cases found slower by at least the minimum effect" '
import re, sys
rows = [l for l in open(sys.argv[1]) if re.match(r"\| regression +\| speed +\|", l)]
assert rows, open(sys.argv[1]).read()
for l in rows:
    assert float(re.search(r"\|\s*\+([0-9.]+) %", l).group(1)) >= 5, l' "$OUT"
fi

finish
