/* test_perplexity.c — the perplexity and KLD arithmetic on cases computed by hand:
 *  - uniform logits over V tokens: every NLL is ln V, so PPL = V exactly and its error is 0;
 *  - a two-token vocabulary, p = (1/4, 3/4): targets 1,1,1,0 give PPL = 4/3^(3/4) ± PPL·ln3/4;
 *    against q = (1/2, 1/2): KLD = ¼ln½ + ¾ln(3/2), Δp = −¼ on token 1 and +¼ on token 0, and
 *    the top tokens differ (q's tie goes to token 0); shifting all logits by 1000 changes nothing;
 *  - identical distributions: KLD exactly 0, top-1 = 1, Δp = 0, PPL ratio 1 ± 0 exactly;
 *  - the uint16 record decodes within scale/2 of the exact log-probs above its cutoff, and its
 *    KLD against the exact row stays within scale (the record's resolution);
 *  - mean ± error, covariance, percentiles and the top-1 error on tiny sets against hand
 *    values; ln-ratio error 0 for perfectly correlated NLLs and e_Q for a constant reference;
 *  - window scheduling on a toy sequence: chunk count, scored positions, targets, BOS. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/qbtest.h"
#include "datasets/source.h"
#include "evals/perplexity.h"

#define NEAR(a, b, tol) (fabs((double)(a) - (double)(b)) <= (tol))

static void acc_pos(qb_ppl_acc *a, double nll, double nll_ref, double kld, double dp, int same) {
    qb_kld_pos p = {nll, nll_ref, kld, dp, same};
    qb_ppl_acc_add(a, &p);
}

static void test_uniform(void) {
    enum { V = 1000 };
    float *z = calloc(V, sizeof *z), *logp = malloc(V * sizeof *logp);
    qb_logsm s;
    qb_logsoftmax(z, V, &s);
    qb_logprobs_exact(z, V, &s, logp);
    qb_ppl_acc a;
    qb_ppl_acc_init(&a);
    for (int t = 0; t < 37; t++) {
        CHECK(NEAR(qb_nll(z, &s, t * 7), log(V), 1e-12), "nll %.15g want ln %d", qb_nll(z, &s, t * 7), V);
        qb_kld_pos p;
        qb_kld_position(logp, z, V, t * 7, &p);
        qb_ppl_acc_add(&a, &p);
    }
    qb_ppl_stats st;
    qb_ppl_acc_stats(&a, &st);
    CHECK(NEAR(st.ppl, V, 1e-3), "uniform PPL %.9g want %d", st.ppl, V); /* float ln q: 6e-8 relative */
    CHECK(st.ppl_err < 1e-6, "uniform PPL error %.3g want 0", st.ppl_err);
    CHECK(st.kld_mean == 0 && st.kld_max == 0, "uniform self-KLD %.3g", st.kld_mean);
    qb_ppl_acc_free(&a);
    free(z);
    free(logp);
}

