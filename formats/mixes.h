/* mixes.h — llama.cpp's file types (llama_ftype: Q4_K_M, Q3_K_S, …) as per-tensor type
 * policies: which GGUF type each tensor of a model gets (FORMATS.md §6.3–6.4, after
 * llama.cpp's llama_tensor_get_type at commit 8784689f). The policy lives in data tables in
 * mixes.c; this interface only asks them. */
#ifndef QB_MIXES_H
#define QB_MIXES_H

#include <stdint.h>

#include "format.h"

typedef struct qb_mix {
    const char *name;   /* "Q4_K_M", as llama-quantize spells it */
    uint32_t file_type; /* general.file_type (llama_ftype) */
    const char *base;   /* registry name of the default tensor type, e.g. "q4_K" */
} qb_mix;

/* What the policy needs to know about the model (from GGUF metadata). */
typedef struct qb_mix_model {
    const char *arch;  /* general.architecture */
    int n_layer;       /* {arch}.block_count */
    int n_head, n_head_kv;
    int n_expert;      /* 0 or 1 for dense models */
    int n_attn_v;      /* tensors whose name contains attn_v.weight, attn_qkv.weight or attn_kv_b.weight */
    int n_ffn_down;    /* tensors whose name contains ffn_down */
    int has_output;    /* a separate output.weight exists (else token_embd is tied to it) */
    int has_imatrix;
} qb_mix_model;

/* Case-insensitive lookup; QB_EUSAGE listing the valid names when unknown. */
qb_status qb_mix_require(const char *name, const qb_mix **out);
int qb_mix_count(void);
const qb_mix *qb_mix_at(int i);

/* 1 when llama-quantize would quantize this tensor at all (2-D+ weights, not norms, gates of
 * experts, position embeddings …), else 0: such tensors are copied unchanged. */
int qb_mix_quantizable(const char *name, int n_dims);

/* The registry format for tensor `name` of shape ne (ne[0] = row length, ne[2] = experts)
 * under `mix`, including llama.cpp's fallbacks for rows that do not divide the block. Only
 * for quantizable tensors. QB_EINPUT when the tensor's layer cannot be determined. */
qb_status qb_mix_tensor_type(const qb_mix *mix, const qb_mix_model *m, const char *name, const int64_t ne[4],
                             const qb_format **out);

/* llama.cpp's fallback for a row length f's block does not divide (q4_K → q5_0, …, then f16);
 * f itself when it fits. */
const qb_format *qb_mix_fallback(const qb_format *f, int64_t ne0);

/* general.file_type (llama_ftype) of a file whose tensors are mostly format f, or -1 when
 * llama.cpp has none for it. */
int32_t qb_mix_file_type_of(const qb_format *f);

#endif
