/* eval_job.c — see eval_job.h. Sections: inputs (model, text or ids), the reference records
 * store, one pass (a format over every chunk), rows in the database, the job. */
#define _GNU_SOURCE
#include "eval_job.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/io.h"
#include "../common/parallel.h"
#include "../common/rss.h"
#include "../datasets/source.h"
#include "../datasets/tokenizer.h"
#include "awq.h"
#include "calib.h"
#include "gptq.h"
#include "llama.h"
#include "smoothquant.h"

#define PIECE_TOKENS 512 /* tokens per qb_llama_eval call: bounds the logits buffer to 512 × n_vocab */
#define METHOD "perplexity" /* the database's method of rtn rows; "perplexity+<method>" for the others */

static const char *const methods_known[] = {"rtn", "imatrix", "gptq", "awq", "smoothquant"};

static const char *db_method(const char *method, char *buf, size_t n) {
    if (strcmp(method, "rtn") == 0) return METHOD;
    snprintf(buf, n, METHOD "+%s", method);
    return buf;
}

static const char *base_name(const char *path) {
    const char *b = strrchr(path, '/');
    return b && b[1] ? b + 1 : path;
}

/* ---- inputs ------------------------------------------------------------------------------ */

typedef struct text_in {
    int32_t *ids;
    size_t n;
    qb_tokenizer *tok; /* NULL: ids given, no tokenizer for this model */
    char *no_tok_note; /* why not, printed once the run starts */
    char *id;          /* inputs row */
} text_in;

/* The text (tokenized as llama-perplexity does: whole file, add_special) or the ids file, and
 * its inputs row. */
static qb_status load_text(qb_db *db, const qb_eval_job *job, const qb_model *m, text_in *t) {
    const char *path = job->text_path ? job->text_path : job->tokens_path, *kind = job->text_path ? "text" : "tokens";
    qb_map map = {0};
    qb_status st = QB_OK;
    if (job->text_path) { /* the file first: a missing text is the error to report */
        if ((st = qb_map_file(&map, path))) return qb_fail_context(st, "--text: ");
        if (map.size == 0) st = qb_fail(QB_EINPUT, "text file '%s' is empty", path);
    }
    if (!st && m->is_gguf) {
        st = qb_tokenizer_from_gguf(&m->g, m->path, &t->tok);
        if (st && !job->text_path) { /* ids need no tokenizer: without one, no BOS and no bits per byte */
            t->no_tok_note = qb_strdup(qb_errmsg());
            t->tok = NULL;
            st = QB_OK;
        }
    } else if (!st) {
        if (job->text_path)
            st = qb_fail(QB_EUSAGE, "%s is not a GGUF file, so its tokenizer is unknown here: give --tokens FILE (ids from the model's own tokenizer)",
                         m->path);
        else
            t->no_tok_note = qb_asprintf("%s has no GGUF tokenizer", m->path);
    }
    uint64_t h = QB_FNV_INIT;
    if (!st && job->text_path) {
        st = qb_tokenize(t->tok, map.data, map.size, 1, &t->ids, &t->n);
        h = qb_fnv1a(h, map.data, map.size);
    } else if (!st) {
        st = qb_tokens_read(path, &t->ids, &t->n);
        if (!st) h = qb_fnv1a(h, t->ids, t->n * sizeof *t->ids);
    }
    const int64_t bytes = (int64_t)map.size;
    qb_unmap(&map);
    if (st) return st;
    char hash[17];
    snprintf(hash, sizeof hash, "%016" PRIx64, h);
    t->id = job->text_path ? qb_asprintf("%s:%s:%" PRId64 "b:%s", kind, base_name(path), bytes, hash)
                           : qb_asprintf("%s:%s:%zut:%s", kind, base_name(path), t->n, hash);
    qb_input in = {t->id, kind, base_name(path), path, hash, (int64_t)t->n, bytes};
    return qb_db_put_input(db, &in);
}

/* ---- reference records ------------------------------------------------------------------- */

/* The records of one chunk live in `chunk` while it is written or read; the whole set is in
 * `mem`, or in the unlinked file `fd`. Beside them, always in memory, the reference's exact
 * −ln p(tok) of every scored position (8 bytes each): PPL(ref) and the ln-ratio's covariance
 * use it, not the record, whose 16-nat floor raises p(tok) wherever the reference gives the
 * correct token less than e⁻¹⁶ of its top token. (llama.cpp reads PPL(base) from its base file
 * and has that bias: on the shipped model the record gives PPL 4.610 against the exact 4.796.) */
typedef struct refstore {
    int64_t words;     /* per chunk */
    uint16_t *mem;     /* all chunks, or NULL */
    int fd;
    uint16_t *chunk;   /* the current chunk's records (points into mem when in memory) */
    double *nll_ref;   /* [n_chunks · n_scored] */
    int n_scored;
} refstore;