static void test_two_tokens(void) {
    const float ref[2] = {0, (float)log(3.0)}, q[2] = {0, 0};
    const int targets[4] = {1, 1, 1, 0};
    float lp[2];
    qb_logsm s;
    qb_logsoftmax(ref, 2, &s);
    CHECK(s.argmax == 1, "argmax %d", s.argmax);
    CHECK(NEAR(qb_nll(ref, &s, 0), log(4.0), 1e-7), "nll(0) %.9g want ln 4", qb_nll(ref, &s, 0));
    CHECK(NEAR(qb_nll(ref, &s, 1), log(4.0 / 3), 1e-7), "nll(1) %.9g want ln 4/3", qb_nll(ref, &s, 1));
    qb_logprobs_exact(ref, 2, &s, lp);

    /* the reference scored against itself: PPL by hand */
    qb_ppl_acc a;
    qb_ppl_acc_init(&a);
    for (int i = 0; i < 4; i++) {
        qb_kld_pos p;
        qb_kld_position(lp, ref, 2, targets[i], &p);
        qb_ppl_acc_add(&a, &p);
    }
    qb_ppl_stats st;
    qb_ppl_acc_stats(&a, &st);
    const double ppl = 4 / pow(3, 0.75);
    CHECK(NEAR(st.ppl, ppl, 1e-6), "PPL %.9g want 4/3^(3/4) = %.9g", st.ppl, ppl);
    CHECK(NEAR(st.ppl_err, ppl * log(3.0) / 4, 1e-6), "PPL err %.9g want %.9g", st.ppl_err, ppl * log(3.0) / 4);
    qb_ppl_acc_free(&a);

    /* q = (1/2, 1/2) against p = (1/4, 3/4) */
    const double kld = 0.25 * log(0.5) + 0.75 * log(1.5);
    qb_kld_pos p1, p0;
    qb_kld_position(lp, q, 2, 1, &p1);
    qb_kld_position(lp, q, 2, 0, &p0);
    CHECK(NEAR(p1.kld, kld, 1e-6), "KLD %.9g want %.9g", p1.kld, kld);
    CHECK(NEAR(p0.kld, kld, 1e-6), "KLD does not depend on the target: %.9g", p0.kld);
    CHECK(NEAR(p1.dp, -0.25, 1e-6), "dp(1) %.9g want -1/4", p1.dp);
    CHECK(NEAR(p0.dp, 0.25, 1e-6), "dp(0) %.9g want +1/4", p0.dp);
    CHECK(!p1.same_top, "top tokens 1 (ref) and 0 (tie in q) counted as same");
    CHECK(NEAR(p1.nll, log(2.0), 1e-7) && NEAR(p1.nll_ref, log(4.0 / 3), 1e-7), "nll %.9g ref %.9g", p1.nll, p1.nll_ref);

    /* large logits: the same distribution */
    const float big[2] = {1000, 1000 + (float)log(3.0)}, qbig[2] = {-500, -500};
    float lpbig[2];
    qb_logsoftmax(big, 2, &s);
    qb_logprobs_exact(big, 2, &s, lpbig);
    qb_kld_pos pb;
    qb_kld_position(lpbig, qbig, 2, 1, &pb);
    CHECK(NEAR(pb.kld, kld, 1e-4) && NEAR(pb.dp, -0.25, 1e-4), "shifted: KLD %.6g dp %.6g", pb.kld, pb.dp);

    /* the two-token accumulation: Δp mean, RMS and top-1 by hand */
    qb_ppl_acc_init(&a);
    for (int i = 0; i < 4; i++) {
        qb_kld_pos p;
        qb_kld_position(lp, q, 2, targets[i], &p);
        qb_ppl_acc_add(&a, &p);
    }
    qb_ppl_acc_stats(&a, &st);
    CHECK(NEAR(st.dp_mean, -0.125, 1e-6), "mean dp %.9g want -1/8", st.dp_mean);
    CHECK(NEAR(st.dp_rms, 0.25, 1e-6) && NEAR(st.dp_rms_err, 0, 1e-6), "rms dp %.9g ± %.3g want 1/4 ± 0", st.dp_rms, st.dp_rms_err);
    CHECK(st.top1 == 0 && st.top1_err == 0, "top1 %.3g ± %.3g want 0 ± 0", st.top1, st.top1_err);
    CHECK(NEAR(st.ppl, 2, 1e-6) && NEAR(st.ppl_ref, ppl, 1e-6), "PPL(Q) %.9g want 2, PPL(ref) %.9g", st.ppl, st.ppl_ref);
    CHECK(NEAR(st.ppl_ratio, 2 / ppl, 1e-6), "PPL ratio %.9g want %.9g", st.ppl_ratio, 2 / ppl);
    /* NLL(Q) is constant, so cov = 0 and the ratio's error is the reference's: ln3/4 */
    CHECK(NEAR(st.ln_ratio_err, log(3.0) / 4, 1e-6), "ln ratio err %.9g want ln3/4", st.ln_ratio_err);
    CHECK(NEAR(st.dp_min, -0.25, 1e-6) && NEAR(st.dp_max, 0.25, 1e-6) && NEAR(st.dp_p50, -0.25, 1e-6), "dp min %.3g max %.3g p50 %.3g",
          st.dp_min, st.dp_max, st.dp_p50);
    qb_ppl_acc_free(&a);
}

