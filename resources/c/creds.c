/* Credentials and prctl as a container process sees them.
 *
 * It first brings itself to the capability sets a container starts with
 * (the OCI default set, as runc gives it), so that a native run as root and
 * a sandboxed run print the same lines. Then:
 *   - ids: getuid/geteuid/getresuid and the group calls; setgroups;
 *   - capabilities: capget of the sets; capset limits; PR_CAPBSET_READ and
 *     DROP; ambient capabilities;
 *   - setresuid to an unprivileged uid drops the capabilities (and keeps
 *     them with PR_SET_KEEPCAPS); going back is EPERM; kill of a root
 *     process is then EPERM;
 *   - prctl: PR_SET_NAME/GET_NAME, PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG
 *     delivered when the parent exits, PR_SET_CHILD_SUBREAPER adopting an
 *     orphaned grandchild;
 *   - umask.
 * Exits 0; a failed step prints "FAIL ...". */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common.h"

/* The OCI runtime spec's default capabilities (runc's). */
static const uint64_t DEFAULT_CAPS = (1ULL << CAP_CHOWN) | (1ULL << CAP_DAC_OVERRIDE) | (1ULL << CAP_FSETID) |
                                     (1ULL << CAP_FOWNER) | (1ULL << CAP_MKNOD) | (1ULL << CAP_NET_RAW) |
                                     (1ULL << CAP_SETGID) | (1ULL << CAP_SETUID) | (1ULL << CAP_SETFCAP) |
                                     (1ULL << CAP_SETPCAP) | (1ULL << CAP_NET_BIND_SERVICE) |
                                     (1ULL << CAP_SYS_CHROOT) | (1ULL << CAP_KILL) | (1ULL << CAP_AUDIT_WRITE);

struct sets {
    uint64_t eff, perm, inh;
};

static int capget_sets(pid_t pid, struct sets *s)
{
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, pid };
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) != 0)
        return -1;
    s->eff = d[0].effective | ((uint64_t)d[1].effective << 32);
    s->perm = d[0].permitted | ((uint64_t)d[1].permitted << 32);
    s->inh = d[0].inheritable | ((uint64_t)d[1].inheritable << 32);
    return 0;
}

static int capset_sets(const struct sets *s)
{
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2] = {
        { (uint32_t)s->eff, (uint32_t)s->perm, (uint32_t)s->inh },
        { (uint32_t)(s->eff >> 32), (uint32_t)(s->perm >> 32), (uint32_t)(s->inh >> 32) },
    };
    return (int)syscall(SYS_capset, &h, d);
}

static const char *err(int r)
{
    if (r == 0)
        return "0";
    switch (errno) {
    case EPERM: return "-1 EPERM";
    case EINVAL: return "-1 EINVAL";
    case ESRCH: return "-1 ESRCH";
    }
    return "-1 other";
}

static void to_container_caps(void)
{
    for (int c = 0; c <= 63; c++)
        if (!(DEFAULT_CAPS & (1ULL << c)))
            prctl(PR_CAPBSET_DROP, c, 0, 0, 0); /* EINVAL past the last cap */
    struct sets s = { DEFAULT_CAPS, DEFAULT_CAPS, 0 };
    if (capset_sets(&s) != 0)
        outf(1, "FAIL capset to the container set: %s\n", err(-1));
}

static void ids(void)
{
    uid_t r, e, s;
    gid_t gr, ge, gs;
    getresuid(&r, &e, &s);
    getresgid(&gr, &ge, &gs);
    outf(1, "ids: uid %d euid %d resuid %d %d %d, gid %d egid %d resgid %d %d %d\n", (int)getuid(), (int)geteuid(),
         (int)r, (int)e, (int)s, (int)getgid(), (int)getegid(), (int)gr, (int)ge, (int)gs);
    gid_t want[] = { 30, 10, 20 };
    int rc = setgroups(3, want);
    gid_t got[8];
    int n = getgroups(8, got);
    outf(1, "setgroups(30 10 20): %s, getgroups %d:", err(rc), n);
    for (int i = 0; i < n; i++)
        outf(1, " %d", (int)got[i]);
    errno = 0;
    int small = getgroups(1, got);
    outf(1, ", getgroups(1) %d%s\n", small, errno == EINVAL ? " EINVAL" : "");
    setgroups(0, NULL);
}

static void caps(void)
{
    struct sets s;
    capget_sets(0, &s);
    outf(1, "caps: effective %#llx permitted %#llx inheritable %#llx (the container set: %s)\n",
         (unsigned long long)s.eff, (unsigned long long)s.perm, (unsigned long long)s.inh,
         s.eff == DEFAULT_CAPS && s.perm == DEFAULT_CAPS ? "yes" : "no");
    struct sets more = { s.eff | (1ULL << CAP_SYS_ADMIN), s.perm | (1ULL << CAP_SYS_ADMIN), 0 };
    outf(1, "capset adding CAP_SYS_ADMIN: %s\n", err(capset_sets(&more)));
    struct sets eff_only = { s.perm & ~(1ULL << CAP_CHOWN), s.perm, 0 };
    int rc = capset_sets(&eff_only);
    capget_sets(0, &s);
    outf(1, "capset dropping CAP_CHOWN from effective: %s, effective has it %s, permitted has it %s\n", err(rc),
         s.eff & (1ULL << CAP_CHOWN) ? "yes" : "no", s.perm & (1ULL << CAP_CHOWN) ? "yes" : "no");
    s.eff = s.perm;
    capset_sets(&s);
    outf(1, "bounding: CAP_KILL %d, CAP_SYS_ADMIN %d\n", prctl(PR_CAPBSET_READ, CAP_KILL, 0, 0, 0),
         prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0));
    errno = 0;
    rc = prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0);
    outf(1, "ambient raise without inheritable: %s\n", err(rc));
}

