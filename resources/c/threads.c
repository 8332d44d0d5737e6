/* threads: pthreads in one process, each section printing deterministic
 * lines (totals, never interleavings or thread ids):
 *
 *   - one pid, distinct tids (gettid), a shared address space;
 *   - a mutex-protected counter and lock-free atomic counters;
 *   - a bounded producer/consumer queue with two condition variables;
 *   - pthread_cond_timedwait timing out (a futex wait with a timeout);
 *   - a barrier, a reader/writer lock, pthread_once from many threads;
 *   - exit values through pthread_join (return and pthread_exit);
 *   - thread-local storage (__thread) with its initial value per thread;
 *   - detached threads and a thread with its own stack size.
 *
 * Exits 0; any failed check prints "FAIL ..." and exits 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "common.h"

static int failures;

static void check(int ok, const char *what)
{
    if (!ok) {
        outf(1, "FAIL %s\n", what);
        failures++;
    }
}

static void must(int err, const char *what)
{
    if (err != 0) {
        outf(1, "FAIL %s: %s\n", what, strerror(err));
        _exit(1);
    }
}

static pid_t gettid_raw(void)
{
    return (pid_t)syscall(SYS_gettid);
}

/* --- identity ------------------------------------------------------------ */

#define IDS 4
static pid_t ids_pid[IDS], ids_tid[IDS];
static int shared_word;

