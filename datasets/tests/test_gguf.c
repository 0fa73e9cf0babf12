/* test_gguf.c — the GGUF reader and writer (datasets/gguf.h).
 *
 *   1. The ggml type table matches FORMATS.md §5.2 row by row; removed and unknown ids fail.
 *   2. A file with every KV type (scalars, strings incl. empty, arrays of numbers, bools and
 *      strings, an empty array, a UTF-8 key) and one tensor of every ggml type (1-D … 4-D) is
 *      written and read back: every key, type, value, shape, offset and data byte compares.
 *   3. read → write → read keeps metadata and tensor bytes, and since our writer is
 *      deterministic the copy is byte-identical to the original; alignment 64 and 32 are honoured
 *      (general.alignment is written/corrected), an invalid alignment is refused.
 *   4. Getters and writer misuse fail with one precise line; a failed writer leaves no file.
 *   5. Hostile inputs generated from a valid file: every prefix length, huge counts, lengths past
 *      the end, n_dims > 4, zero/overflowing dims, unknown types, nested arrays, misaligned,
 *      out-of-file and overlapping tensors, bad magic, versions 0/1/4 and big-endian, duplicate
 *      keys and names, bad alignments, plus random byte flips. Each must return QB_EINPUT with a
 *      one-line message holding the expected fragment (run under ASan+UBSan in CI: never crash,
 *      never read past the buffer — each input is an exactly-sized heap copy).
 *
 *   test_gguf [SEED_DIR]   SEED_DIR: also save the valid files there (seeds for fuzz_gguf). */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/qbtest.h"
#include "datasets/gguf.h"
#include "datasets/source.h"

static char tmpdir[256];

static char *tpath(const char *name) { return qb_asprintf("%s/%s", tmpdir, name); }

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = qb_malloc((size_t)sz);
    *n = fread(b, 1, (size_t)sz, f);
    fclose(f);
    return b;
}

static void spit(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(p, 1, n, f);
    fclose(f);
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Deterministic bytes from the project's seeded generator (datasets/source.h). */
static void fill_bytes(uint8_t *p, size_t n, uint64_t seed) {
    qb_rng r;
    qb_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(qb_rng_next(&r) >> 56);
}

/* ---- 1. type table ------------------------------------------------------------------------- */

static void test_type_table(void) {
    static const struct {
        uint32_t id;
        const char *name;
        int be, bb;
    } want[] = {
        {0, "F32", 1, 4},         {1, "F16", 1, 2},        {2, "Q4_0", 32, 18},     {3, "Q4_1", 32, 20},
        {6, "Q5_0", 32, 22},      {7, "Q5_1", 32, 24},     {8, "Q8_0", 32, 34},     {9, "Q8_1", 32, 36},
        {10, "Q2_K", 256, 84},    {11, "Q3_K", 256, 110},  {12, "Q4_K", 256, 144},  {13, "Q5_K", 256, 176},
        {14, "Q6_K", 256, 210},   {15, "Q8_K", 256, 292},  {16, "IQ2_XXS", 256, 66}, {17, "IQ2_XS", 256, 74},
        {18, "IQ3_XXS", 256, 98}, {19, "IQ1_S", 256, 50},  {20, "IQ4_NL", 32, 18},  {21, "IQ3_S", 256, 110},
        {22, "IQ2_S", 256, 82},   {23, "IQ4_XS", 256, 136}, {24, "I8", 1, 1},       {25, "I16", 1, 2},
        {26, "I32", 1, 4},        {27, "I64", 1, 8},       {28, "F64", 1, 8},       {29, "IQ1_M", 256, 56},
        {30, "BF16", 1, 2},       {34, "TQ1_0", 256, 54},  {35, "TQ2_0", 256, 66},  {39, "MXFP4", 32, 17},
        {40, "NVFP4", 64, 36},    {41, "Q1_0", 128, 18},   {42, "Q2_0", 64, 18},
    };
    int known = 0;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *name = NULL;
        int be = 0, bb = 0;
        qb_status st = qb_ggml_type_info(want[i].id, &name, &be, &bb);
        CHECK(st == QB_OK && strcmp(name, want[i].name) == 0 && be == want[i].be && bb == want[i].bb,
              "type %u: got %s %d %d, want %s %d %d", want[i].id, name ? name : "?", be, bb, want[i].name, want[i].be,
              want[i].bb);
        known++;
    }
    static const uint32_t removed[] = {4, 5, 31, 32, 33, 36, 37, 38};
    for (size_t i = 0; i < sizeof removed / sizeof removed[0]; i++) {
        qb_status st = qb_ggml_type_info(removed[i], NULL, NULL, NULL);
        CHECK(st == QB_EINPUT && strstr(qb_errmsg(), "removed"), "type %u: %d %s", removed[i], st, qb_errmsg());
    }
    static const uint32_t unknown[] = {43, 44, 100, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        qb_status st = qb_ggml_type_info(unknown[i], NULL, NULL, NULL);
        CHECK(st == QB_EINPUT && strstr(qb_errmsg(), "unknown ggml type"), "type %u: %d %s", unknown[i], st,
              qb_errmsg());
    }
    CHECK(known + 8 == 43, "ids 0…42 covered: %d known + 8 removed", known);
    uint64_t nb = 0;
    int64_t ne[4] = {512, 3, 2, 1};
    CHECK(qb_ggml_nbytes(12, 4, ne, &nb) == QB_OK && nb == 2 * 144 * 6, "Q4_K [512,3,2,1] = %" PRIu64, nb);
}

/* ---- 2. the full fixture ------------------------------------------------------------------- */

static const char *const fx_strs[] = {"alpha", "", "ñandú ✓", "with\nnewline"};
static const int32_t fx_i32s[] = {1, -2, 2147483647, -2147483647 - 1};
static const float fx_f32s[] = {0.5f, -1.25f, 3.0e38f, 1.0e-40f};
static const uint64_t fx_u64s[] = {0, 1, 18446744073709551615ull};
static const uint8_t fx_bools[] = {1, 0, 1};
static const double fx_f64s[] = {3.141592653589793, -0.0};
#define FX_UNICODE_KEY "test.ключ.名前"
#define FX_UNICODE_VAL "значение ✓"

