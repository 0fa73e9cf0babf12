/* team.c — a pinned thread team for one benchmark case (see bench.h).
 *
 * Dispatch is a generation counter: the caller publishes fn/ctx and bumps `gen`; each worker
 * runs its share and bumps `done`; the caller waits until done = n − 1. Workers and caller
 * spin (with pause) for a while and then sched_yield, so a team costs no CPU of its own when
 * the machine is shared and its wake-up latency is a few hundred ns when it is not; a
 * futex-based pthread barrier would add tens of µs to every iteration of a small case.
 *
 * Invariants:
 *  1. fn runs exactly once per member per qb_team_run, and qb_team_run returns only after
 *     every member's fn has returned (the acquire on done orders their writes before ours).
 *  2. Member t is pinned to cpus[t % ncpus] of the affinity mask the team started from. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "bench.h"

typedef struct member {
    struct qb_team *team;
    int t;
} member;

struct qb_team {
    int n, pin, ncpus;
    member members[QB_BENCH_MAX_THREADS];
    int cpus[CPU_SETSIZE];
    cpu_set_t saved;
    pthread_t tid[QB_BENCH_MAX_THREADS];
    void (*fn)(void *, int, int);
    void *ctx;
    atomic_uint gen, done;
    atomic_int stop;
};

static void relax(unsigned *spins) {
    if (++*spins < 20000) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    } else {
        sched_yield();
    }
}

static void pin_self(qb_team *team, int t) {
    if (!team->pin || team->ncpus == 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(team->cpus[t % team->ncpus], &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *worker(void *p) {
    member *m = p;
    qb_team *team = m->team;
    pin_self(team, m->t);
    unsigned seen = 0;
    for (;;) {
        unsigned spins = 0, g;
        while ((g = atomic_load_explicit(&team->gen, memory_order_acquire)) == seen) {
            if (atomic_load_explicit(&team->stop, memory_order_relaxed)) return NULL;
            relax(&spins);
        }
        seen = g;
        team->fn(team->ctx, m->t, team->n);
        atomic_fetch_add_explicit(&team->done, 1, memory_order_release);
    }
}

qb_team *qb_team_start(int nthreads, int pin) {
    qb_team *team = qb_calloc(1, sizeof *team);
    if (nthreads < 1) nthreads = 1;
    if (nthreads > QB_BENCH_MAX_THREADS) nthreads = QB_BENCH_MAX_THREADS;
    team->n = nthreads;
    team->pin = pin;
    CPU_ZERO(&team->saved);
    if (sched_getaffinity(0, sizeof team->saved, &team->saved) == 0)
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &team->saved)) team->cpus[team->ncpus++] = c;
    pin_self(team, 0);
    for (int t = 1; t < nthreads; t++) {
        team->members[t] = (member){team, t};
        if (pthread_create(&team->tid[t], NULL, worker, &team->members[t]) != 0) {
            team->n = t; /* run with the threads we got; the case records team size */
            break;
        }
    }
    return team;
}

int qb_team_size(const qb_team *team) { return team->n; }

void qb_team_run(qb_team *team, void (*fn)(void *ctx, int t, int n), void *ctx) {
    team->fn = fn;
    team->ctx = ctx;
    atomic_store_explicit(&team->done, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&team->gen, 1, memory_order_release);
    fn(ctx, 0, team->n);
    unsigned spins = 0;
    while (atomic_load_explicit(&team->done, memory_order_acquire) != (unsigned)(team->n - 1)) relax(&spins);
}

void qb_team_stop(qb_team *team) {
    if (!team) return;
    atomic_store(&team->stop, 1);
    for (int t = 1; t < team->n; t++) pthread_join(team->tid[t], NULL);
    if (team->pin && team->ncpus) sched_setaffinity(0, sizeof team->saved, &team->saved);
    free(team);
}
