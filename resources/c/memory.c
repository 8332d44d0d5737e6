/* Memory-management calls beyond mmap/munmap: mremap (shrink, grow in
 * place, move, MREMAP_FIXED, errors), madvise (MADV_DONTNEED zeroes private
 * anonymous pages, keeps MAP_SHARED contents; hints; errors), msync checks,
 * mincore, MAP_FIXED_NOREPLACE and MAP_GROWSDOWN, mremap of a copy-on-write
 * page after fork, a syscall writing into a copy-on-write page the child
 * read just before. Deterministic output; exits 0. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "common.h"

#define P 4096UL

static const char *e(long r)
{
    if (r != -1)
        return "ok";
    switch (errno) {
    case EINVAL: return "EINVAL";
    case ENOMEM: return "ENOMEM";
    case EFAULT: return "EFAULT";
    case EEXIST: return "EEXIST";
    }
    return "other";
}

static char *anon(size_t len, int flags)
{
    return mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
}

static int pattern_ok(const char *p, size_t pages)
{
    for (size_t i = 0; i < pages; i++)
        if (p[i * P] != (char)('a' + i % 26) || p[i * P + P - 1] != (char)('A' + i % 26))
            return 0;
    return 1;
}

static void fill(char *p, size_t pages)
{
    for (size_t i = 0; i < pages; i++) {
        p[i * P] = (char)('a' + i % 26);
        p[i * P + P - 1] = (char)('A' + i % 26);
    }
}

int main(void)
{
    /* A 4-page mapping with a free page after it, then a guard. */
    char *base = anon(8 * P, 0);
    munmap(base + 4 * P, 4 * P);
    fill(base, 4);
    char *r = mremap(base, 4 * P, 2 * P, 0);
    outf(1, "shrink: same address %s, data kept %s\n", r == base ? "yes" : "no", pattern_ok(r, 2) ? "yes" : "no");
    r = mremap(base, 2 * P, 6 * P, 0);
    outf(1, "grow in place: same address %s, data kept %s, new pages zero %s\n", r == base ? "yes" : "no",
         pattern_ok(r, 2) ? "yes" : "no", r[5 * P] == 0 ? "yes" : "no");
    /* Block the way and grow again: without MAYMOVE ENOMEM, with it a move. */
    char *block = mmap(base + 6 * P, P, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    fill(base, 6);
    errno = 0;
    r = mremap(base, 6 * P, 12 * P, 0);
    outf(1, "grow blocked: %s\n", e(r == MAP_FAILED ? -1 : 0));
    r = mremap(base, 6 * P, 12 * P, MREMAP_MAYMOVE);
    outf(1, "grow with MAYMOVE: moved %s, data kept %s, tail writable %s\n", r != base ? "yes" : "no",
         pattern_ok(r, 6) ? "yes" : "no", (r[11 * P] = 7) == 7 ? "yes" : "no");
    /* The old range is gone. */
    outf(1, "old range after the move: mincore %s\n", e(mincore(base, P, (unsigned char[1]){ 0 })));
    char *target = anon(16 * P, 0);
    munmap(target, 16 * P);
    char *f = mremap(r, 12 * P, 12 * P, MREMAP_MAYMOVE | MREMAP_FIXED, target);
    outf(1, "MREMAP_FIXED: at the target %s, data kept %s\n", f == target ? "yes" : "no", pattern_ok(f, 6) ? "yes" : "no");
    errno = 0;
    outf(1, "mremap errors: unaligned %s", e((long)mremap(f + 1, P, 2 * P, MREMAP_MAYMOVE)));
    errno = 0;
    outf(1, ", FIXED without MAYMOVE %s", e((long)mremap(f, P, P, MREMAP_FIXED, target + 20 * P)));
    errno = 0;
    outf(1, ", unmapped %s", e((long)mremap(base, P, 2 * P, MREMAP_MAYMOVE)));
    errno = 0;
    outf(1, ", across two mappings %s\n", e((long)mremap(f + 11 * P, 2 * P, 4 * P, MREMAP_MAYMOVE)));
    munmap(block, P);

    /* madvise */
    char *m = anon(4 * P, 0);
    fill(m, 4);
    int rc = madvise(m + P, 2 * P, MADV_DONTNEED);
    outf(1, "MADV_DONTNEED: %s, page 0 kept %s, pages 1-2 zero %s, page 3 kept %s\n", e(rc),
         m[0] == 'a' ? "yes" : "no", m[P] == 0 && m[2 * P + P - 1] == 0 ? "yes" : "no", m[3 * P] == 'd' ? "yes" : "no");
    char *s = mmap(NULL, 2 * P, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    s[0] = 'S';
    rc = madvise(s, 2 * P, MADV_DONTNEED);
    outf(1, "MADV_DONTNEED on MAP_SHARED: %s, contents kept %s\n", e(rc), s[0] == 'S' ? "yes" : "no");
    outf(1, "hints: WILLNEED %s, SEQUENTIAL %s, HUGEPAGE %s", e(madvise(m, 4 * P, MADV_WILLNEED)),
         e(madvise(m, 4 * P, MADV_SEQUENTIAL)), e(madvise(m, 4 * P, MADV_HUGEPAGE)));
    errno = 0;
    outf(1, "; unknown advice %s", e(madvise(m, P, 12345)));
    errno = 0;
    outf(1, ", unaligned %s", e(madvise(m + 1, P, MADV_DONTNEED)));
    munmap(m + 2 * P, P);
    errno = 0;
    outf(1, ", over a hole %s\n", e(madvise(m, 4 * P, MADV_DONTNEED)));

    /* msync */
    outf(1, "msync: MS_SYNC %s", e(msync(s, 2 * P, MS_SYNC)));
    errno = 0;
    outf(1, ", ASYNC|SYNC %s", e(msync(s, P, MS_ASYNC | MS_SYNC)));
    errno = 0;
    outf(1, ", unaligned %s", e(msync(s + 1, P, MS_SYNC)));
    errno = 0;
    outf(1, ", unmapped %s\n", e(msync(m + 2 * P, P, MS_SYNC)));

    /* mincore */
    char *c = anon(4 * P, 0);
    c[0] = 1;
    c[2 * P] = 1;
    unsigned char vec[4];
    rc = mincore(c, 4 * P, vec);
    outf(1, "mincore: %s, touched pages resident %s\n", e(rc), vec[0] && vec[2] ? "yes" : "no");

    /* MAP_FIXED_NOREPLACE and MAP_GROWSDOWN */
    errno = 0;
    char *nr = mmap(c, P, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    outf(1, "MAP_FIXED_NOREPLACE over a mapping: %s", e(nr == MAP_FAILED ? -1 : 0));
    munmap(c + 3 * P, P);
    nr = mmap(c + 3 * P, P, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    outf(1, ", on a free page %s at the address %s\n", e(nr == MAP_FAILED ? -1 : 0), nr == c + 3 * P ? "yes" : "no");
    char *g = anon(4 * P, MAP_GROWSDOWN);
    g[3 * P] = 1;
    outf(1, "MAP_GROWSDOWN: %s, usable %s\n", e(g == MAP_FAILED ? -1 : 0), g[3 * P] == 1 ? "yes" : "no");

    /* mremap of pages shared copy-on-write with a child. */
    char *w = anon(2 * P, 0);
    fill(w, 2);
    pid_t pid = fork();
    if (pid == 0) {
        char *moved = mremap(w, 2 * P, 8 * P, MREMAP_MAYMOVE);
        moved[0] = 'z';
        _exit(moved[P] == 'b' && moved[0] == 'z' && moved[7 * P] == 0 ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    outf(1, "mremap after fork: child ok %s, parent's copy untouched %s\n",
         WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "yes" : "no", pattern_ok(w, 2) ? "yes" : "no");

    /* The kernel writes a syscall's result into a page the child shares
     * copy-on-write and has just read (its translation is cached): the
     * child must then read the result, not the page it shared. */
    char *cw = anon(P, 0);
    memset(cw, 'p', P);
    int cpfd[2];
    pipe(cpfd);
    pid = fork();
    if (pid == 0) {
        volatile char seen = cw[100];
        write(cpfd[1], "child", 5);
        long n = read(cpfd[0], cw + 100, 5);
        _exit(seen == 'p' && n == 5 && memcmp(cw + 100, "child", 5) == 0 ? 0 : 1);
    }
    waitpid(pid, &st, 0);
    outf(1, "syscall result in a copy-on-write page the child read: child sees it %s, parent's copy untouched %s\n",
         WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "yes" : "no", cw[100] == 'p' ? "yes" : "no");

    /* A read from a pipe into a buffer that runs into unmapped memory:
     * only the part the data fills is touched, as on Linux. */
    char *edge = anon(2 * P, 0);
    munmap(edge + P, P);
    int pfd[2];
    pipe(pfd);
    write(pfd[1], "abc", 3);
    long got = read(pfd[0], edge + P - 100, 4096);
    outf(1, "pipe read into a buffer crossing into unmapped memory: %ld bytes\n", got);
    return 0;
}
