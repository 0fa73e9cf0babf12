/* team.c — a persistent thread team (see team.h).
 *
 * Dispatch is a generation counter: the caller publishes fn/ctx and bumps `gen`; each worker
 * runs its share and bumps `done`; the caller waits until done = n − 1. Workers and caller
 * spin (with pause) for a while and then sched_yield, so a team costs no CPU of its own when
 * the machine is shared and its wake-up latency is a few hundred ns when it is not; a
 * futex-based pthread barrier would add tens of µs to every region of a small case. A worker
 * that has waited idle_ns goes to sleep on a condition variable instead (the team of a model
 * waits that long only between forward passes, while its owner does other work).
 *
 * A member takes part in generation g by claiming it: a compare-and-swap of its `claim`
 * from the previous value to g. qb_team_run_pool lets the caller, once its own fn has
 * returned, claim g on behalf of members that have not begun (descheduled on a busy
 * machine, or still waking): such a member then skips g, and the run does not wait for a
 * thread that would only find the pool empty. A fixed-share qb_team_run never claims for
 * others, since every member's share must be done.
 *
 * Invariants:
 *  1. In qb_team_run fn runs exactly once per member; in qb_team_run_pool exactly once on
 *     the caller and at most once per other member. Either returns only after every member
 *     that began fn has returned (the acquire on done orders their writes before ours), and
 *     a member runs fn(ctx) of generation g only after claiming g itself, so no member
 *     reads a run's ctx after that run has returned.
 *  2. With pin, member t is bound to cpus[t % ncpus] of the affinity mask the team started
 *     from, until qb_team_stop restores the caller's.
 *  3. No lost wake-up: a worker going to sleep counts itself in `sleepers` and then reads gen
 *     again under the mutex; qb_team_run (and stop) write gen (stop) before reading
 *     `sleepers`, all sequentially consistent, so either the worker sees the new generation
 *     or the caller sees the sleeper and broadcasts under the same mutex. */
#define _GNU_SOURCE
#include "team.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "qb.h"

#define SPIN_PAUSES 20000 /* then sched_yield */

typedef struct member {
    struct qb_team *team;
    int t;
    atomic_uint claim; /* the last generation this member took part in or was released from */
} member;

struct qb_team {
    int n, pin, ncpus;
    int64_t idle_ns;
    member members[QB_TEAM_MAX_THREADS];
    int cpus[CPU_SETSIZE];
    cpu_set_t saved;
    pthread_t tid[QB_TEAM_MAX_THREADS];
    void (*fn)(void *, int, int);
    void *ctx;
    atomic_uint gen, done;
    atomic_int stop, sleepers;
    pthread_mutex_t mu;
    pthread_cond_t wake;
};

