/* procs BUSYBOX DIR: processes, each section printing deterministic lines
 * (statuses, names and yes/no; never pids):
 *
 *   - fork + waitpid: exit codes; deaths by signal (WIFSIGNALED, WTERMSIG,
 *     and the core flag for SIGQUIT/SIGABRT/SIGSEGV with RLIMIT_CORE=0 and
 *     the process not dumpable, so that no host core_pattern makes a core);
 *   - waiting: WNOHANG, WNOWAIT on a zombie (which kill(pid, 0) still
 *     finds until it is reaped), wait(-1) for several children, ECHILD,
 *     WUNTRACED/WCONTINUED, SIGCHLD's siginfo, SIGCHLD ignored (no zombies);
 *   - fork copies memory (copy-on-write) but shares open files' offsets;
 *   - pipes: EOF, SIGPIPE and EPIPE, O_NONBLOCK (EAGAIN, the capacity),
 *     PIPE_BUF-sized writes from several processes never interleave;
 *   - exec: dup2 redirection across an exec of `busybox echo`, close-on-exec,
 *     argv/envp, the pid kept, a `#!` script, and the errors (ENOENT,
 *     EACCES, ENOEXEC);
 *   - vfork (+exec), posix_spawn with file actions;
 *   - process groups and sessions, kill of a whole group;
 *   - an orphan is reparented (natively to a subreaper or init, in the
 *     sandbox to its init): only whether getppid changed is printed.
 *
 * DIR is an empty scratch directory. Exits 0; a failed check prints
 * "FAIL ..." and exits 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "common.h"

static const char *busybox, *dir;
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

static const char *sig_name(int sig)
{
    static const char *names[] = { [SIGHUP] = "SIGHUP",   [SIGINT] = "SIGINT",   [SIGQUIT] = "SIGQUIT",
                                   [SIGILL] = "SIGILL",   [SIGTRAP] = "SIGTRAP", [SIGABRT] = "SIGABRT",
                                   [SIGBUS] = "SIGBUS",   [SIGFPE] = "SIGFPE",   [SIGKILL] = "SIGKILL",
                                   [SIGUSR1] = "SIGUSR1", [SIGSEGV] = "SIGSEGV", [SIGUSR2] = "SIGUSR2",
                                   [SIGPIPE] = "SIGPIPE", [SIGALRM] = "SIGALRM", [SIGTERM] = "SIGTERM",
                                   [SIGCHLD] = "SIGCHLD", [SIGCONT] = "SIGCONT", [SIGSTOP] = "SIGSTOP",
                                   [SIGTSTP] = "SIGTSTP" };
    if (sig > 0 && sig < (int)(sizeof names / sizeof names[0]) && names[sig])
        return names[sig];
    return "another signal";
}

static const char *errno_name(int e)
{
    switch (e) {
    case 0: return "no error";
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case ENOEXEC: return "ENOEXEC";
    case ECHILD: return "ECHILD";
    case ESRCH: return "ESRCH";
    case EPIPE: return "EPIPE";
    case EAGAIN: return "EAGAIN";
    case EPERM: return "EPERM";
    case EINTR: return "EINTR";
    case EBADF: return "EBADF";
    }
    return strerror(e);
}

/* A wait status as text: "exited 3", "killed by SIGTERM", "... (core)". */
static const char *describe(int st)
{
    static char buf[64];
    if (WIFEXITED(st))
        snprintf(buf, sizeof buf, "exited %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, sizeof buf, "killed by %s%s", sig_name(WTERMSIG(st)), WCOREDUMP(st) ? " (core)" : "");
    else if (WIFSTOPPED(st))
        snprintf(buf, sizeof buf, "stopped by %s", sig_name(WSTOPSIG(st)));
    else if (WIFCONTINUED(st))
        snprintf(buf, sizeof buf, "continued");
    else
        snprintf(buf, sizeof buf, "status %#x", st);
    return buf;
}

static pid_t fork_or_die(void)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    return pid;
}

