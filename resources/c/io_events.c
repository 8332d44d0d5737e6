/* io_events: poll/select on pipes, epoll, eventfd, timerfd and signalfd,
 * each section printing deterministic lines (event names, counts, errno
 * names and yes/no; never pids or times):
 *
 *   - poll and select on pipes: timeouts, readability, POLLHUP after the
 *     last writer, POLLERR after the last reader;
 *   - epoll with pipes: level-triggered, EPOLLET (a read is not a new
 *     event, a write is), EPOLLONESHOT and its re-arming by MOD, the
 *     epoll_ctl errors, entries that do not keep a file open (a reader
 *     sees EOF although an epoll watches the write end) and that follow
 *     the file description rather than the fd number;
 *   - nested epolls: poll() on an epoll fd, waking through two levels,
 *     ELOOP for loops and for nesting deeper than Linux allows;
 *   - epoll_pwait's temporary signal mask;
 *   - eventfd: counter, EFD_SEMAPHORE, EFD_NONBLOCK, overflow, errors, a
 *     blocked read woken by another process;
 *   - timerfd: one-shot, interval (expirations counted coarsely), absolute
 *     times, gettime/old values, disarming, poll and epoll waking at the
 *     expiration, errors;
 *   - signalfd: SIGUSR1 from kill, a queued real-time signal with its
 *     value, SIGCHLD from a child with its status, mask updates, several
 *     records per read, epoll and poll on it, a blocked read woken by a
 *     signal from another process.
 *
 * Exits 0; a failed check prints "FAIL ..." and exits 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
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

static void die(const char *what)
{
    outf(1, "FAIL %s: %s\n", what, strerror(errno));
    _exit(1);
}

static const char *yes(int b)
{
    return b ? "yes" : "no";
}

static const char *err(void)
{
    switch (errno) {
    case EAGAIN: return "EAGAIN";
    case EBADF: return "EBADF";
    case EEXIST: return "EEXIST";
    case EINTR: return "EINTR";
    case EINVAL: return "EINVAL";
    case ELOOP: return "ELOOP";
    case ENOENT: return "ENOENT";
    case EPERM: return "EPERM";
    case EFAULT: return "EFAULT";
    default: return strerror(errno);
    }
}

/* A syscall's result as "-1 ERRNO" or the number; errno is read after
 * the call (arguments are evaluated in no set order). */
static const char *res(long r)
{
    static char buf[8][32];
    static int slot;
    char *b = buf[slot++ % 8];
    if (r < 0)
        snprintf(b, 32, "-1 %s", err());
    else
        snprintf(b, 32, "%ld", r);
    return b;
}

/* Event bits as names: "IN|OUT|HUP", "-" for none. */
static const char *names(unsigned ev)
{
    static char buf[8][64];
    static int slot;
    char *b = buf[slot++ % 8];
    b[0] = 0;
    static const struct { unsigned bit; const char *name; } all[] = {
        { POLLIN, "IN" }, { POLLPRI, "PRI" }, { POLLOUT, "OUT" }, { POLLERR, "ERR" },
        { POLLHUP, "HUP" }, { POLLNVAL, "NVAL" }, { POLLRDNORM, "RDNORM" }, { POLLWRNORM, "WRNORM" },
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (ev & all[i].bit) {
            if (b[0])
                strcat(b, "|");
            strcat(b, all[i].name);
            ev &= ~all[i].bit;
        }
    }
    if (ev)
        snprintf(b + strlen(b), 20, "%s%#x", b[0] ? "|" : "", ev);
    return b[0] ? b : "-";
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Forks a child that sleeps `ms` then runs `fn(arg)` and exits. */
static pid_t later(int ms, void (*fn)(long), long arg)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        sleep_ms(ms);
        fn(arg);
        _exit(0);
    }
    return pid;
}

static void reap(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        check(0, "helper child exited 0");
}

static void write_byte(long fd)
{
    if (write((int)fd, "x", 1) != 1)
        _exit(2);
}

static void write_one(long fd)
{
    uint64_t v = 1;
    if (write((int)fd, &v, 8) != 8)
        _exit(2);
}

static void kill_parent(long sig)
{
    kill(getppid(), (int)sig);
}

static short poll1(int fd, short events, int timeout)
{
    struct pollfd p = { fd, events, 0 };
    int n = poll(&p, 1, timeout);
    if (n < 0)
        die("poll");
    return n == 0 ? 0 : p.revents;
}

