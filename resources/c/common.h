/* Shared helpers for the C test programs.
 *
 * The programs avoid stdio on purpose: glibc's stdout buffering calls fstat
 * on first use, and the sandbox has no filesystem yet. Everything is
 * formatted with snprintf (no syscalls) and written with write(2), so a
 * program uses only: write, read, exit_group, brk, mmap/munmap/mprotect,
 * clock_gettime, nanosleep and the syscalls of glibc's static startup. */
#ifndef RINGFENCE_TEST_COMMON_H
#define RINGFENCE_TEST_COMMON_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static inline void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n <= 0)
            _exit(120);
        buf += n;
        len -= (size_t)n;
    }
}

__attribute__((format(printf, 2, 3)))
static inline void outf(int fd, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        _exit(121);
    if ((size_t)n >= sizeof buf)
        n = sizeof buf - 1;
    write_all(fd, buf, (size_t)n);
}

#endif