static void setuid_drops(void)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        int rc = setresuid(1000, 1000, 1000);
        struct sets s;
        capget_sets(0, &s);
        outf(1, "setresuid(1000): %s, uid %d, effective %#llx permitted %#llx\n", err(rc), (int)getuid(),
             (unsigned long long)s.eff, (unsigned long long)s.perm);
        outf(1, "back to 0: setuid %s", err(setuid(0)));
        outf(1, ", setresuid %s\n", err(setresuid(0, 0, 0)));
        outf(1, "kill(root parent, 0): %s\n", err(kill(parent, 0)));
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    pid = fork();
    if (pid == 0) {
        prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
        int rc = setresuid(1000, 1000, 1000);
        struct sets s;
        capget_sets(0, &s);
        outf(1, "with KEEPCAPS: setresuid %s, effective %#llx, permitted is the container set %s\n", err(rc),
             (unsigned long long)s.eff, s.perm == DEFAULT_CAPS ? "yes" : "no");
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    pid = fork();
    if (pid == 0) {
        /* Only the effective uid: the saved uid keeps the way back. */
        int rc = seteuid(1000);
        struct sets s;
        capget_sets(0, &s);
        outf(1, "seteuid(1000): %s, effective %#llx; ", err(rc), (unsigned long long)s.eff);
        rc = seteuid(0);
        capget_sets(0, &s);
        outf(1, "seteuid(0): %s, effective is the container set %s\n", err(rc), s.eff == DEFAULT_CAPS ? "yes" : "no");
        _exit(0);
    }
    waitpid(pid, NULL, 0);
}

static volatile sig_atomic_t got_sig;
static void on_sig(int sig)
{
    got_sig = sig;
}

static void prctls(void)
{
    char name[17] = { 0 };
    prctl(PR_SET_NAME, "a-very-long-thread-name", 0, 0, 0);
    prctl(PR_GET_NAME, name, 0, 0, 0);
    outf(1, "PR_SET_NAME: \"%s\"\n", name);
    outf(1, "no_new_privs: %d", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    outf(1, ", set %s", err(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)));
    outf(1, ", now %d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));

    /* We become a subreaper first, so the orphans below are ours on both
     * sides (in the sandbox this process is init and adopts them anyway). */
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    /* The parent-death signal: a grandchild asks for SIGUSR1 when its
     * parent exits, and reports through a pipe. */
    int fds[2];
    pipe(fds);
    pid_t mid = fork();
    if (mid == 0) {
        pid_t gc = fork();
        if (gc == 0) {
            signal(SIGUSR1, on_sig);
            prctl(PR_SET_PDEATHSIG, SIGUSR1, 0, 0, 0);
            int sig = 0;
            prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0);
            write(fds[1], "r", 1); /* ready */
            while (!got_sig)
                pause();
            char msg[64];
            int n = snprintf(msg, sizeof msg, "grandchild got %s (asked %d)\n",
                             got_sig == SIGUSR1 ? "SIGUSR1" : "another", sig);
            write(fds[1], msg, (size_t)n);
            _exit(0);
        }
        char c;
        read(fds[0], &c, 1);
        _exit(0);
    }
    close(fds[1]);
    waitpid(mid, NULL, 0);
    char buf[128];
    size_t got = 0;
    ssize_t n;
    while ((n = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = 0;
    close(fds[0]);
    wait(NULL); /* the adopted grandchild */
    outf(1, "PR_SET_PDEATHSIG: %s", got > 0 ? buf : "nothing\n");

    /* A subreaper adopts its orphaned grandchild. */
    int on = 0;
    prctl(PR_GET_CHILD_SUBREAPER, &on, 0, 0, 0);
    pipe(fds);
    mid = fork();
    if (mid == 0) {
        if (fork() == 0) {
            char c;
            read(fds[0], &c, 1); /* until the middle process is gone */
            char msg[64];
            int k = snprintf(msg, sizeof msg, "%d\n", (int)getppid());
            write(fds[1], msg, (size_t)k);
            _exit(0);
        }
        _exit(0);
    }
    waitpid(mid, NULL, 0);
    write(fds[1], "x", 1);
    pid_t adopted = wait(NULL);
    char ppid[32] = { 0 };
    read(fds[0], ppid, sizeof ppid - 1);
    outf(1, "subreaper %d: the orphan's parent is us %s, and we reaped it %s\n", on,
         atoi(ppid) == getpid() ? "yes" : ppid, adopted > 0 ? "yes" : "no");
    prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);

    mode_t old = umask(027);
    outf(1, "umask: old %03o, now %03o\n", (unsigned)old, (unsigned)umask(old));
}

int main(void)
{
    umask(022);
    to_container_caps();
    ids();
    caps();
    setuid_drops();
    prctls();
    return 0;
}
