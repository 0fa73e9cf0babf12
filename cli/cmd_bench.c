/* cmd_bench.c — `quantbench bench`: the CPU microbenchmarks of bench/ as a run. Prints one
 * table row per case with its fraction of the measured limit, then the limits, the memory
 * figures per format and the targets, met or missed; --json prints the same as one
 * object. Every case is committed as soon as it is measured (bench/sweep.h). */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench/sweep.h"
#include "../common/json.h"
#include "../common/table.h"
#include "../results/db.h"
#include "cli.h"

static const char usage[] =
    "Usage: quantbench bench [--ops quantize,dequantize,gemv,gemm] [--formats F1,F2,…|all]\n"
    "                        [--threads 1,2,…] [--quick] [--samples N] [--rounds R]\n"
    "                        [--min-time MS] [--flush-cache] [--no-pin] [--max-case-time S]\n"
    "                        [--db PATH] [--json]\n"
    "\n"
    "Measures the machine's limits, then every operation of every format against them, and\n"
    "stores every sample in the database:\n"
    "  limits      read / copy / triad bandwidth (STREAM-style, L1 … DRAM), fp32 FMA peak of\n"
    "              the widest vector unit, OpenBLAS sgemm (paired with the FMA kernel, as\n"
    "              gemm); cache sizes. A limit is its best sample (STREAM's convention), an\n"
    "              operation's figure its median\n"
    "  quantize    f32 → format, sizes from L1-resident to 2x the last-level cache (GB/s of\n"
    "              f32 and of format bytes; fraction of copy bandwidth at that level); a format\n"
    "              with a fast path also through its scalar reference (backend 'reference',\n"
    "              one thread, the L2 size, its samples alternating with the fast path's;\n"
    "              'paired' is then its rate over the fast path's): the fast path's speedup\n"
    "              over it in the targets\n"
    "  dequantize  format → f32, the same sizes, the largest 4x the last-level cache\n"
    "  gemv        decode shapes 4096x4096 and 11008x4096 × one vector with the format's fused\n"
    "              dot (quantized activations where it defines them), weights streamed from\n"
    "              DRAM; fraction of read bandwidth; plus p50/p90/p99 latency of 200 calls\n"
    "  gemm        prompt shape M = 512 tokens × 512x4096 weights: OpenBLAS sgemm (f32),\n"
    "              oneDNN matmul (f32, bf16, f16, int8), dequantized tiles + sgemm (others);\n"
    "              fraction of the fp32 FMA peak, paired with the FMA kernel (below)\n"
    "Each case warms up, sizes its iterations to --min-time per sample (default 5 ms) and\n"
    "takes --samples samples (default 10, at least 10); median, MAD, min, max and CV are\n"
    "reported, outliers (modified z-score > 3.5) flagged but kept, CV > 10 % marked unstable.\n"
    "Threads are pinned to CPUs 0..N-1 (--no-pin to let the OS place them); each case runs in\n"
    "its own process, whose peak RSS is recorded. --threads defaults to 1..all CPUs.\n"
    "Dequantize and gemv cases beyond the LLC alternate their samples with samples of their own\n"
    "limit kernel (copy, read) on the same threads and buffers, gemm cases with the FMA peak\n"
    "kernel on as many threads: 'paired' is the case's median rate over that kernel's, both\n"
    "taken in the same seconds, where the run's limits may be minutes away (a shared machine's\n"
    "DRAM bandwidth and clock move within a minute); the targets judge such a case by it, its\n"
    "fraction of the run's limit shown beside it. A compute pair below 0.75 of the run's FMA\n"
    "peak shared its CPUs with something the case did not: the row says PAIR SLOW and the\n"
    "targets judge it by its fraction of the run's limit instead.\n"
    "With one round the largest level's read and copy bandwidth are measured again at the end\n"
    "(limits end_read_bw_*, end_copy_bw_*), and a limit that moved by more than 15 % is noted.\n"
    "--rounds R splits each case's samples over R processes in R rounds, each round the limits\n"
    "then every operation in a shuffled order (default 1): on a shared machine, where a case's\n"
    "speed depends on its process and on the minute, the samples then show that spread and\n"
    "'quantbench compare' does not mistake it for a change (the nightly suite uses 6).\n"
    "--quick is a smoke run of tiny shapes (seconds; figures are not meaningful).\n"
    "--flush-cache flushes the caches before every sample (and streams no weight copies).\n"
    "A case whose samples would take longer than --max-case-time (default 3 s) is skipped.\n"
    "\n"
    "Example:\n"
    "  quantbench bench --ops dequantize,gemv --formats q4_0,q8_0,bf16 --threads 1,2\n";

