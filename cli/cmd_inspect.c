/* cmd_inspect.c — `quantbench inspect FILE`: what a model file holds, as llama.cpp would load it:
 * metadata, every tensor with its type, shape, size and bits per weight, and totals per type. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/json.h"
#include "../common/table.h"
#include "../datasets/model.h"
#include "cli.h"

static const char usage[] =
    "Usage: quantbench inspect FILE [--tensors] [--json]\n"
    "\n"
    "Shows a model file (GGUF, safetensors, or a checkpoint directory): its metadata, the\n"
    "count, size and bits per weight of the tensors of each type, and the totals. --tensors\n"
    "also lists every tensor (name, type, shape, bytes, bits per weight).\n";

/* One metadata value as short text: scalars printed, strings quoted (cut at 60 bytes), arrays
 * as TYPE[n] with their first elements. */
static void kv_text(const qb_gguf_kv *kv, char *out, size_t cap) {
    const uint8_t *v = kv->val;
    uint64_t u = 0;
    int64_t i = 0;
    double f = 0;
    switch (kv->type) {
    case QB_GGUF_UINT8: u = v[0]; snprintf(out, cap, "%" PRIu64, u); return;
    case QB_GGUF_INT8: i = (int8_t)v[0]; snprintf(out, cap, "%" PRId64, i); return;
    case QB_GGUF_BOOL: snprintf(out, cap, "%s", v[0] ? "true" : "false"); return;
    case QB_GGUF_UINT16: { uint16_t x; memcpy(&x, v, 2); snprintf(out, cap, "%u", x); return; }
    case QB_GGUF_INT16: { int16_t x; memcpy(&x, v, 2); snprintf(out, cap, "%d", x); return; }
    case QB_GGUF_UINT32: { uint32_t x; memcpy(&x, v, 4); snprintf(out, cap, "%u", x); return; }
    case QB_GGUF_INT32: { int32_t x; memcpy(&x, v, 4); snprintf(out, cap, "%d", x); return; }
    case QB_GGUF_FLOAT32: { float x; memcpy(&x, v, 4); f = x; snprintf(out, cap, "%g", f); return; }
    case QB_GGUF_UINT64: memcpy(&u, v, 8); snprintf(out, cap, "%" PRIu64, u); return;
    case QB_GGUF_INT64: memcpy(&i, v, 8); snprintf(out, cap, "%" PRId64, i); return;
    case QB_GGUF_FLOAT64: memcpy(&f, v, 8); snprintf(out, cap, "%g", f); return;
    case QB_GGUF_STRING: {
        uint64_t len;
        memcpy(&len, v, 8);
        snprintf(out, cap, "\"%.*s\"%s", (int)(len > 60 ? 60 : len), (const char *)v + 8, len > 60 ? "…" : "");
        return;
    }
    case QB_GGUF_ARRAY: {
        int k = snprintf(out, cap, "%s[%" PRIu64 "]", qb_gguf_type_name(kv->arr_type), kv->arr_n);
        if (kv->arr_type == QB_GGUF_STRING) {
            uint64_t cur = 0, len;
            const char *s;
            for (int n = 0; n < 3 && (size_t)k < cap && qb_gguf_kv_next_string(kv, &cur, &s, &len); n++)
                k += snprintf(out + k, cap - (size_t)k, "%s\"%.*s\"", n ? ", " : " ", (int)(len > 16 ? 16 : len), s);
            if (kv->arr_n > 3 && (size_t)k < cap) snprintf(out + k, cap - (size_t)k, ", …");
        }
        return;
    }
    }
    snprintf(out, cap, "?");
}

