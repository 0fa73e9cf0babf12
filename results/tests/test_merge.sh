#!/usr/bin/env bash
# test_merge.sh — `quantbench merge`, black-box: the union of two databases, idempotence (a
# second merge copies nothing), a conflicting row reported and not overwritten, a source from
# an older schema merged through the columns it has, model speed rows and the evals memory
# columns (schema 5) merged and checked for conflicts like the rest, a source with a dangling
# reference refused as a whole (the output unchanged), and bad sources with one-line errors.
#
# Usage: bash results/tests/test_merge.sh /abs/path/to/quantbench
set -u
. "$(dirname "$0")/../../cli/tests/lib.sh" "$@"

count() { sql "$1" "SELECT count(*) FROM $2"; }

qb --db a.db errors --formats q4_0,q8_0 --weights synthetic:gaussian:16x256
expect_rc "errors into a.db" 0
qb --db b.db errors --formats q4_K,nf4 --weights synthetic:laplace:16x256,synthetic:gaussian:16x256
expect_rc "errors into b.db" 0

qb merge a.db b.db -o all.db
expect_rc "merge a b" 0
check "merge: both runs" [ "$(count all.db runs)" = 2 ]
check "merge: every error row" [ "$(count all.db tensor_errors)" = $(($(count a.db tensor_errors) + $(count b.db tensor_errors))) ]
check "merge: the shared input once" [ "$(count all.db inputs)" = 2 ]
check "merge: one machine" [ "$(count all.db machines)" = 1 ]
rows() { sql "$1" "SELECT run_id, input_id, format, mse, sqnr_db FROM tensor_errors"; }
check "merge: rows identical to the sources" [ "$(rows all.db | sort)" = "$( (rows a.db; rows b.db) | sort)" ]
before=$(sql all.db "SELECT group_concat(t, ';') FROM (SELECT count(*) AS t FROM runs UNION ALL SELECT count(*) FROM tensor_errors UNION ALL SELECT count(*) FROM inputs)")

qb merge a.db b.db -o all.db --json
expect_rc "merge again" 0
pycheck "merge again: nothing added, every row already there" '
import json, sys
d = json.load(open(sys.argv[1]))
added = sum(t["added"] for s in d["sources"] for t in s["tables"].values())
same = sum(t["same"] for s in d["sources"] for t in s["tables"].values())
assert added == 0 and same > 0 and d["conflicts"] == 0, (added, same, d["conflicts"])' "$OUT"
check "merge again: counts unchanged" [ "$(sql all.db "SELECT group_concat(t, ';') FROM (SELECT count(*) AS t FROM runs UNION ALL SELECT count(*) FROM tensor_errors UNION ALL SELECT count(*) FROM inputs)")" = "$before" ]

# the same run with a different figure: reported, and all.db keeps its value
cp a.db c.db
sql c.db "UPDATE tensor_errors SET mse = mse * 2 WHERE format = 'q4_0'" >/dev/null
qb merge c.db -o all.db
expect_rc "merge a conflicting copy" 0
check "conflict: counted" grep -qE 'tensor_errors +0 +1 +1 ' "$OUT"
check "conflict: the key shown" grep -qF "format='q4_0'" "$OUT"
check "conflict: not overwritten" [ "$(sql all.db "SELECT mse FROM tensor_errors WHERE format='q4_0'")" = "$(sql a.db "SELECT mse FROM tensor_errors WHERE format='q4_0'")" ]

# an older schema (no tensor_errors.hist): merged through the columns it has
cp b.db old.db
sql old.db "ALTER TABLE tensor_errors DROP COLUMN hist" >/dev/null
sql old.db "PRAGMA user_version = 1" >/dev/null
qb merge old.db -o fresh.db
expect_rc "merge an older schema" 0
check "older schema: rows copied" [ "$(count fresh.db tensor_errors)" = "$(count b.db tensor_errors)" ]
check "older schema: missing column left empty" [ "$(sql fresh.db "SELECT count(*) FROM tensor_errors WHERE hist IS NULL")" = "$(count b.db tensor_errors)" ]

# a row that refers to a run the source does not hold: the whole source is refused
cp a.db dangling.db
sql dangling.db "INSERT INTO tensor_errors(run_id, input_id, tensor, format, rows, cols, bits_per_weight, created_at) SELECT 'no-such-run', input_id, tensor, format, rows, cols, bits_per_weight, created_at FROM tensor_errors LIMIT 1" >/dev/null
cp all.db all.before
bad "merge a dangling reference" 5 merge dangling.db -o all.db
expect_err_has "merge a dangling reference" "dangling.db"
check "dangling: output unchanged" [ "$(sql all.db "SELECT count(*) FROM tensor_errors")" = "$(sql all.before "SELECT count(*) FROM tensor_errors")" ]