static qb_status refstore_open(refstore *r, const qb_eval_job *job, const char *db_path, const qb_ppl_plan *p, int n_vocab) {
    memset(r, 0, sizeof *r);
    r->fd = -1;
    r->words = (int64_t)p->n_scored * QB_LPREC_WORDS(n_vocab);
    r->n_scored = p->n_scored;
    r->nll_ref = qb_calloc((size_t)p->n_chunks * (size_t)(p->n_scored ? p->n_scored : 1), sizeof *r->nll_ref);
    const int64_t total = 2 * r->words * p->n_chunks;
    if (total <= job->ref_mem_bytes) {
        r->mem = qb_malloc((size_t)total);
        return QB_OK;
    }
    char *dir = qb_strdup(db_path), *slash = strrchr(dir, '/');
    if (slash) slash[1] = '\0';
    else strcpy(dir, "./");
    char *tmpl = qb_asprintf("%s.quantbench-ref-XXXXXX", dir);
    free(dir);
    r->fd = mkstemp(tmpl);
    if (r->fd < 0) {
        qb_status st = qb_fail(QB_ERUNTIME, "cannot create the reference log-prob file %s (%.1f MB): give --db a writable directory", tmpl,
                               total / 1e6);
        free(tmpl);
        return st;
    }
    unlink(tmpl); /* gone when we exit, however we exit */
    free(tmpl);
    r->chunk = qb_malloc((size_t)(2 * r->words));
    return QB_OK;
}

static void refstore_close(refstore *r) {
    if (r->fd >= 0) close(r->fd);
    free(r->nll_ref);
    if (r->mem) free(r->mem);
    else free(r->chunk);
    memset(r, 0, sizeof *r);
    r->fd = -1;
}

static void refstore_select(refstore *r, int chunk) {
    if (r->mem) r->chunk = r->mem + (int64_t)chunk * r->words;
}

/* Moves the current chunk between the buffer and the file (write = 1: buffer → file). */
static qb_status refstore_io(refstore *r, int chunk, int write) {
    if (r->mem) return QB_OK;
    const size_t n = (size_t)(2 * r->words);
    const off_t off = (off_t)chunk * (off_t)n;
    for (size_t done = 0; done < n;) {
        ssize_t k = write ? pwrite(r->fd, (char *)r->chunk + done, n - done, off + (off_t)done)
                          : pread(r->fd, (char *)r->chunk + done, n - done, off + (off_t)done);
        if (k <= 0) return qb_fail(QB_ERUNTIME, "%s the reference log-prob file failed at chunk %d (disk full?)", write ? "writing" : "reading", chunk);
        done += (size_t)k;
    }
    return QB_OK;
}

/* ---- one pass ---------------------------------------------------------------------------- */

typedef struct pass {
    const qb_ppl_plan *p;
    const int32_t *tokens;
    int n_vocab, is_ref;
    const float *logits;  /* the piece's rows */
    int row0;             /* chunk position of logits row 0 */
    int chunk, k0;        /* scored positions k0 … of chunk */
    uint16_t *rec;        /* the chunk's records */
    qb_kld_pos *out;      /* per scored position of the piece */
    double *nll_ref;      /* the chunk's exact reference −ln p(tok) (refstore) */
} pass;

/* Scored positions [b, e) of the piece: the reference writes its record and compares with
 * itself exactly; another format compares with the record. */
static void score_range(void *ctx, int64_t b, int64_t e) {
    const pass *ps = ctx;
    const int V = ps->n_vocab;
    float *logp = qb_malloc(sizeof *logp * (size_t)V);
    for (int64_t i = b; i < e; i++) {
        const int k = ps->k0 + (int)i, pos = ps->p->first + k;
        const float *z = ps->logits + (int64_t)(pos - ps->row0) * V;
        uint16_t *rec = ps->rec + (int64_t)k * QB_LPREC_WORDS(V);
        const int32_t tok = ps->tokens[qb_ppl_target(ps->p, ps->chunk, k)];
        if (ps->is_ref) {
            qb_logsm s;
            qb_logsoftmax(z, V, &s);
            qb_lprec_encode(z, V, &s, rec);
            qb_logprobs_exact(z, V, &s, logp);
        } else {
            qb_lprec_decode(rec, V, logp);
        }
        qb_kld_position(logp, z, V, tok, &ps->out[i]);
        if (ps->is_ref) ps->nll_ref[k] = ps->out[i].nll_ref; /* exact: logp is */
        else ps->out[i].nll_ref = ps->nll_ref[k];
    }
    free(logp);
}

static void fmt_eta(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 1e7) snprintf(buf, n, "?");
    else if (s >= 3600) snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else if (s >= 60) snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else snprintf(buf, n, "%.0fs", s);
}

typedef struct progress {
    int64_t done, total; /* chunks over all passes */
    int64_t t0_ns;       /* start: the ETA spreads loading over the chunks, as it recurs per format */
} progress;