static const struct {
    const char *name;
    qb_op op;
} op_list[] = {{"quantize", QB_OP_QUANTIZE}, {"dequantize", QB_OP_DEQUANTIZE}, {"gemv", QB_OP_GEMV}, {"gemm", QB_OP_GEMM}};

typedef struct kept {
    qb_op op;
    const qb_format *f;
    const char *backend;
    char level[8];
    int threads;
    int64_t n;
    double fraction, paired;
    int ok;
} kept;

typedef struct printer {
    int json;
    qb_table t;
    qb_json j;
    kept *k;
    int nk;
} printer;

static const char *fmt_or_dash(double v, int prec) { return isfinite(v) ? qb_fmt_g(v, prec) : "-"; }

static const char *fmt_ns(double ns) {
    static char buf[4][32];
    static int i;
    char *b = buf[i++ & 3];
    if (!isfinite(ns)) return "-";
    if (ns < 1e3) snprintf(b, 32, "%.0f ns", ns);
    else if (ns < 1e6) snprintf(b, 32, "%.3g µs", ns * 1e-3);
    else if (ns < 1e9) snprintf(b, 32, "%.3g ms", ns * 1e-6);
    else snprintf(b, 32, "%.3g s", ns * 1e-9);
    return b;
}

static void on_row(void *ctx, const qb_bench_row *w) {
    printer *p = ctx;
    const qb_case *c = w->c;
    const qb_case_result *r = w->r;
    char shape[64], note[256] = "";
    qb_case_shape(c, shape, sizeof shape);
    p->k = qb_realloc(p->k, sizeof *p->k * (size_t)(p->nk + 1));
    p->k[p->nk++] = (kept){c->op, c->fmt, c->backend, "", c->threads, c->n, w->fraction, w->pair_slow ? NAN : w->paired_fraction, r->st == QB_OK};
    snprintf(p->k[p->nk - 1].level, sizeof p->k[p->nk - 1].level, "%s", r->level);
    if (r->st) snprintf(note, sizeof note, "%s", r->msg);
    else {
        size_t k = 0;
        if (c->op == QB_OP_GEMV_LATENCY)
            k += (size_t)snprintf(note + k, sizeof note - k, "p50 %s p90 %s p99 %s; ", fmt_ns(w->p50_ns), fmt_ns(w->p90_ns), fmt_ns(w->p99_ns));
        if (w->st.unstable) k += (size_t)snprintf(note + k, sizeof note - k, "UNSTABLE; ");
        if (w->st.noutliers) k += (size_t)snprintf(note + k, sizeof note - k, "%d outliers; ", w->st.noutliers);
        if (r->fallback) k += (size_t)snprintf(note + k, sizeof note - k, "REFERENCE fallback; ");
        if (w->pair_slow) /* sweep.h: judged by its fraction of the run's limit instead */
            k += (size_t)snprintf(note + k, sizeof note - k, "PAIR SLOW (%.2f of %s), not judged by it; ", w->pair_gflops / w->limit_value, w->limit_kind);
        if (k >= 2 && k < sizeof note) note[k - 2] = '\0';
    }
    if (p->json) {
        qb_json_obj(&p->j);
        qb_json_kstr(&p->j, "case_id", w->case_id);
        qb_json_kstr(&p->j, "op", qb_op_names[c->op]);
        qb_json_kstr(&p->j, "format", c->fmt ? c->fmt->name : NULL);
        qb_json_kstr(&p->j, "backend", c->backend);
        qb_json_kstr(&p->j, "device", "cpu");
        qb_json_kstr(&p->j, "shape", shape);
        qb_json_kint(&p->j, "threads", c->threads);
        qb_json_kstr(&p->j, "level", r->level);
        qb_json_kstr(&p->j, "impl", r->impl);
        qb_json_kint(&p->j, "fallback", r->fallback);
        qb_json_kstr(&p->j, "skipped", r->skipped ? r->msg : NULL);
        qb_json_kstr(&p->j, "error", r->st && !r->skipped ? r->msg : NULL);
        qb_json_kint(&p->j, "samples", r->st ? 0 : w->st.n);
        qb_json_knum(&p->j, "median_ns", r->st ? NAN : w->st.median);
        qb_json_knum(&p->j, "mad_ns", r->st ? NAN : w->st.mad);
        qb_json_knum(&p->j, "min_ns", r->st ? NAN : w->st.min);
        qb_json_knum(&p->j, "max_ns", r->st ? NAN : w->st.max);
        qb_json_knum(&p->j, "cv", r->st ? NAN : w->st.cv);
        qb_json_kint(&p->j, "unstable", r->st ? 0 : w->st.unstable);
        qb_json_kint(&p->j, "outliers", r->st ? 0 : w->st.noutliers);
        if (c->op == QB_OP_GEMV_LATENCY) {
            qb_json_knum(&p->j, "p50_ns", w->p50_ns);
            qb_json_knum(&p->j, "p90_ns", w->p90_ns);
            qb_json_knum(&p->j, "p99_ns", w->p99_ns);
        }
        qb_json_knum(&p->j, "gbps", w->gbps);
        qb_json_knum(&p->j, "f32_gbps", w->f32_gbps);
        qb_json_knum(&p->j, "fmt_gbps", w->fmt_gbps);
        qb_json_knum(&p->j, "gflops", w->gflops);
        qb_json_knum(&p->j, "fraction_of_limit", w->fraction);
        qb_json_kstr(&p->j, "limit_kind", w->limit_kind[0] ? w->limit_kind : NULL);
        qb_json_knum(&p->j, "paired_fraction", w->paired_fraction);
        qb_json_kint(&p->j, "pair_slow", w->pair_slow);
        qb_json_knum(&p->j, "pair_gbps", w->pair_gbps);
        qb_json_knum(&p->j, "pair_gflops", w->pair_gflops);
        qb_json_kint(&p->j, "peak_rss_bytes", r->peak_rss_bytes);
        qb_json_obj_end(&p->j);
        return;
    }
    char thr[16];
    snprintf(thr, sizeof thr, "%d", c->threads);
    const char *cells[] = {qb_op_names[c->op], c->fmt ? c->fmt->name : "-", c->backend, shape, thr, r->level,
                           r->st ? "-" : fmt_ns(w->st.median), r->st ? "-" : fmt_ns(w->st.mad),
                           r->st ? "-" : qb_fmt_f(100 * w->st.cv, 1), fmt_or_dash(w->gbps, 4), fmt_or_dash(w->gflops, 4),
                           fmt_or_dash(w->fraction, 3), fmt_or_dash(w->paired_fraction, 3), w->limit_kind[0] ? w->limit_kind : "-", note};
    qb_table_row(&p->t, cells);
}