/* epoll_wait with room for 8 events: the count, and the events of the first. */
static int ewait(int ep, int timeout, struct epoll_event *first)
{
    struct epoll_event evs[8];
    int n = epoll_wait(ep, evs, 8, timeout);
    if (n > 0 && first)
        *first = evs[0];
    return n;
}

static void poll_select(void)
{
    int p[2];
    if (pipe(p) != 0)
        die("pipe");
    long long t0 = now_ms();
    short r = poll1(p[0], POLLIN, 30);
    outf(1, "poll empty pipe, 30 ms: %s, waited at least 30 ms: %s\n", names(r), yes(now_ms() - t0 >= 29));
    outf(1, "poll write end: %s\n", names(poll1(p[1], POLLOUT, 0)));
    write_all(p[1], "ab", 2);
    outf(1, "poll after a write: %s\n", names(poll1(p[0], POLLIN | POLLOUT, 0)));

    fd_set rd, wr;
    FD_ZERO(&rd);
    FD_ZERO(&wr);
    FD_SET(p[0], &rd);
    FD_SET(p[1], &wr);
    struct timeval tv = { 0, 0 };
    int n = select(p[1] + 1, &rd, &wr, NULL, &tv);
    outf(1, "select: %d ready, read end %s, write end %s\n", n, yes(FD_ISSET(p[0], &rd)), yes(FD_ISSET(p[1], &wr)));

    char buf[4];
    if (read(p[0], buf, sizeof buf) != 2)
        die("read");
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    tv.tv_sec = 0;
    tv.tv_usec = 30000;
    t0 = now_ms();
    n = select(p[0] + 1, &rd, NULL, NULL, &tv);
    outf(1, "select empty pipe, 30 ms: %d, waited at least 30 ms: %s, timeval left 0: %s\n", n,
         yes(now_ms() - t0 >= 29), yes(tv.tv_sec == 0 && tv.tv_usec == 0));

    /* Whole seconds in tv_usec are carried, not refused. */
    write_all(p[1], "c", 1);
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    tv.tv_sec = 0;
    tv.tv_usec = 1500000;
    n = select(p[0] + 1, &rd, NULL, NULL, &tv);
    outf(1, "select with tv_usec 1500000: %s", res(n));
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    tv.tv_sec = 1;
    tv.tv_usec = -1;
    outf(1, ", with tv_usec -1: %s", res(select(p[0] + 1, &rd, NULL, NULL, &tv)));
    tv.tv_sec = -1;
    tv.tv_usec = 0;
    outf(1, ", with tv_sec -1: %s\n", res(select(p[0] + 1, &rd, NULL, NULL, &tv)));
    if (read(p[0], buf, 1) != 1)
        die("read");

    pid_t c = later(30, write_byte, p[1]);
    t0 = now_ms();
    r = poll1(p[0], POLLIN, 5000);
    outf(1, "poll woken by a child's write: %s, before the timeout: %s\n", names(r), yes(now_ms() - t0 < 4000));
    reap(c);
    if (read(p[0], buf, 1) != 1)
        die("read");

    write_all(p[1], "z", 1);
    close(p[1]);
    outf(1, "poll, data and no writer: %s\n", names(poll1(p[0], POLLIN, 0)));
    if (read(p[0], buf, 1) != 1)
        die("read");
    outf(1, "poll, empty and no writer: %s\n", names(poll1(p[0], POLLIN, -1)));
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    n = select(p[0] + 1, &rd, NULL, NULL, NULL);
    outf(1, "select, empty and no writer: %d, readable %s\n", n, yes(FD_ISSET(p[0], &rd)));
    close(p[0]);

    if (pipe(p) != 0)
        die("pipe");
    close(p[0]);
    outf(1, "poll write end, no reader: %s\n", names(poll1(p[1], POLLOUT, 0)));
    close(p[1]);

    /* nfds is bounded by RLIMIT_NOFILE. */
    struct rlimit old_lim, lim;
    getrlimit(RLIMIT_NOFILE, &old_lim);
    lim = old_lim;
    lim.rlim_cur = 16;
    setrlimit(RLIMIT_NOFILE, &lim);
    struct pollfd many[17];
    for (int i = 0; i < 17; i++) {
        many[i].fd = -1;
        many[i].events = POLLIN;
    }
    outf(1, "poll with RLIMIT_NOFILE 16: 16 fds %s", res(poll(many, 16, 0)));
    outf(1, ", 17 fds %s\n", res(poll(many, 17, 0)));
    setrlimit(RLIMIT_NOFILE, &old_lim);

    struct pollfd bad[2] = { { 1000, POLLIN, 0 }, { -1, POLLIN, 0 } };
    n = poll(bad, 2, 0);
    outf(1, "poll closed fd and fd -1: %d, %s and %s\n", n, names(bad[0].revents), names(bad[1].revents));
}

