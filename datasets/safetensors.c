/* safetensors.c — see safetensors.h. JSON is parsed by cJSON (Debian's libcjson); UTF-8,
 * duplicate keys and every number are checked here, because cJSON accepts all three. */
#define _GNU_SOURCE
#include "safetensors.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADER (100u * 1000 * 1000)

static const struct {
    const char *dtype, *format;
    int bytes;
} dtypes[] = {
    {"F64", NULL, 8},        {"F32", "f32", 4},      {"F16", "f16", 2},         {"BF16", "bf16", 2},
    {"F8_E4M3", "fp8_e4m3", 1}, {"F8_E5M2", "fp8_e5m2", 1}, {"I64", NULL, 8},  {"U64", NULL, 8},
    {"I32", NULL, 4},        {"U32", NULL, 4},       {"I16", NULL, 2},          {"U16", NULL, 2},
    {"I8", NULL, 1},         {"U8", NULL, 1},        {"BOOL", NULL, 1},         {"F8_E8M0", NULL, 1},
};

/* Strict UTF-8 (no overlongs, no surrogates, ≤ U+10FFFF); returns the offset of the first bad
 * byte, or n when all is well. */
static size_t utf8_bad(const unsigned char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (!len || i + len > n) return i;
        uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80) return i;
            cp = cp << 6 | (p[i + k] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += len;
    }
    return n;
}

/* A JSON number that is a non-negative integer exactly representable in a double. */
static int json_u64(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return 0;
    double v = j->valuedouble;
    if (!(v >= 0) || v > 9007199254740992.0 || v != floor(v)) return 0;
    *out = (uint64_t)v;
    return 1;
}

