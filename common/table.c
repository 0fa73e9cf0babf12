/* table.c — renders a qb_table as text, Markdown, CSV (RFC 4180 quoting) or HTML. */
#include "table.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qb.h"

void qb_table_init(qb_table *t, const char *const *cols) {
    memset(t, 0, sizeof *t);
    while (cols[t->ncols]) t->ncols++;
    t->head = qb_malloc(sizeof(char *) * (size_t)t->ncols);
    for (int c = 0; c < t->ncols; c++) {
        const char *name = cols[c];
        if (name[0] == '>') {
            t->align |= 1u << c;
            name++;
        }
        t->head[c] = qb_strdup(name);
    }
}

void qb_table_row(qb_table *t, const char *const *cells) {
    if (t->nrows == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 16;
        t->cells = qb_realloc(t->cells, sizeof(char *) * (size_t)t->cap * (size_t)t->ncols);
    }
    for (int c = 0; c < t->ncols; c++)
        t->cells[(size_t)t->nrows * t->ncols + c] = qb_strdup(cells[c] ? cells[c] : "");
    t->nrows++;
}

static const char *cell(const qb_table *t, int r, int c) {
    return r < 0 ? t->head[c] : t->cells[(size_t)r * t->ncols + c];
}

void qb_put_csv(FILE *f, const char *s) {
    if (!s) return;
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void qb_put_html(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

static void put_md(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '|') fputc('\\', f);
        fputc(*s, f);
    }
}

void qb_table_print(const qb_table *t, FILE *f, qb_table_style style) {
    if (style == QB_TABLE_CSV) {
        for (int r = -1; r < t->nrows; r++)
            for (int c = 0; c < t->ncols; c++) {
                qb_put_csv(f, cell(t, r, c));
                fputc(c + 1 < t->ncols ? ',' : '\n', f);
            }
        return;
    }
    if (style == QB_TABLE_HTML) {
        fputs("<table>\n<thead><tr>", f);
        for (int c = 0; c < t->ncols; c++) {
            fputs("<th>", f);
            qb_put_html(f, t->head[c]);
            fputs("</th>", f);
        }
        fputs("</tr></thead>\n<tbody>\n", f);
        for (int r = 0; r < t->nrows; r++) {
            fputs("<tr>", f);
            for (int c = 0; c < t->ncols; c++) {
                fputs((t->align >> c) & 1 ? "<td class=\"num\">" : "<td>", f);
                qb_put_html(f, cell(t, r, c));
                fputs("</td>", f);
            }
            fputs("</tr>\n", f);
        }
        fputs("</tbody>\n</table>\n", f);
        return;
    }
    size_t w[64] = {0};
    int ncols = t->ncols < 64 ? t->ncols : 64;
    for (int r = -1; r < t->nrows; r++)
        for (int c = 0; c < ncols; c++) {
            size_t n = strlen(cell(t, r, c));
            if (n > w[c]) w[c] = n;
        }
    int md = style == QB_TABLE_MARKDOWN;
    for (int r = -1; r < t->nrows; r++) {
        if (md) fputs("| ", f);
        for (int c = 0; c < ncols; c++) {
            const char *s = cell(t, r, c);
            int pad = (int)(w[c] - strlen(s));
            int right = (t->align >> c) & 1;
            if (right) fprintf(f, "%*s", pad, "");
            if (md) put_md(f, s); else fputs(s, f);
            if (!right && (c + 1 < ncols || md)) fprintf(f, "%*s", pad, "");
            if (c + 1 < ncols) fputs(md ? " | " : "  ", f);
        }
        fputs(md ? " |\n" : "\n", f);
        if (r == -1) { /* rule under the header */
            if (md) fputc('|', f);
            for (int c = 0; c < ncols; c++) {
                if (md) {
                    fputc((t->align >> c) & 1 ? ' ' : ':', f);
                    for (size_t k = 0; k < w[c]; k++) fputc('-', f);
                    fputs((t->align >> c) & 1 ? ":|" : " |", f);
                } else {
                    for (size_t k = 0; k < w[c]; k++) fputc('-', f);
                    if (c + 1 < ncols) fputs("  ", f);
                }
            }
            fputc('\n', f);
        }
    }
}

void qb_table_free(qb_table *t) {
    for (int c = 0; c < t->ncols; c++) free(t->head[c]);
    for (size_t i = 0; i < (size_t)t->nrows * t->ncols; i++) free(t->cells[i]);
    free(t->head);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

static char *ring_next(void) {
    static _Thread_local char ring[16][48];
    static _Thread_local int k;
    k = (k + 1) & 15;
    return ring[k];
}

static const char *nonfinite(double v) {
    return isnan(v) ? "nan" : v > 0 ? "inf" : "-inf";
}

const char *qb_fmt_g(double v, int prec) {
    if (!isfinite(v)) return nonfinite(v);
    char *b = ring_next();
    snprintf(b, 48, "%.*g", prec, v);
    return b;
}

const char *qb_fmt_f(double v, int decimals) {
    if (!isfinite(v)) return nonfinite(v);
    char *b = ring_next();
    snprintf(b, 48, "%.*f", decimals, v);
    return b;
}

/* Cosines of good formats are 0.99999…: 4 significant digits would print them all as "1" and
 * hide the differences the column exists to show, so keep 4 digits of the distance from 1. */
const char *qb_fmt_cosine(double v) {
    double d = 1.0 - v;
    if (isfinite(v) && d > 1e-12 && d < 1e-2) { /* below 1e-12: rounding in the sums, print 1 */
        int decimals = (int)floor(-log10(d)) + 4;
        return qb_fmt_f(v, decimals < 15 ? decimals : 15);
    }
    return qb_fmt_g(v, 4);
}
