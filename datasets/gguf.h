/* gguf.h — GGUF files (FORMATS.md §6): a validating reader over a memory map and a streaming
 * writer.
 *
 * Reader. qb_gguf_open() maps the file and checks every field before using it: magic, version
 * (2 or 3, little-endian), counts (bounded by the bytes that remain), each key-value pair (all 13
 * value types, arrays of any non-array element type), each tensor info (name, n_dims ≤ 4,
 * every ne[i] ≥ 1, element count and byte size without overflow, known ggml type, ne[0] a
 * multiple of the block size, offset a multiple of the alignment), general.alignment (UINT32, a
 * power of two ≤ 1 MiB, default 32), and that every tensor's data lies inside the file and no two
 * tensors overlap. Any violation is QB_EINPUT with one line naming the file, what is wrong and
 * the byte offset. Nothing is copied but key and tensor names: values and tensor data point into
 * the map and stay valid until qb_gguf_close().
 *
 * Decisions where readers differ (each documented at the check in gguf.c):
 *   - Nested arrays (an ARRAY whose element type is ARRAY) are rejected. The spec allows them and
 *     gguf-py reads them (flattened) and can write them, but ggml's gguf.cpp — the reader every
 *     llama.cpp tool uses — refuses the file ("invalid GGUF type 9"), so no usable model has one.
 *   - Tensors may be stored in any order and with gaps (the spec's rule); ggml additionally
 *     demands offset_k = Σ_{i<k} align(nbytes_i). Our writer always produces that layout.
 *   - Keys must be non-empty, unique, ≤ 65535 bytes and free of NUL bytes (any other bytes,
 *     UTF-8 included, are accepted, as ggml does). Tensor names must be non-empty, unique,
 *     ≤ 63 bytes (ggml's GGML_MAX_NAME − 1) and free of NUL bytes. String values may hold any
 *     bytes.
 *   - BOOL values other than 0/1 are accepted and read as true (as ggml does).
 *   - Version 1 (32-bit counts), versions > 3 and big-endian files are refused.
 *
 * Writer. Always writes version 3 in ggml's layout: KVs in insertion order, tensor infos in
 * declaration order, data section aligned, tensors back to back each padded with zeros to the
 * alignment. Metadata and tensor infos are held in memory; tensor data is streamed to the file
 * as it is given, so memory use does not depend on tensor sizes. The file is written under a
 * temporary name and renamed into place by qb_gguf_writer_finish() (common/io.h). */
#ifndef QB_GGUF_H
#define QB_GGUF_H

#include <stdint.h>

#include "../common/io.h"
#include "../common/qb.h"

/* ---- constants ------------------------------------------------------------------------------ */

#define QB_GGUF_MAGIC 0x46554747u /* "GGUF" read as a little-endian uint32 */
#define QB_GGUF_DEFAULT_ALIGNMENT 32
#define QB_GGUF_MAX_ALIGNMENT (1u << 20) /* ggml's limit: larger values are refused */
#define QB_GGUF_MAX_DIMS 4
#define QB_GGUF_MAX_NAME 63     /* bytes in a tensor name (ggml: GGML_MAX_NAME 64 incl. NUL) */
#define QB_GGUF_MAX_KEY 65535   /* bytes in a key (spec) */

/* Metadata value types (the gguf_type enum of the file format). */
enum {
    QB_GGUF_UINT8 = 0,
    QB_GGUF_INT8 = 1,
    QB_GGUF_UINT16 = 2,
    QB_GGUF_INT16 = 3,
    QB_GGUF_UINT32 = 4,
    QB_GGUF_INT32 = 5,
    QB_GGUF_FLOAT32 = 6,
    QB_GGUF_BOOL = 7,
    QB_GGUF_STRING = 8,
    QB_GGUF_ARRAY = 9,
    QB_GGUF_UINT64 = 10,
    QB_GGUF_INT64 = 11,
    QB_GGUF_FLOAT64 = 12,
    QB_GGUF_TYPE_COUNT = 13
};

/* "UINT8" … "FLOAT64" for a value type, "?" for an unknown one. */
const char *qb_gguf_type_name(uint32_t type);

/* ---- ggml tensor types ---------------------------------------------------------------------- */

/* The ggml tensor type ids of FORMATS.md §5.2 (0…42), including those quantbench does not
 * implement (IQ*, Q8_K, …) so their tensors can be sized. Writes the type's name ("Q4_K"),
 * elements per block and bytes per block through the non-NULL pointers. Unknown ids and the
 * removed ones (4, 5, 31–33, 36–38) are QB_EINPUT. */
qb_status qb_ggml_type_info(uint32_t type, const char **name, int *block_elems, int *block_bytes);

/* Bytes of a tensor of `type` with ne[0..n_dims-1] (missing dims count as 1): QB_EINPUT when the
 * type is unknown, n_dims > 4, a dimension is < 1, ne[0] is not a multiple of the block size, or
 * the element count or the byte size would not fit in 63 bits. */
