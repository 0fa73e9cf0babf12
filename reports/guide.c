/* guide.c — the selection guide: one row per format measured, computed from the database in
 * the spirit of a hand-written "which format should I use" table.
 *
 * Columns: format | bits/weight | size of a 1B/7B/13B/70B-parameter model | ΔPPL % and mean
 * KLD on the measured model | gemv speed vs f16 on this machine (CPU; GPU when the run has GPU
 * cases) | hardware support read from the machine | recommendation.
 *
 * Invariants:
 *  1. Sizes are parameters × bits/weight / 8 in decimal GB, with the bits/weight measured on
 *     the evaluated model (all its tensors, as llama.cpp's BPW) when there is one, else the
 *     format's storage cost from the formats table.
 *  2. Speed vs f16 is f16's median gemv time over the format's, same shape and threads (the
 *     bars' case, bench.c invariant 1); > 1 is faster than f16. A run without gemv cases
 *     (`run --model`) gives the format's tg tokens/s over f16's on the evaluated model instead,
 *     when it measured f16; the note says which it is.
 *  3. Recommendations are verdict.h's tiers and smallest usable (the run's ref_format is the
 *     reference), the rule the model-run table and `run --model` share, documented on the
 *     page with the table. Without an evaluation there is no recommendation. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../formats/mixes.h"
#include "sections.h"
#include "verdict.h"

typedef struct grow {
    char *format;
    double bpw, dppl, kld, cpu_speed, gpu_speed;
    int is_ref;
} grow;

/* Whole-word search in the space-separated cpu_flags list. */
static int has_flag(const char *flags, const char *f) {
    size_t n = strlen(f);
    for (const char *p = flags; p && (p = strstr(p, f)); p += n)
        if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) return 1;
    return 0;
}

/* The highest sm_XY of the machine's GPUs ("H200 (sm_90, 139.8 GiB)"), 0 without one. */
static int max_sm(const char *gpus) {
    int best = 0, sm;
    for (const char *p = gpus; p && (p = strstr(p, "sm_")); p += 3)
        if (sscanf(p + 3, "%d", &sm) == 1 && sm > best) best = sm;
    return best;
}

static int name_has(const char *name, const char *part) {
    char low[64];
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof low; i++) low[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
    low[i] = '\0';
    return strstr(low, part) != NULL;
}

/* What on this machine runs the format natively, from cpu_flags and the GPUs' compute
 * capability: F16C / AVX-512 FP16 for f16, AVX-512 BF16 / AMX-BF16 for bf16, the int8 dot
 * products (AVX2, AVX-VNNI, AVX-512 VNNI, AMX-INT8) for the integer block formats, and FP8
 * tensor cores from sm_89, FP4 from sm_100 for the minifloats. */
static char *hw_support(const grow *g, const char *flags, int sm) {
    char buf[256] = "";
    size_t n = 0;
#define ADD(cond, text)                                                                                                        \
    do {                                                                                                                       \
        if (cond) n += (size_t)snprintf(buf + n, sizeof buf - n < 2 ? 0 : sizeof buf - n, "%s%s", n ? ", " : "", text);       \
    } while (0)
    const char *f = g->format;
    int fp8 = name_has(f, "fp8") || name_has(f, "e4m3") || name_has(f, "e5m2");
    int fp4 = name_has(f, "fp4") || name_has(f, "nvfp4") || name_has(f, "e2m1");
    if (strcmp(f, "f32") == 0 || strcmp(f, "F32") == 0) {
        ADD(1, "every CPU and GPU");
    } else if (name_has(f, "bf16")) {
        ADD(has_flag(flags, "avx512_bf16"), "AVX-512 BF16");
        ADD(has_flag(flags, "amx_bf16"), "AMX-BF16");
        ADD(sm >= 80, "GPU BF16 tensor cores");
        ADD(!n, "no native BF16 here (converted to f32)");
    } else if (name_has(f, "f16") && !fp8) {
        ADD(has_flag(flags, "f16c"), "F16C");
        ADD(has_flag(flags, "avx512_fp16"), "AVX-512 FP16");
        ADD(sm >= 70, "GPU FP16 tensor cores");
        ADD(!n, "no F16C here (scalar conversion)");
    } else if (fp8 || fp4) {
        ADD(fp8 && sm >= 89, "GPU FP8 tensor cores (sm_89+)");
        ADD(fp4 && sm >= 100, "GPU FP4 tensor cores (sm_100+)");
        ADD(!n, sm ? "no tensor cores for it on this GPU (dequantized)" : "no native support here (dequantized)");
    } else {
        ADD(has_flag(flags, "avx2"), "AVX2");
        ADD(has_flag(flags, "avx_vnni"), "AVX-VNNI");
        ADD(has_flag(flags, "avx512_vnni"), "AVX-512 VNNI");
        ADD(has_flag(flags, "amx_int8"), "AMX-INT8");
        ADD(!n, "scalar only on this CPU");
    }
#undef ADD
    return qb_strdup(buf);
}

