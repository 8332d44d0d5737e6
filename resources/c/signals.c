/* signals: signal delivery to handlers in one process, each section
 * printing deterministic lines (names and yes/no, never addresses or pids):
 *
 *   - SA_SIGINFO: si_signo/si_code/si_pid/si_uid/si_value for kill, sigqueue
 *     and raise to oneself;
 *   - sigprocmask: blocked signals stay pending and arrive on unblock;
 *     standard signals coalesce, real-time ones queue in order; the order
 *     several pending signals are delivered in;
 *   - sigaltstack + SA_ONSTACK, including a stack overflow caught there;
 *   - SA_RESTART against EINTR for a read of an empty pipe interrupted by
 *     alarm(), and nanosleep (never restarted);
 *   - SA_RESETHAND, SA_NODEFER;
 *   - faults: SIGSEGV (si_addr and si_code for PROT_NONE, read-only,
 *     unmapped and NULL), SIGFPE, SIGILL and SIGTRAP resumed by editing the
 *     saved context, raise(SIGSEGV);
 *   - rt_sigtimedwait, sigsuspend;
 *   - FPU/SSE registers preserved across handlers that clobber them;
 *   - what sigaction and sigprocmask refuse.
 *
 * Exits 0; a failed check prints "FAIL ..." and exits 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>

#include "common.h"

static int failures;

static void check(int ok, const char *what)
{
    if (!ok) {
        outf(1, "FAIL %s\n", what);
        failures++;
    }
}

static const char *yes(int b)
{
    return b ? "yes" : "no";
}

static void install(int sig, void (*fn)(int, siginfo_t *, void *), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fn;
    sa.sa_flags = flags | SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) != 0) {
        outf(1, "FAIL sigaction(%d): %s\n", sig, strerror(errno));
        _exit(1);
    }
}

static void set_default(int sig)
{
    signal(sig, SIG_DFL);
}

static void mask(int how, int sig)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    sigprocmask(how, &s, NULL);
}

static int is_blocked(int sig)
{
    sigset_t cur;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    return sigismember(&cur, sig);
}

static const char *sig_name(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGTRAP: return "SIGTRAP";
    case SIGBUS: return "SIGBUS";
    case 0: return "no signal";
    }
    return "another signal";
}

static const char *code_name(int sig, int code)
{
    switch (code) {
    case SI_USER: return "SI_USER";
    case SI_QUEUE: return "SI_QUEUE";
    case SI_TKILL: return "SI_TKILL";
    case SI_KERNEL: return "SI_KERNEL";
    case SI_TIMER: return "SI_TIMER";
    }
    if (sig == SIGSEGV && code == SEGV_MAPERR)
        return "SEGV_MAPERR";
    if (sig == SIGSEGV && code == SEGV_ACCERR)
        return "SEGV_ACCERR";
    if (sig == SIGFPE && code == FPE_INTDIV)
        return "FPE_INTDIV";
    if (sig == SIGILL && code == ILL_ILLOPN)
        return "ILL_ILLOPN";
    if (sig == SIGTRAP && code == TRAP_BRKPT)
        return "TRAP_BRKPT";
    static char buf[32];
    snprintf(buf, sizeof buf, "code %d", code);
    return buf;
}

/* --- siginfo ------------------------------------------------------------- */

static volatile sig_atomic_t calls;
static siginfo_t last;

static void record(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    last = *si;
    calls++;
}

static void show_info(const char *what)
{
    outf(1, "%s: signo %d, %s, pid self %s, uid self %s\n", what, last.si_signo,
         code_name(last.si_signo, last.si_code), yes(last.si_pid == getpid()), yes(last.si_uid == getuid()));
}