static void relax(unsigned *spins) {
    if (++*spins < SPIN_PAUSES) {
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

/* Blocks until gen differs from seen or the team stops (invariant 3). */
static void sleep_until_run(qb_team *team, unsigned seen) {
    pthread_mutex_lock(&team->mu);
    atomic_fetch_add(&team->sleepers, 1);
    while (atomic_load(&team->gen) == seen && !atomic_load(&team->stop)) pthread_cond_wait(&team->wake, &team->mu);
    atomic_fetch_sub(&team->sleepers, 1);
    pthread_mutex_unlock(&team->mu);
}

static void wake_sleepers(qb_team *team) {
    if (atomic_load(&team->sleepers) == 0) return;
    pthread_mutex_lock(&team->mu);
    pthread_cond_broadcast(&team->wake);
    pthread_mutex_unlock(&team->mu);
}

static void *worker(void *p) {
    member *m = p;
    qb_team *team = m->team;
    pin_self(team, m->t);
    unsigned seen = 0;
    for (;;) {
        unsigned spins = 0, g;
        int64_t since = 0;
        while ((g = atomic_load_explicit(&team->gen, memory_order_acquire)) == seen) {
            if (atomic_load_explicit(&team->stop, memory_order_relaxed)) return NULL;
            relax(&spins);
            if (spins >= SPIN_PAUSES && team->idle_ns >= 0) { /* yielding: time to sleep? */
                int64_t now = qb_now_ns();
                if (!since) since = now;
                else if (now - since >= team->idle_ns) sleep_until_run(team, seen), since = 0;
            }
        }
        seen = g;
        /* claim g, unless the caller released us from it (or, if g was read before a pause,
         * from a later run: then the generation read again is the current one) */
        unsigned c = atomic_load(&m->claim);
        if ((int)(c - g) >= 0 || !atomic_compare_exchange_strong(&m->claim, &c, g)) continue;
        team->fn(team->ctx, m->t, team->n);
        atomic_fetch_add_explicit(&team->done, 1, memory_order_release);
    }
}

qb_team *qb_team_start(int nthreads, int pin, int64_t idle_ns) {
    qb_team *team = qb_calloc(1, sizeof *team);
    if (nthreads < 1) nthreads = 1;
    if (nthreads > QB_TEAM_MAX_THREADS) nthreads = QB_TEAM_MAX_THREADS;
    team->n = nthreads;
    team->pin = pin;
    team->idle_ns = idle_ns < 0 ? QB_TEAM_NEVER_SLEEP : idle_ns;
    pthread_mutex_init(&team->mu, NULL);
    pthread_cond_init(&team->wake, NULL);
    CPU_ZERO(&team->saved);
    if (sched_getaffinity(0, sizeof team->saved, &team->saved) == 0)
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &team->saved)) team->cpus[team->ncpus++] = c;
    pin_self(team, 0);
    for (int t = 1; t < nthreads; t++) {
        team->members[t].team = team, team->members[t].t = t;
        if (pthread_create(&team->tid[t], NULL, worker, &team->members[t]) != 0) {
            team->n = t; /* run with the threads we got; callers read qb_team_size */
            break;
        }
    }
    return team;
}

int qb_team_size(const qb_team *team) { return team->n; }

static void run(qb_team *team, void (*fn)(void *ctx, int t, int n), void *ctx, int pool) {
    if (team->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    team->fn = fn;
    team->ctx = ctx;
    atomic_store_explicit(&team->done, 0, memory_order_relaxed);
    const unsigned g = atomic_fetch_add(&team->gen, 1) + 1; /* seq_cst, before reading sleepers (invariant 3) */
    wake_sleepers(team);
    fn(ctx, 0, team->n);
    if (pool)
        for (int t = 1; t < team->n; t++) {
            unsigned c = atomic_load(&team->members[t].claim);
            if (c != g && atomic_compare_exchange_strong(&team->members[t].claim, &c, g))
                atomic_fetch_add_explicit(&team->done, 1, memory_order_relaxed); /* released: counts as done */
        }
    unsigned spins = 0;
    while (atomic_load_explicit(&team->done, memory_order_acquire) != (unsigned)(team->n - 1)) relax(&spins);
}

void qb_team_run(qb_team *team, void (*fn)(void *ctx, int t, int n), void *ctx) { run(team, fn, ctx, 0); }

void qb_team_run_pool(qb_team *team, void (*fn)(void *ctx, int t, int n), void *ctx) { run(team, fn, ctx, 1); }

void qb_team_stop(qb_team *team) {
    if (!team) return;
    atomic_store(&team->stop, 1);
    wake_sleepers(team);
    for (int t = 1; t < team->n; t++) pthread_join(team->tid[t], NULL);
    if (team->pin && team->ncpus) sched_setaffinity(0, sizeof team->saved, &team->saved);
    pthread_cond_destroy(&team->wake);
    pthread_mutex_destroy(&team->mu);
    free(team);
}

void qb_team_share(int64_t n, int64_t align, int t, int nt, int64_t *lo, int64_t *hi) {
    if (align < 1) align = 1;
    const int64_t units = (n + align - 1) / align;
    *lo = units * t / nt * align;
    *hi = units * (t + 1) / nt * align;
    if (*lo > n) *lo = n;
    if (*hi > n) *hi = n;
}
