/* merge.c — see merge.h. The source is attached to the output's connection so each table is
 * copied by one INSERT … SELECT inside SQLite, whatever its size; foreign keys are checked at
 * COMMIT (defer_foreign_keys) so tables can be visited in any order. */
#include "merge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"

/* A growable string for building SQL; identifiers come from the schema, never from users. */
typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s) {
    size_t k = strlen(s);
    if (b->n + k + 1 > b->cap) {
        b->cap = (b->n + k + 1) * 2;
        b->p = qb_realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, k + 1);
    b->n += k;
}

static qb_status sqlerr(sqlite3 *h, const char *path, const char *what) {
    return qb_fail(QB_EDB, "merging %s: %s failed: %s", path, what, sqlite3_errmsg(h));
}

/* Opens the source read-only on its own connection to check it is ours and not newer, before
 * anything is attached or written. */
static qb_status check_source(const char *path) {
    sqlite3 *h = NULL;
    qb_status st = QB_OK;
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        st = qb_fail(QB_EDB, "cannot open %s: %s", path, h ? sqlite3_errmsg(h) : "out of memory");
        sqlite3_close(h);
        return st;
    }
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(h, "SELECT (SELECT application_id FROM pragma_application_id),"
                              " (SELECT user_version FROM pragma_user_version)", -1, &s, NULL) != SQLITE_OK) {
        st = qb_fail(QB_EDB, "%s is not an SQLite database (%s)", path, sqlite3_errmsg(h));
    } else {
        int appid = 0, ver = 0;
        if (sqlite3_step(s) == SQLITE_ROW) appid = sqlite3_column_int(s, 0), ver = sqlite3_column_int(s, 1);
        if (appid != QB_APPLICATION_ID)
            st = qb_fail(QB_EDB, "%s is not a quantbench results database (application_id %d)", path, appid);
        else if (ver > qb_schema_version())
            st = qb_fail(QB_EDB, "%s has schema version %d, newer than this quantbench (%d); merge with a newer quantbench",
                         path, ver, qb_schema_version());
    }
    sqlite3_finalize(s);
    sqlite3_close(h);
    return st;
}

typedef struct colset {
    int n, npk;
    char **name;
    int *pk; /* position in the primary key (1-based), 0 when not part of it */
} colset;

static void colset_free(colset *c) {
    for (int i = 0; i < c->n; i++) free(c->name[i]);
    free(c->name);
    free(c->pk);
    memset(c, 0, sizeof *c);
}

/* The columns of `table` in the output that the source's table also has. */
static qb_status common_columns(sqlite3 *h, const char *path, const char *table, colset *c) {
    sqlite3_stmt *s;
    memset(c, 0, sizeof *c);
    if (sqlite3_prepare_v2(h, "SELECT m.name, m.pk FROM pragma_table_info(?1, 'main') m"
                              " JOIN pragma_table_info(?1, 'src') s ON s.name = m.name ORDER BY m.cid",
                           -1, &s, NULL) != SQLITE_OK)
        return sqlerr(h, path, "reading columns");
    sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
    while (sqlite3_step(s) == SQLITE_ROW) {
        c->name = qb_realloc(c->name, sizeof *c->name * (size_t)(c->n + 1));
        c->pk = qb_realloc(c->pk, sizeof *c->pk * (size_t)(c->n + 1));
        c->name[c->n] = qb_strdup((const char *)sqlite3_column_text(s, 0));
        c->pk[c->n] = sqlite3_column_int(s, 1);
        c->npk += c->pk[c->n] > 0;
        c->n++;
    }
    sqlite3_finalize(s);
    return QB_OK;
}

/* "a, b, c" or with a prefix "s.a, s.b, s.c" */
static void list_cols(sbuf *b, const colset *c, const char *prefix) {
    for (int i = 0; i < c->n; i++) {
        sb_add(b, i ? ", " : "");
        sb_add(b, prefix);
        sb_add(b, "\"");
        sb_add(b, c->name[i]);
        sb_add(b, "\"");
    }
}

/* "m.k1 IS s.k1 AND …" over the key columns (or every column when want_key is 0). */
static void match_cols(sbuf *b, const colset *c, int want_key) {
    int k = 0;
    for (int i = 0; i < c->n; i++) {
        if (want_key && !c->pk[i]) continue;
        sb_add(b, k++ ? " AND " : "");
        sb_add(b, "m.\"");
        sb_add(b, c->name[i]);
        sb_add(b, "\" IS s.\"");
        sb_add(b, c->name[i]);
        sb_add(b, "\"");
    }
}

static qb_status count_sql(sqlite3 *h, const char *path, const char *sql, int64_t *out, char **first_key) {
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) != SQLITE_OK) return sqlerr(h, path, "comparing rows");
    *out = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (first_key && !*first_key) *first_key = qb_strdup((const char *)sqlite3_column_text(s, 0));
        (*out)++;
    }
    sqlite3_finalize(s);
    return QB_OK;
}

