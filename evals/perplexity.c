/* perplexity.c — see perplexity.h. Where llama.cpp computes in float (the record, the KLD
 * terms, Δp) we do too, so figures agree to float rounding; the one deliberate difference is
 * that the KLD terms and this model's top token are taken from ln q_v = z_v − (max + lse)
 * rather than from z_v, so that identical inputs give exactly 0 (perplexity.h, invariant 1). */
#include "perplexity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- windows ------------------------------------------------------------------------------ */

qb_status qb_ppl_plan_make(int64_t n_tokens, int n_ctx, int max_chunks, qb_ppl_plan *out) {
    memset(out, 0, sizeof *out);
    if (n_ctx < 4) return qb_fail(QB_EUSAGE, "--ctx %d is too small: at least 4 tokens, so a chunk has a scored half", n_ctx);
    if (n_tokens < 2 * (int64_t)n_ctx)
        return qb_fail(QB_EINPUT, "the text has %lld tokens; perplexity with --ctx %d needs at least %lld (2 x ctx, as llama-perplexity)",
                       (long long)n_tokens, n_ctx, 2 * (long long)n_ctx);
    int64_t n = n_tokens / n_ctx;
    if (max_chunks > 0 && n > max_chunks) n = max_chunks;
    if (n > INT32_MAX) n = INT32_MAX;
    out->n_ctx = n_ctx;
    out->n_chunks = (int)n;
    out->first = n_ctx / 2;
    out->n_scored = n_ctx - 1 - n_ctx / 2;
    return QB_OK;
}

void qb_ppl_chunk_tokens(const qb_ppl_plan *p, const int32_t *tokens, int chunk, int32_t bos, int32_t *out) {
    memcpy(out, tokens + (int64_t)chunk * p->n_ctx, sizeof *out * (size_t)p->n_ctx);
    if (bos >= 0) out[0] = bos;
}

int64_t qb_ppl_target(const qb_ppl_plan *p, int chunk, int k) { return (int64_t)chunk * p->n_ctx + p->first + k + 1; }

/* ---- one logits row --------------------------------------------------------------------- */

void qb_logsoftmax(const float *z, int n_vocab, qb_logsm *out) {
    float max = z[0];
    int argmax = 0;
    for (int v = 1; v < n_vocab; v++)
        if (z[v] > max) max = z[v], argmax = v;
    double sum = 0;
    for (int v = 0; v < n_vocab; v++) sum += expf(z[v] - max);
    out->max = max;
    out->lse = log(sum);
    out->argmax = argmax;
}

double qb_nll(const float *z, const qb_logsm *s, int32_t tok) { return (double)s->max + s->lse - (double)z[tok]; }

/* max + lse as the float the KLD terms subtract (llama.cpp: max_logit += log_sum_exp). */
static float mlse_of(const qb_logsm *s) { return s->max + (float)s->lse; }

void qb_logprobs_exact(const float *z, int n_vocab, const qb_logsm *s, float *logp) {
    const float m = mlse_of(s);
    for (int v = 0; v < n_vocab; v++) logp[v] = z[v] - m;
}

/* ---- the reference record --------------------------------------------------------------- */

void qb_lprec_encode(const float *z, int n_vocab, const qb_logsm *s, uint16_t *rec) {
    float min = z[0];
    for (int v = 1; v < n_vocab; v++) min = fminf(min, z[v]);
    min = fmaxf(min, s->max - 16); /* values below max − 16 carry p < e^-16: not resolved */
    const float scale = (s->max - min) / 65535.f;
    const float min_log_prob = min - s->max - (float)s->lse;
    memcpy(rec, &scale, 4);
    memcpy(rec + 2, &min_log_prob, 4);
    uint16_t *q = rec + 4;
    memset(q, 0, sizeof *q * (size_t)(QB_LPREC_WORDS(n_vocab) - 4));
    if (scale > 0) {
        const float inv = 1 / scale;
        for (int v = 0; v < n_vocab; v++)
            if (z[v] > min) q[v] = (uint16_t)lrintf(inv * (z[v] - min)); /* ≤ 65535: z ≤ max */
    }
}

void qb_lprec_decode(const uint16_t *rec, int n_vocab, float *logp) {
    float scale, min_log_prob;
    memcpy(&scale, rec, 4);
    memcpy(&min_log_prob, rec + 2, 4);
    const uint16_t *q = rec + 4;
    for (int v = 0; v < n_vocab; v++) logp[v] = scale * q[v] + min_log_prob;
}

/* ---- one scored position ---------------------------------------------------------------- */

void qb_kld_position(const float *ref_logp, const float *z, int n_vocab, int32_t tok, qb_kld_pos *out) {
    qb_logsm s;
    qb_logsoftmax(z, n_vocab, &s);
    const float m = mlse_of(&s);
    double kld = 0;
    int top = 0, top_ref = 0;
    float best = -INFINITY, best_ref = -INFINITY;
    for (int v = 0; v < n_vocab; v++) {
        const float lq = z[v] - m, lp = ref_logp[v];
        if (lq > best) best = lq, top = v;
        if (lp > best_ref) best_ref = lp, top_ref = v;
        if (lp > -16.f) kld += expf(lp) * (lp - lq);
    }
    const float lq_tok = z[tok] - m, lp_tok = ref_logp[tok];
    out->nll = -(double)lq_tok;
    out->nll_ref = -(double)lp_tok;
    out->kld = kld;
    out->dp = (double)(expf(lq_tok) - expf(lp_tok));
    out->same_top = top == top_ref;
}

/* ---- accumulation and statistics -------------------------------------------------------- */

