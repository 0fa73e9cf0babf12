/* source.c — parses weight-source specs and opens them (see source.h). */
#include "source.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Elements one synthetic source may hold: 2^30 floats (4 GiB) keeps a typo from eating RAM. */
#define MAX_SYNTHETIC_ELEMS (INT64_C(1) << 30)

static int parse_i64(const char *s, char **end, int64_t *v) {
    if (*s < '0' || *s > '9') return 0;
    long long x = strtoll(s, end, 10);
    if (x <= 0) return 0;
    *v = x;
    return 1;
}

static qb_status parse_shape(const char *spec, const char *s, int64_t *rows, int64_t *cols) {
    char *end;
    if (!parse_i64(s, &end, rows) || *end != 'x' || !parse_i64(end + 1, &end, cols) || *end)
        return qb_fail(QB_EUSAGE, "bad shape in weight source '%s': expected ROWSxCOLS, e.g. 256x4096", spec);
    if (*rows > MAX_SYNTHETIC_ELEMS / *cols)
        return qb_fail(QB_EUSAGE, "weight source '%s' is too large (at most 2^30 values)", spec);
    return QB_OK;
}

/* The first NaN/Inf of rows [r0, r0 + nr) of tensor i, as an error naming where it is. */
static qb_status check_finite(const qb_source *s, int i, int64_t r0, int64_t nr, const float *x) {
    const qb_tensor *t = &s->tensors[i];
    for (int64_t k = 0, n = nr * t->cols; k < n; k++) {
        if (isfinite(x[k])) continue;
        int64_t row = r0 + k / t->cols, col = k % t->cols;
        char where[64] = "";
        if (t->data) snprintf(where, sizeof where, " (byte offset %" PRId64 ")", (row * t->cols + col) * 4);
        return qb_fail(QB_EINPUT, "weight source '%s'%s%s%s: %s at row %" PRId64 ", column %" PRId64 "%s; weights must be finite",
                       s->spec, t->name[0] ? " tensor '" : "", t->name, t->name[0] ? "'" : "", isnan(x[k]) ? "NaN" : "Inf",
                       row, col, where);
    }
    return QB_OK;
}

/* One in-memory matrix (synthetic or raw): ids from a hash of all its values. */
static qb_status finish_single(qb_source *s, int64_t rows, int64_t cols, const float *data) {
    s->ntensors = 1;
    s->tensors = qb_calloc(1, sizeof *s->tensors);
    s->tensors[0] = (qb_tensor){"", rows, cols, data};
    qb_status st = check_finite(s, 0, 0, rows, data);
    if (st) return st;
    uint64_t h = qb_fnv1a(QB_FNV_INIT, data, (size_t)(rows * cols) * sizeof(float));
    snprintf(s->content_hash, sizeof s->content_hash, "%016" PRIx64, h);
    s->id = qb_asprintf("%s:%s:%" PRId64 "x%" PRId64 ":%s", s->kind, s->name, rows, cols, s->content_hash);
    return QB_OK;
}

/* A model file: its quantizable tensors. The content hash covers every tensor's name, shape
 * and type and the first 4 KiB of its data (hashing many GB would dominate the run), which
 * tells apart fine-tunes of one architecture. */
static qb_status open_model(qb_source *s, const char *path) {
    s->model = qb_calloc(1, sizeof *s->model);
    qb_status st = qb_model_open(s->model, path);
    if (st) return st;
    const qb_model *m = s->model;
    s->kind = qb_strdup(m->is_gguf ? "gguf" : "safetensors");
    const char *base = strrchr(path, '/');
    s->name = qb_strdup(base && base[1] ? base + 1 : path);
    s->spec = qb_strdup(path);
    s->tensors = qb_calloc((size_t)(m->n ? m->n : 1), sizeof *s->tensors);
    s->model_index = qb_calloc((size_t)(m->n ? m->n : 1), sizeof *s->model_index);
    uint64_t h = QB_FNV_INIT;
    int64_t params = 0;
    for (int i = 0; i < m->n; i++) {
        const qb_model_tensor *t = &m->t[i];
        h = qb_fnv1a(h, t->name, strlen(t->name) + 1);
        h = qb_fnv1a(h, t->ne, sizeof t->ne);
        h = qb_fnv1a(h, &t->ggml_type, sizeof t->ggml_type);
        h = qb_fnv1a(h, t->data, t->nbytes < 4096 ? (size_t)t->nbytes : 4096);
        if (!qb_mix_quantizable(t->name, (int)t->n_dims)) continue;
        s->model_index[s->ntensors] = i;
        s->tensors[s->ntensors++] = (qb_tensor){t->name, qb_model_rows(t), t->ne[0], NULL};
        params += qb_model_rows(t) * t->ne[0];
    }
    if (s->ntensors == 0) return qb_fail(QB_EINPUT, "%s holds no quantizable weight tensors", path);
    snprintf(s->content_hash, sizeof s->content_hash, "%016" PRIx64, h);
    s->id = qb_asprintf("%s:%s:%" PRId64 "p:%s", s->kind, s->name, params, s->content_hash);
    return QB_OK;
}

