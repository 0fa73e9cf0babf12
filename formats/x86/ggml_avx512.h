/* ggml_avx512.h — the AVX-512 GEMV dots of GGUF block types, and table dequantizers (ggml_avx512.c). */
#ifndef QB_GGML_AVX512_H
#define QB_GGML_AVX512_H

#include "../format.h"

/* Overrides vec_dot of q4_K, q5_K, q6_K, q4_0, q8_0 and iq4_nl, and dequantize of q4_K, q4_0
 * and iq4_nl, with the AVX-512 kernels. ggml_avx512.c is compiled for AVX512F/BW/VL/VNNI
 * (with AVX2, FMA and F16C), so qb_formats_init_x86 (float_x86.c) calls this only on a CPU that reports all of
 * them, after qb_formats_init_x86_ggml, whose quantize paths and other dequantize paths stay
 * in place. iq4_nl's two-row dot also has an AVX512_VBMI form, chosen here when the CPU has
 * it and QB_NO_VBMI is unset. */
void qb_formats_init_x86_avx512(qb_format *const *table, int n);

#endif