/* Runs one loaded model over every chunk into acc; the reference fills the records. */
static qb_status run_pass(qb_llama *l, const qb_ppl_plan *p, const int32_t *tokens, int32_t bos, int is_ref, refstore *rs,
                          int threads, const char *label, progress *pg, qb_ppl_acc *acc, double *eval_s) {
    const int V = qb_llama_n_vocab(l), piece = p->n_ctx < PIECE_TOKENS ? p->n_ctx : PIECE_TOKENS;
    float *logits = qb_malloc(sizeof *logits * (size_t)piece * (size_t)V);
    int32_t *ctok = qb_malloc(sizeof *ctok * (size_t)p->n_ctx);
    qb_kld_pos *pos = qb_malloc(sizeof *pos * (size_t)(p->n_scored + 1));
    qb_status st = QB_OK;
    int64_t ns = 0;
    for (int c = 0; c < p->n_chunks && !st; c++) {
        if (qb_interrupted) {
            st = qb_fail(QB_ERUNTIME, "interrupted; completed formats are stored, continue with --resume");
            break;
        }
        char eta[32], line[160];
        const double per = pg->done ? (double)(qb_now_ns() - pg->t0_ns) / 1e9 / (double)pg->done : NAN;
        fmt_eta(eta, sizeof eta, per * (double)(pg->total - pg->done));
        snprintf(line, sizeof line, "eval %s: chunk %d/%d, ETA %s", label, c + 1, p->n_chunks, eta);
        qb_progress(pg->done, pg->total, line);

        refstore_select(rs, c);
        if (!is_ref && (st = refstore_io(rs, c, 0))) break;
        qb_ppl_chunk_tokens(p, tokens, c, bos, ctok);
        qb_llama_reset(l);
        for (int row0 = 0; row0 < p->n_ctx && !st; row0 += piece) {
            const int n = p->n_ctx - row0 < piece ? p->n_ctx - row0 : piece;
            const int64_t t0 = qb_now_ns();
            st = qb_llama_eval(l, ctok + row0, n, logits);
            ns += qb_now_ns() - t0;
            if (st) break;
            /* scored positions in this piece: first … n_ctx − 2 */
            int lo = row0 > p->first ? row0 : p->first, hi = row0 + n < p->n_ctx - 1 ? row0 + n : p->n_ctx - 1;
            if (lo >= hi) continue;
            pass ps = {p, tokens, V, is_ref, logits, row0, c, lo - p->first, rs->chunk, pos, rs->nll_ref + (int64_t)c * rs->n_scored};
            qb_parallel_for(threads, hi - lo, score_range, &ps);
            for (int i = 0; i < hi - lo; i++) qb_ppl_acc_add(acc, &pos[i]); /* invariant 2: in order */
        }
        if (!st && is_ref) st = refstore_io(rs, c, 1);
        pg->done++;
    }
    *eval_s = (double)ns / 1e9;
    free(logits);
    free(ctok);
    free(pos);
    return st;
}

/* ---- rows in the database ---------------------------------------------------------------- */


/* The row's figures in column order (after the key and the integer columns). */
#define ROW_REALS(r)                                                                                                              \
    {&(r)->st.ppl, &(r)->st.ppl_err, &(r)->st.kld_mean, &(r)->st.kld_p99, &(r)->st.top1, &(r)->bits_per_weight, &(r)->bpb,          \
     &(r)->st.ppl_ref, &(r)->st.ppl_ratio, &(r)->st.ppl_ratio_err, &(r)->st.kld_err, &(r)->st.kld_p50, &(r)->st.kld_p90,             \
     &(r)->st.kld_p999, &(r)->st.kld_max, &(r)->st.dp_mean, &(r)->st.dp_err, &(r)->st.dp_rms, &(r)->st.dp_rms_err, &(r)->st.dp_min, \
     &(r)->st.dp_p01, &(r)->st.dp_p50, &(r)->st.dp_p99, &(r)->st.dp_max, &(r)->st.top1_err, &(r)->tokens_per_s, &(r)->load_s,          \
     &(r)->calib_s}
#define NREALS 28
static const char real_cols[] = "ppl, ppl_err, kld_mean, kld_p99, top1, bits_per_weight, bpb, ppl_ref, ppl_ratio, ppl_ratio_err,"
                                " kld_err, kld_p50, kld_p90, kld_p999, kld_max, dp_mean, dp_err, dp_rms, dp_rms_err, dp_min, dp_p01,"
                                " dp_p50, dp_p99, dp_max, top1_err, tokens_per_s, load_s, calib_s";

typedef struct rowkey {
    const char *run_id, *model_id, *text_id;
} rowkey;

/* One INSERT in autocommit mode: its own transaction, committed now (invariant 1). */
static qb_status put_row(qb_db *db, const rowkey *key, const qb_eval_row *r, const char *variant_id) {
    char *sql = qb_asprintf("INSERT INTO evals(run_id, model_id, text_id, format, method, ctx, chunks, tokens, created_at, ref_format,"
                            " variant_id, model_bytes, threads, rss_peak_bytes, file_bytes, %s) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?%s)",
                            real_cols, ",?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?");
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(db->h, sql, -1, &s, NULL);
    free(sql);
    if (rc != SQLITE_OK) return qb_fail(QB_EDB, "database %s: storing an eval row failed: %s", db->path, sqlite3_errmsg(db->h));
    char now[32], mb[64];
    qb_utc_iso(now);
    int k = 1;
    sqlite3_bind_text(s, k++, key->run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, k++, key->model_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, k++, key->text_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, k++, r->format, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, k++, db_method(r->method, mb, sizeof mb), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, k++, r->ctx);
    sqlite3_bind_int(s, k++, r->chunks);
    sqlite3_bind_int64(s, k++, r->tokens);
    sqlite3_bind_text(s, k++, now, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, k++, r->ref_format, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, k++, variant_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, k++, r->model_bytes);
    sqlite3_bind_int(s, k++, r->threads);
    qb_db_bind_pos(s, k++, r->rss_peak);
    qb_db_bind_pos(s, k++, r->file_bytes);
    qb_eval_row *w = (qb_eval_row *)r;
    double *v[NREALS] = ROW_REALS(w);
    for (int i = 0; i < NREALS; i++) qb_db_bind_real(s, k++, *v[i]);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? QB_OK : qb_fail(QB_EDB, "database %s: storing the eval row of %s failed: %s", db->path, r->format, sqlite3_errmsg(db->h));
}

