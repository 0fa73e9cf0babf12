/* qb.c — error recording, checked allocation, clocks, hashing, UUIDs and progress lines. */
#define _GNU_SOURCE
#include "qb.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

volatile sig_atomic_t qb_interrupted;

static _Thread_local char errbuf[1024];

qb_status qb_fail(qb_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    return st;
}

qb_status qb_fail_context(qb_status st, const char *fmt, ...) {
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* shift the message right and put "prefix: " in front (truncating at the end) */
    size_t pl = strlen(prefix), ml = strlen(errbuf), room = sizeof errbuf - 1 - (pl + 2);
    memmove(errbuf + pl + 2, errbuf, ml < room ? ml : room);
    errbuf[pl + 2 + (ml < room ? ml : room)] = '\0';
    memcpy(errbuf, prefix, pl);
    errbuf[pl] = ':';
    errbuf[pl + 1] = ' ';
    return st;
}

const char *qb_errmsg(void) { return errbuf; }

static void oom(size_t n) {
    fprintf(stderr, "quantbench: error: out of memory allocating %zu bytes\n", n);
    abort();
}

void *qb_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *qb_calloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom(n * size);
    return p;
}

void *qb_realloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *qb_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(qb_malloc(n), s, n);
}

char *qb_asprintf(const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = qb_malloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return s;
}

int64_t qb_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double qb_wall_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void qb_utc_iso(char buf[32]) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

uint64_t qb_fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

void qb_uuid(char out[37]) {
    unsigned char r[16];
    size_t got = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t k = read(fd, r, sizeof r);
        got = k > 0 ? (size_t)k : 0;
        close(fd);
    }
    if (got != sizeof r) { /* no /dev/urandom (a chroot): time and pid still make keys unique */
        uint64_t a = (uint64_t)qb_now_ns() ^ ((uint64_t)getpid() << 32);
        uint64_t b = qb_fnv1a(QB_FNV_INIT, &a, sizeof a) ^ (uint64_t)time(NULL);
        memcpy(r, &a, 8);
        memcpy(r + 8, &b, 8);
    }
    r[6] = (r[6] & 0x0f) | 0x40;
    r[8] = (r[8] & 0x3f) | 0x80;
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
             r[13], r[14], r[15]);
}

int qb_progress_enabled(void) {
    static int cached = -1;
    if (cached < 0) cached = isatty(STDERR_FILENO) && !getenv("QB_NO_PROGRESS");
    return cached;
}

void qb_progress(int64_t i, int64_t n, const char *label) {
    if (!qb_progress_enabled()) return;
    fprintf(stderr, "\r\033[K[%lld/%lld] %s", (long long)i, (long long)n, label);
    fflush(stderr);
}

void qb_progress_done(void) {
    if (!qb_progress_enabled()) return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
}

/* Length of the well-formed UTF-8 sequence of 2…4 bytes at b[0..n), or 0. */
static unsigned utf8_len(const uint8_t *b, size_t n) {
    unsigned len = b[0] >= 0xC2 && b[0] <= 0xDF   ? 2
                   : b[0] >= 0xE0 && b[0] <= 0xEF ? 3
                   : b[0] >= 0xF0 && b[0] <= 0xF4 ? 4
                                                  : 0;
    if (!len || len > n) return 0;
    for (unsigned k = 1; k < len; k++)
        if ((b[k] & 0xC0) != 0x80) return 0;
    return len;
}

/* A byte string for a message: printable, one line, at most ~80 bytes shown. Well-formed UTF-8
 * passes through (names stay readable); control bytes, stray bytes ≥ 0x80, quote and backslash
 * are escaped as \xNN. */
qb_shown qb_show(const void *p, size_t n) {
    qb_shown r;
    const uint8_t *b = p;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (o > 80) {
            memcpy(r.s + o, "…", sizeof "…");
            return r;
        }
        uint8_t c = b[i];
        unsigned u = c >= 0x80 ? utf8_len(b + i, n - i) : 0;
        if (u) {
            memcpy(r.s + o, b + i, u);
            o += u, i += u;
        } else if (c < 0x20 || c >= 0x7f || c == '\'' || c == '\\') {
            o += (size_t)snprintf(r.s + o, 5, "\\x%02x", c);
            i++;
        } else {
            r.s[o++] = (char)c;
            i++;
        }
    }
    r.s[o] = '\0';
    return r;
}
