/* compare.c — see compare.h. */
#include "compare.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench/bench.h"

static qb_status dberr(qb_db *db, const char *what) {
    return qb_fail(QB_EDB, "database %s: %s failed: %s", db->path, what, sqlite3_errmsg(db->h));
}

/* ---- the test ------------------------------------------------------------------------------ */

typedef struct ranked {
    double x;
    int from_a;
} ranked;

static int cmp_ranked(const void *p, const void *q) {
    double a = ((const ranked *)p)->x, b = ((const ranked *)q)->x;
    return (a > b) - (a < b);
}

double qb_mann_whitney_p(const double *a, int na, const double *b, int nb) {
    if (na < 1 || nb < 1) return 1.0;
    int n = na + nb;
    ranked *r = qb_malloc(sizeof *r * (size_t)n);
    for (int i = 0; i < na; i++) r[i] = (ranked){a[i], 1};
    for (int i = 0; i < nb; i++) r[na + i] = (ranked){b[i], 0};
    qsort(r, (size_t)n, sizeof *r, cmp_ranked);
    double ra = 0.0, ties = 0.0; /* rank sum of a; Σ (t³ − t) over groups of equal values */
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && r[j].x == r[i].x) j++;
        double avg = 0.5 * (double)(i + 1 + j), t = (double)(j - i); /* ranks i+1 … j share their mean */
        for (int k = i; k < j; k++) ra += r[k].from_a ? avg : 0.0;
        ties += t * t * t - t;
        i = j;
    }
    free(r);
    double u = ra - 0.5 * na * (na + 1.0), mu = 0.5 * na * nb;
    double var = na * (double)nb / 12.0 * ((n + 1.0) - ties / ((double)n * (n - 1.0)));
    if (var <= 0.0) return 1.0; /* every sample equal */
    double z = (fabs(u - mu) - 0.5) / sqrt(var);
    if (z < 0.0) z = 0.0;
    double p = erfc(z / sqrt(2.0));
    return p > 1.0 ? 1.0 : p;
}

/* ---- runs ---------------------------------------------------------------------------------- */

qb_status qb_compare_resolve(qb_db *db, const char *want, char out[37]) {
    if (strcmp(want, "latest") == 0) return qb_db_latest_run(db, out);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db->h, "SELECT id FROM runs WHERE substr(id, 1, length(?1)) = ?1 LIMIT 2", -1, &s, NULL) != SQLITE_OK)
        return dberr(db, "finding a run");
    sqlite3_bind_text(s, 1, want, -1, SQLITE_STATIC);
    int found = 0;
    while (sqlite3_step(s) == SQLITE_ROW)
        if (found++ == 0) snprintf(out, 37, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    if (found == 0) return qb_fail(QB_EUSAGE, "no run with id '%s' in %s", want, db->path);
    if (found > 1) return qb_fail(QB_EUSAGE, "run id prefix '%s' is ambiguous; give more characters", want);
    return QB_OK;
}