static int wait_for(pid_t pid)
{
    int st;
    pid_t r;
    do
        r = waitpid(pid, &st, 0);
    while (r < 0 && errno == EINTR);
    if (r != pid)
        die("waitpid");
    return st;
}

/* Reads until EOF (or the buffer is full) and NUL-terminates. */
static size_t read_all(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = 0;
    return len;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* --- exit statuses -------------------------------------------------------- */

static void no_core(void)
{
    struct rlimit zero = { 0, 0 };
    setrlimit(RLIMIT_CORE, &zero);
    /* A piped core_pattern ignores RLIMIT_CORE; an undumpable process never
     * dumps (the sandbox may not know PR_SET_DUMPABLE: failure is fine). */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

static void section_exit_statuses(void)
{
    int codes[] = { 0, 1, 42, 255, 256, 257 };
    outf(1, "exit codes:");
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        pid_t pid = fork_or_die();
        if (pid == 0)
            _exit(codes[i]);
        int st = wait_for(pid);
        outf(1, " %d->%s", codes[i], describe(st));
    }
    outf(1, "\n");
    pid_t pid = fork_or_die();
    if (pid == 0)
        exit(9); /* through atexit and stdio, then exit_group */
    outf(1, "exit(9): %s\n", describe(wait_for(pid)));

    int sigs[] = { SIGTERM, SIGKILL, SIGUSR1, SIGQUIT, SIGABRT, SIGSEGV, SIGPIPE, SIGALRM };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        pid = fork_or_die();
        if (pid == 0) {
            no_core();
            if (sigs[i] == SIGABRT)
                abort();
            if (sigs[i] == SIGSEGV) {
                int *volatile null_ish = (int *)8;
                *null_ish = 1;
            }
            raise(sigs[i]);
            _exit(100);
        }
        int st = wait_for(pid);
        outf(1, "%s: WIFSIGNALED %s, WTERMSIG %s, WCOREDUMP %s\n", sigs[i] == SIGSEGV ? "NULL write" : sig_name(sigs[i]),
             yes(WIFSIGNALED(st)), WIFSIGNALED(st) ? sig_name(WTERMSIG(st)) : "-", yes(WCOREDUMP(st)));
    }
    /* Killed by the parent, blocked in a read. */
    int p[2];
    if (pipe(p) != 0)
        die("pipe");
    pid = fork_or_die();
    if (pid == 0) {
        char c;
        close(p[1]);
        if (read(p[0], &c, 1) < 0)
            _exit(101);
        _exit(102);
    }
    close(p[0]);
    sleep_ms(10);
    kill(pid, SIGTERM);
    outf(1, "killed in a blocking read: %s\n", describe(wait_for(pid)));
    close(p[1]);
}

/* --- waiting --------------------------------------------------------------- */

