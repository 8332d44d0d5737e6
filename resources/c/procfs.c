/* procfs: reads /proc/self and /proc/<child> and checks what the fields
 * mean against the syscalls that give the same facts (getpid, getppid,
 * getpgrp, getsid, sigprocmask, sigaction, readlink, lseek, getcwd).
 * Prints deterministic lines (never pids or times); a failed check prints
 * "FAIL ..." and the program exits 1. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "common.h"

static int failed;

#define CHECK(cond, ...)                                                                                          \
    do {                                                                                                       \
        if (!(cond)) {                                                                                         \
            outf(1, "FAIL " __VA_ARGS__);                                                                      \
            failed = 1;                                                                                        \
        }                                                                                                      \
    } while (0)

static const char *yesno(int b)
{
    return b ? "yes" : "no";
}

/* Reads a whole file into buf (NUL terminated); returns its length or -1. */
static ssize_t slurp(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0) {
            close(fd);
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = 0;
    return (ssize_t)len;
}

/* The fields of a stat line: fields[1] is the comm (without parentheses);
 * returns how many there are. */
static int stat_fields(const char *path, char *buf, size_t size, char **fields, int max)
{
    if (slurp(path, buf, size) < 0)
        return 0;
    char *open_paren = strchr(buf, '('), *close_paren = strrchr(buf, ')');
    if (!open_paren || !close_paren)
        return 0;
    *open_paren = 0;
    *close_paren = 0;
    fields[0] = buf;
    fields[1] = open_paren + 1;
    int n = 2;
    char *save, *tok = strtok_r(close_paren + 1, " \n", &save);
    while (tok && n < max) {
        fields[n++] = tok;
        tok = strtok_r(NULL, " \n", &save);
    }
    return n;
}

/* The value of "Key:" in a status file (one of 8 rotating buffers, so that
 * several can be arguments of one call). */
static const char *status_value(char *status, const char *key)
{
    static char values[8][256];
    static int next;
    char *value = values[next++ % 8];
    size_t klen = strlen(key);
    for (char *line = status; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            char *v = line + klen + 1;
            while (*v == '\t' || *v == ' ')
                v++;
            size_t n = strcspn(v, "\n");
            if (n >= 256)
                n = 255;
            memcpy(value, v, n);
            value[n] = 0;
            return value;
        }
    }
    return "";
}

static void on_term(int sig)
{
    (void)sig;
}

static void self_stat(void)
{
    char buf[4096], statm[256];
    char *f[64];
    int n = stat_fields("/proc/self/stat", buf, sizeof buf, f, 64);
    CHECK(n == 52, "stat: %d fields\n", n);
    if (n < 52)
        return;
    outf(1, "stat: %d fields, pid %s, comm (%s), state %s, ppid %s, pgrp %s, session %s, threads %s\n", n,
         yesno(atol(f[0]) == getpid()), f[1], f[2], yesno(atol(f[3]) == getppid()), yesno(atol(f[4]) == getpgrp()),
         yesno(atol(f[5]) == getsid(0)), f[19]);
    unsigned long long vsize = strtoull(f[22], NULL, 10), rss = strtoull(f[23], NULL, 10);
    unsigned long long size_pages = 0, resident = 0;
    CHECK(slurp("/proc/self/statm", statm, sizeof statm) > 0, "statm unreadable\n");
    sscanf(statm, "%llu %llu", &size_pages, &resident);
    outf(1, "stat: vsize is statm's size %s, rss > 0 %s, exit_signal %s\n",
         yesno(vsize == size_pages * 4096), yesno(rss > 0 && resident > 0), f[37]);
    char up[128];
    CHECK(slurp("/proc/uptime", up, sizeof up) > 0, "uptime unreadable\n");
    double uptime = atof(up);
    unsigned long long start = strtoull(f[21], NULL, 10);
    outf(1, "stat: started before now %s\n", yesno(start <= (unsigned long long)(uptime * 100) + 1));
}