/* 1 and the stored figures when the run holds this format's row (a resumed run). */
static int get_row(qb_db *db, const rowkey *key, qb_eval_row *r) {
    char *sql = qb_asprintf("SELECT chunks, tokens, model_bytes, threads, rss_peak_bytes, file_bytes, %s FROM evals WHERE run_id=? AND model_id=? AND text_id=?"
                            " AND format=? AND method=? AND ctx=?", real_cols);
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(db->h, sql, -1, &s, NULL);
    free(sql);
    if (rc != SQLITE_OK) return 0;
    sqlite3_bind_text(s, 1, key->run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, key->model_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, key->text_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, r->format, -1, SQLITE_STATIC);
    char mb[64];
    sqlite3_bind_text(s, 5, db_method(r->method, mb, sizeof mb), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 6, r->ctx);
    const int found = sqlite3_step(s) == SQLITE_ROW;
    if (found) {
        r->chunks = sqlite3_column_int(s, 0);
        r->tokens = sqlite3_column_int64(s, 1);
        r->model_bytes = sqlite3_column_int64(s, 2);
        r->threads = sqlite3_column_int(s, 3);
        r->rss_peak = sqlite3_column_int64(s, 4); /* NULL reads as 0: unknown */
        r->file_bytes = sqlite3_column_int64(s, 5);
        double *v[NREALS] = ROW_REALS(r);
        for (int i = 0; i < NREALS; i++) *v[i] = qb_db_col_real(s, 6 + i);
    }
    sqlite3_finalize(s);
    return found;
}

/* ---- the job ----------------------------------------------------------------------------- */

static int is_path(const char *f) {
    const size_t n = strlen(f);
    return strchr(f, '/') || (n > 5 && strcmp(f + n - 5, ".gguf") == 0);
}

/* A format spec "W" or "W:A": the weights' format W (into w) and the activations' format A
 * (qb_llama_opts.act_format; NULL when absent). */
typedef struct spec_parts {
    char w[128];
    const char *act;
} spec_parts;

static spec_parts split_spec(const char *spec) {
    spec_parts p = {{0}, NULL};
    const char *colon = is_path(spec) ? NULL : strchr(spec, ':');
    snprintf(p.w, sizeof p.w, "%.*s", colon ? (int)(colon - spec) : (int)strlen(spec), spec);
    p.act = colon ? colon + 1 : NULL;
    return p;
}

/* Every format name is a registry format, a llama.cpp file type or a GGUF file; every method
 * is known, and calibration text is given when a method needs it. */
static qb_status check_formats(const qb_eval_job *job) {
    int calibrated = 0;
    for (int i = 0; i < job->nmethods; i++) {
        int known = 0;
        for (size_t k = 0; k < sizeof methods_known / sizeof methods_known[0]; k++) known |= strcmp(job->methods[i], methods_known[k]) == 0;
        if (!known) return qb_fail(QB_EUSAGE, "unknown method '%s' in --methods: give rtn, imatrix, gptq, awq or smoothquant", job->methods[i]);
        calibrated |= strcmp(job->methods[i], "rtn") != 0;
    }
    if (calibrated && !job->calib_text_path && !job->calib_tokens_path)
        return qb_fail(QB_EUSAGE, "--methods other than rtn need calibration text: give --calib-text FILE (or --calib-tokens FILE), "
                       "ideally not the evaluated text");
    for (int i = 0; i < job->nformats; i++) {
        const spec_parts sp = split_spec(job->formats[i]);
        const char *f = sp.w;
        const qb_mix *mx;
        if (sp.act && !qb_format_find(sp.act))
            return qb_fail(QB_EUSAGE, "unknown activation format '%s' in --formats %s: give a registry format such as int8_sym_row (per token) or fp8_e4m3_pc",
                           sp.act, job->formats[i]);
        if (is_path(f) || qb_format_find(f)) continue;
        if (qb_mix_require(f, &mx) == QB_OK) continue;
        return qb_fail(QB_EUSAGE, "unknown format '%s' in --formats: give a registry format (see 'quantbench formats'), a llama.cpp file type such as Q4_K_M, or a .gguf file",
                       job->formats[i]);
    }
    return QB_OK;
}

