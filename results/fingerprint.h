/* fingerprint.h — what a run's figures depend on, read from the machine at run time: CPU
 * model and the SIMD flags our kernels care about, cores, caches, memory, OS and kernel,
 * compiler and flags of this build, library versions (SQLite, OpenBLAS, oneDNN, CUDA) and
 * GPUs. Stored once per distinct machine (id = hash of the JSON) and referenced by runs. */
#ifndef QB_FINGERPRINT_H
#define QB_FINGERPRINT_H

#include <stdint.h>

typedef struct qb_machine {
    char id[17];
    char *hostname, *cpu_model, *cpu_flags, *os, *kernel, *compiler, *cflags;
    char *sqlite_version, *openblas, *onednn, *cuda_driver, *cuda_runtime, *gpus; /* last 4 may be NULL */
    const char *version, *git_commit; /* of quantbench itself */
    int64_t cores, l1d_bytes, l2_bytes, l3_bytes, mem_bytes;
    char *json;
} qb_machine;

void qb_machine_collect(qb_machine *m);
void qb_machine_free(qb_machine *m);

/* Build identity, generated at build time (cmake/version.cmake). */
extern const char qb_version[], qb_git_commit[], qb_build_compiler[], qb_build_cflags[];

#endif
