/* An illegal instruction with no trap handler: crt0 reports 0xDEAD0000 | mcause (2). */
#include "hal.h"

int main(void)
{
    __asm__ volatile(".word 0x00000000");
    return 1;
}