/* The targets, from the rows of this run: a fraction of a limit to reach, a speedup
 * over the reference path, or neither (a figure shown beside the others). A case with a
 * paired limit (bench.h, step 4) is judged by its paired fraction, the one taken at the same
 * moments, unless its pair ran slow (sweep.h: qb_bench_pair_slow); its fraction of the run's
 * limit is shown beside it. */
typedef struct target {
    const char *what;
    qb_op op;
    const char *formats; /* ",a,b,": these formats; NULL: a limit case (no format) */
    const char *level;   /* NULL: any */
    const char *backend; /* NULL: any */
    int max_threads_only;
    double min_fraction; /* > 0: the fraction of the row's limit to reach */
    double min_speedup;  /* > 0: the fast path's speed over this backend's, from the case's
                            paired samples of the fast path (bench.h, step 4) */
} target;

static const target targets[] = {
    {"dequantize beyond LLC >= 80% of copy bandwidth", QB_OP_DEQUANTIZE, ",q4_0,q8_0,q4_K,q6_K,bf16,fp8_e4m3,", "DRAM", NULL, 0, 0.8, 0},
    {"gemv decode shapes >= 80% of read bandwidth", QB_OP_GEMV, ",q4_0,q8_0,q4_K,q5_K,q6_K,iq4_nl,f16,bf16,", NULL, NULL, 1, 0.8, 0},
    {"f32 gemm (OpenBLAS) >= 80% of fp32 peak", QB_OP_GEMM, ",f32,", NULL, "openblas", 0, 0.8, 0},
    {"f32 gemm (oneDNN, beside)", QB_OP_GEMM, ",f32,", NULL, "onednn", 0, 0, 0},
    {"OpenBLAS sgemm, square limit case, >= 80% of fp32 peak", QB_OP_SGEMM_PEAK, NULL, NULL, NULL, 0, 0.8, 0},
    {"quantize >= 10x the scalar reference, 1 thread", QB_OP_QUANTIZE, ",q2_K,q3_K,q4_K,q5_K,q6_K,iq4_nl,iq4_xs,", NULL, "reference", 0, 0, 10},
};

