/* gemv.h — decode's GEMV: y[t·ldy + r] = Σ_c W[r][c]·a_t[c] for every row r of one or more
 * weight matrices (products sharing an input: q, k, v; gate, up) and n ≤ a few activation
 * rows already quantized to each weight format's vec_dot_type, split over the members of a
 * thread team (common/team.h). evals/llama.c's fast path and the microbenchmark's gemv
 * (bench/ops.c) both run it, so `quantbench bench --ops gemv` measures what decode runs.
 *
 * Work is handed out in chunks from one atomic row cursor, not in fixed shares: on a
 * machine whose cores are shared, a member that starts late or runs slower takes less
 * instead of holding up the region, and members read equal bytes when they run alike.
 * Chunk sizes are guided (OpenMP's schedule(guided)): a chunk is the rows left in its matrix
 * divided by twice the team size, at least QB_GEMV_MIN_CHUNK_BYTES of weights, so the first
 * chunks are long contiguous streams (each new stream costs a hardware-prefetcher ramp; at
 * 2 threads fixed 64 KiB chunks gave Q4_K_M decode 15–20 % less than 1 MiB ones) and the
 * last ones small enough to end the region together. Software prefetch 4 or 16 KiB ahead
 * was measured on decode and did not help.
 *
 * Invariants:
 *  1. Every row of every matrix is computed exactly once per run, whatever the number of
 *     members and however the chunks fall to them (a compare-and-swap on the cursor claims
 *     each chunk); y[t·ldy + r] is vec_dot of row r with activation row t, so results do
 *     not depend on the split (bit for bit).
 *  2. Chunks start at multiples of QB_GEMV_ALIGN rows (64 bytes of f32 y): no two members
 *     write one cache line of a y row.
 *  3. An activation row is prepared (format.h's act_prep, for the formats whose vec_dot2 reads
 *     one) once per job, by qb_gemv_init, before any member runs: the work that depends on the
 *     activation alone is not repeated for every pair of weight rows. */
#ifndef QB_GEMV_H
#define QB_GEMV_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "format.h"

#define QB_GEMV_ALIGN 16
#define QB_GEMV_MIN_CHUNK_BYTES 65536
#define QB_GEMV_MAX_MATS 4

/* One product: rows × cols weights in f (row 0 at w, after any tensor header; rows rb bytes
 * apart; f has a vec_dot_type), n activation rows at act, ab bytes apart. */
typedef struct qb_gemv_mat {
    const qb_format *f;
    const void *w;
    size_t rb;
    int64_t rows, cols;
    const void *act;
    size_t ab;
    float *y;
    int64_t ldy;
} qb_gemv_mat;

typedef struct qb_gemv_job {
    qb_gemv_mat m[QB_GEMV_MAX_MATS];
    int nm, members;
    int64_t n;                               /* activation rows (tokens) */
    int64_t min_rows[QB_GEMV_MAX_MATS];      /* the smallest chunk of each matrix, in rows */
    int64_t first[QB_GEMV_MAX_MATS + 1];     /* each matrix's first row on the cursor; first[nm]: all */
    const unsigned char *prep[QB_GEMV_MAX_MATS]; /* each matrix's prepared activation rows, or NULL */
    size_t pb[QB_GEMV_MAX_MATS];             /* and their stride */
    atomic_llong next;                       /* the cursor: rows of all matrices, one after another */
} qb_gemv_job;

/* Bytes of scratch qb_gemv_init needs for these products' prepared activation rows (invariant
 * 3); 0 when no product's format prepares one. */
size_t qb_gemv_scratch_bytes(const qb_gemv_mat *m, int nm, int64_t n);
/* Sets up a job over nm ≤ QB_GEMV_MAX_MATS products with n activation rows each, for a team
 * of `members` (it sizes the chunks; any number may run it), preparing the activation rows
 * into scratch (qb_gemv_scratch_bytes(m, nm, n) bytes, which the job reads until it has run;
 * NULL when that is 0); run it with qb_team_run_pool(team, qb_gemv_run, job), or
 * qb_gemv_run(job, 0, 1) on one thread. A job runs once. */
void qb_gemv_init(qb_gemv_job *j, const qb_gemv_mat *m, int nm, int64_t n, int members, void *scratch);
/* Team member t of nt: takes chunks until none are left. */
void qb_gemv_run(void *job, int t, int nt);

#endif
