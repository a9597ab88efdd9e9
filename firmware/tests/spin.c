/* Never exits: the testbench's watchdog must end the run. */
#include "hal.h"

int main(void)
{
    hal_puts("spin\n");
    for (;;) {}
}
