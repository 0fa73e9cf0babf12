/* main.c — the `quantbench` entry point: global options, then one subcommand. The only
 * place that prints an error and turns a qb_status into the exit code (README, "Exit
 * codes"). */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "../results/fingerprint.h"
#include "cli.h"

typedef struct command {
    const char *name;
    qb_status (*fn)(qb_cli *cli, int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"run", cmd_run, "run a suite of measurements (default: --suite default) into the database"},
    {"formats", cmd_formats, "list every registered format with its exact size and implementations"},
    {"encode", cmd_encode, "float32 file → a format's native bytes"},
    {"decode", cmd_decode, "a format's native bytes → float32 file"},
    {"errors", cmd_errors, "quantization error (MSE, SQNR, cosine, …) of formats on weight sources"},
    {"quantize", cmd_quantize, "a model (GGUF/safetensors) → GGUF of a llama.cpp file type (Q4_K_M, …)"},
    {"inspect", cmd_inspect, "metadata, tensors, types and sizes of a model file"},
    {"tokenize", cmd_tokenize, "text → token ids and pieces with a GGUF model's tokenizer, as llama.cpp"},
    {"merge", cmd_merge, "merge the databases of many machines or shards into one"},
    {"eval", cmd_eval, "perplexity and KL-divergence of a model under formats, as llama-perplexity"},
    {"train", cmd_train, "train the small Llama model (or fine-tune one with QAT) and write a GGUF"},
    {"imatrix", cmd_imatrix, "importance matrix of a model over calibration text, in llama.cpp's imatrix GGUF"},
    {"compare", cmd_compare, "regression verdicts of a run against a baseline (exit 3 on a regression)"},
    {"bench", cmd_bench, "CPU microbenchmarks of every format against the machine's measured limits"},
    {"report", cmd_report, "render runs from the database: HTML, Markdown, CSV, plots and the selection guide"},
};

static const char usage_fmt[] =
    "Usage: quantbench [--db PATH] [--json] COMMAND [OPTIONS]\n"
    "\n"
    "Measures what numeric formats cost in accuracy, speed and memory, and keeps every\n"
    "figure in a SQLite database.\n"
    "\n"
    "Commands:\n"
    "%s"
    "\n"
    "Options for every command:\n"
    "  --db PATH    results database (default " QB_DEFAULT_DB ")\n"
    "  --json       one JSON object on stdout instead of tables\n"
    "  --help       help for quantbench or for a command\n"
    "  --version    print the version and git commit\n"
    "\n"
    "Exit codes: 0 ok, 1 runtime error, 2 usage error, 3 regression found, 4 bad input,\n"
    "5 database error. Run 'quantbench COMMAND --help' for a command's options.\n";

static void print_usage(FILE *f) {
    char list[2048];
    size_t k = 0;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        k += (size_t)snprintf(list + k, sizeof list - k, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, usage_fmt, list);
}

int main(int argc, char **argv) {
    qb_cli cli = {.db_path = QB_DEFAULT_DB, .cmd = "quantbench"};
    static const struct option opts[] = {QB_COMMON_OPTIONS, {"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0}};
    qb_formats_init();

    /* global options end at the first word that is neither an option nor --db's value */
    int argc_g = 1;
    while (argc_g < argc && argv[argc_g][0] == '-') argc_g += strcmp(argv[argc_g], "--db") == 0 ? 2 : 1;
    if (argc_g > argc) argc_g = argc;
    int c;
    optind = 0;
    while ((c = qb_cli_next(&cli, argc_g, argv, opts, "")) != QB_CLI_DONE) {
        if (c == 'V') {
            printf("quantbench %s (git %s)\n", qb_version, qb_git_commit);
            return 0;
        }
        if (c == QB_CLI_HELP) {
            print_usage(stdout);
            return 0;
        }
        fprintf(stderr, "quantbench: error: %s (see 'quantbench --help')\n", qb_errmsg());
        return QB_EUSAGE;
    }
    if (argc_g >= argc) {
        print_usage(stderr);
        return QB_EUSAGE;
    }
    const char *name = argv[argc_g];
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(name, commands[i].name) != 0) continue;
        cli.cmd = name;
        optind = 0; /* re-initialize getopt for the command's own arguments */
        qb_status st = commands[i].fn(&cli, argc - argc_g, argv + argc_g);
        if (st == QB_EUSAGE && !strstr(qb_errmsg(), "(see '"))
            fprintf(stderr, "quantbench %s: error: %s (see 'quantbench %s --help')\n", name, qb_errmsg(), name);
        else if (st != QB_OK)
            fprintf(stderr, "quantbench %s: error: %s\n", name, qb_errmsg());
        return (int)st;
    }
    fprintf(stderr, "quantbench: error: unknown command '%s' (see 'quantbench --help')\n", name);
    return QB_EUSAGE;
}