/* Writes KVs of every type and one tensor per known ggml type, data from fill_bytes(seed = i). */
static qb_status write_full(const char *path, uint64_t alignment, int *n_tensors) {
    qb_gguf_writer w;
    qb_status st = qb_gguf_writer_open(&w, path, alignment);
    if (st) return st;
    st = qb_gguf_writer_set_string(&w, "general.architecture", "llama");
    if (!st) st = qb_gguf_writer_set_u8(&w, "test.u8", 200);
    if (!st) st = qb_gguf_writer_set_i8(&w, "test.i8", -100);
    if (!st) st = qb_gguf_writer_set_u16(&w, "test.u16", 60000);
    if (!st) st = qb_gguf_writer_set_i16(&w, "test.i16", -30000);
    if (!st) st = qb_gguf_writer_set_u32(&w, "test.u32", 4000000000u);
    if (!st) st = qb_gguf_writer_set_i32(&w, "test.i32", -2000000000);
    if (!st) st = qb_gguf_writer_set_f32(&w, "test.f32", 1.5f);
    if (!st) st = qb_gguf_writer_set_bool(&w, "test.bool", 1);
    if (!st) st = qb_gguf_writer_set_string(&w, "test.string", "hello");
    if (!st) st = qb_gguf_writer_set_u64(&w, "test.u64", 9223372036854775813ull);
    if (!st) st = qb_gguf_writer_set_i64(&w, "test.i64", -4611686018427387904ll);
    if (!st) st = qb_gguf_writer_set_f64(&w, "test.f64", 2.718281828459045);
    if (!st) st = qb_gguf_writer_set_string(&w, "test.empty_string", "");
    if (!st) st = qb_gguf_writer_set_string(&w, FX_UNICODE_KEY, FX_UNICODE_VAL);
    if (!st) st = qb_gguf_writer_set_string_n(&w, "test.string_with_nul", "a\0b", 3);
    if (!st) st = qb_gguf_writer_set_string_array(&w, "test.arr_str", fx_strs, NULL, 4);
    if (!st) st = qb_gguf_writer_set_array(&w, "test.arr_i32", QB_GGUF_INT32, fx_i32s, 4);
    if (!st) st = qb_gguf_writer_set_array(&w, "test.arr_f32", QB_GGUF_FLOAT32, fx_f32s, 4);
    if (!st) st = qb_gguf_writer_set_array(&w, "test.arr_u64", QB_GGUF_UINT64, fx_u64s, 3);
    if (!st) st = qb_gguf_writer_set_array(&w, "test.arr_bool", QB_GGUF_BOOL, fx_bools, 3);
    if (!st) st = qb_gguf_writer_set_array(&w, "test.arr_f64", QB_GGUF_FLOAT64, fx_f64s, 2);
    if (!st) st = qb_gguf_writer_set_array(&w, "test.arr_empty", QB_GGUF_UINT8, NULL, 0);
    if (!st) st = qb_gguf_writer_set_string_array(&w, "test.arr_str_empty", NULL, NULL, 0);
    /* last write wins and moves the key to the end, as ggml's gguf_set_val does */
    if (!st) st = qb_gguf_writer_set_u32(&w, "test.override", 1);
    if (!st) st = qb_gguf_writer_set_string(&w, "test.after_override", "x");
    if (!st) st = qb_gguf_writer_set_f32(&w, "test.override", 7.0f);
    int n = 0;
    for (uint32_t id = 0; id < 43 && !st; id++) {
        const char *name;
        int be, bb;
        if (qb_ggml_type_info(id, &name, &be, &bb)) continue;
        char tn[64];
        snprintf(tn, sizeof tn, "t.%u.%s", id, name);
        int64_t ne[4] = {2 * be, 1 + id % 3, 1 + id % 2, 2};
        st = qb_gguf_writer_add_tensor(&w, tn, 1 + id % 4, ne, id);
        n++;
    }
    for (int i = 0; i < n && !st; i++) {
        const qb_gguf_tensor *t = &w.tensors[i];
        uint8_t *buf = qb_malloc((size_t)t->nbytes);
        fill_bytes(buf, (size_t)t->nbytes, (uint64_t)i);
        /* give the data in two chunks for every other tensor: the writer must join them */
        if (i % 2 && t->nbytes > 1) {
            st = qb_gguf_writer_write_tensor(&w, (uint64_t)i, buf, t->nbytes / 2);
            if (!st) st = qb_gguf_writer_write_tensor(&w, (uint64_t)i, buf + t->nbytes / 2, t->nbytes - t->nbytes / 2);
        } else {
            st = qb_gguf_writer_write_tensor(&w, (uint64_t)i, buf, t->nbytes);
        }
        free(buf);
    }
    if (st) {
        qb_gguf_writer_abort(&w);
        return st;
    }
    *n_tensors = n;
    return qb_gguf_writer_finish(&w);
}

/* Checks the layout ggml's reader demands: data section aligned, offset_k = Σ align(nbytes_i),
 * file ends right after the last tensor's padding. */
static void check_layout(const qb_gguf *g, const char *what) {
    CHECK(g->version == 3, "%s: version %u", what, g->version);
    CHECK(g->data_offset % g->alignment == 0, "%s: data offset %" PRIu64 " vs alignment %" PRIu64, what,
          g->data_offset, g->alignment);
    uint64_t off = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const qb_gguf_tensor *t = &g->tensors[i];
        CHECK_LIMITED(t->offset == off, "%s: tensor %s offset %" PRIu64 ", expected %" PRIu64, what, t->name, t->offset,
                      off);
        off += (t->nbytes + g->alignment - 1) / g->alignment * g->alignment;
    }
    CHECK(g->data_offset + off == g->map.size, "%s: file size %zu, expected %" PRIu64, what, g->map.size,
          g->data_offset + off);
}