static void epoll_pipes(void)
{
    int p[2], ep = epoll_create1(0);
    if (ep < 0 || pipe(p) != 0)
        die("epoll_create1/pipe");
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0x1122334455667788ULL }, got;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) != 0)
        die("epoll_ctl add");
    char buf[8];
    int n = ewait(ep, 0, &got);
    outf(1, "LT: empty %d", n);
    write_all(p[1], "ab", 2);
    n = ewait(ep, 0, &got);
    outf(1, ", written %d (%s, data %s)", n, names(got.events), yes(got.data.u64 == 0x1122334455667788ULL));
    outf(1, ", again %d", ewait(ep, 0, NULL));
    if (read(p[0], buf, 1) != 1)
        die("read");
    outf(1, ", one read %d", ewait(ep, 0, NULL));
    if (read(p[0], buf, 1) != 1)
        die("read");
    outf(1, ", drained %d\n", ewait(ep, 0, NULL));

    ev.events = EPOLLIN | EPOLLET;
    ev.data.fd = p[0];
    if (epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev) != 0)
        die("epoll_ctl mod");
    outf(1, "ET: empty %d", ewait(ep, 0, NULL));
    write_all(p[1], "ab", 2);
    outf(1, ", written %d", ewait(ep, 0, NULL));
    outf(1, ", again %d", ewait(ep, 0, NULL));
    if (read(p[0], buf, 1) != 1)
        die("read");
    outf(1, ", one read %d", ewait(ep, 0, NULL));
    write_all(p[1], "c", 1);
    outf(1, ", written again %d", ewait(ep, 0, NULL));
    outf(1, ", again %d", ewait(ep, 0, NULL));
    if (read(p[0], buf, 8) != 2)
        die("read");
    pid_t c = later(30, write_byte, p[1]);
    n = ewait(ep, 5000, &got);
    outf(1, ", blocked until a child's write %d (%s, fd right %s)\n", n, names(got.events), yes(got.data.fd == p[0]));
    reap(c);
    if (read(p[0], buf, 8) != 1)
        die("read");

    ev.events = EPOLLIN | EPOLLONESHOT;
    if (epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev) != 0)
        die("epoll_ctl mod");
    write_all(p[1], "a", 1);
    outf(1, "ONESHOT: written %d", ewait(ep, 0, NULL));
    outf(1, ", again %d", ewait(ep, 0, NULL));
    write_all(p[1], "b", 1);
    outf(1, ", written again %d", ewait(ep, 0, NULL));
    if (epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev) != 0)
        die("epoll_ctl mod");
    outf(1, ", re-armed by MOD %d", ewait(ep, 0, NULL));
    outf(1, ", again %d\n", ewait(ep, 0, NULL));
    if (read(p[0], buf, 8) != 2)
        die("read");

    /* The write end, level-triggered for EPOLLOUT. */
    ev.events = EPOLLOUT;
    ev.data.fd = p[1];
    if (epoll_ctl(ep, EPOLL_CTL_ADD, p[1], &ev) != 0)
        die("epoll_ctl add");
    ev.events = EPOLLIN;
    if (epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev) != 0)
        die("epoll_ctl mod");
    n = ewait(ep, 0, &got);
    outf(1, "write end: %d ready (%s)\n", n, names(got.events));

    /* Level-triggered entries take turns when maxevents is small. */
    int rr[3][2], ep3 = epoll_create1(0), seen = 0;
    for (int i = 0; i < 3; i++) {
        if (pipe(rr[i]) != 0)
            die("pipe");
        write_all(rr[i][1], "r", 1);
        struct epoll_event rev = { .events = EPOLLIN, .data.u32 = 1u << i };
        epoll_ctl(ep3, EPOLL_CTL_ADD, rr[i][0], &rev);
    }
    for (int i = 0; i < 3; i++) {
        struct epoll_event one;
        if (epoll_wait(ep3, &one, 1, 0) == 1)
            seen |= (int)one.data.u32;
    }
    outf(1, "LT with maxevents 1, three ready pipes: three waits saw %s\n", seen == 7 ? "all three" : "fewer");
    for (int i = 0; i < 3; i++) {
        close(rr[i][0]);
        close(rr[i][1]);
    }
    close(ep3);

    /* Edge-triggered write end: only room appearing in a full pipe is new. */
    int q[2];
    if (pipe2(q, O_NONBLOCK) != 0)
        die("pipe2");
    int ep2 = epoll_create1(0);
    struct epoll_event wev = { .events = EPOLLOUT | EPOLLET, .data.fd = q[1] };
    epoll_ctl(ep2, EPOLL_CTL_ADD, q[1], &wev);
    outf(1, "ET write end: empty %d", ewait(ep2, 0, NULL));
    write_all(q[1], "a", 1);
    outf(1, ", written %d", ewait(ep2, 0, NULL));
    if (read(q[0], buf, 1) != 1)
        die("read");
    outf(1, ", read %d", ewait(ep2, 0, NULL));
    static char big[65536];
    int filled = 0;
    while (write(q[1], big, sizeof big) > 0)
        filled++;
    outf(1, ", filled %d", ewait(ep2, 0, NULL));
    if (read(q[0], big, sizeof big) <= 0)
        die("read");
    n = ewait(ep2, 0, &got);
    outf(1, ", drained %d (%s)\n", n, names(got.events));
    close(q[1]);
    /* An entry asking for nothing still gets the hang-up. */
    wev.events = 0;
    wev.data.fd = q[0];
    epoll_ctl(ep2, EPOLL_CTL_ADD, q[0], &wev);
    while (read(q[0], big, sizeof big) > 0)
        ;
    n = ewait(ep2, 0, &got);
    outf(1, "hang-up: entry with no events, writer closed: %d (%s)\n", n, names(got.events));
    close(q[0]);
    close(ep2);

    /* Errors. */
    outf(1, "errors: ADD twice %s", res(epoll_ctl(ep, EPOLL_CTL_ADD, p[1], &ev)));
    int other = dup(p[1]);
    outf(1, ", MOD missing %s", res(epoll_ctl(ep, EPOLL_CTL_MOD, other, &ev)));
    outf(1, ", DEL missing %s", res(epoll_ctl(ep, EPOLL_CTL_DEL, other, NULL)));
    outf(1, ", bad op %s", res(epoll_ctl(ep, 7, p[1], &ev)));
    outf(1, ", bad fd %s", res(epoll_ctl(ep, EPOLL_CTL_ADD, 1000, &ev)));
    outf(1, ", not an epoll %s", res(epoll_ctl(p[0], EPOLL_CTL_ADD, p[1], &ev)));
    outf(1, ", itself %s\n", res(epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev)));
    int dir = open("/", O_RDONLY | O_DIRECTORY);
    outf(1, "errors: directory %s", res(epoll_ctl(ep, EPOLL_CTL_ADD, dir, &ev)));
    close(dir);
    int null = open("/dev/null", O_RDWR);
    outf(1, ", /dev/null %s", res(epoll_ctl(ep, EPOLL_CTL_ADD, null, &ev)));
    close(null);
    outf(1, ", bad event pointer %s", res(epoll_ctl(ep, EPOLL_CTL_ADD, other, (void *)8)));
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    outf(1, ", MOD with EPOLLEXCLUSIVE %s", res(epoll_ctl(ep, EPOLL_CTL_MOD, p[1], &ev)));
    outf(1, ", ADD with EPOLLEXCLUSIVE %d\n", epoll_ctl(ep, EPOLL_CTL_ADD, other, &ev));
    struct epoll_event evs[2];
    outf(1, "errors: maxevents 0 %s", res(epoll_wait(ep, evs, 0, 0)));
    outf(1, ", maxevents -1 %s", res((int)syscall(SYS_epoll_wait, ep, evs, -1, 0)));
    outf(1, ", maxevents INT_MAX/12+1 %s", res((int)syscall(SYS_epoll_wait, ep, evs, 0x7fffffff / 12 + 1, 0)));
    outf(1, ", wait on a pipe %s", res(epoll_wait(p[0], evs, 2, 0)));
    outf(1, ", epoll_create(0) %s", res(epoll_create(0)));
    outf(1, ", epoll_create1(1) %s", res(epoll_create1(1)));
    outf(1, ", read %s\n", res(read(ep, buf, 8)));
    int cl = epoll_create1(EPOLL_CLOEXEC);
    outf(1, "flags: EPOLL_CLOEXEC FD_CLOEXEC %s, F_GETFL O_RDWR %s\n", yes(fcntl(cl, F_GETFD) == FD_CLOEXEC),
         yes(fcntl(ep, F_GETFL) == O_RDWR));
    close(cl);
    close(other);
    close(ep);
    close(p[0]);
    close(p[1]);

    /* Entries do not keep files open, and follow the description. */
    if (pipe(p) != 0)
        die("pipe");
    ep = epoll_create1(0);
    ev.events = EPOLLOUT;
    ev.data.u32 = 77;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, p[1], &ev) != 0)
        die("epoll_ctl add");
    int w2 = dup(p[1]);
    close(p[1]);
    n = ewait(ep, 0, &got);
    outf(1, "lifetime: fd closed, dup open: %d (%s, data %u)", n, names(got.events), got.data.u32);
    outf(1, ", DEL by the dup %s", res(epoll_ctl(ep, EPOLL_CTL_DEL, w2, NULL)));
    close(w2);
    outf(1, ", reader sees EOF %s", yes(read(p[0], buf, 1) == 0));
    outf(1, ", then %d ready\n", ewait(ep, 0, NULL));
    close(p[0]);
    close(ep);
}

