/* gguf_tool.c — a test helper that makes GGUF files with quantbench's writer, so an outside
 * reader (gguf-py, in oracle_gguf.py) can check them, and copies files through quantbench's
 * reader and writer, so files made elsewhere can be checked after a round trip.
 *
 *   gguf_tool write OUT.gguf [ALIGNMENT]   a fixed, deterministic set of KVs and tensors
 *   gguf_tool copy IN.gguf OUT.gguf        read → write (same KVs, tensors and alignment)
 *
 * Exit 0 on success, else the qb_status code with one error line on stderr. Not installed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/gguf.h"

/* Deterministic bytes: xorshift64*. */
static void fill_bytes(uint8_t *p, size_t n, uint64_t seed) {
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
        p[i] = (uint8_t)((x * 0x2545F4914F6CDD1Dull) >> 56);
    }
}

static qb_status write_fixed(const char *out, uint64_t alignment) {
    qb_gguf_writer w;
    qb_status st = qb_gguf_writer_open(&w, out, alignment);
    if (st) return st;
    static const char *const strs[] = {"alpha", "", "ñandú ✓", "tab\there"};
    static const int32_t i32s[] = {1, -2, 2147483647, -2147483647 - 1};
    static const float f32s[] = {0.5f, -1.25f, 3.0e38f, 1.0e-40f};
    static const uint64_t u64s[] = {0, 1, 18446744073709551615ull};
    static const int16_t i16s[] = {-32768, 0, 32767};
    static const uint8_t u8s[] = {0, 7, 255};
    static const double f64s[] = {3.141592653589793, -0.0};
    static const uint8_t bools[] = {1, 0, 1};
    st = qb_gguf_writer_set_string(&w, "general.architecture", "llama");
    if (!st) st = qb_gguf_writer_set_string(&w, "general.name", "quantbench gguf_tool fixture");
    if (!st) st = qb_gguf_writer_set_u32(&w, "general.file_type", 15);
    if (!st) st = qb_gguf_writer_set_u32(&w, "general.quantization_version", 2);
    if (!st) st = qb_gguf_writer_set_u8(&w, "test.u8", 200);
    if (!st) st = qb_gguf_writer_set_i8(&w, "test.i8", -100);
    if (!st) st = qb_gguf_writer_set_u16(&w, "test.u16", 60000);
    if (!st) st = qb_gguf_writer_set_i16(&w, "test.i16", -30000);
    if (!st) st = qb_gguf_writer_set_u32(&w, "test.u32", 4000000000u);
    if (!st) st = qb_gguf_writer_set_i32(&w, "test.i32", -2000000000);
    if (!st) st = qb_gguf_writer_set_f32(&w, "test.f32", 1.5f);
    if (!st) st = qb_gguf_writer_set_bool(&w, "test.bool", 1);
    if (!st) st = qb_gguf_writer_set_u64(&w, "test.u64", 9223372036854775813ull);
    if (!st) st = qb_gguf_writer_set_i64(&w, "test.i64", -4611686018427387904ll);
    if (!st) st = qb_gguf_writer_set_f64(&w, "test.f64", 2.718281828459045);
    if (!st) st = qb_gguf_writer_set_string(&w, "test.empty_string", "");
    if (!st) st = qb_gguf_writer_set_string(&w, "test.ключ.名前", "значение ✓");
    if (!st) st = qb_gguf_writer_set_string_array(&w, "test.arr_str", strs, NULL, 4);
    if (!st) st = qb_gguf_writer_set_array(&w, "test.arr_i32", QB_GGUF_INT32, i32s, 4);
    if (!st) st = qb_gguf_writer_set_array(&w, "test.arr_f32", QB_GGUF_FLOAT32, f32s, 4);
    if (!st) st = qb_gguf_writer_set_array(&w, "test.arr_u64", QB_GGUF_UINT64, u64s, 3);
    if (!st) st = qb_gguf_writer_set_array(&w, "test.arr_i16", QB_GGUF_INT16, i16s, 3);
    if (!st) st = qb_gguf_writer_set_array(&w, "test.arr_u8", QB_GGUF_UINT8, u8s, 3);
    if (!st) st = qb_gguf_writer_set_array(&w, "test.arr_f64", QB_GGUF_FLOAT64, f64s, 2);
    if (!st) st = qb_gguf_writer_set_array(&w, "test.arr_bool", QB_GGUF_BOOL, bools, 3);
    if (!st) st = qb_gguf_writer_set_array(&w, "test.arr_empty", QB_GGUF_INT32, NULL, 0);
    /* tensors: several ggml types and 1-D … 4-D shapes (ne[0] first) */
    static const struct {
        const char *name;
        uint32_t type, n_dims;
        int64_t ne[4];
    } ts[] = {
        {"token_embd.weight", 0 /* F32 */, 2, {8, 3}},
        {"blk.0.attn_norm.weight", 0, 1, {8}},
        {"blk.0.ffn_up.weight", 1 /* F16 */, 2, {16, 5}},
        {"blk.0.attn_q.weight", 2 /* Q4_0 */, 2, {64, 3}},
        {"blk.0.attn_k.weight", 8 /* Q8_0 */, 3, {32, 2, 2}},
        {"blk.0.attn_v.weight", 12 /* Q4_K */, 4, {256, 1, 2, 2}},
        {"blk.0.ffn_down.weight", 14 /* Q6_K */, 2, {256, 2}},
        {"blk.0.ffn_gate.weight", 30 /* BF16 */, 2, {4, 4}},
        {"blk.0.iq.weight", 16 /* IQ2_XXS */, 1, {512}},
        {"blk.0.i32", 26 /* I32 */, 1, {7}},
        {"blk.0.mxfp4", 39 /* MXFP4 */, 2, {64, 2}},
    };
    for (size_t i = 0; i < sizeof ts / sizeof ts[0] && !st; i++)
        st = qb_gguf_writer_add_tensor(&w, ts[i].name, ts[i].n_dims, ts[i].ne, ts[i].type);
    for (size_t i = 0; i < sizeof ts / sizeof ts[0] && !st; i++) {
        const qb_gguf_tensor *t = &w.tensors[i];
        uint8_t *buf = qb_malloc((size_t)t->nbytes);
        if (t->type == 0) { /* F32: finite values */
            for (uint64_t k = 0; k < t->nbytes / 4; k++) {
                float f = (float)((double)k * 0.25 - 3.0);
                memcpy(buf + 4 * k, &f, 4);
            }
        } else {
            fill_bytes(buf, (size_t)t->nbytes, i + 1);
        }
        st = qb_gguf_writer_write_tensor(&w, i, buf, t->nbytes);
        free(buf);
    }
    if (st) {
        qb_gguf_writer_abort(&w);
        return st;
    }
    return qb_gguf_writer_finish(&w);
}

