/* qb.h — status codes, error reporting and small helpers shared by every module.
 *
 * Functions return a qb_status and write results through out-parameters; on failure they
 * record one line (naming the function's subject: file, tensor, row, offset, and how to fix
 * it) with qb_fail(), and only main() prints it and exits. Each status maps to one of the
 * documented exit codes (README "Exit codes"). */
#ifndef QB_H
#define QB_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

typedef enum qb_status {
    QB_OK = 0,
    QB_ERUNTIME = 1,    /* internal or environment failure (out of memory, missing tool) */
    QB_EUSAGE = 2,      /* bad command line */
    QB_EREGRESSION = 3, /* a comparison found a regression */
    QB_EINPUT = 4,      /* malformed or unsupported input data */
    QB_EDB = 5,         /* the results database could not be opened or written */
} qb_status;

/* Records the message for the current thread (printf format, one line, no trailing period
 * needed) and returns `st`, so callers can write `return qb_fail(QB_EINPUT, "...")`. */
qb_status qb_fail(qb_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefixes the recorded message with a context ("file.f32: "), keeping the original. */
qb_status qb_fail_context(qb_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The last recorded message of this thread ("" when none). */
const char *qb_errmsg(void);

/* Set from the SIGINT/SIGTERM handler of a run (cli.c, qb_cli_run_job): long jobs check it
 * between steps and stop with what they stored, so the run can be resumed. */
extern volatile sig_atomic_t qb_interrupted;

/* Allocation that never returns NULL for a non-zero size: out of memory aborts with a
 * message, because no caller could recover sensibly and the database is always consistent. */
void *qb_malloc(size_t n);
void *qb_calloc(size_t n, size_t size);
void *qb_realloc(void *p, size_t n);
char *qb_strdup(const char *s);
/* printf into a fresh heap string. */
char *qb_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Monotonic nanoseconds and wall-clock seconds since the epoch (UTC). */
int64_t qb_now_ns(void);
double qb_wall_s(void);
/* ISO-8601 UTC timestamp "2026-11-22T15:25:01Z" of the current time into buf[32]. */
void qb_utc_iso(char buf[32]);

/* 64-bit FNV-1a of a byte range, seeded with `h` (start with QB_FNV_INIT) so ranges chain. */
#define QB_FNV_INIT 0xcbf29ce484222325ull
uint64_t qb_fnv1a(uint64_t h, const void *p, size_t n);

/* A random RFC 4122 version-4 UUID as 36 characters + NUL, from /dev/urandom. */
void qb_uuid(char out[37]);

/* A byte string from a file made fit for a one-line message: printable, at most ~80 bytes
 * shown; well-formed UTF-8 passes through, control bytes, stray bytes, quote and backslash
 * become \xNN. Use as qb_show(name, len).s. */
typedef struct qb_shown {
    char s[340];
} qb_shown;
qb_shown qb_show(const void *p, size_t n);

/* True when stderr is a terminal: progress lines are printed only then. */
int qb_progress_enabled(void);
/* "\r[i/n] label" on stderr when enabled; qb_progress_done() clears the line. */
void qb_progress(int64_t i, int64_t n, const char *label);
void qb_progress_done(void);

#endif
