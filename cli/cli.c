/* cli.c — option parsing and list arguments shared by the subcommands (see cli.h). */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../datasets/source.h"

int qb_cli_next(qb_cli *cli, int argc, char **argv, const struct option *opts, const char *usage) {
    opterr = 0;
    char shortopts[32];
    snprintf(shortopts, sizeof shortopts, ":h%s", cli->shortopts ? cli->shortopts : "");
    for (;;) {
        int c = getopt_long(argc, argv, shortopts, opts, NULL);
        switch (c) {
        case -1: return QB_CLI_DONE;
        case 'D': cli->db_path = optarg; continue;
        case 'J': cli->json = 1; continue;
        case 'h': fputs(usage, stdout); return QB_CLI_HELP;
        case ':':
            qb_fail(QB_EUSAGE, "option '%s' needs a value", argv[optind - 1]);
            return QB_CLI_ERROR;
        case '?': /* getopt has moved past the bad word: it is argv[optind - 1] */
            qb_fail(QB_EUSAGE, "unknown option '%s'", optopt ? (char[]){'-', (char)optopt, 0} : argv[optind - 1]);
            return QB_CLI_ERROR;
        default: return c;
        }
    }
}

qb_status qb_cli_formats(const char *list, const qb_format ***out, int *n) {
    *n = 0;
    *out = NULL;
    if (strcmp(list, "all") == 0) {
        *out = qb_malloc(sizeof(**out) * (size_t)qb_format_count());
        for (int i = 0; i < qb_format_count(); i++) (*out)[(*n)++] = qb_format_at(i);
        return QB_OK;
    }
    char *copy = qb_strdup(list), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        const qb_format *f;
        qb_status st = qb_format_require(tok, &f);
        if (st) {
            free(copy);
            free(*out);
            *out = NULL;
            *n = 0;
            return st;
        }
        *out = qb_realloc(*out, sizeof(**out) * (size_t)(*n + 1));
        (*out)[(*n)++] = f;
    }
    free(copy);
    if (*n == 0) return qb_fail(QB_EUSAGE, "--formats is empty; give names such as f16,bf16 or 'all'");
    return QB_OK;
}

qb_status qb_cli_mixes(const char *list, const qb_mix ***out, int *n) {
    *n = 0;
    *out = NULL;
    char *copy = qb_strdup(list), *save = NULL;
    qb_status st = QB_OK;
    for (char *tok = strtok_r(copy, ",", &save); tok && !st; tok = strtok_r(NULL, ",", &save)) {
        const qb_mix *m;
        if ((st = qb_mix_require(tok, &m))) break;
        *out = qb_realloc(*out, sizeof(**out) * (size_t)(*n + 1));
        (*out)[(*n)++] = m;
    }
    free(copy);
    if (st) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return st;
}

void qb_cli_add_sources(const char *list, char ***specs, int *n) {
    char *copy = qb_strdup(list), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (strncmp(tok, "synthetic:all", 13) == 0 && (tok[13] == '\0' || tok[13] == ':')) {
            for (int i = 0; qb_synthetic_names[i]; i++) {
                *specs = qb_realloc(*specs, sizeof(char *) * (size_t)(*n + 1));
                (*specs)[(*n)++] = qb_asprintf("synthetic:%s%s", qb_synthetic_names[i], tok + 13);
            }
            continue;
        }
        *specs = qb_realloc(*specs, sizeof(char *) * (size_t)(*n + 1));
        (*specs)[(*n)++] = qb_strdup(tok);
    }
    free(copy);
}

void qb_cli_free_list(char **list, int n) {
    for (int i = 0; i < n; i++) free(list[i]);
    free(list);
}

static void on_signal(int sig) {
    (void)sig;
    qb_interrupted = 1;
}

qb_status qb_cli_run_job(qb_cli *cli, qb_run_info ri, int resume, const char *resume_id, int argc, char **argv,
                         qb_cli_job_fn fn, void *ctx, char run_id[37]) {
    qb_db db;
    qb_status st = qb_db_open(&db, cli->db_path);
    if (st) return st;
    qb_machine m;
    qb_machine_collect(&m);
    char *args = qb_strdup("quantbench");
    for (int i = 0; i < argc; i++) {
        char *next = qb_asprintf("%s %s", args, argv[i]);
        free(args);
        args = next;
    }
    ri.argv = args;
    st = resume ? qb_db_resume_run(&db, &ri, resume_id, run_id) : qb_db_begin_run(&db, &m, &ri, run_id);
    if (!st) {
        struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        st = fn(&db, run_id, ctx);
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        qb_status fin = qb_db_finish_run(&db, run_id, st == QB_OK ? "complete" : qb_interrupted ? "incomplete" : "failed",
                                         st == QB_OK ? NULL : qb_errmsg());
        if (st == QB_OK) st = fin;
    }
    free(args);
    qb_machine_free(&m);
    qb_db_close(&db);
    return st;
}

void qb_cli_rows_begin(int json, qb_json *j, qb_table *t, const char *run_id, const char *const *cols) {
    if (json) {
        qb_json_begin(j, stdout);
        qb_json_kstr(j, "run", run_id);
        qb_json_key(j, "rows");
        qb_json_arr(j);
    } else {
        qb_table_init(t, cols);
    }
}

void qb_cli_rows_end(int json, qb_json *j, qb_table *t) {
    if (json) {
        qb_json_arr_end(j);
        return;
    }
    if (t->nrows) qb_table_print(t, stdout, QB_TABLE_TEXT);
    qb_table_free(t);
}

qb_status qb_cli_shard(const char *s, int *i, int *n) {
    long long a, b;
    char tail;
    if (sscanf(s, "%lld/%lld%c", &a, &b, &tail) != 2 || b < 1 || b > 100000 || a < 0 || a >= b)
        return qb_fail(QB_EUSAGE, "--shard needs I/N with 0 <= I < N (e.g. 0/4 … 3/4), not '%s'", s);
    *i = (int)a, *n = (int)b;
    return QB_OK;
}

qb_status qb_cli_int(const char *opt, const char *s, int64_t min, int64_t max, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return qb_fail(QB_EUSAGE, "--%s needs an integer from %lld to %lld, not '%s'", opt, (long long)min, (long long)max, s);
    *out = v;
    return QB_OK;
}
