/* cmd_quantize.c — `quantbench quantize`: a model (GGUF or safetensors) to a GGUF file of a
 * llama.cpp file type (Q4_K_M, …, formats/mixes.c) or of one registry format for every
 * quantizable tensor. Streams: each tensor is read, decoded, quantized and written a chunk of
 * rows at a time, and the consumed input pages are released, so resident memory stays near
 * one chunk whatever the model's size. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/json.h"
#include "../common/parallel.h"
#include "../common/table.h"
#include "../datasets/imatrix.h"
#include "../datasets/model.h"
#include "../formats/mixes.h"
#include "cli.h"

static const char usage[] =
    "Usage: quantbench quantize IN OUT.gguf TYPE [--imatrix FILE] [--threads N] [--json]\n"
    "\n"
    "Writes IN (a .gguf file, a .safetensors file, or a Hugging Face checkpoint directory with\n"
    "config.json) as a GGUF file of TYPE, byte-identical to what llama-quantize writes for the\n"
    "same tensors:\n"
    "  TYPE = a llama.cpp file type, with llama-quantize's per-tensor policy: F32, F16, BF16,\n"
    "         Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q2_K_S, Q3_K_S, Q3_K_M, Q3_K_L, Q4_K_S,\n"
    "         Q4_K_M, Q5_K_S, Q5_K_M, Q6_K, IQ4_NL, IQ4_XS, TQ1_0, TQ2_0, MXFP4_MOE;\n"
    "       or a format from 'quantbench formats' (e.g. q4_K, nvfp4) for every quantizable\n"
    "         tensor, with llama.cpp's fallbacks where its block does not divide a row.\n"
    "Norms, biases and other 1-D tensors are copied (from safetensors: as F32, as llama.cpp's\n"
    "converter writes them). --imatrix takes llama-imatrix's file (GGUF or legacy .dat).\n"
    "Prints each tensor's type change and sizes, then the totals, and the quantize throughput\n"
    "per type in MB/s of float32 input.\n";

#define CHUNK_VALUES (1 << 22) /* values decoded at once: 16 MiB of float32 */

typedef struct plan {
    const qb_format *to;   /* NULL: copy the stored bytes verbatim */
    uint32_t out_type;     /* ggml type written */
    uint64_t out_bytes;
} plan;

typedef struct type_stat {
    const char *name;
    int64_t tensors;
    double in_bytes, out_bytes, f32_bytes, seconds;
} type_stat;

static type_stat *stat_for(type_stat *s, int *n, const char *name) {
    for (int i = 0; i < *n; i++)
        if (strcmp(s[i].name, name) == 0) return &s[i];
    s[*n] = (type_stat){.name = name};
    return &s[(*n)++];
}

/* llama.cpp's loader orders tensors by layer (those outside blk.N. first), then by name, and
 * llama-quantize writes them in that order: doing the same makes our file identical to its. */
static const qb_model *sort_model;
static int layer_of(const char *name) {
    int l;
    return sscanf(name, "blk.%d.", &l) == 1 ? l : -1;
}
static int llama_order(const void *a, const void *b) {
    const char *x = sort_model->t[*(const int *)a].name, *y = sort_model->t[*(const int *)b].name;
    int lx = layer_of(x), ly = layer_of(y);
    return lx != ly ? (lx < ly ? -1 : 1) : strcmp(x, y);
}

