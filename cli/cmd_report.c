/* cmd_report.c — `quantbench report`: renders one run of the database (reports/report.h). */
#include <stdio.h>

#include "../common/json.h"
#include "../reports/report.h"
#include "cli.h"

#define DEFAULT_OUT "reports/latest"

static const char usage[] =
    "Usage: quantbench report [--run ID] [--out DIR] [--db PATH] [--json]\n"
    "\n"
    "Renders a run (default: the newest run with results; ID may be a unique prefix) from\n"
    "the database into DIR (default " DEFAULT_OUT "): index.html (self-contained: tables and\n"
    "plot inline), index.md, errors.csv (every row, full precision) and the plot\n"
    "sqnr_vs_bits.{svg,png} with the gnuplot script that drew it (sqnr_vs_bits.gp), to\n"
    "restyle and rerun by hand. Plots need gnuplot ('apt-get install gnuplot-nox').\n";

qb_status cmd_report(qb_cli *cli, int argc, char **argv) {
    static const struct option opts[] = {QB_COMMON_OPTIONS, {"run", required_argument, NULL, 'R'},
                                         {"out", required_argument, NULL, 'o'}, {NULL, 0, NULL, 0}};
    const char *run = NULL, *out_dir = DEFAULT_OUT;
    int c;
    while ((c = qb_cli_next(cli, argc, argv, opts, usage)) != QB_CLI_DONE) {
        switch (c) {
        case QB_CLI_HELP: return QB_OK;
        case QB_CLI_ERROR: return QB_EUSAGE;
        case 'R': run = optarg; break;
        case 'o': out_dir = optarg; break;
        default: return qb_fail(QB_EUSAGE, "unexpected option");
        }
    }
    if (optind < argc) return qb_fail(QB_EUSAGE, "unexpected argument '%s'", argv[optind]);
    qb_db db;
    qb_status st = qb_db_open(&db, cli->db_path);
    if (st) return st;
    qb_report_out out = {0};
    st = qb_report_write(&db, run, out_dir, &out);
    if (out.index_html) {
        if (cli->json) {
            qb_json j;
            qb_json_begin(&j, stdout);
            qb_json_kstr(&j, "run", out.run_id);
            qb_json_kint(&j, "n_results", out.n_rows);
            qb_json_kstr(&j, "plot_error", out.plot_error);
            qb_json_key(&j, "rows"); /* one row per file written */
            qb_json_arr(&j);
            const char *kinds[] = {"index_html", "index_md", "csv", "plot_svg", "plot_png"};
            const char *paths[] = {out.index_html, out.index_md, out.csv, out.plot_svg, out.plot_png};
            for (int k = 0; k < 5; k++) {
                if (!paths[k]) continue;
                qb_json_obj(&j);
                qb_json_kstr(&j, "kind", kinds[k]);
                qb_json_kstr(&j, "path", paths[k]);
                qb_json_obj_end(&j);
            }
            qb_json_arr_end(&j);
            qb_json_end(&j);
        } else {
            printf("report of run %s (%d rows):\n  %s\n  %s\n  %s\n", out.run_id, out.n_rows, out.index_html, out.index_md, out.csv);
            if (out.plot_svg) printf("  %s\n  %s\n", out.plot_svg, out.plot_png);
        }
    }
    qb_report_out_free(&out);
    qb_db_close(&db);
    return st;
}
