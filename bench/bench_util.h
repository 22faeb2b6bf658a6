/* Helpers shared by the benchmark programs: a timer, the "<name> <value> <unit>" printer, a
 * median and CPU pinning. */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <sched.h>
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

#endif