qb_status qb_compare_auto_baseline(qb_db *db, const char *cand, char out[37]) {
    sqlite3_stmt *s;
    const char *sql = "SELECT b.id FROM runs b JOIN runs c ON c.id = ?1"
                      " WHERE b.id <> c.id AND b.status = 'complete' AND b.command = c.command AND b.suite IS c.suite"
                      " AND b.machine_id = c.machine_id AND b.started_at <= c.started_at"
                      " ORDER BY b.started_at DESC, b.rowid DESC LIMIT 1";
    if (sqlite3_prepare_v2(db->h, sql, -1, &s, NULL) != SQLITE_OK) return dberr(db, "finding the baseline");
    sqlite3_bind_text(s, 1, cand, -1, SQLITE_STATIC);
    int found = sqlite3_step(s) == SQLITE_ROW;
    if (found) snprintf(out, 37, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    if (!found)
        return qb_fail(QB_EUSAGE, "no earlier complete run of the same command and suite on this machine to compare run %.8s with;"
                                  " run it again or name one with --baseline RUN", cand);
    return QB_OK;
}

/* ---- verdicts ------------------------------------------------------------------------------ */

static void add(qb_comparison *c, const char *kind, const char *what, double base, double cand, double p, const char *verdict) {
    if ((c->n & (c->n - 1)) == 0) c->v = qb_realloc(c->v, sizeof *c->v * (size_t)(c->n ? 2 * c->n : 16));
    c->v[c->n++] = (qb_verdict){qb_strdup(kind), qb_strdup(what), base, cand, base != 0.0 ? cand / base - 1.0 : NAN, p, verdict};
    c->regressions += strcmp(verdict, "regression") == 0;
    c->improvements += strcmp(verdict, "improvement") == 0;
    c->unstable += strcmp(verdict, "unstable") == 0;
}

/* One side's rows of a query as (key, figures…) in key order, for a merge join with the other. */
typedef struct side {
    int n;
    char **key;
    double *fig;   /* [n * nfig] */
    int *flag;     /* speed: unstable */
    char **id;     /* speed: the case id, for its samples */
} side;

static void side_free(side *s) {
    for (int i = 0; i < s->n; i++) {
        free(s->key[i]);
        if (s->id) free(s->id[i]);
    }
    free(s->key), free(s->fig), free(s->flag), free(s->id);
    memset(s, 0, sizeof *s);
}

/* sql selects: key text, [case id,] [flag,] nfig reals; bound ?1 = run id; ordered by key. */
static qb_status load_side(qb_db *db, const char *sql, const char *run, int with_id, int nfig, side *out) {
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db->h, sql, -1, &s, NULL) != SQLITE_OK) return dberr(db, "reading a run's results");
    sqlite3_bind_text(s, 1, run, -1, SQLITE_STATIC);
    int cap = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (out->n == cap) {
            cap = cap ? 2 * cap : 64;
            out->key = qb_realloc(out->key, sizeof *out->key * (size_t)cap);
            out->fig = qb_realloc(out->fig, sizeof *out->fig * (size_t)cap * (size_t)(nfig ? nfig : 1));
            out->flag = qb_realloc(out->flag, sizeof *out->flag * (size_t)cap);
            if (with_id) out->id = qb_realloc(out->id, sizeof *out->id * (size_t)cap);
        }
        int k = 0;
        out->key[out->n] = qb_strdup((const char *)sqlite3_column_text(s, k++));
        if (with_id) {
            out->id[out->n] = qb_strdup((const char *)sqlite3_column_text(s, k++));
            out->flag[out->n] = sqlite3_column_int(s, k++);
        } else {
            out->flag[out->n] = 0;
        }
        for (int f = 0; f < nfig; f++, k++)
            out->fig[out->n * nfig + f] = qb_db_col_real(s, k);
        out->n++;
    }
    sqlite3_finalize(s);
    return QB_OK;
}

static double *samples(qb_db *db, const char *case_id, int *n) {
    sqlite3_stmt *s;
    double *x = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(db->h, "SELECT CAST(ns AS REAL) / iters FROM bench_samples WHERE case_id = ? AND iters > 0", -1, &s, NULL) !=
        SQLITE_OK)
        return NULL;
    sqlite3_bind_text(s, 1, case_id, -1, SQLITE_STATIC);
    int cap = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (*n == cap) x = qb_realloc(x, sizeof *x * (size_t)(cap = cap ? 2 * cap : 32));
        x[(*n)++] = sqlite3_column_double(s, 0);
    }
    sqlite3_finalize(s);
    return x;
}

static const char *speed_verdict(qb_db *db, const side *b, int i, const side *c, int j, const qb_compare_opts *o, double *mb,
                                 double *mc, double *p) {
    int na, nb;
    double *xa = samples(db, b->id[i], &na), *xb = samples(db, c->id[j], &nb);
    *p = qb_mann_whitney_p(xa, na, xb, nb);
    *mb = na ? qb_stats_median(xa, na) : NAN, *mc = nb ? qb_stats_median(xb, nb) : NAN;
    free(xa), free(xb);
    if (b->flag[i] || c->flag[j]) return "unstable";
    if (*mb < o->min_ns && *mc < o->min_ns) return "too short";
    double change = *mc / *mb - 1.0;
    if (*p < o->alpha && change >= o->min_effect) return "regression"; /* more ns per iteration */
    if (*p < o->alpha && change <= -o->min_effect) return "improvement";
    return "unchanged";
}

/* Merge join of two key-sorted sides; judge(i, j) for matches, new/missing otherwise. */
typedef void (*judge_fn)(void *ctx, int i, int j);

static void join(const side *b, const side *c, judge_fn judge, void *ctx) {
    int i = 0, j = 0;
    while (i < b->n || j < c->n) {
        int d = i == b->n ? 1 : j == c->n ? -1 : strcmp(b->key[i], c->key[j]);
        judge(ctx, d <= 0 ? i : -1, d >= 0 ? j : -1);
        i += d <= 0, j += d >= 0;
    }
}

typedef struct judge_ctx {
    qb_db *db;
    const qb_compare_opts *o;
    qb_comparison *out;
    side *b, *c;
} judge_ctx;

/* The machine's limits (read/copy/triad bandwidth, FMA peak, sgemm) are measured beside the
 * operations; a change in them is the machine's, not the code's, so it is reported as
 * "slower"/"faster", never as a regression. */
static int is_limit(const char *key) {
    size_t n = strcspn(key, " ");
    for (int op = 0; op < QB_OP_QUANTIZE; op++)
        if (strlen(qb_op_names[op]) == n && strncmp(key, qb_op_names[op], n) == 0) return 1;
    return 0;
}

