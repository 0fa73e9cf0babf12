/* db.c — see db.h. Design notes:
 *  - WAL lets readers (a report, a test polling for rows) run beside a writer; busy_timeout
 *    plus BEGIN IMMEDIATE makes concurrent writers queue instead of failing with SQLITE_BUSY
 *    halfway through a transaction (a deferred transaction that upgrades can deadlock).
 *  - synchronous=NORMAL in WAL mode: a committed transaction survives the process being
 *    killed (the WAL is in the OS page cache); only a power cut can lose the last commits. */
#define _GNU_SOURCE
#include "db.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/io.h"
#include "../formats/mixes.h"
#include "schema.h"

static qb_status dberr(qb_db *db, const char *what) {
    return qb_fail(QB_EDB, "database %s: %s failed: %s", db->path, what, sqlite3_errmsg(db->h));
}

/* Steps a statement to completion; SQLITE_BUSY beyond busy_timeout is reported, not looped. */
static int step_done(sqlite3_stmt *s) {
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    }
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static qb_status exec_raw(qb_db *db, const char *sql, const char *what) {
    char *msg = NULL;
    if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        qb_status st = qb_fail(QB_EDB, "database %s: %s failed: %s", db->path, what, msg ? msg : "?");
        sqlite3_free(msg);
        return st;
    }
    return QB_OK;
}

static qb_status begin(qb_db *db) { return exec_raw(db, "BEGIN IMMEDIATE", "BEGIN IMMEDIATE"); }

static qb_status commit(qb_db *db, qb_status st) {
    if (st == QB_OK) return exec_raw(db, "COMMIT", "COMMIT");
    sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
    return st;
}

qb_status qb_db_exec(qb_db *db, const char *sql) {
    qb_status st = begin(db);
    if (st) return st;
    return commit(db, exec_raw(db, sql, "statement"));
}

static qb_status migrate(qb_db *db) {
    qb_status st = begin(db);
    if (st) return st;
    sqlite3_stmt *s;
    int appid = 0, ver = 0, ntables = 0;
    if (sqlite3_prepare_v2(db->h, "SELECT (SELECT application_id FROM pragma_application_id),"
                                  " (SELECT user_version FROM pragma_user_version),"
                                  " (SELECT count(*) FROM sqlite_schema)", -1, &s, NULL) != SQLITE_OK)
        return commit(db, dberr(db, "reading the schema version"));
    if (sqlite3_step(s) == SQLITE_ROW) {
        appid = sqlite3_column_int(s, 0);
        ver = sqlite3_column_int(s, 1);
        ntables = sqlite3_column_int(s, 2);
    }
    sqlite3_finalize(s);
    if (ntables > 0 && appid != QB_APPLICATION_ID)
        return commit(db, qb_fail(QB_EDB, "database %s is not a quantbench database (application_id %d); choose another --db", db->path, appid));
    if (ver > qb_schema_version())
        return commit(db, qb_fail(QB_EDB, "database %s has schema version %d, newer than this quantbench (%d); upgrade quantbench",
                                  db->path, ver, qb_schema_version()));
    for (; ver < qb_schema_version(); ver++) {
        st = exec_raw(db, qb_schema_migration(ver), "schema migration");
        if (st) return commit(db, st);
        char pragma[96];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d; PRAGMA application_id=%d", ver + 1, QB_APPLICATION_ID);
        st = exec_raw(db, pragma, "schema migration");
        if (st) return commit(db, st);
    }
    return commit(db, QB_OK);
}

