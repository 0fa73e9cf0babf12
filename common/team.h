/* team.h — a persistent thread team for many short parallel regions.
 *
 * qb_parallel_for (parallel.h) starts threads per call, which is right for a few calls of
 * megabytes each; a benchmark iteration or a decode step (hundreds of regions of tens of µs)
 * needs threads that already run and wait for the next region. A team is nthreads − 1
 * workers plus the caller as member 0; qb_team_run hands every member the same fn and waits
 * for all of them. Waiting members spin, then yield, then (when the team was started with an
 * idle limit) sleep until the next run, so a team kept for a model's lifetime costs no CPU
 * between forward passes. One thread at a time calls qb_team_run on a team. */
#ifndef QB_TEAM_H
#define QB_TEAM_H

#include <stdint.h>

#define QB_TEAM_MAX_THREADS 256
#define QB_TEAM_NEVER_SLEEP (-1)

typedef struct qb_team qb_team;

/* Starts nthreads − 1 workers (nthreads clamped to 1 … QB_TEAM_MAX_THREADS; fewer when the
 * system refuses a thread: qb_team_size says how many). With pin, member t is bound to the
 * t-th CPU of the process's affinity mask (modulo its size), the caller included, until
 * qb_team_stop. A member that waited idle_ns for work without getting any sleeps on a
 * condition variable until the next run (a wake-up of some 10–100 µs);
 * QB_TEAM_NEVER_SLEEP: members spin and yield until stopped (benchmarks, whose cases keep
 * them busy). */
qb_team *qb_team_start(int nthreads, int pin, int64_t idle_ns);
/* Runs fn(ctx, t, n) on every member t = 0 … n − 1 at once (t = 0 on the calling thread) and
 * returns when all have returned; their writes are visible to the caller then. */
void qb_team_run(qb_team *team, void (*fn)(void *ctx, int t, int n), void *ctx);
/* The same for an fn that takes its work from a shared pool until the pool is empty (an
 * atomic counter over chunks), so that whoever runs does all of it: members that have not
 * begun fn when the caller's own fn returns are released from this run instead of waited
 * for. On a machine whose cores are shared, a descheduled member then costs the run
 * nothing (a fixed-share run would wait a scheduler slice for it). fn runs on the caller
 * always and on each other member at most once; the run returns after every member that
 * began fn has returned. */
void qb_team_run_pool(qb_team *team, void (*fn)(void *ctx, int t, int n), void *ctx);
int qb_team_size(const qb_team *team);
/* Joins the workers and restores the caller's CPU affinity. NULL is a no-op. */
void qb_team_stop(qb_team *team);

/* Member t's share [*lo, *hi) of n items split into nearly equal contiguous parts whose
 * boundaries are multiples of `align` items (the last part takes the remainder), so members
 * writing neighbouring outputs do not share a cache line. */
void qb_team_share(int64_t n, int64_t align, int t, int nt, int64_t *lo, int64_t *hi);

#endif
