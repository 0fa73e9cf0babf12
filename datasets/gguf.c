/* gguf.c — the GGUF reader and writer of gguf.h (FORMATS.md §6).
 *
 * Reader invariants, in the order they are established (each failure is one QB_EINPUT line
 * naming the file, the item and its byte offset):
 *   1. No byte is read unless `need()` proved it lies inside the map: every length and count
 *      from the file is compared with the bytes that remain before it is used, so arithmetic
 *      on them cannot overflow (remaining ≤ file size < 2^63).
 *   2. Counts are bounded by the remaining bytes before any allocation (a KV takes ≥ 14 bytes,
 *      a tensor info ≥ 25), and arrays of entries grow only as entries are actually parsed, so
 *      memory is proportional to the bytes present, never to a count a file claims.
 *   3. Keys and tensor names are unique (checked by sorting, O(n log n), so a hostile file with
 *      many entries cannot make the check quadratic).
 *   4. Every tensor's [data_offset + offset, + nbytes) lies inside the file, offsets are
 *      multiples of the alignment, and sorted by offset no tensor starts before the previous
 *      one ends.
 *
 * Values are decoded with explicit little-endian byte loads, so the code is independent of
 * the host's byte order and of the (unaligned) positions of values in the map. */
#define _GNU_SOURCE
#include "gguf.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ======================================================================================== */
/* Tables                                                                                   */
/* ======================================================================================== */

/* ggml tensor types (FORMATS.md §5.2). block_elems == 0 marks an id removed from ggml. */
typedef struct ggml_type_row {
    const char *name;
    uint16_t block_elems, block_bytes;
} ggml_type_row;

static const ggml_type_row ggml_types[] = {
    [0] = {"F32", 1, 4},          [1] = {"F16", 1, 2},
    [2] = {"Q4_0", 32, 18},       [3] = {"Q4_1", 32, 20},
    [4] = {"Q4_2", 0, 0},         [5] = {"Q4_3", 0, 0},
    [6] = {"Q5_0", 32, 22},       [7] = {"Q5_1", 32, 24},
    [8] = {"Q8_0", 32, 34},       [9] = {"Q8_1", 32, 36},
    [10] = {"Q2_K", 256, 84},     [11] = {"Q3_K", 256, 110},
    [12] = {"Q4_K", 256, 144},    [13] = {"Q5_K", 256, 176},
    [14] = {"Q6_K", 256, 210},    [15] = {"Q8_K", 256, 292},
    [16] = {"IQ2_XXS", 256, 66},  [17] = {"IQ2_XS", 256, 74},
    [18] = {"IQ3_XXS", 256, 98},  [19] = {"IQ1_S", 256, 50},
    [20] = {"IQ4_NL", 32, 18},    [21] = {"IQ3_S", 256, 110},
    [22] = {"IQ2_S", 256, 82},    [23] = {"IQ4_XS", 256, 136},
    [24] = {"I8", 1, 1},          [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},         [27] = {"I64", 1, 8},
    [28] = {"F64", 1, 8},         [29] = {"IQ1_M", 256, 56},
    [30] = {"BF16", 1, 2},        [31] = {"Q4_0_4_4", 0, 0},
    [32] = {"Q4_0_4_8", 0, 0},    [33] = {"Q4_0_8_8", 0, 0},
    [34] = {"TQ1_0", 256, 54},    [35] = {"TQ2_0", 256, 66},
    [36] = {"IQ4_NL_4_4", 0, 0},  [37] = {"IQ4_NL_4_8", 0, 0},
    [38] = {"IQ4_NL_8_8", 0, 0},  [39] = {"MXFP4", 32, 17},
    [40] = {"NVFP4", 64, 36},     [41] = {"Q1_0", 128, 18},
    [42] = {"Q2_0", 64, 18},
};
#define N_GGML_TYPES (sizeof ggml_types / sizeof ggml_types[0])

/* Metadata value types: name and size (0 = variable: STRING, ARRAY). */
static const struct {
    const char *name;
    uint8_t size;
} gguf_types[QB_GGUF_TYPE_COUNT] = {
    [QB_GGUF_UINT8] = {"UINT8", 1},     [QB_GGUF_INT8] = {"INT8", 1},       [QB_GGUF_UINT16] = {"UINT16", 2},
    [QB_GGUF_INT16] = {"INT16", 2},     [QB_GGUF_UINT32] = {"UINT32", 4},   [QB_GGUF_INT32] = {"INT32", 4},
    [QB_GGUF_FLOAT32] = {"FLOAT32", 4}, [QB_GGUF_BOOL] = {"BOOL", 1},       [QB_GGUF_STRING] = {"STRING", 0},
    [QB_GGUF_ARRAY] = {"ARRAY", 0},     [QB_GGUF_UINT64] = {"UINT64", 8},   [QB_GGUF_INT64] = {"INT64", 8},
    [QB_GGUF_FLOAT64] = {"FLOAT64", 8},
};

/* Smallest encodings: key (8-byte length + ≥ 1 byte) + type + ≥ 1 value byte; tensor info:
 * name (8 + ≥ 1) + n_dims + type + offset. Used to bound counts before allocating. */
#define MIN_KV_BYTES 14u
#define MIN_TENSOR_INFO_BYTES 25u

const char *qb_gguf_type_name(uint32_t type) { return type < QB_GGUF_TYPE_COUNT ? gguf_types[type].name : "?"; }

qb_status qb_ggml_type_info(uint32_t type, const char **name, int *block_elems, int *block_bytes) {
    if (type >= N_GGML_TYPES || !ggml_types[type].name)
        return qb_fail(QB_EINPUT, "unknown ggml type %" PRIu32 " (known: 0…%zu)", type, N_GGML_TYPES - 1);
    const ggml_type_row *t = &ggml_types[type];
    if (!t->block_elems)
        return qb_fail(QB_EINPUT, "ggml type %" PRIu32 " (%s) was removed from ggml and cannot appear in a GGUF file",
                       type, t->name);
    if (name) *name = t->name;
    if (block_elems) *block_elems = t->block_elems;
    if (block_bytes) *block_bytes = t->block_bytes;
    return QB_OK;
}

