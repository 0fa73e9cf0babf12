/* page.c — index.md and index.html written together (page.h). */
#include "page.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char html_css[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;"
    "max-width:72rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b;line-height:1.45}\n"
    "h1{font-size:1.45rem;word-break:break-all}h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:1px solid #ddd}"
    "h3{font-size:1.05rem;margin-bottom:.3rem}\n"
    "table{border-collapse:collapse;margin:.4rem 0 1.2rem;font-size:.9rem}\n"
    "th,td{border:1px solid #ccc;padding:.22rem .6rem;text-align:left;vertical-align:top}\n"
    "th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    "table.meta th{background:none;white-space:nowrap}\n"
    ".scroll{overflow-x:auto}\n"
    ".warn{border:2px solid #c62828;background:#fdecea;padding:.6rem 1rem;margin:1rem 0}\n"
    ".status-bad{color:#c62828;font-weight:bold}\n"
    ".plot svg{display:block;width:100%;max-width:1000px;height:auto}\n"
    ".note{color:#555;font-size:.92rem}code{background:#f2f2f2;padding:0 .2rem}\n"
    "nav a{margin-right:1rem}summary{cursor:pointer;color:#1f4e99;margin:.4rem 0}\n";

void qb_put_md(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '\n' || *s == '\r') {
            fputc(' ', f);
            continue;
        }
        if (strchr("\\`*_[]<>|#!", *s)) fputc('\\', f);
        fputc(*s, f);
    }
}

static void fail(qb_page *pg, qb_status st) {
    if (!pg->st) pg->st = st;
}

