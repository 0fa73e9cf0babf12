/* parallel.h — split a range of independent items (rows) over threads. */
#ifndef QB_PARALLEL_H
#define QB_PARALLEL_H

#include <stdint.h>

/* Calls fn(ctx, begin, end) on nthreads contiguous slices of [0, n) at once and waits for
 * all; nthreads ≤ 1 (or n small) runs fn once on the calling thread. */
void qb_parallel_for(int nthreads, int64_t n, void (*fn)(void *ctx, int64_t begin, int64_t end), void *ctx);

/* Online CPUs, at least 1. */
int qb_cpu_count(void);

#endif
