/* mixes.c — llama-quantize's tensor-type policy as tables (see mixes.h).
 *
 * A tensor's type is decided in four steps, each a table below:
 *   1. output.weight (or token_embd.weight when the model ties it to the output) follows
 *      output_rule; MXFP4_MOE puts every other tensor in mxfp4 (3-D expert stacks) or q8_0;
 *   2. otherwise the first row of `choose` matching (file type, tensor role, condition) sets
 *      the type; no match keeps the file type's base type;
 *   3. every matching row of `adjust` then rewrites the type (70B and 8-expert bumps);
 *   4. a row length that the type's block does not divide walks the `fallback` chain, and
 *      f16 when even the fallback does not divide it.
 * The conditions (layer position, GQA, experts, imatrix, architecture) are named in
 * `enum cond`; position conditions use the layer index i of "blk.i." and n = the count of
 * tensors of that role, which is what llama.cpp's running counters give for models with one
 * such tensor per layer (its loader orders tensors by layer). IQ grid file types (IQ2_*,
 * IQ3_*, IQ1_*) are out of scope, so their rows are absent. */
#include "mixes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const qb_mix mixes[] = {
    {"F32", 0, "f32"},        {"F16", 1, "f16"},          {"BF16", 32, "bf16"},       {"Q4_0", 2, "q4_0"},
    {"Q4_1", 3, "q4_1"},      {"Q5_0", 8, "q5_0"},        {"Q5_1", 9, "q5_1"},        {"Q8_0", 7, "q8_0"},
    {"Q2_K", 10, "q2_K"},     {"Q2_K_S", 21, "q2_K"},     {"Q3_K_S", 11, "q3_K"},     {"Q3_K_M", 12, "q3_K"},
    {"Q3_K_L", 13, "q3_K"},   {"Q4_K_S", 14, "q4_K"},     {"Q4_K_M", 15, "q4_K"},     {"Q5_K_S", 16, "q5_K"},
    {"Q5_K_M", 17, "q5_K"},   {"Q6_K", 18, "q6_K"},       {"IQ4_NL", 25, "iq4_nl"},   {"IQ4_XS", 30, "iq4_xs"},
    {"TQ1_0", 36, "tq1_0"},   {"TQ2_0", 37, "tq2_0"},     {"MXFP4_MOE", 38, "mxfp4"},
};
enum { NMIXES = (int)(sizeof mixes / sizeof mixes[0]) };

typedef enum role {
    ANY_ROLE, OUTPUT, TOKEN_EMBD, ATTN_QKV, ATTN_KV_B, ATTN_V, ATTN_K, ATTN_Q, ATTN_OUTPUT, FFN_UP, FFN_GATE, FFN_DOWN, OTHER
} role;

typedef enum cond {
    ALWAYS,
    MORE_BITS,        /* i < n/8 || i ≥ 7n/8 || (i − n/8) mod 3 = 2 */
    FIRST_EIGHTH,     /* i < n/8 */
    FIRST_SIXTEENTH,  /* i < n/16 */
    FIRST_TWO,        /* i < 2 */
    FIRST_FOUR,       /* i < 4 */
    GQA_4,            /* n_head / n_head_kv ≥ 4 */
    EXPERTS_8,        /* n_expert = 8 */
    FALCON,           /* general.architecture = falcon */
    NOT_FALCON,
    DENSE_NOT_FALCON, /* not falcon and n_expert ≠ 8 */
    NOT_FALCON_FIRST_EIGHTH,
    FALCON_FIRST_SIXTEENTH,
    FALCON_MORE_BITS,
    NO_IMATRIX_FIRST_EIGHTH,
    IMATRIX_FIRST_EIGHTH,
    MODEL_70B,        /* llama with 80 layers: llama.cpp's LLM_TYPE_70B */
} cond;

typedef struct rule {
    const char *mix; /* file type name; NULL = any */
    role role;
    cond when;
    const char *from; /* adjust rows: only when the type so far is this; NULL = any */
    const char *type;
} rule;