static void test_identical_and_record(void) {
    enum { V = 4099, N = 50 }; /* odd vocabulary: the record's padding word */
    float *z = malloc(V * sizeof *z), *exact = malloc(V * sizeof *exact), *dec = malloc(V * sizeof *dec);
    uint16_t *rec = malloc(sizeof *rec * (size_t)QB_LPREC_WORDS(V));
    qb_rng r;
    qb_rng_seed(&r, 7);
    qb_ppl_acc a;
    qb_ppl_acc_init(&a);
    double worst_rt = 0;
    for (int t = 0; t < N; t++) {
        const double sigma = 0.5 + t * 0.2; /* from flat to peaked: up to ~4 nats of spread */
        for (int v = 0; v < V; v++) z[v] = (float)(sigma * qb_rng_normal(&r)) + 3;
        const int32_t tok = (int32_t)(qb_rng_next(&r) % V);
        qb_logsm s;
        qb_logsoftmax(z, V, &s);
        qb_logprobs_exact(z, V, &s, exact);
        qb_kld_pos p;
        qb_kld_position(exact, z, V, tok, &p);
        CHECK(p.kld == 0 && p.dp == 0 && p.same_top && p.nll == p.nll_ref, "self: kld %.3g dp %.3g top %d", p.kld, p.dp, p.same_top);
        qb_ppl_acc_add(&a, &p);

        /* record round trip */
        qb_lprec_encode(z, V, &s, rec);
        CHECK(rec[QB_LPREC_WORDS(V) - 1] == 0, "padding word %u", rec[QB_LPREC_WORDS(V) - 1]);
        qb_lprec_decode(rec, V, dec);
        float scale, minlp;
        memcpy(&scale, rec, 4);
        memcpy(&minlp, rec + 2, 4);
        for (int v = 0; v < V; v++) {
            const double err = fabs((double)dec[v] - exact[v]);
            if (exact[v] > minlp + 1e-5f) {
                CHECK_LIMITED(err <= scale / 2 + 2e-6, "t=%d v=%d decoded %.8g exact %.8g scale %.3g", t, v, dec[v], exact[v], scale);
                if (err > worst_rt) worst_rt = err;
            } else {
                CHECK_LIMITED(dec[v] == minlp && exact[v] <= minlp + 1e-5f, "t=%d v=%d below cutoff: %.8g", t, v, dec[v]);
            }
        }
        qb_kld_pos pr;
        qb_kld_position(dec, z, V, tok, &pr);
        CHECK(fabs(pr.kld) <= scale, "t=%d record KLD %.3g beyond its resolution %.3g", t, pr.kld, scale);
        if (exact[tok] > minlp + 1e-5f) /* else the record holds the cutoff, as llama.cpp's does */
            CHECK(fabs(pr.nll - pr.nll_ref) <= scale, "t=%d record nll %.9g vs %.9g", t, pr.nll_ref, pr.nll);
        else
            CHECK(pr.nll_ref == -(double)minlp && pr.nll >= pr.nll_ref, "t=%d below cutoff: nll %.9g ref %.9g", t, pr.nll, pr.nll_ref);
    }
    printf("record round trip: worst |error| %.3g nats (scale/2 ≤ 16/131070 = %.3g, plus float rounding)\n", worst_rt, 16.0 / 131070);
    qb_ppl_stats st;
    qb_ppl_acc_stats(&a, &st);
    CHECK(st.kld_mean == 0 && st.kld_err == 0 && st.kld_max == 0, "self KLD %.3g ± %.3g", st.kld_mean, st.kld_err);
    CHECK(st.top1 == 1 && st.top1_err == 0, "self top-1 %.9g ± %.3g", st.top1, st.top1_err);
    CHECK(st.ppl_ratio == 1 && st.ln_ratio_err == 0 && st.ppl_ratio_err == 0, "self ratio %.17g ± %.3g", st.ppl_ratio, st.ln_ratio_err);
    CHECK(st.dp_mean == 0 && st.dp_rms == 0, "self dp %.3g rms %.3g", st.dp_mean, st.dp_rms);

    /* constant logits: scale 0, every word 0, decoded = min_log_prob = −ln V */
    for (int v = 0; v < V; v++) z[v] = 2.5f;
    qb_logsm s;
    qb_logsoftmax(z, V, &s);
    qb_lprec_encode(z, V, &s, rec);
    qb_lprec_decode(rec, V, dec);
    CHECK(NEAR(dec[0], -log(V), 1e-5) && NEAR(dec[V - 1], -log(V), 1e-5), "flat record %.8g want %.8g", dec[0], -log(V));
    qb_ppl_acc_free(&a);
    free(z);
    free(exact);
    free(dec);
    free(rec);
}