static void epoll_nested(void)
{
    int p[2], inner = epoll_create1(0), outer = epoll_create1(0);
    if (pipe(p) != 0)
        die("pipe");
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = p[0] }, got;
    if (epoll_ctl(inner, EPOLL_CTL_ADD, p[0], &ev) != 0)
        die("add pipe");
    ev.data.fd = inner;
    if (epoll_ctl(outer, EPOLL_CTL_ADD, inner, &ev) != 0)
        die("add inner");
    outf(1, "nested: poll outer %s", names(poll1(outer, POLLIN, 0)));
    outf(1, ", outer %d", ewait(outer, 0, NULL));
    write_all(p[1], "x", 1);
    outf(1, ", after a write: poll outer %s", names(poll1(outer, POLLIN, 0)));
    int n = ewait(outer, 0, &got);
    outf(1, ", outer %d (%s, inner %s)", n, names(got.events), yes(got.data.fd == inner));
    n = ewait(inner, 0, &got);
    outf(1, ", inner %d (pipe %s)\n", n, yes(got.data.fd == p[0]));
    char buf[4];
    if (read(p[0], buf, 4) != 1)
        die("read");
    pid_t c = later(30, write_byte, p[1]);
    long long t0 = now_ms();
    n = ewait(outer, 5000, &got);
    outf(1, "nested: blocked outer woken by a child's write %d, before the timeout %s", n, yes(now_ms() - t0 < 4000));
    reap(c);
    if (read(p[0], buf, 4) != 1)
        die("read");
    c = later(30, write_byte, p[1]);
    t0 = now_ms();
    short r = poll1(outer, POLLIN, 5000);
    outf(1, "; poll on outer woken %s\n", names(r));
    reap(c);
    if (read(p[0], buf, 4) != 1)
        die("read");

    ev.data.fd = outer;
    outf(1, "loops: outer into inner %s", res(epoll_ctl(inner, EPOLL_CTL_ADD, outer, &ev)));
    int chain[7];
    chain[0] = epoll_create1(0);
    int added = 0;
    for (int i = 1; i < 7; i++) {
        chain[i] = epoll_create1(0);
        ev.data.fd = chain[i - 1];
        if (epoll_ctl(chain[i], EPOLL_CTL_ADD, chain[i - 1], &ev) != 0)
            break;
        added++;
    }
    outf(1, "; chain of epolls: %d nested, then %s\n", added, err());
    for (int i = 0; i < 7; i++)
        close(chain[i]);
    close(outer);
    close(inner);
    close(p[0]);
    close(p[1]);
}

