/* perplexity.h — the arithmetic of `llama-perplexity` (FORMATS.md §10.1, §10.2; llama.cpp
 * tools/perplexity/perplexity.cpp at commit 050fc7f3) as pure functions: which tokens a chunk
 * evaluates and scores, the log-softmax of a logits row, the compact per-position log-prob
 * record of a reference pass, a position's KLD / Δp / top-1 against that record, and the
 * running sums with the statistics and error bars llama.cpp prints. No I/O, no model: the
 * eval job (eval_job.h) feeds logits in and stores what comes out.
 *
 * Windows: chunk c evaluates tokens [c·n_ctx, (c+1)·n_ctx) from an empty KV cache, the first
 * replaced by BOS when the model adds one; logits row j (j = n_ctx/2 … n_ctx−2) predicts the
 * original token c·n_ctx + j + 1. llama.cpp needs at least 2·n_ctx tokens; so do we.
 *
 * Log-softmax: ln p_v = z_v − max − ln Σ_u exp(z_u − max), exp in float and the sum in double,
 * as llama.cpp does; NLL_t = max + lse − z_tok.
 *
 * Record (llama.cpp's KLD base file, per position, QB_LPREC_WORDS(n_vocab) uint16 words):
 *   OFFSET  SIZE        DESCRIPTION
 *   0       4           float scale = (max − min′)/65535, min′ = max(min z, max − 16)
 *   4       4           float min_log_prob = min′ − max − lse
 *   8       2·n_vocab   uint16 q_v = nearest((z_v − min′)/scale) when z_v > min′, else 0
 *   …       0 or 2      padding to an even word count
 * Decoded ln p_v = scale·q_v + min_log_prob; the error is at most scale/2 ≤ 16/131070 nats for
 * v above the cutoff; below it (ln p ≤ −16 + …) the value is min_log_prob.
 *
 * Invariants:
 *  1. KLD_t = Σ_{v: ln p_v > −16} p_v·(ln p_v − ln q_v), p the reference, in float terms as
 *     llama.cpp; with the reference given exactly (qb_logprobs_exact) and the same logits,
 *     every term is exactly 0, top-1 agrees and Δp = 0.
 *  2. Error of a mean over n values: sqrt((mean(x²) − mean(x)²)/(n − 1)); NaN when n < 2.
 *     (llama.cpp's KLD printout shows 0 below 11 values; we give the formula's value.)
 *  3. Percentiles interpolate linearly between order statistics (p·(n−1)), as llama.cpp. */
#ifndef QB_PERPLEXITY_H
#define QB_PERPLEXITY_H

#include <stdint.h>

#include "../common/qb.h"

/* ---- windows ------------------------------------------------------------------------------ */

typedef struct qb_ppl_plan {
    int n_ctx;       /* tokens per chunk */
    int n_chunks;    /* chunks evaluated */
    int first;       /* first scored logits row: n_ctx/2 */
    int n_scored;    /* scored positions per chunk: n_ctx − 1 − n_ctx/2 */
} qb_ppl_plan;

/* Chunks of n_ctx tokens over n_tokens, at most max_chunks (≤ 0: all). QB_EUSAGE when
 * n_ctx < 2, QB_EINPUT saying how many tokens are needed when n_tokens < 2·n_ctx. */
qb_status qb_ppl_plan_make(int64_t n_tokens, int n_ctx, int max_chunks, qb_ppl_plan *out);
/* The n_ctx tokens chunk c evaluates: tokens[c·n_ctx …], the first replaced by bos ≥ 0. */
void qb_ppl_chunk_tokens(const qb_ppl_plan *p, const int32_t *tokens, int chunk, int32_t bos, int32_t *out);
/* Index in tokens of the target of scored position k (0 … n_scored−1) of chunk c. */
int64_t qb_ppl_target(const qb_ppl_plan *p, int chunk, int k);

/* ---- one logits row --------------------------------------------------------------------- */

