/* imatrix.c — see imatrix.h. */
#include "imatrix.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/io.h"
#include "gguf.h"

static qb_imatrix_entry *add_entry(qb_imatrix *im, const char *name, size_t name_len, int64_t n_per_row, int64_t n_mat) {
    im->e = qb_realloc(im->e, sizeof *im->e * (size_t)(im->n + 1));
    qb_imatrix_entry *e = &im->e[im->n++];
    e->name = qb_malloc(name_len + 1);
    memcpy(e->name, name, name_len);
    e->name[name_len] = '\0';
    e->n_per_row = n_per_row;
    e->n_mat = n_mat;
    e->values = qb_calloc((size_t)(n_per_row * n_mat), sizeof(float));
    e->counts = qb_calloc((size_t)n_mat, sizeof(float));
    return e;
}

qb_imatrix_entry *qb_imatrix_add(qb_imatrix *im, const char *name, int64_t n_per_row, int64_t n_mat) {
    return add_entry(im, name, strlen(name), n_per_row, n_mat);
}

static qb_status check_values(const char *file, const qb_imatrix_entry *e) {
    for (int64_t i = 0; i < e->n_per_row * e->n_mat; i++)
        if (!isfinite(e->values[i]) || e->values[i] < 0)
            return qb_fail(QB_EINPUT, "%s: importance %lld of '%s' is %g; values must be finite and >= 0", file, (long long)i,
                           qb_show(e->name, strlen(e->name)).s, (double)e->values[i]);
    return QB_OK;
}

/* ---- legacy .dat ------------------------------------------------------------------------- */

typedef struct cursor {
    const unsigned char *p;
    size_t left, at;
} cursor;

static int take(cursor *c, void *out, size_t n) {
    if (n > c->left) return 0;
    memcpy(out, c->p, n);
    c->p += n, c->left -= n, c->at += n;
    return 1;
}

qb_status qb_imatrix_load_dat_mem(qb_imatrix *im, const void *data, size_t size, const char *name) {
    memset(im, 0, sizeof *im);
    cursor c = {data, size, 0};
    int32_t n_entries;
    qb_status st = QB_OK;
    if (!take(&c, &n_entries, 4) || n_entries < 1 || (size_t)n_entries > size / 16)
        return qb_fail(QB_EINPUT, "%s: not an imatrix file (entry count at byte offset 0 is missing or implausible)", name);
    for (int32_t i = 0; i < n_entries && !st; i++) {
        int32_t len = 0, ncall = 0, nval = 0;
        size_t at = c.at;
        if (!take(&c, &len, 4) || len < 1 || (size_t)len > c.left)
            st = qb_fail(QB_EINPUT, "%s: entry %d: name length at byte offset %zu runs past the end", name, i, at);
        const char *nm = (const char *)c.p;
        if (!st) c.p += len, c.left -= (size_t)len, c.at += (size_t)len;
        if (!st && (!take(&c, &ncall, 4) || !take(&c, &nval, 4) || nval < 1 || (size_t)nval > c.left / 4))
            st = qb_fail(QB_EINPUT, "%s: entry '%s': value count at byte offset %zu is missing or runs past the end", name,
                         qb_show(nm, (size_t)len).s, c.at);
        if (st) break;
        qb_imatrix_entry *e = add_entry(im, nm, (size_t)len, nval, 1);
        take(&c, e->values, 4 * (size_t)nval);
        if (ncall > 0) /* the file stores (Σx²/count)·ncall */
            for (int32_t k = 0; k < nval; k++) e->values[k] /= (float)ncall;
        e->counts[0] = ncall > 0 ? (float)ncall : 1.0f;
        st = check_values(name, e);
    }
    int32_t chunks, dlen;
    if (!st && take(&c, &chunks, 4)) {
        im->chunks = chunks > 0 ? chunks : 0;
        if (take(&c, &dlen, 4) && dlen > 0 && (size_t)dlen <= c.left) {
            im->dataset = qb_malloc((size_t)dlen + 1);
            take(&c, im->dataset, (size_t)dlen);
            im->dataset[dlen] = '\0';
        }
    }
    if (st) qb_imatrix_free(im);
    return st;
}