static void test_roundtrip(const char *seed_dir) {
    char *p = tpath("full.gguf");
    int nt = 0;
    qb_status st = write_full(p, 0, &nt);
    CHECK(st == QB_OK, "write_full: %s", qb_errmsg());
    qb_gguf g;
    st = qb_gguf_open(&g, p);
    CHECK(st == QB_OK, "open: %s", qb_errmsg());
    if (st) {
        free(p);
        return;
    }
    CHECK(g.alignment == 32 && !qb_gguf_find_kv(&g, "general.alignment"), "default alignment %" PRIu64, g.alignment);
    check_layout(&g, "full.gguf");

    /* scalars */
    int64_t i64;
    uint32_t u32;
    uint64_t u64;
    float f32;
    double f64;
    int b;
    const char *s;
    uint64_t len;
    CHECK(qb_gguf_get_i64(&g, "test.u8", &i64) == QB_OK && i64 == 200, "u8 %" PRId64, i64);
    CHECK(qb_gguf_get_i64(&g, "test.i8", &i64) == QB_OK && i64 == -100, "i8 %" PRId64, i64);
    CHECK(qb_gguf_get_i64(&g, "test.u16", &i64) == QB_OK && i64 == 60000, "u16 %" PRId64, i64);
    CHECK(qb_gguf_get_i64(&g, "test.i16", &i64) == QB_OK && i64 == -30000, "i16 %" PRId64, i64);
    CHECK(qb_gguf_get_u32(&g, "test.u32", &u32) == QB_OK && u32 == 4000000000u, "u32 %" PRIu32, u32);
    CHECK(qb_gguf_get_i64(&g, "test.i32", &i64) == QB_OK && i64 == -2000000000, "i32 %" PRId64, i64);
    CHECK(qb_gguf_get_f32(&g, "test.f32", &f32) == QB_OK && f32 == 1.5f, "f32 %g", f32);
    CHECK(qb_gguf_get_bool(&g, "test.bool", &b) == QB_OK && b == 1, "bool %d", b);
    CHECK(qb_gguf_get_u64(&g, "test.u64", &u64) == QB_OK && u64 == 9223372036854775813ull, "u64 %" PRIu64, u64);
    CHECK(qb_gguf_get_i64(&g, "test.i64", &i64) == QB_OK && i64 == -4611686018427387904ll, "i64 %" PRId64, i64);
    CHECK(qb_gguf_get_f64(&g, "test.f64", &f64) == QB_OK && f64 == 2.718281828459045, "f64 %.17g", f64);
    CHECK(qb_gguf_get_string(&g, "test.string", &s, &len) == QB_OK && len == 5 && memcmp(s, "hello", 5) == 0,
          "string");
    CHECK(qb_gguf_get_string(&g, "test.empty_string", &s, &len) == QB_OK && len == 0, "empty string len %" PRIu64,
          len);
    CHECK(qb_gguf_get_string(&g, FX_UNICODE_KEY, &s, &len) == QB_OK && len == strlen(FX_UNICODE_VAL) &&
              memcmp(s, FX_UNICODE_VAL, len) == 0,
          "unicode key: %s", qb_errmsg());
    CHECK(qb_gguf_get_string(&g, "test.string_with_nul", &s, &len) == QB_OK && len == 3 && memcmp(s, "a\0b", 3) == 0,
          "string with NUL");
    CHECK(qb_gguf_get_f32(&g, "test.override", &f32) == QB_OK && f32 == 7.0f, "override: last write wins %s",
          qb_errmsg());
    const qb_gguf_kv *ov = qb_gguf_find_kv(&g, "test.override"), *after = qb_gguf_find_kv(&g, "test.after_override");
    CHECK(ov && after && ov > after, "override moves the key to the end");
    CHECK(g.n_kv == 26, "n_kv %" PRIu64, g.n_kv);
    CHECK(strcmp(g.kv[0].key, "general.architecture") == 0 && strcmp(g.kv[g.n_kv - 1].key, "test.override") == 0,
          "insertion order: first %s last %s", g.kv[0].key, g.kv[g.n_kv - 1].key);

    /* arrays */
    for (uint64_t i = 0; i < 4; i++) {
        CHECK(qb_gguf_get_array_string(&g, "test.arr_str", i, &s, &len) == QB_OK && len == strlen(fx_strs[i]) &&
                  memcmp(s, fx_strs[i], len) == 0,
              "arr_str[%" PRIu64 "]", i);
    }
    const qb_gguf_kv *as = qb_gguf_find_kv(&g, "test.arr_str");
    uint64_t cur = 0, k = 0;
    while (as && qb_gguf_kv_next_string(as, &cur, &s, &len)) {
        CHECK(k < 4 && len == strlen(fx_strs[k]) && memcmp(s, fx_strs[k], len) == 0, "iter arr_str[%" PRIu64 "]", k);
        k++;
    }
    CHECK(k == 4, "iterated %" PRIu64 " strings", k);
    CHECK(qb_gguf_get_array_string(&g, "test.arr_str", 4, &s, &len) == QB_EINPUT, "index past the end");
    const void *el;
    uint64_t n;
    CHECK(qb_gguf_get_array(&g, "test.arr_i32", QB_GGUF_INT32, &el, &n) == QB_OK && n == 4, "arr_i32");
    for (uint64_t i = 0; i < 4 && n == 4; i++) {
        int32_t v;
        memcpy(&v, (const uint8_t *)el + 4 * i, 4);
        CHECK(v == fx_i32s[i], "arr_i32[%" PRIu64 "] = %d", i, v);
    }
    CHECK(qb_gguf_get_array(&g, "test.arr_f32", QB_GGUF_FLOAT32, &el, &n) == QB_OK && n == 4 &&
              memcmp(el, fx_f32s, 16) == 0,
          "arr_f32");
    CHECK(qb_gguf_get_array(&g, "test.arr_u64", QB_GGUF_UINT64, &el, &n) == QB_OK && n == 3 &&
              memcmp(el, fx_u64s, 24) == 0,
          "arr_u64");
    CHECK(qb_gguf_get_array(&g, "test.arr_bool", QB_GGUF_BOOL, &el, &n) == QB_OK && n == 3 &&
              memcmp(el, fx_bools, 3) == 0,
          "arr_bool");
    CHECK(qb_gguf_get_array(&g, "test.arr_f64", QB_GGUF_FLOAT64, &el, &n) == QB_OK && n == 2 &&
              memcmp(el, fx_f64s, 16) == 0,
          "arr_f64");
    CHECK(qb_gguf_get_array(&g, "test.arr_empty", QB_GGUF_UINT8, &el, &n) == QB_OK && n == 0, "arr_empty");
    const qb_gguf_kv *ase = qb_gguf_find_kv(&g, "test.arr_str_empty");
    CHECK(ase && ase->type == QB_GGUF_ARRAY && ase->arr_type == QB_GGUF_STRING && ase->arr_n == 0 &&
              ase->val_bytes == 12,
          "empty string array");

    /* tensors: every known type, shapes as written, bytes as written */
    CHECK(g.n_tensors == (uint64_t)nt && nt == 35, "n_tensors %" PRIu64 " (wrote %d)", g.n_tensors, nt);
    int i = 0;
    for (uint32_t id = 0; id < 43; id++) {
        const char *name;
        int be, bb;
        if (qb_ggml_type_info(id, &name, &be, &bb)) continue;
        char tn[64];
        snprintf(tn, sizeof tn, "t.%u.%s", id, name);
        const qb_gguf_tensor *t = qb_gguf_find_tensor(&g, tn);
        CHECK(t == &g.tensors[i], "tensor %s found at index %d", tn, i);
        if (!t) continue;
        int64_t want[4] = {2 * be, 1 + id % 3, 1 + id % 2, 2};
        uint32_t nd = 1 + id % 4;
        int shape_ok = t->n_dims == nd && t->type == id;
        for (uint32_t j = 0; j < 4; j++) shape_ok &= t->ne[j] == (j < nd ? want[j] : 1);
        CHECK(shape_ok, "tensor %s shape [%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 "] n_dims %u type %u", tn,
              t->ne[0], t->ne[1], t->ne[2], t->ne[3], t->n_dims, t->type);
        uint64_t nb;
        CHECK(qb_ggml_nbytes(id, t->n_dims, t->ne, &nb) == QB_OK && nb == t->nbytes, "tensor %s nbytes", tn);
        uint8_t *buf = qb_malloc((size_t)t->nbytes);
        fill_bytes(buf, (size_t)t->nbytes, (uint64_t)i);
        CHECK(memcmp(buf, t->data, (size_t)t->nbytes) == 0, "tensor %s data", tn);
        CHECK((uint64_t)((const uint8_t *)t->data - (const uint8_t *)g.map.data) % 32 == 0, "tensor %s aligned", tn);
        free(buf);
        i++;
    }
    CHECK(qb_gguf_find_tensor(&g, "nope") == NULL, "missing tensor");

    /* getters: missing keys and type mismatches name the key and both types */
    CHECK(qb_gguf_get_u32(&g, "test.string", &u32) == QB_EINPUT &&
              strstr(qb_errmsg(), "key 'test.string'") && strstr(qb_errmsg(), "is STRING, expected UINT32"),
          "%s", qb_errmsg());
    CHECK(qb_gguf_get_string(&g, "test.arr_str", &s, &len) == QB_EINPUT &&
              strstr(qb_errmsg(), "is ARRAY of STRING, expected STRING"),
          "%s", qb_errmsg());
    CHECK(qb_gguf_get_u32(&g, "no.such.key", &u32) == QB_EINPUT && strstr(qb_errmsg(), "'no.such.key' not found"),
          "%s", qb_errmsg());
    CHECK(qb_gguf_get_i64(&g, "test.u64", &i64) == QB_EINPUT && strstr(qb_errmsg(), "does not fit in int64"), "%s",
          qb_errmsg());
    CHECK(qb_gguf_get_i64(&g, "test.f32", &i64) == QB_EINPUT && strstr(qb_errmsg(), "expected an integer"), "%s",
          qb_errmsg());
    CHECK(qb_gguf_get_array(&g, "test.arr_i32", QB_GGUF_UINT32, &el, &n) == QB_EINPUT &&
              strstr(qb_errmsg(), "is ARRAY of INT32, expected ARRAY of UINT32"),
          "%s", qb_errmsg());
    CHECK(qb_gguf_get_array_string(&g, "test.arr_i32", 0, &s, &len) == QB_EINPUT, "%s", qb_errmsg());
    CHECK(strstr(qb_errmsg(), p) != NULL, "messages name the file: %s", qb_errmsg());
    CHECK(qb_gguf_get_u32(&g, FX_UNICODE_KEY, &u32) == QB_EINPUT && strstr(qb_errmsg(), "key '" FX_UNICODE_KEY "'"),
          "UTF-8 shown as is: %s", qb_errmsg());

    if (seed_dir) {
        char *sp = qb_asprintf("%s/full.gguf", seed_dir);
        spit(sp, g.map.data, g.map.size);
        free(sp);
    }
    qb_gguf_close(&g);
    free(p);
}

