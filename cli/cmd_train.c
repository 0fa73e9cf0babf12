/* cmd_train.c — `quantbench train`: trains the small Llama model (evals/train.h) on a directory
 * of text, or fine-tunes a GGUF model with quantization-aware training, and writes a GGUF that
 * `quantbench eval` and llama.cpp load. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/json.h"
#include "../evals/train.h"
#include "cli.h"

static const char usage[] =
    "Usage: quantbench train --out MODEL.gguf [--data DIR] [--heldout NAME] [shape options]\n"
    "                        [--steps N] [--batch N] [--lr X] [--seed S] [--threads N]\n"
    "                        [--checkpoint FILE [--checkpoint-every N] [--resume] [--stop-after N]]\n"
    "       quantbench train --init MODEL.gguf --qat FORMAT --out MODEL-FORMAT.gguf [options]\n"
    "\n"
    "Trains a Llama-architecture model (RMSNorm, RoPE, grouped-query attention, SwiGLU) with\n"
    "AdamW, gradient clipping and a cosine learning-rate schedule, on every regular file of DIR\n"
    "but the held-out one, tokenized byte by byte (a SentencePiece vocabulary of the 256 byte\n"
    "tokens and '▁' that llama.cpp loads). Prints the loss, the held-out loss and an ETA every\n"
    "--eval-every steps, then the held-out perplexity of the written model beside a unigram\n"
    "baseline. A rerun with the same options (seed and threads included) gives the same file.\n"
    "\n"
    "  --data DIR           training text (default /usr/share/common-licenses)\n"
    "  --heldout NAME       the file of DIR kept for evaluation (default MPL-2.0)\n"
    "  --out FILE           the GGUF to write\n"
    "  --type T             f32, f16 or bf16 for the matrices (default bf16; norms stay f32)\n"
    "  --dim N --layers N --heads N --kv-heads N --ff N --ctx N\n"
    "                       the shape (default 256, 4, 8, 4, 768, 128)\n"
    "  --steps N            optimiser steps (default 1400); --warmup N (default 100)\n"
    "  --batch N            sequences of --ctx tokens per step (default 8)\n"
    "  --lr X --lr-min F    peak learning rate (default 2e-3) and the cosine floor as a fraction\n"
    "                       of it (default 0.1); --wd X weight decay (0.1); --clip X (1.0)\n"
    "  --seed S             initialisation and batch order (default 1)\n"
    "  --threads N          OpenBLAS and attention threads (default 2)\n"
    "  --eval-every N       steps between progress lines (default 100)\n"
    "  --checkpoint FILE    save weights and optimiser state there (at the end, every\n"
    "                       --checkpoint-every N steps, and at --stop-after N); --resume\n"
    "                       continues from it when it exists (same options required)\n"
    "  --init MODEL.gguf    start from this llama GGUF (its shape and vocabulary)\n"
    "  --qat FORMAT         quantization-aware training: the forward pass uses every matrix\n"
    "                       quantized and dequantized in FORMAT (a registry format with a GGUF\n"
    "                       type: q4_K, q3_K, q2_K, q4_0, …), the gradient passes straight\n"
    "                       through to the f32 weights, and the model is written in FORMAT\n"
    "  --json               the summary as one JSON object (progress goes to stderr)\n"
    "\n"
    "Example (the shipped model, datasets/model/TRAINING.md):\n"
    "  quantbench train --out datasets/model/quantbench-tiny.gguf\n";

static qb_status parse_float(const char *opt, const char *s, float *out) {
    char *end;
    errno = 0;
    const double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < 0)
        return qb_fail(QB_EUSAGE, "--%s '%s': expected a non-negative number", opt, s);
    *out = (float)v;
    return QB_OK;
}

qb_status cmd_train(qb_cli *cli, int argc, char **argv) {
    static const struct option opts[] = {QB_COMMON_OPTIONS,
                                         {"data", required_argument, NULL, 'd'},
                                         {"heldout", required_argument, NULL, 'H'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"type", required_argument, NULL, 'y'},
                                         {"dim", required_argument, NULL, 1},
                                         {"layers", required_argument, NULL, 2},
                                         {"heads", required_argument, NULL, 3},
                                         {"kv-heads", required_argument, NULL, 4},
                                         {"ff", required_argument, NULL, 5},
                                         {"ctx", required_argument, NULL, 6},
                                         {"steps", required_argument, NULL, 7},
                                         {"warmup", required_argument, NULL, 8},
                                         {"batch", required_argument, NULL, 9},
                                         {"lr", required_argument, NULL, 10},
                                         {"lr-min", required_argument, NULL, 11},
                                         {"wd", required_argument, NULL, 12},
                                         {"clip", required_argument, NULL, 13},
                                         {"seed", required_argument, NULL, 14},
                                         {"threads", required_argument, NULL, 15},
                                         {"eval-every", required_argument, NULL, 16},
                                         {"checkpoint", required_argument, NULL, 17},
                                         {"checkpoint-every", required_argument, NULL, 18},
                                         {"resume", no_argument, NULL, 19},
                                         {"stop-after", required_argument, NULL, 20},
                                         {"init", required_argument, NULL, 21},
                                         {"qat", required_argument, NULL, 22},
                                         {NULL, 0, NULL, 0}};
    qb_train_opts o = {.data_dir = "/usr/share/common-licenses", .heldout = "MPL-2.0", .out_type = "bf16",
                       .shape = {.dim = 256, .n_layer = 4, .n_head = 8, .n_head_kv = 4, .n_ff = 768, .n_ctx = 128,
                                 .rope_base = 10000.0f, .eps = 1e-5f},
                       .batch = 8, .steps = 1400, .warmup = 100, .eval_every = 100, .threads = 2, .lr = 2e-3f,
                       .lr_min = 0.1f, .weight_decay = 0.1f, .clip = 1.0f, .beta1 = 0.9f, .beta2 = 0.95f, .seed = 1};
    int c;
    int64_t v = 0;
    qb_status st = QB_OK;
#define INT_OPT(name, lo, hi, field) (st = qb_cli_int(name, optarg, lo, hi, &v), (field) = (int)v)
    while (!st && (c = qb_cli_next(cli, argc, argv, opts, usage)) != QB_CLI_DONE) {
        switch (c) {
        case QB_CLI_HELP: return QB_OK;
        case QB_CLI_ERROR: return QB_EUSAGE;
        case 'd': o.data_dir = optarg; break;
        case 'H': o.heldout = optarg; break;
        case 'o': o.out_path = optarg; break;
        case 'y': o.out_type = optarg; break;
        case 1: INT_OPT("dim", 2, 1 << 16, o.shape.dim); break;
        case 2: INT_OPT("layers", 1, 1024, o.shape.n_layer); break;
        case 3: INT_OPT("heads", 1, 1024, o.shape.n_head); break;
        case 4: INT_OPT("kv-heads", 1, 1024, o.shape.n_head_kv); break;
        case 5: INT_OPT("ff", 1, 1 << 18, o.shape.n_ff); break;
        case 6: INT_OPT("ctx", 2, 1 << 14, o.shape.n_ctx); break;
        case 7: INT_OPT("steps", 1, 1 << 30, o.steps); break;
        case 8: INT_OPT("warmup", 0, 1 << 30, o.warmup); break;
        case 9: INT_OPT("batch", 1, 1 << 16, o.batch); break;
        case 10: st = parse_float("lr", optarg, &o.lr); break;
        case 11: st = parse_float("lr-min", optarg, &o.lr_min); break;
        case 12: st = parse_float("wd", optarg, &o.weight_decay); break;
        case 13: st = parse_float("clip", optarg, &o.clip); break;
        case 14: st = qb_cli_int("seed", optarg, 0, INT64_MAX, &v), o.seed = (uint64_t)v; break;
        case 15: INT_OPT("threads", 1, 256, o.threads); break;
        case 16: INT_OPT("eval-every", 0, 1 << 30, o.eval_every); break;
        case 17: o.checkpoint = optarg; break;
        case 18: INT_OPT("checkpoint-every", 0, 1 << 30, o.checkpoint_every); break;
        case 19: o.resume = 1; break;
        case 20: INT_OPT("stop-after", 1, 1 << 30, o.stop_after); break;
        case 21: o.init = optarg; break;
        case 22: o.qat = optarg; break;
        default: return qb_fail(QB_EUSAGE, "unexpected option");
        }
    }
#undef INT_OPT
    if (st) return st;
    if (optind < argc) return qb_fail(QB_EUSAGE, "unexpected argument '%s'", argv[optind]);
    if (!o.out_path) return qb_fail(QB_EUSAGE, "--out is required, e.g. --out model.gguf");
    if (o.qat && !o.init) return qb_fail(QB_EUSAGE, "--qat needs --init MODEL.gguf (the model to fine-tune)");
    if ((o.resume || o.stop_after) && !o.checkpoint) return qb_fail(QB_EUSAGE, "--resume and --stop-after need --checkpoint FILE");
    o.json = cli->json;
    qb_train_summary s;
    st = qb_train_run(&o, &s);
    if (st) return st;
    if (s.steps < o.steps) {
        printf("stopped after step %d of %d; checkpoint %s (continue with --resume)\n", s.steps, o.steps, o.checkpoint);
        return QB_OK;
    }
    if (cli->json) {
        qb_json j;
        qb_json_begin(&j, stdout);
        qb_json_kstr(&j, "out", o.out_path);
        qb_json_kint(&j, "steps", s.steps);
        qb_json_kint(&j, "params", s.n_params);
        qb_json_kint(&j, "train_tokens", s.train_tokens);
        qb_json_kint(&j, "tokens_seen", s.tokens_seen);
        qb_json_knum(&j, "first_loss", s.first_loss);
        qb_json_knum(&j, "final_loss", s.final_loss);
        qb_json_kint(&j, "heldout_tokens", s.heldout_tokens);
        qb_json_knum(&j, "heldout_loss", s.heldout_loss);
        qb_json_knum(&j, "heldout_ppl", s.heldout_ppl);
        qb_json_knum(&j, "unigram_ppl", s.unigram_ppl);
        qb_json_knum(&j, "seconds", s.seconds);
        qb_json_end(&j);
    } else {
        printf("wrote %s: %lld parameters, %d steps, %lld tokens seen (%.1f passes over %lld training tokens) in %.0f s\n",
               o.out_path, (long long)s.n_params, s.steps, (long long)s.tokens_seen,
               (double)s.tokens_seen / (double)s.train_tokens, (long long)s.train_tokens, s.seconds);
        printf("training loss %.4f -> %.4f; held-out (%s, %lld positions) perplexity %.3f, unigram baseline %.3f\n",
               s.first_loss, s.final_loss, o.heldout, (long long)s.heldout_tokens, s.heldout_ppl, s.unigram_ppl);
    }
    return QB_OK;
}