static void print_targets(printer *p, int max_threads) {
    qb_table t;
    static const char *const cols[] = {"target", "format", "backend", "shape", ">threads", ">fraction", ">paired", ">speedup", "verdict", NULL};
    qb_table_init(&t, cols);
    if (p->json) {
        qb_json_key(&p->j, "targets");
        qb_json_arr(&p->j);
    }
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        const target *tg = &targets[i];
        for (int k = 0; k < p->nk; k++) {
            const kept *x = &p->k[k];
            char key[40];
            if (x->op != tg->op || !x->ok) continue;
            snprintf(key, sizeof key, ",%s,", x->f ? x->f->name : "");
            if (tg->formats && !strstr(tg->formats, key)) continue;
            if (tg->level && strcmp(x->level, tg->level) != 0) continue;
            if (tg->backend && strcmp(x->backend, tg->backend) != 0) continue;
            if (tg->max_threads_only && x->threads != max_threads) continue;
            const double fraction = tg->min_speedup > 0 ? NAN : x->fraction, paired = tg->min_speedup > 0 ? NAN : x->paired;
            const double judged = isfinite(paired) ? paired : fraction;
            const double speedup = tg->min_speedup > 0 ? 1.0 / x->paired : NAN;
            const char *verdict = "-";
            if (tg->min_fraction > 0) verdict = !isfinite(judged) ? "no limit" : judged >= tg->min_fraction ? "met" : "MISSED";
            if (tg->min_speedup > 0) verdict = !isfinite(speedup) ? "no fast case" : speedup >= tg->min_speedup ? "met" : "MISSED";
            char thr[16], shape[32];
            snprintf(thr, sizeof thr, "%d", x->threads);
            snprintf(shape, sizeof shape, "%lld rows", (long long)x->n);
            if (p->json) {
                qb_json_obj(&p->j);
                qb_json_kstr(&p->j, "target", tg->what);
                qb_json_kstr(&p->j, "format", x->f ? x->f->name : NULL);
                qb_json_kstr(&p->j, "backend", x->backend);
                qb_json_kint(&p->j, "rows", x->n);
                qb_json_kint(&p->j, "threads", x->threads);
                qb_json_knum(&p->j, "fraction_of_limit", fraction);
                qb_json_knum(&p->j, "paired_fraction", paired);
                qb_json_knum(&p->j, "speedup", speedup);
                qb_json_kstr(&p->j, "verdict", verdict);
                qb_json_obj_end(&p->j);
            } else {
                char sp[32] = "-";
                if (isfinite(speedup)) snprintf(sp, sizeof sp, "%.1fx", speedup);
                qb_table_row(&t, (const char *const[]){tg->what, x->f ? x->f->name : "-", x->backend, shape, thr,
                                                        fmt_or_dash(fraction, 3), fmt_or_dash(paired, 3), sp, verdict});
            }
        }
    }
    if (p->json) qb_json_arr_end(&p->j);
    else if (t.nrows) {
        printf("\nTargets (issue 7):\n");
        qb_table_print(&t, stdout, QB_TABLE_TEXT);
    }
    qb_table_free(&t);
}

