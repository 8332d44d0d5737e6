/* Vector registers survive task switches: two processes (and two threads)
 * each keep a pattern in ymm (AVX2) and zmm (AVX-512) registers while
 * spinning long enough to be preempted many times, and check it after
 * every step. Linux keeps each task's full XSAVE state; a runtime that
 * saved only the fxsave (SSE) part would let the tasks clobber each
 * other's upper register halves. Prints one line per check; exits 0. */
#define _GNU_SOURCE
#include <cpuid.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

#include "common.h"

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Counts steps where the ymm register lost its pattern (300 ms). */
__attribute__((target("avx2"))) static long spin_ymm(long long seed)
{
    __m256i v = _mm256_set1_epi64x(seed);
    long bad = 0, end = now_ms() + 300;
    while (now_ms() < end) {
        for (int i = 0; i < 100000; i++) {
            __asm__ volatile("" : "+x"(v));
            long long out[4];
            _mm256_storeu_si256((__m256i *)out, v);
            if (out[0] != seed || out[1] != seed || out[2] != seed || out[3] != seed) {
                bad++;
                v = _mm256_set1_epi64x(seed);
            }
        }
    }
    return bad;
}

/* The same with a zmm register (AVX-512). */
__attribute__((target("avx512f"))) static long spin_zmm(long long seed)
{
    __m512i v = _mm512_set1_epi64(seed);
    long bad = 0, end = now_ms() + 300;
    while (now_ms() < end) {
        for (int i = 0; i < 100000; i++) {
            __asm__ volatile("" : "+v"(v));
            long long out[8];
            _mm512_storeu_si512((void *)out, v);
            for (int j = 0; j < 8; j++)
                if (out[j] != seed) {
                    bad++;
                    v = _mm512_set1_epi64(seed);
                    break;
                }
        }
    }
    return bad;
}

static long spin(int zmm, long long seed)
{
    return zmm ? spin_zmm(seed) : spin_ymm(seed);
}

static void *thread_main(void *arg)
{
    int zmm = (int)(long)arg;
    return (void *)spin(zmm, 0x3333333333333333LL);
}

static void check(int zmm, const char *name)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(spin(zmm, 0x2222222222222222LL) ? 1 : 0);
    long parent = spin(zmm, 0x1111111111111111LL);
    int st;
    waitpid(pid, &st, 0);
    pthread_t th;
    pthread_create(&th, NULL, thread_main, (void *)(long)zmm);
    long mine = spin(zmm, 0x4444444444444444LL);
    void *theirs;
    pthread_join(th, &theirs);
    outf(1, "%s: two processes kept their registers %s, two threads %s\n", name,
         parent == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "yes" : "no", mine == 0 && theirs == NULL ? "yes" : "no");
}

int main(void)
{
    /* The CPU's feature bits, not the OS-enabled view (which the sandbox
     * reports without OSXSAVE although user code can run AVX there). */
    unsigned a, b = 0, c, d;
    __get_cpuid_count(7, 0, &a, &b, &c, &d);
    if (b & (1u << 5))
        check(0, "ymm (AVX2)");
    else
        outf(1, "ymm (AVX2): not on this CPU\n");
    if (b & (1u << 16))
        check(1, "zmm (AVX-512)");
    else
        outf(1, "zmm (AVX-512): not on this CPU\n");
    return 0;
}
