/* GEMM offload through the tensor unit: job 1 MATMUL gz = gx * gw, job 2 GEMM gz2 = gy + gx * gw,
 * queued back to back on the two job contexts; waits for idle, reads ERROR. Matrices are
 * row-major with byte strides GXS, GWS, GZS (multiples of SYS_BUF_ALIGN); sizes GM x GK times
 * GK x GN. Data and the defines: the generated data file (sim/offload.py). Prints the batch
 * cycles and the last job's JOB_CYCLES and COMPUTE_CYCLES. Exit 0 = no error, else
 * 0x100 | ERROR.CAUSE. */
#include "hal.h"
#include "tensor.h"
#include "system.h"
#include "lib/tensor_job.h"

extern uint16_t gx[], gw[], gy[], gz[], gz2[];

int main(void)
{
    if (core_id() != 0)
        return 0;
    uintptr_t b = SYS_TENSOR_BASE;
    uint32_t t0 = (uint32_t)cycles();
    tensor_matmul_job(b, (uint32_t)gx, GXS, (uint32_t)gw, GWS, (uint32_t)gz, GZS, GM, GN, GK);
    /* The second context starts as a copy of the first: only what changes is written. */
    hwpe_acquire(b);
    tensor_write_y_ptr(b, (uint32_t)gy);
    tensor_write_y_stride(b, GZS);
    tensor_write_z_ptr(b, (uint32_t)gz2);
    tensor_write_command(b, tensor_command_op_set(0, TENSOR_COMMAND_OP_GEMM));
    hwpe_trigger(b);
    hwpe_wait_idle(b);
    uint32_t t1 = (uint32_t)cycles();
    event_clear(SYS_TENSOR_EVENT_MASK);
    uint32_t err = tensor_read_error(b);
    hal_puts("tensor m ");
    hal_putdec(GM);
    hal_puts(" n ");
    hal_putdec(GN);
    hal_puts(" k ");
    hal_putdec(GK);
    hal_puts(" cycles ");
    hal_putdec(t1 - t0);
    hal_puts(" job_cycles ");
    hal_putdec(tensor_read_job_cycles(b));
    hal_puts(" compute_cycles ");
    hal_putdec(tensor_read_compute_cycles(b));
    hal_putc('\n');
    return err ? 0x100 | (err & 0xFF) : 0;
}
