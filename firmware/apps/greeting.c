/* The smallest board check of a cluster: a greeting, the core count and the cycles it took,
 * exit 0 (make bitstream BOARD=icebreaker: the plain cluster that fits the UP5K). */
#include "hal.h"

int main(void)
{
    uint32_t t0 = (uint32_t)cycles();
    hal_puts("hello from the cluster\n");
    hal_puts("cores ");
    hal_putdec(n_cores());
    hal_puts("\ncycles ");
    hal_putdec((uint32_t)cycles() - t0);
    hal_putc('\n');
    return 0;
}
