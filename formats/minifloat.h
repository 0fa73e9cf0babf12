/* minifloat.h — scalar conversions between fp32 and the narrow float formats of FORMATS.md
 * §2 (OCP FP8 E4M3FN / E5M2, OCP MX FP6 E3M2 / E2M3, FP4 E2M1) and the scale formats E8M0
 * (§2.3) and UE4M3 (§2.4). Encoding rounds to nearest even, subnormals included; overflow
 * (and ±Inf input) follows an explicit mode:
 *   QB_MF_SATURATE  → ±max finite (OCP "saturating", PTX .satfinite);
 *   QB_MF_NONSAT    → ±Inf where the format has Inf (E5M2), else the NaN code where it has
 *                     one (E4M3FN: 0x7F|sign), else ±max finite (FP6/FP4 have neither).
 * QB_MF_NONSAT is exactly ml_dtypes' plain astype (float8_e4m3fn, float8_e5m2,
 * float6_e3m2fn, float6_e2m3fn, float4_e2m1fn); formats/tests/oracle_minifloat.py checks it.
 * NaN input gives the format's NaN code with the input's sign (E4M3 0x7F, E5M2 0x7E as
 * ml_dtypes), or +0 for the formats without NaN (callers reject NaN before encoding).
 * Decoding is a table lookup (tables built once by qb_mf_init, thread-safe). Codes are
 * right-aligned in a byte: sign bit = bit (e+m). */
#ifndef QB_MINIFLOAT_H
#define QB_MINIFLOAT_H

#include <stdint.h>

typedef enum { QB_MF_E4M3, QB_MF_E5M2, QB_MF_E3M2, QB_MF_E2M3, QB_MF_E2M1, QB_MF_NKINDS } qb_mf_kind;
typedef enum { QB_MF_NONSAT = 0, QB_MF_SATURATE = 1 } qb_mf_overflow;

typedef struct qb_mf_spec {
    const char *name;
    int ebits, mbits, bias;
    uint8_t max_code;   /* largest finite magnitude code */
    float max_finite;
    int emax;           /* exponent of the largest binade (FORMATS.md §3.1 emax_elem) */
} qb_mf_spec;

void qb_mf_init(void);
const qb_mf_spec *qb_mf_spec_of(qb_mf_kind k);
uint8_t qb_mf_encode(qb_mf_kind k, float x, qb_mf_overflow ov);
/* Lookup tables, valid after qb_mf_init(): index = code (only the low 1+e+m bits used). */
extern float qb_mf_lut[QB_MF_NKINDS][256];
extern float qb_e8m0_lut[256];  /* 2^(E−127), E = 0 is the fp32 subnormal 2^-127; 0xFF = NaN */
static inline float qb_mf_decode(qb_mf_kind k, uint8_t c) { return qb_mf_lut[k][c]; }
static inline float qb_e8m0_decode(uint8_t e) { return qb_e8m0_lut[e]; }
/* UE4M3 (NVFP4 block scale): E4M3 with the sign bit ignored on decode; encode saturates. */
static inline float qb_ue4m3_decode(uint8_t c) { return qb_mf_lut[QB_MF_E4M3][c & 0x7f]; }
uint8_t qb_ue4m3_encode(float x);
/* vec_dot of fp8_e4m3_pc / fp8_e4m3_pt rows ([s fp32][cols E4M3 codes] each), minifloat.c. */
float qb_e4m3_scaled_dot(const void *w_row, const void *act_row, int64_t cols);

#endif