static void section_waiting(void)
{
    int go[2];
    if (pipe(go) != 0)
        die("pipe");
    pid_t pid = fork_or_die();
    if (pid == 0) {
        char c;
        close(go[1]);
        _exit(read(go[0], &c, 1) == 0 ? 5 : 6); /* exits when the parent closes */
    }
    close(go[0]);
    int st = -1;
    pid_t r = waitpid(pid, &st, WNOHANG);
    outf(1, "WNOHANG on a running child: %d\n", (int)r);
    close(go[1]);

    /* Peek at the zombie without reaping it: it still exists for kill(). */
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) != 0)
        die("waitid");
    outf(1, "waitid WNOWAIT: %s, status %d, pid right %s\n", si.si_code == CLD_EXITED ? "CLD_EXITED" : "?",
         si.si_status, yes(si.si_pid == pid));
    outf(1, "zombie: kill(pid, 0) %d\n", kill(pid, 0));
    outf(1, "reaped: %s", describe(wait_for(pid)));
    errno = 0;
    int k = kill(pid, 0);
    outf(1, ", then kill(pid, 0) %d %s\n", k, errno_name(errno));

    errno = 0;
    r = waitpid(-1, &st, WNOHANG);
    outf(1, "no children: waitpid %d %s", (int)r, errno_name(errno));
    errno = 0;
    r = waitpid(getpid(), &st, 0);
    outf(1, ", waitpid(self) %d %s\n", (int)r, errno_name(errno));

    /* wait(-1) for five children, in whatever order they end. */
    for (int i = 0; i < 5; i++) {
        if (fork_or_die() == 0) {
            sleep_ms(5 * (5 - i));
            _exit(10 + i);
        }
    }
    int seen[5] = { 0 };
    for (int i = 0; i < 5; i++) {
        if (wait(&st) < 0)
            die("wait");
        if (WIFEXITED(st) && WEXITSTATUS(st) >= 10 && WEXITSTATUS(st) < 15)
            seen[WEXITSTATUS(st) - 10]++;
    }
    errno = 0;
    r = wait(&st);
    outf(1, "wait(-1) x5: %d %d %d %d %d, then %d %s\n", seen[0], seen[1], seen[2], seen[3], seen[4], (int)r,
         errno_name(errno));

    /* Stop and continue. */
    pid = fork_or_die();
    if (pid == 0) {
        for (;;)
            pause();
    }
    kill(pid, SIGSTOP);
    if (waitpid(pid, &st, WUNTRACED) != pid)
        die("waitpid WUNTRACED");
    outf(1, "WUNTRACED: %s", describe(st));
    kill(pid, SIGCONT);
    if (waitpid(pid, &st, WCONTINUED) != pid)
        die("waitpid WCONTINUED");
    outf(1, ", WCONTINUED: %s", describe(st));
    kill(pid, SIGKILL);
    outf(1, ", then %s\n", describe(wait_for(pid)));

    /* SIGCHLD's siginfo, taken with sigwaitinfo. */
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    pid = fork_or_die();
    if (pid == 0)
        _exit(3);
    sigwaitinfo(&chld, &si);
    outf(1, "SIGCHLD: %s status %d pid right %s", si.si_code == CLD_EXITED ? "CLD_EXITED" : "?", si.si_status,
         yes(si.si_pid == pid));
    wait_for(pid);
    pid = fork_or_die();
    if (pid == 0) {
        for (;;)
            pause();
    }
    kill(pid, SIGKILL);
    sigwaitinfo(&chld, &si);
    outf(1, "; %s %s pid right %s\n", si.si_code == CLD_KILLED ? "CLD_KILLED" : "?", sig_name(si.si_status),
         yes(si.si_pid == pid));
    wait_for(pid);
    sigprocmask(SIG_UNBLOCK, &chld, NULL);

    /* SIGCHLD ignored: children are reaped at once; wait finds none. */
    signal(SIGCHLD, SIG_IGN);
    for (int i = 0; i < 3; i++)
        if (fork_or_die() == 0)
            _exit(0);
    errno = 0;
    r = wait(&st);
    outf(1, "SIGCHLD ignored: wait %d %s\n", (int)r, errno_name(errno));
    signal(SIGCHLD, SIG_DFL);
}

/* --- memory and files across fork -------------------------------------------- */

static void section_fork_sharing(void)
{
    static volatile int value = 1;
    size_t size = 16 << 20;
    unsigned char *big = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (big == MAP_FAILED)
        die("mmap");
    for (size_t i = 0; i < size; i++)
        big[i] = (unsigned char)(i * 7 + 3);
    unsigned char *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED)
        die("mmap shared");
    shared[0] = 0;
    pid_t pid = fork_or_die();
    if (pid == 0) {
        int intact = 1;
        for (size_t i = 0; i < size; i += 4093)
            intact &= big[i] == (unsigned char)(i * 7 + 3);
        value = 2;
        memset(big, 0xee, size);
        shared[0] = 0x5a;
        _exit(intact ? 0 : 1);
    }
    int st = wait_for(pid);
    int intact = 1;
    for (size_t i = 0; i < size; i += 4093)
        intact &= big[i] == (unsigned char)(i * 7 + 3);
    outf(1, "fork: child saw the parent's 16 MiB %s, parent's copy untouched by the child %s, private variable %d, "
            "MAP_SHARED byte %#x\n",
         yes(WIFEXITED(st) && WEXITSTATUS(st) == 0), yes(intact), value, shared[0]);
    check(intact && value == 1 && shared[0] == 0x5a, "fork: private copies, shared MAP_SHARED");
    munmap(big, size);
    munmap(shared, 4096);

    /* An open file's offset is shared between parent and child. */
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/offsets", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        die("open offsets");
    write_all(fd, "parent1\n", 8);
    pid = fork_or_die();
    if (pid == 0) {
        write_all(fd, "child\n", 6);
        _exit(0);
    }
    wait_for(pid);
    write_all(fd, "parent2\n", 8);
    char buf[64];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    for (char *c = buf; *c; c++)
        if (*c == '\n')
            *c = ' ';
    outf(1, "shared offset: %s(lseek %ld)\n", buf, (long)lseek(fd, 0, SEEK_CUR));
    close(fd);
    unlink(path);
}

