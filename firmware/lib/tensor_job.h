/* One tensor-unit MATMUL job, programmed and triggered: Z (m x n) = X (m x k) W (k x n), BF16
 * row-major at byte addresses x, w, z with byte strides xs, ws, zs (the unit's alignment rules:
 * docs/tensor.md). Waits for a free job context (acquire) and returns after the trigger; wait
 * with hwpe_wait (done event and ERROR.CAUSE) or hwpe_wait_idle. The next acquired context
 * starts as a copy of this one, so a follow-up job need only write what changes. */
#ifndef LIB_TENSOR_JOB_H
#define LIB_TENSOR_JOB_H

#include "hal.h"
#include "tensor.h"

static inline void tensor_matmul_job(uintptr_t base, uint32_t x, uint32_t xs, uint32_t w,
                                     uint32_t ws, uint32_t z, uint32_t zs, uint32_t m,
                                     uint32_t n, uint32_t k)
{
    hwpe_acquire(base);
    tensor_write_x_ptr(base, x);
    tensor_write_w_ptr(base, w);
    tensor_write_z_ptr(base, z);
    tensor_write_dim_mn(base, tensor_dim_mn_n_set(tensor_dim_mn_m_set(0, m), n));
    tensor_write_dim_k(base, tensor_dim_k_k_set(0, k));
    tensor_write_x_stride(base, xs);
    tensor_write_w_stride(base, ws);
    tensor_write_z_stride(base, zs);
    tensor_write_command(base, tensor_command_op_set(0, TENSOR_COMMAND_OP_MATMUL));
    hwpe_trigger(base);
}

#endif /* LIB_TENSOR_JOB_H */
