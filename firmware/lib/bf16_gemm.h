/* Software BF16 GEMM on the cores (RV32I: no FPU, no multiplier): the baseline against the
 * tensor unit, bit-exact with its MATMUL with fp32 accumulation (sim/golden/gemm.py). */
#ifndef BF16_GEMM_H
#define BF16_GEMM_H

#include <stdint.h>

/* z = x w: x m x k, w k x n, z m x n, row-major BF16 bit patterns with row strides in BYTES
 * (like the tensor unit's X_STRIDE, W_STRIDE, Z_STRIDE; even). Every output is the fp32 FMA
 * chain over k = 0..k-1 from -0, one rounding per FMA, rounded once to bf16 (k = 0: -0). */
void bf16_gemm(const uint16_t *x, uint32_t x_stride, const uint16_t *w, uint32_t w_stride,
               uint16_t *z, uint32_t z_stride, uint32_t m, uint32_t n, uint32_t k);

#endif