/* Invariant 2 of schema.c: a 'running' run of this host whose process is gone was killed. */
static qb_status mark_dead_runs(qb_db *db) {
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db->h, "SELECT id, pid FROM runs WHERE status='running' AND host=?", -1, &s, NULL) != SQLITE_OK)
        return dberr(db, "listing running runs");
    sqlite3_bind_text(s, 1, host, -1, SQLITE_TRANSIENT);
    char dead[64][37];
    int ndead = 0;
    while (sqlite3_step(s) == SQLITE_ROW && ndead < 64) {
        pid_t pid = (pid_t)sqlite3_column_int64(s, 1);
        if (pid > 0 && kill(pid, 0) != 0 && errno == ESRCH)
            snprintf(dead[ndead++], 37, "%s", (const char *)sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
    for (int i = 0; i < ndead; i++) {
        qb_status st = qb_db_finish_run(db, dead[i], "incomplete", "the process ended before the run finished (killed?)");
        if (st) return st;
    }
    return QB_OK;
}

/* Refuses, before writing anything (even the WAL switch), a file that holds tables but is
 * not marked as ours, or whose schema is newer than this build. */
static qb_status check_ours(qb_db *db) {
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db->h, "SELECT (SELECT application_id FROM pragma_application_id),"
                                  " (SELECT user_version FROM pragma_user_version),"
                                  " (SELECT count(*) FROM sqlite_schema)", -1, &s, NULL) != SQLITE_OK)
        return dberr(db, "reading the schema version (is it an SQLite database?)");
    int appid = 0, ver = 0, ntables = 0;
    if (sqlite3_step(s) == SQLITE_ROW) {
        appid = sqlite3_column_int(s, 0);
        ver = sqlite3_column_int(s, 1);
        ntables = sqlite3_column_int(s, 2);
    }
    sqlite3_finalize(s);
    if (ntables > 0 && appid != QB_APPLICATION_ID)
        return qb_fail(QB_EDB, "database %s is not a quantbench database (application_id %d); choose another --db", db->path, appid);
    if (ver > qb_schema_version())
        return qb_fail(QB_EDB, "database %s has schema version %d, newer than this quantbench (%d); upgrade quantbench",
                       db->path, ver, qb_schema_version());
    return QB_OK;
}

/* Switching a new file to WAL needs an exclusive lock that SQLite does not wait for through
 * the busy handler, so two processes creating one database race here: retry, bounded. */
static qb_status set_wal(qb_db *db) {
    for (int attempt = 0;; attempt++) {
        int rc = sqlite3_exec(db->h, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
        if (rc == SQLITE_OK) return QB_OK;
        if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) break;
        if (attempt == 6000) break; /* 60 s, as busy_timeout */
        usleep(10000);
    }
    return dberr(db, "setting WAL mode (is the file and its directory writable?)");
}

qb_status qb_db_open(qb_db *db, const char *path) {
    memset(db, 0, sizeof *db);
    db->path = qb_strdup(path);
    char *dir = qb_strdup(path), *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (qb_mkdirs(dir) != QB_OK) {
            qb_status st = qb_fail_context(QB_EDB, "database %s (choose a writable --db)", path);
            free(dir);
            qb_db_close(db);
            return st;
        }
    }
    free(dir);
    if (sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        qb_status st = qb_fail(QB_EDB, "cannot open database %s: %s (choose a writable --db)", path,
                               db->h ? sqlite3_errmsg(db->h) : "out of memory");
        qb_db_close(db);
        return st;
    }
    sqlite3_busy_timeout(db->h, 60000);
    sqlite3_extended_result_codes(db->h, 1);
    qb_status st = check_ours(db);
    if (!st) st = set_wal(db);
    if (!st) st = exec_raw(db, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON", "setting pragmas");
    if (!st) st = migrate(db);
    if (!st) st = mark_dead_runs(db);
    if (st) qb_db_close(db);
    return st;
}

void qb_db_close(qb_db *db) {
    if (db->h) sqlite3_close_v2(db->h);
    free(db->path);
    memset(db, 0, sizeof *db);
}

/* ---- runs --------------------------------------------------------------------------- */

static qb_status put_machine(qb_db *db, const qb_machine *m) {
    sqlite3_stmt *s;
    const char *sql =
        "INSERT INTO machines(id, hostname, cpu_model, cpu_flags, cores, l1d_bytes, l2_bytes, l3_bytes,"
        " mem_bytes, os, kernel, compiler, cflags, sqlite_version, openblas, onednn, cuda_driver,"
        " cuda_runtime, gpus, fingerprint) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT(id) DO NOTHING";
    if (sqlite3_prepare_v2(db->h, sql, -1, &s, NULL) != SQLITE_OK) return dberr(db, "storing the machine");
    int k = 1;
    sqlite3_bind_text(s, k++, m->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, k++, m->hostname, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, k++, m->cpu_model, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, k++, m->cpu_flags, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, k++, m->cores);
    sqlite3_bind_int64(s, k++, m->l1d_bytes);
    sqlite3_bind_int64(s, k++, m->l2_bytes);
    sqlite3_bind_int64(s, k++, m->l3_bytes);
    sqlite3_bind_int64(s, k++, m->mem_bytes);
    sqlite3_bind_text(s, k++, m->os, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, k++, m->kernel, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, k++, m->compiler, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, k++, m->cflags, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, k++, m->sqlite_version, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, k++, m->openblas, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, k++, m->onednn, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, k++, m->cuda_driver, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, k++, m->cuda_runtime, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, k++, m->gpus, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, k++, m->json, -1, SQLITE_STATIC);
    int rc = step_done(s);
    sqlite3_finalize(s);
    return rc == SQLITE_OK ? QB_OK : dberr(db, "storing the machine");
}

