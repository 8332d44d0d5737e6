/* timers: interval timers and POSIX timers, each section printing
 * deterministic lines (yes/no and exact values where Linux makes them
 * exact, never raw times):
 *
 *   - alarm: the seconds the previous alarm had left, cancelling;
 *   - setitimer/getitimer: old values, the interval read back, refusals,
 *     a periodic ITIMER_REAL counted in a handler (SI_KERNEL);
 *   - ITIMER_VIRTUAL and ITIMER_PROF over a busy loop;
 *   - timer_create/settime/gettime/getoverrun/delete: SIGEV_SIGNAL with
 *     si_timerid/si_value, overruns while the signal is blocked,
 *     TIMER_ABSTIME, the old value, SIGEV_NONE, SIGEV_THREAD_ID,
 *     SIGEV_THREAD (glibc's helper thread), a pending signal discarded by
 *     timer_delete, refusals;
 *   - inheritance: fork clears the alarm and the timers; exec keeps the
 *     alarm and drops the timers.
 *
 * Exits 0; a failed check prints "FAIL ..." and exits 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

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

static const char *err_name(int e)
{
    switch (e) {
    case EINVAL:
        return "EINVAL";
    case EFAULT:
        return "EFAULT";
    case EAGAIN:
        return "EAGAIN";
    default:
        return strerror(e);
    }
}

static const char *code_name(int code)
{
    switch (code) {
    case SI_KERNEL:
        return "SI_KERNEL";
    case SI_TIMER:
        return "SI_TIMER";
    case SI_USER:
        return "SI_USER";
    case SI_TKILL:
        return "SI_TKILL";
    default:
        return "other";
    }
}

static long long now_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void install(int sig, void (*fn)(int, siginfo_t *, void *))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fn;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
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

static long long tv_ns(struct timeval tv)
{
    return tv.tv_sec * 1000000000LL + tv.tv_usec * 1000LL;
}

static long long ts_ns(struct timespec ts)
{
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* --- alarm ------------------------------------------------------------------------------ */

static void section_alarm(void)
{
    unsigned a = alarm(5);
    unsigned b = alarm(3);
    unsigned c = alarm(0);
    unsigned d = alarm(0);
    outf(1, "alarm: first %u, replacing a 5 s alarm %u, cancelling a 3 s alarm %u, cancelling nothing %u\n", a, b, c,
         d);
    struct itimerval small = { { 0, 0 }, { 0, 300000 } };
    setitimer(ITIMER_REAL, &small, NULL);
    unsigned e = alarm(0);
    struct itimerval mid = { { 0, 0 }, { 2, 700000 } };
    setitimer(ITIMER_REAL, &mid, NULL);
    unsigned f = alarm(0);
    outf(1, "alarm: 0.3 s left reads %u, 2.7 s left reads %u\n", e, f);
}

/* --- setitimer / getitimer -------------------------------------------------------------- */

static volatile int ticks;
static volatile int last_code;

static void count_tick(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    ticks++;
    last_code = si->si_code;
}

