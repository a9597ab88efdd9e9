/* Software softmax of a BF16 row on the cores (RV32I: no FPU, no multiplier, no divider):
 * the baseline against SoftEx. Not bit-identical to SoftEx; the error bound against float64 is
 * stated in bf16_softmax.c and checked by tests/cluster/test_system_verilator.py. */
#ifndef BF16_SOFTMAX_H
#define BF16_SOFTMAX_H

#include <stdint.h>

/* y[0..n) = softmax(x[0..n)), BF16 bit patterns; n >= 1. Inputs: finite values with
 * |x| < 1024, or -inf (masked: output +0); at least one finite element. y may equal x. */
void bf16_softmax(const uint16_t *x, uint16_t *y, uint32_t n);

#endif
