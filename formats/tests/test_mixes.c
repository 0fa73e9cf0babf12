/* test_mixes.c — the llama.cpp file-type policy (formats/mixes.c) on a synthetic llama-shaped
 * model: 32 layers, 32 query heads over 8 KV heads (GQA 4), dim 4096, FFN 11008, separate
 * output. Every tensor's expected type is written out here by hand from FORMATS.md §6.4, with
 * the layer sets spelled as literals rather than recomputed by the code under test:
 *   use_more_bits over 32 layers = {0,1,2,3, 6,9,12,15,18,21,24,27, 28,29,30,31}. */
#include <string.h>

#include "common/qbtest.h"
#include "formats/mixes.h"

static const int more_bits_32[] = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31};

static int in_set(int i, const int *set, int n) {
    for (int k = 0; k < n; k++)
        if (set[k] == i) return 1;
    return 0;
}

typedef struct expect {
    const char *mix, *output, *token_embd, *attn_q, *attn_output, *ffn_up;
    /* attn_v and ffn_down: `hi` for layers in the set, `lo` elsewhere */
    const char *attn_v_hi, *attn_v_lo, *ffn_down_hi, *ffn_down_lo;
    const int *attn_v_set, *ffn_down_set;
    int n_attn_v_set, n_ffn_down_set;
} expect;

static const int first2[] = {0, 1}, first4[] = {0, 1, 2, 3}, none[] = {-1};

static const expect cases[] = {
    {"Q4_K_M", "q6_K", "q4_K", "q4_K", "q4_K", "q4_K", "q6_K", "q4_K", "q6_K", "q4_K", more_bits_32, more_bits_32, 16, 16},
    {"Q5_K_M", "q6_K", "q5_K", "q5_K", "q5_K", "q5_K", "q6_K", "q5_K", "q6_K", "q5_K", more_bits_32, more_bits_32, 16, 16},
    {"Q4_K_S", "q6_K", "q4_K", "q4_K", "q4_K", "q4_K", "q5_K", "q4_K", "q5_K", "q4_K", first4, first4, 4, 4},
    {"Q3_K_M", "q6_K", "q3_K", "q3_K", "q4_K", "q3_K", "q5_K", "q4_K", "q5_K", "q4_K", first2, first2, 2, 2},
    {"Q3_K_L", "q6_K", "q3_K", "q3_K", "q5_K", "q3_K", "q5_K", "q5_K", "q5_K", "q5_K", none, none, 0, 0},
    {"Q3_K_S", "q6_K", "q3_K", "q3_K", "q3_K", "q3_K", "q3_K", "q3_K", "q3_K", "q3_K", none, none, 0, 0},
    {"Q2_K", "q6_K", "q2_K", "q2_K", "q3_K", "q2_K", "q4_K", "q4_K", "q3_K", "q3_K", none, none, 0, 0},
    {"Q2_K_S", "q6_K", "q2_K", "q2_K", "q2_K", "q2_K", "q4_K", "q4_K", "q4_K", "q2_K", none, first4, 0, 4},
    {"Q5_K_S", "q6_K", "q5_K", "q5_K", "q5_K", "q5_K", "q5_K", "q5_K", "q5_K", "q5_K", none, none, 0, 0},
    {"Q6_K", "q6_K", "q6_K", "q6_K", "q6_K", "q6_K", "q6_K", "q6_K", "q6_K", "q6_K", none, none, 0, 0},
    {"Q8_0", "q8_0", "q8_0", "q8_0", "q8_0", "q8_0", "q8_0", "q8_0", "q8_0", "q8_0", none, none, 0, 0},
    {"Q4_0", "q6_K", "q4_0", "q4_0", "q4_0", "q4_0", "q4_0", "q4_0", "q4_0", "q4_0", none, none, 0, 0},
    {"IQ4_XS", "q6_K", "iq4_xs", "iq4_xs", "iq4_xs", "iq4_xs", "q5_K", "q5_K", "q5_K", "iq4_xs", none, first4, 0, 4},
    {"TQ1_0", "q6_K", "q4_K", "tq1_0", "tq1_0", "tq1_0", "tq1_0", "tq1_0", "tq1_0", "tq1_0", none, none, 0, 0},
    {"F16", "f16", "f16", "f16", "f16", "f16", "f16", "f16", "f16", "f16", none, none, 0, 0},
};

static void check(const qb_mix *mix, const qb_mix_model *m, const char *name, int64_t ne0, int64_t ne1, const char *want) {
    int64_t ne[4] = {ne0, ne1, 1, 1};
    const qb_format *f = NULL;
    qb_status st = qb_mix_tensor_type(mix, m, name, ne, &f);
    CHECK_LIMITED(st == QB_OK && f && strcmp(f->name, want) == 0, "%s %s: got %s, want %s (%s)", mix->name, name,
                  f ? f->name : "none", want, st ? qb_errmsg() : "");
}