static void section_siginfo(void)
{
    install(SIGUSR1, record, 0);
    install(SIGUSR2, record, 0);
    calls = 0;
    kill(getpid(), SIGUSR1);
    /* A signal sent to oneself is delivered before kill returns. */
    check(calls == 1, "kill to self delivered before kill returns");
    show_info("kill");
    union sigval v = { .sival_int = 42 };
    sigqueue(getpid(), SIGUSR2, v);
    show_info("sigqueue");
    outf(1, "sigqueue: value %d\n", last.si_value.sival_int);
    raise(SIGUSR1);
    show_info("raise");
    set_default(SIGUSR1);
    set_default(SIGUSR2);
}

/* --- blocking and pending ------------------------------------------------- */

static char order[128];
static volatile sig_atomic_t order_len;

static void note_order(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    const char *name = sig == SIGUSR1 ? "USR1" : sig == SIGUSR2 ? "USR2" : sig == SIGRTMIN ? "RTMIN" : "RTMIN+1";
    int n = snprintf(order + order_len, sizeof order - (size_t)order_len, "%s%s", order_len ? " " : "", name);
    if (si->si_code == SI_QUEUE)
        n += snprintf(order + order_len + n, sizeof order - (size_t)(order_len + n), "(%d)", si->si_value.sival_int);
    order_len += n;
}

/* Blocks four signals, sends them, unblocks them at once and records the
 * order the handlers start in. With a full sa_mask each handler blocks the
 * rest, so they run one after another, lowest number first. With an empty
 * sa_mask Linux sets up a frame for every pending signal before returning
 * to user mode (each on top of the last), so the last one set up, the
 * highest, runs first and each handler interrupts the previous one's first
 * instruction: the order comes out reversed. */
static void deliver_four(int full_mask)
{
    int sigs[4] = { SIGRTMIN + 1, SIGUSR2, SIGRTMIN, SIGUSR1 };
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = note_order;
    sa.sa_flags = SA_SIGINFO;
    if (full_mask)
        sigfillset(&sa.sa_mask);
    else
        sigemptyset(&sa.sa_mask);
    sigset_t block, old;
    sigemptyset(&block);
    for (int i = 0; i < 4; i++) {
        sigaction(sigs[i], &sa, NULL);
        sigaddset(&block, sigs[i]);
    }
    sigprocmask(SIG_BLOCK, &block, &old);
    for (int i = 0; i < 4; i++)
        kill(getpid(), sigs[i]);
    order_len = 0;
    order[0] = 0;
    sigprocmask(SIG_SETMASK, &old, NULL);
    outf(1, "pending order, %s mask in handlers: %s\n", full_mask ? "full" : "empty", order);
    for (int i = 0; i < 4; i++)
        set_default(sigs[i]);
}

static void section_blocking(void)
{
    install(SIGUSR1, record, 0);
    calls = 0;
    mask(SIG_BLOCK, SIGUSR1);
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR1);
    sigset_t pend;
    sigpending(&pend);
    outf(1, "blocked: handler ran %d times, USR1 pending %s\n", (int)calls, yes(sigismember(&pend, SIGUSR1)));
    mask(SIG_UNBLOCK, SIGUSR1);
    sigpending(&pend);
    outf(1, "unblocked: handler ran %d time (standard signals coalesce), still pending %s\n", (int)calls,
         yes(sigismember(&pend, SIGUSR1)));
    set_default(SIGUSR1);

    /* Real-time signals queue, each with its value, in order. */
    install(SIGRTMIN, note_order, 0);
    mask(SIG_BLOCK, SIGRTMIN);
    for (int i = 1; i <= 3; i++)
        sigqueue(getpid(), SIGRTMIN, (union sigval){ .sival_int = i });
    order_len = 0;
    order[0] = 0;
    mask(SIG_UNBLOCK, SIGRTMIN);
    outf(1, "real-time queue: %s\n", order);
    set_default(SIGRTMIN);

    deliver_four(1);
    deliver_four(0);

    /* A blocked signal stays pending even while ignored (the disposition
     * may change before the unblock); unblocked, it is discarded. */
    signal(SIGUSR2, SIG_IGN);
    mask(SIG_BLOCK, SIGUSR2);
    kill(getpid(), SIGUSR2);
    sigpending(&pend);
    outf(1, "ignored and blocked: pending %s", yes(sigismember(&pend, SIGUSR2)));
    mask(SIG_UNBLOCK, SIGUSR2);
    sigpending(&pend);
    outf(1, ", after the unblock %s\n", yes(sigismember(&pend, SIGUSR2)));
    /* Ignored and not blocked: discarded at once. */
    kill(getpid(), SIGUSR2);
    sigpending(&pend);
    outf(1, "ignored: pending %s\n", yes(sigismember(&pend, SIGUSR2)));
    set_default(SIGUSR2);
}

