/* model.c — see model.h. */
#define _GNU_SOURCE
#include "model.h"

#include <cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- GGUF ------------------------------------------------------------------------------- */

static const qb_format *decoder_for_ggml(uint32_t type) {
    for (int i = 0; i < qb_format_count(); i++)
        if (qb_format_at(i)->gguf_type == (int32_t)type) return qb_format_at(i);
    return NULL;
}

static int64_t kv_int(const qb_gguf *g, const char *arch, const char *suffix, int64_t dflt) {
    char key[256];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int64_t v;
    return qb_gguf_find_kv(g, key) && qb_gguf_get_i64(g, key, &v) == QB_OK ? v : dflt;
}

static qb_status open_gguf(qb_model *m) {
    qb_status st = qb_gguf_open(&m->g, m->path);
    if (st) return st;
    m->is_gguf = 1;
    const char *arch;
    uint64_t len;
    if (qb_gguf_get_string(&m->g, "general.architecture", &arch, &len) != QB_OK)
        return qb_fail(QB_EINPUT, "%s: no general.architecture string; is it a model?", m->path);
    m->arch = qb_malloc(len + 1);
    memcpy(m->arch, arch, len);
    m->arch[len] = '\0';
    m->info.n_layer = (int)kv_int(&m->g, m->arch, "block_count", 0);
    m->info.n_head = (int)kv_int(&m->g, m->arch, "attention.head_count", 0);
    m->info.n_head_kv = (int)kv_int(&m->g, m->arch, "attention.head_count_kv", m->info.n_head);
    m->info.n_expert = (int)kv_int(&m->g, m->arch, "expert_count", 0);
    m->n = (int)m->g.n_tensors;
    m->t = qb_calloc((size_t)m->n, sizeof *m->t);
    for (int i = 0; i < m->n; i++) {
        const qb_gguf_tensor *gt = &m->g.tensors[i];
        qb_model_tensor *t = &m->t[i];
        t->name = qb_strdup(gt->name);
        t->n_dims = gt->n_dims;
        memcpy(t->ne, gt->ne, sizeof t->ne);
        t->ggml_type = gt->type;
        t->decoder = decoder_for_ggml(gt->type);
        t->data = gt->data;
        t->nbytes = gt->nbytes;
    }
    return QB_OK;
}

/* ---- safetensors + config.json ---------------------------------------------------------- */

/* HF → GGUF names of the Llama family: a per-layer table and the globals. */
static const struct {
    const char *hf, *gguf;
} layer_names[] = {
    {"self_attn.q_proj", "attn_q"},       {"self_attn.k_proj", "attn_k"},   {"self_attn.v_proj", "attn_v"},
    {"self_attn.o_proj", "attn_output"},  {"mlp.gate_proj", "ffn_gate"},    {"mlp.up_proj", "ffn_up"},
    {"mlp.down_proj", "ffn_down"},        {"input_layernorm", "attn_norm"}, {"post_attention_layernorm", "ffn_norm"},
}, global_names[] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
};

static const struct {
    const char *hf_class, *arch;
    int permute_qk; /* rotate-half → interleaved RoPE order, as llama.cpp's converter does */
} archs[] = {
    {"LlamaForCausalLM", "llama", 1}, {"MistralForCausalLM", "llama", 1}, {"Qwen2ForCausalLM", "qwen2", 0},
};

/* The GGUF name of an HF tensor, NULL when unknown; *layer_part gets the projection ("q"/"k") */
static char *gguf_name(const char *hf, char *qk) {
    *qk = 0;
    for (size_t i = 0; i < sizeof global_names / sizeof global_names[0]; i++)
        if (strcmp(hf, global_names[i].hf) == 0) return qb_strdup(global_names[i].gguf);
    int layer, n = 0;
    if (sscanf(hf, "model.layers.%d.%n", &layer, &n) != 1 || n == 0) return NULL;
    const char *rest = hf + n;
    for (size_t i = 0; i < sizeof layer_names / sizeof layer_names[0]; i++) {
        size_t k = strlen(layer_names[i].hf);
        if (strncmp(rest, layer_names[i].hf, k) == 0 && rest[k] == '.') {
            if (i < 2) *qk = i == 0 ? 'q' : 'k';
            return qb_asprintf("blk.%d.%s%s", layer, layer_names[i].gguf, rest + k);
        }
    }
    return NULL;
}

