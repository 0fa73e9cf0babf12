/* intq.c — linear integer formats (FORMATS.md §8).
 *
 * int8_sym_row: symmetric int8, one fp32 scale per row (per output channel), the weight
 * half of LLM.int8()/SmoothQuant W8A8. d = amax(row)/127, q = RNE(x·127/amax) clamped to
 * [−127, 127], x̂ = d·q; an all-zero row stores d = 0. Zero is exact; |x − x̂| ≤ d/2.
 *
 * Row layout:
 *   OFFSET  SIZE  DESCRIPTION
 *   0       4     d, fp32 little-endian
 *   4       cols  q[0..cols), int8
 */
#include <math.h>
#include <string.h>

#include "format.h"

static qb_status int8_sym_row_quantize(const float *x, void *q, int64_t rows, int64_t cols, const float *imp) {
    (void)imp;
    qb_status st = qb_check_finite(x, rows, cols, "int8_sym_row");
    if (st) return st;
    uint8_t *out = q;
    for (int64_t r = 0; r < rows; r++, out += 4 + cols) {
        const float *xr = x + r * cols;
        float amax = 0.0f;
        for (int64_t c = 0; c < cols; c++) amax = fmaxf(amax, fabsf(xr[c]));
        float d = amax / 127.0f, id = amax > 0.0f ? 127.0f / amax : 0.0f;
        memcpy(out, &d, 4);
        int8_t *qr = (int8_t *)(out + 4);
        for (int64_t c = 0; c < cols; c++) {
            float v = nearbyintf(xr[c] * id);
            qr[c] = (int8_t)(v > 127.0f ? 127 : v < -127.0f ? -127 : (int)v);
        }
    }
    return QB_OK;
}

static void int8_sym_row_dequantize(const void *q, float *y, int64_t rows, int64_t cols) {
    const uint8_t *in = q;
    for (int64_t r = 0; r < rows; r++, in += 4 + cols) {
        float d;
        memcpy(&d, in, 4);
        const int8_t *qr = (const int8_t *)(in + 4);
        for (int64_t c = 0; c < cols; c++) y[r * cols + c] = d * (float)qr[c];
    }
}

qb_format qb_format_int8_sym_row = {
    .name = "int8_sym_row", .family = "int",
    .description = "int8 symmetric [-127,127], fp32 absmax scale per row (W8A8 weights)",
    .block_elems = 1, .block_bytes = 1, .row_extra_bytes = 4, .gguf_type = -1,
    .err_block = 1.0 / 254.0,
    .quantize_ref = int8_sym_row_quantize, .dequantize_ref = int8_sym_row_dequantize,
};
