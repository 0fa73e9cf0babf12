/* speed.h — model-level speed and memory of one loaded model, measured as llama-bench
 * measures them (llama.cpp's tools/llama-bench): prompt processing (ppN: N prompt tokens in one
 * batch) and token generation (tgN: N tokens one at a time), tokens per second over repeated
 * runs, plus the time to the first generated token and the process's peak resident memory.
 *
 * A test is one untimed warm-up (the whole test: llama-bench warms tg up with one token, a
 * whole one also proves the KV cache large enough before anything is timed), then `reps` timed
 * repetitions, each from an empty KV cache (qb_llama_reset), on token ids drawn from a seeded
 * generator (the same for every repetition and every format of a run):
 *   ppN   N random ids in one qb_llama_eval_last call (the output head for the last position
 *         only, as llama-bench's batch asks); t/s = N / its time. TTFT of a repetition = that
 *         time plus the argmax of those logits (the first generated id).
 *   tgN   a random first id (the prompt's first), then N single-token qb_llama_eval calls,
 *         each fed the argmax of the previous one (greedy generation, where llama-bench feeds
 *         random ids: the same work per step, and a sequence a test can check); t/s = N / their
 *         total time, argmaxes included.
 * Per test: t/s mean and sample standard deviation (n − 1) over the repetitions, as
 * llama-bench's avg_ts / stddev_ts, with min and max; each repetition's seconds are kept.
 *
 * Memory-bandwidth bound of tg: a step after n_past cached tokens reads
 * qb_llama_token_bytes(l, n_past) bytes (the weights but the embedding table, and the KV cache
 * so far); bytes_per_token is its mean over the generated positions n_past = 0 … N − 1, and
 * bound_tps = read_bw / bytes_per_token, the rate at which memory could feed the steps. On a
 * shared machine (a VM whose neighbours come and go) the bandwidth itself moves by tens of per
 * cent within a minute (28 to 57 GB/s within one run on the 2-core VM this was written on), so
 * a bound from another minute would mostly measure the neighbours. With o->measure_bw set, it
 * is measured after the warm-up and after each timed repetition; a repetition's bandwidth is
 * the better of the probes on either side of it (STREAM's best-rate rule, applied to what
 * memory could deliver in that repetition's minute), and read_bw is their median over the
 * repetitions. A probe that fails (≤ 0) counts as o->read_bw; without o->measure_bw, read_bw
 * is o->read_bw.
 *
 * Memory: rss_pp / rss_tg are the whole process's peak resident set (common/rss.h) during each
 * test (its warm-up and repetitions): the weights as loaded (quantized copies, or the pages of
 * a mapped file the forward pass touches), the KV cache, the forward pass's scratch, the
 * logits buffer of this harness (n_vocab floats), and whatever else the process
 * holds (the caller's buffers, the results database, libraries). 0 where the kernel cannot
 * reset the peak (rss.h).
 *
 * Invariants:
 *  1. The ids, and so the work, depend only on the seed, n_prompt, n_gen and the model.
 *  2. No timed repetition starts after qb_interrupted is set: the call fails with QB_ERUNTIME
 *     and the caller keeps what it stored before. */
#ifndef QB_SPEED_H
#define QB_SPEED_H

#include <stdint.h>

#include "../common/qb.h"
#include "../results/db.h"
#include "llama.h"

#define QB_SPEED_MAX_REPS 100

typedef struct qb_speed_opts {
    int n_prompt, n_gen;   /* 512, 128 (pp512, tg128); 0 skips that test */
    int reps;              /* timed repetitions, 1 … QB_SPEED_MAX_REPS (llama-bench's -r, 5) */
    double read_bw;        /* measured read bandwidth at these threads, bytes/s; ≤ 0: no bound */
    double (*measure_bw)(void *ctx); /* NULL, or measures it again (bytes/s; ≤ 0: failed) */
    void *measure_bw_ctx;
    uint64_t seed;
    int32_t *tokens_out;   /* NULL, or n_gen + 1 ids: tg's first id and the ids the last timed
                              repetition generated (for tests) */
} qb_speed_opts;

typedef struct qb_speed_stat {
    double mean, sd, min, max; /* sd: sample (n − 1), 0 for n = 1 */
    int n;                     /* 0: not measured (the other fields NaN) */
} qb_speed_stat;

typedef struct qb_speed_result {
    int n_prompt, n_gen, reps;
    qb_speed_stat pp_tps, tg_tps, ttft_s;
    double pp_s[QB_SPEED_MAX_REPS], tg_s[QB_SPEED_MAX_REPS]; /* each repetition's seconds */
    double bytes_per_token, read_bw, bound_tps;             /* NaN without tg (bound: or without read_bw) */
    int64_t rss_pp, rss_tg;                                 /* peak resident bytes; 0 unknown or not run */
} qb_speed_result;

/* Every test "not measured": n = 0, NaN figures, rss 0. */
void qb_speed_result_init(qb_speed_result *r);

/* Runs the tests on l, which must hold n_ctx ≥ max(n_prompt, n_gen) (QB_EUSAGE otherwise).
 * Leaves l's KV cache empty. */
qb_status qb_speed_measure(qb_llama *l, const qb_speed_opts *o, qb_speed_result *r);

/* ---- rows in the database (table model_speed, results/schema.c migration 5) -------------- */

/* Which model, format and setting a row belongs to. */
typedef struct qb_speed_key {
    const char *run_id, *model_id, *format, *method; /* method as evals stores it ("perplexity") */
    const char *device;                              /* "cpu" */
    int threads;
} qb_speed_key;

/* The test names: "pp512", "tg128" (llama-bench's). */
void qb_speed_test_name(char buf[32], int pp, int n_tokens);
/* Stores r's pp row (pp = 1) or tg row (pp = 0), one committed INSERT (schema.c invariant 1);
 * gpu_mem_bytes ≤ 0 is stored as NULL. */
qb_status qb_speed_put(qb_db *db, const qb_speed_key *k, const qb_speed_result *r, int pp, int64_t gpu_mem_bytes);
/* 1 when the run holds the row of test (pp, n_tokens), and then its figures in r (the
 * samples, TTFT's mean only); else 0. */
int qb_speed_get(qb_db *db, const qb_speed_key *k, int pp, int n_tokens, qb_speed_result *r);

#endif
