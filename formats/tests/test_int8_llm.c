/* test_int8_llm.c — the LLM.int8() weight decomposition (formats/intq.c, int8_llm; FORMATS.md
 * §7.5) against expectations computed here from the definition: the flagged columns follow the
 * importance weights (or, without them, the weight columns' absmax), they come back as exactly
 * fp16(x), every other column is within half of its row's int8 step taken over the unflagged
 * columns only, and the size is the closed form 8 + 160/cols + 256/(rows·cols) bits/weight. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/qbtest.h"
#include "datasets/source.h"
#include "formats/format.h"

enum { K = 8, ROWS = 16, COLS = 256 };

static const qb_format *fmt;

/* Quantizes x (ROWS × COLS) with imp, decodes; returns the stored column indices. */
static int roundtrip(const float *x, const float *imp, float *y, uint32_t idx[K]) {
    size_t nb = 0;
    CHECK(qb_format_bytes(fmt, ROWS, COLS, &nb) == QB_OK, "%s", qb_errmsg());
    unsigned char *q = malloc(nb);
    qb_status st = fmt->quantize(x, q, ROWS, COLS, imp);
    CHECK(st == QB_OK, "int8_llm quantize: %s", qb_errmsg());
    fmt->dequantize(q, y, ROWS, COLS);
    memcpy(idx, q, 4 * K);
    free(q);
    return st == QB_OK;
}

/* flagged[c]: the expected set. Checks the stored set, the fp16 columns, the int8 bound. */
static void check_decomposition(const char *what, const float *x, const float *y, const uint32_t idx[K],
                                const int *flagged) {
    int nflag = 0;
    for (int c = 0; c < COLS; c++) nflag += flagged[c];
    int stored = 0, ascending = 1;
    for (int k = 0; k < K; k++) {
        if (idx[k] == 0xFFFFFFFFu) continue;
        stored++;
        CHECK(idx[k] < COLS && flagged[idx[k]], "%s: slot %d holds column %u, not an expected outlier", what, k, idx[k]);
        if (k && idx[k - 1] != 0xFFFFFFFFu) ascending &= idx[k - 1] < idx[k];
    }
    CHECK(stored == nflag && ascending, "%s: %d columns stored (want %d), ascending %d", what, stored, nflag, ascending);
    double worst_ratio = 0;
    for (int r = 0; r < ROWS; r++) {
        double amax = 0; /* the int8 step is set by the unflagged columns only */
        for (int c = 0; c < COLS; c++)
            if (!flagged[c]) amax = fmax(amax, fabs(x[r * COLS + c]));
        for (int c = 0; c < COLS; c++) {
            float xv = x[r * COLS + c], yv = y[r * COLS + c];
            if (flagged[c]) {
                CHECK_LIMITED(yv == qb_f16_to_f32(qb_f32_to_f16(xv)), "%s: outlier [%d,%d] x=%.9g decoded %.9g, not fp16(x)",
                              what, r, c, xv, yv);
            } else {
                double err = fabs((double)xv - yv), bound = amax / 254.0 * (1 + 1e-6) + 0x1p-23 * fabs(xv); /* + d·q in fp32 */
                CHECK_LIMITED(err <= bound, "%s: [%d,%d] x=%.9g y=%.9g err %.3g > amax/254 = %.3g", what, r, c, xv, yv, err,
                              bound);
                if (amax > 0) worst_ratio = fmax(worst_ratio, err / (amax / 254.0));
            }
        }
    }
    printf("  %s: %d outlier columns kept in fp16, worst int8 error %.3f of the half step\n", what, nflag, worst_ratio);
}