/* ---- 3. read → write → read, alignment --------------------------------------------------- */

static qb_status copy_gguf(const char *in, const char *out, uint64_t alignment) {
    qb_gguf g;
    qb_status st = qb_gguf_open(&g, in);
    if (st) return st;
    qb_gguf_writer w;
    st = qb_gguf_writer_open(&w, out, alignment ? alignment : g.alignment);
    if (!st) {
        st = qb_gguf_writer_copy_all_kv(&w, &g);
        for (uint64_t i = 0; i < g.n_tensors && !st; i++)
            st = qb_gguf_writer_add_tensor(&w, g.tensors[i].name, g.tensors[i].n_dims, g.tensors[i].ne,
                                           g.tensors[i].type);
        for (uint64_t i = 0; i < g.n_tensors && !st; i++)
            st = qb_gguf_writer_write_tensor(&w, i, g.tensors[i].data, g.tensors[i].nbytes);
        if (st) qb_gguf_writer_abort(&w);
        else st = qb_gguf_writer_finish(&w);
    }
    qb_gguf_close(&g);
    return st;
}

/* Same KVs (bytes, except general.alignment when skip_alignment) and tensors (bytes). */
static void check_same_content(const qb_gguf *a, const qb_gguf *b, int skip_alignment, const char *what) {
    uint64_t ka = 0, kb = 0;
    for (;;) {
        while (ka < a->n_kv && skip_alignment && strcmp(a->kv[ka].key, "general.alignment") == 0) ka++;
        while (kb < b->n_kv && skip_alignment && strcmp(b->kv[kb].key, "general.alignment") == 0) kb++;
        if (ka == a->n_kv || kb == b->n_kv) break;
        const qb_gguf_kv *x = &a->kv[ka++], *y = &b->kv[kb++];
        CHECK_LIMITED(strcmp(x->key, y->key) == 0 && x->type == y->type && x->arr_type == y->arr_type &&
                          x->arr_n == y->arr_n && x->val_bytes == y->val_bytes &&
                          memcmp(x->val, y->val, (size_t)x->val_bytes) == 0,
                      "%s: kv '%s' vs '%s'", what, x->key, y->key);
    }
    CHECK(ka == a->n_kv && kb == b->n_kv, "%s: kv counts %" PRIu64 " vs %" PRIu64, what, a->n_kv, b->n_kv);
    CHECK(a->n_tensors == b->n_tensors, "%s: tensor counts %" PRIu64 " vs %" PRIu64, what, a->n_tensors, b->n_tensors);
    for (uint64_t i = 0; i < a->n_tensors && i < b->n_tensors; i++) {
        const qb_gguf_tensor *x = &a->tensors[i], *y = &b->tensors[i];
        CHECK_LIMITED(strcmp(x->name, y->name) == 0 && x->n_dims == y->n_dims &&
                          memcmp(x->ne, y->ne, sizeof x->ne) == 0 && x->type == y->type && x->nbytes == y->nbytes &&
                          memcmp(x->data, y->data, (size_t)x->nbytes) == 0,
                      "%s: tensor '%s' vs '%s'", what, x->name, y->name);
    }
}

