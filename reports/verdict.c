/* verdict.c — the selection guide's tiers and its smallest usable format (verdict.h). */
#include "verdict.h"

#include <math.h>
#include <string.h>

#include "../common/qb.h"

/* Within both limits; a KLD that was not measured does not hold a format back. */
static int within(double dppl, double kld, double max_dppl, double max_kld) {
    return dppl <= max_dppl && (!isfinite(kld) || kld <= max_kld);
}

const char *qb_verdict_tier(int is_ref, double dppl_pct, double kld) {
    if (is_ref) return "reference";
    if (!isfinite(dppl_pct)) return NULL;
    return within(dppl_pct, kld, QB_VERDICT_NEAR_LOSSLESS_DPPL, QB_VERDICT_NEAR_LOSSLESS_KLD) ? "near-lossless"
           : within(dppl_pct, kld, QB_VERDICT_BALANCED_DPPL, QB_VERDICT_BALANCED_KLD)        ? "balanced"
           : within(dppl_pct, kld, QB_VERDICT_USABLE_DPPL, QB_VERDICT_USABLE_KLD)            ? "usable"
                                                                                              : "not recommended";
}

int qb_verdict_usable(const char *tier) {
    return tier && (strcmp(tier, "near-lossless") == 0 || strcmp(tier, "balanced") == 0 || strcmp(tier, "usable") == 0);
}

int qb_verdict_smallest_usable(const double *bpw, const double *kld, const char *const *tier, int n) {
    int best = -1;
    for (int i = 0; i < n; i++) {
        if (!qb_verdict_usable(tier[i])) continue;
        double k = kld ? kld[i] : NAN, kb = kld && best >= 0 ? kld[best] : NAN;
        if (best < 0 || bpw[i] < bpw[best] || (bpw[i] == bpw[best] && k < kb)) best = i;
    }
    return best;
}

const char *qb_verdict_label(const char *tier, int is_smallest) {
    if (!tier || !is_smallest) return tier;
    return strcmp(tier, "near-lossless") == 0 ? "near-lossless; smallest usable"
           : strcmp(tier, "balanced") == 0    ? "balanced; smallest usable"
                                              : "smallest usable";
}

char *qb_verdict_rule(void) {
    return qb_asprintf("near-lossless = ΔPPL <= %g %% and KLD <= %g; balanced = ΔPPL <= %g %% and KLD <= %g; usable = "
                       "ΔPPL <= %g %% and KLD <= %g, and smallest usable marks the fewest bits/weight among them; beyond: not "
                       "recommended.",
                       QB_VERDICT_NEAR_LOSSLESS_DPPL, QB_VERDICT_NEAR_LOSSLESS_KLD, QB_VERDICT_BALANCED_DPPL,
                       QB_VERDICT_BALANCED_KLD, QB_VERDICT_USABLE_DPPL, QB_VERDICT_USABLE_KLD);
}