static qb_status copy_file(const char *in, const char *out) {
    qb_gguf g;
    qb_status st = qb_gguf_open(&g, in);
    if (st) return st;
    qb_gguf_writer w;
    st = qb_gguf_writer_open(&w, out, g.alignment);
    if (st) {
        qb_gguf_close(&g);
        return st;
    }
    st = qb_gguf_writer_copy_all_kv(&w, &g);
    for (uint64_t i = 0; i < g.n_tensors && !st; i++) {
        const qb_gguf_tensor *t = &g.tensors[i];
        st = qb_gguf_writer_add_tensor(&w, t->name, t->n_dims, t->ne, t->type);
    }
    for (uint64_t i = 0; i < g.n_tensors && !st; i++)
        st = qb_gguf_writer_write_tensor(&w, i, g.tensors[i].data, g.tensors[i].nbytes);
    if (st) qb_gguf_writer_abort(&w);
    else st = qb_gguf_writer_finish(&w);
    qb_gguf_close(&g);
    return st;
}

int main(int argc, char **argv) {
    qb_status st;
    if (argc >= 3 && argc <= 4 && strcmp(argv[1], "write") == 0) {
        st = write_fixed(argv[2], argc == 4 ? strtoull(argv[3], NULL, 10) : 0);
    } else if (argc == 4 && strcmp(argv[1], "copy") == 0) {
        st = copy_file(argv[2], argv[3]);
    } else {
        fprintf(stderr, "usage: gguf_tool write OUT.gguf [ALIGNMENT] | gguf_tool copy IN.gguf OUT.gguf\n");
        return QB_EUSAGE;
    }
    if (st) fprintf(stderr, "gguf_tool: error: %s\n", qb_errmsg());
    return (int)st;
}
