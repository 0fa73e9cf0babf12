/* sweep.c — see sweep.h. */
#define _GNU_SOURCE
#include "sweep.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/json.h"

static const char *const levels[] = {"L1", "L2", "L3", "DRAM"};

/* ---- planning ----------------------------------------------------------------------------- */

typedef struct plan {
    qb_case *c;
    int n, cap;
} plan;

static void add(plan *p, qb_case c) {
    if (p->n == p->cap) p->c = qb_realloc(p->c, sizeof *p->c * (size_t)(p->cap = p->cap ? 2 * p->cap : 64));
    p->c[p->n++] = c;
}

/* Elements per array of a stream kernel so its arrays fill about half of a level (per
 * thread for L1/L2), or each is 4× the LLC for DRAM (STREAM's rule). */
static int64_t stream_elems(const qb_bench_env *e, int narrays, const char *level, int t) {
    int64_t per = 4 * narrays, n;
    if (strcmp(level, "L1") == 0) n = t * (e->l1d_bytes / 2) / per;
    else if (strcmp(level, "L2") == 0) n = t * (e->l2_bytes / 2) / per;
    else if (strcmp(level, "L3") == 0) n = (e->l3_bytes / 2) / per;
    else n = e->l3_bytes; /* 4 × LLC bytes of floats per array */
    return n < 64 * t ? 64 * t : n / 64 * 64;
}

/* Rows of `cols` f32 values whose f32 side is about a quarter of a level (per thread for
 * L1/L2), with the format's bytes beside it. DRAM: dequantize writes 4× the LLC of f32, the
 * size of one STREAM array, so that it meets the copy limit on equal terms (at 2× the LLC
 * a part of the output still hits a victim L3 and fractions exceed 1); quantize, which is
 * compute-bound (far below copy bandwidth for every format), reads 2× the LLC, which
 * halves the longest part of the sweep. */
static int64_t op_rows(const qb_bench_env *e, qb_op op, const char *level, int64_t cols, int t) {
    int64_t elems;
    if (strcmp(level, "L1") == 0) elems = t * e->l1d_bytes / 16;
    else if (strcmp(level, "L2") == 0) elems = t * e->l2_bytes / 8;
    else if (strcmp(level, "L3") == 0) elems = e->l3_bytes / 32;
    else elems = op == QB_OP_DEQUANTIZE ? e->l3_bytes : e->l3_bytes / 2;
    int64_t rows = elems / cols;
    return rows < t ? t : rows;
}

/* Backend of the bandwidth cases measured again after every operation (one round only): their
 * limits are stored as end_<kind>, so a run shows whether the machine moved under it. */
static const char end_backend[] = "stream_end";

static int is_end_case(const qb_case *c) { return !c->fmt && strcmp(c->backend, end_backend) == 0; }

