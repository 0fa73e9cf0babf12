/* test_team.c — the thread team (common/team.h): every member runs fn exactly once per run
 * (invariant 1), with its own index and the team size; plain writes made by members are
 * visible to the caller when qb_team_run returns; members that fell asleep after idle_ns wake
 * for the next run and for stop (invariant 3); a pool run does every item exactly once, runs
 * fn on the caller every time and on other members at most once, also with more members
 * than CPUs (where members are often released); qb_team_share covers [0, n) exactly once
 * with aligned boundaries. */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "../qb.h"
#include "../qbtest.h"
#include "../team.h"

#define N 100003

typedef struct job {
    int64_t *out;    /* [N], each member writes its share, non-atomically */
    int64_t round;
    atomic_int calls[8];
    atomic_int bad_n;
    int n;
} job;

static void fill(void *p, int t, int n) {
    job *j = p;
    atomic_fetch_add(&j->calls[t], 1);
    if (n != j->n) atomic_fetch_add(&j->bad_n, 1);
    int64_t lo, hi;
    qb_team_share(N, 16, t, n, &lo, &hi);
    for (int64_t i = lo; i < hi; i++) j->out[i] = i * 7 + j->round;
}

/* A pool: chunks of 97 items from one counter, each written by whoever takes it. */
typedef struct pool_job {
    int64_t *out;
    int64_t round;
    atomic_llong next;
    atomic_int calls[8];
} pool_job;

static void take(void *p, int t, int n) {
    pool_job *j = p;
    (void)n;
    atomic_fetch_add(&j->calls[t], 1);
    for (int64_t c; (c = atomic_fetch_add(&j->next, 97)) < N;)
        for (int64_t i = c; i < c + 97 && i < N; i++) j->out[i] = i * 7 + j->round;
}

static void pool_runs(int n, int64_t idle_ns, int rounds) {
    pool_job j = {.out = qb_calloc(N, sizeof(int64_t))};
    qb_team *team = qb_team_start(n, 0, idle_ns);
    int64_t wrong = 0;
    for (int r = 0; r < rounds; r++) {
        j.round = r;
        atomic_store(&j.next, 0);
        qb_team_run_pool(team, take, &j);
        for (int64_t i = 0; i < N; i++) wrong += j.out[i] != i * 7 + r;
    }
    qb_team_stop(team);
    CHECK(wrong == 0, "pool n=%d: %lld items missing or stale after the runs returned", n, (long long)wrong);
    CHECK(atomic_load(&j.calls[0]) == rounds, "pool n=%d: the caller ran %d times of %d", n, atomic_load(&j.calls[0]), rounds);
    int total = 0;
    for (int m = 1; m < 8; m++) {
        CHECK(atomic_load(&j.calls[m]) <= (m < n ? rounds : 0), "pool n=%d: member %d ran %d times in %d runs", n, m,
              atomic_load(&j.calls[m]), rounds);
        total += atomic_load(&j.calls[m]);
    }
    printf("pool n=%d idle=%lld: other members took part in %d of %d member-runs\n", n, (long long)idle_ns, total, (n - 1) * rounds);
    free(j.out);
}

static void sleep_ms(int ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* `rounds` runs, each checked in full on the caller; with pause_ms, the caller sleeps before
 * some runs so that members with a short idle limit are asleep when the run starts. */
static void runs(int n, int64_t idle_ns, int rounds, int pause_ms) {
    job j = {.out = qb_calloc(N, sizeof(int64_t)), .n = n};
    qb_team *team = qb_team_start(n, 0, idle_ns);
    CHECK(qb_team_size(team) == n, "team size %d, asked %d", qb_team_size(team), n);
    int64_t wrong = 0;
    for (int r = 0; r < rounds; r++) {
        if (pause_ms && r % 4 == 0) sleep_ms(pause_ms);
        j.round = r;
        qb_team_run(team, fill, &j);
        for (int64_t i = 0; i < N; i++) wrong += j.out[i] != i * 7 + r;
    }
    if (pause_ms) sleep_ms(pause_ms); /* stop must wake sleeping members too */
    qb_team_stop(team);
    CHECK(wrong == 0, "n=%d idle=%lld: %lld outputs not written by their member before the run returned", n, (long long)idle_ns,
          (long long)wrong);
    for (int m = 0; m < 8; m++)
        CHECK(atomic_load(&j.calls[m]) == (m < n ? rounds : 0), "n=%d member %d ran %d times, expected %d", n, m,
              atomic_load(&j.calls[m]), m < n ? rounds : 0);
    CHECK(atomic_load(&j.bad_n) == 0, "members were told a wrong team size");
    free(j.out);
}

static void share(void) {
    const int64_t ns[] = {0, 1, 15, 16, 17, 1000, 5632, 100003};
    const int64_t aligns[] = {1, 16, 64};
    for (size_t a = 0; a < sizeof aligns / sizeof *aligns; a++)
        for (size_t k = 0; k < sizeof ns / sizeof *ns; k++)
            for (int nt = 1; nt <= 5; nt++) {
                int64_t next = 0, n = ns[k], al = aligns[a], most = 0;
                for (int t = 0; t < nt; t++) {
                    int64_t lo, hi;
                    qb_team_share(n, al, t, nt, &lo, &hi);
                    CHECK_LIMITED(lo == next && hi >= lo, "n=%lld align=%lld t=%d/%d: [%lld, %lld) after %lld", (long long)n,
                                  (long long)al, t, nt, (long long)lo, (long long)hi, (long long)next);
                    CHECK_LIMITED(lo % al == 0 || lo == n, "n=%lld t=%d: start %lld not aligned to %lld", (long long)n, t,
                                  (long long)lo, (long long)al);
                    if (hi - lo > most) most = hi - lo;
                    next = hi;
                }
                CHECK_LIMITED(next == n, "n=%lld align=%lld nt=%d: shares end at %lld", (long long)n, (long long)al, nt, (long long)next);
                /* balanced: no share exceeds an even split by more than one aligned unit */
                CHECK_LIMITED(most <= (n + nt - 1) / nt + al, "n=%lld align=%lld nt=%d: largest share %lld", (long long)n, (long long)al,
                              nt, (long long)most);
            }
}

int main(void) {
    for (int n = 1; n <= 4; n++) runs(n, QB_TEAM_NEVER_SLEEP, 200, 0);
    for (int n = 2; n <= 3; n++) runs(n, 200000, 40, 5); /* 0.2 ms idle limit, 5 ms pauses: members sleep */
    for (int n = 2; n <= 3; n++) runs(n, 0, 200, 0);     /* sleep as soon as spinning ends */
    for (int n = 2; n <= 6; n += 2) pool_runs(n, QB_TEAM_NEVER_SLEEP, 300);
    pool_runs(3, 0, 300);
    share();
    return qbt_finish();
}