static void print_limits_memory(printer *p, qb_db *db, const char *run_id, const qb_bench_memory *mem, int nmem) {
    sqlite3_stmt *s;
    qb_table t;
    static const char *const lcols[] = {"limit", ">threads", ">value", "unit", NULL};
    qb_table_init(&t, lcols);
    if (p->json) {
        qb_json_key(&p->j, "limits");
        qb_json_arr(&p->j);
    }
    if (sqlite3_prepare_v2(db->h, "SELECT kind, threads, value, unit FROM limits WHERE run_id=? ORDER BY kind, threads", -1, &s, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(s, 1, run_id, -1, SQLITE_STATIC);
        while (sqlite3_step(s) == SQLITE_ROW) {
            const char *kind = (const char *)sqlite3_column_text(s, 0), *unit = (const char *)sqlite3_column_text(s, 3);
            int thr = sqlite3_column_int(s, 1);
            double v = sqlite3_column_double(s, 2);
            if (p->json) {
                qb_json_obj(&p->j);
                qb_json_kstr(&p->j, "kind", kind);
                qb_json_kint(&p->j, "threads", thr);
                qb_json_knum(&p->j, "value", v);
                qb_json_kstr(&p->j, "unit", unit);
                qb_json_obj_end(&p->j);
            } else {
                char th[16], val[32];
                snprintf(th, sizeof th, "%d", thr);
                int g = strcmp(unit, "B/s") == 0 || strcmp(unit, "FLOP/s") == 0;
                snprintf(val, sizeof val, "%s", qb_fmt_g(g ? v * 1e-9 : v, 4));
                char u[16];
                snprintf(u, sizeof u, "%s%s", g ? "G" : "", unit);
                qb_table_row(&t, (const char *const[]){kind, th, val, u});
            }
        }
        sqlite3_finalize(s);
    }
    if (p->json) qb_json_arr_end(&p->j);
    else {
        printf("\nLimits measured in this run:\n");
        qb_table_print(&t, stdout, QB_TABLE_TEXT);
    }
    qb_table_free(&t);

    static const char *const mcols[] = {"format", ">bytes/weight", ">1B GB", ">7B GB", ">13B GB", ">70B GB", ">peak RSS MB", NULL};
    static const double params[4] = {1e9, 7e9, 13e9, 70e9};
    qb_table_init(&t, mcols);
    if (p->json) {
        qb_json_key(&p->j, "memory");
        qb_json_arr(&p->j);
    }
    for (int i = 0; i < nmem; i++) {
        const qb_bench_memory *m = &mem[i];
        if (p->json) {
            qb_json_obj(&p->j);
            qb_json_kstr(&p->j, "format", m->f->name);
            qb_json_knum(&p->j, "bytes_per_weight", m->bytes_per_weight);
            for (int k = 0; k < 4; k++) {
                char key[32];
                snprintf(key, sizeof key, "model_bytes_%gB", params[k] * 1e-9);
                qb_json_knum(&p->j, key, m->bytes_per_weight * params[k]);
            }
            qb_json_kint(&p->j, "peak_rss_bytes", m->peak_rss_bytes);
            qb_json_obj_end(&p->j);
        } else {
            char c[5][32];
            for (int k = 0; k < 4; k++) snprintf(c[k], 32, "%.2f", m->bytes_per_weight * params[k] * 1e-9);
            snprintf(c[4], 32, "%.1f", (double)m->peak_rss_bytes / 1048576.0);
            qb_table_row(&t, (const char *const[]){m->f->name, qb_fmt_g(m->bytes_per_weight, 6), c[0], c[1], c[2], c[3], c[4]});
        }
    }
    if (p->json) qb_json_arr_end(&p->j);
    else if (nmem) {
        printf("\nMemory (bytes per weight of a 4096x4096 tensor, scales included; model weights only):\n");
        qb_table_print(&t, stdout, QB_TABLE_TEXT);
    }
    qb_table_free(&t);
}

/* A note on stderr for each bandwidth limit that moved by more than 15 % between the start of
 * the run and its end (end_<kind>, measured after every operation): the fractions against it
 * are then uncertain by as much. */
static void note_limit_drift(qb_db *db, const char *run_id) {
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db->h,
                           "SELECT a.kind, a.threads, a.value, b.value FROM limits a JOIN limits b ON b.run_id = a.run_id AND "
                           "b.threads = a.threads AND b.kind = 'end_' || a.kind WHERE a.run_id = ? ORDER BY a.kind, a.threads",
                           -1, &s, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_text(s, 1, run_id, -1, SQLITE_STATIC);
    while (sqlite3_step(s) == SQLITE_ROW) {
        const double start = sqlite3_column_double(s, 2), end = sqlite3_column_double(s, 3);
        if (!(start > 0) || (end / start <= 1.15 && start / end <= 1.15)) continue;
        fprintf(stderr,
                "quantbench bench: note: %s at %d thread(s) was %.1f GB/s at the start of the run and %.1f GB/s at its end "
                "(%+.0f %%): the fractions against it moved with the machine; --rounds R spreads every case over R rounds\n",
                (const char *)sqlite3_column_text(s, 0), sqlite3_column_int(s, 1), start * 1e-9, end * 1e-9, 100 * (end / start - 1));
    }
    sqlite3_finalize(s);
}

static qb_status parse_ops(const char *list, unsigned *ops) {
    *ops = 0;
    char *copy = qb_strdup(list), *save = NULL;
    qb_status st = QB_OK;
    for (char *tok = strtok_r(copy, ",", &save); tok && !st; tok = strtok_r(NULL, ",", &save)) {
        int found = 0;
        for (size_t i = 0; i < sizeof op_list / sizeof op_list[0]; i++)
            if (strcmp(tok, op_list[i].name) == 0) found = 1, *ops |= 1u << op_list[i].op;
        if (!found) st = qb_fail(QB_EUSAGE, "unknown op '%s' in --ops (valid: quantize,dequantize,gemv,gemm)", tok);
    }
    free(copy);
    if (!st && !*ops) st = qb_fail(QB_EUSAGE, "--ops is empty; give quantize,dequantize,gemv,gemm or a part of them");
    return st;
}

static qb_status parse_threads(const char *list, int **out, int *n) {
    char *copy = qb_strdup(list), *save = NULL;
    qb_status st = QB_OK;
    for (char *tok = strtok_r(copy, ",", &save); tok && !st; tok = strtok_r(NULL, ",", &save)) {
        int64_t v;
        if ((st = qb_cli_int("threads", tok, 1, QB_BENCH_MAX_THREADS, &v))) break;
        *out = qb_realloc(*out, sizeof **out * (size_t)(*n + 1));
        (*out)[(*n)++] = (int)v;
    }
    free(copy);
    if (!st && *n == 0) st = qb_fail(QB_EUSAGE, "--threads is empty; give counts such as 1,2");
    return st;
}

qb_status qb_cli_bench_step(qb_cli *cli, qb_db *db, const char *run_id, const qb_bench_opts *o, const qb_bench_env *env, int *ncases,
                            double *secs) {
    printer p = {.json = cli->json};
    int max_threads = 0;
    for (int i = 0; i < o->nthreads; i++) max_threads = o->threads[i] > max_threads ? o->threads[i] : max_threads;
    static const char *const cols[] = {"op", "format", "backend", "shape", ">thr", "level", ">median", ">MAD", ">CV %",
                                       ">GB/s", ">GFLOP/s", ">fraction of limit", ">paired", "limit", "note", NULL};
    qb_cli_rows_begin(p.json, &p.j, &p.t, run_id, cols);
    qb_bench_memory *mem = qb_calloc((size_t)o->nformats + 1, sizeof *mem);
    int64_t t0 = qb_now_ns();
    qb_status st = qb_bench_sweep(db, run_id, o, env, on_row, &p, mem);
    *secs = (double)(qb_now_ns() - t0) * 1e-9;
    qb_cli_rows_end(p.json, &p.j, &p.t);
    print_limits_memory(&p, db, run_id, mem, o->nformats);
    note_limit_drift(db, run_id);
    print_targets(&p, max_threads);
    if (p.json) qb_json_end(&p.j);
    *ncases = p.nk;
    free(p.k);
    free(mem);
    return st;
}

typedef struct bench_ctx {
    qb_cli *cli;
    const qb_bench_opts *o;
    const qb_bench_env *env;
    int ncases;
    double secs;
} bench_ctx;

static qb_status bench_job(qb_db *db, const char *run_id, void *ctx) {
    bench_ctx *x = ctx;
    return qb_cli_bench_step(x->cli, db, run_id, x->o, x->env, &x->ncases, &x->secs);
}

qb_status cmd_bench(qb_cli *cli, int argc, char **argv) {
    static const struct option opts[] = {QB_COMMON_OPTIONS,
                                         {"ops", required_argument, NULL, 'o'},
                                         {"formats", required_argument, NULL, 'f'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"quick", no_argument, NULL, 'q'},
                                         {"samples", required_argument, NULL, 'n'},
                                         {"rounds", required_argument, NULL, 'r'},
                                         {"min-time", required_argument, NULL, 'm'},
                                         {"flush-cache", no_argument, NULL, 'F'},
                                         {"no-pin", no_argument, NULL, 'P'},
                                         {"max-case-time", required_argument, NULL, 'x'},
                                         {NULL, 0, NULL, 0}};
    const char *formats = "all", *ops_s = "quantize,dequantize,gemv,gemm", *threads_s = NULL;
    int quick = 0, flush = 0, pin = 1, c;
    int64_t samples = 10, rounds = 1, min_ms = -1, max_case = 3;
    qb_status st = QB_OK;
    while (!st && (c = qb_cli_next(cli, argc, argv, opts, usage)) != QB_CLI_DONE) {
        switch (c) {
        case QB_CLI_HELP: return QB_OK;
        case QB_CLI_ERROR: return QB_EUSAGE;
        case 'o': ops_s = optarg; break;
        case 'f': formats = optarg; break;
        case 't': threads_s = optarg; break;
        case 'q': quick = 1; break;
        case 'n': st = qb_cli_int("samples", optarg, 10, QB_BENCH_MAX_SAMPLES, &samples); break;
        case 'r': st = qb_cli_int("rounds", optarg, 1, 16, &rounds); break;
        case 'm': st = qb_cli_int("min-time", optarg, 0, 10000, &min_ms); break;
        case 'F': flush = 1; break;
        case 'P': pin = 0; break;
        case 'x': st = qb_cli_int("max-case-time", optarg, 1, 3600, &max_case); break;
        default: st = qb_fail(QB_EUSAGE, "unexpected option");
        }
    }
    if (!st && optind < argc) st = qb_fail(QB_EUSAGE, "unexpected argument '%s'", argv[optind]);
    qb_bench_opts o = {0};
    const qb_format **fmts = NULL;
    int *threads = NULL, nthreads = 0, nfmts = 0;
    if (!st) st = parse_ops(ops_s, &o.ops);
    if (!st) st = qb_cli_formats(formats, &fmts, &nfmts);
    qb_bench_env env;
    qb_bench_env_collect(&env);
    if (!st && threads_s) st = parse_threads(threads_s, &threads, &nthreads);
    if (!st && !threads_s)
        for (int t = 1; t <= env.cpus; t++) {
            threads = qb_realloc(threads, sizeof *threads * (size_t)(nthreads + 1));
            threads[nthreads++] = t;
        }
    if (st) {
        free(fmts);
        free(threads);
        return st;
    }
    o.formats = fmts, o.nformats = nfmts, o.threads = threads, o.nthreads = nthreads, o.quick = quick;
    o.cfg = (qb_bench_cfg){.samples = (int)samples, .rounds = (int)rounds, .min_sample_ns = min_ms >= 0 ? min_ms * 1000000 : quick ? 200000 : 5000000,
                           .warmup_ns = quick ? 100000 : 10000000, .flush = flush, .max_case_s = (double)max_case, .pin = pin};
    char *config = qb_bench_env_json(&env, &o), run_id[37];
    qb_run_info ri = {.command = "bench", .config = config};
    bench_ctx x = {.cli = cli, .o = &o, .env = &env};
    st = qb_cli_run_job(cli, ri, 0, NULL, argc - 1, argv + 1, bench_job, &x, run_id);
    if (st == QB_OK) fprintf(stderr, "bench run %s: %d cases in %.0f s, stored in %s\n", run_id, x.ncases, x.secs, cli->db_path);
    free(config);
    free(fmts);
    free(threads);
    return st;
}
