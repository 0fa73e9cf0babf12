#!/usr/bin/env bash
# test_compare_cli.sh — `quantbench compare`, black-box: two runs of the same build and
# options compare clean (exit 0), a candidate whose stored SQNR fell is a regression (exit 3,
# one line on stderr), --json carries every case, and a run with no baseline or bad options
# gets a usage error.
#
# Usage: bash results/tests/test_compare_cli.sh /abs/path/to/quantbench
set -u
. "$(dirname "$0")/../../cli/tests/lib.sh" "$@"

W=synthetic:gaussian:16x256,synthetic:outliers:16x256
qb --db n.db errors --formats q4_0,q8_0,nf4 --weights $W
bad "compare with no earlier run" 2 --db n.db compare
expect_err_has "compare with no earlier run" "--baseline"
qb --db n.db errors --formats q4_0,q8_0,nf4 --weights $W
qb --db n.db compare
expect_rc "A/A compare" 0
check "A/A compare: no regression" grep -q '^0 regression(s), 0 improvement(s), 0 unstable, 6 unchanged of 6 cases' "$OUT"
qb --db n.db compare --json
expect_rc "compare --json" 0
pycheck "compare --json: every case, all unchanged" '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["regressions"] == 0 and len(d["rows"]) == 6, d
assert all(r["verdict"] == "unchanged" and r["kind"] == "accuracy" for r in d["rows"]), d["rows"]' "$OUT"

cand=$(sql n.db "SELECT id FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1")
sql n.db "UPDATE tensor_errors SET sqnr_db = sqnr_db - 0.01 WHERE run_id = '$cand' AND format = 'nf4' AND input_id LIKE 'synthetic:outliers%'" >/dev/null
bad "a lower SQNR" 3 --db n.db compare
expect_err_has "a lower SQNR" "1 regression(s)"
check "a lower SQNR: the case named" grep -qE '^\| regression \| accuracy \| synthetic:outliers:16x256:[0-9a-f]+ +nf4' "$OUT"
qb --db n.db compare --baseline "$cand" --candidate "$(sql n.db "SELECT id FROM runs ORDER BY started_at, rowid LIMIT 1")"
expect_rc "the other way round" 0
check "the other way round: an improvement" grep -q '^0 regression(s), 1 improvement(s)' "$OUT"

bad "compare a run with itself" 2 --db n.db compare --baseline "$cand" --candidate "$cand"
bad "compare an unknown run" 2 --db n.db compare --candidate ffffffff
bad "compare --alpha 0" 2 --db n.db compare --alpha 0
bad "compare --min-effect x" 2 --db n.db compare --min-effect x
qb compare --help
expect_rc "compare --help" 0

finish
