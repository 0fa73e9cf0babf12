/* parallel.c — see parallel.h. Threads are started per call: the callers hand each thread
 * megabytes of work, so start-up cost is noise and no pool state has to outlive a call. */
#include "parallel.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "qb.h"

typedef struct slice {
    void (*fn)(void *, int64_t, int64_t);
    void *ctx;
    int64_t begin, end;
} slice;

static void *run_slice(void *p) {
    slice *s = p;
    s->fn(s->ctx, s->begin, s->end);
    return NULL;
}

void qb_parallel_for(int nthreads, int64_t n, void (*fn)(void *ctx, int64_t begin, int64_t end), void *ctx) {
    if (nthreads > n) nthreads = (int)n;
    if (nthreads <= 1) {
        if (n > 0) fn(ctx, 0, n);
        return;
    }
    slice *s = qb_calloc((size_t)nthreads, sizeof *s);
    pthread_t *tid = qb_calloc((size_t)nthreads, sizeof *tid);
    for (int t = 0; t < nthreads; t++) {
        s[t] = (slice){fn, ctx, n * t / nthreads, n * (t + 1) / nthreads};
        if (t > 0 && pthread_create(&tid[t], NULL, run_slice, &s[t]) != 0) s[t].fn = NULL; /* run below instead */
    }
    run_slice(&s[0]);
    for (int t = 1; t < nthreads; t++) {
        if (s[t].fn) pthread_join(tid[t], NULL);
        else fn(ctx, s[t].begin, s[t].end);
    }
    free(s);
    free(tid);
}

int qb_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
