/* cmd_imatrix.c — `quantbench imatrix`: llama-imatrix's importance matrix (FORMATS.md §10.3)
 * from our forward pass (evals/calib.h), written in llama.cpp's GGUF imatrix form
 * (datasets/imatrix.h), so `quantize --imatrix` and llama-quantize --imatrix both take it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/json.h"
#include "../common/parallel.h"
#include "../evals/calib.h"
#include "cli.h"

static const char usage[] =
    "Usage: quantbench imatrix --model M (--text FILE | --tokens FILE) [-o OUT.gguf] [--ctx N]\n"
    "                          [--chunks N] [--process-output] [--threads N] [--json]\n"
    "\n"
    "Runs model M (GGUF or safetensors, Llama family, weights as stored) over the text in chunks\n"
    "of --ctx tokens (default 512; each from an empty cache, its first token BOS when the model\n"
    "adds one, as llama-imatrix does) and records, for every weight matrix blk.*, the mean\n"
    "squared activation of each input column: llama.cpp's importance matrix. Written as\n"
    "llama-imatrix writes it (GGUF: NAME.in_sum2, NAME.counts, imatrix.* keys) to -o (default\n"
    "imatrix.gguf); 'quantbench quantize --imatrix' and llama-quantize --imatrix read it.\n"
    "\n"
    "--text FILE       UTF-8 calibration text, tokenized with the model's GGUF tokenizer\n"
    "--tokens FILE     token ids instead (decimal or little-endian int32), taken as is\n"
    "--chunks N        at most N chunks (default: all)\n"
    "--process-output  also collect output.weight (llama-imatrix --process-output)\n"
    "\n"
    "Example:\n"
    "  quantbench imatrix --model llama-3.2-1b-f16.gguf --text wiki.train.raw --chunks 100 -o imatrix.gguf\n";

qb_status cmd_imatrix(qb_cli *cli, int argc, char **argv) {
    static const struct option opts[] = {QB_COMMON_OPTIONS,
                                         {"model", required_argument, NULL, 'm'},
                                         {"text", required_argument, NULL, 'x'},
                                         {"tokens", required_argument, NULL, 'k'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"ctx", required_argument, NULL, 'c'},
                                         {"chunks", required_argument, NULL, 'n'},
                                         {"process-output", no_argument, NULL, 'p'},
                                         {"threads", required_argument, NULL, 't'},
                                         {NULL, 0, NULL, 0}};
    const char *model = NULL, *text = NULL, *tokens = NULL, *out = "imatrix.gguf";
    int64_t ctx = 512, chunks = 0, threads = qb_cpu_count();
    int process_output = 0, c;
    qb_status st = QB_OK;
    cli->shortopts = "o:";
    while (!st && (c = qb_cli_next(cli, argc, argv, opts, usage)) != QB_CLI_DONE) {
        switch (c) {
        case QB_CLI_HELP: return QB_OK;
        case QB_CLI_ERROR: return QB_EUSAGE;
        case 'm': model = optarg; break;
        case 'x': text = optarg; break;
        case 'k': tokens = optarg; break;
        case 'o': out = optarg; break;
        case 'c': st = qb_cli_int("ctx", optarg, 1, 1 << 20, &ctx); break;
        case 'n': st = qb_cli_int("chunks", optarg, 1, INT32_MAX, &chunks); break;
        case 'p': process_output = 1; break;
        case 't': st = qb_cli_int("threads", optarg, 1, 1024, &threads); break;
        default: return qb_fail(QB_EUSAGE, "unexpected option");
        }
    }
    if (st) return st;
    if (optind < argc) return qb_fail(QB_EUSAGE, "unexpected argument '%s'", argv[optind]);
    if (!model) return qb_fail(QB_EUSAGE, "--model is required, e.g. --model model-f16.gguf");
    if (!text == !tokens) return qb_fail(QB_EUSAGE, "give the calibration text: --text FILE or --tokens FILE (one of them)");

    qb_model m;
    if ((st = qb_model_open(&m, model))) return st;
    int32_t *ids = NULL, bos = -1;
    size_t n = 0;
    qb_llama *l = NULL;
    qb_calib cal;
    qb_calib_init(&cal, 0, process_output);
    st = qb_calib_tokens(&m, text, tokens, &ids, &n, &bos);
    qb_llama_opts o = {.threads = (int)threads, .n_ctx = (int)ctx};
    if (!st) st = qb_llama_load(&m, &o, &l);
    if (!st) st = qb_calib_run(&cal, l, ids, (int64_t)n, (int)ctx, (int)chunks, bos);
    qb_imatrix im = {0};
    if (!st) {
        const char *src = text ? text : tokens, *slash = strrchr(src, '/');
        qb_calib_to_imatrix(&cal, slash ? slash + 1 : src, &im);
        if (im.n == 0) st = qb_fail(QB_EINPUT, "%s: no blk.* weight matrix was multiplied; nothing to write", model);
    }
    if (!st) st = qb_imatrix_save(&im, out);
    if (!st && cli->json) {
        qb_json j;
        qb_json_begin(&j, stdout);
        qb_json_kstr(&j, "model", model);
        qb_json_kstr(&j, "out", out);
        qb_json_kint(&j, "entries", im.n);
        qb_json_kint(&j, "chunks", cal.chunks);
        qb_json_kint(&j, "chunk_size", cal.chunk_size);
        qb_json_kint(&j, "tokens", cal.chunks * cal.chunk_size);
        qb_json_knum(&j, "seconds", cal.collect_s);
        qb_json_end(&j);
    } else if (!st) {
        printf("imatrix: %d weight matrices, %lld chunks of %lld tokens, %.2f s -> %s\n", im.n, (long long)cal.chunks,
               (long long)cal.chunk_size, cal.collect_s, out);
    }
    qb_imatrix_free(&im);
    qb_calib_free(&cal);
    qb_llama_free(l);
    free(ids);
    qb_model_close(&m);
    return st;
}
