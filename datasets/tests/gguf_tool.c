/* gguf_tool.c — a test helper that makes GGUF files with quantbench's writer, so an outside
 * reader (gguf-py, in oracle_gguf.py) can check them, and copies files through quantbench's
 * reader and writer, so files made elsewhere can be checked after a round trip.
 *
 *   gguf_tool write OUT.gguf [ALIGNMENT]   a fixed, deterministic set of KVs and tensors
 *   gguf_tool copy IN.gguf OUT.gguf        read → write (same KVs, tensors and alignment)
 *   gguf_tool llama OUT.gguf LAYERS DIM FFN HEADS KV_HEADS VOCAB f32|f16
 *                                          a llama-shaped model of random weights (uniform,
 *                                          σ ≈ 0.02, seeded), streamed: any size in O(1) memory;
 *                                          VOCAB ≥ 260 adds a tokenizer (datasets/corpus.h's byte
 *                                          vocabulary, padded with unused tokens), so text works
 *                                          on it; smaller vocabularies have none (ids only)
 *
 * Exit 0 on success, else the qb_status code with one error line on stderr. Not installed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/corpus.h"
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

/* A llama-architecture GGUF: the tensors and keys llama.cpp's converter writes, in its order. */
static qb_status write_llama(const char *out, int layers, int64_t dim, int64_t ffn, int heads, int kv_heads, int64_t vocab,
                             const char *type) {
    int f16 = strcmp(type, "f16") == 0;
    if (!f16 && strcmp(type, "f32") != 0) return qb_fail(QB_EUSAGE, "type must be f32 or f16, not '%s'", type);
    if (layers < 1 || dim < 32 || ffn < 32 || heads < 1 || kv_heads < 1 || heads % kv_heads || dim % heads || vocab < 1)
        return qb_fail(QB_EUSAGE, "implausible shape");
    qb_gguf_writer w;
    qb_status st = qb_gguf_writer_open(&w, out, 0);
    if (st) return st;
    int64_t kv_dim = dim / heads * kv_heads;
    st = qb_gguf_writer_set_string(&w, "general.architecture", "llama");
    if (!st) st = qb_gguf_writer_set_string(&w, "general.name", "quantbench synthetic llama");
    if (!st) st = qb_gguf_writer_set_u32(&w, "general.file_type", f16 ? 1 : 0);
    if (!st) st = qb_gguf_writer_set_u32(&w, "llama.block_count", (uint32_t)layers);
    if (!st) st = qb_gguf_writer_set_u32(&w, "llama.context_length", 4096);
    if (!st) st = qb_gguf_writer_set_u32(&w, "llama.embedding_length", (uint32_t)dim);
    if (!st) st = qb_gguf_writer_set_u32(&w, "llama.feed_forward_length", (uint32_t)ffn);
    if (!st) st = qb_gguf_writer_set_u32(&w, "llama.attention.head_count", (uint32_t)heads);
    if (!st) st = qb_gguf_writer_set_u32(&w, "llama.attention.head_count_kv", (uint32_t)kv_heads);
    if (!st) st = qb_gguf_writer_set_u32(&w, "llama.rope.dimension_count", (uint32_t)(dim / heads));
    if (!st) st = qb_gguf_writer_set_f32(&w, "llama.rope.freq_base", 10000.0f);
    if (!st) st = qb_gguf_writer_set_f32(&w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    if (!st) st = qb_gguf_writer_set_u32(&w, "llama.vocab_size", (uint32_t)vocab);
    if (!st && vocab >= QB_VOCAB_BYTES_N) st = qb_vocab_bytes_write_n(&w, vocab);
    /* name, rows (ne[1]), row length (ne[0]); rows 0 marks a 1-D norm (f32, ones) */
    struct { char name[64]; int64_t ne0, ne1; } t[16];
    int nt = 0;
#define T(fmt, n0, n1) (snprintf(t[nt].name, 64, "%s", fmt), t[nt].ne0 = (n0), t[nt].ne1 = (n1), nt++)
    uint64_t idx = 0;
    T("token_embd.weight", dim, vocab);
    T("output_norm.weight", dim, 0);
    T("output.weight", dim, vocab);
    for (int k = 0; k < nt && !st; k++) {
        int64_t ne[2] = {t[k].ne0, t[k].ne1 ? t[k].ne1 : 1};
        st = qb_gguf_writer_add_tensor(&w, t[k].name, t[k].ne1 ? 2 : 1, ne, t[k].ne1 && f16 ? 1 : 0);
    }
    for (int l = 0; l < layers && !st; l++) {
        nt = 0;
        static const char *const names[] = {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"};
        int64_t shapes[9][2] = {{dim, 0}, {dim, dim}, {dim, kv_dim}, {dim, kv_dim}, {dim, dim}, {dim, 0}, {dim, ffn}, {dim, ffn}, {ffn, dim}};
        for (int k = 0; k < 9 && !st; k++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, names[k]);
            int64_t ne[2] = {shapes[k][0], shapes[k][1] ? shapes[k][1] : 1};
            st = qb_gguf_writer_add_tensor(&w, name, shapes[k][1] ? 2 : 1, ne, shapes[k][1] && f16 ? 1 : 0);
        }
    }
#undef T
    /* data, in declaration order, 1 Mi values at a time */
    enum { CHUNK = 1 << 20 };
    float *x = malloc(CHUNK * sizeof(float));
    uint16_t *h = malloc(CHUNK * sizeof(uint16_t));
    uint64_t rng = 0x2545F4914F6CDD1Dull;
    for (idx = 0; idx < w.n_tensors && !st; idx++) {
        const qb_gguf_tensor *gt = &w.tensors[idx];
        int norm = gt->n_dims == 1;
        int64_t n = gt->ne[0] * gt->ne[1];
        for (int64_t done = 0; done < n && !st; done += CHUNK) {
            int64_t m = n - done < CHUNK ? n - done : CHUNK;
            for (int64_t i = 0; i < m; i++) {
                rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
                double u = (double)((rng * 0x2545F4914F6CDD1Dull) >> 11) * 0x1p-53; /* [0, 1) */
                x[i] = norm ? 1.0f : (float)((u - 0.5) * 0.0692820323); /* uniform, σ = 0.02 */
                if (!norm && f16) {
                    uint32_t b;
                    memcpy(&b, &x[i], 4);
                    /* weights are far from f16's limits: round to nearest even on 13 bits */
                    uint32_t a = b & 0x7fffffff, sgn = (b >> 16) & 0x8000;
                    if (a < 0x38800000) h[i] = (uint16_t)sgn; /* below f16 normals: 0 is close enough */
                    else { a -= 0x38000000; a += 0xfff + ((a >> 13) & 1); h[i] = (uint16_t)(sgn | (a >> 13)); }
                }
            }
            st = qb_gguf_writer_write_tensor(&w, idx, !norm && f16 ? (const void *)h : (const void *)x,
                                             (uint64_t)m * (!norm && f16 ? 2 : 4));
        }
    }
    free(x);
    free(h);
    if (!st) return qb_gguf_writer_finish(&w);
    qb_gguf_writer_abort(&w);
    return st;
}

int main(int argc, char **argv) {
    qb_status st;
    if (argc >= 3 && argc <= 4 && strcmp(argv[1], "write") == 0) {
        st = write_fixed(argv[2], argc == 4 ? strtoull(argv[3], NULL, 10) : 0);
    } else if (argc == 4 && strcmp(argv[1], "copy") == 0) {
        st = copy_file(argv[2], argv[3]);
    } else if (argc == 10 && strcmp(argv[1], "llama") == 0) {
        st = write_llama(argv[2], atoi(argv[3]), atoll(argv[4]), atoll(argv[5]), atoi(argv[6]), atoi(argv[7]), atoll(argv[8]), argv[9]);
    } else {
        fprintf(stderr, "usage: gguf_tool write OUT.gguf [ALIGNMENT] | gguf_tool copy IN.gguf OUT.gguf |\n"
                        "       gguf_tool llama OUT.gguf LAYERS DIM FFN HEADS KV_HEADS VOCAB f32|f16\n"
                        "         (VOCAB >= %d: with a byte-fallback SPM tokenizer; fewer: without a tokenizer)\n",
                QB_VOCAB_BYTES_N);
        return QB_EUSAGE;
    }
    if (st) fprintf(stderr, "gguf_tool: error: %s\n", qb_errmsg());
    return (int)st;
}
