/* Misprogrammed accelerator jobs seen by the firmware: each job ends with its done event and
 * ERROR.CAUSE, which the program prints ("<unit> <case> cause <n>") and clears; then a good
 * SoftEx job shows that the engine still works after the errors. Exit 0 = every cause as
 * expected (the test also compares the printed causes with the register maps), else the
 * number of the first wrong case. */
#include "hal.h"
#include "softex.h"
#include "tensor.h"
#include "system.h"
#include "lib/tensor_job.h"

static uint16_t buf[64] __attribute__((aligned(SYS_BUF_ALIGN)));
static uint16_t out[64] __attribute__((aligned(SYS_BUF_ALIGN)));

static uint32_t report(const char *what, uint32_t cause)
{
    hal_puts(what);
    hal_puts(" cause ");
    hal_putdec(cause);
    hal_putc('\n');
    return cause;
}

static uint32_t softex_job(uint32_t in, uint32_t o, uint32_t n)
{
    uintptr_t b = SYS_SOFTEX_BASE;
    hwpe_acquire(b);
    softex_write_in_addr(b, in);
    softex_write_out_addr(b, o);
    softex_write_length(b, n);
    softex_write_command(b, SOFTEX_COMMAND_RESET);
    hwpe_trigger(b);
    return hwpe_wait(b, SYS_SOFTEX_EVENT);
}

static uint32_t tensor_job(uint32_t m, uint32_t n, uint32_t k, uint32_t xptr)
{
    tensor_matmul_job(SYS_TENSOR_BASE, xptr, SYS_BUF_ALIGN, (uint32_t)buf, SYS_BUF_ALIGN,
                      (uint32_t)out, SYS_BUF_ALIGN, m, n, k);
    return hwpe_wait(SYS_TENSOR_BASE, SYS_TENSOR_EVENT);
}

int main(void)
{
    if (core_id() != 0)
        return 0;
    for (int i = 0; i < 64; i++)
        buf[i] = 0x3F80;                                  /* 1.0 */
    if (report("softex zero_length", softex_job((uint32_t)buf, (uint32_t)out, 0))
        != SOFTEX_ERR_BAD_LENGTH) return 1;
    if (report("softex odd_pointer", softex_job((uint32_t)buf + 1, (uint32_t)out + 1, 4))
        != SOFTEX_ERR_BAD_ALIGN) return 2;
    if (report("softex outside_spm", softex_job((uint32_t)buf, 0x00000000u, 4))
        != SOFTEX_ERR_BAD_ADDR) return 3;
    if (report("tensor zero_k", tensor_job(2, 2, 0, (uint32_t)buf)) != TENSOR_ERR_BAD_DIM)
        return 4;
    if (report("tensor misaligned_x", tensor_job(2, 2, 2, (uint32_t)buf + 2))
        != TENSOR_ERR_BAD_ALIGN) return 5;
    /* After the errors: a good job (softmax of 8 ones = 1/8 = 0x3E00 each). */
    if (report("softex good", softex_job((uint32_t)buf, (uint32_t)out, 8)) != SOFTEX_ERR_NONE)
        return 6;
    for (int i = 0; i < 8; i++)
        if (out[i] != 0x3E00) return 7;
    return 0;
}