/* --- alternate stack --------------------------------------------------------- */

static char *alt_lo, *alt_hi;
static volatile int on_alt, alt_flags, alt_change_err;

static void where_am_i(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
    char local;
    on_alt = &local >= alt_lo && &local < alt_hi;
    stack_t cur;
    sigaltstack(NULL, &cur);
    alt_flags = cur.ss_flags;
    stack_t other = { .ss_sp = alt_lo, .ss_size = (size_t)(alt_hi - alt_lo), .ss_flags = 0 };
    alt_change_err = sigaltstack(&other, NULL) == 0 ? 0 : errno;
}

static sigjmp_buf overflow_env;
static volatile int overflow_on_alt, overflow_signo;

static void overflow_handler(int sig, siginfo_t *si, void *uc)
{
    (void)si;
    (void)uc;
    char local;
    overflow_on_alt = &local >= alt_lo && &local < alt_hi;
    overflow_signo = sig;
    siglongjmp(overflow_env, 1);
}

static int recurse(int depth)
{
    volatile char pad[1024];
    pad[0] = (char)depth;
    if (depth > 1000000000)
        return pad[0];
    return recurse(depth + 1) + pad[0];
}

static void section_altstack(void)
{
    size_t size = 64 * 1024;
    alt_lo = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check(alt_lo != MAP_FAILED, "mmap alternate stack");
    alt_hi = alt_lo + size;
    stack_t ss = { .ss_sp = alt_lo, .ss_size = size, .ss_flags = 0 }, old;
    check(sigaltstack(&ss, &old) == 0, "sigaltstack");
    check(old.ss_flags == SS_DISABLE, "no alternate stack at start");

    install(SIGUSR1, where_am_i, SA_ONSTACK);
    raise(SIGUSR1);
    outf(1, "SA_ONSTACK: on the alternate stack %s, ss_flags %s, changing it there %s\n", yes(on_alt),
         alt_flags == SS_ONSTACK ? "SS_ONSTACK" : "not SS_ONSTACK", alt_change_err == EPERM ? "EPERM" : "allowed");
    install(SIGUSR1, where_am_i, 0);
    raise(SIGUSR1);
    outf(1, "without SA_ONSTACK: on the alternate stack %s, ss_flags %d\n", yes(on_alt), alt_flags);
    stack_t cur;
    sigaltstack(NULL, &cur);
    outf(1, "after the handlers: ss_flags %d, size %s\n", cur.ss_flags, yes(cur.ss_size == size));
    set_default(SIGUSR1);

    install(SIGSEGV, overflow_handler, SA_ONSTACK);
    if (sigsetjmp(overflow_env, 1) == 0) {
        recurse(0);
        outf(1, "FAIL stack overflow: recursion returned\n");
        failures++;
    } else {
        outf(1, "stack overflow: SIGSEGV caught on the alternate stack %s (signo %d)\n", yes(overflow_on_alt),
             overflow_signo);
    }
    set_default(SIGSEGV);
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);
    munmap(alt_lo, size);
}

/* --- SA_RESTART, EINTR ------------------------------------------------------------ */

static int alarm_pipe[2];

static void alarm_writes(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
    int saved = errno;
    if (write(alarm_pipe[1], "x", 1) != 1)
        _exit(122);
    errno = saved;
}

