/* sysemu_bench N: the floor of the ptrace platform. A traced child makes
 * getppid syscalls in a loop; the parent serves each one as a minimal
 * PTRACE_SYSEMU tracer would: PTRACE_SYSEMU, waitpid, PTRACE_GETREGS,
 * PTRACE_SETREGS (the result in rax). Prints ns_per_roundtrip=<float>.
 * Runs natively only (it is the baseline ci/bench.sh compares the ptrace
 * platform's getppid with). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include "common.h"

#define WARMUP 1000L

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void serve(pid_t pid, long n)
{
    for (long i = 0; i < n; i++) {
        int st;
        struct user_regs_struct r;
        if (ptrace(PTRACE_SYSEMU, pid, 0, 0) != 0 || waitpid(pid, &st, __WALL) != pid || !WIFSTOPPED(st))
            _exit(3);
        if (ptrace(PTRACE_GETREGS, pid, 0, &r) != 0)
            _exit(4);
        r.rax = 1;
        if (ptrace(PTRACE_SETREGS, pid, 0, &r) != 0)
            _exit(5);
    }
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 100000L;
    if (n <= 0) {
        outf(2, "usage: sysemu_bench N   (N > 0)\n");
        return 2;
    }
    pid_t pid = fork();
    if (pid == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        for (;;)
            syscall(SYS_getppid);
    }
    int st;
    waitpid(pid, &st, 0);
    ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD);
    serve(pid, WARMUP);
    double t0 = now_ns();
    serve(pid, n);
    double t1 = now_ns();
    kill(pid, SIGKILL);
    outf(1, "ns_per_roundtrip=%.2f\n", (t1 - t0) / (double)n);
    return 0;
}
