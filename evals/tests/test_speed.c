/* test_speed.c — the speed and memory layer (evals/speed.h, common/rss.h) and the eval job's
 * speed rows (evals/eval_job.h), on the small random llama model of tiny_llama.h:
 *  - statistics: n = reps, min ≤ mean ≤ max, sd ≥ 0, t/s = tokens / each repetition's seconds,
 *    TTFT ≥ the prompt's own time;
 *  - tg with one repetition generates exactly the greedy sequence of plain qb_llama_eval calls
 *    (argmax taken here, independently), and the same seed gives the same sequence;
 *  - bytes per token = the stored tensors' bytes (from the model file, not from qb_llama) but
 *    the embedding table plus one of its rows, plus the KV cache's mean size over the
 *    generated positions; the bound is read_bw over it;
 *  - a KV cache smaller than a test, and bad options, are usage errors;
 *  - the peak-RSS helper sees a 64 MiB buffer being touched, and forgets it after a reset;
 *  - qb_model_release_all takes a model's read pages out of the resident set (the eval job's
 *    fairness between formats);
 *  - an eval job with speed on stores one model_speed row per format and test, and a resumed
 *    job measures only the missing tests (the reference's too, without redoing its pass),
 *    leaving every stored row as it was.
 *
 * Usage: test_speed /abs/path/gguf_tool */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/qbtest.h"
#include "common/rss.h"
#include "evals/eval_job.h"
#include "evals/speed.h"
#include "evals/tests/tiny_llama.h"

#define MIB (1024.0 * 1024.0)

static void check_stat(const char *what, const qb_speed_stat *s, int reps) {
    CHECK(s->n == reps, "%s: n %d, reps %d", what, s->n, reps);
    CHECK(s->min > 0 && s->min <= s->mean && s->mean <= s->max, "%s: min %g mean %g max %g", what, s->min, s->mean, s->max);
    CHECK(s->sd >= 0 && (reps > 1 || s->sd == 0), "%s: sd %g", what, s->sd);
}

static double mean_rate(const double *sec, int n, int tokens) {
    double m = 0;
    for (int i = 0; i < n; i++) m += tokens / sec[i];
    return m / n;
}

static int32_t argmax_here(const float *z, int n) {
    int32_t b = 0;
    for (int i = 1; i < n; i++) b = z[i] > z[b] ? i : b;
    return b;
}

/* The bytes a step reads, from the file's tensors: all of them but token_embd, of which one
 * row; K and V of every layer at positions 0 … n_past (f32). */
static double expected_token_bytes(const qb_model *m, int n_past) {
    double b = 0;
    int64_t n_layer = 0, kv_dim = 0;
    for (int i = 0; i < m->n; i++) {
        const qb_model_tensor *t = &m->t[i];
        if (strcmp(t->name, "token_embd.weight") == 0) b += (double)t->nbytes / (double)t->ne[1];
        else b += (double)t->nbytes;
        if (strcmp(t->name + strlen(t->name) - 13, "attn_k.weight") == 0) n_layer++, kv_dim = t->ne[1];
    }
    return b + 2.0 * (double)n_layer * (n_past + 1) * (double)kv_dim * 4;
}

typedef struct scripted_bw {
    double v[8];
    int n;
} scripted_bw;

static double scripted_probe(void *ctx) {
    scripted_bw *s = ctx;
    return s->n < 8 ? s->v[s->n++] : -1;
}

