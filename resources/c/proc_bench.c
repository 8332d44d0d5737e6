/* proc_bench N PROGRAM [ARG...]: process micro-benchmarks, timed inside the
 * program so that native and sandboxed runs measure the same loop. Each
 * runs N timed iterations (after a few untimed ones) and prints one line,
 * `name median_ns`:
 *
 *   fork_exec_wait   fork, execve PROGRAM ARG... (with stdout closed, so
 *                    that its output cannot mix with the report), waitpid
 *   pipe_roundtrip   one byte to a child process over a pipe and back
 *   thread_create    pthread_create + pthread_join of an empty thread
 *   page_fault       the first write to a page of a fresh anonymous mmap
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "common.h"

#define WARMUP 3

static long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static void report(const char *name, long *samples, long n)
{
    qsort(samples, (size_t)n, sizeof *samples, by_value);
    long median = n % 2 ? samples[n / 2] : (samples[n / 2 - 1] + samples[n / 2]) / 2;
    outf(1, "%s %ld\n", name, median);
}

static void fail(const char *what)
{
    outf(2, "proc_bench: %s failed\n", what);
    _exit(3);
}

static void bench_fork_exec(long n, char **argv, long *samples)
{
    char *envp[] = { NULL };
    for (long i = -WARMUP; i < n; i++) {
        long t0 = now_ns();
        pid_t pid = fork();
        if (pid < 0)
            fail("fork");
        if (pid == 0) {
            close(1);
            execve(argv[0], argv, envp);
            _exit(127);
        }
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) == 127)
            fail("fork+exec+wait");
        if (i >= 0)
            samples[i] = now_ns() - t0;
    }
    report("fork_exec_wait", samples, n);
}

static void bench_pipe(long n, long *samples)
{
    int to[2], from[2];
    if (pipe(to) != 0 || pipe(from) != 0)
        fail("pipe");
    pid_t pid = fork();
    if (pid < 0)
        fail("fork");
    if (pid == 0) {
        char c;
        close(to[1]);
        close(from[0]);
        while (read(to[0], &c, 1) == 1)
            if (write(from[1], &c, 1) != 1)
                _exit(1);
        _exit(0);
    }
    close(to[0]);
    close(from[1]);
    for (long i = -WARMUP; i < n; i++) {
        char c = 'p';
        long t0 = now_ns();
        if (write(to[1], &c, 1) != 1 || read(from[0], &c, 1) != 1)
            fail("pipe round trip");
        if (i >= 0)
            samples[i] = now_ns() - t0;
    }
    close(to[1]);
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail("pipe child");
    close(from[0]);
    report("pipe_roundtrip", samples, n);
}

static void *nothing(void *arg)
{
    return arg;
}

static void bench_thread(long n, long *samples)
{
    for (long i = -WARMUP; i < n; i++) {
        pthread_t t;
        long t0 = now_ns();
        if (pthread_create(&t, NULL, nothing, NULL) != 0 || pthread_join(t, NULL) != 0)
            fail("pthread_create+join");
        if (i >= 0)
            samples[i] = now_ns() - t0;
    }
    report("thread_create", samples, n);
}

static void bench_page_fault(long n, long *samples)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t len = page * (size_t)(n + WARMUP);
    volatile char *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        fail("mmap");
    for (long i = -WARMUP; i < n; i++) {
        long t0 = now_ns();
        mem[(size_t)(i + WARMUP) * page] = 1;
        if (i >= 0)
            samples[i] = now_ns() - t0;
    }
    munmap((void *)mem, len);
    report("page_fault", samples, n);
}

int main(int argc, char **argv)
{
    long n = argc > 2 ? strtol(argv[1], NULL, 10) : 0;
    if (n <= 0) {
        outf(2, "usage: proc_bench N PROGRAM [ARG...]   (N > 0)\n");
        return 2;
    }
    long *samples = calloc((size_t)n, sizeof *samples);
    if (samples == NULL)
        fail("calloc");
    bench_fork_exec(n, argv + 2, samples);
    bench_pipe(n, samples);
    bench_thread(n, samples);
    bench_page_fault(n, samples);
    free(samples);
    return 0;
}