static volatile sig_atomic_t usr1_runs;
static void on_usr1(int sig)
{
    (void)sig;
    usr1_runs++;
}

static void epoll_pwait_mask(void)
{
    struct sigaction sa = { 0 };
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t block, empty, now;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigemptyset(&empty);
    sigprocmask(SIG_BLOCK, &block, NULL);
    int ep = epoll_create1(0), p[2];
    if (pipe(p) != 0)
        die("pipe");
    struct epoll_event ev = { .events = EPOLLIN }, evs[2];
    epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
    pid_t c = later(30, kill_parent, SIGUSR1);
    int n = epoll_pwait(ep, evs, 2, 5000, &empty);
    int e = errno;
    sigprocmask(SIG_BLOCK, NULL, &now);
    errno = e;
    outf(1, "epoll_pwait with SIGUSR1 unblocked: %d %s, handler ran %d, blocked again %s\n", n, err(), usr1_runs,
         yes(sigismember(&now, SIGUSR1)));
    reap(c);
    struct timespec ts = { 0, 20000000 };
    long long t0 = now_ms();
    n = syscall(SYS_epoll_pwait2, ep, evs, 2, &ts, NULL, 8);
    outf(1, "epoll_pwait2, 20 ms: %d, waited at least 20 ms %s\n", n, yes(now_ms() - t0 >= 19));
    sigprocmask(SIG_UNBLOCK, &block, NULL);
    signal(SIGUSR1, SIG_DFL);
    close(ep);
    close(p[0]);
    close(p[1]);
}

