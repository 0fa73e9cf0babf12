/* test_safetensors.c — the safetensors reader accepts a valid file (values, shapes, dtypes,
 * metadata read back exactly) and refuses, with a precise one-line error and no over-read
 * (CI runs this under ASan), every hostile variant: truncation at every length, header length
 * past the file or over 100 MB, invalid UTF-8, invalid or non-object JSON, duplicate keys,
 * unknown dtypes, bad shapes and offsets, size mismatches, gaps, overlaps, trailing bytes. */
#include <stdlib.h>
#include <string.h>

#include "common/qbtest.h"
#include "datasets/safetensors.h"

/* header JSON + data buffer → file bytes (u64 length prefix) */
static unsigned char *build(const char *json, const void *dat, size_t ndat, size_t *size) {
    size_t h = strlen(json);
    *size = 8 + h + ndat;
    unsigned char *b = malloc(*size);
    uint64_t hl = h;
    memcpy(b, &hl, 8);
    memcpy(b + 8, json, h);
    if (ndat) memcpy(b + 8 + h, dat, ndat);
    return b;
}

static void expect_fail(const char *what, const unsigned char *b, size_t n, const char *fragment) {
    qb_safetensors s;
    /* a private copy of exactly n bytes, so ASan sees any read past the end */
    unsigned char *c = malloc(n ? n : 1);
    memcpy(c, b, n);
    qb_status st = qb_safetensors_open_mem(&s, c, n, "t.safetensors");
    CHECK_LIMITED(st == QB_EINPUT && strstr(qb_errmsg(), fragment) && strchr(qb_errmsg(), '\n') == NULL,
                  "%s: status %d, message '%s' (want '%s')", what, st, qb_errmsg(), fragment);
    if (st == QB_OK) qb_safetensors_close(&s);
    free(c);
}

static void expect_json_fail(const char *what, const char *json, size_t ndat, const char *fragment) {
    unsigned char dat[64] = {0};
    size_t n;
    unsigned char *b = build(json, dat, ndat, &n);
    expect_fail(what, b, n, fragment);
    free(b);
}

/* Saves a valid file as a seed for the fuzz target (cmake/fuzz.cmake). */
static void save_seed(const char *dir, const unsigned char *b, size_t n) {
    char cmd[600], path[600];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    if (system(cmd) != 0) return;
    snprintf(path, sizeof path, "%s/valid.safetensors", dir);
    FILE *f = fopen(path, "wb");
    if (f) fwrite(b, 1, n, f), fclose(f);
}

int main(int argc, char **argv) {
    float w[6] = {1, -2, 3.5f, 0, 1e-3f, 65504};
    uint16_t bf[4] = {0x3f80, 0xc000, 0x0000, 0x7f80};
    unsigned char dat[24 + 8 + 2];
    memcpy(dat, w, 24);
    memcpy(dat + 24, bf, 8);
    dat[32] = 0x00, dat[33] = 0x3c; /* f16 1.0 */
    const char *json =
        "{\"__metadata__\":{\"format\":\"pt\"},"
        "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[24,32]},"
        "\"model.layers.0.self_attn.q_proj.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
        "\"s\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[32,34]}}   ";
    size_t n;
    unsigned char *b = build(json, dat, sizeof dat, &n);
    qb_safetensors s;
    CHECK(qb_safetensors_open_mem(&s, b, n, "ok.safetensors") == QB_OK, "%s", qb_errmsg());
    if (argc > 1) save_seed(argv[1], b, n);
    CHECK(s.n == 3, "%d tensors", s.n);
    const qb_st_tensor *t = qb_safetensors_find(&s, "model.layers.0.self_attn.q_proj.weight");
    CHECK(t && t->n_dims == 2 && t->shape[0] == 2 && t->shape[1] == 3 && strcmp(t->format, "f32") == 0 &&
              memcmp(t->data, w, 24) == 0, "f32 tensor");
    t = qb_safetensors_find(&s, "b");
    CHECK(t && t->n_dims == 1 && t->shape[0] == 4 && strcmp(t->format, "bf16") == 0 && memcmp(t->data, bf, 8) == 0, "bf16");
    t = qb_safetensors_find(&s, "s");
    CHECK(t && t->n_dims == 0 && strcmp(t->dtype, "F16") == 0 && ((const unsigned char *)t->data)[1] == 0x3c, "scalar f16");
    CHECK(s.metadata && strstr(s.metadata, "\"format\":\"pt\""), "metadata %s", s.metadata ? s.metadata : "?");
    qb_safetensors_close(&s);

    for (size_t cut = 0; cut < n; cut++) expect_fail("truncated", b, cut, "t.safetensors");
    unsigned char *big = malloc(n);
    memcpy(big, b, n);
    uint64_t huge = 200u * 1000 * 1000;
    memcpy(big, &huge, 8);
    expect_fail("header > 100 MB", big, n, "exceeds the 100 MB limit");
    huge = n; /* inside the limit, past the file */
    memcpy(big, &huge, 8);
    expect_fail("header past the end", big, n, "does not fit the file");
    memcpy(big, b, n);
    big[20] = 0xC0; /* overlong UTF-8 lead byte */
    expect_fail("bad utf-8", big, n, "not valid UTF-8 (byte offset 20)");
    free(big);

    expect_json_fail("not json", "{\"a\":", 0, "not valid JSON");
    expect_json_fail("array", "[1,2]  ", 0, "not a JSON object");
    expect_json_fail("trailing", "{} x", 0, "trailing bytes after the JSON header");
    expect_json_fail("duplicate", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                                  "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2, "key 'a' twice");
    expect_json_fail("dtype", "{\"a\":{\"dtype\":\"F12\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "unknown dtype 'F12'");
    expect_json_fail("neg shape", "{\"a\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,1]}}", 1, "dimension 0");
    expect_json_fail("float shape", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1.5],\"data_offsets\":[0,1]}}", 1, "dimension 0");
    expect_json_fail("9 dims", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1, "9 dimensions");
    expect_json_fail("overflow", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4, "overflows");
    expect_json_fail("reversed", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,0]}}", 1, "begin <= end");
    expect_json_fail("size", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "need 8");
    expect_json_fail("past end", "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}", 4, "runs past the data buffer");
    expect_json_fail("gap", "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}", 4, "unindexed bytes before tensor 'a'");
    expect_json_fail("overlap", "{\"a\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
                                "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}", 4, "overlap");
    expect_json_fail("trailing data", "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 4, "2 trailing bytes");
    expect_json_fail("missing field", "{\"a\":{\"dtype\":\"U8\",\"shape\":[2]}}", 2, "data_offsets");
    expect_json_fail("metadata type", "{\"__metadata__\":{\"k\":1}}", 0, "__metadata__ value 'k'");
    char deep[3000];
    size_t k = 0;
    for (int i = 0; i < 1200; i++) deep[k++] = '[';
    deep[k] = '\0';
    expect_json_fail("nesting", deep, 0, "not valid JSON");
    free(b);
    return qbt_finish();
}