qb_status qb_page_open(qb_page *pg, qb_db *db, const char *out_dir, const char *title) {
    memset(pg, 0, sizeof *pg);
    pg->db = db;
    pg->out_dir = out_dir;
    char *md = qb_path_join(out_dir, "index.md"), *html = qb_path_join(out_dir, "index.html");
    qb_status st = qb_out_open(&pg->md, md);
    if (!st) {
        st = qb_out_open(&pg->html, html);
        if (st) qb_out_abort(&pg->md);
    }
    free(md);
    free(html);
    if (st) {
        memset(pg, 0, sizeof *pg);
        return qb_fail(QB_ERUNTIME, "%s (choose a writable report directory)", qb_errmsg());
    }
    fputs("# ", pg->md.f);
    qb_put_md(pg->md.f, title);
    fputs("\n\n", pg->md.f);
    FILE *h = pg->html.f;
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>", h);
    qb_put_html(h, title);
    fprintf(h, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>", html_css);
    qb_put_html(h, title);
    fputs("</h1>\n", h);
    return QB_OK;
}

static qb_status commit(qb_outfile *o, qb_status st) {
    if (!o->f) return st;
    if (!st && ferror(o->f)) st = qb_fail(QB_ERUNTIME, "writing '%s' failed (disk full?)", o->path);
    if (st) {
        qb_out_abort(o);
        return st;
    }
    st = qb_out_commit(o);
    return st ? qb_fail(QB_ERUNTIME, "%s", qb_errmsg()) : QB_OK;
}

qb_status qb_page_close(qb_page *pg) {
    if (pg->html.f) fputs("</body>\n</html>\n", pg->html.f);
    qb_status st = commit(&pg->md, pg->st);
    st = commit(&pg->html, st);
    memset(&pg->md, 0, sizeof pg->md);
    memset(&pg->html, 0, sizeof pg->html);
    return st;
}

void qb_page_free(qb_page *pg) {
    if (pg->md.f) qb_out_abort(&pg->md);
    if (pg->html.f) qb_out_abort(&pg->html);
    for (int i = 0; i < pg->nfiles; i++) free(pg->files[i]);
    free(pg->files);
    free(pg->plot_error);
    memset(pg, 0, sizeof *pg);
}

void qb_page_add_file(qb_page *pg, const char *name) {
    pg->files = qb_realloc(pg->files, sizeof *pg->files * (size_t)(pg->nfiles + 1));
    pg->files[pg->nfiles++] = qb_strdup(name);
}

char *qb_page_run_anchor(const char *kind, const char *run_id) { return qb_asprintf("%s-%.8s", kind, run_id); }

void qb_page_run_heading(qb_page *pg, const char *kind, const char *title, const char *run_id, int up_to) {
    char *h = qb_asprintf("%s (%srun %.8s)", title, up_to ? "up to " : "", run_id), *anchor = qb_page_run_anchor(kind, run_id);
    qb_page_heading(pg, 2, h, anchor);
    free(anchor);
    free(h);
}

void qb_page_heading(qb_page *pg, int level, const char *text, const char *anchor) {
    if (pg->st) return;
    fprintf(pg->md.f, "%.*s ", level, "######");
    qb_put_md(pg->md.f, text);
    fputs("\n\n", pg->md.f);
    fprintf(pg->html.f, "<h%d", level);
    if (anchor) {
        fputs(" id=\"", pg->html.f);
        qb_put_html(pg->html.f, anchor);
        fputc('"', pg->html.f);
    }
    fputc('>', pg->html.f);
    qb_put_html(pg->html.f, text);
    fprintf(pg->html.f, "</h%d>\n", level);
}

void qb_page_nav(qb_page *pg, const char *const *labels, const char *const *anchors, int n) {
    if (pg->st || n == 0) return;
    fputs("<nav>", pg->html.f);
    for (int i = 0; i < n; i++) {
        fputs("<a href=\"#", pg->html.f);
        qb_put_html(pg->html.f, anchors[i]);
        fputs("\">", pg->html.f);
        qb_put_html(pg->html.f, labels[i]);
        fputs("</a>", pg->html.f);
    }
    fputs("</nav>\n", pg->html.f);
}

static void para(qb_page *pg, const char *cls, const char *label, const char *text) {
    if (pg->st) return;
    if (label) {
        fputs("**", pg->md.f);
        qb_put_md(pg->md.f, label);
        fputs("** ", pg->md.f);
    }
    qb_put_md(pg->md.f, text);
    fputs("\n\n", pg->md.f);
    fprintf(pg->html.f, "<p%s%s%s>", cls ? " class=\"" : "", cls ? cls : "", cls ? "\"" : "");
    if (label) {
        fputs("<strong>", pg->html.f);
        qb_put_html(pg->html.f, label);
        fputs("</strong> ", pg->html.f);
    }
    qb_put_html(pg->html.f, text);
    fputs("</p>\n", pg->html.f);
}

void qb_page_para(qb_page *pg, const char *text) { para(pg, NULL, NULL, text); }
void qb_page_note(qb_page *pg, const char *text) { para(pg, "note", NULL, text); }
void qb_page_warn(qb_page *pg, const char *label, const char *text) {
    if (pg->st) return;
    fputs("> ", pg->md.f);
    para(pg, "warn", label, text);
}

void qb_page_fields(qb_page *pg, const char *const *keys, char *const *vals, int n, int bad_key) {
    if (pg->st) return;
    fputs("<table class=\"meta\">\n", pg->html.f);
    for (int i = 0; i < n; i++) {
        fprintf(pg->md.f, "- **%s:** ", keys[i]);
        qb_put_md(pg->md.f, vals[i]);
        fputc('\n', pg->md.f);
        fprintf(pg->html.f, "<tr><th>%s</th><td%s>", keys[i], i == bad_key ? " class=\"status-bad\"" : "");
        qb_put_html(pg->html.f, vals[i]);
        fputs("</td></tr>\n", pg->html.f);
    }
    fputs("\n", pg->md.f);
    fputs("</table>\n", pg->html.f);
}

void qb_page_table(qb_page *pg, const qb_table *t) {
    if (pg->st) return;
    qb_table_print(t, pg->md.f, QB_TABLE_MARKDOWN);
    fputc('\n', pg->md.f);
    fputs("<div class=\"scroll\">\n", pg->html.f);
    qb_table_print(t, pg->html.f, QB_TABLE_HTML);
    fputs("</div>\n", pg->html.f);
}

void qb_page_fold(qb_page *pg, const char *summary) {
    if (pg->st) return;
    fputs("<details>\n<summary>", pg->html.f);
    qb_put_html(pg->html.f, summary);
    fputs("</summary>\n", pg->html.f);
}

void qb_page_unfold(qb_page *pg) {
    if (!pg->st) fputs("</details>\n", pg->html.f);
}

void qb_page_csv(qb_page *pg, const qb_table *t, const char *name, const char *what) {
    if (pg->st) return;
    char *path = qb_path_join(pg->out_dir, name);
    qb_outfile o;
    memset(&o, 0, sizeof o);
    qb_status st = qb_out_open(&o, path);
    if (st) {
        fail(pg, qb_fail(QB_ERUNTIME, "%s (choose a writable report directory)", qb_errmsg()));
    } else {
        qb_table_print(t, o.f, QB_TABLE_CSV);
        fail(pg, commit(&o, QB_OK));
        qb_page_add_file(pg, name);
    }
    free(path);
    if (pg->st) return;
    fprintf(pg->md.f, "%s with full precision: [%s](%s).\n\n", what, name, name);
    fprintf(pg->html.f, "<p class=\"note\">%s with full precision: <a href=\"%s\">%s</a>.</p>\n", what, name, name);
}

int qb_page_sql_table(qb_page *pg, const char *sql, const char *const *params, int nparams, const char *const *skip, int lead,
                      const char *csv_name, const char *what) {
    if (pg->st) return 0;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(pg->db->h, sql, -1, &s, NULL) != SQLITE_OK) {
        pg->st = qb_fail(QB_EDB, "database %s: reading the %s failed: %s", pg->db->path, what, sqlite3_errmsg(pg->db->h));
        return 0;
    }
    for (int i = 0; i < nparams; i++) sqlite3_bind_text(s, i + 1, params[i], -1, SQLITE_TRANSIENT);
    int ncols = sqlite3_column_count(s), nrows = 0, cap = 0, rc;
    /* cells are kept as SQLite values first: which columns to show is known only at the end */
    sqlite3_value **vals = NULL;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (nrows == cap) {
            cap = cap ? 2 * cap : 32;
            vals = qb_realloc(vals, sizeof *vals * (size_t)cap * (size_t)ncols);
        }
        for (int c = 0; c < ncols; c++) vals[(size_t)nrows * (size_t)ncols + (size_t)c] = sqlite3_value_dup(sqlite3_column_value(s, c));
        nrows++;
    }
    if (rc != SQLITE_DONE)
        fail(pg, qb_fail(QB_EDB, "database %s: reading the %s failed: %s", pg->db->path, what, sqlite3_errmsg(pg->db->h)));
    int *keep = qb_calloc((size_t)ncols + 1, sizeof *keep), nkeep = 0;
    char **head = qb_calloc((size_t)ncols + 1, sizeof *head);
    for (int c = 0; c < ncols; c++) {
        const char *name = sqlite3_column_name(s, c);
        int skipped = 0, any = 0, num = 1;
        for (int k = 0; skip && skip[k]; k++) skipped |= strcmp(skip[k], name) == 0;
        for (int r = 0; r < nrows; r++) {
            int ty = sqlite3_value_type(vals[(size_t)r * (size_t)ncols + (size_t)c]);
            if (ty != SQLITE_NULL) any = 1;
            if (ty == SQLITE_TEXT || ty == SQLITE_BLOB) num = 0;
        }
        if (skipped || !any) continue;
        head[nkeep] = qb_asprintf("%s%s", num ? ">" : "", name);
        keep[nkeep++] = c;
    }
    /* every cell formatted once and owned here: qb_fmt_g's buffers are a small ring */
    size_t ncell = (size_t)nrows * (size_t)nkeep;
    char **human = qb_calloc(ncell + 1, sizeof *human), **full = qb_calloc(ncell + 1, sizeof *full);
    for (int r = 0; r < nrows; r++)
        for (int k = 0; k < nkeep; k++) {
            sqlite3_value *v = vals[(size_t)r * (size_t)ncols + (size_t)keep[k]];
            size_t i = (size_t)r * (size_t)nkeep + (size_t)k;
            if (sqlite3_value_type(v) == SQLITE_FLOAT) {
                human[i] = qb_strdup(qb_fmt_g(sqlite3_value_double(v), 4));
                full[i] = qb_strdup(qb_fmt_g(sqlite3_value_double(v), 9));
            } else if (sqlite3_value_type(v) != SQLITE_NULL && sqlite3_value_text(v)) {
                human[i] = qb_strdup((const char *)sqlite3_value_text(v));
                full[i] = qb_strdup(human[i]);
            }
        }
    sqlite3_finalize(s);
    /* Wide results (evals has ~40 columns) are shown as several tables of at most
     * QB_PAGE_MAX_COLS columns, each repeating the `lead` identifying columns: one table that
     * wide is unreadable, and qb_table aligns at most 32 columns. The CSV has them all. */
    if (lead < 0 || lead >= QB_PAGE_MAX_COLS) lead = 0;
    if (nkeep && nrows) {
        for (int from = 0; from < nkeep;) {
            int lead_here = from ? lead : 0, take = QB_PAGE_MAX_COLS - lead_here;
            if (take > nkeep - from) take = nkeep - from;
            const char *gh[QB_PAGE_MAX_COLS + 1];
            int cols[QB_PAGE_MAX_COLS], n = 0;
            for (int k = 0; k < lead_here; k++) cols[n++] = k;
            for (int k = from; k < from + take; k++) cols[n++] = k;
            for (int k = 0; k < n; k++) gh[k] = head[cols[k]];
            gh[n] = NULL;
            qb_table t;
            qb_table_init(&t, gh);
            for (int r = 0; r < nrows; r++) {
                const char *row[QB_PAGE_MAX_COLS];
                for (int k = 0; k < n; k++) row[k] = human[(size_t)r * (size_t)nkeep + (size_t)cols[k]];
                qb_table_row(&t, row);
            }
            qb_page_table(pg, &t);
            qb_table_free(&t);
            from += take;
        }
        if (csv_name && !pg->st) {
            char *path = qb_path_join(pg->out_dir, csv_name);
            qb_outfile o;
            memset(&o, 0, sizeof o);
            qb_status st = qb_out_open(&o, path);
            if (st) {
                fail(pg, qb_fail(QB_ERUNTIME, "%s (choose a writable report directory)", qb_errmsg()));
            } else {
                for (int k = 0; k < nkeep; k++) {
                    if (k) fputc(',', o.f);
                    qb_put_csv(o.f, head[k] + (head[k][0] == '>'));
                }
                fputc('\n', o.f);
                for (int r = 0; r < nrows; r++) {
                    for (int k = 0; k < nkeep; k++) {
                        if (k) fputc(',', o.f);
                        qb_put_csv(o.f, full[(size_t)r * (size_t)nkeep + (size_t)k]);
                    }
                    fputc('\n', o.f);
                }
                fail(pg, commit(&o, QB_OK));
                qb_page_add_file(pg, csv_name);
                if (!pg->st) {
                    fprintf(pg->md.f, "%s with full precision: [%s](%s).\n\n", what, csv_name, csv_name);
                    fprintf(pg->html.f, "<p class=\"note\">%s with full precision: <a href=\"%s\">%s</a>.</p>\n", what, csv_name,
                            csv_name);
                }
            }
            free(path);
        }
    }
    for (size_t i = 0; i < ncell; i++) {
        free(human[i]);
        free(full[i]);
    }
    free(human);
    free(full);
    for (size_t i = 0; i < (size_t)nrows * (size_t)ncols; i++) sqlite3_value_free(vals[i]);
    free(vals);
    for (int k = 0; k < nkeep; k++) free(head[k]);
    free(head);
    free(keep);
    return nrows;
}

