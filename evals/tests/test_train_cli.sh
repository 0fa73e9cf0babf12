#!/usr/bin/env bash
# test_train_cli.sh — `quantbench train` end to end on a generated corpus (word salad written
# here, no third-party text):
#   - a small run writes a GGUF that `quantbench eval` loads and tokenizes (its own vocabulary),
#     with the shape asked for and bf16 matrices; --json carries the summary and the held-out
#     perplexity is below the vocabulary size;
#   - --stop-after then --resume gives the same file as an uninterrupted run;
#   - --init --qat q4_0 writes q4_0 matrices that `quantbench eval` evaluates beside PTQ;
#   - `quantbench run --model M` (the default suite's model step) on a freshly trained model:
#     16 formats, the reference at KLD 0, Q2_K further from it than Q8_0; a missing model is
#     one line pointing at --no-model;
#   - bad input: missing --out, --qat without --init, an unknown held-out file, a shape the
#     evaluator cannot run, a non-numeric --lr: exit 2 or 4 with one line naming the problem.
# Args: quantbench
. "$(dirname "$0")/../../cli/tests/lib.sh" "$@"

mkdir data
python3 -c 'import random
r = random.Random(3)
w = "the a weight block scale error format bits value model small large of and is\n".split(" ")
for k in range(3):
    open("data/t%d" % k, "w").write(" ".join(r.choice(w) for _ in range(400)))'
SHAPE="--dim 64 --layers 2 --heads 4 --kv-heads 2 --ff 128 --ctx 32 --batch 4 --threads 1 --eval-every 5"

qb train --data data --heldout t2 --out m.gguf $SHAPE --steps 10 --json
expect_rc "train" 0
check "summary JSON" python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["steps"]==10 and 1<d["heldout_ppl"]<260 and d["unigram_ppl"]>1, d' "$OUT"
check "progress lines on stderr with --json" grep -q "ETA" "$ERR"
check "model written" test -s m.gguf
qb inspect m.gguf
check "inspect: bf16 matrices" grep -q "BF16" "$OUT"
qb eval --model m.gguf --text data/t2 --formats f32,q8_0 --ctx 32 --db e.db
expect_rc "eval of the trained model with its own tokenizer" 0

qb train --data data --heldout t2 --out a.gguf $SHAPE --steps 6 --checkpoint a.ckpt
expect_rc "uninterrupted" 0
qb train --data data --heldout t2 --out b.gguf $SHAPE --steps 6 --checkpoint b.ckpt --stop-after 2
expect_rc "stopped" 0
check "stop message" grep -q "stopped after step 2 of 6" "$OUT"
check "no model before the end" test ! -e b.gguf
qb train --data data --heldout t2 --out b.gguf $SHAPE --steps 6 --checkpoint b.ckpt --resume
expect_rc "resumed" 0
check "resumed file identical to the uninterrupted one" cmp -s a.gguf b.gguf

qb train --data data --heldout t2 --init m.gguf --qat q4_0 --out q.gguf --threads 1 --batch 4 --steps 3 --eval-every 0
expect_rc "qat" 0
qb inspect q.gguf
check "inspect: Q4_0 matrices" grep -q "Q4_0" "$OUT"
qb eval --model m.gguf --text data/t2 --formats q4_0,"$T/q.gguf" --ctx 32 --db e.db
expect_rc "PTQ and QAT side by side" 0
check "both rows" test "$(grep -cE '^(q4_0|.*q\.gguf)' "$OUT")" -ge 2

# the default suite's model step on a model of the suite's shape class (rows of 256, so every
# format applies), trained for 2 steps: one JSON object per step, the model's with 16 rows
qb train --data data --heldout t2 --out m256.gguf --dim 256 --layers 1 --heads 8 --kv-heads 4 --ff 256 --ctx 128 \
    --batch 2 --threads 1 --steps 2 --eval-every 0
expect_rc "train a 256-wide model" 0
if [ -f /usr/share/common-licenses/MPL-2.0 ]; then
    qb run --db r.db --suite default --model m256.gguf --json --shard 0/8 --no-bench --no-report # shard 0 evaluates the model; 1/8 of the errors step
    expect_rc "run with the model step" 0
    check "run --json: two objects, the model step's with 16 formats, f32 (the reference) at KLD 0, Q2_K further than Q8_0" \
        python3 -c 'import json,sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(lines) == 2, len(lines)
rows = {r["format"]: r for r in lines[1]["rows"]}
assert len(rows) == 16 and rows["f32"]["kld_mean"] == 0 and rows["f32"]["ppl_ratio"] == 1, rows.get("f32")
assert rows["Q2_K"]["kld_mean"] > rows["Q8_0"]["kld_mean"] > 0, (rows["Q2_K"], rows["Q8_0"])' "$OUT"
    check "one run holds both steps" test "$(sql r.db "SELECT count(*) FROM runs WHERE id IN (SELECT run_id FROM evals) AND id IN (SELECT run_id FROM tensor_errors)")" = 1
    qb run --db r.db --suite default --model nosuch.gguf
    expect_rc "a missing suite model" 4
    expect_err_has "a missing suite model" "--no-model"
fi

qb train --data data --heldout t2
expect_rc "no --out" 2
expect_one_err_line "no --out"
expect_err_has "no --out" "--out"
qb train --out x.gguf --qat q4_0
expect_rc "--qat without --init" 2
expect_err_has "--qat without --init" "--init"
qb train --data data --heldout nosuch --out x.gguf $SHAPE --steps 1
expect_rc "unknown held-out file" 4
expect_err_has "unknown held-out file" "nosuch"
qb train --data data --heldout t2 --out x.gguf --dim 66 --heads 4 --steps 1
expect_rc "bad shape" 2
expect_err_has "bad shape" "dim 66"
qb train --data data --heldout t2 --out x.gguf --lr abc
expect_rc "bad --lr" 2
expect_err_has "bad --lr" "--lr"
check "nothing written on errors" test ! -e x.gguf
qb train --help
expect_rc "--help" 0
finish
