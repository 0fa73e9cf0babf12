/* cmd_report.c — `quantbench report`: renders runs of the database (reports/report.h). */
#include <stdio.h>
#include <stdlib.h>

#include "../common/json.h"
#include "../reports/report.h"
#include "cli.h"

#define DEFAULT_OUT "reports/latest"

static const char usage[] =
    "Usage: quantbench report [--run ID]... [--out DIR] [--db PATH] [--json]\n"
    "\n"
    "Renders runs from the database into DIR (default " DEFAULT_OUT "). --run may be given\n"
    "several times (an errors run, an eval run and a bench run in one report); ID may be a\n"
    "unique prefix. Without --run: the newest run of each kind that stored results (one with\n"
    "quantization errors, one with evaluations, one with benchmarks).\n"
    "\n"
    "Written: index.html (self-contained: tables and every plot inline as SVG, no network),\n"
    "index.md, a CSV per table (errors.csv, evals_ID.csv, bench_ID.csv, limits_ID.csv,\n"
    "guide.csv), and per plot NAME.dat, NAME.gp (the gnuplot script: restyle it and rerun\n"
    "'gnuplot NAME.gp' in DIR) and NAME.svg/NAME.png. Parts: the runs and machines; a\n"
    "selection guide (bits/weight, model sizes, ΔPPL and KLD, speed vs f16, hardware support,\n"
    "a recommendation by documented thresholds); ΔPPL and KLD vs bits/weight with the Pareto\n"
    "front; quantization error tables, SQNR vs bits and per-tensor heat maps; throughput bars\n"
    "and a roofline; trends over the runs of the same command, suite and machine with\n"
    "regressions marked. Plots need gnuplot ('apt-get install gnuplot-nox').\n";

qb_status cmd_report(qb_cli *cli, int argc, char **argv) {
    static const struct option opts[] = {QB_COMMON_OPTIONS, {"run", required_argument, NULL, 'R'},
                                         {"out", required_argument, NULL, 'o'}, {NULL, 0, NULL, 0}};
    const char **runs = qb_calloc((size_t)argc + 1, sizeof *runs);
    const char *out_dir = DEFAULT_OUT;
    int nruns = 0, c;
    qb_status st = QB_OK;
    while (!st && (c = qb_cli_next(cli, argc, argv, opts, usage)) != QB_CLI_DONE) {
        switch (c) {
        case QB_CLI_HELP: free(runs); return QB_OK;
        case QB_CLI_ERROR: st = QB_EUSAGE; break;
        case 'R': runs[nruns++] = optarg; break;
        case 'o': out_dir = optarg; break;
        default: st = qb_fail(QB_EUSAGE, "unexpected option"); break;
        }
    }
    if (!st && optind < argc) st = qb_fail(QB_EUSAGE, "unexpected argument '%s'", argv[optind]);
    if (st) {
        free(runs);
        return st;
    }
    qb_db db;
    st = qb_db_open(&db, cli->db_path);
    if (st) {
        free(runs);
        return st;
    }
    qb_report_out out = {0};
    st = qb_report_write(&db, runs, nruns, out_dir, &out);
    if (out.index_html) {
        if (cli->json) {
            qb_json j;
            qb_json_begin(&j, stdout);
            qb_json_kstr(&j, "run", out.run_id); /* the first; all of them under "runs" */
            qb_json_key(&j, "runs");
            qb_json_arr(&j);
            for (int i = 0; i < out.nruns; i++) qb_json_str(&j, out.run_ids[i]);
            qb_json_arr_end(&j);
            qb_json_kint(&j, "n_results", out.n_rows);
            qb_json_kstr(&j, "plot_error", out.plot_error);
            qb_json_kstr(&j, "index_html", out.index_html);
            qb_json_kstr(&j, "index_md", out.index_md);
            qb_json_key(&j, "rows"); /* one row per other file written: its name in the report directory */
            qb_json_arr(&j);
            for (int k = 0; k < out.nfiles; k++) {
                qb_json_obj(&j);
                qb_json_kstr(&j, "file", out.files[k]);
                qb_json_obj_end(&j);
            }
            qb_json_arr_end(&j);
            qb_json_end(&j);
        } else {
            printf("report of %d run%s:", out.nruns, out.nruns == 1 ? "" : "s");
            for (int i = 0; i < out.nruns; i++) printf(" %s", out.run_ids[i]);
            printf("\n  %s\n  %s\n  and %d more files in %s (tables as CSV; plots as .svg/.png with .dat and .gp)\n",
                   out.index_html, out.index_md, out.nfiles, out_dir);
        }
    }
    qb_report_out_free(&out);
    qb_db_close(&db);
    free(runs);
    return st;
}