static double scored_bytes(const qb_tokenizer *tok, const qb_ppl_plan *p, const int32_t *ids) {
    if (!tok) return NAN;
    double bytes = 0;
    char buf[16];
    for (int c = 0; c < p->n_chunks; c++)
        for (int k = 0; k < p->n_scored; k++) bytes += (double)qb_token_piece(tok, ids[qb_ppl_target(p, c, k)], buf, sizeof buf);
    return bytes;
}

/* What the passes share. */
typedef struct job_state {
    qb_db *db;
    const qb_eval_job *job;
    qb_source *src;
    text_in *text;
    qb_ppl_plan plan;
    refstore rs;
    rowkey key;
    int ref_vocab;
    qb_calib cal;                /* collected at the first calibrated method */
    int have_cal;
} job_state;

/* ---- calibrated methods ------------------------------------------------------------------ */

/* Whether method applies to format spec: imatrix to formats that read importance weights (and
 * llama.cpp file types, whose K-quants do), gptq to the formats gptq.h writes (int group
 * formats, q4_0, q8_0, the K-quants q2_K … q6_K; not llama.cpp file types), awq and
 * smoothquant to any single quantized registry format (the weights must be requantized after
 * scaling, which an IEEE format equal to the stored one would skip). */
static int method_applies(const char *method, const char *spec) {
    if (strcmp(method, "rtn") == 0) return 1;
    if (is_path(spec)) return 0;
    const qb_format *f = qb_format_find(split_spec(spec).w);
    if (strcmp(method, "imatrix") == 0) return !f || (f->flags & QB_FMT_USES_IMP);
    if (strcmp(method, "awq") == 0 || strcmp(method, "smoothquant") == 0) return f && strcmp(f->family, "ieee") != 0;
    return f && qb_gptq_supports(f);
}

static qb_status collect_calibration(job_state *js, int hessian) {
    const qb_eval_job *job = js->job;
    const qb_model *m = js->src->model;
    int32_t *ids = NULL, bos = -1;
    size_t n = 0;
    qb_llama *l = NULL;
    qb_calib_init(&js->cal, hessian, 0);
    js->have_cal = 1;
    qb_status st = qb_calib_tokens(m, job->calib_text_path, job->calib_tokens_path, &ids, &n, &bos);
    for (size_t t = 0; !st && t < n; t++)
        if (ids[t] < 0 || ids[t] >= js->ref_vocab)
            st = qb_fail(QB_EINPUT, "%s: token id %d at index %zu is outside the model's vocabulary of %d tokens",
                         job->calib_text_path ? job->calib_text_path : job->calib_tokens_path, ids[t], t, js->ref_vocab);
    qb_llama_opts o = {.threads = job->threads, .n_ctx = job->ctx};
    if (!st) st = qb_llama_load(m, &o, &l);
    if (!st) st = qb_calib_run(&js->cal, l, ids, (int64_t)n, job->ctx, job->calib_chunks, bos);
    if (st) qb_fail_context(st, "calibration: ");
    qb_llama_free(l);
    free(ids);
    return st;
}

typedef struct method_ctx {
    const qb_calib *cal;
    const char *method;
    qb_scales plan;   /* the per-channel scales of awq and smoothquant */
    int64_t ns; /* time spent quantizing */
} method_ctx;

/* qb_llama_quant_fn: a tensor with statistics goes through the method; any other (token_embd,
 * output) through the format's own quantize. */
static qb_status quant_method(void *ctx, const char *tensor, const qb_format *f, const float *x, void *q, int64_t rows, int64_t cols,
                              int threads) {
    method_ctx *mc = ctx;
    const int64_t t0 = qb_now_ns();
    const qb_calib_stat *s = qb_calib_find(mc->cal, tensor);
    qb_status st;
    if (strcmp(mc->method, "awq") == 0 || strcmp(mc->method, "smoothquant") == 0) {
        st = qb_scales_quant(&mc->plan, tensor, f, x, q, rows, cols, threads);
    } else if (s && s->h && s->cols == cols && strcmp(mc->method, "gptq") == 0 && qb_gptq_supports(f)) {
        qb_gptq_opts o = QB_GPTQ_DEFAULTS;
        st = qb_gptq_quantize(f, x, rows, cols, s->h, &o, q, threads);
    } else if (s && s->cols == cols && s->count > 0 && strcmp(mc->method, "imatrix") == 0) {
        float *imp = qb_malloc(sizeof *imp * (size_t)cols);
        for (int64_t j = 0; j < cols; j++) imp[j] = (float)(s->sum2[j] / (double)s->count);
        st = qb_format_quantize_mt(f, x, q, rows, cols, imp, threads);
        free(imp);
    } else {
        st = qb_format_quantize_mt(f, x, q, rows, cols, NULL, threads);
    }
    mc->ns += qb_now_ns() - t0;
    return st;
}

/* Moves test pp (1) or tg (0) of a fresh measurement into a row's result. */
static void take_test(qb_speed_result *dst, const qb_speed_result *src, int pp) {
    dst->reps = src->reps;
    if (pp) {
        dst->n_prompt = src->n_prompt, dst->pp_tps = src->pp_tps, dst->ttft_s = src->ttft_s, dst->rss_pp = src->rss_pp;
        memcpy(dst->pp_s, src->pp_s, sizeof dst->pp_s);
    } else {
        dst->n_gen = src->n_gen, dst->tg_tps = src->tg_tps, dst->rss_tg = src->rss_tg;
        dst->bytes_per_token = src->bytes_per_token, dst->read_bw = src->read_bw, dst->bound_tps = src->bound_tps;
        memcpy(dst->tg_s, src->tg_s, sizeof dst->tg_s);
    }
}