static void eventfds(void)
{
    uint64_t v;
    int e = eventfd(3, 0);
    if (e < 0)
        die("eventfd");
    read(e, &v, 8);
    outf(1, "eventfd: initial %llu", (unsigned long long)v);
    v = 5;
    write(e, &v, 8);
    v = 2;
    write(e, &v, 8);
    read(e, &v, 8);
    outf(1, ", after writes of 5 and 2: %llu", (unsigned long long)v);
    outf(1, ", poll empty %s", names(poll1(e, POLLIN | POLLOUT, 0)));
    outf(1, ", short read %s", res((int)read(e, &v, 4)));
    v = UINT64_MAX;
    outf(1, ", write of 2^64-1 %s", res((int)write(e, &v, 8)));
    outf(1, ", short write %s\n", res(write(e, &v, 7)));
    pid_t c = later(30, write_one, e);
    long long t0 = now_ms();
    uint64_t big[2] = { 0, 0 };
    ssize_t n = read(e, big, 16);
    v = big[0];
    outf(1, "eventfd: blocked read woken by a child: %d bytes, value %llu, before the timeout %s\n", (int)n,
         (unsigned long long)v, yes(now_ms() - t0 < 4000));
    reap(c);
    close(e);

    e = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    outf(1, "nonblocking: read %s", res((int)read(e, &v, 8)));
    v = UINT64_MAX - 1;
    outf(1, ", write of the maximum %d", (int)write(e, &v, 8));
    outf(1, ", poll %s", names(poll1(e, POLLIN | POLLOUT, 0)));
    v = 1;
    outf(1, ", one more %s", res((int)write(e, &v, 8)));
    outf(1, ", F_GETFL O_RDWR|O_NONBLOCK %s, FD_CLOEXEC %s\n", yes(fcntl(e, F_GETFL) == (O_RDWR | O_NONBLOCK)),
         yes(fcntl(e, F_GETFD) == FD_CLOEXEC));
    close(e);

    e = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK);
    outf(1, "semaphore:");
    for (int i = 0; i < 4; i++) {
        v = 0;
        if (read(e, &v, 8) == 8)
            outf(1, " %llu", (unsigned long long)v);
        else
            outf(1, " %s", err());
    }
    outf(1, ", eventfd2 bad flags %s\n", res(eventfd(0, 0x10)));

    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.fd = e }, got;
    epoll_ctl(ep, EPOLL_CTL_ADD, e, &ev);
    int k = ewait(ep, 0, &got);
    outf(1, "epoll ET on an eventfd: empty %d (%s)", k, names(got.events));
    outf(1, ", again %d", ewait(ep, 0, NULL));
    v = 2;
    write(e, &v, 8);
    k = ewait(ep, 0, &got);
    outf(1, ", written %d (%s)", k, names(got.events));
    outf(1, ", again %d\n", ewait(ep, 0, NULL));
    close(ep);
    close(e);
}