static int by_bpw_desc(const void *a, const void *b) {
    const grow *x = a, *y = b;
    if (x->bpw != y->bpw) return (x->bpw < y->bpw) - (x->bpw > y->bpw);
    return strcmp(x->format, y->format);
}

/* The registry format a guide row is benchmarked by: itself, or for a llama.cpp file type
 * (Q4_K_M) its base type (q4_K), which most of its tensors get. */
static const char *bench_name(const char *format) {
    for (int i = 0; i < qb_mix_count(); i++)
        if (strcasecmp(qb_mix_at(i)->name, format) == 0) return qb_mix_at(i)->base;
    return format;
}

/* Invariant 2: f16's time over each format's; device "cpu" or any other (a GPU). */
static void add_speed(qb_page *pg, const qb_run_meta *bench, grow *g, int n, int gpu) {
    if (!bench) return;
    char *sql = qb_asprintf(
        "WITH big AS (SELECT shape, threads FROM bench_cases WHERE run_id = ?1 AND op = 'gemv' AND device %s 'cpu'"
        "  ORDER BY threads DESC, json_extract(config, '$.working_set_bytes') DESC LIMIT 1),"
        " t AS (SELECT c.format, min(json_extract(c.config, '$.median_ns')) AS ns FROM bench_cases c, big"
        "  WHERE c.run_id = ?1 AND c.op = 'gemv' AND c.device %s 'cpu' AND c.shape = big.shape AND c.threads = big.threads"
        "  AND json_extract(c.config, '$.median_ns') > 0 GROUP BY c.format)"
        " SELECT t.format, f16.ns / t.ns FROM t, t AS f16 WHERE f16.format = 'f16'",
        gpu ? "<>" : "=", gpu ? "<>" : "=");
    sqlite3_stmt *s = qb_page_prepare(pg, sql, "benchmark speeds", bench->id);
    free(sql);
    if (!s) return;
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *f = (const char *)sqlite3_column_text(s, 0);
        for (int i = 0; f && i < n; i++)
            if (strcasecmp(bench_name(g[i].format), f) == 0) *(gpu ? &g[i].gpu_speed : &g[i].cpu_speed) = qb_db_col_real(s, 1);
    }
    sqlite3_finalize(s);
}

/* Invariant 2, without a benchmark: decode speed on the evaluated model. Returns whether any. */
static int add_tg_speed(qb_page *pg, const qb_run_meta *eval, grow *g, int n) {
    static const char sql[] =
        "WITH t AS (SELECT format, tps_mean FROM model_speed WHERE run_id = ?1 AND device = 'cpu' AND test LIKE 'tg%'"
        "  AND tps_mean > 0 AND model_id = (SELECT model_id FROM evals WHERE run_id = ?1 GROUP BY model_id, ctx"
        "  ORDER BY count(*) DESC LIMIT 1) AND threads = (SELECT max(threads) FROM model_speed WHERE run_id = ?1))"
        " SELECT t.format, t.tps_mean / f16.tps_mean FROM t, t AS f16 WHERE f16.format = 'f16'";
    sqlite3_stmt *s = eval ? qb_page_prepare(pg, sql, "model speeds", eval->id) : NULL;
    int any = 0;
    if (!s) return 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *f = (const char *)sqlite3_column_text(s, 0);
        for (int i = 0; f && i < n; i++)
            if (strcasecmp(g[i].format, f) == 0) g[i].cpu_speed = qb_db_col_real(s, 1), any = 1;
    }
    sqlite3_finalize(s);
    return any;
}

