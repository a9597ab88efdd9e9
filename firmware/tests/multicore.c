/* Multi-core: every core sums its share of 1..N (split by core id) into its slot, the cores
 * meet at the barrier, core 0 checks the total and prints one line per core. Exit 0 = pass. */
#include "hal.h"

#define N 96
static volatile uint32_t partial[8];
static volatile uint32_t seen[8];

int main(void)
{
    uint32_t id = core_id(), nc = n_cores();
    uint32_t sum = 0;
    for (uint32_t i = id + 1; i <= N; i += nc)
        sum += i;
    partial[id] = sum;
    seen[id] = id + 100;
    barrier();
    if (id != 0)
        return 0;
    uint32_t total = 0;
    for (uint32_t c = 0; c < nc; c++) {
        if (seen[c] != c + 100) return 10 + c;
        total += partial[c];
        hal_puts("core ");
        hal_putdec(c);
        hal_puts(" sum ");
        hal_putdec(partial[c]);
        hal_putc('\n');
    }
    return total == N * (N + 1) / 2 ? 0 : 1;
}
