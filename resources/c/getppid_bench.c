/* getppid_bench N: times N getppid syscalls and prints ns_per_call=<float>.
 *
 * syscall(SYS_getppid) bypasses any libc caching, so every call enters the
 * kernel (the sentry, in the sandbox). A warmup pass of min(N, WARMUP) calls
 * runs first; because the warmup is fixed for N >= WARMUP, running with N
 * and 2N differs by exactly N syscalls, which ci/bench.sh uses to count VM
 * exits per syscall. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include "common.h"

#define WARMUP 10000L

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void calls(long n)
{
    for (long i = 0; i < n; i++)
        syscall(SYS_getppid);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000L;
    if (n <= 0) {
        outf(2, "usage: getppid_bench N   (N > 0)\n");
        return 2;
    }
    calls(n < WARMUP ? n : WARMUP);
    double t0 = now_ns();
    calls(n);
    double t1 = now_ns();
    outf(1, "ns_per_call=%.2f\n", (t1 - t0) / (double)n);
    return 0;
}