static void plan_cases(plan *p, const qb_bench_opts *o, const qb_bench_env *env) {
    int nlev = o->quick ? 2 : 4, best = qb_kern_best_isa();
    for (int ti = 0; ti < o->nthreads; ti++) {
        int t = o->threads[ti];
        for (int l = 0; l < nlev; l++)
            for (int op = QB_OP_READ; op <= QB_OP_TRIAD; op++)
                add(p, (qb_case){.op = op, .backend = "stream", .level = levels[l],
                                 .n = stream_elems(env, op - QB_OP_READ + 1, levels[l], t), .k = 1, .threads = t});
        for (int isa = best; isa >= (best > 1 ? 1 : best); isa--) /* the widest ISA, and AVX2 beside AVX-512 */
            add(p, (qb_case){.op = QB_OP_FMA, .backend = qb_isa_names[isa], .m = o->quick ? 20000 : 400000, .threads = t});
        int64_t sn = o->quick ? 128 : 1536;
        add(p, (qb_case){.op = QB_OP_SGEMM_PEAK, .backend = "openblas", .m = sn, .n = sn, .k = sn, .threads = t});
    }
    int64_t qcols = o->quick ? 256 : 2048, gk = o->quick ? 256 : 4096;
    int64_t gemv_n[2] = {o->quick ? 64 : 4096, o->quick ? 96 : 11008};
    double span = o->quick ? 0 : 4.0 * (double)env->l3_bytes; /* as a STREAM array: 4× the LLC */
    for (int fi = 0; fi < o->nformats; fi++) {
        const qb_format *f = o->formats[fi];
        for (int op = QB_OP_QUANTIZE; op <= QB_OP_DEQUANTIZE; op++) {
            if (!(o->ops & (1u << op))) continue;
            for (int l = 0; l < (o->quick ? 1 : 4); l++)
                for (int ti = 0; ti < o->nthreads; ti++) {
                    qb_case c = {.op = op, .fmt = f, .backend = "registry", .level = levels[l],
                                 .n = op_rows(env, op, levels[l], qcols, o->threads[ti]), .k = qcols, .threads = o->threads[ti]};
                    add(p, c);
                    /* a fast quantizer beside the scalar reference it must match byte for byte:
                     * one thread, the L2 shape (L1 under --quick); the reference case's samples
                     * alternate with the fast path's (ops.c), whose speedup is their ratio */
                    if (op == QB_OP_QUANTIZE && f->quantize != f->quantize_ref && c.threads == 1 && l == (o->quick ? 0 : 1)) {
                        c.backend = "reference";
                        add(p, c);
                    }
                }
        }
        const char *dot = f->vec_dot_type && !f->tensor_extra_bytes ? "vec_dot" : "dequant_dot";
        if (o->ops & (1u << QB_OP_GEMV)) {
            int blas = strcmp(f->name, "f32") == 0; /* f32 also through OpenBLAS sgemv, the baseline */
            for (int s = 0; s < 2; s++)
                for (int b = 0; b <= blas; b++)
                    for (int ti = 0; ti < o->nthreads; ti++)
                        add(p, (qb_case){.op = QB_OP_GEMV, .fmt = f, .backend = b ? "openblas" : dot, .n = gemv_n[s], .k = gk,
                                         .threads = o->threads[ti], .span = span});
            for (int ti = 0; ti < o->nthreads; ti++)
                add(p, (qb_case){.op = QB_OP_GEMV_LATENCY, .fmt = f, .backend = dot, .n = gemv_n[0], .k = gk, .threads = o->threads[ti],
                                 .span = span});
        }
        if (o->ops & (1u << QB_OP_GEMM)) {
            const char *backends[3];
            int nb = 0;
            if (strcmp(f->name, "f32") == 0) backends[nb++] = "openblas";
            else backends[nb++] = "tile_sgemm";
            if (qb_onednn_format(f)) backends[nb++] = "onednn";
            for (int b = 0; b < nb; b++)
                for (int ti = 0; ti < o->nthreads; ti++)
                    add(p, (qb_case){.op = QB_OP_GEMM, .fmt = f, .backend = backends[b], .m = o->quick ? 16 : 512,
                                     .n = o->quick ? 64 : 512, .k = gk, .threads = o->threads[ti]});
        }
    }
    /* the largest level's read and copy bandwidth once more, after everything (with rounds,
     * every round measures the limits anyway) */
    if (o->cfg.rounds <= 1)
        for (int ti = 0; ti < o->nthreads; ti++)
            for (int op = QB_OP_READ; op <= QB_OP_COPY; op++)
                add(p, (qb_case){.op = op, .backend = end_backend, .level = levels[nlev - 1],
                                 .n = stream_elems(env, op - QB_OP_READ + 1, levels[nlev - 1], o->threads[ti]), .k = 1,
                                 .threads = o->threads[ti]});
}

/* ---- limits --------------------------------------------------------------------------------- */

typedef struct limit {
    char kind[32];
    int threads;
    double value;
} limit;

typedef struct limits {
    limit *l;
    int n, cap;
} limits;

static double find_limit(const limits *L, const char *kind, int threads) {
    for (int i = L->n - 1; i >= 0; i--) /* the newest entry: fma_peak is replaced by a better ISA's */
        if (L->l[i].threads == threads && strcmp(L->l[i].kind, kind) == 0) return L->l[i].value;
    return NAN;
}