static void timerfds(void)
{
    int t = timerfd_create(CLOCK_MONOTONIC, 0);
    if (t < 0)
        die("timerfd_create");
    struct itimerspec its, old;
    timerfd_gettime(t, &its);
    outf(1, "timerfd: unarmed %ld %ld", (long)its.it_value.tv_sec, its.it_value.tv_nsec);
    its.it_value.tv_sec = 0;
    its.it_value.tv_nsec = 40000000;
    its.it_interval.tv_sec = 0;
    its.it_interval.tv_nsec = 20000000;
    long long t0 = now_ms();
    timerfd_settime(t, 0, &its, NULL);
    timerfd_gettime(t, &its);
    outf(1, ", armed value within 40 ms %s, interval 20 ms %s", yes(its.it_value.tv_sec == 0 && its.it_value.tv_nsec <= 40000000 && its.it_value.tv_nsec > 0),
         yes(its.it_interval.tv_nsec == 20000000));
    uint64_t n = 0;
    read(t, &n, 8);
    outf(1, ", first read after at least 40 ms %s, count at least 1 %s", yes(now_ms() - t0 >= 39), yes(n >= 1));
    sleep_ms(70);
    read(t, &n, 8);
    outf(1, ", after 70 ms at least 3 %s\n", yes(n >= 3));
    its.it_value.tv_nsec = 0;
    its.it_interval.tv_nsec = 0;
    timerfd_settime(t, 0, &its, &old);
    outf(1, "timerfd: disarmed, old interval 20 ms %s, old value at most 20 ms %s", yes(old.it_interval.tv_nsec == 20000000),
         yes(old.it_value.tv_sec == 0 && old.it_value.tv_nsec <= 20000000));
    timerfd_gettime(t, &its);
    outf(1, ", now %ld %ld\n", (long)its.it_value.tv_sec, its.it_value.tv_nsec);
    close(t);

    t = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    outf(1, "nonblocking: read %s, F_GETFL O_RDWR|O_NONBLOCK %s", res(read(t, &n, 8)),
         yes(fcntl(t, F_GETFL) == (O_RDWR | O_NONBLOCK)));
    struct timespec ts;
    t0 = now_ms();
    clock_gettime(CLOCK_MONOTONIC, &ts);
    its.it_value.tv_sec = ts.tv_sec;
    its.it_value.tv_nsec = ts.tv_nsec + 30000000;
    if (its.it_value.tv_nsec >= 1000000000) {
        its.it_value.tv_sec++;
        its.it_value.tv_nsec -= 1000000000;
    }
    its.it_interval.tv_sec = its.it_interval.tv_nsec = 0;
    timerfd_settime(t, TFD_TIMER_ABSTIME, &its, NULL);
    short r = poll1(t, POLLIN, 5000);
    outf(1, ", absolute +30 ms: poll %s after at least 30 ms %s", names(r), yes(now_ms() - t0 >= 29));
    n = 0;
    ssize_t got_bytes = read(t, &n, 8);
    outf(1, ", read %d count %llu", (int)got_bytes, (unsigned long long)n);
    outf(1, ", again %s\n", res(read(t, &n, 8)));

    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = t }, got;
    epoll_ctl(ep, EPOLL_CTL_ADD, t, &ev);
    /* Long enough that a loaded machine does not pass it before the first wait. */
    its.it_value.tv_sec = 0;
    its.it_value.tv_nsec = 150000000;
    t0 = now_ms();
    timerfd_settime(t, 0, &its, NULL);
    outf(1, "epoll on a timerfd: before %d", ewait(ep, 0, NULL));
    int k = ewait(ep, 5000, &got);
    outf(1, ", blocked %d (%s) after at least 150 ms %s, before the timeout %s", k, names(got.events),
         yes(now_ms() - t0 >= 149), yes(now_ms() - t0 < 4000));
    read(t, &n, 8);
    outf(1, ", read %llu, then %d\n", (unsigned long long)n, ewait(ep, 0, NULL));
    close(ep);
    close(t);

    t = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
    its.it_value.tv_sec = 1;
    its.it_value.tv_nsec = 0;
    timerfd_settime(t, TFD_TIMER_ABSTIME, &its, NULL);
    n = 0;
    got_bytes = read(t, &n, 8);
    outf(1, "realtime, absolute in the past: read %d count %llu\n", (int)got_bytes, (unsigned long long)n);
    close(t);

    t = timerfd_create(CLOCK_BOOTTIME, 0);
    outf(1, "errors: CLOCK_BOOTTIME %s", yes(t >= 0));
    outf(1, ", clock 2 %s", res(timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0)));
    outf(1, ", bad flags %s", res(timerfd_create(CLOCK_MONOTONIC, 1)));
    its.it_value.tv_nsec = 1000000000;
    outf(1, ", nsec 1e9 %s", res(timerfd_settime(t, 0, &its, NULL)));
    its.it_value.tv_nsec = 0;
    outf(1, ", settime flags 4 %s", res(timerfd_settime(t, 4, &its, NULL)));
    outf(1, ", settime on an eventfd %s", res(timerfd_settime(0 + eventfd(0, 0), 0, &its, NULL)));
    outf(1, ", short read %s", res((int)read(t, &n, 4)));
    outf(1, ", write %s\n", res(write(t, &n, 8)));
    close(t);
}

