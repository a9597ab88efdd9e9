/* Startup code of every core. Core 0 copies .data from the instruction memory and clears
 * .bss while the other cores wait at the hardware barrier; each core's stack is the
 * __stack_size bytes below SPM_BASE + SPM_SIZE - core_id * __stack_size. main(void) runs on
 * every core; core 0's return value is the exit code (the other cores park after main).
 * Unexpected traps end the program with exit code 0xDEAD0000 | mcause[7:0] (interrupts with
 * 0xDEAD8000 | cause) unless the program defines trap_handler(mcause, mepc) itself. */
#include "cluster_regs.h"

    .section .text.start, "ax"
    .globl _start
_start:
    li      s0, CLUSTER_PERIPH_BASE
    la      t0, __trap_entry
    csrw    mtvec, t0
    lw      s1, CLUSTER_CORE_ID_OFFSET(s0)
    lw      t0, CLUSTER_SPM_BASE_OFFSET(s0)
    lw      t1, CLUSTER_SPM_SIZE_OFFSET(s0)
    add     sp, t0, t1
    la      t2, __stack_size
    mv      t3, s1
1:  beqz    t3, 2f                  /* sp -= core_id * __stack_size (no multiplier: RV32I) */
    sub     sp, sp, t2
    addi    t3, t3, -1
    j       1b
2:  li      gp, 0
    bnez    s1, 5f
    la      t0, __data_load         /* core 0: .data image -> scratchpad */
    la      t1, __data_start
    la      t2, __data_end
3:  bgeu    t1, t2, 4f
    lw      t3, 0(t0)
    sw      t3, 0(t1)
    addi    t0, t0, 4
    addi    t1, t1, 4
    j       3b
4:  la      t1, __bss_start         /* clear .bss */
    la      t2, __bss_end
41: bgeu    t1, t2, 5f
    sw      zero, 0(t1)
    addi    t1, t1, 4
    j       41b
5:  lw      t0, CLUSTER_BARRIER_OFFSET(s0)     /* barrier: everyone waits for core 0 */
    sw      zero, CLUSTER_BARRIER_OFFSET(s0)
6:  lw      t1, CLUSTER_BARRIER_OFFSET(s0)
    beq     t0, t1, 6b
    call    main
    bnez    s1, 7f
    sw      a0, CLUSTER_EXIT_OFFSET(s0)
7:  j       7b

    .align 2
    .globl __trap_entry
    .weak trap_handler
__trap_entry:
    addi    sp, sp, -64
    sw      ra, 0(sp)
    sw      t0, 4(sp)
    sw      t1, 8(sp)
    sw      t2, 12(sp)
    sw      a0, 16(sp)
    sw      a1, 20(sp)
    sw      a2, 24(sp)
    sw      a3, 28(sp)
    sw      a4, 32(sp)
    sw      a5, 36(sp)
    sw      a6, 40(sp)
    sw      a7, 44(sp)
    sw      t3, 48(sp)
    sw      t4, 52(sp)
    sw      t5, 56(sp)
    sw      t6, 60(sp)
    csrr    a0, mcause
    csrr    a1, mepc
    la      t0, trap_handler
    beqz    t0, 8f
    jalr    t0
    lw      ra, 0(sp)
    lw      t0, 4(sp)
    lw      t1, 8(sp)
    lw      t2, 12(sp)
    lw      a0, 16(sp)
    lw      a1, 20(sp)
    lw      a2, 24(sp)
    lw      a3, 28(sp)
    lw      a4, 32(sp)
    lw      a5, 36(sp)
    lw      a6, 40(sp)
    lw      a7, 44(sp)
    lw      t3, 48(sp)
    lw      t4, 52(sp)
    lw      t5, 56(sp)
    lw      t6, 60(sp)
    addi    sp, sp, 64
    mret
8:  li      t0, CLUSTER_PERIPH_BASE  /* no handler: report and stop */
    srli    t1, a0, 31
    slli    t1, t1, 15
    andi    a0, a0, 0xFF
    or      a0, a0, t1
    li      t1, 0xDEAD0000
    or      a0, a0, t1
    sw      a0, CLUSTER_EXIT_OFFSET(t0)
9:  j       9b
