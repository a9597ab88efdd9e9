/* Software GEMM on the cores (the baseline of the tensor unit offload): gz_sw = gx * gw with
 * bf16_gemm (firmware/lib), MATMUL with fp32 accumulation, bit-exact with the tensor unit.
 * Rows split by core id over USE_CORES cores (0 = all cores; the others only meet the
 * barriers): core c computes rows c, c + nc, ... Matrices row-major with byte strides GXS,
 * GWS, GZS; sizes GM x GK times GK x GN. Core 0 prints the cycles between the first and the
 * last barrier. Data and the defines: the generated data file (sim/sw_gemm.py). Exit 0. */
#include "hal.h"
#include "lib/bf16_gemm.h"

#ifndef USE_CORES
#define USE_CORES 0
#endif

extern uint16_t gx[], gw[], gz_sw[];

int main(void)
{
    uint32_t id = core_id();
    uint32_t nc = USE_CORES ? USE_CORES : n_cores();
    barrier();
    uint32_t t0 = (uint32_t)cycles();
    if (id < nc) {
        /* Row r at r * stride: offsets by repeated addition (RV32I has no multiplier). */
        const uint8_t *xr = (const uint8_t *)gx;
        uint8_t *zr = (uint8_t *)gz_sw;
        for (uint32_t c = 0; c < id; c++) {
            xr += GXS;
            zr += GZS;
        }
        for (uint32_t r = id; r < GM; r += nc) {
            bf16_gemm((const uint16_t *)xr, GXS, gw, GWS, (uint16_t *)zr, GZS, 1, GN, GK);
            for (uint32_t c = 0; c < nc; c++) {
                xr += GXS;
                zr += GZS;
            }
        }
    }
    barrier();
    if (id != 0)
        return 0;
    uint32_t t1 = (uint32_t)cycles();
    hal_puts("software gemm m ");
    hal_putdec(GM);
    hal_puts(" n ");
    hal_putdec(GN);
    hal_puts(" k ");
    hal_putdec(GK);
    hal_puts(" cores ");
    hal_putdec(nc);
    hal_puts(" cycles ");
    hal_putdec(t1 - t0);
    hal_putc('\n');
    return 0;
}