static void judge_speed(void *p, int i, int j) {
    judge_ctx *x = p;
    const char *key = i >= 0 ? x->b->key[i] : x->c->key[j], *kind = is_limit(key) ? "limit" : "speed";
    if (i < 0) return add(x->out, kind, key, NAN, NAN, NAN, "new");
    if (j < 0) return add(x->out, kind, key, NAN, NAN, NAN, "missing");
    double mb, mc, pv;
    const char *v = speed_verdict(x->db, x->b, i, x->c, j, x->o, &mb, &mc, &pv);
    if (is_limit(key)) v = strcmp(v, "regression") == 0 ? "slower" : strcmp(v, "improvement") == 0 ? "faster" : v;
    add(x->out, kind, key, mb, mc, pv, v);
}

/* tensor_errors figures: sqnr_db, mse, max_abs, cosine — deterministic, compared exactly */
static void judge_accuracy(void *p, int i, int j) {
    judge_ctx *x = p;
    if (i < 0) return add(x->out, "accuracy", x->c->key[j], NAN, NAN, NAN, "new");
    if (j < 0) return add(x->out, "accuracy", x->b->key[i], NAN, NAN, NAN, "missing");
    const double *fb = x->b->fig + (size_t)i * 4, *fc = x->c->fig + (size_t)j * 4;
    int same = 1;
    for (int k = 0; k < 4; k++) same &= fb[k] == fc[k] || (isnan(fb[k]) && isnan(fc[k]));
    const char *v = same ? "unchanged" : fc[0] < fb[0] ? "regression" : fc[0] > fb[0] ? "improvement" : "changed";
    add(x->out, "accuracy", x->c->key[j], fb[0], fc[0], NAN, v);
}

/* evals figures: ppl, kld_mean — lower is better, compared with a relative tolerance */
static void judge_eval(void *p, int i, int j) {
    judge_ctx *x = p;
    if (i < 0) return add(x->out, "eval", x->c->key[j], NAN, NAN, NAN, "new");
    if (j < 0) return add(x->out, "eval", x->b->key[i], NAN, NAN, NAN, "missing");
    const double *fb = x->b->fig + (size_t)i * 2, *fc = x->c->fig + (size_t)j * 2;
    int worse = 0, better = 0;
    for (int k = 0; k < 2; k++) {
        if (isnan(fb[k]) || isnan(fc[k])) continue;
        double tol = x->o->eval_rtol * fmax(fabs(fb[k]), fabs(fc[k])) + 1e-12;
        worse |= fc[k] - fb[k] > tol;
        better |= fb[k] - fc[k] > tol;
    }
    add(x->out, "eval", x->c->key[j], fb[0], fc[0], NAN, worse ? "regression" : better ? "improvement" : "unchanged");
}

qb_status qb_compare_runs(qb_db *db, const char *base, const char *cand, const qb_compare_opts *o, qb_comparison *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->base, sizeof out->base, "%s", base);
    snprintf(out->cand, sizeof out->cand, "%s", cand);
    static const struct {
        const char *sql;
        int with_id, nfig;
        judge_fn judge;
    } parts[] = {
        {"SELECT op || ' ' || coalesce(format, '-') || ' ' || backend || ' ' || device || ' ' || shape || ' t' || threads,"
         " id, coalesce(json_extract(config, '$.unstable'), 0) FROM bench_cases WHERE run_id = ?1 ORDER BY 1",
         1, 0, judge_speed},
        {"SELECT input_id || ' ' || tensor || ' ' || format, sqnr_db, mse, max_abs, cosine FROM tensor_errors"
         " WHERE run_id = ?1 ORDER BY 1", 0, 4, judge_accuracy},
        {"SELECT model_id || ' ' || text_id || ' ' || format || ' ' || method || ' ctx ' || ctx, ppl, kld_mean FROM evals"
         " WHERE run_id = ?1 ORDER BY 1", 0, 2, judge_eval},
    };
    qb_status st = QB_OK;
    for (size_t k = 0; k < sizeof parts / sizeof parts[0] && !st; k++) {
        side b, c;
        st = load_side(db, parts[k].sql, base, parts[k].with_id, parts[k].nfig, &b);
        if (!st) st = load_side(db, parts[k].sql, cand, parts[k].with_id, parts[k].nfig, &c);
        else memset(&c, 0, sizeof c);
        if (!st) {
            judge_ctx x = {db, o, out, &b, &c};
            join(&b, &c, parts[k].judge, &x);
        }
        side_free(&b);
        side_free(&c);
    }
    return st;
}

void qb_comparison_free(qb_comparison *c) {
    for (int i = 0; i < c->n; i++) free(c->v[i].kind), free(c->v[i].what);
    free(c->v);
    memset(c, 0, sizeof *c);
}