typedef struct qb_logsm {
    float max;  /* max_v z_v */
    double lse; /* ln Σ exp(z_v − max) */
    int argmax; /* first v with z_v = max */
} qb_logsm;

void qb_logsoftmax(const float *z, int n_vocab, qb_logsm *out);
/* −ln p(tok) = max + lse − z[tok]. */
double qb_nll(const float *z, const qb_logsm *s, int32_t tok);
/* ln p_v of every v, in float as the KLD terms use them: z_v − (max + lse). */
void qb_logprobs_exact(const float *z, int n_vocab, const qb_logsm *s, float *logp);

/* ---- the reference record --------------------------------------------------------------- */

#define QB_LPREC_WORDS(n_vocab) (2 * (((int64_t)(n_vocab) + 1) / 2) + 4)

void qb_lprec_encode(const float *z, int n_vocab, const qb_logsm *s, uint16_t *rec);
/* ln p_v of every v as the record holds them. */
void qb_lprec_decode(const uint16_t *rec, int n_vocab, float *logp);

/* ---- one scored position against the reference ------------------------------------------- */

typedef struct qb_kld_pos {
    double nll, nll_ref; /* −ln q(tok), −ln p(tok) */
    double kld;          /* nats */
    double dp;           /* q(tok) − p(tok) */
    int same_top;        /* argmax q = argmax p (first maximum of each) */
} qb_kld_pos;

/* ref_logp: the reference's ln p_v (decoded record, or exact); z: this model's logits.
 * out->nll_ref is −ref_logp[tok]; the eval job replaces it by the exact value it kept from
 * the reference pass (eval_job.c, refstore). */
void qb_kld_position(const float *ref_logp, const float *z, int n_vocab, int32_t tok, qb_kld_pos *out);

/* ---- accumulation and statistics -------------------------------------------------------- */

typedef struct qb_ppl_acc {
    int64_t n, same_top;
    double s_nll, s_nll2, s_ref, s_ref2, s_nll_ref, s_kld, s_kld2, s_dp, s_dp2, s_dp4;
    float *kld, *dp; /* every position's value, for percentiles */
    int64_t cap;
} qb_ppl_acc;

void qb_ppl_acc_init(qb_ppl_acc *a);
void qb_ppl_acc_free(qb_ppl_acc *a);
void qb_ppl_acc_add(qb_ppl_acc *a, const qb_kld_pos *p);

typedef struct qb_mean_err {
    double mean, err;
} qb_mean_err;

/* Invariant 2 over n values with sum s and sum of squares s2. */
qb_mean_err qb_mean_err_of(double s, double s2, int64_t n);
/* Covariance of the two means: (mean(ab) − mean(a)·mean(b))/(n − 1). */
double qb_cov_of_means(double sa, double sb, double sab, int64_t n);
/* Linear-interpolated percentile (fraction in [0, 1]) of ascending sorted[0, n). */
double qb_percentile_sorted(const float *sorted, int64_t n, double fraction);

typedef struct qb_ppl_stats {
    int64_t n;
    double ppl, ppl_err;                  /* exp(mean NLL), ppl · err(NLL) */
    double ppl_ref, ppl_ref_err;
    double ln_ratio, ln_ratio_err;        /* ln(PPL/PPL_ref) ± sqrt(e² + e_ref² − 2 cov) */
    double ppl_ratio, ppl_ratio_err;      /* exp(ln_ratio) ± ratio · ln_ratio_err */
    double kld_mean, kld_err;
    double kld_p50, kld_p90, kld_p99, kld_p999, kld_max;
    double dp_mean, dp_err, dp_rms, dp_rms_err; /* rms err = err(dp²)/(2·rms) */
    double dp_p01, dp_p50, dp_p99, dp_min, dp_max;
    double top1, top1_err;                /* p ± sqrt(p(1 − p)/(n − 1)) */
} qb_ppl_stats;

/* The statistics (sorts the accumulator's value arrays). */
void qb_ppl_acc_stats(qb_ppl_acc *a, qb_ppl_stats *out);

#endif