static qb_status put_formats(qb_db *db) {
    sqlite3_stmt *s;
    const char *sql =
        "INSERT INTO formats(name, family, description, block_elems, block_bytes, row_extra_bytes,"
        " tensor_extra_bytes, gguf_type) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(name) DO UPDATE SET"
        " family=excluded.family, description=excluded.description, block_elems=excluded.block_elems,"
        " block_bytes=excluded.block_bytes, row_extra_bytes=excluded.row_extra_bytes,"
        " tensor_extra_bytes=excluded.tensor_extra_bytes, gguf_type=excluded.gguf_type";
    if (sqlite3_prepare_v2(db->h, sql, -1, &s, NULL) != SQLITE_OK) return dberr(db, "storing formats");
    for (int i = 0; i < qb_format_count(); i++) {
        const qb_format *f = qb_format_at(i);
        sqlite3_reset(s);
        sqlite3_bind_text(s, 1, f->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, f->family, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, f->description, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 4, f->block_elems);
        sqlite3_bind_int(s, 5, f->block_bytes);
        sqlite3_bind_int(s, 6, f->row_extra_bytes);
        sqlite3_bind_int(s, 7, f->tensor_extra_bytes);
        if (f->gguf_type >= 0) sqlite3_bind_int(s, 8, f->gguf_type);
        else sqlite3_bind_null(s, 8);
        if (step_done(s) != SQLITE_OK) {
            sqlite3_finalize(s);
            return dberr(db, "storing formats");
        }
    }
    /* llama.cpp file types are schemes of formats: rows of family 'mix' with no block of their own */
    for (int i = 0; i < qb_mix_count(); i++) {
        const qb_mix *mx = qb_mix_at(i);
        char desc[160];
        snprintf(desc, sizeof desc, "llama.cpp file type %s (general.file_type %u): llama-quantize's per-tensor types, mostly %s",
                 mx->name, mx->file_type, mx->base);
        sqlite3_reset(s);
        sqlite3_bind_text(s, 1, mx->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, "mix", -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, desc, -1, SQLITE_TRANSIENT);
        for (int k = 4; k <= 7; k++) sqlite3_bind_int(s, k, 0);
        sqlite3_bind_null(s, 8);
        if (step_done(s) != SQLITE_OK) {
            sqlite3_finalize(s);
            return dberr(db, "storing formats");
        }
    }
    sqlite3_finalize(s);
    return QB_OK;
}

qb_status qb_db_begin_run(qb_db *db, const qb_machine *m, const qb_run_info *ri, char run_id[37]) {
    qb_status st = begin(db);
    if (st) return st;
    st = put_machine(db, m);
    if (!st) st = put_formats(db);
    if (st) return commit(db, st);
    qb_uuid(run_id);
    char now[32], host[256] = "";
    qb_utc_iso(now);
    gethostname(host, sizeof host - 1);
    sqlite3_stmt *s;
    const char *sql = "INSERT INTO runs(id, machine_id, command, suite, config, argv, version, git_commit, seed,"
                      " host, pid, started_at, status) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,'running')";
    if (sqlite3_prepare_v2(db->h, sql, -1, &s, NULL) != SQLITE_OK) return commit(db, dberr(db, "starting a run"));
    sqlite3_bind_text(s, 1, run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, m->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, ri->command, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, ri->suite, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, ri->config, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, ri->argv, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 7, m->version, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 8, m->git_commit, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 9, ri->seed);
    sqlite3_bind_text(s, 10, host, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 11, (int64_t)getpid());
    sqlite3_bind_text(s, 12, now, -1, SQLITE_TRANSIENT);
    int rc = step_done(s);
    sqlite3_finalize(s);
    return commit(db, rc == SQLITE_OK ? QB_OK : dberr(db, "starting a run"));
}