static void timer_ms(long ms)
{
    struct itimerval it = { { 0, 0 }, { ms / 1000, (ms % 1000) * 1000 } };
    setitimer(ITIMER_REAL, &it, NULL);
}

static void section_restart(void)
{
    check(pipe(alarm_pipe) == 0, "pipe");
    char c = 0;

    /* Without SA_RESTART the read fails with EINTR; the handler's byte stays. */
    install(SIGALRM, alarm_writes, 0);
    alarm(1);
    ssize_t n = read(alarm_pipe[0], &c, 1);
    int err = errno;
    outf(1, "alarm, no SA_RESTART: read %zd (%s)", n, n < 0 ? (err == EINTR ? "EINTR" : strerror(err)) : "data");
    n = read(alarm_pipe[0], &c, 1);
    outf(1, ", then read %zd byte '%c'\n", n, c);

    /* With SA_RESTART the read resumes and returns the handler's byte. */
    install(SIGALRM, alarm_writes, SA_RESTART);
    c = 0;
    timer_ms(20);
    n = read(alarm_pipe[0], &c, 1);
    outf(1, "timer, SA_RESTART: read %zd byte '%c'\n", n, c);

    /* nanosleep is never restarted: EINTR with the time left. */
    char drain;
    timer_ms(20);
    struct timespec req = { 5, 0 }, rem = { 0, 0 };
    int r = nanosleep(&req, &rem);
    err = errno;
    outf(1, "timer, SA_RESTART: nanosleep %d (%s), time left over 4 s %s\n", r, r < 0 && err == EINTR ? "EINTR" : "?",
         yes(rem.tv_sec >= 4));
    check(read(alarm_pipe[0], &drain, 1) == 1, "drain the pipe");
    set_default(SIGALRM);
    close(alarm_pipe[0]);
    close(alarm_pipe[1]);
}

/* --- SA_RESETHAND, SA_NODEFER ------------------------------------------------------ */

static volatile int blocked_inside;

static void once_handler(int sig, siginfo_t *si, void *uc)
{
    (void)si;
    (void)uc;
    calls++;
    blocked_inside = is_blocked(sig);
}

static char trace[64];
static volatile sig_atomic_t trace_len, depth;

static void nested(int sig, siginfo_t *si, void *uc)
{
    (void)si;
    (void)uc;
    int me = ++depth;
    trace_len += snprintf(trace + trace_len, sizeof trace - (size_t)trace_len, "%senter%d", trace_len ? " " : "", me);
    if (me == 1 && calls++ == 0)
        raise(sig);
    trace_len += snprintf(trace + trace_len, sizeof trace - (size_t)trace_len, " exit%d", me);
    depth--;
}

static void section_flags(void)
{
    install(SIGUSR1, once_handler, SA_RESETHAND);
    calls = 0;
    raise(SIGUSR1);
    struct sigaction now;
    sigaction(SIGUSR1, NULL, &now);
    outf(1, "SA_RESETHAND: ran %d, signal blocked in the handler %s, then SIG_DFL %s\n", (int)calls,
         yes(blocked_inside), yes(now.sa_handler == SIG_DFL));

    install(SIGUSR1, once_handler, 0);
    raise(SIGUSR1);
    outf(1, "default flags: signal blocked in its handler %s\n", yes(blocked_inside));
    install(SIGUSR1, once_handler, SA_NODEFER);
    raise(SIGUSR1);
    outf(1, "SA_NODEFER: signal blocked in its handler %s\n", yes(blocked_inside));

    for (int nodefer = 0; nodefer < 2; nodefer++) {
        install(SIGUSR2, nested, nodefer ? SA_NODEFER : 0);
        trace_len = 0;
        trace[0] = 0;
        depth = 0;
        calls = 0;
        raise(SIGUSR2);
        outf(1, "%s, raise inside the handler: %s\n", nodefer ? "SA_NODEFER" : "default", trace);
    }
    set_default(SIGUSR1);
    set_default(SIGUSR2);
}