qb_status qb_ggml_nbytes(uint32_t type, uint32_t n_dims, const int64_t *ne, uint64_t *nbytes) {
    const char *name = "";
    int be = 1, bb = 1;
    qb_status st = qb_ggml_type_info(type, &name, &be, &bb);
    if (st) return st;
    if (n_dims > QB_GGUF_MAX_DIMS) return qb_fail(QB_EINPUT, "%" PRIu32 " dimensions, at most 4", n_dims);
    int64_t d[4] = {1, 1, 1, 1};
    for (uint32_t i = 0; i < n_dims; i++) {
        if (ne[i] < 1) return qb_fail(QB_EINPUT, "dimension %" PRIu32 " is %" PRId64 ", must be ≥ 1", i, ne[i]);
        d[i] = ne[i];
    }
    /* element count < 2^63 (ggml's rule), then bytes = rows·(ne[0]/blck)·bytes_per_block */
    int64_t n = d[0];
    for (int i = 1; i < 4; i++) {
        if (n > INT64_MAX / d[i])
            return qb_fail(QB_EINPUT,
                           "shape [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 "] has more than 2^63 elements",
                           d[0], d[1], d[2], d[3]);
        n *= d[i];
    }
    if (d[0] % be)
        return qb_fail(QB_EINPUT, "ne[0] = %" PRId64 " is not a multiple of the %s block size %d", d[0], name, be);
    uint64_t blocks = (uint64_t)(n / be);
    if (blocks > (uint64_t)INT64_MAX / (uint64_t)bb)
        return qb_fail(QB_EINPUT, "shape [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 "] of %s is over 2^63 bytes",
                       d[0], d[1], d[2], d[3], name);
    *nbytes = blocks * (uint64_t)bb;
    return QB_OK;
}

/* ======================================================================================== */
/* Little-endian loads and stores                                                           */
/* ======================================================================================== */