static void test_measure(const qb_model *m) {
    qb_llama *l = NULL;
    qb_llama_opts lo = {.threads = 2, .n_ctx = 64};
    if (qb_llama_load(m, &lo, &l) != QB_OK) {
        CHECK(0, "load: %s", qb_errmsg());
        return;
    }
    const int V = qb_llama_n_vocab(l);
    enum { NP = 32, NG = 24, REPS = 3 };
    int32_t gen[NG + 1];
    qb_speed_opts o = {.n_prompt = NP, .n_gen = NG, .reps = REPS, .read_bw = 1e10, .seed = 7, .tokens_out = gen};
    qb_speed_result *r = malloc(sizeof *r);
    qb_status st = qb_speed_measure(l, &o, r);
    CHECK(st == QB_OK, "measure: %s", qb_errmsg());
    if (st == QB_OK) {
        CHECK(r->n_prompt == NP && r->n_gen == NG && r->reps == REPS, "echoed %d %d %d", r->n_prompt, r->n_gen, r->reps);
        check_stat("pp t/s", &r->pp_tps, REPS);
        check_stat("tg t/s", &r->tg_tps, REPS);
        check_stat("ttft", &r->ttft_s, REPS);
        const double pp = mean_rate(r->pp_s, REPS, NP), tg = mean_rate(r->tg_s, REPS, NG);
        CHECK(fabs(pp - r->pp_tps.mean) <= 1e-9 * pp, "pp mean %g, from the samples %g", r->pp_tps.mean, pp);
        CHECK(fabs(tg - r->tg_tps.mean) <= 1e-9 * tg, "tg mean %g, from the samples %g", r->tg_tps.mean, tg);
        double pp_s = 0;
        for (int k = 0; k < REPS; k++) pp_s += r->pp_s[k] / REPS;
        CHECK(r->ttft_s.mean >= pp_s, "TTFT %g s below the prompt's own time %g s", r->ttft_s.mean, pp_s);
        double want = 0;
        for (int p = 0; p < NG; p++) want += expected_token_bytes(m, p) / NG;
        CHECK(fabs(r->bytes_per_token - want) <= 1e-9 * want, "bytes per token %.1f, expected %.1f", r->bytes_per_token, want);
        CHECK(fabs(r->bound_tps - 1e10 / want) <= 1e-9 * r->bound_tps && r->read_bw == 1e10, "bound %g, expected %g", r->bound_tps, 1e10 / want);
        if (qb_rss_peak_reset()) {
            /* the weights are read in place from the map during both tests: resident then */
            CHECK(r->rss_pp >= (int64_t)qb_llama_weight_bytes(l) && r->rss_tg >= (int64_t)qb_llama_weight_bytes(l),
                  "rss pp %lld tg %lld, weights %llu", (long long)r->rss_pp, (long long)r->rss_tg,
                  (unsigned long long)qb_llama_weight_bytes(l));
        }
        printf("tiny model, 2 threads: pp%d %.0f ± %.0f t/s, tg%d %.0f ± %.0f t/s, TTFT %.3f ms, %.0f B/token, RSS %.1f / %.1f MiB\n", NP,
               r->pp_tps.mean, r->pp_tps.sd, NG, r->tg_tps.mean, r->tg_tps.sd, r->ttft_s.mean * 1e3, r->bytes_per_token, r->rss_pp / MIB,
               r->rss_tg / MIB);
    }

    /* The bandwidth probed beside each repetition: probes p0 (after the warm-up), p1 … p4
     * (after each of 4 repetitions); each repetition takes the better of its two neighbours,
     * read_bw their median. A failed probe (0) counts as read_bw. Scripted values:
     * 30 50 20 0 40 → neighbours max(30,50) = 50, max(50,20) = 50, max(20,5) = 20,
     * max(5,40) = 40 (GB/s; read_bw 5) → median of {50, 50, 20, 40} = 45. */
    {
        scripted_bw sb = {.v = {30e9, 50e9, 20e9, 0, 40e9}};
        qb_speed_opts b = {.n_gen = 8, .reps = 4, .read_bw = 5e9, .seed = 3, .measure_bw = scripted_probe, .measure_bw_ctx = &sb};
        st = qb_speed_measure(l, &b, r);
        CHECK(st == QB_OK, "tg with probes: %s", qb_errmsg());
        CHECK(sb.n == 5, "%d probes for 4 repetitions, expected 5", sb.n);
        CHECK(r->read_bw == 45e9 && fabs(r->bound_tps - 45e9 / r->bytes_per_token) <= 1e-9 * r->bound_tps,
              "read_bw %g (expected 45e9), bound %g", r->read_bw, r->bound_tps);
    }

    /* tg = greedy generation: the same ids from plain evals, and from the same seed again */
    int32_t gen1[NG + 1];
    qb_speed_opts g = {.n_gen = NG, .reps = 1, .seed = 7, .tokens_out = gen1};
    st = qb_speed_measure(l, &g, r);
    CHECK(st == QB_OK, "tg alone: %s", qb_errmsg());
    CHECK(memcmp(gen, gen1, sizeof gen) == 0, "the same seed generated another sequence");
    CHECK(isnan(r->pp_tps.mean) && r->pp_tps.n == 0 && r->rss_pp == 0 && r->ttft_s.n == 0, "pp skipped: n %d", r->pp_tps.n);
    CHECK(isnan(r->bound_tps), "no read_bw, no bound: %g", r->bound_tps);
    float *logits = malloc(sizeof *logits * (size_t)V);
    qb_llama_reset(l);
    int32_t tok = gen1[0], same = 1;
    CHECK(tok >= 0 && tok < V, "first id %d", tok);
    for (int i = 0; i < NG && st == QB_OK; i++) {
        if ((st = qb_llama_eval(l, &tok, 1, logits))) break;
        tok = argmax_here(logits, V);
        same &= tok == gen1[i + 1];
    }
    CHECK(st == QB_OK && same, "tg's sequence differs from plain greedy evals (%s)", qb_errmsg());
    free(logits);

    qb_speed_opts bad = {.n_prompt = 8, .n_gen = 8, .reps = 0};
    CHECK(qb_speed_measure(l, &bad, r) == QB_EUSAGE, "reps 0 accepted");
    qb_llama_free(l);

    /* a KV cache too small for a test */
    lo.n_ctx = 16;
    if (qb_llama_load(m, &lo, &l) == QB_OK) {
        qb_speed_opts big_pp = {.n_prompt = 32, .reps = 1}, big_tg = {.n_prompt = 8, .n_gen = 32, .reps = 1};
        st = qb_speed_measure(l, &big_pp, r);
        CHECK(st == QB_EUSAGE && strstr(qb_errmsg(), "pp32") && strstr(qb_errmsg(), "n_ctx"), "pp32 in 16: %d %s", st, qb_errmsg());
        st = qb_speed_measure(l, &big_tg, r);
        CHECK(st == QB_EUSAGE && strstr(qb_errmsg(), "tg32"), "tg32 in 16: %d %s", st, qb_errmsg());
        qb_llama_free(l);
    }
    free(r);
}