static grow *load_rows(qb_page *pg, const qb_run_meta *eval, const qb_run_meta *bench, int *n) {
    /* formats of the evaluation (its main model), else those the benchmark measured */
    const char *sql = eval ? "SELECT e.format, coalesce(e.bits_per_weight,"
                             " 8.0 * f.block_bytes / f.block_elems), 100.0 * (e.ppl_ratio - 1), e.kld_mean,"
                             " e.format = coalesce(e.ref_format, '') FROM evals e LEFT JOIN formats f ON f.name = e.format"
                             " WHERE e.run_id = ?1 AND e.model_id = (SELECT model_id FROM evals WHERE run_id = ?1"
                             "  GROUP BY model_id, ctx ORDER BY count(*) DESC LIMIT 1) AND e.ctx = (SELECT ctx FROM evals"
                             "  WHERE run_id = ?1 GROUP BY model_id, ctx ORDER BY count(*) DESC LIMIT 1)"
                           : "SELECT DISTINCT c.format, 8.0 * f.block_bytes / f.block_elems, NULL, NULL, 0"
                             " FROM bench_cases c LEFT JOIN formats f ON f.name = c.format WHERE c.run_id = ?1"
                             " AND c.format IS NOT NULL AND c.format <> ''";
    sqlite3_stmt *s = qb_page_prepare(pg, sql, "selection guide rows", eval ? eval->id : bench->id);
    grow *g = NULL;
    *n = 0;
    if (!s) return NULL;
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (sqlite3_column_type(s, 0) == SQLITE_NULL) continue;
        g = qb_realloc(g, sizeof *g * (size_t)(*n + 1));
        grow *r = &g[(*n)++];
        r->format = qb_col_str(s, 0);
        r->bpw = qb_db_col_real(s, 1);
        r->dppl = qb_db_col_real(s, 2);
        r->kld = qb_db_col_real(s, 3);
        r->is_ref = sqlite3_column_int(s, 4);
        r->cpu_speed = r->gpu_speed = NAN;
    }
    sqlite3_finalize(s);
    qsort(g, (size_t)*n, sizeof *g, by_bpw_desc);
    return g;
}

static const char *fmt_or_null(double v, const char *fmt, char *buf, size_t cap) {
    if (!isfinite(v)) return NULL;
    snprintf(buf, cap, fmt, v);
    return buf;
}

