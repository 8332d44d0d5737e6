/* hello_pie [ARGS...]: a static-PIE program (built with -static-pie) whose
 * output depends only on its arguments and on the variable RF_HELLO.
 *
 * It checks that the loader places an ET_DYN image and starts it with a
 * correct auxv (glibc relocates itself from AT_PHDR/AT_BASE), and it uses
 * malloc: many small blocks (brk) and large ones (mmap/munmap), plus
 * realloc across the threshold (mremap is avoided: the block is freed). */
#include <stdint.h>
#include <stdlib.h>
#include "common.h"

/* Pointers in initialised data need R_X86_64_RELATIVE relocations. */
static const char *const greetings[] = { "hello", "from", "static-pie" };

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h;
}

int main(int argc, char **argv)
{
    outf(1, "%s %s %s\n", greetings[0], greetings[1], greetings[2]);
    outf(1, "argc=%d\n", argc);
    for (int i = 1; i < argc; i++)
        outf(1, "argv[%d]=%s\n", i, argv[i]);
    const char *hello = getenv("RF_HELLO");
    outf(1, "RF_HELLO=%s\n", hello ? hello : "(unset)");
    outf(1, "main_relocated=%s\n", (uintptr_t)&main > 0x10000 ? "yes" : "no");

    /* Small blocks: served from the brk heap. */
    uint64_t h = 0;
    enum { SMALL = 2000 };
    static unsigned char *blocks[SMALL];
    for (int i = 0; i < SMALL; i++) {
        size_t len = 16 + (size_t)(i * 37 % 1000);
        blocks[i] = malloc(len);
        if (!blocks[i]) {
            outf(2, "hello_pie: malloc(%zu) failed\n", len);
            return 4;
        }
        memset(blocks[i], i & 0xff, len);
    }
    for (int i = 0; i < SMALL; i++) {
        size_t len = 16 + (size_t)(i * 37 % 1000);
        h = mix(h, blocks[i][len - 1]);
        free(blocks[i]);
    }

    /* Large blocks: above the mmap threshold, so mmap and munmap. */
    for (int round = 0; round < 4; round++) {
        size_t len = (size_t)(1 + round) << 20;
        unsigned char *big = malloc(len);
        if (!big) {
            outf(2, "hello_pie: malloc(%zu) failed\n", len);
            return 4;
        }
        for (size_t i = 0; i < len; i += 4096)
            big[i] = (unsigned char)(i >> 12);
        for (size_t i = 0; i < len; i += 4096)
            h = mix(h, big[i]);
        free(big);
    }

    /* Growing a buffer from the heap into mmap territory. */
    unsigned char *buf = NULL;
    size_t cap = 0;
    for (size_t want = 64; want <= (size_t)512 << 10; want *= 2) {
        unsigned char *next = malloc(want);
        if (!next) {
            outf(2, "hello_pie: malloc(%zu) failed\n", want);
            return 4;
        }
        if (buf)
            memcpy(next, buf, cap);
        memset(next + cap, (int)(want & 0xff), want - cap);
        free(buf);
        buf = next;
        cap = want;
    }
    for (size_t i = 0; i < cap; i += 512)
        h = mix(h, buf[i]);
    free(buf);

    outf(1, "checksum=%016llx\n", (unsigned long long)h);
    outf(2, "hello_pie: stderr works\n");
    return 0;
}
