/* test_imatrix.c — llama.cpp's two imatrix file forms read back as importance = mean squared
 * activation (datasets/imatrix.h):
 *  - a legacy .dat built byte by byte in llama-imatrix's layout, values stored as
 *    (Σx²/count)·ncall, must come back divided by ncall, with the trailing chunk count and
 *    dataset name;
 *  - a GGUF imatrix (NAME.in_sum2 [n_per_row, n_mat], NAME.counts [1, n_mat]) must give
 *    in_sum2/counts per expert, and 1 for an expert with count 0 (llama-quantize's rule);
 *  - qb_imatrix_save writes llama-imatrix's GGUF layout (general.type, imatrix.* keys, entries
 *    in name order as NAME.in_sum2 [n_per_row, n_mat] = importance·count and NAME.counts
 *    [1, n_mat], F32) and the reader gets the importance back within float rounding, counts,
 *    chunks, chunk size and dataset exactly; a legacy .dat read and saved keeps its importance;
 *  - truncations, implausible counts, negative or NaN importance and a counts tensor of the
 *    wrong size are refused with one line. */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/qbtest.h"
#include "datasets/gguf.h"
#include "datasets/imatrix.h"

typedef struct buf {
    unsigned char b[4096];
    size_t n;
} buf;

static void put(buf *b, const void *p, size_t n) {
    memcpy(b->b + b->n, p, n);
    b->n += n;
}
static void put_i32(buf *b, int32_t v) { put(b, &v, 4); }

static void dat_entry(buf *b, const char *name, int32_t ncall, const float *v, int32_t nval) {
    put_i32(b, (int32_t)strlen(name));
    put(b, name, strlen(name));
    put_i32(b, ncall);
    put_i32(b, nval);
    put(b, v, 4 * (size_t)nval);
}

static const char *seed_dir;

static void test_dat(void) {
    buf b = {.n = 0};
    float a[4] = {10, 20, 0, 40}, c[2] = {3, 6};
    put_i32(&b, 2);
    dat_entry(&b, "blk.0.attn_q.weight", 10, a, 4);
    dat_entry(&b, "output.weight", 3, c, 2);
    put_i32(&b, 12);
    put_i32(&b, 9);
    put(&b, "wiki.text", 9);
    qb_imatrix im;
    CHECK(qb_imatrix_load_dat_mem(&im, b.b, b.n, "t.dat") == QB_OK, "%s", qb_errmsg());
    if (seed_dir) { /* a valid file seeds the fuzz target (cmake/fuzz.cmake) */
        char cmd[600], path[600];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", seed_dir);
        snprintf(path, sizeof path, "%s/valid.dat", seed_dir);
        FILE *f = system(cmd) == 0 ? fopen(path, "wb") : NULL;
        if (f) fwrite(b.b, 1, b.n, f), fclose(f);
    }
    const qb_imatrix_entry *e = qb_imatrix_find(&im, "blk.0.attn_q.weight");
    CHECK(e && e->n_per_row == 4 && e->n_mat == 1 && e->values[0] == 1.0f && e->values[1] == 2.0f && e->values[2] == 0.0f &&
              e->values[3] == 4.0f, "entry 0 divided by ncall");
    e = qb_imatrix_find(&im, "output.weight");
    CHECK(e && e->values[0] == 1.0f && e->values[1] == 2.0f, "entry 1");
    CHECK(im.chunks == 12 && im.dataset && strcmp(im.dataset, "wiki.text") == 0, "trailer: %lld %s", (long long)im.chunks,
          im.dataset ? im.dataset : "?");
    qb_imatrix_free(&im);

    for (size_t cut = 0; cut < 4 + 4 + 19 + 8 + 16; cut++) { /* every cut inside the first entry */
        unsigned char *c2 = malloc(cut ? cut : 1);
        memcpy(c2, b.b, cut);
        qb_status st = qb_imatrix_load_dat_mem(&im, c2, cut, "t.dat");
        CHECK_LIMITED(st == QB_EINPUT && strstr(qb_errmsg(), "t.dat"), "cut %zu: %d %s", cut, st, qb_errmsg());
        if (!st) qb_imatrix_free(&im);
        free(c2);
    }
    buf bad = {.n = 0};
    float neg[2] = {1, -1};
    put_i32(&bad, 1);
    dat_entry(&bad, "w", 1, neg, 2);
    CHECK(qb_imatrix_load_dat_mem(&im, bad.b, bad.n, "n.dat") == QB_EINPUT && strstr(qb_errmsg(), "value 1 of 'w'") == NULL &&
              strstr(qb_errmsg(), "importance 1 of 'w' is -1"), "%s", qb_errmsg());
    bad.n = 0;
    put_i32(&bad, 1000000);
    CHECK(qb_imatrix_load_dat_mem(&im, bad.b, 8, "h.dat") == QB_EINPUT && strstr(qb_errmsg(), "implausible"), "%s", qb_errmsg());
}

