/* Helpers shared by the benchmark programs: a timer, the "<name> <value> <unit>" printer, a
 * median, CPU pinning and the machine's cross-CPU cache line round trip. */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline uint64_t bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void bench_print(const char *name, double value, const char *unit)
{
    printf("%s %.2f %s\n", name, value, unit);
    fflush(stdout);
}

/* Nanoseconds of one CLOCK_REALTIME read: the yardstick every target is stated against. */
static inline double bench_clock_gettime_ns(void)
{
    const int n = 5000000;
    struct timespec ts;
    volatile long sink = 0;
    double best = 1e9;
    for (int r = 0; r < 3; r++) {
        uint64_t t0 = bench_now();
        for (int i = 0; i < n; i++) {
            clock_gettime(CLOCK_REALTIME, &ts);
            sink += ts.tv_nsec;
        }
        double ns = (double)(bench_now() - t0) / n;
        if (ns < best)
            best = ns;
    }
    (void)sink;
    return best;
}

/* qsort order of doubles, ascending. */
static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of v[0..n), n > 0 (v is sorted in place). */
static inline double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Pins the calling thread (and the threads it starts later) to cpu; nonzero when it cannot. */
static inline int bench_pin_cpu(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set);
}

/* The first two CPUs this thread may run on into cpus[0..1] (-1 where none); how many. */
static inline int bench_two_cpus(int cpus[2])
{
    cpu_set_t allowed;
    int nc = 0;
    cpus[0] = cpus[1] = -1;
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
        for (int c = 0; c < CPU_SETSIZE && nc < 2; c++)
            if (CPU_ISSET(c, &allowed))
                cpus[nc++] = c;
    return nc;
}

/* ---- The cost of moving a cache line between two CPUs ---- */

typedef struct bench_rtt {
    _Alignas(64) atomic_int ping;
    _Alignas(64) atomic_int pong;
    int cpu, n;
} bench_rtt;

static inline void *bench_rtt_echo(void *arg)
{
    bench_rtt *r = arg;
    bench_pin_cpu(r->cpu);
    for (int i = 1; i <= r->n; i++) {
        while (atomic_load_explicit(&r->ping, memory_order_acquire) != i)
            ;
        atomic_store_explicit(&r->pong, i, memory_order_release);
    }
    return NULL;
}

/* The round trip of a cache line between CPUs a and b in ns (one line written on a, read on b,
 * another back): the median of 5 runs of 20,000. What a record written on one CPU and read on
 * the other costs depends on it (the span hand-off to the export thread), and it depends on the
 * hardware and, on a VM, on where its CPUs run (300 to 600 ns from one run to the next on the
 * 2-CPU VM where this was written), so figures that involve two CPUs are only comparable between
 * runs that print similar values. -1 when a thread cannot start or pin. The calling thread's
 * affinity is restored. */
static inline double bench_line_rtt_ns(int a, int b)
{
    cpu_set_t old;
    if (a < 0 || b < 0 || sched_getaffinity(0, sizeof old, &old) != 0 || bench_pin_cpu(a) != 0)
        return -1;
    double runs[5];
    int ok = 1;
    for (int k = 0; k < 5 && ok; k++) {
        static bench_rtt r;
        atomic_store(&r.ping, 0);
        atomic_store(&r.pong, 0);
        r.cpu = b;
        r.n = 20000;
        pthread_t t;
        if (pthread_create(&t, NULL, bench_rtt_echo, &r) != 0) {
            ok = 0;
            break;
        }
        uint64_t t0 = bench_now();
        for (int i = 1; i <= r.n; i++) {
            atomic_store_explicit(&r.ping, i, memory_order_release);
            while (atomic_load_explicit(&r.pong, memory_order_acquire) != i)
                ;
        }
        runs[k] = (double)(bench_now() - t0) / r.n;
        pthread_join(t, NULL);
    }
    sched_setaffinity(0, sizeof old, &old);
    return ok ? bench_median(runs, 5) : -1;
}

/* ---- The cost of waking a thread that sleeps on another CPU ---- */

typedef struct bench_wake {
    pthread_mutex_t m;
    pthread_cond_t c;
    int pending, stop, cpu;
} bench_wake;

static inline void *bench_wake_sleeper(void *arg)
{
    bench_wake *w = arg;
    bench_pin_cpu(w->cpu);
    pthread_mutex_lock(&w->m);
    while (!w->stop) {
        while (!w->pending && !w->stop)
            pthread_cond_wait(&w->c, &w->m);
        w->pending = 0;
    }
    pthread_mutex_unlock(&w->m);
    return NULL;
}

/* What waking a thread asleep on CPU b costs the waker on CPU a, in us: the time a's thread spends
 * in the wake (the lock, the flag, pthread_cond_signal), the sleeper left alone 2 ms each time so
 * that its CPU is idle; the median of 200. The export thread of a batch processor is woken so by
 * a producer once per batch. On a VM whose idle CPUs halt, the signal sends an interrupt to a
 * halted virtual CPU, which the hypervisor has to wake: 15-19 us on the 2-CPU VM where this was
 * written (not measured elsewhere). -1 when a thread cannot start or pin. The calling thread's
 * affinity is restored. */
static inline double bench_wake_us(int a, int b)
{
    cpu_set_t old;
    if (a < 0 || b < 0 || sched_getaffinity(0, sizeof old, &old) != 0 || bench_pin_cpu(a) != 0)
        return -1;
    static bench_wake w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};
    w.pending = w.stop = 0;
    w.cpu = b;
    pthread_t t;
    if (pthread_create(&t, NULL, bench_wake_sleeper, &w) != 0) {
        sched_setaffinity(0, sizeof old, &old);
        return -1;
    }
    enum { N = 200 };
    double us[N];
    for (int i = 0; i < N; i++) {
        uint64_t until = bench_now() + 2000000u;
        while (bench_now() < until)
            ; /* busy, as a service thread is: this CPU does not go idle */
        uint64_t t0 = bench_now();
        pthread_mutex_lock(&w.m);
        w.pending = 1;
        pthread_mutex_unlock(&w.m);
        pthread_cond_signal(&w.c);
        us[i] = (double)(bench_now() - t0) / 1e3;
    }
    pthread_mutex_lock(&w.m);
    w.stop = 1;
    pthread_mutex_unlock(&w.m);
    pthread_cond_signal(&w.c);
    pthread_join(t, NULL);
    sched_setaffinity(0, sizeof old, &old);
    return bench_median(us, N);
}

#endif
