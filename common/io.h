/* io.h — whole-file access for the CLI: read-only memory maps (inputs of any size are never
 * copied), and output files written to a temporary name and renamed into place, so a killed
 * or failed command never leaves a truncated output behind. */
#ifndef QB_IO_H
#define QB_IO_H

#include <stddef.h>
#include <stdio.h>

#include "qb.h"

typedef struct qb_map {
    const void *data; /* NULL for an empty file */
    size_t size;
    const char *path;
} qb_map;

/* Maps `path` read-only; an empty file maps to data == NULL, size == 0. */
qb_status qb_map_file(qb_map *m, const char *path);
void qb_unmap(qb_map *m);

typedef struct qb_outfile {
    FILE *f;
    char *path, *tmp;
} qb_outfile;

/* Opens "<path>.tmp.<pid>" for writing; qb_out_commit() flushes, fsyncs and renames it to
 * `path`; qb_out_abort() removes it. */
qb_status qb_out_open(qb_outfile *o, const char *path);
qb_status qb_out_write(qb_outfile *o, const void *p, size_t n);
qb_status qb_out_commit(qb_outfile *o);
void qb_out_abort(qb_outfile *o);

/* Creates a directory and its parents (mkdir -p). */
qb_status qb_mkdirs(const char *path);

#endif
