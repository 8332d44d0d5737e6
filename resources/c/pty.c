/* Pseudo-terminals through /dev/ptmx, as script(1) and terminal emulators
 * use them: posix_openpt, grantpt, unlockpt, ptsname; the slave's default
 * termios; canonical input with echo and editing; raw mode with VMIN and
 * VTIME; output processing; window size; EOF; the signal characters to a
 * controlling terminal's foreground group; hang-ups. Prints what it sees;
 * the test compares Linux and the sandbox. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>

#include "common.h"

static const char *en(int e)
{
    switch (e) {
    case EIO: return "EIO";
    case EAGAIN: return "EAGAIN";
    case ENOTTY: return "ENOTTY";
    case EINVAL: return "EINVAL";
    case EPERM: return "EPERM";
    default: return "other";
    }
}

/* Shows bytes with escapes for control characters. */
static void show(const char *label, const char *buf, ssize_t n)
{
    char out[1024];
    size_t o = 0;
    for (ssize_t i = 0; i < n && o + 5 < sizeof out; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c == '\r') { out[o++] = '\\'; out[o++] = 'r'; }
        else if (c == '\n') { out[o++] = '\\'; out[o++] = 'n'; }
        else if (c < 0x20 || c == 0x7f) o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02x", c);
        else out[o++] = (char)c;
    }
    out[o] = 0;
    outf(1, "%s: %zd \"%s\"\n", label, n, out);
}

/* Reads what is there within 100 ms. */
static ssize_t drain(int fd, char *buf, size_t len)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    size_t got = 0;
    while (got < len && poll(&p, 1, 100) == 1 && (p.revents & POLLIN)) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

static long ms_since(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (b.tv_sec - a->tv_sec) * 1000 + (b.tv_nsec - a->tv_nsec) / 1000000;
}

static volatile sig_atomic_t got_sig;
static void on_sig(int s) { got_sig = s; }

/* Fields 7 (tty_nr, the terminal's device in new_encode_dev's form) and 8
 * (tpgid) of /proc/self/stat against terminal fd s and our group. */