static void test_statistics(void) {
    qb_mean_err m = qb_mean_err_of(1 + 2 + 3 + 4, 1 + 4 + 9 + 16, 4);
    CHECK(NEAR(m.mean, 2.5, 1e-15) && NEAR(m.err, sqrt(1.25 / 3), 1e-15), "mean %.17g err %.17g want 2.5 ± sqrt(1.25/3)", m.mean, m.err);
    m = qb_mean_err_of(5, 25, 1);
    CHECK(m.mean == 5 && isnan(m.err), "one value: %.3g ± %.3g want 5 ± NaN", m.mean, m.err);
    /* a = 1..4, b = 2a: cov of the means = (mean(ab) − mean a·mean b)/(n − 1) = (15 − 12.5)/3 */
    CHECK(NEAR(qb_cov_of_means(10, 20, 2 + 8 + 18 + 32, 4), 2.5 / 3, 1e-15), "cov %.17g", qb_cov_of_means(10, 20, 60, 4));
    const float sorted[5] = {1, 2, 3, 4, 10}, even[4] = {1, 2, 3, 4};
    CHECK(qb_percentile_sorted(sorted, 5, 0.5) == 3, "median %.9g", qb_percentile_sorted(sorted, 5, 0.5));
    CHECK(NEAR(qb_percentile_sorted(sorted, 5, 0.9), 7.6, 1e-12), "p90 %.9g want 4 + 0.6·6", qb_percentile_sorted(sorted, 5, 0.9));
    CHECK(qb_percentile_sorted(sorted, 5, 0) == 1 && qb_percentile_sorted(sorted, 5, 1) == 10, "min/max");
    CHECK(qb_percentile_sorted(even, 4, 0.5) == 2.5, "even median %.9g want 2.5", qb_percentile_sorted(even, 4, 0.5));

    /* top-1 3 of 4 → 0.75 ± sqrt(0.75·0.25/3) = 0.25; KLD 0.1, 0.2, 0.3, 0.4 */
    qb_ppl_acc a;
    qb_ppl_acc_init(&a);
    const double nll[4] = {1, 2, 3, 4};
    for (int i = 0; i < 4; i++) acc_pos(&a, nll[i], nll[i], 0.1 * (i + 1), 0, i != 2);
    qb_ppl_stats st;
    qb_ppl_acc_stats(&a, &st);
    CHECK(NEAR(st.top1, 0.75, 1e-15) && NEAR(st.top1_err, 0.25, 1e-15), "top1 %.17g ± %.17g want 0.75 ± 0.25", st.top1, st.top1_err);
    CHECK(NEAR(st.kld_mean, 0.25, 1e-7) && NEAR(st.kld_err, 0.1 * sqrt(1.25 / 3), 1e-7), "kld %.9g ± %.9g", st.kld_mean, st.kld_err);
    CHECK(NEAR(st.kld_p50, 0.25, 1e-7) && NEAR(st.kld_max, 0.4, 1e-7), "kld p50 %.9g max %.9g", st.kld_p50, st.kld_max);
    CHECK(NEAR(st.ppl, exp(2.5), 1e-12) && NEAR(st.ppl_err, exp(2.5) * sqrt(1.25 / 3), 1e-12), "ppl %.12g ± %.12g", st.ppl, st.ppl_err);
    /* identical NLLs: perfectly correlated, the ratio is exactly 1 ± 0 */
    CHECK(st.ln_ratio == 0 && st.ln_ratio_err == 0, "ln ratio %.3g ± %.3g want 0 ± 0", st.ln_ratio, st.ln_ratio_err);
    qb_ppl_acc_free(&a);

    /* NLL(Q) = NLL(ref) + 0.5: correlation 1, the ratio is e^0.5 with no uncertainty */
    qb_ppl_acc_init(&a);
    for (int i = 0; i < 4; i++) acc_pos(&a, nll[i] + 0.5, nll[i], 0, 0, 1);
    qb_ppl_acc_stats(&a, &st);
    CHECK(NEAR(st.ln_ratio, 0.5, 1e-12) && st.ln_ratio_err < 1e-7, "shifted: ln ratio %.12g ± %.3g want 0.5 ± 0", st.ln_ratio,
          st.ln_ratio_err);
    CHECK(NEAR(st.ppl_ratio, exp(0.5), 1e-12), "ratio %.12g", st.ppl_ratio);
    qb_ppl_acc_free(&a);

    /* NLL(Q) = −NLL(ref) + 5: correlation −1, errors add: 2·sqrt(1.25/3) */
    qb_ppl_acc_init(&a);
    for (int i = 0; i < 4; i++) acc_pos(&a, 5 - nll[i], nll[i], 0, 0, 1);
    qb_ppl_acc_stats(&a, &st);
    CHECK(NEAR(st.ln_ratio_err, 2 * sqrt(1.25 / 3), 1e-12), "anti-correlated ln ratio err %.12g want %.12g", st.ln_ratio_err,
          2 * sqrt(1.25 / 3));
    qb_ppl_acc_free(&a);
}

