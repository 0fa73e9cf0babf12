/* source.c — parses weight-source specs and opens them (see source.h). */
#include "source.h"

#include <inttypes.h>
#include <math.h>
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

static qb_status check_finite(const qb_source *s) {
    const qb_tensor *t = &s->tensor;
    for (int64_t i = 0, n = t->rows * t->cols; i < n; i++)
        if (!isfinite(t->data[i]))
            return qb_fail(QB_EINPUT, "weight source '%s': %s at row %" PRId64 ", column %" PRId64 " (byte offset %" PRId64
                           "); weights must be finite",
                           s->spec, isnan(t->data[i]) ? "NaN" : "Inf", i / t->cols, i % t->cols, i * 4);
    return QB_OK;
}

static void finish_ids(qb_source *s) {
    const qb_tensor *t = &s->tensor;
    uint64_t h = qb_fnv1a(QB_FNV_INIT, t->data, (size_t)(t->rows * t->cols) * sizeof(float));
    snprintf(s->content_hash, sizeof s->content_hash, "%016" PRIx64, h);
    s->id = qb_asprintf("%s:%s:%" PRId64 "x%" PRId64 ":%s", s->kind, s->name, t->rows, t->cols, s->content_hash);
}

qb_status qb_source_open(qb_source *s, const char *spec, uint64_t seed) {
    memset(s, 0, sizeof *s);
    s->ntensors = 1;
    s->tensor.name = "";
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
        if (st) {
            free(name);
            qb_source_close(s);
            return st;
        }
        s->kind = qb_strdup("synthetic");
        s->name = name;
        s->spec = qb_asprintf("synthetic:%s:%" PRId64 "x%" PRId64 " seed=%" PRIu64, name, rows, cols, seed);
        s->tensor = (qb_tensor){"", rows, cols, s->owned};
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
        if (st) {
            free(path);
            qb_source_close(s);
            return st;
        }
        const char *base = strrchr(path, '/');
        s->kind = qb_strdup("raw");
        s->name = qb_strdup(base ? base + 1 : path);
        s->spec = qb_asprintf("raw:%s:%" PRId64, path, cols);
        s->tensor = (qb_tensor){"", n / cols, cols, s->map.data};
        free(path);
    } else {
        return qb_fail(QB_EUSAGE, "unknown weight source '%s': use synthetic:NAME[:ROWSxCOLS] or raw:FILE.f32[:COLS]", spec);
    }
    st = check_finite(s);
    if (st) {
        qb_source_close(s);
        return st;
    }
    finish_ids(s);
    return QB_OK;
}

void qb_source_close(qb_source *s) {
    free(s->kind);
    free(s->name);
    free(s->spec);
    free(s->id);
    free(s->owned);
    qb_unmap(&s->map);
    memset(s, 0, sizeof *s);
}
