/* schema.c — the results database schema as an ordered list of migrations.
 *
 * PRAGMA user_version holds the number of migrations applied; PRAGMA application_id marks
 * the file as ours (0x51424442, "QBDB"). Migrations only ever append (SQLite's iVersion
 * habit): a released step is never edited, so a database written by any version opens in
 * any later one. Keys are UUIDs or content-derived names, so databases from many machines
 * merge without collisions.
 *
 * Invariants:
 *  1. A row of a child table (tensor_errors, bench_*, evals, model_speed, limits) exists only after its
 *     measurement completed; each is committed on its own, so a killed run keeps them all.
 *  2. runs.status is 'running' only while its process lives; a run found 'running' whose
 *     process is gone (same host) is marked 'incomplete' at the next open (db.c).
 *  3. Every measured figure is stored in its SI unit named by the column (ns, bytes, dB). */
#include "schema.h"

static const char *const migrations[] = {
    /* 1: first release */
    "CREATE TABLE machines(\n"
    "  id TEXT PRIMARY KEY,            -- hash of the fingerprint\n"
    "  hostname TEXT NOT NULL, cpu_model TEXT NOT NULL, cpu_flags TEXT NOT NULL,\n"
    "  cores INTEGER NOT NULL, l1d_bytes INTEGER, l2_bytes INTEGER, l3_bytes INTEGER,\n"
    "  mem_bytes INTEGER NOT NULL, os TEXT NOT NULL, kernel TEXT NOT NULL,\n"
    "  compiler TEXT NOT NULL, cflags TEXT NOT NULL, sqlite_version TEXT NOT NULL,\n"
    "  openblas TEXT NOT NULL, onednn TEXT, cuda_driver TEXT, cuda_runtime TEXT, gpus TEXT,\n"
    "  fingerprint TEXT NOT NULL       -- all of the above as one JSON object\n"
    ");\n"
    "CREATE TABLE runs(\n"
    "  id TEXT PRIMARY KEY,            -- UUID v4\n"
    "  machine_id TEXT NOT NULL REFERENCES machines(id),\n"
    "  command TEXT NOT NULL,          -- the subcommand: errors, run, …\n"
    "  suite TEXT,                     -- for `run --suite`\n"
    "  config TEXT NOT NULL,           -- normalized options (JSON); --resume needs the same\n"
    "  argv TEXT NOT NULL,\n"
    "  version TEXT NOT NULL, git_commit TEXT NOT NULL, seed INTEGER,\n"
    "  host TEXT NOT NULL, pid INTEGER NOT NULL,\n"
    "  started_at TEXT NOT NULL, finished_at TEXT,\n"
    "  status TEXT NOT NULL CHECK (status IN ('running','complete','failed','incomplete')),\n"
    "  error TEXT\n"
    ");\n"
    "CREATE INDEX runs_started ON runs(started_at);\n"
    "CREATE TABLE formats(\n"
    "  name TEXT PRIMARY KEY, family TEXT NOT NULL, description TEXT NOT NULL,\n"
    "  block_elems INTEGER NOT NULL, block_bytes INTEGER NOT NULL,\n"
    "  row_extra_bytes INTEGER NOT NULL, tensor_extra_bytes INTEGER NOT NULL, gguf_type INTEGER\n"
    ");\n"
    "CREATE TABLE inputs(\n"
    "  id TEXT PRIMARY KEY,            -- kind:name:shape:content-hash, equal data → equal id\n"
    "  kind TEXT NOT NULL,             -- synthetic; later gguf, safetensors, text\n"
    "  name TEXT NOT NULL,             -- generator or file name\n"
    "  spec TEXT NOT NULL,             -- how to get it again, e.g. synthetic:gaussian:256x4096 seed=0\n"
    "  rows INTEGER, cols INTEGER, content_hash TEXT NOT NULL\n"
    ");\n"
    "CREATE TABLE tensor_errors(\n"
    "  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,\n"
    "  input_id TEXT NOT NULL REFERENCES inputs(id),\n"
    "  tensor TEXT NOT NULL,           -- tensor name inside the input; '' for a lone matrix\n"
    "  format TEXT NOT NULL REFERENCES formats(name),\n"
    "  rows INTEGER NOT NULL, cols INTEGER NOT NULL, bits_per_weight REAL NOT NULL,\n"
    "  mse REAL, rmse REAL, max_abs REAL, sqnr_db REAL, cosine REAL,\n"
    "  created_at TEXT NOT NULL,\n"
    "  PRIMARY KEY (run_id, input_id, tensor, format)\n"
    ");\n"
    "CREATE TABLE bench_cases(\n"
    "  id TEXT PRIMARY KEY,            -- UUID v4\n"
    "  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,\n"
    "  op TEXT NOT NULL, format TEXT, backend TEXT NOT NULL, device TEXT NOT NULL,\n"
    "  shape TEXT NOT NULL, threads INTEGER NOT NULL, config TEXT, created_at TEXT NOT NULL\n"
    ");\n"
    "CREATE TABLE bench_samples(\n"
    "  case_id TEXT NOT NULL REFERENCES bench_cases(id) ON DELETE CASCADE,\n"
    "  idx INTEGER NOT NULL, ns INTEGER NOT NULL, iters INTEGER NOT NULL,\n"
    "  bytes INTEGER, flops INTEGER, outlier INTEGER NOT NULL DEFAULT 0,\n"
    "  PRIMARY KEY (case_id, idx)\n"
    ");\n"
    "CREATE TABLE evals(\n"
    "  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,\n"
    "  model_id TEXT NOT NULL REFERENCES inputs(id), text_id TEXT NOT NULL REFERENCES inputs(id),\n"
    "  format TEXT NOT NULL, method TEXT NOT NULL, ctx INTEGER NOT NULL, chunks INTEGER NOT NULL,\n"
    "  tokens INTEGER NOT NULL, ppl REAL, ppl_err REAL, kld_mean REAL, kld_p99 REAL, top1 REAL,\n"
    "  created_at TEXT NOT NULL,\n"
    "  PRIMARY KEY (run_id, model_id, text_id, format, method, ctx)\n"
    ");\n"
    "CREATE TABLE limits(\n"
    "  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,\n"
    "  kind TEXT NOT NULL, threads INTEGER NOT NULL, value REAL NOT NULL, unit TEXT NOT NULL,\n"
    "  PRIMARY KEY (run_id, kind, threads)\n"
    ");\n",
    /* 2: model files — per-tensor rows under a llama.cpp file type, |error| percentiles.
     * tensor_errors.format is then the file type (a 'mix' row of formats) and tensor_format
     * the format that tensor got; tensor '(total)' holds a model's element-weighted total. */
    "ALTER TABLE tensor_errors ADD COLUMN tensor_format TEXT;\n"
    "ALTER TABLE tensor_errors ADD COLUMN p50_abs REAL;\n"
    "ALTER TABLE tensor_errors ADD COLUMN p95_abs REAL;\n"
    "ALTER TABLE tensor_errors ADD COLUMN p99_abs REAL;\n"
    "ALTER TABLE tensor_errors ADD COLUMN p999_abs REAL;\n"
    "ALTER TABLE tensor_errors ADD COLUMN hist TEXT;            -- JSON histogram of |error| (metrics.h)\n",
    /* 3: model evaluation (`quantbench eval`, evals/eval_job.h): one evals row per format,
     * method 'perplexity' (llama-perplexity's windows; tokens = scored positions). The text is
     * an inputs row of kind 'text' (a UTF-8 file) or 'tokens' (pre-tokenized ids); model_id is
     * the model the formats were made from (kind gguf/safetensors, as `errors` names it), and
     * variant_id the already-quantized GGUF file a row evaluated instead, if any. KLD, Δp and
     * top-1 compare with the run's reference format (ref_format); its own row holds 0, 0, 1.
     * Errors (_err) are one standard error of the mean, as llama-perplexity prints them. */
    "ALTER TABLE evals ADD COLUMN ref_format TEXT;\n"
    "ALTER TABLE evals ADD COLUMN variant_id TEXT REFERENCES inputs(id);\n"
    "ALTER TABLE evals ADD COLUMN bits_per_weight REAL;         -- all weights, as llama.cpp's BPW\n"
    "ALTER TABLE evals ADD COLUMN model_bytes INTEGER;          -- weights as evaluated\n"
    "ALTER TABLE evals ADD COLUMN bpb REAL;                     -- bits per UTF-8 byte of the scored tokens\n"
    "ALTER TABLE evals ADD COLUMN ppl_ref REAL;\n"
    "ALTER TABLE evals ADD COLUMN ppl_ratio REAL;               -- PPL(Q)/PPL(ref)\n"
    "ALTER TABLE evals ADD COLUMN ppl_ratio_err REAL;           -- with the NLL covariance\n"
    "ALTER TABLE evals ADD COLUMN kld_err REAL;\n"
    "ALTER TABLE evals ADD COLUMN kld_p50 REAL;\n"
    "ALTER TABLE evals ADD COLUMN kld_p90 REAL;\n"
    "ALTER TABLE evals ADD COLUMN kld_p999 REAL;\n"
    "ALTER TABLE evals ADD COLUMN kld_max REAL;\n"
    "ALTER TABLE evals ADD COLUMN dp_mean REAL;                 -- Δp = q(correct) - p_ref(correct)\n"
    "ALTER TABLE evals ADD COLUMN dp_err REAL;\n"
    "ALTER TABLE evals ADD COLUMN dp_rms REAL;\n"
    "ALTER TABLE evals ADD COLUMN dp_rms_err REAL;\n"
    "ALTER TABLE evals ADD COLUMN dp_min REAL;\n"
    "ALTER TABLE evals ADD COLUMN dp_p01 REAL;\n"
    "ALTER TABLE evals ADD COLUMN dp_p50 REAL;\n"
    "ALTER TABLE evals ADD COLUMN dp_p99 REAL;\n"
    "ALTER TABLE evals ADD COLUMN dp_max REAL;\n"
    "ALTER TABLE evals ADD COLUMN top1_err REAL;\n"
    "ALTER TABLE evals ADD COLUMN tokens_per_s REAL;            -- evaluated tokens / forward-pass time\n"
    "ALTER TABLE evals ADD COLUMN load_s REAL;                  -- loading and quantizing the weights\n"
    "ALTER TABLE evals ADD COLUMN threads INTEGER;\n",
    /* 4: calibration-aware quantization (`eval --methods`, evals/eval_job.h): method
     * 'perplexity' stays plain RTN; 'perplexity+<m>' (m = imatrix, gptq, awq, smoothquant) rows
     * were quantized with statistics from calibration text, whose collection plus the method's
     * own search and quantization took calib_s seconds (NULL for RTN). A format 'W:A' is
     * weights in W with activations quantized through A (W8A8 and the like). */
    "ALTER TABLE evals ADD COLUMN calib_s REAL;                 -- calibration seconds (statistics + method)\n",
    /* 5: model speed and memory (`run --model`, evals/speed.h): per format, llama-bench's tests
     * (test 'pp512': 512 prompt tokens in one batch; 'tg128': 128 tokens generated one at a
     * time), each a row committed as soon as it is measured, on device 'cpu' at `threads`.
     * Tokens per second over `reps` timed repetitions (mean, sample sd, min, max; samples: each
     * repetition's seconds as a JSON array). pp rows: ttft_s, the mean time from an empty cache
     * to the first generated token. tg rows: bytes_per_token (bytes one step reads: weights and
     * KV cache, mean over the generated positions), read_bw (the measured read bandwidth, B/s)
     * and bound_tps = read_bw / bytes_per_token. rss_peak_bytes: the whole process's peak
     * resident set during the test (common/rss.h), NULL where unknown; gpu_mem_bytes likewise.
     * evals gains the peak resident set during the perplexity pass, and the size of the GGUF
     * file evaluated when the format was one (NULL otherwise). */
    "ALTER TABLE evals ADD COLUMN rss_peak_bytes INTEGER;\n"
    "ALTER TABLE evals ADD COLUMN file_bytes INTEGER;\n"
    "CREATE TABLE model_speed(\n"
    "  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,\n"
    "  model_id TEXT NOT NULL REFERENCES inputs(id),\n"
    "  format TEXT NOT NULL, method TEXT NOT NULL, device TEXT NOT NULL, threads INTEGER NOT NULL,\n"
    "  test TEXT NOT NULL,               -- pp512, tg128 (llama-bench's names)\n"
    "  n_tokens INTEGER NOT NULL, reps INTEGER NOT NULL,\n"
    "  tps_mean REAL, tps_sd REAL, tps_min REAL, tps_max REAL,\n"
    "  samples TEXT NOT NULL,            -- JSON array of each repetition's seconds\n"
    "  ttft_s REAL, bytes_per_token REAL, read_bw REAL, bound_tps REAL,\n"
    "  rss_peak_bytes INTEGER, gpu_mem_bytes INTEGER,\n"
    "  created_at TEXT NOT NULL,\n"
    "  PRIMARY KEY (run_id, model_id, format, method, device, threads, test)\n"
    ");\n",
    /* 6: the machine's state beside each sample of a case whose data lies beyond the caches:
     * the time to read probe_bytes (the case's config) from DRAM right after the sample, NULL
     * for cases without a probe. compare.h adjusts such samples to the baseline's bandwidth. */
    "ALTER TABLE bench_samples ADD COLUMN probe_ns INTEGER;\n",
    /* 7: the paired limit kernel's sample after each sample of a dequantize or gemv case beyond
     * the LLC (bench.h, step 4): its ns and iterations, NULL for cases without one. */
    "ALTER TABLE bench_samples ADD COLUMN pair_ns INTEGER;\n"
    "ALTER TABLE bench_samples ADD COLUMN pair_iters INTEGER;\n",
};

int qb_schema_version(void) { return (int)(sizeof migrations / sizeof migrations[0]); }

const char *qb_schema_migration(int i) { return i >= 0 && i < qb_schema_version() ? migrations[i] : 0; }