/* --- faults ------------------------------------------------------------------------- */

static sigjmp_buf fault_env;
static volatile int fault_sig, fault_code;
static void *volatile fault_addr;

static void fault_handler(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    fault_sig = sig;
    fault_code = si->si_code;
    fault_addr = si->si_addr;
    siglongjmp(fault_env, 1);
}

/* Runs fn(arg) and returns 1 if it faulted (details in fault_*). */
static int faults(void (*fn)(volatile char *), volatile char *arg)
{
    fault_sig = 0;
    fault_addr = NULL;
    if (sigsetjmp(fault_env, 1) == 0) {
        fn(arg);
        return 0;
    }
    return 1;
}

static void do_write(volatile char *p)
{
    *p = 1;
}

static void do_read(volatile char *p)
{
    (void)*p;
}

static void do_raise(volatile char *p)
{
    (void)p;
    raise(SIGSEGV);
}

static void do_divide(volatile char *p)
{
    volatile int zero = 0, n = (int)(intptr_t)p;
    n = n / zero;
}

static void show_fault(const char *what, int faulted, const void *want_addr)
{
    if (!faulted) {
        outf(1, "%s: no fault\n", what);
        return;
    }
    outf(1, "%s: %s %s, si_addr %s\n", what, sig_name(fault_sig), code_name(fault_sig, fault_code),
         want_addr == NULL ? "-" : fault_addr == want_addr ? "exact" : "WRONG");
    if (want_addr != NULL)
        check(fault_addr == want_addr, what);
}

extern char rf_ud2_insn[], rf_int3_after[];
static volatile int resumed_sig, resumed_code, resumed_at_insn;

static void skip_insn(int sig, siginfo_t *si, void *ctx)
{
    ucontext_t *uc = ctx;
    resumed_sig = sig;
    resumed_code = si->si_code;
    if (sig == SIGILL) {
        resumed_at_insn = si->si_addr == (void *)rf_ud2_insn &&
                          uc->uc_mcontext.gregs[REG_RIP] == (greg_t)(uintptr_t)rf_ud2_insn;
        uc->uc_mcontext.gregs[REG_RIP] += 2; /* ud2 is two bytes */
    } else {
        /* int3 traps after itself: the saved rip is already past it. */
        resumed_at_insn = uc->uc_mcontext.gregs[REG_RIP] == (greg_t)(uintptr_t)rf_int3_after;
    }
}

__attribute__((noinline)) static int run_ud2(void)
{
    int after = 0;
    __asm__ volatile(".globl rf_ud2_insn\nrf_ud2_insn: ud2\nmovl $1, %0" : "=r"(after));
    return after;
}

__attribute__((noinline)) static void run_int3(void)
{
    __asm__ volatile("int3\n.globl rf_int3_after\nrf_int3_after: nop");
}

static void section_faults(void)
{
    long page = sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, (size_t)page * 3, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check(p != MAP_FAILED, "mmap");
    install(SIGSEGV, fault_handler, 0);
    install(SIGFPE, fault_handler, 0);

    mprotect(p, (size_t)page, PROT_NONE);
    show_fault("write to PROT_NONE", faults(do_write, p + 8), p + 8);
    show_fault("read of PROT_NONE", faults(do_read, p + 100), p + 100);
    mprotect(p + page, (size_t)page, PROT_READ);
    show_fault("write to read-only", faults(do_write, p + page + 5), p + page + 5);
    show_fault("read of read-only", faults(do_read, p + page + 5), NULL);
    munmap(p + 2 * page, (size_t)page);
    show_fault("write to unmapped", faults(do_write, p + 2 * page + 16), p + 2 * page + 16);
    show_fault("read of NULL+16", faults(do_read, (volatile char *)16), (void *)16);
    show_fault("raise(SIGSEGV)", faults(do_raise, NULL), NULL);
    show_fault("divide by zero", faults(do_divide, (volatile char *)7), NULL);
    /* The mask is restored by siglongjmp: faults keep being caught. */
    show_fault("write to PROT_NONE again", faults(do_write, p), p);
    munmap(p, (size_t)page * 2);
    set_default(SIGSEGV);
    set_default(SIGFPE);

    install(SIGILL, skip_insn, 0);
    int after = run_ud2();
    outf(1, "ud2: %s %s at the instruction %s, resumed after it %s\n", sig_name(resumed_sig),
         code_name(resumed_sig, resumed_code), yes(resumed_at_insn), yes(after == 1));
    install(SIGTRAP, skip_insn, 0);
    run_int3();
    outf(1, "int3: %s %s, saved rip after it %s\n", sig_name(resumed_sig), code_name(resumed_sig, resumed_code),
         yes(resumed_at_insn));
    set_default(SIGILL);
    set_default(SIGTRAP);
}