static void test_gguf_form(void) {
    char path[] = "/tmp/qb_imatrix_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    qb_gguf_writer w;
    CHECK(qb_gguf_writer_open(&w, path, 0) == QB_OK, "%s", qb_errmsg());
    qb_gguf_writer_set_string(&w, "general.type", "imatrix");
    const char *ds[] = {"calib.txt"};
    qb_gguf_writer_set_string_array(&w, "imatrix.datasets", ds, NULL, 1);
    qb_gguf_writer_set_u32(&w, "imatrix.chunk_count", 7);
    /* dense: 3 columns; experts: 2 columns × 2 experts, the second unused */
    float s0[3] = {2, 4, 6}, c0[1] = {2}, s1[4] = {1, 3, 5, 7}, c1[2] = {4, 0};
    int64_t ne_s0[2] = {3, 1}, ne_c0[2] = {1, 1}, ne_s1[2] = {2, 2}, ne_c1[2] = {1, 2};
    qb_gguf_writer_add_tensor(&w, "blk.0.ffn_up.weight.in_sum2", 2, ne_s0, 0);
    qb_gguf_writer_add_tensor(&w, "blk.0.ffn_up.weight.counts", 2, ne_c0, 0);
    qb_gguf_writer_add_tensor(&w, "blk.0.ffn_up_exps.weight.in_sum2", 2, ne_s1, 0);
    qb_gguf_writer_add_tensor(&w, "blk.0.ffn_up_exps.weight.counts", 2, ne_c1, 0);
    qb_gguf_writer_write_tensor(&w, 0, s0, sizeof s0);
    qb_gguf_writer_write_tensor(&w, 1, c0, sizeof c0);
    qb_gguf_writer_write_tensor(&w, 2, s1, sizeof s1);
    qb_gguf_writer_write_tensor(&w, 3, c1, sizeof c1);
    CHECK(qb_gguf_writer_finish(&w) == QB_OK, "%s", qb_errmsg());
    qb_imatrix im;
    CHECK(qb_imatrix_load(&im, path) == QB_OK, "%s", qb_errmsg());
    const qb_imatrix_entry *e = qb_imatrix_find(&im, "blk.0.ffn_up.weight");
    CHECK(e && e->n_per_row == 3 && e->n_mat == 1 && e->values[0] == 1 && e->values[1] == 2 && e->values[2] == 3, "dense");
    e = qb_imatrix_find(&im, "blk.0.ffn_up_exps.weight");
    CHECK(e && e->n_per_row == 2 && e->n_mat == 2 && e->values[0] == 0.25f && e->values[1] == 0.75f && e->values[2] == 1 &&
              e->values[3] == 1, "experts: unused expert gets 1");
    CHECK(im.chunks == 7 && im.dataset && strcmp(im.dataset, "calib.txt") == 0, "keys");
    qb_imatrix_free(&im);

    CHECK(qb_gguf_writer_open(&w, path, 0) == QB_OK, "%s", qb_errmsg());
    int64_t ne_bad[2] = {1, 3};
    float c3[3] = {1, 1, 1};
    qb_gguf_writer_add_tensor(&w, "x.in_sum2", 2, ne_s0, 0);
    qb_gguf_writer_add_tensor(&w, "x.counts", 2, ne_bad, 0);
    qb_gguf_writer_write_tensor(&w, 0, s0, sizeof s0);
    qb_gguf_writer_write_tensor(&w, 1, c3, sizeof c3);
    qb_gguf_writer_finish(&w);
    CHECK(qb_imatrix_load(&im, path) == QB_EINPUT && strstr(qb_errmsg(), "'x.in_sum2' needs an F32 companion"), "%s", qb_errmsg());
    unlink(path);
}

