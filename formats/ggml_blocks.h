/* ggml_blocks.h — the block layouts of the GGUF types (ggml's ggml-common.h, FORMATS.md §5),
 * defined once and shared by the reference modules (ggml_legacy.c, ggml_k.c, ggml_iq.c,
 * ggml_misc.c) and the SIMD fast paths (x86/ggml_x86.c). Each layout is a typedef plus a
 * static check of its size (no padding anywhere); the OFFSET/SIZE tables and element maps
 * sit beside each module's code. All fields are little-endian; uint16_t d/m/s/dmin fields
 * hold IEEE fp16 bits, q8_K's d is fp32. */
#ifndef QB_GGML_BLOCKS_H
#define QB_GGML_BLOCKS_H

#include <stdint.h>

/* ---- legacy 32-element blocks (ggml_legacy.c) ------------------------------------------ */
typedef struct { uint16_t d; uint8_t qs[16]; } block_q4_0;
typedef struct { uint16_t d, m; uint8_t qs[16]; } block_q4_1;
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } block_q5_0;
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; } block_q5_1;
typedef struct { uint16_t d; int8_t qs[32]; } block_q8_0;
typedef struct { uint16_t d, s; int8_t qs[32]; } block_q8_1;
_Static_assert(sizeof(block_q4_0) == 18, "q4_0 block");
_Static_assert(sizeof(block_q4_1) == 20, "q4_1 block");
_Static_assert(sizeof(block_q5_0) == 22, "q5_0 block");
_Static_assert(sizeof(block_q5_1) == 24, "q5_1 block");
_Static_assert(sizeof(block_q8_0) == 34, "q8_0 block");
_Static_assert(sizeof(block_q8_1) == 36, "q8_1 block");

/* ---- K-quant 256-element super-blocks (ggml_k.c) ----------------------------------------- */
typedef struct { uint8_t scales[16], qs[64]; uint16_t d, dmin; } block_q2_K;
typedef struct { uint8_t hmask[32], qs[64], scales[12]; uint16_t d; } block_q3_K;
typedef struct { uint16_t d, dmin; uint8_t scales[12], qs[128]; } block_q4_K;
typedef struct { uint16_t d, dmin; uint8_t scales[12], qh[32], qs[128]; } block_q5_K;
typedef struct { uint8_t ql[128], qh[64]; int8_t scales[16]; uint16_t d; } block_q6_K;
typedef struct { float d; int8_t qs[256]; int16_t bsums[16]; } block_q8_K;
_Static_assert(sizeof(block_q2_K) == 84, "q2_K block");
_Static_assert(sizeof(block_q3_K) == 110, "q3_K block");
_Static_assert(sizeof(block_q4_K) == 144, "q4_K block");
_Static_assert(sizeof(block_q5_K) == 176, "q5_K block");
_Static_assert(sizeof(block_q6_K) == 210, "q6_K block");
_Static_assert(sizeof(block_q8_K) == 292, "q8_K block");

/* ---- non-linear 4-bit codebook types (ggml_iq.c) ----------------------------------------- */
typedef struct { uint16_t d; uint8_t qs[16]; } block_iq4_nl;
typedef struct { uint16_t d; uint16_t scales_h; uint8_t scales_l[4]; uint8_t qs[128]; } block_iq4_xs;
_Static_assert(sizeof(block_iq4_nl) == 18, "iq4_nl block");
_Static_assert(sizeof(block_iq4_xs) == 136, "iq4_xs block");

/* ggml's kvalues_iq4nl: the 16 codebook values of iq4_nl and iq4_xs, denser near zero. */
static const int8_t qb_kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/* ---- ternary, FP4 and 1/2-bit types (ggml_misc.c) ---------------------------------------- */
typedef struct { uint8_t qs[48]; uint8_t qh[4]; uint16_t d; } block_tq1_0;
typedef struct { uint8_t qs[64]; uint16_t d; } block_tq2_0;
typedef struct { uint8_t e; uint8_t qs[16]; } block_mxfp4;
typedef struct { uint8_t d[4]; uint8_t qs[32]; } block_nvfp4;
typedef struct { uint16_t d; uint8_t qs[16]; } block_q1_0;
typedef struct { uint16_t d; uint8_t qs[16]; } block_q2_0;
_Static_assert(sizeof(block_tq1_0) == 54, "tq1_0 block");
_Static_assert(sizeof(block_tq2_0) == 66, "tq2_0 block");
_Static_assert(sizeof(block_mxfp4) == 17, "mxfp4 block");
_Static_assert(sizeof(block_nvfp4) == 36, "nvfp4 block");
_Static_assert(sizeof(block_q1_0) == 18, "q1_0 block");
_Static_assert(sizeof(block_q2_0) == 18, "q2_0 block");

/* q4_K/q5_K: 8 × (6-bit scale, 6-bit min) in 12 bytes. Levels arrive as uint8 and the top
 * bits are shifted as ggml does, so an out-of-range level packs the same (wrapped) bits. */
static inline void pack_scale_min_k4(const uint8_t ls[8], const uint8_t lm[8], uint8_t s[12]) {
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            s[j] = ls[j];
            s[j + 4] = lm[j];
        } else {
            s[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            s[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            s[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
}

static inline void get_scale_min_k4(int j, const uint8_t *s, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
        *m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

#endif