int main(void) {
    qb_formats_init();
    qb_mix_model m = {.arch = "llama", .n_layer = 32, .n_head = 32, .n_head_kv = 8, .n_attn_v = 32, .n_ffn_down = 32,
                      .has_output = 1};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const expect *e = &cases[c];
        const qb_mix *mix;
        if (qb_mix_require(e->mix, &mix) != QB_OK) {
            CHECK(0, "%s", qb_errmsg());
            continue;
        }
        check(mix, &m, "output.weight", 4096, 32000, e->output);
        check(mix, &m, "token_embd.weight", 4096, 32000, e->token_embd);
        for (int i = 0; i < 32; i++) {
            char name[64];
#define T(suffix, ne0, ne1, want) (snprintf(name, sizeof name, "blk.%d." suffix, i), check(mix, &m, name, ne0, ne1, want))
            T("attn_q.weight", 4096, 4096, e->attn_q);
            T("attn_k.weight", 4096, 1024, e->attn_q);
            T("attn_v.weight", 4096, 1024, in_set(i, e->attn_v_set, e->n_attn_v_set) ? e->attn_v_hi : e->attn_v_lo);
            T("attn_output.weight", 4096, 4096, e->attn_output);
            T("ffn_gate.weight", 4096, 11008, e->ffn_up);
            T("ffn_up.weight", 4096, 11008, e->ffn_up);
            T("ffn_down.weight", 11008, 4096, in_set(i, e->ffn_down_set, e->n_ffn_down_set) ? e->ffn_down_hi : e->ffn_down_lo);
#undef T
        }
    }
    /* tensors that stay as they are */
    CHECK(!qb_mix_quantizable("blk.0.attn_norm.weight", 1), "norm");
    CHECK(!qb_mix_quantizable("blk.0.ffn_norm.weight", 2), "2-D norm");
    CHECK(!qb_mix_quantizable("blk.0.ffn_gate_inp.weight", 2), "expert gate");
    CHECK(!qb_mix_quantizable("rope_freqs", 1), "rope_freqs");
    CHECK(!qb_mix_quantizable("blk.0.attn_q.bias", 2), "bias");
    CHECK(qb_mix_quantizable("blk.0.attn_q.weight", 2) && qb_mix_quantizable("output.weight", 2), "weights");

    /* fallbacks when 256 does not divide the row (FORMATS.md §6.4), then f16 when 32 does not */
    const qb_mix *mix;
    qb_mix_require("q4_k_m", &mix); /* names are case-insensitive */
    check(mix, &m, "blk.5.attn_q.weight", 4160, 4096, "q5_0");
    check(mix, &m, "blk.0.attn_v.weight", 4160, 1024, "q8_0");   /* q6_K → q8_0 */
    check(mix, &m, "output.weight", 4160, 32000, "q8_0");        /* the base block does not divide: q8_0 */
    check(mix, &m, "blk.5.attn_q.weight", 100, 4096, "f16");
    qb_mix_require("Q5_K_S", &mix);
    check(mix, &m, "blk.5.attn_q.weight", 4160, 4096, "q5_1");
    qb_mix_require("Q2_K", &mix);
    check(mix, &m, "blk.5.attn_q.weight", 4160, 4096, "iq4_nl");
    qb_mix_require("TQ2_0", &mix);
    check(mix, &m, "blk.5.attn_q.weight", 4160, 4096, "q4_0");

    /* tied embeddings: token_embd is quantized as the output */
    qb_mix_model tied = m;
    tied.has_output = 0;
    qb_mix_require("Q4_K_M", &mix);
    check(mix, &tied, "token_embd.weight", 4096, 32000, "q6_K");
    /* without GQA, Q2_K keeps attn_v at q3_K */
    qb_mix_model mha = m;
    mha.n_head_kv = 32;
    qb_mix_require("Q2_K", &mix);
    check(mix, &mha, "blk.3.attn_v.weight", 4096, 4096, "q3_K");
    /* Llama-2-70B (80 layers, GQA 8): Q3_K_S attn_v q3_K → q5_K; Q4_K_M attn_v on a non-more-bits layer q4_K → q5_K */
    qb_mix_model l70 = {.arch = "llama", .n_layer = 80, .n_head = 64, .n_head_kv = 8, .n_attn_v = 80, .n_ffn_down = 80, .has_output = 1};
    qb_mix_require("Q3_K_S", &mix);
    check(mix, &l70, "blk.40.attn_v.weight", 8192, 1024, "q5_K");
    qb_mix_require("Q4_K_M", &mix);
    check(mix, &l70, "blk.11.attn_v.weight", 8192, 1024, "q5_K"); /* 11: (11 − 10) mod 3 = 1, not more bits */
    check(mix, &l70, "blk.12.attn_v.weight", 8192, 1024, "q6_K"); /* (12 − 10) mod 3 = 2 */
    /* 8 experts (Mixtral): attn_v and attn_k q8_0, attn_output q5_K for Q4_K_M, expert stacks base; Q3_K_L keeps attn_output */
    qb_mix_model moe = m;
    moe.n_expert = 8;
    check(mix, &moe, "blk.3.attn_v.weight", 4096, 1024, "q8_0");
    check(mix, &moe, "blk.3.attn_k.weight", 4096, 1024, "q8_0");
    check(mix, &moe, "blk.3.attn_output.weight", 4096, 4096, "q5_K");
    qb_mix_require("Q3_K_L", &mix);
    check(mix, &moe, "blk.3.attn_output.weight", 4096, 4096, "q3_K");
    /* MXFP4_MOE: expert stacks mxfp4, everything else q8_0 */
    qb_mix_require("MXFP4_MOE", &mix);
    int64_t experts[4] = {4096, 14336, 8, 1};
    const qb_format *f = NULL;
    CHECK(qb_mix_tensor_type(mix, &moe, "blk.0.ffn_up_exps.weight", experts, &f) == QB_OK && f && strcmp(f->name, "mxfp4") == 0,
          "expert stack %s", f ? f->name : "none");
    check(mix, &moe, "blk.0.attn_q.weight", 4096, 4096, "q8_0");
    check(mix, &moe, "output.weight", 4096, 32000, "q8_0");

    CHECK(qb_mix_require("Q4_K_X", &mix) == QB_EUSAGE && strstr(qb_errmsg(), "Q4_K_M"), "%s", qb_errmsg());
    CHECK(qb_mix_tensor_type(mix, &m, "blk.x.attn_v.weight", (int64_t[4]){4096, 1024, 1, 1}, &f) == QB_EINPUT, "bad layer");
    return qbt_finish();
}