static qb_status put_limit(qb_db *db, const char *run_id, limits *L, const char *kind, int threads, double v, const char *unit) {
    if (L) {
        if (L->n == L->cap) L->l = qb_realloc(L->l, sizeof *L->l * (size_t)(L->cap = L->cap ? 2 * L->cap : 32));
        limit *x = &L->l[L->n++];
        snprintf(x->kind, sizeof x->kind, "%s", kind);
        x->threads = threads;
        x->value = v;
    }
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db->h, "INSERT OR REPLACE INTO limits(run_id, kind, threads, value, unit) VALUES (?,?,?,?,?)", -1, &s,
                           NULL) != SQLITE_OK)
        return qb_fail(QB_EDB, "database %s: storing limit %s: %s", db->path, kind, sqlite3_errmsg(db->h));
    sqlite3_bind_text(s, 1, run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, threads);
    sqlite3_bind_double(s, 4, v);
    sqlite3_bind_text(s, 5, unit, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? QB_OK : qb_fail(QB_EDB, "database %s: storing limit %s: %s", db->path, kind, sqlite3_errmsg(db->h));
}

/* ---- storing a case ------------------------------------------------------------------------ */

static char *case_config(const qb_bench_row *w, const qb_bench_env *env) {
    const qb_case *c = w->c;
    const qb_case_result *r = w->r;
    qb_json_doc d;
    qb_json *j = qb_json_doc_begin(&d);
    if (c->level) qb_json_kstr(j, "requested_level", c->level);
    qb_json_kstr(j, "level", r->level);
    qb_json_knum(j, "working_set_bytes", r->working_set);
    qb_json_knum(j, "bytes_per_iter", r->bytes);
    qb_json_knum(j, "flops_per_iter", r->flops);
    qb_json_kstr(j, "impl", r->impl);
    qb_json_kint(j, "fallback", r->fallback);
    if (r->copies) qb_json_kint(j, "copies", r->copies);
    if (r->probe_bytes > 0) qb_json_knum(j, "probe_bytes", r->probe_bytes);
    if (r->pair_kind[0]) {
        qb_json_kstr(j, "pair_kind", r->pair_kind);
        qb_json_knum(j, r->pair_flops > 0 ? "pair_flops_per_iter" : "pair_bytes_per_iter", r->pair_flops > 0 ? r->pair_flops : r->pair_bytes);
    }
    qb_json_kint(j, "peak_rss_bytes", r->peak_rss_bytes);
    qb_json_knum(j, "wall_s", w->wall_s);
    if (c->fmt) {
        size_t b = 0;
        qb_format_bytes(c->fmt, c->n, c->k, &b);
        qb_json_knum(j, "bytes_per_weight", (double)b / ((double)c->n * (double)c->k));
    }
    if (r->st) {
        qb_json_kstr(j, r->skipped ? "skipped" : "error", r->msg);
    } else {
        qb_json_kint(j, "samples", w->st.n);
        qb_json_kint(j, "rounds", w->rounds);
        qb_json_knum(j, "median_ns", w->st.median);
        qb_json_knum(j, "mad_ns", w->st.mad);
        qb_json_knum(j, "min_ns", w->st.min);
        qb_json_knum(j, "max_ns", w->st.max);
        qb_json_knum(j, "mean_ns", w->st.mean);
        qb_json_knum(j, "cv", w->st.cv);
        qb_json_knum(j, "cv_inliers", w->st.cv_inliers);
        qb_json_kint(j, "unstable", w->st.unstable);
        qb_json_kint(j, "outliers", w->st.noutliers);
        qb_json_knum(j, "p50_ns", w->p50_ns);
        qb_json_knum(j, "p90_ns", w->p90_ns);
        qb_json_knum(j, "p99_ns", w->p99_ns);
        qb_json_knum(j, "gbps", w->gbps);
        qb_json_knum(j, "f32_gbps", w->f32_gbps);
        qb_json_knum(j, "fmt_gbps", w->fmt_gbps);
        qb_json_knum(j, "gflops", w->gflops);
        qb_json_knum(j, "fraction_of_limit", w->fraction);
        if (r->probe_bytes > 0) qb_json_knum(j, "probe_gbps", w->probe_gbps);
        if (r->pair_kind[0]) {
            qb_json_knum(j, r->pair_flops > 0 ? "pair_gflops" : "pair_gbps", r->pair_flops > 0 ? w->pair_gflops : w->pair_gbps);
            qb_json_knum(j, "paired_fraction", w->paired_fraction);
            if (w->pair_slow) qb_json_kint(j, "pair_slow", 1);
        }
        qb_json_kstr(j, "limit_kind", w->limit_kind[0] ? w->limit_kind : NULL);
        qb_json_knum(j, "limit_value", w->limit_value);
    }
    qb_json_kstr(j, "governor", env->governor);
    qb_json_knum(j, "loadavg_1min", env->loadavg[0]);
    return qb_json_doc_end(&d);
}

