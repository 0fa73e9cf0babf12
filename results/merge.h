/* merge.h — merging results databases: the sweeps of many machines (or shards of one sweep,
 * `run --shard I/N`) into one file for a report.
 *
 * Every table of the output schema is merged generically, so tables and columns added by
 * later migrations merge without code here: rows are matched on the table's primary key
 * (UUIDs and content-derived names, schema.c), new rows are copied, rows already present are
 * compared column by column. A source written by an older quantbench merges through the
 * columns it has.
 *
 * Invariants:
 *  1. Idempotent: merging a source twice (or into a database that already holds it) copies
 *     nothing the second time.
 *  2. A row that exists in both with different values is a conflict: it is counted and
 *     reported, and the destination's row is kept (never overwritten).
 *  3. Each source is merged in one transaction: a failed or killed merge leaves the output as
 *     it was before that source, and never reads or writes the source beyond a read. */
#ifndef QB_MERGE_H
#define QB_MERGE_H

#include <stdint.h>

#include "db.h"

typedef struct qb_merge_table {
    char *name;
    int64_t added, same, conflicts;
    char *first_conflict; /* the key of the first conflicting row, e.g. "name=q4_0"; NULL when none */
} qb_merge_table;

typedef struct qb_merge_result {
    int n;
    qb_merge_table *t;
} qb_merge_result;

/* Merges the database at src_path into the open database `out`. QB_EDB naming the file when
 * the source is not a quantbench database, is newer than this build, or the copy fails; res
 * is then empty. */
qb_status qb_db_merge(qb_db *out, const char *src_path, qb_merge_result *res);
void qb_merge_result_free(qb_merge_result *res);

#endif