#define SPEED_PP 1 /* speed tests still to measure, as a mask */
#define SPEED_TG 2

static qb_speed_key speed_key(const job_state *js, const qb_eval_row *r, char *mb, size_t n) {
    return (qb_speed_key){js->key.run_id, js->key.model_id, r->format, db_method(r->method, mb, n), "cpu", js->job->threads};
}

/* The tests of `todo` on the loaded format, each stored as soon as it is measured. */
static qb_status measure_speed(job_state *js, qb_llama *l, const qb_eval_row *r, int todo, qb_speed_result *sr, progress *pg) {
    const qb_speed_opts *so = js->job->speed;
    char mb[64];
    const qb_speed_key k = speed_key(js, r, mb, sizeof mb);
    qb_status st = QB_OK;
    for (int pp = 1; pp >= 0 && !st; pp--) {
        if (!(todo & (pp ? SPEED_PP : SPEED_TG))) continue;
        qb_speed_opts one = *so;
        if (pp) one.n_gen = 0;
        else one.n_prompt = 0;
        char test[32], line[160];
        qb_speed_test_name(test, pp, pp ? so->n_prompt : so->n_gen);
        snprintf(line, sizeof line, "speed %s: %s, %d repetitions", r->format, test, so->reps);
        qb_progress(pg->done, pg->total, line);
        qb_speed_result *m = qb_malloc(sizeof *m);
        st = qb_speed_measure(l, &one, m);
        if (!st) st = qb_speed_put(js->db, &k, m, pp, 0);
        if (!st) take_test(sr, m, pp);
        free(m);
    }
    return st ? qb_fail_context(st, "format %s: ", r->format) : QB_OK;
}

/* Loads format i's model (quantized in memory, or a GGUF file); runs its pass and stores its
 * row when run_ppl, then measures the speed tests of speed_todo (into sr). */