/* ---- GGUF --------------------------------------------------------------------------------- */

static qb_status load_gguf(qb_imatrix *im, const qb_gguf *g) {
    static const char sfx_sum2[] = ".in_sum2", sfx_counts[] = ".counts";
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const qb_gguf_tensor *s = &g->tensors[i];
        size_t n = strlen(s->name);
        if (n <= sizeof sfx_sum2 - 1 || strcmp(s->name + n - (sizeof sfx_sum2 - 1), sfx_sum2) != 0) continue;
        size_t base = n - (sizeof sfx_sum2 - 1);
        char *cname = qb_malloc(base + sizeof sfx_counts);
        memcpy(cname, s->name, base);
        memcpy(cname + base, sfx_counts, sizeof sfx_counts);
        const qb_gguf_tensor *cnt = qb_gguf_find_tensor(g, cname);
        free(cname);
        int64_t n_per_row = s->ne[0], n_mat = s->ne[1] * s->ne[2] * s->ne[3];
        if (!cnt || s->type != 0 || cnt->type != 0 || cnt->ne[0] * cnt->ne[1] * cnt->ne[2] * cnt->ne[3] != n_mat)
            return qb_fail(QB_EINPUT, "%s: '%s' needs an F32 companion '%s.counts' with one count per expert (%lld)", g->path,
                           qb_show(s->name, n).s, qb_show(s->name, base).s, (long long)n_mat);
        qb_imatrix_entry *e = add_entry(im, s->name, base, n_per_row, n_mat);
        for (int64_t m = 0; m < n_mat; m++) {
            float count;
            memcpy(&count, (const char *)cnt->data + 4 * m, 4);
            e->counts[m] = count;
            for (int64_t j = 0; j < n_per_row; j++) {
                float sum;
                memcpy(&sum, (const char *)s->data + 4 * (m * n_per_row + j), 4);
                /* an expert no calibration token reached gets uniform importance, as in llama-quantize */
                e->values[m * n_per_row + j] = count > 0 ? sum / count : 1.0f;
            }
        }
        qb_status st = check_values(g->path, e);
        if (st) return st;
    }
    if (im->n == 0) return qb_fail(QB_EINPUT, "%s: a GGUF file without '*.in_sum2' tensors is not an imatrix", g->path);
    uint32_t chunks;
    if (qb_gguf_find_kv(g, "imatrix.chunk_count") && qb_gguf_get_u32(g, "imatrix.chunk_count", &chunks) == QB_OK) im->chunks = chunks;
    if (qb_gguf_find_kv(g, "imatrix.chunk_size") && qb_gguf_get_u32(g, "imatrix.chunk_size", &chunks) == QB_OK) im->chunk_size = chunks;
    const char *ds;
    uint64_t len;
    if (qb_gguf_find_kv(g, "imatrix.datasets") && qb_gguf_get_array_string(g, "imatrix.datasets", 0, &ds, &len) == QB_OK) {
        im->dataset = qb_malloc(len + 1);
        memcpy(im->dataset, ds, len);
        im->dataset[len] = '\0';
    }
    return QB_OK;
}

qb_status qb_imatrix_load(qb_imatrix *im, const char *path) {
    memset(im, 0, sizeof *im);
    qb_map m;
    qb_status st = qb_map_file(&m, path);
    if (st) return st;
    uint32_t magic = 0;
    if (m.size >= 4) memcpy(&magic, m.data, 4);
    if (magic == QB_GGUF_MAGIC) {
        qb_gguf g;
        st = qb_gguf_open_mem(&g, m.data, m.size, path);
        if (!st) {
            st = load_gguf(im, &g);
            qb_gguf_close(&g);
        }
        if (st) qb_imatrix_free(im);
    } else {
        st = qb_imatrix_load_dat_mem(im, m.data, m.size, path);
    }
    qb_unmap(&m);
    return st;
}