/* Quantizes tensor i chunk by chunk into the writer's tensor number wi. */
static qb_status convert_tensor(const qb_model *m, int i, uint64_t wi, const plan *p, const qb_imatrix_entry *ie, int threads,
                                qb_gguf_writer *w, float *buf, uint8_t *qbuf) {
    const qb_model_tensor *t = &m->t[i];
    int64_t rows = qb_model_rows(t), per_expert = t->ne[1];
    int64_t chunk = CHUNK_VALUES / t->ne[0] > 0 ? CHUNK_VALUES / t->ne[0] : 1;
    size_t rb;
    qb_status st = qb_format_bytes(p->to, 1, t->ne[0], &rb);
    for (int64_t r0 = 0; !st && r0 < rows;) {
        /* a chunk stays inside one expert: each expert has its own importance row */
        int64_t expert = r0 / per_expert, nr = chunk;
        if (r0 + nr > (expert + 1) * per_expert) nr = (expert + 1) * per_expert - r0;
        st = qb_model_rows_f32(m, i, r0, nr, buf);
        if (st) break;
        const float *imp = ie ? ie->values + (ie->n_mat > 1 ? expert : 0) * t->ne[0] : NULL;
        st = qb_format_quantize_mt(p->to, buf, qbuf, nr, t->ne[0], imp, threads);
        if (st) {
            st = qb_fail_context(st, "%s: tensor '%s' rows %" PRId64 "-%" PRId64, m->path, t->name, r0, r0 + nr - 1);
            break;
        }
        st = qb_gguf_writer_write_tensor(w, wi, qbuf, (uint64_t)nr * rb);
        qb_model_release(m, i, r0, nr);
        r0 += nr;
    }
    return st;
}

static qb_status copy_tensor(const qb_model *m, int i, uint64_t wi, qb_gguf_writer *w) {
    const qb_model_tensor *t = &m->t[i];
    int64_t rows = qb_model_rows(t), chunk = 1 << 12;
    uint64_t rb = t->nbytes / (uint64_t)rows;
    qb_status st = QB_OK;
    for (int64_t r0 = 0; !st && r0 < rows; r0 += chunk) {
        int64_t nr = r0 + chunk > rows ? rows - r0 : chunk;
        st = qb_gguf_writer_write_tensor(w, wi, (const char *)t->data + (uint64_t)r0 * rb, (uint64_t)nr * rb);
        qb_model_release(m, i, r0, nr);
    }
    return st;
}

