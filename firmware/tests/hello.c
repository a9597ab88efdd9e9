/* Hello world: prints a line, its core count and a cycle count, exits with 42. */
#include "hal.h"

static const char greeting[] = "hello from sentinel\n";
static uint32_t counter = 7;     /* .data: copied by crt0 */
static uint32_t zeros[16];       /* .bss: cleared by crt0 */

int main(void)
{
    hal_puts(greeting);
    for (int i = 0; i < 16; i++)
        if (zeros[i] != 0) return 1;
    if (counter != 7) return 2;
    counter += n_cores();
    hal_puts("cores ");
    hal_putdec(n_cores());
    hal_putc('\n');
    return 42;
}
