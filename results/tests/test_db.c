/* test_db.c — the results store keeps its promises (results/schema.c invariants):
 *  - a new file gets the schema version, application_id, WAL and foreign keys;
 *  - a file that is not ours, or is newer than this build, is refused with a clear message;
 *  - two processes writing one database at once lose no row;
 *  - a real `quantbench errors` run killed with SIGKILL mid-way leaves integrity_check = ok,
 *    every row committed before the kill, and the run marked incomplete; `--resume`
 *    finishes it as the same run with each row exactly once. */
#define _GNU_SOURCE
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/qbtest.h"
#include "results/db.h"
#include "results/schema.h"

static char tmpdir[64];
static const char *quantbench;

static int64_t query_int(sqlite3 *h, const char *sql) {
    sqlite3_stmt *s;
    int64_t v = -1;
    if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static char *query_text(sqlite3 *h, const char *sql) {
    sqlite3_stmt *s;
    char *v = NULL;
    if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
        v = qb_strdup((const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return v;
}

static void test_schema(void) {
    char *path = qb_asprintf("%s/sub/dir/new.db", tmpdir); /* parent directories are created */
    qb_db db;
    CHECK(qb_db_open(&db, path) == QB_OK, "%s", qb_errmsg());
    CHECK(query_int(db.h, "PRAGMA user_version") == qb_schema_version(), "user_version");
    CHECK(query_int(db.h, "PRAGMA application_id") == QB_APPLICATION_ID, "application_id");
    CHECK(query_int(db.h, "PRAGMA foreign_keys") == 1, "foreign_keys");
    char *mode = query_text(db.h, "PRAGMA journal_mode");
    CHECK(mode && strcmp(mode, "wal") == 0, "journal_mode %s", mode ? mode : "?");
    free(mode);
    /* a foreign key violation is refused: the store cannot hold an orphan row */
    CHECK(sqlite3_exec(db.h, "INSERT INTO tensor_errors(run_id,input_id,tensor,format,rows,cols,bits_per_weight,created_at)"
                             " VALUES ('nope','nope','','f16',1,1,16,'x')", NULL, NULL, NULL) != SQLITE_OK, "orphan row stored");
    qb_db_close(&db);
    CHECK(qb_db_open(&db, path) == QB_OK, "reopen: %s", qb_errmsg()); /* idempotent migration */
    sqlite3_exec(db.h, "PRAGMA user_version=999", NULL, NULL, NULL);
    qb_db_close(&db);
    CHECK(qb_db_open(&db, path) == QB_EDB && strstr(qb_errmsg(), "newer than this quantbench"), "%s", qb_errmsg());
    free(path);

    path = qb_asprintf("%s/other.db", tmpdir);
    sqlite3 *h;
    sqlite3_open(path, &h);
    sqlite3_exec(h, "CREATE TABLE t(x)", NULL, NULL, NULL);
    sqlite3_close(h);
    CHECK(qb_db_open(&db, path) == QB_EDB && strstr(qb_errmsg(), "not a quantbench database"), "%s", qb_errmsg());
    free(path);
    path = qb_asprintf("%s/other.db/x.db", tmpdir); /* parent is a file */
    CHECK(qb_db_open(&db, path) == QB_EDB && strstr(qb_errmsg(), "--db"), "%s", qb_errmsg());
    free(path);
}

enum { PER_WRITER = 300 };

static void writer(const char *path, int id) {
    qb_db db;
    if (qb_db_open(&db, path) != QB_OK) {
        fprintf(stderr, "writer %d: %s\n", id, qb_errmsg());
        _exit(10);
    }
    qb_machine m;
    qb_machine_collect(&m);
    qb_run_info ri = {.command = "test", .config = "{}", .argv = "test_db"};
    char run[37], input[32];
    if (qb_db_begin_run(&db, &m, &ri, run) != QB_OK) _exit(11);
    snprintf(input, sizeof input, "writer%d", id);
    qb_input in = {input, "synthetic", input, input, "0", 1, 1};
    if (qb_db_put_input(&db, &in) != QB_OK) _exit(12);
    for (int i = 0; i < PER_WRITER; i++) {
        char tensor[32];
        snprintf(tensor, sizeof tensor, "t%d", i);
        qb_tensor_error e = {.input_id = input, .tensor = tensor, .format = "f16", .rows = 1, .cols = 1, .bits_per_weight = 16,
                             .sqnr_db = 1, .cosine = 1, .p50_abs = NAN, .p95_abs = NAN, .p99_abs = NAN, .p999_abs = NAN};
        if (qb_db_put_tensor_error(&db, run, &e) != QB_OK) {
            fprintf(stderr, "writer %d row %d: %s\n", id, i, qb_errmsg());
            _exit(13);
        }
    }
    qb_db_finish_run(&db, run, "complete", NULL);
    qb_machine_free(&m);
    qb_db_close(&db);
    _exit(0);
}

static void test_concurrent_writers(void) {
    char *path = qb_asprintf("%s/concurrent.db", tmpdir);
    pid_t kids[2];
    for (int k = 0; k < 2; k++)
        if ((kids[k] = fork()) == 0) writer(path, k);
    for (int k = 0; k < 2; k++) {
        int status;
        waitpid(kids[k], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer %d exited with %d", k, WEXITSTATUS(status));
    }
    qb_db db;
    CHECK(qb_db_open(&db, path) == QB_OK, "%s", qb_errmsg());
    CHECK(query_int(db.h, "SELECT count(*) FROM tensor_errors") == 2 * PER_WRITER, "rows %lld of %d",
          (long long)query_int(db.h, "SELECT count(*) FROM tensor_errors"), 2 * PER_WRITER);
    CHECK(query_int(db.h, "SELECT count(*) FROM runs WHERE status='complete'") == 2, "runs complete");
    char *ok = query_text(db.h, "PRAGMA integrity_check");
    CHECK(ok && strcmp(ok, "ok") == 0, "integrity %s", ok ? ok : "?");
    free(ok);
    qb_db_close(&db);
    free(path);
}

static pid_t spawn(char *const argv[]) {
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static void test_kill_and_resume(void) {
    char *path = qb_asprintf("%s/killed.db", tmpdir);
    char *args[] = {(char *)quantbench, "errors", "--formats", "all", "--weights", "synthetic:all:1024x4096",
                    "--db", path, "--seed", "5", NULL};
    pid_t pid = spawn(args);
    /* watch from a second connection (WAL readers do not block the writer) */
    sqlite3 *h = NULL;
    int64_t seen = 0;
    for (int i = 0; i < 60000 && seen < 2; i++) {
        usleep(1000);
        if (!h && access(path, F_OK) == 0) sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL);
        if (h) {
            sqlite3_busy_timeout(h, 1000);
            seen = query_int(h, "SELECT count(*) FROM tensor_errors");
        }
    }
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status), "the run finished before it could be killed (status %d); make it longer", status);
    if (h) sqlite3_close(h);

    qb_db db;
    CHECK(qb_db_open(&db, path) == QB_OK, "%s", qb_errmsg());
    char *ok = query_text(db.h, "PRAGMA integrity_check");
    CHECK(ok && strcmp(ok, "ok") == 0, "integrity after SIGKILL: %s", ok ? ok : "?");
    free(ok);
    int64_t after = query_int(db.h, "SELECT count(*) FROM tensor_errors");
    CHECK(after >= seen && after < 20, "rows after kill %lld (seen committed %lld)", (long long)after, (long long)seen);
    char *st = query_text(db.h, "SELECT status FROM runs");
    CHECK(st && strcmp(st, "incomplete") == 0, "killed run status %s", st ? st : "?");
    free(st);
    qb_db_close(&db);

    char *resume[] = {(char *)quantbench, "errors", "--formats", "all", "--weights", "synthetic:all:1024x4096",
                      "--db", path, "--seed", "5", "--resume", NULL};
    pid = spawn(resume);
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "resume exit %d", WEXITSTATUS(status));
    CHECK(qb_db_open(&db, path) == QB_OK, "%s", qb_errmsg());
    int64_t nfmt = query_int(db.h, "SELECT count(*) FROM formats WHERE family <> 'mix'");
    CHECK(query_int(db.h, "SELECT count(*) FROM tensor_errors") == 5 * nfmt, "rows after resume %lld, want %lld",
          (long long)query_int(db.h, "SELECT count(*) FROM tensor_errors"), (long long)(5 * nfmt));
    CHECK(query_int(db.h, "SELECT count(*) FROM runs") == 1, "resume created a second run");
    st = query_text(db.h, "SELECT status FROM runs");
    CHECK(st && strcmp(st, "complete") == 0, "resumed run status %s", st ? st : "?");
    free(st);
    /* a second --resume finds nothing left to do */
    pid = spawn(resume);
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == QB_EUSAGE, "resume of a complete run: exit %d", WEXITSTATUS(status));
    qb_db_close(&db);
    free(path);
}

int main(int argc, char **argv) {
    qb_formats_init();
    quantbench = argc > 1 ? argv[1] : "./quantbench";
    snprintf(tmpdir, sizeof tmpdir, "/tmp/qb_db_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    test_schema();
    test_concurrent_writers();
    test_kill_and_resume();
    if (qbt_fail_ == 0) {
        char *cmd = qb_asprintf("rm -rf %s", tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
        free(cmd);
    }
    return qbt_finish();
}
