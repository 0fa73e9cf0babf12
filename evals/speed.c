/* speed.c — see speed.h. Sections: the tests, rows in the database. */
#include "speed.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench/stats.h"
#include "../common/rss.h"

/* ---- the tests --------------------------------------------------------------------------- */

/* splitmix64: the ids of invariant 1 */
static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The first largest logit, as greedy sampling picks it. */
static int32_t argmax(const float *z, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (z[i] > z[best]) best = i;
    return best;
}

static void stat_of(const double *x, int n, qb_speed_stat *s) {
    qb_stats q;
    qb_stats_summarize(x, n, &q, NULL);
    *s = (qb_speed_stat){q.mean, q.stddev, q.min, q.max, n};
}

static const qb_speed_stat no_stat = {NAN, NAN, NAN, NAN, 0};

/* An eval that ran past the KV cache is the caller's n_ctx (our ids are in the vocabulary). */
static qb_status eval_checked(qb_llama *l, const int32_t *ids, int n, float *logits, int pp, int n_tokens) {
    qb_status st = pp ? qb_llama_eval_last(l, ids, n, logits) : qb_llama_eval(l, ids, n, logits);
    if (st == QB_EINPUT)
        return qb_fail(QB_EUSAGE, "speed test %s%d needs a KV cache of %d tokens: load the model with n_ctx of at least %d (%s)",
                       pp ? "pp" : "tg", n_tokens, n_tokens, n_tokens, qb_errmsg());
    return st;
}

static qb_status check_interrupt(void) {
    return qb_interrupted ? qb_fail(QB_ERUNTIME, "interrupted during the speed tests; measured tests are stored, continue with --resume")
                          : QB_OK;
}

/* ppN: warm-up, then reps × (reset, N ids in one call that computes the last row's logits, its argmax). */
static qb_status test_pp(qb_llama *l, const qb_speed_opts *o, const int32_t *ids, qb_speed_result *r) {
    const int V = qb_llama_n_vocab(l), N = o->n_prompt;
    float *logits = qb_malloc(sizeof *logits * (size_t)V); /* the last position's only, as llama-bench */
    double ttft[QB_SPEED_MAX_REPS], tps[QB_SPEED_MAX_REPS];
    const int peak_ok = qb_rss_peak_reset();
    qb_llama_reset(l);
    qb_status st = eval_checked(l, ids, N, logits, 1, N);
    for (int k = 0; k < o->reps && !st; k++) {
        if ((st = check_interrupt())) break;
        qb_llama_reset(l);
        const int64_t t0 = qb_now_ns();
        if ((st = eval_checked(l, ids, N, logits, 1, N))) break;
        const int64_t t1 = qb_now_ns();
        volatile int32_t first = argmax(logits, V);
        (void)first;
        const int64_t t2 = qb_now_ns();
        r->pp_s[k] = (double)(t1 - t0) / 1e9;
        tps[k] = N / r->pp_s[k];
        ttft[k] = (double)(t2 - t0) / 1e9;
    }
    if (!st) {
        stat_of(tps, o->reps, &r->pp_tps);
        stat_of(ttft, o->reps, &r->ttft_s);
        r->rss_pp = peak_ok ? qb_rss_peak_bytes() : 0;
    }
    free(logits);
    return st;
}

/* One greedy generation of N steps from `first` (ids[0 … N] when ids is not NULL). */
static qb_status generate(qb_llama *l, int32_t first, int N, float *logits, int32_t *ids) {
    const int V = qb_llama_n_vocab(l);
    int32_t tok = first;
    if (ids) ids[0] = tok;
    qb_llama_reset(l);
    for (int i = 0; i < N; i++) {
        qb_status st = eval_checked(l, &tok, 1, logits, 0, N);
        if (st) return st;
        tok = argmax(logits, V);
        if (ids) ids[i + 1] = tok;
    }
    return QB_OK;
}

/* Read bandwidth now: a probe (falling back to o->read_bw when it fails) or o->read_bw. */
static double bandwidth_now(const qb_speed_opts *o) {
    const double p = o->measure_bw ? o->measure_bw(o->measure_bw_ctx) : 0;
    return p > 0 ? p : o->read_bw;
}

