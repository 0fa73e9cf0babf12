/* train.h — `quantbench train`: trains the Llama architecture the evaluator runs (llama.h:
 * RMSNorm, RoPE in GGUF's interleaved order, grouped-query attention, SwiGLU, separate output
 * matrix) from scratch or from a GGUF model, and writes a GGUF that `quantbench eval` and
 * llama.cpp load.
 *
 * Model. All parameters live in one f32 array (qb_train_model.w) as GGUF tensors back to back
 * (tensor table in train.c), so gradients, the AdamW moments, clipping and checkpoints are one
 * loop over one array. Forward and backward are written out layer by layer (train.c) with the
 * forward operators of llama_ops.c and the backward kernels of train_ops.c; matrix products are
 * OpenBLAS sgemm over the whole batch (batch · ctx rows).
 *
 * Optimisation. AdamW (decoupled weight decay on matrices only), global gradient-norm clipping,
 * learning rate with linear warm-up then cosine decay to lr·lr_min. Batches are windows of
 * ctx + 1 tokens drawn from the training stream by a generator seeded with (seed, step), so a
 * step's batch does not depend on what ran before it.
 *
 * QAT. With a format, every matrix is fake-quantized (the format's quantize → dequantize) at the
 * start of each step; forward and backward use those weights and the gradient is applied to the
 * f32 master weights unchanged (straight-through estimator). The output is written in that
 * format.
 *
 * Checkpoint: a GGUF of three 1-D f32 tensors (weights, m, v) and the step, shape and
 * optimiser settings as keys; resuming checks they match the command.
 *
 * Invariants:
 *  1. A run is a function of its options (seed included) and OpenBLAS's thread count: a rerun
 *     gives the same bits, and a run stopped at a checkpoint and resumed gives the weights of
 *     an uninterrupted one (evals/tests/test_train.c).
 *  2. The gradient of qb_train_grad is the derivative of the loss it returns (finite-difference
 *     checks per kernel and for the whole model, test_train.c). */
#ifndef QB_TRAIN_H
#define QB_TRAIN_H

#include <stdint.h>

#include "../common/qb.h"
#include "../formats/format.h"
#include "train_ops.h"

typedef struct qb_train_shape {
    int n_vocab, dim, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    float rope_base, eps;
} qb_train_shape;

typedef struct qb_train_tensor {
    char name[64];
    int64_t rows, cols; /* cols = 1 for vectors (norm weights) */
    int64_t off;        /* into qb_train_model.w */
    int matrix;         /* 1: weight-decayed, fake-quantized under QAT, written in the output format */
} qb_train_tensor;

typedef struct qb_train_model {
    qb_train_shape s;
    int n_t;
    qb_train_tensor *t;
    int64_t n_params;
    float *w;
} qb_train_model;

/* Lays out the tensors and allocates w (zeroed); QB_EUSAGE naming the problem for a shape the
 * evaluator cannot run (dim not divisible by n_head, n_head not a multiple of n_head_kv, odd
 * head size). */
qb_status qb_train_model_init(qb_train_model *m, const qb_train_shape *s);
void qb_train_model_free(qb_train_model *m);
/* Random initialisation: N(0, 0.02) matrices, attn_output and ffn_down scaled by
 * 1/sqrt(2·n_layer) (GPT-2's residual scaling), norm weights 1. */
void qb_train_model_randomize(qb_train_model *m, uint64_t seed);
/* The index of a tensor by GGUF name, or -1. */
int qb_train_find(const qb_train_model *m, const char *name);

typedef struct qb_train_ws qb_train_ws;
/* Scratch for batches of up to `batch` sequences of the model's n_ctx tokens; attention runs
 * on `threads` threads (sequences split between them). */
qb_train_ws *qb_train_ws_new(const qb_train_model *m, int batch, int threads);
void qb_train_ws_free(qb_train_ws *ws);

/* Mean cross-entropy (nats per token) of B sequences of T + 1 tokens each (tokens[B][T + 1]:
 * positions 0..T−1 predict 1..T), T ≤ n_ctx, with the weights w (m->w, or fake-quantized
 * ones). When grad is not NULL it receives d loss / d w (overwritten, n_params values). */
double qb_train_grad(const qb_train_model *m, const float *w, const int32_t *tokens, int B, int T, float *grad,
                     qb_train_ws *ws);

typedef struct qb_train_opts {
    const char *data_dir, *heldout; /* the corpus (datasets/corpus.h) */
    const char *out_path;           /* the GGUF written at the end */
    const char *out_type;           /* "f32" or "bf16" (ignored under QAT) */
    const char *checkpoint;         /* NULL: none */
    int checkpoint_every;           /* steps between checkpoints (0: only at the end / at a stop) */
    int resume;                     /* 1: continue from the checkpoint when it exists */
    int stop_after;                 /* > 0: stop (checkpoint written) after this step */
    const char *init;               /* NULL: random init with `shape`; else a GGUF model to start from */
    const char *qat;                /* NULL: plain training; else a registry format to fake-quantize with */
    qb_train_shape shape;
    int batch, steps, warmup, eval_every, threads;
    float lr, lr_min, weight_decay, clip, beta1, beta2;
    uint64_t seed;
    int json; /* the summary as one JSON object on stdout instead of text lines */
} qb_train_opts;

typedef struct qb_train_summary {
    int steps;
    int64_t n_params, train_tokens, heldout_tokens, tokens_seen;
    double first_loss, final_loss;     /* training-batch loss at step 1 and the mean over the last eval interval */
    double heldout_loss, heldout_ppl;  /* the written model on the held-out stream */
    double unigram_ppl;                /* the add-one unigram model of the training stream, on the same positions */
    double seconds;
} qb_train_summary;

/* Runs a training job; progress lines (step, loss, held-out loss, tokens/s, ETA) go to stdout
 * (stderr with json). Stops between steps with QB_ERUNTIME when qb_interrupted is set (with a
 * checkpoint, the run can be resumed). */
qb_status qb_train_run(const qb_train_opts *o, qb_train_summary *sum);

#endif
