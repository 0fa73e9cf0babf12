/* verdict.h — the selection guide's verdict on a format from its accuracy loss: one rule shared
 * by the report's selection guide (guide.c), its model-run table (model.c) and the table
 * `quantbench run --model` prints (cli/run_model.c), so a format gets the same word everywhere.
 *
 * Tiers, from point estimates against the run's reference format (ΔPPL % = 100 * (PPL/PPL_ref
 * - 1), KLD = mean KL divergence of the token distributions):
 *   reference        the reference format itself;
 *   near-lossless    ΔPPL <= 0.5 % and KLD <= 0.005 (where Q8_0/Q6_K land on 7B-class models);
 *   balanced         ΔPPL <= 3 % and KLD <= 0.05 (Q4_K_M's range);
 *   usable           ΔPPL <= 10 % and KLD <= 0.15;
 *   not recommended  beyond.
 * A KLD that was not measured (NaN) does not hold a format back; without a ΔPPL there is no
 * verdict (NULL). "Smallest usable" marks the fewest bits/weight among near-lossless, balanced
 * and usable; among equal bits the smaller KLD, then the earlier row, so the pick does not
 * depend on row order unless two rows tie on both. On a small evaluation a format can straddle
 * a threshold by its standard error: the rule compares point estimates only. */
#ifndef QB_VERDICT_H
#define QB_VERDICT_H

#define QB_VERDICT_NEAR_LOSSLESS_DPPL 0.5
#define QB_VERDICT_NEAR_LOSSLESS_KLD 0.005
#define QB_VERDICT_BALANCED_DPPL 3.0
#define QB_VERDICT_BALANCED_KLD 0.05
#define QB_VERDICT_USABLE_DPPL 10.0
#define QB_VERDICT_USABLE_KLD 0.15

/* "reference" when is_ref; NULL when dppl_pct is not finite; else "near-lossless",
 * "balanced", "usable" or "not recommended". Static strings. */
const char *qb_verdict_tier(int is_ref, double dppl_pct, double kld);

/* 1 for the tiers that count as usable: near-lossless, balanced, usable. */
int qb_verdict_usable(const char *tier);

/* The index of the smallest usable of n rows (bits/weight bpw[i], mean KLD kld[i] or kld =
 * NULL when none was measured, tier[i] from qb_verdict_tier), or -1 when none is usable. */
int qb_verdict_smallest_usable(const double *bpw, const double *kld, const char *const *tier, int n);

/* The verdict as shown: the tier, and for the smallest usable row "near-lossless; smallest
 * usable", "balanced; smallest usable" or plain "smallest usable". NULL for a NULL tier. */
const char *qb_verdict_label(const char *tier, int is_smallest);

/* The rule in one sentence with its thresholds, for the notes under the tables (heap). */
char *qb_verdict_rule(void);

#endif
