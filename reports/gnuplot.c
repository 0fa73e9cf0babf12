/* gnuplot.c — writes a plot's data and script and runs gnuplot on them (gnuplot.h).
 *
 * Scripts are generated as text here rather than installed as template files next to the
 * binary: a copied or relocated quantbench still writes a complete report, and the written
 * NAME.gp is the user's own copy. Terminals are noenhanced because format names contain
 * underscores, which enhanced text would set as subscripts ("int8_sym_row"). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* confstr */
#endif
#include "gnuplot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char *qb_path_join(const char *dir, const char *name) {
    size_t n = strlen(dir);
    return qb_asprintf("%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", name);
}

char *qb_gp_quote(const char *s) {
    size_t n = strlen(s);
    char *q = qb_malloc(2 * n + 3), *p = q;
    *p++ = '\'';
    for (; *s; s++) {
        if (*s == '\'') *p++ = '\'';
        *p++ = (unsigned char)*s < 0x20 ? ' ' : *s;
    }
    *p++ = '\'';
    *p = '\0';
    return q;
}

void qb_gp_put_dat_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) fputc(*s == '"' ? '\'' : (unsigned char)*s < 0x20 ? ' ' : *s, f);
    fputc('"', f);
}

/* Control characters become '?' because the hint also sits in one-line comments. */
char *qb_sh_quote(const char *s) {
    int plain = 1;
    for (const char *p = s; *p; p++)
        if (!strchr("/._-+,:=@%", *p) && !(*p >= '0' && *p <= '9') && !((*p | 32) >= 'a' && (*p | 32) <= 'z')) plain = 0;
    if (plain) return qb_strdup(s);
    size_t n = strlen(s);
    char *q = qb_malloc(4 * n + 3), *p = q;
    *p++ = '\'';
    for (; *s; s++) {
        if (*s == '\'') {
            memcpy(p, "'\\''", 4);
            p += 4;
        } else {
            *p++ = (unsigned char)*s < 0x20 ? '?' : *s;
        }
    }
    *p++ = '\'';
    *p = '\0';
    return q;
}

static int nonempty_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

/* Looks for an executable as execvp would, so a missing gnuplot gets an install hint rather
 * than the child's bare exit status 127. */
static int on_path(const char *name) {
    const char *path = getenv("PATH");
    char dflt[256] = "/bin:/usr/bin";
    if (!path) {
        confstr(_CS_PATH, dflt, sizeof dflt);
        path = dflt;
    }
    for (const char *p = path;;) {
        const char *end = strchr(p, ':');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char *full = n ? qb_asprintf("%.*s/%s", (int)n, p, name) : qb_strdup(name);
        struct stat st;
        int ok = stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0;
        free(full);
        if (ok) return 1;
        if (!end) return 0;
        p = end + 1;
    }
}

/* The last non-empty line of gnuplot's log: gnuplot ends with the line naming its error. */
static char *last_log_line(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char line[512], *last = NULL;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        const char *s = line + strspn(line, " \t^");
        if (*s) {
            free(last);
            last = qb_strdup(s);
        }
    }
    fclose(f);
    return last;
}

/* Runs `gnuplot NAME.gp` inside out_dir with its output in NAME.log; *why on failure. */
static void run_gnuplot(const char *out_dir, const char *name, char **why) {
    char *log_name = qb_asprintf("%s.log", name), *gp_name = qb_asprintf("%s.gp", name);
    char *log_path = qb_path_join(out_dir, log_name), *gp_path = qb_path_join(out_dir, gp_name);
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (log_fd < 0) {
        *why = qb_asprintf("cannot write gnuplot's log %s: %s", log_path, strerror(errno));
        goto done;
    }
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    char arg0[] = "gnuplot";
    char *argv[] = {arg0, gp_name, NULL};
    pid_t pid = fork();
    if (pid == 0) {
        /* child: only async-signal-safe calls until exec, the parent may have threads */
        static const char chdir_msg[] = "quantbench: cannot enter the report directory\n";
        static const char exec_msg[] = "quantbench: cannot execute gnuplot\n";
        dup2(log_fd, STDOUT_FILENO);
        dup2(log_fd, STDERR_FILENO);
        if (null_fd >= 0) dup2(null_fd, STDIN_FILENO); /* a `pause` in an edited script must not hang us */
        if (chdir(out_dir) != 0) {
            ssize_t w = write(STDERR_FILENO, chdir_msg, sizeof chdir_msg - 1);
            (void)w;
            _exit(126);
        }
        execvp(argv[0], argv);
        ssize_t w = write(STDERR_FILENO, exec_msg, sizeof exec_msg - 1);
        (void)w;
        _exit(127);
    }
    int fork_errno = errno;
    close(log_fd);
    if (null_fd >= 0) close(null_fd);
    if (pid < 0) {
        *why = qb_asprintf("cannot start gnuplot: fork failed: %s", strerror(fork_errno));
        goto done;
    }
    int ws;
    while (waitpid(pid, &ws, 0) < 0) {
        if (errno != EINTR) {
            *why = qb_asprintf("waiting for gnuplot failed: %s", strerror(errno));
            goto done;
        }
    }
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        char *last = last_log_line(log_path);
        char *how = WIFEXITED(ws) ? qb_asprintf("exited with status %d", WEXITSTATUS(ws))
                                  : qb_asprintf("was killed by signal %d", WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
        *why = qb_asprintf("gnuplot %s running %s%s%s; see %s", how, gp_path, last ? ": " : "", last ? last : "", log_path);
        free(how);
        free(last);
    }
done:
    free(log_name);
    free(gp_name);
    free(log_path);
    free(gp_path);
}

