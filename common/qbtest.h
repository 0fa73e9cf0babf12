/* qbtest.h — the few macros our C tests use. Each check prints evidence on failure (the
 * values side by side, as llm.c's tests do); main returns qbt_finish(), which prints the
 * closing "N passed, N failed" line and exits non-zero on any failure. A test that cannot
 * run here (no GPU, no oracle) calls qbt_skip(), which exits with ctest's SKIP code 77. */
#ifndef QBTEST_H
#define QBTEST_H

#include <stdio.h>
#include <stdlib.h>

static long qbt_pass_, qbt_fail_;

#define CHECK(cond, ...)                                                              \
    do {                                                                              \
        if (cond) {                                                                   \
            qbt_pass_++;                                                              \
        } else {                                                                      \
            qbt_fail_++;                                                              \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);          \
            fprintf(stderr, __VA_ARGS__);                                             \
            fputc('\n', stderr);                                                      \
        }                                                                             \
    } while (0)

/* Stops a long loop after the first few failures so the log stays readable. */
#define CHECK_LIMITED(cond, ...)                                                      \
    do {                                                                              \
        if (!(cond) && qbt_fail_ >= 20) { qbt_fail_++; break; }                       \
        CHECK(cond, __VA_ARGS__);                                                     \
    } while (0)

static inline int qbt_finish(void) {
    printf("%ld passed, %ld failed\n", qbt_pass_, qbt_fail_);
    return qbt_fail_ ? 1 : 0;
}

static inline void qbt_skip(const char *why) {
    printf("SKIP: %s\n", why);
    exit(77);
}

#endif
