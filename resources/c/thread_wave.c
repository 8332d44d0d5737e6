/* thread_wave N: a wave of threads the outside can watch come and go.
 *
 * Starts N threads that block reading a pipe, prints "running N", waits
 * for a byte on stdin, releases and joins them, prints "joined", waits for
 * another byte on stdin and exits 0. The ptrace platform's test counts the
 * stub's host threads at each pause (one per application thread). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>

#include "common.h"

static int pipefd[2];

static void *blocked(void *arg)
{
    char c;
    (void)arg;
    if (read(pipefd[0], &c, 1) != 1)
        _exit(2);
    return NULL;
}

static void wait_stdin(void)
{
    char c;
    if (read(0, &c, 1) != 1)
        _exit(3);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
    if (n < 1 || n > 64 || pipe(pipefd) != 0)
        _exit(1);
    pthread_t t[64];
    for (long i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, blocked, NULL) != 0)
            _exit(4);
    outf(1, "running %ld\n", n);
    wait_stdin();
    for (long i = 0; i < n; i++)
        write_all(pipefd[1], "x", 1);
    for (long i = 0; i < n; i++)
        if (pthread_join(t[i], NULL) != 0)
            _exit(5);
    outf(1, "joined\n");
    wait_stdin();
    return 0;
}