static void signalfds(void)
{
    sigset_t mask, all;
    sigemptyset(&mask);
    sigaddset(&mask, SIGUSR1);
    sigemptyset(&all);
    sigaddset(&all, SIGUSR1);
    sigaddset(&all, SIGCHLD);
    sigaddset(&all, SIGRTMIN);
    sigprocmask(SIG_BLOCK, &all, NULL);
    int s = signalfd(-1, &mask, SFD_NONBLOCK);
    if (s < 0)
        die("signalfd");
    struct signalfd_siginfo si[4];
    outf(1, "signalfd: empty read %s", res((int)read(s, si, sizeof si)));
    outf(1, ", poll %s", names(poll1(s, POLLIN, 0)));
    kill(getpid(), SIGUSR1);
    outf(1, ", after kill: poll %s", names(poll1(s, POLLIN, 0)));
    ssize_t n = read(s, si, sizeof si);
    outf(1, ", read %d bytes: signo %u, SI_USER %s, pid self %s, uid self %s\n", (int)n, si[0].ssi_signo,
         yes(si[0].ssi_code == SI_USER), yes(si[0].ssi_pid == (uint32_t)getpid()), yes(si[0].ssi_uid == getuid()));

    union sigval val = { .sival_int = 42 };
    sigqueue(getpid(), SIGRTMIN, val);
    outf(1, "signalfd: RTMIN outside the mask: read %s", res((int)read(s, si, sizeof si)));
    outf(1, ", mask update returns the fd %s", yes(signalfd(s, &all, 0) == s));
    kill(getpid(), SIGUSR1);
    n = read(s, si, sizeof si);
    outf(1, ", then read %d records:", (int)(n / (ssize_t)sizeof si[0]));
    for (int i = 0; i < n / (ssize_t)sizeof si[0]; i++)
        outf(1, " signo %u code %d int %d", si[i].ssi_signo, si[i].ssi_code, si[i].ssi_int);
    outf(1, "\n");

    pid_t c = fork();
    if (c == 0)
        _exit(7);
    int st;
    waitpid(c, &st, 0);
    n = read(s, si, sizeof si);
    outf(1, "SIGCHLD: read %d bytes, signo %u, CLD_EXITED %s, pid right %s, status %d\n", (int)n, si[0].ssi_signo,
         yes(si[0].ssi_code == CLD_EXITED), yes(si[0].ssi_pid == (uint32_t)c), si[0].ssi_status);

    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = s }, got;
    epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
    outf(1, "epoll on a signalfd: empty %d", ewait(ep, 0, NULL));
    kill(getpid(), SIGUSR1);
    int k = ewait(ep, 0, &got);
    outf(1, ", after kill %d (%s)", k, names(got.events));
    read(s, si, sizeof si);
    c = later(30, kill_parent, SIGUSR1);
    long long t0 = now_ms();
    k = ewait(ep, 5000, &got);
    outf(1, ", blocked until a child's kill %d, before the timeout %s", k, yes(now_ms() - t0 < 4000));
    read(s, si, sizeof si);
    reap(c);
    /* The child's SIGCHLD. */
    read(s, si, sizeof si);
    outf(1, ", then %d\n", ewait(ep, 0, NULL));
    close(ep);

    int b = signalfd(-1, &mask, SFD_CLOEXEC);
    c = later(30, kill_parent, SIGUSR1);
    n = read(b, si, sizeof si);
    outf(1, "blocking signalfd read woken by a child's kill: %d bytes, signo %u, pid right %s", (int)n,
         si[0].ssi_signo, yes(si[0].ssi_pid == (uint32_t)c));
    reap(c);
    read(s, si, sizeof si);
    outf(1, ", FD_CLOEXEC %s, F_GETFL O_RDWR %s\n", yes(fcntl(b, F_GETFD) == FD_CLOEXEC), yes(fcntl(b, F_GETFL) == O_RDWR));
    close(b);

    outf(1, "errors: short read %s", res((int)read(s, si, 64)));
    outf(1, ", write %s", res((int)write(s, si, 128)));
    outf(1, ", sizemask 4 %s", res((int)syscall(SYS_signalfd4, -1, &mask, 4, 0)));
    outf(1, ", bad flags %s", res((int)syscall(SYS_signalfd4, -1, &mask, 8, 1)));
    outf(1, ", on an eventfd %s\n", res(signalfd(eventfd(0, 0), &mask, 0)));
    close(s);
    sigprocmask(SIG_UNBLOCK, &all, NULL);
}

int main(void)
{
    poll_select();
    epoll_pipes();
    epoll_nested();
    epoll_pwait_mask();
    eventfds();
    timerfds();
    signalfds();
    return failures ? 1 : 0;
}