static void self_status(void)
{
    char buf[8192];
    CHECK(slurp("/proc/self/status", buf, sizeof buf) > 0, "status unreadable\n");
    outf(1, "status: Name %s, State %c, Tgid %s, Pid %s, PPid %s, Threads %s\n", status_value(buf, "Name"),
         status_value(buf, "State")[0], yesno(atol(status_value(buf, "Tgid")) == getpid()),
         yesno(atol(status_value(buf, "Pid")) == getpid()), yesno(atol(status_value(buf, "PPid")) == getppid()),
         status_value(buf, "Threads"));
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGUSR2, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_term};
    sigaction(SIGTERM, &sa, NULL);
    raise(SIGUSR1);
    CHECK(slurp("/proc/self/status", buf, sizeof buf) > 0, "status unreadable\n");
    /* Only the standard signals: a test runner may leave real-time ones ignored. */
    unsigned long long ign = strtoull(status_value(buf, "SigIgn"), NULL, 16) & 0x7fffffffULL;
    outf(1, "status: SigPnd %s, SigBlk %s, SigIgn (standard) %016llx, SigCgt %s\n", status_value(buf, "SigPnd"),
         status_value(buf, "SigBlk"), ign, status_value(buf, "SigCgt"));
    char *f[64], sbuf[4096];
    if (stat_fields("/proc/self/stat", sbuf, sizeof sbuf, f, 64) == 52)
        outf(1, "stat: signal %s, blocked %s, sigignore (standard) %llu, sigcatch %s\n", f[30], f[31],
             strtoull(f[32], NULL, 10) & 0x7fffffffULL, f[33]);
    signal(SIGUSR1, SIG_IGN);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