static char stat_tty_check(int s)
{
    char buf[1024];
    int fd = open("/proc/self/stat", O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    if (fd >= 0)
        close(fd);
    struct stat st;
    if (n <= 0 || fstat(s, &st))
        return '?';
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long tty_nr;
    long tpgid;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %lu %ld", &tty_nr, &tpgid) != 2)
        return '?';
    unsigned long maj = major(st.st_rdev), min = minor(st.st_rdev);
    unsigned long want = (min & 0xff) | (maj << 8) | ((min & ~0xfful) << 12);
    return tty_nr == want && tpgid == getpgrp() ? 'y' : 'n';
}

/* A child that makes the slave its controlling terminal in a new session
 * and reports the signal ^C brings. */
static void signal_test(int m, const char *name)
{
    int ready[2], report[2];
    if (pipe(ready) || pipe(report))
        _exit(2);
    pid_t c = fork();
    if (c == 0) {
        setsid();
        int s = open(name, O_RDWR); /* no O_NOCTTY: a session leader acquires it */
        signal(SIGINT, on_sig);
        pid_t fg = tcgetpgrp(s);
        pid_t sid = tcgetsid(s);
        char r[2] = {(fg == getpid() && sid == getpid()) ? 'y' : 'n', stat_tty_check(s)};
        write_all(ready[1], r, 2);
        for (int i = 0; i < 200 && !got_sig; i++)
            usleep(10000);
        char rep = got_sig == SIGINT ? 'I' : '-';
        write_all(report[1], &rep, 1);
        _exit(0);
    }
    char r[2] = {0}, rep = 0;
    if (read(ready[0], r, 2) != 2)
        _exit(3);
    write_all(m, "\x03", 1);
    if (read(report[0], &rep, 1) != 1)
        _exit(4);
    int st;
    waitpid(c, &st, 0);
    char buf[64];
    ssize_t n = drain(m, buf, sizeof buf);
    outf(1, "ctty: acquired with fg group and session of the leader %c, ^C gave SIGINT %s\n", r[0],
         rep == 'I' ? "yes" : "no");
    outf(1, "/proc/self/stat: tty_nr is the slave's device, tpgid our foreground group: %c\n", r[1]);
    show("echo of ^C", buf, n);
}

int main(void)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0) {
        outf(1, "posix_openpt failed %s\n", en(errno));
        return 1;
    }
    int lock = -1;
    ioctl(m, TIOCGPTLCK, &lock);
    const char *name = ptsname(m);
    unsigned ptn = 9999;
    ioctl(m, TIOCGPTN, &ptn);
    char expect[32];
    snprintf(expect, sizeof expect, "/dev/pts/%u", ptn);
    outf(1, "ptmx: ptsname under /dev/pts/ %s, matches TIOCGPTN %s, locked %d, master isatty %d\n",
         name && strncmp(name, "/dev/pts/", 9) == 0 ? "yes" : "no", name && strcmp(name, expect) == 0 ? "yes" : "no",
         lock, isatty(m));
    int early = open(name, O_RDWR | O_NOCTTY);
    outf(1, "open before unlockpt: %d %s\n", early < 0 ? -1 : 0, early < 0 ? en(errno) : "");
    outf(1, "grantpt %d unlockpt %d\n", grantpt(m), unlockpt(m));
    int s = open(name, O_RDWR | O_NOCTTY);
    if (s < 0) {
        outf(1, "open slave failed %s\n", en(errno));
        return 1;
    }
    struct stat st;
    fstat(s, &st);
    const char *tn = ttyname(s);
    outf(1, "slave: isatty %d, char device %s, major %u, ttyname matches %s\n", isatty(s), S_ISCHR(st.st_mode) ? "yes" : "no",
         major(st.st_rdev), tn && strcmp(tn, name) == 0 ? "yes" : "no");
    pid_t pg = tcgetpgrp(s);
    outf(1, "tcgetpgrp of a terminal that is not ours: %d %s\n", pg < 0 ? -1 : 0, pg < 0 ? en(errno) : "");

    struct termios t;
    tcgetattr(s, &t);
    outf(1, "defaults: ICANON %d ECHO %d ISIG %d ICRNL %d OPOST %d ONLCR %d, VINTR %d VEOF %d VERASE %d VMIN %d\n",
         !!(t.c_lflag & ICANON), !!(t.c_lflag & ECHO), !!(t.c_lflag & ISIG), !!(t.c_iflag & ICRNL),
         !!(t.c_oflag & OPOST), !!(t.c_oflag & ONLCR), t.c_cc[VINTR], t.c_cc[VEOF], t.c_cc[VERASE], t.c_cc[VMIN]);

    char buf[256];
    ssize_t n;
    write_all(m, "hello\r", 6);
    n = read(s, buf, sizeof buf);
    show("canonical read", buf, n);
    n = drain(m, buf, sizeof buf);
    show("echo", buf, n);

    write_all(m, "abx\x7f" "c\x15xyz\x7f\n", 11);
    n = read(s, buf, sizeof buf);
    show("after erase and kill", buf, n);
    n = drain(m, buf, sizeof buf);
    show("their echo", buf, n);

    write_all(m, "part", 4);
    struct pollfd p = { .fd = s, .events = POLLIN };
    int avail = -1;
    int pr = poll(&p, 1, 50);
    ioctl(s, FIONREAD, &avail);
    outf(1, "partial line: poll %d, FIONREAD %d\n", pr, avail);
    write_all(m, "\n", 1);
    pr = poll(&p, 1, 1000);
    ioctl(s, FIONREAD, &avail);
    n = read(s, buf, 2);
    show("line ended: first 2", buf, n);
    n = read(s, buf, sizeof buf);
    outf(1, "poll %d FIONREAD %d, ", pr, avail);
    show("rest", buf, n);
    drain(m, buf, sizeof buf);

    write_all(m, "\x04", 1);
    n = read(s, buf, sizeof buf);
    outf(1, "EOF on an empty line: read %zd\n", n);

    write_all(s, "out\n", 4);
    n = drain(m, buf, sizeof buf);
    show("slave output", buf, n);

    struct termios raw = t;
    raw.c_lflag &= ~(ICANON | ECHO);
    raw.c_oflag &= ~OPOST;
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    tcsetattr(s, TCSANOW, &raw);
    n = read(s, buf, sizeof buf);
    outf(1, "raw VMIN 0 VTIME 0, nothing there: read %zd\n", n);
    write_all(m, "xyz\r", 4);
    usleep(20000);
    n = read(s, buf, sizeof buf);
    show("raw read", buf, n);
    n = drain(m, buf, sizeof buf);
    outf(1, "no echo in raw mode: %zd\n", n);
    write_all(s, "out\n", 4);
    n = drain(m, buf, sizeof buf);
    show("output without OPOST", buf, n);
    raw.c_cc[VTIME] = 2;
    tcsetattr(s, TCSANOW, &raw);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    n = read(s, buf, sizeof buf);
    long waited = ms_since(&t0);
    outf(1, "VTIME 2 with nothing there: read %zd after at least 150 ms %s\n", n, waited >= 150 ? "yes" : "no");
    raw.c_cc[VMIN] = 3;
    raw.c_cc[VTIME] = 0;
    tcsetattr(s, TCSANOW, &raw);
    write_all(m, "12", 2);
    p.revents = 0;
    int fl = fcntl(s, F_GETFL);
    fcntl(s, F_SETFL, fl | O_NONBLOCK);
    write_all(m, "3", 1);
    usleep(20000);
    n = read(s, buf, sizeof buf);
    show("VMIN 3 after three bytes", buf, n);
    n = read(s, buf, sizeof buf);
    outf(1, "nonblocking empty read: %zd %s\n", n, n < 0 ? en(errno) : "");
    fcntl(s, F_SETFL, fl);
    tcsetattr(s, TCSAFLUSH, &t);

    struct winsize ws = { .ws_row = 33, .ws_col = 77 }, got = { 0 };
    ioctl(m, TIOCSWINSZ, &ws);
    ioctl(s, TIOCGWINSZ, &got);
    outf(1, "window size set on the master, read on the slave: %d %d\n", got.ws_row, got.ws_col);

    signal_test(m, name);

    /* A shell's `kill %1` of a stopped job: SIGTERM stays pending while
     * it is stopped, and ends it once SIGCONT resumes it. */
    pid_t job = fork();
    if (job == 0) {
        for (;;)
            pause();
    }
    int jst;
    kill(job, SIGSTOP);
    waitpid(job, &jst, WUNTRACED);
    int stopped = WIFSTOPPED(jst);
    kill(job, SIGTERM);
    usleep(50000);
    pid_t still = waitpid(job, &jst, WNOHANG);
    kill(job, SIGCONT);
    waitpid(job, &jst, 0);
    outf(1, "stopped job: stopped %d, after SIGTERM still there %d, after SIGCONT signaled %d by %d\n", stopped,
         still == 0, WIFSIGNALED(jst), WIFSIGNALED(jst) ? WTERMSIG(jst) : 0);

    close(s);
    n = read(m, buf, sizeof buf);
    outf(1, "master read after the slave closed: %zd %s\n", n, n < 0 ? en(errno) : "");

    int m2 = posix_openpt(O_RDWR | O_NOCTTY);
    grantpt(m2);
    unlockpt(m2);
    int s2 = open(ptsname(m2), O_RDWR | O_NOCTTY);
    close(m2);
    n = read(s2, buf, sizeof buf);
    outf(1, "slave read after the master closed: %zd\n", n);
    n = write(s2, "x", 1);
    outf(1, "slave write after the master closed: %zd %s\n", n, n < 0 ? en(errno) : "");
    return 0;
}
