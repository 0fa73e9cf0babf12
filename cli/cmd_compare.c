/* cmd_compare.c — `quantbench compare`: regression verdicts of a candidate run against a
 * baseline (results/compare.h), as a Markdown table or JSON; exit 3 on a confirmed regression. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/json.h"
#include "../common/table.h"
#include "../results/compare.h"
#include "cli.h"

static const char usage[] =
    "Usage: quantbench compare [--baseline RUN|auto] [--history N] [--candidate RUN|latest]\n"
    "                          [--alpha A] [--min-effect E] [--all] [--db PATH] [--json]\n"
    "\n"
    "Compares two runs and prints a verdict per measured case. Exit code 3 when a regression\n"
    "is confirmed, 0 otherwise — for a nightly job.\n"
    "\n"
    "  --candidate RUN   the run to judge (id or unique prefix; default: latest)\n"
    "  --baseline RUN    the reference (default: auto = the newest complete runs of the same\n"
    "                    command and suite on the same machine before the candidate)\n"
    "  --history N       how many runs auto takes (default 3, at most 8): a speed change is\n"
    "                    confirmed only when it is confirmed against each of them\n"
    "  --alpha A         significance level of the Mann–Whitney U test on the raw speed\n"
    "                    samples (default 0.002)\n"
    "  --min-effect E    smallest relative change of the median that counts (default 0.05)\n"
    "  --all             list unchanged cases too (JSON always has every case)\n"
    "\n"
    "Verdicts: speed cases (benchmark cases, and the pp/tg tests of model runs) are a\n"
    "regression when, against every baseline, p < A and the median time grew by at least E\n"
    "(unstable cases, CV > 10 %, calls shorter than 1 µs, which can move by over 10 % between\n"
    "two processes of one build, and cases with too few samples to reach p < A are listed but\n"
    "not judged; the machine's limits, measured beside them, are reported as slower or faster,\n"
    "never as regressions). On a shared machine, run the benchmarks in rounds (bench --rounds,\n"
    "the nightly suite) so that each run's samples show how much a case moves. Error figures of\n"
    "the CPU paths must be identical (a lower SQNR is a regression, any other difference is\n"
    "reported); perplexity and KLD of model evaluations may move by 1e-4 relative.\n";

static const char *fmt_change(double c) {
    static char buf[4][24];
    static int k;
    char *b = buf[k++ & 3];
    if (isnan(c)) return "";
    snprintf(b, 24, "%+.1f %%", 100.0 * c);
    return b;
}

qb_status cmd_compare(qb_cli *cli, int argc, char **argv) {
    static const struct option opts[] = {QB_COMMON_OPTIONS, {"baseline", required_argument, NULL, 'b'},
                                         {"candidate", required_argument, NULL, 'c'}, {"alpha", required_argument, NULL, 'a'},
                                         {"min-effect", required_argument, NULL, 'e'}, {"all", no_argument, NULL, 'A'},
                                         {"history", required_argument, NULL, 'H'},
                                         {NULL, 0, NULL, 0}};
    const char *base_arg = "auto", *cand_arg = "latest";
    qb_compare_opts o = QB_COMPARE_DEFAULTS;
    int all = 0, c;
    char *end;
    while ((c = qb_cli_next(cli, argc, argv, opts, usage)) != QB_CLI_DONE) {
        switch (c) {
        case QB_CLI_HELP: return QB_OK;
        case QB_CLI_ERROR: return QB_EUSAGE;
        case 'b': base_arg = optarg; break;
        case 'c': cand_arg = optarg; break;
        case 'A': all = 1; break;
        case 'a':
            o.alpha = strtod(optarg, &end);
            if (*end || end == optarg || !(o.alpha > 0 && o.alpha < 1))
                return qb_fail(QB_EUSAGE, "--alpha needs a probability between 0 and 1, not '%s'", optarg);
            break;
        case 'e':
            o.min_effect = strtod(optarg, &end);
            if (*end || end == optarg || !(o.min_effect >= 0 && o.min_effect < 10))
                return qb_fail(QB_EUSAGE, "--min-effect needs a relative change such as 0.05, not '%s'", optarg);
            break;
        case 'H': {
            int64_t h;
            qb_status hs = qb_cli_int("history", optarg, 1, QB_COMPARE_MAX_BASELINES, &h);
            if (hs) return hs;
            o.history = (int)h;
            break;
        }
        default: return qb_fail(QB_EUSAGE, "unexpected option");
        }
    }
    if (optind < argc) return qb_fail(QB_EUSAGE, "unexpected argument '%s'", argv[optind]);

    qb_db db;
    qb_status st = qb_db_open(&db, cli->db_path);
    if (st) return st;
    char cand[37], base[QB_COMPARE_MAX_BASELINES][37];
    int nbase = 1;
    st = qb_compare_resolve(&db, cand_arg, cand);
    if (!st)
        st = strcmp(base_arg, "auto") == 0 ? qb_compare_auto_baselines(&db, cand, o.history, base, &nbase)
                                           : qb_compare_resolve(&db, base_arg, base[0]);
    if (!st && strcmp(base[0], cand) == 0) st = qb_fail(QB_EUSAGE, "baseline and candidate are the same run %.8s", cand);
    qb_comparison r = {0};
    if (!st) st = qb_compare_runs(&db, (const char(*)[37])base, nbase, cand, &o, &r);
    if (!st) {
        if (cli->json) {
            qb_json j;
            qb_json_begin(&j, stdout);
            qb_json_kstr(&j, "baseline", base[0]);
            qb_json_key(&j, "baselines");
            qb_json_arr(&j);
            for (int k = 0; k < nbase; k++) qb_json_str(&j, base[k]);
            qb_json_arr_end(&j);
            qb_json_kstr(&j, "candidate", cand);
            qb_json_knum(&j, "alpha", o.alpha);
            qb_json_knum(&j, "min_effect", o.min_effect);
            qb_json_kint(&j, "regressions", r.regressions);
            qb_json_kint(&j, "improvements", r.improvements);
            qb_json_kint(&j, "unstable", r.unstable);
            qb_json_key(&j, "rows");
            qb_json_arr(&j);
            for (int i = 0; i < r.n; i++) {
                const qb_verdict *v = &r.v[i];
                qb_json_obj(&j);
                qb_json_kstr(&j, "kind", v->kind);
                qb_json_kstr(&j, "case", v->what);
                qb_json_knum(&j, "baseline", v->base);
                qb_json_knum(&j, "candidate", v->cand);
                qb_json_knum(&j, "change", v->change);
                qb_json_knum(&j, "p", v->p);
                qb_json_kstr(&j, "verdict", v->verdict);
                if (v->scaled) qb_json_kint(&j, "scaled_to_baseline_bandwidth", 1);
                qb_json_obj_end(&j);
            }
            qb_json_arr_end(&j);
            qb_json_end(&j);
        } else {
            printf("Candidate run %s against baseline %s", cand, base[0]);
            if (nbase > 1) printf(" and the %d run(s) before it (speed: confirmed against each)", nbase - 1);
            printf(" (Mann–Whitney α = %g, minimum effect %g %%)\n\n", o.alpha, 100.0 * o.min_effect);
            static const char *const cols[] = {"verdict", "kind", "case", ">baseline", ">candidate", ">change", ">p", NULL};
            qb_table t;
            qb_table_init(&t, cols);
            int shown = 0, same = 0;
            for (int i = 0; i < r.n; i++) {
                const qb_verdict *v = &r.v[i];
                int unchanged = strcmp(v->verdict, "unchanged") == 0;
                same += unchanged;
                if (unchanged && !all) continue;
                int speed = strcmp(v->kind, "speed") == 0 || strcmp(v->kind, "limit") == 0;
                /* speed: median ns per iteration shown as µs */
                char what[256];
                snprintf(what, sizeof what, "%s%s", v->what, v->scaled ? " *" : "");
                const char *cells[] = {v->verdict, v->kind, what, isnan(v->base) ? "" : qb_fmt_g(speed ? v->base / 1e3 : v->base, 6),
                                       isnan(v->cand) ? "" : qb_fmt_g(speed ? v->cand / 1e3 : v->cand, 6), fmt_change(v->change),
                                       isnan(v->p) ? "" : qb_fmt_g(v->p, 2)};
                qb_table_row(&t, cells);
                shown++;
            }
            if (shown) qb_table_print(&t, stdout, QB_TABLE_MARKDOWN);
            qb_table_free(&t);
            printf("%s%d regression(s), %d improvement(s), %d unstable, %d unchanged of %d cases"
                   " (speed figures: median µs per call, per repetition for model tests)\n",
                   shown ? "\n" : "", r.regressions, r.improvements, r.unstable, same, r.n);
            int scaled = 0;
            for (int i = 0; i < r.n; i++) scaled |= r.v[i].scaled;
            if (scaled)
                printf("* beyond the LLC: each sample scaled to the baseline's bandwidth by the read measured beside it;"
                       " the candidate's figure is its time at that bandwidth\n");
        }
        if (r.regressions) st = qb_fail(QB_EREGRESSION, "%d regression(s) of run %.8s against %.8s", r.regressions, cand, base[0]);
    }
    qb_comparison_free(&r);
    qb_db_close(&db);
    return st;
}