qb_status cmd_inspect(qb_cli *cli, int argc, char **argv) {
    static const struct option opts[] = {QB_COMMON_OPTIONS, {"tensors", no_argument, NULL, 'T'}, {NULL, 0, NULL, 0}};
    int c, list = 0;
    while ((c = qb_cli_next(cli, argc, argv, opts, usage)) != QB_CLI_DONE) {
        if (c == QB_CLI_HELP) return QB_OK;
        if (c == QB_CLI_ERROR) return QB_EUSAGE;
        if (c == 'T') list = 1;
        else return qb_fail(QB_EUSAGE, "unexpected option");
    }
    if (argc - optind != 1) return qb_fail(QB_EUSAGE, "expected one model file");
    qb_model m;
    qb_status st = qb_model_open(&m, argv[optind]);
    if (st) return st;

    /* per-type totals, in order of first appearance */
    struct { const char *type; int64_t n; double params, bytes; } per[64];
    int nper = 0;
    double params = 0, bytes = 0;
    qb_table tt;
    static const char *const tcols[] = {"tensor", "type", "shape", ">bytes", ">bits/weight", NULL};
    qb_json j;
    if (cli->json) {
        qb_json_begin(&j, stdout);
        qb_json_key(&j, "run");
        qb_json_null(&j);
        qb_json_kstr(&j, "file", m.path);
        qb_json_kstr(&j, "architecture", m.arch);
        qb_json_kint(&j, "n_layer", m.info.n_layer);
        qb_json_key(&j, "rows");
        qb_json_arr(&j);
    } else if (list) {
        qb_table_init(&tt, tcols);
    }
    for (int i = 0; i < m.n; i++) {
        const qb_model_tensor *t = &m.t[i];
        const char *type = qb_model_type_name(t);
        double n = (double)qb_model_rows(t) * (double)t->ne[0];
        params += n, bytes += (double)t->nbytes;
        int k = 0;
        while (k < nper && strcmp(per[k].type, type) != 0) k++;
        if (k == nper && nper < 64) per[nper++].type = type, per[k].n = 0, per[k].params = per[k].bytes = 0;
        if (k < 64) per[k].n++, per[k].params += n, per[k].bytes += (double)t->nbytes;
        char shape[64];
        qb_model_shape(t, shape, sizeof shape);
        if (cli->json) {
            qb_json_obj(&j);
            qb_json_kstr(&j, "tensor", t->name);
            qb_json_kstr(&j, "type", type);
            qb_json_kstr(&j, "shape", shape);
            qb_json_kint(&j, "bytes", (int64_t)t->nbytes);
            qb_json_knum(&j, "bits_per_weight", 8.0 * (double)t->nbytes / n);
            qb_json_obj_end(&j);
        } else if (list) {
            char b[32];
            snprintf(b, sizeof b, "%" PRIu64, t->nbytes);
            const char *row[] = {t->name, type, shape, b, qb_fmt_f(8.0 * (double)t->nbytes / n, 4)};
            qb_table_row(&tt, row);
        }
    }
    if (cli->json) {
        qb_json_arr_end(&j);
        qb_json_knum(&j, "params", params);
        qb_json_knum(&j, "bytes", bytes);
        qb_json_knum(&j, "bits_per_weight", 8 * bytes / params);
        qb_json_end(&j);
    } else {
        printf("%s: %s, %d layers, %d tensors, %.0f parameters, %.2f MiB, %.4f bits per weight\n", m.path,
               m.arch ? m.arch : "?", m.info.n_layer, m.n, params, bytes / 1048576.0, 8 * bytes / params);
        if (m.is_gguf) {
            printf("\nmetadata (GGUF v%u, %" PRIu64 " keys, alignment %" PRIu64 "):\n", m.g.version, m.g.n_kv, m.g.alignment);
            for (uint64_t k = 0; k < m.g.n_kv; k++) {
                char text[256];
                kv_text(&m.g.kv[k], text, sizeof text);
                printf("  %-44s %s\n", m.g.kv[k].key, text);
            }
        }
        qb_table pt;
        static const char *const pcols[] = {"type", ">tensors", ">parameters", ">MiB", ">bits/weight", NULL};
        qb_table_init(&pt, pcols);
        for (int k = 0; k < nper; k++) {
            char n[32], p[32];
            snprintf(n, sizeof n, "%" PRId64, per[k].n);
            snprintf(p, sizeof p, "%.0f", per[k].params);
            const char *row[] = {per[k].type, n, p, qb_fmt_f(per[k].bytes / 1048576.0, 2), qb_fmt_f(8 * per[k].bytes / per[k].params, 4)};
            qb_table_row(&pt, row);
        }
        printf("\n");
        qb_table_print(&pt, stdout, QB_TABLE_TEXT);
        qb_table_free(&pt);
        if (list) {
            printf("\n");
            qb_table_print(&tt, stdout, QB_TABLE_TEXT);
            qb_table_free(&tt);
        }
    }
    qb_model_close(&m);
    return QB_OK;
}