/* --- sigtimedwait, sigsuspend ------------------------------------------------------------- */

static void section_wait(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGRTMIN);
    sigprocmask(SIG_BLOCK, &set, NULL);
    siginfo_t si;
    struct timespec second = { 1, 0 }, short_wait = { 0, 20 * 1000 * 1000 }, zero = { 0, 0 };

    kill(getpid(), SIGUSR1);
    int r = sigtimedwait(&set, &si, &second);
    outf(1, "sigtimedwait: returned %s, %s, pid self %s\n", r == SIGUSR1 ? "SIGUSR1" : "?",
         code_name(si.si_signo, si.si_code), yes(si.si_pid == getpid()));
    sigqueue(getpid(), SIGRTMIN, (union sigval){ .sival_int = 7 });
    r = sigwaitinfo(&set, &si);
    outf(1, "sigwaitinfo: returned %s, %s, value %d\n", r == SIGRTMIN ? "SIGRTMIN" : "?",
         code_name(si.si_signo, si.si_code), si.si_value.sival_int);
    errno = 0;
    r = sigtimedwait(&set, &si, &short_wait);
    outf(1, "sigtimedwait with nothing pending, 20 ms: %d (%s)\n", r, errno == EAGAIN ? "EAGAIN" : strerror(errno));
    errno = 0;
    r = sigtimedwait(&set, &si, &zero);
    outf(1, "sigtimedwait with nothing pending, zero timeout: %d (%s)\n", r,
         errno == EAGAIN ? "EAGAIN" : strerror(errno));
    sigprocmask(SIG_UNBLOCK, &set, NULL);

    /* sigsuspend: a pending blocked signal is delivered, the mask restored. */
    install(SIGUSR1, record, 0);
    calls = 0;
    mask(SIG_BLOCK, SIGUSR1);
    kill(getpid(), SIGUSR1);
    sigset_t none;
    sigemptyset(&none);
    r = sigsuspend(&none);
    outf(1, "sigsuspend with USR1 pending: %d (%s), handler ran %d, USR1 blocked again %s\n", r,
         errno == EINTR ? "EINTR" : strerror(errno), (int)calls, yes(is_blocked(SIGUSR1)));
    mask(SIG_UNBLOCK, SIGUSR1);

    /* sigsuspend woken by a timer. */
    install(SIGALRM, record, 0);
    mask(SIG_BLOCK, SIGALRM);
    calls = 0;
    timer_ms(20);
    r = sigsuspend(&none);
    outf(1, "sigsuspend until a timer: %d (%s), %s, SIGALRM blocked again %s\n", r,
         errno == EINTR ? "EINTR" : strerror(errno), code_name(last.si_signo, last.si_code),
         yes(is_blocked(SIGALRM)));
    mask(SIG_UNBLOCK, SIGALRM);
    set_default(SIGALRM);
    set_default(SIGUSR1);
}

/* --- FPU state --------------------------------------------------------------------------- */

static volatile int ticks;