static qb_status write_file(const char *path, const char *text) {
    qb_outfile o;
    memset(&o, 0, sizeof o);
    qb_status st = qb_out_open(&o, path);
    if (!st) st = qb_out_write(&o, text, strlen(text));
    if (st) {
        if (o.f) qb_out_abort(&o);
        return qb_fail(QB_ERUNTIME, "%s (choose a writable report directory)", qb_errmsg());
    }
    st = qb_out_commit(&o);
    return st ? qb_fail(QB_ERUNTIME, "%s", qb_errmsg()) : QB_OK;
}

static char *script_text(const qb_plot *p, const char *out_dir) {
    int w = p->width ? p->width : 900, h = p->height ? p->height : 540;
    char *title = qb_gp_quote(p->title), *dir = qb_sh_quote(out_dir);
    char *s = qb_asprintf(
        "# %s.gp: %s\n"
        "# Written by `quantbench report`; restyle it freely and redraw both images with\n"
        "#   cd %s && gnuplot %s.gp\n"
        "# %s.dat: %s\n"
        "\n"
        "set title %s\n"
        "set grid xtics ytics lc rgb '#d0d0d0' dt 2\n"
        "set linetype 1 lc rgb '#1f77b4' lw 2 pt 7 ps 1.1\n"
        "set linetype 2 lc rgb '#d62728' lw 2 pt 5 ps 1.1\n"
        "set linetype 3 lc rgb '#2ca02c' lw 2 pt 9 ps 1.3\n"
        "set linetype 4 lc rgb '#9467bd' lw 2 pt 11 ps 1.3\n"
        "set linetype 5 lc rgb '#ff7f0e' lw 2 pt 13 ps 1.3\n"
        "set linetype 6 lc rgb '#8c564b' lw 2 pt 7 ps 1.1\n"
        "set linetype 7 lc rgb '#e377c2' lw 2 pt 5 ps 1.1\n"
        "set linetype 8 lc rgb '#17becf' lw 2 pt 9 ps 1.3\n"
        "set linetype cycle 8\n"
        "%s\n"
        "set terminal svg size %d,%d dynamic noenhanced font 'Sans,12' background rgb 'white'\n"
        "set output '%s.svg'\n"
        "%s\n"
        "\n"
        "set terminal pngcairo size %d,%d noenhanced font 'Sans,10' background rgb 'white'\n"
        "set output '%s.png'\n"
        "replot\n"
        "unset output\n",
        p->name, p->title, dir, p->name, p->name, p->about, title, p->setup ? p->setup : "", w, h, p->name, p->plot, w, h, p->name);
    for (char *c = s; *c; c++)
        if (*c == '\r') *c = ' ';
    free(title);
    free(dir);
    return s;
}

qb_status qb_plot_draw(const qb_plot *p, const char *out_dir, int *drawn, char **why) {
    *drawn = 0;
    *why = NULL;
    const char *ext[] = {"dat", "gp", "svg", "png"};
    char *path[4];
    for (int i = 0; i < 4; i++) {
        char *n = qb_asprintf("%s.%s", p->name, ext[i]);
        path[i] = qb_path_join(out_dir, n);
        free(n);
    }
    char *gp = script_text(p, out_dir);
    qb_status st = write_file(path[0], p->data);
    if (!st) st = write_file(path[1], gp);
    if (!st && ((unlink(path[2]) != 0 && errno != ENOENT) || (unlink(path[3]) != 0 && errno != ENOENT)))
        st = qb_fail(QB_ERUNTIME, "cannot replace the old plot %s in %s: %s", p->name, out_dir, strerror(errno));
    if (!st) {
        if (!on_path("gnuplot")) {
            char *dir = qb_sh_quote(out_dir);
            *why = qb_asprintf("gnuplot not found on PATH: install it with 'apt-get install gnuplot-nox', then draw "
                               "the plot with 'cd %s && gnuplot %s.gp'", dir, p->name);
            free(dir);
        } else {
            run_gnuplot(out_dir, p->name, why);
            if (!*why) {
                if (nonempty_file(path[2]) && nonempty_file(path[3])) *drawn = 1;
                else *why = qb_asprintf("gnuplot ran %s but did not write %s and %s", path[1], path[2], path[3]);
            }
        }
    }
    free(gp);
    for (int i = 0; i < 4; i++) free(path[i]);
    return st;
}

qb_status qb_plot_inline_svg(FILE *f, const char *svg_path) {
    qb_map m;
    qb_status st = qb_map_file(&m, svg_path);
    if (st) return qb_fail(QB_ERUNTIME, "%s", qb_errmsg());
    const char *s = m.data, *end = s ? s + m.size : NULL, *start = NULL;
    for (const char *q = s; q && q + 4 <= end; q++)
        if (memcmp(q, "<svg", 4) == 0 && (q + 4 == end || strchr(" \t\r\n>", q[4]))) {
            start = q;
            break;
        }
    if (!start) st = qb_fail(QB_ERUNTIME, "%s holds no <svg> element; redraw it with gnuplot", svg_path);
    else if (fwrite(start, 1, (size_t)(end - start), f) != (size_t)(end - start)) st = qb_fail(QB_ERUNTIME, "writing the inline plot failed");
    qb_unmap(&m);
    return st;
}