static qb_status read_config(qb_model *m, const char *dir, int *permute_qk) {
    char *path = qb_asprintf("%s/config.json", dir);
    qb_map cm;
    qb_status st = qb_map_file(&cm, path);
    if (st) {
        st = qb_fail(QB_EINPUT, "%s: a safetensors model needs its config.json beside it (%s)", m->path, qb_errmsg());
        free(path);
        return st;
    }
    cJSON *c = cJSON_ParseWithLength(cm.data, cm.size);
    qb_unmap(&cm);
    if (!c) {
        st = qb_fail(QB_EINPUT, "%s: not valid JSON", path);
        free(path);
        return st;
    }
    const cJSON *a = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(c, "architectures"), 0);
    for (size_t i = 0; cJSON_IsString(a) && i < sizeof archs / sizeof archs[0]; i++)
        if (strcmp(a->valuestring, archs[i].hf_class) == 0) {
            m->arch = qb_strdup(archs[i].arch);
            *permute_qk = archs[i].permute_qk;
        }
    if (!m->arch)
        st = qb_fail(QB_EINPUT, "%s: architecture %s is not supported (Llama, Mistral, Qwen2); convert it to GGUF with llama.cpp first",
                     path, cJSON_IsString(a) ? a->valuestring : "(none)");
#define NUM(key, dflt) (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(c, key)) ? cJSON_GetObjectItemCaseSensitive(c, key)->valuedouble : (dflt))
    m->info.n_layer = (int)NUM("num_hidden_layers", 0);
    m->info.n_head = (int)NUM("num_attention_heads", 0);
    m->info.n_head_kv = (int)NUM("num_key_value_heads", m->info.n_head);
    m->info.n_expert = (int)NUM("num_local_experts", 0);
    m->dim = (int64_t)NUM("hidden_size", 0);
    m->ffn_dim = (int64_t)NUM("intermediate_size", 0);
    m->vocab = (int64_t)NUM("vocab_size", 0);
    m->ctx_len = (int64_t)NUM("max_position_embeddings", 0);
    m->rope_theta = NUM("rope_theta", 10000.0);
    m->rms_eps = NUM("rms_norm_eps", 1e-5);
#undef NUM
    if (!st && (m->info.n_layer <= 0 || m->info.n_head <= 0 || m->info.n_head_kv <= 0 || m->dim <= 0))
        st = qb_fail(QB_EINPUT, "%s: needs positive num_hidden_layers, num_attention_heads, num_key_value_heads and hidden_size", path);
    cJSON_Delete(c);
    free(path);
    return st;
}

