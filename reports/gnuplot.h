/* gnuplot.h — one plot of the report: NAME.dat (the data), NAME.gp (the script the user can
 * restyle and rerun by hand: `cd DIR && gnuplot NAME.gp`), and NAME.svg / NAME.png drawn by
 * gnuplot's svg and pngcairo terminals from that script.
 *
 * Invariants:
 *  1. The data and the script are always written, even when gnuplot is missing or fails:
 *     they are how the user draws the plot later.
 *  2. Old images of the same name are removed before drawing, so a report never shows an
 *     image from an earlier report beside new tables.
 *  3. gnuplot runs in the report directory on the script as written, exactly as a user
 *     would rerun it; its output goes to NAME.log. */
#ifndef QB_REPORT_GNUPLOT_H
#define QB_REPORT_GNUPLOT_H

#include <stdio.h>

#include "../common/io.h"
#include "../common/qb.h"

typedef struct qb_plot {
    const char *name;   /* file stem: NAME.dat, NAME.gp, NAME.svg, NAME.png */
    const char *title;  /* plot title (plain text) */
    const char *about;  /* comment for the script's header: what the data columns are */
    const char *setup;  /* gnuplot commands before the terminals (axes, styles), may be NULL */
    const char *plot;   /* the plot command(s) drawing NAME.dat; replayed for the PNG */
    const char *data;   /* the contents of NAME.dat */
    int width, height;  /* pixels; 0 = 900 x 540 */
} qb_plot;

/* Writes NAME.dat and NAME.gp into out_dir and draws the images. Returns QB_OK with *drawn
 * set when both images exist; QB_OK with *drawn = 0 and *why set (heap, one line) when
 * gnuplot is missing or failed; an error status only when the data or script cannot be
 * written. */
qb_status qb_plot_draw(const qb_plot *p, const char *out_dir, int *drawn, char **why);

/* Copies NAME.svg's <svg> element (without the XML prolog, not allowed inside HTML) to f. */
qb_status qb_plot_inline_svg(FILE *f, const char *svg_path);

/* A single-quoted gnuplot string (heap): quotes doubled, control characters as spaces. */
char *qb_gp_quote(const char *s);
/* A double-quoted string column of a data file; gnuplot has no escape for '"' there. */
void qb_gp_put_dat_str(FILE *f, const char *s);
/* s as a shell word for the "cd DIR && gnuplot …" hints (heap). */
char *qb_sh_quote(const char *s);
/* dir/name (heap). */
char *qb_path_join(const char *dir, const char *name);

#endif
