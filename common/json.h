/* json.h — a streaming JSON writer for `--json` output: one object per call site, commas and
 * escaping handled here. Non-finite numbers are written as null (JSON has no Inf/NaN). */
#ifndef QB_JSON_H
#define QB_JSON_H

#include <stdint.h>
#include <stdio.h>

typedef struct qb_json {
    FILE *f;
    int depth;
    unsigned need_comma; /* bit d: a value was already written at depth d */
} qb_json;

void qb_json_begin(qb_json *j, FILE *f);         /* opens the top-level object */
void qb_json_end(qb_json *j);                    /* closes it and prints a newline */
void qb_json_key(qb_json *j, const char *k);     /* inside an object: the next value's key */
void qb_json_obj(qb_json *j);                    /* { */
void qb_json_obj_end(qb_json *j);                /* } */
void qb_json_arr(qb_json *j);                    /* [ */
void qb_json_arr_end(qb_json *j);                /* ] */
void qb_json_str(qb_json *j, const char *s);     /* NULL writes null */
void qb_json_num(qb_json *j, double v);
void qb_json_int(qb_json *j, int64_t v);
void qb_json_null(qb_json *j);
/* key + value shorthands */
void qb_json_kstr(qb_json *j, const char *k, const char *s);
void qb_json_knum(qb_json *j, const char *k, double v);
void qb_json_kint(qb_json *j, const char *k, int64_t v);

/* A JSON object built in memory, for a database column (a run's or a case's config):
 * qb_json_doc_begin opens it and returns the writer; qb_json_doc_end closes it and returns
 * the object as one heap line, without the newline. */
typedef struct qb_json_doc {
    qb_json j;
    FILE *f;
    char *buf;
    size_t len;
} qb_json_doc;

qb_json *qb_json_doc_begin(qb_json_doc *d);
char *qb_json_doc_end(qb_json_doc *d);

#endif