static int is_safetensors_name(const char *n) {
    size_t k = strlen(n);
    return k > 12 && strcmp(n + k - 12, ".safetensors") == 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static qb_status open_safetensors(qb_model *m) {
    struct stat sb;
    char **files = NULL, *dir;
    int nfiles = 0;
    if (stat(m->path, &sb) == 0 && S_ISDIR(sb.st_mode)) { /* a checkpoint directory: every shard */
        dir = qb_strdup(m->path);
        DIR *d = opendir(dir);
        for (struct dirent *e; d && (e = readdir(d));)
            if (is_safetensors_name(e->d_name)) {
                files = qb_realloc(files, sizeof *files * (size_t)(nfiles + 1));
                files[nfiles++] = qb_asprintf("%s/%s", dir, e->d_name);
            }
        if (d) closedir(d);
        qsort(files, (size_t)nfiles, sizeof *files, cmp_str);
    } else {
        const char *slash = strrchr(m->path, '/');
        dir = slash ? qb_asprintf("%.*s", (int)(slash - m->path), m->path) : qb_strdup(".");
        files = qb_malloc(sizeof *files);
        files[nfiles++] = qb_strdup(m->path);
    }
    int permute_qk = 0;
    qb_status st = nfiles ? read_config(m, dir, &permute_qk) : qb_fail(QB_EINPUT, "%s: no *.safetensors files", m->path);
    m->st = qb_calloc((size_t)(nfiles ? nfiles : 1), sizeof *m->st);
    for (int f = 0; f < nfiles && !st; f++) {
        st = qb_safetensors_open(&m->st[f], files[f]);
        if (st) break;
        m->n_st++;
        qb_safetensors *s = &m->st[f];
        m->t = qb_realloc(m->t, sizeof *m->t * (size_t)(m->n + s->n));
        for (int i = 0; i < s->n && !st; i++) {
            const qb_st_tensor *x = &s->tensors[i];
            if (strstr(x->name, "rotary_emb.inv_freq")) continue; /* recomputed from rope_theta */
            char qk;
            char *name = gguf_name(x->name, &qk);
            if (!name) {
                st = qb_fail(QB_EINPUT, "%s: tensor '%s' has no GGUF name for %s models", files[f], qb_show(x->name, strlen(x->name)).s, m->arch);
                break;
            }
            qb_model_tensor *t = &m->t[m->n++];
            memset(t, 0, sizeof *t);
            t->name = name;
            if (x->n_dims < 1 || x->n_dims > 4) {
                st = qb_fail(QB_EINPUT, "%s: tensor '%s' has %d dimensions (1 to 4 supported)", files[f], qb_show(x->name, strlen(x->name)).s, x->n_dims);
                break;
            }
            t->n_dims = (uint32_t)x->n_dims;
            for (int d = 0; d < 4; d++) t->ne[d] = d < x->n_dims ? x->shape[x->n_dims - 1 - d] : 1; /* reversed */
            t->decoder = x->format ? qb_format_find(x->format) : NULL;
            t->ggml_type = t->decoder && t->decoder->gguf_type >= 0 ? (uint32_t)t->decoder->gguf_type : QB_MODEL_NO_TYPE;
            t->data = x->data;
            t->nbytes = x->end - x->begin;
            if (permute_qk && qk)
                t->permute_heads = qk == 'q' ? m->info.n_head : m->info.n_head_kv;
            if (t->permute_heads && (t->ne[1] % (2 * t->permute_heads) != 0)) {
                st = qb_fail(QB_EINPUT, "%s: '%s' has %lld rows, not a multiple of 2 x %d heads", files[f], qb_show(x->name, strlen(x->name)).s,
                             (long long)t->ne[1], t->permute_heads);
                break;
            }
        }
    }
    for (int f = 0; f < nfiles; f++) free(files[f]);
    free(files);
    free(dir);
    return st;
}

/* ---- common ----------------------------------------------------------------------------- */

qb_status qb_model_open(qb_model *m, const char *path) {
    memset(m, 0, sizeof *m);
    m->path = qb_strdup(path);
    size_t n = strlen(path);
    qb_status st = n > 5 && strcmp(path + n - 5, ".gguf") == 0 ? open_gguf(m) : open_safetensors(m);
    if (!st) {
        m->info.arch = m->arch;
        m->info.has_output = 0;
        for (int i = 0; i < m->n; i++) {
            const char *nm = m->t[i].name;
            m->info.has_output |= strcmp(nm, "output.weight") == 0;
            m->info.n_attn_v += strstr(nm, "attn_v.weight") || strstr(nm, "attn_qkv.weight") || strstr(nm, "attn_kv_b.weight");
            m->info.n_ffn_down += strstr(nm, "ffn_down") != NULL;
        }
    }
    if (st) qb_model_close(m);
    return st;
}

void qb_model_close(qb_model *m) {
    for (int i = 0; i < m->n; i++) free(m->t[i].name);
    free(m->t);
    if (m->is_gguf) qb_gguf_close(&m->g);
    for (int f = 0; f < m->n_st; f++) qb_safetensors_close(&m->st[f]);
    free(m->st);
    free(m->arch);
    free(m->path);
    memset(m, 0, sizeof *m);
}

int64_t qb_model_rows(const qb_model_tensor *t) { return t->ne[1] * t->ne[2] * t->ne[3]; }

const char *qb_model_shape(const qb_model_tensor *t, char *buf, size_t n) {
    int k = snprintf(buf, n, "%lld", (long long)t->ne[0]);
    for (uint32_t d = 1; d < t->n_dims && (size_t)k < n; d++) k += snprintf(buf + k, n - (size_t)k, "x%lld", (long long)t->ne[d]);
    return buf;
}

const char *qb_model_type_name(const qb_model_tensor *t) {
    const char *name = t->decoder ? t->decoder->name : "?";
    if (t->ggml_type != QB_MODEL_NO_TYPE) qb_ggml_type_info(t->ggml_type, &name, NULL, NULL);
    return name;
}

static size_t row_bytes(const qb_model_tensor *t) {
    size_t b = 0;
    qb_format_bytes(t->decoder, 1, t->ne[0], &b);
    return b;
}

/* Source row of GGUF row r for un-permuted q/k: GGUF row h·hd + 2i + j holds HF row
 * h·hd + j·hd/2 + i (convert_hf_to_gguf's permute, inverted). */
static int64_t source_row(const qb_model_tensor *t, int64_t r) {
    if (!t->permute_heads) return r;
    int64_t hd = t->ne[1] / t->permute_heads, h = r / hd, k = r % hd;
    return h * hd + (k & 1) * (hd / 2) + k / 2;
}

qb_status qb_model_rows_f32(const qb_model *m, int i, int64_t r0, int64_t nr, float *out) {
    const qb_model_tensor *t = &m->t[i];
    if (!t->decoder) {
        const char *tn = "?";
        if (t->ggml_type != QB_MODEL_NO_TYPE) qb_ggml_type_info(t->ggml_type, &tn, NULL, NULL);
        return qb_fail(QB_EINPUT, "%s: tensor '%s' is stored as %s, which this build cannot decode", m->path, t->name, tn);
    }
    size_t rb = row_bytes(t);
    if (!t->permute_heads) {
        t->decoder->dequantize((const char *)t->data + (size_t)r0 * rb, out, nr, t->ne[0]);
        return QB_OK;
    }
    for (int64_t r = 0; r < nr; r++)
        t->decoder->dequantize((const char *)t->data + (size_t)source_row(t, r0 + r) * rb, out + r * t->ne[0], 1, t->ne[0]);
    return QB_OK;
}

/* MADV_DONTNEED over the whole pages inside [p, p + n) */
static void release_bytes(const void *p, uint64_t n) {
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)p, b = a + (uintptr_t)n;
    a = (a + (uintptr_t)page - 1) & ~((uintptr_t)page - 1); /* only whole pages inside the range */
    b &= ~((uintptr_t)page - 1);
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

void qb_model_release(const qb_model *m, int i, int64_t r0, int64_t nr) {
    const qb_model_tensor *t = &m->t[i];
    if (!t->decoder || t->permute_heads) return; /* permuted reads jump around within the tensor */
    release_bytes((const char *)t->data + r0 * (int64_t)row_bytes(t), (uint64_t)nr * row_bytes(t));
}

void qb_model_release_all(const qb_model *m) {
    for (int i = 0; i < m->n; i++) release_bytes(m->t[i].data, m->t[i].nbytes);
}

qb_status qb_model_write_metadata(const qb_model *m, qb_gguf_writer *w) {
    if (m->is_gguf) return qb_gguf_writer_copy_all_kv(w, &m->g);
    const char *a = m->arch;
    char key[128];
    qb_status st = qb_gguf_writer_set_string(w, "general.architecture", a);
#define SET(fn, suffix, v) \
    if (!st) snprintf(key, sizeof key, "%s.%s", a, suffix), st = fn(w, key, v)
    SET(qb_gguf_writer_set_u32, "block_count", (uint32_t)m->info.n_layer);
    SET(qb_gguf_writer_set_u32, "context_length", (uint32_t)m->ctx_len);
    SET(qb_gguf_writer_set_u32, "embedding_length", (uint32_t)m->dim);
    SET(qb_gguf_writer_set_u32, "feed_forward_length", (uint32_t)m->ffn_dim);
    SET(qb_gguf_writer_set_u32, "attention.head_count", (uint32_t)m->info.n_head);
    SET(qb_gguf_writer_set_u32, "attention.head_count_kv", (uint32_t)m->info.n_head_kv);
    SET(qb_gguf_writer_set_u32, "rope.dimension_count", (uint32_t)(m->dim / m->info.n_head));
    SET(qb_gguf_writer_set_f32, "rope.freq_base", (float)m->rope_theta);
    SET(qb_gguf_writer_set_f32, "attention.layer_norm_rms_epsilon", (float)m->rms_eps);
    SET(qb_gguf_writer_set_u32, "vocab_size", (uint32_t)m->vocab);
#undef SET
    return st;
}
