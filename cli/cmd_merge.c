/* cmd_merge.c — `quantbench merge A.db B.db … -o ALL.db`: the databases of many machines or
 * shards in one file (results/merge.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/json.h"
#include "../common/table.h"
#include "../results/merge.h"
#include "cli.h"

static const char usage[] =
    "Usage: quantbench merge SOURCE.db [SOURCE.db …] -o OUT.db [--json]\n"
    "\n"
    "Copies every run, machine, input and result of the SOURCE databases into OUT.db (created\n"
    "when missing; it may already hold results). Rows are matched on their keys (UUIDs and\n"
    "content-derived names), so merging the same source twice copies nothing the second time,\n"
    "and shards of one sweep ('run --shard I/N') merge into one database.\n"
    "\n"
    "A row present in both with different values is a conflict: it is counted, the first\n"
    "one's key is shown, and OUT.db keeps its own row. Each SOURCE is merged in one\n"
    "transaction: a failure leaves OUT.db as it was before that source. SOURCE files are\n"
    "only read.\n"
    "\n"
    "  -o, --out PATH   the database to merge into\n";

qb_status cmd_merge(qb_cli *cli, int argc, char **argv) {
    static const struct option opts[] = {QB_COMMON_OPTIONS, {"out", required_argument, NULL, 'o'}, {NULL, 0, NULL, 0}};
    const char *out = NULL;
    int c;
    cli->shortopts = "o:";
    while ((c = qb_cli_next(cli, argc, argv, opts, usage)) != QB_CLI_DONE) {
        switch (c) {
        case QB_CLI_HELP: return QB_OK;
        case QB_CLI_ERROR: return QB_EUSAGE;
        case 'o': out = optarg; break;
        default: return qb_fail(QB_EUSAGE, "unexpected option");
        }
    }
    if (!out) return qb_fail(QB_EUSAGE, "name the database to merge into with -o OUT.db");
    if (optind >= argc) return qb_fail(QB_EUSAGE, "name at least one SOURCE.db to merge");
    for (int i = optind; i < argc; i++)
        if (strcmp(argv[i], out) == 0) return qb_fail(QB_EUSAGE, "%s is both a source and the output", out);

    qb_db db;
    qb_status st = qb_db_open(&db, out);
    if (st) return st;
    qb_json j;
    qb_table t;
    static const char *const cols[] = {"source", "table", ">added", ">already there", ">conflicts", "first conflict", NULL};
    if (cli->json) {
        qb_json_begin(&j, stdout);
        qb_json_kstr(&j, "output", out);
        qb_json_key(&j, "sources");
        qb_json_arr(&j);
    } else {
        qb_table_init(&t, cols);
    }
    int64_t conflicts = 0;
    for (int i = optind; i < argc && !st; i++) {
        qb_merge_result r;
        st = qb_db_merge(&db, argv[i], &r);
        if (st) break;
        if (cli->json) {
            qb_json_obj(&j);
            qb_json_kstr(&j, "path", argv[i]);
            qb_json_key(&j, "tables");
            qb_json_obj(&j);
        }
        for (int k = 0; k < r.n; k++) {
            const qb_merge_table *m = &r.t[k];
            conflicts += m->conflicts;
            if (cli->json) {
                qb_json_key(&j, m->name);
                qb_json_obj(&j);
                qb_json_kint(&j, "added", m->added);
                qb_json_kint(&j, "same", m->same);
                qb_json_kint(&j, "conflicts", m->conflicts);
                qb_json_kstr(&j, "first_conflict", m->first_conflict);
                qb_json_obj_end(&j);
            } else if (m->added || m->same || m->conflicts) {
                char a[24], s[24], x[24];
                snprintf(a, sizeof a, "%lld", (long long)m->added);
                snprintf(s, sizeof s, "%lld", (long long)m->same);
                snprintf(x, sizeof x, "%lld", (long long)m->conflicts);
                const char *cells[] = {argv[i], m->name, a, s, x, m->first_conflict};
                qb_table_row(&t, cells);
            }
        }
        if (cli->json) {
            qb_json_obj_end(&j);
            qb_json_obj_end(&j);
        }
        qb_merge_result_free(&r);
    }
    if (cli->json) {
        qb_json_arr_end(&j);
        qb_json_kint(&j, "conflicts", conflicts);
        qb_json_end(&j);
    } else {
        if (!st) {
            qb_table_print(&t, stdout, QB_TABLE_TEXT);
            if (conflicts)
                printf("\n%lld conflicting row(s) kept as they were in %s (the sources disagree with it)\n",
                       (long long)conflicts, out);
        }
        qb_table_free(&t);
    }
    qb_db_close(&db);
    return st;
}