/* --- pipes -------------------------------------------------------------------- */

static volatile int sigpipe_handled;

static void on_sigpipe(int sig)
{
    (void)sig;
    sigpipe_handled++;
}

static void section_pipes(void)
{
    int p[2];
    char buf[256];

    /* EOF once every write end is closed, including the child's. */
    if (pipe(p) != 0)
        die("pipe");
    pid_t pid = fork_or_die();
    if (pid == 0) {
        close(p[0]);
        write_all(p[1], "hello ", 6);
        write_all(p[1], "from the child", 14);
        _exit(0);
    }
    close(p[1]);
    read_all(p[0], buf, sizeof buf);
    close(p[0]);
    wait_for(pid);
    outf(1, "pipe: read \"%s\" then EOF\n", buf);

    /* No reader: SIGPIPE kills by default; ignored or handled, EPIPE. */
    if (pipe(p) != 0)
        die("pipe");
    close(p[0]);
    pid = fork_or_die();
    if (pid == 0) {
        ssize_t n = write(p[1], "x", 1);
        _exit(n < 0 ? 50 : 51);
    }
    outf(1, "write without a reader: child %s", describe(wait_for(pid)));
    signal(SIGPIPE, SIG_IGN);
    errno = 0;
    ssize_t n = write(p[1], "x", 1);
    outf(1, "; ignored: %zd %s", n, errno_name(errno));
    signal(SIGPIPE, on_sigpipe);
    errno = 0;
    n = write(p[1], "x", 1);
    outf(1, "; handled: %zd %s, handler ran %d\n", n, errno_name(errno), sigpipe_handled);
    signal(SIGPIPE, SIG_DFL);
    close(p[1]);

    /* O_NONBLOCK: EAGAIN when empty and when full; the capacity. */
    if (pipe2(p, O_NONBLOCK) != 0)
        die("pipe2");
    errno = 0;
    n = read(p[0], buf, sizeof buf);
    outf(1, "O_NONBLOCK: empty read %zd %s", n, errno_name(errno));
    long total = 0;
    memset(buf, 'f', sizeof buf);
    for (;;) {
        n = write(p[1], buf, sizeof buf);
        if (n < 0)
            break;
        total += n;
    }
    outf(1, ", filled with %ld bytes then %s, F_GETPIPE_SZ %d", total, errno_name(errno), fcntl(p[1], F_GETPIPE_SZ));
    close(p[1]);
    long drained = 0;
    while ((n = read(p[0], buf, sizeof buf)) > 0)
        drained += n;
    outf(1, ", drained %ld then %zd (EOF)\n", drained, n);
    close(p[0]);

    /* PIPE_BUF-sized writes from several processes arrive whole. */
    enum { WRITERS = 4, RECORDS = 128 };
    if (pipe(p) != 0)
        die("pipe");
    pid_t kids[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        kids[w] = fork_or_die();
        if (kids[w] == 0) {
            char rec[PIPE_BUF];
            close(p[0]);
            memset(rec, 'a' + w, sizeof rec);
            for (int i = 0; i < RECORDS; i++)
                if (write(p[1], rec, sizeof rec) != (ssize_t)sizeof rec)
                    _exit(1);
            _exit(0);
        }
    }
    close(p[1]);
    int per[WRITERS] = { 0 }, torn = 0, records = 0;
    static char rec[PIPE_BUF];
    for (;;) {
        size_t got = 0;
        while (got < sizeof rec && (n = read(p[0], rec + got, sizeof rec - got)) > 0)
            got += (size_t)n;
        if (got == 0)
            break;
        records++;
        int w = rec[0] - 'a';
        int whole = got == sizeof rec && w >= 0 && w < WRITERS;
        for (size_t i = 1; whole && i < got; i++)
            whole = rec[i] == rec[0];
        if (whole)
            per[w]++;
        else
            torn++;
    }
    close(p[0]);
    int ok = 1;
    for (int w = 0; w < WRITERS; w++) {
        int st = wait_for(kids[w]);
        ok &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    check(torn == 0 && ok, "PIPE_BUF records arrive whole");
    outf(1, "PIPE_BUF %d: %d writers, %d records, torn %d, per writer %d %d %d %d, writers ok %s\n", PIPE_BUF, WRITERS,
         records, torn, per[0], per[1], per[2], per[3], yes(ok));
}

/* --- exec --------------------------------------------------------------------- */

/* Runs BUSYBOX with argv in a child with stdout on a pipe; returns the wait
 * status and the output in out. extra_fd, if >= 0, is dup2'd to fd 5 and,
 * if cloexec, marked close-on-exec there. */
static int run_busybox(char *const argv[], char *const envp[], char *out, size_t cap, int extra_fd, int cloexec)
{
    int p[2];
    if (pipe(p) != 0)
        die("pipe");
    pid_t pid = fork_or_die();
    if (pid == 0) {
        close(p[0]);
        if (dup2(p[1], 1) != 1)
            _exit(126);
        close(p[1]);
        if (extra_fd >= 0) {
            if (dup2(extra_fd, 5) != 5)
                _exit(126);
            if (cloexec)
                fcntl(5, F_SETFD, FD_CLOEXEC);
        }
        execve(busybox, argv, envp);
        _exit(127);
    }
    close(p[1]);
    size_t len = read_all(p[0], out, cap);
    while (len > 0 && out[len - 1] == '\n')
        out[--len] = 0;
    close(p[0]);
    return wait_for(pid);
}

static char *no_env[] = { NULL };

static void section_exec(void)
{
    char out[512];
    int st;

    char *echo[] = { "echo", "via dup2", "across exec", NULL };
    st = run_busybox(echo, no_env, out, sizeof out, -1, 0);
    outf(1, "exec busybox echo with stdout dup2'd to a pipe: \"%s\", %s\n", out, describe(st));

    char *args[] = { "sh", "-c", "echo \"$0|$1|$FOO|$#\"", "zero", "one", NULL };
    char *env[] = { "FOO=bar baz", NULL };
    st = run_busybox(args, env, out, sizeof out, -1, 0);
    outf(1, "argv and envp across exec: \"%s\", %s\n", out, describe(st));

    /* The pid survives exec: the shell's $$ is the child's pid. */
    int p[2];
    if (pipe(p) != 0)
        die("pipe");
    pid_t pid = fork_or_die();
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 1);
        char *sh[] = { "sh", "-c", "echo $$", NULL };
        execve(busybox, sh, no_env);
        _exit(127);
    }
    close(p[1]);
    read_all(p[0], out, sizeof out);
    close(p[0]);
    wait_for(pid);
    outf(1, "exec keeps the pid: %s\n", yes(atol(out) == (long)pid));

    /* Close-on-exec: fd 5 survives exec unless marked. */
    int q[2];
    if (pipe(q) != 0)
        die("pipe");
    char *to5[] = { "sh", "-c", "echo written to fd 5 >&5", NULL };
    for (int cloexec = 0; cloexec < 2; cloexec++) {
        st = run_busybox(to5, no_env, out, sizeof out, q[1], cloexec);
        outf(1, "fd 5 %s: exec'd shell's write %s\n", cloexec ? "FD_CLOEXEC" : "inherited",
             WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "worked" : "failed");
    }
    close(q[1]);
    size_t got = read_all(q[0], out, sizeof out);
    while (got > 0 && out[got - 1] == '\n')
        out[--got] = 0;
    close(q[0]);
    outf(1, "fd 5 received: \"%s\"\n", out);

    /* A #! script, run by execve. */
    char script[PATH_MAX];
    snprintf(script, sizeof script, "%s/script.sh", dir);
    int fd = open(script, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    if (fd < 0)
        die("open script");
    outf(fd, "#!%s sh\necho \"script: $# args: $*; \\$0 is the script: $([ \"$0\" = %s ] && echo yes)\"\nexit 3\n",
         busybox, script);
    close(fd);
    if (pipe(p) != 0)
        die("pipe");
    pid = fork_or_die();
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 1);
        char *argv[] = { script, "a", "b c", NULL };
        execve(script, argv, no_env);
        _exit(127);
    }
    close(p[1]);
    size_t len = read_all(p[0], out, sizeof out);
    if (len > 0 && out[len - 1] == '\n')
        out[len - 1] = 0;
    close(p[0]);
    outf(1, "#! script: \"%s\", %s\n", out, describe(wait_for(pid)));
    unlink(script);

    /* Errors come back from execve in the calling process. */
    char path[PATH_MAX];
    char *argv[] = { "x", NULL };
    snprintf(path, sizeof path, "%s/missing", dir);
    errno = 0;
    execve(path, argv, no_env);
    outf(1, "execve errors: missing %s", errno_name(errno));
    snprintf(path, sizeof path, "%s/not-executable", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    write_all(fd, "#!/bin/sh\n", 10);
    close(fd);
    errno = 0;
    execve(path, argv, no_env);
    outf(1, ", no x bit %s", errno_name(errno));
    snprintf(path, sizeof path, "%s/garbage", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    write_all(fd, "\x01\x02 not a program\n", 17);
    close(fd);
    errno = 0;
    execve(path, argv, no_env);
    outf(1, ", not a program %s", errno_name(errno));
    snprintf(path, sizeof path, "%s/bad-interp", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    write_all(fd, "#!/nonexistent/interpreter\n", 27);
    close(fd);
    errno = 0;
    execve(path, argv, no_env);
    outf(1, ", missing interpreter %s", errno_name(errno));
    errno = 0;
    execve(dir, argv, no_env);
    outf(1, ", a directory %s\n", errno_name(errno));
    const char *made[] = { "not-executable", "garbage", "bad-interp" };
    for (size_t i = 0; i < sizeof made / sizeof made[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, made[i]);
        unlink(path);
    }
}

/* --- vfork, posix_spawn -------------------------------------------------------- */

static void section_vfork(void)
{
    static volatile int touched;
    touched = 0;
    pid_t pid = vfork();
    if (pid < 0)
        die("vfork");
    if (pid == 0) {
        touched = 1; /* the parent's memory: vfork shares it until _exit */
        _exit(7);
    }
    int st = wait_for(pid);
    outf(1, "vfork: child %s, its write seen by the parent %s\n", describe(st), yes(touched == 1));

    pid = vfork();
    if (pid < 0)
        die("vfork");
    if (pid == 0) {
        char *argv[] = { "sh", "-c", "exit 4", NULL };
        execve(busybox, argv, no_env);
        _exit(127);
    }
    outf(1, "vfork + exec: %s\n", describe(wait_for(pid)));

    int p[2];
    if (pipe(p) != 0)
        die("pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_addclose(&fa, p[0]);
    posix_spawn_file_actions_addclose(&fa, p[1]);
    char *argv[] = { "echo", "from posix_spawn", NULL };
    int err = posix_spawn(&pid, busybox, &fa, NULL, argv, no_env);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    char out[128];
    read_all(p[0], out, sizeof out);
    close(p[0]);
    size_t len = strlen(out);
    if (len > 0 && out[len - 1] == '\n')
        out[len - 1] = 0;
    outf(1, "posix_spawn: %s, \"%s\", %s\n", errno_name(err), out, err == 0 ? describe(wait_for(pid)) : "-");
    char *none[] = { "x", NULL };
    char missing[PATH_MAX];
    snprintf(missing, sizeof missing, "%s/missing", dir);
    err = posix_spawn(&pid, missing, NULL, NULL, none, no_env);
    outf(1, "posix_spawn of a missing file: %s\n", errno_name(err));
}

/* --- process groups and sessions -------------------------------------------------- */

static void section_groups(void)
{
    int p[2];
    if (pipe(p) != 0)
        die("pipe");
    pid_t pid = fork_or_die();
    if (pid == 0) {
        /* Reports as one byte per check: '1' yes, '0' no. */
        char r[8];
        r[0] = getpgrp() == getpgid(getppid()) ? '1' : '0'; /* inherited group */
        r[1] = setpgid(0, 0) == 0 && getpgrp() == getpid() ? '1' : '0';
        errno = 0;
        r[2] = setsid() < 0 && errno == EPERM ? '1' : '0'; /* a group leader cannot */
        write_all(p[1], r, 3);
        _exit(0);
    }
    char r[8] = { 0 };
    wait_for(pid);
    if (read(p[0], r, 3) != 3)
        die("read");
    outf(1, "groups: child starts in the parent's group %s, setpgid(0, 0) leads its own %s, setsid as leader EPERM %s\n",
         yes(r[0] == '1'), yes(r[1] == '1'), yes(r[2] == '1'));

    pid = fork_or_die();
    if (pid == 0) {
        pid_t sid = setsid();
        r[0] = sid == getpid() ? '1' : '0';
        r[1] = getsid(0) == getpid() && getpgrp() == getpid() ? '1' : '0';
        r[2] = getsid(getppid()) != getpid() ? '1' : '0';
        write_all(p[1], r, 3);
        _exit(0);
    }
    wait_for(pid);
    if (read(p[0], r, 3) != 3)
        die("read");
    outf(1, "setsid: returns the new sid %s, leads session and group %s, parent's session differs %s\n",
         yes(r[0] == '1'), yes(r[1] == '1'), yes(r[2] == '1'));

    /* The parent moves the child into a new group (racing the child doing
     * the same, as shells do), then kills the group: both members die. */
    int ready[2];
    if (pipe(ready) != 0)
        die("pipe");
    pid_t leader = fork_or_die();
    if (leader == 0) {
        setpgid(0, 0);
        signal(SIGUSR1, SIG_IGN); /* the leader survives to report */
        pid_t kids[2];
        for (int i = 0; i < 2; i++) {
            kids[i] = fork_or_die();
            if (kids[i] == 0) {
                signal(SIGUSR1, SIG_DFL);
                write_all(ready[1], "r", 1);
                for (;;)
                    pause();
            }
        }
        int code = 0;
        for (int i = 0; i < 2; i++) {
            int st = wait_for(kids[i]);
            if (WIFSIGNALED(st) && WTERMSIG(st) == SIGUSR1)
                code++;
        }
        _exit(code);
    }
    setpgid(leader, leader);
    char c[2];
    for (int got = 0; got < 2;) {
        ssize_t n = read(ready[0], c, 2 - (size_t)got);
        if (n <= 0)
            die("read ready");
        got += (int)n;
    }
    outf(1, "getpgid(child) is the child %s", yes(getpgid(leader) == leader));
    kill(-leader, SIGUSR1);
    int st = wait_for(leader);
    outf(1, ", kill(-pgid, SIGUSR1): members killed %d of 2, leader (ignoring it) %s\n",
         WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFEXITED(st) ? "exited" : describe(st));
    errno = 0;
    int k = kill(-leader, 0);
    outf(1, "the emptied group: kill(-pgid, 0) %d %s\n", k, errno_name(errno));
    close(ready[0]);
    close(ready[1]);
    close(p[0]);
    close(p[1]);
}

/* --- orphans -------------------------------------------------------------------- */

static void section_orphan(void)
{
    int p[2];
    if (pipe(p) != 0)
        die("pipe");
    pid_t child = fork_or_die();
    if (child == 0) {
        pid_t me = getpid();
        pid_t grandchild = fork_or_die();
        if (grandchild == 0) {
            /* Wait (up to 10 s) for the parent to exit and the reparent. */
            int changed = 0;
            for (int i = 0; i < 10000 && !changed; i++) {
                changed = getppid() != me;
                if (!changed)
                    sleep_ms(1);
            }
            write_all(p[1], changed ? "1" : "0", 1);
            _exit(0);
        }
        _exit(0);
    }
    close(p[1]);
    wait_for(child);
    char c = '?';
    if (read(p[0], &c, 1) != 1)
        die("read orphan");
    close(p[0]);
    outf(1, "orphan: getppid changed after its parent exited: %s\n", yes(c == '1'));
    /* Where the orphan went to this process (the sandbox's init), reap it
     * quietly; natively it is not ours. */
    sleep_ms(20);
    int st;
    while (waitpid(-1, &st, WNOHANG) > 0)
        ;
}

/* A "clone child" (exit signal other than SIGCHLD) is waited for only with
 * __WCLONE or __WALL. */
static int clone_child_fn(void *arg)
{
    (void)arg;
    return 6;
}

static void section_clone_child(void)
{
    static char stack[64 * 1024];
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    pid_t pid = clone(clone_child_fn, stack + sizeof stack, SIGUSR1, NULL);
    if (pid < 0) {
        outf(1, "FAIL clone\n");
        failures++;
        return;
    }
    int st = 0;
    struct timespec ms = { 0, 20 * 1000 * 1000 };
    nanosleep(&ms, NULL);
    errno = 0;
    pid_t r = waitpid(pid, &st, WNOHANG);
    outf(1, "clone child (exit signal SIGUSR1): plain waitpid %d %s", (int)r, errno_name(errno));
    r = waitpid(pid, &st, __WCLONE);
    outf(1, ", __WCLONE found it %s, %s\n", yes(r == pid), describe(st));
    siginfo_t si;
    struct timespec zero = { 0, 0 };
    int sig = sigtimedwait(&usr1, &si, &zero);
    outf(1, "its exit signal: %s\n", sig == SIGUSR1 ? "SIGUSR1" : "none");
    sigprocmask(SIG_UNBLOCK, &usr1, NULL);
}

/* A stop and continue of a process blocked in read or poll: the call goes
 * on afterwards (Linux restarts it); it does not fail with EINTR. */
static void section_stop_in_syscall(void)
{
    for (int use_poll = 0; use_poll <= 1; use_poll++) {
        int p[2];
        pipe(p);
        pid_t pid = fork_or_die();
        if (pid == 0) {
            char c;
            if (use_poll) {
                struct pollfd pfd = { p[0], POLLIN, 0 };
                int r = poll(&pfd, 1, -1);
                _exit(r == 1 ? 0 : 10 + errno);
            }
            ssize_t r = read(p[0], &c, 1);
            _exit(r == 1 ? 0 : 10 + errno);
        }
        struct timespec ms = { 0, 20 * 1000 * 1000 };
        nanosleep(&ms, NULL);
        kill(pid, SIGSTOP);
        int st;
        waitpid(pid, &st, WUNTRACED);
        int stopped = WIFSTOPPED(st);
        kill(pid, SIGCONT);
        nanosleep(&ms, NULL);
        write(p[1], "x", 1);
        waitpid(pid, &st, 0);
        outf(1, "SIGSTOP+SIGCONT during a blocked %s: stopped %s, then %s\n", use_poll ? "poll" : "read",
             yes(stopped), WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "completed" : "failed");
        close(p[0]);
        close(p[1]);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        outf(2, "usage: procs BUSYBOX DIR\n");
        return 2;
    }
    busybox = argv[1];
    dir = argv[2];
    section_exit_statuses();
    section_waiting();
    section_fork_sharing();
    section_pipes();
    section_exec();
    section_vfork();
    section_groups();
    section_orphan();
    section_clone_child();
    section_stop_in_syscall();
    return failures ? 1 : 0;
}
