/* llama.h — a Llama-family forward pass (llama: Llama 2/3, TinyLlama, Mistral; qwen2) over
 * weights in any registry format, as llama.cpp computes it (FORMATS.md §10; llama.cpp's
 * llm_build_llama / llm_build_qwen2): RMSNorm, RoPE (normal or NeoX order, freq_base,
 * Llama-3 rope scaling), grouped-query attention with a KV cache, SwiGLU, tied or separate
 * output embedding, q/k/v biases for qwen2.
 *
 * Weights come from an open qb_model (GGUF or safetensors + config.json), memory-mapped;
 * with a format given, each quantizable tensor is quantized in memory once at load (one
 * tensor at a time, so peak memory is the quantized model plus one f32 tensor).
 *
 * Two paths (invariant 1): the reference path dequantizes a whole tensor to f32 and does
 * plain f32 loops, one thread; the fast path evaluates a batch of tokens with OpenBLAS sgemm
 * on dequantized tiles (never a whole f32 copy of the model) and uses the formats' fused
 * vec_dot for 1 to 4 tokens, multithreaded. Both round activations to the weight format's
 * vec_dot_type before a product, as ggml does. The KV cache is f32: 2 · n_layer · n_ctx ·
 * n_embd_kv · 4 bytes.
 *
 * Invariants:
 *  1. Fast and reference logits agree within QB_LLAMA_FAST_TOL(_ROUNDED) below, tested.
 *  2. f32 weights give llama.cpp's logits within 1e-4 relative (evals/tests/oracle_forward.py). */
#ifndef QB_LLAMA_H
#define QB_LLAMA_H

#include <stdint.h>

#include "../common/qb.h"
#include "../datasets/model.h"
#include "../formats/format.h"

typedef struct qb_llama qb_llama;

/* Invariant 1's tolerances: per position, max_v |fast_v − ref_v| ≤ tol · max_v |ref_v|.
 * Weights whose products take f32 activations (f32, and formats without a vec_dot_type such
 * as nf4 or the int* family): the paths differ only in summation order, measured ≤ 1.5e-6 on
 * the test models over 23 seeds, so QB_LLAMA_FAST_TOL = 1e-5. Weights whose products round the activations
 * to a vec_dot_type first, as ggml does (q8_0 for q4_0/q8_0, q8_1 for q4_1, q8_K for K-quants,
 * f16 for f16): both paths round, but a value that lies within float noise of a rounding
 * boundary may round one way on one path and the other way on the other, one quantization step
 * (≈ 1/127 of its block's largest value) that later layers carry on. Such flips are rare and
 * each moves the logits by up to ~2e-2 of their range: the worst seen over 23 seeds of the
 * test models and 6 such formats was 1.95e-2 (f16: 6e-4), so QB_LLAMA_FAST_TOL_ROUNDED = 6e-2.
 * Without a flip these formats agree to ~1e-6 as well. */
#define QB_LLAMA_FAST_TOL 1e-5
#define QB_LLAMA_FAST_TOL_ROUNDED 6e-2

/* Quantizes one tensor at load in place of the format's own quantize (calibration-aware
 * methods plug in here: evals/calib.h). x: rows × cols f32 of tensor `tensor`; q:
 * qb_format_bytes(f, rows, cols) bytes that must hold f's own encoding. */
typedef qb_status (*qb_llama_quant_fn)(void *ctx, const char *tensor, const qb_format *f, const float *x, void *q, int64_t rows,
                                       int64_t cols, int threads);

/* Rewrites a 1-D tensor (norm weight, bias) once it is decoded at load: methods that fold
 * per-channel scales into the op before a product (AWQ, SmoothQuant) plug in here. */
typedef void (*qb_llama_vector_fn)(void *ctx, const char *tensor, float *v, int64_t n);