static void clobber_fpu(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
    ticks++;
    volatile double x = 1.5;
    for (int i = 0; i < 100; i++)
        x = x * 1.000001 + 0.25;
    __asm__ volatile("pxor %%xmm0, %%xmm0\n pcmpeqd %%xmm1, %%xmm1\n pcmpeqd %%xmm2, %%xmm2\n"
                     "pxor %%xmm3, %%xmm3\n pcmpeqd %%xmm4, %%xmm4\n pxor %%xmm5, %%xmm5\n"
                     "pcmpeqd %%xmm6, %%xmm6\n pxor %%xmm7, %%xmm7\n pcmpeqd %%xmm8, %%xmm8\n"
                     "pxor %%xmm9, %%xmm9\n pcmpeqd %%xmm10, %%xmm10\n pxor %%xmm11, %%xmm11\n"
                     "pcmpeqd %%xmm12, %%xmm12\n pxor %%xmm13, %%xmm13\n pcmpeqd %%xmm14, %%xmm14\n"
                     "pxor %%xmm15, %%xmm15\n fninit" ::
                         : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
                           "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "st");
}

/* noipa: computed afresh on every call, never folded into one call. */
__attribute__((noipa)) static double fp_work(long n)
{
    double a = 0.5, b = 1.25, c = 3.0, d = 0.125;
    for (long i = 1; i <= n; i++) {
        a = a * 0.9999999 + 1.0 / (double)i;
        b = b + a * 1e-7;
        c = c * 1.0000001 - b * 1e-9;
        d = d + c / (double)(i + 1);
    }
    return a + b * 3 + c * 5 + d * 7;
}

static void section_fpu(void)
{
    const long n = 2000000;
    double want = fp_work(n);
    install(SIGALRM, clobber_fpu, SA_RESTART);
    struct itimerval it = { { 0, 500 }, { 0, 500 } };
    ticks = 0;
    setitimer(ITIMER_REAL, &it, NULL);
    int rounds = 0, same = 1;
    while ((ticks < 20 || rounds < 2) && rounds < 2000) {
        same &= fp_work(n) == want;
        rounds++;
    }
    struct itimerval off = { { 0, 0 }, { 0, 0 } };
    setitimer(ITIMER_REAL, &off, NULL);
    set_default(SIGALRM);
    outf(1, "fpu: results unchanged across at least 20 handlers that clobber xmm0-15 and x87: %s\n",
         yes(same && ticks >= 20));
}

/* --- refusals ---------------------------------------------------------------------------- */

static void section_refusals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    errno = 0;
    int r1 = sigaction(SIGKILL, &sa, NULL), e1 = errno;
    errno = 0;
    int r2 = sigaction(SIGSTOP, &sa, NULL), e2 = errno;
    outf(1, "sigaction SIGKILL: %d %s, SIGSTOP: %d %s\n", r1, e1 == EINVAL ? "EINVAL" : strerror(e1), r2,
         e2 == EINVAL ? "EINVAL" : strerror(e2));
    sigset_t all, cur;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    sigprocmask(SIG_SETMASK, NULL, &cur);
    outf(1, "block everything: SIGKILL blocked %s, SIGSTOP blocked %s, SIGUSR1 blocked %s\n",
         yes(sigismember(&cur, SIGKILL)), yes(sigismember(&cur, SIGSTOP)), yes(sigismember(&cur, SIGUSR1)));
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    errno = 0;
    int r3 = kill(getpid(), 0);
    errno = 0;
    int r4 = kill(getpid(), 65), e4 = errno;
    outf(1, "kill(self, 0): %d, kill(self, 65): %d %s\n", r3, r4, e4 == EINVAL ? "EINVAL" : strerror(e4));
}

int main(void)
{
    section_siginfo();
    section_blocking();
    section_altstack();
    section_restart();
    section_flags();
    section_faults();
    section_wait();
    section_fpu();
    section_refusals();
    return failures ? 1 : 0;
}