qb_status qb_ggml_nbytes(uint32_t type, uint32_t n_dims, const int64_t *ne, uint64_t *nbytes);

/* ---- reader --------------------------------------------------------------------------------- */

typedef struct qb_gguf_kv {
    char *key;           /* NUL-terminated copy */
    uint32_t type;       /* QB_GGUF_* */
    uint32_t arr_type;   /* element type when type == QB_GGUF_ARRAY, else equal to type */
    uint64_t arr_n;      /* element count when type == QB_GGUF_ARRAY, else 1 */
    const uint8_t *val;  /* the value's bytes in the map, exactly as stored after the type field:
                            scalar: the little-endian value; STRING: uint64 length + bytes;
                            ARRAY: uint32 element type, uint64 count, the elements. Unaligned. */
    uint64_t val_bytes;  /* size of that encoding */
    uint64_t file_offset; /* where this KV (its key) starts in the file */
} qb_gguf_kv;

typedef struct qb_gguf_tensor {
    char *name;         /* NUL-terminated copy */
    uint32_t n_dims;    /* 0…4 */
    int64_t ne[4];      /* ne[0] contiguous (the reverse of a NumPy shape); unused dims are 1 */
    uint32_t type;      /* ggml type id */
    uint64_t offset;    /* relative to the data section, a multiple of the alignment */
    const void *data;   /* reader: into the map; writer: NULL */
    uint64_t nbytes;    /* size of the data */
} qb_gguf_tensor;

typedef struct qb_gguf {
    qb_map map;          /* map.path points at `path` below */
    char *path;          /* as given to open, used in messages */
    int owns_map;        /* 1 when qb_gguf_open mapped the file */
    uint32_t version;    /* 2 or 3 */
    uint64_t alignment;  /* general.alignment or 32 */
    uint64_t data_offset; /* file offset of the data section (aligned end of the tensor infos) */
    uint64_t n_kv, n_tensors;
    qb_gguf_kv *kv;          /* [n_kv], file order */
    qb_gguf_tensor *tensors; /* [n_tensors], file order */
} qb_gguf;

/* Maps and validates `path`. On failure *g needs no close (it is left zeroed). */
qb_status qb_gguf_open(qb_gguf *g, const char *path);
/* The same over bytes already in memory (not copied: they must outlive *g); `name` is used in
 * messages. Used by qb_gguf_open and by the fuzz target. */
qb_status qb_gguf_open_mem(qb_gguf *g, const void *data, uint64_t size, const char *name);
void qb_gguf_close(qb_gguf *g);

/* NULL when absent. */
const qb_gguf_kv *qb_gguf_find_kv(const qb_gguf *g, const char *key);
const qb_gguf_tensor *qb_gguf_find_tensor(const qb_gguf *g, const char *name);

/* Typed getters. Each fails with QB_EINPUT and one line ("model.gguf: key 'x' is INT32, expected
 * UINT32") when the key is missing or has another type; u32/u64/f32/f64/bool/string accept
 * exactly their type, i64 accepts any integer type whose value fits in int64_t. */
qb_status qb_gguf_get_u32(const qb_gguf *g, const char *key, uint32_t *out);
qb_status qb_gguf_get_u64(const qb_gguf *g, const char *key, uint64_t *out);
qb_status qb_gguf_get_i64(const qb_gguf *g, const char *key, int64_t *out);
qb_status qb_gguf_get_f32(const qb_gguf *g, const char *key, float *out);
qb_status qb_gguf_get_f64(const qb_gguf *g, const char *key, double *out);
qb_status qb_gguf_get_bool(const qb_gguf *g, const char *key, int *out);
/* A STRING value: *s points into the map, NOT NUL-terminated, *len bytes (print with "%.*s"). */
qb_status qb_gguf_get_string(const qb_gguf *g, const char *key, const char **s, uint64_t *len);
/* An ARRAY of `elem_type` (not STRING): *elems points at the *n packed little-endian elements in
 * the map (unaligned: read them with memcpy). */
qb_status qb_gguf_get_array(const qb_gguf *g, const char *key, uint32_t elem_type, const void **elems, uint64_t *n);
/* Element i of an ARRAY of STRING (walks the array: O(i); use qb_gguf_kv_next_string to
 * visit them all). Fails when i ≥ the count. */
qb_status qb_gguf_get_array_string(const qb_gguf *g, const char *key, uint64_t i, const char **s, uint64_t *len);
/* Sequential walk over an ARRAY of STRING: start with *cursor = 0; returns 1 and the next element
 * while there is one, then 0. (The reader validated the array, so no bounds can fail here.) */
int qb_gguf_kv_next_string(const qb_gguf_kv *kv, uint64_t *cursor, const char **s, uint64_t *len);

/* ---- writer --------------------------------------------------------------------------------- */

