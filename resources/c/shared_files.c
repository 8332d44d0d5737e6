/* MAP_SHARED file mappings and the page cache: stores through a mapping
 * are seen by read(2) and by other mappings (another open, another
 * process), write(2) is seen by the mappings, msync and munmap put the
 * data in the file, MAP_PRIVATE stays private, a read-only shared mapping
 * follows later writes, PROT_WRITE on a read-only fd is EACCES.
 * Usage: shared_files DIR (a writable scratch directory). Exits 0. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "common.h"

#define P 4096

static const char *yes(int c)
{
    return c ? "yes" : "no";
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    char path[512];
    snprintf(path, sizeof path, "%s/shared.dat", argv[1]);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, 3 * P) != 0) {
        outf(1, "FAIL create %s\n", path);
        return 1;
    }
    pwrite(fd, "file-data", 9, P);
    char *m = mmap(NULL, 3 * P, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        outf(1, "FAIL mmap shared: %d\n", errno);
        return 1;
    }
    outf(1, "mapping sees the file: %s\n", yes(memcmp(m + P, "file-data", 9) == 0));
    memcpy(m + 10, "via-map", 7);
    char buf[16] = { 0 };
    pread(fd, buf, 7, 10);
    outf(1, "read(2) sees a store through the mapping: %s\n", yes(memcmp(buf, "via-map", 7) == 0));
    pwrite(fd, "via-write", 9, 2 * P + 5);
    outf(1, "the mapping sees write(2): %s\n", yes(memcmp(m + 2 * P + 5, "via-write", 9) == 0));

    int fd2 = open(path, O_RDWR);
    char *m2 = mmap(NULL, P, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
    m2[100] = 'Z';
    outf(1, "a second open's mapping shares the pages: %s\n", yes(m[100] == 'Z' && m2[10] == 'v'));
    char *priv = mmap(NULL, P, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd2, 0);
    priv[200] = 'p';
    outf(1, "MAP_PRIVATE store stays private: %s\n", yes(m[200] == 0));

    pid_t pid = fork();
    if (pid == 0) {
        m[300] = 'c';
        int cfd = open(path, O_RDWR);
        char *cm = mmap(NULL, P, PROT_READ | PROT_WRITE, MAP_SHARED, cfd, 0);
        cm[301] = 'd';
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    outf(1, "a child's stores (inherited and own mapping) reach the parent: %s\n", yes(m[300] == 'c' && m[301] == 'd'));

    int ro = open(path, O_RDONLY);
    errno = 0;
    void *bad = mmap(NULL, P, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0);
    outf(1, "PROT_WRITE shared on a read-only fd: %s\n", bad == MAP_FAILED && errno == EACCES ? "EACCES" : "mapped");
    char *rom = mmap(NULL, P, PROT_READ, MAP_SHARED, ro, 0);
    pwrite(fd, "later", 5, 400);
    outf(1, "read-only shared mapping follows later writes: %s\n", yes(memcmp(rom + 400, "later", 5) == 0));
    outf(1, "msync: %d\n", msync(m, 3 * P, MS_SYNC));

    /* mprotect read-only and back keeps the page shared. */
    mprotect(m, P, PROT_READ);
    mprotect(m, P, PROT_READ | PROT_WRITE);
    m[500] = 'q';
    pread(fd, buf, 1, 500);
    outf(1, "after mprotect round trip still shared: %s\n", yes(buf[0] == 'q'));

    munmap(m, 3 * P);
    munmap(m2, P);
    munmap(priv, P);
    munmap(rom, P);
    close(fd);
    close(fd2);
    close(ro);
    /* Everything unmapped and closed: the file has the data. */
    fd = open(path, O_RDONLY);
    char all[3 * P];
    ssize_t n = read(fd, all, sizeof all);
    outf(1, "file after unmap: %zd bytes, via-map %s, Z %s, child %s, via-write %s, private store absent %s\n", n,
         yes(memcmp(all + 10, "via-map", 7) == 0), yes(all[100] == 'Z'), yes(all[300] == 'c' && all[301] == 'd'),
         yes(memcmp(all + 2 * P + 5, "via-write", 9) == 0), yes(all[200] == 0));
    close(fd);
    unlink(path);

    /* A futex in MAP_SHARED memory wakes a waiter in another process, the
     * word mapped at a different address there (a second mapping of the
     * same file). */
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    ftruncate(fd, P);
    uint32_t *word = mmap(NULL, P, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    pid = fork();
    if (pid == 0) {
        uint32_t *w2 = mmap(NULL, P, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        struct timespec two = { 2, 0 };
        while (__atomic_load_n(w2, __ATOMIC_SEQ_CST) == 0) {
            long r = syscall(SYS_futex, w2, FUTEX_WAIT, 0, &two, NULL, 0);
            if (r != 0 && errno == ETIMEDOUT)
                _exit(3);
        }
        _exit(0);
    }
    struct timespec ms50 = { 0, 50 * 1000 * 1000 };
    nanosleep(&ms50, NULL);
    __atomic_store_n(word, 1, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0);
    int st;
    waitpid(pid, &st, 0);
    outf(1, "shared futex across processes: %s\n",
         WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "woken" : "timed out");
    close(fd);
    unlink(path);
    return 0;
}