static void section_itimer(void)
{
    struct itimerval it = { { 1, 0 }, { 2, 0 } }, old, cur;
    check(setitimer(ITIMER_REAL, &it, &old) == 0, "setitimer");
    outf(1, "setitimer: old value of a disarmed timer %lld.%06lld, interval %lld\n", (long long)old.it_value.tv_sec,
         (long long)old.it_value.tv_usec, (long long)old.it_interval.tv_sec);
    check(getitimer(ITIMER_REAL, &cur) == 0, "getitimer");
    long long v = tv_ns(cur.it_value);
    outf(1, "getitimer: value in (1.5 s, 2 s] %s, interval %lld.%06lld\n", yes(v > 1500000000LL && v <= 2000000000LL),
         (long long)cur.it_interval.tv_sec, (long long)cur.it_interval.tv_usec);
    struct itimerval off = { { 0, 0 }, { 0, 0 } };
    check(setitimer(ITIMER_REAL, &off, &old) == 0, "setitimer off");
    v = tv_ns(old.it_value);
    outf(1, "setitimer off: old value in (1.5 s, 2 s] %s, old interval %lld.%06lld\n",
         yes(v > 1500000000LL && v <= 2000000000LL), (long long)old.it_interval.tv_sec,
         (long long)old.it_interval.tv_usec);
    getitimer(ITIMER_REAL, &cur);
    outf(1, "getitimer after: value %lld.%06lld\n", (long long)cur.it_value.tv_sec, (long long)cur.it_value.tv_usec);

    errno = 0;
    int r1 = setitimer(99, &it, NULL), e1 = errno;
    struct itimerval bad = { { 0, 0 }, { 0, 1000000 } };
    errno = 0;
    int r2 = setitimer(ITIMER_REAL, &bad, NULL), e2 = errno;
    struct itimerval neg = { { 0, 0 }, { -1, 0 } };
    errno = 0;
    int r3 = setitimer(ITIMER_REAL, &neg, NULL), e3 = errno;
    errno = 0;
    int r4 = getitimer(7, &cur), e4 = errno;
    outf(1, "refusals: which 99 %d %s, usec 1000000 %d %s, negative %d %s, getitimer(7) %d %s\n", r1, err_name(e1), r2,
         err_name(e2), r3, err_name(e3), r4, err_name(e4));

    /* A periodic ITIMER_REAL: 5 ticks of 10 ms. */
    install(SIGALRM, count_tick);
    ticks = 0;
    struct itimerval per = { { 0, 10000 }, { 0, 10000 } };
    long long t0 = now_ns(CLOCK_MONOTONIC);
    setitimer(ITIMER_REAL, &per, NULL);
    sigset_t none;
    sigemptyset(&none);
    mask(SIG_BLOCK, SIGALRM);
    while (ticks < 5)
        sigsuspend(&none);
    mask(SIG_UNBLOCK, SIGALRM);
    setitimer(ITIMER_REAL, &off, NULL);
    long long el = now_ns(CLOCK_MONOTONIC) - t0;
    outf(1, "periodic ITIMER_REAL: 5 ticks, %s, took at least 45 ms %s\n", code_name(last_code), yes(el >= 45000000LL));
    set_default(SIGALRM);
}

/* --- ITIMER_VIRTUAL / ITIMER_PROF ------------------------------------------------------- */

static volatile int fired;

static void set_fired(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    fired = sig;
    last_code = si->si_code;
}

/* Spins until the handler runs, with a cheap syscall now and then. */
static long long spin_until_fired(void)
{
    long long t0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    unsigned long n = 0;
    while (!fired) {
        if (++n % 4096 == 0)
            (void)syscall(SYS_getppid);
        if (now_ns(CLOCK_PROCESS_CPUTIME_ID) - t0 > 10000000000LL)
            break;
    }
    return now_ns(CLOCK_PROCESS_CPUTIME_ID) - t0;
}

static void section_cpu_itimers(void)
{
    static const struct {
        int which, sig;
        const char *name;
    } kinds[] = { { ITIMER_VIRTUAL, SIGVTALRM, "ITIMER_VIRTUAL" }, { ITIMER_PROF, SIGPROF, "ITIMER_PROF" } };
    for (int i = 0; i < 2; i++) {
        install(kinds[i].sig, set_fired);
        fired = 0;
        struct itimerval it = { { 0, 0 }, { 0, 50000 } }, cur;
        setitimer(kinds[i].which, &it, NULL);
        getitimer(kinds[i].which, &cur);
        long long v = tv_ns(cur.it_value);
        long long used = spin_until_fired();
        getitimer(kinds[i].which, &cur);
        outf(1, "%s: armed %s, fired %s (%s), after at least 45 ms of CPU %s, then disarmed %s\n", kinds[i].name,
             yes(v > 0), yes(fired == kinds[i].sig), code_name(last_code),
             yes(used >= 45000000LL), yes(cur.it_value.tv_sec == 0 && cur.it_value.tv_usec == 0));
        set_default(kinds[i].sig);
    }
}

/* --- POSIX timers ----------------------------------------------------------------------- */

