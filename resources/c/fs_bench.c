/* File-system micro-benchmarks, timed inside the program so that native and
 * sandboxed runs measure the same loop:
 *
 *   fs_bench stat FILE N        N stat() calls            -> ns_per_op=
 *   fs_bench orc FILE N         N open+read(4 KiB)+close  -> ns_per_op=
 *   fs_bench seq FILE BLOCK     read FILE in BLOCK bytes  -> mb_per_s=
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    const char *mode = argv[1], *file = argv[2];
    long n = atol(argv[3]);
    static char buf[1 << 20];
    if (!strcmp(mode, "stat") || !strcmp(mode, "orc")) {
        int orc = !strcmp(mode, "orc");
        for (int warm = 0; warm < 2; warm++) {
            long iters = warm ? n : (n < 1000 ? n : 1000);
            double t0 = now();
            for (long i = 0; i < iters; i++) {
                if (orc) {
                    int fd = open(file, O_RDONLY);
                    if (fd < 0 || read(fd, buf, 4096) < 0 || close(fd) != 0)
                        return 3;
                } else {
                    struct stat st;
                    if (stat(file, &st) != 0)
                        return 3;
                }
            }
            if (warm)
                outf(1, "ns_per_op=%.1f\n", (now() - t0) * 1e9 / (double)iters);
        }
        return 0;
    }
    if (!strcmp(mode, "seq")) {
        if (n <= 0 || n > (long)sizeof buf)
            return 2;
        int fd = open(file, O_RDONLY);
        if (fd < 0)
            return 3;
        double t0 = now();
        long total = 0;
        ssize_t r;
        while ((r = read(fd, buf, (size_t)n)) > 0)
            total += r;
        double dt = now() - t0;
        close(fd);
        outf(1, "mb_per_s=%.1f bytes=%ld\n", total / dt / 1e6, total);
        return r < 0 ? 3 : 0;
    }
    return 2;
}