/* Step 2: first match wins, per tensor role (llama_tensor_get_type's if/else chain). */
static const rule choose[] = {
    /* mix       role         when                       type */
    {"Q2_K",    ATTN_V,      GQA_4,                NULL, "q4_K"},
    {"Q2_K",    ATTN_V,      ALWAYS,               NULL, "q3_K"},
    {"Q2_K_S",  ATTN_V,      GQA_4,                NULL, "q4_K"},
    {"Q3_K_M",  ATTN_V,      FIRST_TWO,            NULL, "q5_K"},
    {"Q3_K_M",  ATTN_V,      ALWAYS,               NULL, "q4_K"},
    {"Q3_K_L",  ATTN_V,      ALWAYS,               NULL, "q5_K"},
    {"IQ4_NL",  ATTN_V,      GQA_4,                NULL, "q5_K"},
    {"IQ4_XS",  ATTN_V,      GQA_4,                NULL, "q5_K"},
    {"Q4_K_M",  ATTN_V,      MORE_BITS,            NULL, "q6_K"},
    {"Q5_K_M",  ATTN_V,      MORE_BITS,            NULL, "q6_K"},
    {"Q4_K_S",  ATTN_V,      FIRST_FOUR,           NULL, "q5_K"},
    {NULL,      ATTN_K,      EXPERTS_8,            NULL, "q8_0"},
    {"Q2_K",    FFN_DOWN,    ALWAYS,               NULL, "q3_K"},
    {"Q2_K_S",  FFN_DOWN,    FIRST_EIGHTH,         NULL, "q4_K"},
    {"Q3_K_M",  FFN_DOWN,    FIRST_SIXTEENTH,      NULL, "q5_K"},
    {"Q3_K_M",  FFN_DOWN,    NOT_FALCON,           NULL, "q4_K"},
    {"Q3_K_M",  FFN_DOWN,    FALCON_MORE_BITS,     NULL, "q4_K"},
    {"Q3_K_M",  FFN_DOWN,    ALWAYS,               NULL, "q3_K"},
    {"Q3_K_L",  FFN_DOWN,    FALCON,               NULL, "q4_K"},
    {"Q3_K_L",  FFN_DOWN,    ALWAYS,               NULL, "q5_K"},
    {"Q4_K_M",  FFN_DOWN,    FALCON_FIRST_SIXTEENTH, NULL, "q6_K"},
    {"Q4_K_M",  FFN_DOWN,    FALCON_MORE_BITS,     NULL, "q5_K"},
    {"Q4_K_M",  FFN_DOWN,    FALCON,               NULL, "q4_K"},
    {"Q4_K_M",  FFN_DOWN,    MORE_BITS,            NULL, "q6_K"},
    {"IQ4_NL",  FFN_DOWN,    NO_IMATRIX_FIRST_EIGHTH, NULL, "q5_K"},
    {"IQ4_XS",  FFN_DOWN,    NO_IMATRIX_FIRST_EIGHTH, NULL, "q5_K"},
    {"Q5_K_M",  FFN_DOWN,    MORE_BITS,            NULL, "q6_K"},
    {"Q4_K_S",  FFN_DOWN,    NOT_FALCON_FIRST_EIGHTH, NULL, "q5_K"},
    {"Q4_0",    FFN_DOWN,    IMATRIX_FIRST_EIGHTH, NULL, "q4_1"},
    {"Q5_0",    FFN_DOWN,    IMATRIX_FIRST_EIGHTH, NULL, "q5_1"},
    {"Q2_K",    ATTN_OUTPUT, EXPERTS_8,            NULL, "q5_K"},
    {"Q3_K_S",  ATTN_OUTPUT, EXPERTS_8,            NULL, "q5_K"},
    {"Q3_K_M",  ATTN_OUTPUT, EXPERTS_8,            NULL, "q5_K"},
    {"IQ4_NL",  ATTN_OUTPUT, EXPERTS_8,            NULL, "q5_K"},
    {"Q4_K_S",  ATTN_OUTPUT, EXPERTS_8,            NULL, "q5_K"},
    {"Q4_K_M",  ATTN_OUTPUT, EXPERTS_8,            NULL, "q5_K"},
    {"IQ4_XS",  ATTN_OUTPUT, EXPERTS_8,            NULL, "q5_K"},
    {"Q3_K_L",  ATTN_OUTPUT, FALCON,               NULL, "q4_K"},
    {"Q2_K",    ATTN_OUTPUT, DENSE_NOT_FALCON,     NULL, "q3_K"},
    {"Q3_K_M",  ATTN_OUTPUT, DENSE_NOT_FALCON,     NULL, "q4_K"},
    {"Q3_K_L",  ATTN_OUTPUT, DENSE_NOT_FALCON,     NULL, "q5_K"},
    {"Q3_K_M",  ATTN_QKV,    ALWAYS,               NULL, "q4_K"},
    {"Q3_K_L",  ATTN_QKV,    ALWAYS,               NULL, "q4_K"},
    {"Q4_K_M",  ATTN_QKV,    ALWAYS,               NULL, "q5_K"},
    {"Q5_K_M",  ATTN_QKV,    ALWAYS,               NULL, "q6_K"},
    {"TQ1_0",   TOKEN_EMBD,  ALWAYS,               NULL, "q4_K"},
    {"TQ2_0",   TOKEN_EMBD,  ALWAYS,               NULL, "q4_K"},
};