static void test_copy_and_alignment(const char *seed_dir) {
    char *p = tpath("full.gguf"), *c = tpath("copy.gguf"), *c2 = tpath("copy2.gguf"), *a64 = tpath("a64.gguf"),
         *a64c = tpath("a64copy.gguf"), *back = tpath("back32.gguf");
    qb_status st = copy_gguf(p, c, 0);
    CHECK(st == QB_OK, "copy: %s", qb_errmsg());
    st = copy_gguf(c, c2, 0);
    CHECK(st == QB_OK, "copy of copy: %s", qb_errmsg());
    size_t n1 = 0, n2 = 0, n3 = 0;
    uint8_t *b1 = slurp(p, &n1), *b2 = slurp(c, &n2), *b3 = slurp(c2, &n3);
    CHECK(b1 && b2 && b3 && n1 == n2 && n2 == n3 && memcmp(b1, b2, n1) == 0 && memcmp(b2, b3, n1) == 0,
          "read → write is byte-identical (%zu, %zu, %zu bytes)", n1, n2, n3);
    free(b1), free(b2), free(b3);
    qb_gguf a, b;
    if (qb_gguf_open(&a, p) == QB_OK) {
        if (qb_gguf_open(&b, c) == QB_OK) {
            check_same_content(&a, &b, 0, "copy");
            qb_gguf_close(&b);
        }
        /* alignment 64: general.alignment added, everything aligned, content the same */
        st = copy_gguf(p, a64, 64);
        CHECK(st == QB_OK, "copy to alignment 64: %s", qb_errmsg());
        if (!st && qb_gguf_open(&b, a64) == QB_OK) {
            uint32_t al = 0;
            CHECK(b.alignment == 64 && qb_gguf_get_u32(&b, "general.alignment", &al) == QB_OK && al == 64,
                  "alignment %" PRIu64 " / key %u", b.alignment, al);
            CHECK(strcmp(b.kv[b.n_kv - 1].key, "general.alignment") == 0, "general.alignment appended last");
            check_layout(&b, "a64.gguf");
            for (uint64_t i = 0; i < b.n_tensors; i++)
                CHECK_LIMITED(((const uint8_t *)b.tensors[i].data - (const uint8_t *)b.map.data) % 64 == 0,
                              "tensor %s at a multiple of 64", b.tensors[i].name);
            check_same_content(&a, &b, 1, "a64");
            if (seed_dir) {
                char *sp = qb_asprintf("%s/align64.gguf", seed_dir);
                spit(sp, b.map.data, b.map.size);
                free(sp);
            }
            qb_gguf_close(&b);
            /* copying keeps 64 (the reader's alignment), and the copy is identical */
            st = copy_gguf(a64, a64c, 0);
            size_t m1 = 0, m2 = 0;
            uint8_t *x = slurp(a64, &m1), *y = slurp(a64c, &m2);
            CHECK(!st && x && y && m1 == m2 && memcmp(x, y, m1) == 0, "a64 copy identical: %s", qb_errmsg());
            free(x), free(y);
            /* back to 32 with the key present: the key is kept in place and corrected to 32 */
            st = copy_gguf(a64, back, 32);
            CHECK(st == QB_OK, "a64 → 32: %s", qb_errmsg());
            if (!st && qb_gguf_open(&b, back) == QB_OK) {
                uint32_t al = 0;
                CHECK(b.alignment == 32 && qb_gguf_get_u32(&b, "general.alignment", &al) == QB_OK && al == 32,
                      "corrected general.alignment %u", al);
                check_layout(&b, "back32.gguf");
                check_same_content(&a, &b, 1, "back32");
                qb_gguf_close(&b);
            }
        }
        qb_gguf_close(&a);
    }
    /* user-set general.alignment disagreeing with the writer's: corrected */
    qb_gguf_writer w;
    char *u = tpath("user_align.gguf");
    st = qb_gguf_writer_open(&w, u, 128);
    if (!st) st = qb_gguf_writer_set_u32(&w, "general.alignment", 16);
    int64_t ne1[1] = {3};
    if (!st) st = qb_gguf_writer_add_tensor(&w, "x", 1, ne1, 0);
    float xs[3] = {1, 2, 3};
    if (!st) st = qb_gguf_writer_write_tensor(&w, 0, xs, 12);
    if (!st) st = qb_gguf_writer_finish(&w);
    else qb_gguf_writer_abort(&w);
    CHECK(st == QB_OK, "user alignment: %s", qb_errmsg());
    if (!st && qb_gguf_open(&b, u) == QB_OK) {
        CHECK(b.alignment == 128 && b.data_offset == 128 && b.map.size == 256, "alignment %" PRIu64 " data %" PRIu64
              " size %zu", b.alignment, b.data_offset, b.map.size);
        qb_gguf_close(&b);
    }
    st = qb_gguf_writer_open(&w, u, 48);
    CHECK(st == QB_ERUNTIME && strstr(qb_errmsg(), "not a power of two"), "alignment 48: %s", qb_errmsg());
    /* an empty file: no KVs, no tensors */
    char *e = tpath("empty.gguf");
    st = qb_gguf_writer_open(&w, e, 0);
    if (!st) st = qb_gguf_writer_finish(&w);
    CHECK(st == QB_OK, "empty gguf: %s", qb_errmsg());
    if (!st && qb_gguf_open(&b, e) == QB_OK) {
        CHECK(b.n_kv == 0 && b.n_tensors == 0 && b.map.size == 32, "empty: size %zu", b.map.size);
        qb_gguf_close(&b);
    } else {
        CHECK(0, "empty gguf reopen: %s", qb_errmsg());
    }
    free(p), free(c), free(c2), free(a64), free(a64c), free(back), free(u), free(e);
}

/* ---- 4. writer misuse ---------------------------------------------------------------------- */