static void test_rss(void) {
    if (!qb_rss_peak_reset()) {
        printf("note: this kernel cannot reset the peak resident set; its checks skipped\n");
        CHECK(qb_rss_bytes() >= 0, "rss");
        return;
    }
    const size_t n = 64u << 20;
    const int64_t base = qb_rss_peak_bytes();
    char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED, "mmap");
    if (p == MAP_FAILED) return;
    for (size_t i = 0; i < n; i += 4096) p[i] = (char)i;
    const int64_t now = qb_rss_bytes(), peak = qb_rss_peak_bytes();
    munmap(p, n);
    CHECK(base > 0 && now > 0 && now <= peak, "rss %lld, peak %lld", (long long)now, (long long)peak);
    CHECK(peak - base >= 60 * MIB, "peak grew by %.1f MiB after touching 64 MiB", (peak - base) / MIB);
    CHECK(qb_rss_peak_reset(), "reset");
    const int64_t after = qb_rss_peak_bytes();
    CHECK(after < base + 60 * MIB, "after the reset the peak is %.1f MiB above the start", (after - base) / MIB);
    printf("peak RSS: %.1f MiB before, %.1f MiB with 64 MiB touched, %.1f MiB after unmapping and a reset\n", base / MIB, peak / MIB, after / MIB);
}