void qb_ppl_acc_init(qb_ppl_acc *a) { memset(a, 0, sizeof *a); }

void qb_ppl_acc_free(qb_ppl_acc *a) {
    free(a->kld);
    free(a->dp);
    memset(a, 0, sizeof *a);
}

void qb_ppl_acc_add(qb_ppl_acc *a, const qb_kld_pos *p) {
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 1024;
        a->kld = qb_realloc(a->kld, sizeof *a->kld * (size_t)a->cap);
        a->dp = qb_realloc(a->dp, sizeof *a->dp * (size_t)a->cap);
    }
    a->kld[a->n] = (float)p->kld;
    a->dp[a->n] = (float)p->dp;
    a->n++;
    a->same_top += p->same_top;
    a->s_nll += p->nll;
    a->s_nll2 += p->nll * p->nll;
    a->s_ref += p->nll_ref;
    a->s_ref2 += p->nll_ref * p->nll_ref;
    a->s_nll_ref += p->nll * p->nll_ref;
    a->s_kld += p->kld;
    a->s_kld2 += p->kld * p->kld;
    a->s_dp += p->dp;
    a->s_dp2 += p->dp * p->dp;
    a->s_dp4 += p->dp * p->dp * p->dp * p->dp;
}

qb_mean_err qb_mean_err_of(double s, double s2, int64_t n) {
    qb_mean_err r = {NAN, NAN};
    if (n < 1) return r;
    r.mean = s / (double)n;
    if (n < 2) return r;
    const double var = s2 / (double)n - r.mean * r.mean;
    r.err = var > 0 ? sqrt(var / (double)(n - 1)) : 0;
    return r;
}

double qb_cov_of_means(double sa, double sb, double sab, int64_t n) {
    if (n < 2) return NAN;
    const double dn = (double)n;
    return (sab / dn - (sa / dn) * (sb / dn)) / (dn - 1);
}

static int cmp_float(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

double qb_percentile_sorted(const float *v, int64_t n, double fraction) {
    if (n < 1) return NAN;
    if (fraction <= 0) return v[0];
    if (fraction >= 1) return v[n - 1];
    const double p = fraction * (double)(n - 1);
    const int64_t i = (int64_t)p;
    const double f = p - (double)i;
    return (1 - f) * v[i] + f * v[i + 1 < n ? i + 1 : n - 1];
}

void qb_ppl_acc_stats(qb_ppl_acc *a, qb_ppl_stats *o) {
    const int64_t n = a->n;
    const double dn = (double)n;
    o->n = n;
    const qb_mean_err nll = qb_mean_err_of(a->s_nll, a->s_nll2, n), ref = qb_mean_err_of(a->s_ref, a->s_ref2, n);
    o->ppl = exp(nll.mean);
    o->ppl_err = o->ppl * nll.err;
    o->ppl_ref = exp(ref.mean);
    o->ppl_ref_err = o->ppl_ref * ref.err;
    /* e² + e_ref² − 2·cov = var(nll − nll_ref)/(n − 1), taken from the moment sums directly so
     * that identical inputs give exactly 0 (no sqrt-then-square round trip) */
    o->ln_ratio = nll.mean - ref.mean;
    o->ln_ratio_err = NAN;
    if (n >= 2) {
        const double va = a->s_nll2 / dn - nll.mean * nll.mean, vb = a->s_ref2 / dn - ref.mean * ref.mean;
        const double cab = a->s_nll_ref / dn - nll.mean * ref.mean, v = (va + vb - 2 * cab) / (dn - 1);
        o->ln_ratio_err = v > 0 ? sqrt(v) : 0;
    }
    o->ppl_ratio = exp(o->ln_ratio);
    o->ppl_ratio_err = o->ppl_ratio * o->ln_ratio_err;

    const qb_mean_err kld = qb_mean_err_of(a->s_kld, a->s_kld2, n), dp = qb_mean_err_of(a->s_dp, a->s_dp2, n);
    const qb_mean_err dp2 = qb_mean_err_of(a->s_dp2, a->s_dp4, n);
    o->kld_mean = kld.mean;
    o->kld_err = kld.err;
    o->dp_mean = dp.mean;
    o->dp_err = dp.err;
    o->dp_rms = sqrt(dp2.mean);
    o->dp_rms_err = o->dp_rms > 0 ? 0.5 / o->dp_rms * dp2.err : 0;
    if (n >= 1) {
        qsort(a->kld, (size_t)n, sizeof *a->kld, cmp_float);
        qsort(a->dp, (size_t)n, sizeof *a->dp, cmp_float);
    }
    o->kld_p50 = qb_percentile_sorted(a->kld, n, 0.5);
    o->kld_p90 = qb_percentile_sorted(a->kld, n, 0.9);
    o->kld_p99 = qb_percentile_sorted(a->kld, n, 0.99);
    o->kld_p999 = qb_percentile_sorted(a->kld, n, 0.999);
    o->kld_max = qb_percentile_sorted(a->kld, n, 1);
    o->dp_min = qb_percentile_sorted(a->dp, n, 0);
    o->dp_p01 = qb_percentile_sorted(a->dp, n, 0.01);
    o->dp_p50 = qb_percentile_sorted(a->dp, n, 0.5);
    o->dp_p99 = qb_percentile_sorted(a->dp, n, 0.99);
    o->dp_max = qb_percentile_sorted(a->dp, n, 1);
    o->top1 = n ? (double)a->same_top / dn : NAN;
    o->top1_err = n >= 2 ? sqrt(o->top1 * (1 - o->top1) / (dn - 1)) : NAN;
}