static void test_writer_errors(void) {
    char *p = tpath("misuse.gguf");
    qb_gguf_writer w;
    int64_t ne[2] = {32, 2}, bad[2] = {33, 2}, zero[2] = {0, 2};
    uint8_t buf[256] = {0};
    CHECK(qb_gguf_writer_open(&w, p, 0) == QB_OK, "%s", qb_errmsg());
    CHECK(qb_gguf_writer_add_tensor(&w, "a", 2, ne, 2) == QB_OK, "%s", qb_errmsg());
    CHECK(qb_gguf_writer_add_tensor(&w, "a", 2, ne, 2) == QB_ERUNTIME && strstr(qb_errmsg(), "declared twice"), "%s",
          qb_errmsg());
    CHECK(qb_gguf_writer_add_tensor(&w, "b", 2, bad, 2) == QB_EINPUT && strstr(qb_errmsg(), "tensor 'b'") &&
              strstr(qb_errmsg(), "not a multiple of the Q4_0 block size 32"),
          "%s", qb_errmsg());
    CHECK(qb_gguf_writer_add_tensor(&w, "c", 2, zero, 0) == QB_EINPUT && strstr(qb_errmsg(), "must be ≥ 1"), "%s",
          qb_errmsg());
    CHECK(qb_gguf_writer_add_tensor(&w, "d", 5, ne, 0) == QB_EINPUT && strstr(qb_errmsg(), "at most 4"), "%s",
          qb_errmsg());
    CHECK(qb_gguf_writer_add_tensor(&w, "e", 2, ne, 43) == QB_EINPUT && strstr(qb_errmsg(), "unknown ggml type 43"),
          "%s", qb_errmsg());
    CHECK(qb_gguf_writer_add_tensor(&w, "f", 2, ne, 31) == QB_EINPUT && strstr(qb_errmsg(), "removed"), "%s",
          qb_errmsg());
    char longname[80];
    memset(longname, 'n', 64);
    longname[64] = '\0';
    CHECK(qb_gguf_writer_add_tensor(&w, longname, 2, ne, 0) == QB_ERUNTIME && strstr(qb_errmsg(), "1…63 bytes"), "%s",
          qb_errmsg());
    CHECK(qb_gguf_writer_add_tensor(&w, "", 2, ne, 0) == QB_ERUNTIME, "%s", qb_errmsg());
    CHECK(qb_gguf_writer_set_u32(&w, "", 1) == QB_ERUNTIME, "empty key: %s", qb_errmsg());
    CHECK(qb_gguf_writer_add_tensor(&w, "g", 1, ne, 0) == QB_OK, "%s", qb_errmsg());
    CHECK(qb_gguf_writer_write_tensor(&w, 1, buf, 128) == QB_ERUNTIME && strstr(qb_errmsg(), "out of order"), "%s",
          qb_errmsg());
    CHECK(qb_gguf_writer_write_tensor(&w, 7, buf, 1) == QB_ERUNTIME && strstr(qb_errmsg(), "never declared"), "%s",
          qb_errmsg());
    CHECK(qb_gguf_writer_write_tensor(&w, 0, buf, 37) == QB_ERUNTIME && strstr(qb_errmsg(), "holds 36"), "%s",
          qb_errmsg());
    CHECK(qb_gguf_writer_write_tensor(&w, 0, buf, 36) == QB_OK, "%s", qb_errmsg());
    CHECK(qb_gguf_writer_set_u32(&w, "late", 1) == QB_ERUNTIME && strstr(qb_errmsg(), "after tensor data"), "%s",
          qb_errmsg());
    CHECK(qb_gguf_writer_add_tensor(&w, "late", 1, ne, 0) == QB_ERUNTIME, "%s", qb_errmsg());
    /* tensor g never written: finish fails and leaves nothing behind */
    CHECK(qb_gguf_writer_finish(&w) == QB_ERUNTIME && strstr(qb_errmsg(), "'g' was declared but only 0 of its 128"),
          "%s", qb_errmsg());
    CHECK(!file_exists(p), "no output after a failed finish");
    char *tmp = qb_asprintf("%s.tmp.%ld", p, (long)getpid());
    CHECK(!file_exists(tmp), "no temporary after a failed finish");
    /* abort after some data: nothing left either; abort twice is harmless */
    CHECK(qb_gguf_writer_open(&w, p, 0) == QB_OK, "%s", qb_errmsg());
    CHECK(qb_gguf_writer_add_tensor(&w, "g", 1, ne, 0) == QB_OK, "%s", qb_errmsg());
    CHECK(qb_gguf_writer_write_tensor(&w, 0, buf, 100) == QB_OK, "%s", qb_errmsg());
    CHECK(file_exists(tmp), "temporary exists while writing");
    qb_gguf_writer_abort(&w);
    qb_gguf_writer_abort(&w);
    CHECK(!file_exists(p) && !file_exists(tmp), "abort removes the temporary");
    /* copy_kv refuses a hand-made kv whose encoding is broken */
    CHECK(qb_gguf_writer_open(&w, p, 0) == QB_OK, "%s", qb_errmsg());
    uint8_t enc[12] = {9, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0}; /* array of ARRAY */
    qb_gguf_kv kv = {.key = "k", .type = QB_GGUF_ARRAY, .arr_type = 9, .arr_n = 5, .val = enc, .val_bytes = 12};
    CHECK(qb_gguf_writer_copy_kv(&w, &kv) == QB_ERUNTIME && strstr(qb_errmsg(), "not a valid ARRAY"), "%s",
          qb_errmsg());
    uint8_t u32enc[5] = {1, 2, 3, 4, 5};
    qb_gguf_kv kv2 = {.key = "k", .type = QB_GGUF_UINT32, .arr_type = 4, .arr_n = 1, .val = u32enc, .val_bytes = 5};
    CHECK(qb_gguf_writer_copy_kv(&w, &kv2) == QB_ERUNTIME, "trailing bytes: %s", qb_errmsg());
    qb_gguf_writer_abort(&w);
    /* reading a missing file */
    qb_gguf g;
    CHECK(qb_gguf_open(&g, "/nonexistent/x.gguf") == QB_EINPUT && strstr(qb_errmsg(), "x.gguf"), "%s", qb_errmsg());
    free(tmp);
    free(p);
}

/* ---- 5. hostile inputs --------------------------------------------------------------------- */

#define HOSTILE_NAME "hostile.gguf"

/* Opens an exactly-sized heap copy; returns the status, message in qb_errmsg(). */
static qb_status open_bytes(const uint8_t *b, size_t n) {
    uint8_t *c = qb_malloc(n);
    if (n) memcpy(c, b, n);
    qb_gguf g;
    qb_status st = qb_gguf_open_mem(&g, c, n, HOSTILE_NAME);
    if (st == QB_OK) {
        /* walk what we got, so ASan sees any pointer past the buffer */
        volatile uint8_t sink = 0;
        for (uint64_t i = 0; i < g.n_kv; i++)
            for (uint64_t k = 0; k < g.kv[i].val_bytes; k++) sink ^= g.kv[i].val[k];
        for (uint64_t i = 0; i < g.n_tensors; i++)
            for (uint64_t k = 0; k < g.tensors[i].nbytes; k++) sink ^= ((const uint8_t *)g.tensors[i].data)[k];
        (void)sink;
        qb_gguf_close(&g);
    }
    free(c);
    return st;
}

static int one_line_message(void) {
    const char *m = qb_errmsg();
    return m[0] && !strchr(m, '\n') && strncmp(m, HOSTILE_NAME ": ", strlen(HOSTILE_NAME) + 2) == 0 &&
           strstr(m, "offset") != NULL;
}

/* The small valid file the hostile inputs are made from. */
static uint8_t *make_small(size_t *n, uint64_t alignment, const char *seed_dir) {
    char *p = tpath(alignment == 64 ? "small64.gguf" : "small.gguf");
    qb_gguf_writer w;
    static const char *const toks[] = {"<s>", "a", ""};
    static const int32_t ints[] = {5, 6};
    int64_t ne_a[2] = {32, 2}, ne_b[1] = {5}, ne_c[3] = {4, 1, 2};
    qb_status st = qb_gguf_writer_open(&w, p, alignment);
    if (!st) st = qb_gguf_writer_set_string(&w, "general.architecture", "llama");
    if (!st) st = qb_gguf_writer_set_u32(&w, "dup.a1", 7);
    if (!st) st = qb_gguf_writer_set_u32(&w, "dup.a2", 8);
    if (!st) st = qb_gguf_writer_set_string_array(&w, "tok.list", toks, NULL, 3);
    if (!st) st = qb_gguf_writer_set_array(&w, "int.list", QB_GGUF_INT32, ints, 2);
    if (!st) st = qb_gguf_writer_add_tensor(&w, "blk.a", 2, ne_a, 2 /* Q4_0 */);
    if (!st) st = qb_gguf_writer_add_tensor(&w, "blk.b", 1, ne_b, 0 /* F32 */);
    if (!st) st = qb_gguf_writer_add_tensor(&w, "blk.c", 3, ne_c, 1 /* F16 */);
    uint8_t data[64];
    fill_bytes(data, sizeof data, 99);
    if (!st) st = qb_gguf_writer_write_tensor(&w, 0, data, 36);
    if (!st) st = qb_gguf_writer_write_tensor(&w, 1, data, 20);
    if (!st) st = qb_gguf_writer_write_tensor(&w, 2, data, 16);
    if (!st) st = qb_gguf_writer_finish(&w);
    else qb_gguf_writer_abort(&w);
    CHECK(st == QB_OK, "small fixture: %s", qb_errmsg());
    uint8_t *b = slurp(p, n);
    if (seed_dir && b) {
        char *sp = qb_asprintf("%s/%s", seed_dir, alignment == 64 ? "small64.gguf" : "small.gguf");
        spit(sp, b, *n);
        free(sp);
    }
    free(p);
    return b;
}