static uint16_t ld16(const uint8_t *p) { return (uint16_t)(p[0] | (unsigned)p[1] << 8); }
static uint32_t ld32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t ld64(const uint8_t *p) { return (uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32; }
static void st16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void st32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void st64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t align_up(uint64_t o, uint64_t a) { return o + (a - o % a) % a; }

/* ======================================================================================== */
/* Reader                                                                                   */
/* ======================================================================================== */

typedef struct rd {
    const uint8_t *p;
    uint64_t size, pos;
    const char *path;
} rd;

static uint64_t rem(const rd *r) { return r->size - r->pos; }

/* Invariant 1: the only way bytes are consumed. `what` is printf-formatted context. */
static qb_status need(const rd *r, uint64_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static qb_status need(const rd *r, uint64_t n, const char *fmt, ...) {
    if (n <= rem(r)) return QB_OK;
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return qb_fail(QB_EINPUT,
                   "%s: truncated: %s at offset %" PRIu64 " needs %" PRIu64 " bytes, past the end of the file (size %" PRIu64
                   ")",
                   r->path, what, r->pos, n, r->size);
}

#define READ_FIXED(r, bytes, loader, out, ...)                                                     \
    do {                                                                                          \
        qb_status st_ = need(r, bytes, __VA_ARGS__);                                              \
        if (st_) return st_;                                                                      \
        *(out) = loader((r)->p + (r)->pos);                                                       \
        (r)->pos += bytes;                                                                        \
    } while (0)

/* A gguf_string: *s points into the map. `what` names it in messages. */
static qb_status read_str(rd *r, const uint8_t **s, uint64_t *n, const char *what) {
    uint64_t len;
    READ_FIXED(r, 8, ld64, &len, "the length of %s", what);
    if (len > rem(r))
        return qb_fail(QB_EINPUT,
                       "%s: %s at offset %" PRIu64 " has length %" PRIu64
                       ", past the end of the file (%" PRIu64 " bytes remain, size %" PRIu64 ")",
                       r->path, what, r->pos - 8, len, rem(r), r->size);
    *s = r->p + r->pos;
    *n = len;
    r->pos += len;
    return QB_OK;
}

/* Skips one value of `type` (after its type field), validating it. Arrays of arrays are
 * refused (see gguf.h: ggml's reader refuses them, so no model file has one). */
static qb_status skip_value(rd *r, uint32_t type, const char *ctx, uint32_t *arr_type, uint64_t *arr_n) {
    uint64_t at = r->pos;
    *arr_type = type;
    *arr_n = 1;
    if (type >= QB_GGUF_TYPE_COUNT)
        return qb_fail(QB_EINPUT, "%s: %s: unknown value type %" PRIu32 " at offset %" PRIu64 " (valid: 0…12)", r->path,
                       ctx, type, at - 4);
    if (gguf_types[type].size) {
        qb_status st = need(r, gguf_types[type].size, "%s: %s value", ctx, gguf_types[type].name);
        if (st) return st;
        r->pos += gguf_types[type].size;
        return QB_OK;
    }
    if (type == QB_GGUF_STRING) {
        const uint8_t *s = NULL;
        uint64_t n;
        char what[400];
        snprintf(what, sizeof what, "%s: string value", ctx);
        return read_str(r, &s, &n, what);
    }
    /* ARRAY: element type, count, elements */
    uint32_t et;
    uint64_t n;
    READ_FIXED(r, 4, ld32, &et, "%s: array element type", ctx);
    if (et == QB_GGUF_ARRAY)
        return qb_fail(QB_EINPUT,
                       "%s: %s: nested array (array of ARRAY) at offset %" PRIu64
                       " is not supported (ggml's reader refuses it too)",
                       r->path, ctx, at);
    if (et >= QB_GGUF_TYPE_COUNT)
        return qb_fail(QB_EINPUT, "%s: %s: unknown array element type %" PRIu32 " at offset %" PRIu64 " (valid: 0…12)",
                       r->path, ctx, et, at);
    READ_FIXED(r, 8, ld64, &n, "%s: array count", ctx);
    uint64_t esz = gguf_types[et].size ? gguf_types[et].size : 8; /* a string takes ≥ 8 bytes */
    if (n > rem(r) / esz)
        return qb_fail(QB_EINPUT,
                       "%s: %s: array of %" PRIu64 " %s at offset %" PRIu64
                       " cannot fit in the %" PRIu64 " bytes left in the file (size %" PRIu64 ")",
                       r->path, ctx, n, gguf_types[et].name, at, rem(r), r->size);
    if (et != QB_GGUF_STRING) {
        r->pos += n * esz;
    } else {
        for (uint64_t i = 0; i < n; i++) {
            const uint8_t *s = NULL;
            uint64_t len;
            char what[400];
            snprintf(what, sizeof what, "%s: array string %" PRIu64 " of %" PRIu64, ctx, i, n);
            qb_status st = read_str(r, &s, &len, what);
            if (st) return st;
        }
    }
    *arr_type = et;
    *arr_n = n;
    return QB_OK;
}

typedef struct name_ref {
    const char *name;
    uint64_t idx;
} name_ref;

static int cmp_name_ref(const void *a, const void *b) {
    const name_ref *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Invariant 3: returns the index pair of a duplicate (the lowest later index), or 0. */
static int find_duplicate(name_ref *refs, uint64_t n, uint64_t *first, uint64_t *second) {
    if (n < 2) return 0;
    qsort(refs, (size_t)n, sizeof *refs, cmp_name_ref);
    int found = 0;
    for (uint64_t i = 1; i < n; i++)
        if (strcmp(refs[i - 1].name, refs[i].name) == 0 && (!found || refs[i].idx < *second)) {
            *first = refs[i - 1].idx, *second = refs[i].idx, found = 1;
        }
    return found;
}

static char *dup_bytes(const uint8_t *s, uint64_t n) {
    char *d = qb_malloc((size_t)n + 1);
    if (n) memcpy(d, s, (size_t)n);
    d[n] = '\0';
    return d;
}

/* Parses n_claimed KVs; g->n_kv counts those stored so far (what free_entries releases). */
static qb_status parse_kvs(qb_gguf *g, rd *r, uint64_t n_claimed) {
    uint64_t cap = 0;
    for (uint64_t i = 0; i < n_claimed; i++) {
        uint64_t at = r->pos;
        char ctx[400];
        snprintf(ctx, sizeof ctx, "key #%" PRIu64, i);
        const uint8_t *k = NULL;
        uint64_t klen = 0;
        char what[420];
        snprintf(what, sizeof what, "%s", ctx);
        qb_status st = read_str(r, &k, &klen, what);
        if (st) return st;
        if (klen == 0) return qb_fail(QB_EINPUT, "%s: key #%" PRIu64 " at offset %" PRIu64 " is empty", g->path, i, at);
        if (klen > QB_GGUF_MAX_KEY)
            return qb_fail(QB_EINPUT, "%s: key #%" PRIu64 " at offset %" PRIu64 " is %" PRIu64 " bytes long (at most %d)",
                           g->path, i, at, klen, QB_GGUF_MAX_KEY);
        if (memchr(k, 0, (size_t)klen))
            return qb_fail(QB_EINPUT, "%s: key #%" PRIu64 " '%s' at offset %" PRIu64 " contains a NUL byte", g->path, i,
                           qb_show(k, klen).s, at);
        snprintf(ctx, sizeof ctx, "key '%s'", qb_show(k, klen).s);
        uint32_t type;
        READ_FIXED(r, 4, ld32, &type, "%s: value type", ctx);
        uint64_t vstart = r->pos;
        uint32_t at_type;
        uint64_t at_n;
        st = skip_value(r, type, ctx, &at_type, &at_n);
        if (st) return st;
        if (i == cap) { /* invariant 2: grow with what was parsed */
            cap = cap ? 2 * cap : 16;
            if (cap > n_claimed) cap = n_claimed;
            g->kv = qb_realloc(g->kv, (size_t)cap * sizeof *g->kv);
        }
        qb_gguf_kv *kv = &g->kv[i];
        kv->key = dup_bytes(k, klen);
        kv->type = type;
        kv->arr_type = at_type;
        kv->arr_n = at_n;
        kv->val = r->p + vstart;
        kv->val_bytes = r->pos - vstart;
        kv->file_offset = at;
        g->n_kv = i + 1;
    }
    if (g->n_kv > 1) {
        name_ref *refs = qb_malloc((size_t)g->n_kv * sizeof *refs);
        for (uint64_t i = 0; i < g->n_kv; i++) refs[i] = (name_ref){g->kv[i].key, i};
        uint64_t a = 0, b = 0;
        int dup = find_duplicate(refs, g->n_kv, &a, &b);
        free(refs);
        if (dup)
            return qb_fail(QB_EINPUT, "%s: duplicate key '%s' (#%" PRIu64 " at offset %" PRIu64 " and #%" PRIu64
                           " at offset %" PRIu64 ")",
                           g->path, qb_show(g->kv[a].key, strlen(g->kv[a].key)).s, a, g->kv[a].file_offset, b,
                           g->kv[b].file_offset);
    }
    g->alignment = QB_GGUF_DEFAULT_ALIGNMENT;
    const qb_gguf_kv *al = qb_gguf_find_kv(g, "general.alignment");
    if (al) {
        if (al->type != QB_GGUF_UINT32)
            return qb_fail(QB_EINPUT, "%s: general.alignment at offset %" PRIu64 " is %s, must be UINT32", g->path,
                           al->file_offset, qb_gguf_type_name(al->type));
        uint32_t a = ld32(al->val);
        if (a == 0 || (a & (a - 1)))
            return qb_fail(QB_EINPUT, "%s: general.alignment at offset %" PRIu64 " is %" PRIu32 ", not a power of two",
                           g->path, al->file_offset, a);
        if (a > QB_GGUF_MAX_ALIGNMENT)
            return qb_fail(QB_EINPUT,
                           "%s: general.alignment at offset %" PRIu64 " is %" PRIu32 ", above the limit %u (ggml's)",
                           g->path, al->file_offset, a, QB_GGUF_MAX_ALIGNMENT);
        g->alignment = a;
    }
    return QB_OK;
}

static int cmp_by_offset(const void *a, const void *b) {
    const qb_gguf_tensor *x = *(const qb_gguf_tensor *const *)a, *y = *(const qb_gguf_tensor *const *)b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

static qb_status parse_tensor_infos(qb_gguf *g, rd *r, uint64_t n_claimed, uint64_t **info_at) {
    uint64_t cap = 0;
    for (uint64_t i = 0; i < n_claimed; i++) {
        uint64_t at = r->pos;
        char ctx[400];
        snprintf(ctx, sizeof ctx, "tensor #%" PRIu64 " name", i);
        const uint8_t *nm = NULL;
        uint64_t nlen = 0;
        qb_status st = read_str(r, &nm, &nlen, ctx);
        if (st) return st;
        if (nlen == 0)
            return qb_fail(QB_EINPUT, "%s: tensor #%" PRIu64 " at offset %" PRIu64 " has an empty name", g->path, i, at);
        if (nlen > QB_GGUF_MAX_NAME)
            return qb_fail(QB_EINPUT, "%s: tensor #%" PRIu64 " name '%s' at offset %" PRIu64 " is %" PRIu64
                           " bytes long (at most %d)",
                           g->path, i, qb_show(nm, nlen).s, at, nlen, QB_GGUF_MAX_NAME);
        if (memchr(nm, 0, (size_t)nlen))
            return qb_fail(QB_EINPUT, "%s: tensor #%" PRIu64 " name '%s' at offset %" PRIu64 " contains a NUL byte",
                           g->path, i, qb_show(nm, nlen).s, at);
        snprintf(ctx, sizeof ctx, "tensor '%s'", qb_show(nm, nlen).s);
        if (i == cap) { /* invariant 2 */
            cap = cap ? 2 * cap : 16;
            if (cap > n_claimed) cap = n_claimed;
            g->tensors = qb_realloc(g->tensors, (size_t)cap * sizeof *g->tensors);
            *info_at = qb_realloc(*info_at, (size_t)cap * sizeof **info_at);
        }
        qb_gguf_tensor *t = &g->tensors[i];
        memset(t, 0, sizeof *t);
        t->name = dup_bytes(nm, nlen);
        (*info_at)[i] = at;
        g->n_tensors = i + 1;

        uint64_t field_at = r->pos;
        READ_FIXED(r, 4, ld32, &t->n_dims, "%s: n_dims", ctx);
        if (t->n_dims > QB_GGUF_MAX_DIMS)
            return qb_fail(QB_EINPUT, "%s: %s: n_dims %" PRIu32 " at offset %" PRIu64 " exceeds 4", g->path, ctx,
                           t->n_dims, field_at);
        for (int j = 0; j < 4; j++) t->ne[j] = 1;
        for (uint32_t j = 0; j < t->n_dims; j++) {
            uint64_t d;
            field_at = r->pos;
            READ_FIXED(r, 8, ld64, &d, "%s: ne[%" PRIu32 "]", ctx, j);
            if (d == 0 || d > (uint64_t)INT64_MAX)
                return qb_fail(QB_EINPUT, "%s: %s: ne[%" PRIu32 "] = %" PRIu64 " at offset %" PRIu64
                               " is out of range (1 … 2^63-1)",
                               g->path, ctx, j, d, field_at);
            t->ne[j] = (int64_t)d;
        }
        READ_FIXED(r, 4, ld32, &t->type, "%s: ggml type", ctx);
        st = qb_ggml_nbytes(t->type, t->n_dims, t->ne, &t->nbytes);
        if (st) return qb_fail_context(st, "%s: %s (info at offset %" PRIu64 ")", g->path, ctx, at);
        field_at = r->pos;
        READ_FIXED(r, 8, ld64, &t->offset, "%s: data offset", ctx);
        if (t->offset % g->alignment)
            return qb_fail(QB_EINPUT,
                           "%s: %s: data offset %" PRIu64 " (field at offset %" PRIu64
                           ") is not a multiple of the alignment %" PRIu64,
                           g->path, ctx, t->offset, field_at, g->alignment);
    }
    if (g->n_tensors > 1) {
        name_ref *refs = qb_malloc((size_t)g->n_tensors * sizeof *refs);
        for (uint64_t i = 0; i < g->n_tensors; i++) refs[i] = (name_ref){g->tensors[i].name, i};
        uint64_t a = 0, b = 0;
        int dup = find_duplicate(refs, g->n_tensors, &a, &b);
        free(refs);
        if (dup)
            return qb_fail(QB_EINPUT, "%s: duplicate tensor name '%s' (#%" PRIu64 " at offset %" PRIu64 " and #%" PRIu64
                           " at offset %" PRIu64 ")",
                           g->path, qb_show(g->tensors[a].name, strlen(g->tensors[a].name)).s, a, (*info_at)[a], b,
                           (*info_at)[b]);
    }
    return QB_OK;
}

/* Invariant 4. */
static qb_status place_tensors(qb_gguf *g) {
    uint64_t size = g->map.size;
    if (g->n_tensors && g->data_offset > size)
        return qb_fail(QB_EINPUT,
                       "%s: the data section would start at offset %" PRIu64 " (end of the tensor infos aligned to %" PRIu64
                       "), past the end of the file (size %" PRIu64 ")",
                       g->path, g->data_offset, g->alignment, size);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        qb_gguf_tensor *t = &g->tensors[i];
        if (t->offset > size - g->data_offset ||
            t->nbytes > size - g->data_offset - t->offset) {
            if (t->offset > UINT64_MAX - g->data_offset)
                return qb_fail(QB_EINPUT, "%s: tensor '%s' data offset %" PRIu64 " points past the end of the file (size %" PRIu64
                               ")",
                               g->path, qb_show(t->name, strlen(t->name)).s, t->offset, size);
            return qb_fail(QB_EINPUT,
                           "%s: tensor '%s' data [offset %" PRIu64 ", %" PRIu64
                           " bytes] runs past the end of the file (size %" PRIu64 ")",
                           g->path, qb_show(t->name, strlen(t->name)).s, g->data_offset + t->offset, t->nbytes, size);
        }
        t->data = (const uint8_t *)g->map.data + g->data_offset + t->offset;
    }
    if (g->n_tensors > 1) {
        const qb_gguf_tensor **by = qb_malloc((size_t)g->n_tensors * sizeof *by);
        for (uint64_t i = 0; i < g->n_tensors; i++) by[i] = &g->tensors[i];
        qsort(by, (size_t)g->n_tensors, sizeof *by, cmp_by_offset);
        qb_status st = QB_OK;
        for (uint64_t i = 1; i < g->n_tensors && !st; i++) {
            const qb_gguf_tensor *a = by[i - 1], *b = by[i];
            if (a->offset + a->nbytes > b->offset)
                st = qb_fail(QB_EINPUT,
                             "%s: tensors '%s' [offset %" PRIu64 ", %" PRIu64 " bytes] and '%s' [offset %" PRIu64 ", %" PRIu64
                             " bytes] overlap",
                             g->path, qb_show(a->name, strlen(a->name)).s, g->data_offset + a->offset, a->nbytes,
                             qb_show(b->name, strlen(b->name)).s, g->data_offset + b->offset, b->nbytes);
        }
        free(by);
        if (st) return st;
    }
    return QB_OK;
}

static qb_status parse(qb_gguf *g, uint64_t **info_at) {
    rd r = {g->map.data, g->map.size, 0, g->path};
    uint32_t magic;
    if (r.size < 4) {
        qb_status st = need(&r, 4, "the magic \"GGUF\"");
        if (st) return st;
    }
    magic = ld32(r.p);
    if (magic != QB_GGUF_MAGIC)
        return qb_fail(QB_EINPUT, "%s: not a GGUF file: magic '%s' at offset 0, expected 'GGUF'", g->path,
                       qb_show(r.p, 4).s);
    r.pos = 4;
    READ_FIXED(&r, 4, ld32, &g->version, "the version");
    if ((g->version & 0xFFFFu) == 0 && g->version != 0)
        return qb_fail(QB_EINPUT,
                       "%s: version 0x%08" PRIx32 " at offset 4 looks byte-swapped: big-endian GGUF files are not "
                       "supported",
                       g->path, g->version);
    if (g->version != 2 && g->version != 3)
        return qb_fail(QB_EINPUT, "%s: GGUF version %" PRIu32 " at offset 4 is not supported (only 2 and 3%s)", g->path,
                       g->version, g->version == 1 ? "; version 1 used 32-bit counts, convert the file" : "");
    uint64_t n_tensors, n_kv;
    READ_FIXED(&r, 8, ld64, &n_tensors, "the tensor count");
    READ_FIXED(&r, 8, ld64, &n_kv, "the key-value count");
    uint64_t left = rem(&r); /* invariant 2 */
    if (n_kv > left / MIN_KV_BYTES || n_tensors > left / MIN_TENSOR_INFO_BYTES ||
        n_kv * MIN_KV_BYTES + n_tensors * MIN_TENSOR_INFO_BYTES > left)
        return qb_fail(QB_EINPUT,
                       "%s: header at offset 8: %" PRIu64 " tensors and %" PRIu64
                       " key-value pairs cannot fit in the %" PRIu64
                       " bytes that follow (a key-value takes ≥ %u bytes, a tensor info ≥ %u)",
                       g->path, n_tensors, n_kv, left, MIN_KV_BYTES, MIN_TENSOR_INFO_BYTES);
    qb_status st = parse_kvs(g, &r, n_kv);
    if (st) return st;
    st = parse_tensor_infos(g, &r, n_tensors, info_at);
    if (st) return st;
    g->data_offset = align_up(r.pos, g->alignment);
    return place_tensors(g);
}

static void free_entries(qb_gguf *g) {
    for (uint64_t i = 0; i < g->n_kv; i++) free(g->kv[i].key);
    for (uint64_t i = 0; i < g->n_tensors; i++) free(g->tensors[i].name);
    free(g->kv);
    free(g->tensors);
}

qb_status qb_gguf_open_mem(qb_gguf *g, const void *data, uint64_t size, const char *name) {
    memset(g, 0, sizeof *g);
    g->path = qb_strdup(name);
    g->map.data = data;
    g->map.size = (size_t)size;
    g->map.path = g->path;
    uint64_t *info_at = NULL;
    qb_status st = parse(g, &info_at);
    free(info_at);
    if (st) {
        free_entries(g);
        free(g->path);
        memset(g, 0, sizeof *g);
    }
    return st;
}

qb_status qb_gguf_open(qb_gguf *g, const char *path) {
    qb_map m;
    qb_status st = qb_map_file(&m, path);
    if (st) {
        memset(g, 0, sizeof *g);
        return st;
    }
    st = qb_gguf_open_mem(g, m.data, m.size, path);
    if (st) {
        qb_unmap(&m);
        return st;
    }
    g->owns_map = 1;
    return QB_OK;
}

void qb_gguf_close(qb_gguf *g) {
    if (g->owns_map) qb_unmap(&g->map);
    free_entries(g);
    free(g->path);
    memset(g, 0, sizeof *g);
}

/* ---- lookups and getters -------------------------------------------------------------------- */

const qb_gguf_kv *qb_gguf_find_kv(const qb_gguf *g, const char *key) {
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (strcmp(g->kv[i].key, key) == 0) return &g->kv[i];
    return NULL;
}

const qb_gguf_tensor *qb_gguf_find_tensor(const qb_gguf *g, const char *name) {
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0) return &g->tensors[i];
    return NULL;
}

static void describe_type(char *buf, size_t n, uint32_t type, uint32_t arr_type) {
    if (type == QB_GGUF_ARRAY) snprintf(buf, n, "ARRAY of %s", qb_gguf_type_name(arr_type));
    else snprintf(buf, n, "%s", qb_gguf_type_name(type));
}

/* The KV `key` of exactly (type, arr_type), or a QB_EINPUT naming what it is instead. */
static qb_status typed(const qb_gguf *g, const char *key, uint32_t type, uint32_t arr_type, const qb_gguf_kv **kv) {
    *kv = qb_gguf_find_kv(g, key);
    if (!*kv) return qb_fail(QB_EINPUT, "%s: key '%s' not found", g->path, qb_show(key, strlen(key)).s);
    if ((*kv)->type != type || (*kv)->arr_type != arr_type) {
        char have[64], want[64];
        describe_type(have, sizeof have, (*kv)->type, (*kv)->arr_type);
        describe_type(want, sizeof want, type, arr_type);
        return qb_fail(QB_EINPUT, "%s: key '%s' (offset %" PRIu64 ") is %s, expected %s", g->path,
                       qb_show(key, strlen(key)).s, (*kv)->file_offset, have, want);
    }
    return QB_OK;
}

qb_status qb_gguf_get_u32(const qb_gguf *g, const char *key, uint32_t *out) {
    const qb_gguf_kv *kv;
    qb_status st = typed(g, key, QB_GGUF_UINT32, QB_GGUF_UINT32, &kv);
    if (!st) *out = ld32(kv->val);
    return st;
}

qb_status qb_gguf_get_u64(const qb_gguf *g, const char *key, uint64_t *out) {
    const qb_gguf_kv *kv;
    qb_status st = typed(g, key, QB_GGUF_UINT64, QB_GGUF_UINT64, &kv);
    if (!st) *out = ld64(kv->val);
    return st;
}

qb_status qb_gguf_get_f32(const qb_gguf *g, const char *key, float *out) {
    const qb_gguf_kv *kv;
    qb_status st = typed(g, key, QB_GGUF_FLOAT32, QB_GGUF_FLOAT32, &kv);
    if (!st) {
        uint32_t u = ld32(kv->val);
        memcpy(out, &u, 4);
    }
    return st;
}

qb_status qb_gguf_get_f64(const qb_gguf *g, const char *key, double *out) {
    const qb_gguf_kv *kv;
    qb_status st = typed(g, key, QB_GGUF_FLOAT64, QB_GGUF_FLOAT64, &kv);
    if (!st) {
        uint64_t u = ld64(kv->val);
        memcpy(out, &u, 8);
    }
    return st;
}

qb_status qb_gguf_get_bool(const qb_gguf *g, const char *key, int *out) {
    const qb_gguf_kv *kv;
    qb_status st = typed(g, key, QB_GGUF_BOOL, QB_GGUF_BOOL, &kv);
    if (!st) *out = kv->val[0] != 0;
    return st;
}

qb_status qb_gguf_get_i64(const qb_gguf *g, const char *key, int64_t *out) {
    const qb_gguf_kv *kv = qb_gguf_find_kv(g, key);
    if (!kv) return qb_fail(QB_EINPUT, "%s: key '%s' not found", g->path, qb_show(key, strlen(key)).s);
    const uint8_t *v = kv->val;
    switch (kv->type) {
    case QB_GGUF_UINT8: *out = v[0]; return QB_OK;
    case QB_GGUF_INT8: *out = (int8_t)v[0]; return QB_OK;
    case QB_GGUF_UINT16: *out = ld16(v); return QB_OK;
    case QB_GGUF_INT16: *out = (int16_t)ld16(v); return QB_OK;
    case QB_GGUF_UINT32: *out = ld32(v); return QB_OK;
    case QB_GGUF_INT32: *out = (int32_t)ld32(v); return QB_OK;
    case QB_GGUF_INT64: *out = (int64_t)ld64(v); return QB_OK;
    case QB_GGUF_UINT64:
        if (ld64(v) > (uint64_t)INT64_MAX)
            return qb_fail(QB_EINPUT, "%s: key '%s' (offset %" PRIu64 ") = %" PRIu64 " does not fit in int64", g->path,
                           qb_show(key, strlen(key)).s, kv->file_offset, ld64(v));
        *out = (int64_t)ld64(v);
        return QB_OK;
    default: {
        char have[64];
        describe_type(have, sizeof have, kv->type, kv->arr_type);
        return qb_fail(QB_EINPUT, "%s: key '%s' (offset %" PRIu64 ") is %s, expected an integer", g->path,
                       qb_show(key, strlen(key)).s, kv->file_offset, have);
    }
    }
}

qb_status qb_gguf_get_string(const qb_gguf *g, const char *key, const char **s, uint64_t *len) {
    const qb_gguf_kv *kv;
    qb_status st = typed(g, key, QB_GGUF_STRING, QB_GGUF_STRING, &kv);
    if (!st) {
        *len = ld64(kv->val);
        *s = (const char *)kv->val + 8;
    }
    return st;
}

qb_status qb_gguf_get_array(const qb_gguf *g, const char *key, uint32_t elem_type, const void **elems, uint64_t *n) {
    if (elem_type >= QB_GGUF_TYPE_COUNT || !gguf_types[elem_type].size)
        return qb_fail(QB_ERUNTIME, "qb_gguf_get_array: element type %" PRIu32 " is not a fixed-size type", elem_type);
    const qb_gguf_kv *kv;
    qb_status st = typed(g, key, QB_GGUF_ARRAY, elem_type, &kv);
    if (!st) {
        *n = kv->arr_n;
        *elems = kv->val + 12;
    }
    return st;
}

int qb_gguf_kv_next_string(const qb_gguf_kv *kv, uint64_t *cursor, const char **s, uint64_t *len) {
    if (kv->type != QB_GGUF_ARRAY || kv->arr_type != QB_GGUF_STRING) return 0;
    uint64_t pos = *cursor ? *cursor : 12;
    if (pos + 8 > kv->val_bytes || ld64(kv->val + pos) > kv->val_bytes - pos - 8) return 0;
    *len = ld64(kv->val + pos);
    *s = (const char *)kv->val + pos + 8;
    *cursor = pos + 8 + *len;
    return 1;
}

qb_status qb_gguf_get_array_string(const qb_gguf *g, const char *key, uint64_t i, const char **s, uint64_t *len) {
    const qb_gguf_kv *kv;
    qb_status st = typed(g, key, QB_GGUF_ARRAY, QB_GGUF_STRING, &kv);
    if (st) return st;
    if (i >= kv->arr_n)
        return qb_fail(QB_EINPUT, "%s: key '%s' has %" PRIu64 " strings, element %" PRIu64 " asked for", g->path,
                       qb_show(key, strlen(key)).s, kv->arr_n, i);
    uint64_t cur = 0;
    for (uint64_t k = 0; k <= i; k++) qb_gguf_kv_next_string(kv, &cur, s, len);
    return QB_OK;
}

/* ======================================================================================== */
/* Writer                                                                                   */
/* ======================================================================================== */

static qb_status w_misuse(qb_gguf_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static qb_status w_misuse(qb_gguf_writer *w, const char *fmt, ...) {
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return qb_fail(QB_ERUNTIME, "GGUF writer '%s': %s", w->path ? w->path : "(closed)", msg);
}

static qb_status w_write(qb_gguf_writer *w, const void *p, uint64_t n) {
    if (w->failed) return QB_ERUNTIME;
    qb_status st = qb_out_write(&w->out, p, (size_t)n);
    if (st) {
        w->failed = 1;
        return st;
    }
    w->pos += n;
    return QB_OK;
}

static qb_status w_pad(qb_gguf_writer *w) {
    static const uint8_t zeros[4096];
    uint64_t n = align_up(w->pos, w->alignment) - w->pos;
    while (n) {
        uint64_t k = n < sizeof zeros ? n : sizeof zeros;
        qb_status st = w_write(w, zeros, k);
        if (st) return st;
        n -= k;
    }
    return QB_OK;
}

qb_status qb_gguf_writer_open(qb_gguf_writer *w, const char *path, uint64_t alignment) {
    memset(w, 0, sizeof *w);
    if (alignment == 0) alignment = QB_GGUF_DEFAULT_ALIGNMENT;
    if ((alignment & (alignment - 1)) || alignment > QB_GGUF_MAX_ALIGNMENT)
        return qb_fail(QB_ERUNTIME, "GGUF writer '%s': alignment %" PRIu64 " is not a power of two ≤ %u", path,
                       alignment, QB_GGUF_MAX_ALIGNMENT);
    qb_status st = qb_out_open(&w->out, path);
    if (st) return st;
    w->path = qb_strdup(path);
    w->alignment = alignment;
    return QB_OK;
}

/* Stores (key, type, encoded value), taking ownership of `val`. A key set again is removed
 * and appended, as ggml's gguf_set_val does: a writer that copies a file's metadata and then
 * sets general.file_type lays the keys out exactly as llama-quantize does. */
static qb_status w_set(qb_gguf_writer *w, const char *key, uint32_t type, uint8_t *val, uint64_t val_bytes) {
    qb_status st = QB_OK;
    size_t klen = strlen(key);
    if (!w->path) st = qb_fail(QB_ERUNTIME, "GGUF writer: not open");
    else if (w->failed) st = w_misuse(w, "an earlier error stopped the writer");
    else if (w->header_done) st = w_misuse(w, "key '%s' set after tensor data was written", qb_show(key, klen).s);
    else if (klen == 0 || klen > QB_GGUF_MAX_KEY)
        st = w_misuse(w, "key '%s' must be 1…%d bytes long", qb_show(key, klen).s, QB_GGUF_MAX_KEY);
    if (st) {
        free(val);
        return st;
    }
    qb_gguf_writer_remove(w, key);
    if (w->n_kv == w->cap_kv) {
        w->cap_kv = w->cap_kv ? 2 * w->cap_kv : 16;
        w->kv = qb_realloc(w->kv, (size_t)w->cap_kv * sizeof *w->kv);
    }
    w->kv[w->n_kv++] = (qb_gguf_wkv){qb_strdup(key), type, val, val_bytes};
    return QB_OK;
}

void qb_gguf_writer_remove(qb_gguf_writer *w, const char *key) {
    if (w->header_done) return; /* the header is on disk already */
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].key);
            free(w->kv[i].val);
            memmove(&w->kv[i], &w->kv[i + 1], (size_t)(w->n_kv - i - 1) * sizeof *w->kv);
            w->n_kv--;
            return;
        }
}

