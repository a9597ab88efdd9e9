/* The HWPE sequence through the HAL on accelerator slot 0 (a test copy accelerator with the
 * demo register map, event line 0): acquire, program, trigger, wait for the done event, read
 * the error cause; two jobs queued back to back on both contexts; misprogrammed jobs end with
 * their error cause. Exit 0 = pass, else the number of the failed check. */
#include "hal.h"
#include "demo.h"

#define N 37                                   /* BF16 elements: a partial last beat */
static uint16_t src[64] __attribute__((aligned(8)));
static uint16_t dst[64] __attribute__((aligned(8)));
static uint16_t dst2[64] __attribute__((aligned(8)));

static int check(const uint16_t *d, int n)
{
    for (int i = 0; i < n; i++)
        if (d[i] != src[i]) return 0;
    for (int i = n; i < 64; i++)
        if (d[i] != 0xAAAA) return 0;
    return 1;
}

int main(void)
{
    uintptr_t base = accel_base(0);
    for (int i = 0; i < 64; i++) {
        src[i] = (uint16_t)(0x3F00 + 7 * i);
        dst[i] = dst2[i] = 0xAAAA;
    }
    int32_t id = hwpe_acquire(base);
    if (id != 0) return 1;
    demo_write_in_addr(base, (uint32_t)src);
    demo_write_out_addr(base, (uint32_t)dst);
    demo_write_length(base, N);
    demo_write_command(base, demo_command_op_set(DEMO_COMMAND_RESET, DEMO_COMMAND_OP_COPY));
    hwpe_trigger(base);
    if (hwpe_wait(base, 0) != DEMO_ERR_NONE) return 2;
    if (!check(dst, N)) return 3;
    hal_puts("copy ok\n");

    /* Two jobs back to back: the second context is programmed while the first runs. */
    for (int i = 0; i < 64; i++) dst[i] = 0xAAAA;
    hwpe_acquire(base);
    demo_write_out_addr(base, (uint32_t)dst);
    demo_write_length(base, 64);
    hwpe_trigger(base);
    hwpe_acquire(base);
    demo_write_out_addr(base, (uint32_t)dst2);
    demo_write_length(base, 5);
    hwpe_trigger(base);
    /* Event lines are one sticky bit each (two done events may merge): wait for idle. */
    hwpe_wait_idle(base);
    event_clear(1);
    if (hwpe_read(base, HWPE_ERROR) != 0) return 4;
    if (!check(dst, 64) || !check(dst2, 5)) return 5;
    hal_puts("b2b ok\n");

    /* Misprogramming: misaligned pointer, zero length, unknown op. */
    hwpe_acquire(base);
    demo_write_in_addr(base, (uint32_t)src + 4);
    hwpe_trigger(base);
    if (hwpe_wait(base, 0) != DEMO_ERR_BAD_ADDR) return 6;
    hwpe_acquire(base);
    demo_write_in_addr(base, (uint32_t)src);
    demo_write_length(base, 0);
    hwpe_trigger(base);
    if (hwpe_wait(base, 0) != DEMO_ERR_BAD_LENGTH) return 7;
    hwpe_acquire(base);
    demo_write_length(base, 4);
    demo_write_command(base, demo_command_op_set(DEMO_COMMAND_RESET, 6));
    hwpe_trigger(base);
    if (hwpe_wait(base, 0) != DEMO_ERR_BAD_OP) return 8;
    hal_puts("errors ok\n");
    return 0;
}