static void *identity(void *arg)
{
    intptr_t i = (intptr_t)arg;
    ids_pid[i] = getpid();
    ids_tid[i] = gettid_raw();
    __atomic_fetch_add(&shared_word, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void section_identity(void)
{
    pthread_t t[IDS];
    for (intptr_t i = 0; i < IDS; i++)
        must(pthread_create(&t[i], NULL, identity, (void *)i), "pthread_create");
    for (int i = 0; i < IDS; i++)
        must(pthread_join(t[i], NULL), "pthread_join");
    int same_pid = 1, distinct = 1;
    for (int i = 0; i < IDS; i++) {
        same_pid &= ids_pid[i] == getpid();
        distinct &= ids_tid[i] != gettid_raw() && ids_tid[i] != getpid();
        for (int j = 0; j < i; j++)
            distinct &= ids_tid[i] != ids_tid[j];
    }
    check(gettid_raw() == getpid(), "main thread's tid is the pid");
    outf(1, "identity: same pid %s, distinct tids %s, shared writes %d\n", same_pid ? "yes" : "no",
         distinct ? "yes" : "no", shared_word);
}

/* --- counters ------------------------------------------------------------ */

#define COUNTER_THREADS 8
#define COUNTER_ITERS 20000
static pthread_mutex_t counter_lock = PTHREAD_MUTEX_INITIALIZER;
static long counter_locked, counter_atomic;

static void *count(void *arg)
{
    (void)arg;
    for (int i = 0; i < COUNTER_ITERS; i++) {
        pthread_mutex_lock(&counter_lock);
        counter_locked++;
        pthread_mutex_unlock(&counter_lock);
        __atomic_fetch_add(&counter_atomic, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void section_counters(void)
{
    pthread_t t[COUNTER_THREADS];
    for (int i = 0; i < COUNTER_THREADS; i++)
        must(pthread_create(&t[i], NULL, count, NULL), "pthread_create");
    for (int i = 0; i < COUNTER_THREADS; i++)
        must(pthread_join(t[i], NULL), "pthread_join");
    outf(1, "counters: mutex %ld, atomic %ld (expected %d)\n", counter_locked, counter_atomic,
         COUNTER_THREADS * COUNTER_ITERS);
    check(pthread_mutex_trylock(&counter_lock) == 0, "trylock of a free mutex");
    check(pthread_mutex_trylock(&counter_lock) == EBUSY, "trylock of a held mutex is EBUSY");
    pthread_mutex_unlock(&counter_lock);
}

/* --- producer/consumer ----------------------------------------------------- */

#define QUEUE_CAP 4
#define PRODUCERS 3
#define CONSUMERS 2
#define ITEMS_EACH 5000
static struct {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    long items[QUEUE_CAP];
    int head, len, producers_left;
} q = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, { 0 }, 0, 0, PRODUCERS };

static void *producer(void *arg)
{
    long base = (long)(intptr_t)arg * ITEMS_EACH;
    for (long i = 1; i <= ITEMS_EACH; i++) {
        pthread_mutex_lock(&q.lock);
        while (q.len == QUEUE_CAP)
            pthread_cond_wait(&q.not_full, &q.lock);
        q.items[(q.head + q.len) % QUEUE_CAP] = base + i;
        q.len++;
        pthread_cond_signal(&q.not_empty);
        pthread_mutex_unlock(&q.lock);
    }
    pthread_mutex_lock(&q.lock);
    if (--q.producers_left == 0)
        pthread_cond_broadcast(&q.not_empty);
    pthread_mutex_unlock(&q.lock);
    return NULL;
}

struct consumed {
    long count, sum;
};

static void *consumer(void *arg)
{
    struct consumed *c = arg;
    for (;;) {
        pthread_mutex_lock(&q.lock);
        while (q.len == 0 && q.producers_left > 0)
            pthread_cond_wait(&q.not_empty, &q.lock);
        if (q.len == 0) {
            pthread_mutex_unlock(&q.lock);
            return c;
        }
        long v = q.items[q.head];
        q.head = (q.head + 1) % QUEUE_CAP;
        q.len--;
        pthread_cond_signal(&q.not_full);
        pthread_mutex_unlock(&q.lock);
        c->count++;
        c->sum += v;
    }
}

static void section_queue(void)
{
    pthread_t p[PRODUCERS], c[CONSUMERS];
    struct consumed got[CONSUMERS] = { { 0, 0 } };
    for (int i = 0; i < CONSUMERS; i++)
        must(pthread_create(&c[i], NULL, consumer, &got[i]), "pthread_create consumer");
    for (intptr_t i = 0; i < PRODUCERS; i++)
        must(pthread_create(&p[i], NULL, producer, (void *)i), "pthread_create producer");
    for (int i = 0; i < PRODUCERS; i++)
        must(pthread_join(p[i], NULL), "pthread_join producer");
    long count = 0, sum = 0;
    for (int i = 0; i < CONSUMERS; i++) {
        void *ret;
        must(pthread_join(c[i], &ret), "pthread_join consumer");
        check(ret == &got[i], "consumer returns its argument");
        count += got[i].count;
        sum += got[i].sum;
    }
    long n = (long)PRODUCERS * ITEMS_EACH;
    outf(1, "queue: %d producers, %d consumers, %ld items, sum %ld (expected %ld)\n", PRODUCERS, CONSUMERS, count,
         sum, n * (n + 1) / 2);
}

/* --- timed wait ------------------------------------------------------------- */

static void section_timedwait(void)
{
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    struct timespec start, deadline, end;
    clock_gettime(CLOCK_REALTIME, &start);
    deadline = start;
    deadline.tv_nsec += 30 * 1000 * 1000;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&m);
    int err;
    do
        err = pthread_cond_timedwait(&cv, &m, &deadline);
    while (err == 0); /* spurious wakeups are allowed */
    pthread_mutex_unlock(&m);
    clock_gettime(CLOCK_REALTIME, &end);
    long waited_ms = (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000;
    outf(1, "timedwait: %s, waited at least 30 ms: %s\n", err == ETIMEDOUT ? "ETIMEDOUT" : strerror(err),
         waited_ms >= 29 ? "yes" : "no");
}

/* --- barrier, rwlock, once ---------------------------------------------------- */

#define BARRIER_THREADS 5
static pthread_barrier_t barrier;
static int before_barrier, seen_after[BARRIER_THREADS], serial_threads;

static void *at_barrier(void *arg)
{
    intptr_t i = (intptr_t)arg;
    __atomic_fetch_add(&before_barrier, 1, __ATOMIC_SEQ_CST);
    int r = pthread_barrier_wait(&barrier);
    if (r == PTHREAD_BARRIER_SERIAL_THREAD)
        __atomic_fetch_add(&serial_threads, 1, __ATOMIC_SEQ_CST);
    seen_after[i] = __atomic_load_n(&before_barrier, __ATOMIC_SEQ_CST);
    return NULL;
}

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static long rw_value;
static int readers_inside;

static void *rw_reader(void *arg)
{
    (void)arg;
    long bad = 0;
    for (int i = 0; i < 2000; i++) {
        pthread_rwlock_rdlock(&rw);
        __atomic_add_fetch(&readers_inside, 1, __ATOMIC_SEQ_CST);
        long v = rw_value;
        bad += v % 2; /* writers keep it even outside the lock */
        __atomic_sub_fetch(&readers_inside, 1, __ATOMIC_SEQ_CST);
        pthread_rwlock_unlock(&rw);
    }
    return (void *)(intptr_t)bad;
}

static void *rw_writer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2000; i++) {
        pthread_rwlock_wrlock(&rw);
        check(__atomic_load_n(&readers_inside, __ATOMIC_SEQ_CST) == 0, "no reader inside a write lock");
        rw_value++;
        rw_value++;
        pthread_rwlock_unlock(&rw);
    }
    return NULL;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int once_runs;

static void once_init(void)
{
    __atomic_fetch_add(&once_runs, 1, __ATOMIC_SEQ_CST);
}

static void *call_once(void *arg)
{
    (void)arg;
    pthread_once(&once, once_init);
    return NULL;
}

static void section_sync(void)
{
    pthread_t t[BARRIER_THREADS];
    must(pthread_barrier_init(&barrier, NULL, BARRIER_THREADS), "pthread_barrier_init");
    for (intptr_t i = 0; i < BARRIER_THREADS; i++)
        must(pthread_create(&t[i], NULL, at_barrier, (void *)i), "pthread_create");
    int all = 1;
    for (int i = 0; i < BARRIER_THREADS; i++) {
        must(pthread_join(t[i], NULL), "pthread_join");
        all &= seen_after[i] == BARRIER_THREADS;
    }
    pthread_barrier_destroy(&barrier);
    outf(1, "barrier: every thread saw all %d arrive: %s, serial threads %d\n", BARRIER_THREADS,
         all ? "yes" : "no", serial_threads);

    pthread_t r[3], w[2];
    for (int i = 0; i < 3; i++)
        must(pthread_create(&r[i], NULL, rw_reader, NULL), "pthread_create reader");
    for (int i = 0; i < 2; i++)
        must(pthread_create(&w[i], NULL, rw_writer, NULL), "pthread_create writer");
    long odd = 0;
    for (int i = 0; i < 3; i++) {
        void *ret;
        must(pthread_join(r[i], &ret), "pthread_join reader");
        odd += (long)(intptr_t)ret;
    }
    for (int i = 0; i < 2; i++)
        must(pthread_join(w[i], NULL), "pthread_join writer");
    outf(1, "rwlock: value %ld, torn reads %ld\n", rw_value, odd);

    pthread_t o[6];
    for (int i = 0; i < 6; i++)
        must(pthread_create(&o[i], NULL, call_once, NULL), "pthread_create");
    for (int i = 0; i < 6; i++)
        must(pthread_join(o[i], NULL), "pthread_join");
    pthread_once(&once, once_init);
    outf(1, "once: init ran %d time(s) for 7 callers\n", once_runs);
}

/* --- exit values ---------------------------------------------------------------- */

static void *returns_square(void *arg)
{
    intptr_t i = (intptr_t)arg;
    return (void *)(i * i);
}

static void deeper_exit(intptr_t v)
{
    pthread_exit((void *)(v + 1000));
}

static void *exits_early(void *arg)
{
    deeper_exit((intptr_t)arg);
    return (void *)-1; /* not reached */
}

static void section_exit_values(void)
{
    pthread_t t[6];
    for (intptr_t i = 0; i < 6; i++)
        must(pthread_create(&t[i], NULL, i % 2 ? exits_early : returns_square, (void *)i), "pthread_create");
    outf(1, "exit values:");
    for (int i = 0; i < 6; i++) {
        void *ret;
        must(pthread_join(t[i], &ret), "pthread_join");
        outf(1, " %ld", (long)(intptr_t)ret);
    }
    outf(1, "\n");
    check(pthread_join(pthread_self(), NULL) == EDEADLK, "joining oneself is EDEADLK");
}

/* --- thread-local storage ---------------------------------------------------------- */

static __thread long tls_value = 42;
static __thread char tls_name[16] = "initial";
static long tls_seen_initial[4], tls_seen_after[4];

static void *use_tls(void *arg)
{
    intptr_t i = (intptr_t)arg;
    tls_seen_initial[i] = tls_value;
    check(strcmp(tls_name, "initial") == 0, "a new thread sees the TLS initializer");
    tls_value = 100 + i;
    snprintf(tls_name, sizeof tls_name, "thread%d", (int)i);
    /* Give the others time to write theirs: each must still see its own. */
    for (int k = 0; k < 1000; k++)
        sched_yield();
    tls_seen_after[i] = tls_value;
    char want[16];
    snprintf(want, sizeof want, "thread%d", (int)i);
    check(strcmp(tls_name, want) == 0, "a thread keeps its own TLS string");
    return &tls_value; /* this thread's copy */
}

static void section_tls(void)
{
    tls_value = 7;
    pthread_t t[4];
    void *addr[4];
    for (intptr_t i = 0; i < 4; i++)
        must(pthread_create(&t[i], NULL, use_tls, (void *)i), "pthread_create");
    for (int i = 0; i < 4; i++)
        must(pthread_join(t[i], &addr[i]), "pthread_join");
    int distinct = 1;
    for (int i = 0; i < 4; i++) {
        distinct &= addr[i] != (void *)&tls_value;
        for (int j = 0; j < i; j++)
            distinct &= addr[i] != addr[j];
    }
    outf(1, "tls: initial %ld %ld %ld %ld, own %ld %ld %ld %ld, main still %ld, distinct addresses %s\n",
         tls_seen_initial[0], tls_seen_initial[1], tls_seen_initial[2], tls_seen_initial[3], tls_seen_after[0],
         tls_seen_after[1], tls_seen_after[2], tls_seen_after[3], tls_value, distinct ? "yes" : "no");
}

/* --- detached threads, stack size ----------------------------------------------------- */

static int detached_done;

static void *detached(void *arg)
{
    (void)arg;
    __atomic_fetch_add(&detached_done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void *big_stack_user(void *arg)
{
    (void)arg;
    volatile char buf[1 << 20]; /* 1 MiB on this thread's 4 MiB stack */
    for (size_t i = 0; i < sizeof buf; i += 4096)
        buf[i] = (char)i;
    long sum = 0;
    for (size_t i = 0; i < sizeof buf; i += 4096)
        sum += buf[i];
    return (void *)(intptr_t)sum;
}

static void section_detached_and_stack(void)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (int i = 0; i < 4; i++) {
        pthread_t t;
        must(pthread_create(&t, &attr, detached, NULL), "pthread_create detached");
    }
    pthread_attr_destroy(&attr);
    for (int spins = 0; __atomic_load_n(&detached_done, __ATOMIC_SEQ_CST) < 4 && spins < 5000; spins++) {
        struct timespec ms = { 0, 1000 * 1000 };
        nanosleep(&ms, NULL);
    }
    outf(1, "detached: %d of 4 ran\n", detached_done);

    pthread_attr_init(&attr);
    must(pthread_attr_setstacksize(&attr, 4 << 20), "pthread_attr_setstacksize");
    pthread_t t;
    void *ret;
    must(pthread_create(&t, &attr, big_stack_user, NULL), "pthread_create big stack");
    must(pthread_join(t, &ret), "pthread_join big stack");
    pthread_attr_destroy(&attr);
    long expected = 0;
    for (size_t i = 0; i < (1 << 20); i += 4096)
        expected += (char)i;
    outf(1, "stack: 1 MiB used on a 4 MiB thread stack, sum %s\n", (long)(intptr_t)ret == expected ? "ok" : "wrong");
}

/* CLONE_FS: threads share the working directory; a forked child has its own. */
static void *chdir_thread(void *arg)
{
    (void)arg;
    if (chdir("/tmp") != 0)
        return (void *)1;
    return NULL;
}

static void section_shared_cwd(void)
{
    char before[256], after[256];
    if (!getcwd(before, sizeof before) || chdir("/") != 0) {
        outf(1, "FAIL chdir /\n");
        failures++;
        return;
    }
    pthread_t th;
    pthread_create(&th, NULL, chdir_thread, NULL);
    pthread_join(th, NULL);
    int thread_seen = getcwd(after, sizeof after) && strcmp(after, "/tmp") == 0;
    pid_t child = fork();
    if (child == 0)
        _exit(chdir("/") == 0 ? 0 : 1);
    waitpid(child, NULL, 0);
    int kept = getcwd(after, sizeof after) && strcmp(after, "/tmp") == 0;
    outf(1, "cwd: a thread's chdir is seen by the main thread %s, a child's chdir is not %s\n",
         thread_seen ? "yes" : "no", kept ? "yes" : "no");
    chdir(before);
}

static char *exec_self_path;

/* exec from a thread that is not the leader: in a child process, a second
 * thread execs `/proc/self/exe --exec-child PID`, which checks it still has
 * the process's pid and that it is alone. */
static pid_t exec_parent_pid;

static void *exec_from_thread(void *arg)
{
    (void)arg;
    char pid[32];
    snprintf(pid, sizeof pid, "%d", (int)exec_parent_pid);
    char *argv[] = { exec_self_path, "--exec-child", pid, NULL };
    execv(exec_self_path, argv);
    _exit(99);
}

static void section_exec_from_thread(void)
{
    pid_t child = fork();
    if (child == 0) {
        exec_parent_pid = getpid();
        pthread_t th;
        pthread_create(&th, NULL, exec_from_thread, NULL);
        for (;;)
            pause();
    }
    int st;
    waitpid(child, &st, 0);
    outf(1, "exec from a non-leader thread: %s\n",
         WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "same pid, one thread, exited 0" : "FAIL");
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--exec-child") == 0) {
        /* The exec'd image: the pid is the process's and the tid the pid. */
        int ok = getpid() == atoi(argv[2]) && (pid_t)syscall(SYS_gettid) == getpid();
        return ok ? 0 : 1;
    }
    exec_self_path = argv[0];
    section_identity();
    section_counters();
    section_queue();
    section_timedwait();
    section_sync();
    section_exit_values();
    section_tls();
    section_detached_and_stack();
    section_shared_cwd();
    section_exec_from_thread();
    return failures ? 1 : 0;
}