static void links(const char *argv0)
{
    char buf[4096], cwd[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    outf(1, "exe: is argv[0] %s\n", yesno(strcmp(buf, argv0) == 0));
    n = readlink("/proc/self/cwd", buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    outf(1, "cwd: is getcwd %s\n", yesno(getcwd(cwd, sizeof cwd) && strcmp(buf, cwd) == 0));
    char expect[64];
    snprintf(expect, sizeof expect, "%d", getpid());
    n = readlink("/proc/self", buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    outf(1, "self: is the pid %s\n", yesno(strcmp(buf, expect) == 0));
    snprintf(expect, sizeof expect, "%d/task/%d", getpid(), gettid());
    n = readlink("/proc/thread-self", buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    outf(1, "thread-self: is pid/task/tid %s\n", yesno(strcmp(buf, expect) == 0));
    struct stat st;
    outf(1, "exe: lstat is a link %s, stat is a regular file %s\n",
         yesno(lstat("/proc/self/exe", &st) == 0 && S_ISLNK(st.st_mode)),
         yesno(stat("/proc/self/exe", &st) == 0 && S_ISREG(st.st_mode)));
}

static void fds(const char *argv0)
{
    int null = open("/dev/null", O_RDONLY);
    int prog = open(argv0, O_RDONLY);
    int p[2];
    CHECK(pipe(p) == 0, "pipe\n");
    lseek(prog, 3, SEEK_SET);
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/self/fd/%d", null);
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    outf(1, "fd: /dev/null %s\n", yesno(strcmp(buf, "/dev/null") == 0));
    snprintf(path, sizeof path, "/proc/self/fd/%d", prog);
    n = readlink(path, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    outf(1, "fd: program file %s\n", yesno(strcmp(buf, argv0) == 0));
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
    n = readlink(path, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    outf(1, "fd: pipe %s\n", yesno(strncmp(buf, "pipe:[", 6) == 0 && buf[n - 1] == ']'));
    struct stat st_fd, st_file;
    outf(1, "fd: stat through the link is the file %s\n",
         yesno(stat(path, &st_fd) == 0 && fstat(p[0], &st_file) == 0 && st_fd.st_ino == st_file.st_ino));
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", prog);
    CHECK(slurp(path, buf, sizeof buf) > 0, "fdinfo unreadable\n");
    outf(1, "fdinfo: pos %ld\n", atol(buf + strcspn(buf, "0123456789")));
    DIR *d = opendir("/proc/self/fd");
    int seen = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (atoi(e->d_name) == prog || atoi(e->d_name) == p[1])
            seen++;
    if (d)
        closedir(d);
    outf(1, "fd: listing has the new fds %s\n", yesno(seen == 2));
    close(null);
    close(prog);
    close(p[0]);
    close(p[1]);
}

static void memory(int argc, char **argv)
{
    static char buf[1 << 16];
    volatile char *heap = malloc(100000);
    heap[0] = 1;
    int local = 0;
    CHECK(slurp("/proc/self/maps", buf, sizeof buf) > 0, "maps unreadable\n");
    int main_exec = 0, stack = 0, heap_line = 0;
    for (char *line = buf; *line; line = strchr(line, '\n') + 1) {
        unsigned long lo, hi;
        char perms[5];
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) != 3)
            break;
        uintptr_t m = (uintptr_t)&memory, l = (uintptr_t)&local;
        if (m >= lo && m < hi && perms[2] == 'x')
            main_exec = 1;
        char *end = strchr(line, '\n');
        if (l >= lo && l < hi && end && end - line > 7 && strncmp(end - 7, "[stack]", 7) == 0)
            stack = 1;
        if (end && end - line > 6 && strncmp(end - 6, "[heap]", 6) == 0)
            heap_line = 1;
        if (!end)
            break;
    }
    outf(1, "maps: code executable %s, [stack] holds a local %s, [heap] %s\n", yesno(main_exec), yesno(stack),
         yesno(heap_line));
    ssize_t n = slurp("/proc/self/cmdline", buf, sizeof buf);
    char want[4096];
    size_t len = 0;
    for (int i = 0; i < argc; i++) {
        size_t a = strlen(argv[i]) + 1;
        memcpy(want + len, argv[i], a);
        len += a;
    }
    outf(1, "cmdline: argv NUL-separated %s\n", yesno(n == (ssize_t)len && memcmp(buf, want, len) == 0));
    n = slurp("/proc/self/environ", buf, sizeof buf);
    extern char **environ;
    len = 0;
    for (char **e = environ; *e && len < sizeof want; e++) {
        size_t a = strlen(*e) + 1;
        if (len + a > sizeof want)
            break;
        memcpy(want + len, *e, a);
        len += a;
    }
    outf(1, "environ: the initial environment %s\n", yesno(n == (ssize_t)len && memcmp(buf, want, len) == 0));
    n = slurp("/proc/self/comm", buf, sizeof buf);
    outf(1, "comm: %s", buf);
}

static void child(void)
{
    int p[2];
    CHECK(pipe(p) == 0, "pipe\n");
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(p[1]);
        read(p[0], &c, 1);
        _exit(7);
    }
    char path[64], buf[4096], *f[64];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    const char *state = "?";
    for (int i = 0; i < 200; i++) {
        if (stat_fields(path, buf, sizeof buf, f, 64) == 52 && strcmp(f[2], "S") == 0)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    state = f[2];
    outf(1, "child: state %s, ppid is us %s, comm (%s)\n", state, yesno(atol(f[3]) == getpid()), f[1]);
    char listing[64];
    snprintf(listing, sizeof listing, "%d", pid);
    DIR *d = opendir("/proc");
    int found = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, listing) == 0)
            found = 1;
    if (d)
        closedir(d);
    outf(1, "child: listed in /proc %s\n", yesno(found));
    close(p[1]);
    siginfo_t si;
    waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT);
    int n = stat_fields(path, buf, sizeof buf, f, 64);
    outf(1, "zombie: state %s, exit code %s\n", n == 52 ? f[2] : "?", n == 52 ? f[51] : "?");
    waitpid(pid, NULL, 0);
    struct stat st;
    outf(1, "reaped: /proc/<pid> gone %s\n", yesno(stat(path, &st) != 0 && errno == ENOENT));
}

int main(int argc, char **argv)
{
    self_stat();
    self_status();
    links(argv[0]);
    fds(argv[0]);
    memory(argc, argv);
    child();
    return failed;
}