static qb_status w_set_fixed(qb_gguf_writer *w, const char *key, uint32_t type, uint64_t bits) {
    uint8_t *v = qb_malloc(8);
    st64(v, bits); /* little-endian: the low gguf_types[type].size bytes are the value */
    return w_set(w, key, type, v, gguf_types[type].size);
}

qb_status qb_gguf_writer_set_u8(qb_gguf_writer *w, const char *key, uint8_t v) {
    return w_set_fixed(w, key, QB_GGUF_UINT8, v);
}
qb_status qb_gguf_writer_set_i8(qb_gguf_writer *w, const char *key, int8_t v) {
    return w_set_fixed(w, key, QB_GGUF_INT8, (uint8_t)v);
}
qb_status qb_gguf_writer_set_u16(qb_gguf_writer *w, const char *key, uint16_t v) {
    return w_set_fixed(w, key, QB_GGUF_UINT16, v);
}
qb_status qb_gguf_writer_set_i16(qb_gguf_writer *w, const char *key, int16_t v) {
    return w_set_fixed(w, key, QB_GGUF_INT16, (uint16_t)v);
}
qb_status qb_gguf_writer_set_u32(qb_gguf_writer *w, const char *key, uint32_t v) {
    return w_set_fixed(w, key, QB_GGUF_UINT32, v);
}
qb_status qb_gguf_writer_set_i32(qb_gguf_writer *w, const char *key, int32_t v) {
    return w_set_fixed(w, key, QB_GGUF_INT32, (uint32_t)v);
}
qb_status qb_gguf_writer_set_f32(qb_gguf_writer *w, const char *key, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    return w_set_fixed(w, key, QB_GGUF_FLOAT32, u);
}
qb_status qb_gguf_writer_set_bool(qb_gguf_writer *w, const char *key, int v) {
    return w_set_fixed(w, key, QB_GGUF_BOOL, v != 0);
}
qb_status qb_gguf_writer_set_u64(qb_gguf_writer *w, const char *key, uint64_t v) {
    return w_set_fixed(w, key, QB_GGUF_UINT64, v);
}
qb_status qb_gguf_writer_set_i64(qb_gguf_writer *w, const char *key, int64_t v) {
    return w_set_fixed(w, key, QB_GGUF_INT64, (uint64_t)v);
}
qb_status qb_gguf_writer_set_f64(qb_gguf_writer *w, const char *key, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    return w_set_fixed(w, key, QB_GGUF_FLOAT64, u);
}