static void section_posix(void)
{
    int sig = SIGRTMIN + 1;
    mask(SIG_BLOCK, sig);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);

    /* SIGEV_SIGNAL with a value, one-shot. */
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = sig;
    sev.sigev_value.sival_int = 77;
    timer_t tid;
    check(timer_create(CLOCK_MONOTONIC, &sev, &tid) == 0, "timer_create");
    struct itimerspec its = { { 0, 0 }, { 0, 20000000 } }, cur;
    long long t0 = now_ns(CLOCK_MONOTONIC);
    check(timer_settime(tid, 0, &its, NULL) == 0, "timer_settime");
    timer_gettime(tid, &cur);
    long long v = ts_ns(cur.it_value);
    siginfo_t si;
    int got = sigwaitinfo(&set, &si);
    long long el = now_ns(CLOCK_MONOTONIC) - t0;
    outf(1, "one-shot: gettime value in (0, 20 ms] %s, got %s, %s, si_value %d, si_timerid right %s, si_overrun %d, "
            "after 20 ms %s\n",
         yes(v > 0 && v <= 20000000LL), got == sig ? "RTMIN+1" : "?", code_name(si.si_code), si.si_value.sival_int,
         yes(si.si_timerid == (int)(intptr_t)tid), si.si_overrun, yes(el >= 20000000LL));
    timer_gettime(tid, &cur);
    outf(1, "one-shot after expiry: value %lld, interval %lld, overrun %d\n", ts_ns(cur.it_value),
         ts_ns(cur.it_interval), timer_getoverrun(tid));

    /* Periodic with the signal blocked: overruns. */
    struct itimerspec per = { { 0, 5000000 }, { 0, 5000000 } };
    timer_settime(tid, 0, &per, NULL);
    sleep_ms(100);
    got = sigwaitinfo(&set, &si);
    int ov = timer_getoverrun(tid);
    outf(1, "periodic 5 ms, blocked for 100 ms: one signal %s, si_overrun at least 10 %s, timer_getoverrun agrees %s\n",
         yes(got == sig), yes(si.si_overrun >= 10), yes(ov == si.si_overrun));
    struct itimerspec zero = { { 0, 0 }, { 0, 0 } }, old;
    timer_settime(tid, 0, &zero, &old);
    outf(1, "disarm: old interval %lld ns, old value in (0, 5 ms] %s\n", ts_ns(old.it_interval),
         yes(ts_ns(old.it_value) > 0 && ts_ns(old.it_value) <= 5000000LL));
    sigtimedwait(&set, &si, &(struct timespec){ 0, 0 });

    /* The old value of an armed timer. */
    struct itimerspec slow = { { 0, 500000000 }, { 1, 0 } };
    timer_settime(tid, 0, &slow, NULL);
    timer_settime(tid, 0, &slow, &old);
    outf(1, "rearm: old interval %lld ns, old value in (0.9 s, 1 s] %s\n", ts_ns(old.it_interval),
         yes(ts_ns(old.it_value) > 900000000LL && ts_ns(old.it_value) <= 1000000000LL));
    timer_settime(tid, 0, &zero, NULL);

    /* TIMER_ABSTIME on CLOCK_REALTIME, and one already past. */
    timer_t rt;
    check(timer_create(CLOCK_REALTIME, &sev, &rt) == 0, "timer_create realtime");
    struct timespec nowr;
    clock_gettime(CLOCK_REALTIME, &nowr);
    long long target = ts_ns(nowr) + 30000000LL;
    struct itimerspec abs = { { 0, 0 }, { target / 1000000000LL, target % 1000000000LL } };
    t0 = now_ns(CLOCK_MONOTONIC);
    timer_settime(rt, TIMER_ABSTIME, &abs, NULL);
    got = sigwaitinfo(&set, &si);
    el = now_ns(CLOCK_MONOTONIC) - t0;
    int on_time = el >= 25000000LL;
    struct itimerspec past = { { 0, 0 }, { 1, 0 } };
    t0 = now_ns(CLOCK_MONOTONIC);
    timer_settime(rt, TIMER_ABSTIME, &past, NULL);
    int got2 = sigwaitinfo(&set, &si);
    el = now_ns(CLOCK_MONOTONIC) - t0;
    outf(1, "TIMER_ABSTIME: realtime +30 ms fired %s after at least 25 ms %s; a time in the past fires at once %s\n",
         yes(got == sig), yes(on_time), yes(got2 == sig && el < 1000000000LL));
    timer_delete(rt);

    /* SIGEV_NONE: counts down without a signal. */
    struct sigevent none;
    memset(&none, 0, sizeof none);
    none.sigev_notify = SIGEV_NONE;
    timer_t nt;
    check(timer_create(CLOCK_MONOTONIC, &none, &nt) == 0, "timer_create none");
    struct itimerspec nsp = { { 0, 0 }, { 0, 30000000 } };
    timer_settime(nt, 0, &nsp, NULL);
    timer_gettime(nt, &cur);
    long long before = ts_ns(cur.it_value);
    sleep_ms(50);
    timer_gettime(nt, &cur);
    sigset_t pend;
    sigpending(&pend);
    int any = 0;
    for (int s = 1; s < 65; s++)
        any |= sigismember(&pend, s) == 1;
    outf(1, "SIGEV_NONE: value counted down %s, expired to 0 %s, nothing pending %s\n",
         yes(before > 0 && before <= 30000000LL), yes(ts_ns(cur.it_value) == 0), yes(!any));
    timer_delete(nt);

    /* SIGEV_THREAD_ID to this thread. */
    struct sigevent th;
    memset(&th, 0, sizeof th);
    th.sigev_notify = SIGEV_THREAD_ID;
    th.sigev_signo = sig;
    th._sigev_un._tid = (pid_t)syscall(SYS_gettid);
    timer_t tt;
    check(timer_create(CLOCK_MONOTONIC, &th, &tt) == 0, "timer_create thread id");
    struct itimerspec soon = { { 0, 0 }, { 0, 5000000 } };
    timer_settime(tt, 0, &soon, NULL);
    got = sigwaitinfo(&set, &si);
    outf(1, "SIGEV_THREAD_ID: got %s, %s, si_value is the timer id %s\n", yes(got == sig), code_name(si.si_code),
         yes(si.si_timerid == (int)(intptr_t)tt));
    timer_delete(tt);
    th._sigev_un._tid = 999999;
    timer_t bad;
    errno = 0;
    int r = timer_create(CLOCK_MONOTONIC, &th, &bad);
    outf(1, "SIGEV_THREAD_ID of a thread not in the process: %d %s\n", r, err_name(errno));

    /* timer_delete discards the pending signal. */
    timer_settime(tid, 0, &soon, NULL);
    sleep_ms(30);
    sigpending(&pend);
    int was = sigismember(&pend, sig);
    check(timer_delete(tid) == 0, "timer_delete");
    sigpending(&pend);
    errno = 0;
    int rg = timer_gettime(tid, &cur), eg = errno;
    errno = 0;
    int rd = timer_delete(tid), ed = errno;
    outf(1, "timer_delete: pending before %s, still pending after %s; gettime %d %s, delete again %d %s\n", yes(was),
         yes(sigismember(&pend, sig)), rg, err_name(eg), rd, err_name(ed));
    /* Linux 6.13 and later drop it here; older ones deliver it. */
    sigtimedwait(&set, &si, &(struct timespec){ 0, 0 });

    /* Refusals. */
    errno = 0;
    int r1 = timer_create(123, &sev, &bad), e1 = errno;
    struct sigevent weird = sev;
    weird.sigev_notify = 99;
    errno = 0;
    int r2 = timer_create(CLOCK_MONOTONIC, &weird, &bad), e2 = errno;
    weird = sev;
    weird.sigev_signo = 0;
    errno = 0;
    int r3 = timer_create(CLOCK_MONOTONIC, &weird, &bad), e3 = errno;
    weird.sigev_signo = 65;
    errno = 0;
    int r4 = timer_create(CLOCK_MONOTONIC, &weird, &bad), e4 = errno;
    timer_t ok;
    timer_create(CLOCK_MONOTONIC, &sev, &ok);
    struct itimerspec badns = { { 0, 0 }, { 0, 1000000000 } };
    errno = 0;
    int r5 = timer_settime(ok, 0, &badns, NULL), e5 = errno;
    timer_delete(ok);
    outf(1, "refusals: clock 123 %d %s, sigev_notify 99 %d %s, signo 0 %d %s, signo 65 %d %s, tv_nsec 1e9 %d %s\n",
         r1, err_name(e1), r2, err_name(e2), r3, err_name(e3), r4, err_name(e4), r5, err_name(e5));
    mask(SIG_UNBLOCK, sig);
}

