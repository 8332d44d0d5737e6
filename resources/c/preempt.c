/* preempt: tasks that never enter the kernel must not starve the others,
 * nor their own timers. Each case spins in user mode without a syscall:
 *
 *   - a child spinning forever while its parent sleeps, writes and kills it;
 *   - two processes that each spin until the other's shared counter moves;
 *   - a thread spinning until the main thread (which sleeps first) sets a flag;
 *   - ITIMER_REAL and ITIMER_VIRTUAL interrupting a pure spin loop;
 *   - SIGALRM's default action ending a spinning child.
 *
 * Exits 0; a failed check prints "FAIL ..." and exits 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

#include "common.h"

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static const char *how_ended(int st)
{
    static char buf[64];
    if (WIFEXITED(st))
        snprintf(buf, sizeof buf, "exited %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, sizeof buf, "killed by %s", WTERMSIG(st) == SIGKILL ? "SIGKILL"
                                                  : WTERMSIG(st) == SIGALRM ? "SIGALRM"
                                                                            : "another signal");
    else
        snprintf(buf, sizeof buf, "status %#x", st);
    return buf;
}

static void spinning_child(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        for (;;) {
        }
    }
    int rounds = 0;
    for (int i = 0; i < 5; i++) {
        sleep_ms(10);
        rounds++;
    }
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    outf(1, "spinning child: parent slept %d times beside it, child %s\n", rounds, how_ended(st));
}

static void two_spinners(void)
{
    volatile long *c = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (c == MAP_FAILED)
        _exit(2);
    /* Ping-pong: each side waits, spinning, for the other's turn. */
    const long turns = 20;
    pid_t pid = fork();
    if (pid == 0) {
        for (long i = 0; i < turns; i++) {
            while (c[0] != 2 * i + 1) {
            }
            c[0] = 2 * i + 2;
        }
        _exit(0);
    }
    for (long i = 0; i < turns; i++) {
        while (c[0] != 2 * i) {
        }
        c[0] = 2 * i + 1;
    }
    while (c[0] != 2 * turns) {
    }
    int st;
    waitpid(pid, &st, 0);
    outf(1, "two spinning processes: %ld turns each, child %s\n", turns, how_ended(st));
}

static volatile int flag;

static void *spin_thread(void *arg)
{
    (void)arg;
    long n = 0;
    while (!flag)
        n++;
    return (void *)(n > 0 ? 1L : 0L);
}

static void spinning_thread(void)
{
    pthread_t t;
    flag = 0;
    pthread_create(&t, NULL, spin_thread, NULL);
    sleep_ms(20);
    flag = 1;
    void *r;
    pthread_join(t, &r);
    outf(1, "spinning thread: main thread slept and stopped it, it spun %s\n", r ? "yes" : "no");
}

static volatile sig_atomic_t fired;

static void on_signal(int sig)
{
    fired = sig;
}

static void itimer_spin(int which, int sig, const char *name)
{
    signal(sig, on_signal);
    fired = 0;
    struct itimerval it = { { 0, 0 }, { 0, 30000 } };
    setitimer(which, &it, NULL);
    while (!fired) {
    }
    signal(sig, SIG_DFL);
    outf(1, "%s interrupts a pure spin loop: %s\n", name, fired == sig ? "yes" : "no");
}

static void alarm_kills_spinner(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        struct itimerval it = { { 0, 0 }, { 0, 20000 } };
        setitimer(ITIMER_REAL, &it, NULL);
        for (;;) {
        }
    }
    int st;
    waitpid(pid, &st, 0);
    outf(1, "spinning child with a 20 ms ITIMER_REAL: %s\n", how_ended(st));
}

int main(void)
{
    spinning_child();
    two_spinners();
    spinning_thread();
    itimer_spin(ITIMER_REAL, SIGALRM, "ITIMER_REAL");
    itimer_spin(ITIMER_VIRTUAL, SIGVTALRM, "ITIMER_VIRTUAL");
    itimer_spin(ITIMER_PROF, SIGPROF, "ITIMER_PROF");
    alarm_kills_spinner();
    return 0;
}