qb_status qb_gguf_writer_set_string_n(qb_gguf_writer *w, const char *key, const char *s, uint64_t len) {
    uint8_t *v = qb_malloc((size_t)len + 8);
    st64(v, len);
    if (len) memcpy(v + 8, s, (size_t)len);
    return w_set(w, key, QB_GGUF_STRING, v, len + 8);
}

qb_status qb_gguf_writer_set_string(qb_gguf_writer *w, const char *key, const char *s) {
    return qb_gguf_writer_set_string_n(w, key, s, strlen(s));
}

qb_status qb_gguf_writer_set_string_array(qb_gguf_writer *w, const char *key, const char *const *s,
                                          const uint64_t *lens, uint64_t n) {
    uint64_t total = 12;
    for (uint64_t i = 0; i < n; i++) total += 8 + (lens ? lens[i] : strlen(s[i]));
    uint8_t *v = qb_malloc((size_t)total), *p = v + 12;
    st32(v, QB_GGUF_STRING);
    st64(v + 4, n);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len = lens ? lens[i] : strlen(s[i]);
        st64(p, len);
        if (len) memcpy(p + 8, s[i], (size_t)len);
        p += 8 + len;
    }
    return w_set(w, key, QB_GGUF_ARRAY, v, total);
}

qb_status qb_gguf_writer_set_array(qb_gguf_writer *w, const char *key, uint32_t elem_type, const void *elems,
                                   uint64_t n) {
    if (elem_type >= QB_GGUF_TYPE_COUNT || !gguf_types[elem_type].size)
        return w_misuse(w, "key '%s': array element type %" PRIu32 " is not a fixed-size type", qb_show(key, strlen(key)).s,
                        elem_type);
    unsigned esz = gguf_types[elem_type].size;
    uint8_t *v = qb_malloc((size_t)(12 + n * esz));
    st32(v, elem_type);
    st64(v + 4, n);
    const uint8_t *src = elems;
    for (uint64_t i = 0; i < n; i++) { /* host order → little-endian */
        uint8_t *d = v + 12 + i * esz;
        switch (esz) {
        case 1: d[0] = src[i]; break;
        case 2: { uint16_t x; memcpy(&x, src + 2 * i, 2); st16(d, x); } break;
        case 4: { uint32_t x; memcpy(&x, src + 4 * i, 4); st32(d, x); } break;
        default: { uint64_t x; memcpy(&x, src + 8 * i, 8); st64(d, x); } break;
        }
    }
    return w_set(w, key, QB_GGUF_ARRAY, v, 12 + n * esz);
}