qb_status qb_db_resume_run(qb_db *db, const qb_run_info *ri, const char *want, char run_id[37]) {
    qb_status st = begin(db);
    if (st) return st;
    sqlite3_stmt *s;
    const char *sql = want
        ? "SELECT id, config, status, command FROM runs WHERE substr(id, 1, length(?1)) = ?1 ORDER BY started_at DESC LIMIT 2"
        : "SELECT id, config, status, command FROM runs WHERE command = ? AND config = ?"
          " AND status IN ('incomplete','failed') ORDER BY started_at DESC LIMIT 1";
    if (sqlite3_prepare_v2(db->h, sql, -1, &s, NULL) != SQLITE_OK) return commit(db, dberr(db, "finding the run to resume"));
    if (want) {
        sqlite3_bind_text(s, 1, want, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_text(s, 1, ri->command, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, ri->config, -1, SQLITE_STATIC);
    }
    int found = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (++found > 1) break;
        snprintf(run_id, 37, "%s", (const char *)sqlite3_column_text(s, 0));
        const char *config = (const char *)sqlite3_column_text(s, 1);
        const char *status = (const char *)sqlite3_column_text(s, 2);
        const char *command = (const char *)sqlite3_column_text(s, 3);
        if (strcmp(command, ri->command) != 0 || strcmp(config, ri->config) != 0)
            st = qb_fail(QB_EUSAGE, "run %s was started as '%s' with options %s; resume it with the same options", run_id, command, config);
        else if (strcmp(status, "complete") == 0)
            st = qb_fail(QB_EUSAGE, "run %s is already complete; nothing to resume", run_id);
        else if (strcmp(status, "running") == 0)
            st = qb_fail(QB_EUSAGE, "run %s is still running in another process", run_id);
    }
    sqlite3_finalize(s);
    if (!st && found == 0)
        st = want ? qb_fail(QB_EUSAGE, "no run with id '%s' in %s", want, db->path)
                  : qb_fail(QB_EUSAGE, "no incomplete '%s' run with these options in %s to resume", ri->command, db->path);
    if (!st && found > 1) st = qb_fail(QB_EUSAGE, "run id prefix '%s' is ambiguous; give more characters", want);
    if (st) return commit(db, st);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    if (sqlite3_prepare_v2(db->h, "UPDATE runs SET status='running', host=?, pid=?, finished_at=NULL, error=NULL WHERE id=?",
                           -1, &s, NULL) != SQLITE_OK)
        return commit(db, dberr(db, "resuming a run"));
    sqlite3_bind_text(s, 1, host, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, (int64_t)getpid());
    sqlite3_bind_text(s, 3, run_id, -1, SQLITE_STATIC);
    int rc = step_done(s);
    sqlite3_finalize(s);
    return commit(db, rc == SQLITE_OK ? QB_OK : dberr(db, "resuming a run"));
}

qb_status qb_db_finish_run(qb_db *db, const char *run_id, const char *status, const char *error) {
    qb_status st = begin(db);
    if (st) return st;
    sqlite3_stmt *s;
    char now[32];
    qb_utc_iso(now);
    if (sqlite3_prepare_v2(db->h, "UPDATE runs SET status=?, finished_at=?, error=? WHERE id=?", -1, &s, NULL) != SQLITE_OK)
        return commit(db, dberr(db, "finishing a run"));
    sqlite3_bind_text(s, 1, status, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, now, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, error, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, run_id, -1, SQLITE_STATIC);
    int rc = step_done(s);
    sqlite3_finalize(s);
    return commit(db, rc == SQLITE_OK ? QB_OK : dberr(db, "finishing a run"));
}

/* ---- results ------------------------------------------------------------------------ */

qb_status qb_db_put_input(qb_db *db, const qb_input *in) {
    qb_status st = begin(db);
    if (st) return st;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db->h, "INSERT INTO inputs(id, kind, name, spec, rows, cols, content_hash)"
                                  " VALUES (?,?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING", -1, &s, NULL) != SQLITE_OK)
        return commit(db, dberr(db, "storing an input"));
    sqlite3_bind_text(s, 1, in->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, in->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, in->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, in->spec, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, in->rows);
    sqlite3_bind_int64(s, 6, in->cols);
    sqlite3_bind_text(s, 7, in->content_hash, -1, SQLITE_STATIC);
    int rc = step_done(s);
    sqlite3_finalize(s);
    return commit(db, rc == SQLITE_OK ? QB_OK : dberr(db, "storing an input"));
}

void qb_db_bind_real(sqlite3_stmt *s, int k, double v) {
    if (v != v) sqlite3_bind_null(s, k);
    else sqlite3_bind_double(s, k, v);
}

void qb_db_bind_pos(sqlite3_stmt *s, int k, int64_t v) {
    if (v > 0) sqlite3_bind_int64(s, k, v);
    else sqlite3_bind_null(s, k);
}

