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

qb_status qb_compare_auto_baselines(qb_db *db, const char *cand, int max, char (*out)[37], int *n) {
    sqlite3_stmt *s;
    const char *sql = "SELECT b.id FROM runs b JOIN runs c ON c.id = ?1"
                      " WHERE b.id <> c.id AND b.status = 'complete' AND b.command = c.command AND b.suite IS c.suite"
                      " AND b.machine_id = c.machine_id"
                      " AND (b.started_at < c.started_at OR (b.started_at = c.started_at AND b.rowid < c.rowid))"
                      " ORDER BY b.started_at DESC, b.rowid DESC LIMIT ?2";
    if (sqlite3_prepare_v2(db->h, sql, -1, &s, NULL) != SQLITE_OK) return dberr(db, "finding the baseline");
    sqlite3_bind_text(s, 1, cand, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, max);
    *n = 0;
    while (*n < max && sqlite3_step(s) == SQLITE_ROW) snprintf(out[(*n)++], 37, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    if (*n == 0)
        return qb_fail(QB_EUSAGE, "no earlier complete run of the same command and suite on this machine to compare run %.8s with;"
                                  " run it again or name one with --baseline RUN", cand);
    return QB_OK;
}

/* ---- verdicts ------------------------------------------------------------------------------ */

static void add(qb_comparison *c, const char *kind, const char *what, double base, double cand, double p, const char *verdict) {
    if ((c->n & (c->n - 1)) == 0) c->v = qb_realloc(c->v, sizeof *c->v * (size_t)(c->n ? 2 * c->n : 16));
    c->v[c->n++] = (qb_verdict){.kind = qb_strdup(kind), .what = qb_strdup(what), .base = base, .cand = cand,
                                .change = base != 0.0 ? cand / base - 1.0 : NAN, .p = p, .verdict = verdict};
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

/* One case's samples (lower is better: ns per iteration, seconds per repetition) and, where
 * the case has them, the probe read's ns beside each (else 0); sql binds ?1 = the case's id. */
static double *samples(qb_db *db, const char *sql, const char *case_id, int *n, double **probe) {
    sqlite3_stmt *s;
    double *x = NULL;
    *n = 0;
    *probe = NULL;
    if (sqlite3_prepare_v2(db->h, sql, -1, &s, NULL) != SQLITE_OK) return NULL;
    sqlite3_bind_text(s, 1, case_id, -1, SQLITE_STATIC);
    int cap = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 32;
            x = qb_realloc(x, sizeof *x * (size_t)cap);
            *probe = qb_realloc(*probe, sizeof **probe * (size_t)cap);
        }
        (*probe)[*n] = sqlite3_column_double(s, 1);
        x[(*n)++] = sqlite3_column_double(s, 0);
    }
    sqlite3_finalize(s);
    return x;
}

/* When both sides have a probe beside every sample, each sample is scaled to the baseline's
 * median probe time: t × P_base / p, the time the sample would have taken had the machine
 * given the bandwidth it gave the baseline. A neighbour that halves the bandwidth doubles
 * both t and p and leaves the scaled time alone; a case that is not bandwidth-bound can
 * only look faster by it, never slower. */
static int scale_to_base(double *xa, const double *pa, int na, double *xb, const double *pb, int nb) {
    for (int i = 0; i < na; i++)
        if (!(pa[i] > 0)) return 0;
    for (int i = 0; i < nb; i++)
        if (!(pb[i] > 0)) return 0;
    if (na == 0 || nb == 0) return 0;
    double *t = qb_malloc(sizeof *t * (size_t)na);
    memcpy(t, pa, sizeof *t * (size_t)na);
    double ref = qb_stats_median(t, na);
    free(t);
    for (int i = 0; i < na; i++) xa[i] *= ref / pa[i];
    for (int i = 0; i < nb; i++) xb[i] *= ref / pb[i];
    return 1;
}

/* The smallest p the test can give for na against nb samples (every one of b above every one
 * of a): when it is not below alpha, no difference of speed could be confirmed. */