qb_status qb_gguf_writer_copy_kv(qb_gguf_writer *w, const qb_gguf_kv *kv) {
    /* re-validate the encoding so a hand-made kv cannot produce a corrupt file */
    rd r = {kv->val, kv->val_bytes, 0, "qb_gguf_writer_copy_kv"};
    uint32_t at;
    uint64_t an;
    char ctx[400];
    snprintf(ctx, sizeof ctx, "key '%s'", qb_show(kv->key, strlen(kv->key)).s);
    qb_status st = kv->val || !kv->val_bytes ? skip_value(&r, kv->type, ctx, &at, &an) : QB_EINPUT;
    if (st || r.pos != kv->val_bytes)
        return w_misuse(w, "key '%s': the value's encoding is not a valid %s", qb_show(kv->key, strlen(kv->key)).s,
                        qb_gguf_type_name(kv->type));
    uint8_t *v = qb_malloc((size_t)kv->val_bytes);
    memcpy(v, kv->val, (size_t)kv->val_bytes);
    return w_set(w, kv->key, kv->type, v, kv->val_bytes);
}

qb_status qb_gguf_writer_copy_all_kv(qb_gguf_writer *w, const qb_gguf *g) {
    for (uint64_t i = 0; i < g->n_kv; i++) {
        qb_status st = qb_gguf_writer_copy_kv(w, &g->kv[i]);
        if (st) return st;
    }
    return QB_OK;
}

