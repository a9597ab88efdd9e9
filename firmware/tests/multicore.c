/* Multi-core: every core sums its share of 1..N (split by core id) into its slot, the cores
 * meet at the barrier, core 0 checks the total and prints one line per core. The last core
 * then reads an unmapped peripheral address: BUS_ERROR must name it. Exit 0 = pass. */
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
    if (id == nc - 1 && nc > 1)
        (void)*(volatile uint32_t *)0x20003000u;   /* beyond the cluster's peripherals */
    barrier();
    if (id != 0)
        return 0;
    uint32_t e = cluster_read_bus_error();
    if (nc > 1) {
        if (!(e & CLUSTER_BUS_ERROR_VALID_MASK) || cluster_read_bus_error_addr() != 0x20003000u
            || ((e & CLUSTER_BUS_ERROR_MASTER_MASK) >> CLUSTER_BUS_ERROR_MASTER_SHIFT) != nc - 1)
            return 20;
        cluster_write_bus_error(0);
    }
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