static double min_p(int na, int nb) {
    double *x = qb_malloc(sizeof *x * (size_t)(na + nb + 1));
    for (int i = 0; i < na + nb; i++) x[i] = i;
    double p = qb_mann_whitney_p(x, na, x + na, nb);
    free(x);
    return p;
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
    const char *samples_sql; /* speed parts */
    struct tally *t;         /* speed parts: per candidate case */
    int newest;              /* speed parts: b is the newest baseline */
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

/* A candidate speed case against each baseline that has it. */
typedef struct tally {
    int seen, judged, slower, faster; /* baselines with the case; judged; confirmed slower/faster */
    int unstable;                     /* baselines whose case is unstable (judged all the same) */
    int scaled;                       /* some baseline: samples scaled by the probes beside them */
    int too_short, few;               /* not judged: calls under min_ns; too few samples for alpha */
    double first_base;                /* the newest baseline's median */
    double base, cand, change, p;     /* cand: the newest pair's median (not judged) */
    double judged_cand;               /* base, judged_cand, change: the judged baseline nearest the candidate; p: the largest */
} tally;

static void judge_speed_pair(void *p, int i, int j) {
    judge_ctx *x = p;
    if (j < 0) { /* a case the candidate lacks: reported once, from the newest baseline */
        if (x->newest) add(x->out, is_limit(x->b->key[i]) ? "limit" : "speed", x->b->key[i], NAN, NAN, NAN, "missing");
        return;
    }
    if (i < 0) return;
    tally *t = &x->t[j];
    int na, nb;
    double *pa, *pb, *xa = samples(x->db, x->samples_sql, x->b->id[i], &na, &pa), *xb = samples(x->db, x->samples_sql, x->c->id[j], &nb, &pb);
    t->scaled |= scale_to_base(xa, pa, na, xb, pb, nb);
    double pv = qb_mann_whitney_p(xa, na, xb, nb), mb = na ? qb_stats_median(xa, na) : NAN, mc = nb ? qb_stats_median(xb, nb) : NAN;
    free(xa), free(xb), free(pa), free(pb);
    if (t->seen++ == 0) t->first_base = mb, t->cand = mc;
    /* an unstable baseline is judged too: its spread is evidence that the case moves that much */
    t->unstable += x->b->flag[i];
    if (na == 0 || nb == 0) return;
    if (mb < x->o->min_ns && mc < x->o->min_ns) {
        t->too_short++;
        return;
    }
    if (min_p(na, nb) >= x->o->alpha) {
        t->few++;
        return;
    }
    double change = mc / mb - 1.0;
    t->slower += pv < x->o->alpha && change >= x->o->min_effect; /* more time per call */
    t->faster += pv < x->o->alpha && change <= -x->o->min_effect;
    if (t->judged++ == 0 || fabs(change) < fabs(t->change)) t->base = mb, t->change = change, t->judged_cand = mc;
    if (!(t->p >= pv)) t->p = pv;
}

/* A candidate case is confirmed slower (faster) only when it is so against every baseline
 * that can judge it: one baseline process that happened to be fast is not a regression. */
static void speed_verdicts(qb_comparison *out, const side *c, const tally *t) {
    for (int j = 0; j < c->n; j++) {
        const char *key = c->key[j], *kind = is_limit(key) ? "limit" : "speed", *v;
        const tally *u = &t[j];
        if (u->seen == 0) {
            add(out, kind, key, NAN, NAN, NAN, "new");
            continue;
        }
        if (c->flag[j] || u->unstable == u->seen || u->judged == 0) {
            v = c->flag[j] || u->unstable == u->seen ? "unstable" : u->too_short ? "too short" : u->few ? "too few samples" : "unstable";
            add(out, kind, key, u->first_base, u->cand, NAN, v);
            continue;
        }
        v = u->slower == u->judged ? "regression" : u->faster == u->judged ? "improvement" : "unchanged";
        if (is_limit(key)) v = strcmp(v, "regression") == 0 ? "slower" : strcmp(v, "improvement") == 0 ? "faster" : v;
        add(out, kind, key, u->base, u->judged_cand, u->p, v);
        out->v[out->n - 1].scaled = u->scaled;
    }
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

/* Speed parts: key, case id, unstable flag; samples in ns (lower is better) by case id. */
static const struct {
    const char *cases, *samples;
} speed_parts[] = {
    {"SELECT " QB_COMPARE_BENCH_KEY("") ","
     " id, coalesce(json_extract(config, '$.unstable'), 0) FROM bench_cases WHERE run_id = ?1 ORDER BY 1",
     "SELECT CAST(ns AS REAL) / iters, coalesce(probe_ns, 0) FROM bench_samples WHERE case_id = ?1 AND iters > 0"},
    /* model-level speed (llama-bench's pp/tg): a repetition's seconds; CV over 10 % is unstable as for bench cases */
    {"SELECT 'model ' || test || ' ' || format || ' ' || method || ' ' || device || ' t' || threads || ' ' || model_id,"
     " CAST(rowid AS TEXT), coalesce(tps_sd > 0.1 * tps_mean, 0) FROM model_speed WHERE run_id = ?1 ORDER BY 1",
     "SELECT CAST(j.value AS REAL) * 1e9, 0 FROM model_speed m, json_each(m.samples) j WHERE m.rowid = CAST(?1 AS INTEGER)"},
};

qb_status qb_compare_runs(qb_db *db, const char (*base)[37], int nbase, const char *cand, const qb_compare_opts *o,
                          qb_comparison *out) {
    memset(out, 0, sizeof *out);
    if (nbase > QB_COMPARE_MAX_BASELINES) nbase = QB_COMPARE_MAX_BASELINES;
    for (int k = 0; k < nbase; k++) snprintf(out->bases[k], sizeof out->bases[k], "%s", base[k]);
    out->nbase = nbase;
    snprintf(out->base, sizeof out->base, "%s", base[0]);
    snprintf(out->cand, sizeof out->cand, "%s", cand);
    qb_status st = QB_OK;
    for (size_t k = 0; k < sizeof speed_parts / sizeof speed_parts[0] && !st; k++) {
        side c;
        st = load_side(db, speed_parts[k].cases, cand, 1, 0, &c);
        if (st) break;
        tally *t = qb_calloc((size_t)(c.n ? c.n : 1), sizeof *t);
        for (int b = 0; b < nbase && !st; b++) {
            side bs;
            st = load_side(db, speed_parts[k].cases, base[b], 1, 0, &bs);
            if (!st) {
                judge_ctx x = {db, o, out, &bs, &c, speed_parts[k].samples, t, b == 0};
                join(&bs, &c, judge_speed_pair, &x);
            }
            side_free(&bs);
        }
        if (!st) speed_verdicts(out, &c, t);
        free(t);
        side_free(&c);
    }
    static const struct {
        const char *sql;
        int nfig;
        judge_fn judge;
    } parts[] = {
        {"SELECT input_id || ' ' || tensor || ' ' || format, sqnr_db, mse, max_abs, cosine FROM tensor_errors"
         " WHERE run_id = ?1 ORDER BY 1", 4, judge_accuracy},
        {"SELECT " QB_COMPARE_EVAL_KEY("") ", ppl, kld_mean FROM evals"
         " WHERE run_id = ?1 ORDER BY 1", 2, judge_eval},
    };
    /* accuracy is deterministic (or nearly): against the newest baseline */
    for (size_t k = 0; k < sizeof parts / sizeof parts[0] && !st; k++) {
        side b, c;
        st = load_side(db, parts[k].sql, base[0], 0, parts[k].nfig, &b);
        if (!st) st = load_side(db, parts[k].sql, cand, 0, parts[k].nfig, &c);
        else memset(&c, 0, sizeof c);
        if (!st) {
            judge_ctx x = {db, o, out, &b, &c, NULL, NULL, 0};
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