static qb_status eval_format(job_state *js, int i, const char *spec, qb_eval_row *stored_row, int stored, int run_ppl, int speed_todo,
                             qb_speed_result *sr, progress *pg, double bytes, int32_t bos, qb_eval_row_fn fn, void *ctx) {
    const qb_eval_job *job = js->job;
    /* a stored row is loaded again only for the reference's records or the speed tests: its
     * stored figures stay the row's */
    qb_eval_row fresh = *stored_row, *r = stored ? &fresh : stored_row;
    qb_model variant;
    int have_variant = 0;
    qb_status st = QB_OK;
    const int64_t t0 = qb_now_ns();
    const spec_parts sp = split_spec(spec);
    int n_ctx = job->ctx; /* the speed tests fill the KV cache from empty, up to their longest */
    if (job->speed && job->speed->n_prompt > n_ctx) n_ctx = job->speed->n_prompt;
    if (job->speed && job->speed->n_gen > n_ctx) n_ctx = job->speed->n_gen;
    qb_llama_opts o = {.format = r->variant ? NULL : sp.w, .act_format = sp.act, .threads = job->threads, .n_ctx = n_ctx};
    const int calibrated = strcmp(r->method, "rtn") != 0;
    method_ctx mc = {.cal = &js->cal, .method = r->method};
    if (calibrated && !js->have_cal) {
        int hessian = 0;
        for (int k = 0; k < job->nmethods; k++) hessian |= strcmp(job->methods[k], "gptq") == 0 || strcmp(job->methods[k], "awq") == 0;
        if ((st = collect_calibration(js, hessian))) return st;
    }
    if (calibrated) o.quant = quant_method, o.quant_ctx = &mc;
    if (strcmp(r->method, "awq") == 0 || strcmp(r->method, "smoothquant") == 0) { /* the scale search, part of the method's time */
        const int64_t t1 = qb_now_ns();
        st = strcmp(r->method, "awq") == 0 ? qb_awq_search(js->src->model, &js->cal, qb_format_find(sp.w), &mc.plan)
                                           : qb_smoothquant_search(js->src->model, &js->cal, job->sq_alpha, &mc.plan);
        if (st) return qb_fail_context(st, "format %s: ", r->format);
        mc.ns += qb_now_ns() - t1;
        o.fold = qb_scales_fold, o.fold_ctx = &mc.plan;
    }
    if (r->variant) {
        st = qb_model_open(&variant, r->variant);
        have_variant = st == QB_OK;
    }
    qb_llama *l = NULL;
    if (!st) st = qb_llama_load(have_variant ? &variant : js->src->model, &o, &l);
    if (st) {
        qb_fail_context(st, "format %s: ", r->format);
        if (have_variant) qb_model_close(&variant);
        qb_scales_free(&mc.plan);
        return st;
    }
    r->load_s = (double)(qb_now_ns() - t0) / 1e9;
    /* fairness between formats: the previous format is freed, and the stored model's pages that
     * loading read (an f16 source quantized to q4_0) leave the resident set before the peak is
     * reset; pages the evaluation itself reads (weights used in place) come back and count */
    qb_model_release_all(js->src->model);
    if (have_variant) qb_model_release_all(&variant);
    struct stat fst;
    r->file_bytes = have_variant && stat(r->variant, &fst) == 0 ? (int64_t)fst.st_size : 0;
    const int V = qb_llama_n_vocab(l);
    if (run_ppl && i == 0) {
        const int32_t train = qb_llama_n_ctx_train(l);
        if (train > 0 && job->ctx > train)
            fprintf(stderr, "warning: %s was trained on only %d context tokens (--ctx %d), as llama-perplexity warns\n", job->model_path,
                    train, job->ctx);
        for (size_t t = 0; t < js->text->n && !st; t++) /* invariant 3 */
            if (js->text->ids[t] < 0 || js->text->ids[t] >= V)
                st = qb_fail(QB_EINPUT, "%s: token id %d at index %zu is outside the model's vocabulary of %d tokens",
                             job->text_path ? job->text_path : job->tokens_path, js->text->ids[t], t, V);
        if (!st) st = refstore_open(&js->rs, job, js->db->path, &js->plan, V);
        if (!st && js->text->no_tok_note) fprintf(stderr, "note: without the model's tokenizer, no BOS replacement and no bits per byte (%s)\n", js->text->no_tok_note);
        js->ref_vocab = V;
    } else if (run_ppl && V != js->ref_vocab) {
        st = qb_fail(QB_EINPUT, "format %s: the model has %d tokens in its vocabulary, the reference %d; KLD needs the same vocabulary",
                     r->format, V, js->ref_vocab);
    }
    qb_ppl_acc acc;
    qb_ppl_acc_init(&acc);
    double eval_s = 0;
    if (!st && run_ppl) {
        const int peak_ok = qb_rss_peak_reset();
        st = run_pass(l, &js->plan, js->text->ids, bos, i == 0, &js->rs, job->threads, r->format, pg, &acc, &eval_s);
        r->rss_peak = peak_ok ? qb_rss_peak_bytes() : 0;
    }
    if (!st && run_ppl) {
        qb_ppl_acc_stats(&acc, &r->st);
        r->chunks = js->plan.n_chunks;
        r->tokens = acc.n;
        r->threads = job->threads;
        r->bits_per_weight = qb_llama_bpw(l);
        r->model_bytes = (int64_t)qb_llama_weight_bytes(l);
        r->bpb = bytes > 0 ? log2(r->st.ppl) * (double)acc.n / bytes : NAN; /* = Σ NLL / (ln 2 · bytes) */
        r->tokens_per_s = eval_s > 0 ? (double)js->plan.n_chunks * js->plan.n_ctx / eval_s : NAN;
        r->calib_s = calibrated ? js->cal.collect_s + (double)mc.ns / 1e9 : NAN;
    }
    qb_ppl_acc_free(&acc);
    if (!st && !stored) { /* the row is committed before the speed tests start (invariant 1) */
        char *variant_id = NULL;
        if (have_variant) { /* the file evaluated, as an input of its own */
            qb_source vs;
            st = qb_source_open(&vs, r->variant, 0);
            if (!st) {
                qb_input vin = {vs.id, vs.kind, vs.name, vs.spec, vs.content_hash, vs.tensors[0].rows, vs.tensors[0].cols};
                st = qb_db_put_input(js->db, &vin);
                variant_id = qb_strdup(vs.id);
                qb_source_close(&vs);
            }
        }
        if (!st) st = put_row(js->db, &js->key, r, variant_id);
        free(variant_id);
    }
    if (!st && speed_todo) st = measure_speed(js, l, r, speed_todo, sr, pg);
    qb_llama_free(l);
    qb_scales_free(&mc.plan);
    if (!st && fn) fn(ctx, stored_row, stored);
    if (have_variant) qb_model_close(&variant);
    return st;
}