/* Stores a case with all its samples so far in one transaction; a case already stored by an
 * earlier round (w->case_id set) is replaced, samples and statistics together. */
static qb_status store_case(qb_db *db, const char *run_id, qb_bench_row *w, const uint8_t *outlier, const qb_bench_env *env) {
    const qb_case *c = w->c;
    const qb_case_result *r = w->r;
    char shape[64], now[32];
    qb_case_shape(c, shape, sizeof shape);
    qb_utc_iso(now);
    int again = w->case_id[0] != '\0';
    if (!again) qb_uuid(w->case_id);
    char *config = case_config(w, env);
    qb_status st = QB_OK;
    sqlite3_stmt *s = NULL, *ss = NULL, *del = NULL;
    if (sqlite3_exec(db->h, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        free(config);
        return qb_fail(QB_EDB, "database %s: BEGIN: %s", db->path, sqlite3_errmsg(db->h));
    }
    if (again) {
        static const char *const sql[2] = {"DELETE FROM bench_samples WHERE case_id = ?", "DELETE FROM bench_cases WHERE id = ?"};
        for (int k = 0; k < 2 && !st; k++) {
            if (sqlite3_prepare_v2(db->h, sql[k], -1, &del, NULL) != SQLITE_OK) {
                st = qb_fail(QB_EDB, "database %s: replacing a bench case: %s", db->path, sqlite3_errmsg(db->h));
                break;
            }
            sqlite3_bind_text(del, 1, w->case_id, -1, SQLITE_STATIC);
            if (sqlite3_step(del) != SQLITE_DONE) st = qb_fail(QB_EDB, "database %s: replacing a bench case: %s", db->path, sqlite3_errmsg(db->h));
            sqlite3_finalize(del);
        }
    }
    if (!st && (sqlite3_prepare_v2(db->h, "INSERT INTO bench_cases(id, run_id, op, format, backend, device, shape, threads, config,"
                                          " created_at) VALUES (?,?,?,?,?,'cpu',?,?,?,?)", -1, &s, NULL) != SQLITE_OK ||
                sqlite3_prepare_v2(db->h, "INSERT INTO bench_samples(case_id, idx, ns, iters, bytes, flops, outlier, probe_ns,"
                                  " pair_ns, pair_iters) VALUES (?,?,?,?,?,?,?,?,?,?)",
                                   -1, &ss, NULL) != SQLITE_OK)) {
        st = qb_fail(QB_EDB, "database %s: storing a bench case: %s", db->path, sqlite3_errmsg(db->h));
    } else if (!st) {
        sqlite3_bind_text(s, 1, w->case_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, run_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, qb_op_names[c->op], -1, SQLITE_STATIC);
        if (c->fmt) sqlite3_bind_text(s, 4, c->fmt->name, -1, SQLITE_STATIC);
        else sqlite3_bind_null(s, 4);
        sqlite3_bind_text(s, 5, c->backend, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 6, shape, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 7, c->threads);
        sqlite3_bind_text(s, 8, config, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 9, now, -1, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE) st = qb_fail(QB_EDB, "database %s: storing a bench case: %s", db->path, sqlite3_errmsg(db->h));
        for (int i = 0; !st && !r->st && i < r->s.n; i++) {
            sqlite3_reset(ss);
            sqlite3_bind_text(ss, 1, w->case_id, -1, SQLITE_STATIC);
            sqlite3_bind_int(ss, 2, i);
            sqlite3_bind_int64(ss, 3, r->s.ns[i]);
            sqlite3_bind_int64(ss, 4, r->s.iters[i]);
            sqlite3_bind_int64(ss, 5, (sqlite3_int64)llround(r->bytes * (double)r->s.iters[i]));
            sqlite3_bind_int64(ss, 6, (sqlite3_int64)llround(r->flops * (double)r->s.iters[i]));
            sqlite3_bind_int(ss, 7, outlier[i]);
            if (r->s.probe_ns[i] > 0) sqlite3_bind_int64(ss, 8, r->s.probe_ns[i]);
            else sqlite3_bind_null(ss, 8);
            for (int k = 0; k < 2; k++) {
                const int64_t v = k ? r->s.pair_iters[i] : r->s.pair_ns[i];
                if (v > 0) sqlite3_bind_int64(ss, 9 + k, v);
                else sqlite3_bind_null(ss, 9 + k);
            }
            if (sqlite3_step(ss) != SQLITE_DONE)
                st = qb_fail(QB_EDB, "database %s: storing a bench sample: %s", db->path, sqlite3_errmsg(db->h));
        }
    }
    sqlite3_finalize(s);
    sqlite3_finalize(ss);
    if (sqlite3_exec(db->h, st ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL) != SQLITE_OK && !st)
        st = qb_fail(QB_EDB, "database %s: COMMIT: %s", db->path, sqlite3_errmsg(db->h));
    free(config);
    return st;
}

/* ---- the sweep -------------------------------------------------------------------------------- */

/* Statistics over ns per iteration, outlier flags and rates. */
static void derive(qb_bench_row *w, uint8_t *outlier) {
    const qb_case_result *r = w->r;
    double x[QB_BENCH_MAX_SAMPLES];
    for (int i = 0; i < r->s.n; i++) x[i] = (double)r->s.ns[i] / (double)r->s.iters[i];
    qb_stats_summarize(x, r->s.n, &w->st, outlier);
    w->p50_ns = qb_stats_percentile(x, r->s.n, 50);
    w->p90_ns = qb_stats_percentile(x, r->s.n, 90);
    w->p99_ns = qb_stats_percentile(x, r->s.n, 99);
    double med = w->st.median;
    w->gbps = r->bytes > 0 ? r->bytes / med : NAN;
    w->f32_gbps = r->f32_bytes > 0 ? r->f32_bytes / med : NAN;
    w->fmt_gbps = r->fmt_bytes > 0 ? r->fmt_bytes / med : NAN;
    w->gflops = r->flops > 0 ? r->flops / med : NAN;
    /* the bandwidth the probe saw: its median read rate over the samples */
    w->probe_gbps = NAN;
    if (r->probe_bytes > 0 && r->s.n > 0 && r->s.probe_ns[0] > 0) {
        for (int i = 0; i < r->s.n; i++) x[i] = r->probe_bytes / (double)r->s.probe_ns[i];
        w->probe_gbps = qb_stats_median(x, r->s.n);
    }
    /* the paired kernel's median rate, and the case's against it (bench.h, step 4) */
    w->pair_gbps = w->pair_gflops = w->paired_fraction = NAN;
    if (r->pair_kind[0] && r->s.n > 0 && r->s.pair_ns[0] > 0) {
        const int flops = r->pair_flops > 0; /* a compute limit: GFLOP/s against GFLOP/s */
        for (int i = 0; i < r->s.n; i++) x[i] = (flops ? r->pair_flops : r->pair_bytes) * (double)r->s.pair_iters[i] / (double)r->s.pair_ns[i];
        const double rate = qb_stats_median(x, r->s.n);
        if (flops) w->pair_gflops = rate;
        else w->pair_gbps = rate;
        w->paired_fraction = (flops ? w->gflops : w->gbps) / rate;
    }
}

int qb_bench_pair_slow(double pair_gflops, double limit_gflops) {
    return isfinite(pair_gflops) && isfinite(limit_gflops) && pair_gflops < QB_BENCH_PAIR_SLOW * limit_gflops;
}

/* The fraction of the limit the case is measured against, at its own thread count. */
static void set_fraction(qb_bench_row *w, const limits *L) {
    const qb_case *c = w->c;
    const qb_case_result *r = w->r;
    w->fraction = w->limit_value = NAN;
    w->limit_kind[0] = '\0';
    double value = NAN;
    switch (c->op) {
    case QB_OP_QUANTIZE:
    case QB_OP_DEQUANTIZE: snprintf(w->limit_kind, sizeof w->limit_kind, "copy_bw_%s", r->level), value = w->gbps; break;
    case QB_OP_GEMV:
    case QB_OP_GEMV_LATENCY: snprintf(w->limit_kind, sizeof w->limit_kind, "read_bw_%s", r->level), value = w->gbps; break;
    case QB_OP_GEMM:
    case QB_OP_SGEMM_PEAK:
    case QB_OP_FMA: /* against the best ISA's best sample so far at this thread count */
        snprintf(w->limit_kind, sizeof w->limit_kind, "fma_peak"), value = w->gflops;
        break;
    default: break;
    }
    if (w->limit_kind[0]) {
        /* limits are stored in B/s and FLOP/s; rows show GB/s and GFLOP/s (bytes or flops per ns) */
        w->limit_value = find_limit(L, w->limit_kind, c->threads) * 1e-9;
        w->fraction = value / w->limit_value;
    }
    w->pair_slow = qb_bench_pair_slow(w->pair_gflops, w->limit_value);
}

/* A limit is the best sample (STREAM's "best rate"): what the machine can do, where an
 * operation's figure is its median. On a shared machine the two differ most. */
static qb_status record_limit(qb_db *db, const char *run_id, limits *L, const qb_bench_row *w) {
    const qb_case *c = w->c;
    const qb_case_result *r = w->r;
    char kind[32];
    if (c->op <= QB_OP_TRIAD) {
        snprintf(kind, sizeof kind, "%s%s_bw_%s", is_end_case(c) ? "end_" : "", qb_op_names[c->op], c->level);
        return put_limit(db, run_id, L, kind, c->threads, r->bytes / w->st.min * 1e9, "B/s");
    }
    double flops = r->flops / w->st.min * 1e9;
    if (c->op == QB_OP_FMA) {
        snprintf(kind, sizeof kind, "fma_peak_%s", c->backend);
        qb_status st = put_limit(db, run_id, L, kind, c->threads, flops, "FLOP/s");
        /* the peak is the best of the ISAs (AVX-512 is no faster than AVX2 on a core that
         * splits 512-bit FMAs in two, and a shared machine can slow either run) */
        double prev = find_limit(L, "fma_peak", c->threads);
        if (!st && !(prev >= flops)) st = put_limit(db, run_id, L, "fma_peak", c->threads, flops, "FLOP/s");
        return st;
    }
    if (c->op == QB_OP_SGEMM_PEAK) return put_limit(db, run_id, L, "sgemm_peak", c->threads, flops, "FLOP/s");
    return QB_OK;
}

/* A case across its rounds: every sample so far (the other fields from its first round). */
typedef struct slot {
    qb_case_result r;
    char case_id[37];
    double wall_s;
    int rounds; /* rounds that gave samples */
    int done;   /* no more rounds: skipped, broken, or every round run */
} slot;

/* Adds round `round`'s result to the case's slot. A later round that fails keeps the
 * samples of the earlier ones (its message is warned about by the caller). */
static void gather(slot *sl, const qb_case_result *r, int round, int rounds, double wall_s) {
    sl->wall_s += wall_s;
    if (round == 0 || sl->r.st) {
        sl->r = *r;
        sl->rounds = !r->st;
    } else if (!r->st) {
        sl->rounds++;
        for (int k = 0; k < r->s.n && sl->r.s.n < QB_BENCH_MAX_SAMPLES; k++, sl->r.s.n++) {
            qb_samples *s = &sl->r.s;
            s->ns[s->n] = r->s.ns[k], s->iters[s->n] = r->s.iters[k], s->probe_ns[s->n] = r->s.probe_ns[k];
            s->pair_ns[s->n] = r->s.pair_ns[k], s->pair_iters[s->n] = r->s.pair_iters[k];
        }
        if (r->peak_rss_bytes > sl->r.peak_rss_bytes) sl->r.peak_rss_bytes = r->peak_rss_bytes;
    }
    sl->done = sl->r.st || round == rounds - 1;
}

/* The order of round `round`: the limits in plan order, so that every operation is measured
 * against limits of the same round, then the operations, shuffled (Fisher–Yates on a
 * splitmix64 stream seeded by the round, the same every run) when there are several rounds. */
static void round_order(const plan *p, int round, int rounds, int *order) {
    int n = 0, first_op;
    for (int i = 0; i < p->n; i++)
        if (!p->c[i].fmt && !is_end_case(&p->c[i])) order[n++] = i;
    first_op = n;
    for (int i = 0; i < p->n; i++)
        if (p->c[i].fmt) order[n++] = i;
    for (int i = 0; i < p->n; i++) /* planned only for one round */
        if (is_end_case(&p->c[i])) order[n++] = i;
    if (rounds < 2) return;
    uint64_t x = 0x9E3779B97F4A7C15u * (uint64_t)(round + 1);
    for (int i = n - 1; i > first_op; i--) {
        uint64_t z = (x += 0x9E3779B97F4A7C15u);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
        z ^= z >> 31;
        int j = first_op + (int)(z % (uint64_t)(i - first_op + 1)), t = order[i];
        order[i] = order[j], order[j] = t;
    }
}

qb_status qb_bench_sweep(qb_db *db, const char *run_id, const qb_bench_opts *o, const qb_bench_env *env, qb_bench_row_fn fn,
                         void *ctx, qb_bench_memory *mem) {
    plan p = {0};
    limits L = {0};
    plan_cases(&p, o, env);
    qb_status st = QB_OK;
    int64_t l[3] = {env->l1d_bytes, env->l2_bytes, env->l3_bytes};
    const char *ln[3] = {"l1d_bytes", "l2_bytes", "l3_bytes"};
    for (int i = 0; i < 3 && !st; i++) st = put_limit(db, run_id, NULL, ln[i], 1, (double)l[i], "B");
    for (int fi = 0; fi < o->nformats; fi++) {
        mem[fi].f = o->formats[fi];
        size_t b = 0;
        qb_format_bytes(o->formats[fi], 4096, 4096, &b);
        mem[fi].bytes_per_weight = (double)b / (4096.0 * 4096.0);
        mem[fi].peak_rss_bytes = 0;
    }
    const int rounds = o->cfg.rounds > 1 ? o->cfg.rounds : 1;
    slot *slots = qb_calloc((size_t)p.n, sizeof *slots);
    int *order = qb_malloc(sizeof *order * (size_t)(p.n ? p.n : 1));
    qb_case_result *r = qb_malloc(sizeof *r);
    uint8_t outlier[QB_BENCH_MAX_SAMPLES];
    for (int round = 0, step = 0; round < rounds && !st; round++) {
        round_order(&p, round, rounds, order);
        for (int oi = 0; oi < p.n && !st; oi++, step++) {
            if (qb_interrupted) {
                st = qb_fail(QB_ERUNTIME, "interrupted in round %d of %d, after %d of %d cases; the cases' samples so far are stored",
                             round + 1, rounds, oi, p.n);
                break;
            }
            const int i = order[oi];
            const qb_case *c = &p.c[i];
            slot *sl = &slots[i];
            if (sl->done) continue;
            char label[96];
            snprintf(label, sizeof label, "%s %s %s t=%d", qb_op_names[c->op], c->fmt ? c->fmt->name : "", c->backend, c->threads);
            qb_progress(step, rounds * p.n, label);
            int64_t t0 = qb_now_ns();
            qb_bench_case_fork(c, &o->cfg, env, r);
            double wall_s = (double)(qb_now_ns() - t0) * 1e-9;
            if (r->st && !r->skipped) {
                if (qb_interrupted) continue; /* the child took the signal too */
                /* a broken case is recorded and reported; the sweep goes on */
                fprintf(stderr, "quantbench bench: warning: %s: %s\n", label, r->msg);
            }
            gather(sl, r, round, rounds, wall_s);
            qb_bench_row w = {.c = c, .r = &sl->r, .wall_s = sl->wall_s, .rounds = sl->rounds};
            memcpy(w.case_id, sl->case_id, sizeof w.case_id);
            memset(outlier, 0, sizeof outlier);
            if (!sl->r.st) {
                derive(&w, outlier);
                st = record_limit(db, run_id, &L, &w);
                set_fraction(&w, &L);
            } else {
                w.fraction = w.paired_fraction = w.pair_gbps = w.pair_gflops = w.gbps = w.gflops = w.f32_gbps = w.fmt_gbps = NAN;
            }
            if (!st) st = store_case(db, run_id, &w, outlier, env);
            memcpy(sl->case_id, w.case_id, sizeof sl->case_id);
            for (int fi = 0; fi < o->nformats; fi++)
                if (c->fmt == o->formats[fi] && r->peak_rss_bytes > mem[fi].peak_rss_bytes) mem[fi].peak_rss_bytes = r->peak_rss_bytes;
            if (!st && fn && sl->done) fn(ctx, &w);
        }
    }
    qb_progress_done();
    FILE *f = fopen("/proc/loadavg", "r");
    double load = -1;
    if (f) {
        if (fscanf(f, "%lf", &load) != 1) load = -1;
        fclose(f);
    }
    if (!st) st = put_limit(db, run_id, NULL, "loadavg_end", 0, load, "");
    free(r);
    free(order);
    free(slots);
    free(p.c);
    free(L.l);
    return st;
}

char *qb_bench_env_json(const qb_bench_env *e, const qb_bench_opts *o) {
    qb_json_doc d;
    qb_json *j = qb_json_doc_begin(&d);
    qb_json_key(j, "ops");
    qb_json_arr(j);
    for (int op = QB_OP_QUANTIZE; op < QB_OP_COUNT; op++)
        if (o->ops & (1u << op)) qb_json_str(j, qb_op_names[op]);
    qb_json_arr_end(j);
    qb_json_key(j, "formats");
    qb_json_arr(j);
    for (int i = 0; i < o->nformats; i++) qb_json_str(j, o->formats[i]->name);
    qb_json_arr_end(j);
    qb_json_key(j, "threads");
    qb_json_arr(j);
    for (int i = 0; i < o->nthreads; i++) qb_json_int(j, o->threads[i]);
    qb_json_arr_end(j);
    qb_json_kint(j, "quick", o->quick);
    qb_json_kint(j, "samples", o->cfg.samples);
    qb_json_kint(j, "rounds", o->cfg.rounds > 1 ? o->cfg.rounds : 1);
    qb_json_kint(j, "min_sample_ns", o->cfg.min_sample_ns);
    qb_json_kint(j, "warmup_ns", o->cfg.warmup_ns);
    qb_json_kint(j, "flush_cache", o->cfg.flush);
    qb_json_kint(j, "pinned", o->cfg.pin);
    if (qb_bench_test_slowdown() > 0) qb_json_knum(j, "test_slowdown", qb_bench_test_slowdown());
    qb_json_kstr(j, "governor", e->governor);
    qb_json_kstr(j, "boost", e->boost);
    qb_json_key(j, "loadavg");
    qb_json_arr(j);
    for (int i = 0; i < 3; i++) qb_json_num(j, e->loadavg[i]);
    qb_json_arr_end(j);
    qb_json_kint(j, "ftz", e->ftz);
    qb_json_kint(j, "daz", e->daz);
    qb_json_kint(j, "cpus", e->cpus);
    qb_json_kstr(j, "fma_isa", qb_isa_names[qb_kern_best_isa()]);
    return qb_json_doc_end(&d);
}
