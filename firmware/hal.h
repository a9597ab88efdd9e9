/* Cluster HAL: core id, cycles, mailbox output and exit, barrier, events and interrupts, and
 * the HWPE accelerator sequence (acquire, program, trigger, wait for the done event, read the
 * error cause). The register offsets come from generated headers: cluster_regs.h (hw.cluster.regs)
 * and <map>.h of each accelerator (flows.regmaps.cheader), written by flows/firmware.py (the list:
 * flows/regmaps/catalog.py). */
#ifndef HAL_H
#define HAL_H

#include <stdint.h>
#include "cluster_regs.h"

static inline uint32_t core_id(void) { return cluster_read_core_id(); }
static inline uint32_t n_cores(void) { return cluster_read_n_cores(); }

static inline uint64_t cycles(void)
{
    uint32_t hi, lo;
    do {
        hi = cluster_read_cycles_hi();
        lo = cluster_read_cycles_lo();
    } while (hi != cluster_read_cycles_hi());
    return ((uint64_t)hi << 32) | lo;
}

/* Mailbox output (bytes to the testbench) */
static inline void hal_putc(char c) { cluster_write_putc((uint8_t)c); }
static inline void hal_puts(const char *s) { while (*s) hal_putc(*s++); }
static inline void hal_puthex(uint32_t v)
{
    for (int i = 28; i >= 0; i -= 4) hal_putc("0123456789abcdef"[(v >> i) & 0xF]);
}
static inline void hal_putdec(uint32_t v)
{
    /* RV32I has no divider and the SDK links no runtime library: subtract powers of ten. */
    static const uint32_t pow10[] = {1000000000u, 100000000u, 10000000u, 1000000u, 100000u,
                                     10000u, 1000u, 100u, 10u, 1u};
    int started = 0;
    for (int i = 0; i < 10; i++) {
        char d = '0';
        while (v >= pow10[i]) { v -= pow10[i]; d++; }
        if (d != '0' || started || i == 9) { hal_putc(d); started = 1; }
    }
}
static inline void __attribute__((noreturn)) hal_exit(uint32_t code)
{
    cluster_write_exit(code);
    for (;;) {}
}

/* Barrier of all cores (hardware generation counter). */
static inline void barrier(void)
{
    uint32_t g = cluster_read_barrier();
    cluster_write_barrier(0);
    while (cluster_read_barrier() == g) {}
}

/* Events: EVENT_PENDING bit i is set by event line i (accelerator i's done event). A bit, not
 * a counter: two events on one line before a clear read as one. */
static inline uint32_t event_pending(void) { return cluster_read_event_pending(); }
static inline void event_clear(uint32_t mask) { cluster_write_event_pending(mask); }
/* Busy-wait for any event in mask (sentinel-cpu executes WFI as a no-op), clear and return it. */
static inline uint32_t event_wait(uint32_t mask)
{
    uint32_t p;
    while (!((p = cluster_read_event_pending()) & mask)) {}
    p &= mask;
    cluster_write_event_pending(p);
    return p;
}
/* Interrupts: the core's MEIP line is EVENT_PENDING & EVENT_MASK != 0 (level). */
static inline void irq_enable(uint32_t mask)
{
    cluster_write_event_mask(mask);
    __asm__ volatile("csrs mie, %0" :: "r"(1u << 11));
    __asm__ volatile("csrs mstatus, %0" :: "r"(1u << 3));
}
static inline void irq_disable(void)
{
    __asm__ volatile("csrc mstatus, %0" :: "r"(1u << 3));
}

/* HWPE accelerators (every generated map shares the control registers; see docs/regmaps).
 * base = CLUSTER_ACCEL_BASE + slot * CLUSTER_ACCEL_STRIDE; event = the slot's event line. */
#define HWPE_TRIGGER     0x00u
#define HWPE_ACQUIRE     0x04u
#define HWPE_STATUS      0x08u
#define HWPE_SOFT_CLEAR  0x10u
#define HWPE_ERROR       0x14u
#define HWPE_STATUS_BUSY 0x1u
static inline uintptr_t accel_base(uint32_t slot)
{
    return CLUSTER_ACCEL_BASE + slot * CLUSTER_ACCEL_STRIDE;
}
static inline void hwpe_write(uintptr_t base, uint32_t off, uint32_t v)
{
    *(volatile uint32_t *)(base + off) = v;
}
static inline uint32_t hwpe_read(uintptr_t base, uint32_t off)
{
    return *(volatile uint32_t *)(base + off);
}
/* Spin until a context is free; returns its job id. */
static inline int32_t hwpe_acquire(uintptr_t base)
{
    int32_t id;
    while ((id = (int32_t)hwpe_read(base, HWPE_ACQUIRE)) < 0) {}
    return id;
}
static inline void hwpe_trigger(uintptr_t base) { hwpe_write(base, HWPE_TRIGGER, 0); }
/* Wait for the done event of the slot's event line; returns ERROR.CAUSE (0 = no error) and
 * clears ERROR. */
static inline uint32_t hwpe_wait(uintptr_t base, uint32_t event)
{
    event_wait(1u << event);
    uint32_t err = hwpe_read(base, HWPE_ERROR);
    if (err) hwpe_write(base, HWPE_ERROR, 0);
    return err & 0xFFu;
}

/* Wait until no job is running or queued (STATUS.BUSY low), e.g. after several triggers:
 * an event line is one sticky bit, so the done events of back-to-back jobs may merge. */
static inline void hwpe_wait_idle(uintptr_t base)
{
    while (hwpe_read(base, HWPE_STATUS) & HWPE_STATUS_BUSY) {}
}

#endif /* HAL_H */
