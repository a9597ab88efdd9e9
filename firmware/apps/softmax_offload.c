/* Softmax offload: ROWS rows of N BF16 elements (packed, row r at sx_in + r * N) through the
 * SoftEx engine into sx_out, in jobs of JOB_ROWS rows each (ROWS.COUNT, IN/OUT_STRIDE = one row;
 * default JOB_ROWS = ROWS: one job for the batch; JOB_ROWS = 1: one job per row), OP = SOFTMAX,
 * ACC | DIV, queued back to back on the engine's two job contexts; then waits for idle and reads
 * ERROR. Prints the cycles of the whole batch (cycle counter, first ACQUIRE to idle) and
 * JOB_CYCLES of the last job.
 * Data (sx_in, sx_out) and ROWS, N (JOB_ROWS) come from the generated data file (sim/offload.py).
 * Exit 0 = no error, else 0x100 | ERROR.CAUSE. */
#include "hal.h"
#include "softex.h"
#include "system.h"

#ifndef JOB_ROWS
#define JOB_ROWS ROWS
#endif

extern uint16_t sx_in[];
extern uint16_t sx_out[];

int main(void)
{
    if (core_id() != 0)
        return 0;
    uintptr_t b = SYS_SOFTEX_BASE;
    uint32_t t0 = (uint32_t)cycles();
    for (uint32_t r = 0; r < ROWS; r += JOB_ROWS) {
        uint32_t rows = ROWS - r < JOB_ROWS ? ROWS - r : JOB_ROWS;
        hwpe_acquire(b);
        softex_write_in_addr(b, (uint32_t)&sx_in[r * N]);
        softex_write_out_addr(b, (uint32_t)&sx_out[r * N]);
        softex_write_length(b, N);
        softex_write_command(b, SOFTEX_COMMAND_RESET);      /* OP = SOFTMAX, ACC | DIV */
        softex_write_rows(b, rows);
        softex_write_in_stride(b, 2 * N);
        softex_write_out_stride(b, 2 * N);
        hwpe_trigger(b);
    }
    hwpe_wait_idle(b);
    uint32_t t1 = (uint32_t)cycles();
    event_clear(SYS_SOFTEX_EVENT_MASK);
    uint32_t err = softex_read_error(b);
    hal_puts("softex rows ");
    hal_putdec(ROWS);
    hal_puts(" n ");
    hal_putdec(N);
    hal_puts(" job_rows ");
    hal_putdec(JOB_ROWS);
    hal_puts(" cycles ");
    hal_putdec(t1 - t0);
    hal_puts(" job_cycles ");
    hal_putdec(softex_read_job_cycles(b));
    hal_putc('\n');
    return err ? 0x100 | (err & 0xFF) : 0;
}