void qb_section_guide(qb_page *pg, const qb_run_meta *eval, const qb_run_meta *bench, const qb_run_meta *machine) {
    if (pg->st || (!eval && !bench)) return;
    int n;
    grow *g = load_rows(pg, eval, bench, &n);
    add_speed(pg, bench, g, n, 0);
    add_speed(pg, bench, g, n, 1);
    int any_cpu = 0, any_gpu = 0, from_tg = 0;
    for (int i = 0; i < n; i++) any_cpu |= isfinite(g[i].cpu_speed);
    if (!any_cpu) from_tg = add_tg_speed(pg, eval, g, n);
    double *bpw = qb_malloc(sizeof *bpw * (size_t)(n + 1)), *kld = qb_malloc(sizeof *kld * (size_t)(n + 1));
    const char **tier = qb_malloc(sizeof *tier * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        any_gpu |= isfinite(g[i].gpu_speed);
        bpw[i] = g[i].bpw;
        kld[i] = g[i].kld;
        tier[i] = qb_verdict_tier(g[i].is_ref, g[i].dppl, g[i].kld);
    }
    const int smallest = qb_verdict_smallest_usable(bpw, kld, tier, n);
    int sm = max_sm(machine->gpus);
    qb_page_heading(pg, 2, "Selection guide", "guide");
    char *rule = qb_verdict_rule();
    const char *speed = from_tg ? "Speed is the format's token generation (tg, tokens/s) over f16's on the evaluated model, in the "
                                  "same run (this run has no gemv benchmark), "
                                : "Speed is f16's median gemv time over the format's (its fastest backend; a llama.cpp file type is "
                                  "timed by its base type, e.g. Q4_K_M by q4_K), same shape and threads ";
    char *t = qb_asprintf(
        "Computed from %s%s%s%s%s. Sizes are parameters x bits/weight / 8 (decimal GB, weights only). %s"
        "(> 1: faster than f16). Hardware support is read from "
        "the machine's CPU flags and GPU compute capability (FP8 tensor cores from sm_89, FP4 from sm_100). "
        "Recommendation (point estimates; see the standard errors in the evaluation table): %s",
        eval ? "evaluation run " : "", eval ? eval->id : "", eval && bench ? " and " : "", bench ? "benchmark run " : "",
        bench ? bench->id : "", speed, rule);
    qb_page_note(pg, t);
    free(t);
    free(rule);
    static const char *const cols_gpu[] = {"format", ">bits/weight", ">1B GB", ">7B GB", ">13B GB", ">70B GB", ">ΔPPL %", ">KLD",
                                           ">speed vs f16 (CPU)", ">speed vs f16 (GPU)", "hardware support here", "recommendation", NULL};
    static const char *const cols_cpu[] = {"format", ">bits/weight", ">1B GB", ">7B GB", ">13B GB", ">70B GB", ">ΔPPL %", ">KLD",
                                           ">speed vs f16 (CPU)", "hardware support here", "recommendation", NULL};
    /* the page rounds to 3 digits (speed to 2 decimals); guide.csv keeps full precision */
    qb_table tab, full;
    qb_table_init(&tab, any_gpu ? cols_gpu : cols_cpu);
    qb_table_init(&full, any_gpu ? cols_gpu : cols_cpu);
    static const double params_b[] = {1, 7, 13, 70};
    for (int i = 0; i < n; i++) {
        char *hw = hw_support(&g[i], machine->cpu_flags ? machine->cpu_flags : "", sm);
        for (int pass = 0; pass < 2; pass++) {
            const char *num = pass ? "%.9g" : "%.3g", *dp = pass ? "%+.9g" : "%+.3g", *sp = pass ? "%.6g" : "%.2fx";
            char b[12][32];
            const char *cells[12];
            int k = 0;
            cells[k++] = g[i].format;
            cells[k++] = fmt_or_null(g[i].bpw, num, b[1], 32);
            for (int p = 0; p < 4; p++) cells[k++] = fmt_or_null(params_b[p] * g[i].bpw / 8.0, num, b[2 + p], 32);
            cells[k++] = fmt_or_null(g[i].dppl, dp, b[6], 32);
            cells[k++] = fmt_or_null(g[i].kld, num, b[7], 32);
            cells[k++] = fmt_or_null(g[i].cpu_speed, sp, b[8], 32);
            if (any_gpu) cells[k++] = fmt_or_null(g[i].gpu_speed, sp, b[9], 32);
            cells[k++] = hw;
            cells[k++] = qb_verdict_label(tier[i], i == smallest);
            qb_table_row(pass ? &full : &tab, cells);
        }
        free(hw);
    }
    qb_page_table(pg, &tab);
    qb_page_csv(pg, &full, "guide.csv", "The selection guide");
    qb_table_free(&tab);
    qb_table_free(&full);
    for (int i = 0; i < n; i++) {
        free(g[i].format);
    }
    free(g);
    free(bpw);
    free(kld);
    free(tier);
}
