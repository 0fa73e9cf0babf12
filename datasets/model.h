/* model.h — a model's weights as GGUF-named tensors, whatever file holds them: a GGUF file, or a
 * Hugging Face safetensors checkpoint (with config.json beside it for the architecture).
 *
 * Tensors are read a range of rows at a time (a 2-D view: ne[0] values per row,
 * ne[1]·ne[2]·ne[3] rows), decoded to float32 through the format registry, so a model larger
 * than memory can be quantized or measured with memory bounded by the chunk size. Consumed
 * ranges of the memory map can be released so they stop counting towards resident memory.
 *
 * Safetensors names are mapped to GGUF names for the Llama family (llama, mistral, qwen2);
 * for llama/mistral the q and k projections are un-permuted as llama.cpp's converter does
 * (HF stores them in rotate-half order; GGUF in interleaved order). */
#ifndef QB_MODEL_H
#define QB_MODEL_H

#include <stdint.h>

#include "../common/qb.h"
#include "../formats/format.h"
#include "../formats/mixes.h"
#include "gguf.h"
#include "safetensors.h"

typedef struct qb_model_tensor {
    char *name;                 /* GGUF name */
    uint32_t n_dims;
    int64_t ne[4];              /* ggml order: ne[0] contiguous */
    uint32_t ggml_type;         /* type of the stored data in GGUF terms (copy verbatim), or QB_MODEL_NO_TYPE */
    const qb_format *decoder;   /* registry format that decodes the stored data, or NULL */
    const void *data;
    uint64_t nbytes;
    int permute_heads;          /* > 0: safetensors q/k rows to un-permute in groups of this many heads */
} qb_model_tensor;

#define QB_MODEL_NO_TYPE 0xffffffffu

typedef struct qb_model {
    char *path;
    int is_gguf;
    qb_gguf g;
    qb_safetensors *st; /* safetensors shards (one file, or every *.safetensors of a directory) */
    int n_st;
    int n;
    qb_model_tensor *t;
    char *arch;                 /* general.architecture (gguf) or mapped from config.json */
    qb_mix_model info;          /* what the mix policy needs; info.arch points at arch */
    /* from config.json, for writing GGUF metadata of a safetensors model */
    int64_t ctx_len, dim, ffn_dim, vocab;
    double rope_theta, rms_eps;
} qb_model;

qb_status qb_model_open(qb_model *m, const char *path);
void qb_model_close(qb_model *m);
int64_t qb_model_rows(const qb_model_tensor *t);
/* "4096x11008" (ne order, as llama.cpp prints shapes) into buf. */
const char *qb_model_shape(const qb_model_tensor *t, char *buf, size_t n);
/* The stored type's name: ggml's ("Q4_K", "F16") or the decoding format's, "?" when neither. */
const char *qb_model_type_name(const qb_model_tensor *t);

/* Rows [r0, r0 + nr) of tensor i as float32 (nr · ne[0] values). QB_EINPUT when the stored
 * type has no decoder in this build. */
qb_status qb_model_rows_f32(const qb_model *m, int i, int64_t r0, int64_t nr, float *out);
/* Tells the kernel the stored bytes of those rows are no longer needed (MADV_DONTNEED on
 * the read-only map: they leave the resident set and are read again if touched). */
void qb_model_release(const qb_model *m, int i, int64_t r0, int64_t nr);
/* The same for every tensor's stored bytes, whole: the model's pages leave the resident set
 * (a measurement of what comes next is not charged for what was read before). */
void qb_model_release_all(const qb_model *m);

/* Writes the model's metadata: every KV of a GGUF input verbatim; for safetensors, the
 * llama-family keys derived from config.json. */
qb_status qb_model_write_metadata(const qb_model *m, qb_gguf_writer *w);

#endif