static int by_begin(const void *a, const void *b) {
    const qb_st_tensor *x = *(const qb_st_tensor *const *)a, *y = *(const qb_st_tensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

static qb_status parse_tensor(qb_safetensors *s, const cJSON *item, qb_st_tensor *t, uint64_t data_size) {
    t->name = qb_strdup(item->string);
    const char *nm = qb_show(item->string, strlen(item->string)).s; /* names come from the file: shown escaped */
    if (!cJSON_IsObject(item)) return qb_fail(QB_EINPUT, "%s: tensor '%s' is not a JSON object", s->path, nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return qb_fail(QB_EINPUT, "%s: tensor '%s' needs \"dtype\" (string), \"shape\" (array) and \"data_offsets\" ([begin, end])",
                       s->path, nm);
    int known = 0;
    for (size_t k = 0; k < sizeof dtypes / sizeof dtypes[0]; k++)
        if (strcmp(dt->valuestring, dtypes[k].dtype) == 0) {
            snprintf(t->dtype, sizeof t->dtype, "%s", dtypes[k].dtype);
            t->format = dtypes[k].format;
            t->elem_bytes = dtypes[k].bytes;
            known = 1;
        }
    if (!known) return qb_fail(QB_EINPUT, "%s: tensor '%s' has unknown dtype '%s'", s->path, nm, qb_show(dt->valuestring, strlen(dt->valuestring)).s);
    t->n_dims = cJSON_GetArraySize(shape);
    if (t->n_dims > QB_ST_MAX_DIMS) return qb_fail(QB_EINPUT, "%s: tensor '%s' has %d dimensions (at most %d)", s->path, nm, t->n_dims, QB_ST_MAX_DIMS);
    uint64_t elems = 1;
    for (int d = 0; d < t->n_dims; d++) {
        uint64_t v;
        if (!json_u64(cJSON_GetArrayItem(shape, d), &v))
            return qb_fail(QB_EINPUT, "%s: tensor '%s' dimension %d is not a non-negative integer", s->path, nm, d);
        if (v && elems > UINT64_MAX / 16 / v) return qb_fail(QB_EINPUT, "%s: tensor '%s' shape overflows", s->path, nm);
        elems *= v;
        t->shape[d] = (int64_t)v;
    }
    if (!json_u64(cJSON_GetArrayItem(offs, 0), &t->begin) || !json_u64(cJSON_GetArrayItem(offs, 1), &t->end) || t->end < t->begin)
        return qb_fail(QB_EINPUT, "%s: tensor '%s' data_offsets must be two integers with begin <= end", s->path, nm);
    if (t->end - t->begin != elems * (uint64_t)t->elem_bytes)
        return qb_fail(QB_EINPUT, "%s: tensor '%s' holds %llu bytes but its shape and %s need %llu", s->path, nm,
                       (unsigned long long)(t->end - t->begin), t->dtype, (unsigned long long)(elems * (uint64_t)t->elem_bytes));
    if (t->end > data_size)
        return qb_fail(QB_EINPUT, "%s: tensor '%s' data [%llu, %llu) runs past the data buffer (%llu bytes)", s->path, nm,
                       (unsigned long long)t->begin, (unsigned long long)t->end, (unsigned long long)data_size);
    return QB_OK;
}

qb_status qb_safetensors_open_mem(qb_safetensors *s, const void *data, size_t size, const char *name) {
    memset(s, 0, sizeof *s);
    s->path = name;
    const unsigned char *p = data;
    if (size < 8) return qb_fail(QB_EINPUT, "%s: %zu bytes is too short for a safetensors file", name, size);
    uint64_t hlen;
    memcpy(&hlen, p, 8);
    if (hlen > MAX_HEADER) return qb_fail(QB_EINPUT, "%s: header length %llu exceeds the 100 MB limit", name, (unsigned long long)hlen);
    if (hlen < 2 || hlen > size - 8)
        return qb_fail(QB_EINPUT, "%s: header length %llu does not fit the file (%zu bytes)", name, (unsigned long long)hlen, size);
    const char *hdr = (const char *)p + 8;
    size_t bad = utf8_bad((const unsigned char *)hdr, (size_t)hlen);
    if (bad != hlen) return qb_fail(QB_EINPUT, "%s: header is not valid UTF-8 (byte offset %zu)", name, 8 + bad);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, (size_t)hlen, &end, 0);
    if (!root) {
        size_t at = cJSON_GetErrorPtr() ? (size_t)(cJSON_GetErrorPtr() - hdr) : 0;
        return qb_fail(QB_EINPUT, "%s: header is not valid JSON (near byte offset %zu)", name, 8 + at);
    }
    qb_status st = QB_OK;
    for (const char *q = end; q < hdr + hlen && !st; q++)
        if (*q != ' ') st = qb_fail(QB_EINPUT, "%s: trailing bytes after the JSON header (byte offset %zu)", name, (size_t)(q - hdr) + 8);
    if (!st && !cJSON_IsObject(root)) st = qb_fail(QB_EINPUT, "%s: header is not a JSON object", name);
    uint64_t data_size = size - 8 - hlen;
    int count = 0;
    for (const cJSON *it = root->child; !st && it; it = it->next) {
        for (const cJSON *prev = root->child; prev != it; prev = prev->next)
            if (strcmp(prev->string, it->string) == 0) {
                st = qb_fail(QB_EINPUT, "%s: header has the key '%s' twice", name, qb_show(it->string, strlen(it->string)).s);
                break;
            }
        count += strcmp(it->string, "__metadata__") != 0;
    }
    if (!st) s->tensors = qb_calloc((size_t)count, sizeof *s->tensors);
    for (const cJSON *it = root->child; !st && it; it = it->next) {
        if (strcmp(it->string, "__metadata__") == 0) {
            for (const cJSON *m = it->child; cJSON_IsObject(it) && m && !st; m = m->next)
                if (!cJSON_IsString(m))
                    st = qb_fail(QB_EINPUT, "%s: __metadata__ value '%s' is not a string", name, qb_show(m->string, strlen(m->string)).s);
            if (!st && !cJSON_IsObject(it)) st = qb_fail(QB_EINPUT, "%s: __metadata__ is not an object", name);
            if (!st) s->metadata = cJSON_PrintUnformatted(it);
            continue;
        }
        st = parse_tensor(s, it, &s->tensors[s->n], data_size);
        if (!st) s->tensors[s->n].data = p + 8 + hlen + s->tensors[s->n].begin;
        s->n++; /* counted even on failure: close() frees its name */
    }
    cJSON_Delete(root);
    if (!st) { /* the tensors must tile the data buffer */
        const qb_st_tensor **order = qb_malloc(sizeof *order * (size_t)(s->n ? s->n : 1));
        for (int i = 0; i < s->n; i++) order[i] = &s->tensors[i];
        qsort(order, (size_t)s->n, sizeof *order, by_begin);
        uint64_t at = 0;
        for (int i = 0; i < s->n && !st; i++) {
            if (order[i]->begin < at)
                st = qb_fail(QB_EINPUT, "%s: tensors '%s' and '%s' overlap at data offset %llu", name,
                             qb_show(order[i - 1]->name, strlen(order[i - 1]->name)).s,
                             qb_show(order[i]->name, strlen(order[i]->name)).s, (unsigned long long)order[i]->begin);
            else if (order[i]->begin > at)
                st = qb_fail(QB_EINPUT, "%s: %llu unindexed bytes before tensor '%s' (data offset %llu)", name,
                             (unsigned long long)(order[i]->begin - at), qb_show(order[i]->name, strlen(order[i]->name)).s,
                             (unsigned long long)at);
            at = order[i]->end;
        }
        if (!st && at != data_size)
            st = qb_fail(QB_EINPUT, "%s: %llu trailing bytes after the last tensor", name, (unsigned long long)(data_size - at));
        free(order);
    }
    if (st) qb_safetensors_close(s); /* the map is the caller's here */
    return st;
}

qb_status qb_safetensors_open(qb_safetensors *s, const char *path) {
    qb_map m;
    qb_status st = qb_map_file(&m, path);
    if (st) return st;
    st = qb_safetensors_open_mem(s, m.data, m.size, path);
    if (st) {
        qb_unmap(&m);
        return st;
    }
    s->map = m;
    return QB_OK;
}

void qb_safetensors_close(qb_safetensors *s) {
    for (int i = 0; i < s->n; i++) free(s->tensors[i].name);
    free(s->tensors);
    if (s->metadata) cJSON_free(s->metadata);
    qb_unmap(&s->map);
    memset(s, 0, sizeof *s);
}

const qb_st_tensor *qb_safetensors_find(const qb_safetensors *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->tensors[i].name, name) == 0) return &s->tensors[i];
    return NULL;
}
