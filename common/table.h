/* table.h — one table of text cells rendered as an aligned terminal table, Markdown, CSV or
 * HTML. The CLI and the report both print through it, so a column added once shows up in
 * every rendering. */
#ifndef QB_TABLE_H
#define QB_TABLE_H

#include <stdio.h>

typedef enum { QB_TABLE_TEXT, QB_TABLE_MARKDOWN, QB_TABLE_CSV, QB_TABLE_HTML } qb_table_style;

typedef struct qb_table {
    int ncols;
    char **head;      /* [ncols] */
    unsigned align;   /* bit c set: column c right-aligned (numbers) */
    int nrows, cap;
    char **cells;     /* [nrows * ncols], heap strings */
} qb_table;

/* Columns named by a NULL-terminated list; a name starting with '>' is right-aligned. */
void qb_table_init(qb_table *t, const char *const *cols);
/* Appends a row of ncols cells printed with printf-style formats: one format per cell is
 * awkward, so cells are passed already formatted (NULL prints as empty). */
void qb_table_row(qb_table *t, const char *const *cells);
void qb_table_print(const qb_table *t, FILE *f, qb_table_style style);
void qb_table_free(qb_table *t);

/* Formats a double with `prec` significant digits, "inf"/"-inf"/"nan" when not finite, into
 * one of a small ring of static buffers (valid until 16 further calls). */
const char *qb_fmt_g(double v, int prec);
/* Fixed decimals, same conventions. */
const char *qb_fmt_f(double v, int decimals);

/* Writes s with HTML's special characters escaped (text and attribute values). */
void qb_put_html(FILE *f, const char *s);
/* Writes s as one CSV cell, quoted as RFC 4180 when it holds a separator, quote or line break
 * (NULL writes an empty cell). */
void qb_put_csv(FILE *f, const char *s);

/* A value near 1 (a cosine similarity) with 4 significant digits of its distance from 1. */
const char *qb_fmt_cosine(double v);

#endif
