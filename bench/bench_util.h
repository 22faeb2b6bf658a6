/* Helpers shared by the benchmark programs: a timer and the "<name> <value> <unit>" printer. */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
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

#endif
