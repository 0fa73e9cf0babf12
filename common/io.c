/* io.c — see io.h. */
#define _GNU_SOURCE
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

qb_status qb_map_file(qb_map *m, const char *path) {
    memset(m, 0, sizeof *m);
    m->path = path;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return qb_fail(QB_EINPUT, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return qb_fail(QB_EINPUT, "'%s' is not a regular file", path);
    }
    m->size = (size_t)st.st_size;
    if (m->size > 0) {
        void *p = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return qb_fail(QB_EINPUT, "cannot map '%s' (%zu bytes): %s", path, m->size, strerror(e));
        }
        m->data = p;
    }
    close(fd);
    return QB_OK;
}

void qb_unmap(qb_map *m) {
    if (m->data) munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

qb_status qb_out_open(qb_outfile *o, const char *path) {
    o->path = qb_strdup(path);
    o->tmp = qb_asprintf("%s.tmp.%ld", path, (long)getpid());
    o->f = fopen(o->tmp, "wb");
    if (!o->f) {
        qb_status st = qb_fail(QB_ERUNTIME, "cannot write '%s': %s", path, strerror(errno));
        free(o->path);
        free(o->tmp);
        o->path = o->tmp = NULL;
        return st;
    }
    return QB_OK;
}

qb_status qb_out_write(qb_outfile *o, const void *p, size_t n) {
    if (n && fwrite(p, 1, n, o->f) != n)
        return qb_fail(QB_ERUNTIME, "writing '%s' failed: %s", o->path, strerror(errno));
    return QB_OK;
}

qb_status qb_out_commit(qb_outfile *o) {
    qb_status st = QB_OK;
    if (ferror(o->f) || fflush(o->f) != 0 || fsync(fileno(o->f)) != 0)
        st = qb_fail(QB_ERUNTIME, "writing '%s' failed: %s", o->path, strerror(errno));
    if (fclose(o->f) != 0 && st == QB_OK)
        st = qb_fail(QB_ERUNTIME, "writing '%s' failed: %s", o->path, strerror(errno));
    o->f = NULL;
    if (st == QB_OK && rename(o->tmp, o->path) != 0)
        st = qb_fail(QB_ERUNTIME, "cannot rename '%s' to '%s': %s", o->tmp, o->path, strerror(errno));
    if (st != QB_OK) unlink(o->tmp);
    free(o->path);
    free(o->tmp);
    o->path = o->tmp = NULL;
    return st;
}

void qb_out_abort(qb_outfile *o) {
    if (o->f) fclose(o->f);
    if (o->tmp) unlink(o->tmp);
    free(o->path);
    free(o->tmp);
    memset(o, 0, sizeof *o);
}

qb_status qb_mkdirs(const char *path) {
    if (!path[0]) return QB_OK;
    char *p = qb_strdup(path);
    for (char *s = p + 1;; s++) {
        char c = *s;
        if (c == '/' || c == '\0') {
            *s = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                qb_status st = qb_fail(QB_ERUNTIME, "cannot create directory '%s': %s", p, strerror(errno));
                free(p);
                return st;
            }
            *s = c;
            if (!c) break;
        }
    }
    free(p);
    return QB_OK;
}
