/* Cycles per instruction of sentinel-cpu by instruction class, measured with the cluster's
 * cycle counter: each block runs 64 copies of one instruction; the empty block's cycles are
 * subtracted. Prints "<class> <cycles for 64>" per class; exit 0. */
#include "hal.h"

#define REP64(insn) ".rept 64\n" insn "\n.endr\n"

static volatile uint32_t buf[4];

static uint32_t t(void) { return cluster_read_cycles_lo(); }

static void report(const char *name, uint32_t c)
{
    hal_puts(name);
    hal_putc(' ');
    hal_putdec(c);
    hal_putc('\n');
}

int main(void)
{
    uint32_t a, b, base;
    if (core_id() != 0)             /* one core measures and prints (the others would share */
        return 0;                   /* the mailbox and the memory ports) */
    volatile uint32_t *p = buf;
    a = t(); b = t(); base = b - a;
#define MEASURE(name, body, ...)                                   \
    a = t();                                                        \
    __asm__ volatile(body ::: "t0", "t1", "memory" __VA_ARGS__);   \
    b = t();                                                        \
    report(name, b - a - base);
    MEASURE("add", REP64("add t0, t0, t1"))
    MEASURE("addi", REP64("addi t0, t0, 1"))
    MEASURE("lui", REP64("lui t0, 0x12345"))
    MEASURE("slli1", REP64("slli t0, t0, 1"))
    MEASURE("slli8", REP64("slli t0, t0, 8"))
    MEASURE("slli31", REP64("slli t0, t0, 31"))
    a = t();
    __asm__ volatile(REP64("lw t0, 0(%0)") :: "r"(p) : "t0", "memory");
    b = t(); report("lw_spm", b - a - base);
    a = t();
    __asm__ volatile(REP64("sw t0, 0(%0)") :: "r"(p) : "t0", "memory");
    b = t(); report("sw_spm", b - a - base);
    a = t();
    __asm__ volatile(REP64("lw t0, 0(%0)") :: "r"(0x100) : "t0", "memory");
    b = t(); report("lw_imem", b - a - base);
    a = t();
    __asm__ volatile(REP64("lw t0, 0(%0)") :: "r"(CLUSTER_PERIPH_BASE) : "t0", "memory");
    b = t(); report("lw_periph", b - a - base);
    MEASURE("beq_not_taken", REP64("bne zero, zero, 1f\n1:"))
    MEASURE("beq_taken", REP64("beq zero, zero, 1f\n1:"))
    MEASURE("jal", REP64("jal zero, 1f\n1:"))
    MEASURE("csrr", REP64("csrr t0, mscratch"))
    report("base", base);
    return 0;
}
