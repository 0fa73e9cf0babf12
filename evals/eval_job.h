/* eval_job.h — the model-evaluation job behind `quantbench eval`: perplexity and KL-divergence
 * of a model under several formats, scored as llama-perplexity scores them (perplexity.h).
 *
 * The reference format (by default the weights as stored when they are f16 or bf16, else f32)
 * is evaluated first; for every scored position it keeps llama.cpp's compact log-prob record
 * (QB_LPREC_WORDS(n_vocab) uint16 words, ≈ 2·n_vocab bytes) — in memory up to ref_mem_bytes,
 * else in an unlinked temporary file in the database's directory (n_chunks · (ctx − 1 − ctx/2)
 * records: 255 per chunk at ctx 512, 16 MB per chunk for a 32k vocabulary, 65 MB for 128k;
 * WikiText-2's 560 chunks of Llama 3 would take 37 GB, as llama.cpp's base file). Each other format
 * is then loaded through qb_llama_load (quantized in memory from the same model, or an
 * already-quantized GGUF file given by path), run over the same chunks, and compared with the
 * records position by position.
 *
 * Speed and memory (job->speed): after its perplexity pass, each format (the reference too)
 * runs the speed tests of evals/speed.h on the same loaded model (n_ctx raised to the longest
 * test), each test's model_speed row committed as soon as it is measured. Memory is measured
 * fairly between formats: the previous format is freed and the stored model's pages leave the
 * resident set (qb_model_release_all) before the peak is reset, so a quantized format is not
 * charged for the f16 pages its quantization read; rss_peak is the process's peak during the
 * perplexity pass (evals.rss_peak_bytes), the speed tests' peaks are their rows'.
 *
 * Invariants:
 *  1. Each format's evals row is committed as soon as its pass ends (schema.c invariant 1); a
 *     resumed run skips formats it holds (the reference pass is redone only when a format
 *     still needs its records). With job->speed a format is done when its evals row and its
 *     speed rows are stored; one whose evals row is stored but a speed row missing is loaded
 *     again for the missing tests only.
 *  2. Per-position figures are computed in parallel but accumulated in position order, so the
 *     statistics add no dependence on --threads (the forward pass's own float sums may differ
 *     in the last bits between thread counts: evals/llama.c).
 *  3. Every token id is checked against the model's vocabulary before any chunk is evaluated.
 *
 * Methods (--methods): each format is evaluated once per quantization method that applies to it:
 *   rtn      the format's own quantize, no calibration (method 'perplexity' in the database, as
 *            before methods existed);
 *   imatrix  the format's quantize with llama.cpp's importance weights (mean x² per input column,
 *            evals/calib.h) — only formats that read them (QB_FMT_USES_IMP, or a llama.cpp file
 *            type); method 'perplexity+imatrix';
 *   gptq     GPTQ (evals/gptq.h) — the int group formats, q4_0, q8_0; method 'perplexity+gptq';
 *   awq      AWQ scales (evals/awq.h) searched for the format, folded into the norms and the
 *            weights, then the format's quantize — any quantized registry format;
 *            method 'perplexity+awq';
 *   smoothquant  SmoothQuant scales with job->sq_alpha (evals/smoothquant.h), folded the same
 *            way — for weight+activation schemes; method 'perplexity+smoothquant'.
 * A format spec "W:A" evaluates weights in W with every blk.* product's input quantized
 * through registry format A (qb_llama_opts.act_format): int8_sym_row:int8_sym_row is W8A8
 * with per-token int8 activations, int4_sym_g128:int8_sym_row W4A8, fp8_e4m3_pc:fp8_e4m3_pc
 * FP8 per token, fp8_e4m3_pc:fp8_e4m3_pt FP8 with one activation scale per step.
 * Calibration statistics come from one run of the model as stored over the calibration text
 * (never the evaluated text unless the caller passes it), collected once for all methods.
 * calib_s = that collection's time plus the method's own quantization time; tensors without
 * statistics (token_embd, output) are quantized by the format itself, as llama-quantize does. */
#ifndef QB_EVAL_JOB_H
#define QB_EVAL_JOB_H

#include <stdint.h>

#include "../results/db.h"
#include "perplexity.h"
#include "speed.h"

typedef struct qb_eval_job {
    const char *model_path;          /* the model the formats are made from (GGUF or safetensors) */
    const char *text_path;           /* UTF-8 text, tokenized with the model's GGUF tokenizer … */
    const char *tokens_path;         /* … or pre-tokenized ids (datasets/tokenizer.h, qb_tokens_read) */
    const char *const *formats;      /* registry formats, llama.cpp file types, or .gguf paths */
    int nformats;
    const char *ref;                 /* f32, f16 or bf16; NULL: f16 (bf16) when the model's weights are
                                        all stored so, else f32 */
    int ctx, max_chunks, threads;
    int64_t ref_mem_bytes;           /* reference records held in memory up to this size */
    const char *const *methods;      /* "rtn", "imatrix", "gptq"; NULL: rtn only */
    int nmethods;
    const char *calib_text_path;     /* calibration text … */
    const char *calib_tokens_path;   /* … or ids; needed when a method other than rtn is asked for */
    int calib_chunks;                /* at most this many chunks of ctx tokens (≤ 0: all) */
    double sq_alpha;                 /* SmoothQuant's migration strength α (0.5 as smooth.py) */
    const qb_speed_opts *speed;      /* NULL: none; else every format (the reference too) gets
                                        qb_speed_measure after its perplexity pass (model_speed rows) */
} qb_eval_job;

typedef struct qb_eval_row {
    const char *format, *ref_format;
    const char *method;              /* "rtn", "imatrix", "gptq" */
    const char *variant;             /* the GGUF file evaluated, when the format was a path; else NULL */
    int ctx, chunks, threads;
    int64_t tokens;                  /* scored positions */
    double bits_per_weight;
    int64_t model_bytes;
    double bpb;                      /* NaN without a tokenizer (--tokens on a model we cannot decode) */
    double tokens_per_s, load_s;
    double calib_s;                  /* calibration (statistics + method) seconds; NaN for rtn */
    qb_ppl_stats st;                 /* st.ppl_ref: the reference's PPL on the same positions */
    int64_t rss_peak;                /* peak resident bytes of the process during the perplexity pass; 0 unknown */
    int64_t file_bytes;              /* size of the GGUF file evaluated when the format was one; else 0 */
    const qb_speed_result *speed;    /* job->speed's tests, measured now or stored; NULL when not asked */
} qb_eval_row;

/* Called for each row, measured now or found stored by an earlier attempt (resumed = 1). */
typedef void (*qb_eval_row_fn)(void *ctx, const qb_eval_row *row, int resumed);

/* Runs the job into run_id. Stops between chunks with QB_ERUNTIME when qb_interrupted is set
 * (common/qb.h); completed formats stay stored. */
qb_status qb_eval_run(qb_db *db, const char *run_id, const qb_eval_job *job, qb_eval_row_fn fn, void *ctx);

#endif
