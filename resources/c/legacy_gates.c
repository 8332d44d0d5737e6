/* legacy_gates [int80]: the two legacy ways into the kernel that a 64-bit
 * program can still try, which the sandbox does not offer: a call into the
 * vsyscall page (time() at 0xffffffffff600400), or with an argument the
 * 32-bit syscall gate `int 0x80` (getpid, 20). Linux serves both; the
 * sandbox faults (SIGSEGV at the vsyscall address; #GP, address 0) on every
 * platform, which the SIGSEGV handler prints. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    printf("signal %d at %p\n", sig, si->si_addr);
    fflush(stdout);
    _exit(0);
}

int main(int argc, char **argv)
{
    (void)argv;
    struct sigaction sa = {0};
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, 0);
    if (argc > 1) {
        long r;
        __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
        printf("int 0x80 returned %ld\n", r > 0 ? 1L : r);
    } else {
        long (*vtime)(long *) = (long (*)(long *))0xffffffffff600400UL;
        printf("vsyscall time returned %ld\n", vtime(0) > 0 ? 1L : 0L);
    }
    return 1;
}
