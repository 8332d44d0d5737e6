/* k9p_mount MNT PROGRAM [ARG...]: starts PROGRAM with one end of a unix
 * socketpair as its fd 3 and mounts the other end at MNT with the Linux
 * kernel's own 9p client (trans=fd, 9P2000.L). Used by ci/hwkvm to run the
 * gofer (`ringfence gofer --fd 3 --root DIR`) against a client nobody here
 * wrote. Prints "mounted gofer_pid=N" and exits 0 once the mount is up; the
 * kernel then holds the socket, so the gofer serves until the umount. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: k9p_mount MNT PROGRAM [ARG...]\n");
        return 2;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        perror("socketpair");
        return 1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        /* dup2 clears close-on-exec on fd 3 only. */
        if (dup2(sv[1], 3) != 3) {
            perror("dup2");
            _exit(127);
        }
        execv(argv[2], argv + 2);
        fprintf(stderr, "exec %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    close(sv[1]);
    char opts[256];
    snprintf(opts, sizeof opts,
             "trans=fd,rfdno=%d,wfdno=%d,version=9p2000.L,msize=1048576,cache=none,access=client",
             sv[0], sv[0]);
    if (mount("ringfence-gofer", argv[1], "9p", 0, opts) != 0) {
        fprintf(stderr, "mount -t 9p %s: %s\n", opts, strerror(errno));
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return 1;
    }
    printf("mounted gofer_pid=%d\n", (int)pid);
    return 0;
}
