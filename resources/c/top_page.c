/* top_page: maps the last page of user space (0x7fffffffe000, just below
 * Linux's TASK_SIZE) with MAP_FIXED_NOREPLACE, writes and reads it back.
 * Linux and the KVM sandbox map it; the ptrace platform keeps its stub page
 * there, so its address space ends below and mmap fails with ENOMEM (a clear
 * error at mmap time, not a fault at the first touch). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

int main(void)
{
    volatile char *p = mmap((void *)0x7fffffffe000UL, 4096, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED) {
        printf("top page: %s\n", errno == ENOMEM ? "ENOMEM" : strerror(errno));
        return 0;
    }
    if ((unsigned long)p != 0x7fffffffe000UL) {
        printf("top page: mapped elsewhere\n");
        return 0;
    }
    p[4095] = 42;
    printf("top page: mapped, read back %d\n", p[4095]);
    return 0;
}