static void test_windows(void) {
    int32_t tokens[20], chunk[8];
    for (int i = 0; i < 20; i++) tokens[i] = 100 + i;
    qb_ppl_plan p;
    CHECK(qb_ppl_plan_make(20, 8, 0, &p) == QB_OK, "plan: %s", qb_errmsg());
    CHECK(p.n_chunks == 2 && p.first == 4 && p.n_scored == 3, "chunks %d first %d scored %d want 2, 4, 3", p.n_chunks, p.first, p.n_scored);
    /* chunk 1 = tokens 8..15; rows 4, 5, 6 predict tokens 13, 14, 15 */
    CHECK(qb_ppl_target(&p, 0, 0) == 5 && qb_ppl_target(&p, 0, 2) == 7, "chunk 0 targets %lld..%lld want 5..7",
          (long long)qb_ppl_target(&p, 0, 0), (long long)qb_ppl_target(&p, 0, 2));
    CHECK(qb_ppl_target(&p, 1, 0) == 13 && qb_ppl_target(&p, 1, 2) == 15, "chunk 1 targets %lld..%lld want 13..15",
          (long long)qb_ppl_target(&p, 1, 0), (long long)qb_ppl_target(&p, 1, 2));
    qb_ppl_chunk_tokens(&p, tokens, 1, 1, chunk);
    CHECK(chunk[0] == 1 && chunk[1] == 109 && chunk[7] == 115, "BOS chunk %d %d … %d want 1 109 … 115", chunk[0], chunk[1], chunk[7]);
    CHECK(tokens[8] == 108, "the text itself keeps its token: %d", tokens[8]);
    qb_ppl_chunk_tokens(&p, tokens, 1, -1, chunk);
    CHECK(chunk[0] == 108, "no BOS: first token %d want 108", chunk[0]);
    CHECK(qb_ppl_plan_make(20, 8, 1, &p) == QB_OK && p.n_chunks == 1, "--chunks 1 gives %d", p.n_chunks);
    CHECK(qb_ppl_plan_make(15, 8, 0, &p) == QB_EINPUT && strstr(qb_errmsg(), "at least 16"), "15 tokens at ctx 8: %s", qb_errmsg());
    CHECK(qb_ppl_plan_make(2048, 512, 0, &p) == QB_OK && p.n_scored == 255 && p.first == 256, "ctx 512 scores %d from %d", p.n_scored,
          p.first);
    CHECK(qb_ppl_plan_make(100, 2, 0, &p) == QB_EUSAGE, "ctx 2 accepted");
}

int main(void) {
    test_uniform();
    test_two_tokens();
    test_identical_and_record();
    test_statistics();
    test_windows();
    return qbt_finish();
}