qb_status qb_source_open(qb_source *s, const char *spec, uint64_t seed) {
    memset(s, 0, sizeof *s);
    qb_status st;
    if (strncmp(spec, "synthetic:", 10) == 0) {
        char *name = qb_strdup(spec + 10), *colon = strchr(name, ':');
        int64_t rows = QB_SYNTHETIC_DEFAULT_ROWS, cols = QB_SYNTHETIC_DEFAULT_COLS;
        if (colon) *colon = '\0';
        st = colon ? parse_shape(spec, colon + 1, &rows, &cols) : QB_OK;
        if (!st) {
            s->owned = qb_malloc((size_t)(rows * cols) * sizeof(float));
            st = qb_synthetic_fill(name, rows, cols, seed, s->owned);
        }
        s->kind = qb_strdup("synthetic");
        s->name = name;
        s->spec = qb_asprintf("synthetic:%s:%" PRId64 "x%" PRId64 " seed=%" PRIu64, name, rows, cols, seed);
        if (!st) st = finish_single(s, rows, cols, s->owned);
    } else if (strncmp(spec, "raw:", 4) == 0) {
        char *path = qb_strdup(spec + 4), *colon = strrchr(path, ':');
        int64_t cols = 0;
        char *end = NULL;
        if (colon && parse_i64(colon + 1, &end, &cols) && *end == '\0') *colon = '\0';
        else cols = 0;
        st = qb_map_file(&s->map, path);
        if (!st && s->map.size == 0) st = qb_fail(QB_EINPUT, "weight file '%s' is empty", path);
        if (!st && s->map.size % 4) st = qb_fail(QB_EINPUT, "weight file '%s' has %zu bytes, not a multiple of 4 (float32)", path, s->map.size);
        int64_t n = (int64_t)(s->map.size / 4);
        if (!st && cols == 0) cols = n;
        if (!st && n % cols)
            st = qb_fail(QB_EINPUT, "weight file '%s' holds %" PRId64 " floats, not a whole number of rows of %" PRId64, path, n, cols);
        const char *base = strrchr(path, '/');
        s->kind = qb_strdup("raw");
        s->name = qb_strdup(base ? base + 1 : path);
        s->spec = qb_asprintf("raw:%s:%" PRId64, path, cols);
        if (!st) st = finish_single(s, n / cols, cols, s->map.data);
        free(path);
    } else if (strchr(spec, ':') == NULL || strstr(spec, ".gguf") || strstr(spec, ".safetensors")) {
        st = open_model(s, spec);
    } else {
        st = qb_fail(QB_EUSAGE, "unknown weight source '%s': use synthetic:NAME[:ROWSxCOLS], raw:FILE.f32[:COLS] or a model file", spec);
    }
    if (st) qb_source_close(s);
    return st;
}

qb_status qb_source_rows(const qb_source *s, int i, int64_t r0, int64_t nr, float *out) {
    const qb_tensor *t = &s->tensors[i];
    if (t->data) { /* checked when opened */
        memcpy(out, t->data + r0 * t->cols, sizeof(float) * (size_t)(nr * t->cols));
        return QB_OK;
    }
    qb_status st = qb_model_rows_f32(s->model, s->model_index[i], r0, nr, out);
    return st ? st : check_finite(s, i, r0, nr, out);
}

void qb_source_release(const qb_source *s, int i, int64_t r0, int64_t nr) {
    if (s->model) qb_model_release(s->model, s->model_index[i], r0, nr);
}

const qb_mix_model *qb_source_model_info(const qb_source *s) { return s->model ? &s->model->info : NULL; }

void qb_source_close(qb_source *s) {
    free(s->kind);
    free(s->name);
    free(s->spec);
    free(s->id);
    free(s->owned);
    free(s->tensors);
    free(s->model_index);
    qb_unmap(&s->map);
    if (s->model) qb_model_close(s->model);
    free(s->model);
    memset(s, 0, sizeof *s);
}