qb_status qb_gguf_writer_add_tensor(qb_gguf_writer *w, const char *name, uint32_t n_dims, const int64_t *ne,
                                    uint32_t type) {
    size_t nlen = strlen(name);
    if (!w->path) return qb_fail(QB_ERUNTIME, "GGUF writer: not open");
    if (w->failed) return w_misuse(w, "an earlier error stopped the writer");
    if (w->header_done) return w_misuse(w, "tensor '%s' declared after tensor data was written", qb_show(name, nlen).s);
    if (nlen == 0 || nlen > QB_GGUF_MAX_NAME)
        return w_misuse(w, "tensor name '%s' must be 1…%d bytes long", qb_show(name, nlen).s, QB_GGUF_MAX_NAME);
    for (uint64_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0) return w_misuse(w, "tensor '%s' declared twice", qb_show(name, nlen).s);
    uint64_t nbytes;
    qb_status st = qb_ggml_nbytes(type, n_dims, ne, &nbytes);
    if (st) return qb_fail_context(st, "GGUF writer '%s': tensor '%s'", w->path, qb_show(name, nlen).s);
    uint64_t padded = align_up(nbytes, w->alignment);
    if (w->data_size > (uint64_t)INT64_MAX - padded) return w_misuse(w, "data section over 2^63 bytes");
    if (w->n_tensors == w->cap_tensors) {
        w->cap_tensors = w->cap_tensors ? 2 * w->cap_tensors : 16;
        w->tensors = qb_realloc(w->tensors, (size_t)w->cap_tensors * sizeof *w->tensors);
    }
    qb_gguf_tensor *t = &w->tensors[w->n_tensors++];
    memset(t, 0, sizeof *t);
    t->name = qb_strdup(name);
    t->n_dims = n_dims;
    for (int j = 0; j < 4; j++) t->ne[j] = (uint32_t)j < n_dims ? ne[j] : 1;
    t->type = type;
    t->offset = w->data_size;
    t->nbytes = nbytes;
    w->data_size += padded;
    return QB_OK;
}

