/* cmd_run.c — `quantbench run --suite NAME`: named, versioned sets of measurements. The
 * default suite is what ./run.sh runs; later issues extend it with benchmarks and model
 * evaluations. */
#include <stdlib.h>
#include <string.h>

#include "../datasets/source.h"
#include "cli.h"

static const char usage[] =
    "Usage: quantbench run [--suite NAME] [--seed S] [--shard I/N] [--resume[=RUN]] [--db PATH] [--json]\n"
    "\n"
    "Runs a suite of measurements and stores them in the database as one run; render it\n"
    "with 'quantbench report'.\n"
    "\n"
    "Suites:\n"
    "  default   quantization error of every registered format on every synthetic weight\n"
    "            source (gaussian, laplace, student_t, uniform, outliers; 256x4096 each)\n"
    "\n"
    "--resume continues an interrupted run of the same suite (or RUN) where it stopped.\n"
    "--shard I/N measures the I-th of N disjoint parts of the suite (0 <= I < N), so N machines\n"
    "(e.g. a Slurm job array) share one sweep; 'quantbench merge' then joins their databases.\n";

qb_status cmd_run(qb_cli *cli, int argc, char **argv) {
    static const struct option opts[] = {QB_COMMON_OPTIONS, {"suite", required_argument, NULL, 'S'},
                                         {"seed", required_argument, NULL, 's'}, {"resume", optional_argument, NULL, 'r'},
                                         {"shard", required_argument, NULL, 'H'}, {NULL, 0, NULL, 0}};
    const char *suite = "default", *resume_id = NULL;
    int resume = 0, c, shard_i = 0, shard_n = 1;
    int64_t seed = 0;
    qb_status st = QB_OK;
    while (!st && (c = qb_cli_next(cli, argc, argv, opts, usage)) != QB_CLI_DONE) {
        switch (c) {
        case QB_CLI_HELP: return QB_OK;
        case QB_CLI_ERROR: return QB_EUSAGE;
        case 'S': suite = optarg; break;
        case 's': st = qb_cli_int("seed", optarg, 0, INT64_MAX, &seed); break;
        case 'r': resume = 1, resume_id = optarg; break;
        case 'H': st = qb_cli_shard(optarg, &shard_i, &shard_n); break;
        default: return qb_fail(QB_EUSAGE, "unexpected option");
        }
    }
    if (st) return st;
    if (optind < argc) return qb_fail(QB_EUSAGE, "unexpected argument '%s'", argv[optind]);
    if (strcmp(suite, "default") != 0) return qb_fail(QB_EUSAGE, "unknown suite '%s' (valid: default)", suite);

    char **specs = NULL;
    int nspecs = 0;
    qb_cli_add_sources("synthetic:all", &specs, &nspecs);
    const qb_format **fmts = NULL;
    int nfmts = 0;
    st = qb_cli_formats("all", &fmts, &nfmts);
    if (!st) {
        qb_errors_job job = {.sources = (const char *const *)specs, .nsources = nspecs, .formats = fmts, .nformats = nfmts,
                             .seed = (uint64_t)seed, .skip_misfits = 1, .threads = 1,
                             .shard_i = shard_i, .shard_n = shard_n};
        st = qb_cli_errors_run(cli, "run", suite, &job, resume, resume_id, argc - 1, argv + 1);
    }
    free(fmts);
    qb_cli_free_list(specs, nspecs);
    return st;
}