/* Step 3: every match applies, in order, to the type chosen so far. */
static const rule adjust[] = {
    /* mix   role     when       from    type */
    {NULL,   ATTN_V,  MODEL_70B, "q3_K", "q5_K"},
    {NULL,   ATTN_V,  MODEL_70B, "q4_K", "q5_K"},
    {NULL,   ATTN_V,  EXPERTS_8, NULL,   "q8_0"},
};

/* Step 4: a type whose block does not divide the row falls back to a 32-block type. */
static const struct {
    const char *type, *fallback;
} fallback[] = {
    {"tq1_0", "q4_0"}, {"tq2_0", "q4_0"}, {"q2_K", "iq4_nl"}, {"q3_K", "iq4_nl"}, {"iq4_xs", "iq4_nl"},
    {"q4_K", "q5_0"},  {"q5_K", "q5_1"},  {"q6_K", "q8_0"},
};

/* Step 1, output.weight: q8_0 for MXFP4_MOE, Falcon or rows the base block does not divide;
 * else q6_K, unless the base already is q8_0. */

/* Substrings of names llama-quantize never quantizes (beyond 1-D tensors and non-weights). */
static const char *const never_quantized[] = {
    "_norm.weight", "ffn_gate_inp.weight", "altup", "laurel", "per_layer_model_proj", "position_embd.weight",
    "token_types.weight", "ssm_conv1d", "shortconv.conv.weight", "time_mix_first.weight", "time_mix_w0.weight",
    "time_mix_w1.weight", "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight",
    "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight",
    "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight",
};

/* Roles by name, in llama.cpp's order of tests (qkv before v, so "attn_qkv" is not "attn_v"). */
static const struct {
    const char *needle;
    role role;
} roles[] = {
    {"attn_qkv.weight", ATTN_QKV}, {"attn_kv_b.weight", ATTN_KV_B}, {"attn_v.weight", ATTN_V},
    {"attn_k.weight", ATTN_K},     {"attn_q.weight", ATTN_Q},       {"attn_output.weight", ATTN_OUTPUT},
    {"ffn_up", FFN_UP},            {"ffn_gate", FFN_GATE},          {"ffn_down", FFN_DOWN},
};

qb_status qb_mix_require(const char *name, const qb_mix **out) {
    for (int i = 0; i < NMIXES; i++)
        if (strcasecmp(mixes[i].name, name) == 0) {
            *out = &mixes[i];
            return QB_OK;
        }
    char list[512];
    size_t k = 0;
    for (int i = 0; i < NMIXES && k < sizeof list; i++)
        k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "", mixes[i].name);
    return qb_fail(QB_EUSAGE, "unknown file type '%s' (valid: %s; or any format from 'quantbench formats')", name, list);
}

int qb_mix_count(void) { return NMIXES; }
const qb_mix *qb_mix_at(int i) { return i >= 0 && i < NMIXES ? &mixes[i] : NULL; }

int qb_mix_quantizable(const char *name, int n_dims) {
    size_t n = strlen(name);
    if (n_dims < 2 || n < 6 || strcmp(name + n - 6, "weight") != 0) return 0;
    for (size_t i = 0; i < sizeof never_quantized / sizeof never_quantized[0]; i++)
        if (strstr(name, never_quantized[i])) return 0;
    return 1;
}

static role role_of(const char *name, const qb_mix_model *m) {
    if (strcmp(name, "output.weight") == 0) return OUTPUT;
    if (strcmp(name, "token_embd.weight") == 0 || strcmp(name, "per_layer_token_embd.weight") == 0)
        return m->has_output ? TOKEN_EMBD : OUTPUT; /* tied embeddings are quantized as the output */
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (strstr(name, roles[i].needle)) return roles[i].role;
    return OTHER;
}

static int more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

static int holds(cond c, const qb_mix_model *m, int i, int n) {
    int falcon = m->arch && strcmp(m->arch, "falcon") == 0;
    switch (c) {
    case ALWAYS: return 1;
    case MORE_BITS: return more_bits(i, n);
    case FIRST_EIGHTH: return i < n / 8;
    case FIRST_SIXTEENTH: return i < n / 16;
    case FIRST_TWO: return i < 2;
    case FIRST_FOUR: return i < 4;
    case GQA_4: return m->n_head_kv > 0 && m->n_head / m->n_head_kv >= 4;
    case EXPERTS_8: return m->n_expert == 8;
    case FALCON: return falcon;
    case NOT_FALCON: return !falcon;
    case DENSE_NOT_FALCON: return !falcon && m->n_expert != 8;
    case NOT_FALCON_FIRST_EIGHTH: return !falcon && i < n / 8;
    case FALCON_FIRST_SIXTEENTH: return falcon && i < n / 16;
    case FALCON_MORE_BITS: return falcon && more_bits(i, n);
    case NO_IMATRIX_FIRST_EIGHTH: return !m->has_imatrix && i < n / 8;
    case IMATRIX_FIRST_EIGHTH: return m->has_imatrix && i < n / 8;
    case MODEL_70B: return m->arch && strcmp(m->arch, "llama") == 0 && m->n_layer == 80;
    }
    return 0;
}