typedef struct qb_gguf_wkv {
    char *key;
    uint32_t type;
    uint8_t *val;       /* encoding as in qb_gguf_kv.val (owned) */
    uint64_t val_bytes;
} qb_gguf_wkv;

typedef struct qb_gguf_writer {
    qb_outfile out;
    char *path;
    uint64_t alignment;
    uint64_t n_kv, cap_kv;
    qb_gguf_wkv *kv;
    uint64_t n_tensors, cap_tensors;
    qb_gguf_tensor *tensors; /* data == NULL; offset/nbytes computed at declaration */
    uint64_t data_size;      /* running Σ align(nbytes) */
    uint64_t pos;            /* bytes written to the file so far */
    uint64_t next;           /* index of the tensor whose data comes next */
    uint64_t next_written;   /* bytes of that tensor written so far */
    int header_done;         /* header, KVs and infos are on disk: no more KVs or tensors */
    int failed;              /* an error happened: only abort (or finish, which aborts) remains */
} qb_gguf_writer;

/* Starts "<path>.tmp.<pid>". alignment 0 means 32; otherwise a power of two ≤ 1 MiB. The
 * header records it as general.alignment (UINT32) whenever it is not 32 or that key was set:
 * the key's value is always made to match the alignment actually used. */
qb_status qb_gguf_writer_open(qb_gguf_writer *w, const char *path, uint64_t alignment);

/* KV setters: a key set again is moved to the end with its new value (ggml's behaviour). They fail
 * (QB_ERUNTIME) once tensor data has started. */
qb_status qb_gguf_writer_copy_kv(qb_gguf_writer *w, const qb_gguf_kv *kv); /* verbatim */
/* Drops a key (no-op when absent); only before tensor data has started. */
void qb_gguf_writer_remove(qb_gguf_writer *w, const char *key);
qb_status qb_gguf_writer_copy_all_kv(qb_gguf_writer *w, const qb_gguf *g);
qb_status qb_gguf_writer_set_u8(qb_gguf_writer *w, const char *key, uint8_t v);
qb_status qb_gguf_writer_set_i8(qb_gguf_writer *w, const char *key, int8_t v);
qb_status qb_gguf_writer_set_u16(qb_gguf_writer *w, const char *key, uint16_t v);
qb_status qb_gguf_writer_set_i16(qb_gguf_writer *w, const char *key, int16_t v);
qb_status qb_gguf_writer_set_u32(qb_gguf_writer *w, const char *key, uint32_t v);
qb_status qb_gguf_writer_set_i32(qb_gguf_writer *w, const char *key, int32_t v);
qb_status qb_gguf_writer_set_f32(qb_gguf_writer *w, const char *key, float v);
qb_status qb_gguf_writer_set_bool(qb_gguf_writer *w, const char *key, int v);
qb_status qb_gguf_writer_set_u64(qb_gguf_writer *w, const char *key, uint64_t v);
qb_status qb_gguf_writer_set_i64(qb_gguf_writer *w, const char *key, int64_t v);
qb_status qb_gguf_writer_set_f64(qb_gguf_writer *w, const char *key, double v);
qb_status qb_gguf_writer_set_string(qb_gguf_writer *w, const char *key, const char *s);
qb_status qb_gguf_writer_set_string_n(qb_gguf_writer *w, const char *key, const char *s, uint64_t len);
/* n strings; lens may be NULL (then each is NUL-terminated). */
qb_status qb_gguf_writer_set_string_array(qb_gguf_writer *w, const char *key, const char *const *s,
                                          const uint64_t *lens, uint64_t n);
/* n elements of a fixed-size elem_type (not STRING or ARRAY), given in host order. */
qb_status qb_gguf_writer_set_array(qb_gguf_writer *w, const char *key, uint32_t elem_type, const void *elems,
                                   uint64_t n);

/* Declares tensor number w->n_tensors (names non-empty, unique, ≤ 63 bytes; shape rules of
 * qb_ggml_nbytes). Its offset is the aligned end of the previous one. */
qb_status qb_gguf_writer_add_tensor(qb_gguf_writer *w, const char *name, uint32_t n_dims, const int64_t *ne,
                                    uint32_t type);
/* Streams the data of tensor `index`, in declaration order. The first call writes the header,
 * KVs and infos. A tensor may be given in several consecutive calls (chunks) whose sizes add up
 * to its nbytes; the padding follows its last byte. */
qb_status qb_gguf_writer_write_tensor(qb_gguf_writer *w, uint64_t index, const void *data, uint64_t nbytes);
/* Checks every declared tensor was written, then flushes, fsyncs and renames into place. Always
 * releases the writer; on failure the temporary file is removed. */
qb_status qb_gguf_writer_finish(qb_gguf_writer *w);
/* Releases the writer and removes the temporary file. Harmless on a zeroed or finished writer. */
void qb_gguf_writer_abort(qb_gguf_writer *w);

#endif
