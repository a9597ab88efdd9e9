/* Events and interrupts: event line 2 raises the interrupt (EVENT_MASK), event line 1 is
 * polled; an access to an unmapped address is recorded in BUS_ERROR. Exit 0 = pass. */
#include "hal.h"

static volatile uint32_t irq_seen;

void trap_handler(uint32_t mcause, uint32_t mepc)
{
    (void)mepc;
    if (mcause != 0x8000000Bu)                 /* machine external interrupt only */
        hal_exit(0xBAD00000u | mcause);
    uint32_t p = event_pending() & (1u << 2);
    irq_seen |= p;
    event_clear(p);                            /* drops MEIP before mret */
}

int main(void)
{
    if (event_pending() != 0) return 1;
    irq_enable(1u << 2);
    uint32_t got = event_wait(1u << 1);        /* line 1 is not in the mask: polled */
    hal_puts("poll ");
    hal_putdec(got);
    hal_putc('\n');
    while (!irq_seen) {}
    irq_disable();
    hal_puts("irq ");
    hal_putdec(irq_seen);
    hal_putc('\n');
    if (cluster_read_bus_error() != 0) return 2;
    (void)*(volatile uint32_t *)0x30000000u;   /* unmapped: reads 0, recorded */
    uint32_t e = cluster_read_bus_error();
    if (!(e & CLUSTER_BUS_ERROR_VALID_MASK) || (e & CLUSTER_BUS_ERROR_WRITE_MASK)) return 3;
    if (cluster_read_bus_error_addr() != 0x30000000u) return 4;
    *(volatile uint32_t *)0x100u = 1;          /* a core write to the instruction memory */
    cluster_write_bus_error(0);
    if (cluster_read_bus_error() != 0) return 5;
    hal_puts("buserr ok\n");
    return 0;
}