static qb_status w_header(qb_gguf_writer *w) {
    /* general.alignment must describe the alignment used: fix its value where it stands (the
     * setters would move it to the end), or add it */
    int have = 0;
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, "general.alignment") == 0) {
            have = 1;
            free(w->kv[i].val);
            w->kv[i].type = QB_GGUF_UINT32;
            w->kv[i].val = qb_malloc(4);
            st32(w->kv[i].val, (uint32_t)w->alignment);
            w->kv[i].val_bytes = 4;
        }
    if (!have && w->alignment != QB_GGUF_DEFAULT_ALIGNMENT) {
        qb_status st = qb_gguf_writer_set_u32(w, "general.alignment", (uint32_t)w->alignment);
        if (st) return st;
    }
    w->header_done = 1;
    uint8_t b[8];
    qb_status st = QB_OK;
#define PUT32(v) (st32(b, (v)), st = st ? st : w_write(w, b, 4))
#define PUT64(v) (st64(b, (v)), st = st ? st : w_write(w, b, 8))
    PUT32(QB_GGUF_MAGIC);
    PUT32(3);
    PUT64(w->n_tensors);
    PUT64(w->n_kv);
    for (uint64_t i = 0; i < w->n_kv && !st; i++) {
        const qb_gguf_wkv *kv = &w->kv[i];
        PUT64(strlen(kv->key));
        st = st ? st : w_write(w, kv->key, strlen(kv->key));
        PUT32(kv->type);
        st = st ? st : w_write(w, kv->val, kv->val_bytes);
    }
    for (uint64_t i = 0; i < w->n_tensors && !st; i++) {
        const qb_gguf_tensor *t = &w->tensors[i];
        PUT64(strlen(t->name));
        st = st ? st : w_write(w, t->name, strlen(t->name));
        PUT32(t->n_dims);
        for (uint32_t j = 0; j < t->n_dims; j++) PUT64((uint64_t)t->ne[j]);
        PUT32(t->type);
        PUT64(t->offset);
    }
#undef PUT32
#undef PUT64
    return st ? st : w_pad(w);
}

qb_status qb_gguf_writer_write_tensor(qb_gguf_writer *w, uint64_t index, const void *data, uint64_t nbytes) {
    if (!w->path) return qb_fail(QB_ERUNTIME, "GGUF writer: not open");
    if (w->failed) return w_misuse(w, "an earlier error stopped the writer");
    if (index >= w->n_tensors) return w_misuse(w, "tensor #%" PRIu64 " was never declared", index);
    if (index != w->next) {
        const qb_gguf_tensor *want = w->next < w->n_tensors ? &w->tensors[w->next] : NULL;
        return w_misuse(w, "tensor #%" PRIu64 " '%s' written out of order (next is #%" PRIu64 " '%s')", index,
                        w->tensors[index].name, w->next, want ? want->name : "none");
    }
    qb_gguf_tensor *t = &w->tensors[index];
    if (nbytes > t->nbytes - w->next_written)
        return w_misuse(w, "tensor '%s' given %" PRIu64 " more bytes after %" PRIu64 ", but it holds %" PRIu64, t->name,
                        nbytes, w->next_written, t->nbytes);
    qb_status st = w->header_done ? QB_OK : w_header(w);
    if (!st) st = w_write(w, data, nbytes);
    if (st) return st;
    w->next_written += nbytes;
    if (w->next_written == t->nbytes) {
        st = w_pad(w);
        w->next++;
        w->next_written = 0;
    }
    return st;
}

static void w_free(qb_gguf_writer *w) {
    for (uint64_t i = 0; i < w->n_kv; i++) free(w->kv[i].key), free(w->kv[i].val);
    for (uint64_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->kv);
    free(w->tensors);
    free(w->path);
}

qb_status qb_gguf_writer_finish(qb_gguf_writer *w) {
    if (!w->path) return qb_fail(QB_ERUNTIME, "GGUF writer: not open");
    qb_status st = QB_OK;
    if (w->failed) st = w_misuse(w, "an earlier error stopped the writer; nothing was written");
    if (!st && !w->header_done) st = w_header(w);
    if (!st && w->next < w->n_tensors)
        st = w_misuse(w, "tensor #%" PRIu64 " '%s' was declared but only %" PRIu64 " of its %" PRIu64
                      " bytes were written",
                      w->next, w->tensors[w->next].name, w->next_written, w->tensors[w->next].nbytes);
    if (st) {
        qb_gguf_writer_abort(w);
        return st;
    }
    st = qb_out_commit(&w->out);
    w_free(w);
    memset(w, 0, sizeof *w);
    return st;
}

void qb_gguf_writer_abort(qb_gguf_writer *w) {
    if (w->out.f || w->out.tmp) qb_out_abort(&w->out);
    w_free(w);
    memset(w, 0, sizeof *w);
}