/* qb_model_release_all: a model whose every byte was read leaves the resident set. */
static void test_release(const char *gguf_tool, const char *dir) {
    char path[96], cmd[256];
    snprintf(path, sizeof path, "%s/big.gguf", dir);
    snprintf(cmd, sizeof cmd, "'%s' llama '%s' 2 512 1024 8 8 4096 f32 >/dev/null", gguf_tool, path);
    CHECK(system(cmd) == 0, "gguf_tool");
    qb_model m;
    if (qb_model_open(&m, path) != QB_OK) {
        CHECK(0, "open: %s", qb_errmsg());
        return;
    }
    double bytes = 0;
    volatile unsigned char sum = 0;
    for (int i = 0; i < m.n; i++) {
        const unsigned char *p = m.t[i].data;
        for (uint64_t k = 0; k < m.t[i].nbytes; k += 512) sum += p[k];
        bytes += (double)m.t[i].nbytes;
    }
    const int64_t read = qb_rss_bytes();
    qb_model_release_all(&m);
    const int64_t released = qb_rss_bytes();
    CHECK(read - released >= 0.95 * bytes, "%.1f MiB of tensors read, the resident set fell by %.1f MiB", bytes / MIB,
          (read - released) / MIB);
    qb_model_close(&m);
    unlink(path);
}

/* ---- the eval job ------------------------------------------------------------------------ */

typedef struct seen {
    int rows, resumed, with_speed, tg_n;
} seen;

static void on_row(void *ctx, const qb_eval_row *r, int resumed) {
    seen *s = ctx;
    s->rows++;
    s->resumed += resumed;
    if (r->speed) s->with_speed++, s->tg_n += r->speed->tg_tps.n;
}

static char *query(qb_db *db, const char *sql) {
    sqlite3_stmt *s;
    char *out = qb_strdup("");
    if (sqlite3_prepare_v2(db->h, sql, -1, &s, NULL) != SQLITE_OK) {
        CHECK(0, "%s: %s", sql, sqlite3_errmsg(db->h));
        return out;
    }
    while (sqlite3_step(s) == SQLITE_ROW)
        for (int c = 0; c < sqlite3_column_count(s); c++) {
            const char *v = (const char *)sqlite3_column_text(s, c);
            char *n = qb_asprintf("%s%s%s", out, v ? v : "NULL", c + 1 < sqlite3_column_count(s) ? "|" : "\n");
            free(out);
            out = n;
        }
    sqlite3_finalize(s);
    return out;
}

