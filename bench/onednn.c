/* onednn.c — GEMM through oneDNN's matmul, beside OpenBLAS: (m×k)·(k×n) with source and
 * weights in f32, bf16 or f16 (f32 destination), or u8·s8 with s32 accumulation (the W8A8
 * int8 path; format int8_sym_row, its per-row scales not applied). The weights are stored
 * n×k row-major as the formats store them; oneDNN chooses its own weight layout
 * (format_tag_any) and they are reordered once at set-up, as an inference engine does.
 *
 * The implementation oneDNN picked is recorded (impl_info_str, e.g. "brg:avx512_core_bf16");
 * a name starting with "ref" is its reference implementation, marked fallback = 1. A type
 * with no implementation on this CPU at all (f16 before AVX512-FP16 in oneDNN 2.x) is a
 * skipped case whose message says so. oneDNN here runs on OpenMP: the thread count is set
 * through omp_set_num_threads, looked up at run time in the OpenMP library oneDNN loaded. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#ifdef QB_HAVE_ONEDNN
#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>

int qb_onednn_available(void) { return 1; }

int qb_onednn_format(const qb_format *f) {
    return strcmp(f->name, "f32") == 0 || strcmp(f->name, "bf16") == 0 || strcmp(f->name, "f16") == 0 ||
           strcmp(f->name, "int8_sym_row") == 0;
}

typedef struct dnn_ctx {
    dnnl_primitive_t prim;
    dnnl_stream_t stream;
    dnnl_exec_arg_t args[3];
} dnn_ctx;

static void dnn_iter(void *p, int64_t i) {
    (void)i;
    dnn_ctx *x = p;
    dnnl_primitive_execute(x->prim, x->stream, 3, x->args);
    dnnl_stream_wait(x->stream);
}

#define DNN(call, what)                                                                          \
    do {                                                                                        \
        dnnl_status_t s_ = (call);                                                              \
        if (s_ != dnnl_success && !r->st) {                                                     \
            r->st = qb_fail(QB_ERUNTIME, "oneDNN %s failed (status %d)", what, (int)s_);         \
            goto done;                                                                          \
        }                                                                                       \
    } while (0)

void qb_bench_onednn_gemm(const qb_case *c, const qb_bench_cfg *cfg, qb_case_result *r) {
    const qb_format *f = c->fmt;
    int64_t m = c->m, n = c->n, k = c->k;
    dnnl_data_type_t st_t = dnnl_f32, wt_t = dnnl_f32, dt_t = dnnl_f32;
    size_t es = 4;
    if (strcmp(f->name, "bf16") == 0) st_t = wt_t = dnnl_bf16, es = 2;
    else if (strcmp(f->name, "f16") == 0) st_t = wt_t = dnnl_f16, es = 2;
    else if (strcmp(f->name, "int8_sym_row") == 0) st_t = dnnl_u8, wt_t = dnnl_s8, dt_t = dnnl_s32, es = 1;

    void (*set_threads)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    if (set_threads) set_threads(c->threads);

    dnnl_engine_t eng = NULL;
    dnnl_stream_t stream = NULL;
    dnnl_primitive_desc_t pd = NULL, rpd = NULL;
    dnnl_primitive_t prim = NULL, reorder = NULL;
    dnnl_memory_t am = NULL, wm_user = NULL, wm = NULL, cm = NULL;
    void *a = qb_malloc(es * (size_t)(m * k)), *w = qb_malloc(es * (size_t)(n * k)), *cbuf = qb_calloc((size_t)(m * n), 4);
    /* activations and weights: smooth deterministic values in the type's range */
    for (int64_t i = 0; i < m * k; i++) {
        float v = (float)((i * 7919) % 2001 - 1000) * 1e-3f;
        if (es == 4) ((float *)a)[i] = v;
        else if (st_t == dnnl_bf16) ((uint16_t *)a)[i] = qb_f32_to_bf16(v);
        else if (st_t == dnnl_f16) ((uint16_t *)a)[i] = qb_f32_to_f16(v);
        else ((uint8_t *)a)[i] = (uint8_t)(128 + (int)(v * 127));
    }
    for (int64_t i = 0; i < n * k; i++) {
        float v = (float)((i * 104729) % 2001 - 1000) * 2e-5f;
        if (es == 4) ((float *)w)[i] = v;
        else if (wt_t == dnnl_bf16) ((uint16_t *)w)[i] = qb_f32_to_bf16(v);
        else if (wt_t == dnnl_f16) ((uint16_t *)w)[i] = qb_f32_to_f16(v);
        else ((int8_t *)w)[i] = (int8_t)(v * 127 / 0.02f);
    }
    dnnl_memory_desc_t a_md, w_any, w_user, c_md;
    dnnl_dims_t ad = {m, k}, wd = {k, n}, cd = {m, n};
    DNN(dnnl_memory_desc_init_by_tag(&a_md, 2, ad, st_t, dnnl_ab), "source descriptor");
    DNN(dnnl_memory_desc_init_by_tag(&w_any, 2, wd, wt_t, dnnl_format_tag_any), "weights descriptor");
    DNN(dnnl_memory_desc_init_by_tag(&w_user, 2, wd, wt_t, dnnl_ba), "weights descriptor"); /* n×k row-major */
    DNN(dnnl_memory_desc_init_by_tag(&c_md, 2, cd, dt_t, dnnl_ab), "destination descriptor");
    DNN(dnnl_engine_create(&eng, dnnl_cpu, 0), "engine");
    DNN(dnnl_stream_create(&stream, eng, dnnl_stream_default_flags), "stream");
    dnnl_matmul_desc_t md;
    DNN(dnnl_matmul_desc_init(&md, &a_md, &w_any, NULL, &c_md), "matmul descriptor");
    dnnl_status_t s = dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL);
    if (s == dnnl_unimplemented) {
        r->skipped = 1;
        r->st = qb_fail(QB_ERUNTIME, "skipped: oneDNN has no %s matmul on this CPU (not even a reference one)", f->name);
        goto done;
    }
    DNN(s, "matmul primitive descriptor");
    const char *impl = "?";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    const dnnl_version_t *ver = dnnl_version();
    snprintf(r->impl, sizeof r->impl, "oneDNN %d.%d.%d %s, %d threads", ver->major, ver->minor, ver->patch, impl, c->threads);
    r->fallback = strncmp(impl, "ref", 3) == 0;
    const dnnl_memory_desc_t *w_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    DNN(dnnl_primitive_create(&prim, pd), "matmul primitive");
    DNN(dnnl_memory_create(&am, &a_md, eng, a), "source memory");
    DNN(dnnl_memory_create(&cm, &c_md, eng, cbuf), "destination memory");
    DNN(dnnl_memory_create(&wm_user, &w_user, eng, w), "weights memory");
    if (dnnl_memory_desc_equal(w_md, &w_user)) {
        wm = wm_user, wm_user = NULL;
    } else {
        DNN(dnnl_memory_create(&wm, w_md, eng, DNNL_MEMORY_ALLOCATE), "weights memory");
        DNN(dnnl_reorder_primitive_desc_create(&rpd, &w_user, eng, w_md, eng, NULL), "weights reorder");
        DNN(dnnl_primitive_create(&reorder, rpd), "weights reorder");
        dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, wm_user}, {DNNL_ARG_TO, wm}};
        DNN(dnnl_primitive_execute(reorder, stream, 2, ra), "weights reorder");
        DNN(dnnl_stream_wait(stream), "weights reorder");
    }
    dnn_ctx x = {prim, stream, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, cm}}};
    r->flops = 2.0 * (double)m * (double)n * (double)k;
    r->bytes = (double)es * (double)(m * k + n * k) + 4.0 * (double)(m * n);
    r->working_set = r->bytes;
    r->st = qb_bench_measure_library(cfg, c->threads, dnn_iter, &x, qb_fma_pair_beside_openmp, r);
done:
    if (reorder) dnnl_primitive_destroy(reorder);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (prim) dnnl_primitive_destroy(prim);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (am) dnnl_memory_destroy(am);
    if (wm) dnnl_memory_destroy(wm);
    if (wm_user) dnnl_memory_destroy(wm_user);
    if (cm) dnnl_memory_destroy(cm);
    if (stream) dnnl_stream_destroy(stream);
    if (eng) dnnl_engine_destroy(eng);
    free(a), free(w), free(cbuf);
}

#else

int qb_onednn_available(void) { return 0; }
int qb_onednn_format(const qb_format *f) { (void)f; return 0; }
void qb_bench_onednn_gemm(const qb_case *c, const qb_bench_cfg *cfg, qb_case_result *r) {
    (void)c, (void)cfg;
    r->skipped = 1;
    r->st = qb_fail(QB_ERUNTIME, "skipped: this quantbench was built without oneDNN (apt-get install libdnnl-dev, rebuild)");
}

#endif
