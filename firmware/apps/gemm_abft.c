/* One tensor-unit job checked by the Flash-ABFT checker's GEMM mode (docs/abft.md, "Any GEMM"):
 * Z = X W, or Z = Y + X W with GOP_GEMM = 1; X (GM x GK), W (GK x GN), Y and Z (GM x GN)
 * row-major BF16 with byte strides GXS, GWS, GZS (GZS a power of two). The host preloads the
 * descriptor's numbers and the references (sim/gemm_abft.py); this program writes the buffer
 * addresses, runs ARM_GEMM, the job and VERIFY. With ABFT_CORRECT = 1 a failed check is
 * repaired: when the only failure is Z's word sums, the one word they locate is corrected in
 * place; otherwise the job runs again (ARM_GEMM, the job), then VERIFY again, at most
 * ABFT_ROUNDS times. The outcome goes to abft_result (lib/abft_job.h). Prints the job's and
 * the checker's cycles. Exit 0; 0x100 | cause for a tensor-unit error, 0x300 | cause for a
 * checker job error, 0x400 when the job ends with a failed check (uncorrected, or
 * ABFT_CORRECT = 0). ABFT = 0 runs the job alone (a cluster without the checker: the
 * unprotected baseline of the campaigns). */
#include "hal.h"
#include "tensor.h"
#include "system.h"
#ifndef ABFT
#define ABFT 1
#endif
#if ABFT
#include "lib/abft_job.h"
#endif

#ifndef GOP_GEMM
#define GOP_GEMM 0
#endif
#ifndef ABFT_CORRECT
#define ABFT_CORRECT 1
#endif
#define ABFT_ROUNDS 2

extern uint16_t gx[], gw[], gy[], gz[];
#if ABFT
extern uint32_t abft_desc[], abft_refs[], abft_report[], abft_result[];
#endif

/* The job to its end; returns the tensor unit's error cause. */
static uint32_t run_job(void)
{
    uintptr_t b = SYS_TENSOR_BASE;
    hwpe_acquire(b);
    tensor_write_x_ptr(b, (uint32_t)gx);
    tensor_write_w_ptr(b, (uint32_t)gw);
    tensor_write_z_ptr(b, (uint32_t)gz);
    tensor_write_dim_mn(b, tensor_dim_mn_n_set(tensor_dim_mn_m_set(0, GM), GN));
    tensor_write_dim_k(b, tensor_dim_k_k_set(0, GK));
    tensor_write_x_stride(b, GXS);
    tensor_write_w_stride(b, GWS);
    tensor_write_z_stride(b, GZS);
#if GOP_GEMM
    tensor_write_y_ptr(b, (uint32_t)gy);
    tensor_write_y_stride(b, GZS);
    tensor_write_command(b, tensor_command_op_set(0, TENSOR_COMMAND_OP_GEMM));
#else
    tensor_write_command(b, tensor_command_op_set(0, TENSOR_COMMAND_OP_MATMUL));
#endif
    hwpe_trigger(b);
    hwpe_wait_idle(b);
    uint32_t err = tensor_read_error(b) & 0xFFu;
    if (err)
        tensor_clear_error(b);
    return err;
}

#if ABFT
static uint32_t arm(void)
{
    return abft_run_job(ABFT_COMMAND_OP_ARM_GEMM, abft_desc, 0);
}
#endif

int main(void)
{
    if (core_id() != 0)
        return 0;
#if ABFT
    abft_desc[ABFT_DESC_O_ADDR] = (uint32_t)gz;
    abft_desc[ABFT_DESC_KBAR_ADDR] = (uint32_t)abft_refs;
    abft_desc[ABFT_DESC_REPORT_ADDR] = (uint32_t)abft_report;
#endif
    uint32_t t0 = (uint32_t)cycles();
#if ABFT
    uint32_t aerr = arm();
#else
    uint32_t aerr = 0;
#endif
    uint32_t t1 = (uint32_t)cycles();
    uint32_t terr = aerr ? 0 : run_job();
    uint32_t t2 = (uint32_t)cycles();
    hal_puts("gemm m ");
    hal_putdec(GM);
    hal_puts(" n ");
    hal_putdec(GN);
    hal_puts(" k ");
    hal_putdec(GK);
    hal_puts(" cycles ");
    hal_putdec(t2 - t1);
    hal_puts(" arm cycles ");
    hal_putdec(t1 - t0);
    hal_putc('\n');
    if (aerr)
        return 0x300u | aerr;
    if (terr)
        return 0x100u | terr;
#if !ABFT
    return 0;
#else
#if defined(ABFT_PLANT_ROW)
    /* A planted fault: one bit of one Z word flipped after the job, as a particle strike in
     * the scratchpad would. */
    ((uint16_t *)((uint8_t *)gz + ABFT_PLANT_ROW * GZS))[ABFT_PLANT_COL] ^=
        (uint16_t)(1u << ABFT_PLANT_BIT);
#endif
    uint32_t v0 = (uint32_t)cycles();
    uint32_t err = abft_run_job(ABFT_COMMAND_OP_VERIFY, abft_desc, 0);
    uint32_t first = abft_report[ABFT_REPORT_CAUSES], corrected = 0, recomputed = 0;
#if ABFT_CORRECT
    for (int round = 0; err == ABFT_ERR_CHECK_FAILED && round < ABFT_ROUNDS; round++) {
        uint32_t *e = abft_tile_entry(abft_report, 0), row, col;
        int32_t delta;
        if (e[ABFT_TILE_CAUSES] == ABFT_CAUSE_O_SIGNATURE
            && abft_locate(e, GM, GN, &row, &col, &delta)) {
            uint16_t *w = (uint16_t *)((uint8_t *)gz + row * GZS) + col;
            *w = (uint16_t)(*w - (uint16_t)delta);
            corrected++;
        } else {
            err = arm();
            if (err)
                break;
            terr = run_job();
            if (terr)
                return 0x100u | terr;
            recomputed++;
        }
        err = abft_run_job(ABFT_COMMAND_OP_VERIFY, abft_desc, 0);
    }
#endif
    abft_result[ABFT_RESULT_FIRST] = first;
    abft_result[ABFT_RESULT_CORRECTED] = corrected;
    abft_result[ABFT_RESULT_RECOMPUTED] = recomputed;
    abft_result[ABFT_RESULT_VERDICT] = err ? abft_report[ABFT_REPORT_CAUSES] : 0;
    abft_result[ABFT_RESULT_CYCLES] = (t1 - t0) + (uint32_t)cycles() - v0;
    if (err && err != ABFT_ERR_CHECK_FAILED)
        return 0x300u | err;
    return err ? 0x400u : 0;
#endif
}