/* The passes: the reference first, then every other format in the order given. */
static qb_status eval_formats(job_state *js, qb_eval_row_fn fn, void *ctx) {
    const qb_eval_job *job = js->job;
    static const char *const rtn_only[] = {"rtn"};
    const char *const *methods = job->nmethods ? job->methods : rtn_only;
    const int nmethods = job->nmethods ? job->nmethods : 1;
    /* (format, method) pairs: the reference (rtn) first, then each format under each method that applies */
    const size_t cap = (size_t)(job->nformats * nmethods + 1);
    const char **todo = qb_malloc(sizeof *todo * cap), **meth = qb_malloc(sizeof *meth * cap);
    int ntodo = 0, need_records = 0;
    todo[ntodo] = job->ref, meth[ntodo++] = "rtn";
    for (int i = 0; i < job->nformats; i++)
        for (int m = 0; m < nmethods; m++) {
            int dup = 0;
            for (int k = 0; k < ntodo; k++) dup |= strcmp(todo[k], job->formats[i]) == 0 && strcmp(meth[k], methods[m]) == 0;
            if (dup) continue;
            if (!method_applies(methods[m], job->formats[i])) {
                fprintf(stderr, "note: method %s does not apply to %s (imatrix: formats that take importance weights and llama.cpp "
                                "file types; gptq: int*_g* group formats, q4_0, q8_0, q2_K … q6_K; awq, smoothquant: quantized registry formats); "
                                "skipped\n", methods[m], job->formats[i]);
                continue;
            }
            todo[ntodo] = job->formats[i], meth[ntodo++] = methods[m];
        }
    qb_eval_row *rows = qb_calloc((size_t)ntodo, sizeof *rows);
    int *stored = qb_calloc((size_t)ntodo, sizeof *stored), *speed_todo = qb_calloc((size_t)ntodo, sizeof *speed_todo);
    qb_speed_result *speeds = job->speed ? qb_malloc(sizeof *speeds * (size_t)ntodo) : NULL;
    for (int i = 0; i < ntodo; i++) {
        rows[i].method = meth[i];
        rows[i].calib_s = NAN;
        rows[i].format = is_path(todo[i]) ? base_name(todo[i]) : todo[i];
        rows[i].variant = is_path(todo[i]) ? todo[i] : NULL;
        rows[i].ref_format = job->ref;
        rows[i].ctx = job->ctx;
        stored[i] = get_row(js->db, &js->key, &rows[i]);
        if (i > 0 && !stored[i]) need_records = 1;
        if (!job->speed) continue;
        char mb[64];
        const qb_speed_key k = speed_key(js, &rows[i], mb, sizeof mb);
        qb_speed_result_init(&speeds[i]);
        rows[i].speed = &speeds[i];
        if (job->speed->n_prompt > 0 && !qb_speed_get(js->db, &k, 1, job->speed->n_prompt, &speeds[i])) speed_todo[i] |= SPEED_PP;
        if (job->speed->n_gen > 0 && !qb_speed_get(js->db, &k, 0, job->speed->n_gen, &speeds[i])) speed_todo[i] |= SPEED_TG;
    }
    const double bytes = scored_bytes(js->text->tok, &js->plan, js->text->ids);
    const int32_t bos = js->text->tok && qb_tokenizer_add_bos(js->text->tok) ? qb_tokenizer_bos(js->text->tok) : -1;
    progress pg = {0, 0, qb_now_ns()};
    for (int i = 0; i < ntodo; i++) pg.total += (i == 0 ? !stored[0] || need_records : !stored[i]) ? js->plan.n_chunks : 0;
    qb_status st = QB_OK;
    for (int i = 0; i < ntodo && !st; i++) {
        const int run_ppl = !stored[i] || (i == 0 && need_records);
        if (!run_ppl && !speed_todo[i]) { /* invariant 1: a resumed run */
            if (fn) fn(ctx, &rows[i], 1);
            continue;
        }
        st = eval_format(js, i, todo[i], &rows[i], stored[i], run_ppl, speed_todo[i], speeds ? &speeds[i] : NULL, &pg, bytes, bos, fn, ctx);
    }
    qb_progress_done();
    free(todo);
    free(meth);
    free(rows);
    free(stored);
    free(speed_todo);
    free(speeds);
    return st;
}

/* The default reference: the weights as stored when every quantizable tensor is f16 (or every
 * one bf16), which is what llama.cpp users compare with and needs no f32 copy; else f32. */
static const char *default_ref(const qb_model *m) {
    const char *common = NULL;
    for (int i = 0; i < m->n; i++) {
        const qb_model_tensor *t = &m->t[i];
        if (!qb_mix_quantizable(t->name, (int)t->n_dims)) continue;
        const char *name = t->decoder ? t->decoder->name : "?";
        if (common && strcmp(common, name) != 0) return "f32";
        common = name;
    }
    return common && (strcmp(common, "f16") == 0 || strcmp(common, "bf16") == 0) ? common : "f32";
}

qb_status qb_eval_run(qb_db *db, const char *run_id, const qb_eval_job *job_in, qb_eval_row_fn fn, void *ctx) {
    qb_status st = check_formats(job_in);
    if (st) return st;
    qb_source src;
    if ((st = qb_source_open(&src, job_in->model_path, 0))) return st;
    qb_eval_job resolved = *job_in, *job = &resolved;
    if (!job->ref) job->ref = default_ref(src.model);
    /* the same row `errors` writes for this model (equal ids must hold equal rows: merge.h) */
    qb_input min = {src.id, src.kind, src.name, src.spec, src.content_hash, src.tensors[0].rows, src.tensors[0].cols};
    text_in text = {0};
    job_state js = {.db = db, .job = job, .src = &src, .text = &text, .rs = {.fd = -1}};
    st = qb_db_put_input(db, &min);
    if (!st) st = load_text(db, job, src.model, &text);
    if (!st) st = qb_ppl_plan_make((int64_t)text.n, job->ctx, job->max_chunks, &js.plan);
    if (!st) {
        js.key = (rowkey){run_id, src.id, text.id};
        st = eval_formats(&js, fn, ctx);
    }
    refstore_close(&js.rs);
    if (js.have_cal) qb_calib_free(&js.cal);
    if (text.tok) qb_tokenizer_free(text.tok);
    free(text.ids);
    free(text.id);
    free(text.no_tok_note);
    qb_source_close(&src);
    return st;
}