static qb_status merge_table(sqlite3 *h, const char *path, const char *table, qb_merge_table *r) {
    colset c;
    qb_status st = common_columns(h, path, table, &c);
    if (st || c.n == 0) return st;
    /* without a declared key (none today) a row is its own key: identical rows are the same row */
    int main_pk = 0;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(h, "SELECT count(*) FROM pragma_table_info(?1, 'main') WHERE pk > 0", -1, &s, NULL) != SQLITE_OK) {
        colset_free(&c);
        return sqlerr(h, path, "reading the key");
    }
    sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW) main_pk = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    if (c.npk != main_pk) {
        colset_free(&c);
        return qb_fail(QB_EDB, "merging %s: table %s lacks part of its key; merge with the quantbench that wrote it", path, table);
    }
    int keyed = main_pk > 0;
    sbuf from = {0}, q = {0};
    char qt[200];
    snprintf(qt, sizeof qt, "\"%s\"", table);
    sb_add(&from, " FROM src.");
    sb_add(&from, qt);
    sb_add(&from, " s JOIN main.");
    sb_add(&from, qt);
    sb_add(&from, " m ON ");
    match_cols(&from, &c, keyed);

    /* rows already present: identical ones, then conflicting ones (key shown for the first) */
    sb_add(&q, "SELECT 1");
    sb_add(&q, from.p);
    sb_add(&q, " WHERE ");
    match_cols(&q, &c, 0);
    st = count_sql(h, path, q.p, &r->same, NULL);
    if (!st && keyed) {
        q.n = 0;
        sb_add(&q, "SELECT ");
        int k = 0;
        for (int i = 0; i < c.n; i++) {
            if (!c.pk[i]) continue;
            sb_add(&q, k++ ? " || ', ' || '" : "'");
            sb_add(&q, c.name[i]);
            sb_add(&q, "=' || quote(s.\"");
            sb_add(&q, c.name[i]);
            sb_add(&q, "\")");
        }
        sb_add(&q, from.p);
        sb_add(&q, " WHERE NOT (");
        match_cols(&q, &c, 0);
        sb_add(&q, ")");
        st = count_sql(h, path, q.p, &r->conflicts, &r->first_conflict);
    }
    if (!st) {
        q.n = 0;
        sb_add(&q, "INSERT INTO main.");
        sb_add(&q, qt);
        sb_add(&q, "(");
        list_cols(&q, &c, "");
        sb_add(&q, ") SELECT ");
        list_cols(&q, &c, "s.");
        sb_add(&q, " FROM src.");
        sb_add(&q, qt);
        sb_add(&q, " s WHERE NOT EXISTS (SELECT 1 FROM main.");
        sb_add(&q, qt);
        sb_add(&q, " m WHERE ");
        match_cols(&q, &c, keyed);
        sb_add(&q, ")");
        char *msg = NULL;
        if (sqlite3_exec(h, q.p, NULL, NULL, &msg) != SQLITE_OK) {
            st = qb_fail(QB_EDB, "merging %s: copying table %s failed: %s", path, table, msg ? msg : "?");
            sqlite3_free(msg);
        } else {
            r->added = sqlite3_changes64(h);
        }
    }
    free(from.p);
    free(q.p);
    colset_free(&c);
    return st;
}

qb_status qb_db_merge(qb_db *out, const char *src_path, qb_merge_result *res) {
    memset(res, 0, sizeof *res);
    qb_status st = check_source(src_path);
    if (st) return st;
    sqlite3 *h = out->h;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(h, "ATTACH ?1 AS src", -1, &s, NULL) != SQLITE_OK) return sqlerr(h, src_path, "attaching");
    sqlite3_bind_text(s, 1, src_path, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return sqlerr(h, src_path, "attaching");

    st = sqlite3_exec(h, "BEGIN IMMEDIATE; PRAGMA defer_foreign_keys=ON", NULL, NULL, NULL) == SQLITE_OK
             ? QB_OK : sqlerr(h, src_path, "BEGIN");
    if (!st && sqlite3_prepare_v2(h, "SELECT m.name FROM main.sqlite_schema m WHERE m.type = 'table'"
                                     " AND m.name NOT LIKE 'sqlite_%'"
                                     " AND EXISTS (SELECT 1 FROM src.sqlite_schema s WHERE s.type = 'table' AND s.name = m.name)"
                                     " ORDER BY m.rowid", -1, &s, NULL) != SQLITE_OK)
        st = sqlerr(h, src_path, "listing tables");
    if (!st) {
        char **names = NULL;
        int n = 0;
        while (sqlite3_step(s) == SQLITE_ROW) {
            names = qb_realloc(names, sizeof *names * (size_t)(n + 1));
            names[n++] = qb_strdup((const char *)sqlite3_column_text(s, 0));
        }
        sqlite3_finalize(s);
        res->t = qb_calloc((size_t)(n ? n : 1), sizeof *res->t);
        for (int i = 0; i < n; i++) {
            res->t[i].name = names[i];
            res->n = i + 1;
            if (!st) st = merge_table(h, src_path, names[i], &res->t[i]);
        }
        free(names);
    }
    if (!st && sqlite3_exec(h, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        st = sqlerr(h, src_path, "COMMIT (rows that refer to missing runs, machines or inputs?)");
    if (st) {
        sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
        qb_merge_result_free(res); /* nothing of this source was merged */
    }
    sqlite3_exec(h, "DETACH src", NULL, NULL, NULL);
    return st;
}

void qb_merge_result_free(qb_merge_result *res) {
    for (int i = 0; i < res->n; i++) {
        free(res->t[i].name);
        free(res->t[i].first_conflict);
    }
    free(res->t);
    memset(res, 0, sizeof *res);
}