static size_t find(const uint8_t *b, size_t n, const char *s) {
    const uint8_t *q = memmem(b, n, s, strlen(s));
    if (!q) {
        fprintf(stderr, "fixture lacks '%s'\n", s);
        abort();
    }
    return (size_t)(q - b);
}

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Patches a copy of base, opens it and expects QB_EINPUT with `frag` in the message. */
typedef struct mut {
    const char *what, *frag;
    size_t at;       /* byte position */
    int width;       /* 1, 4 or 8 */
    uint64_t value;
} mut;

static void run_mut(const uint8_t *base, size_t n, const mut *m) {
    uint8_t *c = qb_malloc(n);
    memcpy(c, base, n);
    if (m->width == 1) c[m->at] = (uint8_t)m->value;
    else if (m->width == 4) put32(c + m->at, (uint32_t)m->value);
    else put64(c + m->at, m->value);
    qb_status st = open_bytes(c, n);
    CHECK(st == QB_EINPUT && strstr(qb_errmsg(), m->frag) && one_line_message(), "%s: status %d, message \"%s\"",
          m->what, st, qb_errmsg());
    free(c);
}

static void test_hostile(const char *seed_dir) {
    size_t n = 0;
    uint8_t *b = make_small(&n, 0, seed_dir);
    if (!b) return;
    CHECK(open_bytes(b, n) == QB_OK, "small file opens: %s", qb_errmsg());

    /* the layout, from the reader itself */
    qb_gguf g;
    uint64_t data_end = 0, data_offset = 0;
    if (qb_gguf_open_mem(&g, b, n, "small") == QB_OK) {
        for (uint64_t i = 0; i < g.n_tensors; i++)
            if (g.tensors[i].offset + g.tensors[i].nbytes > data_end) data_end = g.tensors[i].offset + g.tensors[i].nbytes;
        data_offset = g.data_offset;
        data_end += g.data_offset;
        qb_gguf_close(&g);
    }

    /* every prefix: valid exactly when it still holds all tensor data */
    int prefix_fail = 0;
    for (size_t len = 0; len < n; len++) {
        qb_status st = open_bytes(b, len);
        int ok = len >= data_end ? st == QB_OK
                                 : st == QB_EINPUT && one_line_message() &&
                                       (strstr(qb_errmsg(), "truncated") || strstr(qb_errmsg(), "past the end") ||
                                        strstr(qb_errmsg(), "cannot fit"));
        if (!ok) prefix_fail++;
        CHECK_LIMITED(ok, "prefix of %zu/%zu bytes (data ends at %" PRIu64 "): status %d \"%s\"", len, n, data_end, st,
                      qb_errmsg());
    }
    CHECK(prefix_fail == 0, "%d prefixes misjudged", prefix_fail);
    CHECK(open_bytes(b, (size_t)data_offset - 1) == QB_EINPUT && strstr(qb_errmsg(), "data section would start") &&
              one_line_message(),
          "file ending inside the padding before the data: %s", qb_errmsg());

    /* field positions */
    size_t kv0 = 24;                                   /* first KV: its key length */
    size_t arch_type = kv0 + 8 + strlen("general.architecture");
    size_t arch_val = arch_type + 4;                   /* string length of "llama" */
    size_t a2 = find(b, n, "dup.a2");
    size_t tok = find(b, n, "tok.list"), tok_type = tok + strlen("tok.list");
    size_t tok_elem = tok_type + 4, tok_count = tok_elem + 4, tok_s0 = tok_count + 8;
    size_t ints = find(b, n, "int.list"), ints_count = ints + strlen("int.list") + 8;
    size_t ta = find(b, n, "blk.a"), ta_ndims = ta + 5, ta_ne0 = ta_ndims + 4, ta_ne1 = ta_ne0 + 8,
           ta_type = ta_ne1 + 8, ta_off = ta_type + 4;
    size_t tb = find(b, n, "blk.b"), tb_ndims = tb + 5, tb_ne0 = tb_ndims + 4, tb_type = tb_ne0 + 8,
           tb_off = tb_type + 4;
    size_t tc = find(b, n, "blk.c");
    CHECK(get64(b + tb_off) == 64 && get64(b + ta_off) == 0, "fixture layout: offsets %" PRIu64 " %" PRIu64,
          get64(b + ta_off), get64(b + tb_off));

    const mut muts[] = {
        {"bad magic", "not a GGUF file", 0, 1, 'X'},
        {"version 0", "version 0 at offset 4", 4, 4, 0},
        {"version 1", "version 1 at offset 4", 4, 4, 1},
        {"version 4", "version 4 at offset 4", 4, 4, 4},
        {"big-endian", "big-endian", 4, 4, 0x03000000u},
        {"huge tensor count", "cannot fit", 8, 8, UINT64_MAX},
        {"huge kv count", "cannot fit", 16, 8, UINT64_MAX},
        {"kv count 2^60", "cannot fit", 16, 8, 1ull << 60},
        {"key length past the end", "past the end of the file", kv0, 8, 1ull << 62},
        {"key length = remaining + 1", "past the end of the file", kv0, 8, n - kv0 - 8 + 1},
        {"empty key", "is empty", kv0, 8, 0},
        {"key over 65535 bytes", "past the end", kv0, 8, 70000},
        {"NUL in key", "contains a NUL byte", kv0 + 8 + 3, 1, 0},
        {"unknown value type", "unknown value type 13", arch_type, 4, 13},
        {"value type 2^32-1", "unknown value type", arch_type, 4, UINT32_MAX},
        {"string value past the end", "past the end of the file", arch_val, 8, UINT64_MAX},
        {"duplicate key", "duplicate key 'dup.a1'", a2 + 5, 1, '1'},
        {"nested array", "nested array", tok_elem, 4, QB_GGUF_ARRAY},
        {"unknown array element type", "unknown array element type 77", tok_elem, 4, 77},
        {"array count past the end", "cannot fit", tok_count, 8, UINT64_MAX},
        {"int array count past the end", "cannot fit", ints_count, 8, 1ull << 40},
        {"array string past the end", "array string 0 of 3", tok_s0, 8, 1ull << 40},
        {"array count larger than its strings", "", tok_count, 8, 4},
        {"tensor name empty", "empty name", ta - 8, 8, 0},
        {"tensor name over 63 bytes", "at most 63", ta - 8, 8, 64},
        {"tensor name NUL", "contains a NUL byte", ta + 1, 1, 0},
        {"duplicate tensor name", "duplicate tensor name 'blk.a'", tb + 4, 1, 'a'},
        {"n_dims 5", "n_dims 5", ta_ndims, 4, 5},
        {"n_dims 2^32-1", "exceeds 4", ta_ndims, 4, UINT32_MAX},
        {"ne = 0", "ne[1] = 0", ta_ne1, 8, 0},
        {"ne = 2^63", "out of range", ta_ne0, 8, 1ull << 63},
        {"ne product overflow", "more than 2^63 elements", ta_ne1, 8, 1ull << 62},
        {"byte size overflow", "over 2^63 bytes", tb_ne0, 8, 1ull << 62},
        {"ne[0] not a multiple of the block", "not a multiple of the Q4_0 block size 32", ta_ne0, 8, 48},
        {"unknown ggml type", "unknown ggml type 43", ta_type, 4, 43},
        {"ggml type 2^32-1", "unknown ggml type", ta_type, 4, UINT32_MAX},
        {"removed ggml type", "was removed", ta_type, 4, 4},
        {"offset past the end", "runs past the end of the file", tb_off, 8, 1ull << 40},
        {"offset near 2^64", "points past the end of the file", tb_off, 8, UINT64_MAX - 31},
        {"data just past the end", "runs past the end of the file", tb_off, 8, n - data_offset},
        {"misaligned offset", "not a multiple of the alignment 32", tb_off, 8, 65},
        {"overlap", "overlap", tb_off, 8, 0},
        {"overlap partial", "overlap", tb_off, 8, 32},
        {"shape grows into the next tensor", "overlap", ta_ne1, 8, 4},
    };
    for (size_t i = 0; i < sizeof muts / sizeof muts[0]; i++) run_mut(b, n, &muts[i]);
    (void)tc;

    /* a type with the same size but a different meaning parses, then fails later: just no crash */
    {
        uint8_t *c = qb_malloc(n);
        memcpy(c, b, n);
        put64(c + 16, get64(b + 16) + 1); /* one KV more than present: tensor infos read as KVs */
        qb_status st = open_bytes(c, n);
        CHECK(st == QB_EINPUT && one_line_message(), "kv count + 1: %d %s", st, qb_errmsg());
        put64(c + 16, get64(b + 16));
        put64(c + 8, get64(b + 8) + 1); /* one tensor more than present */
        st = open_bytes(c, n);
        CHECK(st == QB_EINPUT && one_line_message(), "tensor count + 1: %d %s", st, qb_errmsg());
        free(c);
    }

    /* names are shown escaped when not UTF-8: two names made "blk.\xff" collide */
    {
        uint8_t *c = qb_malloc(n);
        memcpy(c, b, n);
        c[ta + 4] = 0xFF, c[tb + 4] = 0xFF;
        qb_status st = open_bytes(c, n);
        CHECK(st == QB_EINPUT && strstr(qb_errmsg(), "duplicate tensor name 'blk.\\xff'") && one_line_message(),
              "escaped name: %s", qb_errmsg());
        free(c);
    }

    /* general.alignment mutations (the 64-aligned fixture has the key) */
    size_t n64 = 0;
    uint8_t *b64 = make_small(&n64, 64, seed_dir);
    if (b64) {
        CHECK(open_bytes(b64, n64) == QB_OK, "small64 opens: %s", qb_errmsg());
        size_t al = find(b64, n64, "general.alignment"), al_type = al + strlen("general.alignment"),
               al_val = al_type + 4;
        size_t tb64 = find(b64, n64, "blk.b"), tb64_off = tb64 + 5 + 4 + 8 + 4;
        const mut amuts[] = {
            {"alignment 48", "is 48, not a power of two", al_val, 4, 48},
            {"alignment 0", "is 0, not a power of two", al_val, 4, 0},
            {"alignment 2^21", "above the limit", al_val, 4, 1u << 21},
            {"alignment as INT32", "is INT32, must be UINT32", al_type, 4, QB_GGUF_INT32},
            {"misaligned for 64", "not a multiple of the alignment 64", tb64_off, 8, 32},
        };
        for (size_t i = 0; i < sizeof amuts / sizeof amuts[0]; i++) run_mut(b64, n64, &amuts[i]);
        /* alignment 16 still accepts the file (64-aligned offsets are 16-aligned; data start moves) */
        uint8_t *c = qb_malloc(n64);
        memcpy(c, b64, n64);
        put32(c + al_val, 16);
        qb_status st = open_bytes(c, n64);
        CHECK(st == QB_OK || st == QB_EINPUT, "alignment 16: %d %s", st, qb_errmsg());
        free(c);
        free(b64);
    }

    /* random byte flips in the header and infos: QB_OK or QB_EINPUT, never anything else */
    uint64_t x = 12345;
    int bad_status = 0;
    for (int iter = 0; iter < 20000; iter++) {
        uint8_t *c = qb_malloc(n);
        memcpy(c, b, n);
        int flips = 1 + iter % 4;
        for (int f = 0; f < flips; f++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t pos = (size_t)(x % (data_offset ? data_offset : n));
            c[pos] = (uint8_t)(x >> 24);
        }
        qb_status st = open_bytes(c, n);
        if (st != QB_OK && !(st == QB_EINPUT && qb_errmsg()[0] && !strchr(qb_errmsg(), '\n'))) bad_status++;
        CHECK_LIMITED(st == QB_OK || (st == QB_EINPUT && qb_errmsg()[0] && !strchr(qb_errmsg(), '\n')),
                      "random flips #%d: %d \"%s\"", iter, st, qb_errmsg());
        free(c);
    }
    CHECK(bad_status == 0, "%d random inputs gave a bad status", bad_status);

    /* the same checks through a real file (qb_gguf_open maps it) */
    char *p = tpath("trunc.gguf");
    spit(p, b, (size_t)data_end - 1);
    qb_status st = qb_gguf_open(&g, p);
    CHECK(st == QB_EINPUT && strstr(qb_errmsg(), "tensor 'blk.c' data [offset") &&
              strstr(qb_errmsg(), "runs past the end of the file") && strstr(qb_errmsg(), p),
          "truncated file: %s", qb_errmsg());
    spit(p, "", 0);
    st = qb_gguf_open(&g, p);
    CHECK(st == QB_EINPUT && strstr(qb_errmsg(), "truncated"), "empty file: %s", qb_errmsg());
    free(p);
    free(b);
}

int main(int argc, char **argv) {
    const char *seed_dir = argc > 1 ? argv[1] : NULL;
    if (seed_dir && qb_mkdirs(seed_dir) != QB_OK) {
        fprintf(stderr, "%s\n", qb_errmsg());
        return 1;
    }
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/test_gguf.XXXXXX", base && base[0] ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_type_table();
    test_roundtrip(seed_dir);
    test_copy_and_alignment(seed_dir);
    test_writer_errors();
    test_hostile(seed_dir);
    char *cmd = qb_asprintf("rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    free(cmd);
    return qbt_finish();
}