static qb_status test_tg(qb_llama *l, const qb_speed_opts *o, int32_t first, qb_speed_result *r) {
    const int N = o->n_gen;
    float *logits = qb_malloc(sizeof *logits * (size_t)qb_llama_n_vocab(l));
    double tps[QB_SPEED_MAX_REPS], rep_bw[QB_SPEED_MAX_REPS];
    const int peak_ok = qb_rss_peak_reset();
    qb_status st = generate(l, first, N, logits, NULL);
    double before = st ? 0 : bandwidth_now(o);
    for (int k = 0; k < o->reps && !st; k++) {
        if ((st = check_interrupt())) break;
        const int64_t t0 = qb_now_ns();
        if ((st = generate(l, first, N, logits, k == o->reps - 1 ? o->tokens_out : NULL))) break;
        r->tg_s[k] = (double)(qb_now_ns() - t0) / 1e9;
        tps[k] = N / r->tg_s[k];
        const double after = bandwidth_now(o);
        rep_bw[k] = fmax(before, after);
        before = after;
    }
    if (!st) {
        stat_of(tps, o->reps, &r->tg_tps);
        r->rss_tg = peak_ok ? qb_rss_peak_bytes() : 0;
        double bytes = 0;
        for (int p = 0; p < N; p++) bytes += (double)qb_llama_token_bytes(l, p);
        r->bytes_per_token = bytes / N;
        const double bw = qb_stats_median(rep_bw, o->reps);
        r->read_bw = bw > 0 ? bw : NAN;
        r->bound_tps = bw > 0 ? bw / r->bytes_per_token : NAN;
    }
    free(logits);
    return st;
}

void qb_speed_result_init(qb_speed_result *r) {
    memset(r, 0, sizeof *r);
    r->pp_tps = r->tg_tps = r->ttft_s = no_stat;
    r->bytes_per_token = r->read_bw = r->bound_tps = NAN;
}

qb_status qb_speed_measure(qb_llama *l, const qb_speed_opts *o, qb_speed_result *r) {
    qb_speed_result_init(r);
    if (o->n_prompt < 0 || o->n_gen < 0 || o->reps < 1 || o->reps > QB_SPEED_MAX_REPS)
        return qb_fail(QB_EUSAGE, "speed tests: prompt tokens (%d) and generated tokens (%d) must be at least 0, repetitions (%d) 1 to %d",
                       o->n_prompt, o->n_gen, o->reps, QB_SPEED_MAX_REPS);
    r->n_prompt = o->n_prompt, r->n_gen = o->n_gen, r->reps = o->reps;
    const int V = qb_llama_n_vocab(l);
    /* one stream: the prompt's ids, whose first is also tg's first (whatever n_prompt is) */
    const int n_ids = o->n_prompt > 0 ? o->n_prompt : 1;
    int32_t *ids = qb_malloc(sizeof *ids * (size_t)n_ids);
    uint64_t s = o->seed;
    for (int i = 0; i < n_ids; i++) ids[i] = (int32_t)(next_u64(&s) % (uint64_t)V);
    qb_status st = check_interrupt();
    if (!st && o->n_prompt > 0) st = test_pp(l, o, ids, r);
    if (!st && o->n_gen > 0) st = test_tg(l, o, ids[0], r);
    qb_llama_reset(l);
    free(ids);
    return st;
}

/* ---- rows in the database ---------------------------------------------------------------- */

void qb_speed_test_name(char buf[32], int pp, int n_tokens) { snprintf(buf, 32, "%s%d", pp ? "pp" : "tg", n_tokens); }

static void bind_key(sqlite3_stmt *s, const qb_speed_key *k, const char *test) {
    sqlite3_bind_text(s, 1, k->run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, k->model_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, k->format, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, k->method, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, k->device, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 6, k->threads);
    sqlite3_bind_text(s, 7, test, -1, SQLITE_TRANSIENT);
}