int main(void) {
    qb_formats_init();
    fmt = qb_format_find("int8_llm");
    CHECK(fmt != NULL, "int8_llm not registered");
    if (!fmt) return qbt_finish();
    CHECK(fmt->flags & QB_FMT_USES_IMP, "int8_llm must declare QB_FMT_USES_IMP");

    /* bits/weight, closed form */
    const int64_t shapes[][2] = {{1, 1}, {1, 4096}, {7, 33}, {4096, 4096}, {11008, 4096}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        double r = (double)shapes[s][0], c = (double)shapes[s][1];
        double want = 8.0 + 160.0 / c + 256.0 / (r * c);
        CHECK(fabs(qb_format_bpw(fmt, shapes[s][0], shapes[s][1]) - want) < 1e-12, "bpw %lldx%lld = %.9g, want %.9g",
              (long long)shapes[s][0], (long long)shapes[s][1], qb_format_bpw(fmt, shapes[s][0], shapes[s][1]), want);
    }

    qb_rng rng;
    qb_rng_seed(&rng, 7);
    float *x = malloc(sizeof(float) * ROWS * COLS), *y = malloc(sizeof(float) * ROWS * COLS);
    float imp[COLS];
    int flagged[COLS];
    uint32_t idx[K];
    for (int i = 0; i < ROWS * COLS; i++) x[i] = (float)(0.02 * qb_rng_normal(&rng));

    /* (a) imp names 8 hot columns (activation outliers), weights plain: those 8 are kept,
     * whatever the weights hold there — the flag follows the activations. */
    const int hot[K] = {3, 17, 40, 41, 99, 128, 200, 255};
    for (int c = 0; c < COLS; c++) imp[c] = 1.0f + 0.01f * (float)(c % 13), flagged[c] = 0;
    for (int k = 0; k < K; k++) imp[hot[k]] = 40.0f + (float)k, flagged[hot[k]] = 1;
    if (roundtrip(x, imp, y, idx)) check_decomposition("imp names 8 columns", x, y, idx, flagged);

    /* (b) the same weights with 5 weight columns made huge but no activation outliers there:
     * imp still decides; those columns stay int8 and set their rows' steps. */
    for (int r = 0; r < ROWS; r++)
        for (int c = 5; c < 10; c++) x[r * COLS + c] *= 300.0f;
    if (roundtrip(x, imp, y, idx)) check_decomposition("imp over weight magnitude", x, y, idx, flagged);

    /* (c) no imp: the columns with the largest weight absmax are flagged (5..9, then the
     * next three largest columns, computed here). */
    float colmax[COLS];
    for (int c = 0; c < COLS; c++) {
        colmax[c] = 0;
        for (int r = 0; r < ROWS; r++) colmax[c] = fmaxf(colmax[c], fabsf(x[r * COLS + c]));
        flagged[c] = 0;
    }
    for (int k = 0; k < K; k++) {
        int best = -1;
        for (int c = 0; c < COLS; c++)
            if (!flagged[c] && (best < 0 || colmax[c] > colmax[best])) best = c;
        flagged[best] = 1;
    }
    for (int c = 5; c < 10; c++) CHECK(flagged[c], "setup: column %d should be among the largest", c);
    if (roundtrip(x, NULL, y, idx)) check_decomposition("no imp: weight column absmax", x, y, idx, flagged);
    /* and that decomposition beats plain row-wise int8 on the other columns */
    const qb_format *plain = qb_format_find("int8_sym_row");
    if (plain) {
        size_t nb = 0;
        qb_format_bytes(plain, ROWS, COLS, &nb);
        unsigned char *q = malloc(nb);
        float *yp = malloc(sizeof(float) * ROWS * COLS);
        CHECK(plain->quantize(x, q, ROWS, COLS, NULL) == QB_OK, "%s", qb_errmsg());
        plain->dequantize(q, yp, ROWS, COLS);
        double e_llm = 0, e_plain = 0;
        for (int i = 0; i < ROWS * COLS; i++) {
            e_llm += (x[i] - y[i]) * (double)(x[i] - y[i]);
            e_plain += (x[i] - yp[i]) * (double)(x[i] - yp[i]);
        }
        CHECK(e_llm * 100 < e_plain, "int8_llm SSE %.3g not 100x below int8_sym_row %.3g", e_llm, e_plain);
        printf("  outlier weights: SSE int8_llm %.3g vs int8_sym_row %.3g\n", e_llm, e_plain);
        free(q), free(yp);
    }

    /* (d) only 3 columns with a non-zero statistic: 3 slots used, 5 unused */
    for (int c = 0; c < COLS; c++) imp[c] = 0.0f, flagged[c] = 0;
    imp[7] = 2.0f, imp[8] = 0.5f, imp[250] = 9.0f;
    flagged[7] = flagged[8] = flagged[250] = 1;
    if (roundtrip(x, imp, y, idx)) check_decomposition("3 active columns", x, y, idx, flagged);

    /* (e) ties: equal statistics, the lower columns win */
    for (int c = 0; c < COLS; c++) imp[c] = 1.0f, flagged[c] = c < K;
    if (roundtrip(x, imp, y, idx)) check_decomposition("ties to lower index", x, y, idx, flagged);

    /* (f) bad input: a negative or NaN statistic, an outlier beyond fp16, a NaN weight */
    size_t nb = 0;
    qb_format_bytes(fmt, ROWS, COLS, &nb);
    unsigned char *q = malloc(nb);
    imp[12] = -1.0f;
    CHECK(fmt->quantize(x, q, ROWS, COLS, imp) == QB_EINPUT && strstr(qb_errmsg(), "column 12"), "negative imp: %s",
          qb_errmsg());
    imp[12] = NAN;
    CHECK(fmt->quantize(x, q, ROWS, COLS, imp) == QB_EINPUT && strstr(qb_errmsg(), "column 12"), "NaN imp: %s", qb_errmsg());
    imp[12] = 1.0f;
    x[3 * COLS + 2] = 1e5f; /* column 2 is flagged (ties rule), beyond fp16 */
    CHECK(fmt->quantize(x, q, ROWS, COLS, imp) == QB_EINPUT && strstr(qb_errmsg(), "row 3") && strstr(qb_errmsg(), "column 2"),
          "fp16 overflow: %s", qb_errmsg());
    x[3 * COLS + 2] = NAN;
    CHECK(fmt->quantize(x, q, ROWS, COLS, imp) == QB_EINPUT && strstr(qb_errmsg(), "row 3"), "NaN weight: %s", qb_errmsg());
    /* hostile header: column indices past the row are ignored, not written */
    x[3 * COLS + 2] = 0.0f;
    CHECK(fmt->quantize(x, q, ROWS, COLS, NULL) == QB_OK, "%s", qb_errmsg());
    float *y2 = malloc(sizeof(float) * ROWS * COLS);
    memset(q, 0xff, 4 * K); /* every slot unused: plain int8 rows */
    fmt->dequantize(q, y2, ROWS, COLS);
    memset(q, 0x7f, 4 * K); /* indices 0x7f7f7f7f: past the row */
    fmt->dequantize(q, y, ROWS, COLS);
    CHECK(memcmp(y, y2, sizeof(float) * ROWS * COLS) == 0, "indices past the row changed the decoded values");
    free(q), free(y2);
    free(x), free(y);
    return qbt_finish();
}
