/* json.c — see json.h. */
#define _GNU_SOURCE /* open_memstream */
#include "json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void sep(qb_json *j) {
    if (j->need_comma & (1u << j->depth)) fputc(',', j->f);
    j->need_comma |= 1u << j->depth;
}

static void open_(qb_json *j, char c) {
    sep(j);
    fputc(c, j->f);
    j->depth++;
    j->need_comma &= ~(1u << j->depth);
}

static void close_(qb_json *j, char c) {
    j->depth--;
    fputc(c, j->f);
}

void qb_json_begin(qb_json *j, FILE *f) {
    j->f = f;
    j->depth = 0;
    j->need_comma = 0;
    open_(j, '{');
}

void qb_json_end(qb_json *j) {
    close_(j, '}');
    fputc('\n', j->f);
}

void qb_json_obj(qb_json *j) { open_(j, '{'); }
void qb_json_obj_end(qb_json *j) { close_(j, '}'); }
void qb_json_arr(qb_json *j) { open_(j, '['); }
void qb_json_arr_end(qb_json *j) { close_(j, ']'); }

static void put_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20) fprintf(f, "\\u%04x", *p);
            else fputc(*p, f);
        }
    }
    fputc('"', f);
}

void qb_json_key(qb_json *j, const char *k) {
    sep(j);
    put_string(j->f, k);
    fputc(':', j->f);
    j->need_comma &= ~(1u << j->depth); /* the value that follows needs no comma */
}

void qb_json_str(qb_json *j, const char *s) {
    sep(j);
    if (s) put_string(j->f, s);
    else fputs("null", j->f);
}

void qb_json_num(qb_json *j, double v) {
    sep(j);
    if (isfinite(v)) fprintf(j->f, "%.17g", v);
    else fputs("null", j->f);
}

void qb_json_int(qb_json *j, int64_t v) {
    sep(j);
    fprintf(j->f, "%lld", (long long)v);
}

void qb_json_null(qb_json *j) {
    sep(j);
    fputs("null", j->f);
}

void qb_json_kstr(qb_json *j, const char *k, const char *s) { qb_json_key(j, k); qb_json_str(j, s); }
void qb_json_knum(qb_json *j, const char *k, double v) { qb_json_key(j, k); qb_json_num(j, v); }
void qb_json_kint(qb_json *j, const char *k, int64_t v) { qb_json_key(j, k); qb_json_int(j, v); }

qb_json *qb_json_doc_begin(qb_json_doc *d) {
    d->buf = NULL;
    d->len = 0;
    d->f = open_memstream(&d->buf, &d->len);
    if (!d->f) { /* it fails only without memory */
        fprintf(stderr, "quantbench: error: out of memory for a JSON document\n");
        abort();
    }
    qb_json_begin(&d->j, d->f);
    return &d->j;
}

char *qb_json_doc_end(qb_json_doc *d) {
    qb_json_end(&d->j);
    fclose(d->f);
    d->buf[strcspn(d->buf, "\n")] = '\0';
    return d->buf;
}