typedef struct qb_llama_opts {
    /* NULL or "": the weights as stored. Else a registry format name ("q8_0", "nf4") or a
     * llama.cpp file type ("Q4_K_M") whose per-tensor policy (formats/mixes.h) is applied;
     * tensors llama-quantize leaves alone (norms, biases) stay as stored. */
    const char *format;
    qb_llama_quant_fn quant;     /* NULL: qb_format_quantize_mt without importance weights */
    void *quant_ctx;
    qb_llama_vector_fn fold;     /* NULL: vectors as stored */
    void *fold_ctx;
    /* NULL or "": activations stay f32. Else a registry format the input of every blk.*
     * product is quantized and dequantized through first, the step's n tokens × cols as one
     * tensor (simulated weight+activation quantization, then the product as usual): per-row
     * formats give per-token scales (int8_sym_row: W8A8/W4A8's dynamic per-token int8;
     * fp8_e4m3_pc: FP8 per token), per-tensor ones one scale over the step's tokens
     * (fp8_e4m3_pt: dynamic per-tensor FP8, which then depends on how tokens are batched).
     * The output head keeps f32 activations, as W8A8 deployments keep lm_head in 16 bits. */
    const char *act_format;
    int threads;                 /* ≥ 1 */
    int ref;                     /* 1: the reference path */
    int n_ctx;                   /* KV cache capacity in tokens (≥ 1) */
    int n_batch;                 /* most tokens per forward step (scratch is sized for it); 0: 512 */
} qb_llama_opts;

/* The model stays owned by the caller and must outlive the qb_llama. QB_EINPUT naming the
 * file and key/tensor for an unsupported architecture, a missing tensor or a bad shape. */
qb_status qb_llama_load(const qb_model *m, const qb_llama_opts *o, qb_llama **out);
void qb_llama_free(qb_llama *l);

int32_t qb_llama_n_vocab(const qb_llama *l);
int32_t qb_llama_n_ctx_train(const qb_llama *l);
/* Bytes of the weights as evaluated (quantized tensors at their format's size) and their
 * bits per weight over all tensors, as llama.cpp reports model size and BPW. */
uint64_t qb_llama_weight_bytes(const qb_llama *l);
double qb_llama_bpw(const qb_llama *l);
uint64_t qb_llama_n_params(const qb_llama *l);
/* Bytes one single-token step reads from memory after n_past cached tokens: every weight
 * matrix but the token embedding (of which one row), the norms, and the KV cache's keys and
 * values at positions 0..n_past. The numerator of the token-generation bound (model bytes
 * per token ÷ read bandwidth) that llama.cpp's users reason with; tied output weights are
 * counted once, as the output product reads the whole table. */
uint64_t qb_llama_token_bytes(const qb_llama *l, int n_past);

/* Empties the KV cache: the next qb_llama_eval starts at position 0. */
void qb_llama_reset(qb_llama *l);
/* Appends n tokens to the sequence (positions continue from the KV cache) and writes the
 * n × n_vocab logits of every position to logits (row-major). QB_EINPUT when a token id is
 * outside the vocabulary or the KV cache would exceed n_ctx. */
qb_status qb_llama_eval(qb_llama *l, const int32_t *tokens, int n, float *logits);
/* The same, but writes only the last position's n_vocab logits: the output head runs for one
 * position instead of n, as llama.cpp computes a prompt whose other logits nobody reads
 * (llama-bench's pp). n ≥ 1. */
qb_status qb_llama_eval_last(qb_llama *l, const int32_t *tokens, int n, float *logits);

/* Calibration hook: while set, every matrix product first hands its input to fn: the n × cols
 * f32 activation rows the weight `weight` (its tensor name) is multiplied by, as computed on
 * this path before any rounding to the weight's vec_dot_type (llama-imatrix sees ggml's f32
 * src1 the same way). Products sharing an input (q, k, v; gate, up) each report it. Called
 * from the evaluating thread, between products; fn NULL removes the hook (the default: the
 * normal path pays one pointer test per product). */
typedef void (*qb_llama_capture_fn)(void *ctx, const char *weight, const float *x, int64_t n, int64_t cols);
void qb_llama_set_capture(qb_llama *l, qb_llama_capture_fn fn, void *ctx);

#endif
