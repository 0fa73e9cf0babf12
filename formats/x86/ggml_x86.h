/* ggml_x86.h — what ggml_avx512.c's q3_K quantize takes from ggml_x86.c's: both search the
 * sub-block scales their own way, then share these steps; the AVX2 path serves the inputs the
 * AVX-512 one does not take (an imatrix, a row that is not whole super-blocks). */
#ifndef QB_GGML_X86_H
#define QB_GGML_X86_H

#include "../format.h"
#include "../ggml_blocks.h"

/* qb_ggml_q3_K_scales without an imatrix: y's sub-scales and d from the 16 sub-block scales,
 * the same bytes, in vectors. */
void qb_x86_q3_K_scales(const float scales[16], block_q3_K *y);

/* The levels of the super-block xb under y's stored scales (hmask and qs), as ggml_k.c's
 * q3_K_block: clamp(nearest_int(x/d)) per element, and where a stored sub-scale is 0 the
 * reference search's levels (qb_ggml_q3_K_group; ib: the super-block's imatrix or NULL). */
void qb_x86_q3_K_levels(const float *xb, const float *ib, block_q3_K *y);

/* Whether all n values are finite (the quantize paths leave the others to the reference,
 * which reports them). */
int qb_x86_all_finite(const float *x, int64_t n);

/* The AVX2 q3_K quantize (a qb_format quantize path). */
qb_status qb_x86_q3_K_quantize_avx2(const float *x, void *q, int64_t rows, int64_t cols, const float *imp);

#endif