qb_status cmd_quantize(qb_cli *cli, int argc, char **argv) {
    static const struct option opts[] = {QB_COMMON_OPTIONS, {"imatrix", required_argument, NULL, 'i'},
                                         {"threads", required_argument, NULL, 't'}, {NULL, 0, NULL, 0}};
    const char *imatrix_path = NULL;
    int64_t threads = qb_cpu_count();
    int c;
    qb_status st = QB_OK;
    while (!st && (c = qb_cli_next(cli, argc, argv, opts, usage)) != QB_CLI_DONE) {
        switch (c) {
        case QB_CLI_HELP: return QB_OK;
        case QB_CLI_ERROR: return QB_EUSAGE;
        case 'i': imatrix_path = optarg; break;
        case 't': st = qb_cli_int("threads", optarg, 1, 1024, &threads); break;
        default: return qb_fail(QB_EUSAGE, "unexpected option");
        }
    }
    if (st) return st;
    if (argc - optind != 3) return qb_fail(QB_EUSAGE, "expected IN, OUT.gguf and TYPE");
    const char *in = argv[optind], *out = argv[optind + 1], *type = argv[optind + 2];

    const qb_mix *mix = NULL;
    const qb_format *single = qb_format_find(type);
    if (!single && (st = qb_mix_require(type, &mix))) return st;
    if (single && single->gguf_type < 0)
        return qb_fail(QB_EUSAGE, "format %s has no GGUF type id, so it cannot be written into a GGUF file", single->name);

    qb_model m;
    if ((st = qb_model_open(&m, in))) return st;
    qb_imatrix im = {0};
    if (imatrix_path && (st = qb_imatrix_load(&im, imatrix_path))) {
        qb_model_close(&m);
        return st;
    }
    m.info.has_imatrix = imatrix_path != NULL;

    /* plan every tensor's output type before writing anything */
    plan *p = qb_calloc((size_t)m.n, sizeof *p);
    int64_t max_cols = 1;
    for (int i = 0; i < m.n && !st; i++) {
        const qb_model_tensor *t = &m.t[i];
        const qb_format *to = NULL;
        if (qb_mix_quantizable(t->name, (int)t->n_dims)) {
            if (mix) st = qb_mix_tensor_type(mix, &m.info, t->name, t->ne, &to);
            else to = qb_mix_fallback(single, t->ne[0]);
        } else if (m.is_gguf) {
            to = NULL; /* copied as stored */
        } else {
            to = qb_format_find("f32"); /* llama.cpp's converter writes 1-D tensors as F32 */
        }
        if (st) break;
        if (to && m.is_gguf && t->decoder == to) to = NULL; /* already in the target type */
        if (to && !t->decoder)
            st = qb_fail(QB_EINPUT, "%s: tensor '%s' is in a type this build cannot decode, so it cannot become %s", in, t->name, to->name);
        p[i].to = to;
        p[i].out_type = to ? (uint32_t)to->gguf_type : t->ggml_type;
        if (!st && !to && t->ggml_type == QB_MODEL_NO_TYPE)
            st = qb_fail(QB_EINPUT, "%s: tensor '%s' has no GGUF type to copy it as", in, t->name);
        if (!st) st = qb_ggml_nbytes(p[i].out_type, t->n_dims, t->ne, &p[i].out_bytes);
        if (to && t->ne[0] > max_cols) max_cols = t->ne[0];
    }

    qb_gguf_writer w = {0};
    if (!st) st = qb_gguf_writer_open(&w, out, 0);
    if (!st) st = qb_model_write_metadata(&m, &w);
    int32_t ftype = mix ? (int32_t)mix->file_type : qb_mix_file_type_of(single);
    if (!st) st = qb_gguf_writer_set_u32(&w, "general.quantization_version", 2);
    if (!st && ftype >= 0) st = qb_gguf_writer_set_u32(&w, "general.file_type", (uint32_t)ftype);
    /* one output file, whatever the input's split: llama-quantize drops these too */
    qb_gguf_writer_remove(&w, "split.no");
    qb_gguf_writer_remove(&w, "split.count");
    qb_gguf_writer_remove(&w, "split.tensors.count");
    int *order = qb_malloc(sizeof *order * (size_t)(m.n ? m.n : 1));
    for (int i = 0; i < m.n; i++) order[i] = i;
    sort_model = &m;
    qsort(order, (size_t)m.n, sizeof *order, llama_order);
    for (int k = 0; k < m.n && !st; k++) {
        const qb_model_tensor *t = &m.t[order[k]];
        st = qb_gguf_writer_add_tensor(&w, t->name, t->n_dims, t->ne, p[order[k]].out_type);
    }

    int64_t chunk_rows = CHUNK_VALUES / max_cols > 0 ? CHUNK_VALUES / max_cols : 1;
    float *buf = qb_malloc(sizeof(float) * (size_t)(chunk_rows * max_cols > CHUNK_VALUES ? chunk_rows * max_cols : CHUNK_VALUES));
    uint8_t *qbuf = qb_malloc(sizeof(float) * (size_t)(chunk_rows * max_cols > CHUNK_VALUES ? chunk_rows * max_cols : CHUNK_VALUES));
    type_stat stats[64];
    int nstats = 0;
    qb_table t;
    qb_json j;
    static const char *const cols[] = {"tensor", "shape", "from", "to", ">MiB in", ">MiB out", NULL};
    if (cli->json) {
        qb_json_begin(&j, stdout);
        qb_json_key(&j, "run");
        qb_json_null(&j);
        qb_json_key(&j, "rows");
        qb_json_arr(&j);
    } else {
        qb_table_init(&t, cols);
    }
    double in_total = 0, out_total = 0, params = 0;
    int n_quantized = 0;
    for (int k = 0; k < m.n && !st; k++) {
        int i = order[k];
        const qb_model_tensor *mt = &m.t[i];
        const char *from = qb_model_type_name(mt), *to = "?";
        qb_ggml_type_info(p[i].out_type, &to, NULL, NULL);
        qb_progress(k + 1, m.n, mt->name);
        const qb_imatrix_entry *ie = NULL;
        if (p[i].to && (p[i].to->flags & QB_FMT_USES_IMP) && im.n) {
            ie = qb_imatrix_find(&im, mt->name);
            if (!ie) {
                qb_progress_done();
                fprintf(stderr, "note: no importance weights for '%s' in %s; quantizing it without\n", mt->name, imatrix_path);
            } else if (ie->n_per_row != mt->ne[0] || (ie->n_mat != 1 && ie->n_mat != mt->ne[2])) {
                st = qb_fail(QB_EINPUT, "%s: importance weights for '%s' are %" PRId64 " x %" PRId64 ", the tensor has rows of %" PRId64
                             " and %" PRId64 " experts", imatrix_path, mt->name, ie->n_per_row, ie->n_mat, mt->ne[0], mt->ne[2]);
                break;
            }
        }
        int64_t t0 = qb_now_ns();
        st = p[i].to ? convert_tensor(&m, i, (uint64_t)k, &p[i], ie, (int)threads, &w, buf, qbuf) : copy_tensor(&m, i, (uint64_t)k, &w);
        double secs = (double)(qb_now_ns() - t0) * 1e-9;
        if (st) break;
        double elems = (double)qb_model_rows(mt) * (double)mt->ne[0];
        params += elems;
        in_total += (double)mt->nbytes;
        out_total += (double)p[i].out_bytes;
        if (p[i].to) {
            n_quantized++;
            if (nstats < 64) {
                type_stat *s = stat_for(stats, &nstats, p[i].to->name);
                s->tensors++, s->in_bytes += (double)mt->nbytes, s->out_bytes += (double)p[i].out_bytes;
                s->f32_bytes += 4 * elems, s->seconds += secs;
            }
        }
        char shape[64];
        qb_model_shape(mt, shape, sizeof shape);
        if (cli->json) {
            qb_json_obj(&j);
            qb_json_kstr(&j, "tensor", mt->name);
            qb_json_kstr(&j, "shape", shape);
            qb_json_kstr(&j, "from", from);
            qb_json_kstr(&j, "to", to);
            qb_json_kint(&j, "bytes_in", (int64_t)mt->nbytes);
            qb_json_kint(&j, "bytes_out", (int64_t)p[i].out_bytes);
            qb_json_knum(&j, "seconds", secs);
            qb_json_obj_end(&j);
        } else {
            const char *row[] = {mt->name, shape, from, to, qb_fmt_f((double)mt->nbytes / 1048576.0, 2),
                                 qb_fmt_f((double)p[i].out_bytes / 1048576.0, 2)};
            qb_table_row(&t, row);
        }
    }
    qb_progress_done();
    if (!st) st = qb_gguf_writer_finish(&w);
    else qb_gguf_writer_abort(&w);

    if (cli->json) {
        qb_json_arr_end(&j);
        if (!st) {
            qb_json_kstr(&j, "output", out);
            qb_json_knum(&j, "params", params);
            qb_json_knum(&j, "bytes_in", in_total);
            qb_json_knum(&j, "bytes_out", out_total);
            qb_json_knum(&j, "bits_per_weight", 8 * out_total / params);
            qb_json_key(&j, "throughput");
            qb_json_arr(&j);
            for (int s = 0; s < nstats; s++) {
                qb_json_obj(&j);
                qb_json_kstr(&j, "format", stats[s].name);
                qb_json_kint(&j, "tensors", stats[s].tensors);
                qb_json_knum(&j, "f32_mb_per_s", stats[s].f32_bytes / 1e6 / stats[s].seconds);
                qb_json_obj_end(&j);
            }
            qb_json_arr_end(&j);
        }
        qb_json_end(&j);
    } else {
        qb_table_print(&t, stdout, QB_TABLE_TEXT);
        qb_table_free(&t);
        if (!st) {
            printf("\n%s: %.0f parameters, %.2f MiB -> %.2f MiB, %.4f -> %.4f bits per weight; %d tensors quantized, %d copied\n",
                   out, params, in_total / 1048576.0, out_total / 1048576.0, 8 * in_total / params, 8 * out_total / params,
                   n_quantized, m.n - n_quantized);
            for (int s = 0; s < nstats; s++)
                printf("  %-8s %4" PRId64 " tensors  %9.2f MiB  %8.1f MB/s of float32 input (%d threads)\n", stats[s].name,
                       stats[s].tensors, stats[s].out_bytes / 1048576.0, stats[s].f32_bytes / 1e6 / stats[s].seconds, (int)threads);
        }
    }
    free(buf);
    free(qbuf);
    free(order);
    free(p);
    qb_imatrix_free(&im);
    qb_model_close(&m);
    return st;
}
