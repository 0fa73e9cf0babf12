/* cmd_formats.c — `quantbench formats`: the registry as a table. */
#include <stdio.h>
#include <string.h>

#include "../common/json.h"
#include "../common/table.h"
#include "cli.h"

static const char usage[] =
    "Usage: quantbench formats [--json]\n"
    "\n"
    "Lists every registered format: family, elements per block, bytes per block, bytes of\n"
    "per-row and per-tensor scales, exact bits per weight (scales included; for formats with\n"
    "per-row scales, at rows of 4096 values), GGUF type id, and the implementations this\n"
    "build runs on this CPU (ref = portable reference; f16c, avx2 = SIMD fast paths).\n"
    "\n"
    "GGUF's IQ grid types (iq1_s … iq3_s) are not implemented.\n"
    "\n"
    "Names. A name is the family prefix and element type, then the scale granularity:\n"
    "  f32 f16 bf16 tf32      IEEE-style scalars (tf32: a compute precision, stored as f32)\n"
    "  fp8_e4m3 fp6_e2m3 …    OCP minifloats, sign/exponent/mantissa bits in the name\n"
    "  mx…                    OCP MX: 32 elements share one E8M0 power-of-two scale\n"
    "  nvfp4_ts               NVIDIA NVFP4 with its per-tensor fp32 scale\n"
    "  int8 int4 int3 int2    linear integers; _sym (scale only) or _asym (scale + zero point)\n"
    "  nf4 fp4_bnb int8_llm   bitsandbytes NF4/FP4, LLM.int8() weights with fp16 outlier columns\n"
    "  q4_0 q4_K iq4_nl …     GGUF block types, ggml's names, byte-identical to llama.cpp\n"
    "Suffixes: _pt one scale per tensor, _pc (or _row) one per row = output channel, _gNN one per\n"
    "NN values along the row, _dq double-quantized scales (QLoRA), _hqq HQQ-optimized zero\n"
    "points, _opt a better scale search in an unchanged GGUF layout. Names in capitals\n"
    "(Q4_K_M …) are llama.cpp file types, mixes of these formats per tensor (quantize --help).\n"
    "\n"
    "vLLM's FP8 schemes, as GEMV pairs (weight format · activation format = vec_dot_type):\n"
    "  fp8         fp8_e4m3_pt · fp8_e4m3_pt  per-tensor weight scale, dynamic per-tensor activations\n"
    "  fbgemm_fp8  fp8_e4m3_pc · fp8_e4m3_pc  per-channel weight scale, dynamic per-token activations\n"
    "  ptpc_fp8    fp8_e4m3_pc · fp8_e4m3_pc  the same pair (per-token, per-channel)\n"
    "For one token, a per-tensor activation scale is the per-token one.\n";

#define BPW_COLS 4096

qb_status cmd_formats(qb_cli *cli, int argc, char **argv) {
    static const struct option opts[] = {QB_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
    int c;
    while ((c = qb_cli_next(cli, argc, argv, opts, usage)) != QB_CLI_DONE) {
        if (c == QB_CLI_HELP) return QB_OK;
        return c == QB_CLI_ERROR ? QB_EUSAGE : qb_fail(QB_EUSAGE, "unexpected option");
    }
    if (optind < argc) return qb_fail(QB_EUSAGE, "unexpected argument '%s'", argv[optind]);

    qb_json j;
    qb_table t;
    static const char *const cols[] = {"format", "family", ">block", ">bytes/block", ">row scale B", ">tensor scale B",
                                       ">bits/weight", ">gguf", "impl", "dot with", "description", NULL};
    if (cli->json) {
        qb_json_begin(&j, stdout);
        qb_json_key(&j, "run"); /* nothing is stored: the architecture's shape with no run */
        qb_json_null(&j);
        qb_json_key(&j, "rows");
        qb_json_arr(&j);
    }
    else qb_table_init(&t, cols);
    for (int i = 0; i < qb_format_count(); i++) {
        const qb_format *f = qb_format_at(i);
        double bpw = qb_format_bpw(f, 1, (BPW_COLS / f->block_elems) * f->block_elems);
        char impl[32];
        snprintf(impl, sizeof impl, "%s%s%s", "ref", strcmp(f->impl, "ref") ? "," : "", strcmp(f->impl, "ref") ? f->impl : "");
        if (cli->json) {
            qb_json_obj(&j);
            qb_json_kstr(&j, "format", f->name);
            qb_json_kstr(&j, "family", f->family);
            qb_json_kint(&j, "block_elems", f->block_elems);
            qb_json_kint(&j, "block_bytes", f->block_bytes);
            qb_json_kint(&j, "row_extra_bytes", f->row_extra_bytes);
            qb_json_kint(&j, "tensor_extra_bytes", f->tensor_extra_bytes);
            qb_json_knum(&j, "bits_per_weight", bpw);
            if (f->gguf_type >= 0) qb_json_kint(&j, "gguf_type", f->gguf_type);
            else qb_json_key(&j, "gguf_type"), qb_json_null(&j);
            qb_json_kstr(&j, "impl", impl);
            if (f->vec_dot_type) qb_json_kstr(&j, "vec_dot_type", f->vec_dot_type);
            else qb_json_key(&j, "vec_dot_type"), qb_json_null(&j);
            qb_json_kstr(&j, "description", f->description);
            qb_json_obj_end(&j);
            continue;
        }
        char be[16], bb[16], re[16], te[16], gg[16];
        snprintf(be, sizeof be, "%d", f->block_elems);
        snprintf(bb, sizeof bb, "%d", f->block_bytes);
        snprintf(re, sizeof re, "%d", f->row_extra_bytes);
        snprintf(te, sizeof te, "%d", f->tensor_extra_bytes);
        snprintf(gg, sizeof gg, "%d", f->gguf_type);
        const char *row[] = {f->name, f->family, be, bb, re, te, qb_fmt_g(bpw, 6), f->gguf_type >= 0 ? gg : "-", impl,
                             f->vec_dot_type ? f->vec_dot_type : "-", f->description};
        qb_table_row(&t, row);
    }
    if (cli->json) {
        qb_json_arr_end(&j);
        qb_json_end(&j);
    } else {
        qb_table_print(&t, stdout, QB_TABLE_TEXT);
        qb_table_free(&t);
        printf("\nNames: family/element, then _pt (per tensor), _pc/_row (per row), _gNN (per NN values),\n"
               "_sym/_asym, _dq, _hqq, _opt; see 'quantbench formats --help' (also vLLM's fp8 pairs).\n");
    }
    return QB_OK;
}