static void test_job(const tiny_llama *t) {
    char dbp[96], tokp[96];
    snprintf(dbp, sizeof dbp, "%s/r.db", t->dir);
    snprintf(tokp, sizeof tokp, "%s/ids.txt", t->dir);
    FILE *f = fopen(tokp, "w");
    for (int i = 0; i < 100; i++) fprintf(f, "%d\n", (i * 37 + 11) % TINY_LLAMA_VOCAB);
    fclose(f);
    qb_db db;
    if (qb_db_open(&db, dbp) != QB_OK) {
        CHECK(0, "db: %s", qb_errmsg());
        return;
    }
    qb_machine mc;
    qb_machine_collect(&mc);
    qb_run_info ri = {.command = "test", .config = "{}", .argv = "test_speed"};
    char run[37];
    CHECK(qb_db_begin_run(&db, &mc, &ri, run) == QB_OK, "run: %s", qb_errmsg());
    const char *formats[] = {"q8_0"};
    qb_speed_opts so = {.n_prompt = 16, .n_gen = 40, .reps = 2, .read_bw = 5e9, .seed = 1};
    qb_eval_job job = {.model_path = t->path, .tokens_path = tokp, .formats = formats, .nformats = 1, .ctx = 32, .max_chunks = 2,
                       .threads = 1, .ref_mem_bytes = 1 << 26, .speed = &so};
    seen s = {0};
    qb_status st = qb_eval_run(&db, run, &job, on_row, &s);
    CHECK(st == QB_OK, "eval: %s", qb_errmsg());
    CHECK(s.rows == 2 && s.resumed == 0 && s.with_speed == 2 && s.tg_n == 4, "rows %d resumed %d speed %d tg n %d", s.rows, s.resumed,
          s.with_speed, s.tg_n);
    char *rows = query(&db, "SELECT format, test, n_tokens, reps, json_array_length(samples), ttft_s IS NOT NULL,"
                            " bound_tps IS NOT NULL AND abs(bound_tps - read_bw / bytes_per_token) < 1e-9 * bound_tps,"
                            " tps_min <= tps_mean AND tps_mean <= tps_max, rss_peak_bytes > 0, gpu_mem_bytes IS NULL, device, threads"
                            " FROM model_speed ORDER BY format, test");
    CHECK(strcmp(rows, "f32|pp16|16|2|2|1|0|1|1|1|cpu|1\nf32|tg40|40|2|2|0|1|1|1|1|cpu|1\n"
                       "q8_0|pp16|16|2|2|1|0|1|1|1|cpu|1\nq8_0|tg40|40|2|2|0|1|1|1|1|cpu|1\n") == 0,
          "model_speed rows:\n%s", rows);
    free(rows);
    rows = query(&db, "SELECT format, rss_peak_bytes > 0, file_bytes IS NULL FROM evals ORDER BY format");
    CHECK(strcmp(rows, "f32|1|1\nq8_0|1|1\n") == 0, "evals rows:\n%s", rows);
    free(rows);
    /* the quantized format reads fewer bytes per token than the f32 reference */
    rows = query(&db, "SELECT (SELECT bytes_per_token FROM model_speed WHERE format='q8_0' AND test='tg40')"
                      " < 0.5 * (SELECT bytes_per_token FROM model_speed WHERE format='f32' AND test='tg40')");
    CHECK(strcmp(rows, "1\n") == 0, "q8_0 bytes per token not below half of f32's: %s", rows);
    free(rows);

    /* resume: q8_0's tg row and the reference's pp row lost; only they are measured again (the
     * reference's pass is not redone: no format needs its records) */
#define LOST "(format='q8_0' AND test='tg40' OR format='f32' AND test='pp16')"
    const char *snapshot = "SELECT format, test, created_at, samples FROM model_speed WHERE NOT " LOST
                           " UNION ALL SELECT format, method, created_at, ppl FROM evals ORDER BY 1, 2";
    char *before = query(&db, snapshot);
    CHECK(qb_db_exec(&db, "DELETE FROM model_speed WHERE " LOST) == QB_OK, "delete: %s", qb_errmsg());
    sleep(1); /* created_at has one-second resolution */
    memset(&s, 0, sizeof s);
    st = qb_eval_run(&db, run, &job, on_row, &s);
    CHECK(st == QB_OK, "resume: %s", qb_errmsg());
    CHECK(s.rows == 2 && s.resumed == 2 && s.with_speed == 2 && s.tg_n == 4, "resume: rows %d resumed %d speed %d tg n %d", s.rows,
          s.resumed, s.with_speed, s.tg_n);
    char *after = query(&db, snapshot);
    CHECK(strcmp(before, after) == 0, "stored rows changed on resume:\n%s---\n%s", before, after);
    free(before);
    free(after);
    rows = query(&db, "SELECT count(*), (SELECT min(created_at) FROM model_speed WHERE " LOST ") > (SELECT max(c) FROM"
                      " (SELECT created_at AS c FROM model_speed WHERE NOT " LOST " UNION ALL SELECT created_at FROM evals))"
                      " FROM model_speed");
    CHECK(strcmp(rows, "4|1\n") == 0, "after resume (rows, the measured rows newer than all others): %s", rows);
#undef LOST
    free(rows);

    /* everything stored: nothing measured, every row reported as resumed */
    memset(&s, 0, sizeof s);
    before = query(&db, "SELECT * FROM model_speed ORDER BY format, test");
    st = qb_eval_run(&db, run, &job, on_row, &s);
    after = query(&db, "SELECT * FROM model_speed ORDER BY format, test");
    CHECK(st == QB_OK && s.resumed == 2 && s.tg_n == 4 && strcmp(before, after) == 0, "second resume: %d resumed %d", st, s.resumed);
    free(before);
    free(after);
    qb_machine_free(&mc);
    qb_db_close(&db);
    unlink(dbp);
    unlink(tokp);
    char side[128];
    snprintf(side, sizeof side, "%s-wal", dbp), unlink(side);
    snprintf(side, sizeof side, "%s-shm", dbp), unlink(side);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_speed /abs/path/gguf_tool\n");
        return 2;
    }
    test_rss();
    tiny_llama t;
    if (tiny_llama_open(&t, argv[1])) {
        test_measure(&t.m);
        test_release(argv[1], t.dir);
        test_job(&t);
        tiny_llama_close(&t);
    }
    return qbt_finish();
}