double qb_db_col_real(sqlite3_stmt *s, int k) { return sqlite3_column_type(s, k) == SQLITE_NULL ? NAN : sqlite3_column_double(s, k); }

qb_status qb_db_put_tensor_error(qb_db *db, const char *run_id, const qb_tensor_error *e) {
    qb_status st = begin(db);
    if (st) return st;
    sqlite3_stmt *s;
    char now[32];
    qb_utc_iso(now);
    if (sqlite3_prepare_v2(db->h, "INSERT INTO tensor_errors(run_id, input_id, tensor, format, rows, cols,"
                                  " bits_per_weight, mse, rmse, max_abs, sqnr_db, cosine, created_at, tensor_format,"
                                  " p50_abs, p95_abs, p99_abs, p999_abs, hist)"
                                  " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", -1, &s, NULL) != SQLITE_OK)
        return commit(db, dberr(db, "storing an error row"));
    sqlite3_bind_text(s, 1, run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, e->input_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, e->tensor, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, e->format, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, e->rows);
    sqlite3_bind_int64(s, 6, e->cols);
    sqlite3_bind_double(s, 7, e->bits_per_weight);
    qb_db_bind_real(s, 8, e->mse);
    qb_db_bind_real(s, 9, e->rmse);
    qb_db_bind_real(s, 10, e->max_abs);
    qb_db_bind_real(s, 11, e->sqnr_db);
    qb_db_bind_real(s, 12, e->cosine);
    sqlite3_bind_text(s, 13, now, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 14, e->tensor_format, -1, SQLITE_STATIC);
    qb_db_bind_real(s, 15, e->p50_abs);
    qb_db_bind_real(s, 16, e->p95_abs);
    qb_db_bind_real(s, 17, e->p99_abs);
    qb_db_bind_real(s, 18, e->p999_abs);
    sqlite3_bind_text(s, 19, e->hist, -1, SQLITE_STATIC);
    int rc = step_done(s);
    sqlite3_finalize(s);
    return commit(db, rc == SQLITE_OK ? QB_OK : dberr(db, "storing an error row"));
}

int qb_db_get_tensor_error(qb_db *db, const char *run_id, qb_tensor_error *e) {
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db->h, "SELECT rows, cols, bits_per_weight, mse, rmse, max_abs, sqnr_db, cosine,"
                                  " p50_abs, p95_abs, p99_abs, p999_abs"
                                  " FROM tensor_errors WHERE run_id=? AND input_id=? AND tensor=? AND format=?",
                           -1, &s, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(s, 1, run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, e->input_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, e->tensor, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, e->format, -1, SQLITE_STATIC);
    int found = sqlite3_step(s) == SQLITE_ROW;
    if (found) {
        e->rows = sqlite3_column_int64(s, 0);
        e->cols = sqlite3_column_int64(s, 1);
        double *v[] = {&e->bits_per_weight, &e->mse, &e->rmse, &e->max_abs, &e->sqnr_db, &e->cosine,
                       &e->p50_abs, &e->p95_abs, &e->p99_abs, &e->p999_abs};
        for (int k = 0; k < 10; k++)
            *v[k] = qb_db_col_real(s, k + 2);
    }
    sqlite3_finalize(s);
    return found;
}

qb_status qb_db_latest_run(qb_db *db, char run_id[37]) {
    sqlite3_stmt *s;
    const char *sql = "SELECT id FROM runs r WHERE EXISTS (SELECT 1 FROM tensor_errors e WHERE e.run_id = r.id)"
                      " OR EXISTS (SELECT 1 FROM bench_cases b WHERE b.run_id = r.id)"
                      " OR EXISTS (SELECT 1 FROM evals v WHERE v.run_id = r.id)"
                      " OR EXISTS (SELECT 1 FROM model_speed p WHERE p.run_id = r.id)"
                      " ORDER BY started_at DESC, rowid DESC LIMIT 1";
    if (sqlite3_prepare_v2(db->h, sql, -1, &s, NULL) != SQLITE_OK) return dberr(db, "finding the latest run");
    qb_status st = QB_OK;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) snprintf(run_id, 37, "%s", (const char *)sqlite3_column_text(s, 0));
    else if (rc == SQLITE_DONE) st = qb_fail(QB_EUSAGE, "database %s holds no results yet; run 'quantbench run --suite default' first", db->path);
    else st = dberr(db, "finding the latest run");
    sqlite3_finalize(s);
    return st;
}