void qb_page_plot(qb_page *pg, const qb_plot *p, const char *caption) {
    if (pg->st) return;
    int drawn;
    char *why = NULL;
    qb_status st = qb_plot_draw(p, pg->out_dir, &drawn, &why);
    if (st) {
        fail(pg, st);
        return;
    }
    char *dat = qb_asprintf("%s.dat", p->name), *gp = qb_asprintf("%s.gp", p->name);
    char *svg = qb_asprintf("%s.svg", p->name), *png = qb_asprintf("%s.png", p->name);
    qb_page_add_file(pg, dat);
    qb_page_add_file(pg, gp);
    FILE *m = pg->md.f, *h = pg->html.f;
    if (drawn) {
        qb_page_add_file(pg, svg);
        qb_page_add_file(pg, png);
        fprintf(m, "![");
        qb_put_md(m, caption);
        fprintf(m, "](%s)\n\n", svg);
        fputs("<figure>\n<div class=\"plot\">\n", h);
        char *svg_path = qb_path_join(pg->out_dir, svg);
        fail(pg, qb_plot_inline_svg(h, svg_path));
        free(svg_path);
        fputs("\n</div>\n<figcaption class=\"note\">", h);
        qb_put_html(h, caption);
        fprintf(h, " Also as <a href=\"%s\">PNG</a>.</figcaption>\n</figure>\n", png);
    } else {
        qb_page_warn(pg, "Plot not drawn:", why);
        if (!pg->plot_error) pg->plot_error = qb_strdup(why);
    }
    char *dir = qb_sh_quote(pg->out_dir);
    fprintf(m, "Data: [%s](%s); script: [%s](%s), redraw with `cd %s && gnuplot %s`.\n\n", dat, dat, gp, gp, dir, gp);
    fprintf(h, "<p class=\"note\">Data: <a href=\"%s\">%s</a>; script: <a href=\"%s\">%s</a>, redraw with <code>cd ", dat, dat, gp, gp);
    qb_put_html(h, dir);
    fprintf(h, " &amp;&amp; gnuplot %s</code>.</p>\n", gp);
    free(dir);
    free(why);
    free(dat);
    free(gp);
    free(svg);
    free(png);
}
