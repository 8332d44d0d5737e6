/* segv: writes to address 0 and must die by SIGSEGV (shell status 139). */
#include "common.h"

int main(void)
{
    outf(2, "segv: writing to address 0\n");
    *(volatile int *)0 = 1;
    outf(1, "segv: the write to address 0 succeeded\n");
    return 3;
}
