/* isolation MODE ADDR: one access to ADDR, which must die by SIGSEGV.
 *
 * MODE is read (load 8 bytes), write (store 8 bytes) or exec (call ADDR).
 * Natively ADDR is a host kernel address or an unmapped low address; in the
 * sandbox the same numbers are the sentry's image (0xffffffff80000000 + ...),
 * its direct map of guest memory (0xffff888000000000 + ...) and the low
 * guest-physical structures (boot info, hostcall blocks, GDT, IDT, TSS, page
 * tables) that must not be mapped for the application. One access per run,
 * so each run tests exactly one thing. If the access succeeds the program
 * says so on stdout and exits with 3. */
#include <stdint.h>
#include <stdlib.h>
#include "common.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        outf(2, "usage: isolation read|write|exec ADDR\n");
        return 2;
    }
    const char *mode = argv[1];
    uintptr_t addr = (uintptr_t)strtoull(argv[2], NULL, 0);
    outf(2, "isolation: %s %#lx\n", mode, (unsigned long)addr);

    if (strcmp(mode, "read") == 0) {
        uint64_t v = *(volatile uint64_t *)addr;
        outf(1, "LEAK: read %#lx = %#lx\n", (unsigned long)addr, (unsigned long)v);
    } else if (strcmp(mode, "write") == 0) {
        *(volatile uint64_t *)addr = 0x5a5a5a5a5a5a5a5aULL;
        outf(1, "LEAK: wrote %#lx\n", (unsigned long)addr);
    } else if (strcmp(mode, "exec") == 0) {
        void (*volatile fn)(void) = (void (*)(void))addr;
        fn();
        outf(1, "LEAK: executed %#lx\n", (unsigned long)addr);
    } else {
        outf(2, "isolation: unknown mode %s\n", mode);
        return 2;
    }
    return 3;
}