qb_status qb_speed_put(qb_db *db, const qb_speed_key *k, const qb_speed_result *r, int pp, int64_t gpu_mem_bytes) {
    const int n = pp ? r->n_prompt : r->n_gen;
    const qb_speed_stat *t = pp ? &r->pp_tps : &r->tg_tps;
    const double *sec = pp ? r->pp_s : r->tg_s;
    char test[32], now[32];
    qb_speed_test_name(test, pp, n);
    qb_utc_iso(now);
    char *samples = qb_malloc((size_t)r->reps * 26 + 3), *p = samples;
    p += sprintf(p, "[");
    for (int i = 0; i < r->reps; i++) p += sprintf(p, "%s%.9g", i ? "," : "", sec[i]);
    sprintf(p, "]");
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db->h, "INSERT INTO model_speed(run_id, model_id, format, method, device, threads, test, n_tokens, reps,"
                                  " tps_mean, tps_sd, tps_min, tps_max, samples, ttft_s, bytes_per_token, read_bw, bound_tps,"
                                  " rss_peak_bytes, gpu_mem_bytes, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                           -1, &s, NULL) != SQLITE_OK) {
        free(samples);
        return qb_fail(QB_EDB, "database %s: storing a speed row failed: %s", db->path, sqlite3_errmsg(db->h));
    }
    bind_key(s, k, test);
    sqlite3_bind_int(s, 8, n);
    sqlite3_bind_int(s, 9, r->reps);
    qb_db_bind_real(s, 10, t->mean);
    qb_db_bind_real(s, 11, t->sd);
    qb_db_bind_real(s, 12, t->min);
    qb_db_bind_real(s, 13, t->max);
    sqlite3_bind_text(s, 14, samples, -1, SQLITE_TRANSIENT);
    qb_db_bind_real(s, 15, pp ? r->ttft_s.mean : NAN);
    qb_db_bind_real(s, 16, pp ? NAN : r->bytes_per_token);
    qb_db_bind_real(s, 17, pp ? NAN : r->read_bw);
    qb_db_bind_real(s, 18, pp ? NAN : r->bound_tps);
    qb_db_bind_pos(s, 19, pp ? r->rss_pp : r->rss_tg);
    qb_db_bind_pos(s, 20, gpu_mem_bytes);
    sqlite3_bind_text(s, 21, now, -1, SQLITE_TRANSIENT);
    const int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    free(samples);
    return rc == SQLITE_DONE ? QB_OK
                             : qb_fail(QB_EDB, "database %s: storing the %s row of %s failed: %s", db->path, test, k->format, sqlite3_errmsg(db->h));
}


int qb_speed_get(qb_db *db, const qb_speed_key *k, int pp, int n_tokens, qb_speed_result *r) {
    char test[32];
    qb_speed_test_name(test, pp, n_tokens);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db->h, "SELECT reps, tps_mean, tps_sd, tps_min, tps_max, samples, ttft_s, bytes_per_token, read_bw, bound_tps,"
                                  " rss_peak_bytes FROM model_speed WHERE run_id=? AND model_id=? AND format=? AND method=? AND device=?"
                                  " AND threads=? AND test=?",
                           -1, &s, NULL) != SQLITE_OK)
        return 0;
    bind_key(s, k, test);
    int found = sqlite3_step(s) == SQLITE_ROW;
    const int reps = found ? sqlite3_column_int(s, 0) : 0;
    if (found && (reps < 1 || reps > QB_SPEED_MAX_REPS)) found = 0; /* not a row this version can hold: measure again */
    if (found) {
        qb_speed_stat st = {qb_db_col_real(s, 1), qb_db_col_real(s, 2), qb_db_col_real(s, 3), qb_db_col_real(s, 4), reps};
        double *sec = pp ? r->pp_s : r->tg_s;
        cJSON *a = cJSON_Parse((const char *)sqlite3_column_text(s, 5));
        for (int i = 0; i < reps; i++) {
            const cJSON *v = cJSON_GetArrayItem(a, i);
            sec[i] = cJSON_IsNumber(v) ? v->valuedouble : NAN;
        }
        cJSON_Delete(a);
        r->reps = reps;
        if (pp) {
            r->n_prompt = n_tokens, r->pp_tps = st, r->rss_pp = sqlite3_column_int64(s, 10);
            r->ttft_s = (qb_speed_stat){qb_db_col_real(s, 6), NAN, NAN, NAN, reps};
        } else {
            r->n_gen = n_tokens, r->tg_tps = st, r->rss_tg = sqlite3_column_int64(s, 10);
            r->bytes_per_token = qb_db_col_real(s, 7), r->read_bw = qb_db_col_real(s, 8), r->bound_tps = qb_db_col_real(s, 9);
        }
    }
    sqlite3_finalize(s);
    return found;
}