void qb_imatrix_free(qb_imatrix *im) {
    for (int i = 0; i < im->n; i++) {
        free(im->e[i].name);
        free(im->e[i].values);
        free(im->e[i].counts);
    }
    free(im->e);
    free(im->dataset);
    memset(im, 0, sizeof *im);
}

const qb_imatrix_entry *qb_imatrix_find(const qb_imatrix *im, const char *tensor) {
    for (int i = 0; i < im->n; i++)
        if (strcmp(im->e[i].name, tensor) == 0) return &im->e[i];
    return NULL;
}

/* ---- writer (GGUF) ------------------------------------------------------------------------ */

static int by_name(const void *a, const void *b) {
    return strcmp((*(const qb_imatrix_entry *const *)a)->name, (*(const qb_imatrix_entry *const *)b)->name);
}

qb_status qb_imatrix_save(const qb_imatrix *im, const char *path) {
    /* llama-imatrix stores the entries in name order (deterministic files) */
    const qb_imatrix_entry **order = qb_malloc(sizeof *order * (size_t)(im->n ? im->n : 1));
    for (int i = 0; i < im->n; i++) order[i] = &im->e[i];
    qsort(order, (size_t)im->n, sizeof *order, by_name);
    qb_gguf_writer w;
    qb_status st = qb_gguf_writer_open(&w, path, 0);
    if (st) {
        free(order);
        return st;
    }
    const char *ds = im->dataset ? im->dataset : "";
    st = qb_gguf_writer_set_string(&w, "general.type", "imatrix");
    if (!st) st = qb_gguf_writer_set_string_array(&w, "imatrix.datasets", &ds, NULL, im->dataset ? 1 : 0);
    if (!st) st = qb_gguf_writer_set_u32(&w, "imatrix.chunk_count", (uint32_t)im->chunks);
    if (!st) st = qb_gguf_writer_set_u32(&w, "imatrix.chunk_size", (uint32_t)im->chunk_size);
    for (int i = 0; i < im->n && !st; i++) {
        const qb_imatrix_entry *e = order[i];
        char name[128];
        int64_t ne_sum[2] = {e->n_per_row, e->n_mat}, ne_cnt[2] = {1, e->n_mat};
        if (strlen(e->name) + sizeof ".in_sum2" > 64) {
            st = qb_fail(QB_EINPUT, "%s: tensor name '%s' is too long for a GGUF imatrix entry (63 bytes with '.in_sum2')", path, e->name);
            break;
        }
        snprintf(name, sizeof name, "%s.in_sum2", e->name);
        st = qb_gguf_writer_add_tensor(&w, name, 2, ne_sum, 0);
        snprintf(name, sizeof name, "%s.counts", e->name);
        if (!st) st = qb_gguf_writer_add_tensor(&w, name, 2, ne_cnt, 0);
    }
    float *buf = NULL;
    for (int i = 0; i < im->n && !st; i++) {
        const qb_imatrix_entry *e = order[i];
        buf = qb_realloc(buf, sizeof *buf * (size_t)(e->n_per_row * e->n_mat));
        for (int64_t m = 0; m < e->n_mat; m++)
            for (int64_t j = 0; j < e->n_per_row; j++) buf[m * e->n_per_row + j] = e->values[m * e->n_per_row + j] * e->counts[m];
        st = qb_gguf_writer_write_tensor(&w, 2 * (uint64_t)i, buf, sizeof *buf * (uint64_t)(e->n_per_row * e->n_mat));
        if (!st) st = qb_gguf_writer_write_tensor(&w, 2 * (uint64_t)i + 1, e->counts, sizeof(float) * (uint64_t)e->n_mat);
    }
    free(buf);
    free(order);
    if (st) {
        qb_gguf_writer_abort(&w);
        return st;
    }
    return qb_gguf_writer_finish(&w);
}