static void test_roundtrip(void) {
    char path[] = "/tmp/qb_imatrix_rt_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    qb_imatrix im = {0}, back;
    /* added out of name order: the file must list them sorted, as llama-imatrix does */
    qb_imatrix_entry *e = qb_imatrix_add(&im, "blk.1.ffn_down.weight", 5, 1);
    for (int j = 0; j < 5; j++) e->values[j] = 0.1f * (float)(j + 1) / 3.0f;
    e->counts[0] = 1536;
    e = qb_imatrix_add(&im, "blk.0.ffn_up_exps.weight", 3, 2);
    for (int j = 0; j < 6; j++) e->values[j] = j < 3 ? 1.7f * (float)j + 0.01f : 1.0f;
    e->counts[0] = 7, e->counts[1] = 0; /* the second expert unused: read back as 1 */
    im.dataset = strdup("wiki.train.raw");
    im.chunks = 3, im.chunk_size = 512;
    CHECK(qb_imatrix_save(&im, path) == QB_OK, "%s", qb_errmsg());

    qb_gguf g;
    CHECK(qb_gguf_open(&g, path) == QB_OK, "%s", qb_errmsg());
    static const char *const names[] = {"blk.0.ffn_up_exps.weight.in_sum2", "blk.0.ffn_up_exps.weight.counts", "blk.1.ffn_down.weight.in_sum2",
                                        "blk.1.ffn_down.weight.counts"};
    static const int64_t ne[4][2] = {{3, 2}, {1, 2}, {5, 1}, {1, 1}};
    CHECK(g.n_tensors == 4, "4 tensors (got %llu)", (unsigned long long)g.n_tensors);
    for (uint64_t i = 0; i < g.n_tensors && i < 4; i++)
        CHECK(strcmp(g.tensors[i].name, names[i]) == 0 && g.tensors[i].type == 0 && g.tensors[i].n_dims == 2 && g.tensors[i].ne[0] == ne[i][0] &&
                  g.tensors[i].ne[1] == ne[i][1], "tensor %llu is %s F32 [%lld, %lld] (got %s)", (unsigned long long)i, names[i], (long long)ne[i][0],
              (long long)ne[i][1], g.tensors[i].name);
    const char *ty;
    uint64_t len;
    uint32_t u;
    CHECK(qb_gguf_get_string(&g, "general.type", &ty, &len) == QB_OK && len == 7 && memcmp(ty, "imatrix", 7) == 0, "general.type");
    CHECK(qb_gguf_get_u32(&g, "imatrix.chunk_size", &u) == QB_OK && u == 512, "imatrix.chunk_size");
    float sum;
    memcpy(&sum, (const char *)g.tensors[2].data + 4, 4);
    CHECK(sum == im.e[0].values[1] * 1536.0f, "in_sum2 = importance·count (%g)", (double)sum);
    qb_gguf_close(&g);

    CHECK(qb_imatrix_load(&back, path) == QB_OK, "%s", qb_errmsg());
    CHECK(back.n == 2 && back.chunks == 3 && back.chunk_size == 512 && back.dataset && strcmp(back.dataset, "wiki.train.raw") == 0, "keys back");
    for (int i = 0; i < im.n; i++) {
        const qb_imatrix_entry *a = &im.e[i], *b = qb_imatrix_find(&back, a->name);
        CHECK(b && b->n_per_row == a->n_per_row && b->n_mat == a->n_mat, "%s back", a->name);
        if (!b) continue;
        for (int64_t m = 0; m < a->n_mat; m++) {
            CHECK(b->counts[m] == a->counts[m], "%s counts[%lld]", a->name, (long long)m);
            for (int64_t j = 0; j < a->n_per_row; j++) {
                float x = a->values[m * a->n_per_row + j], y = b->values[m * a->n_per_row + j];
                CHECK(fabsf(x - y) <= 2.5e-7f * fabsf(x), "%s [%lld][%lld]: %.9g back as %.9g", a->name, (long long)m, (long long)j, (double)x, (double)y);
            }
        }
    }
    qb_imatrix_free(&back);
    qb_imatrix_free(&im);

    /* a legacy .dat read, then saved as GGUF, keeps its importance */
    buf b = {.n = 0};
    float v[3] = {6, 9, 12};
    put_i32(&b, 1);
    dat_entry(&b, "blk.0.attn_q.weight", 3, v, 3);
    CHECK(qb_imatrix_load_dat_mem(&im, b.b, b.n, "mem.dat") == QB_OK, "%s", qb_errmsg());
    CHECK(qb_imatrix_save(&im, path) == QB_OK, "%s", qb_errmsg());
    CHECK(qb_imatrix_load(&back, path) == QB_OK, "%s", qb_errmsg());
    CHECK(back.n == 1 && back.e[0].values[0] == 2 && back.e[0].values[1] == 3 && back.e[0].values[2] == 4, ".dat → GGUF keeps 2, 3, 4");
    qb_imatrix_free(&back);
    qb_imatrix_free(&im);
    unlink(path);
}

int main(int argc, char **argv) {
    seed_dir = argc > 1 ? argv[1] : NULL;
    test_dat();
    test_gguf_form();
    test_roundtrip();
    return qbt_finish();
}