# shards of one sweep merge into exactly the rows of the whole sweep
for i in 0 1 2; do
    qb --db shard$i.db errors --shard $i/3 --formats q4_0,q8_0,nf4,fp8_e4m3 --weights synthetic:gaussian:8x256,synthetic:outliers:8x256
    expect_rc "errors --shard $i/3" 0
done
qb --db whole.db errors --formats q4_0,q8_0,nf4,fp8_e4m3 --weights synthetic:gaussian:8x256,synthetic:outliers:8x256
qb merge shard0.db shard1.db shard2.db -o shards.db
expect_rc "merge three shards" 0
figures() { sql "$1" "SELECT input_id, format, mse, sqnr_db, max_abs FROM tensor_errors"; }
check "shards: every pair measured once" [ "$(count shards.db tensor_errors)" = 8 ]
check "shards: disjoint and non-empty" [ "$(count shard0.db tensor_errors)" -gt 0 ] && [ "$(count shard2.db tensor_errors)" -gt 0 ]
check "shards: the whole sweep's figures" [ "$(figures shards.db | sort)" = "$(figures whole.db | sort)" ]
bad "--shard out of range" 2 errors --shard 3/3 --formats q4_0 --weights synthetic:gaussian:8x256
expect_err_has "--shard out of range" "0 <= I < N"
bad "--shard malformed" 2 run --shard 1

# model speed rows and the evals memory columns (schema 5): copied like every other row
cp a.db s.db
rid=$(sql s.db "SELECT id FROM runs LIMIT 1")
iid=$(sql s.db "SELECT id FROM inputs LIMIT 1")
sql s.db "INSERT INTO model_speed(run_id, model_id, format, method, device, threads, test, n_tokens, reps, tps_mean, tps_sd,
  tps_min, tps_max, samples, ttft_s, rss_peak_bytes, created_at) VALUES ('$rid', '$iid', 'q8_0', 'perplexity', 'cpu', 2, 'pp512',
  512, 2, 80.5, 1.5, 79.44, 81.56, '[6.445,6.277]', 6.5, 2281701376, '2026-11-22T20:00:00Z')" >/dev/null
sql s.db "INSERT INTO evals(run_id, model_id, text_id, format, method, ctx, chunks, tokens, created_at, rss_peak_bytes, file_bytes)
  VALUES ('$rid', '$iid', '$iid', 'q8_0', 'perplexity', 512, 1, 255, '2026-11-22T20:00:00Z', 123456789, 987654321)" >/dev/null
qb merge s.db -o speed.db
expect_rc "merge speed rows" 0
check "speed: the model_speed row copied" [ "$(sql speed.db "SELECT test, tps_mean, samples, rss_peak_bytes FROM model_speed")" = "pp512|80.5|[6.445,6.277]|2281701376" ]
check "speed: the evals memory columns copied" [ "$(sql speed.db "SELECT rss_peak_bytes, file_bytes FROM evals")" = "123456789|987654321" ]
qb merge s.db -o speed.db
check "speed: merged again, still one row" [ "$(count speed.db model_speed)" = 1 ]
sql s.db "UPDATE model_speed SET tps_mean = 90" >/dev/null
qb merge s.db -o speed.db
check "speed: a different figure is a conflict" grep -qE 'model_speed +0 +0 +1 ' "$OUT"
check "speed: not overwritten" [ "$(sql speed.db "SELECT tps_mean FROM model_speed")" = 80.5 ]
# a database from before schema 5 (no model_speed, no memory columns) merges into a new one
cp b.db v4.db
sql v4.db "DROP TABLE model_speed" >/dev/null
sql v4.db "ALTER TABLE evals DROP COLUMN rss_peak_bytes" >/dev/null
sql v4.db "ALTER TABLE evals DROP COLUMN file_bytes" >/dev/null
sql v4.db "PRAGMA user_version = 4" >/dev/null
qb merge v4.db -o speed.db
expect_rc "merge a schema-4 database" 0
check "schema 4: its runs merged" [ "$(count speed.db runs)" = "$(($(count a.db runs) + $(count b.db runs)))" ]

echo "not a database" >text.db
bad "merge a text file" 5 merge text.db -o all.db
expect_err_has "merge a text file" "text.db"
sql other.db "CREATE TABLE t(x)" >/dev/null
bad "merge a foreign SQLite file" 5 merge other.db -o all.db
expect_err_has "merge a foreign SQLite file" "not a quantbench results database"
bad "merge a missing file" 5 merge missing.db -o all.db
expect_err_has "merge a missing file" "missing.db"
bad "merge without -o" 2 merge a.db
bad "merge into a source" 2 merge a.db -o a.db
qb merge --help
expect_rc "merge --help" 0
check "merge --help: usage" grep -q '^Usage: quantbench merge' "$OUT"

finish