static int matches(const rule *r, const qb_mix *mix, role ro, const qb_mix_model *m, int i, int n, const char *cur) {
    return (!r->mix || strcmp(r->mix, mix->name) == 0) && (r->role == ANY_ROLE || r->role == ro) &&
           (!r->from || strcmp(r->from, cur) == 0) && holds(r->when, m, i, n);
}

qb_status qb_mix_tensor_type(const qb_mix *mix, const qb_mix_model *m, const char *name, const int64_t ne[4],
                             const qb_format **out) {
    const char *type = mix->base;
    /* F32/F16/BF16 files convert every quantizable tensor to the base type, with no policy */
    int policy = strcmp(mix->base, "f32") != 0 && strcmp(mix->base, "f16") != 0 && strcmp(mix->base, "bf16") != 0;
    role ro = role_of(name, m);
    int layer = 0, n = m->n_layer;
    if (ro == ATTN_V || ro == FFN_DOWN) {
        if (sscanf(name, "blk.%d.", &layer) != 1 || layer < 0 || (m->n_layer > 0 && layer >= m->n_layer))
            return qb_fail(QB_EINPUT, "tensor '%s': cannot tell its layer (expected blk.N. with N < %d)", name, m->n_layer);
        n = ro == ATTN_V ? m->n_attn_v : m->n_ffn_down;
    }
    const qb_format *base = qb_format_find(mix->base);
    if (!base) return qb_fail(QB_ERUNTIME, "file type %s needs format '%s', which this build does not register", mix->name, mix->base);
    if (policy && ro == OUTPUT) {
        int falcon = m->arch && strcmp(m->arch, "falcon") == 0;
        if (strcmp(mix->name, "MXFP4_MOE") == 0 || falcon || ne[0] % base->block_elems != 0) type = "q8_0";
        else if (strcmp(mix->base, "q8_0") != 0) type = "q6_K";
    } else if (policy && strcmp(mix->name, "MXFP4_MOE") == 0) {
        type = ne[2] > 1 ? "mxfp4" : "q8_0";
    } else if (policy) {
        for (size_t k = 0; k < sizeof choose / sizeof choose[0]; k++)
            if (matches(&choose[k], mix, ro, m, layer, n, type)) {
                type = choose[k].type;
                break;
            }
        for (size_t k = 0; k < sizeof adjust / sizeof adjust[0]; k++)
            if (matches(&adjust[k], mix, ro, m, layer, n, type)) type = adjust[k].type;
    }
    const qb_format *f = qb_format_find(type);
    if (!f) return qb_fail(QB_ERUNTIME, "file type %s needs format '%s', which this build does not register", mix->name, type);
    *out = qb_mix_fallback(f, ne[0]);
    return QB_OK;
}

const qb_format *qb_mix_fallback(const qb_format *f, int64_t ne0) {
    for (size_t k = 0; ne0 % f->block_elems != 0 && k < sizeof fallback / sizeof fallback[0]; k++)
        if (strcmp(fallback[k].type, f->name) == 0) f = qb_format_find(fallback[k].fallback);
    return ne0 % f->block_elems != 0 ? qb_format_find("f16") : f;
}

int32_t qb_mix_file_type_of(const qb_format *f) {
    static const struct {
        const char *format;
        int32_t ftype;
    } ftypes[] = {{"f32", 0},     {"f16", 1},     {"bf16", 32},   {"q4_0", 2},    {"q4_1", 3},    {"q5_0", 8},
                  {"q5_1", 9},    {"q8_0", 7},    {"q2_K", 10},   {"q3_K", 12},   {"q4_K", 15},   {"q5_K", 17},
                  {"q6_K", 18},   {"iq4_nl", 25}, {"iq4_xs", 30}, {"tq1_0", 36},  {"tq2_0", 37},  {"mxfp4", 38},
                  {"nvfp4", 39},  {"q1_0", 40},   {"q2_0", 41}};
    /* by GGUF type, so a variant written in a standard layout (q4_0_opt) is labelled as what
     * llama.cpp will load it as */
    for (size_t k = 0; k < sizeof ftypes / sizeof ftypes[0]; k++) {
        const qb_format *std = qb_format_find(ftypes[k].format);
        if (std && std->gguf_type == f->gguf_type) return ftypes[k].ftype;
    }
    return -1;
}
