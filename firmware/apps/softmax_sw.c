/* Software softmax on the cores (the baseline of the SoftEx offload): ROWS rows of N BF16
 * elements from sx_in to sw_out with bf16_softmax (firmware/lib), rows split by core id over
 * USE_CORES cores (0 = all cores; the others only meet the barriers). Core 0 prints the cycles
 * between the first and the last barrier. Data and ROWS, N, USE_CORES: the generated data file
 * and defines (sim/offload.py). Exit 0. */
#include "hal.h"
#include "lib/bf16_softmax.h"

#ifndef USE_CORES
#define USE_CORES 0
#endif

extern uint16_t sx_in[];
extern uint16_t sw_out[];

int main(void)
{
    uint32_t id = core_id();
    uint32_t nc = USE_CORES ? USE_CORES : n_cores();
    barrier();
    uint32_t t0 = (uint32_t)cycles();
    if (id < nc)
        for (uint32_t r = id; r < ROWS; r += nc)
            bf16_softmax(&sx_in[r * N], &sw_out[r * N], N);
    barrier();
    if (id != 0)
        return 0;
    uint32_t t1 = (uint32_t)cycles();
    hal_puts("software rows ");
    hal_putdec(ROWS);
    hal_puts(" n ");
    hal_putdec(N);
    hal_puts(" cores ");
    hal_putdec(nc);
    hal_puts(" cycles ");
    hal_putdec(t1 - t0);
    hal_putc('\n');
    return 0;
}
