/* The span clock: rdtsc with a refreshed CLOCK_REALTIME anchor (see clock.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry/clock.h"

tel_clock_state tel__clock;
#if defined(__x86_64__) && !TEL_TSAN
static pthread_mutex_t clock_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t interval_tsc; /* current refresh interval, in ticks */
static uint64_t ticks_per_second;
#endif

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#if defined(__x86_64__) && !TEL_TSAN
static bool kernel_uses_tsc(void)
{
    const char *force = getenv("TEL_CLOCK");
    if (force && strcmp(force, "realtime") == 0)
        return false;
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
    if (!f)
        return false;
    char buf[32] = {0};
    bool tsc = fgets(buf, sizeof buf, f) && strncmp(buf, "tsc", 3) == 0;
    fclose(f);
    return tsc;
}

/* A (realtime, tsc) pair read as close together as possible. */
static void sample(uint64_t *ns, uint64_t *tsc)
{
    uint64_t best = UINT64_MAX;
    *ns = 0;
    *tsc = 0;
    for (int i = 0; i < 3; i++) {
        uint64_t t0 = __builtin_ia32_rdtsc();
        uint64_t n = realtime_ns();
        uint64_t t1 = __builtin_ia32_rdtsc();
        if (t1 - t0 < best) {
            best = t1 - t0;
            *ns = n;
            *tsc = t0 + (t1 - t0) / 2;
        }
    }
}

static void publish(const tel_clock_anchor *a)
{
    atomic_fetch_add_explicit(&tel__clock.seq, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    tel__clock.a = *a;
    atomic_fetch_add_explicit(&tel__clock.seq, 1, memory_order_release);
}

/* Called with clock_lock held. */
static void init_tsc(void)
{
    uint64_t ns0 = 0, tsc0 = 0, ns1 = 0, tsc1 = 0;
    sample(&ns0, &tsc0);
    do { /* ~200 µs of calibration on first use only */
        sample(&ns1, &tsc1);
    } while (ns1 - ns0 < 200000);
    uint64_t mult = (uint64_t)(((unsigned __int128)(ns1 - ns0) << 32) / (tsc1 - tsc0));
    ticks_per_second = (uint64_t)((tsc1 - tsc0) * 1e9 / (double)(ns1 - ns0));
    interval_tsc = ticks_per_second / 100; /* first refresh after 10 ms */
    tel_clock_anchor a = {.tsc = tsc1, .ns = ns1, .mult = mult, .due_tsc = tsc1 + interval_tsc};
    publish(&a);
    atomic_store(&tel__clock.mode, 1);
}

/* Re-anchors: the rate is measured over the interval since the previous anchor. */
static void refresh(void)
{
    uint64_t ns = 0, tsc = 0;
    sample(&ns, &tsc);
    tel_clock_anchor a = tel__clock.a;
    if (tsc > a.tsc && ns > a.ns) {
        /* Keep continuity: measure where the old anchor puts `tsc`, and steer the new rate. */
        uint64_t mult = (uint64_t)(((unsigned __int128)(ns - a.ns) << 32) / (tsc - a.tsc));
        a.mult = mult;
    }
    a.tsc = tsc;
    a.ns = ns;
    if (interval_tsc < ticks_per_second)
        interval_tsc *= 10;
    if (interval_tsc > ticks_per_second)
        interval_tsc = ticks_per_second;
    a.due_tsc = tsc + interval_tsc;
    publish(&a);
}
#endif

uint64_t tel__clock_slow(void)
{
#if defined(__x86_64__) && !TEL_TSAN
    if (atomic_load(&tel__clock.mode) != 2) {
        if (pthread_mutex_trylock(&clock_lock) == 0) {
            int mode = atomic_load(&tel__clock.mode);
            if (mode == 0) {
                if (kernel_uses_tsc())
                    init_tsc();
                else
                    atomic_store(&tel__clock.mode, 2);
            } else if (mode == 1) {
                uint64_t t = __builtin_ia32_rdtsc();
                if (t >= tel__clock.a.due_tsc || t < tel__clock.a.tsc)
                    refresh();
            }
            pthread_mutex_unlock(&clock_lock);
        }
    }
#endif
    return realtime_ns();
}

const char *tel_clock_source(void)
{
    if (atomic_load(&tel__clock.mode) == 0)
        (void)tel__clock_slow();
    return atomic_load(&tel__clock.mode) == 1 ? "tsc" : "clock_gettime";
}
