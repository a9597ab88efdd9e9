/* Softmax offload: ROWS rows of N BF16 elements (packed, row r at sx_in + r * N) through the
 * SoftEx engine into sx_out, one job per row (ACC | DIV), queued back to back on the engine's
 * two job contexts; then waits for idle and reads ERROR. Prints the cycles of the whole batch
 * (cycle counter, first ACQUIRE to idle) and JOB_CYCLES of the last job.
 * Data (sx_in, sx_out) and ROWS, N come from the generated data file (sim/offload.py).
 * Exit 0 = no error, else 0x100 | ERROR.CAUSE. */
#include "hal.h"
#include "softex.h"
#include "system.h"

extern uint16_t sx_in[];
extern uint16_t sx_out[];

int main(void)
{
    if (core_id() != 0)
        return 0;
    uintptr_t b = SYS_SOFTEX_BASE;
    uint32_t t0 = (uint32_t)cycles();
    for (uint32_t r = 0; r < ROWS; r++) {
        hwpe_acquire(b);
        softex_write_in_addr(b, (uint32_t)&sx_in[r * N]);
        softex_write_out_addr(b, (uint32_t)&sx_out[r * N]);
        softex_write_length(b, N);
        softex_write_command(b, SOFTEX_COMMAND_RESET);      /* OP = SOFTMAX, ACC | DIV */
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
    hal_puts(" cycles ");
    hal_putdec(t1 - t0);
    hal_puts(" job_cycles ");
    hal_putdec(softex_read_job_cycles(b));
    hal_putc('\n');
    return err ? 0x100 | (err & 0xFF) : 0;
}