/* SIGEV_THREAD: glibc runs the function on a helper thread. */
static pthread_mutex_t th_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t th_cond = PTHREAD_COND_INITIALIZER;
static int th_calls, th_value;

static void on_expiry(union sigval v)
{
    pthread_mutex_lock(&th_lock);
    th_calls++;
    th_value = v.sival_int;
    pthread_cond_signal(&th_cond);
    pthread_mutex_unlock(&th_lock);
}

static void section_sigev_thread(void)
{
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD;
    sev.sigev_notify_function = on_expiry;
    sev.sigev_value.sival_int = 1234;
    timer_t t;
    check(timer_create(CLOCK_MONOTONIC, &sev, &t) == 0, "timer_create SIGEV_THREAD");
    struct itimerspec per = { { 0, 10000000 }, { 0, 10000000 } };
    timer_settime(t, 0, &per, NULL);
    pthread_mutex_lock(&th_lock);
    while (th_calls < 3)
        pthread_cond_wait(&th_cond, &th_lock);
    pthread_mutex_unlock(&th_lock);
    timer_delete(t);
    outf(1, "SIGEV_THREAD: the function ran at least 3 times, value %d\n", th_value);
}

/* --- fork and exec ---------------------------------------------------------------------- */

static void section_inherit(const char *self)
{
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_NONE;
    timer_t t;
    check(timer_create(CLOCK_MONOTONIC, &sev, &t) == 0, "timer_create");
    struct itimerspec its = { { 0, 0 }, { 100, 0 } };
    timer_settime(t, 0, &its, NULL);
    alarm(100);
    pid_t pid = fork();
    if (pid == 0) {
        struct itimerval cur;
        getitimer(ITIMER_REAL, &cur);
        struct itimerspec ts;
        errno = 0;
        int r = timer_gettime(t, &ts);
        outf(1, "fork child: alarm left %u, ITIMER_REAL value %lld, parent's timer: %d %s\n", alarm(0),
             (long long)cur.it_value.tv_sec, r, err_name(errno));
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    struct itimerspec ts;
    timer_gettime(t, &ts);
    unsigned left = alarm(0);
    outf(1, "fork parent: still has its alarm %s and its timer %s\n", yes(left > 90 && left <= 100),
         yes(ts.it_value.tv_sec > 90));

    /* exec keeps the alarm and drops the timers. */
    pid = fork();
    if (pid == 0) {
        alarm(7);
        char id[32];
        snprintf(id, sizeof id, "%d", (int)(intptr_t)t);
        char *argv[] = { (char *)self, "exec-child", id, NULL };
        execv(self, argv);
        _exit(99);
    }
    waitpid(pid, &st, 0);
    outf(1, "exec child exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    timer_delete(t);
}

/* The program exec'd by section_inherit: argv[2] is the timer id its
 * parent had before exec. */
static int exec_child(const char *id)
{
    timer_t t = (timer_t)(intptr_t)atoi(id);
    struct itimerspec ts;
    errno = 0;
    int r = timer_gettime(t, &ts);
    int e = errno;
    outf(1, "after exec: alarm left %u, the timer from before: %d %s\n", alarm(0), r, err_name(e));
    return 5;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "exec-child") == 0)
        return exec_child(argv[2]);
    section_alarm();
    section_itimer();
    section_cpu_itimers();
    section_posix();
    section_sigev_thread();
    section_inherit(argv[0]);
    return failures ? 1 : 0;
}
